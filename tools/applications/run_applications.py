#!/usr/bin/python3
"""Runs nifc's applications on 256x256 Kodak crops; writes figures and a PSNR table.

  /usr/bin/python3 tools/applications/run_applications.py [--nifc build/nifc]
      [--kodak ../shared/data/kodak] [--out tools/applications/results] [--quick]

Tasks: Poisson reconstruction from the gradient and from the Laplacian, gradient-domain
blending (mask and max rules), inpainting from 10% random pixels against nearest-neighbour
and linear (Delaunay) interpolation of the same pixels.  Every fit runs on one thread, at
nice --nice (default 10: the machine is shared).  Writes, into --out: one figure per task (*.png),
results.json (every number nifc printed, with the command lines) and results.md (the table
that README "Applications" quotes).  Needs Debian's python3 with numpy, PIL and matplotlib.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "rd"))
from rd_sweep import psnr_rgb  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# (name, Kodak image, left, top): 256x256 crops.
CROPS = [
    ("hats", "kodim03", 250, 180),
    ("face", "kodim15", 250, 60),
    ("parrot", "kodim23", 300, 60),
]
# Blend: the parrot's head (B, inside an ellipse) into a sky (A).
BLEND_A = ("sky", "kodim21", 0, 0)
BLEND_B = ("parrot", "kodim23", 300, 60)
BLEND_ELLIPSE = (56, 40, 216, 232)  # left, top, right, bottom

# The options of each task (README "Applications" explains the choices).
POISSON_GRADIENT = ["--arch", "siren", "--hidden", "96", "--layers", "3", "--steps", "800",
                    "--batch", "4096"]
POISSON_LAPLACIAN = ["--arch", "siren", "--hidden", "64", "--layers", "3", "--steps", "800",
                     "--batch", "2048"]
BLEND = ["--arch", "siren", "--hidden", "96", "--layers", "3", "--steps", "800",
         "--batch", "4096"]
INPAINT = ["--arch", "siren", "--hidden", "128", "--layers", "3", "--omega0", "10",
           "--steps", "1000", "--tv", "0.3"]
KEEP_FRACTION = 0.10


def load_crop(kodak, image, left, top):
    im = Image.open(os.path.join(kodak, image + ".png")).convert("RGB")
    return im.crop((left, top, left + 256, top + 256))


NICE = 10  # --nice


def run_nifc(nifc, args, log, tmp):
    """Runs `nifc ARGS --json` at nice NICE on one thread; returns the parsed JSON."""
    cmd = ["nice", "-n", str(NICE), nifc] + args + ["--threads", "1", "--json", "-f"]
    env = dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    # As a person would type it: files by their names in the scratch folder.
    shown = " ".join(shlex.quote(a.replace(tmp + os.sep, "")) for a in ["nifc"] + args)
    print("$ " + shown, flush=True)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("nifc failed (%d): %s" % (p.returncode, p.stderr.strip()))
    result = json.loads(p.stdout)
    result["command"] = shown
    log.append(result)
    return result


def read(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0


def show(ax, img, title):
    ax.imshow(np.clip(img, 0, 1), interpolation="nearest", cmap=None if img.ndim == 3 else "gray")
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def diff_image(a, b, gain=4.0):
    return 0.5 + gain * (a - b)


def save_figure(fig, path):
    fig.savefig(path, dpi=72, bbox_inches="tight")
    plt.close(fig)
    # Figures are photographs: a palette of 255 colours keeps them small enough.
    Image.open(path).convert("RGB").quantize(255, dither=Image.Dither.NONE).save(path,
                                                                               optimize=True)


def gradient_magnitude(img):
    gx = np.zeros_like(img)
    gy = np.zeros_like(img)
    gx[:, :-1] = img[:, 1:] - img[:, :-1]
    gy[:-1, :] = img[1:, :] - img[:-1, :]
    return np.sqrt((gx ** 2 + gy ** 2).sum(2))


def laplacian(img):
    lap = np.zeros_like(img)
    lap[1:-1, 1:-1] = (img[:-2, 1:-1] + img[2:, 1:-1] + img[1:-1, :-2] + img[1:-1, 2:] -
                       4 * img[1:-1, 1:-1])
    return lap.mean(2)


def blend_field(A, B, M, rule):
    """The combined differences along x and along y (H x W-1 x C, H-1 x W x C), as
    codec/applications/applications.cc builds them: inside the mask (both pixels of an edge) B's
    (rule "mask") or the larger of A's and B's (rule "max"), A's elsewhere."""
    out = []
    for axis in (1, 0):
        ga, gb = np.diff(A, axis=axis), np.diff(B, axis=axis)
        take = (M[:, 1:] & M[:, :-1]) if axis == 1 else (M[1:] & M[:-1])
        if rule == "max":
            take = take & ((gb ** 2).sum(2) > (ga ** 2).sum(2))
        out.append(np.where(take[..., None], gb, ga))
    return out


