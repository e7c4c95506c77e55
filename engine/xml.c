/* xml.c - S3 response parsers on top of expat (see xml.h).
 *
 * One small driver (struct xp) runs expat over a whole body and keeps the
 * path of open elements by local name, so namespaced and unprefixed
 * documents look the same.  Text of the few leaf elements we care about is
 * accumulated into a fixed buffer across expat's character-data chunks; a
 * field that does not fit fails the parse instead of being truncated (only
 * the human-readable <Error> fields may be shortened).
 *
 * Bodies come from the network, so any DOCTYPE aborts the parse: without a
 * DTD there are no entity declarations, hence no external entities and no
 * entity expansion attacks.  No external entity handler is ever installed.
 *
 * Listings (ListObjectsV2, ListParts) are parsed twice.  The first pass
 * checks the whole page and learns EncodingType, which S3-compatible
 * servers may place before or after the <Contents> elements; the second
 * pass calls the callback.  So the callback never sees an object from a
 * page that turns out to be malformed, truncated, an <Error>, or otherwise
 * unusable, and the caller can simply retry such a page.  A second expat
 * pass over a body of at most a few hundred kilobytes costs far less than
 * the request that fetched it.
 */
#include "xml.h"

#include <expat.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* Namespace separator for XML_ParserCreateNS: U+0001 cannot occur in an
 * XML 1.0 document, so it never clashes with a namespace URI or a name. */
#define XP_NS_SEP '\x01'
#define XP_DEPTH 16
/* Largest captured text: a url-encoded key may take 3 bytes per byte. */
#define XP_TEXT_MAX (3 * BG_KEY_MAX)
#define XP_SMALL 64 /* numbers, booleans, EncodingType */

/* Elements we look at, by local name. */
#define XP_ELEMENTS                                                     \
	X(ERROR, "Error") X(CODE, "Code") X(MESSAGE, "Message")          \
	X(LIST_BUCKET, "ListBucketResult") X(CONTENTS, "Contents")       \
	X(KEY, "Key") X(SIZE, "Size") X(ETAG, "ETag")                    \
	X(LAST_MODIFIED, "LastModified") X(IS_TRUNCATED, "IsTruncated")  \
	X(NEXT_TOKEN, "NextContinuationToken")                           \
	X(ENCODING_TYPE, "EncodingType")                                 \
	X(INITIATE, "InitiateMultipartUploadResult")                     \
	X(UPLOAD_ID, "UploadId")                                         \
	X(COMPLETE, "CompleteMultipartUploadResult")                     \
	X(LIST_PARTS, "ListPartsResult") X(PART, "Part")                 \
	X(LIST_PARTS_MOTO, "ListPartsResponse") /* moto's root for ListParts */ \
	X(PART_NUMBER, "PartNumber")                                     \
	X(NEXT_PART_MARKER, "NextPartNumberMarker")                      \
	X(LIST_UPLOADS, "ListMultipartUploadsResult") X(UPLOAD, "Upload") \
	X(NEXT_KEY_MARKER, "NextKeyMarker")                              \
	X(NEXT_UPLOAD_MARKER, "NextUploadIdMarker")                      \
	X(COMMON_PREFIXES, "CommonPrefixes") X(PREFIX, "Prefix")

#define X(id, name) EL_##id,
enum el { EL_OTHER, XP_ELEMENTS EL_COUNT };
#undef X
#define X(id, name) [EL_##id] = name,
static const char *const el_names[EL_COUNT] = { [EL_OTHER] = "?", XP_ELEMENTS };
#undef X

/* Name of the innermost open element (only used at shallow depths). */
#define XP_CUR(x) el_names[(x)->path[(x)->depth - 1]]

struct xp;
/* Hooks see x->depth counting the element itself (the root is depth 1). */
typedef void (*xp_start_fn)(struct xp *x, enum el id);
typedef void (*xp_end_fn)(struct xp *x, enum el id, char *text, size_t len);

