#!/usr/bin/env bash
# CTest "cluster": tools/cluster/ against a real single-node Slurm cluster started here.
#   tools/cluster/test_cluster.sh NIFC SAMPLES_DIR
# Starts munged, slurmctld and slurmd (tools/cluster/local_slurm.sh, everything in a
# mktemp directory, free ports) and stops them on any exit.  Submits a manifest of 8
# small images (one not a PNG) in 3 shards, cancels one array task while it encodes,
# resubmits, and checks: the report (the bad image with its error), skipping, no
# partial or temporary file, every output decoding, the files bit-identical to a plain
# `nifc encode` with the same options, and the local (no Slurm) runner.
# Exit 77 (skip) only where the daemons cannot run at all (binaries missing, not root).
set -euo pipefail

[[ $# -eq 2 ]] || { echo "usage: $0 NIFC SAMPLES_DIR" >&2; exit 2; }
NIFC=$(readlink -f "$1")
SAMPLES=$(readlink -f "$2")
HERE=$(dirname "$(readlink -f "$0")")
CLUSTER=$HERE/nifc-cluster
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
export PATH=$PATH:/usr/sbin:/sbin
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1
T0=$(date +%s)

for b in munged slurmctld slurmd sbatch squeue scancel sinfo; do
  command -v "$b" >/dev/null || {
    echo "SKIP: $b not found; install Debian's slurm-wlm and munge (tools/setup.sh does)"
    exit 77
  }
done
[[ $(id -u) -eq 0 ]] || { echo "SKIP: slurmd must run as root to start jobs"; exit 77; }
[[ -x $NIFC ]] || { echo "FAIL: $NIFC is not executable"; exit 1; }

# /tmp, not $TMPDIR: the munge socket's path must stay short (108 bytes at most).
T=$(mktemp -d /tmp/nifc-cluster-test.XXXXXX)
step() { echo "[$(($(date +%s) - T0)) s] $*"; }
fail() {
  echo "FAIL: $*"
  exit 1
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  "$HERE/local_slurm.sh" stop "$T/slurm" || true
  if ((rc != 0 && rc != 77)); then
    for f in "$T"/slurm/log/* "$T"/out/.nifc-cluster/logs/*; do
      [[ -f $f ]] && { echo "--- $f"; tail -n 40 "$f"; }
    done
  fi
  rm -rf "$T"
  echo "cluster test: exit $rc after $(($(date +%s) - T0)) s"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- the cluster
step "starting munged, slurmctld, slurmd in $T/slurm"
rc=0
env_line=$("$HERE/local_slurm.sh" start "$T/slurm" --cpus 3 --watch $$) || rc=$?
if ((rc == 77)); then echo "SKIP: Slurm cannot run on this machine"; exit 77; fi
((rc == 0)) || fail "the local Slurm cluster did not start"
export SLURM_CONF=${env_line#export SLURM_CONF=}
sinfo

# ---------------------------------------------------------------- images and manifest
mkdir -p "$T/img"
"$PY" - "$SAMPLES/parrots.png" "$T/img" <<'EOF'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
for i in range(4):
    im.crop((48 * i, 16, 48 * i + 48, 48)).save(f"{sys.argv[2]}/a{i}.png")
im.crop((64, 64, 112, 96)).save(f"{sys.argv[2]}/slow.png")
EOF
cp "$SAMPLES/rgba.png" "$SAMPLES/gray16.png" "$T/img/"
echo "this is not a PNG file" >"$T/img/bad.png"
# 8 images in 3 shards: [a0 a1] [a2 bad rgba] [slow a3 gray16].  slow.png is slow so
# that its task can be cancelled while nifc fits it: 4000 batch steps of siren-pe take
# seconds, where the default grid's whole-image steps on 48x32 pixels take well under one.
cat >"$T/img/manifest.txt" <<'EOF'
# nifc-cluster test manifest: path [per-image nifc options]
a0.png
a1.png --seed 7
a2.png
bad.png
rgba.png
slow.png --arch siren-pe --steps 4000
a3.png
gray16.png --seed 3
EOF
OPTS=(--steps 10 --hidden 8 --threads 1)
OUT=$T/out
submit() {
  "$CLUSTER" submit "$T/img/manifest.txt" --out-dir "$OUT" --shards 3 --nifc "$NIFC" \
    --time 10 --job-name nifc-test -- "${OPTS[@]}"
}
last_job() { tail -n 1 "$OUT/.nifc-cluster/jobs.tsv" | cut -f1; }
wait_job() { # JOB TIMEOUT_S: until no task of JOB is pending or running
  local job=$1 limit=$2 start=$SECONDS queued
  while true; do
    queued=$(squeue -h -j "$job" -o %i 2>&1) && [[ -z $queued ]] && return 0
    ((SECONDS - start < limit)) || fail "job $job not done after $limit s: $queued"
    sleep 0.5
  done
}
report_field() { # NAME FIELD: the report's value for image NAME
  "$PY" -c '
import json, os, sys
rep = json.load(open(sys.argv[1]))
row = [r for r in rep["images"] if os.path.basename(r["input"]) == sys.argv[2]][0]
print(row[sys.argv[3]])' "$OUT/.nifc-cluster/report.json" "$1" "$2"
}
temps() { find "$OUT" -maxdepth 1 -name '.*.nif.*' | sort; }

# ---------------------------------------------------------------- 1: submit, cancel a task
step "submit 1"
submit
JOB1=$(last_job)
LOG2=$OUT/.nifc-cluster/logs/task-${JOB1}_2.log
start=$SECONDS
until [[ -f $LOG2 ]] && grep -q "encode $T/img/slow.png" "$LOG2"; do
  ((SECONDS - start < 90)) || fail "task 2 did not start slow.png within 90 s"
  sleep 0.2
done
sleep 1
"$CLUSTER" status "$OUT"
step "scancel ${JOB1}_2 while it encodes slow.png"
scancel "${JOB1}_2"
wait_job "$JOB1" 120
scontrol -o show job "$JOB1" | grep -o 'JobId=[0-9]* ArrayJobId=[0-9]* ArrayTaskId=[0-9]*\|JobState=[A-Z]*' | paste - - || true
rc=0
"$CLUSTER" summary "$OUT" || rc=$?
((rc == 1)) || fail "summary after a cancelled task and a bad image: exit $rc, expected 1"
[[ -z $(temps) ]] || fail "temporary files left after scancel: $(temps)"
[[ ! -e $OUT/slow.nif ]] || fail "slow.nif exists although its task was cancelled"
for n in a0 a1 a2 rgba; do
  [[ $(report_field $n.png status) == ok ]] || fail "$n.png not ok after the first job"
done
st=$(report_field slow.png status)
[[ $st == interrupted || $st == missing ]] || fail "slow.png is '$st' after scancel"
for n in a3 gray16; do
  [[ $(report_field $n.png status) == missing ]] || fail "$n.png ran although its task was cancelled first"
done
[[ $(report_field bad.png status) == failed ]] || fail "bad.png not failed"
report_field bad.png error | grep -q "not a PNG" || fail "bad.png's error: $(report_field bad.png error)"
grep -q interrupted "$LOG2" || fail "task 2's log does not say it was interrupted"
declare -A before
for n in a0 a1 a2 rgba; do before[$n]=$(stat -c '%i %.9Y' "$OUT/$n.nif"); done

# ---------------------------------------------------------------- 2: resubmit
step "submit 2 (the same job again)"
submit
JOB2=$(last_job)
wait_job "$JOB2" 150
rc=0
"$CLUSTER" summary "$OUT" || rc=$?
((rc == 1)) || fail "summary with bad.png failed: exit $rc, expected 1"
for n in a0 a1 a2 rgba slow a3 gray16; do
  [[ $(report_field $n.png status) == ok ]] || fail "$n.png not ok after the resubmission"
done
[[ $(report_field bad.png status) == failed ]] || fail "bad.png not failed after the resubmission"
report_field bad.png error | grep -q "nifc: .*bad.png: .*not a PNG" ||
  fail "bad.png's error: $(report_field bad.png error)"
report_field bad.png log | grep -q "task-${JOB2}_1.log" || fail "bad.png's log is not task 1's of job $JOB2"
"$PY" - "$OUT/.nifc-cluster/results" "$JOB2" <<'EOF' || fail "the resubmission did not skip what was done"
import json, os, sys
recs = [json.loads(l) for l in open(os.path.join(sys.argv[1], f"task-{sys.argv[2]}_0.jsonl"))]
recs += [json.loads(l) for l in open(os.path.join(sys.argv[1], f"task-{sys.argv[2]}_1.jsonl"))]
recs += [json.loads(l) for l in open(os.path.join(sys.argv[1], f"task-{sys.argv[2]}_2.jsonl"))]
got = {os.path.basename(r["input"]): r["status"] for r in recs}
want = {"a0.png": "skipped", "a1.png": "skipped", "a2.png": "skipped", "bad.png": "failed",
        "rgba.png": "skipped", "slow.png": "ok", "a3.png": "ok", "gray16.png": "ok"}
print("resubmission:", got)
sys.exit(got != want)
EOF
for n in a0 a1 a2 rgba; do
  [[ $(stat -c '%i %.9Y' "$OUT/$n.nif") == "${before[$n]}" ]] || fail "$n.nif was rewritten"
done
[[ -z $(temps) ]] || fail "temporary files left: $(temps)"
"$CLUSTER" status "$OUT"

# ---------------------------------------------------------------- outputs
step "decode every output; compare with a plain nifc encode"
mkdir -p "$T/plain" "$T/dec"
while read -r path opts; do
  [[ -z $path || $path == \#* || $path == bad.png ]] && continue
  n=${path%.png}
  "$NIFC" decode "$OUT/$n.nif" -o "$T/dec/$n.png" || fail "$n.nif does not decode"
  # The same options by hand: the global ones, the manifest's replacing --steps.
  base=("${OPTS[@]}")
  [[ $opts == *--steps* ]] && base=(--hidden 8 --threads 1)
  # shellcheck disable=SC2086  # the manifest's per-image options, split as words
  "$NIFC" encode "$T/img/$path" -o "$T/plain/$n.nif" --quiet "${base[@]}" $opts ||
    fail "plain encode of $path"
  cmp "$OUT/$n.nif" "$T/plain/$n.nif" || fail "$n.nif differs from a plain nifc encode"
  echo "$n.nif: decodes, identical to a plain encode ($(stat -c %s "$OUT/$n.nif") bytes)"
done <"$T/img/manifest.txt"
[[ $(report_field slow.png bytes) == $(stat -c %s "$OUT/slow.nif") ]] || fail "slow.png's bytes in the report"

# ---------------------------------------------------------------- 3: nothing left
step "submit --pending-only --dry-run: only bad.png's shard is left"
"$CLUSTER" submit "$T/img/manifest.txt" --out-dir "$OUT" --shards 3 --nifc "$NIFC" \
  --pending-only --dry-run -- "${OPTS[@]}" | tee "$T/dry.txt"
grep -q "array 1$" "$T/dry.txt" || fail "--pending-only should submit shard 1 only"
grep -q "^#SBATCH --array=1$" "$OUT"/.nifc-cluster/job-*.sbatch || fail "no job script with --array=1"

# ---------------------------------------------------------------- 4: without Slurm
step "the same manifest on this machine, shard 0 only (nifc-cluster local)"
rc=0
"$CLUSTER" local "$T/img/manifest.txt" --out-dir "$T/local" --shards 3 --task 0 \
  --nifc "$NIFC" -- "${OPTS[@]}" || rc=$?
((rc == 1)) || fail "local run of one shard: exit $rc, expected 1 (the other shards are missing)"
for n in a0 a1; do cmp "$T/local/$n.nif" "$OUT/$n.nif" || fail "local $n.nif differs"; done
ls "$T"/local/.nifc-cluster/logs/task-local-*_0.log >/dev/null || fail "no local log"

step "PASS"
