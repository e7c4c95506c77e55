"""barge ls, doctor and plan against moto (s3://) and Ceph RGW (r2://).

ls is compared with boto3's own listing (text and JSON, recursive and by
folder, awkward keys, more than 1000 keys so that pages are followed);
doctor is run against a working endpoint (every step passes and its test
objects are gone, checked with boto3), a wrong secret key, a missing bucket
and a dead port; plan's counts are checked against boto3 and against what
a real `barge copy --journal` did: the journal's objects rows and the
requests the copy sent, metered on both sides.
"""

from __future__ import annotations

import json
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import DST_SECRET_KEY, REPO_ROOT, SRC_SECRET_KEY, free_port
from meterproxy import MeterProxy
from tlsproxy import TLSProxy, make_ca

KiB = 1 << 10
MiB = 1 << 20

KEY_COL = 19 + 2 + 12 + 2 + 38 + 2  # where a name starts in ls's text lines

AWKWARD = ["with space", "two  spaces ", " leading", "ünïcødé/日本語/файл", "emoji-🦀", "a+b",
           "100%", "%2F-not-a-slash", "q?x=1&y=2", "hash#tag", "double//slash", "back\\slash",
           "tab\tchar", "quote'\"", "<angle>&amp", "trailing/", "dir/sub/deep", "dir/x"]


def boto_listing(client, bucket, prefix="", delimiter=None):
    """(objects {key: (size, etag)}, set of common prefixes), every page."""
    objs, prefixes = {}, set()
    kw = {"Bucket": bucket, "Prefix": prefix}
    if delimiter:
        kw["Delimiter"] = delimiter
    for page in client.get_paginator("list_objects_v2").paginate(**kw):
        for o in page.get("Contents", []):
            objs[o["Key"]] = (o["Size"], o["ETag"].strip('"'))
        for p in page.get("CommonPrefixes", []):
            prefixes.add(p["Prefix"])
    return objs, prefixes


def unescape(s: str) -> str:
    """Undoes ls's text escapes (\\\\, \\n, \\t, \\r, \\xHH)."""
    out, i, raw = bytearray(), 0, s.encode()
    while i < len(raw):
        c = raw[i]
        if c == 0x5C:
            n = raw[i + 1]
            if n == ord("x"):
                out.append(int(raw[i + 2:i + 4], 16))
                i += 4
                continue
            out += {ord("\\"): b"\\", ord("n"): b"\n", ord("t"): b"\t", ord("r"): b"\r"}[n]
            i += 2
            continue
        out.append(c)
        i += 1
    return out.decode()


def ls_json(barge, url, *flags):
    r = barge(["ls", url, "--json", *flags], timeout=60)
    assert r.code == 0, r.stderr
    objs, prefixes = {}, set()
    for line in r.stdout.splitlines():
        d = json.loads(line)
        if d["type"] == "object":
            assert d["key"] not in objs, "a key printed twice"
            objs[d["key"]] = (d["size"], d["etag"])
            assert d["last_modified"].endswith("Z")
        else:
            prefixes.add(d["prefix"])
    return objs, prefixes


def ls_text(barge, url, *flags):
    r = barge(["ls", url, *flags], timeout=60)
    assert r.code == 0, r.stderr
    objs, prefixes = {}, set()
    for line in r.stdout.split("\n")[:-1]:
        name = unescape(line[KEY_COL:])
        if line[:KEY_COL].strip() == "PRE":
            prefixes.add(name)
        else:
            date, time_, size, etag = line[:KEY_COL].split()
            objs[name] = (int(size), etag)
    return objs, prefixes


def put_many(client, bucket, objects: dict):
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda kv: client.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]),
                    objects.items()))


# ---- ls -------------------------------------------------------------------------

