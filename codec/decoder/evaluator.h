// Internal to the decoder (codec/decoder/): the prepared network and the machinery that
// evaluates it on rows of points, shared by the untiled (decoder.cc) and tiled (tiled.cc)
// decoders.  Not installed; nothing outside codec/decoder/ includes it.
#ifndef NIFC_CODEC_DECODER_EVALUATOR_H_
#define NIFC_CODEC_DECODER_EVALUATOR_H_

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <system_error>
#include <thread>
#include <vector>

#include "codec/decoder/decoder.h"
#include "codec/decoder/kernels.h"

namespace nifc {
namespace internal {

// The prepared network behind a Network (shared, immutable).
struct NetworkImpl {
  Isa isa = Isa::kGeneric;
  KernelInfo kernel;
  Architecture arch;
  uint32_t channels = 0;
  uint32_t input_dim = 0;
  uint32_t max_width = 0;  // widest hidden layer
  std::vector<PackedLayer> layers;
  std::vector<float> fourier;  // m x 2
  std::vector<float> mean, stddev;
  // Grid (SPEC.md §6.4): per level, grid_channels x height x width latents, and
  // the offset of each level's row line in Scratch::row_grid.
  std::vector<std::vector<float>> grid;
  std::vector<size_t> grid_line_offset;
  size_t grid_line_doubles = 0;
};

constexpr double kPi = 3.14159265358979323846;
// Bound on the per-column encoding tables of one decode pass; wider outputs
// are decoded in column chunks.
constexpr size_t kTableBudgetBytes = size_t{32} << 20;
// Columns per task when threads fill the tables.
constexpr size_t kTableBlockColumns = 256;

inline size_t round_up(size_t v, size_t m) { return (v + m - 1) / m * m; }

// Clamps to [lo, hi]; NaN maps to lo (hostile weights must not reach an
// undefined float-to-int conversion).
inline float clamp_nan_low(float v, float lo, float hi) {
  v = v > lo ? v : lo;
  return v < hi ? v : hi;
}

inline float sin_poly(float x) {
  // Reduce to r in [-pi/2, pi/2] with x = k*pi + r, sin(x) = (-1)^k sin(r).
  // The reduction is done in double: k*pi then errs by at most |k| * 2^-51,
  // below 2e-10 for |x| <= 1e6 (a float Cody-Waite split with a 24-bit first
  // part would not be exact for k beyond 2^16).
  x = clamp_nan_low(x, -1e6f, 1e6f);
  const double q = static_cast<double>(x) * (1.0 / kPi);
  const long k = static_cast<long>(q + (q >= 0.0 ? 0.5 : -0.5));  // |q| < 318310
  const float r = static_cast<float>(static_cast<double>(x) - static_cast<double>(k) * kPi);
  const float r2 = r * r;
  // Taylor series to degree 11: error below 6e-8 on [-pi/2, pi/2].
  float p = -2.50521083854417e-8f;
  p = p * r2 + 2.75573192239859e-6f;
  p = p * r2 - 1.98412698412698e-4f;
  p = p * r2 + 8.33333333333333e-3f;
  p = p * r2 - 1.66666666666667e-1f;
  const float s = r + r * r2 * p;
  return (k & 1) ? -s : s;
}

// A float array aligned to 64 bytes (whole cache lines for the kernels).
class FloatBuffer {
 public:
  explicit FloatBuffer(size_t n) {
    const size_t bytes = round_up(std::max<size_t>(n, 1) * sizeof(float), 64);
    p_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    if (!p_) throw std::bad_alloc();
    std::memset(p_.get(), 0, bytes);
  }
  float* data() { return p_.get(); }
  const float* data() const { return p_.get(); }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float[], Free> p_;
};

// Per-thread working memory for evaluating groups of points.
struct Scratch {
  explicit Scratch(const NetworkImpl& net)
      : features(size_t{net.input_dim} * net.kernel.group_points),
        act(2 * size_t{net.max_width} * net.kernel.group_points),
        out(size_t{net.channels} * net.kernel.group_points) {}
  FloatBuffer features;                  // input_dim x group_points
  FloatBuffer act;                       // 2 x max_width x group_points
  FloatBuffer out;                       // channels x group_points
  std::vector<float> row_values;         // per-row encoding values
  std::vector<double> row_cos, row_sin;  // Fourier: per-row cos, sin
  std::vector<double> row_grid;          // grid: per level and channel, a row interpolated in y
};

// SPEC.md §6.4: the two grid samples along one axis of n samples that
// coordinate v in [-1, 1] falls between, and the weight of the second.
// Samples sit at (2a + 1) / n - 1 (like pixel centres); beyond the outer ones
// the coordinate clamps to the edge.  NaN maps to the first sample.
struct GridTap {
  uint32_t i0 = 0, i1 = 0;
  double t = 0.0;
};
inline GridTap grid_tap(float v, uint32_t n) {
  double u = (static_cast<double>(v) + 1.0) * 0.5 * n - 0.5;
  if (!(u > 0.0)) u = 0.0;  // NaN too
  const double top = static_cast<double>(n - 1);
  if (u > top) u = top;
  GridTap tap;
  tap.i0 = static_cast<uint32_t>(u);  // u >= 0: truncation is floor
  tap.i1 = std::min(tap.i0 + 1, n - 1);
  tap.t = u - tap.i0;
  return tap;
}

// SPEC.md §6.4: level k, channel c at taps (tx, ty): interpolated along y
// first, then along x, in binary64.
inline double grid_value(const float* g, uint32_t w, uint32_t h, uint32_t c, const GridTap& tx,
                         const GridTap& ty) {
  const float* plane = g + static_cast<size_t>(c) * h * w;
  const float* r0 = plane + static_cast<size_t>(ty.i0) * w;
  const float* r1 = plane + static_cast<size_t>(ty.i1) * w;
  const double a = (1.0 - ty.t) * r0[tx.i0] + ty.t * r1[tx.i0];
  const double b = (1.0 - ty.t) * r0[tx.i1] + ty.t * r1[tx.i1];
  return (1.0 - tx.t) * a + tx.t * b;
}

// SPEC.md §6.1 for one point, straight from the definition: feature j goes to
// f[j * stride].
inline void point_features(const NetworkImpl& net, float x, float y, float* f, size_t stride) {
  const Architecture& a = net.arch;
  const double px = x, py = y;
  switch (a.encoding) {
    case Encoding::kNone:
      f[0] = x;
      f[stride] = y;
      break;
    case Encoding::kPositional: {
      size_t j = 0;
      if (a.pe_include_input) {
        f[stride * j++] = x;
        f[stride * j++] = y;
      }
      for (uint32_t k = 0; k < a.pe_levels; ++k) {
        const double w = std::ldexp(kPi, static_cast<int>(k));
        f[stride * j++] = static_cast<float>(std::sin(w * px));
        f[stride * j++] = static_cast<float>(std::cos(w * px));
        f[stride * j++] = static_cast<float>(std::sin(w * py));
        f[stride * j++] = static_cast<float>(std::cos(w * py));
      }
      break;
    }
    case Encoding::kFourier: {
      const uint32_t m = a.ff_features;
      for (uint32_t k = 0; k < m; ++k) {
        const double arg = 2.0 * kPi *
                           (static_cast<double>(net.fourier[2 * k]) * px +
                            static_cast<double>(net.fourier[2 * k + 1]) * py);
        f[stride * k] = static_cast<float>(std::cos(arg));
        f[stride * (m + k)] = static_cast<float>(std::sin(arg));
      }
      break;
    }
    case Encoding::kGrid: {
      const uint32_t ch = a.grid_channels;
      for (size_t k = 0; k < a.grid_levels.size(); ++k) {
        const GridLevel& lv = a.grid_levels[k];
        const GridTap tx = grid_tap(x, lv.width), ty = grid_tap(y, lv.height);
        for (uint32_t c = 0; c < ch; ++c) {
          f[stride * (k * ch + c)] =
              static_cast<float>(grid_value(net.grid[k].data(), lv.width, lv.height, c, tx, ty));
        }
      }
      break;
    }
  }
}

// Evaluates rows of points at fixed columns xs[0..n): the encoding features of
// x are tabulated once per column (build), those of y once per row.  The
// tables give bit-identical positional features to point_features (the same
// double expressions), and Fourier features within 1e-15 of them.
class RowEvaluator {
 public:
  RowEvaluator(const NetworkImpl& net, const float* xs, size_t n)
      : net_(net),
        xs_(xs),
        n_(n),
        padded_(round_up(std::max<size_t>(n, 1), net.kernel.group_points)),
        table_(table_floats(net, padded_)),
        fourier_table_(net.arch.encoding == Encoding::kFourier ? 2 * padded_ * net.arch.ff_features
                                                               : 0),
        grid_taps_(net.arch.encoding == Encoding::kGrid ? padded_ * net.arch.grid_levels.size()
                                                        : 0) {
    const Architecture& a = net.arch;
    if (a.encoding == Encoding::kNone) {
      src_ = {0, -1};
    } else if (a.encoding == Encoding::kPositional) {
      // x table rows: [x,] then sin, cos per level; row values likewise for y.
      int32_t row = 0, val = 0;
      if (a.pe_include_input) {
        src_.push_back(row++);
        src_.push_back(-1 - val++);
      }
      for (uint32_t k = 0; k < a.pe_levels; ++k) {
        src_.push_back(row++);
        src_.push_back(row++);
        src_.push_back(-1 - val++);
        src_.push_back(-1 - val++);
      }
    }
  }

