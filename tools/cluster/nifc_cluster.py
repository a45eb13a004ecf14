#!/usr/bin/env python3
"""Encode a folder or a manifest of images with `nifc encode`, as a Slurm job array or
on this machine, and report on it.  Standard library only.

  nifc-cluster submit INPUT --out-dir OUT [sharding] [slurm options] [-- NIFC OPTIONS]
  nifc-cluster local  INPUT --out-dir OUT [sharding] [--jobs J]     [-- NIFC OPTIONS]
  nifc-cluster status OUT
  nifc-cluster summary OUT [--csv FILE] [--json FILE]
  nifc-cluster run-shard --plan PLAN --task I      (what each array task runs)

INPUT is a folder (its *.png files, sorted) or a manifest: one input path per line,
optionally followed by nifc encode options for that image only (shell quoting; blank
lines and # comments ignored; relative paths are relative to the manifest's folder).
Image i is written to OUT/<stem>.nif.  Everything else goes to OUT/.nifc-cluster/:
plans/, jobs.tsv, job-*.sbatch, logs/task-<job>_<task>.log and
results/task-<job>_<task>.jsonl (one JSON line per image per attempt), report.csv and
report.json.  See tools/cluster/README.md.
"""

import argparse
import csv
import datetime
import glob
import json
import math
import os
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

STATE = ".nifc-cluster"
# Options the shard runner sets itself for every image.
RESERVED = {"-o", "--output", "--out-dir", "--jobs", "-f", "--force", "--json", "-h", "--help"}
# Rate targets exclude each other in nifc: a per-image one replaces a global one.
RATE_TARGETS = {"--bpp", "--size", "--psnr", "--quality"}
ALIASES = {"-q": "--quality"}
STALE_TEMP_SECONDS = 120


class UsageError(Exception):
    pass


# ---------------------------------------------------------------- options and plans

def _is_value(tok):
    if not tok.startswith("-") or tok == "-":
        return True
    try:
        float(tok)
        return True
    except ValueError:
        return False


def option_groups(tokens):
    """Splits nifc options into [(name, [tokens])]; a group is an option and its values."""
    groups = []
    for tok in tokens:
        if tok.startswith("-") and not _is_value(tok):
            name = tok.split("=", 1)[0] if tok.startswith("--") else tok
            groups.append((ALIASES.get(name, name), [tok]))
        elif groups:
            groups[-1][1].append(tok)
        else:
            raise UsageError(f"nifc option expected, got {tok!r}")
    return groups


def check_options(tokens, where):
    for name, _ in option_groups(tokens):
        if name in RESERVED or name == "--":
            raise UsageError(f"{where}: {name} is set by nifc-cluster itself")


def merge_options(global_opts, image_opts):
    """The global options with those an image sets itself replaced (nifc refuses an
    option given twice, and rate targets exclude each other)."""
    mine = {name for name, _ in option_groups(image_opts)}
    out = []
    for name, toks in option_groups(global_opts):
        if name in mine or (name in RATE_TARGETS and mine & RATE_TARGETS):
            continue
        out += toks
    return out + list(image_opts)


def png_size(path):
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None, None
    if len(head) == 24 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    return None, None


