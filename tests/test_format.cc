// The .nif container: round trips, damaged files, limits, format evolution.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "format/level_coder.h"
#include "format/nif_format.h"
#include "format/tile_layout.h"
#include "tests/nif_test_util.h"

namespace nifc {
namespace {

using testing::grid_arch;
using testing::insert_section;
using testing::join_sections;
using testing::linear_tiled_file;
using testing::make_header;
using testing::random_tensors;
using testing::RawSection;
using testing::siren_pe;
using testing::split_sections;
using testing::with_version;

std::vector<uint8_t> small_file(uint8_t bits = 8) {
  const NifFile h = make_header(siren_pe(), 3, bits);
  StatusOr<std::vector<uint8_t>> bytes = serialize_nif(h, random_tensors(h), 3);
  REQUIRE(bytes.ok());
  return bytes.value();
}

std::vector<uint8_t> grid_file(uint8_t bits = 8, uint32_t channels = 3) {
  const NifFile h = make_header(grid_arch(), channels, bits);
  StatusOr<std::vector<uint8_t>> bytes = serialize_nif(h, random_tensors(h, 5), 3);
  REQUIRE(bytes.ok());
  return bytes.value();
}

// SPEC.md §6.4: the GRID section and the latent tensors after the MLP's.
TEST_CASE("grid files round trip, are version 1.1, and need their GRID section") {
  for (uint32_t channels = 1; channels <= 4; ++channels) {
    for (uint8_t bits : {6, 8, 12}) {
      CAPTURE(channels);
      CAPTURE(int{bits});
      const NifFile h = make_header(grid_arch(), channels, bits);
      const std::vector<QuantizedTensor> q = random_tensors(h, 5);
      StatusOr<std::vector<uint8_t>> bytes = serialize_nif(h, q, 3);
      REQUIRE(bytes.ok());
      CHECK((*bytes)[9] == 1);  // minor version 1.1 (SPEC.md §2)
      StatusOr<NifFile> f = parse_nif(bytes->data(), bytes->size());
      REQUIRE_MESSAGE(f.ok(), f.status().message());
      CHECK(f->version_minor == 1);
      CHECK(f->arch.encoding == Encoding::kGrid);
      CHECK(f->arch.grid_channels == 2);
      REQUIRE(f->arch.grid_levels.size() == 3);
      CHECK(f->arch.grid_levels[0].width == 9);
      CHECK(f->arch.grid_levels[0].height == 7);
      CHECK(f->arch.grid_levels[2].width == 1);
      CHECK(encoded_input_dim(f->arch) == 6);
      REQUIRE(f->tensors.size() == q.size());
      REQUIRE(f->tensors.size() == 2 * 3 + 3);
      CHECK(f->tensors[6].size() == 9 * 7 * 2);
      for (size_t t = 0; t < q.size(); ++t) {
        for (size_t i = 0; i < q[t].levels.size(); ++i) {
          CHECK(f->tensors[t][i] == static_cast<float>(q[t].levels[i]) * q[t].step);
        }
      }
      CHECK(parameter_count(f->arch, channels) ==
            (6 * 8 + 8) + (8 * 8 + 8) + (8 * channels + channels) + 2 * (63 + 20 + 1));
    }
  }
  // Files without a grid stay 1.0 (the lowest version that describes them).
  CHECK(small_file()[9] == 0);

  // GRID where NETW has no grid encoding, and a grid encoding without GRID.
  const std::vector<uint8_t> extra =
      insert_section(small_file(), "GRID", {1, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0});
  StatusOr<NifFile> e = parse_nif(extra.data(), extra.size());
  CHECK(e.status().code() == StatusCode::kCorrupt);
  const std::vector<uint8_t> file = grid_file();
  // Remove the GRID section: it follows NETW (SPEC.md §3 rule 4's writer order).
  std::vector<uint8_t> missing;
  size_t pos = 16;
  while (pos < file.size()) {
    const uint32_t len = file[pos] | file[pos + 1] << 8 | file[pos + 2] << 16 | file[pos + 3] << 24;
    if (std::memcmp(file.data() + pos + 4, "GRID", 4) != 0) {
      missing.insert(missing.end(), file.begin() + pos, file.begin() + pos + 12 + len);
    }
    pos += 12 + len;
  }
  missing.insert(missing.begin(), file.begin(), file.begin() + 16);
  REQUIRE(missing.size() < file.size());
  StatusOr<NifFile> m = parse_nif(missing.data(), missing.size());
  CHECK(m.status().code() == StatusCode::kCorrupt);
  CHECK(m.status().message().find("GRID") != std::string::npos);
  const std::vector<uint8_t> dup = insert_section(file, "GRID", {3, 2, 0, 0});
  CHECK(parse_nif(dup.data(), dup.size()).status().code() == StatusCode::kCorrupt);
}

TEST_CASE("grid files: every truncation and every single-bit flip is refused") {
  const std::vector<uint8_t> file = grid_file(8, 1);
  REQUIRE(parse_nif(file.data(), file.size()).ok());
  for (size_t n = 0; n < file.size(); ++n) {
    CHECK_FALSE(parse_nif(file.data(), n).ok());
  }
  for (size_t i = 0; i < file.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> d = file;
      d[i] ^= static_cast<uint8_t>(1u << bit);
      const bool ok = parse_nif(d.data(), d.size()).ok();
      if (ok) FAIL_CHECK("flip of bit " << bit << " of byte " << i << " accepted");
    }
  }
}

// SPEC.md §6.5: the range coder returns every level, for every shape, magnitude and
// distribution, and its stream must end exactly where the decoder stops.
TEST_CASE("the range coder round trips levels and checks its stream's length") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 40; ++trial) {
    CAPTURE(trial);
    const int32_t limit = trial % 4 == 0 ? 32767 : trial % 4 == 1 ? 127 : trial % 4 == 2 ? 3 : 1;
    std::vector<LevelShape> shapes;
    std::vector<std::vector<int32_t>> levels;
    const int tensors = 1 + trial % 5;
    for (int t = 0; t < tensors; ++t) {
      LevelShape sh;
      sh.planes = 1 + rng() % 3;
      sh.rows = 1 + rng() % 9;
      sh.cols = 1 + rng() % 17;
      sh.context_set = static_cast<uint32_t>(rng() % 17);
      // Sparse, dense, or all at the limit.
      const int kind = static_cast<int>(rng() % 3);
      std::uniform_int_distribution<int32_t> dist(-limit, limit);
      std::vector<int32_t> v(sh.planes * sh.rows * sh.cols);
      for (int32_t& x : v) {
        x = kind == 0   ? (rng() % 8 == 0 ? dist(rng) : 0)
            : kind == 1 ? dist(rng)
                        : (rng() % 2 ? limit : -limit);
      }
      shapes.push_back(sh);
      levels.push_back(std::move(v));
    }
    std::vector<const int32_t*> pointers;
    for (const std::vector<int32_t>& v : levels) pointers.push_back(v.data());
    const std::vector<uint8_t> coded = encode_levels(shapes, pointers);
    std::vector<std::vector<int32_t>> back;
    REQUIRE(decode_levels(coded.data(), coded.size(), shapes, limit, &back).ok());
    CHECK(back == levels);
    // One byte short, one byte more, a non-zero first byte: corrupt.
    CHECK(decode_levels(coded.data(), coded.size() - 1, shapes, limit, &back).code() ==
          StatusCode::kCorrupt);
    std::vector<uint8_t> longer = coded;
    longer.push_back(0);
    CHECK(decode_levels(longer.data(), longer.size(), shapes, limit, &back).code() ==
          StatusCode::kCorrupt);
    std::vector<uint8_t> first = coded;
    first[0] = 1;
    CHECK(decode_levels(first.data(), first.size(), shapes, limit, &back).code() ==
          StatusCode::kCorrupt);
    // A smaller limit than the levels reach is corrupt.
    if (limit > 1) {
      CHECK(decode_levels(coded.data(), coded.size(), shapes, limit / 2, &back).code() ==
            StatusCode::kCorrupt);
    }
  }
}

