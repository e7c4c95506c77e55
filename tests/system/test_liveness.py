"""Every run ends (issue 17): a stop or a fatal error at an awkward moment
must still end the run within seconds, and what the journal calls done must
be at the destination.  Each test here recreates one moment that once hung
barge for good; the schedule explorer (tests/explore/) hunts for the rest.

Checks go to the servers with boto3 and to the journal with sqlite3, never
through barge.
"""

from __future__ import annotations

import hashlib
import json
import re
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from conftest import barge_bin, empty_bucket, run_barge
from faultproxy import FaultProxy, Rule

MiB = 1 << 20
EXIT_INTERRUPTED = 130
# A first Ctrl-C ends a run within this many seconds (the stop's grace is 5 s).
STOP_BOUND_S = 8.0


def popen_env(servers, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "R2_", "BARGE_"))}
    env.update(servers.barge_env(**extra))
    return env


def signal_when(args, env, log: Path, reached, sig=signal.SIGINT, poll_s: float = 30):
    """Starts barge (stderr to log), sends it sig once reached() is true (or
    right away if it never is within poll_s), and returns (exit code,
    seconds from the signal to the exit; 0 when it had ended before)."""
    with open(log, "wb") as err:
        p = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err)
    end = time.monotonic() + poll_s
    while not reached() and p.poll() is None and time.monotonic() < end:
        time.sleep(0.02)
    if p.poll() is not None:
        return p.returncode, 0.0
    t = time.monotonic()
    p.send_signal(sig)
    try:
        code = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        pytest.fail(f"barge still ran 60 s after {sig.name}:\n" + log.read_text(errors="replace"))
    return code, time.monotonic() - t


def journal_rows(path: Path, state: int = 3) -> list:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("SELECT key, dst_key, size FROM objects WHERE state = ?",
                          (state,)).fetchall()
    finally:
        db.close()


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def assert_done_rows_at_destination(servers, b, journal: Path, sources: dict) -> int:
    """Every object the journal calls done is at the destination with its
    source's bytes; returns how many there are."""
    rows = journal_rows(journal)
    for key, dkey, size in rows:
        got = servers.dst.client.get_object(Bucket=b.dst, Key=dkey)["Body"].read()
        assert len(got) == size and md5(got) == md5(sources[key]), key
    return len(rows)


# ---- 1. a listing page in flight when Ctrl-C comes (the README demo's hang) --------

@pytest.mark.parametrize("journaled", [False, True], ids=["plain", "journal"])
def test_ctrl_c_with_a_listing_page_in_flight(servers, fresh_buckets, tmp_path, journaled):
    b = fresh_buckets
    for i in range(12):
        servers.src.client.put_object(Bucket=b.src, Key=f"k{i:02}", Body=b"x" * 100)
    # The first page comes 4 s late: the Ctrl-C lands while it is in flight.
    proxy = FaultProxy(servers.src.port, rules=[Rule("delay", ops=("list",))], delay_s=4)
    try:
        args = [str(barge_bin()), "copy", b.src_url, b.dst_url, "--progress", "none"]
        if journaled:
            args += ["--journal", str(tmp_path / "j")]
        code, took = signal_when(args, popen_env(servers, AWS_ENDPOINT_URL_S3=proxy.url),
                                 tmp_path / "err", lambda: proxy.ops["list"] >= 1)
    finally:
        proxy.close()
    err = (tmp_path / "err").read_text(errors="replace")
    # Before the fix the page arrived after the stop, queued 12 keys that
    # nobody would take, and the loop waited on them forever.
    assert took < 2.5, f"{took:.1f} s after Ctrl-C: it waited for the page\n{err}"
    assert code == EXIT_INTERRUPTED, err
    listed = servers.dst.client.list_objects_v2(Bucket=b.dst).get("KeyCount", 0)
    assert listed == 0


# ---- 2. the journal's disk fills up mid-run -----------------------------------------

