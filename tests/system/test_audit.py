"""barge audit, moto (s3://) -> Ceph RGW (r2://), after a real `barge copy --journal`.

Every change an audit must find is made with boto3 (an independent client),
then the audit's exit code, its JSON report and the journal's audit tables
are checked for the finding's kind and key.
"""

from __future__ import annotations

import json
import os
import sqlite3

from conftest import DST_SECRET_KEY, SRC_SECRET_KEY
from faultproxy import FaultProxy

KiB = 1 << 10
MiB = 1 << 20


def put_all(client, bucket: str, objects: dict) -> None:
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)


def copy_journaled(barge, b, journal, *flags):
    r = barge(["copy", b.src_url, b.dst_url, "--journal", str(journal), "--progress", "none",
               "--part-size", "5M", *flags])
    assert r.code == 0, f"copy exit {r.code}: {r.stderr[-2000:]}"


def audit(barge, b, tmp_path, *flags, expect=None, name="report.json"):
    """Runs an audit with --report; returns (result, report dict or None)."""
    report = tmp_path / name
    if report.exists():
        report.unlink()
    r = barge(["audit", b.src_url, b.dst_url, "--report", str(report), "--progress", "none",
               *flags], timeout=120)
    for secret in (DST_SECRET_KEY, SRC_SECRET_KEY):
        assert secret not in r.stdout and secret not in r.stderr, "a secret key was printed"
    if expect is not None:
        assert r.code == expect, f"audit exit {r.code}, expected {expect}\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}"
    rep = json.loads(report.read_text()) if report.exists() else None
    return r, rep


def kinds(rep) -> set:
    return {(f["kind"], f["key"]) for f in rep["findings"]}


def journal_findings(journal, audit_id=None) -> set:
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        if audit_id is None:
            audit_id = db.execute("SELECT max(id) FROM audits").fetchone()[0]
        return set(db.execute("SELECT kind, key FROM audit_findings WHERE audit_id = ?",
                              (audit_id,)).fetchall())


def last_audit(journal) -> dict:
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return dict(db.execute("SELECT * FROM audits ORDER BY id DESC LIMIT 1").fetchone())


def flip(data: bytes, at: int) -> bytes:
    b = bytearray(data)
    b[at] ^= 0x01
    return bytes(b)


def test_clean_copy_audits_clean_then_each_change_is_named(servers, fresh_buckets, barge, tmp_path):
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    journal = tmp_path / "copy.journal"
    big = os.urandom(12 * MiB)  # three 5 MiB parts on the destination
    objects = {f"obj-{i:02d}": os.urandom(3 * KiB + i) for i in range(12)}
    objects["big"] = big
    objects["dir/empty"] = b""
    put_all(src, b.src, objects)
    copy_journaled(barge, b, journal)

    # clean: listing, deep, deep with the source too
    r, rep = audit(barge, b, tmp_path, "--journal", journal, expect=0)
    assert rep["findings"] == [] and rep["exit_code"] == 0
    assert rep["summary"]["objects_checked"] == len(objects)
    assert "result: clean" in r.stdout
    r, rep = audit(barge, b, tmp_path, "--journal", journal, "--deep", "--source", expect=0)
    assert rep["findings"] == []
    assert rep["summary"]["objects_reread"] == len(objects)
    assert rep["summary"]["bytes_reread"] == 2 * sum(len(v) for v in objects.values())
    assert last_audit(journal)["exit_code"] == 0

    # each change, made by boto3
    dst.put_object(Bucket=b.dst, Key="big", Body=flip(big, 6 * MiB + 5))      # part 2, same size
    dst.delete_object(Bucket=b.dst, Key="obj-01")                             # deleted
    dst.put_object(Bucket=b.dst, Key="obj-02", Body=objects["obj-02"][:-100])  # truncated
    dst.put_object(Bucket=b.dst, Key="zz-extra", Body=b"not from the source")  # extra
    dst.put_object(Bucket=b.dst, Key="obj-03", Body=os.urandom(len(objects["obj-03"])))  # same size
    src.put_object(Bucket=b.src, Key="obj-04", Body=os.urandom(len(objects["obj-04"])))  # source changed

    listing = {("etag_mismatch", "big"), ("missing", "obj-01"), ("size_mismatch", "obj-02"),
               ("extra", "zz-extra"), ("etag_mismatch", "obj-03"), ("source_changed", "obj-04")}
    r, rep = audit(barge, b, tmp_path, "--journal", journal, expect=1)
    assert kinds(rep) == listing, r.stdout
    assert journal_findings(journal) == listing
    assert last_audit(journal)["exit_code"] == 1 and last_audit(journal)["findings"] == 6
    for key in ("obj-01", "obj-02", "zz-extra", "obj-03", "obj-04", "big"):
        assert key in r.stdout

    r, rep = audit(barge, b, tmp_path, "--journal", journal, "--deep", expect=1)
    deep = {(f["kind"], f["key"], f["part"]) for f in rep["findings"]
            if f["kind"] in ("part_mismatch", "content_mismatch")}
    # the flipped byte is named by its part; the replaced object by its content
    assert deep == {("part_mismatch", "big", 2), ("content_mismatch", "obj-03", None)}, r.stdout
    assert kinds(rep) == listing | {("part_mismatch", "big"), ("content_mismatch", "obj-03")}
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        assert db.execute("SELECT part_number FROM audit_findings WHERE kind = 'part_mismatch'"
                          " AND audit_id = (SELECT max(id) FROM audits)").fetchall() == [(2,)]
    f = next(f for f in rep["findings"] if f["kind"] == "size_mismatch")
    assert f["src_size"] == len(objects["obj-02"]) and f["dst_size"] == len(objects["obj-02"]) - 100


