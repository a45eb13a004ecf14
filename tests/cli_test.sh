#!/usr/bin/env bash
# CLI tests: exit codes, one-line messages naming the file, no partial output,
# -f, '-' for stdin/stdout.  Usage: cli_test.sh NIFC SAMPLES_DIR SHARED_DATA_DIR
set -u
NIFC=$1
SAMPLES=$2
DATA=$3
PY=$(command -v python3)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# json_field FILE KEY: the value of KEY in the one JSON object in FILE.
json_field() { "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# expect_fail NAME EXPECTED_SUBSTRING OUTPUT_THAT_MUST_NOT_EXIST -- command...
expect_fail() {
  local name=$1 want=$2 out=$3
  shift 4
  "$@" >"$T/stdout" 2>"$T/stderr"
  local rc=$?
  local msg
  msg=$(cat "$T/stderr")
  if [[ $rc -eq 0 ]]; then bad "$name: exit 0"; return; fi
  if [[ $msg != *"$want"* ]]; then bad "$name: message '$msg' lacks '$want'"; return; fi
  if [[ $(wc -l <"$T/stderr") -ne 1 ]]; then bad "$name: message is not one line: $msg"; return; fi
  if [[ -n $out && -e $out ]]; then bad "$name: left $out behind"; return; fi
  if ls -a "$(dirname "${out:-$T/x}")" 2>/dev/null | grep -q '^\..*\.[A-Za-z0-9]\{6\}$'; then
    bad "$name: left a temporary file"; return
  fi
  ok
}

# expect_usage NAME EXPECTED_SUBSTRING OUTPUT_THAT_MUST_NOT_EXIST -- command...: a usage
# error (exit 2) whose first line names the problem, and nothing written.
expect_usage() {
  local name=$1 want=$2 out=$3
  shift 4
  "$@" >"$T/stdout" 2>"$T/stderr"
  local rc=$?
  if [[ $rc -ne 2 ]]; then bad "$name: exit $rc, not 2"; return; fi
  if [[ $(head -n 1 "$T/stderr") != *"$want"* ]]; then bad "$name: '$(cat "$T/stderr")' lacks '$want'"; return; fi
  if [[ -n $out && -e $out ]]; then bad "$name: left $out behind"; return; fi
  ok
}

expect_ok() {
  local name=$1
  shift
  if "$@" >"$T/stdout" 2>"$T/stderr"; then ok; else bad "$name: $(cat "$T/stderr")"; fi
}

# A .nif to work with: encode the sample if this build has the encoder,
# otherwise use a committed golden vector.
NIF=$T/parrots.nif
if [[ -z ${NIFC_NO_ENCODER:-} ]]; then
  expect_ok "encode sample" env OMP_WAIT_POLICY=PASSIVE "$NIFC" encode "$SAMPLES/parrots.png" \
    -o "$NIF" --arch siren-pe --steps 30 --hidden 16 --threads 1 --json
  grep -q '"bpp"' "$T/stdout" && grep -q '"psnr_db"' "$T/stdout" && ok || bad "encode --json fields"
  [[ -s $NIF ]] && ok || bad "encode wrote nothing"
  # --arch grid (format 1.3, range coded): a size target lands within 5% under it; info
  # names the version and the coder.
  expect_ok "encode grid" env OMP_WAIT_POLICY=PASSIVE "$NIFC" encode "$SAMPLES/parrots.png" \
    -o "$T/grid.nif" --arch grid --grid-levels 4 --steps 60 --threads 1 --size 3000
  size=$(stat -c %s "$T/grid.nif" 2>/dev/null || echo 0)
  [[ $size -le 3000 && $size -ge 2850 ]] && ok || bad "grid --size 3000 gave $size bytes"
  "$NIFC" info "$T/grid.nif" | grep -q "nif 1.3" && ok || bad "grid info version"
  "$NIFC" info "$T/grid.nif" | grep -q "range coded" && ok || bad "grid info coder"
  # Without --arch, a size target picks the grid when it leaves >= 2048 bytes per tile.
  expect_ok "encode auto grid" env OMP_WAIT_POLICY=PASSIVE "$NIFC" encode \
    "$SAMPLES/parrots.png" -o "$T/auto.nif" --steps 10 --threads 1 --size 4000 --json
  [[ $(json_field "$T/stdout" arch) == grid ]] && ok || bad "--size 4000 arch: $(cat "$T/stdout")"
  expect_ok "encode auto small" env OMP_WAIT_POLICY=PASSIVE "$NIFC" encode \
    "$SAMPLES/parrots.png" -o "$T/auto2.nif" --steps 10 --threads 1 --size 1500 --json
  [[ $(json_field "$T/stdout" arch) == siren-pe ]] && ok || bad "--size 1500 arch: $(cat "$T/stdout")"
  expect_ok "decode grid region" "$NIFC" decode "$T/grid.nif" -o "$T/grid.png" --region 5,5,20,10
  # -q, --effort (README "Quality and effort"): ranges, conflicts, and the JSON fields.
  expect_ok "encode defaults" env OMP_WAIT_POLICY=PASSIVE "$NIFC" encode "$SAMPLES/parrots.png" \
    -o "$T/def.nif" --steps 40 --threads 1 --json
  [[ $(json_field "$T/stdout" arch) == grid && $(json_field "$T/stdout" quality) == 75.0 &&
     $(json_field "$T/stdout" effort) == 5 ]] && ok || bad "defaults --json: $(cat "$T/stdout")"
  expect_ok "encode -q -e" env OMP_WAIT_POLICY=PASSIVE "$NIFC" encode "$SAMPLES/parrots.png" \
    -o "$T/q30.nif" -q 30 -e 1 --threads 1 --json
  [[ $(json_field "$T/stdout" quality) == 30.0 && $(json_field "$T/stdout" effort) == 1 &&
     $(json_field "$T/stdout" steps) == 150 ]] && ok || bad "-q 30 -e 1 --json: $(cat "$T/stdout")"
  # A lower quality on the same fit length: a smaller file.
  [[ $(stat -c %s "$T/q30.nif") -lt $(stat -c %s "$T/def.nif") ]] && ok ||
    bad "-q 30 ($(stat -c %s "$T/q30.nif") B) not smaller than -q 75 ($(stat -c %s "$T/def.nif") B)"
  expect_ok "encode --size" env OMP_WAIT_POLICY=PASSIVE "$NIFC" encode "$SAMPLES/parrots.png" \
    -o "$T/sz.nif" --size 3000 --steps 20 --threads 1 --json
  [[ $(json_field "$T/stdout" quality) == None ]] && ok || bad "--size quality: $(cat "$T/stdout")"
  expect_usage "quality range" "--quality" "$T/q.nif" -- "$NIFC" encode "$SAMPLES/parrots.png" \
    -o "$T/q.nif" -q 101
  expect_usage "effort range" "--effort" "$T/q.nif" -- "$NIFC" encode "$SAMPLES/parrots.png" \
    -o "$T/q.nif" --effort 10
  expect_usage "effort zero" "--effort" "$T/q.nif" -- "$NIFC" encode "$SAMPLES/parrots.png" \
    -o "$T/q.nif" -e 0
  expect_usage "refine steps range" "--refine-steps" "$T/q.nif" -- "$NIFC" encode \
    "$SAMPLES/parrots.png" -o "$T/q.nif" --refine-steps -1
  expect_ok "encode --refine-steps 0" env OMP_WAIT_POLICY=PASSIVE "$NIFC" encode \
    "$SAMPLES/parrots.png" -o "$T/r0.nif" --refine-steps 0 --steps 20 --threads 1
  expect_usage "quality and bpp" "excludes" "$T/q.nif" -- "$NIFC" encode "$SAMPLES/parrots.png" \
    -o "$T/q.nif" -q 50 --bpp 1
  expect_usage "quality and psnr" "excludes" "$T/q.nif" -- "$NIFC" encode "$SAMPLES/parrots.png" \
    -o "$T/q.nif" --psnr 30 -q 50
  "$NIFC" encode --help >"$T/help.txt" 2>&1
  grep -q "^Quality and effort:" "$T/help.txt" && grep -q "^Network (expert):" "$T/help.txt" && ok ||
    bad "encode --help groups: $(cat "$T/help.txt")"
  # A grid whose tiles would hold more parameters than a file may is refused before any
  # fit (it used to fail after fitting every tile): 4096x4096 is 16.8 M latents at
  # --grid-coarsen 0 (without it the encoder coarsens the grid; see test_presets.cc).
  "$PY" -c 'import struct, sys, zlib
w = h = 4096
raw = b"".join(b"\0" + bytes(w) for _ in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
  + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))' "$T/grid_big.png"
  expect_fail "grid over the parameter limit" "more than a file may" "$T/grid_big.nif" -- \
    env OMP_WAIT_POLICY=PASSIVE "$NIFC" encode "$T/grid_big.png" -o "$T/grid_big.nif" --arch grid --threads 1 \
      --grid-coarsen 0
  expect_fail "grid levels" "--grid-levels" "$T/g2.nif" -- "$NIFC" encode "$SAMPLES/parrots.png" \
    -o "$T/g2.nif" --arch grid --grid-levels 17
  # Tiles (SPEC.md §11, format 1.2): 192x128 with --tile-size 64 is 3x2 tiles; the file
  # decodes at any size and region; a size target holds for the whole file.
  expect_ok "encode tiled" env OMP_WAIT_POLICY=PASSIVE "$NIFC" encode "$SAMPLES/parrots.png" \
    -o "$T/tiled.nif" --arch siren-pe --tile-size 64 --tile-overlap 4 --steps 20 --hidden 8 \
    --threads 1 --json
  [[ $(json_field "$T/stdout" tiles) == 6 ]] && ok || bad "tiled --json: $(cat "$T/stdout")"
  "$NIFC" info "$T/tiled.nif" >"$T/info.txt" 2>&1
  grep -q "nif 1.2" "$T/info.txt" && grep -q "tiles:   6 (3x2), overlap 4 px" "$T/info.txt" && ok ||
    bad "tiled info: $(cat "$T/info.txt")"
  expect_ok "decode tiled 2x" "$NIFC" decode "$T/tiled.nif" -o "$T/tiled2.png" --scale 2
  expect_ok "decode tiled region" "$NIFC" decode "$T/tiled.nif" -o "$T/tiledr.png" \
    --scale 2 --region 100,60,50,40
  expect_ok "encode tiled --size" env OMP_WAIT_POLICY=PASSIVE "$NIFC" encode \
    "$SAMPLES/parrots.png" -o "$T/tiled-size.nif" --tile-size 64 --tile-overlap 4 --steps 10 \
    --threads 1 --size 3000
  [[ -s $T/tiled-size.nif && $(stat -c %s "$T/tiled-size.nif") -le 3000 ]] && ok ||
    bad "tiled --size 3000: $(stat -c %s "$T/tiled-size.nif" 2>&1)"
  expect_fail "tile size too small" "narrower than twice their overlap" "$T/ts.nif" -- \
    "$NIFC" encode "$SAMPLES/parrots.png" -o "$T/ts.nif" --tile-size 20 --tile-overlap 16 --steps 2
  # Quiet and not a terminal: nothing on stderr.
  expect_ok "encode --quiet" "$NIFC" encode "$SAMPLES/rgba.png" -o "$T/q.nif" --steps 5 --quiet --threads 1
  [[ ! -s $T/stderr ]] && ok || bad "encode --quiet printed: $(cat "$T/stderr")"
  expect_fail "encode missing input" "missing.png" "$T/m.nif" -- \
    "$NIFC" encode "$T/missing.png" -o "$T/m.nif"
  echo "hello" >"$T/text.png"
  expect_fail "encode non-PNG" "not a PNG file" "$T/t.nif" -- "$NIFC" encode "$T/text.png" -o "$T/t.nif"
  grep -q 'text.png: .*text.png' "$T/stderr" && bad "path named twice: $(cat "$T/stderr")" || ok
  # Batch encoding: several inputs into --out-dir (DIR/<stem>.nif).  A bad input fails
  # alone with its one-line error; the others are written; the exit code is 1; --json
  # gives one line per image; a summary line counts them.
  mkdir "$T/batch"
  cp "$SAMPLES/rgba.png" "$T/one.png"
  cp "$SAMPLES/rgba.png" "$T/two.png"
  env OMP_WAIT_POLICY=PASSIVE "$NIFC" encode "$T/one.png" "$T/text.png" "$T/two.png" \
    --out-dir "$T/batch" --steps 3 --hidden 8 --threads 1 --json >"$T/stdout" 2>"$T/stderr"
  rc=$?
  [[ $rc -eq 1 ]] && ok || bad "batch with a bad input: exit $rc"
  [[ -s $T/batch/one.nif && -s $T/batch/two.nif && ! -e $T/batch/text.nif ]] && ok ||
    bad "batch outputs: $(ls "$T/batch")"
  [[ $(ls -A "$T/batch" | wc -l) -eq 2 ]] && ok || bad "batch left extra files: $(ls -A "$T/batch")"
  grep -q "text.png: not a PNG file" "$T/stderr" && ok || bad "batch error: $(cat "$T/stderr")"
  [[ $(grep -c "text.png" "$T/stderr") -eq 1 ]] && ok || bad "batch error not one line"
  grep -q "3 images: 2 encoded, 1 failed" "$T/stderr" && ok || bad "batch summary: $(cat "$T/stderr")"
  "$PY" - "$T/stdout" <<'PYEOF' && ok || bad "batch --json lines: $(cat "$T/stdout")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 3, lines
