// Tile layout arithmetic of SPEC.md §11, shared by the encoder (which chooses a layout
// and crops tiles) and the decoder (which cross-fades them).  Pure functions; no state.
#ifndef NIFC_FORMAT_TILE_LAYOUT_H_
#define NIFC_FORMAT_TILE_LAYOUT_H_

#include <cstdint>

#include "format/status.h"

namespace nifc {

// SPEC.md §11.1: tile k (0-based) of `count` along an axis of `size` pixels, with
// `overlap` pixels: core boundaries c_k = floor(k * size / count); the tile covers pixels
// [begin, end) = [c_k - overlap, c_{k+1} + overlap] clipped to the image (no clipping
// happens at interior boundaries of a valid layout).
struct TileSpan {
  uint32_t begin = 0;
  uint32_t end = 0;
  uint32_t size() const { return end - begin; }
};
TileSpan tile_span(uint32_t size, uint32_t count, uint32_t overlap, uint32_t k);

// SPEC.md §11.2: the cross-fade weight of tile k of `count` (span `s`) at position u in
// pixel units (0 at the image's left/top edge, `size` at its right/bottom edge): 1 inside,
// falling linearly to 0 over the 2 * overlap pixels around an interior boundary; the
// weights of the tiles along an axis sum to 1.  Computed in binary64.
double tile_weight(const TileSpan& s, uint32_t count, uint32_t overlap, uint32_t k, double u);

// Checks a tile layout (SPEC.md §11.1): 1 <= columns <= width, 1 <= rows <= height,
// overlap >= 1, every core at least 2 * overlap pixels wide along an axis with more than
// one tile, at most `max_tiles` tiles.  Errors: kCorrupt, kLimit (too many tiles).
Status validate_tile_layout(uint32_t width, uint32_t height, uint32_t columns, uint32_t rows,
                            uint32_t overlap, uint64_t max_tiles);

// Core pixels of tile k along an axis of `size` pixels cut into `count` tiles:
// c_{k+1} - c_k (SPEC.md §11.1).
uint64_t tile_core_size(uint32_t size, uint32_t count, uint32_t k);

// The layout an encoder gives a width x height image with tiles of at most tile_size x
// tile_size core pixels: columns = ceil(width / tile_size), rows likewise, and `overlap`;
// {1, 1} (untiled) when the image fits one tile or tile_size is 0.  Errors:
// kInvalidArgument when the tiles would be narrower than twice the overlap (§11.1).
struct TileLayout {
  uint32_t columns = 1, rows = 1, overlap = 0;
  bool tiled() const { return columns * rows > 1; }
};
StatusOr<TileLayout> choose_tile_layout(uint32_t width, uint32_t height, uint32_t tile_size,
                                        uint32_t overlap);

}  // namespace nifc

#endif  // NIFC_FORMAT_TILE_LAYOUT_H_
