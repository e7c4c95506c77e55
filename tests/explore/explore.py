#!/usr/bin/env python3
"""explore.py - issue 17's schedule explorer: seeded random barge runs with
faults and stops at random moments, checked by an independent client.

Per seed, random.Random(seed) decides everything: the objects (sizes from
0 B to 16 MiB, multipart sources, awkward keys, a prefix, a folder marker),
barge's options, fault-proxy rules on either side and a schedule of events
(SIGINT, SIGINT twice, SIGTERM, SIGKILL, a fatal refusal, a journal I/O
failure through tests/explore/jfault.c, source objects overwritten).  One
real barge run goes through two fault proxies (tests/system/faultproxy.py)
to one moto server; then boto3, straight to moto, and sqlite3 check the
invariants; then a clean resume must finish the copy.  See README.md here
and docs/faults.md.

    python3 tests/explore/explore.py --seeds 1-200 -j 2
    python3 tests/explore/explore.py --budget 150 -j 2
    python3 tests/explore/explore.py --seed 17          # replay one, verbosely
    python3 tests/explore/explore.py --self-test        # fake barges it must catch
"""

from __future__ import annotations

import argparse
import hashlib
import math
import multiprocessing
import os
import queue
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "system"))
from faultproxy import FaultProxy, Rule  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

MiB = 1 << 20
PART = 5 * MiB

# Liveness bounds, in seconds.
STOP_BOUND = 10.0           # a SIGINT or SIGTERM reached a running barge -> exit
SECOND_SIGINT_BOUND = 2.0   # the second SIGINT -> exit
FATAL_BOUND = 30.0          # first fatal answer or journal fault -> exit
RUN_TIMEOUT = 120.0         # a run with no bound from an event
RESUME_TIMEOUT = 120.0      # the final clean resume
KILL_BOUND = 5.0            # SIGKILL -> gone (the kernel's job)
QUIESCE_WAIT = 20.0         # after barge's exit, for requests held at the proxies
# Two SIGINTs closer than this may reach barge as one (a pending signal
# does not queue): the later is then not a "second" SIGINT.
SIGNAL_MERGE = 0.05
# A source GET or list arriving this long after a stop signal was started
# after it (the triggering request itself is on the wire at that moment).
AFTER_STOP_SLACK = 0.05

MOTO_KEYS = ("AKIDEXPLORE", "secretexplore")
EX_USAGE, EX_TEMPFAIL = 2, 75
DENIED_IN_A_ROW = 3  # engine/copy_obj.c: AccessDenied answers in a row that stop a run
SIGNAL_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


# ---- the scenario: everything a seed decides ------------------------------

@dataclass
class SObj:
    key: str
    size: int
    multipart: bool = False   # uploaded as a multipart source, 5 MiB parts


@dataclass
class Event:
    kind: str      # sigint, sigint2, sigterm, sigkill, fatal-list403, fatal-src404,
                   # fatal-dst403, overwrite
    trigger: tuple  # ("time", s) | ("requests", side, n) | ("op", side, op, n)
    arg: dict = field(default_factory=dict)


@dataclass
class Scenario:
    seed: int
    objects: list
    decoys: list          # keys outside the source prefix (never to be copied)
    src_prefix: str       # "" or "data" (no slashes at the ends)
    dst_prefix: str
    options: list         # barge copy options
    journal: bool
    jfault: Optional[str]  # BARGE_JFAULT value
    src_rules: list       # [(fault, kwargs)]
    dst_rules: list
    proxy_params: dict    # delay_s, stall_s, slow_rate (both proxies)
    proxy_seeds: tuple
    events: list

    @property
    def faulty(self) -> bool:
        return bool(self.src_rules or self.dst_rules)


KEY_SHAPES = [
    lambda r, i: f"obj-{i:03d}",
    lambda r, i: f"dir/sub/obj-{i:03d}",
    lambda r, i: f"with space/obj {i}",
    lambda r, i: f"plus+sign+{i}",
    lambda r, i: f"percent%20and%2F-{i}",
    lambda r, i: f"ünïcødé/ключ-{i}",
    lambda r, i: f"emoji-\U0001F680-{i}",
    lambda r, i: "/".join(["deep"] * r.randint(5, 15)) + f"/obj-{i}",
    lambda r, i: f"odd ~!$&'()*;=@,-{i}",
    lambda r, i: f"hash#and?query-{i}",
]
PREFIXES = ["data", "pre fix", "ünï", "a/b"]
DST_PREFIXES = ["out", "dst/deep", "ü x"]
SRC_FAULTS = ["503", "429", "500", "reset", "delay", "truncate", "reset-body", "stall",
              "corrupt-body", "slow-body"]
DST_FAULTS = ["503", "429", "500", "reset", "reset-upload", "delay", "truncate", "reset-body",
              "stall", "corrupt-body", "slow-body", "complete-error", "complete-error-after"]
EVENT_KINDS = [("sigint", 3), ("sigint2", 1.5), ("sigterm", 1.5), ("sigkill", 1.5),
               ("fatal-list403", 1), ("fatal-src404", 1), ("fatal-dst403", 1), ("jfault", 2),
               ("overwrite", 2)]
FATAL = {"fatal-list403": ("src", "403", ("list",)), "fatal-src404": ("src", "404-bucket", None),
         "fatal-dst403": ("dst", "403", None)}


def _size(r: random.Random, threshold: int) -> int:
    kind = r.choices(["zero", "one", "small", "edge", "large"], [1, 1, 6, 1.5, 1])[0]
    if kind == "zero":
        return 0
    if kind == "one":
        return 1
    if kind == "small":
        return r.randint(2, 64 * 1024)
    if kind == "edge":  # around a multipart threshold or a part boundary
        base = r.choice([PART, threshold, 2 * PART])
        return max(1, base + r.choice([-1, 0, 1, r.randint(-4096, 4096)]))
    return r.randint(PART + 1, 16 * MiB)


def _rules(r: random.Random, side: str) -> list:
    if r.random() < 0.4:
        return []
    rules = []
    for _ in range(r.randint(1, 3)):
        fault = r.choice(SRC_FAULTS if side == "src" else DST_FAULTS)
        kw = {"rate": r.choice([0.02, 0.05, 0.1, 0.2, 0.3])}
        if fault in ("stall", "slow-body", "delay", "429"):
            kw["limit"] = r.randint(1, 3)  # each costs seconds
        elif r.random() < 0.5:
            kw["limit"] = r.randint(1, 10)
        if side == "src" and fault in ("truncate", "reset-body", "stall", "corrupt-body"):
            kw["ops"] = ("get",) if r.random() < 0.8 else ("get", "list")
        rules.append((fault, kw))
    return rules


def _trigger(r: random.Random, est: dict) -> tuple:
    how = r.choices(["time", "requests", "op"], [4, 4, 2])[0]
    if how == "time":
        return ("time", round(r.choice([r.uniform(0, 0.5), r.uniform(0.3, 3), r.uniform(2, 7)]), 3))
    side = r.choice(["src", "dst"])
    if how == "requests":
        return ("requests", side, r.randint(1, int(est[side] * 1.2) + 1))
    op = r.choice(["list"] * 3 + ["get"] * 2) if side == "src" else \
        r.choice(["put", "upload-part", "complete", "head", "create"])
    return ("op", side, op, 1 if op == "list" else r.randint(1, 4))


