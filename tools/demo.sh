#!/usr/bin/env bash
# The main job on a sample image: set up, encode samples/parrots.png to a .nif,
# inspect it, decode it at its own size and at twice the size.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh build
OUT=${OUT_DIR:-build/demo}
mkdir -p "$OUT"
export OMP_WAIT_POLICY=PASSIVE
build/nifc encode samples/parrots.png -o "$OUT/parrots.nif" -f
build/nifc info "$OUT/parrots.nif"
build/nifc decode "$OUT/parrots.nif" -o "$OUT/parrots.png" -f
build/nifc decode "$OUT/parrots.nif" -o "$OUT/parrots-2x.png" --scale 2 -f
echo "demo: wrote $OUT/parrots.nif, $OUT/parrots.png and $OUT/parrots-2x.png"
