#include "codec/encoder/grid_step.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <system_error>
#include <thread>

#include "format/prng.h"

namespace nifc {
namespace {

// The MLP as the kernels see it: layer l maps in[l] to out[l] features; its activations
// start at act_offset[l] vectors of a thread's buffer (act_offset[layers]: the output's).
struct MlpView {
  int layers = 0;
  std::vector<uint32_t> in, out;
  std::vector<const float*> w, b;
  std::vector<size_t> act_offset;
  size_t act_vectors = 0;
  size_t max_width = 0;
};

// Runs body(t) for t in [0, threads) on threads threads (the caller's included); if the
// system refuses a thread, the caller runs its share.
template <typename Body>
void run_threads(int threads, const Body& body) {
  std::vector<std::thread> pool;
  std::vector<int> left;
  for (int t = 1; t < threads; ++t) {
    try {
      pool.emplace_back([&body, t]() { body(t); });
    } catch (const std::system_error&) {
      left.push_back(t);
    }
  }
  body(0);
  for (int t : left) body(t);
  for (std::thread& th : pool) th.join();
}

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define NIFC_GRID_STEP_X86 1
#endif

// Each copy's functions carry a target attribute (not a per-file -m flag), so no AVX code
// leaks into the baseline through shared inline functions, and the build needs no -march.
#if NIFC_GRID_STEP_X86
namespace avx2 {
#define NIFC_GRID_TARGET __attribute__((target("avx2,fma")))
#include "codec/encoder/grid_step_kernels.inc"
#undef NIFC_GRID_TARGET
}  // namespace avx2
#endif

namespace baseline {
#define NIFC_GRID_TARGET
#include "codec/encoder/grid_step_kernels.inc"
#undef NIFC_GRID_TARGET
}  // namespace baseline

std::atomic<bool> g_force_baseline{false};

bool use_avx2() {
#if NIFC_GRID_STEP_X86
  static const bool yes = [] {
    const char* cap = std::getenv("NIFC_ISA");
    if (cap != nullptr && (std::string(cap) == "sse2" || std::string(cap) == "generic")) {
      return false;
    }
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return yes && !g_force_baseline.load();
#else
  return false;
#endif
}

MlpView mlp_view(const Architecture& arch, uint32_t channels, const std::vector<const float*>& w,
                 const std::vector<const float*>& b) {
  MlpView m;
  const std::vector<LayerShape> shapes = layer_shapes(arch, channels);
  m.layers = static_cast<int>(shapes.size());
  size_t offset = 0;
  for (const LayerShape& s : shapes) {
    m.in.push_back(s.in);
    m.out.push_back(s.out);
    m.act_offset.push_back(offset);
    offset += size_t{s.in} * baseline::kV;
    m.max_width = std::max<size_t>({m.max_width, s.in, s.out});
  }
  m.act_offset.push_back(offset);
  m.act_vectors = offset + size_t{shapes.back().out} * baseline::kV;
  m.w = w;
  m.b = b;
  return m;
}

}  // namespace

bool grid_step_supported(const Architecture& arch) {
  return arch.encoding == Encoding::kGrid && arch.activation == Activation::kRelu &&
         !arch.widths.empty();
}

const char* grid_step_isa() { return use_avx2() ? "avx2+fma" : "baseline"; }

void grid_step_use_baseline(bool baseline) { g_force_baseline.store(baseline); }

uint64_t mlp_step_macs_per_point(const Architecture& arch, uint32_t channels) {
  uint64_t macs = 0;
  for (const LayerShape& s : layer_shapes(arch, channels)) macs += 3 * uint64_t{s.in} * s.out;
  return macs;
}

namespace {

// body(i, begin, end) on `threads` threads, each taking its share of every one of the
// arrays whose sizes are given: one spawn for all of them.
template <typename Body>
void for_shares(const std::vector<size_t>& sizes, int threads, const Body& body) {
  size_t total = 0;
  for (size_t n : sizes) total += n;
  threads = std::max(1, std::min<int>(threads, static_cast<int>(total / 65536 + 1)));
  run_threads(threads, [&](int t) {
    for (size_t i = 0; i < sizes.size(); ++i) {
      const size_t b = sizes[i] * static_cast<size_t>(t) / static_cast<size_t>(threads);
      const size_t e = sizes[i] * (static_cast<size_t>(t) + 1) / static_cast<size_t>(threads);
      if (b < e) body(i, b, e);
    }
  });
}

}  // namespace

void add_latent_noise(const std::vector<LatentBuffers>& levels, float step, int threads) {
  std::vector<size_t> sizes;
  for (const LatentBuffers& l : levels) sizes.push_back(l.n);
  for_shares(sizes, threads, [&](size_t i, size_t b, size_t e) {
    const LatentBuffers& l = levels[i];
#if NIFC_GRID_STEP_X86
    if (use_avx2()) return avx2::add_hashed_noise(l.x, l.key, step, l.noisy, b, e);
#endif
    baseline::add_hashed_noise(l.x, l.key, step, l.noisy, b, e);
  });
}

void add_latent_noise(const float* x, uint32_t key, float step, float* y, size_t n, int threads) {
  LatentBuffers l;
  l.x = x;
  l.noisy = y;
  l.n = n;
  l.key = key;
  add_latent_noise(std::vector<LatentBuffers>{l}, step, threads);
}

void add_rate_gradient(const std::vector<LatentBuffers>& levels, float coef, float step,
                       int threads) {
  std::vector<size_t> sizes;
  for (const LatentBuffers& l : levels) sizes.push_back(l.n);
  for_shares(sizes, threads, [&](size_t i, size_t b, size_t e) {
    const LatentBuffers& l = levels[i];
#if NIFC_GRID_STEP_X86
    if (use_avx2()) return avx2::add_rate_gradient(l.x, coef, step, l.grad, b, e);
#endif
    baseline::add_rate_gradient(l.x, coef, step, l.grad, b, e);
  });
}

void adam_step(const std::vector<AdamBuffers>& tensors, int step, double beta1, double beta2,
               double eps, int threads) {
  const double bc1 = 1.0 - std::pow(beta1, step), bc2 = 1.0 - std::pow(beta2, step);
  std::vector<size_t> sizes;
  for (const AdamBuffers& t : tensors) sizes.push_back(t.n);
  for_shares(sizes, threads, [&](size_t i, size_t b, size_t e) {
    const AdamBuffers& t = tensors[i];
    const float step_size = static_cast<float>(t.lr / bc1);
    const float root_bc2 = static_cast<float>(std::sqrt(bc2));
#if NIFC_GRID_STEP_X86
    if (use_avx2()) {
      return avx2::adam_range(t.p, t.g, t.m, t.v, b, e, static_cast<float>(beta1),
                              static_cast<float>(beta2), step_size, root_bc2,
                              static_cast<float>(eps));
    }
#endif
    baseline::adam_range(t.p, t.g, t.m, t.v, b, e, static_cast<float>(beta1),
                         static_cast<float>(beta2), step_size, root_bc2, static_cast<float>(eps));
  });
}

uint32_t latent_noise_key(uint64_t seed, int step, size_t level) {
  uint64_t state = seed * 0x100000001B3ull + static_cast<uint64_t>(step) * 64 + level;
  return static_cast<uint32_t>(splitmix64(&state) >> 32);
}

uint64_t grid_step_flops(const Architecture& arch, uint32_t channels, uint32_t width,
                         uint32_t height) {
  const uint64_t n = uint64_t{width} * height;
  const uint64_t features = encoded_input_dim(arch);
  return n * (2 * mlp_step_macs_per_point(arch, channels) + 8 * features + 3 * channels) +
         20 * parameter_count(arch, channels);
}

double mlp_mse_step(const Architecture& arch, uint32_t channels, const std::vector<const float*>& w,
                    const std::vector<const float*>& b, const float* features, const float* target,
                    size_t n, double grad_scale, float* dfeatures, const std::vector<float*>& dw,
                    const std::vector<float*>& db, int threads) {
  using baseline::kGroup;
  using baseline::V8;
  const MlpView m = mlp_view(arch, channels, w, b);
  const size_t groups = (n + kGroup - 1) / kGroup;
  threads = std::max(1, std::min<int>(threads, static_cast<int>(groups)));
  // Per thread: its gradient accumulators (lane sums) and working vectors.
  size_t acc_vectors = 0;
  std::vector<size_t> w_off, b_off;
  for (int l = 0; l < m.layers; ++l) {
    w_off.push_back(acc_vectors);
    acc_vectors += size_t{m.in[l]} * m.out[l];
    b_off.push_back(acc_vectors);
    acc_vectors += m.out[l];
  }
  const size_t per_thread = acc_vectors + m.act_vectors + 2 * m.max_width * baseline::kV;
  // 64-byte aligned (std::vector does not promise the vectors' 32 bytes everywhere).
  struct Free {
    void operator()(V8* p) const { std::free(p); }
  };
  const size_t bytes = (per_thread * static_cast<size_t>(threads) * sizeof(V8) + 63) / 64 * 64;
  std::unique_ptr<V8[], Free> buffer(static_cast<V8*>(std::aligned_alloc(64, bytes)));
  if (!buffer) throw std::bad_alloc();
  std::vector<double> sse(static_cast<size_t>(threads), 0.0);
  const float scale2 = static_cast<float>(2.0 * grad_scale);
  run_threads(threads, [&](int t) {
    V8* base = buffer.get() + per_thread * static_cast<size_t>(t);
    std::memset(static_cast<void*>(base), 0, acc_vectors * sizeof(V8));
    std::vector<V8*> dwv, dbv;
    for (int l = 0; l < m.layers; ++l) {
      dwv.push_back(base + w_off[static_cast<size_t>(l)]);
      dbv.push_back(base + b_off[static_cast<size_t>(l)]);
    }
    V8* act = base + acc_vectors;
    V8* grad = act + m.act_vectors;
    // Contiguous shares of whole groups.
    const size_t g0 = groups * static_cast<size_t>(t) / static_cast<size_t>(threads);
    const size_t g1 = groups * (static_cast<size_t>(t) + 1) / static_cast<size_t>(threads);
    const size_t begin = g0 * kGroup, end = std::min(n, g1 * kGroup);
    if (begin >= end) return;
#if NIFC_GRID_STEP_X86
    if (use_avx2()) {
      sse[static_cast<size_t>(t)] = avx2::mlp_range(m, features, target, n, begin, end, scale2,
                                                    dfeatures, act, grad, dwv.data(), dbv.data());
      return;
    }
#endif
    sse[static_cast<size_t>(t)] = baseline::mlp_range(m, features, target, n, begin, end, scale2,
                                                      dfeatures, act, grad, dwv.data(), dbv.data());
  });
  // Sum the threads' lane sums, in a fixed order.
  for (int l = 0; l < m.layers; ++l) {
    const size_t nw = size_t{m.in[l]} * m.out[l];
    for (size_t i = 0; i < nw + m.out[l]; ++i) {
      double s = 0.0;
      for (int t = 0; t < threads; ++t) {
        const V8 v =
            buffer[per_thread * static_cast<size_t>(t) + w_off[static_cast<size_t>(l)] + i];
        for (int lane = 0; lane < baseline::kLanes; ++lane) s += v[lane];
      }
      if (i < nw) {
        dw[static_cast<size_t>(l)][i] = static_cast<float>(s);
      } else {
        db[static_cast<size_t>(l)][i - nw] = static_cast<float>(s);
      }
    }
  }
  double total = 0.0;
  for (double s : sse) total += s;
  return total;
}

// ---- the latent grids at the pixel centres -------------------------------------------

GridUpsampler::GridUpsampler(const Architecture& arch, uint32_t width, uint32_t height)
    : width_(width), height_(height), channels_(arch.grid_channels) {
  // SPEC.md §6.4 at the pixel centres of SPEC.md §7: pixel i of `out` lies at
  // u = (i + 1/2) * size / out - 1/2 samples, clamped to [0, size - 1].
  const auto axis = [](uint32_t out, uint32_t size) {
    Axis a;
    a.i0.resize(out);
    a.i1.resize(out);
    a.t.resize(out);
    for (uint32_t i = 0; i < out; ++i) {
      const double x = (2.0 * i + 1.0) / out - 1.0;
      double u = (x + 1.0) * 0.5 * size - 0.5;
      if (!(u > 0.0)) u = 0.0;
      if (u > size - 1.0) u = size - 1.0;
      a.i0[i] = static_cast<uint32_t>(u);
      a.i1[i] = std::min(a.i0[i] + 1, size - 1);
      a.t[i] = static_cast<float>(u - a.i0[i]);
    }
    a.start.assign(size + 1, 0);
    for (uint32_t i = 0; i < out; ++i) {
      ++a.start[a.i0[i] + 1];
      ++a.start[a.i1[i] + 1];
    }
    for (uint32_t q = 0; q < size; ++q) a.start[q + 1] += a.start[q];
    a.src.resize(a.start[size]);
    a.w.resize(a.start[size]);
    std::vector<uint32_t> fill(a.start.begin(), a.start.end() - 1);
    for (uint32_t i = 0; i < out; ++i) {
      a.src[fill[a.i0[i]]] = i;
      a.w[fill[a.i0[i]]++] = 1.0f - a.t[i];
      a.src[fill[a.i1[i]]] = i;
      a.w[fill[a.i1[i]]++] = a.t[i];
    }
    return a;
  };
  for (const GridLevel& g : arch.grid_levels) {
    levels_.push_back(Level{g.width, g.height, axis(width, g.width), axis(height, g.height)});
  }
}

void GridUpsampler::forward(const std::vector<const float*>& latents, float* features,
                            int threads) const {
  const size_t n = points();
  threads = std::max(1, std::min<int>(threads, static_cast<int>(height_)));
  run_threads(threads, [&](int t) {
    const uint32_t j0 = height_ * t / threads, j1 = height_ * (t + 1) / threads;
    std::vector<float> line;
    for (size_t k = 0; k < levels_.size(); ++k) {
      const Level& lv = levels_[k];
      line.resize(lv.width);
      const bool identity = lv.width == width_ && lv.height == height_;
      for (uint32_t c = 0; c < channels_; ++c) {
        const float* plane = latents[k] + size_t{c} * lv.width * lv.height;
        float* f = features + (k * channels_ + c) * n;
        if (identity) {  // a level at the image's size: its samples are the pixel centres
          std::copy(plane + size_t{j0} * width_, plane + size_t{j1} * width_,
                    f + size_t{j0} * width_);
          continue;
        }
        for (uint32_t j = j0; j < j1; ++j) {
          // Along y, then along x (SPEC.md §6.4's order).
          const float ty = lv.y.t[j];
          const float* r0 = plane + size_t{lv.y.i0[j]} * lv.width;
          const float* r1 = plane + size_t{lv.y.i1[j]} * lv.width;
          for (uint32_t i = 0; i < lv.width; ++i) line[i] = (1.0f - ty) * r0[i] + ty * r1[i];
          float* dst = f + size_t{j} * width_;
          for (uint32_t i = 0; i < width_; ++i) {
            const float tx = lv.x.t[i];
            dst[i] = (1.0f - tx) * line[lv.x.i0[i]] + tx * line[lv.x.i1[i]];
          }
        }
      }
    }
  });
}

void GridUpsampler::backward(const float* dfeatures, const std::vector<float*>& dlatents,
                             int threads) const {
  const size_t n = points();
  // Each thread owns whole latent rows: the output rows it reads are those whose taps
  // fall on its latent rows (a gather), so no two threads add into the same sample.
  run_threads(std::max(1, threads), [&](int t) {
    std::vector<float> line;
    for (size_t k = 0; k < levels_.size(); ++k) {
      const Level& lv = levels_[k];
      const int tt = std::min<int>(threads, static_cast<int>(lv.height));
      if (t >= tt) continue;
      const uint32_t r0 = lv.height * t / tt, r1 = lv.height * (t + 1) / tt;
      line.resize(lv.width);
      const bool identity = lv.width == width_ && lv.height == height_;
      for (uint32_t c = 0; c < channels_; ++c) {
        float* plane = dlatents[k] + size_t{c} * lv.width * lv.height;
        const float* g = dfeatures + (k * channels_ + c) * n;
        if (identity) {
          std::copy(g + size_t{r0} * width_, g + size_t{r1} * width_, plane + size_t{r0} * width_);
          continue;
        }
        std::fill(plane + size_t{r0} * lv.width, plane + size_t{r1} * lv.width, 0.0f);
        // Output rows whose y taps touch [r0, r1): a contiguous range, since the taps
        // increase with j.
        uint32_t j = 0;
        while (j < height_ && lv.y.i1[j] < r0) ++j;
        for (; j < height_ && lv.y.i0[j] < r1; ++j) {
          // The transpose of the x step: the row's gradient per latent column.
          const float* src = g + size_t{j} * width_;
          for (uint32_t q = 0; q < lv.width; ++q) {
            float sum = 0.0f;
            for (uint32_t e = lv.x.start[q]; e < lv.x.start[q + 1]; ++e) {
              sum += lv.x.w[e] * src[lv.x.src[e]];
            }
            line[q] = sum;
          }
          const float ty = lv.y.t[j];
          const uint32_t y0 = lv.y.i0[j], y1 = lv.y.i1[j];
          if (y0 >= r0 && y0 < r1) {
            float* d = plane + size_t{y0} * lv.width;
            for (uint32_t i = 0; i < lv.width; ++i) d[i] += (1.0f - ty) * line[i];
          }
          if (y1 >= r0 && y1 < r1) {
            float* d = plane + size_t{y1} * lv.width;
            for (uint32_t i = 0; i < lv.width; ++i) d[i] += ty * line[i];
          }
        }
      }
    }
  });
}

}  // namespace nifc