def make_scenario(seed: int) -> Scenario:
    r = random.Random(seed)
    threshold = r.choice([5, 8]) * MiB
    n = r.randint(3, 40)
    src_prefix = r.choice(PREFIXES) if r.random() < 0.4 else ""
    dst_prefix = r.choice(DST_PREFIXES) if r.random() < 0.4 else ""
    objects, keys, big = [], set(), 0
    for i in range(n):
        size = _size(r, threshold)
        if size > PART and (big >= 4 or sum(o.size for o in objects) + size > 64 * MiB):
            size = r.randint(2, 64 * 1024)   # keep a seed to seconds
        big += size > PART
        key = r.choice(KEY_SHAPES)(r, i)
        if src_prefix:
            key = f"{src_prefix}/{key}"
        if key in keys:
            key += f"-{i}"
        keys.add(key)
        objects.append(SObj(key, size, multipart=size >= PART and r.random() < 0.5))
    decoys = []
    if src_prefix:
        if r.random() < 0.5:   # a folder marker equal to the prefix itself
            objects.append(SObj(src_prefix + "/", 0))
        decoys = [src_prefix, src_prefix + "x/decoy"]
    concurrency = r.randint(1, 8)
    opts = ["--concurrency", str(concurrency), "--part-size", "5M",
            "--multipart-threshold", f"{threshold // MiB}M",
            "--memory", f"{r.choice([16, 24, 32, 48, 64])}M",
            "--checksum", r.choice(["auto", "md5", "crc32c", "none"]),
            "--retries", str(r.randint(2, 5)), "--stall-timeout", str(r.randint(2, 5)),
            "--progress", "json"]
    journal = r.random() < 0.8
    if journal and r.random() < 0.2:
        opts += ["--journal-sync", r.choice(["full", "off", "normal"])]
    src_rules, dst_rules = _rules(r, "src"), _rules(r, "dst")
    params = {"delay_s": round(r.uniform(0.2, 1.5), 2), "stall_s": r.choice([1.0, 3.0, 6.0]),
              "slow_rate": r.choice([2, 4, 8]) * MiB}
    proxy_seeds = (r.randrange(1 << 32), r.randrange(1 << 32))
    # Requests a run makes, roughly: the range of request-count triggers.
    nparts = [max(1, math.ceil(o.size / PART)) if o.size > threshold else 1 for o in objects]
    est = {"src": 1 + sum(nparts),
           "dst": 1 + sum(2 if p == 1 else p + 3 for p in nparts)}
    events, kinds = [], [k for k, _ in EVENT_KINDS]
    weights = [w for _, w in EVENT_KINDS]
    jfault = None
    for _ in range(r.choices([0, 1, 2], [1.5, 6.5, 2])[0]):
        kind = r.choices(kinds, weights)[0]
        if kind == "jfault" and not journal:
            kind = "sigint"
        if kind == "jfault":
            if jfault is None:
                nth = r.choice([r.randint(1, 20), r.randint(20, 120), r.randint(100, 400)])
                jfault = (f"match=.journal,op={r.choices(['write', 'sync', 'any'], [7, 1.5, 1.5])[0]},"
                          f"nth={nth},err={r.choices(['ENOSPC', 'EIO', 'EDQUOT', 'short'], [3.5, 3, 1, 2.5])[0]}"
                          + (",sticky=1" if r.random() < 0.5 else ""))
            continue
        ev = Event(kind, _trigger(r, est))
        if kind == "fatal-list403" and r.random() < 0.6:
            ev.trigger = ("op", "src", "list", 1)  # a listing is one page here: refuse it
        if kind == "sigint2":
            ev.arg["gap"] = round(r.uniform(0.05, 1.5), 3)
        if kind == "overwrite":
            cands = [o for o in objects if not o.key.endswith("/")]
            ev.arg["keys"] = [o.key for o in r.sample(cands, min(len(cands), r.randint(1, 3)))]
            ev.arg["sizes"] = [r.choice([0, r.randint(1, 64 * 1024), r.randint(PART - 10, PART + 10),
                                         r.randint(1, 9 * MiB)]) for _ in ev.arg["keys"]]
            ev.arg["seed"] = r.randrange(1 << 32)
        if ev.trigger[:3] == ("op", "src", "list") and r.random() < 0.6:
            # hold the listing so the event lands while a page is on its way
            src_rules.insert(0, ("delay", {"ops": ("list",), "limit": 1}))
        events.append(ev)
    return Scenario(seed, objects, decoys, src_prefix, dst_prefix, opts, journal, jfault,
                    src_rules, dst_rules, params, proxy_seeds, events)


def describe(sc: Scenario) -> str:
    sizes = sorted(o.size for o in sc.objects)
    mp = sum(o.multipart for o in sc.objects)
    lines = [f"seed {sc.seed}: {len(sc.objects)} objects ({sum(sizes)} B; largest {sizes[-1]}; "
             f"{mp} multipart sources), src prefix {sc.src_prefix!r}, dst prefix {sc.dst_prefix!r}"
             + (", folder marker" if any(o.key.endswith("/") and o.key[:-1] == sc.src_prefix
                                         for o in sc.objects) else ""),
             f"  options: {' '.join(sc.options)}" + (" --journal J" if sc.journal else ""),
             f"  src faults: {sc.src_rules or 'none'}", f"  dst faults: {sc.dst_rules or 'none'}",
             f"  proxy: {sc.proxy_params}"]
    if sc.jfault:
        lines.append(f"  journal fault: BARGE_JFAULT={sc.jfault}")
    for ev in sc.events:
        lines.append(f"  event: {ev.kind} at {ev.trigger}" + (f" {ev.arg}" if ev.arg else ""))
    if not sc.events and not sc.jfault:
        lines.append("  no events")
    return "\n".join(lines)


# ---- servers and clients ---------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_client(url: str):
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=MOTO_KEYS[0], aws_secret_access_key=MOTO_KEYS[1],
                        config=Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 3, "mode": "standard"},
                                      request_checksum_calculation="when_required",
                                      response_checksum_validation="when_required",
                                      max_pool_connections=16))


class Moto:
    """One moto server for a worker (tests/servers/moto.sh)."""

    def __init__(self, workdir: Path):
        self.dir = workdir / "moto"
        self.port = 0

    def start(self):
        self.port = free_port()
        subprocess.run(["bash", str(REPO / "tests/servers/moto.sh"), "start", str(self.dir),
                        str(self.port)], check=True, capture_output=True, text=True, timeout=60)
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = s3_client(self.url)

    def stop(self):
        subprocess.run(["bash", str(REPO / "tests/servers/moto.sh"), "stop", str(self.dir)],
                       capture_output=True, timeout=60)

    def alive(self) -> bool:
        try:
            self.client.list_buckets()
            return True
        except Exception:
            return False


