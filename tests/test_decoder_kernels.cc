// The decoder's SIMD kernels (codec/decoder/kernels.h): every instruction set
// this CPU runs against a double-precision reference forward, the sines'
// error bounds, thread-count independence, and hostile weights.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "codec/decoder/decoder.h"
#include "codec/decoder/kernels.h"
#include "format/nif_format.h"

namespace nifc {
namespace {

using internal::Isa;

constexpr double kPi = 3.14159265358979323846;

std::vector<Isa> runnable_isas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::kGeneric, Isa::kSse2, Isa::kAvx2Fma, Isa::kAvx512}) {
    if (internal::isa_supported(isa)) isas.push_back(isa);
  }
  return isas;
}

Architecture make_arch(Encoding encoding, Activation activation, std::vector<uint16_t> widths) {
  Architecture a;
  a.encoding = encoding;
  a.activation = activation;
  a.omega0 = 30.0f;
  a.omega = 30.0f;
  if (encoding == Encoding::kPositional) {
    a.pe_levels = 3;
    a.pe_include_input = true;
  }
  if (encoding == Encoding::kFourier) {
    a.ff_features = 7;
    a.ff_sigma = 2.0f;
    a.ff_seed = 12345;
  }
  a.widths = std::move(widths);
  return a;
}

// A file with random float weights, initialized like the encoder does (SIREN:
// first layer U(-1/in, 1/in), then U(-sqrt(6/in)/omega, ...); ReLU: He
// uniform), so pre-activations have realistic magnitudes.
NifFile random_file(const Architecture& arch, uint32_t channels, uint32_t seed) {
  NifFile f;
  f.width = 40;
  f.height = 27;
  f.channels = static_cast<uint8_t>(channels);
  for (uint32_t c = 0; c < channels; ++c) {
    f.mean.push_back(0.4f + 0.05f * c);
    f.stddev.push_back(0.2f + 0.01f * c);
  }
  f.arch = arch;
  std::mt19937 rng(seed);
  const std::vector<LayerShape> shapes = layer_shapes(arch, channels);
  for (size_t l = 0; l < shapes.size(); ++l) {
    const LayerShape& s = shapes[l];
    double bound;
    if (arch.activation == Activation::kSine) {
      bound = l == 0 ? 1.0 / s.in : std::sqrt(6.0 / s.in) / arch.omega;
    } else {
      bound = std::sqrt(6.0 / s.in);
    }
    std::uniform_real_distribution<float> w(static_cast<float>(-bound), static_cast<float>(bound));
    std::uniform_real_distribution<float> b(-0.1f, 0.1f);
    std::vector<float> wt(static_cast<size_t>(s.in) * s.out), bt(s.out);
    for (float& v : wt) v = w(rng);
    for (float& v : bt) v = b(rng);
    f.tensors.push_back(std::move(wt));
    f.tensors.push_back(std::move(bt));
  }
  return f;
}

// SPEC.md §6 straight from the definition, in double.  `scale` receives, per
// output, |b| + sum |W h| of the last layer: the size of the terms summed.
std::vector<double> reference_forward(const NifFile& f, double x, double y,
                                      std::vector<double>* scale) {
  const Architecture& a = f.arch;
  std::vector<double> h;
  switch (a.encoding) {
    case Encoding::kGrid:  // tests/test_decoder.cc checks grids
    case Encoding::kNone:
      h = {x, y};
      break;
    case Encoding::kPositional:
      if (a.pe_include_input) h = {x, y};
      for (int k = 0; k < a.pe_levels; ++k) {
        const double w = std::ldexp(kPi, k);
        h.push_back(std::sin(w * x));
        h.push_back(std::cos(w * x));
        h.push_back(std::sin(w * y));
        h.push_back(std::cos(w * y));
      }
      break;
    case Encoding::kFourier: {
      const std::vector<float> b = fourier_matrix(a);
      const uint32_t m = a.ff_features;
      h.resize(2 * m);
      for (uint32_t k = 0; k < m; ++k) {
        const double t = 2.0 * kPi * (double{b[2 * k]} * x + double{b[2 * k + 1]} * y);
        h[k] = std::cos(t);
        h[m + k] = std::sin(t);
      }
      break;
    }
  }
  const std::vector<LayerShape> shapes = layer_shapes(a, f.channels);
  for (size_t l = 0; l < shapes.size(); ++l) {
    const bool last = l + 1 == shapes.size();
    std::vector<double> o(shapes[l].out);
    if (last) scale->assign(shapes[l].out, 0.0);
    for (uint32_t i = 0; i < shapes[l].out; ++i) {
      double s = f.tensors[2 * l + 1][i];
      double terms = std::fabs(s);
      for (uint32_t k = 0; k < shapes[l].in; ++k) {
        const double p = double{f.tensors[2 * l][static_cast<size_t>(i) * shapes[l].in + k]} * h[k];
        s += p;
        terms += std::fabs(p);
      }
      if (last) {
        (*scale)[i] = terms;
      } else if (a.activation == Activation::kSine) {
        s = std::sin((l == 0 ? a.omega0 : a.omega) * s);
      } else {
        s = s > 0 ? s : 0;
      }
      o[i] = s;
    }
    h = std::move(o);
  }
  return h;
}

