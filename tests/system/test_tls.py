"""TLS: barge verifies certificates by default, trusts a CA given with
--ca-bundle or AWS_CA_BUNDLE, and --insecure says loudly that it does not
verify. The destination (RGW) and the source (moto) are put behind a TLS
front with a certificate from a throwaway CA; what arrives is checked with
boto3 on the plain-HTTP side."""

from __future__ import annotations

import hashlib
import os

import pytest

from tlsproxy import TLSProxy, make_ca


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_ca(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_dst(servers, certs):
    p = TLSProxy(("127.0.0.1", servers.dst.port), certs["cert"], certs["key"]).start()
    yield p
    p.stop()


@pytest.fixture
def tls_src(servers, certs):
    p = TLSProxy(("127.0.0.1", servers.src.port), certs["cert"], certs["key"]).start()
    yield p
    p.stop()


def _seed(servers, b, n=3):
    data = {f"t/{i}": os.urandom(1000 + i) for i in range(n)}
    for k, v in data.items():
        servers.src.client.put_object(Bucket=b.src, Key=k, Body=v)
    return data


def _dst_keys(servers, b):
    r = servers.dst.client.list_objects_v2(Bucket=b.dst)
    return sorted(o["Key"] for o in r.get("Contents", []))


def test_untrusted_certificate_is_refused(servers, fresh_buckets, barge, tls_dst):
    b = fresh_buckets
    _seed(servers, b)
    r = barge(["copy", f"s3://{b.src}/t", f"r2://{b.dst}/t"],
              env={"R2_ENDPOINT_URL": f"https://127.0.0.1:{tls_dst.port}"})
    assert r.code == 2, r
    last = r.stderr.strip().splitlines()[-1]
    assert "certificate" in last.lower() or "ssl" in last.lower(), last
    assert tls_dst.handshake_failures >= 1
    assert _dst_keys(servers, b) == []


def test_ca_bundle_flag_trusts_the_ca(servers, fresh_buckets, barge, tls_dst, certs):
    b = fresh_buckets
    data = _seed(servers, b)
    r = barge(["copy", f"s3://{b.src}/t", f"r2://{b.dst}/t", "--ca-bundle", str(certs["ca"])],
              env={"R2_ENDPOINT_URL": f"https://127.0.0.1:{tls_dst.port}"})
    assert r.code == 0, r
    for k, v in data.items():
        got = servers.dst.client.get_object(Bucket=b.dst, Key=k)["Body"].read()
        assert hashlib.md5(got).digest() == hashlib.md5(v).digest()


def test_wrong_ca_bundle_is_refused(servers, fresh_buckets, barge, tls_dst, certs):
    b = fresh_buckets
    _seed(servers, b)
    r = barge(["copy", f"s3://{b.src}/t", f"r2://{b.dst}/t", "--ca-bundle", str(certs["other_ca"])],
              env={"R2_ENDPOINT_URL": f"https://127.0.0.1:{tls_dst.port}"})
    assert r.code == 2, r
    assert _dst_keys(servers, b) == []


def test_aws_ca_bundle_for_the_source(servers, fresh_buckets, barge, tls_src, certs):
    """The s3:// side over TLS, trusted through AWS_CA_BUNDLE; the plain
    destination is unaffected by the source's CA."""
    b = fresh_buckets
    data = _seed(servers, b)
    r = barge(["copy", f"s3://{b.src}/t", f"r2://{b.dst}/t"],
              env={"AWS_ENDPOINT_URL_S3": f"https://127.0.0.1:{tls_src.port}",
                   "AWS_CA_BUNDLE": str(certs["ca"])})
    assert r.code == 0, r
    assert _dst_keys(servers, b) == sorted(data)
    r = barge(["copy", f"s3://{b.src}/t", f"r2://{b.dst}/u"],
              env={"AWS_ENDPOINT_URL_S3": f"https://127.0.0.1:{tls_src.port}"})
    assert r.code == 2, r  # no CA: the source's certificate is not trusted


def test_missing_ca_bundle_file(servers, fresh_buckets, barge, tmp_path):
    b = fresh_buckets
    r = barge(["copy", f"s3://{b.src}/t", f"r2://{b.dst}/t", "--ca-bundle", str(tmp_path / "nope.pem")])
    assert r.code == 2
    assert "nope.pem" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_insecure_copies_and_warns(servers, fresh_buckets, barge, tls_dst):
    b = fresh_buckets
    data = _seed(servers, b)
    r = barge(["copy", f"s3://{b.src}/t", f"r2://{b.dst}/t", "--insecure"],
              env={"R2_ENDPOINT_URL": f"https://127.0.0.1:{tls_dst.port}"})
    assert r.code == 0, r
    assert "NOT verified" in r.stderr
    assert _dst_keys(servers, b) == sorted(data)
