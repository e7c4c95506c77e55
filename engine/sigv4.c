/* sigv4.c - AWS Signature Version 4 (header form) and S3 URI encoding.
 *
 * Nothing here allocates: the canonical request is built in a bounded
 * stack buffer, headers are sorted through an index array, and the query
 * builder compares parameters by their encoded form without materialising
 * it.  Hashing and HMAC come from OpenSSL's libcrypto. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* gmtime_r */
#endif

#include "sigv4.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SIG_MAX_PARAMS 32
#define SIG_CANON_MAX 16384 /* 1024-byte keys as %XX, query and headers */
#define SIG_SECRET_MAX 256
#define SIG_ALGO "AWS4-HMAC-SHA256"

const char BG_EMPTY_SHA256[BG_SHA256_HEX] =
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static const char hex_upper[] = "0123456789ABCDEF";

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

static unsigned char ascii_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

void bg_amz_date(time_t t, char out[BG_AMZ_DATE])
{
	struct tm tm;

	/* gmtime_r only fails for years beyond int; sign a date S3 rejects. */
	if (!gmtime_r(&t, &tm) ||
	    strftime(out, BG_AMZ_DATE, "%Y%m%dT%H%M%SZ", &tm) != BG_AMZ_DATE - 1)
		memcpy(out, "00000000T000000Z", BG_AMZ_DATE);
}

void bg_sha256_hex(const void *p, size_t n, char out[BG_SHA256_HEX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (!EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) || len != 32) {
		out[0] = '\0'; /* never a valid hash: the request fails loudly */
		return;
	}
	bg_hex(md, 32, out);
}

/* Bounded string builder: remembers overflow instead of failing on each
 * call and keeps p NUL-terminated (cap must be at least 1). */
struct sb {
	char *p;
	size_t len, cap;
	bool over;
};

