/* s3.c - S3 request building, signing, response capture (see s3.h). */
#include "s3.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const preserved[] = {
	"content-type", "content-encoding", "content-disposition",
	"cache-control", "content-language", "expires",
};

void bg_meta_clear(bg_meta *m)
{
	m->len = 0;
	m->count = 0;
}

int bg_meta_capture(bg_meta *m, const char *name, size_t nlen, const char *value, size_t vlen)
{
	bool keep = nlen > 11 && strncasecmp(name, "x-amz-meta-", 11) == 0;
	for (size_t i = 0; !keep && i < sizeof(preserved) / sizeof(preserved[0]); i++)
		keep = strlen(preserved[i]) == nlen && strncasecmp(name, preserved[i], nlen) == 0;
	if (!keep)
		return 0;
	if (m->len + nlen + vlen + 2 > sizeof(m->buf))
		return -1;
	for (size_t i = 0; i < nlen; i++)
		m->buf[m->len++] = (char)tolower((unsigned char)name[i]);
	m->buf[m->len++] = '\0';
	memcpy(m->buf + m->len, value, vlen);
	m->len += vlen;
	m->buf[m->len++] = '\0';
	m->count++;
	return 0;
}

/* Does this response header say the object's ETag is not the MD5 of its
 * bytes?  AWS documents that for SSE-KMS (aws:kms, aws:kms:dsse) and SSE-C
 * objects; SSE-S3 (AES256) keeps the MD5. */
static bool etag_opaque_header(const char *n, size_t nlen, const char *v, size_t vlen)
{
	static const char sse[] = "x-amz-server-side-encryption";
	static const char ssec[] = "x-amz-server-side-encryption-customer-algorithm";
	if (nlen == sizeof(ssec) - 1 && strncasecmp(n, ssec, nlen) == 0)
		return true;
	return nlen == sizeof(sse) - 1 && strncasecmp(n, sse, nlen) == 0 && vlen >= 7 &&
	       strncmp(v, "aws:kms", 7) == 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	bg_s3_req *r = ud;
	size_t len = size * n, l = len;
	while (l && (p[l - 1] == '\n' || p[l - 1] == '\r'))
		l--;
	if (l >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		/* A new response (after 100 Continue or a redirect). */
		r->etag[0] = '\0';
		r->has_length = false;
		r->mp_parts = 0;
		r->etag_opaque = false;
		r->retry_after_s = -1;
		bg_meta_clear(&r->meta);
		return len;
	}
	const char *colon = memchr(p, ':', l);
	if (!colon)
		return len;
	size_t nlen = (size_t)(colon - p);
	const char *v = colon + 1;
	size_t vlen = l - nlen - 1;
	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	char tmp[64];
	if (nlen == 4 && strncasecmp(p, "etag", 4) == 0) {
		if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
			v++;
			vlen -= 2;
		}
		if (vlen < sizeof(r->etag)) {
			memcpy(r->etag, v, vlen);
			r->etag[vlen] = '\0';
		}
	} else if (nlen == 14 && strncasecmp(p, "content-length", 14) == 0 && vlen < sizeof(tmp)) {
		memcpy(tmp, v, vlen);
		tmp[vlen] = '\0';
		r->has_length = bg_parse_u64(tmp, 0, UINT64_MAX, &r->content_length) == 0;
	} else if (nlen == 20 && strncasecmp(p, "x-amz-mp-parts-count", 20) == 0 &&
		   vlen < sizeof(tmp)) {
		uint64_t pc;
		memcpy(tmp, v, vlen);
		tmp[vlen] = '\0';
		r->mp_parts = bg_parse_u64(tmp, 1, 10000, &pc) == 0 ? (unsigned)pc : 0;
	} else if (etag_opaque_header(p, nlen, v, vlen)) {
		r->etag_opaque = true;
	} else if (nlen == 11 && strncasecmp(p, "retry-after", 11) == 0 && vlen < sizeof(tmp)) {
		uint64_t s;
		memcpy(tmp, v, vlen);
		tmp[vlen] = '\0';
		if (bg_parse_u64(tmp, 0, 3600, &s) == 0)
			r->retry_after_s = (long)s;
	}
	if (r->capture_meta && bg_meta_capture(&r->meta, p, nlen, v, vlen) < 0)
		return 0; /* more metadata than S3 allows: fail the request */
	return len;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	bg_s3_req *r = ud;
	size_t len = size * n;
	long status = 0;
	curl_easy_getinfo(r->http.easy, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300 && r->write_fn) {
		size_t got = r->write_fn(r->io_ctx, p, len);
		if (got == CURL_WRITEFUNC_PAUSE)
			return got; /* curl keeps the chunk and hands it again */
		if (got != len)
			r->sink_failed = true;
		return got;
	}
	if (bg_buf_add(&r->resp, p, len) < 0) {
		r->sink_failed = true;
		bg_snprintf(r->sink_msg, sizeof(r->sink_msg),
			    "response body larger than %zu bytes", r->resp.cap);
		return 0;
	}
	return len;
}

