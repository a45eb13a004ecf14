#!/usr/bin/python3
"""Where a grid file's bits go, and how far its entropy coder is from simple models.

  /usr/bin/python3 tools/rd/latent_entropy.py FILE.nif [--check]

For each grid level of an untiled, range-coded (SPEC.md §6.5) file, one line:
  coded    the bits §6.5's adaptive contexts spend on the level: the sum of -log2 p over
           the bits the decoder reads for it, bypass bits included (the range coder
           writes this within a few bytes);
  H0       the level's order-0 empirical entropy (one static histogram);
  ctx      the empirical entropy after a least-squares linear prediction of each level
           from its 12 nearest causal neighbours, with the residuals split into 16 bins by
           a least-squares estimate of their magnitude from the neighbours' magnitudes.
H0 and ctx are static, fitted to the very values they measure and pay nothing for their
model: they are optimistic bounds, not codes.  If `coded` is near `ctx`, a context model
of that power (an ARM of the kind issue 15 asks for) has little to gain on these latents
as they are; its gain would have to come from training the latents against its rate.

The levels come from tools/spec_range_decoder.py (the independent reading of §6.5), so
this also checks that the stream decodes.  --check: exit 1 unless the modelled total is
within 1% (plus 16 bytes) of the stream's length.
"""
import math
import os
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import spec_range_decoder as srd  # noqa: E402

# the 12 nearest causal neighbours (row offset, column offset), nearest first
NEIGHBOURS = [(0, -1), (-1, 0), (-1, -1), (-1, 1), (0, -2), (-2, 0),
              (-1, -2), (-1, 2), (-2, -1), (-2, 1), (-2, -2), (-2, 2)]


class CostingDecoder(srd.RangeDecoder):
    """The range decoder of §6.5, adding each decoded bit's cost, -log2 of the probability
    it was decoded with, to the tensor being decoded."""

    def __init__(self, stream):
        super().__init__(stream)
        self.costs, self.tensor = {}, 0

    def bit(self, p0):
        b = super().bit(p0)
        p = p0 if b == 0 else 65536 - p0
        self.costs[self.tensor] = self.costs.get(self.tensor, 0.0) - math.log2(p / 65536.0)
        return b


def entropy(values):
    _, counts = np.unique(values, return_counts=True)
    return float(-(counts * np.log2(counts / counts.sum())).sum())


def context_entropy(q):
    """The `ctx` estimate of one plane (see the module's text)."""
    rows, cols = q.shape
    p = np.pad(q, 2)
    ctx = np.stack([p[2 + dr:2 + dr + rows, 2 + dc:2 + dc + cols] for dr, dc in NEIGHBOURS],
                   -1).reshape(-1, len(NEIGHBOURS)).astype(float)
    y = q.ravel().astype(float)
    mu = ctx @ np.linalg.lstsq(ctx, y, rcond=None)[0]
    residual = y - np.round(mu)
    mags = np.c_[np.abs(ctx), np.ones(len(y))]
    scale = mags @ np.linalg.lstsq(mags, np.abs(y - mu), rcond=None)[0]
    edges = np.quantile(scale, np.linspace(0, 1, 17)[1:-1])
    bins = np.digitize(scale, edges)
    return sum(entropy(residual[bins == b]) for b in np.unique(bins))


def main(argv):
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    if len(paths) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    s = srd.sections(open(paths[0], "rb").read())
    wgts = s["WGTS"]
    if wgts[1] != 2:
        print("%s: WGTS compression %d, not 2 (range coded)" % (paths[0], wgts[1]),
              file=sys.stderr)
        return 1
    layout = srd.tensor_layout(s)
    stream = wgts[4 + 4 * len(layout):]
    rd = CostingDecoder(stream)
    tensors = srd.decode_levels(stream, layout, (1 << (wgts[0] - 1)) - 1,
                                on_tensor=lambda index: setattr(rd, "tensor", index),
                                decoder=lambda data: rd)
    costs = rd.costs
    modelled = sum(costs.values())
    print("level  size            latents   coded bits  bits/latent      H0     ctx")
    for index, ((planes, rows, cols, cset), levels) in enumerate(zip(layout, tensors)):
        if cset == 0:
            continue
        q = np.array(levels, dtype=np.int64).reshape(planes, rows, cols)
        coded = costs.get(index, 0.0)
        h0 = sum(entropy(q[i]) for i in range(planes))
        hc = sum(context_entropy(q[i]) for i in range(planes))
        n = q.size
        print("%5d  %d x %4d x %4d %9d %12.0f %12.3f %7.3f %7.3f" %
              (cset - 1, planes, rows, cols, n, coded, coded / n, h0 / n, hc / n))
    print("%s: stream %d bytes; modelled %.0f bytes (every tensor)" %
          (paths[0], len(stream), modelled / 8))
    if check and abs(modelled / 8 - len(stream)) > 0.01 * len(stream) + 16:
        print("modelled size differs from the stream by more than 1%", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
