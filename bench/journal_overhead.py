#!/usr/bin/env python3
"""journal_overhead.py — what the SQLite journal costs barge on small objects.

Copies N small objects from moto to Ceph RGW (both started on loopback with
tests/servers/{moto,rgw}.sh, through bench/compare.py's helpers) in three
modes, alternating (the order rotated each round), R runs each:

    none     barge copy SRC DST
    normal   barge copy SRC DST --journal J --journal-sync normal   (the default)
    off      barge copy SRC DST --journal J --journal-sync off      (cheapest)

Every run copies into a fresh destination prefix with a new journal file.
After each run boto3 checks the destination (every key, right size, nothing
extra) and, for the journal modes, sqlite3 checks the journal holds every
object as done (a journal that did nothing would be cheap). Wall time is
the barge process's; CPU seconds come from its rusage.

    bench/journal_overhead.py              # 20,000 x 1 KiB, 3 runs per mode
    bench/journal_overhead.py --quick      # 500 x 1 KiB, 1 run per mode (CI smoke)
    bench/journal_overhead.py --count 5000 --size 4K --runs 5

Report: a Markdown table on stdout (medians of wall time, objects/s, CPU s;
the ratios normal/none, off/none and normal/off), written with the raw
runs as bench/results/journal-overhead-<timestamp>.{md,json} unless
--no-save. Exit 1 if any run failed its check.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# compare.py's helpers: servers, workloads, measuring a process
from compare import (MOTO_KEYS, REPO, RESULTS, RGW_KEYS, CpuSampler, Endpoint,  # noqa: E402
                     Workload, delete_prefix, ensure_bucket, human, list_prefix, log,
                     parse_size, populate, run_timed, start_server, stop_server)

MODES = ("none", "normal", "off")


def barge_env(src: Endpoint, dst: Endpoint, home: Path, tmp: Path) -> dict:
    aws = home / ".aws"
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
            "LANG": "C.UTF-8", "TMPDIR": str(tmp),
            "AWS_CONFIG_FILE": str(aws / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(aws / "credentials"),
            "AWS_ENDPOINT_URL_S3": src.url, "AWS_ACCESS_KEY_ID": src.access_key,
            "AWS_SECRET_ACCESS_KEY": src.secret_key, "AWS_REGION": src.region,
            "R2_ENDPOINT_URL": dst.url, "R2_ACCESS_KEY_ID": dst.access_key,
            "R2_SECRET_ACCESS_KEY": dst.secret_key}


def journal_done(path: Path) -> int:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute("SELECT count(*) FROM objects WHERE state = 3").fetchone()[0]
    finally:
        con.close()


def one_run(args, src, dst, wl, env, tmp, mode, round_no, order) -> dict:
    prefix = f"jo-{mode}-{round_no}-{uuid.uuid4().hex[:6]}"
    argv = [args.barge, "copy", f"s3://{src.bucket}/{wl.prefix.rstrip('/')}",
            f"r2://{dst.bucket}/{prefix}", *shlex.split(args.barge_args)]
    journal = None
    if mode != "none":
        journal = Path(args.journal_dir or tmp) / f"{prefix}.journal"
        argv += ["--journal", str(journal), "--journal-sync", mode]
    pids = {f"{ep.role}.{n}": p for ep in (src, dst) for n, p in ep.server_pids().items()}
    sampler = CpuSampler(pids)
    sampler.start()
    p = run_timed(argv, env, tmp / f"{prefix}.log", args.timeout)
    cpu = sampler.stop()
    d = dst.client()
    got = list_prefix(d, dst.bucket, prefix + "/")
    missing = [k for k in wl.objects if k not in got]
    badsize = [k for k, (sz, _) in wl.objects.items() if k in got and got[k][0] != sz]
    extra = [k for k in got if k not in wl.objects]
    jdone = None
    jbytes = None
    if journal is not None:
        try:
            jdone = journal_done(journal)
            jbytes = sum(f.stat().st_size for f in journal.parent.glob(journal.name + "*"))
        except (sqlite3.Error, OSError) as e:
            jdone = f"unreadable: {e}"
    ok = (p.rc == 0 and not missing and not badsize and not extra
          and (journal is None or jdone == wl.count))
    res = {"mode": mode, "round": round_no, "order_in_round": order, "ok": ok, "exit_code": p.rc,
           "wall_s": round(p.wall, 3), "cpu_user_s": round(p.utime, 3),
           "cpu_sys_s": round(p.stime, 3), "maxrss_kib": p.maxrss_kib,
           "objects": wl.count, "verified": {"listed": len(got), "missing": len(missing),
                                             "wrong_size": len(badsize), "extra": len(extra),
                                             "journal_done": jdone},
           "journal_bytes": jbytes, "server_cpu_s": cpu,
           "argv": " ".join(shlex.quote(str(a)) for a in argv)}
    if not ok:
        res["log_tail"] = p.stderr_tail
        log(f"  FAILED: exit {p.rc}, missing {len(missing)}, wrong size {len(badsize)}, "
            f"extra {len(extra)}, journal done {jdone}; log tail:\n{p.stderr_tail[-800:]}")
    if not args.keep:
        delete_prefix(d, dst.bucket, prefix + "/")
        if journal is not None:
            for f in journal.parent.glob(journal.name + "*"):
                f.unlink()
    return res


def summarize(results, count):
    rows = {}
    for mode in MODES:
        good = [r for r in results if r["mode"] == mode and r["ok"]]
        n = sum(1 for r in results if r["mode"] == mode)
        row = {"mode": mode, "runs": n, "ok_runs": len(good)}
        if good:
            wall = statistics.median(r["wall_s"] for r in good)
            row.update({"median_wall_s": wall,
                        "min_wall_s": min(r["wall_s"] for r in good),
                        "max_wall_s": max(r["wall_s"] for r in good),
                        "objects_s": count / wall,
                        "median_cpu_s": statistics.median(r["cpu_user_s"] + r["cpu_sys_s"]
                                                          for r in good),
                        "journal_bytes": max((r["journal_bytes"] or 0) for r in good) or None})
        rows[mode] = row

    def ratio(a, b, k):
        ra, rb = rows[a].get(k), rows[b].get(k)
        return ra / rb if ra and rb else None

    ratios = {f"{a}/{b}": {"wall": ratio(a, b, "median_wall_s"), "cpu": ratio(a, b, "median_cpu_s")}
              for a, b in (("normal", "none"), ("off", "none"), ("normal", "off"))}
    return rows, ratios


def fmt(v, nd=2, suffix=""):
    return "–" if v is None else f"{v:,.{nd}f}{suffix}"


def markdown(meta, rows, ratios) -> str:
    L = [f"# barge journal overhead — {meta['started']}", "",
         f"`{meta['command']}` · commit `{meta['git_commit']}`"
         f"{' (dirty tree)' if meta['git_dirty'] else ''} · {meta['cpus']} CPUs · "
         f"load average at start {meta['loadavg_start']}", "",
         f"{meta['count']:,} objects × {human(meta['size'])}, moto → Ceph RGW on loopback, "
         f"barge `{meta['barge_args']}`; {meta['runs']} run(s) per mode, modes alternating, "
         f"each run a fresh destination prefix and a new journal in {meta['journal_dir']}.", "",
         "| mode | median wall s (min–max) | objects/s | barge CPU s | journal size | runs ok |",
         "|---|--:|--:|--:|--:|--:|"]
    label = {"none": "no journal", "normal": "--journal, --journal-sync normal",
             "off": "--journal, --journal-sync off"}
    for mode in MODES:
        r = rows[mode]
        if "median_wall_s" not in r:
            L.append(f"| {label[mode]} | FAILED | | | | {r['ok_runs']}/{r['runs']} |")
            continue
        jb = f"{r['journal_bytes'] / (1 << 20):.1f} MiB" if r.get("journal_bytes") else "–"
        L.append(f"| {label[mode]} | {r['median_wall_s']:.2f} ({r['min_wall_s']:.2f}–"
                 f"{r['max_wall_s']:.2f}) | {fmt(r['objects_s'], 0)} | {fmt(r['median_cpu_s'])} | "
                 f"{jb} | {r['ok_runs']}/{r['runs']} |")
    L += ["", "| ratio | wall time | barge CPU |", "|---|--:|--:|"]
    for k, v in ratios.items():
        L.append(f"| {k} | {fmt(v['wall'], 3, '×')} | {fmt(v['cpu'], 3, '×')} |")
    L += ["", "Ratios are of medians; above 1× means the first mode is slower (costs more). "
          "`normal/none` is what journaling costs at the default setting, `off/none` at its "
          "cheapest, `normal/off` what the fsyncs of the default add. The servers run on the "
          "same machine, so wall time includes their contention; CPU is barge's own."]
    return "\n".join(L)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="500 objects, 1 run per mode")
    ap.add_argument("--count", type=int, help="objects (default 20000; quick 500)")
    ap.add_argument("--size", type=parse_size, default=1024, help="object size (default 1K)")
    ap.add_argument("--runs", type=int, help="runs per mode (default 3; quick 1)")
    ap.add_argument("--barge", default=os.environ.get("BARGE_BIN", str(REPO / "zig-out/bin/barge")))
    ap.add_argument("--barge-args", default="--concurrency 64 --progress none")
    ap.add_argument("--journal-dir", help="where journals are written (default: the temp dir); "
                                          "fsync cost depends on this file system")
    ap.add_argument("--src-port", type=int, default=19710)
    ap.add_argument("--dst-port", type=int, default=19711)
    ap.add_argument("--timeout", type=float, default=900, help="seconds per barge run")
    ap.add_argument("--keep", action="store_true", help="keep destination objects and temp dir")
    ap.add_argument("--no-save", action="store_true", help="do not write results")
    ap.add_argument("--out", default=str(RESULTS), help="results directory")
    args = ap.parse_args()
    count = args.count or (500 if args.quick else 20000)
    runs = args.runs or (1 if args.quick else 3)
    if not os.access(args.barge, os.X_OK):
        ap.error(f"barge binary {args.barge} not found: build it (tools/zig build "
                 f"-Doptimize=ReleaseFast -p /tmp/barge-release) and pass --barge")

    tmp = Path(tempfile.mkdtemp(prefix="barge-jbench-"))
    home = tmp / "home"
    home.mkdir()
    started = dt.datetime.now()
    git = lambda *a: subprocess.run(["git", "-C", str(REPO), *a], stdout=subprocess.PIPE,
                                    text=True).stdout.strip()
    meta = {"started": started.isoformat(timespec="seconds"),
            "command": "bench/journal_overhead.py " + " ".join(map(shlex.quote, sys.argv[1:])),
            "git_commit": git("rev-parse", "--short", "HEAD"),
            "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
            "cpus": os.cpu_count(), "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "count": count, "size": args.size, "runs": runs, "barge": args.barge,
            "barge_args": args.barge_args, "journal_dir": args.journal_dir or "the temp dir"}
    servers = []
    results = []
    try:
        start_server("moto", tmp / "moto-src", args.src_port)
        servers.append(("moto", tmp / "moto-src"))
        start_server("rgw", tmp / "rgw-dst", args.dst_port)
        servers.append(("rgw", tmp / "rgw-dst"))
        src = Endpoint("src", "moto", f"http://127.0.0.1:{args.src_port}", *MOTO_KEYS,
                       "us-east-1", "barge-jbench-src", tmp / "moto-src", args.src_port)
        dst = Endpoint("dst", "rgw", f"http://127.0.0.1:{args.dst_port}", *RGW_KEYS,
                       "auto", "barge-jbench-dst", tmp / "rgw-dst", args.dst_port)
        ensure_bucket(src.client(), src.bucket)
        ensure_bucket(dst.client(), dst.bucket)
        wl = Workload("small", count, args.size)
        populate(src, wl, 16 << 20, threads=32)
        env = barge_env(src, dst, home, tmp)
        total = runs * len(MODES)
        n = 0
        for r in range(runs):
            order = MODES[r % 3:] + MODES[:r % 3]
            for i, mode in enumerate(order):
                n += 1
                log(f"[{n}/{total}] round {r + 1}/{runs}: {mode}")
                res = one_run(args, src, dst, wl, env, tmp, mode, r + 1, i)
                results.append(res)
                log(f"  {res['wall_s']:.2f} s, {count / res['wall_s']:.0f} obj/s, cpu "
                    f"{res['cpu_user_s'] + res['cpu_sys_s']:.2f} s, ok={res['ok']}")
    except KeyboardInterrupt:
        log("interrupted")
    finally:
        for kind, wd in reversed(servers):
            stop_server(kind, wd)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if not results:
        return 1
    meta["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    meta["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rows, ratios = summarize(results, count)
    md = markdown(meta, rows, ratios)
    print(md)
    if not args.no_save:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = "journal-overhead-" + started.strftime("%Y%m%d-%H%M%S") + ("-quick" if args.quick else "")
        (out / f"{stem}.md").write_text(md + "\n")
        (out / f"{stem}.json").write_text(json.dumps(
            {"meta": meta, "summary": rows, "ratios": ratios, "runs": results},
            indent=1, default=str) + "\n")
        log(f"wrote {out / stem}.md and .json")
    return 0 if all(r["ok"] for r in results) and len(results) == total else 1


if __name__ == "__main__":
    sys.exit(main())
