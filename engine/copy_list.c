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
	if (cp->qlen == QUEUE_MAX) {
		cp->list_overflow = true; /* more keys than max-keys asked for */
		return 1;
	}
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

void cp_list_done(bg_s3_req *r)
{
	bg_copy *cp = r->owner;
	char msg[BG_MSG_MAX];
	cp->list_busy = false;
	cp_note_req(cp, r, BG_MX_SRC, BG_M_LIST);
	bg_s3_outcome out = bg_s3_classify(r, msg, sizeof(msg));
	bool parse_failed = false;
	if (out == BG_S3_DONE) {
		bg_xml_list_result res;
		char err[256];
		unsigned before = cp->qlen;
		bg_copy_stats was = cp->stats;
		cp->list_overflow = false;
		if (bg_xml_parse_list(r->resp.data, r->resp.len, on_listed, cp, &res, err,
				      sizeof(err)) != 0) {
			/* The page may have been cut short: read it again, and
			 * count its keys once. */
			cp->qlen = before;
			cp->stats.listed_objects = was.listed_objects;
			cp->stats.listed_bytes = was.listed_bytes;
			cp->stats.skipped_objects = was.skipped_objects;
			if (cp->list_overflow) {
				cp_set_fatal(cp, BG_E_PARSE, "the source's listing sent a page of more than "
					  "the %u keys asked for (%s)", LIST_PAGE, cp->o->src_ep.url);
				return;
			}
			bg_strlcpy(msg, err, sizeof(msg));
			out = BG_S3_RETRY;
			parse_failed = true;
		} else {
			cp->list_attempt = 0;
			if (res.is_truncated)
				bg_strlcpy(cp->token, res.next_token, sizeof(cp->token));
			else
				cp->list_done = cp->stats.listing_done = true;
			return;
		}
	}
	if (out == BG_S3_RETRY && ++cp->list_attempt < cp->o->retries) {
		cp_note_retry(cp, r, BG_M_LIST, "", cp->list_attempt, msg, parse_failed);
		cp->list_waiting = true;
		cp->list_retry_at = bg_now_ns() + bg_s3_backoff_ns(r, cp->list_attempt);
		return;
	}
	if (strcmp(r->err.code, "NoSuchBucket") == 0)
		cp_set_fatal(cp, BG_E_CONFIG, "source bucket '%s' does not exist (%s)",
			  cp->o->src.bucket, cp->o->src_ep.url);
	else
		cp_set_fatal(cp, out == BG_S3_RETRY ? BG_E_NET : BG_E_CONFIG,
			  "cannot list the source: %s (%s)", msg, cp->o->src_ep.url);
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
			cp_set_fatal(cp, BG_E_CONFIG, "source file %s: %s", cp->o->src.path, strerror(errno));
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
	if (cp->list_done || cp->list_busy || cp->halting || cp->fatal)
		return;
	if (cp->lsrc) {
		list_local(cp);
		return;
	}
	if (cp->list_waiting && !cp_is_retry_due(true, cp->list_retry_at, bg_now_ns()))
		return;
	if (QUEUE_MAX - cp->qlen < LIST_PAGE)
		return;
	cp->list_waiting = false;
	bg_query_param q[5];
	size_t nq = 0;
	char page[16];
	bg_snprintf(page, sizeof(page), "%u", LIST_PAGE);
	q[nq++] = (bg_query_param){ "list-type", "2" };
	q[nq++] = (bg_query_param){ "encoding-type", "url" };
	q[nq++] = (bg_query_param){ "max-keys", page };
	if (cp->src_prefix[0])
		q[nq++] = (bg_query_param){ "prefix", cp->src_prefix };
	if (cp->token[0])
		q[nq++] = (bg_query_param){ "continuation-token", cp->token };
	bg_s3_call c = { .method = "GET", .bucket = cp->o->src.bucket, .query = q, .nquery = nq };
	bg_status st = { 0 };
	if (cp_req_start(cp, &cp->list, &cp->o->src_ep, &c, &st) < 0) {
		cp_set_fatal(cp, BG_E_INTERNAL, "cannot start listing: %s", st.msg);
		return;
	}
	cp->list_busy = true;
}