class ExplorerProxy(FaultProxy):
    """A FaultProxy whose hooks see every request as it arrives, before its
    fault is picked and before it is forwarded: an event triggered by the
    Nth request happens while that request waits (a SIGINT lands while a
    list page is on its way)."""

    def __init__(self, *a, **kw):
        self.hooks: list = []
        self.active = 0   # connections being served
        super().__init__(*a, **kw)

    def _serve(self, conn):
        with self.lock:
            self.active += 1
        try:
            super()._serve(conn)
        finally:
            with self.lock:
                self.active -= 1

    def _pick(self, method):
        # The hooks run first, with the counts this request will have, so
        # a refusal a trigger turns on applies to the triggering request.
        op = getattr(self._tl, "op", "other")
        with self.lock:
            total, per_op = self.counts["requests"] + 1, self.ops[op] + 1
        for hook in list(self.hooks):
            hook(op, total, per_op)
        return super()._pick(method)

    def add_rule(self, rule: Rule, front: bool = True):
        with self.lock:
            self.rules.insert(0 if front else len(self.rules), rule)

    def clear(self):
        with self.lock:
            self.rules.clear()
            self.hooks.clear()


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def last_line(text: str) -> str:
    lines = [l for l in text.splitlines() if l.strip()]
    return lines[-1] if lines else ""


def gist(text: str) -> str:
    """The line of barge's stderr that says why: its last 'barge:' line
    that is not the journal's or the summary's, else the last line."""
    lines = [l for l in text.splitlines() if l.startswith("barge:")
             and not l.startswith("barge: resuming")]
    return (lines[-1] if lines else last_line(text))[:300]


