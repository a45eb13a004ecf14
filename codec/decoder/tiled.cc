// The tiled decoder (SPEC.md §11): each tile's network evaluated where its cross-fade
// weight is positive, the weighted sum clamped.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "codec/decoder/decoder.h"
#include "codec/decoder/evaluator.h"
#include "format/tile_layout.h"

namespace nifc {
namespace internal {
namespace {

// Rows of output evaluated between rebuilds of the tiles' column tables.
constexpr uint32_t kTiledBandRows = 64;

// One tile column's share of a column chunk (SPEC.md §11.2): the sub-columns
// [first, first + count) of the chunk where its weight is positive, their tile-local x
// and their weights.
struct TileColumnRange {
  size_t first = 0, count = 0;
  std::vector<float> local_x;
  std::vector<double> weight;
};

}  // namespace

// SPEC.md §11: a tiled file.  Each output sample point p (SPEC.md §7) lies at
// U = p_x W / W', V = p_y H / H' in stored pixel units; every tile whose weight there is
// positive is evaluated at its own coordinates (tile-local x = 2 (U - begin) / size - 1,
// the tile's network sees its sub-rectangle as an image of its own, §7), de-normalized and
// clamped by its own NORM, and the results are summed with the weights and clamped.  The
// sum runs over tile rows, then tile columns, in ascending order, so a sample's value does
// not depend on the region, the column chunking or the thread count.
StatusOr<Image> decode_tiled_nif(const NifFile& file, const DecodeOptions& options) {
  NIFC_ASSIGN_OR_RETURN(const OutputGrid g, resolve_output_grid(file, options));
  const uint32_t nx = file.tile_columns, ny = file.tile_rows, overlap = file.tile_overlap;
  NIFC_RETURN_IF_ERROR(validate_tile_layout(file.width, file.height, nx, ny, overlap,
                                            std::numeric_limits<uint64_t>::max()));
  if (file.tiles.size() != uint64_t{nx} * ny) {
    return invalid_argument("tiled file holds " + std::to_string(file.tiles.size()) +
                            " tiles, its layout " + std::to_string(uint64_t{nx} * ny));
  }
  std::vector<Network> nets;
  nets.reserve(file.tiles.size());
  size_t table_bytes_per_column = 1;
  for (size_t t = 0; t < file.tiles.size(); ++t) {
    const NifFile& tile = file.tiles[t];
    if (tile.tiled() || tile.channels != file.channels) {
      return invalid_argument("tile " + std::to_string(t) + " does not match its file");
    }
    StatusOr<Network> n = Network::create(tile);
    if (!n.ok()) {
      return Status(n.status().code(), "tile " + std::to_string(t) + ": " + n.status().message());
    }
    table_bytes_per_column =
        std::max(table_bytes_per_column, RowEvaluator::table_bytes_per_column(*n->impl_));
    nets.push_back(std::move(n.value()));
  }
  std::vector<TileSpan> span_x(nx), span_y(ny);
  for (uint32_t q = 0; q < nx; ++q) span_x[q] = tile_span(file.width, nx, overlap, q);
  for (uint32_t r = 0; r < ny; ++r) span_y[r] = tile_span(file.height, ny, overlap, r);

  Image img = output_image(g, file.channels, options.bit_depth);
  const uint32_t s = options.supersample;
  const float max_value = static_cast<float>(img.max_value());
  const uint32_t ch = file.channels;
  // SPEC.md §11.2: stored-pixel positions of the sample points, in binary64.
  const auto pos_u = [&](size_t col) {  // col: sub-column of the region
    const double p = (g.x0 + col / s) + ((col % s) + 0.5) / s;
    return p * file.width / g.width;
  };
  const auto pos_v = [&](uint32_t j, uint32_t v) {
    const double p = (g.y0 + j) + (v + 0.5) / s;
    return p * file.height / g.height;
  };
  int threads =
      options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, std::min<int>(threads, static_cast<int>(g.region_height)));

