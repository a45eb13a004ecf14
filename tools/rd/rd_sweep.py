#!/usr/bin/python3
"""Rate-distortion sweep of one codec over a set of images (resumable).

    rd_sweep.py --codec {nifc,jpeg,webp,avif,jxl} --images DIR_OR_FILES... --out RESULTS_DIR
                [--points P1 P2 ...] [--subset kodim05,kodim15] [--jobs 2]
                [--nifc build/nifc] [--nifc-args "--bpp {point}"]

For every (image, sweep point): encode, decode, file bytes, bpp = 8*bytes/(W*H),
PSNR-RGB (8 bit, MSE over all pixels and the 3 channels), encode / decode wall time
(of the codec command, process start included).  One CSV line per finished
(image, point) in RESULTS_DIR/CODEC.csv; finished points are skipped when re-run.
RESULTS_DIR/CODEC.json (CompressAI style) holds the mean over the selected images per
sweep point, only for points finished for all of them.

Inputs are read with PIL and converted to 8-bit RGB (grayscale is replicated to 3
channels, alpha is dropped); the codecs get that RGB copy (PNG, or PPM for cjpeg), with
no gAMA/ICC chunk, and the PSNR is measured against it.
"""

import argparse
import concurrent.futures as cf
import csv
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
from PIL import Image

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bd  # noqa: E402  (mean_curve / load_csv)

CSV_FIELDS = ["image", "point", "bytes", "bpp", "psnr_rgb", "enc_s", "dec_s"]
IMAGE_EXTS = (".png", ".ppm", ".pnm", ".bmp", ".tif", ".tiff")

# Default sweeps, chosen to cover ~0.1 .. >=1.5 bpp (mean) on Kodak.
DEFAULT_POINTS = {
    # cjpeg -quality Q
    "jpeg": ["2", "3", "4", "5", "6", "8", "10", "12", "15", "20", "25", "30", "40", "50",
             "60", "70", "80", "90"],
    # cwebp -q Q
    "webp": ["0", "2", "5", "10", "15", "20", "30", "40", "50", "60", "70", "80", "90", "95"],
    # avifenc --min Q --max Q   (quantizer 0..63, lower = better)
    "avif": ["63", "58", "53", "48", "43", "38", "33", "28", "23", "18", "13", "8"],
    # cjxl -d D  (butteraugli distance, max 25, lower = better)
    "jxl": ["25", "15", "10", "7", "5", "3.5", "2.5", "1.8", "1.2", "0.8"],
    # nifc target bpp
    "nifc": ["0.1", "0.15", "0.25", "0.35", "0.5", "0.75", "1.0", "1.25", "1.5"],
}


# ------------------------------------------------------------------------------ metrics

def load_rgb(path):
    """8-bit RGB numpy array (H, W, 3); grayscale replicated, alpha dropped."""
    with Image.open(path) as im:
        if im.mode.startswith("I"):  # 16-bit grayscale: keep the high byte
            a = np.asarray(im, dtype=np.int64)
            a = np.clip(a >> 8 if a.max() > 255 else a, 0, 255).astype(np.uint8)
            return np.repeat(a[:, :, None], 3, axis=2)
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def psnr_rgb(ref, dec):
    """PSNR over all pixels and the 3 channels, 8 bit: 10 log10(255^2 / MSE)."""
    ref = np.asarray(ref, np.float64)
    dec = np.asarray(dec, np.float64)
    if ref.shape != dec.shape:
        raise ValueError("decoded shape %s != original %s" % (dec.shape, ref.shape))
    mse = np.mean((ref - dec) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(255.0 ** 2 / mse))


# ------------------------------------------------------------------------------- codecs

