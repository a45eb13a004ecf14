// PNG reading and writing for the nifc tools (libpng 1.6, in-memory buffers).
//
// Image I/O is a tool concern: nothing in format/ or codec/ includes this header.
// Both functions are thread-safe: each call owns its libpng structures and touches no
// global state.
#ifndef NIFC_TOOLS_IO_IMAGE_IO_H_
#define NIFC_TOOLS_IO_IMAGE_IO_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "codec/decoder/image.h"
#include "format/status.h"

namespace nifc {

// Limits against hostile input, checked against the IHDR chunk before any pixel memory
// is allocated.
struct PngLimits {
  uint32_t max_width = 1u << 16;
  uint32_t max_height = 1u << 16;
  uint64_t max_pixels = 1ull << 28;  // width * height
  // Largest ancillary chunk libpng may buffer (text, ICC profiles, unknown chunks).
  size_t max_chunk_bytes = 8u << 20;
};

// Decodes the PNG file held in data[0, size).  `name` is used only in error messages
// ("input.png: not a PNG file").  Every PNG color type, bit depth and interlace method is
// accepted; the result has:
//   - channels 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA).  Palette images become RGB,
//     or RGBA when they have a tRNS chunk; a tRNS chunk on a gray or RGB image adds an
//     alpha channel (0 where the pixel equals the transparent color, max elsewhere).
//   - bit_depth 16 for 16-bit files, 8 for everything else; gray of depth 1, 2 and 4 is
//     scaled to 0..255 (so 1-bit white is 255).
//   - the stored sample values: gamma, chromaticities, ICC profiles and sBIT are ignored.
// Ancillary chunks are skipped unread, so damage confined to them (bad CRC, bad ICC
// profile) does not prevent decoding; damage to IHDR, PLTE, tRNS, IDAT or IEND does.
// Errors (the message is one line that starts with `name: `):
//   kCorrupt  not a PNG file, truncated, CRC or zlib errors, invalid chunks;
//   kLimit    the image is larger than `limits`, or its pixels do not fit in memory.
// The caller keeps ownership of `data`.
StatusOr<Image> read_png(const uint8_t* data, size_t size, const std::string& name,
                         const PngLimits& limits = PngLimits());

// Encodes `img` (channels 1..4, bit_depth 8 or 16, samples.size() == width * height *
// channels, every sample <= img.max_value()) as a non-interlaced PNG with zlib
// compression level `compression_level` (0..9).  Returns kInvalidArgument for an image
// that breaks those rules, kInternal if libpng fails.
StatusOr<std::vector<uint8_t>> write_png(const Image& img, int compression_level = 6);

}  // namespace nifc

#endif  // NIFC_TOOLS_IO_IMAGE_IO_H_