def test_journal_disk_full_mid_run_ends_with_a_message(servers, fresh_buckets, tmp_path,
                                                         tmpfs_at):
    b = fresh_buckets
    sources = {f"obj/{i:04}": os.urandom(512) for i in range(600)}
    for k, v in sources.items():
        servers.src.client.put_object(Bucket=b.src, Key=k, Body=v)
    jdir = tmpfs_at(tmp_path / "jfs", "160k")
    journal = jdir / "j"
    t = time.monotonic()
    r = run_barge(["copy", b.src_url, b.dst_url, "--journal", str(journal), "--progress", "none",
                   "--concurrency", "4"], env=servers.barge_env(), timeout=120)
    took = time.monotonic() - t
    # Before the fix: the writer failed, objects waited for commits that
    # never came, and the loop spun until killed.
    assert r.code == 2, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert "journal" in last and ("space" in last.lower() or "full" in last.lower()), last
    n = assert_done_rows_at_destination(servers, b, journal, sources)
    assert n < len(sources), "the journal never filled: make the tmpfs smaller"
    # The journal stays a database a resume can use once there is room.
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    print(f"ended {took:.1f} s after start, {n} objects journaled done")


# ---- 3. Ctrl-C after a fatal error --------------------------------------------------

def test_ctrl_c_after_a_fatal_error(servers, fresh_buckets, tmp_path, tmpfs_at):
    """A download whose disk is full stops the run (fatal) while another
    object's GET is still arriving; Ctrl-C then comes too.  Before the fix
    the GET paused for a file write that was never started again."""
    b = fresh_buckets
    src = servers.src.client
    src.put_object(Bucket=b.src, Key="a-slow", Body=os.urandom(6 * MiB))
    src.put_object(Bucket=b.src, Key="b-big", Body=os.urandom(24 * MiB))
    out = tmpfs_at(tmp_path / "dl", "12M")
    proxy = FaultProxy(servers.src.port, slow_rate=1 << 20,
                       rules=[Rule("slow-body", ops=("get",), key="a-slow")])
    fatal_seen = tmp_path / "err"
    try:
        args = [str(barge_bin()), "copy", f"s3://{b.src}", str(out), "--progress", "none",
                "--part-size", "5M", "--concurrency", "2"]
        code, took = signal_when(
            args, popen_env(servers, AWS_ENDPOINT_URL_S3=proxy.url), fatal_seen,
            lambda: proxy.ops["get"] >= 1 and fatal_seen.stat().st_size > 0, poll_s=10)
    finally:
        proxy.close()
    err = fatal_seen.read_text(errors="replace")
    assert took < STOP_BOUND_S, f"{took:.1f} s after Ctrl-C\n{err}"
    assert code in (2, EXIT_INTERRUPTED), err
    assert "No space" in err or "enough free space" in err, err


# ---- 4. a ListMultipartUploads that never advances ----------------------------------

STUCK_UPLOADS = (
    b'<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult '
    b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><KeyMarker></KeyMarker>'
    b'<UploadIdMarker></UploadIdMarker><NextKeyMarker>big</NextKeyMarker>'
    b'<NextUploadIdMarker>same-every-time</NextUploadIdMarker><MaxUploads>1000</MaxUploads>'
    b'<IsTruncated>true</IsTruncated></ListMultipartUploadsResult>')


def xml_answer(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)


