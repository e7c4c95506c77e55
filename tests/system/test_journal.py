"""The SQLite journal: resume after kill -9, part-level resume, changed
sources, `barge status`, refusals, and what the journal file may contain.

Everything that decides a test is read independently of barge: the
destination with boto3 (bytes, ETags, LastModified, open multipart uploads,
ListParts), and what barge sent through a metering proxy in front of the
destination (tests/system/meterproxy.py: body bytes of every PUT, part
numbers and upload IDs of every request). The journal itself is read with
Python's sqlite3 (read-only, or a copy of it) only to decide *when* to kill
barge and to compare its own accounting with the proxy's.

The torture test prints its seed; BARGE_TORTURE_SEED=N repeats a run.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import DST_SECRET_KEY, SRC_SECRET_KEY, barge_bin, run_barge
from test_copy import upload_multipart
from meterproxy import MeterProxy

KiB = 1 << 10
MiB = 1 << 20
PART = 5 * MiB
SECRETS = (DST_SECRET_KEY, SRC_SECRET_KEY)

S_CREATING, S_UPLOADING, S_DONE, S_FAILED = 1, 2, 3, 4


# ---- helpers -----------------------------------------------------------------

def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def multipart_etag(data: bytes, part_size: int) -> str:
    digests = [hashlib.md5(data[i:i + part_size]).digest()
               for i in range(0, max(len(data), 1), part_size)]
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


def listing(client, bucket: str, prefix: str = "") -> dict:
    """{key: object summary} from a full, paginated listing."""
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = o
    return out


def uploads(client, bucket: str) -> list:
    return client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def assert_same_objects(client, bucket: str, want: dict, prefix: str = "") -> None:
    """The destination holds exactly `want` ({key: bytes}) under prefix,
    byte for byte (MD5 of what boto3 downloads), and no open upload."""
    got = listing(client, bucket, prefix)
    assert sorted(got) == sorted(want), (
        f"missing {sorted(set(want) - set(got))[:10]}, extra {sorted(set(got) - set(want))[:10]}")
    bad = []
    for k, data in want.items():
        body = client.get_object(Bucket=bucket, Key=k)["Body"].read()
        if len(body) != len(data) or md5(body) != md5(data):
            bad.append((k, len(data), len(body)))
    assert not bad, f"objects that differ from the source (key, want size, got size): {bad}"
    ups = uploads(client, bucket)
    assert ups == [], f"incomplete multipart uploads left on {bucket}: {ups}"


def popen_env(servers, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "R2_", "BARGE_"))}
    env.update(servers.barge_env(**extra))
    return env


def start_barge(args, env, logdir: Path, name: str) -> subprocess.Popen:
    """barge in the background, stdout/stderr to files (no pipe to fill)."""
    out = open(logdir / f"{name}.out", "wb")
    err = open(logdir / f"{name}.err", "wb")
    p = subprocess.Popen([str(barge_bin()), *map(str, args)], env=env, stdin=subprocess.DEVNULL,
                         stdout=out, stderr=err)
    out.close()
    err.close()
    p.logs = (logdir / f"{name}.out", logdir / f"{name}.err")
    return p


def logs(p) -> str:
    out, err = (f.read_text(errors="replace") for f in p.logs)
    return f"--- stdout ---\n{out[-2000:]}\n--- stderr ---\n{err[-3000:]}"


def kill9(p) -> None:
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)


def journal_files(path: Path) -> list:
    return [Path(str(path) + s) for s in ("", "-wal", "-shm") if Path(str(path) + s).exists()]


class jsnapshot:
    """The journal as a new opener would see it, read from a copy of the
    database and its WAL (barge's own files are never touched):
    `with jsnapshot(path) as con: ...`."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> sqlite3.Connection:
        self.dir = Path(tempfile.mkdtemp(prefix="jsnap-"))
        for suffix in ("", "-wal"):
            f = Path(str(self.path) + suffix)
            if f.exists():
                shutil.copyfile(f, self.dir / ("j" + suffix))
        self.con = sqlite3.connect(str(self.dir / "j"))
        self.con.row_factory = sqlite3.Row
        return self.con

    def __exit__(self, *exc):
        self.con.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def jlive(path: Path) -> sqlite3.Connection:
    """A read-only connection to a journal that barge may be writing."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    con.row_factory = sqlite3.Row
    return con


def jstate(con) -> dict:
    """{key: {state, size, nparts, upload_id, uploaded: {part number: length}}}."""
    objs = {}
    for r in con.execute("SELECT id, key, size, state, nparts, upload_id FROM objects"):
        objs[r["id"]] = {"key": r["key"], "size": r["size"], "state": r["state"],
                         "nparts": r["nparts"] or 0, "upload_id": r["upload_id"], "uploaded": {}}
    for r in con.execute("SELECT object_id, number, length FROM parts WHERE state = 'uploaded'"):
        if r["object_id"] in objs:
            objs[r["object_id"]]["uploaded"][r["number"]] = r["length"]
    return {o["key"]: o for o in objs.values()}


def journaled_bytes(state: dict) -> int:
    """Bytes the journal holds as safely on the destination: whole objects
    done, plus uploaded parts of objects not done yet."""
    n = 0
    for o in state.values():
        if o["state"] == S_DONE:
            n += o["size"]
        else:
            n += sum(o["uploaded"].values())
    return n


def partial_multipart(state: dict) -> list:
    """Objects inside a multipart upload: uploading, some parts there, not all."""
    return [k for k, o in state.items()
            if o["state"] == S_UPLOADING and 0 < len(o["uploaded"]) < o["nparts"]]


def read_journal(path: Path, live: bool = False) -> dict:
    if not path.exists():
        return {}
    if live:
        con = jlive(path)
        try:
            return jstate(con)
        finally:
            con.close()
    with jsnapshot(path) as con:
        return jstate(con)


def journal_runs(path: Path) -> list:
    with jsnapshot(path) as con:
        return [dict(r) for r in con.execute("SELECT * FROM runs ORDER BY id")]


def wait_for(pred, timeout: float, what: str, step: float = 0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    pytest.fail(f"timed out after {timeout} s waiting for {what}", pytrace=False)


def ok(r) -> str:
    return f"exit {r.code}\n--- stdout ---\n{r.stdout[-2000:]}\n--- stderr ---\n{r.stderr[-3000:]}"


def put_many(client, bucket: str, objs: dict) -> None:
    for k, v in objs.items():
        client.put_object(Bucket=bucket, Key=k, Body=v)


# ---- 1. kill -9 at random moments --------------------------------------------------

TORTURE_SMALL = 60                 # objects of 1..200 KiB
TORTURE_BIG = (20, 48)             # 6 objects of 20..48 MiB (MiB bounds)
TORTURE_NBIG = 6
TORTURE_CONCURRENCY = 4
TORTURE_KILLS = 20
TORTURE_RATE = 12 * MiB            # the destination link, bytes/s (metering proxy)
# Seconds from start to kill -9. At 12 MiB/s a round of 4 parts of 5 MiB
# takes ~1.7 s, so a long delay usually lands a round and a short one
# rarely does. Long delays until half the bytes are journaled (or 15
# kills), short ones after: the copy does not finish before the 20th kill,
# whatever the seed; the final resume, unthrottled, copies the rest.
TORTURE_DELAY_LONG = (0.2, 3.0)
TORTURE_DELAY_SHORT = (0.1, 0.9)


def test_kill9_resume_torture(servers, fresh_buckets, tmp_path):
    """kill -9 at >= 20 random moments (copy --journal and resume
    alternating), then a resume to the end: every object byte-identical,
    nothing extra, no open upload, and the bytes sent again after each
    kill bounded by what can be in flight."""
    b = fresh_buckets
    seed = int(os.environ.get("BARGE_TORTURE_SEED", time.time_ns() % 1_000_000))
    print(f"\n[torture] seed {seed} (BARGE_TORTURE_SEED={seed} repeats it)")
    rng = random.Random(seed)
    src, dst = servers.src.client, servers.dst.client
    want = {}
    for i in range(TORTURE_SMALL):
        want[f"t/small-{i:03d}"] = os.urandom(rng.randint(1 * KiB, 200 * KiB))
    put_many(src, b.src, want)
    # Multipart sources of uniform 5 MiB parts: every part journaled and
    # still on the destination stays, in whatever order it was uploaded.
    # (A single-part source keeps the parts in its whole-object MD5, a
    # prefix: test_safety.py; the schedule explorer kills those too.)
    for i in range(TORTURE_NBIG):
        k = f"t/big-{i}"
        want[k] = os.urandom(rng.randint(TORTURE_BIG[0] * MiB, TORTURE_BIG[1] * MiB))
        upload_multipart(src, b.src, k, want[k], [PART] * -(-len(want[k]) // PART))
    total = sum(len(v) for v in want.values())
    max_small = max(len(v) for k, v in want.items() if "small" in k)

    journal = tmp_path / "torture.journal"
    proxy = MeterProxy(servers.dst.port, rate=TORTURE_RATE)
    env = popen_env(servers, R2_ENDPOINT_URL=proxy.url)
    copy_args = ["copy", f"s3://{b.src}/t", f"r2://{b.dst}/t", "--journal", journal,
                 "--part-size", "5M", "--concurrency", str(TORTURE_CONCURRENCY),
                 "--memory", "64M", "--progress", "none"]
    runs, kills, inside, prev = [], 0, 0, 0
    t_start = time.monotonic()
    try:
        while kills < TORTURE_KILLS:
            form = "copy" if len(runs) % 2 == 0 else "resume"
            run = proxy.new_run()
            long_phase = prev < 0.5 * total and kills < 15
            delay = rng.uniform(*(TORTURE_DELAY_LONG if long_phase else TORTURE_DELAY_SHORT))
            p = start_barge(copy_args if form == "copy" else ["resume", journal], env,
                            tmp_path, f"run{run}")
            try:
                p.wait(timeout=delay)
                killed = False
            except subprocess.TimeoutExpired:
                kill9(p)
                killed = True
            assert proxy.wait_idle(15), "the proxy still serves the dead run's connections"
            if not killed:
                assert p.returncode == 0, f"run {run} ({form}) exited by itself:\n{logs(p)}"
            state = read_journal(journal)
            jb = journaled_bytes(state)
            part_open = partial_multipart(state)
            sent = proxy.put_bytes(run)
            runs.append({"run": run, "form": form, "delay_s": round(delay, 3), "killed": killed,
                         "exit": p.returncode, "put_bytes": sent, "journaled_bytes": jb,
                         "progress": jb - prev, "resent": sent - (jb - prev),
                         "inside_multipart": part_open,
                         "done": sum(1 for o in state.values() if o["state"] == S_DONE)})
            prev = jb
            if not killed:
                break
            kills += 1
            inside += bool(part_open)
        # the final resume, to the end (at full speed)
        proxy.rate = None
        run = proxy.new_run()
        r = run_barge(["resume", journal], env=servers.barge_env(R2_ENDPOINT_URL=proxy.url),
                      timeout=120)
        assert r.code == 0, "final resume: " + ok(r)
        assert proxy.wait_idle(15)
        state = read_journal(journal)
        jb = journaled_bytes(state)
        sent = proxy.put_bytes(run)
        runs.append({"run": run, "form": "resume", "delay_s": None, "killed": False,
                     "exit": r.code, "put_bytes": sent, "journaled_bytes": jb,
                     "progress": jb - prev, "resent": sent - (jb - prev),
                     "inside_multipart": [], "done": sum(1 for o in state.values()
                                                         if o["state"] == S_DONE)})
    finally:
        proxy.close()
    elapsed = time.monotonic() - t_start

    # Independent: the destination, byte for byte, nothing extra, no upload.
    assert_same_objects(dst, b.dst, want)

    # What was sent again, per kill (proxy), and what barge's journal says.
    put_total = sum(x["put_bytes"] for x in runs)
    resent_total = put_total - total
    jruns = journal_runs(journal)
    j_written = sum(x.get("bytes_written") or 0 for x in jruns)
    bound = (TORTURE_CONCURRENCY * PART + TORTURE_CONCURRENCY * max_small + PART)
    report = {
        "seed": seed, "kills": kills, "kills_inside_multipart": inside, "elapsed_s": round(elapsed, 1),
        "objects": len(want), "bytes": total, "part_size": PART,
        "concurrency": TORTURE_CONCURRENCY, "rate_bytes_s": TORTURE_RATE,
        "proxy_put_bytes": put_total, "proxy_resent_bytes": resent_total,
        "proxy_resent_per_kill": resent_total / max(kills, 1),
        "proxy_resent_max_one_kill": max((x["resent"] for x in runs if x["killed"]), default=0),
        "journal_bytes_written": j_written, "journal_resent_bytes": j_written - total,
        "journal_resent_per_kill": (j_written - total) / max(kills, 1),
        "bound_per_kill": bound, "runs": runs, "journal_runs": jruns,
    }
    out = tmp_path / "journal-torture.json"
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"[torture] {kills} kills ({inside} inside a multipart upload) in {elapsed:.1f} s; "
          f"{len(want)} objects, {total / MiB:.1f} MiB")
    print(f"[torture] re-sent (proxy, PUT bodies - object bytes): {resent_total / MiB:.2f} MiB "
          f"total, {report['proxy_resent_per_kill'] / MiB:.2f} MiB per kill, at most "
          f"{report['proxy_resent_max_one_kill'] / MiB:.2f} MiB after one kill "
          f"(bound {bound / MiB:.2f} MiB)")
    print(f"[torture] re-sent (journal, sum of runs.bytes_written - object bytes): "
          f"{(j_written - total) / MiB:.2f} MiB total, "
          f"{report['journal_resent_per_kill'] / MiB:.2f} MiB per kill")
    print(f"[torture] report: {out}")

    assert kills >= TORTURE_KILLS, (
        f"the copy finished after {kills} kills: the test needs {TORTURE_KILLS} "
        f"(shorten the delays or lower TORTURE_RATE); seed {seed}")
    assert inside >= 3, (f"only {inside} kills left an object inside a multipart upload "
                         f"(state 2, some parts uploaded); seed {seed}; see {out}")
    # Every kill: what that run sent and the journal does not hold is at
    # most what was in flight: `concurrency` bodies (parts or small objects,
    # counted as both to be generous), plus one part whose answer arrived
    # but whose journal record had not committed yet (group commit).
    over = [(x["run"], x["resent"]) for x in runs if x["killed"] and x["resent"] > bound]
    assert not over, (f"runs that lost more than {bound} bytes at their kill (run, bytes): "
                      f"{over}; seed {seed}; see {out}")
    # The last run is not killed: nothing it sends may go to waste.
    assert runs[-1]["resent"] <= 0, (f"the final resume sent {runs[-1]['resent']} bytes the "
                                     f"journal does not account for; seed {seed}; see {out}")
    assert resent_total <= kills * bound


def test_kill9_resume_with_destination_faults(servers, fresh_buckets, tmp_path):
    """kill -9 ten times while the destination also answers 503 SlowDown to
    one request in five (before acting on it: listings, ListParts, parts,
    Complete alike): retries and resumes mix, and the end is the same: every
    object byte-identical, nothing extra, no upload."""
    b = fresh_buckets
    seed = int(os.environ.get("BARGE_TORTURE_SEED", time.time_ns() % 1_000_000)) + 1
    print(f"\n[faults+kills] seed {seed}")
    rng = random.Random(seed)
    src, dst = servers.src.client, servers.dst.client
    want = {f"f/small-{i:02d}": os.urandom(rng.randint(1 * KiB, 100 * KiB)) for i in range(30)}
    for i in range(3):
        want[f"f/big-{i}"] = os.urandom(rng.randint(18 * MiB, 30 * MiB))
    put_many(src, b.src, want)
    journal = tmp_path / "j"
    fault_rng, lock, injected = random.Random(seed), threading.Lock(), [0]

    def answer(method, path, query):
        with lock:
            if fault_rng.random() < 0.2:
                injected[0] += 1
                return (503, "SlowDown")
        return None

    proxy = MeterProxy(servers.dst.port, rate=12 * MiB, answer=answer)
    env = popen_env(servers, R2_ENDPOINT_URL=proxy.url)
    kills = 0
    try:
        for i in range(10):
            args = (["copy", f"s3://{b.src}/f", f"r2://{b.dst}/f", "--journal", journal,
                     "--part-size", "5M", "--concurrency", "4", "--memory", "64M",
                     "--progress", "none"] if i % 2 == 0 else ["resume", journal])
            p = start_barge(args, env, tmp_path, f"run{i}")
            try:
                p.wait(timeout=rng.uniform(0.3, 2.0))
                assert p.returncode == 0, logs(p)
                break
            except subprocess.TimeoutExpired:
                kill9(p)
                kills += 1
            assert proxy.wait_idle(15)
        proxy.answer = None
        proxy.rate = None
        r = run_barge(["resume", journal], env=servers.barge_env(R2_ENDPOINT_URL=proxy.url),
                      timeout=120)
        assert r.code == 0, "final resume: " + ok(r)
    finally:
        proxy.close()
    print(f"[faults+kills] {kills} kills, {injected[0]} injected 503s")
    assert kills >= 5 and injected[0] >= 5, (kills, injected[0])
    assert_same_objects(dst, b.dst, want)


# ---- 2./3. reruns: changed sources recopied, done objects untouched ------------------

def small_set(n=12, prefix="d/"):
    return {f"{prefix}obj-{i:02d}": os.urandom(3 * KiB + i * 1000) for i in range(n)}


def test_rerun_after_completion_touches_nothing(servers, fresh_buckets, tmp_path):
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    want = small_set()
    want["d/big"] = os.urandom(12 * MiB + 5)
    put_many(src, b.src, want)
    journal = tmp_path / "j"
    proxy = MeterProxy(servers.dst.port)
    env = servers.barge_env(R2_ENDPOINT_URL=proxy.url)
    args = ["copy", f"s3://{b.src}/d", f"r2://{b.dst}/d", "--journal", journal,
            "--part-size", "5M", "--progress", "none"]
    try:
        r = run_barge(args, env=env, timeout=120)
        assert r.code == 0, ok(r)
        assert proxy.wait_idle()
        first = proxy.put_bytes()
        assert first == sum(len(v) for v in want.values())
        before = listing(dst, b.dst)
        time.sleep(1.2)   # LastModified has one-second resolution
        for form in ("copy", "resume"):
            run = proxy.new_run()
            r = run_barge(args if form == "copy" else ["resume", journal], env=env, timeout=120)
            assert r.code == 0, f"{form}: " + ok(r)
            assert proxy.wait_idle()
            writes = [(q.method, q.path, q.query) for q in proxy.of_run(run)
                      if q.method in ("PUT", "POST", "DELETE")]
            assert writes == [], f"{form} of a finished journal wrote to the destination: {writes}"
            assert proxy.put_bytes(run) == 0
    finally:
        proxy.close()
    after = listing(dst, b.dst)
    assert {k: (o["ETag"], o["LastModified"]) for k, o in after.items()} == \
        {k: (o["ETag"], o["LastModified"]) for k, o in before.items()}
    assert_same_objects(dst, b.dst, want)


def test_changed_source_objects_are_recopied(servers, fresh_buckets, tmp_path):
    """Overwritten between two runs: one small object with the same size and
    new bytes, a multipart one with another size. Only those two are sent."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    want = small_set()
    want["d/big"] = os.urandom(12 * MiB)
    put_many(src, b.src, want)
    journal = tmp_path / "j"
    proxy = MeterProxy(servers.dst.port)
    env = servers.barge_env(R2_ENDPOINT_URL=proxy.url)
    args = ["copy", f"s3://{b.src}/d", f"r2://{b.dst}/d", "--journal", journal,
            "--part-size", "5M", "--progress", "none"]
    try:
        r = run_barge(args, env=env, timeout=120)
        assert r.code == 0, ok(r)
        before = listing(dst, b.dst)
        time.sleep(1.2)
        want["d/obj-03"] = os.urandom(len(want["d/obj-03"]))       # same size
        want["d/big"] = os.urandom(11 * MiB + 77)                  # another size
        put_many(src, b.src, {k: want[k] for k in ("d/obj-03", "d/big")})
        run = proxy.new_run()
        r = run_barge(args, env=env, timeout=120)
        assert r.code == 0, "second run: " + ok(r)
        assert proxy.wait_idle()
        put_keys = sorted({q.key(b.dst) for q in proxy.of_run(run) if q.method == "PUT"})
        assert put_keys == ["d/big", "d/obj-03"], put_keys
        assert proxy.put_bytes(run) == len(want["d/obj-03"]) + len(want["d/big"])
    finally:
        proxy.close()
    after = listing(dst, b.dst)
    for k in want:
        if k in ("d/obj-03", "d/big"):
            continue
        assert (after[k]["ETag"], after[k]["LastModified"]) == \
            (before[k]["ETag"], before[k]["LastModified"]), k
    assert after["d/obj-03"]["ETag"].strip('"') == md5(want["d/obj-03"])
    assert_same_objects(dst, b.dst, want)


# ---- 4. an interrupted multipart upload resumes with its upload ID --------------------

def kill_inside_upload(servers, b, journal, key, tmp_path, proxy, min_parts=2):
    """Starts copy --journal, kills it -9 once the journal shows `key`
    uploading with >= min_parts parts (not all); returns the journal state."""
    env = popen_env(servers, R2_ENDPOINT_URL=proxy.url)
    run = proxy.new_run()
    p = start_barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/d", "--journal", journal,
                     "--part-size", "5M", "--concurrency", "4", "--progress", "none"],
                    env, tmp_path, "killed")

    def inside():
        if p.poll() is not None:
            pytest.fail(f"barge ended before the kill:\n{logs(p)}", pytrace=False)
        if not journal.exists():
            return None
        try:
            o = read_journal(journal, live=True).get(key)
        except sqlite3.Error:
            return None
        return o if o and o["state"] == S_UPLOADING and min_parts <= len(o["uploaded"]) < o["nparts"] \
            else None

    try:
        wait_for(inside, 60, f"{key} in state 2 with >= {min_parts} parts uploaded")
    finally:
        kill9(p)
    assert proxy.wait_idle(15)
    return run, read_journal(journal)[key]


