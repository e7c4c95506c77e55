/* xml.h - parsers for the S3 XML responses barge reads (expat). Each takes a
 * complete body (bodies are capped by the HTTP layer) and never allocates
 * past the call. */
#ifndef BG_XML_H
#define BG_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3limits.h" /* BG_KEY_MAX, BG_ETAG_MAX, BG_TOKEN_MAX, BG_DATE_MAX */

typedef struct bg_xml_error {
	char code[64];     /* "NoSuchBucket", "" if none */
	char message[512];
} bg_xml_error;

/* One <Contents> of ListObjectsV2. Pointers valid during the callback only. */
typedef struct bg_xml_object {
	const char *key; /* decoded when the response says EncodingType=url */
	size_t key_len;
	uint64_t size;
	const char *etag;          /* quotes stripped */
	const char *last_modified; /* as sent, ISO 8601 */
} bg_xml_object;

/* Return non-zero from the callback to stop parsing (the parse then fails
 * with that value). */
typedef int (*bg_xml_object_cb)(void *ctx, const bg_xml_object *o);

typedef struct bg_xml_list_result {
	bool is_truncated;
	char next_token[BG_TOKEN_MAX]; /* NextContinuationToken, "" if none */
	unsigned key_count;            /* <Contents> seen */
} bg_xml_list_result;

/* Returns 0, or -1 with errmsg set (malformed XML, an <Error> body, a key
 * longer than BG_KEY_MAX, a bad url escape, IsTruncated true without a
 * token, missing Key or Size), or the callback's non-zero value. */
int bg_xml_parse_list(const char *body, size_t len, bg_xml_object_cb cb, void *ctx,
		      bg_xml_list_result *out, char *errmsg, size_t errcap);

/* One <CommonPrefixes><Prefix> of a ListObjectsV2 page asked with a
 * delimiter: the prefix up to and including the delimiter, decoded like
 * the keys.  Valid during the callback only.  Non-zero stops the parse. */
typedef int (*bg_xml_prefix_cb)(void *ctx, const char *prefix, size_t len);

/* ListObjectsV2 page, its <CommonPrefixes> only: the same checks as
 * bg_xml_parse_list (the whole page first, EncodingType wherever it
 * stands, a truncated page without a token refused), then cb once per
 * prefix in document order; *count (may be NULL) gets the number
 * delivered.  <Contents> are ignored: call bg_xml_parse_list on the same
 * body for them.  Returns 0, -1 with errmsg set, or cb's value. */
int bg_xml_parse_list_prefixes(const char *body, size_t len, bg_xml_prefix_cb cb, void *ctx,
			       unsigned *count, char *errmsg, size_t errcap);

/* <Error><Code>..</Code><Message>..</Message></Error>: 0 when an Error
 * element was found (fields filled, possibly empty), -1 otherwise. */
int bg_xml_parse_error(const char *body, size_t len, bg_xml_error *out);

/* InitiateMultipartUploadResult: copies UploadId. 0 or -1. */
int bg_xml_parse_initiate(const char *body, size_t len, char *upload_id, size_t cap);

/* CompleteMultipartUploadResult (a 200 may still carry an <Error>):
 * 0 and etag filled (quotes stripped) on success,
 * 1 and err filled when the body is an <Error>,
 * -1 when the body is neither (empty, malformed, no ETag). */
int bg_xml_parse_complete(const char *body, size_t len, char *etag, size_t etag_cap,
			  bg_xml_error *err);

/* One <Part> of ListParts. */
typedef struct bg_xml_part {
	unsigned number;
	uint64_t size;
	const char *etag; /* quotes stripped */
} bg_xml_part;
typedef int (*bg_xml_part_cb)(void *ctx, const bg_xml_part *p);

/* ListPartsResult: calls cb per part; sets *truncated and
 * *next_marker (NextPartNumberMarker, 0 if absent). 0, -1, or cb's value. */
int bg_xml_parse_list_parts(const char *body, size_t len, bg_xml_part_cb cb, void *ctx,
			    bool *truncated, unsigned *next_marker);

/* One <Upload> of ListMultipartUploads. Pointers valid during the
 * callback only. */
typedef struct bg_xml_upload {
	const char *key; /* decoded when the response says EncodingType=url */
	size_t key_len;
	const char *upload_id;
} bg_xml_upload;
typedef int (*bg_xml_upload_cb)(void *ctx, const bg_xml_upload *u);

/* ListMultipartUploadsResult: calls cb per <Upload> once the whole page
 * checked out; sets *truncated, next_key (NextKeyMarker, decoded like the
 * keys) and next_upload (NextUploadIdMarker), "" when absent or when the
 * page is rejected.  Keys are decoded when <EncodingType>url</EncodingType>.
 * Returns 0, -1 (malformed, an <Error> body, a key too long, an <Upload>
 * without Key or UploadId, IsTruncated true without NextKeyMarker, a
 * marker longer than its buffer), or cb's value. */
int bg_xml_parse_list_uploads(const char *body, size_t len, bg_xml_upload_cb cb, void *ctx,
			      bool *truncated, char *next_key, size_t next_key_cap,
			      char *next_upload, size_t next_upload_cap);

/* Escapes &, <, >, ", ' for element text. Returns length or -1 if cap is
 * too small. */
int bg_xml_escape(const char *in, size_t n, char *out, size_t cap);

#endif
