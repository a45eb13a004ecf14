#!/usr/bin/env bash
# Runs one libFuzzer target and prints one summary line: executions, exec/s, corpus size
# and the crash files found (exit status 1 if any).  tools/fuzz.sh and the CTest smoke
# tests (label "fuzz") call it.
#   run_fuzz.sh BINARY SECONDS WORKDIR SEED_KIND [SEED_DIR...]
# SEED_KIND picks the seed files under the SEED_DIRs: nif, png, nif+4 (.nif files with 4
# option bytes in front, for fuzz_nif_decode) or none.  WORKDIR keeps the corpus
# (WORKDIR/corpus, grown run after run), the crash files (WORKDIR/crashes) and the last
# log.  Environment: FUZZ_SECONDS overrides SECONDS; FUZZ_RUNS=N also stops after N
# executions; FUZZ_ARGS adds libFuzzer options.
set -euo pipefail
if (($# < 4)); then
  echo "usage: $0 BINARY SECONDS WORKDIR SEED_KIND [SEED_DIR...]" >&2
  exit 2
fi
BIN=$1 SECONDS_=${FUZZ_SECONDS:-$2} WORK=$3 KIND=$4
shift 4
NAME=$(basename "$BIN")
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$WORK/corpus" "$WORK/crashes"
rm -rf "$WORK/seeds"
mkdir -p "$WORK/seeds"

ext=${KIND%+4}
if [[ $KIND != none ]]; then
  for dir in "$@"; do
    [[ -d $dir ]] || continue
    while IFS= read -r -d '' f; do
      seed="$WORK/seeds/$(basename "$(dirname "$f")")-$(basename "$f")"
      if [[ $KIND == nif+4 ]]; then
        # Options for fuzz_nif_decode: a 32x32 output, 8 bits, no supersampling.
        { printf '\x1f\x1f\x00\x00'; cat "$f"; } >"$seed"
      else
        cp "$f" "$seed"
      fi
    done < <(find "$dir" -type f -name "*.$ext" -print0)
  done
fi

args=(-max_total_time="$SECONDS_" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
  -artifact_prefix="$WORK/crashes/")
[[ -f $HERE/$ext.dict ]] && args+=(-dict="$HERE/$ext.dict")
[[ -n ${FUZZ_RUNS:-} ]] && args+=(-runs="$FUZZ_RUNS")
# shellcheck disable=SC2206
args+=(${FUZZ_ARGS:-})

before=$(ls "$WORK/crashes" | sort)
rc=0
"$BIN" "${args[@]}" "$WORK/corpus" "$WORK/seeds" >"$WORK/last.log" 2>&1 || rc=$?
after=$(ls "$WORK/crashes" | sort)
new=$(comm -13 <(echo "$before") <(echo "$after") | sed "s|^|$WORK/crashes/|")

fstat() { sed -n "s/^stat::$1: *//p" "$WORK/last.log" | tail -n 1; }
execs=$(fstat number_of_executed_units)
rate=$(fstat average_exec_per_sec)
corpus=$(find "$WORK/corpus" -type f | wc -l)
seeds=$(find "$WORK/seeds" -type f | wc -l)
if [[ -n $new ]]; then
  crashes="$(echo "$new" | wc -l): $(echo "$new" | tr '\n' ' ')"
elif ((rc != 0)); then
  crashes="exit status $rc, no crash file (see $WORK/last.log)"
else
  crashes=0
fi
echo "$NAME: ${execs:-?} executions, ${rate:-?} exec/s, corpus $corpus files (+$seeds seeds)," \
  "crashes: $crashes"
if [[ -n $new ]] || ((rc != 0)); then
  grep -E -A40 '^==[0-9]+==ERROR|runtime error|invariant failed|deadly signal|Timeout|out-of-memory' \
    "$WORK/last.log" | head -n 60 >&2 || tail -n 40 "$WORK/last.log" >&2
  exit 1
fi
