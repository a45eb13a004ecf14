#include "tools/io/image_io.h"

#include <png.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace nifc {
namespace {

// libpng reports errors by longjmp.  To keep that away from C++ objects, every call into
// libpng that can fail happens inside one of the small `*_step` functions below: each
// calls setjmp itself, holds only trivially destructible locals and reads none of them
// after a longjmp, so nothing is skipped and nothing needs to be volatile.  The C++
// objects (buffers, strings, the guard that frees the libpng structures) live in the
// callers, which never call setjmp.  The callbacks catch their own exceptions, so none
// unwinds through libpng's C frames.

// State shared with the libpng callbacks through png_get_{io,error}_ptr.
struct PngCallbackState {
  // Input (read_png) or output (write_png).
  const uint8_t* in_data = nullptr;
  size_t in_size = 0;
  size_t in_pos = 0;
  std::vector<uint8_t>* out = nullptr;
  // The first libpng error message ("IDAT: CRC error").
  char error[200] = {0};
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngCallbackState*>(png_get_error_ptr(png));
  if (state != nullptr && state->error[0] == '\0') {
    std::snprintf(state->error, sizeof(state->error), "%s", message ? message : "unknown error");
  }
  png_longjmp(png, 1);
}

// Warnings describe damage libpng has already recovered from (a bad ancillary chunk, a
// gamma value out of range); the tools must not print them, and they change nothing.
void on_png_warning(png_structp, png_const_charp) {}

void read_from_memory(png_structp png, png_bytep out, size_t length) {
  auto* state = static_cast<PngCallbackState*>(png_get_io_ptr(png));
  if (length > state->in_size - state->in_pos) {
    png_error(png, "unexpected end of file");
  }
  std::memcpy(out, state->in_data + state->in_pos, length);
  state->in_pos += length;
}

void write_to_memory(png_structp png, png_bytep data, size_t length) {
  auto* state = static_cast<PngCallbackState*>(png_get_io_ptr(png));
  bool out_of_memory = false;
  try {
    state->out->insert(state->out->end(), data, data + length);
  } catch (const std::exception&) {
    out_of_memory = true;  // png_error only after the catch: never longjmp out of a handler
  }
  if (out_of_memory) png_error(png, "out of memory");
}

void flush_nothing(png_structp) {}

// Frees the libpng structures on every path out of read_png.
struct ReadGuard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~ReadGuard() {
    if (png != nullptr) png_destroy_read_struct(&png, info != nullptr ? &info : nullptr, nullptr);
  }
};

struct WriteGuard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~WriteGuard() {
    if (png != nullptr) png_destroy_write_struct(&png, info != nullptr ? &info : nullptr);
  }
};

struct PngHeader {
  png_uint_32 width = 0;
  png_uint_32 height = 0;
  int bit_depth = 0;
  int color_type = 0;
  int interlace = 0;
};

struct PngLayout {
  int channels = 0;
  int bit_depth = 0;
  size_t row_bytes = 0;
};

bool read_header_step(png_structp png, png_infop info, const PngLimits& limits, PngHeader* header) {
  if (setjmp(png_jmpbuf(png))) return false;
  // Same limits inside libpng, so that it refuses a huge IHDR even on a path we missed.
  png_set_user_limits(png, limits.max_width, limits.max_height);
  png_set_chunk_malloc_max(png, limits.max_chunk_bytes);
  png_set_chunk_cache_max(png, 1000);
  // Only IHDR, PLTE, tRNS, IDAT and IEND matter for the samples.  Skipping the other
  // chunks unparsed (their CRC is still checked, as a warning) removes the code paths
  // hostile files aim at (iCCP, zTXt, sPLT...) and keeps a broken ICC profile from
  // failing a file whose pixels are intact.
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, nullptr, -1);
  png_read_info(png, info);
  png_get_IHDR(png, info, &header->width, &header->height, &header->bit_depth, &header->color_type,
               &header->interlace, nullptr, nullptr);
  return true;
}

