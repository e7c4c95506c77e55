"""The journal never says "done" for what the destination lacks (issue 17):
one test per way a run once did, or once failed where it had no reason to.
Every check reads the servers with boto3, the files with Python and the
journal with sqlite3, never through barge.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import sqlite3
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

from conftest import barge_bin, run_barge
from faultproxy import FaultProxy, Rule

MiB = 1 << 20
PARTIAL_RE = re.compile(r"^\.barge\.[0-9a-f]{16}\.partial$")


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def popen_env(servers, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "R2_", "BARGE_"))}
    env.update(servers.barge_env(**extra))
    return env


def jquery(journal: Path, sql: str, args=()) -> list:
    try:
        db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()
    except sqlite3.OperationalError:
        return []  # not made yet


def kill_once(args, env, log: Path, reached, timeout=60) -> None:
    """Starts barge, kill -9 once reached() holds; asserts it was running."""
    with open(log, "wb") as err:
        p = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err)
    end = time.monotonic() + timeout
    while not reached() and p.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    assert p.poll() is None, "ended before the kill:\n" + log.read_text(errors="replace")
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)


# ---- item 5: the folder marker at the source prefix -----------------------------

@pytest.mark.parametrize("to", ["bucket", "dir"])
def test_folder_marker_at_the_source_prefix(servers, fresh_buckets, tmp_path, barge, to):
    """`data/` (what consoles make for a folder) when copying s3://b/data:
    it became the empty key: a PUT of the destination bucket itself with no
    destination prefix, a file without a name for a download."""
    b = fresh_buckets
    src = servers.src.client
    src.put_object(Bucket=b.src, Key="data/", Body=b"")
    src.put_object(Bucket=b.src, Key="data/x", Body=b"x-bytes")
    src.put_object(Bucket=b.src, Key="data/sub/", Body=b"")  # a marker below: an object
    dst = b.dst_url if to == "bucket" else str(tmp_path / "dl")
    r = barge(["copy", f"s3://{b.src}/data", dst, "--progress", "none"])
    assert r.code == 0, r.stderr
    assert "folder marker" in r.stderr
    if to == "bucket":
        got = {o["Key"]: o["Size"] for o in
               servers.dst.client.list_objects_v2(Bucket=b.dst).get("Contents", [])}
        assert got == {"x": 7, "sub/": 0}
        a = barge(["audit", f"s3://{b.src}/data", b.dst_url])
        assert a.code == 0, a.stdout + a.stderr
    else:
        assert (tmp_path / "dl" / "x").read_bytes() == b"x-bytes"
        assert os.listdir(tmp_path / "dl") == ["x"]  # markers below are skipped too


# ---- item 8: a resumed download whose temporary file is gone ---------------------

def test_resumed_download_without_its_temporary_file_is_copied_anew(
        servers, fresh_buckets, tmp_path):
    """The journal has every part of a download, its temporary file is gone,
    and a stale file of the same size stands at the name.  The resume took
    a stat of the right size as proof and called it done."""
    b = fresh_buckets
    data = os.urandom(12 * MiB)
    servers.src.client.put_object(Bucket=b.src, Key="big", Body=data)
    out, journal = tmp_path / "dl", tmp_path / "j"
    args = [str(barge_bin()), "copy", f"s3://{b.src}", str(out), "--journal", str(journal),
            "--part-size", "5M", "--concurrency", "1", "--bwlimit", "2M", "--progress", "none"]
    kill_once(args, popen_env(servers), tmp_path / "run1.err",
              lambda: jquery(journal, "SELECT 1 FROM objects WHERE state = 2"))
    # What a kill between the last part and the rename leaves in the
    # journal: every part uploaded (docs/journal.md, `parts`).
    (oid, nparts, ps), = jquery(journal, "SELECT id, nparts, part_size FROM objects")
    db = sqlite3.connect(journal)
    for n in range(1, nparts + 1):
        off = (n - 1) * ps
        db.execute("INSERT OR REPLACE INTO parts (object_id, number, \"offset\", length, xxh3,"
                   " etag, crc32c, state, attempts, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0,"
                   " 'uploaded', 1, 0)", (oid, n, off, min(ps, len(data) - off), "0" * 32, "0" * 32))
    db.commit()
    db.close()
    for name in os.listdir(out):
        if PARTIAL_RE.match(name):
            os.unlink(out / name)
    (out / "big").write_bytes(os.urandom(len(data)))  # stale, same size
    r = run_barge(["resume", str(journal), "--bwlimit", "0"], env=servers.barge_env())
    assert r.code == 0, r.stderr
    assert md5((out / "big").read_bytes()) == md5(data), "the stale file was called done"


# ---- item 8: a local file rewritten with its size and mtime kept ------------------

def test_upload_resumed_after_cp_p_starts_over(servers, fresh_buckets, tmp_path):
    """`cp -p` rewrites a file in place and gives it back its mtime: same
    size, same mtime, same inode.  A resume continued the upload and mixed
    the old file's parts with the new one's."""
    b = fresh_buckets
    tree = tmp_path / "tree"
    tree.mkdir()
    f = tree / "ckpt.bin"
    old = os.urandom(16 * MiB)
    f.write_bytes(old)
    journal = tmp_path / "j"
    args = [str(barge_bin()), "copy", str(tree), b.dst_url, "--journal", str(journal),
            "--part-size", "5M", "--concurrency", "1", "--bwlimit", "3M", "--progress", "none"]
    kill_once(args, popen_env(servers), tmp_path / "run1.err",
              lambda: jquery(journal, "SELECT 1 FROM parts WHERE state = 'uploaded'"))
    st = f.stat()
    new = os.urandom(len(old))
    with open(f, "r+b") as w:  # in place, as cp -p does
        w.write(new)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert f.stat().st_mtime_ns == st.st_mtime_ns and f.stat().st_size == st.st_size
    r = run_barge(["resume", str(journal), "--bwlimit", "0"], env=servers.barge_env())
    assert r.code == 0, r.stderr
    got = servers.dst.client.get_object(Bucket=b.dst, Key="ckpt.bin")["Body"].read()
    assert md5(got) == md5(new), "old parts mixed into the new file"


# ---- item 4: SSE-KMS and SSE-C sources, whose ETags are not MD5s ------------------

class KmsFace:
    """Makes some source objects look SSE-KMS encrypted, as AWS serves them:
    an ETag that is not the MD5 of the bytes (here: another hex string of the
    same shape, in HEAD, GET and listing answers) and the header
    x-amz-server-side-encryption: aws:kms.  If-Match comes back translated."""

    def __init__(self, real_etags: dict):
        self.fake = {}
        for key, e in real_etags.items():
            hexpart, dash, n = e.partition("-")
            self.fake[key] = hashlib.md5(b"kms" + hexpart.encode()).hexdigest() + dash + n
        self.real = {v: real_etags[k] for k, v in self.fake.items()}

    def request(self, method, target, head):
        for f, e in self.real.items():
            head = head.replace(f'If-Match: "{f}"'.encode(), f'If-Match: "{e}"'.encode())
        return head

    def rewrite(self, method, target, resp):
        head, sep, body = resp.partition(b"\r\n\r\n")
        key = urllib.parse.unquote(target.partition("?")[0].split("/", 2)[-1])
        for k, f in self.fake.items():
            real = self.real[f].encode()
            if "list-type=2" in target:
                body = body.replace(real, f.encode())
            elif key == k:
                head = head.replace(real, f.encode())
                head += b"\r\nx-amz-server-side-encryption: aws:kms"
        return head + sep + body


@pytest.mark.parametrize("cksum", ["crc32c", "md5"])
def test_sse_kms_sources_copy_once_and_verify(servers, fresh_buckets, tmp_path, cksum):
    """A single-part SSE-KMS object failed as 'content differs' (or, with
    MD5, 'bytes read do not match the source ETag' after every retry); a
    multipart one copied with the source's layout never matched the
    source's ETag and was copied a second time."""
    b = fresh_buckets
    src = servers.src.client
    small = os.urandom(300 * 1024)
    src.put_object(Bucket=b.src, Key="kms/small", Body=small)
    big = os.urandom(12 * MiB)
    up = src.create_multipart_upload(Bucket=b.src, Key="kms/big")["UploadId"]
    parts = []
    for n, off in enumerate(range(0, len(big), 5 * MiB), 1):
        e = src.upload_part(Bucket=b.src, Key="kms/big", UploadId=up, PartNumber=n,
                            Body=big[off:off + 5 * MiB])["ETag"]
        parts.append({"PartNumber": n, "ETag": e})
    src.complete_multipart_upload(Bucket=b.src, Key="kms/big", UploadId=up,
                                  MultipartUpload={"Parts": parts})
    real = {k: src.head_object(Bucket=b.src, Key=k)["ETag"].strip('"')
            for k in ("kms/small", "kms/big")}
    face = KmsFace(real)
    proxy = FaultProxy(servers.src.port, rules=[], rewrite=face.rewrite, request=face.request)
    try:
        r = run_barge(["copy", b.src_url, b.dst_url, "--part-size", "5M", "--checksum", cksum,
                       "--progress", "none"],
                      env=servers.barge_env(AWS_ENDPOINT_URL_S3=proxy.url), timeout=120)
    finally:
        proxy.close()
    assert r.code == 0, r.stderr
    dst = servers.dst.client
    assert md5(dst.get_object(Bucket=b.dst, Key="kms/small")["Body"].read()) == md5(small)
    assert md5(dst.get_object(Bucket=b.dst, Key="kms/big")["Body"].read()) == md5(big)
    # Read once: one GET for the small object, one per part of the big one.
    assert proxy.ops["get"] == 1 + 3, proxy.ops