def signame(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return str(code)


# ---- one seed ----------------------------------------------------------------

@dataclass
class Result:
    seed: int
    violations: list          # [(invariant, detail)]
    elapsed: float
    logdir: Optional[str] = None
    harness_error: Optional[str] = None


class SeedRun:
    def __init__(self, sc: Scenario, moto: Moto, barge: Path, shim: Path, work: Path,
                 verbose: bool, run_timeout: float = RUN_TIMEOUT):
        self.sc, self.moto, self.barge, self.shim = sc, moto, barge, shim
        self.work, self.verbose, self.run_timeout = work, verbose, run_timeout
        self.resume_timeout = min(RESUME_TIMEOUT, run_timeout)
        self.s3 = moto.client
        tag = uuid.uuid4().hex[:8]
        self.src_bucket, self.dst_bucket = f"xs{sc.seed}-{tag}", f"xd{sc.seed}-{tag}"
        self.src_pre = sc.src_prefix + "/" if sc.src_prefix else ""
        self.dst_pre = sc.dst_prefix + "/" if sc.dst_prefix else ""
        self.journal = work / "j.journal"
        self.versions: dict = {}      # key -> [md5 of each version]
        self.etag_md5: dict = {}      # ETag (no quotes) -> md5 of the bytes
        self.violations: list = []
        self.timeline: list = []
        self.lock = threading.Lock()
        self.proc: Optional[subprocess.Popen] = None
        self.t0 = 0.0
        self.effects: list = []       # (t, kind, detail) that reached a running barge
        self.fatal_rules: list = []   # (rule, proxy, t installed)
        self.pending: list = []       # (t due, Event) time triggers
        self.stops: list = []         # t of each stop signal delivered
        self.fired: list = []         # events whose trigger came
        self.early: set = set()       # signals sent before barge's first request

    # -- log
    def note(self, msg: str):
        t = time.monotonic() - self.t0 if self.t0 else 0.0
        line = f"[{t:7.3f}] {msg}"
        with self.lock:
            self.timeline.append(line)
        if self.verbose:
            print(line, flush=True)

    def violate(self, name: str, detail: str):
        self.violations.append((name, detail))
        self.note(f"VIOLATION {name}: {detail}")

    # -- setup
    def put(self, key: str, size: int, multipart: bool, rng: random.Random):
        body = rng.randbytes(size)
        if multipart:
            up = self.s3.create_multipart_upload(Bucket=self.src_bucket, Key=key)
            parts = []
            for i, off in enumerate(range(0, max(size, 1), PART), start=1):
                r = self.s3.upload_part(Bucket=self.src_bucket, Key=key, UploadId=up["UploadId"],
                                        PartNumber=i, Body=body[off:off + PART])
                parts.append({"PartNumber": i, "ETag": r["ETag"]})
            r = self.s3.complete_multipart_upload(Bucket=self.src_bucket, Key=key,
                                                  UploadId=up["UploadId"],
                                                  MultipartUpload={"Parts": parts})
        else:
            r = self.s3.put_object(Bucket=self.src_bucket, Key=key, Body=body)
        etag = r["ETag"].strip('"')
        with self.lock:
            self.versions.setdefault(key, []).append(md5(body))
            self.etag_md5[etag] = md5(body)
        return etag

    def setup(self):
        self.s3.create_bucket(Bucket=self.src_bucket)
        self.s3.create_bucket(Bucket=self.dst_bucket)
        rng = random.Random(self.sc.seed ^ 0x5EED)
        for o in self.sc.objects:
            self.put(o.key, o.size, o.multipart, rng)
        for k in self.sc.decoys:
            self.put(k, 7, False, rng)
        p = self.sc.proxy_params
        self.src_proxy = ExplorerProxy(self.moto.port, seed=self.sc.proxy_seeds[0],
                                       rules=[Rule(f, **kw) for f, kw in self.sc.src_rules], **p)
        self.dst_proxy = ExplorerProxy(self.moto.port, seed=self.sc.proxy_seeds[1],
                                       rules=[Rule(f, **kw) for f, kw in self.sc.dst_rules], **p)

    def cleanup(self):
        for proxy in (getattr(self, "src_proxy", None), getattr(self, "dst_proxy", None)):
            if proxy:
                proxy.close()
        for b in (self.src_bucket, self.dst_bucket):
            try:
                for page in self.s3.get_paginator("list_multipart_uploads").paginate(Bucket=b):
                    for up in page.get("Uploads", []):
                        self.s3.abort_multipart_upload(Bucket=b, Key=up["Key"],
                                                       UploadId=up["UploadId"])
                for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=b):
                    keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                    if keys:
                        self.s3.delete_objects(Bucket=b, Delete={"Objects": keys, "Quiet": True})
                self.s3.delete_bucket(Bucket=b)
            except Exception:
                pass

    # -- barge
    def env(self, with_shim: bool) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not re.match(r"^(AWS_|R2_|BARGE_|ASAN_|UBSAN_|LD_PRELOAD)", k)}
        home = self.work / "home"
        home.mkdir(exist_ok=True)
        san = self.work / "san"
        san.mkdir(exist_ok=True)
        env.update(HOME=str(home), AWS_ENDPOINT_URL_S3=self.src_proxy.url,
                   AWS_ACCESS_KEY_ID=MOTO_KEYS[0], AWS_SECRET_ACCESS_KEY=MOTO_KEYS[1],
                   AWS_REGION="us-east-1", AWS_CONFIG_FILE=str(home / "config"),
                   AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
                   R2_ENDPOINT_URL=self.dst_proxy.url, R2_ACCESS_KEY_ID=MOTO_KEYS[0],
                   R2_SECRET_ACCESS_KEY=MOTO_KEYS[1],
                   ASAN_OPTIONS=f"log_path={san}/asan:exitcode=86:detect_leaks=1",
                   UBSAN_OPTIONS=f"log_path={san}/ubsan:print_stacktrace=1:halt_on_error=1:exitcode=87")
        if with_shim and self.sc.jfault:
            env.update(LD_PRELOAD=str(self.shim), BARGE_JFAULT=self.sc.jfault)
            env["ASAN_OPTIONS"] += ":verify_asan_link_order=0"
        return env

    def copy_args(self) -> list:
        args = ["copy", f"s3://{self.src_bucket}" + (f"/{self.sc.src_prefix}" if self.sc.src_prefix else ""),
                f"r2://{self.dst_bucket}" + (f"/{self.sc.dst_prefix}" if self.sc.dst_prefix else ""),
                *self.sc.options]
        if self.sc.journal:
            args += ["--journal", str(self.journal)]
        return args

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def deliver(self, sig: int, what: str) -> bool:
        """Sends sig if barge is still running; True if it was."""
        with self.lock:
            running = self.alive()
            if running:
                idle = not (self.src_proxy.counts["requests"] or self.dst_proxy.counts["requests"])
                os.kill(self.proc.pid, sig)
                t = time.monotonic()
                if idle:
                    self.early.add(sig)
                self.effects.append((t, what, sig))
                if sig in (signal.SIGINT, signal.SIGTERM):
                    self.stops.append(t)
        self.note(f"{what}: {signal.Signals(sig).name} "
                  + ("delivered" if running else "not sent: barge had exited"))
        return running

    def fire(self, ev: Event):
        self.fired.append(ev)
        self.note(f"event {ev.kind} fires ({ev.trigger})")
        if ev.kind in ("sigint", "sigterm", "sigkill"):
            self.deliver({"sigint": signal.SIGINT, "sigterm": signal.SIGTERM,
                          "sigkill": signal.SIGKILL}[ev.kind], ev.kind)
        elif ev.kind == "sigint2":
            if self.deliver(signal.SIGINT, "sigint2 (first)"):
                with self.lock:
                    self.pending.append((time.monotonic() + ev.arg["gap"],
                                         Event("sigint2-second", ("time", None))))
        elif ev.kind == "sigint2-second":
            self.deliver(signal.SIGINT, "sigint2 (second)")
        elif ev.kind in FATAL:
            side, fault, ops = FATAL[ev.kind]
            rule = Rule(fault, ops=ops)
            proxy = self.src_proxy if side == "src" else self.dst_proxy
            proxy.add_rule(rule)
            with self.lock:
                self.fatal_rules.append((rule, proxy, time.monotonic(), ev.kind, self.alive()))
        elif ev.kind == "overwrite":
            rng = random.Random(ev.arg["seed"])
            running = self.alive()
            for key, size in zip(ev.arg["keys"], ev.arg["sizes"]):
                etag = self.put(key, size, False, rng)
                self.note(f"overwrote {key!r} with {size} B (ETag {etag})")
            if running:
                with self.lock:
                    self.effects.append((time.monotonic(), "overwrite", None))

    def arm(self, ev: Event):
        kind = ev.trigger[0]
        if kind == "time":
            self.pending.append((self.t0 + ev.trigger[1], ev))
            return
        proxy = self.src_proxy if ev.trigger[1] == "src" else self.dst_proxy
        done = [False]

        def hook(op, total, per_op):
            if kind == "requests":
                hit = total >= ev.trigger[2]
            else:
                hit = op == ev.trigger[2] and per_op >= ev.trigger[3]
            if not hit:
                return
            with self.lock:
                if done[0]:
                    return
                done[0] = True
            self.fire(ev)
        proxy.hooks.append(hook)

    def threads(self) -> str:
        """Each barge thread's name, state and kernel wait channel."""
        out = []
        for task in sorted(Path(f"/proc/{self.proc.pid}/task").glob("*")):
            try:
                st = (task / "stat").read_text()
                name, state = st[st.index("(") + 1:st.rindex(")")], st[st.rindex(")") + 2]
                out.append(f"{name} {state} {(task / 'wchan').read_text() or '-'}")
            except (OSError, ValueError):
                pass
        return "; ".join(out) or "none readable"

    @staticmethod
    def jfault_lines(text: str) -> tuple:
        """The shim's lines ("jfault: FN on PATH (matching call N): ..."),
        one per file, as [(fn, path)], and whether one is a failed WAL
        append, which SQLite reports to barge.  SQLite ignores a failed
        checkpoint write (to the main file, at close too), and absorbed a
        failed rollback-journal write while switching a new file to WAL."""
        found = re.findall(r"^jfault: (\w+) on (.*) \(matching call \d+\): (.*)$", text, re.M)
        hits = [(fn, p) for fn, p, _ in found]
        # A single short write is not a failure SQLite sees: its write loop
        # writes the rest (seed 9181: the journal stayed whole, no error);
        # sticky short writes are.
        return hits, any(fn in ("write", "pwrite", "pwrite64") and p.endswith("-wal")
                         and (not why.startswith("short write") or "every matching call" in why)
                         for fn, p, why in found)

    def watch_stderr(self, path: Path) -> bool:
        """True once barge's stderr shows a journal fault SQLite reports."""
        try:
            return self.jfault_lines(path.read_text(errors="replace"))[1]
        except OSError:
            return False

    def run_event(self):
        """The run with faults and events; returns (exit code or None if we
        killed it for a hang, stderr text)."""
        args = self.copy_args()
        self.note("barge " + " ".join(args))
        out = open(self.work / "barge.stdout", "wb")
        err_path = self.work / "barge.stderr"
        err = open(err_path, "wb")
        env = self.env(True)
        self.t0 = time.monotonic()
        for ev in self.sc.events:  # before barge can make a request
            self.arm(ev)
        # SIGINT as a shell's foreground job has it: the worker ignores it,
        # and an ignored SIGINT that lands before barge's handler is in
        # place (0.13 s in, on a loaded machine: seed 3003) was lost.
        self.proc = subprocess.Popen([str(self.barge), *args], env=env,
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                     preexec_fn=default_sigint)
        bounds = [(self.t0 + self.run_timeout, "liveness-timeout",
                   f"no exit {self.run_timeout:.0f} s after the start")]
        seen_hits, jfault_t, nsigs, hung = set(), None, 0, False
        while True:
            if self.proc.poll() is not None:
                break
            now = time.monotonic()
            with self.lock:
                due = [e for e in self.pending if e[0] <= now]
                self.pending = [e for e in self.pending if e[0] > now]
            for _, ev in sorted(due, key=lambda e: e[0]):
                self.fire(ev)
            with self.lock:
                sigs = [(t, s) for t, _, s in self.effects if s is not None]
                fatal = list(self.fatal_rules)
            # a bound for each signal delivered since the last turn
            for i in range(nsigs, len(sigs)):
                t, s = sigs[i]
                at = f"(sent at {t - self.t0:.2f} s)"
                if s == signal.SIGKILL:
                    bounds.append((t + KILL_BOUND, "liveness-kill", f"alive after SIGKILL {at}"))
                elif s == signal.SIGINT and any(s2 == signal.SIGINT and t - t2 >= SIGNAL_MERGE
                                                for t2, s2 in sigs[:i]):
                    bounds.append((t + SECOND_SIGINT_BOUND, "liveness-second-sigint",
                                   f"no exit {SECOND_SIGINT_BOUND:.0f} s after a second SIGINT {at}"))
                else:
                    bounds.append((t + STOP_BOUND, "liveness-stop",
                                   f"no exit {STOP_BOUND:.0f} s after {signal.Signals(s).name} {at}"))
            nsigs = len(sigs)
            for rule, proxy, t_inst, kind, _ in fatal:
                if rule.hits and id(rule) not in seen_hits:
                    seen_hits.add(id(rule))
                    self.note(f"{kind}: first refusal answered")
                    bounds.append((now + FATAL_BOUND, "liveness-fatal",
                                   f"no exit {FATAL_BOUND:.0f} s after the first {kind} answer "
                                   f"(at {now - self.t0:.2f} s)"))
            if self.sc.jfault and jfault_t is None and self.watch_stderr(err_path):
                jfault_t = now
                self.note("journal fault injected into a WAL append (jfault line on stderr)")
                bounds.append((now + FATAL_BOUND, "liveness-journal",
                               f"no exit {FATAL_BOUND:.0f} s after the journal I/O failure "
                               f"(at {now - self.t0:.2f} s)"))
            t_end, name, detail = min(bounds)
            if now > t_end:
                self.violate(name, f"{detail}; killed at {now - self.t0:.1f} s")
                self.note("threads at the kill: " + self.threads())
                self.proc.kill()
                self.proc.wait()
                hung = True
                break
            time.sleep(0.02)
        for proxy in (self.src_proxy, self.dst_proxy):
            proxy.hooks.clear()
        for ev in self.sc.events:
            if ev not in self.fired:
                self.note(f"event {ev.kind} ({ev.trigger}) never came: barge had ended")
        out.close()
        err.close()
        self.t_exit = time.monotonic()
        hits, self.jfault_surfaced = self.jfault_lines(err_path.read_text(errors="replace"))
        self.jfault_fired = bool(hits)
        if hits and not self.jfault_surfaced:
            self.note("journal fault only where SQLite may absorb it: " +
                      ", ".join(f"{fn} on {Path(p).name}" for fn, p in hits))
        code = None if hung else self.proc.returncode
        self.note(f"barge exited: {code if code is not None else 'killed (hang)'}"
                  + (f" ({signame(code)})" if code is not None and code < 0 else "")
                  + f" after {self.t_exit - self.t0:.2f} s")
        return code, err_path.read_text(errors="replace")

    # -- checks
    def dst_state(self) -> dict:
        """Every destination object: key -> (size, md5), read with boto3."""
        out = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.dst_bucket):
            for o in page.get("Contents", []):
                body = self.s3.get_object(Bucket=self.dst_bucket, Key=o["Key"])["Body"].read()
                out[o["Key"]] = (len(body), md5(body))
        return out

    def src_now(self) -> dict:
        out = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.src_bucket, Prefix=self.src_pre):
            for o in page.get("Contents", []):
                out[o["Key"]] = o["ETag"].strip('"')
        return out

    def dkey(self, key: str) -> str:
        return self.dst_pre + key[len(self.src_pre):]

    def completeness(self, dst: dict, current: bool) -> list:
        """Problems with 'every source object is at the destination with the
        bytes of one version (current: of the current one)'."""
        problems = []
        for key, etag in sorted(self.src_now().items()):
            dk = self.dkey(key)
            if self.src_pre and key == self.src_pre:
                continue  # the prefix's own folder marker: barge copy skips it (docs/faults.md)
            if dk not in dst:
                problems.append(f"{key!r} missing at the destination ({dk!r})")
                continue
            got = dst[dk][1]
            if current:
                want = self.etag_md5.get(etag)
                if got != want:
                    problems.append(f"{key!r}: destination bytes md5 {got} are not the current "
                                    f"source's ({want})")
            elif got not in self.versions.get(key, []):
                problems.append(f"{key!r}: destination bytes md5 {got} match no version the "
                                f"source had")
        return problems

    def check_journal(self, dst: dict, when: str):
        if not self.sc.journal:
            return
        if not self.journal.exists():
            self.note(f"journal ({when}): no file")
            return
        if self.journal.stat().st_size == 0:
            self.note(f"journal ({when}): an empty file")
            return
        chk = self.work / f"jcheck-{when}"
        shutil.rmtree(chk, ignore_errors=True)
        chk.mkdir()
        for suffix in ("", "-wal"):
            p = Path(str(self.journal) + suffix)
            if p.exists():
                shutil.copyfile(p, chk / ("j.journal" + suffix))
        try:
            db = sqlite3.connect(chk / "j.journal")
            try:
                ic = [r[0] for r in db.execute("PRAGMA integrity_check")]
                if ic != ["ok"]:
                    self.violate("journal-integrity", f"{when}: integrity_check says {ic[:3]}")
                    return
                has_objects = db.execute("select count(*) from sqlite_master where "
                                         "name='objects'").fetchone()[0]
                rows = db.execute("select key, dst_key, src_etag, size from objects where "
                                  "state = 3").fetchall() if has_objects else []
                self.journal_runs = db.execute("select count(*) from runs").fetchone()[0] \
                    if has_objects else 0
            finally:
                db.close()
        except sqlite3.DatabaseError as e:
            self.violate("journal-integrity", f"{when}: sqlite3 cannot read it: {e}")
            return
        bad = []
        for key, dkey, etag, size in rows:
            want = self.etag_md5.get(etag)
            if dkey not in dst:
                bad.append(f"{key!r} done but {dkey!r} is not at the destination")
            elif dst[dkey][0] != size:
                bad.append(f"{key!r} done with size {size}, destination has {dst[dkey][0]}")
            elif want is None:
                bad.append(f"{key!r} done with src_etag {etag}, which no source version had")
            elif dst[dkey][1] != want:
                bad.append(f"{key!r} done for ETag {etag} but the destination bytes are "
                           f"another version's or corrupt")
        if bad:
            self.violate("journal-safety", f"{when}: {len(bad)} rows: " + "; ".join(bad[:3]))
        self.note(f"journal ({when}): integrity ok, {len(rows)} done rows checked")

    def check_sanitizer(self, when: str):
        reports = sorted((self.work / "san").glob("*"))
        if reports:
            first = reports[0].read_text(errors="replace").strip().splitlines()
            self.violate("sanitizer", f"{when}: {len(reports)} report(s): "
                         + next((l for l in first if "ERROR" in l or "runtime error" in l),
                                first[0] if first else reports[0].name))
            for r in reports:
                r.rename(self.work / f"{when}-{r.name}")

    def check_error_line(self, code: int, stderr: str, when: str):
        if code not in (EX_USAGE, EX_TEMPFAIL):
            return
        # The shim's own lines (from the journal's writer thread) may come
        # after barge's last words: they are the harness's, not barge's.
        line = last_line("\n".join(l for l in stderr.splitlines()
                                    if not l.startswith("jfault:")))
        bad = (not line or line.startswith((" ", "\t")) or
               re.search(r"Traceback|Assertion|assert|runtime error|Sanitizer", line))
        if bad:
            self.violate("error-line", f"{when}: exit {code} and the last stderr line is "
                         f"{line!r}, not one line saying what to fix")

    def gets_after(self, t: float) -> int:
        return sum(1 for (ta, _m, op, _k, _f) in list(self.src_proxy.requests)
                   if ta > t + AFTER_STOP_SLACK and op in ("get", "list"))

    def check_exit(self, code: int, stderr: str):
        sc = self.sc
        effects = [(t, what, s) for t, what, s in self.effects]
        sigs = [s for _, _, s in effects if s is not None]
        # Two SIGINTs, or two SIGTERMs: the second kills (docs/output.md), or
        # the run ends with 128 + the signal; two within SIGNAL_MERGE may also
        # arrive as one.
        two_sigints = sigs.count(signal.SIGINT) >= 2
        two_sigterms = sigs.count(signal.SIGTERM) >= 2
        fatal_hit = [k for rule, _p, _t, k, _a in self.fatal_rules if rule.hits]
        overwrote = any(w == "overwrite" for _, w, _ in effects)
        why: list = []
        allowed: set = set()
        fatal = bool(fatal_hit or (self.jfault_fired and sc.jfault))
        # Exit 0 after a stop or a fatal event is fine when barge had nothing
        # left to do (completeness is checked for every exit 0): a stop
        # that came as it was finishing, a refusal of a last cleanup request,
        # a journal error SQLite absorbed.  Not when it went on reading the
        # source after the stop.
        zero_if_complete = bool(fatal or self.stops) and \
            (not self.stops or self.gets_after(min(self.stops)) == 0)
        if signal.SIGKILL in sigs:
            allowed, why, zero_if_complete = {-signal.SIGKILL}, ["SIGKILL"], False
        elif two_sigints:
            allowed, why, zero_if_complete = {-signal.SIGINT, 130}, ["a second SIGINT"], False
        elif two_sigterms:  # two scheduled at one moment (seed 3281)
            allowed, why, zero_if_complete = {-signal.SIGTERM, 143}, ["a second SIGTERM"], False
        else:
            for sig in (signal.SIGINT, signal.SIGTERM):
                if sig in sigs:
                    allowed.add(SIGNAL_CODES[sig])
                    why.append(sig.name)
                    if sig in self.early:  # before any work: dying of it is fine
                        allowed.add(-sig)
            if fatal:
                allowed.add(EX_USAGE)
                why += fatal_hit + (["journal fault"] if self.jfault_fired else [])
                # barge stops on AccessDenied only when three come in a row
                # (one can be a policy on one key); fewer fail their objects
                if "fatal-dst403" in fatal_hit and stderr.count("AccessDenied") < DENIED_IN_A_ROW:
                    allowed.add(1)
                # a 404 without a body (a HEAD) cannot say NoSuchBucket: the
                # object is failed as gone (seed 9174: the only refusal was a
                # HEAD of the last object)
                failed = [l for l in stderr.splitlines() if l.startswith("barge: failed: ")]
                if "fatal-src404" in fatal_hit and failed and all(
                        "HEAD of the source failed: HTTP 404 NotFound" in l for l in failed):
                    allowed.add(1)
            if not allowed or (self.jfault_fired and not self.jfault_surfaced
                               and allowed == {EX_USAGE} and not fatal_hit):
                allowed |= {0}
                if sc.faulty:
                    allowed |= {1, EX_TEMPFAIL}
                    why.append("transient faults")
                if overwrote:
                    allowed.add(1)
                    why.append("source overwritten")
        if code in allowed:
            return
        if code == 0 and zero_if_complete:
            return  # exit 0 is only checked for completeness (below)
        if code is not None and code < 0 and -code not in (signal.SIGKILL, signal.SIGINT):
            self.violate("crash", f"killed by {signame(code)}: {gist(stderr)!r}")
            return
        extra = ""
        if code == 0 and self.stops:
            extra = f" (source GETs/lists started after the stop: {self.gets_after(min(self.stops))})"
        self.violate("exit-code", f"exit {code}, expected {sorted(allowed)} "
                     f"({', '.join(why) or 'no event reached barge'}){extra}: {gist(stderr)!r}")

    def run_resume(self):
        for proxy in (self.src_proxy, self.dst_proxy):
            proxy.clear()
        if self.sc.journal:
            runs = getattr(self, "journal_runs", 0)
            if self.journal.exists() and self.journal.stat().st_size == 0:
                self.note("the journal is an empty file: removed, as barge's refusal says")
                self.journal.unlink()
            if self.journal.exists() and runs:
                args = ["resume", str(self.journal)]
            else:
                args = self.copy_args()
        else:
            args = self.copy_args()
        self.note("final clean run: barge " + " ".join(args))
        self.resume_marks = (len(self.src_proxy.requests), len(self.dst_proxy.requests))
        t = time.monotonic()
        with open(self.work / "resume.stdout", "wb") as out, \
                open(self.work / "resume.stderr", "wb") as err:
            p = subprocess.Popen([str(self.barge), *args], env=self.env(False),
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            try:
                code = p.wait(timeout=self.resume_timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                code = None
        stderr = (self.work / "resume.stderr").read_text(errors="replace")
        self.note(f"final run exited {code} after {time.monotonic() - t:.2f} s")
        self.check_sanitizer("resume")
        if code is None:
            self.violate("liveness-resume", f"the clean resume ran past {self.resume_timeout:.0f} s")
        elif code != 0:
            self.violate("resume-exit", f"exit {code}: {gist(stderr)!r}")
            self.check_error_line(code, stderr, "resume")
        dst = self.dst_state()
        problems = self.completeness(dst, current=True)
        if problems:
            self.violate("resume-incomplete", f"{len(problems)} objects: " + "; ".join(problems[:3]))
        want = {self.dkey(k) for k in self.src_now()}
        extra = sorted(k for k in dst if k not in want)
        if extra:
            self.violate("extra-object", f"{len(extra)} destination keys no source key maps to: "
                         f"{extra[:3]}")
        uploads = [(u["Key"], u["UploadId"]) for page in
                   self.s3.get_paginator("list_multipart_uploads").paginate(Bucket=self.dst_bucket)
                   for u in page.get("Uploads", [])]
        if not self.sc.journal:
            # Without a journal nothing can find an upload barge could not
            # abort (the destination refusing the abort too): it must have
            # been named, by its ID or as a lost Create's, when it was left.
            said = (self.work / "barge.stderr").read_text(errors="replace") + stderr
            uploads = [(k, u) for k, u in uploads if u not in said and
                       not (k in said and "may be left open" in said)]
        uploads = [k for k, _ in uploads]
        if uploads:
            self.violate("uploads-left", f"{len(uploads)} incomplete multipart uploads "
                         f"({'with' if self.sc.journal else 'without'} a journal): {uploads[:3]}")
        self.check_journal(dst, "after-resume")

    def quiesce(self):
        """Waits until the proxies hold no request: one barge sent before it
        ended (delayed, stalled) reaches the server before anything is
        checked, as it would long before a user's next run."""
        t = time.monotonic()
        while self.src_proxy.active or self.dst_proxy.active:
            if time.monotonic() - t > QUIESCE_WAIT:
                self.note(f"proxies still busy after {QUIESCE_WAIT:.0f} s; checking anyway")
                return
            time.sleep(0.05)
        if time.monotonic() - t > 0.1:
            self.note(f"waited {time.monotonic() - t:.1f} s for requests held at the proxies")

    def run(self):
        self.setup()
        code, stderr = self.run_event()
        self.quiesce()
        self.check_sanitizer("run")
        dst = self.dst_state()
        if code is not None:
            self.check_exit(code, stderr)
            self.check_error_line(code, stderr, "run")
            if code == 0:
                problems = self.completeness(dst, current=False)
                if problems:
                    self.violate("exit0-incomplete", f"{len(problems)} objects: "
                                 + "; ".join(problems[:3]))
        self.check_journal(dst, "after-run")
        self.run_resume()

    def write_logs(self):
        (self.work / "scenario.txt").write_text(describe(self.sc) + "\n")
        (self.work / "timeline.txt").write_text("\n".join(self.timeline) + "\n")
        for name, proxy in (("src", getattr(self, "src_proxy", None)),
                            ("dst", getattr(self, "dst_proxy", None))):
            if proxy is None:
                continue
            mark = getattr(self, "resume_marks", (None, None))[name == "dst"]
            with open(self.work / f"{name}-proxy.log", "w") as f:
                for i, (t, method, op, key, fault) in enumerate(list(proxy.requests)):
                    if i == mark:
                        f.write("---- the final clean run\n")
                    f.write(f"{t - self.t0:8.3f} {method:6} {op:12} {fault or '-':20} {key}\n")


def run_seed(seed: int, moto: Moto, barge: Path, shim: Path, workroot: Path,
             verbose: bool = False, out: Optional[Path] = None,
             run_timeout: float = RUN_TIMEOUT) -> Result:
    sc = make_scenario(seed)
    work = Path(tempfile.mkdtemp(prefix=f"seed-{seed}-", dir=workroot))
    if verbose:
        print(describe(sc), flush=True)
    t = time.monotonic()
    r = SeedRun(sc, moto, barge, shim, work, verbose, run_timeout)
    harness = None
    try:
        r.run()
    except Exception:
        harness = traceback.format_exc()
        r.violations.append(("harness", harness.strip().splitlines()[-1]))
        if r.proc is not None and r.proc.poll() is None:
            r.proc.kill()
    finally:
        try:
            r.write_logs()
        except Exception:
            pass
        r.cleanup()
    res = Result(seed, r.violations, time.monotonic() - t, harness_error=harness)
    if r.violations and out is not None:
        dest = out / f"seed-{seed}"
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(work, dest, ignore=shutil.ignore_patterns("home", "jcheck-*"))
        if harness:
            (dest / "harness-error.txt").write_text(harness)
        res.logdir = str(dest)
    if verbose:
        print(f"logs: {work}" if not res.logdir else f"logs: {res.logdir}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return res


# ---- the campaign --------------------------------------------------------------

def parse_seeds(spec: str) -> list:
    seeds = []
    for part in spec.split(","):
        a, _, b = part.partition("-")
        seeds += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return seeds


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def worker(wid: int, tasks, results, barge: str, shim: str, out: Optional[str],
           run_timeout: float):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    root = Path(tempfile.mkdtemp(prefix=f"explore-w{wid}-"))
    moto = Moto(root)
    try:
        moto.start()
        done = 0
        while True:
            seed = tasks.get()
            if seed is None:
                break
            if done and done % 100 == 0 or not moto.alive():
                moto.stop()   # moto's memory only grows; a fresh one every 100 seeds
                moto.start()
            results.put(run_seed(seed, moto, Path(barge), Path(shim), root, False,
                                 Path(out) if out else None, run_timeout))
            done += 1
    except Exception:
        results.put(Result(-1, [("harness", traceback.format_exc().strip().splitlines()[-1])], 0,
                           harness_error=traceback.format_exc()))
    finally:
        moto.stop()
        shutil.rmtree(root, ignore_errors=True)


def replay_cmd(seed: int, barge: Path) -> str:
    cmd = f"python3 tests/explore/explore.py --seed {seed}"
    default = (REPO / "zig-out/bin/barge").resolve()
    if barge.resolve() != default:
        cmd += f" --barge {barge}"
    return cmd


def campaign(barge: Path, shim: Path, seeds: Optional[list], budget: Optional[float],
             start: int, jobs: int, out: Optional[Path], run_timeout: float = RUN_TIMEOUT,
             quiet: bool = False) -> list:
    ctx = multiprocessing.get_context("fork")
    tasks, results = ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(w, tasks, results, str(barge), str(shim),
                                              str(out) if out else None, run_timeout))
             for w in range(jobs)]
    for p in procs:
        p.start()
    t0 = time.monotonic()
    it = iter(seeds) if seeds is not None else iter(range(start, 1 << 62))
    inflight, res_all = 0, []

    def feed():
        nonlocal inflight
        if budget is not None and time.monotonic() - t0 > budget:
            return
        s = next(it, None)
        if s is not None:
            tasks.put(s)
            inflight += 1

    try:
        for _ in range(jobs):
            feed()
        while inflight:
            try:
                r = results.get(timeout=5)
            except queue.Empty:
                if not any(p.is_alive() for p in procs):
                    print("explore: every worker died", file=sys.stderr)
                    break
                continue
            inflight -= 1
            if r.seed < 0:
                print(f"explore: a worker failed: {r.harness_error}", file=sys.stderr)
                res_all.append(r)
                continue
            res_all.append(r)
            if r.violations:
                names = sorted({n for n, _ in r.violations})
                print(f"FAIL seed={r.seed} invariant={','.join(names)} "
                      f"detail={r.violations[0][1]}", flush=True)
                print(f"  replay: {replay_cmd(r.seed, barge)}"
                      + (f"   logs: {r.logdir}" if r.logdir else ""), flush=True)
            elif not quiet:
                print(f"ok   seed={r.seed} ({r.elapsed:.1f} s)", flush=True)
            feed()
    except KeyboardInterrupt:
        print("explore: interrupted", file=sys.stderr)
    finally:
        for _ in procs:
            tasks.put(None)
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()
    return res_all


def summary(results: list, elapsed: float, jobs: int) -> int:
    counts: dict = {}
    failed = [r for r in results if r.violations]
    for r in results:
        for name in {n for n, _ in r.violations}:
            counts[name] = counts.get(name, 0) + 1
    n = len([r for r in results if r.seed >= 0])
    print(f"\nexplore: {n} seeds in {elapsed:.0f} s ({n / elapsed if elapsed else 0:.3f} seeds/s "
          f"with -j {jobs}); {len(failed)} failed")
    for name, c in sorted(counts.items(), key=lambda kv: -kv[1]):
        seeds = [r.seed for r in failed if any(v == name for v, _ in r.violations)]
        print(f"  {name:24} {c:4} seeds (e.g. {', '.join(map(str, seeds[:5]))})")
    return 1 if failed else 0


# ---- self-test: fake barges the explorer must catch ---------------------------

FAKE_HEAD = r"""#!/usr/bin/env python3
import os, signal, sys, time
args = sys.argv[1:]
"""
FAKES = {
    # copies nothing, says all is done
    "noop": ("exit0-incomplete", None, "sys.exit(0)\n"),
    # never ends after a Ctrl-C
    "deaf": ("liveness-stop", "stop", """
signal.signal(signal.SIGINT, lambda *a: time.sleep(1000))
signal.signal(signal.SIGTERM, lambda *a: time.sleep(1000))
if args[0] == "copy":
    time.sleep(4)
sys.exit(0)
"""),
    # the exit code of today's barge for an interrupt
    "exit1": ("exit-code", "stop", """
signal.signal(signal.SIGINT, lambda *a: sys.exit(1))
signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
if args[0] == "copy":
    time.sleep(4)
sys.exit(0)
"""),
    # a Python-style crash report for a message
    "traceback": ("error-line", None, """
sys.stderr.write('Traceback (most recent call last):\\n  File "x", line 1\\nAssertionError\\n')
sys.exit(2)
"""),
    # journals every object as done, copies nothing
    "liar": ("journal-safety", "journal", """
import sqlite3, boto3
from botocore.config import Config
if args[0] != "copy":
    sys.exit(1)
j = args[args.index("--journal") + 1]
src, dst = args[1][5:], args[2][5:]
sb, _, sp = src.partition("/")
db, _, dp = dst.partition("/")
sp = sp + "/" if sp else ""
dp = dp + "/" if dp else ""
c = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"], region_name="us-east-1",
                 config=Config(s3={"addressing_style": "path"}))
d = sqlite3.connect(j)
d.execute("create table objects(key, dst_key, src_etag, size, state)")
d.execute("create table runs(id)")
d.execute("insert into runs values (1)")
for o in c.list_objects_v2(Bucket=sb, Prefix=sp).get("Contents", []):
    d.execute("insert into objects values (?,?,?,?,3)",
              (o["Key"], dp + o["Key"][len(sp):], o["ETag"].strip('"'), o["Size"]))
d.commit()
sys.exit(1)
"""),
    # damages its journal
    "garbler": ("journal-integrity", "journal", """
if args[0] == "copy":
    j = args[args.index("--journal") + 1]
    open(j, "wb").write(b"SQLite format 3\\0" + bytes([16, 0]) + os.urandom(8190))
sys.exit(1)
"""),
    # leaves a multipart upload open on the destination
    "leaver": ("uploads-left", None, """
import boto3
from botocore.config import Config
c = boto3.client("s3", endpoint_url=os.environ["R2_ENDPOINT_URL"], region_name="us-east-1",
                 aws_access_key_id=os.environ["R2_ACCESS_KEY_ID"],
                 aws_secret_access_key=os.environ["R2_SECRET_ACCESS_KEY"],
                 config=Config(s3={"addressing_style": "path"}))
if args[0] == "copy":
    c.create_multipart_upload(Bucket=args[2][5:].partition("/")[0], Key="left-open")
sys.exit(0)
"""),
    # a crash
    "crasher": ("crash", None, "os.kill(os.getpid(), signal.SIGSEGV)\n"),
    # never ends at all
    "sleeper": ("liveness-timeout", "quiet", "time.sleep(1000)\n"),
}


def _needs(sc: Scenario, need: Optional[str]) -> bool:
    if need == "stop":    # an early timed SIGINT or SIGTERM, before the fake's 4 s are over
        return any(e.kind in ("sigint", "sigterm") and e.trigger[0] == "time" and e.trigger[1] < 2.5
                   for e in sc.events)
    if need == "journal":
        return sc.journal
    if need == "quiet":
        return not sc.events and not sc.jfault
    return True


def self_test(shim: Path, out: Optional[Path]) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="explore-selftest-"))
    moto = Moto(tmp)
    missed = 0
    try:
        moto.start()
        for name, (want, need, body) in FAKES.items():
            fake = tmp / f"fake-{name}"
            fake.write_text(FAKE_HEAD + body)
            fake.chmod(0o755)
            seed = next(s for s in range(1, 10000) if _needs(make_scenario(s), need))
            r = run_seed(seed, moto, fake, shim, tmp, False, out,
                         run_timeout=6 if name == "sleeper" else RUN_TIMEOUT)
            names = sorted({n for n, _ in r.violations})
            ok = want in names and "harness" not in names
            missed += not ok
            print(f"self-test {name:10} seed {seed:4}: {'caught' if ok else 'MISSED'} "
                  f"(want {want}; got {', '.join(names) or 'nothing'})", flush=True)
            if not ok and r.harness_error:
                print(r.harness_error)
    finally:
        moto.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"self-test: {len(FAKES) - missed} of {len(FAKES)} broken fakes caught")
    return 1 if missed else 0


