"""barge copy with a local path on one side: DIR/FILE -> bucket, bucket -> DIR.

Uploads go to the r2:// side (Ceph RGW), downloads come from either side.
Everything that decides a test is read independently of barge: the buckets
with boto3 (keys, sizes, ETags, x-amz-meta-mtime, bytes), the local tree with
os.walk / os.stat / filecmp / sha256, and, for the resume test, a streaming
proxy in front of the source that counts the GET body bytes each run
received.

The contract under test (from the feature's brief):
- DIR -> s3://b/p: every regular file under DIR, key p/<path relative to
  DIR>; symlinks and special files are skipped (a "skipped" line on stderr
  naming each), not failures.  FILE -> s3://b/p/ (or the bucket root): key
  p/basename; FILE -> s3://b/some/key: exactly some/key.  x-amz-meta-mtime is
  the file's mtime in seconds with a fraction; files above the threshold go
  multipart.
- s3://b/p -> DIR: every key under p/ to DIR/<rel>, DIR created if missing,
  each file written as .barge.<16 hex>.partial and renamed; mtime from
  x-amz-meta-mtime, else LastModified.  Keys that cannot be files under DIR
  fail ("cannot be a local file", exit 1) and nothing is written outside DIR;
  directory markers are skipped; a symlink inside DIR is never followed.
- local -> local, and a missing source directory: exit 2, one line.
- --journal resumes a download (and an upload) killed with SIGKILL; a full
  disk: exit 2, "No space left", no .partial left, earlier files intact.

test_keys_ending_in_slash_are_skipped reads "keys ending in '/' are
skipped" literally, for a marker with bytes too; see its docstring.
"""

from __future__ import annotations

import filecmp
import hashlib
import io
import os
import re
import signal
import socket
import stat
import subprocess
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig

from conftest import DST_SECRET_KEY, SRC_SECRET_KEY, barge_bin
from test_journal import listing, multipart_etag  # noqa: E402  (shared helpers)
from faultproxy import FaultProxy, Rule
from meterproxy import MeterProxy
from proxybase import Listener, content_length

KiB = 1 << 10
MiB = 1 << 20
PART = 5 * MiB
SECRETS = (DST_SECRET_KEY, SRC_SECRET_KEY)
PARTIAL_RE = re.compile(r"^\.barge\.[0-9a-f]{16}\.partial$")
MTIME_RE = re.compile(r"^[0-9]+\.[0-9]+$")
NOT_LOCAL = "cannot be a local file"


# ---- helpers -----------------------------------------------------------------

def md5_hex(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def sha256_file(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()




def read(client, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def assert_no_uploads(client, bucket: str) -> None:
    ups = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert ups == [], f"incomplete multipart uploads left on {bucket}: {ups}"


def ok(r) -> str:
    return f"exit {r.code}\n--- stdout ---\n{r.stdout[-2000:]}\n--- stderr ---\n{r.stderr[-4000:]}"


def no_secrets(r) -> None:
    for s in SECRETS:
        assert s not in r.stdout and s not in r.stderr, "a secret key was printed"


def tree_files(root: Path) -> dict:
    """{relative path with '/': absolute Path} of every non-directory entry
    under root (symlinks included, not followed)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = p
    return out


def partials(root: Path) -> list:
    """Every barge temporary file (or anything named *.partial) under root."""
    found = []
    for dirpath, _, filenames in os.walk(root):
        for n in filenames:
            if n.endswith(".partial") or n.startswith(".barge."):
                found.append(os.path.join(dirpath, n))
    return found


def meta_mtime_ns(value: str) -> int:
    return int(Decimal(value) * 1_000_000_000)


def assert_dirs_equal(a: Path, b: Path) -> None:
    """filecmp.dircmp recursively (names, types, and content compare)."""
    def walk(dc, rel=""):
        assert not dc.left_only and not dc.right_only, (
            f"{rel or '.'}: only in original {dc.left_only}, only in copy {dc.right_only}")
        assert not dc.funny_files and not dc.common_funny, (rel, dc.funny_files, dc.common_funny)
        _, mismatch, errors = filecmp.cmpfiles(dc.left, dc.right, dc.common_files, shallow=False)
        assert not mismatch and not errors, (rel, mismatch, errors)
        for name, sub in dc.subdirs.items():
            walk(sub, f"{rel}/{name}")
    walk(filecmp.dircmp(a, b, ignore=[], hide=[]))


def set_mtime(p: Path, ns: int) -> None:
    os.utime(p, ns=(ns, ns))


# A deliberately odd but fixed base mtime with all nine fraction digits.
BASE_MTIME_NS = 1_700_000_000_123_456_789


# ---- a streaming proxy that counts GET body bytes per run ------------------------

class GetMeter(Listener):
    """Forwards each connection's one request to 127.0.0.1:upstream_port and
    streams the answer back, counting the response body bytes of GET
    requests handed to the client, per run (`new_run()`).  Small send
    buffers keep the count close to what the client actually read (like
    meterproxy.MeterProxy, which buffers whole answers and counts request
    bodies only)."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.lock = threading.Lock()
        self.run = 0
        self.get_bytes = {}
        self.gets = {}
        self._listen(backlog=128)

    def new_run(self) -> int:
        with self.lock:
            self.run += 1
            return self.run

    def bytes_of(self, run: int) -> int:
        with self.lock:
            return self.get_bytes.get(run, 0)

    def _serve(self, conn: socket.socket) -> None:
        up = None
        try:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 << 10)
            head, rest = self._read_head(conn)
            if head is None:
                return
            lines = head.split(b"\r\n")
            method = lines[0].split(b" ", 1)[0].decode("latin-1")
            length = content_length(head)
            body = rest
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                body += chunk
            with self.lock:
                run = self.run
                if method == "GET":
                    self.gets[run] = self.gets.get(run, 0) + 1
            up = socket.create_connection(("127.0.0.1", self.upstream_port))
            fwd = [l for l in lines if not l.lower().startswith(b"connection:")]
            up.sendall(b"\r\n".join(fwd) + b"\r\nConnection: close\r\n\r\n" + body)
            buf, in_body = b"", False
            while True:
                chunk = up.recv(64 << 10)
                if not chunk:
                    break
                if not in_body:
                    buf += chunk
                    if b"\r\n\r\n" not in buf:
                        continue
                    in_body = True
                    n = len(buf.split(b"\r\n\r\n", 1)[1])
                    conn.sendall(buf)
                else:
                    n = len(chunk)
                    conn.sendall(chunk)
                if method == "GET":
                    with self.lock:
                        self.get_bytes[run] = self.get_bytes.get(run, 0) + n
        except OSError:
            pass
        finally:
            for s in (conn, up):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass


def popen_env(servers, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "R2_", "BARGE_"))}
    env.update(servers.barge_env(**extra))
    return env