  // Bytes of table per column, for choosing column chunks.
  static size_t table_bytes_per_column(const NetworkImpl& net) {
    if (net.arch.encoding == Encoding::kFourier) return 2 * sizeof(double) * net.arch.ff_features;
    if (net.arch.encoding == Encoding::kGrid) return sizeof(GridTap) * net.arch.grid_levels.size();
    return table_floats(net, 1) * sizeof(float);
  }

  size_t padded_columns() const { return padded_; }

  // Fills the tables for columns [begin, end) of padded_columns(); padding
  // columns repeat the last real one.  Different ranges may be filled by
  // different threads.
  void build(size_t begin, size_t end) {
    const Architecture& a = net_.arch;
    float* t = table_.data();
    for (size_t c = begin; c < end; ++c) {
      const float x = n_ ? xs_[std::min(c, n_ - 1)] : 0.0f;
      const double px = x;
      switch (a.encoding) {
        case Encoding::kNone:
          t[c] = x;
          break;
        case Encoding::kPositional: {
          size_t row = 0;
          if (a.pe_include_input) t[padded_ * row++ + c] = x;
          for (uint32_t k = 0; k < a.pe_levels; ++k) {
            const double w = std::ldexp(kPi, static_cast<int>(k));
            t[padded_ * row++ + c] = static_cast<float>(std::sin(w * px));
            t[padded_ * row++ + c] = static_cast<float>(std::cos(w * px));
          }
          break;
        }
        case Encoding::kFourier: {
          // cos rows, then sin rows.
          const uint32_t m = a.ff_features;
          double* cos_x = fourier_table_.data();
          double* sin_x = cos_x + padded_ * m;
          for (uint32_t k = 0; k < m; ++k) {
            const double arg = 2.0 * kPi * (static_cast<double>(net_.fourier[2 * k]) * px);
            cos_x[padded_ * k + c] = std::cos(arg);
            sin_x[padded_ * k + c] = std::sin(arg);
          }
          break;
        }
        case Encoding::kGrid:
          for (size_t k = 0; k < a.grid_levels.size(); ++k) {
            grid_taps_[padded_ * k + c] = grid_tap(x, a.grid_levels[k].width);
          }
          break;
      }
    }
  }

