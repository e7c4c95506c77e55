/* doctor_cmd.c - `barge doctor URL` (see doctor_cmd.h).
 *
 * Each check prints one line, PASS, WARN, FAIL or SKIP, and a FAIL says
 * what to do.  DNS and TCP are checked with plain sockets; TLS and the
 * server's clock with one unsigned libcurl request (CURLOPT_CERTINFO for
 * the certificate); everything signed goes through the engine (s3.c on
 * http.c's io_uring loop), one request at a time.  Objects the checks
 * create are named .barge-doctor-<random> under URL's prefix, and are
 * removed (and checked to be gone) whatever happens in between. */
#include "doctor_cmd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cmdutil.h"
#include "esc.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define ATTEMPTS 3
#define TIMEOUT_MS 10000
#define SKEW_WARN_S 300
#define SKEW_FAIL_S 900

typedef enum verdict { V_PASS, V_WARN, V_FAIL, V_SKIP } verdict;
static const char *const vname[] = { "PASS", "WARN", "FAIL", "SKIP" };

typedef struct doc {
	bg_location loc;
	bg_endpoint ep;
	bg_http http;
	bg_s3_req req;
	char folder[BG_KEY_MAX + 2];
	char host[300]; /* without port or brackets */
	char port[8];
	unsigned fails, warns;
	bool http_ok;
	/* probe results */
	time_t server_date;
	char tls_version[32];
	/* listing */
	char first_key[BG_KEY_MAX + 1];
	bool have_key;
} doc;

static void step(doc *d, verdict v, const char *name, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void step(doc *d, verdict v, const char *name, const char *fix, const char *fmt, ...)
{
	char what[BG_MSG_MAX * 2 + BG_KEY_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* what quotes keys and server messages: escaped for the terminal */
	bg_text_line(stdout, "%s  %-11s %s", vname[v], name, what);
	if (fix && (v == V_FAIL || v == V_WARN))
		bg_text_line(stdout, "      what to do: %s", fix);
	fflush(stdout);
	if (v == V_FAIL)
		d->fails++;
	else if (v == V_WARN)
		d->warns++;
}

/* Key for the terminal (control characters escaped) into buf. */
static const char *shown(const char *key, char *buf, size_t cap)
{
	char *p = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&p, &n);
	if (!f)
		return key;
	bg_text_putn(f, key, strlen(key));
	fclose(f);
	bg_snprintf(buf, cap, "%s", p ? p : "");
	free(p);
	return buf;
}

/* ---- credentials ---------------------------------------------------------- */

static void check_credentials(doc *d, const char *profile)
{
	char src[256], akid[16];
	const char *e;
	if (profile)
		bg_snprintf(src, sizeof(src), "profile '%s' (--profile) in the shared config files",
			    profile);
	else if (d->loc.kind == BG_LOC_R2)
		bg_snprintf(src, sizeof(src), "the environment (R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY)");
	else if ((e = getenv("AWS_ACCESS_KEY_ID")) && *e && getenv("AWS_SECRET_ACCESS_KEY"))
		bg_snprintf(src, sizeof(src), "the environment (AWS_ACCESS_KEY_ID, "
					      "AWS_SECRET_ACCESS_KEY%s)",
			    d->ep.session_token[0] ? ", AWS_SESSION_TOKEN" : "");
	else
		bg_snprintf(src, sizeof(src), "profile '%s' in the shared config files%s",
			    d->ep.profile[0] ? d->ep.profile : "default",
			    getenv("AWS_PROFILE") ? " (AWS_PROFILE)" : "");
	/* The access key ID is not a secret, but four characters name it. */
	bg_snprintf(akid, sizeof(akid), "%.4s...", d->ep.access_key);
	step(d, V_PASS, "credentials", NULL, "access key %s and a secret key from %s; endpoint %s, "
	     "region %s", akid, src, d->ep.url, d->ep.region);
}

/* ---- DNS and TCP ---------------------------------------------------------- */

static void split_host(doc *d)
{
	const char *h = strstr(d->ep.url, "://");
	h = h ? h + 3 : d->ep.url;
	const char *end = h + strcspn(h, "/");
	const char *colon = NULL;
	if (*h == '[') { /* [v6]:port */
		const char *rb = memchr(h, ']', (size_t)(end - h));
		if (rb) {
			bg_snprintf(d->host, sizeof(d->host), "%.*s", (int)(rb - h - 1), h + 1);
			colon = rb[1] == ':' ? rb + 1 : NULL;
		}
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		bg_snprintf(d->host, sizeof(d->host), "%.*s",
			    (int)((colon ? colon : end) - h), h);
	}
	if (colon)
		bg_snprintf(d->port, sizeof(d->port), "%.*s", (int)(end - colon - 1), colon + 1);
	else
		bg_snprintf(d->port, sizeof(d->port), "%s", d->ep.tls ? "443" : "80");
}

static struct addrinfo *check_dns(doc *d)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(d->host, d->port, &hints, &res);
	if (rc != 0) {
		step(d, V_FAIL, "dns", d->loc.kind == BG_LOC_R2 ?
		     "check R2_ACCOUNT_ID (or R2_ENDPOINT_URL) and this machine's DNS (/etc/resolv.conf)" :
		     "check the endpoint (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's "
		     "endpoint_url, AWS_REGION) and this machine's DNS (/etc/resolv.conf)",
		     "%s does not resolve: %s", d->host, gai_strerror(rc));
		return NULL;
	}
	char list[200] = "";
	size_t used = 0;
	unsigned n = 0;
	for (struct addrinfo *a = res; a && n < 3; a = a->ai_next, n++) {
		char ip[INET6_ADDRSTRLEN] = "?";
		void *addr = a->ai_family == AF_INET ? (void *)&((struct sockaddr_in *)(void *)a->ai_addr)->sin_addr
						     : (void *)&((struct sockaddr_in6 *)(void *)a->ai_addr)->sin6_addr;
		inet_ntop(a->ai_family, addr, ip, sizeof(ip));
		int w = snprintf(list + used, sizeof(list) - used, "%s%s", n ? ", " : "", ip);
		if (w > 0 && (size_t)w < sizeof(list) - used)
			used += (size_t)w;
	}
	step(d, V_PASS, "dns", NULL, "%s resolves to %s", d->host, list);
	return res;
}