# ---- 1. round trip: DIR -> bucket -> DIR ---------------------------------------------

AWKWARD_FILES = [
    "with space.txt", "é 中文.txt", "hash#1", "100%", "a+b", "what?", "q&a",
    "-leading-dash", "k=v", "~tilde",
    "dir with space/sub#2/é 中文/leaf ?&=+%~-.txt",
]


def make_tree(root: Path) -> dict:
    """The round-trip tree; returns {relative path: bytes}."""
    files = {
        "big.bin": os.urandom(40 * MiB),
        "small-1.txt": b"small one\n" * 100,
        "small-2.bin": os.urandom(3 * KiB + 7),
        "small-3.bin": os.urandom(70 * KiB),
        "empty-1": b"",
        "d1/empty-2": b"",
        "d1/d2/d3/deep.txt": b"three levels down\n",
        "d1/d2/mid.bin": os.urandom(5000),
    }
    for i, name in enumerate(AWKWARD_FILES):
        files[name] = f"{i}: {name}\n".encode()
    for i, (rel, data) in enumerate(sorted(files.items())):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        set_mtime(p, BASE_MTIME_NS + i * 1_000_003_017)   # distinct, odd fractions
    return files


def test_round_trip_tree(servers, fresh_buckets, barge, tmp_path):
    b = fresh_buckets
    dst = servers.dst.client
    orig = tmp_path / "orig"
    orig.mkdir()
    files = make_tree(orig)
    assert len(tree_files(orig)) == len(files)   # setup

    r = barge(["copy", orig, f"r2://{b.dst}/up", "--part-size", "5M", "--progress", "none"],
              timeout=120)
    assert r.code == 0, ok(r)
    no_secrets(r)
    assert_no_uploads(dst, b.dst)

    got = listing(dst, b.dst)
    want_keys = {"up/" + rel: len(data) for rel, data in files.items()}
    assert {k: o["Size"] for k, o in got.items()} == want_keys, (
        f"missing {sorted(set(want_keys) - set(got))}, extra {sorted(set(got) - set(want_keys))}")

    # ETags: single PUTs are the MD5, the big file is a multipart upload of 8 parts
    big_etag = got["up/big.bin"]["ETag"].strip('"')
    assert big_etag.endswith("-8"), big_etag
    assert big_etag == multipart_etag(files["big.bin"], PART), big_etag
    for rel, data in files.items():
        if rel != "big.bin":
            assert got["up/" + rel]["ETag"].strip('"') == md5_hex(data), rel
    # bytes: the big one and every small one, read back with boto3
    assert hashlib.sha256(read(dst, b.dst, "up/big.bin")).hexdigest() == \
        hashlib.sha256(files["big.bin"]).hexdigest()
    for rel, data in files.items():
        if rel != "big.bin":
            assert read(dst, b.dst, "up/" + rel) == data, rel
    # x-amz-meta-mtime: seconds with a fraction, the file's mtime (within 1 ms)
    for rel in files:
        h = dst.head_object(Bucket=b.dst, Key="up/" + rel)
        m = h["Metadata"].get("mtime")
        assert m is not None, f"{rel}: no x-amz-meta-mtime in {h['Metadata']}"
        assert MTIME_RE.match(m), f"{rel}: x-amz-meta-mtime {m!r} is not seconds.fraction"
        want_ns = os.stat(orig / rel).st_mtime_ns
        assert abs(meta_mtime_ns(m) - want_ns) <= 1_000_000, (rel, m, want_ns)

    # and back: into a directory that does not exist yet
    back = tmp_path / "back"
    r = barge(["copy", f"r2://{b.dst}/up", back, "--part-size", "5M", "--progress", "none"],
              timeout=120)
    assert r.code == 0, ok(r)
    no_secrets(r)
    assert partials(back) == []
    assert sorted(tree_files(back)) == sorted(files)
    assert_dirs_equal(orig, back)
    for rel in files:
        o, c = orig / rel, back / rel
        assert stat.S_ISREG(os.lstat(c).st_mode), rel
        assert sha256_file(c) == sha256_file(o), rel
        d = abs(os.stat(c).st_mtime_ns - os.stat(o).st_mtime_ns)
        assert d <= 1_000_000, f"{rel}: mtime differs by {d} ns"


