/* test_pool.c - engine/pool.c: block accounting (all-or-nothing
 * reservations, release, peak), and chains that give back exactly the
 * bytes written whatever the chunking, through the sequential cursor or
 * at random offsets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "pool.h"

#define BS 4096u
#define NBLK 64u

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void fill_random(unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)rnd();
}

static void test_init(void)
{
	bg_pool p;
	bg_status st;
	memset(&st, 0, sizeof(st));
	CHECK_INT(bg_pool_init(&p, (uint64_t)NBLK * BS + BS - 1, BS, &st), 0);
	CHECK_INT(p.nblocks, NBLK); /* a partial block is not used */
	CHECK_INT(p.nfree, NBLK);
	CHECK_INT(p.peak_used, 0);
	CHECK_INT(p.block_size, BS);
	CHECK_INT(bg_pool_blocks_for(&p, 0), 0);
	CHECK_INT(bg_pool_blocks_for(&p, 1), 1);
	CHECK_INT(bg_pool_blocks_for(&p, BS - 1), 1);
	CHECK_INT(bg_pool_blocks_for(&p, BS), 1);
	CHECK_INT(bg_pool_blocks_for(&p, BS + 1), 2);
	CHECK_INT(bg_pool_blocks_for(&p, (uint64_t)BS * 1000), 1000);
	CHECK_INT(bg_pool_blocks_for(&p, UINT64_MAX - BS), UINT32_MAX);
	bg_pool_free(&p);
	CHECK(p.base == NULL);
	CHECK(p.next == NULL);
	bg_pool_free(&p); /* twice is harmless */

	/* Less memory than one block. */
	CHECK(bg_pool_init(&p, BS - 1, BS, &st) != 0);
	CHECK_INT(st.code, BG_E_USAGE);
	CHECK(strstr(st.msg, "--memory") != NULL);
	bg_pool_free(&p);
}

static void test_accounting(void)
{
	bg_pool p;
	bg_status st;
	CHECK_INT(bg_pool_init(&p, (uint64_t)NBLK * BS, BS, &st), 0);

	bg_chain a, b, c, z;
	CHECK_INT(bg_pool_reserve(&p, 3 * BS - 1, &a), 0);
	CHECK_INT(a.nblocks, 3);
	CHECK_INT(a.len, 0);
	CHECK(a.head != BG_POOL_NONE);
	CHECK_INT(p.nfree, NBLK - 3);
	CHECK_INT(p.peak_used, 3);

	CHECK_INT(bg_pool_reserve(&p, (uint64_t)(NBLK - 4) * BS + 1, &b), 0);
	CHECK_INT(b.nblocks, NBLK - 3);
	CHECK_INT(p.nfree, 0);
	CHECK_INT(p.peak_used, NBLK);

	/* Nothing left: refused, chain empty, nothing taken. */
	CHECK_INT(bg_pool_reserve(&p, 1, &c), -1);
	CHECK_INT(c.nblocks, 0);
	CHECK_INT(c.len, 0);
	CHECK(c.head == BG_POOL_NONE);
	CHECK_INT(p.nfree, 0);

	/* A zero-byte chain takes no block, even from an empty pool. */
	CHECK_INT(bg_pool_reserve(&p, 0, &z), 0);
	CHECK_INT(z.nblocks, 0);
	CHECK(z.head == BG_POOL_NONE);
	CHECK_INT(p.nfree, 0);
	CHECK_INT(bg_chain_append(&p, &z, "", 0), 0);
	CHECK_INT(bg_chain_append(&p, &z, "x", 1), -1);
	CHECK_INT(z.len, 0);
	char buf[8];
	CHECK_INT(bg_chain_read(&p, &z, 0, buf, sizeof(buf)), 0);
	bg_pool_release(&p, &z);
	CHECK_INT(p.nfree, 0);

	bg_pool_release(&p, &a);
	CHECK_INT(p.nfree, 3);
	CHECK_INT(a.nblocks, 0);
	CHECK(a.head == BG_POOL_NONE);
	bg_pool_release(&p, &a); /* an empty chain: no-op */
	CHECK_INT(p.nfree, 3);

	/* Short by one: all or nothing. */
	CHECK_INT(bg_pool_reserve(&p, 3 * BS + 1, &c), -1);
	CHECK_INT(p.nfree, 3);
	CHECK_INT(c.nblocks, 0);
	CHECK_INT(bg_pool_reserve(&p, 3 * BS, &c), 0);
	CHECK_INT(p.nfree, 0);

	bg_pool_release(&p, &b);
	bg_pool_release(&p, &c);
	CHECK_INT(p.nfree, NBLK);
	CHECK_INT(p.peak_used, NBLK); /* peak stays */

	/* Far more than the pool: refused. */
	CHECK_INT(bg_pool_reserve(&p, UINT64_MAX / 2, &c), -1);
	CHECK_INT(p.nfree, NBLK);

	/* Everything back: the whole pool can be taken again at once. */
	CHECK_INT(bg_pool_reserve(&p, (uint64_t)NBLK * BS, &c), 0);
	CHECK_INT(p.nfree, 0);
	bg_pool_release(&p, &c);
	CHECK_INT(p.nfree, NBLK);
	bg_pool_free(&p);
}

