/* fuzz_size - sizes and counts from the command line (bg_parse_size,
 * bg_parse_u64): accepted values are in range and stable; anything with
 * trailing garbage is refused. */
#include <stdbool.h>
#include <stdint.h>

#include "fuzz.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 256)
		return 0;
	char *s = fuzz_cstr(data, size);
	uint64_t v = 0xdeadbeef, w = 0;

	int rc = bg_parse_size(s, &v);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		FUZZ_CHECK(v <= 9000000000000000000ull);
		FUZZ_CHECK(s[0] >= '0' && s[0] <= '9');
		/* The same string parses to the same value. */
		FUZZ_CHECK(bg_parse_size(s, &w) == 0 && w == v);
	}

	rc = bg_parse_u64(s, 1, 10000, &v);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		FUZZ_CHECK(v >= 1 && v <= 10000);
		/* only digits (an optional '+' or spaces would be a lenient parse) */
		for (const char *p = s; *p; p++)
			FUZZ_CHECK(*p >= '0' && *p <= '9');
	}
	rc = bg_parse_u64(s, 0, UINT64_MAX, &v);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0)
		for (const char *p = s; *p; p++)
			FUZZ_CHECK(*p >= '0' && *p <= '9');
	free(s);
	return 0;
}
