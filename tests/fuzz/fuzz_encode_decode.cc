// Fuzz target: encode_image (LibTorch) -> parse_nif -> decode_nif on tiny images.
//
// The bytes choose an image of at most 8x8 pixels (1..4 channels, 8 or 16 bits, samples
// from the bytes), an architecture (every encoding, latent grids of 1..3 levels of any
// size included, and activation; 1..2 hidden layers of width 1..8), bits, 1..3 steps and the other
// options; every choice is valid, so the encoder must succeed and its file must parse and decode
// back to the image's geometry with the PSNR the encoder reported.
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "codec/decoder/decoder.h"
#include "codec/encoder/encoder.h"
#include "tests/fuzz/fuzz_util.h"

namespace nifc::fuzz {
namespace {

// Consumes the input from the front; zeros once it is used up.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

void run(const uint8_t* data, size_t size) {
  ByteReader r(data, size);
  Image img;
  img.width = 1 + r.u8() % 8;
  img.height = 1 + r.u8() % 8;
  const uint8_t format = r.u8();
  img.channels = 1 + format % 4;
  img.bit_depth = (format & 4) ? 16 : 8;

  EncodeOptions o;
  const uint8_t kind = r.u8();
  Architecture& a = o.arch;
  a.activation = (kind & 1) ? Activation::kSine : Activation::kRelu;
  a.encoding = static_cast<Encoding>((kind >> 1) % 4);
  a.widths.assign(1 + (kind >> 3) % 2, static_cast<uint16_t>(1 + r.u8() % 8));
  a.omega0 = a.activation == Activation::kSine ? 1.0f + r.u8() % 60 : 1.0f;
  a.omega = a.activation == Activation::kSine ? 1.0f + r.u8() % 60 : 1.0f;
  if (a.encoding == Encoding::kPositional) {
    const uint8_t pe = r.u8();
    a.pe_levels = static_cast<uint8_t>(1 + pe % 6);
    a.pe_include_input = (pe & 0x80) != 0;
  }
  if (a.encoding == Encoding::kGrid) {
    // SPEC.md §6.4: levels of any size, in any order.
    a.grid_channels = static_cast<uint8_t>(1 + r.u8() % 3);
    a.grid_levels.resize(1 + r.u8() % 3);
    for (GridLevel& level : a.grid_levels) {
      level.width = 1 + r.u8() % 9;
      level.height = 1 + r.u8() % 9;
    }
  }
  if (a.encoding == Encoding::kFourier) {
    a.ff_features = static_cast<uint16_t>(1 + r.u8() % 6);
    a.ff_sigma = 0.5f + r.u8() / 16.0f;
    a.ff_seed = r.u8();
  }
  o.bits = 2 + r.u8() % 15;
  o.steps = 1 + r.u8() % 3;
  o.batch_pixels = r.u8() % (img.pixel_count() + 2);  // 0 and >= pixels: full batch
  o.lr = 1e-4 * (1 + r.u8());
  o.warmup_steps = r.u8() % 3;
  o.eval_every = 1 + r.u8() % 3;
  o.seed = r.u8();
  o.threads = 1;
  o.device = "cpu";
  o.zstd_level = 1;
  img.samples.resize(img.pixel_count() * img.channels);
  for (uint16_t& s : img.samples) {
    s = static_cast<uint16_t>(img.bit_depth == 16 ? r.u16() : r.u8());
  }

  StatusOr<EncodeResult> enc = encode_image(img, o);
  if (!enc.ok()) std::fprintf(stderr, "encode_image: %s\n", enc.status().to_string().c_str());
  NIFC_FUZZ_CHECK(enc.ok());
  NIFC_FUZZ_CHECK(enc->steps >= 1 && enc->steps <= o.steps);
  NIFC_FUZZ_CHECK(enc->parameters == parameter_count(a, img.channels));
  StatusOr<NifFile> f = parse_nif(enc->file.data(), enc->file.size());
  NIFC_FUZZ_CHECK(f.ok());
  NIFC_FUZZ_CHECK(f->width == img.width && f->height == img.height);
  NIFC_FUZZ_CHECK(f->channels == img.channels && f->source_bit_depth == img.bit_depth);
  NIFC_FUZZ_CHECK(f->bits == o.bits);
  DecodeOptions d;
  d.bit_depth = img.bit_depth;
  d.threads = 1;
  StatusOr<Image> back = decode_nif(f.value(), d);
  NIFC_FUZZ_CHECK(back.ok());
  NIFC_FUZZ_CHECK(back->width == img.width && back->height == img.height);
  NIFC_FUZZ_CHECK(back->channels == img.channels && back->bit_depth == img.bit_depth);
  NIFC_FUZZ_CHECK(back->samples.size() == img.samples.size());
  const double psnr = psnr_db(img, back.value());
  NIFC_FUZZ_CHECK(psnr == enc->psnr_db || (std::isnan(psnr) && std::isnan(enc->psnr_db)));
}

}  // namespace
}  // namespace nifc::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nifc::fuzz::run(data, size);
  return 0;
}
