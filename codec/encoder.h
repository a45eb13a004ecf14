// The encoder: fits a coordinate network to an image with LibTorch, quantizes
// it and packs it into a .nif file.
//
// This header does not include LibTorch, so callers compile without it; only
// encoder.cc does.  encode_image() is not re-entrant with respect to LibTorch's
// global thread settings: call it from one thread at a time.
#ifndef NIFC_CODEC_ENCODER_H_
#define NIFC_CODEC_ENCODER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "codec/image.h"
#include "format/nif_format.h"
#include "format/status.h"

namespace nifc {

struct EncodeProgress {
  int step = 0;
  int total_steps = 0;
  double seconds = 0.0;
  double batch_psnr_db = 0.0;  // running estimate on the training batches
  double best_psnr_db = 0.0;   // best full-image PSNR so far (float weights)
  int tile = 0;                // tiled encodes (codec/tiling.h): this tile, 1-based
  int tiles = 0;               // and their number; 0 when the image is not tiled
};

struct EncodeOptions {
  Architecture arch;             // channels come from the image
  int bits = 8;                  // quantization bit width, 2..16
  int steps = 4000;              // optimizer steps
  int batch_pixels = 16384;      // pixels per step; 0 or >= image pixels: full batch
  double lr = 2e-3;              // peak Adam learning rate
  double lr_final_ratio = 0.05;  // cosine decay to lr * this at the last step
  int warmup_steps = 50;         // linear warm-up
  int eval_every = 250;          // full-image evaluation interval (keep-best)
  double time_limit_s = 0.0;     // stop fitting after this many seconds (0: none)
  std::string device = "auto";   // auto | cpu | cuda
  int threads = 0;               // CPU threads for LibTorch (0: all hardware threads)
  uint64_t seed = 1;             // initialization and batch sampling
  int zstd_level = 19;
  // Grid encodings (SPEC.md §6.4).  Latents train with additive uniform noise
  // of width kLatentStep (the quantization step they are packed with), a
  // learning rate grid_lr_ratio times the network's, and a rate penalty of
  // grid_lambda (normalized MSE per bit per pixel) on the estimated latent bits,
  // sum log2(1 + |latent| / step) / pixels.
  double grid_lambda = 0.04;
  double grid_lr_ratio = 50.0;
  // Grid encodings with a size target: when > 0, grid_lambda is only the starting
  // penalty; every 20 steps the encoder packs the weights as they would be written and moves the
  // penalty so that the packed file approaches this many bytes (a dual-ascent step on
  // the rate constraint), and the weights it keeps are the best ones packed within it.
  uint64_t grid_target_bytes = 0;
  // Host memory the encode may use.  encode_image estimates its peak (pixel targets and
  // coordinates, the training batch's activations, a full-image evaluation chunk) and
  // refuses a larger job with kLimit instead of being killed mid-fit.  The nifc CLI passes
  // 3/4 of MemAvailable; 0 disables the check.
  uint64_t max_memory_bytes = uint64_t{16} << 30;
  // Called about twice a second; return false to cancel (kCancelled).
  std::function<bool(const EncodeProgress&)> progress;
  // Called after each full-image evaluation (every eval_every steps and at the
  // end) with the step count and the float network's PSNR in dB.
  std::function<void(int step, double psnr_db)> on_eval;
};

struct EncodeResult {
  std::vector<uint8_t> file;   // the .nif bytes
  double psnr_db = 0.0;        // of the decoded file (quantized weights, plain decoder)
  double float_psnr_db = 0.0;  // of the best float network, before quantization
  int steps = 0;               // steps run
  double fit_seconds = 0.0;
  double seconds = 0.0;  // whole encode
  std::string device;    // "cpu" or "cuda"
  uint64_t parameters = 0;
  uint32_t tiles = 1;  // networks in the file (SPEC.md §11)
  // What the file was made from, for re-quantization (codec/rate_control.h):
  // the header without weights, and the best float weights in SPEC.md §6.2 order.
  NifFile header;
  std::vector<std::vector<float>> float_tensors;
};

StatusOr<EncodeResult> encode_image(const Image& image, const EncodeOptions& options);

// The LibTorch forward of `file`'s dequantized network at points (x[i], y[i]),
// raw outputs (normalized units), n x channels.  For the cross-implementation test.
StatusOr<std::vector<float>> torch_forward(const NifFile& file, const std::vector<float>& x,
                                           const std::vector<float>& y);

// The most positional-encoding levels worth using on a width x height image:
// level k has period 2^(1-k) of the [-1, 1] square, i.e. min(w, h) / 2^k
// pixels along the shorter side; levels with a period under 4 pixels sit at or
// above the sampling limit, where they fit the training pixels exactly and
// swing freely between them (tools/pe_experiment: SIREN+PE with L=10 on
// 128x128 images scored 28.6 dB at 1x and 12.4 dB at 2x).  Returns
// floor(log2(min(w, h))) - 1, at least 1.
inline int max_useful_pe_levels(uint32_t width, uint32_t height) {
  uint32_t side = width < height ? width : height;
  int log2_side = 0;
  while (side > 1) {
    side >>= 1;
    ++log2_side;
  }
  return log2_side - 1 > 1 ? log2_side - 1 : 1;
}

// True when LibTorch can use CUDA here.
bool cuda_available();

// The quantization step of grid latents: the encoder trains them with noise of
// this width and packs them with it (rate control scales it).
constexpr float kLatentStep = 1.0f;

// The encoder as a run-time plugin (libnifc_encoder.so).  Loading LibTorch
// costs about half a second per process, so the nifc CLI loads it with
// dlopen() only for the commands that fit networks; decode and info never
// pay for it.  The plugin and its host must be built from the same sources
// (C++ types cross this boundary); abi_version guards against mixing builds.
constexpr uint32_t kEncoderAbiVersion = 4;
struct ApplicationsApi;  // codec/applications.h
struct RateTarget;       // codec/rate_control.h
struct TileOptions;      // codec/tiling.h
struct EncoderApi {
  uint32_t abi_version;
  StatusOr<EncodeResult> (*encode_image)(const Image& image, const EncodeOptions& options);
  bool (*cuda_available)();
  const ApplicationsApi* applications;  // Poisson, blending, inpainting (since version 2)
  // Rate control (codec/rate_control.h, since version 2).
  StatusOr<EncodeResult> (*encode_to_target)(const Image& image, const RateTarget& target,
                                             const EncodeOptions& options);
  // Tiled encoding of large images (codec/tiling.h, since version 4).
  StatusOr<EncodeResult> (*encode_tiled)(const Image& image, const RateTarget& target,
                                         const EncodeOptions& options,
                                         const TileOptions& tile_options);
};

}  // namespace nifc

extern "C" const nifc::EncoderApi* nifc_encoder_api();

#endif  // NIFC_CODEC_ENCODER_H_
