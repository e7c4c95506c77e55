/* list.c - barge-synth's listings: ListObjects v1/v2 over a source's
 * generated keys or a sink's sorted objects, ListBuckets, ListMultipartUploads
 * and ListParts (see store.h). */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- listings ---- */

typedef struct iter {
	sbucket *b;
	unsigned ci;
	uint64_t idx;
	size_t pos;
	bool end;
} iter;

static void it_seek(iter *it, const char *key, bool strict)
{
	sbucket *b = it->b;
	if (!b->sink) {
		it->end = !syn_src_seek(b->src, key, strict, &it->ci, &it->idx);
		return;
	}
	syn_sink_sort(b);
	size_t lo = 0, hi = b->nsorted;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(b->sorted[mid]->key, key);
		if (r > 0 || (!strict && r == 0))
			hi = mid;
		else
			lo = mid + 1;
	}
	it->pos = lo;
	it->end = lo >= b->nsorted;
}

/* The current entry; false at the end. */
static bool it_get(iter *it, char *key, size_t cap, uint64_t *size, char etag[SYN_ETAG_MAX])
{
	if (it->end)
		return false;
	if (!it->b->sink) {
		const syn_class *c = &it->b->src->cls[it->ci];
		syn_key(c, it->idx, key, cap);
		if (etag) {
			syn_obj o;
			syn_obj_of(c, it->idx, &o);
			syn_obj_etag(&o, syn_cfg.etag_mode, etag);
		}
		*size = c->size;
		return true;
	}
	sobj *o = it->b->sorted[it->pos];
	bg_strlcpy(key, o->key, cap);
	*size = o->size;
	if (etag)
		memcpy(etag, o->etag, SYN_ETAG_MAX);
	return true;
}

static void it_next(iter *it)
{
	if (!it->b->sink) {
		if (++it->idx >= it->b->src->cls[it->ci].count) {
			it->idx = 0;
			it->end = ++it->ci >= it->b->src->ncls;
		}
		return;
	}
	it->end = ++it->pos >= it->b->nsorted;
}

/* First key after everything that starts with p. */
static void successor(const char *p, char *out, size_t cap)
{
	bg_strlcpy(out, p, cap);
	size_t l = strlen(out);
	while (l && (unsigned char)out[l - 1] == 0xff)
		out[--l] = '\0';
	if (l)
		out[l - 1]++;
}

/* A continuation token (the hex of the last key) back to the key: -1 when
 * it is not hex, too long, or holds a NUL. */
static int hexdecode(const char *h, char *out, size_t cap)
{
	size_t l = strlen(h);
	if (l % 2 || l / 2 >= cap || bg_unhex(h, l, (unsigned char *)out, l / 2) < 0 ||
	    memchr(out, 0, l / 2))
		return -1;
	out[l / 2] = '\0';
	return 0;
}