std::vector<float> random_coords(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

TEST_CASE("every instruction set matches a double-precision reference forward") {
  const std::vector<Isa> isas = runnable_isas();
  REQUIRE(!isas.empty());
  for (Isa isa : isas) {
    for (Activation act : {Activation::kSine, Activation::kRelu}) {
      for (Encoding enc : {Encoding::kNone, Encoding::kPositional, Encoding::kFourier}) {
        for (const std::vector<uint16_t>& widths :
             {std::vector<uint16_t>{5}, std::vector<uint16_t>{17, 5},
              std::vector<uint16_t>{64, 17, 64}}) {
          for (uint32_t channels : {1u, 3u, 4u}) {
            const Architecture arch = make_arch(enc, act, widths);
            CAPTURE(internal::isa_name(isa));
            CAPTURE(activation_name(act));
            CAPTURE(encoding_name(enc));
            CAPTURE(widths.size());
            CAPTURE(widths[0]);
            CAPTURE(channels);
            const NifFile f = random_file(arch, channels, 7 + channels);
            StatusOr<Network> net = internal::create_network(f, isa);
            REQUIRE(net.ok());
            // 53 points: not a multiple of any group size.
            const size_t n = 53;
            const std::vector<float> x = random_coords(n, 1), y = random_coords(n, 2);
            std::vector<float> got(n * channels);
            net->evaluate(x.data(), y.data(), n, got.data());
            // Normwise relative error per channel: the largest error over the
            // points relative to the largest size of the terms summed into
            // the output (|b| + sum |W h| of the last layer).
            std::vector<double> max_err(channels, 0.0), max_scale(channels, 0.0);
            for (size_t i = 0; i < n; ++i) {
              std::vector<double> scale;
              const std::vector<double> ref = reference_forward(f, x[i], y[i], &scale);
              for (uint32_t c = 0; c < channels; ++c) {
                max_err[c] = std::max(max_err[c], std::fabs(got[i * channels + c] - ref[c]));
                max_scale[c] = std::max(max_scale[c], scale[c]);
              }
            }
            double worst = 0;
            for (uint32_t c = 0; c < channels; ++c) {
              worst = std::max(worst, max_err[c] / max_scale[c]);
            }
            CHECK(worst < 1e-5);
          }
        }
      }
    }
  }
}

TEST_CASE("each point's result does not depend on its place in a group or row") {
  const NifFile f = random_file(make_arch(Encoding::kFourier, Activation::kSine, {17, 17}), 3, 3);
  for (Isa isa : runnable_isas()) {
    CAPTURE(internal::isa_name(isa));
    StatusOr<Network> net = internal::create_network(f, isa);
    REQUIRE(net.ok());
    const size_t n = 101;
    const std::vector<float> x = random_coords(n, 5), y = random_coords(n, 6);
    std::vector<float> all(n * 3);
    net->evaluate(x.data(), y.data(), n, all.data());
    for (size_t shift : {1u, 5u, 23u}) {
      std::vector<float> part((n - shift) * 3);
      net->evaluate(x.data() + shift, y.data() + shift, n - shift, part.data());
      CHECK(std::memcmp(part.data(), all.data() + shift * 3, part.size() * sizeof(float)) == 0);
    }
    // Rows: the same columns evaluated in a shorter row give the same bits.
    std::vector<float> row(n * 3), sub((n - 7) * 3);
    net->evaluate_row(0.3f, x.data(), n, row.data());
    net->evaluate_row(0.3f, x.data() + 7, n - 7, sub.data());
    CHECK(std::memcmp(sub.data(), row.data() + 7 * 3, sub.size() * sizeof(float)) == 0);
    // Table features agree with the direct definition within float rounding.
    std::vector<float> direct(n * 3), ys(n, 0.3f);
    net->evaluate(x.data(), ys.data(), n, direct.data());
    for (size_t i = 0; i < n * 3; ++i) {
      const float v = std::min(1.0f, std::max(0.0f, direct[i] * f.stddev[i % 3] + f.mean[i % 3]));
      CHECK(std::fabs(v - row[i]) < 1e-5);
    }
  }
}

TEST_CASE("fast_sin stays within its documented error bound") {
  auto check = [](float x) {
    const double err = std::fabs(double{fast_sin(x)} - std::sin(double{x}));
    const double bound = 2e-7 + 1.2e-7 * std::fabs(double{x}) / kPi;
    if (!(err <= bound)) {
      CAPTURE(x);
      CHECK(err <= bound);
    }
  };
  for (int i = -200000; i <= 200000; ++i) check(static_cast<float>(i) * 5e-5f);  // [-10, 10]
  for (float x = 10.0f; x <= 1e6f; x *= 1.0001f) {
    check(x);
    check(-x);
  }
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1e6f, 1e6f);
  for (int i = 0; i < 200000; ++i) check(u(rng));
  // Multiples of pi/2 are where the reduction is hardest.
  for (int k = -100000; k <= 100000; ++k) check(static_cast<float>(k * (kPi / 2)));
  for (float x : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                  -std::numeric_limits<float>::infinity(), 3e38f, -3e38f}) {
    CHECK(std::isfinite(fast_sin(x)));
  }
}

