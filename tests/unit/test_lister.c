/* test_lister.c - engine/lister.c judged on canned answers: pages taken
 * and committed, a page cut short read again with its keys taken back, a
 * page over max-keys and a token that does not advance stopping the run,
 * retries and their end, a missing bucket, and answers after a stop or a
 * fatal error dropped (the lister idle, so the caller's loop can end).
 * No request is sent: each answer is written into the lister's request
 * and handed to bg_lister_answer as the loop's done queue would. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lister.h"

/* The caller: keys in a table, undone back to the mark. */
typedef struct caller {
	unsigned n, mark, commits, undos, retries, answers;
	bool last, parse_retry, refuse_from; /* refuse_from: key hook says "full" */
	unsigned room;
	char keys[1100][32];
} caller;

static int on_key(void *ctx, const bg_xml_object *x)
{
	caller *c = ctx;
	if (c->refuse_from && c->n >= c->room)
		return 1;
	snprintf(c->keys[c->n++], sizeof(c->keys[0]), "%.*s", (int)x->key_len, x->key);
	return 0;
}
static void on_mark(void *ctx) { caller *c = ctx; c->mark = c->n; }
static void on_undo(void *ctx) { caller *c = ctx; c->n = c->mark; c->undos++; }
static int on_commit(void *ctx, bool last, char *msg, size_t cap)
{
	caller *c = ctx;
	(void)msg, (void)cap;
	c->commits++;
	c->last = last;
	return 0;
}
static void on_answer(void *ctx, bg_s3_req *r) { (void)r; ((caller *)ctx)->answers++; }
static void on_retry(void *ctx, const bg_s3_req *r, unsigned attempt, const char *msg, bool parse)
{
	caller *c = ctx;
	(void)r, (void)attempt, (void)msg;
	c->retries++;
	c->parse_retry = parse;
}

static bg_http http; /* never started: bg_lister_stop only aborts */
static bg_location loc = { .kind = BG_LOC_S3, .bucket = "b" };
static bg_endpoint ep = { .url = "http://127.0.0.1:9" };
static bg_lister l;
static bg_fatal fatal;
static caller who;
static uint64_t requests;

static void start(unsigned attempts)
{
	bg_status st = { 0 };
	memset(&who, 0, sizeof(who));
	fatal = (bg_fatal){ 0 };
	bg_lister_conf c = {
		.http = &http, .loc = &loc, .ep = &ep, .side = "source", .prefix = "p/",
		.attempts = attempts, .body_max = 1u << 20, .fatal = &fatal, .requests = &requests,
		.hooks = { .ctx = &who, .key = on_key, .mark = on_mark, .undo = on_undo,
			   .commit = on_commit, .answer = on_answer, .retry = on_retry },
	};
	CHECK_INT(bg_lister_init(&l, &c, &st), 0);
}

/* A page of keys p/<from>..p/<from+n-1>; token "" for the last page. */
static void page(unsigned from, unsigned n, const char *token, bool cut)
{
	bg_buf *b = &l.req.resp;
	bg_buf_reset(b);
	bg_buf_addf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult>"
		    "<Name>b</Name><Prefix>p/</Prefix><IsTruncated>%s</IsTruncated>",
		    token[0] ? "true" : "false");
	if (token[0])
		bg_buf_addf(b, "<NextContinuationToken>%s</NextContinuationToken>", token);
	for (unsigned i = 0; i < n; i++)
		bg_buf_addf(b, "<Contents><Key>p/%05u</Key><Size>%u</Size><ETag>\"e\"</ETag>"
			    "</Contents>", from + i, i);
	if (!cut)
		bg_buf_addf(b, "</ListBucketResult>");
}

static void deliver(long status, const char *body)
{
	l.busy = true; /* as bg_lister_next leaves it */
	l.req.http.result = CURLE_OK;
	l.req.status = status;
	l.req.retry_after_s = -1;
	if (body) {
		bg_buf_reset(&l.req.resp);
		bg_buf_add(&l.req.resp, body, strlen(body));
	}
	bg_lister_answer(&l, &l.req);
}

