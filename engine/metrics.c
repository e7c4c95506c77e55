/* metrics.c - counters and latency histograms, and their Prometheus text
 * (see metrics.h). */
#include "metrics.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[BG_M_NOP] = {
	"list", "head", "get", "put", "create", "upload_part", "complete", "abort",
	"list_parts", "list_uploads",
};
static const char *const class_names[BG_M_NCLASS] = { "2xx", "3xx", "4xx", "5xx", "error" };
static const char *const cause_names[BG_M_NCAUSE] = {
	"5xx", "throttle", "network", "timeout", "integrity",
};
static const char *const ep_names[BG_M_NEP] = { "src", "dst" };

const char *bg_m_op_name(bg_m_op op) { return op < BG_M_NOP ? op_names[op] : "?"; }
const char *bg_m_cause_name(bg_m_cause c) { return c < BG_M_NCAUSE ? cause_names[c] : "?"; }

bg_m_class bg_m_classify(long status, int curl_result)
{
	if (curl_result != CURLE_OK || status < 200 || status > 599)
		return BG_M_ERROR;
	return (bg_m_class)(status / 100 - 2);
}

/* Bucket i holds latencies up to 1 ms * 2^i. */
static void hist_add(bg_m_hist *h, int64_t us)
{
	if (us < 0)
		us = 0;
	unsigned i = 0;
	uint64_t bound = 1000;
	while (i < BG_M_NBUCKET && (uint64_t)us > bound) {
		bound *= 2;
		i++;
	}
	h->count[i]++;
	h->sum_us += (uint64_t)us;
	h->n++;
}

void bg_metrics_request(bg_metrics *m, bg_m_ep ep, bg_m_op op, long status, int curl_result,
			int64_t ttfb_us, int64_t total_us)
{
	BG_ASSERT(ep < BG_M_NEP && op < BG_M_NOP);
	m->requests[ep][op][bg_m_classify(status, curl_result)]++;
	hist_add(&m->ttfb[ep][op], ttfb_us);
	hist_add(&m->total[ep][op], total_us);
}

static int render_hist(bg_buf *b, const char *name, const bg_m_hist h[BG_M_NEP][BG_M_NOP])
{
	int rc = 0;
	for (unsigned e = 0; e < BG_M_NEP; e++)
		for (unsigned o = 0; o < BG_M_NOP; o++) {
			const bg_m_hist *x = &h[e][o];
			if (!x->n)
				continue;
			uint64_t cum = 0, bound = 1000;
			for (unsigned i = 0; i < BG_M_NBUCKET; i++, bound *= 2) {
				cum += x->count[i];
				rc |= bg_buf_addf(b, "%s_bucket{endpoint=\"%s\",op=\"%s\",le=\"%g\"} %" PRIu64 "\n",
						  name, ep_names[e], op_names[o], (double)bound / 1e6, cum);
			}
			cum += x->count[BG_M_NBUCKET];
			rc |= bg_buf_addf(b, "%s_bucket{endpoint=\"%s\",op=\"%s\",le=\"+Inf\"} %" PRIu64 "\n",
					  name, ep_names[e], op_names[o], cum);
			rc |= bg_buf_addf(b, "%s_sum{endpoint=\"%s\",op=\"%s\"} %.6f\n", name, ep_names[e],
					  op_names[o], (double)x->sum_us / 1e6);
			rc |= bg_buf_addf(b, "%s_count{endpoint=\"%s\",op=\"%s\"} %" PRIu64 "\n", name,
					  ep_names[e], op_names[o], x->n);
		}
	return rc;
}

#define HELP(b, n, t, h) bg_buf_addf(b, "# HELP " n " " h "\n# TYPE " n " " t "\n")