assert [l["input"].rsplit("/", 1)[1] for l in lines] == ["one.png", "text.png", "two.png"]
assert lines[0]["bpp"] > 0 and lines[2]["bpp"] > 0 and "error" in lines[1], lines
assert lines[0]["output"].endswith("batch/one.nif"), lines[0]
PYEOF
  # The same batch on two worker processes (--jobs 2): the same outputs and lines, in any order.
  mkdir "$T/batchj"
  env OMP_WAIT_POLICY=PASSIVE "$NIFC" encode "$T/one.png" "$T/text.png" "$T/two.png" \
    --out-dir "$T/batchj" --jobs 2 --threads 2 --steps 3 --hidden 8 --json >"$T/stdout" 2>"$T/stderr"
  rc=$?
  [[ $rc -eq 1 && -s $T/batchj/one.nif && -s $T/batchj/two.nif && ! -e $T/batchj/text.nif ]] && ok ||
    bad "batch --jobs 2: exit $rc, $(ls -A "$T/batchj"): $(cat "$T/stderr")"
  [[ $(ls -A "$T/batchj" | wc -l) -eq 2 ]] && ok || bad "batch --jobs 2 left $(ls -A "$T/batchj")"
  grep -q "3 images: 2 encoded, 1 failed" "$T/stderr" && ok || bad "batch --jobs 2 summary: $(cat "$T/stderr")"
  "$PY" - "$T/stdout" <<'PYEOF' && ok || bad "batch --jobs 2 --json lines: $(cat "$T/stdout")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert sorted(l["input"].rsplit("/", 1)[1] for l in lines) == ["one.png", "text.png", "two.png"]
