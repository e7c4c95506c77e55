/* copy_int.h - what the rooms of the copy scheduler share (engine/copy*.c):
 * the object, transfer and control-slot tables, and the functions one room
 * calls in another.  Nothing outside engine/copy*.c includes it. */
#ifndef BG_COPY_INT_H
#define BG_COPY_INT_H

#include "copy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
/* Inlined: compiled for this CPU's vector unit (AVX2/AVX-512), about twice
 * the speed of the distribution's generic build on the hot path. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "bwlimit.h"
#include "cksum.h"
#include "run.h"
#include "md5.h"
#include "http.h"
#include "journal.h"
#include "lister.h"
#include "local.h"
#include "pool.h"
#include "s3.h"

#define QUEUE_MAX 4096
#define NCTL_MIN 8
#define POOL_BLOCK (64 * 1024)
#define LIST_BODY_MAX (16u << 20)
#define CTL_BODY_MAX (2u << 20)
#define XFER_BODY_MAX (64u << 10)
#define MAX_RESTARTS 3
#define IOV_WINDOW 256        /* iovecs per file read or write */
#define VERIFY_BUF (1u << 20) /* re-reading a resumed download's parts */
#define REQ_LOCAL 1           /* bg_s3_req.tag: answered by file work, not HTTP */
#define STREAM_LOW (256u << 10) /* a starved cut-through upload resumes with this much */
#define WB_RING (2u << 20)    /* pool bytes a download part holds (write-behind) */
#define WB_CHUNK (256u << 10) /* bytes of a running download GET worth a file write */
#define HALT_GRACE_NS (5000000000ull) /* a stop's aborts and commits get this long */

typedef struct pending {
	char key[BG_KEY_MAX + 1];
	uint64_t size;
	char etag[BG_ETAG_MAX];
	char last_modified[BG_DATE_MAX];
} pending;

/* An object's states (copy_state.c has the table of moves between them). */
typedef enum ostate {
	O_FREE,      /* the slot is free */
	O_ADMIT,     /* taken from the queue; its journal row and plan are looked at */
	O_SMALL,     /* a single PUT: waiting for or in its data transfer */
	O_HEAD,      /* HEAD of the source */
	O_HEAD_PART, /* HEAD ?partNumber=1 for the source part size */
	O_HEAD_LAST, /* HEAD ?partNumber=N: is the last part what uniform parts leave? */
	O_HEAD_MID,  /* HEAD ?partNumber=k, k = 2..N-1, after the ETag did not match */
	O_CREATE,    /* CreateMultipartUpload (first, with a journal, its intent) */
	O_PARTS,     /* parts being read and uploaded */
	O_COMPLETE,  /* CompleteMultipartUpload */
	O_VERIFY,    /* HEAD of the destination: size and ETag */
	O_RECHECK,   /* resuming, our upload gone: is the object there already? */
	O_SWEEP,     /* ListMultipartUploads: every upload of the key is aborted */
	O_SWEEP_ABORT, /* abort one upload the sweep found */
	O_ABORT,     /* AbortMultipartUpload of our upload (failed or restarting) */
	O_ABORTED,   /* our upload is gone: settled next (finished or restarted) */
	/* resuming from the journal */
	O_UPLOADS,     /* ListMultipartUploads of the key: find ours, and strays */
	O_ABORT_STRAY, /* abort an upload of the key that is not (or no longer) ours */
	O_LISTPARTS,   /* ListParts of our upload: which journaled parts are there */
	O_PROVED,    /* at the destination, proved: finished next */
	O_JFINAL,    /* finished; waiting for the journal to commit its record */
	O_COUNT
} ostate;

#define CTL_SRC 1u    /* served by a control request to the source */
#define CTL_DST 2u    /* ... to the destination */
#define CTL_CLEANS 4u /* it takes uploads down: it goes on when the object failed */

typedef struct cp_ostate_info {
	const char *name;  /* in traces: "key: HEAD => CREATE" */
	uint32_t next;     /* the states that may follow (bit per state) */
	unsigned ctl;      /* CTL_*: 0 when no control request serves the state */
	bg_m_op op;        /* that request, for the metrics */
	const char *what;  /* ... for messages */
} cp_ostate_info;
extern const cp_ostate_info cp_ostates[O_COUNT];