# ---- 2. one file up, both key rules ----------------------------------------------------

def test_single_file_upload_key_rules(servers, fresh_buckets, barge, tmp_path):
    b = fresh_buckets
    dst = servers.dst.client
    sub = tmp_path / "sub"
    sub.mkdir()
    one = sub / "one file #1.txt"
    one.write_bytes(b"the one file\n" * 50)
    set_mtime(one, BASE_MTIME_NS)
    two = sub / "two.bin"
    two.write_bytes(os.urandom(12 * MiB + 3))
    set_mtime(two, BASE_MTIME_NS + 5_000_000_001)

    runs = [
        ([one, f"r2://{b.dst}/pre/"], None, "pre/one file #1.txt", one),
        ([one, f"r2://{b.dst}"], None, "one file #1.txt", one),
        ([one, f"r2://{b.dst}/some/key"], None, "some/key", one),
        ([one, f"r2://{b.dst}/deep/er/"], None, "deep/er/one file #1.txt", one),
        # a relative path: the key takes the basename, not "sub/two.bin"
        (["sub/two.bin", f"r2://{b.dst}/rel/"], tmp_path, "rel/two.bin", two),
        ([two, f"r2://{b.dst}/exact/big-one"], None, "exact/big-one", two),
    ]
    for args, cwd, key, path in runs:
        r = barge(["copy", *args, "--part-size", "5M", "--progress", "none"], cwd=cwd, timeout=60)
        assert r.code == 0, f"{args}: " + ok(r)
        no_secrets(r)
    assert_no_uploads(dst, b.dst)
    got = listing(dst, b.dst)
    assert sorted(got) == sorted(k for _, _, k, _ in runs)
    for _, _, key, path in runs:
        data = path.read_bytes()
        assert got[key]["Size"] == len(data), key
        assert read(dst, b.dst, key) == data, key
        m = dst.head_object(Bucket=b.dst, Key=key)["Metadata"].get("mtime")
        assert m is not None and MTIME_RE.match(m), (key, m)
        assert abs(meta_mtime_ns(m) - os.stat(path).st_mtime_ns) <= 1_000_000, (key, m)
    assert got["rel/two.bin"]["ETag"].strip('"').endswith("-3")
    assert got["exact/big-one"]["ETag"].strip('"') == multipart_etag(two.read_bytes(), PART)


# ---- 3. download of a prefix seeded by boto3 -----------------------------------------

def test_download_prefix_from_source(servers, fresh_buckets, barge, tmp_path):
    b = fresh_buckets
    src = servers.src.client
    objs = {
        "pfx/a.txt": b"a" * 100,
        "pfx/sub/b.bin": os.urandom(40 * KiB),
        "pfx/sub/deeper/c": b"c",
        "pfx/empty": b"",
        "pfx/with space/é 中文#?&": b"awkward\n",
    }
    for k, v in objs.items():
        src.put_object(Bucket=b.src, Key=k, Body=v)
    # multipart on the source, 5 MiB parts: barge reads it in ranges
    big = os.urandom(12 * MiB + 3)
    cfg = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART)
    src.upload_fileobj(io.BytesIO(big), b.src, "pfx/big/model.ckpt", Config=cfg)
    assert src.head_object(Bucket=b.src, Key="pfx/big/model.ckpt")["ETag"].strip('"').endswith("-3")
    objs["pfx/big/model.ckpt"] = big
    # an object that carries an rclone-style mtime
    src.put_object(Bucket=b.src, Key="pfx/stamped", Body=b"stamped",
                   Metadata={"mtime": "1600000000.5"})
    objs["pfx/stamped"] = b"stamped"
    # a directory marker (skipped) and keys that are not under pfx/
    src.put_object(Bucket=b.src, Key="pfx/marker/", Body=b"")
    for k in ("pfxx/no", "other/pfx/no", "pfx"):
        src.put_object(Bucket=b.src, Key=k, Body=b"not under the prefix")

    out = tmp_path / "dl" / "new"   # neither exists
    r = barge(["copy", f"s3://{b.src}/pfx", out, "--part-size", "5M", "--progress", "none"],
              timeout=60)
    assert r.code == 0, ok(r)
    no_secrets(r)
    assert partials(out) == []
    want = {k[len("pfx/"):]: v for k, v in objs.items()}
    assert sorted(tree_files(out)) == sorted(want)
    lst = listing(src, b.src, "pfx/")
    for rel, data in want.items():
        key = "pfx/" + rel
        p = out / rel
        assert stat.S_ISREG(os.lstat(p).st_mode), rel
        body = read(src, b.src, key)
        assert body == data  # setup
        assert p.read_bytes() == body, rel
        if rel == "stamped":
            d = abs(os.stat(p).st_mtime_ns - 1_600_000_000_500_000_000)
            assert d <= 1_000_000, f"stamped: mtime {os.stat(p).st_mtime_ns} ns, not 1600000000.5"
        else:
            lm = src.head_object(Bucket=b.src, Key=key)["LastModified"].timestamp()
            lm_list = lst[key]["LastModified"].timestamp()
            mt = os.stat(p).st_mtime
            assert int(mt) == int(lm) or int(mt) == int(lm_list), (
                f"{rel}: mtime {mt}, LastModified {lm} (listing {lm_list})")
    # the marker is not a file (a directory there is fine)
    assert not (out / "marker").exists() or (out / "marker").is_dir()


