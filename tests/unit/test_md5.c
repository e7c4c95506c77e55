/* test_md5.c - engine/md5.c: the RFC 1321 appendix A.5 test suite, and
 * OpenSSL's MD5 as an independent reference over many lengths, split
 * points and lane counts (each lane with its own data and its own
 * history), so a lane that took another lane's words, or a state carried
 * wrongly between calls, shows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "check.h"
#include "md5.h"

static void hex(const unsigned char d[16], char out[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void ref_md5(const unsigned char *p, size_t n, unsigned char out[16])
{
	unsigned int l = 16;
	EVP_Digest(p, n, out, &l, EVP_md5(), NULL);
}

static void test_rfc1321(void)
{
	static const struct {
		const char *in, *md5;
	} v[] = {
		{ "", "d41d8cd98f00b204e9800998ecf8427e" },
		{ "a", "0cc175b9c0f1b6a831c399e269772661" },
		{ "abc", "900150983cd24fb0d6963f7d28e17f72" },
		{ "message digest", "f96b697d7cb7938d525a2f31aaf161d0" },
		{ "abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b" },
		{ "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
		  "d174ab98d277d9f5a5611c2c9f419d9f" },
		{ "1234567890123456789012345678901234567890"
		  "1234567890123456789012345678901234567890",
		  "57edf4a22be3c955ac49da2e2107b67a" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		bg_md5 m;
		unsigned char d[16];
		char h[33];
		bg_md5_init(&m);
		bg_md5_update(&m, v[i].in, strlen(v[i].in));
		bg_md5_final(&m, d);
		hex(d, h);
		CHECK_STR(h, v[i].md5);
	}
}

/* Every length from 0 to 300 (each padding case), fed in two pieces. */
static void test_lengths_and_splits(const unsigned char *buf)
{
	for (size_t n = 0; n <= 300; n++) {
		unsigned char want[16], got[16];
		ref_md5(buf, n, want);
		for (size_t cut = 0; cut <= n; cut += (n < 70 ? 1 : 13)) {
			bg_md5 m;
			bg_md5_init(&m);
			bg_md5_update(&m, buf, cut);
			bg_md5_update(&m, buf + cut, n - cut);
			bg_md5_final(&m, got);
			if (memcmp(want, got, 16) != 0) {
				fprintf(stderr, "length %zu cut %zu differs\n", n, cut);
				CHECK(0);
				return;
			}
		}
	}
}

/* n lanes, each its own data: a scalar prefix, `blocks` blocks side by
 * side (twice, so the lane state carries between calls), a scalar tail. */
static void test_lanes(const unsigned char *buf, size_t cap)
{
	for (unsigned n = 1; n <= BG_MD5_LANES; n++) {
		for (int round = 0; round < 20; round++) {
			bg_md5 st[BG_MD5_LANES], *m[BG_MD5_LANES];
			const unsigned char *p[BG_MD5_LANES];
			const unsigned char *start[BG_MD5_LANES];
			size_t pre[BG_MD5_LANES], tail[BG_MD5_LANES];
			size_t blocks1 = (size_t)(rand() % 40), blocks2 = (size_t)(rand() % 40);
			for (unsigned l = 0; l < n; l++) {
				start[l] = buf + (size_t)rand() % (cap / 2);
				pre[l] = 64 * (size_t)(rand() % 4);
				tail[l] = (size_t)(rand() % 200);
				m[l] = &st[l];
				bg_md5_init(m[l]);
				bg_md5_update(m[l], start[l], pre[l]);
				p[l] = start[l] + pre[l];
			}
			bg_md5_lanes(m, p, n, blocks1);
			for (unsigned l = 0; l < n; l++)
				p[l] += blocks1 * 64;
			bg_md5_lanes(m, p, n, blocks2);
			for (unsigned l = 0; l < n; l++) {
				size_t body = pre[l] + (blocks1 + blocks2) * 64;
				unsigned char want[16], got[16];
				bg_md5_update(m[l], start[l] + body, tail[l]);
				bg_md5_final(m[l], got);
				ref_md5(start[l], body + tail[l], want);
				if (memcmp(want, got, 16) != 0) {
					fprintf(stderr, "lanes %u round %d lane %u differs\n", n,
						round, l);
					CHECK(0);
					return;
				}
			}
		}
	}
}

/* A state saved after whole blocks and restored into a fresh context (as a
 * journal carries it from a killed run to its resume) goes on to the same
 * digest as the unbroken stream, against OpenSSL. */
static void test_state_restore(const unsigned char *buf)
{
	static const size_t cuts[] = { 0, 64, 4096, 65536, 1 << 19 };
	static const size_t ends[] = { 1 << 19, (1 << 19) + 1, (1 << 20) - 3 };
	for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++)
		for (size_t e = 0; e < sizeof(ends) / sizeof(ends[0]); e++) {
			bg_md5 a, b;
			unsigned char st[16], got[16], want[16];
			bg_md5_init(&a);
			bg_md5_update(&a, buf, cuts[c]);
			bg_md5_state(&a, st);
			memset(&b, 0xa5, sizeof(b)); /* nothing of a's context but st */
			bg_md5_restore(&b, st, cuts[c]);
			bg_md5_update(&b, buf + cuts[c], ends[e] - cuts[c]);
			bg_md5_final(&b, got);
			ref_md5(buf, ends[e], want);
			CHECK(memcmp(got, want, 16) == 0);
		}
}

int main(void)
{
	size_t cap = 1 << 20;
	unsigned char *buf = malloc(cap);
	CHECK(buf != NULL);
	if (!buf)
		return 1;
	srand(7);
	for (size_t i = 0; i < cap; i++)
		buf[i] = (unsigned char)rand();
	test_rfc1321();
	test_lengths_and_splits(buf);
	test_lanes(buf, cap);
	test_state_restore(buf);
	free(buf);
	printf("md5: %d lanes, %s\n", BG_MD5_LANES, check_failures ? "FAIL" : "ok");
	return check_failures ? 1 : 0;
}
