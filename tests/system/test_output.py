"""What barge prints is safe to print and to parse (docs/output.md).

- Keys and server messages reach text output (failure lines, the text log,
  dry-run plans, `barge status`, `barge ls`) with their control characters
  escaped: a key holding ESC [ 31 m and BEL, and a server error holding the
  C1 control U+009B (CSI on many terminals), leave no raw ESC, BEL or C1
  byte in stdout or stderr.
- Every `--progress json` line is JSON that Python's json module accepts
  from the raw bytes (JSON text must be UTF-8), even for a local file whose
  name is not UTF-8.

Output is read as bytes, never decoded by the harness, so a raw byte cannot
be hidden by a lenient decoder.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from conftest import barge_bin
from meterproxy import MeterProxy

KEY = "o/red\x1b[31m-bell\x07.txt"          # copied
REFUSED = "o/refused\x1b]0;title\x07.txt"   # the destination refuses it
C1_CODE = "Denied\u009b31m"                  # in the refusal's error code and reason
RAW_CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")


def popen_env(servers, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "R2_", "BARGE_"))}
    env.update(servers.barge_env(**extra))
    return env


def run_raw(servers, args, timeout=120, **env):
    """barge with args: (exit code, stdout bytes, stderr bytes)."""
    p = subprocess.run([str(barge_bin()), *map(str, args)], env=popen_env(servers, **env),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def assert_no_raw_controls(label: str, data: bytes) -> None:
    m = RAW_CONTROLS.search(data)
    assert m is None, f"{label}: raw control byte {m.group()!r} at {m.start()}: " \
                      f"{data[max(0, m.start() - 80):m.start() + 40]!r}"


def json_lines(label: str, data: bytes) -> list:
    out = []
    for line in data.splitlines():
        try:
            out.append(json.loads(line))   # bytes: decoded as strict UTF-8
        except ValueError as e:
            raise AssertionError(f"{label}: not JSON ({e}): {line[:300]!r}") from None
    return out


def delete_each(client, bucket: str) -> None:
    """Deletes every object one by one: DeleteObjects sends keys in an XML
    body, which cannot hold ESC or BEL (the fixture's cleanup uses it)."""
    for o in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        client.delete_object(Bucket=bucket, Key=o["Key"])


def refuse_c1(method, path, query):
    return (403, C1_CODE) if method == "PUT" and "refused" in path else None


def test_control_characters_never_reach_the_terminal(servers, fresh_buckets, tmp_path):
    b = fresh_buckets
    try:
        check_control_characters(servers, b, tmp_path)
    finally:
        delete_each(servers.src.client, b.src)
        delete_each(servers.dst.client, b.dst)


def check_control_characters(servers, b, tmp_path):
    src, dst = servers.src.client, servers.dst.client
    for k in (KEY, REFUSED, "o/plain.txt"):
        src.put_object(Bucket=b.src, Key=k, Body=b"x" * 100)
    journal = tmp_path / "j"
    proxy = MeterProxy(servers.dst.port, answer=refuse_c1)
    try:
        # default output (not a terminal) with the text log at info: the
        # done key in the log, the refused one and the server's error in the
        # failure line
        code, out, err = run_raw(servers, ["copy", f"s3://{b.src}/o", f"r2://{b.dst}/a",
                                           "--journal", journal, "--log-level", "info",
                                           "--retries", "1"], R2_ENDPOINT_URL=proxy.url)
        assert code == 1, err[-3000:]
        assert b"refused" in err and b"Denied" in err, err[-3000:]
        assert b"red\\x1b[31m-bell\\x07.txt" in err, err[-3000:]
        outputs = [("copy (text)", out, err)]
        code, out, err = run_raw(servers, ["copy", f"s3://{b.src}/o", f"r2://{b.dst}/j",
                                           "--progress", "json", "--retries", "1"],
                                 R2_ENDPOINT_URL=proxy.url)
    finally:
        proxy.close()
    assert code == 1, err[-3000:]
    events = json_lines("--progress json", out)
    done = {e["key"] for e in events if e.get("type") == "object" and e["status"] == "done"}
    failed = [e for e in events if e.get("type") == "object" and e["status"] == "failed"]
    assert done == {KEY, "o/plain.txt"}, done
    assert [e["key"] for e in failed] == [REFUSED] and C1_CODE in failed[0]["error"], failed
    outputs.append(("copy --progress json", out, err))
    outputs.append(("copy --dry-run", *run_raw(servers, ["copy", f"s3://{b.src}/o",
                                                         f"r2://{b.dst}/d", "--dry-run"])[1:]))
    assert b"would copy o/red\\x1b[31m" in outputs[-1][1], outputs[-1][1]
    outputs.append(("status", *run_raw(servers, ["status", journal])[1:]))
    assert b"FAILED o/refused\\x1b]0;title\\x07.txt" in outputs[-1][1], outputs[-1][1]
    outputs.append(("ls", *run_raw(servers, ["ls", f"r2://{b.dst}/a", "-r"])[1:]))
    assert b"a/red\\x1b[31m-bell\\x07.txt" in outputs[-1][1], outputs[-1][1]
    code, out, err = run_raw(servers, ["ls", f"r2://{b.dst}/a", "-r", "--json"])
    assert {e["key"] for e in json_lines("ls --json", out)} == {"a/red\x1b[31m-bell\x07.txt",
                                                                   "a/plain.txt"}
    outputs.append(("ls --json", out, err))
    for label, out, err in outputs:
        assert_no_raw_controls(f"stdout of {label}", out)
        assert_no_raw_controls(f"stderr of {label}", err)
    # what arrived, read with boto3
    got = {o["Key"] for o in dst.list_objects_v2(Bucket=b.dst, Prefix="a/").get("Contents", [])}
    assert got == {"a/red\x1b[31m-bell\x07.txt", "a/plain.txt"}, got


def test_progress_json_parses_for_a_file_name_that_is_not_utf8(servers, fresh_buckets,
                                                               tmp_path):
    d = tmp_path / "dir"
    d.mkdir()
    (d / "good.txt").write_bytes(b"good")
    with open(os.path.join(os.fsencode(d), b"bad\xffname"), "wb") as f:
        f.write(b"bad")
    code, out, err = run_raw(servers, ["copy", d, f"r2://{fresh_buckets.dst}/l",
                                       "--progress", "json"])
    assert code == 1, err[-3000:]                  # a name that is not UTF-8 cannot be a key
    events = json_lines("--progress json", out)
    failed = [e for e in events if e.get("type") == "object" and e["status"] == "failed"]
    assert [e["key"] for e in failed] == ["bad\ufffdname"], failed
    assert any(e.get("type") == "summary" for e in events)
    assert b"bad\\xffname" in err and b"\xff" not in err, err[-2000:]
    got = [o["Key"] for o in servers.dst.client.list_objects_v2(
        Bucket=fresh_buckets.dst).get("Contents", [])]
    assert got == ["l/good.txt"], got


# ---- progress counts the parts the destination accepted -------------------------------

MiB = 1 << 20
BIG = 30 * MiB       # 6 parts of 5 MiB, uploaded at 10 MiB/s: about 3 s


def test_progress_counts_uploaded_parts_before_the_object_is_done(servers, fresh_buckets):
    b = fresh_buckets
    data = os.urandom(BIG)
    servers.src.client.put_object(Bucket=b.src, Key="p/big", Body=data)
    slow = ["--part-size", "5M", "--concurrency", "2", "--bwlimit", "up:10M"]
    code, out, err = run_raw(servers, ["copy", f"s3://{b.src}/p", f"r2://{b.dst}/j",
                                       "--progress", "json", *slow])
    assert code == 0, err[-3000:]
    events = json_lines("--progress json", out)
    done_at = next(i for i, e in enumerate(events)
                   if e.get("type") == "object" and e["status"] == "done")
    before = [e for e in events[:done_at] if e.get("type") == "progress"]
    seen = [e["uploaded_bytes"] for e in before]
    rising = sorted({u for u in seen if 0 < u < BIG})
    assert len(rising) >= 2, f"uploaded_bytes before the object was done: {seen}"
    assert seen == sorted(seen), seen
    assert all(e["done_bytes"] == 0 for e in before)
    last = [e for e in events if e.get("type") == "progress"][-1]
    assert last["uploaded_bytes"] == BIG and last["done_bytes"] == BIG, last

    # the bar shows those bytes too, while the object is 0/1
    code, out, err = run_raw(servers, ["copy", f"s3://{b.src}/p", f"r2://{b.dst}/b",
                                       "--progress", "bar", *slow])
    assert code == 0, err[-3000:]
    frames = [f for f in err.decode().split("\r") if "0/1 objects" in f]
    moved = [f for f in frames if re.search(r"\] [1-9][0-9.]* MiB / 30\.0 MiB", f)]
    assert moved, f"no bar frame shows bytes while the object is open: {frames[-5:]}"
    for k in ("j/big", "b/big"):
        got = servers.dst.client.get_object(Bucket=b.dst, Key=k)["Body"].read()
        assert got == data, k