# ---- main ------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", help="seeds to run: 1-200, or 3,7,9-12")
    ap.add_argument("--budget", type=float, help="run seeds from --start for this many seconds")
    ap.add_argument("--start", type=int, default=1, help="first seed for --budget (default 1)")
    ap.add_argument("--seed", type=int, help="replay one seed verbosely")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="workers, each with its own moto")
    ap.add_argument("--out", type=Path, help="keep the logs of failing seeds here")
    ap.add_argument("--barge", type=Path,
                    default=Path(os.environ.get("BARGE_BIN", REPO / "zig-out/bin/barge")))
    ap.add_argument("--shim", type=Path, default=REPO / "zig-out/lib/libjfault.so")
    ap.add_argument("--self-test", action="store_true",
                    help="run against deliberately broken fake barges; each must be caught")
    ap.add_argument("--describe", type=int, metavar="SEED", help="print a seed's scenario only")
    ap.add_argument("-q", "--quiet", action="store_true", help="print failing seeds only")
    a = ap.parse_args()
    barge = a.barge if a.barge.is_absolute() else (Path.cwd() / a.barge)
    if a.describe is not None:
        print(describe(make_scenario(a.describe)))
        return 0
    if not a.shim.is_file():
        print(f"explore: {a.shim} is missing: build it with tools/zig build", file=sys.stderr)
        return 2
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
    if a.self_test:
        return self_test(a.shim, a.out)
    if not barge.is_file():
        print(f"explore: no barge at {barge}: build it (tools/zig build) or pass --barge",
              file=sys.stderr)
        return 2
    if a.seed is not None:
        tmp = Path(tempfile.mkdtemp(prefix="explore-"))
        moto = Moto(tmp)
        try:
            moto.start()
            r = run_seed(a.seed, moto, barge, a.shim, tmp, True, a.out)
        finally:
            moto.stop()
        print("\nnote: the schedule is the seed's; the interleavings inside barge and the "
              "servers depend on timing and may differ from the run that failed")
        for name, detail in r.violations:
            print(f"FAIL seed={r.seed} invariant={name} detail={detail}")
        if not r.violations:
            print(f"PASS seed={r.seed} ({r.elapsed:.1f} s)")
        if r.harness_error:
            print(r.harness_error)
        return 1 if r.violations else 0
    if not a.seeds and a.budget is None:
        ap.error("give --seeds, --budget, --seed or --self-test")
    t0 = time.monotonic()
    results = campaign(barge, a.shim, parse_seeds(a.seeds) if a.seeds else None, a.budget,
                       a.start, max(1, a.jobs), a.out, quiet=a.quiet)
    return summary(results, time.monotonic() - t0, max(1, a.jobs))


if __name__ == "__main__":
    sys.exit(main())
