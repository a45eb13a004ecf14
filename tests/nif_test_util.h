// Shared helpers for the tests: small networks, files, section surgery.
#ifndef NIFC_TESTS_NIF_TEST_UTIL_H_
#define NIFC_TESTS_NIF_TEST_UTIL_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "format/nif_format.h"
#include "format/tile_layout.h"

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
  // Grid latents (SPEC.md §6.4): levels in [-3, 3], step 1/8.
  if (h.arch.encoding == Encoding::kGrid) {
    const int32_t top = std::min<int32_t>(24, (1 << (h.bits - 1)) - 1);
    std::uniform_int_distribution<int32_t> dist(-top, top);
    for (const GridLevel& g : h.arch.grid_levels) {
      QuantizedTensor t;
      t.step = 0.125f;
      t.levels.resize(size_t{g.width} * g.height * h.arch.grid_channels);
      for (int32_t& l : t.levels) l = dist(rng);
      q.push_back(std::move(t));
    }
  }
  return q;
}

// A small grid network: levels of 9x7, 5x4 and 1x1, `channels` latents each,
// a ReLU MLP of `width` x 2.
inline Architecture grid_arch(uint8_t channels = 2, uint16_t width = 8) {
  Architecture a;
  a.encoding = Encoding::kGrid;
  a.activation = Activation::kRelu;
  a.omega0 = a.omega = 1.0f;
  a.grid_channels = channels;
  a.grid_levels = {{9, 7}, {5, 4}, {1, 1}};
  a.widths = {width, width};
  return a;
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
  if (!data.empty()) std::memcpy(sec.data() + 8, data.data(), data.size());  // data() may be null
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

// A file split into its sections (SPEC.md §3), and back: for surgery on tiled files.
struct RawSection {
  std::string tag;
  std::vector<uint8_t> data;
};
inline std::vector<RawSection> split_sections(const std::vector<uint8_t>& file) {
  std::vector<RawSection> out;
  size_t pos = 16;
  while (pos + 12 <= file.size()) {
    const uint32_t len = static_cast<uint32_t>(file[pos]) | (file[pos + 1] << 8) |
                         (file[pos + 2] << 16) | (static_cast<uint32_t>(file[pos + 3]) << 24);
    RawSection s;
    s.tag.assign(reinterpret_cast<const char*>(file.data() + pos + 4), 4);
    s.data.assign(file.begin() + pos + 8, file.begin() + pos + 8 + len);
    out.push_back(std::move(s));
    pos += 12 + len;
  }
  return out;
}
inline std::vector<uint8_t> join_sections(const std::vector<uint8_t>& original,
                                          const std::vector<RawSection>& sections) {
  std::vector<uint8_t> out(original.begin(), original.begin() + 16);  // the preamble
  for (const RawSection& s : sections) {
    std::vector<uint8_t> sec(8 + s.data.size() + 4);
    put_le32(sec.data(), static_cast<uint32_t>(s.data.size()));
    std::memcpy(sec.data() + 4, s.tag.data(), 4);
    // An empty section's data() may be null, which memcpy must not get even for 0 bytes.
    if (!s.data.empty()) std::memcpy(sec.data() + 8, s.data.data(), s.data.size());
    put_le32(sec.data() + 8 + s.data.size(), crc32(sec.data() + 4, 4 + s.data.size()));
    out.insert(out.end(), sec.begin(), sec.end());
  }
  return out;
}

// Channel c of a synthetic image: k0 + kx U / W + ky V / H, with U, V in stored pixels.
struct LinearField {
  double k0, kx, ky;
};

// A tiled file (SPEC.md §11) whose tile t holds, in channel c, exactly (up to 16-bit
// quantization) the linear field fields[c] plus offsets[t]: ReLU networks on raw tile-local
// coordinates, hidden = relu((x, y) + 2), output = a (x + 2) + b (y + 2) + c, NORM mean 0
// and std 1.  With all offsets 0 the tiles agree, and the decoded image is the field.
inline std::vector<uint8_t> linear_tiled_file(uint32_t width, uint32_t height, uint32_t columns,
                                              uint32_t rows, uint32_t overlap,
                                              const std::vector<LinearField>& fields,
                                              const std::vector<double>& offsets) {
  const uint32_t channels = static_cast<uint32_t>(fields.size());
  NifFile h;
  h.width = width;
  h.height = height;
  h.channels = static_cast<uint8_t>(channels);
  h.source_bit_depth = 8;
  h.tile_columns = columns;
  h.tile_rows = rows;
  h.tile_overlap = overlap;
  Architecture a;
  a.encoding = Encoding::kNone;
  a.activation = Activation::kRelu;
  a.omega0 = a.omega = 1.0f;
  a.widths = {2};
  std::vector<std::vector<uint8_t>> files;
  for (uint32_t t = 0; t < columns * rows; ++t) {
    const TileSpan sx = tile_span(width, columns, overlap, t % columns);
    const TileSpan sy = tile_span(height, rows, overlap, t / columns);
    NifFile th = make_header(a, channels, 16, sx.size(), sy.size());
    th.mean.assign(channels, 0.0f);
    th.stddev.assign(channels, 1.0f);
    std::vector<float> w1, b1;
    for (const LinearField& f : fields) {
      const double ax = f.kx * sx.size() / (2.0 * width), ay = f.ky * sy.size() / (2.0 * height);
      w1.push_back(static_cast<float>(ax));
      w1.push_back(static_cast<float>(ay));
      b1.push_back(static_cast<float>(f.k0 + f.kx * (sx.begin + sx.size() / 2.0) / width - 2 * ax +
                                      f.ky * (sy.begin + sy.size() / 2.0) / height - 2 * ay +
                                      offsets[t]));
    }
    const std::vector<QuantizedTensor> q = {quantize_tensor({1, 0, 0, 1}, 16),
                                            quantize_tensor({2, 2}, 16), quantize_tensor(w1, 16),
                                            quantize_tensor(b1, 16)};
    StatusOr<std::vector<uint8_t>> bytes = serialize_nif(th, q, 3);
    files.push_back(bytes.ok() ? bytes.value() : std::vector<uint8_t>());
  }
  StatusOr<std::vector<uint8_t>> tiled = assemble_tiled_nif(h, files);
  return tiled.ok() ? tiled.value() : std::vector<uint8_t>();
}

}  // namespace nifc::testing

#endif  // NIFC_TESTS_NIF_TEST_UTIL_H_
