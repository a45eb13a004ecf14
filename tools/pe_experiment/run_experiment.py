#!/usr/bin/python3
"""Issue 3: why a ReLU MLP on raw (x, y) stays blurry and positional encoding fixes it.

    /usr/bin/python3 tools/pe_experiment/run_experiment.py [--steps 8000] [--jobs 1]
        [--images kodim23,kodim05,kodim15] [--kodak /work/shared/data/kodak]
        [--work /tmp/pe_experiment_work] [--out tools/pe_experiment/results]
        [--nifc build/nifc] [--threads 1] [--eval-every K] [--runs ID,...] [--figures-only]

One command, resumable (a run whose JSON, curve and decodes exist is skipped):

 (a) each image: centre-crop to a square, Lanczos-resize to 128x128 (the training
     image) and to 256x256 (the true 2x reference, used to score 2x decodes);
 (b) for each architecture, `nifc encode` with the issue's setting: 4 hidden layers of
     256, Adam peak lr 1e-4, full batch (--batch 0), --bits 16 (quantization
     negligible), --steps N, --threads 1, under `nice`; the curve CSV and JSON are
     kept.  Architectures: relu, pe (L=10), fourier (m=256, sigma=10), siren
     (omega0=30), siren-pe (L=10); on the first image also fourier sigma=1 and 100
     and siren-pe L=6 (no PE level above the grid's Nyquist);
 (c) `nifc decode` at 1x (128) and 2x (256);
 (d) OUT/results.csv, OUT/table.md, OUT/psnr_vs_step.png, OUT/comparison.png,
     OUT/comparison_2x.png, OUT/spectrum.png (+ spectrum.csv: error/signal energy per
     frequency band), OUT/encodings.csv (input features above the training grid's
     Nyquist), OUT/siren_init.csv (a numpy forward pass at initialisation: SIREN init
     vs PyTorch-default init), OUT/run_info.json (command, hardware, wall time).

.nif files, decodes and other intermediates stay in the work dir (default under /tmp).
Runs at most 2 encodes at a time (--jobs); with --threads T each encode uses T threads.
"""

import argparse
import concurrent.futures as cf
import csv
import datetime
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tools", "rd"))
from rd_sweep import psnr_rgb as psnr  # noqa: E402  (8-bit RGB PSNR, as the RD tools)

HIDDEN, LAYERS, LR = 256, 4, 1e-4
SIZE = 128
NIFC_FF_SEED = 0x6E696663  # nifc's default --ff-seed ("nifc")

# run id -> (label, nifc arguments).  Order = order of the figures and tables.
RUNS = {
    "relu": ("ReLU, raw (x,y)", ["--arch", "relu"]),
    "pe_L10": ("ReLU + PE L=10", ["--arch", "pe", "--pe-levels", "10"]),
    "fourier_s10": ("ReLU + FF m=256 s=10",
                    ["--arch", "fourier", "--ff-features", "256", "--ff-sigma", "10"]),
    "siren": ("SIREN w0=30", ["--arch", "siren", "--omega0", "30", "--omega", "30"]),
    "siren-pe_L10": ("SIREN + PE L=10",
                     ["--arch", "siren-pe", "--pe-levels", "10", "--omega0", "30",
                      "--omega", "30"]),
}
SWEEP_RUNS = {
    "fourier_s1": ("ReLU + FF m=256 s=1",
                   ["--arch", "fourier", "--ff-features", "256", "--ff-sigma", "1"]),
    "fourier_s100": ("ReLU + FF m=256 s=100",
                     ["--arch", "fourier", "--ff-features", "256", "--ff-sigma", "100"]),
    # L=6: highest level 2^5 pi p = 16 cycles/unit, below the 128-px grid's Nyquist (32)
    "siren-pe_L6": ("SIREN + PE L=6",
                    ["--arch", "siren-pe", "--pe-levels", "6", "--omega0", "30",
                     "--omega", "30"]),
}
ALL_RUNS = dict(RUNS, **SWEEP_RUNS)
COLORS = {"relu": "tab:red", "pe_L10": "tab:blue", "fourier_s10": "tab:green",
          "siren": "tab:purple", "siren-pe_L10": "tab:orange", "fourier_s1": "olive",
          "fourier_s100": "tab:cyan", "siren-pe_L6": "tab:brown"}

LOCK = threading.Lock()


def log(msg):
    with LOCK:
        print("[%s] %s" % (datetime.datetime.now().strftime("%H:%M:%S"), msg), flush=True)


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w" if isinstance(data, str) else "wb") as f:
        f.write(data)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- metrics