assert sum("error" in l for l in lines) == 1, lines
PYEOF
  # Existing outputs need -f, per image.
  "$NIFC" encode "$T/one.png" "$T/two.png" --out-dir "$T/batch" --steps 2 --hidden 8 \
    --threads 1 >"$T/stdout" 2>"$T/stderr"
  rc=$?
  [[ $rc -eq 1 && $(grep -c "already exists" "$T/stderr") -eq 2 ]] && ok ||
    bad "batch over existing outputs: exit $rc: $(cat "$T/stderr")"
  cp "$T/batch/one.nif" "$T/one-before.nif"
  expect_ok "batch -f" env OMP_WAIT_POLICY=PASSIVE "$NIFC" encode "$T/one.png" "$T/two.png" \
    --out-dir "$T/batch" --steps 2 --hidden 8 --threads 1 -f --quiet
  cmp -s "$T/batch/one.nif" "$T/one-before.nif" && bad "batch -f did not rewrite" || ok
  # Usage errors (exit 2, nothing written): -o with several inputs, two inputs with one stem,
  # stdin into --out-dir, neither -o nor --out-dir.
  mkdir "$T/batch2" "$T/sub"
  cp "$SAMPLES/rgba.png" "$T/sub/one.png"
  for args in "$T/one.png $T/two.png -o $T/batch2/x.nif" \
    "$T/one.png $T/sub/one.png --out-dir $T/batch2" "- --out-dir $T/batch2" "$T/one.png"; do
    # shellcheck disable=SC2086
    "$NIFC" encode $args --steps 2 >/dev/null 2>"$T/stderr"
    rc=$?
    if [[ $rc -ne 2 || -n $(ls -A "$T/batch2") || $(wc -l <"$T/stderr") -ne 1 ]]; then
      bad "encode $args: exit $rc, $(cat "$T/stderr"), wrote $(ls -A "$T/batch2")"
    else
      ok
    fi
  done
  expect_fail "out-dir missing" "not a directory" "" -- \
    "$NIFC" encode "$T/one.png" "$T/two.png" --out-dir "$T/nodir"
  if [[ -f $DATA/pngsuite/corrupt/xcsn0g01.png ]]; then
    expect_fail "encode corrupt PNG" "CRC error" "$T/c.nif" -- \
      "$NIFC" encode "$DATA/pngsuite/corrupt/xcsn0g01.png" -o "$T/c.nif"
  fi
  expect_fail "encode into missing dir" "$T/nodir/x.nif" "$T/nodir/x.nif" -- \
    "$NIFC" encode "$SAMPLES/rgba.png" -o "$T/nodir/x.nif" --steps 2
  expect_fail "encode existing output" "already exists" "" -- \
    "$NIFC" encode "$SAMPLES/rgba.png" -o "$NIF" --steps 2
  cp "$SAMPLES/rgba.png" "$T/same.png"
  expect_fail "encode output == input" "same file" "" -- "$NIFC" encode "$T/same.png" -o "$T/same.png" -f
  cmp -s "$T/same.png" "$SAMPLES/rgba.png" && ok || bad "input was modified"
  expect_fail "encode to /dev/full" "No space left" "" -- \
    "$NIFC" encode "$SAMPLES/rgba.png" -o /dev/full --steps 2
  expect_fail "bad arch" "unknown --arch" "$T/a.nif" -- "$NIFC" encode "$SAMPLES/rgba.png" -o "$T/a.nif" --arch nope
  expect_ok "encode from stdin to stdout" sh -c \
    "\"$NIFC\" encode - -o - --steps 3 --quiet < \"$SAMPLES/rgba.png\" > \"$T/stdio.nif\""
  "$NIFC" info "$T/stdio.nif" >/dev/null 2>&1 && ok || bad "stdout .nif unreadable"
  # Interrupted runs: SIGINT (Ctrl-C) or SIGTERM a second into a long encode leave neither
  # the output nor a temporary file, and nifc dies of the signal.  (env resets SIGINT, which
  # bash ignores in a script's background jobs.)
  for sig in INT TERM; do
    d="$T/killed-$sig"
    mkdir "$d"
    env --default-signal=INT "$NIFC" encode "$SAMPLES/parrots.png" -o "$d/out.nif" \
      --steps 1000000 --threads 1 --quiet 2>"$T/killed-$sig.stderr" &
    pid=$!
    sleep 1
    kill -s "$sig" "$pid"
    wait "$pid"
    rc=$?
    want=$((128 + $(kill -l "$sig")))
    if [[ $rc -ne $want ]]; then
      bad "SIG$sig during encode: exit $rc, expected $want: $(cat "$T/killed-$sig.stderr")"
    elif [[ -n $(ls -A "$d") ]]; then
      bad "SIG$sig during encode left $(ls -A "$d")"
    else
      ok
    fi
  done
