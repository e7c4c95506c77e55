/* test_audit.c - the audit's pieces without I/O: key order, ETag
 * comparability, sampling, the comparison of one key, and the merge of two
 * sorted listings fed a page at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "check.h"

static bg_aent ent(uint64_t size, const char *etag)
{
	bg_aent e = { .size = size };
	bg_strlcpy(e.etag, etag, sizeof(e.etag));
	return e;
}

#define MD5A "0123456789abcdef0123456789abcdef"
#define MD5B "fedcba9876543210fedcba9876543210"
#define MPA "0123456789abcdef0123456789abcdef-3"
#define MPB "00000000000000000000000000000000-3"

static void test_keycmp(void)
{
	CHECK(bg_audit_keycmp("a", 1, "b", 1) < 0);
	CHECK(bg_audit_keycmp("a", 1, "a/", 2) < 0);  /* shorter first */
	CHECK(bg_audit_keycmp("a/", 2, "a", 1) > 0);
	CHECK(bg_audit_keycmp("ab", 2, "ab", 2) == 0);
	CHECK(bg_audit_keycmp("Z", 1, "a", 1) < 0);   /* bytes, not locale */
	/* UTF-8 binary order: U+00E9 (c3 a9) after 'z', U+1F600 after U+00E9 */
	CHECK(bg_audit_keycmp("z", 1, "\xc3\xa9", 2) < 0);
	CHECK(bg_audit_keycmp("\xc3\xa9", 2, "\xf0\x9f\x98\x80", 4) < 0);
	CHECK(bg_audit_keycmp("a\0b", 3, "a\0c", 3) < 0); /* lengths, not NULs */
}

static void test_etags(void)
{
	CHECK_INT(bg_audit_etags(MD5A, MD5A), BG_ETAG_EQUAL);
	CHECK_INT(bg_audit_etags(MD5A, MD5B), BG_ETAG_DIFFER);
	CHECK_INT(bg_audit_etags(MPA, MPA), BG_ETAG_EQUAL);
	CHECK_INT(bg_audit_etags(MPA, MPB), BG_ETAG_NOT_COMPARABLE);
	CHECK_INT(bg_audit_etags(MD5A, MPA), BG_ETAG_NOT_COMPARABLE);
	CHECK_INT(bg_audit_etags(MPB, MD5B), BG_ETAG_NOT_COMPARABLE);
	CHECK_INT(bg_audit_etags("", MD5A), BG_ETAG_NOT_COMPARABLE);
	CHECK_INT(bg_audit_etags("0123456789ABCDEF0123456789ABCDEF", MD5B), BG_ETAG_DIFFER);
}

static void test_sampling(void)
{
	char key[32];
	uint64_t r1, r2;
	unsigned n = 100000, hit = 0, hit_other_seed = 0, same = 0;

	for (unsigned i = 0; i < n; i++) {
		int l = snprintf(key, sizeof(key), "data/chunk-%07u", i);
		bool a = bg_audit_sampled(key, (size_t)l, 42, 0.01, &r1);
		bool b = bg_audit_sampled(key, (size_t)l, 42, 0.01, &r2);
		CHECK(a == b && r1 == r2); /* deterministic */
		hit += a;
		hit_other_seed += bg_audit_sampled(key, (size_t)l, 43, 0.01, NULL);
		same += a && bg_audit_sampled(key, (size_t)l, 43, 0.01, NULL);
		CHECK(bg_audit_sampled(key, (size_t)l, 42, 1.0, NULL));
		CHECK(!bg_audit_sampled(key, (size_t)l, 42, 0.0, NULL));
	}
	/* 1% of 100,000: 1,000 +- a few standard deviations (about 31) */
	CHECK(hit > 850 && hit < 1150);
	CHECK(hit_other_seed > 850 && hit_other_seed < 1150);
	CHECK(same < 100); /* another seed, another sample */
	if (hit <= 850 || hit >= 1150)
		fprintf(stderr, "sampled %u of %u\n", hit, n);
}

static bool has(const bg_acmp *c, bg_akind k)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->f[i].kind == k)
			return true;
	return false;
}

static void test_compare_without_journal(void)
{
	bg_acmp c;
	bg_aent s = ent(10, MD5A), d = ent(10, MD5A);

	bg_audit_compare(&s, &d, NULL, &c);
	CHECK_INT(c.n, 0);
	CHECK(!c.not_comparable);
	CHECK_INT(c.deep, BG_DEEP_PAIR);

	d = ent(9, MD5A);
	bg_audit_compare(&s, &d, NULL, &c);
	CHECK_INT(c.n, 1);
	CHECK(has(&c, BG_AK_SIZE));
	CHECK_INT(c.f[0].src_size, 10);
	CHECK_INT(c.f[0].dst_size, 9);
	CHECK_INT(c.deep, BG_DEEP_NONE);

	d = ent(10, MD5B);
	bg_audit_compare(&s, &d, NULL, &c);
	CHECK_INT(c.n, 1);
	CHECK(has(&c, BG_AK_ETAG));
	CHECK_STR(c.f[0].dst_etag, MD5B);

	/* another part layout: not comparable, not a finding */
	s = ent(10, MPA);
	d = ent(10, MD5B);
	bg_audit_compare(&s, &d, NULL, &c);
	CHECK_INT(c.n, 0);
	CHECK(c.not_comparable);
	CHECK_INT(c.deep, BG_DEEP_PAIR);
}

