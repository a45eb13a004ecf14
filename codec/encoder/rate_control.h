// Rate control: encode to a size, a bpp or a PSNR target (README "Rate control").
//
// The network is sized from the target, fitted once, and then the quantization
// is searched on the float weights (no refit): one global factor scales every
// tensor's step, trading bytes for PSNR smoothly, so the file lands just under
// a size target.  A fit that is far off (the file cannot get within 5% under
// the target, or the float network misses a PSNR target) is redone once with
// a network resized by the measured ratio.
#ifndef NIFC_CODEC_ENCODER_RATE_CONTROL_H_
#define NIFC_CODEC_ENCODER_RATE_CONTROL_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "codec/decoder/image.h"
#include "codec/encoder/options.h"
#include "format/nif_format.h"
#include "format/status.h"

namespace nifc {

// Hidden width of the default architecture (arch's encoding, depth and
// activation) whose packed size is predicted to be `bytes` for `channels`.
uint16_t width_for_bytes(const Architecture& arch, uint32_t channels, uint64_t bytes, int bits);

// A grid file's -q minimizes MSE (samples in [0, 1]) + lambda * bpp.  The fit prices its
// latents with the proxy sum log2(1 + |x|), which counts 1/4 to 2/3 of the bits SPEC.md
// §6.5 spends on them (README "Learned feature grids"); after the fit, where the bits are
// the coder's, the step search, the latents' rate-distortion pass and the refit weigh
// them with lambda times this ratio (measured: README "Rate-distortion on Kodak").
constexpr double kPostFitLambdaRatio = 0.35;

// Fits per `options` (its arch widths are replaced when a target is given)
// and lands on `target`.  With Kind::kNone it is encode_image().
StatusOr<EncodeResult> encode_to_target(const Image& image, const RateTarget& target,
                                        const EncodeOptions& options);

}  // namespace nifc

#endif  // NIFC_CODEC_ENCODER_RATE_CONTROL_H_
