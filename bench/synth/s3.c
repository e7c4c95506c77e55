/* s3.c - barge-synth's S3 API: source buckets (list, HEAD, ranged GET),
 * sink buckets (PUT, multipart, list, HEAD, GET, DELETE) that verify every
 * received byte against the generator, and /_synth/stats.
 *
 * A sink key maps to the source object whose key is its longest suffix at a
 * '/' boundary ("run-7/large/000003" -> "large/000003").  A body is compared
 * with the source as it streams in: a PUT at offset 0; a part at the offsets
 * its number allows (the part size is known after part 1, else a part of L
 * bytes is either a uniform part at (N-1)*L or the last part at size-L: both
 * are checked and the content decides).  CompleteMultipartUpload then checks
 * that the listed parts are in order, exist with their ETags, and cover the
 * object exactly, each at the offset its predecessors end at.  Nothing of a
 * body is stored.  Signatures are not checked: any credentials are welcome. */
#include "store.h"
#include "esc.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#define MAX_ERRORS_KEPT 100
#define XML_BODY_MAX (8u << 20)
#define LAST_MODIFIED "Wed, 01 Jan 2025 00:00:00 GMT"

syn_config syn_cfg = { .verify_md5 = true };
syn_stats syn_st;

static sbucket buckets[SYN_MAX_BUCKETS];
static unsigned nbuckets;
static uint64_t upload_serial;

static char errlist[MAX_ERRORS_KEPT][384];
static unsigned errhead;

void syn_log(const char *fmt, ...)
{
	if (syn_cfg.quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("barge-synth: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void record_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errlist[errhead % MAX_ERRORS_KEPT], sizeof(errlist[0]), fmt, ap);
	va_end(ap);
	syn_log("VERIFY ERROR: %s", errlist[errhead % MAX_ERRORS_KEPT]);
	errhead++;
	syn_st.errors++;
}

static sbucket *find_bucket(const char *name, size_t len)
{
	for (unsigned i = 0; i < nbuckets; i++)
		if (strlen(buckets[i].name) == len && memcmp(buckets[i].name, name, len) == 0)
			return &buckets[i];
	return NULL;
}

int syn_add_source(const char *name, const char *spec, char *err, size_t errlen)
{
	if (nbuckets == SYN_MAX_BUCKETS || strlen(name) >= SYN_NAME_MAX || !*name ||
	    find_bucket(name, strlen(name))) {
		bg_snprintf(err, errlen, "bucket %s: duplicate, empty or too many buckets", name);
		return -1;
	}
	sbucket *b = &buckets[nbuckets];
	memset(b, 0, sizeof(*b));
	b->src = calloc(1, sizeof(*b->src));
	if (!b->src)
		return -1;
	bg_strlcpy(b->name, name, sizeof(b->name));
	bg_strlcpy(b->src->name, name, sizeof(b->src->name));
	if (syn_src_parse(b->src, spec, err, errlen) < 0)
		return -1;
	if (syn_cfg.etag_mode == SYN_ETAG_MD5) {
		uint64_t t0 = bg_now_ns();
		if (syn_src_compute_md5(b->src) < 0) {
			bg_snprintf(err, errlen, "out of memory computing MD5s");
			return -1;
		}
		syn_log("bucket %s: MD5 ETags computed in %.1f s", name, (double)(bg_now_ns() - t0) / 1e9);
	}
	nbuckets++;
	return 0;
}

int syn_add_sink(const char *name, const char *src, char *err, size_t errlen)
{
	sbucket *s = find_bucket(src, strlen(src));
	if (!s || s->sink) {
		bg_snprintf(err, errlen, "sink %s: %s is not a source bucket (give --bucket %s:SPEC)",
			    name, src, src);
		return -1;
	}
	if (nbuckets == SYN_MAX_BUCKETS || strlen(name) >= SYN_NAME_MAX || !*name ||
	    find_bucket(name, strlen(name))) {
		bg_snprintf(err, errlen, "bucket %s: duplicate, empty or too many buckets", name);
		return -1;
	}
	sbucket *b = &buckets[nbuckets++];
	memset(b, 0, sizeof(*b));
	bg_strlcpy(b->name, name, sizeof(b->name));
	b->sink = true;
	b->src = s->src;
	return 0;
}

/* ---- sink objects: a hash table, sorted lazily for listings ---- */

static size_t khash(const char *k)
{
	return (size_t)syn_seed(k, strlen(k));
}

static sobj **slot(sbucket *b, const char *key)
{
	if (!b->tabn)
		return NULL;
	sobj **p = &b->tab[khash(key) & (b->tabn - 1)];
	while (*p && strcmp((*p)->key, key) != 0)
		p = &(*p)->next;
	return p;
}

static sobj *sink_get(sbucket *b, const char *key)
{
	sobj **p = slot(b, key);
	return p ? *p : NULL;
}

static void sink_put(sbucket *b, const char *key, uint64_t size, const char *etag, const syn_obj *src)
{
	if (b->count >= b->tabn) {
		size_t n = b->tabn ? b->tabn * 2 : 1024;
		sobj **t = calloc(n, sizeof(*t));
		BG_ASSERT(t);
		for (size_t i = 0; i < b->tabn; i++)
			for (sobj *o = b->tab[i], *nx; o; o = nx) {
				nx = o->next;
				size_t h = khash(o->key) & (n - 1);
				o->next = t[h];
				t[h] = o;
			}
		free(b->tab);
		b->tab = t;
		b->tabn = n;
	}
	sobj **p = slot(b, key);
	if (!*p) {
		sobj *o = calloc(1, sizeof(*o));
		BG_ASSERT(o);
		o->key = strdup(key);
		BG_ASSERT(o->key);
		*p = o;
		b->count++;
		b->dirty = true;
	}
	(*p)->size = size;
	bg_strlcpy((*p)->etag, etag, sizeof((*p)->etag));
	(*p)->src = *src;
}

static bool sink_del(sbucket *b, const char *key)
{
	sobj **p = slot(b, key);
	if (!p || !*p)
		return false;
	sobj *o = *p;
	*p = o->next;
	free(o->key);
	free(o);
	b->count--;
	b->dirty = true;
	return true;
}

static int sobj_cmp(const void *a, const void *b)
{
	return strcmp((*(sobj *const *)a)->key, (*(sobj *const *)b)->key);
}

void syn_sink_sort(sbucket *b)
{
	if (!b->dirty && b->sorted)
		return;
	free(b->sorted);
	b->sorted = malloc((b->count ? b->count : 1) * sizeof(*b->sorted));
	BG_ASSERT(b->sorted);
	size_t n = 0;
	for (size_t i = 0; i < b->tabn; i++)
		for (sobj *o = b->tab[i]; o; o = o->next)
			b->sorted[n++] = o;
	qsort(b->sorted, n, sizeof(*b->sorted), sobj_cmp);
	b->nsorted = n;
	b->dirty = false;
}

/* The source object a sink key maps to: its longest suffix at a '/'. */
static bool map_key(const sbucket *b, const char *key, syn_obj *o)
{
	for (const char *k = key; k; k = strchr(k, '/'), k = k ? k + 1 : NULL)
		if (syn_src_find(b->src, k, strlen(k), o))
			return true;
	return false;
}

/* ---- per-request context ---- */

enum { OP_NONE, OP_PUT, OP_PART, OP_COMPLETE, OP_DELETE_MULTI };

typedef struct rctx {
	int op;
	sbucket *b;
	char key[KEY_MAX + 1];
	char upload_id[40];
	unsigned partno;
	bool quiet;
	syn_obj src;
	uint64_t len;   /* body length */
	uint64_t pos;   /* bytes seen */
	uint64_t cand[3];
	bool cok[3];
	unsigned ncand;
	uint64_t bad_pos; /* first difference against cand[0] */
	uint8_t bad_got, bad_want;
	bool bad_seen;
	EVP_MD_CTX *md5;
	bool do_md5, want_md5;
	unsigned char md5_want[16];
} rctx;

void *syn_s3_ctx_new(void)
{
	rctx *x = calloc(1, sizeof(*x));
	if (x && !(x->md5 = EVP_MD_CTX_new())) {
		free(x);
		return NULL;
	}
	return x;
}

void syn_s3_ctx_free(void *ctx)
{
	rctx *x = ctx;
	if (x)
		EVP_MD_CTX_free(x->md5);
	free(x);
}

/* ---- small helpers ---- */

/* Value of query parameter name, decoded; 1 found, 0 not, -1 malformed. */
int syn_qget(const char *q, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	for (const char *p = q; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t l = amp ? (size_t)(amp - p) : strlen(p);
		if (l >= nl && memcmp(p, name, nl) == 0 && (l == nl || p[nl] == '=')) {
			size_t vl = l > nl ? l - nl - 1 : 0;
			if (vl >= cap)
				return -1;
			memcpy(out, p + nl + (l > nl), vl);
			out[vl] = '\0';
			return syn_urldecode(out, true) < 0 ? -1 : 1;
		}
		p = amp ? amp + 1 : NULL;
	}
	return 0;
}

bool syn_qhas(const char *q, const char *name)
{
	char v[8];
	return syn_qget(q, name, v, sizeof(v)) != 0;
}

void syn_xml_esc(bg_buf *o, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': bg_buf_add(o, "&amp;", 5); break;
		case '<': bg_buf_add(o, "&lt;", 4); break;
		case '>': bg_buf_add(o, "&gt;", 4); break;
		case '"': bg_buf_add(o, "&quot;", 6); break;
		case '\'': bg_buf_add(o, "&apos;", 6); break;
		default: bg_buf_add(o, s, 1);
		}
	}
}

