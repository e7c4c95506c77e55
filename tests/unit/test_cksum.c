/* test_cksum.c - engine/cksum.c: CRC-32C against its published check
 * values (the "123456789" check of the CRC catalogue and the iSCSI vectors
 * of RFC 3720 appendix B.4), streaming in pieces, base64 against the
 * RFC 4648 section 10 vectors, and hex digests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cksum.h"

/* Bit-at-a-time reference CRC-32C, independent of the engine's tables and
 * of the SSE4.2 instruction. */
static uint32_t crc_ref(uint32_t crc, const unsigned char *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
	}
	return ~crc;
}

static void test_crc_vectors(void)
{
	CHECK_INT(bg_crc32c(0, "123456789", 9), 0xE3069283u);
	CHECK_INT(bg_crc32c(0, "", 0), 0);
	CHECK_INT(bg_crc32c(0, NULL, 0), 0);
	CHECK_INT(bg_crc32c(0x12345678u, "", 0), 0x12345678u);

	unsigned char v[32];
	memset(v, 0, sizeof(v));
	CHECK_INT(bg_crc32c(0, v, 32), 0x8A9136AAu);
	memset(v, 0xFF, sizeof(v));
	CHECK_INT(bg_crc32c(0, v, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		v[i] = (unsigned char)i;
	CHECK_INT(bg_crc32c(0, v, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		v[i] = (unsigned char)(31 - i);
	CHECK_INT(bg_crc32c(0, v, 32), 0x113FDB5Cu);

	/* RFC 3720 B.4: an iSCSI Read (10) command PDU. */
	static const unsigned char pdu[48] = {
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
		0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	CHECK_INT(bg_crc32c(0, pdu, sizeof(pdu)), 0xD9963A56u);
	CHECK_INT(crc_ref(0, pdu, sizeof(pdu)), 0xD9963A56u);
	CHECK_INT(crc_ref(0, (const unsigned char *)"123456789", 9), 0xE3069283u);
}

/* Pieces of every length at every alignment give the one-shot value. */
static void test_crc_streaming(void)
{
	enum { N = 4096 + 61 };
	static unsigned char buf[N + 16];
	uint64_t s = 0x853c49e6748fea9bull;
	for (size_t i = 0; i < sizeof(buf); i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		buf[i] = (unsigned char)(s >> 56);
	}

	/* Against the bit-wise reference, from each start 0..15 (unaligned),
	 * for lengths around the 8-byte word loop. */
	size_t bad = 0;
	for (size_t start = 0; start < 16; start++)
		for (size_t n = 0; n <= 80; n++)
			bad += bg_crc32c(0, buf + start, n) != crc_ref(0, buf + start, n);
	CHECK_INT(bad, 0);
	bad = 0;
	for (size_t start = 0; start < 16; start++)
		bad += bg_crc32c(0, buf + start, N) != crc_ref(0, buf + start, N);
	CHECK_INT(bad, 0);

	uint32_t whole = bg_crc32c(0, buf + 3, N);
	CHECK_INT(whole, crc_ref(0, buf + 3, N));

	/* Long runs go three 4 KiB blocks at a time, joined by a shift: the
	 * lengths around one and several rounds, from every alignment. */
	enum { BIG = 5 * 12288 + 77 };
	static unsigned char big[BIG + 16];
	for (size_t i = 0; i < sizeof(big); i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		big[i] = (unsigned char)(s >> 56);
	}
	static const size_t longs[] = { 12287, 12288, 12289, 12288 + 4095, 2 * 12288 + 1, BIG };
	bad = 0;
	for (size_t k = 0; k < sizeof(longs) / sizeof(longs[0]); k++)
		for (size_t start = 0; start < 16; start += 3)
			bad += bg_crc32c(0x5a5a5a5au, big + start, longs[k]) !=
			       crc_ref(0x5a5a5a5au, big + start, longs[k]);
	CHECK_INT(bad, 0);

	/* Fixed piece sizes. */
	static const size_t pieces[] = { 1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4096 };
	for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
		uint32_t c = 0;
		for (size_t off = 0; off < N; off += pieces[k]) {
			size_t n = pieces[k] < N - off ? pieces[k] : N - off;
			c = bg_crc32c(c, buf + 3 + off, n);
		}
		if (c != whole)
			fprintf(stderr, "pieces of %zu: %08x != %08x\n", pieces[k], c, whole);
		CHECK_INT(c, whole);
	}

	/* Random piece sizes, including empty ones. */
	bad = 0;
	for (int trial = 0; trial < 200; trial++) {
		uint32_t c = 0;
		size_t off = 0;
		while (off < N) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			size_t n = (size_t)(s >> 33) % 40;
			if (n > N - off)
				n = N - off;
			c = bg_crc32c(c, buf + 3 + off, n);
			off += n;
		}
		bad += c != whole;
	}
	CHECK_INT(bad, 0);

	/* "1234" then "56789". */
	CHECK_INT(bg_crc32c(bg_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
}

static void b64(const char *in, const char *want)
{
	char out[64];
	memset(out, 'x', sizeof(out));
	int n = bg_base64((const unsigned char *)in, strlen(in), out, sizeof(out));
	CHECK_INT(n, strlen(want));
	CHECK_STR(out, want);
}

static void test_base64(void)
{
	/* RFC 4648 section 10. */
	b64("", "");
	b64("f", "Zg==");
	b64("fo", "Zm8=");
	b64("foo", "Zm9v");
	b64("foob", "Zm9vYg==");
	b64("fooba", "Zm9vYmE=");
	b64("foobar", "Zm9vYmFy");

	/* Every alphabet character, including '+' and '/'. */
	static const unsigned char all[] = { 0x00, 0x10, 0x83, 0x10, 0x51, 0x87, 0x20, 0x92, 0x8b,
					     0x30, 0xd3, 0x8f, 0x41, 0x14, 0x93, 0x51, 0x55, 0x97,
					     0x61, 0x96, 0x9b, 0x71, 0xd7, 0x9f, 0x82, 0x18, 0xa3,
					     0x92, 0x59, 0xa7, 0xa2, 0x9a, 0xab, 0xb2, 0xdb, 0xaf,
					     0xc3, 0x1c, 0xb3, 0xd3, 0x5d, 0xb7, 0xe3, 0x9e, 0xbb,
					     0xf3, 0xdf, 0xbf };
	char out[80];
	CHECK_INT(bg_base64(all, sizeof(all), out, sizeof(out)), 64);
	CHECK_STR(out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");

	/* An MD5 digest (16 bytes) takes 24 characters: Content-MD5 of "". */
	static const unsigned char md5_empty[16] = { 0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00,
						     0xb2, 0x04, 0xe9, 0x80, 0x09, 0x98,
						     0xec, 0xf8, 0x42, 0x7e };
	char md[25];
	CHECK_INT(bg_base64(md5_empty, 16, md, sizeof(md)), 24);
	CHECK_STR(md, "1B2M2Y8AsgTpgAmY7PhCfg==");
	/* A CRC32C (4 bytes, big-endian) takes 8: x-amz-checksum-crc32c. */
	static const unsigned char crc[4] = { 0xE3, 0x06, 0x92, 0x83 };
	char c8[9];
	CHECK_INT(bg_base64(crc, 4, c8, sizeof(c8)), 8);
	CHECK_STR(c8, "4waSgw==");

	/* Output plus NUL must fit: one byte short is -1 and nothing written
	 * past the cap. */
	char small[10];
	memset(small, 'x', sizeof(small));
	CHECK_INT(bg_base64(crc, 4, small, 8), -1);
	CHECK_INT(small[8], 'x');
	CHECK_INT(bg_base64((const unsigned char *)"", 0, small, 0), -1);
	CHECK_INT(bg_base64((const unsigned char *)"", 0, small, 1), 0);
	CHECK_STR(small, "");
	CHECK_INT(bg_base64((const unsigned char *)"foobar", 6, small, 8), -1);
	CHECK_INT(bg_base64((const unsigned char *)"foobar", 6, small, 9), 8);
	CHECK_STR(small, "Zm9vYmFy");
}

int main(void)
{
	test_crc_vectors();
	test_crc_streaming();
	test_base64();
	CHECK_DONE();
}
