// The fused CPU step of grid fits (codec/encoder/grid_step.h) against LibTorch's autograd.
// LibTorch's headers define a glog-style CHECK macro; doctest's must win, so they come first
// and that one is dropped.
#include <torch/torch.h>
#undef CHECK

#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "codec/encoder/grid_step.h"
#include "codec/encoder/torch_net.h"

namespace nifc {
namespace {

// max |a - b| over max |b|: the error of a against the reference b, relative to its scale.
double rel_error(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(1e-30, b.abs().max().item<double>());
}

// The fused CPU step (codec/encoder/grid_step.h) against LibTorch's autograd on the same
// weights: an odd image size (taps that do not fall on whole samples), 2 latent channels
// per level, both instruction sets.  Bound: 1e-4 of each gradient's largest magnitude
// (float sums in another order; measured ~1e-6).
TEST_CASE("fused grid step: loss and gradients match LibTorch's autograd") {
  const uint32_t w = 37, h = 23, ch = 3;
  Architecture a;
  a.encoding = Encoding::kGrid;
  a.activation = Activation::kRelu;
  a.omega0 = a.omega = 1.0f;
  a.widths = {16, 12};
  a.grid_channels = 2;
  for (uint32_t k = 0; k < 4; ++k) {
    a.grid_levels.push_back({(w + (1u << k) - 1) >> k, (h + (1u << k) - 1) >> k});
  }
  REQUIRE(grid_step_supported(a));
  torch::manual_seed(7);
  TorchNet net = make_net(a, ch, torch::Device(torch::kCPU));
  const size_t mlp = 2 * net.layer_count();
  {
    torch::NoGradGuard no_grad;
    for (size_t k = mlp; k < net.params.size(); ++k) net.params[k].normal_(0.0, 2.0);
  }
  const int64_t n = int64_t{w} * h;
  const torch::Tensor coords = pixel_coords(w, h);
  const torch::Tensor target = torch::randn({n, int64_t{ch}});
  const torch::Tensor loss = torch::mse_loss(net.forward(coords), target);
  loss.backward();

  GridUpsampler up(a, w, h);
  REQUIRE(up.features() == 8);
  std::vector<const float*> latents, wp, bp;
  std::vector<torch::Tensor> dlat;
  std::vector<float*> dlatp, dwp, dbp;
  std::vector<torch::Tensor> dws, dbs;
  for (size_t k = mlp; k < net.params.size(); ++k) {
    latents.push_back(net.params[k].data_ptr<float>());
    dlat.push_back(torch::empty_like(net.params[k]));
    dlatp.push_back(dlat.back().data_ptr<float>());
  }
  for (size_t l = 0; l < mlp; l += 2) {
    wp.push_back(net.params[l].data_ptr<float>());
    bp.push_back(net.params[l + 1].data_ptr<float>());
    dws.push_back(torch::empty_like(net.params[l]));
    dbs.push_back(torch::empty_like(net.params[l + 1]));
    dwp.push_back(dws.back().data_ptr<float>());
    dbp.push_back(dbs.back().data_ptr<float>());
  }
  const torch::Tensor target_fm = target.t().contiguous();
  for (const bool baseline : {false, true}) {
    grid_step_use_baseline(baseline);
    CAPTURE(grid_step_isa());
    for (const int threads : {1, 3}) {
      CAPTURE(threads);
      torch::Tensor features = torch::empty({8, n}), dfeatures = torch::empty({8, n});
      up.forward(latents, features.data_ptr<float>(), threads);
      {
        torch::NoGradGuard no_grad;
        CHECK(rel_error(features, net.encode(coords).t()) < 1e-5);
      }
      const double values = static_cast<double>(n) * ch;
      const double sse = mlp_mse_step(a, ch, wp, bp, features.data_ptr<float>(),
                                      target_fm.data_ptr<float>(), static_cast<size_t>(n),
                                      1.0 / values, dfeatures.data_ptr<float>(), dwp, dbp, threads);
      CHECK(sse / values == doctest::Approx(loss.item<double>()).epsilon(1e-5));
      up.backward(dfeatures.data_ptr<float>(), dlatp, threads);
      for (size_t l = 0; l < dws.size(); ++l) {
        CAPTURE(l);
        CHECK(rel_error(dws[l], net.params[2 * l].grad()) < 1e-4);
        CHECK(rel_error(dbs[l], net.params[2 * l + 1].grad()) < 1e-4);
      }
      for (size_t k = 0; k < dlat.size(); ++k) {
        CAPTURE(k);
        CHECK(rel_error(dlat[k], net.params[mlp + k].grad()) < 1e-4);
      }
    }
  }
  grid_step_use_baseline(false);
}

}  // namespace
}  // namespace nifc
