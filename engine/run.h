/* run.h - the core every scheduler (copy, audit, bench) shares: what
 * stops a whole run and how it is said, and when a request is tried again.
 *
 * bg_fatal is the run's first fatal error: the first bg_fatal_set wins and
 * later ones are dropped, so the line the user reads names the cause, not
 * a consequence.  It lives in the scheduler's own struct for the run's
 * lifetime; the loop tests `set` at the top of each turn and stops.
 *
 * bg_retry is one request slot's attempts: after a retryable answer the
 * slot waits out bg_s3_backoff_ns (full jitter, Retry-After honoured) and
 * the scheduler starts it again once bg_retry_due says so.  It belongs to
 * the slot and is reset when the slot takes new work.
 *
 * bg_s3_explain turns a request that failed for good into that one line:
 * the bucket does not exist, the keys are refused (naming the variables or
 * the profile to check), access is denied, the endpoint gave up after
 * every attempt, or anything else with the server's words.  One function
 * for every scheduler, so copy and audit say the same thing about the same
 * answer.  Nothing here does I/O or allocates. */
#ifndef BG_RUN_H
#define BG_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "s3.h"
#include "util.h"

typedef struct bg_fatal {
	bool set;
	bg_status st; /* code and one-line message */
} bg_fatal;

/* Records the run's fatal error unless one is recorded already. */
void bg_fatal_set(bg_fatal *f, bg_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One slot's attempts at its current request. */
typedef struct bg_retry {
	unsigned attempt; /* retries made so far */
	bool waiting;     /* a retry is due at `at` */
	uint64_t at;      /* bg_now_ns() */
} bg_retry;

/* After a retryable answer r: true when attempts are left (the slot now
 * waits for its backoff), false when this was the last one allowed
 * (`attempts` in all, the first included). */
bool bg_retry_later(bg_retry *t, const bg_s3_req *r, unsigned attempts);
/* Is the slot waiting, and has its time come? */
bool bg_retry_due(const bg_retry *t, uint64_t now);
/* The slot took new work (or its request succeeded). */
void bg_retry_reset(bg_retry *t);

/* What a failed answer says about the run. */
typedef enum bg_s3_why {
	BG_WHY_NO_BUCKET, /* NoSuchBucket, or a 404 to a bucket-level request */
	BG_WHY_KEYS,      /* the keys themselves are refused (InvalidAccessKeyId,
			   * SignatureDoesNotMatch, an expired token, ...) */
	BG_WHY_DENIED,    /* HTTP 403 otherwise (AccessDenied: what the keys may do) */
	BG_WHY_GAVE_UP,   /* retryable, and every attempt failed */
	BG_WHY_OTHER,     /* anything else: the server's words */
} bg_s3_why;

/* r is a finished request bg_s3_classify judged `out` (not BG_S3_DONE).
 * bucket_level: the request names no key (a listing, a HEAD of the
 * bucket), so a bare 404 can only mean the bucket. */
bg_s3_why bg_s3_why_failed(const bg_s3_req *r, bg_s3_outcome out, bool bucket_level);

/* A failed request, for bg_s3_explain. */
typedef struct bg_s3_failure {
	const bg_s3_req *r;
	bg_s3_outcome out;      /* bg_s3_classify's verdict */
	const char *msg;        /* bg_s3_classify's line ("HTTP 403 AccessDenied: ...") */
	const char *what;       /* "listing the source", or NULL when the line
				 * is about the side rather than one request */
	const char *side;       /* "source" or "destination" */
	const bg_location *loc; /* the side's bucket and kind (which keys) */
	const bg_endpoint *ep;  /* its URL and profile */
	unsigned attempts;      /* made, for BG_WHY_GAVE_UP */
	bool bucket_level;      /* see bg_s3_why_failed */
} bg_s3_failure;

/* Writes the one-line explanation into buf and returns the run's error
 * code: BG_E_NET when the endpoint gave up (worth running again), else
 * BG_E_CONFIG (for the user to fix). */
bg_err bg_s3_explain(const bg_s3_failure *f, char *buf, size_t cap);

/* The credentials a location uses, as the user sets them:
 * "R2_ACCESS_KEY_ID/R2_SECRET_ACCESS_KEY", the profile's keys, or
 * "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)". */
void bg_keys_hint(const bg_location *loc, const bg_endpoint *ep, char *buf, size_t cap);

#endif
