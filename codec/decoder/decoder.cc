// The torch-free decoder.  SPEC.md §6 defines the network, §7 the sampling.
//
// Evaluation runs on groups of points (codec/decoder/kernels.h): the encoding
// features of a group are laid out feature-major, then every layer is a
// blocked matrix product with the activation fused into its epilogue.  In
// decode_nif the encoding features come from tables: positional features of x
// depend only on the column and those of y only on the row, and a Fourier
// feature cos(a_x + a_y) is cos a_x cos a_y - sin a_x sin a_y in double from
// per-column and per-row sines and cosines.
#include "codec/decoder/decoder.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "codec/decoder/evaluator.h"
#include "codec/decoder/kernels.h"

namespace nifc {

using internal::add_subsamples;
using internal::FloatBuffer;
using internal::Isa;
using internal::kTableBlockColumns;
using internal::kTableBudgetBytes;
using internal::NetworkImpl;
using internal::output_image;
using internal::RowEvaluator;
using internal::run_on_threads;
using internal::Scratch;

float fast_sin(float x) { return internal::sin_poly(x); }

namespace internal {

StatusOr<Network> create_network(const NifFile& file, Isa isa) {
  if (file.tiled()) {
    return invalid_argument("a tiled file has one network per tile (NifFile::tiles)");
  }
  if (!isa_supported(isa)) {
    return unsupported(std::string("this CPU cannot run the ") + isa_name(isa) + " kernels");
  }
  auto impl = std::make_shared<NetworkImpl>();
  impl->isa = isa;
  impl->kernel = kernel_info(isa);
  impl->arch = file.arch;
  impl->channels = file.channels;
  impl->input_dim = encoded_input_dim(file.arch);
  impl->mean = file.mean;
  impl->stddev = file.stddev;
  if (impl->mean.size() != file.channels || impl->stddev.size() != file.channels) {
    return invalid_argument("mean and stddev do not match the channel count");
  }
  if (file.arch.encoding == Encoding::kFourier) impl->fourier = fourier_matrix(file.arch);
  const std::vector<LayerShape> shapes = layer_shapes(file.arch, file.channels);
  const std::vector<uint64_t> sizes = tensor_sizes(file.arch, file.channels);
  if (file.tensors.size() != sizes.size()) {
    return invalid_argument("file holds no weights (header only?)");
  }
  if (file.arch.encoding == Encoding::kGrid) {
    for (size_t k = 0; k < file.arch.grid_levels.size(); ++k) {
      const std::vector<float>& g = file.tensors[2 * shapes.size() + k];
      if (g.size() != sizes[2 * shapes.size() + k]) {
        return invalid_argument("latent grid size does not match the architecture");
      }
      impl->grid.push_back(g);
      impl->grid_line_offset.push_back(impl->grid_line_doubles);
      impl->grid_line_doubles += size_t{file.arch.grid_levels[k].width} * file.arch.grid_channels;
    }
  }
  Network net;
  for (size_t l = 0; l < shapes.size(); ++l) {
    const LayerShape& s = shapes[l];
    const std::vector<float>& w = file.tensors[2 * l];
    const std::vector<float>& b = file.tensors[2 * l + 1];
    if (w.size() != static_cast<size_t>(s.in) * s.out || b.size() != s.out) {
      return invalid_argument("tensor size does not match the architecture");
    }
    const bool last = l + 1 == shapes.size();
    Act act = Act::kNone;
    if (!last) act = file.arch.activation == Activation::kSine ? Act::kSine : Act::kRelu;
    // SPEC.md §6.3: sine layers compute sin(omega * (W x + b)).  The kernels
    // evaluate sin(pi q), so omega / pi is folded into W and b here.
    const double scale =
        act == Act::kSine ? (l == 0 ? file.arch.omega0 : file.arch.omega) / kPi : 1.0;
    // Inputs: sine outputs and sin/cos features are within [-1, 1]; raw
    // coordinates and grid latents are not bounded (Network::evaluate takes any point).
    const bool raw_coordinates =
        file.arch.encoding == Encoding::kNone || file.arch.encoding == Encoding::kGrid ||
        (file.arch.encoding == Encoding::kPositional && file.arch.pe_include_input);
    const double input_bound =
        l == 0 && raw_coordinates ? std::numeric_limits<double>::infinity() : 1.0;
    impl->layers.push_back(
        pack_layer(isa, w.data(), b.data(), s.in, s.out, scale, act, input_bound));
    net.macs_per_point_ += static_cast<uint64_t>(s.in) * s.out;
    if (!last) impl->max_width = std::max(impl->max_width, s.out);
  }
  net.channels_ = file.channels;
  net.impl_ = std::move(impl);
  return net;
}

}  // namespace internal

StatusOr<Network> Network::create(const NifFile& file) {
  return internal::create_network(file, internal::best_isa());
}

void Network::evaluate(const float* x, const float* y, size_t n, float* out) const {
  if (n == 0 || !impl_) return;  // !impl_: a default-constructed Network
  const NetworkImpl& net = *impl_;
  const size_t g = net.kernel.group_points;
  Scratch s(net);
  for (size_t start = 0; start < n; start += g) {
    const size_t count = std::min(g, n - start);
    // Pad the group by repeating its last point.
    for (size_t p = 0; p < g; ++p) {
      const size_t src = start + std::min(p, count - 1);
      point_features(net, x[src], y[src], s.features.data() + p, g);
    }
    internal::forward_group(net.isa, net.layers, s.features.data(), s.act.data(), s.out.data());
    for (size_t p = 0; p < count; ++p) {
      for (uint32_t c = 0; c < channels_; ++c) {
        out[(start + p) * channels_ + c] = s.out.data()[c * g + p];
      }
    }
  }
}

void Network::evaluate_row(float y, const float* x, size_t n, float* out) const {
  if (n == 0 || !impl_) return;
  const NetworkImpl& net = *impl_;
  RowEvaluator row(net, x, n);
  row.build(0, row.padded_columns());
  Scratch s(net);
  FloatBuffer planar(n * channels_);
  row.evaluate(y, s, planar.data(), n);
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t c = 0; c < channels_; ++c) out[i * channels_ + c] = planar.data()[c * n + i];
  }
}