def test_ls_matches_boto3_on_pages_and_awkward_keys(servers, fresh_buckets, barge):
    b = fresh_buckets
    src = servers.src.client
    objects = {f"many/k{i:05d}": b"x" * (i % 7) for i in range(1105)}  # two pages
    objects.update({"top/" + k: k.encode() for k in AWKWARD})
    objects["root-object"] = b"r"
    put_many(src, b.src, objects)

    # recursive, JSON and text: every key with its size and ETag
    want, _ = boto_listing(src, b.src)
    assert len(want) == len(objects)
    got, prefixes = ls_json(barge, f"s3://{b.src}", "--recursive")
    assert got == want and not prefixes
    got, prefixes = ls_text(barge, f"s3://{b.src}", "-r")
    assert got == want and not prefixes

    # one level: folders and objects, like ListObjectsV2 with a delimiter
    for prefix in ("", "top/", "top/dir/", "many/"):
        want_o, want_p = boto_listing(src, b.src, prefix, "/")
        url = f"s3://{b.src}/{prefix}" if prefix else f"s3://{b.src}"
        got_o, got_p = ls_json(barge, url)
        assert (got_o, got_p) == (want_o, want_p), prefix
        got_o, got_p = ls_text(barge, url)   # names relative to the folder
        assert got_p == {p[len(prefix):] for p in want_p}, prefix
        assert got_o == {k[len(prefix):]: v for k, v in want_o.items()}, prefix
    # a prefix without its '/' is the same folder
    assert ls_json(barge, f"s3://{b.src}/top") == ls_json(barge, f"s3://{b.src}/top/")


def test_ls_control_characters_on_rgw(servers, fresh_buckets, barge):
    """Newlines and other control characters in keys (RGW takes them; moto
    does not) stay on one line: escaped in text, JSON-escaped in JSON."""
    b = fresh_buckets
    dst = servers.dst.client
    keys = ["line\nbreak", "cr\rlf", "bell\x07", "del\x7f", "nul-free\x01", "plain", "sp ace\n/x"]
    stored = []
    for k in keys:
        try:
            dst.put_object(Bucket=b.dst, Key=k, Body=b"v")
            stored.append(k)
        except Exception:  # a server that refuses a key: not barge's business
            pass
    try:
        assert "line\nbreak" in stored or servers.dst.kind != "rgw"
        want, _ = boto_listing(dst, b.dst)
        assert set(want) == set(stored)
        assert ls_json(barge, f"r2://{b.dst}", "-r")[0] == want
        r = barge(["ls", f"r2://{b.dst}", "-r"])
        assert r.stdout.count("\n") == len(want)   # one line per object
        assert ls_text(barge, f"r2://{b.dst}", "-r")[0] == want
        want_o, want_p = boto_listing(dst, b.dst, "", "/")
        assert ls_json(barge, f"r2://{b.dst}") == (want_o, want_p)
    finally:  # DeleteObjects' XML cannot carry these keys: one by one
        for k in stored:
            dst.delete_object(Bucket=b.dst, Key=k)


def test_ls_errors(servers, fresh_buckets, barge):
    r = barge(["ls", "s3://no-such-bucket-here"])
    assert r.code == 2 and "does not exist" in r.stderr
    r = barge(["ls"])
    assert r.code == 2 and "needs a URL" in r.stderr
    r = barge(["ls", "s3://b", "--bogus"])
    assert r.code == 2 and "unknown option" in r.stderr
    r = barge(["ls", "--help"])
    assert r.code == 0 and "\\xHH" in r.stdout
    r = barge(["ls", f"s3://{fresh_buckets.src}"])   # empty: nothing, exit 0
    assert r.code == 0 and r.stdout == ""


# ---- doctor ------------------------------------------------------------------------

def doctor(barge, url, env=None, *flags):
    r = barge(["doctor", url, *flags], env=env, timeout=60)
    for secret in (DST_SECRET_KEY, SRC_SECRET_KEY, "wrong-secret-0123"):
        assert secret not in r.stdout and secret not in r.stderr, "a secret was printed"
    steps = {}
    for line in r.stdout.splitlines():
        parts = line.split(None, 2)
        if parts and parts[0] in ("PASS", "WARN", "FAIL", "SKIP"):
            steps[parts[1]] = parts[0]
    return r, steps


ALL_STEPS = ["credentials", "dns", "tcp", "tls", "clock", "signature", "list", "read", "write",
             "multipart"]


