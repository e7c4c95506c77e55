/* md5.c - MD5 (RFC 1321), one stream or BG_MD5_LANES side by side.
 *
 * The 64 steps are written once, as a macro over operators that mean the
 * same for a uint32_t and for a vector of them (the compiler's vector
 * extension; a scalar operand is spread over every lane), and expanded
 * for both. */
#include "md5.h"

#include <string.h>

/* The auxiliary functions of RFC 1321 section 3.4, in forms with one
 * operation fewer. */
#define MD5_F(b, c, d) ((d) ^ ((b) & ((c) ^ (d))))
#define MD5_G(b, c, d) ((c) ^ ((d) & ((b) ^ (c))))
#define MD5_H(b, c, d) ((b) ^ (c) ^ (d))
#define MD5_I(b, c, d) ((c) ^ ((b) | ~(d)))
#define MD5_ROTL(x, s) (((x) << (s)) | ((x) >> (32 - (s))))
#define MD5_STEP(f, a, b, c, d, x, k, s) \
	(a) = (b) + MD5_ROTL((a) + f((b), (c), (d)) + (x) + (k), (s))

/* One block: the state a..d, message words w[0..15]. */
#define MD5_BLOCK(a, b, c, d, w)                                  \
	do {                                                      \
		MD5_STEP(MD5_F, a, b, c, d, w[0], 0xd76aa478u, 7);   \
		MD5_STEP(MD5_F, d, a, b, c, w[1], 0xe8c7b756u, 12);  \
		MD5_STEP(MD5_F, c, d, a, b, w[2], 0x242070dbu, 17);  \
		MD5_STEP(MD5_F, b, c, d, a, w[3], 0xc1bdceeeu, 22);  \
		MD5_STEP(MD5_F, a, b, c, d, w[4], 0xf57c0fafu, 7);   \
		MD5_STEP(MD5_F, d, a, b, c, w[5], 0x4787c62au, 12);  \
		MD5_STEP(MD5_F, c, d, a, b, w[6], 0xa8304613u, 17);  \
		MD5_STEP(MD5_F, b, c, d, a, w[7], 0xfd469501u, 22);  \
		MD5_STEP(MD5_F, a, b, c, d, w[8], 0x698098d8u, 7);   \
		MD5_STEP(MD5_F, d, a, b, c, w[9], 0x8b44f7afu, 12);  \
		MD5_STEP(MD5_F, c, d, a, b, w[10], 0xffff5bb1u, 17); \
		MD5_STEP(MD5_F, b, c, d, a, w[11], 0x895cd7beu, 22); \
		MD5_STEP(MD5_F, a, b, c, d, w[12], 0x6b901122u, 7);  \
		MD5_STEP(MD5_F, d, a, b, c, w[13], 0xfd987193u, 12); \
		MD5_STEP(MD5_F, c, d, a, b, w[14], 0xa679438eu, 17); \
		MD5_STEP(MD5_F, b, c, d, a, w[15], 0x49b40821u, 22); \
		MD5_STEP(MD5_G, a, b, c, d, w[1], 0xf61e2562u, 5);   \
		MD5_STEP(MD5_G, d, a, b, c, w[6], 0xc040b340u, 9);   \
		MD5_STEP(MD5_G, c, d, a, b, w[11], 0x265e5a51u, 14); \
		MD5_STEP(MD5_G, b, c, d, a, w[0], 0xe9b6c7aau, 20);  \
		MD5_STEP(MD5_G, a, b, c, d, w[5], 0xd62f105du, 5);   \
		MD5_STEP(MD5_G, d, a, b, c, w[10], 0x02441453u, 9);  \
		MD5_STEP(MD5_G, c, d, a, b, w[15], 0xd8a1e681u, 14); \
		MD5_STEP(MD5_G, b, c, d, a, w[4], 0xe7d3fbc8u, 20);  \
		MD5_STEP(MD5_G, a, b, c, d, w[9], 0x21e1cde6u, 5);   \
		MD5_STEP(MD5_G, d, a, b, c, w[14], 0xc33707d6u, 9);  \
		MD5_STEP(MD5_G, c, d, a, b, w[3], 0xf4d50d87u, 14);  \
		MD5_STEP(MD5_G, b, c, d, a, w[8], 0x455a14edu, 20);  \
		MD5_STEP(MD5_G, a, b, c, d, w[13], 0xa9e3e905u, 5);  \
		MD5_STEP(MD5_G, d, a, b, c, w[2], 0xfcefa3f8u, 9);   \
		MD5_STEP(MD5_G, c, d, a, b, w[7], 0x676f02d9u, 14);  \
		MD5_STEP(MD5_G, b, c, d, a, w[12], 0x8d2a4c8au, 20); \
		MD5_STEP(MD5_H, a, b, c, d, w[5], 0xfffa3942u, 4);   \
		MD5_STEP(MD5_H, d, a, b, c, w[8], 0x8771f681u, 11);  \
		MD5_STEP(MD5_H, c, d, a, b, w[11], 0x6d9d6122u, 16); \
		MD5_STEP(MD5_H, b, c, d, a, w[14], 0xfde5380cu, 23); \
		MD5_STEP(MD5_H, a, b, c, d, w[1], 0xa4beea44u, 4);   \
		MD5_STEP(MD5_H, d, a, b, c, w[4], 0x4bdecfa9u, 11);  \
		MD5_STEP(MD5_H, c, d, a, b, w[7], 0xf6bb4b60u, 16);  \
		MD5_STEP(MD5_H, b, c, d, a, w[10], 0xbebfbc70u, 23); \
		MD5_STEP(MD5_H, a, b, c, d, w[13], 0x289b7ec6u, 4);  \
		MD5_STEP(MD5_H, d, a, b, c, w[0], 0xeaa127fau, 11);  \
		MD5_STEP(MD5_H, c, d, a, b, w[3], 0xd4ef3085u, 16);  \
		MD5_STEP(MD5_H, b, c, d, a, w[6], 0x04881d05u, 23);  \
		MD5_STEP(MD5_H, a, b, c, d, w[9], 0xd9d4d039u, 4);   \
		MD5_STEP(MD5_H, d, a, b, c, w[12], 0xe6db99e5u, 11); \
		MD5_STEP(MD5_H, c, d, a, b, w[15], 0x1fa27cf8u, 16); \
		MD5_STEP(MD5_H, b, c, d, a, w[2], 0xc4ac5665u, 23);  \
		MD5_STEP(MD5_I, a, b, c, d, w[0], 0xf4292244u, 6);   \
		MD5_STEP(MD5_I, d, a, b, c, w[7], 0x432aff97u, 10);  \
		MD5_STEP(MD5_I, c, d, a, b, w[14], 0xab9423a7u, 15); \
		MD5_STEP(MD5_I, b, c, d, a, w[5], 0xfc93a039u, 21);  \
		MD5_STEP(MD5_I, a, b, c, d, w[12], 0x655b59c3u, 6);  \
		MD5_STEP(MD5_I, d, a, b, c, w[3], 0x8f0ccc92u, 10);  \
		MD5_STEP(MD5_I, c, d, a, b, w[10], 0xffeff47du, 15); \
		MD5_STEP(MD5_I, b, c, d, a, w[1], 0x85845dd1u, 21);  \
		MD5_STEP(MD5_I, a, b, c, d, w[8], 0x6fa87e4fu, 6);   \
		MD5_STEP(MD5_I, d, a, b, c, w[15], 0xfe2ce6e0u, 10); \
		MD5_STEP(MD5_I, c, d, a, b, w[6], 0xa3014314u, 15);  \
		MD5_STEP(MD5_I, b, c, d, a, w[13], 0x4e0811a1u, 21); \
		MD5_STEP(MD5_I, a, b, c, d, w[4], 0xf7537e82u, 6);   \
		MD5_STEP(MD5_I, d, a, b, c, w[11], 0xbd3af235u, 10); \
		MD5_STEP(MD5_I, c, d, a, b, w[2], 0x2ad7d2bbu, 15);  \
		MD5_STEP(MD5_I, b, c, d, a, w[9], 0xeb86d391u, 21);  \
	} while (0)

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void md5_blocks(uint32_t h[4], const unsigned char *p, size_t blocks)
{
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
	for (; blocks; blocks--, p += 64) {
		uint32_t w[16];
		for (int i = 0; i < 16; i++)
			w[i] = le32(p + 4 * i);
		uint32_t a0 = a, b0 = b, c0 = c, d0 = d;
		MD5_BLOCK(a, b, c, d, w);
		a += a0;
		b += b0;
		c += c0;
		d += d0;
	}
	h[0] = a;
	h[1] = b;
	h[2] = c;
	h[3] = d;
}