  // Evaluates the row at y for all n columns and writes de-normalized samples
  // clamped to [0, 1], planar: out[c * out_stride + i].
  void evaluate(float y, Scratch& s, float* out, size_t out_stride) const {
    row_features(y, s);
    const size_t g = net_.kernel.group_points;
    float* f = s.features.data();
    for (size_t g0 = 0; g0 < n_; g0 += g) {
      fill_features(g0, s, f);
      forward_group(net_.isa, net_.layers, f, s.act.data(), s.out.data());
      const size_t count = std::min(g, n_ - g0);
      for (uint32_t c = 0; c < net_.channels; ++c) {
        const float* o = s.out.data() + c * g;
        float* dst = out + c * out_stride + g0;
        const float sd = net_.stddev[c], mu = net_.mean[c];
        for (size_t p = 0; p < count; ++p) dst[p] = clamp_nan_low(o[p] * sd + mu, 0.0f, 1.0f);
      }
    }
  }

 private:
  static size_t table_floats(const NetworkImpl& net, size_t columns) {
    const Architecture& a = net.arch;
    switch (a.encoding) {
      case Encoding::kNone:
        return columns;
      case Encoding::kPositional:
        return columns * ((a.pe_include_input ? 1 : 0) + 2 * size_t{a.pe_levels});
      case Encoding::kFourier:
        return 0;  // fourier_table_
      case Encoding::kGrid:
        return 0;  // grid_taps_
    }
    return columns;
  }

