"""The bad-input matrix: bad URLs, flags and values, missing and wrong
credentials, missing buckets, bad journals, read-only and full disks for the
journal, and a skewed clock.  (test_copy_errors.py and test_journal.py hold
more; every case here is its own.)

Each case must exit 2 (a usage, configuration or environment error: the
brief's contract), print exactly one line on stderr that names the problem
(the words an operator needs to fix it are asserted), print no secret, and
leave the destination as it was: an object copied there before (`c/keep`,
and for the journal cases a whole earlier copy) is still there, byte for
byte (boto3), nothing new appears and no multipart upload is left open.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import DST_SECRET_KEY, SRC_SECRET_KEY, barge_bin, run_barge

WRONG_SECRET = "wrong-secret-for-bad-input-0123456789abcd"
SESSION_TOKEN = "FQoGZXIvYXdzEBadInputSessionToken0123456789abcdefSECRET"
SECRETS = (DST_SECRET_KEY, SRC_SECRET_KEY, WRONG_SECRET, SESSION_TOKEN)
KEEP = b"kept from an earlier copy " * 40
SRC, DST = "{SRC}", "{DST}"  # placeholders for the test's locations


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


# ---- fixtures and checks -------------------------------------------------------

@pytest.fixture
def world(servers, fresh_buckets):
    """Source objects to copy, and one object already on the destination."""
    b = fresh_buckets
    servers.src.client.put_object(Bucket=b.src, Key="d/a", Body=b"a" * 10)
    servers.src.client.put_object(Bucket=b.src, Key="d/sub/b", Body=b"b" * 1000)
    servers.dst.client.put_object(Bucket=b.dst, Key="c/keep", Body=KEEP)
    return b


def dst_state(servers, bucket):
    dst = servers.dst.client
    objs = {}
    for page in dst.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            objs[o["Key"]] = md5(dst.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
    return objs


def assert_dst_unchanged(servers, bucket, before):
    assert dst_state(servers, bucket) == before, "the destination changed"
    ups = servers.dst.client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert ups == [], f"multipart uploads left open: {ups}"


def assert_refused(r, words, code=2) -> str:
    """Exit `code`, one line on stderr containing every word of `words`
    (case-insensitive), no secret anywhere in the output."""
    for s in SECRETS:
        assert s not in r.stdout and s not in r.stderr, "a secret was printed"
    assert r.code == code, f"exit {r.code}\nstdout:\n{r.stdout[-2000:]}\nstderr:\n{r.stderr[-2000:]}"
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{r.stderr}"
    for w in words:
        assert w.lower() in lines[0].lower(), f"{w!r} not in {lines[0]!r}"
    return lines[0]


def fill(args, b, tmp_path):
    out = []
    for a in args:
        a = str(a).replace(SRC, f"s3://{b.src}/d").replace(DST, f"r2://{b.dst}/c")
        a = a.replace("{SRCBUCKET}", b.src).replace("{DSTBUCKET}", b.dst)
        out.append(a.replace("{TMP}", str(tmp_path)))
    return out


# ---- 1. URLs and flags of `barge copy` ------------------------------------------

ARG_CASES = [
    # locations
    ("scheme-https", ["https://bucket.s3.amazonaws.com/d", DST], ["unsupported scheme", "s3://"]),
    ("scheme-file", ["file:///tmp/x", DST], ["unsupported scheme", "file://"]),
    ("scheme-ftp-dst", [SRC, "ftp://host/x"], ["unsupported scheme", "ftp://"]),
    ("bucket-uppercase", ["s3://Bad-Bucket/d", DST], ["bucket name", "s3://Bad-Bucket/d"]),
    ("bucket-too-short", ["s3://ab/d", DST], ["bucket name", "s3://ab/d"]),
    ("bucket-too-long", ["s3://" + "b" * 64 + "/d", DST], ["bucket name"]),
    ("bucket-leading-dash", ["s3://-bucket/d", DST], ["bucket name", "-bucket"]),
    ("bucket-trailing-dot", [SRC, "r2://bucket./c"], ["bucket name", "bucket."]),
    ("bucket-with-space", [SRC, "r2://my bucket/c"], ["bucket name", "my bucket"]),
    ("bucket-with-colon", ["s3://bu:cket/d", DST], ["bucket name"]),
    ("s3-two-slashes-only", ["s3://", "r2://"], ["bucket", "s3://"]),
    ("r2-empty-bucket-prefix", [SRC, "r2:///c"], ["bucket", "r2:///c"]),
    ("empty-source", ["", DST], ["empty location"]),
    ("empty-destination", [SRC, ""], ["empty location"]),
    ("prefix-too-long", [SRC, "r2://{DSTBUCKET}/" + "k" * 1100], ["prefix", "longer"]),
    # sizes
    ("part-size-empty", [SRC, DST, "--part-size", ""], ["--part-size"]),
    ("part-size-unit-only", [SRC, DST, "--part-size", "M"], ["--part-size", "'M'"]),
    ("part-size-bad-unit", [SRC, DST, "--part-size", "5X"], ["--part-size", "5X"]),
    ("part-size-trailing-junk", [SRC, DST, "--part-size", "5MiBs"], ["--part-size", "5MiBs"]),
    ("part-size-space", [SRC, DST, "--part-size", "5 M"], ["--part-size", "5 M"]),
    ("part-size-huge", [SRC, DST, "--part-size", "99999999999999999999"], ["--part-size"]),
    ("part-size-zero", [SRC, DST, "--part-size", "0"], ["--part-size", "0"]),
    ("part-size-exponent", [SRC, DST, "--part-size", "6e6"], ["--part-size", "6e6"]),
    ("memory-hex", [SRC, DST, "--memory", "0x40000000"], ["--memory", "0x40000000"]),
    ("memory-abc", [SRC, DST, "--memory", "lots"], ["--memory", "lots"]),
    ("memory-zero", [SRC, DST, "--memory", "0"], ["--memory", "0"]),
    ("threshold-bad", [SRC, DST, "--multipart-threshold", "big"], ["--multipart-threshold", "big"]),
    ("threshold-no-value", [SRC, DST, "--multipart-threshold"], ["--multipart-threshold"]),
    # numbers
    ("concurrency-huge", [SRC, DST, "--concurrency", "99999999999"], ["--concurrency", "99999999999"]),
    ("concurrency-fraction", [SRC, DST, "--concurrency", "1.5"], ["--concurrency", "1.5"]),
    ("concurrency-empty", [SRC, DST, "--concurrency", ""], ["--concurrency"]),
    ("retries-negative", [SRC, DST, "--retries", "-1"], ["--retries", "-1"]),
    ("retries-word", [SRC, DST, "--retries", "many"], ["--retries", "many"]),
    ("retries-no-value", [SRC, DST, "--retries"], ["--retries"]),
    ("stall-timeout-zero", [SRC, DST, "--stall-timeout", "0"], ["--stall-timeout", "'0'"]),
    ("stall-timeout-word", [SRC, DST, "--stall-timeout", "5s"], ["--stall-timeout", "5s"]),
    # local paths
    ("local-both-sides", ["{TMP}", "{TMP}/out"], ["both SRC and DST are local", "rsync"]),
    ("local-source-missing", ["{TMP}/no-such-dir", DST], ["source", "no-such-dir", "No such file"]),
    ("local-dst-under-a-file", [SRC, "/etc/passwd/x"], ["cannot make the directory", "/etc/passwd/x",
                                                        "Not a directory"]),
    # enums
    ("checksum-uppercase", [SRC, DST, "--checksum", "SHA256"], ["--checksum", "SHA256"]),
    ("checksum-empty", [SRC, DST, "--checksum", ""], ["--checksum"]),
    ("progress-empty", [SRC, DST, "--progress", ""], ["--progress"]),
    ("journal-sync-fast", [SRC, DST, "--journal", "{TMP}/j", "--journal-sync", "fast"],
     ["--journal-sync", "fast"]),
    # missing values
    ("include-no-value", [SRC, DST, "--include"], ["--include"]),
    ("exclude-no-value", [SRC, DST, "--exclude"], ["--exclude"]),
    ("env-file-no-value", [SRC, DST, "--env-file"], ["--env-file"]),
    ("src-profile-no-value", [SRC, DST, "--src-profile"], ["--src-profile"]),
    ("ca-bundle-no-value", [SRC, DST, "--ca-bundle"], ["--ca-bundle"]),
    ("journal-no-value", [SRC, DST, "--journal"], ["--journal"]),
    # values that are files
    ("ca-bundle-missing-file", [SRC, DST, "--ca-bundle", "{TMP}/no-such-ca.pem"],
     ["no-such-ca.pem"]),
    ("env-file-is-a-directory", [SRC, DST, "--env-file", "{TMP}"], ["{TMP}"]),
    # flags that are secrets are refused, never accepted
    ("secret-as-flag", [SRC, DST, "--secret-access-key", WRONG_SECRET], ["unknown option"]),
    # duplicates: the last value wins, so a bad last one is named
    ("duplicate-part-size-bad-last", [SRC, DST, "--part-size", "8M", "--part-size", "1M"],
     ["--part-size", "1M"]),
]


@pytest.mark.parametrize("args,words", [pytest.param(a, w, id=i) for i, a, w in ARG_CASES])
def test_bad_arguments(servers, world, barge, tmp_path, args, words):
    before = dst_state(servers, world.dst)
    words = fill(words, world, tmp_path)
    r = barge(["copy", *fill(args, world, tmp_path)], timeout=30)
    assert_refused(r, words)
    assert_dst_unchanged(servers, world.dst, before)
    assert not (tmp_path / "j").exists(), "a journal was created for a refused copy"


def default_memory() -> int:
    """What the default --memory should be, from the kernel's figures: a
    sixteenth of physical memory (or of the cgroup's limit when lower),
    whole MiB, at least 256 MiB and at most 1 GiB."""
    mib = 1 << 20
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit() and 0 < int(limit) < ram:
            ram = int(limit)
    except OSError:
        pass
    return min(max(ram // 16 // mib * mib, 256 * mib), 1024 * mib)


def test_default_memory_bounds_the_part_size(servers, world, barge, tmp_path):
    """Without --memory, a part size of half the default budget is taken
    (the dry run lists and plans), and one MiB more is refused, naming
    --memory: the default is what the brief of the option says."""
    half = default_memory() // 2 >> 20
    r = barge(["copy", *fill([SRC, DST], world, tmp_path), "--part-size", f"{half + 1}M"],
              timeout=30)
    assert_refused(r, ["--memory", "--part-size"])
    r = barge(["copy", *fill([SRC, DST], world, tmp_path), "--part-size", f"{half}M",
               "--dry-run"], timeout=60)
    assert r.code == 0, r.stderr


def test_location_with_newline_is_one_line(servers, world, barge):
    before = dst_state(servers, world.dst)
    r = barge(["copy", f"s3://{world.src}/d", "r2://ds\n/x"], timeout=30)
    assert_dst_unchanged(servers, world.dst, before)
    assert_refused(r, ["bucket"])


def test_copy_onto_itself_is_refused(servers, world, barge):
    """SRC and DST the same place: refused before anything is written."""
    src = servers.src.client
    before = {o["Key"]: o["ETag"] for o in src.list_objects_v2(Bucket=world.src)["Contents"]}
    r = barge(["copy", f"s3://{world.src}/d", f"s3://{world.src}/d"],
              env={"AWS_ENDPOINT_URL_S3": servers.src.url}, timeout=60)
    assert_refused(r, ["same"])
    after = {o["Key"]: o["ETag"] for o in src.list_objects_v2(Bucket=world.src)["Contents"]}
    assert after == before


# ---- 2. credentials and endpoints -------------------------------------------------

def _env(servers, unset=(), **set_):
    env = servers.barge_env()
    for k in unset:
        env.pop(k, None)
    for k, v in set_.items():
        env[k] = v
    return env


CONFIG_FILES = {
    "garbage": "this is not an ini file\n",
    "prod-profile": "[profile prod]\nregion = us-east-1\n",
    "sso": "[profile sso]\nsso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\n",
}

ENV_CASES = [
    # (id, unset, set, config file content or None, words)
    ("no-aws-access-key", ["AWS_ACCESS_KEY_ID"], {}, None, ["AWS_ACCESS_KEY_ID"]),
    ("no-aws-secret-key", ["AWS_SECRET_ACCESS_KEY"], {}, None, ["AWS_SECRET_ACCESS_KEY"]),
    ("no-aws-keys-at-all", ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"], {}, None,
     ["AWS_ACCESS_KEY_ID"]),
    ("aws-profile-missing", ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
     {"AWS_PROFILE": "nosuchprofile"}, None, ["nosuchprofile"]),
    ("aws-config-garbage", ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"], {}, "garbage",
     ["config", ":1"]),
    ("aws-profile-without-keys", ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
     {"AWS_PROFILE": "prod"}, "prod-profile", ["prod"]),
    ("aws-profile-sso-unsupported", ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
     {"AWS_PROFILE": "sso"}, "sso", ["sso"]),
    ("aws-endpoint-bad-scheme", [], {"AWS_ENDPOINT_URL_S3": "ftp://127.0.0.1:1"}, None,
     ["AWS_ENDPOINT_URL_S3", "ftp://"]),
    ("aws-endpoint-not-a-url", [], {"AWS_ENDPOINT_URL_S3": "not a url"}, None,
     ["AWS_ENDPOINT_URL_S3"]),
    ("r2-endpoint-bad-scheme", [], {"R2_ENDPOINT_URL": "gopher://127.0.0.1:70"}, None,
     ["R2_ENDPOINT_URL", "gopher://"]),
    ("r2-no-endpoint-no-account", ["R2_ENDPOINT_URL", "R2_ACCOUNT_ID"], {}, None,
     ["R2_ACCOUNT_ID"]),
    ("aws-ca-bundle-missing", [], {"AWS_CA_BUNDLE": "/nonexistent/ca.pem"}, None,
     ["/nonexistent/ca.pem"]),
    ("aws-credentials-file-is-dir", ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
     {"AWS_SHARED_CREDENTIALS_FILE": "{TMP}"}, None, ["{TMP}", "directory"]),
]


@pytest.mark.parametrize("unset,set_,config,words",
                         [pytest.param(u, s, c, w, id=i) for i, u, s, c, w in ENV_CASES])
def test_bad_configuration(servers, world, tmp_path, unset, set_, config, words):
    before = dst_state(servers, world.dst)
    env = _env(servers, unset, **{k: v.replace("{TMP}", str(tmp_path)) for k, v in set_.items()})
    if config is not None:
        Path(env["AWS_CONFIG_FILE"]).parent.mkdir(parents=True, exist_ok=True)
        Path(env["AWS_CONFIG_FILE"]).write_text(CONFIG_FILES[config])
    try:
        r = run_barge(["copy", f"s3://{world.src}/d", f"r2://{world.dst}/c"], env=env, timeout=60)
    finally:
        if config is not None:
            Path(env["AWS_CONFIG_FILE"]).unlink()
    assert_refused(r, [w.replace("{TMP}", str(tmp_path)) for w in words])
    assert_dst_unchanged(servers, world.dst, before)


@pytest.mark.parametrize("side", ["dst-profile", "src-profile"])
def test_profile_flag_names_a_missing_profile(servers, world, barge, side):
    before = dst_state(servers, world.dst)
    r = barge(["copy", f"s3://{world.src}/d", f"r2://{world.dst}/c", f"--{side}", "ghost"],
              timeout=30)
    assert_refused(r, ["ghost"])
    assert_dst_unchanged(servers, world.dst, before)


def _need_rgw(servers):
    if servers.dst.kind != "rgw":
        pytest.skip("BARGE_TEST_SERVERS=moto-only: moto checks no signatures")


@pytest.mark.parametrize("var,value,words", [
    ("R2_ACCESS_KEY_ID", "AKIDNOSUCHKEY0000000", ["R2_ACCESS_KEY_ID"]),
    ("R2_SECRET_ACCESS_KEY", WRONG_SECRET, ["R2_SECRET_ACCESS_KEY"]),
    ("AWS_SESSION_TOKEN", SESSION_TOKEN, []),
], ids=["wrong-r2-access-key", "wrong-r2-secret-names-the-variable", "session-token-on-moto"])
def test_wrong_credentials(servers, world, barge, var, value, words):
    """Keys the destination does not know: exit 2 and one line that says
    which key to check; a session token is never printed."""
    before = dst_state(servers, world.dst)
    if var.startswith("R2_"):
        _need_rgw(servers)
        r = barge(["copy", f"s3://{world.src}/d", f"r2://{world.dst}/c", "--retries", "2"],
                  env={var: value}, timeout=60)
        line = assert_refused(r, [])
        assert "denied" in line.lower() or "403" in line or "InvalidAccessKeyId" in line, line
        for w in words:
            assert w.lower() in line.lower(), f"{w!r} not in {line!r}"
        assert_dst_unchanged(servers, world.dst, before)
    else:
        # moto ignores the token: the copy works, and the token is never shown.
        r = barge(["copy", f"s3://{world.src}/d", f"r2://{world.dst}/c", "--progress", "json"],
                  env={var: value}, timeout=60)
        assert r.code == 0, r.stderr
        assert SESSION_TOKEN not in r.stdout + r.stderr


# ---- 3. buckets that do not exist, other subcommands -----------------------------

def test_audit_destination_bucket_missing(servers, world, barge):
    missing = world.dst + "-gone"
    r = barge(["audit", f"s3://{world.src}/d", f"r2://{missing}/c"], timeout=60)
    assert_refused(r, [missing])


def test_audit_source_bucket_missing(servers, world, barge):
    missing = world.src + "-gone"
    before = dst_state(servers, world.dst)
    r = barge(["audit", f"s3://{missing}/d", f"r2://{world.dst}/c"], timeout=60)
    assert_refused(r, [missing])
    assert_dst_unchanged(servers, world.dst, before)


def test_copy_both_buckets_missing(servers, world, barge):
    r = barge(["copy", f"s3://{world.src}-gone/d", f"r2://{world.dst}-gone/c"], timeout=60)
    line = assert_refused(r, ["does not exist"])
    assert world.src + "-gone" in line or world.dst + "-gone" in line, line


@pytest.mark.parametrize("args,words", [
    (["audit", SRC, DST, "--sample", "0"], ["--sample"]),
    (["audit", SRC, DST, "--sample", "1.5"], ["--sample"]),
    (["audit", SRC, DST, "--bogus"], ["unknown option", "--bogus"]),
    (["audit", SRC], ["SRC and DST"]),
    (["resume"], ["JOURNAL"]),
    (["status"], ["JOURNAL"]),
    (["resume", "{TMP}/none.journal"], ["{TMP}/none.journal", "does not exist"]),
    (["status", "{TMP}/none.journal"], ["{TMP}/none.journal", "does not exist"]),
    (["frobnicate"], ["frobnicate"]),
], ids=["audit-sample-0", "audit-sample-over-1", "audit-unknown-flag", "audit-missing-dst",
        "resume-no-journal", "status-no-journal", "resume-missing-file", "status-missing-file",
        "unknown-command"])
def test_bad_subcommand_arguments(servers, world, barge, tmp_path, args, words):
    before = dst_state(servers, world.dst)
    r = barge(fill(args, world, tmp_path), timeout=30)
    assert_refused(r, fill(words, world, tmp_path))
    assert_dst_unchanged(servers, world.dst, before)


# ---- 4. journals: bad, foreign, another pair, on a read-only or full disk -----------

def make_journal(servers, world, path, dst_prefix="c"):
    """A finished copy with a journal at `path`; returns the destination state."""
    r = run_barge(["copy", f"s3://{world.src}/d", f"r2://{world.dst}/{dst_prefix}",
                   "--journal", path, "--progress", "none"], env=servers.barge_env(), timeout=60)
    assert r.code == 0, r.stderr
    state = dst_state(servers, world.dst)
    assert state[f"{dst_prefix}/a"] == md5(b"a" * 10)
    assert state[f"{dst_prefix}/sub/b"] == md5(b"b" * 1000)
    return state


def files_state(d: Path):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def _newer(path):
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()


def _damage(path):
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    assert len(data) >= 2 * page
    for i in range(page + 8, 2 * page - 8):  # everything of page 2 but its header
        data[i] ^= 0xA5
    path.write_bytes(bytes(data))


def test_journal_with_a_newer_schema_is_refused(servers, world, tmp_path):
    path = tmp_path / "j"
    before = make_journal(servers, world, path)
    _newer(path)
    data = path.read_bytes()
    for args in (["status", path], ["resume", path]):
        r = run_barge(args, env=servers.barge_env(), timeout=60)
        assert_refused(r, [str(path), "newer"])
    assert path.read_bytes() == data
    assert_dst_unchanged(servers, world.dst, before)


def test_journal_with_a_damaged_page_is_refused(servers, world, tmp_path):
    """Refused, the file left alone (the one-line rule: see the next test)."""
    path = tmp_path / "j"
    before = make_journal(servers, world, path)
    _damage(path)
    data = path.read_bytes()
    for args in (["status", path], ["resume", path]):
        r = run_barge(args, env=servers.barge_env(), timeout=60)
        assert r.code == 2, r.stderr
        assert str(path) in r.stderr and "corrupt" in r.stderr.lower(), r.stderr
        for s in SECRETS:
            assert s not in r.stdout + r.stderr
    assert path.read_bytes() == data
    assert_dst_unchanged(servers, world.dst, before)


def test_journal_with_a_damaged_page_one_line(servers, world, tmp_path):
    path = tmp_path / "j"
    make_journal(servers, world, path)
    _damage(path)
    r = run_barge(["resume", path], env=servers.barge_env(), timeout=60)
    assert_refused(r, [str(path), "corrupt"])


def test_refused_journal_leaves_its_directory_alone(servers, world, tmp_path):
    path = tmp_path / "j"
    make_journal(servers, world, path)
    _newer(path)
    files = files_state(tmp_path)
    r = run_barge(["resume", path], env=servers.barge_env(), timeout=60)
    assert r.code == 2, r.stderr
    assert files_state(tmp_path) == files


def test_audit_with_the_journal_of_another_pair(servers, world, tmp_path):
    path = tmp_path / "j"
    before = make_journal(servers, world, path)
    files = files_state(tmp_path)
    r = run_barge(["audit", f"s3://{world.src}/d", f"r2://{world.dst}/other", "--journal", path],
                  env=servers.barge_env(), timeout=60)
    assert_refused(r, [str(path)])
    assert files_state(tmp_path) == files
    assert_dst_unchanged(servers, world.dst, before)


def test_resume_of_a_journal_that_is_a_directory(servers, world, tmp_path):
    d = tmp_path / "jdir"
    d.mkdir()
    r = run_barge(["resume", d], env=servers.barge_env(), timeout=30)
    assert_refused(r, [str(d), "not a regular file"])


def test_resume_of_a_file_that_is_not_a_journal(servers, world, tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("SQLite format 3? no, just notes\n" * 100)
    before = dst_state(servers, world.dst)
    r = run_barge(["resume", p], env=servers.barge_env(), timeout=30)
    assert_refused(r, [str(p), "not a barge journal"])
    assert p.read_text() == "SQLite format 3? no, just notes\n" * 100
    assert_dst_unchanged(servers, world.dst, before)


@pytest.fixture
def small_fs(tmp_path, tmpfs_at):
    """A 1 MiB tmpfs at tmp_path/fs (root only)."""
    return tmpfs_at(tmp_path / "fs", "1M")


def test_journal_on_a_read_only_disk(servers, world, small_fs):
    """A journal whose file system went read-only: resume is refused with a
    message that says the journal cannot be written."""
    path = small_fs / "j"
    before = make_journal(servers, world, path)
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    files = files_state(small_fs)
    r = run_barge(["resume", path], env=servers.barge_env(), timeout=60)
    line = assert_refused(r, [str(path)])
    assert "writable" in line.lower() or "read-only" in line.lower(), line
    assert files_state(small_fs) == files
    assert_dst_unchanged(servers, world.dst, before)
    # status still reads it
    r = run_barge(["status", path], env=servers.barge_env(), timeout=60)
    assert r.code == 0, r.stderr


def test_journal_on_a_full_disk(servers, world, small_fs):
    """The journal's disk is full: the copy stops with exit 2 and a message
    that says so; whatever reached the destination is intact and no upload
    is left open."""
    (small_fs / "filler").write_bytes(b"\0" * (1024 * 1024 - 24 * 1024))
    for i in range(60):
        servers.src.client.put_object(Bucket=world.src, Key=f"d/many/{i:03d}", Body=os.urandom(100 + i))
    path = small_fs / "j"
    r = run_barge(["copy", f"s3://{world.src}/d", f"r2://{world.dst}/c", "--journal", path,
                   "--progress", "none"], env=servers.barge_env(), timeout=120)
    assert r.code == 2, f"exit {r.code}\n{r.stderr}"
    last = [l for l in r.stderr.splitlines() if l.strip()][-1]
    assert "full" in last.lower() or "space" in last.lower(), r.stderr
    assert str(path) in r.stderr or "journal" in last.lower(), r.stderr
    for s in SECRETS:
        assert s not in r.stdout + r.stderr
    # Nothing corrupt: every object that is there has the source's bytes.
    src = servers.src.client
    for key, digest in dst_state(servers, world.dst).items():
        if key == "c/keep":
            assert digest == md5(KEEP)
            continue
        body = src.get_object(Bucket=world.src, Key="d/" + key[len("c/"):])["Body"].read()
        assert digest == md5(body), f"{key} is corrupt"
    assert servers.dst.client.list_multipart_uploads(Bucket=world.dst).get("Uploads", []) == []


def test_journal_over_the_file_size_limit(servers, world, tmp_path):
    """RLIMIT_FSIZE below what the journal needs (SIGXFSZ ignored, so a
    write fails with EFBIG): exit 2, a one-line reason, nothing corrupt."""
    for i in range(40):
        servers.src.client.put_object(Bucket=world.src, Key=f"d/many/{i:03d}", Body=os.urandom(100))
    path = tmp_path / "j"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "R2_", "BARGE_"))}
    env.update(servers.barge_env())

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))

    p = subprocess.run([str(barge_bin()), "copy", f"s3://{world.src}/d", f"r2://{world.dst}/c",
                        "--journal", str(path), "--progress", "none"], env=env,
                       preexec_fn=limit, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, f"exit {p.returncode}\n{p.stderr}"
    last = [l for l in p.stderr.splitlines() if l.strip()][-1]
    assert "journal" in last.lower() or str(path) in last, p.stderr
    src = servers.src.client
    for key, digest in dst_state(servers, world.dst).items():
        if key != "c/keep":
            body = src.get_object(Bucket=world.src, Key="d/" + key[len("c/"):])["Body"].read()
            assert digest == md5(body), f"{key} is corrupt"
    assert servers.dst.client.list_multipart_uploads(Bucket=world.dst).get("Uploads", []) == []


# ---- 5. a skewed clock -----------------------------------------------------------

@pytest.mark.parametrize("skew", ["+2h", "-1d"])
def test_clock_skew_is_named(servers, world, skew):
    """RGW refuses requests signed more than 15 min away from its clock
    (RequestTimeTooSkewed): barge must say that the clock is wrong."""
    _need_rgw(servers)
    if not shutil.which("faketime"):
        pytest.skip("faketime is not installed (tools/install-deps.sh installs it)")
    before = dst_state(servers, world.dst)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "R2_", "BARGE_"))}
    env.update(servers.barge_env())
    # An ASan build must not insist on being first in the preload list.
    env["ASAN_OPTIONS"] = "verify_asan_link_order=0" + (
        ":" + env["ASAN_OPTIONS"] if env.get("ASAN_OPTIONS") else "")
    p = subprocess.run(["faketime", "-f", skew, str(barge_bin()), "copy",
                        f"s3://{world.src}/d", f"r2://{world.dst}/c", "--retries", "2"],
                       env=env, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    r = type("R", (), {"code": p.returncode, "stdout": p.stdout, "stderr": p.stderr})
    line = assert_refused(r, [])
    assert "clock" in line.lower() or "skew" in line.lower(), line
    assert_dst_unchanged(servers, world.dst, before)