/* Connects with a timeout: 0 or an errno. */
static int connect_timeout(const struct addrinfo *a, int ms)
{
	int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	int err = 0;
	if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
		err = errno;
		if (err == EINPROGRESS) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int r = poll(&p, 1, ms);
			socklen_t len = sizeof(err);
			if (r == 0)
				err = ETIMEDOUT;
			else if (r < 0)
				err = errno;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
				err = errno;
		}
	}
	close(fd);
	return err;
}

static bool check_tcp(doc *d, const struct addrinfo *res)
{
	int err = 0;
	for (const struct addrinfo *a = res; a; a = a->ai_next) {
		uint64_t t0 = bg_now_ns();
		err = connect_timeout(a, TIMEOUT_MS);
		if (!err) {
			step(d, V_PASS, "tcp", NULL, "connected to %s port %s in %.1f ms", d->host,
			     d->port, (double)(bg_now_ns() - t0) / 1e6);
			return true;
		}
	}
	step(d, V_FAIL, "tcp",
	     err == ECONNREFUSED ? "nothing listens there: check the endpoint URL and its port, "
				   "and that the service is up" :
	     "check firewalls, proxies and routes between this machine and the endpoint",
	     "cannot connect to %s port %s: %s", d->host, d->port, strerror(err));
	return false;
}

/* ---- TLS and the server's clock: one unsigned request ------------------- */

static size_t probe_header(char *p, size_t size, size_t n, void *ud)
{
	doc *d = ud;
	size_t len = size * n;
	if (len > 5 && strncasecmp(p, "date:", 5) == 0) {
		char v[128];
		size_t l = len - 5;
		if (l >= sizeof(v))
			l = sizeof(v) - 1;
		memcpy(v, p + 5, l);
		v[l] = '\0';
		time_t t = curl_getdate(v, NULL);
		if (t > 0)
			d->server_date = t;
	}
	return len;
}

