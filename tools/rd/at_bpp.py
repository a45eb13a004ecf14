#!/usr/bin/env python3
"""Per-image comparison of one sweep point of codec B against anchor codec A at B's
own rate: for each image, A's PSNR at B's bpp (PCHIP over log bpp on A's curve for that
image, no extrapolation) and the difference.  Prints one line per image and a summary:
mean bpp, mean PSNR, mean difference, images above A, encode times.

    at_bpp.py RESULTS/A.csv RESULTS/B.csv POINT

Debian's /usr/bin/python3 with numpy and scipy.
"""
import csv
import sys

import numpy as np
from scipy.interpolate import PchipInterpolator


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    anchor_csv, codec_csv, point = argv
    curves = {}
    for r in csv.DictReader(open(anchor_csv)):
        curves.setdefault(r["image"], []).append((float(r["bpp"]), float(r["psnr_rgb"])))
    rows = sorted((r for r in csv.DictReader(open(codec_csv)) if r["point"] == point),
                  key=lambda r: r["image"])
    if not rows:
        print("no rows for point %s in %s" % (point, codec_csv), file=sys.stderr)
        return 1
    bpp, psnr, diff, secs = [], [], [], []
    print("image,bpp,psnr_rgb,anchor_psnr,delta_db,enc_s")
    for r in rows:
        curve = sorted(set(curves.get(r["image"], [])))
        b = float(r["bpp"])
        if len(curve) < 2 or not curve[0][0] <= b <= curve[-1][0]:
            print("%s: bpp %.4f outside the anchor's curve, skipped" % (r["image"], b),
                  file=sys.stderr)
            continue
        x = np.log([c[0] for c in curve])
        a = float(PchipInterpolator(x, [c[1] for c in curve])(np.log(b)))
        p = float(r["psnr_rgb"])
        bpp.append(b)
        psnr.append(p)
        diff.append(p - a)
        secs.append(float(r["enc_s"]))
        print("%s,%.6f,%.4f,%.4f,%+.4f,%.1f" % (r["image"], b, p, a, p - a, secs[-1]))
    print("images %d: mean bpp %.4f, mean PSNR %.3f dB, mean delta %+.3f dB, %d above the "
          "anchor; encode s mean %.0f, min %.0f, max %.0f" %
          (len(diff), np.mean(bpp), np.mean(psnr), np.mean(diff), sum(d > 0 for d in diff),
           np.mean(secs), min(secs), max(secs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
