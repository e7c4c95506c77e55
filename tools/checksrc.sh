#!/usr/bin/env bash
# checksrc.sh - rules of the source that a compiler does not check (run by
# `zig build test`; STYLE.md):
#   - no sprintf, vsprintf, strcpy, strcat, strtok, atoi, atol or gets in
#     engine/, journal/, tools/ and bench/ (bg_snprintf, bg_strlcpy,
#     bg_parse_u64 instead);
#   - journal/ includes of engine/ only the headers below the engine:
#     util.h, s3limits.h, codec.h and esc.h (journal.h took xml.h once for
#     its size limits, and the two folders included each other).
# Prints each breach as FILE:LINE: why, and exits 1 if there was one.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
banned='\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|gets)[[:space:]]*\('
while IFS= read -r hit; do
	echo "$hit: banned function (use bg_snprintf, bg_strlcpy, bg_parse_u64)" >&2
	fail=1
done < <(grep -nE "$banned" engine/*.[ch] journal/*.[ch] tools/*.[ch] bench/synth/*.[ch] |
	grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)' || true)

allowed=' util.h s3limits.h codec.h esc.h '
for f in journal/*.[ch]; do
	while IFS=: read -r line inc; do
		h=$(sed -E 's/.*"([^"]+)".*/\1/' <<<"$inc")
		[[ -f journal/$h ]] && continue
		if [[ $allowed != *" $h "* ]]; then
			echo "$f:$line: includes $h: of engine/, journal/ may include only$allowed" >&2
			fail=1
		fi
	done < <(grep -nE '^#include "' "$f" || true)
done
exit $fail
