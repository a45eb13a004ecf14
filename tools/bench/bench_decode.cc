// nifc-bench-decode: how fast the torch-free decoder runs, against this
// machine's measured multiply-add peak.
//
//   nifc-bench-decode FILE.nif [--width W --height H] [--region X,Y,W,H]
//                     [--supersample S] [--threads N] [--repeat R]
//
// Decodes FILE R times (after one warm-up) and reports the best time, the
// megapixels per second, the achieved GFLOP/s counting 2 * macs_per_point()
// per pixel (the linear layers only), and the peak GFLOP/s of a register-only
// fused multiply-add loop with the decoder's instruction set on the same
// number of threads, measured in the same run.  The last line is
//   ms=... mp_s=... gflops=... peak_gflops=... pct_of_peak=...
// A latent-grid file's cost is not all multiply-adds: each point also reads
// 4 corners x channels latents per level.  For those, a line before the last
// gives that part its own bound, the latent bytes read against this machine's
// streaming read bandwidth (measured in the same run, same threads), and the
// time both bounds together allow:
//   grid: latent_bytes=... gb_s=... mem_bw_gb_s=... pct_of_bw=... bound_ms=... pct_of_bound=...
// Before the last line, the time to parse the file (its entropy decoding included) and
// the total of both:
//   parse: parse_ms=... total_ms=...
// NIFC_ISA=sse2|avx2 caps the instruction set of both.  Exit status: 0, 1 on
// an error, 2 on a usage error.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "codec/decoder/decoder.h"
#include "codec/decoder/kernels.h"
#include "format/nif_format.h"
#include "tools/bench/peak.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__) && defined(__GNUC__)
#define NIFC_BENCH_X86 1
#include <immintrin.h>
#endif

namespace nifc {
namespace {

using Clock = std::chrono::steady_clock;

// ----------------------------------------------------------- bandwidth ----
struct Bandwidth {
  double gb_s = 0;          // wall clock, best run
  double gb_per_cpu_s = 0;  // per CPU-second (insensitive to other load)
};

// GB/s of `threads` threads summing disjoint slices of a 256 MiB buffer (far
// beyond the caches), best of `runs`: the streaming read bandwidth.
Bandwidth measure_read_bandwidth(int threads, int runs) {
  const size_t n = size_t{32} << 20;  // uint64_t words
  std::vector<uint64_t> buf(n);
  for (size_t i = 0; i < n; ++i) buf[i] = i;  // touch every page before timing
  volatile uint64_t sink = 0;
  Bandwidth best;
  for (int r = 0; r < runs; ++r) {
    std::vector<std::thread> pool;
    std::vector<uint64_t> sums(threads, 0);
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const size_t lo = n * t / threads, hi = n * (t + 1) / threads;
        uint64_t a = 0, b = 0, c = 0, d = 0;
        for (size_t i = lo; i + 4 <= hi; i += 4) {
          a += buf[i];
          b += buf[i + 1];
          c += buf[i + 2];
          d += buf[i + 3];
        }
        sums[t] = a + b + c + d;
      });
    }
    for (std::thread& th : pool) th.join();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = cpu_seconds() - c0;
    for (uint64_t v : sums) sink = sink + v;
    best.gb_s = std::max(best.gb_s, n * sizeof(uint64_t) / s * 1e-9);
    best.gb_per_cpu_s = std::max(best.gb_per_cpu_s, n * sizeof(uint64_t) / cpu * 1e-9);
  }
  return best;
}

// ---------------------------------------------------------------- main ----
int usage(const char* msg) {
  std::fprintf(stderr,
               "nifc-bench-decode: %s\n"
               "usage: nifc-bench-decode FILE.nif [--width W --height H] [--region X,Y,W,H] "
               "[--supersample S] [--threads N] "
               "[--repeat R]\n",
               msg);
  return 2;
}

