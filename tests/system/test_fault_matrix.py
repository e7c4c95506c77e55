"""The fault matrix: every fault class of tests/system/faultproxy.py at a high
rate, in front of the source or the destination, during a copy of mixed
objects (small ones, a multipart source reused part for part, single-part
sources larger than --part-size 5M that go multipart).

Every run must end, within its timeout, with every object byte-identical on
the destination (boto3, MD5 of what it reads back) or named as failed (and
then absent or intact on the destination, never corrupt), with no
incomplete multipart upload left.  At these rates and the default 10
attempts per request, every fault class here is transient, so the run must
also exit 0 with nothing failed: a failure is a finding about barge's
retries.  Every check reads the servers with boto3, never through barge.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
import zlib

import pytest
from boto3.s3.transfer import TransferConfig

from conftest import empty_bucket
from faultproxy import FaultProxy, Rule

MiB = 1 << 20
RUN_TIMEOUT = 150  # seconds for one barge run under faults


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


@pytest.fixture(scope="module")
def matrix(servers, tmp_path_factory):
    """One source bucket with the mixed objects (read by every case) and one
    destination bucket (each case copies to its own prefix)."""
    tag = uuid.uuid4().hex[:8]
    src_bucket, dst_bucket = f"src-fault-matrix-{tag}", f"dst-fault-matrix-{tag}"
    src, dst = servers.src.client, servers.dst.client
    src.create_bucket(Bucket=src_bucket)
    dst.create_bucket(Bucket=dst_bucket)
    want = {}
    for i in range(24):
        body = os.urandom(500 + i * 311)
        src.put_object(Bucket=src_bucket, Key=f"m/small-{i:02d}", Body=body)
        want[f"small-{i:02d}"] = md5(body)
    src.put_object(Bucket=src_bucket, Key="m/empty", Body=b"")
    want["empty"] = md5(b"")
    tmp = tmp_path_factory.mktemp("matrix")
    # A multipart source with uniform 5 MiB parts (barge reuses the layout)...
    body = os.urandom(12 * MiB + 3)
    (tmp / "mp").write_bytes(body)
    src.upload_file(str(tmp / "mp"), src_bucket, "m/mp-uniform", Config=TransferConfig(
        multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB))
    want["mp-uniform"] = md5(body)
    # ...and single-part sources above --part-size 5M (barge cuts 5 MiB parts).
    for name, size in (("big-single-a", 11 * MiB), ("big-single-b", 7 * MiB + 12345)):
        body = os.urandom(size)
        src.put_object(Bucket=src_bucket, Key=f"m/{name}", Body=body)
        want[name] = md5(body)
    yield {"src": src_bucket, "dst": dst_bucket, "want": want}
    if os.environ.get("BARGE_TEST_KEEP_BUCKETS") == "1":
        return
    for client, bucket in ((src, src_bucket), (dst, dst_bucket)):
        empty_bucket(client, bucket)
        client.delete_bucket(Bucket=bucket)


def failed_keys(stdout: str) -> set:
    out = set()
    for line in stdout.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("type") == "object" and ev.get("status") == "failed":
            out.add(ev["key"])
    return out


def check_destination(servers, m, prefix: str, failed: set) -> None:
    """Every object byte-identical, or named as failed and then absent or
    intact; no extra object; no incomplete multipart upload."""
    dst = servers.dst.client
    got = {}
    for page in dst.get_paginator("list_objects_v2").paginate(Bucket=m["dst"], Prefix=prefix):
        for o in page.get("Contents", []):
            body = dst.get_object(Bucket=m["dst"], Key=o["Key"])["Body"].read()
            got[o["Key"][len(prefix):]] = md5(body)
    failed_names = {k[len("m/"):] for k in failed}
    assert failed_names <= set(m["want"]), f"unknown keys named failed: {failed}"
    for name, digest in m["want"].items():
        if name in failed_names and name not in got:
            continue  # failed and absent: allowed
        assert name in got, f"{name} neither copied nor named as failed"
        assert got[name] == digest, f"{name} is corrupt on the destination"
    extra = set(got) - set(m["want"])
    assert not extra, f"objects barge was not asked to write: {extra}"
    uploads = dst.list_multipart_uploads(Bucket=m["dst"], Prefix=prefix).get("Uploads", [])
    assert uploads == [], f"incomplete multipart uploads left: {uploads}"


def run_case(servers, barge, m, side: str, proxy: FaultProxy, extra=(), timeout=RUN_TIMEOUT):
    prefix = f"{side}-{uuid.uuid4().hex[:8]}/"
    env = {"AWS_ENDPOINT_URL_S3": proxy.url} if side == "src" else {"R2_ENDPOINT_URL": proxy.url}
    t0 = time.monotonic()
    try:
        r = barge(["copy", f"s3://{m['src']}/m", f"r2://{m['dst']}/{prefix.rstrip('/')}",
                   "--part-size", "5M", "--concurrency", "8", "--progress", "json", *extra],
                  env=env, timeout=timeout)
    finally:
        proxy.close()
    elapsed = time.monotonic() - t0
    failed = failed_keys(r.stdout)
    # Data safety first: whatever the exit code, nothing corrupt, nothing left open.
    check_destination(servers, m, prefix, failed)
    return r, failed, elapsed


# (side, fault, rules or rate, minimum injections). Source-side faults hit
# the listing, HEADs and ranged GETs; destination-side ones the bucket HEAD,
# PUTs, UploadParts, Create/Complete and the verifying HEADs.
RATE = 0.3


def _rules(fault, rate=RATE, **kw):
    return [Rule(fault, rate=rate, **kw)]


CASES = [
    # source side
    pytest.param("src", _rules("503"), 5, id="src-503-slowdown"),
    pytest.param("src", _rules("500"), 5, id="src-500"),
    pytest.param("src", _rules("429"), 5, id="src-429-retry-after"),
    pytest.param("src", _rules("429-no-retry-after"), 5, id="src-429-no-retry-after"),
    pytest.param("src", _rules("reset"), 5, id="src-reset-before-answer"),
    pytest.param("src", _rules("reset-body", ops=("get",)), 5, id="src-reset-mid-body"),
    pytest.param("src", _rules("truncate", ops=("get",)), 5, id="src-truncated-body"),
    pytest.param("src", _rules("truncate", ops=("list",), rate=1.0, limit=2), 2, id="src-truncated-listing"),
    pytest.param("src", _rules("delay", rate=0.5), 5, id="src-delay"),
    pytest.param("src", _rules("503", key=r"^m/(mp-|big-)", rate=0.6), 5,
                 id="src-503-multipart-keys-only"),
    # destination side
    pytest.param("dst", _rules("503"), 5, id="dst-503-slowdown"),
    pytest.param("dst", _rules("500"), 5, id="dst-500"),
    pytest.param("dst", _rules("429"), 5, id="dst-429-retry-after"),
    pytest.param("dst", _rules("429-no-retry-after"), 5, id="dst-429-no-retry-after"),
    pytest.param("dst", _rules("reset"), 5, id="dst-reset-before-answer"),
    pytest.param("dst", _rules("reset-upload"), 5, id="dst-reset-mid-upload"),
    pytest.param("dst", _rules("reset-body", ops=("put", "upload-part", "head")), 5,
                 id="dst-reset-after-server-acted"),
    pytest.param("dst", _rules("truncate", ops=("complete",), rate=1.0, limit=2), 2,
                 id="dst-truncated-complete-answer"),
    pytest.param("dst", _rules("truncate", ops=("create",), rate=1.0, limit=1), 1,
                 id="dst-truncated-create-answer"),
    pytest.param("dst", _rules("reset-body", ops=("create",), rate=1.0, limit=1), 1,
                 id="dst-reset-create-answer"),
    pytest.param("dst", _rules("delay", rate=0.5), 5, id="dst-delay"),
    pytest.param("dst", _rules("complete-error", rate=0.6), 1, id="dst-complete-200-error"),
    pytest.param("dst", _rules("complete-error-after", rate=1.0, limit=3), 1,
                 id="dst-complete-200-error-after-completing"),
    pytest.param("dst", _rules("500", ops=("upload-part",), rate=0.6), 5,
                 id="dst-500-upload-part-only"),
]


@pytest.mark.parametrize("side,rules,minimum", CASES)
def test_fault_class(servers, barge, matrix, side, rules, minimum):
    upstream = servers.src.port if side == "src" else servers.dst.port
    proxy = FaultProxy(upstream, rules=rules, seed=zlib.crc32(f"{side}-{rules[0].fault}".encode()),
                       delay_s=1.0)
    r, failed, elapsed = run_case(servers, barge, matrix, side, proxy)
    assert proxy.injected >= minimum, (
        f"only {proxy.injected} faults injected (want >= {minimum}): {dict(proxy.counts)}")
    assert r.code == 0 and not failed, (
        f"exit {r.code}, failed {sorted(failed)} under {rules[0].fault} "
        f"({dict(proxy.counts)}); stderr:\n{r.stderr[-3000:]}")
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    if rules[0].fault != "delay":  # a delayed answer is a good one: no retry
        assert summary.get("retries", 0) >= 1, summary


def test_mixed_faults_both_sides(servers, barge, matrix):
    """Every non-lossy class at once on both sides, plus the lossy ones on
    the source side: the same end state."""
    src_proxy = FaultProxy(servers.src.port, seed=11, rules=[
        Rule("503", rate=0.08), Rule("500", rate=0.06), Rule("429", rate=0.05),
        Rule("429-no-retry-after", rate=0.05), Rule("reset", rate=0.05),
        Rule("reset-body", rate=0.08, ops=("get",)), Rule("truncate", rate=0.08, ops=("get",)),
        Rule("delay", rate=0.05)])
    dst_proxy = FaultProxy(servers.dst.port, seed=12, rules=[
        Rule("503", rate=0.08), Rule("500", rate=0.06), Rule("429", rate=0.05),
        Rule("reset", rate=0.05), Rule("reset-upload", rate=0.08),
        Rule("complete-error", rate=0.3), Rule("delay", rate=0.05)])
    prefix = f"mixed-{uuid.uuid4().hex[:8]}/"
    try:
        r = barge(["copy", f"s3://{matrix['src']}/m", f"r2://{matrix['dst']}/{prefix.rstrip('/')}",
                   "--part-size", "5M", "--concurrency", "8", "--progress", "json"],
                  env={"AWS_ENDPOINT_URL_S3": src_proxy.url, "R2_ENDPOINT_URL": dst_proxy.url},
                  timeout=RUN_TIMEOUT)
    finally:
        src_proxy.close()
        dst_proxy.close()
    failed = failed_keys(r.stdout)
    check_destination(servers, matrix, prefix, failed)
    assert src_proxy.injected >= 5 and dst_proxy.injected >= 5, (src_proxy.counts, dst_proxy.counts)
    assert r.code == 0 and not failed, f"exit {r.code}, failed {failed}\n{r.stderr[-3000:]}"


def test_permanent_faults_name_the_objects(servers, barge, matrix):
    """A destination that answers 500 to every request for the multipart
    keys: those objects fail after their retries, are named, have no open
    upload left and are absent; the rest arrive intact; exit 1."""
    proxy = FaultProxy(servers.dst.port, rules=[Rule("500", key=r"^[^/]+/(mp-|big-)")])
    r, failed, elapsed = run_case(servers, barge, matrix, "dst", proxy, extra=("--retries", "2"))
    assert r.code == 1, r.stderr
    assert failed == {"m/mp-uniform", "m/big-single-a", "m/big-single-b"}, (failed, r.stderr)
    for k in failed:
        assert k in r.stderr, f"{k} not named on stderr"


def test_stall_is_detected_and_retried(servers, barge, matrix):
    """One ranged GET of a multipart object stops sending half way: with
    --stall-timeout 4, curl's low-speed limit (under 1 KiB/s for 4 s) gives
    up on it, the part is fetched again, and the whole run ends in under
    20 s (the stall itself would last 60 s)."""
    proxy = FaultProxy(servers.src.port, rules=[
        Rule("stall", ops=("get",), key=r"^m/mp-uniform$", limit=1)], stall_s=60.0)
    r, failed, elapsed = run_case(servers, barge, matrix, "src", proxy, timeout=60,
                                  extra=("--stall-timeout", "4"))
    assert proxy.counts["stall"] == 1, proxy.counts
    assert r.code == 0 and not failed, r.stderr
    assert 3.5 <= elapsed < 20, f"took {elapsed:.1f} s"


def test_retry_after_is_honoured(servers, barge, matrix):
    """A 429 with Retry-After: 3 on one PUT: barge sends that PUT again no
    sooner than 3 s later (the brief: backoff honouring Retry-After)."""
    proxy = FaultProxy(servers.dst.port, retry_after=3, rules=[
        Rule("429", ops=("put",), key=r"/small-05$", limit=1)])
    r, failed, elapsed = run_case(servers, barge, matrix, "dst", proxy)
    assert r.code == 0 and not failed, r.stderr
    reqs = [q for q in proxy.requests if q[2] == "put" and q[3].endswith("/small-05")]
    assert len(reqs) == 2 and reqs[0][4] == "429" and reqs[1][4] is None, reqs
    gap = reqs[1][0] - reqs[0][0]
    assert gap >= 2.9, f"retried after {gap:.2f} s although Retry-After said 3"
