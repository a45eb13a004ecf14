// The entry point of libnifc_encoder.so (see EncoderApi in encoder.h).
#include "codec/applications.h"
#include "codec/encoder.h"
#include "codec/rate_control.h"
#include "codec/tiling.h"

extern "C" __attribute__((visibility("default"))) const nifc::EncoderApi* nifc_encoder_api() {
  static const nifc::EncoderApi api = {nifc::kEncoderAbiVersion, &nifc::encode_image,
                                       &nifc::cuda_available, nifc::applications_api(),
                                       &nifc::encode_to_target, &nifc::encode_tiled};
  return &api;
}