static size_t probe_body(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* "Nov 29 12:00:00 2027 GMT" (OpenSSL's ASN1_TIME_print) to time_t. */
static time_t cert_time(const char *s)
{
	char buf[64];
	bg_snprintf(buf, sizeof(buf), "%s", s);
	time_t t = curl_getdate(buf, NULL);
	return t > 0 ? t : 0;
}

/* One plain request to the endpoint's root, with the certificate chain and
 * the Date header kept (probe_header).  The handle, or NULL. */
static CURL *probe(doc *d, char *ebuf, CURLcode *cc)
{
	CURL *e = curl_easy_init();
	if (!e)
		return NULL;
	char url[600];
	bg_snprintf(url, sizeof(url), "%s/", d->ep.url);
	const char *ca = d->ep.ca_bundle[0] ? d->ep.ca_bundle : curl_version_info(CURLVERSION_NOW)->cainfo;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 2L * TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, probe_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, d);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, probe_body);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "barge/0.1 doctor");
	curl_easy_setopt(e, CURLOPT_CERTINFO, 1L);
	if (ca)
		curl_easy_setopt(e, CURLOPT_CAINFO, ca);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, d->ep.insecure ? 0L : 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, d->ep.insecure ? 0L : 2L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ebuf);
	*cc = curl_easy_perform(e);
	return e;
}

/* The verdict on a handshake that worked: the certificate's subject,
 * issuer and expiry. */
static void judge_cert(doc *d, CURL *e, time_t now)
{
	struct curl_certinfo *ci = NULL;
	char issuer[256] = "?", subject[256] = "?", expire[64] = "?";
	curl_easy_getinfo(e, CURLINFO_CERTINFO, &ci);
	if (ci && ci->num_of_certs > 0) {
		for (struct curl_slist *s = ci->certinfo[0]; s; s = s->next) {
			if (strncmp(s->data, "Issuer:", 7) == 0)
				bg_snprintf(issuer, sizeof(issuer), "%s", s->data + 7);
			else if (strncmp(s->data, "Subject:", 8) == 0)
				bg_snprintf(subject, sizeof(subject), "%s", s->data + 8);
			else if (strncmp(s->data, "Expire date:", 12) == 0)
				bg_snprintf(expire, sizeof(expire), "%s", s->data + 12);
		}
	}
	time_t exp = cert_time(expire);
	double days = exp ? difftime(exp, now) / 86400.0 : 0;
	if (d->ep.insecure)
		step(d, V_WARN, "tls", "drop --insecure once the CA is known (--ca-bundle)",
		     "handshake done, certificate NOT verified (--insecure); subject %s, "
		     "issuer %s, expires %s", subject, issuer, expire);
	else if (exp && days < 14)
		step(d, V_WARN, "tls", "the certificate expires soon: tell the endpoint's owner",
		     "verified; subject %s, issuer %s, expires %s (in %.0f days)", subject,
		     issuer, expire, days);
	else
		step(d, V_PASS, "tls", NULL, "verified; subject %s, issuer %s, expires %s%s",
		     subject, issuer, expire, exp ? "" : " (could not read the date)");
}

/* This machine's clock against the server's Date header. */
static void judge_clock(doc *d, CURLcode cc, time_t now)
{
	if (cc != CURLE_OK && !d->server_date) {
		step(d, V_SKIP, "clock", NULL, "no answer from the server to compare clocks with");
		return;
	}
	if (!d->server_date) {
		step(d, V_WARN, "clock", "compare this machine's clock with a time server (chronyc "
		     "tracking, timedatectl)", "the server sent no Date header to compare with");
		return;
	}
	double skew = difftime(d->server_date, now);
	double a = skew < 0 ? -skew : skew;
	const char *fix = "synchronise this machine's clock (timedatectl set-ntp true, or "
			  "chrony/ntpd): requests signed more than 15 minutes off are refused";
	if (a > SKEW_FAIL_S)
		step(d, V_FAIL, "clock", fix, "this clock is %.0f s %s the server's", a,
		     skew > 0 ? "behind" : "ahead of");
	else if (a > SKEW_WARN_S)
		step(d, V_WARN, "clock", fix, "this clock is %.0f s %s the server's", a,
		     skew > 0 ? "behind" : "ahead of");
	else
		step(d, V_PASS, "clock", NULL, "within %.0f s of the server's Date (1 s "
		     "resolution)", a);
}

