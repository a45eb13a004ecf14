// The coordinate network as LibTorch tensors: shared by the encoder and the
// applications (Poisson, blending, inpainting).  Internal to codec/: it
// includes LibTorch, so nothing on the decoder side may include it.
#ifndef NIFC_CODEC_ENCODER_TORCH_NET_H_
#define NIFC_CODEC_ENCODER_TORCH_NET_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "format/nif_format.h"

namespace nifc {

struct TorchNet {
  Architecture arch;
  // W0, b0, W1, b1, ..., then (kGrid) one 1 x C x H x W latent tensor per level
  // (SPEC.md §6.2 order).
  std::vector<torch::Tensor> params;
  torch::Tensor fourier;  // m x 2 (kFourier only), double
  // kGrid, training only: when > 0, latents get additive uniform noise
  // U(-latent_noise/2, latent_noise/2) in encode() (quantization proxy).
  double latent_noise = 0.0;
  // The noise of optimizer step noise_step of a fit seeded noise_seed (latent_noise_key,
  // codec/encoder/grid_step.h), the same values the fused CPU step draws.
  uint64_t noise_seed = 0;
  int noise_step = 0;

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

// The tensors' values as host floats, in order (SPEC.md §6.2 order for a TorchNet's params).
std::vector<std::vector<float>> float_copy(const std::vector<torch::Tensor>& tensors);

}  // namespace nifc

#endif  // NIFC_CODEC_ENCODER_TORCH_NET_H_
