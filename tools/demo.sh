#!/usr/bin/env bash
# demo.sh - the README's first command: a demonstration migration.
#
# With no real endpoints configured it installs what it needs, builds barge,
# starts two local S3 endpoints (moto as the "S3" source, Ceph's RADOS Gateway
# as the "R2" destination), fills the source with data shaped like the users'
# (3,000 Zarr chunk objects of 16-64 KiB and three 200 MiB checkpoints), runs
# `barge copy --journal` between them, interrupts it, resumes it from the
# journal, shows `barge status`, checks the result with boto3 (and that no
# multipart upload is left open), and stops the servers.  Sizes: DEMO_CHUNKS,
# DEMO_CHECKPOINT_MIB; DEMO_INTERRUPT_S: when to interrupt (default 5 s).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
tools/zig build -Doptimize=ReleaseFast --summary none

work=$(mktemp -d /tmp/barge-demo.XXXXXX)
src_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dst_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
	tests/servers/rgw.sh stop "$work/rgw" >/dev/null 2>&1 || true
	tests/servers/moto.sh stop "$work/moto" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

tests/servers/moto.sh start "$work/moto" "$src_port"
tests/servers/rgw.sh start "$work/rgw" "$dst_port"
eval "$(tests/servers/moto.sh env "$work/moto" "$src_port")"
eval "$(tests/servers/rgw.sh env "$work/rgw" "$dst_port")"
export HOME="$work/home" # no ~/.aws of yours is read
mkdir -p "$HOME"

python3 tools/demo_data.py populate "$AWS_ENDPOINT_URL_S3" research-data \
	--chunks "${DEMO_CHUNKS:-3000}" --checkpoint-mib "${DEMO_CHECKPOINT_MIB:-200}"
python3 - "$R2_ENDPOINT_URL" <<'PY'
import os, sys, boto3
boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id=os.environ["R2_ACCESS_KEY_ID"],
             aws_secret_access_key=os.environ["R2_SECRET_ACCESS_KEY"],
             region_name="us-east-1").create_bucket(Bucket="research-data-r2")
PY

journal="$work/migration.journal"
echo "+ barge copy s3://research-data r2://research-data-r2 --journal $journal --progress bar"
echo "  (interrupted after ${DEMO_INTERRUPT_S:-5} s with Ctrl-C, then resumed from the journal)"
set +e
zig-out/bin/barge copy s3://research-data r2://research-data-r2 --journal "$journal" --progress bar &
pid=$!
sleep "${DEMO_INTERRUPT_S:-5}"
kill -INT "$pid" 2>/dev/null
wait "$pid"
echo "barge exited with $? (130 = interrupted by Ctrl-C)"
echo "+ barge status $journal"
zig-out/bin/barge status "$journal"
echo "+ barge resume $journal --progress bar"
zig-out/bin/barge resume "$journal" --progress bar
rc=$?
set -e
echo "barge exited with $rc"
echo "+ barge status $journal"
zig-out/bin/barge status "$journal"
python3 tools/demo_data.py verify "$AWS_ENDPOINT_URL_S3" research-data \
	"$R2_ENDPOINT_URL" research-data-r2
exit "$rc"
