/* fuzz_uri - the encodings SigV4 depends on: bg_uri_encode must give only
 * unreserved characters and %XX, and bg_url_decode (codec.c, the decoder
 * the listings use) must give the input back, in both '+' modes, unless it
 * holds a NUL (refused); bg_url_decode of arbitrary input, also in place;
 * bg_query_build of arbitrary parameters (sorted, bounded). */
#include <stdbool.h>

#include "codec.h"
#include "fuzz.h"
#include "sigv4.h"

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *in = fuzz_copy(data, size);
	size_t cap = 3 * size + 1;
	char *enc = malloc(cap), *dec = malloc(size + 1);

	for (int slash = 0; slash < 2; slash++) {
		int n = bg_uri_encode(in, size, slash, enc, cap);
		FUZZ_CHECK(n >= 0 && (size_t)n < cap && enc[n] == '\0');
		for (int i = 0; i < n; i++) {
			unsigned char c = (unsigned char)enc[i];
			if (c == '%') {
				FUZZ_CHECK(i + 2 < n);
				FUZZ_CHECK(strchr("0123456789ABCDEF", enc[i + 1]) && enc[i + 1]);
				FUZZ_CHECK(strchr("0123456789ABCDEF", enc[i + 2]) && enc[i + 2]);
				i += 2;
			} else {
				FUZZ_CHECK(unreserved(c) || (slash && c == '/'));
			}
		}
		for (int plus = 0; plus < 2; plus++) {
			int m = bg_url_decode(enc, (size_t)n, plus, dec, size + 1);
			if (memchr(in, 0, size)) {
				FUZZ_CHECK(m == BG_URL_BAD);
				continue;
			}
			FUZZ_CHECK(m == (int)size);
			FUZZ_CHECK(memcmp(dec, in, size) == 0);
		}
		/* Too small an output buffer: -1, never an overflow. */
		if (n > 0) {
			char *small = malloc((size_t)n);
			FUZZ_CHECK(bg_uri_encode(in, size, slash, small, (size_t)n) == -1);
			free(small);
		}
	}

	/* Arbitrary input to the decoder, both modes: a C string no longer
	 * than the input, or a refusal; the same in place. */
	for (int plus = 0; plus < 2; plus++) {
		int m = bg_url_decode(in, size, plus, dec, size + 1);
		FUZZ_CHECK(m == BG_URL_BAD || (m >= 0 && (size_t)m <= size));
		if (m >= 0)
			FUZZ_CHECK(strlen(dec) == (size_t)m);
		char *inplace = fuzz_cstr(data, size);
		int k = bg_url_decode(inplace, size, plus, inplace, size + 1);
		FUZZ_CHECK(k == m && (m < 0 || memcmp(inplace, dec, (size_t)m + 1) == 0));
		free(inplace);
	}

	/* Query: split the input at NUL bytes into name/value pairs. */
	bg_query_param p[40];
	size_t np = 0, pos = 0;
	char *z = fuzz_cstr(data, size);
	while (pos <= size && np < 40) {
		const char *name = z + pos;
		pos += strlen(name) + 1;
		const char *value = NULL;
		if (pos <= size) {
			value = z + pos;
			pos += strlen(value) + 1;
			if (*value == '\x01')
				value = NULL;
		}
		p[np].name = name;
		p[np].value = value;
		np++;
	}
	char q[16384];
	int qn = bg_query_build(p, np, q, sizeof(q));
	FUZZ_CHECK(qn == -1 || ((size_t)qn < sizeof(q) && q[qn] == '\0'));
	if (qn >= 0) {
		FUZZ_CHECK(np <= 32);
		/* Sorted by encoded name: each '&'-separated item is >= the one before. */
		char *prev = NULL, *save = NULL;
		for (char *it = q; it; it = save) {
			save = strchr(it, '&');
			if (save)
				*save++ = '\0';
			FUZZ_CHECK(strchr(it, '=') != NULL);
			if (prev) {
				size_t a = (size_t)(strchr(prev, '=') - prev), b = (size_t)(strchr(it, '=') - it);
				int c = memcmp(prev, it, a < b ? a : b);
				FUZZ_CHECK(c < 0 || (c == 0 && a <= b));
			}
			prev = it;
		}
	}
	free(z);
	free(in);
	free(enc);
	free(dec);
	return 0;
}
