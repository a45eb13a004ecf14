#!/usr/bin/env bash
# The whole test suite: set up, build the full tree and the decoder-only tree
# (NIFC_BUILD_ENCODER=OFF, which must not need LibTorch), run both with CTest.  Then the
# same suite built with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan, g++),
# and a smoke run of every libFuzzer target (build-fuzz, clang-14; tools/fuzz.sh runs them
# for longer).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh build
tools/setup.sh build-decoder-only -DNIFC_BUILD_ENCODER=OFF
# Tests run single-threaded (LibTorch's spinning OpenMP threads slow a loaded 2-core machine).
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1
(cd build-decoder-only && ctest --output-on-failure -j 2)
(cd build && ctest --output-on-failure -j 2)

# Sanitizers: any report fails the test that triggered it.  Leak checking stays on for
# every test, LibTorch ones included (none reports a leak).
tools/setup.sh build-asan -DNIFC_SANITIZE=address,undefined
(cd build-asan &&
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --output-on-failure -j 2)

# Fuzz smoke: each target ~10 s from the committed and shared seeds.
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Release -DNIFC_FUZZ=ON \
  -DNIFC_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz --target nifc_fuzz -j "$(nproc)" >/dev/null
(cd build-fuzz && ctest -L fuzz --output-on-failure -j 2)
