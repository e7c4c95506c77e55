/* bwlimit.c - the bandwidth limit: its syntax and the token buckets that
 * hold a copy to it (see bwlimit.h). */
#include "bwlimit.h"

#include <string.h>

static int parse_rate(const char *s, size_t n, uint64_t *out)
{
	char tmp[64];
	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (strcmp(tmp, "off") == 0) {
		*out = 0;
		return 0;
	}
	return bg_parse_size(tmp, out);
}

int bg_bwlimit_parse(const char *s, uint64_t *up, uint64_t *down, char *err, size_t cap)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	uint64_t u = 0, d = 0;
	if ((n >= 3 && memcmp(s, "up:", 3) == 0) || (n >= 5 && memcmp(s, "down:", 5) == 0)) {
		const char *p = s, *end = s + n;
		while (p < end) {
			const char *comma = memchr(p, ',', (size_t)(end - p));
			const char *e = comma ? comma : end;
			uint64_t *dst = NULL;
			const char *v = NULL;
			if ((size_t)(e - p) > 3 && memcmp(p, "up:", 3) == 0) {
				dst = &u;
				v = p + 3;
			} else if ((size_t)(e - p) > 5 && memcmp(p, "down:", 5) == 0) {
				dst = &d;
				v = p + 5;
			}
			if (!dst || parse_rate(v, (size_t)(e - v), dst) < 0)
				goto bad;
			p = comma ? comma + 1 : end;
		}
	} else {
		if (parse_rate(s, n, &u) < 0)
			goto bad;
		d = u;
	}
	*up = u;
	*down = d;
	return 0;
bad:
	bg_snprintf(err, cap, "bandwidth limit '%.*s' must be a rate such as 200M, or up:100M,down:200M",
		    (int)(n > 80 ? 80 : n), s);
	return -1;
}

static int64_t burst_of(uint64_t rate)
{
	uint64_t b = rate / 10;
	return (int64_t)(b < 65536 ? 65536 : b);
}

void bg_bucket_set(bg_bucket *b, uint64_t rate, uint64_t now)
{
	if (b->rate == rate)
		return;
	b->rate = rate;
	b->last_ns = now;
	if (b->tokens > burst_of(rate))
		b->tokens = burst_of(rate);
}

void bg_bucket_refill(bg_bucket *b, uint64_t now)
{
	if (!b->rate || now <= b->last_ns)
		return;
	uint64_t dt = now - b->last_ns;
	uint64_t add = (uint64_t)((double)dt * (double)b->rate / 1e9);
	if (!add)
		return;
	b->last_ns = now;
	b->tokens += (int64_t)add;
	if (b->tokens > burst_of(b->rate))
		b->tokens = burst_of(b->rate);
}

uint64_t bg_bucket_take(bg_bucket *b, uint64_t want)
{
	if (!b->rate)
		return want;
	if (b->tokens <= 0)
		return 0;
	uint64_t n = (uint64_t)b->tokens < want ? (uint64_t)b->tokens : want;
	b->tokens -= (int64_t)n;
	return n;
}

bool bg_bucket_take_all(bg_bucket *b, uint64_t n)
{
	if (!b->rate)
		return true;
	if (b->tokens <= 0)
		return false;
	b->tokens -= (int64_t)n;
	return true;
}