typedef struct obj obj;
struct obj {
	ostate state;
	bool ctl_busy;   /* a control request is in flight or waiting */
	bool failed;     /* finish by aborting then reporting */
	bool restart;    /* source changed: abort, then start over */
	/* A single-part source copied in parts: its ETag is the MD5 of the
	 * whole object, and no destination ETag can be compared with it.  So
	 * the parts' bytes, as read, go through one MD5 in part order
	 * (whole_turn), compared with the ETag before Complete. */
	bool whole_md5;
	bool whole_ok;        /* the MD5 of every part's bytes matched the ETag */
	uint32_t whole_next;  /* the next part the MD5 takes */
	bg_md5 whole;
	bool etag_opaque; /* SSE-KMS/SSE-C source: its ETag is no MD5 of the bytes,
			   * so no ETag comparison can prove them (barge's own
			   * proof, the parts' MD5s, stands alone) */
	bool data_started;
	obj *next;       /* admission-ordered active list */
	char key[BG_KEY_MAX + 1];
	char dkey[BG_KEY_MAX + 1];
	uint64_t size;
	char etag[BG_ETAG_MAX];
	char put_etag[BG_ETAG_MAX];
	char expect_etag[BG_ETAG_MAX];
	char dst_etag[BG_ETAG_MAX];
	bg_plan plan;
	uint64_t src_part_size;
	uint32_t mid_next;    /* O_HEAD_MID: the next middle part to ask about */
	bool no_reuse;        /* a middle part of the source is of another size */
	char upload_id[BG_TOKEN_MAX];
	bg_meta meta;
	uint32_t next_part, parts_done, parts_inflight;
	unsigned restarts;
	char err[BG_MSG_MAX];
	/* journal */
	int64_t jid;          /* objects.id */
	uint64_t jwait;       /* go on once the journal has committed this record */
	bool jcreating;       /* the CREATING record is written */
	bool own_seen;        /* O_UPLOADS found our journaled upload */
	bool resumed;         /* continues an upload of an earlier run */
	bool create_lost;     /* a CreateMultipartUpload answer was lost: an upload
			       * we never heard of may exist */
	bool orphan;          /* not listed: a journal row of an earlier run whose
			       * uploads are swept (sweep_orphans) */
	/* local files: the source file, the download's temporary file and
	 * the directory it is in (-1 when not open) */
	int sfd, tfd, dirfd;
	char last_modified[BG_DATE_MAX];
	unsigned lp_marker;   /* ListParts part-number-marker */
	char lu_key[BG_KEY_MAX + 1], lu_upload[BG_TOKEN_MAX]; /* ListMultipartUploads markers */
	char stray_id[BG_TOKEN_MAX];
	/* per part tables (not cleared on admission) */
	unsigned char (*md5)[16]; /* per part destination ETag, binary */
	uint32_t *crc;            /* per part CRC32C */
	XXH128_hash_t *xxh;       /* per part XXH3-128 */
	unsigned char *pdone;     /* part uploaded (this run, or found from the journal) */
	unsigned char *jhave;     /* part journaled as uploaded (resume) */
};

typedef enum xphase {
	X_FREE,
	X_GET,   /* reading the part from the source */
	X_HASH,  /* read; its MD5 still to finish (md5_turn) */
	X_READY, /* read and hashed; waiting for an upload slot */
	X_PUT,   /* uploading it */
	X_HOLD,  /* uploaded; its bytes wait for the object's MD5 (whole_turn) */
	X_COUNT
} xphase;

typedef struct cp_xphase_info {
	const char *name; /* in traces: "key part 3: GET => PUT" */
	uint32_t next;    /* the phases that may follow (bit per phase) */
} cp_xphase_info;
extern const cp_xphase_info cp_xphases[X_COUNT];

typedef struct xfer {
	bg_s3_req req;
	struct bg_copy *cp;
	obj *o;
	xphase phase;
	bg_retry retry; /* its attempts; a retry scheduled (waiting) at retry.at */
	bool paused;  /* by the bandwidth limit: resumed when tokens are back */
	bool md5_on;  /* the GET computes the MD5 of the bytes */
	uint64_t hash_since; /* in X_HASH since (bg_now_ns) */
	uint64_t md5_moved;  /* its MD5 last took bytes, or its GET started */
	uint32_t part;
	uint64_t off, len, got;
	bg_chain chain;
	XXH3_state_t *xs;
	bg_md5 md5;
	bg_chain_cur md5_at; /* the chain's bytes before it are in md5 */
	uint32_t crc;
	XXH128_hash_t digest;
	unsigned char md5sum[16];
	/* local files */
	bg_fop fop;
	bool syncing; /* a single-part download's fdatasync is in flight */
	/* Write-behind (downloads, see wb_write): the GET's bytes go to the
	 * file while it runs, through a ring of at most WB_RING pool bytes. */
	bool wb;
	bool wfull;      /* the GET is paused: the ring holds only unwritten bytes */
	bool jpend;      /* the GET ended while a write was in flight: judged after it */
	uint64_t wsub;   /* bytes of the part handed to the kernel */
	uint64_t wdone;  /* bytes of the part written */
	struct iovec iov[IOV_WINDOW];
	/* Cut-through (see stream_start): the part's upload runs on sreq while
	 * its GET still arrives, sending the bytes that have arrived. */
	bg_s3_req sreq;
	bool streaming; /* sreq started for this GET and not yet judged */
	bool starved;   /* sreq paused: it has sent all that has arrived */
	bool spaused;   /* sreq paused by the bandwidth limit */
	bool sended;    /* sreq ended before the GET did: judged after it */
	bool nostream;  /* stream_start failed for this GET: no second try */
	uint64_t sent;  /* bytes sreq has taken */
} xfer;

