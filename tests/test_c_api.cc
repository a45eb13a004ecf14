// The C API (include/nifc/decode.h) as a caller sees it: strides, regions,
// 16-bit output, options from older callers, stable status codes.
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "nifc/decode.h"
#include "nifc/decode.hpp"

namespace {

std::vector<uint8_t> golden(const char* name) {
  std::ifstream in(std::string(NIFC_SAMPLES_DIR) + "/" + name, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

TEST_CASE("status codes and strings are stable") {
  CHECK(NIFC_OK == 0);
  CHECK(NIFC_CORRUPT == 2);
  CHECK(NIFC_LIMIT == 4);
  CHECK(std::string(nifc_status_string(NIFC_CORRUPT)) == "corrupt");
  CHECK(std::string(nifc_status_string(static_cast<NifcStatus>(99))) == "unknown status");
}

// SPEC.md §11: a tiled file through the C API: its parameters are all its tiles', and a
// region of a 2x decode is the same crop of the full one.
TEST_CASE("a tiled file: info and decode") {
  const std::vector<uint8_t> f = golden("golden-tiled.nif");
  REQUIRE(!f.empty());
  NifcInfo info;
  REQUIRE(nifc_get_info(f.data(), f.size(), &info) == NIFC_OK);
  CHECK(info.width == 192);
  CHECK(info.height == 128);
  CHECK(info.version_minor == 2);
  CHECK(info.parameters > 6 * info.macs_per_pixel);  // 6 tiles, each more than its MACs
  NifcDecoderOptions o;
  nifc_init_decoder_options(&o);
  o.width = 384;
  o.height = 256;
  std::vector<uint8_t> full(384 * 3 * 256);
  REQUIRE(nifc_decode_ex(f.data(), f.size(), &o, full.data(), 384 * 3, full.size()) == NIFC_OK);
  o.region_x = 100;
  o.region_y = 90;
  o.region_width = 80;
  o.region_height = 60;
  std::vector<uint8_t> part(80 * 3 * 60);
  REQUIRE(nifc_decode_ex(f.data(), f.size(), &o, part.data(), 80 * 3, part.size()) == NIFC_OK);
  bool same = true;
  for (size_t y = 0; y < 60; ++y) {
    for (size_t x = 0; x < 80 * 3; ++x) {
      same = same && part[y * 80 * 3 + x] == full[(y + 90) * 384 * 3 + 100 * 3 + x];
    }
  }
  CHECK(same);
}

TEST_CASE("info, one-call decode with a padded stride, and decode_ex agree") {
  const std::vector<uint8_t> f = golden("golden-siren-pe.nif");
  REQUIRE(!f.empty());
  NifcInfo info;
  REQUIRE(nifc_get_info(f.data(), f.size(), &info) == NIFC_OK);
  CHECK(info.width == 192);
  CHECK(info.height == 128);
  CHECK(info.channels == 3);
  CHECK(info.parameters > 0);
  const size_t row = 192 * 3, stride = row + 7;
  std::vector<uint8_t> a(stride * 128, 0xAB);
  REQUIRE(nifc_decode(f.data(), f.size(), 0, 0, a.data(), stride, a.size()) == NIFC_OK);
  for (size_t y = 0; y < 128; ++y) {
    for (size_t pad = row; pad < stride; ++pad) CHECK(a[y * stride + pad] == 0xAB);
  }
  NifcDecoderOptions o;
  nifc_init_decoder_options(&o);
  o.threads = 3;
  std::vector<uint8_t> b(row * 128);
  REQUIRE(nifc_decode_ex(f.data(), f.size(), &o, b.data(), row, b.size()) == NIFC_OK);
  for (size_t y = 0; y < 128; ++y) {
    for (size_t x = 0; x < row; ++x) CHECK(a[y * stride + x] == b[y * row + x]);
  }
  // A region of a 2x decode equals the same crop of the full 2x decode.
  o.width = 384;
  o.height = 256;
  std::vector<uint8_t> full(384 * 3 * 256);
  REQUIRE(nifc_decode_ex(f.data(), f.size(), &o, full.data(), 384 * 3, full.size()) == NIFC_OK);
  o.region_x = 100;
  o.region_y = 50;
  o.region_width = 64;
  o.region_height = 32;
  uint32_t w = 0, h = 0;
  REQUIRE(nifc_output_size(f.data(), f.size(), &o, &w, &h) == NIFC_OK);
  CHECK(w == 64);
  CHECK(h == 32);
  std::vector<uint8_t> part(64 * 3 * 32);
  REQUIRE(nifc_decode_ex(f.data(), f.size(), &o, part.data(), 64 * 3, part.size()) == NIFC_OK);
  for (size_t y = 0; y < 32; ++y) {
    for (size_t x = 0; x < 64 * 3; ++x) {
      CHECK(part[y * 64 * 3 + x] == full[(y + 50) * 384 * 3 + 100 * 3 + x]);
    }
  }
}

TEST_CASE("16-bit output and the C++ layer") {
  nifc_api::Decoder d(golden("golden-gray16.nif"));
  d.options().bit_depth = 16;
  nifc_api::Image img;
  const nifc_api::Result r = d.decode(&img);
  REQUIRE(r.ok());
  CHECK(img.channels == 1);
  CHECK(img.bytes.size() == size_t{img.width} * img.height * 2);
  nifc_api::Decoder bad(std::vector<uint8_t>(10, 0));
  const nifc_api::Result e = bad.decode(&img);
  CHECK(e.status == NIFC_CORRUPT);
  CHECK(e.message.find("magic") != std::string::npos);
}

TEST_CASE("errors: corrupt input, small buffers, limits, old and bad options") {
  std::vector<uint8_t> f = golden("golden-siren-pe.nif");
  NifcInfo info;
  CHECK(nifc_get_info(f.data(), 20, &info) == NIFC_CORRUPT);
  CHECK(std::string(nifc_last_error()).find("truncated") != std::string::npos);
  CHECK(nifc_get_info(nullptr, 0, &info) == NIFC_INVALID_ARGUMENT);
  std::vector<uint8_t> out(192 * 3 * 128);
  CHECK(nifc_decode(f.data(), f.size(), 0, 0, out.data(), 192 * 3, out.size() - 1) ==
        NIFC_INVALID_ARGUMENT);
  CHECK(nifc_decode(f.data(), f.size(), 0, 0, out.data(), 100, out.size()) ==
        NIFC_INVALID_ARGUMENT);
  NifcDecoderOptions o;
  nifc_init_decoder_options(&o);
  o.max_parameters = 10;
  CHECK(nifc_decode_ex(f.data(), f.size(), &o, out.data(), 192 * 3, out.size()) == NIFC_LIMIT);
  nifc_init_decoder_options(&o);
  o.width = 100000;
  o.height = 100000;
  CHECK(nifc_decode_ex(f.data(), f.size(), &o, out.data(), 192 * 3, out.size()) == NIFC_LIMIT);
  nifc_init_decoder_options(&o);
  o.struct_size = 8;  // older than version 1: refused
  CHECK(nifc_decode_ex(f.data(), f.size(), &o, out.data(), 192 * 3, out.size()) ==
        NIFC_INVALID_ARGUMENT);
  f[200] ^= 1;
  CHECK(nifc_decode(f.data(), f.size(), 0, 0, out.data(), 192 * 3, out.size()) == NIFC_CORRUPT);
  CHECK(std::string(nifc_last_error()).find("checksum") != std::string::npos);
}

}  // namespace