// A sparse field of small levels whose magnitudes cluster, like trained latents,
// costs well under zstd's order-0 bound: the neighbour contexts see the clusters.
TEST_CASE("the range coder codes clustered sparse levels compactly") {
  LevelShape sh;
  sh.rows = 128;
  sh.cols = 128;
  sh.context_set = 1;
  std::mt19937 rng(3);
  std::vector<int32_t> v(sh.rows * sh.cols, 0);
  for (uint64_t r = 0; r < sh.rows; ++r) {
    for (uint64_t c = 0; c < sh.cols; ++c) {
      const bool busy = (r / 32) % 2 == 0 && (c / 32) % 2 == 0;  // a quarter of the blocks
      if (busy && rng() % 2 == 0) v[r * sh.cols + c] = static_cast<int32_t>(rng() % 5) - 2;
    }
  }
  double h0 = 0;  // order-0 entropy in bytes
  for (int32_t x = -2; x <= 2; ++x) {
    const double n = static_cast<double>(std::count(v.begin(), v.end(), x));
    if (n > 0) h0 -= n * std::log2(n / static_cast<double>(v.size())) / 8;
  }
  const std::vector<uint8_t> coded = encode_levels({sh}, {v.data()});
  CAPTURE(coded.size());
  CAPTURE(h0);
  CHECK(static_cast<double>(coded.size()) < 0.85 * h0);
}

