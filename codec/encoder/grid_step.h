// The CPU fast path of a grid fit's training step (README "Fitting speed"): the same
// function as TorchNet::forward and the same MSE loss (SPEC.md §6.3, §6.4), with its
// gradients computed by hand instead of by LibTorch's op-by-op autograd.
//
//   GridUpsampler   the latents of every level, bilinearly interpolated at the stored
//                   image's pixel centres (a fixed separable filter), and its transpose
//                   for the gradient (a gather per output row, not a scatter per pixel);
//   mlp_mse_step    the ReLU MLP's forward pass, the loss and the backward pass fused over
//                   groups of 64 points whose activations stay in L1; the weight gradients
//                   are reduced per thread, then summed.
//
// Torch-free; the loops are compiled for AVX2+FMA and for the x86-64 baseline and chosen
// at run time.  tests/test_encoder.cc checks both against LibTorch's autograd.
#ifndef NIFC_CODEC_ENCODER_GRID_STEP_H_
#define NIFC_CODEC_ENCODER_GRID_STEP_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "format/nif_format.h"

namespace nifc {

// True when the fast path computes this fit: a grid with a ReLU MLP, fitted on whole
// images (every pixel every step).
bool grid_step_supported(const Architecture& arch);

class GridUpsampler {
 public:
  // arch: a grid architecture whose levels belong to a width x height image.
  GridUpsampler(const Architecture& arch, uint32_t width, uint32_t height);

  size_t points() const { return size_t{width_} * height_; }
  uint32_t features() const { return static_cast<uint32_t>(levels_.size()) * channels_; }

  // latents[k]: level k's channels x height x width samples.  features: features() rows
  // of points() values (row k * channels + c is level k, channel c).
  void forward(const std::vector<const float*>& latents, float* features, int threads) const;
  // The transpose: dlatents[k] = the gradient of level k given the features' gradient.
  // dlatents are overwritten.
  void backward(const float* dfeatures, const std::vector<float*>& dlatents, int threads) const;

 private:
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
  };
  uint32_t width_, height_, channels_;
  std::vector<Level> levels_;
};

// The MLP of `arch` (ReLU hidden layers, linear output; w[l], b[l] as SPEC.md §6.2 stores
// them) on n points: features (in x n) and target (channels x n), both feature-major.
// Returns the sum of squared errors over all n x channels values and writes the gradients
// of loss = grad_scale * that sum: dfeatures (in x n), dw[l], db[l] (overwritten).
double mlp_mse_step(const Architecture& arch, uint32_t channels, const std::vector<const float*>& w,
                    const std::vector<const float*>& b, const float* features, const float* target,
                    size_t n, double grad_scale, float* dfeatures, const std::vector<float*>& dw,
                    const std::vector<float*>& db, int threads);

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

// Which loops mlp_mse_step runs on this CPU: "avx2+fma" or "baseline".  NIFC_ISA=sse2
// (or generic) in the environment, or grid_step_use_baseline(true), selects the baseline
// loops (tests run both).
const char* grid_step_isa();
void grid_step_use_baseline(bool baseline);

}  // namespace nifc

#endif  // NIFC_CODEC_ENCODER_GRID_STEP_H_