else
  cp "$SAMPLES/golden-siren-pe.nif" "$NIF"
  expect_fail "encode without encoder" "no encoder" "$T/e.nif" -- \
    "$NIFC" encode "$SAMPLES/rgba.png" -o "$T/e.nif"
fi

# info
expect_ok "info" "$NIFC" info "$NIF"
grep -q "bpp" "$T/stdout" && ok || bad "info lacks bpp"
expect_ok "info --json" "$NIFC" info "$NIF" --json
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["parameters"]>0 and d["bpp"]>0' \
  "$T/stdout" && ok || bad "info --json not valid JSON"

# decode
expect_ok "decode" "$NIFC" decode "$NIF" -o "$T/out.png"
expect_ok "decode 2x" "$NIFC" decode "$NIF" -o "$T/out2.png" --scale 2
expect_ok "decode width" "$NIFC" decode "$NIF" -o "$T/w.png" --width 50
expect_ok "decode region" "$NIFC" decode "$NIF" -o "$T/r.png" --width 400 --region 10,20,30,40
"$PY" - "$T/out2.png" "$T/w.png" "$T/r.png" <<'PYEOF' && ok || bad "decoded sizes"
import struct, sys
def size(p):
    d = open(p, 'rb').read(24)
    assert d[:8] == b'\x89PNG\r\n\x1a\n'
    return struct.unpack('>II', d[16:24])
