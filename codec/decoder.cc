// The torch-free decoder.  SPEC.md §6 defines the network, §7 the sampling.
#include "codec/decoder.h"

#include <algorithm>
#include <cmath>
#include <thread>

namespace nifc {
namespace {

constexpr uint32_t kTilePoints = 8;   // points per register tile
constexpr uint32_t kTileOutputs = 16; // outputs per register tile
constexpr uint32_t kBlockPoints = 64; // points per evaluation block
constexpr double kPi = 3.14159265358979323846;

uint32_t round_up(uint32_t v, uint32_t m) { return (v + m - 1) / m * m; }

// Clamps to [lo, hi]; NaN maps to lo (hostile weights must not reach an
// undefined float-to-int conversion).
inline float clamp_nan_low(float v, float lo, float hi) {
  v = v > lo ? v : lo;
  return v < hi ? v : hi;
}

inline float sin_poly(float x) {
  // Reduce to r in [-pi/2, pi/2] with x = k*pi + r, sin(x) = (-1)^k sin(r).
  x = clamp_nan_low(x, -1e6f, 1e6f);
  const float inv_pi = 0.318309886183790671538f;
  const float q = x * inv_pi;
  const int k = static_cast<int>(q + (q >= 0.0f ? 0.5f : -0.5f));
  const float kf = static_cast<float>(k);
  // pi split in three parts (Cody-Waite) so k*pi is nearly exact.
  float r = x - kf * 3.140625f;
  r = r - kf * 9.67025756835937500e-4f;
  r = r - kf * 1.50995799097839e-7f;
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

// Computes y[p][o] = b[o] + sum_k x[p][k] * Wt[k][o] for a block of points,
// in tiles of kTilePoints x kTileOutputs accumulators kept in registers.
// Compiled for several instruction sets; the loader picks the best at run
// time, so the library runs on any x86-64 CPU.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NIFC_NO_CLONES)
__attribute__((target_clones("default", "arch=haswell", "arch=skylake-avx512")))
#endif
void linear_block(const float* x, uint32_t n_points, uint32_t in, const float* wt,
                  const float* bias, uint32_t out_padded, float* y) {
  for (uint32_t p0 = 0; p0 < n_points; p0 += kTilePoints) {
    for (uint32_t o0 = 0; o0 < out_padded; o0 += kTileOutputs) {
      float acc[kTilePoints][kTileOutputs];
      for (uint32_t p = 0; p < kTilePoints; ++p) {
        for (uint32_t j = 0; j < kTileOutputs; ++j) acc[p][j] = bias[o0 + j];
      }
      const float* xp = x + static_cast<size_t>(p0) * in;
      for (uint32_t k = 0; k < in; ++k) {
        const float* w = wt + static_cast<size_t>(k) * out_padded + o0;
        for (uint32_t p = 0; p < kTilePoints; ++p) {
          const float xv = xp[static_cast<size_t>(p) * in + k];
          for (uint32_t j = 0; j < kTileOutputs; ++j) acc[p][j] += xv * w[j];
        }
      }
      for (uint32_t p = 0; p < kTilePoints; ++p) {
        float* yp = y + static_cast<size_t>(p0 + p) * out_padded + o0;
        for (uint32_t j = 0; j < kTileOutputs; ++j) yp[j] = acc[p][j];
      }
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NIFC_NO_CLONES)
__attribute__((target_clones("default", "arch=haswell", "arch=skylake-avx512")))
#endif
void sine_inplace(float* v, size_t n) {
  for (size_t i = 0; i < n; ++i) v[i] = sin_poly(v[i]);
}

void relu_inplace(float* v, size_t n) {
  for (size_t i = 0; i < n; ++i) v[i] = v[i] > 0.0f ? v[i] : 0.0f;
}

}  // namespace

float fast_sin(float x) { return sin_poly(x); }

StatusOr<Network> Network::create(const NifFile& file) {
  Network net;
  net.arch_ = file.arch;
  net.channels_ = file.channels;
  net.input_dim_ = encoded_input_dim(file.arch);
  net.mean_ = file.mean;
  net.stddev_ = file.stddev;
  if (file.arch.encoding == Encoding::kFourier) net.fourier_ = fourier_matrix(file.arch);
  const std::vector<LayerShape> shapes = layer_shapes(file.arch, file.channels);
  if (file.tensors.size() != 2 * shapes.size()) {
    return invalid_argument("file holds no weights (header only?)");
  }
  net.max_dim_ = round_up(net.input_dim_, kTileOutputs);
  for (size_t l = 0; l < shapes.size(); ++l) {
    const LayerShape& s = shapes[l];
    const std::vector<float>& w = file.tensors[2 * l];
    const std::vector<float>& b = file.tensors[2 * l + 1];
    if (w.size() != static_cast<size_t>(s.in) * s.out || b.size() != s.out) {
      return invalid_argument("tensor size does not match the architecture");
    }
    const bool last = l + 1 == shapes.size();
    Layer layer;
    layer.in = s.in;
    layer.out = s.out;
    layer.out_padded = round_up(s.out, kTileOutputs);
    layer.sine = !last && file.arch.activation == Activation::kSine;
    layer.relu = !last && file.arch.activation == Activation::kRelu;
    // SPEC.md §6.3: sine layers compute sin(omega * (W x + b)); the factor is
    // folded into W and b here.
    const float scale = layer.sine ? (l == 0 ? file.arch.omega0 : file.arch.omega) : 1.0f;
    layer.weights_t.assign(static_cast<size_t>(s.in) * layer.out_padded, 0.0f);
    layer.bias.assign(layer.out_padded, 0.0f);
    for (uint32_t o = 0; o < s.out; ++o) {
      for (uint32_t k = 0; k < s.in; ++k) {
        layer.weights_t[static_cast<size_t>(k) * layer.out_padded + o] =
            scale * w[static_cast<size_t>(o) * s.in + k];
      }
      layer.bias[o] = scale * b[o];
    }
    net.macs_per_point_ += static_cast<uint64_t>(s.in) * s.out;
    net.max_dim_ = std::max(net.max_dim_, layer.out_padded);
    net.layers_.push_back(std::move(layer));
  }
  return net;
}

// SPEC.md §6.1
void Network::features(const float* x, const float* y, size_t n, float* out) const {
  const uint32_t d = input_dim_;
  for (size_t i = 0; i < n; ++i) {
    float* f = out + i * d;
    const double px = x[i], py = y[i];
    switch (arch_.encoding) {
      case Encoding::kNone:
        f[0] = x[i];
        f[1] = y[i];
        break;
      case Encoding::kPositional: {
        uint32_t j = 0;
        if (arch_.pe_include_input) {
          f[j++] = x[i];
          f[j++] = y[i];
        }
        for (uint32_t k = 0; k < arch_.pe_levels; ++k) {
          const double w = std::ldexp(kPi, static_cast<int>(k));
          f[j++] = static_cast<float>(std::sin(w * px));
          f[j++] = static_cast<float>(std::cos(w * px));
          f[j++] = static_cast<float>(std::sin(w * py));
          f[j++] = static_cast<float>(std::cos(w * py));
        }
        break;
      }
      case Encoding::kFourier: {
        const uint32_t m = arch_.ff_features;
        for (uint32_t k = 0; k < m; ++k) {
          const double a = 2.0 * kPi *
                           (static_cast<double>(fourier_[2 * k]) * px +
                            static_cast<double>(fourier_[2 * k + 1]) * py);
          f[k] = static_cast<float>(std::cos(a));
          f[m + k] = static_cast<float>(std::sin(a));
        }
        break;
      }
    }
  }
}

void Network::forward_block(float* buf_a, size_t n, float* out) const {
  // buf_a holds n (a multiple of kTilePoints) feature rows of input_dim_;
  // buf_b is the other half of the same scratch allocation.
  float* cur = buf_a;
  float* next = buf_a + static_cast<size_t>(kBlockPoints) * max_dim_;
  for (const Layer& layer : layers_) {
    linear_block(cur, static_cast<uint32_t>(n), layer.in, layer.weights_t.data(),
                 layer.bias.data(), layer.out_padded, next);
    // The next layer reads rows of `in` = this layer's `out` values, so
    // compact rows from out_padded to out when they differ.
    if (layer.out_padded != layer.out) {
      for (size_t p = 0; p < n; ++p) {
        std::copy(next + p * layer.out_padded, next + p * layer.out_padded + layer.out,
                  next + p * layer.out);
      }
    }
    const size_t count = n * layer.out;
    if (layer.sine) sine_inplace(next, count);
    if (layer.relu) relu_inplace(next, count);
    std::swap(cur, next);
  }
  std::copy(cur, cur + n * channels_, out);
}

void Network::evaluate(const float* x, const float* y, size_t n, float* out) const {
  std::vector<float> scratch(2 * static_cast<size_t>(kBlockPoints) * max_dim_);
  std::vector<float> bx(kBlockPoints), by(kBlockPoints), res(kBlockPoints * channels_);
  for (size_t start = 0; start < n; start += kBlockPoints) {
    const size_t count = std::min<size_t>(kBlockPoints, n - start);
    // Pad the block to whole tiles by repeating the last point, so every point
    // takes the same arithmetic path whatever the block boundaries.
    const size_t padded = round_up(static_cast<uint32_t>(count), kTilePoints);
    for (size_t i = 0; i < padded; ++i) {
      const size_t src = start + std::min(i, count - 1);
      bx[i] = x[src];
      by[i] = y[src];
    }
    features(bx.data(), by.data(), padded, scratch.data());
    forward_block(scratch.data(), padded, res.data());
    std::copy(res.begin(), res.begin() + count * channels_, out + start * channels_);
  }
}

void Network::evaluate_row(float y, const float* x, size_t n, float* out) const {
  std::vector<float> ys(n, y);
  evaluate(x, ys.data(), n, out);
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t c = 0; c < channels_; ++c) {
      float& v = out[i * channels_ + c];
      v = clamp_nan_low(v * stddev_[c] + mean_[c], 0.0f, 1.0f);
    }
  }
}

StatusOr<OutputGrid> resolve_output_grid(const NifFile& file, const DecodeOptions& o) {
  OutputGrid g;
  if (o.width == 0 && o.height == 0) {
    g.width = file.width;
    g.height = file.height;
  } else if (o.height == 0) {
    g.width = o.width;
    g.height = static_cast<uint32_t>(
        std::max(1.0, std::round(static_cast<double>(o.width) * file.height / file.width)));
  } else if (o.width == 0) {
    g.height = o.height;
    g.width = static_cast<uint32_t>(
        std::max(1.0, std::round(static_cast<double>(o.height) * file.width / file.height)));
  } else {
    g.width = o.width;
    g.height = o.height;
  }
  if (o.region_width == 0 && o.region_height == 0) {
    g.region_width = g.width;
    g.region_height = g.height;
  } else {
    if (o.region_width == 0 || o.region_height == 0) {
      return invalid_argument("region width and height must both be positive");
    }
    if (uint64_t{o.region_x} + o.region_width > g.width ||
        uint64_t{o.region_y} + o.region_height > g.height) {
      return invalid_argument("region lies outside the " + std::to_string(g.width) + "x" +
                              std::to_string(g.height) + " output");
    }
    g.x0 = o.region_x;
    g.y0 = o.region_y;
    g.region_width = o.region_width;
    g.region_height = o.region_height;
  }
  if (o.supersample < 1 || o.supersample > 16) {
    return invalid_argument("supersample must be 1..16");
  }
  if (o.bit_depth != 8 && o.bit_depth != 16) return invalid_argument("bit depth must be 8 or 16");
  const uint64_t pixels = uint64_t{g.region_width} * g.region_height;
  if (pixels > o.max_output_pixels || g.width > (1u << 24) || g.height > (1u << 24)) {
    return limit_exceeded("output of " + std::to_string(g.region_width) + "x" +
                          std::to_string(g.region_height) + " pixels exceeds the limit of " +
                          std::to_string(o.max_output_pixels) + " pixels");
  }
  return g;
}

StatusOr<Image> decode_nif(const NifFile& file, const DecodeOptions& options) {
  NIFC_ASSIGN_OR_RETURN(const OutputGrid g, resolve_output_grid(file, options));
  NIFC_ASSIGN_OR_RETURN(const Network net, Network::create(file));
  Image img;
  img.width = g.region_width;
  img.height = g.region_height;
  img.channels = file.channels;
  img.bit_depth = options.bit_depth;
  img.samples.resize(img.pixel_count() * img.channels);
  const uint32_t s = options.supersample;
  const float max_value = static_cast<float>(img.max_value());
  const uint32_t ch = file.channels;

  // SPEC.md §7: sample (i, j) of the full output grid, sub-sample (u, v),
  // lies at x = 2 (i + (u + 1/2) / S) / W - 1, y likewise.
  const uint32_t cols = g.region_width * s;
  std::vector<float> xs(cols);
  for (uint32_t i = 0; i < g.region_width; ++i) {
    for (uint32_t u = 0; u < s; ++u) {
      const double pos = (g.x0 + i) + (u + 0.5) / s;
      xs[static_cast<size_t>(i) * s + u] = static_cast<float>(2.0 * pos / g.width - 1.0);
    }
  }
  auto work = [&](uint32_t row_begin, uint32_t row_end) {
    std::vector<float> vals(static_cast<size_t>(cols) * ch);
    std::vector<double> sum(static_cast<size_t>(g.region_width) * ch);
    for (uint32_t j = row_begin; j < row_end; ++j) {
      std::fill(sum.begin(), sum.end(), 0.0);
      for (uint32_t v = 0; v < s; ++v) {
        const double pos = (g.y0 + j) + (v + 0.5) / s;
        const float y = static_cast<float>(2.0 * pos / g.height - 1.0);
        net.evaluate_row(y, xs.data(), cols, vals.data());
        for (size_t k = 0; k < vals.size(); ++k) {
          sum[(k / ch) / s * ch + k % ch] += vals[k];
        }
      }
      uint16_t* dst = img.samples.data() + static_cast<size_t>(j) * g.region_width * ch;
      const double inv = 1.0 / (static_cast<double>(s) * s);
      for (size_t k = 0; k < sum.size(); ++k) {
        dst[k] = static_cast<uint16_t>(std::lround(sum[k] * inv * max_value));
      }
    }
  };
  int threads = options.threads > 0 ? options.threads
                                    : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, std::min<int>(threads, static_cast<int>(g.region_height)));
  if (threads == 1) {
    work(0, g.region_height);
  } else {
    // Interleaved bands of rows balance the load; each pixel is computed the
    // same way whichever thread takes it, so the output does not depend on the
    // thread count.
    std::vector<std::thread> pool;
    const uint32_t band = 4;
    const uint32_t bands = (g.region_height + band - 1) / band;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t]() {
        for (uint32_t b = static_cast<uint32_t>(t); b < bands; b += static_cast<uint32_t>(threads)) {
          work(b * band, std::min(g.region_height, (b + 1) * band));
        }
      });
    }
    for (std::thread& th : pool) th.join();
  }
  return img;
}

}  // namespace nifc
