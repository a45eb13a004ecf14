// Applications of derivative fitting: Poisson reconstruction, blending, inpainting
// (codec/applications.h), and the interpolation baselines (codec/interpolate.h).
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "codec/applications.h"
#include "codec/decoder.h"
#include "codec/interpolate.h"

namespace nifc {
namespace {

// A smooth synthetic image: f(u, v) in [0, 1] for u, v in [0, 1].
template <typename F>
Image synthetic(uint32_t w, uint32_t h, uint32_t channels, F f) {
  Image img;
  img.width = w;
  img.height = h;
  img.channels = channels;
  img.bit_depth = 16;
  img.samples.resize(img.pixel_count() * channels);
  for (uint32_t y = 0; y < h; ++y) {
    for (uint32_t x = 0; x < w; ++x) {
      for (uint32_t c = 0; c < channels; ++c) {
        const double v = f((x + 0.5) / w, (y + 0.5) / h, c);
        img.at(x, y, c) = static_cast<uint16_t>(std::lround(std::clamp(v, 0.0, 1.0) * 65535));
      }
    }
  }
  return img;
}

EncodeOptions quick(int steps) {
  EncodeOptions o;
  o.arch.encoding = Encoding::kPositional;
  o.arch.pe_levels = 4;
  o.arch.widths = {32, 32, 32};
  o.steps = steps;
  o.threads = 1;
  o.batch_pixels = 1024;
  o.warmup_steps = 10;
  o.lr = 1e-3;
  o.zstd_level = 3;
  return o;
}

TEST_CASE("debug poisson") {
  const Image img = synthetic(32, 32, 1, [](double u, double v, uint32_t) {
    return 0.5 + 0.3 * std::sin(3 * u) * std::cos(2 * v);
  });
  EncodeOptions o = quick(300);
  o.progress = [](const EncodeProgress& p) { MESSAGE("step " << p.step << " " << p.batch_psnr_db); return true; };
  StatusOr<ApplicationResult> r = poisson_reconstruct(img, PoissonSource::kGradient, o);
  REQUIRE(r.ok());
  MESSAGE("psnr " << r->psnr_db << " field " << r->field_psnr_db);
  StatusOr<NifFile> f = parse_nif(r->file.data(), r->file.size());
  std::vector<float> xs, ys;
  for (int i = 0; i < 8; ++i) { xs.push_back((2 * (4 * i + 1)) / 32.0 - 1); ys.push_back(11 / 32.0 - 1); }
  StatusOr<std::vector<float>> g = torch_gradient(f.value(), xs, ys);
  for (int i = 0; i < 8; ++i) MESSAGE("grad x at " << 4 * i + 0.5 << ": " << (*g)[2 * i] * 2 / 32 * f->stddev[0] << " want " << (img.at(4 * i + 1, 5, 0) - img.at(4 * i, 5, 0)) / 65535.0);
  for (uint32_t x = 0; x < 32; x += 4) MESSAGE(x << ": " << img.at(x, 5, 0) / 65535.0 << " " << r->decoded.at(x, 5, 0) / 65535.0);
  for (uint32_t y = 0; y < 32; y += 4) MESSAGE(y << ": " << img.at(5, y, 0) / 65535.0 << " " << r->decoded.at(5, y, 0) / 65535.0);
}

}  // namespace
}  // namespace nifc