typedef struct ctl {
	bg_s3_req req;
	struct bg_copy *cp;
	obj *o;
	bool busy;
	bg_retry retry;
	bg_buf body;
	char partno[12]; /* query value of a HEAD ?partNumber=N */
	bg_fop fop;      /* local files */
} ctl;

typedef struct bg_copy {
	const bg_copy_opts *o;
	bg_cksum_mode cksum;
	bg_http http;
	bg_pool pool;
	xfer *xf;
	struct md5_run *md5_runs; /* md5_turn's table, one per transfer */
	unsigned nxf;
	ctl *ctls;
	unsigned nctl; /* control slots: HEADs, Create, Complete, ... */
	obj *objs;
	unsigned nobjs;
	obj *active_head, *active_tail;
	unsigned active;
	pending *queue;
	unsigned qhead, qlen;
	/* listing */
	bg_lister lister; /* the source's pages (an S3 source) */
	bool list_done;   /* every key is in the queue (or the run stops) */
	struct {          /* what a page's keys change, as it is delivered */
		unsigned qlen;
		uint64_t listed_objects, listed_bytes, skipped_objects;
	} list_mark;
	char src_prefix[BG_KEY_MAX + 2], dst_prefix[BG_KEY_MAX + 2];
	size_t src_plen;
	bg_copy_stats stats;
	bg_journal *j;
	XXH3_state_t *xs_obj; /* object digests from part digests */
	unsigned jwaiting;    /* objects waiting for a journal commit */
	uint64_t t0, last_progress;
	/* observability and control (loop thread only) */
	bg_metrics m;
	uint64_t last_metrics, last_bwread, jseq;
	bg_bucket bw_up, bw_down;
	bg_fatal fatal; /* the run's first fatal error */
	/* Stopping (Ctrl-C, or a fatal error): see halt().  Set only by the
	 * loop, at the top of a turn, so callbacks test this, never the
	 * signal's flag, and a stop never lands half way through a turn. */
	bool halting;
	uint64_t halt_deadline; /* then halt_force drops what is left */
	uint64_t left_open;     /* uploads halt_force could not abort */
	unsigned denied[2];     /* 403s in a row: source, destination (note_refusal) */
	uint64_t denied_at[2];  /* when the last of them came */
	uint64_t settled;       /* listed objects done, failed, skipped as done
				 * before, or dropped as directory markers: a run
				 * that ends unstopped has settled every one */
	/* local files as source or destination */
	bool lsrc, ldst;
	int src_root, dst_root; /* O_PATH descriptors of the two directories */
	bg_walk walk;
	bool walking;
	/* After a complete listing, journal rows still creating or uploading
	 * name keys no longer listed: sweep_orphans aborts their uploads. */
	bool sweep_done;
	int64_t sweep_after;    /* the last row taken */
	unsigned orphans_active;
	bool single;            /* the source is one file: single_key, single_dkey */
	char single_key[256], single_dkey[BG_KEY_MAX + 1];
	unsigned char *vbuf;    /* VERIFY_BUF bytes when the destination is local */
	bool stream;            /* parts upload while they are read (stream_start) */
} bg_copy;

typedef struct md5_run {
	xfer *x;
	const unsigned char *at;
	size_t n; /* whole 64-byte blocks */
} md5_run;

/* copy_bw.c */
void cp_bw_start(bg_copy *cp, uint64_t now);
void cp_bw_reload(bg_copy *cp, uint64_t now, bool force);
bool cp_bw_turn(bg_copy *cp, uint64_t now);

/* copy_state.c */
void cp_obj_to(bg_copy *cp, obj *o, ostate to);
void cp_xfer_to(bg_copy *cp, xfer *x, xphase to);
bool cp_cleaning(const obj *o);
bool cp_needs_ctl(const obj *o);

