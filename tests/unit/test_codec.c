/* test_codec - hex and percent-decoding (engine/codec.c): every digit of
 * either case, every non-digit byte, odd and wrong lengths, NULs, '+' in
 * both modes, caps to the byte, decoding in place, and a round trip
 * through SigV4's encoder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "codec.h"
#include "sigv4.h"

/* What a hex digit is, written out another way. */
static int ref_digit(int c)
{
	const char *l = "0123456789abcdef", *u = "0123456789ABCDEF";

	for (int i = 0; i < 16; i++)
		if (c == l[i] || c == u[i])
			return i;
	return -1;
}

static void test_hex_digit(void)
{
	int bad = 0;

	for (int c = -1; c < 256; c++) /* EOF and every byte */
		if (bg_hex_digit(c) != ref_digit(c))
			bad++;
	CHECK_INT(bad, 0);
	CHECK_INT(bg_hex_digit('a'), 10);
	CHECK_INT(bg_hex_digit('F'), 15);
	CHECK_INT(bg_hex_digit('g'), -1);
	CHECK_INT(bg_hex_digit('\0'), -1);
	CHECK_INT(bg_hex_digit(0xe0 | 'a'), -1); /* not 'a' with a high bit */
}

static void test_hex_round_trip(void)
{
	unsigned char all[256], back[256];
	char hex[2 * 256 + 1];

	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	bg_hex(all, 256, hex);
	CHECK_INT(strlen(hex), 512);
	CHECK(memcmp(hex, "000102", 6) == 0 && strcmp(hex + 506, "fdfeff") == 0);
	CHECK_INT(bg_unhex(hex, 512, back, 256), 0);
	CHECK(memcmp(all, back, 256) == 0);
	bg_hex(all, 0, hex);
	CHECK_STR(hex, "");
}

static void test_unhex(void)
{
	unsigned char b[4] = { 0 };

	CHECK_INT(bg_unhex("00ff7F80", 8, b, 4), 0);
	CHECK(b[0] == 0x00 && b[1] == 0xff && b[2] == 0x7f && b[3] == 0x80);
	CHECK_INT(bg_unhex("aBcD", 4, b, 2), 0); /* mixed case */
	CHECK(b[0] == 0xab && b[1] == 0xcd);
	CHECK_INT(bg_unhex("", 0, b, 0), 0);
	/* Odd lengths, and lengths that are not 2n. */
	CHECK_INT(bg_unhex("abc", 3, b, 1), -1);
	CHECK_INT(bg_unhex("abc", 3, b, 2), -1);
	CHECK_INT(bg_unhex("a", 1, b, 0), -1);
	CHECK_INT(bg_unhex("abcd", 4, b, 1), -1);
	CHECK_INT(bg_unhex("ab", 2, b, 2), -1);
	/* Not digits, anywhere. */
	CHECK_INT(bg_unhex("0g", 2, b, 1), -1);
	CHECK_INT(bg_unhex("g0", 2, b, 1), -1);
	CHECK_INT(bg_unhex(" 0", 2, b, 1), -1);
	CHECK_INT(bg_unhex("0x", 2, b, 1), -1);
	CHECK_INT(bg_unhex("-1", 2, b, 1), -1);
	CHECK_INT(bg_unhex("+f", 2, b, 1), -1); /* what sscanf("%2x") takes */
	CHECK_INT(bg_unhex("0\0", 2, b, 1), -1);
	CHECK_INT(bg_unhex("\xc3\xa9", 2, b, 1), -1);
	/* len, not the NUL, ends the input. */
	CHECK_INT(bg_unhex("abcdXX", 4, b, 2), 0);
	CHECK_INT(bg_unhex(NULL, 0, b, 0), -1);
}

static void test_unhex16(void)
{
	unsigned char d[16];
	static const unsigned char want[16] = { 0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04,
						0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42, 0x7e };

	CHECK_INT(bg_unhex16("d41d8cd98f00b204e9800998ecf8427e", d), 0);
	CHECK(memcmp(d, want, 16) == 0);
	memset(d, 0, sizeof(d));
	CHECK_INT(bg_unhex16("D41D8CD98F00B204E9800998ECF8427E", d), 0);
	CHECK(memcmp(d, want, 16) == 0);
	CHECK_INT(bg_unhex16("00000000000000000000000000000000", d), 0);
	CHECK_INT(d[0] | d[15], 0);
	CHECK_INT(bg_unhex16("ffffffffffffffffffffffffffffffff", d), 0);
	CHECK_INT(d[0] & d[15], 0xff);

	CHECK_INT(bg_unhex16(NULL, d), -1); /* a NULL column of the journal */
	CHECK_INT(bg_unhex16("", d), -1);
	CHECK_INT(bg_unhex16("d41d8cd98f00b204e9800998ecf8427", d), -1);   /* 31 */
	CHECK_INT(bg_unhex16("d41d8cd98f00b204e9800998ecf8427e0", d), -1); /* 33 */
	CHECK_INT(bg_unhex16("d41d8cd98f00b204e9800998ecf8427g", d), -1);
	CHECK_INT(bg_unhex16("g41d8cd98f00b204e9800998ecf8427e", d), -1);
	CHECK_INT(bg_unhex16("d41d8cd98f00b204e9800998ecf8427e-2", d), -1); /* an ETag */
	CHECK_INT(bg_unhex16("\"d41d8cd98f00b204e9800998ecf8427e\"", d), -1);
	CHECK_INT(bg_unhex16(" d41d8cd98f00b204e9800998ecf8427e", d), -1);
}

