#include "tools/nifc/cli.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <sstream>

#include "tools/io/file_io.h"
#include "tools/io/image_io.h"

namespace nifc {
namespace cli {

int fail(const std::string& file, const Status& s) {
  // Messages of the PNG and file readers already start with the path.
  const std::string m = s.to_string();
  if (m.rfind(file + ": ", 0) == 0) {
    std::fprintf(stderr, "nifc: %s\n", m.c_str());
  } else {
    std::fprintf(stderr, "nifc: %s: %s\n", file.c_str(), m.c_str());
  }
  return kExitError;
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "nifc: %s\n", message.c_str());
  return kExitUsage;
}

Json json_number(double v) {
  if (!std::isfinite(v)) return nullptr;
  // Rounded to the 6 significant digits the CLI has always printed; the JSON library then
  // writes the shortest text that reads back as that value.
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return std::strtod(buf, nullptr);
}

Json json_numbers(const std::vector<double>& v) {
  Json a = Json::array();
  for (double x : v) a.push_back(json_number(x));
  return a;
}

void print_json(FILE* to, const Json& object) {
  const std::string s = object.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::fprintf(to, "%s\n", s.c_str());
  std::fflush(to);
}

// The human name of an architecture, as --arch takes it.
std::string arch_label(const Architecture& a) {
  std::string base = a.activation == Activation::kSine ? "siren" : "relu";
  if (a.encoding == Encoding::kPositional)
    return a.activation == Activation::kSine ? "siren-pe" : "pe";
  if (a.encoding == Encoding::kFourier)
    return a.activation == Activation::kSine ? "siren-fourier" : "fourier";
  if (a.encoding == Encoding::kGrid) return "grid";
  return base;
}

std::string arch_description(const Architecture& a, uint32_t channels) {
  std::ostringstream s;
  s << arch_label(a);
  if (a.encoding == Encoding::kPositional) s << " L=" << int{a.pe_levels};
  if (a.encoding == Encoding::kFourier) s << " m=" << a.ff_features << " sigma=" << a.ff_sigma;
  if (a.encoding == Encoding::kGrid) {
    s << " " << a.grid_levels.size() << " levels x " << int{a.grid_channels} << " channels";
    if (!a.grid_levels.empty()) {
      s << " (" << a.grid_levels.front().width << "x" << a.grid_levels.front().height << " to "
        << a.grid_levels.back().width << "x" << a.grid_levels.back().height << ")";
    }
  }
  s << ", hidden";
  for (size_t i = 0; i < a.widths.size(); ++i) s << (i ? "," : " ") << a.widths[i];
  if (a.activation == Activation::kSine) s << ", omega0=" << a.omega0 << " omega=" << a.omega;
  s << ", " << parameter_count(a, channels) << " parameters";
  return s.str();
}

bool stderr_is_terminal() { return isatty(STDERR_FILENO) == 1; }

// What an encode may plan to use (EncodeOptions::max_memory_bytes): 3/4 of the kernel's
// MemAvailable estimate, read when the image and LibTorch are already loaded.  0 when
// /proc/meminfo does not say, which keeps the encoder's fixed default.
uint64_t encoder_memory_budget() {
  FILE* f = std::fopen("/proc/meminfo", "re");
  if (f == nullptr) return 0;
  char line[256];
  unsigned long long kib = 0;
  bool found = false;
  while (!found && std::fgets(line, sizeof line, f) != nullptr) {
    found = std::sscanf(line, "MemAvailable: %llu kB", &kib) == 1;
  }
  std::fclose(f);
  return found ? kib * 1024 / 4 * 3 : 0;
}

// Refuses to write the output over the input, and an existing output without -f.
Status check_output(const std::string& in, const std::string& out) {
  if (out.empty())
    return invalid_argument("no output file given (use -o FILE, or -o - for stdout)");
  if (out != "-" && in != "-" && same_file(in, out)) {
    return invalid_argument("output is the same file as the input");
  }
  return Status();
}

StatusOr<Image> load_png(const std::string& path) {
  NIFC_ASSIGN_OR_RETURN(const std::vector<uint8_t> bytes, read_file(path));
  return read_png(bytes.data(), bytes.size(), path);
}

Status save_png(const std::string& path, const Image& img, bool force) {
  if (path.empty()) return Status();
  NIFC_ASSIGN_OR_RETURN(const std::vector<uint8_t> png, write_png(img));
  const Status w = write_file_atomic(path, png.data(), png.size(), force);
  return w.ok() ? w
                : Status(w.code(),
                         w.message().rfind(path, 0) == 0 ? w.message() : path + ": " + w.message());
}

}  // namespace cli
}  // namespace nifc
