#!/usr/bin/env bash
# Installs the build into a temporary prefix, then builds examples/nif2ppm.c in
# clean directories outside the source tree, once with pkg-config and once with
# find_package(nifc), and checks both decode a golden file exactly like the
# in-tree build.   Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
BUILD=$1
SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cmake --install "$BUILD" --prefix "$T/prefix" >/dev/null
PC_DIR=$(dirname "$(find "$T/prefix" -name nifc-decoder.pc | head -n 1)")
LIBDIR=$(dirname "$(find "$T/prefix" -name 'libnifcdec.so*' | head -n 1)")
mkdir "$T/pc" "$T/cm"
cp "$SRC/examples/nif2ppm.c" "$T/pc/"
cp "$SRC/examples/nif2ppm.c" "$SRC/examples/CMakeLists.txt" "$T/cm/"
NIF=$SRC/samples/golden-siren-pe.nif

# 1. pkg-config only
(cd "$T/pc" && cc nif2ppm.c $(PKG_CONFIG_PATH=$PC_DIR pkg-config --cflags --libs nifc-decoder) -o nif2ppm)
LD_LIBRARY_PATH=$LIBDIR "$T/pc/nif2ppm" "$NIF" "$T/pc.ppm" >/dev/null
# 2. find_package(nifc)
cmake -S "$T/cm" -B "$T/cm/build" -DCMAKE_PREFIX_PATH="$T/prefix" >/dev/null
cmake --build "$T/cm/build" >/dev/null
LD_LIBRARY_PATH=$LIBDIR "$T/cm/build/nif2ppm" "$NIF" "$T/cm.ppm" >/dev/null
# 3. the in-tree build
"$BUILD/nif2ppm" "$NIF" "$T/tree.ppm" >/dev/null
cmp "$T/pc.ppm" "$T/tree.ppm"
cmp "$T/cm.ppm" "$T/tree.ppm"
# The installed CLI finds its encoder plugin in ../lib/nifc.
if [[ -e "$T/prefix/lib/nifc/libnifc_encoder.so" ]]; then
  OMP_NUM_THREADS=1 "$T/prefix/bin/nifc" encode "$SRC/samples/rgba.png" -o "$T/x.nif" --steps 2 --quiet
  [[ -s $T/x.nif ]]
fi
echo "install: 1 passed, 0 failed"
