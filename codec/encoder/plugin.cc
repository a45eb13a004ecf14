// The entry point of libnifc_encoder.so (see EncoderApi in plugin_api.h).
#include "codec/applications/applications.h"
#include "codec/encoder/encoder.h"
#include "codec/encoder/plugin_api.h"
#include "codec/encoder/rate_control.h"
#include "codec/encoder/tiling.h"

extern "C" __attribute__((visibility("default"))) const nifc::EncoderApi* nifc_encoder_api() {
  static const nifc::EncoderApi api = {nifc::kEncoderAbiVersion, &nifc::encode_image,
                                       &nifc::cuda_available,    nifc::applications_api(),
                                       &nifc::encode_to_target,  &nifc::encode_tiled};
  return &api;
}
