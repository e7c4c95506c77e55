/* pool.c - fixed block pool for part buffers (see pool.h). */
#include "pool.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int bg_pool_init(bg_pool *p, uint64_t memory, size_t block_size, bg_status *st)
{
	memset(p, 0, sizeof(*p));
	BG_ASSERT(block_size >= 4096 && (block_size & (block_size - 1)) == 0);
	uint64_t n = memory / block_size;
	if (n == 0 || n >= BG_POOL_NONE)
		return bg_fail(st, BG_E_USAGE, "--memory %llu is out of range",
			       (unsigned long long)memory);
	/* Pages are touched only when a block is first used. */
	void *base = mmap(NULL, (size_t)(n * block_size), PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return bg_fail(st, BG_E_NOMEM, "cannot reserve --memory %llu bytes",
			       (unsigned long long)memory);
	p->next = malloc(n * sizeof(uint32_t));
	if (!p->next) {
		munmap(base, (size_t)(n * block_size));
		return bg_fail(st, BG_E_NOMEM, "out of memory for the block table");
	}
	p->base = base;
	p->block_size = block_size;
	p->nblocks = (uint32_t)n;
	p->nfree = (uint32_t)n;
	for (uint32_t i = 0; i < n; i++)
		p->next[i] = i + 1 < n ? i + 1 : BG_POOL_NONE;
	p->free_head = 0;
	return 0;
}

void bg_pool_free(bg_pool *p)
{
	if (p->base)
		munmap(p->base, (size_t)p->nblocks * p->block_size);
	free(p->next);
	memset(p, 0, sizeof(*p));
}

uint32_t bg_pool_blocks_for(const bg_pool *p, uint64_t n)
{
	uint64_t b = (n + p->block_size - 1) / p->block_size;
	return b > UINT32_MAX ? UINT32_MAX : (uint32_t)b;
}

#define POPULATE_CHUNK (2u << 20)

/* The free list holds the released blocks first, then those never used,
 * in index order; so blocks [0, peak_used) are all that were ever handed
 * out, and the next new one is always block peak_used.  Their pages are
 * faulted in ahead, 2 MiB at a time, with one call each: a first pass
 * through a 1 GiB pool is otherwise 262,144 page faults (a tenth of a
 * large copy's profile).  Only advice: where the kernel has no
 * MADV_POPULATE_WRITE the pages fault in as they are written. */
static void pool_populate(bg_pool *p)
{
#ifdef MADV_POPULATE_WRITE
	size_t used = (size_t)p->peak_used * p->block_size;
	size_t end = (size_t)p->nblocks * p->block_size;
	if (used <= p->populated)
		return;
	size_t to = (used + POPULATE_CHUNK - 1) / POPULATE_CHUNK * POPULATE_CHUNK;
	if (to > end)
		to = end;
	if (madvise(p->base + p->populated, to - p->populated, MADV_POPULATE_WRITE) == 0)
		p->populated = to;
	else
		p->populated = end; /* refused: stop asking */
#else
	(void)p;
#endif
}

int bg_pool_reserve(bg_pool *p, uint64_t bytes, bg_chain *c)
{
	uint32_t need = bg_pool_blocks_for(p, bytes);
	c->head = c->wblk = c->rblk = BG_POOL_NONE;
	c->nblocks = 0;
	c->len = c->roff = 0;
	if (need > p->nfree)
		return -1;
	/* Pop `need` blocks; the chain keeps them in free-list order. */
	uint32_t head = p->free_head, last = BG_POOL_NONE, cur = head;
	for (uint32_t i = 0; i < need; i++) {
		last = cur;
		cur = p->next[cur];
	}
	if (need) {
		p->next[last] = BG_POOL_NONE;
		c->head = head;
		p->free_head = cur;
	}
	c->nblocks = need;
	c->wblk = c->rblk = c->head;
	c->roff = 0;
	p->nfree -= need;
	if (p->nblocks - p->nfree > p->peak_used) {
		p->peak_used = p->nblocks - p->nfree;
		pool_populate(p);
	}
	return 0;
}

void bg_pool_release(bg_pool *p, bg_chain *c)
{
	if (!c->nblocks)
		return;
	uint32_t last = c->head;
	for (uint32_t i = 1; i < c->nblocks; i++)
		last = p->next[last];
	BG_DEBUG_ASSERT(p->next[last] == BG_POOL_NONE);
	p->next[last] = p->free_head;
	p->free_head = c->head;
	p->nfree += c->nblocks;
	BG_ASSERT(p->nfree <= p->nblocks);
	c->head = c->wblk = c->rblk = BG_POOL_NONE;
	c->nblocks = 0;
	c->len = c->roff = 0;
}

/* Block index holding byte `off` of the chain. */
static uint32_t block_at(const bg_pool *p, const bg_chain *c, uint64_t off)
{
	uint32_t b = c->head;
	for (uint64_t i = off / p->block_size; i > 0; i--)
		b = p->next[b];
	return b;
}

void bg_chain_rewind(bg_chain *c)
{
	c->len = c->roff = 0;
	c->wblk = c->rblk = c->head;
}

int bg_chain_append(bg_pool *p, bg_chain *c, const void *src, size_t n)
{
	if (n > (uint64_t)c->nblocks * p->block_size - c->len)
		return -1;
	const unsigned char *s = src;
	uint32_t b = c->wblk;
	while (n) {
		size_t in = (size_t)(c->len % p->block_size);
		size_t take = p->block_size - in;
		if (take > n)
			take = n;
		memcpy(p->base + (size_t)b * p->block_size + in, s, take);
		s += take;
		n -= take;
		c->len += take;
		if (c->len % p->block_size == 0)
			b = p->next[b];
	}
	c->wblk = b;
	return 0;
}

size_t bg_chain_read(const bg_pool *p, bg_chain *c, uint64_t off, void *dst, size_t n)
{
	if (off >= c->len)
		return 0;
	if (n > c->len - off)
		n = (size_t)(c->len - off);
	unsigned char *d = dst;
	size_t done = 0;
	uint32_t b = (off == c->roff && c->rblk != BG_POOL_NONE) ? c->rblk : block_at(p, c, off);
	while (done < n) {
		size_t in = (size_t)(off % p->block_size);
		size_t take = p->block_size - in;
		if (take > n - done)
			take = n - done;
		memcpy(d + done, p->base + (size_t)b * p->block_size + in, take);
		done += take;
		off += take;
		if (off % p->block_size == 0)
			b = p->next[b];
	}
	c->rblk = b;
	c->roff = off;
	return done;
}

void bg_chain_each(const bg_pool *p, const bg_chain *c,
		   void (*fn)(void *ctx, const unsigned char *ptr, size_t n), void *ctx)
{
	uint64_t left = c->len;
	uint32_t b = c->head;
	while (left) {
		size_t take = left < p->block_size ? (size_t)left : p->block_size;
		fn(ctx, p->base + (size_t)b * p->block_size, take);
		left -= take;
		b = p->next[b];
	}
}

unsigned bg_chain_iov(const bg_pool *p, const bg_chain *c, uint64_t off, uint64_t len,
		      struct iovec *iov, unsigned max)
{
	uint64_t cap = (uint64_t)c->nblocks * p->block_size;
	if (off >= cap)
		return 0;
	if (len > cap - off)
		len = cap - off;
	unsigned n = 0;
	uint32_t b = block_at(p, c, off);
	while (len && n < max) {
		size_t in = (size_t)(off % p->block_size);
		size_t take = p->block_size - in;
		if (take > len)
			take = (size_t)len;
		unsigned char *at = p->base + (size_t)b * p->block_size + in;
		if (n && (unsigned char *)iov[n - 1].iov_base + iov[n - 1].iov_len == at)
			iov[n - 1].iov_len += take;
		else
			iov[n++] = (struct iovec){ .iov_base = at, .iov_len = take };
		off += take;
		len -= take;
		if (off % p->block_size == 0)
			b = p->next[b];
	}
	return n;
}

void bg_chain_set_len(bg_pool *p, bg_chain *c, uint64_t n)
{
	BG_ASSERT(n <= (uint64_t)c->nblocks * p->block_size);
	c->len = n;
	c->wblk = block_at(p, c, n); /* NONE when full */
	c->rblk = c->head;
	c->roff = 0;
}

void bg_chain_cur_start(const bg_chain *c, bg_chain_cur *k)
{
	k->blk = c->nblocks ? c->head : BG_POOL_NONE;
	k->off = 0;
}

size_t bg_chain_cur_peek(const bg_pool *p, const bg_chain_cur *k, uint64_t end,
			 const unsigned char **at)
{
	if (k->off >= end || k->blk == BG_POOL_NONE)
		return 0;
	size_t in = (size_t)(k->off % p->block_size);
	size_t n = p->block_size - in;
	if (n > end - k->off)
		n = (size_t)(end - k->off);
	*at = p->base + (size_t)k->blk * p->block_size + in;
	return n;
}

void bg_chain_cur_advance(const bg_pool *p, bg_chain_cur *k, size_t n)
{
	BG_ASSERT(n <= p->block_size - k->off % p->block_size);
	k->off += n;
	if (n && k->off % p->block_size == 0)
		k->blk = p->next[k->blk];
}