/* XML-escaped, or URL-encoded when the client asked for encoding-type=url. */
void syn_key_out(bg_buf *o, const char *s, bool url)
{
	if (!url) {
		syn_xml_esc(o, s);
		return;
	}
	static const char hx[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_' || *p == '.' || *p == '~' || *p == '/') {
			bg_buf_add(o, p, 1);
		} else {
			char e[3] = { '%', hx[*p >> 4], hx[*p & 15] };
			bg_buf_add(o, e, 3);
		}
	}
}

void syn_reply_error(syn_conn *c, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bg_buf b;
	bg_buf_init(&b, 1 << 16);
	bg_buf_addf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>",
		    code);
	syn_xml_esc(&b, msg);
	bg_buf_addf(&b, "</Message><RequestId>%llx</RequestId></Error>",
		    (unsigned long long)syn_st.requests);
	syn_reply(c, status, "Content-Type: application/xml\r\n", b.data, b.len);
	bg_buf_free(&b);
}

void syn_reply_xml(syn_conn *c, int status, bg_buf *b)
{
	syn_reply(c, status, "Content-Type: application/xml\r\n", b->data ? b->data : "", b->len);
}

static int b64_16(const char *s, unsigned char out[16])
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	if (strlen(s) != 24 || strcmp(s + 22, "=="))
		return -1;
	uint32_t acc = 0;
	int bits = 0, n = 0;
	for (int i = 0; i < 22; i++) {
		const char *p = strchr(t, s[i]);
		if (!p || !s[i])
			return -1;
		acc = (acc << 6) | (uint32_t)(p - t);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	return n == 16 ? 0 : -1;
}

