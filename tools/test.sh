#!/usr/bin/env bash
# test.sh - the README's second command: installs what is missing, builds,
# and runs every test: unit tests (Zig Debug build, UBSan traps on), the
# unit tests again under AddressSanitizer (gcc), the system tests against
# moto and Ceph RGW on loopback (started and stopped by the tests), and a
# seconds-long benchmark run that keeps the harness working.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
echo "== build (Debug, UBSan) and unit tests"
tools/zig build --summary none
tools/zig build test --summary all 2>&1 | tail -n 12
if [[ -x tools/asan-build.sh ]]; then
	echo "== unit tests under AddressSanitizer"
	tools/asan-build.sh --run-unit
fi
if [[ -f bench/compare.py ]]; then
	echo "== benchmark harness, quick mode"
	tools/zig build -Doptimize=ReleaseFast -p zig-out/release --summary none
	BARGE_BIN="$PWD/zig-out/release/bin/barge" python3 bench/compare.py --quick --out "$(mktemp -d)"
fi
if [[ -f bench/synth_compare.py ]]; then
	echo "== synthetic-endpoint benchmark (barge-synth), quick mode"
	python3 bench/synth_compare.py --quick --barge "$PWD/zig-out/release/bin/barge" --synth "$PWD/zig-out/release/bin/barge-synth" --out "$(mktemp -d)"
fi
if [[ -f bench/journal_overhead.py ]]; then
	echo "== journal overhead benchmark, quick mode"
	BARGE_BIN="$PWD/zig-out/release/bin/barge" python3 bench/journal_overhead.py --quick --out "$(mktemp -d)"
fi
echo "== system tests (moto -> Ceph RGW)"
exec python3 -m pytest -q -p no:cacheprovider tests/system
