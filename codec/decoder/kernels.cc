// The decoder's SIMD kernels (codec/decoder/kernels.h), one copy per instruction set,
// and the run-time choice between them.
#include "codec/decoder/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

// ----------------------------------------------------------------------------
// SIMD kernels, one copy per instruction set (codec/decoder/kernels.h).
//
// Each copy is compiled with a target attribute rather than a per-file -m
// flag, so no AVX code can leak into the baseline through inline functions
// shared between translation units, and the build needs no -march.  The
// ISA-specific part is a handful of vector operations; the kernels themselves
// are in decoder_kernels.inc, included once per ISA.  They use explicit fused
// or unfused operations, so they do not depend on -ffp-contract.  Defining
// NIFC_NO_SIMD builds only the portable kernels (to test them on x86).
#if (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__) && defined(__GNUC__) && \
    !defined(NIFC_NO_SIMD)
#define NIFC_KERNELS_X86 1
#include <immintrin.h>
#endif

namespace nifc {
namespace internal {
namespace {

#if NIFC_KERNELS_X86

// ---------------------------------------------------------------- SSE2 ----
namespace sse2 {
#define NIFC_KERNEL
#define NIFC_KERNEL_INLINE static inline __attribute__((always_inline))
using V = __m128;
constexpr int kL = 4;
constexpr int kR = 4;
constexpr int kC = 2;
NIFC_KERNEL_INLINE V vload(const float* p) { return _mm_loadu_ps(p); }
NIFC_KERNEL_INLINE void vstore(float* p, V v) { _mm_storeu_ps(p, v); }
NIFC_KERNEL_INLINE V vset1(float s) { return _mm_set1_ps(s); }
NIFC_KERNEL_INLINE V vbcast(const float* p) { return _mm_set1_ps(*p); }
// No FMA before AVX2-era CPUs: multiply, round, add, round.
NIFC_KERNEL_INLINE V vfmadd(V a, V b, V c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
NIFC_KERNEL_INLINE V vmul(V a, V b) { return _mm_mul_ps(a, b); }
NIFC_KERNEL_INLINE V vadd(V a, V b) { return _mm_add_ps(a, b); }
NIFC_KERNEL_INLINE V vsub(V a, V b) { return _mm_sub_ps(a, b); }
NIFC_KERNEL_INLINE V vmax_or_second(V a, V b) { return _mm_max_ps(a, b); }
NIFC_KERNEL_INLINE V vmin_or_second(V a, V b) { return _mm_min_ps(a, b); }
NIFC_KERNEL_INLINE V vparity_sign(V t) {
  return _mm_castsi128_ps(_mm_slli_epi32(_mm_castps_si128(t), 31));
}
NIFC_KERNEL_INLINE V vxor(V a, V b) { return _mm_xor_ps(a, b); }
#include "codec/decoder/kernels.inc"
#undef NIFC_KERNEL
#undef NIFC_KERNEL_INLINE
}  // namespace sse2

// ------------------------------------------------------------ AVX2+FMA ----
// 16 ymm registers: 4 x 3 accumulators + 3 activation vectors + 1 weight.
namespace avx2 {
#define NIFC_KERNEL __attribute__((target("avx2,fma")))
#define NIFC_KERNEL_INLINE static inline __attribute__((always_inline, target("avx2,fma")))
using V = __m256;
constexpr int kL = 8;
constexpr int kR = 4;
constexpr int kC = 3;
NIFC_KERNEL_INLINE V vload(const float* p) { return _mm256_loadu_ps(p); }
NIFC_KERNEL_INLINE void vstore(float* p, V v) { _mm256_storeu_ps(p, v); }
NIFC_KERNEL_INLINE V vset1(float s) { return _mm256_set1_ps(s); }
NIFC_KERNEL_INLINE V vbcast(const float* p) { return _mm256_broadcast_ss(p); }
NIFC_KERNEL_INLINE V vfmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
NIFC_KERNEL_INLINE V vmul(V a, V b) { return _mm256_mul_ps(a, b); }
NIFC_KERNEL_INLINE V vadd(V a, V b) { return _mm256_add_ps(a, b); }
NIFC_KERNEL_INLINE V vsub(V a, V b) { return _mm256_sub_ps(a, b); }
NIFC_KERNEL_INLINE V vmax_or_second(V a, V b) { return _mm256_max_ps(a, b); }
NIFC_KERNEL_INLINE V vmin_or_second(V a, V b) { return _mm256_min_ps(a, b); }
NIFC_KERNEL_INLINE V vparity_sign(V t) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(t), 31));
}
NIFC_KERNEL_INLINE V vxor(V a, V b) { return _mm256_xor_ps(a, b); }
#include "codec/decoder/kernels.inc"
#undef NIFC_KERNEL
#undef NIFC_KERNEL_INLINE
}  // namespace avx2

// ------------------------------------------------------------- AVX-512 ----
// 32 zmm registers: 8 x 3 accumulators + 3 activation vectors + 1 weight.
namespace avx512 {
#define NIFC_KERNEL __attribute__((target("avx512f,avx2,fma")))
#define NIFC_KERNEL_INLINE static inline __attribute__((always_inline, target("avx512f,avx2,fma")))
using V = __m512;
constexpr int kL = 16;
constexpr int kR = 8;
constexpr int kC = 3;
NIFC_KERNEL_INLINE V vload(const float* p) { return _mm512_loadu_ps(p); }
NIFC_KERNEL_INLINE void vstore(float* p, V v) { _mm512_storeu_ps(p, v); }
NIFC_KERNEL_INLINE V vset1(float s) { return _mm512_set1_ps(s); }
NIFC_KERNEL_INLINE V vbcast(const float* p) { return _mm512_set1_ps(*p); }
NIFC_KERNEL_INLINE V vfmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
NIFC_KERNEL_INLINE V vmul(V a, V b) { return _mm512_mul_ps(a, b); }
NIFC_KERNEL_INLINE V vadd(V a, V b) { return _mm512_add_ps(a, b); }
NIFC_KERNEL_INLINE V vsub(V a, V b) { return _mm512_sub_ps(a, b); }
// The maskz forms with a full mask are the plain instructions; GCC 12 warns
// about the unmasked forms' _mm512_undefined_ps() (-Wuninitialized).
NIFC_KERNEL_INLINE V vmax_or_second(V a, V b) { return _mm512_maskz_max_ps(0xffff, a, b); }
NIFC_KERNEL_INLINE V vmin_or_second(V a, V b) { return _mm512_maskz_min_ps(0xffff, a, b); }
NIFC_KERNEL_INLINE V vparity_sign(V t) {
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xffff, _mm512_castps_si512(t), 31));
}
// _mm512_xor_ps needs AVX512DQ; the integer form is AVX512F.
NIFC_KERNEL_INLINE V vxor(V a, V b) {
  return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
}
#include "codec/decoder/kernels.inc"
#undef NIFC_KERNEL
#undef NIFC_KERNEL_INLINE
}  // namespace avx512