static void strip_quotes(const char *in, char *out, size_t cap)
{
	size_t l = strlen(in);
	if (l >= 2 && in[0] == '"' && in[l - 1] == '"') {
		in++;
		l -= 2;
	}
	if (l >= cap)
		l = cap - 1;
	memcpy(out, in, l);
	out[l] = '\0';
}

/* ---- stats ---- */

static void reply_stats(syn_conn *c)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	bg_buf b;
	bg_buf_init(&b, 1 << 20);
	bg_buf_addf(&b,
		    "{\"requests\":%llu,\"connections_total\":%llu,\"connections_open\":%llu,"
		    "\"bytes_in\":%llu,\"bytes_out\":%llu,\"bytes_served\":%llu,"
		    "\"bytes_received\":%llu,\"bytes_verified\":%llu,\"bytes_md5\":%llu,"
		    "\"bytes_md5_source\":%llu,\"md5_source_s\":%.3f,\"content_md5_by_content\":%llu,"
		    "\"verify_s\":%.3f,\"md5_s\":%.3f,\"objects_verified\":%llu,"
		    "\"parts_verified\":%llu,\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,"
		    "\"etag_mode\":\"%s\",\"verify_md5\":%s,\"latency_ms\":%.1f,\"rate_limit_mbps\":%.1f,"
		    "\"errors\":%llu,\"error_list\":[",
		    (unsigned long long)syn_st.requests, (unsigned long long)syn_st.conns_total,
		    (unsigned long long)syn_st.conns_open, (unsigned long long)syn_st.bytes_in,
		    (unsigned long long)syn_st.bytes_out, (unsigned long long)syn_st.bytes_served,
		    (unsigned long long)syn_st.bytes_received, (unsigned long long)syn_st.bytes_verified,
		    (unsigned long long)syn_st.bytes_md5, (unsigned long long)syn_st.bytes_md5_source,
		    (double)syn_st.md5_source_ns / 1e9, (unsigned long long)syn_st.md5_by_content,
		    (double)syn_st.verify_ns / 1e9,
		    (double)syn_st.md5_ns / 1e9, (unsigned long long)syn_st.objects_verified,
		    (unsigned long long)syn_st.parts_verified,
		    (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
		    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
		    syn_cfg.etag_mode == SYN_ETAG_MD5 ? "md5" : "fake", syn_cfg.verify_md5 ? "true" : "false",
		    (double)syn_cfg.latency_ns / 1e6, (double)syn_cfg.rate_bps * 8 / 1e6,
		    (unsigned long long)syn_st.errors);
	unsigned kept = errhead < MAX_ERRORS_KEPT ? errhead : MAX_ERRORS_KEPT;
	for (unsigned i = 0; i < kept; i++) {
		if (i)
			bg_buf_add(&b, ",", 1);
		const char *e = errlist[(errhead - kept + i) % MAX_ERRORS_KEPT];
		bg_json_buf(&b, e, strlen(e));
	}
	bg_buf_addf(&b, "],\"buckets\":{");
	for (unsigned i = 0; i < nbuckets; i++) {
		sbucket *k = &buckets[i];
		size_t ups = 0;
		for (upload *u = k->uploads; u; u = u->next)
			ups++;
		bg_buf_addf(&b, "%s\"%s\":{\"kind\":\"%s\",\"verifies_against\":\"%s\",\"objects\":%zu,"
			    "\"uploads_open\":%zu}", i ? "," : "", k->name, k->sink ? "sink" : "source",
			    k->src->name, k->sink ? k->count : (size_t)0, ups);
	}
	bg_buf_addf(&b, "}}\n");
	syn_reply(c, 200, "Content-Type: application/json\r\n", b.data, b.len);
	bg_buf_free(&b);
}

static void reset_stats(void)
{
	uint64_t open = syn_st.conns_open;
	memset(&syn_st, 0, sizeof(syn_st));
	syn_st.conns_open = open;
	errhead = 0;
}

/* ---- multipart uploads ---- */

static upload *find_upload(sbucket *b, const char *id, upload ***link)
{
	for (upload **p = &b->uploads; *p; p = &(*p)->next)
		if (!strcmp((*p)->id, id)) {
			if (link)
				*link = p;
			return *p;
		}
	return NULL;
}

static void free_upload(upload *u)
{
	free(u->parts);
	free(u->key);
	free(u);
}

static void create_upload(syn_conn *c, sbucket *b, const char *key)
{
	syn_obj src;
	if (!map_key(b, key, &src)) {
		record_error("CreateMultipartUpload %s/%s: no source object in %s for this key",
			     b->name, key, b->src->name);
		syn_reply_error(c, 400, "NoSuchSourceObject",
				"barge-synth: key %s maps to no object of source bucket %s", key,
				b->src->name);
		return;
	}
	upload *u = calloc(1, sizeof(*u));
	BG_ASSERT(u);
	u->key = strdup(key);
	BG_ASSERT(u->key);
	u->src = src;
	u->serial = ++upload_serial;
	snprintf(u->id, sizeof(u->id), "synth%016llx%08x", (unsigned long long)u->serial,
		 (unsigned)(syn_seed(key, strlen(key)) & 0xffffffffu));
	u->next = b->uploads;
	b->uploads = u;
	bg_buf o;
	bg_buf_init(&o, 1 << 16);
	bg_buf_addf(&o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult>"
			"<Bucket>%s</Bucket><Key>", b->name);
	syn_xml_esc(&o, key);
	bg_buf_addf(&o, "</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>", u->id);
	syn_reply_xml(c, 200, &o);
	bg_buf_free(&o);
}

/* ---- verification of bodies ---- */

