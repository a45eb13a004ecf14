// The C API of include/nifc/decode.h over parse_nif() and decode_nif().
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <new>
#include <string>

#include "codec/decoder/decoder.h"
#include "format/nif_format.h"
#include "nifc/decode.h"

namespace {

thread_local std::string g_last_error;

NifcStatus report(const nifc::Status& s) {
  g_last_error = s.ok() ? std::string() : s.to_string();
  return static_cast<NifcStatus>(s.code());  // the codes share their numbers
}

NifcStatus bad_argument(const char* what) {
  g_last_error = what;
  return NIFC_INVALID_ARGUMENT;
}

// Copies the caller's options, honouring a smaller struct_size from older callers.
bool read_options(const NifcDecoderOptions* in, NifcDecoderOptions* out) {
  nifc_init_decoder_options(out);
  if (in == nullptr) return true;
  // Every field of ABI version 1 must be present; later versions append fields.
  constexpr size_t kVersion1Size = offsetof(NifcDecoderOptions, max_stored_height) + 4;
  if (in->struct_size < kVersion1Size) return false;
  std::memcpy(out, in, std::min(in->struct_size, sizeof(NifcDecoderOptions)));
  out->struct_size = sizeof(NifcDecoderOptions);
  return true;
}

nifc::NifLimits limits_of(const NifcDecoderOptions& o) {
  nifc::NifLimits l;
  l.max_parameters = o.max_parameters;
  l.max_width = o.max_stored_width;
  l.max_height = o.max_stored_height;
  return l;
}

nifc::DecodeOptions decode_options_of(const NifcDecoderOptions& o) {
  nifc::DecodeOptions d;
  d.width = o.width;
  d.height = o.height;
  d.region_x = o.region_x;
  d.region_y = o.region_y;
  d.region_width = o.region_width;
  d.region_height = o.region_height;
  d.supersample = o.supersample;
  d.bit_depth = o.bit_depth;
  d.threads = static_cast<int>(std::min<uint32_t>(o.threads, 1024));
  d.max_output_pixels = o.max_output_pixels;
  return d;
}

NifcStatus decode_into(const uint8_t* data, size_t size, const NifcDecoderOptions& o, void* out,
                       size_t stride_bytes, size_t out_size) {
  if (data == nullptr || out == nullptr) return bad_argument("null pointer");
  nifc::StatusOr<nifc::NifFile> f = nifc::parse_nif(data, size, limits_of(o));
  if (!f.ok()) return report(f.status());
  const nifc::DecodeOptions d = decode_options_of(o);
  nifc::StatusOr<nifc::OutputGrid> g = nifc::resolve_output_grid(f.value(), d);
  if (!g.ok()) return report(g.status());
  const size_t sample_bytes = d.bit_depth == 16 ? 2 : 1;
  const size_t row_bytes = static_cast<size_t>(g->region_width) * f->channels * sample_bytes;
  if (stride_bytes < row_bytes) return bad_argument("stride smaller than a row");
  const size_t needed = stride_bytes * (g->region_height - 1) + row_bytes;
  if (out_size < needed) return bad_argument("output buffer too small");
  nifc::StatusOr<nifc::Image> img = nifc::decode_nif(f.value(), d);
  if (!img.ok()) return report(img.status());
  const size_t row_samples = static_cast<size_t>(img->width) * img->channels;
  for (uint32_t y = 0; y < img->height; ++y) {
    const uint16_t* src = img->samples.data() + y * row_samples;
    uint8_t* dst = static_cast<uint8_t*>(out) + y * stride_bytes;
    if (sample_bytes == 1) {
      for (size_t i = 0; i < row_samples; ++i) dst[i] = static_cast<uint8_t>(src[i]);
    } else {
      std::memcpy(dst, src, row_samples * 2);
    }
  }
  return report(nifc::Status());
}

}  // namespace

