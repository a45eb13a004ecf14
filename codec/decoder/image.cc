#include "codec/decoder/image.h"

#include <cmath>
#include <limits>

namespace nifc {

double psnr_db(const Image& a, const Image& b) {
  if (a.width != b.width || a.height != b.height || a.channels != b.channels ||
      a.bit_depth != b.bit_depth || a.samples.size() != b.samples.size() || a.samples.empty()) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  double se = 0.0;
  for (size_t i = 0; i < a.samples.size(); ++i) {
    const double d = static_cast<double>(a.samples[i]) - b.samples[i];
    se += d * d;
  }
  if (se == 0.0) return std::numeric_limits<double>::infinity();
  const double peak = a.max_value();
  return 10.0 * std::log10(peak * peak * a.samples.size() / se);
}

double mse_to_psnr(double mse) { return mse > 0 ? -10.0 * std::log10(mse) : 99.0; }

}  // namespace nifc