static bool want_md5_check(syn_conn *c, rctx *x, const syn_req *r)
{
	x->do_md5 = syn_cfg.etag_mode == SYN_ETAG_MD5;
	x->want_md5 = false;
	if (!r->content_md5 || !syn_cfg.verify_md5)
		return true;
	if (b64_16(r->content_md5, x->md5_want) < 0) {
		syn_reply_error(c, 400, "InvalidDigest", "Content-MD5 %s is not 16 bytes of base64",
				r->content_md5);
		return false;
	}
	x->want_md5 = true;
	x->do_md5 = true;
	if (x->op == OP_PUT && !syn_obj_parts(&x->src)) {
		/* The MD5 of the source object is known (its ETag): a body that
		 * equals the source byte for byte has exactly that MD5, so the
		 * header is checked against it without hashing the body. */
		unsigned char md[16];
		syn_obj_md5(&x->src, md);
		if (!memcmp(md, x->md5_want, 16)) {
			x->want_md5 = false;
			x->do_md5 = syn_cfg.etag_mode == SYN_ETAG_MD5;
			syn_st.md5_by_content++;
		}
	}
	return true;
}

static void begin_verify(syn_conn *c, rctx *x)
{
	for (unsigned i = 0; i < x->ncand; i++)
		x->cok[i] = true;
	x->pos = 0;
	x->bad_seen = false;
	if (x->do_md5)
		EVP_DigestInit_ex(x->md5, EVP_md5(), NULL);
	syn_set_body(c, SYN_BODY_VERIFY, 0);
}

void syn_s3_verify(syn_conn *c, const char *p, size_t n)
{
	rctx *x = syn_conn_ctx(c);
	uint64_t t0 = bg_now_ns();
	syn_st.bytes_received += n;
	bool any = false;
	for (unsigned i = 0; i < x->ncand; i++) {
		if (!x->cok[i])
			continue;
		size_t at = syn_check(x->src.seed, x->cand[i] + x->pos, p, n);
		if (at < n) {
			x->cok[i] = false;
			if (i == 0 || !x->bad_seen) {
				x->bad_seen = true;
				x->bad_pos = x->pos + at;
				x->bad_got = (uint8_t)p[at];
				x->bad_want = syn_byte(x->src.seed, x->cand[i] + x->pos + at);
			}
		} else {
			any = true;
		}
	}
	uint64_t t1 = bg_now_ns();
	syn_st.verify_ns += t1 - t0;
	if (any)
		syn_st.bytes_verified += n;
	if (x->do_md5) {
		EVP_DigestUpdate(x->md5, p, n);
		syn_st.bytes_md5 += n;
		syn_st.md5_ns += bg_now_ns() - t1;
	}
	x->pos += n;
}

/* 0: the body matched (off = where); -1: an error answer was given. */
static int end_verify(syn_conn *c, rctx *x, const char *what, uint64_t *off, unsigned char md[16])
{
	int ok = -1;
	for (unsigned i = 0; i < x->ncand; i++)
		if (x->cok[i]) {
			ok = (int)i;
			break;
		}
	char key[SYN_NAME_MAX + 32];
	syn_key(x->src.c, x->src.idx, key, sizeof(key));
	if (ok < 0) {
		char where[160] = "";
		if (x->ncand > 1)
			bg_snprintf(where, sizeof(where), " (nor as the last part at offset %llu)",
				    (unsigned long long)x->cand[1]);
		record_error("%s %s/%s: byte %llu of the body (source offset %llu) is 0x%02x, "
			     "source %s/%s has 0x%02x%s",
			     what, x->b->name, x->key, (unsigned long long)x->bad_pos,
			     (unsigned long long)(x->cand[0] + x->bad_pos), x->bad_got, x->b->src->name,
			     key, x->bad_want, where);
		syn_reply_error(c, 400, "BadDigest",
				"barge-synth: %s %s: the body differs from source object %s/%s at "
				"byte %llu (source offset %llu): got 0x%02x, expected 0x%02x%s",
				what, x->key, x->b->src->name, key, (unsigned long long)x->bad_pos,
				(unsigned long long)(x->cand[0] + x->bad_pos), x->bad_got, x->bad_want,
				where);
		return -1;
	}
	if (x->do_md5) {
		unsigned l = 0;
		EVP_DigestFinal_ex(x->md5, md, &l);
		if (x->want_md5 && memcmp(md, x->md5_want, 16) != 0) {
			char a[33], b[33];
			bg_hex(md, 16, a);
			bg_hex(x->md5_want, 16, b);
			record_error("%s %s/%s: Content-MD5 %s, body's MD5 %s", what, x->b->name,
				     x->key, b, a);
			syn_reply_error(c, 400, "BadDigest",
					"The Content-MD5 you specified did not match what we received "
					"(Content-MD5 %s, body %s)", b, a);
			return -1;
		}
	}
	*off = x->cand[ok];
	if (x->op == OP_PUT && !syn_obj_parts(&x->src))
		syn_obj_md5(&x->src, md); /* the bytes are the source's: so is the MD5 */
	else if (syn_cfg.etag_mode == SYN_ETAG_FAKE)
		syn_fake_tag(x->src.seed, *off, x->len, md);
	return 0;
}

/* ---- object requests ---- */

