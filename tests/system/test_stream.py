"""Cut-through uploads: with --checksum none a part's UploadPart (or a
single-part object's PUT) starts while its GET is still arriving and sends
the bytes as they come; with a checksum to send first (Content-MD5) it
waits for the whole part.

The overlap is seen by two proxies (tests/system/faultproxy.py), never by
asking barge: the source proxy paces every GET's answer and notes when its
last byte left; the destination proxy notes when each UploadPart arrived.
The copies themselves are checked with boto3: bytes, the multipart ETag
(barge keeps the source's part layout) and no open upload left."""

from __future__ import annotations

import hashlib
import re
import subprocess
import urllib.parse

import pytest
from boto3.s3.transfer import TransferConfig

from conftest import barge_bin
from faultproxy import FaultProxy, Rule
from test_journal import listing, multipart_etag, uploads
from test_local import kill_when, popen_env

MiB = 1 << 20
PART = 8 * MiB
SIZE = 3 * PART + 3 * MiB  # four parts, the last a short one


SINGLE = 6 * MiB + 5  # one PUT, under --part-size 8M
SINGLE_META = {"ContentType": "application/x-barge-test", "Metadata": {"origin": "stream"}}


def put_source(servers, bucket: str, key: str, tmp_path) -> bytes:
    """A multipart object at `key` (4 parts) and a single-part one at
    `key`-single with a content type and user metadata."""
    data = hashlib.sha256(key.encode()).digest() * (SIZE // 32) + b"\x07" * (SIZE % 32)
    path = tmp_path / "src.bin"
    path.write_bytes(data)
    servers.src.client.upload_file(str(path), bucket, key, Config=TransferConfig(
        multipart_threshold=PART, multipart_chunksize=PART))
    servers.src.client.put_object(Bucket=bucket, Key=key + "-single", Body=data[:SINGLE],
                                  **SINGLE_META)
    return data


def overlaps(src_proxy: FaultProxy, dst_proxy: FaultProxy, key_suffix: str) -> dict:
    """{part number: seconds by which its UploadPart arrived before its
    GET's last byte left the source (negative: after)}, for the parts that
    have both a whole GET answer and an UploadPart."""
    get_end = {}
    for _arrival, end, op, key, _target, rng in src_proxy.answered:
        if op != "get" or not key.endswith(key_suffix):
            continue
        n = int(re.match(r"bytes=(\d+)-", rng).group(1)) // PART + 1 if rng else 1
        get_end[n] = min(get_end.get(n, end), end)
    put_arrival = {}
    for arrival, _end, op, key, target, _rng in dst_proxy.answered:
        if op not in ("upload-part", "put") or not key.endswith(key_suffix):
            continue
        q = urllib.parse.parse_qs(target.partition("?")[2])
        n = int(q["partNumber"][0]) if op == "upload-part" else 1
        put_arrival[n] = min(put_arrival.get(n, arrival), arrival)
    return {n: get_end[n] - put_arrival[n] for n in get_end if n in put_arrival}


def check_copy(servers, b, key: str, dkey: str, data: bytes) -> None:
    dst = servers.dst.client
    got = dst.get_object(Bucket=b.dst, Key=dkey)["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest(), "copy differs"
    etag = dst.head_object(Bucket=b.dst, Key=dkey)["ETag"].strip('"')
    assert etag == multipart_etag(data, PART), etag
    assert etag == servers.src.client.head_object(Bucket=b.src, Key=key)["ETag"].strip('"')
    got = dst.get_object(Bucket=b.dst, Key=dkey + "-single")
    assert got["Body"].read() == data[:SINGLE], "single-part copy differs"
    assert got["ETag"].strip('"') == hashlib.md5(data[:SINGLE]).hexdigest()
    assert got["ContentType"] == SINGLE_META["ContentType"]
    assert got["Metadata"] == SINGLE_META["Metadata"]
    assert uploads(dst, b.dst) == []


def copy_through(barge, b, src_proxy: FaultProxy, dst_proxy: FaultProxy, mode: str = "none"):
    """barge copy s3://SRC/s -> r2://DST/t through the two proxies (closed after)."""
    try:
        return barge(["copy", f"s3://{b.src}/s", f"r2://{b.dst}/t", "--checksum", mode,
                      "--concurrency", "4", "--part-size", "8M", "--progress", "none"],
                     env={"AWS_ENDPOINT_URL_S3": src_proxy.url, "R2_ENDPOINT_URL": dst_proxy.url},
                     timeout=150)
    finally:
        src_proxy.close()
        dst_proxy.close()


@pytest.mark.parametrize("mode", ["none", "md5"])
def test_parts_upload_while_they_are_read(servers, fresh_buckets, barge, tmp_path, mode):
    b = fresh_buckets
    data = put_source(servers, b.src, "s/obj", tmp_path)
    src_proxy = FaultProxy(servers.src.port, rules=[Rule("slow-body", ops=("get",))],
                           slow_rate=16 * MiB)
    dst_proxy = FaultProxy(servers.dst.port, rules=[])
    r = copy_through(barge, b, src_proxy, dst_proxy, mode)
    assert r.code == 0, r.stderr
    check_copy(servers, b, "s/obj", "t/obj", data)
    lead = overlaps(src_proxy, dst_proxy, "obj")
    assert sorted(lead) == [1, 2, 3, 4], (lead, src_proxy.answered, dst_proxy.answered)
    lead_single = overlaps(src_proxy, dst_proxy, "obj-single")
    assert sorted(lead_single) == [1], (lead_single, src_proxy.answered, dst_proxy.answered)
    lead = list(lead.values()) + list(lead_single.values())
    if mode == "none":
        # Each GET takes 0.5 s (0.19 s for the last part, 0.38 s for the
        # single-part object) at 16 MiB/s: the upload starts with its first
        # bytes, long before the last.
        assert all(v > 0.1 for v in lead), lead
    else:
        # Content-MD5 needs every byte first (the proxy notes the time just
        # after handing the last byte to its socket).
        assert all(v < 0.05 for v in lead), lead


# (side, rule, minimum injections): the faults that cut a streamed upload
# or the GET it is fed by, at a rate that leaves parts to stream.
STREAM_FAULTS = [
    pytest.param("src", Rule("reset-body", ops=("get",), rate=0.4), 1, id="src-reset-mid-body"),
    pytest.param("src", Rule("truncate", ops=("get",), rate=0.4), 1, id="src-truncated-body"),
    pytest.param("src", Rule("500", ops=("get",), rate=0.4), 1, id="src-500"),
    pytest.param("dst", Rule("reset-upload", ops=("upload-part",), rate=0.4), 1,
                 id="dst-reset-mid-upload"),
    pytest.param("dst", Rule("500", ops=("upload-part",), rate=0.4), 1, id="dst-500-upload-part"),
    pytest.param("dst", Rule("reset-body", ops=("upload-part",), rate=0.4), 1,
                 id="dst-reset-after-server-acted"),
]


@pytest.mark.parametrize("side,rule,minimum", STREAM_FAULTS)
def test_streamed_parts_survive_faults(servers, fresh_buckets, barge, tmp_path, side, rule,
                                       minimum):
    b = fresh_buckets
    data = put_source(servers, b.src, "s/obj", tmp_path)
    pace = Rule("slow-body", ops=("get",))
    src_proxy = FaultProxy(servers.src.port, seed=5, slow_rate=16 * MiB,
                           rules=[rule, pace] if side == "src" else [pace])
    dst_proxy = FaultProxy(servers.dst.port, seed=6, rules=[rule] if side == "dst" else [])
    r = copy_through(barge, b, src_proxy, dst_proxy)
    proxy = src_proxy if side == "src" else dst_proxy
    assert proxy.injected >= minimum, proxy.counts
    assert r.code == 0, r.stderr
    check_copy(servers, b, "s/obj", "t/obj", data)
    lead = overlaps(src_proxy, dst_proxy, "obj")
    assert any(v > 0.1 for v in lead.values()), ("no part was streamed", lead)


def test_streamed_copy_killed_and_resumed(servers, fresh_buckets, tmp_path):
    """SIGKILL while parts stream, then a second run with the same journal:
    the object is whole, with the source's ETag, and no upload is left."""
    b = fresh_buckets
    data = put_source(servers, b.src, "s/obj", tmp_path)
    journal = tmp_path / "j.db"
    src_proxy = FaultProxy(servers.src.port, rules=[Rule("slow-body", ops=("get",))],
                           slow_rate=4 * MiB)
    args = [str(barge_bin()), "copy", f"s3://{b.src}/s", f"r2://{b.dst}/t", "--checksum", "none",
            "--concurrency", "2", "--part-size", "8M", "--progress", "none",
            "--journal", str(journal)]
    try:
        # at 4 MiB/s a part's GET lasts 2 s: kill once the first part is in
        # and the next ones are streaming
        env = popen_env(servers, AWS_ENDPOINT_URL_S3=src_proxy.url)
        kill_when(args, env, tmp_path / "run1.log",
                  lambda: sum(1 for a in src_proxy.answered if a[2] == "get") >= 2)
        assert "t/obj" not in listing(servers.dst.client, b.dst, "t/")
        # the second run at full speed, through the same proxy: the journal
        # belongs to the endpoints of its first run
        src_proxy.rules = []
        r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    finally:
        src_proxy.close()
    assert r.returncode == 0, r.stderr
    check_copy(servers, b, "s/obj", "t/obj", data)


@pytest.mark.parametrize("seed", [7, 12])
def test_streamed_parts_survive_mixed_faults(servers, fresh_buckets, barge, tmp_path, seed):
    """Faults of every kind on both sides at once, over streamed parts (these
    seeds cut streamed uploads whose GET was still running, both ways)."""
    b = fresh_buckets
    data = put_source(servers, b.src, "s/obj", tmp_path)
    src_proxy = FaultProxy(servers.src.port, seed=seed, slow_rate=32 * MiB, rules=[
        Rule("reset-body", ops=("get",), rate=0.15), Rule("truncate", ops=("get",), rate=0.15),
        Rule("500", rate=0.1), Rule("slow-body", ops=("get",))])
    dst_proxy = FaultProxy(servers.dst.port, seed=seed + 1, rules=[
        Rule("reset-upload", ops=("upload-part",), rate=0.15),
        Rule("500", ops=("upload-part",), rate=0.1),
        Rule("reset-body", ops=("upload-part",), rate=0.1), Rule("503", rate=0.05)])
    r = copy_through(barge, b, src_proxy, dst_proxy)
    assert src_proxy.injected >= 1 and dst_proxy.injected >= 1, (src_proxy.counts, dst_proxy.counts)
    assert r.code == 0, r.stderr
    check_copy(servers, b, "s/obj", "t/obj", data)
