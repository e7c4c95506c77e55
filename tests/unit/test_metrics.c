/* test_metrics.c - engine/metrics.c: the rate syntax, the token bucket's
 * arithmetic, and a rendered exposition whose histograms are cumulative. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "metrics.h"

#define MiB (1ull << 20)

static void test_parse(void)
{
	uint64_t u = 1, d = 1;
	char err[200];
	CHECK_INT(bg_bwlimit_parse("200M", &u, &d, err, sizeof(err)), 0);
	CHECK_INT(u, 200 * MiB);
	CHECK_INT(d, 200 * MiB);
	CHECK_INT(bg_bwlimit_parse(" up:100M,down:2G\n", &u, &d, err, sizeof(err)), 0);
	CHECK_INT(u, 100 * MiB);
	CHECK_INT(d, 2048 * MiB);
	CHECK_INT(bg_bwlimit_parse("down:5M", &u, &d, err, sizeof(err)), 0);
	CHECK_INT(u, 0);
	CHECK_INT(d, 5 * MiB);
	CHECK_INT(bg_bwlimit_parse("off", &u, &d, err, sizeof(err)), 0);
	CHECK_INT(u, 0);
	CHECK_INT(bg_bwlimit_parse("fast", &u, &d, err, sizeof(err)), -1);
	CHECK(strstr(err, "fast") != NULL);
	CHECK_INT(bg_bwlimit_parse("up:", &u, &d, err, sizeof(err)), -1);
	CHECK_INT(bg_bwlimit_parse("up:1M,sideways:2M", &u, &d, err, sizeof(err)), -1);
}

static void test_bucket(void)
{
	bg_bucket b = { 0 };
	CHECK_INT(bg_bucket_take(&b, 12345), 12345); /* unlimited */
	bg_bucket_set(&b, 10 * MiB, 1000000000ull);
	CHECK_INT(bg_bucket_take(&b, 100), 0);       /* starts empty */
	bg_bucket_refill(&b, 1100000000ull);         /* 100 ms: 1 MiB */
	CHECK_INT(b.tokens, (int64_t)(MiB));
	bg_bucket_refill(&b, 3000000000ull);         /* capped at 100 ms */
	CHECK_INT(b.tokens, (int64_t)(MiB));
	CHECK_INT(bg_bucket_take(&b, 600000), 600000);
	CHECK_INT(bg_bucket_take(&b, 600000), MiB - 600000);
	CHECK_INT(bg_bucket_take(&b, 1), 0);
	bg_bucket_refill(&b, 3000100000ull);         /* 0.1 ms */
	CHECK(bg_bucket_take_all(&b, 16384));        /* on credit */
	CHECK(b.tokens < 0);
	CHECK(!bg_bucket_take_all(&b, 1));
}

static void test_render(void)
{
	bg_metrics *m = calloc(1, sizeof(*m));
	CHECK(m != NULL);
	bg_metrics_request(m, BG_MX_DST, BG_M_UPLOAD_PART, 200, 0, 500, 1500);    /* 1 ms, 2 ms */
	bg_metrics_request(m, BG_MX_DST, BG_M_UPLOAD_PART, 503, 0, 3000, 100000000); /* +Inf */
	bg_metrics_request(m, BG_MX_SRC, BG_M_GET, 0, 7, 0, 0);                   /* no answer */
	m->bytes_written = 42;
	bg_buf b;
	bg_buf_init(&b, 1 << 20);
	CHECK_INT(bg_metrics_render(m, &b), 0);
	CHECK(bg_buf_add(&b, "", 1) == 0);
	const char *t = b.data;
	CHECK(strstr(t, "# TYPE barge_requests_total counter\n") != NULL);
	CHECK(strstr(t, "barge_requests_total{endpoint=\"dst\",op=\"upload_part\",code_class=\"2xx\"} 1\n"));
	CHECK(strstr(t, "barge_requests_total{endpoint=\"dst\",op=\"upload_part\",code_class=\"5xx\"} 1\n"));
	CHECK(strstr(t, "barge_requests_total{endpoint=\"src\",op=\"get\",code_class=\"error\"} 1\n"));
	CHECK(strstr(t, "barge_request_ttfb_seconds_bucket{endpoint=\"dst\",op=\"upload_part\",le=\"0.001\"} 1\n"));
	CHECK(strstr(t, "barge_request_ttfb_seconds_bucket{endpoint=\"dst\",op=\"upload_part\",le=\"0.004\"} 2\n"));
	CHECK(strstr(t, "barge_request_duration_seconds_bucket{endpoint=\"dst\",op=\"upload_part\",le=\"0.002\"} 1\n"));
	CHECK(strstr(t, "barge_request_duration_seconds_bucket{endpoint=\"dst\",op=\"upload_part\",le=\"65.536\"} 1\n"));
	CHECK(strstr(t, "barge_request_duration_seconds_bucket{endpoint=\"dst\",op=\"upload_part\",le=\"+Inf\"} 2\n"));
	CHECK(strstr(t, "barge_request_duration_seconds_count{endpoint=\"dst\",op=\"upload_part\"} 2\n"));
	CHECK(strstr(t, "barge_bytes_total{direction=\"written\"} 42\n"));
	CHECK(strstr(t, "op=\"list\"") == NULL); /* unseen pairs are not written */
	CHECK(strstr(t, "barge_journal") == NULL);
	bg_buf_free(&b);
	free(m);
}

int main(void)
{
	test_parse();
	test_bucket();
	test_render();
	CHECK_DONE();
}
