/* lister.h - one ListObjectsV2 stream, a page at a time, for a scheduler
 * that runs its own loop (copy's source, both sides of an audit).
 *
 * The lister builds each request (list-type=2, encoding-type=url,
 * max-keys=1000, prefix, continuation-token), and judges each answer:
 * - a page is parsed whole before any key is delivered (xml.c); each key
 *   goes to the caller's `key` hook, between `mark` and `commit`;
 * - a page that does not parse (cut short on the way) is read again: the
 *   caller's `undo` takes back what its `key` hook did since `mark`, so
 *   the page's keys are counted once;
 * - a page of more keys than max-keys, or a truncated page whose next
 *   token is the one it was asked with (it would be read forever), stops
 *   the run: the keys go back with `undo` and the run's bg_fatal is set;
 * - retryable failures wait out bg_s3_backoff_ns, up to `attempts` in all;
 *   a failure for good is explained by bg_s3_explain into the bg_fatal.
 *
 * Lifetime: bg_lister_init allocates the request (its response buffer)
 * once; the lister lives in the scheduler's struct until bg_lister_free.
 * A page is in flight between bg_lister_next and its answer; the hooks run
 * from the loop's done queue, never from inside curl.  bg_lister_stop
 * drops the page in flight (even one already answered and queued): from
 * then on the lister is idle for good, so a loop waiting for it to be idle
 * ends.  An answer that comes after a fatal error is dropped too. */
#ifndef BG_LISTER_H
#define BG_LISTER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "http.h"
#include "run.h"
#include "s3.h"
#include "xml.h"

#define BG_LIST_PAGE 1000 /* max-keys: the most a page may hold */

/* What the caller does with a page.  All but `key` may be NULL. */
typedef struct bg_lister_hooks {
	void *ctx;
	/* A key of the page.  Non-zero: the page does not fit where the
	 * caller puts it (taken as a page over max-keys). */
	int (*key)(void *ctx, const bg_xml_object *x);
	void (*mark)(void *ctx);   /* a page is about to be delivered */
	void (*undo)(void *ctx);   /* take back every key since mark */
	/* The page was delivered whole (last: no page follows).  -1 with msg
	 * set: the caller cannot trust it (fatal, BG_E_PARSE). */
	int (*commit)(void *ctx, bool last, char *msg, size_t cap);
	/* Every answer, before it is judged (request metrics). */
	void (*answer)(void *ctx, bg_s3_req *r);
	/* A retry was scheduled: attempt (1-based), why; parse: the page
	 * came whole but did not parse. */
	void (*retry)(void *ctx, const bg_s3_req *r, unsigned attempt, const char *msg,
		      bool parse);
} bg_lister_hooks;

typedef struct bg_lister_conf {
	bg_http *http;
	const bg_location *loc;  /* bucket, and which keys for messages */
	const bg_endpoint *ep;
	const char *side;        /* "source" or "destination", for messages */
	const char *prefix;      /* listed as given */
	unsigned attempts;       /* per page, the first included */
	size_t body_max;         /* a page's XML is kept up to this */
	unsigned stall_timeout_s;/* 0: s3.c's default */
	bg_fatal *fatal;         /* the run's */
	uint64_t *requests;      /* counted as each page is asked for; may be NULL */
	bg_lister_hooks hooks;
} bg_lister_conf;

typedef struct bg_lister {
	bg_s3_req req;
	bg_lister_conf c;
	char prefix[BG_KEY_MAX + 2];
	char token[BG_TOKEN_MAX]; /* the next page's continuation-token */
	bool busy;                /* a page is in flight */
	bool eof;                 /* the last page was committed */
	bool stopped;             /* bg_lister_stop: idle for good */
	bool over;                /* during a parse: more keys than max-keys */
	unsigned nkeys;           /* during a parse: keys seen */
	bg_retry retry;
} bg_lister;

/* 0, or -1 with st set (no memory). */
int bg_lister_init(bg_lister *l, const bg_lister_conf *c, bg_status *st);
void bg_lister_free(bg_lister *l);

/* Asks for the next page when one is due: not in flight, not at the end,
 * not stopped, no fatal error, and a retry's backoff over.  The caller
 * calls it only when it has room for BG_LIST_PAGE more keys.  A request
 * that cannot start is fatal. */
void bg_lister_next(bg_lister *l, uint64_t now);

/* Would bg_lister_next ask for a page now (room aside)? */
bool bg_lister_due(const bg_lister *l, uint64_t now);

/* Drops the page in flight; the lister never asks for another. */
void bg_lister_stop(bg_lister *l);

/* Nothing in flight: a loop that is ending may end. */
static inline bool bg_lister_idle(const bg_lister *l)
{
	return !l->busy;
}

/* Judges one answer: exposed so the unit tests can feed canned pages to
 * it (r is &l->req, its status and body set by the test). */
void bg_lister_answer(bg_lister *l, bg_s3_req *r);

#endif