StatusOr<OutputGrid> resolve_output_grid(const NifFile& file, const DecodeOptions& o) {
  OutputGrid g;
  if (o.width == 0 && o.height == 0) {
    g.width = file.width;
    g.height = file.height;
  } else if (o.height == 0) {
    g.width = o.width;
    g.height = static_cast<uint32_t>(
        std::max(1.0, std::round(static_cast<double>(o.width) * file.height / file.width)));
  } else if (o.width == 0) {
    g.height = o.height;
    g.width = static_cast<uint32_t>(
        std::max(1.0, std::round(static_cast<double>(o.height) * file.width / file.height)));
  } else {
    g.width = o.width;
    g.height = o.height;
  }
  if (o.region_width == 0 && o.region_height == 0) {
    g.region_width = g.width;
    g.region_height = g.height;
  } else {
    if (o.region_width == 0 || o.region_height == 0) {
      return invalid_argument("region width and height must both be positive");
    }
    if (uint64_t{o.region_x} + o.region_width > g.width ||
        uint64_t{o.region_y} + o.region_height > g.height) {
      return invalid_argument("region lies outside the " + std::to_string(g.width) + "x" +
                              std::to_string(g.height) + " output");
    }
    g.x0 = o.region_x;
    g.y0 = o.region_y;
    g.region_width = o.region_width;
    g.region_height = o.region_height;
  }
  if (o.supersample < 1 || o.supersample > 16) {
    return invalid_argument("supersample must be 1..16");
  }
  if (o.bit_depth != 8 && o.bit_depth != 16) return invalid_argument("bit depth must be 8 or 16");
  const uint64_t pixels = uint64_t{g.region_width} * g.region_height;
  if (pixels > o.max_output_pixels || g.width > (1u << 24) || g.height > (1u << 24)) {
    return limit_exceeded("output of " + std::to_string(g.region_width) + "x" +
                          std::to_string(g.region_height) + " pixels exceeds the limit of " +
                          std::to_string(o.max_output_pixels) + " pixels");
  }
  return g;
}

