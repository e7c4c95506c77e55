/* audit.c - the audit scheduler (see audit.h, docs/audit.md).
 *
 * Two listers (source, destination) each keep at most two pages: the one
 * being merged and the next, fetched meanwhile.  The merge walks both in
 * key order (S3 lists in UTF-8 binary order, so the keys relative to each
 * prefix are in the same order) and decides per key: only on the source
 * (missing), only on the destination (extra), or on both (compared, with
 * the journal's row when there is a journal).
 *
 * A deep audit admits the keys it re-reads into a fixed table of object
 * slots; each object is a list of ranges (the journaled parts, the whole
 * single-PUT object, or 16 MiB ranges when comparing with the source) and
 * `concurrency` transfer slots GET them with If-Match and a Range, hashing
 * the bytes in the write callback (nothing is buffered).  A range is
 * compared as soon as the reads it needs are in.  The merge stops while
 * every object slot is busy: that is the backpressure that keeps a deep
 * audit's memory flat. */
#include "audit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cksum.h"
#include "http.h"
#include "lister.h"
#include "run.h"
#include "s3.h"

#define LIST_BODY_MAX (8u << 20)
#define XFER_BODY_MAX (64u << 10)
#define PAIR_CHUNK (16ull << 20) /* ranges when comparing with the source */
#define MAX_RANGES 10000u
#define NSIDES 2

enum { SRC = 0, DST = 1 }; /* listers and read sides */

static const char *const kind_names[BG_AK_COUNT] = {
	[BG_AK_MISSING] = "missing",
	[BG_AK_EXTRA] = "extra",
	[BG_AK_SIZE] = "size_mismatch",
	[BG_AK_ETAG] = "etag_mismatch",
	[BG_AK_SOURCE_CHANGED] = "source_changed",
	[BG_AK_NOT_JOURNALED] = "not_journaled",
	[BG_AK_PART] = "part_mismatch",
	[BG_AK_CONTENT] = "content_mismatch",
	[BG_AK_SOURCE_PART] = "source_mismatch",
	[BG_AK_UNREADABLE] = "unreadable",
	[BG_AK_CHANGED] = "changed_during_audit",
	[BG_AK_OPEN_UPLOAD] = "open_upload",
};

const char *bg_audit_kind_name(bg_akind k)
{
	return (unsigned)k < BG_AK_COUNT ? kind_names[k] : "unknown";
}

/* ---- comparison (no I/O) ---------------------------------------------- */

int bg_audit_keycmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static bool plain_md5(const char *etag)
{
	unsigned char b[16];
	return etag && bg_unhex16(etag, b) == 0;
}

bg_etag_verdict bg_audit_etags(const char *src, const char *dst)
{
	if (strcmp(src, dst) == 0)
		return BG_ETAG_EQUAL;
	if (plain_md5(src) && plain_md5(dst))
		return BG_ETAG_DIFFER;
	return BG_ETAG_NOT_COMPARABLE;
}

bool bg_audit_sampled(const char *key, size_t len, uint64_t seed, double fraction,
		      uint64_t *rank)
{
	uint64_t h = XXH3_64bits_withSeed(key, len, seed);
	if (rank)
		*rank = h;
	if (fraction >= 1.0)
		return true;
	if (!(fraction > 0.0))
		return false;
	return (double)(h >> 11) * 0x1.0p-53 < fraction;
}

static void add_finding(bg_acmp *c, bg_akind kind, const bg_aent *s, const bg_aent *d,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void add_finding(bg_acmp *c, bg_akind kind, const bg_aent *s, const bg_aent *d,
			const char *fmt, ...)
{
	BG_ASSERT(c->n < 3);
	bg_afinding *f = &c->f[c->n];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->detail[c->n], sizeof(c->detail[c->n]), fmt, ap);
	va_end(ap);
	*f = (bg_afinding){
		.kind = kind, .detail = c->detail[c->n],
		.src_size = s ? (int64_t)s->size : -1, .dst_size = d ? (int64_t)d->size : -1,
		.src_etag = s ? s->etag : NULL, .dst_etag = d ? d->etag : NULL,
	};
	c->n++;
}

static const char *state_name(bg_jstate s)
{
	switch (s) {
	case BG_JS_CREATING: return "creating";
	case BG_JS_UPLOADING: return "uploading";
	case BG_JS_DONE: return "done";
	case BG_JS_FAILED: return "failed";
	}
	return "unknown";
}

void bg_audit_compare(const bg_aent *s, const bg_aent *d, const bg_ajrow *j, bg_acmp *out)
{
	memset(out, 0, sizeof(*out));
	bool journaled = j && j->found && j->state == BG_JS_DONE;
	if (j && !journaled) {
		if (!j->found)
			add_finding(out, BG_AK_NOT_JOURNALED, s, d,
				    "on both sides, but the journal has no record of it");
		else
			add_finding(out, BG_AK_NOT_JOURNALED, s, d,
				    "on both sides, but the journal has it as %s, not done",
				    state_name(j->state));
	}
	if (journaled) {
		const char *jse = j->src_etag ? j->src_etag : "";
		const char *jde = j->dst_etag ? j->dst_etag : "";
		bool changed = j->size != s->size || strcmp(jse, s->etag) != 0;
		out->src_unchanged = !changed;
		if (changed)
			add_finding(out, BG_AK_SOURCE_CHANGED, s, d,
				    "the source is now %llu bytes with ETag %s; the copy was of "
				    "%llu bytes with ETag %s",
				    (unsigned long long)s->size, s->etag,
				    (unsigned long long)j->size, jse);
		if (d->size != j->size) {
			add_finding(out, BG_AK_SIZE, s, d,
				    "the destination has %llu bytes; the copy wrote %llu",
				    (unsigned long long)d->size, (unsigned long long)j->size);
		} else if (jde[0] && strcmp(d->etag, jde) != 0) {
			add_finding(out, BG_AK_ETAG, s, d,
				    "the destination's ETag is %s; the copy recorded %s", d->etag,
				    jde);
		} else if (!jde[0] && !changed) {
			bg_etag_verdict v = bg_audit_etags(s->etag, d->etag);
			if (v == BG_ETAG_DIFFER)
				add_finding(out, BG_AK_ETAG, s, d,
					    "source ETag %s, destination ETag %s (both MD5s)",
					    s->etag, d->etag);
			else if (v == BG_ETAG_NOT_COMPARABLE)
				out->not_comparable = true;
		}
		out->deep = d->size == j->size ? BG_DEEP_JOURNAL : BG_DEEP_NONE;
		return;
	}
	if (s->size != d->size) {
		add_finding(out, BG_AK_SIZE, s, d, "the source has %llu bytes, the destination %llu",
			    (unsigned long long)s->size, (unsigned long long)d->size);
		out->deep = BG_DEEP_NONE;
		return;
	}
	bg_etag_verdict v = bg_audit_etags(s->etag, d->etag);
	if (v == BG_ETAG_DIFFER)
		add_finding(out, BG_AK_ETAG, s, d, "source ETag %s, destination ETag %s (both MD5s)",
			    s->etag, d->etag);
	else if (v == BG_ETAG_NOT_COMPARABLE)
		out->not_comparable = true;
	out->deep = BG_DEEP_PAIR;
}

