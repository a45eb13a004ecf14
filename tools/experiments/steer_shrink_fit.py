#!/usr/bin/env python3
"""Refits encoder.cc's steering constants (kSteerPilot, kSteerAt) from -q fits.

A size target predicts, at 10/30/50/70 % of the fit, the size of the file -q would write
from the finished fit: the latents packed at their trained step, over c * bpp^e.  This
fits c and e per point from -q encodes traced with size-trace.patch:

  git apply tools/experiments/size-trace.patch && cmake --build build --target nifc
  for im in kodim02 kodim05 kodim08 kodim13 kodim15 kodim19 kodim21 kodim23; do
    for q in 35 75; do   # (and 55 90 on a few)
      NIFC_SIZE_TRACE=1 build/nifc encode ../shared/data/kodak/$im.png -o DIR/${im}_q$q.nif \
        -q $q --threads 1 --json -f > DIR/${im}_q$q.json 2> DIR/${im}_q$q.trace
    done
  done
  /usr/bin/python3 tools/experiments/steer_shrink_fit.py DIR
"""
import glob
import json
import os
import re
import sys

import numpy as np

log_bpp, log_shrink = [], {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    result = json.load(open(path))
    trace = open(path[:-5] + ".trace").read()
    packed = {int(s): int(b) for s, b in re.findall(r"q step (\d+) packed (\d+)", trace)}
    steps = result["steps"]
    if steps not in packed:
        continue
    log_bpp.append(np.log(result["bpp"]))
    print(f"{os.path.basename(path)[:-5]:14s} file {result['bytes']:6d} B, packed at the end "
          f"{packed[steps]:6d} B (file / packed {result['bytes'] / packed[steps]:.3f})")
    for tenth in (1, 3, 5, 7):
        log_shrink.setdefault(tenth, []).append(
            np.log(packed[steps * tenth // 10] / result["bytes"]))
x = np.array(log_bpp)
for tenth, y in log_shrink.items():
    y = np.array(y)
    e, log_c = np.polyfit(x, y, 1)
    resid = y - (log_c + e * x)
    print(f"{tenth * 10:2d} %: packed / file = {np.exp(log_c):.3f} * bpp^{e:.3f} "
          f"(residual sd {resid.std():.3f}; one constant {np.exp(y.mean()):.3f}, sd {y.std():.3f})")
