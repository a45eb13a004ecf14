#!/usr/bin/python3
"""Bjontegaard deltas (BD-rate, BD-PSNR) between two rate-distortion results.

Usage:
    bd.py RESULTS/A.csv RESULTS/B.csv      # B against A (A is the anchor)
    bd.py RESULTS/A.json RESULTS/B.json    # CompressAI-style JSON (mean curves only)

Interpolation: scipy PCHIP (monotone piecewise cubic), over log(bpp), integrated over
the common range of the two curves only (no extrapolation):
  * BD-rate  : log(bpp) as a function of PSNR, averaged over the common PSNR range;
               BD-rate = (exp(mean(logR_B - logR_A)) - 1) * 100   (negative = B saves bits)
  * BD-PSNR  : PSNR as a function of log(bpp), averaged over the common log(bpp) range;
               BD-PSNR = mean(PSNR_B - PSNR_A) in dB           (positive = B is better)
With CSV inputs the deltas are computed per image (images present in both files) and
averaged; they are also computed once on the mean curves (mean bpp / mean PSNR per sweep
point over the common images, only points finished for all of them).

Only numpy / scipy / the standard library are used (Debian /usr/bin/python3).
"""

import csv
import json
import math
import os
import sys

import numpy as np
from scipy.interpolate import PchipInterpolator

REPORT_BPPS = (0.25, 0.5, 0.75, 1.0)


class NoOverlap(ValueError):
    """The two curves have no common range: a BD value would be an extrapolation."""


# ----------------------------------------------------------------------------- loading

def load_csv(path):
    """rd_sweep CSV -> {image: {point(str): dict(bpp, psnr, bytes, enc_s, dec_s)}}."""
    per_image = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                rec = {
                    "bytes": int(row["bytes"]),
                    "bpp": float(row["bpp"]),
                    "psnr": float(row["psnr_rgb"]),
                    "enc_s": float(row["enc_s"]),
                    "dec_s": float(row["dec_s"]),
                }
            except (KeyError, TypeError, ValueError):
                continue  # half-written / malformed line: ignored (and redone by rd_sweep)
            per_image.setdefault(row["image"], {})[row["point"]] = rec
    return per_image


def mean_curve(per_image, images=None):
    """Mean over `images` (default: all) per sweep point, only points finished for all of them.

    Returns dict with numpy arrays 'points', 'bpp', 'psnr', 'enc_s', 'dec_s', sorted by bpp,
    and 'n_images'."""
    if images is None:
        images = sorted(per_image)
    images = list(images)
    if not images:
        return {"points": [], "bpp": np.array([]), "psnr": np.array([]),
                "enc_s": np.array([]), "dec_s": np.array([]), "n_images": 0}
    common = set(per_image[images[0]])
    for im in images[1:]:
        common &= set(per_image[im])
    rows = []
    for p in common:
        recs = [per_image[im][p] for im in images]
        rows.append((float(np.mean([r["bpp"] for r in recs])),
                     float(np.mean([r["psnr"] for r in recs])),
                     float(np.mean([r["enc_s"] for r in recs])),
                     float(np.mean([r["dec_s"] for r in recs])), p))
    rows.sort()
    return {"points": [r[4] for r in rows],
            "bpp": np.array([r[0] for r in rows]),
            "psnr": np.array([r[1] for r in rows]),
            "enc_s": np.array([r[2] for r in rows]),
            "dec_s": np.array([r[3] for r in rows]),
            "n_images": len(images)}


def load_json(path):
    """CompressAI-style JSON -> (name, bpp array, psnr array)."""
    with open(path) as f:
        d = json.load(f)
    res = d["results"]
    psnr = res.get("psnr-rgb", res.get("psnr"))
    return d.get("name", os.path.splitext(os.path.basename(path))[0]), \
        np.asarray(res["bpp"], float), np.asarray(psnr, float)


def load_any(path):
    """Returns (name, per_image or None, (bpp, psnr) mean curve)."""
    name = os.path.splitext(os.path.basename(path))[0]
    if path.endswith(".json"):
        name, bpp, psnr = load_json(path)
        return name, None, (bpp, psnr)
    per_image = load_csv(path)
    mc = mean_curve(per_image)
    return name, per_image, (mc["bpp"], mc["psnr"])


def image_curve(per_image, image):
    recs = per_image[image].values()
    return (np.array([r["bpp"] for r in recs]), np.array([r["psnr"] for r in recs]))


# ----------------------------------------------------------------------- interpolation

