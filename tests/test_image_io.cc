// Tests for tools/image_io: PNG round trips, the PngSuite conformance images, libpng's
// crasher files, limits and damaged input.
#include <doctest/doctest.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tools/io/image_io.h"

#ifndef NIFC_SHARED_DATA_DIR
#define NIFC_SHARED_DATA_DIR ""
#endif

namespace nifc {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// The sorted *.png files of a shared-data folder, or nothing (after saying so) when the
// data is not there, so that a checkout without /work/shared still passes.
std::vector<fs::path> shared_pngs(const std::string& folder) {
  const fs::path dir = fs::path(NIFC_SHARED_DATA_DIR) / folder;
  std::error_code ec;
  if (std::string(NIFC_SHARED_DATA_DIR).empty() || !fs::is_directory(dir, ec)) {
    MESSAGE("skipping: shared test data not found at " << dir.string());
    return {};
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".png") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

StatusOr<Image> read_png_file(const fs::path& path, const PngLimits& limits = PngLimits()) {
  const std::vector<uint8_t> bytes = slurp(path);
  return read_png(bytes.data(), bytes.size(), path.filename().string(), limits);
}

// Deterministic samples that include 0 and the maximum value.
Image make_image(uint32_t width, uint32_t height, uint32_t channels, uint32_t bit_depth) {
  Image img;
  img.width = width;
  img.height = height;
  img.channels = channels;
  img.bit_depth = bit_depth;
  img.samples.resize(img.pixel_count() * channels);
  uint32_t state = 12345u + width * 7u + channels * 131u + bit_depth;
  for (size_t i = 0; i < img.samples.size(); ++i) {
    state = state * 1664525u + 1013904223u;
    img.samples[i] = static_cast<uint16_t>((state >> 8) & img.max_value());
  }
  img.samples[0] = 0;
  img.samples.back() = static_cast<uint16_t>(img.max_value());
  return img;
}

std::vector<uint8_t> be32(uint32_t v) {
  return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
}

// A PNG signature and a well-formed IHDR chunk (valid CRC), nothing after it.
std::vector<uint8_t> png_header_only(uint32_t width, uint32_t height) {
  std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> chunk = {'I', 'H', 'D', 'R'};
  for (uint32_t v : {width, height}) {
    const auto b = be32(v);
    chunk.insert(chunk.end(), b.begin(), b.end());
  }
  chunk.insert(chunk.end(), {8, 2, 0, 0, 0});  // 8-bit RGB, deflate, filter 0, no interlace
  const auto length = be32(13);
  out.insert(out.end(), length.begin(), length.end());
  out.insert(out.end(), chunk.begin(), chunk.end());
  const auto crc = be32(static_cast<uint32_t>(crc32(0, chunk.data(), chunk.size())));
  out.insert(out.end(), crc.begin(), crc.end());
  return out;
}

// PngSuite names say what is inside: "basn0g16" = color type 0, 16 bits; "s05n3p02" =
// 5x5; a leading 't' (except "tp0") = a tRNS chunk, which becomes an alpha channel.
uint32_t expected_channels(const std::string& name) {
  const int color_type = name[4] - '0';
  const uint32_t base = color_type == 0 ? 1 : color_type == 4 ? 2 : color_type == 6 ? 4 : 3;
  const bool has_trns = name[0] == 't' && name.compare(0, 3, "tp0") != 0;
  return has_trns && (color_type == 0 || color_type == 2 || color_type == 3) ? base + 1 : base;
}

uint32_t expected_size(const std::string& name) {
  if (name[0] == 's' && isdigit(name[1]) && isdigit(name[2])) return std::stoul(name.substr(1, 2));
  return 32;
}

// An 8-bit image as RGBA, the way stb_image expands it (gray replicated, alpha 255).
std::vector<uint16_t> to_rgba8(const Image& img) {
  std::vector<uint16_t> out;
  for (size_t p = 0; p < img.pixel_count(); ++p) {
    const uint16_t* s = &img.samples[p * img.channels];
    switch (img.channels) {
      case 1:
        out.insert(out.end(), {s[0], s[0], s[0], 255});
        break;
      case 2:
        out.insert(out.end(), {s[0], s[0], s[0], s[1]});
        break;
      case 3:
        out.insert(out.end(), {s[0], s[1], s[2], 255});
        break;
      default:
        out.insert(out.end(), {s[0], s[1], s[2], s[3]});
        break;
    }
  }
  return out;
}

bool same_image(const Image& a, const Image& b) {
  return a.width == b.width && a.height == b.height && a.channels == b.channels &&
         a.bit_depth == b.bit_depth && a.samples == b.samples;
}

TEST_CASE("write_png then read_png gives back the same samples") {
  for (uint32_t bit_depth : {8u, 16u}) {
    for (uint32_t channels = 1; channels <= 4; ++channels) {
      for (auto size : {std::pair<uint32_t, uint32_t>{1, 1}, {17, 5}, {64, 33}}) {
        CAPTURE(bit_depth);
        CAPTURE(channels);
        CAPTURE(size.first);
        const Image img = make_image(size.first, size.second, channels, bit_depth);
        auto png = write_png(img);
        REQUIRE(png.ok());
        auto back = read_png(png->data(), png->size(), "roundtrip.png");
        REQUIRE_MESSAGE(back.ok(), back.status().message());
        CHECK(same_image(*back, img));
      }
    }
  }
  SUBCASE("every compression level") {
    const Image img = make_image(40, 30, 3, 8);
    for (int level = 0; level <= 9; ++level) {
      auto png = write_png(img, level);
      REQUIRE(png.ok());
      auto back = read_png(png->data(), png->size(), "level.png");
      REQUIRE(back.ok());
      CHECK(same_image(*back, img));
    }
  }
}

TEST_CASE("write_png refuses images it cannot represent") {
  Image img = make_image(4, 4, 3, 8);
  SUBCASE("channels") { img.channels = 5; }
  SUBCASE("bit depth") { img.bit_depth = 12; }
  SUBCASE("sample count") { img.samples.pop_back(); }
  SUBCASE("8-bit sample above 255") { img.samples[3] = 256; }
  SUBCASE("empty") {
    img.width = 0;
    img.samples.clear();
  }
  auto png = write_png(img);
  REQUIRE_FALSE(png.ok());
  CHECK(png.status().code() == StatusCode::kInvalidArgument);
  CHECK(write_png(make_image(4, 4, 3, 8), 10).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("read_png says when the input is not a PNG file") {
  const std::string text = "P6\n1 1\n255\nabc";
  auto r = read_png(reinterpret_cast<const uint8_t*>(text.data()), text.size(), "input.png");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kCorrupt);
  CHECK(r.status().message() == "input.png: not a PNG file");
  CHECK(read_png(nullptr, 0, "empty.png").status().message() == "empty.png: not a PNG file");
}

TEST_CASE("read_png refuses oversized images from the header alone") {
  SUBCASE("width beyond the default limit") {
    const auto bytes = png_header_only(70000, 10);
    auto r = read_png(bytes.data(), bytes.size(), "input.png");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kLimit);
    CHECK(r.status().message() == "input.png: image 70000x10 exceeds the limit of 65536x65536");
  }
  SUBCASE("pixel count beyond the default limit, each side within it") {
    // Reading on would need gigabytes; the header has no pixel data at all, so only a
    // check made before allocating can give kLimit rather than a truncation error.
    const auto bytes = png_header_only(65536, 65536);
    auto r = read_png(bytes.data(), bytes.size(), "input.png");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kLimit);
  }
  SUBCASE("caller limits") {
    auto png = write_png(make_image(100, 100, 1, 8));
    REQUIRE(png.ok());
    PngLimits limits;
    CHECK(read_png(png->data(), png->size(), "a.png", limits).ok());
    limits.max_pixels = 9999;
    CHECK(read_png(png->data(), png->size(), "a.png", limits).status().code() ==
          StatusCode::kLimit);
    limits = PngLimits();
    limits.max_height = 99;
    CHECK(read_png(png->data(), png->size(), "a.png", limits).status().message() ==
          "a.png: image 100x100 exceeds the limit of 65536x99");
  }
}

TEST_CASE("read_png rejects every truncation and every single-byte change") {
  auto png = write_png(make_image(16, 16, 4, 8));
  REQUIRE(png.ok());
  const std::vector<uint8_t> good = *png;
  for (size_t size = 0; size < good.size(); ++size) {
    auto r = read_png(good.data(), size, "cut.png");
    CHECK_MESSAGE(!r.ok(), "prefix of " << size << " bytes decoded");
    if (!r.ok()) CHECK(r.status().message().rfind("cut.png: ", 0) == 0);
  }
  // All critical chunks are CRC-protected, so any changed byte is an error.
  std::vector<uint8_t> bad = good;
  for (size_t i = 0; i < bad.size(); ++i) {
    bad[i] ^= 0x5a;
    auto r = read_png(bad.data(), bad.size(), "flip.png");
    CHECK_MESSAGE(!r.ok(), "byte " << i << " changed, still decoded");
    bad[i] = good[i];
  }
}

TEST_CASE("PngSuite: valid images decode to the size, channels and depth in their names") {
  for (const char* folder : {"pngsuite/primary", "pngsuite/16bit", "pngsuite/unused"}) {
    for (const fs::path& path : shared_pngs(folder)) {
      const std::string name = path.filename().string();
      CAPTURE(name);
      auto img = read_png_file(path);
      REQUIRE_MESSAGE(img.ok(), img.status().message());
      CHECK(img->samples.size() == img->pixel_count() * img->channels);
      CHECK(img->channels == expected_channels(name));
      CHECK(img->bit_depth == (name.compare(6, 2, "16") == 0 ? 16u : 8u));
      if (name.compare(0, 2, "cd") != 0) {  // cdfn/cdhn/cdsn: pHYs tests with odd sizes
        CHECK(img->width == expected_size(name));
        CHECK(img->height == expected_size(name));
      }
      // The round trip through write_png is exact for every decoded image too.
      auto png = write_png(*img);
      REQUIRE(png.ok());
      auto back = read_png(png->data(), png->size(), name);
      REQUIRE(back.ok());
      CHECK(same_image(*back, *img));
    }
  }
}

TEST_CASE("PngSuite: samples match stb_image's RGBA decodes (primary_check)") {
  for (const fs::path& path : shared_pngs("pngsuite/primary")) {
    const fs::path check_path =
        path.parent_path().parent_path() / "primary_check" / path.filename();
    if (!fs::exists(check_path)) continue;
    CAPTURE(path.filename().string());
    auto img = read_png_file(path);
    auto check = read_png_file(check_path);
    REQUIRE(img.ok());
    REQUIRE(check.ok());
    REQUIRE(check->channels == 4);
    REQUIRE(img->bit_depth == 8);
    CHECK(to_rgba8(*img) == check->samples);
  }
}

TEST_CASE("PngSuite: interlaced files decode like their non-interlaced twins") {
  const auto primary = shared_pngs("pngsuite/primary");
  const auto wide = shared_pngs("pngsuite/16bit");
  std::vector<fs::path> files = primary;
  files.insert(files.end(), wide.begin(), wide.end());
  int pairs = 0;
  for (const fs::path& path : files) {
    std::string name = path.filename().string();
    if (name[3] != 'i') continue;  // "basi0g08" <-> "basn0g08"
    std::string twin_name = name;
    twin_name[3] = 'n';
    const fs::path twin = path.parent_path() / twin_name;
    if (!fs::exists(twin)) continue;
    CAPTURE(name);
    auto a = read_png_file(path);
    auto b = read_png_file(twin);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(same_image(*a, *b));
    ++pairs;
  }
  if (!files.empty()) CHECK(pairs > 20);
  // oi1..oi9 split the same image into 1 to many IDAT chunks.
  for (const fs::path& path : wide) {
    const std::string name = path.filename().string();
    if (name.compare(0, 2, "oi") != 0) continue;
    CAPTURE(name);
    auto a = read_png_file(path);
    auto b = read_png_file(path.parent_path() / ("basn" + name.substr(4)));
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(same_image(*a, *b));
  }
}

TEST_CASE("PngSuite: sub-8-bit gray scales to 0..255 and tRNS becomes alpha") {
  const auto files = shared_pngs("pngsuite/primary");
  if (files.empty()) return;
  const fs::path dir = files.front().parent_path();
  auto g1 = read_png_file(dir / "basn0g01.png");
  REQUIRE(g1.ok());
  for (uint16_t v : g1->samples) CHECK((v == 0 || v == 255));
  auto g2 = read_png_file(dir / "basn0g02.png");
  REQUIRE(g2.ok());
  for (uint16_t v : g2->samples) CHECK(v % 85 == 0);
  auto trns = read_png_file(dir / "tbbn0g04.png");
  REQUIRE(trns.ok());
  REQUIRE(trns->channels == 2);
  bool any_transparent = false;
  for (size_t p = 0; p < trns->pixel_count(); ++p) {
    const uint16_t alpha = trns->samples[p * 2 + 1];
    CHECK((alpha == 0 || alpha == 255));
    any_transparent = any_transparent || alpha == 0;
  }
  CHECK(any_transparent);
}

TEST_CASE("PngSuite: corrupt files and Apple CgBI files are refused") {
  for (const char* folder : {"pngsuite/corrupt", "pngsuite/iphone"}) {
    for (const fs::path& path : shared_pngs(folder)) {
      const std::string name = path.filename().string();
      CAPTURE(name);
      auto img = read_png_file(path);
      REQUIRE_FALSE(img.ok());
      CHECK(img.status().code() == StatusCode::kCorrupt);
      const std::string& message = img.status().message();
      CHECK(message.rfind(name + ": ", 0) == 0);
      CHECK(message.find('\n') == std::string::npos);
    }
  }
}

TEST_CASE("libpng crasher files are refused without crashing") {
  for (const fs::path& path : shared_pngs("libpng-testpngs-crashers")) {
    const std::string name = path.filename().string();
    CAPTURE(name);
    auto img = read_png_file(path);
    if (name == "empty_ancillary_chunks.png") {
      // Its IHDR, IDAT and IEND are intact; only ancillary chunks (which read_png skips
      // unparsed) are malformed, so the 1x1 image decodes, as in browsers.
      REQUIRE(img.ok());
      CHECK(img->width == 1);
      CHECK(img->height == 1);
      continue;
    }
    REQUIRE_FALSE(img.ok());
    CHECK(img.status().message().rfind(name + ": ", 0) == 0);
  }
}

}  // namespace
}  // namespace nifc
