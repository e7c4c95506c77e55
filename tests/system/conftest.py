"""System-test fixtures: real S3 servers on loopback, and a runner for barge.

Fixtures
  servers        (session) moto as the source (s3:// side) and Ceph RGW as the
                 destination (r2:// side), each on a free port of 127.0.0.1, in
                 a temporary directory; both are stopped at the end of the run.
                 BARGE_TEST_SERVERS=moto-only makes the destination a second
                 moto (quick local runs; moto checks no signatures or digests).
  fresh_buckets  (function) a new, uniquely named bucket on each side; emptied
                 and deleted after the test (BARGE_TEST_KEEP_BUCKETS=1 keeps them).
  barge          (function) `run_barge` with the servers' environment preset.

Helpers (importable: `from conftest import run_barge`)
  run_barge(args, env=None, timeout=300) -> BargeResult(code, stdout, stderr)
      runs $BARGE_BIN (default zig-out/bin/barge; a relative path is taken
      from the repository root) and fails the test if it outlives `timeout`.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, NamedTuple, Optional, Sequence

import boto3
import pytest
from botocore.config import Config

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVERS_DIR = REPO_ROOT / "tests" / "servers"

# moto accepts any keys; these only have to look like keys.
SRC_ACCESS_KEY = "AKIDSOURCE"
SRC_SECRET_KEY = "secretsource"
# Fixed in tests/servers/rgw.sh (radosgw-admin user create).
DST_ACCESS_KEY = "BARGETESTRGWACCESS01"
DST_SECRET_KEY = "barge-test-rgw-secret-key-0123456789abcdef"

SERVER_START_TIMEOUT = 180  # seconds, for one start script

# Variables that would point barge (or boto3) at real clouds or at the
# developer's own credentials; run_barge never passes them through.
_LEAKY_ENV = re.compile(r"^(AWS_|R2_|BARGE_)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_client(url: str, access_key: str, secret_key: str, region: str = "us-east-1",
              **config) -> "boto3.client":
    """A boto3 S3 client for a test server: path-style, no retries, and no
    flexible checksums unless an operation requires one (the RGW of Debian
    bookworm predates them)."""
    cfg = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": config.pop("max_attempts", 1), "mode": "standard"},
        connect_timeout=config.pop("connect_timeout", 5),
        read_timeout=config.pop("read_timeout", 120),
        max_pool_connections=config.pop("max_pool_connections", 32),
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        **config,
    )
    return boto3.client("s3", endpoint_url=url, region_name=region,
                        aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                        config=cfg)


@dataclass
class Endpoint:
    """One running S3 server."""
    kind: str            # "moto" or "rgw"
    url: str             # http://127.0.0.1:PORT
    port: int
    access_key: str
    secret_key: str
    workdir: Path        # the server's DIR (logs are in here)
    region: str = "us-east-1"
    client: object = field(default=None, repr=False)

    def new_client(self, **kw):
        """A fresh boto3 client; keyword arguments override region/keys/config."""
        return s3_client(self.url, kw.pop("access_key", self.access_key),
                         kw.pop("secret_key", self.secret_key),
                         kw.pop("region", self.region), **kw)


@dataclass
class Servers:
    src: Endpoint        # the s3:// side (moto)
    dst: Endpoint        # the r2:// side (RGW, or moto with moto-only)
    workdir: Path

    def barge_env(self, **extra: str) -> dict:
        """Environment for a barge run against these servers: the s3:// side
        through the AWS variables, the r2:// side through R2_*, and a private
        HOME so that the developer's ~/.aws never takes part."""
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        env = {
            "HOME": str(home),
            "AWS_ENDPOINT_URL_S3": self.src.url,
            "AWS_ACCESS_KEY_ID": self.src.access_key,
            "AWS_SECRET_ACCESS_KEY": self.src.secret_key,
            "AWS_REGION": self.src.region,
            "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
            "R2_ENDPOINT_URL": self.dst.url,
            "R2_ACCESS_KEY_ID": self.dst.access_key,
            "R2_SECRET_ACCESS_KEY": self.dst.secret_key,
        }
        env.update(extra)
        return env


