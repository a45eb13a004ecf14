// The torch-free decoder: evaluates a .nif network at pixel coordinates.
//
// Depends on format/ only.  All functions are thread-safe; a Network is
// immutable after creation and may be shared between threads.
#ifndef NIFC_CODEC_DECODER_DECODER_H_
#define NIFC_CODEC_DECODER_DECODER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "codec/decoder/image.h"
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

class Network;
namespace internal {
enum class Isa : int;  // codec/decoder/kernels.h
struct NetworkImpl;
// Network::create with the kernels of a given instruction set instead of the
// best one this CPU supports (tests and benchmarks).  Errors: those of
// Network::create, and kUnsupported if this CPU cannot run `isa`.
StatusOr<Network> create_network(const NifFile& file, Isa isa);
// decode_nif of a tiled file (SPEC.md §11).
StatusOr<Image> decode_tiled_nif(const NifFile& file, const DecodeOptions& options);
}  // namespace internal

// A network prepared for evaluation: weights packed for the SIMD kernel of
// the best instruction set of this CPU (chosen at run time), sine frequency
// factors folded in, Fourier matrix regenerated.  Copies share the immutable
// weights; a Network may be used from several threads at once.
class Network {
 public:
  // Errors: kInvalidArgument if the file holds no weights, or a tensor's size
  // or the mean/stddev count does not match the architecture.
  static StatusOr<Network> create(const NifFile& file);

  uint32_t channels() const { return channels_; }
  // Multiply-adds per evaluated point in the linear layers.
  uint64_t macs_per_point() const { return macs_per_point_; }

  // Evaluates n points (x[i], y[i]) in [-1, 1]^2 and writes the network's raw
  // outputs (normalized units, before SPEC.md §7's de-normalization), n x
  // channels, interleaved.  A point's result does not depend on n or on its
  // index (no cross-point arithmetic).
  void evaluate(const float* x, const float* y, size_t n, float* out) const;

  // Evaluates one row of points sharing y, at columns x[0..n), writing
  // de-normalized samples clamped to [0, 1]: n x channels.  decode_nif uses
  // the same code path (encoding features from per-column and per-row tables).
  void evaluate_row(float y, const float* x, size_t n, float* out) const;

 private:
  friend StatusOr<Network> internal::create_network(const NifFile& file, internal::Isa isa);
  friend StatusOr<Image> decode_nif(const NifFile& file, const DecodeOptions& options);
  friend StatusOr<Image> internal::decode_tiled_nif(const NifFile& file,
                                                    const DecodeOptions& options);

  std::shared_ptr<const internal::NetworkImpl> impl_;
  uint32_t channels_ = 0;
  uint64_t macs_per_point_ = 0;
};

// Decodes `file` into an image per `options`, on options.threads threads.
// The image does not depend on the thread count or on the region chosen
// (a region is bit for bit the same crop of the full grid).  A tiled file (SPEC.md §11)
// is decoded by evaluating each tile's network where its cross-fade weight is positive.
StatusOr<Image> decode_nif(const NifFile& file, const DecodeOptions& options);

// Fast scalar sine: |fast_sin(x) - sin(x)| <= 2e-7 + 1.2e-7*|x|/pi for
// |x| <= 1e6 (range reduction error grows with the argument).  NaN-safe: any
// input (NaN and +-inf included) gives a finite value.  The decoder's
// SIMD layers evaluate sin(pi q) with omega/pi folded into the weights instead
// (codec/decoder/kernels.h), which is at least as accurate.
float fast_sin(float x);

}  // namespace nifc

#endif  // NIFC_CODEC_DECODER_DECODER_H_
