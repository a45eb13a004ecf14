#include "codec/encoder/rdoq.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "codec/encoder/grid_step.h"
#include "codec/encoder/options.h"
#include "codec/encoder/quantize.h"
#include "format/level_coder.h"

namespace nifc {
namespace {

constexpr int kActivity = 11;
constexpr int kSignContexts = 9;
constexpr int kExponentBins = 15;

// Per sample of one axis of a level, the pixels its bilinear interpolation reaches and
// their weights (SPEC.md §6.4 at the pixel centres of §7): sample q's taps are
// [start[q], start[q + 1]).
struct AxisTaps {
  std::vector<uint32_t> start, pixel;
  std::vector<float> weight;
};

AxisTaps axis_taps(uint32_t n, uint32_t size) {
  std::vector<std::vector<std::pair<uint32_t, float>>> lists(n);
  for (uint32_t i = 0; i < size; ++i) {
    const float x = static_cast<float>((2.0 * i + 1.0) / size - 1.0);
    double u = (static_cast<double>(x) + 1.0) * n / 2.0 - 0.5;
    u = std::min(std::max(u, 0.0), n - 1.0);
    const uint32_t a0 = static_cast<uint32_t>(std::floor(u));
    const uint32_t a1 = std::min(a0 + 1, n - 1);
    const double t = u - a0;
    if (t < 1.0) lists[a0].push_back({i, static_cast<float>(1.0 - t)});
    if (t > 0.0) lists[a1].push_back({i, static_cast<float>(t)});
  }
  AxisTaps a;
  a.start.push_back(0);
  for (const auto& l : lists) {
    for (const auto& [p, w] : l) {
      a.pixel.push_back(p);
      a.weight.push_back(w);
    }
    a.start.push_back(static_cast<uint32_t>(a.pixel.size()));
  }
  return a;
}

// Static estimates of §6.5's cost in bits of each context's two outcomes, from the
// outcome counts of one level's planes (the adaptive probabilities track about these).
struct LevelCosts {
  double zero[kActivity][2], sign[kSignContexts][2], expo[kActivity][kExponentBins][2],
      mant[kExponentBins][2];
};

struct Counts {
  double zero[kActivity][2] = {}, sign[kSignContexts][2] = {},
         expo[kActivity][kExponentBins][2] = {}, mant[kExponentBins][2] = {};
};

// A plane of levels, rows x cols, with §6.5's contexts.
struct Plane {
  int32_t* q;
  uint32_t rows, cols;

