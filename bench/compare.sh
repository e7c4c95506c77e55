#!/usr/bin/env bash
# compare.sh — run bench/compare.py (barge vs rclone vs s5cmd on local moto -> RGW).
#   bench/compare.sh [--quick] [compare.py options...]     see docs/bench.md
# Uses $BARGE_BIN if set, else zig-out/bin/barge.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec python3 "$HERE/compare.py" "$@"
