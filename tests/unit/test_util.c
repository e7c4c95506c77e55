/* test_util.c - engine/util.c: size and integer parsing (what --memory,
 * --part-size, --concurrency and the servers' numbers go through), the
 * capped buffer, truncating string copies, hex, error plumbing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "util.h"

#define MIB (1ull << 20)
#define GIB (1ull << 30)

static void size_ok(const char *s, uint64_t want)
{
	uint64_t v = 12345;
	int r = bg_parse_size(s, &v);
	if (r != 0 || v != want)
		fprintf(stderr, "bg_parse_size(\"%s\"): r=%d v=%llu, want %llu\n", s, r,
			(unsigned long long)v, (unsigned long long)want);
	CHECK_INT(r, 0);
	CHECK_INT(v, want);
}

static void size_bad(const char *s)
{
	uint64_t v = 12345;
	int r = bg_parse_size(s, &v);
	if (r != -1)
		fprintf(stderr, "bg_parse_size(\"%s\") accepted: %llu\n", s ? s : "(null)",
			(unsigned long long)v);
	CHECK_INT(r, -1);
	CHECK_INT(v, 12345); /* untouched */
}

static void test_parse_size(void)
{
	size_ok("16M", 16 * MIB);
	size_ok("16MiB", 16 * MIB);
	size_ok("16MB", 16 * MIB);
	size_ok("16m", 16 * MIB);
	size_ok("1G", GIB);
	size_ok("1GiB", GIB);
	size_ok("512k", 512 * 1024);
	size_ok("512K", 512 * 1024);
	size_ok("512KiB", 512 * 1024);
	size_ok("1048576", MIB);
	size_ok("1.5G", GIB + GIB / 2);
	size_ok("0.5M", MIB / 2);
	size_ok("2T", 2ull << 40);
	size_ok("0", 0);
	size_ok("100B", 100);
	size_ok("100b", 100);
	size_ok("5368709120", 5 * GIB);

	size_bad("");
	size_bad(NULL);
	size_bad("-1");
	size_bad("-1M");
	size_bad("+1M");
	size_bad("abc");
	size_bad("16X");
	size_bad("M");
	size_bad("MiB");
	size_bad(".5M");
	size_bad(" 16M");
	size_bad("16 M");
	size_bad("16M ");
	size_bad("16Mi");
	size_bad("16MiBB");
	size_bad("16iB");
	size_bad("16BB");
	size_bad("1..5G");
	size_bad("99999999T"); /* over 2^63 */
	size_bad("1e300");
	size_bad("1e3");    /* strtod alone took these */
	size_bad("1E3M");
	size_bad("0x10");
	size_bad("0x1p4");
	size_bad("1.");
	size_bad("1.M");
	size_bad("1.5.2M");
}

static void u64_ok(const char *s, uint64_t min, uint64_t max, uint64_t want)
{
	uint64_t v = 777;
	CHECK_INT(bg_parse_u64(s, min, max, &v), 0);
	if (v != want)
		fprintf(stderr, "bg_parse_u64(\"%s\") = %llu\n", s, (unsigned long long)v);
	CHECK(v == want);
}

static void u64_bad(const char *s, uint64_t min, uint64_t max)
{
	uint64_t v = 777;
	int r = bg_parse_u64(s, min, max, &v);
	if (r != -1)
		fprintf(stderr, "bg_parse_u64(\"%s\", %llu, %llu) accepted: %llu\n", s ? s : "(null)",
			(unsigned long long)min, (unsigned long long)max, (unsigned long long)v);
	CHECK_INT(r, -1);
	CHECK_INT(v, 777);
}

static void test_parse_u64(void)
{
	u64_ok("0", 0, 10, 0);
	u64_ok("1", 1, 1024, 1);
	u64_ok("1024", 1, 1024, 1024);
	u64_ok("007", 0, 10, 7);
	u64_ok("18446744073709551615", 0, UINT64_MAX, UINT64_MAX);
	u64_ok("3600", 0, 3600, 3600);

	u64_bad("0", 1, 1024);
	u64_bad("1025", 1, 1024);
	u64_bad("3601", 0, 3600);
	u64_bad("18446744073709551616", 0, UINT64_MAX); /* ERANGE */
	u64_bad("99999999999999999999999", 0, UINT64_MAX);
	u64_bad("", 0, 10);
	u64_bad(NULL, 0, 10);
	u64_bad("-1", 0, UINT64_MAX);
	u64_bad("-0", 0, 10);
	u64_bad("+1", 0, 10);
	u64_bad("1x", 0, 10);
	u64_bad("1 ", 0, 10);
	u64_bad("1.0", 0, 10);
	u64_bad("0x5", 0, 10);
	u64_bad("x", 0, 10);
	/* A decimal number, nothing around it: strtoull would skip the
	 * blanks and accept a sign after them ("\t-1" is 2^64 - 1). */
	u64_bad(" 1", 0, 10);
	u64_bad("\n5", 0, 10);
	u64_bad(" -1", 0, UINT64_MAX);
	u64_bad("\t-1", 0, UINT64_MAX);
	u64_bad(" +1", 0, 10);
}

