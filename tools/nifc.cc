// nifc: the command-line tool.  Thin by design (STYLE.md): it parses
// arguments, reads and writes files, prints; the codec does the work.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "codec/applications.h"
#include "codec/decoder.h"
#include "codec/encoder.h"
#include "codec/interpolate.h"
#include "codec/rate_control.h"
#include "codec/tiling.h"
#include "format/nif_format.h"
#include "tools/encoder_loader.h"
#include "tools/file_io.h"
#include "tools/image_io.h"

namespace nifc {
namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

int fail(const std::string& file, const Status& s) {
  std::fprintf(stderr, "nifc: %s: %s\n", file.c_str(), s.to_string().c_str());
  return kExitError;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// The human name of an architecture, as --arch takes it.
std::string arch_label(const Architecture& a) {
  std::string base = a.activation == Activation::kSine ? "siren" : "relu";
  if (a.encoding == Encoding::kPositional)
    return a.activation == Activation::kSine ? "siren-pe" : "pe";
  if (a.encoding == Encoding::kFourier)
    return a.activation == Activation::kSine ? "siren-fourier" : "fourier";
  if (a.encoding == Encoding::kGrid) return "grid";
  return base;
}

std::string arch_description(const Architecture& a, uint32_t channels) {
  std::ostringstream s;
  s << arch_label(a);
  if (a.encoding == Encoding::kPositional) s << " L=" << int{a.pe_levels};
  if (a.encoding == Encoding::kFourier) s << " m=" << a.ff_features << " sigma=" << a.ff_sigma;
  if (a.encoding == Encoding::kGrid) {
    s << " " << a.grid_levels.size() << " levels x " << int{a.grid_channels} << " channels";
    if (!a.grid_levels.empty()) {
      s << " (" << a.grid_levels.front().width << "x" << a.grid_levels.front().height << " to "
        << a.grid_levels.back().width << "x" << a.grid_levels.back().height << ")";
    }
  }
  s << ", hidden";
  for (size_t i = 0; i < a.widths.size(); ++i) s << (i ? "," : " ") << a.widths[i];
  if (a.activation == Activation::kSine) s << ", omega0=" << a.omega0 << " omega=" << a.omega;
  s << ", " << parameter_count(a, channels) << " parameters";
  return s.str();
}

bool stderr_is_terminal() { return isatty(STDERR_FILENO) == 1; }

// What an encode may plan to use (EncodeOptions::max_memory_bytes): 3/4 of the kernel's
// MemAvailable estimate, read when the image and LibTorch are already loaded.  0 when
// /proc/meminfo does not say, which keeps the encoder's fixed default.
uint64_t encoder_memory_budget() {
  FILE* f = std::fopen("/proc/meminfo", "re");
  if (f == nullptr) return 0;
  char line[256];
  unsigned long long kib = 0;
  bool found = false;
  while (!found && std::fgets(line, sizeof line, f) != nullptr) {
    found = std::sscanf(line, "MemAvailable: %llu kB", &kib) == 1;
  }
  std::fclose(f);
  return found ? kib * 1024 / 4 * 3 : 0;
}

// Refuses to write the output over the input, and an existing output without -f.
Status check_output(const std::string& in, const std::string& out) {
  if (out.empty())
    return invalid_argument("no output file given (use -o FILE, or -o - for stdout)");
  if (out != "-" && in != "-" && same_file(in, out)) {
    return invalid_argument("output is the same file as the input");
  }
  return Status();
}

// ---------------------------------------------------------------- info ----

int run_info(const std::string& in, bool json) {
  StatusOr<std::vector<uint8_t>> bytes = read_file(in);
  if (!bytes.ok()) return fail(in, bytes.status());
  StatusOr<NifFile> f = parse_nif_header(bytes->data(), bytes->size());
  if (!f.ok()) return fail(in, f.status());
  const uint64_t pixels = uint64_t{f->width} * f->height;
  const double bpp = 8.0 * bytes->size() / pixels;
  const uint64_t params = file_parameter_count(f.value());
  const uint64_t tiles = f->tiled() ? f->tiles.size() : 1;
  // A tiled file (SPEC.md §11) describes its first tile's network.
  const Architecture& arch = f->tiled() ? f->tiles[0].arch : f->arch;
  if (json) {
    std::printf(
        "{\"file\": %s, \"version\": \"%d.%d\", \"width\": %u, \"height\": %u, \"channels\": %d, "
        "\"source_bit_depth\": %d, \"arch\": %s, \"encoding\": %s, \"activation\": %s, "
        "\"hidden\": [",
        json_string(in).c_str(), f->version_major, f->version_minor, f->width, f->height,
        f->channels, f->source_bit_depth, json_string(arch_label(arch)).c_str(),
        json_string(encoding_name(arch.encoding)).c_str(),
        json_string(activation_name(arch.activation)).c_str());
    for (size_t i = 0; i < arch.widths.size(); ++i) {
      std::printf("%s%u", i ? ", " : "", arch.widths[i]);
    }
    std::printf(
        "], \"omega0\": %s, \"omega\": %s, \"pe_levels\": %d, \"ff_features\": %d, "
        "\"ff_sigma\": %s, \"parameters\": %llu, \"bits\": %d, \"bytes\": %zu, "
        "\"payload_bytes\": %llu, \"bpp\": %s, \"tiles\": %llu, \"tile_columns\": %u, "
        "\"tile_rows\": %u, \"tile_overlap\": %u}\n",
        json_number(arch.omega0).c_str(), json_number(arch.omega).c_str(), arch.pe_levels,
        arch.ff_features, json_number(arch.ff_sigma).c_str(),
        static_cast<unsigned long long>(params), f->bits, bytes->size(),
        static_cast<unsigned long long>(f->payload_bytes), json_number(bpp).c_str(),
        static_cast<unsigned long long>(tiles), f->tiled() ? f->tile_columns : 1,
        f->tiled() ? f->tile_rows : 1, f->tile_overlap);
    return 0;
  }
  static const char* kChannelNames[] = {"", "gray", "gray+alpha", "RGB", "RGBA"};
  std::printf("%s: nif %d.%d, %ux%u %s, source %d-bit\n", in.c_str(), f->version_major,
              f->version_minor, f->width, f->height, kChannelNames[f->channels],
              f->source_bit_depth);
  if (f->tiled()) {
    std::printf("  tiles:   %llu (%ux%u), overlap %u px, %llu parameters in all\n",
                static_cast<unsigned long long>(tiles), f->tile_columns, f->tile_rows,
                f->tile_overlap, static_cast<unsigned long long>(params));
  }
  std::printf("  network: %s%s\n", arch_description(arch, f->channels).c_str(),
              f->tiled() ? " (tile 1)" : "");
  const uint8_t compression =
      f->tiled() && !f->tiles.empty() ? f->tiles[0].compression : f->compression;
  std::printf("  weights: %d bits, %llu bytes packed (%s)\n", f->bits,
              static_cast<unsigned long long>(f->payload_bytes),
              compression == kCompressionRange ? "range coded" : "zstd");
  std::printf("  size:    %zu bytes, %.4f bpp\n", bytes->size(), bpp);
  const NifFile& norm = f->tiled() ? f->tiles[0] : f.value();
  for (uint32_t c = 0; c < f->channels; ++c) {
    std::printf("  channel %u: mean %.4f std %.4f%s\n", c, norm.mean[c], norm.stddev[c],
                f->tiled() ? " (tile 1)" : "");
  }
  return 0;
}

// -------------------------------------------------------------- decode ----

struct DecodeArgs {
  std::string in, out;
  bool force = false;
  bool quiet = false;
  uint32_t width = 0, height = 0;
  double scale = 0.0;
  std::vector<uint32_t> region;
  uint32_t supersample = 1;
  uint32_t depth = 0;
  int threads = 0;
};

int run_decode(const DecodeArgs& a) {
  const Status out_ok = check_output(a.in, a.out);
  if (!out_ok.ok()) return fail(a.in, out_ok);
  StatusOr<std::vector<uint8_t>> bytes = read_file(a.in);
  if (!bytes.ok()) return fail(a.in, bytes.status());
  StatusOr<NifFile> f = parse_nif(bytes->data(), bytes->size());
  if (!f.ok()) return fail(a.in, f.status());
  DecodeOptions o;
  o.width = a.width;
  o.height = a.height;
  if (a.scale > 0) {
    if (a.width || a.height)
      return fail(a.in, invalid_argument("--scale excludes --width/--height"));
    const double w = std::round(f->width * a.scale), h = std::round(f->height * a.scale);
    if (w < 1 || h < 1 || w > (1u << 24) || h > (1u << 24)) {
      return fail(a.in, invalid_argument("--scale gives an empty or huge output"));
    }
    o.width = static_cast<uint32_t>(w);
    o.height = static_cast<uint32_t>(h);
  }
  if (!a.region.empty()) {
    if (a.region.size() != 4) return fail(a.in, invalid_argument("--region takes X,Y,W,H"));
    o.region_x = a.region[0];
    o.region_y = a.region[1];
    o.region_width = a.region[2];
    o.region_height = a.region[3];
  }
  o.supersample = a.supersample;
  o.bit_depth = a.depth ? a.depth : f->source_bit_depth;
  o.threads = a.threads;
  const auto t0 = std::chrono::steady_clock::now();
  StatusOr<Image> img = decode_nif(f.value(), o);
  if (!img.ok()) return fail(a.in, img.status());
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  StatusOr<std::vector<uint8_t>> png = write_png(img.value());
  if (!png.ok()) return fail(a.out, png.status());
  const Status w = write_file_atomic(a.out, png->data(), png->size(), a.force);
  if (!w.ok()) return fail(a.out, w);
  if (!a.quiet) {
    std::fprintf(stderr, "%s: decoded %ux%u in %.1f ms -> %s\n", a.in.c_str(), img->width,
                 img->height, ms, a.out.c_str());
  }
  return 0;
}

// -------------------------------------------------------------- encode ----

struct EncodeArgs {
  std::vector<std::string> inputs;  // encode: one or more PNGs
  std::string in, out;              // the image being encoded and its output
  std::string out_dir;              // encode: DIR/<stem>.nif per input
  int jobs = 0;                     // encode: images encoded at once (0: automatic)
  bool progress_line = true;        // off in concurrent batches (the lines would mix)
  bool force = false, quiet = false, json = false;
  std::string arch = "siren-pe";
  int hidden = 0, layers = 0;
  float omega0 = 30.0f, omega = 30.0f;
  int pe_levels = 0;
  int ff_features = 0;
  float ff_sigma = 10.0f;
  uint64_t ff_seed = 0x6e696663;  // "nifc"
  int grid_levels = 7, grid_channels = 1, grid_coarsen = 0;
  uint32_t tile_size = 768, tile_overlap = 16;  // SPEC.md §11; tile_size 0: never tile
  std::string curve;                            // CSV of step,psnr_db at each evaluation
  // Rate control (mutually exclusive): a bpp, a byte size, a PSNR, or a quality preset.
  double bpp = 0.0;
  uint64_t size = 0;
  double psnr = 0.0;
  double quality = -1.0;
  EncodeOptions opt;
  bool auto_arch = false;  // no --arch (nor --hidden): choose_architecture picks one
  bool steps_given = false, batch_given = false;
};

// Optimizer steps of a grid fit unless --steps says otherwise.
constexpr int kGridSteps = 700;

// The rate target the options ask for (codec/rate_control.h).
Status rate_target_of(const EncodeArgs& a, uint64_t pixels, RateTarget* t) {
  // A grid's rate is in its latents: its MLP keeps the width it is given.
  if (a.hidden != 0 && a.arch != "grid" &&
      (a.bpp > 0 || a.size > 0 || a.psnr > 0 || a.quality >= 0)) {
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
  } else if (a.quality >= 0) {
    t->kind = RateTarget::Kind::kBytes;
    t->bytes = bytes_for_bpp(bpp_for_quality(a.quality), pixels);
  }
  return Status();
}

// Default network per architecture (README "Choosing an architecture").
Status build_architecture(const EncodeArgs& a, Architecture* arch) {
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
    // The level sizes follow the image (size_grid, once it is read).
    if (a.grid_levels < 1 || a.grid_levels > 16)
      return invalid_argument("--grid-levels must be 1..16");
    if (a.grid_channels < 1 || a.grid_channels > 16) {
      return invalid_argument("--grid-channels must be 1..16");
    }
    if (a.grid_coarsen < 0 || a.grid_coarsen > 16) {
      return invalid_argument("--grid-coarsen must be 0..16");
    }
    arch->grid_channels = static_cast<uint8_t>(a.grid_channels);
    arch->grid_levels.assign(a.grid_levels, GridLevel{1, 1});
  }
  return Status();
}

// Without --arch, a size target (--bpp, --size, -q) of at least kGridMinBytes per tile
// gets the latent grid: at 0.25 and 0.5 bpp it beat the SIREN-PE preset on every image
// measured (README "Learned feature grids").  Below that, the grid's fixed cost (its MLP,
// one step per tensor) would not fit, while SIREN-PE sizes its network to the target.
constexpr uint64_t kGridMinBytes = 2048;

void choose_architecture(EncodeArgs* a, uint32_t width, uint32_t height) {
  if (a->auto_arch) {
    RateTarget t;
    const uint64_t pixels = uint64_t{width} * height;
    if (rate_target_of(*a, pixels, &t).ok() && t.kind == RateTarget::Kind::kBytes) {
      // The share of the largest tile (a tile_size x tile_size core).
      const uint64_t ts = a->tile_size == 0 ? ~uint32_t{0} : a->tile_size;
      const uint64_t tile = std::min<uint64_t>(width, ts) * std::min<uint64_t>(height, ts);
      if (static_cast<double>(t.bytes) * tile / pixels >= kGridMinBytes) a->arch = "grid";
    }
  }
  if (a->arch == "grid") {
    // A grid fits whole-image steps (each latent then moves every step), and
    // converges in far fewer of them (README "Learned feature grids").
    if (!a->steps_given) a->opt.steps = kGridSteps;
    if (!a->batch_given) a->opt.batch_pixels = 0;
  }
}

// Grid levels for a width x height image: level k (0 the finest) has
// ceil(size / 2^(k + coarsen)) samples per axis (SPEC.md §6.4).
void size_grid(const EncodeArgs& a, uint32_t width, uint32_t height, Architecture* arch) {
  if (arch->encoding != Encoding::kGrid) return;
  for (size_t k = 0; k < arch->grid_levels.size(); ++k) {
    const uint64_t div = uint64_t{1} << (k + a.grid_coarsen);
    arch->grid_levels[k].width = static_cast<uint32_t>((width + div - 1) / div);
    arch->grid_levels[k].height = static_cast<uint32_t>((height + div - 1) / div);
  }
}

// What one image's encode produced, for the batch summary.
struct EncodeOutcome {
  bool ok = false;
  uint64_t bytes = 0, pixels = 0;
  double psnr_db = 0.0, seconds = 0.0;
};

// Reports a failed image of a batch: the one-line error on stderr, and with --json a line
// on stdout too, so a consumer of the JSON lines sees every image.
int fail_image(const EncodeArgs& a, const std::string& file, const Status& s) {
  if (a.json) {
    const std::string m = s.to_string();
    std::printf("{\"input\": %s, \"output\": %s, \"error\": %s}\n", json_string(a.in).c_str(),
                json_string(a.out).c_str(),
                json_string(m.rfind(file, 0) == 0 ? m : file + ": " + m).c_str());
    std::fflush(stdout);
  }
  return fail(file, s);
}

// Encodes a.in into a.out.  `label` prefixes the progress line ("[2/5] ") in a batch.
int encode_one(EncodeArgs a, const std::string& label, EncodeOutcome* outcome) {
  const Status out_ok = check_output(a.in, a.out);
  if (!out_ok.ok()) return fail_image(a, a.in, out_ok);
  struct stat st;
  if (a.out != "-" && !a.force && stat(a.out.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    // Checked before the fit too, so a long encode is not wasted.
    return fail_image(a, a.out, invalid_argument("already exists (use -f to overwrite)"));
  }
  Status arch_ok = build_architecture(a, &a.opt.arch);
  if (!arch_ok.ok()) return fail_image(a, a.in, arch_ok);
  StatusOr<std::vector<uint8_t>> bytes = read_file(a.in);
  if (!bytes.ok()) return fail_image(a, a.in, bytes.status());
  StatusOr<Image> img = read_png(bytes->data(), bytes->size(), a.in);
  if (!img.ok()) return fail_image(a, a.in, img.status());
  bytes->clear();
  bytes->shrink_to_fit();
  choose_architecture(&a, img->width, img->height);
  arch_ok = build_architecture(a, &a.opt.arch);
  if (!arch_ok.ok()) return fail_image(a, a.in, arch_ok);
  if (a.opt.arch.encoding == Encoding::kPositional && a.pe_levels == 0) {
    // The preset's L, unless the image is too small for it (see max_useful_pe_levels).
    a.opt.arch.pe_levels = static_cast<uint8_t>(
        std::min<int>(a.opt.arch.pe_levels, max_useful_pe_levels(img->width, img->height)));
  }
  size_grid(a, img->width, img->height, &a.opt.arch);

  const bool show_progress = !a.quiet && a.progress_line && stderr_is_terminal();
  if (show_progress) {
    a.opt.progress = [label](const EncodeProgress& p) {
      const std::string tile =
          p.tiles > 0 ? "tile " + std::to_string(p.tile) + "/" + std::to_string(p.tiles) + " " : "";
      std::fprintf(stderr, "\r%s%sstep %d/%d  %.1f s  PSNR ~%.2f dB (best full %.2f dB)   ",
                   label.c_str(), tile.c_str(), p.step, p.total_steps, p.seconds, p.batch_psnr_db,
                   p.best_psnr_db);
      return true;
    };
  }
  std::string curve_csv = "step,psnr_db\n";
  if (!a.curve.empty()) {
    a.opt.on_eval = [&curve_csv](int step, double psnr) {
      curve_csv += std::to_string(step) + "," + std::to_string(psnr) + "\n";
    };
  }
  StatusOr<const EncoderApi*> api = load_encoder();
  if (!api.ok()) return fail_image(a, a.in, api.status());
  if (const uint64_t budget = encoder_memory_budget()) {
    a.opt.max_memory_bytes = budget / static_cast<uint64_t>(std::max(1, a.jobs));
  }
  RateTarget target;
  const Status target_ok = rate_target_of(a, img->pixel_count(), &target);
  if (!target_ok.ok()) return fail_image(a, a.in, target_ok);
  TileOptions tiling;
  tiling.tile_size = a.tile_size;
  tiling.overlap = a.tile_overlap;
  tiling.cap_pe_levels = a.pe_levels == 0;
  StatusOr<EncodeResult> r = api.value()->encode_tiled(img.value(), target, a.opt, tiling);
  if (show_progress) std::fprintf(stderr, "\r%*s\r", 79, "");
  if (!r.ok()) return fail_image(a, a.in, r.status());
  const Status w = write_file_atomic(a.out, r->file.data(), r->file.size(), a.force);
  if (!w.ok()) return fail_image(a, a.out, w);
  if (!a.curve.empty()) {
    const Status c = write_file_atomic(a.curve, reinterpret_cast<const uint8_t*>(curve_csv.data()),
                                       curve_csv.size(), true);
    if (!c.ok()) return fail_image(a, a.curve, c);
  }

  const double bpp = 8.0 * r->file.size() / img->pixel_count();
  outcome->ok = true;
  outcome->bytes = r->file.size();
  outcome->pixels = img->pixel_count();
  outcome->psnr_db = r->psnr_db;
  outcome->seconds = r->seconds;
  if (a.json) {
    FILE* to = a.out == "-" ? stderr : stdout;
    std::fprintf(
        to,
        "{\"input\": %s, \"output\": %s, \"width\": %u, \"height\": %u, "
        "\"channels\": %u, \"arch\": %s, \"parameters\": %llu, \"bits\": %d, "
        "\"bytes\": %zu, \"bpp\": %s, \"psnr_db\": %s, \"float_psnr_db\": %s, "
        "\"steps\": %d, \"fit_seconds\": %s, \"seconds\": %s, \"device\": %s, "
        "\"tiles\": %u}\n",
        json_string(a.in).c_str(), json_string(a.out).c_str(), img->width, img->height,
        img->channels, json_string(a.arch).c_str(), static_cast<unsigned long long>(r->parameters),
        a.opt.bits, r->file.size(), json_number(bpp).c_str(), json_number(r->psnr_db).c_str(),
        json_number(r->float_psnr_db).c_str(), r->steps, json_number(r->fit_seconds).c_str(),
        json_number(r->seconds).c_str(), json_string(r->device).c_str(), r->tiles);
    std::fflush(to);
  } else if (!a.quiet) {
    std::fprintf(stderr, "%s: %ux%u, %u channel%s -> %s\n", a.in.c_str(), img->width, img->height,
                 img->channels, img->channels > 1 ? "s" : "", a.out.c_str());
    std::fprintf(stderr, "  %zu bytes, %.4f bpp, PSNR %.2f dB (float network %.2f dB)\n",
                 r->file.size(), bpp, r->psnr_db, r->float_psnr_db);
    const bool tiled = r->tiles > 1 && !r->header.tiles.empty();
    std::fprintf(
        stderr, "  %s at %d bits%s\n",
        arch_description(tiled ? r->header.tiles[0].arch : a.opt.arch, img->channels).c_str(),
        a.opt.bits, tiled ? " (tile 1)" : "");
    if (r->tiles > 1) {
      std::fprintf(stderr, "  %u tiles (%ux%u, overlap %u px), %llu parameters in all\n", r->tiles,
                   r->header.tile_columns, r->header.tile_rows, r->header.tile_overlap,
                   static_cast<unsigned long long>(r->parameters));
    }
    std::fprintf(stderr, "  %d steps, %.1f s on %s\n", r->steps, r->seconds, r->device.c_str());
  }
  return 0;
}

// The file name without its directory and last extension: "a/b/x.png" -> "x".
std::string file_stem(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const size_t dot = name.find_last_of('.');
  if (dot != std::string::npos && dot > 0) name.resize(dot);
  return name;
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "nifc: %s\n", message.c_str());
  return kExitUsage;
}

// Images encoded at once by default in a batch (--jobs): measured on this 2-core machine,
// see README "Batch encoding".
constexpr int kDefaultJobs = 1;

// What a worker process reports per image through the results pipe; one write() of less
// than PIPE_BUF bytes, so records from several workers never interleave.
struct JobRecord {
  uint32_t index;
  uint32_t ok;
  uint64_t bytes, pixels;
  double psnr_db, seconds;
};

bool read_exact(int fd, void* p, size_t n) {
  uint8_t* b = static_cast<uint8_t*>(p);
  while (n > 0) {
    const ssize_t got = read(fd, b, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    b += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

// Encodes a batch on `jobs` worker processes with threads / jobs threads each.  Processes,
// not threads: LibTorch's thread count and random generator are global, so concurrent fits
// in one process would neither be reproducible nor keep to their threads.  The workers are
// forked before LibTorch is loaded (this process never loads it) and take image indices
// from a pipe, so a slow image does not hold up the others; each prints its own lines.
// A worker dies with the CLI (PR_SET_PDEATHSIG), removing its temporary files.
int run_encode_jobs(const EncodeArgs& a, const std::vector<std::string>& inputs,
                    const std::vector<std::string>& outputs, int jobs, int threads,
                    std::vector<EncodeOutcome>* outcomes) {
  int work[2], results[2];
  if (pipe(work) != 0 || pipe(results) != 0) {
    return fail(inputs[0], io_error(std::string("pipe: ") + std::strerror(errno)));
  }
  for (uint32_t i = 0; i < inputs.size(); ++i) {
    if (write(work[1], &i, sizeof i) != sizeof i) {
      return fail(inputs[i], io_error(std::string("pipe: ") + std::strerror(errno)));
    }
  }
  close(work[1]);
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t parent = getpid();
  std::vector<pid_t> pids;
  for (int j = 0; j < jobs; ++j) {
    const pid_t pid = fork();
    if (pid < 0) break;  // fewer workers: the ones started take all the work
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(kExitError);
      close(results[0]);
      int rc = 0;
      for (uint32_t i; read_exact(work[0], &i, sizeof i);) {
        EncodeArgs one = a;
        one.in = inputs[i];
        one.out = outputs[i];
        one.opt.threads = std::max(1, threads / jobs);
        one.jobs = jobs;
        one.progress_line = false;
        EncodeOutcome o;
        if (encode_one(one, "", &o) != 0) rc = kExitError;
        const JobRecord rec = {i, o.ok ? 1u : 0u, o.bytes, o.pixels, o.psnr_db, o.seconds};
        if (write(results[1], &rec, sizeof rec) != sizeof rec) rc = kExitError;
      }
      std::fflush(stdout);
      std::fflush(stderr);
      _exit(rc);
    }
    pids.push_back(pid);
  }
  close(work[0]);
  close(results[1]);
  int rc = pids.empty() ? kExitError : 0;
  if (pids.empty()) fail(inputs[0], io_error(std::string("fork: ") + std::strerror(errno)));
  std::vector<bool> reported(inputs.size(), false);
  for (JobRecord rec; read_exact(results[0], &rec, sizeof rec);) {
    if (rec.index >= inputs.size()) continue;
    reported[rec.index] = true;
    EncodeOutcome& o = (*outcomes)[rec.index];
    o.ok = rec.ok != 0;
    o.bytes = rec.bytes;
    o.pixels = rec.pixels;
    o.psnr_db = rec.psnr_db;
    o.seconds = rec.seconds;
  }
  close(results[0]);
  for (pid_t pid : pids) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) rc = kExitError;
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!reported[i]) {
      rc = kExitError;
      fail(inputs[i], internal_error("its worker process died before finishing it"));
    }
  }
  return rc;
}