def test_interrupted_multipart_resumes_with_its_upload_id(servers, fresh_buckets, tmp_path):
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    data = os.urandom(40 * MiB + 123)    # 9 parts of 5 MiB
    # A multipart source: every part journaled and still there stays (a
    # single-part source keeps the prefix in its whole-object MD5 only:
    # test_safety.py)
    upload_multipart(src, b.src, "d/big", data, [PART] * 9)
    journal = tmp_path / "j"
    proxy = MeterProxy(servers.dst.port, rate=16 * MiB)
    try:
        _, jobj = kill_inside_upload(servers, b, journal, "d/big", tmp_path, proxy)
        ups = [u for u in uploads(dst, b.dst) if u["Key"] == "d/big"]
        assert len(ups) == 1, ups
        upload_id = ups[0]["UploadId"]
        assert jobj["upload_id"] == upload_id
        listed = {p["PartNumber"] for p in dst.list_parts(Bucket=b.dst, Key="d/big",
                                                          UploadId=upload_id).get("Parts", [])}
        # Parts both on the destination and journaled as uploaded must stay;
        # a part the server took after the journal last committed may be resent.
        kept = listed & set(jobj["uploaded"])
        assert len(kept) >= 2, (listed, jobj["uploaded"])
        run = proxy.new_run()
        r = run_barge(["resume", journal], env=servers.barge_env(R2_ENDPOINT_URL=proxy.url),
                      timeout=120)
        assert r.code == 0, ok(r)
        assert proxy.wait_idle()
        reqs = [q for q in proxy.of_run(run) if q.key(b.dst) == "d/big"]
    finally:
        proxy.close()
    creates = [q for q in reqs if q.method == "POST" and "uploads" in q.query]
    assert creates == [], "the resumed run started a new multipart upload"
    part_puts = [q for q in reqs if q.method == "PUT" and "partNumber" in q.query]
    assert {q.query.get("uploadId") for q in part_puts} <= {upload_id}, \
        [q.query for q in part_puts]
    resent = sorted(kept & {int(q.query["partNumber"]) for q in part_puts})
    assert resent == [], f"parts uploaded before the kill were sent again: {resent}"
    sent = {int(q.query["partNumber"]) for q in part_puts}
    assert sent | kept == set(range(1, 10)), (sorted(sent), sorted(kept))
    assert dst.head_object(Bucket=b.dst, Key="d/big")["ETag"].strip('"') == \
        multipart_etag(data, PART)
    assert_same_objects(dst, b.dst, {"d/big": data})


