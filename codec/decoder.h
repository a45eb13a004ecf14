// The torch-free decoder: evaluates a .nif network at pixel coordinates.
//
// Depends on format/ only.  All functions are thread-safe; a Network is
// immutable after creation and may be shared between threads.
#ifndef NIFC_CODEC_DECODER_H_
#define NIFC_CODEC_DECODER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "codec/image.h"
#include "format/nif_format.h"
#include "format/status.h"

namespace nifc {

struct DecodeOptions {
  // Output grid.  Both 0: the stored size.  One 0: derived from the other
  // keeping the stored aspect ratio (rounded, at least 1).
  uint32_t width = 0;
  uint32_t height = 0;
  // Region of the output grid to produce; region_width == 0 means the whole grid.
  uint32_t region_x = 0;
  uint32_t region_y = 0;
  uint32_t region_width = 0;
  uint32_t region_height = 0;
  // S x S samples per output pixel, averaged (anti-aliasing for downscales).
  uint32_t supersample = 1;
  uint32_t bit_depth = 8;  // 8 or 16
  int threads = 0;         // 0: all hardware threads
  uint64_t max_output_pixels = 1ull << 28;
};

// Resolves the output grid of `options` for `file` (SPEC.md §7).  Errors:
// kInvalidArgument (bad region, depth, supersample), kLimit (too many pixels).
struct OutputGrid {
  uint32_t width = 0, height = 0;  // full output grid
  uint32_t x0 = 0, y0 = 0;         // region origin in that grid
  uint32_t region_width = 0, region_height = 0;
};
StatusOr<OutputGrid> resolve_output_grid(const NifFile& file, const DecodeOptions& options);

// A network prepared for evaluation: weights transposed and padded, sine
// frequency factors folded in, Fourier matrix regenerated.
class Network {
 public:
  static StatusOr<Network> create(const NifFile& file);

  uint32_t channels() const { return channels_; }
  // Multiply-adds per evaluated point in the linear layers.
  uint64_t macs_per_point() const { return macs_per_point_; }

  // Evaluates n points (x[i], y[i]) in [-1, 1]^2 and writes the network's raw
  // outputs (normalized units, before SPEC.md §7's de-normalization), n x
  // channels, interleaved.
  void evaluate(const float* x, const float* y, size_t n, float* out) const;

  // Evaluates one row of points sharing y, at columns x[0..n), writing
  // de-normalized samples clamped to [0, 1]: n x channels.  This is the fast
  // path used by decode_nif.
  void evaluate_row(float y, const float* x, size_t n, float* out) const;

  struct Layer {
    uint32_t in = 0, out = 0, out_padded = 0;
    std::vector<float> weights_t;  // in x out_padded, row-major (transposed, padded)
    std::vector<float> bias;       // out_padded
    bool sine = false;             // sin() after this layer (hidden sine layers)
    bool relu = false;
  };

 private:
  void features(const float* x, const float* y, size_t n, float* out) const;
  void forward_block(float* features, size_t n, float* out) const;

  Architecture arch_;
  uint32_t channels_ = 0;
  uint32_t input_dim_ = 0;
  uint32_t max_dim_ = 0;
  uint64_t macs_per_point_ = 0;
  std::vector<float> fourier_;  // m x 2
  std::vector<float> mean_, stddev_;
  std::vector<Layer> layers_;
};

// Decodes `file` into an image per `options`.
StatusOr<Image> decode_nif(const NifFile& file, const DecodeOptions& options);

// Fast sine used by the decoder: |fast_sin(x) - sin(x)| <= 2e-7 + 1.2e-7*|x|/pi
// for |x| <= 1e6 (range reduction error grows with the argument).
float fast_sin(float x);

}  // namespace nifc

#endif  // NIFC_CODEC_DECODER_H_
