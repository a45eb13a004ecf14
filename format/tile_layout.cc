#include "format/tile_layout.h"

#include <algorithm>
#include <string>

namespace nifc {

TileSpan tile_span(uint32_t size, uint32_t count, uint32_t overlap, uint32_t k) {
  // SPEC.md §11.1: c_k = floor(k * size / count), in 64 bits.
  const auto core = [&](uint64_t i) { return static_cast<uint32_t>(i * size / count); };
  const uint32_t c0 = core(k), c1 = core(uint64_t{k} + 1);
  TileSpan s;
  s.begin = k == 0 ? 0 : (c0 > overlap ? c0 - overlap : 0);
  s.end = uint64_t{k} + 1 >= count
              ? size
              : static_cast<uint32_t>(std::min<uint64_t>(uint64_t{c1} + overlap, size));
  return s;
}

double tile_weight(const TileSpan& s, uint32_t count, uint32_t overlap, uint32_t k, double u) {
  // SPEC.md §11.2: rises over [begin, begin + 2 overlap] after an interior boundary, falls
  // over [end - 2 overlap, end] before one; 1 towards the image's own edges.
  const double ramp = 2.0 * overlap;
  double w = 1.0;
  if (k > 0) w = std::min(w, (u - s.begin) / ramp);
  if (uint64_t{k} + 1 < count) w = std::min(w, (s.end - u) / ramp);
  return w > 0.0 ? w : 0.0;
}

Status validate_tile_layout(uint32_t width, uint32_t height, uint32_t columns, uint32_t rows,
                            uint32_t overlap, uint64_t max_tiles) {
  if (columns < 1 || rows < 1) return corrupt("tile layout with 0 columns or rows");
  if (columns > width || rows > height) {
    return corrupt("tile layout of " + std::to_string(columns) + "x" + std::to_string(rows) +
                   " for a " + std::to_string(width) + "x" + std::to_string(height) + " image");
  }
  if (uint64_t{columns} * rows > max_tiles) {
    return limit_exceeded(std::to_string(uint64_t{columns} * rows) + " tiles exceed the limit of " +
                          std::to_string(max_tiles));
  }
  if (overlap < 1) return corrupt("tile overlap is 0");
  // SPEC.md §11.1: the fade zones around two boundaries must not meet.
  if ((columns > 1 && width / columns < 2 * uint64_t{overlap}) ||
      (rows > 1 && height / rows < 2 * uint64_t{overlap})) {
    return corrupt("tiles narrower than twice their overlap of " + std::to_string(overlap) +
                   " pixels");
  }
  return Status();
}

uint64_t tile_core_size(uint32_t size, uint32_t count, uint32_t k) {
  return (uint64_t{k} + 1) * size / count - uint64_t{k} * size / count;
}

StatusOr<TileLayout> choose_tile_layout(uint32_t width, uint32_t height, uint32_t tile_size,
                                        uint32_t overlap) {
  TileLayout l;
  if (tile_size == 0 || (width <= tile_size && height <= tile_size)) return l;
  l.columns = static_cast<uint32_t>((uint64_t{width} + tile_size - 1) / tile_size);
  l.rows = static_cast<uint32_t>((uint64_t{height} + tile_size - 1) / tile_size);
  l.overlap = overlap;
  const Status s = validate_tile_layout(width, height, l.columns, l.rows, l.overlap, ~uint64_t{0});
  if (!s.ok()) {
    return invalid_argument("tile size " + std::to_string(tile_size) + " with overlap " +
                            std::to_string(overlap) + ": " + s.message());
  }
  return l;
}

}  // namespace nifc
