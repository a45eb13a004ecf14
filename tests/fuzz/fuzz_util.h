// Helpers shared by the fuzz targets (tests/fuzz).
#ifndef NIFC_TESTS_FUZZ_FUZZ_UTIL_H_
#define NIFC_TESTS_FUZZ_FUZZ_UTIL_H_

#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "format/nif_format.h"

namespace nifc::fuzz {

// Aborts (libFuzzer then records the input) when an invariant the code under test promises
// does not hold: a crash is not the only kind of bug worth a reproducer.
#define NIFC_FUZZ_CHECK(cond)                                                           \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

inline uint32_t load_le32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
inline void store_le32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
inline void store_be32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

// `data` with every CRC that can be located recomputed (the preamble's, SPEC.md §2, and
// each section's, §3), so that mutations reach the code behind the checksum checks.  A
// random mutation almost never keeps a CRC valid; without this the fuzzer would spend
// nearly all its time on "checksum mismatch".
inline std::vector<uint8_t> repair_nif_checksums(const uint8_t* data, size_t size) {
  std::vector<uint8_t> out(data, data + size);
  if (size < 16) return out;
  store_le32(out.data() + 12, crc32(out.data(), 12));
  size_t pos = 16;
  while (size - pos >= 12) {
    const uint32_t length = load_le32(out.data() + pos);
    if (length > size - pos - 12) break;
    store_le32(out.data() + pos + 8 + length, crc32(out.data() + pos + 4, 4 + size_t{length}));
    pos += 12 + size_t{length};
  }
  return out;
}

// The same for PNG chunks (big-endian length, type, data, CRC over type and data).
inline std::vector<uint8_t> repair_png_checksums(const uint8_t* data, size_t size) {
  std::vector<uint8_t> out(data, data + size);
  size_t pos = 8;  // signature
  while (size >= pos && size - pos >= 12) {
    const uint32_t length = load_be32(out.data() + pos);
    if (length > size - pos - 12) break;
    const uLong crc = ::crc32(0L, out.data() + pos + 4, 4 + length);
    store_be32(out.data() + pos + 8 + length, static_cast<uint32_t>(crc));
    pos += 12 + size_t{length};
  }
  return out;
}

}  // namespace nifc::fuzz

#endif  // NIFC_TESTS_FUZZ_FUZZ_UTIL_H_
