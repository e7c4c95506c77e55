/* copy_list.c - the copy scheduler's listing: ListObjectsV2 pages, or the
 * walk of a local tree, into the bounded queue (copy_int.h). */
#include "copy_int.h"

static void local_notice(bg_copy *cp, bg_obj_event_kind kind, const char *rel, const char *why);

static int on_listed(void *ctx, const bg_xml_object *x)
{
	bg_copy *cp = ctx;
	if (x->key_len < cp->src_plen || memcmp(x->key, cp->src_prefix, cp->src_plen) != 0)
		return 0; /* not below the prefix (a server ignoring prefix) */
	const char *rel = x->key + cp->src_plen;
	if (!rel[0]) {
		/* "data/" itself when copying s3://b/data: the folder's marker,
		 * no object under it (its destination key would be the prefix,
		 * or "" with none: a PUT of the bucket, or a file without name) */
		local_notice(cp, BG_EV_SKIPPED, cp->src_prefix, "the folder marker of the source prefix");
		return 0;
	}
	if (!bg_copy_filter(cp->o->filters, cp->o->nfilters, rel)) {
		cp->stats.skipped_objects++;
		return 0;
	}
	if (cp->qlen == QUEUE_MAX)
		return 1; /* more keys than the room asked for: the lister says so */
	pending *p = &cp->queue[(cp->qhead + cp->qlen) % QUEUE_MAX];
	memcpy(p->key, x->key, x->key_len);
	p->key[x->key_len] = '\0';
	p->size = x->size;
	bg_strlcpy(p->etag, x->etag, sizeof(p->etag));
	bg_strlcpy(p->last_modified, x->last_modified ? x->last_modified : "",
		   sizeof(p->last_modified));
	cp->qlen++;
	cp->stats.listed_objects++;
	cp->stats.listed_bytes += x->size;
	return 0;
}

/* A page is delivered: what its keys change, so that a page read again
 * (cut short on the way) counts its keys once. */
static void list_mark(void *ctx)
{
	bg_copy *cp = ctx;
	cp->list_mark.qlen = cp->qlen;
	cp->list_mark.listed_objects = cp->stats.listed_objects;
	cp->list_mark.listed_bytes = cp->stats.listed_bytes;
	cp->list_mark.skipped_objects = cp->stats.skipped_objects;
}

static void list_undo(void *ctx)
{
	bg_copy *cp = ctx;
	cp->qlen = cp->list_mark.qlen;
	cp->stats.listed_objects = cp->list_mark.listed_objects;
	cp->stats.listed_bytes = cp->list_mark.listed_bytes;
	cp->stats.skipped_objects = cp->list_mark.skipped_objects;
}

static int list_commit(void *ctx, bool last, char *msg, size_t cap)
{
	bg_copy *cp = ctx;
	(void)msg;
	(void)cap;
	if (last)
		cp->list_done = cp->stats.listing_done = true;
	return 0;
}

static void list_answer(void *ctx, bg_s3_req *r)
{
	cp_note_req(ctx, r, BG_MX_SRC, BG_M_LIST);
}

static void list_retry(void *ctx, const bg_s3_req *r, unsigned attempt, const char *msg,
		       bool parse)
{
	cp_note_retry(ctx, r, BG_M_LIST, "", attempt, msg, parse);
}

/* The source's lister (unused when the source is local). */
int cp_list_init(bg_copy *cp, bg_status *st)
{
	bg_lister_conf c = {
		.http = &cp->http, .loc = &cp->o->src, .ep = &cp->o->src_ep, .side = "source",
		.prefix = cp->src_prefix, .attempts = cp->o->retries, .body_max = LIST_BODY_MAX,
		.stall_timeout_s = cp->o->stall_timeout_s, .fatal = &cp->fatal,
		.requests = &cp->stats.requests,
		.hooks = { .ctx = cp, .key = on_listed, .mark = list_mark, .undo = list_undo,
			   .commit = list_commit, .answer = list_answer, .retry = list_retry },
	};
	return bg_lister_init(&cp->lister, &c, st);
}

/* A file the walk found and does not copy: skipped (a symlink) or failed
 * (an unreadable directory); named to the tool either way. */
static void local_notice(bg_copy *cp, bg_obj_event_kind kind, const char *rel, const char *why)
{
	if (kind == BG_EV_FAILED)
		cp->stats.failed_objects++;
	else
		cp->stats.skipped_objects++;
	if (!cp->o->on_object)
		return;
	bg_obj_event e = { .kind = kind, .key = rel, .dst_key = "", .src_etag = "", .dst_etag = "",
			   .xxh3 = "", .error = why };
	cp->o->on_object(cp->o->ctx, &e);
}

static void queue_local(bg_copy *cp, const char *rel, const struct stat *st)
{
	pending *p = &cp->queue[(cp->qhead + cp->qlen) % QUEUE_MAX];
	bg_strlcpy(p->key, rel, sizeof(p->key));
	p->size = (uint64_t)st->st_size;
	bg_local_etag(st, p->etag, sizeof(p->etag));
	struct tm tm;
	gmtime_r(&st->st_mtim.tv_sec, &tm);
	strftime(p->last_modified, sizeof(p->last_modified), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	cp->qlen++;
	cp->stats.listed_objects++;
	cp->stats.listed_bytes += p->size;
}

/* The local source: a bounded piece of the walk per loop turn. */
static void list_local(bg_copy *cp)
{
	if (cp->single) {
		struct stat st;
		if (fstatat(cp->src_root, cp->single_key, &st, 0) < 0)
			bg_fatal_set(&cp->fatal, BG_E_CONFIG, "source file %s: %s", cp->o->src.path, strerror(errno));
		else if (bg_copy_filter(cp->o->filters, cp->o->nfilters, cp->single_key))
			queue_local(cp, cp->single_key, &st);
		else
			cp->stats.skipped_objects++;
		cp->list_done = cp->stats.listing_done = true;
		return;
	}
	for (unsigned budget = 1024; budget && cp->qlen < QUEUE_MAX; budget--) {
		bg_walk_entry e;
		if (!bg_walk_next(&cp->walk, &e)) {
			bg_walk_close(&cp->walk);
			cp->walking = false;
			cp->list_done = cp->stats.listing_done = true;
			return;
		}
		if (!bg_copy_filter(cp->o->filters, cp->o->nfilters, e.rel)) {
			cp->stats.skipped_objects++;
			continue;
		}
		if (e.kind == BG_WALK_FILE)
			queue_local(cp, e.rel, &e.st);
		else
			local_notice(cp, e.kind == BG_WALK_SKIP ? BG_EV_SKIPPED : BG_EV_FAILED, e.rel,
				     e.why);
	}
}

void cp_maybe_list(bg_copy *cp)
{
	if (cp->list_done || cp->halting || cp->fatal.set)
		return;
	if (cp->lsrc) {
		list_local(cp);
		return;
	}
	if (QUEUE_MAX - cp->qlen < BG_LIST_PAGE)
		return;
	bg_lister_next(&cp->lister, bg_now_ns());
}