struct xp {
	XML_Parser p;
	unsigned depth;
	enum el path[XP_DEPTH];
	enum el want_root;
	xp_start_fn start;
	xp_end_fn end;
	void *ctx;
	bool is_error; /* the root element is <Error> */
	bg_xml_error err;
	int rc; /* 0, -1 with msg set, or a callback's value */
	char msg[BG_MSG_MAX];
	/* text capture of the current leaf element */
	bool capturing, trunc_ok, full;
	size_t tlen, tcap;
	char text[XP_TEXT_MAX + 1];
};

static __attribute__((format(printf, 2, 3))) void xp_fail(struct xp *x, const char *fmt, ...)
{
	va_list ap;

	if (x->rc)
		return;
	va_start(ap, fmt);
	vsnprintf(x->msg, sizeof(x->msg), fmt, ap);
	va_end(ap);
	x->rc = -1;
	XML_StopParser(x->p, XML_FALSE);
}

/* Starts capturing the text of the element just opened, up to cap bytes. */
static void xp_capture(struct xp *x, size_t cap, bool trunc_ok)
{
	x->capturing = true;
	x->trunc_ok = trunc_ok;
	x->full = false;
	x->tlen = 0;
	x->tcap = cap < XP_TEXT_MAX ? cap : XP_TEXT_MAX;
	x->text[0] = '\0';
}

static enum el xp_parent(const struct xp *x)
{
	if (x->depth < 2 || x->depth - 2 >= XP_DEPTH)
		return EL_OTHER;
	return x->path[x->depth - 2];
}

static enum el el_lookup(const char *name)
{
	const char *sep = strrchr(name, XP_NS_SEP);

	if (sep)
		name = sep + 1;
	for (int i = 1; i < EL_COUNT; i++)
		if (strcmp(name, el_names[i]) == 0)
			return (enum el)i;
	return EL_OTHER;
}

static void XMLCALL xp_on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct xp *x = ud;
	enum el id = el_lookup(name);

	(void)atts;
	if (x->rc)
		return;
	if (x->capturing) {
		xp_fail(x, "unexpected element inside <%s>", XP_CUR(x));
		return;
	}
	if (x->depth < XP_DEPTH)
		x->path[x->depth] = id;
	x->depth++;
	if (x->depth == 1) {
		if (id == EL_ERROR) {
			x->is_error = true;
		} else if (id != x->want_root &&
			   !(x->want_root == EL_LIST_PARTS && id == EL_LIST_PARTS_MOTO)) {
			const char *sep = strrchr(name, XP_NS_SEP);
			xp_fail(x, "unexpected response: <%.64s> where <%s> was expected",
				sep ? sep + 1 : name, el_names[x->want_root]);
			return;
		}
	}
	if (x->is_error) {
		if (x->depth == 2 && id == EL_CODE)
			xp_capture(x, sizeof(x->err.code) - 1, true);
		else if (x->depth == 2 && id == EL_MESSAGE)
			xp_capture(x, sizeof(x->err.message) - 1, true);
		return;
	}
	if (x->start)
		x->start(x, id);
}

static void XMLCALL xp_on_end(void *ud, const XML_Char *name)
{
	struct xp *x = ud;
	enum el id = x->depth <= XP_DEPTH ? x->path[x->depth - 1] : EL_OTHER;
	bool cap = x->capturing;

	(void)name;
	if (x->rc)
		return;
	x->capturing = false;
	if (x->is_error) {
		if (cap && id == EL_CODE)
			memcpy(x->err.code, x->text, x->tlen + 1);
		else if (cap && id == EL_MESSAGE)
			memcpy(x->err.message, x->text, x->tlen + 1);
	} else if (x->end) {
		x->end(x, id, cap ? x->text : NULL, cap ? x->tlen : 0);
	}
	x->depth--;
}