@pytest.mark.parametrize("side", ["s3", "r2"])
def test_doctor_passes_on_a_working_endpoint(servers, fresh_buckets, barge, side):
    b = fresh_buckets
    client, bucket = (servers.src.client, b.src) if side == "s3" else (servers.dst.client, b.dst)
    client.put_object(Bucket=bucket, Key="data/one", Body=b"hello")
    r, steps = doctor(barge, f"{side}://{bucket}/data")
    assert r.code == 0, r.stdout
    assert list(steps) == ALL_STEPS
    assert steps.pop("tls") == "SKIP"          # plain http on loopback
    assert set(steps.values()) == {"PASS"}, r.stdout
    assert "result: all checks passed" in r.stdout
    # what doctor wrote is gone: objects and multipart uploads
    objs, _ = boto_listing(client, bucket)
    assert set(objs) == {"data/one"}
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    r, steps = doctor(barge, f"{side}://{bucket}", None, "--read-only")
    assert r.code == 0 and steps["write"] == "SKIP" and steps["read"] == "PASS"


def test_doctor_wrong_secret_key(servers, fresh_buckets, barge):
    if servers.dst.kind != "rgw":
        pytest.skip("moto checks no signatures")
    r, steps = doctor(barge, f"r2://{fresh_buckets.dst}",
                      {"R2_SECRET_ACCESS_KEY": "wrong-secret-0123"})
    assert r.code == 1
    assert steps["credentials"] == "PASS"      # found; the server refuses them:
    assert steps["signature"] == "FAIL"
    assert "SignatureDoesNotMatch" in r.stdout and "R2_SECRET_ACCESS_KEY" in r.stdout
    assert "what to do:" in r.stdout


def test_doctor_missing_bucket_dead_port_and_no_keys(servers, barge):
    r, steps = doctor(barge, "r2://no-such-bucket-doctor")
    assert r.code == 1 and steps["list"] == "FAIL" and "NoSuchBucket" in r.stdout

    port = free_port()
    r, steps = doctor(barge, "r2://bucket", {"R2_ENDPOINT_URL": f"http://127.0.0.1:{port}"})
    assert r.code == 1
    assert steps["dns"] == "PASS" and steps["tcp"] == "FAIL"
    assert "Connection refused" in r.stdout

    r, steps = doctor(barge, "r2://bucket", {"R2_ACCESS_KEY_ID": ""})
    assert r.code == 1 and steps["credentials"] == "FAIL"

    r = barge(["doctor", "gs://x"])
    assert r.code == 2
    r = barge(["doctor", "--help"])
    assert r.code == 0 and "--read-only" in r.stdout


def test_doctor_tls_certificate(servers, fresh_buckets, barge, tmp_path):
    """Behind a TLS front with a throwaway CA: refused without the CA (FAIL,
    what to do names --ca-bundle); with --ca-bundle the issuer and expiry
    are shown, and a certificate that expires in 2 days is a WARN (exit 0)."""
    certs = make_ca(tmp_path / "tls")
    proxy = TLSProxy(("127.0.0.1", servers.dst.port), certs["cert"], certs["key"]).start()
    try:
        env = {"R2_ENDPOINT_URL": f"https://127.0.0.1:{proxy.port}"}
        url = f"r2://{fresh_buckets.dst}"
        r, steps = doctor(barge, url, env)
        assert r.code == 1 and steps["tls"] == "FAIL" and "--ca-bundle" in r.stdout
        r, steps = doctor(barge, url, env, "--ca-bundle", certs["ca"])
        assert r.code == 0, r.stdout
        assert steps["tls"] == "WARN" and "barge test CA" in r.stdout and "expires" in r.stdout
        assert steps["write"] == steps["multipart"] == "PASS"
    finally:
        proxy.stop()


# ---- plan ---------------------------------------------------------------------------

def upload_multipart(client, bucket, key, data, part_sizes):
    up = client.create_multipart_upload(Bucket=bucket, Key=key)
    parts, off = [], 0
    for n, size in enumerate(part_sizes, 1):
        chunk = data[off:off + size] if n < len(part_sizes) else data[off:]
        off += len(chunk)
        r = client.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n,
                               Body=chunk)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": parts})


def plan(barge, *args, env=None, expect=0):
    r = barge(["plan", *args, "--json"], env=env, timeout=60)
    assert r.code == expect, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines[-1]["type"] == "summary"
    return lines[-1], {d["key"]: d for d in lines if d["type"] == "object"}, lines


