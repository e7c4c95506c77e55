#!/usr/bin/env python3
"""compare.py — barge vs rclone (vs s5cmd) on the same two endpoints, in one run.

Starts its own source (moto) and destination (Ceph RGW) on loopback with
tests/servers/{moto,rgw}.sh, fills the source with boto3, then copies each
workload with every tool, alternating tools, N runs each, every run into a fresh
destination prefix. After each run boto3 checks that the destination holds
every key with the right size (a run that did not copy fails and is left out
of the medians). Wall time is the tool process's; CPU seconds and peak RSS
come from the tool's own rusage (os.wait4). The CPU time of the servers and of
the whole machine over each run is sampled from /proc, so the report shows
what limited throughput.

    bench/compare.py                 # full run (~10 min): 4 x 256 MiB, 2,000 x 16 KiB, 3 runs
    bench/compare.py --quick         # CI smoke: 2 x 64 MiB + 200 x 16 KiB, 1 run (< 1 min)
    bench/compare.py --help

Results: a Markdown table on stdout, and bench/results/<timestamp>.md plus
<timestamp>.json (every run, raw) unless --no-save.

Other endpoints instead of the local servers (see docs/bench.md):
    BENCH_SRC_URL, BENCH_SRC_ACCESS_KEY_ID, BENCH_SRC_SECRET_ACCESS_KEY,
    BENCH_SRC_REGION, BENCH_SRC_BUCKET   (and the same with BENCH_DST_)
Setting BENCH_SRC_URL (or BENCH_DST_URL) skips starting moto (or RGW).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
SERVERS = REPO / "tests" / "servers"
RESULTS = REPO / "bench" / "results"

MiB = 1 << 20
GiB = 1 << 30
CLK_TCK = os.sysconf("SC_CLK_TCK")

# moto takes any keys; RGW's are fixed in tests/servers/rgw.sh.
MOTO_KEYS = ("AKIDSOURCE", "secretsource")
RGW_KEYS = ("BARGETESTRGWACCESS01", "barge-test-rgw-secret-key-0123456789abcdef")


def log(*a) -> None:
    print("[bench]", *a, file=sys.stderr, flush=True)


def parse_size(s: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*", s, re.I)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {s!r} (e.g. 256M, 16K, 1G)")
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
    return int(float(m.group(1)) * mult)


def human(n: int) -> str:
    for unit, sz in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= sz and n % sz == 0:
            return f"{n // sz} {unit}"
    return f"{n} B"


# --------------------------------------------------------------------------
# Endpoints


@dataclass
class Endpoint:
    role: str                 # "src" or "dst"
    kind: str                 # "moto", "rgw" or "external"
    url: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    region: str
    bucket: str
    workdir: Optional[Path] = None   # the server's DIR when we started it
    port: Optional[int] = None

    def client(self, pool: int = 64):
        import boto3
        from botocore.config import Config
        cfg = Config(s3={"addressing_style": "path"},
                     retries={"max_attempts": 5, "mode": "standard"},
                     connect_timeout=5, read_timeout=300,
                     max_pool_connections=pool,
                     # RGW 16 predates flexible checksums; keep boto3 to MD5/none.
                     request_checksum_calculation="when_required",
                     response_checksum_validation="when_required")
        return boto3.client("s3", endpoint_url=self.url, region_name=self.region,
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, config=cfg)

    def server_pids(self) -> Dict[str, int]:
        """Pids of the server processes we started (for CPU accounting)."""
        if self.workdir is None:
            return {}
        files = {"moto": {"moto": self.workdir / "moto.pid"},
                 "rgw": {"radosgw": self.workdir / "run" / "client.rgw.pid",
                         "ceph-osd": self.workdir / "run" / "osd.0.pid",
                         "ceph-mon": self.workdir / "run" / "mon.a.pid"}}.get(self.kind, {})
        out = {}
        for name, f in files.items():
            try:
                out[name] = int(f.read_text().strip())
            except (OSError, ValueError):
                pass
        return out

    def describe(self) -> dict:
        return {"role": self.role, "kind": self.kind, "url": self.url,
                "region": self.region, "bucket": self.bucket}


def port_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:port (TIME_WAIT leftovers do not count)."""
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


