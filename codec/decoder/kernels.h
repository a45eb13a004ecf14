// Internal: the SIMD kernels of the decoder's forward pass (not installed, not
// part of the embeddable API; tests and tools/bench_decode use it).  They are
// defined in decoder.cc (the per-ISA vector operations) and
// decoder_kernels.inc (the kernels, instantiated once per ISA), so the
// decoder library stays one translation unit.
//
// The forward pass works on groups of points with the points in the vector
// lanes: activations are stored feature-major, act[k][p] for k < features and
// p < group_points, so a layer is a blocked matrix product whose register tile
// is R outputs x C vectors of points (W broadcast, activations loaded).  Each
// point's arithmetic is the same sequence of operations whatever lane, tile or
// group it lands in, so results never depend on block boundaries or the
// thread count; they depend only on the instruction set chosen, once per
// process, at run time (cpuid), so the library runs on any x86-64 CPU.
//
// Sine layers fold omega/pi into W and b and evaluate sin(pi q) (sinpi): the
// reduction q - round(q) is exact, so no Cody-Waite steps are needed and the
// polynomial is a degree 9 minimax fit (error 3.4e-9 before rounding).
//
// Thread-safety: everything here is reentrant; a PackedLayer is immutable
// once packed.
#ifndef NIFC_CODEC_DECODER_KERNELS_H_
#define NIFC_CODEC_DECODER_KERNELS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace nifc {
namespace internal {

// Instruction sets with a kernel.  Numbers are stable (tests print them).
enum class Isa : int {
  kGeneric = 0,  // portable C++ (non-x86 builds, or -DNIFC_NO_SIMD)
  kSse2 = 1,     // x86-64 baseline: 4 lanes, separate multiply and add
  kAvx2Fma = 2,  // 8 lanes, fused multiply-add
  kAvx512 = 3,   // AVX-512F: 16 lanes, fused multiply-add, 32 registers
};

const char* isa_name(Isa isa);
// True if this CPU (and OS) can run `isa` and this build has a kernel for it.
bool isa_supported(Isa isa);
// The widest supported ISA; the NIFC_ISA environment variable ("sse2", "avx2",
// "avx512") caps it, for testing and benchmarks.  Computed once.
Isa best_isa();

// Activation after a layer.  kSine skips the clamp of kSineClamped; it is
// chosen only when the pre-activations provably stay below 2^21 in magnitude.
enum class Act : int { kNone = 0, kSine = 1, kRelu = 2, kSineClamped = 3 };

// One linear layer packed for the kernel of an ISA: outputs in tiles of
// tile_outputs (the last tile may be smaller); tile t holds in x n_t floats,
// [k][r], starting at t * tile_outputs * in.  For sine layers, W and b are
// already scaled by omega / pi.
struct PackedLayer {
  uint32_t in = 0, out = 0;
  Act act = Act::kNone;
  std::vector<float> w;     // in * out
  std::vector<float> bias;  // out
};

struct KernelInfo {
  Isa isa = Isa::kGeneric;
  uint32_t lanes = 1;         // floats per vector
  uint32_t group_points = 1;  // points per group (C vectors)
  uint32_t tile_outputs = 1;  // R
};
KernelInfo kernel_info(Isa isa);

// Packs W (out x in, row-major as stored, SPEC.md §6.2) and b, each value
// multiplied by `scale` in double and rounded once, for the tile shape of `isa`.
// `input_bound` bounds the magnitude of the layer's inputs (infinity if
// unknown).  A sine layer becomes kSineClamped unless |b_o| + input_bound *
// sum_k |W_ok| < 2^21 for every output (NaN or huge weights fail the test).
PackedLayer pack_layer(Isa isa, const float* w, const float* b, uint32_t in, uint32_t out,
                       double scale, Act act, double input_bound);

// Runs all layers on one group: `features` holds layers[0].in x group_points
// floats (feature-major), `scratch` 2 x max_width x group_points floats, `out`
// receives layers.back().out x group_points raw outputs.  64-byte alignment
// of the buffers is not required but keeps loads within cache lines.
void forward_group(Isa isa, const std::vector<PackedLayer>& layers, const float* features,
                   float* scratch, float* out);

// out[i] = sin(pi * q[i]) with the kernel of `isa` (any n).  |error| <= 2.1e-7
// for |q| <= 2^22 (exhaustively checked on [0, 1/2] for SSE2 and AVX2; the
// reduction is exact); larger |q| are clamped to +-2^22 and NaN maps to -2^22,
// so the result is always finite and within [-1, 1].
void sinpi_array(Isa isa, const float* q, float* out, size_t n);

}  // namespace internal
}  // namespace nifc

#endif  // NIFC_CODEC_DECODER_KERNELS_H_