void syn_list_objects(syn_conn *c, sbucket *b, const char *q)
{
	char prefix[KEY_MAX + 1] = "", delim[16] = "", after[KEY_MAX + 1] = "", tok[2 * KEY_MAX + 8] = "";
	char mk[16] = "", enc[16] = "";
	bool v2 = syn_qhas(q, "list-type");
	uint64_t maxkeys = 1000;
	if (syn_qget(q, "prefix", prefix, sizeof(prefix)) < 0 || syn_qget(q, "delimiter", delim, sizeof(delim)) < 0 ||
	    syn_qget(q, v2 ? "start-after" : "marker", after, sizeof(after)) < 0 ||
	    syn_qget(q, "continuation-token", tok, sizeof(tok)) < 0 || syn_qget(q, "max-keys", mk, sizeof(mk)) < 0 ||
	    syn_qget(q, "encoding-type", enc, sizeof(enc)) < 0) {
		syn_reply_error(c, 400, "InvalidArgument", "malformed query parameter");
		return;
	}
	if (mk[0] && bg_parse_u64(mk, 0, UINT64_MAX, &maxkeys) < 0) {
		syn_reply_error(c, 400, "InvalidArgument", "max-keys %s", mk);
		return;
	}
	if (maxkeys > 1000)
		maxkeys = 1000;
	bool url = !strcmp(enc, "url");
	char resume[KEY_MAX + 1] = "";
	if (v2 && tok[0] && hexdecode(tok, resume, sizeof(resume)) < 0) {
		syn_reply_error(c, 400, "InvalidArgument", "The continuation token provided is incorrect");
		return;
	}
	const char *from = v2 && tok[0] ? resume : after;
	size_t plen = strlen(prefix), dlen = strlen(delim);

	iter it = { .b = b };
	char skip[KEY_MAX + 2];
	if (from[0] && strcmp(from, prefix) >= 0) {
		/* after a common prefix: past all of its keys */
		size_t fl = strlen(from);
		if (dlen && fl > plen && !strncmp(from, prefix, plen) && fl >= dlen &&
		    !strcmp(from + fl - dlen, delim)) {
			successor(from, skip, sizeof(skip));
			it_seek(&it, skip, false);
		} else {
			it_seek(&it, from, true);
		}
	} else {
		it_seek(&it, prefix, false);
	}

	bg_buf o;
	bg_buf_init(&o, 64u << 20);
	bg_buf ents;
	bg_buf_init(&ents, 64u << 20);
	char key[KEY_MAX + 64], etag[SYN_ETAG_MAX], last[KEY_MAX + 64] = "";
	uint64_t size, n = 0;
	bool trunc = false;
	while (it_get(&it, key, sizeof(key), &size, NULL)) {
		if (strncmp(key, prefix, plen) != 0)
			break;
		if (n == maxkeys) {
			trunc = true;
			break;
		}
		char *d = dlen ? strstr(key + plen, delim) : NULL;
		if (d) {
			d[dlen] = '\0';
			bg_buf_add(&ents, "<CommonPrefixes><Prefix>", 24);
			syn_key_out(&ents, key, url);
			bg_buf_add(&ents, "</Prefix></CommonPrefixes>", 26);
			bg_strlcpy(last, key, sizeof(last));
			n++;
			successor(key, skip, sizeof(skip));
			it_seek(&it, skip, false);
			continue;
		}
		it_get(&it, key, sizeof(key), &size, etag);
		bg_buf_add(&ents, "<Contents><Key>", 15);
		syn_key_out(&ents, key, url);
		bg_buf_addf(&ents, "</Key><LastModified>" LAST_MODIFIED_ISO "</LastModified>"
				   "<ETag>&quot;%s&quot;</ETag><Size>%llu</Size>"
				   "<StorageClass>STANDARD</StorageClass></Contents>",
			    etag, (unsigned long long)size);
		bg_strlcpy(last, key, sizeof(last));
		n++;
		it_next(&it);
	}
	bg_buf_addf(&o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>");
	syn_xml_esc(&o, b->name);
	bg_buf_add(&o, "</Name><Prefix>", 15);
	syn_key_out(&o, prefix, url);
	bg_buf_add(&o, "</Prefix>", 9);
	if (dlen) {
		bg_buf_add(&o, "<Delimiter>", 11);
		syn_key_out(&o, delim, url);
		bg_buf_add(&o, "</Delimiter>", 12);
	}
	if (url)
		bg_buf_addf(&o, "<EncodingType>url</EncodingType>");
	bg_buf_addf(&o, "<MaxKeys>%llu</MaxKeys><IsTruncated>%s</IsTruncated>",
		    (unsigned long long)maxkeys, trunc ? "true" : "false");
	if (v2) {
		bg_buf_addf(&o, "<KeyCount>%llu</KeyCount>", (unsigned long long)n);
		if (tok[0]) {
			bg_buf_add(&o, "<ContinuationToken>", 19);
			syn_xml_esc(&o, tok);
			bg_buf_add(&o, "</ContinuationToken>", 20);
		}
		if (after[0]) {
			bg_buf_add(&o, "<StartAfter>", 12);
			syn_key_out(&o, after, url);
			bg_buf_add(&o, "</StartAfter>", 13);
		}
		if (trunc) {
			char hex[2 * sizeof(last) + 1];
			bg_hex((const unsigned char *)last, strlen(last), hex);
			bg_buf_addf(&o, "<NextContinuationToken>%s</NextContinuationToken>", hex);
		}
	} else {
		bg_buf_add(&o, "<Marker>", 8);
		syn_key_out(&o, after, url);
		bg_buf_add(&o, "</Marker>", 9);
		if (trunc) {
			bg_buf_add(&o, "<NextMarker>", 12);
			syn_key_out(&o, last, url);
			bg_buf_add(&o, "</NextMarker>", 13);
		}
	}
	bg_buf_add(&o, ents.data ? ents.data : "", ents.len);
	bg_buf_addf(&o, "</ListBucketResult>");
	syn_reply_xml(c, 200, &o);
	bg_buf_free(&o);
	bg_buf_free(&ents);
}

void syn_list_buckets(syn_conn *c, const sbucket *buckets, unsigned nbuckets)
{
	bg_buf o;
	bg_buf_init(&o, 1 << 20);
	bg_buf_addf(&o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult>"
			"<Owner><ID>synth</ID><DisplayName>synth</DisplayName></Owner><Buckets>");
	for (unsigned i = 0; i < nbuckets; i++)
		bg_buf_addf(&o, "<Bucket><Name>%s</Name><CreationDate>" LAST_MODIFIED_ISO
				"</CreationDate></Bucket>", buckets[i].name);
	bg_buf_addf(&o, "</Buckets></ListAllMyBucketsResult>");
	syn_reply_xml(c, 200, &o);
	bg_buf_free(&o);
}

static int upload_cmp(const void *a, const void *b)
{
	const upload *x = *(upload *const *)a, *y = *(upload *const *)b;
	int r = strcmp(x->key, y->key);
	return r ? r : strcmp(x->id, y->id);
}

void syn_list_uploads(syn_conn *c, sbucket *b, const char *q)
{
	char prefix[KEY_MAX + 1] = "", km[KEY_MAX + 1] = "", um[64] = "";
	if (syn_qget(q, "prefix", prefix, sizeof(prefix)) < 0 || syn_qget(q, "key-marker", km, sizeof(km)) < 0 ||
	    syn_qget(q, "upload-id-marker", um, sizeof(um)) < 0) {
		syn_reply_error(c, 400, "InvalidArgument", "malformed query parameter");
		return;
	}
	size_t n = 0, k = 0;
	for (upload *u = b->uploads; u; u = u->next)
		n++;
	upload **v = malloc((n ? n : 1) * sizeof(*v));
	BG_ASSERT(v);
	for (upload *u = b->uploads; u; u = u->next)
		if (!strncmp(u->key, prefix, strlen(prefix))) {
			int r = strcmp(u->key, km);
			if (!km[0] || r > 0 || (r == 0 && um[0] && strcmp(u->id, um) > 0))
				v[k++] = u;
		}
	qsort(v, k, sizeof(*v), upload_cmp);
	size_t max = 1000, shown = k < max ? k : max;
	bg_buf o;
	bg_buf_init(&o, 64u << 20);
	bg_buf_addf(&o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListMultipartUploadsResult>"
			"<Bucket>%s</Bucket><KeyMarker>", b->name);
	syn_xml_esc(&o, km);
	bg_buf_addf(&o, "</KeyMarker><UploadIdMarker>%s</UploadIdMarker><Prefix>", um);
	syn_xml_esc(&o, prefix);
	bg_buf_addf(&o, "</Prefix><MaxUploads>%zu</MaxUploads><IsTruncated>%s</IsTruncated>", max,
		    k > max ? "true" : "false");
	if (k > max) {
		bg_buf_add(&o, "<NextKeyMarker>", 15);
		syn_xml_esc(&o, v[shown - 1]->key);
		bg_buf_addf(&o, "</NextKeyMarker><NextUploadIdMarker>%s</NextUploadIdMarker>",
			    v[shown - 1]->id);
	}
	for (size_t i = 0; i < shown; i++) {
		bg_buf_add(&o, "<Upload><Key>", 13);
		syn_xml_esc(&o, v[i]->key);
		bg_buf_addf(&o, "</Key><UploadId>%s</UploadId><Initiated>" LAST_MODIFIED_ISO
				"</Initiated><StorageClass>STANDARD</StorageClass></Upload>", v[i]->id);
	}
	bg_buf_addf(&o, "</ListMultipartUploadsResult>");
	syn_reply_xml(c, 200, &o);
	bg_buf_free(&o);
	free(v);
}

void syn_list_parts(syn_conn *c, sbucket *b, upload *u, const char *q)
{
	char pm[16] = "";
	uint64_t marker = 0;
	if (syn_qget(q, "part-number-marker", pm, sizeof(pm)) < 0 ||
	    (pm[0] && bg_parse_u64(pm, 0, 10000, &marker) < 0)) {
		syn_reply_error(c, 400, "InvalidArgument", "part-number-marker");
		return;
	}
	bg_buf o;
	bg_buf_init(&o, 16u << 20);
	bg_buf_addf(&o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListPartsResult><Bucket>%s</Bucket><Key>",
		    b->name);
	syn_xml_esc(&o, u->key);
	bg_buf_addf(&o, "</Key><UploadId>%s</UploadId><PartNumberMarker>%llu</PartNumberMarker>"
			"<MaxParts>1000</MaxParts>", u->id, (unsigned long long)marker);
	unsigned shown = 0, lastn = 0;
	bool trunc = false;
	bg_buf ents;
	bg_buf_init(&ents, 16u << 20);
	for (unsigned i = (unsigned)marker; i < u->cap; i++) {
		if (!u->parts[i].have)
			continue;
		if (shown == 1000) {
			trunc = true;
			break;
		}
		char hex[33];
		bg_hex(u->parts[i].tag, 16, hex);
		bg_buf_addf(&ents, "<Part><PartNumber>%u</PartNumber><LastModified>" LAST_MODIFIED_ISO
				   "</LastModified><ETag>&quot;%s&quot;</ETag><Size>%llu</Size></Part>",
			    i + 1, hex, (unsigned long long)u->parts[i].len);
		shown++;
		lastn = i + 1;
	}
	bg_buf_addf(&o, "<IsTruncated>%s</IsTruncated>", trunc ? "true" : "false");
	if (trunc)
		bg_buf_addf(&o, "<NextPartNumberMarker>%u</NextPartNumberMarker>", lastn);
	bg_buf_add(&o, ents.data ? ents.data : "", ents.len);
	bg_buf_addf(&o, "</ListPartsResult>");
	syn_reply_xml(c, 200, &o);
	bg_buf_free(&o);
	bg_buf_free(&ents);
}