def classify(req, src: bool) -> str:
    q = req.query
    if src:
        if req.method == "GET" and "list-type" in q:
            return "list_pages"
        return {"HEAD": "head_source", "GET": "get"}[req.method]
    if req.method == "HEAD":
        return "head_destination"
    if req.method == "PUT":
        return "upload_part" if "uploadId" in q else "put"
    if req.method == "POST":
        return "complete" if "uploadId" in q else "create"
    return req.method


def test_plan_counts_match_the_copy_and_its_journal(servers, fresh_buckets, barge, tmp_path):
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    objects = {f"d/small-{i:03d}": os.urandom(i * 100) for i in range(30)}
    objects["d/empty"] = b""
    objects["d/six"] = os.urandom(6 * MiB)            # single-part, above the threshold
    objects["d/x.skip"] = b"excluded"
    put_many(src, b.src, objects)
    upload_multipart(src, b.src, "d/mp-uniform", os.urandom(11 * MiB), [5 * MiB] * 3)
    upload_multipart(src, b.src, "d/mp-ragged", os.urandom(13 * MiB), [6 * MiB, 5 * MiB, 2 * MiB])
    upload_multipart(src, b.src, "d/mp-one", os.urandom(2 * MiB), [2 * MiB])
    want, _ = boto_listing(src, b.src, "d/")
    want = {k: v for k, v in want.items() if not k.endswith(".skip")}
    opts = ["--part-size", "5M", "--exclude", "*.skip"]

    exact, exact_objs, _ = plan(barge, f"s3://{b.src}/d", f"r2://{b.dst}/c", *opts, "--exact",
                                "--objects")
    est, est_objs, _ = plan(barge, f"s3://{b.src}/d", f"r2://{b.dst}/c", *opts, "--objects")
    for s in (exact, est):
        assert s["objects"] == len(want) and s["bytes"] == sum(v[0] for v in want.values())
        assert s["excluded"] == 1 and s["failed"] == 0
        assert sum(c["objects"] for c in s["size_classes"]) == len(want)
        assert sum(c["bytes"] for c in s["size_classes"]) == s["bytes"]
        assert sum(p["objects"] for p in s["part_sizes"]) == len(want)
    assert exact["layout_basis"] == "head" and est["layout_basis"] == "etag"
    assert set(exact_objs) == set(want)

    # the copy, metered on both sides, with a journal
    sp, dp = MeterProxy(servers.src.port), MeterProxy(servers.dst.port)
    try:
        journal = tmp_path / "j.sqlite"
        r = barge(["copy", f"s3://{b.src}/d", f"r2://{b.dst}/c", *opts, "--journal", str(journal),
                   "--progress", "none"],
                  env={"AWS_ENDPOINT_URL_S3": sp.url, "R2_ENDPOINT_URL": dp.url})
        assert r.code == 0, r.stderr
        sent = {}
        for proxy, is_src in ((sp, True), (dp, False)):
            for req in proxy.of_run():
                k = classify(req, is_src)
                sent[k] = sent.get(k, 0) + 1
    finally:
        sp.close()
        dp.close()
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT key, size, nparts, part_size, same_layout, state FROM objects").fetchall()
        jparts = dict(db.execute("SELECT o.key, count(p.number) FROM objects o LEFT JOIN parts p "
                                 "ON p.object_id = o.id GROUP BY o.key").fetchall())
    journaled = {k: (size, nparts, part_size, same) for k, size, nparts, part_size, same, state in rows}
    assert all(state == 3 for *_, state in rows)
    assert set(journaled) == set(want)
    assert sum(v[0] for v in journaled.values()) == exact["bytes"]
    for key, (size, nparts, part_size, same) in journaled.items():
        for objs, check_layout in ((exact_objs, True), (est_objs, False)):
            o = objs[key]
            assert o["size"] == size, key
            assert o["nparts"] == nparts, key
            assert (o["part_size"] if o["multipart"] else 0) == part_size, key
            if o["multipart"]:
                assert jparts[key] == nparts, key
            if check_layout:
                assert o["same_layout"] == bool(same), key
    assert exact["same_layout"] == sum(1 for v in journaled.values() if v[3])
    # every request the copy made was foreseen (loopback: no retries)
    planned = {k: v for k, v in exact["requests"].items() if k != "total" and v}
    assert sent == planned
    assert exact["requests"]["total"] == sum(sent.values())