/* bg_url_decode of the NUL-terminated s; the result in out. */
static int dec(const char *s, bool plus, char *out, size_t cap)
{
	return bg_url_decode(s, strlen(s), plus, out, cap);
}

static void test_url_decode(void)
{
	char out[64];

	CHECK_INT(dec("a%20b", false, out, sizeof(out)), 3);
	CHECK_STR(out, "a b");
	CHECK_INT(dec("%e1%88%B4", false, out, sizeof(out)), 3); /* either case */
	CHECK_STR(out, "\xe1\x88\xb4");
	CHECK_INT(dec("%ff%FF%7f", false, out, sizeof(out)), 3);
	CHECK_STR(out, "\xff\xff\x7f");
	CHECK_INT(dec("", true, out, sizeof(out)), 0);
	CHECK_STR(out, "");
	/* '+': a space in form encoding (S3 listings), itself otherwise;
	 * %2B is '+' in both. */
	CHECK_INT(dec("a+b+", true, out, sizeof(out)), 4);
	CHECK_STR(out, "a b ");
	CHECK_INT(dec("a+b+", false, out, sizeof(out)), 4);
	CHECK_STR(out, "a+b+");
	CHECK_INT(dec("%2B%2b", true, out, sizeof(out)), 2);
	CHECK_STR(out, "++");
	CHECK_INT(dec("%20+", true, out, sizeof(out)), 2);
	CHECK_STR(out, "  ");
	/* A NUL is refused, escaped or raw. */
	CHECK_INT(dec("%00", false, out, sizeof(out)), BG_URL_BAD);
	CHECK_INT(dec("x%00y", true, out, sizeof(out)), BG_URL_BAD);
	CHECK_STR(out, "x"); /* what came before */
	CHECK_INT(bg_url_decode("a\0b", 3, false, out, sizeof(out)), BG_URL_BAD);
	CHECK_INT(dec("%01", false, out, sizeof(out)), 1); /* other controls pass */
	CHECK_INT(dec("%10", false, out, sizeof(out)), 1);
	/* Escapes cut short or not hex. */
	CHECK_INT(dec("%", false, out, sizeof(out)), BG_URL_BAD);
	CHECK_INT(dec("abc%2", false, out, sizeof(out)), BG_URL_BAD);
	CHECK_INT(dec("%zz", false, out, sizeof(out)), BG_URL_BAD);
	CHECK_INT(dec("%G0", false, out, sizeof(out)), BG_URL_BAD);
	CHECK_INT(dec("%0g", false, out, sizeof(out)), BG_URL_BAD);
	CHECK_INT(dec("%+1", true, out, sizeof(out)), BG_URL_BAD);
	CHECK_INT(dec("%%41", false, out, sizeof(out)), BG_URL_BAD);
	CHECK_INT(dec("%\xc3\xa9", false, out, sizeof(out)), BG_URL_BAD);
	/* n bounds the input: "%41" cut to "%4" is malformed, cut to 3 is A. */
	CHECK_INT(bg_url_decode("%41", 2, false, out, sizeof(out)), BG_URL_BAD);
	CHECK_INT(bg_url_decode("%41%", 3, false, out, sizeof(out)), 1);
	CHECK_STR(out, "A");
	/* cap counts the NUL. */
	CHECK_INT(dec("ab", false, out, 2), BG_URL_LONG);
	CHECK_STR(out, "a");
	CHECK_INT(dec("ab", false, out, 3), 2);
	CHECK_INT(dec("%41%42", false, out, 3), 2);
	CHECK_INT(dec("%41%42", false, out, 2), BG_URL_LONG);
	CHECK_INT(dec("", false, out, 1), 0);
	CHECK_INT(bg_url_decode("", 0, false, out, 0), BG_URL_LONG);
}

static void test_url_decode_in_place(void)
{
	char s[] = "a%2Fb+c%41%42";

	CHECK_INT(bg_url_decode(s, strlen(s), true, s, sizeof(s)), 7);
	CHECK_STR(s, "a/b cAB");
	char t[] = "%41%42%43";
	CHECK_INT(bg_url_decode(t, strlen(t), false, t, sizeof(t)), 3);
	CHECK_STR(t, "ABC");
}

/* What SigV4 encodes, decoding gives back: every byte but NUL, in both
 * modes (the encoder writes '+' and ' ' as %2B and %20). */
static void test_round_trip(void)
{
	char all[255], enc[3 * 255 + 1], back[256];

	for (int i = 0; i < 255; i++)
		all[i] = (char)(i + 1);
	for (int plus = 0; plus < 2; plus++) {
		int n = bg_uri_encode(all, 255, plus, enc, sizeof(enc));
		CHECK(n > 255);
		CHECK_INT(bg_url_decode(enc, (size_t)n, plus, back, sizeof(back)), 255);
		CHECK(memcmp(all, back, 255) == 0);
	}
	CHECK_INT(bg_uri_encode("\0", 1, false, enc, sizeof(enc)), 3);
	CHECK_INT(bg_url_decode(enc, 3, false, back, sizeof(back)), BG_URL_BAD);
}

int main(void)
{
	test_hex_digit();
	test_hex_round_trip();
	test_unhex();
	test_unhex16();
	test_url_decode();
	test_url_decode_in_place();
	test_round_trip();
	CHECK_DONE();
}