# ---- 4. path safety -------------------------------------------------------------------

def test_keys_that_cannot_be_local_files(servers, fresh_buckets, barge, tmp_path):
    """moto and RGW both accept every one of these keys (checked with boto3
    while writing this test), so the source (moto) holds them all."""
    b = fresh_buckets
    src = servers.src.client
    tag = uuid.uuid4().hex[:10]
    bad = [
        "..", ".", f"../escape-{tag}", f"sub/../../escape2-{tag}", f"./dot-{tag}",
        f"d/./x-{tag}", f"d//x-{tag}", f"/abs-escape-{tag}", f"//abs2-{tag}",
        f"/tmp/barge-escape-{tag}", "a/..", f"a/b/../../../up3-{tag}",
        "long/" + "n" * 256, "n" * 256,
    ]
    good = {
        "ok/1.txt": b"one",
        "ok2": b"two",
        "long/" + "y" * 255: b"255 bytes is fine",   # the longest name Linux allows
        "dots/..x/x..": b"dots inside names are fine",
        "dots/...": b"three dots is a name",
    }
    for k in bad:
        src.put_object(Bucket=b.src, Key=k, Body=b"bad key " + k.encode())
    for k, v in good.items():
        src.put_object(Bucket=b.src, Key=k, Body=v)
    src.put_object(Bucket=b.src, Key="marker/", Body=b"")       # skipped, not a failure
    assert sorted(listing(src, b.src)) == sorted(bad + list(good) + ["marker/"])  # setup

    work = tmp_path / "w"
    out = work / "parent" / "dl"
    out.parent.mkdir(parents=True)
    before_root = set(os.listdir("/"))
    before_tmp = set(os.listdir("/tmp"))
    r = barge(["copy", f"s3://{b.src}", out, "--progress", "none"], timeout=60)
    no_secrets(r)
    assert r.code == 1, ok(r)
    lines = r.stderr.splitlines()
    for k in bad:
        hits = [l for l in lines if k in l and NOT_LOCAL in l]
        assert hits, f"no stderr line names {k!r} with {NOT_LOCAL!r}:\n{r.stderr[-4000:]}"
    assert not [l for l in lines if NOT_LOCAL in l and "marker" in l], "a directory marker failed"

    # the good objects arrived, nothing else is in DIR
    files = tree_files(out)
    assert sorted(files) == sorted(good), sorted(files)
    for k, v in good.items():
        assert (out / k).read_bytes() == v, k
    # nothing anywhere under tmp_path outside DIR, nothing at / or /tmp
    outside = []
    for dirpath, dirnames, filenames in os.walk(tmp_path):
        for n in filenames + dirnames:
            p = Path(dirpath) / n
            if p != out and out not in p.parents and p not in out.parents:
                outside.append(str(p))
    assert outside == [], f"written outside DIR: {outside}"
    assert not any(tag in n for n in set(os.listdir("/")) - before_root)
    assert not any(tag in n for n in set(os.listdir("/tmp")) - before_tmp)
    assert not os.path.lexists(f"/abs-escape-{tag}") and not os.path.lexists(f"/abs2-{tag}")
    assert not os.path.lexists(f"/tmp/barge-escape-{tag}")


def test_keys_ending_in_slash(servers, fresh_buckets, barge, tmp_path):
    """Empty keys ending in '/' are directory markers: skipped, not
    failures.  One that holds bytes cannot be a file and is not a bare
    marker either: dropping it would lose data, so it is a named failure."""
    b = fresh_buckets
    src = servers.src.client
    src.put_object(Bucket=b.src, Key="k/empty-marker/", Body=b"")
    src.put_object(Bucket=b.src, Key="k/marker-with-bytes/", Body=b"some tools write these")
    src.put_object(Bucket=b.src, Key="k/sub/deep-marker/", Body=b"")
    src.put_object(Bucket=b.src, Key="k/file", Body=b"file")
    out = tmp_path / "dl"
    r = barge(["copy", f"s3://{b.src}/k", out, "--progress", "none"], timeout=60)
    no_secrets(r)
    assert r.code == 1, ok(r)
    failed = [l for l in r.stderr.splitlines() if l.startswith("barge: failed:")]
    assert len(failed) == 1 and "marker-with-bytes/" in failed[0] and "ends with '/'" in failed[0], r.stderr
    assert sorted(tree_files(out)) == ["file"]
    assert (out / "file").read_bytes() == b"file"


