#include "codec/encoder/quantize.h"

#include <algorithm>
#include <cmath>

#include "codec/encoder/options.h"

namespace nifc {

size_t mlp_tensor_count(const Architecture& arch) { return 2 * (arch.widths.size() + 1); }

float scaled_max_abs_step(float max_abs, double scale) {
  const float step = max_abs > 0 ? static_cast<float>(max_abs * scale / 127.0) : 1.0f;
  return step > 0 && std::isfinite(step) ? step : 1.0f;
}

std::vector<float> grid_mlp_as_packed(const std::vector<float>& v) {
  float max_abs = 0.0f;
  for (float x : v) max_abs = std::max(max_abs, std::fabs(x));
  const float step = scaled_max_abs_step(max_abs, 1.0);
  std::vector<float> q(v.size());
  for (size_t i = 0; i < v.size(); ++i) q[i] = std::round(v[i] / step) * step;
  return q;
}

StatusOr<std::vector<uint8_t>> pack_trained(const NifFile& header,
                                            const std::vector<std::vector<float>>& tensors,
                                            int zstd_level) {
  const size_t mlp_tensors = mlp_tensor_count(header.arch);
  std::vector<QuantizedTensor> q;
  q.reserve(tensors.size());
  for (size_t t = 0; t < tensors.size(); ++t) {
    const std::vector<float>& v = tensors[t];
    QuantizedTensor qt = quantize_tensor(v, header.bits);
    // Grid latents were trained for the fixed step kLatentStep; keep it unless their range
    // does not fit the bit width.
    if (t >= mlp_tensors && qt.step <= kLatentStep) {
      qt.step = kLatentStep;
      for (size_t i = 0; i < v.size(); ++i) {
        qt.levels[i] = static_cast<int32_t>(std::lround(v[i] / kLatentStep));
      }
    }
    q.push_back(std::move(qt));
  }
  return serialize_nif(header, q, zstd_level);
}

StatusOr<std::vector<uint8_t>> pack_scaled(const NifFile& header,
                                           const std::vector<std::vector<float>>& tensors,
                                           double scale, int zstd_level) {
  const bool grid = header.arch.encoding == Encoding::kGrid;
  const size_t mlp_tensors = mlp_tensor_count(header.arch);
  std::vector<QuantizedTensor> q;
  q.reserve(tensors.size());
  double max_level = 1.0;
  for (size_t t = 0; t < tensors.size(); ++t) {
    const std::vector<float>& v = tensors[t];
    QuantizedTensor qt;
    float max_abs = 0.0f;
    for (float x : v) max_abs = std::max(max_abs, std::fabs(x));
    if (grid && t >= mlp_tensors) {
      qt.step = static_cast<float>(kLatentStep * scale);
    } else {
      qt.step = scaled_max_abs_step(max_abs, grid ? 1.0 : scale);
    }
    if (!(qt.step > 0) || !std::isfinite(qt.step)) qt.step = 1.0f;
    max_level = std::max(max_level, static_cast<double>(std::round(max_abs / qt.step)));
    q.push_back(std::move(qt));
  }
  int bits = 2;
  while (bits < 16 && (1 << (bits - 1)) - 1 < max_level) ++bits;
  NifFile h = header;
  h.bits = static_cast<uint8_t>(bits);
  const double top = (1 << (bits - 1)) - 1;
  for (size_t t = 0; t < tensors.size(); ++t) {
    const std::vector<float>& v = tensors[t];
    QuantizedTensor& qt = q[t];
    qt.levels.resize(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      const double level = std::round(v[i] / qt.step);
      qt.levels[i] = static_cast<int32_t>(std::clamp(level, -top, top));
    }
  }
  return serialize_nif(h, q, zstd_level);
}

}  // namespace nifc