static size_t on_read(char *dst, size_t size, size_t n, void *ud)
{
	bg_s3_req *r = ud;
	return r->read_fn(r->io_ctx, dst, size * n);
}

int bg_s3_req_init(bg_s3_req *r, size_t body_cap, bg_status *st)
{
	memset(r, 0, sizeof(*r));
	bg_buf_init(&r->resp, body_cap);
	CURL *e = curl_easy_init();
	if (!e)
		return bg_fail(st, BG_E_NOMEM, "curl_easy_init failed");
	r->http.easy = e;
	r->http.owner = r;
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L); /* keys may hold "//", "../" */
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
	curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 256L * 1024);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	/* A stalled transfer: under 1 KiB/s for 30 s. */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(e, CURLOPT_READDATA, r);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "barge/0.1");
	return 0;
}

void bg_s3_req_stall(bg_s3_req *r, unsigned secs)
{
	curl_easy_setopt(r->http.easy, CURLOPT_LOW_SPEED_TIME, (long)secs);
}

void bg_s3_req_free(bg_s3_req *r)
{
	if (r->http.easy)
		curl_easy_cleanup(r->http.easy);
	r->http.easy = NULL;
	bg_buf_free(&r->resp);
}

/* Appends "name: value" to the header block and links a list node to it. */
static int add_header(bg_s3_req *r, const char *name, const char *value)
{
	if (r->nnodes == BG_S3_MAX_HEADERS)
		return -1;
	int n = bg_snprintf(r->hdrbuf + r->hdrlen, sizeof(r->hdrbuf) - r->hdrlen, "%s: %s",
			    name, value);
	if (n < 0)
		return -1;
	struct curl_slist *node = &r->nodes[r->nnodes];
	node->data = r->hdrbuf + r->hdrlen;
	node->next = NULL;
	if (r->nnodes)
		r->nodes[r->nnodes - 1].next = node;
	r->nnodes++;
	r->hdrlen += (size_t)n + 1;
	return 0;
}

/* "/bucket/key" into path, the query into query, the whole URL into
 * r->url.  0, or the error's code with *st. */
static int build_url(bg_s3_req *r, const bg_endpoint *ep, const bg_s3_call *c, char *path,
		     size_t pcap, char *query, size_t qcap, bg_status *st)
{
	int plen = bg_snprintf(path, pcap, "/%s", c->bucket);
	if (plen < 0)
		return bg_fail(st, BG_E_INTERNAL, "bucket name too long");
	if (c->key) {
		path[plen++] = '/';
		int k = bg_uri_encode(c->key, strlen(c->key), true, path + plen, pcap - (size_t)plen);
		if (k < 0)
			return bg_fail(st, BG_E_USAGE, "key too long to encode: %.80s...", c->key);
	}
	if (bg_query_build(c->query, c->nquery, query, qcap) < 0)
		return bg_fail(st, BG_E_INTERNAL, "query string too long");
	if (bg_snprintf(r->url, sizeof(r->url), "%s%s%s%s", ep->url, path, query[0] ? "?" : "",
			query) < 0)
		return bg_fail(st, BG_E_USAGE, "URL too long for key %.80s", c->key ? c->key : "");
	return 0;
}

/* The headers SigV4 signs: host, date, payload hash, session token, the
 * call's own and the object's metadata.  Their count, or -1 when the
 * metadata does not fit. */
static int signed_headers(const bg_endpoint *ep, const bg_s3_call *c, const char *amz_date,
			  const char *payload, bg_header *sh)
{
	int ns = 0;
	sh[ns++] = (bg_header){ "host", ep->host };
	sh[ns++] = (bg_header){ "x-amz-date", amz_date };
	sh[ns++] = (bg_header){ "x-amz-content-sha256", payload };
	if (ep->session_token[0])
		sh[ns++] = (bg_header){ "x-amz-security-token", ep->session_token };
	for (size_t i = 0; i < c->nheaders && ns < BG_S3_MAX_HEADERS - 2; i++)
		sh[ns++] = c->headers[i];
	if (!c->meta)
		return ns;
	const char *p = c->meta->buf, *end = c->meta->buf + c->meta->len;
	while (p < end && ns < BG_S3_MAX_HEADERS - 2) {
		const char *v = p + strlen(p) + 1;
		sh[ns++] = (bg_header){ p, v };
		p = v + strlen(v) + 1;
	}
	return p < end ? -1 : ns;
}

