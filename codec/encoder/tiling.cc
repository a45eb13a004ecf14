#include "codec/encoder/tiling.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "codec/decoder/decoder.h"
#include "codec/encoder/presets.h"
#include "format/nif_format.h"
#include "format/tile_layout.h"

namespace nifc {
namespace {

Image crop(const Image& image, const TileSpan& sx, const TileSpan& sy) {
  Image t;
  t.width = sx.size();
  t.height = sy.size();
  t.channels = image.channels;
  t.bit_depth = image.bit_depth;
  t.samples.resize(t.pixel_count() * t.channels);
  const size_t row = size_t{t.width} * t.channels;
  for (uint32_t y = 0; y < t.height; ++y) {
    const uint16_t* src =
        image.samples.data() + (size_t{sy.begin + y} * image.width + sx.begin) * image.channels;
    std::copy(src, src + row, t.samples.data() + y * row);
  }
  return t;
}

}  // namespace

StatusOr<EncodeResult> encode_tiled(const Image& image, const RateTarget& target,
                                    const EncodeOptions& options, const TileOptions& tile_options) {
  NIFC_ASSIGN_OR_RETURN(
      const TileLayout layout,
      choose_tile_layout(image.width, image.height, tile_options.tile_size, tile_options.overlap));
  if (!layout.tiled()) return encode_to_target(image, target, options);
  const auto t0 = std::chrono::steady_clock::now();
  if (image.samples.size() != image.pixel_count() * image.channels || image.channels < 1 ||
      image.channels > 4) {
    return invalid_argument("invalid image");
  }
  NifFile header;
  header.width = image.width;
  header.height = image.height;
  header.channels = static_cast<uint8_t>(image.channels);
  header.source_bit_depth = static_cast<uint8_t>(image.bit_depth);
  header.tile_columns = layout.columns;
  header.tile_rows = layout.rows;
  header.tile_overlap = layout.overlap;

  const uint32_t count = layout.columns * layout.rows;
  std::vector<std::vector<uint8_t>> files;
  files.reserve(count);
  EncodeResult total;
  double float_se = 0.0;  // sum over tiles of pixels * MSE of the float network
  uint64_t fitted_pixels = 0;
  const auto tile_arch = [&](uint32_t tile_width, uint32_t tile_height) {
    return tile_architecture(options.arch, image.width, image.height, tile_width, tile_height,
                             tile_options.cap_pe_levels);
  };
  // A file's networks may hold at most NifLimits::max_parameters (the decoder's limit);
  // a grid's count is known before fitting, so a file that could not be written is
  // refused now, not after every tile is fitted.  (A rate target sizes other networks.)
  if (options.arch.encoding == Encoding::kGrid || target.kind == RateTarget::Kind::kNone) {
    const uint64_t params =
        file_parameter_count(options.arch, image.channels, image.width, image.height, tile_options);
    const uint64_t limit = NifLimits().max_parameters;
    if (params > limit) {
      return limit_exceeded(
          "the tiles' networks would hold " + std::to_string(params) +
          " parameters, more than a file may (" + std::to_string(limit) + ")" +
          (options.arch.encoding == Encoding::kGrid
               ? "; a coarser grid (--grid-coarsen 1) holds a quarter of the latents"
               : ""));
    }
  }
  for (uint32_t t = 0; t < count; ++t) {
    const uint32_t q = t % layout.columns, r = t / layout.columns;
    const TileSpan sx = tile_span(image.width, layout.columns, layout.overlap, q);
    const TileSpan sy = tile_span(image.height, layout.rows, layout.overlap, r);
    const Image tile = crop(image, sx, sy);
    EncodeOptions o = options;
    o.arch = tile_arch(tile.width, tile.height);
    if (options.progress) {
      o.progress = [&options, t, count](const EncodeProgress& p) {
        EncodeProgress tp = p;
        tp.tile = static_cast<int>(t) + 1;
        tp.tiles = static_cast<int>(count);
        return options.progress(tp);
      };
    }
    RateTarget tile_target = target;
    if (target.kind == RateTarget::Kind::kBytes) {
      // The assembled file is smaller than the sum of the tiles' own files (SPEC.md §11.3:
      // 60 bytes less per tile, 72 more once), so shares of the target keep it under.
      const uint64_t core = tile_core_size(image.width, layout.columns, q) *
                            tile_core_size(image.height, layout.rows, r);
      tile_target.bytes = static_cast<uint64_t>(
          std::floor(static_cast<double>(target.bytes) * core / image.pixel_count()));
    }
    StatusOr<EncodeResult> res = encode_to_target(tile, tile_target, o);
    if (!res.ok()) {
      return Status(res.status().code(), "tile " + std::to_string(t + 1) + " of " +
                                             std::to_string(count) + ": " + res.status().message());
    }
    files.push_back(std::move(res->file));
    total.steps += res->steps;
    total.fit_seconds += res->fit_seconds;
    total.parameters += res->parameters;
    total.device = res->device;
    float_se += std::pow(10.0, -res->float_psnr_db / 10.0) * tile.pixel_count();
    fitted_pixels += tile.pixel_count();
  }
  NIFC_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, assemble_tiled_nif(header, files));
  files.clear();

  // The reported PSNR is that of the whole file as the plain decoder rebuilds it.
  NIFC_ASSIGN_OR_RETURN(const NifFile parsed, parse_nif(bytes.data(), bytes.size()));
  DecodeOptions dopt;
  dopt.bit_depth = image.bit_depth;
  dopt.threads = options.threads;
  NIFC_ASSIGN_OR_RETURN(const Image decoded, decode_nif(parsed, dopt));
  total.file = std::move(bytes);
  total.psnr_db = psnr_db(image, decoded);
  total.float_psnr_db = -10.0 * std::log10(float_se / static_cast<double>(fitted_pixels));
  total.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  total.tiles = count;
  total.header = parsed;  // the layout and every tile's network, without weights
  for (NifFile& t : total.header.tiles) {
    t.steps.clear();
    t.tensors.clear();
  }
  return total;
}

}  // namespace nifc
