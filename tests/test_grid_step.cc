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

  std::vector<const float*> latents, wp, bp;
  for (size_t k = mlp; k < ref.params.size(); ++k) latents.push_back(ref.params[k].data());
  for (size_t l = 0; l < mlp; l += 2) {
    wp.push_back(ref.params[l].data());
    bp.push_back(ref.params[l + 1].data());
  }
  // Chunks of one row and of more than the image: one partial MLP group per chunk, and
  // whole groups across rows.
  for (const uint32_t chunk : {1u, 4096u}) {
    CAPTURE(chunk);
    GridStep step(a, ch, w, h, chunk);
    REQUIRE(step.features() == 8);
    std::vector<float> features(8 * n);
    step.features_at(latents, features.data());
    CHECK(rel_error(features, ref.features) < 1e-5);
    for (const bool baseline : {false, true}) {
      grid_step_use_baseline(baseline);
      CAPTURE(grid_step_isa());
      for (const int threads : {1, 3}) {
        CAPTURE(threads);
        // Gradients start as garbage: the step overwrites them.
        std::vector<std::vector<float>> dlat, dws, dbs;
        std::vector<float*> dlatp, dwp, dbp;
        for (size_t k = mlp; k < ref.params.size(); ++k)
          dlat.emplace_back(ref.params[k].size(), 9.f);
        for (size_t l = 0; l < mlp; l += 2) {
          dws.emplace_back(ref.params[l].size(), 9.f);
          dbs.emplace_back(ref.params[l + 1].size(), 9.f);
        }
        for (auto& v : dlat) dlatp.push_back(v.data());
        for (auto& v : dws) dwp.push_back(v.data());
        for (auto& v : dbs) dbp.push_back(v.data());
        const double values = static_cast<double>(n) * ch;
        const double sse =
            step.step(latents, wp, bp, ref.target.data(), 1.0 / values, dlatp, dwp, dbp, threads);
        CHECK(sse / values == doctest::Approx(ref.loss).epsilon(1e-5));
        for (size_t l = 0; l < dws.size(); ++l) {
          CAPTURE(l);
          CHECK(rel_error(dws[l], ref.grads[2 * l]) < 1e-4);
          CHECK(rel_error(dbs[l], ref.grads[2 * l + 1]) < 1e-4);
        }
        for (size_t k = 0; k < dlat.size(); ++k) {
          CAPTURE(k);
          CHECK(rel_error(dlat[k], ref.grads[mlp + k]) < 1e-4);
        }
        // The forward pass alone (a fit's evaluations): the same errors, per channel; a
        // target off by 1 in channel 1 alone adds n + 2 * its error sum there only.
        const std::vector<double> per_channel =
            step.channel_sse(latents, wp, bp, ref.target.data(), threads);
        REQUIRE(per_channel.size() == ch);
        CHECK(per_channel[0] + per_channel[1] + per_channel[2] ==
              doctest::Approx(sse).epsilon(1e-9));
        std::vector<float> shifted = ref.target;
        for (size_t i = n; i < 2 * n; ++i) shifted[i] -= 1.0f;
        const std::vector<double> moved =
            step.channel_sse(latents, wp, bp, shifted.data(), threads);
        CHECK(moved[0] == doctest::Approx(per_channel[0]).epsilon(1e-12));
        CHECK(moved[2] == doctest::Approx(per_channel[2]).epsilon(1e-12));
        CHECK(moved[1] != doctest::Approx(per_channel[1]).epsilon(1e-3));
      }
    }
  }
  grid_step_use_baseline(false);
}

// The rate-distortion pass's batched errors against a plain double-precision reading of
// SPEC.md §6.3 with the decoder's clamping: every batch width the kernels specialise
// (1, 2, 4 and 8 vectors, partial ones included) on both instruction sets.
TEST_CASE("point errors: batched MLP errors match a scalar evaluation") {
  Architecture a;
  a.encoding = Encoding::kGrid;
  a.activation = Activation::kRelu;
  a.omega0 = a.omega = 1.0f;
  a.widths = {16, 12};
  a.grid_channels = 1;
  for (uint32_t k = 0; k < 5; ++k) a.grid_levels.push_back({8, 8});
  const uint32_t ch = 3, in = 5;
  uint32_t state = 12345;
  auto uniform = [&] {  // in [-1, 1)
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(state >> 8) / 8388608.0f - 1.0f;
  };
  const uint32_t shape[3][2] = {{16, in}, {12, 16}, {ch, 12}};
  std::vector<std::vector<float>> w, b;
  for (const auto& s : shape) {
    w.emplace_back(s[0] * s[1]);
    b.emplace_back(s[0]);
    for (float& x : w.back()) x = uniform() * 0.6f;
    for (float& x : b.back()) x = uniform() * 0.2f;
  }
  // Wide enough that some outputs clamp at 0 and some at 1.
  const std::vector<float> sd = {0.9f, 0.5f, 1.3f}, mean = {0.5f, 0.4f, 0.6f};
  constexpr size_t kB = PointErrors::kBatch;
  std::vector<float> features(in * kB), target(ch * kB);
  for (float& x : features) x = uniform() * 2.0f;
  for (float& x : target) x = 0.5f + 0.5f * uniform();
  int low = 0, high = 0;  // the reference's clamped outputs
  auto reference = [&](size_t p) {
    std::vector<double> x(in);
    for (uint32_t k = 0; k < in; ++k) x[k] = features[k * kB + p];
    for (size_t l = 0; l < 3; ++l) {
      std::vector<double> y(shape[l][0]);
      for (uint32_t o = 0; o < shape[l][0]; ++o) {
        double acc = b[l][o];
        for (uint32_t k = 0; k < shape[l][1]; ++k) acc += double{w[l][o * shape[l][1] + k]} * x[k];
        y[o] = l < 2 ? std::max(acc, 0.0) : acc;
      }
      x = y;
    }
    double e = 0.0;
    for (uint32_t c = 0; c < ch; ++c) {
      const double raw = x[c] * sd[c] + mean[c];
      low += raw < 0.0;
      high += raw > 1.0;
      const double s = std::clamp(raw, 0.0, 1.0);
      e += (s - target[c * kB + p]) * (s - target[c * kB + p]);
    }
    return e;
  };
  PointErrors pe(a, ch, w, b, sd, mean);
  for (size_t p = 0; p < kB; ++p) reference(p);
  CHECK(low > 0);
  CHECK(high > 0);
  for (const bool baseline : {false, true}) {
    grid_step_use_baseline(baseline);
    CAPTURE(grid_step_isa());
    for (const size_t n : {1, 7, 8, 9, 16, 17, 32, 33, 63, 64}) {
      CAPTURE(n);
      std::vector<float> err(kB + 1, -1.0f);
      pe.eval(features.data(), target.data(), n, err.data());
      for (size_t p = 0; p < n; ++p) {
        CAPTURE(p);
        CHECK(err[p] == doctest::Approx(reference(p)).epsilon(1e-5));
      }
      CHECK(err[n] == -1.0f);  // nothing written past the n points
    }
  }
  grid_step_use_baseline(false);
}

}  // namespace
}  // namespace nifc