static void sb_put(struct sb *b, const char *s, size_t n)
{
	if (b->over || n >= b->cap - b->len) {
		b->over = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sb *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static void sb_chr(struct sb *b, char c)
{
	sb_put(b, &c, 1);
}

static void sb_lower(struct sb *b, const char *s)
{
	for (; *s; s++)
		sb_chr(b, (char)ascii_lower((unsigned char)*s));
}

/* Length written into the caller's buffer, or -1 if it did not fit. */
static int sb_result(const struct sb *b)
{
	return b->over || b->len > INT_MAX ? -1 : (int)b->len;
}

static void sb_enc(struct sb *b, const char *in, size_t n, bool keep_slash)
{
	for (size_t i = 0; i < n && !b->over; i++) {
		unsigned char c = (unsigned char)in[i];
		char e[3] = { '%', hex_upper[c >> 4], hex_upper[c & 15] };

		if (is_unreserved(c) || (keep_slash && c == '/'))
			sb_chr(b, (char)c);
		else
			sb_put(b, e, sizeof(e));
	}
}

int bg_uri_encode(const char *in, size_t n, bool keep_slash, char *out, size_t cap)
{
	struct sb b = { out, 0, cap, false };

	if (!in || !out || cap == 0)
		return -1;
	out[0] = '\0';
	sb_enc(&b, in, n, keep_slash);
	return sb_result(&b);
}

/* Next byte of the URI-encoded form (slash encoded) of *s, k being the
 * position inside a %XX triple; -1 at the end.  Lets parameters be ordered
 * by their encoded bytes without encoding them into a buffer first. */
static int enc_next(const unsigned char **s, int *k)
{
	unsigned char c = **s;
	int r;

	if (!c)
		return -1;
	if (is_unreserved(c)) {
		(*s)++;
		return c;
	}
	r = *k == 0 ? '%' : hex_upper[*k == 1 ? c >> 4 : c & 15];
	if (++*k == 3) {
		*k = 0;
		(*s)++;
	}
	return r;
}

static int enc_cmp(const char *a, const char *b)
{
	const unsigned char *pa = (const unsigned char *)a, *pb = (const unsigned char *)b;
	int ka = 0, kb = 0;

	for (;;) {
		int ca = enc_next(&pa, &ka), cb = enc_next(&pb, &kb);

		if (ca != cb)
			return ca < cb ? -1 : 1; /* the end (-1) sorts first */
		if (ca < 0)
			return 0;
	}
}

/* Stable insertion sort of an index array; n is at most 64. */
static void isort(size_t *idx, size_t n, int (*cmp)(const void *, size_t, size_t),
		  const void *ctx)
{
	for (size_t i = 1; i < n; i++) {
		size_t v = idx[i], j = i;

		for (; j > 0 && cmp(ctx, idx[j - 1], v) > 0; j--)
			idx[j] = idx[j - 1];
		idx[j] = v;
	}
}

static int param_cmp(const void *ctx, size_t a, size_t b)
{
	const bg_query_param *p = ctx;
	int r = enc_cmp(p[a].name, p[b].name);

	return r ? r : enc_cmp(p[a].value ? p[a].value : "", p[b].value ? p[b].value : "");
}

int bg_query_build(const bg_query_param *params, size_t n, char *out, size_t cap)
{
	struct sb b = { out, 0, cap, false };
	size_t idx[SIG_MAX_PARAMS];

	if (!out || cap == 0 || n > SIG_MAX_PARAMS || (n && !params))
		return -1;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (!params[i].name)
			return -1;
		idx[i] = i;
	}
	isort(idx, n, param_cmp, params);
	for (size_t i = 0; i < n; i++) {
		const bg_query_param *p = &params[idx[i]];
		const char *v = p->value ? p->value : "";

		if (i)
			sb_chr(&b, '&');
		sb_enc(&b, p->name, strlen(p->name), false);
		sb_chr(&b, '=');
		sb_enc(&b, v, strlen(v), false);
	}
	return sb_result(&b);
}

/* Appends a header value trimmed, with inner runs of blanks folded. */
static void sb_trimall(struct sb *b, const char *v)
{
	bool blank = false, started = false;

	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			blank = started;
			continue;
		}
		if (blank)
			sb_chr(b, ' ');
		blank = false;
		started = true;
		sb_chr(b, *v);
	}
}

static int name_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char ca = ascii_lower((unsigned char)*a);
		unsigned char cb = ascii_lower((unsigned char)*b);

		if (ca != cb || !ca)
			return (int)ca - (int)cb;
	}
}

/* NULL, empty, or able to break the line structure of what we sign. */
static bool bad_field(const char *s)
{
	return !s || !*s || strpbrk(s, "\r\n");
}

static bool bad_header_name(const char *s)
{
	if (!s || !*s)
		return true;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f || *s == ':')
			return true;
	return false;
}

static bool bad_amz_date(const char *d)
{
	return !d || strlen(d) != BG_AMZ_DATE - 1 || strspn(d, "0123456789") != 8 ||
	       d[8] != 'T' || strspn(d + 9, "0123456789") != 6 || d[15] != 'Z';
}

static int check_input(const bg_sigv4_creds *c, const bg_sigv4_request *r)
{
	if (!c || !r || bad_field(c->access_key) || bad_field(c->secret_key) ||
	    bad_field(c->region) || bad_field(c->service) ||
	    strlen(c->secret_key) > SIG_SECRET_MAX)
		return -EINVAL;
	if (bad_field(r->method) || bad_field(r->canonical_uri) ||
	    !r->canonical_query || strpbrk(r->canonical_query, "\r\n") ||
	    bad_field(r->payload_hash) || bad_amz_date(r->amz_date))
		return -EINVAL;
	if (r->nheaders == 0 || r->nheaders > BG_SIGV4_MAX_HEADERS || !r->headers)
		return -EINVAL;
	for (size_t i = 0; i < r->nheaders; i++) {
		const bg_header *h = &r->headers[i];

		if (bad_header_name(h->name) || !h->value ||
		    strpbrk(h->value, "\r\n"))
			return -EINVAL;
		if (!name_cmp(h->name, "x-amz-date")) {
			char d[BG_AMZ_DATE + 1];
			struct sb t = { d, 0, sizeof(d), false };

			d[0] = '\0';
			sb_trimall(&t, h->value);
			if (strcmp(d, r->amz_date) != 0)
				return -EINVAL;
		}
	}
	return 0;
}