/* Many chains at once, reserved and released in random order: every
 * chain keeps its own bytes (no block in two chains, free list intact),
 * and peak_used is the largest number of blocks ever held. */
static void test_churn(void)
{
	bg_pool p;
	bg_status st;
	CHECK_INT(bg_pool_init(&p, (uint64_t)NBLK * BS, BS, &st), 0);
	enum { NCH = 12 };
	bg_chain ch[NCH];
	unsigned char seed[NCH];
	int live[NCH] = { 0 };
	uint32_t used = 0, peak = 0;
	static unsigned char buf[8 * BS];

	for (int iter = 0; iter < 3000; iter++) {
		int k = (int)(rnd() % NCH);
		if (live[k]) {
			/* Verify then release. */
			size_t len = (size_t)ch[k].len;
			CHECK_INT(bg_chain_read(&p, &ch[k], 0, buf, sizeof(buf)), len);
			size_t bad = 0;
			for (size_t i = 0; i < len; i++)
				bad += buf[i] != (unsigned char)(seed[k] + i * 7);
			CHECK_INT(bad, 0);
			used -= ch[k].nblocks;
			bg_pool_release(&p, &ch[k]);
			live[k] = 0;
		} else {
			uint64_t bytes = rnd() % (sizeof(buf) + 1);
			uint32_t need = bg_pool_blocks_for(&p, bytes);
			uint32_t before = p.nfree;
			int r = bg_pool_reserve(&p, bytes, &ch[k]);
			if (need > before) {
				CHECK_INT(r, -1);
				CHECK_INT(p.nfree, before);
				continue;
			}
			CHECK_INT(r, 0);
			CHECK_INT(ch[k].nblocks, need);
			/* a block is new only when the peak rises, and then it is
			 * the next in index order (what pool_populate relies on) */
			uint32_t b = ch[k].head;
			for (uint32_t i = 0; i < need; i++, b = p.next[b])
				CHECK(b < used + need || b < peak);
			used += need;
			if (used > peak)
				peak = used;
			seed[k] = (unsigned char)rnd();
			for (size_t i = 0; i < bytes; i++)
				buf[i] = (unsigned char)(seed[k] + i * 7);
			CHECK_INT(bg_chain_append(&p, &ch[k], buf, (size_t)bytes), 0);
			live[k] = 1;
		}
		CHECK_INT(p.nfree, NBLK - used);
		CHECK_INT(p.peak_used, peak);
	}
	for (int k = 0; k < NCH; k++)
		if (live[k])
			bg_pool_release(&p, &ch[k]);
	CHECK_INT(p.nfree, NBLK);
	bg_pool_free(&p);
}

struct each_ctx {
	const unsigned char *want;
	uint64_t seen;
	unsigned calls;
	size_t max_piece;
	int mismatch;
};

