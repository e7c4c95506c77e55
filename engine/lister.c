/* lister.c - one ListObjectsV2 stream, a page at a time (see lister.h). */
#include "lister.h"

#include <string.h>

static void lister_done(bg_s3_req *r)
{
	bg_lister_answer(r->owner, r);
}

int bg_lister_init(bg_lister *l, const bg_lister_conf *c, bg_status *st)
{
	memset(l, 0, sizeof(*l));
	l->c = *c;
	BG_ASSERT(c->http && c->loc && c->ep && c->side && c->fatal && c->hooks.key);
	if (bg_strlcpy(l->prefix, c->prefix ? c->prefix : "", sizeof(l->prefix)) < 0)
		return bg_fail(st, BG_E_USAGE, "the %s prefix is too long", c->side);
	if (bg_s3_req_init(&l->req, c->body_max, st))
		return -1;
	if (c->stall_timeout_s)
		bg_s3_req_stall(&l->req, c->stall_timeout_s);
	l->req.owner = l;
	l->req.done = lister_done;
	return 0;
}

void bg_lister_free(bg_lister *l)
{
	bg_s3_req_free(&l->req);
}

bool bg_lister_due(const bg_lister *l, uint64_t now)
{
	if (l->busy || l->eof || l->stopped || l->c.fatal->set)
		return false;
	return !l->retry.waiting || bg_retry_due(&l->retry, now);
}

void bg_lister_next(bg_lister *l, uint64_t now)
{
	if (!bg_lister_due(l, now))
		return;
	l->retry.waiting = false;
	bg_query_param q[5];
	size_t nq = 0;
	char page[16];
	bg_snprintf(page, sizeof(page), "%u", BG_LIST_PAGE);
	q[nq++] = (bg_query_param){ "list-type", "2" };
	q[nq++] = (bg_query_param){ "encoding-type", "url" };
	q[nq++] = (bg_query_param){ "max-keys", page };
	if (l->prefix[0])
		q[nq++] = (bg_query_param){ "prefix", l->prefix };
	if (l->token[0])
		q[nq++] = (bg_query_param){ "continuation-token", l->token };
	bg_s3_call call = { .method = "GET", .bucket = l->c.loc->bucket, .query = q, .nquery = nq };
	bg_status st = { 0 };
	if (bg_s3_prepare(&l->req, l->c.ep, &call, &st) < 0 ||
	    bg_s3_start(l->c.http, &l->req) < 0) {
		bg_fatal_set(l->c.fatal, BG_E_INTERNAL, "cannot start listing the %s: %s", l->c.side,
			     st.msg[0] ? st.msg : "the request was refused");
		return;
	}
	if (l->c.requests)
		(*l->c.requests)++;
	l->busy = true;
}

void bg_lister_stop(bg_lister *l)
{
	bg_http_abort(l->c.http, &l->req.http);
	l->busy = false;
	l->retry.waiting = false;
	l->stopped = true;
}

/* Every key of the page passes here: counted against max-keys first. */
static int on_key(void *ctx, const bg_xml_object *x)
{
	bg_lister *l = ctx;
	if (++l->nkeys > BG_LIST_PAGE || l->c.hooks.key(l->c.hooks.ctx, x) != 0) {
		l->over = true;
		return 1;
	}
	return 0;
}

static void undo(bg_lister *l)
{
	if (l->c.hooks.undo)
		l->c.hooks.undo(l->c.hooks.ctx);
}

/* A page that came whole: delivered and committed (0), read again (1,
 * msg says why), or fatal (-1). */
static int take_page(bg_lister *l, const bg_s3_req *r, char *msg, size_t cap)
{
	const bg_lister_hooks *h = &l->c.hooks;
	bg_xml_list_result res;
	l->over = false;
	l->nkeys = 0;
	if (h->mark)
		h->mark(h->ctx);
	if (bg_xml_parse_list(r->resp.data ? r->resp.data : "", r->resp.len, on_key, l, &res, msg,
			      cap) != 0) {
		undo(l);
		if (!l->over)
			return 1; /* cut short on the way: read it again */
		bg_fatal_set(l->c.fatal, BG_E_PARSE, "the %s's listing sent a page of more than the "
			     "%u keys asked for (%s)", l->c.side, BG_LIST_PAGE, l->c.ep->url);
		return -1;
	}
	if (res.is_truncated && strcmp(res.next_token, l->token) == 0) {
		undo(l);
		bg_fatal_set(l->c.fatal, BG_E_PARSE, "the %s's listing sent the same continuation "
			     "token twice: it would never end (%s)", l->c.side, l->c.ep->url);
		return -1;
	}
	if (h->commit && h->commit(h->ctx, !res.is_truncated, msg, cap) < 0) {
		bg_fatal_set(l->c.fatal, BG_E_PARSE, "the %s's listing: %s", l->c.side, msg);
		return -1;
	}
	bg_retry_reset(&l->retry);
	if (res.is_truncated)
		bg_strlcpy(l->token, res.next_token, sizeof(l->token));
	else
		l->eof = true;
	return 0;
}

/* A page that failed for good: the run stops with one line. */
static void give_up(bg_lister *l, const bg_s3_req *r, bg_s3_outcome out, const char *msg)
{
	char what[64], line[BG_MSG_MAX];
	bg_snprintf(what, sizeof(what), "listing the %s", l->c.side);
	bg_s3_failure f = {
		.r = r, .out = out, .msg = msg, .what = what, .side = l->c.side, .loc = l->c.loc,
		.ep = l->c.ep, .attempts = l->retry.attempt, .bucket_level = true,
	};
	bg_err code = bg_s3_explain(&f, line, sizeof(line));
	bg_fatal_set(l->c.fatal, code, "%s", line);
}

void bg_lister_answer(bg_lister *l, bg_s3_req *r)
{
	const bg_lister_hooks *h = &l->c.hooks;
	l->busy = false;
	if (l->stopped || l->c.fatal->set)
		return; /* nobody takes the page any more */
	if (h->answer)
		h->answer(h->ctx, r);
	char msg[BG_MSG_MAX];
	bg_s3_outcome out = bg_s3_classify(r, msg, sizeof(msg));
	bool parse = false;
	if (out == BG_S3_DONE) {
		if (take_page(l, r, msg, sizeof(msg)) <= 0)
			return;
		out = BG_S3_RETRY;
		parse = true;
	}
	if (out == BG_S3_RETRY && bg_retry_later(&l->retry, r, l->c.attempts)) {
		if (h->retry)
			h->retry(h->ctx, r, l->retry.attempt, msg, parse);
		return;
	}
	give_up(l, r, out, msg);
}