void bg_md5_init(bg_md5 *m)
{
	m->h[0] = 0x67452301u;
	m->h[1] = 0xefcdab89u;
	m->h[2] = 0x98badcfeu;
	m->h[3] = 0x10325476u;
	m->n = 0;
}

void bg_md5_update(bg_md5 *m, const void *data, size_t n)
{
	const unsigned char *p = data;
	size_t have = (size_t)(m->n % 64);
	m->n += n;
	if (have) {
		size_t take = 64 - have < n ? 64 - have : n;
		memcpy(m->buf + have, p, take);
		p += take;
		n -= take;
		if (have + take < 64)
			return;
		md5_blocks(m->h, m->buf, 1);
	}
	md5_blocks(m->h, p, n / 64);
	p += n / 64 * 64;
	if (n % 64)
		memcpy(m->buf, p, n % 64);
}

void bg_md5_state(const bg_md5 *m, unsigned char out[16])
{
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < 4; k++)
			out[4 * i + k] = (unsigned char)(m->h[i] >> (8 * k));
}

void bg_md5_restore(bg_md5 *m, const unsigned char in[16], uint64_t n)
{
	for (int i = 0; i < 4; i++)
		m->h[i] = (uint32_t)in[4 * i] | (uint32_t)in[4 * i + 1] << 8 |
			  (uint32_t)in[4 * i + 2] << 16 | (uint32_t)in[4 * i + 3] << 24;
	m->n = n;
}