int bg_metrics_render(const bg_metrics *m, bg_buf *b)
{
	int rc = 0;
	rc |= HELP(b, "barge_requests_total", "counter",
		   "Requests finished, by endpoint, operation and status class (retries included).");
	for (unsigned e = 0; e < BG_M_NEP; e++)
		for (unsigned o = 0; o < BG_M_NOP; o++)
			for (unsigned c = 0; c < BG_M_NCLASS; c++)
				if (m->requests[e][o][c])
					rc |= bg_buf_addf(b, "barge_requests_total{endpoint=\"%s\",op=\"%s\",code_class=\"%s\"} %" PRIu64 "\n",
							  ep_names[e], op_names[o], class_names[c],
							  m->requests[e][o][c]);
	rc |= HELP(b, "barge_request_ttfb_seconds", "histogram",
		   "Time from the start of a request to its first response byte.");
	rc |= render_hist(b, "barge_request_ttfb_seconds", m->ttfb);
	rc |= HELP(b, "barge_request_duration_seconds", "histogram",
		   "Total time of a request, connection and body included.");
	rc |= render_hist(b, "barge_request_duration_seconds", m->total);
	rc |= HELP(b, "barge_bytes_total", "counter",
		   "Data bytes read from the source and written to the destination (retries included).");
	rc |= bg_buf_addf(b, "barge_bytes_total{direction=\"read\"} %" PRIu64 "\n", m->bytes_read);
	rc |= bg_buf_addf(b, "barge_bytes_total{direction=\"written\"} %" PRIu64 "\n", m->bytes_written);
	rc |= HELP(b, "barge_retries_total", "counter", "Requests retried, by cause.");
	for (unsigned c = 0; c < BG_M_NCAUSE; c++)
		rc |= bg_buf_addf(b, "barge_retries_total{cause=\"%s\"} %" PRIu64 "\n", cause_names[c],
				  m->retries[c]);
	rc |= HELP(b, "barge_objects", "gauge",
		   "Objects by state: done and failed this run, in flight now, listed, skipped as done before.");
	rc |= bg_buf_addf(b, "barge_objects{state=\"done\"} %" PRIu64 "\n", m->objects_done);
	rc |= bg_buf_addf(b, "barge_objects{state=\"failed\"} %" PRIu64 "\n", m->objects_failed);
	rc |= bg_buf_addf(b, "barge_objects{state=\"inflight\"} %" PRIu64 "\n", m->objects_inflight);
	rc |= bg_buf_addf(b, "barge_objects{state=\"listed\"} %" PRIu64 "\n", m->objects_listed);
	rc |= bg_buf_addf(b, "barge_objects{state=\"skipped\"} %" PRIu64 "\n", m->objects_skipped);
	rc |= HELP(b, "barge_object_bytes_done_total", "counter", "Bytes of objects copied and verified.");
	rc |= bg_buf_addf(b, "barge_object_bytes_done_total %" PRIu64 "\n", m->bytes_done);
	rc |= HELP(b, "barge_pool_bytes", "gauge",
		   "Part-buffer pool: bytes in use now, the peak, and its capacity (--memory).");
	rc |= bg_buf_addf(b, "barge_pool_bytes{kind=\"in_use\"} %" PRIu64 "\n", m->pool_in_use);
	rc |= bg_buf_addf(b, "barge_pool_bytes{kind=\"peak\"} %" PRIu64 "\n", m->pool_peak);
	rc |= bg_buf_addf(b, "barge_pool_bytes{kind=\"capacity\"} %" PRIu64 "\n", m->pool_capacity);
	if (m->journal_open) {
		rc |= HELP(b, "barge_journal_commit_lag_records", "gauge",
			   "Journal records queued but not yet committed by the writer thread.");
		rc |= bg_buf_addf(b, "barge_journal_commit_lag_records %" PRIu64 "\n",
				  m->journal_queued > m->journal_committed
					  ? m->journal_queued - m->journal_committed : 0);
	}
	rc |= HELP(b, "barge_bwlimit_bytes_per_second", "gauge",
		   "The bandwidth limit in force per direction (0: none).");
	rc |= bg_buf_addf(b, "barge_bwlimit_bytes_per_second{direction=\"up\"} %" PRIu64 "\n", m->bwlimit_up);
	rc |= bg_buf_addf(b, "barge_bwlimit_bytes_per_second{direction=\"down\"} %" PRIu64 "\n", m->bwlimit_down);
	rc |= HELP(b, "barge_bwlimit_pauses_total", "counter",
		   "Transfers paused by the bandwidth limit, per direction.");
	rc |= bg_buf_addf(b, "barge_bwlimit_pauses_total{direction=\"up\"} %" PRIu64 "\n", m->bw_paused_up);
	rc |= bg_buf_addf(b, "barge_bwlimit_pauses_total{direction=\"down\"} %" PRIu64 "\n", m->bw_paused_down);
	rc |= HELP(b, "barge_elapsed_seconds", "gauge", "Seconds since the copy started.");
	rc |= bg_buf_addf(b, "barge_elapsed_seconds %.3f\n", m->elapsed_s);
	rc |= HELP(b, "barge_finished", "gauge", "1 once the copy has ended (the last write).");
	rc |= bg_buf_addf(b, "barge_finished %d\n", m->finished ? 1 : 0);
	return rc ? -1 : 0;
}