static int hmac256(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int len = 0;

	if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg,
		  strlen(msg), out, &len) || len != 32)
		return -EIO;
	return 0;
}

/* kSigning is an HMAC chain from "AWS4"+secret over the date, region,
 * service and "aws4_request": four HMACs that depend on nothing in the
 * request.  Each thread keeps the last few keys it derived, so a request
 * costs one HMAC, over its string to sign, instead of five. */
#define SIG_KEYS 4
#define SIG_SCOPE_MAX 64 /* region or service longer than this: not kept */

struct sig_key {
	bool used;
	char date[9], region[SIG_SCOPE_MAX + 1], service[SIG_SCOPE_MAX + 1];
	char secret[SIG_SECRET_MAX + 1];
	unsigned char key[32];
};

static _Thread_local struct sig_key sig_keys[SIG_KEYS];
static _Thread_local unsigned sig_keys_next;

static int derive_key(const bg_sigv4_creds *c, const char *date, unsigned char out[32])
{
	char ksecret[4 + SIG_SECRET_MAX + 1];
	const char *msg[] = { c->region, c->service, "aws4_request" };
	unsigned char b[32];
	int err = -EINVAL;

	if (bg_snprintf(ksecret, sizeof(ksecret), "AWS4%s", c->secret_key) >= 0)
		err = hmac256(ksecret, strlen(ksecret), date, out);
	for (size_t i = 0; i < sizeof(msg) / sizeof(msg[0]) && !err; i++) {
		err = hmac256(out, 32, msg[i], b);
		memcpy(out, b, sizeof(b));
	}
	OPENSSL_cleanse(ksecret, sizeof(ksecret));
	OPENSSL_cleanse(b, sizeof(b));
	return err;
}

/* The signing key for c on date, from this thread's keys or derived. */
static int signing_key(const bg_sigv4_creds *c, const char *date, unsigned char out[32])
{
	bool keep = strlen(c->region) <= SIG_SCOPE_MAX && strlen(c->service) <= SIG_SCOPE_MAX;

	for (unsigned i = 0; keep && i < SIG_KEYS; i++) {
		const struct sig_key *k = &sig_keys[i];

		if (k->used && !strcmp(k->date, date) && !strcmp(k->region, c->region) &&
		    !strcmp(k->service, c->service) && !strcmp(k->secret, c->secret_key)) {
			memcpy(out, k->key, 32);
			return 0;
		}
	}
	int err = derive_key(c, date, out);
	if (err || !keep)
		return err;
	struct sig_key *k = &sig_keys[sig_keys_next++ % SIG_KEYS];
	k->used = true;
	memcpy(k->date, date, sizeof(k->date));
	bg_strlcpy(k->region, c->region, sizeof(k->region));
	bg_strlcpy(k->service, c->service, sizeof(k->service));
	bg_strlcpy(k->secret, c->secret_key, sizeof(k->secret));
	memcpy(k->key, out, 32);
	return 0;
}

/* The signature is HMAC(kSigning, string to sign). */
static int sign(const bg_sigv4_creds *c, const char *amz_date, const char *sts,
		char sig[BG_SHA256_HEX])
{
	char date[9];
	unsigned char key[32], mac[32];

	bg_snprintf(date, sizeof(date), "%.8s", amz_date);
	int err = signing_key(c, date, key);
	if (!err)
		err = hmac256(key, sizeof(key), sts, mac);
	if (!err)
		bg_hex(mac, sizeof(mac), sig);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(mac, sizeof(mac));
	return err;
}

