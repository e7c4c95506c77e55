/* util.c - see util.h */
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *bg_err_name(bg_err e)
{
	switch (e) {
	case BG_OK: return "ok";
	case BG_E_USAGE: return "usage";
	case BG_E_CONFIG: return "config";
	case BG_E_NOMEM: return "nomem";
	case BG_E_IO: return "io";
	case BG_E_NET: return "network";
	case BG_E_HTTP: return "http";
	case BG_E_PARSE: return "parse";
	case BG_E_CHANGED: return "changed";
	case BG_E_INTEGRITY: return "integrity";
	case BG_E_INTERNAL: return "internal";
	case BG_E_BUSY: return "busy";
	}
	return "unknown";
}

void bg_one_line(char *msg)
{
	for (unsigned char *p = (unsigned char *)msg; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = *p == '\n' || *p == '\r' || *p == '\t' ? ' ' : '?';
}

bg_err bg_fail(bg_status *st, bg_err code, const char *fmt, ...)
{
	if (st) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
		va_end(ap);
		bg_one_line(st->msg); /* quoted input or a library's report may hold newlines */
		st->code = code;
	}
	return code;
}

_Noreturn void bg_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "barge: assertion failed: %s (%s:%d)\n", expr, file, line);
	abort();
}

void bg_buf_init(bg_buf *b, size_t cap)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
}

void bg_buf_free(bg_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->alloc = 0;
}

void bg_buf_reset(bg_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

int bg_buf_add(bg_buf *b, const void *p, size_t n)
{
	if (n > b->cap || b->len > b->cap - n)
		return -1;
	if (b->len + n + 1 > b->alloc) {
		size_t want = b->alloc ? b->alloc : 256;
		while (want < b->len + n + 1)
			want *= 2;
		if (want > b->cap + 1)
			want = b->cap + 1;
		char *d = realloc(b->data, want);
		if (!d)
			return -1;
		b->data = d;
		b->alloc = want;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int bg_buf_addf(bg_buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(tmp))
		return bg_buf_add(b, tmp, (size_t)n);
	char *big = malloc((size_t)n + 1);
	if (!big)
		return -1;
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	int r = bg_buf_add(b, big, (size_t)n);
	free(big);
	return r;
}

int bg_strlcpy(char *dst, const char *src, size_t cap)
{
	size_t n = strlen(src);
	if (cap == 0)
		return -1;
	if (n >= cap) {
		memcpy(dst, src, cap - 1);
		dst[cap - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

int bg_snprintf(char *dst, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(dst, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	return n;
}

int bg_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!s || *s < '0' || *s > '9') /* strtoull skips blanks, takes a sign */
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int bg_parse_size(const char *s, uint64_t *out)
{
	if (!s || !*s || *s < '0' || *s > '9')
		return -1;
	/* digits, optionally '.' and digits: no exponent, no hex (strtod
	 * alone would take "1e3" and "0x10") */
	const char *q = s;
	while (*q >= '0' && *q <= '9')
		q++;
	if (*q == '.') {
		if (q[1] < '0' || q[1] > '9')
			return -1;
		for (q++; *q >= '0' && *q <= '9'; q++)
			;
	}
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || v < 0 || end != q)
		return -1;
	uint64_t mul = 1;
	switch (*end) {
	case '\0': break;
	case 'b': case 'B': end++; break;
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	case 't': case 'T': mul = 1ull << 40; end++; break;
	default: return -1;
	}
	if (mul > 1) {
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B' || *end == 'b')
			end++;
	}
	if (*end)
		return -1;
	double r = v * (double)mul;
	if (r > 9.0e18)
		return -1;
	*out = (uint64_t)r;
	return 0;
}

uint64_t bg_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
