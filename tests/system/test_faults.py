"""barge under faults: throttling, server errors, resets and truncated
bodies from a proxy in front of each endpoint; and an interrupted copy.
Every check reads the servers directly with boto3, never through barge."""

import hashlib
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from boto3.s3.transfer import TransferConfig

from conftest import barge_bin
from faultproxy import FaultProxy, Rule

MiB = 1 << 20


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def populate(client, bucket):
    """Small objects and two multipart ones: returns {key: md5}."""
    want = {}
    for i in range(40):
        body = os.urandom(1000 + i * 37)
        client.put_object(Bucket=bucket, Key=f"d/small-{i:03d}", Body=body)
        want[f"d/small-{i:03d}"] = md5(body)
    for name, size in (("d/mp-a", 17 * MiB + 3), ("d/mp-b", 11 * MiB)):
        body = os.urandom(size)
        path = f"/tmp/barge-fault-{os.getpid()}-{name[-1]}"
        with open(path, "wb") as f:
            f.write(body)
        client.upload_file(path, bucket, name, Config=TransferConfig(
            multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB))
        os.unlink(path)
        want[name] = md5(body)
    return want


def check_copy(servers, buckets, want, dst_prefix):
    dst = servers.dst.client
    got = {}
    for page in dst.get_paginator("list_objects_v2").paginate(Bucket=buckets.dst,
                                                              Prefix=dst_prefix):
        for o in page.get("Contents", []):
            got[o["Key"]] = md5(dst.get_object(Bucket=buckets.dst, Key=o["Key"])["Body"].read())
    expect = {dst_prefix + k[2:]: v for k, v in want.items()}
    assert got == expect
    assert dst.list_multipart_uploads(Bucket=buckets.dst).get("Uploads", []) == []


def test_copy_survives_faults_on_both_sides(servers, fresh_buckets, barge):
    want = populate(servers.src.client, fresh_buckets.src)
    src_proxy = FaultProxy(servers.src.port, rate=0.25, seed=7,
                           faults=("503", "429", "500", "reset", "truncate"))
    # Destination: only faults that happen before the server acts, so no
    # request is both done and reported failed.
    dst_proxy = FaultProxy(servers.dst.port, rate=0.25, seed=8,
                           faults=("503", "429", "500", "reset"))
    try:
        r = barge(["copy", f"s3://{fresh_buckets.src}/d", f"r2://{fresh_buckets.dst}/c",
                   "--part-size", "5M", "--concurrency", "8", "--progress", "json"],
                  env={"AWS_ENDPOINT_URL_S3": src_proxy.url, "R2_ENDPOINT_URL": dst_proxy.url},
                  timeout=240)
    finally:
        src_proxy.close()
        dst_proxy.close()
    assert r.code == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    injected = sum(v for k, v in (src_proxy.counts + dst_proxy.counts).items() if k != "requests")
    assert injected >= 10, (src_proxy.counts, dst_proxy.counts)
    assert src_proxy.counts["truncate"] >= 1 and dst_proxy.counts["reset"] >= 1
    assert summary["retries"] >= injected, (summary, src_proxy.counts, dst_proxy.counts)
    check_copy(servers, fresh_buckets, want, "c/")


class OneKeyFails(FaultProxy):
    """Answers 500 to every request whose request line names `needle`."""

    def __init__(self, upstream_port, needle: bytes):
        super().__init__(upstream_port, rate=0.0)
        self.needle = needle
        self.local = threading.local()

    def _read_head(self, conn):
        head, rest = FaultProxy._read_head(conn)
        self.local.line = (head or b"").split(b"\r\n", 1)[0]
        return head, rest

    def _pick(self, method):
        if self.needle in self.local.line:
            with self.lock:
                self.counts["500"] += 1
            return "500"
        return None


def test_permanent_errors_name_the_object_and_spare_the_rest(servers, fresh_buckets, barge):
    """A destination that answers 500 to everything for one key: that
    object fails after its retries, is named, the rest are copied, exit 1."""
    want = populate(servers.src.client, fresh_buckets.src)
    proxy = OneKeyFails(servers.dst.port, b"small-007")
    try:
        r = barge(["copy", f"s3://{fresh_buckets.src}/d", f"r2://{fresh_buckets.dst}/c",
                   "--part-size", "5M", "--retries", "3", "--progress", "json"],
                  env={"R2_ENDPOINT_URL": proxy.url}, timeout=240)
    finally:
        proxy.close()
    assert r.code == 1, r.stderr
    assert proxy.counts["500"] == 3  # one PUT, tried --retries times
    assert "small-007" in r.stderr and "HTTP 500" in r.stderr
    failed = [json.loads(l) for l in r.stdout.splitlines() if '"status":"failed"' in l]
    assert [f["key"] for f in failed] == ["d/small-007"]
    del want["d/small-007"]
    check_copy(servers, fresh_buckets, want, "c/")


