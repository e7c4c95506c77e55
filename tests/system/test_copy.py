"""barge copy, moto (s3://) -> Ceph RGW (r2://): what arrives on the destination.

Every check reads the servers directly with boto3 (keys, sizes, bytes, ETags,
headers, open multipart uploads); barge's own output is only used to find out
which run failed and why. Every copy is followed by a check that no incomplete
multipart upload was left on the destination.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import hashlib
import io
import json
import os
import random

import pytest
from boto3.s3.transfer import TransferConfig

from conftest import DST_SECRET_KEY, SRC_SECRET_KEY

KiB = 1 << 10
MiB = 1 << 20


# ---- helpers -----------------------------------------------------------------

def md5_hex(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def multipart_etag(data: bytes, part_size: int) -> str:
    """The S3 ETag of `data` uploaded with uniform parts of `part_size`."""
    digests = [hashlib.md5(data[i:i + part_size]).digest()
               for i in range(0, max(len(data), 1), part_size)]
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


def listing(client, bucket: str, prefix: str = "") -> dict:
    """{key: (size, etag without quotes)} from a full, paginated listing."""
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = (o["Size"], o["ETag"].strip('"'))
    return out


def read(client, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def head_etag(client, bucket: str, key: str) -> str:
    return client.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')


def assert_no_uploads(client, bucket: str) -> None:
    ups = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert ups == [], f"incomplete multipart uploads left on {bucket}: {ups}"


def failures(stdout: str) -> list:
    """Failed objects from --progress json output (diagnostics only)."""
    out = []
    for line in stdout.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("type") == "object" and ev.get("status") == "failed":
            out.append((ev.get("key"), ev.get("error")))
    return out


def ok(r) -> str:
    """Message for a run that should have exited 0."""
    return f"exit {r.code}; failed objects {failures(r.stdout)}; stderr:\n{r.stderr[-3000:]}"


def upload_multipart(client, bucket: str, key: str, data: bytes, part_sizes, **extra) -> str:
    """Upload `data` as a multipart object with exactly these part sizes
    (the last one takes the rest); returns the source ETag."""
    up = client.create_multipart_upload(Bucket=bucket, Key=key, **extra)
    parts, off = [], 0
    for n, size in enumerate(part_sizes, 1):
        chunk = data[off:off + size] if n < len(part_sizes) else data[off:]
        off += len(chunk)
        r = client.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                               PartNumber=n, Body=chunk)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    assert off == len(data)
    client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": parts})
    return head_etag(client, bucket, key)


def copy_ok(barge, b, src: str, dst: str, *flags, timeout=300):
    """Run a copy that must succeed; checks exit 0 and no open uploads."""
    r = barge(["copy", src, dst, "--progress", "json", *flags], timeout=timeout)
    assert r.code == 0, ok(r)
    for secret in (DST_SECRET_KEY, SRC_SECRET_KEY):
        assert secret not in r.stdout and secret not in r.stderr, "a secret key was printed"
    assert_no_uploads(b.servers.dst.client, b.dst)
    return r


# ---- sizes -------------------------------------------------------------------

def test_zero_byte_objects(servers, fresh_buckets, barge):
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    src.put_object(Bucket=b.src, Key="d/empty", Body=b"")
    src.put_object(Bucket=b.src, Key="d/folder/", Body=b"")        # a "directory marker"
    src.put_object(Bucket=b.src, Key="d/folder/empty-too", Body=b"")
    src.put_object(Bucket=b.src, Key="d/one", Body=b"1")
    copy_ok(barge, b, f"s3://{b.src}/d", f"r2://{b.dst}/c", "--part-size", "5M")
    got = listing(dst, b.dst)
    empty = (0, md5_hex(b""))
    assert got == {"c/empty": empty, "c/folder/": empty, "c/folder/empty-too": empty,
                   "c/one": (1, md5_hex(b"1"))}
    for key in ("c/empty", "c/folder/", "c/folder/empty-too"):
        assert read(dst, b.dst, key) == b""


BOUNDARY_SIZES = [5 * MiB - 1, 5 * MiB, 5 * MiB + 1, 10 * MiB - 1, 10 * MiB, 10 * MiB + 1]


def test_sizes_around_the_part_boundary(servers, fresh_buckets, barge):
    """--part-size 5M --multipart-threshold 5M: up to 5 MiB is one PUT (ETag =
    MD5), above it 5 MiB parts (the last one shorter, 1 byte for 10M+1)."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    bodies = {}
    for size in BOUNDARY_SIZES:
        bodies[f"s/{size}"] = data = os.urandom(size)
        src.put_object(Bucket=b.src, Key=f"s/{size}", Body=data)
    copy_ok(barge, b, f"s3://{b.src}/s", f"r2://{b.dst}/t",
            "--part-size", "5M", "--multipart-threshold", "5M")
    got = listing(dst, b.dst)
    assert sorted(got) == sorted(f"t/{s}" for s in BOUNDARY_SIZES)
    for size in BOUNDARY_SIZES:
        data = bodies[f"s/{size}"]
        key = f"t/{size}"
        want = md5_hex(data) if size <= 5 * MiB else multipart_etag(data, 5 * MiB)
        assert got[key] == (size, want), (key, got[key], want)
        assert head_etag(dst, b.dst, key) == want
        assert md5_hex(read(dst, b.dst, key)) == md5_hex(data), key
    # the part counts the layout implies, spelled out
    assert got["t/5242881"][1].endswith("-2")
    assert got["t/10485760"][1].endswith("-2")
    assert got["t/10485761"][1].endswith("-3")