static void get_object(syn_conn *c, const syn_req *r, const syn_obj *o, const char *etag)
{
	bool head = !strcmp(r->method, "HEAD");
	if (r->if_match) {
		char want[SYN_ETAG_MAX + 8];
		strip_quotes(r->if_match, want, sizeof(want));
		if (strcmp(want, "*") && strcmp(want, etag)) {
			syn_reply_error(c, 412, "PreconditionFailed",
					"At least one of the pre-conditions you specified did not hold "
					"(If-Match %s, ETag %s)", r->if_match, etag);
			return;
		}
	}
	uint64_t start = 0, len = o->size, nparts = syn_obj_parts(o);
	int status = 200;
	char extra[512] = "", pn[16];
	int got = syn_qget(r->query, "partNumber", pn, sizeof(pn));
	if (got) {
		uint64_t n, total = nparts ? nparts : 1;
		if (got < 0 || bg_parse_u64(pn, 1, 10000, &n) < 0 || n > total) {
			syn_reply_error(c, 416, "InvalidPartNumber", "partNumber %s of %llu", pn,
					(unsigned long long)total);
			return;
		}
		if (nparts) {
			start = (n - 1) * o->c->part_size;
			len = n < nparts ? o->c->part_size : o->size - start;
		}
		status = 206;
		bg_snprintf(extra, sizeof(extra), "x-amz-mp-parts-count: %llu\r\n",
			    (unsigned long long)total);
	} else if (r->range) {
		uint64_t a = 0, b = 0;
		const char *s = r->range;
		bool okr = !strncmp(s, "bytes=", 6);
		s += 6;
		if (okr && *s == '-') {
			okr = bg_parse_u64(s + 1, 1, UINT64_MAX, &b) == 0 && o->size > 0;
			if (okr) {
				a = b > o->size ? 0 : o->size - b;
				b = o->size - 1;
			}
		} else if (okr) {
			char tmp[48];
			const char *dash = strchr(s, '-');
			okr = dash && (size_t)(dash - s) < sizeof(tmp) && !strchr(dash, ',');
			if (okr) {
				memcpy(tmp, s, (size_t)(dash - s));
				tmp[dash - s] = '\0';
				okr = bg_parse_u64(tmp, 0, UINT64_MAX, &a) == 0;
				if (okr && dash[1])
					okr = bg_parse_u64(dash + 1, a, UINT64_MAX, &b) == 0;
				else
					b = o->size ? o->size - 1 : 0;
				okr = okr && a < o->size;
				if (b >= o->size)
					b = o->size - 1;
			}
		}
		if (!okr) {
			syn_reply_error(c, 416, "InvalidRange", "The requested range %s is not satisfiable",
					r->range);
			return;
		}
		start = a;
		len = b - a + 1;
		status = 206;
	}
	if (status == 206 && o->size)
		bg_snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
			    "Content-Range: bytes %llu-%llu/%llu\r\n", (unsigned long long)start,
			    (unsigned long long)(start + len - 1), (unsigned long long)o->size);
	char hdrs[1024];
	bg_snprintf(hdrs, sizeof(hdrs),
		    "ETag: \"%s\"\r\nLast-Modified: " LAST_MODIFIED "\r\nAccept-Ranges: bytes\r\n"
		    "Content-Type: application/octet-stream\r\n%s",
		    etag, extra);
	syn_reply_gen(c, status, hdrs, o->seed, start, len, head);
}

static void begin_put(syn_conn *c, rctx *x, const syn_req *r)
{
	if (!map_key(x->b, x->key, &x->src)) {
		record_error("PUT %s/%s: no source object in %s for this key", x->b->name, x->key,
			     x->b->src->name);
		syn_reply_error(c, 400, "NoSuchSourceObject",
				"barge-synth: key %s maps to no object of source bucket %s", x->key,
				x->b->src->name);
		return;
	}
	if (r->content_length != x->src.size) {
		record_error("PUT %s/%s: %llu bytes, source object has %llu", x->b->name, x->key,
			     (unsigned long long)r->content_length, (unsigned long long)x->src.size);
		syn_reply_error(c, 400, "BadDigest",
				"barge-synth: PUT of %llu bytes, but the source object has %llu",
				(unsigned long long)r->content_length, (unsigned long long)x->src.size);
		return;
	}
	x->op = OP_PUT;
	x->len = r->content_length;
	x->cand[0] = 0;
	x->ncand = 1;
	if (!want_md5_check(c, x, r))
		return;
	begin_verify(c, x);
}

static void begin_part(syn_conn *c, rctx *x, const syn_req *r, upload *u, uint64_t n)
{
	uint64_t L = r->content_length, S = u->src.size;
	x->op = OP_PART;
	x->src = u->src;
	x->partno = (unsigned)n;
	x->len = L;
	x->ncand = 0;
	if (n == 1) {
		if (L <= S)
			x->cand[x->ncand++] = 0;
		u->part_size = L;
	} else if (u->part_size) {
		if ((n - 1) * u->part_size + L <= S)
			x->cand[x->ncand++] = (n - 1) * u->part_size;
	} else {
		if (L && n * L <= S)
			x->cand[x->ncand++] = (n - 1) * L; /* a uniform part */
		if (L <= S && (S - L) % (n - 1) == 0 && (S - L) / (n - 1) >= L && (S - L) != (n - 1) * L)
			x->cand[x->ncand++] = S - L; /* the last part */
	}
	if (!x->ncand) {
		char key[SYN_NAME_MAX + 32];
		syn_key(u->src.c, u->src.idx, key, sizeof(key));
		record_error("UploadPart %s/%s part %llu: %llu bytes fit at no offset of source "
			     "%s (%llu bytes, part size %llu)", x->b->name, u->key, (unsigned long long)n,
			     (unsigned long long)L, key, (unsigned long long)S,
			     (unsigned long long)u->part_size);
		syn_reply_error(c, 400, "InvalidPart",
				"barge-synth: part %llu of %llu bytes fits at no offset of the %llu-byte "
				"source object %s", (unsigned long long)n, (unsigned long long)L,
				(unsigned long long)S, key);
		return;
	}
	if (!want_md5_check(c, x, r))
		return;
	begin_verify(c, x);
}