  void row_features(float y, Scratch& s) const {
    const Architecture& a = net_.arch;
    const double py = y;
    switch (a.encoding) {
      case Encoding::kNone:
        s.row_values.assign(1, y);
        break;
      case Encoding::kPositional:
        s.row_values.clear();
        if (a.pe_include_input) s.row_values.push_back(y);
        for (uint32_t k = 0; k < a.pe_levels; ++k) {
          const double w = std::ldexp(kPi, static_cast<int>(k));
          s.row_values.push_back(static_cast<float>(std::sin(w * py)));
          s.row_values.push_back(static_cast<float>(std::cos(w * py)));
        }
        break;
      case Encoding::kFourier: {
        const uint32_t m = a.ff_features;
        s.row_cos.resize(m);
        s.row_sin.resize(m);
        for (uint32_t k = 0; k < m; ++k) {
          const double arg = 2.0 * kPi * (static_cast<double>(net_.fourier[2 * k + 1]) * py);
          s.row_cos[k] = std::cos(arg);
          s.row_sin[k] = std::sin(arg);
        }
        break;
      }
      case Encoding::kGrid: {
        // SPEC.md §6.4, the y step of grid_value() for whole rows of each level.
        s.row_grid.resize(net_.grid_line_doubles);
        for (size_t k = 0; k < a.grid_levels.size(); ++k) {
          const GridLevel& lv = a.grid_levels[k];
          const GridTap ty = grid_tap(y, lv.height);
          double* line = s.row_grid.data() + net_.grid_line_offset[k];
          for (uint32_t c = 0; c < a.grid_channels; ++c) {
            const float* plane =
                net_.grid[k].data() + static_cast<size_t>(c) * lv.height * lv.width;
            const float* r0 = plane + static_cast<size_t>(ty.i0) * lv.width;
            const float* r1 = plane + static_cast<size_t>(ty.i1) * lv.width;
            double* dst = line + static_cast<size_t>(c) * lv.width;
            for (uint32_t i = 0; i < lv.width; ++i) {
              dst[i] = (1.0 - ty.t) * r0[i] + ty.t * r1[i];
            }
          }
        }
        break;
      }
    }
  }