assert size(sys.argv[1]) == (384, 256), size(sys.argv[1])
assert size(sys.argv[2]) == (50, 33), size(sys.argv[2])
assert size(sys.argv[3]) == (30, 40), size(sys.argv[3])
PYEOF
expect_fail "decode existing output" "already exists" "" -- "$NIFC" decode "$NIF" -o "$T/out.png"
expect_ok "decode -f" "$NIFC" decode "$NIF" -o "$T/out.png" -f
expect_ok "decode stdin to stdout" sh -c "\"$NIFC\" decode - -o - < \"$NIF\" > \"$T/pipe.png\""
cmp -s "$T/pipe.png" "$T/out.png" && ok || bad "stdin/stdout decode differs"
expect_fail "decode missing" "nope.nif: No such file" "$T/n.png" -- "$NIFC" decode "$T/nope.nif" -o "$T/n.png"
expect_fail "decode a PNG" "bad magic" "$T/p.png" -- "$NIFC" decode "$SAMPLES/rgba.png" -o "$T/p.png"
head -c 100 "$NIF" >"$T/trunc.nif"
expect_fail "decode truncated" "truncated" "$T/tr.png" -- "$NIFC" decode "$T/trunc.nif" -o "$T/tr.png"
cp "$NIF" "$T/flip.nif"
printf '\x55' | dd of="$T/flip.nif" bs=1 seek=200 conv=notrunc status=none
expect_fail "decode flipped byte" "checksum mismatch" "$T/f.png" -- "$NIFC" decode "$T/flip.nif" -o "$T/f.png"
# Version 2.0 and an absurd width, each with valid checksums.
"$PY" - "$NIF" "$T/v2.nif" "$T/huge.nif" <<'PYEOF'
import struct, sys, zlib
d = bytearray(open(sys.argv[1], 'rb').read())
v = bytearray(d); v[8] = 2
v[12:16] = struct.pack('<I', zlib.crc32(bytes(v[:12])))
open(sys.argv[2], 'wb').write(v)
h = bytearray(d)                      # HEAD: length at 16, tag at 20, data at 24
h[24:28] = struct.pack('<I', 2**31)
h[36:40] = struct.pack('<I', zlib.crc32(bytes(h[20:36])))
open(sys.argv[3], 'wb').write(h)
PYEOF
expect_fail "decode version 2" "unsupported .nif version 2.0" "$T/v.png" -- "$NIFC" decode "$T/v2.nif" -o "$T/v.png"
expect_fail "decode absurd size" "exceeds the limit" "$T/h.png" -- "$NIFC" decode "$T/huge.nif" -o "$T/h.png"
expect_fail "info absurd size" "exceeds the limit" "" -- "$NIFC" info "$T/huge.nif"
expect_fail "decode to missing dir" "$T/nodir/o.png" "$T/nodir/o.png" -- "$NIFC" decode "$NIF" -o "$T/nodir/o.png"
expect_fail "decode to /dev/full" "No space left" "" -- "$NIFC" decode "$NIF" -o /dev/full
# Past the file-size limit: an error, not death by SIGXFSZ with the temporary file left.
expect_fail "decode past ulimit -f" "File too large" "$T/fsz.png" -- \
  bash -c 'ulimit -f 4 && exec "$@"' _ "$NIFC" decode "$NIF" -o "$T/fsz.png"