/* ---- the merge (no I/O) ----------------------------------------------- */

int bg_aside_init(bg_aside *s, bg_status *st)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 2; i++) {
		s->page[i] = malloc(sizeof(bg_apage));
		if (!s->page[i]) {
			bg_aside_free(s);
			return bg_fail(st, BG_E_NOMEM, "out of memory for listing pages");
		}
		s->page[i]->n = s->page[i]->keylen = 0;
	}
	return 0;
}

void bg_aside_free(bg_aside *s)
{
	for (int i = 0; i < 2; i++) {
		free(s->page[i]);
		s->page[i] = NULL;
	}
}

bg_apage *bg_aside_slot(bg_aside *s)
{
	if (s->eof || s->count == 2)
		return NULL;
	bg_apage *p = s->page[(s->head + s->count) % 2];
	p->n = 0;
	p->keylen = 0;
	return p;
}

int bg_apage_add(bg_apage *p, const char *key, size_t klen, uint64_t size, const char *etag)
{
	if (p->n == BG_APAGE_MAX || klen > BG_KEY_MAX || p->keylen + klen + 1 > sizeof(p->keys))
		return -1;
	bg_aent *e = &p->ent[p->n++];
	e->koff = p->keylen;
	e->klen = (uint32_t)klen;
	e->size = size;
	bg_strlcpy(e->etag, etag ? etag : "", sizeof(e->etag));
	memcpy(p->keys + p->keylen, key, klen);
	p->keys[p->keylen + klen] = '\0';
	p->keylen += (uint32_t)klen + 1;
	return 0;
}

int bg_aside_push(bg_aside *s, bool last, char *msg, size_t cap)
{
	BG_ASSERT(s->count < 2 && !s->eof);
	bg_apage *p = s->page[(s->head + s->count) % 2];
	const char *prev = s->has_last ? s->last : NULL;
	size_t prev_len = s->last_len;
	for (uint32_t i = 0; i < p->n; i++) {
		const char *k = p->keys + p->ent[i].koff;
		if (prev && bg_audit_keycmp(prev, prev_len, k, p->ent[i].klen) >= 0) {
			bg_snprintf(msg, cap, "the listing is not in key order ('%.200s' after "
				    "'%.200s'): a merge of the two sides cannot be trusted",
				    k, prev);
			return -1;
		}
		prev = k;
		prev_len = p->ent[i].klen;
	}
	if (p->n) {
		memcpy(s->last, prev, prev_len);
		s->last[prev_len] = '\0';
		s->last_len = prev_len;
		s->has_last = true;
		s->count++;
	}
	if (last)
		s->eof = true;
	return 0;
}

static const bg_aent *side_head(const bg_aside *s, const char **key)
{
	if (!s->count)
		return NULL;
	const bg_apage *p = s->page[s->head];
	BG_DEBUG_ASSERT(s->pos < p->n);
	const bg_aent *e = &p->ent[s->pos];
	*key = p->keys + e->koff;
	return e;
}

static void side_pop(bg_aside *s)
{
	BG_ASSERT(s->count);
	if (++s->pos == s->page[s->head]->n) {
		s->head = (s->head + 1) % 2;
		s->count--;
		s->pos = 0;
	}
}

bg_mstep bg_amerge_peek(bg_aside *s, bg_aside *d, const bg_aent **se, const char **skey,
			const bg_aent **de, const char **dkey)
{
	const char *sk = NULL, *dk = NULL;
	const bg_aent *a = side_head(s, &sk), *b = side_head(d, &dk);
	*se = NULL;
	*de = NULL;
	*skey = *dkey = NULL;
	if ((!a && !s->eof) || (!b && !d->eof))
		return BG_M_WAIT;
	if (!a && !b)
		return BG_M_END;
	int c = !a ? 1 : !b ? -1 : bg_audit_keycmp(sk, a->klen, dk, b->klen);
	if (c <= 0) {
		*se = a;
		*skey = sk;
	}
	if (c >= 0) {
		*de = b;
		*dkey = dk;
	}
	return c < 0 ? BG_M_SRC : c > 0 ? BG_M_DST : BG_M_BOTH;
}

void bg_amerge_next(bg_aside *s, bg_aside *d, bg_mstep step)
{
	if (step == BG_M_SRC || step == BG_M_BOTH)
		side_pop(s);
	if (step == BG_M_DST || step == BG_M_BOTH)
		side_pop(d);
}

/* ---- the scheduler ------------------------------------------------------ */