// Grid files are range coded by default in the encoder; any file may use it.
TEST_CASE("range-coded files are version 1.3 and round trip; other compressions are refused") {
  for (const Architecture& arch : {grid_arch(), siren_pe()}) {
    for (uint8_t bits : {4, 8, 16}) {
      NifFile h = make_header(arch, 3, bits);
      h.compression = kCompressionRange;
      const std::vector<QuantizedTensor> q = random_tensors(h, 9);
      StatusOr<std::vector<uint8_t>> bytes = serialize_nif(h, q, 3);
      REQUIRE(bytes.ok());
      CHECK((*bytes)[9] == 3);
      StatusOr<NifFile> f = parse_nif(bytes->data(), bytes->size());
      REQUIRE_MESSAGE(f.ok(), f.status().message());
      CHECK(f->compression == kCompressionRange);
      REQUIRE(f->tensors.size() == q.size());
      for (size_t t = 0; t < q.size(); ++t) {
        for (size_t i = 0; i < q[t].levels.size(); ++i) {
          REQUIRE(f->tensors[t][i] == static_cast<float>(q[t].levels[i]) * q[t].step);
        }
      }
    }
  }
  NifFile h = make_header(grid_arch(), 1, 8);
  h.compression = kCompressionRange;
  StatusOr<std::vector<uint8_t>> bytes = serialize_nif(h, random_tensors(h, 2), 3);
  REQUIRE(bytes.ok());
  // Every truncation and single-bit flip is refused (the CRC, then the coder's checks).
  for (size_t n = 0; n < bytes->size(); ++n) CHECK_FALSE(parse_nif(bytes->data(), n).ok());
  for (size_t i = 0; i < bytes->size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> d = *bytes;
      d[i] ^= static_cast<uint8_t>(1u << bit);
      if (parse_nif(d.data(), d.size()).ok()) FAIL_CHECK("flip " << i << ":" << bit);
    }
  }
  // The writer knows compressions 1 and 2 only.
  h.compression = 3;
  CHECK(serialize_nif(h, random_tensors(h, 2), 3).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("invalid grid geometry is refused") {
  for (int which = 0; which < 4; ++which) {
    Architecture a = grid_arch();
    if (which == 0) a.grid_channels = 0;
    if (which == 1) a.grid_channels = 17;
    if (which == 2) a.grid_levels.clear();
    if (which == 3) a.grid_levels[1].width = 0;
    CHECK(validate_architecture(a, 3, NifLimits()).code() == StatusCode::kCorrupt);
  }
  Architecture big = grid_arch();
  big.grid_levels = {{4096, 4096}};
  NifLimits limits;
  CHECK(validate_architecture(big, 3, limits).code() == StatusCode::kLimit);  // 2^25 latents
}

TEST_CASE("crc32 matches the standard check value") {
  const char* s = "123456789";
  CHECK(crc32(reinterpret_cast<const uint8_t*>(s), 9) == 0xCBF43926u);
}

TEST_CASE("round trip of every architecture, channel count and bit width") {
  Architecture none;
  none.encoding = Encoding::kNone;
  none.activation = Activation::kSine;
  none.widths = {7, 5};
  Architecture relu_pe = siren_pe(3, 9, 3);
  relu_pe.activation = Activation::kRelu;
  relu_pe.pe_include_input = true;
  Architecture fourier;
  fourier.encoding = Encoding::kFourier;
  fourier.activation = Activation::kRelu;
  fourier.ff_features = 6;
  fourier.ff_sigma = 4.5f;
  fourier.ff_seed = 0x1234567890ABCDEFull;
  fourier.widths = {10};
  for (const Architecture& arch : {none, relu_pe, fourier, siren_pe()}) {
    for (uint32_t channels = 1; channels <= 4; ++channels) {
      for (uint8_t bits : {2, 5, 8, 9, 12, 16}) {
        CAPTURE(int{bits});
        CAPTURE(channels);
        const NifFile h = make_header(arch, channels, bits);
        const std::vector<QuantizedTensor> q = random_tensors(h, bits + channels);
        StatusOr<std::vector<uint8_t>> bytes = serialize_nif(h, q, 3);
        REQUIRE(bytes.ok());
        StatusOr<NifFile> f = parse_nif(bytes->data(), bytes->size());
        REQUIRE(f.ok());
        CHECK(f->width == h.width);
        CHECK(f->height == h.height);
        CHECK(f->channels == channels);
        CHECK(f->bits == bits);
        CHECK(f->mean == h.mean);
        CHECK(f->stddev == h.stddev);
        CHECK(f->arch.encoding == arch.encoding);
        CHECK(f->arch.activation == arch.activation);
        CHECK(f->arch.widths == arch.widths);
        CHECK(f->arch.pe_levels == arch.pe_levels);
        CHECK(f->arch.pe_include_input == arch.pe_include_input);
        CHECK(f->arch.ff_features == arch.ff_features);
        CHECK(f->arch.ff_sigma == arch.ff_sigma);
        CHECK(f->arch.ff_seed == arch.ff_seed);
        REQUIRE(f->tensors.size() == q.size());
        for (size_t t = 0; t < q.size(); ++t) {
          CHECK(f->steps[t] == q[t].step);
          REQUIRE(f->tensors[t].size() == q[t].levels.size());
          for (size_t i = 0; i < q[t].levels.size(); ++i) {
            CHECK(f->tensors[t][i] == static_cast<float>(q[t].levels[i]) * q[t].step);
          }
        }
      }
    }
  }
}

TEST_CASE("quantize_tensor is symmetric, in range, and within half a step") {
  std::vector<float> v = {0.0f, 0.5f, -1.0f, 0.33f, 0.999f, -0.001f};
  for (int bits : {2, 4, 8, 16}) {
    const QuantizedTensor q = quantize_tensor(v, bits);
    const int top = (1 << (bits - 1)) - 1;
    CHECK(q.step == doctest::Approx(1.0f / top));
    for (size_t i = 0; i < v.size(); ++i) {
      CHECK(std::abs(q.levels[i]) <= top);
      CHECK(std::fabs(q.levels[i] * q.step - v[i]) <= 0.5f * q.step + 1e-7f);
    }
  }
  CHECK(quantize_tensor({0.0f, 0.0f}, 8).step == 1.0f);  // an all-zero tensor
}

TEST_CASE("every truncation of a file is rejected") {
  const std::vector<uint8_t> file = small_file();
  for (size_t len = 0; len < file.size(); ++len) {
    CAPTURE(len);
    StatusOr<NifFile> f = parse_nif(file.data(), len);
    CHECK_FALSE(f.ok());
    CHECK(f.status().code() == StatusCode::kCorrupt);
  }
}

TEST_CASE("every single-bit flip is rejected") {
  for (uint8_t bits : {8, 12}) {
    const std::vector<uint8_t> file = small_file(bits);
    int rejected = 0;
    for (size_t i = 0; i < file.size(); ++i) {
      for (int b = 0; b < 8; ++b) {
        std::vector<uint8_t> bad = file;
        bad[i] ^= static_cast<uint8_t>(1u << b);
        StatusOr<NifFile> f = parse_nif(bad.data(), bad.size());
        if (!f.ok()) ++rejected;
      }
    }
    CHECK(rejected == static_cast<int>(file.size() * 8));
  }
}

TEST_CASE("data after IEND and a bad magic are rejected") {
  std::vector<uint8_t> file = small_file();
  file.push_back(0);
  CHECK(parse_nif(file.data(), file.size()).status().code() == StatusCode::kCorrupt);
  const char png[] = "\x89PNG\r\n\x1a\n0000000000000000000000";
  StatusOr<NifFile> f = parse_nif(reinterpret_cast<const uint8_t*>(png), sizeof png);
  CHECK(f.status().message().find("bad magic") != std::string::npos);
}

TEST_CASE("versions: another major is refused, a newer minor is read") {
  const std::vector<uint8_t> file = small_file();
  const std::vector<uint8_t> v2 = with_version(file, 2, 0);
  StatusOr<NifFile> f = parse_nif(v2.data(), v2.size());
  CHECK(f.status().code() == StatusCode::kUnsupported);
  CHECK(f.status().message().find("version 2.0") != std::string::npos);
  const std::vector<uint8_t> v1_7 = with_version(file, 1, 7);
  CHECK(parse_nif(v1_7.data(), v1_7.size()).ok());
}

TEST_CASE("unknown sections: optional ones are skipped, required ones refused") {
  const std::vector<uint8_t> file = small_file();
  const std::vector<uint8_t> optional = insert_section(file, "meta", {1, 2, 3, 4, 5});
  StatusOr<NifFile> f = parse_nif(optional.data(), optional.size());
  REQUIRE(f.ok());
  const std::vector<uint8_t> required = insert_section(file, "FUTR", {1, 2, 3});
  StatusOr<NifFile> g = parse_nif(required.data(), required.size());
  CHECK(g.status().code() == StatusCode::kUnsupported);
  CHECK(g.status().message().find("FUTR") != std::string::npos);
  const std::vector<uint8_t> dup = insert_section(file, "NORM", std::vector<uint8_t>(24, 0));
  CHECK(parse_nif(dup.data(), dup.size()).status().message().find("duplicate") !=
        std::string::npos);
}

TEST_CASE("limits are enforced from the header, before the payload") {
  const NifFile h = make_header(siren_pe(4, 200, 3), 3, 8, 5000, 4000);
  StatusOr<std::vector<uint8_t>> bytes = serialize_nif(h, random_tensors(h), 1);
  REQUIRE(bytes.ok());
  NifLimits small;
  small.max_width = 4096;
  CHECK(parse_nif(bytes->data(), bytes->size(), small).status().code() == StatusCode::kLimit);
  NifLimits few_params;
  few_params.max_parameters = 1000;
  CHECK(parse_nif(bytes->data(), bytes->size(), few_params).status().code() == StatusCode::kLimit);
  NifLimits narrow;
  narrow.max_width_per_layer = 100;
  CHECK(parse_nif(bytes->data(), bytes->size(), narrow).status().code() == StatusCode::kLimit);
  CHECK(parse_nif(bytes->data(), bytes->size()).ok());
}

TEST_CASE("parse_nif_header describes a file without its weights") {
  const std::vector<uint8_t> file = small_file();
  StatusOr<NifFile> f = parse_nif_header(file.data(), file.size());
  REQUIRE(f.ok());
  CHECK(f->tensors.empty());
  CHECK(f->payload_bytes > 0);
  CHECK(parameter_count(f->arch, f->channels) == (16 * 12 + 12) + (12 * 12 + 12) + (12 * 3 + 3));
}

TEST_CASE("the Fourier matrix is reproducible and roughly N(0, sigma^2)") {
  Architecture a;
  a.encoding = Encoding::kFourier;
  a.ff_features = 2048;
  a.ff_sigma = 3.0f;
  a.ff_seed = 42;
  const std::vector<float> b1 = fourier_matrix(a), b2 = fourier_matrix(a);
  CHECK(b1 == b2);
  // The first value is part of the spec (SPEC.md §6.1): a decoder must reproduce it exactly.
  a.ff_features = 1;
  a.ff_sigma = 1.0f;
  a.ff_seed = 0;
  const std::vector<float> first = fourier_matrix(a);
  REQUIRE(first.size() == 2);
  // Computed independently (Python, from SPEC.md's pseudo-code).
  CHECK(first[0] == 0.04646313190460205f);
  CHECK(first[1] == 1.3829455375671387f);
  double sum = 0, sum2 = 0;
  for (float v : b1) {
    sum += v;
    sum2 += double{v} * v;
  }
  const double mean = sum / b1.size();
  CHECK(std::fabs(mean) < 0.2);
  CHECK(std::sqrt(sum2 / b1.size() - mean * mean) == doctest::Approx(3.0).epsilon(0.05));
}

TEST_CASE("serialize_nif refuses inconsistent input") {
  NifFile h = make_header(siren_pe(), 3, 8);
  std::vector<QuantizedTensor> q = random_tensors(h);
  q.pop_back();
  CHECK_FALSE(serialize_nif(h, q).ok());
  q = random_tensors(h);
  q[0].levels[0] = 1000;
  CHECK_FALSE(serialize_nif(h, q).ok());
  h.mean.pop_back();
  CHECK_FALSE(serialize_nif(h, random_tensors(h)).ok());
}

// ---- tiled files (SPEC.md §11) ----------------------------------------------------------

// The header of a tiled 3-channel 8-bit file (SPEC.md §11.1).
NifFile tiled_header(uint32_t width, uint32_t height, uint32_t columns, uint32_t rows,
                     uint32_t overlap) {
  NifFile h;
  h.width = width;
  h.height = height;
  h.channels = 3;
  h.source_bit_depth = 8;
  h.tile_columns = columns;
  h.tile_rows = rows;
  h.tile_overlap = overlap;
  return h;
}

// A 2 x 2 tiled 40 x 31 file (overlap 3) whose tiles have different networks: siren-pe,
// a grid, and random ReLU ones; the tile files are returned too.
std::vector<uint8_t> mixed_tiled_file(std::vector<std::vector<uint8_t>>* tile_files = nullptr) {
  const NifFile h = tiled_header(40, 31, 2, 2, 3);
  std::vector<std::vector<uint8_t>> files;
  for (uint32_t t = 0; t < 4; ++t) {
    const TileSpan sx = tile_span(40, 2, 3, t % 2), sy = tile_span(31, 2, 3, t / 2);
    Architecture a = t == 1 ? grid_arch() : siren_pe(3, static_cast<uint16_t>(6 + t));
    const NifFile th = make_header(a, 3, t == 2 ? 12 : 8, sx.size(), sy.size());
    StatusOr<std::vector<uint8_t>> bytes = serialize_nif(th, random_tensors(th, 10 + t), 3);
    REQUIRE(bytes.ok());
    files.push_back(bytes.value());
  }
  StatusOr<std::vector<uint8_t>> tiled = assemble_tiled_nif(h, files);
  REQUIRE_MESSAGE(tiled.ok(), tiled.status().message());
  if (tile_files) *tile_files = files;
  return tiled.value();
}

TEST_CASE("tile spans and weights follow SPEC.md §11.1-11.2") {
  // 100 pixels in 3 tiles, overlap 5: cores [0,33) [33,66) [66,100).
  CHECK(tile_span(100, 3, 5, 0).begin == 0);
  CHECK(tile_span(100, 3, 5, 0).end == 38);
  CHECK(tile_span(100, 3, 5, 1).begin == 28);
  CHECK(tile_span(100, 3, 5, 1).end == 71);
  CHECK(tile_span(100, 3, 5, 2).begin == 61);
  CHECK(tile_span(100, 3, 5, 2).end == 100);
  CHECK(tile_span(100, 1, 5, 0).end == 100);
  for (double u = 0.25; u < 100; u += 0.5) {
    double sum = 0;
    for (uint32_t k = 0; k < 3; ++k) {
      const double w = tile_weight(tile_span(100, 3, 5, k), 3, 5, k, u);
      CHECK(w >= 0.0);
      CHECK(w <= 1.0);
      const TileSpan s = tile_span(100, 3, 5, k);
      CHECK((w > 0) == (u > s.begin && u < s.end));
      sum += w;
    }
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-12));
  }
  CHECK(tile_weight(tile_span(100, 3, 5, 1), 3, 5, 1, 33.0) == doctest::Approx(0.5));
  CHECK(tile_weight(tile_span(100, 3, 5, 0), 3, 5, 0, 30.5) == doctest::Approx(0.75));
  CHECK(validate_tile_layout(100, 10, 3, 1, 5, 10).ok());
  CHECK(validate_tile_layout(100, 10, 3, 1, 17, 10).code() == StatusCode::kCorrupt);
  CHECK(validate_tile_layout(100, 10, 3, 1, 16, 10).ok());  // cores of 33 >= 32
  CHECK(validate_tile_layout(100, 10, 3, 1, 0, 10).code() == StatusCode::kCorrupt);
  CHECK(validate_tile_layout(100, 10, 0, 1, 5, 10).code() == StatusCode::kCorrupt);
  CHECK(validate_tile_layout(2, 10, 3, 1, 1, 10).code() == StatusCode::kCorrupt);
  CHECK(validate_tile_layout(100, 10, 3, 1, 5, 2).code() == StatusCode::kLimit);
}