def test_source_changed_inside_an_interrupted_upload(servers, fresh_buckets, tmp_path):
    """Killed inside a multipart upload, then the source object is
    overwritten: the resume copies the new bytes with a new upload and
    aborts the old one."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    data = os.urandom(30 * MiB)
    src.put_object(Bucket=b.src, Key="d/big", Body=data)
    journal = tmp_path / "j"
    proxy = MeterProxy(servers.dst.port, rate=16 * MiB)
    try:
        _, jobj = kill_inside_upload(servers, b, journal, "d/big", tmp_path, proxy)
        old_id = jobj["upload_id"]
        new = os.urandom(30 * MiB)                  # same size, new bytes
        src.put_object(Bucket=b.src, Key="d/big", Body=new)
        r = run_barge(["resume", journal], env=servers.barge_env(R2_ENDPOINT_URL=proxy.url),
                      timeout=120)
        assert r.code == 0, ok(r)
    finally:
        proxy.close()
    assert_same_objects(dst, b.dst, {"d/big": new})
    with pytest.raises(dst.exceptions.ClientError) as e:
        dst.list_parts(Bucket=b.dst, Key="d/big", UploadId=old_id)
    # RGW answers NoSuchKey for an upload that no longer exists
    assert e.value.response["Error"]["Code"] in ("NoSuchUpload", "NoSuchKey"), e.value.response


def test_upload_aborted_by_the_destination_meanwhile(servers, fresh_buckets, tmp_path):
    """Killed inside a multipart upload; before the resume the destination
    drops the upload (a lifecycle rule aborting incomplete uploads does):
    the resume notices, copies the object anew, and the result is right."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    want = {"d/big": os.urandom(30 * MiB + 9)}
    put_many(src, b.src, want)
    journal = tmp_path / "j"
    proxy = MeterProxy(servers.dst.port, rate=16 * MiB)
    try:
        _, jobj = kill_inside_upload(servers, b, journal, "d/big", tmp_path, proxy)
        dst.abort_multipart_upload(Bucket=b.dst, Key="d/big", UploadId=jobj["upload_id"])
        proxy.rate = None
        r = run_barge(["resume", journal], env=servers.barge_env(R2_ENDPOINT_URL=proxy.url),
                      timeout=120)
        assert r.code == 0, ok(r)
    finally:
        proxy.close()
    assert_same_objects(dst, b.dst, want)
    assert dst.head_object(Bucket=b.dst, Key="d/big")["ETag"].strip('"') == \
        multipart_etag(want["d/big"], PART)