static void test_buf(void)
{
	bg_buf b;
	bg_buf_init(&b, 10);
	CHECK(b.data == NULL);
	CHECK_INT(b.len, 0);
	CHECK_INT(bg_buf_add(&b, "hello", 5), 0);
	CHECK_INT(b.len, 5);
	CHECK_STR(b.data, "hello");
	CHECK_INT(bg_buf_add(&b, "world", 5), 0); /* exactly the cap */
	CHECK_STR(b.data, "helloworld");
	CHECK_INT(bg_buf_add(&b, "!", 1), -1);
	CHECK_INT(b.len, 10);
	CHECK_STR(b.data, "helloworld");
	CHECK_INT(bg_buf_add(&b, "", 0), 0);
	CHECK_INT(bg_buf_addf(&b, "%d", 1), -1);
	CHECK_INT(b.len, 10);
	CHECK(b.alloc <= b.cap + 1);
	bg_buf_reset(&b);
	CHECK_INT(b.len, 0);
	CHECK_STR(b.data, "");
	CHECK_INT(bg_buf_addf(&b, "%s-%d", "ab", 42), 0);
	CHECK_STR(b.data, "ab-42");
	CHECK_INT(bg_buf_add(&b, "0123456789", 10), -1); /* 5 + 10 > 10 */
	CHECK_STR(b.data, "ab-42");
	CHECK_INT(bg_buf_add(&b, NULL, SIZE_MAX), -1);    /* no overflow */
	CHECK_INT(bg_buf_add(&b, NULL, SIZE_MAX - 2), -1);
	CHECK_INT(b.len, 5);
	bg_buf_free(&b);
	CHECK(b.data == NULL);
	CHECK_INT(b.len, 0);
	/* Usable again after free, same cap. */
	CHECK_INT(bg_buf_add(&b, "0123456789", 10), 0);
	CHECK_INT(bg_buf_add(&b, "x", 1), -1);
	bg_buf_free(&b);

	/* Cap 0: only nothing fits. */
	bg_buf_init(&b, 0);
	CHECK_INT(bg_buf_add(&b, "", 0), 0);
	CHECK_INT(b.len, 0);
	CHECK_STR(b.data, "");
	CHECK_INT(bg_buf_add(&b, "x", 1), -1);
	bg_buf_free(&b);

	/* Growth past the first allocation, byte-exact. */
	bg_buf_init(&b, 100000);
	char chunk[301];
	size_t total = 0;
	int bad = 0;
	for (int i = 0; i < 300; i++) {
		size_t n = (size_t)(i * 37 % 301);
		memset(chunk, 'a' + i % 26, n);
		if (total + n > 100000) {
			CHECK_INT(bg_buf_add(&b, chunk, n), -1);
			break;
		}
		CHECK_INT(bg_buf_add(&b, chunk, n), 0);
		total += n;
	}
	CHECK_INT(b.len, total);
	CHECK_INT(strlen(b.data), total);
	CHECK(b.alloc <= b.cap + 1);
	/* Check the content again by regenerating it. */
	size_t pos = 0;
	for (int i = 0; i < 300 && pos < total; i++) {
		size_t n = (size_t)(i * 37 % 301);
		for (size_t k = 0; k < n && pos < total; k++, pos++)
			bad += b.data[pos] != 'a' + i % 26;
	}
	CHECK_INT(bad, 0);
	bg_buf_free(&b);

	/* bg_buf_addf longer than its 1 KiB stack buffer. */
	bg_buf_init(&b, 4096);
	char big[2001];
	memset(big, 'q', 2000);
	big[2000] = '\0';
	CHECK_INT(bg_buf_addf(&b, "<%s>", big), 0);
	CHECK_INT(b.len, 2002);
	CHECK_INT(b.data[0], '<');
	CHECK_INT(b.data[2001], '>');
	CHECK_INT(bg_buf_addf(&b, "%s%s", big, big), -1); /* 2002 + 4000 > 4096 */
	CHECK_INT(b.len, 2002);
	bg_buf_free(&b);
}