bool parse_uint(const char* s, uint32_t max, uint32_t* out) {
  char* end = nullptr;
  const unsigned long v = std::strtoul(s, &end, 10);
  if (end == s || *end != '\0' || s[0] == '-' || v > max) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

int run(int argc, char** argv) {
  std::string path;
  uint32_t width = 0, height = 0, threads = 0, repeat = 5, supersample = 1;
  uint32_t region[4] = {0, 0, 0, 0};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](uint32_t max, uint32_t* out) {
      return i + 1 < argc && parse_uint(argv[++i], max, out);
    };
    if (a == "-h" || a == "--help") {
      usage("decode benchmark");
      return 0;
    } else if (a == "--width") {
      if (!value(1u << 24, &width)) return usage("--width takes a number");
    } else if (a == "--height") {
      if (!value(1u << 24, &height)) return usage("--height takes a number");
    } else if (a == "--region") {
      // X,Y,W,H of the output grid
      if (i + 1 >= argc || std::sscanf(argv[++i], "%u,%u,%u,%u", &region[0], &region[1], &region[2],
                                       &region[3]) != 4) {
        return usage("--region takes X,Y,W,H");
      }
    } else if (a == "--supersample") {
      if (!value(16, &supersample) || supersample == 0) return usage("--supersample takes 1..16");
    } else if (a == "--threads") {
      if (!value(4096, &threads)) return usage("--threads takes a number");
    } else if (a == "--repeat") {
      if (!value(100000, &repeat) || repeat == 0) return usage("--repeat takes a positive number");
    } else if (!a.empty() && a[0] == '-') {
      return usage(("unknown option " + a).c_str());
    } else if (path.empty()) {
      path = a;
    } else {
      return usage("more than one input file");
    }
  }
  if (path.empty()) return usage("no input file");

  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "nifc-bench-decode: %s: cannot open\n", path.c_str());
    return 1;
  }
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  StatusOr<NifFile> file = parse_nif(bytes.data(), bytes.size());
  if (!file.ok()) {
    std::fprintf(stderr, "nifc-bench-decode: %s: %s\n", path.c_str(),
                 file.status().to_string().c_str());
    return 1;
  }
  // A tiled file (SPEC.md §11): the FLOP count uses the first tile's network (tiles of one
  // file have the same architecture unless rate control resized them).
  StatusOr<Network> net = Network::create(file->tiled() ? file->tiles[0] : file.value());
  if (!net.ok()) {
    std::fprintf(stderr, "nifc-bench-decode: %s: %s\n", path.c_str(),
                 net.status().to_string().c_str());
    return 1;
  }
  DecodeOptions o;
  o.width = width;
  o.height = height;
  o.threads = static_cast<int>(threads);
  o.region_x = region[0];
  o.region_y = region[1];
  o.region_width = region[2];
  o.region_height = region[3];
  o.supersample = supersample;
  const int used_threads = threads > 0
                               ? static_cast<int>(threads)
                               : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));

  double best_ms = 0, best_cpu_s = 0;
  uint64_t pixels = 0;
  for (uint32_t r = 0; r <= repeat; ++r) {  // r == 0: warm-up
    const double c0 = cpu_seconds();
    const auto t0 = Clock::now();
    StatusOr<Image> img = decode_nif(file.value(), o);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    const double cpu_s = cpu_seconds() - c0;
    if (!img.ok()) {
      std::fprintf(stderr, "nifc-bench-decode: %s: %s\n", path.c_str(),
                   img.status().to_string().c_str());
      return 1;
    }
    pixels = img->pixel_count();
    if (r == 1 || (r > 1 && ms < best_ms)) best_ms = ms;
    if (r == 1 || (r > 1 && cpu_s < best_cpu_s)) best_cpu_s = cpu_s;
  }
  // Parsing the file: the checks, and for a range-coded file (SPEC.md §6.5) the entropy
  // decoding of every weight and latent; one thread, best of the same repeats.
  double parse_ms = 0;
  for (uint32_t r = 0; r <= repeat; ++r) {
    const auto t0 = Clock::now();
    const StatusOr<NifFile> again = parse_nif(bytes.data(), bytes.size());
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!again.ok()) return 1;  // (it parsed above)
    if (r == 1 || (r > 1 && ms < parse_ms)) parse_ms = ms;
  }
  const internal::Isa isa = internal::best_isa();
  const Peak peak_run = measure_peak(isa, used_threads, 3);
  const double peak = peak_run.gflops;
  const double flops =
      2.0 * static_cast<double>(net->macs_per_point()) * pixels * supersample * supersample;
  const double gflops = flops / (best_ms * 1e-3) * 1e-9;
  // Per CPU-second: on a machine shared with other jobs the wall-clock
  // figures drop with the share of the cores this process got; these do not.
  const double cpu_gflops = flops / best_cpu_s * 1e-9;
  std::printf(
      "cpu_time: decode_cpu_ms=%.2f gflops_per_cpu_s=%.1f peak_per_cpu_s=%.1f "
      "pct_of_peak=%.1f\n",
      best_cpu_s * 1e3, cpu_gflops, peak_run.gflops_per_cpu,
      100.0 * cpu_gflops / peak_run.gflops_per_cpu);
  std::printf("%s: %llu pixels, %llu MACs per pixel, isa %s, %d thread(s), best of %u\n",
              path.c_str(), static_cast<unsigned long long>(pixels),
              static_cast<unsigned long long>(net->macs_per_point()), internal::isa_name(isa),
              used_threads, repeat);
  const Architecture& arch = file->arch;
  if (arch.encoding == Encoding::kGrid) {
    // Bilinear lookups: 4 corners x channels floats per level per point.
    const double bytes = 4.0 * arch.grid_channels * sizeof(float) * arch.grid_levels.size() *
                         static_cast<double>(pixels) * supersample * supersample;
    const Bandwidth bw = measure_read_bandwidth(used_threads, 3);
    // The time the two bounds allow (multiply-adds at the FMA peak, latents at
    // the read bandwidth) as a share of the time taken; per CPU-second too.
    const double bound_ms = (flops / (peak * 1e9) + bytes / (bw.gb_s * 1e9)) * 1e3;
    const double bound_cpu_ms =
        (flops / (peak_run.gflops_per_cpu * 1e9) + bytes / (bw.gb_per_cpu_s * 1e9)) * 1e3;
    std::printf(
        "grid: latent_bytes=%.0f gb_s=%.2f mem_bw_gb_s=%.2f pct_of_bw=%.1f bound_ms=%.2f "
        "pct_of_bound=%.1f gb_per_cpu_s=%.2f mem_bw_per_cpu_s=%.2f pct_of_bound_cpu=%.1f\n",
        bytes, bytes / (best_ms * 1e-3) * 1e-9, bw.gb_s,
        100.0 * bytes / (best_ms * 1e-3) * 1e-9 / bw.gb_s, bound_ms, 100.0 * bound_ms / best_ms,
        bytes / best_cpu_s * 1e-9, bw.gb_per_cpu_s, 100.0 * bound_cpu_ms / (best_cpu_s * 1e3));
  }
  std::printf(
      "parse: parse_ms=%.2f total_ms=%.2f (parse_ms: the file read into weights, "
      "entropy decoding included, one thread; total_ms: parse_ms + ms)\n",
      parse_ms, parse_ms + best_ms);
  std::printf("ms=%.2f mp_s=%.2f gflops=%.1f peak_gflops=%.1f pct_of_peak=%.1f\n", best_ms,
              pixels / (best_ms * 1e-3) * 1e-6, gflops, peak, 100.0 * gflops / peak);
  return 0;
}

}  // namespace
}  // namespace nifc

int main(int argc, char** argv) { return nifc::run(argc, argv); }
