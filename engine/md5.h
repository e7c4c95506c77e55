/* md5.h - MD5 (RFC 1321) for Content-MD5 and ETags, one stream at a time
 * or several side by side: a copy has many parts arriving at once, and
 * MD5's chain of dependent steps leaves a core mostly idle on one stream,
 * so bg_md5_lanes hashes up to BG_MD5_LANES parts in the lanes of one
 * vector register set. */
#ifndef BG_MD5_H
#define BG_MD5_H

#include <stddef.h>
#include <stdint.h>

#if defined(__AVX512F__)
#define BG_MD5_LANES 16
#elif defined(__AVX2__)
#define BG_MD5_LANES 8
#else
#define BG_MD5_LANES 4
#endif

typedef struct bg_md5 {
	uint32_t h[4];
	uint64_t n;             /* bytes taken */
	unsigned char buf[64]; /* the partial block: n % 64 bytes */
} bg_md5;

void bg_md5_init(bg_md5 *m);
void bg_md5_update(bg_md5 *m, const void *p, size_t n);
/* Writes the digest; m must be initialised again before reuse. */
void bg_md5_final(bg_md5 *m, unsigned char out[16]);

/* The chaining state of m, which must hold no partial block (m->n a
 * multiple of 64), as 16 bytes (h[0..3], little-endian); and m set back
 * to such a state after n bytes.  A journal keeps it between runs. */
void bg_md5_state(const bg_md5 *m, unsigned char out[16]);
void bg_md5_restore(bg_md5 *m, const unsigned char in[16], uint64_t n);

/* Takes `blocks` 64-byte blocks from p[i] into m[i] for each i < n
 * (1 <= n <= BG_MD5_LANES), as bg_md5_update would, with the lanes
 * computed together.  Each m[i] must hold no partial block (m->n a
 * multiple of 64). */
void bg_md5_lanes(bg_md5 *const m[], const unsigned char *const p[], unsigned n,
		  size_t blocks);

#endif