def test_threshold_zero_sends_every_nonempty_object_as_multipart(servers, fresh_buckets, barge):
    """--multipart-threshold 0: a 1-byte object is a one-part multipart upload
    (the only part is the last, so it may be under 5 MiB); 0 bytes is a PUT."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    bodies = {"z/zero": b"", "z/one": b"1", "z/kib": os.urandom(KiB)}
    for k, v in bodies.items():
        src.put_object(Bucket=b.src, Key=k, Body=v)
    copy_ok(barge, b, f"s3://{b.src}/z", f"r2://{b.dst}/z",
            "--multipart-threshold", "0", "--part-size", "5M")
    assert listing(dst, b.dst) == {
        "z/zero": (0, md5_hex(b"")),
        "z/one": (1, multipart_etag(b"1", 5 * MiB)),
        "z/kib": (KiB, multipart_etag(bodies["z/kib"], 5 * MiB)),
    }
    for k, v in bodies.items():
        assert read(dst, b.dst, k) == v


# ---- many objects ---------------------------------------------------------------

N_MANY = 10_050  # ten full listing pages of 1000 and a short one


def test_ten_thousand_objects_across_listing_pages(servers, fresh_buckets, barge):
    b = fresh_buckets
    src = servers.src.new_client(max_pool_connections=32)
    dst = servers.dst.client

    def body(i: int) -> bytes:
        return b"object %d\n" % i * (1 + i % 3)

    keys = [f"m/{i % 17:02d}/{i:05d}" for i in range(N_MANY)]

    def put(i: int) -> None:
        src.put_object(Bucket=b.src, Key=keys[i], Body=body(i))

    with concurrent.futures.ThreadPoolExecutor(32) as ex:
        list(ex.map(put, range(N_MANY)))
    src_list = listing(src, b.src)
    assert len(src_list) == N_MANY  # the setup itself

    copy_ok(barge, b, f"s3://{b.src}/m", f"r2://{b.dst}/n", timeout=240)

    dst_list = listing(dst, b.dst)
    assert len(dst_list) == N_MANY
    expect = {"n/" + k[2:]: v for k, v in src_list.items()}
    missing = sorted(set(expect) - set(dst_list))
    extra = sorted(set(dst_list) - set(expect))
    assert not missing and not extra, (missing[:10], extra[:10])
    # sizes and ETags (= MD5 of the bytes, single-part) of every object
    differ = [k for k in expect if expect[k] != dst_list[k]]
    assert not differ, [(k, expect[k], dst_list[k]) for k in differ[:10]]
    for i in random.Random(1).sample(range(N_MANY), 60) + [0, N_MANY - 1]:
        k = "n/" + keys[i][2:]
        assert read(dst, b.dst, k) == body(i), k
        assert dst_list[k][1] == md5_hex(body(i)), k


# ---- multipart layouts --------------------------------------------------------

def test_multipart_source_same_boundaries_same_etag(servers, fresh_buckets, barge):
    """A 52 MiB (+) object uploaded by boto3 in uniform 8 MiB parts is copied
    with the same boundaries: the destination ETag equals the source's."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    data = os.urandom(52 * MiB + 12345)
    cfg = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB)
    src.upload_fileobj(io.BytesIO(data), b.src, "big/model.ckpt", Config=cfg)
    src_etag = head_etag(src, b.src, "big/model.ckpt")
    assert src_etag == multipart_etag(data, 8 * MiB) and src_etag.endswith("-7")  # setup

    copy_ok(barge, b, f"s3://{b.src}/big", f"r2://{b.dst}/big")  # default --part-size 16M
    head = dst.head_object(Bucket=b.dst, Key="big/model.ckpt")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"') == src_etag
    assert md5_hex(read(dst, b.dst, "big/model.ckpt")) == md5_hex(data)


