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
  std::string arch = "siren-pe";  // siren, siren-pe, siren-fourier, relu, pe, fourier, grid
  int hidden = 0, layers = 0;
  float omega0 = 30.0f, omega = 30.0f;
  int pe_levels = 0;
  int ff_features = 0;  // 0: hidden / 2
  float ff_sigma = 10.0f;
  uint64_t ff_seed = 0x6e696663;  // "nifc"
  int grid_levels = 7, grid_channels = 1, grid_coarsen = 0;
};

// The rate target a user asks for; at most one is set (the CLI enforces it).
struct TargetChoice {
  double bpp = 0.0;       // > 0: bits per pixel, never exceeded
  uint64_t size = 0;      // > 0: bytes, never exceeded
  double psnr = 0.0;      // > 0: dB, smallest file that reaches it
  double quality = -1.0;  // >= 0: a preset on the bpp scale (bpp_for_quality)
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
  uint32_t tile_size = 768, tile_overlap = 16;  // SPEC.md §11; tile_size 0: never tile
};

// What to run for one image.
struct EncodePlan {
  std::string arch;  // the preset chosen (request.net.arch, or "grid" when auto_arch)
  EncodeOptions options;
  RateTarget target;
  TileOptions tiles;
};

// Optimizer steps of a grid fit unless the request says otherwise.
constexpr int kGridSteps = 700;

// Without an explicit architecture, a size target of at least kGridMinBytes per tile
// gets the latent grid: at 0.25 and 0.5 bpp it beat the SIREN-PE preset on every image
// measured (README "Learned feature grids").  Below that, the grid's fixed cost (its MLP,
// one step per tensor) would not fit, while SIREN-PE sizes its network to the target.
constexpr uint64_t kGridMinBytes = 2048;

// The preset's network with the choices applied.  A grid's level sizes are left 1 x 1
// (plan_encode sizes them from the image).  Errors (kInvalidArgument): unknown arch, a
// size out of range ("--hidden must be 1..4096", ...).
Status build_architecture(const NetworkChoice& choice, Architecture* arch);

// The rate target of `choice` on an image of `pixels` pixels (Kind::kNone when none is
// given).  Errors: --hidden with a target on a non-grid network (the target sizes it).
Status rate_target_of(const NetworkChoice& net, const TargetChoice& choice, uint64_t pixels,
                      RateTarget* target);

// The whole plan for a width x height image: the architecture (auto choice, positional
// levels capped at max_useful_pe_levels unless given, grid levels sized to the image), the
// fitting options (grid step and batch defaults), the rate target and the tile options.
// Errors: those of build_architecture and rate_target_of.
Status plan_encode(const EncodeRequest& request, uint32_t width, uint32_t height, EncodePlan* plan);

}  // namespace nifc

#endif  // NIFC_CODEC_ENCODER_PRESETS_H_
