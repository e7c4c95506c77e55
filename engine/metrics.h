/* metrics.h - counters and latency histograms of one copy.
 *
 * A bg_metrics belongs to one bg_copy and is written only by its loop
 * thread: plain integers, no locks, no atomics on the hot path.  The loop
 * hands a const pointer to the tool at an interval (bg_copy_opts
 * on_metrics), which renders it with bg_metrics_render (Prometheus text
 * exposition) and publishes the text: docs/metrics.md. */
#ifndef BG_METRICS_H
#define BG_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

typedef enum bg_m_ep { BG_MX_SRC, BG_MX_DST, BG_M_NEP } bg_m_ep;

typedef enum bg_m_op {
	BG_M_LIST, BG_M_HEAD, BG_M_GET, BG_M_PUT, BG_M_CREATE, BG_M_UPLOAD_PART,
	BG_M_COMPLETE, BG_M_ABORT, BG_M_LIST_PARTS, BG_M_LIST_UPLOADS, BG_M_NOP
} bg_m_op;

typedef enum bg_m_class { BG_M_2XX, BG_M_3XX, BG_M_4XX, BG_M_5XX, BG_M_ERROR, BG_M_NCLASS } bg_m_class;

typedef enum bg_m_cause {
	BG_M_R_5XX, BG_M_R_THROTTLE, BG_M_R_NETWORK, BG_M_R_TIMEOUT, BG_M_R_INTEGRITY, BG_M_NCAUSE
} bg_m_cause;

/* Upper bounds of the latency buckets, seconds: 1 ms .. 64 s, doubling;
 * plus +Inf. */
#define BG_M_NBUCKET 17

typedef struct bg_m_hist {
	uint64_t count[BG_M_NBUCKET + 1]; /* per bucket, not cumulative; last is +Inf */
	uint64_t sum_us;
	uint64_t n;
} bg_m_hist;

typedef struct bg_metrics {
	uint64_t requests[BG_M_NEP][BG_M_NOP][BG_M_NCLASS];
	bg_m_hist ttfb[BG_M_NEP][BG_M_NOP];
	bg_m_hist total[BG_M_NEP][BG_M_NOP];
	uint64_t bytes_read, bytes_written;
	uint64_t retries[BG_M_NCAUSE];
	uint64_t objects_done, objects_failed, objects_inflight, objects_listed, objects_skipped;
	uint64_t bytes_done;
	uint64_t pool_in_use, pool_peak, pool_capacity;
	bool journal_open;
	uint64_t journal_queued, journal_committed; /* sequence numbers */
	uint64_t bwlimit_up, bwlimit_down;          /* bytes/s, 0 = none */
	uint64_t bw_paused_up, bw_paused_down;      /* pauses the limiter made */
	double elapsed_s;
	bool finished;
} bg_metrics;

const char *bg_m_op_name(bg_m_op op);
const char *bg_m_cause_name(bg_m_cause c);
bg_m_class bg_m_classify(long status, int curl_result);

/* One finished request; ttfb_us/total_us from curl (microseconds). */
void bg_metrics_request(bg_metrics *m, bg_m_ep ep, bg_m_op op, long status, int curl_result,
			int64_t ttfb_us, int64_t total_us);

/* Appends the Prometheus text exposition of m to b: 0 or -1 (b full). */
int bg_metrics_render(const bg_metrics *m, bg_buf *b);

#endif