static void end_part(syn_conn *c, rctx *x)
{
	char what[48];
	bg_snprintf(what, sizeof(what), "UploadPart %u of", x->partno);
	uint64_t off;
	unsigned char tag[16];
	if (end_verify(c, x, what, &off, tag) < 0)
		return;
	upload *u = find_upload(x->b, x->upload_id, NULL);
	if (!u) { /* aborted meanwhile */
		syn_reply_error(c, 404, "NoSuchUpload", "upload %s is gone", x->upload_id);
		return;
	}
	if (x->partno > u->cap) {
		unsigned ncap = u->cap ? u->cap : 16;
		while (ncap < x->partno)
			ncap *= 2;
		if (ncap > 10000)
			ncap = 10000;
		upart *p = realloc(u->parts, ncap * sizeof(*p));
		BG_ASSERT(p);
		memset(p + u->cap, 0, (ncap - u->cap) * sizeof(*p));
		u->parts = p;
		u->cap = ncap;
	}
	upart *p = &u->parts[x->partno - 1];
	*p = (upart){ true, x->len, off, { 0 } };
	memcpy(p->tag, tag, 16);
	syn_st.parts_verified++;
	char hex[33], h[64];
	bg_hex(tag, 16, hex);
	bg_snprintf(h, sizeof(h), "ETag: \"%s\"\r\n", hex);
	syn_reply(c, 200, h, "", 0);
}

static void end_put(syn_conn *c, rctx *x)
{
	uint64_t off;
	unsigned char tag[16];
	if (end_verify(c, x, "PUT", &off, tag) < 0)
		return;
	char etag[SYN_ETAG_MAX], h[80];
	bg_hex(tag, 16, etag);
	sink_put(x->b, x->key, x->len, etag, &x->src);
	syn_st.objects_verified++;
	bg_snprintf(h, sizeof(h), "ETag: \"%s\"\r\n", etag);
	syn_reply(c, 200, h, "", 0);
}

/* Next "<tag>value</tag>" at or after *p; value xml-unescaped into out. */
static bool xml_next(const char **p, const char *end, const char *tag, char *out, size_t cap)
{
	char open[32], close[32];
	bg_snprintf(open, sizeof(open), "<%s>", tag);
	bg_snprintf(close, sizeof(close), "</%s>", tag);
	const char *a = strstr(*p, open);
	if (!a || a >= end)
		return false;
	a += strlen(open);
	const char *b = strstr(a, close);
	if (!b || b > end)
		return false;
	size_t n = 0;
	for (const char *s = a; s < b && n + 1 < cap;) {
		static const struct { const char *e; char ch; } ents[] = {
			{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' }, { "&apos;", '\'' },
			{ "&#34;", '"' }, { "&#39;", '\'' },
		};
		bool done = false;
		if (*s == '&')
			for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
				size_t l = strlen(ents[i].e);
				if ((size_t)(b - s) >= l && !memcmp(s, ents[i].e, l)) {
					out[n++] = ents[i].ch;
					s += l;
					done = true;
					break;
				}
			}
		if (!done)
			out[n++] = *s++;
	}
	out[n] = '\0';
	*p = b + strlen(close);
	return true;
}

