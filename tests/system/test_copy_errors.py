"""barge copy with bad input: usage, configuration and environment errors.

Each case must exit 2 (75 for a source that cannot be reached: worth
retrying as it is) with a one-line message on stderr that names the
problem, write nothing to the destination (checked with boto3: no objects,
no open multipart uploads), and never print a secret key.
"""

from __future__ import annotations

import socket
import time

import pytest
from botocore.exceptions import ClientError

from conftest import DST_SECRET_KEY, SRC_SECRET_KEY, free_port, run_barge

WRONG_SECRET = "wrong-secret-key-for-the-test-0123456789"
SECRETS = (DST_SECRET_KEY, SRC_SECRET_KEY, WRONG_SECRET)


def seed(servers, b) -> None:
    """Something to copy, so that a run that should not write would."""
    servers.src.client.put_object(Bucket=b.src, Key="d/a", Body=b"a")
    servers.src.client.put_object(Bucket=b.src, Key="d/sub/b", Body=b"b" * 1000)


def assert_no_secrets(r) -> None:
    for s in SECRETS:
        assert s not in r.stdout and s not in r.stderr, "a secret key was printed"


def assert_dst_untouched(servers, bucket: str) -> None:
    dst = servers.dst.client
    assert dst.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    assert dst.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def assert_usage_error(r, *words) -> str:
    """Exit 2, exactly one line on stderr, containing every one of `words`
    (case-insensitive); returns that line."""
    assert_no_secrets(r)
    assert r.code == 2, f"exit {r.code}\nstdout:\n{r.stdout[-2000:]}\nstderr:\n{r.stderr[-2000:]}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{r.stderr}"
    line = lines[0]
    for w in words:
        assert w.lower() in line.lower(), f"{w!r} not in {line!r}"
    return line


SRC, DST = "{SRC}", "{DST}"  # placeholders for the test's buckets

USAGE_CASES = [
    pytest.param([SRC, DST, "--bogus", "1"], ["unknown option", "--bogus"], id="unknown-flag"),
    pytest.param([SRC, DST, "-z"], ["unknown option", "-z"], id="unknown-short-flag"),
    pytest.param([SRC, DST, "--bogus"], ["unknown option", "--bogus"], id="unknown-flag-last"),
    pytest.param([SRC, DST, "--concurrency=0"], ["--concurrency", "'0'"], id="equals-form-bad-value"),
    pytest.param([SRC, DST, "--concurrency"], ["--concurrency needs a value"], id="value-missing"),
    pytest.param([SRC], ["SRC and DST"], id="missing-dst"),
    pytest.param([], ["SRC and DST"], id="missing-both"),
    pytest.param([SRC, DST, "r2://another"], ["too many arguments", "r2://another"],
                 id="extra-argument"),
    pytest.param([SRC, DST, "--part-size", "4M"], ["--part-size", "4M"], id="part-size-4M"),
    pytest.param([SRC, DST, "--part-size", "6G"], ["--part-size", "6G"], id="part-size-6G"),
    pytest.param([SRC, DST, "--part-size", "abc"], ["--part-size", "abc"], id="part-size-abc"),
    pytest.param([SRC, DST, "--part-size", "-5M"], ["--part-size", "-5M"], id="part-size-negative"),
    pytest.param([SRC, DST, "--part-size"], ["--part-size"], id="part-size-no-value"),
    pytest.param([SRC, DST, "--concurrency", "0"], ["--concurrency", "0"], id="concurrency-0"),
    pytest.param([SRC, DST, "--concurrency", "x"], ["--concurrency", "'x'"], id="concurrency-x"),
    pytest.param([SRC, DST, "--concurrency", "-3"], ["--concurrency", "-3"], id="concurrency-negative"),
    pytest.param([SRC, DST, "--memory", "1M"], ["--memory", "1M"], id="memory-too-small"),
    pytest.param([SRC, DST, "--part-size", "300M", "--memory", "512M"],
                 ["--memory", "--part-size"], id="part-size-over-half-memory"),
    pytest.param([SRC, DST, "--checksum", "sha1"], ["--checksum", "sha1"], id="checksum-unknown"),
    pytest.param([SRC, DST, "--progress", "loud"], ["--progress", "loud"], id="progress-unknown"),
    pytest.param([SRC, DST, "--retries", "0"], ["--retries", "0"], id="retries-0"),
    pytest.param(["gs://somebucket/d", DST], ["gs://"], id="gs-url-source"),
    pytest.param([SRC, "gs://somebucket/d"], ["gs://"], id="gs-url-destination"),
    pytest.param(["s3://", DST], ["bucket", "s3://"], id="s3-no-bucket"),
    pytest.param(["s3:///data", DST], ["bucket", "s3:///data"], id="s3-empty-bucket-with-prefix"),
    pytest.param([SRC, "r2://"], ["bucket", "r2://"], id="r2-no-bucket"),
    pytest.param(["/tmp/some/dir", DST], ["source", "/tmp/some/dir", "No such file"], id="local-source-missing"),
]


def _fill(args, b):
    return [a.replace(SRC, f"s3://{b.src}/d").replace(DST, f"r2://{b.dst}/c") for a in args]


@pytest.mark.parametrize("args,words", USAGE_CASES)
def test_usage_errors(servers, fresh_buckets, barge, args, words):
    seed(servers, fresh_buckets)
    r = barge(["copy", *_fill(args, fresh_buckets)], timeout=30)
    assert_usage_error(r, *words)
    assert_dst_untouched(servers, fresh_buckets.dst)


def _env_without(servers, *names, **extra):
    env = servers.barge_env(**extra)
    for n in names:
        env.pop(n)
    return env