static void test_compare_with_journal(void)
{
	bg_acmp c;
	bg_aent s = ent(100, MD5A), d = ent(100, "feed0000000000000000000000000000-2");
	bg_ajrow j = { .found = true, .state = BG_JS_DONE, .size = 100, .src_etag = MD5A,
		       .dst_etag = "feed0000000000000000000000000000-2" };

	/* barge's own layout: compared with the journal's dst_etag */
	bg_audit_compare(&s, &d, &j, &c);
	CHECK_INT(c.n, 0);
	CHECK(!c.not_comparable);
	CHECK_INT(c.deep, BG_DEEP_JOURNAL);
	CHECK(c.src_unchanged);

	d = ent(100, "feed0000000000000000000000000001-2");
	bg_audit_compare(&s, &d, &j, &c);
	CHECK_INT(c.n, 1);
	CHECK(has(&c, BG_AK_ETAG));
	CHECK(strstr(c.f[0].detail, "the copy recorded feed") != NULL);
	CHECK_INT(c.deep, BG_DEEP_JOURNAL); /* same size: the parts can still be read */

	d = ent(99, j.dst_etag);
	bg_audit_compare(&s, &d, &j, &c);
	CHECK_INT(c.n, 1);
	CHECK(has(&c, BG_AK_SIZE));
	CHECK_INT(c.deep, BG_DEEP_NONE);

	/* the source changed since the copy; the destination is as copied */
	d = ent(100, j.dst_etag);
	s = ent(100, MD5B);
	bg_audit_compare(&s, &d, &j, &c);
	CHECK_INT(c.n, 1);
	CHECK(has(&c, BG_AK_SOURCE_CHANGED));
	CHECK(!c.src_unchanged);
	CHECK_INT(c.deep, BG_DEEP_JOURNAL);
	s = ent(101, MD5A);
	bg_audit_compare(&s, &d, &j, &c);
	CHECK(has(&c, BG_AK_SOURCE_CHANGED));
	CHECK_INT(c.n, 1);

	/* not journaled (no row, or not done): named, then compared as without */
	s = ent(100, MD5A);
	d = ent(100, MD5B);
	bg_ajrow none = { .found = false };
	bg_audit_compare(&s, &d, &none, &c);
	CHECK_INT(c.n, 2);
	CHECK(has(&c, BG_AK_NOT_JOURNALED));
	CHECK(has(&c, BG_AK_ETAG));
	CHECK_INT(c.deep, BG_DEEP_PAIR);
	bg_ajrow failed = { .found = true, .state = BG_JS_FAILED, .size = 100, .src_etag = MD5A };
	d = ent(100, MD5A);
	bg_audit_compare(&s, &d, &failed, &c);
	CHECK_INT(c.n, 1);
	CHECK(strstr(c.f[0].detail, "failed") != NULL);

	/* done without a dst_etag: falls back to comparing the two ETags */
	bg_ajrow noetag = { .found = true, .state = BG_JS_DONE, .size = 100, .src_etag = MD5A,
			    .dst_etag = "" };
	d = ent(100, MD5B);
	bg_audit_compare(&s, &d, &noetag, &c);
	CHECK(has(&c, BG_AK_ETAG));
	d = ent(100, MPB);
	bg_audit_compare(&s, &d, &noetag, &c);
	CHECK_INT(c.n, 0);
	CHECK(c.not_comparable);
}

/* ---- the merge ------------------------------------------------------ */

typedef struct feed {
	char **keys;
	unsigned n, next, per_page;
} feed;

/* Pushes the next page of f into side s if it has room. */
static void feed_page(bg_aside *s, feed *f)
{
	char msg[256];
	bg_apage *p = bg_aside_slot(s);

	if (!p)
		return;
	for (unsigned i = 0; i < f->per_page && f->next < f->n; i++, f->next++)
		CHECK_INT(bg_apage_add(p, f->keys[f->next], strlen(f->keys[f->next]), 1, MD5A), 0);
	CHECK_INT(bg_aside_push(s, f->next == f->n, msg, sizeof(msg)), 0);
}

typedef struct tally {
	unsigned both, src, dst;
	char last[64];
} tally;

