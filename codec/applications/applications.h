// Beyond fitting: coordinate networks fitted to derivatives of images.
//
// A sine network's spatial derivatives are themselves smooth networks, which
// LibTorch's autograd evaluates exactly (through the layers and the input
// encoding, with respect to the coordinates of SPEC.md §7).  These functions
// fit a network to a *derived* target and return an ordinary .nif file, so
// the result decodes at any size with the plain decoder:
//
//   poisson_reconstruct  the network's gradient (or Laplacian) matches the
//                        image's finite differences; the image comes back up
//                        to a constant, which is then fixed by the mean.
//   blend_images         one network fitted to a gradient field combined
//                        from two images (gradient-domain editing).
//   inpaint_image        fitted on the known pixels only, decoded everywhere.
//
// Units.  Targets are the per-channel standardised samples t = (s - mean) /
// std of SPEC.md §5.2, with s in [0, 1].  Differences are taken in pixel
// units; the network's derivative with respect to the coordinate x in
// [-1, 1] is converted with d/dx_pixel = (2 / W) d/dx (and 2 / H for y).
//
// This header does not include LibTorch (like encoder.h); applications.cc
// does.  The functions are not re-entrant with respect to LibTorch's global
// thread settings: call them from one thread at a time.  Every error is a
// status with a one-line message; nothing throws.
#ifndef NIFC_CODEC_APPLICATIONS_APPLICATIONS_H_
#define NIFC_CODEC_APPLICATIONS_APPLICATIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "codec/decoder/image.h"
#include "codec/encoder/options.h"
#include "format/nif_format.h"
#include "format/status.h"

