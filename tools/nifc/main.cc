// nifc: the command-line tool.  This file is the command line: every command's options,
// each declared once, and the dispatch to the commands' files (info.cc, decode.cc,
// encode.cc, applications.cc).  It is the only file that includes CLI11, whose header-only
// code costs seconds of code generation in every file that registers options.
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "codec/encoder/presets.h"
#include "format/nif_format.h"
#include "tools/io/file_io.h"
#include "tools/nifc/cli.h"

namespace nifc {
namespace cli {
namespace {

// The option blocks that `encode` and the applications share, declared once: the network
// (--arch ... --ff-seed) and the fit (--bits ... --seed).
void add_network_options(CLI::App* cmd, NetworkChoice& e, const std::string& arch_help) {
  cmd->add_option("--arch", e.arch, arch_help);
  cmd->add_option("--hidden", e.hidden, "Width of each hidden layer (default per arch)");
  cmd->add_option("--layers", e.layers, "Number of hidden layers (default per arch)");
  cmd->add_option("--omega0", e.omega0, "SIREN first-layer frequency factor")
      ->capture_default_str();
  cmd->add_option("--omega", e.omega, "SIREN hidden-layer frequency factor")->capture_default_str();
  cmd->add_option("--pe-levels", e.pe_levels, "Positional encoding levels L (default per arch)");
  cmd->add_option("--ff-features", e.ff_features, "Fourier features m (default hidden/2)");
  cmd->add_option("--ff-sigma", e.ff_sigma, "Fourier feature scale sigma")->capture_default_str();
  cmd->add_option("--ff-seed", e.ff_seed, "Seed of the Fourier matrix");
}

void add_fit_options(CLI::App* cmd, EncodeOptions& o, const std::string& batch_help) {
  cmd->add_option("--bits", o.bits, "Bits per quantized weight")
      ->check(CLI::Range(2, 16))
      ->capture_default_str();
  cmd->add_option("--steps", o.steps, "Optimizer steps")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--time-limit", o.time_limit_s, "Stop fitting after S seconds")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch", o.batch_pixels, batch_help)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--lr", o.lr, "Peak learning rate")->capture_default_str();
  cmd->add_option("--device", o.device, "auto, cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_option("--threads", o.threads, "CPU threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", o.seed, "Random seed")->capture_default_str();
}

// The options every application shares, with encode's network and fit options; sine
// networks on raw coordinates by default: their derivatives are what these commands fit,
// and siren-pe's stall there (README "Applications").
void add_application_options(CLI::App* cmd, ApplicationArgs& a) {
  a.net.arch = "siren";
  cmd->add_option("-o,--output", a.out, "Output .nif (- for stdout)")->required();
  cmd->add_option("--png", a.png, "Also write the result, decoded at its size, to this PNG");
  cmd->add_flag("-f,--force", a.force, "Overwrite existing output files");
  cmd->add_flag("-q,--quiet", a.quiet, "Print nothing but errors");
  cmd->add_flag("--json", a.json, "Print the result as one JSON object on stdout");
  add_network_options(cmd, a.net, "siren (default), siren-pe, siren-fourier, relu, pe, fourier");
  add_fit_options(cmd, a.opt, "Pixels (or pixel edges) per step (0: all)");
}

CLI::App* add_info_command(CLI::App& app, InfoArgs& a) {
  CLI::App* info = app.add_subcommand("info", "Print a .nif file's header without decoding it");
  info->add_option("input", a.in, "The .nif file (- for stdin)")->required();
  info->add_flag("--json", a.json, "Machine-readable output");
  return info;
}

CLI::App* add_decode_command(CLI::App& app, DecodeArgs& a) {
  CLI::App* dec = app.add_subcommand("decode", "Decode a .nif file to PNG, at any size");
  dec->add_option("input", a.in, "The .nif file (- for stdin)")->required();
  dec->add_option("-o,--output", a.out, "Output PNG (- for stdout)")->required();
  dec->add_flag("-f,--force", a.force, "Overwrite an existing output file");
  dec->add_flag("-q,--quiet", a.quiet, "Print nothing but errors");
  dec->add_option("--width", a.width, "Output width (height follows the aspect unless given)");
  dec->add_option("--height", a.height, "Output height (width follows the aspect unless given)");
  dec->add_option("--scale", a.scale, "Output size as a multiple of the stored size")
      ->check(CLI::PositiveNumber);
  dec->add_option("--region", a.region, "Decode only X,Y,W,H of the output grid")
      ->delimiter(',')
      ->expected(4);
  dec->add_option("--supersample", a.supersample, "S x S samples per pixel (anti-aliasing)")
      ->check(CLI::Range(1, 16));
  dec->add_option("--depth", a.depth, "Output bits per sample, 8 or 16 (default: the source's)")
      ->check(CLI::IsMember({8, 16}));
  dec->add_option("--threads", a.threads, "Decoder threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  return dec;
}

CLI::App* add_encode_command(CLI::App& app, EncodeArgs& e) {
  CLI::App* enc = app.add_subcommand("encode", "Fit a network to a PNG and write a .nif file");
  enc->add_option("input", e.inputs, "Input PNGs (- for stdin)")->required();
  enc->add_option("-o,--output", e.out, "Output .nif (- for stdout); one input only");
  enc->add_option("--out-dir", e.out_dir, "Write DIR/<stem>.nif for each input");
  enc->add_option("--jobs", e.jobs,
                  "Images encoded at once in a batch, --threads split between them "
                  "(default: " +
                      std::to_string(kDefaultJobs) + ")")
      ->check(CLI::NonNegativeNumber);
  enc->add_flag("-f,--force", e.force, "Overwrite an existing output file");
  enc->add_flag("--quiet", e.quiet, "Print nothing but errors");
  CLI::Option* o_quality =
      enc->add_option("-q,--quality", e.request.target.quality,
                      "Quality 0..100 (default " + std::to_string(int(kDefaultQuality)) +
                          "): the rate-distortion trade-off, the same on any image size; "
                          "bpp and PSNR rise with it")
          ->check(CLI::Range(0.0, 100.0));
  enc->add_option("-e,--effort", e.request.effort,
                  "Effort 1..9 (default " + std::to_string(kDefaultEffort) +
                      "): fitting steps, time for bytes; never changes the decoder's cost")
      ->check(CLI::Range(1, 9));
  CLI::Option* o_bpp =
      enc->add_option("--bpp", e.request.target.bpp, "Target bits per pixel (never exceeded)")
          ->check(CLI::PositiveNumber);
  CLI::Option* o_size =
      enc->add_option("--size", e.request.target.size, "Target file size in bytes (never exceeded)")
          ->check(CLI::PositiveNumber);
  CLI::Option* o_psnr =
      enc->add_option("--psnr", e.request.target.psnr, "Target PSNR in dB (smallest file)")
          ->check(CLI::PositiveNumber);
  o_bpp->excludes(o_size)->excludes(o_psnr)->excludes(o_quality);
  o_size->excludes(o_psnr)->excludes(o_quality);
  o_psnr->excludes(o_quality);
  enc->add_flag("--json", e.json, "Print the result as one JSON object on stdout");
  add_network_options(enc, e.request.net,
                      "grid (default; siren-pe for size targets under 2 KB a tile), siren-pe, "
                      "siren, siren-fourier, relu, pe, fourier");
  enc->add_option("--grid-levels", e.request.net.grid_levels, "Grid: latent levels")
      ->capture_default_str();
  enc->add_option("--grid-channels", e.request.net.grid_channels, "Grid: latent channels per level")
      ->capture_default_str();
  enc->add_option("--grid-coarsen", e.request.net.grid_coarsen,
                  "Grid: finest level is the image size / 2^N (default 0, coarser when the "
                  "file would exceed its parameter limit)")
      ->check(CLI::Range(0, 16));
  enc->add_option("--grid-lambda", e.request.options.grid_lambda,
                  "Grid: rate penalty on standardised samples, instead of -q's")
      ->capture_default_str();
  // (Its description, with the defaults, is set below with --lr's.)
  enc->add_option("--grid-lr-ratio", e.request.options.grid_lr_ratio)
      ->check(CLI::Range(0.01, 1000.0));
  add_fit_options(enc, e.request.options, "Pixels per step (0: the whole image)");
  enc->add_option("--eval-every", e.request.options.eval_every,
                  "Steps between full-image evaluations")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  enc->add_option("--refine-steps", e.request.options.refine_steps,
                  "Grid: steps refitting the synthesis MLP to the rounded latents (0: off)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  enc->add_option(
         "--rdoq-passes", e.request.options.rdoq_passes,
         "Grid with -q, --bpp or --size: sweeps choosing the latents for error + rate (0: off)")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  enc->add_flag("--torch-step{false}", e.request.options.fused_step,
                "Fit grids with LibTorch's autograd, not the fused CPU step (the reference)");
  enc->add_option("--curve", e.curve, "Write step,psnr_db at each evaluation to this CSV");
  enc->add_option("--tile-size", e.request.tile_size,
                  "Tile larger images into tiles of at most N x N pixels (0: never)")
      ->capture_default_str();
  enc->add_option("--tile-overlap", e.request.tile_overlap, "Pixels a tile overlaps each neighbour")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  {
    char text[120];
    std::snprintf(text, sizeof text, "Peak learning rate (default %g; grid %g)", EncodeOptions().lr,
                  kGridLr);
    enc->get_option("--lr")->description(text)->default_str("");
    std::snprintf(text, sizeof text,
                  "Grid: the latents' learning rate over the network's (default %g)",
                  EncodeOptions().grid_lr_ratio);
    enc->get_option("--grid-lr-ratio")->description(text)->default_str("");
  }
  enc->get_option("--steps")
      ->description("Optimizer steps (default: from --effort)")
      ->default_str("");
  // --help: what most users need first, then the expert knobs.
  const auto group = [enc](const char* name, std::initializer_list<const char*> options) {
    for (const char* o : options) enc->get_option(o)->group(name);
  };
  group("Output", {"--output", "--out-dir", "--force", "--quiet", "--json", "--jobs"});
  group("Quality and effort", {"--quality", "--effort", "--bpp", "--size", "--psnr"});
  group("Network (expert)",
        {"--arch", "--hidden", "--layers", "--omega0", "--omega", "--pe-levels", "--ff-features",
         "--ff-sigma", "--ff-seed", "--grid-levels", "--grid-channels", "--grid-coarsen",
         "--grid-lambda", "--grid-lr-ratio"});
  group("Fitting (expert)",
        {"--bits", "--steps", "--time-limit", "--batch", "--lr", "--device", "--threads", "--seed",
         "--eval-every", "--refine-steps", "--rdoq-passes", "--torch-step", "--curve",
         "--tile-size", "--tile-overlap"});
  return enc;
}

CLI::App* add_poisson_command(CLI::App& app, ApplicationArgs& a) {
  CLI::App* poi = app.add_subcommand(
      "poisson", "Poisson reconstruction: fit a network whose derivatives match the image's");
  poi->add_option("input", a.inputs, "Input PNG (- for stdin)")->required()->expected(1);
  poi->add_option("--from", a.from, "gradient (forward differences) or laplacian (5-point)")
      ->check(CLI::IsMember({"gradient", "laplacian"}))
      ->capture_default_str();
  poi->add_option("--line-weight", a.app.line_weight,
                  "Weight of the residual integrated along rows/columns (0: pointwise only)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  // Derivative fits diverge at the encoder's peak rate: at 2e-3 a 3x96 SIREN on a
  // 256x256 Kodak crop collapsed to a flat image (14-15 dB); 5e-4 reached 29.6 dB
  // in 400 steps, 1e-4 25.4 dB.
  a.opt.lr = 5e-4;
  add_application_options(poi, a);
  return poi;
}

CLI::App* add_blend_command(CLI::App& app, ApplicationArgs& a) {
  CLI::App* ble = app.add_subcommand(
      "blend", "Gradient-domain blending: fit one network to a field combined from A and B");
  ble->add_option("inputs", a.inputs, "A.png B.png (same size and channels)")
      ->required()
      ->expected(2);
  ble->add_option("--rule", a.rule,
                  "max (larger difference per edge) or mask (B's inside the mask)")
      ->check(CLI::IsMember({"max", "mask"}));
  ble->add_option("--mask", a.mask,
                  "PNG, nonzero = the region blended (default rule then: mask); A's values are "
                  "kept outside it");
  // The line loss assumes a gradient field; a blended one is not, and the
  // per-line integrals then disagree, which shows as row and column streaks.
  a.app.line_weight = 0;
  ble->add_option("--line-weight", a.app.line_weight,
                  "Weight of the residual integrated along rows/columns (0: pointwise only)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  ble->add_option("--span-weight", a.app.span_weight,
                  "Weight of value differences over spans of 1, 2, 4, ... pixels (0: off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  ble->add_flag("--no-warm-start", a.no_warm_start,
                "Start the fit from the field alone, not from the offset composite");
  ble->add_option("--value-weight", a.app.value_weight,
                  "Weight of the fit to A's values outside the mask (0: the field alone)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  a.opt.lr = 5e-4;  // as for poisson
  add_application_options(ble, a);
  return ble;
}

CLI::App* add_inpaint_command(CLI::App& app, ApplicationArgs& a) {
  CLI::App* inp = app.add_subcommand(
      "inpaint", "Inpainting: fit on known pixels only, decode everywhere, compare baselines");
  inp->add_option("input", a.inputs, "Input PNG (- for stdin)")->required()->expected(1);
  inp->add_option("--keep", a.keep, "Keep N random pixels (chosen with --seed)")
      ->each([&a](const std::string&) { a.keep_given = true; });
  inp->add_option("--mask", a.mask, "PNG, nonzero = known pixel");
  a.app.tv = 0.3;
  inp->add_option("--tv", a.app.tv, "Weight of the total-variation prior (0: off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  inp->add_option("--tv-points", a.app.tv_points, "Random points per step for the prior")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  inp->add_option("--nearest-png", a.nearest_png, "Write the nearest-neighbour baseline here");
  inp->add_option("--linear-png", a.linear_png, "Write the linear (Delaunay) baseline here");
  inp->add_option("--known-png", a.known_png, "Write the known pixels (others black) here");
  // Sparse samples want a smoother network than a whole image does.
  a.net.omega0 = 10.0f;
  add_application_options(inp, a);
  return inp;
}

int run(int argc, char** argv) {
  CLI::App app{"nifc: a neural image codec (coordinate networks fitted to one image)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("nifc ") + std::to_string(kNifVersionMajor) + "." +
                                        std::to_string(kNifVersionMinor) + " format");

  InfoArgs info_args;
  CLI::App* info = add_info_command(app, info_args);
  DecodeArgs decode_args;
  CLI::App* dec = add_decode_command(app, decode_args);
  EncodeArgs encode_args;
  CLI::App* enc = add_encode_command(app, encode_args);
  ApplicationArgs poisson_args, blend_args, inpaint_args;
  CLI::App* poi = add_poisson_command(app, poisson_args);
  CLI::App* ble = add_blend_command(app, blend_args);
  CLI::App* inp = add_inpaint_command(app, inpaint_args);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& h) {
    return app.exit(h);
  } catch (const CLI::CallForVersion& v) {
    return app.exit(v);
  } catch (const CLI::ParseError& err) {
    std::fprintf(stderr, "nifc: %s\n", err.what());
    std::fprintf(stderr, "Run 'nifc --help' or 'nifc COMMAND --help' for usage.\n");
    return kExitUsage;
  }
  install_cleanup_signal_handlers();
  // LibTorch's OpenMP threads spin while they wait by default, which on a loaded or shared
  // machine burns the cores other work needs (150 steps of parrots with --threads 2 beside
  // two other encodes: 61 s of user time and 171 s wall, against 10.6 s and 87 s passive).
  // The encoder plugin is loaded later, so OpenMP reads this; a user's own setting wins.
  setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
  if (*info) return run_info(info_args);
  if (*dec) return run_decode(decode_args);
  if (*enc) {
    EncodeRequest& r = encode_args.request;
    r.auto_arch = enc->get_option("--arch")->count() == 0;
    r.steps_given = enc->get_option("--steps")->count() > 0;
    r.lambda_given = enc->get_option("--grid-lambda")->count() > 0;
    r.lr_given = enc->get_option("--lr")->count() > 0;
    r.batch_given = enc->get_option("--batch")->count() > 0;
    return run_encode(encode_args);
  }
  if (*poi) return run_poisson(poisson_args);
  if (*ble) return run_blend(blend_args);
  if (*inp) return run_inpaint(inpaint_args);
  return kExitUsage;
}

}  // namespace
}  // namespace cli
}  // namespace nifc

int main(int argc, char** argv) { return nifc::cli::run(argc, argv); }