TEST_CASE("tiled files round trip as version 1.2 with every tile's network") {
  std::vector<std::vector<uint8_t>> tile_files;
  const std::vector<uint8_t> bytes = mixed_tiled_file(&tile_files);
  CHECK(bytes[9] == 2);  // minor version 1.2 (SPEC.md §2)
  StatusOr<NifFile> f = parse_nif(bytes.data(), bytes.size());
  REQUIRE_MESSAGE(f.ok(), f.status().message());
  CHECK(f->tiled());
  CHECK(f->version_minor == 2);
  CHECK(f->width == 40);
  CHECK(f->height == 31);
  CHECK(f->tile_columns == 2);
  CHECK(f->tile_rows == 2);
  CHECK(f->tile_overlap == 3);
  CHECK(f->tensors.empty());
  CHECK(f->bits == 12);
  REQUIRE(f->tiles.size() == 4);
  uint64_t params = 0, payload = 0;
  for (size_t t = 0; t < 4; ++t) {
    CAPTURE(t);
    StatusOr<NifFile> alone = parse_nif(tile_files[t].data(), tile_files[t].size());
    REQUIRE(alone.ok());
    const NifFile& tile = f->tiles[t];
    CHECK(tile.width == alone->width);
    CHECK(tile.height == alone->height);
    CHECK(tile.arch.encoding == alone->arch.encoding);
    CHECK(tile.arch.widths == alone->arch.widths);
    CHECK(tile.mean == alone->mean);
    CHECK(tile.stddev == alone->stddev);
    CHECK(tile.bits == alone->bits);
    CHECK(tile.steps == alone->steps);
    CHECK(tile.tensors == alone->tensors);
    params += parameter_count(tile.arch, tile.channels);
    payload += tile.payload_bytes;
  }
  CHECK(f->tiles[0].width == 23);  // core 20 + overlap 3
  CHECK(f->tiles[1].width == 23);
  CHECK(f->tiles[1].height == 18);
  CHECK(f->tiles[2].height == 19);  // core 16 + overlap 3
  CHECK(f->tiles[1].arch.encoding == Encoding::kGrid);
  CHECK(file_parameter_count(f.value()) == params);
  CHECK(f->payload_bytes == payload);
  StatusOr<NifFile> h = parse_nif_header(bytes.data(), bytes.size());
  REQUIRE(h.ok());
  REQUIRE(h->tiles.size() == 4);
  CHECK(h->tiles[3].tensors.empty());
  CHECK(h->tiles[3].arch.widths == f->tiles[3].arch.widths);
  CHECK(file_parameter_count(h.value()) == params);
  // The assembled file is smaller than its tiles' files together (SPEC.md §11.3).
  size_t separate = 0;
  for (const auto& t : tile_files) separate += t.size();
  CHECK(bytes.size() < separate);
}

