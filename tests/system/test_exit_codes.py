"""barge's exit codes beside each other (docs/output.md), each checked with
the journal's record of it and with boto3:

  130 / 143  a copy interrupted by SIGINT / SIGTERM; runs.exit_code says the
             same, and `barge resume` completes the copy
  75         another process holds the journal (a second barge, or any
             flock), for copy, resume and audit; and a source that cannot be
             reached (a closed port, --retries 1): nothing is written
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import sqlite3
import time

import pytest

from conftest import run_barge
from meterproxy import MeterProxy
from test_journal import (assert_same_objects, listing, logs, ok, popen_env, start_barge,
                          uploads, wait_for)

MiB = 1 << 20


def runs(journal) -> list:
    con = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        return [r for r in con.execute("SELECT exit_code, ended_at IS NOT NULL FROM runs"
                                       " ORDER BY id")]
    finally:
        con.close()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                      # nothing listens there any more
    return port


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_copy_exits_128_plus_the_signal(servers, fresh_buckets, tmp_path, sig,
                                                     code):
    b = fresh_buckets
    want = {"d/big": os.urandom(24 * MiB), "d/small": b"s" * 1000}
    for k, v in want.items():
        servers.src.client.put_object(Bucket=b.src, Key=k, Body=v)
    journal = tmp_path / "j"
    proxy = MeterProxy(servers.dst.port, rate=4 * MiB)       # 6 s for the big one
    try:
        env = popen_env(servers, R2_ENDPOINT_URL=proxy.url)
        p = start_barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/d", "--journal", journal,
                         "--part-size", "5M", "--progress", "none"], env, tmp_path, "run1")
        wait_for(lambda: proxy.put_bytes() >= 6 * MiB or p.poll() is not None, 30,
                 "a part on its way")
        assert p.poll() is None, "the copy ended before the signal:\n" + logs(p)
        p.send_signal(sig)
        assert p.wait(timeout=30) == code, logs(p)
        assert "interrupted" in logs(p)
        assert runs(journal) == [(code, 1)]
        proxy.rate = None
        r = run_barge(["resume", journal], env=servers.barge_env(R2_ENDPOINT_URL=proxy.url),
                      timeout=120)
    finally:
        proxy.close()
    assert r.code == 0, ok(r)
    assert runs(journal) == [(code, 1), (0, 1)]
    assert_same_objects(servers.dst.client, b.dst, want)
    assert uploads(servers.dst.client, b.dst) == []


def test_journal_held_by_another_process_exits_75(servers, fresh_buckets, tmp_path):
    b = fresh_buckets
    servers.src.client.put_object(Bucket=b.src, Key="d/a", Body=b"a" * 100)
    journal = tmp_path / "j"
    r = run_barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/d", "--journal", journal],
                  env=servers.barge_env(), timeout=60)
    assert r.code == 0, ok(r)
    servers.src.client.put_object(Bucket=b.src, Key="d/b", Body=b"b" * 100)
    fd = os.open(journal, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)        # as a running barge does
        for args in (["copy", f"s3://{b.src}/d", f"r2://{b.dst}/d", "--journal", journal],
                     ["resume", journal],
                     ["audit", f"s3://{b.src}/d", f"r2://{b.dst}/d", "--journal", journal]):
            r = run_barge(args, env=servers.barge_env(), timeout=60)
            assert r.code == 75, f"{args[0]}: " + ok(r)
            assert "in use" in r.stderr and str(journal) in r.stderr, r.stderr
    finally:
        os.close(fd)
    assert sorted(listing(servers.dst.client, b.dst)) == ["d/a"]
    assert runs(journal) == [(0, 1)]
    # the lock gone, the same command goes on
    r = run_barge(["resume", journal], env=servers.barge_env(), timeout=60)
    assert r.code == 0, ok(r)
    assert sorted(listing(servers.dst.client, b.dst)) == ["d/a", "d/b"]


def test_unreachable_source_exits_75(servers, fresh_buckets, tmp_path):
    b = fresh_buckets
    journal = tmp_path / "j"
    env = servers.barge_env(AWS_ENDPOINT_URL_S3=f"http://127.0.0.1:{closed_port()}")
    t0 = time.monotonic()
    r = run_barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/d", "--retries", "1",
                   "--journal", journal, "--progress", "none"], env=env, timeout=120)
    assert r.code == 75, ok(r)
    assert "listing the source failed after 1 attempt" in r.stderr and "temporary" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 60
    assert runs(journal) == [(75, 1)]
    assert listing(servers.dst.client, b.dst) == {}
    assert uploads(servers.dst.client, b.dst) == []