def read_input_list(source):
    """[(input_path, options, where)] from a folder or a manifest."""
    if os.path.isdir(source):
        names = sorted(n for n in os.listdir(source) if n.lower().endswith(".png"))
        return [(os.path.abspath(os.path.join(source, n)), [], n) for n in names]
    base = os.path.dirname(os.path.abspath(source))
    items = []
    with open(source, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            where = f"{source}:{lineno}"
            try:
                toks = shlex.split(line, comments=True)
            except ValueError as e:
                raise UsageError(f"{where}: {e}")
            if not toks:
                continue
            path, opts = toks[0], toks[1:]
            check_options(opts, where)
            items.append((os.path.abspath(os.path.join(base, os.path.expanduser(path))), opts, where))
    return items


def make_plan(args):
    nifc = shutil.which(args.nifc) if args.nifc else None
    if not nifc:
        raise UsageError(f"nifc binary not found: {args.nifc!r} (use --nifc PATH or NIFC=PATH)")
    if not os.path.exists(args.input):
        raise UsageError(f"{args.input}: no such file or folder")
    check_options(args.nifc_options, "nifc options")
    items = read_input_list(args.input)
    if not items:
        raise UsageError(f"{args.input}: no images")
    out_dir = os.path.abspath(args.out_dir)
    images, seen = [], {}
    for i, (path, opts, where) in enumerate(items):
        stem = os.path.splitext(os.path.basename(path))[0]
        output = os.path.join(out_dir, stem + ".nif")
        if output in seen:
            raise UsageError(f"{where}: output {output} is also that of {seen[output]}")
        seen[output] = where
        w, h = png_size(path)
        images.append({"index": i, "input": path, "output": output, "options": opts,
                       "where": where, "width": w, "height": h})
    n = len(images)
    if args.shards:
        count = min(args.shards, n)
        shards = [list(range(i * n // count, (i + 1) * n // count)) for i in range(count)]
    else:
        k = args.per_task
        shards = [list(range(i, min(i + k, n))) for i in range(0, n, k)]
    nifc_opts = list(args.nifc_options)
    if getattr(args, "gres", None) and "gpu" in args.gres and \
            "--device" not in {name for name, _ in option_groups(nifc_opts)}:
        nifc_opts += ["--device", "cuda"]
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
    plan = {"version": 1, "created": stamp, "source": os.path.abspath(args.input),
            "out_dir": out_dir, "nifc": os.path.abspath(nifc), "nifc_options": nifc_opts,
            "cpus_per_task": args.cpus_per_task, "force": args.force,
            "shards": shards, "images": images}
    state = os.path.join(out_dir, STATE)
    for sub in ("plans", "logs", "results"):
        os.makedirs(os.path.join(state, sub), exist_ok=True)
    path = os.path.join(state, "plans", f"plan-{stamp}.json")
    write_atomic(path, json.dumps(plan, indent=1) + "\n")
    write_atomic(os.path.join(state, "plan.json"), json.dumps(plan, indent=1) + "\n")
    return plan, path


def write_atomic(path, text):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def load_plan(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def latest_plan(out_dir):
    path = os.path.join(out_dir, STATE, "plan.json")
    if not os.path.exists(path):
        raise UsageError(f"{out_dir}: no nifc-cluster job here (no {STATE}/plan.json)")
    return load_plan(path)


def nifc_env(threads):
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.setdefault("OMP_NUM_THREADS", str(threads))
    return env


def nifc_info(nifc, path):
    """The `nifc info --json` object of a valid file, or None."""
    if not os.path.isfile(path):
        return None
    try:
        p = subprocess.run([nifc, "info", "--json", path], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if p.returncode != 0:
        return None
    try:
        return json.loads(p.stdout)
    except ValueError:
        return {}


# ------------------------------------------------------------------- shard runner

class Runner:
    def __init__(self):
        self.child = None
        self.stop_signal = None

    def on_signal(self, signum, frame):
        self.stop_signal = signum
        child = self.child
        if child is not None and child.poll() is None:
            try:
                child.send_signal(signal.SIGTERM)
            except OSError:
                pass


def remove_stale_temps(output):
    """nifc removes its temporary file itself unless it was SIGKILLed while writing;
    such a leftover (.<name>.XXXXXX beside the output) is removed before a new try."""
    d, base = os.path.split(output)
    now = time.time()
    for tmp in glob.glob(os.path.join(glob.escape(d), "." + glob.escape(base) + ".??????")):
        try:
            if now - os.path.getmtime(tmp) > STALE_TEMP_SECONDS:
                os.unlink(tmp)
                print(f"  removed stale temporary file {tmp}", flush=True)
        except OSError:
            pass


def cmd_run_shard(args):
    plan = load_plan(args.plan)
    task = args.task
    if task < 0 or task >= len(plan["shards"]):
        raise UsageError(f"task {task} out of range (plan has {len(plan['shards'])} shards)")
    job = args.job_tag or os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID")
    if not job:
        job = "manual-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = f"task-{job}_{task}"
    state = os.path.join(plan["out_dir"], STATE)
    results = os.path.join(state, "results", name + ".jsonl")
    log = os.path.join(state, "logs", name + ".log")
    node = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
    threads = os.environ.get("SLURM_CPUS_PER_TASK") or str(plan.get("cpus_per_task") or 1)
    nifc = plan["nifc"]
    os.makedirs(os.path.dirname(results), exist_ok=True)
    runner = Runner()
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, runner.on_signal)

    shard = plan["shards"][task]
    print(f"nifc-cluster: task {task} of job {job} on {node}: {len(shard)} images, "
          f"results {results}", flush=True)
    failed = 0

    def record(img, status, **fields):
        rec = {"index": img["index"], "input": img["input"], "output": img["output"],
               "status": status, "bytes": None, "bpp": None, "psnr_db": None,
               "seconds": None, "wall_seconds": None, "width": img.get("width"),
               "height": img.get("height"), "node": node, "job": job, "task": task,
               "log": log, "error": None, "time": time.time()}
        rec.update(fields)
        with open(results, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())

    for k, idx in enumerate(shard):
        if runner.stop_signal:
            break
        img = plan["images"][idx]
        print(f"[{k + 1}/{len(shard)}] {img['input']} -> {img['output']}", flush=True)
        if not plan.get("force"):
            info = nifc_info(nifc, img["output"])
            if info is not None:
                print("  skipped: the output exists and is valid", flush=True)
                record(img, "skipped", bytes=info.get("bytes", os.path.getsize(img["output"])),
                       bpp=info.get("bpp"))
                continue
        if runner.stop_signal:  # arrived during the nifc info above
            break
        remove_stale_temps(img["output"])
        opts = merge_options(plan["nifc_options"], img["options"])
        if "--threads" not in {name for name, _ in option_groups(opts)}:
            opts += ["--threads", threads]
        cmd = [nifc, "encode", img["input"], "-o", img["output"], "-f", "--json"] + opts
        print("  $ " + shlex.join(cmd), flush=True)
        t0 = time.time()
        errors = []

        def pump(stream):
            for line in stream:
                line = line.rstrip("\n")
                sys.stdout.write("  " + line + "\n")
                sys.stdout.flush()
                if line.strip():
                    errors.append(line.strip())

        try:
            runner.child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            env=nifc_env(threads), text=True, errors="replace")
        except OSError as e:
            failed += 1
            record(img, "failed", error=f"cannot run {nifc}: {e}", wall_seconds=0.0)
            continue
        if runner.stop_signal:  # arrived before runner.child was set: forward it now
            runner.child.send_signal(signal.SIGTERM)
        reader = threading.Thread(target=pump, args=(runner.child.stderr,), daemon=True)
        reader.start()
        out = runner.child.stdout.read()
        rc = runner.child.wait()
        reader.join(timeout=10)
        runner.child = None
        wall = round(time.time() - t0, 3)
        result = {}
        for line in reversed(out.splitlines()):
            try:
                result = json.loads(line)
                break
            except ValueError:
                continue
        if rc == 0 and "bytes" in result:
            print(f"  ok: {result['bytes']} bytes, {result.get('bpp')} bpp, "
                  f"{result.get('psnr_db')} dB, {result.get('seconds')} s", flush=True)
            record(img, "ok", bytes=result["bytes"], bpp=result.get("bpp"),
                   psnr_db=result.get("psnr_db"), seconds=result.get("seconds"),
                   wall_seconds=wall, width=result.get("width", img.get("width")),
                   height=result.get("height", img.get("height")),
                   device=result.get("device"), options=opts)
            continue
        if runner.stop_signal:
            # Nothing is recorded as done: nifc removed its temporary file on SIGTERM.
            print(f"  interrupted by signal {runner.stop_signal}; the image stays to do",
                  flush=True)
            record(img, "interrupted", wall_seconds=wall,
                   error=f"task interrupted (signal {runner.stop_signal})")
            break
        failed += 1
        nifc_lines = [e for e in errors if e.startswith("nifc:")]
        if rc < 0:
            error = f"nifc killed by signal {signal.Signals(-rc).name}"
        elif nifc_lines:
            error = nifc_lines[-1]
        elif errors:
            error = errors[-1]
        elif result.get("error"):
            error = "nifc: " + result["error"]
        else:
            error = f"nifc exited with code {rc}"
        print(f"  failed: {error}", flush=True)
        record(img, "failed", error=error, wall_seconds=wall, options=opts)
    if runner.stop_signal:
        return 128 + runner.stop_signal
    print(f"nifc-cluster: task {task} done, {failed} failed", flush=True)
    return 1 if failed else 0


# ------------------------------------------------------------------ summary/report

def read_records(out_dir):
    recs = []
    for path in sorted(glob.glob(os.path.join(out_dir, STATE, "results", "*.jsonl"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    recs.append(json.loads(line))
                except ValueError:
                    pass  # a line cut short by a kill
    recs.sort(key=lambda r: r.get("time", 0))
    return recs


FIELDS = ["index", "input", "output", "status", "bytes", "bpp", "psnr_db", "seconds",
          "wall_seconds", "width", "height", "node", "job", "task", "attempts", "log", "error"]


def build_report(plan):
    by_output = {}
    for r in read_records(plan["out_dir"]):
        by_output.setdefault(r["output"], []).append(r)
    rows = []
    for img in plan["images"]:
        recs = by_output.get(img["output"], [])
        row = {k: None for k in FIELDS}
        row.update(index=img["index"], input=img["input"], output=img["output"],
                   width=img.get("width"), height=img.get("height"),
                   attempts=sum(r["status"] != "skipped" for r in recs))
        if not recs:
            row["status"] = "missing"
        else:
            last = recs[-1]
            src = last
            if last["status"] == "skipped":
                oks = [r for r in recs if r["status"] == "ok"]
                src = oks[-1] if oks else last
            for k in FIELDS:
                if k not in ("index", "input", "output", "attempts") and src.get(k) is not None:
                    row[k] = src[k]
            row["status"] = "ok" if last["status"] in ("ok", "skipped") else last["status"]
            if last["status"] == "failed":
                row["error"] = last.get("error")
            if row["status"] == "ok" and not os.path.isfile(img["output"]):
                row["status"], row["error"] = "missing", "output recorded but not found"
        rows.append(row)
    return rows


def totals_of(rows, out_dir):
    ok = [r for r in rows if r["status"] == "ok"]
    px = sum(r["width"] * r["height"] for r in ok if r["width"] and r["height"])
    nbytes = sum(r["bytes"] or 0 for r in ok)
    psnrs = [r["psnr_db"] for r in ok if r["psnr_db"] is not None]
    timed = [r for r in ok if r["seconds"] is not None and r["width"] and r["height"]]
    secs = sum(r["seconds"] for r in timed)
    timed_px = sum(r["width"] * r["height"] for r in timed)
    temps = [p for p in glob.glob(os.path.join(glob.escape(out_dir), ".*.nif.??????"))]
    return {
        "images": len(rows), "ok": len(ok),
        "failed": sum(r["status"] == "failed" for r in rows),
        "interrupted": sum(r["status"] == "interrupted" for r in rows),
        "missing": sum(r["status"] == "missing" for r in rows),
        "bytes": nbytes, "bpp": round(8 * nbytes / px, 6) if px else None,
        "mean_psnr_db": round(sum(psnrs) / len(psnrs), 4) if psnrs else None,
        "encode_seconds": round(secs, 3),
        "seconds_per_megapixel": round(secs / (timed_px / 1e6), 3) if timed_px else None,
        "temporary_files": temps,
    }


def cmd_summary(args):
    out_dir = os.path.abspath(args.out_dir)
    plan = latest_plan(out_dir)
    rows = build_report(plan)
    totals = totals_of(rows, out_dir)
    state = os.path.join(out_dir, STATE)
    csv_path = args.csv or os.path.join(state, "report.csv")
    json_path = args.json or os.path.join(state, "report.json")
    tmp = f"{csv_path}.tmp{os.getpid()}"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if r[k] is None else r[k] for k in FIELDS})
    os.replace(tmp, csv_path)
    write_atomic(json_path, json.dumps({"plan": plan["created"], "out_dir": out_dir,
                                        "totals": totals, "images": rows}, indent=1) + "\n")
    bad = [r for r in rows if r["status"] != "ok"]
    for r in bad:
        msg = r["error"] or ("never run" if r["status"] == "missing" else "")
        log = f"  (log: {r['log']})" if r["log"] else ""
        print(f"{r['status']}: {r['input']}: {msg}{log}")
    t = {k: "-" if v is None else v for k, v in totals.items()}
    print(f"nifc-cluster: {t['images']} images: {t['ok']} ok, {t['failed']} failed, "
          f"{t['interrupted']} interrupted, {t['missing']} missing; {t['bytes']} bytes, "
          f"{t['bpp']} bpp, mean PSNR {t['mean_psnr_db']} dB, "
          f"{t['encode_seconds']} s encoding ({t['seconds_per_megapixel']} s/Mpx)")
    if t["temporary_files"]:
        print(f"nifc-cluster: temporary files left: {' '.join(t['temporary_files'])}")
    print(f"report: {csv_path} {json_path}")
    return 1 if bad else 0


# ------------------------------------------------------------------ submit / local

def shard_pixels(plan, shard):
    px = [plan["images"][i]["width"] * plan["images"][i]["height"]
          for i in shard if plan["images"][i]["width"]]
    typical = max(px) if px else 0
    return sum(px) + typical * (len(shard) - len(px))


def pending_shards(plan):
    return [s for s, shard in enumerate(plan["shards"])
            if any(nifc_info(plan["nifc"], plan["images"][i]["output"]) is None for i in shard)]


def array_spec(ids):
    """0,1,2,5,7,8 -> 0-2,5,7-8"""
    parts, i = [], 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        parts.append(str(ids[i]) if i == j else f"{ids[i]}-{ids[j]}")
        i = j + 1
    return ",".join(parts)


def cmd_submit(args):
    plan, plan_path = make_plan(args)
    state = os.path.join(plan["out_dir"], STATE)
    ids = list(range(len(plan["shards"])))
    if args.pending_only:
        ids = pending_shards(plan)
        if not ids:
            print("nifc-cluster: every output exists and is valid; nothing to submit")
            return 0
    spec = array_spec(ids) + (f"%{args.max_parallel}" if args.max_parallel else "")
    time_limit = args.time
    if not time_limit and args.sec_per_mpx:
        worst = max(shard_pixels(plan, plan["shards"][i]) for i in ids)
        minutes = math.ceil((worst / 1e6 * args.sec_per_mpx * 1.5 + 120) / 60)
        time_limit = str(minutes)
    name = args.job_name or "nifc"
    lines = ["#!/bin/bash", f"#SBATCH --job-name={name}", f"#SBATCH --array={spec}",
             f"#SBATCH --output={state}/logs/task-%A_%a.log", "#SBATCH --open-mode=append",
             f"#SBATCH --cpus-per-task={args.cpus_per_task}", "#SBATCH --ntasks=1"]
    for opt, val in (("partition", args.partition), ("account", args.account),
                     ("gres", args.gres), ("mem", args.mem), ("time", time_limit)):
        if val:
            lines.append(f"#SBATCH --{opt}={val}")
    for extra in args.sbatch_arg:
        lines.append(f"#SBATCH {extra}")
    lines += [
        "# Generated by tools/cluster/nifc_cluster.py submit: one shard of the plan per task.",
        "export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}",
        f"exec {shlex.quote(sys.executable)} {shlex.quote(os.path.abspath(__file__))} "
        f"run-shard --plan {shlex.quote(plan_path)} --task \"$SLURM_ARRAY_TASK_ID\"", ""]
    script = os.path.join(state, f"job-{plan['created']}.sbatch")
    write_atomic(script, "\n".join(lines))
    cmd = ["sbatch", "--parsable", script]
    print(f"nifc-cluster: {len(plan['images'])} images in {len(plan['shards'])} shards; "
          f"array {spec}" + (f", time limit {time_limit} per task" if time_limit else ""))
    if args.dry_run:
        print("dry run: " + shlex.join(cmd))
        return 0
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        raise UsageError(f"cannot run sbatch: {e}")
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise UsageError(f"sbatch failed (exit {p.returncode}); the job script is {script}")
    job = p.stdout.strip().split(";")[0]
    with open(os.path.join(state, "jobs.tsv"), "a", encoding="utf-8") as f:
        f.write(f"{job}\t{plan['created']}\t{spec}\t{plan_path}\n")
    print(f"submitted job {job}; logs {state}/logs/task-{job}_<task>.log")
    tool = shlex.quote(os.path.join(os.path.dirname(os.path.abspath(__file__)), "nifc-cluster"))
    print(f"follow it with: {tool} status {shlex.quote(plan['out_dir'])}; "
          f"when it is done: {tool} summary {shlex.quote(plan['out_dir'])}")
    return 0


def cmd_local(args):
    plan, plan_path = make_plan(args)
    state = os.path.join(plan["out_dir"], STATE)
    tag = "local-" + plan["created"]
    ids = args.task if args.task else list(range(len(plan["shards"])))
    for t in ids:
        if t < 0 or t >= len(plan["shards"]):
            raise UsageError(f"--task {t} out of range (0..{len(plan['shards']) - 1})")
    print(f"nifc-cluster: {len(plan['images'])} images in {len(plan['shards'])} shards, "
          f"running {len(ids)} here, {args.jobs} at a time")
    running, codes = [], {}
    todo = list(ids)
    interrupted = False
    try:
        while todo or running:
            while todo and len(running) < args.jobs:
                t = todo.pop(0)
                log = os.path.join(state, "logs", f"task-{tag}_{t}.log")
                f = open(log, "a", encoding="utf-8")
                p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "run-shard",
                                      "--plan", plan_path, "--task", str(t), "--job-tag", tag],
                                     stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                f.close()
                running.append((t, p, log))
            time.sleep(0.2)
            for item in list(running):
                t, p, log = item
                if p.poll() is not None:
                    running.remove(item)
                    codes[t] = p.returncode
                    print(f"task {t}: exit {p.returncode}, log {log}", flush=True)
    except KeyboardInterrupt:
        interrupted = True
        for t, p, log in running:
            p.send_signal(signal.SIGTERM)
        for t, p, log in running:
            p.wait()
    summary_args = argparse.Namespace(out_dir=plan["out_dir"], csv=None, json=None)
    rc = cmd_summary(summary_args)
    return 130 if interrupted else rc


def cmd_status(args):
    out_dir = os.path.abspath(args.out_dir)
    plan = latest_plan(out_dir)
    jobs_file = os.path.join(out_dir, STATE, "jobs.tsv")
    jobs = []
    if os.path.exists(jobs_file):
        with open(jobs_file, encoding="utf-8") as f:
            jobs = [line.split("\t")[0] for line in f if line.strip()]
    if jobs:
        ids = ",".join(jobs[-10:])
        print(f"jobs: {' '.join(jobs)}")
        for cmd in (["squeue", "-r", "-j", ids, "-o", "%.18i %.9T %.10M %.12l %N %R"],
                    ["sacct", "-X", "-j", ids, "-o",
                     "JobID%20,State,ExitCode,Elapsed,NodeList%20"]):
            try:
                p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, timeout=60)
                text = p.stdout.strip()
            except (OSError, subprocess.TimeoutExpired) as e:
                text = str(e)
            print(f"$ {shlex.join(cmd)}\n{text}")
    else:
        print("no Slurm job submitted for this folder (only local runs)")
    rows = build_report(plan)
    counts = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    print("images: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) +
          f" (of {len(rows)})")
    for r in rows:
        if r["status"] in ("failed", "interrupted"):
            print(f"{r['status']}: {r['input']}: {r['error']}\n  log: {r['log']}")
    return 0


# ------------------------------------------------------------------------- CLI

def add_plan_args(p):
    p.add_argument("input", help="a folder of PNGs or a manifest file")
    p.add_argument("--out-dir", required=True, help="where OUT/<stem>.nif go")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--per-task", type=int, default=10, help="images per array task (10)")
    g.add_argument("--shards", type=int, help="number of array tasks instead")
    p.add_argument("--cpus-per-task", type=int, default=1,
                   help="CPUs per task; nifc gets --threads this unless given (1)")
    p.add_argument("--nifc", default=os.environ.get("NIFC", "nifc"),
                   help="the nifc binary, on a path every node sees ($NIFC or nifc)")
    p.add_argument("--force", action="store_true", help="re-encode valid outputs too")


def main(argv):
    nifc_options = []
    if "--" in argv:
        i = argv.index("--")
        argv, nifc_options = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(prog="nifc-cluster", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("submit", help="submit a Slurm job array")
    add_plan_args(s)
    s.add_argument("--partition")
    s.add_argument("--account")
    s.add_argument("--gres", help="e.g. gpu:1 (nifc then gets --device cuda unless given)")
    s.add_argument("--mem", help="memory per task, e.g. 4G")
    s.add_argument("--time", help="time limit per task (Slurm format)")
    s.add_argument("--sec-per-mpx", type=float,
                   help="derive --time from this encode rate (see summary)")
    s.add_argument("--max-parallel", type=int, help="at most N tasks running at once")
    s.add_argument("--job-name")
    s.add_argument("--sbatch-arg", action="append", default=[],
                   help="another sbatch option, e.g. --sbatch-arg=--qos=low")
    s.add_argument("--pending-only", action="store_true",
                   help="submit only shards with an output missing or invalid")
    s.add_argument("--dry-run", action="store_true", help="write the job script only")
    lo = sub.add_parser("local", help="run the shards on this machine, no Slurm")
    add_plan_args(lo)
    lo.add_argument("--jobs", type=int, default=1, help="shards run at once (1)")
    lo.add_argument("--task", type=int, action="append", help="run only this shard")
    st = sub.add_parser("status", help="queue state and progress")
    st.add_argument("out_dir")
    sm = sub.add_parser("summary", help="merge the results into one report")
    sm.add_argument("out_dir")
    sm.add_argument("--csv")
    sm.add_argument("--json")
    rs = sub.add_parser("run-shard", help="encode one shard (an array task)")
    rs.add_argument("--plan", required=True)
    rs.add_argument("--task", type=int, required=True)
    rs.add_argument("--job-tag", help="names the log and results (default: Slurm job id)")
    args = ap.parse_args(argv)
    args.nifc_options = nifc_options
    if getattr(args, "per_task", 1) is not None and getattr(args, "per_task", 1) < 1:
        ap.error("--per-task must be at least 1")
    if getattr(args, "shards", None) is not None and args.shards < 1:
        ap.error("--shards must be at least 1")
    try:
        return {"submit": cmd_submit, "local": cmd_local, "status": cmd_status,
                "summary": cmd_summary, "run-shard": cmd_run_shard}[args.cmd](args)
    except UsageError as e:
        print(f"nifc-cluster: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