static void check_tls_and_clock(doc *d)
{
	char ebuf[CURL_ERROR_SIZE] = "";
	CURLcode cc = CURLE_OK;
	CURL *e = probe(d, ebuf, &cc);
	if (!e) {
		step(d, V_FAIL, "tls", NULL, "curl_easy_init failed");
		return;
	}
	time_t now = time(NULL);
	if (!d->ep.tls) {
		step(d, V_SKIP, "tls", NULL, "http:// endpoint: nothing to check (R2 and AWS S3 "
		     "use https)");
	} else if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CONNECT_ERROR ||
		   cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM) {
		step(d, V_FAIL, "tls",
		     "for a private CA give its certificate with --ca-bundle (or AWS_CA_BUNDLE); "
		     "check this machine's clock; a proxy that intercepts TLS needs its CA too",
		     "handshake with %s failed: %s", d->host, ebuf[0] ? ebuf : curl_easy_strerror(cc));
	} else if (cc != CURLE_OK) {
		step(d, V_FAIL, "tls", "check the endpoint and the network", "no answer from %s: %s",
		     d->host, ebuf[0] ? ebuf : curl_easy_strerror(cc));
	} else {
		judge_cert(d, e, now);
	}
	judge_clock(d, cc, now);
	curl_easy_cleanup(e);
}

/* ---- signed requests -------------------------------------------------------- */

static bg_s3_outcome run(doc *d, const bg_s3_call *c, void (*rewind)(void *), char *msg,
			 size_t cap)
{
	return bg_s3_exec(&d->http, &d->req, &d->ep, c, ATTEMPTS, rewind, NULL, msg, cap);
}

static bool is_code(const doc *d, const char *code)
{
	return strcmp(d->req.err.code, code) == 0;
}

static int first_object(void *ctx, const bg_xml_object *o)
{
	doc *d = ctx;
	if (!d->have_key && o->key_len <= BG_KEY_MAX) {
		memcpy(d->first_key, o->key, o->key_len);
		d->first_key[o->key_len] = '\0';
		d->have_key = true;
	}
	return 0;
}

/* signature + list.  Returns false when nothing signed can work. */
static bool check_list(doc *d)
{
	char msg[BG_MSG_MAX + 64];
	bg_query_param q[4] = {
		{ "list-type", "2" }, { "encoding-type", "url" }, { "max-keys", "1" },
		{ "prefix", d->folder },
	};
	bg_s3_call c = { .method = "GET", .bucket = d->loc.bucket, .query = q,
			 .nquery = d->folder[0] ? 4 : 3 };
	bg_s3_outcome out = run(d, &c, NULL, msg, sizeof(msg));
	const char *scheme = d->loc.kind == BG_LOC_R2 ? "r2" : "s3";
	bool sig_bad = is_code(d, "SignatureDoesNotMatch") || is_code(d, "InvalidAccessKeyId") ||
		       is_code(d, "InvalidToken") || is_code(d, "ExpiredToken") ||
		       is_code(d, "AuthorizationHeaderMalformed") || is_code(d, "InvalidSecurity") ||
		       is_code(d, "InvalidArgument");
	if (out != BG_S3_DONE && is_code(d, "RequestTimeTooSkewed")) {
		step(d, V_FAIL, "signature", "synchronise this machine's clock (timedatectl set-ntp true)",
		     "refused: %s", msg);
		return false;
	}
	if (out != BG_S3_DONE && sig_bad) {
		const char *fix = d->loc.kind == BG_LOC_R2 ?
			"check R2_SECRET_ACCESS_KEY belongs to R2_ACCESS_KEY_ID (Cloudflare dashboard, "
			"R2, Manage API tokens); a token shown once must be copied whole" :
			"check that the secret key belongs to the access key ID (AWS_SECRET_ACCESS_KEY or "
			"the profile's aws_secret_access_key), and the session token if one is used";
		step(d, V_FAIL, "signature", fix, "the server refused these keys: %s", msg);
		return false;
	}
	if (out == BG_S3_DONE || is_code(d, "AccessDenied"))
		step(d, V_PASS, "signature", NULL, "the server accepted a request signed with these keys");
	else if (is_code(d, "NoSuchBucket"))
		step(d, V_SKIP, "signature", NULL, "not proven: the bucket does not exist");
	else
		step(d, V_SKIP, "signature", NULL, "not proven: the request failed (below)");

	if (out != BG_S3_DONE) {
		const char *fix = is_code(d, "NoSuchBucket") ?
			"check the bucket name in the URL and the endpoint (or create the bucket)" :
			is_code(d, "AccessDenied") ? (d->loc.kind == BG_LOC_R2 ?
			"give the API token Object Read (or Read & Write) on this bucket" :
			"allow s3:ListBucket on the bucket to this identity (IAM policy, bucket policy)") :
			"see the message; retry later if the server is busy";
		step(d, V_FAIL, "list", fix, "cannot list %s://%s/%s: %s", scheme, d->loc.bucket,
		     d->folder, msg);
		return is_code(d, "AccessDenied");
	}
	bg_xml_list_result res;
	char err[300];
	if (bg_xml_parse_list(d->req.resp.data ? d->req.resp.data : "", d->req.resp.len,
			      first_object, d, &res, err, sizeof(err)) < 0) {
		step(d, V_FAIL, "list", "the endpoint does not answer like S3: check the URL",
		     "the listing does not parse: %s", err);
		return true;
	}
	char kb[BG_KEY_MAX * 4 + 8];
	if (d->have_key)
		step(d, V_PASS, "list", NULL, "listed %s://%s/%s: first key '%s'%s", scheme,
		     d->loc.bucket, d->folder, shown(d->first_key, kb, sizeof(kb)),
		     res.is_truncated ? " (and more)" : "");
	else
		step(d, V_PASS, "list", NULL, "listed %s://%s/%s: no keys there", scheme,
		     d->loc.bucket, d->folder);
	return true;
}

