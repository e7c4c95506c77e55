/* test_esc.c - engine/esc.c: the one JSON string writer and the one
 * terminal text writer, over valid multi-byte UTF-8, overlong forms,
 * surrogates, sequences cut short, bytes that never occur in UTF-8, C0
 * and C1 controls. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "esc.h"

static bg_buf out;

/* The JSON string of the n bytes at s, without its quotes. */
static const char *json(const char *s, size_t n)
{
	bg_buf_reset(&out);
	if (bg_json_buf(&out, s, n) < 0 || out.len < 2 || out.data[0] != '"' ||
	    out.data[out.len - 1] != '"')
		return "(not a quoted string)";
	out.data[out.len - 1] = '\0';
	return out.data + 1;
}

static const char *text(const char *s, size_t n)
{
	bg_buf_reset(&out);
	if (bg_text_buf(&out, s, n) < 0)
		return "(buffer full)";
	return out.data ? out.data : "";
}

#define J(lit) json(lit, sizeof(lit) - 1)
#define T(lit) text(lit, sizeof(lit) - 1)

static void test_valid_utf8(void)
{
	CHECK_STR(J("plain key/a.b"), "plain key/a.b");
	CHECK_STR(J("\xc3\xa9t\xc3\xa9"), "\xc3\xa9t\xc3\xa9");               /* été: 2 bytes */
	CHECK_STR(J("\xe2\x82\xac"), "\xe2\x82\xac");                         /* euro: 3 bytes */
	CHECK_STR(J("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");                 /* emoji: 4 bytes */
	CHECK_STR(J("\xef\xbf\xbd"), "\xef\xbf\xbd");                         /* U+FFFD itself */
	CHECK_STR(J("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf");                 /* U+10FFFF */
	CHECK_STR(J("\xed\x9f\xbf"), "\xed\x9f\xbf");                         /* U+D7FF */
	CHECK_STR(J("\xc2\xa0"), "\xc2\xa0");                                 /* U+00A0: not C1 */
	CHECK_STR(T("\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80"), "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80");
	CHECK(bg_utf8_valid("\xe2\x82\xac\xf0\x9f\x98\x80", 7));
	CHECK(bg_utf8_valid("", 0));
}

static void test_invalid_bytes(void)
{
	/* one \ufffd per invalid byte; the walk resumes at the next byte */
	CHECK_STR(J("bad\xffname"), "bad\\ufffdname");
	CHECK_STR(J("\xfe\xff"), "\\ufffd\\ufffd");
	CHECK_STR(J("\x80"), "\\ufffd");                                      /* lone continuation */
	CHECK_STR(J("\xc0\xaf"), "\\ufffd\\ufffd");                           /* overlong '/' */
	CHECK_STR(J("\xc1\xbf"), "\\ufffd\\ufffd");                           /* overlong */
	CHECK_STR(J("\xe0\x80\xaf"), "\\ufffd\\ufffd\\ufffd");                /* overlong 3 bytes */
	CHECK_STR(J("\xf0\x80\x80\xaf"), "\\ufffd\\ufffd\\ufffd\\ufffd");     /* overlong 4 bytes */
	CHECK_STR(J("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");                /* surrogate D800 */
	CHECK_STR(J("\xed\xbf\xbf"), "\\ufffd\\ufffd\\ufffd");                /* surrogate DFFF */
	CHECK_STR(J("\xf4\x90\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd");     /* U+110000 */
	CHECK_STR(J("\xf5\x80\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd");
	CHECK_STR(J("\xe2\x82"), "\\ufffd\\ufffd");                           /* cut short at the end */
	CHECK_STR(J("\xe2\x82z"), "\\ufffd\\ufffdz");                         /* cut short mid-string */
	CHECK_STR(J("\xf0\x9f\x98"), "\\ufffd\\ufffd\\ufffd");
	CHECK_STR(J("a\xc3"), "a\\ufffd");
	CHECK(!bg_utf8_valid("bad\xffname", 8));
	CHECK(!bg_utf8_valid("\xed\xa0\x80", 3));
	CHECK(!bg_utf8_valid("\xe2\x82", 2));
	/* text: every invalid byte as \xHH */
	CHECK_STR(T("bad\xffname"), "bad\\xffname");
	CHECK_STR(T("\xc0\xaf"), "\\xc0\\xaf");
	CHECK_STR(T("\xed\xa0\x80"), "\\xed\\xa0\\x80");
	CHECK_STR(T("\xe2\x82z"), "\\xe2\\x82z");
}

static void test_controls(void)
{
	CHECK_STR(J("q\"b\\s/"), "q\\\"b\\\\s/");
	CHECK_STR(J("a\nb\tc\rd"), "a\\nb\\tc\\rd");
	CHECK_STR(J("\x1b[31mred\x07"), "\\u001b[31mred\\u0007");
	CHECK_STR(J("\x01\x1f\x7f"), "\\u0001\\u001f\\u007f");
	CHECK_STR(J("\xc2\x9b" "31m"), "\\u009b31m");                         /* C1 CSI */
	CHECK_STR(J("\xc2\x80\xc2\x9f"), "\\u0080\\u009f");
	CHECK(!strcmp(json("a\0b", 3), "a\\u0000b"));                         /* an embedded NUL */
	CHECK_STR(T("q\"b\\s"), "q\"b\\\\s");
	CHECK_STR(T("a\nb\tc\rd"), "a\\nb\\tc\\rd");
	CHECK_STR(T("\x1b[31mred\x07"), "\\x1b[31mred\\x07");
	CHECK_STR(T("\x01\x7f"), "\\x01\\x7f");
	CHECK_STR(T("\xc2\x9b" "31m"), "\\xc2\\x9b31m");
	CHECK_STR(T("\xc2\x85"), "\\xc2\\x85");
	CHECK(!strcmp(text("a\0b", 3), "a\\x00b"));
}

/* The FILE writers and NULL. */
static void test_file(void)
{
	char buf[256];
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	CHECK(f != NULL);
	if (!f)
		return;
	bg_json_put(f, NULL);
	fputc(' ', f);
	bg_json_put(f, "k\x1b\xff");
	fputc(' ', f);
	bg_text_put(f, NULL);
	bg_text_put(f, "k\x1b\xff");
	fputc(' ', f);
	bg_json_putn(f, "ab", 1);
	bg_text_putn(f, "\x07z", 1);
	fclose(f);
	CHECK_STR(buf, "null \"k\\u001b\\ufffd\" k\\x1b\\xff \"a\"\\x07");
}

/* Every byte value alone, and every pair, gives JSON with no raw control
 * or invalid byte and text with only printable ASCII or valid UTF-8 above
 * the C1 range. */
static void test_exhaustive_pairs(void)
{
	int bad = 0;

	for (unsigned a = 0; a < 256; a++) {
		for (unsigned b = 0; b < 256; b++) {
			char in[2] = { (char)a, (char)b };

			for (int t = 0; t < 2; t++) {
				const char *o = t ? text(in, 2) : json(in, 2);
				size_t n = strlen(o);

				if (!bg_utf8_valid(o, n))
					bad++;
				for (size_t i = 0; i < n; i++) {
					unsigned char c = (unsigned char)o[i];

					if (c < 0x20 || c == 0x7f ||
					    (c == 0xc2 && i + 1 < n && (unsigned char)o[i + 1] <= 0x9f))
						bad++;
				}
			}
		}
	}
	CHECK_INT(bad, 0);
}

int main(void)
{
	bg_buf_init(&out, 1 << 16);
	test_valid_utf8();
	test_invalid_bytes();
	test_controls();
	test_file();
	test_exhaustive_pairs();
	bg_buf_free(&out);
	CHECK_DONE();
}