static void XMLCALL xp_on_text(void *ud, const XML_Char *s, int len)
{
	struct xp *x = ud;
	size_t n = (size_t)len;

	if (x->rc || !x->capturing || x->full || len <= 0)
		return;
	if (n > x->tcap - x->tlen) {
		if (!x->trunc_ok) {
			xp_fail(x, "<%s> longer than %zu bytes", XP_CUR(x),
				x->tcap);
			return;
		}
		/* Shorten, but never in the middle of a UTF-8 sequence. */
		n = x->tcap - x->tlen;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
		x->full = true;
	}
	memcpy(x->text + x->tlen, s, n);
	x->tlen += n;
	x->text[x->tlen] = '\0';
}

static void XMLCALL xp_on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
				  const XML_Char *pubid, int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	xp_fail(ud, "DOCTYPE not allowed in a response");
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void xp_init(struct xp *x, enum el want_root, xp_start_fn start, xp_end_fn end, void *ctx)
{
	memset(x, 0, sizeof(*x));
	x->want_root = want_root;
	x->start = start;
	x->end = end;
	x->ctx = ctx;
}

/* Parses the whole body. Returns x->rc: 0, -1 (x->msg set) or a callback's
 * value. */
static int xp_run(struct xp *x, const char *body, size_t len)
{
	/* S3 may send whitespace while it works on a CompleteMultipartUpload
	 * (keep-alive) before the document; expat would reject it ahead of an
	 * XML declaration. */
	while (len && is_ws(*body)) {
		body++;
		len--;
	}
	if (len > INT_MAX) {
		snprintf(x->msg, sizeof(x->msg), "response body too large (%zu bytes)", len);
		return x->rc = -1;
	}
	x->p = XML_ParserCreateNS(NULL, XP_NS_SEP);
	if (!x->p) {
		snprintf(x->msg, sizeof(x->msg), "out of memory creating the XML parser");
		return x->rc = -1;
	}
	XML_SetUserData(x->p, x);
	XML_SetElementHandler(x->p, xp_on_start, xp_on_end);
	XML_SetCharacterDataHandler(x->p, xp_on_text);
	XML_SetStartDoctypeDeclHandler(x->p, xp_on_doctype);
	XML_SetParamEntityParsing(x->p, XML_PARAM_ENTITY_PARSING_NEVER);
	if (XML_Parse(x->p, body ? body : "", (int)len, XML_TRUE) != XML_STATUS_OK && !x->rc) {
		snprintf(x->msg, sizeof(x->msg), "malformed XML at line %lu: %s",
			 (unsigned long)XML_GetCurrentLineNumber(x->p),
			 XML_ErrorString(XML_GetErrorCode(x->p)));
		x->rc = -1;
	}
	XML_ParserFree(x->p);
	x->p = NULL;
	return x->rc;
}

/* ---- small field helpers ---- */

static char *trim(char *s, size_t *len)
{
	size_t n = *len;

	while (n && is_ws(*s)) {
		s++;
		n--;
	}
	while (n && is_ws(s[n - 1]))
		n--;
	s[n] = '\0';
	*len = n;
	return s;
}

/* Trims and removes one pair of surrounding double quotes (S3 sends the
 * ETag as "hex" or &quot;hex&quot;, which expat hands over the same). */
static char *strip_etag(char *s, size_t *len)
{
	s = trim(s, len);
	if (*len >= 2 && s[0] == '"' && s[*len - 1] == '"') {
		s[*len - 1] = '\0';
		s++;
		*len -= 2;
	}
	return s;
}

/* Copies a field that must fit; -1 if it does not. */
static int take(struct xp *x, char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap) {
		xp_fail(x, "<%s> longer than %zu bytes", XP_CUR(x), cap - 1);
		return -1;
	}
	memcpy(dst, s, n + 1);
	return 0;
}

static int take_u64(struct xp *x, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (bg_parse_u64(s, min, max, out) < 0) {
		xp_fail(x, "bad <%s> value \"%.40s\"", XP_CUR(x), s);
		return -1;
	}
	return 0;
}

static int take_bool(struct xp *x, const char *s, bool *out)
{
	*out = strcmp(s, "true") == 0;
	if (*out || strcmp(s, "false") == 0)
		return 0;
	xp_fail(x, "bad <%s> value \"%.40s\"", XP_CUR(x), s);
	return -1;
}

