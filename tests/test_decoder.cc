// The torch-free decoder: sampling geometry (SPEC.md §7), regions, threads,
// supersampling, limits, and the committed golden vectors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>

#include "codec/decoder/decoder.h"
#include "tests/nif_test_util.h"
#include "tools/io/image_io.h"

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

// A grid network whose output is exactly the interpolated latent of its one
// level (SPEC.md §6.4): hidden = relu(g + 8), output = hidden - 8.
NifFile grid_identity_network(uint32_t gw, uint32_t gh, const std::vector<int32_t>& latents) {
  Architecture a;
  a.encoding = Encoding::kGrid;
  a.activation = Activation::kRelu;
  a.omega0 = a.omega = 1.0f;
  a.grid_channels = 1;
  a.grid_levels = {{gw, gh}};
  a.widths = {1};
  NifFile h = testing::make_header(a, 1, 8, 10, 6);
  h.mean = {0.5f};
  h.stddev = {0.0625f};
  std::vector<QuantizedTensor> q(5);
  q[0] = {1.0f, {1}};
  q[1] = {1.0f, {8}};
  q[2] = {1.0f, {1}};
  q[3] = {1.0f, {-8}};
  q[4] = {1.0f, latents};
  StatusOr<std::vector<uint8_t>> bytes = serialize_nif(h, q, 1);
  REQUIRE(bytes.ok());
  StatusOr<NifFile> f = parse_nif(bytes->data(), bytes->size());
  REQUIRE(f.ok());
  return f.value();
}

// SPEC.md §6.4 from its formulas: sample centres, bilinear weights, edge clamping.
double grid_reference(uint32_t gw, uint32_t gh, const std::vector<int32_t>& g, double x, double y) {
  auto tap = [](double v, uint32_t n, uint32_t* i0, uint32_t* i1, double* t) {
    double u = (v + 1) * n / 2 - 0.5;
    u = std::min(std::max(u, 0.0), n - 1.0);
    *i0 = static_cast<uint32_t>(std::floor(u));
    *i1 = std::min(*i0 + 1, n - 1);
    *t = u - *i0;
  };
  uint32_t s0, s1, r0, r1;
  double tx, ty;
  tap(x, gw, &s0, &s1, &tx);
  tap(y, gh, &r0, &r1, &ty);
  auto at = [&](uint32_t s, uint32_t r) { return static_cast<double>(g[r * gw + s]); };
  return (1 - tx) * ((1 - ty) * at(s0, r0) + ty * at(s0, r1)) +
         tx * ((1 - ty) * at(s1, r0) + ty * at(s1, r1));
}

TEST_CASE("grid encoding: bilinear at the sample centres, clamped at the edges") {
  const std::vector<int32_t> g = {0, 3, -2, 5, 1, -4, 2, 7, -6, 4, 0, 1};  // 4 x 3
  const NifFile f = grid_identity_network(4, 3, g);
  StatusOr<Network> net = Network::create(f);
  REQUIRE(net.ok());
  std::vector<float> xs, ys;
  for (float x : {-1.5f, -1.0f, -0.75f, -0.6f, 0.0f, 0.3f, 0.75f, 0.9f, 1.0f, 2.0f}) {
    for (float y : {-1.2f, -2.0f / 3, -0.5f, 0.0f, 0.1f, 2.0f / 3, 0.95f, 1.0f}) {
      xs.push_back(x);
      ys.push_back(y);
    }
  }
  std::vector<float> out(xs.size());
  net->evaluate(xs.data(), ys.data(), xs.size(), out.data());
  for (size_t i = 0; i < xs.size(); ++i) {
    CAPTURE(xs[i]);
    CAPTURE(ys[i]);
    CHECK(out[i] == doctest::Approx(grid_reference(4, 3, g, xs[i], ys[i])).epsilon(1e-6));
  }
  // At the sample centres the value is the latent itself.
  float cx = 2.0f * 1.5f / 4 - 1, cy = 2.0f * 2.5f / 3 - 1;  // sample (1, 2)
  float v = 0;
  net->evaluate(&cx, &cy, 1, &v);
  CHECK(v == doctest::Approx(g[2 * 4 + 1]).epsilon(1e-6));
}

