// The .nif container (SPEC.md is normative; section numbers below refer to it).
//
// Pure functions on byte spans: parse_nif() validates and decodes a whole file
// into a NifFile; serialize_nif() does the reverse.  Nothing here allocates in
// proportion to a header field before that field has been checked against
// NifLimits.  Thread-safe: no global state.
#ifndef NIFC_FORMAT_NIF_FORMAT_H_
#define NIFC_FORMAT_NIF_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "format/status.h"

namespace nifc {

// SPEC.md §2: the newest version this library reads and writes.  It reads every
// 1.x file; it writes 1.0 for files without a latent grid, 1.1 for grid files.
constexpr uint8_t kNifVersionMajor = 1;
constexpr uint8_t kNifVersionMinor = 1;

// SPEC.md §5.3
enum class Encoding : uint8_t {
  kNone = 0,        // raw (x, y)
  kPositional = 1,  // sin/cos(2^k pi p), k = 0..L-1
  kFourier = 2,     // Gaussian random Fourier features from a seeded PRNG
  kGrid = 3,        // bilinear samples of learned latent grids (SPEC.md §6.4, version 1.1)
};

// SPEC.md §6.4: one level of the latent grid, grid_channels x height x width samples.
struct GridLevel {
  uint32_t width = 0;
  uint32_t height = 0;
};

// SPEC.md §5.3
enum class Activation : uint8_t {
  kRelu = 0,
  kSine = 1,
};

// The network of SPEC.md §5.3: an input encoding, hidden layers with one
// activation, and a linear output layer with one unit per image channel.
struct Architecture {
  Encoding encoding = Encoding::kNone;
  Activation activation = Activation::kSine;
  float omega0 = 30.0f;                // sine: first-layer frequency factor
  float omega = 30.0f;                 // sine: hidden-layer frequency factor
  uint8_t pe_levels = 0;               // positional: L
  bool pe_include_input = false;       // positional: raw (x, y) first
  uint16_t ff_features = 0;            // fourier: m
  float ff_sigma = 0.0f;               // fourier: standard deviation of B
  uint64_t ff_seed = 0;                // fourier: PRNG seed of B
  std::vector<uint16_t> widths;        // hidden layer widths, input to output
  uint8_t grid_channels = 0;           // grid: latent channels per level
  std::vector<GridLevel> grid_levels;  // grid: levels, in payload order
};

// Number of latent values of the grid levels (0 for other encodings).
uint64_t grid_latent_count(const Architecture& arch);

// Values per payload tensor in SPEC.md §6.2 order: W0, b0, ..., WN, bN, then
// (grid) one tensor per latent level.
std::vector<uint64_t> tensor_sizes(const Architecture& arch, uint32_t channels);

// Number of input features the encoding produces (SPEC.md §6.1).
uint32_t encoded_input_dim(const Architecture& arch);

// Shape of linear layer l (0-based): out x in.  Layers are numbered from the
// input; there are widths.size() + 1 of them, the last producing `channels`.
struct LayerShape {
  uint32_t in = 0;
  uint32_t out = 0;
};
std::vector<LayerShape> layer_shapes(const Architecture& arch, uint32_t channels);

// Total number of weights and biases, plus latents (grid).
uint64_t parameter_count(const Architecture& arch, uint32_t channels);

struct NifLimits {
  uint32_t max_width = 1u << 16;  // stored image size
  uint32_t max_height = 1u << 16;
  uint32_t max_hidden_layers = 64;
  uint32_t max_width_per_layer = 4096;
  uint64_t max_parameters = 1ull << 24;  // 16 M, latents included
  uint64_t max_file_bytes = 1ull << 30;
};

// Checks an architecture against the format's rules and `limits`: known enums,
// at least one hidden layer, widths and parameter count within bounds.
Status validate_architecture(const Architecture& arch, uint32_t channels, const NifLimits& limits);

// A decoded .nif file.  Weights are the dequantized values in payload order
// (SPEC.md §6.2): for each layer W (out x in, row-major) then b (out).
struct NifFile {
  uint8_t version_major = kNifVersionMajor;
  uint8_t version_minor = kNifVersionMinor;
  uint32_t width = 0;
  uint32_t height = 0;
  uint8_t channels = 0;          // 1..4
  uint8_t source_bit_depth = 8;  // 8 or 16
  std::vector<float> mean;       // per channel, in [0, 1] sample units
  std::vector<float> stddev;     // per channel, > 0
  Architecture arch;
  uint8_t bits = 8;                         // quantization bit width, 2..16
  std::vector<float> steps;                 // one quantization step per tensor
  std::vector<std::vector<float>> tensors;  // dequantized: W0, b0, W1, b1, ..., grid levels
  uint64_t payload_bytes = 0;               // size of the compressed weight payload
};

// Parses and validates a whole file.  Errors: kCorrupt (bad magic, truncation,
// checksum, inconsistent fields), kUnsupported (major version, unknown
// required section, unknown enum), kLimit (sizes beyond `limits`).
StatusOr<NifFile> parse_nif(const uint8_t* data, size_t size, const NifLimits& limits = {});

// Reads only the sections needed to describe the file (no decompression).
// `payload_bytes` and `bits` are filled; `tensors` and `steps` stay empty.
StatusOr<NifFile> parse_nif_header(const uint8_t* data, size_t size, const NifLimits& limits = {});

// Quantized weights, as the encoder produces them: integer levels per tensor
// with the step that maps them back (value = level * step).
struct QuantizedTensor {
  float step = 0.0f;
  std::vector<int32_t> levels;
};

// Writes a file.  `q` holds one entry per tensor, in payload order, with
// |level| <= 2^(bits-1) - 1.  zstd_level is passed to ZSTD_compress.
StatusOr<std::vector<uint8_t>> serialize_nif(const NifFile& header,
                                             const std::vector<QuantizedTensor>& q,
                                             int zstd_level = 19);

// Quantizes `values` to `bits` with a symmetric uniform step chosen so the
// largest magnitude maps to the largest level (SPEC.md §6.2).
QuantizedTensor quantize_tensor(const std::vector<float>& values, int bits);

// CRC-32 (ISO-HDLC, the polynomial of PNG and zlib), SPEC.md §3.
uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0);

// Human-readable names: "siren", "relu", "positional", ...
const char* encoding_name(Encoding e);
const char* activation_name(Activation a);

}  // namespace nifc

namespace nifc {

// SPEC.md §6.1: the Gaussian matrix B (m x 2, row-major: B[i][0] multiplies x,
// B[i][1] multiplies y) of the Fourier encoding, regenerated bit for bit from
// ff_seed and ff_sigma with the PRNG the spec defines.
std::vector<float> fourier_matrix(const Architecture& arch);

}  // namespace nifc

#endif  // NIFC_FORMAT_NIF_FORMAT_H_