// SPEC.md §2: a tiled file is 1.3 when any tile's weights are range coded, else 1.2.
TEST_CASE("tiled files with range-coded tiles are version 1.3") {
  for (int coded = 0; coded <= 2; ++coded) {  // how many of the two tiles are range coded
    const NifFile h = tiled_header(40, 20, 2, 1, 2);
    std::vector<std::vector<uint8_t>> files;
    for (uint32_t t = 0; t < 2; ++t) {
      const TileSpan sx = tile_span(h.width, 2, 2, t);
      NifFile th = make_header(t == 0 ? siren_pe() : grid_arch(), 3, 8, sx.size(), h.height);
      if (static_cast<int>(t) < coded) th.compression = kCompressionRange;
      StatusOr<std::vector<uint8_t>> f = serialize_nif(th, random_tensors(th, t + 1), 3);
      REQUIRE(f.ok());
      files.push_back(f.value());
    }
    StatusOr<std::vector<uint8_t>> bytes = assemble_tiled_nif(h, files);
    REQUIRE(bytes.ok());
    CHECK((*bytes)[9] == (coded > 0 ? 3 : 2));
    StatusOr<NifFile> f = parse_nif(bytes->data(), bytes->size());
    REQUIRE_MESSAGE(f.ok(), f.status().message());
    REQUIRE(f->tiles.size() == 2);
    for (int t = 0; t < 2; ++t) {
      CHECK(f->tiles[t].compression == (t < coded ? kCompressionRange : kCompressionZstd));
    }
  }
}