static void each_fn(void *ctx, const unsigned char *ptr, size_t n)
{
	struct each_ctx *e = ctx;
	if (memcmp(ptr, e->want + e->seen, n) != 0)
		e->mismatch = 1;
	e->seen += n;
	e->calls++;
	if (n > e->max_piece)
		e->max_piece = n;
}

/* Writes `total` random bytes in chunks of `chunk` (0: random sizes),
 * then reads them back every way the engine does. */
static void roundtrip(bg_pool *p, size_t total, size_t chunk)
{
	unsigned char *data = malloc(total + 1), *got = malloc(total + 1);
	CHECK(data && got);
	if (!data || !got) {
		free(data);
		free(got);
		return;
	}
	fill_random(data, total);

	bg_chain c;
	CHECK_INT(bg_pool_reserve(p, total, &c), 0);
	size_t cap = (size_t)c.nblocks * p->block_size;
	size_t w = 0;
	while (w < total) {
		size_t n = chunk ? chunk : (size_t)(rnd() % (3 * p->block_size) + 1);
		if (n > total - w)
			n = total - w;
		CHECK_INT(bg_chain_append(p, &c, data + w, n), 0);
		w += n;
		CHECK_INT(c.len, w);
	}
	/* Fill to capacity; then not one byte more. */
	static unsigned char pad[64 << 10]; /* at least one block */
	memset(pad, 0xAB, sizeof(pad));
	if (cap > total)
		CHECK_INT(bg_chain_append(p, &c, pad, cap - total), 0);
	CHECK_INT(bg_chain_append(p, &c, pad, 1), -1);
	CHECK_INT(bg_chain_append(p, &c, pad, sizeof(pad)), -1);
	CHECK_INT(c.len, cap);
	CHECK_INT(bg_chain_append(p, &c, pad, 0), 0);

	/* The padding came after the data. */
	size_t bad = 0;
	if (cap > total) {
		static unsigned char tail[64 << 10];
		CHECK_INT(bg_chain_read(p, &c, total, tail, sizeof(tail)), cap - total);
		for (size_t i = 0; i < cap - total; i++)
			bad += tail[i] != 0xAB;
		CHECK_INT(bad, 0);
	}

	/* Back to `total` bytes: rewind and write again in another chunking. */
	bg_chain_rewind(&c);
	CHECK_INT(c.len, 0);
	CHECK_INT(c.nblocks, bg_pool_blocks_for(p, total));
	CHECK_INT(bg_chain_read(p, &c, 0, got, total), 0);
	w = 0;
	while (w < total) {
		size_t n = (size_t)(rnd() % (2 * p->block_size) + 1);
		if (n > total - w)
			n = total - w;
		CHECK_INT(bg_chain_append(p, &c, data + w, n), 0);
		w += n;
	}
	CHECK_INT(c.len, total);

	/* Sequential reads through the cursor, in the same chunking. */
	memset(got, 0, total + 1);
	size_t r = 0;
	while (r < total) {
		size_t n = chunk ? chunk : (size_t)(rnd() % (3 * p->block_size) + 1);
		size_t want = n < total - r ? n : total - r;
		CHECK_INT(bg_chain_read(p, &c, r, got + r, n), want);
		r += want;
	}
	CHECK(memcmp(got, data, total) == 0);
	CHECK_INT(bg_chain_read(p, &c, total, got, 1), 0);
	CHECK_INT(bg_chain_read(p, &c, total + 12345, got, 1), 0);

	/* One read of everything (asking for more than there is). */
	memset(got, 0, total + 1);
	CHECK_INT(bg_chain_read(p, &c, 0, got, total + 1), total);
	CHECK(memcmp(got, data, total) == 0);

	/* Random offsets and lengths, cursor or not. */
	for (int i = 0; i < 200 && total; i++) {
		uint64_t off = rnd() % total;
		size_t n = (size_t)(rnd() % (2 * p->block_size + 2));
		size_t want = n < total - off ? n : (size_t)(total - off);
		memset(got, 0, total + 1);
		CHECK_INT(bg_chain_read(p, &c, off, got, n), want);
		CHECK(memcmp(got, data + off, want) == 0);
		if (rnd() % 2 && off + want < total) {
			/* ...and continue sequentially from there. */
			size_t n2 = (size_t)(rnd() % p->block_size + 1);
			size_t want2 = n2 < total - off - want ? n2 : total - off - want;
			CHECK_INT(bg_chain_read(p, &c, off + want, got, n2), want2);
			CHECK(memcmp(got, data + off + want, want2) == 0);
		}
	}

	/* chain_each: exactly len bytes, in order, no piece over a block. */
	struct each_ctx e = { .want = data };
	bg_chain_each(p, &c, each_fn, &e);
	CHECK_INT(e.seen, total);
	CHECK_INT(e.mismatch, 0);
	CHECK(e.max_piece <= p->block_size);
	CHECK_INT(e.calls, bg_pool_blocks_for(p, total));

	bg_pool_release(p, &c);
	free(data);
	free(got);
}