def test_resume_with_another_part_size(servers, fresh_buckets, tmp_path):
    """Killed inside an upload of 5 MiB parts, rerun with --part-size 8M:
    whichever layout barge takes, the object is right and no upload is left."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    want = {"d/big": os.urandom(33 * MiB)}
    put_many(src, b.src, want)
    journal = tmp_path / "j"
    proxy = MeterProxy(servers.dst.port, rate=16 * MiB)
    try:
        kill_inside_upload(servers, b, journal, "d/big", tmp_path, proxy)
        proxy.rate = None
        r = run_barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/d", "--journal", journal,
                       "--part-size", "8M", "--progress", "none"],
                      env=servers.barge_env(R2_ENDPOINT_URL=proxy.url), timeout=120)
        assert r.code == 0, ok(r)
    finally:
        proxy.close()
    assert_same_objects(dst, b.dst, want)


def test_killed_while_the_server_completes_the_upload(servers, fresh_buckets, tmp_path):
    """kill -9 while CompleteMultipartUpload is with the server: the
    destination completed the object, barge never heard of it. The resume
    ends with the object intact, no upload left, and does not upload the
    object again (at most what can be in flight: concurrency x part size;
    nothing was, at that moment)."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    want = small_set(4)
    want["d/big"] = os.urandom(40 * MiB + 7)     # 9 parts: re-sending it all is 40 MiB
    put_many(src, b.src, want)
    journal = tmp_path / "j"

    def hold(method, path, query):
        return method == "POST" and "uploadId" in query and path.endswith("/d/big")

    proxy = MeterProxy(servers.dst.port, hold=hold)
    try:
        run = proxy.new_run()
        p = start_barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/d", "--journal", journal,
                         "--part-size", "5M", "--concurrency", "4", "--progress", "none"],
                        popen_env(servers, R2_ENDPOINT_URL=proxy.url), tmp_path, "killed")
        try:
            wait_for(lambda: any(q.held for q in proxy.of_run(run)) or p.poll() is not None,
                     60, "CompleteMultipartUpload of d/big to reach the server")
            assert p.poll() is None, "barge ended while its Complete was unanswered:\n" + logs(p)
        finally:
            kill9(p)
        proxy.release()
        assert proxy.wait_idle()
        assert dst.head_object(Bucket=b.dst, Key="d/big")["ContentLength"] == len(want["d/big"])
        proxy.hold = None
        run = proxy.new_run()
        r = run_barge(["resume", journal], env=servers.barge_env(R2_ENDPOINT_URL=proxy.url),
                      timeout=120)
        assert r.code == 0, ok(r)
        assert proxy.wait_idle()
        resent = [(q.method, q.query.get("partNumber"), q.received) for q in proxy.of_run(run)
                  if q.method == "PUT" and q.key(b.dst) == "d/big"]
    finally:
        proxy.close()
    print(f"\n[complete-kill] the resume sent {sum(x[2] for x in resent)} bytes of d/big "
          f"in {len(resent)} PUTs")
    assert sum(x[2] for x in resent) <= 4 * PART, (
        f"the resume uploaded d/big again ({len(resent)} PUTs, "
        f"{sum(x[2] for x in resent)} bytes) although the destination had completed it")
    assert_same_objects(dst, b.dst, want)


