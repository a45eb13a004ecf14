// The CPU fast path of a grid fit's training step (README "Fitting speed"): the same
// function as TorchNet::forward and the same MSE loss (SPEC.md §6.3, §6.4), with its
// gradients computed by hand instead of by LibTorch's op-by-op autograd.
//
//   GridStep        per chunk of rows: the latents of every level bilinearly interpolated
//                   at the pixel centres (a fixed separable filter); the ReLU MLP's forward
//                   pass, the loss and the backward pass fused over groups of 64 points
//                   whose activations stay in L1; the filter's transpose for the latents'
//                   gradient (a gather per output row, not a scatter per pixel);
//   adam_step, add_latent_noise, add_rate_gradient   the rest of a step, in parallel.
//
// Torch-free; the loops are compiled for AVX2+FMA and for the x86-64 baseline and chosen
// at run time.  tests/test_grid_step.cc checks both against LibTorch's autograd.
#ifndef NIFC_CODEC_ENCODER_GRID_STEP_H_
#define NIFC_CODEC_ENCODER_GRID_STEP_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "format/nif_format.h"

namespace nifc {

// True when the fast path computes this fit: a grid with a ReLU MLP, fitted on whole
// images (every pixel every step).
bool grid_step_supported(const Architecture& arch);

// One training step of a grid fit on the whole image: the latents interpolated at the
// pixel centres (SPEC.md §6.4 at the points of §7), the MLP, the loss, and back.  The
// image is cut into chunks of whole rows (about chunk_points points) that the threads
// share in contiguous bands; a chunk's features and their gradient stay in cache (no
// image-sized buffers).  Rows of a level at the image's size belong to one thread; the
// gradients of coarser levels are summed per thread, then added in thread order.  The
// buffers are kept from call to call.
class GridStep {
 public:
  // arch: a grid architecture (grid_step_supported) whose levels belong to a width x
  // height image with `channels` output channels.
  GridStep(const Architecture& arch, uint32_t channels, uint32_t width, uint32_t height,
           uint32_t chunk_points = 4096);
  ~GridStep();
  GridStep(const GridStep&) = delete;
  GridStep& operator=(const GridStep&) = delete;

  size_t points() const { return size_t{width_} * height_; }
  uint32_t features() const { return static_cast<uint32_t>(levels_.size()) * grid_channels_; }

  // latents[k]: level k's grid channels x height x width samples; w[l], b[l]: the MLP's
  // layers as SPEC.md §6.2 stores them; target: channels rows of points() values.
  // Returns the sum of squared errors over all points() x channels values and writes the
  // gradients of grad_scale * that sum: dlatents[k], dw[l], db[l] (overwritten).
  double step(const std::vector<const float*>& latents, const std::vector<const float*>& w,
              const std::vector<const float*>& b, const float* target, double grad_scale,
              const std::vector<float*>& dlatents, const std::vector<float*>& dw,
              const std::vector<float*>& db, int threads);
  // The forward pass alone: the sum of squared errors per output channel.
  std::vector<double> channel_sse(const std::vector<const float*>& latents,
                                  const std::vector<const float*>& w,
                                  const std::vector<const float*>& b, const float* target,
                                  int threads);
  // The interpolated latents as the MLP sees them: features() rows of points() values
  // (row k * grid channels + c is level k, channel c).
  void features_at(const std::vector<const float*>& latents, float* out) const;

 private:
  static constexpr size_t kNoOffset = ~size_t{0};
  struct Axis {
    std::vector<uint32_t> i0, i1;  // per output pixel: the two samples
    std::vector<float> t;          // and the weight of the second
    // The transpose, per sample q: the output pixels src[e] and weights w[e] for e in
    // [start[q], start[q + 1]) (a gather, so the sums carry no store-to-load chain).
    std::vector<uint32_t> start, src;
    std::vector<float> w;
  };
  struct Level {
    uint32_t width, height;
    Axis x, y;
    bool identity;          // at the image's size: the samples are the features
    size_t private_offset;  // where its gradient sits in a thread's own buffer
  };
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  // Rows [ra, rb) of a level's channel plane at the pixel centres, into dst (row-major,
  // width_ wide); and the transpose, g's rows added into the plane's gradient.  line:
  // scratch, the widest level's width.
  void up_rows(const Level& lv, const float* plane, uint32_t ra, uint32_t rb, float* dst,
               float* line) const;
  void down_rows(const Level& lv, const float* g, uint32_t ra, uint32_t rb, float* plane,
                 float* line) const;
  std::vector<double> pass(const std::vector<const float*>& latents,
                           const std::vector<const float*>& w, const std::vector<const float*>& b,
                           const float* target, double grad_scale,
                           const std::vector<float*>* dlatents, const std::vector<float*>* dw,
                           const std::vector<float*>* db, int threads);