def test_one_part_multipart_source_keeps_its_etag(servers, fresh_buckets, barge):
    """A multipart object of a single 300 KiB part (ETag "...-1") is copied as
    a one-part multipart upload: same ETag on both sides."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    data = os.urandom(300 * KiB)
    src_etag = upload_multipart(src, b.src, "one/part", data, [len(data)])
    assert src_etag == multipart_etag(data, len(data))  # setup: md5(md5)-1
    copy_ok(barge, b, f"s3://{b.src}/one", f"r2://{b.dst}/one")
    assert head_etag(dst, b.dst, "one/part") == src_etag
    assert read(dst, b.dst, "one/part") == data


def _source_layouts():
    return [
        pytest.param("single-put-30M", None, ["--part-size", "8M"], 8 * MiB, id="single-put-30M"),
        # 12 MiB source parts do not fit --memory 16M (a part may use half): own 5 MiB parts
        pytest.param("parts-12M-memory-16M", [12 * MiB] * 3, ["--part-size", "5M", "--memory", "16M"],
                     5 * MiB, id="parts-too-big-for-memory"),
        # non-uniform, and visibly so: 5, 8, 5 MiB (size/5MiB gives 4 parts, not 3)
        pytest.param("parts-5-8-5", [5 * MiB, 8 * MiB, 5 * MiB + 3], ["--part-size", "6M"],
                     6 * MiB, id="non-uniform-5-8-5"),
        # non-uniform with the largest part first: 8, 5, 5 MiB. Part 1 alone
        # looks like a uniform 8 MiB layout (ceil(18M/8M) = 3 parts), but R2
        # cannot take it and barge must use its own uniform layout.
        pytest.param("parts-8-5-5", [8 * MiB, 5 * MiB, 5 * MiB], ["--part-size", "6M"],
                     6 * MiB, id="non-uniform-8-5-5"),
        # non-uniform only in the middle: 8, 10, 6, 3 MiB. First and last part
        # fit a uniform 8 MiB layout; only the ETag after the copy shows it,
        # and barge must copy again with its own parts.
        pytest.param("parts-8-10-6-3", [8 * MiB, 10 * MiB, 6 * MiB, 3 * MiB], ["--part-size", "6M"],
                     6 * MiB, id="non-uniform-middle-8-10-6-3"),
    ]


@pytest.mark.parametrize("name,src_parts,flags,dst_part", _source_layouts())
def test_source_layout_barge_cannot_reuse(servers, fresh_buckets, barge, name, src_parts,
                                          flags, dst_part):
    """The source's parts cannot be reproduced: barge uploads its own uniform
    parts; the bytes are equal and the ETag is that of barge's layout."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    size = sum(src_parts) if src_parts else 30 * MiB
    data = os.urandom(size)
    key = f"x/{name}"
    if src_parts:
        src_etag = upload_multipart(src, b.src, key, data, src_parts)
        assert src_etag.endswith(f"-{len(src_parts)}")
    else:
        src.put_object(Bucket=b.src, Key=key, Body=data)
        src_etag = head_etag(src, b.src, key)
        assert src_etag == md5_hex(data)

    copy_ok(barge, b, f"s3://{b.src}/x", f"r2://{b.dst}/y", *flags)
    head = dst.head_object(Bucket=b.dst, Key=f"y/{name}")
    assert head["ContentLength"] == size
    assert md5_hex(read(dst, b.dst, f"y/{name}")) == md5_hex(data)
    assert head["ETag"].strip('"') == multipart_etag(data, dst_part)
    assert listing(dst, b.dst) == {f"y/{name}": (size, multipart_etag(data, dst_part))}