/* ---- listings: ListObjectsV2 (<Contents>, or <CommonPrefixes>),
 * ListParts (<Part>) and ListMultipartUploads (<Upload>) ---- */

/* Room for "S3 error <Code>: <Message>" or any xp message. */
#define PAGE_MSG_MAX (BG_MSG_MAX + sizeof(bg_xml_error))

struct page {
	enum el item;  /* EL_CONTENTS, EL_COMMON_PREFIXES, EL_PART or EL_UPLOAD */
	bool deliver;  /* second pass: call the callback */
	bool url;      /* second pass: keys are url-encoded */
	bg_xml_object_cb ocb;
	bg_xml_part_cb pcb;
	bg_xml_upload_cb ucb;
	bg_xml_prefix_cb xcb;
	void *cbctx;
	bool truncated;
	uint64_t marker; /* NextPartNumberMarker */
	unsigned count;
	char token[BG_TOKEN_MAX];
	char enc[XP_SMALL];
	/* first pass: first key problem under each reading of the keys */
	char plain_err[160];
	char url_err[160];
	/* the current item */
	bool has_key, has_size, has_number;
	uint64_t size, number;
	size_t key_len;
	char key[BG_KEY_MAX + 1];
	char etag[BG_ETAG_MAX + 1];
	char date[BG_DATE_MAX + 1];
	/* ListMultipartUploads: the current <Upload>'s UploadId, the
	 * markers (NextKeyMarker as sent, then decoded like keys) */
	char upload_id[BG_TOKEN_MAX];
	char next_upload[BG_TOKEN_MAX];
	char next_key_raw[XP_TEXT_MAX + 1];
	char next_key[BG_KEY_MAX + 1];
};

/* Reads a key as sent (url == false) or url-decoded; 0, or -1 with why.
 *
 * Values S3 url-encoded because the request said encoding-type=url are
 * decoded with bg_url_decode, '+' as a space.  S3 encodes these
 * form-style: a space is written as '+', so a literal '+' in a key must
 * (and does) arrive as %2B.  This matches the reference SDK: botocore
 * decodes Key/Prefix/Delimiter/StartAfter of ListObjectsV2 with urllib's
 * unquote_plus (botocore.compat.unquote_str), and boto switched to
 * unquote_plus after keys with spaces went missing (boto PR #2654).  It is
 * unambiguous, since a raw '+' never stands for itself in this encoding.
 * %00 is refused: no S3 key holds a NUL. */
static int key_take(struct page *pg, const char *s, size_t n, bool url, char *why, size_t cap)
{
	int r;

	if (!url) {
		if (n > BG_KEY_MAX) {
			snprintf(why, cap, "key longer than %d bytes", BG_KEY_MAX);
			return -1;
		}
		memcpy(pg->key, s, n + 1);
		pg->key_len = n;
		return 0;
	}
	r = bg_url_decode(s, n, true, pg->key, sizeof(pg->key));
	if (r == BG_URL_LONG)
		snprintf(why, cap, "decoded key longer than %d bytes", BG_KEY_MAX);
	else if (r < 0)
		snprintf(why, cap, "bad url escape in key \"%.64s\"", s);
	if (r < 0)
		return -1;
	pg->key_len = (size_t)r;
	return 0;
}

static void page_key(struct xp *x, struct page *pg, const char *s, size_t n)
{
	char why[160];

	if (pg->deliver) {
		if (key_take(pg, s, n, pg->url, why, sizeof(why)) < 0)
			xp_fail(x, "%s", why);
	} else {
		/* EncodingType may still be ahead: check both readings. */
		if (!pg->plain_err[0])
			key_take(pg, s, n, false, pg->plain_err, sizeof(pg->plain_err));
		if (!pg->url_err[0])
			key_take(pg, s, n, true, pg->url_err, sizeof(pg->url_err));
	}
	pg->has_key = n > 0;
}

