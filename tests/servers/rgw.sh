#!/usr/bin/env bash
# rgw.sh — a throw-away single-node Ceph cluster with a RADOS Gateway (S3) on
# 127.0.0.1, for barge's system tests.
#
#   tests/servers/rgw.sh start DIR PORT   build a fresh cluster in DIR, S3 on PORT
#   tests/servers/rgw.sh stop  DIR [PORT] stop every daemon started in DIR
#   tests/servers/rgw.sh env   DIR PORT   print shell exports for barge (r2:// side)
#
# Everything runs as the calling user (root in CI) and every file the cluster
# writes (config, monitor store, OSD metadata, logs, admin sockets, pid files,
# crash dumps) lives under DIR. Each start wipes the previous cluster state in
# DIR and creates a new one with a new fsid; the monitor listens (msgr2 only) on
# a free port of 127.0.0.1, the OSD on ports 6800-7300 of 127.0.0.1, RGW on
# 127.0.0.1:PORT. The OSD uses memstore: object data lives in RAM (up to 4 GiB,
# see MEMSTORE_BYTES) and is thrown away at stop.
#
# Credentials (fixed; one S3 user "barge"):
#   access key  BARGETESTRGWACCESS01
#   secret key  barge-test-rgw-secret-key-0123456789abcdef
#   region      any (RGW ignores it in the signature scope check); path-style URLs
#
# What this RGW checks — measured on Debian bookworm's
# ceph 16.2.15 (pacific), radosgw --version:
#   * SigV4 signatures: always (a wrong secret gets 403 SignatureDoesNotMatch).
#   * Content-MD5 on PutObject and UploadPart: verified, a mismatch gets
#     400 BadDigest.
#   * x-amz-content-sha256: a hex payload hash is verified (a wrong one gets
#     400 XAmzContentSHA256Mismatch); UNSIGNED-PAYLOAD is accepted.
#   * x-amz-checksum-crc32c (and the other x-amz-checksum-* headers, and
#     x-amz-checksum-algorithm on CreateMultipartUpload): NOT supported. The
#     header is silently ignored on PutObject and UploadPart: a WRONG crc32c
#     value is accepted with 200, no checksum is echoed in the response, HEAD
#     with x-amz-checksum-mode: ENABLED returns none, ListParts shows none.
#     (Flexible checksums arrived in Ceph 18 "reef".) So against this server
#     the only server-side integrity check barge can exercise is Content-MD5
#     (or a signed payload hash); crc32c must be tested against R2 semantics
#     some other way (e.g. a fault-injecting proxy or moto).
#   * boto3 >= 1.36's default aws-chunked upload with a CRC trailer is
#     accepted and decoded correctly (the trailer checksum is not verified).
#   * Multipart minimum part size 5 MiB (rgw multipart min part size default).
#   * SURPRISE: CompleteMultipartUpload answers 200 with an EMPTY
#     <ETag></ETag> in its XML body (a known RGW bug of this release, Red Hat
#     BZ 2266579). HEAD/GET/ListObjects then show the correct multipart ETag
#     md5(part md5s)-N. barge must not insist on the ETag in the Complete
#     body; its HEAD check (zero-data-loss rule 4) is what proves the object.
#
# Start time on the 2-vCPU CI VM: about 10 s from nothing to a warmed-up
# gateway (the start step also creates and deletes a bucket and a multipart
# upload so that the first test does not pay for RGW's lazy pool creation).

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$HERE/common.sh"

RGW_ACCESS_KEY=BARGETESTRGWACCESS01
RGW_SECRET_KEY=barge-test-rgw-secret-key-0123456789abcdef
MEMSTORE_BYTES=$((4 << 30))
START_TIMEOUT=${RGW_START_TIMEOUT:-90}   # seconds, for the whole start

usage() {
    cat >&2 <<EOF
usage: $0 start DIR PORT | stop DIR [PORT] | env DIR PORT
EOF
    exit 2
}