def test_sampled_deep_audit_still_finds_a_corruption_planted_everywhere(servers, fresh_buckets,
                                                                         barge, tmp_path):
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    journal = tmp_path / "copy.journal"
    n = 300
    objects = {f"chunk/{i:04d}": os.urandom(512 + i % 7) for i in range(n)}
    put_all(src, b.src, objects)
    copy_journaled(barge, b, journal)

    # Bit rot leaves a stored ETag alone, and S3 cannot be made to do that:
    # the copy's record of every object's bytes is what gets corrupted, so
    # that only re-reading data can tell, as with rot.
    with sqlite3.connect(journal) as db:
        db.execute("UPDATE objects SET xxh3 = '00000000000000000000000000000001'")
    r, rep = audit(barge, b, tmp_path, "--journal", journal, "--deep", "--sample", "0.01",
                   "--seed", "1234", expect=1)
    reread = rep["summary"]["objects_reread"]
    assert 1 <= reread < n // 10, r.stdout
    assert rep["summary"]["findings"] == reread
    assert all(f["kind"] == "content_mismatch" for f in rep["findings"])
    assert rep["options"]["seed"] == 1234 and "seed 1234" in r.stdout
    a = last_audit(journal)
    assert (a["seed"], a["objects_reread"], a["findings"]) == (1234, reread, reread)
    # the same seed picks the same objects
    _, rep2 = audit(barge, b, tmp_path, "--journal", journal, "--sample", "0.01", "--seed",
                    "1234", expect=1, name="again.json")
    assert kinds(rep2) == kinds(rep)

    # Now real corruption of every destination object (same size), audited
    # without the journal: the listing sees every ETag change; the sample
    # re-reads at least one object from both sides and names each one.
    for key, body in objects.items():
        dst.put_object(Bucket=b.dst, Key=key, Body=flip(body, 100))
    r, rep = audit(barge, b, tmp_path, "--deep", "--sample", "0.001", "--seed", "9",
                   expect=1, name="rot.json")
    deep = [f for f in rep["findings"] if f["kind"] == "content_mismatch"]
    assert rep["summary"]["objects_reread"] >= 1
    assert len(deep) == rep["summary"]["objects_reread"]
    assert sum(f["kind"] == "etag_mismatch" for f in rep["findings"]) == n


