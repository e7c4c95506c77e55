/* test_s3.c - engine/s3.c: a request's preparation (URL, headers, the
 * object's metadata) and its refusals, which must come back as -1 with a
 * message: a caller tests < 0, and a request prepared in part would go out
 * with the previous one's headers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "check.h"
#include "s3.h"

/* n metadata entries "x-amz-meta-kNNN: v" */
static void fill_meta(bg_meta *m, int n)
{
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < n; i++) {
		char name[32];
		int len = snprintf(name, sizeof(name), "x-amz-meta-k%03d", i);
		CHECK_INT(bg_meta_capture(m, name, (size_t)len, "v", 1), 0);
	}
}

/* Does the prepared request carry this header line? */
static int has_header(const bg_s3_req *r, const char *line)
{
	for (unsigned i = 0; i < r->nnodes; i++)
		if (strcmp(r->nodes[i].data, line) == 0)
			return 1;
	return 0;
}

static void test_metadata(void)
{
	static bg_s3_req r;
	static bg_endpoint ep;
	static bg_meta m;
	bg_status st = { 0 };
	CHECK_INT(bg_s3_req_init(&r, 4096, &st), 0);
	strcpy(ep.url, "http://127.0.0.1:9");
	strcpy(ep.host, "127.0.0.1:9");
	strcpy(ep.region, "us-east-1");
	strcpy(ep.access_key, "AKID");
	strcpy(ep.secret_key, "secret");
	bg_s3_call c = { .method = "PUT", .bucket = "b", .key = "a b", .meta = &m,
			 .body = BG_BODY_MEM, .mem = "x", .body_len = 1 };

	fill_meta(&m, 100); /* more than once fitted (48 headers in all) */
	CHECK_INT(bg_s3_prepare(&r, &ep, &c, &st), 0);
	CHECK_STR(r.url, "http://127.0.0.1:9/b/a%20b");
	CHECK(has_header(&r, "x-amz-meta-k000: v"));
	CHECK(has_header(&r, "x-amz-meta-k099: v"));
	CHECK(r.nodes[0].data != NULL && strncmp(r.nodes[0].data, "host: ", 6) == 0);

	fill_meta(&m, 200); /* S3 allows it (2 KiB of names and values) */
	memset(&st, 0, sizeof(st));
	CHECK_INT(bg_s3_prepare(&r, &ep, &c, &st), -1);
	CHECK(strstr(st.msg, "too many metadata headers on a b") != NULL);
	bg_s3_req_free(&r);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_metadata();
	curl_global_cleanup();
	CHECK_DONE();
}
