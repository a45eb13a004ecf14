// The .nif container.  Every field read here is described in SPEC.md; the
// comments name the section.
#include "format/nif_format.h"

#include <zstd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "format/level_coder.h"
#include "format/prng.h"
#include "format/tile_layout.h"

namespace nifc {
namespace {

// SPEC.md §2
constexpr uint8_t kMagic[8] = {0x89, 'N', 'I', 'F', 0x0D, 0x0A, 0x1A, 0x0A};
constexpr size_t kPreambleBytes = 16;
// SPEC.md §3: length + tag + crc
constexpr size_t kSectionOverhead = 12;

constexpr size_t kHeadBytes = 12;
constexpr size_t kNormBytesPerChannel = 8;
constexpr size_t kNetwFixedBytes = 28;
constexpr size_t kWgtsFixedBytes = 4;
constexpr size_t kGridFixedBytes = 4;
constexpr size_t kGridBytesPerLevel = 8;
constexpr uint32_t kMaxGridLevels = 16;
constexpr uint32_t kMaxGridChannels = 16;
constexpr uint32_t kMaxGridSide = 65536;
// SPEC.md §11
constexpr size_t kTileBytes = 16;
constexpr size_t kTnetFixedBytes = 16;
constexpr uint8_t kTiledVersionMinor = 2;
constexpr uint8_t kRangeVersionMinor = 3;  // WGTS compression 2 (SPEC.md §6.5)

// ---- little-endian helpers ------------------------------------------------

uint16_t load_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t load_u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t load_u64(const uint8_t* p) {
  return static_cast<uint64_t>(load_u32(p)) | (static_cast<uint64_t>(load_u32(p + 4)) << 32);
}
float load_f32(const uint8_t* p) {
  uint32_t u = load_u32(p);
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

void put_u8(std::vector<uint8_t>* out, uint8_t v) { out->push_back(v); }
void put_u16(std::vector<uint8_t>* out, uint16_t v) {
  out->push_back(static_cast<uint8_t>(v));
  out->push_back(static_cast<uint8_t>(v >> 8));
}
void put_u32(std::vector<uint8_t>* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put_u64(std::vector<uint8_t>* out, uint64_t v) {
  put_u32(out, static_cast<uint32_t>(v));
  put_u32(out, static_cast<uint32_t>(v >> 32));
}
void put_f32(std::vector<uint8_t>* out, float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  put_u32(out, u);
}

std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t n = 0; n < 256; ++n) {
    uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  return table;
}

// ---- sections -------------------------------------------------------------

struct Section {
  char tag[5] = {0, 0, 0, 0, 0};
  const uint8_t* data = nullptr;
  uint32_t size = 0;
};

bool is_required(const char* tag) { return tag[0] >= 'A' && tag[0] <= 'Z'; }

bool tag_is_valid(const uint8_t* t) {
  for (int i = 0; i < 4; ++i) {
    const bool alpha = (t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z');
    if (!alpha) return false;
  }
  return true;
}

void append_section(std::vector<uint8_t>* out, const char* tag, const std::vector<uint8_t>& data) {
  put_u32(out, static_cast<uint32_t>(data.size()));
  const size_t start = out->size();
  out->insert(out->end(), tag, tag + 4);
  out->insert(out->end(), data.begin(), data.end());
  put_u32(out, crc32(out->data() + start, out->size() - start));
}

// Checks a known section's length: exact for files of this reader's minor
// version or older, at least the known size for newer minors (SPEC.md §3 rule 5, §10).
Status check_section_size(const Section& s, size_t expected, const NifFile& f) {
  const bool newer = f.version_minor > kNifVersionMinor;
  if (s.size == expected || (newer && s.size > expected)) return Status();
  return corrupt(std::string("section ") + s.tag + " has " + std::to_string(s.size) +
                 " bytes, expected " + std::to_string(expected));
}

bool finite_positive(float v) { return std::isfinite(v) && v > 0.0f; }

Status parse_head(const Section& s, const NifLimits& limits, NifFile* f) {
  NIFC_RETURN_IF_ERROR(check_section_size(s, kHeadBytes, *f));
  f->width = load_u32(s.data);
  f->height = load_u32(s.data + 4);
  f->channels = s.data[8];
  f->source_bit_depth = s.data[9];
  if (f->width == 0 || f->height == 0) return corrupt("image size is zero");
  if (f->width > limits.max_width || f->height > limits.max_height) {
    return limit_exceeded("image size " + std::to_string(f->width) + "x" +
                          std::to_string(f->height) + " exceeds the limit of " +
                          std::to_string(limits.max_width) + "x" +
                          std::to_string(limits.max_height));
  }
  if (f->channels < 1 || f->channels > 4) {
    return corrupt("invalid channel count " + std::to_string(f->channels));
  }
  if (f->source_bit_depth != 8 && f->source_bit_depth != 16) {
    return corrupt("invalid source bit depth " + std::to_string(f->source_bit_depth));
  }
  return Status();
}

Status parse_norm(const Section& s, NifFile* f) {
  NIFC_RETURN_IF_ERROR(check_section_size(s, kNormBytesPerChannel * f->channels, *f));
  f->mean.resize(f->channels);
  f->stddev.resize(f->channels);
  for (uint32_t c = 0; c < f->channels; ++c) {
    f->mean[c] = load_f32(s.data + 8 * c);
    f->stddev[c] = load_f32(s.data + 8 * c + 4);
    if (!std::isfinite(f->mean[c]) || !finite_positive(f->stddev[c])) {
      return corrupt("invalid normalization for channel " + std::to_string(c));
    }
  }
  return Status();
}

// The preamble (SPEC.md §2: magic, version MAJOR.minor, its CRC) and the
// HEAD section (§4) of `h`.
std::vector<uint8_t> file_start(const NifFile& h, uint8_t minor) {
  std::vector<uint8_t> out(kMagic, kMagic + sizeof(kMagic));
  put_u8(&out, kNifVersionMajor);
  put_u8(&out, minor);
  put_u16(&out, 0);
  put_u32(&out, crc32(out.data(), out.size()));
  std::vector<uint8_t> head;
  put_u32(&head, h.width);
  put_u32(&head, h.height);
  put_u8(&head, h.channels);
  put_u8(&head, h.source_bit_depth);
  put_u16(&head, 0);
  append_section(&out, "HEAD", head);
  return out;
}

}  // namespace

Status validate_architecture(const Architecture& a, uint32_t channels, const NifLimits& limits) {
  if (a.widths.empty()) return corrupt("network has no hidden layer");
  if (a.widths.size() > limits.max_hidden_layers) {
    return limit_exceeded("network has " + std::to_string(a.widths.size()) +
                          " hidden layers, limit " + std::to_string(limits.max_hidden_layers));
  }
  for (uint16_t w : a.widths) {
    if (w == 0) return corrupt("hidden layer of width 0");
    if (w > limits.max_width_per_layer) {
      return limit_exceeded("hidden layer width " + std::to_string(w) + " exceeds the limit " +
                            std::to_string(limits.max_width_per_layer));
    }
  }
  switch (a.activation) {
    case Activation::kRelu:
      break;
    case Activation::kSine:
      if (!std::isfinite(a.omega0) || !std::isfinite(a.omega) || a.omega0 == 0.0f ||
          a.omega == 0.0f) {
        return corrupt("invalid sine frequency factors");
      }
      break;
    default:
      return unsupported("unknown activation " + std::to_string(static_cast<int>(a.activation)));
  }
  switch (a.encoding) {
    case Encoding::kNone:
      break;
    case Encoding::kPositional:
      if (a.pe_levels < 1 || a.pe_levels > 20) {
        return corrupt("positional encoding levels " + std::to_string(a.pe_levels) +
                       " outside 1..20");
      }
      break;
    case Encoding::kFourier:
      if (a.ff_features < 1 || a.ff_features > limits.max_width_per_layer) {
        return corrupt("Fourier feature count " + std::to_string(a.ff_features) + " invalid");
      }
      if (!finite_positive(a.ff_sigma)) return corrupt("invalid Fourier feature scale");
      break;
    case Encoding::kGrid:
      // SPEC.md §6.4
      if (a.grid_channels < 1 || a.grid_channels > kMaxGridChannels) {
        return corrupt("grid channel count " + std::to_string(a.grid_channels) + " outside 1..16");
      }
      if (a.grid_levels.empty() || a.grid_levels.size() > kMaxGridLevels) {
        return corrupt("grid level count " + std::to_string(a.grid_levels.size()) +
                       " outside 1..16");
      }
      for (const GridLevel& g : a.grid_levels) {
        if (g.width < 1 || g.height < 1 || g.width > kMaxGridSide || g.height > kMaxGridSide) {
          return corrupt("grid level of " + std::to_string(g.width) + "x" +
                         std::to_string(g.height) + " outside 1..65536");
        }
      }
      break;
    default:
      return unsupported("unknown input encoding " + std::to_string(static_cast<int>(a.encoding)));
  }
  const uint64_t params = parameter_count(a, channels);
  if (params > limits.max_parameters) {
    return limit_exceeded("network has " + std::to_string(params) + " parameters, limit " +
                          std::to_string(limits.max_parameters));
  }
  return Status();
}

namespace {

Status parse_netw(const Section& s, const NifLimits& limits, NifFile* f) {
  if (s.size < kNetwFixedBytes) return corrupt("section NETW too short");
  const uint8_t* p = s.data;
  Architecture& a = f->arch;
  a.encoding = static_cast<Encoding>(p[0]);
  a.activation = static_cast<Activation>(p[1]);
  const uint32_t hidden = p[2];
  const uint8_t flags = p[3];
  if (flags & ~1u) return corrupt("reserved NETW flags set");
  a.pe_include_input = (flags & 1u) != 0;
  a.omega0 = load_f32(p + 4);
  a.omega = load_f32(p + 8);
  a.pe_levels = p[12];
  if (p[13] != 0) return corrupt("reserved NETW byte set");
  a.ff_features = load_u16(p + 14);
  a.ff_sigma = load_f32(p + 16);
  a.ff_seed = load_u64(p + 20);
  NIFC_RETURN_IF_ERROR(check_section_size(s, kNetwFixedBytes + 2 * hidden, *f));
  a.widths.resize(hidden);
  for (uint32_t i = 0; i < hidden; ++i) a.widths[i] = load_u16(p + kNetwFixedBytes + 2 * i);
  return validate_architecture(a, f->channels, limits);
}

uint32_t max_level(int bits) { return (1u << (bits - 1)) - 1u; }

// SPEC.md §6.4: the geometry of the latent grid.
Status parse_grid(const Section& s, NifFile* f) {
  if (s.size < kGridFixedBytes) return corrupt("section GRID too short");
  const uint32_t levels = s.data[0];
  Architecture& a = f->arch;
  a.grid_channels = s.data[1];
  if (load_u16(s.data + 2) != 0) return corrupt("reserved GRID field set");
  if (levels < 1 || levels > kMaxGridLevels) {
    return corrupt("grid level count " + std::to_string(levels) + " outside 1..16");
  }
  NIFC_RETURN_IF_ERROR(check_section_size(s, kGridFixedBytes + kGridBytesPerLevel * levels, *f));
  a.grid_levels.resize(levels);
  for (uint32_t k = 0; k < levels; ++k) {
    a.grid_levels[k].width = load_u32(s.data + kGridFixedBytes + kGridBytesPerLevel * k);
    a.grid_levels[k].height = load_u32(s.data + kGridFixedBytes + kGridBytesPerLevel * k + 4);
  }
  return Status();
}

// SPEC.md §6.2: the T steps that open the weight payload, each finite and > 0.
Status read_steps(const uint8_t* data, uint64_t tensors, NifFile* f) {
  f->steps.resize(tensors);
  for (uint64_t t = 0; t < tensors; ++t) {
    f->steps[t] = load_f32(data + 4 * t);
    if (!finite_positive(f->steps[t])) return corrupt("invalid quantization step");
  }
  return Status();
}

Status parse_wgts(const Section& s, bool decode_payload, NifFile* f) {
  if (s.size < kWgtsFixedBytes) return corrupt("section WGTS too short");
  f->bits = s.data[0];
  if (f->bits < 2 || f->bits > 16) return corrupt("invalid bit width " + std::to_string(f->bits));
  if (s.data[1] != kCompressionZstd && s.data[1] != kCompressionRange) {
    return unsupported("unknown weight compression " + std::to_string(s.data[1]));
  }
  f->compression = s.data[1];
  if (load_u16(s.data + 2) != 0) return corrupt("reserved WGTS field set");
  const uint8_t* payload = s.data + kWgtsFixedBytes;
  const size_t payload_size = s.size - kWgtsFixedBytes;
  f->payload_bytes = payload_size;
  if (!decode_payload) return Status();

  // SPEC.md §6.2: the decompressed size follows from the architecture, so it
  // is known, and bounded by the limits, before anything is allocated.
  const std::vector<uint64_t> sizes = tensor_sizes(f->arch, f->channels);
  const uint64_t tensors = sizes.size();
  const uint64_t params = parameter_count(f->arch, f->channels);
  const uint64_t planes = f->bits > 8 ? 2 : 1;
  const int32_t limit = static_cast<int32_t>(max_level(f->bits));
  if (f->compression == kCompressionRange) {
    // SPEC.md §6.5: the steps, then the range-coded levels to the end of the section.
    if (payload_size < 4 * tensors) return corrupt("weight payload too short");
    std::vector<std::vector<int32_t>> levels;
    NIFC_RETURN_IF_ERROR(decode_levels(payload + 4 * tensors, payload_size - 4 * tensors,
                                       level_shapes(f->arch, f->channels), limit, &levels));
    NIFC_RETURN_IF_ERROR(read_steps(payload, tensors, f));
    f->tensors.resize(tensors);
    for (uint64_t t = 0; t < tensors; ++t) {
      f->tensors[t].resize(levels[t].size());
      for (size_t i = 0; i < levels[t].size(); ++i) {
        f->tensors[t][i] = static_cast<float>(levels[t][i]) * f->steps[t];
      }
    }
    return Status();
  }
  const uint64_t expected = 4 * tensors + planes * params;
  const unsigned long long frame_size = ZSTD_getFrameContentSize(payload, payload_size);
  if (frame_size == ZSTD_CONTENTSIZE_ERROR) return corrupt("weight payload is not a zstd frame");
  if (frame_size != expected) {
    return corrupt("weight payload holds " + std::to_string(frame_size) + " bytes, expected " +
                   std::to_string(expected));
  }
  std::vector<uint8_t> raw(expected);
  const size_t got = ZSTD_decompress(raw.data(), raw.size(), payload, payload_size);
  if (ZSTD_isError(got)) {
    return corrupt(std::string("weight payload: ") + ZSTD_getErrorName(got));
  }
  if (got != expected) return corrupt("weight payload has the wrong size");

  NIFC_RETURN_IF_ERROR(read_steps(raw.data(), tensors, f));
  const uint8_t* plane0 = raw.data() + 4 * tensors;
  const uint8_t* plane1 = plane0 + params;
  f->tensors.resize(tensors);
  uint64_t index = 0;
  for (uint64_t t = 0; t < tensors; ++t) {
    const uint64_t count = sizes[t];
    std::vector<float>& values = f->tensors[t];
    values.resize(count);
    for (uint64_t i = 0; i < count; ++i, ++index) {
      uint32_t u = plane0[index];
      if (planes == 2) u |= static_cast<uint32_t>(plane1[index]) << 8;
      // zigzag: 0, -1, 1, -2, 2, ... (SPEC.md §6.2)
      const int32_t level = static_cast<int32_t>(u >> 1) ^ -static_cast<int32_t>(u & 1);
      if (level > limit || level < -limit) return corrupt("quantized weight out of range");
      values[i] = static_cast<float>(level) * f->steps[t];
    }
  }
  return Status();
}

// SPEC.md §2, §3: checks the preamble (magic, version, header CRC) and walks the sections
// from HEAD to IEND, checking every CRC.  Fills f's version.
Status read_sections(const uint8_t* data, size_t size, const NifLimits& limits, NifFile* f,
                     std::vector<Section>* sections) {
  if (size > limits.max_file_bytes) return limit_exceeded("file larger than the limit");
  if (size < sizeof(kMagic) || std::memcmp(data, kMagic, sizeof(kMagic)) != 0) {
    return corrupt("not a .nif file (bad magic)");
  }
  if (size < kPreambleBytes) return corrupt("truncated file header");
  if (crc32(data, 12) != load_u32(data + 12)) return corrupt("file header checksum mismatch");
  f->version_major = data[8];
  f->version_minor = data[9];
  if (f->version_major != kNifVersionMajor) {
    return unsupported("unsupported .nif version " + std::to_string(f->version_major) + "." +
                       std::to_string(f->version_minor) + " (this decoder reads " +
                       std::to_string(kNifVersionMajor) + ".x)");
  }
  if (load_u16(data + 10) != 0) return corrupt("reserved header field set");

  // SPEC.md §3, §4: walk the sections; HEAD first, IEND last.
  size_t pos = kPreambleBytes;
  bool seen_end = false;
  while (!seen_end) {
    if (size - pos < kSectionOverhead) return corrupt("truncated file (section header)");
    Section s;
    const uint32_t length = load_u32(data + pos);
    if (length > size - pos - kSectionOverhead) return corrupt("truncated file (section data)");
    const uint8_t* tag = data + pos + 4;
    const uint32_t stored_crc = load_u32(data + pos + 8 + length);
    if (crc32(tag, 4 + static_cast<size_t>(length)) != stored_crc) {
      if (!tag_is_valid(tag)) return corrupt("checksum mismatch in a section with a damaged tag");
      return corrupt("checksum mismatch in section " + std::string(tag, tag + 4));
    }
    if (!tag_is_valid(tag)) return corrupt("invalid section tag");
    std::memcpy(s.tag, tag, 4);
    s.data = data + pos + 8;
    s.size = length;
    pos += kSectionOverhead + length;
    if (sections->empty() && std::strcmp(s.tag, "HEAD") != 0) {
      return corrupt("first section is not HEAD");
    }
    seen_end = std::strcmp(s.tag, "IEND") == 0;
    sections->push_back(s);
  }
  if (pos != size) return corrupt("data after the IEND section");
  return Status();
}

// SPEC.md §11: the TILE section (the layout).
Status parse_tile(const Section& s, const NifLimits& limits, NifFile* f) {
  NIFC_RETURN_IF_ERROR(check_section_size(s, kTileBytes, *f));
  f->tile_columns = load_u32(s.data);
  f->tile_rows = load_u32(s.data + 4);
  f->tile_overlap = load_u32(s.data + 8);
  if (load_u32(s.data + 12) != 0) return corrupt("reserved TILE field set");
  return validate_tile_layout(f->width, f->height, f->tile_columns, f->tile_rows, f->tile_overlap,
                              limits.max_tiles);
}

Status in_tile(uint32_t t, const Status& s) {
  if (s.ok()) return s;
  return Status(s.code(), "tile " + std::to_string(t) + ": " + s.message());
}

// SPEC.md §11.3: one TNET section, the network of tile `index`.  *params_total counts the
// parameters of the tiles so far, so the whole file stays within limits.max_parameters.
Status parse_tnet(const Section& s, uint32_t index, const NifLimits& limits, bool decode_payload,
                  const NifFile& file, NifFile* tile, uint64_t* params_total) {
  if (s.size < kTnetFixedBytes) return corrupt("section TNET too short");
  const uint32_t stored_index = load_u32(s.data);
  if (stored_index != index) {
    return corrupt("TNET section " + std::to_string(index) + " holds tile " +
                   std::to_string(stored_index) + " (tiles must be in raster order)");
  }
  const uint32_t n_norm = load_u32(s.data + 4);
  const uint32_t n_netw = load_u32(s.data + 8);
  const uint32_t n_grid = load_u32(s.data + 12);
  const uint64_t parts = uint64_t{kTnetFixedBytes} + n_norm + n_netw + n_grid;
  if (parts + kWgtsFixedBytes > s.size) {
    return in_tile(index, corrupt("TNET part lengths exceed the section"));
  }
  const uint32_t column = index % file.tile_columns, row = index / file.tile_columns;
  const TileSpan sx = tile_span(file.width, file.tile_columns, file.tile_overlap, column);
  const TileSpan sy = tile_span(file.height, file.tile_rows, file.tile_overlap, row);
  tile->version_major = file.version_major;
  tile->version_minor = file.version_minor;
  tile->width = sx.size();
  tile->height = sy.size();
  tile->channels = file.channels;
  tile->source_bit_depth = file.source_bit_depth;
  auto part = [&s](const char* tag, uint64_t offset, uint64_t size) {
    Section p;
    std::memcpy(p.tag, tag, 4);
    p.data = s.data + offset;
    p.size = static_cast<uint32_t>(size);
    return p;
  };
  const Section norm = part("NORM", kTnetFixedBytes, n_norm);
  const Section netw = part("NETW", kTnetFixedBytes + uint64_t{n_norm}, n_netw);
  const Section grid = part("GRID", kTnetFixedBytes + uint64_t{n_norm} + n_netw, n_grid);
  const Section wgts = part("WGTS", parts, s.size - parts);
  NIFC_RETURN_IF_ERROR(in_tile(index, parse_norm(norm, tile)));
  // SPEC.md §11.3: the GRID part is present (n_grid > 0) exactly for a grid encoding.
  if (netw.size >= 1 && netw.data[0] == static_cast<uint8_t>(Encoding::kGrid)) {
    if (n_grid == 0) return in_tile(index, corrupt("missing GRID part for a grid encoding"));
    NIFC_RETURN_IF_ERROR(in_tile(index, parse_grid(grid, tile)));
  } else if (n_grid != 0) {
    return in_tile(index, corrupt("GRID part in a tile without a grid encoding"));
  }
  NIFC_RETURN_IF_ERROR(in_tile(index, parse_netw(netw, limits, tile)));
  *params_total += parameter_count(tile->arch, tile->channels);
  if (*params_total > limits.max_parameters) {
    return limit_exceeded("tiles hold more than " + std::to_string(limits.max_parameters) +
                          " parameters (the limit)");
  }
  return in_tile(index, parse_wgts(wgts, decode_payload, tile));
}

StatusOr<NifFile> parse(const uint8_t* data, size_t size, const NifLimits& limits,
                        bool decode_payload) {
  NifFile f;
  std::vector<Section> sections;
  NIFC_RETURN_IF_ERROR(read_sections(data, size, limits, &f, &sections));

  const Section* head = nullptr;
  const Section* norm = nullptr;
  const Section* netw = nullptr;
  const Section* wgts = nullptr;
  const Section* grid = nullptr;
  const Section* tile = nullptr;
  std::vector<const Section*> tnets;
  for (const Section& s : sections) {
    const Section** slot = nullptr;
    if (std::strcmp(s.tag, "HEAD") == 0) slot = &head;
    if (std::strcmp(s.tag, "NORM") == 0) slot = &norm;
    if (std::strcmp(s.tag, "NETW") == 0) slot = &netw;
    if (std::strcmp(s.tag, "WGTS") == 0) slot = &wgts;
    if (std::strcmp(s.tag, "GRID") == 0) slot = &grid;
    if (std::strcmp(s.tag, "TILE") == 0) slot = &tile;
    if (std::strcmp(s.tag, "TNET") == 0) {
      tnets.push_back(&s);
      continue;
    }
    if (std::strcmp(s.tag, "IEND") == 0) {
      if (s.size != 0) return corrupt("IEND section is not empty");
      continue;
    }
    if (slot == nullptr) {
      if (is_required(s.tag)) {
        return unsupported(std::string("unknown required section ") + s.tag);
      }
      continue;  // unknown optional section: skipped (SPEC.md §3 rule 3, §10)
    }
    if (*slot != nullptr) return corrupt(std::string("duplicate section ") + s.tag);
    *slot = &s;
  }

  if (tile != nullptr) {
    // SPEC.md §3 rule 4, §11: a tiled file holds its networks in TNET sections only.
    for (const Section* s : {norm, netw, grid, wgts}) {
      if (s != nullptr) return corrupt(std::string("section ") + s->tag + " in a tiled file");
    }
    NIFC_RETURN_IF_ERROR(parse_head(*head, limits, &f));
    NIFC_RETURN_IF_ERROR(parse_tile(*tile, limits, &f));
    // Bounded by limits.max_tiles (parse_tile) before anything is allocated per tile.
    const uint64_t count = uint64_t{f.tile_columns} * f.tile_rows;
    if (tnets.size() != count) {
      return corrupt("tiled file has " + std::to_string(tnets.size()) + " TNET sections, its " +
                     std::to_string(f.tile_columns) + "x" + std::to_string(f.tile_rows) +
                     " layout needs " + std::to_string(count));
    }
    f.tiles.resize(count);
    uint64_t params = 0;
    f.bits = 0;
    for (uint32_t t = 0; t < count; ++t) {
      NIFC_RETURN_IF_ERROR(
          parse_tnet(*tnets[t], t, limits, decode_payload, f, &f.tiles[t], &params));
      f.bits = std::max(f.bits, f.tiles[t].bits);
      f.payload_bytes += f.tiles[t].payload_bytes;
    }
    return f;
  }
  if (!tnets.empty()) return corrupt("section TNET in a file without a TILE section");
  if (norm == nullptr) return corrupt("missing section NORM");
  if (netw == nullptr) return corrupt("missing section NETW");
  if (wgts == nullptr) return corrupt("missing section WGTS");
  NIFC_RETURN_IF_ERROR(parse_head(*head, limits, &f));
  NIFC_RETURN_IF_ERROR(parse_norm(*norm, &f));
  // SPEC.md §3 rule 4, §6.4: GRID is present exactly when NETW's encoding is grid.
  if (netw->size >= 1 && netw->data[0] == static_cast<uint8_t>(Encoding::kGrid)) {
    if (grid == nullptr) return corrupt("missing section GRID for a grid encoding");
    NIFC_RETURN_IF_ERROR(parse_grid(*grid, &f));
  } else if (grid != nullptr) {
    return corrupt("section GRID in a file without a grid encoding");
  }
  NIFC_RETURN_IF_ERROR(parse_netw(*netw, limits, &f));
  NIFC_RETURN_IF_ERROR(parse_wgts(*wgts, decode_payload, &f));
  return f;
}

}  // namespace

uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc) {
  static const std::array<uint32_t, 256> table = make_crc_table();
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

uint32_t encoded_input_dim(const Architecture& arch) {
  switch (arch.encoding) {
    case Encoding::kNone:
      return 2;
    case Encoding::kPositional:
      return (arch.pe_include_input ? 2u : 0u) + 4u * arch.pe_levels;
    case Encoding::kFourier:
      return 2u * arch.ff_features;
    case Encoding::kGrid:
      return static_cast<uint32_t>(arch.grid_levels.size()) * arch.grid_channels;
  }
  return 0;
}

uint64_t grid_latent_count(const Architecture& arch) {
  if (arch.encoding != Encoding::kGrid) return 0;
  uint64_t n = 0;
  for (const GridLevel& g : arch.grid_levels)
    n += uint64_t{g.width} * g.height * arch.grid_channels;
  return n;
}

std::vector<uint64_t> tensor_sizes(const Architecture& arch, uint32_t channels) {
  std::vector<uint64_t> sizes;
  for (const LayerShape& s : layer_shapes(arch, channels)) {
    sizes.push_back(uint64_t{s.in} * s.out);
    sizes.push_back(s.out);
  }
  if (arch.encoding == Encoding::kGrid) {
    for (const GridLevel& g : arch.grid_levels) {
      sizes.push_back(uint64_t{g.width} * g.height * arch.grid_channels);
    }
  }
  return sizes;
}

std::vector<LayerShape> layer_shapes(const Architecture& arch, uint32_t channels) {
  std::vector<LayerShape> shapes;
  uint32_t in = encoded_input_dim(arch);
  for (uint16_t w : arch.widths) {
    shapes.push_back({in, w});
    in = w;
  }
  shapes.push_back({in, channels});
  return shapes;
}

uint64_t parameter_count(const Architecture& arch, uint32_t channels) {
  uint64_t n = 0;
  for (const LayerShape& s : layer_shapes(arch, channels)) n += uint64_t{s.in} * s.out + s.out;
  return n + grid_latent_count(arch);
}

StatusOr<NifFile> parse_nif(const uint8_t* data, size_t size, const NifLimits& limits) {
  return parse(data, size, limits, true);
}

StatusOr<NifFile> parse_nif_header(const uint8_t* data, size_t size, const NifLimits& limits) {
  return parse(data, size, limits, false);
}

QuantizedTensor quantize_tensor(const std::vector<float>& values, int bits) {
  QuantizedTensor q;
  float max_abs = 0.0f;
  for (float v : values) max_abs = std::max(max_abs, std::fabs(v));
  const int32_t top = static_cast<int32_t>(max_level(bits));
  q.step = max_abs > 0.0f ? max_abs / static_cast<float>(top) : 1.0f;
  q.levels.resize(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const long level = std::lround(values[i] / q.step);
    q.levels[i] = static_cast<int32_t>(std::max<long>(-top, std::min<long>(top, level)));
  }
  return q;
}

StatusOr<std::vector<uint8_t>> serialize_nif(const NifFile& h,
                                             const std::vector<QuantizedTensor>& q,
                                             int zstd_level) {
  NifLimits no_limits;
  no_limits.max_width = no_limits.max_height = 0xFFFFFFFFu;
  no_limits.max_hidden_layers = 255;
  no_limits.max_width_per_layer = 0xFFFF;
  no_limits.max_parameters = ~0ull;
  if (h.tiled()) return invalid_argument("tiled files are written by assemble_tiled_nif");
  if (h.width == 0 || h.height == 0) return invalid_argument("image size is zero");
  if (h.channels < 1 || h.channels > 4) return invalid_argument("channels must be 1..4");
  if (h.mean.size() != h.channels || h.stddev.size() != h.channels) {
    return invalid_argument("normalization must have one entry per channel");
  }
  if (h.bits < 2 || h.bits > 16) return invalid_argument("bits must be 2..16");
  NIFC_RETURN_IF_ERROR(validate_architecture(h.arch, h.channels, no_limits));
  const std::vector<uint64_t> sizes = tensor_sizes(h.arch, h.channels);
  if (q.size() != sizes.size()) return invalid_argument("wrong number of tensors");
  const bool has_grid = h.arch.encoding == Encoding::kGrid;

  if (h.compression != kCompressionZstd && h.compression != kCompressionRange) {
    return invalid_argument("unknown weight compression");
  }
  // SPEC.md §2: the lowest version that describes the file.
  std::vector<uint8_t> out = file_start(h, h.compression == kCompressionRange ? kRangeVersionMinor
                                           : has_grid                         ? 1
                                                                              : 0);

  std::vector<uint8_t> norm;
  for (uint32_t c = 0; c < h.channels; ++c) {
    put_f32(&norm, h.mean[c]);
    put_f32(&norm, h.stddev[c]);
  }
  append_section(&out, "NORM", norm);

  const Architecture& a = h.arch;
  std::vector<uint8_t> netw;
  put_u8(&netw, static_cast<uint8_t>(a.encoding));
  put_u8(&netw, static_cast<uint8_t>(a.activation));
  put_u8(&netw, static_cast<uint8_t>(a.widths.size()));
  put_u8(&netw, a.pe_include_input ? 1 : 0);
  put_f32(&netw, a.omega0);
  put_f32(&netw, a.omega);
  put_u8(&netw, a.pe_levels);
  put_u8(&netw, 0);
  put_u16(&netw, a.ff_features);
  put_f32(&netw, a.ff_sigma);
  put_u64(&netw, a.ff_seed);
  for (uint16_t w : a.widths) put_u16(&netw, w);
  append_section(&out, "NETW", netw);
  if (has_grid) {
    // SPEC.md §6.4
    std::vector<uint8_t> grid;
    put_u8(&grid, static_cast<uint8_t>(a.grid_levels.size()));
    put_u8(&grid, a.grid_channels);
    put_u16(&grid, 0);
    for (const GridLevel& g : a.grid_levels) {
      put_u32(&grid, g.width);
      put_u32(&grid, g.height);
    }
    append_section(&out, "GRID", grid);
  }

  // SPEC.md §6.2: the steps first.
  const int32_t top = static_cast<int32_t>(max_level(h.bits));
  const uint64_t params = parameter_count(a, h.channels);
  std::vector<uint8_t> raw;
  raw.reserve(4 * q.size() + 2 * params);
  for (const QuantizedTensor& t : q) {
    if (!finite_positive(t.step)) return invalid_argument("quantization step must be positive");
    put_f32(&raw, t.step);
  }
  for (size_t t = 0; t < q.size(); ++t) {
    if (q[t].levels.size() != sizes[t]) return invalid_argument("tensor has the wrong size");
    for (int32_t level : q[t].levels) {
      if (level > top || level < -top) return invalid_argument("level out of range");
    }
  }
  std::vector<uint8_t> wgts;
  put_u8(&wgts, h.bits);
  put_u8(&wgts, h.compression);
  put_u16(&wgts, 0);
  if (h.compression == kCompressionRange) {
    // SPEC.md §6.5: the steps, then the range-coded levels.
    wgts.insert(wgts.end(), raw.begin(), raw.end());
    std::vector<const int32_t*> levels;
    for (const QuantizedTensor& t : q) levels.push_back(t.levels.data());
    const std::vector<uint8_t> coded = encode_levels(level_shapes(a, h.channels), levels);
    wgts.insert(wgts.end(), coded.begin(), coded.end());
    append_section(&out, "WGTS", wgts);
    append_section(&out, "IEND", {});
    return out;
  }
  // SPEC.md §6.2: the low byte plane, then (bits > 8) the high one.
  for (const QuantizedTensor& t : q) {
    for (int32_t level : t.levels) {
      raw.push_back(static_cast<uint8_t>((static_cast<uint32_t>(level) << 1) ^
                                         static_cast<uint32_t>(level >> 31)));
    }
  }
  if (h.bits > 8) {
    for (const QuantizedTensor& t : q) {
      for (int32_t level : t.levels) {
        const uint32_t u = (static_cast<uint32_t>(level) << 1) ^ static_cast<uint32_t>(level >> 31);
        raw.push_back(static_cast<uint8_t>(u >> 8));
      }
    }
  }
  const size_t bound = ZSTD_compressBound(raw.size());
  const size_t offset = wgts.size();
  wgts.resize(offset + bound);
  const size_t packed =
      ZSTD_compress(wgts.data() + offset, bound, raw.data(), raw.size(), zstd_level);
  if (ZSTD_isError(packed)) {
    return internal_error(std::string("zstd: ") + ZSTD_getErrorName(packed));
  }
  wgts.resize(offset + packed);
  append_section(&out, "WGTS", wgts);
  append_section(&out, "IEND", {});
  return out;
}

uint64_t file_parameter_count(const NifFile& f) {
  if (!f.tiled()) return parameter_count(f.arch, f.channels);
  uint64_t n = 0;
  for (const NifFile& t : f.tiles) n += parameter_count(t.arch, t.channels);
  return n;
}

StatusOr<std::vector<uint8_t>> assemble_tiled_nif(const NifFile& h,
                                                  const std::vector<std::vector<uint8_t>>& tiles) {
  if (h.width == 0 || h.height == 0) return invalid_argument("image size is zero");
  if (h.channels < 1 || h.channels > 4) return invalid_argument("channels must be 1..4");
  if (h.source_bit_depth != 8 && h.source_bit_depth != 16) {
    return invalid_argument("source bit depth must be 8 or 16");
  }
  const Status layout = validate_tile_layout(h.width, h.height, h.tile_columns, h.tile_rows,
                                             h.tile_overlap, ~uint64_t{0});
  if (!layout.ok()) return invalid_argument(layout.message());
  if (tiles.size() != uint64_t{h.tile_columns} * h.tile_rows) {
    return invalid_argument("expected " + std::to_string(uint64_t{h.tile_columns} * h.tile_rows) +
                            " tile files, got " + std::to_string(tiles.size()));
  }
  NifLimits unbounded;
  unbounded.max_width = unbounded.max_height = 0xFFFFFFFFu;
  unbounded.max_hidden_layers = 255;
  unbounded.max_width_per_layer = 0xFFFF;
  unbounded.max_parameters = ~uint64_t{0};
  unbounded.max_file_bytes = ~uint64_t{0};

  // The sections after HEAD; the preamble's version is known once every tile is read.
  std::vector<uint8_t> body;
  bool range_coded = false;
  std::vector<uint8_t> layout_bytes;  // SPEC.md §11
  put_u32(&layout_bytes, h.tile_columns);
  put_u32(&layout_bytes, h.tile_rows);
  put_u32(&layout_bytes, h.tile_overlap);
  put_u32(&layout_bytes, 0);
  append_section(&body, "TILE", layout_bytes);

  for (uint32_t t = 0; t < tiles.size(); ++t) {
    const std::vector<uint8_t>& bytes = tiles[t];
    const StatusOr<NifFile> tf = parse_nif_header(bytes.data(), bytes.size(), unbounded);
    if (!tf.ok()) return in_tile(t, tf.status());
    range_coded = range_coded || tf->compression == kCompressionRange;
    const TileSpan sx = tile_span(h.width, h.tile_columns, h.tile_overlap, t % h.tile_columns);
    const TileSpan sy = tile_span(h.height, h.tile_rows, h.tile_overlap, t / h.tile_columns);
    if (tf->tiled() || tf->width != sx.size() || tf->height != sy.size() ||
        tf->channels != h.channels || tf->source_bit_depth != h.source_bit_depth) {
      return invalid_argument("tile " + std::to_string(t) + " is " + std::to_string(tf->width) +
                              "x" + std::to_string(tf->height) + " with " +
                              std::to_string(tf->channels) + " channels, the layout needs " +
                              std::to_string(sx.size()) + "x" + std::to_string(sy.size()) +
                              " with " + std::to_string(h.channels));
    }
    NifFile ignored;
    std::vector<Section> sections;
    NIFC_RETURN_IF_ERROR(read_sections(bytes.data(), bytes.size(), unbounded, &ignored, &sections));
    const Section* part[4] = {nullptr, nullptr, nullptr, nullptr};  // NORM NETW GRID WGTS
    for (const Section& s : sections) {
      const char* names[4] = {"NORM", "NETW", "GRID", "WGTS"};
      for (int i = 0; i < 4; ++i) {
        if (std::strcmp(s.tag, names[i]) == 0) part[i] = &s;
      }
    }
    // SPEC.md §11.3: index, the lengths of the NORM, NETW and GRID parts, the parts, WGTS.
    std::vector<uint8_t> tnet;
    put_u32(&tnet, t);
    for (int i = 0; i < 3; ++i) put_u32(&tnet, part[i] ? part[i]->size : 0);
    for (int i = 0; i < 4; ++i) {
      if (part[i]) tnet.insert(tnet.end(), part[i]->data, part[i]->data + part[i]->size);
    }
    append_section(&body, "TNET", tnet);
  }
  // SPEC.md §2: tiled files are version 1.2, or 1.3 when a tile's weights are range coded.
  std::vector<uint8_t> out = file_start(h, range_coded ? kRangeVersionMinor : kTiledVersionMinor);
  out.insert(out.end(), body.begin(), body.end());
  append_section(&out, "IEND", {});
  return out;
}

const char* encoding_name(Encoding e) {
  switch (e) {
    case Encoding::kNone:
      return "none";
    case Encoding::kPositional:
      return "positional";
    case Encoding::kFourier:
      return "fourier";
    case Encoding::kGrid:
      return "grid";
  }
  return "unknown";
}

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::kRelu:
      return "relu";
    case Activation::kSine:
      return "sine";
  }
  return "unknown";
}

}  // namespace nifc

namespace nifc {

std::vector<float> fourier_matrix(const Architecture& arch) {
  // SPEC.md §6.1: splitmix64; each entry is sigma * (sum of 12 uniform 24-bit
  // integers / 2^24 - 6), computed in double and rounded once to float.  Only
  // integer arithmetic and correctly rounded double operations are involved,
  // so every decoder reproduces it exactly.
  uint64_t state = arch.ff_seed;
  std::vector<float> b(2 * static_cast<size_t>(arch.ff_features));
  for (float& v : b) {
    uint64_t sum = 0;
    for (int i = 0; i < 12; ++i) sum += splitmix64(&state) >> 40;
    const double n = static_cast<double>(sum) / 16777216.0 - 6.0;
    v = static_cast<float>(static_cast<double>(arch.ff_sigma) * n);
  }
  return b;
}

}  // namespace nifc
