// The nifc CLI's shared parts: exit codes, error lines, JSON output, the human names of
// networks, output checks, PNG files, and each command's arguments and entry point (one
// .cc file per command; main.cc declares the options).  Thin by
// design (README "Layout"): it parses arguments, reads and writes files and prints; the
// codec (codec/) does the work and decides the policy (codec/encoder/presets.h).
#ifndef NIFC_TOOLS_NIFC_CLI_H_
#define NIFC_TOOLS_NIFC_CLI_H_

#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "codec/applications/applications.h"
#include "codec/decoder/image.h"
#include "codec/encoder/options.h"
#include "codec/encoder/presets.h"
#include "format/nif_format.h"
#include "format/status.h"

namespace nifc {
namespace cli {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

// "nifc: FILE: message" on stderr; returns kExitError.
int fail(const std::string& file, const Status& s);
// "nifc: message" on stderr; returns kExitUsage.
int usage_error(const std::string& message);

// JSON output: objects keep the order their keys are set in.
using Json = nlohmann::ordered_json;
// A number as the CLI prints it: 6 significant digits; null when not finite.
Json json_number(double v);
Json json_numbers(const std::vector<double>& v);
// One object per line on `to`, flushed (invalid UTF-8 in strings is replaced).
void print_json(FILE* to, const Json& object);

// The human name of an architecture, as --arch takes it.
std::string arch_label(const Architecture& a);
// "siren-pe L=8, hidden 48,48, omega0=30 omega=30, 10755 parameters" and the like.
std::string arch_description(const Architecture& a, uint32_t channels);

bool stderr_is_terminal();
// What an encode may plan to use (EncodeOptions::max_memory_bytes): 3/4 of the kernel's
// MemAvailable estimate; 0 when /proc/meminfo does not say.
uint64_t encoder_memory_budget();
// Refuses to write the output over the input, and an empty output name.
Status check_output(const std::string& in, const std::string& out);
StatusOr<Image> load_png(const std::string& path);
// Writes `img` as a PNG at `path` atomically; nothing for an empty path.
Status save_png(const std::string& path, const Image& img, bool force);

// ---- commands: the arguments main.cc fills, the entry points each command file defines --

struct InfoArgs {
  std::string in;
  bool json = false;
};
int run_info(const InfoArgs& a);

struct DecodeArgs {
  std::string in, out;
  bool force = false;
  bool quiet = false;
  uint32_t width = 0, height = 0;
  double scale = 0.0;
  std::vector<uint32_t> region;
  uint32_t supersample = 1;
  uint32_t depth = 0;
  int threads = 0;
};
int run_decode(const DecodeArgs& a);

// Images encoded at once by default in a batch (--jobs): measured on this 2-core machine,
// see README "Batch encoding".
constexpr int kDefaultJobs = 1;

struct EncodeArgs {
  std::vector<std::string> inputs;  // one or more PNGs
  std::string in, out;              // the image being encoded and its output
  std::string out_dir;              // DIR/<stem>.nif per input
  int jobs = 0;                     // images encoded at once (0: automatic)
  bool progress_line = true;        // off in concurrent batches (the lines would mix)
  bool force = false, quiet = false, json = false;
  std::string curve;      // CSV of step,psnr_db at each evaluation
  EncodeRequest request;  // the network, target, fit and tile options
};
int run_encode(EncodeArgs& a);

// poisson, blend, inpaint.
struct ApplicationArgs {
  std::vector<std::string> inputs;  // the PNGs read
  std::string out, png;
  bool force = false, quiet = false, json = false;
  NetworkChoice net;  // architecture, as `encode` takes it
  EncodeOptions opt;  // fitting options, as `encode` takes them
  // poisson
  std::string from = "gradient";
  // blend
  bool no_warm_start = false;
  std::string rule;  // max | mask; default: mask when --mask is given, else max
  // blend and inpaint
  std::string mask;
  // inpaint
  uint64_t keep = 0;
  bool keep_given = false;
  ApplicationOptions app;
  std::string nearest_png, linear_png, known_png;
};
int run_poisson(ApplicationArgs& a);
int run_blend(ApplicationArgs& a);
int run_inpaint(ApplicationArgs& a);

}  // namespace cli
}  // namespace nifc

#endif  // NIFC_TOOLS_NIFC_CLI_H_