  Architecture arch_;
  uint32_t channels_, width_, height_, grid_channels_;
  uint32_t chunk_rows_ = 1;
  std::vector<Level> levels_;
  size_t private_floats_ = 0;  // the coarse levels' samples, all channels
  std::unique_ptr<float[], Free> buffer_;
  size_t buffer_floats_ = 0;
};

// The latents with their training noise: y = x + (u - 1/2) * step, u uniform in [0, 1)
// from a counter-based hash of (key, index) (24 bits): the same for any thread count.
void add_latent_noise(const float* x, uint32_t key, float step, float* y, size_t n, int threads);

// One latent level of a fused step: its values, their noisy copy and their gradient.
struct LatentBuffers {
  const float* x = nullptr;
  float* noisy = nullptr;
  float* grad = nullptr;
  size_t n = 0;
  uint32_t key = 0;  // latent_noise_key
};
// add_latent_noise for every level in one parallel pass.
void add_latent_noise(const std::vector<LatentBuffers>& levels, float step, int threads);
// The gradient of the rate proxy coef / ln 2 * sum log2(1 + |x| / step), added to every
// level's grad: coef * sign(x) / (step + |x|), with sign(0) = 0 as in LibTorch's abs.
void add_rate_gradient(const std::vector<LatentBuffers>& levels, float coef, float step,
                       int threads);

// The decoded squared error of a grid's MLP at batches of points, vectorized like the
// fused step (for the latents' rate-distortion pass, rdoq.h): the output denormalized
// with the file's mean and stddev and clamped to [0, 1] as the decoder's samples.
class PointErrors {
 public:
  static constexpr size_t kBatch = 64;  // points per call, at most
  // w[l], b[l]: the MLP's layers as SPEC.md §6.2 stores them (copied).
  PointErrors(const Architecture& arch, uint32_t channels, const std::vector<std::vector<float>>& w,
              const std::vector<std::vector<float>>& b, const std::vector<float>& stddev,
              const std::vector<float>& mean);
  ~PointErrors();
  PointErrors(const PointErrors&) = delete;
  PointErrors& operator=(const PointErrors&) = delete;

  // features: the features' rows of kBatch floats each (row f at features + f * kBatch);
  // target: the channels' rows of kBatch samples in [0, 1]; n <= kBatch points.
  // err[i]: point i's sum over channels of (decoded - target)^2.
  void eval(const float* features, const float* target, size_t n, float* err);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Adam (LibTorch's formula: no weight decay, bias-corrected moments, eps added to the
// corrected root) on several tensors in one parallel pass.  step: 1 for the first update.
struct AdamBuffers {
  float* p = nullptr;
  const float* g = nullptr;
  float* m = nullptr;
  float* v = nullptr;
  size_t n = 0;
  double lr = 0.0;
};
void adam_step(const std::vector<AdamBuffers>& tensors, int step, double beta1, double beta2,
               double eps, int threads);

// The noise key of grid level `level` at optimizer step `step` of a fit seeded `seed`: the
// fused step and TorchNet::encode draw the same noise from it.
uint32_t latent_noise_key(uint64_t seed, int step, size_t level);

// Multiply-adds per point of one training step of the MLP: forward, input gradient, weight
// gradient (3 x the layers' in x out), for FLOP counts (2 per multiply-add).
uint64_t mlp_step_macs_per_point(const Architecture& arch, uint32_t channels);

// FLOPs of one whole-image training step of a grid fit on a width x height image, counted
// from the architecture: the MLP (2 x mlp_step_macs_per_point per point), the latents'
// interpolation and its transpose (2 multiply-adds each per feature and point), the loss
// (3 per value), and per parameter 20 for the rate term and Adam.
uint64_t grid_step_flops(const Architecture& arch, uint32_t channels, uint32_t width,
                         uint32_t height);

// The reference the tests check the fused step against, computed by LibTorch's autograd
// (defined in torch_net.cc; this declaration is torch-free so the tests need no LibTorch
// headers): a network of `arch` made by make_net with seed `seed`, its latents drawn from
// N(0, 2^2), a target from N(0, 1), the MSE loss of TorchNet::forward at the pixel centres
// of a width x height image, and its gradients.  Tensors in SPEC.md §6.2 order.
struct GridReference {
  std::vector<std::vector<float>> params, grads;
  std::vector<float> features;  // encoded_input_dim x points, feature-major
  std::vector<float> target;    // channels x points, feature-major
  double loss = 0.0;
};
GridReference torch_grid_reference(const Architecture& arch, uint32_t channels, uint32_t width,
                                   uint32_t height, uint64_t seed);

// Which loops the fused step runs on this CPU: "avx2+fma" or "baseline".  NIFC_ISA=sse2
// (or generic) in the environment, or grid_step_use_baseline(true), selects the baseline
// loops (tests run both).
const char* grid_step_isa();
void grid_step_use_baseline(bool baseline);

}  // namespace nifc

#endif  // NIFC_CODEC_ENCODER_GRID_STEP_H_