def test_killed_while_the_server_creates_the_upload(servers, fresh_buckets, tmp_path):
    """kill -9 after the destination created a multipart upload and before
    barge heard its ID (journal state 1, no upload ID): the resume must
    find that stray upload and abort it, so none is left behind."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    want = {"d/big": os.urandom(12 * MiB + 1)}
    put_many(src, b.src, want)
    journal = tmp_path / "j"

    def hold(method, path, query):
        return method == "POST" and "uploads" in query and path.endswith("/d/big")

    proxy = MeterProxy(servers.dst.port, hold=hold)
    try:
        run = proxy.new_run()
        p = start_barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/d", "--journal", journal,
                         "--part-size", "5M", "--progress", "none"],
                        popen_env(servers, R2_ENDPOINT_URL=proxy.url), tmp_path, "killed")
        try:
            wait_for(lambda: any(q.held for q in proxy.of_run(run)) or p.poll() is not None,
                     60, "CreateMultipartUpload of d/big to reach the server")
            assert p.poll() is None, logs(p)
        finally:
            kill9(p)
        proxy.release()
        assert proxy.wait_idle()
        stray = [u["UploadId"] for u in uploads(dst, b.dst) if u["Key"] == "d/big"]
        assert len(stray) == 1, stray
        assert read_journal(journal)["d/big"]["state"] == S_CREATING
        proxy.hold = None
        r = run_barge(["resume", journal], env=servers.barge_env(R2_ENDPOINT_URL=proxy.url),
                      timeout=120)
        assert r.code == 0, ok(r)
    finally:
        proxy.close()
    assert_same_objects(dst, b.dst, want)     # includes: no upload left (the stray aborted)


# ---- 5. barge status ------------------------------------------------------------------

def run_begun(servers, journal) -> bool:
    if not journal.exists():
        return False
    r = run_barge(["status", journal, "--json"], env=servers.barge_env(), timeout=30)
    return r.code == 0 and json.loads(r.stdout).get("source") is not None


def status_json(servers, journal) -> dict:
    r = run_barge(["status", journal, "--json"], env=servers.barge_env(), timeout=30)
    assert r.code == 0, "status --json: " + ok(r)
    for s in SECRETS:
        assert s not in r.stdout and s not in r.stderr
    try:
        return json.loads(r.stdout)
    except ValueError:
        pytest.fail(f"status --json is not JSON:\n{r.stdout[:2000]}", pytrace=False)


def check_status_shape(st, journal, src_url, dst_url) -> None:
    assert st["journal"] == str(journal)
    # as given (a normalised trailing slash is fine)
    assert (st["source"].rstrip("/"), st["destination"].rstrip("/")) == (src_url, dst_url), st
    for sect in ("objects", "bytes"):
        s = st[sect]
        assert all(isinstance(s[k], int) and s[k] >= 0
                   for k in ("done", "in_progress", "failed", "total")), s
        assert s["done"] + s["in_progress"] + s["failed"] <= s["total"], s
    assert isinstance(st["failures"], list) and isinstance(st["runs"], list)


def test_status_while_and_after_a_copy(servers, fresh_buckets, tmp_path):
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    want = small_set(40)
    want["d/big-1"] = os.urandom(12 * MiB)
    want["d/big-2"] = os.urandom(9 * MiB + 1)
    put_many(src, b.src, want)
    journal = tmp_path / "j"
    src_url, dst_url = f"s3://{b.src}/d", f"r2://{b.dst}/d"
    proxy = MeterProxy(servers.dst.port, rate=6 * MiB)
    samples = []
    try:
        p = start_barge(["copy", src_url, dst_url, "--journal", journal, "--part-size", "5M",
                         "--concurrency", "4", "--progress", "none"],
                        popen_env(servers, R2_ENDPOINT_URL=proxy.url), tmp_path, "copy")
        # the file appears before its first run is recorded (a window an
        # ASan build is slow enough to hit): wait for the run
        wait_for(lambda: run_begun(servers, journal) or p.poll() is not None, 20,
                 "the journal's first run")
        while p.poll() is None:
            st = status_json(servers, journal)
            n_dst = len(listing(dst, b.dst))
            running = p.poll() is None
            check_status_shape(st, journal, src_url, dst_url)
            # an object journaled done is on the destination (listed after)
            assert st["objects"]["done"] <= n_dst, (st["objects"], n_dst)
            if running:
                samples.append(st)
            time.sleep(0.3)
        assert p.wait() == 0, logs(p)
        assert proxy.wait_idle()
        sent = proxy.put_bytes()
        posted = sum(q.received for q in proxy.of_run() if q.method == "POST")
    finally:
        proxy.close()
    assert samples, "no status sample was taken while the copy ran"
    assert any(s["objects"]["done"] < len(want) for s in samples)
    st = status_json(servers, journal)
    check_status_shape(st, journal, src_url, dst_url)
    n = len(listing(dst, b.dst))
    size = sum(len(v) for v in want.values())
    assert n == len(want)
    assert st["objects"] == {"done": n, "in_progress": 0, "failed": 0, "total": n}
    assert st["bytes"] == {"done": size, "in_progress": 0, "failed": 0, "total": size}
    assert st["failures"] == []
    assert len(st["runs"]) == 1, st["runs"]
    run = st["runs"][0]
    assert run["exit_code"] == 0 and run["ended_at"] is not None and run["started_at"]
    assert run["objects_done"] == n
    # every body byte barge sent (PUT bodies; CompleteMultipartUpload XML may count too)
    assert sent <= run["bytes_written"] <= sent + posted, (run["bytes_written"], sent, posted)
    text = run_barge(["status", journal], env=servers.barge_env(), timeout=30)
    assert text.code == 0, ok(text)
    assert str(n) in text.stdout
    assert_same_objects(dst, b.dst, want)


def test_status_lists_a_failed_object(servers, fresh_buckets, tmp_path):
    """The destination refuses one key (403 AccessDenied, as a bucket policy
    denying a prefix would): exit 1, and status names it with its error."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    want = small_set(8)
    denied = "d/obj-05"
    put_many(src, b.src, want)
    journal = tmp_path / "j"

    def answer(method, path, query):
        return (403, "AccessDenied") if method == "PUT" and path.endswith("/" + denied) else None

    proxy = MeterProxy(servers.dst.port, answer=answer)
    try:
        r = run_barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/d", "--journal", journal,
                       "--retries", "2", "--progress", "none"],
                      env=servers.barge_env(R2_ENDPOINT_URL=proxy.url), timeout=120)
    except BaseException:
        proxy.close()
        raise
    assert r.code == 1, ok(r)
    st = status_json(servers, journal)
    n = len(listing(dst, b.dst))
    assert n == len(want) - 1
    assert st["objects"]["done"] == n and st["objects"]["failed"] == 1, st["objects"]
    assert st["objects"]["total"] == len(want), st["objects"]
    assert st["bytes"]["failed"] == len(want[denied]), st["bytes"]
    assert len(st["failures"]) == 1, st["failures"]
    f = st["failures"][0]
    assert f["key"] in (denied, denied[len("d/"):]), f
    assert "403" in f["error"] or "AccessDenied" in f["error"], f
    assert f["at"]
    assert st["runs"][-1]["exit_code"] == 1
    # The refusal is lifted: a resume (through the same proxy, the journal's
    # endpoint) copies that object, and only that one.
    try:
        proxy.answer = None
        run = proxy.new_run()
        r = run_barge(["resume", journal], env=servers.barge_env(R2_ENDPOINT_URL=proxy.url),
                      timeout=120)
        assert r.code == 0, ok(r)
        assert proxy.wait_idle()
        puts = sorted(q.key(b.dst) for q in proxy.of_run(run) if q.method == "PUT")
    finally:
        proxy.close()
    assert puts == [denied], puts
    st = status_json(servers, journal)
    assert st["objects"] == {"done": len(want), "in_progress": 0, "failed": 0,
                             "total": len(want)}, st["objects"]
    assert st["failures"] == []
    assert [x["exit_code"] for x in st["runs"]] == [1, 0]
    assert_same_objects(dst, b.dst, want)