# Never over the input, not even with -f, not even through a symbolic link.
cp "$NIF" "$T/self.nif"
ln -s self.nif "$T/self-link.nif"
expect_fail "decode output == input" "same file" "" -- "$NIFC" decode "$T/self.nif" -o "$T/self.nif" -f
expect_fail "decode output -> input" "same file" "" -- \
  "$NIFC" decode "$T/self.nif" -o "$T/self-link.nif" -f
cmp -s "$T/self.nif" "$NIF" && ok || bad "decode over its input modified it"
expect_fail "decode huge output" "exceeds the limit" "$T/big.png" -- "$NIFC" decode "$NIF" -o "$T/big.png" --width 1000000
expect_fail "decode bad region" "region" "$T/br.png" -- "$NIFC" decode "$NIF" -o "$T/br.png" --region 0,0,999,1

# usage errors: exit 2
"$NIFC" decode "$NIF" >/dev/null 2>&1
[[ $? -eq 2 ]] && ok || bad "missing -o is not a usage error"
"$NIFC" frobnicate >/dev/null 2>&1
[[ $? -eq 2 ]] && ok || bad "unknown command is not a usage error"
"$NIFC" --help >/dev/null 2>&1 && ok || bad "--help fails"

# applications (poisson, blend, inpaint): bad input is one line, exit 1, nothing written.
# Masks are 8-bit gray PNGs written with the standard library only.
"$PY" - "$T" <<'PYEOF'
import struct, sys, zlib
def png(path, w, h, value):
    raw = b''.join(b'\x00' + bytes([value(x, y) for x in range(w)]) for y in range(h))
    def chunk(tag, data):
        return struct.pack('>I', len(data)) + tag + data + struct.pack('>I', zlib.crc32(tag + data))
    open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0))
                           + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
