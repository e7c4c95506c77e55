"""No secret leaves barge: both secret keys and a session token are searched
for in everything a run leaves behind or prints, and must not be found:
the journal and its -wal/-shm (snapshots taken while the copy runs, and
after it), stdout and stderr of copy, resume, status (text and --json) and
audit, the --progress json and bar output, audit's --report file, and the
failure messages of objects that failed (the reasons go to the journal too).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from conftest import DST_SECRET_KEY, SRC_SECRET_KEY, barge_bin, run_barge
from faultproxy import FaultProxy, Rule

MiB = 1 << 20
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEJr-test-session-token-SECRETPART-0123456789"
SECRETS = {"source secret key": SRC_SECRET_KEY, "destination secret key": DST_SECRET_KEY,
           "session token": SESSION_TOKEN}


def find_secrets(label: str, data: bytes) -> list:
    found = []
    for name, s in SECRETS.items():
        for form in (s.encode(), s.encode("utf-16-le")):
            if form in data:
                found.append(f"{name} in {label}")
    return found


class Snapshotter:
    """Copies every file of a directory (the journal and its -wal/-shm)
    every 20 ms while a run goes on, so that a secret written and later
    checkpointed away is still caught."""

    def __init__(self, d: Path):
        self.d, self.seen, self.stop = d, [], threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop.is_set():
            for p in list(self.d.glob("*")):
                try:
                    self.seen.append((p.name, p.read_bytes()))
                except OSError:
                    pass
            time.sleep(0.02)

    def close(self):
        self.stop.set()
        self.t.join()
        return self.seen


def test_no_secret_in_journal_logs_or_progress(servers, fresh_buckets, tmp_path):
    b = fresh_buckets
    src = servers.src.client
    for i in range(30):
        src.put_object(Bucket=b.src, Key=f"d/s{i:02d}", Body=os.urandom(2000 + i))
    src.put_object(Bucket=b.src, Key="d/big", Body=os.urandom(12 * MiB))
    src.put_object(Bucket=b.src, Key="d/fails", Body=b"f" * 100)
    jdir = tmp_path / "jdir"
    jdir.mkdir()
    journal = jdir / "barge.journal"
    report = tmp_path / "audit.json"
    # The destination refuses one key for good, so failure reasons are
    # printed and journaled.
    proxy = FaultProxy(servers.dst.port, rules=[Rule("500", key=r"/fails$"),
                                                Rule("503", rate=0.1)])
    env = servers.barge_env(AWS_SESSION_TOKEN=SESSION_TOKEN, R2_ENDPOINT_URL=proxy.url)
    outputs = []
    snap = Snapshotter(jdir)
    try:
        for args in (
            ["copy", f"s3://{b.src}/d", f"r2://{b.dst}/c", "--journal", journal,
             "--part-size", "5M", "--retries", "2", "--progress", "json"],
            ["resume", journal, "--progress", "bar"],
            ["status", journal],
            ["status", journal, "--json"],
            ["audit", f"s3://{b.src}/d", f"r2://{b.dst}/c", "--journal", journal,
             "--report", report, "--progress", "json"],
            ["audit", f"s3://{b.src}/d", f"r2://{b.dst}/c", "--deep", "--progress", "bar"],
        ):
            r = run_barge(args, env=env, timeout=180)
            assert r.code in (0, 1), f"{args[0]}: exit {r.code}\n{r.stderr[-2000:]}"
            outputs.append((" ".join(map(str, args[:2])), r))
    finally:
        proxy.close()
        seen = snap.close()
    # The runs did what they should (so there was something to leak).
    assert proxy.counts["500"] >= 2, proxy.counts
    assert "fails" in outputs[0][1].stderr, outputs[0][1].stderr
    assert '"type":"object"' in outputs[0][1].stdout
    found = []
    for label, r in outputs:
        found += find_secrets(f"stdout of {label}", r.stdout.encode())
        found += find_secrets(f"stderr of {label}", r.stderr.encode())
    for name, data in seen:
        found += find_secrets(f"{name} (snapshot during the runs)", data)
    for p in jdir.iterdir():
        found += find_secrets(p.name, p.read_bytes())
    assert any(name.endswith("-wal") for name, _ in seen), "no -wal snapshot was taken"
    found += find_secrets("the audit report", report.read_bytes())
    # And the journal as SQL text, in case a value is stored compressed or split.
    if shutil.which("sqlite3"):
        dump = subprocess.run(["sqlite3", str(journal), ".dump"], capture_output=True).stdout
        assert b"CREATE TABLE" in dump
        found += find_secrets("sqlite3 .dump of the journal", dump)
    assert not found, found


def test_no_secret_in_error_messages(servers, fresh_buckets, tmp_path):
    """Runs that fail for configuration reasons, with every secret set."""
    b = fresh_buckets
    servers.src.client.put_object(Bucket=b.src, Key="d/a", Body=b"a")
    env = servers.barge_env(AWS_SESSION_TOKEN=SESSION_TOKEN)
    cases = [
        ["copy", f"s3://{b.src}/d", f"r2://{b.dst}-missing/c"],
        ["copy", f"s3://{b.src}-missing/d", f"r2://{b.dst}/c"],
        ["copy", f"s3://{b.src}/d", f"r2://{b.dst}/c", "--ca-bundle", tmp_path / "none.pem"],
        ["audit", f"s3://{b.src}/d", f"r2://{b.dst}-missing/c"],
    ]
    found = []
    for args in cases:
        r = run_barge(args, env=env, timeout=60)
        assert r.code == 2, r.stderr
        found += find_secrets(f"stdout of {args}", r.stdout.encode())
        found += find_secrets(f"stderr of {args}", r.stderr.encode())
    # Wrong destination keys: the 403 message must not echo what was sent.
    if servers.dst.kind == "rgw":
        bad = servers.barge_env(R2_SECRET_ACCESS_KEY=SESSION_TOKEN)
        r = run_barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/c", "--retries", "1"],
                      env=bad, timeout=60)
        assert r.code == 2, r.stderr
        found += find_secrets("stderr of a copy with a wrong secret", r.stderr.encode())
    assert not found, found
