// Conformance sweeps: every PngSuite image through the whole codec, every damaged PNG
// refused, every truncation and bit flip of every committed .nif refused, and the
// format-evolution vectors (SPEC.md §10).
//
// Built with the encoder (NIFC_HAVE_ENCODER) the PngSuite sweep encodes each image; in the
// decoder-only build it is skipped and the rest runs.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "codec/decoder/decoder.h"
#include "format/nif_format.h"
#include "tools/io/image_io.h"
#if NIFC_HAVE_ENCODER
#include "codec/encoder/encoder.h"
#endif

namespace nifc {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// The sorted files with extension `ext` in `dir`; none (after saying so) if it is missing,
// so that a checkout without /work/shared still passes.
std::vector<fs::path> files_in(const fs::path& dir, const std::string& ext) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    MESSAGE("skipping: " << dir.string() << " not found");
    return {};
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ext) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

fs::path shared(const std::string& folder) { return fs::path(NIFC_SHARED_DATA_DIR) / folder; }

#if NIFC_HAVE_ENCODER
// Two full-batch steps of a one-layer, four-unit SIREN: enough to run every stage of the
// encoder (fit, quantize, pack, decode for the PSNR) in milliseconds.
EncodeOptions tiny_encode() {
  EncodeOptions o;
  o.arch.encoding = Encoding::kNone;
  o.arch.activation = Activation::kSine;
  o.arch.widths = {4};
  o.steps = 2;
  o.warmup_steps = 1;
  o.batch_pixels = 0;
  o.threads = 1;
  o.device = "cpu";
  o.zstd_level = 1;
  return o;
}

TEST_CASE("PngSuite primary and 16bit: every image is encoded and decodes, or is refused") {
  for (const char* folder : {"pngsuite/primary", "pngsuite/16bit"}) {
    int encoded = 0;
    int refused = 0;
    for (const fs::path& path : files_in(shared(folder), ".png")) {
      const std::string name = path.filename().string();
      CAPTURE(name);
      const std::vector<uint8_t> bytes = slurp(path);
      StatusOr<Image> img = read_png(bytes.data(), bytes.size(), name);
      StatusOr<EncodeResult> r = img.ok() ? encode_image(img.value(), tiny_encode())
                                          : StatusOr<EncodeResult>(img.status());
      if (!r.ok()) {
        // The only acceptable refusal: a feature nifc does not handle, said clearly.
        CHECK(r.status().code() == StatusCode::kUnsupported);
        CHECK_FALSE(r.status().message().empty());
        ++refused;
        continue;
      }
      StatusOr<NifFile> f = parse_nif(r->file.data(), r->file.size());
      REQUIRE(f.ok());
      DecodeOptions o;
      o.bit_depth = img->bit_depth;
      o.threads = 1;
      StatusOr<Image> back = decode_nif(f.value(), o);
      REQUIRE(back.ok());
      CHECK(back->width == img->width);
      CHECK(back->height == img->height);
      CHECK(back->channels == img->channels);
      CHECK(back->bit_depth == img->bit_depth);
      ++encoded;
    }
    MESSAGE(std::string(folder) << ": " << encoded << " encoded and decoded, " << refused
                                << " refused");
  }
}

TEST_CASE("the encoder refuses an image it cannot fit in memory, before allocating") {
  Image img;
  img.width = 512;
  img.height = 384;
  img.channels = 3;
  img.samples.assign(img.pixel_count() * img.channels, 128);
  EncodeOptions o = tiny_encode();
  o.max_memory_bytes = 4u << 20;  // 4 MiB: the targets alone need more
  StatusOr<EncodeResult> r = encode_image(img, o);
  CHECK(r.status().code() == StatusCode::kLimit);
  const std::string& m = r.status().message();
  MESSAGE(m);
  CHECK(m.rfind("image of 512x384 needs about ", 0) == 0);
  CHECK(m.find(" GiB to encode, more than the 0.00391 GiB available") != std::string::npos);
  // A full batch needs far more than a small one: the estimate sees the batch size.
  o.max_memory_bytes = 64u << 20;
  o.batch_pixels = 1024;
  CHECK(encode_image(img, o).ok());
  o.arch.widths = {256, 256};
  o.batch_pixels = 0;
  CHECK(encode_image(img, o).status().code() == StatusCode::kLimit);
  // The default budget (16 GiB) is not in the way of ordinary images.
  CHECK(encode_image(img, tiny_encode()).ok());
}
#else
TEST_CASE("PngSuite encode sweep") { MESSAGE("skipping: built without the encoder"); }
#endif

