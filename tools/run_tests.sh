#!/usr/bin/env bash
# The whole test suite: set up, build the full tree and the decoder-only tree
# (NIFC_BUILD_ENCODER=OFF, which must not need LibTorch), run both with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh build
tools/setup.sh build-decoder-only -DNIFC_BUILD_ENCODER=OFF
# Tests run single-threaded (LibTorch's spinning OpenMP threads slow a loaded 2-core machine).
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1
(cd build-decoder-only && ctest --output-on-failure -j 2)
cd build && ctest --output-on-failure -j 2