/* copy_obj.c */
void cp_obj_xxh_hex(bg_copy *cp, const obj *o, char hex[33]);
void cp_emit(bg_copy *cp, bg_obj_event_kind kind, obj *o, const char *error);
void cp_close_fd(int *fd);
void cp_obj_close_files(obj *o);
void cp_obj_release(bg_copy *cp, obj *o);
void cp_obj_finish(bg_copy *cp, obj *o);
void cp_obj_reset_for_plan(bg_copy *cp, obj *o);
void cp_obj_fail(bg_copy *cp, obj *o, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void cp_obj_settle(bg_copy *cp, obj *o);
void cp_note_req(bg_copy *cp, bg_s3_req *r, bg_m_ep ep, bg_m_op op);
bg_s3_outcome cp_classify(bg_copy *cp, bg_s3_req *r, bg_m_ep ep, char *msg, size_t cap);
void cp_note_retry(bg_copy *cp, const bg_s3_req *r, bg_m_op op, const char *key, unsigned attempt, const char *msg, bool integrity);
int cp_req_start(bg_copy *cp, bg_s3_req *r, const bg_endpoint *ep, const bg_s3_call *c, bg_status *st);
int cp_obj_req_start(bg_copy *cp, obj *o, bg_s3_req *r, const bg_endpoint *ep, const bg_s3_call *c, const char *what);
obj *cp_obj_take(bg_copy *cp);
void cp_admit(bg_copy *cp);
void cp_planned_from_head(bg_copy *cp, obj *o);

/* copy_ctl.c */
void cp_multipart_etag(const obj *o, char *out, size_t cap);
void cp_ctl_release(bg_copy *cp, ctl *c);
void cp_ctl_done(bg_s3_req *r);
void cp_dispatch_ctl(bg_copy *cp, uint64_t now);

/* copy_resume.c */
bool cp_jready(const bg_copy *cp, const obj *o);
uint64_t cp_jwrite(bg_copy *cp, obj *o, bg_jstate state, const char *error);
void cp_jpart(bg_copy *cp, obj *o, uint32_t part, bool uploaded, unsigned attempts);
void cp_orphan_finish(bg_copy *cp, obj *o);
int cp_jlookup(bg_copy *cp, obj *o, bg_jobject *jo);
bool cp_jadmit(bg_copy *cp, obj *o, const bg_jobject *jo);
void cp_sweep_orphans(bg_copy *cp);
void cp_jfresh(bg_copy *cp, obj *o);
void cp_jgone(bg_copy *cp, obj *o);
void cp_sweep_begin(bg_copy *cp, obj *o);
void cp_uploads_done(bg_copy *cp, obj *o, bg_s3_req *r, bool local);
void cp_stray_aborted(bg_copy *cp, obj *o, bg_s3_req *r, bool local);
void cp_listparts_done(bg_copy *cp, obj *o, bg_s3_req *r, bool local);
void cp_whole_resume(obj *o);
int cp_on_upload(void *ctx, const bg_xml_upload *u);
int cp_on_listed_part(void *ctx, const bg_xml_part *p);
bool cp_jdead(bg_copy *cp);
void cp_finish_journaled(bg_copy *cp);

/* copy_list.c */
int cp_list_init(bg_copy *cp, bg_status *st);
void cp_maybe_list(bg_copy *cp);

/* copy_xfer.c */
void cp_xfer_hash(void *ctx, const unsigned char *p, size_t n);
void cp_stream_cancel(bg_copy *cp, xfer *x);
void cp_stream_turn(bg_copy *cp);
void cp_xfer_free(bg_copy *cp, xfer *x);
void cp_xfer_done(bg_s3_req *r);
void cp_xfer_judge(bg_copy *cp, xfer *x, bg_s3_req *r);
void cp_xfer_fop_done(bg_fop *op);
void cp_dispatch_data(bg_copy *cp, uint64_t now);

/* copy_md5.c */
uint64_t cp_md5_turn(bg_copy *cp);
void cp_whole_turn(bg_copy *cp);

/* copy_local.c */
uint64_t cp_wb_cap(const bg_copy *cp, const xfer *x);
int cp_wb_append(bg_copy *cp, xfer *x, const char *p, size_t n);
int cp_wb_write(bg_copy *cp, xfer *x);
int cp_local_get(bg_copy *cp, xfer *x);
int cp_local_create(bg_copy *cp, obj *o);
int cp_local_put(bg_copy *cp, xfer *x);
void cp_local_get_done(bg_copy *cp, xfer *x, int res);
void cp_local_put_done(bg_copy *cp, xfer *x, int res);
void cp_wb_done(bg_copy *cp, xfer *x, int res);
bool cp_local_ctl_side(const bg_copy *cp, ostate s);
int cp_local_ctl(bg_copy *cp, ctl *c);
void cp_ctl_fop_done(bg_fop *op);

#endif