# ---- item 6: multipart uploads nobody would ever abort ------------------------------

def open_uploads(client, bucket: str) -> list:
    return [(u["Key"], u["UploadId"]) for u in
            client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


@pytest.mark.parametrize("how", ["deleted", "excluded"])
def test_resume_aborts_uploads_of_keys_no_longer_listed(servers, fresh_buckets, tmp_path, how):
    """A run is killed with a multipart upload open; before the resume the
    key is deleted at the source (or excluded).  The resume never looked at
    the key again, and the upload stayed open for good."""
    b = fresh_buckets
    src = servers.src.client
    src.put_object(Bucket=b.src, Key="big", Body=os.urandom(16 * MiB))
    src.put_object(Bucket=b.src, Key="keep", Body=b"keep me")
    journal = tmp_path / "j"
    args = [str(barge_bin()), "copy", b.src_url, b.dst_url, "--journal", str(journal),
            "--part-size", "5M", "--concurrency", "1", "--bwlimit", "3M", "--progress", "none"]
    kill_once(args, popen_env(servers), tmp_path / "run1.err",
              lambda: jquery(journal, "SELECT 1 FROM parts WHERE state = 'uploaded'"))
    assert [k for k, _ in open_uploads(servers.dst.client, b.dst)] == ["big"]
    extra = []
    if how == "deleted":
        src.delete_object(Bucket=b.src, Key="big")
    else:
        extra = ["--exclude", "big"]
    r = run_barge(["resume", str(journal), "--bwlimit", "0", *extra], env=servers.barge_env())
    assert r.code == 0, r.stderr
    assert open_uploads(servers.dst.client, b.dst) == []
    assert "no longer listed" in r.stderr, r.stderr
    assert jquery(journal, "SELECT key FROM objects WHERE state IN (1, 2)") == []
    assert servers.dst.client.get_object(Bucket=b.dst, Key="keep")["Body"].read() == b"keep me"


def test_failed_object_aborts_the_upload_whose_create_answer_was_lost(
        servers, fresh_buckets, tmp_path):
    """CreateMultipartUpload made an upload but its answer was cut, so barge
    asked again and got a second one; the object then failed.  Its own
    upload was aborted, the first stayed open."""
    b = fresh_buckets
    servers.src.client.put_object(Bucket=b.src, Key="big", Body=os.urandom(11 * MiB))
    proxy = FaultProxy(servers.dst.port, rules=[Rule("truncate", ops=("create",), limit=1),
                                                Rule("500", ops=("upload-part",))])
    try:
        r = run_barge(["copy", b.src_url, b.dst_url, "--part-size", "5M", "--retries", "2",
                       "--progress", "none"],
                      env=servers.barge_env(R2_ENDPOINT_URL=proxy.url), timeout=120)
    finally:
        proxy.close()
    assert r.code == 1, r.stderr
    assert proxy.counts["truncate"] == 1 and proxy.ops["create"] == 2, proxy.ops
    assert open_uploads(servers.dst.client, b.dst) == [], (proxy.ops, r.stderr)


# ---- a single-part source copied in parts: its bytes against its ETag -------------

@pytest.mark.parametrize("cksum", ["crc32c", "none"])
def test_single_part_source_read_in_parts_is_checked_whole(servers, fresh_buckets, tmp_path,
                                                           cksum):
    """A single-part source above the part size is read in ranged GETs and
    sent in parts; its ETag (the MD5 of all its bytes) matches no
    destination ETag.  A GET damaged on the way (same length) was uploaded,
    completed and journaled done: found by the schedule explorer."""
    b = fresh_buckets
    data = os.urandom(12 * MiB + 5)
    servers.src.client.put_object(Bucket=b.src, Key="one", Body=data)
    proxy = FaultProxy(servers.src.port, rules=[Rule("corrupt-body", ops=("get",), limit=1)])
    journal = tmp_path / "j"
    try:
        r = run_barge(["copy", b.src_url, b.dst_url, "--part-size", "5M", "--checksum", cksum,
                       "--journal", str(journal), "--progress", "none"],
                      env=servers.barge_env(AWS_ENDPOINT_URL_S3=proxy.url), timeout=120)
    finally:
        proxy.close()
    assert proxy.counts["corrupt-body"] == 1
    assert r.code == 0, r.stderr
    got = servers.dst.client.get_object(Bucket=b.dst, Key="one")["Body"].read()
    assert md5(got) == md5(data), "damaged bytes reached the destination and were called done"
    assert proxy.ops["get"] == 6, proxy.ops  # three parts, read twice


def test_single_part_source_resumes_its_parts_and_its_md5(servers, fresh_buckets, tmp_path):
    """The whole-object MD5 of a single-part source goes on from the state
    the journal keeps, so a resume sends only the parts after it."""
    b = fresh_buckets
    data = os.urandom(16 * MiB + 77)
    servers.src.client.put_object(Bucket=b.src, Key="one", Body=data)
    journal = tmp_path / "j"
    proxy = FaultProxy(servers.dst.port, rules=[])
    env = popen_env(servers, R2_ENDPOINT_URL=proxy.url)
    try:
        args = [str(barge_bin()), "copy", b.src_url, b.dst_url, "--journal", str(journal),
                "--part-size", "5M", "--concurrency", "1", "--bwlimit", "3M", "--progress", "none"]
        kill_once(args, env, tmp_path / "run1.err",
                  lambda: jquery(journal, "SELECT 1 FROM objects WHERE whole_parts >= 2"))
        kept = jquery(journal, "SELECT whole_parts FROM objects")[0][0]
        before = proxy.ops["upload-part"]
        r = subprocess.run([str(barge_bin()), "resume", str(journal), "--bwlimit", "0"], env=env,
                           capture_output=True, text=True, timeout=120)
        sent = proxy.ops["upload-part"] - before
    finally:
        proxy.close()
    assert r.returncode == 0, r.stderr
    got = servers.dst.client.get_object(Bucket=b.dst, Key="one")["Body"].read()
    assert md5(got) == md5(data)
    assert sent <= 4 - kept, f"{sent} parts sent again with {kept} of 4 kept"


def test_multipart_source_read_damaged_twice_is_read_again_with_its_layout(
        servers, fresh_buckets, tmp_path):
    """A multipart source copied with its own part layout is proved by the
    destination's ETag.  When that did not match, barge went on with parts
    of its own, which prove nothing about the source: a second damaged
    read was called done (found by the schedule explorer)."""
    from test_copy import upload_multipart
    b = fresh_buckets
    data = os.urandom(15 * MiB + 9)
    upload_multipart(servers.src.client, b.src, "mp", data, [5 * MiB] * 4)
    gets = {"n": 0, "damaged": 0}

    def damage_first_part(method, target, resp):
        # one byte of part 1 inverted, in the first read and in the next
        if method != "GET" or "?" in target:
            return resp
        gets["n"] += 1
        head, sep, body = resp.partition(b"\r\n\r\n")
        if b"bytes 0-" in head and gets["damaged"] < 2:
            gets["damaged"] += 1
            body = body[:100] + bytes([body[100] ^ 0xFF]) + body[101:]
        return head + sep + body

    proxy = FaultProxy(servers.src.port, rules=[], rewrite=damage_first_part)
    try:
        r = run_barge(["copy", b.src_url, b.dst_url, "--part-size", "5M", "--concurrency", "1",
                       "--progress", "none"],
                      env=servers.barge_env(AWS_ENDPOINT_URL_S3=proxy.url), timeout=120)
    finally:
        proxy.close()
    assert gets["damaged"] == 2
    assert r.code == 0, r.stderr
    dst = servers.dst.client
    assert md5(dst.get_object(Bucket=b.dst, Key="mp")["Body"].read()) == md5(data)
    src_etag = servers.src.client.head_object(Bucket=b.src, Key="mp")["ETag"]
    assert dst.head_object(Bucket=b.dst, Key="mp")["ETag"] == src_etag  # its own layout
