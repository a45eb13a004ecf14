// nifc encode: fit a network to each PNG and write .nif files, one at a time or a batch on
// several worker processes.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "codec/encoder/presets.h"
#include "tools/io/file_io.h"
#include "tools/io/image_io.h"
#include "tools/nifc/cli.h"
#include "tools/nifc/encoder_loader.h"

namespace nifc {
namespace cli {
namespace {

// What one image's encode produced, for the batch summary.
struct EncodeOutcome {
  bool ok = false;
  uint64_t bytes = 0, pixels = 0;
  double psnr_db = 0.0, seconds = 0.0;
};

// Reports a failed image of a batch: the one-line error on stderr, and with --json a line
// on stdout too, so a consumer of the JSON lines sees every image.
int fail_image(const EncodeArgs& a, const std::string& file, const Status& s) {
  if (a.json) {
    const std::string m = s.to_string();
    Json j;
    j["input"] = a.in;
    j["output"] = a.out;
    j["error"] = m.rfind(file, 0) == 0 ? m : file + ": " + m;
    print_json(stdout, j);
  }
  return fail(file, s);
}

// Encodes a.in into a.out.  `label` prefixes the progress line ("[2/5] ") in a batch.
int encode_one(EncodeArgs a, const std::string& label, EncodeOutcome* outcome) {
  const Status out_ok = check_output(a.in, a.out);
  if (!out_ok.ok()) return fail_image(a, a.in, out_ok);
  struct stat st;
  if (a.out != "-" && !a.force && stat(a.out.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    // Checked before the fit too, so a long encode is not wasted.
    return fail_image(a, a.out, invalid_argument("already exists (use -f to overwrite)"));
  }
  // The network options are checked before the image is read.
  Architecture probe;
  const Status arch_ok = build_architecture(a.request.net, &probe);
  if (!arch_ok.ok()) return fail_image(a, a.in, arch_ok);
  StatusOr<std::vector<uint8_t>> bytes = read_file(a.in);
  if (!bytes.ok()) return fail_image(a, a.in, bytes.status());
  StatusOr<Image> img = read_png(bytes->data(), bytes->size(), a.in);
  if (!img.ok()) return fail_image(a, a.in, img.status());
  bytes->clear();
  bytes->shrink_to_fit();
  EncodePlan plan;
  const Status plan_ok = plan_encode(a.request, img->width, img->height, &plan);
  if (!plan_ok.ok()) return fail_image(a, a.in, plan_ok);
  EncodeOptions& opt = plan.options;

  const bool show_progress = !a.quiet && a.progress_line && stderr_is_terminal();
  if (show_progress) {
    opt.progress = [label](const EncodeProgress& p) {
      const std::string tile =
          p.tiles > 0 ? "tile " + std::to_string(p.tile) + "/" + std::to_string(p.tiles) + " " : "";
      std::fprintf(stderr, "\r%s%sstep %d/%d  %.1f s  PSNR ~%.2f dB (best full %.2f dB)   ",
                   label.c_str(), tile.c_str(), p.step, p.total_steps, p.seconds, p.batch_psnr_db,
                   p.best_psnr_db);
      return true;
    };
  }
  std::string curve_csv = "step,psnr_db\n";
  if (!a.curve.empty()) {
    opt.on_eval = [&curve_csv](int step, double psnr) {
      curve_csv += std::to_string(step) + "," + std::to_string(psnr) + "\n";
    };
  }
  StatusOr<const EncoderApi*> api = load_encoder();
  if (!api.ok()) return fail_image(a, a.in, api.status());
  if (const uint64_t budget = encoder_memory_budget()) {
    opt.max_memory_bytes = budget / static_cast<uint64_t>(std::max(1, a.jobs));
  }
  StatusOr<EncodeResult> r = api.value()->encode_tiled(img.value(), plan.target, opt, plan.tiles);
  if (show_progress) std::fprintf(stderr, "\r%*s\r", 79, "");
  if (!r.ok()) return fail_image(a, a.in, r.status());
  const Status w = write_file_atomic(a.out, r->file.data(), r->file.size(), a.force);
  if (!w.ok()) return fail_image(a, a.out, w);
  if (!a.curve.empty()) {
    const Status c = write_file_atomic(a.curve, reinterpret_cast<const uint8_t*>(curve_csv.data()),
                                       curve_csv.size(), true);
    if (!c.ok()) return fail_image(a, a.curve, c);
  }

  const double bpp = 8.0 * r->file.size() / img->pixel_count();
  outcome->ok = true;
  outcome->bytes = r->file.size();
  outcome->pixels = img->pixel_count();
  outcome->psnr_db = r->psnr_db;
  outcome->seconds = r->seconds;
  if (a.json) {
    Json j;
    j["input"] = a.in;
    j["output"] = a.out;
    j["width"] = img->width;
    j["height"] = img->height;
    j["channels"] = img->channels;
    j["arch"] = plan.arch;
    if (plan.quality >= 0) {
      j["quality"] = json_number(plan.quality);
    } else {
      j["quality"] = nullptr;
    }
    j["effort"] = plan.effort;
    j["parameters"] = r->parameters;
    j["bits"] = opt.bits;
    j["bytes"] = r->file.size();
    j["bpp"] = json_number(bpp);
    j["psnr_db"] = json_number(r->psnr_db);
    j["float_psnr_db"] = json_number(r->float_psnr_db);
    j["steps"] = r->steps;
    j["fit_seconds"] = json_number(r->fit_seconds);
    j["seconds"] = json_number(r->seconds);
    j["device"] = r->device;
    j["tiles"] = r->tiles;
    print_json(a.out == "-" ? stderr : stdout, j);
  } else if (!a.quiet) {
    std::fprintf(stderr, "%s: %ux%u, %u channel%s -> %s\n", a.in.c_str(), img->width, img->height,
                 img->channels, img->channels > 1 ? "s" : "", a.out.c_str());
    std::fprintf(stderr, "  %zu bytes, %.4f bpp, PSNR %.2f dB (float network %.2f dB)\n",
                 r->file.size(), bpp, r->psnr_db, r->float_psnr_db);
    const bool tiled = r->tiles > 1 && !r->header.tiles.empty();
    std::fprintf(
        stderr, "  %s at %d bits%s\n",
        arch_description(tiled ? r->header.tiles[0].arch : opt.arch, img->channels).c_str(),
        opt.bits, tiled ? " (tile 1)" : "");
    if (r->tiles > 1) {
      std::fprintf(stderr, "  %u tiles (%ux%u, overlap %u px), %llu parameters in all\n", r->tiles,
                   r->header.tile_columns, r->header.tile_rows, r->header.tile_overlap,
                   static_cast<unsigned long long>(r->parameters));
    }
    std::string knobs = "effort " + std::to_string(plan.effort);
    if (plan.quality >= 0) {
      char q[32];
      std::snprintf(q, sizeof q, "quality %g, ", plan.quality);
      knobs = q + knobs;
    }
    std::fprintf(stderr, "  %s: %d steps, %.1f s on %s\n", knobs.c_str(), r->steps, r->seconds,
                 r->device.c_str());
  }
  return 0;
}

// The file name without its directory and last extension: "a/b/x.png" -> "x".
std::string file_stem(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const size_t dot = name.find_last_of('.');
  if (dot != std::string::npos && dot > 0) name.resize(dot);
  return name;
}

// What a worker process reports per image through the results pipe; one write() of less
// than PIPE_BUF bytes, so records from several workers never interleave.
struct JobRecord {
  uint32_t index;
  uint32_t ok;
  uint64_t bytes, pixels;
  double psnr_db, seconds;
};

bool read_exact(int fd, void* p, size_t n) {
  uint8_t* b = static_cast<uint8_t*>(p);
  while (n > 0) {
    const ssize_t got = read(fd, b, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    b += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

// Encodes a batch on `jobs` worker processes with threads / jobs threads each.  Processes,
// not threads: LibTorch's thread count and random generator are global, so concurrent fits
// in one process would neither be reproducible nor keep to their threads.  The workers are
// forked before LibTorch is loaded (this process never loads it) and take image indices
// from a pipe, so a slow image does not hold up the others; each prints its own lines.
// A worker dies with the CLI (PR_SET_PDEATHSIG), removing its temporary files.
int run_encode_jobs(const EncodeArgs& a, const std::vector<std::string>& inputs,
                    const std::vector<std::string>& outputs, int jobs, int threads,
                    std::vector<EncodeOutcome>* outcomes) {
  int work[2], results[2];
  if (pipe(work) != 0 || pipe(results) != 0) {
    return fail(inputs[0], io_error(std::string("pipe: ") + std::strerror(errno)));
  }
  for (uint32_t i = 0; i < inputs.size(); ++i) {
    if (write(work[1], &i, sizeof i) != sizeof i) {
      return fail(inputs[i], io_error(std::string("pipe: ") + std::strerror(errno)));
    }
  }
  close(work[1]);
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t parent = getpid();
  std::vector<pid_t> pids;
  for (int j = 0; j < jobs; ++j) {
    const pid_t pid = fork();
    if (pid < 0) break;  // fewer workers: the ones started take all the work
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(kExitError);
      close(results[0]);
      int rc = 0;
      for (uint32_t i; read_exact(work[0], &i, sizeof i);) {
        EncodeArgs one = a;
        one.in = inputs[i];
        one.out = outputs[i];
        one.request.options.threads = std::max(1, threads / jobs);
        one.jobs = jobs;
        one.progress_line = false;
        EncodeOutcome o;
        if (encode_one(one, "", &o) != 0) rc = kExitError;
        const JobRecord rec = {i, o.ok ? 1u : 0u, o.bytes, o.pixels, o.psnr_db, o.seconds};
        if (write(results[1], &rec, sizeof rec) != sizeof rec) rc = kExitError;
      }
      std::fflush(stdout);
      std::fflush(stderr);
      _exit(rc);
    }
    pids.push_back(pid);
  }
  close(work[0]);
  close(results[1]);
  int rc = pids.empty() ? kExitError : 0;
  if (pids.empty()) fail(inputs[0], io_error(std::string("fork: ") + std::strerror(errno)));
  std::vector<bool> reported(inputs.size(), false);
  for (JobRecord rec; read_exact(results[0], &rec, sizeof rec);) {
    if (rec.index >= inputs.size()) continue;
    reported[rec.index] = true;
    EncodeOutcome& o = (*outcomes)[rec.index];
    o.ok = rec.ok != 0;
    o.bytes = rec.bytes;
    o.pixels = rec.pixels;
    o.psnr_db = rec.psnr_db;
    o.seconds = rec.seconds;
  }
  close(results[0]);
  for (pid_t pid : pids) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) rc = kExitError;
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!reported[i]) {
      rc = kExitError;
      fail(inputs[i], internal_error("its worker process died before finishing it"));
    }
  }
  return rc;
}

}  // namespace

// `encode IN -o OUT`, or `encode IN... --out-dir DIR` (DIR/<stem>.nif per input).  A batch
// runs --jobs images at once (kDefaultJobs by default), splitting --threads between them.
// A failed image prints its one-line error and the batch goes on; the exit code is then 1.
int run_encode(EncodeArgs& a) {
  const std::vector<std::string> inputs = a.inputs;
  if (inputs.empty()) return usage_error("encode: no input");
  if (a.out.empty() && a.out_dir.empty()) {
    return usage_error("encode: give -o FILE (- for stdout) or --out-dir DIR");
  }
  if (!a.out.empty() && !a.out_dir.empty()) {
    return usage_error("encode: -o and --out-dir exclude each other");
  }
  if (inputs.size() > 1 && !a.out.empty()) {
    return usage_error("encode: -o takes one input; use --out-dir DIR for " +
                       std::to_string(inputs.size()) + " inputs");
  }
  if (inputs.size() > 1 && !a.curve.empty()) {
    return usage_error("encode: --curve takes one input");
  }
  std::vector<std::string> outputs;
  if (a.out_dir.empty()) {
    outputs.push_back(a.out);
  } else {
    struct stat st;
    if (stat(a.out_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return fail(a.out_dir, invalid_argument("not a directory (--out-dir)"));
    }
    std::map<std::string, std::string> taken;  // output -> input
    for (const std::string& in : inputs) {
      if (in == "-") return usage_error("encode: stdin (-) needs -o, not --out-dir");
      const std::string out =
          a.out_dir + (a.out_dir.back() == '/' ? "" : "/") + file_stem(in) + ".nif";
      const auto [it, fresh] = taken.emplace(out, in);
      if (!fresh) {
        return usage_error("encode: " + it->second + " and " + in + " would both write " + out);
      }
      outputs.push_back(out);
    }
  }
  if (inputs.size() == 1) {
    a.in = inputs[0];
    a.out = outputs[0];
    EncodeOutcome outcome;
    return encode_one(a, "", &outcome);
  }

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<EncodeOutcome> outcomes(inputs.size());
  const int threads = a.request.options.threads > 0
                          ? a.request.options.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int jobs = std::max(
      1, std::min({a.jobs > 0 ? a.jobs : kDefaultJobs, threads, static_cast<int>(inputs.size())}));
  int rc = 0;
  if (jobs == 1) {
    for (size_t i = 0; i < inputs.size(); ++i) {
      EncodeArgs one = a;
      one.in = inputs[i];
      one.out = outputs[i];
      one.request.options.threads = threads;
      one.jobs = 1;
      const std::string label =
          "[" + std::to_string(i + 1) + "/" + std::to_string(inputs.size()) + "] ";
      if (encode_one(one, label, &outcomes[i]) != 0) rc = kExitError;
    }
  } else {
    rc = run_encode_jobs(a, inputs, outputs, jobs, threads, &outcomes);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!a.quiet) {
    size_t ok = 0;
    uint64_t bytes = 0, pixels = 0;
    double psnr_sum = 0.0;
    for (const EncodeOutcome& o : outcomes) {
      if (!o.ok) continue;
      ++ok;
      bytes += o.bytes;
      pixels += o.pixels;
      psnr_sum += o.psnr_db;
    }
    std::fprintf(stderr,
                 "nifc: %zu images: %zu encoded, %zu failed; %llu bytes, %.4f bpp, mean PSNR "
                 "%.2f dB; %.1f s\n",
                 inputs.size(), ok, inputs.size() - ok, static_cast<unsigned long long>(bytes),
                 pixels ? 8.0 * bytes / pixels : 0.0, ok ? psnr_sum / ok : 0.0, seconds);
  }
  return rc;
}

}  // namespace cli
}  // namespace nifc
