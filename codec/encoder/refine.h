// Refitting a grid's synthesis MLP to its latents as the file stores them (README
// "Learned feature grids").  The fit trains the latents with uniform noise of their step's
// width; the decoder sees them rounded at the step the rate control chose.  With those
// rounded latents held fixed, a few hundred whole-image steps of the MLP alone recover part
// of the rounding's error at no cost in latent bits.  Torch-free: the fused step
// (codec/encoder/grid_step.h) does the work.
#ifndef NIFC_CODEC_ENCODER_REFINE_H_
#define NIFC_CODEC_ENCODER_REFINE_H_

#include <vector>

#include "codec/decoder/image.h"
#include "format/nif_format.h"
#include "format/status.h"

namespace nifc {

struct RefineOptions {
  int steps = 150;   // whole-image Adam steps on the MLP
  double lr = 3e-3;  // peak learning rate (cosine decay to a tenth)
  int threads = 1;
};

// tensors: a grid fit's float weights (SPEC.md §6.2 order) for `header`'s architecture,
// size, channels and normalization; latent_scale: the latents' step is latent_scale times
// kLatentStep, as pack_scaled writes them.  Replaces the MLP's tensors with refitted ones
// when they score a lower error with the latents rounded and the MLP quantized as
// pack_scaled quantizes them; returns whether it did.  A network the fused step does not
// support is left alone (false).
StatusOr<bool> refine_synthesis(const Image& image, const NifFile& header, double latent_scale,
                                const RefineOptions& options,
                                std::vector<std::vector<float>>* tensors);

}  // namespace nifc

#endif  // NIFC_CODEC_ENCODER_REFINE_H_
