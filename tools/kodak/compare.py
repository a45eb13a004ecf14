#!/usr/bin/env python3
"""Compares nifc encodes (the --json lines of `nifc encode`) with libjpeg-turbo on the
same image at the same bpp (interpolated on that image's JPEG curve, log bpp,
tools/rd/results/jpeg.csv) and with the published COIN Kodak curve.

  compare.py RESULT.json [RESULT.json ...]
"""
import csv
import json
import math
import os
import sys

COIN = [(0.074, 23.21), (0.160, 24.64), (0.307, 26.41), (0.611, 28.41), (1.209, 30.64)]


def interp_log(curve, bpp):
    curve = sorted(curve)
    if not curve[0][0] <= bpp <= curve[-1][0]:
        return float("nan")
    for (b0, p0), (b1, p1) in zip(curve, curve[1:]):
        if b0 <= bpp <= b1:
            t = (math.log(bpp) - math.log(b0)) / (math.log(b1) - math.log(b0))
            return p0 + t * (p1 - p0)
    return float("nan")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    jpeg = {}
    with open(os.path.join(here, "..", "rd", "results", "jpeg.csv")) as f:
        for row in csv.DictReader(f):
            jpeg.setdefault(row["image"], []).append((float(row["bpp"]), float(row["psnr_rgb"])))
    rows = []
    for path in sys.argv[1:]:
        with open(path) as f:
            d = json.loads(f.read().strip().splitlines()[-1])
        name = os.path.splitext(os.path.basename(d["input"]))[0]
        rows.append((name, d["bpp"], d["psnr_db"], interp_log(jpeg.get(name, []), d["bpp"]),
                     interp_log(COIN, d["bpp"]), d["seconds"], d["steps"]))
    print("| image | bpp | PSNR dB | JPEG at same bpp | COIN curve at same bpp | encode s |")
    print("|---|---|---|---|---|---|")
    for r in sorted(rows):
        print("| %s | %.4f | %.2f | %.2f | %.2f | %.0f |" % (r[0], r[1], r[2], r[3], r[4], r[5]))
    n = len(rows)
    if n:
        mb = sum(r[1] for r in rows) / n
        mp = sum(r[2] for r in rows) / n
        mj = sum(r[3] for r in rows) / n
        print("| mean of %d | %.4f | %.2f | %.2f | %.2f (COIN at the mean bpp) | |"
              % (n, mb, mp, mj, interp_log(COIN, mb)))


if __name__ == "__main__":
    main()
