// Poisson reconstruction, gradient-domain blending and inpainting with
// coordinate networks (see applications.h).  The network, its encodings and
// the .nif packing are the encoder's (torch_net.h); this file adds losses on
// the network's derivatives, which autograd gives through the layers and the
// input encoding with respect to the coordinates.
#include "codec/applications/applications.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <thread>

#include "codec/applications/interpolate.h"
#include "codec/decoder/decoder.h"
#include "codec/encoder/fit.h"
#include "codec/encoder/quantize.h"
#include "codec/encoder/torch_net.h"

namespace nifc {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Status check_sine(const Architecture& arch, const char* what) {
  if (arch.activation != Activation::kSine) {
    return invalid_argument(std::string(what) +
                            " needs a sine network: the second derivatives of a ReLU network "
                            "vanish (use --arch siren-pe, siren or siren-fourier)");
  }
  return Status();
}

// Samples scaled to [0, 1] (SPEC.md §5.1), pixels x channels, on the CPU.
torch::Tensor unit_samples(const Image& image) {
  std::vector<float> v(image.samples.size());
  const float inv_max = 1.0f / static_cast<float>(image.max_value());
  for (size_t i = 0; i < v.size(); ++i) v[i] = image.samples[i] * inv_max;
  return torch::from_blob(v.data(), {static_cast<int64_t>(image.pixel_count()),
                                     static_cast<int64_t>(image.channels)})
      .clone();
}

// Per-channel normalization of SPEC.md §5.2 over the rows of `unit`.  A flat
// channel has std 0; the floor keeps the targets finite (as the encoder does).
struct Norm {
  torch::Tensor mean, stddev;  // channels, CPU float
};
Norm norm_of(const torch::Tensor& unit) {
  return {unit.mean(0), unit.std(0, /*unbiased=*/false).clamp_min(1.0 / 1024)};
}

// Pixel edges: pairs of 4-neighbours p < q, all x-edges (q = p + 1) row by
// row, then all y-edges (q = p + W) row by row.
struct Edges {
  torch::Tensor p, q;   // int64, E
  int64_t x_edges = 0;  // H (W - 1), the first rows
};

Edges list_edges(uint32_t w, uint32_t h) {
  std::vector<int64_t> p, q;
  for (uint32_t y = 0; y < h; ++y) {
    for (uint32_t x = 0; x + 1 < w; ++x) {
      p.push_back(int64_t{y} * w + x);
      q.push_back(int64_t{y} * w + x + 1);
    }
  }
  const int64_t x_edges = static_cast<int64_t>(p.size());
  for (uint32_t y = 0; y + 1 < h; ++y) {
    for (uint32_t x = 0; x < w; ++x) {
      p.push_back(int64_t{y} * w + x);
      q.push_back(int64_t{y + 1} * w + x);
    }
  }
  const int64_t n = static_cast<int64_t>(p.size());
  const auto i64 = torch::TensorOptions().dtype(torch::kLong);
  return {torch::from_blob(p.data(), {n}, i64).clone(),
          torch::from_blob(q.data(), {n}, i64).clone(), x_edges};
}

// The target gradient as a field over the image's continuous extent, so the
// fit can sample it at random points rather than at the edge midpoints only.
// (At fixed grid points a network can match the differences with components
// above the Nyquist frequency, which show in its derivatives there but not in
// its values at the pixel centres: fitting on the grid alone reconstructs
// nothing.)  In pixel units (pixel centres at integers), the x-difference
// D_x[i][j] = t[i][j+1] - t[i][j] holds on the cell j <= x < j+1 (so its
// integral from pixel j to pixel j+1 is exactly D_x[i][j]) and is interpolated
// linearly between rows i and i+1; D_y likewise with the axes swapped.
struct GradientField {
  uint32_t w = 0, h = 0;
  torch::Tensor dx, dy;  // H (W-1) x C and (H-1) W x C, on the device (a zero row if empty)
  double x_share = 0;    // fraction of samples taken for d/dx
};

GradientField gradient_field(const Edges& e, const torch::Tensor& diff, uint32_t w, uint32_t h,
                             const torch::Device& device) {
  GradientField f;
  f.w = w;
  f.h = h;
  const int64_t n = diff.size(0), c = diff.size(1);
  f.dx = e.x_edges > 0 ? diff.slice(0, 0, e.x_edges) : torch::zeros({1, c});
  f.dy = e.x_edges < n ? diff.slice(0, e.x_edges, n) : torch::zeros({1, c});
  f.dx = f.dx.to(device);
  f.dy = f.dy.to(device);
  f.x_share = static_cast<double>(e.x_edges) / static_cast<double>(n);
  return f;
}

// A batch of points with, for each, the direction of the derivative wanted
// (d/dpixel: (2/W, 0) or (0, 2/H) in coordinate units) and its target.
struct Batch {
  torch::Tensor coords, dir, target;
};

torch::Tensor to_coords(const torch::Tensor& px, const torch::Tensor& py, uint32_t w, uint32_t h) {
  return torch::stack(
      {(2 * px + 1) / static_cast<double>(w) - 1, (2 * py + 1) / static_cast<double>(h) - 1}, 1);
}

// The targets at pixel positions (px, py) (pixel centres at integers), for
// d/dx where is_x is set and d/dy elsewhere.
Batch gradient_targets(const GradientField& f, const torch::Tensor& px, const torch::Tensor& py,
                       const torch::Tensor& is_x) {
  const int64_t wi = f.w, hi = f.h;
  auto gather = [](const torch::Tensor& field, const torch::Tensor& idx) {
    return field.index_select(0, idx.clamp(0, field.size(0) - 1));
  };
  // d/dx: cell j along x, rows r0, r1 across.
  const torch::Tensor j = px.floor().clamp(0, std::max<int64_t>(wi - 2, 0)).to(torch::kLong);
  const torch::Tensor r0 = py.floor().clamp(0, std::max<int64_t>(hi - 2, 0));
  const torch::Tensor ty = (py - r0).clamp(0, 1).unsqueeze(1);
  const torch::Tensor r0i = r0.to(torch::kLong), r1i = (r0i + 1).clamp_max(hi - 1);
  const torch::Tensor tx =
      (1 - ty) * gather(f.dx, r0i * (wi - 1) + j) + ty * gather(f.dx, r1i * (wi - 1) + j);
  // d/dy: cell i along y, columns c0, c1 across.
  const torch::Tensor i = py.floor().clamp(0, std::max<int64_t>(hi - 2, 0)).to(torch::kLong);
  const torch::Tensor c0 = px.floor().clamp(0, std::max<int64_t>(wi - 2, 0));
  const torch::Tensor sx = (px - c0).clamp(0, 1).unsqueeze(1);
  const torch::Tensor c0i = c0.to(torch::kLong), c1i = (c0i + 1).clamp_max(wi - 1);
  const torch::Tensor tv = (1 - sx) * gather(f.dy, i * wi + c0i) + sx * gather(f.dy, i * wi + c1i);
  const torch::Tensor fx = is_x.to(torch::kFloat32).unsqueeze(1);
  Batch b;
  b.coords = to_coords(px, py, f.w, f.h);
  b.dir = torch::cat({fx * (2.0 / f.w), (1 - fx) * (2.0 / f.h)}, 1);
  b.target = torch::where(is_x.unsqueeze(1), tx, tv);
  return b;
}

// n points uniform over the pixel centres' extent [0, W-1] x [0, H-1], or, with
// `border`, over the band between the outermost two rows or columns of pixel
// centres (one of the four sides at random; needs W, H >= 3).
Batch sample_points(const GradientField& f, int64_t n, bool border, const torch::Device& device) {
  const auto fo = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const double wm = f.w - 1.0, hm = f.h - 1.0;
  torch::Tensor px = torch::rand({n}, fo) * wm, py = torch::rand({n}, fo) * hm;
  if (border) {
    const torch::Tensor side = torch::randint(4, {n}, fo.dtype(torch::kLong));
    const torch::Tensor u = torch::rand({n}, fo);
    px = torch::where(side == 0, u, torch::where(side == 1, wm - 1 + u, px));
    py = torch::where(side == 2, u, torch::where(side == 3, hm - 1 + u, py));
  }
  return gradient_targets(f, px, py, torch::rand({n}, fo) < f.x_share);
}

// Whole rows and columns: `rows` lines at random heights y, each with one
// point at a random position in every cell [j, j+1] of x (W - 1 points, for
// d/dx), then `cols` columns likewise (H - 1 points each, for d/dy).  With
// `border`, the rows lie in the bands y in [0, 1] or [H-2, H-1] and the
// columns in x in [0, 1] or [W-2, W-1] (needs W, H >= 3).
struct Lines {
  Batch b;
  int64_t rows = 0, cols = 0;
};

Lines sample_lines(const GradientField& f, int64_t points, bool border,
                   const torch::Device& device) {
  const auto fo = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const int64_t nx = f.w - 1, ny = f.h - 1;
  Lines l;
  l.rows = nx > 0 ? std::max<int64_t>(1, std::llround(points * f.x_share / nx)) : 0;
  l.cols = ny > 0 ? std::max<int64_t>(1, std::llround(points * (1 - f.x_share) / ny)) : 0;
  // Positions across the lines, in [0, extent] or in its two border bands.
  auto across = [&](int64_t n, int64_t extent) {
    const torch::Tensor u = torch::rand({n, 1}, fo);
    if (!border) return u * extent;
    const torch::Tensor far = torch::rand({n, 1}, fo) < 0.5;
    return torch::where(far, u + (extent - 1), u);
  };
  std::vector<torch::Tensor> px, py, is_x;
  if (l.rows > 0) {
    px.push_back((torch::arange(nx, fo).unsqueeze(0) + torch::rand({l.rows, nx}, fo)).reshape(-1));
    py.push_back(across(l.rows, ny).expand({l.rows, nx}).reshape(-1));
    is_x.push_back(torch::ones({l.rows * nx}, fo.dtype(torch::kBool)));
  }
  if (l.cols > 0) {
    py.push_back((torch::arange(ny, fo).unsqueeze(0) + torch::rand({l.cols, ny}, fo)).reshape(-1));
    px.push_back(across(l.cols, nx).expand({l.cols, ny}).reshape(-1));
    is_x.push_back(torch::zeros({l.cols * ny}, fo.dtype(torch::kBool)));
  }
  l.b = gradient_targets(f, torch::cat(px), torch::cat(py), torch::cat(is_x));
  return l;
}

// The 5-point Laplacian as a field: bilinear between the interior pixel
// centres, sampled uniformly over [1, W-2] x [1, H-2].  `lap` is (H-2) (W-2) x C.
Batch sample_laplacian(const torch::Tensor& lap, uint32_t w, uint32_t h, int64_t n,
                       const torch::Device& device) {
  const auto fo = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const int64_t iw = w - 2, ih = h - 2;
  const torch::Tensor qx = torch::rand({n}, fo) * (iw - 1), qy = torch::rand({n}, fo) * (ih - 1);
  const torch::Tensor x0 = qx.floor().clamp(0, std::max<int64_t>(iw - 2, 0));
  const torch::Tensor y0 = qy.floor().clamp(0, std::max<int64_t>(ih - 2, 0));
  const torch::Tensor sx = (qx - x0).clamp(0, 1).unsqueeze(1),
                      sy = (qy - y0).clamp(0, 1).unsqueeze(1);
  const torch::Tensor x0i = x0.to(torch::kLong), y0i = y0.to(torch::kLong);
  const torch::Tensor x1i = (x0i + 1).clamp_max(iw - 1), y1i = (y0i + 1).clamp_max(ih - 1);
  auto at = [&](const torch::Tensor& yy, const torch::Tensor& xx) {
    return lap.index_select(0, yy * iw + xx);
  };
  Batch b;
  b.coords = to_coords(qx + 1, qy + 1, w, h);
  b.target = (1 - sy) * ((1 - sx) * at(y0i, x0i) + sx * at(y0i, x1i)) +
             sy * ((1 - sx) * at(y1i, x0i) + sx * at(y1i, x1i));
  return b;
}

// The directional derivative J(coords) u of `out` (N x C, a function of
// `coords`, N x 2) along u (N x 2), for all C outputs at once: N x C.  Two
// reverse passes ("double backward"): g = J^T v for a dummy v, then the
// derivative of u . g with respect to v.  The result stays differentiable with
// respect to the parameters and to `coords`, so it can be differentiated again.
torch::Tensor jvp(const torch::Tensor& out, const torch::Tensor& coords, const torch::Tensor& u) {
  const torch::Tensor v = torch::zeros_like(out).requires_grad_(true);
  const torch::Tensor g = torch::autograd::grad({out}, {coords}, {v}, /*retain_graph=*/true,
                                                /*create_graph=*/true)[0];
  return torch::autograd::grad({g}, {v}, {u}, /*retain_graph=*/true, /*create_graph=*/true)[0];
}

// The network's Laplacian in pixel units, (2/W)^2 d2/dx2 + (2/H)^2 d2/dy2, N x C.
torch::Tensor network_laplacian(const TorchNet& net, const torch::Tensor& coords, uint32_t w,
                                uint32_t h) {
  const torch::Tensor c = coords.detach().requires_grad_(true);
  const torch::Tensor out = net.forward(c);
  const torch::Tensor ones = torch::ones({c.size(0), 1}, c.options());
  const torch::Tensor zeros = torch::zeros({c.size(0), 1}, c.options());
  const torch::Tensor ux = torch::cat({ones * (2.0 / w), zeros}, 1);
  const torch::Tensor uy = torch::cat({zeros, ones * (2.0 / h)}, 1);
  return jvp(jvp(out, c, ux), c, ux) + jvp(jvp(out, c, uy), c, uy);
}

// Mean squared error of the network's d/dpixel along each point's direction.
torch::Tensor gradient_loss(const TorchNet& net, const Batch& b) {
  const torch::Tensor c = b.coords.detach().requires_grad_(true);
  return torch::mse_loss(jvp(net.forward(c), c, b.dir), b.target);
}

// The derivative loss on whole lines (see Lines): the mean squared residual
// r = d/dpixel - target at the points, plus `line_weight` times the variance
// along each line of the running sum of r, averaged over the lines.  The
// running sum is the residual integrated along the line (one jittered sample
// per pixel cell), i.e. the error of the profile that the derivatives
// integrate to, up to a constant per line.  Pointwise, a residual component of
// frequency w weighs w^2 in the loss, so the large scales that decide the PSNR
// hardly pull on the fit; integrated, every scale weighs alike.
torch::Tensor line_loss(const TorchNet& net, const Lines& l, const GradientField& f,
                        double line_weight) {
  const torch::Tensor c = l.b.coords.detach().requires_grad_(true);
  const torch::Tensor r = jvp(net.forward(c), c, l.b.dir) - l.b.target;  // n x C
  torch::Tensor loss = r.pow(2).mean();
  if (line_weight <= 0) return loss;
  const int64_t nx = f.w - 1, ny = f.h - 1, ch = r.size(1);
  auto spread = [&](const torch::Tensor& part, int64_t lines, int64_t len) {
    const torch::Tensor run = part.reshape({lines, len, ch}).cumsum(1);
    return (run - run.mean(1, true)).pow(2).mean({1, 2}).sum();
  };
  torch::Tensor total = torch::zeros({}, r.options());
  if (l.rows > 0) total = total + spread(r.slice(0, 0, l.rows * nx), l.rows, nx);
  if (l.cols > 0) total = total + spread(r.slice(0, l.rows * nx, r.size(0)), l.cols, ny);
  return loss + line_weight * total / static_cast<double>(l.rows + l.cols);
}

// Differences of the network's values at pixel centres over spans of k = 1,
// 2, 4, ... pixels along rows and columns, against the sums of the target
// differences along the same spans (prefix sums: H x W x C, sums[y][x] the
// sum of the x-differences left of pixel x in row y, and likewise down the
// columns).  A derivative loss alone weighs an error of frequency w by w^2, so
// gradient descent settles the large scales last (the region's colour, in a
// blend), as Jacobi iterations do; the long spans see those scales at full
// weight, as a multigrid solver's coarse levels do.  Spans are drawn with
// equal probability per scale and weighted 1/k, so the scales above a pixel
// add up to about one value term.  On a field that is not a gradient (a blend
// across its mask's edge) the spans' sums depend on the path; straight spans
// of every length make that a least-squares average, without whole-line
// integrals (which turn path dependence into row and column streaks).
struct SpanSums {
  uint32_t w = 0, h = 0;
  torch::Tensor along_x, along_y;  // H W x C each, on the device
};

SpanSums span_sums(const torch::Tensor& field, int64_t x_edges, uint32_t w, uint32_t h,
                   const torch::Device& device) {
  const int64_t c = field.size(1), wi = w, hi = h;
  SpanSums s;
  s.w = w;
  s.h = h;
  torch::Tensor sx = torch::zeros({hi, wi, c});
  if (wi > 1) {
    sx.slice(1, 1, wi).copy_(field.slice(0, 0, x_edges).reshape({hi, wi - 1, c}).cumsum(1));
  }
  torch::Tensor sy = torch::zeros({hi, wi, c});
  if (hi > 1) {
    sy.slice(0, 1, hi).copy_(
        field.slice(0, x_edges, field.size(0)).reshape({hi - 1, wi, c}).cumsum(0));
  }
  s.along_x = sx.reshape({hi * wi, c}).to(device);
  s.along_y = sy.reshape({hi * wi, c}).to(device);
  return s;
}

// n spans (half along x, half along y; all along the one with more than one
// pixel), the weighted mean squared residual.
torch::Tensor span_loss(const TorchNet& net, const SpanSums& s, int64_t n,
                        const torch::Device& device) {
  const auto fo = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  std::vector<torch::Tensor> p0, p1, weights, want;
  auto add = [&](bool along_x, int64_t count) {
    const int64_t len = along_x ? s.w : s.h, across = along_x ? s.h : s.w;
    if (len < 2 || count < 1) return;
    int scales = 0;
    while ((int64_t{1} << scales) <= len - 1) ++scales;
    const torch::Tensor k = torch::pow(2.0, torch::randint(scales, {count}, fo)).floor();
    const torch::Tensor start = (torch::rand({count}, fo) * (len - k)).floor().clamp_min(0);
    const torch::Tensor line = (torch::rand({count}, fo) * across).floor().clamp_max(across - 1);
    const torch::Tensor end = start + k;
    const torch::Tensor &px0 = along_x ? start : line, &py0 = along_x ? line : start;
    const torch::Tensor px1 = along_x ? end : line, py1 = along_x ? line : end;
    const torch::Tensor& sums = along_x ? s.along_x : s.along_y;
    auto index = [&](const torch::Tensor& x, const torch::Tensor& y) {
      return (y * static_cast<double>(s.w) + x).to(torch::kLong);
    };
    p0.push_back(to_coords(px0, py0, s.w, s.h));
    p1.push_back(to_coords(px1, py1, s.w, s.h));
    want.push_back(sums.index_select(0, index(px1, py1)) - sums.index_select(0, index(px0, py0)));
    weights.push_back((1.0 / k).unsqueeze(1));
  };
  const bool both = s.w > 1 && s.h > 1;
  add(true, both ? n / 2 : n);
  add(false, both ? n - n / 2 : n);
  if (p0.empty()) return torch::zeros({}, fo);
  const torch::Tensor a = torch::cat(p0), b = torch::cat(p1);
  const torch::Tensor out = net.forward(torch::cat({a, b}));
  const torch::Tensor r =
      out.slice(0, a.size(0), out.size(0)) - out.slice(0, 0, a.size(0)) - torch::cat(want);
  return (torch::cat(weights) * r.pow(2)).mean();
}

// Points per step: batch_pixels, or as many as the image has pixels when 0.
int64_t points_per_step(const EncodeOptions& o, uint64_t pixels) {
  return o.batch_pixels > 0 ? o.batch_pixels : static_cast<int64_t>(pixels);
}

// Random rows of a set of `n` (all of them when batch is 0 or >= n).
torch::Tensor batch_rows(int64_t n, int batch, const torch::Device& device) {
  if (batch <= 0 || batch >= n) return torch::Tensor();
  return torch::randint(n, {batch}, torch::TensorOptions().dtype(torch::kLong).device(device));
}

torch::Tensor rows(const torch::Tensor& t, const torch::Tensor& idx) {
  return idx.defined() ? t.index_select(0, idx) : t;
}

// Adam with the encoder's schedule (warm-up, cosine decay) on `loss_fn`.
// `variance` turns the loss into a PSNR for the progress callback.  Returns the
// steps run (fewer than o.steps when the time limit stopped it).
StatusOr<int> run_adam(TorchNet& net, const EncodeOptions& o, double variance, Clock::time_point t0,
                       const std::function<torch::Tensor()>& loss_fn) {
  torch::optim::Adam adam(net.params, torch::optim::AdamOptions(o.lr));
  ProgressReporter progress(o, variance);
  int step = 0;
  for (; step < o.steps; ++step) {
    const double lr = scheduled_lr(o.lr, o.lr_final_ratio, o.warmup_steps, o.steps, step);
    for (auto& group : adam.param_groups()) {
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
    }
    adam.zero_grad();
    const torch::Tensor loss = loss_fn();
    loss.backward();
    adam.step();
    const bool last = step + 1 == o.steps;
    const double elapsed = seconds_since(t0);
    const bool out_of_time = o.time_limit_s > 0 && elapsed >= o.time_limit_s;
    if (!progress.report(step + 1, elapsed, last || out_of_time, loss, 0.0)) {
      return Status(StatusCode::kCancelled, "cancelled");
    }
    if (out_of_time) {
      ++step;
      break;
    }
  }
  return step;
}

// The network's outputs at every pixel centre, pixels x channels, on the CPU.
torch::Tensor evaluate_grid(const TorchNet& net, uint32_t w, uint32_t h,
                            const torch::Device& device) {
  torch::NoGradGuard no_grad;
  const torch::Tensor coords = pixel_coords(w, h).to(device);
  std::vector<torch::Tensor> parts;
  for (int64_t s = 0; s < coords.size(0); s += 1 << 16) {
    parts.push_back(net.forward(coords.slice(0, s, std::min(coords.size(0), s + (1 << 16)))));
  }
  return torch::cat(parts, 0).to(torch::kCPU);
}

// Adds `shift` (normalized units, per channel) to the output bias, quantizes
// and packs the network with `norm`, and decodes the file with the plain
// decoder.
StatusOr<ApplicationResult> finish(TorchNet& net, const Image& like, const Norm& norm,
                                   const torch::Tensor& shift, const EncodeOptions& o) {
  {
    torch::NoGradGuard no_grad;
    // The output bias b_N (grid latents, if any, follow it: SPEC.md §6.2).
    torch::Tensor& bias = net.params[2 * net.layer_count() - 1];
    bias.add_(shift.to(bias.device()));
  }
  const uint32_t ch = like.channels;
  NifFile header;
  header.width = like.width;
  header.height = like.height;
  header.channels = static_cast<uint8_t>(ch);
  header.source_bit_depth = static_cast<uint8_t>(like.bit_depth);
  const torch::Tensor mean = norm.mean.contiguous(), stddev = norm.stddev.contiguous();
  header.mean.assign(mean.data_ptr<float>(), mean.data_ptr<float>() + ch);
  header.stddev.assign(stddev.data_ptr<float>(), stddev.data_ptr<float>() + ch);
  header.arch = o.arch;
  header.bits = static_cast<uint8_t>(o.bits);
  NIFC_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes,
                        pack_trained(header, float_copy(net.params), o.zstd_level));
  NIFC_ASSIGN_OR_RETURN(const NifFile parsed, parse_nif(bytes.data(), bytes.size()));
  DecodeOptions dopt;
  dopt.bit_depth = like.bit_depth;
  dopt.threads = o.threads;
  NIFC_ASSIGN_OR_RETURN(Image decoded, decode_nif(parsed, dopt));