TEST_CASE("assemble_tiled_nif refuses tiles that do not fit the layout") {
  std::vector<std::vector<uint8_t>> tile_files;
  mixed_tiled_file(&tile_files);
  NifFile h;
  h.width = 40;
  h.height = 31;
  h.channels = 3;
  h.tile_columns = 2;
  h.tile_rows = 2;
  h.tile_overlap = 3;
  CHECK(assemble_tiled_nif(h, tile_files).ok());
  std::swap(tile_files[0], tile_files[1]);  // same size
  CHECK(assemble_tiled_nif(h, tile_files).ok());
  std::swap(tile_files[0], tile_files[2]);  // 23x19 where 23x18 belongs
  CHECK(assemble_tiled_nif(h, tile_files).status().code() == StatusCode::kInvalidArgument);
  tile_files.pop_back();
  CHECK(assemble_tiled_nif(h, tile_files).status().code() == StatusCode::kInvalidArgument);
  h.tile_overlap = 0;
  CHECK(assemble_tiled_nif(h, tile_files).status().code() == StatusCode::kInvalidArgument);
  NifFile plain = make_header(siren_pe(), 3, 8);
  plain.tile_columns = 1;
  CHECK(serialize_nif(plain, random_tensors(plain)).status().code() ==
        StatusCode::kInvalidArgument);
}

