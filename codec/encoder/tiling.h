// Tiled encoding of large images (SPEC.md §11): the image is split into overlapping tiles,
// each fitted by its own network (so memory and the size of each fit stay bounded), and
// the decoder cross-fades neighbouring tiles over their overlap.
//
// Depends on the encoder (encode_to_target) but not on LibTorch directly.  Not re-entrant
// with respect to LibTorch's global settings, like encode_image.
#ifndef NIFC_CODEC_ENCODER_TILING_H_
#define NIFC_CODEC_ENCODER_TILING_H_

#include <cstdint>

#include "codec/decoder/image.h"
#include "codec/encoder/encoder.h"
#include "codec/encoder/rate_control.h"
#include "format/status.h"

namespace nifc {

// Encodes `image` as a tiled file when the layout has more than one tile, else as
// encode_to_target does.  Each tile is fitted alone by encode_to_target on its crop, with
// `options` (its time_limit_s applies to each fit; a grid architecture's levels are scaled
// to the tile) and a share of `target`: a byte target in proportion to the tile's core
// pixels (the assembled file never exceeds it), a PSNR target as it is.  progress reports
// the tile (EncodeProgress::tile, tiles).  The result's psnr_db is that of the whole
// decoded file; float_psnr_db is from the tiles' float networks, pixel-weighted;
// float_tensors is empty (the tiles are not re-quantized as a whole); header is the file's
// header with every tile's (SPEC.md §11), without weights.
StatusOr<EncodeResult> encode_tiled(const Image& image, const RateTarget& target,
                                    const EncodeOptions& options, const TileOptions& tile_options);

}  // namespace nifc

#endif  // NIFC_CODEC_ENCODER_TILING_H_
