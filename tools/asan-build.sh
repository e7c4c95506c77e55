#!/usr/bin/env bash
# asan-build.sh - barge and its unit tests under AddressSanitizer.
#
#   tools/asan-build.sh              build zig-out/asan/barge and zig-out/asan/test_*
#   tools/asan-build.sh --run-unit   ...then run every unit test under ASan+LSan
#
# Zig's Debug build traps undefined behaviour but has no ASan runtime, so
# this builds the same sources with Debian's gcc: -fsanitize=address,undefined
# with no recovery (the first finding aborts), plus the warning flags of
# build.zig (read from its c_flags, so the two stay the same) and -Werror.
# Sources compile in parallel (a few seconds from scratch); unchanged ones
# are not recompiled.  CC=... picks another compiler.
set -euo pipefail
cd "$(dirname "$0")/.."

run_unit=0
for a in "$@"; do
	case $a in
	--run-unit) run_unit=1 ;;
	-h | --help)
		sed -n '2,12p' tools/asan-build.sh | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "asan-build: unknown argument '$a' (try --help)" >&2
		exit 2
		;;
	esac
done

CC=${CC:-gcc}
OUT=zig-out/asan
OBJ=$OUT/obj

mapfile -t warn < <(sed -n '/^const c_flags/,/^};/p' build.zig | grep -o '"-W[^"]*"' | tr -d '"')
if ((${#warn[@]} == 0)); then
	echo "asan-build: no warning flags found in build.zig's c_flags" >&2
	exit 1
fi
cflags=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
	-fsanitize=address,undefined -fno-sanitize-recover=all "${warn[@]}"
	-Iengine -Ijournal -Itools -Itests/unit)
libs=(-lcurl -luring -lssl -lcrypto -lxxhash -lexpat -linih -lsqlite3)

engine=(engine/*.c journal/*.c) # the library: engine and journal
tools=(tools/barge.c tools/progress.c tools/metrics_out.c tools/audit_cmd.c tools/bench_cmd.c tools/cmdutil.c tools/cli.c tools/ls_cmd.c tools/plan_cmd.c tools/doctor_cmd.c)
tests=(tests/unit/test_*.c)

# Objects are reused while they are newer than their source, every header,
# build.zig and this script, and the compiler and flags are the same.
mkdir -p "$OBJ"
stamp="$CC ${cflags[*]}"
if [[ ! -f $OBJ/flags || $(<"$OBJ/flags") != "$stamp" ]]; then
	rm -f "$OBJ"/*.o
	printf '%s\n' "$stamp" >"$OBJ/flags"
fi
newest=$(ls -t engine/*.h journal/*.h tools/*.h tests/unit/*.h build.zig tools/asan-build.sh | head -n 1)

# obj SRC: the object file for SRC (engine/ring.c -> OBJ/engine_ring.o).
obj() {
	local s=${1%.c}
	echo "$OBJ/${s//\//_}.o"
}

# par CMD...: runs each quoted command line in the background; waits for
# all and fails if any failed (the compiler's messages say which).
par() {
	local pids=() p fail=0
	for cmd in "$@"; do
		eval "$cmd" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || fail=1
	done
	return $fail
}

q() { printf '%q ' "$@"; }

cmds=()
for src in "${engine[@]}" "${tools[@]}" "${tests[@]}"; do
	o=$(obj "$src")
	if [[ ! -f $o || $src -nt $o || $newest -nt $o ]]; then
		cmds+=("$(q "$CC" "${cflags[@]}" -c "$src" -o "$o")")
	fi
done
par ${cmds[@]+"${cmds[@]}"} || {
	echo "asan-build: compilation failed" >&2
	exit 1
}

lib=$OBJ/libbarge.a
engine_objs=()
for src in "${engine[@]}"; do
	engine_objs+=("$(obj "$src")")
done
rm -f "$lib"
ar rcs "$lib" "${engine_objs[@]}"

ldflags=(-fsanitize=address,undefined)
cmds=("$(q "$CC" "${ldflags[@]}" -o "$OUT/barge" "$(obj tools/barge.c)" "$(obj tools/progress.c)" "$(obj tools/metrics_out.c)" "$(obj tools/audit_cmd.c)" "$(obj tools/bench_cmd.c)" "$(obj tools/cmdutil.c)" "$(obj tools/cli.c)" "$(obj tools/ls_cmd.c)" "$(obj tools/plan_cmd.c)" "$(obj tools/doctor_cmd.c)" "$lib" "${libs[@]}")")
for src in "${tests[@]}"; do
	name=$(basename "${src%.c}")
	cmds+=("$(q "$CC" "${ldflags[@]}" -o "$OUT/$name" "$(obj "$src")" "$lib" "${libs[@]}")")
done
par "${cmds[@]}" || {
	echo "asan-build: link failed" >&2
	exit 1
}
echo "asan-build: $OUT/barge and ${#tests[@]} unit tests"

((run_unit)) || exit 0

# The caller's options come last, so they win.
export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
failed=()
for src in "${tests[@]}"; do
	name=$(basename "${src%.c}")
	rc=0
	"$OUT/$name" >"$OBJ/$name.log" 2>&1 || rc=$?
	case $rc in
	0) echo "  pass  $name" ;;
	77) echo "  skip  $name" ;;
	*)
		echo "  FAIL  $name (exit $rc)"
		sed 's/^/        /' "$OBJ/$name.log"
		failed+=("$name")
		;;
	esac
done
if ((${#failed[@]})); then
	echo "asan-build: ${#failed[@]} unit test(s) failed under ASan: ${failed[*]}" >&2
	exit 1
fi
echo "asan-build: all unit tests pass under ASan/UBSan/LSan"
