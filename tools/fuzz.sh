#!/usr/bin/env bash
# fuzz.sh - builds barge's libFuzzer targets (tests/fuzz/fuzz_*.c) with clang
# against the engine sources, under AddressSanitizer and UBSan, and runs
# each for a while from its seed corpus (tests/fuzz/corpus/TARGET/).
#
#   tools/fuzz.sh                   build, then run every target 10 s
#   tools/fuzz.sh -t 300            ...300 s each
#   tools/fuzz.sh -t 60 fuzz_uri    only the targets named
#   tools/fuzz.sh --build-only      build zig-out/fuzz/fuzz_* and stop
#   tools/fuzz.sh -j 2              run two targets at a time
#
# Every earlier finding (tests/fuzz/crashes/) is replayed first, as a
# regression input.  New inputs that add coverage go to zig-out/fuzz/corpus/TARGET (the seed
# corpus in the tree is only read).  A crash, leak or timeout stops that
# target: the input is saved as tests/fuzz/crashes/TARGET-<kind>-<sha1> and
# the script exits 1 after all targets ran.  Per target it prints the
# number of executions.  Needs Debian's clang (tools/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=10
jobs=1
build_only=0
want=()
while (($#)); do
	case $1 in
	-t) secs=$2; shift 2 ;;
	-j) jobs=$2; shift 2 ;;
	--build-only) build_only=1; shift ;;
	-h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "fuzz.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
	*) want+=("$1"); shift ;;
	esac
done

CC=${CC:-clang}
command -v "$CC" >/dev/null || { echo "fuzz.sh: $CC not found (apt-get install clang, or tools/install-deps.sh)" >&2; exit 2; }

OUT=zig-out/fuzz
OBJ=$OUT/obj
mkdir -p "$OBJ" tests/fuzz/crashes
cflags=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
	-Iengine -Ijournal -Itests/fuzz -w)
libs=(-lcurl -luring -lssl -lcrypto -lxxhash -lexpat -linih -lsqlite3 -lpthread)

# The engine as an archive, so that a target that includes a source file
# (fuzz_headers includes s3.c for its static callback) does not clash.
stamp="$CC ${cflags[*]}"
[[ -f $OBJ/flags && $(<"$OBJ/flags") == "$stamp" ]] || { rm -f "$OBJ"/*.o; echo "$stamp" >"$OBJ/flags"; }
newest=$(ls -t engine/*.h journal/*.h tools/fuzz.sh | head -n 1)
pids=()
for src in engine/*.c journal/*.c; do
	o=$OBJ/$(basename "${src%.c}").o
	[[ -f $o && $o -nt $src && $o -nt $newest ]] && continue
	"$CC" "${cflags[@]}" -c "$src" -o "$o" &
	pids+=($!)
done
for p in ${pids[@]+"${pids[@]}"}; do wait "$p"; done
rm -f "$OBJ/libbarge.a"
ar rcs "$OBJ/libbarge.a" "$OBJ"/*.o

targets=()
for src in tests/fuzz/fuzz_*.c; do
	t=$(basename "${src%.c}")
	if ((${#want[@]})); then
		[[ " ${want[*]} " == *" $t "* ]] || continue
	fi
	targets+=("$t")
	if [[ ! -x $OUT/$t || $src -nt $OUT/$t || tests/fuzz/fuzz.h -nt $OUT/$t || $OBJ/libbarge.a -nt $OUT/$t ]]; then
		"$CC" "${cflags[@]}" -fsanitize=fuzzer "$src" "$OBJ/libbarge.a" "${libs[@]}" -o "$OUT/$t"
	fi
done
((${#targets[@]})) || { echo "fuzz.sh: no target matches: ${want[*]}" >&2; exit 2; }
echo "fuzz.sh: built ${#targets[@]} targets in $OUT"
((build_only)) && exit 0

export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

# run TARGET: one libFuzzer run; prints a summary line, returns 1 on a finding.
run() {
	local t=$1 log=$OUT/$t.log work=$OUT/corpus/$t art
	mkdir -p "$work"
	art=$(mktemp -d "$OUT/$t.art.XXXXXX")
	local rc=0
	"$OUT/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 -artifact_prefix="$art/" \
		"$work" "tests/fuzz/corpus/$t" tests/fuzz/crashes >"$log" 2>&1 || rc=$?
	local execs cov
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
	local found=0 f
	for f in "$art"/*; do
		[[ -e $f ]] || continue
		found=1
		local kind=${f##*/}
		kind=${kind%%-*}
		cp "$f" "tests/fuzz/crashes/$t-$kind-$(sha1sum "$f" | cut -c1-12)"
	done
	rm -rf "$art"
	if ((rc != 0 || found)); then
		echo "  FAIL  $t: ${execs:-?} executions, finding saved in tests/fuzz/crashes/ (log $log):"
		grep -m 3 -E 'ERROR: |runtime error|invariant failed' "$log" | sed 's/^/        /' || true
		return 1
	fi
	echo "  ok    $t: ${execs:-?} executions in ${secs} s, coverage ${cov:-?}, corpus $(ls "$work" | wc -l)"
}

fail=0
running=0
for t in "${targets[@]}"; do
	if ((jobs > 1)); then
		run "$t" &
		running=$((running + 1))
		if ((running >= jobs)); then
			wait -n || fail=1
			running=$((running - 1))
		fi
	else
		run "$t" || fail=1
	fi
done
while ((running > 0)); do
	wait -n || fail=1
	running=$((running - 1))
done
if ((fail)); then
	echo "fuzz.sh: findings (see above)" >&2
	exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, no findings"
