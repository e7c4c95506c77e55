"""The command line every barge command shares (tools/cli.c, issue 18).

Without servers: `barge help CMD` is `barge CMD --help`; every option a
help lists is one the command takes; each kind of mistake, in every
command, is one line on stderr that names the command and points to its
help, with exit 2; `--profile` is refused where there are two locations
(and `--src-profile`/`--dst-profile` where there is one) with what to give
instead.

With servers: `--` ends the options (a local directory named `-data`);
the journal records copy's options as given, `--opt=value` as `--opt
value` (what `barge resume` replays), and resume's own options after them;
`barge audit` takes `--ca-bundle` and `--insecure` like copy (behind a TLS
front with a throwaway CA, checked with boto3 on the plain side).
"""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

from conftest import run_barge
from tlsproxy import TLSProxy, make_ca

COMMANDS = {  # command: positional arguments that parse (nothing is contacted)
    "copy": ["s3://a-bucket/x", "r2://b-bucket/y"],
    "resume": ["/nonexistent/journal"],
    "status": ["/nonexistent/journal"],
    "audit": ["s3://a-bucket/x", "r2://b-bucket/y"],
    "bench": ["s3://a-bucket/x", "r2://b-bucket/y"],
    "ls": ["s3://a-bucket/x"],
    "plan": ["s3://a-bucket/x", "r2://b-bucket/y"],
    "doctor": ["r2://b-bucket"],
}


def one_usage_line(r, command: str) -> str:
    assert r.code == 2, f"exit {r.code}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    lines = r.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{r.stderr}"
    assert lines[0].startswith("barge: "), lines[0]
    assert lines[0].endswith(f"(see 'barge {command} --help')"), lines[0]
    return lines[0]


def listed_options(help_text: str) -> list[tuple[str, bool]]:
    """(option, takes a value) for each option line of a help text."""
    out = []
    for line in help_text.splitlines():
        m = re.match(r"^  (?:-\w, )?(--[a-z0-9-]+)( [A-Z][A-Z:_]*)?(?:  |$)", line)
        if m:
            out.append((m.group(1), m.group(2) is not None))
    return out


# ---- without servers ------------------------------------------------------------

@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_command_is_the_commands_help(command):
    h = run_barge(["help", command])
    assert h.code == 0 and h.stderr == ""
    assert h.stdout.startswith(f"usage: barge {command} ")
    r = run_barge([command, "--help"])
    assert (r.code, r.stdout) == (0, h.stdout)
    assert run_barge([command, "-h"]).stdout == h.stdout


def test_help_without_a_command_and_with_a_wrong_one():
    r = run_barge(["help"])
    assert r.code == 0
    for command in COMMANDS:
        assert f"\n  {command} " in r.stdout
    assert run_barge(["--help"]).stdout == r.stdout
    r = run_barge(["help", "frobnicate"])
    assert r.code == 2 and r.stderr.strip() == "barge: unknown command 'frobnicate' (see 'barge help')"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_listed_option_is_taken(command):
    """The help is written from the parser's table: an option it lists is
    never 'unknown', and one that takes a value asks for it."""
    opts = listed_options(run_barge([command, "--help"]).stdout)
    if command != "resume":  # resume's options are copy's (after JOURNAL)
        assert len(opts) >= 1, "no options listed"
    for opt, takes_value in opts:
        r = run_barge([command, opt])
        assert "unknown option" not in r.stderr, (opt, r.stderr)
        if takes_value:
            assert one_usage_line(r, command) == f"barge: {opt} needs a value (see 'barge {command} --help')"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_mistakes_are_one_line_naming_the_command(command):
    pos = COMMANDS[command]
    cases = [  # options before the arguments: resume's after JOURNAL are copy's
        (["--bogus", *pos], "unknown option '--bogus'"),
        (["--bogus=1", *pos], "unknown option '--bogus'"),
        (["-z", *pos], "unknown option '-z'"),
        ([], f"{command} needs "),
        ([*pos, "extra-arg"], "too many arguments"),
    ]
    if command in ("copy", "audit", "bench", "plan", "ls"):
        cases.append(([*pos, "--retries", "0"], "--retries '0' must be a number from 1 to 100"))
        cases.append(([*pos, "--retries"], "--retries needs a value"))
        cases.append(([*pos, "--insecure=yes"], "--insecure takes no value"))
    for args, words in cases:
        if command == "resume" and args and args[-1] == "extra-arg":
            continue  # what follows JOURNAL is copy's: tested with copy
        line = one_usage_line(run_barge([command, *args]), command)
        assert words in line, (args, line)


@pytest.mark.parametrize("command,option,hint", [
    ("copy", "--profile", "--src-profile P, --dst-profile P"),
    ("audit", "--profile", "--src-profile P, --dst-profile P"),
    ("bench", "--profile", "--src-profile P, --dst-profile P"),
    ("plan", "--profile", "--src-profile P, --dst-profile P"),
    ("ls", "--src-profile", "--profile P"),
    ("doctor", "--dst-profile", "--profile P"),
])
def test_profile_options_name_the_ones_that_fit(command, option, hint):
    """A single --profile for two locations would give the source's keys to
    the destination: refused, with the options that say which side."""
    line = one_usage_line(run_barge([command, *COMMANDS[command], option, "prod"]), command)
    assert f"unknown option '{option}'" in line and hint in line, line
    assert option not in [o for o, _ in listed_options(run_barge([command, "--help"]).stdout)]


def test_audit_lists_ca_bundle_and_insecure():
    h = run_barge(["audit", "--help"]).stdout
    assert ("--ca-bundle", True) in listed_options(h)
    assert ("--insecure", False) in listed_options(h)


# ---- with servers ---------------------------------------------------------------