static void check_read(doc *d)
{
	char msg[BG_MSG_MAX + 64], kb[BG_KEY_MAX * 4 + 8];
	if (!d->have_key) {
		step(d, V_SKIP, "read", NULL, "no object under the prefix to read%s",
		     " (the write check reads back its own)");
		return;
	}
	const char *fix = d->loc.kind == BG_LOC_R2 ? "give the API token Object Read on this bucket" :
			  "allow s3:GetObject on the bucket's objects to this identity";
	bg_s3_call c = { .method = "HEAD", .bucket = d->loc.bucket, .key = d->first_key };
	if (run(d, &c, NULL, msg, sizeof(msg)) != BG_S3_DONE) {
		step(d, V_FAIL, "read", fix, "HEAD of '%s': %s", shown(d->first_key, kb, sizeof(kb)),
		     msg);
		return;
	}
	uint64_t size = d->req.has_length ? d->req.content_length : 0;
	char etag[BG_ETAG_MAX];
	bg_strlcpy(etag, d->req.etag, sizeof(etag));
	bg_header h[1] = { { "Range", "bytes=0-1023" } };
	c = (bg_s3_call){ .method = "GET", .bucket = d->loc.bucket, .key = d->first_key,
			  .headers = h, .nheaders = size ? 1 : 0 };
	if (run(d, &c, NULL, msg, sizeof(msg)) != BG_S3_DONE) {
		step(d, V_FAIL, "read", fix, "GET of '%s': %s", shown(d->first_key, kb, sizeof(kb)),
		     msg);
		return;
	}
	uint64_t want = size < 1024 ? size : 1024;
	if (d->req.resp.len != want) {
		step(d, V_FAIL, "read", "the endpoint answers ranged GETs wrongly: report it",
		     "GET of the first %" PRIu64 " bytes of '%s' returned %zu", want,
		     shown(d->first_key, kb, sizeof(kb)), d->req.resp.len);
		return;
	}
	step(d, V_PASS, "read", NULL, "HEAD and GET of '%s' (%" PRIu64 " bytes, ETag %s)",
	     shown(d->first_key, kb, sizeof(kb)), size, etag[0] ? etag : "-");
}

/* A small body for PUT and UploadPart. */
typedef struct body {
	char data[1024];
	size_t len, pos;
} body;

static size_t body_read(void *ctx, char *dst, size_t n)
{
	body *b = ctx;
	size_t k = b->len - b->pos < n ? b->len - b->pos : n;
	memcpy(dst, b->data + b->pos, k);
	b->pos += k;
	return k;
}

static void body_rewind(void *ctx)
{
	((body *)ctx)->pos = 0;
}

/* HEAD: true when the object is gone (404). */
static bool gone(doc *d, const char *key, char *msg, size_t cap)
{
	bg_s3_call c = { .method = "HEAD", .bucket = d->loc.bucket, .key = key };
	return run(d, &c, NULL, msg, cap) == BG_S3_FAIL && d->req.status == 404;
}