def start_server(kind: str, workdir: Path, port: int) -> None:
    script = SERVERS / f"{kind}.sh"
    if not port_free(port):
        sys.exit(f"error: port {port} on 127.0.0.1 is in use; pick another with "
                 f"--{'src' if kind == 'moto' else 'dst'}-port")
    log(f"starting {kind} on 127.0.0.1:{port} in {workdir}")
    r = subprocess.run([str(script), "start", str(workdir), str(port)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout)
        raise RuntimeError(f"{script.name} start failed")


def stop_server(kind: str, workdir: Path) -> None:
    subprocess.run([str(SERVERS / f"{kind}.sh"), "stop", str(workdir)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def endpoint_from_env(role: str) -> Optional[Endpoint]:
    p = f"BENCH_{role.upper()}_"
    url = os.environ.get(p + "URL")
    if not url:
        return None
    try:
        ak, sk = os.environ[p + "ACCESS_KEY_ID"], os.environ[p + "SECRET_ACCESS_KEY"]
    except KeyError as e:
        sys.exit(f"error: {p}URL is set but {e.args[0]} is not")
    return Endpoint(role, "external", url, ak, sk,
                    os.environ.get(p + "REGION", "us-east-1" if role == "src" else "auto"),
                    os.environ.get(p + "BUCKET", f"barge-bench-{role}"))


# --------------------------------------------------------------------------
# Workloads


@dataclass
class Workload:
    name: str
    count: int
    size: int
    prefix: str = ""         # source prefix, set in populate()
    objects: Dict[str, Tuple[int, str]] = field(default_factory=dict, repr=False)  # rel key -> (size, etag)

    @property
    def total_bytes(self) -> int:
        return self.count * self.size

    def describe(self) -> dict:
        return {"name": self.name, "count": self.count, "size": self.size,
                "total_bytes": self.total_bytes, "source_prefix": self.prefix}


def list_prefix(client, bucket: str, prefix: str) -> Dict[str, Tuple[int, str]]:
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"][len(prefix):]] = (o["Size"], o["ETag"].strip('"'))
    return out


def ensure_bucket(client, bucket: str) -> None:
    try:
        client.head_bucket(Bucket=bucket)
    except Exception:
        client.create_bucket(Bucket=bucket)


def populate(src: Endpoint, wl: Workload, src_part: int, threads: int) -> None:
    """Fill src with the workload unless an identical set is already there."""
    from boto3.s3.transfer import TransferConfig
    c = src.client(pool=threads)
    wl.prefix = f"bench/{wl.name}-{wl.count}x{wl.size}/"
    have = list_prefix(c, src.bucket, wl.prefix)
    keys = [f"obj{i:06d}" for i in range(wl.count)]
    if len(have) == wl.count and all(have.get(k, (None,))[0] == wl.size for k in keys):
        log(f"source already holds {wl.name}: {wl.count} x {human(wl.size)}")
        wl.objects = have
        return
    t0 = time.monotonic()
    base = bytearray(os.urandom(wl.size))
    tc = TransferConfig(multipart_threshold=src_part, multipart_chunksize=src_part,
                        max_concurrency=8, use_threads=True)

    def body(i: int) -> bytes:
        b = bytearray(base) if wl.size > MiB else base[:]
        stamp = f"{wl.name}:{i}:".encode()[: len(b)]
        b[: len(stamp)] = stamp          # every object distinct
        return bytes(b)

    if wl.size > src_part:   # large: a few at a time, multipart like a real bucket's big files
        with ThreadPoolExecutor(2) as ex:
            list(ex.map(lambda i: c.upload_fileobj(io.BytesIO(body(i)), src.bucket,
                                                   wl.prefix + keys[i], Config=tc),
                        range(wl.count)))
    else:
        with ThreadPoolExecutor(threads) as ex:
            list(ex.map(lambda i: c.put_object(Bucket=src.bucket, Key=wl.prefix + keys[i],
                                               Body=body(i)),
                        range(wl.count)))
    wl.objects = list_prefix(c, src.bucket, wl.prefix)
    if len(wl.objects) != wl.count:
        raise RuntimeError(f"populate {wl.name}: source lists {len(wl.objects)} objects, "
                           f"expected {wl.count}")
    log(f"populated {wl.name}: {wl.count} x {human(wl.size)} in {time.monotonic() - t0:.1f} s")


# --------------------------------------------------------------------------
# Measuring a process


@dataclass
class Proc:
    argv: List[str]
    rc: int
    wall: float
    utime: float
    stime: float
    maxrss_kib: int
    maxrss_exact: bool
    stderr_tail: str


GNU_TIME = "/usr/bin/time"


def run_timed(argv: List[str], env: dict, logfile: Path, timeout: float,
              cwd: Optional[Path] = None) -> Proc:
    """Run argv; wall time around the process, CPU from its rusage (os.wait4).

    Peak RSS: a child's ru_maxrss starts from the RSS of the process it was
    forked from (Linux carries the old mm's high-water mark across exec), and
    this Python process holds hundreds of MiB after filling the source. So the
    tool is started through GNU time, a small C program, and its %M (the
    tool's own ru_maxrss) is taken; without /usr/bin/time the number from
    wait4 is kept and flagged as an upper bound."""
    use_time = os.access(GNU_TIME, os.X_OK)
    rssfile = logfile.with_suffix(".rss")
    full = [GNU_TIME, "-f", "%M", "-o", str(rssfile), *argv] if use_time else argv
    with open(logfile, "wb") as lf:
        t0 = time.monotonic()
        p = subprocess.Popen(full, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                             stdout=lf, stderr=subprocess.STDOUT, start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.killpg(p.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
        wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait again
    maxrss, exact = ru.ru_maxrss, False
    if use_time:
        try:
            maxrss, exact = int(rssfile.read_text().split()[-1]), True
        except (OSError, ValueError, IndexError):
            pass
    tail = logfile.read_text(errors="replace")[-2000:]
    return Proc(argv, p.returncode, wall, ru.ru_utime, ru.ru_stime, maxrss, exact, tail)


def proc_cpu(pid: int) -> Optional[float]:
    try:
        f = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    fields = f[f.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK   # utime + stime


def machine_cpu() -> Tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    total = sum(v[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


class CpuSampler:
    """CPU seconds used by the servers and by the whole machine between start() and stop()."""

    def __init__(self, pids: Dict[str, int]):
        self.pids = pids

    def start(self):
        self.t0 = {n: proc_cpu(p) for n, p in self.pids.items()}
        self.m0 = machine_cpu()

    def stop(self) -> dict:
        t1 = {n: proc_cpu(p) for n, p in self.pids.items()}
        m1 = machine_cpu()
        out = {n: round(t1[n] - self.t0[n], 2) for n in self.pids
               if t1[n] is not None and self.t0[n] is not None}
        out["machine_busy"] = round(m1[0] - self.m0[0], 2)
        return out


# --------------------------------------------------------------------------
# Tools


@dataclass
class Ctx:
    src: Endpoint
    dst: Endpoint
    tmp: Path
    home: Path
    barge: Path
    timeout: float
    rclone_conf: Optional[Path] = None


def clean_env(ctx: Ctx, **extra) -> dict:
    """A minimal environment: no AWS_*, R2_*, RCLONE_*, S3_* of the caller's."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(ctx.home),
           "LANG": "C.UTF-8", "TMPDIR": str(ctx.tmp)}
    if os.environ.get("BENCH_CA_BUNDLE"):
        env["AWS_CA_BUNDLE"] = os.environ["BENCH_CA_BUNDLE"]
    env.update(extra)
    return env


@dataclass
class Tool:
    label: str                 # row name in the report
    kind: str                  # barge | rclone | s5cmd-staged
    args: List[str]            # tuning flags (the part that is stated in the report)
    checksum: str = ""         # what the tool sends for the destination to verify
    only: Optional[List[str]] = None   # workloads this row runs on (None: all)

    def runs_on(self, workload: str) -> bool:
        return self.only is None or workload in self.only

    def command(self, ctx: Ctx, wl: Workload, dst_prefix: str) -> List[List[str]]:
        src_path = wl.prefix.rstrip("/")
        if self.kind == "barge":
            return [[str(ctx.barge), "copy", f"s3://{ctx.src.bucket}/{src_path}",
                     f"r2://{ctx.dst.bucket}/{dst_prefix.rstrip('/')}", *self.args]]
        if self.kind == "rclone":
            return [["rclone", "--config", str(ctx.rclone_conf), "copy",
                     f"src:{ctx.src.bucket}/{src_path}",
                     f"dst:{ctx.dst.bucket}/{dst_prefix.rstrip('/')}", *self.args]]
        if self.kind == "s5cmd-staged":
            stage = ctx.tmp / "s5cmd-stage"
            return [["s5cmd", "--endpoint-url", ctx.src.url, *self.args, "cp",
                     f"s3://{ctx.src.bucket}/{wl.prefix}*", f"{stage}/"],
                    ["s5cmd", "--endpoint-url", ctx.dst.url, *self.args, "cp",
                     f"{stage}/*", f"s3://{ctx.dst.bucket}/{dst_prefix}"]]
        raise ValueError(self.kind)

    def env(self, ctx: Ctx, step: int) -> dict:
        if self.kind == "barge":
            aws = ctx.home / ".aws"
            return clean_env(ctx,
                             AWS_CONFIG_FILE=str(aws / "config"),
                             AWS_SHARED_CREDENTIALS_FILE=str(aws / "credentials"),
                             AWS_ENDPOINT_URL_S3=ctx.src.url,
                             AWS_ACCESS_KEY_ID=ctx.src.access_key,
                             AWS_SECRET_ACCESS_KEY=ctx.src.secret_key,
                             AWS_REGION=ctx.src.region,
                             R2_ENDPOINT_URL=ctx.dst.url,
                             R2_ACCESS_KEY_ID=ctx.dst.access_key,
                             R2_SECRET_ACCESS_KEY=ctx.dst.secret_key)
        if self.kind == "rclone":
            return clean_env(ctx)
        if self.kind == "s5cmd-staged":
            ep = ctx.src if step == 0 else ctx.dst
            return clean_env(ctx, AWS_ACCESS_KEY_ID=ep.access_key,
                             AWS_SECRET_ACCESS_KEY=ep.secret_key, AWS_REGION=ep.region)
        raise ValueError(self.kind)

    def version(self, ctx: Ctx) -> str:
        argv = {"barge": [str(ctx.barge), "version"], "rclone": ["rclone", "version"],
                "s5cmd-staged": ["s5cmd", "version"]}[self.kind]
        try:
            out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, timeout=20, env=clean_env(ctx)).stdout
            return out.strip().splitlines()[0].split(" (")[0] if out.strip() else "?"
        except (OSError, subprocess.TimeoutExpired):
            return "not found"


def write_rclone_conf(ctx: Ctx) -> Path:
    conf = ctx.tmp / "rclone.conf"
    parts = []
    for name, ep in (("src", ctx.src), ("dst", ctx.dst)):
        parts.append(f"[{name}]\ntype = s3\nprovider = Other\nenv_auth = false\n"
                     f"access_key_id = {ep.access_key}\nsecret_access_key = {ep.secret_key}\n"
                     f"endpoint = {ep.url}\nregion = {ep.region}\nforce_path_style = true\n")
    conf.write_text("\n".join(parts))
    conf.chmod(0o600)
    return conf


def probe_rclone_checksums(ctx: Ctx, tool: Tool, src_prefix: str, chunk: int) -> str:
    """Copy one single-part and one multipart object with --dump headers and
    report which integrity headers rclone put on the upload requests."""
    c = ctx.src.client()
    small = os.urandom(16 * 1024)
    big = os.urandom(2 * chunk + 1024)
    from boto3.s3.transfer import TransferConfig
    c.put_object(Bucket=ctx.src.bucket, Key=src_prefix + "single", Body=small)
    c.upload_fileobj(io.BytesIO(big), ctx.src.bucket, src_prefix + "multi",
                     Config=TransferConfig(multipart_threshold=chunk, multipart_chunksize=chunk))
    dst_prefix = f"probe-{uuid.uuid4().hex[:8]}"
    argv = ["rclone", "--config", str(ctx.rclone_conf), "copy",
            f"src:{ctx.src.bucket}/{src_prefix.rstrip('/')}",
            f"dst:{ctx.dst.bucket}/{dst_prefix}", *tool.args,
            "--transfers", "1", "--dump", "headers", "--log-level", "DEBUG"]
    r = subprocess.run(argv, env=tool.env(ctx, 0), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    # Each request is dumped as a block; find the upload requests.
    blocks = r.stdout.split("HTTP REQUEST (req ")
    kinds = {}
    for b in blocks[1:]:
        m = re.search(r"(PUT|POST|GET|HEAD|DELETE) (\S+) HTTP/1", b)
        if not m or m.group(1) != "PUT":
            continue
        what = "part" if "partNumber=" in m.group(2) else "single PUT"
        md5 = bool(re.search(r"^Content-Md5:", b, re.M | re.I))
        sha = re.search(r"^X-Amz-Content-Sha256: (\S+)", b, re.M | re.I)
        sha = sha.group(1) if sha else "-"
        sha = "UNSIGNED-PAYLOAD" if sha == "UNSIGNED-PAYLOAD" else "SHA-256 of body"
        kinds.setdefault(what, set()).add(("Content-MD5" if md5 else "no Content-MD5") + ", " + sha)
    try:
        d = ctx.dst.client()
        for k in list_prefix(d, ctx.dst.bucket, dst_prefix + "/"):
            d.delete_object(Bucket=ctx.dst.bucket, Key=f"{dst_prefix}/{k}")
    except Exception:
        pass
    if r.returncode != 0 or not kinds:
        return "probe failed (rclone exit %d)" % r.returncode
    return "; ".join(f"{k}: {' / '.join(sorted(v))}" for k, v in sorted(kinds.items()))


# --------------------------------------------------------------------------
# One run


def delete_prefix(client, bucket: str, prefix: str) -> None:
    keys = [prefix + k for k in list_prefix(client, bucket, prefix)]
    for i in range(0, len(keys), 1000):
        client.delete_objects(Bucket=bucket, Delete={
            "Objects": [{"Key": k} for k in keys[i:i + 1000]], "Quiet": True})


def incomplete_uploads(client, bucket: str, prefix: str) -> int:
    n = 0
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
        for up in page.get("Uploads", []):
            n += 1
            client.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
    return n


def rgw_gc(dst: Endpoint) -> None:
    """Free deleted objects' RAM in the memstore OSD now (RGW's GC waits a minute)."""
    if dst.kind == "rgw" and dst.workdir:
        subprocess.run(["radosgw-admin", "-c", str(dst.workdir / "ceph.conf"),
                        "gc", "process", "--include-all"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


def one_run(ctx: Ctx, tool: Tool, wl: Workload, run_no: int, order: int, keep: bool) -> dict:
    dst_prefix = f"bench-{dt.datetime.now():%H%M%S}-{tool.label}-{wl.name}-{run_no}-{uuid.uuid4().hex[:6]}/"
    pids = {f"{ep.role}.{name}": pid for ep in (ctx.src, ctx.dst)
            for name, pid in ep.server_pids().items()}
    if tool.kind == "s5cmd-staged":
        shutil.rmtree(ctx.tmp / "s5cmd-stage", ignore_errors=True)
        (ctx.tmp / "s5cmd-stage").mkdir()
    cmds = tool.command(ctx, wl, dst_prefix)
    steps: List[Proc] = []
    sampler = CpuSampler(pids)
    sampler.start()
    for i, argv in enumerate(cmds):
        p = run_timed(argv, tool.env(ctx, i), ctx.tmp / f"{tool.label}-{wl.name}-{run_no}-{i}.log",
                      ctx.timeout)
        steps.append(p)
        if p.rc != 0:
            break
    cpu = sampler.stop()
    wall = sum(p.wall for p in steps)
    rc = next((p.rc for p in steps if p.rc != 0), 0)

    # Independent check: every key, right size.
    d = ctx.dst.client()
    got = list_prefix(d, ctx.dst.bucket, dst_prefix)
    missing = [k for k in wl.objects if k not in got]
    badsize = [k for k, (sz, _) in wl.objects.items() if k in got and got[k][0] != sz]
    extra = [k for k in got if k not in wl.objects]
    etag_same = sum(1 for k, (_, et) in wl.objects.items() if k in got and got[k][1] == et)
    leftover = incomplete_uploads(d, ctx.dst.bucket, dst_prefix)
    ok = rc == 0 and not missing and not badsize and not extra
    res = {
        "tool": tool.label, "kind": tool.kind, "workload": wl.name, "run": run_no,
        "order_in_round": order, "dst_prefix": dst_prefix, "ok": ok, "exit_code": rc,
        "wall_s": round(wall, 3),
        "cpu_user_s": round(sum(p.utime for p in steps), 3),
        "cpu_sys_s": round(sum(p.stime for p in steps), 3),
        "maxrss_kib": max(p.maxrss_kib for p in steps),
        "maxrss_exact": all(p.maxrss_exact for p in steps),
        "objects": wl.count, "bytes": wl.total_bytes,
        "verified": {"listed": len(got), "missing": len(missing), "wrong_size": len(badsize),
                     "extra": len(extra), "etag_equal_to_source": etag_same,
                     "incomplete_uploads_left": leftover},
        "server_cpu_s": cpu,
        "argv": [" ".join(shlex.quote(a) for a in p.argv) for p in steps],
    }
    if tool.kind == "s5cmd-staged":
        res["steps_wall_s"] = [round(p.wall, 3) for p in steps]
    if not ok:
        res["log_tail"] = steps[-1].stderr_tail
        log(f"  FAILED: exit {rc}, missing {len(missing)}, wrong size {len(badsize)}, "
            f"extra {len(extra)}; log tail:\n{steps[-1].stderr_tail[-800:]}")
    if not keep:
        delete_prefix(d, ctx.dst.bucket, dst_prefix)
        if wl.total_bytes >= 64 * MiB:
            rgw_gc(ctx.dst)
    return res


# --------------------------------------------------------------------------
# Report


def median(xs):
    return statistics.median(xs) if xs else None


def summarize(runs: List[dict], tools: List[Tool], workloads: List[Workload], ncpu: int) -> List[dict]:
    rows = []
    for wl in workloads:
        base = None
        best_rclone = None
        for t in tools:
            if not t.runs_on(wl.name):
                continue
            rs = [r for r in runs if r["tool"] == t.label and r["workload"] == wl.name]
            good = [r for r in rs if r["ok"]]
            row = {"tool": t.label, "workload": wl.name, "runs": len(rs), "ok_runs": len(good)}
            if good:
                wall = median([r["wall_s"] for r in good])
                cpu = median([r["cpu_user_s"] + r["cpu_sys_s"] for r in good])
                row.update({
                    "median_wall_s": round(wall, 3),
                    "min_wall_s": round(min(r["wall_s"] for r in good), 3),
                    "max_wall_s": round(max(r["wall_s"] for r in good), 3),
                    "mb_s": wl.total_bytes / wall / 1e6,
                    "objects_s": wl.count / wall,
                    "cpu_s": cpu,
                    "cpu_s_per_gib": cpu / (wl.total_bytes / GiB),
                    "peak_rss_mib": max(r["maxrss_kib"] for r in good) / 1024,
                    "peak_rss_exact": all(r.get("maxrss_exact") for r in good),
                    "etag_equal_to_source": min(r["verified"]["etag_equal_to_source"] for r in good),
                })
                # Cores busy during the run (median over runs), per process group.
                def cores(*keys):
                    v = []
                    for r in good:
                        xs = [r["server_cpu_s"][k] for k in keys if k in r["server_cpu_s"]]
                        if xs:
                            v.append(sum(xs) / r["wall_s"])
                    return median(v)
                row["cores"] = {
                    "tool": median([(r["cpu_user_s"] + r["cpu_sys_s"]) / r["wall_s"] for r in good]),
                    "src": cores("src.moto", "src.radosgw", "src.ceph-osd", "src.ceph-mon"),
                    "dst.radosgw": cores("dst.radosgw", "dst.moto"),
                    "dst.ceph": cores("dst.ceph-osd", "dst.ceph-mon"),
                    "machine": cores("machine_busy"),
                }
                if t.kind == "rclone":
                    if t.label == "rclone":
                        base = wall
                    if best_rclone is None or wall < best_rclone[1]:
                        best_rclone = (t.label, wall)
            row["kind"] = t.kind
            rows.append(row)
        for row in rows:
            if row["workload"] != wl.name or "median_wall_s" not in row:
                continue
            if base:
                row["ratio_to_rclone"] = base / row["median_wall_s"]
            if best_rclone:
                row["ratio_to_best_rclone"] = best_rclone[1] / row["median_wall_s"]
                row["best_rclone"] = best_rclone[0]
    return rows


def fmt(v, nd=1, suffix=""):
    if v is None:
        return "–"
    return f"{v:,.{nd}f}{suffix}"


def markdown(meta: dict, rows: List[dict], tools: List[Tool], workloads: List[Workload],
             skipped: List[Tuple[str, str]]) -> str:
    L = []
    L.append(f"# barge benchmark — {meta['started']}")
    L.append("")
    L.append(f"`{meta['command']}` · commit `{meta['git_commit']}`"
             f"{' (dirty tree)' if meta['git_dirty'] else ''} · {meta['host']['cpus']} CPUs, "
             f"{meta['host']['mem_gib']:.0f} GiB RAM, load average at start {meta['host']['loadavg_start']}")
    L.append("")
    L.append(f"Source: {meta['endpoints']['src']['kind']} {meta['endpoints']['src']['url']} → "
             f"destination: {meta['endpoints']['dst']['kind']} {meta['endpoints']['dst']['url']}. "
             f"{meta['runs']} run(s) per tool and workload, tools alternating (order rotated "
             f"each round), each run into a fresh destination prefix, checked with boto3 "
             f"afterwards (every key, right size).")
    L.append("")
    L.append("Workloads: " + "; ".join(
        f"`{w.name}` = {w.count:,} × {human(w.size)} ({w.total_bytes / GiB:.2f} GiB)"
        for w in workloads) + f"; source multipart objects have {human(meta['src_part_size'])} parts.")
    L.append("")
    L.append("| tool | workload | median MB/s | objects/s | CPU s/GiB | peak RSS MiB | "
             "ratio to rclone | ratio to fastest rclone row | runs ok | wall s median (min–max) |")
    L.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        name = r["tool"] + (" †" if r.get("kind") == "s5cmd-staged" else "")
        if "median_wall_s" not in r:
            L.append(f"| {name} | {r['workload']} | FAILED | | | | | | {r['ok_runs']}/{r['runs']} | |")
            continue
        best = r.get("ratio_to_best_rclone")
        best_s = f"{fmt(best, 2, '×')} ({r['best_rclone']})" if best is not None else "–"
        L.append(f"| {name} | {r['workload']} | {fmt(r['mb_s'])} | {fmt(r['objects_s'])} | "
                 f"{fmt(r['cpu_s_per_gib'], 2)} | {fmt(r['peak_rss_mib'], 0)}"
                 f"{'' if r['peak_rss_exact'] else ' (≤)'} | "
                 f"{fmt(r.get('ratio_to_rclone'), 2, '×')} | {best_s} | {r['ok_runs']}/{r['runs']} | "
                 f"{r['median_wall_s']:.2f} ({r['min_wall_s']:.2f}–{r['max_wall_s']:.2f}) |")
    for label, why in skipped:
        L.append(f"| {label} | all | not run | | | | | | | {why} |")
    L.append("")
    L.append("MB/s = 10^6 bytes per second of wall time of the tool's process (median run); "
             "objects/s likewise; CPU s/GiB = the tool's user+system CPU (its own rusage) per GiB "
             "copied (for small objects it is per-request cost, not per-byte cost); peak RSS = "
             "largest ru_maxrss over the runs; ratio = the rclone row's median wall time / this "
             "row's (higher is better; the same workload in the same run).")
    if any(r.get("kind") == "s5cmd-staged" for r in rows):
        L.append("")
        L.append("† s5cmd-staged is not a cross-endpoint copy: two s5cmd processes, source → "
                 "local disk, then local disk → destination; shown for reference only.")
    if not all(r.get("peak_rss_exact", True) for r in rows):
        L.append("")
        L.append("(≤) no /usr/bin/time: RSS from wait4, which includes the harness's RSS at fork.")
    L.append("")
    L.append("## Where the CPU went (median cores busy during a run)")
    L.append("")
    L.append(f"| tool | workload | tool | source ({meta['endpoints']['src']['kind']}) | "
             f"destination radosgw | destination ceph-osd+mon | whole machine | ETag = source |")
    L.append("|---|---|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        if "cores" not in r:
            continue
        c = r["cores"]
        wl = next(w for w in workloads if w.name == r["workload"])
        L.append(f"| {r['tool']} | {r['workload']} | {fmt(c['tool'], 2)} | {fmt(c['src'], 2)} | "
                 f"{fmt(c['dst.radosgw'], 2)} | {fmt(c['dst.ceph'], 2)} | {fmt(c['machine'], 2)} "
                 f"of {meta['host']['cpus']} | {r['etag_equal_to_source']}/{wl.count} |")
    L.append("")
    L.append("Cores = CPU seconds / wall seconds of the run (from /proc; the source column "
             "sums all of the source server's processes). \"whole machine\" includes "
             "everything else running on the host (other engineers' tests)"
             + ("; moto is one Python process whose interpreter can use about one core."
                if meta["endpoints"]["src"]["kind"] == "moto" else "."))
    L.append("")
    L.append("## Tools and flags")
    L.append("")
    for t in tools:
        L.append(f"- **{t.label}** ({meta['versions'].get(t.label, '?')}): "
                 f"`{' '.join(shlex.quote(a) for a in t.args)}`. Checksum: {t.checksum}")
    for label, why in skipped:
        L.append(f"- **{label}**: not run — {why}")
    L.append("")
    if meta.get("notes"):
        L.append("## Notes")
        L.append("")
        for n in meta["notes"]:
            L.append(f"- {n}")
        L.append("")
    return "\n".join(L)


# --------------------------------------------------------------------------
# Main


BARGE_ARGS = "--concurrency 32 --part-size 16M --progress none"
RCLONE_ARGS = ("--transfers 32 --checkers 32 --s3-upload-concurrency 8 --s3-chunk-size 16M "
               "--s3-upload-cutoff 16M --s3-disable-checksum --no-check-dest "
               "--s3-no-check-bucket --stats 0 --log-level ERROR")
DEFAULT_TOOLS = "barge,rclone,s5cmd,s5cmd-staged"
QUICK_TOOLS = "barge,rclone,s5cmd"
# Extra rows of the default full run: barge without a destination-verified
# checksum (its CPU floor), and rclone's fastest setting on loopback: one
# streaming PUT per object (no multipart, so no per-part MD5 and SHA-256).
DEFAULT_VARIANTS = [
    f"barge-nocksum=barge:{BARGE_ARGS} --checksum none",
    "rclone-1put[large]=rclone:" + RCLONE_ARGS.replace("--s3-upload-cutoff 16M",
                                                       "--s3-upload-cutoff 5G"),
]

S5CMD_NOTE = ("s5cmd cannot copy between two different endpoints: it takes one "
              "--endpoint-url for both sides, and an s3→s3 `cp` is a server-side "
              "CopyObject within that endpoint (peak/s5cmd issues #274, #529, #700). "
              "It is left out of the cross-endpoint rows; the s5cmd-staged row (in the "
              "default full run, or `--tools ...,s5cmd-staged`) is what an s5cmd user "
              "does instead: download to local disk, then upload.")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Environment: BENCH_{SRC,DST}_{URL,ACCESS_KEY_ID,"
                                        "SECRET_ACCESS_KEY,REGION,BUCKET} use other endpoints "
                                        "(see docs/bench.md).")
    ap.add_argument("--quick", action="store_true",
                    help="CI smoke: 2 x 64 MiB + 200 x 16 KiB, 1 run each")
    ap.add_argument("--runs", type=int, help="runs per tool and workload (default 3; quick 1)")
    ap.add_argument("--workloads", default="large,small", help="comma list of: large, small")
    ap.add_argument("--large", default=None, metavar="COUNTxSIZE",
                    help="large workload (default 4x256M; quick 2x64M)")
    ap.add_argument("--small", default=None, metavar="COUNTxSIZE",
                    help="small workload (default 2000x16K; quick 200x16K)")
    ap.add_argument("--src-part-size", type=parse_size, default=16 * MiB,
                    help="part size of the source's multipart objects (default 16M)")
    ap.add_argument("--tools", default=None,
                    help="comma list of barge, rclone, s5cmd (noted as not applicable), "
                         "s5cmd-staged (download to disk, then upload; a separate row). "
                         f"Default: {DEFAULT_TOOLS} ({QUICK_TOOLS} with --quick)")
    ap.add_argument("--barge", default=os.environ.get("BARGE_BIN", str(REPO / "zig-out/bin/barge")),
                    help="barge binary (default $BARGE_BIN or zig-out/bin/barge)")
    ap.add_argument("--barge-args", default=BARGE_ARGS)
    ap.add_argument("--rclone-args", default=RCLONE_ARGS)
    ap.add_argument("--s5cmd-args", default="--numworkers 32")
    ap.add_argument("--variant", action="append", default=None, metavar="LABEL[WL,..]=TOOL:ARGS",
                    help="an extra row, e.g. 'barge-c64=barge:--concurrency 64 --part-size 16M "
                         "--progress none', or 'rclone-x[large]=rclone:...' for some workloads "
                         "only (repeatable; replaces the default extra rows)")
    ap.add_argument("--no-variants", action="store_true",
                    help="no extra rows (the default full run adds: "
                         + "; ".join(DEFAULT_VARIANTS) + ")")
    ap.add_argument("--src-server", choices=("moto", "rgw"), default="moto",
                    help="local source server (default moto; rgw starts a second Ceph RGW)")
    ap.add_argument("--src-port", type=int, default=19700)
    ap.add_argument("--dst-port", type=int, default=19701)
    ap.add_argument("--timeout", type=float, default=900, help="seconds per tool run")
    ap.add_argument("--workdir", help="temp dir (default: a new one under $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep destination objects and the temp dir")
    ap.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    ap.add_argument("--out", default=str(RESULTS), help="results directory")
    args = ap.parse_args()

    runs = args.runs or (1 if args.quick else 3)
    def wl_spec(s, default):
        m = re.fullmatch(r"(\d+)x(.+)", s or default)
        if not m:
            ap.error(f"workload spec {s!r}: want COUNTxSIZE, e.g. 4x256M")
        return int(m.group(1)), parse_size(m.group(2))
    specs = {"large": wl_spec(args.large, "2x64M" if args.quick else "4x256M"),
             "small": wl_spec(args.small, "200x16K" if args.quick else "2000x16K")}
    workloads = []
    for name in [w.strip() for w in args.workloads.split(",") if w.strip()]:
        if name not in specs:
            ap.error(f"unknown workload {name!r}")
        workloads.append(Workload(name, *specs[name]))

    barge_ck = ("`--checksum auto`: Content-MD5 (computed over the bytes sent) on every PUT "
                "and part, because the destination is a custom endpoint (crc32c on AWS/R2); "
                "payload signed as UNSIGNED-PAYLOAD; XXH3 per part for its own record")
    s5_ck = ("s5cmd defaults (not probed). NOT a streaming copy: `s5cmd cp` from the source "
             "to a local directory, then `s5cmd cp` from it to the destination; two processes, "
             "wall and CPU times added, RSS the larger")
    tools: List[Tool] = []
    skipped: List[Tuple[str, str]] = []
    tool_names = args.tools or (QUICK_TOOLS if args.quick else DEFAULT_TOOLS)
    for name in [t.strip() for t in tool_names.split(",") if t.strip()]:
        if name == "barge":
            tools.append(Tool("barge", "barge", shlex.split(args.barge_args), barge_ck))
        elif name == "rclone":
            tools.append(Tool("rclone", "rclone", shlex.split(args.rclone_args), "(probed below)"))
        elif name == "s5cmd":
            skipped.append(("s5cmd", "cannot copy between two endpoints (one --endpoint-url; "
                                     "s3→s3 cp is server-side CopyObject)"))
        elif name == "s5cmd-staged":
            tools.append(Tool("s5cmd-staged", "s5cmd-staged", shlex.split(args.s5cmd_args), s5_ck))
        else:
            ap.error(f"unknown tool {name!r}")
    variants = args.variant if args.variant is not None else (
        [] if args.quick or args.no_variants else DEFAULT_VARIANTS)
    if args.no_variants:
        variants = []
    for v in variants:
        m = re.fullmatch(r"([\w.+-]+)(?:\[([\w,]+)\])?=(barge|rclone|s5cmd-staged):(.*)", v)
        if not m:
            ap.error(f"--variant {v!r}: want LABEL[WORKLOADS]=TOOL:ARGS")
        label, only, kind, vargs = m.groups()
        only = only.split(",") if only else None
        ck = {"barge": barge_ck, "rclone": "(probed below)", "s5cmd-staged": s5_ck}[kind]
        if kind == "barge" and "--checksum" in vargs:
            ck = "as set by its --checksum flag; payload UNSIGNED-PAYLOAD"
        tools.append(Tool(label, kind, shlex.split(vargs), ck, only))
    if len({t.label for t in tools}) != len(tools):
        ap.error("tool labels must be unique")
    if any(t.kind == "barge" for t in tools) and not os.access(args.barge, os.X_OK):
        ap.error(f"barge binary {args.barge} not found: build it (tools/zig build "
                 f"-Doptimize=ReleaseFast -p /tmp/barge-release) and pass --barge")

    tmp = Path(args.workdir or tempfile.mkdtemp(prefix="barge-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    started = dt.datetime.now()
    meta = {
        "started": started.isoformat(timespec="seconds"),
        "command": "bench/compare.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "git_commit": subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                     stdout=subprocess.PIPE, text=True).stdout.strip(),
        "git_dirty": bool(subprocess.run(["git", "-C", str(REPO), "status", "--porcelain",
                                          "--untracked-files=no"],
                                         stdout=subprocess.PIPE, text=True).stdout.strip()),
        "host": {"cpus": os.cpu_count(), "kernel": platform.release(),
                 "mem_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GiB,
                 "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg())},
        "runs": runs, "quick": args.quick, "src_part_size": args.src_part_size,
        "barge_binary": args.barge,
    }

    started_servers: List[Tuple[str, Path]] = []
    results: List[dict] = []
    rc = 0
    try:
        src = endpoint_from_env("src")
        if src is None:
            kind = args.src_server
            wd = tmp / f"{kind}-src"
            start_server(kind, wd, args.src_port)
            started_servers.append((kind, wd))
            src = Endpoint("src", kind, f"http://127.0.0.1:{args.src_port}",
                           *(MOTO_KEYS if kind == "moto" else RGW_KEYS),
                           "us-east-1", "barge-bench-src", wd, args.src_port)
        dst = endpoint_from_env("dst")
        if dst is None:
            wd = tmp / "rgw-dst"
            start_server("rgw", wd, args.dst_port)
            started_servers.append(("rgw", wd))
            dst = Endpoint("dst", "rgw", f"http://127.0.0.1:{args.dst_port}", *RGW_KEYS,
                           "auto", "barge-bench-dst", wd, args.dst_port)
        meta["endpoints"] = {"src": src.describe(), "dst": dst.describe()}
        ctx = Ctx(src, dst, tmp, home, Path(args.barge), args.timeout)
        ctx.rclone_conf = write_rclone_conf(ctx)

        ensure_bucket(src.client(), src.bucket)
        ensure_bucket(dst.client(), dst.bucket)
        for wl in workloads:
            populate(src, wl, args.src_part_size, threads=32)
        meta["workloads"] = [w.describe() for w in workloads]
        meta["versions"] = {t.label: t.version(ctx) for t in tools}
        meta["tools"] = [{"label": t.label, "kind": t.kind, "args": t.args} for t in tools]
        for t in tools:
            if t.kind == "rclone":
                chunk = 16 * MiB
                if "--s3-chunk-size" in t.args:
                    chunk = parse_size(t.args[t.args.index("--s3-chunk-size") + 1])
                t.checksum = "probed with --dump headers: " + probe_rclone_checksums(
                    ctx, t, "bench/probe/", chunk)
                log(f"{t.label} checksums: {t.checksum}")
        meta["checksums"] = {t.label: t.checksum for t in tools}

        total = sum(runs * sum(t.runs_on(w.name) for t in tools) for w in workloads)
        n = 0
        for wl in workloads:
            wtools = [t for t in tools if t.runs_on(wl.name)]
            for r in range(runs):
                k = r % len(wtools)
                order = wtools[k:] + wtools[:k]        # rotate: no tool always goes first
                for i, t in enumerate(order):
                    n += 1
                    log(f"[{n}/{total}] {wl.name} run {r + 1}/{runs}: {t.label}")
                    res = one_run(ctx, t, wl, r + 1, i, args.keep)
                    results.append(res)
                    log(f"  {res['wall_s']:.2f} s, {wl.total_bytes / res['wall_s'] / 1e6:.1f} MB/s, "
                        f"{wl.count / res['wall_s']:.0f} obj/s, cpu "
                        f"{res['cpu_user_s'] + res['cpu_sys_s']:.2f} s, rss "
                        f"{res['maxrss_kib'] / 1024:.0f} MiB, ok={res['ok']}, "
                        f"servers {res['server_cpu_s']}")
        if not all(r["ok"] for r in results):
            rc = 1
    except KeyboardInterrupt:
        log("interrupted")
        rc = 130
    finally:
        for kind, wd in reversed(started_servers):
            log(f"stopping {kind}")
            stop_server(kind, wd)
        if not args.keep and not args.workdir:
            shutil.rmtree(tmp, ignore_errors=True)

    if not results:
        return rc or 1
    meta["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    meta["host"]["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    notes = []
    if src.kind != "external" or dst.kind != "external":
        notes.append(
            f"The servers run on this same {meta['host']['cpus']}-CPU machine as the tools "
            f"(source: {src.kind}, destination: {dst.kind}; RGW = radosgw + a memstore "
            "ceph-osd), so the numbers measure this machine's servers as much as the "
            "copiers; see the CPU table.")
    if src.kind == "moto":
        notes.append(
            "moto answers a ranged GET by reading and copying the WHOLE object and then "
            "slicing it (moto/s3/responses.py `_handle_range_header` on `key.value`), so a "
            "copier that fetches a large object part by part (barge: one ranged GET per "
            "part) costs moto (object size / part size) times the work of one plain GET "
            "(rclone: one streaming GET per object). For large objects this makes moto, "
            "not the copier, the limit; `--src-server rgw` removes that artefact.")
    notes += [
        "Other engineers run builds and tests on this host at the same time, so absolute "
        "numbers are noisy; compare the medians and the same-run ratios, not numbers "
        "across runs of this script.",
        f"Load average at start {meta['host']['loadavg_start']}, at end "
        f"{meta['host']['loadavg_end']}.",
    ]
    if skipped:
        notes.append(S5CMD_NOTE)
    meta["notes"] = notes
    rows = summarize(results, tools, workloads, os.cpu_count() or 1)
    md = markdown(meta, rows, tools, workloads, skipped)
    print(md)
    if not args.no_save:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = started.strftime("%Y%m%d-%H%M%S") + ("-quick" if args.quick else "")
        (out / f"{stem}.md").write_text(md + "\n")
        (out / f"{stem}.json").write_text(json.dumps(
            {"meta": meta, "summary": rows, "runs": results}, indent=1, default=str) + "\n")
        log(f"wrote {out / stem}.md and .json")
    return rc


if __name__ == "__main__":
    sys.exit(main())