def _tool_version(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        out = (r.stdout + r.stderr).strip().splitlines()
        return out[0].strip() if out else "?"
    except (OSError, subprocess.SubprocessError):
        return "not found"


class Codec:
    """name, ext, input format, command builders and a human description."""

    def __init__(self, name, args):
        self.name = name
        self.args = args
        self.in_ext = ".ppm" if name == "jpeg" else ".png"
        self.ext = {"jpeg": ".jpg", "webp": ".webp", "avif": ".avif", "jxl": ".jxl",
                    "nifc": ".nif"}[name]
        self.out_ext = ".ppm" if name in ("jpeg", "webp") else ".png"

    def enc_cmd(self, src, dst, point):
        n = self.name
        if n == "jpeg":
            return ["cjpeg", "-optimize", "-quality", point, "-outfile", dst, src]
        if n == "webp":
            return ["cwebp", "-quiet", "-q", point, "-m", str(self.args.webp_method),
                    src, "-o", dst]
        if n == "avif":
            return ["avifenc", "-c", "aom", "-s", str(self.args.avif_speed), "-j", "1",
                    "--min", point, "--max", point, src, dst]
        if n == "jxl":
            return ["cjxl", src, dst, "-d", point, "-e", str(self.args.jxl_effort),
                    "--num_threads=1", "--quiet"]
        if n == "nifc":
            extra = shlex.split(self.args.nifc_args.format(point=point))
            return [self.args.nifc, "encode", src, "-o", dst] + extra + ["--json", "-f"]
        raise ValueError(n)

    def dec_cmd(self, src, dst):
        n = self.name
        if n == "jpeg":
            return ["djpeg", "-pnm", "-outfile", dst, src]
        if n == "webp":
            return ["dwebp", "-quiet", src, "-ppm", "-o", dst]
        if n == "avif":
            return ["avifdec", "-j", "1", "-d", "8", src, dst]
        if n == "jxl":
            return ["djxl", src, dst, "--num_threads=1", "--bits_per_sample=8", "--quiet"]
        if n == "nifc":
            return [self.args.nifc, "decode", src, "-o", dst, "-f"]
        raise ValueError(n)

    def description(self):
        a = self.args
        n = self.name
        if n == "jpeg":
            return "%s: cjpeg -optimize -quality Q (4:2:0, baseline Huffman-optimized); " \
                   "djpeg" % _tool_version(["cjpeg", "-version"])
        if n == "webp":
            return "libwebp %s: cwebp -q Q -m %d (single thread); dwebp" % (
                _tool_version(["cwebp", "-version"]), a.webp_method)
        if n == "avif":
            return "%s: avifenc -c aom -s %d -j 1 --min Q --max Q (YUV 4:4:4 default, " \
                   "8 bit, full range); avifdec -d 8" % (
                       _tool_version(["avifenc", "--version"]), a.avif_speed)
        if n == "jxl":
            return "%s: cjxl -d D -e %d --num_threads=1; djxl" % (
                _tool_version(["cjxl", "--version"]), a.jxl_effort)
        if n == "nifc":
            return "nifc (%s): encode IN -o OUT %s --json -f; decode" % (a.nifc, a.nifc_args)
        return n


# ---------------------------------------------------------------------------- CSV store

def read_done(csv_path):
    """Set of (image, point) already in the CSV (well-formed lines only)."""
    if not os.path.exists(csv_path):
        return set()
    return {(im, p) for im, pts in bd.load_csv(csv_path).items() for p in pts}


class CsvAppender:
    """Appends one result line at a time (flushed + fsynced); thread safe."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        if not new:
            # a killed run can leave a last line without newline: terminate it
            with open(path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    with open(path, "a") as g:
                        g.write("\n")
        self.f = open(path, "a", newline="")
        self.w = csv.writer(self.f)
        if new:
            self.w.writerow(CSV_FIELDS)
            self.f.flush()

    def add(self, row):
        with self.lock:
            self.w.writerow([row[k] for k in CSV_FIELDS])
            self.f.flush()
            os.fsync(self.f.fileno())

    def close(self):
        self.f.close()


# ------------------------------------------------------------------------------- sweep

def list_images(items, subset=None):
    files = []
    for it in items:
        if os.path.isdir(it):
            files += sorted(os.path.join(it, f) for f in os.listdir(it)
                            if f.lower().endswith(IMAGE_EXTS))
        else:
            files.append(it)
    if subset:
        want = {s.strip() for s in subset.split(",") if s.strip()}
        files = [f for f in files if os.path.splitext(os.path.basename(f))[0] in want]
        missing = want - {os.path.splitext(os.path.basename(f))[0] for f in files}
        if missing:
            raise SystemExit("--subset: not found among the images: %s"
                             % ",".join(sorted(missing)))
    names = [os.path.splitext(os.path.basename(f))[0] for f in files]
    if len(set(names)) != len(names):
        raise SystemExit("two input images share the same base name")
    return files


def run_point(codec, image, src, ref, point, workdir):
    """Encode + decode one point; returns the CSV row dict. Raises on codec failure."""
    tag = "%s_%s" % (image, point.replace("/", "_"))
    comp = os.path.join(workdir, tag + codec.ext)
    dec = os.path.join(workdir, tag + "_dec" + codec.out_ext)
    try:
        for cmd, what in ((codec.enc_cmd(src, comp, point), "encode"),
                          (codec.dec_cmd(comp, dec), "decode")):
            t0 = time.perf_counter()
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            dt = time.perf_counter() - t0
            if r.returncode != 0:
                raise RuntimeError("%s failed (rc %d): %s\n%s" % (
                    what, r.returncode, " ".join(map(shlex.quote, cmd)),
                    r.stderr.decode(errors="replace")[-2000:]))
            if what == "encode":
                enc_s = dt
                nbytes = os.path.getsize(comp)
            else:
                dec_s = dt
        h, w = ref.shape[:2]
        return {"image": image, "point": point, "bytes": nbytes,
                "bpp": "%.6f" % (8.0 * nbytes / (w * h)),
                "psnr_rgb": "%.4f" % psnr_rgb(ref, load_rgb(dec)),
                "enc_s": "%.4f" % enc_s, "dec_s": "%.4f" % dec_s}
    finally:
        for p in (comp, dec):
            if os.path.exists(p):
                os.remove(p)


def _jl(xs, nd):
    """JSON-safe list: non-finite values (e.g. PSNR inf of a lossless point) -> null."""
    return [round(float(x), nd) if np.isfinite(x) else None for x in xs]


def write_json(codec_name, description, csv_path, json_path, images):
    per_image = bd.load_csv(csv_path) if os.path.exists(csv_path) else {}
    if any(im not in per_image for im in images):
        mc = bd.mean_curve({}, [])
    else:
        mc = bd.mean_curve(per_image, images)
    d = {"name": codec_name, "description": description,
         "n_images": len(images), "points": list(mc["points"]),
         "results": {"bpp": _jl(mc["bpp"], 6), "psnr-rgb": _jl(mc["psnr"], 4),
                     "encoding_time": _jl(mc["enc_s"], 4),
                     "decoding_time": _jl(mc["dec_s"], 4)}}
    tmp = json_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(d, f, indent=2)
        f.write("\n")
    os.replace(tmp, json_path)
    return d


def sweep(codec, files, points, out_dir, jobs, log=sys.stderr):
    """Runs the missing (image, point) pairs; returns (n_done_now, n_failed)."""
    os.makedirs(out_dir, exist_ok=True)
    csv_path = os.path.join(out_dir, codec.name + ".csv")
    done = read_done(csv_path)
    images = [os.path.splitext(os.path.basename(f))[0] for f in files]
    todo = [(p, im, f) for p in points for im, f in zip(images, files)
            if (im, p) not in done]
    print("%s: %d images x %d points, %d already done, %d to run (jobs=%d)"
          % (codec.name, len(files), len(points), len(images) * len(points) - len(todo),
             len(todo), jobs), file=log)
    if not todo:
        return 0, 0
    app = CsvAppender(csv_path)
    workdir = tempfile.mkdtemp(prefix="rd_%s_" % codec.name)
    n_ok = n_fail = 0
    t_start = time.time()
    try:
        # RGB copies of the inputs (what the codecs get and what PSNR is measured against)
        refs, srcs = {}, {}
        for im, f in zip(images, files):
            if not any(t[1] == im for t in todo):
                continue
            refs[im] = load_rgb(f)
            srcs[im] = os.path.join(workdir, "src_" + im + codec.in_ext)
            Image.fromarray(refs[im], "RGB").save(srcs[im])
        with cf.ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
            futs = {ex.submit(run_point, codec, im, srcs[im], refs[im], p, workdir): (im, p)
                    for p, im, _ in todo}
            for fut in cf.as_completed(futs):
                im, p = futs[fut]
                try:
                    row = fut.result()
                except Exception as e:  # noqa: BLE001 - report and go on
                    n_fail += 1
                    print("FAILED %s %s point %s: %s" % (codec.name, im, p, e), file=log)
                    continue
                app.add(row)
                n_ok += 1
                print("[%d/%d %.0fs] %s %s %s: %s bpp %s dB enc %ss dec %ss" % (
                    n_ok + n_fail, len(todo), time.time() - t_start, codec.name, im, p,
                    row["bpp"], row["psnr_rgb"], row["enc_s"], row["dec_s"]), file=log)
    finally:
        app.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return n_ok, n_fail


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--codec", required=True, choices=sorted(DEFAULT_POINTS))
    ap.add_argument("--images", required=True, nargs="+", help="directories and/or files")
    ap.add_argument("--out", required=True, help="results directory")
    ap.add_argument("--points", nargs="+", help="sweep points (default: per codec)")
    ap.add_argument("--subset", help="comma-separated image base names, e.g. kodim05,kodim15")
    ap.add_argument("--jobs", type=int, default=2, help="parallel encodes (default 2)")
    ap.add_argument("--nifc", default="build/nifc", help="nifc binary (default build/nifc)")
    ap.add_argument("--nifc-args", default="--bpp {point}",
                    help='nifc encode arguments template, {point} = sweep point '
                         '(default "--bpp {point}")')
    ap.add_argument("--webp-method", type=int, default=6, help="cwebp -m (default 6)")
    ap.add_argument("--avif-speed", type=int, default=6, help="avifenc -s (default 6)")
    ap.add_argument("--jxl-effort", type=int, default=7, help="cjxl -e (default 7)")
    args = ap.parse_args(argv)
    if "{point}" not in args.nifc_args and args.codec == "nifc":
        ap.error("--nifc-args must contain {point}")

    points = args.points or DEFAULT_POINTS[args.codec]
    points = [p.strip() for ps in points for p in ps.split(",") if p.strip()]
    files = list_images(args.images, args.subset)
    if not files:
        ap.error("no images found")
    codec = Codec(args.codec, args)
    t0 = time.time()
    n_ok, n_fail = sweep(codec, files, points, args.out, args.jobs)
    images = [os.path.splitext(os.path.basename(f))[0] for f in files]
    d = write_json(codec.name, codec.description(),
                   os.path.join(args.out, codec.name + ".csv"),
                   os.path.join(args.out, codec.name + ".json"), images)
    print("%s: %d new points, %d failed, %.1f s; %s.json has %d complete points"
          % (codec.name, n_ok, n_fail, time.time() - t0, codec.name,
             len(d["results"]["bpp"])), file=sys.stderr)
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