static int hdr_cmp(const void *ctx, size_t a, size_t b)
{
	const bg_header *h = ctx;

	return name_cmp(h[a].name, h[b].name);
}

/* Any -EIO comes from libcrypto failing, which should never happen. */
int bg_sigv4_authorization_debug(const bg_sigv4_creds *c, const bg_sigv4_request *r,
				 char *out, size_t cap, char *canon, size_t canon_cap,
				 char *sts, size_t sts_cap)
{
	char cbuf[SIG_CANON_MAX], scope[256], sts_buf[512];
	char hash[BG_SHA256_HEX], sig[BG_SHA256_HEX];
	struct sb cr = { cbuf, 0, sizeof(cbuf), false };
	size_t idx[BG_SIGV4_MAX_HEADERS], signed_at, signed_len;
	int err = check_input(c, r);

	if (err)
		return err;
	if (!out || cap == 0)
		return -ENOSPC;
	/* Stable, so duplicate names keep their values in the given order,
	 * the order SigV4 joins them in. */
	for (size_t i = 0; i < r->nheaders; i++)
		idx[i] = i;
	isort(idx, r->nheaders, hdr_cmp, r->headers);

	err = bg_snprintf(cbuf, sizeof(cbuf), "%s\n%s\n%s", r->method, r->canonical_uri,
			  r->canonical_query);
	if (err < 0)
		return -ENOSPC;
	cr.len = (size_t)err;
	for (size_t i = 0; i < r->nheaders; i++) {
		const bg_header *h = &r->headers[idx[i]];

		if (i > 0 && !hdr_cmp(r->headers, idx[i - 1], idx[i])) {
			sb_chr(&cr, ',');
		} else {
			sb_chr(&cr, '\n');
			sb_lower(&cr, h->name);
			sb_chr(&cr, ':');
		}
		sb_trimall(&cr, h->value);
	}
	sb_put(&cr, "\n\n", 2);
	signed_at = cr.len;
	for (size_t i = 0; i < r->nheaders; i++) {
		if (i > 0 && !hdr_cmp(r->headers, idx[i - 1], idx[i]))
			continue;
		if (i > 0)
			sb_chr(&cr, ';');
		sb_lower(&cr, r->headers[idx[i]].name);
	}
	signed_len = cr.len - signed_at;
	sb_chr(&cr, '\n');
	sb_str(&cr, r->payload_hash);
	if (cr.over)
		return -ENOSPC;

	bg_sha256_hex(cbuf, cr.len, hash);
	if (!hash[0])
		return -EIO;
	if (bg_snprintf(scope, sizeof(scope), "%.8s/%s/%s/aws4_request",
			r->amz_date, c->region, c->service) < 0 ||
	    bg_snprintf(sts_buf, sizeof(sts_buf), SIG_ALGO "\n%s\n%s\n%s",
			r->amz_date, scope, hash) < 0)
		return -EINVAL;
	err = sign(c, r->amz_date, sts_buf, sig);
	if (err)
		return err;
	if (bg_snprintf(out, cap, SIG_ALGO " Credential=%s/%s, SignedHeaders=%.*s, Signature=%s",
			c->access_key, scope, (int)signed_len, cbuf + signed_at, sig) < 0)
		err = -ENOSPC;
	if (canon && bg_strlcpy(canon, cbuf, canon_cap) < 0)
		err = -ENOSPC;
	if (sts && bg_strlcpy(sts, sts_buf, sts_cap) < 0)
		err = -ENOSPC;
	return err;
}

int bg_sigv4_authorization(const bg_sigv4_creds *c, const bg_sigv4_request *r,
			   char *out, size_t cap)
{
	return bg_sigv4_authorization_debug(c, r, out, cap, NULL, 0, NULL, 0);
}
