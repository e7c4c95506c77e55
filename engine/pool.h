/* pool.h - the part-buffer pool: one region of --memory bytes mapped at
 * start and cut into fixed blocks.  A part holds a chain of blocks; the
 * free count is the copy's backpressure.  No allocation after init.
 * Reservations are all-or-nothing so a part never waits half-filled. */
#ifndef BG_POOL_H
#define BG_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util.h"

#define BG_POOL_NONE UINT32_MAX

typedef struct bg_pool {
	unsigned char *base;
	size_t block_size;
	uint32_t nblocks;
	uint32_t nfree;
	uint32_t free_head;
	uint32_t *next; /* chain links, one per block */
	uint32_t peak_used;
	size_t populated; /* bytes from base whose pages were faulted in ahead */
} bg_pool;

/* A chain of blocks holding `len` bytes (capacity nblocks * block_size). */
typedef struct bg_chain {
	uint32_t head;
	uint32_t nblocks;
	uint64_t len;
	uint32_t wblk; /* block holding offset len (append cursor) */
	uint32_t rblk; /* read cursor: block holding offset roff */
	uint64_t roff;
} bg_chain;

int bg_pool_init(bg_pool *p, uint64_t memory, size_t block_size, bg_status *st);
void bg_pool_free(bg_pool *p);

/* Blocks needed to hold n bytes. */
uint32_t bg_pool_blocks_for(const bg_pool *p, uint64_t n);

/* Takes enough blocks for `bytes` (all or nothing). 0, or -1 when fewer
 * blocks are free (try later).  A zero-byte chain takes no block. */
int bg_pool_reserve(bg_pool *p, uint64_t bytes, bg_chain *c);
void bg_pool_release(bg_pool *p, bg_chain *c);

/* Empties the chain for a refill (a retried GET); keeps its blocks. */
void bg_chain_rewind(bg_chain *c);

/* Copies n bytes into the chain at offset c->len (which advances).
 * -1 if the bytes do not fit the reservation. */
int bg_chain_append(bg_pool *p, bg_chain *c, const void *src, size_t n);
/* Copies up to n bytes from offset off into dst; returns bytes copied.
 * Sequential reads (off equal to the previous off + n) are O(n). */
size_t bg_chain_read(const bg_pool *p, bg_chain *c, uint64_t off, void *dst, size_t n);
/* Describes up to `max` iovecs of the chain's capacity from byte `off`
 * (at most `len` bytes), merging blocks that lie next to each other, for
 * file reads into the chain and writes out of it.  Returns the count. */
unsigned bg_chain_iov(const bg_pool *p, const bg_chain *c, uint64_t off, uint64_t len,
		      struct iovec *iov, unsigned max);
/* The chain now holds n bytes that a file read put there (n at most its
 * capacity). */
void bg_chain_set_len(bg_pool *p, bg_chain *c, uint64_t n);

/* Calls fn over each contiguous piece of [0, c->len). */
void bg_chain_each(const bg_pool *p, const bg_chain *c,
		   void (*fn)(void *ctx, const unsigned char *p, size_t n), void *ctx);

/* A cursor that walks a chain's bytes forward one block at a time,
 * without walking the links from the head again. */
typedef struct bg_chain_cur {
	uint32_t blk; /* block holding offset off (BG_POOL_NONE past the end) */
	uint64_t off;
} bg_chain_cur;

void bg_chain_cur_start(const bg_chain *c, bg_chain_cur *k);
/* The contiguous bytes from the cursor up to the end of its block or to
 * offset `end`, whichever is first: their length (0 when none) and *at. */
size_t bg_chain_cur_peek(const bg_pool *p, const bg_chain_cur *k, uint64_t end,
			 const unsigned char **at);
/* Moves the cursor n bytes on; n at most what peek returned. */
void bg_chain_cur_advance(const bg_pool *p, bg_chain_cur *k, size_t n);

#endif
