// Rate control: encode to a size, a bpp or a PSNR target (README "Rate control").
//
// The network is sized from the target, fitted once, and then the quantization
// is searched on the float weights (no refit): one global factor scales every
// tensor's step, trading bytes for PSNR smoothly, so the file lands just under
// a size target.  A fit that is far off (the file cannot get within 5% under
// the target, or the float network misses a PSNR target) is redone once with
// a network resized by the measured ratio.
#ifndef NIFC_CODEC_RATE_CONTROL_H_
#define NIFC_CODEC_RATE_CONTROL_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "codec/encoder.h"
#include "codec/image.h"
#include "format/nif_format.h"
#include "format/status.h"

namespace nifc {

struct RateTarget {
  enum class Kind { kNone, kBytes, kPsnr } kind = Kind::kNone;
  uint64_t bytes = 0;    // kBytes: the file never exceeds this
  double psnr_db = 0.0;  // kPsnr: the decoded file reaches at least this
};

// Target bytes for a bpp target on an image of `pixels` pixels.  Inline: the
// CLI uses these without linking the encoder.
inline uint64_t bytes_for_bpp(double bpp, uint64_t pixels) {
  return static_cast<uint64_t>(std::floor(bpp * static_cast<double>(pixels) / 8.0));
}

// The bpp target of a -q/--quality preset in 0..100: 0.05 * 2^(q/25) bpp,
// i.e. 0.05 at 0, 0.2 at 50 (the default network's rate), 0.8 at 100.
inline double bpp_for_quality(double quality) {
  return 0.05 * std::pow(2.0, std::clamp(quality, 0.0, 100.0) / 25.0);
}

// Hidden width of the default architecture (arch's encoding, depth and
// activation) whose packed size is predicted to be `bytes` for `channels`.
uint16_t width_for_bytes(const Architecture& arch, uint32_t channels, uint64_t bytes, int bits);

// Re-quantizes float weights with each tensor's step set to `scale` times its
// 8-bit max-abs step (scale < 1: finer, more bits; > 1: coarser), the bit
// width being the smallest that clips nothing, and packs them.  header:
// everything but the weights.
StatusOr<std::vector<uint8_t>> pack_scaled(const NifFile& header,
                                           const std::vector<std::vector<float>>& tensors,
                                           double scale, int zstd_level);

// Fits per `options` (its arch widths are replaced when a target is given)
// and lands on `target`.  With Kind::kNone it is encode_image().
StatusOr<EncodeResult> encode_to_target(const Image& image, const RateTarget& target,
                                        const EncodeOptions& options);

}  // namespace nifc

#endif  // NIFC_CODEC_RATE_CONTROL_H_
