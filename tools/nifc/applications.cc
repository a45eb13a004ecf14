// nifc poisson, blend, inpaint: fit a network to a derived target
// (codec/applications/applications.h), write the .nif and optionally PNGs, print what was
// measured.
#include "codec/applications/applications.h"

#include <sys/stat.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "codec/applications/interpolate.h"
#include "codec/encoder/presets.h"
#include "tools/io/file_io.h"
#include "tools/io/image_io.h"
#include "tools/nifc/cli.h"
#include "tools/nifc/encoder_loader.h"

namespace nifc {
namespace cli {
namespace {

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

// Loads the encoder plugin and sets up the progress line.
StatusOr<const ApplicationsApi*> prepare_fit(ApplicationArgs& a) {
  NIFC_RETURN_IF_ERROR(build_architecture(a.net, &a.opt.arch));
  if (a.opt.arch.encoding == Encoding::kGrid) {
    return invalid_argument("--arch grid is for encode only");
  }
  if (!a.quiet && stderr_is_terminal()) {
    a.opt.progress = [](const EncodeProgress& p) {
      std::fprintf(stderr, "\rstep %d/%d  %.1f s  fit ~%.2f dB   ", p.step, p.total_steps,
                   p.seconds, p.batch_psnr_db);
      return true;
    };
  }
  NIFC_ASSIGN_OR_RETURN(const EncoderApi* api, load_encoder());
  return api->applications;
}

void clear_progress(const ApplicationArgs& a) {
  if (a.opt.progress) std::fprintf(stderr, "\r%*s\r", 79, "");
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
                       const ApplicationResult& r, const Json& json_extra,
                       const std::vector<std::string>& lines) {
  const Status w = write_file_atomic(a.out, r.file.data(), r.file.size(), a.force);
  if (!w.ok()) return fail(a.out, w);
  const Status p = save_png(a.png, r.decoded, a.force);
  if (!p.ok()) return fail(a.inputs[0], p);
  const double bpp = 8.0 * r.file.size() / r.decoded.pixel_count();
  if (a.json) {
    Json j;
    j["command"] = name;
    j["inputs"] = a.inputs;
    j["output"] = a.out;
    j["width"] = r.decoded.width;
    j["height"] = r.decoded.height;
    j["channels"] = r.decoded.channels;
    j["arch"] = a.net.arch;
    j["parameters"] = r.parameters;
    j["bits"] = a.opt.bits;
    j["bytes"] = r.file.size();
    j["bpp"] = json_number(bpp);
    j["psnr_db"] = json_number(r.psnr_db);
    j["field_psnr_db"] = json_number(r.field_psnr_db);
    j["mean"] = json_numbers(r.mean);
    j["shift"] = json_numbers(r.shift);
    j["steps"] = r.steps;
    j["fit_seconds"] = json_number(r.fit_seconds);
    j["seconds"] = json_number(r.seconds);
    j["device"] = r.device;
    for (const auto& [key, value] : json_extra.items()) j[key] = value;
    print_json(a.out == "-" ? stderr : stdout, j);
  } else if (!a.quiet) {
    std::fprintf(stderr, "%s: %ux%u, %u channel%s -> %s\n", a.inputs[0].c_str(), r.decoded.width,
                 r.decoded.height, r.decoded.channels, r.decoded.channels > 1 ? "s" : "",
                 a.out.c_str());
    for (const std::string& l : lines) std::fprintf(stderr, "  %s\n", l.c_str());
    std::fprintf(stderr, "  %zu bytes, %.4f bpp; %s at %d bits\n", r.file.size(), bpp,
                 arch_description(a.opt.arch, r.decoded.channels).c_str(), a.opt.bits);
    std::fprintf(stderr, "  %d steps, %.1f s on %s\n", r.steps, r.seconds, r.device.c_str());
  }
  return 0;
}

std::string strf(const char* fmt, double a, double b = 0, double c = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, fmt, a, b, c);
  return buf;
}

}  // namespace

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
      api.value()->poisson_reconstruct(img.value(), source, a.opt, a.app);
  clear_progress(a);
  if (!r.ok()) return fail(in, r.status());
  const std::string field = source == PoissonSource::kLaplacian ? "Laplacian" : "gradient";
  return finish_application(
      a, "poisson", r.value(), Json{{"from", a.from}},
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
      a.opt, a.app);
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
  return finish_application(a, "blend", r.value(), Json{{"rule", rule}}, lines);
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
        random_keep_mask(img->width, img->height, a.keep, a.opt.seed);
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
  StatusOr<ApplicationResult> r = api.value()->inpaint_image(img.value(), known, a.opt, a.app);
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
  Json json_extra;
  json_extra["known_pixels"] = n_known;
  json_extra["missing_psnr_db"] = json_number(r->missing_psnr_db);
  json_extra["known_psnr_db"] = json_number(r->known_psnr_db);
  json_extra["nearest_psnr_db"] = json_number(nn_all);
  json_extra["nearest_missing_psnr_db"] = json_number(nn_missing);
  json_extra["linear_psnr_db"] = json_number(lin_all);
  json_extra["linear_missing_psnr_db"] = json_number(lin_missing);
  return finish_application(
      a, "inpaint", r.value(), json_extra,
      {std::to_string(n_known) + " of " + std::to_string(known.size()) +
           strf(" pixels known (%.1f%%), fitted on those only", 100.0 * n_known / known.size()),
       strf("PSNR on missing pixels: network %.2f dB, linear %.2f dB, nearest %.2f dB",
            r->missing_psnr_db, lin_missing, nn_missing),
       strf("PSNR on all pixels:     network %.2f dB, linear %.2f dB, nearest %.2f dB", r->psnr_db,
            lin_all, nn_all)});
}

}  // namespace cli
}  // namespace nifc