t = sys.argv[1]
png(t + '/mask_empty.png', 60, 40, lambda x, y: 0)
png(t + '/mask_small.png', 30, 40, lambda x, y: 255)
png(t + '/mask_half.png', 60, 40, lambda x, y: 255 if x >= 30 else 0)
PYEOF
expect_fail "blend sizes differ" "sizes differ" "$T/bl.nif" -- \
  "$NIFC" blend "$SAMPLES/rgba.png" "$SAMPLES/parrots.png" -o "$T/bl.nif"
expect_fail "blend empty mask" "is empty" "$T/bl.nif" -- \
  "$NIFC" blend "$SAMPLES/rgba.png" "$SAMPLES/rgba.png" --mask "$T/mask_empty.png" -o "$T/bl.nif"
expect_fail "blend mask size" "mask is 30x40, the images 60x40" "$T/bl.nif" -- \
  "$NIFC" blend "$SAMPLES/rgba.png" "$SAMPLES/rgba.png" --mask "$T/mask_small.png" -o "$T/bl.nif"
expect_fail "blend mask rule without mask" "--rule mask needs --mask" "$T/bl.nif" -- \
  "$NIFC" blend "$SAMPLES/rgba.png" "$SAMPLES/rgba.png" --rule mask -o "$T/bl.nif"
expect_fail "inpaint keep 0" "cannot keep 0 pixels of 2400" "$T/in.nif" -- \
  "$NIFC" inpaint "$SAMPLES/rgba.png" --keep 0 -o "$T/in.nif"
expect_fail "inpaint keep too many" "cannot keep 2401 pixels of 2400" "$T/in.nif" -- \
  "$NIFC" inpaint "$SAMPLES/rgba.png" --keep 2401 -o "$T/in.nif" --png "$T/in.png"
[[ ! -e $T/in.png ]] && ok || bad "inpaint keep too many left its PNG"
expect_fail "inpaint empty mask" "is empty" "$T/in.nif" -- \
  "$NIFC" inpaint "$SAMPLES/rgba.png" --mask "$T/mask_empty.png" -o "$T/in.nif"
expect_fail "inpaint mask size" "mask is 30x40, the image 60x40" "$T/in.nif" -- \
  "$NIFC" inpaint "$SAMPLES/rgba.png" --mask "$T/mask_small.png" -o "$T/in.nif"
expect_fail "poisson missing input" "missing.png" "$T/po.nif" -- \
  "$NIFC" poisson "$T/missing.png" -o "$T/po.nif"
if [[ -z ${NIFC_NO_ENCODER:-} ]]; then
  expect_fail "poisson laplacian relu" "needs a sine network" "$T/po.nif" -- \
    "$NIFC" poisson "$SAMPLES/rgba.png" --from laplacian --arch relu -o "$T/po.nif" --steps 2
  expect_ok "poisson" "$NIFC" poisson "$SAMPLES/rgba.png" -o "$T/po.nif" --png "$T/po.png" \
    --steps 5 --hidden 8 --threads 1 --json
  "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["command"]=="poisson" and d["steps"]==5' \
    "$T/stdout" && ok || bad "poisson --json"
  "$NIFC" decode "$T/po.nif" -o "$T/po2.png" --scale 2 >/dev/null 2>&1 && [[ -s $T/po.png ]] && ok ||
    bad "poisson output does not decode"
  expect_ok "inpaint" "$NIFC" inpaint "$SAMPLES/rgba.png" --mask "$T/mask_half.png" -o "$T/in.nif" \
    --linear-png "$T/lin.png" --steps 5 --hidden 8 --threads 1
  grep -q "linear" "$T/stderr" && grep -q "nearest" "$T/stderr" && [[ -s $T/lin.png ]] && ok ||
    bad "inpaint does not report its baselines"
  expect_ok "blend" "$NIFC" blend "$SAMPLES/rgba.png" "$SAMPLES/rgba.png" --mask "$T/mask_half.png" \
    -o "$T/bl.nif" --steps 5 --hidden 8 --threads 1
fi

echo "cli: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
