// The fused CPU step of grid fits (codec/encoder/grid_step.h) against LibTorch's autograd
// (torch_grid_reference, computed in the encoder library, so this file needs no LibTorch).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "codec/encoder/grid_step.h"

namespace nifc {
namespace {

// max |a - b| over max |b|: the error of a against the reference b, relative to its scale.
double rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double err = 0.0, scale = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return err / scale;
}

// An odd image size (taps that do not fall on whole samples), 2 latent channels per level,
// both instruction sets, 1 and 3 threads.  Bound: 1e-4 of each gradient's largest
// magnitude (float sums in another order; measured ~2e-6).
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
  const GridReference ref = torch_grid_reference(a, ch, w, h, 7);
  const size_t n = size_t{w} * h, mlp = 2 * (a.widths.size() + 1);
  REQUIRE(ref.params.size() == mlp + a.grid_levels.size());

  GridUpsampler up(a, w, h);
  REQUIRE(up.features() == 8);
  std::vector<const float*> latents, wp, bp;
  std::vector<std::vector<float>> dlat, dws, dbs;
  std::vector<float*> dlatp, dwp, dbp;
  for (size_t k = mlp; k < ref.params.size(); ++k) {
    latents.push_back(ref.params[k].data());
    dlat.emplace_back(ref.params[k].size());
  }
  for (size_t l = 0; l < mlp; l += 2) {
    wp.push_back(ref.params[l].data());
    bp.push_back(ref.params[l + 1].data());
    dws.emplace_back(ref.params[l].size());
    dbs.emplace_back(ref.params[l + 1].size());
  }
  for (auto& v : dlat) dlatp.push_back(v.data());
  for (auto& v : dws) dwp.push_back(v.data());
  for (auto& v : dbs) dbp.push_back(v.data());
  for (const bool baseline : {false, true}) {
    grid_step_use_baseline(baseline);
    CAPTURE(grid_step_isa());
    for (const int threads : {1, 3}) {
      CAPTURE(threads);
      std::vector<float> features(8 * n), dfeatures(8 * n);
      up.forward(latents, features.data(), threads);
      CHECK(rel_error(features, ref.features) < 1e-5);
      const double values = static_cast<double>(n) * ch;
      const double sse = mlp_mse_step(a, ch, wp, bp, features.data(), ref.target.data(), n,
                                      1.0 / values, dfeatures.data(), dwp, dbp, threads);
      CHECK(sse / values == doctest::Approx(ref.loss).epsilon(1e-5));
      up.backward(dfeatures.data(), dlatp, threads);
      for (size_t l = 0; l < dws.size(); ++l) {
        CAPTURE(l);
        CHECK(rel_error(dws[l], ref.grads[2 * l]) < 1e-4);
        CHECK(rel_error(dbs[l], ref.grads[2 * l + 1]) < 1e-4);
      }
      for (size_t k = 0; k < dlat.size(); ++k) {
        CAPTURE(k);
        CHECK(rel_error(dlat[k], ref.grads[mlp + k]) < 1e-4);
      }
    }
  }
  grid_step_use_baseline(false);
}

}  // namespace
}  // namespace nifc