def run_options(journal) -> list[list[str]]:
    with sqlite3.connect(journal) as db:
        rows = db.execute("select options from runs order by id").fetchall()
    db.close()
    return [json.loads(r[0])["args"] for r in rows]


def test_double_dash_ends_the_options(servers, fresh_buckets, barge, tmp_path):
    d = tmp_path / "-data"
    d.mkdir()
    (d / "f").write_bytes(b"dash")
    r = barge(["copy", "--progress", "none", "--", "-data", f"r2://{fresh_buckets.dst}/p"],
              cwd=tmp_path, timeout=60)
    assert r.code == 0, r.stderr
    got = servers.dst.client.get_object(Bucket=fresh_buckets.dst, Key="p/f")["Body"].read()
    assert got == b"dash"


def test_the_journal_records_options_as_given(servers, fresh_buckets, barge, tmp_path):
    """runs.options keeps each option's name and value as given, either
    form, in order, without --journal and --dry-run; resume replays them
    and adds its own after them (docs/journal.md)."""
    b = fresh_buckets
    servers.src.client.put_object(Bucket=b.src, Key="d/a", Body=b"a" * 10)
    journal = tmp_path / "j"
    r = barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/c", "--concurrency=4",
               "--journal", str(journal), "--include", "a*", "--progress", "none",
               "--checksum=md5", "--retries", "3", "--exclude=b*", "--part-size", "8M"],
              timeout=60)
    assert r.code == 0, r.stderr
    want = ["--concurrency", "4", "--include", "a*", "--progress", "none", "--checksum", "md5",
            "--retries", "3", "--exclude", "b*", "--part-size", "8M"]
    assert run_options(journal) == [want]
    r = barge(["resume", str(journal), "--retries=5", "--log-level", "info"], timeout=60)
    assert r.code == 0, r.stderr
    assert run_options(journal) == [want, want + ["--retries", "5", "--log-level", "info"]]
    r = barge(["resume", str(journal), "--concurrency", "0"], timeout=60)
    assert one_usage_line(r, "copy") == \
        "barge: --concurrency '0' must be a number from 1 to 1024 (see 'barge copy --help')"


def test_options_too_long_for_the_journal_are_refused(servers, fresh_buckets, barge, tmp_path):
    """runs.options keeps 64 KiB: a command line that does not fit is refused
    with one line, rather than recorded without some of its options (resume
    would then copy what an --exclude left out). Without a journal it runs."""
    b = fresh_buckets
    servers.src.client.put_object(Bucket=b.src, Key="d/keep", Body=b"k")
    servers.src.client.put_object(Bucket=b.src, Key="d/x-9999", Body=b"x")
    excludes = [a for i in range(63) for a in ("--exclude", f"x-{i:02d}-" + "p" * 1100 + "*")]
    excludes += ["--exclude", "x-9999"]
    journal = tmp_path / "j"
    r = barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/d", "--journal", str(journal),
               "--progress", "none", *excludes], timeout=60)
    assert one_usage_line(r, "copy").startswith(
        "barge: the options take more than the journal's record of a run keeps (64 KiB)"), r.stderr
    assert "Contents" not in servers.dst.client.list_objects_v2(Bucket=b.dst)
    r = barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/d", "--progress", "none", *excludes],
              timeout=60)
    assert r.code == 0, r.stderr
    keys = [o["Key"] for o in servers.dst.client.list_objects_v2(Bucket=b.dst)["Contents"]]
    assert keys == ["d/keep"], keys


@pytest.fixture
def tls_dst(servers, tmp_path):
    certs = make_ca(tmp_path / "tls")
    p = TLSProxy(("127.0.0.1", servers.dst.port), certs["cert"], certs["key"]).start()
    yield p, certs
    p.stop()


def test_audit_takes_ca_bundle_and_insecure(servers, fresh_buckets, barge, tls_dst):
    """As copy does: without the CA the destination's certificate is refused
    (exit 2); with --ca-bundle, or with --insecure (said on stderr), the
    audit runs and finds the copy clean."""
    proxy, certs = tls_dst
    b = fresh_buckets
    for i in range(3):
        servers.src.client.put_object(Bucket=b.src, Key=f"t/{i}", Body=bytes([i]) * 1000)
    env = {"R2_ENDPOINT_URL": f"https://127.0.0.1:{proxy.port}"}
    src, dst = f"s3://{b.src}/t", f"r2://{b.dst}/t"
    r = barge(["copy", src, dst, "--ca-bundle", str(certs["ca"]), "--progress", "none"], env=env)
    assert r.code == 0, r.stderr
    keys = [o["Key"] for o in servers.dst.client.list_objects_v2(Bucket=b.dst)["Contents"]]
    assert sorted(keys) == ["t/0", "t/1", "t/2"]

    r = barge(["audit", src, dst, "--progress", "none"], env=env)
    assert r.code == 2, r.stdout + r.stderr
    assert "certificate" in r.stderr.lower() or "ssl" in r.stderr.lower(), r.stderr
    r = barge(["audit", src, dst, "--progress", "none", "--ca-bundle", str(certs["ca"])], env=env)
    assert r.code == 0, r.stdout + r.stderr
    assert "result: clean" in r.stdout
    r = barge(["audit", src, dst, "--progress", "none", "--insecure"], env=env)
    assert r.code == 0, r.stdout + r.stderr
    assert "NOT verified" in r.stderr and "result: clean" in r.stdout
    r = barge(["audit", src, dst, "--ca-bundle", str(certs["ca"]) + ".missing"], env=env)
    lines = r.stderr.strip().splitlines()
    assert r.code == 2 and len(lines) == 1 and ".missing" in lines[0], r.stderr
