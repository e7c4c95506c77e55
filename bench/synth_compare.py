#!/usr/bin/env python3
"""synth_compare.py — barge vs rclone vs the bare relay on barge-synth endpoints.

Starts two barge-synth processes on loopback (bench/synth/): a source whose
objects are generated from (key, offset), and a sink that checks every byte
it receives against the same generator. No server stores anything, so the
workloads can be as large as the issue asks (GiB objects, 20,000 small
ones) and the servers cost little CPU; every run is verified byte for byte
by the sink (GET /_synth/stats: bytes verified, errors).

Rows: barge (--checksum auto: Content-MD5 against these custom endpoints),
barge --checksum crc32c (what auto picks against AWS and R2), barge
--checksum none (whose uploads stream: they start while their GET arrives),
rclone (tuned as in bench/compare.py),
and the bare relay (barge-synth --relay: ranged GETs piped into PUTs and
UploadParts, no signing, no checksums), the ceiling each tool is a fraction
of. Links: `lan` (plain loopback) and `wan` (each response delayed by
--latency-ms and each connection capped at --rate-limit-mbps per direction,
on both endpoints) and `tls` (both endpoints over HTTPS, OpenSSL, a
self-signed certificate the tools are given; no relay row).

    bench/synth_compare.py                  # full: 4 x 1 GiB, 256 x 16 MiB, 20,000 x 16 KiB; lan + wan; 3 runs
    bench/synth_compare.py --quick          # CI smoke: seconds
    bench/synth_compare.py --links lan --workloads large --runs 5

Results: a Markdown table on stdout and bench/results/synth-<timestamp>.{md,json}
unless --no-save. Exit 1 if any run failed (tool error or sink verification).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_compare", REPO / "bench" / "compare.py")
cmp = importlib.util.module_from_spec(_spec)
sys.modules["bench_compare"] = cmp
_spec.loader.exec_module(cmp)   # run_timed, proc_cpu, machine_cpu, the tuned flags

MiB, GiB = 1 << 20, 1 << 30
FULL = {"large": "4x1G@16M", "medium": "256x16M", "small": "20000x16K"}
QUICK = {"large": "2x64M@16M", "medium": "16x16M", "small": "500x16K"}
WAN_FULL = {"large": "2x1G@16M", "medium": "64x16M", "small": "2000x16K"}
WAN_QUICK = {"large": "1x64M@16M", "small": "100x16K"}
TLS_FULL = {"large": "2x1G@16M", "medium": "64x16M", "small": "5000x16K"}


def log(*a):
    print("[synth-bench]", *a, file=sys.stderr, flush=True)


def parse_wl(spec: str):
    count, rest = spec.split("x", 1)
    size = rest.split("@")[0]
    return int(count), cmp.parse_size(size)


class Synth:
    def __init__(self, binary: Path, workdir: Path, name: str, args: List[str]):
        workdir.mkdir(parents=True, exist_ok=True)
        pf = workdir / f"{name}.port"
        pf.unlink(missing_ok=True)
        self.log = open(workdir / f"{name}.log", "w")
        self.proc = subprocess.Popen([str(binary), "--port-file", str(pf), "--quiet", *args],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        t0 = time.monotonic()
        while not pf.exists():
            if self.proc.poll() is not None or time.monotonic() - t0 > 120:
                raise RuntimeError(f"barge-synth {name} did not start: "
                                   f"{(workdir / f'{name}.log').read_text()[-2000:]}")
            time.sleep(0.05)
        scheme = "https" if "--tls-cert" in args else "http"
        self.url = f"{scheme}://127.0.0.1:{int(pf.read_text())}"
        self.ca = args[args.index("--tls-cert") + 1] if scheme == "https" else None

    def stats(self) -> dict:
        ctx = None
        if self.ca:
            import ssl
            ctx = ssl.create_default_context(cafile=self.ca)
        with urllib.request.urlopen(self.url + "/_synth/stats", timeout=30, context=ctx) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def tool_cmd(kind: str, args: List[str], a: dict, wl: str, spec: str, dst_prefix: str, src: Synth,
             dst: Synth, tmp: Path):
    """argv and environment of one run."""
    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp / "home"),
                "LANG": "C.UTF-8", "TMPDIR": str(tmp)}
    if kind == "barge":
        env = dict(base_env, AWS_ENDPOINT_URL_S3=src.url, AWS_ACCESS_KEY_ID="AKIDSYNTHSRC",
                   AWS_SECRET_ACCESS_KEY="not-checked", AWS_REGION="us-east-1",
                   AWS_CONFIG_FILE=str(tmp / "home" / "none"),
                   AWS_SHARED_CREDENTIALS_FILE=str(tmp / "home" / "none"),
                   R2_ENDPOINT_URL=dst.url, R2_ACCESS_KEY_ID="AKIDSYNTHDST",
                   R2_SECRET_ACCESS_KEY="not-checked")
        extra = []
        if dst.ca:   # r2:// takes a CA bundle only from a profile
            aws = tmp / "home" / ".aws"
            aws.mkdir(exist_ok=True)
            (aws / "config").write_text(f"[profile synthdst]\nendpoint_url = {dst.url}\n"
                                        f"ca_bundle = {dst.ca}\n")
            (aws / "credentials").write_text("[synthdst]\naws_access_key_id = AKIDSYNTHDST\n"
                                             "aws_secret_access_key = not-checked\n")
            env.update(AWS_CA_BUNDLE=src.ca, AWS_CONFIG_FILE=str(aws / "config"),
                       AWS_SHARED_CREDENTIALS_FILE=str(aws / "credentials"))
            for k in ("R2_ENDPOINT_URL", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"):
                env.pop(k)
            extra = ["--dst-profile", "synthdst"]
        return [a["barge"], "copy", f"s3://src/{wl}", f"r2://dst/{dst_prefix}{wl}", *args, *extra], env
    if kind == "rclone":
        env = dict(base_env)
        for name, ep in (("SRC", src), ("DST", dst)):
            env.update({f"RCLONE_CONFIG_{name}_TYPE": "s3", f"RCLONE_CONFIG_{name}_PROVIDER": "Other",
                        f"RCLONE_CONFIG_{name}_ENV_AUTH": "false",
                        f"RCLONE_CONFIG_{name}_ACCESS_KEY_ID": "AKIDSYNTH",
                        f"RCLONE_CONFIG_{name}_SECRET_ACCESS_KEY": "not-checked",
                        f"RCLONE_CONFIG_{name}_ENDPOINT": ep.url,
                        f"RCLONE_CONFIG_{name}_REGION": "us-east-1",
                        f"RCLONE_CONFIG_{name}_FORCE_PATH_STYLE": "true"})
        ca = ["--ca-cert", src.ca] if src.ca else []
        return ["rclone", "--config", "/dev/null", "copy", f"src:src/{wl}",
                f"dst:dst/{dst_prefix}{wl}", *args, *ca], env
    if kind == "relay":
        return [a["synth"], "--relay", "--src", f"{src.url}/src", "--dst", f"{dst.url}/dst",
                "--objects", f"{wl}={spec}", "--dst-prefix", dst_prefix, *args], base_env
    raise ValueError(kind)


def one_run(row, wl, spec, link, run_no, a, src, dst, tmp) -> dict:
    label, kind, args = row
    count, size = parse_wl(spec)
    total = count * size
    dst_prefix = f"{link}-{label}-{run_no}-{uuid.uuid4().hex[:6]}/"
    argv, env = tool_cmd(kind, args, a, wl, spec, dst_prefix, src, dst, tmp)
    s0, d0 = src.stats(), dst.stats()
    pids = {"src": src.proc.pid, "dst": dst.proc.pid}
    c0 = {k: cmp.proc_cpu(p) for k, p in pids.items()}
    m0 = cmp.machine_cpu()
    p = cmp.run_timed(argv, env, tmp / f"{link}-{label}-{wl}-{run_no}.log", a["timeout"])
    m1 = cmp.machine_cpu()
    c1 = {k: cmp.proc_cpu(p_) for k, p_ in pids.items()}
    s1, d1 = src.stats(), dst.stats()
    verified = d1["bytes_verified"] - d0["bytes_verified"]
    objs = d1["objects_verified"] - d0["objects_verified"]
    errs = d1["errors"] - d0["errors"]
    ok = p.rc == 0 and errs == 0 and objs == count and verified >= total
    res = {"tool": label, "kind": kind, "workload": wl, "spec": spec, "link": link, "run": run_no,
           "ok": ok, "exit_code": p.rc, "wall_s": round(p.wall, 3),
           "cpu_user_s": round(p.utime, 3), "cpu_sys_s": round(p.stime, 3),
           "maxrss_kib": p.maxrss_kib, "objects": count, "bytes": total,
           "sink": {"objects_verified": objs, "bytes_verified": verified, "errors": errs,
                    "bytes_received": d1["bytes_received"] - d0["bytes_received"],
                    "error_list": d1["error_list"][-errs:] if errs else []},
           "src_bytes_served": s1["bytes_served"] - s0["bytes_served"],
           "src_requests": s1["requests"] - s0["requests"],
           "cpu_s": {k: round((c1[k] or 0) - (c0[k] or 0), 2) for k in pids},
           "machine_busy_s": round(m1[0] - m0[0], 2),
           "argv": " ".join(shlex.quote(x) for x in argv)}
    if not ok:
        res["log_tail"] = p.stderr_tail
        log(f"  FAILED: exit {p.rc}, sink verified {objs}/{count} objects, {errs} errors "
            f"{res['sink']['error_list'][:3]}; log tail:\n{p.stderr_tail[-600:]}")
    return res


def report(meta: dict, runs: List[dict]) -> str:
    L = [f"# barge vs rclone vs the bare relay on barge-synth — {meta['started']}", "",
         f"`{meta['command']}` · commit `{meta['git_commit']}` · {meta['cpus']} CPUs · "
         f"load average at start {meta['loadavg_start']}, at end {meta.get('loadavg_end', '?')}", "",
         "Source and sink are barge-synth processes on loopback (one thread each); the sink "
         "verified every byte of every run against the generator (runs with a verification "
         "error or a tool failure are excluded and counted as failed). "
         f"wan = {meta['latency_ms']} ms before each response's first byte and "
         f"{meta['rate_limit_mbps']} Mbit/s per connection and direction, on both endpoints. "
         f"Sink Content-MD5 checking: {'on' if meta['verify_md5'] else 'off'}.", "",
         "| link | workload | tool | median MB/s | objects/s | × rclone | % of relay | "
         "CPU s/GiB | user s/GiB | peak RSS MiB | src cores | sink cores | machine cores | runs ok |",
         "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    keys = []
    for r in runs:
        k = (r["link"], r["workload"], r["tool"])
        if k not in keys:
            keys.append(k)
    med = {}
    for k in keys:
        good = [r for r in runs if (r["link"], r["workload"], r["tool"]) == k and r["ok"]]
        med[k] = statistics.median([r["wall_s"] for r in good]) if good else None
    for k in keys:
        rs = [r for r in runs if (r["link"], r["workload"], r["tool"]) == k]
        good = [r for r in rs if r["ok"]]
        if not good:
            L.append(f"| {k[0]} | {k[1]} | {k[2]} | FAILED | | | | | | | | | | 0/{len(rs)} |")
            continue
        w = med[k]
        b, n = good[0]["bytes"], good[0]["objects"]
        rcl = med.get((k[0], k[1], "rclone"))
        rel = med.get((k[0], k[1], "relay"))
        cpu = statistics.median([r["cpu_user_s"] + r["cpu_sys_s"] for r in good])
        ucpu = statistics.median([r["cpu_user_s"] for r in good])
        cores = lambda f: statistics.median([f(r) / r["wall_s"] for r in good])
        L.append(f"| {k[0]} | {k[1]} ({good[0]['spec']}) | {k[2]} | {b / w / 1e6:,.1f} | {n / w:,.1f} | "
                 f"{f'{rcl / w:.2f}' if rcl else '–'} | {f'{100 * rel / w:.0f}' if rel else '–'} | "
                 f"{cpu / (b / GiB):.2f} | {ucpu / (b / GiB):.2f} | "
                 f"{max(r['maxrss_kib'] for r in good) / 1024:.0f} | "
                 f"{cores(lambda r: r['cpu_s']['src']):.2f} | {cores(lambda r: r['cpu_s']['dst']):.2f} | "
                 f"{cores(lambda r: r['machine_busy_s']):.2f} | {len(good)}/{len(rs)} |")
    L += ["", "MB/s = 10^6 bytes/s of the tool's wall time (median run); × rclone = rclone's "
          "median wall / this row's (same link and workload); % of relay = relay's median wall / "
          "this row's; CPU s/GiB = the tool's own user+system CPU per GiB, user s/GiB the user-space "
          "part of it (the rest is the kernel's, which on loopback includes the receiving side's "
          "TCP work for each send); cores = CPU seconds / "
          "wall seconds of the source and sink barge-synth processes and of the whole machine "
          "(other engineers' work included).", "", "## Rows", ""]
    for label, kind, args in meta["rows"]:
        L.append(f"- **{label}** ({kind}): `{' '.join(shlex.quote(x) for x in args)}`")
    L += ["", "The relay is `barge-synth --relay`: ranged GETs of --part-size from the source piped "
          "into UploadPart (single PUT for smaller objects), no signing, no checksums, one thread per "
          "connection pair; the multipart Create/Complete are done before/after the timed part of "
          "its work, but inside its wall time."]
    return "\n".join(L)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="CI smoke: tiny workloads, 1 run")
    ap.add_argument("--runs", type=int)
    ap.add_argument("--workloads", default="large,medium,small")
    ap.add_argument("--links", default=None,
                    help="comma list of lan, wan, tls (default lan,wan; tls: both endpoints "
                         "over HTTPS with a self-signed certificate, no relay row)")
    ap.add_argument("--large"), ap.add_argument("--medium"), ap.add_argument("--small")
    ap.add_argument("--latency-ms", type=float, default=40)
    ap.add_argument("--rate-limit-mbps", type=float, default=100,
                    help="wan: per connection and direction (default 100)")
    ap.add_argument("--verify-md5", action="store_true",
                    help="sink checks Content-MD5 (costs the sink ~1-2 CPU s/GiB of parts)")
    ap.add_argument("--tools", default="barge,barge-crc32c,barge-nocksum,rclone,relay")
    ap.add_argument("--barge", default=os.environ.get("BARGE_BIN", str(REPO / "zig-out/bin/barge")))
    ap.add_argument("--synth", default=os.environ.get("BARGE_SYNTH_BIN",
                                                      str(REPO / "zig-out/bin/barge-synth")))
    ap.add_argument("--barge-args", default=cmp.BARGE_ARGS)
    ap.add_argument("--rclone-args", default=cmp.RCLONE_ARGS)
    ap.add_argument("--relay-args", default="--concurrency 32 --part-size 16M")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--out", default=str(REPO / "bench" / "results"))
    ap.add_argument("--no-save", action="store_true")
    a = ap.parse_args()
    for b in (a.barge, a.synth):
        if not os.access(b, os.X_OK):
            ap.error(f"{b} not found: tools/zig build -Doptimize=ReleaseFast -p /tmp/barge-release, "
                     "then --barge/--synth /tmp/barge-release/bin/...")
    runs_n = a.runs or (1 if a.quick else 3)
    links = (a.links or "lan,wan").split(",")
    rows_all = {"barge": ("barge", "barge", shlex.split(a.barge_args)),
                "barge-crc32c": ("barge-crc32c", "barge", shlex.split(a.barge_args) + ["--checksum", "crc32c"]),
                "barge-nocksum": ("barge-nocksum", "barge", shlex.split(a.barge_args) + ["--checksum", "none"]),
                "rclone": ("rclone", "rclone", shlex.split(a.rclone_args)),
                "relay": ("relay", "relay", shlex.split(a.relay_args))}
    names = [t for t in a.tools.split(",") if t]
    if a.quick and a.tools == ap.get_default("tools"):
        names = ["barge", "rclone", "relay"]
    if "rclone" in names and not shutil.which("rclone"):
        log("rclone not found: its rows are skipped")
        names.remove("rclone")
    rows = [rows_all[t] for t in names]
    tmp = Path(tempfile.mkdtemp(prefix="synth-bench-"))
    (tmp / "home").mkdir()
    started = dt.datetime.now()
    meta = {"started": started.isoformat(timespec="seconds"),
            "command": "bench/synth_compare.py " + " ".join(shlex.quote(x) for x in sys.argv[1:]),
            "git_commit": subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                         stdout=subprocess.PIPE, text=True).stdout.strip(),
            "cpus": os.cpu_count(), "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "latency_ms": a.latency_ms, "rate_limit_mbps": a.rate_limit_mbps,
            "verify_md5": a.verify_md5, "rows": rows, "barge": a.barge, "synth": a.synth}
    results: List[dict] = []
    rc = 0
    try:
        for link in links:
            table = (WAN_QUICK if a.quick else WAN_FULL) if link == "wan" else (QUICK if a.quick else FULL)
            if link == "tls" and not a.quick:
                table = TLS_FULL
            specs = {w: getattr(a, w) or table.get(w) for w in a.workloads.split(",") if w}
            specs = {w: s for w, s in specs.items() if s}
            src_spec = ",".join(f"{w}={s}" for w, s in specs.items())
            if link not in ("lan", "wan", "tls"):
                ap.error(f"unknown link {link!r}: lan, wan or tls")
            net = ["--latency-ms", str(a.latency_ms), "--rate-limit-mbps", str(a.rate_limit_mbps)] \
                if link == "wan" else []
            if link == "tls":
                crt, key = tmp / "synth.crt", tmp / "synth.key"
                if not crt.exists():
                    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                                    "-keyout", str(key), "-out", str(crt), "-days", "2",
                                    "-subj", "/CN=127.0.0.1", "-addext",
                                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
                net = ["--tls-cert", str(crt), "--tls-key", str(key)]
            md5 = [] if a.verify_md5 else ["--no-verify-md5"]
            src = Synth(Path(a.synth), tmp, f"{link}-src", ["--bucket", f"src:{src_spec}", *net])
            dst = Synth(Path(a.synth), tmp, f"{link}-dst",
                        ["--bucket", f"src:{src_spec}", "--sink", "dst=src", *net, *md5])
            log(f"{link}: source {src.url}, sink {dst.url}, objects {src_spec}")
            try:
                for wl, spec in specs.items():
                    for r in range(runs_n):
                        order = rows[r % len(rows):] + rows[:r % len(rows)]
                        for row in order:
                            if link == "tls" and row[1] == "relay":
                                continue   # the relay speaks plain HTTP only
                            log(f"{link} {wl} run {r + 1}/{runs_n}: {row[0]}")
                            res = one_run(row, wl, spec, link, r + 1,
                                          {"barge": a.barge, "synth": a.synth, "timeout": a.timeout},
                                          src, dst, tmp)
                            results.append(res)
                            log(f"  {res['wall_s']:.2f} s, {res['bytes'] / res['wall_s'] / 1e6:.1f} MB/s, "
                                f"{res['objects'] / res['wall_s']:.0f} obj/s, cpu "
                                f"{res['cpu_user_s'] + res['cpu_sys_s']:.2f} s, servers {res['cpu_s']}, "
                                f"ok={res['ok']}")
            finally:
                src.stop()
                dst.stop()
    except KeyboardInterrupt:
        rc = 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not results:
        return rc or 1
    if not all(r["ok"] for r in results):
        rc = rc or 1
    meta["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    md = report(meta, results)
    print(md)
    if not a.no_save:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = "synth-" + started.strftime("%Y%m%d-%H%M%S") + ("-quick" if a.quick else "")
        (out / f"{stem}.md").write_text(md + "\n")
        (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "runs": results}, indent=1) + "\n")
        log(f"wrote {out / stem}.md and .json")
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from chart import write_chart  # bench/chart.py; needs matplotlib
        log(f"wrote {write_chart(out / f'{stem}.json', out / f'{stem}.png')}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
