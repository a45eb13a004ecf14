// The coordinate network as LibTorch tensors: shared by the encoder and the
// applications (Poisson, blending, inpainting).  Internal to codec/: it
// includes LibTorch, so nothing on the decoder side may include it.
#ifndef NIFC_CODEC_TORCH_NET_H_
#define NIFC_CODEC_TORCH_NET_H_

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "codec/encoder.h"
#include "format/nif_format.h"
#include "format/status.h"

namespace nifc {

using Clock = std::chrono::steady_clock;

// Seconds since t0.
double seconds_since(Clock::time_point t0);

// The first line of `s` (LibTorch's messages carry backtraces after it).
std::string first_line(const std::string& s);

// PSNR in dB of a mean squared error in [0, 1]^2 units (99 for 0).
double mse_to_psnr(double mse);

// The progress reports of a fitting loop: at most one per 0.5 s, plus forced
// ones (the last step, the time limit).  The batch PSNR is a running average of
// the loss (normalized units) times `variance`.
class ProgressReporter {
 public:
  ProgressReporter(const EncodeOptions& o, double variance) : o_(o), variance_(variance) {
    prog_.total_steps = o.steps;
  }
  // False when the callback asked to stop.  `best_psnr_db` is 0 when unknown.
  bool report(int steps_done, double elapsed, bool force, const torch::Tensor& loss,
              double best_psnr_db);

 private:
  const EncodeOptions& o_;
  double variance_;
  EncodeProgress prog_;
  double ema_ = -1.0, last_report_ = 0.0;
};

struct TorchNet {
  Architecture arch;
  // W0, b0, W1, b1, ..., then (kGrid) one 1 x C x H x W latent tensor per level
  // (SPEC.md §6.2 order).
  std::vector<torch::Tensor> params;
  torch::Tensor fourier;  // m x 2 (kFourier only), double
  // kGrid, training only: when > 0, latents get additive uniform noise
  // U(-latent_noise/2, latent_noise/2) in encode() (quantization proxy).
  double latent_noise = 0.0;

  size_t layer_count() const { return arch.widths.size() + 1; }

  // SPEC.md §6.1, computed in double so it matches the decoder's features.
  // Differentiable with respect to `coords` (N x 2).
  torch::Tensor encode(const torch::Tensor& coords) const;
  // SPEC.md §6.3: raw outputs (normalized units), N x channels.
  torch::Tensor forward(const torch::Tensor& coords) const;
};

// A freshly initialised network (SIREN initialisation for sine networks,
// PyTorch's nn.Linear default for ReLU ones) whose parameters require grad.
TorchNet make_net(const Architecture& arch, uint32_t channels, const torch::Device& device);

// Pixel-centre coordinates of SPEC.md §7 for a width x height grid, N x 2
// (x, y), row-major from the top-left pixel.
torch::Tensor pixel_coords(uint32_t width, uint32_t height);

// The device for `name`: "cpu", "cuda" (kUnsupported when LibTorch has no
// CUDA here) or "auto" (CUDA when available, else the CPU).  Other names:
// kInvalidArgument.
StatusOr<torch::Device> pick_device(const std::string& name);

// The learning rate at `step` (0-based) of `steps`: linear warm-up over
// `warmup_steps` to `peak`, then cosine decay to peak * final_ratio.
double scheduled_lr(double peak, double final_ratio, int warmup_steps, int steps, int step);

// Quantizes `params` (in SPEC.md §6.2 order) to header.bits per tensor and
// writes a .nif file with `header` (size, channels, normalization, arch, bits;
// its weight fields are ignored).
StatusOr<std::vector<uint8_t>> pack_net(const std::vector<torch::Tensor>& params,
                                        const NifFile& header, int zstd_level);

}  // namespace nifc

#endif  // NIFC_CODEC_TORCH_NET_H_
