/* sigv4.h - AWS Signature Version 4 with OpenSSL, and the URI encoding
 * S3 wants.  barge builds canonical URIs and queries itself (libcurl 7.88's
 * CURLOPT_AWS_SIGV4 mis-signs unsorted queries and bare "?uploads"). */
#ifndef BG_SIGV4_H
#define BG_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define BG_SHA256_HEX 65 /* 64 hex digits + NUL */
#define BG_AMZ_DATE 17   /* "20150830T123600Z" + NUL */
/* The most headers one request may sign (s3.h sizes its requests by it). */
#define BG_SIGV4_MAX_HEADERS 160

/* Hex SHA-256 of the empty string. */
extern const char BG_EMPTY_SHA256[BG_SHA256_HEX];
#define BG_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

typedef struct bg_header {
	const char *name;  /* any case; the signer lowercases */
	const char *value; /* the signer trims and folds inner runs of spaces */
} bg_header;

typedef struct bg_sigv4_creds {
	const char *access_key;
	const char *secret_key;
	const char *region;  /* "us-east-1", "auto" */
	const char *service; /* "s3" */
} bg_sigv4_creds;

typedef struct bg_sigv4_request {
	const char *method;          /* "GET", "PUT", ... */
	const char *canonical_uri;   /* already URI-encoded path: "/bucket/a%20b" */
	const char *canonical_query; /* already encoded and sorted, "" if none */
	const bg_header *headers;    /* every header to sign, host and x-amz-date included */
	size_t nheaders;
	const char *payload_hash;    /* hex SHA-256 or BG_UNSIGNED_PAYLOAD */
	const char *amz_date;        /* "YYYYMMDDTHHMMSSZ", must match the x-amz-date header */
} bg_sigv4_request;

/* Writes the value of the Authorization header into out.
 * Returns 0, -EINVAL for bad input (missing field, more than 64 headers),
 * -ENOSPC if out is too small. */
int bg_sigv4_authorization(const bg_sigv4_creds *c, const bg_sigv4_request *r,
			   char *out, size_t cap);

/* Same, but also exposes the canonical request and string to sign for tests
 * and debugging (either pointer may be NULL). */
int bg_sigv4_authorization_debug(const bg_sigv4_creds *c, const bg_sigv4_request *r,
				 char *out, size_t cap, char *canon, size_t canon_cap,
				 char *sts, size_t sts_cap);

/* Formats t (UTC) as "YYYYMMDDTHHMMSSZ". */
void bg_amz_date(time_t t, char out[BG_AMZ_DATE]);

/* Hex SHA-256 of a buffer. */
void bg_sha256_hex(const void *p, size_t n, char out[BG_SHA256_HEX]);

/* RFC 3986 encoding as SigV4 wants it: unreserved A-Z a-z 0-9 - . _ ~ kept,
 * every other byte as %XX (uppercase hex); '/' kept when keep_slash.
 * Returns the length written (excluding NUL) or -1 if cap is too small. */
int bg_uri_encode(const char *in, size_t n, bool keep_slash, char *out, size_t cap);

/* (Decoding is bg_url_decode, in codec.h.) */

/* One query parameter, unencoded.  value NULL means "name=" (S3 wants
 * "?uploads=" rather than "?uploads" in the canonical form). */
typedef struct bg_query_param {
	const char *name;
	const char *value;
} bg_query_param;

/* Encodes each name and value, sorts by encoded name (then value), joins
 * with '&' as "n=v".  The same string is both the canonical query and the
 * query sent on the wire.  Returns length or -1 if cap is too small or
 * more than 32 params. */
int bg_query_build(const bg_query_param *params, size_t n, char *out, size_t cap);

#endif
