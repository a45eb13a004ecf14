// The parts of a fitting loop that the encoder and the applications share: timing,
// progress reports, the learning-rate schedule, the device, LibTorch's error messages.
// Includes LibTorch: encoder side only.
#ifndef NIFC_CODEC_ENCODER_FIT_H_
#define NIFC_CODEC_ENCODER_FIT_H_

// The Tensor and Device types only: torch/torch.h (the nn and optim modules) costs seconds
// of every compile that includes it.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <string>

#include "codec/encoder/options.h"
#include "format/status.h"

namespace nifc {

struct Image;

using Clock = std::chrono::steady_clock;

// Seconds since t0.
double seconds_since(Clock::time_point t0);

// The first line of `s` (LibTorch's messages carry backtraces after it).
std::string first_line(const std::string& s);

// The progress reports of a fitting loop: at most one per 0.5 s, plus forced
// ones (the last step, the time limit).  The batch PSNR is a running average of
// the loss (normalized units) times `variance`.
class ProgressReporter {
 public:
  ProgressReporter(const EncodeOptions& o, double variance) : o_(o), variance_(variance) {
    prog_.total_steps = o.steps;
  }
  // False when the callback asked to stop.  `best_psnr_db` is 0 when unknown.
  bool report(int steps_done, double elapsed, bool force, const at::Tensor& loss,
              double best_psnr_db);

 private:
  const EncodeOptions& o_;
  double variance_;
  EncodeProgress prog_;
  double ema_ = -1.0, last_report_ = 0.0;
};

// The device for `name`: "cpu", "cuda" (kUnsupported when LibTorch has no
// CUDA here) or "auto" (CUDA when available, else the CPU).  Other names:
// kInvalidArgument.
StatusOr<c10::Device> pick_device(const std::string& name);

// The learning rate at `step` (0-based) of `steps`: linear warm-up over
// `warmup_steps` to `peak`, then cosine decay to peak * final_ratio.
double scheduled_lr(double peak, double final_ratio, int warmup_steps, int steps, int step);

// The checks every fit makes before it allocates: an image of 1..4 channels at 8 or 16
// bits whose samples match its size (kInvalidArgument "invalid image", followed by `name`
// when it is not empty), and options whose bit width, steps, learning rate and
// architecture are valid for `channels` (kInvalidArgument).
Status check_fit_image(const Image& image, const std::string& name);
Status check_fit_options(const EncodeOptions& o, uint32_t channels);

// A fit's set-up: the device (pick_device), LibTorch's CPU threads (o.threads, or every
// hardware thread when 0) and its generator's seed.
StatusOr<c10::Device> set_up_fit(const EncodeOptions& o);

}  // namespace nifc

#endif  // NIFC_CODEC_ENCODER_FIT_H_
