/* audit.h - the audit scheduler: lists source and destination and compares
 * them as a merge of two sorted streams (a page at a time per side, so
 * memory does not grow with the bucket), checks each key against the
 * journal, and with `deep` re-reads objects with ranged GETs in parallel,
 * hashing the bytes as they arrive (XXH3-128) and comparing each part with
 * the journal's record (or, without one, the destination with the source).
 * Single-threaded: one bg_audit_run owns one ring and one curl multi.
 * docs/audit.md says what each finding means. */
#ifndef BG_AUDIT_H
#define BG_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "journal.h"
#include "util.h"
#include "xml.h"

/* What an audit can find.  Names (bg_audit_kind_name) are stable: they
 * are in reports and in the journal's audit_findings.kind. */
typedef enum bg_akind {
	BG_AK_MISSING,        /* "missing": on the source, not on the destination */
	BG_AK_EXTRA,          /* "extra": on the destination, not on the source */
	BG_AK_SIZE,           /* "size_mismatch" */
	BG_AK_ETAG,           /* "etag_mismatch": comparable ETags differ */
	BG_AK_SOURCE_CHANGED, /* "source_changed": source size/ETag differ from the journal's */
	BG_AK_NOT_JOURNALED,  /* "not_journaled": on both sides, journal has no done row */
	BG_AK_PART,           /* "part_mismatch": a destination part differs from its XXH3 */
	BG_AK_CONTENT,        /* "content_mismatch": bytes differ (single PUT, or vs source) */
	BG_AK_SOURCE_PART,    /* "source_mismatch": the source's bytes differ from the journal */
	BG_AK_UNREADABLE,     /* "unreadable": a re-read failed for good (403, 404, ...) */
	BG_AK_CHANGED,        /* "changed_during_audit": ETag changed between listing and re-read */
	BG_AK_OPEN_UPLOAD,    /* "open_upload": a multipart upload left open on the destination */
	BG_AK_COUNT
} bg_akind;

const char *bg_audit_kind_name(bg_akind k);

typedef struct bg_afinding {
	bg_akind kind;
	const char *key;      /* relative to the locations' prefixes */
	const char *detail;   /* one line */
	int64_t src_size, dst_size; /* -1 unknown / absent */
	const char *src_etag, *dst_etag; /* NULL when absent */
	uint32_t part;        /* 1-based part number, 0 when not about one part */
} bg_afinding;

typedef struct bg_audit_stats {
	uint64_t src_objects, src_bytes;   /* listed */
	uint64_t dst_objects, dst_bytes;
	uint64_t objects_checked;          /* keys looked at: the union of both listings */
	uint64_t both;                     /* keys on both sides */
	uint64_t not_comparable;           /* ETags that cannot be compared (not findings) */
	uint64_t deep_candidates;          /* objects a deep audit could re-read */
	uint64_t objects_reread, bytes_reread;
	uint64_t parts_reread;             /* ranges hashed */
	uint64_t unverifiable;             /* deep: nothing to compare the bytes with */
	uint64_t findings, by_kind[BG_AK_COUNT];
	uint64_t requests, retries;
	bool listing_done;
	uint64_t elapsed_ns;
} bg_audit_stats;

typedef struct bg_audit_opts {
	bg_location src, dst;
	bg_endpoint src_ep, dst_ep;
	bg_journal *journal;  /* NULL: no journal; else begun with bg_journal_begin_audit */
	bool deep;
	double sample;        /* deep: fraction of objects re-read, (0, 1]; 1 = all */
	uint64_t seed;        /* sampling seed */
	bool reread_source;   /* deep with a journal: re-read the source too */
	unsigned concurrency; /* ranged GETs in flight, at most */
	uint64_t memory;      /* budget: bounds reads in flight (BG_AUDIT_READ_COST each) */
	unsigned retries;     /* attempts per request */
	void (*on_finding)(void *ctx, const bg_afinding *f);
	void (*on_progress)(void *ctx, const bg_audit_stats *s);
	void *ctx;
	volatile int *stop;   /* set non-zero (from a signal) to stop early */
} bg_audit_opts;

/* Budget one read in flight takes: curl's receive buffer and its share of
 * socket buffers.  Reads hash the bytes as they arrive; nothing is held. */
#define BG_AUDIT_READ_COST (1024u * 1024u)

/* Runs the audit.  BG_OK: clean.  BG_E_INTEGRITY: findings (each reported
 * through on_finding and, with a journal, recorded there).  Anything else
 * is an error that prevented the audit (bucket missing, access denied, a
 * listing that failed after its retries, an unreadable journal), with the
 * message in st; findings reported before it stay reported. */
bg_err bg_audit_run(const bg_audit_opts *o, bg_audit_stats *stats, bg_status *st);

