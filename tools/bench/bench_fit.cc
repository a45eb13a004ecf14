// nifc-bench-fit: how fast a grid fit's training step runs, against this machine's
// measured multiply-add peak.
//
//   nifc-bench-fit IMAGE.png [--steps N] [--warmup W] [--threads T,...] [--repeat R]
//                  [--torch-step] [--grid-levels L] [--grid-channels C] [--hidden H]
//                  [--layers N]
//
// For each thread count (default: 1 and all cores) it fits the grid architecture of
// `nifc encode --arch grid` (with the options given) for W + N whole-image steps and times
// the last N of them, wall clock and CPU time, from the encoder's per-step callback (no
// evaluation runs inside them).  The FLOPs of a step are counted from the architecture
// (grid_step_flops: the MLP's forward, input gradient and weight gradient, the latents'
// interpolation and its transpose, the loss, the rate term and Adam), and compared with
// the peak of a register-only multiply-add loop on the same threads, measured in the same
// run.  One line per thread count:
//   threads=T ms_per_step=... cpu_ms_per_step=... gflop_per_step=... gflops=...
//   gflops_per_cpu_s=... peak_gflops=... pct_of_peak=... peak_per_cpu_s=...
//   pct_of_peak_per_cpu_s=... path=fused|torch isa=...
// pct_of_peak_per_cpu_s divides by CPU seconds (insensitive to other load on the machine);
// pct_of_peak by wall seconds.  With --repeat R the thread counts run R times, taking
// turns (so that a slow spell of a shared machine does not fall on one of them alone),
// and a last line per thread count gives the median and the fastest run, and the
// median's speed-up over the first thread count's:
//   summary threads=T runs=R median_ms_per_step=... min_ms_per_step=... speedup=...  Exit status:
//   0, 1 on an error, 2 on a usage error.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "codec/encoder/encoder.h"
#include "codec/encoder/grid_step.h"
#include "codec/encoder/presets.h"
#include "tools/bench/peak.h"
#include "tools/io/file_io.h"
#include "tools/io/image_io.h"

namespace nifc {
namespace {

int usage() {
  std::fprintf(stderr,
               "usage: nifc-bench-fit IMAGE.png [--steps N] [--warmup W] [--threads T,...] "
               "[--repeat R] [--torch-step] [--grid-levels L] [--grid-channels C] [--hidden H] "
               "[--layers N]\n");
  return 2;
}

struct Timing {
  double wall_s = 0, cpu_s = 0;
};

int run(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string path = argv[1];
  int steps = 40, warmup = 5, repeat = 1;
  std::vector<int> threads_list;
  EncodeRequest request;
  request.net.arch = "grid";
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--torch-step") {
      request.options.fused_step = false;
    } else if (a == "--steps" && has_value) {
      steps = std::atoi(argv[++i]);
    } else if (a == "--repeat" && has_value) {
      repeat = std::atoi(argv[++i]);
    } else if (a == "--warmup" && has_value) {
      warmup = std::atoi(argv[++i]);
    } else if (a == "--threads" && has_value) {
      for (const char* p = argv[++i]; *p;) {
        threads_list.push_back(std::atoi(p));
        while (*p && *p != ',') ++p;
        if (*p == ',') ++p;
      }
    } else if (a == "--grid-levels" && has_value) {
      request.net.grid_levels = std::atoi(argv[++i]);
    } else if (a == "--grid-channels" && has_value) {
      request.net.grid_channels = std::atoi(argv[++i]);
    } else if (a == "--hidden" && has_value) {
      request.net.hidden = std::atoi(argv[++i]);
    } else if (a == "--layers" && has_value) {
      request.net.layers = std::atoi(argv[++i]);
    } else {
      return usage();
    }
  }
  if (steps < 1 || warmup < 0 || repeat < 1) return usage();
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (threads_list.empty())
    threads_list = cores > 1 ? std::vector<int>{1, cores} : std::vector<int>{1};
  for (int t : threads_list) {
    if (t < 1) return usage();
  }

