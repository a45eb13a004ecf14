// The torch-free decoder: sampling geometry (SPEC.md §7), regions, threads,
// supersampling, limits, and the committed golden vectors.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <iterator>

#include "codec/decoder.h"
#include "tests/nif_test_util.h"
#include "tools/image_io.h"

namespace nifc {
namespace {

// A ReLU network whose channel 0 is exactly x and channel 1 exactly y:
// hidden = relu((x, y) + 2), output = hidden - 2.  With mean 0.5 and std 0.5
// the decoded sample is round(max * (p + 1) / 2) for p = x or y.
NifFile coordinate_network() {
  Architecture a;
  a.encoding = Encoding::kNone;
  a.activation = Activation::kRelu;
  a.omega0 = a.omega = 1.0f;
  a.widths = {2};
  NifFile h = testing::make_header(a, 2, 8, 10, 6);
  h.mean = {0.5f, 0.5f};
  h.stddev = {0.5f, 0.5f};
  std::vector<QuantizedTensor> q(4);
  q[0] = {1.0f, {1, 0, 0, 1}};  // W0 (2x2)
  q[1] = {1.0f, {2, 2}};        // b0
  q[2] = {1.0f, {1, 0, 0, 1}};  // W1 (2x2)
  q[3] = {1.0f, {-2, -2}};      // b1
  StatusOr<std::vector<uint8_t>> bytes = serialize_nif(h, q, 1);
  REQUIRE(bytes.ok());
  StatusOr<NifFile> f = parse_nif(bytes->data(), bytes->size());
  REQUIRE(f.ok());
  return f.value();
}

TEST_CASE("pixel centres follow SPEC.md §7 at any size and region") {
  const NifFile f = coordinate_network();
  for (uint32_t w : {10u, 20u, 7u, 1u}) {
    for (uint32_t h : {6u, 13u, 1u}) {
      DecodeOptions o;
      o.width = w;
      o.height = h;
      StatusOr<Image> img = decode_nif(f, o);
      REQUIRE(img.ok());
      REQUIRE(img->width == w);
      REQUIRE(img->height == h);
      for (uint32_t y = 0; y < h; ++y) {
        for (uint32_t x = 0; x < w; ++x) {
          CHECK(img->at(x, y, 0) == std::lround(255.0 * (x + 0.5) / w));
          CHECK(img->at(x, y, 1) == std::lround(255.0 * (y + 0.5) / h));
        }
      }
    }
  }
}

TEST_CASE("a region equals the same crop of the full decode, for any thread count") {
  const NifFile f = coordinate_network();
  DecodeOptions full;
  full.width = 40;
  full.height = 24;
  StatusOr<Image> whole = decode_nif(f, full);
  REQUIRE(whole.ok());
  for (int threads : {1, 2, 3}) {
    DecodeOptions o = full;
    o.region_x = 5;
    o.region_y = 7;
    o.region_width = 30;
    o.region_height = 11;
    o.threads = threads;
    StatusOr<Image> part = decode_nif(f, o);
    REQUIRE(part.ok());
    for (uint32_t y = 0; y < 11; ++y) {
      for (uint32_t x = 0; x < 30; ++x) {
        CHECK(part->at(x, y, 0) == whole->at(x + 5, y + 7, 0));
        CHECK(part->at(x, y, 1) == whole->at(x + 5, y + 7, 1));
      }
    }
  }
}

TEST_CASE("one given dimension keeps the aspect ratio") {
  const NifFile f = coordinate_network();  // 10 x 6
  DecodeOptions o;
  o.width = 25;
  StatusOr<OutputGrid> g = resolve_output_grid(f, o);
  REQUIRE(g.ok());
  CHECK(g->height == 15);
  o.width = 0;
  o.height = 3;
  g = resolve_output_grid(f, o);
  REQUIRE(g.ok());
  CHECK(g->width == 5);
}

TEST_CASE("supersampling averages sub-pixel samples") {
  // For a function linear in x, the mean of S evenly spaced samples across a
  // pixel equals the value at its centre.
  const NifFile f = coordinate_network();
  DecodeOptions o;
  o.supersample = 4;
  o.bit_depth = 16;
  StatusOr<Image> img = decode_nif(f, o);
  REQUIRE(img.ok());
  for (uint32_t x = 0; x < img->width; ++x) {
    CHECK(std::abs(static_cast<int>(img->at(x, 0, 0)) -
                   static_cast<int>(std::lround(65535.0 * (x + 0.5) / 10))) <= 1);
  }
}

TEST_CASE("bad decode options and oversized outputs are refused before allocating") {
  const NifFile f = coordinate_network();
  DecodeOptions o;
  o.region_width = 11;  // wider than the 10-pixel output
  o.region_height = 1;
  CHECK(decode_nif(f, o).status().code() == StatusCode::kInvalidArgument);
  o = DecodeOptions();
  o.width = 1u << 20;
  o.height = 1u << 20;
  CHECK(decode_nif(f, o).status().code() == StatusCode::kLimit);
  o = DecodeOptions();
  o.bit_depth = 12;
  CHECK(decode_nif(f, o).status().code() == StatusCode::kInvalidArgument);
  NifFile header_only = f;
  header_only.tensors.clear();
  CHECK_FALSE(decode_nif(header_only, DecodeOptions()).ok());
}

std::vector<uint8_t> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Golden vectors (STYLE.md): committed .nif files and their expected decodes
// (made by tools/make_golden.sh).  A conforming decoder matches each sample
// within 1 (SPEC.md §8).
TEST_CASE("golden vectors decode to their expected images") {
  struct Golden {
    const char* name;
    DecodeOptions options;  // as tools/make_golden.sh decoded them
  };
  DecodeOptions stored, scaled, wide, region;
  scaled.width = 90;  // --scale 1.5 of 60x40
  scaled.height = 60;
  wide.width = 100;
  region.region_x = 10;
  region.region_y = 5;
  region.region_width = 30;
  region.region_height = 20;
  const Golden goldens[] = {{"golden-siren-pe", stored},
                            {"golden-gray16", stored},
                            {"golden-rgba-relu-pe", scaled},
                            {"golden-fourier", wide},
                            {"golden-siren", region}};
  const std::string dir = NIFC_SAMPLES_DIR;
  for (const Golden& g : goldens) {
    CAPTURE(g.name);
    const std::vector<uint8_t> nif = slurp(dir + "/" + g.name + ".nif");
    const std::vector<uint8_t> png = slurp(dir + "/" + g.name + ".expected.png");
    REQUIRE(!nif.empty());
    REQUIRE(!png.empty());
    StatusOr<NifFile> f = parse_nif(nif.data(), nif.size());
    REQUIRE(f.ok());
    StatusOr<Image> expected = read_png(png.data(), png.size(), g.name);
    REQUIRE(expected.ok());
    DecodeOptions o = g.options;
    o.bit_depth = expected->bit_depth;
    StatusOr<Image> got = decode_nif(f.value(), o);
    REQUIRE(got.ok());
    REQUIRE(got->width == expected->width);
    REQUIRE(got->height == expected->height);
    REQUIRE(got->samples.size() == expected->samples.size());
    int max_diff = 0;
    for (size_t i = 0; i < got->samples.size(); ++i) {
      max_diff = std::max(max_diff, std::abs(static_cast<int>(got->samples[i]) -
                                             static_cast<int>(expected->samples[i])));
    }
    // SPEC.md §8: within 1 at 8 bits; at 16 bits within 1/255 of full scale.
    CHECK(max_diff <= (expected->bit_depth == 16 ? 257 : 1));
  }
}

}  // namespace
}  // namespace nifc