typedef struct arange {
	uint64_t off, len;
	uint32_t number;          /* journaled part number, 0 when not a part */
	unsigned char exp[16];    /* the journal's XXH3-128 (BG_DEEP_JOURNAL) */
	unsigned char h[NSIDES][16];
	uint8_t done;             /* bit per side */
} arange;

typedef struct aobj aobj;
struct aobj {
	bool used;
	bool stopped;   /* a read failed for good: no more dispatch */
	aobj *next;     /* admission order */
	char rel[BG_KEY_MAX + 1];
	char key[NSIDES][BG_KEY_MAX + 1];
	char etag[NSIDES][BG_ETAG_MAX];
	int64_t size[NSIDES];
	bg_adeep mode;
	bool multipart; /* journal ranges are parts */
	uint8_t need;   /* bit per side to read */
	arange *r;
	uint32_t nr, cap;
	uint32_t cursor; /* next (range, side) to dispatch: range = cursor / NSIDES */
	uint32_t complete;
	unsigned inflight;
};

typedef struct axfer {
	bg_s3_req req;
	struct audit *au;
	aobj *o;
	uint32_t ri;
	int side;
	bool busy;
	bg_retry retry; /* reset when the slot is freed */
	uint64_t got, len;
	XXH3_state_t *xs;
} axfer;

/* One side's listing: its pages (lister.c) into the merge's two pages. */
typedef struct alister {
	bg_lister ls;
	struct audit *au;
	int side;
	bg_aside m;
	char prefix[BG_KEY_MAX + 2];
	size_t plen;
	bg_apage *fill; /* the page being delivered */
} alister;

typedef struct audit {
	const bg_audit_opts *o;
	bg_http http;
	alister ls[NSIDES];
	axfer *xf;
	unsigned nxf;
	aobj *objs;
	unsigned nobjs, active;
	aobj *head, *tail;
	bg_audit_stats stats;
	bg_fatal fatal; /* the run's first fatal error */
	bool merge_end;
	uint64_t t0, last_progress;
	uint64_t picked; /* objects admitted for re-reading */
	/* the sample's fallback: the key with the smallest draw */
	bool cand_have, cand_done;
	uint64_t cand_rank;
	char cand_rel[BG_KEY_MAX + 1];
	bg_aent cand_s, cand_d;
	char jxxh[65];
} audit;

static const char *side_name(int side)
{
	return side == SRC ? "source" : "destination";
}

static void emit(audit *au, const bg_afinding *f)
{
	au->stats.findings++;
	au->stats.by_kind[f->kind]++;
	if (au->o->on_finding)
		au->o->on_finding(au->o->ctx, f);
	if (au->o->journal) {
		bg_jfinding jf = {
			.kind = bg_audit_kind_name(f->kind), .key = f->key, .detail = f->detail,
			.src_size = f->src_size, .dst_size = f->dst_size,
			.src_etag = f->src_etag, .dst_etag = f->dst_etag, .part_number = f->part,
		};
		bg_journal_finding(au->o->journal, &jf);
	}
}

static void norm_prefix(const char *p, char *out, size_t cap)
{
	size_t n = strlen(p);
	bg_snprintf(out, cap, "%s%s", p, (n && p[n - 1] != '/') ? "/" : "");
}

/* The journal's row of a relative key (looked up by its source key).
 * 1 found, 0 not, -1 fatal. */
static int jrow(audit *au, const char *rel, bg_jobject *jo, bg_ajrow *row)
{
	char key[BG_KEY_MAX * 2 + 4];
	bg_status st = { 0 };
	memset(row, 0, sizeof(*row));
	if (!au->o->journal)
		return 0;
	bg_snprintf(key, sizeof(key), "%s%s", au->ls[SRC].prefix, rel);
	int f = bg_journal_audit_lookup(au->o->journal, key, jo, au->jxxh, &st);
	if (f < 0) {
		bg_fatal_set(&au->fatal, st.code ? st.code : BG_E_IO, "journal: %s", st.msg);
		return -1;
	}
	if (f) {
		*row = (bg_ajrow){ .found = true, .state = jo->state, .size = jo->size,
				   .src_etag = jo->src_etag, .dst_etag = jo->dst_etag };
	}
	return f;
}

/* ---- listing ---------------------------------------------------------- */

static int on_listed(void *ctx, const bg_xml_object *x)
{
	alister *l = ctx;
	if (x->key_len < l->plen || memcmp(x->key, l->prefix, l->plen) != 0)
		return 0; /* not below the prefix (a server ignoring prefix) */
	if (x->key_len == l->plen && l->plen)
		return 0; /* the prefix's own folder marker: barge copy skips it too */
	return bg_apage_add(l->fill, x->key + l->plen, x->key_len - l->plen, x->size, x->etag) < 0;
}

/* A page is delivered into the free one of the side's two (cleared). */
static void list_mark(void *ctx)
{
	alister *l = ctx;
	l->fill = bg_aside_slot(&l->m);
	BG_ASSERT(l->fill);
}

static void list_undo(void *ctx)
{
	alister *l = ctx;
	l->fill->n = l->fill->keylen = 0;
}

static int list_commit(void *ctx, bool last, char *msg, size_t cap)
{
	alister *l = ctx;
	audit *au = l->au;
	for (uint32_t i = 0; i < l->fill->n; i++) {
		if (l->side == SRC) {
			au->stats.src_objects++;
			au->stats.src_bytes += l->fill->ent[i].size;
		} else {
			au->stats.dst_objects++;
			au->stats.dst_bytes += l->fill->ent[i].size;
		}
	}
	return bg_aside_push(&l->m, last, msg, cap);
}

static void list_retry(void *ctx, const bg_s3_req *r, unsigned attempt, const char *msg,
		       bool parse)
{
	alister *l = ctx;
	(void)r, (void)attempt, (void)msg, (void)parse;
	l->au->stats.retries++;
}