bool set_transforms_step(png_structp png, png_infop info, const PngHeader& header,
                         PngLayout* layout) {
  if (setjmp(png_jmpbuf(png))) return false;
  if (header.color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (header.color_type == PNG_COLOR_TYPE_GRAY && header.bit_depth < 8) {
    png_set_expand_gray_1_2_4_to_8(png);
  }
  // Applies to palette, gray and RGB; libpng ignores a tRNS chunk on gray+alpha or RGBA.
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  // 16-bit samples stay big-endian (PNG order); read_png assembles them byte by byte,
  // which is correct on any host without png_set_swap.
  if (header.interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(png);
  png_read_update_info(png, info);
  layout->channels = png_get_channels(png, info);
  layout->bit_depth = png_get_bit_depth(png, info);
  layout->row_bytes = png_get_rowbytes(png, info);
  return true;
}

bool read_pixels_step(png_structp png, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  // Reads through IEND, so truncation and CRC errors after the image data are caught.
  png_read_end(png, nullptr);
  return true;
}

Status png_error_status(const std::string& name, const PngCallbackState& state) {
  return corrupt(name + ": PNG error: " + (state.error[0] ? state.error : "unknown error"));
}

// Reads IHDR straight from the bytes, so the size limits give their own clear message
// before libpng has looked at anything.  Returns false if the bytes do not start with a
// well-formed IHDR; libpng then reports the problem.
bool peek_ihdr_size(const uint8_t* data, size_t size, uint32_t* width, uint32_t* height) {
  if (size < 8 + 8 + 8) return false;
  const uint8_t* chunk = data + 8;
  auto be32 = [](const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
  };
  if (be32(chunk) != 13 || std::memcmp(chunk + 4, "IHDR", 4) != 0) return false;
  *width = be32(chunk + 8);
  *height = be32(chunk + 12);
  return true;
}

Status check_size_limits(const std::string& name, uint64_t width, uint64_t height,
                         const PngLimits& limits) {
  if (width > limits.max_width || height > limits.max_height) {
    return limit_exceeded(name + ": image " + std::to_string(width) + "x" + std::to_string(height) +
                          " exceeds the limit of " + std::to_string(limits.max_width) + "x" +
                          std::to_string(limits.max_height));
  }
  if (width * height > limits.max_pixels) {
    return limit_exceeded(name + ": image " + std::to_string(width) + "x" + std::to_string(height) +
                          " has more than " + std::to_string(limits.max_pixels) + " pixels");
  }
  return Status();
}

}  // namespace

StatusOr<Image> read_png(const uint8_t* data, size_t size, const std::string& name,
                         const PngLimits& limits) {
  if (data == nullptr || size < 8 || png_sig_cmp(data, 0, 8) != 0) {
    return corrupt(name + ": not a PNG file");
  }
  uint32_t peek_width = 0;
  uint32_t peek_height = 0;
  if (peek_ihdr_size(data, size, &peek_width, &peek_height)) {
    NIFC_RETURN_IF_ERROR(check_size_limits(name, peek_width, peek_height, limits));
  }

  PngCallbackState state;
  state.in_data = data;
  state.in_size = size;
  ReadGuard guard;
  guard.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, on_png_error, on_png_warning);
  if (guard.png == nullptr) return internal_error(name + ": cannot initialize libpng");
  guard.info = png_create_info_struct(guard.png);
  if (guard.info == nullptr) return internal_error(name + ": cannot initialize libpng");
  png_set_read_fn(guard.png, &state, read_from_memory);

  PngHeader header;
  if (!read_header_step(guard.png, guard.info, limits, &header)) {
    return png_error_status(name, state);
  }
  // Authoritative check on the values libpng parsed (the peek may have been skipped).
  NIFC_RETURN_IF_ERROR(check_size_limits(name, header.width, header.height, limits));

  PngLayout layout;
  if (!set_transforms_step(guard.png, guard.info, header, &layout)) {
    return png_error_status(name, state);
  }
  if (layout.channels < 1 || layout.channels > 4 ||
      (layout.bit_depth != 8 && layout.bit_depth != 16) ||
      layout.row_bytes != size_t{header.width} * layout.channels * (layout.bit_depth / 8)) {
    return internal_error(name + ": unexpected libpng output layout (" +
                          std::to_string(layout.channels) + " channels, " +
                          std::to_string(layout.bit_depth) + " bits)");
  }

  Image img;
  img.width = header.width;
  img.height = header.height;
  img.channels = static_cast<uint32_t>(layout.channels);
  img.bit_depth = static_cast<uint32_t>(layout.bit_depth);
  std::vector<uint8_t> bytes;
  std::vector<png_bytep> rows;
  try {
    bytes.resize(layout.row_bytes * header.height);
    rows.resize(header.height);
  } catch (const std::bad_alloc&) {
    return limit_exceeded(name + ": not enough memory for a " + std::to_string(header.width) + "x" +
                          std::to_string(header.height) + " image");
  }
  for (size_t y = 0; y < header.height; ++y) rows[y] = bytes.data() + y * layout.row_bytes;
  if (!read_pixels_step(guard.png, rows.data())) return png_error_status(name, state);

  try {
    img.samples.resize(img.pixel_count() * img.channels);
  } catch (const std::bad_alloc&) {
    return limit_exceeded(name + ": not enough memory for a " + std::to_string(header.width) + "x" +
                          std::to_string(header.height) + " image");
  }
  if (img.bit_depth == 8) {
    for (size_t i = 0; i < img.samples.size(); ++i) img.samples[i] = bytes[i];
  } else {
    for (size_t i = 0; i < img.samples.size(); ++i) {
      img.samples[i] = static_cast<uint16_t>((bytes[2 * i] << 8) | bytes[2 * i + 1]);
    }
  }
  return img;
}

