/* bench.h - `barge bench`: measures a pair of endpoints in three timed
 * phases over a scratch prefix on each side, then cleans up.
 *
 *   upload    N objects of SIZE, content generated in memory (the generator
 *             of barge-synth: splitmix64 words seeded by FNV-1a of the key),
 *             PUT to the source, multipart above the part size;
 *   download  every object read back from the source with ranged GETs of
 *             the part size, each range hashed (XXH3-64) as it arrives and
 *             compared with the generator's; nothing is kept;
 *   copy      the real copy engine (bg_copy_run) from the source's scratch
 *             prefix to the destination's;
 *   cleanup   (not with keep) DELETE of every key written on both sides,
 *             and an abort of every multipart upload still open under
 *             either scratch prefix.
 *
 * Upload, download and cleanup run on bench's own small scheduler (one
 * ring, one curl multi, `concurrency` transfer slots, like audit.c) which
 * records per request kind the time to first byte and the total time
 * (CURLINFO_STARTTRANSFER_TIME_T / TOTAL_TIME_T).  The copy phase reports
 * bg_copy_stats only: its request latencies are not collected.
 * Nothing here prints. */
#ifndef BG_BENCH_H
#define BG_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "copy.h"
#include "util.h"
#include "xml.h"

typedef enum bg_bench_op {
	BG_BOP_PUT,      /* single PutObject */
	BG_BOP_CREATE,   /* CreateMultipartUpload */
	BG_BOP_PART,     /* UploadPart */
	BG_BOP_COMPLETE, /* CompleteMultipartUpload */
	BG_BOP_GET,      /* (ranged) GetObject */
	BG_BOP_UPLOADS,  /* ListMultipartUploads */
	BG_BOP_DELETE,   /* DeleteObject */
	BG_BOP_ABORT,    /* AbortMultipartUpload */
	BG_BOP_COUNT
} bg_bench_op;

const char *bg_bench_op_name(bg_bench_op op);

typedef enum bg_bench_phase_id {
	BG_BPH_UPLOAD,
	BG_BPH_DOWNLOAD,
	BG_BPH_COPY,
	BG_BPH_CLEANUP,
	BG_BPH_COUNT
} bg_bench_phase_id;

const char *bg_bench_phase_name(bg_bench_phase_id ph);

/* Percentiles are in seconds; p[0] p50, p[1] p90, p[2] p99. */
typedef struct bg_bench_lat {
	uint64_t count;   /* requests finished (with an HTTP answer or not) */
	uint64_t errors;  /* of them: not a success (retried or failed) */
	double ttfb[3];
	double total[3];
} bg_bench_lat;

typedef struct bg_bench_phase {
	bool ran;
	bool latencies;   /* false for the copy phase */
	uint64_t bytes;   /* data bytes the phase moved (successfully) */
	uint64_t objects; /* objects done */
	uint64_t failed;  /* objects (or cleanup items) that failed */
	uint64_t requests, retries, errors;
	double wall_s, cpu_s, cpu_s_per_gib, mb_s, objects_s;
	long peak_rss_kib; /* ru_maxrss at the end of the phase (process peak) */
	bg_bench_lat ops[BG_BOP_COUNT];
	char error[BG_MSG_MAX]; /* the first failure, "" if none */
} bg_bench_phase;

typedef struct bg_bench_result {
	char run_id[32];
	char src_prefix[BG_KEY_MAX + 1]; /* scratch keys on each side */
	char dst_prefix[BG_KEY_MAX + 1];
	uint64_t part_size;              /* the upload's (uniform) part size */
	unsigned parts_per_object;
	bg_bench_phase phase[BG_BPH_COUNT];
	bg_copy_stats copy;
} bg_bench_result;

typedef struct bg_bench_opts {
	bg_location src, dst;
	bg_endpoint src_ep, dst_ep;
	uint64_t size;        /* bytes per object */
	unsigned count;       /* objects */
	unsigned concurrency; /* transfers in flight */
	uint64_t part_size;   /* multipart above this (upload and copy) */
	uint64_t memory;      /* the copy's budget; bounds bench's own slots too */
	unsigned retries;     /* attempts per request */
	bg_cksum_mode cksum;  /* for the copy phase */
	bool keep;            /* leave the scratch objects */
	const char *run_id;   /* "barge-bench-<run_id>/"; NULL: random */
	void (*on_phase)(void *ctx, bg_bench_phase_id ph, const bg_bench_phase *p);
	void *ctx;
	volatile int *stop;   /* set non-zero (from a signal) to stop early */
} bg_bench_opts;

/* Budget one transfer slot of bench's own phases is counted for. */
#define BG_BENCH_SLOT_COST (1024u * 1024u)

/* Runs every phase (cleanup even after a failed phase, unless keep).
 * BG_OK: all succeeded.  BG_E_INTEGRITY: some objects failed (named in
 * the phases' error).  Other codes: setup errors (st). */
bg_err bg_bench_run(const bg_bench_opts *o, bg_bench_result *res, bg_status *st);

/* ---- pieces with no I/O, exposed for tests ---------------------------- */

/* Word i (bytes 8i..8i+7, little-endian) of the object whose seed is seed:
 * splitmix64's finaliser of seed + (i + 1) * golden ratio.  The one
 * definition of the content, shared with barge-synth (bench/synth/gen.c). */
static inline uint64_t bg_bench_word(uint64_t seed, uint64_t i)
{
	uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* The content generator (barge-synth's): fills buf with the bytes
 * [off, off + len) of the object whose seed is seed. */
void bg_bench_gen(uint64_t seed, uint64_t off, void *buf, size_t len);
/* FNV-1a 64 of the full key: the object's seed. */
uint64_t bg_bench_seed(const char *key, size_t len);
/* Nearest-rank percentile (q in (0, 1]) of n values, sorting v in place. */
uint32_t bg_bench_pct(uint32_t *v, size_t n, double q);

#endif
