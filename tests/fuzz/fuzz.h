/* fuzz.h - shared helpers for barge's libFuzzer targets (tests/fuzz/).
 * FUZZ_CHECK aborts with file and line when an invariant of the parser
 * under test does not hold, so libFuzzer saves the input as a crash. */
#ifndef BG_FUZZ_H
#define BG_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                           \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #cond);                                  \
			abort();                                                   \
		}                                                                  \
	} while (0)

/* A NUL-terminated heap copy of the input (exactly n+1 bytes, so ASan sees
 * any read past the end). */
static inline char *fuzz_cstr(const uint8_t *data, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		abort();
	memcpy(s, data, n);
	s[n] = '\0';
	return s;
}

/* An exact-size heap copy (no terminator: parsers taking (ptr, len) must
 * not read past len). */
static inline char *fuzz_copy(const uint8_t *data, size_t n)
{
	char *s = malloc(n ? n : 1);
	if (!s)
		abort();
	if (n)
		memcpy(s, data, n);
	return s;
}

/* A string's terminator within cap bytes. */
static inline int fuzz_terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

#endif
