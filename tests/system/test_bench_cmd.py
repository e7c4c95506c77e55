"""barge bench, moto (s3://) -> Ceph RGW (r2://): the three phases run, the JSON
report is complete and plausible, and — checked independently with boto3 —
nothing is left under the scratch prefixes and no multipart upload is open
afterwards (or, with --keep, the objects are all there)."""

from __future__ import annotations

import json
import struct

KiB = 1 << 10
MiB = 1 << 20
M64 = (1 << 64) - 1


def generated(key: str, n: int) -> bytes:
    """barge-synth's generator (docs/bench.md), re-implemented: what bench
    must have uploaded under `key`."""
    s = 0xcbf29ce484222325
    for c in key.encode():
        s = ((s ^ c) * 0x100000001b3) & M64
    out = []
    for i in range((n + 7) // 8):
        z = (s + (i + 1) * 0x9E3779B97F4A7C15) & M64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        out.append(struct.pack("<Q", z ^ (z >> 31)))
    return b"".join(out)[:n]


def bench(barge, b, *flags, prefix="bp"):
    r = barge(["bench", f"{b.src_url}/{prefix}", f"{b.dst_url}/{prefix}", "--json", *flags],
              timeout=120)
    assert r.code == 0, f"bench exit {r.code}: {r.stderr[-3000:]}\n{r.stdout[-3000:]}"
    return json.loads(r.stdout)


def keys(client, bucket, prefix=""):
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return out


def open_uploads(client, bucket):
    return client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def check_report(rep, count, size):
    assert rep["ok"] is True and rep["error"] is None
    ph = rep["phases"]
    assert set(ph) == {"upload", "download", "copy", "cleanup"}
    for name in ("upload", "download", "copy"):
        p = ph[name]
        assert p["objects"] == count, (name, p)
        assert p["bytes"] == count * size, (name, p)
        assert p["failed"] == 0 and p["error"] is None, (name, p)
        assert p["wall_s"] > 0 and p["mb_s"] > 0 and p["objects_s"] > 0, (name, p)
        assert p["cpu_s"] >= 0 and p["peak_rss_kib"] > 0, (name, p)
    assert ph["copy"]["latency"] is None
    for name in ("upload", "download", "cleanup"):
        lat = ph[name]["latency"]
        assert lat, (name, ph[name])
        for op, l in lat.items():
            assert l["count"] > 0
            for kind in ("ttfb_s", "total_s"):
                q = l[kind]
                assert 0 <= q["p50"] <= q["p90"] <= q["p99"], (name, op, kind, q)
            assert l["ttfb_s"]["p50"] <= l["total_s"]["p99"]
    assert ph["download"]["latency"]["get"]["count"] >= count
    return ph


def test_bench_small_objects(barge, fresh_buckets, servers):
    b = fresh_buckets
    rep = bench(barge, b, "--count", "20", "--size", "64K", "--concurrency", "8")
    ph = check_report(rep, 20, 64 * KiB)
    assert ph["upload"]["latency"]["put"]["count"] >= 20
    assert ph["cleanup"]["objects"] >= 40   # a DELETE per key on each side
    assert rep["src_prefix"].startswith("bp/barge-bench-")
    assert rep["dst_prefix"].startswith("bp/barge-bench-")
    assert keys(servers.src.client, b.src) == []
    assert keys(servers.dst.client, b.dst) == []
    assert open_uploads(servers.src.client, b.src) == []
    assert open_uploads(servers.dst.client, b.dst) == []


def test_bench_multipart_objects(barge, fresh_buckets, servers):
    b = fresh_buckets
    rep = bench(barge, b, "--count", "2", "--size", "12M", "--part-size", "5M",
                "--memory", "64M", "--concurrency", "6")
    assert rep["parts_per_object"] == 3 and rep["part_size"] == 5 * MiB
    ph = check_report(rep, 2, 12 * MiB)
    up = ph["upload"]["latency"]
    assert up["create_multipart"]["count"] == 2
    assert up["upload_part"]["count"] >= 6
    assert up["complete_multipart"]["count"] == 2
    assert ph["download"]["latency"]["get"]["count"] >= 6   # ranged GETs of a part each
    assert keys(servers.src.client, b.src) == []
    assert keys(servers.dst.client, b.dst) == []
    assert open_uploads(servers.src.client, b.src) == []
    assert open_uploads(servers.dst.client, b.dst) == []


def test_bench_keep_and_text(barge, fresh_buckets, servers):
    b = fresh_buckets
    r = barge(["bench", b.src_url, b.dst_url, "--count", "3", "--size", "10K", "--keep"],
              timeout=120)
    assert r.code == 0, r.stderr
    for phase in ("upload", "download", "copy", "cleanup"):
        assert phase in r.stdout
    assert "not collected" in r.stdout
    src = keys(servers.src.client, b.src)
    dst = keys(servers.dst.client, b.dst)
    assert len(src) == 3 and len(dst) == 3, (src, dst)
    assert all(k.startswith("barge-bench-") and "/src/obj-" in k for k in src)
    assert all(k.startswith("barge-bench-") and "/dst/obj-" in k for k in dst)
    for k in src:   # the generator's bytes were uploaded, and copied unchanged
        d = k.replace("/src/", "/dst/")
        body = servers.src.client.get_object(Bucket=b.src, Key=k)["Body"].read()
        assert body == generated(k, 10 * KiB)
        assert servers.dst.client.get_object(Bucket=b.dst, Key=d)["Body"].read() == body


def test_bench_usage_and_missing_bucket(barge, fresh_buckets, servers):
    b = fresh_buckets
    r = barge(["bench", b.src_url])
    assert r.code == 2 and "SRC and DST" in r.stderr
    r = barge(["bench", b.src_url, b.dst_url, "--size", "nope"])
    assert r.code == 2
    r = barge(["bench", b.src_url, b.dst_url, "--part-size", "1M"])
    assert r.code == 2
    r = barge(["bench", "s3://no-such-bucket-barge-bench", b.dst_url, "--count", "2",
               "--size", "1K"], timeout=120)
    assert r.code == 2, (r.code, r.stderr)
    assert keys(servers.dst.client, b.dst) == []
