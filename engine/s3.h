/* s3.h - S3 requests on top of http.c: path-style URLs, SigV4 headers,
 * response capture (status, ETag, length, preserved metadata, error body)
 * and one classification of every outcome into done, retry or fail.
 *
 * A bg_s3_req is created once at start and reused for many requests; its
 * header list nodes and buffers live inside it, so preparing a request
 * does not allocate (curl copies the URL internally). */
#ifndef BG_S3_H
#define BG_S3_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "http.h"
#include "sigv4.h"
#include "xml.h"

/* Request headers: barge's own (at most 10) and the object's metadata,
 * which S3 bounds by 2 KiB of names and values, not by count; an object
 * with more than the rest of these fails with a message. */
#define BG_S3_MAX_HEADERS BG_SIGV4_MAX_HEADERS
#define BG_META_MAX 8192 /* S3 allows 2 KiB of user metadata; headers add some */

/* Headers that travel with an object: Content-Type, Content-Encoding,
 * Content-Disposition, Cache-Control, Content-Language, Expires and
 * x-amz-meta-*.  Stored as "name\0value\0" pairs. */
typedef struct bg_meta {
	char buf[BG_META_MAX];
	size_t len;
	unsigned count;
} bg_meta;

void bg_meta_clear(bg_meta *m);
/* Adds a pair if the header is one that is preserved. 0, or -1 when full. */
int bg_meta_capture(bg_meta *m, const char *name, size_t nlen, const char *value, size_t vlen);

typedef enum bg_body_kind {
	BG_BODY_NONE,
	BG_BODY_MEM,    /* body/body_len below (POST of XML) */
	BG_BODY_STREAM, /* read_fn supplies body_len bytes */
} bg_body_kind;

typedef size_t (*bg_s3_read_fn)(void *ctx, char *dst, size_t n);
/* Returns n to continue, CURL_WRITEFUNC_PAUSE to pause (the same bytes come
 * again after curl_easy_pause(CURLPAUSE_CONT)), anything else aborts. */
typedef size_t (*bg_s3_write_fn)(void *ctx, const char *src, size_t n);

typedef struct bg_s3_call {
	const char *method;       /* GET HEAD PUT POST DELETE */
	const char *bucket;
	const char *key;          /* NULL for bucket-level requests */
	const bg_query_param *query;
	size_t nquery;
	const bg_header *headers; /* extra headers, e.g. Range, If-Match */
	size_t nheaders;
	const bg_meta *meta;      /* object headers to send, or NULL */
	bg_body_kind body;
	const char *mem;          /* BG_BODY_MEM */
	uint64_t body_len;
	bg_s3_read_fn read_fn;    /* BG_BODY_STREAM */
	bg_s3_write_fn write_fn;  /* 2xx bodies go here when set, else into resp */
	void *io_ctx;
	bool capture_meta;        /* collect preserved headers of the response */
} bg_s3_call;

typedef enum bg_s3_outcome { BG_S3_DONE, BG_S3_RETRY, BG_S3_FAIL } bg_s3_outcome;

typedef struct bg_s3_req bg_s3_req;
typedef void (*bg_s3_done_fn)(bg_s3_req *r);

struct bg_s3_req {
	bg_http_req http;
	bg_s3_done_fn done;
	void *owner;
	uintptr_t tag; /* free for the owner */

	/* request */
	char url[8192];
	char hdrbuf[16384];
	size_t hdrlen;
	struct curl_slist nodes[BG_S3_MAX_HEADERS];
	unsigned nnodes;
	bg_s3_write_fn write_fn;
	bg_s3_read_fn read_fn;
	void *io_ctx;
	bool capture_meta;

	/* response */
	long status;
	bg_buf resp;    /* XML and error bodies, capped */
	char etag[BG_ETAG_MAX];
	uint64_t content_length;
	bool has_length;
	unsigned mp_parts;   /* x-amz-mp-parts-count */
	bool etag_opaque;    /* SSE-KMS or SSE-C: the ETag is not an MD5 of the bytes */
	long retry_after_s;  /* -1 if absent */
	uint64_t asked_ns;   /* bg_now_ns() when bg_s3_prepare made the request */
	bg_meta meta;
	bg_xml_error err;    /* filled by bg_s3_classify on errors */
	bool sink_failed;    /* write_fn refused the bytes */
	char sink_msg[160];
};

/* body_cap bounds responses kept in memory (e.g. 64 KiB, 8 MiB for lists). */
int bg_s3_req_init(bg_s3_req *r, size_t body_cap, bg_status *st);
void bg_s3_req_free(bg_s3_req *r);
/* A transfer under 1 KiB/s for `secs` is given up (a retryable timeout);
 * bg_s3_req_init sets 30 s. */
void bg_s3_req_stall(bg_s3_req *r, unsigned secs);

/* Builds URL, headers and signature and sets curl up; the caller then
 * passes &r->http to bg_http_add.  0 or -1 with st filled (a key too long
 * to encode, signing failure). */
int bg_s3_prepare(bg_s3_req *r, const bg_endpoint *ep, const bg_s3_call *c, bg_status *st);

/* Starts the prepared request: 0 or -1. */
int bg_s3_start(bg_http *h, bg_s3_req *r);

/* Classifies the finished request; msg gets a one-line description such
 * as "HTTP 403 AccessDenied: Access Denied" or "connection reset". */
bg_s3_outcome bg_s3_classify(bg_s3_req *r, char *msg, size_t cap);

/* Backoff before attempt `attempt` (1-based): full jitter over
 * min(cap, base * 2^attempt), or Retry-After when the server sent one. */
uint64_t bg_s3_backoff_ns(const bg_s3_req *r, unsigned attempt);

/* Runs one request to its end, synchronously, on a loop nobody else is
 * using at the time: prepares it, turns h until it finished, and retries
 * whatever bg_s3_classify calls retryable, at most `attempts` attempts in
 * all, sleeping bg_s3_backoff_ns between them.  For the tools that do one
 * request at a time (barge ls, doctor, plan).  `rewind`, if not NULL, is
 * called with c->io_ctx before every attempt, so a streamed body or a sink
 * starts over.  r->done and r->owner are overwritten.  *retries (may be
 * NULL) is increased by the retries made.  Returns the last outcome; msg
 * says why for RETRY (given up) and FAIL, and a request that could not be
 * prepared or started is FAIL with its reason. */
bg_s3_outcome bg_s3_exec(bg_http *h, bg_s3_req *r, const bg_endpoint *ep, const bg_s3_call *c,
			 unsigned attempts, void (*rewind)(void *io_ctx), unsigned *retries,
			 char *msg, size_t cap);

#endif