  ApplicationResult r;
  r.file = std::move(bytes);
  r.decoded = std::move(decoded);
  r.psnr_db = r.missing_psnr_db = r.known_psnr_db = r.field_psnr_db = kNaN;
  const torch::Tensor shift_samples = (shift.to(torch::kCPU) * norm.stddev).to(torch::kFloat64);
  for (uint32_t c = 0; c < ch; ++c) {
    r.mean.push_back(header.mean[c]);
    r.shift.push_back(shift_samples[c].item<double>());
  }
  r.parameters = parameter_count(o.arch, ch);
  return r;
}

// PSNR (peak 1) between the decoded image's differences along `e` and the
// target differences `want` (sample units), E x C.
double edge_field_psnr(const Image& decoded, const Edges& e, const torch::Tensor& want) {
  const torch::Tensor d = unit_samples(decoded).to(torch::kFloat64);
  const torch::Tensor got = d.index_select(0, e.q) - d.index_select(0, e.p);
  return mse_to_psnr((got - want.to(torch::kFloat64)).pow(2).mean().item<double>());
}

// The 5-point Laplacian of `unit` (pixels x channels) at the interior pixels
// `idx` of a w-wide image.
torch::Tensor five_point_laplacian(const torch::Tensor& unit, const torch::Tensor& idx,
                                   uint32_t w) {
  return unit.index_select(0, idx - 1) + unit.index_select(0, idx + 1) +
         unit.index_select(0, idx - static_cast<int64_t>(w)) +
         unit.index_select(0, idx + static_cast<int64_t>(w)) - 4 * unit.index_select(0, idx);
}