static void test_roundtrip(void)
{
	bg_pool p;
	bg_status st;
	CHECK_INT(bg_pool_init(&p, (uint64_t)NBLK * BS, BS, &st), 0);
	static const size_t totals[] = { 0, 1, BS - 1, BS, BS + 1, 3 * BS, 5 * BS + 17,
					 (NBLK - 1) * BS + 1, NBLK * BS };
	static const size_t chunks[] = { 0, 1, 7, 100, BS - 1, BS, BS + 1, 3 * BS + 5 };
	for (size_t i = 0; i < sizeof(totals) / sizeof(totals[0]); i++) {
		for (size_t j = 0; j < sizeof(chunks) / sizeof(chunks[0]); j++) {
			if (chunks[j] == 1 && totals[i] > 8 * BS)
				continue; /* byte-at-a-time over the whole pool is slow */
			roundtrip(&p, totals[i], chunks[j]);
			CHECK_INT(p.nfree, NBLK);
		}
	}
	for (int k = 0; k < 30; k++) {
		roundtrip(&p, (size_t)(rnd() % (NBLK * BS + 1)), 0);
		CHECK_INT(p.nfree, NBLK);
	}
	bg_pool_free(&p);

	/* The block size the copy uses. */
	CHECK_INT(bg_pool_init(&p, 16u << 20, 64u << 10, &st), 0);
	CHECK_INT(p.nblocks, 256);
	roundtrip(&p, (5u << 20) + 3, 0);
	roundtrip(&p, 16u << 20, 65536);
	bg_pool_free(&p);
}

/* Reads that follow appends, as an upload streams a part while its GET is
 * still filling it: the cursor must survive stopping on a block edge. */
static void test_interleaved(void)
{
	bg_pool p;
	bg_status st;
	CHECK_INT(bg_pool_init(&p, (uint64_t)NBLK * BS, BS, &st), 0);
	size_t total = 10 * BS + 123;
	unsigned char *data = malloc(total), *got = malloc(total);
	CHECK(data && got);
	if (!data || !got) {
		free(data);
		free(got);
		bg_pool_free(&p);
		return;
	}
	fill_random(data, total);
	bg_chain c;
	CHECK_INT(bg_pool_reserve(&p, total, &c), 0);
	size_t w = 0, r = 0;
	static const size_t steps[] = { BS, 1, BS - 1, 2 * BS, 17, BS + 3 };
	for (size_t i = 0; w < total; i++) {
		size_t n = steps[i % (sizeof(steps) / sizeof(steps[0]))];
		if (n > total - w)
			n = total - w;
		CHECK_INT(bg_chain_append(&p, &c, data + w, n), 0);
		w += n;
		/* Read everything available, in two reads. */
		size_t half = (w - r) / 2;
		CHECK_INT(bg_chain_read(&p, &c, r, got + r, half), half);
		r += half;
		CHECK_INT(bg_chain_read(&p, &c, r, got + r, total), w - r);
		r = w;
	}
	CHECK(memcmp(got, data, total) == 0);

	/* A retried GET: rewind, refill with other bytes, read again. */
	bg_chain_rewind(&c);
	fill_random(data, total);
	CHECK_INT(bg_chain_append(&p, &c, data, total), 0);
	memset(got, 0, total);
	for (r = 0; r < total; r += BS)
		bg_chain_read(&p, &c, r, got + r, total - r < BS ? total - r : BS);
	CHECK(memcmp(got, data, total) == 0);
	bg_pool_release(&p, &c);
	CHECK_INT(p.nfree, NBLK);
	free(data);
	free(got);
	bg_pool_free(&p);
}

