#include "codec/encoder/torch_net.h"

#include <algorithm>
#include <cmath>

#include "codec/encoder/grid_step.h"

namespace nifc {

torch::Tensor TorchNet::encode(const torch::Tensor& coords) const {
  const auto opts = coords.options().dtype(torch::kFloat64);
  const torch::Tensor p = coords.to(torch::kFloat64);
  torch::Tensor f;
  switch (arch.encoding) {
    case Encoding::kNone:
      f = p;
      break;
    case Encoding::kPositional: {
      const torch::Tensor freqs = M_PI * torch::pow(2.0, torch::arange(arch.pe_levels, opts));  // L
      const torch::Tensor ax = p.slice(1, 0, 1) * freqs;  // B x L
      const torch::Tensor ay = p.slice(1, 1, 2) * freqs;
      // per level k: sin x, cos x, sin y, cos y
      f = torch::stack({torch::sin(ax), torch::cos(ax), torch::sin(ay), torch::cos(ay)}, 2)
              .reshape({p.size(0), 4 * arch.pe_levels});
      if (arch.pe_include_input) f = torch::cat({p, f}, 1);
      break;
    }
    case Encoding::kFourier: {
      const torch::Tensor a = 2.0 * M_PI * torch::matmul(p, fourier.t());  // B x m
      f = torch::cat({torch::cos(a), torch::sin(a)}, 1);
      break;
    }
    case Encoding::kGrid: {
      // SPEC.md §6.4: grid_sample with align_corners=false puts sample a of n at
      // (2a + 1) / n - 1, and border padding clamps to the outer samples: the
      // spec's bilinear interpolation.  Float32 (the decoder uses binary64;
      // they agree to ~1e-7 relative).
      const int64_t n = coords.size(0);
      const torch::Tensor g = coords.to(torch::kFloat32).reshape({1, 1, n, 2});
      std::vector<torch::Tensor> levels;
      for (size_t k = 0; k < arch.grid_levels.size(); ++k) {
        torch::Tensor lat = params[2 * layer_count() + k];
        if (latent_noise > 0.0) {
          // Drawn on the CPU by the fused step's generator (0 + noise), then moved.
          const torch::Tensor zero = torch::zeros(lat.sizes());
          torch::Tensor noise = torch::empty_like(zero);
          add_latent_noise(zero.data_ptr<float>(), latent_noise_key(noise_seed, noise_step, k),
                           static_cast<float>(latent_noise), noise.data_ptr<float>(),
                           static_cast<size_t>(zero.numel()), 1);
          lat = lat + noise.to(lat.device());
        }
        // bilinear (0), border (1), align_corners false
        const torch::Tensor s = torch::grid_sampler(lat, g, 0, 1, false);  // 1 x C x 1 x n
        levels.push_back(s.reshape({arch.grid_channels, n}).t());
      }
      return torch::cat(levels, 1);
    }
  }
  return f.to(torch::kFloat32);
}

torch::Tensor TorchNet::forward(const torch::Tensor& coords) const {
  torch::Tensor h = encode(coords);
  const size_t layers = layer_count();
  for (size_t l = 0; l < layers; ++l) {
    h = torch::addmm(params[2 * l + 1], h, params[2 * l].t());
    if (l + 1 == layers) break;
    if (arch.activation == Activation::kSine) {
      h = torch::sin((l == 0 ? arch.omega0 : arch.omega) * h);
    } else {
      h = torch::relu(h);
    }
  }
  return h;
}

TorchNet make_net(const Architecture& arch, uint32_t channels, const torch::Device& device) {
  TorchNet net;
  net.arch = arch;
  const auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  const std::vector<LayerShape> shapes = layer_shapes(arch, channels);
  for (size_t l = 0; l < shapes.size(); ++l) {
    const double in = shapes[l].in;
    double w_bound;
    if (arch.activation == Activation::kSine) {
      // Sitzmann et al. 2020, §3.2: first layer U(-1/in, 1/in), later layers
      // U(-sqrt(6/in)/omega, sqrt(6/in)/omega), so pre-activations stay
      // arcsine-distributed through depth.
      w_bound = l == 0 ? 1.0 / in : std::sqrt(6.0 / in) / arch.omega;
    } else {
      w_bound = 1.0 / std::sqrt(in);  // PyTorch's nn.Linear default
    }
    const double b_bound = 1.0 / std::sqrt(in);
    torch::Tensor w = torch::empty({shapes[l].out, shapes[l].in}, opts).uniform_(-w_bound, w_bound);
    torch::Tensor b = torch::empty({shapes[l].out}, opts).uniform_(-b_bound, b_bound);
    net.params.push_back(w.to(device).requires_grad_(true));
    net.params.push_back(b.to(device).requires_grad_(true));
  }
  if (arch.encoding == Encoding::kGrid) {
    // Latents start at zero (Cool-chic): the MLP's first layer sees no signal
    // until the latents grow where the image needs them.
    for (const GridLevel& g : arch.grid_levels) {
      torch::Tensor lat = torch::zeros(
          {1, arch.grid_channels, static_cast<int64_t>(g.height), static_cast<int64_t>(g.width)},
          opts);
      net.params.push_back(lat.to(device).requires_grad_(true));
    }
  }
  if (arch.encoding == Encoding::kFourier) {
    const std::vector<float> b = fourier_matrix(arch);
    net.fourier = torch::from_blob(const_cast<float*>(b.data()), {arch.ff_features, 2}, opts)
                      .to(torch::kFloat64)
                      .to(device);
  }
  return net;
}

// Pixel-centre coordinates of SPEC.md §7 for the stored grid, N x 2.
torch::Tensor pixel_coords(uint32_t width, uint32_t height) {
  const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  const torch::Tensor xs =
      (2.0 * torch::arange(static_cast<int64_t>(width), opts) + 1.0) / static_cast<double>(width) -
      1.0;
  const torch::Tensor ys = (2.0 * torch::arange(static_cast<int64_t>(height), opts) + 1.0) /
                               static_cast<double>(height) -
                           1.0;
  const std::vector<torch::Tensor> grid = torch::meshgrid({ys, xs}, "ij");
  return torch::stack({grid[1].reshape({-1}), grid[0].reshape({-1})}, 1).to(torch::kFloat32);
}

std::vector<std::vector<float>> float_copy(const std::vector<torch::Tensor>& tensors) {
  std::vector<std::vector<float>> out;
  for (const torch::Tensor& p : tensors) {
    const torch::Tensor cpu = p.detach().to(torch::kCPU).contiguous().reshape({-1});
    out.emplace_back(cpu.data_ptr<float>(), cpu.data_ptr<float>() + cpu.numel());
  }
  return out;
}

GridReference torch_grid_reference(const Architecture& arch, uint32_t channels, uint32_t width,
                                   uint32_t height, uint64_t seed) {
  torch::manual_seed(seed);
  TorchNet net = make_net(arch, channels, torch::Device(torch::kCPU));
  const size_t mlp = 2 * net.layer_count();
  {
    torch::NoGradGuard no_grad;
    for (size_t k = mlp; k < net.params.size(); ++k) net.params[k].normal_(0.0, 2.0);
  }
  const int64_t n = int64_t{width} * height;
  const torch::Tensor coords = pixel_coords(width, height);
  const torch::Tensor target = torch::randn({n, int64_t{channels}});
  const torch::Tensor loss = torch::mse_loss(net.forward(coords), target);
  loss.backward();
  GridReference r;
  r.params = float_copy(net.params);
  std::vector<torch::Tensor> grads;
  for (const torch::Tensor& p : net.params) grads.push_back(p.grad());
  r.grads = float_copy(grads);
  torch::NoGradGuard no_grad;
  r.features = float_copy({net.encode(coords).t().contiguous()})[0];
  r.target = float_copy({target.t().contiguous()})[0];
  r.loss = loss.item<double>();
  return r;
}

}  // namespace nifc
