// The LibTorch encoder.  The network it fits is the one SPEC.md §6 defines;
// the torch-free decoder (decoder.cc) evaluates the same function.
#include "codec/encoder/encoder.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>

#include "codec/decoder/decoder.h"
#include "codec/encoder/fit.h"
#include "codec/encoder/grid_step.h"
#include "codec/encoder/quantize.h"
#include "codec/encoder/torch_net.h"

namespace nifc {
namespace {

// A size target's steering (encode_impl).  At a tenth of the fit, and at 30, 50 and 70 %
// of it, the latents packed at their trained step predict the size of the file -q would
// write from the finished fit (after its step search and rate-distortion pass, which
// shrink it by another 0.68-0.83): that file is the packed size over c * bpp^e, bpp the
// final one.  -q fits of kodim02/05/08/13/15/19/21/23 at -q 35..90 (20 fits): at a tenth
// c = 1.773, e = -0.257 (residual sd 5 % against 20 % for one constant), then 1.596 /
// -0.179, 1.471 / -0.080, 1.350 / -0.053 (residual sd 6-8 %).
struct SteerShrink {
  int tenth;
  double c, e;
};
constexpr SteerShrink kSteerPilot = {1, 1.773, -0.257};
constexpr SteerShrink kSteerAt[3] = {{3, 1.596, -0.179}, {5, 1.471, -0.080}, {7, 1.350, -0.053}};
double steer_shrink(const SteerShrink& s, double bpp) { return s.c * std::pow(bpp, s.e); }
// A pilot prediction more than kSteerRestart off restarts the fit from its initial
// weights with the corrected penalty, at most twice: a fit whose penalty moves a lot
// mid-way ends worse than one fitted at the final penalty throughout.  The penalty moves
// by the exponent of bytes ~ lambda^-e (the Kodak-24 mean curve from -q 30 to 90: 0.69).
constexpr double kSteerRestart = 1.3;
constexpr double kSteerElasticity = 0.69;

// Mean squared error over the whole image in [0, 1] sample units (the
// normalized error scaled back by each channel's std).
double full_mse(const TorchNet& net, const torch::Tensor& coords, const torch::Tensor& target,
                const torch::Tensor& stddev) {
  torch::NoGradGuard no_grad;
  const int64_t n = coords.size(0);
  const int64_t chunk = 1 << 16;
  double se = 0.0;
  for (int64_t s = 0; s < n; s += chunk) {
    const int64_t e = std::min(n, s + chunk);
    const torch::Tensor d = (net.forward(coords.slice(0, s, e)) - target.slice(0, s, e)) * stddev;
    se += d.pow(2).sum().item<double>();
  }
  return se / static_cast<double>(n * target.size(1));
}

// Host memory encode_impl needs at its peak, in bytes: what lives for the whole fit, plus
// the largest of the phases' working sets.  The per-value factors follow the tensors
// encode_impl and TorchNet create (float32 unless noted).  Measured on CPU, peak RSS less
// LibTorch's ~180 MB was 0.8 to 1.2 times this estimate (siren-pe 64x3 and 48x5; 768x512
// with full and 16384-pixel batches, 1024x1024 full, 2048x2048 with 16384).
uint64_t estimate_peak_memory_bytes(const Image& image, const EncodeOptions& o) {
  const uint64_t n = image.pixel_count();
  const uint64_t c = image.channels;
  const uint64_t d = encoded_input_dim(o.arch);
  uint64_t sum_w = 0, max_w = c;
  for (uint16_t w : o.arch.widths) {
    sum_w += w;
    max_w = std::max<uint64_t>(max_w, w);
  }
  // All fit long: the samples as floats, the pixels tensor, the standardized targets
  // (4 bytes x channels each) and the pixel-centre coordinates (2 floats).
  const uint64_t resident = n * (12 * c + 8);
  // Building the coordinates: two float64 grids and their float64 stack.
  const uint64_t coords = 32 * n;
  // The decoded image for the reported PSNR (16-bit samples).
  const uint64_t decoded = 2 * c * n;
  // On a GPU the network's activations are not in host memory.
  const bool gpu = o.device == "cuda" || (o.device == "auto" && torch::cuda::is_available());
  uint64_t batch = 0, chunk = 0;
  if (!gpu) {
    // Training step: the encoding (computed in float64), then per hidden unit the
    // pre-activation, the activation and their gradients kept by autograd.
    const uint64_t points = o.batch_pixels <= 0 ? n : std::min<uint64_t>(n, o.batch_pixels);
    batch = points * (20 * d + 10 * sum_w + 16 * c);
    // Full-image evaluation runs in chunks of 65536 points without autograd.
    chunk = std::min<uint64_t>(n, 65536) * (28 * d + 12 * max_w);
  }
  return resident + std::max({coords, decoded, batch, chunk});
}

Status check_options(const Image& image, const EncodeOptions& o) {
  NIFC_RETURN_IF_ERROR(check_fit_image(image, ""));
  NIFC_RETURN_IF_ERROR(check_fit_options(o, image.channels));
  const uint64_t need = estimate_peak_memory_bytes(image, o);
  if (o.max_memory_bytes > 0 && need > o.max_memory_bytes) {
    char text[160];
    std::snprintf(text, sizeof text,
                  "image of %ux%u needs about %.3g GiB to encode, more than the %.3g GiB available",
                  image.width, image.height, need / 1073741824.0,
                  o.max_memory_bytes / 1073741824.0);
    return limit_exceeded(text);
  }
  return Status();
}

StatusOr<EncodeResult> encode_impl(const Image& image, const EncodeOptions& o) {
  const Clock::time_point t0 = Clock::now();
  NIFC_RETURN_IF_ERROR(check_options(image, o));
  NIFC_ASSIGN_OR_RETURN(const torch::Device device, set_up_fit(o));

  const uint32_t ch = image.channels;
  const int64_t n = static_cast<int64_t>(image.pixel_count());
  // Targets: standardised samples (SPEC.md §5.2), every channel scaled by the same
  // std (the root mean square of the channels'), so that the loss is the RGB MSE that
  // PSNR measures.  Per-channel stds weighted each channel's error by the inverse of its
  // variance, so a low-contrast channel (a nearly flat one most of all) drew bits and
  // steps that PSNR does not reward.
  std::vector<float> values(image.samples.size());
  const float inv_max = 1.0f / static_cast<float>(image.max_value());
  for (size_t i = 0; i < values.size(); ++i) values[i] = image.samples[i] * inv_max;
  torch::Tensor pixels = torch::from_blob(values.data(), {n, static_cast<int64_t>(ch)}).clone();
  const torch::Tensor mean = pixels.mean(0);
  // A flat image has std 0; a floor keeps the targets finite.
  const torch::Tensor stddev = pixels.std(0, /*unbiased=*/false)
                                   .pow(2)
                                   .mean()
                                   .sqrt()
                                   .clamp_min(1.0 / 1024)
                                   .expand({static_cast<int64_t>(ch)})
                                   .contiguous();
  const torch::Tensor target = ((pixels - mean) / stddev).to(device);
  const torch::Tensor coords = pixel_coords(image.width, image.height).to(device);

  // The training batches' normalized MSE times the mean channel variance
  // estimates the MSE in sample units (progress display only).
  const double variance = stddev.pow(2).mean().item<double>();
  const torch::Tensor stddev_dev = stddev.to(device);
  TorchNet net = make_net(o.arch, ch, device);
  const bool grid = o.arch.encoding == Encoding::kGrid;
  const size_t mlp_params = 2 * net.layer_count();
  // The MLP and (grid) the latents are two parameter groups with their own rates.
  auto make_adam = [&](double lr) {
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(
        std::vector<torch::Tensor>(net.params.begin(), net.params.begin() + mlp_params),
        std::make_unique<torch::optim::AdamOptions>(lr));
    if (grid) {
      groups.emplace_back(
          std::vector<torch::Tensor>(net.params.begin() + mlp_params, net.params.end()),
          std::make_unique<torch::optim::AdamOptions>(lr * o.grid_lr_ratio));
    }
    return std::make_unique<torch::optim::Adam>(groups, torch::optim::AdamOptions(lr));
  };
  auto adam = make_adam(o.lr);
  // Halved each time the fit diverges (see below).
  double lr_scale = 1.0;
  const bool full_batch = o.batch_pixels <= 0 || o.batch_pixels >= n;
  const auto gen_opts = torch::TensorOptions().dtype(torch::kLong).device(device);

  // The file's header (the weights come at the end).
  NifFile header;
  header.width = image.width;
  header.height = image.height;
  header.channels = static_cast<uint8_t>(ch);
  header.source_bit_depth = static_cast<uint8_t>(image.bit_depth);
  const torch::Tensor mean_cpu = mean.to(torch::kCPU).contiguous();
  const torch::Tensor std_cpu = stddev.to(torch::kCPU).contiguous();
  header.mean.assign(mean_cpu.data_ptr<float>(), mean_cpu.data_ptr<float>() + ch);
  header.stddev.assign(std_cpu.data_ptr<float>(), std_cpu.data_ptr<float>() + ch);
  header.arch = o.arch;
  header.bits = static_cast<uint8_t>(o.bits);
  // SPEC.md §6.5: grid latents are range coded with neighbour contexts: 14-25%
  // fewer bytes than zstd on their byte planes for trained Kodak latents.
  header.compression = grid ? kCompressionRange : kCompressionZstd;

  // Rate steering (grid with a size target, see EncodeOptions::grid_target_bytes).
  const bool steer = grid && o.grid_target_bytes > 0;
  const double target_bpp =
      8.0 * static_cast<double>(o.grid_target_bytes) / static_cast<double>(image.pixel_count());
  double lambda = o.grid_lambda_pixel > 0 ? o.grid_lambda_pixel / variance : o.grid_lambda;
  auto measure_size = [&]() -> StatusOr<uint64_t> {
    NIFC_ASSIGN_OR_RETURN(const std::vector<uint8_t> b,
                          pack_scaled(header, float_copy(net.params), 1.0, 3));
    return static_cast<uint64_t>(b.size());
  };

  std::vector<torch::Tensor> best;
  double best_mse = INFINITY;
  auto keep_if_best = [&](double mse) {
    if (!std::isfinite(mse)) return;
    if (!best.empty() && !(mse < best_mse)) return;
    best_mse = mse;
    best.clear();
    for (const torch::Tensor& p : net.params) best.push_back(p.detach().clone());
  };

  // The fused CPU step (codec/encoder/grid_step.h): the targets feature-major; the
  // parameters' gradients are written in place.
  const bool fused = o.fused_step && device.is_cpu() && full_batch && grid_step_supported(o.arch);
  std::unique_ptr<GridStep> grid_step;
  torch::Tensor target_fm;
  if (fused) {
    grid_step = std::make_unique<GridStep>(o.arch, ch, image.width, image.height);
    target_fm = target.t().contiguous();
    for (torch::Tensor& p : net.params) p.mutable_grad() = torch::zeros_like(p);
  }
  const int fit_threads = device.is_cpu() ? torch::get_num_threads() : 1;
  // The fused step runs its own threads (and evaluations); LibTorch's few ops per step
  // are faster on one thread than waking OpenMP's.  It gets all threads back after the fit.
  auto torch_threads = [&](bool all) {
    if (fused) torch::set_num_threads(all ? fit_threads : 1);
  };
  torch_threads(false);
  // One fused step: forward, loss and gradients of the MLP and the latents (with the
  // quantization noise the torch path adds in TorchNet::encode, uniform of width
  // kLatentStep, drawn by add_latent_noise), and the rate term's gradient,
  // lambda / n * d/dx log2(1 + |x| / step), written by hand too.  Returns the loss.
  // The MLP's weights and biases as the fused step takes them (SPEC.md §6.2 order).
  auto mlp_pointers = [&](std::vector<const float*>* w, std::vector<const float*>* b) {
    for (size_t l = 0; l < mlp_params; l += 2) {
      w->push_back(net.params[l].data_ptr<float>());
      b->push_back(net.params[l + 1].data_ptr<float>());
    }
  };
  std::vector<torch::Tensor> noisy;  // the latents with this step's noise
  for (size_t k = mlp_params; fused && k < net.params.size(); ++k) {
    noisy.push_back(torch::empty_like(net.params[k]));
  }
  auto fused_step = [&](int step_index, double rate_lambda) -> torch::Tensor {
    torch::NoGradGuard no_grad;
    std::vector<const float*> latents, w, b;
    std::vector<float*> dlatents, dw, db;
    std::vector<LatentBuffers> levels;
    for (size_t k = mlp_params; k < net.params.size(); ++k) {
      LatentBuffers l;
      l.x = net.params[k].data_ptr<float>();
      l.noisy = noisy[k - mlp_params].data_ptr<float>();
      l.grad = net.params[k].mutable_grad().data_ptr<float>();
      l.n = static_cast<size_t>(net.params[k].numel());
      l.key = latent_noise_key(o.seed, step_index, k - mlp_params);
      levels.push_back(l);
      latents.push_back(l.noisy);
      dlatents.push_back(l.grad);
    }
    add_latent_noise(levels, kLatentStep, fit_threads);
    mlp_pointers(&w, &b);
    for (size_t l = 0; l < mlp_params; l += 2) {
      dw.push_back(net.params[l].mutable_grad().data_ptr<float>());
      db.push_back(net.params[l + 1].mutable_grad().data_ptr<float>());
    }
    const double values = static_cast<double>(n) * ch;
    const double sse = grid_step->step(latents, w, b, target_fm.data_ptr<float>(), 1.0 / values,
                                       dlatents, dw, db, fit_threads);
    if (rate_lambda > 0) {
      const float coef = static_cast<float>(rate_lambda / static_cast<double>(n) / std::log(2.0));
      add_rate_gradient(levels, coef, kLatentStep, fit_threads);
    }
    return torch::tensor(sse / values, torch::kFloat64);
  };

  // A fused fit's evaluation: full_mse's value (the latents without noise, the error in
  // units of the pixel range) from the fused forward pass, without LibTorch.
  const std::vector<float> stddev_host = [&] {
    const torch::Tensor s = stddev.to(torch::kCPU).contiguous();
    return std::vector<float>(s.data_ptr<float>(), s.data_ptr<float>() + s.numel());
  }();
  auto fused_mse = [&]() -> double {
    std::vector<const float*> latents, w, b;
    for (size_t k = mlp_params; k < net.params.size(); ++k) {
      latents.push_back(net.params[k].data_ptr<float>());
    }
    mlp_pointers(&w, &b);
    const std::vector<double> sse =
        grid_step->channel_sse(latents, w, b, target_fm.data_ptr<float>(), fit_threads);
    double se = 0.0;
    for (uint32_t c = 0; c < ch; ++c) se += sse[c] * stddev_host[c] * stddev_host[c];
    return se / (static_cast<double>(n) * ch);
  };

  // Adam for fused fits: LibTorch's formula and defaults (betas 0.9, 0.999, eps 1e-8) in
  // one parallel pass over every tensor; the moments restart with the optimizer.
  std::vector<torch::Tensor> adam_m, adam_v;
  int adam_t = 0;
  for (size_t i = 0; fused && i < net.params.size(); ++i) {
    adam_m.push_back(torch::zeros_like(net.params[i]));
    adam_v.push_back(torch::zeros_like(net.params[i]));
  }
  auto fused_adam = [&](double lr) {
    torch::NoGradGuard no_grad;
    std::vector<AdamBuffers> t;
    for (size_t i = 0; i < net.params.size(); ++i) {
      AdamBuffers a;
      a.p = net.params[i].data_ptr<float>();
      a.g = net.params[i].mutable_grad().data_ptr<float>();
      a.m = adam_m[i].data_ptr<float>();
      a.v = adam_v[i].data_ptr<float>();
      a.n = static_cast<size_t>(net.params[i].numel());
      a.lr = i < mlp_params ? lr : lr * o.grid_lr_ratio;
      t.push_back(a);
    }
    adam_step(t, ++adam_t, 0.9, 0.999, 1e-8, fit_threads);
  };

  ProgressReporter progress(o, variance);
  // A size target's pilot restarts (above): the initial weights, and the steps spent.
  std::vector<torch::Tensor> initial;
  for (size_t i = 0; steer && i < net.params.size(); ++i) {
    initial.push_back(net.params[i].detach().clone());
  }
  int restarts = 0, pilot_steps = 0;
  // Weights `from` with fresh optimizer moments.
  auto restore = [&](const std::vector<torch::Tensor>& from) {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < from.size(); ++i) net.params[i].copy_(from[i]);
    adam = make_adam(o.lr * lr_scale);
    for (torch::Tensor& m : adam_m) m.zero_();
    for (torch::Tensor& v : adam_v) v.zero_();
    adam_t = 0;
  };
  int step = 0;
  for (; step < o.steps; ++step) {
    // Warm-up, then cosine decay to lr * lr_final_ratio.
    const double lr =
        lr_scale * scheduled_lr(o.lr, o.lr_final_ratio, o.warmup_steps, o.steps, step);
    for (size_t gi = 0; gi < adam->param_groups().size(); ++gi) {
      static_cast<torch::optim::AdamOptions&>(adam->param_groups()[gi].options())
          .lr(gi == 0 ? lr : lr * o.grid_lr_ratio);
    }
    torch::Tensor c = coords, t = target;
    if (!full_batch) {
      const torch::Tensor idx = torch::randint(n, {o.batch_pixels}, gen_opts);
      c = coords.index_select(0, idx);
      t = target.index_select(0, idx);
    }
    if (!fused) adam->zero_grad();  // (the fused step overwrites every gradient)
    torch::Tensor loss;
    if (fused) {
      loss = fused_step(step, grid ? lambda : 0.0);
    } else {
      net.latent_noise = grid ? kLatentStep : 0.0;
      net.noise_seed = o.seed;
      net.noise_step = step;
      loss = torch::mse_loss(net.forward(c), t);
      net.latent_noise = 0.0;
    }
    torch::Tensor objective = fused ? torch::Tensor() : loss;
    if (!fused && grid && lambda > 0) {
      // Estimated latent bits per pixel (a Laplacian-ish code length proxy).
      torch::Tensor bits = torch::zeros({}, net.params[mlp_params].options());
      for (size_t k = mlp_params; k < net.params.size(); ++k) {
        bits = bits + torch::log2(1.0 + net.params[k].abs() / kLatentStep).sum();
      }
      objective = loss + lambda * bits / static_cast<double>(n);
    }
    // (The fused step has written all the gradients itself.)
    if (objective.defined()) objective.backward();
    if (fused) {
      fused_adam(lr);
    } else {
      adam->step();
    }
    if (o.on_step) o.on_step(step + 1);

    const bool last = step + 1 == o.steps;
    const double elapsed = seconds_since(t0);
    const bool out_of_time = o.time_limit_s > 0 && elapsed >= o.time_limit_s;
    // Evaluate more often early, when a too-large step is most likely to throw
    // the fit off (kodim02 at lr 2e-3 fell from 26.8 to 20.3 dB at step ~175).
    const int every = std::max(1, step < 1000 ? o.eval_every * 2 / 5 : o.eval_every);
    const bool eval = (step + 1) % every == 0 || last || out_of_time;
    if (steer && restarts < 2 && step + 1 == o.steps * kSteerPilot.tenth / 10) {
      NIFC_ASSIGN_OR_RETURN(const uint64_t packed, measure_size());
      const double ratio = static_cast<double>(packed) / steer_shrink(kSteerPilot, target_bpp) /
                           static_cast<double>(o.grid_target_bytes);
      if (ratio > kSteerRestart || ratio < 1.0 / kSteerRestart) {
        lambda *= std::clamp(std::pow(ratio, 1.0 / kSteerElasticity), 0.125, 8.0);
        restore(initial);
        best.clear();
        best_mse = INFINITY;
        ++restarts;
        pilot_steps += step + 1;
        step = -1;
        continue;
      }
    }
    if (steer) {
      // At 30, 50 and 70 % of the steps the latents as packed predict the file's final size
      // (steer_shrink), and the penalty moves by the power law
      // bytes ~ lambda^-kSteerElasticity toward the target.  The weights kept are then
      // the best after the last move (earlier ones were fitted for another rate).
      for (int k = 0; k < 3; ++k) {
        if (step + 1 != o.steps * kSteerAt[k].tenth / 10) continue;
        NIFC_ASSIGN_OR_RETURN(const uint64_t packed, measure_size());
        const double predicted =
            static_cast<double>(packed) / steer_shrink(kSteerAt[k], target_bpp);
        const double ratio = predicted / static_cast<double>(o.grid_target_bytes);
        lambda *= std::clamp(std::pow(ratio, 1.0 / kSteerElasticity), 0.125, 8.0);
        best.clear();
        best_mse = INFINITY;
      }
    }
    if (eval) {
      // (LibTorch's evaluation of a fused fit: 0.1 s on one thread, 1 ms a step.)
      const double mse = fused ? fused_mse() : full_mse(net, coords, target, stddev_dev);
      if (!best.empty() && !(mse < 2.0 * best_mse)) {
        // Diverged (3 dB worse than the best, or not finite): go back to the
        // best weights with fresh optimizer moments and half the learning rate.
        restore(best);
        lr_scale *= 0.5;
      } else {
        keep_if_best(mse);
      }
      if (o.on_eval) o.on_eval(step + 1, mse_to_psnr(mse));
    }
    if (!progress.report(step + 1, elapsed, last || out_of_time, loss,
                         std::isfinite(best_mse) ? mse_to_psnr(best_mse) : 0.0)) {
      return Status(StatusCode::kCancelled, "encoding cancelled");
    }
    if (out_of_time) {
      ++step;
      break;
    }
  }
  torch_threads(true);
  const double fit_seconds = seconds_since(t0);