// `encode IN -o OUT`, or `encode IN... --out-dir DIR` (DIR/<stem>.nif per input).  A batch
// runs --jobs images at once (kDefaultJobs by default), splitting --threads between them.
// A failed image prints its one-line error and the batch goes on; the exit code is then 1.
int run_encode(EncodeArgs& a) {
  const std::vector<std::string> inputs = a.inputs;
  if (inputs.empty()) return usage_error("encode: no input");
  if (a.out.empty() && a.out_dir.empty()) {
    return usage_error("encode: give -o FILE (- for stdout) or --out-dir DIR");
  }
  if (!a.out.empty() && !a.out_dir.empty()) {
    return usage_error("encode: -o and --out-dir exclude each other");
  }
  if (inputs.size() > 1 && !a.out.empty()) {
    return usage_error("encode: -o takes one input; use --out-dir DIR for " +
                       std::to_string(inputs.size()) + " inputs");
  }
  if (inputs.size() > 1 && !a.curve.empty()) {
    return usage_error("encode: --curve takes one input");
  }
  std::vector<std::string> outputs;
  if (a.out_dir.empty()) {
    outputs.push_back(a.out);
  } else {
    struct stat st;
    if (stat(a.out_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return fail(a.out_dir, invalid_argument("not a directory (--out-dir)"));
    }
    std::map<std::string, std::string> taken;  // output -> input
    for (const std::string& in : inputs) {
      if (in == "-") return usage_error("encode: stdin (-) needs -o, not --out-dir");
      const std::string out =
          a.out_dir + (a.out_dir.back() == '/' ? "" : "/") + file_stem(in) + ".nif";
      const auto [it, fresh] = taken.emplace(out, in);
      if (!fresh) {
        return usage_error("encode: " + it->second + " and " + in + " would both write " + out);
      }
      outputs.push_back(out);
    }
  }
  if (inputs.size() == 1) {
    a.in = inputs[0];
    a.out = outputs[0];
    EncodeOutcome outcome;
    return encode_one(a, "", &outcome);
  }

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<EncodeOutcome> outcomes(inputs.size());
  const int threads = a.opt.threads > 0
                          ? a.opt.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int jobs = std::max(
      1, std::min({a.jobs > 0 ? a.jobs : kDefaultJobs, threads, static_cast<int>(inputs.size())}));
  int rc = 0;
  if (jobs == 1) {
    for (size_t i = 0; i < inputs.size(); ++i) {
      EncodeArgs one = a;
      one.in = inputs[i];
      one.out = outputs[i];
      one.opt.threads = threads;
      one.jobs = 1;
      const std::string label =
          "[" + std::to_string(i + 1) + "/" + std::to_string(inputs.size()) + "] ";
      if (encode_one(one, label, &outcomes[i]) != 0) rc = kExitError;
    }
  } else {
    rc = run_encode_jobs(a, inputs, outputs, jobs, threads, &outcomes);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!a.quiet) {
    size_t ok = 0;
    uint64_t bytes = 0, pixels = 0;
    double psnr_sum = 0.0;
    for (const EncodeOutcome& o : outcomes) {
      if (!o.ok) continue;
      ++ok;
      bytes += o.bytes;
      pixels += o.pixels;
      psnr_sum += o.psnr_db;
    }
    std::fprintf(stderr,
                 "nifc: %zu images: %zu encoded, %zu failed; %llu bytes, %.4f bpp, mean PSNR "
                 "%.2f dB; %.1f s\n",
                 inputs.size(), ok, inputs.size() - ok, static_cast<unsigned long long>(bytes),
                 pixels ? 8.0 * bytes / pixels : 0.0, ok ? psnr_sum / ok : 0.0, seconds);
  }
  return rc;
}

// -------------------------------------------------------- applications ----
// poisson, blend, inpaint: fit a network to a derived target (codec/applications.h),
// write the .nif and optionally PNGs, print what was measured.

struct ApplicationArgs {
  std::vector<std::string> inputs;  // the PNGs read
  std::string out, png;
  bool force = false, quiet = false, json = false;
  EncodeArgs fit;  // architecture and fitting options, as `encode` takes them
  // poisson
  std::string from = "gradient";
  // blend
  bool no_warm_start = false;
  std::string rule;  // max | mask; default: mask when --mask is given, else max
  // blend and inpaint
  std::string mask;
  // inpaint
  uint64_t keep = 0;
  bool keep_given = false;
  ApplicationOptions app;
  std::string nearest_png, linear_png, known_png;
};

// The fitting options of encode, with sine networks on raw coordinates by default: their
// derivatives are what these commands fit, and siren-pe's stall there (README "Applications").
void add_fit_options(CLI::App* cmd, ApplicationArgs& a) {
  a.fit.arch = "siren";
  cmd->add_option("-o,--output", a.out, "Output .nif (- for stdout)")->required();
  cmd->add_option("--png", a.png, "Also write the result, decoded at its size, to this PNG");
  cmd->add_flag("-f,--force", a.force, "Overwrite existing output files");
  cmd->add_flag("-q,--quiet", a.quiet, "Print nothing but errors");
  cmd->add_flag("--json", a.json, "Print the result as one JSON object on stdout");
  EncodeArgs& e = a.fit;
  cmd->add_option("--arch", e.arch, "siren (default), siren-pe, siren-fourier, relu, pe, fourier");
  cmd->add_option("--hidden", e.hidden, "Width of each hidden layer (default per arch)");
  cmd->add_option("--layers", e.layers, "Number of hidden layers (default per arch)");
  cmd->add_option("--omega0", e.omega0, "SIREN first-layer frequency factor")
      ->capture_default_str();
  cmd->add_option("--omega", e.omega, "SIREN hidden-layer frequency factor")->capture_default_str();
  cmd->add_option("--pe-levels", e.pe_levels, "Positional encoding levels L (default per arch)");
  cmd->add_option("--ff-features", e.ff_features, "Fourier features m (default hidden/2)");
  cmd->add_option("--ff-sigma", e.ff_sigma, "Fourier feature scale sigma")->capture_default_str();
  cmd->add_option("--ff-seed", e.ff_seed, "Seed of the Fourier matrix");
  cmd->add_option("--bits", e.opt.bits, "Bits per quantized weight")
      ->check(CLI::Range(2, 16))
      ->capture_default_str();
  cmd->add_option("--steps", e.opt.steps, "Optimizer steps")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--time-limit", e.opt.time_limit_s, "Stop fitting after S seconds")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch", e.opt.batch_pixels, "Pixels (or pixel edges) per step (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--lr", e.opt.lr, "Peak learning rate")->capture_default_str();
  cmd->add_option("--device", e.opt.device, "auto, cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_option("--threads", e.opt.threads, "CPU threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", e.opt.seed, "Random seed")->capture_default_str();
}

// Refuses outputs that are an input or (without -f) already exist; run before any fitting.
Status check_outputs(const ApplicationArgs& a, const std::vector<std::string>& outs) {
  for (const std::string& in : a.inputs) {
    for (const std::string& out : outs) {
      if (out.empty()) continue;
      const Status s = check_output(in, out);
      if (!s.ok()) return Status(s.code(), out + ": " + s.message());
    }
  }
  struct stat st;
  for (const std::string& out : outs) {
    if (!out.empty() && out != "-" && !a.force && stat(out.c_str(), &st) == 0 &&
        S_ISREG(st.st_mode)) {
      return invalid_argument(out + ": already exists (use -f to overwrite)");
    }
  }
  return Status();
}

StatusOr<Image> load_png(const std::string& path) {
  NIFC_ASSIGN_OR_RETURN(const std::vector<uint8_t> bytes, read_file(path));
  return read_png(bytes.data(), bytes.size(), path);
}

Status save_png(const std::string& path, const Image& img, bool force) {
  if (path.empty()) return Status();
  NIFC_ASSIGN_OR_RETURN(const std::vector<uint8_t> png, write_png(img));
  const Status w = write_file_atomic(path, png.data(), png.size(), force);
  return w.ok() ? w
                : Status(w.code(),
                         w.message().rfind(path, 0) == 0 ? w.message() : path + ": " + w.message());
}

// Loads the encoder plugin and sets up the progress line.
StatusOr<const ApplicationsApi*> prepare_fit(ApplicationArgs& a) {
  NIFC_RETURN_IF_ERROR(build_architecture(a.fit, &a.fit.opt.arch));
  if (a.fit.opt.arch.encoding == Encoding::kGrid) {
    return invalid_argument("--arch grid is for encode only");
  }
  if (!a.quiet && stderr_is_terminal()) {
    a.fit.opt.progress = [](const EncodeProgress& p) {
      std::fprintf(stderr, "\rstep %d/%d  %.1f s  fit ~%.2f dB   ", p.step, p.total_steps,
                   p.seconds, p.batch_psnr_db);
      return true;
    };
  }
  NIFC_ASSIGN_OR_RETURN(const EncoderApi* api, load_encoder());
  return api->applications;
}

void clear_progress(const ApplicationArgs& a) {
  if (a.fit.opt.progress) std::fprintf(stderr, "\r%*s\r", 79, "");
}

std::string json_numbers(const std::vector<double>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + json_number(v[i]);
  return s + "]";
}

std::string json_strings(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + json_string(v[i]);
  return s;
}

std::string plain_numbers(const std::vector<double>& v) {
  std::string s;
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.4f", i ? " " : "", v[i]);
    s += buf;
  }
  return s;
}