static void page_start(struct xp *x, enum el id)
{
	struct page *pg = x->ctx;

	if (x->depth == 2 && id == pg->item) {
		pg->has_key = pg->has_size = pg->has_number = false;
		pg->key_len = 0;
		pg->key[0] = pg->etag[0] = pg->date[0] = pg->upload_id[0] = '\0';
	} else if (x->depth == 2 && pg->item == EL_UPLOAD &&
		   (id == EL_NEXT_KEY_MARKER || id == EL_NEXT_UPLOAD_MARKER)) {
		xp_capture(x, id == EL_NEXT_KEY_MARKER ? XP_TEXT_MAX : BG_TOKEN_MAX - 1, false);
	} else if (x->depth == 2) {
		if (id == EL_IS_TRUNCATED || id == EL_ENCODING_TYPE || id == EL_NEXT_PART_MARKER)
			xp_capture(x, XP_SMALL, false);
		else if (id == EL_NEXT_TOKEN)
			xp_capture(x, BG_TOKEN_MAX - 1, false);
	} else if (x->depth == 3 && xp_parent(x) == pg->item) {
		if (id == EL_KEY || (id == EL_PREFIX && pg->item == EL_COMMON_PREFIXES))
			xp_capture(x, XP_TEXT_MAX, false);
		else if (id == EL_SIZE || id == EL_PART_NUMBER)
			xp_capture(x, XP_SMALL, false);
		else if (id == EL_ETAG || id == EL_LAST_MODIFIED)
			xp_capture(x, 2 * BG_ETAG_MAX, false);
		else if (id == EL_UPLOAD_ID && pg->item == EL_UPLOAD)
			xp_capture(x, BG_TOKEN_MAX - 1, false);
	}
}

static void page_end_item(struct xp *x, struct page *pg)
{
	int r = 0;

	pg->count++;
	if (pg->item == EL_CONTENTS) {
		bg_xml_object o = { .key = pg->key, .key_len = pg->key_len, .size = pg->size,
				    .etag = pg->etag, .last_modified = pg->date };

		if (!pg->has_key || !pg->has_size)
			xp_fail(x, "<Contents> #%u without %s", pg->count,
				pg->has_key ? "a Size" : "a Key");
		else if (pg->deliver && pg->ocb)
			r = pg->ocb(pg->cbctx, &o);
	} else if (pg->item == EL_COMMON_PREFIXES) {
		if (!pg->has_key)
			xp_fail(x, "<CommonPrefixes> #%u without a Prefix", pg->count);
		else if (pg->deliver && pg->xcb)
			r = pg->xcb(pg->cbctx, pg->key, pg->key_len);
	} else if (pg->item == EL_UPLOAD) {
		bg_xml_upload u = { .key = pg->key, .key_len = pg->key_len,
				    .upload_id = pg->upload_id };

		if (!pg->has_key || !pg->upload_id[0])
			xp_fail(x, "<Upload> #%u without %s", pg->count,
				pg->has_key ? "an UploadId" : "a Key");
		else if (pg->deliver && pg->ucb)
			r = pg->ucb(pg->cbctx, &u);
	} else {
		bg_xml_part p = { .number = (unsigned)pg->number, .size = pg->size,
				  .etag = pg->etag };

		if (!pg->has_number || !pg->has_size || !pg->etag[0])
			xp_fail(x, "<Part> #%u without PartNumber, Size or ETag", pg->count);
		else if (pg->deliver && pg->pcb)
			r = pg->pcb(pg->cbctx, &p);
	}
	if (r) { /* stop with the callback's value */
		xp_fail(x, "stopped by callback (%d)", r);
		x->rc = r;
	}
}