void bg_md5_final(bg_md5 *m, unsigned char out[16])
{
	uint64_t bits = m->n * 8;
	size_t have = (size_t)(m->n % 64);
	unsigned char pad[72];
	size_t padn = (have < 56 ? 56 : 120) - have;
	memset(pad, 0, sizeof(pad));
	pad[0] = 0x80;
	for (int i = 0; i < 8; i++)
		pad[padn + (size_t)i] = (unsigned char)(bits >> (8 * i));
	bg_md5_update(m, pad, padn + 8);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++)
			out[4 * i + j] = (unsigned char)(m->h[i] >> (8 * j));
}

/* md5_lanesW: W lanes in vectors of W words.  Unused lanes repeat lane 0
 * and their results are dropped. */
#define MD5_LANES_FN(W)                                                          \
	typedef uint32_t md5_vec##W __attribute__((vector_size(4 * (W))));      \
	static void md5_lanes##W(bg_md5 *const m[], const unsigned char *const p[], \
				 unsigned n, size_t blocks)                      \
	{                                                                        \
		const unsigned char *src[W];                                     \
		md5_vec##W a, b, c, d;                                           \
		for (unsigned l = 0; l < (W); l++) {                             \
			unsigned from = l < n ? l : 0;                           \
			src[l] = p[from];                                        \
			a[l] = m[from]->h[0];                                    \
			b[l] = m[from]->h[1];                                    \
			c[l] = m[from]->h[2];                                    \
			d[l] = m[from]->h[3];                                    \
		}                                                                \
		for (size_t k = 0; k < blocks; k++) {                            \
			md5_vec##W w[16];                                        \
			for (unsigned l = 0; l < (W); l++) {                     \
				const unsigned char *q = src[l] + k * 64;        \
				for (int i = 0; i < 16; i++)                     \
					w[i][l] = le32(q + 4 * i);               \
			}                                                        \
			md5_vec##W a0 = a, b0 = b, c0 = c, d0 = d;               \
			MD5_BLOCK(a, b, c, d, w);                                \
			a += a0;                                                 \
			b += b0;                                                 \
			c += c0;                                                 \
			d += d0;                                                 \
		}                                                                \
		for (unsigned l = 0; l < n; l++) {                               \
			m[l]->h[0] = a[l];                                       \
			m[l]->h[1] = b[l];                                       \
			m[l]->h[2] = c[l];                                       \
			m[l]->h[3] = d[l];                                       \
			m[l]->n += (uint64_t)blocks * 64;                        \
		}                                                                \
	}

MD5_LANES_FN(4)
#if BG_MD5_LANES >= 8
MD5_LANES_FN(8)
#endif
#if BG_MD5_LANES >= 16
MD5_LANES_FN(16)
#endif

/* The narrowest vectors that hold n lanes: a lane left empty costs as
 * much as a full one. */
void bg_md5_lanes(bg_md5 *const m[], const unsigned char *const p[], unsigned n,
		  size_t blocks)
{
	if (n == 1) {
		md5_blocks(m[0]->h, p[0], blocks);
		m[0]->n += (uint64_t)blocks * 64;
	} else if (n <= 4) {
		md5_lanes4(m, p, n, blocks);
#if BG_MD5_LANES >= 8
	} else if (n <= 8) {
		md5_lanes8(m, p, n, blocks);
#endif
#if BG_MD5_LANES >= 16
	} else {
		md5_lanes16(m, p, n, blocks);
#endif
	}
}
