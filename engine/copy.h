/* copy.h - the copy scheduler: lists the source, plans each object, moves
 * bytes through the part-buffer pool from source GETs to destination
 * uploads, and verifies each object with a HEAD of the destination.
 * Single-threaded: one bg_copy owns one ring and one curl multi. */
#ifndef BG_COPY_H
#define BG_COPY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"
#include "plan.h"
#include "util.h"

typedef enum bg_cksum_mode {
	BG_CKSUM_AUTO,   /* crc32c for AWS and R2, md5 for other endpoints */
	BG_CKSUM_MD5,    /* Content-MD5 */
	BG_CKSUM_CRC32C, /* x-amz-checksum-crc32c */
	BG_CKSUM_NONE,
} bg_cksum_mode;

typedef struct bg_copy_stats {
	uint64_t listed_objects, listed_bytes;
	uint64_t done_objects, done_bytes;
	uint64_t failed_objects;
	uint64_t skipped_objects; /* filtered out by include/exclude */
	uint64_t bytes_read, bytes_written; /* data bytes moved, retries included */
	uint64_t parts_bytes;     /* bytes of parts (and single PUTs) the destination
				   * accepted this run, before their objects are done:
				   * progress while large objects are still open */
	uint64_t retries;
	uint64_t same_etag;       /* objects whose destination ETag equals the source's */
	uint64_t requests;
	bool listing_done;
	uint64_t elapsed_ns;
	uint64_t pool_peak_bytes;
	/* with a journal */
	uint64_t already_done_objects, already_done_bytes; /* journaled done before this run */
	uint64_t resumed_uploads;  /* multipart uploads continued from an earlier run */
	uint64_t resumed_parts;    /* parts of those found uploaded and not sent again */
	uint64_t stray_aborts;     /* uploads of an earlier run aborted as unusable */
	uint64_t orphans;          /* keys journaled in progress by an earlier run and no
				    * longer listed (deleted at the source, newly
				    * excluded): their uploads aborted, rows dropped */
} bg_copy_stats;

typedef enum bg_obj_event_kind {
	BG_EV_DONE,
	BG_EV_FAILED,
	BG_EV_PLANNED,
	BG_EV_SKIPPED, /* a local file not copied (a symlink, a fifo): error says why */
} bg_obj_event_kind;

typedef struct bg_obj_event {
	bg_obj_event_kind kind;
	const char *key;     /* source key */
	const char *dst_key;
	uint64_t size;
	const char *src_etag;
	const char *dst_etag;
	bool same_etag;
	const bg_plan *plan;
	const char *xxh3;    /* hex XXH3-128 over the per-part digests, or "" */
	const char *error;   /* BG_EV_FAILED */
} bg_obj_event;

/* A request that will be tried again (for logs): no headers, no URL. */
typedef struct bg_retry_event {
	const char *key;     /* source key, or "" for the listing */
	const char *op;      /* bg_m_op_name */
	const char *cause;   /* bg_m_cause_name */
	long status;         /* HTTP status, 0 if none */
	unsigned attempt;    /* the attempt that failed, 1-based */
	const char *message;
} bg_retry_event;

typedef struct bg_copy_opts {
	bg_location src, dst;
	bg_endpoint src_ep, dst_ep;
	unsigned concurrency;
	uint64_t part_size;
	uint64_t threshold; /* single PUT up to here */
	uint64_t memory;
	const char *const *filters; /* "+glob" include, "-glob" exclude, in order */
	unsigned nfilters;
	bool dry_run;
	bg_cksum_mode cksum;
	unsigned retries;   /* attempts per request */
	unsigned stall_timeout_s; /* under 1 KiB/s for this long: dropped, retried (0: 30) */
	void (*on_progress)(void *ctx, const bg_copy_stats *s);
	void (*on_object)(void *ctx, const bg_obj_event *e);
	void *ctx;
	volatile int *stop; /* set non-zero (from a signal) to stop early */
	struct bg_journal *journal; /* NULL: no journal; else begun (bg_journal_begin_run) */
	/* observability and control (all optional) */
	void (*on_retry)(void *ctx, const bg_retry_event *e);
	/* Every change of an object's state (part 0) or of one of its parts'
	 * (part N >= 1) (--log-level debug): the names of the states, as in
	 * engine/copy_state.c.  NULL: none. */
	void (*on_state)(void *ctx, const char *key, unsigned part, const char *from,
			 const char *to);
	void (*on_metrics)(void *ctx, const bg_metrics *m); /* loop thread; last call has finished */
	uint64_t metrics_interval_ns;  /* 0: 5 s */
	uint64_t bw_up, bw_down;       /* bytes/s, 0 = unlimited (--bwlimit) */
	const char *bwlimit_file;      /* one line, a rate (bg_bwlimit_parse): read at start,
					* every second and when *reload is set */
	volatile int *reload;          /* set from SIGHUP: re-read bwlimit_file now */
} bg_copy_opts;

/* Runs the copy.  Returns BG_OK when every object was copied and verified,
 * BG_E_INTEGRITY/BG_E_HTTP... when some objects failed (each reported via
 * on_object), or a setup error (listing failed, bucket missing) in st with
 * nothing copied after it.  *stats gets the final counters. */
bg_err bg_copy_run(const bg_copy_opts *o, bg_copy_stats *stats, bg_status *st);

/* Does key (relative to the source prefix) pass the filters? */
bool bg_copy_filter(const char *const *filters, unsigned n, const char *rel);

#endif