/* Signs the request and lays its headers out in r.  0, or the error's
 * code with *st. */
static int sign(bg_s3_req *r, const bg_endpoint *ep, const bg_s3_call *c, const char *path,
		const char *query, bg_status *st)
{
	char amz_date[BG_AMZ_DATE];
	bg_amz_date(time(NULL), amz_date);
	char payload[BG_SHA256_HEX];
	if (c->body == BG_BODY_STREAM)
		bg_strlcpy(payload, BG_UNSIGNED_PAYLOAD, sizeof(payload));
	else if (c->body == BG_BODY_MEM)
		bg_sha256_hex(c->mem, (size_t)c->body_len, payload);
	else
		bg_strlcpy(payload, BG_EMPTY_SHA256, sizeof(payload));
	bg_header sh[BG_S3_MAX_HEADERS];
	int ns = signed_headers(ep, c, amz_date, payload, sh);
	if (ns < 0)
		return bg_fail(st, BG_E_USAGE, "too many metadata headers on %.80s",
			       c->key ? c->key : "");
	bg_sigv4_creds cr = { ep->access_key, ep->secret_key, ep->region, "s3" };
	bg_sigv4_request sr = {
		.method = c->method, .canonical_uri = path, .canonical_query = query,
		.headers = sh, .nheaders = (size_t)ns, .payload_hash = payload, .amz_date = amz_date,
	};
	char auth[8192]; /* SignedHeaders names every metadata header */
	int rc = bg_sigv4_authorization(&cr, &sr, auth, sizeof(auth));
	if (rc < 0)
		return bg_fail(st, BG_E_INTERNAL, "cannot sign the request (%s)", strerror(-rc));
	r->hdrlen = 0;
	r->nnodes = 0;
	for (int i = 0; i < ns; i++)
		if (add_header(r, sh[i].name, sh[i].value) < 0)
			return bg_fail(st, BG_E_USAGE, "request headers too large for %.80s",
				       c->key ? c->key : "");
	if (add_header(r, "Authorization", auth) < 0 || add_header(r, "Expect", "") < 0)
		return bg_fail(st, BG_E_USAGE, "request headers too large");
	/* "Expect:" with an empty value removes curl's 100-continue (R2 never
	 * answers it).  curl would add "Content-Type" on POST: send none. */
	if (c->body == BG_BODY_MEM && add_header(r, "Content-Type", "") < 0)
		return bg_fail(st, BG_E_USAGE, "request headers too large");
	return 0;
}

/* The easy handle's options for this request: URL, headers, TLS, method. */
static void set_curl(bg_s3_req *r, const bg_endpoint *ep, const bg_s3_call *c)
{
	CURL *e = r->http.easy;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->nodes);
	curl_easy_setopt(e, CURLOPT_HTTPGET, 1L); /* resets NOBODY/UPLOAD/POST */
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
	/* Set on every request: one handle serves both endpoints. */
	const char *ca = ep->ca_bundle[0] ? ep->ca_bundle : curl_version_info(CURLVERSION_NOW)->cainfo;
	curl_easy_setopt(e, CURLOPT_CAINFO, ca);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, ep->insecure ? 0L : 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, ep->insecure ? 0L : 2L);
	if (strcmp(c->method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (strcmp(c->method, "PUT") == 0) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)c->body_len);
	} else if (strcmp(c->method, "POST") == 0) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body == BG_BODY_MEM ? c->mem : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(c->body == BG_BODY_MEM ? c->body_len : 0));
	} else if (strcmp(c->method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
	}
}

/* Forgets the last answer; the call's body and sink callbacks. */
static void reset_answer(bg_s3_req *r, const bg_s3_call *c)
{
	r->write_fn = c->write_fn;
	r->read_fn = c->read_fn;
	r->io_ctx = c->io_ctx;
	r->capture_meta = c->capture_meta;
	r->asked_ns = bg_now_ns();
	r->status = 0;
	bg_buf_reset(&r->resp);
	r->etag[0] = '\0';
	r->has_length = false;
	r->content_length = 0;
	r->mp_parts = 0;
	r->etag_opaque = false;
	r->retry_after_s = -1;
	bg_meta_clear(&r->meta);
	memset(&r->err, 0, sizeof(r->err));
	r->sink_failed = false;
	r->sink_msg[0] = '\0';
}

int bg_s3_prepare(bg_s3_req *r, const bg_endpoint *ep, const bg_s3_call *c, bg_status *st)
{
	char path[BG_KEY_MAX * 3 + 128];
	char query[4096];
	int rc = build_url(r, ep, c, path, sizeof(path), query, sizeof(query), st);
	if (!rc)
		rc = sign(r, ep, c, path, query, st);
	if (rc)
		return -1; /* callers test < 0: a positive code here once let a
			    * request go out with the last one's headers */
	set_curl(r, ep, c);
	reset_answer(r, c);
	return 0;
}