static int list_init(audit *au, int side, bg_status *st)
{
	alister *l = &au->ls[side];
	const bg_audit_opts *o = au->o;
	l->au = au;
	l->side = side;
	norm_prefix(side == SRC ? o->src.prefix : o->dst.prefix, l->prefix, sizeof(l->prefix));
	l->plen = strlen(l->prefix);
	bg_lister_conf c = {
		.http = &au->http, .loc = side == SRC ? &o->src : &o->dst,
		.ep = side == SRC ? &o->src_ep : &o->dst_ep, .side = side_name(side),
		.prefix = l->prefix, .attempts = o->retries, .body_max = LIST_BODY_MAX,
		.fatal = &au->fatal, .requests = &au->stats.requests,
		.hooks = { .ctx = l, .key = on_listed, .mark = list_mark, .undo = list_undo,
			   .commit = list_commit, .retry = list_retry },
	};
	if (bg_aside_init(&l->m, st) || bg_lister_init(&l->ls, &c, st))
		return -1;
	return 0;
}

/* The side's next page, when the merge has a page free for it. */
static void maybe_list(audit *au, alister *l)
{
	if (au->fatal.set || !bg_aside_slot(&l->m))
		return;
	bg_lister_next(&l->ls, bg_now_ns());
}

/* ---- deep: objects and their ranges --------------------------------- */

static aobj *free_obj(audit *au)
{
	for (unsigned i = 0; i < au->nobjs; i++)
		if (!au->objs[i].used)
			return &au->objs[i];
	return NULL;
}

static int reserve_ranges(aobj *o, uint32_t n)
{
	if (n > o->cap) {
		arange *r = realloc(o->r, n * sizeof(*r));
		if (!r)
			return -1;
		o->r = r;
		o->cap = n;
	}
	memset(o->r, 0, n * sizeof(*o->r));
	o->nr = n;
	return 0;
}

static void on_jpart(void *ctx, const bg_jpart *p)
{
	aobj *o = ctx;
	if (p->number < 1 || p->number > o->nr)
		return;
	arange *r = &o->r[p->number - 1];
	r->number = p->number;
	r->off = p->offset;
	r->len = p->length;
	memcpy(r->exp, p->xxh3, 16);
}

/* Ranges for comparing the destination with the source. */
static int pair_ranges(aobj *o, uint64_t size)
{
	uint64_t chunk = PAIR_CHUNK;
	if ((size + chunk - 1) / chunk > MAX_RANGES)
		chunk = (size + MAX_RANGES - 1) / MAX_RANGES;
	uint32_t n = size ? (uint32_t)((size + chunk - 1) / chunk) : 1;
	if (reserve_ranges(o, n) < 0)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		o->r[i].off = (uint64_t)i * chunk;
		o->r[i].len = size - o->r[i].off < chunk ? size - o->r[i].off : chunk;
	}
	o->mode = BG_DEEP_PAIR;
	o->multipart = false;
	o->need = 1u << SRC | 1u << DST;
	return 0;
}

/* The journal's ranges: its parts (all uploaded, contiguous, covering the
 * object) or, for a single PUT, the whole object against objects.xxh3.
 * 1 set up, 0 the journal cannot say (no or incomplete records), -1 error. */
static int journal_ranges(audit *au, aobj *o, const bg_jobject *jo, const char *xxh)
{
	uint64_t size = (uint64_t)o->size[DST];
	if (jo->part_size == 0) { /* a single PUT (the copy journals nparts 1 or 0) */
		unsigned char exp[16];
		if (bg_unhex16(xxh, exp) < 0 || reserve_ranges(o, 1) < 0)
			return 0;
		o->r[0].len = size;
		memcpy(o->r[0].exp, exp, 16);
		o->multipart = false;
		return 1;
	}
	if (jo->nparts > MAX_RANGES || reserve_ranges(o, jo->nparts) < 0)
		return 0;
	bg_status st = { 0 };
	if (bg_journal_load_parts(au->o->journal, jo->id, on_jpart, o, &st) < 0) {
		bg_fatal_set(&au->fatal, st.code ? st.code : BG_E_IO, "journal: %s", st.msg);
		return -1;
	}
	uint64_t off = 0;
	for (uint32_t i = 0; i < o->nr; i++) {
		if (o->r[i].number != i + 1 || o->r[i].off != off)
			return 0;
		off += o->r[i].len;
	}
	if (off != size)
		return 0;
	o->multipart = true;
	return 1;
}

/* Admits a key for re-reading.  jo: its journal row (BG_DEEP_JOURNAL). */
static void deep_admit(audit *au, const char *rel, const bg_aent *s, const bg_aent *d,
		       const bg_acmp *cmp, const bg_jobject *jo)
{
	aobj *o = free_obj(au);
	BG_ASSERT(o);
	arange *keep = o->r;
	uint32_t cap = o->cap;
	memset(o, 0, sizeof(*o));
	o->r = keep;
	o->cap = cap;
	bg_strlcpy(o->rel, rel, sizeof(o->rel));
	if (bg_snprintf(o->key[SRC], sizeof(o->key[SRC]), "%s%s", au->ls[SRC].prefix, rel) < 0 ||
	    bg_snprintf(o->key[DST], sizeof(o->key[DST]), "%s%s", au->ls[DST].prefix, rel) < 0) {
		au->stats.unverifiable++;
		return;
	}
	bg_strlcpy(o->etag[SRC], s->etag, sizeof(o->etag[SRC]));
	bg_strlcpy(o->etag[DST], d->etag, sizeof(o->etag[DST]));
	o->size[SRC] = (int64_t)s->size;
	o->size[DST] = (int64_t)d->size;
	int ok = 0;
	if (cmp->deep == BG_DEEP_JOURNAL) {
		ok = journal_ranges(au, o, jo, au->jxxh);
		if (ok < 0)
			return;
		if (ok) {
			o->mode = BG_DEEP_JOURNAL;
			o->need = 1u << DST;
			if (au->o->reread_source && cmp->src_unchanged)
				o->need |= 1u << SRC;
		}
	}
	/* No journal to compare with (or it cannot say): compare with the
	 * source, if it is still what was copied. */
	if (!ok && (cmp->deep == BG_DEEP_PAIR || (cmp->src_unchanged && s->size == d->size)))
		ok = pair_ranges(o, d->size) == 0;
	if (!ok) {
		au->stats.unverifiable++;
		return;
	}
	o->used = true;
	o->next = NULL;
	if (au->tail)
		au->tail->next = o;
	else
		au->head = o;
	au->tail = o;
	au->active++;
	au->picked++;
}