def test_resume_against_uploads_listing_that_never_advances(servers, fresh_buckets, tmp_path):
    """A resume lists the key's multipart uploads page by page; a server
    that answers "truncated, next: the same markers" was asked forever."""
    b = fresh_buckets
    servers.src.client.put_object(Bucket=b.src, Key="big", Body=os.urandom(16 * MiB))
    stuck = {"on": False}

    def answer(method, target):
        names = [q.partition("=")[0] for q in target.partition("?")[2].split("&")]
        if stuck["on"] and method == "GET" and "uploads" in names:
            return xml_answer(STUCK_UPLOADS)
        return None

    proxy = FaultProxy(servers.dst.port, rules=[], answer=answer)
    journal = tmp_path / "j"
    env = popen_env(servers, R2_ENDPOINT_URL=proxy.url)
    try:
        args = [str(barge_bin()), "copy", b.src_url, b.dst_url, "--journal", str(journal),
                "--part-size", "5M", "--concurrency", "1", "--bwlimit", "3M", "--progress", "none"]
        code, _ = signal_when(args, env, tmp_path / "run1.err",
                              lambda: proxy.ops["upload-part"] >= 2, sig=signal.SIGKILL)
        assert code == -signal.SIGKILL
        stuck["on"] = True
        t = time.monotonic()
        r = subprocess.run([str(barge_bin()), "resume", str(journal), "--progress", "none"],
                           env=env, capture_output=True, text=True, timeout=60)
        took = time.monotonic() - t
    finally:
        proxy.close()
    assert r.returncode == 1, r.stderr
    assert "does not advance" in r.stderr, r.stderr
    assert proxy.ops["list-uploads"] <= 3, proxy.ops
    print(f"resume ended in {took:.1f} s")


# ---- 5. a listing page larger than the queue's room --------------------------------

def list_page(keys, token=None) -> bytes:
    items = "".join(f"<Contents><Key>{k}</Key><LastModified>2025-01-01T00:00:00.000Z"
                    f"</LastModified><ETag>&quot;0123456789abcdef0123456789abcdef&quot;</ETag>"
                    f"<Size>1</Size></Contents>" for k in keys)
    more = (f"<IsTruncated>true</IsTruncated><NextContinuationToken>{token}"
            f"</NextContinuationToken>" if token else "<IsTruncated>false</IsTruncated>")
    return xml_answer(('<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns='
                       '"http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix>'
                       f'<KeyCount>{len(keys)}</KeyCount><MaxKeys>1000</MaxKeys>{more}{items}'
                       '</ListBucketResult>').encode())


def test_listing_page_over_max_keys_is_an_error_not_a_crash(servers, fresh_buckets, tmp_path):
    """barge lists the next page once 1,000 keys fit in its queue; a page
    of more keys than that (a server ignoring max-keys) hit an assertion."""
    b = fresh_buckets

    def answer(method, target):
        if method != "GET" or "list-type=2" not in target:
            return None
        if "continuation-token=" in target:
            return list_page([f"g/{i:05}" for i in range(1500)])
        return list_page([f"f/{i:05}" for i in range(3500)], token="t1")

    proxy = FaultProxy(servers.src.port, rules=[], answer=answer)
    try:
        r = run_barge(["copy", b.src_url, b.dst_url, "--concurrency", "1", "--retries", "1",
                       "--progress", "none"],
                      env=servers.barge_env(AWS_ENDPOINT_URL_S3=proxy.url), timeout=120)
    finally:
        proxy.close()
    assert r.code == 2, r.stderr[-2000:]
    assert "more than the 1000 keys asked for" in r.stderr.strip().splitlines()[-1], r.stderr[-2000:]


def test_listing_token_that_does_not_advance_is_an_error_not_a_loop(servers, fresh_buckets):
    """A server that answers a continuation token with the same token would
    be listed forever (engine/lister.c): the run stops with exit 2."""
    b = fresh_buckets

    def answer(method, target):
        if method != "GET" or "list-type=2" not in target:
            return None
        return list_page([], token="t1")

    proxy = FaultProxy(servers.src.port, rules=[], answer=answer)
    try:
        r = run_barge(["copy", b.src_url, b.dst_url, "--progress", "none"],
                      env=servers.barge_env(AWS_ENDPOINT_URL_S3=proxy.url), timeout=60)
    finally:
        proxy.close()
    assert r.code == 2, r.stderr[-2000:]
    assert "same continuation token twice" in r.stderr.strip().splitlines()[-1], r.stderr[-2000:]
    assert proxy.ops["list"] == 2, proxy.ops