static void check_write(doc *d, const char *key)
{
	char msg[BG_MSG_MAX + 64];
	static body b;
	b.len = (size_t)bg_snprintf(b.data, sizeof(b.data), "barge doctor test object %s, "
				    "written at %lld; delete it if it is still here\n", key,
				    (long long)time(NULL));
	const char *fix_w = d->loc.kind == BG_LOC_R2 ?
		"give the API token Object Read & Write on this bucket (or use --read-only)" :
		"allow s3:PutObject and s3:DeleteObject on the bucket's objects (or use --read-only)";
	bg_s3_call c = { .method = "PUT", .bucket = d->loc.bucket, .key = key,
			 .body = BG_BODY_STREAM, .body_len = b.len, .read_fn = body_read,
			 .io_ctx = &b };
	if (run(d, &c, body_rewind, msg, sizeof(msg)) != BG_S3_DONE) {
		step(d, V_FAIL, "write", fix_w, "PUT of %s: %s", key, msg);
		if (!gone(d, key, msg, sizeof(msg)))
			bg_text_line(stdout, "      note: %s may have been written: delete it", key);
		return;
	}
	char problem[BG_MSG_MAX + 128] = "";
	c = (bg_s3_call){ .method = "GET", .bucket = d->loc.bucket, .key = key };
	if (run(d, &c, NULL, msg, sizeof(msg)) != BG_S3_DONE)
		bg_snprintf(problem, sizeof(problem), "GET of what was written: %s", msg);
	else if (d->req.resp.len != b.len || memcmp(d->req.resp.data, b.data, b.len) != 0)
		bg_snprintf(problem, sizeof(problem), "GET returned other bytes than were written "
			    "(%zu, expected %zu)", d->req.resp.len, b.len);
	c = (bg_s3_call){ .method = "DELETE", .bucket = d->loc.bucket, .key = key };
	if (run(d, &c, NULL, msg, sizeof(msg)) != BG_S3_DONE) {
		step(d, V_FAIL, "write", fix_w, "DELETE of %s: %s; the test object is left behind: "
		     "delete it", key, msg);
		return;
	}
	if (!gone(d, key, msg, sizeof(msg))) {
		step(d, V_FAIL, "write", "delete the test object by hand; report the endpoint's "
		     "DELETE", "%s is still there after DELETE: %s", key,
		     msg[0] ? msg : "HEAD found it");
		return;
	}
	if (problem[0]) {
		step(d, V_FAIL, "write", "the endpoint does not return what it stored: report it",
		     "%s", problem);
		return;
	}
	step(d, V_PASS, "write", NULL, "PUT, GET back (%zu bytes, same), DELETE of %s; it is gone",
	     b.len, key);
}

struct find_upload {
	const char *id;
	bool found;
};

static int on_upload(void *ctx, const bg_xml_upload *u)
{
	struct find_upload *f = ctx;
	if (strcmp(u->upload_id, f->id) == 0)
		f->found = true;
	return 0;
}

