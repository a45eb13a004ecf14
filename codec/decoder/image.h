// Image: the in-memory raster passed between the tools, the encoder and the decoder.
#ifndef NIFC_CODEC_DECODER_IMAGE_H_
#define NIFC_CODEC_DECODER_IMAGE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace nifc {

// Interleaved, row-major samples.  channels: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
// Each sample is an integer in [0, 2^bit_depth - 1]; bit_depth is 8 or 16.
struct Image {
  uint32_t width = 0;
  uint32_t height = 0;
  uint32_t channels = 0;
  uint32_t bit_depth = 8;
  std::vector<uint16_t> samples;

  size_t pixel_count() const { return static_cast<size_t>(width) * height; }
  uint32_t max_value() const { return (1u << bit_depth) - 1u; }
  uint16_t& at(uint32_t x, uint32_t y, uint32_t c) {
    return samples[(static_cast<size_t>(y) * width + x) * channels + c];
  }
  uint16_t at(uint32_t x, uint32_t y, uint32_t c) const {
    return samples[(static_cast<size_t>(y) * width + x) * channels + c];
  }
};

// PSNR in dB between two images of the same geometry, over all samples,
// peak = 2^bit_depth - 1.  Infinity for identical images, NaN if the
// geometries differ.
double psnr_db(const Image& a, const Image& b);

// PSNR in dB of a mean squared error in [0, 1]^2 sample units (99 for 0, the encoder's
// cap for a perfect fit).
double mse_to_psnr(double mse);

}  // namespace nifc

#endif  // NIFC_CODEC_DECODER_IMAGE_H_
