/* test_metrics.c - engine/metrics.c: a rendered exposition whose
 * histograms are cumulative. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "metrics.h"

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
	test_render();
	CHECK_DONE();
}