#else  // !NIFC_KERNELS_X86

// ------------------------------------------------------------- generic ----
// Portable C++ for other architectures: 4-float structs the compiler may
// vectorize; the arithmetic per lane is the same as SSE2's.
namespace generic {
#define NIFC_KERNEL
#define NIFC_KERNEL_INLINE static inline
struct V {
  float v[4];
};
constexpr int kL = 4;
constexpr int kR = 4;
constexpr int kC = 2;
NIFC_KERNEL_INLINE V vload(const float* p) {
  V r;
  std::memcpy(r.v, p, sizeof r.v);
  return r;
}
NIFC_KERNEL_INLINE void vstore(float* p, V v) { std::memcpy(p, v.v, sizeof v.v); }
NIFC_KERNEL_INLINE V vset1(float s) { return V{{s, s, s, s}}; }
NIFC_KERNEL_INLINE V vbcast(const float* p) { return vset1(*p); }
#define NIFC_LANEWISE(expr)                  \
  V r;                                       \
  for (int i = 0; i < 4; ++i) r.v[i] = expr; \
  return r
NIFC_KERNEL_INLINE V vmul(V a, V b) { NIFC_LANEWISE(a.v[i] * b.v[i]); }
NIFC_KERNEL_INLINE V vadd(V a, V b) { NIFC_LANEWISE(a.v[i] + b.v[i]); }
NIFC_KERNEL_INLINE V vsub(V a, V b) { NIFC_LANEWISE(a.v[i] - b.v[i]); }
NIFC_KERNEL_INLINE V vfmadd(V a, V b, V c) { return vadd(vmul(a, b), c); }
NIFC_KERNEL_INLINE V vmax_or_second(V a, V b) { NIFC_LANEWISE(a.v[i] > b.v[i] ? a.v[i] : b.v[i]); }
NIFC_KERNEL_INLINE V vmin_or_second(V a, V b) { NIFC_LANEWISE(a.v[i] < b.v[i] ? a.v[i] : b.v[i]); }
NIFC_KERNEL_INLINE float bits_op(float a, uint32_t (*op)(uint32_t, uint32_t), float b) {
  uint32_t ua, ub;
  std::memcpy(&ua, &a, 4);
  std::memcpy(&ub, &b, 4);
  ua = op(ua, ub);
  std::memcpy(&a, &ua, 4);
  return a;
}
NIFC_KERNEL_INLINE uint32_t shl31(uint32_t a, uint32_t) { return a << 31; }
NIFC_KERNEL_INLINE uint32_t xor_u32(uint32_t a, uint32_t b) { return a ^ b; }
NIFC_KERNEL_INLINE V vparity_sign(V t) { NIFC_LANEWISE(bits_op(t.v[i], shl31, 0.0f)); }
NIFC_KERNEL_INLINE V vxor(V a, V b) { NIFC_LANEWISE(bits_op(a.v[i], xor_u32, b.v[i])); }
#undef NIFC_LANEWISE
#include "codec/decoder/kernels.inc"
#undef NIFC_KERNEL
#undef NIFC_KERNEL_INLINE
}  // namespace generic