static void obj_release(audit *au, aobj *o)
{
	aobj **pp = &au->head, *prev = NULL;
	while (*pp && *pp != o) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	BG_ASSERT(*pp == o);
	*pp = o->next;
	if (au->tail == o)
		au->tail = prev;
	o->next = NULL;
	o->used = false;
	au->active--;
}

static void obj_finding(audit *au, aobj *o, bg_akind kind, uint32_t part, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void obj_finding(audit *au, aobj *o, bg_akind kind, uint32_t part, const char *fmt, ...)
{
	char detail[BG_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	bg_afinding f = {
		.kind = kind, .key = o->rel, .detail = detail, .src_size = o->size[SRC],
		.dst_size = o->size[DST], .src_etag = o->etag[SRC], .dst_etag = o->etag[DST],
		.part = part,
	};
	emit(au, &f);
}

/* A range whose reads are in: compare. */
static void range_check(audit *au, aobj *o, uint32_t i)
{
	arange *r = &o->r[i];
	char a[33], b[33];
	unsigned long long lo = r->off, hi = r->len ? r->off + r->len - 1 : r->off;
	au->stats.parts_reread++;
	if (o->mode == BG_DEEP_PAIR) {
		if (memcmp(r->h[SRC], r->h[DST], 16) != 0) {
			bg_hex(r->h[DST], 16, a);
			bg_hex(r->h[SRC], 16, b);
			obj_finding(au, o, BG_AK_CONTENT, 0,
				    "bytes %llu-%llu differ from the source's (XXH3-128 %s, source %s)",
				    lo, hi, a, b);
		}
		return;
	}
	bg_hex(r->exp, 16, b);
	if ((o->need & 1u << DST) && memcmp(r->h[DST], r->exp, 16) != 0) {
		bg_hex(r->h[DST], 16, a);
		if (o->multipart)
			obj_finding(au, o, BG_AK_PART, r->number,
				    "part %u (bytes %llu-%llu) reads back with XXH3-128 %s; the "
				    "copy recorded %s", r->number, lo, hi, a, b);
		else
			obj_finding(au, o, BG_AK_CONTENT, 0,
				    "the object reads back with XXH3-128 %s; the copy recorded %s", a, b);
	}
	if ((o->need & 1u << SRC) && memcmp(r->h[SRC], r->exp, 16) != 0) {
		bg_hex(r->h[SRC], 16, a);
		if (o->multipart)
			obj_finding(au, o, BG_AK_SOURCE_PART, r->number,
				    "the source's part %u (bytes %llu-%llu) now reads with XXH3-128 "
				    "%s; the copy recorded %s (its ETag unchanged)", r->number, lo, hi,
				    a, b);
		else
			obj_finding(au, o, BG_AK_SOURCE_PART, 0,
				    "the source now reads with XXH3-128 %s; the copy recorded %s (its "
				    "ETag unchanged)", a, b);
	}
}

/* ---- deep: transfers ------------------------------------------------ */

static size_t on_bytes(void *ctx, const char *p, size_t n)
{
	axfer *x = ctx;
	if (x->got + n > x->len) {
		bg_snprintf(x->req.sink_msg, sizeof(x->req.sink_msg),
			    "the %s sent more than the %llu bytes asked for", side_name(x->side),
			    (unsigned long long)x->len);
		return 0;
	}
	XXH3_128bits_update(x->xs, p, n);
	x->got += n;
	x->au->stats.bytes_reread += n;
	return n;
}

static void xfer_done(bg_s3_req *r);

static int start_read(audit *au, axfer *x)
{
	aobj *o = x->o;
	arange *rg = &o->r[x->ri];
	int side = x->side;
	char range[64], ifmatch[BG_ETAG_MAX + 4];
	bg_header h[2];
	size_t nh = 0;
	if (o->etag[side][0]) {
		bg_snprintf(ifmatch, sizeof(ifmatch), "\"%s\"", o->etag[side]);
		h[nh++] = (bg_header){ "If-Match", ifmatch };
	}
	if (rg->len) {
		bg_snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)rg->off,
			    (unsigned long long)(rg->off + rg->len - 1));
		h[nh++] = (bg_header){ "Range", range };
	}
	x->len = rg->len;
	x->got = 0;
	XXH3_128bits_reset(x->xs);
	bg_s3_call c = {
		.method = "GET", .bucket = side == SRC ? au->o->src.bucket : au->o->dst.bucket,
		.key = o->key[side], .headers = h, .nheaders = nh, .write_fn = on_bytes,
		.io_ctx = x,
	};
	bg_status st = { 0 };
	if (bg_s3_prepare(&x->req, side == SRC ? &au->o->src_ep : &au->o->dst_ep, &c, &st) < 0 ||
	    bg_s3_start(&au->http, &x->req) < 0) {
		bg_fatal_set(&au->fatal, BG_E_INTERNAL, "cannot start a GET of %s: %s", o->key[side],
			     st.msg);
		return -1;
	}
	au->stats.requests++;
	return 0;
}

