#!/usr/bin/env bash
# moto.sh — moto's S3 server on 127.0.0.1, for barge's system tests.
#
#   tests/servers/moto.sh start DIR PORT   start moto_server on 127.0.0.1:PORT
#   tests/servers/moto.sh stop  DIR [PORT] stop the server started in DIR
#   tests/servers/moto.sh env   DIR PORT   print shell exports for barge (s3:// side)
#
# The server runs in the background in its own session; its pid file
# (DIR/moto.pid) and log (DIR/moto.log) live in DIR, and so do the temporary
# files moto spools large object bodies to (TMPDIR=DIR/tmp). State is in
# memory only: every start is an empty S3.
#
# moto accepts any access key and secret and does not check signatures,
# Content-MD5 or x-amz-checksum-* values; its multipart rules (EntityTooSmall,
# InvalidPart, ListParts) are faithful. The tests use AKIDSOURCE/secretsource.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$HERE/common.sh"

MOTO_ACCESS_KEY=${MOTO_ACCESS_KEY:-AKIDSOURCE}
MOTO_SECRET_KEY=${MOTO_SECRET_KEY:-secretsource}
START_TIMEOUT=${MOTO_START_TIMEOUT:-30}   # seconds

usage() {
    echo "usage: $0 start DIR PORT | stop DIR [PORT] | env DIR PORT" >&2
    exit 2
}

[[ $# -ge 2 ]] || usage
cmd=$1
DIR=$2
PORT=${3:-}
[[ -n "$DIR" ]] || die "DIR must not be empty"
PIDFILE=$DIR/moto.pid
LOG=$DIR/moto.log

# http_ok URL: true if URL answers with a 2xx status within 2 s.
http_ok() {
    python3 - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if 200 <= r.status < 300 else 1)
PY
}

start() {
    local t0 i
    [[ -n "$PORT" ]] || usage
    check_port_arg "$PORT"
    command -v moto_server >/dev/null || die "moto_server not found: run tools/install-deps.sh"
    if pid_alive "$PIDFILE"; then
        die "moto is already running from $DIR (pid $(<"$PIDFILE")); run: $0 stop $DIR"
    fi
    if port_open "$PORT"; then
        die "port $PORT on 127.0.0.1 is already in use"
    fi
    mkdir -p "$DIR/tmp"
    rm -f "$PIDFILE"
    t0=$(date +%s.%N)
    # setsid: a Ctrl-C aimed at the test run must not kill the server before
    # the test fixtures have stopped it. The wrapper writes its own pid and
    # then becomes moto_server, so the pid file names the server itself.
    TMPDIR="$DIR/tmp" setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PIDFILE" \
        moto_server -H 127.0.0.1 -p "$PORT" </dev/null >"$LOG" 2>&1 &
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        if [[ -s "$PIDFILE" ]] && ! pid_alive "$PIDFILE"; then
            show_log "$LOG"
            die "moto_server exited during start-up (log above)"
        fi
        if port_open "$PORT" && http_ok "http://127.0.0.1:$PORT/moto-api/"; then
            note "moto: S3 on http://127.0.0.1:$PORT (pid $(<"$PIDFILE"), log $LOG) up in" \
                "$(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')") s"
            return 0
        fi
        sleep 0.1
    done
    show_log "$LOG"
    [[ -s "$PIDFILE" ]] && kill_pidfile "$PIDFILE" 5
    die "moto_server did not answer on 127.0.0.1:$PORT within $START_TIMEOUT s (log above)"
}

stop() {
    local pid=
    [[ -d "$DIR" ]] || return 0
    if pid_alive "$PIDFILE"; then pid=$(<"$PIDFILE"); fi
    kill_pidfile "$PIDFILE" 10
    if [[ -n "$pid" ]] && ! wait_reaped 5 "$pid"; then
        note "warning: moto_server pid $pid has exited but is not reaped yet"
    fi
    rm -rf "$DIR/tmp"
}

env_exports() {
    [[ -n "$PORT" ]] || usage
    check_port_arg "$PORT"
    cat <<EOF
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$PORT
export AWS_ACCESS_KEY_ID=$MOTO_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$MOTO_SECRET_KEY
export AWS_REGION=us-east-1
EOF
}

case "$cmd" in
start) start ;;
stop) stop ;;
env) env_exports ;;
*) usage ;;
esac