// Writes the .nif and the --png, then prints the lines every application shares.
int finish_application(const ApplicationArgs& a, const std::string& name,
                       const ApplicationResult& r, const std::string& json_extra,
                       const std::vector<std::string>& lines) {
  const Status w = write_file_atomic(a.out, r.file.data(), r.file.size(), a.force);
  if (!w.ok()) return fail(a.out, w);
  const Status p = save_png(a.png, r.decoded, a.force);
  if (!p.ok()) return fail(a.inputs[0], p);
  const double bpp = 8.0 * r.file.size() / r.decoded.pixel_count();
  if (a.json) {
    std::fprintf(a.out == "-" ? stderr : stdout,
                 "{\"command\": %s, \"inputs\": [%s], \"output\": %s, \"width\": %u, "
                 "\"height\": %u, \"channels\": %u, \"arch\": %s, \"parameters\": %llu, "
                 "\"bits\": %d, \"bytes\": %zu, \"bpp\": %s, \"psnr_db\": %s, "
                 "\"field_psnr_db\": %s, \"mean\": %s, \"shift\": %s, \"steps\": %d, "
                 "\"fit_seconds\": %s, \"seconds\": %s, \"device\": %s%s}\n",
                 json_string(name).c_str(), json_strings(a.inputs).c_str(),
                 json_string(a.out).c_str(), r.decoded.width, r.decoded.height, r.decoded.channels,
                 json_string(a.fit.arch).c_str(), static_cast<unsigned long long>(r.parameters),
                 a.fit.opt.bits, r.file.size(), json_number(bpp).c_str(),
                 json_number(r.psnr_db).c_str(), json_number(r.field_psnr_db).c_str(),
                 json_numbers(r.mean).c_str(), json_numbers(r.shift).c_str(), r.steps,
                 json_number(r.fit_seconds).c_str(), json_number(r.seconds).c_str(),
                 json_string(r.device).c_str(), json_extra.c_str());
  } else if (!a.quiet) {
    std::fprintf(stderr, "%s: %ux%u, %u channel%s -> %s\n", a.inputs[0].c_str(), r.decoded.width,
                 r.decoded.height, r.decoded.channels, r.decoded.channels > 1 ? "s" : "",
                 a.out.c_str());
    for (const std::string& l : lines) std::fprintf(stderr, "  %s\n", l.c_str());
    std::fprintf(stderr, "  %zu bytes, %.4f bpp; %s at %d bits\n", r.file.size(), bpp,
                 arch_description(a.fit.opt.arch, r.decoded.channels).c_str(), a.fit.opt.bits);
    std::fprintf(stderr, "  %d steps, %.1f s on %s\n", r.steps, r.seconds, r.device.c_str());
  }
  return 0;
}

