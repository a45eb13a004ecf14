// nifc decode: a .nif file to PNG, at its stored size or any other size or region.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "codec/decoder/decoder.h"
#include "format/nif_format.h"
#include "tools/io/file_io.h"
#include "tools/io/image_io.h"
#include "tools/nifc/cli.h"

namespace nifc {
namespace cli {

int run_decode(const DecodeArgs& a) {
  const Status out_ok = check_output(a.in, a.out);
  if (!out_ok.ok()) return fail(a.in, out_ok);
  StatusOr<std::vector<uint8_t>> bytes = read_file(a.in);
  if (!bytes.ok()) return fail(a.in, bytes.status());
  StatusOr<NifFile> f = parse_nif(bytes->data(), bytes->size());
  if (!f.ok()) return fail(a.in, f.status());
  DecodeOptions o;
  o.width = a.width;
  o.height = a.height;
  if (a.scale > 0) {
    if (a.width || a.height)
      return fail(a.in, invalid_argument("--scale excludes --width/--height"));
    const double w = std::round(f->width * a.scale), h = std::round(f->height * a.scale);
    if (w < 1 || h < 1 || w > (1u << 24) || h > (1u << 24)) {
      return fail(a.in, invalid_argument("--scale gives an empty or huge output"));
    }
    o.width = static_cast<uint32_t>(w);
    o.height = static_cast<uint32_t>(h);
  }
  if (!a.region.empty()) {
    if (a.region.size() != 4) return fail(a.in, invalid_argument("--region takes X,Y,W,H"));
    o.region_x = a.region[0];
    o.region_y = a.region[1];
    o.region_width = a.region[2];
    o.region_height = a.region[3];
  }
  o.supersample = a.supersample;
  o.bit_depth = a.depth ? a.depth : f->source_bit_depth;
  o.threads = a.threads;
  const auto t0 = std::chrono::steady_clock::now();
  StatusOr<Image> img = decode_nif(f.value(), o);
  if (!img.ok()) return fail(a.in, img.status());
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  StatusOr<std::vector<uint8_t>> png = write_png(img.value());
  if (!png.ok()) return fail(a.out, png.status());
  const Status w = write_file_atomic(a.out, png->data(), png->size(), a.force);
  if (!w.ok()) return fail(a.out, w);
  if (!a.quiet) {
    std::fprintf(stderr, "%s: decoded %ux%u in %.1f ms -> %s\n", a.in.c_str(), img->width,
                 img->height, ms, a.out.c_str());
  }
  return 0;
}

}  // namespace cli
}  // namespace nifc
