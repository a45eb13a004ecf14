// Rate-distortion optimized quantization of a grid's latents (README "Learned feature
// grids").  The fit trains the latents with uniform noise and the file rounds each to its
// nearest level: best for no single latent's error once the MLP reads them all together,
// and blind to the bits SPEC.md §6.5 spends.  Each level is tried one step closer to zero
// and, failing that, at the integer on the other side of its trained value: the change in
// the decoded image's squared error is measured exactly (the MLP evaluated at every pixel
// the latent's bilinear footprint reaches), the change in §6.5's bits estimated from the
// level's context statistics (the latent's own code and the four later neighbours whose
// contexts it enters), and the move kept when it lowers error + lambda * bits.  Greedy,
// level by level from the coarsest, in coding order.  Torch-free; the MLP runs on batches
// of up to 64 footprint pixels in the fused step's vector kernels (grid_step.h PointErrors).
#ifndef NIFC_CODEC_ENCODER_RDOQ_H_
#define NIFC_CODEC_ENCODER_RDOQ_H_

#include <cstdint>
#include <vector>

#include "codec/decoder/image.h"
#include "format/nif_format.h"
#include "format/status.h"

namespace nifc {

struct RdoqStats {
  uint64_t tried = 0;           // levels tried one step closer to zero
  uint64_t changed = 0;         // moves kept
  double estimated_bits = 0.0;  // the estimated bits the kept moves saved
};

// tensors: a grid fit's float weights (SPEC.md §6.2 order) for `header`'s architecture,
// size, channels and normalization; latent_scale: the latents' step is latent_scale times
// kLatentStep (pack_scaled's); lambda: the slope of -q, the cost being MSE (samples in
// [0, 1]) + lambda * bits per pixel.  Rewrites the latent tensors as exact multiples of
// their step (pack_scaled and refine_synthesis round them to the same levels).  The MLP
// is evaluated as pack_scaled quantizes it.  `passes` sweeps, the rate statistics
// re-estimated before each.
StatusOr<RdoqStats> optimize_latents(const Image& image, const NifFile& header, double latent_scale,
                                     double lambda, int passes,
                                     std::vector<std::vector<float>>* tensors);

}  // namespace nifc

#endif  // NIFC_CODEC_ENCODER_RDOQ_H_