static void page_end(struct xp *x, enum el id, char *text, size_t len)
{
	struct page *pg = x->ctx;
	char *s;

	if (x->depth == 2 && id == pg->item) {
		page_end_item(x, pg);
	} else if (text && x->depth == 2) {
		s = trim(text, &len);
		if (id == EL_IS_TRUNCATED)
			take_bool(x, s, &pg->truncated);
		else if (id == EL_NEXT_PART_MARKER)
			take_u64(x, s, 0, 10000, &pg->marker);
		else if (id == EL_NEXT_TOKEN)
			take(x, pg->token, sizeof(pg->token), s, len);
		else if (id == EL_ENCODING_TYPE)
			take(x, pg->enc, sizeof(pg->enc), s, len);
		else if (id == EL_NEXT_KEY_MARKER) /* like keys, never trimmed */
			take(x, pg->next_key_raw, sizeof(pg->next_key_raw), text, len);
		else if (id == EL_NEXT_UPLOAD_MARKER)
			take(x, pg->next_upload, sizeof(pg->next_upload), s, len);
	} else if (text && x->depth == 3 && xp_parent(x) == pg->item) {
		if (id == EL_KEY || (id == EL_PREFIX && pg->item == EL_COMMON_PREFIXES)) {
			page_key(x, pg, text, len); /* keys are never trimmed */
		} else if (id == EL_ETAG) {
			s = strip_etag(text, &len);
			take(x, pg->etag, sizeof(pg->etag), s, len);
		} else if (id == EL_LAST_MODIFIED) {
			s = trim(text, &len);
			take(x, pg->date, sizeof(pg->date), s, len);
		} else if (id == EL_SIZE) {
			pg->has_size = !take_u64(x, trim(text, &len), 0, UINT64_MAX, &pg->size);
		} else if (id == EL_PART_NUMBER) {
			pg->has_number = !take_u64(x, trim(text, &len), 1, 10000, &pg->number);
		} else if (id == EL_UPLOAD_ID) {
			s = trim(text, &len);
			take(x, pg->upload_id, sizeof(pg->upload_id), s, len);
		}
	}
}

/* ListMultipartUploads: decodes NextKeyMarker like the keys, and refuses
 * a truncated page that does not say where to go on.  0 or -1 (msg). */
static int page_next_key(struct page *pg, char *msg, size_t cap)
{
	const char *raw = pg->next_key_raw;
	size_t n = strlen(raw);
	int r;

	if (pg->url) {
		r = bg_url_decode(raw, n, true, pg->next_key, sizeof(pg->next_key));
	} else {
		r = n > BG_KEY_MAX ? -2 : 0;
		if (!r)
			memcpy(pg->next_key, raw, n + 1);
	}
	if (r < 0) {
		snprintf(msg, cap, "bad NextKeyMarker \"%.64s\"", raw);
		return -1;
	}
	if (pg->truncated && !pg->next_key[0]) {
		snprintf(msg, cap, "IsTruncated is true but there is no NextKeyMarker");
		return -1;
	}
	return 0;
}

/* Checks the page (pass 1), then delivers it (pass 2).  Returns 0, -1 with
 * msg set, or the callback's value. */
static int page_run(struct page *pg, enum el root, const char *body, size_t len, char *msg,
		    size_t cap)
{
	struct xp x;
	const char *bad;
	int rc;

	xp_init(&x, root, page_start, page_end, pg);
	if (xp_run(&x, body, len)) {
		snprintf(msg, cap, "%s", x.msg);
		return -1;
	}
	if (x.is_error) {
		snprintf(msg, cap, "S3 error %s: %s", x.err.code[0] ? x.err.code : "(no code)",
			 x.err.message);
		return -1;
	}
	if (strcmp(pg->enc, "url") == 0) {
		pg->url = true;
	} else if (pg->enc[0]) {
		snprintf(msg, cap, "unsupported EncodingType \"%s\"", pg->enc);
		return -1;
	}
	bad = pg->url ? pg->url_err : pg->plain_err;
	if (bad[0]) {
		snprintf(msg, cap, "%s", bad);
		return -1;
	}
	/* A truncated page that does not say where to go on cannot be trusted:
	 * restarting from the beginning would loop. */
	if (pg->truncated && (pg->item == EL_CONTENTS || pg->item == EL_COMMON_PREFIXES) &&
	    !pg->token[0]) {
		snprintf(msg, cap, "IsTruncated is true but there is no NextContinuationToken");
		return -1;
	}
	if (pg->truncated && pg->item == EL_PART && !pg->marker) {
		snprintf(msg, cap, "IsTruncated is true but there is no NextPartNumberMarker");
		return -1;
	}
	if (pg->item == EL_UPLOAD && page_next_key(pg, msg, cap) < 0)
		return -1;
	pg->deliver = true;
	pg->count = 0;
	xp_init(&x, root, page_start, page_end, pg);
	rc = xp_run(&x, body, len);
	if (rc)
		snprintf(msg, cap, "%s", x.msg);
	return rc;
}