def test_symlink_inside_dir_is_not_followed(servers, fresh_buckets, barge, tmp_path):
    b = fresh_buckets
    src = servers.src.client
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target").write_bytes(b"outside, must stay")
    out = tmp_path / "dl"
    out.mkdir()
    os.symlink(outside, out / "link")                  # a symlink to a directory
    os.symlink(outside / "target", out / "filelink")   # a symlink to a file
    src.put_object(Bucket=b.src, Key="s/link/x", Body=b"through the link")
    src.put_object(Bucket=b.src, Key="s/link/target", Body=b"overwrite through the link")
    src.put_object(Bucket=b.src, Key="s/filelink", Body=b"replaces the link, or fails")
    src.put_object(Bucket=b.src, Key="s/fine", Body=b"fine")

    r = barge(["copy", f"s3://{b.src}/s", out, "--progress", "none"], timeout=60)
    no_secrets(r)
    assert r.code == 1, ok(r)
    for k in ("link/x", "link/target"):
        assert any(k in l for l in r.stderr.splitlines()), f"{k} not named as failed:\n{r.stderr}"
    # the outside directory is exactly as it was
    assert sorted(os.listdir(outside)) == ["target"]
    assert (outside / "target").read_bytes() == b"outside, must stay"
    assert (out / "fine").read_bytes() == b"fine"
    # 'filelink' either failed (the symlink is still there) or replaced the
    # symlink by a regular file; it never wrote through it (checked above)
    fl = out / "filelink"
    if not os.path.islink(fl):
        assert fl.read_bytes() == b"replaces the link, or fails"
    assert partials(tmp_path) == []


# ---- 5. symlinks and special files in an upload source ---------------------------------

def test_upload_skips_symlinks_and_fifos(servers, fresh_buckets, barge, tmp_path):
    b = fresh_buckets
    dst = servers.dst.client
    outside = tmp_path / "outside"
    (outside / "inner").mkdir(parents=True)
    (outside / "secret.txt").write_bytes(b"outside file")
    (outside / "inner" / "deep.txt").write_bytes(b"outside deep")
    root = tmp_path / "up"
    (root / "sub").mkdir(parents=True)
    (root / "real.txt").write_bytes(b"real")
    (root / "sub" / "real2.bin").write_bytes(os.urandom(2000))
    (root / "sub" / "empty").write_bytes(b"")
    os.symlink(outside / "secret.txt", root / "filelink")
    os.symlink(outside, root / "dirlink")
    os.symlink(root / "real.txt", root / "sub" / "innerlink")
    os.symlink(tmp_path / "nowhere", root / "dangling")
    os.mkfifo(root / "sub" / "fifo")

    r = barge(["copy", root, f"r2://{b.dst}/p", "--progress", "none"], timeout=60)
    no_secrets(r)
    assert r.code == 0, ok(r)
    for name in ("filelink", "dirlink", "innerlink", "dangling", "fifo"):
        hits = [l for l in r.stderr.splitlines() if name in l and "skipped" in l]
        assert hits, f"no 'skipped' line names {name}:\n{r.stderr}"
    got = listing(dst, b.dst)
    assert sorted(got) == ["p/real.txt", "p/sub/empty", "p/sub/real2.bin"]
    for rel in ("real.txt", "sub/real2.bin", "sub/empty"):
        assert read(dst, b.dst, "p/" + rel) == (root / rel).read_bytes(), rel
    assert_no_uploads(dst, b.dst)


# ---- 6. usage errors ---------------------------------------------------------------------

def one_line(r) -> str:
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{r.stderr}"
    return lines[0]


def test_local_to_local_is_a_usage_error(servers, barge, tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    (a / "f").write_bytes(b"f")
    dest = tmp_path / "b"
    for args, cwd in (([a, dest], None), (["a", "b"], tmp_path), ([a / "f", dest / "f"], None)):
        r = barge(["copy", *args], cwd=cwd, timeout=30)
        assert r.code == 2, f"{args}: " + ok(r)
        one_line(r)
        assert not dest.exists(), f"{args}: {dest} was created"
    assert sorted(os.listdir(a)) == ["f"] and (a / "f").read_bytes() == b"f"


def test_missing_source_directory(servers, fresh_buckets, barge, tmp_path):
    b = fresh_buckets
    missing = tmp_path / f"no-such-dir-{uuid.uuid4().hex[:8]}"
    r = barge(["copy", missing, f"r2://{b.dst}/p"], timeout=30)
    assert r.code == 2, ok(r)
    line = one_line(r)
    assert str(missing) in line or missing.name in line, line
    assert listing(servers.dst.client, b.dst) == {}
    assert not missing.exists()


# ---- 7. an interrupted download, resumed -----------------------------------------------

def kill_when(args, env, log: Path, reached, sig=signal.SIGKILL) -> int:
    """Starts barge (stderr to log) and sends it sig (SIGKILL) once reached()
    is true (polled for 30 s at most, then 0.3 s more); asserts it was still
    running.  Returns its exit code."""
    with open(log, "wb") as err:
        p = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err)
    end = time.monotonic() + 30
    while not reached() and p.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    time.sleep(0.3)
    assert p.poll() is None, (f"the first run ended by itself (exit {p.returncode}):\n"
                              + log.read_text(errors="replace"))
    p.send_signal(sig)
    return p.wait(timeout=30)


