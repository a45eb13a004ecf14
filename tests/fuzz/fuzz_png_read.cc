// Fuzz target: tools/image_io's read_png (our libpng wrapper) on arbitrary bytes.
//
// Each input is read as given and again with its chunk CRCs repaired (so that mutations
// reach the chunk parsers and the pixel transforms).  A decoded image must be well formed
// and survive write_png -> read_png unchanged.  Note: Debian's libpng is not built with
// coverage instrumentation, so the fuzzer is guided by the wrapper's coverage only;
// AddressSanitizer still checks every byte libpng hands back through our buffers.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "tests/fuzz/fuzz_util.h"
#include "tools/io/image_io.h"

namespace nifc::fuzz {
namespace {

void read_one(const uint8_t* data, size_t size) {
  PngLimits limits;
  limits.max_width = limits.max_height = 4096;
  limits.max_pixels = 1u << 18;
  limits.max_chunk_bytes = 1u << 20;
  StatusOr<Image> img = read_png(data, size, "fuzz.png", limits);
  if (!img.ok()) {
    const std::string& m = img.status().message();
    NIFC_FUZZ_CHECK(m.rfind("fuzz.png: ", 0) == 0 && m.find('\n') == std::string::npos);
    return;
  }
  NIFC_FUZZ_CHECK(img->width >= 1 && img->height >= 1);
  NIFC_FUZZ_CHECK(uint64_t{img->width} * img->height <= limits.max_pixels);
  NIFC_FUZZ_CHECK(img->channels >= 1 && img->channels <= 4);
  NIFC_FUZZ_CHECK(img->bit_depth == 8 || img->bit_depth == 16);
  NIFC_FUZZ_CHECK(img->samples.size() == img->pixel_count() * img->channels);
  for (uint16_t v : img->samples) NIFC_FUZZ_CHECK(v <= img->max_value());
  StatusOr<std::vector<uint8_t>> png = write_png(img.value(), 1);
  NIFC_FUZZ_CHECK(png.ok());
  StatusOr<Image> back = read_png(png->data(), png->size(), "again.png", limits);
  NIFC_FUZZ_CHECK(back.ok());
  NIFC_FUZZ_CHECK(back->width == img->width && back->height == img->height);
  NIFC_FUZZ_CHECK(back->channels == img->channels && back->bit_depth == img->bit_depth);
  NIFC_FUZZ_CHECK(back->samples == img->samples);
}

}  // namespace
}  // namespace nifc::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nifc::fuzz::read_one(data, size);
  const std::vector<uint8_t> repaired = nifc::fuzz::repair_png_checksums(data, size);
  if (size > 0 && std::memcmp(repaired.data(), data, size) != 0) {
    nifc::fuzz::read_one(repaired.data(), repaired.size());
  }
  return 0;
}
