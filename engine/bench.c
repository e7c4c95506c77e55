/* bench.c - `barge bench` (see bench.h, docs/bench.md).
 *
 * One loop per phase over `nxf` transfer slots.  A phase hands out jobs
 * (next_job): the upload walks objects in order, each a single PUT or a
 * Create -> parts -> Complete chain, with the parts of the objects admitted
 * so far handed out first; the download and the cleanup are flat lists of
 * independent requests.  A slot whose request must be retried keeps its
 * job and waits for its backoff.  Bodies are generated as curl asks for
 * them and received bytes are hashed as they arrive: nothing is buffered,
 * so a slot costs its curl buffers only.
 *
 * Every finished request adds its time to first byte and total time to
 * its kind's latency table (grown by doubling, capped); the percentiles
 * are taken when the phase ends. */
#include "bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <xxhash.h>

#include "http.h"
#include "plan.h"
#include "run.h"
#include "s3.h"

#define XFER_BODY_MAX (64u << 10)
#define UPLOADS_BODY_MAX (8u << 20)
#define COMPLETE_BODY_MAX (1u << 20)
#define LAT_MAX (16u << 20)   /* latency samples kept per kind and phase */
#define UPLOADS_MAX 100000u   /* open uploads the cleanup aborts */
#define GEN_BUF (1u << 20)

static const char *const op_names[BG_BOP_COUNT] = {
	[BG_BOP_PUT] = "put", [BG_BOP_CREATE] = "create_multipart",
	[BG_BOP_PART] = "upload_part", [BG_BOP_COMPLETE] = "complete_multipart",
	[BG_BOP_GET] = "get", [BG_BOP_UPLOADS] = "list_uploads",
	[BG_BOP_DELETE] = "delete", [BG_BOP_ABORT] = "abort_multipart",
};

static const char *const phase_names[BG_BPH_COUNT] = {
	[BG_BPH_UPLOAD] = "upload", [BG_BPH_DOWNLOAD] = "download",
	[BG_BPH_COPY] = "copy", [BG_BPH_CLEANUP] = "cleanup",
};

const char *bg_bench_op_name(bg_bench_op op)
{
	return (unsigned)op < BG_BOP_COUNT ? op_names[op] : "unknown";
}

const char *bg_bench_phase_name(bg_bench_phase_id ph)
{
	return (unsigned)ph < BG_BPH_COUNT ? phase_names[ph] : "unknown";
}

/* ---- generator and percentiles (no I/O) --------------------------------- */