namespace {

bool write_step(png_structp png, png_infop info, const Image& img, int compression_level,
                uint8_t* row) {
  if (setjmp(png_jmpbuf(png))) return false;
  static constexpr int kColorTypes[] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                        PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
  png_set_IHDR(png, info, img.width, img.height, static_cast<int>(img.bit_depth),
               kColorTypes[img.channels - 1], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, compression_level);
  png_write_info(png, info);
  const size_t row_samples = size_t{img.width} * img.channels;
  for (uint32_t y = 0; y < img.height; ++y) {
    const uint16_t* src = img.samples.data() + y * row_samples;
    // PNG stores 16-bit samples big-endian; building the bytes here is host-independent.
    if (img.bit_depth == 8) {
      for (size_t i = 0; i < row_samples; ++i) row[i] = static_cast<uint8_t>(src[i]);
    } else {
      for (size_t i = 0; i < row_samples; ++i) {
        row[2 * i] = static_cast<uint8_t>(src[i] >> 8);
        row[2 * i + 1] = static_cast<uint8_t>(src[i] & 0xff);
      }
    }
    png_write_row(png, row);
  }
  png_write_end(png, info);
  return true;
}

}  // namespace

StatusOr<std::vector<uint8_t>> write_png(const Image& img, int compression_level) {
  if (img.width == 0 || img.height == 0 || img.width > PNG_UINT_31_MAX ||
      img.height > PNG_UINT_31_MAX) {
    return invalid_argument("write_png: invalid image size " + std::to_string(img.width) + "x" +
                            std::to_string(img.height));
  }
  if (img.channels < 1 || img.channels > 4) {
    return invalid_argument("write_png: invalid channel count " + std::to_string(img.channels));
  }
  if (img.bit_depth != 8 && img.bit_depth != 16) {
    return invalid_argument("write_png: invalid bit depth " + std::to_string(img.bit_depth));
  }
  if (compression_level < 0 || compression_level > 9) {
    return invalid_argument("write_png: invalid compression level " +
                            std::to_string(compression_level));
  }
  if (img.samples.size() != img.pixel_count() * img.channels) {
    return invalid_argument("write_png: image has " + std::to_string(img.samples.size()) +
                            " samples, expected " +
                            std::to_string(img.pixel_count() * img.channels));
  }
  if (img.bit_depth == 8) {
    for (uint16_t v : img.samples) {
      if (v > 255) return invalid_argument("write_png: sample value above 255 in an 8-bit image");
    }
  }

  std::vector<uint8_t> row;
  try {
    row.resize(size_t{img.width} * img.channels * (img.bit_depth / 8));
  } catch (const std::bad_alloc&) {
    return internal_error("write_png: out of memory");
  }
  std::vector<uint8_t> out;
  PngCallbackState state;
  state.out = &out;
  WriteGuard guard;
  guard.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &state, on_png_error, on_png_warning);
  if (guard.png == nullptr) return internal_error("write_png: cannot initialize libpng");
  guard.info = png_create_info_struct(guard.png);
  if (guard.info == nullptr) return internal_error("write_png: cannot initialize libpng");
  png_set_write_fn(guard.png, &state, write_to_memory, flush_nothing);
  if (!write_step(guard.png, guard.info, img, compression_level, row.data())) {
    return internal_error(std::string("write_png: PNG error: ") +
                          (state.error[0] ? state.error : "unknown error"));
  }
  return out;
}

}  // namespace nifc