TEST_CASE("the kernels' sin(pi q) is accurate and bounded on every instruction set") {
  std::vector<float> q;
  for (int i = -400000; i <= 400000; ++i) q.push_back(static_cast<float>(i) * 2.5e-5f);
  for (float v = 10.0f; v < 4194304.0f; v *= 1.0003f) {
    q.push_back(v);
    q.push_back(-v);
    q.push_back(v + 0.5f);
  }
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> hostile = {
      std::numeric_limits<float>::quiet_NaN(), inf, -inf, 3e38f, -3e38f, 1e10f, -8388609.0f};
  for (Isa isa : runnable_isas()) {
    CAPTURE(internal::isa_name(isa));
    std::vector<float> s(q.size());
    internal::sinpi_array(isa, q.data(), s.data(), q.size());
    double worst = 0;
    for (size_t i = 0; i < q.size(); ++i) {
      worst = std::max(worst, std::fabs(double{s[i]} - std::sin(kPi * double{q[i]})));
    }
    CHECK(worst <= 2.5e-7);
    std::vector<float> h(hostile.size());
    internal::sinpi_array(isa, hostile.data(), h.data(), hostile.size());
    for (float v : h) CHECK(std::fabs(v) <= 1.0f);  // false for NaN
  }
}

TEST_CASE("the decoded image does not depend on the thread count") {
  const NifFile f =
      random_file(make_arch(Encoding::kPositional, Activation::kSine, {17, 64}), 3, 5);
  for (uint32_t supersample : {1u, 2u}) {
    for (uint32_t depth : {8u, 16u}) {
      DecodeOptions o;
      o.width = 53;
      o.height = 31;
      o.supersample = supersample;
      o.bit_depth = depth;
      CAPTURE(supersample);
      CAPTURE(depth);
      o.threads = 1;
      StatusOr<Image> one = decode_nif(f, o);
      REQUIRE(one.ok());
      for (int threads : {2, 3, 8}) {
        o.threads = threads;
        StatusOr<Image> many = decode_nif(f, o);
        REQUIRE(many.ok());
        CHECK(many->samples == one->samples);
      }
      // A region is the same crop of the full grid, bit for bit.
      o.threads = 2;
      o.region_x = 9;
      o.region_y = 4;
      o.region_width = 30;
      o.region_height = 20;
      StatusOr<Image> crop = decode_nif(f, o);
      REQUIRE(crop.ok());
      bool same = true;
      for (uint32_t j = 0; j < 20; ++j) {
        for (uint32_t i = 0; i < 30; ++i) {
          for (uint32_t c = 0; c < 3; ++c) same &= crop->at(i, j, c) == one->at(9 + i, 4 + j, c);
        }
      }
      CHECK(same);
    }
  }
}

TEST_CASE("NaN, infinite and huge weights decode without crashing") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (Activation act : {Activation::kSine, Activation::kRelu}) {
    for (Encoding enc : {Encoding::kNone, Encoding::kPositional, Encoding::kFourier}) {
      for (float bad : {nan, inf, -inf, 3e38f, 1e20f}) {
        CAPTURE(activation_name(act));
        CAPTURE(encoding_name(enc));
        CAPTURE(bad);
        NifFile f = random_file(make_arch(enc, act, {17, 17}), 3, 9);
        f.tensors[0][3] = bad;   // first layer weight
        f.tensors[3][1] = bad;   // second layer bias
        f.tensors[4][10] = bad;  // output layer weight
        f.mean[1] = bad;
        for (Isa isa : runnable_isas()) {
          CAPTURE(internal::isa_name(isa));
          StatusOr<Network> net = internal::create_network(f, isa);
          REQUIRE(net.ok());
          const std::vector<float> x = random_coords(40, 1), y = random_coords(40, 2);
          std::vector<float> raw(40 * 3), row(40 * 3);
          net->evaluate(x.data(), y.data(), 40, raw.data());
          net->evaluate_row(0.5f, x.data(), 40, row.data());
          for (float v : row) CHECK((v >= 0.0f && v <= 1.0f));
        }
        DecodeOptions o;
        o.threads = 2;
        StatusOr<Image> img = decode_nif(f, o);
        REQUIRE(img.ok());
        bool in_range = true;
        for (uint16_t v : img->samples) in_range &= v <= 255;
        CHECK(in_range);
      }
    }
  }
}

}  // namespace
}  // namespace nifc
