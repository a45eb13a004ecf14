// The context-adaptive binary range coder of SPEC.md §6.5 (WGTS compression 2):
// quantized levels in, bytes out, and back.  No LibTorch, no allocation beyond
// the output.
#ifndef NIFC_FORMAT_LEVEL_CODER_H_
#define NIFC_FORMAT_LEVEL_CODER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "format/status.h"

namespace nifc {

// How the levels of one tensor are laid out for the context model: `planes`
// planes of `rows` x `cols` values, plane after plane, row after row.  A grid
// level k (SPEC.md §6.4) is C_g planes of H_k x W_k and uses context set 1 + k;
// every network tensor is one row (set 0).
struct LevelShape {
  uint64_t planes = 1, rows = 1, cols = 0;
  uint32_t context_set = 0;  // 0..16
};

// The shapes of a file's tensors in WGTS order (SPEC.md §6.2), from its sizes
// and (grid files) the latent levels.
struct Architecture;
std::vector<LevelShape> level_shapes(const Architecture& arch, uint32_t channels);

// SPEC.md §6.5's contexts, for encoders that estimate the coder's cost: the class of an
// activity a = |left| + |up| + (|up-left| + |up-right|) / 2 (0..10), and a level's sign
// class (0 for 0, 1 for positive, 2 for negative).
int level_activity_class(uint32_t a);
int level_sign_class(int32_t q);

// Codes every level of every tensor, in order.  |level| must be <= 32767.
std::vector<uint8_t> encode_levels(const std::vector<LevelShape>& shapes,
                                   const std::vector<const int32_t*>& levels);

// Decodes what encode_levels wrote: out[t] receives shapes[t]'s value count of
// levels.  Corrupt when a level exceeds `limit` in magnitude or when the stream
// does not end exactly where the coder stops reading.
Status decode_levels(const uint8_t* data, size_t size, const std::vector<LevelShape>& shapes,
                     int32_t limit, std::vector<std::vector<int32_t>>* out);

}  // namespace nifc

#endif  // NIFC_FORMAT_LEVEL_CODER_H_