template <typename F>
StatusOr<ApplicationResult> guarded(F&& f) {
  try {
    return f();
  } catch (const c10::Error& e) {
    return internal_error("LibTorch: " + first_line(e.what_without_backtrace()));
  } catch (const std::bad_alloc&) {
    return limit_exceeded("out of memory while fitting");
  } catch (const std::exception& e) {
    return internal_error(first_line(e.what()));
  }
}

// ------------------------------------------------------------ Poisson ----

StatusOr<ApplicationResult> poisson_impl(const Image& image, PoissonSource source,
                                         const EncodeOptions& o, const ApplicationOptions& ao) {
  const Clock::time_point t0 = Clock::now();
  NIFC_RETURN_IF_ERROR(check_fit_image(image, "image"));
  NIFC_RETURN_IF_ERROR(check_fit_options(o, image.channels));
  const uint32_t w = image.width, h = image.height;
  const bool laplacian = source == PoissonSource::kLaplacian;
  if (laplacian) {
    NIFC_RETURN_IF_ERROR(check_sine(o.arch, "Poisson reconstruction from the Laplacian"));
    if (w < 3 || h < 3) {
      return invalid_argument("the image is too small for a Laplacian (at least 3x3)");
    }
  } else if (w * uint64_t{h} < 2) {
    return invalid_argument("a 1x1 image has no gradient");
  }
  NIFC_ASSIGN_OR_RETURN(const torch::Device device, set_up_fit(o));

  const torch::Tensor unit = unit_samples(image);
  const Norm norm = norm_of(unit);
  const torch::Tensor t = (unit - norm.mean) / norm.stddev;  // standardised
  const double variance = norm.stddev.pow(2).mean().item<double>();
  const Edges edges = list_edges(w, h);
  const torch::Tensor diff_unit = unit.index_select(0, edges.q) - unit.index_select(0, edges.p);
  const GradientField field = gradient_field(edges, diff_unit / norm.stddev, w, h, device);
  TorchNet net = make_net(o.arch, image.channels, device);
  const int64_t batch = points_per_step(o, image.pixel_count());

  torch::Tensor interior, lap_target;
  if (laplacian) {
    std::vector<int64_t> idx;
    for (uint32_t y = 1; y + 1 < h; ++y) {
      for (uint32_t x = 1; x + 1 < w; ++x) idx.push_back(int64_t{y} * w + x);
    }
    interior =
        torch::from_blob(idx.data(), {static_cast<int64_t>(idx.size())}, torch::kLong).clone();
    lap_target = five_point_laplacian(t, interior, w).to(device);
  }

  std::function<torch::Tensor()> loss_fn;
  if (!laplacian) {
    loss_fn = [&] {
      if (ao.line_weight <= 0)
        return gradient_loss(net, sample_points(field, batch, false, device));
      return line_loss(net, sample_lines(field, batch, false, device), field, ao.line_weight);
    };
  } else {
    // The boundary data: the gradient in the band between the outermost two
    // rows and columns of pixel centres, a quarter batch per step.
    loss_fn = [&] {
      const Batch b = sample_laplacian(lap_target, w, h, batch, device);
      const int64_t band = std::max<int64_t>(1, batch / 4);
      const torch::Tensor lap = torch::mse_loss(network_laplacian(net, b.coords, w, h), b.target);
      if (ao.line_weight <= 0)
        return lap + gradient_loss(net, sample_points(field, band, true, device));
      return lap + line_loss(net, sample_lines(field, band, true, device), field, ao.line_weight);
    };
  }
  NIFC_ASSIGN_OR_RETURN(const int steps, run_adam(net, o, variance, t0, loss_fn));
  const double fit_seconds = seconds_since(t0);

  // The constant: the network's mean over the pixel grid becomes 0, so the
  // decoded image's mean is NORM's mean, the source's.
  const torch::Tensor shift = -evaluate_grid(net, w, h, device).mean(0);
  NIFC_ASSIGN_OR_RETURN(ApplicationResult r, finish(net, image, norm, shift, o));
  r.psnr_db = psnr_db(image, r.decoded);
  if (laplacian) {
    const torch::Tensor got = five_point_laplacian(unit_samples(r.decoded), interior, w);
    const torch::Tensor want = five_point_laplacian(unit, interior, w);
    r.field_psnr_db = mse_to_psnr((got - want).pow(2).mean().item<double>());
  } else {
    r.field_psnr_db = edge_field_psnr(r.decoded, edges, diff_unit);
  }
  r.steps = steps;
  r.fit_seconds = fit_seconds;
  r.seconds = seconds_since(t0);
  r.device = device.is_cuda() ? "cuda" : "cpu";
  return r;
}

