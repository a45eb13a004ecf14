#!/usr/bin/python3
"""Self-test of the RD tools (no real image codec needed):  /usr/bin/python3 tools/rd/test_rd.py

Ends with a line "rd: N passed, M failed"; exit status 1 if anything failed."""

import argparse
import contextlib
import io
import csv
import math
import os
import shutil
import sys
import tempfile
import traceback

import numpy as np
from PIL import Image

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import at_bpp  # noqa: E402
import bd  # noqa: E402
import rd_sweep  # noqa: E402

# a realistic-looking RD curve (JPEG-like on Kodak)
BPP = np.array([0.12, 0.2, 0.3, 0.45, 0.65, 0.9, 1.3, 1.8])
PSNR = np.array([22.0, 24.3, 26.0, 27.6, 29.1, 30.5, 32.2, 34.0])


def approx(a, b, tol):
    assert abs(a - b) <= tol, "%r != %r (tol %g)" % (a, b, tol)


def test_bd_self():
    r, lo, hi = bd.bd_rate((BPP, PSNR), (BPP, PSNR))
    approx(r, 0.0, 1e-9)
    approx(lo, PSNR[0], 1e-9); approx(hi, PSNR[-1], 1e-9)
    d, blo, bhi = bd.bd_psnr((BPP, PSNR), (BPP, PSNR))
    approx(d, 0.0, 1e-9)
    approx(blo, BPP[0], 1e-9); approx(bhi, BPP[-1], 1e-9)


def test_bd_rate_minus_10():
    r, _, _ = bd.bd_rate((BPP, PSNR), (BPP * 0.9, PSNR))
    approx(r, -10.0, 1e-6)
    r, _, _ = bd.bd_rate((BPP * 0.9, PSNR), (BPP, PSNR))
    approx(r, 100.0 / 9.0, 1e-6)            # the other way round: +11.1 %
    d, _, _ = bd.bd_psnr((BPP, PSNR), (BPP, PSNR + 0.5))
    approx(d, 0.5, 1e-9)
    # per-image path + the refusal on disjoint curves
    per_a = {"i1": {str(k): {"bpp": b, "psnr": p} for k, (b, p) in enumerate(zip(BPP, PSNR))}}
    per_b = {"i1": {str(k): {"bpp": 0.9 * b, "psnr": p} for k, (b, p) in enumerate(zip(BPP, PSNR))}}
    approx(bd.bd_per_image(per_a, per_b)["bd_rate"], -10.0, 1e-6)
    try:
        bd.bd_rate((BPP, PSNR), (BPP * 10, PSNR + 20))
    except bd.NoOverlap:
        pass
    else:
        raise AssertionError("disjoint curves were not refused")


def test_psnr_synthetic():
    rng = np.random.default_rng(1)
    ref = rng.integers(0, 256, size=(16, 24, 3), dtype=np.uint8)
    dec = ref.astype(np.int16)
    dec[..., 1] = np.clip(dec[..., 1] + np.where(dec[..., 1] < 128, 4, -4), 0, 255)
    # error 4 on one channel of every pixel -> MSE = 16/3
    approx(rd_sweep.psnr_rgb(ref, dec.astype(np.uint8)),
           10 * math.log10(255.0 ** 2 / (16.0 / 3.0)), 1e-9)
    assert rd_sweep.psnr_rgb(ref, ref) == float("inf")
    approx(rd_sweep.psnr_rgb(np.zeros((4, 4, 3)), np.full((4, 4, 3), 255)), 0.0, 1e-12)
    # grayscale input is replicated to RGB
    d = tempfile.mkdtemp()
    try:
        g = rng.integers(0, 256, size=(8, 8), dtype=np.uint8)
        Image.fromarray(g, "L").save(os.path.join(d, "g.png"))
        rgb = rd_sweep.load_rgb(os.path.join(d, "g.png"))
        assert rgb.shape == (8, 8, 3) and (rgb[..., 0] == g).all() and (rgb[..., 2] == g).all()
    finally:
        shutil.rmtree(d)


def test_psnr_at_bpp():
    # PSNR linear in log(bpp): PCHIP reproduces it exactly
    b = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
    p = 30 + 3 * np.log2(b / 0.4)
    for x in (0.25, 0.5, 0.75, 1.0):
        approx(bd.psnr_at_bpp((b, p), x), 30 + 3 * math.log2(x / 0.4), 1e-9)
    approx(bd.psnr_at_bpp((b, p), 0.4), 30.0, 1e-12)             # a node
    assert math.isnan(bd.psnr_at_bpp((b, p), 0.05))              # below range
    assert math.isnan(bd.psnr_at_bpp((b, p), 2.0))               # above range
    assert math.isnan(bd.psnr_at_bpp((b[::-1], p[::-1]), 3.0))   # unsorted input ok
    # monotone: never overshoots between nodes
    xs = np.exp(np.linspace(np.log(BPP[0]), np.log(BPP[-1]), 200))
    ys = [bd.psnr_at_bpp((BPP, PSNR), x) for x in xs]
    assert all(np.diff(ys) >= -1e-12)
    per = {"a": {"0": {"bpp": 0.2, "psnr": 25.0}, "1": {"bpp": 0.8, "psnr": 31.0}},
           "b": {"0": {"bpp": 0.2, "psnr": 27.0}, "1": {"bpp": 0.8, "psnr": 33.0}}}
    approx(bd.mean_psnr_at_bpp(per, 0.4), 29.0, 1e-9)            # log-midpoint, mean
    assert math.isnan(bd.mean_psnr_at_bpp(per, 1.0))