@pytest.mark.parametrize("unset,words", [
    (("R2_ACCESS_KEY_ID",), ["R2_ACCESS_KEY_ID"]),
    (("R2_SECRET_ACCESS_KEY",), ["R2_SECRET_ACCESS_KEY"]),
    (("R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"), ["R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"]),
    (("R2_ENDPOINT_URL",), ["R2_ENDPOINT_URL"]),
], ids=["no-access-key", "no-secret-key", "no-keys", "no-endpoint"])
def test_missing_destination_configuration(servers, fresh_buckets, unset, words):
    b = fresh_buckets
    seed(servers, b)
    r = run_barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/c"],
                  env=_env_without(servers, *unset), timeout=30)
    assert_usage_error(r, *words)
    assert_dst_untouched(servers, b.dst)


def test_wrong_destination_secret(servers, fresh_buckets, barge):
    if servers.dst.kind != "rgw":
        pytest.skip("BARGE_TEST_SERVERS=moto-only: moto checks no signatures")
    b = fresh_buckets
    seed(servers, b)
    r = barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/c", "--retries", "2"],
              env={"R2_SECRET_ACCESS_KEY": WRONG_SECRET}, timeout=60)
    line = assert_usage_error(r)
    assert "denied" in line.lower() or "403" in line, line
    assert_dst_untouched(servers, b.dst)


def test_destination_bucket_does_not_exist(servers, fresh_buckets, barge):
    b = fresh_buckets
    seed(servers, b)
    missing = b.dst + "-nope"
    r = barge(["copy", f"s3://{b.src}/d", f"r2://{missing}/c"], timeout=60)
    assert_usage_error(r, "does not exist", missing)
    with pytest.raises(ClientError):  # and barge did not create it
        servers.dst.client.head_bucket(Bucket=missing)


def test_source_bucket_does_not_exist(servers, fresh_buckets, barge):
    b = fresh_buckets
    missing = b.src + "-nope"
    r = barge(["copy", f"s3://{missing}/d", f"r2://{b.dst}/c"], timeout=60)
    assert_usage_error(r, missing)
    assert_dst_untouched(servers, b.dst)


def test_env_file_that_does_not_exist(servers, fresh_buckets, barge, tmp_path):
    b = fresh_buckets
    seed(servers, b)
    path = tmp_path / "no-such.env"
    r = barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/c", "--env-file", str(path)],
              timeout=30)
    assert_usage_error(r, str(path))
    assert_dst_untouched(servers, b.dst)


def test_env_file_supplies_destination_keys(servers, fresh_buckets, tmp_path):
    """The R2 keys only in a dotenv file (comments, export, quotes): the copy
    works, and the secret is not printed."""
    b = fresh_buckets
    seed(servers, b)
    env_file = tmp_path / "r2.env"
    env_file.write_text("# the team's R2 keys\n"
                        f"export R2_ACCESS_KEY_ID={servers.dst.access_key}\n"
                        "\n"
                        f'R2_SECRET_ACCESS_KEY="{servers.dst.secret_key}"\n')
    r = run_barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/c", "--env-file", str(env_file),
                   "--progress", "json"],
                  env=_env_without(servers, "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"),
                  timeout=60)
    assert_no_secrets(r)
    assert r.code == 0, r.stderr
    dst = servers.dst.client
    got = {o["Key"]: o["Size"] for o in dst.list_objects_v2(Bucket=b.dst).get("Contents", [])}
    assert got == {"c/a": 1, "c/sub/b": 1000}
    assert dst.get_object(Bucket=b.dst, Key="c/sub/b")["Body"].read() == b"b" * 1000
    assert dst.list_multipart_uploads(Bucket=b.dst).get("Uploads", []) == []


def test_env_file_with_a_bad_line(servers, fresh_buckets, tmp_path):
    b = fresh_buckets
    seed(servers, b)
    env_file = tmp_path / "bad.env"
    env_file.write_text(f"R2_ACCESS_KEY_ID={servers.dst.access_key}\nthis is not a setting\n")
    r = run_barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/c", "--env-file", str(env_file)],
                  env=_env_without(servers, "R2_ACCESS_KEY_ID"), timeout=30)
    assert_usage_error(r, str(env_file), ":2")
    assert_dst_untouched(servers, b.dst)


def test_dead_destination_port(servers, fresh_buckets, barge):
    """Nothing listens on the destination port: after its retries, a
    condition worth retrying as it is: exit 75, one line, bounded time."""
    b = fresh_buckets
    seed(servers, b)
    port = free_port()
    with socket.socket() as s:  # make sure it is refused, not just free
        assert s.connect_ex(("127.0.0.1", port)) != 0
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    r = barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/c", "--retries", "2"],
              env={"R2_ENDPOINT_URL": url}, timeout=60)
    elapsed = time.monotonic() - t0
    assert_no_secrets(r)
    assert r.code == 75, f"exit {r.code}\nstderr:\n{r.stderr[-2000:]}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and url in lines[0] and "temporary" in lines[0], r.stderr
    assert elapsed < 30, f"took {elapsed:.1f} s"
    assert_dst_untouched(servers, b.dst)


def test_dead_source_port(servers, fresh_buckets, barge):
    """Nothing listens on the source port: the listing fails after its
    retries, a condition worth retrying as it is: exit 75, one line."""
    b = fresh_buckets
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    r = barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/c", "--retries", "2"],
              env={"AWS_ENDPOINT_URL_S3": url}, timeout=60)
    elapsed = time.monotonic() - t0
    assert_no_secrets(r)
    assert r.code == 75, f"exit {r.code}\nstderr:\n{r.stderr[-2000:]}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and url in lines[0] and "temporary" in lines[0], r.stderr
    assert elapsed < 30, f"took {elapsed:.1f} s"
    assert_dst_untouched(servers, b.dst)
