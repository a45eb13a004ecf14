#!/usr/bin/python3
"""The 12-megapixel test photograph of README "Large images": a 4 x 4 mosaic of the first
16 landscape Kodak images (in name order), each centre-cropped to 682 x 512 and resized
with Lanczos to 1024 x 768: 4096 x 3072 in all.  Derived from ../shared/data/kodak, so it
is made, not committed.

    /usr/bin/python3 tools/rd/make_mosaic.py ../shared/data/kodak /tmp/mosaic12mp.png
"""
import os
import sys

from PIL import Image


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: make_mosaic.py KODAK_DIR OUT.png")
    src, out = argv
    names = sorted(n for n in os.listdir(src) if n.startswith("kodim") and n.endswith(".png"))
    landscape = []
    for n in names:
        im = Image.open(os.path.join(src, n)).convert("RGB")
        if im.width > im.height:
            landscape.append(im)
    if len(landscape) < 16:
        sys.exit("make_mosaic.py: need 16 landscape images in %s, found %d" % (src, len(landscape)))
    mosaic = Image.new("RGB", (4096, 3072))
    for i, im in enumerate(landscape[:16]):
        x0 = (im.width - 682) // 2
        tile = im.crop((x0, 0, x0 + 682, 512)).resize((1024, 768), Image.LANCZOS)
        mosaic.paste(tile, ((i % 4) * 1024, (i // 4) * 768))
    mosaic.save(out)


if __name__ == "__main__":
    main(sys.argv[1:])