static void end_complete(syn_conn *c, rctx *x)
{
	bg_buf *body = syn_body_buf(c);
	upload **link = NULL;
	upload *u = find_upload(x->b, x->upload_id, &link);
	if (!u) {
		syn_reply_error(c, 404, "NoSuchUpload", "The specified upload does not exist: %s",
				x->upload_id);
		return;
	}
	const char *p = body->data ? body->data : "", *end = p + body->len;
	unsigned char (*tags)[16] = malloc(16 * 10000);
	BG_ASSERT(tags);
	uint64_t n = 0, prev = 0, covered = 0;
	char num[32], etag[SYN_ETAG_MAX + 16], key[SYN_NAME_MAX + 32];
	syn_key(u->src.c, u->src.idx, key, sizeof(key));
	const char *err = NULL;
	char msg[400];
	/* the list first, then: ascending order, each part there with its
	 * ETag, each at the offset its predecessors end at */
	uint16_t *nums = malloc(sizeof(*nums) * 10000);
	BG_ASSERT(nums);
	uint64_t count = 0;
	for (const char *part = strstr(p, "<Part>"); part && part < end; part = strstr(part, "<Part>")) {
		const char *pe = strstr(part, "</Part>");
		if (!pe)
			break;
		const char *q = part;
		uint64_t pn;
		if (!xml_next(&q, pe, "PartNumber", num, sizeof(num)) ||
		    bg_parse_u64(num, 1, 10000, &pn) < 0) {
			err = "MalformedXML";
			bg_snprintf(msg, sizeof(msg), "a Part without a valid PartNumber");
			break;
		}
		q = part;
		if (!xml_next(&q, pe, "ETag", etag, sizeof(etag)))
			etag[0] = '\0';
		part = pe + 7;
		if (count == 10000) {
			err = "MalformedXML";
			bg_snprintf(msg, sizeof(msg), "more than 10,000 parts");
			break;
		}
		if (pn <= prev) {
			err = "InvalidPartOrder";
			bg_snprintf(msg, sizeof(msg), "part %llu listed after part %llu: the list of parts "
				    "was not in ascending order", (unsigned long long)pn,
				    (unsigned long long)prev);
			break;
		}
		prev = pn;
		upart *up = pn <= u->cap ? &u->parts[pn - 1] : NULL;
		char want[SYN_ETAG_MAX + 16], hex[33];
		strip_quotes(etag, want, sizeof(want));
		if (up && up->have)
			bg_hex(up->tag, 16, hex);
		if (!up || !up->have || strcmp(want, hex) != 0) {
			err = "InvalidPart";
			bg_snprintf(msg, sizeof(msg), "part %llu %s", (unsigned long long)pn,
				    up && up->have ? "has another ETag than the one listed"
						   : "was never uploaded (or failed verification)");
			/* keep reading: an order error later in the list wins */
			continue;
		}
		nums[count++] = (uint16_t)pn;
	}
	for (uint64_t i = 0; i < count && !err; i++) {
		upart *up = &u->parts[nums[i] - 1];
		if (up->off != covered) {
			err = "BadDigest";
			bg_snprintf(msg, sizeof(msg), "part %u holds source bytes from offset %llu, but "
				    "the parts listed before it end at %llu: a part is missing or out of "
				    "place", nums[i], (unsigned long long)up->off,
				    (unsigned long long)covered);
			break;
		}
		covered += up->len;
		memcpy(tags[n++], up->tag, 16);
	}
	free(nums);
	if (!err && !n) {
		err = "MalformedXML";
		bg_snprintf(msg, sizeof(msg), "no parts listed");
	}
	if (!err && covered != u->src.size) {
		err = "BadDigest";
		bg_snprintf(msg, sizeof(msg), "the %llu parts listed hold %llu bytes of the %llu of "
			    "source object %s: missing part(s) at the end", (unsigned long long)n,
			    (unsigned long long)covered, (unsigned long long)u->src.size, key);
	}
	if (err) {
		record_error("CompleteMultipartUpload %s/%s: %s (%s)", x->b->name, u->key, msg, err);
		syn_reply_error(c, 400, err, "barge-synth: CompleteMultipartUpload of %s: %s", u->key, msg);
		free(tags);
		return;
	}
	char mp[SYN_ETAG_MAX];
	syn_multipart_etag((const unsigned char (*)[16])tags, n, mp);
	free(tags);
	sink_put(x->b, u->key, covered, mp, &u->src);
	syn_st.objects_verified++;
	bg_buf o;
	bg_buf_init(&o, 1 << 16);
	bg_buf_addf(&o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult>"
			"<Location>/%s/", x->b->name);
	syn_xml_esc(&o, u->key);
	bg_buf_addf(&o, "</Location><Bucket>%s</Bucket><Key>", x->b->name);
	syn_xml_esc(&o, u->key);
	bg_buf_addf(&o, "</Key><ETag>&quot;%s&quot;</ETag></CompleteMultipartUploadResult>", mp);
	*link = u->next;
	free_upload(u);
	syn_reply_xml(c, 200, &o);
	bg_buf_free(&o);
}