// -------------------------------------------------------------- blend ----

StatusOr<ApplicationResult> blend_impl(const Image& a, const Image& b, BlendRule rule,
                                       const std::vector<uint8_t>& mask, const EncodeOptions& o,
                                       const ApplicationOptions& ao) {
  const Clock::time_point t0 = Clock::now();
  NIFC_RETURN_IF_ERROR(check_fit_image(a, "A"));
  NIFC_RETURN_IF_ERROR(check_fit_image(b, "B"));
  const uint32_t w = a.width, h = a.height;
  if (b.width != w || b.height != h) {
    return invalid_argument("A is " + std::to_string(w) + "x" + std::to_string(h) + ", B is " +
                            std::to_string(b.width) + "x" + std::to_string(b.height) +
                            " (the images must have the same size)");
  }
  if (a.channels != b.channels) {
    return invalid_argument("A has " + std::to_string(a.channels) + " channels, B " +
                            std::to_string(b.channels) + " (they must have the same layout)");
  }
  if (rule == BlendRule::kMask || !mask.empty()) {
    NIFC_RETURN_IF_ERROR(check_mask(mask, w, h, "the mask"));
  }
  if (w * uint64_t{h} < 2) return invalid_argument("a 1x1 image has no gradient");
  NIFC_RETURN_IF_ERROR(check_fit_options(o, a.channels));
  if (!(ao.value_weight >= 0)) return invalid_argument("the value weight must be >= 0");
  if (!(ao.span_weight >= 0)) return invalid_argument("the span weight must be >= 0");
  NIFC_ASSIGN_OR_RETURN(const torch::Device device, set_up_fit(o));

  const torch::Tensor ua = unit_samples(a), ub = unit_samples(b);
  const Norm norm = norm_of(ua);
  const double variance = norm.stddev.pow(2).mean().item<double>();
  const Edges edges = list_edges(w, h);
  const torch::Tensor ga = ua.index_select(0, edges.q) - ua.index_select(0, edges.p);
  const torch::Tensor gb = ub.index_select(0, edges.q) - ub.index_select(0, edges.p);
  // The region: edges whose two pixels are both inside the mask (every edge
  // without a mask).  Inside it the rule chooses; elsewhere the field is A's.
  torch::Tensor region;          // E x 1, bool
  torch::Tensor inside;          // pixels, bool (with a mask)
  std::vector<int64_t> outside;  // pixels outside the mask
  if (mask.empty()) {
    region = torch::ones({edges.p.size(0), 1}, torch::kBool);
  } else {
    std::vector<uint8_t> in(mask.size());
    for (size_t i = 0; i < mask.size(); ++i) {
      in[i] = mask[i] != 0;
      if (!in[i]) outside.push_back(static_cast<int64_t>(i));
    }
    inside = torch::from_blob(in.data(), {static_cast<int64_t>(in.size())}, torch::kUInt8)
                 .to(torch::kBool);
    region = (inside.index_select(0, edges.p) & inside.index_select(0, edges.q)).unsqueeze(1);
  }
  torch::Tensor take_b = region;
  if (rule == BlendRule::kMax) {
    take_b = region & (gb.pow(2).sum(1, true) > ga.pow(2).sum(1, true));
  }
  const torch::Tensor combined = torch::where(take_b, gb, ga);  // sample units
  const torch::Tensor combined_std = combined / norm.stddev;
  const GradientField field = gradient_field(edges, combined_std, w, h, device);
  const SpanSums spans = span_sums(combined_std, edges.x_edges, w, h, device);
  const int64_t batch = points_per_step(o, a.pixel_count());

  // Outside the mask A's values hold (Perez et al.'s boundary condition, on
  // every outside pixel rather than the boundary ring only): a gradient field
  // fixes its low frequencies only weakly, so without them the region drifts
  // in colour.  A batch of outside pixels per step.
  const torch::Tensor ta = (ua - norm.mean) / norm.stddev;
  const torch::Tensor coords = pixel_coords(w, h);
  torch::Tensor fixed_coords, fixed_target;
  if (!outside.empty() && ao.value_weight > 0) {
    const torch::Tensor oi =
        torch::from_blob(outside.data(), {static_cast<int64_t>(outside.size())}, torch::kLong);
    fixed_coords = coords.index_select(0, oi).to(device);
    fixed_target = ta.index_select(0, oi).to(device);
  }
  // A warm start: for the first quarter of the steps, plain values of the
  // composite that is A outside the mask and B inside, shifted per channel by
  // A's mean minus B's over the mask's boundary ring.  The solution differs
  // from it by a smooth correction, which the field then fits; from scratch,
  // the region's large scales (its colour) would come last and slowly.
  torch::Tensor warm_coords, warm_target;
  int warm_steps = 0;
  if (!outside.empty() && ao.warm_start) {
    std::vector<int64_t> ring;  // inside pixels with a 4-neighbour outside
    for (uint32_t y = 0; y < h; ++y) {
      for (uint32_t x = 0; x < w; ++x) {
        const size_t i = size_t{y} * w + x;
        if (mask[i] == 0) continue;
        const bool edge = (x > 0 && mask[i - 1] == 0) || (x + 1 < w && mask[i + 1] == 0) ||
                          (y > 0 && mask[i - w] == 0) || (y + 1 < h && mask[i + w] == 0);
        if (edge) ring.push_back(static_cast<int64_t>(i));
      }
    }
    if (!ring.empty()) {
      const torch::Tensor ri =
          torch::from_blob(ring.data(), {static_cast<int64_t>(ring.size())}, torch::kLong);
      const torch::Tensor offset = (ua.index_select(0, ri) - ub.index_select(0, ri)).mean(0);
      const torch::Tensor composite = torch::where(inside.unsqueeze(1), ub + offset, ua);
      warm_coords = coords.to(device);
      warm_target = ((composite - norm.mean) / norm.stddev).to(device);
      warm_steps = o.steps / 4;
    }
  }
  TorchNet net = make_net(o.arch, a.channels, device);
  int calls = 0;
  NIFC_ASSIGN_OR_RETURN(
      const int steps, run_adam(net, o, variance, t0, [&] {
        if (calls++ < warm_steps) {
          const torch::Tensor i = batch_rows(warm_coords.size(0), static_cast<int>(batch), device);
          return torch::mse_loss(net.forward(rows(warm_coords, i)), rows(warm_target, i));
        }
        torch::Tensor loss =
            ao.line_weight <= 0
                ? gradient_loss(net, sample_points(field, batch, false, device))
                : line_loss(net, sample_lines(field, batch, false, device), field, ao.line_weight);
        if (ao.span_weight > 0) {
          loss = loss + ao.span_weight * span_loss(net, spans, batch, device);
        }
        if (fixed_coords.defined()) {
          const torch::Tensor i = batch_rows(fixed_coords.size(0), static_cast<int>(batch), device);
          loss = loss + ao.value_weight * torch::mse_loss(net.forward(rows(fixed_coords, i)),
                                                          rows(fixed_target, i));
        }
        return loss;
      }));
  const double fit_seconds = seconds_since(t0);

  // The constant: A's mean over the border pixels outside the mask (all the
  // border when the mask covers it).
  std::vector<uint8_t> anchor(a.pixel_count(), 0);
  bool any = false;
  for (int pass = 0; pass < 2 && !any; ++pass) {
    for (uint32_t y = 0; y < h; ++y) {
      for (uint32_t x = 0; x < w; ++x) {
        const size_t i = size_t{y} * w + x;
        const bool border = x == 0 || y == 0 || x + 1 == w || y + 1 == h;
        const bool outside = pass == 1 || mask.empty() || mask[i] == 0;
        anchor[i] = border && outside;
        any = any || anchor[i];
      }
    }
  }
  std::vector<int64_t> anchor_idx;
  for (size_t i = 0; i < anchor.size(); ++i) {
    if (anchor[i]) anchor_idx.push_back(static_cast<int64_t>(i));
  }
  const torch::Tensor ai =
      torch::from_blob(anchor_idx.data(), {static_cast<int64_t>(anchor_idx.size())}, torch::kLong);
  const torch::Tensor out = evaluate_grid(net, w, h, device);
  const torch::Tensor shift = ta.index_select(0, ai).mean(0) - out.index_select(0, ai).mean(0);
  NIFC_ASSIGN_OR_RETURN(ApplicationResult r, finish(net, a, norm, shift, o));
  if (!mask.empty()) r.psnr_db = masked_psnr_db(a, r.decoded, mask, false);
  r.field_psnr_db = edge_field_psnr(r.decoded, edges, combined);
  r.steps = steps;
  r.fit_seconds = fit_seconds;
  r.seconds = seconds_since(t0);
  r.device = device.is_cuda() ? "cuda" : "cpu";
  return r;
}