static void obj_maybe_done(audit *au, aobj *o)
{
	if (o->inflight)
		return;
	if (o->complete == o->nr && !o->stopped)
		au->stats.objects_reread++;
	if (o->complete == o->nr || o->stopped)
		obj_release(au, o);
}

static void xfer_free(audit *au, axfer *x)
{
	aobj *o = x->o;
	x->busy = false;
	bg_retry_reset(&x->retry);
	x->o = NULL;
	o->inflight--;
	obj_maybe_done(au, o);
}

/* A request of the side failed for good: the audit stops with one line. */
static void give_up(audit *au, int side, const bg_s3_req *r, bg_s3_outcome out,
		    const char *what, unsigned attempts, const char *msg, bool bucket_level)
{
	char line[BG_MSG_MAX];
	bg_s3_failure f = {
		.r = r, .out = out, .msg = msg, .what = what, .side = side_name(side),
		.loc = side == SRC ? &au->o->src : &au->o->dst,
		.ep = side == SRC ? &au->o->src_ep : &au->o->dst_ep, .attempts = attempts,
		.bucket_level = bucket_level,
	};
	bg_err code = bg_s3_explain(&f, line, sizeof(line));
	bg_fatal_set(&au->fatal, code, "%s", line);
}

static void xfer_done(bg_s3_req *r)
{
	axfer *x = r->owner;
	audit *au = x->au;
	aobj *o = x->o;
	char msg[BG_MSG_MAX];
	bg_s3_outcome out = bg_s3_classify(r, msg, sizeof(msg));
	if (out == BG_S3_DONE && x->got != x->len) {
		bg_snprintf(msg, sizeof(msg), "the %s sent %llu of %llu bytes", side_name(x->side),
			    (unsigned long long)x->got, (unsigned long long)x->len);
		out = BG_S3_RETRY;
	}
	if (o->stopped || au->fatal.set) {
		xfer_free(au, x);
		return;
	}
	if (out == BG_S3_FAIL && (r->status == 412 || r->status == 404)) {
		o->stopped = true;
		obj_finding(au, o, BG_AK_CHANGED, 0, "the %s object %s during the audit (%s): "
			    "audit it again", side_name(x->side),
			    r->status == 404 ? "was deleted" : "changed", msg);
		xfer_free(au, x);
		return;
	}
	if (out == BG_S3_RETRY && bg_retry_later(&x->retry, r, au->o->retries)) {
		au->stats.retries++;
		return;
	}
	if (out == BG_S3_RETRY) {
		char what[BG_KEY_MAX + 64];
		bg_snprintf(what, sizeof(what), "reading %s from the %s", o->key[x->side],
			    side_name(x->side));
		give_up(au, x->side, r, out, what, x->retry.attempt, msg, false);
		xfer_free(au, x);
		return;
	}
	if (out != BG_S3_DONE) {
		o->stopped = true;
		obj_finding(au, o, BG_AK_UNREADABLE, 0, "re-reading it from the %s failed: %s",
			    side_name(x->side), msg);
		xfer_free(au, x);
		return;
	}
	arange *rg = &o->r[x->ri];
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(x->xs));
	memcpy(rg->h[x->side], c.digest, 16);
	rg->done |= (uint8_t)(1u << x->side);
	if (rg->done == o->need) {
		o->complete++;
		range_check(au, o, x->ri);
	}
	xfer_free(au, x);
}

static axfer *free_xfer(audit *au)
{
	for (unsigned i = 0; i < au->nxf; i++)
		if (!au->xf[i].busy)
			return &au->xf[i];
	return NULL;
}

static void dispatch(audit *au, uint64_t now)
{
	for (unsigned i = 0; i < au->nxf && !au->fatal.set; i++) {
		axfer *x = &au->xf[i];
		if (!x->busy || !bg_retry_due(&x->retry, now))
			continue;
		x->retry.waiting = false;
		if (x->o->stopped || start_read(au, x) < 0)
			xfer_free(au, x);
	}
	for (aobj *o = au->head; o && !au->fatal.set;) {
		aobj *next = o->next;
		while (!o->stopped && o->cursor < o->nr * NSIDES) {
			int side = (int)(o->cursor % NSIDES) == 0 ? DST : SRC;
			uint32_t ri = o->cursor / NSIDES;
			if (!(o->need & 1u << side)) {
				o->cursor++;
				continue;
			}
			axfer *x = free_xfer(au);
			if (!x)
				return;
			o->cursor++;
			x->busy = true;
			x->o = o;
			x->ri = ri;
			x->side = side;
			o->inflight++;
			if (start_read(au, x) < 0) {
				xfer_free(au, x);
				return;
			}
		}
		o = next;
	}
}

/* ---- the merge, driven ------------------------------------------------ */

static void on_missing(audit *au, const bg_aent *s, const char *rel)
{
	bg_jobject jo;
	bg_ajrow row;
	int f = jrow(au, rel, &jo, &row);
	if (f < 0)
		return;
	char detail[160];
	if (!au->o->journal)
		bg_strlcpy(detail, "on the source, not on the destination", sizeof(detail));
	else if (f && jo.state == BG_JS_DONE)
		bg_strlcpy(detail, "on the source, not on the destination, though the journal has "
			   "it as copied", sizeof(detail));
	else
		bg_snprintf(detail, sizeof(detail), "on the source, not on the destination (the "
			    "journal has it as %s)", f ? state_name(jo.state) : "never copied");
	bg_afinding fi = { .kind = BG_AK_MISSING, .key = rel, .detail = detail,
			   .src_size = (int64_t)s->size, .dst_size = -1, .src_etag = s->etag };
	emit(au, &fi);
}