def test_audit_without_journal(servers, fresh_buckets, barge, tmp_path):
    """Buckets copied by another tool (boto3 here): listing audit, and a deep
    audit comparing both sides' bytes."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    objects = {f"k/{i}": os.urandom(2 * KiB + i) for i in range(10)}
    put_all(src, b.src, objects)
    put_all(dst, b.dst, objects)
    _, rep = audit(barge, b, tmp_path, expect=0)
    assert rep["journal"] is None and rep["findings"] == []
    _, rep = audit(barge, b, tmp_path, "--deep", expect=0)
    assert rep["summary"]["objects_reread"] == 10

    dst.delete_object(Bucket=b.dst, Key="k/3")
    dst.put_object(Bucket=b.dst, Key="k/4", Body=objects["k/4"][:10])
    dst.put_object(Bucket=b.dst, Key="k/extra", Body=b"x")
    r, rep = audit(barge, b, tmp_path, expect=1)
    assert kinds(rep) == {("missing", "k/3"), ("size_mismatch", "k/4"), ("extra", "k/extra")}
    assert "result: problems found (exit 1)" in r.stdout


def test_prefixes_and_not_comparable_etags(servers, fresh_buckets, barge, tmp_path):
    """Keys compare relative to each side's prefix; a multipart destination
    of a single-part source is 'not comparable' (not a finding) without a
    journal, and a journaled copy knows better."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    body = os.urandom(6 * MiB)
    src.put_object(Bucket=b.src, Key="in/a", Body=body)
    src.put_object(Bucket=b.src, Key="other/b", Body=b"outside the prefix")
    journal = tmp_path / "p.journal"
    r = barge(["copy", f"s3://{b.src}/in", f"r2://{b.dst}/out", "--journal", str(journal),
               "--part-size", "5M", "--progress", "none"])
    assert r.code == 0, r.stderr
    args = [f"s3://{b.src}/in", f"r2://{b.dst}/out", "--progress", "json"]
    r = barge(["audit", *args])
    assert r.code == 0, r.stdout + r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["type"] == "summary" and summary["not_comparable"] == 1
    r = barge(["audit", *args, "--journal", str(journal), "--deep"])
    assert r.code == 0, r.stdout + r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["not_comparable"] == 0 and summary["objects_reread"] == 1
    # a journal of another pair of locations is refused
    r = barge(["audit", b.src_url, b.dst_url, "--journal", str(journal)])
    assert r.code == 2 and "records the copy" in r.stderr


def test_errors_that_prevent_the_audit_exit_2(servers, fresh_buckets, barge, tmp_path):
    b = fresh_buckets
    servers.src.client.put_object(Bucket=b.src, Key="x", Body=b"x")
    cases = [
        (["audit", b.src_url, "r2://no-such-bucket-here"], "destination bucket 'no-such-bucket-here' does not exist"),
        (["audit", "s3://no-such-bucket-here", b.dst_url], "source bucket 'no-such-bucket-here' does not exist"),
        (["audit", b.src_url, b.dst_url, "--journal", str(tmp_path / "nope.journal")], "does not exist"),
        (["audit", b.src_url, b.dst_url, "--sample", "0"], "--sample"),
        (["audit", b.src_url, b.dst_url, "--source"], "needs --deep"),
        (["audit", b.src_url], "needs SRC and DST"),
        (["audit", b.src_url, b.dst_url, "--bogus"], "unknown option"),
    ]
    for args, needle in cases:
        r = barge(args)
        assert r.code == 2, (args, r.code, r.stdout, r.stderr)
        assert needle in r.stderr, (args, r.stderr)
        assert len([l for l in r.stderr.splitlines() if l.startswith("barge:")]) == 1, r.stderr
    r = barge(["audit", b.src_url, b.dst_url], env={"R2_SECRET_ACCESS_KEY": "wrong-secret"})
    assert r.code == 2 and "check the R2_ACCESS_KEY_ID/R2_SECRET_ACCESS_KEY" in r.stderr, r.stderr
    # a failed audit still leaves a report saying why
    report = tmp_path / "failed.json"
    r = barge(["audit", b.src_url, "r2://no-such-bucket-here", "--report", str(report)])
    rep = json.loads(report.read_text())
    assert rep["exit_code"] == 2 and "does not exist" in rep["error"]


