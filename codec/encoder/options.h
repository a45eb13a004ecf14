// What an encode is asked to do and what it reports: the options, the rate target, the
// tile options, the progress and the result of a fit.  Torch-free, so the CLI, the presets
// (codec/encoder/presets.h) and a C++ caller share these types without LibTorch; only the
// encoder's .cc files include LibTorch.
#ifndef NIFC_CODEC_ENCODER_OPTIONS_H_
#define NIFC_CODEC_ENCODER_OPTIONS_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "format/nif_format.h"

namespace nifc {

struct EncodeProgress {
  int step = 0;
  int total_steps = 0;
  double seconds = 0.0;
  double batch_psnr_db = 0.0;  // running estimate on the training batches
  double best_psnr_db = 0.0;   // best full-image PSNR so far (float weights)
  int tile = 0;                // tiled encodes (codec/encoder/tiling.h): this tile, 1-based
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
  double grid_lr_ratio = 10.0;  // with kGridLr 0.1, latents at 1.0 (presets.h)
  // Grid encodings with a size target: when > 0, the penalty (grid_lambda_pixel, else
  // grid_lambda) is only the starting one.  At a tenth of the steps the encoder packs the
  // latents as they would be written, predicts the file's final size from it, and restarts
  // the fit with a corrected penalty when it is far off (at most twice); at 30, 50 and
  // 70 % it corrects the penalty again without restarting (encoder.cc kSteer*).  After
  // the fit, -q's step search and latent pass at searched slopes land the file within
  // this many bytes (rate_control.cc rdoq_to_size).
  uint64_t grid_target_bytes = 0;
  // Grid encodings without a size or PSNR target: when > 0, the rate penalty in MSE of
  // samples scaled to [0, 1] per bit per pixel (from -q, grid_lambda_for_quality); the
  // encoder divides it by the image's mean channel variance (the loss is on standardised
  // samples) and uses that instead of grid_lambda.
  double grid_lambda_pixel = 0.0;
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
  // Called after every optimizer step with the number of steps done (benchmarks).
  std::function<void(int steps_done)> on_step;
  // On the CPU, fit a grid with a ReLU MLP on whole images with the fused step of
  // codec/encoder/grid_step.h instead of LibTorch's autograd (the same function and loss;
  // 6-8x faster here).  false: LibTorch for every step (the reference).
  bool fused_step = true;
  // Grid encodings with -q or a size target: after the rate control has chosen the
  // latents' quantization step, refit the synthesis MLP alone for this many whole-image
  // steps (peak learning rate refine_lr, cosine decay to a tenth) to the latents rounded at
  // that step (codec/encoder/refine.h), and keep it when the file scores better.  0: off.
  int refine_steps = 150;
  double refine_lr = 3e-3;
  // Grid encodings with -q: before the refit, this many sweeps of rate-distortion
  // optimized quantization over the rounded latents (codec/encoder/rdoq.h), at the chosen
  // step and at a coarser one, kept when the file scores better.  0: off.
  int rdoq_passes = 3;
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
  // A grid fit's rate weight when it ended, in -q's units (EncodeOptions::grid_lambda_pixel):
  // a rate target's steering leaves it at about the slope of its operating point.
  double fit_lambda_pixel = 0.0;
  // What the file was made from, for re-quantization (codec/encoder/rate_control.h):
  // the header without weights, and the best float weights in SPEC.md §6.2 order.
  NifFile header;
  std::vector<std::vector<float>> float_tensors;
};

struct RateTarget {
  enum class Kind { kNone, kBytes, kPsnr } kind = Kind::kNone;
  uint64_t bytes = 0;    // kBytes: the file never exceeds this
  double psnr_db = 0.0;  // kPsnr: the decoded file reaches at least this
};

// Target bytes for a bpp target on an image of `pixels` pixels.  Inline: the
// CLI uses these without linking the encoder.
inline uint64_t bytes_for_bpp(double bpp, uint64_t pixels) {
  return static_cast<uint64_t>(std::floor(bpp * static_cast<double>(pixels) / 8.0));
}

// The bpp target of a -q/--quality preset in 0..100: 0.05 * 2^(q/25) bpp,
// i.e. 0.05 at 0, 0.2 at 50 (the default network's rate), 0.8 at 100.
inline double bpp_for_quality(double quality) {
  return 0.05 * std::pow(2.0, std::clamp(quality, 0.0, 100.0) / 25.0);
}

// The default tile geometry (README "Large images: tiles").  Every tile fits its overlap
// too, so those pixels are paid for twice: 8 rather than 16 pixels saved 5.4 % of the bits
// at the same PSNR (4 x 384-pixel tiles of four Kodak images, -q 35..90) with no seam the
// decoded error shows, as the cross-fade still spans 16 pixels.
constexpr uint32_t kDefaultTileSize = 768;
constexpr uint32_t kDefaultTileOverlap = 8;

struct TileOptions {
  // Images wider or taller than this are tiled; tiles then have cores of at most
  // tile_size x tile_size pixels, plus `overlap` pixels on each interior side.  0: never tile.
  uint32_t tile_size = kDefaultTileSize;
  uint32_t overlap = kDefaultTileOverlap;
  // Caps each tile's positional levels at max_useful_pe_levels of the tile's size (the CLI
  // sets it when --pe-levels was not given, as it does for whole images).
  bool cap_pe_levels = true;
};

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

// The quantization step of grid latents: the encoder trains them with noise of
// this width and packs them with it (rate control scales it).
constexpr float kLatentStep = 1.0f;

}  // namespace nifc

#endif  // NIFC_CODEC_ENCODER_OPTIONS_H_
