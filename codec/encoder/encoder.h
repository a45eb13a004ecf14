// The encoder: fits a coordinate network to an image with LibTorch, quantizes
// it and packs it into a .nif file.
//
// This header does not include LibTorch, so callers compile without it; only
// encoder.cc does.  encode_image() is not re-entrant with respect to LibTorch's
// global thread settings: call it from one thread at a time.
#ifndef NIFC_CODEC_ENCODER_ENCODER_H_
#define NIFC_CODEC_ENCODER_ENCODER_H_

#include <vector>

#include "codec/decoder/image.h"
#include "codec/encoder/options.h"
#include "format/nif_format.h"
#include "format/status.h"

namespace nifc {

StatusOr<EncodeResult> encode_image(const Image& image, const EncodeOptions& options);

// The LibTorch forward of `file`'s dequantized network at points (x[i], y[i]),
// raw outputs (normalized units), n x channels.  For the cross-implementation test.
StatusOr<std::vector<float>> torch_forward(const NifFile& file, const std::vector<float>& x,
                                           const std::vector<float>& y);

// True when LibTorch can use CUDA here.
bool cuda_available();

}  // namespace nifc

#endif  // NIFC_CODEC_ENCODER_ENCODER_H_