static void run_merge(feed *fs, feed *fd, tally *t)
{
	bg_status st = { 0 };
	bg_aside s, d;
	char prev[64] = "";
	unsigned steps = 0;

	memset(t, 0, sizeof(*t));
	CHECK_INT(bg_aside_init(&s, &st), 0);
	CHECK_INT(bg_aside_init(&d, &st), 0);
	for (;;) {
		const bg_aent *se, *de;
		const char *sk, *dk;
		bg_mstep m = bg_amerge_peek(&s, &d, &se, &sk, &de, &dk);

		if (m == BG_M_END)
			break;
		if (m == BG_M_WAIT) {
			/* alternate which side gets its page first */
			if (steps++ % 2) {
				feed_page(&s, fs);
				feed_page(&d, fd);
			} else {
				feed_page(&d, fd);
				feed_page(&s, fs);
			}
			continue;
		}
		const char *k = m == BG_M_DST ? dk : sk;
		CHECK(strcmp(prev, k) < 0 || (!prev[0] && !k[0]));
		bg_strlcpy(prev, k, sizeof(prev));
		if (m == BG_M_BOTH) {
			CHECK(se && de && strcmp(sk, dk) == 0);
			t->both++;
		} else if (m == BG_M_SRC) {
			CHECK(se && !de);
			t->src++;
		} else {
			CHECK(!se && de);
			t->dst++;
		}
		bg_amerge_next(&s, &d, m);
	}
	bg_aside_free(&s);
	bg_aside_free(&d);
}

static char **numbered(unsigned n, unsigned step, unsigned start)
{
	char **v = calloc(n ? n : 1, sizeof(*v));
	for (unsigned i = 0; i < n; i++) {
		v[i] = malloc(32);
		snprintf(v[i], 32, "k%08u", start + i * step);
	}
	return v;
}

static void free_keys(char **v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void test_merge(void)
{
	tally t;
	/* source: every key 0..2999; destination: the even ones and 3000..3499 */
	char **a = numbered(3000, 1, 0), **b = numbered(1750, 2, 0);
	feed fs = { a, 3000, 0, 1000 }, fd = { b, 1750, 0, 333 };

	run_merge(&fs, &fd, &t);
	/* b holds 0,2,...,3498: 1500 below 3000 (both), 250 above (dst only) */
	CHECK_INT(t.both, 1500);
	CHECK_INT(t.src, 1500);
	CHECK_INT(t.dst, 250);

	/* pages of one key, and an empty side */
	fs = (feed){ a, 5, 0, 1 };
	fd = (feed){ b, 0, 0, 7 };
	run_merge(&fs, &fd, &t);
	CHECK_INT(t.src, 5);
	CHECK_INT(t.both + t.dst, 0);
	fs = (feed){ a, 0, 0, 1 };
	fd = (feed){ b, 0, 0, 1 };
	run_merge(&fs, &fd, &t);
	CHECK_INT(t.src + t.both + t.dst, 0);

	/* identical listings, pages of different sizes */
	fs = (feed){ a, 3000, 0, 1000 };
	fd = (feed){ a, 3000, 0, 7 };
	run_merge(&fs, &fd, &t);
	CHECK_INT(t.both, 3000);
	CHECK_INT(t.src + t.dst, 0);
	free_keys(a, 3000);
	free_keys(b, 1750);
}

static void test_unsorted_and_full(void)
{
	bg_status st = { 0 };
	bg_aside s;
	char msg[256];
	bg_apage *p;

	CHECK_INT(bg_aside_init(&s, &st), 0);
	p = bg_aside_slot(&s);
	bg_apage_add(p, "b", 1, 1, MD5A);
	bg_apage_add(p, "c", 1, 1, MD5A);
	CHECK_INT(bg_aside_push(&s, false, msg, sizeof(msg)), 0);
	p = bg_aside_slot(&s);
	bg_apage_add(p, "c", 1, 1, MD5A); /* repeats the last key of the page before */
	CHECK_INT(bg_aside_push(&s, true, msg, sizeof(msg)), -1);
	CHECK(strstr(msg, "not in key order") != NULL);
	/* both pages in use: no slot until one is merged */
	bg_aside_free(&s);

	CHECK_INT(bg_aside_init(&s, &st), 0);
	p = bg_aside_slot(&s);
	CHECK_INT(bg_aside_push(&s, false, msg, sizeof(msg)), 0); /* an empty page */
	p = bg_aside_slot(&s);
	CHECK(p != NULL);
	for (unsigned i = 0; i < BG_APAGE_MAX; i++) {
		char k[16];
		snprintf(k, sizeof(k), "%06u", i);
		CHECK_INT(bg_apage_add(p, k, 6, i, MD5A), 0);
	}
	CHECK_INT(bg_apage_add(p, "x", 1, 1, MD5A), -1); /* a page holds 1000 */
	CHECK_INT(bg_aside_push(&s, false, msg, sizeof(msg)), 0);
	p = bg_aside_slot(&s);
	bg_apage_add(p, "999999", 6, 1, MD5A);
	CHECK_INT(bg_aside_push(&s, false, msg, sizeof(msg)), 0);
	CHECK(bg_aside_slot(&s) == NULL); /* two pages waiting: no third */
	bg_aside_free(&s);
}

int main(void)
{
	test_keycmp();
	test_etags();
	test_sampling();
	test_compare_without_journal();
	test_compare_with_journal();
	test_merge();
	test_unsorted_and_full();
	CHECK_DONE();
}
