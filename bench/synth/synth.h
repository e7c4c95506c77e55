/* synth.h - barge-synth, a synthetic S3-compatible endpoint for benchmarks.
 *
 * Source buckets hold objects that are never stored: their bytes are a pure
 * function of (key, offset) (gen.c), so any size is served and any range is
 * cheap.  Sink buckets accept PUT and multipart uploads and compare every
 * received byte with the same function for the source object the key maps to
 * (s3.c); they keep only each object's size and ETag.  One thread, one epoll
 * loop, HTTP/1.1 keep-alive (net.c); optional latency and per-connection rate
 * limits emulate a wide-area link.  Signatures are NOT verified: any SigV4
 * credentials are accepted.  docs/bench.md has the operator's view. */
#ifndef SYN_SYNTH_H
#define SYN_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* ---- content generator and source buckets (gen.c) ---- */

#define SYN_NAME_MAX 64
#define SYN_CLASS_MAX 16
#define SYN_ETAG_MAX 48 /* 32 hex + "-10000" + NUL fits */

typedef enum { SYN_ETAG_FAKE, SYN_ETAG_MD5 } syn_etag_mode;

/* A class of objects: keys "<name>/<index>", index zero-padded to width. */
typedef struct syn_class {
	char name[SYN_NAME_MAX];
	uint64_t count, size;
	uint64_t part_size; /* the declared multipart layout; 0 = single part */
	unsigned width;
	char (*md5_etags)[SYN_ETAG_MAX]; /* --etag-mode md5: one per object */
	unsigned char (*md5s)[16];       /* single-part objects' MD5s, lazily */
	uint8_t *md5_have;
} syn_class;

typedef struct syn_src {
	char name[SYN_NAME_MAX];
	syn_class cls[SYN_CLASS_MAX]; /* sorted by name */
	unsigned ncls;
} syn_src;

/* One source object. */
typedef struct syn_obj {
	const syn_class *c;
	uint64_t idx;
	uint64_t seed; /* of the generator: FNV-1a 64 of the full key */
	uint64_t size;
} syn_obj;

uint64_t syn_seed(const char *key, size_t len);
/* The object's bytes [off, off+len) into buf. */
void syn_gen(uint64_t seed, uint64_t off, void *buf, size_t len);
/* Index of the first byte of buf that differs from the content at off, or
 * len when all match. */
size_t syn_check(uint64_t seed, uint64_t off, const void *buf, size_t len);
/* The byte the generator has at off. */
uint8_t syn_byte(uint64_t seed, uint64_t off);

/* Parses "name=COUNTxSIZE[@PARTSIZE],..." into src (name set by caller). */
int syn_src_parse(syn_src *s, const char *spec, char *err, size_t errlen);
/* The source object with exactly this key. */
bool syn_src_find(const syn_src *s, const char *key, size_t len, syn_obj *o);
/* The key of object idx of class c. */
int syn_key(const syn_class *c, uint64_t idx, char *buf, size_t cap);
void syn_obj_of(const syn_class *c, uint64_t idx, syn_obj *o);
/* Position of the first key > after (or >= from when !strict), as (class,
 * idx); false past the end. */
bool syn_src_seek(const syn_src *s, const char *key, bool strict, unsigned *ci, uint64_t *idx);

/* ETags.  A single-part object's ETag is the MD5 of its bytes (computed on
 * first use and kept: clients such as barge and rclone check it).  A declared
 * multipart object's ETag is md5 of its part tags + "-N", the form S3 and R2
 * give; in fake mode a part's tag is XXH3-128 of (seed, offset, length) (the
 * same for the same bytes of the same object, whoever computes it, and free),
 * in md5 mode the part's real MD5 (computed at start, ~2 s/GiB). */
void syn_fake_tag(uint64_t seed, uint64_t off, uint64_t len, unsigned char tag[16]);
void syn_obj_etag(const syn_obj *o, syn_etag_mode mode, char out[SYN_ETAG_MAX]);
uint64_t syn_obj_parts(const syn_obj *o); /* declared part count, 0 = single */
/* The real MD5 of a whole object, computed once and kept (single-part
 * objects' ETags: clients check them against the bytes). */
