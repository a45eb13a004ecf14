// The .nif container: round trips, damaged files, limits, format evolution.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "format/nif_format.h"
#include "tests/nif_test_util.h"

namespace nifc {
namespace {

using testing::grid_arch;
using testing::insert_section;
using testing::make_header;
using testing::random_tensors;
using testing::siren_pe;
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

}  // namespace
}  // namespace nifc