  // Column chunks keep the tables of a band's tiles (two tile rows, each column in up to
  // two tiles: about 3 tables per column) within kTableBudgetBytes.
  const size_t chunk_pixels = std::max<size_t>(
      1, std::min<size_t>(g.region_width, kTableBudgetBytes / (3 * table_bytes_per_column * s)));
  for (size_t px0 = 0; px0 < g.region_width; px0 += chunk_pixels) {
    const size_t pn = std::min<size_t>(chunk_pixels, g.region_width - px0);
    const size_t cn = pn * s;
    const size_t c0 = px0 * s;
    // Per tile column: its sub-columns in this chunk (U is increasing in the column, and
    // a tile's weight is positive exactly for begin < U < end: SPEC.md §11.2).
    std::vector<TileColumnRange> ranges(nx);
    size_t widest = 1;
    for (uint32_t q = 0; q < nx; ++q) {
      TileColumnRange& tr = ranges[q];
      size_t lo = 0, hi = cn;
      while (lo < hi) {  // first column with U > begin
        const size_t mid = lo + (hi - lo) / 2;
        if (pos_u(c0 + mid) > span_x[q].begin)
          hi = mid;
        else
          lo = mid + 1;
      }
      size_t end_lo = lo, end_hi = cn;
      while (end_lo < end_hi) {  // first column with U >= end
        const size_t mid = end_lo + (end_hi - end_lo) / 2;
        if (pos_u(c0 + mid) >= span_x[q].end)
          end_hi = mid;
        else
          end_lo = mid + 1;
      }
      tr.first = lo;
      tr.count = end_lo - lo;
      tr.local_x.resize(tr.count);
      tr.weight.resize(tr.count);
      const double size_x = span_x[q].size();
      for (size_t k = 0; k < tr.count; ++k) {
        const double u = pos_u(c0 + tr.first + k);
        tr.local_x[k] = static_cast<float>(2.0 * (u - span_x[q].begin) / size_x - 1.0);
        tr.weight[k] = tile_weight(span_x[q], nx, overlap, q, u);
      }
      widest = std::max(widest, tr.count);
    }
    for (uint32_t band0 = 0; band0 < g.region_height; band0 += kTiledBandRows) {
      const uint32_t band1 = std::min<uint32_t>(g.region_height, band0 + kTiledBandRows);
      // Tile rows this band touches: begin < V < end for some sample row.
      const double v_first = pos_v(band0, 0), v_last = pos_v(band1 - 1, s - 1);
      uint32_t r_lo = 0, r_hi = 0;  // [r_lo, r_hi)
      while (r_lo < ny && !(span_y[r_lo].end > v_first)) ++r_lo;
      r_hi = r_lo;
      while (r_hi < ny && span_y[r_hi].begin < v_last) ++r_hi;
      // The column tables of those tiles, built on the threads.
      std::vector<std::unique_ptr<RowEvaluator>> rows_eval((r_hi - r_lo) * size_t{nx});
      std::vector<std::pair<size_t, size_t>> blocks;  // (evaluator, first column)
      for (uint32_t r = r_lo; r < r_hi; ++r) {
        for (uint32_t q = 0; q < nx; ++q) {
          if (ranges[q].count == 0) continue;
          const size_t e = size_t{r - r_lo} * nx + q;
          rows_eval[e] = std::make_unique<RowEvaluator>(*nets[size_t{r} * nx + q].impl_,
                                                        ranges[q].local_x.data(), ranges[q].count);
          for (size_t b = 0; b < rows_eval[e]->padded_columns(); b += kTableBlockColumns) {
            blocks.emplace_back(e, b);
          }
        }
      }
      std::atomic<size_t> next_block{0};
      run_on_threads(
          std::min<int>(threads, static_cast<int>(std::max<size_t>(blocks.size(), 1))), [&]() {
            for (size_t b; (b = next_block.fetch_add(1)) < blocks.size();) {
              RowEvaluator& ev = *rows_eval[blocks[b].first];
              ev.build(blocks[b].second,
                       std::min(ev.padded_columns(), blocks[b].second + kTableBlockColumns));
            }
          });
      std::atomic<uint32_t> next_row{band0};
      run_on_threads(std::min<int>(threads, static_cast<int>(band1 - band0)), [&]() {
        std::vector<std::unique_ptr<Scratch>> scratch(nets.size());
        FloatBuffer vals(widest * ch);     // planar: vals[c * count + k]
        std::vector<double> acc(cn * ch);  // planar: acc[c * cn + column]
        std::vector<double> sum(s > 1 ? pn * ch : 0);
        const double inv = 1.0 / (static_cast<double>(s) * s);
        for (uint32_t j; (j = next_row.fetch_add(1)) < band1;) {
          uint16_t* dst = img.samples.data() + (static_cast<size_t>(j) * g.region_width + px0) * ch;
          std::fill(sum.begin(), sum.end(), 0.0);
          for (uint32_t v = 0; v < s; ++v) {
            const double pv = pos_v(j, v);
            std::fill(acc.begin(), acc.end(), 0.0);
            for (uint32_t r = r_lo; r < r_hi; ++r) {
              const double wy = tile_weight(span_y[r], ny, overlap, r, pv);
              if (!(wy > 0.0)) continue;
              const float y =
                  static_cast<float>(2.0 * (pv - span_y[r].begin) / span_y[r].size() - 1.0);
              for (uint32_t q = 0; q < nx; ++q) {
                const TileColumnRange& tr = ranges[q];
                if (tr.count == 0) continue;
                const size_t t = size_t{r} * nx + q;
                if (!scratch[t]) scratch[t] = std::make_unique<Scratch>(*nets[t].impl_);
                rows_eval[size_t{r - r_lo} * nx + q]->evaluate(y, *scratch[t], vals.data(),
                                                               tr.count);
                for (uint32_t c = 0; c < ch; ++c) {
                  const float* src = vals.data() + c * tr.count;
                  double* a = acc.data() + c * cn + tr.first;
                  for (size_t k = 0; k < tr.count; ++k) a[k] += tr.weight[k] * wy * src[k];
                }
              }
            }
            // SPEC.md §11.2: the blended sample is clamped to [0, 1].
            for (double& a : acc) a = a > 0.0 ? (a < 1.0 ? a : 1.0) : 0.0;
            if (s == 1) continue;
            add_subsamples(acc.data(), cn, pn, ch, s, sum.data());
          }
          if (s == 1) {
            for (size_t i = 0; i < pn; ++i) {
              for (uint32_t c = 0; c < ch; ++c) {
                dst[i * ch + c] = static_cast<uint16_t>(std::lround(acc[c * cn + i] * max_value));
              }
            }
          } else {
            for (size_t k = 0; k < pn * ch; ++k) {
              dst[k] = static_cast<uint16_t>(std::lround(sum[k] * inv * max_value));
            }
          }
        }
      });
    }
  }
  return img;
}

}  // namespace internal
}  // namespace nifc