/* File I/O straight into and out of a chain: iovecs cover exactly the
 * asked range of the reservation, in order, merged where blocks touch;
 * a read filling them and set_len leave the chain as appends would. */
static void test_iov(void)
{
	bg_pool p;
	bg_status st;
	CHECK_INT(bg_pool_init(&p, (uint64_t)NBLK * BS, BS, &st), 0);
	/* Fragment the free list so chains are not contiguous. */
	bg_chain hold[NBLK / 2];
	for (unsigned i = 0; i < NBLK / 2; i++)
		CHECK_INT(bg_pool_reserve(&p, BS, &hold[i]), 0);
	for (unsigned i = 0; i < NBLK / 2; i += 2)
		bg_pool_release(&p, &hold[i]);
	static const size_t lens[] = { 1, BS - 1, BS, BS + 1, 5 * BS + 17 };
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		size_t len = lens[li];
		bg_chain c;
		CHECK_INT(bg_pool_reserve(&p, len, &c), 0);
		for (size_t off = 0; off < len; off += len / 3 + 1) {
			struct iovec iov[64];
			unsigned n = bg_chain_iov(&p, &c, off, len - off, iov, 64);
			size_t sum = 0;
			for (unsigned k = 0; k < n; k++) {
				sum += iov[k].iov_len;
				if (k)
					CHECK((char *)iov[k - 1].iov_base + iov[k - 1].iov_len != iov[k].iov_base);
			}
			CHECK_INT(sum, len - off);
			/* at most `max` iovecs: the rest is left for the next call */
			unsigned one = bg_chain_iov(&p, &c, off, len - off, iov, 1);
			CHECK_INT(one, 1);
			CHECK(iov[0].iov_len <= len - off);
		}
		/* "read" a pattern through the iovecs, then read it back */
		struct iovec iov[64];
		unsigned n = bg_chain_iov(&p, &c, 0, len, iov, 64);
		size_t pos = 0;
		for (unsigned k = 0; k < n; k++)
			for (size_t b = 0; b < iov[k].iov_len; b++, pos++)
				((unsigned char *)iov[k].iov_base)[b] = (unsigned char)(pos * 7 + 3);
		bg_chain_set_len(&p, &c, len);
		CHECK_INT(c.len, len);
		unsigned char *back = malloc(len);
		CHECK(back != NULL);
		CHECK_INT(bg_chain_read(&p, &c, 0, back, len), len);
		size_t bad = 0;
		for (size_t b = 0; b < len; b++)
			bad += back[b] != (unsigned char)(b * 7 + 3);
		CHECK_INT(bad, 0);
		free(back);
		CHECK_INT(bg_chain_iov(&p, &c, c.nblocks * (uint64_t)BS, 1, iov, 64), 0);
		bg_pool_release(&p, &c);
	}
	for (unsigned i = 1; i < NBLK / 2; i += 2)
		bg_pool_release(&p, &hold[i]);
	CHECK_INT(p.nfree, NBLK);
	bg_pool_free(&p);
}

/* A cursor walking a chain whose blocks are scattered through the pool,
 * behind appends (as MD5 follows a GET), in steps of any size up to what
 * peek offers: it sees every byte once, in order, and peek never reaches
 * past a block or past `end`. */