std::string strf(const char* fmt, double a, double b = 0, double c = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, fmt, a, b, c);
  return buf;
}

int run_poisson(ApplicationArgs& a) {
  const std::string& in = a.inputs[0];
  const Status out_ok = check_outputs(a, {a.out, a.png});
  if (!out_ok.ok()) return fail(in, out_ok);
  const PoissonSource source =
      a.from == "laplacian" ? PoissonSource::kLaplacian : PoissonSource::kGradient;
  StatusOr<Image> img = load_png(in);
  if (!img.ok()) return fail(in, img.status());
  StatusOr<const ApplicationsApi*> api = prepare_fit(a);
  if (!api.ok()) return fail(in, api.status());
  StatusOr<ApplicationResult> r =
      api.value()->poisson_reconstruct(img.value(), source, a.fit.opt, a.app);
  clear_progress(a);
  if (!r.ok()) return fail(in, r.status());
  const std::string field = source == PoissonSource::kLaplacian ? "Laplacian" : "gradient";
  return finish_application(
      a, "poisson", r.value(), ", \"from\": " + json_string(a.from),
      {strf("PSNR %.2f dB against the original (from the ", r->psnr_db) + field + ")",
       field + strf(" field of the result vs the target: PSNR %.2f dB", r->field_psnr_db),
       "constant: the source's mean (NORM mean " + plain_numbers(r->mean) +
           "); output bias shifted by " + plain_numbers(r->shift)});
}