namespace nifc {

enum class PoissonSource : uint8_t {
  // Forward differences t[x+1] - t[x] (and t[y+1] - t[y]), each matched by the
  // network's derivative at the midpoint of its two pixel centres, where the
  // difference is a second-order accurate estimate of the derivative.
  kGradient = 0,
  // The 5-point Laplacian t[x-1] + t[x+1] + t[y-1] + t[y+1] - 4 t at interior
  // pixels, matched by the network's d2/dx2 + d2/dy2 at the pixel centre.  On
  // a bounded image the Laplacian fixes a function only up to a harmonic one
  // (a ramp a + bx + cy is the simplest), so this source also takes the
  // forward differences of the edges that touch the one-pixel border ring
  // (Neumann and tangential boundary data, about 4 (W + H) values per channel
  // against W H): that leaves only the constant.  Needs a sine network (the
  // second derivatives of a ReLU network vanish almost everywhere).
  kLaplacian = 1,
};

// The field inside the region: edges whose two pixels are both inside the
// mask, or every edge without a mask (kMax only).  Outside the region the field
// is A's differences, and outside the mask A's values are fitted too (see
// ApplicationOptions::value_weight), as in Perez et al. 2003.
enum class BlendRule : uint8_t {
  // Per pixel edge, the difference of larger magnitude (summed over the
  // channels) of A's and B's ("mixing gradients").
  kMax = 0,
  // B's difference ("seamless cloning"); needs a mask.
  kMask = 1,
};

struct ApplicationResult {
  std::vector<uint8_t> file;  // the .nif bytes
  Image decoded;  // the file decoded at its stored size by the plain decoder (source depth)
  // Poisson: against the original image.  Inpaint: against the original on
  // all pixels.  Blend: against A on the pixels outside the mask; NaN
  // without a mask.  All of the decoded file, peak 2^depth - 1.
  double psnr_db = 0.0;
  double missing_psnr_db = 0.0;  // inpaint: on the pixels that were not known; else NaN
  double known_psnr_db = 0.0;    // inpaint: on the known pixels; else NaN
  // Poisson and blend: how well the decoded file's own finite differences
  // (Laplacian for kLaplacian, at interior pixels) match the target field, as a
  // PSNR in sample units (peak 1).  NaN for inpainting.
  double field_psnr_db = 0.0;
  // The constant of integration, per channel (sample units, [0, 1] scale).
  // NORM mean (SPEC.md §5) is set to `mean` and the network's output bias is
  // shifted by `shift` / std after fitting, so that the decoded image has
  // `mean` as its mean (Poisson), or A's values on average along the image
  // border outside the mask (blend).  Inpainting fits values directly: shift 0.
  std::vector<double> mean;
  std::vector<double> shift;
  int steps = 0;
  double fit_seconds = 0.0;
  double seconds = 0.0;
  std::string device;  // "cpu" or "cuda"
  uint64_t parameters = 0;
};

// Options beyond the encoder's.
struct ApplicationOptions {
  // Poisson from the gradient, and blending: weight of the integrated
  // residual along whole rows and columns (see applications.cc, line_loss);
  // 0 fits the pointwise derivative residual alone.
  // (It assumes a field that is a gradient: a blended field is not one across
  // the mask's edge, and the per-line integrals then disagree from line to
  // line, which shows as streaks; the blend command defaults it to 0.)
  double line_weight = 0.1;
  // Blending with a mask: weight of the mean squared error (standardised
  // samples) against A on the pixels outside the mask, which fixes the
  // result there and is the boundary condition of the region inside.  0
  // fits the field alone.
  double value_weight = 1.0;
  // Blending: weight of the differences of the network's values over spans
  // of 1, 2, 4, ... pixels against the field summed along them (see
  // applications.cc, span_loss), which settle the large scales.  0: off.
  double span_weight = 10.0;
  // Blending with a mask: start with a quarter of the steps on the values of
  // A outside the mask and B inside, offset to A's level at the mask's edge.
  bool warm_start = true;
  // Inpainting: weight of a total-variation prior, the network's mean
  // gradient magnitude (autograd; pixel units, standardised samples, channels
  // in quadrature) at random points of the whole image, added to the mean
  // squared error on the known pixels.  It keeps the fit from oscillating
  // between known pixels while letting edges stay sharp.  0 turns it off.
  double tv = 0.0;
  int tv_points = 2048;  // random points per step for the prior
};

// Fits a network whose derivatives match the image's (see PoissonSource) and
// fixes the constant by the image's per-channel mean: NORM (mean, std) are the
// image's, and after fitting the output bias is shifted so that the network's
// mean over the pixel grid is 0.  Uses of `options`: arch, bits, steps,
// batch_pixels (pixel edges, or interior pixels, per step), lr,
// lr_final_ratio, warmup_steps, time_limit_s, device, threads, seed,
// zstd_level, progress (batch_psnr_db is then the field's).  Errors:
// kInvalidArgument (invalid image or options; an image too small to have a
// difference (Laplacian: under 3 x 3); kLaplacian with a ReLU network),
// kUnsupported (CUDA requested but absent), kCancelled, kInternal (LibTorch).
StatusOr<ApplicationResult> poisson_reconstruct(const Image& image, PoissonSource source,
                                                const EncodeOptions& options,
                                                const ApplicationOptions& app);

// Fits one network to a gradient field combined from `a` and `b` (see
// BlendRule); `mask` (width * height bytes, nonzero = inside) is required by
// kMask and optional for kMax.  NORM (mean, std) are A's; the constant is
// fixed so that the result's mean over the border pixels outside the mask
// equals A's there (over the whole border when the mask covers it).  The
// result has A's bit depth; psnr_db is against A outside the mask (NaN
// without one).  `options` as for poisson_reconstruct.  Errors:
// kInvalidArgument ("A is 64x64, B is 32x32", channel counts differ, a mask
// of another size, an empty mask, a negative value or span weight), and those of
// poisson_reconstruct.
StatusOr<ApplicationResult> blend_images(const Image& a, const Image& b, BlendRule rule,
                                         const std::vector<uint8_t>& mask,
                                         const EncodeOptions& options,
                                         const ApplicationOptions& app);

// Fits a network to the pixels of `image` where `known` (width * height
// bytes) is nonzero, and decodes it everywhere.  NORM (mean, std) are computed
// over the known pixels only; nothing of the unknown pixels reaches the fit.
// `options` as for poisson_reconstruct (batch_pixels: known pixels per step).
// Errors: kInvalidArgument (a mask of another size, or empty; a negative tv),
// and those of poisson_reconstruct.
StatusOr<ApplicationResult> inpaint_image(const Image& image, const std::vector<uint8_t>& known,
                                          const EncodeOptions& options,
                                          const ApplicationOptions& app);

// The spatial gradient of `file`'s dequantized network at the points (x[i],
// y[i]) by LibTorch autograd: n x channels x 2 values (d/dx, d/dy) per point
// and channel, with respect to the coordinates in [-1, 1], in normalized
// output units.  For tests and tools.  Errors: kInvalidArgument (x and y
// differ in length), kInternal.
StatusOr<std::vector<float>> torch_gradient(const NifFile& file, const std::vector<float>& x,
                                            const std::vector<float>& y);

// The applications as seen through the encoder plugin (EncoderApi::applications).
struct ApplicationsApi {
  StatusOr<ApplicationResult> (*poisson_reconstruct)(const Image& image, PoissonSource source,
                                                     const EncodeOptions& options,
                                                     const ApplicationOptions& app);
  StatusOr<ApplicationResult> (*blend_images)(const Image& a, const Image& b, BlendRule rule,
                                              const std::vector<uint8_t>& mask,
                                              const EncodeOptions& options,
                                              const ApplicationOptions& app);
  StatusOr<ApplicationResult> (*inpaint_image)(const Image& image,
                                               const std::vector<uint8_t>& known,
                                               const EncodeOptions& options,
                                               const ApplicationOptions& app);
};

// The table above, statically allocated.
const ApplicationsApi* applications_api();

}  // namespace nifc

#endif  // NIFC_CODEC_APPLICATIONS_APPLICATIONS_H_
