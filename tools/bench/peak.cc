#include "tools/bench/peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <thread>
#include <vector>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__) && defined(__GNUC__)
#define NIFC_BENCH_X86 1
#include <immintrin.h>
#endif

namespace nifc {
namespace {

// Independent accumulator chains, enough to cover FMA latency x pipes on
// current cores (4 cycles x 2 pipes); the loop touches no memory.  The seeds
// come from a volatile so nothing is folded; a*m + c with m < 1 stays finite.
// Independent accumulator chains, enough to cover FMA latency x pipes on
// current cores (4 cycles x 2 pipes); the loop touches no memory.  The seeds
// come from a volatile so nothing is folded; a*m + c with m < 1 stays finite.
volatile float g_seed = 1.0f;

using Clock = std::chrono::steady_clock;

#if NIFC_BENCH_X86
__attribute__((target("avx512f,avx2,fma"))) double fma_loop_avx512(uint64_t iters) {
  constexpr int kChains = 24;
  __m512 a[kChains];
  for (int j = 0; j < kChains; ++j) a[j] = _mm512_set1_ps(g_seed + j);
  const __m512 m = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
  for (uint64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 32
    for (int j = 0; j < kChains; ++j) a[j] = _mm512_fmadd_ps(a[j], m, c);
  }
  __m512 s = a[0];
  for (int j = 1; j < kChains; ++j) s = _mm512_add_ps(s, a[j]);
  float out[16];
  _mm512_storeu_ps(out, s);
  g_seed = out[0] * 0.0f + 1.0f;
  return 2.0 * 16 * kChains * static_cast<double>(iters);
}

__attribute__((target("avx2,fma"))) double fma_loop_avx2(uint64_t iters) {
  constexpr int kChains = 12;
  __m256 a[kChains];
  for (int j = 0; j < kChains; ++j) a[j] = _mm256_set1_ps(g_seed + j);
  const __m256 m = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
  for (uint64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < kChains; ++j) a[j] = _mm256_fmadd_ps(a[j], m, c);
  }
  __m256 s = a[0];
  for (int j = 1; j < kChains; ++j) s = _mm256_add_ps(s, a[j]);
  float out[8];
  _mm256_storeu_ps(out, s);
  g_seed = out[0] * 0.0f + 1.0f;
  return 2.0 * 8 * kChains * static_cast<double>(iters);
}

// No FMA: a multiply and an add per lane, counted as two flops.
double fma_loop_sse2(uint64_t iters) {
  constexpr int kChains = 12;
  __m128 a[kChains];
  for (int j = 0; j < kChains; ++j) a[j] = _mm_set1_ps(g_seed + j);
  const __m128 m = _mm_set1_ps(0.9999999f), c = _mm_set1_ps(1e-7f);
  for (uint64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < kChains; ++j) a[j] = _mm_add_ps(_mm_mul_ps(a[j], m), c);
  }
  __m128 s = a[0];
  for (int j = 1; j < kChains; ++j) s = _mm_add_ps(s, a[j]);
  float out[4];
  _mm_storeu_ps(out, s);
  g_seed = out[0] * 0.0f + 1.0f;
  return 2.0 * 4 * kChains * static_cast<double>(iters);
}
#endif

double fma_loop_scalar(uint64_t iters) {
  constexpr int kChains = 8;
  float a[kChains];
  for (int j = 0; j < kChains; ++j) a[j] = g_seed + j;
  for (uint64_t i = 0; i < iters; ++i) {
    for (int j = 0; j < kChains; ++j) a[j] = a[j] * 0.9999999f + 1e-7f;
  }
  float s = 0;
  for (int j = 0; j < kChains; ++j) s += a[j];
  g_seed = s * 0.0f + 1.0f;
  return 2.0 * kChains * static_cast<double>(iters);
}

double fma_loop(internal::Isa isa, uint64_t iters) {
  switch (isa) {
#if NIFC_BENCH_X86
    case internal::Isa::kAvx512:
      return fma_loop_avx512(iters);
    case internal::Isa::kAvx2Fma:
      return fma_loop_avx2(iters);
    case internal::Isa::kSse2:
      return fma_loop_sse2(iters);
#endif
    default:
      return fma_loop_scalar(iters);
  }
}

}  // namespace

double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

Peak measure_peak(internal::Isa isa, int threads, int runs) {
  // Calibrate on one thread to about 0.2 s per run.
  uint64_t iters = 1 << 16;
  for (;;) {
    const auto t0 = Clock::now();
    fma_loop(isa, iters);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s > 0.05 || iters > (uint64_t{1} << 40)) {
      iters = static_cast<uint64_t>(iters * std::max(1.0, 0.2 / std::max(s, 1e-6)));
      break;
    }
    iters *= 4;
  }
  Peak best;
  for (int r = 0; r < runs; ++r) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<double> flops(threads, 0.0);
    std::vector<std::thread> pool;
    auto body = [&](int t) {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      flops[t] = fma_loop(isa, iters);
    };
    for (int t = 1; t < threads; ++t) pool.emplace_back(body, t);
    while (ready.load() < threads - 1) std::this_thread::yield();
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    go.store(true);
    body(0);
    for (std::thread& th : pool) th.join();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = cpu_seconds() - c0;
    double total = 0;
    for (double f : flops) total += f;
    best.gflops = std::max(best.gflops, total / s * 1e-9);
    best.gflops_per_cpu = std::max(best.gflops_per_cpu, total / cpu * 1e-9);
  }
  return best;
}

}  // namespace nifc