static void on_extra(audit *au, const bg_aent *d, const char *rel)
{
	bg_jobject jo;
	bg_ajrow row;
	int f = jrow(au, rel, &jo, &row);
	if (f < 0)
		return;
	const char *detail = f && jo.state == BG_JS_DONE
		? "on the destination, not on the source (the journal has it as copied: "
		  "deleted on the source since?)"
		: "on the destination, not on the source";
	bg_afinding fi = { .kind = BG_AK_EXTRA, .key = rel, .detail = detail,
			   .src_size = -1, .dst_size = (int64_t)d->size, .dst_etag = d->etag };
	emit(au, &fi);
}

/* A key on both sides.  pick: the sample chose it (or it is the fallback). */
static void on_both(audit *au, const bg_aent *s, const bg_aent *d, const char *rel, bool fallback)
{
	bg_jobject jo;
	bg_ajrow row;
	bg_acmp cmp;
	int f = jrow(au, rel, &jo, &row);
	if (f < 0)
		return;
	bg_audit_compare(s, d, au->o->journal ? &row : NULL, &cmp);
	if (fallback) { /* its listing findings were reported when it was merged */
		if (cmp.deep != BG_DEEP_NONE)
			deep_admit(au, rel, s, d, &cmp, &jo);
		return;
	}
	for (unsigned i = 0; i < cmp.n; i++) {
		cmp.f[i].key = rel;
		emit(au, &cmp.f[i]);
	}
	if (cmp.not_comparable)
		au->stats.not_comparable++;
	if (!au->o->deep || cmp.deep == BG_DEEP_NONE)
		return;
	au->stats.deep_candidates++;
	uint64_t rank;
	if (bg_audit_sampled(rel, d->klen, au->o->seed, au->o->sample, &rank)) {
		deep_admit(au, rel, s, d, &cmp, &jo);
	} else if (!au->cand_have || rank < au->cand_rank) {
		au->cand_have = true;
		au->cand_rank = rank;
		bg_strlcpy(au->cand_rel, rel, sizeof(au->cand_rel));
		au->cand_s = *s;
		au->cand_d = *d;
	}
}

static void merge(audit *au)
{
	while (!au->fatal.set) {
		const bg_aent *se, *de;
		const char *sk, *dk;
		bg_mstep step = bg_amerge_peek(&au->ls[SRC].m, &au->ls[DST].m, &se, &sk, &de, &dk);
		if (step == BG_M_WAIT)
			return;
		if (step == BG_M_END) {
			au->merge_end = au->stats.listing_done = true;
			return;
		}
		if (step == BG_M_BOTH && au->o->deep && !free_obj(au))
			return; /* every object slot is busy re-reading */
		au->stats.objects_checked++;
		if (step == BG_M_SRC)
			on_missing(au, se, sk);
		else if (step == BG_M_DST)
			on_extra(au, de, dk);
		else {
			au->stats.both++;
			on_both(au, se, de, sk, false);
		}
		bg_amerge_next(&au->ls[SRC].m, &au->ls[DST].m, step);
	}
}

/* "At least one object when the fraction is above zero": the key with the
 * smallest draw, once the merge has shown nothing was picked. */
static void fallback(audit *au)
{
	if (au->cand_done || !au->merge_end || !au->o->deep || au->picked || !au->cand_have ||
	    au->fatal.set || !free_obj(au))
		return;
	au->cand_done = true;
	au->cand_s.klen = au->cand_d.klen = (uint32_t)strlen(au->cand_rel);
	on_both(au, &au->cand_s, &au->cand_d, au->cand_rel, true);
}

/* ---- open uploads ----------------------------------------------------- */

static int on_open_upload(void *ctx, const bg_xml_upload *u)
{
	audit *au = ctx;
	const alister *l = &au->ls[DST];
	if (u->key_len < l->plen || memcmp(u->key, l->prefix, l->plen) != 0)
		return 0; /* not below the prefix */
	char rel[BG_KEY_MAX + 1], detail[BG_TOKEN_MAX + 200];
	size_t n = u->key_len - l->plen;
	memcpy(rel, u->key + l->plen, n);
	rel[n] = '\0';
	bg_snprintf(detail, sizeof(detail),
		    "multipart upload %.200s is open: its parts are stored (and billed) with no object; "
		    "resume the copy's journal or abort it", u->upload_id);
	bg_afinding f = { .kind = BG_AK_OPEN_UPLOAD, .key = rel, .detail = detail,
			  .src_size = -1, .dst_size = -1 };
	emit(au, &f);
	return 0;
}

/* ListMultipartUploads of the destination prefix, page by page, once the
 * audit's own requests are over (bg_s3_exec wants an idle loop): each open
 * upload is a finding, since an interrupted copy or an abort that failed
 * leaves storage behind that no listing of objects shows. */
static void open_uploads(audit *au)
{
	alister *l = &au->ls[DST];
	/* The destination's listing is over (the lister is idle for good):
	 * its request and body room are borrowed, done callback and all. */
	BG_ASSERT(bg_lister_idle(&l->ls));
	bg_s3_req *r = &l->ls.req;
	char key_marker[BG_KEY_MAX + 1] = "", id_marker[BG_TOKEN_MAX] = "";
	for (;;) {
		bg_query_param q[4];
		size_t nq = 0;
		q[nq++] = (bg_query_param){ "uploads", NULL };
		if (l->prefix[0])
			q[nq++] = (bg_query_param){ "prefix", l->prefix };
		if (key_marker[0])
			q[nq++] = (bg_query_param){ "key-marker", key_marker };
		if (id_marker[0])
			q[nq++] = (bg_query_param){ "upload-id-marker", id_marker };
		bg_s3_call c = { .method = "GET", .bucket = au->o->dst.bucket, .query = q, .nquery = nq };
		char msg[BG_MSG_MAX];
		unsigned retries = 0;
		bg_s3_outcome out = bg_s3_exec(&au->http, r, &au->o->dst_ep, &c, au->o->retries,
					       NULL, &retries, msg, sizeof(msg));
		au->stats.requests += retries + 1;
		au->stats.retries += retries;
		if (out != BG_S3_DONE) {
			give_up(au, DST, r, out, "listing the destination's open multipart uploads",
				retries + 1, msg, true);
			return;
		}
		bool trunc = false;
		if (bg_xml_parse_list_uploads(r->resp.data ? r->resp.data : "", r->resp.len,
					      on_open_upload, au, &trunc, key_marker, sizeof(key_marker),
					      id_marker, sizeof(id_marker)) < 0) {
			bg_fatal_set(&au->fatal, BG_E_PARSE, "the destination's ListMultipartUploads "
				     "answer cannot be read (%s)", au->o->dst_ep.url);
			return;
		}
		if (!trunc)
			return;
	}
}