  StatusOr<std::vector<uint8_t>> bytes = read_file(path);
  if (!bytes.ok()) {
    std::fprintf(stderr, "nifc-bench-fit: %s\n", bytes.status().to_string().c_str());
    return 1;
  }
  StatusOr<Image> image = read_png(bytes->data(), bytes->size(), path);
  if (!image.ok()) {
    std::fprintf(stderr, "nifc-bench-fit: %s\n", image.status().to_string().c_str());
    return 1;
  }
  request.options.steps = warmup + steps;
  request.options.eval_every = 1 << 24;  // evaluations only after the last step
  request.steps_given = true;
  EncodePlan plan;
  const Status planned = plan_encode(request, image->width, image->height, &plan);
  if (!planned.ok()) {
    std::fprintf(stderr, "nifc-bench-fit: %s\n", planned.to_string().c_str());
    return 2;
  }
  const Architecture& arch = plan.options.arch;
  const double flops =
      static_cast<double>(grid_step_flops(arch, image->channels, image->width, image->height));
  std::printf("image=%s %ux%u arch=grid levels=%zu channels=%u hidden=%u layers=%zu steps=%d\n",
              path.c_str(), image->width, image->height, arch.grid_levels.size(),
              unsigned{arch.grid_channels}, unsigned{arch.widths.front()}, arch.widths.size(),
              steps);
  std::vector<std::vector<double>> ms(threads_list.size());
  for (int rep = 0; rep < repeat; ++rep) {
    for (size_t ti = 0; ti < threads_list.size(); ++ti) {
      const int threads = threads_list[ti];
      EncodeOptions o = plan.options;
      o.threads = threads;
      std::vector<Timing> at(static_cast<size_t>(o.steps) + 1);
      const auto t0 = std::chrono::steady_clock::now();
      o.on_step = [&](int done) {
        at[static_cast<size_t>(done)] = {
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
            cpu_seconds()};
      };
      StatusOr<EncodeResult> r = encode_image(image.value(), o);
      if (!r.ok()) {
        std::fprintf(stderr, "nifc-bench-fit: %s\n", r.status().to_string().c_str());
        return 1;
      }
      const Timing& a = at[static_cast<size_t>(warmup)];
      const Timing& b = at[static_cast<size_t>(o.steps)];
      const double wall = (b.wall_s - (warmup ? a.wall_s : 0.0)) / steps;
      const double cpu = (b.cpu_s - (warmup ? a.cpu_s : 0.0)) / steps;
      const Peak peak = measure_peak(internal::best_isa(), threads, 3);
      const double gflops = flops / wall * 1e-9, gflops_cpu = flops / cpu * 1e-9;
      std::printf(
          "threads=%d ms_per_step=%.2f cpu_ms_per_step=%.2f gflop_per_step=%.3f gflops=%.1f "
          "gflops_per_cpu_s=%.1f peak_gflops=%.1f pct_of_peak=%.1f peak_per_cpu_s=%.1f "
          "pct_of_peak_per_cpu_s=%.1f path=%s isa=%s psnr_db=%.2f\n",
          threads, wall * 1e3, cpu * 1e3, flops * 1e-9, gflops, gflops_cpu, peak.gflops,
          100.0 * gflops / peak.gflops, peak.gflops_per_cpu,
          100.0 * gflops_cpu / peak.gflops_per_cpu, o.fused_step ? "fused" : "torch",
          o.fused_step ? grid_step_isa() : "libtorch", r->float_psnr_db);
      std::fflush(stdout);
      ms[ti].push_back(wall * 1e3);
    }
  }
  if (repeat > 1) {
    const auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      const size_t h = v.size() / 2;
      return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
    };
    const double first = median(ms[0]);
    for (size_t ti = 0; ti < threads_list.size(); ++ti) {
      const double m = median(ms[ti]);
      std::printf(
          "summary threads=%d runs=%d median_ms_per_step=%.2f min_ms_per_step=%.2f "
          "speedup=%.2f\n",
          threads_list[ti], repeat, m, *std::min_element(ms[ti].begin(), ms[ti].end()), first / m);
    }
  }
  return 0;
}

}  // namespace
}  // namespace nifc

int main(int argc, char** argv) { return nifc::run(argc, argv); }
