/* check.h - tiny assertion helpers for unit test programs.  Each program
 * returns 0 (pass), 1 (fail) or 77 (skip), and asserts print both sides. */
#ifndef BG_CHECK_H
#define BG_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_failures;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			check_failures++;                                      \
		}                                                              \
	} while (0)

#define CHECK_STR(a, b)                                                        \
	do {                                                                   \
		const char *a_ = (a), *b_ = (b);                               \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                       \
			fprintf(stderr, "%s:%d: %s != %s\n  left:  \"%s\"\n  right: \"%s\"\n", \
				__FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)", \
				b_ ? b_ : "(null)");                           \
			check_failures++;                                      \
		}                                                              \
	} while (0)

#define CHECK_INT(a, b)                                                        \
	do {                                                                   \
		long long a_ = (long long)(a), b_ = (long long)(b);            \
		if (a_ != b_) {                                                \
			fprintf(stderr, "%s:%d: %s != %s (%lld != %lld)\n",    \
				__FILE__, __LINE__, #a, #b, a_, b_);           \
			check_failures++;                                      \
		}                                                              \
	} while (0)

#define CHECK_DONE()                                                           \
	do {                                                                   \
		if (check_failures) {                                          \
			fprintf(stderr, "%s: %d check(s) failed\n", __FILE__,  \
				check_failures);                               \
			return 1;                                              \
		}                                                              \
		printf("%s: ok\n", __FILE__);                                  \
		return 0;                                                      \
	} while (0)

#endif
