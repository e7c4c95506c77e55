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
PART = re.compile(r" debug state (\S+) part (\d+): (\w+) => (\w+)$")
# The parts' table as docs/architecture.md states it.
PART_NEXT = {"FREE": {"GET"}, "GET": {"GET", "HASH", "READY", "PUT", "FREE"},
             "HASH": {"GET", "READY", "FREE"}, "READY": {"PUT", "FREE"},
             "PUT": {"PUT", "HOLD", "FREE"}, "HOLD": {"FREE"}}


def paths(stderr: str) -> dict:
    out: dict = {}
    for line in stderr.splitlines():
        m = STATE.search(line)
        if m:
            key, a, b = m.groups()
            out.setdefault(key, [a]).append(b)
    return out


def part_paths(stderr: str) -> dict:
    """(key, part) -> [phases]; a slot used again for the same part (a
    retry after a failure) would continue its list."""
    out: dict = {}
    for line in stderr.splitlines():
        m = PART.search(line)
        if m:
            key, n, a, b = m.groups()
            seq = out.setdefault((key, int(n)), [a])
            assert seq[-1] == a, (key, n, seq, a)
            seq.append(b)
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
    # s's one part and each of big's three: read, hashed, uploaded, the
    # slot freed (big's parts are held until the whole object's MD5 has
    # their bytes)
    pp = part_paths(r.stderr)
    assert sorted(pp) == [("big", 1), ("big", 2), ("big", 3), ("s", 1)], pp
    assert all("HOLD" in pp[("big", n)] for n in (1, 2, 3)), pp
    for seq in pp.values():
        assert seq[:2] == ["FREE", "GET"] and seq[-1] == "FREE" and "PUT" in seq, pp
        assert all(b in PART_NEXT[a] for a, b in zip(seq, seq[1:])), pp
    got = servers.dst.client.get_object(Bucket=b.dst, Key="big")["Body"].read()
    assert hashlib.md5(got).digest() == hashlib.md5(big).digest()


def test_no_trace_below_debug(servers, fresh_buckets, barge):
    b = fresh_buckets
    servers.src.client.put_object(Bucket=b.src, Key="s", Body=b"x")
    r = barge(["copy", b.src_url, b.dst_url, "--log-level", "info", "--progress", "none"])
    assert r.code == 0, r.stderr
    assert not paths(r.stderr) and " info object_done s" in r.stderr, r.stderr