def test_download_killed_and_resumed_with_journal(servers, fresh_buckets, tmp_path):
    b = fresh_buckets
    src = servers.src.client
    data = os.urandom(40 * MiB)
    src.put_object(Bucket=b.src, Key="r/big.bin", Body=data)
    src.put_object(Bucket=b.src, Key="r/small", Body=b"small one")
    out = tmp_path / "dl"
    journal = tmp_path / "j.db"
    meter = GetMeter(servers.src.port)
    env = popen_env(servers, AWS_ENDPOINT_URL_S3=meter.url)
    args = [str(barge_bin()), "copy", f"s3://{b.src}/r", str(out), "--journal", str(journal),
            "--part-size", "5M", "--concurrency", "2", "--bwlimit", "4M", "--progress", "none"]
    try:
        run1 = meter.new_run()
        # kill once 18 MiB reached barge: with 2 parts of 5 MiB in flight at
        # most, at least one whole part is on disk (and in the journal)
        kill_when(args, env, tmp_path / "run1.err", lambda: meter.bytes_of(run1) >= 18 * MiB)
        got1 = meter.bytes_of(run1)
        assert got1 < len(data), "the kill came too late to test anything"
        assert not (out / "big.bin").exists(), "big.bin complete before the kill?"
        left = [n for n in os.listdir(out) if PARTIAL_RE.match(n)] if out.exists() else []
        assert left, (f"no .barge.<16 hex>.partial in {out} after the kill: "
                      f"{os.listdir(out) if out.exists() else 'no DIR'}")

        run2 = meter.new_run()
        p2 = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=60)
        got2 = meter.bytes_of(run2)
    finally:
        meter.close()
    assert p2.returncode == 0, f"exit {p2.returncode}\n{p2.stderr[-3000:]}"
    assert partials(tmp_path) == []
    assert sorted(tree_files(out)) == ["big.bin", "small"]
    assert sha256_file(out / "big.bin") == hashlib.sha256(data).hexdigest()
    assert (out / "small").read_bytes() == b"small one"
    print(f"\n[resume] run 1 got {got1 / MiB:.1f} MiB before the kill, run 2 {got2 / MiB:.1f} MiB "
          f"(object {len(data) / MiB:.0f} MiB)")
    # the resumed run did not read the whole object again: at least one
    # 5 MiB part was kept from the first run
    assert got2 <= len(data) - PART + 64 * KiB, (
        f"the resumed run read {got2} bytes of GET bodies for a {len(data)}-byte object "
        f"(run 1 had read {got1})")


def test_download_gets_cut_mid_part_are_written_again(servers, fresh_buckets, barge, tmp_path):
    """A download part goes to its file while its GET runs (a write for each
    256 KiB that arrives), so a GET cut half-way through an 8 MiB part has
    already written some of it.  The retry starts the part over and writes
    it again; every file must come out whole and no temporary file stay."""
    b = fresh_buckets
    src = servers.src.client
    objs = {f"w/{i}.bin": os.urandom(n)
            for i, n in enumerate((24 * MiB + 5, 17 * MiB, 9 * MiB + 1))}
    for k, v in objs.items():
        src.put_object(Bucket=b.src, Key=k, Body=v)
    # half of every other GET body, then the connection closes (or resets)
    proxy = FaultProxy(servers.src.port, seed=5, rules=[
        Rule("truncate", rate=0.35, methods=("GET",), ops=("get",)),
        Rule("reset-body", rate=0.2, methods=("GET",), ops=("get",))])
    out = tmp_path / "dl"
    try:
        r = barge(["copy", f"s3://{b.src}/w", out, "--part-size", "8M", "--concurrency", "3",
                   "--retries", "12", "--progress", "none"],
                  env={"AWS_ENDPOINT_URL_S3": proxy.url}, timeout=180)
    finally:
        proxy.close()
    assert r.code == 0, ok(r)
    cut = proxy.counts["truncate"] + proxy.counts["reset-body"]
    assert cut >= 2, proxy.counts
    assert partials(tmp_path) == []
    assert sorted(tree_files(out)) == ["0.bin", "1.bin", "2.bin"]
    for k, v in objs.items():
        assert sha256_file(out / k[len("w/"):]) == hashlib.sha256(v).hexdigest(), k
    print(f"\n[write-behind] {cut} GETs cut: {dict(proxy.counts)}")