int run_blend(ApplicationArgs& a) {
  const std::string& in = a.inputs[0];
  const Status out_ok = check_outputs(a, {a.out, a.png});
  if (!out_ok.ok()) return fail(in, out_ok);
  const std::string rule = !a.rule.empty() ? a.rule : a.mask.empty() ? "max" : "mask";
  if (rule == "mask" && a.mask.empty()) {
    return fail(in, invalid_argument("--rule mask needs --mask MASK.png"));
  }
  StatusOr<Image> img_a = load_png(a.inputs[0]);
  if (!img_a.ok()) return fail(a.inputs[0], img_a.status());
  StatusOr<Image> img_b = load_png(a.inputs[1]);
  if (!img_b.ok()) return fail(a.inputs[1], img_b.status());
  if (img_a->width != img_b->width || img_a->height != img_b->height) {
    return fail(a.inputs[1], invalid_argument("is " + std::to_string(img_b->width) + "x" +
                                              std::to_string(img_b->height) + ", " + a.inputs[0] +
                                              " is " + std::to_string(img_a->width) + "x" +
                                              std::to_string(img_a->height) + " (sizes differ)"));
  }
  std::vector<uint8_t> mask;
  if (!a.mask.empty()) {
    StatusOr<Image> m = load_png(a.mask);
    if (!m.ok()) return fail(a.mask, m.status());
    mask = mask_from_image(m.value());
    if (m->width != img_a->width || m->height != img_a->height) {
      return fail(a.mask, invalid_argument("mask is " + std::to_string(m->width) + "x" +
                                           std::to_string(m->height) + ", the images " +
                                           std::to_string(img_a->width) + "x" +
                                           std::to_string(img_a->height)));
    }
    const Status s = check_mask(mask, img_a->width, img_a->height, "mask");
    if (!s.ok()) return fail(a.mask, s);
  }
  a.app.warm_start = !a.no_warm_start;
  StatusOr<const ApplicationsApi*> api = prepare_fit(a);
  if (!api.ok()) return fail(in, api.status());
  StatusOr<ApplicationResult> r = api.value()->blend_images(
      img_a.value(), img_b.value(), rule == "mask" ? BlendRule::kMask : BlendRule::kMax, mask,
      a.fit.opt, a.app);
  clear_progress(a);
  if (!r.ok()) return fail(in, r.status());
  const std::string where = mask.empty() ? std::string("everywhere")
                                         : "inside the mask (" + std::to_string(count_set(mask)) +
                                               " pixels), A's values and differences outside";
  std::vector<std::string> lines = {
      "rule " + rule + ": " +
          (rule == "mask" ? std::string("B's differences ")
                          : std::string("per pixel edge, the larger difference of A's and B's ")) +
          where,
      strf("gradient field of the result vs the combined field: PSNR %.2f dB", r->field_psnr_db),
      "constant: A's mean over the border pixels" +
          std::string(mask.empty() ? "" : " outside the mask") + " (NORM mean " +
          plain_numbers(r->mean) + "; output bias shifted by " + plain_numbers(r->shift) + ")"};
  if (!mask.empty()) {
    lines.insert(lines.begin() + 2, strf("PSNR %.2f dB against A outside the mask", r->psnr_db));
  }
  return finish_application(a, "blend", r.value(), ", \"rule\": " + json_string(rule), lines);
}