# ---- keys ----------------------------------------------------------------------

AWKWARD = [
    "with space", "two  spaces and trailing space ", "ünïcødé/日本語/файл", "emoji-🦀",
    "a+b", "100%", "%2F-not-a-slash", "%", "what?", "q?x=1&y=2", "hash#tag", "#",
    "double//slash", "/leading-slash-after-prefix", "a/../b", "./dot", "..", "dir/./x",
    "semi;colon=eq&amp", "tilde~", "star*bracket[1]", "quote'\"", "back\\slash",
    "<angle>", "trailing-slash/", "tab\tchar", "caret^pipe|", "comma,@colon:",
]


def test_awkward_keys(servers, fresh_buckets, barge):
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    for i, rel in enumerate(AWKWARD):
        src.put_object(Bucket=b.src, Key="d/" + rel, Body=b"%d:" % i + rel.encode())
    assert sorted(listing(src, b.src)) == sorted("d/" + k for k in AWKWARD)  # setup
    copy_ok(barge, b, f"s3://{b.src}/d", f"r2://{b.dst}/c")
    got = listing(dst, b.dst)
    assert sorted(got) == sorted("c/" + k for k in AWKWARD)
    for i, rel in enumerate(AWKWARD):
        body = b"%d:" % i + rel.encode()
        assert got["c/" + rel] == (len(body), md5_hex(body)), rel
        assert read(dst, b.dst, "c/" + rel) == body, rel


def test_key_of_1024_bytes(servers, fresh_buckets, barge):
    """The longest key S3 allows, with no prefix on either side (so the
    destination key is the same 1024 bytes); multi-byte characters count as
    their UTF-8 bytes."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    stem = "long/" + "é" * 200 + "/"          # 5 + 400 + 1 bytes
    key = stem + "k" * (1024 - len(stem.encode()))
    assert len(key.encode()) == 1024
    short = "short"
    src.put_object(Bucket=b.src, Key=key, Body=b"long key")
    src.put_object(Bucket=b.src, Key=short, Body=b"short key")
    copy_ok(barge, b, f"s3://{b.src}", f"r2://{b.dst}")
    got = listing(dst, b.dst)
    assert sorted(got) == sorted([key, short])
    assert read(dst, b.dst, key) == b"long key"


def test_destination_key_too_long_fails_that_object_only(servers, fresh_buckets, barge):
    """A source key that fits 1024 bytes but not under the destination prefix:
    that object fails (named, exit 1), the others are copied."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    long_rel = "k" * (1024 - len("d/"))
    src.put_object(Bucket=b.src, Key="d/" + long_rel, Body=b"x")
    src.put_object(Bucket=b.src, Key="d/fine", Body=b"fine")
    r = barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/longer-prefix", "--progress", "json"])
    assert r.code == 1, ok(r)
    assert [k for k, _ in failures(r.stdout)] == ["d/" + long_rel]
    assert listing(dst, b.dst) == {"longer-prefix/fine": (4, md5_hex(b"fine"))}
    assert_no_uploads(dst, b.dst)


# ---- metadata --------------------------------------------------------------------

