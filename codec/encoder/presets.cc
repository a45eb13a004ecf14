#include "codec/encoder/presets.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "format/tile_layout.h"

namespace nifc {
namespace {

// Grid levels for a width x height image: level k (0 the finest) has
// ceil(size / 2^(k + coarsen)) samples per axis (SPEC.md §6.4).
void size_grid(int coarsen, uint32_t width, uint32_t height, Architecture* arch) {
  if (arch->encoding != Encoding::kGrid) return;
  for (size_t k = 0; k < arch->grid_levels.size(); ++k) {
    const uint64_t div = uint64_t{1} << (k + coarsen);
    arch->grid_levels[k].width = static_cast<uint32_t>((width + div - 1) / div);
    arch->grid_levels[k].height = static_cast<uint32_t>((height + div - 1) / div);
  }
}

// Optimizer steps per effort (README "Quality and effort").
constexpr int kEffortSteps[9] = {150, 250, 400, 600, 900, 1300, 2000, 3000, 5000};

}  // namespace

double grid_lambda_for_quality(double quality) {
  return 0.06 * std::pow(2.0, -std::clamp(quality, 0.0, 100.0) / 16.0);
}

double grid_lambda_for_bpp(double bpp) {
  return 0.01637 * std::pow(std::max(bpp, 0.01) / 0.227, -1.0 / 0.69);
}

int grid_steps_for_effort(int effort) { return kEffortSteps[std::clamp(effort, 1, 9) - 1]; }

int default_grid_steps() { return grid_steps_for_effort(kDefaultEffort); }

Architecture tile_architecture(const Architecture& arch, uint32_t width, uint32_t height,
                               uint32_t tile_width, uint32_t tile_height, bool cap_pe_levels) {
  Architecture a = arch;
  if (a.encoding == Encoding::kPositional && cap_pe_levels) {
    a.pe_levels = static_cast<uint8_t>(
        std::min<int>(a.pe_levels, max_useful_pe_levels(tile_width, tile_height)));
  }
  if (a.encoding == Encoding::kGrid) {
    for (GridLevel& g : a.grid_levels) {
      g.width = static_cast<uint32_t>(
          std::max<uint64_t>(1, (uint64_t{g.width} * tile_width + width - 1) / width));
      g.height = static_cast<uint32_t>(
          std::max<uint64_t>(1, (uint64_t{g.height} * tile_height + height - 1) / height));
    }
  }
  return a;
}

uint64_t file_parameter_count(const Architecture& arch, uint32_t channels, uint32_t width,
                              uint32_t height, const TileOptions& tiles) {
  const StatusOr<TileLayout> layout =
      choose_tile_layout(width, height, tiles.tile_size, tiles.overlap);
  if (!layout.ok() || !layout->tiled()) return parameter_count(arch, channels);
  uint64_t params = 0;
  const uint32_t count = layout->columns * layout->rows;
  for (uint32_t t = 0; t < count; ++t) {
    const TileSpan sx = tile_span(width, layout->columns, layout->overlap, t % layout->columns);
    const TileSpan sy = tile_span(height, layout->rows, layout->overlap, t / layout->columns);
    params += parameter_count(
        tile_architecture(arch, width, height, sx.size(), sy.size(), tiles.cap_pe_levels),
        channels);
  }
  return params;
}

Status rate_target_of(const NetworkChoice& net, const TargetChoice& a, uint64_t pixels,
                      RateTarget* t) {
  // A grid's rate is in its latents: its MLP keeps the width it is given.
  if (net.hidden != 0 && net.arch != "grid" && a.any()) {
    return invalid_argument("--hidden conflicts with a rate target (the target sizes the network)");
  }
  if (a.bpp > 0) {
    t->kind = RateTarget::Kind::kBytes;
    t->bytes = bytes_for_bpp(a.bpp, pixels);
  } else if (a.size > 0) {
    t->kind = RateTarget::Kind::kBytes;
    t->bytes = a.size;
  } else if (a.psnr > 0) {
    t->kind = RateTarget::Kind::kPsnr;
    t->psnr_db = a.psnr;
  } else if (a.quality >= 0 && net.arch != "grid") {
    t->kind = RateTarget::Kind::kBytes;
    t->bytes = bytes_for_bpp(bpp_for_quality(a.quality), pixels);
  }
  return Status();
}

Status build_architecture(const NetworkChoice& a, Architecture* arch) {
  struct Preset {
    Encoding enc;
    Activation act;
    int hidden, layers, pe_levels;
  };
  static const std::map<std::string, Preset> kPresets = {
      {"siren", {Encoding::kNone, Activation::kSine, 64, 3, 0}},
      {"siren-pe", {Encoding::kPositional, Activation::kSine, 48, 5, 8}},
      {"siren-fourier", {Encoding::kFourier, Activation::kSine, 64, 3, 0}},
      {"relu", {Encoding::kNone, Activation::kRelu, 64, 3, 0}},
      {"pe", {Encoding::kPositional, Activation::kRelu, 64, 3, 10}},
      {"fourier", {Encoding::kFourier, Activation::kRelu, 64, 3, 0}},
      {"grid", {Encoding::kGrid, Activation::kRelu, 16, 2, 0}},
  };
  const auto it = kPresets.find(a.arch);
  if (it == kPresets.end()) {
    return invalid_argument("unknown --arch '" + a.arch +
                            "' (siren, siren-pe, siren-fourier, relu, pe, fourier, grid)");
  }
  const Preset& p = it->second;
  const int hidden = a.hidden ? a.hidden : p.hidden;
  const int layers = a.layers ? a.layers : p.layers;
  if (hidden < 1 || hidden > 4096) return invalid_argument("--hidden must be 1..4096");
  if (layers < 1 || layers > 64) return invalid_argument("--layers must be 1..64");
  arch->encoding = p.enc;
  arch->activation = p.act;
  arch->widths.assign(layers, static_cast<uint16_t>(hidden));
  arch->omega0 = p.act == Activation::kSine ? a.omega0 : 1.0f;
  arch->omega = p.act == Activation::kSine ? a.omega : 1.0f;
  if (p.enc == Encoding::kPositional) {
    const int levels = a.pe_levels ? a.pe_levels : p.pe_levels;
    if (levels < 1 || levels > 20) return invalid_argument("--pe-levels must be 1..20");
    arch->pe_levels = static_cast<uint8_t>(levels);
  }
  if (p.enc == Encoding::kFourier) {
    const int m = a.ff_features ? a.ff_features : hidden / 2 > 0 ? hidden / 2 : 1;
    if (m < 1 || m > 4096) return invalid_argument("--ff-features must be 1..4096");
    arch->ff_features = static_cast<uint16_t>(m);
    arch->ff_sigma = a.ff_sigma;
    arch->ff_seed = a.ff_seed;
  }
  if (p.enc == Encoding::kGrid) {
    // The level sizes follow the image (plan_encode sizes them).
    if (a.grid_levels < 1 || a.grid_levels > 16)
      return invalid_argument("--grid-levels must be 1..16");
    if (a.grid_channels < 1 || a.grid_channels > 16) {
      return invalid_argument("--grid-channels must be 1..16");
    }
    if (a.grid_coarsen < -1 || a.grid_coarsen > 16) {
      return invalid_argument("--grid-coarsen must be 0..16");
    }
    arch->grid_channels = static_cast<uint8_t>(a.grid_channels);
    arch->grid_levels.assign(a.grid_levels, GridLevel{1, 1});
  }
  return Status();
}

Status plan_encode(const EncodeRequest& r, uint32_t width, uint32_t height, EncodePlan* plan) {
  NetworkChoice net = r.net;
  EncodeOptions o = r.options;
  const uint64_t pixels = uint64_t{width} * height;
  const int effort = r.effort == 0 ? kDefaultEffort : r.effort;
  if (effort < 1 || effort > 9) return invalid_argument("--effort must be 1..9");
  if (r.target.quality > 100) return invalid_argument("--quality must be 0..100");
  TileOptions tiles;
  tiles.tile_size = r.tile_size;
  tiles.overlap = r.tile_overlap;
  tiles.cap_pe_levels = net.pe_levels == 0;
  if (r.auto_arch) {
    net.arch = "grid";
    TargetChoice bytes_only = r.target;
    bytes_only.quality = -1.0;
    RateTarget t;
    if (rate_target_of(net, bytes_only, pixels, &t).ok() && t.kind == RateTarget::Kind::kBytes) {
      // The share of the largest tile (a tile_size x tile_size core).
      const uint64_t ts = r.tile_size == 0 ? ~uint32_t{0} : r.tile_size;
      const uint64_t tile = std::min<uint64_t>(width, ts) * std::min<uint64_t>(height, ts);
      if (static_cast<double>(t.bytes) * tile / pixels < kGridMinBytes) net.arch = "siren-pe";
    }
  }
  if (!r.steps_given) {
    // Other families keep their own step count at the default effort and scale it.
    o.steps =
        net.arch == "grid"
            ? grid_steps_for_effort(effort)
            : static_cast<int>(std::lround(static_cast<double>(o.steps) *
                                           grid_steps_for_effort(effort) / default_grid_steps()));
  }
  if (net.arch == "grid") {
    // A grid fits whole-image steps (each latent then moves every step), and
    // converges in far fewer of them (README "Learned feature grids").
    if (!r.batch_given) o.batch_pixels = 0;
    if (!r.lr_given) o.lr = kGridLr;
  }
  const bool coarsen_auto = net.grid_coarsen < 0;
  if (coarsen_auto) net.grid_coarsen = 0;
  NIFC_RETURN_IF_ERROR(build_architecture(net, &o.arch));
  if (o.arch.encoding == Encoding::kPositional && net.pe_levels == 0) {
    // The preset's L, unless the image is too small for it (see max_useful_pe_levels).
    o.arch.pe_levels =
        static_cast<uint8_t>(std::min<int>(o.arch.pe_levels, max_useful_pe_levels(width, height)));
  }
  size_grid(net.grid_coarsen, width, height, &o.arch);
  // A grid whose latents would not fit in a file (NifLimits::max_parameters; 12-megapixel
  // photographs at full density) gets coarser levels unless --grid-coarsen was given.
  // (Counted with 4 channels, the most an image has.)
  while (coarsen_auto && o.arch.encoding == Encoding::kGrid && net.grid_coarsen < 16 &&
         file_parameter_count(o.arch, 4, width, height, tiles) > NifLimits().max_parameters) {
    size_grid(++net.grid_coarsen, width, height, &o.arch);
  }
  RateTarget target;
  NIFC_RETURN_IF_ERROR(rate_target_of(net, r.target, pixels, &target));
  plan->quality = -1.0;
  if (net.arch == "grid" && target.kind == RateTarget::Kind::kNone && !r.lambda_given) {
    plan->quality = r.target.quality >= 0 ? r.target.quality : kDefaultQuality;
    o.grid_lambda_pixel = grid_lambda_for_quality(plan->quality);
  }
  plan->effort = effort;
  plan->arch = net.arch;
  plan->options = std::move(o);
  plan->target = target;
  plan->tiles = tiles;
  return Status();
}

}  // namespace nifc