TEST_CASE("PngSuite corrupt and the libpng crashers are refused by read_png") {
  for (const char* folder : {"pngsuite/corrupt", "libpng-testpngs-crashers"}) {
    int refused = 0;
    int decoded = 0;
    for (const fs::path& path : files_in(shared(folder), ".png")) {
      const std::string name = path.filename().string();
      CAPTURE(name);
      const std::vector<uint8_t> bytes = slurp(path);
      StatusOr<Image> img = read_png(bytes.data(), bytes.size(), name);
      if (name == "empty_ancillary_chunks.png") {
        // The documented exception: IHDR, IDAT and IEND are intact and only ancillary
        // chunks (which read_png skips; their CRC errors are benign) are malformed, so the
        // 1x1 image decodes, as in browsers.
        CHECK(img.ok());
        ++decoded;
        continue;
      }
      CHECK_FALSE(img.ok());
      if (img.ok()) continue;
      CHECK(img.status().message().rfind(name + ": ", 0) == 0);
      CHECK(img.status().message().find('\n') == std::string::npos);
      ++refused;
    }
    MESSAGE(std::string(folder) << ": " << refused << " refused, " << decoded
                                << " decoded (empty_ancillary_chunks.png, by design)");
  }
}

// Every committed .nif (golden and evolution vectors), damaged every possible way.
TEST_CASE("samples/*.nif: every truncation and every single-bit flip is refused") {
  size_t files = 0, truncations = 0, truncations_refused = 0, flips = 0, flips_refused = 0;
  for (const fs::path& path : files_in(NIFC_SAMPLES_DIR, ".nif")) {
    const std::string name = path.filename().string();
    CAPTURE(name);
    const std::vector<uint8_t> file = slurp(path);
    REQUIRE(file.size() > 16);
    ++files;
    for (size_t len = 0; len < file.size(); ++len) {
      ++truncations;
      StatusOr<NifFile> f = parse_nif(file.data(), len);
      CHECK_MESSAGE(!f.ok(), "a " << len << "-byte prefix parses");
      if (!f.ok()) ++truncations_refused;
    }
    std::vector<uint8_t> bad = file;
    for (size_t i = 0; i < file.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        ++flips;
        bad[i] ^= static_cast<uint8_t>(1u << bit);
        StatusOr<NifFile> f = parse_nif(bad.data(), bad.size());
        CHECK_MESSAGE(!f.ok(), "flipping bit " << bit << " of byte " << i << " went unnoticed");
        if (!f.ok()) ++flips_refused;
        bad[i] = file[i];
      }
    }
  }
  CHECK(files >= 7);
  MESSAGE(files << " files: " << truncations_refused << " of " << truncations
                << " truncations rejected");
  MESSAGE(flips_refused << " of " << flips << " bit flips rejected");
  CHECK(truncations_refused == truncations);
  CHECK(flips_refused == flips);
}

// SPEC.md §10.  tools/make_evolution_samples.py makes both files from golden-siren.nif.
TEST_CASE("format evolution: a newer minor's extras are skipped, unknown required refused") {
  const fs::path dir = NIFC_SAMPLES_DIR;
  const std::vector<uint8_t> golden = slurp(dir / "golden-siren.nif");
  const std::vector<uint8_t> optional = slurp(dir / "evolution-optional-section.nif");
  const std::vector<uint8_t> required = slurp(dir / "evolution-required-section.nif");
  StatusOr<NifFile> g = parse_nif(golden.data(), golden.size());
  REQUIRE(g.ok());

  StatusOr<NifFile> f = parse_nif(optional.data(), optional.size());
  REQUIRE_MESSAGE(f.ok(), f.status().message());
  CHECK(f->version_major == 1);
  CHECK(f->version_minor == 4);
  CHECK(f->tensors == g->tensors);
  StatusOr<Image> a = decode_nif(f.value(), DecodeOptions());
  StatusOr<Image> b = decode_nif(g.value(), DecodeOptions());
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->samples == b->samples);  // the same image, bit for bit
  CHECK(parse_nif_header(optional.data(), optional.size()).ok());

  StatusOr<NifFile> r = parse_nif(required.data(), required.size());
  CHECK(r.status().code() == StatusCode::kUnsupported);
  CHECK(r.status().message() == "unknown required section FUTR");
  CHECK(parse_nif_header(required.data(), required.size()).status().code() ==
        StatusCode::kUnsupported);
}

}  // namespace
}  // namespace nifc