# ---- 6. refusals ----------------------------------------------------------------------

def make_journal(servers, b, path: Path, dst_prefix="a") -> None:
    """A real, finished journal (s3://src/d -> r2://dst/<dst_prefix>)."""
    servers.src.client.put_object(Bucket=b.src, Key="d/x", Body=b"x" * 3000)
    servers.src.client.put_object(Bucket=b.src, Key="d/y", Body=b"y" * 10)
    r = run_barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/{dst_prefix}", "--journal", path,
                   "--progress", "none"], env=servers.barge_env(), timeout=60)
    assert r.code == 0, "making a journal: " + ok(r)


def make_bad_file(kind: str, servers, b, path: Path, tmp_path: Path) -> None:
    if kind == "text":
        path.write_text("s3://bucket -> r2://bucket\nthis is not a journal\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "foreign-sqlite":
        con = sqlite3.connect(str(path))
        con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        con.execute("INSERT INTO notes (body) VALUES ('mine, not barge''s')")
        con.commit()
        con.close()
    elif kind == "truncated":
        real = tmp_path / "real.journal"
        make_journal(servers, b, real)
        path.write_bytes(real.read_bytes()[:1000])
        servers.src.client.delete_object(Bucket=b.src, Key="d/x")
        servers.src.client.delete_object(Bucket=b.src, Key="d/y")
        from conftest import empty_bucket
        empty_bucket(servers.dst.client, b.dst)
    else:
        raise ValueError(kind)


def dir_state(d: Path) -> dict:
    return {f.name: f.read_bytes() for f in sorted(d.iterdir()) if f.is_file()}


def assert_refused(r, *words) -> str:
    for s in SECRETS:
        assert s not in r.stdout and s not in r.stderr, "a secret key was printed"
    assert r.code == 2, ok(r)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{r.stderr}"
    for w in words:
        assert w in lines[0], f"{w!r} not in {lines[0]!r}"
    return lines[0]


@pytest.mark.parametrize("command", ["copy", "resume", "status"])
@pytest.mark.parametrize("kind", ["text", "truncated", "foreign-sqlite", "empty"])
def test_bad_journal_file_is_refused_and_left_alone(servers, fresh_buckets, tmp_path, kind,
                                                    command):
    b = fresh_buckets
    jdir = tmp_path / "jdir"
    jdir.mkdir()
    path = jdir / "barge.journal"
    make_bad_file(kind, servers, b, path, tmp_path)
    servers.src.client.put_object(Bucket=b.src, Key="d/z", Body=b"z" * 100)
    before = dir_state(jdir)
    args = {"copy": ["copy", f"s3://{b.src}/d", f"r2://{b.dst}/a", "--journal", path],
            "resume": ["resume", path], "status": ["status", path]}[command]
    r = run_barge(args, env=servers.barge_env(), timeout=60)
    assert_refused(r, str(path))
    assert dir_state(jdir) == before, "the journal's directory changed"
    assert listing(servers.dst.client, b.dst) == {}
    assert uploads(servers.dst.client, b.dst) == []


@pytest.mark.parametrize("command", ["copy", "resume", "status"])
def test_journal_in_a_missing_directory(servers, fresh_buckets, tmp_path, command):
    b = fresh_buckets
    servers.src.client.put_object(Bucket=b.src, Key="d/z", Body=b"z")
    path = tmp_path / "no-such-dir" / "j"
    args = {"copy": ["copy", f"s3://{b.src}/d", f"r2://{b.dst}/a", "--journal", path],
            "resume": ["resume", path], "status": ["status", path]}[command]
    r = run_barge(args, env=servers.barge_env(), timeout=60)
    assert_refused(r, str(path))
    assert not (tmp_path / "no-such-dir").exists()
    assert listing(servers.dst.client, b.dst) == {}


@pytest.mark.parametrize("other", ["destination", "source"])
def test_journal_of_another_copy_is_refused(servers, fresh_buckets, tmp_path, other):
    b = fresh_buckets
    path = tmp_path / "j"
    make_journal(servers, b, path, dst_prefix="a")
    servers.src.client.put_object(Bucket=b.src, Key="e/other", Body=b"o" * 50)
    before_files = dir_state(tmp_path)
    before_dst = {k: (o["ETag"], o["LastModified"])
                  for k, o in listing(servers.dst.client, b.dst).items()}
    assert sorted(before_dst) == ["a/x", "a/y"]
    src_url, dst_url = f"s3://{b.src}/d", f"r2://{b.dst}/a"
    if other == "destination":
        dst_url = f"r2://{b.dst}/b"
    else:
        src_url = f"s3://{b.src}/e"
    r = run_barge(["copy", src_url, dst_url, "--journal", path, "--progress", "none"],
                  env=servers.barge_env(), timeout=60)
    assert_refused(r, str(path))
    assert dir_state(tmp_path) == before_files
    after_dst = {k: (o["ETag"], o["LastModified"])
                 for k, o in listing(servers.dst.client, b.dst).items()}
    assert after_dst == before_dst
    assert uploads(servers.dst.client, b.dst) == []


def test_journal_of_another_endpoint_is_refused(servers, fresh_buckets, tmp_path):
    """The same r2://bucket/prefix at another endpoint (staging to
    production: another server, or the same one by another URL) or with
    another access key is another destination: the journal's done objects
    are not there.  copy, resume and audit with the journal are refused
    (exit 2, both identities named, nothing written); the journal's own
    endpoint still resumes."""
    b = fresh_buckets
    path = tmp_path / "j"
    make_journal(servers, b, path, dst_prefix="a")          # through 127.0.0.1:PORT
    servers.src.client.put_object(Bucket=b.src, Key="d/new", Body=b"n" * 77)
    before_dst = {k: (o["ETag"], o["LastModified"])
                  for k, o in listing(servers.dst.client, b.dst).items()}
    assert sorted(before_dst) == ["a/x", "a/y"]
    # "production": a second server holding a bucket of the same name
    prod = servers.src.new_client()
    prod.create_bucket(Bucket=b.dst)
    was = f"{servers.dst.url} (region auto, access key {servers.dst.access_key})"
    port = servers.dst.port
    others = {
        "second server": (servers.src.url, servers.src.access_key, servers.src.secret_key),
        "same server, other URL": (f"http://localhost:{port}", servers.dst.access_key,
                                   servers.dst.secret_key),
        "other access key": (servers.dst.url, "OTHERACCESSKEY01", "other-secret"),
    }
    copy = ["copy", f"s3://{b.src}/d", f"r2://{b.dst}/a", "--journal", path]
    try:
        for label, (url, key, secret) in others.items():
            env = servers.barge_env(R2_ENDPOINT_URL=url, R2_ACCESS_KEY_ID=key,
                                    R2_SECRET_ACCESS_KEY=secret)
            now = f"{url} (region auto, access key {key})"
            for args in (copy, ["resume", path]):
                r = run_barge(args, env=env, timeout=60)
                line = assert_refused(r, str(path), was, now, "give another --journal path")
                assert "destination" in line, (label, line)
            r = run_barge(["audit", f"s3://{b.src}/d", f"r2://{b.dst}/a", "--journal", path],
                          env=env, timeout=60)
            assert r.code == 2 and was in r.stderr and now in r.stderr, (label, ok(r))
        # nothing was written at the other destinations, nor at the journal's
        assert listing(prod, b.dst) == {}
        assert uploads(prod, b.dst) == []
        after_dst = {k: (o["ETag"], o["LastModified"])
                     for k, o in listing(servers.dst.client, b.dst).items()}
        assert after_dst == before_dst
        assert [r["exit_code"] for r in journal_runs(path)] == [0]
    finally:
        for o in prod.list_objects_v2(Bucket=b.dst).get("Contents", []):
            prod.delete_object(Bucket=b.dst, Key=o["Key"])
        prod.delete_bucket(Bucket=b.dst)
    # the journal's own endpoint and keys still resume
    r = run_barge(["resume", path], env=servers.barge_env(), timeout=60)
    assert r.code == 0, ok(r)
    assert sorted(listing(servers.dst.client, b.dst)) == ["a/new", "a/x", "a/y"]
    assert [r["exit_code"] for r in journal_runs(path)] == [0, 0]


@pytest.mark.parametrize("value", ["bogus", ""])
def test_bad_journal_sync_value(servers, fresh_buckets, tmp_path, value):
    b = fresh_buckets
    servers.src.client.put_object(Bucket=b.src, Key="d/z", Body=b"z")
    path = tmp_path / "j"
    r = run_barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/a", "--journal", path,
                   "--journal-sync", value], env=servers.barge_env(), timeout=60)
    assert_refused(r, "--journal-sync")
    assert not path.exists()
    assert listing(servers.dst.client, b.dst) == {}