void syn_obj_md5(const syn_obj *o, unsigned char out[16]);
/* md5 of the concatenated 16-byte tags, as "<hex>-n". */
void syn_multipart_etag(const unsigned char (*tags)[16], uint64_t n, char out[SYN_ETAG_MAX]);
/* --etag-mode md5: the real MD5s of every object, once (slow: ~2 s/GiB). */
int syn_src_compute_md5(syn_src *s);

/* ---- endpoint configuration and statistics (s3.c) ---- */

#define SYN_MAX_BUCKETS 16

typedef struct syn_config {
	syn_etag_mode etag_mode;
	bool verify_md5;       /* check Content-MD5 when a request carries it */
	uint64_t latency_ns;   /* before each response's first byte */
	uint64_t rate_bps;     /* bytes/s per connection and direction; 0 = off */
	const char *default_src; /* buckets created by CreateBucket verify against it */
	bool quiet;
	const char *tls_cert, *tls_key; /* PEM files: serve HTTPS */
} syn_config;

extern syn_config syn_cfg;

int syn_add_source(const char *name, const char *spec, char *err, size_t errlen);
int syn_add_sink(const char *name, const char *src, char *err, size_t errlen);
void syn_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- connections and the loop (net.c) ---- */

typedef struct syn_conn syn_conn;

/* The request as parsed by net.c, handed to s3.c. */
typedef struct syn_req {
	const char *method;
	char *path;  /* decoded, without the query */
	char *query; /* raw, without '?' (may be "") */
	uint64_t content_length;
	bool has_length;
	bool chunked;      /* Transfer-Encoding: chunked */
	bool aws_chunked;  /* Content-Encoding: aws-chunked or a streaming sha256 */
	bool expect_continue;
	const char *range, *if_match, *content_md5, *copy_source;
} syn_req;

/* What the body of the current request is for (set by s3.c's begin). */
typedef enum { SYN_BODY_DISCARD, SYN_BODY_VERIFY, SYN_BODY_BUFFER } syn_body_kind;

/* s3.c: called when a request's head is complete.  Either answers at once
 * (syn_reply*) or sets the body kind and waits for syn_s3_end. */
void syn_s3_begin(syn_conn *c, syn_req *r);
/* s3.c: the body is consumed (verify / buffer done); answer. */
void syn_s3_end(syn_conn *c);
/* s3.c: feeds body bytes of a SYN_BODY_VERIFY request. */
void syn_s3_verify(syn_conn *c, const char *p, size_t n);

/* net.c: answering. */
void syn_reply(syn_conn *c, int status, const char *extra_headers, const char *body, size_t len);
void syn_reply_error(syn_conn *c, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A response whose body is generated: headers (with Content-Length) plus
 * len bytes of object seed from off. */
void syn_reply_gen(syn_conn *c, int status, const char *headers, uint64_t seed, uint64_t off,
		   uint64_t len, bool head_only);
void syn_set_body(syn_conn *c, syn_body_kind kind, size_t buffer_cap);
bg_buf *syn_body_buf(syn_conn *c);
/* Per-request state s3.c keeps in the connection (allocated with it). */
void *syn_conn_ctx(syn_conn *c);
void *syn_s3_ctx_new(void);
void syn_s3_ctx_free(void *ctx);

int syn_serve(const char *host, int port, const char *port_file);
int syn_urldecode(char *s, bool plus_is_space);

/* Counters, served as JSON by GET /_synth/stats. */
typedef struct syn_stats {
	uint64_t requests, conns_total, conns_open;
	uint64_t bytes_in, bytes_out;     /* on the sockets, heads included */
	uint64_t bytes_served;            /* generated GET bodies */
	uint64_t bytes_received;          /* PUT and UploadPart bodies */
	uint64_t bytes_verified;          /* of those, equal to the source's */
	uint64_t bytes_md5;               /* received bytes hashed (Content-MD5, md5 mode) */
	uint64_t bytes_md5_source;        /* generated bytes hashed for single-part ETags */
	uint64_t verify_ns, md5_ns, md5_source_ns; /* time spent comparing and hashing */
	uint64_t md5_by_content; /* Content-MD5 headers equal to the source's MD5 */
	uint64_t objects_verified, parts_verified, errors;
} syn_stats;
extern syn_stats syn_st;

/* relay.c */
int syn_relay_main(int argc, char **argv);

#endif