uint64_t bg_bench_seed(const char *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "bench's generator copies words as little-endian bytes"
#endif

void bg_bench_gen(uint64_t seed, uint64_t off, void *buf, size_t len)
{
	unsigned char *p = buf;
	uint64_t w = off >> 3, v;
	unsigned sh = (unsigned)(off & 7);
	if (sh && len) {
		v = bg_bench_word(seed, w++);
		size_t n = 8 - sh < len ? 8 - sh : len;
		memcpy(p, (unsigned char *)&v + sh, n);
		p += n;
		len -= n;
	}
	for (; len >= 8; len -= 8, p += 8) {
		v = bg_bench_word(seed, w++);
		memcpy(p, &v, 8);
	}
	if (len) {
		v = bg_bench_word(seed, w);
		memcpy(p, &v, len);
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

uint32_t bg_bench_pct(uint32_t *v, size_t n, double q)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u32);
	double r = q * (double)n;
	size_t k = (size_t)r;
	if ((double)k < r)
		k++;
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

/* ---- state ---------------------------------------------------------------- */

enum { OS_NEW, OS_CREATING, OS_PARTS, OS_COMPLETING, OS_DONE, OS_FAILED };
enum { SRC = 0, DST = 1 };

typedef struct blat {
	uint32_t *ttfb, *total; /* microseconds */
	size_t n, cap;
	uint64_t count, errors;
} blat;

typedef struct bobj {
	uint8_t state;     /* upload: OS_*; after it, OS_DONE objects are read back */
	bool failed;       /* the current phase failed it */
	uint32_t next_part, parts_done, inflight;
	char *upload_id;
	char (*etags)[BG_ETAG_MAX];
} bobj;

typedef struct bupload {
	int side;
	char *key, *id;
} bupload;

typedef struct bxfer {
	bg_s3_req req;
	struct bench *b;
	bg_bench_op op;
	uint32_t obj, idx; /* object; part or range (0-based), or cleanup item */
	int side;
	bool busy;
	bg_retry retry; /* reset when the slot is freed */
	uint64_t off, len, pos, seed;
	XXH3_state_t *xs;
	char key[BG_KEY_MAX + 1];
	char q1[24];
	bg_buf body;
} bxfer;

typedef struct bench {
	const bg_bench_opts *o;
	bg_bench_result *res;
	bg_http http;
	bool http_up;
	bxfer *xf;
	unsigned nxf;
	bobj *objs;
	uint64_t *exp;     /* expected XXH3-64 per (object, range) */
	uint32_t nparts;
	uint64_t part;
	bg_bench_phase_id ph;
	bg_bench_phase *cur;
	blat lat[BG_BOP_COUNT];
	uint32_t lo, next_obj;
	uint64_t cursor, njobs;
	bg_fatal fatal; /* the run's first fatal error */
	/* cleanup */
	bupload *ups;
	size_t nups, upcap;
	bool lu_busy[2], lu_pending[2];
	char lu_key[2][BG_KEY_MAX + 1], lu_id[2][BG_TOKEN_MAX];
	int lu_side; /* side whose page is being parsed */
} bench;

static void phase_error(bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void phase_error(bench *b, const char *fmt, ...)
{
	if (b->cur->error[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->cur->error, sizeof(b->cur->error), fmt, ap);
	va_end(ap);
}

static void obj_key(const bench *b, int side, uint32_t i, char *out, size_t cap)
{
	bg_snprintf(out, cap, "%sobj-%08u", side == SRC ? b->res->src_prefix : b->res->dst_prefix,
		    i);
}

static const bg_endpoint *side_ep(const bench *b, int side)
{
	return side == SRC ? &b->o->src_ep : &b->o->dst_ep;
}

static const char *side_name(int side)
{
	return side == SRC ? "source" : "destination";
}

static const char *side_bucket(const bench *b, int side)
{
	return side == SRC ? b->o->src.bucket : b->o->dst.bucket;
}

static void lat_add(bench *b, bg_bench_op op, uint32_t ttfb, uint32_t total, bool ok)
{
	blat *l = &b->lat[op];
	l->count++;
	if (!ok)
		l->errors++;
	if (l->n == l->cap) {
		if (l->cap >= LAT_MAX)
			return;
		size_t cap = l->cap ? 2 * l->cap : 1024;
		uint32_t *t = realloc(l->ttfb, cap * sizeof(*t));
		if (t)
			l->ttfb = t;
		uint32_t *u = realloc(l->total, cap * sizeof(*u));
		if (u)
			l->total = u;
		if (!t || !u)
			return;
		l->cap = cap;
	}
	l->ttfb[l->n] = ttfb;
	l->total[l->n] = total;
	l->n++;
}

/* ---- requests ------------------------------------------------------------- */

static size_t gen_read(void *ctx, char *dst, size_t n)
{
	bxfer *x = ctx;
	uint64_t left = x->len - x->pos;
	size_t m = left < n ? (size_t)left : n;
	bg_bench_gen(x->seed, x->off + x->pos, dst, m);
	x->pos += m;
	return m;
}

static size_t on_bytes(void *ctx, const char *p, size_t n)
{
	bxfer *x = ctx;
	if (x->pos + n > x->len) {
		bg_snprintf(x->req.sink_msg, sizeof(x->req.sink_msg),
			    "the source sent more than the %llu bytes asked for",
			    (unsigned long long)x->len);
		return 0;
	}
	XXH3_64bits_update(x->xs, p, n);
	x->pos += n;
	return n;
}

static int build_complete(bench *b, bobj *o, bg_buf *body)
{
	bg_buf_reset(body);
	int rc = bg_buf_addf(body, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (uint32_t i = 0; i < b->nparts && rc == 0; i++)
		rc = bg_buf_addf(body, "<Part><PartNumber>%u</PartNumber><ETag>\"%s\"</ETag></Part>",
				 i + 1, o->etags[i]);
	if (rc == 0)
		rc = bg_buf_addf(body, "</CompleteMultipartUpload>");
	return rc;
}

/* One request of the job in x.  One case per kind of request, each short:
 * the switch reads as the table of what bench sends (88 lines, over the
 * usual 80 on purpose). */
static int start_req(bench *b, bxfer *x)
{
	bobj *o = x->obj < b->o->count ? &b->objs[x->obj] : NULL;
	bg_query_param q[4];
	size_t nq = 0;
	bg_header h[1];
	size_t nh = 0;
	char range[64];
	bg_s3_call c = { .bucket = side_bucket(b, x->side), .key = x->key };
	x->pos = 0;
	switch (x->op) {
	case BG_BOP_PUT:
	case BG_BOP_PART:
		c.method = "PUT";
		c.body = BG_BODY_STREAM;
		c.body_len = x->len;
		c.read_fn = gen_read;
		c.io_ctx = x;
		if (x->op == BG_BOP_PART) {
			bg_snprintf(x->q1, sizeof(x->q1), "%u", x->idx + 1);
			q[nq++] = (bg_query_param){ "partNumber", x->q1 };
			q[nq++] = (bg_query_param){ "uploadId", o->upload_id };
		}
		break;
	case BG_BOP_CREATE:
		q[nq++] = (bg_query_param){ "uploads", NULL };
		c.method = "POST";
		c.body = BG_BODY_MEM;
		c.mem = "";
		break;
	case BG_BOP_COMPLETE:
		if (build_complete(b, o, &x->body) < 0) {
			bg_fatal_set(&b->fatal, BG_E_NOMEM, "CompleteMultipartUpload body too large");
			return -1;
		}
		q[nq++] = (bg_query_param){ "uploadId", o->upload_id };
		c.method = "POST";
		c.body = BG_BODY_MEM;
		c.mem = x->body.data;
		c.body_len = x->body.len;
		break;
	case BG_BOP_GET:
		c.method = "GET";
		c.write_fn = on_bytes;
		c.io_ctx = x;
		if (b->nparts > 1) {
			bg_snprintf(range, sizeof(range), "bytes=%llu-%llu",
				    (unsigned long long)x->off,
				    (unsigned long long)(x->off + x->len - 1));
			h[nh++] = (bg_header){ "Range", range };
		}
		XXH3_64bits_reset(x->xs);
		break;
	case BG_BOP_UPLOADS:
		c.method = "GET";
		c.key = NULL;
		q[nq++] = (bg_query_param){ "uploads", NULL };
		q[nq++] = (bg_query_param){ "prefix", x->side == SRC ? b->res->src_prefix :
								      b->res->dst_prefix };
		if (b->lu_key[x->side][0])
			q[nq++] = (bg_query_param){ "key-marker", b->lu_key[x->side] };
		if (b->lu_id[x->side][0])
			q[nq++] = (bg_query_param){ "upload-id-marker", b->lu_id[x->side] };
		break;
	case BG_BOP_DELETE:
		c.method = "DELETE";
		break;
	case BG_BOP_ABORT:
		c.method = "DELETE";
		q[nq++] = (bg_query_param){ "uploadId", b->ups[x->idx].id };
		break;
	default:
		BG_ASSERT(!"unknown bench op");
	}
	c.query = q;
	c.nquery = nq;
	c.headers = h;
	c.nheaders = nh;
	bg_status st = { 0 };
	if (bg_s3_prepare(&x->req, side_ep(b, x->side), &c, &st) < 0 ||
	    bg_s3_start(&b->http, &x->req) < 0) {
		bg_fatal_set(&b->fatal, BG_E_INTERNAL, "cannot start a %s of %s: %s",
			     op_names[x->op], x->key, st.msg);
		return -1;
	}
	b->cur->requests++;
	return 0;
}

/* ---- jobs ----------------------------------------------------------------- */

static void job_object(bench *b, bxfer *x, bg_bench_op op, uint32_t i, uint32_t idx, int side)
{
	x->op = op;
	x->obj = i;
	x->idx = idx;
	x->side = side;
	obj_key(b, side, i, x->key, sizeof(x->key));
	x->seed = bg_bench_seed(x->key, strlen(x->key));
	if (op == BG_BOP_PART || op == BG_BOP_GET) {
		x->off = (uint64_t)idx * b->part;
		x->len = b->o->size - x->off < b->part ? b->o->size - x->off : b->part;
	} else if (op == BG_BOP_PUT) {
		x->off = 0;
		x->len = b->o->size;
	} else {
		x->off = x->len = 0;
	}
	if (i < b->o->count)
		b->objs[i].inflight++;
}

/* The next job of the phase into x: 1, or 0 when there is none now. */
static int next_job(bench *b, bxfer *x)
{
	uint32_t n = b->o->count;
	if (b->ph == BG_BPH_UPLOAD) {
		while (b->lo < b->next_obj &&
		       (b->objs[b->lo].state == OS_DONE || b->objs[b->lo].state == OS_FAILED))
			b->lo++;
		for (uint32_t i = b->lo; i < b->next_obj; i++) {
			bobj *o = &b->objs[i];
			if (o->state != OS_PARTS)
				continue;
			if (o->next_part < b->nparts) {
				job_object(b, x, BG_BOP_PART, i, o->next_part++, SRC);
				return 1;
			}
			if (o->parts_done == b->nparts && !o->inflight) {
				o->state = OS_COMPLETING;
				job_object(b, x, BG_BOP_COMPLETE, i, 0, SRC);
				return 1;
			}
		}
		if (b->next_obj == n)
			return 0;
		uint32_t i = b->next_obj++;
		if (b->nparts > 1) {
			b->objs[i].etags = calloc(b->nparts, sizeof(*b->objs[i].etags));
			if (!b->objs[i].etags) {
				bg_fatal_set(&b->fatal, BG_E_NOMEM, "out of memory for part ETags");
				return 0;
			}
			b->objs[i].state = OS_CREATING;
			job_object(b, x, BG_BOP_CREATE, i, 0, SRC);
		} else {
			b->objs[i].state = OS_CREATING; /* a single PUT: no parts to hand out */
			job_object(b, x, BG_BOP_PUT, i, 0, SRC);
		}
		return 1;
	}
	if (b->ph == BG_BPH_DOWNLOAD) {
		while (b->cursor < b->njobs) {
			uint32_t i = (uint32_t)(b->cursor / b->nparts);
			uint32_t r = (uint32_t)(b->cursor % b->nparts);
			b->cursor++;
			if (b->objs[i].state != OS_DONE || b->objs[i].failed)
				continue;
			job_object(b, x, BG_BOP_GET, i, r, SRC);
			return 1;
		}
		return 0;
	}
	/* cleanup: the open uploads of both sides first, then the deletes and aborts */
	for (int s = 0; s < 2; s++) {
		if (b->lu_pending[s] && !b->lu_busy[s]) {
			b->lu_pending[s] = false;
			b->lu_busy[s] = true;
			job_object(b, x, BG_BOP_UPLOADS, UINT32_MAX, 0, s);
			bg_strlcpy(x->key, "", sizeof(x->key));
			return 1;
		}
	}
	if (b->lu_busy[0] || b->lu_busy[1] || b->lu_pending[0] || b->lu_pending[1])
		return 0;
	uint64_t ndel = b->o->keep ? 0 : 2ull * n;
	b->njobs = ndel + b->nups;
	if (b->cursor >= b->njobs)
		return 0;
	uint64_t j = b->cursor++;
	if (j < ndel) {
		job_object(b, x, BG_BOP_DELETE, UINT32_MAX, 0, (int)(j / n));
		obj_key(b, x->side, (uint32_t)(j % n), x->key, sizeof(x->key));
		return 1;
	}
	bupload *u = &b->ups[j - ndel];
	job_object(b, x, BG_BOP_ABORT, UINT32_MAX, (uint32_t)(j - ndel), u->side);
	bg_strlcpy(x->key, u->key, sizeof(x->key));
	return 1;
}

/* ---- completions ---------------------------------------------------------- */

static void obj_failed(bench *b, bxfer *x, const char *msg)
{
	if (x->obj < b->o->count) {
		bobj *o = &b->objs[x->obj];
		if (!o->failed) {
			o->failed = true;
			b->cur->failed++;
			if (b->ph == BG_BPH_UPLOAD)
				o->state = OS_FAILED;
		}
	} else {
		b->cur->failed++;
	}
	phase_error(b, "%s of %s failed: %s", op_names[x->op], x->key, msg);
}

static int on_upload(void *ctx, const bg_xml_upload *u)
{
	bench *b = ctx;
	if (b->nups == UPLOADS_MAX)
		return 0;
	if (b->nups == b->upcap) {
		size_t cap = b->upcap ? 2 * b->upcap : 64;
		bupload *n = realloc(b->ups, cap * sizeof(*n));
		if (!n)
			return 1;
		b->ups = n;
		b->upcap = cap;
	}
	char *k = strndup(u->key, u->key_len), *id = strdup(u->upload_id);
	if (!k || !id) {
		free(k);
		free(id);
		return 1;
	}
	b->ups[b->nups++] = (bupload){ .side = b->lu_side, .key = k, .id = id };
	return 0;
}

/* Success of a request whose body needs reading: 0, or -1 with msg. */
static int created(bobj *o, const bg_s3_req *r, const char *body, char *msg, size_t cap)
{
	char id[BG_TOKEN_MAX];
	if (bg_xml_parse_initiate(body, r->resp.len, id, sizeof(id)) < 0) {
		bg_snprintf(msg, cap, "no UploadId in the answer");
		return -1;
	}
	o->upload_id = strdup(id);
	if (!o->upload_id) {
		bg_snprintf(msg, cap, "out of memory");
		return -1;
	}
	o->state = OS_PARTS;
	return 0;
}

static int completed(bench *b, bobj *o, const bg_s3_req *r, const char *body, char *msg,
		     size_t cap)
{
	/* Only an <Error> in a 200 matters here: the ETag is not needed
	 * (and moto names the result element CompleteMultipartUploadResponse). */
	char etag[BG_ETAG_MAX];
	bg_xml_error err;
	int rc = bg_xml_parse_complete(body, r->resp.len, etag, sizeof(etag), &err);
	if (rc < 0 && bg_xml_parse_error(body, r->resp.len, &err) == 0)
		rc = 1;
	if (rc > 0) {
		bg_snprintf(msg, cap, "CompleteMultipartUpload answered 200 with error %s: %s",
			    err.code, err.message);
		return -1;
	}
	o->state = OS_DONE;
	b->cur->objects++;
	b->cur->bytes += b->o->size;
	return 0;
}

/* A ranged GET read back: all its bytes, with the XXH3 they were
 * generated with.  -2: the bytes are wrong (not retried). */
static int read_back(bench *b, bxfer *x, bobj *o, char *msg, size_t cap)
{
	if (x->pos != x->len) {
		bg_snprintf(msg, cap, "got %llu of %llu bytes", (unsigned long long)x->pos,
			    (unsigned long long)x->len);
		return -1;
	}
	uint64_t got = XXH3_64bits_digest(x->xs);
	uint64_t want = b->exp[(uint64_t)x->obj * b->nparts + x->idx];
	if (got != want) {
		bg_snprintf(msg, cap, "bytes %llu-%llu read back with XXH3 %016llx, "
			    "generated %016llx", (unsigned long long)x->off,
			    (unsigned long long)(x->off + x->len - 1),
			    (unsigned long long)got, (unsigned long long)want);
		return -2;
	}
	b->cur->bytes += x->len;
	if (++o->parts_done == b->nparts)
		b->cur->objects++;
	return 0;
}

static int listed_uploads(bench *b, bxfer *x, const char *body, size_t len, char *msg,
			  size_t cap)
{
	bool trunc = false;
	b->lu_side = x->side;
	int rc = bg_xml_parse_list_uploads(body, len, on_upload, b, &trunc,
					   b->lu_key[x->side], sizeof(b->lu_key[x->side]),
					   b->lu_id[x->side], sizeof(b->lu_id[x->side]));
	if (rc != 0) {
		bg_snprintf(msg, cap, "unreadable ListMultipartUploads answer");
		return -1;
	}
	b->lu_pending[x->side] = trunc && b->lu_key[x->side][0];
	b->cur->objects++;
	return 0;
}

static int on_success(bench *b, bxfer *x, char *msg, size_t cap)
{
	bg_s3_req *r = &x->req;
	bobj *o = x->obj < b->o->count ? &b->objs[x->obj] : NULL;
	const char *body = r->resp.data ? r->resp.data : "";
	switch (x->op) {
	case BG_BOP_CREATE:
		return created(o, r, body, msg, cap);
	case BG_BOP_PART:
		if (!r->etag[0]) {
			bg_snprintf(msg, cap, "no ETag in the answer");
			return -1;
		}
		bg_strlcpy(o->etags[x->idx], r->etag, BG_ETAG_MAX);
		o->parts_done++;
		return 0;
	case BG_BOP_COMPLETE:
		return completed(b, o, r, body, msg, cap);
	case BG_BOP_PUT:
		o->state = OS_DONE;
		b->cur->objects++;
		b->cur->bytes += b->o->size;
		return 0;
	case BG_BOP_GET:
		return read_back(b, x, o, msg, cap);
	case BG_BOP_UPLOADS:
		return listed_uploads(b, x, body, r->resp.len, msg, cap);
	case BG_BOP_DELETE:
	case BG_BOP_ABORT:
		b->cur->objects++;
		return 0;
	default:
		break;
	}
	return 0;
}

static void xfer_free(bench *b, bxfer *x)
{
	x->busy = false;
	bg_retry_reset(&x->retry);
	if (x->op == BG_BOP_UPLOADS)
		b->lu_busy[x->side] = false;
	if (x->obj < b->o->count)
		b->objs[x->obj].inflight--;
}

/* A bucket that is gone, keys refused, access denied: every request
 * after this one would fail the same way, so the run stops with one line. */
static void note_refusal(bench *b, const bxfer *x, const bg_s3_req *r, bg_s3_outcome out,
			 const char *msg)
{
	bg_s3_why why = bg_s3_why_failed(r, out, !x->key[0]);
	if (why != BG_WHY_NO_BUCKET && why != BG_WHY_KEYS && why != BG_WHY_DENIED)
		return;
	char line[BG_MSG_MAX];
	bg_s3_failure f = { .r = r, .out = out, .msg = msg, .side = side_name(x->side),
			    .loc = x->side == SRC ? &b->o->src : &b->o->dst, .ep = side_ep(b, x->side) };
	bg_err code = bg_s3_explain(&f, line, sizeof(line));
	bg_fatal_set(&b->fatal, code, "%s: %s", op_names[x->op], line);
}

static void xfer_done(bg_s3_req *r)
{
	bxfer *x = r->owner;
	bench *b = x->b;
	char msg[BG_MSG_MAX];
	curl_off_t ttfb = 0, total = 0;
	curl_easy_getinfo(r->http.easy, CURLINFO_STARTTRANSFER_TIME_T, &ttfb);
	curl_easy_getinfo(r->http.easy, CURLINFO_TOTAL_TIME_T, &total);
	bg_s3_outcome out = bg_s3_classify(r, msg, sizeof(msg));
	if ((x->op == BG_BOP_DELETE || x->op == BG_BOP_ABORT) && out == BG_S3_FAIL &&
	    r->status == 404)
		out = BG_S3_DONE; /* already gone */
	int rc = 0;
	bobj *o = x->obj < b->o->count ? &b->objs[x->obj] : NULL;
	bool dropped = o && o->failed;
	if (out == BG_S3_DONE && !dropped) {
		rc = on_success(b, x, msg, sizeof(msg));
		if (rc == -1)
			out = BG_S3_RETRY;
		else if (rc == -2)
			out = BG_S3_FAIL;
	}
	lat_add(b, x->op, (uint32_t)(ttfb > 0 ? ttfb : 0), (uint32_t)(total > 0 ? total : 0),
		out == BG_S3_DONE);
	if (out != BG_S3_DONE)
		b->cur->errors++;
	if (dropped || b->fatal.set) {
		xfer_free(b, x);
		return;
	}
	if (out == BG_S3_RETRY && bg_retry_later(&x->retry, r, b->o->retries)) {
		b->cur->retries++;
		return;
	}
	if (out != BG_S3_DONE) {
		note_refusal(b, x, r, out, msg);
		obj_failed(b, x, msg);
	}
	xfer_free(b, x);
}

/* ---- the loop ------------------------------------------------------------- */

static void dispatch(bench *b)
{
	uint64_t now = bg_now_ns();
	for (unsigned i = 0; i < b->nxf && !b->fatal.set; i++) {
		bxfer *x = &b->xf[i];
		if (!x->busy || !bg_retry_due(&x->retry, now))
			continue;
		x->retry.waiting = false;
		if ((x->obj < b->o->count && b->objs[x->obj].failed) || start_req(b, x) < 0)
			xfer_free(b, x);
	}
	for (unsigned i = 0; i < b->nxf && !b->fatal.set; i++) {
		bxfer *x = &b->xf[i];
		if (x->busy)
			continue;
		if (!next_job(b, x))
			return;
		x->busy = true;
		if (start_req(b, x) < 0)
			xfer_free(b, x);
	}
}

static bool busy(const bench *b)
{
	for (unsigned i = 0; i < b->nxf; i++)
		if (b->xf[i].busy)
			return true;
	return false;
}

static void stop_all(bench *b)
{
	for (unsigned i = 0; i < b->nxf; i++) {
		bxfer *x = &b->xf[i];
		if (!x->busy)
			continue;
		if (x->req.http.active)
			bg_http_abort(&b->http, &x->req.http);
		xfer_free(b, x);
	}
}

static void loop(bench *b, bool stoppable)
{
	for (;;) {
		if (stoppable && b->o->stop && *b->o->stop)
			bg_fatal_set(&b->fatal, BG_E_USAGE, "interrupted");
		if (b->fatal.set) {
			stop_all(b);
			return;
		}
		dispatch(b);
		if (!busy(b)) {
			/* nothing in flight and nothing to hand out: the phase is over */
			if (b->ph == BG_BPH_UPLOAD && b->next_obj == b->o->count)
				return;
			if (b->ph == BG_BPH_DOWNLOAD && b->cursor >= b->njobs)
				return;
			if (b->ph == BG_BPH_CLEANUP && !b->lu_pending[0] && !b->lu_pending[1] &&
			    b->cursor >= b->njobs)
				return;
		}
		if (bg_http_turn(&b->http, 100000000ull) < 0)
			bg_fatal_set(&b->fatal, BG_E_INTERNAL, "event loop failed");
	}
}

/* ---- phases ---------------------------------------------------------------- */

typedef struct pclock {
	uint64_t t0;
	double cpu0;
} pclock;

static double cpu_now(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void phase_begin(bench *b, bg_bench_phase_id ph, pclock *c)
{
	b->ph = ph;
	b->cur = &b->res->phase[ph];
	b->cur->ran = true;
	b->cursor = b->njobs = 0;
	for (uint32_t i = 0; i < b->o->count; i++) {
		b->objs[i].failed = false;
		b->objs[i].parts_done = 0;
		b->objs[i].inflight = 0;
	}
	for (int k = 0; k < BG_BOP_COUNT; k++) {
		b->lat[k].n = 0;
		b->lat[k].count = b->lat[k].errors = 0;
	}
	c->cpu0 = cpu_now();
	c->t0 = bg_now_ns();
}

static void phase_end(bench *b, bg_bench_phase_id ph, const pclock *c, bool latencies)
{
	bg_bench_phase *p = &b->res->phase[ph];
	uint64_t t1 = bg_now_ns();
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	p->wall_s = (double)(t1 - c->t0) / 1e9;
	p->cpu_s = cpu_now() - c->cpu0;
	p->peak_rss_kib = ru.ru_maxrss;
	if (p->bytes)
		p->cpu_s_per_gib = p->cpu_s / ((double)p->bytes / (double)(1ull << 30));
	if (p->wall_s > 0) {
		p->mb_s = (double)p->bytes / 1e6 / p->wall_s;
		p->objects_s = (double)p->objects / p->wall_s;
	}
	p->latencies = latencies;
	if (latencies) {
		static const double qs[3] = { 0.50, 0.90, 0.99 };
		for (int k = 0; k < BG_BOP_COUNT; k++) {
			blat *l = &b->lat[k];
			p->ops[k].count = l->count;
			p->ops[k].errors = l->errors;
			for (int i = 0; i < 3; i++) {
				p->ops[k].ttfb[i] = bg_bench_pct(l->ttfb, l->n, qs[i]) / 1e6;
				p->ops[k].total[i] = bg_bench_pct(l->total, l->n, qs[i]) / 1e6;
			}
		}
	}
	if (b->o->on_phase)
		b->o->on_phase(b->o->ctx, ph, p);
}

/* The generator's XXH3-64 of every range read back (not timed). */
static int expect_hashes(bench *b)
{
	b->exp = calloc((size_t)b->o->count * b->nparts, sizeof(*b->exp));
	unsigned char *buf = malloc(GEN_BUF);
	XXH3_state_t *xs = XXH3_createState();
	int rc = b->exp && buf && xs ? 0 : -1;
	char key[BG_KEY_MAX + 1];
	for (uint32_t i = 0; rc == 0 && i < b->o->count; i++) {
		if (b->objs[i].state != OS_DONE)
			continue;
		obj_key(b, SRC, i, key, sizeof(key));
		uint64_t seed = bg_bench_seed(key, strlen(key));
		for (uint32_t r = 0; r < b->nparts; r++) {
			uint64_t off = (uint64_t)r * b->part;
			uint64_t end = off + b->part < b->o->size ? off + b->part : b->o->size;
			XXH3_64bits_reset(xs);
			for (uint64_t p = off; p < end;) {
				size_t n = end - p < GEN_BUF ? (size_t)(end - p) : GEN_BUF;
				bg_bench_gen(seed, p, buf, n);
				XXH3_64bits_update(xs, buf, n);
				p += n;
			}
			b->exp[(uint64_t)i * b->nparts + r] = XXH3_64bits_digest(xs);
		}
	}
	free(buf);
	if (xs)
		XXH3_freeState(xs);
	return rc;
}

static void on_copy_object(void *ctx, const bg_obj_event *e)
{
	bench *b = ctx;
	if (e->kind == BG_EV_FAILED)
		phase_error(b, "copy of %s failed: %s", e->key, e->error ? e->error : "");
}

static void run_copy(bench *b)
{
	pclock c;
	phase_begin(b, BG_BPH_COPY, &c);
	static bg_copy_opts co;
	memset(&co, 0, sizeof(co));
	co.src = b->o->src;
	co.dst = b->o->dst;
	size_t sl = strlen(b->res->src_prefix), dl = strlen(b->res->dst_prefix);
	memcpy(co.src.prefix, b->res->src_prefix, sl - 1); /* without the trailing '/' */
	co.src.prefix[sl - 1] = '\0';
	memcpy(co.dst.prefix, b->res->dst_prefix, dl - 1);
	co.dst.prefix[dl - 1] = '\0';
	co.src_ep = b->o->src_ep;
	co.dst_ep = b->o->dst_ep;
	co.concurrency = b->o->concurrency;
	co.part_size = b->o->part_size;
	co.threshold = b->o->part_size;
	co.memory = b->o->memory;
	co.cksum = b->o->cksum;
	co.retries = b->o->retries;
	co.on_object = on_copy_object;
	co.ctx = b;
	co.stop = b->o->stop;
	bg_status st = { 0 };
	bg_copy_stats s = { 0 };
	bg_err rc = bg_copy_run(&co, &s, &st);
	b->res->copy = s;
	bg_bench_phase *p = b->cur;
	p->bytes = s.done_bytes;
	p->objects = s.done_objects;
	p->failed = s.failed_objects;
	p->retries = s.retries;
	p->requests = s.requests;
	if (rc != BG_OK && rc != BG_E_INTEGRITY) {
		phase_error(b, "%s", st.msg);
		if (!p->failed)
			p->failed = s.listed_objects > s.done_objects ? s.listed_objects - s.done_objects : 1;
	}
	if (p->objects + p->failed < b->res->phase[BG_BPH_UPLOAD].objects) {
		phase_error(b, "the copy listed %llu objects of %llu uploaded",
			    (unsigned long long)s.listed_objects,
			    (unsigned long long)b->res->phase[BG_BPH_UPLOAD].objects);
		p->failed = b->res->phase[BG_BPH_UPLOAD].objects - p->objects;
	}
	bg_endpoint_wipe(&co.src_ep);
	bg_endpoint_wipe(&co.dst_ep);
	phase_end(b, BG_BPH_COPY, &c, false);
}

static bg_err setup(bench *b, const bg_bench_opts *o, bg_bench_result *res, bg_status *st)
{
	b->o = o;
	b->res = res;
	if (!o->count || !o->size || !o->part_size)
		return bg_fail(st, BG_E_USAGE, "count, size and part size must be positive");
	b->part = o->size > o->part_size ? o->part_size : o->size;
	uint64_t np = (o->size + b->part - 1) / b->part;
	if (np > BG_PARTS_MAX) {
		b->part = (o->size + BG_PARTS_MAX - 1) / BG_PARTS_MAX;
		b->part = (b->part + BG_MIB - 1) / BG_MIB * BG_MIB;
		np = (o->size + b->part - 1) / b->part;
	}
	b->nparts = (uint32_t)np;
	res->part_size = b->part;
	res->parts_per_object = b->nparts;
	if (o->run_id) {
		bg_strlcpy(res->run_id, o->run_id, sizeof(res->run_id));
	} else {
		unsigned char r[6];
		if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
			return bg_fail(st, BG_E_INTERNAL, "getrandom failed");
		bg_hex(r, sizeof(r), res->run_id);
	}
	const char *sp = o->src.prefix, *dp = o->dst.prefix;
	size_t sn = strlen(sp), dn = strlen(dp);
	if (bg_snprintf(res->src_prefix, sizeof(res->src_prefix), "%s%sbarge-bench-%s/src/", sp,
			sn && sp[sn - 1] != '/' ? "/" : "", res->run_id) < 0 ||
	    bg_snprintf(res->dst_prefix, sizeof(res->dst_prefix), "%s%sbarge-bench-%s/dst/", dp,
			dn && dp[dn - 1] != '/' ? "/" : "", res->run_id) < 0 ||
	    strlen(res->src_prefix) + 13 > BG_KEY_MAX || strlen(res->dst_prefix) + 13 > BG_KEY_MAX)
		return bg_fail(st, BG_E_USAGE, "the prefix is too long for the scratch keys");
	b->nxf = o->concurrency ? o->concurrency : 1;
	uint64_t by_memory = o->memory / BG_BENCH_SLOT_COST;
	if (by_memory < b->nxf)
		b->nxf = by_memory ? (unsigned)by_memory : 1;
	/* idle connections of both endpoints kept (see copy.c's setup) */
	if (bg_http_init(&b->http, 2 * b->nxf + 36, 2 * b->nxf + 4, st))
		return st->code;
	b->http_up = true;
	b->objs = calloc(o->count, sizeof(*b->objs));
	b->xf = calloc(b->nxf, sizeof(*b->xf));
	if (!b->objs || !b->xf)
		return bg_fail(st, BG_E_NOMEM, "out of memory for %u objects", o->count);
	for (unsigned i = 0; i < b->nxf; i++) {
		bxfer *x = &b->xf[i];
		if (bg_s3_req_init(&x->req, i < 2 ? UPLOADS_BODY_MAX : XFER_BODY_MAX, st))
			return st->code;
		x->req.owner = x;
		x->req.done = xfer_done;
		x->b = b;
		bg_buf_init(&x->body, COMPLETE_BODY_MAX);
		x->xs = XXH3_createState();
		if (!x->xs)
			return bg_fail(st, BG_E_NOMEM, "out of memory for hash states");
	}
	return BG_OK;
}

static void teardown(bench *b)
{
	for (unsigned i = 0; b->xf && i < b->nxf; i++) {
		bg_s3_req_free(&b->xf[i].req);
		bg_buf_free(&b->xf[i].body);
		if (b->xf[i].xs)
			XXH3_freeState(b->xf[i].xs);
	}
	free(b->xf);
	for (uint32_t i = 0; b->objs && i < b->o->count; i++) {
		free(b->objs[i].upload_id);
		free(b->objs[i].etags);
	}
	free(b->objs);
	free(b->exp);
	for (size_t i = 0; i < b->nups; i++) {
		free(b->ups[i].key);
		free(b->ups[i].id);
	}
	free(b->ups);
	for (int k = 0; k < BG_BOP_COUNT; k++) {
		free(b->lat[k].ttfb);
		free(b->lat[k].total);
	}
	if (b->http_up)
		bg_http_free(&b->http);
}

bg_err bg_bench_run(const bg_bench_opts *o, bg_bench_result *res, bg_status *st)
{
	memset(res, 0, sizeof(*res));
	bench *b = calloc(1, sizeof(*b));
	if (!b)
		return bg_fail(st, BG_E_NOMEM, "out of memory");
	bg_err rc = setup(b, o, res, st);
	if (rc != BG_OK) {
		teardown(b);
		free(b);
		return rc;
	}
	pclock c;
	phase_begin(b, BG_BPH_UPLOAD, &c);
	loop(b, true);
	phase_end(b, BG_BPH_UPLOAD, &c, true);

	if (!b->fatal.set) {
		if (expect_hashes(b) < 0)
			bg_fatal_set(&b->fatal, BG_E_NOMEM, "out of memory for the expected hashes");
	}
	if (!b->fatal.set) {
		phase_begin(b, BG_BPH_DOWNLOAD, &c);
		b->njobs = (uint64_t)o->count * b->nparts;
		loop(b, true);
		phase_end(b, BG_BPH_DOWNLOAD, &c, true);
	}
	if (!b->fatal.set && !(o->stop && *o->stop))
		run_copy(b);

	/* Cleanup runs whatever happened before (an interruption included);
	 * the first fatal error of the run is still the one reported. */
	bg_fatal before = b->fatal;
	b->fatal = (bg_fatal){ 0 };
	phase_begin(b, BG_BPH_CLEANUP, &c);
	b->lu_pending[SRC] = b->lu_pending[DST] = true;
	b->lu_key[SRC][0] = b->lu_key[DST][0] = '\0';
	b->lu_id[SRC][0] = b->lu_id[DST][0] = '\0';
	b->njobs = UINT64_MAX;
	loop(b, false);
	phase_end(b, BG_BPH_CLEANUP, &c, true);
	if (!before.set)
		before = b->fatal;

	if (before.set) {
		*st = before.st;
		rc = before.st.code ? before.st.code : BG_E_INTERNAL;
	} else {
		uint64_t failed = 0;
		for (int p = 0; p < BG_BPH_COUNT; p++)
			failed += res->phase[p].failed;
		if (failed)
			rc = bg_fail(st, BG_E_INTEGRITY, "%llu failure(s)", (unsigned long long)failed);
	}
	teardown(b);
	free(b);
	return rc;
}