def peak_rss_mib(args, env, log: Path, timeout: float = 120) -> tuple:
    """Runs args; returns (exit code, the highest VmHWM of the process seen
    in /proc while it ran, in MiB).  Read from the kernel, not from barge;
    VmHWM only rises, and belongs to the program after exec (a forked
    child's rusage would carry the test process's own memory)."""
    hwm = 0
    with open(log, "wb") as err:
        p = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err)
        end = time.monotonic() + timeout
        while p.poll() is None and time.monotonic() < end:
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            hwm = max(hwm, int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.005)
        if p.poll() is None:
            p.kill()
        p.wait()
    return p.returncode, hwm / 1024


def test_download_holds_a_few_mib_per_part_not_the_part(servers, fresh_buckets, tmp_path):
    """Two 64 MiB objects in 32 MiB parts, four parts at once: holding each
    part whole would take 128 MiB of part buffers; written behind their GETs
    they hold 2 MiB each."""
    b = fresh_buckets
    src = servers.src.client
    objs = {f"h/{i}": os.urandom(64 * MiB) for i in range(2)}
    for k, v in objs.items():
        src.put_object(Bucket=b.src, Key=k, Body=v)
    out = tmp_path / "dl"
    args = [str(barge_bin()), "copy", f"s3://{b.src}/h", str(out), "--part-size", "32M",
            "--concurrency", "4", "--memory", "256M", "--progress", "none"]
    code, peak = peak_rss_mib(args, popen_env(servers), tmp_path / "err")
    assert code == 0, (tmp_path / "err").read_text(errors="replace")[-3000:]
    for k, v in objs.items():
        assert sha256_file(out / k[len("h/"):]) == hashlib.sha256(v).hexdigest(), k
    print(f"\n[write-behind] peak RSS {peak:.0f} MiB for 4 parts of 32 MiB at once")
    assert 0 < peak < 96, f"peak RSS {peak:.0f} MiB: parts held whole?"


def test_download_interrupted_mid_part(servers, fresh_buckets, tmp_path):
    """Ctrl-C while parts are being written behind their GETs.  Without a
    journal: barge says "interrupted", exits 130 and removes its
    temporary file.  With one: the temporary file stays, and the same
    command run again completes the file whole."""
    b = fresh_buckets
    src = servers.src.client
    data = os.urandom(24 * MiB)
    src.put_object(Bucket=b.src, Key="i/big.bin", Body=data)
    meter = GetMeter(servers.src.port)
    env = popen_env(servers, AWS_ENDPOINT_URL_S3=meter.url)
    codes = {}
    try:
        for journal in (None, tmp_path / "j.db"):
            out = tmp_path / ("dl-journal" if journal else "dl")
            args = [str(barge_bin()), "copy", f"s3://{b.src}/i", str(out), "--part-size", "5M",
                    "--concurrency", "2", "--bwlimit", "4M", "--progress", "none"]
            if journal:
                args += ["--journal", str(journal)]
            run = meter.new_run()
            log = tmp_path / f"run-{bool(journal)}.err"
            code = kill_when(args, env, log, lambda: meter.bytes_of(run) >= 6 * MiB,
                             sig=signal.SIGINT)
            err = log.read_text(errors="replace")
            codes[bool(journal)] = code
            assert code == 130 and "interrupted" in err, (code, err[-2000:])
            assert not (out / "big.bin").exists(), "a file in place after an interrupt"
            left = [n for n in os.listdir(out) if PARTIAL_RE.match(n)] if out.exists() else []
            if not journal:
                assert partials(tmp_path / "dl") == [], "temporary file left without a journal"
                continue
            assert left, "the journaled run's temporary file is gone"
            p2 = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, timeout=120)
            assert p2.returncode == 0, p2.stderr[-3000:]
            assert partials(out) == []
            assert sha256_file(out / "big.bin") == hashlib.sha256(data).hexdigest()
    finally:
        meter.close()
    print(f"\n[interrupt] exit codes: without journal {codes[False]}, with {codes[True]}")