def test_second_barge_on_a_journal_in_use_is_refused(servers, fresh_buckets, tmp_path):
    b = fresh_buckets
    want = small_set(6)
    want["d/big"] = os.urandom(15 * MiB)
    put_many(servers.src.client, b.src, want)
    journal = tmp_path / "j"
    proxy = MeterProxy(servers.dst.port, rate=5 * MiB)
    try:
        p = start_barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/d", "--journal", journal,
                         "--part-size", "5M", "--progress", "none"],
                        popen_env(servers, R2_ENDPOINT_URL=proxy.url), tmp_path, "first")
        wait_for(lambda: journal.exists() and (time.sleep(0.3) or True), 20, "the journal")
        for args in (["resume", journal],
                     ["copy", f"s3://{b.src}/d", f"r2://{b.dst}/d", "--journal", journal]):
            assert p.poll() is None, "the first copy ended too early:\n" + logs(p)
            r = run_barge(args, env=servers.barge_env(R2_ENDPOINT_URL=proxy.url), timeout=60)
            # exit 75 (temporary); `resume` may announce what it resumes
            # before the refusal
            assert r.code == 75, ok(r)
            last = r.stderr.strip().splitlines()[-1]
            assert str(journal) in last and "in use" in last, r.stderr
        assert p.wait(timeout=120) == 0, logs(p)
    finally:
        proxy.close()
    assert_same_objects(servers.dst.client, b.dst, want)


