"""An object's states (engine/copy_state.c): `--log-level debug` traces
every change as `KEY: FROM => TO`; the path of a copy is the one the table
describes (docs/architecture.md, "One object's path").  The destination is
read back with boto3."""

from __future__ import annotations

import hashlib
import os
import re

MiB = 1 << 20
STATE = re.compile(r" debug state (\S+): (\w+) => (\w+)$")


def paths(stderr: str) -> dict:
    out: dict = {}
    for line in stderr.splitlines():
        m = STATE.search(line)
        if m:
            key, a, b = m.groups()
            out.setdefault(key, [a]).append(b)
    return out


def test_debug_traces_each_objects_path(servers, fresh_buckets, barge):
    b = fresh_buckets
    small, big = b"small bytes", os.urandom(11 * MiB)
    servers.src.client.put_object(Bucket=b.src, Key="s", Body=small)
    servers.src.client.put_object(Bucket=b.src, Key="big", Body=big)
    r = barge(["copy", b.src_url, b.dst_url, "--part-size", "5M", "--log-level", "debug",
               "--progress", "none"])
    assert r.code == 0, r.stderr
    p = paths(r.stderr)
    assert p["s"] == ["FREE", "ADMIT", "SMALL", "VERIFY", "PROVED", "FREE"], p
    # a single-part source above the part size: HEAD, then parts; without
    # a journal the key's uploads are swept once it is done
    assert p["big"] == ["FREE", "ADMIT", "HEAD", "CREATE", "PARTS", "COMPLETE", "VERIFY",
                        "SWEEP", "PROVED", "FREE"], p
    got = servers.dst.client.get_object(Bucket=b.dst, Key="big")["Body"].read()
    assert hashlib.md5(got).digest() == hashlib.md5(big).digest()


def test_no_trace_below_debug(servers, fresh_buckets, barge):
    b = fresh_buckets
    servers.src.client.put_object(Bucket=b.src, Key="s", Body=b"x")
    r = barge(["copy", b.src_url, b.dst_url, "--log-level", "info", "--progress", "none"])
    assert r.code == 0, r.stderr
    assert not paths(r.stderr) and " info object_done s" in r.stderr, r.stderr