// A tiled file with one section changed; the CRCs are recomputed, so the field checks
// behind them are what refuses it.
std::vector<uint8_t> with_sections(const std::vector<uint8_t>& file,
                                   void (*edit)(std::vector<RawSection>*)) {
  std::vector<RawSection> s = split_sections(file);
  edit(&s);
  return join_sections(file, s);
}

RawSection* find(std::vector<RawSection>* s, const char* tag, int nth = 0) {
  for (RawSection& r : *s) {
    if (r.tag == tag && nth-- == 0) return &r;
  }
  return nullptr;
}

TEST_CASE("bad tile headers and TNET sections are refused") {
  const std::vector<uint8_t> good = mixed_tiled_file();
  REQUIRE(parse_nif(good.data(), good.size()).ok());
  struct Case {
    const char* name;
    void (*edit)(std::vector<RawSection>*);
    StatusCode code;
    const char* message;
  };
  const Case cases[] = {
      {"overlap 0", [](std::vector<RawSection>* s) { find(s, "TILE")->data[8] = 0; },
       StatusCode::kCorrupt, "overlap is 0"},
      {"0 columns", [](std::vector<RawSection>* s) { find(s, "TILE")->data[0] = 0; },
       StatusCode::kCorrupt, "0 columns"},
      {"cores too narrow", [](std::vector<RawSection>* s) { find(s, "TILE")->data[8] = 8; },
       StatusCode::kCorrupt, "narrower than twice"},
      {"more columns than pixels", [](std::vector<RawSection>* s) { find(s, "TILE")->data[1] = 1; },
       StatusCode::kCorrupt, "tile layout of 258x2"},
      {"reserved", [](std::vector<RawSection>* s) { find(s, "TILE")->data[12] = 1; },
       StatusCode::kCorrupt, "reserved TILE"},
      {"TILE too long", [](std::vector<RawSection>* s) { find(s, "TILE")->data.push_back(0); },
       StatusCode::kCorrupt, "section TILE has 17 bytes"},
      {"a TNET missing", [](std::vector<RawSection>* s) { s->erase(s->begin() + 3); },
       StatusCode::kCorrupt, "3 TNET sections"},
      {"a TNET too many", [](std::vector<RawSection>* s) { s->insert(s->begin() + 3, (*s)[3]); },
       StatusCode::kCorrupt, "5 TNET sections"},
      {"TNETs out of order", [](std::vector<RawSection>* s) { std::swap((*s)[2], (*s)[3]); },
       StatusCode::kCorrupt, "holds tile 1"},
      {"part lengths too long",
       [](std::vector<RawSection>* s) { find(s, "TNET", 2)->data[9] = 0x7f; }, StatusCode::kCorrupt,
       "tile 2: TNET part lengths exceed"},
      {"NORM part of the wrong size",
       [](std::vector<RawSection>* s) {
         RawSection* t = find(s, "TNET", 0);
         t->data[4] = 20;  // 24 bytes of NORM for 3 channels
         t->data[8] += 4;  // NETW starts earlier and is longer
       },
       StatusCode::kCorrupt, "tile 0: section NORM has 20 bytes"},
      {"GRID part missing",
       [](std::vector<RawSection>* s) {
         RawSection* t = find(s, "TNET", 1);
         t->data[8] += t->data[12];  // the GRID bytes become NETW's: wrong size first
         t->data[12] = 0;
       },
       StatusCode::kCorrupt, "tile 1: missing GRID part"},
      {"GRID part superfluous",
       [](std::vector<RawSection>* s) {
         RawSection* t = find(s, "TNET", 0);
         t->data[8] -= 4;  // NETW's last 4 bytes become a GRID part
         t->data[12] = 4;
       },
       StatusCode::kCorrupt, "tile 0: GRID part in a tile without"},
      {"NORM section in a tiled file",
       [](std::vector<RawSection>* s) {
         s->insert(s->begin() + 2, RawSection{"NORM", std::vector<uint8_t>(24, 0)});
       },
       StatusCode::kCorrupt, "section NORM in a tiled file"},
      {"TNET in an untiled file", [](std::vector<RawSection>* s) { s->erase(s->begin() + 1); },
       StatusCode::kCorrupt, "TNET in a file without a TILE"},
      {"bad bit width",
       [](std::vector<RawSection>* s) {
         RawSection* t = find(s, "TNET", 3);
         const size_t wgts = 16 + t->data[4] + t->data[8] + t->data[12];  // all < 256 here
         t->data[wgts] = 1;
       },
       StatusCode::kCorrupt, "tile 3: invalid bit width 1"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const std::vector<uint8_t> bad = with_sections(good, c.edit);
    StatusOr<NifFile> f = parse_nif(bad.data(), bad.size());
    CHECK(f.status().code() == c.code);
    CHECK_MESSAGE(f.status().message().find(c.message) != std::string::npos, f.status().message());
  }
  // Limits: tiles, and parameters over all tiles, before anything is decompressed.
  NifLimits few_tiles;
  few_tiles.max_tiles = 3;
  CHECK(parse_nif(good.data(), good.size(), few_tiles).status().code() == StatusCode::kLimit);
  StatusOr<NifFile> f = parse_nif(good.data(), good.size());
  REQUIRE(f.ok());
  NifLimits few_params;
  few_params.max_parameters = file_parameter_count(f.value()) - 1;
  StatusOr<NifFile> g = parse_nif(good.data(), good.size(), few_params);
  CHECK(g.status().code() == StatusCode::kLimit);
  CHECK(g.status().message().find("tiles hold more than") != std::string::npos);
  few_params.max_parameters += 1;
  CHECK(parse_nif(good.data(), good.size(), few_params).ok());
  // A 1.1 reader's view: TILE is an unknown required section (SPEC.md §2).
  CHECK(std::string(reinterpret_cast<const char*>(good.data()) + 16 + 24 + 4, 4) == "TILE");
}

TEST_CASE("every truncation and bit flip of a tiled file is refused") {
  const std::vector<uint8_t> file =
      linear_tiled_file(30, 20, 2, 2, 2, {{0.2, 0.3, 0.3}}, {0, 0, 0, 0});
  REQUIRE(parse_nif(file.data(), file.size()).ok());
  for (size_t n = 0; n < file.size(); ++n) {
    CHECK_FALSE(parse_nif(file.data(), n).ok());
  }
  for (size_t i = 0; i < file.size(); ++i) {
    for (int bit = 0; bit < 8; bit += 3) {
      std::vector<uint8_t> bad = file;
      bad[i] ^= static_cast<uint8_t>(1u << bit);
      CHECK_FALSE(parse_nif(bad.data(), bad.size()).ok());
    }
  }
}

}  // namespace
}  // namespace nifc