def _server_script(kind: str, action: str, workdir: Path, port: int) -> None:
    script = SERVERS_DIR / f"{kind}.sh"
    try:
        proc = subprocess.run(["bash", str(script), action, str(workdir), str(port)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=SERVER_START_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"{script.name} {action} {workdir} {port} hung for "
                           f"{SERVER_START_TIMEOUT} s; stderr so far:\n{e.stderr}") from None
    if proc.returncode != 0:
        raise RuntimeError(f"{script.name} {action} {workdir} {port} failed "
                           f"(exit {proc.returncode}):\n{proc.stderr}{proc.stdout}")


def _start(kind: str, workdir: Path, access_key: str, secret_key: str,
           started: list) -> Endpoint:
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    # Registered before starting: a start that fails half way is cleaned up too.
    started.append((kind, workdir, port))
    _server_script(kind, "start", workdir, port)
    ep = Endpoint(kind=kind, url=f"http://127.0.0.1:{port}", port=port,
                  access_key=access_key, secret_key=secret_key, workdir=workdir)
    ep.client = ep.new_client()
    return ep


@pytest.fixture(scope="session")
def servers(tmp_path_factory) -> Iterator[Servers]:
    mode = os.environ.get("BARGE_TEST_SERVERS", "moto-rgw")
    if mode not in ("moto-rgw", "moto-only"):
        raise pytest.UsageError(f"BARGE_TEST_SERVERS must be moto-rgw or moto-only, not {mode!r}")
    base = tmp_path_factory.mktemp("servers")
    started: list = []
    try:
        src = _start("moto", base / "moto-src", SRC_ACCESS_KEY, SRC_SECRET_KEY, started)
        if mode == "moto-only":
            dst = _start("moto", base / "moto-dst", DST_ACCESS_KEY, DST_SECRET_KEY, started)
        else:
            dst = _start("rgw", base / "rgw-dst", DST_ACCESS_KEY, DST_SECRET_KEY, started)
        yield Servers(src=src, dst=dst, workdir=base)
    finally:
        errors = []
        for kind, workdir, port in reversed(started):
            try:
                _server_script(kind, "stop", workdir, port)
            except Exception as e:  # keep stopping the others
                errors.append(str(e))
        if errors:
            raise RuntimeError("stopping test servers failed:\n" + "\n".join(errors))


# ---- buckets -----------------------------------------------------------------

def _bucket_name(prefix: str, test_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")
    suffix = uuid.uuid4().hex[:8]
    room = 63 - len(prefix) - len(suffix) - 2
    slug = slug[:room].strip("-") or "t"
    return f"{prefix}-{slug}-{suffix}"


def empty_bucket(client, bucket: str) -> None:
    """Abort its multipart uploads and delete every object (not the bucket)."""
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for up in page.get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


@dataclass
class Buckets:
    src: str             # bucket on servers.src
    dst: str             # bucket on servers.dst
    servers: Servers

    @property
    def src_url(self) -> str:
        return f"s3://{self.src}"

    @property
    def dst_url(self) -> str:
        return f"r2://{self.dst}"


@pytest.fixture
def fresh_buckets(servers: Servers, request) -> Iterator[Buckets]:
    b = Buckets(src=_bucket_name("src", request.node.name),
                dst=_bucket_name("dst", request.node.name), servers=servers)
    servers.src.client.create_bucket(Bucket=b.src)
    servers.dst.client.create_bucket(Bucket=b.dst)
    yield b
    if os.environ.get("BARGE_TEST_KEEP_BUCKETS") == "1":
        return
    for ep, bucket in ((servers.src, b.src), (servers.dst, b.dst)):
        empty_bucket(ep.client, bucket)
        ep.client.delete_bucket(Bucket=bucket)


@pytest.fixture
def tmpfs_at():
    """mount(dir, size): a tmpfs of `size` ("4M") at dir, made if missing and
    unmounted after the test (root only; skipped, and said so, where it
    cannot be mounted)."""
    mounted = []

    def mount(d: Path, size: str) -> Path:
        d.mkdir(parents=True, exist_ok=True)
        rc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)],
                            capture_output=True, text=True)
        if rc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {rc.stderr.strip()}")
        mounted.append(d)
        return d

    yield mount
    for d in mounted:
        subprocess.run(["umount", "-l", str(d)], check=False)


# ---- running barge -----------------------------------------------------------

class BargeResult(NamedTuple):
    code: int
    stdout: str
    stderr: str


def barge_bin() -> Path:
    p = Path(os.environ.get("BARGE_BIN", "zig-out/bin/barge"))
    return p if p.is_absolute() else REPO_ROOT / p


def run_barge(args: Sequence[str], env: Optional[dict] = None, timeout: float = 300,
              cwd: Optional[Path] = None, input: Optional[str] = None) -> BargeResult:
    """Run barge with `args`; returns (exit code, stdout, stderr).

    The child's environment is this process's environment minus every
    AWS_*, R2_* and BARGE_* variable, plus `env` (usually servers.barge_env()).
    A run that takes longer than `timeout` seconds is killed and fails the test.
    """
    binary = barge_bin()
    if not binary.is_file():
        pytest.fail(f"barge binary not found at {binary} (build it with "
                    f"`python3 -m ziglang build`, or set BARGE_BIN)", pytrace=False)
    child_env = {k: v for k, v in os.environ.items() if not _LEAKY_ENV.match(k)}
    child_env.update(env or {})
    try:
        proc = subprocess.run([str(binary), *map(str, args)], env=child_env, cwd=cwd,
                              input=input, stdin=None if input is not None else subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        pytest.fail(f"barge {' '.join(map(str, args))} did not finish within {timeout} s\n"
                    f"--- stdout ---\n{out[-4000:]}\n--- stderr ---\n{err[-4000:]}",
                    pytrace=False)
    return BargeResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def barge(servers: Servers):
    """run_barge with the servers' environment; extra env entries override it."""
    def run(args: Sequence[str], env: Optional[dict] = None, **kw) -> BargeResult:
        return run_barge(args, env=servers.barge_env(**(env or {})), **kw)
    return run
