#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz: clang-14, ASan + UBSan) in build-fuzz and runs
# each for SECONDS, printing per target: executions, exec/s, corpus size and crashes (0, or
# the crash files, which reproduce with `build-fuzz/tests/fuzz/TARGET CRASH_FILE`).
# Exits non-zero if any target crashed.  The corpora grow run after run in
# build-fuzz/tests/fuzz/work/TARGET/corpus.
#   tools/fuzz.sh [SECONDS] [TARGET...]     (default: 60 s, every target)
# Targets: fuzz_nif_parse fuzz_nif_decode fuzz_png_read fuzz_encode_decode.
# Environment: FUZZ_BUILD (build dir, default build-fuzz); FUZZ_RUNS=N (stop each target
# after N executions instead, SECONDS then being an upper bound); FUZZ_ARGS (more libFuzzer
# options); NIFC_FUZZ_ENCODER=OFF (skip the LibTorch target and the encoder build).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_=${1:-60}
shift || true
BUILD=${FUZZ_BUILD:-build-fuzz}
ENCODER=${NIFC_FUZZ_ENCODER:-ON}

if ! command -v clang++-14 >/dev/null; then
  echo "fuzz: clang++-14 not found; tools/setup.sh installs clang-14 and libclang-rt-14-dev" >&2
  exit 2
fi
CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DNIFC_FUZZ=ON \
  -DNIFC_BUILD_TESTS=OFF -DNIFC_BUILD_ENCODER="$ENCODER" >/dev/null
cmake --build "$BUILD" --target nifc_fuzz -j "$(nproc)" 2>&1 |
  grep -vE '^\[ *[0-9]+%\]|^make|^-- ' || true
cmake --build "$BUILD" --target nifc_fuzz -j "$(nproc)" >/dev/null

regex=""
if (($#)); then
  regex="^($(IFS='|'; echo "$*"))\$"
fi
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1
rc=0
LOG=$(mktemp "$BUILD/fuzz.XXXXXX.log") # one per run: several may run at once
# The CTest tests hold each target's command line and seeds; FUZZ_SECONDS stretches them.
FUZZ_SECONDS=$SECONDS_ ctest --test-dir "$BUILD" -L fuzz ${regex:+-R "$regex"} -V \
  >"$LOG" 2>&1 || rc=$?
summary='fuzz_[a-z_]+: [0-9?]+ executions'
sed -nE "s/^[0-9]+: ($summary.*)\$/\\1/p" "$LOG"
if ((rc != 0)); then
  grep -E '^[0-9]+: ' "$LOG" |
    grep -vE "^[0-9]+: ($summary|Test command|Working Dir|Environment|Test timeout)" |
    sed -E 's/^[0-9]+: //' >&2
  echo "fuzz: failures (full log: $LOG)" >&2
  exit 1
fi
if grep -q 'No tests were found' "$LOG"; then
  echo "fuzz: no such target: $*" >&2
  exit 2
fi
rm -f "$LOG"
