#include "codec/encoder/fit.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/utils.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "codec/decoder/image.h"

namespace nifc {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string first_line(const std::string& s) {
  const size_t nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

bool ProgressReporter::report(int steps_done, double elapsed, bool force, const at::Tensor& loss,
                              double best_psnr_db) {
  if (!o_.progress || !(force || elapsed - last_report_ >= 0.5)) return true;
  last_report_ = elapsed;
  const double l = loss.item<double>();
  ema_ = ema_ < 0 ? l : 0.9 * ema_ + 0.1 * l;
  prog_.step = steps_done;
  prog_.seconds = elapsed;
  prog_.batch_psnr_db = mse_to_psnr(ema_ * variance_);
  prog_.best_psnr_db = best_psnr_db;
  return o_.progress(prog_);
}

StatusOr<c10::Device> pick_device(const std::string& name) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name == "cuda") {
    if (!torch::cuda::is_available()) {
      return unsupported("CUDA requested but not available (this LibTorch has no CUDA, or no GPU)");
    }
    return c10::Device(c10::kCUDA);
  }
  if (name == "auto") {
    return torch::cuda::is_available() ? c10::Device(c10::kCUDA) : c10::Device(c10::kCPU);
  }
  return invalid_argument("unknown device '" + name + "' (auto, cpu or cuda)");
}

Status check_fit_image(const Image& image, const std::string& name) {
  if (image.width == 0 || image.height == 0 || image.channels < 1 || image.channels > 4 ||
      (image.bit_depth != 8 && image.bit_depth != 16) ||
      image.samples.size() != image.pixel_count() * image.channels) {
    return invalid_argument(name.empty() ? "invalid image" : "invalid image " + name);
  }
  return Status();
}

Status check_fit_options(const EncodeOptions& o, uint32_t channels) {
  if (o.bits < 2 || o.bits > 16) return invalid_argument("bits must be 2..16");
  if (o.steps < 1) return invalid_argument("steps must be at least 1");
  if (!(o.lr > 0)) return invalid_argument("learning rate must be positive");
  if (o.arch.widths.empty()) return invalid_argument("the network needs a hidden layer");
  NifLimits limits;
  limits.max_width = limits.max_height = 0xFFFFFFFFu;
  return validate_architecture(o.arch, channels, limits);
}

StatusOr<c10::Device> set_up_fit(const EncodeOptions& o) {
  NIFC_ASSIGN_OR_RETURN(const c10::Device device, pick_device(o.device));
  if (device.is_cpu()) {
    at::set_num_threads(o.threads > 0
                            ? o.threads
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  }
  torch::manual_seed(o.seed);
  return device;
}

double scheduled_lr(double peak, double final_ratio, int warmup_steps, int steps, int step) {
  if (step < warmup_steps) return peak * (step + 1) / warmup_steps;
  const double t = static_cast<double>(step - warmup_steps) / std::max(1, steps - warmup_steps);
  return peak * (final_ratio + (1 - final_ratio) * 0.5 * (1 + std::cos(M_PI * t)));
}

}  // namespace nifc
