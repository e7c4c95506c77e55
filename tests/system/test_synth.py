"""barge-synth (bench/synth/): the synthetic S3 endpoint of the benchmarks.

Checked with independent clients (boto3, raw sockets, rclone) and with a
re-implementation of the content generator in Python, so that a bug in the
endpoint's generator cannot hide behind the same bug in its verifier:

- listings (v2 and v1) page through every key in order, with prefix,
  delimiter and encoding-type=url;
- ranged GETs, whole GETs and HEAD ?partNumber=N return the generator's bytes
  and lengths; a single-part object's ETag is the MD5 of its bytes;
- the sink accepts a correct copy (PUT and multipart) and rejects, in its
  answer and in GET /_synth/stats, a corrupted byte, a wrong Content-MD5, a
  part uploaded under the wrong number, a missing part and parts listed out
  of order at Complete;
- Expect: 100-continue, the emulated latency and rate limit, TLS;
- `barge copy`, rclone and the bare relay from a synth source to a synth sink
  verify with zero errors.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import REPO_ROOT, run_barge, s3_client

M64 = (1 << 64) - 1
MiB = 1 << 20
SPEC = "large=3x20M@8M,small=25x16K,odd=2x9000001@5M,flat=2x3M@0"


# ---- the generator, re-implemented (see bench/synth/gen.c) ----

def seed_of(key: str) -> int:
    h = 0xcbf29ce484222325
    for b in key.encode():
        h = ((h ^ b) * 0x100000001b3) & M64
    return h


def word(seed: int, i: int) -> int:
    z = (seed + (i + 1) * 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def content(key: str, off: int, n: int) -> bytes:
    s = seed_of(key)
    first, last = off // 8, (off + n + 7) // 8
    raw = b"".join(struct.pack("<Q", word(s, i)) for i in range(first, last))
    return raw[off - first * 8: off - first * 8 + n]


# ---- the endpoint ----

def synth_bin() -> Path:
    p = Path(os.environ.get("BARGE_SYNTH_BIN", REPO_ROOT / "zig-out" / "bin" / "barge-synth"))
    if not p.is_absolute():
        p = REPO_ROOT / p
    return p


class Synth:
    def __init__(self, tmp: Path, *args: str):
        b = synth_bin()
        if not b.is_file():
            pytest.fail(f"{b} not found: build it with tools/zig build", pytrace=False)
        tmp.mkdir(parents=True, exist_ok=True)
        pf = tmp / "port"
        self.log = open(tmp / "synth.log", "w")
        self.proc = subprocess.Popen([str(b), "--port-file", str(pf), *args],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(200):
            if pf.exists():
                break
            if self.proc.poll() is not None:
                pytest.fail(f"barge-synth exited: {(tmp / 'synth.log').read_text()}")
            time.sleep(0.02)
        self.port = int(pf.read_text())
        self.url = f"http://127.0.0.1:{self.port}"

    def client(self, **kw):
        return s3_client(self.url, "AKIDSYNTH", "any-secret-works", **kw)

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/_synth/stats", timeout=10) as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    s = Synth(tmp_path_factory.mktemp("synth"), "--bucket", f"src:{SPEC}", "--sink", "dst=src")
    yield s
    s.stop()


@pytest.fixture
def errors(synth):
    """Number of new verification errors since the test started, and their text."""
    before = synth.stats()["errors"]

    def new():
        st = synth.stats()
        n = st["errors"] - before
        return n, st["error_list"][-n:] if n else []
    return new


def keys_of(cls: str, n: int):
    return [f"{cls}/{i:06d}" for i in range(n)]


ALL_KEYS = sorted(keys_of("large", 3) + keys_of("small", 25) + keys_of("odd", 2) + keys_of("flat", 2))
SIZES = {"large": 20 * MiB, "small": 16 * 1024, "odd": 9000001, "flat": 3 * MiB}


# ---- source side ----

def test_list_v2_pages_every_key_in_order(synth):
    c = synth.client()
    got = []
    pages = 0
    for page in c.get_paginator("list_objects_v2").paginate(Bucket="src", PaginationConfig={"PageSize": 7}):
        pages += 1
        assert page["KeyCount"] == len(page.get("Contents", []))
        got += [(o["Key"], o["Size"]) for o in page.get("Contents", [])]
    assert [k for k, _ in got] == ALL_KEYS
    assert pages == (len(ALL_KEYS) + 6) // 7
    assert all(sz == SIZES[k.split("/")[0]] for k, sz in got)


def test_list_prefix_delimiter_and_v1(synth):
    c = synth.client()
    r = c.list_objects_v2(Bucket="src", Prefix="small/00001", EncodingType="url")
    assert [o["Key"] for o in r["Contents"]] == [f"small/{i:06d}" for i in range(10, 20)]
    r = c.list_objects_v2(Bucket="src", Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["flat/", "large/", "odd/", "small/"]
    assert "Contents" not in r
    r = c.list_objects_v2(Bucket="src", Delimiter="/", MaxKeys=2)
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["flat/", "large/"]
    r = c.list_objects_v2(Bucket="src", Delimiter="/", ContinuationToken=r["NextContinuationToken"])
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["odd/", "small/"]
    got = []
    for page in c.get_paginator("list_objects").paginate(Bucket="src", PaginationConfig={"PageSize": 10}):
        got += [o["Key"] for o in page.get("Contents", [])]
    assert got == ALL_KEYS
    r = c.list_objects_v2(Bucket="src", StartAfter="odd/000001")
    assert r["Contents"][0]["Key"] == "small/000000"


def test_ranged_get_is_the_generator(synth):
    c = synth.client()
    for key, a, b in [("small/000003", 0, 16383), ("small/000003", 5, 4100),
                      ("large/000001", 8 * MiB - 3, 8 * MiB + 20), ("odd/000001", 9000001 - 13, 9000000),
                      ("large/000002", 20 * MiB - 1, 20 * MiB - 1)]:
        body = c.get_object(Bucket="src", Key=key, Range=f"bytes={a}-{b}")["Body"].read()
        assert body == content(key, a, b - a + 1), (key, a, b)
    r = c.get_object(Bucket="src", Key="odd/000000", Range="bytes=-100")
    assert r["ContentRange"] == "bytes 8999901-9000000/9000001"
    assert r["Body"].read() == content("odd/000000", 8999901, 100)
    whole = c.get_object(Bucket="src", Key="small/000007")
    data = whole["Body"].read()
    assert data == content("small/000007", 0, 16384)
    assert whole["ETag"].strip('"') == hashlib.md5(data).hexdigest()
    flat = c.head_object(Bucket="src", Key="flat/000001")
    assert flat["ETag"].strip('"') == hashlib.md5(content("flat/000001", 0, 3 * MiB)).hexdigest()


def test_head_part_number_and_if_match(synth):
    c = synth.client()
    h = c.head_object(Bucket="src", Key="large/000000")
    assert h["ContentLength"] == 20 * MiB and h["ETag"].endswith('-3"')
    p1 = c.head_object(Bucket="src", Key="large/000000", PartNumber=1)
    assert p1["ContentLength"] == 8 * MiB and p1["PartsCount"] == 3
    p3 = c.head_object(Bucket="src", Key="large/000000", PartNumber=3)
    assert p3["ContentLength"] == 4 * MiB
    with pytest.raises(ClientError) as e:
        c.head_object(Bucket="src", Key="large/000000", PartNumber=4)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    r = c.get_object(Bucket="src", Key="odd/000001", PartNumber=2)
    assert r["Body"].read() == content("odd/000001", 5 * MiB, 9000001 - 5 * MiB)
    c.get_object(Bucket="src", Key="large/000000", IfMatch=h["ETag"], Range="bytes=0-0")["Body"].read()
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket="src", Key="large/000000", IfMatch='"0123"')
    assert e.value.response["Error"]["Code"] == "PreconditionFailed"
    with pytest.raises(ClientError) as e:
        c.head_object(Bucket="src", Key="small/999999")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    c.head_bucket(Bucket="src")


# ---- sink side ----

def md5_b64(b: bytes) -> str:
    return base64.b64encode(hashlib.md5(b).digest()).decode()


def test_put_correct_copy_verifies(synth, errors):
    c = synth.client()
    before = synth.stats()
    data = content("small/000004", 0, 16384)
    r = c.put_object(Bucket="dst", Key="t1/small/000004", Body=data, ContentMD5=md5_b64(data))
    assert r["ETag"].strip('"') == hashlib.md5(data).hexdigest()
    h = c.head_object(Bucket="dst", Key="t1/small/000004")
    assert h["ContentLength"] == 16384 and h["ETag"] == r["ETag"]
    assert c.get_object(Bucket="dst", Key="t1/small/000004")["Body"].read() == data
    after = synth.stats()
    assert after["bytes_verified"] - before["bytes_verified"] == 16384
    assert after["objects_verified"] - before["objects_verified"] == 1
    assert errors() == (0, [])
    keys = [o["Key"] for o in c.list_objects_v2(Bucket="dst", Prefix="t1/")["Contents"]]
    assert keys == ["t1/small/000004"]
    c.delete_object(Bucket="dst", Key="t1/small/000004")
    assert "Contents" not in c.list_objects_v2(Bucket="dst", Prefix="t1/")


def test_corrupted_byte_is_reported(synth, errors):
    c = synth.client()
    data = bytearray(content("small/000005", 0, 16384))
    data[1234] ^= 0x40
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket="dst", Key="t2/small/000005", Body=bytes(data))
    assert e.value.response["Error"]["Code"] == "BadDigest"
    assert "byte 1234" in e.value.response["Error"]["Message"]
    n, msgs = errors()
    assert n == 1 and "t2/small/000005" in msgs[0] and "byte 1234" in msgs[0]
    with pytest.raises(ClientError):
        c.head_object(Bucket="dst", Key="t2/small/000005")


def test_wrong_content_md5_is_reported(synth, errors):
    c = synth.client()
    data = content("small/000006", 0, 16384)
    with pytest.raises(ClientError) as e:
        c.put_object(Bucket="dst", Key="t3/small/000006", Body=data, ContentMD5=md5_b64(b"other"))
    assert e.value.response["Error"]["Code"] == "BadDigest"
    n, msgs = errors()
    assert n == 1 and "Content-MD5" in msgs[0]


def upload_parts(c, key, src, parts):
    """parts: [(number, offset, length)]; returns {number: etag}."""
    up = c.create_multipart_upload(Bucket="dst", Key=key)["UploadId"]
    tags = {}
    for n, off, ln in parts:
        body = content(src, off, ln)
        tags[n] = c.upload_part(Bucket="dst", Key=key, UploadId=up, PartNumber=n, Body=body,
                                ContentMD5=md5_b64(body))["ETag"]
    return up, tags


def test_multipart_copy_verifies_and_keeps_the_source_etag(synth, errors):
    c = synth.client()
    src = "large/000001"
    # the last part first: its place is found from its content
    up, tags = upload_parts(c, "t4/large/000001", src,
                            [(3, 16 * MiB, 4 * MiB), (1, 0, 8 * MiB), (2, 8 * MiB, 8 * MiB)])
    r = c.complete_multipart_upload(Bucket="dst", Key="t4/large/000001", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": tags[n]} for n in (1, 2, 3)]})
    src_etag = c.head_object(Bucket="src", Key=src)["ETag"]
    assert r["ETag"] == src_etag
    h = c.head_object(Bucket="dst", Key="t4/large/000001")
    assert h["ContentLength"] == 20 * MiB and h["ETag"] == src_etag
    assert errors() == (0, [])
    # another layout (5 MiB parts) of the same object is fine too
    up, tags = upload_parts(c, "t4b/large/000001", src,
                            [(i + 1, i * 5 * MiB, 5 * MiB) for i in range(4)])
    c.complete_multipart_upload(Bucket="dst", Key="t4b/large/000001", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": tags[n]} for n in (1, 2, 3, 4)]})
    assert errors() == (0, [])


def test_missing_part_is_reported(synth, errors):
    c = synth.client()
    up, tags = upload_parts(c, "t5/large/000002", "large/000002",
                            [(1, 0, 8 * MiB), (3, 16 * MiB, 4 * MiB)])
    with pytest.raises(ClientError) as e:
        c.complete_multipart_upload(Bucket="dst", Key="t5/large/000002", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": tags[n]} for n in (1, 3)]})
    assert "missing" in e.value.response["Error"]["Message"]
    n, msgs = errors()
    assert n == 1 and "missing" in msgs[0]
    # and the parts stop short of the end
    with pytest.raises(ClientError) as e:
        c.complete_multipart_upload(Bucket="dst", Key="t5/large/000002", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": tags[1]}]})
    assert "missing part(s) at the end" in e.value.response["Error"]["Message"]
    assert errors()[0] == 2
    uploads = c.list_multipart_uploads(Bucket="dst", Prefix="t5/")["Uploads"]
    assert [u["UploadId"] for u in uploads] == [up]
    assert [p["PartNumber"] for p in c.list_parts(Bucket="dst", Key="t5/large/000002", UploadId=up)["Parts"]] == [1, 3]
    c.abort_multipart_upload(Bucket="dst", Key="t5/large/000002", UploadId=up)
    assert "Uploads" not in c.list_multipart_uploads(Bucket="dst", Prefix="t5/")


def test_wrong_part_order_is_reported(synth, errors):
    c = synth.client()
    # listed out of order at Complete
    up, tags = upload_parts(c, "t6/odd/000000", "odd/000000", [(1, 0, 5 * MiB), (2, 5 * MiB, 9000001 - 5 * MiB)])
    with pytest.raises(ClientError) as e:
        c.complete_multipart_upload(Bucket="dst", Key="t6/odd/000000", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": tags[n]} for n in (2, 1)]})
    assert e.value.response["Error"]["Code"] == "InvalidPartOrder"
    assert errors()[0] == 1
    # the bytes of part 2 uploaded as part 1 (and part 1's as part 2)
    up = c.create_multipart_upload(Bucket="dst", Key="t6b/large/000000")["UploadId"]
    with pytest.raises(ClientError) as e:
        c.upload_part(Bucket="dst", Key="t6b/large/000000", UploadId=up, PartNumber=1,
                      Body=content("large/000000", 8 * MiB, 8 * MiB))
    assert e.value.response["Error"]["Code"] == "BadDigest"
    with pytest.raises(ClientError):
        c.upload_part(Bucket="dst", Key="t6b/large/000000", UploadId=up, PartNumber=2,
                      Body=content("large/000000", 0, 8 * MiB))
    n, msgs = errors()
    assert n == 3 and "UploadPart 1" in msgs[1] and "UploadPart 2" in msgs[2]
    c.abort_multipart_upload(Bucket="dst", Key="t6b/large/000000", UploadId=up)


def raw_request(port: int, head: bytes, body: bytes = b"", wait_continue: bool = False) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head)
        if wait_continue:
            got = s.recv(100)
            assert got.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), got
        s.sendall(body)
        out = b""
        while b"\r\n\r\n" not in out:
            out += s.recv(4096)
        return out


def test_expect_100_continue(synth, errors):
    data = content("small/000008", 0, 16384)
    head = (f"PUT /dst/t7/small/000008 HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n"
            "Expect: 100-continue\r\n\r\n").encode()
    out = raw_request(synth.port, head, data, wait_continue=True)
    assert out.startswith(b"HTTP/1.1 200 OK"), out
    # refused before the body: no 100, a final answer, the connection closes
    head = (b"PUT /src/small/000008 HTTP/1.1\r\nHost: x\r\nContent-Length: 16384\r\n"
            b"Expect: 100-continue\r\n\r\n")
    out = raw_request(synth.port, head)
    assert out.startswith(b"HTTP/1.1 403") and b"Connection: close" in out
    assert errors() == (0, [])


def test_latency_and_rate_limit(tmp_path):
    s = Synth(tmp_path, "--bucket", "src:x=1x4M", "--latency-ms", "150", "--rate-limit-mbps", "80")
    try:
        c = s.client()
        t0 = time.monotonic()
        c.head_object(Bucket="src", Key="x/000000")
        dt_head = time.monotonic() - t0
        t0 = time.monotonic()
        c.get_object(Bucket="src", Key="x/000000", Range="bytes=0-2999999")["Body"].read()
        dt_get = time.monotonic() - t0
    finally:
        s.stop()
    assert 0.15 <= dt_head < 1.0
    # 3 MB at 10 MB/s: 0.3 s (less the first burst) plus the latency
    assert 0.4 <= dt_get < 2.0, dt_get


# ---- whole tools against it ----

def synth_env(s: Synth, home: Path) -> dict:
    home.mkdir(exist_ok=True)
    return {"HOME": str(home), "AWS_ENDPOINT_URL_S3": s.url, "AWS_ACCESS_KEY_ID": "AKIDSRC",
            "AWS_SECRET_ACCESS_KEY": "whatever", "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(home / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"),
            "R2_ENDPOINT_URL": s.url, "R2_ACCESS_KEY_ID": "AKIDDST", "R2_SECRET_ACCESS_KEY": "whatever"}


@pytest.mark.parametrize("cls,checksum", [("small", "auto"), ("large", "auto"), ("odd", "none")])
def test_barge_copy_synth_to_synth_verifies(synth, errors, tmp_path, cls, checksum):
    before = synth.stats()
    r = run_barge(["copy", f"s3://src/{cls}", f"r2://dst/b-{cls}/{cls}", "--concurrency", "8",
                   "--part-size", "8M", "--progress", "none", "--checksum", checksum],
                  env=synth_env(synth, tmp_path / "home"), timeout=120)
    assert r.code == 0, r.stderr + r.stdout
    n = {"small": 25, "large": 3, "odd": 2}[cls]
    after = synth.stats()
    assert errors() == (0, [])
    assert after["objects_verified"] - before["objects_verified"] == n
    assert after["bytes_verified"] - before["bytes_verified"] == n * SIZES[cls]
    c = synth.client()
    got = {o["Key"]: o for o in c.list_objects_v2(Bucket="dst", Prefix=f"b-{cls}/")["Contents"]}
    assert sorted(got) == [f"b-{cls}/{k}" for k in keys_of(cls, n)]
    for k in keys_of(cls, n):   # barge reused the source's parts: same ETags
        assert got[f"b-{cls}/{k}"]["ETag"] == c.head_object(Bucket="src", Key=k)["ETag"]


def test_barge_reuses_connections_to_both_endpoints(tmp_path):
    """Source and destination on two servers, 2,000 small objects: every
    request barge may have in flight can keep its connection, so the
    servers see few connections (each counts its own), not the one per two
    or three requests of a connection cache too small for both endpoints."""
    src = Synth(tmp_path / "s", "--bucket", "src:small=2000x16K", "--quiet")
    dst = Synth(tmp_path / "d", "--bucket", "src:small=2000x16K", "--sink", "dst=src", "--quiet")
    try:
        env = dict(synth_env(src, tmp_path / "home"), R2_ENDPOINT_URL=dst.url)
        r = run_barge(["copy", "s3://src/small", "r2://dst/reuse/small", "--concurrency", "32",
                       "--progress", "none"], env=env, timeout=120)
        assert r.code == 0, r.stderr + r.stdout
        s, d = src.stats(), dst.stats()
        assert d["objects_verified"] == 2000 and d["errors"] == 0, d
        # GET per object on the source; PUT and HEAD per object on the sink
        assert s["requests"] >= 2000 and d["requests"] >= 4000, (s["requests"], d["requests"])
        # 32 GETs, 32 uploads, 32 control requests, one listing: at most
        # 65 connections to either side
        assert s["connections_total"] <= 65, s["connections_total"]
        assert d["connections_total"] <= 65, d["connections_total"]
    finally:
        src.stop()
        dst.stop()


@pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone not installed")
def test_rclone_copy_synth_to_synth_verifies(synth, errors, tmp_path):
    before = synth.stats()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    for name in ("SRC", "DST"):
        env.update({f"RCLONE_CONFIG_{name}_TYPE": "s3", f"RCLONE_CONFIG_{name}_PROVIDER": "Other",
                    f"RCLONE_CONFIG_{name}_ENV_AUTH": "false",
                    f"RCLONE_CONFIG_{name}_ACCESS_KEY_ID": "AKIDRCLONE",
                    f"RCLONE_CONFIG_{name}_SECRET_ACCESS_KEY": "whatever",
                    f"RCLONE_CONFIG_{name}_ENDPOINT": synth.url,
                    f"RCLONE_CONFIG_{name}_FORCE_PATH_STYLE": "true"})
    p = subprocess.run(["rclone", "--config", "/dev/null", "copy", "src:src/odd", "dst:dst/rc/odd",
                        "--s3-chunk-size", "5M", "--s3-upload-cutoff", "5M", "--transfers", "4",
                        "--no-check-dest", "--s3-no-check-bucket", "--stats", "0"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    p = subprocess.run(["rclone", "--config", "/dev/null", "copy", "src:src/small", "dst:dst/rc/small",
                        "--transfers", "8", "--no-check-dest", "--s3-no-check-bucket", "--stats", "0"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    after = synth.stats()
    assert errors() == (0, [])
    assert after["objects_verified"] - before["objects_verified"] == 27
    assert after["bytes_verified"] - before["bytes_verified"] == 2 * 9000001 + 25 * 16384


def test_relay_moves_and_verifies(synth, errors):
    p = subprocess.run([str(synth_bin()), "--relay", "--src", f"{synth.url}/src", "--dst", f"{synth.url}/dst",
                        "--objects", "large=3x20M@8M,small=25x16K", "--dst-prefix", "relay/",
                        "--concurrency", "4", "--part-size", "8M"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["objects"] == 28 and out["bytes"] == 3 * 20 * MiB + 25 * 16384 and out["failures"] == 0
    assert errors() == (0, [])
    c = synth.client()
    assert c.head_object(Bucket="dst", Key="relay/large/000002")["ETag"] == \
        c.head_object(Bucket="src", Key="large/000002")["ETag"]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_tls(synth, errors, tmp_path):
    import boto3
    from botocore.config import Config
    crt, key = tmp_path / "synth.crt", tmp_path / "synth.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(crt), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    s = Synth(tmp_path / "tls", "--bucket", f"src:{SPEC}", "--sink", "dst=src",
              "--tls-cert", str(crt), "--tls-key", str(key))
    try:
        url = s.url.replace("http://", "https://")
        c = boto3.client("s3", endpoint_url=url, region_name="us-east-1", verify=str(crt),
                         aws_access_key_id="AKIDTLS", aws_secret_access_key="x",
                         config=Config(s3={"addressing_style": "path"},
                                       retries={"max_attempts": 1, "mode": "standard"},
                                       request_checksum_calculation="when_required",
                                       response_checksum_validation="when_required"))
        assert [o["Key"] for o in c.list_objects_v2(Bucket="src", Prefix="odd/")["Contents"]] == \
            ["odd/000000", "odd/000001"]
        body = c.get_object(Bucket="src", Key="large/000000", Range="bytes=100-9000099")["Body"].read()
        assert body == content("large/000000", 100, 9000000)
        data = content("small/000001", 0, 16384)
        c.put_object(Bucket="dst", Key="tls/small/000001", Body=data, ContentMD5=md5_b64(data))
        bad = bytearray(data)
        bad[-1] ^= 1
        with pytest.raises(ClientError):
            c.put_object(Bucket="dst", Key="tls/small/000001", Body=bytes(bad))
        st = json.loads(subprocess.run(
            ["curl", "-s", "--cacert", str(crt), url + "/_synth/stats"],
            capture_output=True, text=True, check=True).stdout) if shutil.which("curl") else None
        if st is not None:
            assert st["errors"] == 1 and st["objects_verified"] == 1
        # barge reads the source over TLS (AWS_CA_BUNDLE) into the plain sink
        env = synth_env(synth, tmp_path / "home")
        env.update(AWS_ENDPOINT_URL_S3=url, AWS_CA_BUNDLE=str(crt))
        before = synth.stats()
        r = run_barge(["copy", "s3://src/large", "r2://dst/tls-barge/large", "--concurrency", "8",
                       "--part-size", "8M", "--progress", "none"], env=env, timeout=120)
        assert r.code == 0, r.stderr + r.stdout
        assert synth.stats()["bytes_verified"] - before["bytes_verified"] == 3 * 20 * MiB
        assert errors() == (0, [])
    finally:
        s.stop()