def test_resume():
    d = tempfile.mkdtemp()
    try:
        imgdir, out = os.path.join(d, "img"), os.path.join(d, "res")
        os.makedirs(imgdir)
        rng = np.random.default_rng(2)
        for n in ("im1", "im2"):
            Image.fromarray(rng.integers(0, 256, (8, 12, 3), dtype=np.uint8)).save(
                os.path.join(imgdir, n + ".png"))
        calls = os.path.join(d, "calls")
        # fake codec: "encode" = quantize by step {point} (logs each call), "decode" = cp
        fake_enc = ("import sys,numpy as np;from PIL import Image;"
                    "s,o,q=sys.argv[1],sys.argv[2],int(sys.argv[3]);"
                    "open(%r,'a').write(s+' '+str(q)+'\\n');"
                    "a=np.asarray(Image.open(s)).astype(int)//q*q;"
                    "Image.fromarray(a.astype(np.uint8)).save(o,format='PNG')" % calls)

        class Fake(rd_sweep.Codec):
            def enc_cmd(self, src, dst, point):
                return [sys.executable, "-c", fake_enc, src, dst, point]

            def dec_cmd(self, src, dst):
                return ["cp", src, dst]

        codec = Fake("nifc", argparse.Namespace(nifc="x", nifc_args="{point}"))
        files = rd_sweep.list_images([imgdir])
        log = open(os.devnull, "w")
        assert rd_sweep.sweep(codec, files, ["2", "8"], out, 2, log) == (4, 0)
        assert rd_sweep.sweep(codec, files, ["2", "8"], out, 2, log) == (0, 0)
        # a killed run left a half-written line: it is ignored and its point redone
        with open(os.path.join(out, "nifc.csv"), "a") as f:
            f.write("im1,32,12")
        assert rd_sweep.sweep(codec, files, ["2", "8", "32"], out, 1, log) == (2, 0)
        log.close()
        assert len(open(calls).read().splitlines()) == 6      # 4 + 2 encodes, no repeats
        rows = list(csv.DictReader(open(os.path.join(out, "nifc.csv"))))
        good = [r for r in rows if r["dec_s"]]
        assert sorted((r["image"], r["point"]) for r in good) == sorted(
            (i, p) for i in ("im1", "im2") for p in ("2", "8", "32"))
        assert len(good) == 6
        for r in good:
            approx(float(r["bpp"]), 8.0 * int(r["bytes"]) / (8 * 12), 1e-5)
        j = rd_sweep.write_json("nifc", "fake", os.path.join(out, "nifc.csv"),
                                os.path.join(out, "nifc.json"), ["im1", "im2"])
        assert len(j["results"]["bpp"]) == 3 and j["points"] == ["32", "8", "2"]
        assert j["results"]["psnr-rgb"] == sorted(j["results"]["psnr-rgb"])
        # only points finished for ALL selected images go to the JSON
        assert len(rd_sweep.write_json("nifc", "fake", os.path.join(out, "nifc.csv"),
                                       os.path.join(out, "x.json"),
                                       ["im1", "im2", "im3"])["results"]["bpp"]) == 0
    finally:
        shutil.rmtree(d)


def test_at_bpp():
    d = tempfile.mkdtemp()
    try:
        fields = ["image", "point", "bytes", "bpp", "psnr_rgb", "enc_s", "dec_s"]
        with open(os.path.join(d, "a.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fields)
            w.writeheader()
            for k, (b, p) in enumerate(zip(BPP, PSNR)):
                w.writerow({"image": "i1", "point": k, "bytes": 1, "bpp": b, "psnr_rgb": p,
                            "enc_s": 1, "dec_s": 1})
        with open(os.path.join(d, "b.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fields)
            w.writeheader()
            # on a node of A's curve: A has 26.0 dB at 0.3 bpp
            w.writerow({"image": "i1", "point": "x", "bytes": 1, "bpp": 0.3, "psnr_rgb": 26.5,
                        "enc_s": 10, "dec_s": 1})
            w.writerow({"image": "i2", "point": "x", "bytes": 1, "bpp": 0.3, "psnr_rgb": 1.0,
                        "enc_s": 10, "dec_s": 1})  # no anchor curve: skipped
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = at_bpp.main([os.path.join(d, "a.csv"), os.path.join(d, "b.csv"), "x"])
        assert rc == 0, rc
        assert "i1,0.300000,26.5000,26.0000,+0.5000,10.0" in out.getvalue(), out.getvalue()
        assert "images 1:" in out.getvalue() and "mean delta +0.500 dB" in out.getvalue()
        assert "i2" in err.getvalue()
    finally:
        shutil.rmtree(d)


def main():
    tests = [test_bd_self, test_bd_rate_minus_10, test_psnr_synthetic, test_psnr_at_bpp,
             test_resume, test_at_bpp]
    passed = failed = 0
    for t in tests:
        try:
            t()
            passed += 1
            print("ok   %s" % t.__name__)
        except Exception:  # noqa: BLE001
            failed += 1
            print("FAIL %s" % t.__name__)
            traceback.print_exc()
    print("rd: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
