#include "codec/encoder/grid_step.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
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

// Runs body(t) for t in [0, threads) on fresh threads (the caller's included); if the
// system refuses a thread, the caller runs its share.
template <typename Body>
void spawn_threads(int threads, const Body& body) {
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

// The workers of the fused step's parallel passes, kept for the process's life: a step
// runs six passes, and spawning and joining threads for each cost 0.1-0.6 ms a pass here
// (README "Fitting speed").  A worker waits for the next pass yielding its core for a
// short while (the passes of one step follow each other within microseconds), then
// sleeps on a condition variable, so an idle or loaded encoder does not spin.
class WorkerPool {
 public:
  static WorkerPool& instance() {
    static WorkerPool pool;
    return pool;
  }
  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      generation_.fetch_add(1);
    }
    wake_.notify_all();
    for (std::thread& w : workers_) w.join();
  }
  // Runs body(t) for t in [0, threads), the caller taking t = 0.  False, having run
  // nothing, when another caller holds the pool or it cannot grow to `threads`.
  bool run(int threads, const std::function<void(int)>& body) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    try {
      while (static_cast<int>(workers_.size()) < threads - 1) {
        const int t = static_cast<int>(workers_.size()) + 1;
        workers_.emplace_back([this, t]() { work(t); });
      }
    } catch (const std::system_error&) {
      if (static_cast<int>(workers_.size()) < threads - 1) return false;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      body_ = &body;
      threads_ = threads;
      pending_.store(threads - 1);
      generation_.fetch_add(1);
    }
    wake_.notify_all();
    body(0);
    for (int spin = 0; pending_.load() != 0; ++spin) {
      if (spin < kSpins) {
        std::this_thread::yield();
      } else {
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, [this] { return pending_.load() == 0; });
      }
    }
    body_ = nullptr;
    return true;
  }

 private:
  static constexpr int kSpins = 200;  // yields before sleeping: a few hundred microseconds

  void work(int t) {
    uint64_t seen = 0;
    for (;;) {
      for (int spin = 0; generation_.load() == seen; ++spin) {
        if (spin < kSpins) {
          std::this_thread::yield();
        } else {
          std::unique_lock<std::mutex> lock(mutex_);
          wake_.wait(lock, [&] { return generation_.load() != seen; });
        }
      }
      int threads;
      const std::function<void(int)>* body;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stop_) return;
        seen = generation_.load();
        threads = threads_;
        body = body_;
      }
      if (t >= threads) continue;
      (*body)(t);
      if (pending_.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  std::mutex busy_;   // held by the caller of run()
  std::mutex mutex_;  // guards body_, threads_, stop_ and the condition variables
  std::condition_variable wake_, done_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  const std::function<void(int)>* body_ = nullptr;
  int threads_ = 0;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

// Runs body(t) for t in [0, threads) in parallel (the bodies must not throw): on the
// worker pool, or on fresh threads when another fit in this process holds it.
template <typename Body>
void run_threads(int threads, const Body& body) {
  if (threads <= 1) return body(0);
  const std::function<void(int)> f = [&body](int t) { body(t); };
  if (!WorkerPool::instance().run(threads, f)) spawn_threads(threads, body);
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

struct PointErrors::Impl {
  std::vector<std::vector<float>> w, b;
  std::vector<float> sd, mean;
  MlpView view;
  std::vector<float> act_storage;  // act_vectors vectors, 32-byte aligned within it
  baseline::V8* act = nullptr;
};

PointErrors::PointErrors(const Architecture& arch, uint32_t channels,
                         const std::vector<std::vector<float>>& w,
                         const std::vector<std::vector<float>>& b, const std::vector<float>& stddev,
                         const std::vector<float>& mean)
    : impl_(new Impl{w, b, stddev, mean, {}, {}}) {
  std::vector<const float*> wp, bp;
  for (const auto& t : impl_->w) wp.push_back(t.data());
  for (const auto& t : impl_->b) bp.push_back(t.data());
  impl_->view = mlp_view(arch, channels, wp, bp);
  impl_->act_storage.resize((impl_->view.act_vectors + 1) * baseline::kLanes);
  const uintptr_t p = reinterpret_cast<uintptr_t>(impl_->act_storage.data());
  impl_->act = reinterpret_cast<baseline::V8*>((p + 31) & ~uintptr_t{31});
}

PointErrors::~PointErrors() = default;

void PointErrors::eval(const float* features, const float* target, size_t n, float* err) {
  Impl& d = *impl_;
  n = std::min(n, kBatch);
#if NIFC_GRID_STEP_X86
  if (use_avx2()) {
    return avx2::point_errors(d.view, features, target, n, d.sd.data(), d.mean.data(),
                              reinterpret_cast<avx2::V8*>(d.act), err);
  }
#endif
  baseline::point_errors(d.view, features, target, n, d.sd.data(), d.mean.data(), d.act, err);
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

// ---- the step: the latents at the pixel centres, the MLP, and back ------------------

GridStep::GridStep(const Architecture& arch, uint32_t channels, uint32_t width, uint32_t height,
                   uint32_t chunk_points)
    : arch_(arch),
      channels_(channels),
      width_(width),
      height_(height),
      grid_channels_(arch.grid_channels) {
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
    Level lv{g.width,
             g.height,
             axis(width, g.width),
             axis(height, g.height),
             g.width == width && g.height == height,
             kNoOffset};
    if (!lv.identity) {
      lv.private_offset = private_floats_;
      private_floats_ += size_t{g.width} * g.height * grid_channels_;
    }
    levels_.push_back(std::move(lv));
  }
  chunk_rows_ = std::max<uint32_t>(1, chunk_points / std::max<uint32_t>(1, width));
  chunk_rows_ = std::min(chunk_rows_, std::max<uint32_t>(1, height));
}

GridStep::~GridStep() = default;

void GridStep::up_rows(const Level& lv, const float* plane, uint32_t ra, uint32_t rb, float* dst,
                       float* line) const {
  if (lv.identity) {  // a level at the image's size: its samples are the pixel centres
    std::copy(plane + size_t{ra} * width_, plane + size_t{rb} * width_, dst);
    return;
  }
  for (uint32_t j = ra; j < rb; ++j, dst += width_) {
    // Along y, then along x (SPEC.md §6.4's order).
    const float ty = lv.y.t[j];
    const float* r0 = plane + size_t{lv.y.i0[j]} * lv.width;
    const float* r1 = plane + size_t{lv.y.i1[j]} * lv.width;
    for (uint32_t i = 0; i < lv.width; ++i) line[i] = (1.0f - ty) * r0[i] + ty * r1[i];
    for (uint32_t i = 0; i < width_; ++i) {
      const float tx = lv.x.t[i];
      dst[i] = (1.0f - tx) * line[lv.x.i0[i]] + tx * line[lv.x.i1[i]];
    }
  }
}

void GridStep::down_rows(const Level& lv, const float* g, uint32_t ra, uint32_t rb, float* plane,
                         float* line) const {
  if (lv.identity) {
    std::copy(g, g + size_t{rb - ra} * width_, plane + size_t{ra} * width_);
    return;
  }
  for (uint32_t j = ra; j < rb; ++j, g += width_) {
    // The transpose of the x step: the row's gradient per latent column, gathered (the
    // sums carry no store-to-load chain)...
    for (uint32_t q = 0; q < lv.width; ++q) {
      float sum = 0.0f;
      for (uint32_t e = lv.x.start[q]; e < lv.x.start[q + 1]; ++e)
        sum += lv.x.w[e] * g[lv.x.src[e]];
      line[q] = sum;
    }
    // ...then of the y step: into the two latent rows.
    const float ty = lv.y.t[j];
    float* d0 = plane + size_t{lv.y.i0[j]} * lv.width;
    float* d1 = plane + size_t{lv.y.i1[j]} * lv.width;
    for (uint32_t i = 0; i < lv.width; ++i) d0[i] += (1.0f - ty) * line[i];
    for (uint32_t i = 0; i < lv.width; ++i) d1[i] += ty * line[i];
  }
}

void GridStep::features_at(const std::vector<const float*>& latents, float* out) const {
  std::vector<float> line(width_ + 1);
  for (size_t k = 0; k < levels_.size(); ++k) {
    const Level& lv = levels_[k];
    line.resize(std::max<size_t>(line.size(), lv.width));
    for (uint32_t c = 0; c < grid_channels_; ++c) {
      up_rows(lv, latents[k] + size_t{c} * lv.width * lv.height, 0, height_,
              out + (k * grid_channels_ + c) * points(), line.data());
    }
  }
}

double GridStep::step(const std::vector<const float*>& latents, const std::vector<const float*>& w,
                      const std::vector<const float*>& b, const float* target, double grad_scale,
                      const std::vector<float*>& dlatents, const std::vector<float*>& dw,
                      const std::vector<float*>& db, int threads) {
  double total = 0.0;
  for (double s : pass(latents, w, b, target, grad_scale, &dlatents, &dw, &db, threads)) {
    total += s;
  }
  return total;
}

std::vector<double> GridStep::channel_sse(const std::vector<const float*>& latents,
                                          const std::vector<const float*>& w,
                                          const std::vector<const float*>& b, const float* target,
                                          int threads) {
  return pass(latents, w, b, target, 0.0, nullptr, nullptr, nullptr, threads);
}

std::vector<double> GridStep::pass(const std::vector<const float*>& latents,
                                   const std::vector<const float*>& w,
                                   const std::vector<const float*>& b, const float* target,
                                   double grad_scale, const std::vector<float*>* dlatents,
                                   const std::vector<float*>* dw, const std::vector<float*>* db,
                                   int threads) {
  using baseline::V8;
  const bool backward = dlatents != nullptr;
  const MlpView m = mlp_view(arch_, channels_, w, b);
  const uint32_t chunks = (height_ + chunk_rows_ - 1) / chunk_rows_;
  threads = std::max(1, std::min<int>(threads, static_cast<int>(chunks)));
  const size_t n = points();
  const size_t chunk_n = size_t{chunk_rows_} * width_;
  const size_t features = size_t{this->features()};
  size_t max_level_width = 1;
  for (const Level& lv : levels_) max_level_width = std::max<size_t>(max_level_width, lv.width);
  // Per thread: the MLP's weight-gradient accumulators (lane sums) and working vectors,
  // a chunk's features and their gradient, a line, and (threads after the first) its own
  // gradient of the levels that are not at the image's size.
  size_t acc_vectors = 0;
  std::vector<size_t> w_off, b_off;
  for (int l = 0; l < m.layers; ++l) {
    w_off.push_back(acc_vectors);
    acc_vectors += size_t{m.in[l]} * m.out[l];
    b_off.push_back(acc_vectors);
    acc_vectors += m.out[l];
  }
  const size_t vectors = acc_vectors + m.act_vectors + 2 * m.max_width * baseline::kV;
  const auto round = [](size_t floats) { return (floats + 15) / 16 * 16; };
  const size_t floats = round(vectors * baseline::kLanes) + round(2 * features * chunk_n) +
                        round(max_level_width) + round(private_floats_);
  if (buffer_floats_ < floats * static_cast<size_t>(threads)) {
    buffer_.reset(static_cast<float*>(std::aligned_alloc(
        64, (floats * static_cast<size_t>(threads) * sizeof(float) + 63) / 64 * 64)));
    if (!buffer_) {
      buffer_floats_ = 0;
      throw std::bad_alloc();
    }
    buffer_floats_ = floats * static_cast<size_t>(threads);
  }
  // Thread t's own gradient of the coarse levels.
  const auto own_of = [&](int t) {
    return buffer_.get() + floats * static_cast<size_t>(t) + round(vectors * baseline::kLanes) +
           round(2 * features * chunk_n) + round(max_level_width);
  };
  std::vector<double> sse(static_cast<size_t>(threads) * channels_, 0.0);
  const float scale2 = static_cast<float>(2.0 * grad_scale);
  if (backward) {  // the first thread adds into dlatents directly
    for (size_t k = 0; k < levels_.size(); ++k) {
      if (!levels_[k].identity) {
        std::fill_n((*dlatents)[k], size_t{levels_[k].width} * levels_[k].height * grid_channels_,
                    0.0f);
      }
    }
  }
  run_threads(threads, [&](int t) {
    float* base = buffer_.get() + floats * static_cast<size_t>(t);
    V8* acc = reinterpret_cast<V8*>(base);
    std::memset(static_cast<void*>(acc), 0, acc_vectors * sizeof(V8));
    std::vector<V8*> dwv, dbv;
    for (int l = 0; l < m.layers; ++l) {
      dwv.push_back(acc + w_off[static_cast<size_t>(l)]);
      dbv.push_back(acc + b_off[static_cast<size_t>(l)]);
    }
    V8* act = acc + acc_vectors;
    V8* grad = act + m.act_vectors;
    float* feat = base + round(vectors * baseline::kLanes);
    float* dfeat = feat + features * chunk_n;
    float* line = feat + round(2 * features * chunk_n);
    float* own = own_of(t);
    if (backward && t > 0) std::fill_n(own, private_floats_, 0.0f);
    double* s = sse.data() + size_t{channels_} * static_cast<size_t>(t);
    const uint32_t c0 = chunks * static_cast<uint32_t>(t) / static_cast<uint32_t>(threads);
    const uint32_t c1 = chunks * (static_cast<uint32_t>(t) + 1) / static_cast<uint32_t>(threads);
    for (uint32_t chunk = c0; chunk < c1; ++chunk) {
      const uint32_t ra = chunk * chunk_rows_, rb = std::min(height_, ra + chunk_rows_);
      const size_t cn = size_t{rb - ra} * width_;
      for (size_t k = 0; k < levels_.size(); ++k) {
        const Level& lv = levels_[k];
        for (uint32_t c = 0; c < grid_channels_; ++c) {
          up_rows(lv, latents[k] + size_t{c} * lv.width * lv.height, ra, rb,
                  feat + (k * grid_channels_ + c) * cn, line);
        }
      }
      const float* tgt = target + size_t{ra} * width_;
#if NIFC_GRID_STEP_X86
      if (use_avx2()) {
        avx2::mlp_range(m, feat, cn, tgt, n, cn, scale2, backward ? dfeat : nullptr, act, grad,
                        dwv.data(), dbv.data(), s);
      } else
#endif
      {
        baseline::mlp_range(m, feat, cn, tgt, n, cn, scale2, backward ? dfeat : nullptr, act, grad,
                            dwv.data(), dbv.data(), s);
      }
      if (!backward) continue;
      for (size_t k = 0; k < levels_.size(); ++k) {
        const Level& lv = levels_[k];
        for (uint32_t c = 0; c < grid_channels_; ++c) {
          const size_t plane = size_t{c} * lv.width * lv.height;
          float* dst =
              lv.identity || t == 0 ? (*dlatents)[k] + plane : own + lv.private_offset + plane;
          down_rows(lv, dfeat + (k * grid_channels_ + c) * cn, ra, rb, dst, line);
        }
      }
    }
  });
  if (backward) {
    // The other threads' shares of the coarse levels, added in thread order.
    if (threads > 1 && private_floats_ > 0) {
      std::vector<size_t> sizes;
      std::vector<size_t> level_of;
      for (size_t k = 0; k < levels_.size(); ++k) {
        if (levels_[k].identity) continue;
        sizes.push_back(size_t{levels_[k].width} * levels_[k].height * grid_channels_);
        level_of.push_back(k);
      }
      for_shares(sizes, threads, [&](size_t i, size_t lo, size_t hi) {
        const size_t k = level_of[i];
        float* d = (*dlatents)[k];
        for (int t = 1; t < threads; ++t) {
          const float* own = own_of(t) + levels_[k].private_offset;
          for (size_t e = lo; e < hi; ++e) d[e] += own[e];
        }
      });
    }
    // The MLP's gradients: the threads' lane sums, in a fixed order.
    for (int l = 0; l < m.layers; ++l) {
      const size_t nw = size_t{m.in[l]} * m.out[l];
      for (size_t i = 0; i < nw + m.out[l]; ++i) {
        double sum = 0.0;
        for (int t = 0; t < threads; ++t) {
          const V8 v = reinterpret_cast<const V8*>(
              buffer_.get() + floats * static_cast<size_t>(t))[w_off[static_cast<size_t>(l)] + i];
          for (int lane = 0; lane < baseline::kLanes; ++lane) sum += v[lane];
        }
        if (i < nw) {
          (*dw)[static_cast<size_t>(l)][i] = static_cast<float>(sum);
        } else {
          (*db)[static_cast<size_t>(l)][i - nw] = static_cast<float>(sum);
        }
      }
    }
  }
  std::vector<double> total(channels_, 0.0);
  for (size_t i = 0; i < sse.size(); ++i) total[i % channels_] += sse[i];
  return total;
}

}  // namespace nifc