#endif  // NIFC_KERNELS_X86

bool cpu_supports(Isa isa) {
#if NIFC_KERNELS_X86
  __builtin_cpu_init();
  switch (isa) {
    case Isa::kGeneric:
      return false;
    case Isa::kSse2:
      return true;
    case Isa::kAvx2Fma:
      // libgcc also checks that the OS saves the ymm state (XCR0).
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
             __builtin_cpu_supports("fma");
  }
  return false;
#else
  return isa == Isa::kGeneric;
#endif
}

Isa detect_best_isa() {
  Isa cap = Isa::kAvx512;
  if (const char* env = std::getenv("NIFC_ISA")) {
    const std::string s = env;
    if (s == "generic" || s == "sse2") cap = Isa::kSse2;
    if (s == "avx2") cap = Isa::kAvx2Fma;
  }
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2Fma, Isa::kSse2, Isa::kGeneric}) {
    if (static_cast<int>(isa) <= static_cast<int>(cap) && cpu_supports(isa)) return isa;
  }
  return Isa::kGeneric;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kGeneric:
      return "generic";
    case Isa::kSse2:
      return "sse2";
    case Isa::kAvx2Fma:
      return "avx2+fma";
    case Isa::kAvx512:
      return "avx512f";
  }
  return "unknown";
}

bool isa_supported(Isa isa) { return cpu_supports(isa); }

Isa best_isa() {
  static const Isa isa = detect_best_isa();
  return isa;
}

KernelInfo kernel_info(Isa isa) {
  KernelInfo k;
  k.isa = isa;
#define NIFC_INFO(ns)      \
  k.lanes = ns::kL;        \
  k.group_points = ns::kG; \
  k.tile_outputs = ns::kR
  switch (isa) {
#if NIFC_KERNELS_X86
    case Isa::kSse2:
      NIFC_INFO(sse2);
      break;
    case Isa::kAvx2Fma:
      NIFC_INFO(avx2);
      break;
    case Isa::kAvx512:
      NIFC_INFO(avx512);
      break;
    case Isa::kGeneric:
      break;
#else
    default:
      NIFC_INFO(generic);
      break;
#endif
  }
#undef NIFC_INFO
  return k;
}

PackedLayer pack_layer(Isa isa, const float* w, const float* b, uint32_t in, uint32_t out,
                       double scale, Act act, double input_bound) {
  const uint32_t tile = kernel_info(isa).tile_outputs;
  PackedLayer layer;
  layer.in = in;
  layer.out = out;
  layer.act = act;
  if (act == Act::kSine) {
    for (uint32_t o = 0; o < out && layer.act == Act::kSine; ++o) {
      double sum = 0;
      for (uint32_t k = 0; k < in; ++k) sum += std::fabs(w[static_cast<size_t>(o) * in + k]);
      const double bound = std::fabs(scale) * (std::fabs(b[o]) + input_bound * sum);
      if (!(bound < 2097152.0)) layer.act = Act::kSineClamped;
    }
  }
  layer.w.resize(static_cast<size_t>(in) * out);
  layer.bias.resize(out);
  for (uint32_t o0 = 0; o0 < out; o0 += tile) {
    const uint32_t n = std::min(tile, out - o0);
    float* dst = layer.w.data() + static_cast<size_t>(o0) * in;
    for (uint32_t k = 0; k < in; ++k) {
      for (uint32_t r = 0; r < n; ++r) {
        dst[static_cast<size_t>(k) * n + r] =
            static_cast<float>(scale * w[static_cast<size_t>(o0 + r) * in + k]);
      }
    }
  }
  for (uint32_t o = 0; o < out; ++o) layer.bias[o] = static_cast<float>(scale * b[o]);
  return layer;
}

void forward_group(Isa isa, const std::vector<PackedLayer>& layers, const float* features,
                   float* scratch, float* out) {
  switch (isa) {
#if NIFC_KERNELS_X86
    case Isa::kSse2:
      return sse2::forward_group_impl(layers, features, scratch, out);
    case Isa::kAvx2Fma:
      return avx2::forward_group_impl(layers, features, scratch, out);
    case Isa::kAvx512:
      return avx512::forward_group_impl(layers, features, scratch, out);
    case Isa::kGeneric:
      break;
#else
    default:
      return generic::forward_group_impl(layers, features, scratch, out);
#endif
  }
}

void sinpi_array(Isa isa, const float* q, float* out, size_t n) {
  switch (isa) {
#if NIFC_KERNELS_X86
    case Isa::kSse2:
      return sse2::sinpi_array_impl(q, out, n);
    case Isa::kAvx2Fma:
      return avx2::sinpi_array_impl(q, out, n);
    case Isa::kAvx512:
      return avx512::sinpi_array_impl(q, out, n);
    case Isa::kGeneric:
      break;
#else
    default:
      return generic::sinpi_array_impl(q, out, n);
#endif
  }
}

}  // namespace internal
}  // namespace nifc