  // Quantize the best weights and pack them (SPEC.md §6.2).
  std::vector<std::vector<float>> float_tensors = float_copy(best);
  NIFC_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes,
                        pack_trained(header, float_tensors, o.zstd_level));

  // The reported PSNR is that of the file as the plain decoder rebuilds it.
  NIFC_ASSIGN_OR_RETURN(const NifFile parsed, parse_nif(bytes.data(), bytes.size()));
  DecodeOptions dopt;
  dopt.bit_depth = image.bit_depth;
  dopt.threads = o.threads;
  NIFC_ASSIGN_OR_RETURN(const Image decoded, decode_nif(parsed, dopt));

  EncodeResult r;
  r.file = std::move(bytes);
  r.psnr_db = psnr_db(image, decoded);
  r.float_psnr_db = mse_to_psnr(best_mse);
  r.steps = step + pilot_steps;
  r.fit_seconds = fit_seconds;
  r.seconds = seconds_since(t0);
  r.device = device.is_cuda() ? "cuda" : "cpu";
  r.parameters = parameter_count(o.arch, ch);
  r.fit_lambda_pixel = grid ? lambda * variance : 0.0;
  r.header = header;
  r.float_tensors = std::move(float_tensors);
  return r;
}

}  // namespace

StatusOr<EncodeResult> encode_image(const Image& image, const EncodeOptions& options) {
  try {
    return encode_impl(image, options);
  } catch (const c10::Error& e) {
    return internal_error("LibTorch: " + first_line(e.what_without_backtrace()));
  } catch (const std::bad_alloc&) {
    return limit_exceeded("out of memory while encoding");
  } catch (const std::exception& e) {
    return internal_error(first_line(e.what()));
  }
}

StatusOr<std::vector<float>> torch_forward(const NifFile& file, const std::vector<float>& x,
                                           const std::vector<float>& y) {
  try {
    if (x.size() != y.size()) return invalid_argument("x and y differ in length");
    TorchNet net = make_net(file.arch, file.channels, torch::Device(torch::kCPU));
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < net.params.size(); ++i) {
      const std::vector<float>& v = file.tensors.at(i);
      net.params[i] = torch::from_blob(const_cast<float*>(v.data()), net.params[i].sizes()).clone();
    }
    const int64_t n = static_cast<int64_t>(x.size());
    torch::Tensor xs = torch::from_blob(const_cast<float*>(x.data()), {n, 1});
    torch::Tensor ys = torch::from_blob(const_cast<float*>(y.data()), {n, 1});
    const torch::Tensor out = net.forward(torch::cat({xs, ys}, 1)).contiguous();
    return std::vector<float>(out.data_ptr<float>(), out.data_ptr<float>() + out.numel());
  } catch (const c10::Error& e) {
    return internal_error("LibTorch: " + first_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return internal_error(first_line(e.what()));
  }
}

bool cuda_available() { return torch::cuda::is_available(); }

}  // namespace nifc