/* ---- setup, loop, teardown ------------------------------------------- */

static void progress(audit *au, bool force)
{
	uint64_t now = bg_now_ns();
	if (!force && now - au->last_progress < 250000000ull)
		return;
	au->last_progress = now;
	au->stats.elapsed_ns = now - au->t0;
	if (au->o->on_progress)
		au->o->on_progress(au->o->ctx, &au->stats);
}

static void stop_all(audit *au)
{
	for (unsigned i = 0; au->xf && i < au->nxf; i++) {
		axfer *x = &au->xf[i];
		if (!x->busy)
			continue;
		if (x->req.http.active)
			bg_http_abort(&au->http, &x->req.http);
		x->o->stopped = true;
		xfer_free(au, x);
	}
	for (int s = 0; s < NSIDES; s++)
		bg_lister_stop(&au->ls[s].ls);
	while (au->head)
		obj_release(au, au->head);
}

static void teardown(audit *au)
{
	if (au->xf) {
		for (unsigned i = 0; i < au->nxf; i++) {
			bg_s3_req_free(&au->xf[i].req);
			if (au->xf[i].xs)
				XXH3_freeState(au->xf[i].xs);
		}
	}
	free(au->xf);
	if (au->objs)
		for (unsigned i = 0; i < au->nobjs; i++)
			free(au->objs[i].r);
	free(au->objs);
	for (int s = 0; s < NSIDES; s++) {
		bg_lister_free(&au->ls[s].ls);
		bg_aside_free(&au->ls[s].m);
	}
	bg_http_free(&au->http);
}

static bg_err setup(audit *au, const bg_audit_opts *o, bg_status *st)
{
	au->o = o;
	uint64_t by_memory = o->memory / BG_AUDIT_READ_COST;
	au->nxf = o->concurrency ? o->concurrency : 1;
	if (by_memory < au->nxf)
		au->nxf = by_memory ? (unsigned)by_memory : 1;
	au->nobjs = au->nxf + 4;
	/* reads of both sides and the two listings; idle connections of
	 * both sides kept (see copy.c's setup) */
	if (bg_http_init(&au->http, 2 * au->nxf + 36, 2 * au->nxf + 4, st))
		return st->code;
	for (int s = 0; s < NSIDES; s++)
		if (list_init(au, s, st))
			return st->code;
	if (!o->deep)
		return BG_OK;
	au->xf = calloc(au->nxf, sizeof(*au->xf));
	au->objs = calloc(au->nobjs, sizeof(*au->objs));
	if (!au->xf || !au->objs)
		return bg_fail(st, BG_E_NOMEM, "out of memory for the read tables");
	for (unsigned i = 0; i < au->nxf; i++) {
		axfer *x = &au->xf[i];
		if (bg_s3_req_init(&x->req, XFER_BODY_MAX, st))
			return st->code;
		x->req.owner = x;
		x->req.done = xfer_done;
		x->au = au;
		x->xs = XXH3_createState();
		if (!x->xs)
			return bg_fail(st, BG_E_NOMEM, "out of memory for hash states");
	}
	return BG_OK;
}

bg_err bg_audit_run(const bg_audit_opts *o, bg_audit_stats *stats, bg_status *st)
{
	audit *au = calloc(1, sizeof(*au));
	if (!au)
		return bg_fail(st, BG_E_NOMEM, "out of memory");
	bg_err rc = setup(au, o, st);
	if (rc != BG_OK) {
		teardown(au);
		free(au);
		return rc;
	}
	au->t0 = bg_now_ns();
	for (;;) {
		if (o->stop && *o->stop)
			bg_fatal_set(&au->fatal, BG_E_USAGE, "interrupted: the audit is incomplete");
		if (o->journal) {
			bg_status jst = { 0 };
			if (bg_journal_error_state(o->journal, &jst))
				bg_fatal_set(&au->fatal, jst.code ? jst.code : BG_E_IO, "journal: %s", jst.msg);
		}
		if (au->fatal.set) {
			stop_all(au);
			break;
		}
		maybe_list(au, &au->ls[SRC]);
		maybe_list(au, &au->ls[DST]);
		merge(au);
		fallback(au);
		if (o->deep)
			dispatch(au, bg_now_ns());
		progress(au, false);
		if (au->fatal.set)
			continue;
		if (au->merge_end && !au->active &&
		    (au->cand_done || !o->deep || au->picked || !au->cand_have))
			break;
		if (bg_http_turn(&au->http, 100000000ull) < 0)
			bg_fatal_set(&au->fatal, BG_E_INTERNAL, "event loop failed");
	}
	if (!au->fatal.set) {
		/* The listings worked (bucket and keys are fine) and the loop is
		 * idle: now the uploads no object listing shows. */
		open_uploads(au);
	}
	progress(au, true);
	*stats = au->stats;
	if (au->fatal.set) {
		*st = au->fatal.st;
		rc = st->code ? st->code : BG_E_INTERNAL;
	} else if (au->stats.findings) {
		rc = bg_fail(st, BG_E_INTEGRITY, "%llu finding(s)",
			     (unsigned long long)au->stats.findings);
	}
	teardown(au);
	free(au);
	return rc;
}