def put_singles(client, bucket, n, size=3 * MiB):
    """n single-part objects of size + i * 4099 bytes under e/: returns
    {key: md5}."""
    want = {}
    for i in range(n):
        body = os.urandom(size + i * 4099)
        client.put_object(Bucket=bucket, Key=f"e/obj-{i}", Body=body)
        want[f"e/obj-{i}"] = md5(body)
    return want


def copy_e_through_src_proxy(servers, buckets, barge, rule, *args, timeout=120):
    """barge copy of e/ to c/ with a FaultProxy of one rule before the
    source: (result, proxy)."""
    proxy = FaultProxy(servers.src.port, rules=[rule])
    try:
        r = barge(["copy", f"s3://{buckets.src}/e", f"r2://{buckets.dst}/c",
                   "--progress", "json", *args],
                  env={"AWS_ENDPOINT_URL_S3": proxy.url}, timeout=timeout)
    finally:
        proxy.close()
    return r, proxy


@pytest.mark.parametrize("size", [3 * MiB, 16 * 1024], ids=["3MiB", "16KiB"])
def test_corrupted_reads_are_caught_by_the_source_etag(servers, fresh_buckets, barge, size):
    """GETs answered whole and with the right length, but with one byte
    inverted: a single-part object's ETag is the MD5 of its bytes, so each
    is caught, read again, and the copy is right.  The eight objects are
    read together, so their MD5s are taken side by side in barge (large
    ones after waiting for one another, small ones in the turn their GETs
    end)."""
    want = put_singles(servers.src.client, fresh_buckets.src, 8, size)
    r, proxy = copy_e_through_src_proxy(
        servers, fresh_buckets, barge,
        Rule("corrupt-body", methods=("GET",), key=r"obj-[0-3]$", limit=4),
        "--concurrency", "8")
    assert r.code == 0, r.stderr
    assert proxy.counts["corrupt-body"] == 4, proxy.counts
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["retries"] >= 4, summary
    check_copy(servers, fresh_buckets, want, "c/")


def test_bytes_that_never_match_the_etag_fail_that_object_after_its_retries(
        servers, fresh_buckets, barge):
    """Every GET of one object comes back corrupted: it fails after
    --retries reads (it is not read again forever), is named, and the
    rest are copied; exit 1."""
    want = put_singles(servers.src.client, fresh_buckets.src, 4)
    r, proxy = copy_e_through_src_proxy(
        servers, fresh_buckets, barge,
        Rule("corrupt-body", methods=("GET",), key=r"obj-2$"), "--retries", "3", timeout=60)
    assert r.code == 1, r.stderr
    assert proxy.counts["corrupt-body"] == 3, proxy.counts
    assert "e/obj-2" in r.stderr and "do not match the source ETag" in r.stderr, r.stderr
    failed = [json.loads(l) for l in r.stdout.splitlines() if '"status":"failed"' in l]
    assert [f["key"] for f in failed] == ["e/obj-2"]
    del want["e/obj-2"]
    check_copy(servers, fresh_buckets, want, "c/")


def test_interrupt_aborts_open_uploads(servers, fresh_buckets):
    """Ctrl-C in the middle of multipart uploads: barge exits 130 and leaves
    no incomplete multipart upload on the destination."""
    populate(servers.src.client, fresh_buckets.src)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "R2_"))}
    env.update(servers.barge_env())
    for delay in (0.3, 0.6, 1.0):
        p = subprocess.Popen([str(barge_bin()), "copy", f"s3://{fresh_buckets.src}/d",
                              f"r2://{fresh_buckets.dst}/i{delay}", "--part-size", "5M",
                              "--concurrency", "2", "--progress", "none"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        if p.returncode == 0:
            continue  # finished before the signal: nothing to check
        assert p.returncode == 130, err
        assert "interrupted" in err
        uploads = servers.dst.client.list_multipart_uploads(
            Bucket=fresh_buckets.dst).get("Uploads", [])
        assert uploads == [], uploads
