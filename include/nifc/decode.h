/* nifc decoder C API: decode .nif files (neural image codec) without LibTorch.
 *
 * Two levels, like libwebp's decode.h:
 *   - nifc_get_info() and nifc_decode(): the common case, in one call each.
 *   - nifc_decode_ex() with NifcDecoderOptions: output size or scale, region of
 *     interest, supersampling, 8/16-bit output, threads and limits.
 *
 * Ownership: the caller owns every buffer; the library keeps no pointer to
 * them after a call returns. Thread safety: every function may be called from
 * several threads at once. Nothing throws or aborts across this boundary: all
 * errors are NifcStatus values, with a message for the calling thread from
 * nifc_last_error(). Pixels are interleaved, row-major from the top-left,
 * channels as stored (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA); 16-bit samples are
 * uint16_t in host byte order.
 */
#ifndef NIFC_DECODE_H_
#define NIFC_DECODE_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define NIFC_EXPORT __attribute__((visibility("default")))
#else
#define NIFC_EXPORT
#endif

/* Bumped when NifcDecoderOptions gains fields (old callers keep working: the
 * library reads only the first struct_size bytes they pass). */
#define NIFC_DECODER_ABI_VERSION 1

/* Stable numbers; new codes are only ever appended. */
typedef enum NifcStatus {
  NIFC_OK = 0,
  NIFC_INVALID_ARGUMENT = 1, /* a null pointer, a bad option, a buffer too small */
  NIFC_CORRUPT = 2,          /* not a valid .nif (magic, truncation, checksum) */
  NIFC_UNSUPPORTED = 3,      /* a newer major version or unknown required feature */
  NIFC_LIMIT = 4,            /* a size or count beyond the limits in the options */
  NIFC_IO = 5,
  NIFC_INTERNAL = 6,
  NIFC_CANCELLED = 7
} NifcStatus;

/* A static English name for a status ("corrupt"); never NULL. */
NIFC_EXPORT const char* nifc_status_string(NifcStatus status);

/* The message of the last failed call on this thread ("checksum mismatch in
 * section WGTS"), or "" if none. Valid until the next call on this thread. */
NIFC_EXPORT const char* nifc_last_error(void);

typedef struct NifcInfo {
  uint32_t width;  /* stored size, pixels */
  uint32_t height;
  uint32_t channels;         /* 1..4 */
  uint32_t source_bit_depth; /* 8 or 16 */
  uint32_t version_major;
  uint32_t version_minor;
  uint32_t bits;            /* quantization bits per weight */
  uint64_t parameters;      /* network weights and biases (all tiles of a tiled file) */
  uint64_t macs_per_pixel;  /* multiply-adds per decoded sample point (per tile network;
                               the largest tile's in a tiled file, SPEC.md §11) */
} NifcInfo;

/* Reads the header of a .nif held in data[0..size) without decoding weights. */
NIFC_EXPORT NifcStatus nifc_get_info(const uint8_t* data, size_t size, NifcInfo* info);

/* Decodes at width x height (both 0: the stored size; one 0: keep the aspect
 * ratio) as 8-bit samples into out, whose rows start stride_bytes apart
 * (stride_bytes >= width * channels). out_size is the buffer's size in bytes;
 * too small is NIFC_INVALID_ARGUMENT. Use nifc_output_size() to learn the
 * size when one dimension is 0. */
NIFC_EXPORT NifcStatus nifc_decode(const uint8_t* data, size_t size, uint32_t width,
                                   uint32_t height, uint8_t* out, size_t stride_bytes,
                                   size_t out_size);

typedef struct NifcDecoderOptions {
  size_t struct_size;  /* sizeof(NifcDecoderOptions), set by nifc_init_decoder_options */
  uint32_t width;      /* output grid, as in nifc_decode */
  uint32_t height;
  uint32_t region_x;   /* region of the output grid to produce; region_width 0 = all */
  uint32_t region_y;
  uint32_t region_width;
  uint32_t region_height;
  uint32_t supersample; /* S x S samples per pixel, averaged; 1 = none (max 16) */
  uint32_t bit_depth;   /* 8 or 16 */
  uint32_t threads;     /* 0 = all hardware threads */
  uint64_t max_output_pixels; /* refuse larger outputs before allocating */
  uint64_t max_parameters;    /* refuse larger networks before allocating */
  uint32_t max_stored_width;  /* refuse files declaring a larger image */
  uint32_t max_stored_height;
} NifcDecoderOptions;

/* Fills defaults: stored size, whole image, no supersampling, 8-bit, all
 * threads, at most 2^28 output pixels, 2^24 parameters, 65536 x 65536. */
NIFC_EXPORT void nifc_init_decoder_options(NifcDecoderOptions* options);

/* The region's size in pixels for these options (what nifc_decode_ex writes). */
NIFC_EXPORT NifcStatus nifc_output_size(const uint8_t* data, size_t size,
                                        const NifcDecoderOptions* options, uint32_t* width,
                                        uint32_t* height);

/* Decodes per options into out (uint8_t or uint16_t samples by bit_depth),
 * rows stride_bytes apart, out_size bytes available. */
NIFC_EXPORT NifcStatus nifc_decode_ex(const uint8_t* data, size_t size,
                                      const NifcDecoderOptions* options, void* out,
                                      size_t stride_bytes, size_t out_size);

#ifdef __cplusplus
}
#endif

#endif /* NIFC_DECODE_H_ */