static void test_strings(void)
{
	char d[8];
	CHECK_INT(bg_strlcpy(d, "hello", sizeof(d)), 0);
	CHECK_STR(d, "hello");
	CHECK_INT(bg_strlcpy(d, "1234567", sizeof(d)), 0); /* exactly fits */
	CHECK_STR(d, "1234567");
	CHECK_INT(bg_strlcpy(d, "12345678", sizeof(d)), -1);
	CHECK_STR(d, "1234567");
	CHECK_INT(bg_strlcpy(d, "a much longer string", sizeof(d)), -1);
	CHECK_STR(d, "a much ");
	CHECK_INT(bg_strlcpy(d, "", sizeof(d)), 0);
	CHECK_STR(d, "");
	CHECK_INT(bg_strlcpy(d, "xy", 1), -1);
	CHECK_STR(d, "");
	memset(d, 'z', sizeof(d));
	CHECK_INT(bg_strlcpy(d, "xy", 0), -1);
	CHECK_INT(d[0], 'z'); /* cap 0: nothing written */

	char s[8];
	CHECK_INT(bg_snprintf(s, sizeof(s), "%d", 42), 2);
	CHECK_STR(s, "42");
	CHECK_INT(bg_snprintf(s, sizeof(s), "%s", "1234567"), 7);
	CHECK_STR(s, "1234567");
	CHECK_INT(bg_snprintf(s, sizeof(s), "%s", "12345678"), -1);
	CHECK_STR(s, "1234567");
	CHECK_INT(bg_snprintf(s, sizeof(s), "%s/%s", "bucket", "key"), -1);
	CHECK_STR(s, "bucket/");
	CHECK_INT(bg_snprintf(s, sizeof(s), "%s", ""), 0);
	CHECK_STR(s, "");
	memset(s, 'z', sizeof(s));
	CHECK_INT(bg_snprintf(s, 0, "%s", "x"), -1);
	CHECK_INT(s[0], 'z');

	char h[16];
	static const unsigned char bytes[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	bg_hex(bytes, sizeof(bytes), h);
	CHECK_STR(h, "00017f80abff");
	memset(h, 'z', sizeof(h));
	bg_hex(bytes, 0, h);
	CHECK_STR(h, "");
	unsigned char all[256];
	char hx[513];
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	bg_hex(all, sizeof(all), hx);
	CHECK_INT(strlen(hx), 512);
	CHECK(memcmp(hx, "000102", 6) == 0);
	CHECK(memcmp(hx + 2 * 0xa5, "a5", 2) == 0);
	CHECK(memcmp(hx + 506, "fdfeff", 6) == 0);
}

static void test_status(void)
{
	bg_status st;
	memset(&st, 0, sizeof(st));
	CHECK_INT(bg_fail(&st, BG_E_CONFIG, "no %s for %d", "key", 3), BG_E_CONFIG);
	CHECK_INT(st.code, BG_E_CONFIG);
	CHECK_STR(st.msg, "no key for 3");
	CHECK_INT(bg_fail(NULL, BG_E_NET, "ignored"), BG_E_NET);
	char longer[BG_MSG_MAX * 2];
	memset(longer, 'm', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	CHECK_INT(bg_fail(&st, BG_E_HTTP, "%s", longer), BG_E_HTTP);
	CHECK_INT(strlen(st.msg), BG_MSG_MAX - 1);

	CHECK_STR(bg_err_name(BG_OK), "ok");
	CHECK_STR(bg_err_name(BG_E_CHANGED), "changed");
	for (int e = BG_OK; e <= BG_E_BUSY; e++)
		CHECK(strcmp(bg_err_name((bg_err)e), "unknown") != 0);

	uint64_t t0 = bg_now_ns(), t1 = bg_now_ns();
	CHECK(t0 > 0);
	CHECK(t1 >= t0);
}

int main(void)
{
	test_parse_size();
	test_parse_u64();
	test_buf();
	test_strings();
	test_status();
	CHECK_DONE();
}