def test_deep_audit_through_faults_stays_clean_and_a_dead_listing_exits_75(servers,
                                                                            fresh_buckets,
                                                                            barge, tmp_path):
    """503/429/500/resets on both sides and truncated bodies (listing pages
    and re-reads) are retried: a clean copy still audits clean.  A side that
    answers nothing but 503 ends the audit with exit 75 (temporary), not a
    verdict."""
    b = fresh_buckets
    journal = tmp_path / "f.journal"
    objects = {f"f/{i:02d}": os.urandom(4 * KiB + i) for i in range(30)}
    objects["f/big"] = os.urandom(11 * MiB)
    put_all(servers.src.client, b.src, objects)
    # The copy goes through the proxies too (without faults): a journal
    # belongs to the endpoints it was written with, and an audit must name
    # the same ones.
    src_proxy = FaultProxy(servers.src.port, rate=0.0, seed=3,
                           faults=("503", "429", "500", "reset", "truncate"))
    dst_proxy = FaultProxy(servers.dst.port, rate=0.0, seed=4,
                           faults=("503", "429", "500", "reset", "truncate"))
    env = {"AWS_ENDPOINT_URL_S3": src_proxy.url, "R2_ENDPOINT_URL": dst_proxy.url}
    try:
        r = barge(["copy", b.src_url, b.dst_url, "--journal", str(journal), "--progress", "none",
                   "--part-size", "5M"], env=env)
        assert r.code == 0, f"copy exit {r.code}: {r.stderr[-2000:]}"
        src_proxy.rate = dst_proxy.rate = 0.25
        r = barge(["audit", b.src_url, b.dst_url, "--journal", str(journal), "--deep", "--source",
                   "--progress", "json", "--concurrency", "8"], env=env, timeout=120)
        assert r.code == 0, r.stdout[-3000:] + r.stderr
        summary = json.loads(r.stdout.strip().splitlines()[-1])
        injected = sum(v for k, v in (src_proxy.counts + dst_proxy.counts).items()
                       if k != "requests")
        assert injected >= 5 and summary["retries"] >= injected, (summary, src_proxy.counts,
                                                                  dst_proxy.counts)
        assert summary["objects_reread"] == len(objects)

        src_proxy.rate = 0.0
        dst_proxy.rate, dst_proxy.faults = 1.0, ["503"]          # the destination dies
        r = barge(["audit", b.src_url, b.dst_url, "--journal", str(journal), "--retries", "3"],
                  env=env, timeout=60)
    finally:
        src_proxy.close()
        dst_proxy.close()
    assert r.code == 75, r.stdout + r.stderr
    assert "listing the destination failed after 3 attempts" in r.stderr, r.stderr
    assert last_audit(journal)["exit_code"] == 75
    assert "failed after 3 attempts" in last_audit(journal)["error"]


def test_open_multipart_uploads_are_findings(servers, fresh_buckets, barge, tmp_path):
    """An upload left open on the destination (an interrupted copy, an
    abort that failed) holds billed parts that no object listing shows:
    the audit names it (kind open_upload, exit 1), and only under the
    audited prefix."""
    b = fresh_buckets
    src, dst = servers.src.client, servers.dst.client
    objects = {f"k/{i}": os.urandom(KiB + i) for i in range(3)}
    put_all(src, b.src, objects)
    put_all(dst, b.dst, objects)
    _, rep = audit(barge, b, tmp_path, expect=0)
    assert rep["findings"] == []

    up = dst.create_multipart_upload(Bucket=b.dst, Key="k/half-copied.bin")["UploadId"]
    dst.upload_part(Bucket=b.dst, Key="k/half-copied.bin", UploadId=up, PartNumber=1,
                    Body=os.urandom(5 * 1024 * KiB))
    r, rep = audit(barge, b, tmp_path, expect=1)
    assert kinds(rep) == {("open_upload", "k/half-copied.bin")}, rep["findings"]
    assert up in rep["findings"][0]["detail"]
    assert "open_upload" in r.stdout

    # Under another prefix it is not this audit's business.
    r = barge(["audit", f"s3://{b.src}/k/0", f"r2://{b.dst}/k/0", "--progress", "none"], timeout=120)
    assert r.code == 0, r.stdout + r.stderr

    dst.abort_multipart_upload(Bucket=b.dst, Key="k/half-copied.bin", UploadId=up)
    _, rep = audit(barge, b, tmp_path, expect=0)
    assert rep["findings"] == []
