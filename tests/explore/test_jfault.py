"""The journal fault shim (tests/explore/jfault.c) really fires.

Each case runs a small SQLite writer in a child process with
LD_PRELOAD=zig-out/lib/libjfault.so: Python's sqlite3 module links the same
Debian libsqlite3 as barge, so what fails here fails in barge.  The last
case runs barge itself.  Build first: `tools/zig build`.

    python3 -m pytest -q tests/explore/test_jfault.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIM = REPO / "zig-out" / "lib" / "libjfault.so"

# WAL, fsync per commit, 200 commits of 3 KB rows: about 4 writes a commit.
WRITER = r"""
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("pragma journal_mode=wal")
c.execute("pragma synchronous=full")
c.execute("create table if not exists t(x)")
n = 0
try:
    for n in range(200):
        c.execute("insert into t values(?)", (b"x" * 3000,))
    print("ok", c.execute("select count(*) from t").fetchone()[0])
except sqlite3.Error as e:
    print("error", n, e)
"""


@pytest.fixture(scope="module")
def shim() -> Path:
    if not SHIM.is_file():
        pytest.fail(f"{SHIM} is missing: run tools/zig build", pytrace=False)
    return SHIM


def write_db(shim: Path, tmp_path: Path, spec, name="t.journal"):
    env = {k: v for k, v in os.environ.items() if k != "BARGE_JFAULT"}
    env["LD_PRELOAD"] = str(shim)
    if spec is not None:
        env["BARGE_JFAULT"] = spec
    r = subprocess.run([sys.executable, "-c", WRITER, str(tmp_path / name)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip(), r.stderr


def test_quiet_without_configuration(shim, tmp_path):
    out, err = write_db(shim, tmp_path, None)
    assert out == "ok 200" and err == ""


@pytest.mark.parametrize("err,message", [("ENOSPC", "disk is full"), ("EIO", "I/O error"),
                                         ("EDQUOT", "")])
def test_nth_write_fails(shim, tmp_path, err, message):
    out, stderr = write_db(shim, tmp_path, f"match=.journal,op=write,nth=40,err={err}")
    assert out.startswith("error ") and message in out, out
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("jfault: pwrite64 on "), stderr
    assert "t.journal" in lines[0] and "(matching call 40)" in lines[0], stderr


def test_one_short_write_is_completed_by_sqlite(shim, tmp_path):
    """Not sticky: SQLite writes the rest, nothing fails (a real partial write)."""
    out, stderr = write_db(shim, tmp_path, "nth=40,err=short")
    assert out == "ok 200", out
    assert "short write" in stderr


def test_sticky_short_writes_end_in_disk_full(shim, tmp_path):
    out, stderr = write_db(shim, tmp_path, "nth=40,err=short,sticky=1")
    assert out.startswith("error ") and "full" in out, out
    # one line per file, however many calls fail: the WAL append first,
    # then the checkpoint at close
    files = [l.split(" on ")[1].split(" (")[0] for l in stderr.splitlines()]
    assert files[0].endswith("t.journal-wal") and len(files) == len(set(files)), stderr


def test_sync_fails(shim, tmp_path):
    out, stderr = write_db(shim, tmp_path, "op=sync,nth=10,err=EIO")
    assert out.startswith("error ") and "I/O error" in out, out
    assert "fdatasync" in stderr


def test_other_files_are_left_alone(shim, tmp_path):
    out, stderr = write_db(shim, tmp_path, "match=no-such-file,nth=1,sticky=1")
    assert out == "ok 200" and stderr == ""


def test_barge_journal_write_fails(shim, tmp_path):
    """In barge: the first journal write fails, barge stops with exit 2 and
    a line about the journal (no server needed: the journal opens first)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "R2_", "BARGE_"))}
    env.update(HOME=str(tmp_path), AWS_ENDPOINT_URL_S3="http://127.0.0.1:9",
               AWS_ACCESS_KEY_ID="a", AWS_SECRET_ACCESS_KEY="b", AWS_REGION="us-east-1",
               R2_ENDPOINT_URL="http://127.0.0.1:9", R2_ACCESS_KEY_ID="a",
               R2_SECRET_ACCESS_KEY="b", LD_PRELOAD=str(shim),
               BARGE_JFAULT="match=.journal,op=write,nth=1,err=ENOSPC")
    barge = Path(os.environ.get("BARGE_BIN", REPO / "zig-out" / "bin" / "barge"))
    if "asan" in str(barge):
        env["ASAN_OPTIONS"] = "verify_asan_link_order=0"
    r = subprocess.run([str(barge), "copy", "s3://src-b", "r2://dst-b", "--journal",
                        str(tmp_path / "j.journal"), "--progress", "none"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("jfault: pwrite64 on "), r.stderr
    assert "journal" in r.stderr.splitlines()[-1] and "full" in r.stderr.splitlines()[-1]