def test_listing_refused_names_the_keys_to_check(servers, fresh_buckets):
    """A 403 on the source's listing says which keys to check, as the
    audit's listing does (engine/run.c, bg_s3_explain)."""
    b = fresh_buckets
    servers.src.client.put_object(Bucket=b.src, Key="k", Body=b"v")
    proxy = FaultProxy(servers.src.port, rules=[Rule("403", ops=("list",))])
    try:
        r = run_barge(["copy", b.src_url, b.dst_url, "--progress", "none"],
                      env=servers.barge_env(AWS_ENDPOINT_URL_S3=proxy.url), timeout=60)
    finally:
        proxy.close()
    assert r.code == 2, r.stderr[-2000:]
    line = r.stderr.strip().splitlines()[-1]
    assert "denies access" in line and "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY" in line, line


# ---- 6. a listing page that fails to parse is counted once --------------------------

def test_listing_page_read_again_is_counted_once(servers, fresh_buckets, tmp_path):
    """xml.c checks a whole page before it delivers a key, so a cut page
    delivers none; a page stopped by the queue's room (test 5) delivers
    some, and those are taken back with their counts."""
    b = fresh_buckets
    for i in range(5):
        servers.src.client.put_object(Bucket=b.src, Key=f"k{i}", Body=b"v")
    cut = {"left": 1}

    def rewrite(method, target, resp):
        if method != "GET" or "list-type=2" not in target or not cut["left"]:
            return resp
        cut["left"] -= 1
        head, _, body = resp.partition(b"\r\n\r\n")
        at = body.index(b"</Contents>", body.index(b"<Key>k2</Key>")) + len(b"</Contents>")
        body = body[:at] + b"<Contents><Key>k3"  # keys 0-2 whole, then cut
        head = re.sub(rb"(?i)content-length: *\d+", f"Content-Length: {len(body)}".encode(), head)
        return head + b"\r\n\r\n" + body

    proxy = FaultProxy(servers.src.port, rules=[], rewrite=rewrite)
    try:
        r = run_barge(["copy", b.src_url, b.dst_url, "--progress", "json"],
                      env=servers.barge_env(AWS_ENDPOINT_URL_S3=proxy.url))
    finally:
        proxy.close()
    assert r.code == 0, r.stderr
    assert proxy.ops["list"] == 2, proxy.ops  # the cut page was read again
    ticks = [json.loads(l) for l in r.stdout.splitlines() if '"type":"progress"' in l]
    assert ticks and ticks[-1]["listed_objects"] == 5, ticks[-1:]


# ---- 7. refusals that are about the whole copy, not one object -----------------------

@pytest.mark.parametrize("fault,side,says", [
    ("403", "dst", "denies access"),
    ("404-bucket", "src", "does not exist"),
], ids=["dst-access-denied", "src-bucket-gone"])
def test_whole_copy_refusal_stops_the_run_with_one_line(servers, fresh_buckets, tmp_path,
                                                         fault, side, says):
    """Keys revoked or a bucket deleted mid-run: every object failed, one
    line each, and the run exited 1 ("some objects failed")."""
    b = fresh_buckets
    for i in range(20):
        servers.src.client.put_object(Bucket=b.src, Key=f"k{i:02}", Body=b"v" * 2000)
    ops = ("put", "upload-part", "create") if side == "dst" else ("get", "head")
    ep = servers.dst if side == "dst" else servers.src
    proxy = FaultProxy(ep.port, rules=[Rule(fault, ops=ops)])
    var = "R2_ENDPOINT_URL" if side == "dst" else "AWS_ENDPOINT_URL_S3"
    try:
        r = run_barge(["copy", b.src_url, b.dst_url, "--concurrency", "2", "--progress", "none"],
                      env=servers.barge_env(**{var: proxy.url}), timeout=120)
    finally:
        proxy.close()
    assert r.code == 2, r.stderr
    lines = [l for l in r.stderr.strip().splitlines() if l.startswith("barge: ")]
    assert says in lines[-1], r.stderr
    assert len([l for l in lines if "failed:" in l]) < 20, r.stderr
