/* store.h - barge-synth's buckets, sink objects and multipart uploads, shared
 * by s3.c (requests) and list.c (listings); helpers for query strings and XML. */
#ifndef SYN_STORE_H
#define SYN_STORE_H

#include "synth.h"

#define KEY_MAX 1024
#define LAST_MODIFIED_ISO "2025-01-01T00:00:00.000Z"

typedef struct sobj {
	char *key;
	uint64_t size;
	char etag[SYN_ETAG_MAX];
	syn_obj src;
	struct sobj *next;
} sobj;

typedef struct upart {
	bool have;
	uint64_t len, off;
	unsigned char tag[16];
} upart;

typedef struct upload {
	char id[40];
	char *key;
	syn_obj src;
	uint64_t part_size; /* part 1's length, once seen */
	upart *parts;       /* by number - 1 */
	unsigned cap;
	uint64_t serial;
	struct upload *next;
} upload;

typedef struct sbucket {
	char name[SYN_NAME_MAX];
	bool sink;
	syn_src *src; /* source: its objects; sink: what it must receive */
	sobj **tab;
	size_t tabn, count;
	sobj **sorted;
	size_t nsorted;
	bool dirty;
	upload *uploads;
} sbucket;

/* s3.c */
void syn_sink_sort(sbucket *b); /* b->sorted, rebuilt when objects changed */
/* Value of query parameter name, decoded; 1 found, 0 not, -1 malformed. */
int syn_qget(const char *q, const char *name, char *out, size_t cap);
bool syn_qhas(const char *q, const char *name);
void syn_xml_esc(bg_buf *o, const char *s);
/* XML-escaped, or URL-encoded when the client asked for encoding-type=url. */
void syn_key_out(bg_buf *o, const char *s, bool url);
void syn_reply_xml(syn_conn *c, int status, bg_buf *b);

/* list.c */
void syn_list_objects(syn_conn *c, sbucket *b, const char *q);
void syn_list_buckets(syn_conn *c, const sbucket *buckets, unsigned nbuckets);
void syn_list_uploads(syn_conn *c, sbucket *b, const char *q);
void syn_list_parts(syn_conn *c, sbucket *b, upload *u, const char *q);

#endif