  // The features of the group of columns starting at g0, feature-major.
  void fill_features(size_t g0, const Scratch& s, float* f) const {
    const size_t g = net_.kernel.group_points;
    const float* t = table_.data();
    if (net_.arch.encoding == Encoding::kFourier) {
      const uint32_t m = net_.arch.ff_features;
      const double* cos_x = fourier_table_.data();
      const double* sin_x = cos_x + padded_ * m;
      for (uint32_t k = 0; k < m; ++k) {
        const double* cx = cos_x + padded_ * k + g0;
        const double* sx = sin_x + padded_ * k + g0;
        const double cy = s.row_cos[k], sy = s.row_sin[k];
        float* fc = f + g * k;
        float* fs = f + g * (m + k);
        for (size_t p = 0; p < g; ++p) {
          fc[p] = static_cast<float>(cx[p] * cy - sx[p] * sy);  // cos(a_x + a_y)
          fs[p] = static_cast<float>(sx[p] * cy + cx[p] * sy);  // sin(a_x + a_y)
        }
      }
      return;
    }
    if (net_.arch.encoding == Encoding::kGrid) {
      const Architecture& a = net_.arch;
      const uint32_t ch = a.grid_channels;
      for (size_t k = 0; k < a.grid_levels.size(); ++k) {
        const uint32_t w = a.grid_levels[k].width;
        const GridTap* taps = grid_taps_.data() + padded_ * k + g0;
        const double* line = s.row_grid.data() + net_.grid_line_offset[k];
        for (uint32_t c = 0; c < ch; ++c) {
          const double* lc = line + static_cast<size_t>(c) * w;
          float* dst = f + g * (k * ch + c);
          for (size_t p = 0; p < g; ++p) {
            const GridTap& tx = taps[p];
            dst[p] = static_cast<float>((1.0 - tx.t) * lc[tx.i0] + tx.t * lc[tx.i1]);
          }
        }
      }
      return;
    }
    for (size_t j = 0; j < src_.size(); ++j) {
      float* dst = f + g * j;
      if (src_[j] >= 0) {
        std::memcpy(dst, t + padded_ * static_cast<size_t>(src_[j]) + g0, g * sizeof(float));
      } else {
        std::fill(dst, dst + g, s.row_values[static_cast<size_t>(-1 - src_[j])]);
      }
    }
  }

  const NetworkImpl& net_;
  const float* xs_;
  size_t n_;
  size_t padded_;
  FloatBuffer table_;                  // x features (positional, none)
  std::vector<double> fourier_table_;  // cos(a_x), sin(a_x) (Fourier)
  std::vector<GridTap> grid_taps_;     // per level, per column (grid)
  // Positional and none: per input feature, >= 0 a row of the x table,
  // < 0 the row value -1 - src.
  std::vector<int32_t> src_;
};

// Runs body() on `threads` threads (the caller's included) and waits.  If the
// system refuses a thread, the ones already running do the work: bodies take
// their tasks from a shared counter.
template <typename Body>
inline void run_on_threads(int threads, const Body& body) {
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) {
    try {
      pool.emplace_back([&body]() { body(); });
    } catch (const std::system_error&) {
      break;
    }
  }
  body();
  for (std::thread& th : pool) th.join();
}

// The decoded image of grid g, its samples zeroed.
inline Image output_image(const OutputGrid& g, uint32_t channels, uint32_t bit_depth) {
  Image img;
  img.width = g.region_width;
  img.height = g.region_height;
  img.channels = channels;
  img.bit_depth = bit_depth;
  img.samples.resize(img.pixel_count() * img.channels);
  return img;
}

// Supersampling: adds the s sub-column samples of each of the pn output pixels
// to sum[i * ch + c], in sub-column order (the reference decoder's, so that the
// double sums are reproducible).  `src` is planar: channel c's samples start
// at src + c * cn, pixel i's at i * s within them.
template <typename T>
void add_subsamples(const T* src, size_t cn, size_t pn, uint32_t ch, uint32_t s, double* sum) {
  for (size_t i = 0; i < pn; ++i) {
    for (uint32_t c = 0; c < ch; ++c) {
      const T* p = src + c * cn + i * s;
      double a = sum[i * ch + c];
      for (uint32_t u = 0; u < s; ++u) a += p[u];
      sum[i * ch + c] = a;
    }
  }
}

}  // namespace internal
}  // namespace nifc

#endif  // NIFC_CODEC_DECODER_EVALUATOR_H_