def exact_blend(A, B, M, rule):
    """The discrete Poisson solution that the network approximates (Perez et al. 2003):
    A outside the mask; inside, the values whose 4-neighbour differences best match the
    combined field in least squares (a sparse solve per channel, scipy)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spl
    fx, fy = blend_field(A, B, M, rule)
    h, w, c = A.shape
    index = -np.ones((h, w), dtype=np.int64)
    inside = np.argwhere(M)
    index[M] = np.arange(len(inside))
    rows, cols, vals = [], [], []
    rhs = np.zeros((len(inside), c))
    for k, (y, x) in enumerate(inside):
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            yy, xx = y + dy, x + dx
            if not (0 <= yy < h and 0 <= xx < w):
                continue
            # The field's difference from (y, x) to (yy, xx).
            g = (fx[y, x] if dx == 1 else -fx[y, xx] if dx == -1 else
                 fy[y, x] if dy == 1 else -fy[yy, x])
            rows.append(k)
            cols.append(k)
            vals.append(1.0)
            if M[yy, xx]:
                rows.append(k)
                cols.append(index[yy, xx])
                vals.append(-1.0)
                rhs[k] -= g
            else:
                rhs[k] += A[yy, xx] - g
    lap = sp.csr_matrix((vals, (rows, cols)), shape=(len(inside), len(inside)))
    out = A.copy()
    for ch in range(c):
        out[M, ch] = spl.spsolve(lap, rhs[:, ch])
    return np.clip(out, 0, 1)


def psnr(a, b):
    """PSNR of two images in [0, 1], as the RD tools measure it (8-bit scale)."""
    return psnr_rgb(255 * a, 255 * b)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nifc", default=os.path.join(ROOT, "build", "nifc"))
    ap.add_argument("--kodak", default=os.path.join(ROOT, "..", "shared", "data", "kodak"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--quick", action="store_true",
                    help="a few steps per fit (a smoke test of the script, not a measurement)")
    ap.add_argument("--tasks", default="gradient,laplacian,blend,inpaint")
    ap.add_argument("--nice", type=int, default=10, help="niceness of every fit")
    a = ap.parse_args()
    global NICE
    NICE = a.nice
    nifc = os.path.abspath(a.nifc)
    tasks = a.tasks.split(",")
    os.makedirs(a.out, exist_ok=True)

    def opts(base):
        if not a.quick:
            return list(base)
        out = list(base)
        out[out.index("--steps") + 1] = "20"
        return out

    log = []
    rows = []  # (task, crop, numbers...)
    with tempfile.TemporaryDirectory() as tmp:
        crops = {}
        for name, image, left, top in CROPS + [BLEND_A]:
            path = os.path.join(tmp, name + ".png")
            load_crop(a.kodak, image, left, top).save(path)
            crops[name] = path

        # ---- Poisson from the gradient and from the Laplacian -----------------
        for source in ("gradient", "laplacian"):
            if source not in tasks:
                continue
            base = POISSON_GRADIENT if source == "gradient" else POISSON_LAPLACIAN
            fig, axes = plt.subplots(len(CROPS), 4, figsize=(8, 2.1 * len(CROPS)))
            for i, (name, image, left, top) in enumerate(CROPS):
                out_png = os.path.join(tmp, "%s_%s_out.png" % (name, source))
                r = run_nifc(nifc, ["poisson", crops[name], "--from", source, "-o",
                                    os.path.join(tmp, "p.nif"), "--png", out_png] + opts(base),
                             log, tmp)
                rows.append(("Poisson (%s)" % source, "%s (%s)" % (name, image),
                             "%.2f dB against the original" % r["psnr_db"],
                             "%s field %.2f dB" % (source, r["field_psnr_db"]),
                             "%d steps, %.0f s" % (r["steps"], r["seconds"])))
                orig, res = read(crops[name]), read(out_png)
                field = gradient_magnitude(orig) if source == "gradient" else laplacian(orig)
                show(axes[i, 0], field / (np.abs(field).max() + 1e-9) * (
                    1 if source == "gradient" else 0.5) + (0 if source == "gradient" else 0.5),
                     "input: %s of %s" % ("|gradient|" if source == "gradient" else "Laplacian",
                                          image))
                show(axes[i, 1], res, "from the %s: %.2f dB" % (source, r["psnr_db"]))
                show(axes[i, 2], orig, "original")
                show(axes[i, 3], diff_image(res, orig), "difference x4")
            save_figure(fig, os.path.join(a.out, "poisson_%s.png" % source))

        # ---- Blending ------------------------------------------------------------
        if "blend" in tasks:
            b_path = os.path.join(tmp, "blend_b.png")
            load_crop(a.kodak, *BLEND_B[1:]).save(b_path)
            mask = Image.new("L", (256, 256), 0)
            ImageDraw.Draw(mask).ellipse(BLEND_ELLIPSE, fill=255)
            mask_path = os.path.join(tmp, "mask.png")
            mask.save(mask_path)
            a_path = crops[BLEND_A[0]]
            A, B, M = read(a_path), read(b_path), np.asarray(mask) > 0
            naive = np.where(M[:, :, None], B, A)
            results = {}
            for rule in ("mask", "max"):
                out_png = os.path.join(tmp, "blend_%s.png" % rule)
                r = run_nifc(nifc, ["blend", a_path, b_path, "-o", os.path.join(tmp, "b.nif"),
                                    "--png", out_png, "--mask", mask_path, "--rule", rule] +
                             opts(BLEND), log, tmp)
                got = read(out_png)
                exact = exact_blend(A, B, M, rule)
                r["exact_psnr_db"] = psnr(got, exact)
                r["exact_psnr_inside_db"] = psnr(got[M], exact[M])
                results[rule] = (r, got, exact)
                rows.append(("Blend (%s rule)" % rule,
                             "%s + %s" % (BLEND_A[1], BLEND_B[1]),
                             "%.2f dB against the exact solution (%.2f inside the mask)"
                             % (r["exact_psnr_db"], r["exact_psnr_inside_db"]),
                             "A outside the mask %.2f dB; field %.2f dB"
                             % (r["psnr_db"], r["field_psnr_db"]),
                             "%d steps, %.0f s" % (r["steps"], r["seconds"])))
            fig, axes = plt.subplots(2, 4, figsize=(10, 5.4))
            show(axes[0, 0], A, "A: %s" % BLEND_A[1])
            show(axes[0, 1], B, "B: %s (mask outlined)" % BLEND_B[1])
            axes[0, 1].contour(M, levels=[0.5], colors="w", linewidths=0.8)
            show(axes[0, 2], naive, "copy-paste (no blending)")
            show(axes[0, 3], results["mask"][2], "exact Poisson solution\n(mask rule, sparse solve)")
            show(axes[1, 0], results["mask"][1], "network, mask rule\n(seamless cloning)")
            show(axes[1, 1], diff_image(results["mask"][1], results["mask"][2], 4),
                 "network - exact, x4")
            show(axes[1, 2], results["max"][1], "network, max rule\n(mixed gradients)")
            show(axes[1, 3], results["max"][2], "exact Poisson solution\n(max rule)")
            save_figure(fig, os.path.join(a.out, "blend.png"))

        # ---- Inpainting ----------------------------------------------------------
        if "inpaint" in tasks:
            fig, axes = plt.subplots(len(CROPS), 6, figsize=(12, 2.1 * len(CROPS)))
            keep = int(round(KEEP_FRACTION * 256 * 256))
            for i, (name, image, left, top) in enumerate(CROPS):
                p = {k: os.path.join(tmp, "%s_%s.png" % (name, k))
                     for k in ("net", "nearest", "linear", "known")}
                r = run_nifc(nifc, ["inpaint", crops[name], "--keep", str(keep), "--seed", "1",
                                    "-o", os.path.join(tmp, "i.nif"), "--png", p["net"],
                                    "--nearest-png", p["nearest"], "--linear-png", p["linear"],
                                    "--known-png", p["known"]] + opts(INPAINT), log, tmp)
                rows.append(("Inpainting (10% kept)", "%s (%s)" % (name, image),
                             "missing: network %.2f, linear %.2f, nearest %.2f dB" % (
                                 r["missing_psnr_db"], r["linear_missing_psnr_db"],
                                 r["nearest_missing_psnr_db"]),
                             "all: network %.2f, linear %.2f, nearest %.2f dB" % (
                                 r["psnr_db"], r["linear_psnr_db"], r["nearest_psnr_db"]),
                             "%d steps, %.0f s" % (r["steps"], r["seconds"])))
                orig = read(crops[name])
                show(axes[i, 0], read(p["known"]), "input: %d pixels (10%%)" % keep)
                show(axes[i, 1], read(p["nearest"]),
                     "nearest: %.2f dB" % r["nearest_missing_psnr_db"])
                show(axes[i, 2], read(p["linear"]), "linear: %.2f dB" % r["linear_missing_psnr_db"])
                show(axes[i, 3], read(p["net"]), "network: %.2f dB" % r["missing_psnr_db"])
                show(axes[i, 4], orig, "original (%s)" % image)
                show(axes[i, 5], diff_image(read(p["net"]), orig), "network - original, x4")
            save_figure(fig, os.path.join(a.out, "inpaint.png"))

    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(log, f, indent=1)
    lines = ["| task | image | PSNR | field / all pixels | steps, time |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", "Made by `/usr/bin/python3 tools/applications/run_applications.py%s`; the nifc "
              "command lines are in results.json (each ran with `--threads 1` at nice %d)." %
              (" --quick" if a.quick else "", NICE)]
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
