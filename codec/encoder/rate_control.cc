#include "codec/encoder/rate_control.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "codec/decoder/decoder.h"
#include "codec/encoder/encoder.h"
#include "codec/encoder/presets.h"
#include "codec/encoder/quantize.h"
#include "codec/encoder/rdoq.h"
#include "codec/encoder/refine.h"

namespace nifc {
namespace {

// Packed bits per parameter measured for 8-bit SIREN weights (zstd -19 on
// the byte plane, Kodak images): 7.4; the sizing only needs to be close,
// the quantization search does the rest.
constexpr double kBitsPerParam8 = 7.4;
// Section overhead of a file (preamble, HEAD, NORM, NETW, WGTS header, IEND).
constexpr uint64_t kOverheadBytes = 140;

// The PSNR of a packed file as the decoder rebuilds it.  A file the encoder just wrote
// that does not parse or decode is an internal error, not a low PSNR.
StatusOr<double> psnr_of(const std::vector<uint8_t>& bytes, const Image& image) {
  StatusOr<NifFile> f = parse_nif(bytes.data(), bytes.size());
  if (!f.ok()) return internal_error("the packed file does not parse: " + f.status().to_string());
  DecodeOptions o;
  o.bit_depth = image.bit_depth;
  StatusOr<Image> d = decode_nif(f.value(), o);
  if (!d.ok()) return internal_error("the packed file does not decode: " + d.status().to_string());
  return psnr_db(image, d.value());
}

struct Candidate {
  std::vector<uint8_t> bytes;
  double scale = 1.0;
  double psnr_db = NAN;  // of the decoded bytes, when the search measured it
};

// Largest-quality (smallest scale) packing whose size is <= bytes.  Size
// falls as the scale grows; bisection in log(scale) over [1/16, 64].
StatusOr<Candidate> fit_size(const EncodeResult& r, uint64_t bytes, int zstd) {
  double lo = 1.0 / 16, hi = 64.0;
  NIFC_ASSIGN_OR_RETURN(std::vector<uint8_t> at_hi,
                        pack_scaled(r.header, r.float_tensors, hi, zstd));
  if (at_hi.size() > bytes) {
    return limit_exceeded("target of " + std::to_string(bytes) +
                          " bytes is below what this network can reach");
  }
  Candidate best{at_hi, hi};
  NIFC_ASSIGN_OR_RETURN(std::vector<uint8_t> at_lo,
                        pack_scaled(r.header, r.float_tensors, lo, zstd));
  if (at_lo.size() <= bytes) return Candidate{at_lo, lo};
  for (int i = 0; i < 14; ++i) {
    const double mid = std::sqrt(lo * hi);
    NIFC_ASSIGN_OR_RETURN(std::vector<uint8_t> b,
                          pack_scaled(r.header, r.float_tensors, mid, zstd));
    if (b.size() <= bytes) {
      hi = mid;
      best = {std::move(b), mid};
    } else {
      lo = mid;
    }
  }
  return best;
}

// Smallest packing (largest scale) whose decoded PSNR is >= psnr_db, or an
// error when even the finest quantization misses it.
StatusOr<Candidate> fit_psnr(const EncodeResult& r, const Image& image, double psnr_db, int zstd) {
  double lo = 1.0 / 16, hi = 64.0;
  NIFC_ASSIGN_OR_RETURN(std::vector<uint8_t> at_lo,
                        pack_scaled(r.header, r.float_tensors, lo, zstd));
  NIFC_ASSIGN_OR_RETURN(const double at_lo_db, psnr_of(at_lo, image));
  if (at_lo_db < psnr_db) {
    return limit_exceeded("network misses the PSNR target");
  }
  Candidate best{at_lo, lo};
  for (int i = 0; i < 12; ++i) {
    const double mid = std::sqrt(lo * hi);
    NIFC_ASSIGN_OR_RETURN(std::vector<uint8_t> b,
                          pack_scaled(r.header, r.float_tensors, mid, zstd));
    NIFC_ASSIGN_OR_RETURN(const double b_db, psnr_of(b, image));
    if (b_db >= psnr_db) {
      lo = mid;
      best = {std::move(b), mid};
    } else {
      hi = mid;
    }
  }
  return best;
}

// The packing that minimizes MSE + lambda * bpp (MSE of samples scaled to [0, 1]) over
// quantization steps from kSlopeScales times the trained ones: the latents trained with
// noise of their step's width; a finer step trades bytes for the error that noise stood
// for, a coarser one the reverse.
constexpr double kSlopeScales[] = {0.5, 0.6, 0.7, 0.85, 1.0, 1.2};
// What -q minimizes: MSE (samples scaled to [0, 1]) + lambda * bpp, of a file of `bytes`
// decoding to psnr_db.
double slope_cost(double psnr_db, size_t bytes, double lambda, const Image& image) {
  return std::pow(10.0, -psnr_db / 10.0) +
         lambda * 8.0 * static_cast<double>(bytes) / image.pixel_count();
}
// The packings at kSlopeScales, with their PSNR: what a slope chooses among (they do not
// depend on the slope).
StatusOr<std::vector<Candidate>> slope_packings(const EncodeResult& r, const Image& image,
                                                int zstd) {
  std::vector<Candidate> packings;
  for (const double scale : kSlopeScales) {
    NIFC_ASSIGN_OR_RETURN(std::vector<uint8_t> b,
                          pack_scaled(r.header, r.float_tensors, scale, zstd));
    NIFC_ASSIGN_OR_RETURN(const double db, psnr_of(b, image));
    packings.push_back({std::move(b), scale, db});
  }
  return packings;
}
// The packing of the lowest cost at lambda (the first, on a tie).
const Candidate& cheapest(const std::vector<Candidate>& packings, double lambda,
                          const Image& image) {
  size_t best = 0;
  double best_cost = INFINITY;
  for (size_t i = 0; i < packings.size(); ++i) {
    const double cost = slope_cost(packings[i].psnr_db, packings[i].bytes.size(), lambda, image);
    if (cost < best_cost) {
      best_cost = cost;
      best = i;
    }
  }
  return packings[best];
}
StatusOr<Candidate> fit_slope(const EncodeResult& r, const Image& image, double lambda, int zstd) {
  NIFC_ASSIGN_OR_RETURN(const std::vector<Candidate> packings, slope_packings(r, image, zstd));
  return cheapest(packings, lambda, image);
}

// The MLP refitted to the latents as candidate c rounds them (refine.h), packed at c's
// scale; c and r's weights are replaced when `better` says the new packing wins.
template <typename Better>
Status refine(EncodeResult* r, const Image& image, const EncodeOptions& o, Candidate* c,
              Better better) {
  // (A fit stopped by --time-limit is not followed by more steps.)
  if (o.refine_steps <= 0 || (o.time_limit_s > 0 && r->fit_seconds >= o.time_limit_s)) {
    return Status();
  }
  RefineOptions ro;
  ro.steps = o.refine_steps;
  ro.lr = o.refine_lr;
  ro.threads = o.threads > 0 ? o.threads
                             : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::vector<float>> t = r->float_tensors;
  NIFC_ASSIGN_OR_RETURN(const bool refitted, refine_synthesis(image, r->header, c->scale, ro, &t));
  if (!refitted) return Status();
  NIFC_ASSIGN_OR_RETURN(std::vector<uint8_t> b, pack_scaled(r->header, t, c->scale, o.zstd_level));
  NIFC_ASSIGN_OR_RETURN(const double db, psnr_of(b, image));
  if (std::isnan(c->psnr_db)) {
    NIFC_ASSIGN_OR_RETURN(c->psnr_db, psnr_of(c->bytes, image));
  }
  if (!better(b.size(), db, *c)) return Status();
  *c = Candidate{std::move(b), c->scale, db};
  r->float_tensors = std::move(t);
  return Status();
}

// The latents re-chosen for MSE + lambda * bpp (rdoq.h) at one scale of their step, and
// their packing (with its PSNR).
struct RdoqTrial {
  double lambda = 0.0;
  double scale = 1.0;
  Status status;
  std::vector<std::vector<float>> tensors;
  Candidate packed;
};
void run_rdoq_trial(const EncodeResult& r, const Image& image, const EncodeOptions& o,
                    RdoqTrial* t) {
  t->status = [&]() -> Status {
    t->tensors = r.float_tensors;
    NIFC_RETURN_IF_ERROR(
        optimize_latents(image, r.header, t->scale, t->lambda, o.rdoq_passes, &t->tensors)
            .status());
    NIFC_ASSIGN_OR_RETURN(t->packed.bytes,
                          pack_scaled(r.header, t->tensors, t->scale, o.zstd_level));
    NIFC_ASSIGN_OR_RETURN(t->packed.psnr_db, psnr_of(t->packed.bytes, image));
    t->packed.scale = t->scale;
    return Status();
  }();
}
// Two independent trials: with two threads or more side by side (the same files either
// way).
void run_rdoq_pair(const EncodeResult& r, const Image& image, const EncodeOptions& o,
                   RdoqTrial trials[2]) {
  const unsigned threads =
      o.threads > 0 ? static_cast<unsigned>(o.threads) : std::thread::hardware_concurrency();
  if (threads >= 2) {
    std::thread second([&] { run_rdoq_trial(r, image, o, &trials[1]); });
    run_rdoq_trial(r, image, o, &trials[0]);
    second.join();
  } else {
    for (int i = 0; i < 2; ++i) run_rdoq_trial(r, image, o, &trials[i]);
  }
}
bool rdoq_skipped(const EncodeResult& r, const EncodeOptions& o) {
  return o.rdoq_passes <= 0 || (o.time_limit_s > 0 && r.fit_seconds >= o.time_limit_s);
}

// -q: the pass at candidate c's scale and at kRdoqCoarser times it (the step search chose
// c's scale for rounded latents, and with the pass a coarser step often wins).  c and r's
// weights are replaced by the packing with the lowest cost, c included.
constexpr double kRdoqCoarser = 1.18;
Status rdoq(EncodeResult* r, const Image& image, const EncodeOptions& o, Candidate* c,
            double lambda) {
  if (rdoq_skipped(*r, o)) return Status();
  if (std::isnan(c->psnr_db)) {
    NIFC_ASSIGN_OR_RETURN(c->psnr_db, psnr_of(c->bytes, image));
  }
  RdoqTrial trials[2];
  trials[0].scale = c->scale;
  trials[1].scale = c->scale * kRdoqCoarser;
  for (RdoqTrial& t : trials) t.lambda = lambda;
  run_rdoq_pair(*r, image, o, trials);
  double best_cost = slope_cost(c->psnr_db, c->bytes.size(), lambda, image);
  RdoqTrial* best = nullptr;
  for (RdoqTrial& t : trials) {
    NIFC_RETURN_IF_ERROR(t.status);
    const double cost = slope_cost(t.packed.psnr_db, t.packed.bytes.size(), lambda, image);
    if (cost < best_cost) {
      best_cost = cost;
      best = &t;
    }
  }
  if (best == nullptr) return Status();
  *c = std::move(best->packed);
  r->float_tensors = std::move(best->tensors);
  return Status();
}

// A size target: -q's procedure after the fit (fit_slope's step for a slope, then the
// pass at that slope and step) at the slopes that land the file on `bytes`.  The first
// pair brackets the slope the fit ended on (EncodeResult::fit_lambda_pixel times
// kPostFitLambdaRatio, as -q); each later pair aims, by the power law through the two
// trials closest to the target, at the target and at kLandSafer times the slope above
// it.  Three rounds.  c and r's weights are replaced by the best PSNR within `bytes`, c
// (the finest plain step that fits) included.
//
// Why slopes and not steps: at a fixed slope the pass takes back most of what a finer
// step adds (kodim13 at 0.75 bpp: 1.1 to 1.77 times c's step finer gave 32.5-35.7 kB
// against a 36.9 kB target, the PSNR falling past 1.33), so the step alone cannot
// steer the size.
constexpr double kLandSpread = 1.4;
constexpr double kLandSafer = 1.05;
// (The aim is a little under the target: the law is local and the sizes a little noisy.)
constexpr double kLandAim = 0.997;
Status rdoq_to_size(EncodeResult* r, const Image& image, const EncodeOptions& o, Candidate* c,
                    uint64_t bytes) {
  const double lambda = r->fit_lambda_pixel * kPostFitLambdaRatio;
  if (rdoq_skipped(*r, o) || !(lambda > 0)) return Status();
  if (std::isnan(c->psnr_db)) {
    NIFC_ASSIGN_OR_RETURN(c->psnr_db, psnr_of(c->bytes, image));
  }
  struct Point {
    double log_lambda, log_bytes;
  };
  std::vector<Point> points;
  const double log_target = std::log(static_cast<double>(bytes) * kLandAim);
  double next[2] = {lambda / kLandSpread, lambda * kLandSpread};
  NIFC_ASSIGN_OR_RETURN(const std::vector<Candidate> packings,
                        slope_packings(*r, image, o.zstd_level));
  RdoqTrial kept;
  bool improved = false;
  for (int round = 0; round < 3; ++round) {
    RdoqTrial trials[2];
    for (int i = 0; i < 2; ++i) {
      trials[i].lambda = next[i];
      trials[i].scale = cheapest(packings, next[i], image).scale;
    }
    run_rdoq_pair(*r, image, o, trials);
    for (RdoqTrial& t : trials) {
      NIFC_RETURN_IF_ERROR(t.status);
      const double size = static_cast<double>(t.packed.bytes.size());
      points.push_back({std::log(t.lambda), std::log(size)});
      if (t.packed.bytes.size() > bytes) continue;
      if (t.packed.psnr_db > (improved ? kept.packed.psnr_db : c->psnr_db)) {
        kept = std::move(t);
        improved = true;
      }
    }
    // The two trials closest to the target (in log size) give the local power law.
    std::sort(points.begin(), points.end(), [&](const Point& a, const Point& b) {
      return std::abs(a.log_bytes - log_target) < std::abs(b.log_bytes - log_target);
    });
    const Point& p = points[0];
    const Point& q = points[1];
    double slope = -0.5;  // d log bytes / d log lambda, when the two cannot tell
    if (std::abs(p.log_lambda - q.log_lambda) > 1e-3) {
      slope = (p.log_bytes - q.log_bytes) / (p.log_lambda - q.log_lambda);
    }
    slope = std::clamp(slope, -2.0, -0.05);
    const double aim = std::exp(p.log_lambda + (log_target - p.log_bytes) / slope);
    next[0] = aim;
    next[1] = aim * kLandSafer;
  }
  if (!improved) return Status();
  *c = std::move(kept.packed);
  r->float_tensors = std::move(kept.tensors);
  return Status();
}

StatusOr<EncodeResult> finish(EncodeResult r, Candidate c, const Image& image,
                              std::chrono::steady_clock::time_point t0) {
  r.file = std::move(c.bytes);
  if (std::isnan(c.psnr_db)) {
    NIFC_ASSIGN_OR_RETURN(r.psnr_db, psnr_of(r.file, image));
  } else {
    r.psnr_db = c.psnr_db;  // (decoding it again would give the same)
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace

uint16_t width_for_bytes(const Architecture& arch, uint32_t channels, uint64_t bytes, int bits) {
  const double bits_per_param = kBitsPerParam8 * bits / 8.0;
  const double budget = (static_cast<double>(bytes) - kOverheadBytes) * 8.0 / bits_per_param;
  Architecture a = arch;
  uint16_t best = 4;
  for (uint32_t w = 4; w <= 1024; ++w) {
    a.widths.assign(arch.widths.size(), static_cast<uint16_t>(w));
    if (static_cast<double>(parameter_count(a, channels)) > budget) break;
    best = static_cast<uint16_t>(w);
  }
  return best;
}

StatusOr<EncodeResult> encode_to_target(const Image& image, const RateTarget& target,
                                        const EncodeOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  if (target.kind == RateTarget::Kind::kNone) {
    if (options.arch.encoding != Encoding::kGrid || !(options.grid_lambda_pixel > 0)) {
      return encode_image(image, options);
    }
    // A quality (-q): the fit, then the quantization steps for the same slope.
    NIFC_ASSIGN_OR_RETURN(EncodeResult r, encode_image(image, options));
    const double lambda = options.grid_lambda_pixel * kPostFitLambdaRatio;
    NIFC_ASSIGN_OR_RETURN(Candidate c, fit_slope(r, image, lambda, options.zstd_level));
    NIFC_RETURN_IF_ERROR(rdoq(&r, image, options, &c, lambda));
    // The refitted MLP is kept when it lowers the same cost, MSE + lambda * bpp.
    NIFC_RETURN_IF_ERROR(
        refine(&r, image, options, &c, [&](size_t bytes, double db, const Candidate& old) {
          return slope_cost(db, bytes, lambda, image) <
                 slope_cost(old.psnr_db, old.bytes.size(), lambda, image);
        }));
    return finish(std::move(r), std::move(c), image, t0);
  }
  EncodeOptions o = options;
  const int zstd = o.zstd_level;
  if (o.arch.widths.empty()) return invalid_argument("the network needs a hidden layer");

  if (target.kind == RateTarget::Kind::kBytes) {
    if (target.bytes < kOverheadBytes + 64) {
      return invalid_argument("size target of " + std::to_string(target.bytes) +
                              " bytes is too small for any network");
    }
    if (o.arch.encoding == Encoding::kGrid) {
      // The latents dominate the rate; the architecture stays, the rate
      // penalty follows the target (about the slope of the RD curve, in
      // normalized MSE per bpp, near 0.25-0.5 bpp), then the step search lands
      // on the size.  One fit.
      const double bpp = 8.0 * static_cast<double>(target.bytes) / image.pixel_count();
      o.grid_lambda_pixel = grid_lambda_for_bpp(bpp);
      o.grid_target_bytes = target.bytes;
      NIFC_ASSIGN_OR_RETURN(EncodeResult r, encode_image(image, o));
      NIFC_ASSIGN_OR_RETURN(Candidate c, fit_size(r, target.bytes, zstd));
      NIFC_RETURN_IF_ERROR(rdoq_to_size(&r, image, o, &c, target.bytes));
      // The refitted MLP is kept when the file still fits and scores higher.
      NIFC_RETURN_IF_ERROR(
          refine(&r, image, o, &c, [&](size_t bytes, double db, const Candidate& old) {
            return bytes <= target.bytes && db > old.psnr_db;
          }));
      return finish(std::move(r), std::move(c), image, t0);
    }
    uint64_t plan = target.bytes;
    for (int attempt = 0; attempt < 2; ++attempt) {
      o.arch.widths.assign(options.arch.widths.size(),
                           width_for_bytes(o.arch, image.channels, plan, o.bits));
      NIFC_ASSIGN_OR_RETURN(EncodeResult r, encode_image(image, o));
      StatusOr<Candidate> c = fit_size(r, target.bytes, zstd);
      const bool last = attempt == 1;
      if (!c.ok()) {
        if (last) return c.status();
        plan = plan * 3 / 4;  // the network was too large even at coarse steps
        continue;
      }
      // Within 5% under the target, or the last try: done.  Else resize the
      // network by the shortfall and fit again.
      if (c->bytes.size() * 100 >= target.bytes * 95 || last) {
        return finish(std::move(r), std::move(c.value()), image, t0);
      }
      // Finest steps still leave room: the network is too small.
      plan = plan * target.bytes / std::max<uint64_t>(c->bytes.size(), 1);
    }
  }

  // PSNR: start from the default-quality network; grow it while the float
  // network misses the target (at most three fits).
  uint64_t plan = bytes_for_bpp(bpp_for_quality(50), image.pixel_count());
  Status last_error = internal_error("no fit");
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (o.arch.encoding == Encoding::kGrid) {
      // Finer latents for higher targets: the rate penalty halves per 3 dB
      // (about one doubling of bpp) above the default's ~0.2 bpp / 25 dB.
      o.grid_lambda =
          0.075 * std::pow(2.0, -(target.psnr_db - 25.0) / 3.0) / std::pow(2.0, attempt);
    } else {
      o.arch.widths.assign(options.arch.widths.size(),
                           width_for_bytes(o.arch, image.channels, plan, o.bits));
    }
    NIFC_ASSIGN_OR_RETURN(EncodeResult r, encode_image(image, o));
    StatusOr<Candidate> c = fit_psnr(r, image, target.psnr_db, zstd);
    if (c.ok()) return finish(std::move(r), std::move(c.value()), image, t0);
    last_error = c.status();
    // Roughly 6 dB per doubling of parameters for these networks at low
    // rates; aim a little above the shortfall.
    const double missing_db = target.psnr_db - r.float_psnr_db + 0.5;
    plan = static_cast<uint64_t>(plan * std::clamp(std::pow(2.0, missing_db / 3.0), 1.5, 8.0));
  }
  return Status(StatusCode::kLimit, "PSNR target of " + std::to_string(target.psnr_db) +
                                        " dB not reached after three fits");
}

}  // namespace nifc
