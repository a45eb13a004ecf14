#!/usr/bin/env python3
"""Compares nifc encodes (the --json lines of `nifc encode`) with libjpeg-turbo and WebP
on the same image at the same bpp (interpolated on that image's curve, log bpp,
tools/rd/results/{jpeg,webp}.csv; nan outside the curve's range), and prints the encode
time from the JSON ("seconds").

  compare.py RESULT.json [RESULT.json ...]
"""
import csv
import json
import math
import os
import sys

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
    curves = {}
    for codec in ("jpeg", "webp"):
        curves[codec] = {}
        with open(os.path.join(here, "..", "rd", "results", codec + ".csv")) as f:
            for row in csv.DictReader(f):
                curves[codec].setdefault(row["image"], []).append(
                    (float(row["bpp"]), float(row["psnr_rgb"])))
    rows = []
    for path in sys.argv[1:]:
        with open(path) as f:
            d = json.loads(f.read().strip().splitlines()[-1])
        name = os.path.splitext(os.path.basename(d["input"]))[0]
        rows.append((name, d["bpp"], d["psnr_db"],
                     interp_log(curves["jpeg"].get(name, []), d["bpp"]),
                     interp_log(curves["webp"].get(name, []), d["bpp"]), d["seconds"]))
    print("| image | bpp | PSNR dB | JPEG at same bpp | WebP at same bpp | encode s |")
    print("|---|---|---|---|---|---|")
    for r in sorted(rows):
        print("| %s | %.4f | %.2f | %.2f | %.2f | %.1f |" % r)
    n = len(rows)
    if n:
        mean = [sum(r[i] for r in rows) / n for i in range(1, 6)]
        print("| **mean of %d** | **%.4f** | **%.2f** | %.2f | %.2f | %.1f |" % ((n,) + tuple(mean)))
        above = sum(1 for r in rows if r[2] > r[3])
        print("\nabove JPEG at the same bpp: %d of %d (%+.2f to %+.2f dB)"
              % (above, n, min(r[2] - r[3] for r in rows), max(r[2] - r[3] for r in rows)))
        print("against WebP at the same bpp: %+.2f to %+.2f dB, mean %+.2f dB"
              % (min(r[2] - r[4] for r in rows), max(r[2] - r[4] for r in rows),
                 mean[1] - mean[3]))


if __name__ == "__main__":
    main()
