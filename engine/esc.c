/* esc.c - see esc.h */
#include "esc.h"

#include <stdarg.h>
#include <string.h>

static const char hexd[] = "0123456789abcdef";

size_t bg_utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 :
		     (c & 0xF8) == 0xF0 ? 4 : 0;

	if (!len || len > n || (len == 2 && c < 0xC2) || c > 0xF4)
		return 0; /* not a lead byte, cut short, overlong 2-byte form, > U+10FFFF */
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	if (len == 3 && ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0)))
		return 0; /* overlong, surrogate */
	if (len == 4 && ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90)))
		return 0; /* overlong, above U+10FFFF */
	return len;
}

bool bg_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;

	while (p < end) {
		size_t len = bg_utf8_len(p, (size_t)(end - p));

		if (!len)
			return false;
		p += len;
	}
	return true;
}

/* The code point of a well-formed sequence of len bytes. */
static unsigned decode(const unsigned char *p, size_t len)
{
	static const unsigned char lead_mask[5] = { 0, 0x7F, 0x1F, 0x0F, 0x07 };
	unsigned cp = p[0] & lead_mask[len];

	for (size_t i = 1; i < len; i++)
		cp = cp << 6 | (p[i] & 0x3F);
	return cp;
}

/* The short escapes both writers share: \\ \n \t \r (and \" for JSON).
 * Bytes written to e, or 0. */
static size_t short_escape(unsigned cp, bool json, char *e)
{
	char c = cp == '\\' ? '\\' : cp == '\n' ? 'n' : cp == '\t' ? 't' : cp == '\r' ? 'r' :
		 cp == '"' && json ? '"' : 0;

	if (!c)
		return 0;
	e[0] = '\\';
	e[1] = c;
	return 2;
}

static bool is_control(unsigned cp)
{
	return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

/* How the sequence at p (len bytes, 0: one invalid byte) is written in
 * JSON: the escape in e and its length, or 0 to copy it as it is. */
static size_t json_escape(const unsigned char *p, size_t len, char *e)
{
	unsigned cp;
	size_t k;

	if (!len) {
		memcpy(e, "\\ufffd", 6);
		return 6;
	}
	cp = decode(p, len);
	if ((k = short_escape(cp, true, e)) != 0)
		return k;
	if (!is_control(cp))
		return 0;
	memcpy(e, "\\u00", 4);
	e[4] = hexd[cp >> 4];
	e[5] = hexd[cp & 15];
	return 6;
}

/* The same for text: every byte of a control or an invalid byte as \xHH. */
static size_t text_escape(const unsigned char *p, size_t len, char *e)
{
	size_t k, nb = len ? len : 1;

	if (len) {
		unsigned cp = decode(p, len);

		if ((k = short_escape(cp, false, e)) != 0)
			return k;
		if (!is_control(cp))
			return 0;
	}
	for (size_t i = 0; i < nb; i++) {
		e[4 * i] = '\\';
		e[4 * i + 1] = 'x';
		e[4 * i + 2] = hexd[p[i] >> 4];
		e[4 * i + 3] = hexd[p[i] & 15];
	}
	return 4 * nb;
}

/* Copies runs of bytes that need no escape in one piece each. */
static void walk(bg_esc_sink out, void *ctx, const char *s, size_t n,
		 size_t (*esc)(const unsigned char *, size_t, char *))
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n, *run = p;
	char e[16];

	while (p < end) {
		size_t len = bg_utf8_len(p, (size_t)(end - p));
		size_t k = esc(p, len, e);

		if (!k) {
			p += len;
			continue;
		}
		if (p > run)
			out(ctx, (const char *)run, (size_t)(p - run));
		out(ctx, e, k);
		p += len ? len : 1;
		run = p;
	}
	if (p > run)
		out(ctx, (const char *)run, (size_t)(p - run));
}

void bg_esc_json(bg_esc_sink out, void *ctx, const char *s, size_t n)
{
	out(ctx, "\"", 1);
	walk(out, ctx, s, n, json_escape);
	out(ctx, "\"", 1);
}

void bg_esc_text(bg_esc_sink out, void *ctx, const char *s, size_t n)
{
	walk(out, ctx, s, n, text_escape);
}

/* ---- sinks ------------------------------------------------------------- */

static void to_file(void *ctx, const char *p, size_t n)
{
	fwrite(p, 1, n, (FILE *)ctx);
}

void bg_json_putn(FILE *f, const char *s, size_t n)
{
	bg_esc_json(to_file, f, s, n);
}

void bg_json_put(FILE *f, const char *s)
{
	if (s)
		bg_esc_json(to_file, f, s, strlen(s));
	else
		fputs("null", f);
}

void bg_text_putn(FILE *f, const char *s, size_t n)
{
	bg_esc_text(to_file, f, s, n);
}

void bg_text_put(FILE *f, const char *s)
{
	if (s)
		bg_esc_text(to_file, f, s, strlen(s));
}

void bg_text_line(FILE *f, const char *fmt, ...)
{
	char line[16384];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	bg_esc_text(to_file, f, line, strnlen(line, sizeof(line)));
	fputc('\n', f);
}

struct buf_sink {
	bg_buf *b;
	int rc;
};

static void to_buf(void *ctx, const char *p, size_t n)
{
	struct buf_sink *k = ctx;

	if (!k->rc && bg_buf_add(k->b, p, n) < 0)
		k->rc = -1;
}

int bg_json_buf(bg_buf *b, const char *s, size_t n)
{
	struct buf_sink k = { b, 0 };

	bg_esc_json(to_buf, &k, s, n);
	return k.rc;
}

int bg_text_buf(bg_buf *b, const char *s, size_t n)
{
	struct buf_sink k = { b, 0 };

	bg_esc_text(to_buf, &k, s, n);
	return k.rc;
}