TEST_CASE("grid files decode at any size and any region, regions equal crops") {
  const NifFile h = testing::make_header(testing::grid_arch(3, 6), 3, 8, 20, 14);
  StatusOr<std::vector<uint8_t>> bytes = serialize_nif(h, testing::random_tensors(h, 11), 1);
  REQUIRE(bytes.ok());
  StatusOr<NifFile> f = parse_nif(bytes->data(), bytes->size());
  REQUIRE(f.ok());
  StatusOr<Network> net = Network::create(f.value());
  REQUIRE(net.ok());
  for (uint32_t w : {20u, 37u, 7u, 1u}) {
    for (uint32_t hh : {14u, 5u, 1u}) {
      CAPTURE(w);
      CAPTURE(hh);
      DecodeOptions full;
      full.width = w;
      full.height = hh;
      StatusOr<Image> whole = decode_nif(f.value(), full);
      REQUIRE(whole.ok());
      // Each pixel is the network at its centre (SPEC.md §7) through Network::evaluate.
      for (uint32_t y = 0; y < hh; y += 2) {
        for (uint32_t x = 0; x < w; x += 3) {
          float px = static_cast<float>(2.0 * (x + 0.5) / w - 1.0);
          float py = static_cast<float>(2.0 * (y + 0.5) / hh - 1.0);
          float o[3];
          net->evaluate(&px, &py, 1, o);
          for (uint32_t c = 0; c < 3; ++c) {
            const double s = std::clamp(o[c] * h.stddev[c] + h.mean[c], 0.0f, 1.0f);
            CHECK(std::abs(whole->at(x, y, c) - std::lround(255.0 * s)) <= 1);
          }
        }
      }
      if (w < 4 || hh < 4) continue;
      for (int threads : {1, 3}) {
        DecodeOptions o = full;
        o.region_x = 1;
        o.region_y = 2;
        o.region_width = w - 3;
        o.region_height = hh - 3;
        o.threads = threads;
        StatusOr<Image> part = decode_nif(f.value(), o);
        REQUIRE(part.ok());
        bool same = true;
        for (uint32_t y = 0; y < o.region_height; ++y) {
          for (uint32_t x = 0; x < o.region_width; ++x) {
            for (uint32_t c = 0; c < 3; ++c) {
              same = same && part->at(x, y, c) == whole->at(x + 1, y + 2, c);
            }
          }
        }
        CHECK(same);
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

// Golden vectors: committed .nif files and their expected decodes
// (made by tools/make_golden.sh).  A conforming decoder matches each sample
// within 1 (SPEC.md §8).
TEST_CASE("golden vectors decode to their expected images") {
  struct Golden {
    const char* name;
    DecodeOptions options;  // as tools/make_golden.sh decoded them
  };
  DecodeOptions stored, scaled, wide, region, grid, tiled, grid_rc;
  grid_rc.region_x = 20;  // --region 20,10,120,90: a range-coded grid file (SPEC.md §6.5)
  grid_rc.region_y = 10;
  grid_rc.region_width = 120;
  grid_rc.region_height = 90;
  grid.width = 150;   // --width 150 of 192x128: a grid file at another size
  tiled.width = 288;  // --scale 1.5 --region 30,20,200,150 of a 3x2-tiled 192x128 file
  tiled.height = 192;
  tiled.region_x = 30;
  tiled.region_y = 20;
  tiled.region_width = 200;
  tiled.region_height = 150;

  scaled.width = 90;  // --scale 1.5 of 60x40
  scaled.height = 60;
  wide.width = 100;
  region.region_x = 10;
  region.region_y = 5;
  region.region_width = 30;
  region.region_height = 20;
  const Golden goldens[] = {{"golden-siren-pe", stored},     {"golden-gray16", stored},
                            {"golden-rgba-relu-pe", scaled}, {"golden-fourier", wide},
                            {"golden-siren", region},        {"golden-grid", grid},
                            {"golden-tiled", tiled},         {"golden-grid-rc", grid_rc}};
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

// ---- tiled files (SPEC.md §11) ----------------------------------------------------------

// SPEC.md §11.2 written out again, independently of format/: the weight of tile k of n at
// u along an axis of `size` pixels.
double spec_tile_weight(uint32_t size, uint32_t n, uint32_t o, uint32_t k, double u) {
  const auto c = [&](uint64_t i) { return static_cast<double>(i * size / n); };
  const double b = k == 0 ? 0.0 : c(k) - o;
  const double e = k == n - 1 ? size : c(k + 1) + o;
  double w = 1.0;
  if (k > 0) w = std::min(w, (u - b) / (2.0 * o));
  if (k < n - 1) w = std::min(w, (e - u) / (2.0 * o));
  return std::max(w, 0.0);
}

// The expected sample of linear_tiled_file at stored-pixel position (u, v).
double spec_tiled_value(uint32_t w, uint32_t h, uint32_t nx, uint32_t ny, uint32_t o,
                        const testing::LinearField& f, const std::vector<double>& offsets, double u,
                        double v) {
  double s = 0.0;
  for (uint32_t r = 0; r < ny; ++r) {
    for (uint32_t q = 0; q < nx; ++q) {
      const double wt = spec_tile_weight(w, nx, o, q, u) * spec_tile_weight(h, ny, o, r, v);
      s += wt * (f.k0 + f.kx * u / w + f.ky * v / h + offsets[r * nx + q]);
    }
  }
  return std::clamp(s, 0.0, 1.0);
}

struct TiledCase {
  uint32_t width = 90, height = 70, columns = 3, rows = 2, overlap = 4;
  std::vector<testing::LinearField> fields = {{0.2, 0.3, 0.3}, {0.7, -0.4, 0.1}};
  std::vector<double> offsets = {0, 0, 0, 0, 0, 0};

  NifFile file() const {
    const std::vector<uint8_t> bytes =
        testing::linear_tiled_file(width, height, columns, rows, overlap, fields, offsets);
    REQUIRE(!bytes.empty());
    StatusOr<NifFile> f = parse_nif(bytes.data(), bytes.size());
    REQUIRE_MESSAGE(f.ok(), f.status().message());
    return f.value();
  }
  // Largest difference in 8-bit levels from the spec's value over a W' x H' decode.
  int max_error(const Image& img, uint32_t out_w, uint32_t out_h) const {
    int worst = 0;
    for (uint32_t y = 0; y < img.height; ++y) {
      for (uint32_t x = 0; x < img.width; ++x) {
        const double u = (x + 0.5) * width / out_w, v = (y + 0.5) * height / out_h;
        for (uint32_t c = 0; c < fields.size(); ++c) {
          const double want =
              spec_tiled_value(width, height, columns, rows, overlap, fields[c], offsets, u, v);
          worst = std::max(worst,
                           std::abs(img.at(x, y, c) - static_cast<int>(std::lround(255.0 * want))));
        }
      }
    }
    return worst;
  }
};

TEST_CASE("a tiled file decodes to its cross-faded tiles at the stored size and at 2x") {
  TiledCase tc;
  tc.offsets = {0.05, -0.05, 0.03, -0.02, 0.04, -0.04};
  const NifFile f = tc.file();
  StatusOr<Image> img = decode_nif(f, DecodeOptions());
  REQUIRE_MESSAGE(img.ok(), img.status().message());
  CHECK(img->width == 90);
  CHECK(img->height == 70);
  CHECK(img->channels == 2);
  CHECK(tc.max_error(img.value(), 90, 70) <= 1);
  DecodeOptions o2;
  o2.width = 180;
  o2.height = 140;  // more than one band of rows
  StatusOr<Image> big = decode_nif(f, o2);
  REQUIRE(big.ok());
  CHECK(tc.max_error(big.value(), 180, 140) <= 1);
  DecodeOptions odd;
  odd.width = 37;  // downscaled, not a multiple of anything
  StatusOr<Image> small = decode_nif(f, odd);
  REQUIRE(small.ok());
  CHECK(small->height == 29);
  CHECK(tc.max_error(small.value(), 37, 29) <= 1);
}

TEST_CASE("a region of a tiled decode is the same crop of the full decode, on any threads") {
  TiledCase tc;
  tc.offsets = {0.05, -0.05, 0.03, -0.02, 0.04, -0.04};
  const NifFile f = tc.file();
  DecodeOptions full;
  full.width = 180;
  full.height = 140;
  full.threads = 1;
  StatusOr<Image> a = decode_nif(f, full);
  REQUIRE(a.ok());
  for (int threads : {2, 5}) {
    DecodeOptions t = full;
    t.threads = threads;
    StatusOr<Image> b = decode_nif(f, t);
    REQUIRE(b.ok());
    CHECK(b->samples == a->samples);
  }
  const uint32_t regions[][4] = {
      {55, 60, 30, 20}, {0, 0, 180, 1}, {179, 0, 1, 140}, {80, 65, 17, 13}};
  for (const auto& r : regions) {
    DecodeOptions o = full;
    o.region_x = r[0];
    o.region_y = r[1];
    o.region_width = r[2];
    o.region_height = r[3];
    o.threads = 3;
    StatusOr<Image> crop = decode_nif(f, o);
    REQUIRE(crop.ok());
    bool same = true;
    for (uint32_t y = 0; y < r[3]; ++y) {
      for (uint32_t x = 0; x < r[2]; ++x) {
        for (uint32_t c = 0; c < 2; ++c) {
          same = same && crop->at(x, y, c) == a->at(r[0] + x, r[1] + y, c);
        }
      }
    }
    CHECK_MESSAGE(same, "region " << r[0] << "," << r[1] << "," << r[2] << "," << r[3]);
  }
  // Supersampling averages the blended samples (SPEC.md §7, §11.2).
  DecodeOptions ss;
  ss.supersample = 3;
  StatusOr<Image> s = decode_nif(f, ss);
  REQUIRE(s.ok());
  StatusOr<Image> plain = decode_nif(f, DecodeOptions());
  REQUIRE(plain.ok());
  int worst = 0;
  for (size_t i = 0; i < s->samples.size(); ++i) {
    worst = std::max(worst, std::abs(s->samples[i] - plain->samples[i]));
  }
  CHECK(worst <= 2);  // a linear field: the average of a pixel's points is its centre's value
}

TEST_CASE("no seams: tiles that disagree are cross-faded, tiles that agree join invisibly") {
  for (bool disagree : {false, true}) {
    CAPTURE(disagree);
    TiledCase tc;
    if (disagree) tc.offsets = {0.06, -0.06, 0.06, -0.06, 0.06, -0.06};
    const NifFile f = tc.file();
    StatusOr<Image> img = decode_nif(f, DecodeOptions());
    REQUIRE(img.ok());
    // The largest step between neighbouring pixels, in 8-bit levels: the field's own
    // slope plus, where tiles disagree, their difference spread over 2 * overlap pixels.
    const double jump = disagree ? 0.12 : 0.0;
    const double bound_x = 255.0 * (0.4 / tc.width + jump / (2.0 * tc.overlap)) + 1.0;
    const double bound_y = 255.0 * (0.3 / tc.height + jump / (2.0 * tc.overlap)) + 1.0;
    int step_x = 0, step_y = 0;
    for (uint32_t y = 0; y < img->height; ++y) {
      for (uint32_t x = 0; x < img->width; ++x) {
        for (uint32_t c = 0; c < 2; ++c) {
          if (x + 1 < img->width) {
            step_x = std::max(step_x, std::abs(img->at(x + 1, y, c) - img->at(x, y, c)));
          }
          if (y + 1 < img->height) {
            step_y = std::max(step_y, std::abs(img->at(x, y + 1, c) - img->at(x, y, c)));
          }
        }
      }
    }
    CHECK(step_x <= bound_x);
    CHECK(step_y <= bound_y);
    if (!disagree) {
      // Agreeing tiles: the decode is the field itself, within rounding.
      CHECK(tc.max_error(img.value(), 90, 70) <= 1);
      CHECK(step_x <= 3);
    } else {
      CHECK(step_x < 0.12 * 255 / 2);  // a hard seam would jump by 0.12 (31 levels)
    }
  }
}

TEST_CASE("Network::create refuses a tiled file; limits apply to tiled decodes") {
  TiledCase tc;
  const NifFile f = tc.file();
  CHECK(Network::create(f).status().code() == StatusCode::kInvalidArgument);
  CHECK(Network::create(f.tiles[0]).ok());
  DecodeOptions o;
  o.width = 1000;
  o.height = 1000;
  o.max_output_pixels = 999999;
  CHECK(decode_nif(f, o).status().code() == StatusCode::kLimit);
  NifFile broken = f;
  broken.tiles.pop_back();
  CHECK(decode_nif(broken, DecodeOptions()).status().code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nifc
