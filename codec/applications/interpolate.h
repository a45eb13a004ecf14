// Pixel masks and the classical scattered-data baselines that `nifc inpaint`
// compares its network against: nearest-neighbour and piecewise-linear
// (Delaunay, barycentric) interpolation of the known pixels.
//
// Torch-free (plain C++17; part of the nifc_decoder library, which only links
// what a program uses).  A mask is width * height bytes, row-major; a nonzero
// byte marks a pixel as set ("known" for inpainting, "take B" for blending).
// All functions are thread-safe and deterministic on every platform.
#ifndef NIFC_CODEC_APPLICATIONS_INTERPOLATE_H_
#define NIFC_CODEC_APPLICATIONS_INTERPOLATE_H_

#include <cstdint>
#include <vector>

#include "codec/decoder/image.h"
#include "format/status.h"

namespace nifc {

// A mask with exactly `count` set pixels, chosen uniformly at random without
// replacement by a partial Fisher-Yates shuffle driven by splitmix64(seed),
// so the same (width, height, count, seed) gives the same mask everywhere.
// Errors: kInvalidArgument when count is 0 or larger than width * height.
StatusOr<std::vector<uint8_t>> random_keep_mask(uint32_t width, uint32_t height, uint64_t count,
                                                uint64_t seed);

// The mask of a mask image: a pixel is set when any of its colour samples
// (gray, or R, G, B; alpha is ignored) is nonzero.
std::vector<uint8_t> mask_from_image(const Image& mask_image);

// Checks that `mask` fits a width x height image and sets at least one pixel.
// `what` names the mask in the message.  Errors (kInvalidArgument):
// "<what> has N pixels, the image W x H", "<what> is empty (no nonzero pixel)".
Status check_mask(const std::vector<uint8_t>& mask, uint32_t width, uint32_t height,
                  const char* what);

// Number of set pixels.
uint64_t count_set(const std::vector<uint8_t>& mask);

// Every pixel takes the value of the nearest known pixel (Euclidean distance
// between pixel centres; exact, by a separable distance transform; ties are
// broken deterministically).  Known
// pixels keep their values.  Errors: kInvalidArgument for a mask that does not
// fit the image or is empty.
StatusOr<Image> interpolate_nearest(const Image& image, const std::vector<uint8_t>& known);

// Piecewise-linear interpolation: the known pixel centres are triangulated
// (Delaunay, Bowyer-Watson with exact integer predicates) and each pixel
// inside a triangle takes the barycentric mix of its corners' values, rounded
// to the nearest integer sample.  Pixels outside every triangle (outside the
// convex hull of the known pixels, or all of them when the known pixels are
// collinear) take the nearest known value as above.  Errors: as
// interpolate_nearest.
StatusOr<Image> interpolate_linear(const Image& image, const std::vector<uint8_t>& known);

// PSNR in dB (peak 2^bit_depth - 1, over all channels) between two images of
// the same geometry, restricted to the pixels whose mask byte is nonzero
// (`set` true) or zero (`set` false).  Infinity when they agree there; NaN
// when no pixel qualifies or the geometries differ.
double masked_psnr_db(const Image& a, const Image& b, const std::vector<uint8_t>& mask, bool set);

}  // namespace nifc

#endif  // NIFC_CODEC_APPLICATIONS_INTERPOLATE_H_