int run_inpaint(ApplicationArgs& a) {
  const std::string& in = a.inputs[0];
  const Status out_ok = check_outputs(a, {a.out, a.png, a.nearest_png, a.linear_png, a.known_png});
  if (!out_ok.ok()) return fail(in, out_ok);
  if (a.keep_given == !a.mask.empty()) {
    return fail(in, invalid_argument("give either --keep N or --mask MASK.png"));
  }
  StatusOr<Image> img = load_png(in);
  if (!img.ok()) return fail(in, img.status());
  std::vector<uint8_t> known;
  if (a.keep_given) {
    StatusOr<std::vector<uint8_t>> m =
        random_keep_mask(img->width, img->height, a.keep, a.fit.opt.seed);
    if (!m.ok()) return fail(in, Status(m.status().code(), "--keep: " + m.status().message()));
    known = std::move(m.value());
  } else {
    StatusOr<Image> m = load_png(a.mask);
    if (!m.ok()) return fail(a.mask, m.status());
    if (m->width != img->width || m->height != img->height) {
      return fail(a.mask,
                  invalid_argument("mask is " + std::to_string(m->width) + "x" +
                                   std::to_string(m->height) + ", the image " +
                                   std::to_string(img->width) + "x" + std::to_string(img->height)));
    }
    known = mask_from_image(m.value());
    const Status s = check_mask(known, img->width, img->height, "mask");
    if (!s.ok()) return fail(a.mask, s);
  }
  StatusOr<const ApplicationsApi*> api = prepare_fit(a);
  if (!api.ok()) return fail(in, api.status());
  StatusOr<ApplicationResult> r = api.value()->inpaint_image(img.value(), known, a.fit.opt, a.app);
  clear_progress(a);
  if (!r.ok()) return fail(in, r.status());

  // The baselines, on the same known pixels.
  StatusOr<Image> nearest = interpolate_nearest(img.value(), known);
  if (!nearest.ok()) return fail(in, nearest.status());
  StatusOr<Image> linear = interpolate_linear(img.value(), known);
  if (!linear.ok()) return fail(in, linear.status());
  Image kept = img.value();
  for (size_t i = 0; i < known.size(); ++i) {
    if (known[i]) continue;
    for (uint32_t c = 0; c < kept.channels; ++c) kept.samples[i * kept.channels + c] = 0;
  }
  for (const auto& [path, image] :
       {std::make_pair(a.nearest_png, &nearest.value()),
        std::make_pair(a.linear_png, &linear.value()), std::make_pair(a.known_png, &kept)}) {
    const Status s = save_png(path, *image, a.force);
    if (!s.ok()) return fail(in, s);
  }
  const double nn_missing = masked_psnr_db(img.value(), nearest.value(), known, false);
  const double lin_missing = masked_psnr_db(img.value(), linear.value(), known, false);
  const double nn_all = psnr_db(img.value(), nearest.value());
  const double lin_all = psnr_db(img.value(), linear.value());
  const uint64_t n_known = count_set(known);
  const std::string json_extra = ", \"known_pixels\": " + std::to_string(n_known) +
                                 ", \"missing_psnr_db\": " + json_number(r->missing_psnr_db) +
                                 ", \"known_psnr_db\": " + json_number(r->known_psnr_db) +
                                 ", \"nearest_psnr_db\": " + json_number(nn_all) +
                                 ", \"nearest_missing_psnr_db\": " + json_number(nn_missing) +
                                 ", \"linear_psnr_db\": " + json_number(lin_all) +
                                 ", \"linear_missing_psnr_db\": " + json_number(lin_missing);
  return finish_application(
      a, "inpaint", r.value(), json_extra,
      {std::to_string(n_known) + " of " + std::to_string(known.size()) +
           strf(" pixels known (%.1f%%), fitted on those only", 100.0 * n_known / known.size()),
       strf("PSNR on missing pixels: network %.2f dB, linear %.2f dB, nearest %.2f dB",
            r->missing_psnr_db, lin_missing, nn_missing),
       strf("PSNR on all pixels:     network %.2f dB, linear %.2f dB, nearest %.2f dB", r->psnr_db,
            lin_all, nn_all)});
}