int bg_xml_parse_list(const char *body, size_t len, bg_xml_object_cb cb, void *ctx,
		      bg_xml_list_result *out, char *errmsg, size_t errcap)
{
	struct page pg;
	char msg[PAGE_MSG_MAX];
	int rc;

	memset(&pg, 0, sizeof(pg));
	pg.item = EL_CONTENTS;
	pg.ocb = cb;
	pg.cbctx = ctx;
	rc = page_run(&pg, EL_LIST_BUCKET, body, len, msg, sizeof(msg));
	if (out) {
		memset(out, 0, sizeof(*out));
		if (pg.deliver) { /* the page checked out (the callback may have stopped) */
			out->is_truncated = pg.truncated;
			memcpy(out->next_token, pg.token, sizeof(out->next_token));
			out->key_count = pg.count;
		}
	}
	if (errmsg && errcap)
		snprintf(errmsg, errcap, rc ? "ListObjectsV2: %s" : "%s", rc ? msg : "");
	return rc;
}

/* The same page checks as bg_xml_parse_list, delivering <CommonPrefixes>
 * instead of <Contents>. */
int bg_xml_parse_list_prefixes(const char *body, size_t len, bg_xml_prefix_cb cb, void *ctx,
			       unsigned *count, char *errmsg, size_t errcap)
{
	struct page pg;
	char msg[PAGE_MSG_MAX];
	int rc;

	memset(&pg, 0, sizeof(pg));
	pg.item = EL_COMMON_PREFIXES;
	pg.xcb = cb;
	pg.cbctx = ctx;
	rc = page_run(&pg, EL_LIST_BUCKET, body, len, msg, sizeof(msg));
	if (count)
		*count = pg.deliver ? pg.count : 0;
	if (errmsg && errcap)
		snprintf(errmsg, errcap, rc ? "ListObjectsV2: %s" : "%s", rc ? msg : "");
	return rc;
}

/* ---- Error, InitiateMultipartUpload, CompleteMultipartUpload ---- */

int bg_xml_parse_error(const char *body, size_t len, bg_xml_error *out)
{
	struct xp x;

	xp_init(&x, EL_ERROR, NULL, NULL, NULL);
	if (xp_run(&x, body, len) || !x.is_error)
		return -1;
	if (out)
		*out = x.err;
	return 0;
}

/* Captures one child of the root (UploadId or ETag) into x->ctx. */
struct leaf_ctx {
	enum el want;
	bool found;
	size_t len;
	char val[XP_TEXT_MAX + 1];
};

static void leaf_start(struct xp *x, enum el id)
{
	struct leaf_ctx *l = x->ctx;

	if (x->depth == 2 && id == l->want)
		xp_capture(x, XP_TEXT_MAX, false);
}

static void leaf_end(struct xp *x, enum el id, char *text, size_t len)
{
	struct leaf_ctx *l = x->ctx;
	char *s;

	if (x->depth != 2 || id != l->want || !text)
		return;
	s = id == EL_ETAG ? strip_etag(text, &len) : trim(text, &len);
	memcpy(l->val, s, len + 1);
	l->len = len;
	l->found = true;
}

int bg_xml_parse_initiate(const char *body, size_t len, char *upload_id, size_t cap)
{
	struct leaf_ctx l = { .want = EL_UPLOAD_ID };
	struct xp x;

	xp_init(&x, EL_INITIATE, leaf_start, leaf_end, &l);
	if (xp_run(&x, body, len) || x.is_error || !l.found || l.len == 0 || l.len >= cap)
		return -1;
	memcpy(upload_id, l.val, l.len + 1);
	return 0;
}