def test_plan_text_prices_bandwidth_and_errors(servers, fresh_buckets, barge, tmp_path):
    b = fresh_buckets
    src = servers.src.client
    put_many(src, b.src, {f"p/{i}": os.urandom(1000) for i in range(5)})
    url, dst = f"s3://{b.src}/p", f"r2://{b.dst}"

    r = barge(["plan", url, dst])
    assert r.code == 0, r.stderr
    for words in ("objects: 5", "< 1 MiB", "requests:", "time at 1 Gbit/s", "S3 egress",
                  "R2 Class A", "as of 2026-11-29", "docs/prices.ini"):
        assert words in r.stdout, words

    # the table barge finds next to itself, an empty file (built-in
    # values) and docs/prices.ini itself agree
    s1, _, _ = plan(barge, url, dst)
    s2, _, _ = plan(barge, url, dst, "--prices", "/dev/null")
    s3, _, _ = plan(barge, url, dst, "--prices", str(REPO_ROOT / "docs" / "prices.ini"))
    for k in ("s3_egress", "s3_get", "s3_list", "r2_class_a", "r2_class_b", "one_time_total"):
        assert s1["cost"][k] == s2["cost"][k] == s3["cost"][k], k
    assert s2["cost"]["prices_file"] == "/dev/null"

    # a table of round numbers: the arithmetic
    prices = tmp_path / "p.ini"
    prices.write_text("[meta]\nas_of = test\ngb_bytes = 1000\n[s3]\negress_per_gb_first_10tb = 1\n"
                      "get_per_1000 = 1000\nlist_per_1000 = 1000\n[r2]\nclass_a_per_million = 1000000\n"
                      "free_class_a = 0\nclass_b_per_million = 1000000\nfree_class_b = 0\n"
                      "storage_per_gb_month = 1\nfree_storage_gb = 0\n")
    s, _, _ = plan(barge, url, dst, "--prices", str(prices))
    c, req = s["cost"], s["requests"]
    assert c["as_of"] == "test"
    assert c["s3_egress"] == pytest.approx(5.0)                  # 5000 bytes = 5 "GB"
    assert c["s3_get"] == pytest.approx(req["get"] + req["head_source"])
    assert c["s3_list"] == pytest.approx(req["list_pages"])
    assert c["r2_class_a"] == pytest.approx(req["put"] + req["create"] + req["upload_part"] + req["complete"])
    assert c["r2_class_b"] == pytest.approx(req["head_destination"])
    assert c["r2_storage_per_month"] == pytest.approx(5.0)

    for bw, bits in (("125MB", 1e9), ("1Gbit", 1e9), ("100Mbps", 1e8), ("1G", 1e9),
                     ("1MiB", 8 * MiB)):
        s, _, _ = plan(barge, url, dst, "--bandwidth", bw, "--rtt", "0")
        assert s["bandwidth_bits_per_s"] == bits, bw
        assert s["time_s"] == pytest.approx(5000 * 8 / bits, abs=1e-3)

    prices.write_text("[s3]\nget_per_1000 = free\n")
    r = barge(["plan", url, dst, "--prices", str(prices)])
    assert r.code == 2 and "line 2" in r.stderr
    prices.write_text("[s3]\nget_per_100 = 1\n")
    r = barge(["plan", url, dst, "--prices", str(prices)])
    assert r.code == 2 and "unknown key" in r.stderr
    r = barge(["plan", url, dst, "--bandwidth", "fast"])
    assert r.code == 2
    r = barge(["plan", f"s3://no-such-bucket-plan", dst])
    assert r.code == 2 and "does not exist" in r.stderr
    # objects that cannot be copied (destination keys over 1024 bytes): named, exit 1
    s, _, lines = plan(barge, url, dst + "/" + "x" * 1023, expect=1)
    assert s["failed"] == 5 and s["objects"] == 5
    assert {d["key"] for d in lines if d["type"] == "failure"} == {f"p/{i}" for i in range(5)}