static void end_delete_multi(syn_conn *c, rctx *x)
{
	bg_buf *body = syn_body_buf(c);
	const char *p = body->data ? body->data : "", *end = p + body->len;
	bool quiet = strstr(p, "<Quiet>true</Quiet>") != NULL;
	bg_buf o;
	bg_buf_init(&o, 64u << 20);
	bg_buf_addf(&o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult>");
	char key[KEY_MAX + 1];
	while (xml_next(&p, end, "Key", key, sizeof(key))) {
		if (x->b->sink)
			sink_del(x->b, key);
		if (!quiet) {
			bg_buf_add(&o, "<Deleted><Key>", 14);
			syn_xml_esc(&o, key);
			bg_buf_add(&o, "</Key></Deleted>", 16);
		}
	}
	bg_buf_addf(&o, "</DeleteResult>");
	syn_reply_xml(c, 200, &o);
	bg_buf_free(&o);
}

/* ---- dispatch ---- */

void syn_s3_begin(syn_conn *c, syn_req *r)
{
	rctx *x = syn_conn_ctx(c);
	x->op = OP_NONE;
	x->b = NULL;
	const char *m = r->method;
	bool get = !strcmp(m, "GET"), head = !strcmp(m, "HEAD"), put = !strcmp(m, "PUT"),
	     post = !strcmp(m, "POST"), del = !strcmp(m, "DELETE");
	if (r->path[0] != '/') {
		syn_reply_error(c, 400, "InvalidURI", "request target must start with /");
		return;
	}
	if (!strncmp(r->path, "/_synth/", 8)) {
		if (!strcmp(r->path, "/_synth/stats") && get)
			reply_stats(c);
		else if (!strcmp(r->path, "/_synth/reset") && post) {
			reset_stats();
			syn_reply(c, 200, NULL, "", 0);
		} else
			syn_reply_error(c, 404, "NoSuchKey", "GET /_synth/stats, POST /_synth/reset");
		return;
	}
	const char *bn = r->path + 1, *slash = strchr(bn, '/');
	size_t bl = slash ? (size_t)(slash - bn) : strlen(bn);
	const char *key = slash ? slash + 1 : "";
	if (!bl) {
		if (get)
			syn_list_buckets(c, buckets, nbuckets);
		else
			syn_reply_error(c, 405, "MethodNotAllowed", "%s /", m);
		return;
	}
	if (strlen(key) > KEY_MAX) {
		syn_reply_error(c, 400, "KeyTooLongError", "Your key is too long");
		return;
	}
	sbucket *b = find_bucket(bn, bl);
	if (!b) {
		if (put && !*key && syn_cfg.default_src && nbuckets < SYN_MAX_BUCKETS && bl < SYN_NAME_MAX) {
			char name[SYN_NAME_MAX], err[256];
			memcpy(name, bn, bl);
			name[bl] = '\0';
			if (syn_add_sink(name, syn_cfg.default_src, err, sizeof(err)) == 0) {
				syn_log("CreateBucket %s: a sink verifying against %s", name,
					syn_cfg.default_src);
				syn_reply(c, 200, NULL, "", 0);
				return;
			}
		}
		syn_reply_error(c, 404, "NoSuchBucket", "The specified bucket does not exist: %.*s",
				(int)bl, bn);
		return;
	}
	x->b = b;
	bg_strlcpy(x->key, key, sizeof(x->key));
	const char *q = r->query;
	if (r->aws_chunked && (put || post)) {
		syn_reply_error(c, 501, "NotImplemented",
				"barge-synth does not decode aws-chunked (streaming SigV4) bodies; "
				"sign the payload or send UNSIGNED-PAYLOAD");
		return;
	}

	if (!*key) { /* bucket operations */
		if (head)
			syn_reply(c, 200, "x-amz-bucket-region: us-east-1\r\n", "", 0);
		else if (get && syn_qhas(q, "uploads"))
			syn_list_uploads(c, b, q);
		else if (get && syn_qhas(q, "location")) {
			const char *loc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint "
					  "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></LocationConstraint>";
			syn_reply(c, 200, "Content-Type: application/xml\r\n", loc, strlen(loc));
		} else if (get)
			syn_list_objects(c, b, q);
		else if (put)
			syn_reply(c, 200, NULL, "", 0); /* CreateBucket: it exists, and is yours */
		else if (post && syn_qhas(q, "delete")) {
			x->op = OP_DELETE_MULTI;
			syn_set_body(c, SYN_BODY_BUFFER, XML_BODY_MAX);
		} else if (del)
			syn_reply(c, 204, NULL, "", 0);
		else
			syn_reply_error(c, 405, "MethodNotAllowed", "%s on a bucket", m);
		return;
	}

	if (get || head) {
		char pid[40];
		if (b->sink && syn_qget(q, "uploadId", pid, sizeof(pid)) > 0 && get) {
			upload *u = find_upload(b, pid, NULL);
			if (!u || strcmp(u->key, key))
				syn_reply_error(c, 404, "NoSuchUpload", "The specified upload does not exist");
			else
				syn_list_parts(c, b, u, q);
			return;
		}
		syn_obj o;
		char etag[SYN_ETAG_MAX];
		if (b->sink) {
			sobj *s = sink_get(b, key);
			if (!s) {
				syn_reply_error(c, 404, "NoSuchKey", "The specified key does not exist.");
				return;
			}
			o = s->src;
			o.size = s->size;
			bg_strlcpy(etag, s->etag, sizeof(etag));
		} else {
			if (!syn_src_find(b->src, key, strlen(key), &o)) {
				syn_reply_error(c, 404, "NoSuchKey", "The specified key does not exist.");
				return;
			}
			syn_obj_etag(&o, syn_cfg.etag_mode, etag);
		}
		get_object(c, r, &o, etag);
		return;
	}
	if (!b->sink) {
		syn_reply_error(c, 403, "AccessDenied", "bucket %s is a read-only synthetic source", b->name);
		return;
	}
	if (r->copy_source) {
		syn_reply_error(c, 501, "NotImplemented", "barge-synth does not do server-side copies");
		return;
	}
	if (post && syn_qhas(q, "uploads")) {
		create_upload(c, b, key);
		return;
	}
	char uid[40] = "", pn[16] = "";
	int has_uid = syn_qget(q, "uploadId", uid, sizeof(uid));
	if (has_uid < 0) {
		syn_reply_error(c, 404, "NoSuchUpload", "The specified upload does not exist");
		return;
	}
	if (has_uid) {
		upload **link = NULL;
		upload *u = find_upload(b, uid, &link);
		if (!u || strcmp(u->key, key)) {
			syn_reply_error(c, 404, "NoSuchUpload", "The specified upload does not exist: %s", uid);
			return;
		}
		bg_strlcpy(x->upload_id, uid, sizeof(x->upload_id));
		if (put) {
			uint64_t n;
			if (syn_qget(q, "partNumber", pn, sizeof(pn)) <= 0 || bg_parse_u64(pn, 1, 10000, &n) < 0) {
				syn_reply_error(c, 400, "InvalidArgument",
						"Part number must be an integer between 1 and 10000");
				return;
			}
			if (!r->has_length) {
				syn_reply_error(c, 411, "MissingContentLength", "send Content-Length");
				return;
			}
			begin_part(c, x, r, u, n);
		} else if (post) {
			x->op = OP_COMPLETE;
			syn_set_body(c, SYN_BODY_BUFFER, XML_BODY_MAX);
		} else if (del) {
			*link = u->next;
			free_upload(u);
			syn_reply(c, 204, NULL, "", 0);
		} else {
			syn_reply_error(c, 405, "MethodNotAllowed", "%s with uploadId", m);
		}
		return;
	}
	if (put) {
		if (!r->has_length) {
			syn_reply_error(c, 411, "MissingContentLength", "send Content-Length");
			return;
		}
		begin_put(c, x, r);
		return;
	}
	if (del) {
		sink_del(b, key);
		syn_reply(c, 204, NULL, "", 0);
		return;
	}
	syn_reply_error(c, 405, "MethodNotAllowed", "%s on an object", m);
}

void syn_s3_end(syn_conn *c)
{
	rctx *x = syn_conn_ctx(c);
	switch (x->op) {
	case OP_PUT: end_put(c, x); break;
	case OP_PART: end_part(c, x); break;
	case OP_COMPLETE: end_complete(c, x); break;
	case OP_DELETE_MULTI: end_delete_multi(c, x); break;
	default: syn_reply(c, 200, NULL, "", 0);
	}
}
