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
// 1.x file; it writes the oldest version that holds what a file uses: 1.0 for files
// without a latent grid, 1.1 for zstd-packed grid files, 1.2 for tiled files (SPEC.md §11)
// and 1.3 for any file whose weights are range coded (WGTS compression 2, SPEC.md §6.5).
constexpr uint8_t kNifVersionMajor = 1;
constexpr uint8_t kNifVersionMinor = 3;

// WGTS compression (SPEC.md §6.2): a zstd frame of byte planes, or (version 1.3) the
// context-adaptive range coder of §6.5.
constexpr uint8_t kCompressionZstd = 1;
constexpr uint8_t kCompressionRange = 2;

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
  uint64_t max_parameters = 1ull << 24;  // 16 M, latents included (all tiles together)
  uint64_t max_file_bytes = 1ull << 30;
  uint64_t max_tiles = 1ull << 16;  // tiled files (SPEC.md §11)
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
  uint8_t compression = kCompressionZstd;   // of WGTS; serialize_nif writes this one
  // SPEC.md §11 (version 1.2): a tiled file.  tile_columns == 0: not tiled.  Otherwise
  // `tiles` holds tile_columns x tile_rows networks in raster order, each a NifFile whose
  // width and height are its tile's size (tile_span) and which has no tiles itself; the
  // file's own mean, stddev, arch, steps and tensors are then empty, `bits` is the largest
  // of the tiles' and `payload_bytes` their sum.
  uint32_t tile_columns = 0;
  uint32_t tile_rows = 0;
  uint32_t tile_overlap = 0;  // pixels, SPEC.md §11.1
  std::vector<NifFile> tiles;
  bool tiled() const { return tile_columns != 0; }
};

// Parameters of the whole file: parameter_count of its network, or the sum over its tiles.
uint64_t file_parameter_count(const NifFile& f);

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

// Writes an untiled file.  `q` holds one entry per tensor, in payload order, with
// |level| <= 2^(bits-1) - 1.  zstd_level is passed to ZSTD_compress.
StatusOr<std::vector<uint8_t>> serialize_nif(const NifFile& header,
                                             const std::vector<QuantizedTensor>& q,
                                             int zstd_level = 19);

// Writes a tiled file (SPEC.md §11, version 1.2) from one complete untiled .nif file per
// tile, in raster order.  `header` gives width, height, channels, source_bit_depth and the
// layout (tile_columns, tile_rows, tile_overlap); tile t's file must be untiled, of its
// tile's size (tile_span) and of the same channels and bit depth.  The tiles' NORM, NETW,
// GRID and WGTS sections are copied into TNET sections as they are (no re-quantization);
// their unknown optional sections are dropped.  Errors: kInvalidArgument (a layout or tile
// that does not fit), and those of parse_nif_header for a damaged tile file.
StatusOr<std::vector<uint8_t>> assemble_tiled_nif(const NifFile& header,
                                                  const std::vector<std::vector<uint8_t>>& tiles);

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