static void check_multipart(doc *d, const char *key)
{
	char msg[BG_MSG_MAX + 64], id[BG_TOKEN_MAX];
	static body b;
	const char *fix = d->loc.kind == BG_LOC_R2 ?
		"give the API token Object Read & Write on this bucket" :
		"allow s3:PutObject, s3:AbortMultipartUpload and s3:ListBucketMultipartUploads";
	bg_query_param q[2] = { { "uploads", NULL } };
	bg_s3_call c = { .method = "POST", .bucket = d->loc.bucket, .key = key, .query = q,
			 .nquery = 1 };
	if (run(d, &c, NULL, msg, sizeof(msg)) != BG_S3_DONE) {
		step(d, V_FAIL, "multipart", fix, "CreateMultipartUpload of %s: %s", key, msg);
		return;
	}
	if (bg_xml_parse_initiate(d->req.resp.data ? d->req.resp.data : "", d->req.resp.len, id,
				  sizeof(id)) < 0) {
		step(d, V_FAIL, "multipart", "the endpoint does not support multipart uploads as S3 "
		     "does: report it", "CreateMultipartUpload answered without an UploadId");
		return;
	}
	char problem[BG_MSG_MAX + 128] = "";
	memset(b.data, 'b', sizeof(b.data));
	b.len = sizeof(b.data);
	q[0] = (bg_query_param){ "partNumber", "1" };
	q[1] = (bg_query_param){ "uploadId", id };
	c = (bg_s3_call){ .method = "PUT", .bucket = d->loc.bucket, .key = key, .query = q,
			  .nquery = 2, .body = BG_BODY_STREAM, .body_len = b.len,
			  .read_fn = body_read, .io_ctx = &b };
	if (run(d, &c, body_rewind, msg, sizeof(msg)) != BG_S3_DONE)
		bg_snprintf(problem, sizeof(problem), "UploadPart: %s", msg);
	else if (!d->req.etag[0])
		bg_snprintf(problem, sizeof(problem), "UploadPart answered without an ETag");
	q[0] = (bg_query_param){ "uploadId", id };
	c = (bg_s3_call){ .method = "DELETE", .bucket = d->loc.bucket, .key = key, .query = q,
			  .nquery = 1 };
	bg_s3_outcome out = run(d, &c, NULL, msg, sizeof(msg));
	if (out != BG_S3_DONE && !is_code(d, "NoSuchUpload")) {
		step(d, V_FAIL, "multipart", fix, "AbortMultipartUpload of %s: %s; the upload %s is "
		     "left behind: abort it", key, msg, id);
		return;
	}
	/* The upload must be gone from ListMultipartUploads. */
	bg_query_param lq[2] = { { "uploads", NULL }, { "prefix", key } };
	c = (bg_s3_call){ .method = "GET", .bucket = d->loc.bucket, .query = lq, .nquery = 2 };
	struct find_upload f = { .id = id };
	if (run(d, &c, NULL, msg, sizeof(msg)) != BG_S3_DONE) {
		step(d, V_FAIL, "multipart", "allow s3:ListBucketMultipartUploads (R2: Object Read)",
		     "ListMultipartUploads: %s", msg);
		return;
	}
	bool trunc = false;
	char nk[8], nu[8];
	if (bg_xml_parse_list_uploads(d->req.resp.data ? d->req.resp.data : "", d->req.resp.len,
				      on_upload, &f, &trunc, nk, sizeof(nk), nu, sizeof(nu)) < 0) {
		step(d, V_FAIL, "multipart", "the endpoint does not answer like S3: report it",
		     "ListMultipartUploads does not parse");
		return;
	}
	if (f.found) {
		step(d, V_FAIL, "multipart", "abort the upload by hand; report the endpoint's Abort",
		     "the aborted upload %s of %s is still listed", id, key);
		return;
	}
	if (problem[0]) {
		step(d, V_FAIL, "multipart", fix, "%s (the upload was aborted)", problem);
		return;
	}
	step(d, V_PASS, "multipart", NULL, "CreateMultipartUpload, UploadPart (%zu bytes), "
	     "AbortMultipartUpload of %s; the upload is gone", b.len, key);
}

/* ---- the command ----------------------------------------------------------- */

/* What the command line says. */
typedef struct docargs {
	cu_where w;
	const char *env_file;
	bool read_only;
} docargs;

static const cli_opt doctor_opts[] = {
	CLI_OPT_FLAG("--read-only", docargs, read_only, "skip the write and multipart checks"),
	CLI_OPT_STR("--profile", "P", docargs, w.profile, CU_HELP_PROFILE),
	CLI_OPT_STR("--env-file", "FILE", docargs, env_file, CU_HELP_ENV_FILE),
	CLI_OPT_STR("--ca-bundle", "FILE", docargs, w.ca_bundle, CU_HELP_CA_BUNDLE),
	CLI_OPT_FLAG("--insecure", docargs, w.insecure,
		     "do not verify TLS certificates (the tls check then WARNs)"),
	CU_REFUSE_SIDE_PROFILES,
	CLI_OPT_END,
};

static const cli_cmd doctor_cmd = {
	.name = "doctor",
	.usage = "usage: barge doctor URL [options]\n"
		 "\n"
		 "Checks, step by step, that URL (s3://bucket[/prefix] or r2://bucket[/prefix])\n"
		 "and its keys can do what a copy needs, and prints PASS, WARN, FAIL or SKIP\n"
		 "for each, with what to do about a failure:\n"
		 "  credentials  keys found, and where (environment, profile); never printed\n"
		 "  dns          the endpoint's host name resolves\n"
		 "  tcp          a connection to its port opens\n"
		 "  tls          (https) the handshake, the certificate's issuer and expiry\n"
		 "  clock        the server's Date against this clock: WARN over 5 minutes,\n"
		 "               FAIL over 15 (signatures are refused)\n"
		 "  signature    the server accepts a signed request with these keys\n"
		 "  list         ListObjectsV2 of the bucket under the prefix\n"
		 "  read         HEAD and GET of one listed object (SKIP when none is listed)\n"
		 "  write        PUT of a small object .barge-doctor-<random> under the prefix,\n"
		 "               GET it back, DELETE it, and check that it is gone\n"
		 "  multipart    CreateMultipartUpload, UploadPart of a small part,\n"
		 "               AbortMultipartUpload, and ListMultipartUploads shows it gone\n",
	.tail = "Credentials as for 'barge copy' (see 'barge copy --help').\n"
		"Exit: 0 every check passed (WARN and SKIP allowed), 1 a check failed,\n"
		"2 usage (a bad URL or option).\n",
	.opts = doctor_opts,
	.pos_min = 1, .pos_max = 1,
	.pos_need = "a URL such as r2://bucket", .pos_takes = "one URL",
};