[[ $# -ge 2 ]] || usage
cmd=$1
DIR=$2
PORT=${3:-}
[[ -n "$DIR" ]] || die "DIR must not be empty"

# Ceph honours these; a caller's settings must not leak into the test cluster.
unset CEPH_ARGS CEPH_CONF

# The daemons we start, in the order they are stopped.
DAEMONS=(client.rgw osd.0 mon.a)

conf() { echo "$DIR/ceph.conf"; }
pidfile() { echo "$DIR/run/$1.pid"; }
logfile() { echo "$DIR/log/$1.log"; }

# ceph CLI against our cluster, bounded so a dead monitor cannot hang us.
cephc() {
    timeout 20 ceph -c "$(conf)" --connect-timeout 15 "$@"
}

stop_cluster() {
    local d pids=()
    [[ -d "$DIR/run" ]] || return 0
    for d in "${DAEMONS[@]}"; do
        if pid_alive "$(pidfile "$d")"; then pids+=("$(<"$(pidfile "$d")")"); fi
    done
    for d in "${DAEMONS[@]}"; do
        # The OSD tells the monitor it is going down (up to 5 s), so stop it
        # while the monitor is still alive. memstore + osd_fast_shutdown means
        # nothing is written back to disk.
        kill_pidfile "$(pidfile "$d")" 15
    done
    # The daemons detached from us at start, so PID 1 reaps them; wait for
    # that so no <defunct> entries are left when we return.
    if ((${#pids[@]})) && ! wait_reaped 10 "${pids[@]}"; then
        note "warning: exited daemons not reaped yet: ${pids[*]}"
    fi
}

fail_start() {
    local d
    echo "error: RGW cluster in $DIR did not come up: $*" >&2
    for d in "${DAEMONS[@]}"; do   # the gateway first, it fails most often
        if [[ -f "$(logfile "$d")" ]]; then
            show_log "$(logfile "$d")" "$([[ $d == client.rgw ]] && echo 30 || echo 12)"
        fi
    done
    stop_cluster
    exit 1
}

write_conf() {
    local fsid=$1 monport=$2
    cat >"$(conf)" <<EOF
# Generated by tests/servers/rgw.sh — a disposable single-node test cluster.
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$monport]
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false

# No cephx; plain CRC on the wire.
auth cluster required = none
auth service required = none
auth client required = none
ms cluster mode = crc
ms service mode = crc
ms client mode = crc
ms mon cluster mode = crc
ms mon service mode = crc
ms mon client mode = crc

# Keep every file inside DIR.
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
log file = $DIR/log/\$name.log
mon cluster log file = $DIR/log/cluster.log
crash dir = $DIR/crash
keyring = $DIR/keyring
mon data = $DIR/mon/\$id
osd data = $DIR/osd/\$id
rgw data = $DIR/rgw

# One OSD, data in RAM, one copy of everything.
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
osd crush chooseleaf type = 0
mon max pg per osd = 1000
mon warn on pool no redundancy = false
# Commit monitor changes (pool creation) quickly: it is a one-node cluster.
paxos propose interval = 0.1
paxos min wait = 0.01

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw thread pool size = 64
rgw dynamic resharding = false
rgw enable usage log = false
rgw enable ops log = false
# Deleted and overwritten objects' data is garbage-collected after 2 hours by
# default; memstore holds it in RAM until then. Collect it within a minute.
rgw gc obj min wait = 30
rgw gc processor period = 30
rgw gc processor max time = 30
EOF
}

# Wait until RGW answers a signed S3 request with our fixed keys, then warm it
# up: the first bucket and the first multipart upload make RGW create its
# bucket index, data and non-ec pools, which costs seconds.
wait_rgw_ready() {
    local deadline=$1
    python3 - "$PORT" "$RGW_ACCESS_KEY" "$RGW_SECRET_KEY" "$deadline" "$(pidfile client.rgw)" <<'PY'
import os, sys, time
port, ak, sk, deadline, pidfile = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
import boto3
from botocore.config import Config
cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
             connect_timeout=2, read_timeout=30,
             request_checksum_calculation="when_required",
             response_checksum_validation="when_required")
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                  aws_access_key_id=ak, aws_secret_access_key=sk, config=cfg)
last = None
while True:
    try:
        s3.list_buckets()
        break
    except Exception as e:  # connection refused, 403 before the user exists, ...
        last = e
    try:
        pid = int(open(pidfile).read())
        os.kill(pid, 0)
    except (OSError, ValueError):
        sys.exit(f"radosgw exited (last S3 error: {last})")
    if time.time() > deadline:
        sys.exit(f"no signed S3 answer in time (last error: {last})")
    time.sleep(0.2)
bucket = "barge-rgw-warmup"
try:
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="warmup", Body=b"warmup")
    up = s3.create_multipart_upload(Bucket=bucket, Key="warmup-mp")
    s3.abort_multipart_upload(Bucket=bucket, Key="warmup-mp", UploadId=up["UploadId"])
    s3.delete_object(Bucket=bucket, Key="warmup")
    s3.delete_bucket(Bucket=bucket)
except Exception as e:
    sys.exit(f"warm-up S3 requests failed: {e}")
PY
}

start() {
    local t0 deadline fsid monport osd_uuid osd_id i
    [[ -n "$PORT" ]] || usage
    check_port_arg "$PORT"
    for tool in monmaptool ceph-mon ceph-osd ceph radosgw radosgw-admin python3 timeout; do
        command -v "$tool" >/dev/null || die "$tool not found: run tools/install-deps.sh"
    done
    python3 -c 'import boto3' 2>/dev/null || die "python3 cannot import boto3: run tools/install-deps.sh"

    for d in "${DAEMONS[@]}"; do
        if pid_alive "$DIR/run/$d.pid"; then
            die "a cluster is already running in $DIR ($d pid $(<"$DIR/run/$d.pid")); run: $0 stop $DIR"
        fi
    done
    if port_open "$PORT"; then
        die "port $PORT on 127.0.0.1 is already in use"
    fi

    t0=$(date +%s.%N)
    deadline=$(python3 -c "import time; print(time.time() + $START_TIMEOUT)")
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    # Only the paths this script creates are wiped, never DIR itself.
    rm -rf "$DIR/ceph.conf" "$DIR/monmap" "$DIR/keyring" "$DIR/run" "$DIR/log" \
        "$DIR/mon" "$DIR/osd" "$DIR/rgw" "$DIR/crash"
    mkdir -p "$DIR/run" "$DIR/log" "$DIR/mon/a" "$DIR/osd/0" "$DIR/rgw" "$DIR/crash"

    fsid=$(cat /proc/sys/kernel/random/uuid)
    monport=$(free_port)
    write_conf "$fsid" "$monport"

    # Monitor.
    monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$monport]" \
        "$DIR/monmap" >"$DIR/log/monmaptool.out" 2>&1 ||
        fail_start "monmaptool failed: $(cat "$DIR/log/monmaptool.out")"
    ceph-mon -c "$(conf)" -i a --mkfs --monmap "$DIR/monmap" >"$DIR/log/mon-mkfs.out" 2>&1 ||
        fail_start "ceph-mon --mkfs failed: $(cat "$DIR/log/mon-mkfs.out")"
    ceph-mon -c "$(conf)" -i a >"$DIR/log/mon.out" 2>&1 ||
        fail_start "ceph-mon did not start: $(cat "$DIR/log/mon.out")"
    for ((i = 0; ; i++)); do
        cephc mon stat >/dev/null 2>&1 && break
        pid_alive "$(pidfile mon.a)" || fail_start "ceph-mon exited"
        ((i < 100)) || fail_start "monitor on 127.0.0.1:$monport does not answer"
        sleep 0.2
    done

    # OSD (memstore).
    osd_uuid=$(cat /proc/sys/kernel/random/uuid)
    osd_id=$(cephc osd create "$osd_uuid" 2>"$DIR/log/osd-create.out") ||
        fail_start "ceph osd create failed: $(cat "$DIR/log/osd-create.out")"
    [[ "$osd_id" == 0 ]] || fail_start "expected OSD id 0, the monitor gave '$osd_id'"
    ceph-osd -c "$(conf)" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$DIR/log/osd-mkfs.out" 2>&1 ||
        fail_start "ceph-osd --mkfs failed: $(cat "$DIR/log/osd-mkfs.out")"
    ceph-osd -c "$(conf)" -i 0 >"$DIR/log/osd.out" 2>&1 ||
        fail_start "ceph-osd did not start: $(cat "$DIR/log/osd.out")"
    for ((i = 0; ; i++)); do
        cephc osd stat 2>/dev/null | grep -q ' 1 up' && break
        pid_alive "$(pidfile osd.0)" || fail_start "ceph-osd exited"
        ((i < 150)) || fail_start "osd.0 is not up after 30 s"
        sleep 0.2
    done

    # Gateway and its user.
    radosgw -c "$(conf)" -n client.rgw >"$DIR/log/rgw.out" 2>&1 ||
        fail_start "radosgw did not start: $(cat "$DIR/log/rgw.out")"
    timeout 60 radosgw-admin -c "$(conf)" user create --uid=barge --display-name="barge tests" \
        --access-key="$RGW_ACCESS_KEY" --secret-key="$RGW_SECRET_KEY" \
        >"$DIR/log/user-create.out" 2>&1 ||
        fail_start "radosgw-admin user create failed: $(tail -n 5 "$DIR/log/user-create.out")"
    wait_rgw_ready "$deadline" 2>"$DIR/log/rgw-ready.out" ||
        fail_start "$(tail -n 3 "$DIR/log/rgw-ready.out")"

    printf '%s' "$PORT" >"$DIR/run/rgw.port"
    note "rgw: S3 on http://127.0.0.1:$PORT (cluster in $DIR) up in" \
        "$(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')") s"
}

stop() {
    [[ -d "$DIR" ]] || return 0
    stop_cluster
    rm -f "$DIR/run/rgw.port"
}

env_exports() {
    [[ -n "$PORT" ]] || usage
    check_port_arg "$PORT"
    cat <<EOF
export R2_ENDPOINT_URL=http://127.0.0.1:$PORT
export R2_ACCESS_KEY_ID=$RGW_ACCESS_KEY
export R2_SECRET_ACCESS_KEY=$RGW_SECRET_KEY
EOF
}

case "$cmd" in
start) start ;;
stop) stop ;;
env) env_exports ;;
*) usage ;;
esac