// ------------------------------------------------------------ inpaint ----

StatusOr<ApplicationResult> inpaint_impl(const Image& image, const std::vector<uint8_t>& known,
                                         const EncodeOptions& o, const ApplicationOptions& io) {
  const Clock::time_point t0 = Clock::now();
  NIFC_RETURN_IF_ERROR(check_fit_image(image, "image"));
  NIFC_RETURN_IF_ERROR(check_mask(known, image.width, image.height, "the mask of known pixels"));
  NIFC_RETURN_IF_ERROR(check_fit_options(o, image.channels));
  if (!(io.tv >= 0)) return invalid_argument("the total-variation weight must be >= 0");
  if (io.tv > 0 && io.tv_points < 1) return invalid_argument("tv points must be >= 1");
  NIFC_ASSIGN_OR_RETURN(const torch::Device device, set_up_fit(o));
  const uint32_t w = image.width, h = image.height;

  std::vector<int64_t> kept;
  for (size_t i = 0; i < known.size(); ++i) {
    if (known[i]) kept.push_back(static_cast<int64_t>(i));
  }
  const torch::Tensor ki =
      torch::from_blob(kept.data(), {static_cast<int64_t>(kept.size())}, torch::kLong).clone();
  const torch::Tensor unit = unit_samples(image).index_select(0, ki);  // known pixels only
  const Norm norm = norm_of(unit);
  const double variance = norm.stddev.pow(2).mean().item<double>();
  const torch::Tensor target = ((unit - norm.mean) / norm.stddev).to(device);
  const torch::Tensor coords = pixel_coords(w, h).index_select(0, ki).to(device);

  TorchNet net = make_net(o.arch, image.channels, device);
  const auto fopts = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  NIFC_ASSIGN_OR_RETURN(
      const int steps, run_adam(net, o, variance, t0, [&] {
        const torch::Tensor i = batch_rows(coords.size(0), o.batch_pixels, device);
        torch::Tensor loss = torch::mse_loss(net.forward(rows(coords, i)), rows(target, i));
        if (io.tv > 0) {
          // Total variation of the network at random points anywhere in the
          // image's square, known or not: the mean over points of
          // |grad o| (pixel units, summed over channels in quadrature).
          const torch::Tensor c =
              (torch::rand({io.tv_points, 2}, fopts) * 2 - 1).requires_grad_(true);
          const torch::Tensor out = net.forward(c);
          const torch::Tensor one = torch::ones({c.size(0), 1}, fopts);
          const torch::Tensor zero = torch::zeros({c.size(0), 1}, fopts);
          const torch::Tensor gx = jvp(out, c, torch::cat({one * (2.0 / w), zero}, 1));
          const torch::Tensor gy = jvp(out, c, torch::cat({zero, one * (2.0 / h)}, 1));
          // The epsilon keeps the square root differentiable where the gradient vanishes.
          loss = loss + io.tv * (gx.pow(2) + gy.pow(2)).sum(1).add(1e-6).sqrt().mean();
        }
        return loss;
      }));
  const double fit_seconds = seconds_since(t0);

  NIFC_ASSIGN_OR_RETURN(ApplicationResult r,
                        finish(net, image, norm, torch::zeros({image.channels}), o));
  r.psnr_db = psnr_db(image, r.decoded);
  r.missing_psnr_db = masked_psnr_db(image, r.decoded, known, false);
  r.known_psnr_db = masked_psnr_db(image, r.decoded, known, true);
  r.steps = steps;
  r.fit_seconds = fit_seconds;
  r.seconds = seconds_since(t0);
  r.device = device.is_cuda() ? "cuda" : "cpu";
  return r;
}

}  // namespace