static void test_pages_and_a_cut_page(void)
{
	start(3);
	page(0, 3, "t1", false);
	deliver(200, NULL);
	CHECK(!fatal.set && bg_lister_idle(&l) && !l.eof);
	CHECK_INT(who.n, 3);
	CHECK_STR(who.keys[2], "p/00002");
	CHECK_STR(l.token, "t1");
	CHECK(who.commits == 1 && !who.last);
	/* cut short after its keys: nothing delivered, read again */
	page(3, 4, "t2", true);
	deliver(200, NULL);
	CHECK(!fatal.set && bg_lister_idle(&l));
	CHECK_INT(who.n, 3);
	CHECK(who.retries == 1 && who.parse_retry && l.retry.waiting);
	CHECK_STR(l.token, "t1");
	CHECK(!bg_lister_due(&l, l.retry.at - 1) && bg_lister_due(&l, l.retry.at));
	/* the same page whole, then the last */
	page(3, 4, "t2", false);
	deliver(200, NULL);
	CHECK_INT(who.n, 7);
	CHECK(l.retry.attempt == 0 && !l.retry.waiting);
	page(7, 1, "", false);
	deliver(200, NULL);
	CHECK(!fatal.set && l.eof && who.last && who.commits == 3);
	CHECK_INT(who.n, 8);
	CHECK(!bg_lister_due(&l, UINT64_MAX));
	CHECK_INT(who.answers, 4);
	bg_lister_free(&l);
}

/* A page the caller cannot take (its key hook says full) is taken back. */
static void test_over_max_keys(void)
{
	start(3);
	page(0, 1001, "t1", false);
	deliver(200, NULL);
	CHECK(fatal.set && fatal.st.code == BG_E_PARSE);
	CHECK(strstr(fatal.st.msg, "more than the 1000 keys asked for") != NULL);
	CHECK_INT(who.n, 0);
	CHECK(!bg_lister_due(&l, UINT64_MAX));
	bg_lister_free(&l);

	start(3);
	who.refuse_from = true;
	who.room = 2;
	page(0, 5, "t1", false);
	deliver(200, NULL);
	CHECK(fatal.set && who.n == 0 && who.undos == 1);
	bg_lister_free(&l);
}

static void test_token_that_does_not_advance(void)
{
	start(3);
	page(0, 2, "t1", false);
	deliver(200, NULL);
	page(2, 2, "t1", false);
	deliver(200, NULL);
	CHECK(fatal.set && fatal.st.code == BG_E_PARSE);
	CHECK(strstr(fatal.st.msg, "same continuation token twice") != NULL);
	CHECK_INT(who.n, 2); /* the second page's keys taken back */
	bg_lister_free(&l);
}

static void test_failures(void)
{
	static const char nobucket[] = "<Error><Code>NoSuchBucket</Code>"
				       "<Message>The specified bucket does not exist</Message></Error>";
	start(3);
	deliver(404, nobucket);
	CHECK(fatal.set && fatal.st.code == BG_E_CONFIG);
	CHECK(strstr(fatal.st.msg, "the source bucket 'b' does not exist") != NULL);
	bg_lister_free(&l);

	start(3);
	for (int i = 0; i < 3; i++) {
		CHECK(!fatal.set);
		deliver(503, "<Error><Code>SlowDown</Code><Message>m</Message></Error>");
	}
	CHECK_INT(who.retries, 2);
	CHECK(fatal.set && fatal.st.code == BG_E_NET);
	CHECK(strstr(fatal.st.msg, "listing the source failed after 3 attempts: HTTP 503 SlowDown")
	      != NULL);
	bg_lister_free(&l);

	start(3);
	deliver(403, "<Error><Code>InvalidAccessKeyId</Code><Message>m</Message></Error>");
	CHECK(strstr(fatal.st.msg, "check the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY") != NULL);
	bg_lister_free(&l);
}

/* A page that arrives after a stop or a fatal error is nobody's: the
 * lister is idle and asks for nothing more. */
static void test_stop(void)
{
	start(3);
	l.busy = true;
	bg_lister_stop(&l);
	CHECK(bg_lister_idle(&l) && !bg_lister_due(&l, UINT64_MAX));
	page(0, 3, "t1", false);
	deliver(200, NULL);
	CHECK(bg_lister_idle(&l) && who.n == 0 && who.answers == 0 && !fatal.set);
	bg_lister_free(&l);

	start(3);
	bg_fatal_set(&fatal, BG_E_IO, "journal: disk full");
	page(0, 3, "t1", false);
	deliver(200, NULL);
	CHECK(bg_lister_idle(&l) && who.n == 0 && !bg_lister_due(&l, UINT64_MAX));
	CHECK_STR(fatal.st.msg, "journal: disk full");
	bg_lister_free(&l);
}

int main(void)
{
	test_pages_and_a_cut_page();
	test_over_max_keys();
	test_token_that_does_not_advance();
	test_failures();
	test_stop();
	CHECK_DONE();
}