int run(int argc, char** argv) {
  CLI::App app{"nifc: a neural image codec (coordinate networks fitted to one image)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("nifc ") + std::to_string(kNifVersionMajor) + "." +
                                        std::to_string(kNifVersionMinor) + " format");

  std::string info_in;
  bool info_json = false;
  CLI::App* info = app.add_subcommand("info", "Print a .nif file's header without decoding it");
  info->add_option("input", info_in, "The .nif file (- for stdin)")->required();
  info->add_flag("--json", info_json, "Machine-readable output");

  DecodeArgs d;
  CLI::App* dec = app.add_subcommand("decode", "Decode a .nif file to PNG, at any size");
  dec->add_option("input", d.in, "The .nif file (- for stdin)")->required();
  dec->add_option("-o,--output", d.out, "Output PNG (- for stdout)")->required();
  dec->add_flag("-f,--force", d.force, "Overwrite an existing output file");
  dec->add_flag("-q,--quiet", d.quiet, "Print nothing but errors");
  dec->add_option("--width", d.width, "Output width (height follows the aspect unless given)");
  dec->add_option("--height", d.height, "Output height (width follows the aspect unless given)");
  dec->add_option("--scale", d.scale, "Output size as a multiple of the stored size")
      ->check(CLI::PositiveNumber);
  dec->add_option("--region", d.region, "Decode only X,Y,W,H of the output grid")
      ->delimiter(',')
      ->expected(4);
  dec->add_option("--supersample", d.supersample, "S x S samples per pixel (anti-aliasing)")
      ->check(CLI::Range(1, 16));
  dec->add_option("--depth", d.depth, "Output bits per sample, 8 or 16 (default: the source's)")
      ->check(CLI::IsMember({8, 16}));
  dec->add_option("--threads", d.threads, "Decoder threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);

  CLI::App* enc = app.add_subcommand("encode", "Fit a network to a PNG and write a .nif file");
  EncodeArgs e;
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
  CLI::Option* o_bpp = enc->add_option("--bpp", e.bpp, "Target bits per pixel (never exceeded)")
                           ->check(CLI::PositiveNumber);
  CLI::Option* o_size =
      enc->add_option("--size", e.size, "Target file size in bytes (never exceeded)")
          ->check(CLI::PositiveNumber);
  CLI::Option* o_psnr = enc->add_option("--psnr", e.psnr, "Target PSNR in dB (smallest file)")
                            ->check(CLI::PositiveNumber);
  CLI::Option* o_quality =
      enc->add_option("-q,--quality", e.quality, "Quality preset 0..100 (bpp = 0.05 * 2^(q/25))")
          ->check(CLI::Range(0.0, 100.0));
  o_bpp->excludes(o_size)->excludes(o_psnr)->excludes(o_quality);
  o_size->excludes(o_psnr)->excludes(o_quality);
  o_psnr->excludes(o_quality);
  enc->add_flag("--json", e.json, "Print the result as one JSON object on stdout");
  enc->add_option("--arch", e.arch,
                  "siren-pe (default; grid with --bpp, --size or -q), siren, siren-fourier, "
                  "relu, pe, fourier, grid");
  enc->add_option("--hidden", e.hidden, "Width of each hidden layer (default per arch)");
  enc->add_option("--layers", e.layers, "Number of hidden layers (default per arch)");
  enc->add_option("--omega0", e.omega0, "SIREN first-layer frequency factor")
      ->capture_default_str();
  enc->add_option("--omega", e.omega, "SIREN hidden-layer frequency factor")->capture_default_str();
  enc->add_option("--pe-levels", e.pe_levels, "Positional encoding levels L (default per arch)");
  enc->add_option("--ff-features", e.ff_features, "Fourier features m (default hidden/2)");
  enc->add_option("--ff-sigma", e.ff_sigma, "Fourier feature scale sigma")->capture_default_str();
  enc->add_option("--ff-seed", e.ff_seed, "Seed of the Fourier matrix");
  enc->add_option("--grid-levels", e.grid_levels, "Grid: latent levels")->capture_default_str();
  enc->add_option("--grid-channels", e.grid_channels, "Grid: latent channels per level")
      ->capture_default_str();
  enc->add_option("--grid-coarsen", e.grid_coarsen, "Grid: finest level is the image size / 2^N")
      ->capture_default_str();
  enc->add_option("--grid-lambda", e.opt.grid_lambda, "Grid: rate penalty (without a rate target)")
      ->capture_default_str();
  enc->add_option("--grid-lr-ratio", e.opt.grid_lr_ratio,
                  "Grid: the latents' learning rate over the network's")
      ->check(CLI::Range(0.01, 1000.0))
      ->capture_default_str();
  enc->add_option("--bits", e.opt.bits, "Bits per quantized weight")
      ->check(CLI::Range(2, 16))
      ->capture_default_str();
  enc->add_option("--steps", e.opt.steps, "Optimizer steps")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  enc->add_option("--time-limit", e.opt.time_limit_s, "Stop fitting after S seconds")
      ->check(CLI::NonNegativeNumber);
  enc->add_option("--batch", e.opt.batch_pixels, "Pixels per step (0: the whole image)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  enc->add_option("--lr", e.opt.lr, "Peak learning rate")->capture_default_str();
  enc->add_option("--device", e.opt.device, "auto, cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  enc->add_option("--threads", e.opt.threads, "CPU threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  enc->add_option("--seed", e.opt.seed, "Random seed")->capture_default_str();
  enc->add_option("--eval-every", e.opt.eval_every, "Steps between full-image evaluations")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  enc->add_option("--curve", e.curve, "Write step,psnr_db at each evaluation to this CSV");
  enc->add_option("--tile-size", e.tile_size,
                  "Tile larger images into tiles of at most N x N pixels (0: never)")
      ->capture_default_str();
  enc->add_option("--tile-overlap", e.tile_overlap, "Pixels a tile overlaps each neighbour")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();

  ApplicationArgs pa;
  CLI::App* poi = app.add_subcommand(
      "poisson", "Poisson reconstruction: fit a network whose derivatives match the image's");
  poi->add_option("input", pa.inputs, "Input PNG (- for stdin)")->required()->expected(1);
  poi->add_option("--from", pa.from, "gradient (forward differences) or laplacian (5-point)")
      ->check(CLI::IsMember({"gradient", "laplacian"}))
      ->capture_default_str();
  poi->add_option("--line-weight", pa.app.line_weight,
                  "Weight of the residual integrated along rows/columns (0: pointwise only)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  // Derivative fits diverge at the encoder's peak rate: at 2e-3 a 3x96 SIREN on a
  // 256x256 Kodak crop collapsed to a flat image (14-15 dB); 5e-4 reached 29.6 dB
  // in 400 steps, 1e-4 25.4 dB.
  pa.fit.opt.lr = 5e-4;
  add_fit_options(poi, pa);

  ApplicationArgs ba;
  CLI::App* ble = app.add_subcommand(
      "blend", "Gradient-domain blending: fit one network to a field combined from A and B");
  ble->add_option("inputs", ba.inputs, "A.png B.png (same size and channels)")
      ->required()
      ->expected(2);
  ble->add_option("--rule", ba.rule,
                  "max (larger difference per edge) or mask (B's inside the mask)")
      ->check(CLI::IsMember({"max", "mask"}));
  ble->add_option("--mask", ba.mask,
                  "PNG, nonzero = the region blended (default rule then: mask); A's values are "
                  "kept outside it");
  // The line loss assumes a gradient field; a blended one is not, and the
  // per-line integrals then disagree, which shows as row and column streaks.
  ba.app.line_weight = 0;
  ble->add_option("--line-weight", ba.app.line_weight,
                  "Weight of the residual integrated along rows/columns (0: pointwise only)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  ble->add_option("--span-weight", ba.app.span_weight,
                  "Weight of value differences over spans of 1, 2, 4, ... pixels (0: off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  ble->add_flag("--no-warm-start", ba.no_warm_start,
                "Start the fit from the field alone, not from the offset composite");
  ble->add_option("--value-weight", ba.app.value_weight,
                  "Weight of the fit to A's values outside the mask (0: the field alone)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  ba.fit.opt.lr = 5e-4;  // as for poisson
  add_fit_options(ble, ba);

  ApplicationArgs ia;
  CLI::App* inp = app.add_subcommand(
      "inpaint", "Inpainting: fit on known pixels only, decode everywhere, compare baselines");
  inp->add_option("input", ia.inputs, "Input PNG (- for stdin)")->required()->expected(1);
  inp->add_option("--keep", ia.keep, "Keep N random pixels (chosen with --seed)")
      ->each([&ia](const std::string&) { ia.keep_given = true; });
  inp->add_option("--mask", ia.mask, "PNG, nonzero = known pixel");
  ia.app.tv = 0.3;
  inp->add_option("--tv", ia.app.tv, "Weight of the total-variation prior (0: off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  inp->add_option("--tv-points", ia.app.tv_points, "Random points per step for the prior")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  inp->add_option("--nearest-png", ia.nearest_png, "Write the nearest-neighbour baseline here");
  inp->add_option("--linear-png", ia.linear_png, "Write the linear (Delaunay) baseline here");
  inp->add_option("--known-png", ia.known_png, "Write the known pixels (others black) here");
  // Sparse samples want a smoother network than a whole image does.
  ia.fit.omega0 = 10.0f;
  add_fit_options(inp, ia);

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
  if (*info) return run_info(info_in, info_json);
  if (*dec) return run_decode(d);
  if (*enc) {
    e.auto_arch = enc->get_option("--arch")->count() == 0 && e.hidden == 0;
    e.steps_given = enc->get_option("--steps")->count() > 0;
    e.batch_given = enc->get_option("--batch")->count() > 0;
    return run_encode(e);
  }
  if (*poi) return run_poisson(pa);
  if (*ble) return run_blend(ba);
  if (*inp) return run_inpaint(ia);
  return kExitUsage;
}

}  // namespace
}  // namespace nifc

int main(int argc, char** argv) { return nifc::run(argc, argv); }