static void test_cursor(void)
{
	bg_pool p;
	bg_status st;
	CHECK_INT(bg_pool_init(&p, (uint64_t)NBLK * BS, BS, &st), 0);
	bg_chain a, b, c;
	CHECK_INT(bg_pool_reserve(&p, 3 * BS, &a), 0);
	CHECK_INT(bg_pool_reserve(&p, 2 * BS, &b), 0);
	bg_pool_release(&p, &a); /* c takes a's blocks, then others */
	size_t total = 6 * BS + 77;
	CHECK_INT(bg_pool_reserve(&p, total, &c), 0);
	unsigned char *src = malloc(total), *seen = malloc(total);
	CHECK(src && seen);
	if (!src || !seen)
		return;
	for (size_t i = 0; i < total; i++)
		src[i] = (unsigned char)rnd();
	bg_chain_cur k;
	bg_chain_cur_start(&c, &k);
	const unsigned char *at = NULL;
	CHECK_INT(bg_chain_cur_peek(&p, &k, c.len, &at), 0); /* nothing yet */
	size_t put = 0;
	while (k.off < total) {
		if (put < total) {
			size_t n = 1 + (size_t)(rnd() % (BS + BS / 2));
			if (n > total - put)
				n = total - put;
			CHECK_INT(bg_chain_append(&p, &c, src + put, n), 0);
			put += n;
		}
		size_t n = bg_chain_cur_peek(&p, &k, c.len, &at);
		CHECK(n <= BS - k.off % BS && n <= c.len - k.off);
		if (!n) {
			CHECK(k.off == c.len);
			continue;
		}
		size_t step = 1 + (size_t)(rnd() % n);
		memcpy(seen + k.off, at, step);
		bg_chain_cur_advance(&p, &k, step);
	}
	CHECK_INT(k.off, total);
	CHECK(memcmp(src, seen, total) == 0);
	CHECK_INT(bg_chain_cur_peek(&p, &k, c.len, &at), 0);
	free(src);
	free(seen);
	bg_pool_release(&p, &b);
	bg_pool_release(&p, &c);
	CHECK_INT(p.nfree, NBLK);
	bg_pool_free(&p);
}

/* Pages of blocks handed out for the first time are faulted in ahead,
 * 2 MiB at a time; pages past that are left alone. */
static bool resident(const bg_pool *p, size_t from, size_t to)
{
	long pg = sysconf(_SC_PAGESIZE);
	unsigned char vec[1];
	for (size_t off = from; off < to; off += (size_t)pg) {
		CHECK_INT(mincore(p->base + off, (size_t)pg, vec), 0);
		if (!(vec[0] & 1))
			return false;
	}
	return true;
}

static void test_populate(void)
{
	const size_t MiB = 1u << 20;
	bg_pool p;
	bg_status st;
	bg_chain a, b;
	CHECK_INT(bg_pool_init(&p, 8 * MiB, BS, &st), 0);
	/* where transparent huge pages are "always", one write could bring in
	 * a whole 2 MiB page across the boundaries checked here */
	CHECK_INT(madvise(p.base, 8 * MiB, MADV_NOHUGEPAGE), 0);
	CHECK(!resident(&p, 0, BS));
	CHECK_INT(bg_pool_reserve(&p, 1, &a), 0);
	CHECK_INT(p.populated, 2 * MiB);
	CHECK(resident(&p, 0, 2 * MiB));
	CHECK(!resident(&p, 2 * MiB, 2 * MiB + BS));
	bg_pool_release(&p, &a);
	CHECK_INT(bg_pool_reserve(&p, 2 * MiB + 1, &a), 0); /* 513 blocks */
	CHECK_INT(p.populated, 4 * MiB);
	CHECK(resident(&p, 2 * MiB, 4 * MiB));
	CHECK(!resident(&p, 4 * MiB, 4 * MiB + BS));
	CHECK_INT(bg_pool_reserve(&p, 4 * MiB, &b), 0);
	CHECK_INT(p.populated, 8 * MiB);
	CHECK(resident(&p, 4 * MiB, 8 * MiB));
	bg_pool_release(&p, &a);
	bg_pool_release(&p, &b);
	bg_pool_free(&p);
}

int main(void)
{
	test_cursor();
	test_iov();
	test_init();
	test_accounting();
	test_churn();
	test_populate();
	test_roundtrip();
	test_interleaved();
	CHECK_DONE();
}
