// The encoder as a run-time plugin (libnifc_encoder.so): the one symbol it exports and
// the table of entry points behind it.  Only the CLI's loader (tools/nifc/encoder_loader.cc)
// and the plugin (plugin.cc) include this header.
#ifndef NIFC_CODEC_ENCODER_PLUGIN_API_H_
#define NIFC_CODEC_ENCODER_PLUGIN_API_H_

#include <cstdint>

#include "codec/applications/applications.h"
#include "codec/decoder/image.h"
#include "codec/encoder/options.h"
#include "format/status.h"

namespace nifc {

// The encoder as a run-time plugin (libnifc_encoder.so).  Loading LibTorch
// costs about half a second per process, so the nifc CLI loads it with
// dlopen() only for the commands that fit networks; decode and info never
// pay for it.  The plugin and its host must be built from the same sources
// (C++ types cross this boundary); abi_version guards against mixing builds.
constexpr uint32_t kEncoderAbiVersion = 5;
struct EncoderApi {
  uint32_t abi_version;
  StatusOr<EncodeResult> (*encode_image)(const Image& image, const EncodeOptions& options);
  bool (*cuda_available)();
  const ApplicationsApi* applications;  // Poisson, blending, inpainting (since version 2)
  // Rate control (codec/encoder/rate_control.h, since version 2).
  StatusOr<EncodeResult> (*encode_to_target)(const Image& image, const RateTarget& target,
                                             const EncodeOptions& options);
  // Tiled encoding of large images (codec/encoder/tiling.h, since version 4).
  StatusOr<EncodeResult> (*encode_tiled)(const Image& image, const RateTarget& target,
                                         const EncodeOptions& options,
                                         const TileOptions& tile_options);
};

}  // namespace nifc

extern "C" const nifc::EncoderApi* nifc_encoder_api();

#endif  // NIFC_CODEC_ENCODER_PLUGIN_API_H_