def test_upload_killed_and_resumed_with_journal(servers, fresh_buckets, tmp_path):
    """The same for an upload: killed inside a multipart upload, run again
    with the same command and journal; the destination (through a metering
    proxy) receives less than the whole file again, and the run after that
    sends nothing."""
    b = fresh_buckets
    dst = servers.dst.client
    root = tmp_path / "up"
    root.mkdir()
    data = os.urandom(30 * MiB + 11)
    (root / "big.bin").write_bytes(data)
    (root / "small").write_bytes(b"small")
    journal = tmp_path / "j.db"
    proxy = MeterProxy(servers.dst.port, rate=8 * MiB)
    env = popen_env(servers, R2_ENDPOINT_URL=proxy.url)
    args = [str(barge_bin()), "copy", str(root), f"r2://{b.dst}/u", "--journal", str(journal),
            "--part-size", "5M", "--concurrency", "2", "--progress", "none"]
    try:
        run1 = proxy.new_run()
        kill_when(args, env, tmp_path / "run1.err", lambda: proxy.put_bytes(run1) >= 14 * MiB)
        assert proxy.wait_idle(15)
        sent1 = proxy.put_bytes(run1)
        assert "u/big.bin" not in listing(dst, b.dst), "big.bin complete before the kill?"
        proxy.rate = None
        run2 = proxy.new_run()
        p2 = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=60)
        assert p2.returncode == 0, f"exit {p2.returncode}\n{p2.stderr[-3000:]}"
        sent2 = proxy.put_bytes(run2)
        run3 = proxy.new_run()
        p3 = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=60)
        assert p3.returncode == 0, f"exit {p3.returncode}\n{p3.stderr[-3000:]}"
        sent3 = proxy.put_bytes(run3)
    finally:
        proxy.close()
    got = listing(dst, b.dst)
    assert sorted(got) == ["u/big.bin", "u/small"]
    assert got["u/big.bin"]["ETag"].strip('"') == multipart_etag(data, PART)
    assert hashlib.sha256(read(dst, b.dst, "u/big.bin")).hexdigest() == \
        hashlib.sha256(data).hexdigest()
    assert read(dst, b.dst, "u/small") == b"small"
    assert_no_uploads(dst, b.dst)
    print(f"\n[upload resume] run 1 sent {sent1 / MiB:.1f} MiB, run 2 {sent2 / MiB:.1f} MiB, "
          f"run 3 {sent3} B (file {len(data) / MiB:.0f} MiB)")
    assert sent2 <= len(data) - PART + 64 * KiB, (sent1, sent2)
    assert sent3 == 0, f"a third run with the journal sent {sent3} bytes"


# ---- 8. a full disk ----------------------------------------------------------------------

@pytest.fixture
def small_fs(tmp_path, tmpfs_at):
    """A 4 MiB tmpfs at tmp_path/fs (root only)."""
    return tmpfs_at(tmp_path / "fs", "4M")


def test_download_into_a_full_disk(servers, fresh_buckets, barge, small_fs):
    b = fresh_buckets
    src = servers.src.client
    pre = {f"pre/f{i}": os.urandom(100 * KiB) for i in range(3)}
    smalls = {f"m/a-{i}": os.urandom(20 * KiB + i) for i in range(4)}
    big = os.urandom(8 * MiB)
    for k, v in {**pre, **smalls, "m/z-big": big}.items():
        src.put_object(Bucket=b.src, Key=k, Body=v)
    out = small_fs / "dl"

    # an earlier download that fits
    r = barge(["copy", f"s3://{b.src}/pre", out / "pre", "--progress", "none"], timeout=60)
    assert r.code == 0, ok(r)
    before = {rel: sha256_file(p) for rel, p in tree_files(out).items()}
    assert sorted(before) == ["pre/f0", "pre/f1", "pre/f2"]

    # through a proxy that only forwards, to see which objects were read
    proxy = FaultProxy(servers.src.port, rate=0.0)
    try:
        r = barge(["copy", f"s3://{b.src}/m", out / "m", "--part-size", "5M",
                   "--concurrency", "2", "--progress", "none"],
                  env={"AWS_ENDPOINT_URL_S3": proxy.url}, timeout=60)
    finally:
        proxy.close()
    no_secrets(r)
    assert r.code == 2, ok(r)
    assert "No space left" in r.stderr, r.stderr
    # the room for the 8 MiB file is asked for before any byte of it moves
    big_gets = [q for q in proxy.requests if q[2] == "get" and q[3] == "m/z-big"]
    assert big_gets == [], f"{len(big_gets)} GETs of m/z-big on a disk without room for it"
    assert partials(small_fs) == [], f"temporary files left: {partials(small_fs)}"
    files = tree_files(out)
    # the earlier files are intact
    for rel, digest in before.items():
        assert sha256_file(files[rel]) == digest, rel
    # whatever this run completed is complete; the big one cannot be there
    assert "m/z-big" not in files
    for rel, p in files.items():
        if rel.startswith("m/"):
            assert p.read_bytes() == smalls[rel], rel
    assert set(files) <= set(before) | set(smalls), sorted(files)


def test_dry_run_moves_and_makes_nothing(servers, fresh_buckets, barge, tmp_path):
    """--dry-run with a local side: the plan names every file, and neither
    the target directory nor a key is made."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    src.put_object(Bucket=b.src, Key="p/a.txt", Body=b"a" * 10)
    src.put_object(Bucket=b.src, Key="p/sub/b.txt", Body=b"b" * 20)
    out = tmp_path / "not" / "made"
    r = barge(["copy", f"s3://{b.src}/p", out, "--dry-run"], timeout=60)
    assert r.code == 0, ok(r)
    assert "would copy p/a.txt -> a.txt" in r.stdout and "p/sub/b.txt -> sub/b.txt" in r.stdout, r.stdout
    assert not (tmp_path / "not").exists(), "a dry run made the target directory"

    tree = tmp_path / "tree"
    (tree / "d").mkdir(parents=True)
    (tree / "d" / "f.bin").write_bytes(b"f" * 100)
    r = barge(["copy", tree, f"r2://{b.dst}/up", "--dry-run"], timeout=60)
    assert r.code == 0, ok(r)
    assert "would copy d/f.bin -> up/d/f.bin" in r.stdout, r.stdout
    assert listing(dst, b.dst) == {}, "a dry run uploaded something"