StatusOr<ApplicationResult> poisson_reconstruct(const Image& image, PoissonSource source,
                                                const EncodeOptions& options,
                                                const ApplicationOptions& app) {
  return guarded([&] { return poisson_impl(image, source, options, app); });
}

StatusOr<ApplicationResult> blend_images(const Image& a, const Image& b, BlendRule rule,
                                         const std::vector<uint8_t>& mask,
                                         const EncodeOptions& options,
                                         const ApplicationOptions& app) {
  return guarded([&] { return blend_impl(a, b, rule, mask, options, app); });
}

StatusOr<ApplicationResult> inpaint_image(const Image& image, const std::vector<uint8_t>& known,
                                          const EncodeOptions& options,
                                          const ApplicationOptions& app) {
  return guarded([&] { return inpaint_impl(image, known, options, app); });
}

StatusOr<std::vector<float>> torch_gradient(const NifFile& file, const std::vector<float>& x,
                                            const std::vector<float>& y) {
  try {
    if (x.size() != y.size()) return invalid_argument("x and y differ in length");
    TorchNet net = make_net(file.arch, file.channels, torch::Device(torch::kCPU));
    for (size_t i = 0; i < net.params.size(); ++i) {
      const std::vector<float>& v = file.tensors.at(i);
      net.params[i] = torch::from_blob(const_cast<float*>(v.data()), net.params[i].sizes()).clone();
    }
    const int64_t n = static_cast<int64_t>(x.size());
    const torch::Tensor xs = torch::from_blob(const_cast<float*>(x.data()), {n, 1});
    const torch::Tensor ys = torch::from_blob(const_cast<float*>(y.data()), {n, 1});
    const torch::Tensor c = torch::cat({xs, ys}, 1).requires_grad_(true);
    const torch::Tensor out = net.forward(c);
    std::vector<torch::Tensor> per_channel;
    for (int64_t k = 0; k < out.size(1); ++k) {
      per_channel.push_back(torch::autograd::grad({out.select(1, k).sum()}, {c},
                                                  /*grad_outputs=*/{}, /*retain_graph=*/true)[0]);
    }
    const torch::Tensor g = torch::stack(per_channel, 1).contiguous();  // n x C x 2
    return std::vector<float>(g.data_ptr<float>(), g.data_ptr<float>() + g.numel());
  } catch (const c10::Error& e) {
    return internal_error("LibTorch: " + first_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return internal_error(first_line(e.what()));
  }
}

const ApplicationsApi* applications_api() {
  static const ApplicationsApi api = {&poisson_reconstruct, &blend_images, &inpaint_image};
  return &api;
}

}  // namespace nifc
