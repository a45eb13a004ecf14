// nifc info: a .nif file's header, without decoding it.
#include <cstdio>
#include <string>
#include <vector>

#include "format/nif_format.h"
#include "tools/io/file_io.h"
#include "tools/nifc/cli.h"

namespace nifc {
namespace cli {

int run_info(const InfoArgs& a) {
  const std::string& in = a.in;
  StatusOr<std::vector<uint8_t>> bytes = read_file(in);
  if (!bytes.ok()) return fail(in, bytes.status());
  StatusOr<NifFile> f = parse_nif_header(bytes->data(), bytes->size());
  if (!f.ok()) return fail(in, f.status());
  const uint64_t pixels = uint64_t{f->width} * f->height;
  const double bpp = 8.0 * bytes->size() / pixels;
  const uint64_t params = file_parameter_count(f.value());
  const uint64_t tiles = f->tiled() ? f->tiles.size() : 1;
  // A tiled file (SPEC.md §11) describes its first tile's network.
  const Architecture& arch = f->tiled() ? f->tiles[0].arch : f->arch;
  if (a.json) {
    Json j;
    j["file"] = in;
    j["version"] = std::to_string(f->version_major) + "." + std::to_string(f->version_minor);
    j["width"] = f->width;
    j["height"] = f->height;
    j["channels"] = f->channels;
    j["source_bit_depth"] = f->source_bit_depth;
    j["arch"] = arch_label(arch);
    j["encoding"] = encoding_name(arch.encoding);
    j["activation"] = activation_name(arch.activation);
    j["hidden"] = arch.widths;
    j["omega0"] = json_number(arch.omega0);
    j["omega"] = json_number(arch.omega);
    j["pe_levels"] = arch.pe_levels;
    j["ff_features"] = arch.ff_features;
    j["ff_sigma"] = json_number(arch.ff_sigma);
    j["parameters"] = params;
    j["bits"] = f->bits;
    j["bytes"] = bytes->size();
    j["payload_bytes"] = f->payload_bytes;
    j["bpp"] = json_number(bpp);
    j["tiles"] = tiles;
    j["tile_columns"] = f->tiled() ? f->tile_columns : 1;
    j["tile_rows"] = f->tiled() ? f->tile_rows : 1;
    j["tile_overlap"] = f->tile_overlap;
    print_json(stdout, j);
    return 0;
  }
  static const char* kChannelNames[] = {"", "gray", "gray+alpha", "RGB", "RGBA"};
  std::printf("%s: nif %d.%d, %ux%u %s, source %d-bit\n", in.c_str(), f->version_major,
              f->version_minor, f->width, f->height, kChannelNames[f->channels],
              f->source_bit_depth);
  if (f->tiled()) {
    std::printf("  tiles:   %llu (%ux%u), overlap %u px, %llu parameters in all\n",
                static_cast<unsigned long long>(tiles), f->tile_columns, f->tile_rows,
                f->tile_overlap, static_cast<unsigned long long>(params));
  }
  std::printf("  network: %s%s\n", arch_description(arch, f->channels).c_str(),
              f->tiled() ? " (tile 1)" : "");
  const uint8_t compression =
      f->tiled() && !f->tiles.empty() ? f->tiles[0].compression : f->compression;
  std::printf("  weights: %d bits, %llu bytes packed (%s)\n", f->bits,
              static_cast<unsigned long long>(f->payload_bytes),
              compression == kCompressionRange ? "range coded" : "zstd");
  std::printf("  size:    %zu bytes, %.4f bpp\n", bytes->size(), bpp);
  const NifFile& norm = f->tiled() ? f->tiles[0] : f.value();
  for (uint32_t c = 0; c < f->channels; ++c) {
    std::printf("  channel %u: mean %.4f std %.4f%s\n", c, norm.mean[c], norm.stddev[c],
                f->tiled() ? " (tile 1)" : "");
  }
  return 0;
}

}  // namespace cli
}  // namespace nifc