StatusOr<Image> decode_nif(const NifFile& file, const DecodeOptions& options) {
  if (file.tiled()) return internal::decode_tiled_nif(file, options);
  NIFC_ASSIGN_OR_RETURN(const OutputGrid g, resolve_output_grid(file, options));
  NIFC_ASSIGN_OR_RETURN(const Network network, Network::create(file));
  const NetworkImpl& net = *network.impl_;
  Image img = output_image(g, file.channels, options.bit_depth);
  const uint32_t s = options.supersample;
  const float max_value = static_cast<float>(img.max_value());
  const uint32_t ch = file.channels;

  // SPEC.md §7: sample (i, j) of the full output grid, sub-sample (u, v),
  // lies at x = 2 (i + (u + 1/2) / S) / W - 1, y likewise.
  const size_t cols = size_t{g.region_width} * s;
  std::vector<float> xs(cols);
  for (uint32_t i = 0; i < g.region_width; ++i) {
    for (uint32_t u = 0; u < s; ++u) {
      const double pos = (g.x0 + i) + (u + 0.5) / s;
      xs[static_cast<size_t>(i) * s + u] = static_cast<float>(2.0 * pos / g.width - 1.0);
    }
  }
  int threads =
      options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, std::min<int>(threads, static_cast<int>(g.region_height)));

  // Column chunks keep the x tables within kTableBudgetBytes; one chunk for
  // ordinary sizes.
  const size_t chunk_pixels = std::max<size_t>(
      1, std::min<size_t>(g.region_width,
                          kTableBudgetBytes /
                              std::max<size_t>(1, RowEvaluator::table_bytes_per_column(net) * s)));
  for (size_t px0 = 0; px0 < g.region_width; px0 += chunk_pixels) {
    const size_t pn = std::min<size_t>(chunk_pixels, g.region_width - px0);
    const size_t cn = pn * s;
    RowEvaluator row(net, xs.data() + px0 * s, cn);
    const size_t blocks = (row.padded_columns() + kTableBlockColumns - 1) / kTableBlockColumns;
    std::atomic<size_t> next_block{0};
    run_on_threads(std::min<int>(threads, static_cast<int>(blocks)), [&]() {
      for (size_t b; (b = next_block.fetch_add(1)) < blocks;) {
        row.build(b * kTableBlockColumns,
                  std::min(row.padded_columns(), (b + 1) * kTableBlockColumns));
      }
    });
    // Rows are tasks taken in order from a shared counter; every sample is
    // computed the same way whichever thread takes it, so the output does not
    // depend on the thread count.
    std::atomic<uint32_t> next_row{0};
    run_on_threads(threads, [&]() {
      Scratch scratch(net);
      FloatBuffer vals(cn * ch);  // planar: vals[c * cn + column]
      std::vector<double> sum(s > 1 ? pn * ch : 0);
      const double inv = 1.0 / (static_cast<double>(s) * s);
      for (uint32_t j; (j = next_row.fetch_add(1)) < g.region_height;) {
        uint16_t* dst = img.samples.data() + (static_cast<size_t>(j) * g.region_width + px0) * ch;
        std::fill(sum.begin(), sum.end(), 0.0);
        for (uint32_t v = 0; v < s; ++v) {
          const double pos = (g.y0 + j) + (v + 0.5) / s;
          const float y = static_cast<float>(2.0 * pos / g.height - 1.0);
          row.evaluate(y, scratch, vals.data(), cn);
          if (s == 1) continue;
          // Sum in the order sub-row v, then sub-column u (the order of the
          // reference decoder, so the double sums are reproducible).
          add_subsamples(vals.data(), cn, pn, ch, s, sum.data());
        }
        if (s == 1) {
          // v * max_value is exact in double and v is in [0, 1], so adding
          // 1/2 and truncating is exactly lround().
          for (size_t i = 0; i < pn; ++i) {
            for (uint32_t c = 0; c < ch; ++c) {
              const double t = static_cast<double>(vals.data()[c * cn + i]) * max_value;
              dst[i * ch + c] = static_cast<uint16_t>(static_cast<int32_t>(t + 0.5));
            }
          }
        } else {
          for (size_t k = 0; k < pn * ch; ++k) {
            dst[k] = static_cast<uint16_t>(std::lround(sum[k] * inv * max_value));
          }
        }
      }
    });
  }
  return img;
}

}  // namespace nifc
