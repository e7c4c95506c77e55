/* test_http.c - engine/http.c's lifetime rule: a request's done callback
 * runs once per bg_http_add, never after bg_http_abort, even when the
 * request had already finished and was waiting in the done queue (a
 * callback that frees a transfer cancels its other request, which may
 * have finished in the same turn: issue 17, item 7).  Requests are
 * file:// transfers, so both finish in one turn without a server. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "http.h"

typedef struct probe {
	bg_http *h;
	bg_http_req req;
	struct probe *cancel; /* aborted from this one's callback */
	int calls;
} probe;

static size_t sink(char *p, size_t size, size_t n, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * n;
}

static void on_done(bg_http_req *r, CURLcode cc)
{
	probe *p = r->owner;
	(void)cc;
	p->calls++;
	if (p->cancel)
		bg_http_abort(p->h, &p->cancel->req);
}

static void probe_init(probe *p, bg_http *h, const char *url)
{
	memset(p, 0, sizeof(*p));
	p->h = h;
	p->req.easy = curl_easy_init();
	p->req.owner = p;
	p->req.done = on_done;
	curl_easy_setopt(p->req.easy, CURLOPT_URL, url);
	curl_easy_setopt(p->req.easy, CURLOPT_WRITEFUNCTION, sink);
}

/* Runs turns until nothing is active or queued (at most 2 s). */
static void drain(bg_http *h)
{
	for (int i = 0; i < 200 && (h->active || h->done_head); i++)
		CHECK_INT(bg_http_turn(h, 10000000ull), 0);
}

static void test_abort_finished_request(const char *url)
{
	bg_http h;
	bg_status st = { 0 };
	CHECK_INT(bg_http_init(&h, 16, 8, &st), 0);
	probe a, b;
	probe_init(&a, &h, url);
	probe_init(&b, &h, url);
	/* Whichever callback runs first cancels the other. */
	a.cancel = &b;
	b.cancel = &a;
	CHECK_INT(bg_http_add(&h, &a.req), 0);
	CHECK_INT(bg_http_add(&h, &b.req), 0);
	drain(&h);
	CHECK_INT(a.calls + b.calls, 1);
	CHECK(!a.req.queued && !b.req.queued && !a.req.active && !b.req.active);
	CHECK(h.done_head == NULL && h.done_tail == NULL);
	CHECK_INT(h.active, 0);
	/* Both can be used again, and each runs its callback once. */
	a.cancel = b.cancel = NULL;
	a.calls = b.calls = 0;
	CHECK_INT(bg_http_add(&h, &a.req), 0);
	CHECK_INT(bg_http_add(&h, &b.req), 0);
	drain(&h);
	CHECK_INT(a.calls, 1);
	CHECK_INT(b.calls, 1);
	curl_easy_cleanup(a.req.easy);
	curl_easy_cleanup(b.req.easy);
	bg_http_free(&h);
}

/* A request aborted before it finished never calls back either. */
static void test_abort_running(const char *url)
{
	bg_http h;
	bg_status st = { 0 };
	CHECK_INT(bg_http_init(&h, 16, 8, &st), 0);
	probe a;
	probe_init(&a, &h, url);
	CHECK_INT(bg_http_add(&h, &a.req), 0);
	bg_http_abort(&h, &a.req);
	drain(&h);
	CHECK_INT(a.calls, 0);
	CHECK_INT(h.active, 0);
	curl_easy_cleanup(a.req.easy);
	bg_http_free(&h);
}

int main(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 77;
	char path[] = "/tmp/test_http.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, "hello", 5) != 5)
		return 77;
	close(fd);
	char url[64];
	snprintf(url, sizeof(url), "file://%s", path);
	test_abort_finished_request(url);
	test_abort_running(url);
	unlink(path);
	curl_global_cleanup();
	CHECK_DONE();
}