# ---- 7. the file itself --------------------------------------------------------------------

def test_journal_is_private_and_holds_no_secret(servers, fresh_buckets, tmp_path):
    b = fresh_buckets
    want = small_set(20)
    want["d/big"] = os.urandom(16 * MiB)
    put_many(servers.src.client, b.src, want)
    journal = tmp_path / "j"
    old = os.umask(0o022)
    proxy = MeterProxy(servers.dst.port, rate=8 * MiB)
    try:
        # killed mid-copy, so that the WAL is still there to be read
        kill_inside_upload(servers, b, journal, "d/big", tmp_path, proxy, min_parts=1)
    except BaseException:
        proxy.close()
        raise
    finally:
        os.umask(old)

    def check():
        files = journal_files(journal)
        assert journal in files
        for f in files:
            mode = stat.S_IMODE(f.stat().st_mode)
            if f.name.endswith("-shm"):
                continue          # SQLite's shared-memory index: no data
            assert mode == 0o600, f"{f} has mode {oct(mode)}"
            data = f.read_bytes()
            for s in SECRETS:
                assert s.encode() not in data, f"{f} contains a secret key"
        return files

    try:
        files = check()
        assert any(f.name.endswith("-wal") for f in files), "no WAL after kill -9 (not WAL mode?)"
        # through the same proxy: the journal belongs to the endpoint it names
        proxy.rate = None
        r = run_barge(["resume", journal], env=servers.barge_env(R2_ENDPOINT_URL=proxy.url),
                      timeout=120)
    finally:
        proxy.close()
    assert r.code == 0, ok(r)
    check()
    assert_same_objects(servers.dst.client, b.dst, want)
