// Fuzz target: the .nif container parser (format/) on arbitrary bytes.
//
// Each input is parsed as given (every refusal path, checksums included) and again with
// its checksums repaired (the field checks behind them).  Whatever parses must be
// self-consistent: parse_nif_header agrees with parse_nif, the tensors have the shapes of
// the architecture, and re-serializing the weights gives a file that parses to the same
// values.
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "format/nif_format.h"
#include "format/tile_layout.h"
#include "tests/fuzz/fuzz_util.h"

namespace nifc::fuzz {
namespace {

// One network (a whole untiled file, or one tile of a tiled file): the tensors have the
// shapes of the architecture.  Fills *q with the levels that re-serialize it and returns
// false when a value is not finite (no round trip then).
bool check_network(const NifFile& f, std::vector<QuantizedTensor>* q) {
  NIFC_FUZZ_CHECK(f.width >= 1 && f.height >= 1 && f.channels >= 1 && f.channels <= 4);
  NIFC_FUZZ_CHECK(f.mean.size() == f.channels && f.stddev.size() == f.channels);
  NIFC_FUZZ_CHECK(!f.tiled());
  // SPEC.md §6.2: W0, b0, ..., WN, bN, then (grid, §6.4) one tensor per latent level.
  const std::vector<uint64_t> sizes = tensor_sizes(f.arch, f.channels);
  NIFC_FUZZ_CHECK(sizes.size() ==
                  2 * layer_shapes(f.arch, f.channels).size() +
                      (f.arch.encoding == Encoding::kGrid ? f.arch.grid_levels.size() : 0));
  NIFC_FUZZ_CHECK(f.tensors.size() == sizes.size());
  NIFC_FUZZ_CHECK(f.steps.size() == f.tensors.size());
  q->assign(f.tensors.size(), QuantizedTensor());
  bool finite = true;
  for (size_t t = 0; t < f.tensors.size(); ++t) {
    NIFC_FUZZ_CHECK(f.tensors[t].size() == sizes[t]);
    NIFC_FUZZ_CHECK(std::isfinite(f.steps[t]) && f.steps[t] > 0);
    (*q)[t].step = f.steps[t];
    for (float v : f.tensors[t]) {
      // value = binary32(level) * step (SPEC.md §6.2), which may overflow to infinity for a
      // huge step (the format allows it); otherwise the division recovers the level.
      finite = finite && std::isfinite(v);
      (*q)[t].levels.push_back(finite ? static_cast<int32_t>(std::lround(v / f.steps[t])) : 0);
    }
  }
  return finite;
}

void check_parsed(const NifFile& f, const uint8_t* data, size_t size) {
  StatusOr<NifFile> h = parse_nif_header(data, size);
  NIFC_FUZZ_CHECK(h.ok());
  NIFC_FUZZ_CHECK(h->width == f.width && h->height == f.height && h->channels == f.channels);
  NIFC_FUZZ_CHECK(h->bits == f.bits && h->payload_bytes == f.payload_bytes);
  NIFC_FUZZ_CHECK(h->arch.widths == f.arch.widths);
  NIFC_FUZZ_CHECK(h->arch.grid_channels == f.arch.grid_channels);
  NIFC_FUZZ_CHECK(h->arch.grid_levels.size() == f.arch.grid_levels.size());
  NIFC_FUZZ_CHECK(h->tensors.empty());
  NIFC_FUZZ_CHECK(h->tiles.size() == f.tiles.size());

  if (f.tiled()) {
    // SPEC.md §11: tile_columns x tile_rows networks, each of its tile's size.
    NIFC_FUZZ_CHECK(f.tiles.size() == uint64_t{f.tile_columns} * f.tile_rows);
    NIFC_FUZZ_CHECK(validate_tile_layout(f.width, f.height, f.tile_columns, f.tile_rows,
                                         f.tile_overlap, ~uint64_t{0})
                        .ok());
    std::vector<std::vector<uint8_t>> files;
    for (size_t t = 0; t < f.tiles.size(); ++t) {
      const NifFile& tile = f.tiles[t];
      NIFC_FUZZ_CHECK(h->tiles[t].arch.widths == tile.arch.widths);
      const TileSpan sx = tile_span(f.width, f.tile_columns, f.tile_overlap,
                                    static_cast<uint32_t>(t % f.tile_columns));
      const TileSpan sy = tile_span(f.height, f.tile_rows, f.tile_overlap,
                                    static_cast<uint32_t>(t / f.tile_columns));
      NIFC_FUZZ_CHECK(tile.width == sx.size() && tile.height == sy.size());
      std::vector<QuantizedTensor> q;
      if (!check_network(tile, &q)) return;
      StatusOr<std::vector<uint8_t>> bytes = serialize_nif(tile, q, 1);
      NIFC_FUZZ_CHECK(bytes.ok());
      files.push_back(std::move(bytes.value()));
    }
    // The tiles survive a round trip through the writer.
    NifFile layout = f;
    layout.tiles.clear();
    StatusOr<std::vector<uint8_t>> again = assemble_tiled_nif(layout, files);
    NIFC_FUZZ_CHECK(again.ok());
    StatusOr<NifFile> g = parse_nif(again->data(), again->size());
    NIFC_FUZZ_CHECK(g.ok() && g->tiles.size() == f.tiles.size());
    for (size_t t = 0; t < f.tiles.size(); ++t) {
      NIFC_FUZZ_CHECK(g->tiles[t].tensors == f.tiles[t].tensors);
      NIFC_FUZZ_CHECK(g->tiles[t].mean == f.tiles[t].mean);
    }
    return;
  }
  std::vector<QuantizedTensor> q;
  if (!check_network(f, &q)) return;
  // The weights survive a round trip through the writer.
  StatusOr<std::vector<uint8_t>> again = serialize_nif(f, q, 1);
  NIFC_FUZZ_CHECK(again.ok());
  StatusOr<NifFile> g = parse_nif(again->data(), again->size());
  NIFC_FUZZ_CHECK(g.ok());
  NIFC_FUZZ_CHECK(g->tensors == f.tensors);
  NIFC_FUZZ_CHECK(g->mean == f.mean && g->stddev == f.stddev);
}

void parse_both(const uint8_t* data, size_t size) {
  StatusOr<NifFile> f = parse_nif(data, size);
  StatusOr<NifFile> h = parse_nif_header(data, size);
  // The header parser checks a subset of what parse_nif checks.
  if (f.ok()) check_parsed(f.value(), data, size);
  if (!h.ok()) NIFC_FUZZ_CHECK(!f.ok());
  if (!f.ok()) NIFC_FUZZ_CHECK(!f.status().message().empty());
}

}  // namespace
}  // namespace nifc::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nifc::fuzz::parse_both(data, size);
  const std::vector<uint8_t> repaired = nifc::fuzz::repair_nif_checksums(data, size);
  if (size > 0 && std::memcmp(repaired.data(), data, size) != 0) {
    nifc::fuzz::parse_both(repaired.data(), repaired.size());
  }
  return 0;
}