/* ---- pieces with no I/O, exposed for the unit tests ------------------ */

/* Orders keys as S3 lists them (UTF-8 binary: memcmp, shorter first). */
int bg_audit_keycmp(const char *a, size_t alen, const char *b, size_t blen);

typedef enum bg_etag_verdict {
	BG_ETAG_EQUAL,
	BG_ETAG_DIFFER,         /* both are plain MD5s and differ */
	BG_ETAG_NOT_COMPARABLE, /* at least one is multipart (or not an MD5) and they differ */
} bg_etag_verdict;
/* Without a journal: equal ETags are equal whatever they are; two plain
 * MD5 ETags (single-part objects) that differ are a mismatch; anything
 * else could be the same bytes uploaded in other parts. */
bg_etag_verdict bg_audit_etags(const char *src, const char *dst);

/* Is the key in the sample?  Deterministic in (seed, key): the same seed
 * picks the same keys whatever the listing order.  *rank gets the key's
 * 64-bit draw (the smallest is the fallback when nothing is picked). */
bool bg_audit_sampled(const char *key, size_t len, uint64_t seed, double fraction,
		      uint64_t *rank);

/* One listed object (key relative to the prefix). */
typedef struct bg_aent {
	uint32_t koff, klen;   /* into the page's key bytes */
	uint64_t size;
	char etag[BG_ETAG_MAX];
} bg_aent;

/* The journal's row of a key, as the comparison needs it. */
typedef struct bg_ajrow {
	bool found;
	bg_jstate state;
	uint64_t size;
	const char *src_etag, *dst_etag;
} bg_ajrow;

/* How a key on both sides compares.  Up to 3 findings, without key. */
typedef enum bg_adeep { BG_DEEP_NONE, BG_DEEP_JOURNAL, BG_DEEP_PAIR } bg_adeep;
typedef struct bg_acmp {
	unsigned n;
	bg_afinding f[3];
	char detail[3][320];
	bool not_comparable;
	bg_adeep deep;        /* how a deep audit can check it (none: sizes differ) */
	bool src_unchanged;   /* journaled, and the source is what was copied */
} bg_acmp;

/* Compares a key present on both sides.  j NULL: no journal given. */
void bg_audit_compare(const bg_aent *s, const bg_aent *d, const bg_ajrow *j, bg_acmp *out);

/* ---- the merge of two sorted listings ------------------------------- */

#define BG_APAGE_MAX 1000 /* keys per page (ListObjectsV2's maximum) */

typedef struct bg_apage {
	uint32_t n;
	uint32_t keylen; /* bytes used in keys */
	bg_aent ent[BG_APAGE_MAX];
	char keys[BG_APAGE_MAX * (BG_KEY_MAX + 1)];
} bg_apage;

/* One side: up to two pages (the one being merged and the next one,
 * fetched meanwhile), the position in the first, and the last key pushed
 * (to check the listing is sorted). */
typedef struct bg_aside {
	bg_apage *page[2];
	unsigned head, count;
	uint32_t pos;
	bool eof;     /* the last page has been pushed */
	char last[BG_KEY_MAX + 1];
	size_t last_len;
	bool has_last;
} bg_aside;

int bg_aside_init(bg_aside *s, bg_status *st);
void bg_aside_free(bg_aside *s);
/* The page to fill next, or NULL when both are in use or the listing is
 * complete.  Cleared. */
bg_apage *bg_aside_slot(bg_aside *s);
/* Appends an entry to a page being filled: 0, or -1 when full. */
int bg_apage_add(bg_apage *p, const char *key, size_t klen, uint64_t size, const char *etag);
/* Hands the filled slot page to the merge (last: no more pages).  -1 with
 * msg when its keys are not in strictly increasing order (across pages
 * too): a listing the merge cannot trust. */
int bg_aside_push(bg_aside *s, bool last, char *msg, size_t cap);

typedef enum bg_mstep {
	BG_M_WAIT, /* a side needs its next page */
	BG_M_BOTH, /* the same key on both sides */
	BG_M_SRC,  /* only on the source (for now: the destination is past it) */
	BG_M_DST,  /* only on the destination */
	BG_M_END,  /* both listings are complete and merged */
} bg_mstep;

/* The next step of the merge and the entries it is about (NULL when not
 * part of it); keys through *skey / *dkey.  Does not consume. */
bg_mstep bg_amerge_peek(bg_aside *s, bg_aside *d, const bg_aent **se, const char **skey,
			const bg_aent **de, const char **dkey);
/* Consumes the entries of a step peek returned. */
void bg_amerge_next(bg_aside *s, bg_aside *d, bg_mstep step);

#endif
