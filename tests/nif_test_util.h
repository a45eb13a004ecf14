// Shared helpers for the tests: small networks, files, section surgery.
#ifndef NIFC_TESTS_NIF_TEST_UTIL_H_
#define NIFC_TESTS_NIF_TEST_UTIL_H_

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "format/nif_format.h"

namespace nifc::testing {

// A header for a small random network of `arch`, plus random quantized weights.
inline NifFile make_header(const Architecture& arch, uint32_t channels, uint8_t bits,
                           uint32_t width = 16, uint32_t height = 12) {
  NifFile h;
  h.width = width;
  h.height = height;
  h.channels = static_cast<uint8_t>(channels);
  h.source_bit_depth = 8;
  for (uint32_t c = 0; c < channels; ++c) {
    h.mean.push_back(0.25f + 0.1f * c);
    h.stddev.push_back(0.2f + 0.01f * c);
  }
  h.arch = arch;
  h.bits = bits;
  return h;
}

inline std::vector<QuantizedTensor> random_tensors(const NifFile& h, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  std::vector<QuantizedTensor> q;
  for (const LayerShape& s : layer_shapes(h.arch, h.channels)) {
    for (int part = 0; part < 2; ++part) {
      const size_t count = part == 0 ? size_t{s.in} * s.out : s.out;
      std::vector<float> v(count);
      const float bound = part == 0 ? 1.0f / static_cast<float>(s.in) : 0.5f;
      std::uniform_real_distribution<float> dist(-bound, bound);
      for (float& x : v) x = dist(rng);
      q.push_back(quantize_tensor(v, h.bits));
    }
  }
  return q;
}

inline Architecture siren_pe(uint8_t levels = 4, uint16_t width = 12, int layers = 2) {
  Architecture a;
  a.encoding = Encoding::kPositional;
  a.activation = Activation::kSine;
  a.pe_levels = levels;
  a.omega0 = 30.0f;
  a.omega = 30.0f;
  a.widths.assign(layers, width);
  return a;
}

inline void put_le32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// Returns `file` with a section (tag, data) inserted just before IEND, with a valid CRC.
inline std::vector<uint8_t> insert_section(const std::vector<uint8_t>& file, const char* tag,
                                           const std::vector<uint8_t>& data) {
  std::vector<uint8_t> sec(8 + data.size() + 4);
  put_le32(sec.data(), static_cast<uint32_t>(data.size()));
  std::memcpy(sec.data() + 4, tag, 4);
  std::memcpy(sec.data() + 8, data.data(), data.size());
  put_le32(sec.data() + 8 + data.size(), crc32(sec.data() + 4, 4 + data.size()));
  std::vector<uint8_t> out(file.begin(), file.end() - 12);  // IEND is the last 12 bytes
  out.insert(out.end(), sec.begin(), sec.end());
  out.insert(out.end(), file.end() - 12, file.end());
  return out;
}

// Returns `file` with its minor version set to `minor` (header CRC recomputed).
inline std::vector<uint8_t> with_version(std::vector<uint8_t> file, uint8_t major, uint8_t minor) {
  file[8] = major;
  file[9] = minor;
  put_le32(file.data() + 12, crc32(file.data(), 12));
  return file;
}

}  // namespace nifc::testing

#endif  // NIFC_TESTS_NIF_TEST_UTIL_H_