def _monotone(x, y):
    """Sort by x, keep finite points, drop repeated x (PCHIP needs strictly increasing x)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    order = np.lexsort((y, x))
    x, y = x[order], y[order]
    keep = np.concatenate(([True], np.diff(x) > 0)) if len(x) else np.array([], bool)
    return x[keep], y[keep]


def psnr_at_bpp(curve, bpp):
    """PSNR of one curve (bpp array, psnr array) at `bpp`, PCHIP in log(bpp).

    NaN when `bpp` lies outside the curve's bpp range (no extrapolation) or the curve has
    fewer than 2 points."""
    b, p = curve
    b = np.asarray(b, float)
    ok = b > 0
    x, y = _monotone(np.log(b[ok]), np.asarray(p, float)[ok])
    if len(x) < 2 or bpp <= 0:
        return float("nan")
    lx = math.log(bpp)
    if lx < x[0] - 1e-12 or lx > x[-1] + 1e-12:
        return float("nan")
    return float(PchipInterpolator(x, y)(min(max(lx, x[0]), x[-1])))


def mean_psnr_at_bpp(per_image, bpp, images=None):
    """Mean over images of the per-image interpolated PSNR (NaN if any image is out of range)."""
    images = sorted(per_image) if images is None else images
    vals = [psnr_at_bpp(image_curve(per_image, im), bpp) for im in images]
    return float(np.mean(vals)) if vals else float("nan")


def _avg_diff(xa, ya, xb, yb):
    """Mean of (fb - fa) over the common x range, PCHIP of y(x). Returns (diff, lo, hi)."""
    xa, ya = _monotone(xa, ya)
    xb, yb = _monotone(xb, yb)
    if len(xa) < 2 or len(xb) < 2:
        raise NoOverlap("need at least 2 distinct points per curve")
    lo, hi = max(xa[0], xb[0]), min(xa[-1], xb[-1])
    if not hi > lo:
        raise NoOverlap("ranges [%.4g, %.4g] and [%.4g, %.4g] do not overlap"
                        % (xa[0], xa[-1], xb[0], xb[-1]))
    fa, fb = PchipInterpolator(xa, ya), PchipInterpolator(xb, yb)
    diff = (fb.integrate(lo, hi) - fa.integrate(lo, hi)) / (hi - lo)
    return float(diff), float(lo), float(hi)


def bd_rate(curve_a, curve_b):
    """BD-rate (%) of B against A. Returns (percent, psnr_lo, psnr_hi)."""
    (ra, pa), (rb, pb) = curve_a, curve_b
    d, lo, hi = _avg_diff(pa, np.log(ra), pb, np.log(rb))
    return (math.exp(d) - 1.0) * 100.0, lo, hi


def bd_psnr(curve_a, curve_b):
    """BD-PSNR (dB) of B against A. Returns (dB, bpp_lo, bpp_hi)."""
    (ra, pa), (rb, pb) = curve_a, curve_b
    d, lo, hi = _avg_diff(np.log(ra), pa, np.log(rb), pb)
    return d, math.exp(lo), math.exp(hi)


def bd_per_image(per_a, per_b):
    """Per-image BD on the images common to both; returns dict with means and details."""
    images = sorted(set(per_a) & set(per_b))
    rates, psnrs, skipped = [], [], []
    for im in images:
        ca, cb = image_curve(per_a, im), image_curve(per_b, im)
        try:
            rates.append(bd_rate(ca, cb))
            psnrs.append(bd_psnr(ca, cb))
        except NoOverlap as e:
            skipped.append((im, str(e)))
    return {"images": images, "rates": rates, "psnrs": psnrs, "skipped": skipped,
            "bd_rate": float(np.mean([r[0] for r in rates])) if rates else float("nan"),
            "bd_psnr": float(np.mean([p[0] for p in psnrs])) if psnrs else float("nan")}


# --------------------------------------------------------------------------------- CLI

def _fmt(v, f="%.2f"):
    return "NaN" if v is None or not np.isfinite(v) else f % v


def main(argv):
    if len(argv) != 2 or argv[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    na, per_a, mean_a = load_any(argv[0])
    nb, per_b, mean_b = load_any(argv[1])
    print("BD of %s (B) against %s (A, anchor); PCHIP over log(bpp), common range only"
          % (nb, na))
    status = 0

    if per_a is not None and per_b is not None:
        r = bd_per_image(per_a, per_b)
        n_ok = len(r["rates"])
        print("per image (%d common images, %d used):" % (len(r["images"]), n_ok))
        for im, why in r["skipped"]:
            print("  skipped %s: %s" % (im, why))
        if n_ok:
            plo = min(x[1] for x in r["rates"]); phi = max(x[2] for x in r["rates"])
            blo = min(x[1] for x in r["psnrs"]); bhi = max(x[2] for x in r["psnrs"])
            print("  BD-rate  %+7.2f %%   (per-image common PSNR ranges within [%.2f, %.2f] dB)"
                  % (r["bd_rate"], plo, phi))
            print("  BD-PSNR  %+7.3f dB  (per-image common bpp ranges within [%.3f, %.3f])"
                  % (r["bd_psnr"], blo, bhi))
        else:
            print("  refused: no image has overlapping curves")
            status = 1
        # mean curves over the common images
        common = r["images"]
        if common:
            ma, mb = mean_curve(per_a, common), mean_curve(per_b, common)
            mean_a, mean_b = (ma["bpp"], ma["psnr"]), (mb["bpp"], mb["psnr"])

    print("mean curves:")
    try:
        rate, plo, phi = bd_rate(mean_a, mean_b)
        dpsnr, blo, bhi = bd_psnr(mean_a, mean_b)
        print("  BD-rate  %+7.2f %%   over PSNR [%.2f, %.2f] dB" % (rate, plo, phi))
        print("  BD-PSNR  %+7.3f dB  over bpp [%.3f, %.3f]" % (dpsnr, blo, bhi))
    except NoOverlap as e:
        print("  refused: the curves do not overlap (%s); BD would be an extrapolation" % e)
        status = 1

    print("PSNR-RGB (dB) at bpp:  " + "  ".join("%7.2f" % b for b in REPORT_BPPS))
    for name, per, mean in ((na, per_a, mean_a), (nb, per_b, mean_b)):
        if per is not None:
            vals = [mean_psnr_at_bpp(per, b) for b in REPORT_BPPS]
            how = "mean of per-image"
        else:
            vals = [psnr_at_bpp(mean, b) for b in REPORT_BPPS]
            how = "mean curve"
        print("  %-10s %-17s " % (name, how) + "  ".join("%7s" % _fmt(v) for v in vals))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