  int32_t at(int64_t r, int64_t s) const {
    if (r < 0 || s < 0 || s >= cols || r >= rows) return 0;
    return q[static_cast<size_t>(r) * cols + static_cast<size_t>(s)];
  }
  void context(uint32_t r, uint32_t s, int* activity, int* sign) const {
    const int32_t left = at(r, int64_t{s} - 1), up = at(int64_t{r} - 1, s);
    uint32_t a = static_cast<uint32_t>(std::abs(left)) + static_cast<uint32_t>(std::abs(up));
    if (r > 0) {
      a += (static_cast<uint32_t>(std::abs(at(r - 1, int64_t{s} - 1))) +
            static_cast<uint32_t>(std::abs(at(r - 1, int64_t{s} + 1)))) >>
           1;
    }
    *activity = level_activity_class(a);
    *sign = 3 * level_sign_class(left) + level_sign_class(up);
  }
};

// Visits the binary decisions §6.5 codes for level v with contexts (A, G):
// bit(table, bit) with table one of the four kinds.
template <typename Bit>
void binarize(int32_t v, int A, int G, Bit bit) {
  bit(0, A, 0, v != 0);
  if (v == 0) return;
  bit(1, G, 0, v < 0);
  const uint32_t m = static_cast<uint32_t>(std::abs(v));
  int e = 0;
  while ((m >> (e + 1)) != 0) ++e;
  for (int j = 0; j < 14; ++j) {
    const bool more = e > j;
    bit(2, A, j, more);
    if (!more) break;
  }
  if (e >= 1) {
    bit(3, e, 0, (m >> (e - 1)) & 1);
    bit(4, e - 1, 0, 0);  // bypass bits
  }
}

LevelCosts estimate_costs(const std::vector<Plane>& planes) {
  Counts n;
  for (const Plane& p : planes) {
    for (uint32_t r = 0; r < p.rows; ++r) {
      for (uint32_t s = 0; s < p.cols; ++s) {
        int A, G;
        p.context(r, s, &A, &G);
        binarize(p.q[size_t{r} * p.cols + s], A, G, [&](int kind, int i, int j, int b) {
          if (kind == 0) n.zero[i][b] += 1;
          if (kind == 1) n.sign[i][b] += 1;
          if (kind == 2) n.expo[i][j][b] += 1;
          if (kind == 3) n.mant[i][b] += 1;
        });
      }
    }
  }
  auto cost = [](const double* c, double* out) {
    const double total = c[0] + c[1] + 0.8;
    for (int b = 0; b < 2; ++b) out[b] = -std::log2((c[b] + 0.4) / total);
  };
  LevelCosts lc;
  for (int a = 0; a < kActivity; ++a) {
    cost(n.zero[a], lc.zero[a]);
    for (int j = 0; j < kExponentBins; ++j) cost(n.expo[a][j], lc.expo[a][j]);
  }
  for (int g = 0; g < kSignContexts; ++g) cost(n.sign[g], lc.sign[g]);
  for (int e = 0; e < kExponentBins; ++e) cost(n.mant[e], lc.mant[e]);
  return lc;
}

double value_bits(const LevelCosts& c, int32_t v, int A, int G) {
  double bits = 0.0;
  binarize(v, A, G, [&](int kind, int i, int j, int b) {
    if (kind == 0) bits += c.zero[i][b];
    if (kind == 1) bits += c.sign[i][b];
    if (kind == 2) bits += c.expo[i][j][b];
    if (kind == 3) bits += c.mant[i][b];
    if (kind == 4) bits += i;
  });
  return bits;
}

// The estimated bits of the positions whose code depends on level (r, s): itself and
// the four later neighbours that take it as a context.
double local_bits(const LevelCosts& c, const Plane& p, uint32_t r, uint32_t s) {
  double bits = 0.0;
  const int64_t pos[5][2] = {{r, s},
                             {r, int64_t{s} + 1},
                             {int64_t{r} + 1, int64_t{s} - 1},
                             {int64_t{r} + 1, s},
                             {int64_t{r} + 1, int64_t{s} + 1}};
  for (const auto& rc : pos) {
    if (rc[0] >= p.rows || rc[1] < 0 || rc[1] >= p.cols) continue;
    const uint32_t rr = static_cast<uint32_t>(rc[0]), ss = static_cast<uint32_t>(rc[1]);
    int A, G;
    p.context(rr, ss, &A, &G);
    bits += value_bits(c, p.q[size_t{rr} * p.cols + ss], A, G);
  }
  return bits;
}

}  // namespace

StatusOr<RdoqStats> optimize_latents(const Image& image, const NifFile& header, double latent_scale,
                                     double lambda, int passes,
                                     std::vector<std::vector<float>>* tensors) {
  const Architecture& arch = header.arch;
  RdoqStats stats;
  if (arch.encoding != Encoding::kGrid || arch.activation != Activation::kRelu) return stats;
  const size_t mlp_tensors = mlp_tensor_count(arch);
  const size_t levels = arch.grid_levels.size();
  const uint32_t cg = arch.grid_channels, ch = image.channels;
  if (tensors->size() != mlp_tensors + levels || header.mean.size() != ch ||
      header.stddev.size() != ch) {
    return invalid_argument("rdoq: the tensors do not match the architecture");
  }
  const uint32_t width = image.width, height = image.height;
  const size_t n = image.pixel_count();
  const uint32_t features = static_cast<uint32_t>(levels) * cg;

  std::vector<std::vector<float>> w, b;
  for (size_t t = 0; t < mlp_tensors; t += 2) {
    w.push_back(grid_mlp_as_packed((*tensors)[t]));
    b.push_back(grid_mlp_as_packed((*tensors)[t + 1]));
  }
  const std::vector<LayerShape> shapes = layer_shapes(arch, ch);
  if (shapes.empty() || shapes[0].in != features || shapes.back().out != ch) {
    return invalid_argument("rdoq: the MLP does not match the grid");
  }
  PointErrors decoded_error(arch, ch, w, b, header.stddev, header.mean);

  // The levels, and the features they give every pixel (pixel-major).
  const float step = static_cast<float>(kLatentStep * latent_scale);
  std::vector<std::vector<int32_t>> q(levels);
  std::vector<AxisTaps> tx(levels), ty(levels);
  std::vector<float> feat(n * features, 0.0f);
  for (size_t k = 0; k < levels; ++k) {
    const GridLevel& g = arch.grid_levels[k];
    const std::vector<float>& v = (*tensors)[mlp_tensors + k];
    if (v.size() != size_t{cg} * g.width * g.height) {
      return invalid_argument("rdoq: a latent level does not match its size");
    }
    q[k].resize(v.size());
    for (size_t i = 0; i < v.size(); ++i) q[k][i] = static_cast<int32_t>(std::round(v[i] / step));
    tx[k] = axis_taps(g.width, width);
    ty[k] = axis_taps(g.height, height);
    for (uint32_t c = 0; c < cg; ++c) {
      const int32_t* plane = q[k].data() + size_t{c} * g.width * g.height;
      const uint32_t f = static_cast<uint32_t>(k) * cg + c;
      for (uint32_t r = 0; r < g.height; ++r) {
        for (uint32_t s = 0; s < g.width; ++s) {
          const int32_t lv = plane[size_t{r} * g.width + s];
          if (lv == 0) continue;
          const float val = static_cast<float>(lv) * step;
          for (uint32_t a = ty[k].start[r]; a < ty[k].start[r + 1]; ++a) {
            const size_t row = size_t{ty[k].pixel[a]} * width;
            const float wy = ty[k].weight[a] * val;
            for (uint32_t b = tx[k].start[s]; b < tx[k].start[s + 1]; ++b) {
              feat[(row + tx[k].pixel[b]) * features + f] += wy * tx[k].weight[b];
            }
          }
        }
      }
    }
  }

  // Each pixel's squared error in units of the sample range, as decoded (clamped).  The
  // MLP runs on batches of up to kBatch pixels: fb holds their features, tb their samples.
  constexpr size_t kBatch = PointErrors::kBatch;
  std::vector<float> target(n * ch);
  const float inv_max = 1.0f / static_cast<float>(image.max_value());
  for (size_t i = 0; i < n * ch; ++i) target[i] = static_cast<float>(image.samples[i]) * inv_max;
  std::vector<float> fb(features * kBatch), tb(ch * kBatch), eb(kBatch);
  auto load = [&](size_t i, size_t p) {
    for (uint32_t k = 0; k < features; ++k) fb[k * kBatch + i] = feat[p * features + k];
    for (uint32_t c = 0; c < ch; ++c) tb[c * kBatch + i] = target[p * ch + c];
  };
  std::vector<float> err(n);
  for (size_t p0 = 0; p0 < n; p0 += kBatch) {
    const size_t cnt = std::min(kBatch, n - p0);
    for (size_t i = 0; i < cnt; ++i) load(i, p0 + i);
    decoded_error.eval(fb.data(), tb.data(), cnt, eb.data());
    std::copy(eb.begin(), eb.begin() + cnt, err.begin() + p0);
  }

  // The cost is sum of errors / channels + lambda * bits (MSE + lambda * bpp, times n).
  const double inv_ch = 1.0 / ch;
  std::vector<float> new_err;
  std::vector<size_t> pixels;
  std::vector<std::vector<float>> x_of(levels);
  for (size_t k = 0; k < levels; ++k) {
    for (float v : (*tensors)[mlp_tensors + k]) x_of[k].push_back(v / step);
  }
  for (int pass = 0; pass < passes; ++pass) {
    for (size_t kk = levels; kk-- > 0;) {
      const GridLevel& g = arch.grid_levels[kk];
      std::vector<Plane> planes;
      for (uint32_t c = 0; c < cg; ++c) {
        planes.push_back(Plane{q[kk].data() + size_t{c} * g.width * g.height, g.height, g.width});
      }
      const LevelCosts costs = estimate_costs(planes);
      for (uint32_t c = 0; c < cg; ++c) {
        Plane& pl = planes[c];
        const uint32_t fi = static_cast<uint32_t>(kk) * cg + c;
        for (uint32_t r = 0; r < g.height; ++r) {
          for (uint32_t s = 0; s < g.width; ++s) {
            int32_t& lv = pl.q[size_t{r} * g.width + s];
            const size_t idx = size_t{c} * g.width * g.height + size_t{r} * g.width + s;
            // Tries level `to` in place of lv; keeps it when it lowers the cost.
            auto try_move = [&](int32_t to) {
              ++stats.tried;
              const int32_t old = lv;
              const double bits_before = local_bits(costs, pl, r, s);
              lv = to;
              const double saved = bits_before - local_bits(costs, pl, r, s);
              lv = old;
              const float delta = static_cast<float>(to - old) * step;
              // The error's change over the footprint, kBatch pixels at a time.
              const double budget = lambda * saved;
              pixels.clear();
              new_err.clear();
              for (uint32_t a = ty[kk].start[r]; a < ty[kk].start[r + 1]; ++a) {
                const size_t row = size_t{ty[kk].pixel[a]} * width;
                for (uint32_t b = tx[kk].start[s]; b < tx[kk].start[s + 1]; ++b) {
                  pixels.push_back(row + tx[kk].pixel[b]);
                }
              }
              double d_err = 0.0;
              const size_t nx = tx[kk].start[s + 1] - tx[kk].start[s];
              for (size_t i0 = 0; i0 < pixels.size(); i0 += kBatch) {
                const size_t cnt = std::min(kBatch, pixels.size() - i0);
                for (size_t i = 0; i < cnt; ++i) {
                  const size_t j = i0 + i;
                  load(i, pixels[j]);
                  fb[fi * kBatch + i] += ty[kk].weight[ty[kk].start[r] + j / nx] * delta *
                                         tx[kk].weight[tx[kk].start[s] + j % nx];
                }
                decoded_error.eval(fb.data(), tb.data(), cnt, eb.data());
                for (size_t i = 0; i < cnt; ++i) {
                  d_err += double{eb[i]} - err[pixels[i0 + i]];
                  new_err.push_back(eb[i]);
                }
              }
              if (!(d_err * inv_ch < budget)) return false;
              lv = to;
              ++stats.changed;
              stats.estimated_bits += saved;
              size_t i = 0;
              for (uint32_t a = ty[kk].start[r]; a < ty[kk].start[r + 1]; ++a) {
                const size_t row = size_t{ty[kk].pixel[a]} * width;
                const float wy = ty[kk].weight[a] * delta;
                for (uint32_t b = tx[kk].start[s]; b < tx[kk].start[s + 1]; ++b, ++i) {
                  const size_t p = row + tx[kk].pixel[b];
                  feat[p * features + fi] += wy * tx[kk].weight[b];
                  err[p] = new_err[i];
                }
              }
              return true;
            };
            const int32_t toward = lv > 0 ? lv - 1 : lv + 1;
            if (lv != 0 && try_move(toward)) continue;
            // The integer on the other side of the trained value.
            const float x = x_of[kk][idx];
            const int32_t other = x > static_cast<float>(lv) ? lv + 1 : lv - 1;
            if (x != static_cast<float>(lv) && other != toward) try_move(other);
          }
        }
      }
    }
  }
  for (size_t k = 0; k < levels; ++k) {
    std::vector<float>& v = (*tensors)[mlp_tensors + k];
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(q[k][i]) * step;
  }
  return stats;
}

}  // namespace nifc
