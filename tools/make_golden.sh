#!/usr/bin/env bash
# Regenerates the golden vectors in samples/ (a .nif and its expected decode
# each) with a built nifc.  Run only when the format or the reference decoder
# changes on purpose; tests/test_decoder.cc checks them.
#
#   tools/make_golden.sh [NIFC [NAME...]]
#
# With names, only those vectors are rewritten: older vectors stay as they were
# written, since every decoder must keep decoding them.
set -euo pipefail
cd "$(dirname "$0")/.."
NIFC=${1:-build/nifc}
shift || true
ONLY=" $* "
S=samples
golden() {
  local name=$1 input=$2 decode_args=$3
  shift 3
  if [ "$ONLY" != "  " ] && [[ "$ONLY" != *" $name "* ]]; then return; fi
  OMP_WAIT_POLICY=PASSIVE "$NIFC" encode "$S/$input" -o "$S/$name.nif" -f --quiet --threads 1 "$@"
  # shellcheck disable=SC2086
  "$NIFC" decode "$S/$name.nif" -o "$S/$name.expected.png" -f -q $decode_args
}
golden golden-siren-pe parrots.png "" --arch siren-pe --hidden 24 --steps 100
golden golden-gray16 gray16.png "" --arch siren-pe --hidden 16 --steps 100 --bits 12
golden golden-rgba-relu-pe rgba.png "--scale 1.5" --arch pe --hidden 16 --steps 100
golden golden-fourier parrots.png "--width 100" --arch fourier --hidden 24 --ff-features 16 --steps 100
golden golden-siren rgba.png "--region 10,5,30,20" --arch siren --hidden 16 --steps 100
golden golden-grid parrots.png "--width 150" --arch grid --grid-levels 4 --grid-channels 2 --steps 100
# Format 1.2: 3 x 2 tiles (SPEC.md §11), decoded at 1.5x in a region across tile boundaries.
golden golden-tiled parrots.png "--scale 1.5 --region 30,20,200,150" --arch siren-pe --hidden 12 \
  --steps 100 --tile-size 80 --tile-overlap 6
# Format 1.3: a grid file whose weights are range coded (SPEC.md §6.5), decoded in a region.
golden golden-grid-rc parrots.png "--region 20,10,120,90" --arch grid --grid-levels 5 --steps 150
ls -l $S/golden-*