def load_rgb(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


# Octave bands of the radial frequency, cycles per pixel of the 128x128 grid
# (0.5 = Nyquist = 32 cycles per unit of the [-1, 1] coordinate square).
BANDS = [(0.0, 1 / 64), (1 / 64, 1 / 32), (1 / 32, 1 / 16), (1 / 16, 1 / 8), (1 / 8, 1 / 4),
         (1 / 4, 0.5), (0.5, 0.75)]


def band_error_db(ref, dec):
    """Per radial band: 10 log10(sum |FFT(dec - ref)|^2 / sum |FFT(ref - mean)|^2), RGB."""
    ref = np.asarray(ref, np.float64)
    dec = np.asarray(dec, np.float64)
    h, w = ref.shape[:2]
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    r = np.sqrt(fx ** 2 + fy ** 2)
    sig = np.zeros(r.shape)
    err = np.zeros(r.shape)
    for c in range(ref.shape[2]):
        sig += np.abs(np.fft.fft2(ref[:, :, c] - ref[:, :, c].mean())) ** 2
        err += np.abs(np.fft.fft2(dec[:, :, c] - ref[:, :, c])) ** 2
    out = []
    for lo, hi in BANDS:
        m = (r >= lo) & (r < hi) if lo > 0 else (r < hi)
        m = m & (r > 0) if lo == 0 else m  # the DC term is not signal (mean removed)
        s, e = sig[m].sum(), err[m].sum()
        out.append(float(10 * np.log10(e / s)) if s > 0 and e > 0 else float("nan"))
    return out


# ------------------------------------------------------------------ encoding analysis

def fourier_matrix(seed, sigma, m):
    """SPEC.md 6.1: the m x 2 Gaussian Fourier matrix B, bit for bit (splitmix64 + Irwin-Hall)."""
    mask = (1 << 64) - 1
    state = seed & mask
    out = np.empty((m, 2), np.float32)
    for e in range(2 * m):
        s = 0
        for _ in range(12):
            state = (state + 0x9E3779B97F4A7C15) & mask
            z = state
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
            z = z ^ (z >> 31)
            s += z >> 40
        n = s / float(1 << 24) - 6.0
        out[e // 2, e % 2] = np.float32(float(sigma) * n)
    return out


def encodings_table(size):
    """Input features whose frequency exceeds the training grid's Nyquist.

    The grid has `size` pixels over 2 units, so Nyquist is size/4 cycles per unit.
    PE level k is sin/cos(2^k pi p): 2^(k-1) cycles per unit.  A Fourier feature i has
    frequency (B_i0, B_i1) cycles per unit; it aliases when |B_i0| or |B_i1| > Nyquist.
    """
    nyq = size / 4.0
    rows = []
    for L in (10,):
        freqs = [2.0 ** (k - 1) for k in range(L)]
        rows.append({"encoding": "PE L=%d" % L, "features": 4 * L,
                     "max_freq_cycles_per_unit": max(freqs),
                     "features_at_nyquist": 4 * sum(1 for f in freqs if f == nyq),
                     "features_above_nyquist": 4 * sum(1 for f in freqs if f > nyq),
                     "note": "levels k>=%d are constant on the training grid (sin=0, cos=+-1)"
                             % (int(math.log2(nyq)) + 2)})
    for sigma in (1, 10, 100):
        b = fourier_matrix(NIFC_FF_SEED, sigma, 256).astype(np.float64)
        above = int(np.sum(np.max(np.abs(b), axis=1) > nyq))
        rows.append({"encoding": "Fourier m=256 sigma=%g" % sigma, "features": 512,
                     "max_freq_cycles_per_unit": round(float(np.max(np.abs(b))), 2),
                     "features_at_nyquist": 0,
                     "features_above_nyquist": 2 * above,
                     "note": "median |b| = %.2f cycles/unit"
                             % float(np.median(np.sqrt((b ** 2).sum(1))))})
    return rows, nyq


def check_pe_on_grid(size, L=10):
    """Max |sin(2^k pi x)| over the training pixel centres for each level k (float64)."""
    x = (2 * np.arange(size) + 1) / size - 1
    return [float(np.max(np.abs(np.sin(2.0 ** k * np.pi * x)))) for k in range(L)]


def siren_init_study(size=SIZE, width=HIDDEN, layers=LAYERS, seed=0):
    """Forward pass at initialisation (numpy, float64), nifc's initialisers.

    Per variant: std of each sine layer's argument (omega * (W h + b)), and of the
    output, the correlation between horizontally adjacent pixels (1 = smooth, 0 = noise)
    and the fraction of output energy above 1/8 cycle per pixel.
    """
    x = (2 * np.arange(size) + 1) / size - 1
    X, Y = np.meshgrid(x, x)
    p = np.stack([X.ravel(), Y.ravel()], 1)

    def run(first_bound, hidden_bound, w0, w, act):
        rng = np.random.default_rng(seed)
        h = p
        stds = []
        for l in range(layers + 1):
            n = h.shape[1]
            out = 3 if l == layers else width
            wb = first_bound(n) if l == 0 else hidden_bound(n)
            W = rng.uniform(-wb, wb, (out, n))
            b = rng.uniform(-1 / math.sqrt(n), 1 / math.sqrt(n), out)
            z = h @ W.T + b
            if l == layers:
                break
            if act == "sine":
                a = (w0 if l == 0 else w) * z
                stds.append(float(a.std()))
                h = np.sin(a)
            else:
                stds.append(float(z.std()))
                h = np.maximum(z, 0)
        img = z[:, 0].reshape(size, size)
        img = img - img.mean()
        corr = float(np.sum(img[:, 1:] * img[:, :-1]) / np.sqrt(
            np.sum(img[:, 1:] ** 2) * np.sum(img[:, :-1] ** 2)))
        fy = np.fft.fftfreq(size)[:, None]
        fx = np.fft.fftfreq(size)[None, :]
        P = np.abs(np.fft.fft2(img)) ** 2
        hf = float(P[np.sqrt(fx ** 2 + fy ** 2) > 1 / 8].sum() / P.sum())
        return stds, corr, hf

    variants = [
        ("SIREN init (Sitzmann), w0=w=30",
         lambda n: 1.0 / n, lambda n: math.sqrt(6.0 / n) / 30.0, 30.0, 30.0, "sine"),
        ("PyTorch default init, w0=w=30",
         lambda n: 1 / math.sqrt(n), lambda n: 1 / math.sqrt(n), 30.0, 30.0, "sine"),
        ("PyTorch default init, w0=w=1",
         lambda n: 1 / math.sqrt(n), lambda n: 1 / math.sqrt(n), 1.0, 1.0, "sine"),
        ("ReLU, PyTorch default init",
         lambda n: 1 / math.sqrt(n), lambda n: 1 / math.sqrt(n), 1.0, 1.0, "relu"),
    ]
    rows = []
    for name, fb, hb, w0, w, act in variants:
        stds, corr, hf = run(fb, hb, w0, w, act)
        row = {"variant": name}
        for i, s in enumerate(stds):
            row["layer%d_preact_std" % (i + 1)] = round(s, 3)
        row["output_neighbour_corr"] = round(corr, 4)
        row["output_energy_above_1/8_cpp"] = round(hf, 4)
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- runs

def prepare_images(names, kodak, work):
    d = os.path.join(work, "images")
    os.makedirs(d, exist_ok=True)
    out = {}
    for name in names:
        src = name if os.path.isfile(name) else os.path.join(kodak, name + ".png")
        stem = os.path.splitext(os.path.basename(src))[0]
        p1 = os.path.join(d, "%s_%d.png" % (stem, SIZE))
        p2 = os.path.join(d, "%s_%d.png" % (stem, 2 * SIZE))
        if not (os.path.exists(p1) and os.path.exists(p2)):
            with Image.open(src) as im:
                im = im.convert("RGB")
                w, h = im.size
                s = min(w, h)
                box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
                sq = im.crop(box)
                for path, n in ((p1, SIZE), (p2, 2 * SIZE)):
                    tmp = path + ".tmp.png"
                    sq.resize((n, n), Image.LANCZOS).save(tmp)
                    os.replace(tmp, path)
        out[stem] = (p1, p2)
    return out


def run_paths(work, steps, image, run):
    d = os.path.join(work, "steps%d" % steps, image)
    os.makedirs(d, exist_ok=True)
    b = os.path.join(d, run)
    return {"nif": b + ".nif", "json": b + ".json", "curve": b + ".curve.csv",
            "x1": b + ".1x.png", "x2": b + ".2x.png", "log": b + ".log"}


def is_done(paths, steps):
    if not all(os.path.exists(paths[k]) for k in ("json", "curve", "x1", "x2")):
        return False
    try:
        with open(paths["json"]) as f:
            return json.load(f).get("steps") == steps
    except (OSError, ValueError):
        return False


def do_run(args, image, src, run, counter):
    paths = run_paths(args.work, args.steps, image, run)
    if is_done(paths, args.steps):
        log("skip %s/%s (done)" % (image, run))
        return
    with LOCK:
        counter[0] += 1
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    nice = ["nice", "-n", str(args.nice)]
    cmd = nice + [args.nifc, "encode", src, "-o", paths["nif"], "-f", "--json",
                  "--hidden", str(HIDDEN), "--layers", str(LAYERS), "--lr", str(LR),
                  "--batch", "0", "--bits", "16", "--steps", str(args.steps),
                  "--threads", str(args.threads), "--eval-every", str(args.eval_every),
                  "--curve", paths["curve"]] + ALL_RUNS[run][1]
    log("encode %s/%s: %s" % (image, run, " ".join(shlex.quote(c) for c in cmd[3:])))
    t0 = time.time()
    load0 = os.getloadavg()[0]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.time() - t0
    load1 = os.getloadavg()[0]
    write_atomic(paths["log"], "$ %s\n%s%s" % (" ".join(cmd), p.stdout, p.stderr))
    if p.returncode != 0:
        raise RuntimeError("%s/%s: nifc encode failed (%d): %s"
                           % (image, run, p.returncode, p.stderr.strip()[-400:]))
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["wall_s"] = wall
    res["load_avg_1min"] = [round(load0, 2), round(load1, 2)]  # at start and end
    res["command"] = " ".join(shlex.quote(c) for c in cmd)
    for key, scale in (("x1", None), ("x2", "2")):
        dcmd = nice + [args.nifc, "decode", paths["nif"], "-o", paths[key], "-f", "-q",
                       "--threads", str(args.threads)] + (["--scale", scale] if scale else [])
        subprocess.run(dcmd, env=env, check=True, capture_output=True, text=True)
    write_atomic(paths["json"], json.dumps(res, indent=1) + "\n")
    log("done %s/%s: %d steps, PSNR %.2f dB, %.0f s (%.3f s/step)"
        % (image, run, res["steps"], res["psnr_db"], wall, res["fit_seconds"] / res["steps"]))


def load_curve(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return [int(r["step"]) for r in rows], [float(r["psnr_db"]) for r in rows]


# -------------------------------------------------------------------------- figures

def font(size):
    try:
        return ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default()


def grid_figure(rows, cols, tile, title_lines, path, label_h=34):
    """rows: list of (row_title, [ (PIL image or None, [label lines]) ] ) with cols cells."""
    f, ft = font(12), font(13)
    pad, left = 4, 0
    head = 8 + 17 * len(title_lines)
    W = left + cols * (tile + pad) + pad
    H = head + len(rows) * (tile + label_h + pad) + pad
    canvas = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(canvas)
    for i, t in enumerate(title_lines):
        d.text((pad, 4 + 17 * i), t, fill="black", font=ft)
    for r, (rtitle, cells) in enumerate(rows):
        y = head + r * (tile + label_h + pad)
        for c, cell in enumerate(cells):
            if cell is None:
                continue
            im, labels = cell
            x = left + pad + c * (tile + pad)
            canvas.paste(im, (x, y + label_h))
            for i, t in enumerate(labels):
                d.text((x, y + 2 + 15 * i), t, fill="black", font=f)
    canvas.save(path, optimize=True)


def make_figures(args, images, rows_by_key, note):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(images)
    sweep_img = names[0]

    # psnr_vs_step.png
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 4.0), squeeze=False)
    for ax, image in zip(axes[0], names):
        for run in ALL_RUNS:
            key = (image, run)
            if key not in rows_by_key:
                continue
            s, p = load_curve(run_paths(args.work, args.steps, image, run)["curve"])
            ax.plot(s, p, label=ALL_RUNS[run][0], color=COLORS[run],
                    ls="--" if run in SWEEP_RUNS else "-")
        ax.set_title("%s (%dx%d)" % (image, SIZE, SIZE))
        ax.set_xlabel("Adam step (full batch)")
        ax.set_ylabel("PSNR of the float network (dB)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(note, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(os.path.join(args.out, "psnr_vs_step.png"), dpi=80)
    plt.close(fig)

    # comparison.png: originals and 1x reconstructions at 2x nearest (pixels stay visible)
    z = 2
    runs = list(ALL_RUNS)
    rows = []
    for image in names:
        p1, _ = images[image]
        orig = Image.open(p1).convert("RGB")
        cells = [(orig.resize((SIZE * z, SIZE * z), Image.NEAREST), [image, "original 128x128"])]
        for run in runs:
            r = rows_by_key.get((image, run))
            if r is None:
                cells.append(None)
                continue
            im = Image.open(run_paths(args.work, args.steps, image, run)["x1"]).convert("RGB")
            cells.append((im.resize((SIZE * z, SIZE * z), Image.NEAREST),
                          [ALL_RUNS[run][0], "%.2f dB" % r["psnr_db"]]))
        rows.append((image, cells))
    grid_figure(rows, 1 + len(runs), SIZE * z,
                ["Reconstructions at the training size (128x128, shown 2x nearest); "
                 "PSNR of the decoded --bits 16 file", note],
                os.path.join(args.out, "comparison.png"))

    # comparison_2x.png: a crop of the 2x decodes, shown 3x nearest
    crop, zz = 32, 3  # crop in 128-px units; 64x64 of the 256 decodes
    rows = []
    for image in names:
        p1, p2 = images[image]
        ref2 = Image.open(p2).convert("RGB")
        a = np.asarray(ref2, np.float64).mean(2)
        g = np.abs(np.diff(a, axis=0))[:, :-1] + np.abs(np.diff(a, axis=1))[:-1, :]
        best, bx, by = -1, 0, 0
        for y in range(0, 2 * SIZE - 2 * crop, 8):
            for x in range(0, 2 * SIZE - 2 * crop, 8):
                v = g[y:y + 2 * crop - 1, x:x + 2 * crop - 1].sum()
                if v > best:
                    best, bx, by = v, x, y
        box2 = (bx, by, bx + 2 * crop, by + 2 * crop)
        box1 = (bx // 2, by // 2, bx // 2 + crop, by // 2 + crop)
        T = 2 * crop * zz

        def show(im, box):
            return im.crop(box).resize((T, T), Image.NEAREST)

        orig1 = Image.open(p1).convert("RGB")
        lanc = orig1.resize((2 * SIZE, 2 * SIZE), Image.LANCZOS)
        cells = [(show(ref2, box2), [image + " true 256", "crop %d,%d 64x64" % (bx, by)]),
                 (show(orig1, box1), ["128 input", "(nearest)"]),
                 (show(lanc, box2), ["Lanczos 2x of 128",
                                     "%.2f dB" % psnr(np.asarray(ref2), np.asarray(lanc))])]
        for run in runs:
            r = rows_by_key.get((image, run))
            if r is None:
                cells.append(None)
                continue
            im = Image.open(run_paths(args.work, args.steps, image, run)["x2"]).convert("RGB")
            cells.append((show(im, box2), [ALL_RUNS[run][0], "2x: %.2f dB" % r["psnr_2x_db"]]))
        rows.append((image, cells))
    grid_figure(rows, 3 + len(runs), T,
                ["Decoded at 2x (256x256) from networks fitted at 128x128: a 64x64 crop, "
                 "shown 3x nearest. dB = PSNR of the whole 2x decode vs the true 256x256 "
                 "downsample", note],
                os.path.join(args.out, "comparison_2x.png"))

    # spectrum.png: error/signal per band, mean over images
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    centres = [math.sqrt(max(lo, hi / 2) * hi) for lo, hi in BANDS]
    for run in ALL_RUNS:
        vals = [rows_by_key[(im, run)]["bands"] for im in names if (im, run) in rows_by_key]
        if not vals:
            continue
        lab = ALL_RUNS[run][0] + ("" if len(vals) == len(names) else " (%s only)" % sweep_img)
        ax.semilogx(centres, np.mean(vals, 0), marker="o", label=lab, color=COLORS[run],
                    ls="--" if run in SWEEP_RUNS else "-")
    ax.axvline(0.5, color="gray", lw=0.8)
    ax.text(0.5, ax.get_ylim()[1], " Nyquist", fontsize=8, va="top")
    ax.set_xlabel("radial frequency (cycles per pixel of the 128x128 image)")
    ax.set_ylabel("error / signal energy in band (dB)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    ax.set_title("What each network leaves out, per frequency band (1x decodes)", fontsize=10)
    fig.text(0.01, 0.005, note, fontsize=6.5)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(os.path.join(args.out, "spectrum.png"), dpi=80)
    plt.close(fig)


# -------------------------------------------------------------------------- reports

def hardware():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    torch = "LibTorch (version unknown)"
    try:
        v = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libtorch-dev"],
                           capture_output=True, text=True).stdout.strip()
        if v:
            torch = "LibTorch %s CPU (Debian libtorch-dev)" % v
    except OSError:
        pass
    return "%d-core %s, %s" % (os.cpu_count() or 0, model, torch)


def fmt(v, n=2):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else "%.*f" % (n, v)


def load_note(rows_by_key):
    loads = [x for r in rows_by_key.values() if r.get("load") for x in r["load"]]
    if not loads:
        return ""
    return " (1-minute load average at encode start/end: mean %.1f, max %.1f, on %d cores)" % (
        float(np.mean(loads)), max(loads), os.cpu_count() or 0)


def write_reports(args, images, rows_by_key, info):
    names = list(images)
    out = args.out
    fields = ["image", "run", "label", "steps", "parameters", "psnr_db", "float_psnr_db",
              "psnr_1x_db", "psnr_2x_db", "fit_seconds", "s_per_step", "seconds", "wall_s"]
    tmp = os.path.join(out, "results.csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields)
        order = sorted(rows_by_key, key=lambda k: (names.index(k[0]), list(ALL_RUNS).index(k[1])))
        for key in order:
            r = rows_by_key[key]
            w.writerow(["%.4f" % r[k] if isinstance(r[k], float) else r[k] for k in fields])
        for image in names:
            w.writerow([image, "lanczos_2x", "Lanczos upsampling of the 128x128 image", 0, 0,
                        "", "", "", "%.4f" % info["lanczos_2x"][image], "", "", "", ""])
    os.replace(tmp, os.path.join(out, "results.csv"))

    with open(os.path.join(out, "spectrum.csv.tmp"), "w") as f:
        w = csv.writer(f)
        w.writerow(["image", "run"] + ["band_%.4f_%.4f_cpp" % b for b in BANDS])
        for (image, run), r in rows_by_key.items():
            w.writerow([image, run] + ["%.3f" % v for v in r["bands"]])
    os.replace(os.path.join(out, "spectrum.csv.tmp"), os.path.join(out, "spectrum.csv"))

    enc_rows, nyq = encodings_table(SIZE)
    with open(os.path.join(out, "encodings.csv.tmp"), "w") as f:
        w = csv.DictWriter(f, fieldnames=list(enc_rows[0]))
        w.writeheader()
        w.writerows(enc_rows)
    os.replace(os.path.join(out, "encodings.csv.tmp"), os.path.join(out, "encodings.csv"))

    init_rows = siren_init_study()
    with open(os.path.join(out, "siren_init.csv.tmp"), "w") as f:
        w = csv.DictWriter(f, fieldnames=list(init_rows[0]))
        w.writeheader()
        w.writerows(init_rows)
    os.replace(os.path.join(out, "siren_init.csv.tmp"), os.path.join(out, "siren_init.csv"))

    md = []
    md.append("# Issue 3 experiment: ReLU vs positional encoding vs Fourier features vs SIREN\n")
    md.append("Produced by (in this order; finished runs are skipped):\n")
    for inv in info["invocations"]:
        md.append("    %s   # %s, %.1f min wall, %s encode(s)"
                  % (inv["command"], inv["started"], inv["wall_s"] / 60,
                     inv.get("encodes_run", "?")))
    md.append("\n**Setting:** %s.  \n**Hardware:** %s, %d thread per encode, %d encode(s) at a "
              "time, under `nice`; other work may share the machine, so seconds are "
              "indicative%s.  \n**Wall time:** %.1f min in all; sum of encode wall times: "
              "%.1f min.\n"
              % (info["setting"], info["hardware"], args.threads, args.jobs,
                 load_note(rows_by_key), info["total_wall_s"] / 60, info["encode_wall_s"] / 60))
    def header(*cells):
        md.append("| " + " | ".join(cells) + " |")
        md.append("|" + "---|" * len(cells))

    def finished(run):
        """`run`'s finished rows, and a label suffix naming the image when only some are."""
        rs = [rows_by_key[(im, run)] for im in names if (im, run) in rows_by_key]
        return rs, ("" if len(rs) == len(names) else " (%s)" % names[0])

    md.append("## PSNR at the training size (dB, 128x128, decoded `--bits 16` file)\n")
    header("network", "parameters", *names, "mean", "s/step")
    for run in ALL_RUNS:
        rs = [rows_by_key.get((im, run)) for im in names]
        if not any(rs):
            continue
        done = [r for r in rs if r]
        mean = np.mean([r["psnr_db"] for r in done]) if len(done) == len(names) else None
        md.append("| %s | %d | %s | %s | %s |" % (
            ALL_RUNS[run][0], done[0]["parameters"],
            " | ".join(fmt(r["psnr_db"]) if r else "-" for r in rs), fmt(mean),
            fmt(np.mean([r["s_per_step"] for r in done]), 3)))
    md.append("\n## PSNR of the 2x decode (256x256) against the true 256x256 downsample (dB)\n")
    md.append("The networks only saw the 128x128 pixels; this scores what they put between "
              "them.  Baseline: Lanczos upsampling of the 128x128 image.\n")
    header("network", *names, "mean")
    md.append("| Lanczos 2x (baseline) | %s | %s |" % (
        " | ".join(fmt(info["lanczos_2x"][im]) for im in names),
        fmt(np.mean([info["lanczos_2x"][im] for im in names]))))
    for run in ALL_RUNS:
        rs = [rows_by_key.get((im, run)) for im in names]
        if not any(rs):
            continue
        done = [r for r in rs if r]
        mean = np.mean([r["psnr_2x_db"] for r in done]) if len(done) == len(names) else None
        md.append("| %s | %s | %s |" % (ALL_RUNS[run][0], " | ".join(
            fmt(r["psnr_2x_db"]) if r else "-" for r in rs), fmt(mean)))
    md.append("\n## PSNR (dB) after N steps, from the curves (float network, mean over images)\n")
    steps_cols = sorted({s for (im, run), r in rows_by_key.items() for s in r["curve"][0]})
    pick = [s for s in steps_cols if s in {steps_cols[min(len(steps_cols) - 1, i)]
                                          for i in np.linspace(0, len(steps_cols) - 1, 6)
                                          .round().astype(int)}]
    header("network", *("step %d" % s for s in pick))
    for run in ALL_RUNS:
        rs, suffix = finished(run)
        if not rs:
            continue
        cells = []
        for s in pick:
            v = [dict(zip(*r["curve"])).get(s) for r in rs]
            v = [x for x in v if x is not None]
            cells.append(fmt(np.mean(v)) if v else "-")
        md.append("| %s%s | %s |" % (ALL_RUNS[run][0], suffix, " | ".join(cells)))
    md.append("\n## Error/signal energy per radial frequency band (dB, 1x decodes, mean over "
              "images; lower is better; 0 dB = band not reproduced at all)\n")
    md.append("Bands in cycles per pixel of the 128x128 image (0.5 = Nyquist = %g cycles per "
              "unit of the [-1,1] square; the last band is the corners beyond Nyquist).\n" % nyq)
    header("network", *("%.3g-%.3g" % b for b in BANDS))
    for run in ALL_RUNS:
        rs, suffix = finished(run)
        if not rs:
            continue
        md.append("| %s%s | %s |" % (ALL_RUNS[run][0], suffix, " | ".join(
            fmt(v, 1) for v in np.mean([r["bands"] for r in rs], 0))))
    md.append("\n## Input encodings against the training grid (encodings.csv)\n")
    md.append("| encoding | features | max frequency (cycles/unit) | at Nyquist | above "
              "Nyquist (%g cycles/unit) | note |" % nyq)
    md.append("|---|---|---|---|---|---|")
    for r in enc_rows:
        md.append("| %s | %d | %g | %d | %d | %s |" % (
            r["encoding"], r["features"], r["max_freq_cycles_per_unit"],
            r["features_at_nyquist"], r["features_above_nyquist"], r["note"]))
    md.append("\nmax over the 128 pixel centres of |sin(2^k pi x)|, k = 0..9: %s\n"
              % ", ".join("%.2g" % v for v in check_pe_on_grid(SIZE)))
    md.append("## Initialisation, forward pass only (siren_init.csv; numpy, 4x256, 128x128 grid, "
              "seed 0)\n")
    keys = list(init_rows[0])
    md.append("| " + " | ".join(keys) + " |")
    md.append("|" + "---|" * len(keys))
    for r in init_rows:
        md.append("| " + " | ".join(str(r[k]) for k in keys) + " |")
    md.append("\nFigures: `psnr_vs_step.png`, `comparison.png`, `comparison_2x.png`, "
              "`spectrum.png` (all: %s).\n" % info["note"])
    write_atomic(os.path.join(out, "table.md"), "\n".join(md))


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=8000)
    ap.add_argument("--jobs", type=int, default=1, help="parallel encodes (1 or 2)")
    ap.add_argument("--threads", type=int, default=1, help="threads per encode")
    ap.add_argument("--images", default="kodim23,kodim05,kodim15")
    ap.add_argument("--kodak", default="/work/shared/data/kodak")
    ap.add_argument("--work", default="/tmp/pe_experiment_work")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--nifc", default=os.path.join(REPO, "build", "nifc"))
    ap.add_argument("--eval-every", type=int, default=0, help="default: steps/30")
    ap.add_argument("--runs", default="", help="only these run ids (default: all): "
                    + ",".join(ALL_RUNS))
    ap.add_argument("--nice", type=int, default=10)
    ap.add_argument("--figures-only", action="store_true",
                    help="only rebuild tables and figures from finished runs")
    args = ap.parse_args()
    args.jobs = max(1, min(2, args.jobs))
    if args.eval_every <= 0:
        args.eval_every = max(1, args.steps // 30)
    os.makedirs(args.out, exist_ok=True)
    t_start = time.time()
    command = "/usr/bin/python3 " + " ".join(
        shlex.quote(a) for a in [os.path.relpath(os.path.abspath(sys.argv[0]), REPO)] + sys.argv[1:])

    images = prepare_images([s for s in args.images.split(",") if s], args.kodak, args.work)
    names = list(images)
    tasks = [(im, run) for im in names for run in RUNS]
    tasks += [(names[0], run) for run in SWEEP_RUNS]
    if args.runs:
        keep = set(args.runs.split(","))
        unknown = keep - set(ALL_RUNS)
        if unknown:
            sys.exit("run_experiment.py: unknown run id(s) %s" % ",".join(sorted(unknown)))
        tasks = [t for t in tasks if t[1] in keep]
    encodes_run = [0]
    if not args.figures_only:
        if not os.access(args.nifc, os.X_OK):
            sys.exit("run_experiment.py: %s not found (make -C build nifc)" % args.nifc)
        errors = []
        with cf.ThreadPoolExecutor(max_workers=args.jobs) as ex:
            futs = {ex.submit(do_run, args, im, images[im][0], run, encodes_run): (im, run)
                    for im, run in tasks}
            for fu in cf.as_completed(futs):
                try:
                    fu.result()
                except Exception as e:  # keep going; report at the end
                    errors.append(str(e))
                    log("ERROR " + str(e))
        if errors:
            print("\n".join(errors), file=sys.stderr)

    rows_by_key = {}
    lanczos = {}
    for image in names:
        p1, p2 = images[image]
        ref1, ref2 = load_rgb(p1), load_rgb(p2)
        lanczos[image] = psnr(ref2, np.asarray(
            Image.open(p1).convert("RGB").resize((2 * SIZE, 2 * SIZE), Image.LANCZOS)))
        for run in ALL_RUNS:
            paths = run_paths(args.work, args.steps, image, run)
            if not is_done(paths, args.steps):
                continue
            with open(paths["json"]) as f:
                j = json.load(f)
            x1, x2 = load_rgb(paths["x1"]), load_rgb(paths["x2"])
            rows_by_key[(image, run)] = {
                "image": image, "run": run, "label": ALL_RUNS[run][0], "steps": j["steps"],
                "parameters": j["parameters"], "psnr_db": j["psnr_db"],
                "float_psnr_db": j["float_psnr_db"], "psnr_1x_db": psnr(ref1, x1),
                "psnr_2x_db": psnr(ref2, x2), "fit_seconds": j["fit_seconds"],
                "s_per_step": j["fit_seconds"] / j["steps"], "seconds": j["seconds"],
                "wall_s": j.get("wall_s", float("nan")),
                "load": j.get("load_avg_1min"), "bands": band_error_db(ref1, x1),
                "curve": load_curve(paths["curve"])}
    if not rows_by_key:
        sys.exit("run_experiment.py: no finished runs")

    hw = hardware()
    setting = ("%d steps, full batch (%d px), %dx%d ReLU/sine MLP, Adam peak lr %g "
               "(nifc schedule: 50-step linear warm-up, cosine decay to 5%%), --bits 16, "
               "eval every %d steps" % (args.steps, SIZE * SIZE, LAYERS, HIDDEN, LR,
                                         args.eval_every))
    note = "%d steps, full batch, 4x256, lr 1e-4; %s, %d thread" % (args.steps, hw, args.threads)
    info = {"command": command, "setting": setting, "hardware": hw, "note": note,
            "started": datetime.datetime.fromtimestamp(t_start).isoformat(timespec="seconds"),
            "finished": datetime.datetime.now().isoformat(timespec="seconds"),
            "wall_s": time.time() - t_start,
            "encode_wall_s": sum(r["wall_s"] for r in rows_by_key.values()
                                 if not math.isnan(r["wall_s"])),
            "lanczos_2x": lanczos, "python": platform.python_version(),
            "steps": args.steps, "threads": args.threads, "jobs": args.jobs,
            "runs": len(rows_by_key), "runs_expected": len(tasks)}
    # run_info.json keeps every invocation that ran encodes for this step count
    # (a resumed or extended experiment), so the wall time adds up.
    info_path = os.path.join(args.out, "run_info.json")
    old = {}
    if os.path.exists(info_path):
        with open(info_path) as f:
            old = json.load(f)
    if old.get("steps") != args.steps:
        old = {}
    invocations = old.get("invocations") or (
        [{k: old[k] for k in ("command", "started", "finished", "wall_s")}] if old else [])
    if not args.figures_only:
        invocations.append({"command": command, "started": info["started"],
                            "finished": info["finished"], "wall_s": info["wall_s"],
                            "encodes_run": encodes_run[0]})
    info["invocations"] = invocations
    info["total_wall_s"] = sum(i["wall_s"] for i in invocations)
    if args.figures_only:
        info["figures_rebuilt"] = info["finished"]
    make_figures(args, images, rows_by_key, note)
    write_reports(args, images, rows_by_key, info)
    write_atomic(info_path, json.dumps(info, indent=1) + "\n")
    log("%d/%d runs finished; results in %s" % (len(rows_by_key), len(tasks), args.out))


if __name__ == "__main__":
    main()