int bg_xml_parse_complete(const char *body, size_t len, char *etag, size_t etag_cap,
			  bg_xml_error *err)
{
	struct leaf_ctx l = { .want = EL_ETAG };
	struct xp x;

	xp_init(&x, EL_COMPLETE, leaf_start, leaf_end, &l);
	if (xp_run(&x, body, len))
		return -1;
	if (x.is_error) {
		if (err)
			*err = x.err;
		return 1;
	}
	if (!l.found || l.len == 0 || l.len >= etag_cap)
		return -1;
	memcpy(etag, l.val, l.len + 1);
	return 0;
}

/* Like parse_list, the callback runs only once the whole page checked out.
 * Beyond xml.h: a truncated listing without a NextPartNumberMarker is -1
 * (restarting from 0 would loop), and *truncated / *next_marker are false /
 * 0 whenever the page is rejected. */
int bg_xml_parse_list_parts(const char *body, size_t len, bg_xml_part_cb cb, void *ctx,
			    bool *truncated, unsigned *next_marker)
{
	struct page pg;
	char msg[PAGE_MSG_MAX];
	int rc;

	memset(&pg, 0, sizeof(pg));
	pg.item = EL_PART;
	pg.pcb = cb;
	pg.cbctx = ctx;
	rc = page_run(&pg, EL_LIST_PARTS, body, len, msg, sizeof(msg));
	if (truncated)
		*truncated = pg.deliver && pg.truncated;
	if (next_marker)
		*next_marker = pg.deliver ? (unsigned)pg.marker : 0;
	return rc;
}

/* ---- escaping ---- */

static const char *const xml_esc[256] = {
	['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;",
	['"'] = "&quot;", ['\''] = "&apos;", ['\r'] = "&#13;",
};

/* Besides & < > " ', a CR is written as &#13; so that it survives the
 * parser's line-end normalisation.  Bytes XML 1.0 cannot carry at all
 * (controls other than tab, LF, CR) also give -1: the document would be
 * rejected anyway. */
int bg_xml_escape(const char *in, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	if (!cap || n > INT_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		const char *rep = xml_esc[c];
		size_t rl = rep ? strlen(rep) : 1;

		if (!rep && c < 0x20 && c != '\t' && c != '\n')
			return -1;
		if (rl >= cap - o) /* keep room for the NUL */
			return -1;
		memcpy(out + o, rep ? rep : in + i, rl);
		o += rl;
	}
	if (o > INT_MAX)
		return -1;
	out[o] = '\0';
	return (int)o;
}

/* Like parse_list_parts: the callback runs only once the whole page
 * checked out, and the markers are "" whenever the page is rejected. */
int bg_xml_parse_list_uploads(const char *body, size_t len, bg_xml_upload_cb cb, void *ctx,
			      bool *truncated, char *next_key, size_t next_key_cap,
			      char *next_upload, size_t next_upload_cap)
{
	struct page pg;
	char msg[PAGE_MSG_MAX];
	int rc;

	memset(&pg, 0, sizeof(pg));
	pg.item = EL_UPLOAD;
	pg.ucb = cb;
	pg.cbctx = ctx;
	rc = page_run(&pg, EL_LIST_UPLOADS, body, len, msg, sizeof(msg));
	if (truncated)
		*truncated = pg.deliver && pg.truncated;
	if (next_key && next_key_cap)
		next_key[0] = '\0';
	if (next_upload && next_upload_cap)
		next_upload[0] = '\0';
	if (pg.deliver) {
		if (next_key && next_key_cap && bg_strlcpy(next_key, pg.next_key, next_key_cap) < 0)
			return -1;
		if (next_upload && next_upload_cap &&
		    bg_strlcpy(next_upload, pg.next_upload, next_upload_cap) < 0)
			return -1;
	}
	return rc;
}
