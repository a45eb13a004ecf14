// How the encoder quantizes a fitted network into a file (SPEC.md §6.2): the one place
// that chooses each tensor's step.  Torch-free: it works on the float weights in SPEC.md
// §6.2 order (torch_net.h's float_copy makes them from tensors).
//
// Two rules, both ending in serialize_nif:
//   pack_trained  the file as trained: header.bits for the network's tensors, each with
//                 the max-abs step of format's quantize_tensor; grid latents keep the step
//                 they trained with, kLatentStep, unless their range does not fit the bits.
//   pack_scaled   the rate controller's search: every step scaled by one factor, the bit
//                 width the smallest that clips nothing.
#ifndef NIFC_CODEC_ENCODER_QUANTIZE_H_
#define NIFC_CODEC_ENCODER_QUANTIZE_H_

#include <cstdint>
#include <vector>

#include "format/nif_format.h"
#include "format/status.h"

namespace nifc {

// Tensors 0 .. n-1 of SPEC.md §6.2's order are the MLP's weights and biases; the rest
// (grid) are latent levels.
size_t mlp_tensor_count(const Architecture& arch);

// Quantizes `tensors` with pack_trained's rule and writes a .nif file with `header` (size,
// channels, normalization, arch, bits, compression; its weight fields are ignored).
StatusOr<std::vector<uint8_t>> pack_trained(const NifFile& header,
                                            const std::vector<std::vector<float>>& tensors,
                                            int zstd_level);

// Re-quantizes float weights with each tensor's step set to `scale` times its 8-bit max-abs
// step (scale < 1: finer, more bits; > 1: coarser); for grid latents (SPEC.md §6.4) scale
// times kLatentStep, while the small MLP keeps its 8-bit steps.  The bit width is the
// smallest that holds every tensor's largest level (up to 16), so nothing clips.
// The step pack_scaled gives a network tensor (not grid latents) whose largest magnitude is
// max_abs: scale times its 8-bit max-abs step (a grid's MLP keeps scale 1).
float scaled_max_abs_step(float max_abs, double scale);

// A grid's MLP tensor with its values as pack_scaled quantizes them (whatever the
// latents' scale): the decoder's view of it, in floats.
std::vector<float> grid_mlp_as_packed(const std::vector<float>& v);

StatusOr<std::vector<uint8_t>> pack_scaled(const NifFile& header,
                                           const std::vector<std::vector<float>>& tensors,
                                           double scale, int zstd_level);

}  // namespace nifc

#endif  // NIFC_CODEC_ENCODER_QUANTIZE_H_
