// Codec policy between what a user asks and what the encoder runs: the architecture
// presets, the automatic choice of the latent grid for size targets, the grid's level
// sizes, and the rate target.  Torch-free (format/ only), so the CLI and any C++ caller of
// encode_to_target / encode_tiled make the same choices without copying them.
#ifndef NIFC_CODEC_ENCODER_PRESETS_H_
#define NIFC_CODEC_ENCODER_PRESETS_H_

#include <cstdint>
#include <string>

#include "codec/encoder/options.h"
#include "format/nif_format.h"
#include "format/status.h"

namespace nifc {

// The network a user asks for; 0 means "the preset's" (README "Choosing an architecture").
struct NetworkChoice {
  std::string arch = "grid";  // grid, siren, siren-pe, siren-fourier, relu, pe, fourier
  int hidden = 0, layers = 0;
  float omega0 = 30.0f, omega = 30.0f;
  int pe_levels = 0;
  int ff_features = 0;  // 0: hidden / 2
  float ff_sigma = 10.0f;
  uint64_t ff_seed = 0x6e696663;  // "nifc"
  int grid_levels = 7, grid_channels = 1;
  int grid_coarsen = -1;  // -1: 0, or coarser while the file would exceed its parameter limit
};

// The rate target a user asks for; at most one is set (the CLI enforces it).
struct TargetChoice {
  double bpp = 0.0;   // > 0: bits per pixel, never exceeded
  uint64_t size = 0;  // > 0: bytes, never exceeded
  double psnr = 0.0;  // > 0: dB, smallest file that reaches it
  // >= 0: -q/--quality 0..100.  A grid's rate-distortion slope (grid_lambda_for_quality);
  // for the other families a bpp preset (bpp_for_quality), as they have no rate term.
  double quality = -1.0;
  bool any() const { return bpp > 0 || size > 0 || psnr > 0 || quality >= 0; }
};

// Everything an encode request says, before the image is known.
struct EncodeRequest {
  NetworkChoice net;
  TargetChoice target;
  EncodeOptions options;     // fitting options; options.arch is filled by plan_encode
  bool auto_arch = false;    // no --arch (nor --hidden): plan_encode may pick the grid
  bool steps_given = false;  // the grid's step and batch defaults apply unless given
  bool batch_given = false;
  bool lambda_given = false;  // --grid-lambda: options.grid_lambda, not the quality's slope
  bool lr_given = false;      // --lr: options.lr, not kGridLr for a grid
  int effort = 0;             // 1..9 (--effort); 0: kDefaultEffort
  uint32_t tile_size = kDefaultTileSize;  // SPEC.md §11; 0: never tile
  uint32_t tile_overlap = kDefaultTileOverlap;
};

// What to run for one image.
struct EncodePlan {
  std::string arch;  // the preset chosen (request.net.arch, or "grid" when auto_arch)
  EncodeOptions options;
  RateTarget target;
  TileOptions tiles;
  double quality = -1.0;  // the quality whose slope a grid fit uses (-1: none)
  int effort = 0;         // the effort used
};

// A grid's peak learning rate unless --lr is given (the latents' is
// EncodeOptions::grid_lr_ratio times it: 1.0).  At 900 steps, -q 35/55/75/90 on
// kodim05/13/15/23 with the RGB-MSE loss, against 1e-2 with ratio 50 (latents 0.5):
// MLP 0.1, latents 1.0 -9.85 % BD-rate; MLP 0.1 with latents 0.7 or 1.5 -7.8 / -9.5 %;
// MLP 0.07, latents 1.0 -9.2 %; MLP 0.05, latents 1.0 -8.7 %; MLP 0.2, latents 1.0 -4.7 %
// (README "Quality and effort" gives the Kodak-24 figure).
constexpr double kGridLr = 1e-1;

// -q and --effort when not given (README "Quality and effort": chosen by measurement).
constexpr double kDefaultQuality = 75.0;
constexpr int kDefaultEffort = 5;

// The rate-distortion slope of quality q in [0, 100] for grid fits: the rate penalty
// in MSE of samples scaled to [0, 1] per bit per pixel (EncodeOptions::grid_lambda_pixel).
// 0.06 * 2^(-q/16): it halves every 16 quality points, so bpp and PSNR rise with q on
// every image (about 0.3, 0.6, 1.2 and 2 bpp at 25, 50, 75 and 90 on Kodak), and it
// does not depend on the image's size: a quality means the same trade-off on a thumbnail
// and on a large photograph.
double grid_lambda_for_quality(double quality);

// The slope a size target's grid fit starts from (it is corrected during the fit):
// -q's slope for which the Kodak-24 mean curve reaches `bpp` (0.227 bpp at -q 30's
// 0.01637, and bpp ~ lambda^-0.69 from -q 30 to 90; tools/rd/results/nifc.csv).
double grid_lambda_for_bpp(double bpp);

// Optimizer steps of a grid fit at effort 1..9 (other families scale their default steps
// by the same ratio to the default effort's).
int grid_steps_for_effort(int effort);

// Optimizer steps of a grid fit at the default effort.
int default_grid_steps();

// Without an explicit architecture an encode uses the latent grid, except for a size
// target under kGridMinBytes per tile: the grid's fixed cost (its MLP, one step per
// tensor) would not fit, while SIREN-PE sizes its network to the target.
constexpr uint64_t kGridMinBytes = 2048;

// The preset's network with the choices applied.  A grid's level sizes are left 1 x 1
// (plan_encode sizes them from the image).  Errors (kInvalidArgument): unknown arch, a
// size out of range ("--hidden must be 1..4096", ...).
Status build_architecture(const NetworkChoice& choice, Architecture* arch);

// The rate target of `choice` on an image of `pixels` pixels (Kind::kNone when none is
// given).  Errors: --hidden with a target on a non-grid network (the target sizes it).
Status rate_target_of(const NetworkChoice& net, const TargetChoice& choice, uint64_t pixels,
                      RateTarget* target);

// Tile t's architecture in a tiled encode of a width x height image: positional levels
// capped to the tile when cap_pe_levels, a grid's levels kept at their resolution
// relative to the image (SPEC.md §6.4).
Architecture tile_architecture(const Architecture& arch, uint32_t width, uint32_t height,
                               uint32_t tile_width, uint32_t tile_height, bool cap_pe_levels);

// Parameters the file of a width x height image with `channels` channels holds: one
// network, or one per tile as `tiles` lays them out (SPEC.md §11).
uint64_t file_parameter_count(const Architecture& arch, uint32_t channels, uint32_t width,
                              uint32_t height, const TileOptions& tiles);

// The whole plan for a width x height image: the architecture (auto choice, positional
// levels capped at max_useful_pe_levels unless given, grid levels sized to the image), the
// fitting options (grid step and batch defaults), the rate target and the tile options.
// Errors: those of build_architecture and rate_target_of.
Status plan_encode(const EncodeRequest& request, uint32_t width, uint32_t height, EncodePlan* plan);

}  // namespace nifc

#endif  // NIFC_CODEC_ENCODER_PRESETS_H_
