// Fuzz target: parse_nif then decode_nif (format/ and the torch-free decoder in codec/).
//
// Input: 4 option bytes, then a .nif file (its checksums are repaired first, so that
// mutations reach the decoder).  The options choose a small output (at most 64x64, an
// optional region, 8 or 16 bits, supersampling 1..4); NifLimits allow at most 200k
// parameters and the work per input is capped, so each execution stays short.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "codec/decoder/decoder.h"
#include "format/nif_format.h"
#include "tests/fuzz/fuzz_util.h"

namespace nifc::fuzz {
namespace {

// Multiply-adds per input, roughly: parameters x evaluated points.
constexpr uint64_t kWorkBudget = uint64_t{1} << 23;

void check_image(const Image& img, const OutputGrid& g, const NifFile& f, uint32_t depth) {
  NIFC_FUZZ_CHECK(img.width == g.region_width && img.height == g.region_height);
  NIFC_FUZZ_CHECK(img.channels == f.channels && img.bit_depth == depth);
  NIFC_FUZZ_CHECK(img.samples.size() == img.pixel_count() * img.channels);
  for (uint16_t v : img.samples) NIFC_FUZZ_CHECK(v <= img.max_value());
}

void run(const uint8_t* data, size_t size) {
  if (size < 4) return;
  const uint8_t b0 = data[0], b1 = data[1], b2 = data[2], b3 = data[3];
  const std::vector<uint8_t> file = repair_nif_checksums(data + 4, size - 4);
  NifLimits limits;
  limits.max_parameters = 200000;
  StatusOr<NifFile> f = parse_nif(file.data(), file.size(), limits);
  if (!f.ok()) return;
  const uint64_t params = file_parameter_count(f.value());  // all tiles of a tiled file

  DecodeOptions o;
  o.threads = 1;
  o.bit_depth = (b2 & 1) ? 16 : 8;
  o.supersample = 1 + ((b2 >> 1) & 3);
  o.max_output_pixels = 64 * 64;
  const int mode = b0 >> 6;  // 0: W x H, 1: W only, 2: H only, 3: W x H and a region
  const uint32_t w = 1 + (b0 & 63), h = 1 + (b1 & 63);
  if (mode != 2) o.width = w;
  if (mode != 1) o.height = h;
  if (mode == 3) {
    o.region_x = (b2 >> 3) % w;
    o.region_y = (b3 & 15) % h;
    o.region_width = 1 + (b1 >> 6) * (b3 >> 4);
    o.region_height = 1 + (b3 >> 4);
    if (b1 & 0x80) o.region_width += w;  // sometimes outside the grid: must be refused
  }
  StatusOr<OutputGrid> g = resolve_output_grid(f.value(), o);
  if (!g.ok()) {
    NIFC_FUZZ_CHECK(!decode_nif(f.value(), o).ok());
    return;
  }
  NIFC_FUZZ_CHECK(g->region_width >= 1 && g->region_height >= 1);
  NIFC_FUZZ_CHECK(uint64_t{g->x0} + g->region_width <= g->width);
  NIFC_FUZZ_CHECK(uint64_t{g->y0} + g->region_height <= g->height);
  NIFC_FUZZ_CHECK(uint64_t{g->region_width} * g->region_height <= o.max_output_pixels);
  const uint64_t ss = uint64_t{o.supersample} * o.supersample;
  if (params * ss * g->region_width * g->region_height > kWorkBudget) {
    // Too much work for one execution: decode one pixel of the same grid instead.
    o.supersample = 1;
    o.region_x = g->x0;
    o.region_y = g->y0;
    o.region_width = o.region_height = 1;
    g = resolve_output_grid(f.value(), o);
    NIFC_FUZZ_CHECK(g.ok());
  }
  StatusOr<Image> img = decode_nif(f.value(), o);
  NIFC_FUZZ_CHECK(img.ok());  // a parsed file and a resolved grid always decode
  check_image(img.value(), g.value(), f.value(), o.bit_depth);

  // SPEC.md §7: a region equals the same crop of the full decode.
  const bool is_region = g->region_width != g->width || g->region_height != g->height;
  if (is_region && params * ss * g->width * g->height <= kWorkBudget &&
      uint64_t{g->width} * g->height <= o.max_output_pixels) {
    DecodeOptions full = o;
    full.width = g->width;
    full.height = g->height;
    full.region_x = full.region_y = full.region_width = full.region_height = 0;
    StatusOr<Image> all = decode_nif(f.value(), full);
    NIFC_FUZZ_CHECK(all.ok());
    for (uint32_t y = 0; y < img->height; ++y) {
      for (uint32_t x = 0; x < img->width; ++x) {
        for (uint32_t c = 0; c < img->channels; ++c) {
          NIFC_FUZZ_CHECK(img->at(x, y, c) == all->at(g->x0 + x, g->y0 + y, c));
        }
      }
    }
  }
}

}  // namespace
}  // namespace nifc::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nifc::fuzz::run(data, size);
  return 0;
}
