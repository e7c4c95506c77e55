#!/usr/bin/env python3
"""Sample data shaped like the users' buckets, written with boto3 (not barge):
thousands of small Zarr chunk objects and a few checkpoints of hundreds of MiB,
one of them uploaded as a uniform multipart object.

    demo_data.py populate ENDPOINT BUCKET [--chunks N] [--checkpoint-mib M]
    demo_data.py verify SRC_ENDPOINT SRC_BUCKET DST_ENDPOINT DST_BUCKET

Keys come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (source) and
R2_ACCESS_KEY_ID/R2_SECRET_ACCESS_KEY (destination) of the environment.
"""
import argparse
import concurrent.futures as cf
import hashlib
import os
import random
import sys
import tempfile

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

CFG = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5},
             request_checksum_calculation="when_required",
             response_checksum_validation="when_required",
             max_pool_connections=32)


def client(url, ak, sk):
    return boto3.client("s3", endpoint_url=url, aws_access_key_id=ak,
                        aws_secret_access_key=sk, region_name="us-east-1", config=CFG)


def populate(a):
    s3 = client(a.endpoint, os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    try:
        s3.create_bucket(Bucket=a.bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    rnd = random.Random(42)
    # A Zarr-like cube: .zarray metadata and chunks "t.y.x" of 16-64 KiB.
    keys = [f"cubes/era5.zarr/t2m/{t}.{y}.{x}" for t in range(100) for y in range(10)
            for x in range(10)][: a.chunks]

    def put_chunk(k):
        body = rnd.randbytes(rnd.randrange(16 << 10, 64 << 10))
        s3.put_object(Bucket=a.bucket, Key=k, Body=body,
                      ContentType="application/octet-stream", Metadata={"codec": "blosc"})

    s3.put_object(Bucket=a.bucket, Key="cubes/era5.zarr/t2m/.zarray",
                  Body=b'{"chunks":[1,64,64],"dtype":"<f4","zarr_format":2}',
                  ContentType="application/json")
    with cf.ThreadPoolExecutor(32) as ex:
        list(ex.map(put_chunk, keys))
    mib = a.checkpoint_mib
    with tempfile.TemporaryDirectory() as d:
        for i in range(3):
            path = os.path.join(d, f"ckpt{i}")
            with open(path, "wb") as f:
                for _ in range(mib):
                    f.write(rnd.randbytes(1 << 20))
            # the first checkpoint goes up as 16 MiB parts (an aws-cli-like
            # multipart object), the others as barge will have to plan them
            cfg = TransferConfig(multipart_threshold=16 << 20, multipart_chunksize=16 << 20) \
                if i == 0 else TransferConfig(multipart_threshold=8 << 30)
            s3.upload_file(path, a.bucket, f"checkpoints/step-{(i + 1) * 1000}.pt", Config=cfg)
    print(f"demo data: {len(keys) + 1} chunk objects and 3 checkpoints of {mib} MiB in "
          f"s3://{a.bucket}")


def listing(s3, bucket):
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            out[o["Key"]] = (o["Size"], o["ETag"])
    return out


def verify(a):
    src = client(a.src_endpoint, os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    dst = client(a.dst_endpoint, os.environ["R2_ACCESS_KEY_ID"], os.environ["R2_SECRET_ACCESS_KEY"])
    s, d = listing(src, a.src_bucket), listing(dst, a.dst_bucket)
    missing = sorted(set(s) - set(d))
    wrong = sorted(k for k in s if k in d and s[k][0] != d[k][0])
    same_etag = sum(1 for k in s if k in d and s[k][1] == d[k][1])
    # Re-read a sample of objects, and every checkpoint, byte for byte.
    sample = [k for k in s if k.startswith("checkpoints/")] + random.Random(1).sample(
        sorted(s), min(50, len(s)))
    differ = []
    for k in sample:
        h1 = hashlib.md5(src.get_object(Bucket=a.src_bucket, Key=k)["Body"].read()).digest()
        h2 = hashlib.md5(dst.get_object(Bucket=a.dst_bucket, Key=k)["Body"].read()).digest()
        if h1 != h2:
            differ.append(k)
    uploads = dst.list_multipart_uploads(Bucket=a.dst_bucket).get("Uploads", [])
    print(f"verified with boto3: {len(d)}/{len(s)} objects present, {len(wrong)} size "
          f"mismatches, {same_etag} with identical ETags, {len(sample)} re-read and "
          f"{len(differ)} differing, {len(uploads)} incomplete uploads left")
    ok = not missing and not wrong and not differ and not uploads
    if not ok:
        print("MISSING:", missing[:10], "WRONG:", wrong[:10], "DIFFER:", differ[:10],
              file=sys.stderr)
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("populate")
    pp.add_argument("endpoint")
    pp.add_argument("bucket")
    pp.add_argument("--chunks", type=int, default=3000)
    pp.add_argument("--checkpoint-mib", type=int, default=200)
    pv = sub.add_parser("verify")
    for n in ("src_endpoint", "src_bucket", "dst_endpoint", "dst_bucket"):
        pv.add_argument(n)
    a = p.parse_args()
    if a.cmd == "populate":
        populate(a)
        return 0
    return verify(a)


if __name__ == "__main__":
    sys.exit(main())
