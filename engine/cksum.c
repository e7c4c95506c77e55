/* cksum.c - CRC32C (hardware or table) and base64. */
#include "cksum.h"

#include <stdbool.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>
#endif

static uint32_t table[8][256];
static bool table_ready;

static void make_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
	table_ready = true;
}

static uint32_t crc_sw(uint32_t crc, const unsigned char *p, size_t n)
{
	if (!table_ready)
		make_table();
	while (n >= 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
				     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
		      table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^ table[3][p[4]] ^
		      table[2][p[5]] ^ table[1][p[6]] ^ table[0][p[7]];
		p += 8;
		n -= 8;
	}
	while (n--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return crc;
}

#if defined(__x86_64__)
/* The crc32 instruction takes 3 cycles but can start one per cycle, so
 * three independent streams over three adjacent blocks run about three
 * times as fast as one.  The streams are then joined: the raw CRC register
 * is linear, so the state after A then B is shift(state after A, |B|)
 * xor (B's state from zero), where shift appends |B| zero bytes.  shift
 * for a fixed length is a 32x32 bit matrix, applied here as four lookups
 * of 256 entries, one per byte of the state. */
#define CRC_BLOCK 4096 /* bytes per stream per round: 12 KiB a round */

static uint32_t block_shift[4][256];
static bool shift_ready;

/* The state after `n` zero bytes from state `s` (bit by bit; setup only). */
static uint32_t crc_zeros_slow(uint32_t s, size_t n)
{
	for (size_t i = 0; i < n * 8; i++)
		s = (s & 1) ? (s >> 1) ^ 0x82f63b78u : s >> 1;
	return s;
}

static void make_shift(void)
{
	uint32_t basis[32];
	for (int b = 0; b < 32; b++)
		basis[b] = crc_zeros_slow(1u << b, CRC_BLOCK);
	for (int k = 0; k < 4; k++)
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t v = 0, in = i << (8 * k);
			for (int b = 0; b < 32; b++)
				if (in >> b & 1)
					v ^= basis[b];
			block_shift[k][i] = v;
		}
	shift_ready = true;
}

static uint32_t shift_block(uint32_t s)
{
	return block_shift[0][s & 0xff] ^ block_shift[1][(s >> 8) & 0xff] ^
	       block_shift[2][(s >> 16) & 0xff] ^ block_shift[3][s >> 24];
}

__attribute__((target("sse4.2,crc32"))) static uint32_t crc_hw(uint32_t crc, const unsigned char *p,
							  size_t n)
{
	uint64_t c = crc;
	while (n && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		n--;
	}
	if (n >= 3 * CRC_BLOCK && !shift_ready)
		make_shift();
	while (n >= 3 * CRC_BLOCK) {
		uint64_t c1 = 0, c2 = 0;
		for (size_t i = 0; i < CRC_BLOCK; i += 8) {
			uint64_t v0, v1, v2;
			__builtin_memcpy(&v0, p + i, 8);
			__builtin_memcpy(&v1, p + CRC_BLOCK + i, 8);
			__builtin_memcpy(&v2, p + 2 * CRC_BLOCK + i, 8);
			c = _mm_crc32_u64(c, v0);
			c1 = _mm_crc32_u64(c1, v1);
			c2 = _mm_crc32_u64(c2, v2);
		}
		c = shift_block((uint32_t)c) ^ (uint32_t)c1;
		c = shift_block((uint32_t)c) ^ (uint32_t)c2;
		p += 3 * CRC_BLOCK;
		n -= 3 * CRC_BLOCK;
	}
	while (n >= 8) {
		uint64_t v;
		__builtin_memcpy(&v, p, 8);
		c = _mm_crc32_u64(c, v);
		p += 8;
		n -= 8;
	}
	while (n--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

uint32_t bg_crc32c(uint32_t crc, const void *p, size_t n)
{
	crc = ~crc;
#if defined(__x86_64__)
	static int have = -1;
	if (have < 0)
	{
		unsigned a, b, c, d;
		have = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2) ? 1 : 0;
	}
	if (have)
		return ~crc_hw(crc, p, n);
#endif
	return ~crc_sw(crc, p, n);
}

int bg_base64(const unsigned char *in, size_t n, char *out, size_t cap)
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t need = (n + 2) / 3 * 4;
	if (need + 1 > cap)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = a[(v >> 18) & 63];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = i + 1 < n ? a[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? a[v & 63] : '=';
	}
	out[o] = '\0';
	return (int)o;
}

