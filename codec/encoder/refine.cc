#include "codec/encoder/refine.h"

#include <algorithm>
#include <cmath>

#include "codec/encoder/grid_step.h"
#include "codec/encoder/options.h"
#include "codec/encoder/quantize.h"

namespace nifc {
StatusOr<bool> refine_synthesis(const Image& image, const NifFile& header, double latent_scale,
                                const RefineOptions& options,
                                std::vector<std::vector<float>>* tensors) {
  const Architecture& arch = header.arch;
  if (arch.encoding != Encoding::kGrid || !grid_step_supported(arch) || options.steps <= 0) {
    return false;
  }
  const size_t mlp_tensors = mlp_tensor_count(arch);
  if (tensors->size() <= mlp_tensors) return invalid_argument("refine: no latents");
  const uint32_t ch = image.channels;
  const size_t n = image.pixel_count();
  if (header.mean.size() != ch || header.stddev.size() != ch) {
    return invalid_argument("refine: the normalization does not match the image");
  }

  // The targets, standardised as the fit's (SPEC.md §5.2), feature-major.
  std::vector<float> target(n * ch);
  const float inv_max = 1.0f / static_cast<float>(image.max_value());
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t c = 0; c < ch; ++c) {
      target[c * n + i] = (image.samples[i * ch + c] * inv_max - header.mean[c]) / header.stddev[c];
    }
  }
  // The latents as the file stores them.
  const float step = static_cast<float>(kLatentStep * latent_scale);
  std::vector<std::vector<float>> latents, dlatents;
  std::vector<const float*> lat_ptr;
  std::vector<float*> dlat_ptr;
  for (size_t t = mlp_tensors; t < tensors->size(); ++t) {
    std::vector<float> q((*tensors)[t].size());
    for (size_t i = 0; i < q.size(); ++i) q[i] = std::round((*tensors)[t][i] / step) * step;
    latents.push_back(std::move(q));
    dlatents.emplace_back(latents.back().size());
  }
  for (size_t k = 0; k < latents.size(); ++k) {
    lat_ptr.push_back(latents[k].data());
    dlat_ptr.push_back(dlatents[k].data());
  }

  GridStep grid(arch, ch, image.width, image.height);
  const int threads = std::max(1, options.threads);
  // The summed squared error of MLP weights `p`, quantized as the file will hold them.
  auto quantized_sse = [&](const std::vector<std::vector<float>>& p) {
    std::vector<std::vector<float>> q;
    std::vector<const float*> w, b;
    for (size_t t = 0; t < mlp_tensors; ++t) q.push_back(grid_mlp_as_packed(p[t]));
    for (size_t t = 0; t < mlp_tensors; t += 2) {
      w.push_back(q[t].data());
      b.push_back(q[t + 1].data());
    }
    double sse = 0.0;
    for (double s : grid.channel_sse(lat_ptr, w, b, target.data(), threads)) sse += s;
    return sse;
  };

  std::vector<std::vector<float>> p(tensors->begin(), tensors->begin() + mlp_tensors);
  const double before = quantized_sse(p);
  std::vector<std::vector<float>> g, m, v;
  for (const std::vector<float>& x : p) {
    g.emplace_back(x.size());
    m.emplace_back(x.size());
    v.emplace_back(x.size());
  }
  // (The buffers stay where they are: their pointers are taken once.)
  std::vector<const float*> w, b;
  std::vector<float*> dw, db;
  for (size_t t = 0; t < mlp_tensors; t += 2) {
    w.push_back(p[t].data());
    b.push_back(p[t + 1].data());
    dw.push_back(g[t].data());
    db.push_back(g[t + 1].data());
  }
  std::vector<AdamBuffers> adam(mlp_tensors);
  for (size_t t = 0; t < mlp_tensors; ++t) {
    adam[t].p = p[t].data();
    adam[t].g = g[t].data();
    adam[t].m = m[t].data();
    adam[t].v = v[t].data();
    adam[t].n = p[t].size();
  }
  const double values = static_cast<double>(n) * ch;
  const double kPi = 3.14159265358979323846;
  for (int s = 0; s < options.steps; ++s) {
    grid.step(lat_ptr, w, b, target.data(), 1.0 / values, dlat_ptr, dw, db, threads);
    const double lr = options.lr * (0.1 + 0.9 * 0.5 * (1.0 + std::cos(kPi * s / options.steps)));
    for (AdamBuffers& a : adam) a.lr = lr;
    adam_step(adam, s + 1, 0.9, 0.999, 1e-8, threads);
  }
  const double after = quantized_sse(p);
  if (!(after < before)) return false;
  for (size_t t = 0; t < mlp_tensors; ++t) (*tensors)[t] = std::move(p[t]);
  return true;
}

}  // namespace nifc
