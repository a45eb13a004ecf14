// The encode plan (codec/encoder/presets.h): the default family, -q as a rate-distortion
// slope, --effort, and the grid's automatic coarsening for large images.  Torch-free.
#include <doctest/doctest.h>

#include "codec/encoder/presets.h"

namespace nifc {
namespace {

EncodePlan plan_of(const EncodeRequest& r, uint32_t w, uint32_t h) {
  EncodePlan p;
  const Status s = plan_encode(r, w, h, &p);
  REQUIRE_MESSAGE(s.ok(), s.to_string());
  return p;
}

EncodeRequest cli_request() {  // what `nifc encode in.png -o out.nif` asks
  EncodeRequest r;
  r.auto_arch = true;
  return r;
}

TEST_CASE("plan: no options give the grid at the default quality and effort") {
  const EncodePlan p = plan_of(cli_request(), 768, 512);
  CHECK(p.arch == "grid");
  CHECK(p.options.arch.encoding == Encoding::kGrid);
  CHECK(p.quality == kDefaultQuality);
  CHECK(p.effort == kDefaultEffort);
  CHECK(p.options.steps == default_grid_steps());
  CHECK(p.options.batch_pixels == 0);
  CHECK(p.options.lr == kGridLr);
  CHECK(p.target.kind == RateTarget::Kind::kNone);
  CHECK(p.options.grid_lambda_pixel == grid_lambda_for_quality(kDefaultQuality));
  CHECK(p.options.arch.grid_levels[0].width == 768);  // full density
}

TEST_CASE("plan: a grid steered to a size trains at -q's rates from a slope for its bpp") {
  EncodeRequest r = cli_request();
  r.target.bpp = 0.5;
  const EncodePlan p = plan_of(r, 768, 512);
  CHECK(p.arch == "grid");
  CHECK(p.target.kind == RateTarget::Kind::kBytes);
  CHECK(p.options.lr == kGridLr);
  CHECK(p.options.grid_lr_ratio == EncodeOptions().grid_lr_ratio);
  // The starting slope falls as the target rises, and sits between -q's at the qualities
  // whose Kodak mean brackets the target (0.449 bpp at -q 55, 0.724 at -q 75).
  CHECK(grid_lambda_for_bpp(0.25) > grid_lambda_for_bpp(0.5));
  CHECK(grid_lambda_for_bpp(0.5) > grid_lambda_for_bpp(1.0));
  CHECK(grid_lambda_for_bpp(0.5) < grid_lambda_for_quality(55));
  CHECK(grid_lambda_for_bpp(0.5) > grid_lambda_for_quality(75));
  // Given rates win.
  r.lr_given = true;
  r.options.lr = 3e-2;
  r.options.grid_lr_ratio = 7.0;
  const EncodePlan g = plan_of(r, 768, 512);
  CHECK(g.options.lr == 3e-2);
  CHECK(g.options.grid_lr_ratio == 7.0);
}

TEST_CASE("plan: -q is a slope that falls with q and ignores the image's size") {
  double last = 1e9;
  for (double q : {0.0, 25.0, 50.0, 75.0, 90.0, 100.0}) {
    EncodeRequest r = cli_request();
    r.target.quality = q;
    const EncodePlan small = plan_of(r, 192, 128), large = plan_of(r, 4000, 3000);
    CHECK(small.options.grid_lambda_pixel == large.options.grid_lambda_pixel);
    CHECK(small.options.grid_lambda_pixel < last);
    CHECK(small.target.kind == RateTarget::Kind::kNone);
    last = small.options.grid_lambda_pixel;
  }
  // Families without a rate term keep -q as a bpp preset.
  EncodeRequest r;
  r.net.arch = "siren-pe";
  r.target.quality = 50;
  const EncodePlan p = plan_of(r, 768, 512);
  CHECK(p.target.kind == RateTarget::Kind::kBytes);
  CHECK(p.target.bytes == bytes_for_bpp(bpp_for_quality(50), 768 * 512));
  CHECK(p.quality < 0);
  // An explicit --grid-lambda wins over the quality's slope.
  EncodeRequest l = cli_request();
  l.lambda_given = true;
  CHECK(plan_of(l, 768, 512).options.grid_lambda_pixel == 0.0);
  EncodePlan bad;
  l.target.quality = 101;
  CHECK(!plan_encode(l, 768, 512, &bad).ok());
}

TEST_CASE("plan: --effort sets the steps unless --steps is given") {
  int last = 0;
  for (int e = 1; e <= 9; ++e) {
    EncodeRequest r = cli_request();
    r.effort = e;
    const EncodePlan p = plan_of(r, 768, 512);
    CHECK(p.options.steps == grid_steps_for_effort(e));
    CHECK(p.options.steps > last);
    CHECK(p.effort == e);
    last = p.options.steps;
  }
  EncodeRequest r = cli_request();
  r.effort = 9;
  r.steps_given = true;
  r.options.steps = 33;
  CHECK(plan_of(r, 768, 512).options.steps == 33);
  EncodePlan bad;
  r.effort = 10;
  CHECK(!plan_encode(r, 768, 512, &bad).ok());
  // Other families scale their own default by the effort's ratio.
  EncodeRequest s;
  s.net.arch = "siren-pe";
  CHECK(plan_of(s, 768, 512).options.steps == EncodeOptions().steps);
  s.effort = 1;
  CHECK(plan_of(s, 768, 512).options.steps < EncodeOptions().steps);
}

TEST_CASE("plan: small size targets keep siren-pe, others the grid") {
  EncodeRequest r = cli_request();
  r.target.size = 1500;
  CHECK(plan_of(r, 192, 128).arch == "siren-pe");
  r.target.size = 4000;
  CHECK(plan_of(r, 192, 128).arch == "grid");
  CHECK(plan_of(r, 192, 128).quality < 0);
}

TEST_CASE("plan: a grid too large for a file gets coarser levels unless told") {
  const NifLimits limits;
  const EncodePlan p = plan_of(cli_request(), 4096, 3072);
  CHECK(p.options.arch.grid_levels[0].width == 2048);  // --grid-coarsen 1
  CHECK(file_parameter_count(p.options.arch, 4, 4096, 3072, p.tiles) <= limits.max_parameters);
  EncodeRequest r = cli_request();
  r.net.grid_coarsen = 0;
  const EncodePlan dense = plan_of(r, 4096, 3072);
  CHECK(dense.options.arch.grid_levels[0].width == 4096);
  CHECK(file_parameter_count(dense.options.arch, 3, 4096, 3072, dense.tiles) >
        limits.max_parameters);
  // A Kodak-sized image keeps full density.
  CHECK(plan_of(cli_request(), 3000, 2000).options.arch.grid_levels[0].width == 3000);
}

}  // namespace
}  // namespace nifc
