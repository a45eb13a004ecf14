// The torch-free decoder.  SPEC.md §6 defines the network, §7 the sampling.
//
// Evaluation runs on groups of points (codec/decoder_kernels.h): the encoding
// features of a group are laid out feature-major, then every layer is a
// blocked matrix product with the activation fused into its epilogue.  In
// decode_nif the encoding features come from tables: positional features of x
// depend only on the column and those of y only on the row, and a Fourier
// feature cos(a_x + a_y) is cos a_x cos a_y - sin a_x sin a_y in double from
// per-column and per-row sines and cosines.
#include "codec/decoder.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "codec/decoder_kernels.h"

// ----------------------------------------------------------------------------
// SIMD kernels, one copy per instruction set (codec/decoder_kernels.h).
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
#include "codec/decoder_kernels.inc"
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
#include "codec/decoder_kernels.inc"
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
#include "codec/decoder_kernels.inc"
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
#include "codec/decoder_kernels.inc"
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

}  // namespace internal

namespace {

using internal::Act;
using internal::Isa;
using internal::NetworkImpl;

constexpr double kPi = 3.14159265358979323846;
// Bound on the per-column encoding tables of one decode pass; wider outputs
// are decoded in column chunks.
constexpr size_t kTableBudgetBytes = size_t{32} << 20;
// Columns per task when threads fill the tables.
constexpr size_t kTableBlockColumns = 256;

size_t round_up(size_t v, size_t m) { return (v + m - 1) / m * m; }

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
GridTap grid_tap(float v, uint32_t n) {
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
double grid_value(const float* g, uint32_t w, uint32_t h, uint32_t c, const GridTap& tx,
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
void point_features(const NetworkImpl& net, float x, float y, float* f, size_t stride) {
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
      internal::forward_group(net_.isa, net_.layers, f, s.act.data(), s.out.data());
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
void run_on_threads(int threads, const Body& body) {
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

}  // namespace

float fast_sin(float x) { return sin_poly(x); }

namespace internal {

StatusOr<Network> create_network(const NifFile& file, Isa isa) {
  if (file.tiled()) {
    return invalid_argument("a tiled file has one network per tile (NifFile::tiles)");
  }
  if (!isa_supported(isa)) {
    return unsupported(std::string("this CPU cannot run the ") + isa_name(isa) + " kernels");
  }
  auto impl = std::make_shared<NetworkImpl>();
  impl->isa = isa;
  impl->kernel = kernel_info(isa);
  impl->arch = file.arch;
  impl->channels = file.channels;
  impl->input_dim = encoded_input_dim(file.arch);
  impl->mean = file.mean;
  impl->stddev = file.stddev;
  if (impl->mean.size() != file.channels || impl->stddev.size() != file.channels) {
    return invalid_argument("mean and stddev do not match the channel count");
  }
  if (file.arch.encoding == Encoding::kFourier) impl->fourier = fourier_matrix(file.arch);
  const std::vector<LayerShape> shapes = layer_shapes(file.arch, file.channels);
  const std::vector<uint64_t> sizes = tensor_sizes(file.arch, file.channels);
  if (file.tensors.size() != sizes.size()) {
    return invalid_argument("file holds no weights (header only?)");
  }
  if (file.arch.encoding == Encoding::kGrid) {
    for (size_t k = 0; k < file.arch.grid_levels.size(); ++k) {
      const std::vector<float>& g = file.tensors[2 * shapes.size() + k];
      if (g.size() != sizes[2 * shapes.size() + k]) {
        return invalid_argument("latent grid size does not match the architecture");
      }
      impl->grid.push_back(g);
      impl->grid_line_offset.push_back(impl->grid_line_doubles);
      impl->grid_line_doubles += size_t{file.arch.grid_levels[k].width} * file.arch.grid_channels;
    }
  }
  Network net;
  for (size_t l = 0; l < shapes.size(); ++l) {
    const LayerShape& s = shapes[l];
    const std::vector<float>& w = file.tensors[2 * l];
    const std::vector<float>& b = file.tensors[2 * l + 1];
    if (w.size() != static_cast<size_t>(s.in) * s.out || b.size() != s.out) {
      return invalid_argument("tensor size does not match the architecture");
    }
    const bool last = l + 1 == shapes.size();
    Act act = Act::kNone;
    if (!last) act = file.arch.activation == Activation::kSine ? Act::kSine : Act::kRelu;
    // SPEC.md §6.3: sine layers compute sin(omega * (W x + b)).  The kernels
    // evaluate sin(pi q), so omega / pi is folded into W and b here.
    const double scale =
        act == Act::kSine ? (l == 0 ? file.arch.omega0 : file.arch.omega) / kPi : 1.0;
    // Inputs: sine outputs and sin/cos features are within [-1, 1]; raw
    // coordinates and grid latents are not bounded (Network::evaluate takes any point).
    const bool raw_coordinates =
        file.arch.encoding == Encoding::kNone || file.arch.encoding == Encoding::kGrid ||
        (file.arch.encoding == Encoding::kPositional && file.arch.pe_include_input);
    const double input_bound =
        l == 0 && raw_coordinates ? std::numeric_limits<double>::infinity() : 1.0;
    impl->layers.push_back(
        pack_layer(isa, w.data(), b.data(), s.in, s.out, scale, act, input_bound));
    net.macs_per_point_ += static_cast<uint64_t>(s.in) * s.out;
    if (!last) impl->max_width = std::max(impl->max_width, s.out);
  }
  net.channels_ = file.channels;
  net.impl_ = std::move(impl);
  return net;
}

}  // namespace internal

StatusOr<Network> Network::create(const NifFile& file) {
  return internal::create_network(file, internal::best_isa());
}

void Network::evaluate(const float* x, const float* y, size_t n, float* out) const {
  if (n == 0 || !impl_) return;  // !impl_: a default-constructed Network
  const NetworkImpl& net = *impl_;
  const size_t g = net.kernel.group_points;
  Scratch s(net);
  for (size_t start = 0; start < n; start += g) {
    const size_t count = std::min(g, n - start);
    // Pad the group by repeating its last point.
    for (size_t p = 0; p < g; ++p) {
      const size_t src = start + std::min(p, count - 1);
      point_features(net, x[src], y[src], s.features.data() + p, g);
    }
    internal::forward_group(net.isa, net.layers, s.features.data(), s.act.data(), s.out.data());
    for (size_t p = 0; p < count; ++p) {
      for (uint32_t c = 0; c < channels_; ++c) {
        out[(start + p) * channels_ + c] = s.out.data()[c * g + p];
      }
    }
  }
}

void Network::evaluate_row(float y, const float* x, size_t n, float* out) const {
  if (n == 0 || !impl_) return;
  const NetworkImpl& net = *impl_;
  RowEvaluator row(net, x, n);
  row.build(0, row.padded_columns());
  Scratch s(net);
  FloatBuffer planar(n * channels_);
  row.evaluate(y, s, planar.data(), n);
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t c = 0; c < channels_; ++c) out[i * channels_ + c] = planar.data()[c * n + i];
  }
}

// The decoded image of grid g, its samples zeroed.
static Image output_image(const OutputGrid& g, uint32_t channels, uint32_t bit_depth) {
  Image img;
  img.width = g.region_width;
  img.height = g.region_height;
  img.channels = channels;
  img.bit_depth = bit_depth;
  img.samples.resize(img.pixel_count() * img.channels);
  return img;
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

namespace {

// Rows of output evaluated between rebuilds of the tiles' column tables.
constexpr uint32_t kTiledBandRows = 64;

// One tile column's share of a column chunk (SPEC.md §11.2): the sub-columns
// [first, first + count) of the chunk where its weight is positive, their tile-local x
// and their weights.
struct TileColumnRange {
  size_t first = 0, count = 0;
  std::vector<float> local_x;
  std::vector<double> weight;
};

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

}  // namespace

namespace internal {

// SPEC.md §11: a tiled file.  Each output sample point p (SPEC.md §7) lies at
// U = p_x W / W', V = p_y H / H' in stored pixel units; every tile whose weight there is
// positive is evaluated at its own coordinates (tile-local x = 2 (U - begin) / size - 1,
// the tile's network sees its sub-rectangle as an image of its own, §7), de-normalized and
// clamped by its own NORM, and the results are summed with the weights and clamped.  The
// sum runs over tile rows, then tile columns, in ascending order, so a sample's value does
// not depend on the region, the column chunking or the thread count.
StatusOr<Image> decode_tiled_nif(const NifFile& file, const DecodeOptions& options) {
  NIFC_ASSIGN_OR_RETURN(const OutputGrid g, resolve_output_grid(file, options));
  const uint32_t nx = file.tile_columns, ny = file.tile_rows, overlap = file.tile_overlap;
  NIFC_RETURN_IF_ERROR(validate_tile_layout(file.width, file.height, nx, ny, overlap,
                                            std::numeric_limits<uint64_t>::max()));
  if (file.tiles.size() != uint64_t{nx} * ny) {
    return invalid_argument("tiled file holds " + std::to_string(file.tiles.size()) +
                            " tiles, its layout " + std::to_string(uint64_t{nx} * ny));
  }
  std::vector<Network> nets;
  nets.reserve(file.tiles.size());
  size_t table_bytes_per_column = 1;
  for (size_t t = 0; t < file.tiles.size(); ++t) {
    const NifFile& tile = file.tiles[t];
    if (tile.tiled() || tile.channels != file.channels) {
      return invalid_argument("tile " + std::to_string(t) + " does not match its file");
    }
    StatusOr<Network> n = Network::create(tile);
    if (!n.ok()) {
      return Status(n.status().code(), "tile " + std::to_string(t) + ": " + n.status().message());
    }
    table_bytes_per_column =
        std::max(table_bytes_per_column, RowEvaluator::table_bytes_per_column(*n->impl_));
    nets.push_back(std::move(n.value()));
  }
  std::vector<TileSpan> span_x(nx), span_y(ny);
  for (uint32_t q = 0; q < nx; ++q) span_x[q] = tile_span(file.width, nx, overlap, q);
  for (uint32_t r = 0; r < ny; ++r) span_y[r] = tile_span(file.height, ny, overlap, r);

  Image img = output_image(g, file.channels, options.bit_depth);
  const uint32_t s = options.supersample;
  const float max_value = static_cast<float>(img.max_value());
  const uint32_t ch = file.channels;
  // SPEC.md §11.2: stored-pixel positions of the sample points, in binary64.
  const auto pos_u = [&](size_t col) {  // col: sub-column of the region
    const double p = (g.x0 + col / s) + ((col % s) + 0.5) / s;
    return p * file.width / g.width;
  };
  const auto pos_v = [&](uint32_t j, uint32_t v) {
    const double p = (g.y0 + j) + (v + 0.5) / s;
    return p * file.height / g.height;
  };
  int threads =
      options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, std::min<int>(threads, static_cast<int>(g.region_height)));

  // Column chunks keep the tables of a band's tiles (two tile rows, each column in up to
  // two tiles: about 3 tables per column) within kTableBudgetBytes.
  const size_t chunk_pixels = std::max<size_t>(
      1, std::min<size_t>(g.region_width, kTableBudgetBytes / (3 * table_bytes_per_column * s)));
  for (size_t px0 = 0; px0 < g.region_width; px0 += chunk_pixels) {
    const size_t pn = std::min<size_t>(chunk_pixels, g.region_width - px0);
    const size_t cn = pn * s;
    const size_t c0 = px0 * s;
    // Per tile column: its sub-columns in this chunk (U is increasing in the column, and
    // a tile's weight is positive exactly for begin < U < end: SPEC.md §11.2).
    std::vector<TileColumnRange> ranges(nx);
    size_t widest = 1;
    for (uint32_t q = 0; q < nx; ++q) {
      TileColumnRange& tr = ranges[q];
      size_t lo = 0, hi = cn;
      while (lo < hi) {  // first column with U > begin
        const size_t mid = lo + (hi - lo) / 2;
        if (pos_u(c0 + mid) > span_x[q].begin)
          hi = mid;
        else
          lo = mid + 1;
      }
      size_t end_lo = lo, end_hi = cn;
      while (end_lo < end_hi) {  // first column with U >= end
        const size_t mid = end_lo + (end_hi - end_lo) / 2;
        if (pos_u(c0 + mid) >= span_x[q].end)
          end_hi = mid;
        else
          end_lo = mid + 1;
      }
      tr.first = lo;
      tr.count = end_lo - lo;
      tr.local_x.resize(tr.count);
      tr.weight.resize(tr.count);
      const double size_x = span_x[q].size();
      for (size_t k = 0; k < tr.count; ++k) {
        const double u = pos_u(c0 + tr.first + k);
        tr.local_x[k] = static_cast<float>(2.0 * (u - span_x[q].begin) / size_x - 1.0);
        tr.weight[k] = tile_weight(span_x[q], nx, overlap, q, u);
      }
      widest = std::max(widest, tr.count);
    }
    for (uint32_t band0 = 0; band0 < g.region_height; band0 += kTiledBandRows) {
      const uint32_t band1 = std::min<uint32_t>(g.region_height, band0 + kTiledBandRows);
      // Tile rows this band touches: begin < V < end for some sample row.
      const double v_first = pos_v(band0, 0), v_last = pos_v(band1 - 1, s - 1);
      uint32_t r_lo = 0, r_hi = 0;  // [r_lo, r_hi)
      while (r_lo < ny && !(span_y[r_lo].end > v_first)) ++r_lo;
      r_hi = r_lo;
      while (r_hi < ny && span_y[r_hi].begin < v_last) ++r_hi;
      // The column tables of those tiles, built on the threads.
      std::vector<std::unique_ptr<RowEvaluator>> rows_eval((r_hi - r_lo) * size_t{nx});
      std::vector<std::pair<size_t, size_t>> blocks;  // (evaluator, first column)
      for (uint32_t r = r_lo; r < r_hi; ++r) {
        for (uint32_t q = 0; q < nx; ++q) {
          if (ranges[q].count == 0) continue;
          const size_t e = size_t{r - r_lo} * nx + q;
          rows_eval[e] = std::make_unique<RowEvaluator>(*nets[size_t{r} * nx + q].impl_,
                                                        ranges[q].local_x.data(), ranges[q].count);
          for (size_t b = 0; b < rows_eval[e]->padded_columns(); b += kTableBlockColumns) {
            blocks.emplace_back(e, b);
          }
        }
      }
      std::atomic<size_t> next_block{0};
      run_on_threads(
          std::min<int>(threads, static_cast<int>(std::max<size_t>(blocks.size(), 1))), [&]() {
            for (size_t b; (b = next_block.fetch_add(1)) < blocks.size();) {
              RowEvaluator& ev = *rows_eval[blocks[b].first];
              ev.build(blocks[b].second,
                       std::min(ev.padded_columns(), blocks[b].second + kTableBlockColumns));
            }
          });
      std::atomic<uint32_t> next_row{band0};
      run_on_threads(std::min<int>(threads, static_cast<int>(band1 - band0)), [&]() {
        std::vector<std::unique_ptr<Scratch>> scratch(nets.size());
        FloatBuffer vals(widest * ch);     // planar: vals[c * count + k]
        std::vector<double> acc(cn * ch);  // planar: acc[c * cn + column]
        std::vector<double> sum(s > 1 ? pn * ch : 0);
        const double inv = 1.0 / (static_cast<double>(s) * s);
        for (uint32_t j; (j = next_row.fetch_add(1)) < band1;) {
          uint16_t* dst = img.samples.data() + (static_cast<size_t>(j) * g.region_width + px0) * ch;
          std::fill(sum.begin(), sum.end(), 0.0);
          for (uint32_t v = 0; v < s; ++v) {
            const double pv = pos_v(j, v);
            std::fill(acc.begin(), acc.end(), 0.0);
            for (uint32_t r = r_lo; r < r_hi; ++r) {
              const double wy = tile_weight(span_y[r], ny, overlap, r, pv);
              if (!(wy > 0.0)) continue;
              const float y =
                  static_cast<float>(2.0 * (pv - span_y[r].begin) / span_y[r].size() - 1.0);
              for (uint32_t q = 0; q < nx; ++q) {
                const TileColumnRange& tr = ranges[q];
                if (tr.count == 0) continue;
                const size_t t = size_t{r} * nx + q;
                if (!scratch[t]) scratch[t] = std::make_unique<Scratch>(*nets[t].impl_);
                rows_eval[size_t{r - r_lo} * nx + q]->evaluate(y, *scratch[t], vals.data(),
                                                               tr.count);
                for (uint32_t c = 0; c < ch; ++c) {
                  const float* src = vals.data() + c * tr.count;
                  double* a = acc.data() + c * cn + tr.first;
                  for (size_t k = 0; k < tr.count; ++k) a[k] += tr.weight[k] * wy * src[k];
                }
              }
            }
            // SPEC.md §11.2: the blended sample is clamped to [0, 1].
            for (double& a : acc) a = a > 0.0 ? (a < 1.0 ? a : 1.0) : 0.0;
            if (s == 1) continue;
            add_subsamples(acc.data(), cn, pn, ch, s, sum.data());
          }
          if (s == 1) {
            for (size_t i = 0; i < pn; ++i) {
              for (uint32_t c = 0; c < ch; ++c) {
                dst[i * ch + c] = static_cast<uint16_t>(std::lround(acc[c * cn + i] * max_value));
              }
            }
          } else {
            for (size_t k = 0; k < pn * ch; ++k) {
              dst[k] = static_cast<uint16_t>(std::lround(sum[k] * inv * max_value));
            }
          }
        }
      });
    }
  }
  return img;
}

}  // namespace internal

StatusOr<Image> decode_nif(const NifFile& file, const DecodeOptions& options) {
  if (file.tiled()) return internal::decode_tiled_nif(file, options);
  NIFC_ASSIGN_OR_RETURN(const OutputGrid g, resolve_output_grid(file, options));
  NIFC_ASSIGN_OR_RETURN(const Network network, Network::create(file));
  const NetworkImpl& net = *network.impl_;
  Image img = output_image(g, file.channels, options.bit_depth);
  const uint32_t s = options.supersample;
  const float max_value = static_cast<float>(img.max_value());
  const uint32_t ch = file.channels;

  // SPEC.md §7: sample (i, j) of the full output grid, sub-sample (u, v),
  // lies at x = 2 (i + (u + 1/2) / S) / W - 1, y likewise.
  const size_t cols = size_t{g.region_width} * s;
  std::vector<float> xs(cols);
  for (uint32_t i = 0; i < g.region_width; ++i) {
    for (uint32_t u = 0; u < s; ++u) {
      const double pos = (g.x0 + i) + (u + 0.5) / s;
      xs[static_cast<size_t>(i) * s + u] = static_cast<float>(2.0 * pos / g.width - 1.0);
    }
  }
  int threads =
      options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, std::min<int>(threads, static_cast<int>(g.region_height)));

  // Column chunks keep the x tables within kTableBudgetBytes; one chunk for
  // ordinary sizes.
  const size_t chunk_pixels = std::max<size_t>(
      1, std::min<size_t>(g.region_width,
                          kTableBudgetBytes /
                              std::max<size_t>(1, RowEvaluator::table_bytes_per_column(net) * s)));
  for (size_t px0 = 0; px0 < g.region_width; px0 += chunk_pixels) {
    const size_t pn = std::min<size_t>(chunk_pixels, g.region_width - px0);
    const size_t cn = pn * s;
    RowEvaluator row(net, xs.data() + px0 * s, cn);
    const size_t blocks = (row.padded_columns() + kTableBlockColumns - 1) / kTableBlockColumns;
    std::atomic<size_t> next_block{0};
    run_on_threads(std::min<int>(threads, static_cast<int>(blocks)), [&]() {
      for (size_t b; (b = next_block.fetch_add(1)) < blocks;) {
        row.build(b * kTableBlockColumns,
                  std::min(row.padded_columns(), (b + 1) * kTableBlockColumns));
      }
    });
    // Rows are tasks taken in order from a shared counter; every sample is
    // computed the same way whichever thread takes it, so the output does not
    // depend on the thread count.
    std::atomic<uint32_t> next_row{0};
    run_on_threads(threads, [&]() {
      Scratch scratch(net);
      FloatBuffer vals(cn * ch);  // planar: vals[c * cn + column]
      std::vector<double> sum(s > 1 ? pn * ch : 0);
      const double inv = 1.0 / (static_cast<double>(s) * s);
      for (uint32_t j; (j = next_row.fetch_add(1)) < g.region_height;) {
        uint16_t* dst = img.samples.data() + (static_cast<size_t>(j) * g.region_width + px0) * ch;
        std::fill(sum.begin(), sum.end(), 0.0);
        for (uint32_t v = 0; v < s; ++v) {
          const double pos = (g.y0 + j) + (v + 0.5) / s;
          const float y = static_cast<float>(2.0 * pos / g.height - 1.0);
          row.evaluate(y, scratch, vals.data(), cn);
          if (s == 1) continue;
          // Sum in the order sub-row v, then sub-column u (the order of the
          // reference decoder, so the double sums are reproducible).
          add_subsamples(vals.data(), cn, pn, ch, s, sum.data());
        }
        if (s == 1) {
          // v * max_value is exact in double and v is in [0, 1], so adding
          // 1/2 and truncating is exactly lround().
          for (size_t i = 0; i < pn; ++i) {
            for (uint32_t c = 0; c < ch; ++c) {
              const double t = static_cast<double>(vals.data()[c * cn + i]) * max_value;
              dst[i * ch + c] = static_cast<uint16_t>(static_cast<int32_t>(t + 0.5));
            }
          }
        } else {
          for (size_t k = 0; k < pn * ch; ++k) {
            dst[k] = static_cast<uint16_t>(std::lround(sum[k] * inv * max_value));
          }
        }
      }
    });
  }
  return img;
}

}  // namespace nifc