extern "C" {

const char* nifc_status_string(NifcStatus status) {
  if (static_cast<int>(status) < 0 || static_cast<int>(status) > 7) return "unknown status";
  return nifc::status_code_name(static_cast<nifc::StatusCode>(status));
}

const char* nifc_last_error(void) { return g_last_error.c_str(); }

void nifc_init_decoder_options(NifcDecoderOptions* o) {
  if (o == nullptr) return;
  std::memset(o, 0, sizeof(*o));
  o->struct_size = sizeof(NifcDecoderOptions);
  o->supersample = 1;
  o->bit_depth = 8;
  o->max_output_pixels = 1ull << 28;
  o->max_parameters = 1ull << 24;
  o->max_stored_width = 1u << 16;
  o->max_stored_height = 1u << 16;
}

NifcStatus nifc_get_info(const uint8_t* data, size_t size, NifcInfo* info) try {
  if (data == nullptr || info == nullptr) return bad_argument("null pointer");
  nifc::StatusOr<nifc::NifFile> f = nifc::parse_nif_header(data, size);
  if (!f.ok()) return report(f.status());
  info->width = f->width;
  info->height = f->height;
  info->channels = f->channels;
  info->source_bit_depth = f->source_bit_depth;
  info->version_major = f->version_major;
  info->version_minor = f->version_minor;
  info->bits = f->bits;
  info->parameters = nifc::file_parameter_count(f.value());
  // A tiled file (SPEC.md §11): the largest tile network's cost per point.
  const auto macs_of = [](const nifc::NifFile& net) {
    uint64_t m = 0;
    for (const nifc::LayerShape& s : nifc::layer_shapes(net.arch, net.channels)) {
      m += uint64_t{s.in} * s.out;
    }
    return m;
  };
  uint64_t macs = f->tiled() ? 0 : macs_of(f.value());
  for (const nifc::NifFile& tile : f->tiles) macs = std::max(macs, macs_of(tile));
  info->macs_per_pixel = macs;
  return report(nifc::Status());
} catch (const std::bad_alloc&) {
  return report(nifc::limit_exceeded("out of memory"));
} catch (...) {
  return report(nifc::internal_error("unexpected exception"));
}

NifcStatus nifc_output_size(const uint8_t* data, size_t size, const NifcDecoderOptions* options,
                            uint32_t* width, uint32_t* height) try {
  if (data == nullptr || width == nullptr || height == nullptr) {
    return bad_argument("null pointer");
  }
  NifcDecoderOptions o;
  if (!read_options(options, &o)) return bad_argument("options struct_size too small");
  nifc::StatusOr<nifc::NifFile> f = nifc::parse_nif_header(data, size, limits_of(o));
  if (!f.ok()) return report(f.status());
  nifc::StatusOr<nifc::OutputGrid> g = nifc::resolve_output_grid(f.value(), decode_options_of(o));
  if (!g.ok()) return report(g.status());
  *width = g->region_width;
  *height = g->region_height;
  return report(nifc::Status());
} catch (...) {
  return report(nifc::internal_error("unexpected exception"));
}

NifcStatus nifc_decode(const uint8_t* data, size_t size, uint32_t width, uint32_t height,
                       uint8_t* out, size_t stride_bytes, size_t out_size) try {
  NifcDecoderOptions o;
  nifc_init_decoder_options(&o);
  o.width = width;
  o.height = height;
  return decode_into(data, size, o, out, stride_bytes, out_size);
} catch (const std::bad_alloc&) {
  return report(nifc::limit_exceeded("out of memory"));
} catch (...) {
  return report(nifc::internal_error("unexpected exception"));
}

NifcStatus nifc_decode_ex(const uint8_t* data, size_t size, const NifcDecoderOptions* options,
                          void* out, size_t stride_bytes, size_t out_size) try {
  NifcDecoderOptions o;
  if (!read_options(options, &o)) return bad_argument("options struct_size too small");
  return decode_into(data, size, o, out, stride_bytes, out_size);
} catch (const std::bad_alloc&) {
  return report(nifc::limit_exceeded("out of memory"));
} catch (...) {
  return report(nifc::internal_error("unexpected exception"));
}

}  // extern "C"