META = dict(
    ContentType="application/x-zarr; charset=utf-8",
    ContentEncoding="gzip",
    ContentDisposition='attachment; filename="chunk 0.0.0.bin"',
    CacheControl="public, max-age=86400",
    ContentLanguage="de-CH",
    Expires=datetime.datetime(2031, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
    Metadata={"owner": "team-zarr", "mixed-case-name": "Value With Spaces",
              "sha": "0123abcd"},
)
META_FIELDS = ("ContentType", "ContentEncoding", "ContentDisposition", "CacheControl",
               "ContentLanguage", "Expires", "Metadata")


def test_metadata_preserved_single_put_and_multipart(servers, fresh_buckets, barge):
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    small = os.urandom(3 * KiB)
    src.put_object(Bucket=b.src, Key="m/small", Body=small, **META)
    big = os.urandom(11 * MiB + 7)
    upload_multipart(src, b.src, "m/big", big, [5 * MiB] * 3, **META)
    # a single-PUT source that barge cuts into its own 5 MiB parts
    mid = os.urandom(12 * MiB)
    src.put_object(Bucket=b.src, Key="m/recut", Body=mid, **META)
    for key in ("m/small", "m/big", "m/recut"):  # setup: the source has it all
        h = src.head_object(Bucket=b.src, Key=key)
        for f in META_FIELDS:
            assert h.get(f) == META[f], (key, f, h.get(f))

    copy_ok(barge, b, f"s3://{b.src}/m", f"r2://{b.dst}/m", "--part-size", "5M")
    for key, data in (("m/small", small), ("m/big", big), ("m/recut", mid)):
        h = dst.head_object(Bucket=b.dst, Key=key)
        for f in META_FIELDS:
            assert h.get(f) == META[f], (key, f, h.get(f))
        assert md5_hex(read(dst, b.dst, key)) == md5_hex(data), key
    assert head_etag(dst, b.dst, "m/small") == md5_hex(small)
    assert head_etag(dst, b.dst, "m/big") == multipart_etag(big, 5 * MiB)
    assert head_etag(dst, b.dst, "m/recut") == multipart_etag(mid, 5 * MiB)


def test_many_metadata_entries(servers, fresh_buckets, barge):
    """S3 bounds user metadata by 2 KiB, not by count: 80 entries (moto's
    server takes at most 100 request headers) are copied, single PUT and
    multipart. barge once signed at most 64 headers and then sent the
    request with the previous one's headers (tests/unit/test_s3.c covers
    the object with more than barge can send: it fails with a message)."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    many = {f"k{i:02d}": "v" for i in range(80)}
    small, big = os.urandom(3 * KiB), os.urandom(11 * MiB)
    src.put_object(Bucket=b.src, Key="m/small", Body=small, Metadata=many)
    upload_multipart(src, b.src, "m/big", big, [5 * MiB] * 3, Metadata=many)
    assert src.head_object(Bucket=b.src, Key="m/big")["Metadata"] == many  # setup
    copy_ok(barge, b, f"s3://{b.src}/m", f"r2://{b.dst}/m", "--part-size", "5M")
    for key, data in (("m/small", small), ("m/big", big)):
        assert dst.head_object(Bucket=b.dst, Key=key)["Metadata"] == many, key
        assert md5_hex(read(dst, b.dst, key)) == md5_hex(data), key


# ---- prefixes and filters ---------------------------------------------------------

PREFIX_KEYS = ["data/a", "data/sub/b", "data/sub/deeper/c", "data2/x", "data2",
               "dat", "data", "datax/y", "other/data/z", "Data/upper"]


@pytest.mark.parametrize("src_suffix,dst_suffix", [("data", "copy"), ("data/", "copy/"),
                                                   ("data", "deep/er/copy")])
def test_prefix_is_a_folder(servers, fresh_buckets, barge, src_suffix, dst_suffix):
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    for k in PREFIX_KEYS:
        src.put_object(Bucket=b.src, Key=k, Body=k.encode())
    copy_ok(barge, b, f"s3://{b.src}/{src_suffix}", f"r2://{b.dst}/{dst_suffix}")
    base = dst_suffix.rstrip("/") + "/"
    rels = ["a", "sub/b", "sub/deeper/c"]
    got = listing(dst, b.dst)
    want = {base + r: (len(("data/" + r).encode()), md5_hex(("data/" + r).encode())) for r in rels}
    assert got == want
    for r in rels:
        assert read(dst, b.dst, base + r) == ("data/" + r).encode()


FILTER_KEYS = ["a.txt", "b.log", "secret.txt", "notes.md", "sub/keep-1.bin", "sub/drop-1.bin",
               "sub/drop-but-keep.bin", "other/x.bin"]


@pytest.mark.parametrize("filters,expected", [
    (["--exclude", "*.log"],
     {"a.txt", "secret.txt", "notes.md", "sub/keep-1.bin", "sub/drop-1.bin",
      "sub/drop-but-keep.bin", "other/x.bin"}),
    (["--include", "*.txt"], {"a.txt", "secret.txt"}),
    (["--include", "*.txt", "--exclude", "secret*"], {"a.txt"}),
    (["--include", "*.txt", "--include", "*.md"], {"a.txt", "secret.txt", "notes.md"}),
    (["--exclude", "sub/*", "--include", "sub/keep-*"],
     {"a.txt", "b.log", "secret.txt", "notes.md", "sub/keep-1.bin", "other/x.bin"}),
    (["--include", "sub/*", "--exclude", "sub/drop*", "--include", "sub/drop-but-*"],
     {"sub/keep-1.bin", "sub/drop-but-keep.bin"}),
    (["--exclude", "nothing-matches"], set(FILTER_KEYS)),
    (["--include", "nothing-matches"], set()),
    (["--exclude", "*"], set()),
], ids=["exclude", "include", "include-then-exclude", "two-includes", "exclude-then-include",
        "include-exclude-include", "exclude-none", "include-none", "exclude-all"])
def test_include_exclude(servers, fresh_buckets, barge, filters, expected):
    """Globs are relative to the source prefix; a first --include means only
    included keys are copied; the last matching filter wins."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    for k in FILTER_KEYS:
        src.put_object(Bucket=b.src, Key="p/" + k, Body=k.encode())
    src.put_object(Bucket=b.src, Key="outside.txt", Body=b"not under the prefix")
    copy_ok(barge, b, f"s3://{b.src}/p", f"r2://{b.dst}/q", *filters)
    got = listing(dst, b.dst)
    assert sorted(got) == sorted("q/" + k for k in expected)
    for k in expected:
        assert read(dst, b.dst, "q/" + k) == k.encode()


def test_dry_run_copies_nothing(servers, fresh_buckets, barge):
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    src.put_object(Bucket=b.src, Key="d/small", Body=b"small")
    src.put_object(Bucket=b.src, Key="d/big", Body=os.urandom(6 * MiB))
    upload_multipart(src, b.src, "d/mp", os.urandom(10 * MiB + 1), [5 * MiB] * 3)
    r = copy_ok(barge, b, f"s3://{b.src}/d", f"r2://{b.dst}/c", "--dry-run", "--part-size", "5M")
    assert listing(dst, b.dst) == {}
    assert_no_uploads(dst, b.dst)
    # the plan names every object it would copy
    for key in ("d/small", "d/big", "d/mp"):
        assert key in r.stdout


# ---- checksums ----------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["md5", "crc32c", "none", "auto"])
def test_checksum_modes(servers, fresh_buckets, barge, mode):
    """--checksum md5 sends Content-MD5, which RGW verifies (BadDigest on a
    mismatch); every mode copies the same bytes."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    bodies = {"k/small": os.urandom(1000), "k/empty": b"", "k/mp": os.urandom(11 * MiB + 5)}
    for k, v in bodies.items():
        src.put_object(Bucket=b.src, Key=k, Body=v)
    copy_ok(barge, b, f"s3://{b.src}/k", f"r2://{b.dst}/k", "--checksum", mode,
            "--part-size", "5M")
    got = listing(dst, b.dst)
    assert sorted(got) == sorted(bodies)
    for k, v in bodies.items():
        assert read(dst, b.dst, k) == v, k
    assert got["k/small"][1] == md5_hex(bodies["k/small"])
    assert got["k/mp"][1] == multipart_etag(bodies["k/mp"], 5 * MiB)