static void s3_http_done(bg_http_req *h, CURLcode cc)
{
	bg_s3_req *r = h->owner;
	(void)cc;
	curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &r->status);
	r->done(r);
}

int bg_s3_start(bg_http *h, bg_s3_req *r)
{
	r->http.done = s3_http_done;
	r->http.owner = r;
	return bg_http_add(h, &r->http);
}

static bool retryable_code(const char *code)
{
	static const char *const codes[] = {
		"RequestTimeout", "SlowDown", "InternalError", "ServiceUnavailable",
		"OperationAborted", "TooManyRequests",
	};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

bg_s3_outcome bg_s3_classify(bg_s3_req *r, char *msg, size_t cap)
{
	CURLcode cc = r->http.result;
	if (cc != CURLE_OK) {
		if (r->sink_failed && r->sink_msg[0]) {
			bg_snprintf(msg, cap, "%s", r->sink_msg);
			return BG_S3_RETRY;
		}
		bg_snprintf(msg, cap, "%s", curl_easy_strerror(cc));
		switch (cc) {
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
		case CURLE_OUT_OF_MEMORY:
			return BG_S3_FAIL;
		default:
			return BG_S3_RETRY;
		}
	}
	long s = r->status;
	if (s >= 200 && s < 300) {
		msg[0] = '\0';
		return BG_S3_DONE;
	}
	if (bg_xml_parse_error(r->resp.data ? r->resp.data : "", r->resp.len, &r->err) < 0) {
		memset(&r->err, 0, sizeof(r->err));
		/* HEAD responses have no body: name the status. */
		const char *code = s == 404 ? "NotFound" : s == 403 ? "Forbidden" :
				   s == 412 ? "PreconditionFailed" : s == 429 ? "TooManyRequests" :
				   s == 503 ? "ServiceUnavailable" : "";
		bg_strlcpy(r->err.code, code, sizeof(r->err.code));
	}
	if (r->err.message[0])
		bg_snprintf(msg, cap, "HTTP %ld %s: %s", s, r->err.code, r->err.message);
	else
		bg_snprintf(msg, cap, "HTTP %ld %s", s, r->err.code);
	if (s >= 500 || s == 429 || retryable_code(r->err.code))
		return BG_S3_RETRY;
	return BG_S3_FAIL;
}

uint64_t bg_s3_backoff_ns(const bg_s3_req *r, unsigned attempt)
{
	if (r && r->retry_after_s >= 0) {
		long s = r->retry_after_s > 60 ? 60 : r->retry_after_s;
		return (uint64_t)s * 1000000000ull + (uint64_t)(random() % 100) * 1000000ull;
	}
	uint64_t base = 100ull * 1000000ull, capns = 20ull * 1000000000ull;
	uint64_t ceil = base << (attempt > 12 ? 12 : attempt);
	if (ceil > capns)
		ceil = capns;
	return (uint64_t)random() % (ceil + 1);
}

static void exec_done(bg_s3_req *r)
{
	*(bool *)r->owner = true;
}

bg_s3_outcome bg_s3_exec(bg_http *h, bg_s3_req *r, const bg_endpoint *ep, const bg_s3_call *c,
			 unsigned attempts, void (*rewind)(void *io_ctx), unsigned *retries,
			 char *msg, size_t cap)
{
	bg_s3_outcome out = BG_S3_FAIL;
	bool finished;

	for (unsigned attempt = 1;; attempt++) {
		bg_status st = { 0 };
		if (rewind)
			rewind(c->io_ctx);
		if (bg_s3_prepare(r, ep, c, &st) < 0) {
			bg_snprintf(msg, cap, "%s", st.msg);
			return BG_S3_FAIL;
		}
		finished = false;
		r->done = exec_done;
		r->owner = &finished;
		if (bg_s3_start(h, r) < 0) {
			bg_snprintf(msg, cap, "cannot start a %s request", c->method);
			return BG_S3_FAIL;
		}
		while (!finished) {
			int rc = bg_http_turn(h, 100000000ull);
			if (rc < 0) {
				bg_http_abort(h, &r->http);
				bg_snprintf(msg, cap, "event loop failed: %s", strerror(-rc));
				return BG_S3_FAIL;
			}
		}
		out = bg_s3_classify(r, msg, cap);
		if (out != BG_S3_RETRY || attempt >= attempts)
			return out;
		if (retries)
			(*retries)++;
		uint64_t ns = bg_s3_backoff_ns(r, attempt);
		struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
				       .tv_nsec = (long)(ns % 1000000000ull) };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}