/* The checks over the network, in order, each only after the one it
 * needs: DNS, TCP, TLS and clock, a signed listing.  True when the
 * signed listing worked (d->http_ok: the loop is set up). */
static bool check_path(doc *d)
{
	struct addrinfo *res = check_dns(d);
	bool tcp = res && check_tcp(d, res);
	if (res)
		freeaddrinfo(res);
	if (!tcp)
		return false;
	check_tls_and_clock(d);
	bg_status st = { 0 };
	if (bg_http_init(&d->http, 16, 4, &st) != BG_OK) {
		step(d, V_FAIL, "io_uring", "see the message (kernel.io_uring_disabled, "
		     "seccomp, container runtime)", "%s", st.msg);
		return false;
	}
	if (bg_s3_req_init(&d->req, 1u << 20, &st) != BG_OK) {
		bg_http_free(&d->http);
		step(d, V_FAIL, "setup", NULL, "%s", st.msg);
		return false;
	}
	d->http_ok = true;
	return check_list(d);
}

/* Reading, then (unless --read-only) writing a test object and a
 * multipart upload under random names, which the checks delete. */
static void check_data(doc *d, bool read_only)
{
	check_read(d);
	if (read_only) {
		step(d, V_SKIP, "write", NULL, "--read-only");
		step(d, V_SKIP, "multipart", NULL, "--read-only");
		return;
	}
	unsigned char rnd[8];
	char hex[17], key[BG_KEY_MAX + 64];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint64_t t = bg_now_ns() ^ (uint64_t)getpid();
		memcpy(rnd, &t, sizeof(rnd));
	}
	bg_hex(rnd, sizeof(rnd), hex);
	bg_snprintf(key, sizeof(key), "%s.barge-doctor-%s", d->folder, hex);
	check_write(d, key);
	bg_snprintf(key, sizeof(key), "%s.barge-doctor-%s-multipart", d->folder, hex);
	check_multipart(d, key);
}

int cmd_doctor(int argc, char **argv)
{
	static doc d;
	docargs a = { 0 };
	cli_args pos;
	int r = cli_parse(&doctor_cmd, &a, argc, argv, &pos);
	if (r)
		return r < 0 ? EXIT_USAGE : 0;
	const char *url = pos.pos[0];
	cu_where w = a.w;
	char err[512];
	if ((a.env_file && bg_envfile_load(a.env_file, err, sizeof(err)) < 0) ||
	    bg_location_parse(url, &d.loc, err, sizeof(err)) < 0) {
		bg_text_line(stderr, "barge: %s", err);
		return EXIT_USAGE;
	}
	if (d.loc.kind == BG_LOC_LOCAL)
		return cli_usage("doctor", "doctor checks s3:// and r2:// locations, not the local "
				 "path %s", url);
	bg_text_line(stdout, "barge doctor %s", url);
	if (cu_resolve(url, &w, &d.loc, &d.ep, err, sizeof(err)) < 0) {
		step(&d, V_FAIL, "credentials", "set the variables the message names (see 'barge copy "
		     "--help'), or pass --profile or --env-file", "%s", err);
		printf("result: 1 check failed; the others need an endpoint and keys\n");
		return EXIT_FAILED;
	}
	cu_folder(d.loc.prefix, d.folder, sizeof(d.folder));
	signal(SIGPIPE, SIG_IGN);
	check_credentials(&d, w.profile);
	split_host(&d);
	if (check_path(&d) && !d.fails)
		check_data(&d, a.read_only);
	else
		printf("SKIP  %-11s not tried after the failure above\n",
		       a.read_only ? "read" : "read, write, multipart");
	if (d.http_ok) {
		bg_s3_req_free(&d.req);
		bg_http_free(&d.http);
	}
	bg_endpoint_wipe(&d.ep);
	if (d.fails)
		printf("result: %u check%s failed\n", d.fails, d.fails == 1 ? "" : "s");
	else
		printf("result: all checks passed%s\n", d.warns ? " (with warnings)" : "");
	return d.fails ? EXIT_FAILED : 0;
}
