// nifc decoder: a header-only C++ layer over the C API (nifc/decode.h).
// Owns its pixels (RAII); reports errors as a status plus message, no exceptions.
#ifndef NIFC_DECODE_HPP_
#define NIFC_DECODE_HPP_

#include <cstdint>
#include <string>
#include <vector>

#include "nifc/decode.h"

namespace nifc_api {

struct Image {
  uint32_t width = 0, height = 0, channels = 0, bit_depth = 8;
  std::vector<uint8_t> bytes;  // rows packed; uint16_t samples when bit_depth == 16
};

struct Result {
  NifcStatus status = NIFC_OK;
  std::string message;
  bool ok() const { return status == NIFC_OK; }
};

class Decoder {
 public:
  explicit Decoder(std::vector<uint8_t> file) : file_(std::move(file)) {
    nifc_init_decoder_options(&options_);
  }
  NifcDecoderOptions& options() { return options_; }

  Result info(NifcInfo* info) const {
    return wrap(nifc_get_info(file_.data(), file_.size(), info));
  }

  // Decodes with options() into *image.
  Result decode(Image* image) const {
    NifcInfo info;
    NifcStatus s = nifc_get_info(file_.data(), file_.size(), &info);
    if (s != NIFC_OK) return wrap(s);
    uint32_t w = 0, h = 0;
    s = nifc_output_size(file_.data(), file_.size(), &options_, &w, &h);
    if (s != NIFC_OK) return wrap(s);
    const size_t sample_bytes = options_.bit_depth == 16 ? 2 : 1;
    const size_t stride = static_cast<size_t>(w) * info.channels * sample_bytes;
    image->bytes.assign(stride * h, 0);
    s = nifc_decode_ex(file_.data(), file_.size(), &options_, image->bytes.data(), stride,
                       image->bytes.size());
    if (s != NIFC_OK) {
      image->bytes.clear();
      return wrap(s);
    }
    image->width = w;
    image->height = h;
    image->channels = info.channels;
    image->bit_depth = options_.bit_depth;
    return {};
  }

 private:
  static Result wrap(NifcStatus s) {
    return s == NIFC_OK ? Result{} : Result{s, nifc_last_error()};
  }
  std::vector<uint8_t> file_;
  NifcDecoderOptions options_;
};

}  // namespace nifc_api

#endif  // NIFC_DECODE_HPP_
