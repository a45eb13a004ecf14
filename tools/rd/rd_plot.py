#!/usr/bin/python3
"""RD plot (mean bpp vs mean PSNR-RGB) of codec results + a markdown summary table.

    rd_plot.py RESULTS/jpeg.csv RESULTS/webp.csv ... [-o rd.png]
               [--ref "COIN:0.074=23.21,0.160=24.64,0.307=26.41,0.611=28.41,1.209=30.64"]
               [--table FILE] [--title ...] [--xmax 2.0]

Inputs: rd_sweep CSVs (per-image data) or CompressAI-style JSON (mean curve only).
Reference curves (--ref, repeatable) are "name:bpp1=psnr1,bpp2=psnr2,..." (mean curves,
e.g. numbers copied from a paper).

Table (markdown, stdout or --table FILE):
  * PSNR at 0.25 / 0.5 / 0.75 / 1.0 bpp: for CSVs the mean over images of the per-image
    PCHIP-in-log(bpp) interpolated PSNR (NaN if an image's curve does not reach that bpp);
    for JSON / --ref inputs, interpolation on the mean curve (marked *).
  * BD-rate vs jpeg and vs webp (if those are among the inputs): per-image BD-rate averaged
    over the common images when both are CSVs, else on the mean curves (marked *).
"""

import argparse
import os
import sys

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bd  # noqa: E402


class Curve:
    def __init__(self, name, per_image, bpp, psnr, source):
        self.name, self.per_image, self.source = name, per_image, source
        self.bpp, self.psnr = np.asarray(bpp, float), np.asarray(psnr, float)


def parse_ref(spec):
    if ":" not in spec:
        raise SystemExit("--ref: expected name:bpp=psnr,... got %r" % spec)
    name, pts = spec.split(":", 1)
    bpp, psnr = [], []
    for item in pts.split(","):
        b, p = item.split("=")
        bpp.append(float(b)); psnr.append(float(p))
    order = np.argsort(bpp)
    return Curve(name.strip(), None, np.array(bpp)[order], np.array(psnr)[order], "ref")


def load_curve(path):
    name, per, (b, p) = bd.load_any(path)
    return Curve(name, per, b, p, path)


def psnr_row(c):
    if c.per_image is not None:
        return [bd.mean_psnr_at_bpp(c.per_image, b) for b in bd.REPORT_BPPS], ""
    return [bd.psnr_at_bpp((c.bpp, c.psnr), b) for b in bd.REPORT_BPPS], "*"


def bd_rate_vs(anchor, c):
    """(value, mark): per-image mean if both have per-image data, else mean curves."""
    if anchor is None:
        return float("nan"), ""
    if anchor is c:
        return 0.0, ""
    if anchor.per_image is not None and c.per_image is not None:
        r = bd.bd_per_image(anchor.per_image, c.per_image)
        if r["rates"] and not r["skipped"]:
            return r["bd_rate"], ""
        if r["rates"]:
            return r["bd_rate"], "†"  # some images had no overlap
        return float("nan"), ""
    try:
        return bd.bd_rate((anchor.bpp, anchor.psnr), (c.bpp, c.psnr))[0], "*"
    except bd.NoOverlap:
        return float("nan"), ""


def table(curves):
    by = {c.name: c for c in curves}
    jpeg, webp = by.get("jpeg"), by.get("webp")
    head = ["codec"] + ["PSNR@%g" % b for b in bd.REPORT_BPPS] + \
        ["BD-rate vs jpeg", "BD-rate vs webp"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in curves:
        vals, mark = psnr_row(c)
        cells = [c.name] + [("NaN" if not np.isfinite(v) else "%.2f" % v) + mark
                            for v in vals]
        for anchor in (jpeg, webp):
            v, m = bd_rate_vs(anchor, c)
            cells.append("—" if anchor is None else
                         ("NaN" if not np.isfinite(v) else "%+.1f %%" % v) + m)
        lines.append("| " + " | ".join(cells) + " |")
    notes = ["",
             "PSNR-RGB in dB, interpolated (PCHIP in log bpp) per image then averaged; "
             "BD-rate: per-image Bjøntegaard (PCHIP, common range) averaged over images, "
             "negative = fewer bits than the anchor.",
             "* = computed on the mean curve (no per-image data). "
             "† = some images skipped (curves without overlap). NaN = outside the curve's "
             "range."]
    n = {c.name: len(c.per_image) for c in curves if c.per_image is not None}
    if n:
        notes.append("Images per codec: " + ", ".join("%s %d" % kv for kv in n.items()) + ".")
    return "\n".join(lines + notes) + "\n"


def plot(curves, out, title, xmax):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 6), dpi=120)
    for c in curves:
        style = "--" if c.source == "ref" else "-"
        ax.plot(c.bpp, c.psnr, style, marker="o", ms=3, label=c.name)
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("PSNR-RGB (dB)")
    ax.set_title(title)
    if xmax:
        ax.set_xlim(0, xmax)
        ys = [p for c in curves for b, p in zip(c.bpp, c.psnr) if b <= xmax]
        if ys:
            ax.set_ylim(min(ys) - 0.5, max(ys) + 0.5)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("inputs", nargs="*", help="codec CSV or JSON files")
    ap.add_argument("--ref", action="append", default=[],
                    help='reference curve "name:bpp1=psnr1,bpp2=psnr2,..." (repeatable)')
    ap.add_argument("-o", "--out", default="rd.png", help="plot PNG (default rd.png)")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--table", help="write the markdown table here instead of stdout")
    ap.add_argument("--title", default="Kodak (24 images), PSNR-RGB")
    ap.add_argument("--xmax", type=float, default=2.0, help="x axis limit (0: auto)")
    args = ap.parse_args(argv)
    curves = [load_curve(p) for p in args.inputs] + [parse_ref(r) for r in args.ref]
    if not curves:
        ap.error("no curves")
    if not args.no_plot:
        plot(curves, args.out, args.title, args.xmax)
        print("wrote %s" % args.out, file=sys.stderr)
    t = table(curves)
    if args.table:
        with open(args.table, "w") as f:
            f.write(t)
        print("wrote %s" % args.table, file=sys.stderr)
    else:
        sys.stdout.write(t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
