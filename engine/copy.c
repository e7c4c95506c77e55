/* copy.c - the copy scheduler (see copy.h).
 *
 * Objects come from the source listing into a bounded queue, then into a
 * fixed table of object slots.  Each slot walks a small state machine:
 *
 *   small object:  GET (If-Match) -> PUT -> HEAD dst -> done
 *   multipart:     HEAD src [-> HEAD src ?partNumber=1] -> Create ->
 *                  parts: GET range (If-Match) -> UploadPart ->
 *                  Complete -> HEAD dst -> done
 *   any failure with an open upload: Abort -> failed
 *
 * Data requests (GET/PUT of bytes) run on `concurrency` transfer slots and
 * need their bytes reserved in the pool first; control requests (HEAD,
 * Create, Complete, Abort) run on a few control slots.  Work is dispatched
 * in admission order and stops at the first part the pool cannot hold, so
 * big parts are not starved by small ones.  Every request is retried with
 * capped exponential backoff and full jitter when the outcome says so. */
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

#include "cksum.h"
#include "md5.h"
#include "http.h"
#include "journal.h"
#include "local.h"
#include "pool.h"
#include "s3.h"

#define QUEUE_MAX 4096
#define LIST_PAGE 1000 /* max-keys: a listing page needs this much queue room */
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

typedef enum ostate {
	O_FREE,
	O_SMALL,     /* waiting for or in its data transfer */
	O_HEAD,      /* HEAD of the source */
	O_HEAD_PART, /* HEAD ?partNumber=1 for the source part size */
	O_HEAD_LAST, /* HEAD ?partNumber=N: is the last part what uniform parts leave? */
	O_CREATE,
	O_PARTS,
	O_COMPLETE,
	O_VERIFY,
	O_ABORT,
	/* resuming from the journal */
	O_UPLOADS,     /* ListMultipartUploads of the key: find ours, and strays */
	O_ABORT_STRAY, /* abort an upload of the key that is not (or no longer) ours */
	O_LISTPARTS,   /* ListParts of our upload: which journaled parts are there */
	O_JFINAL,      /* finished; waiting for the journal to commit its record */
} ostate;

typedef struct obj obj;
struct obj {
	ostate state;
	bool ctl_busy;   /* a control request is in flight or waiting */
	bool failed;     /* finish by aborting then reporting */
	bool restart;    /* source changed: abort, then start over */
	bool no_reuse;   /* the source's part layout proved not uniform */
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
	char upload_id[BG_TOKEN_MAX];
	bg_meta meta;
	uint32_t next_part, parts_done, parts_inflight;
	unsigned restarts;
	char err[BG_MSG_MAX];
	/* journal */
	int64_t jid;          /* objects.id */
	uint64_t jwait;       /* go on once the journal has committed this record */
	bool jcreating;       /* the CREATING record is written */
	bool jfinal;          /* the DONE/FAILED record is written */
	bool own_seen;        /* O_UPLOADS found our journaled upload */
	bool resumed;         /* continues an upload of an earlier run */
	bool recheck;         /* its upload is gone: is the object there already? */
	bool create_lost;     /* a CreateMultipartUpload answer was lost: an upload
			       * we never heard of may exist */
	bool sweeping;        /* O_UPLOADS after the copy: abort such uploads */
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
} xphase;

typedef struct xfer {
	bg_s3_req req;
	struct bg_copy *cp;
	obj *o;
	xphase phase;
	bool waiting; /* retry scheduled at retry_at */
	bool paused;  /* by the bandwidth limit: resumed when tokens are back */
	bool md5_on;  /* the GET computes the MD5 of the bytes */
	uint64_t hash_since; /* in X_HASH since (bg_now_ns) */
	uint64_t md5_moved;  /* its MD5 last took bytes, or its GET started */
	uint64_t retry_at;
	unsigned attempt;
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
	bool busy, waiting;
	uint64_t retry_at;
	unsigned attempt;
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
	bg_s3_req list;
	bool list_busy, list_waiting, list_done;
	bool list_overflow; /* a page held more keys than the queue had room for */
	uint64_t list_retry_at;
	unsigned list_attempt;
	char token[BG_TOKEN_MAX];
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
	bool fatal;
	bg_status fatal_st;
	/* Stopping (Ctrl-C, or a fatal error): see halt().  Set only by the
	 * loop, at the top of a turn, so callbacks test this, never the
	 * signal's flag, and a stop never lands half way through a turn. */
	bool halting;
	uint64_t halt_deadline; /* then halt_force drops what is left */
	uint64_t left_open;     /* uploads halt_force could not abort */
	unsigned denied[2];     /* 403s in a row: source, destination (note_refusal) */
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

/* ---- helpers ---------------------------------------------------------- */

bool bg_copy_filter(const char *const *filters, unsigned n, const char *rel)
{
	/* Default: included, unless the first filter is an include (then
	 * only what an include matches).  The last matching filter wins. */
	bool in = !(n && filters[0][0] == '+');
	for (unsigned i = 0; i < n; i++)
		if (fnmatch(filters[i] + 1, rel, 0) == 0)
			in = filters[i][0] == '+';
	return in;
}

static void norm_prefix(const char *p, char *out, size_t cap)
{
	size_t n = strlen(p);
	bg_snprintf(out, cap, "%s%s", p, (n && p[n - 1] != '/') ? "/" : "");
}

/* The object's XXH3-128 in hex: a single PUT's is that of its bytes; a
 * multipart object's is the XXH3-128 of its parts' canonical digests in
 * part order (what the journal's parts rows let anyone recompute). */
static void obj_xxh_hex(bg_copy *cp, const obj *o, char hex[33])
{
	XXH128_canonical_t c;
	if (!o->plan.multipart) {
		XXH128_canonicalFromHash(&c, o->xxh[0]);
	} else {
		XXH3_128bits_reset(cp->xs_obj);
		for (uint32_t i = 0; i < o->plan.nparts; i++) {
			XXH128_canonical_t pc;
			XXH128_canonicalFromHash(&pc, o->xxh[i]);
			XXH3_128bits_update(cp->xs_obj, pc.digest, sizeof(pc.digest));
		}
		XXH128_canonicalFromHash(&c, XXH3_128bits_digest(cp->xs_obj));
	}
	bg_hex(c.digest, 16, hex);
}

static void emit(bg_copy *cp, bg_obj_event_kind kind, obj *o, const char *error)
{
	if (!cp->o->on_object)
		return;
	char hex[33] = "";
	if (kind == BG_EV_DONE)
		obj_xxh_hex(cp, o, hex);
	bg_obj_event e = {
		.kind = kind, .key = o->key, .dst_key = o->dkey, .size = o->size,
		.src_etag = o->etag, .dst_etag = o->dst_etag,
		.same_etag = o->dst_etag[0] && strcmp(o->dst_etag, o->etag) == 0,
		.plan = &o->plan, .xxh3 = hex, .error = error,
	};
	cp->o->on_object(cp->o->ctx, &e);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void obj_close_files(obj *o)
{
	close_fd(&o->sfd);
	close_fd(&o->tfd);
	close_fd(&o->dirfd);
}

static void obj_release(bg_copy *cp, obj *o)
{
	obj_close_files(o);
	/* unlink from the active list */
	obj **pp = &cp->active_head, *prev = NULL;
	while (*pp && *pp != o) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	BG_ASSERT(*pp == o);
	*pp = o->next;
	if (cp->active_tail == o)
		cp->active_tail = prev;
	o->next = NULL;
	o->state = O_FREE;
	cp->active--;
}

/* ---- journal ---------------------------------------------------------- */

static bool jready(const bg_copy *cp, const obj *o)
{
	return !cp->j || o->jwait == 0 || bg_journal_committed(cp->j) >= o->jwait;
}

/* The object's row as it stands now. */
static uint64_t jwrite(bg_copy *cp, obj *o, bg_jstate state, const char *error)
{
	char hex[33] = "";
	if (state == BG_JS_DONE)
		obj_xxh_hex(cp, o, hex);
	bg_jobject_rec r = {
		.id = o->jid, .key = o->key, .dst_key = o->dkey, .size = o->size,
		.src_etag = o->etag, .last_modified = o->last_modified[0] ? o->last_modified : NULL,
		.part_size = o->plan.multipart ? o->plan.part_size : 0,
		.nparts = o->plan.nparts, .same_layout = o->plan.same_layout,
		.upload_id = o->upload_id[0] ? o->upload_id : NULL, .state = state,
		.dst_etag = o->dst_etag[0] ? o->dst_etag : NULL, .xxh3 = hex[0] ? hex : NULL,
		.error = error,
	};
	uint64_t seq = bg_journal_object(cp->j, &r);
	if (seq > cp->jseq)
		cp->jseq = seq;
	return seq;
}

static void jpart(bg_copy *cp, obj *o, uint32_t part, bool uploaded, unsigned attempts)
{
	bg_jpart p = { .number = part + 1, .crc32c = o->crc[part] };
	bg_plan_part_range(&o->plan, o->size, part, &p.offset, &p.length);
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, o->xxh[part]);
	memcpy(p.xxh3, c.digest, 16);
	bg_hex(o->md5[part], 16, p.etag);
	uint64_t seq = bg_journal_part(cp->j, o->jid, &p, uploaded, attempts);
	if (seq > cp->jseq)
		cp->jseq = seq;
}

/* An orphan's uploads are gone: its row leaves the journal (if that does
 * not commit, the next run sweeps it again). */
static void orphan_finish(bg_copy *cp, obj *o)
{
	cp->orphans_active--;
	if (o->failed) {
		bg_journal_error(cp->j, o->jid, o->key, o->err);
		cp->stats.failed_objects++;
		emit(cp, BG_EV_FAILED, o, o->err);
	} else {
		static const char why[] = "no longer listed at the source: its open upload (if "
					  "any) was aborted and its journal row dropped";
		bg_journal_error(cp->j, o->jid, o->key, why);
		bg_journal_drop_object(cp->j, o->jid);
		cp->stats.orphans++;
		emit(cp, BG_EV_SKIPPED, o, why);
	}
	obj_release(cp, o);
}

static void obj_finish(bg_copy *cp, obj *o)
{
	BG_ASSERT(o->parts_inflight == 0 && !o->ctl_busy);
	if (o->orphan) {
		orphan_finish(cp, o);
		return;
	}
	if (cp->j && !cp->o->dry_run && !o->jfinal) {
		/* Counted and reported once the record has committed. */
		o->jfinal = true;
		if (o->failed)
			bg_journal_error(cp->j, o->jid, o->key, o->err);
		o->jwait = jwrite(cp, o, o->failed ? BG_JS_FAILED : BG_JS_DONE,
				  o->failed ? o->err : NULL);
		o->state = O_JFINAL;
		return;
	}
	cp->settled++;
	if (o->failed) {
		cp->stats.failed_objects++;
		emit(cp, BG_EV_FAILED, o, o->err);
	} else {
		cp->stats.done_objects++;
		cp->stats.done_bytes += o->size;
		if (strcmp(o->dst_etag, o->etag) == 0)
			cp->stats.same_etag++;
		emit(cp, BG_EV_DONE, o, NULL);
	}
	obj_release(cp, o);
}

static void obj_reset_for_plan(bg_copy *cp, obj *o)
{
	if (cp->j)
		bg_journal_forget_parts(cp->j, o->jid); /* a new upload, new parts */
	obj_close_files(o); /* a restart reopens the (maybe new) source file */
	o->jcreating = o->resumed = o->own_seen = false;
	o->next_part = o->parts_done = o->parts_inflight = 0;
	o->upload_id[0] = '\0';
	o->put_etag[0] = o->expect_etag[0] = o->dst_etag[0] = '\0';
	o->data_started = false;
}

/* A permanent problem: stop dispatching, abort the upload if one is open. */
/* Has the user asked the copy to stop (Ctrl-C)? */
static bool stop_asked(const bg_copy *cp)
{
	return cp->o->stop && *cp->o->stop;
}

static void obj_fail(bg_copy *cp, obj *o, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void obj_fail(bg_copy *cp, obj *o, const char *fmt, ...)
{
	(void)cp;
	if (o->failed)
		return;
	o->failed = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(o->err, sizeof(o->err), fmt, ap);
	va_end(ap);
}

/* Is the object taking its uploads down (its own, or every one of its key)?
 * That goes on when it has failed. */
static bool cleaning(const obj *o)
{
	return o->state == O_ABORT ||
	       (o->sweeping && (o->state == O_UPLOADS || o->state == O_ABORT_STRAY));
}

/* Called whenever an object may be able to move on after a request. */
static void obj_settle(bg_copy *cp, obj *o)
{
	if (o->parts_inflight || o->ctl_busy)
		return;
	if (o->failed || o->restart) {
		if (o->upload_id[0]) {
			/* dispatch_ctl sends the abort; it clears upload_id */
			o->state = O_ABORT;
			return;
		}
		if (o->failed && cleaning(o))
			return; /* its sweep goes on (O_UPLOADS, O_ABORT_STRAY) */
		if (o->failed && o->create_lost && !o->sweeping) {
			/* A Create whose answer was lost may have made an upload
			 * we never heard of: abort every upload of the key. */
			o->sweeping = true;
			o->lu_key[0] = o->lu_upload[0] = '\0';
			o->state = O_UPLOADS;
			return;
		}
		if (o->restart && !o->failed) {
			o->restart = false;
			o->restarts++;
			obj_reset_for_plan(cp, o);
			o->etag[0] = '\0'; /* learn the new one */
			o->state = O_HEAD;
			return;
		}
		obj_finish(cp, o);
	}
}

static bool is_retry_due(bool waiting, uint64_t at, uint64_t now)
{
	return waiting && now >= at;
}

/* ---- metrics ---------------------------------------------------------- */

/* Counts one finished request (every attempt, in its done callback). */
static void note_req(bg_copy *cp, bg_s3_req *r, bg_m_ep ep, bg_m_op op)
{
	if (r->tag == REQ_LOCAL) {
		r->tag = 0; /* file work: not a request */
		return;
	}
	curl_off_t ttfb = 0, total = 0;
	curl_easy_getinfo(r->http.easy, CURLINFO_STARTTRANSFER_TIME_T, &ttfb);
	curl_easy_getinfo(r->http.easy, CURLINFO_TOTAL_TIME_T, &total);
	bg_metrics_request(&cp->m, ep, op, r->status, (int)r->http.result, ttfb, total);
}

/* Answers that are not about one object but about the whole copy: the
 * bucket is gone, the keys are refused, or access is denied request after
 * request (keys revoked, a policy changed).  Each would fail every object
 * that follows, one line each, so the run stops with one line instead.
 * One AccessDenied can be a policy on one key: three in a row on a side,
 * with no success between, are taken as the side's. */
#define DENIED_IN_A_ROW 3

static void set_fatal(bg_copy *cp, bg_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void note_refusal(bg_copy *cp, const bg_s3_req *r, bg_m_ep ep, bg_s3_outcome out)
{
	static const char *const creds[] = {
		"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
		"AccountProblem", "AllAccessDisabled",
	};
	bool dst = ep == BG_MX_DST;
	const char *side = dst ? "destination" : "source";
	const char *bucket = dst ? cp->o->dst.bucket : cp->o->src.bucket;
	const char *url = dst ? cp->o->dst_ep.url : cp->o->src_ep.url;
	const char *code = r->err.code;
	if (out == BG_S3_DONE && r->status >= 200 && r->status < 300) {
		cp->denied[dst] = 0;
		return;
	}
	if (out != BG_S3_FAIL)
		return;
	if (strcmp(code, "NoSuchBucket") == 0) {
		set_fatal(cp, BG_E_CONFIG, "the %s bucket '%s' does not exist (any more) at %s", side,
			  bucket, url);
		return;
	}
	for (size_t i = 0; i < sizeof(creds) / sizeof(creds[0]); i++)
		if (strcmp(code, creds[i]) == 0) {
			set_fatal(cp, BG_E_CONFIG, "the %s at %s refuses barge's keys (%s): check the %s "
				  "credentials", side, url, code, side);
			return;
		}
	if (r->status == 403 && ++cp->denied[dst] >= DENIED_IN_A_ROW)
		set_fatal(cp, BG_E_CONFIG, "the %s bucket '%s' at %s denies access (%s on %u requests "
			  "in a row): check what the %s keys may do", side, bucket, url,
			  code[0] ? code : "HTTP 403", cp->denied[dst], side);
}

/* bg_s3_classify, and what the answer says about the whole copy. */
static bg_s3_outcome classify(bg_copy *cp, bg_s3_req *r, bg_m_ep ep, char *msg, size_t cap)
{
	bg_s3_outcome out = bg_s3_classify(r, msg, cap);
	note_refusal(cp, r, ep, out);
	return out;
}

/* Counts a retry by cause and tells the tool (logs). r NULL or integrity:
 * the bytes or the answer were wrong, not the transport. */
static void note_retry(bg_copy *cp, const bg_s3_req *r, bg_m_op op, const char *key,
		       unsigned attempt, const char *msg, bool integrity)
{
	bg_m_cause c = BG_M_R_INTEGRITY;
	if (!integrity && r) {
		c = BG_M_R_5XX; /* also a 200 whose body is an error (Complete) */
		if (r->http.result == CURLE_OPERATION_TIMEDOUT)
			c = BG_M_R_TIMEOUT;
		else if (r->http.result != CURLE_OK || r->status == 0)
			c = BG_M_R_NETWORK;
		else if (r->status == 429 || strcmp(r->err.code, "SlowDown") == 0 ||
			 strcmp(r->err.code, "TooManyRequests") == 0)
			c = BG_M_R_THROTTLE;
		else if (strcmp(r->err.code, "RequestTimeout") == 0)
			c = BG_M_R_TIMEOUT;
	}
	cp->m.retries[c]++;
	cp->stats.retries++;
	if (cp->o->on_retry) {
		bg_retry_event e = { .key = key ? key : "", .op = bg_m_op_name(op),
				     .cause = bg_m_cause_name(c), .status = r ? r->status : 0,
				     .attempt = attempt, .message = msg };
		cp->o->on_retry(cp->o->ctx, &e);
	}
}

static bg_m_op ctl_op(ostate s)
{
	switch (s) {
	case O_HEAD: case O_HEAD_PART: case O_HEAD_LAST: case O_VERIFY: return BG_M_HEAD;
	case O_CREATE: return BG_M_CREATE;
	case O_COMPLETE: return BG_M_COMPLETE;
	case O_ABORT: case O_ABORT_STRAY: return BG_M_ABORT;
	case O_UPLOADS: return BG_M_LIST_UPLOADS;
	case O_LISTPARTS: return BG_M_LIST_PARTS;
	default: return BG_M_HEAD;
	}
}

static bg_m_ep ctl_ep(ostate s)
{
	return (s == O_HEAD || s == O_HEAD_PART || s == O_HEAD_LAST) ? BG_MX_SRC : BG_MX_DST;
}

/* Signs the call into r and hands it to curl; counted as a request. */
static int req_start(bg_copy *cp, bg_s3_req *r, const bg_endpoint *ep, const bg_s3_call *c,
		     bg_status *st)
{
	if (bg_s3_prepare(r, ep, c, st) < 0 || bg_s3_start(&cp->http, r) < 0)
		return -1;
	cp->stats.requests++;
	return 0;
}

/* req_start for one of o's requests: one that cannot start fails o. */
static int obj_req_start(bg_copy *cp, obj *o, bg_s3_req *r, const bg_endpoint *ep,
			 const bg_s3_call *c, const char *what)
{
	bg_status st = { 0 };
	if (req_start(cp, r, ep, c, &st) < 0) {
		obj_fail(cp, o, "cannot start %s: %s", what, st.msg);
		return -1;
	}
	return 0;
}

/* ---- listing ---------------------------------------------------------- */

static void local_notice(bg_copy *cp, bg_obj_event_kind kind, const char *rel, const char *why);

static int on_listed(void *ctx, const bg_xml_object *x)
{
	bg_copy *cp = ctx;
	if (x->key_len < cp->src_plen || memcmp(x->key, cp->src_prefix, cp->src_plen) != 0)
		return 0; /* not below the prefix (a server ignoring prefix) */
	const char *rel = x->key + cp->src_plen;
	if (!rel[0]) {
		/* "data/" itself when copying s3://b/data: the folder's marker,
		 * no object under it (its destination key would be the prefix,
		 * or "" with none: a PUT of the bucket, or a file without name) */
		local_notice(cp, BG_EV_SKIPPED, cp->src_prefix, "the folder marker of the source prefix");
		return 0;
	}
	if (!bg_copy_filter(cp->o->filters, cp->o->nfilters, rel)) {
		cp->stats.skipped_objects++;
		return 0;
	}
	if (cp->qlen == QUEUE_MAX) {
		cp->list_overflow = true; /* more keys than max-keys asked for */
		return 1;
	}
	pending *p = &cp->queue[(cp->qhead + cp->qlen) % QUEUE_MAX];
	memcpy(p->key, x->key, x->key_len);
	p->key[x->key_len] = '\0';
	p->size = x->size;
	bg_strlcpy(p->etag, x->etag, sizeof(p->etag));
	bg_strlcpy(p->last_modified, x->last_modified ? x->last_modified : "",
		   sizeof(p->last_modified));
	cp->qlen++;
	cp->stats.listed_objects++;
	cp->stats.listed_bytes += x->size;
	return 0;
}

static void set_fatal(bg_copy *cp, bg_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_fatal(bg_copy *cp, bg_err code, const char *fmt, ...)
{
	if (cp->fatal)
		return;
	cp->fatal = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cp->fatal_st.msg, sizeof(cp->fatal_st.msg), fmt, ap);
	va_end(ap);
	cp->fatal_st.code = code;
}

static void list_done(bg_s3_req *r)
{
	bg_copy *cp = r->owner;
	char msg[BG_MSG_MAX];
	cp->list_busy = false;
	note_req(cp, r, BG_MX_SRC, BG_M_LIST);
	bg_s3_outcome out = bg_s3_classify(r, msg, sizeof(msg));
	bool parse_failed = false;
	if (out == BG_S3_DONE) {
		bg_xml_list_result res;
		char err[256];
		unsigned before = cp->qlen;
		bg_copy_stats was = cp->stats;
		cp->list_overflow = false;
		if (bg_xml_parse_list(r->resp.data, r->resp.len, on_listed, cp, &res, err,
				      sizeof(err)) != 0) {
			/* The page may have been cut short: read it again, and
			 * count its keys once. */
			cp->qlen = before;
			cp->stats.listed_objects = was.listed_objects;
			cp->stats.listed_bytes = was.listed_bytes;
			cp->stats.skipped_objects = was.skipped_objects;
			if (cp->list_overflow) {
				set_fatal(cp, BG_E_PARSE, "the source's listing sent a page of more than "
					  "the %u keys asked for (%s)", LIST_PAGE, cp->o->src_ep.url);
				return;
			}
			bg_strlcpy(msg, err, sizeof(msg));
			out = BG_S3_RETRY;
			parse_failed = true;
		} else {
			cp->list_attempt = 0;
			if (res.is_truncated)
				bg_strlcpy(cp->token, res.next_token, sizeof(cp->token));
			else
				cp->list_done = cp->stats.listing_done = true;
			return;
		}
	}
	if (out == BG_S3_RETRY && ++cp->list_attempt < cp->o->retries) {
		note_retry(cp, r, BG_M_LIST, "", cp->list_attempt, msg, parse_failed);
		cp->list_waiting = true;
		cp->list_retry_at = bg_now_ns() + bg_s3_backoff_ns(r, cp->list_attempt);
		return;
	}
	if (strcmp(r->err.code, "NoSuchBucket") == 0)
		set_fatal(cp, BG_E_CONFIG, "source bucket '%s' does not exist (%s)",
			  cp->o->src.bucket, cp->o->src_ep.url);
	else
		set_fatal(cp, out == BG_S3_RETRY ? BG_E_NET : BG_E_CONFIG,
			  "cannot list the source: %s (%s)", msg, cp->o->src_ep.url);
}

/* A file the walk found and does not copy: skipped (a symlink) or failed
 * (an unreadable directory); named to the tool either way. */
static void local_notice(bg_copy *cp, bg_obj_event_kind kind, const char *rel, const char *why)
{
	if (kind == BG_EV_FAILED)
		cp->stats.failed_objects++;
	else
		cp->stats.skipped_objects++;
	if (!cp->o->on_object)
		return;
	bg_obj_event e = { .kind = kind, .key = rel, .dst_key = "", .src_etag = "", .dst_etag = "",
			   .xxh3 = "", .error = why };
	cp->o->on_object(cp->o->ctx, &e);
}

static void queue_local(bg_copy *cp, const char *rel, const struct stat *st)
{
	pending *p = &cp->queue[(cp->qhead + cp->qlen) % QUEUE_MAX];
	bg_strlcpy(p->key, rel, sizeof(p->key));
	p->size = (uint64_t)st->st_size;
	bg_local_etag(st, p->etag, sizeof(p->etag));
	struct tm tm;
	gmtime_r(&st->st_mtim.tv_sec, &tm);
	strftime(p->last_modified, sizeof(p->last_modified), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	cp->qlen++;
	cp->stats.listed_objects++;
	cp->stats.listed_bytes += p->size;
}

/* The local source: a bounded piece of the walk per loop turn. */
static void list_local(bg_copy *cp)
{
	if (cp->single) {
		struct stat st;
		if (fstatat(cp->src_root, cp->single_key, &st, 0) < 0)
			set_fatal(cp, BG_E_CONFIG, "source file %s: %s", cp->o->src.path, strerror(errno));
		else if (bg_copy_filter(cp->o->filters, cp->o->nfilters, cp->single_key))
			queue_local(cp, cp->single_key, &st);
		else
			cp->stats.skipped_objects++;
		cp->list_done = cp->stats.listing_done = true;
		return;
	}
	for (unsigned budget = 1024; budget && cp->qlen < QUEUE_MAX; budget--) {
		bg_walk_entry e;
		if (!bg_walk_next(&cp->walk, &e)) {
			bg_walk_close(&cp->walk);
			cp->walking = false;
			cp->list_done = cp->stats.listing_done = true;
			return;
		}
		if (!bg_copy_filter(cp->o->filters, cp->o->nfilters, e.rel)) {
			cp->stats.skipped_objects++;
			continue;
		}
		if (e.kind == BG_WALK_FILE)
			queue_local(cp, e.rel, &e.st);
		else
			local_notice(cp, e.kind == BG_WALK_SKIP ? BG_EV_SKIPPED : BG_EV_FAILED, e.rel,
				     e.why);
	}
}

static void maybe_list(bg_copy *cp)
{
	if (cp->list_done || cp->list_busy || cp->halting || cp->fatal)
		return;
	if (cp->lsrc) {
		list_local(cp);
		return;
	}
	if (cp->list_waiting && !is_retry_due(true, cp->list_retry_at, bg_now_ns()))
		return;
	if (QUEUE_MAX - cp->qlen < LIST_PAGE)
		return;
	cp->list_waiting = false;
	bg_query_param q[5];
	size_t nq = 0;
	char page[16];
	bg_snprintf(page, sizeof(page), "%u", LIST_PAGE);
	q[nq++] = (bg_query_param){ "list-type", "2" };
	q[nq++] = (bg_query_param){ "encoding-type", "url" };
	q[nq++] = (bg_query_param){ "max-keys", page };
	if (cp->src_prefix[0])
		q[nq++] = (bg_query_param){ "prefix", cp->src_prefix };
	if (cp->token[0])
		q[nq++] = (bg_query_param){ "continuation-token", cp->token };
	bg_s3_call c = { .method = "GET", .bucket = cp->o->src.bucket, .query = q, .nquery = nq };
	bg_status st = { 0 };
	if (req_start(cp, &cp->list, &cp->o->src_ep, &c, &st) < 0) {
		set_fatal(cp, BG_E_INTERNAL, "cannot start listing: %s", st.msg);
		return;
	}
	cp->list_busy = true;
}

/* ---- admission -------------------------------------------------------- */

/* The journal's row for the object: 1 found (o->jid is its id), 0 new
 * (a new id), -1 the journal cannot be read (fatal). */
static int jlookup(bg_copy *cp, obj *o, bg_jobject *jo)
{
	bg_status st = { 0 };
	int f = bg_journal_lookup(cp->j, o->key, jo, &st);
	if (f < 0) {
		set_fatal(cp, st.code ? st.code : BG_E_IO, "journal: %s", st.msg);
		return -1;
	}
	o->jid = f ? jo->id : bg_journal_new_id(cp->j);
	return f;
}

static void on_jpart(void *ctx, const bg_jpart *p)
{
	obj *o = ctx;
	if (p->number < 1 || p->number > o->plan.nparts)
		return;
	uint32_t i = p->number - 1;
	uint64_t off, len;
	bg_plan_part_range(&o->plan, o->size, i, &off, &len);
	unsigned char md5[16];
	if (p->offset != off || p->length != len || bg_unhex16(p->etag, md5) < 0)
		return; /* not this layout: send it again */
	memcpy(o->md5[i], md5, 16);
	o->crc[i] = p->crc32c;
	XXH128_canonical_t c;
	memcpy(c.digest, p->xxh3, 16);
	o->xxh[i] = XXH128_hashFromCanonical(&c);
	o->jhave[i] = 1;
}

/* An object the journal knows.  Returns true when admission is settled
 * here: done before (skipped), or uploads of an earlier run to look at
 * (O_UPLOADS); false to copy it the usual way. */
static bool jadmit(bg_copy *cp, obj *o, const bg_jobject *jo)
{
	bool same = jo->size == o->size && strcmp(jo->src_etag, o->etag) == 0;
	if (same && jo->state == BG_JS_DONE) {
		cp->stats.already_done_objects++;
		cp->settled++;
		cp->stats.already_done_bytes += o->size;
		obj_release(cp, o);
		return true;
	}
	/* Could an earlier run have left an upload of this key open? */
	if (!(jo->state == BG_JS_CREATING || jo->state == BG_JS_UPLOADING || jo->upload_id[0] ||
	      jo->part_size))
		return false;
	uint64_t ps = jo->part_size;
	/* A single-part source copied in parts is proved by one MD5 over all
	 * its bytes in order (whole_turn): parts sent by an earlier run were
	 * never in it, so its upload is not continued but made anew. */
	unsigned char md5[16];
	bool whole = !cp->ldst && bg_unhex16(o->etag, md5) == 0;
	if (same && !whole && jo->state == BG_JS_UPLOADING && jo->upload_id[0] && ps &&
	    ps <= (uint64_t)cp->pool.nblocks * POOL_BLOCK / 2 && jo->nparts >= 1 &&
	    jo->nparts <= BG_PARTS_MAX && (o->size + ps - 1) / ps == jo->nparts) {
		/* Continue it: parts the journal has and ListParts confirms stay. */
		o->plan = (bg_plan){ .multipart = true, .same_layout = jo->same_layout,
				     .part_size = ps, .nparts = jo->nparts };
		memset(o->pdone, 0, o->plan.nparts);
		memset(o->jhave, 0, o->plan.nparts);
		bg_strlcpy(o->upload_id, jo->upload_id, sizeof(o->upload_id));
		bg_status st = { 0 };
		if (bg_journal_load_parts(cp->j, o->jid, on_jpart, o, &st) < 0) {
			set_fatal(cp, st.code ? st.code : BG_E_IO, "journal: %s", st.msg);
			obj_release(cp, o);
			return true;
		}
		o->resumed = true;
		o->jcreating = true; /* its CREATING record is in the journal */
	}
	o->state = O_UPLOADS;
	return true;
}

/* A free object slot, linked at the end of the active list, or NULL. */
static obj *obj_take(bg_copy *cp)
{
	for (unsigned i = 0; i < cp->nobjs; i++) {
		obj *o = &cp->objs[i];
		if (o->state != O_FREE)
			continue;
		memset(o, 0, offsetof(obj, md5));
		o->sfd = o->tfd = o->dirfd = -1;
		if (cp->active_tail)
			cp->active_tail->next = o;
		else
			cp->active_head = o;
		cp->active_tail = o;
		cp->active++;
		return o;
	}
	return NULL;
}

/* Once every listed object is finished, the journal's rows still creating
 * or uploading are keys an earlier run left in progress that this run did
 * not list (deleted at the source, or newly excluded): each becomes an
 * orphan object that aborts every upload of its destination key (the
 * sweep of O_UPLOADS), then leaves the journal (orphan_finish). */
static void sweep_orphans(bg_copy *cp)
{
	if (!cp->j || cp->sweep_done || cp->halting || cp->fatal || !cp->list_done || cp->qlen ||
	    cp->active != cp->orphans_active)
		return;
	for (;;) {
		if (cp->active == cp->nobjs)
			return; /* the next turn goes on */
		int64_t id;
		char key[BG_KEY_MAX + 1], dkey[BG_KEY_MAX + 1];
		bg_status st = { 0 };
		int f = bg_journal_next_open(cp->j, cp->sweep_after, &id, key, sizeof(key), dkey,
					     sizeof(dkey), &st);
		if (f < 0)
			set_fatal(cp, st.code ? st.code : BG_E_IO, "journal: %s", st.msg);
		if (f <= 0) {
			cp->sweep_done = f == 0;
			return;
		}
		cp->sweep_after = id;
		obj *o = obj_take(cp);
		bg_strlcpy(o->key, key, sizeof(o->key));
		bg_strlcpy(o->dkey, dkey, sizeof(o->dkey));
		o->jid = id;
		o->orphan = o->sweeping = true;
		o->state = O_UPLOADS;
		cp->orphans_active++;
	}
}

static void admit(bg_copy *cp)
{
	if (cp->halting || cp->fatal)
		return;
	obj *o;
	while (cp->qlen && (o = obj_take(cp))) {
		pending *p = &cp->queue[cp->qhead];
		cp->qhead = (cp->qhead + 1) % QUEUE_MAX;
		cp->qlen--;
		bg_strlcpy(o->key, p->key, sizeof(o->key));
		o->size = p->size;
		bg_strlcpy(o->etag, p->etag, sizeof(o->etag));
		bg_strlcpy(o->last_modified, p->last_modified, sizeof(o->last_modified));
		o->state = O_VERIFY; /* any non-free state until decided below */
		bool long_key = bg_snprintf(o->dkey, sizeof(o->dkey), "%s%s", cp->dst_prefix,
					    p->key + cp->src_plen) < 0 ||
				strlen(o->dkey) > BG_KEY_MAX;
		if (cp->single)
			bg_strlcpy(o->dkey, cp->single_dkey, sizeof(o->dkey));
		char bad[200] = "";
		if (cp->ldst && !long_key) {
			size_t n = strlen(o->dkey);
			if (n && o->dkey[n - 1] == '/' && o->size == 0) {
				/* a directory marker: directories come with the files */
				cp->stats.skipped_objects++;
				cp->settled++;
				obj_release(cp, o);
				continue;
			}
			char why[160];
			if (n && o->dkey[n - 1] == '/')
				bg_snprintf(bad, sizeof(bad), "key '%s' cannot be a local file: it ends with '/'",
					    o->dkey);
			else if (bg_local_key_check(o->dkey, why, sizeof(why)) < 0)
				bg_snprintf(bad, sizeof(bad), "key cannot be a local file under %.40s: %s",
					    cp->o->dst.path, why);
		}
		if (cp->j && !cp->o->dry_run) {
			bg_jobject jo;
			int f = jlookup(cp, o, &jo);
			if (f < 0) {
				obj_release(cp, o);
				return;
			}
			if (!long_key && !bad[0] && f == 1 && jadmit(cp, o, &jo))
				continue;
		}
		if (long_key || bad[0]) {
			obj_fail(cp, o, "%s", long_key ? "destination key longer than 1024 bytes" : bad);
			obj_finish(cp, o);
			continue;
		}
		uint32_t src_parts = bg_plan_etag_parts(o->etag);
		bg_plan_input in = {
			.size = o->size, .threshold = cp->o->threshold,
			.part_size = cp->o->part_size, .max_part = (uint64_t)cp->pool.nblocks * POOL_BLOCK,
		};
		char err[256];
		if (cp->o->dry_run) {
			if (bg_plan_object(&in, &o->plan, err, sizeof(err)) < 0) {
				o->state = O_VERIFY;
				obj_fail(cp, o, "%s", err);
				obj_finish(cp, o);
				continue;
			}
			o->state = O_VERIFY;
			emit(cp, BG_EV_PLANNED, o, NULL);
			cp->stats.done_objects++;
			cp->stats.done_bytes += o->size;
			cp->settled++;
			obj_release(cp, o);
			continue;
		}
		if (!src_parts && o->size <= cp->o->threshold) {
			if (bg_plan_object(&in, &o->plan, err, sizeof(err)) < 0) {
				o->state = O_VERIFY;
				obj_fail(cp, o, "%s", err);
				obj_finish(cp, o);
				continue;
			}
			o->pdone[0] = 0;
			o->state = O_SMALL;
		} else {
			o->state = O_HEAD;
		}
	}
}

/* ---- data transfers --------------------------------------------------- */

/* The part's digests, over bytes as they arrive (or, for a file, once
 * they are all read).  MD5 is not here: md5_turn takes it between loop
 * turns, over many parts at once, and md5_finish the rest. */
static void xfer_hash(void *ctx, const unsigned char *p, size_t n)
{
	xfer *x = ctx;
	XXH3_128bits_update(x->xs, p, n);
	if (x->cp->cksum == BG_CKSUM_CRC32C)
		x->crc = bg_crc32c(x->crc, p, n);
}

/* MD5 is a chain of dependent steps, so one part at a time leaves most
 * of a core idle; bg_md5_lanes hashes up to BG_MD5_LANES parts in the
 * lanes of the vector registers instead.  So MD5 is not taken as bytes
 * arrive but in md5_turn, once per loop turn, over the parts whose GETs
 * have brought at least MD5_RUN_MIN bytes not yet hashed and the parts
 * whose GETs are done (X_HASH), the longest runs together, until fewer
 * than two are left.  Where bytes come interleaved from many connections
 * (a real network) the running GETs fill the lanes; where a part comes
 * in one burst (the loop reads all a socket holds at once) the done
 * parts do, so those wait a little for one another. */
#define MD5_RUN_MIN 1024              /* bytes of a running GET worth a lane */
#define MD5_GATHER (BG_MD5_LANES / 2) /* done parts hashed together at once */
#define MD5_WAIT_NS 20000000ull       /* longest a done part waits for company */
#define MD5_ALONE_MAX (1024 * 1024)   /* a done part with no more than this
				       * left waits for no one: it is hashed in
				       * the turn it is done, beside whatever
				       * else is ready (small objects come many
				       * a turn), or alone */

typedef struct md5_run {
	xfer *x;
	const unsigned char *at;
	size_t n; /* whole 64-byte blocks */
} md5_run;

static void md5_finish(bg_copy *cp, xfer *x);
static void xfer_free(bg_copy *cp, xfer *x);

/* Bytes of x not yet in its MD5. */
static uint64_t md5_left(const xfer *x)
{
	return x->chain.len - x->md5_at.off;
}

/* Hashes the bytes of x not yet in its MD5, one stream: whole 64-byte
 * blocks only, or (at the end) all of them. */
static void md5_alone(bg_copy *cp, xfer *x, bool all)
{
	const unsigned char *at;
	size_t n;
	while ((n = bg_chain_cur_peek(&cp->pool, &x->md5_at, x->chain.len, &at) &
		    (all ? ~(size_t)0 : ~(size_t)63)) > 0) {
		bg_md5_update(&x->md5, at, n);
		bg_chain_cur_advance(&cp->pool, &x->md5_at, n);
	}
}

/* Does x, a part whose GET is done, wait for others to hash beside it?
 * Only with more than MD5_ALONE_MAX left; less is hashed in the turn. */
static bool md5_may_wait(const xfer *x)
{
	return md5_left(x) > MD5_ALONE_MAX;
}

/* Whole 64-byte blocks of x not yet in its MD5, contiguous from *at. */
static size_t md5_run_at(bg_copy *cp, xfer *x, const unsigned char **at)
{
	return bg_chain_cur_peek(&cp->pool, &x->md5_at, x->chain.len, at) & ~(size_t)63;
}

/* Returns how long the loop may sleep before a part that waits in X_HASH
 * for one to hash beside it is hashed alone (UINT64_MAX: none waits). */
static uint64_t md5_turn(bg_copy *cp)
{
	md5_run *r = cp->md5_runs;
	/* Parts whose GETs are done wait for one another, up to MD5_WAIT_NS,
	 * while GETs or uploads are running (an upload's end lets a GET
	 * start): then MD5_GATHER or more of them are hashed together. */
	uint64_t now = bg_now_ns();
	unsigned busy = 0, ready = 0;
	bool due = false;
	for (unsigned i = 0; i < cp->nxf; i++) {
		xfer *x = &cp->xf[i];
		busy += (x->phase == X_GET && x->md5_on) || x->phase == X_PUT;
		if (x->phase == X_HASH && md5_may_wait(x)) {
			ready++;
			due |= now - x->hash_since >= MD5_WAIT_NS;
		}
	}
	bool gather = ready >= MD5_GATHER || due || !busy;
	for (;;) {
		unsigned n = 0;
		for (unsigned i = 0; i < cp->nxf; i++) {
			xfer *x = &cp->xf[i];
			if (!x->md5_on || x->waiting || (x->phase != X_GET && x->phase != X_HASH) ||
			    (x->phase == X_HASH && !gather && md5_may_wait(x)))
				continue;
			const unsigned char *at;
			size_t len = md5_run_at(cp, x, &at);
			if (!len || (x->phase == X_GET && len < MD5_RUN_MIN))
				continue;
			/* keep r sorted, longest first */
			unsigned j = n++;
			for (; j > 0 && r[j - 1].n < len; j--)
				r[j] = r[j - 1];
			r[j] = (md5_run){ x, at, len };
		}
		if (n < 2)
			break;
		if (n > BG_MD5_LANES)
			n = BG_MD5_LANES;
		bg_md5 *m[BG_MD5_LANES];
		const unsigned char *p[BG_MD5_LANES];
		for (unsigned i = 0; i < n; i++) {
			m[i] = &r[i].x->md5;
			p[i] = r[i].at;
		}
		size_t len = r[n - 1].n;
		bg_md5_lanes(m, p, n, len / 64);
		for (unsigned i = 0; i < n; i++) {
			bg_chain_cur_advance(&cp->pool, &r[i].x->md5_at, len);
			r[i].x->md5_moved = now;
		}
	}
	/* A running GET whose bytes have waited MD5_WAIT_NS for company (one
	 * GET alone, or a slow link) is hashed alone, so that it does not end
	 * with all its bytes still to hash. */
	for (unsigned i = 0; i < cp->nxf; i++) {
		xfer *x = &cp->xf[i];
		if (x->phase != X_GET || !x->md5_on || x->waiting ||
		    now - x->md5_moved < MD5_WAIT_NS)
			continue;
		md5_alone(cp, x, false);
		x->md5_moved = now;
	}
	/* What is left: a done part with little left is finished; one with
	 * more waits, and after MD5_WAIT_NS (or when nothing runs that could
	 * bring it company) is hashed alone. */
	uint64_t sleep = UINT64_MAX;
	for (unsigned i = 0; i < cp->nxf; i++) {
		xfer *x = &cp->xf[i];
		if (x->phase != X_HASH)
			continue;
		uint64_t waited = now - x->hash_since;
		if (md5_may_wait(x) && busy && waited < MD5_WAIT_NS) {
			if (MD5_WAIT_NS - waited < sleep)
				sleep = MD5_WAIT_NS - waited;
		} else {
			md5_finish(cp, x);
		}
	}
	return sleep;
}

/* The rest of a part's MD5, once its GET is done, and what follows:
 * a single-part source's ETag is the MD5 of its bytes. */
static void md5_finish(bg_copy *cp, xfer *x)
{
	md5_alone(cp, x, true);
	bg_md5_final(&x->md5, x->md5sum);
	obj *o = x->o;
	if (o->failed || o->restart) {
		xfer_free(cp, x);
		return;
	}
	unsigned char want[16];
	if (!o->plan.multipart && !o->etag_opaque && bg_unhex16(o->etag, want) == 0 &&
	    memcmp(want, x->md5sum, 16) != 0) {
		x->phase = X_GET;
		if (++x->attempt < cp->o->retries) {
			note_retry(cp, &x->req, BG_M_GET, o->key, x->attempt,
				   "bytes read do not match the source ETag", true);
			x->waiting = true;
			x->retry_at = bg_now_ns() + bg_s3_backoff_ns(NULL, x->attempt);
			return;
		}
		obj_fail(cp, o, "bytes read do not match the source ETag %s", o->etag);
		xfer_free(cp, x);
		return;
	}
	x->attempt = 0;
	x->phase = X_READY; /* dispatch_data uploads it when a slot is free */
}

/* ---- the MD5 of a single-part source read in parts ---------------------
 *
 * Parts are read side by side and end in any order; the object's MD5
 * takes them in part order.  A part whose GET is done waits, in whatever
 * phase it is (hashing, waiting for an upload slot, uploading), until the
 * parts before it are in; one already uploaded holds its blocks (X_HOLD)
 * until then.  Parts are read in order, so the one the MD5 waits for is
 * always in flight: nothing waits on a part that is not coming. */

/* The transfer holding o's part i with its GET done, or NULL. */
static xfer *whole_part(bg_copy *cp, const obj *o, uint32_t i)
{
	for (unsigned k = 0; k < cp->nxf; k++) {
		xfer *x = &cp->xf[k];
		if (x->o == o && x->part == i && x->phase != X_FREE && x->phase != X_GET)
			return x;
	}
	return NULL;
}

/* The whole object is in the MD5: its bytes are the source's, or they
 * were damaged on the way and the object is copied again. */
static void whole_check(bg_copy *cp, obj *o)
{
	unsigned char got[16], want[16];
	bg_md5_final(&o->whole, got);
	if (bg_unhex16(o->etag, want) == 0 && memcmp(got, want, 16) == 0) {
		o->whole_ok = true;
		return;
	}
	if (o->restarts < MAX_RESTARTS) {
		note_retry(cp, NULL, BG_M_GET, o->key, o->restarts + 1,
			   "bytes read do not match the source ETag: the object is read again", true);
		o->restart = true;
	} else {
		obj_fail(cp, o, "bytes read do not match the source ETag %s (read %d times)", o->etag,
			 MAX_RESTARTS + 1);
	}
}

static void whole_turn(bg_copy *cp)
{
	for (obj *o = cp->active_head; o;) {
		obj *next = o->next; /* freeing the last held part may finish o */
		xfer *x;
		while (o->whole_md5 && !o->failed && !o->restart && o->whole_next < o->plan.nparts &&
		       (x = whole_part(cp, o, o->whole_next))) {
			bg_chain_cur at;
			const unsigned char *p;
			size_t n;
			bg_chain_cur_start(&x->chain, &at);
			while ((n = bg_chain_cur_peek(&cp->pool, &at, x->chain.len, &p)) > 0) {
				bg_md5_update(&o->whole, p, n);
				bg_chain_cur_advance(&cp->pool, &at, n);
			}
			o->whole_next++;
			if (o->whole_next == o->plan.nparts)
				whole_check(cp, o);
			if (x->phase == X_HOLD) {
				xfer_free(cp, x); /* may settle and finish o */
				if (o->state == O_FREE)
					break;
			}
		}
		o = next;
	}
}

/* ---- write-behind: a download's bytes go to its file as they arrive ---
 *
 * A download part holds a ring of at most WB_RING pool bytes, not the
 * whole part: byte k of the part sits at k modulo the ring's size.  Once
 * WB_CHUNK bytes are in and no write is in flight, they are written; a GET
 * that would overwrite bytes not yet written pauses until the write lands.
 * So a part needs 2 MiB, the bytes are copied to the page cache while
 * still in the CPU's cache, and a download holds no part-sized buffer.
 * Writes of 256 KiB measured faster than writes of 1 MiB from a 4 MiB
 * ring (docs/bench.md, "Local paths").  A retried GET starts the part
 * over and writes it again.  The part is judged only when no write is in
 * flight (jpend). */
static uint64_t wb_cap(const bg_copy *cp, const xfer *x)
{
	return (uint64_t)x->chain.nblocks * cp->pool.block_size;
}

static int wb_append(bg_copy *cp, xfer *x, const char *p, size_t n)
{
	uint64_t cap = wb_cap(cp, x), pos = x->got % cap;
	size_t first = n > cap - pos ? (size_t)(cap - pos) : n;
	if (pos == 0)
		bg_chain_rewind(&x->chain); /* the ring starts over */
	if (bg_chain_append(&cp->pool, &x->chain, p, first) < 0)
		return -1;
	if (first == n)
		return 0;
	bg_chain_rewind(&x->chain);
	return bg_chain_append(&cp->pool, &x->chain, p + first, n - first);
}

/* Hands the part's bytes from `from` to the kernel, as far as the end of
 * the ring or `upto`; *took says how many.  0 or -errno. */
static int wb_submit(bg_copy *cp, xfer *x, uint64_t from, uint64_t upto, uint64_t *took)
{
	uint64_t at = from, len = upto - from;
	if (x->wb) {
		uint64_t cap = wb_cap(cp, x);
		at %= cap;
		if (len > cap - at)
			len = cap - at;
	}
	unsigned n = bg_chain_iov(&cp->pool, &x->chain, at, len, x->iov, IOV_WINDOW);
	*took = 0;
	for (unsigned i = 0; i < n; i++)
		*took += x->iov[i].iov_len;
	return bg_http_file_rw(&cp->http, &x->fop, true, x->o->tfd, x->iov, n, x->off + from);
}

/* Writes what the running GET has brought since the last write. */
static int wb_write(bg_copy *cp, xfer *x)
{
	uint64_t took;
	int rc = wb_submit(cp, x, x->wsub, x->got, &took);
	if (rc == 0)
		x->wsub += took;
	return rc;
}

static size_t on_get_bytes(void *ctx, const char *p, size_t n)
{
	xfer *x = ctx;
	bg_copy *cp = x->cp;
	if (x->got + n > x->len) {
		bg_snprintf(x->req.sink_msg, sizeof(x->req.sink_msg),
			    "source sent more than the %llu bytes asked for",
			    (unsigned long long)x->len);
		return 0;
	}
	if (x->wb && x->got + n - x->wdone > wb_cap(cp, x)) {
		/* The ring is full of unwritten bytes: wait for the write (none
		 * starts once the copy is stopping: the GET is dropped). */
		int rc = x->fop.active || cp->halting ? 0 : wb_write(cp, x);
		if (rc < 0 || n > wb_cap(cp, x)) {
			bg_snprintf(x->req.sink_msg, sizeof(x->req.sink_msg),
				    "cannot queue a file write: %s",
				    rc < 0 ? strerror(-rc) : "a chunk larger than the part's buffer");
			return 0;
		}
		x->wfull = true;
		return CURL_WRITEFUNC_PAUSE;
	}
	if (!bg_bucket_take_all(&cp->bw_down, n)) {
		/* curl keeps this chunk and hands it again once resumed */
		x->paused = true;
		cp->m.bw_paused_down++;
		return CURL_WRITEFUNC_PAUSE;
	}
	if ((x->wb ? wb_append(cp, x, p, n) : bg_chain_append(&cp->pool, &x->chain, p, n)) < 0)
		return 0;
	xfer_hash(x, (const unsigned char *)p, n);
	x->got += n;
	cp->stats.bytes_read += n;
	if (x->wb && !x->fop.active && x->got - x->wsub >= WB_CHUNK && !cp->halting) {
		int rc = wb_write(cp, x);
		if (rc < 0) {
			bg_snprintf(x->req.sink_msg, sizeof(x->req.sink_msg),
				    "cannot queue a file write: %s", strerror(-rc));
			return 0;
		}
	}
	return n;
}

static size_t on_put_bytes(void *ctx, char *dst, size_t n)
{
	xfer *x = ctx;
	bg_copy *cp = x->cp;
	if (x->got < x->len) {
		uint64_t allow = bg_bucket_take(&cp->bw_up, n);
		if (!allow) {
			x->paused = true;
			cp->m.bw_paused_up++;
			return CURL_READFUNC_PAUSE;
		}
		n = (size_t)allow;
	}
	size_t got = bg_chain_read(&x->cp->pool, &x->chain, x->got, dst, n);
	x->got += got;
	x->cp->stats.bytes_written += got;
	return got;
}

/* The cut-through upload's body: what the GET has put in the chain so
 * far.  When it has sent all of that it pauses; stream_turn resumes it. */
static size_t on_stream_bytes(void *ctx, char *dst, size_t n)
{
	xfer *x = ctx;
	bg_copy *cp = x->cp;
	uint64_t avail = x->got - x->sent;
	if (!avail) {
		if (x->sent == x->len)
			return 0;
		x->starved = true;
		return CURL_READFUNC_PAUSE;
	}
	if (n > avail)
		n = (size_t)avail;
	uint64_t allow = bg_bucket_take(&cp->bw_up, n);
	if (!allow) {
		x->spaused = true;
		cp->m.bw_paused_up++;
		return CURL_READFUNC_PAUSE;
	}
	size_t got = bg_chain_read(&cp->pool, &x->chain, x->sent, dst, (size_t)allow);
	x->sent += got;
	cp->stats.bytes_written += got;
	return got;
}

static void xfer_done(bg_s3_req *r);

static int local_get(bg_copy *cp, xfer *x);
static int local_put(bg_copy *cp, xfer *x);
static int local_create(bg_copy *cp, obj *o);

/* A download of a single-part object, whose ETag is the MD5 of its bytes:
 * checked when the GET is done, before any byte is written.  Not from AWS
 * itself: there an SSE-KMS object's ETag is not an MD5. */
static bool get_checks_etag(const bg_copy *cp, const obj *o)
{
	return cp->ldst && !o->plan.multipart &&
	       (cp->o->src_ep.custom || cp->o->src.kind == BG_LOC_R2);
}

static int start_get(bg_copy *cp, xfer *x)
{
	obj *o = x->o;
	bg_chain_rewind(&x->chain);
	x->paused = false;
	XXH3_128bits_reset(x->xs);
	/* MD5 for Content-MD5, or for get_checks_etag. */
	x->md5_on = cp->cksum == BG_CKSUM_MD5 || get_checks_etag(cp, o);
	x->wsub = x->wdone = 0;
	x->wfull = x->jpend = false;
	if (x->wb && !o->plan.multipart && o->tfd < 0 && local_create(cp, o) < 0)
		return -1; /* a multipart download's file is made before its parts */
	if (x->md5_on) {
		bg_md5_init(&x->md5);
		bg_chain_cur_start(&x->chain, &x->md5_at);
		x->md5_moved = bg_now_ns();
	}
	x->crc = 0;
	x->got = 0;
	x->nostream = false;
	x->phase = X_GET;
	if (cp->lsrc)
		return local_get(cp, x);
	char range[64], ifmatch[BG_ETAG_MAX + 4];
	bg_header h[2];
	size_t nh = 0;
	bg_snprintf(ifmatch, sizeof(ifmatch), "\"%s\"", o->etag);
	h[nh++] = (bg_header){ "If-Match", ifmatch };
	if (o->plan.multipart) {
		bg_snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)x->off,
			    (unsigned long long)(x->off + x->len - 1));
		h[nh++] = (bg_header){ "Range", range };
	}
	bg_s3_call c = {
		.method = "GET", .bucket = cp->o->src.bucket, .key = o->key, .headers = h,
		.nheaders = nh, .write_fn = on_get_bytes, .io_ctx = x,
		.capture_meta = !o->plan.multipart,
	};
	return obj_req_start(cp, o, &x->req, &cp->o->src_ep, &c, "GET");
}

static int start_put(bg_copy *cp, xfer *x)
{
	obj *o = x->o;
	if (cp->ldst) {
		x->got = 0;
		x->paused = false;
		x->phase = X_PUT;
		return local_put(cp, x);
	}
	char pn[16], sum[64];
	bg_query_param q[2];
	size_t nq = 0;
	bg_header h[2];
	size_t nh = 0;
	if (cp->cksum == BG_CKSUM_MD5) {
		bg_base64(x->md5sum, 16, sum, sizeof(sum));
		h[nh++] = (bg_header){ "Content-MD5", sum };
	} else if (cp->cksum == BG_CKSUM_CRC32C) {
		unsigned char be[4] = { (unsigned char)(x->crc >> 24), (unsigned char)(x->crc >> 16),
					(unsigned char)(x->crc >> 8), (unsigned char)x->crc };
		bg_base64(be, 4, sum, sizeof(sum));
		h[nh++] = (bg_header){ "x-amz-checksum-crc32c", sum };
	}
	if (o->plan.multipart) {
		bg_snprintf(pn, sizeof(pn), "%u", x->part + 1);
		q[nq++] = (bg_query_param){ "partNumber", pn };
		q[nq++] = (bg_query_param){ "uploadId", o->upload_id };
	}
	x->got = 0;
	x->paused = false;
	x->phase = X_PUT;
	bg_s3_call c = {
		.method = "PUT", .bucket = cp->o->dst.bucket, .key = o->dkey, .query = q,
		.nquery = nq, .headers = h, .nheaders = nh,
		.meta = o->plan.multipart ? NULL : &o->meta, .body = BG_BODY_STREAM,
		.body_len = x->len, .read_fn = on_put_bytes, .io_ctx = x,
	};
	return obj_req_start(cp, o, &x->req, &cp->o->dst_ep, &c, "PUT");
}

/* Without a checksum to send ahead of the body (--checksum none), an
 * upload need not wait for its whole GET: it starts once bytes arrive and
 * sends them as they come, so a part holds its pool blocks for about one
 * transfer time instead of two.  The whole part stays in the pool, so a
 * failed upload is retried from memory; a failed GET drops the upload (the
 * server discards a body shorter than its length).  A single-part object's
 * headers to preserve are the GET's, all in by its first body byte. */
static int stream_start(bg_copy *cp, xfer *x)
{
	obj *o = x->o;
	char pn[16];
	bg_snprintf(pn, sizeof(pn), "%u", x->part + 1);
	bg_query_param q[2] = { { "partNumber", pn }, { "uploadId", o->upload_id } };
	if (!o->plan.multipart)
		o->meta = x->req.meta;
	bg_s3_call c = {
		.method = "PUT", .bucket = cp->o->dst.bucket, .key = o->dkey, .query = q,
		.nquery = o->plan.multipart ? 2 : 0, .meta = o->plan.multipart ? NULL : &o->meta,
		.body = BG_BODY_STREAM, .body_len = x->len, .read_fn = on_stream_bytes, .io_ctx = x,
	};
	x->sent = 0;
	x->starved = x->spaused = x->sended = false;
	bg_status st = { 0 };
	if (req_start(cp, &x->sreq, &cp->o->dst_ep, &c, &st) < 0) {
		x->nostream = true; /* the part uploads the usual way once read */
		return -1;
	}
	x->streaming = true;
	return 0;
}

static void stream_cancel(bg_copy *cp, xfer *x)
{
	if (x->sreq.http.active)
		bg_http_abort(&cp->http, &x->sreq.http);
	x->streaming = x->starved = x->spaused = x->sended = false;
}

/* Resumes cut-through uploads the GET has caught up with (outside curl). */
static void stream_turn(bg_copy *cp)
{
	for (unsigned i = 0; i < cp->nxf; i++) {
		xfer *x = &cp->xf[i];
		if (!x->starved || !x->sreq.http.active)
			continue;
		if (x->got - x->sent < STREAM_LOW && x->got < x->len)
			continue;
		x->starved = false;
		curl_easy_pause(x->sreq.http.easy, CURLPAUSE_CONT);
	}
}

static void xfer_free(bg_copy *cp, xfer *x)
{
	stream_cancel(cp, x);
	bg_pool_release(&cp->pool, &x->chain);
	obj *o = x->o;
	x->o = NULL;
	x->phase = X_FREE;
	x->waiting = false;
	o->parts_inflight--;
	obj_settle(cp, o);
}

static void xfer_judge(bg_copy *cp, xfer *x, bg_s3_req *r);

static void xfer_done(bg_s3_req *r)
{
	xfer *x = r->owner;
	bg_copy *cp = x->cp;
	/* Freeing x cancels both its requests, done or not (bg_http_abort
	 * takes a finished one out of the done queue), so x has its object. */
	BG_ASSERT(x->o);
	if (r == &x->sreq) {
		note_req(cp, r, BG_MX_DST, x->o->plan.multipart ? BG_M_UPLOAD_PART : BG_M_PUT);
		x->starved = x->spaused = false;
		if (x->phase == X_GET) {
			/* It took every byte, but the GET's own end decides: it is
			 * judged when the GET ends (a failed GET means a new upload). */
			x->sended = true;
			return;
		}
	} else {
		x->paused = false;
		bg_m_op op = x->phase == X_GET ? BG_M_GET
			     : x->o->plan.multipart ? BG_M_UPLOAD_PART : BG_M_PUT;
		note_req(cp, r, x->phase == X_GET ? BG_MX_SRC : BG_MX_DST, op);
	}
	xfer_judge(cp, x, r);
}

/* What a finished GET or upload means for its part. */
static void xfer_judge(bg_copy *cp, xfer *x, bg_s3_req *r)
{
	obj *o = x->o;
	char msg[BG_MSG_MAX];
	if (x->wb && x->phase == X_GET && x->fop.active) {
		x->jpend = true; /* wb_done judges it once the write lands */
		return;
	}
	bg_m_op op = x->phase == X_GET ? BG_M_GET : o->plan.multipart ? BG_M_UPLOAD_PART : BG_M_PUT;
	if (r == &x->sreq)
		x->streaming = x->sended = false;
	bg_s3_outcome out = classify(cp, r, x->phase == X_GET ? BG_MX_SRC : BG_MX_DST, msg,
				     sizeof(msg));
	bool integrity = false;
	if (out == BG_S3_DONE && x->phase == X_GET && x->got != x->len) {
		integrity = true;
		bg_snprintf(msg, sizeof(msg), "source sent %llu of %llu bytes",
			    (unsigned long long)x->got, (unsigned long long)x->len);
		out = BG_S3_RETRY;
	}
	if (out == BG_S3_DONE && x->phase == X_PUT && !r->etag[0]) {
		bg_snprintf(msg, sizeof(msg), "destination answered without an ETag");
		out = BG_S3_RETRY;
		integrity = true;
	}
	if (x->phase == X_GET && out != BG_S3_DONE)
		stream_cancel(cp, x);
	if (o->failed || o->restart) {
		xfer_free(cp, x);
		return;
	}
	if (out == BG_S3_FAIL && x->phase == X_GET && r->status == 412) {
		/* The source changed since it was listed: redo it whole. */
		if (o->restarts < MAX_RESTARTS)
			o->restart = true;
		else
			obj_fail(cp, o, "source keeps changing during the copy (%s)", msg);
		xfer_free(cp, x);
		return;
	}
	if (out == BG_S3_RETRY && ++x->attempt < cp->o->retries) {
		note_retry(cp, r, op, o->key, x->attempt, msg, integrity);
		x->waiting = true;
		x->retry_at = bg_now_ns() + bg_s3_backoff_ns(r, x->attempt);
		return;
	}
	if (out != BG_S3_DONE) {
		char what[BG_MSG_MAX + 64];
		if (o->plan.multipart)
			bg_snprintf(what, sizeof(what), "%s of part %u failed: %s",
				    x->phase == X_GET ? "GET from source" : "upload to destination",
				    x->part + 1, msg);
		else
			bg_snprintf(what, sizeof(what), "%s failed: %s",
				    x->phase == X_GET ? "GET from source" : "PUT to destination",
				    msg);
		obj_fail(cp, o, "%s", what);
		xfer_free(cp, x);
		return;
	}
	unsigned tries = x->attempt + 1;
	/* A GET whose MD5 is still to be checked against the source's ETag
	 * keeps its count: a mismatch is one more try of the same GET. */
	if (x->phase != X_GET || !x->md5_on)
		x->attempt = 0;
	if (x->phase == X_GET) {
		x->digest = XXH3_128bits_digest(x->xs);
		o->etag_opaque |= r->etag_opaque;
		if (!o->plan.multipart) {
			o->meta = r->meta; /* headers to preserve, from the GET */
			if (r->etag[0] && strcmp(r->etag, o->etag) != 0) {
				o->restart = o->restarts < MAX_RESTARTS;
				if (!o->restart)
					obj_fail(cp, o, "source keeps changing during the copy");
				xfer_free(cp, x);
				return;
			}
		}
		if (x->wb) {
			/* what the ring still holds goes to the file, then on as a
			 * written part (local_put_done) */
			x->phase = X_PUT;
			x->got = x->wdone;
			if (local_put(cp, x) < 0)
				xfer_free(cp, x);
			return;
		}
		if (x->streaming) {
			/* the upload goes on (or has ended and is judged now) */
			x->phase = X_PUT;
			if (x->sended)
				xfer_judge(cp, x, &x->sreq);
			return;
		}
		if (x->md5_on) {
			x->phase = X_HASH; /* md5_turn hashes the rest, then md5_finish */
			x->hash_since = bg_now_ns();
			return;
		}
		x->phase = X_READY; /* dispatch_data uploads it when a slot is free */
		return;
	}
	/* PUT done */
	if (o->plan.multipart) {
		if (bg_unhex16(r->etag, o->md5[x->part]) < 0) {
			obj_fail(cp, o, "destination returned a part ETag that is not an MD5: %s",
				 r->etag);
			xfer_free(cp, x);
			return;
		}
		o->crc[x->part] = x->crc;
		o->xxh[x->part] = x->digest;
		o->pdone[x->part] = 1;
		o->parts_done++;
		cp->stats.parts_bytes += x->len;
		if (cp->j)
			jpart(cp, o, x->part, true, tries);
		if (o->parts_done == o->plan.nparts)
			o->state = O_COMPLETE;
		if (o->whole_md5 && x->part >= o->whole_next) {
			x->phase = X_HOLD; /* whole_turn takes its bytes, then frees it */
			return;
		}
	} else {
		o->xxh[0] = x->digest;
		cp->stats.parts_bytes += x->len;
		bg_strlcpy(o->put_etag, r->etag, sizeof(o->put_etag));
		bg_strlcpy(o->expect_etag, r->etag, sizeof(o->expect_etag));
		o->state = O_VERIFY;
	}
	xfer_free(cp, x);
}

/* ---- local files: data ------------------------------------------------ */

/* Errors that no retry mends: the run stops (the journal keeps what is
 * done) with one message saying what to fix. */
static bool disk_trouble(int e)
{
	return e == ENOSPC || e == EDQUOT || e == EROFS || e == EFBIG;
}

static void local_fail(bg_copy *cp, obj *o, int e, const char *what, const char *name)
{
	if (disk_trouble(e))
		set_fatal(cp, BG_E_IO, "cannot write to %s: %s: choose a writable directory with enough free space",
			  cp->o->dst.path, strerror(e));
	obj_fail(cp, o, "%s %s: %s", what, name, strerror(e));
}

/* Makes r read as a successful answer of the local side. */
static void local_answer(bg_s3_req *r, const char *etag)
{
	r->tag = REQ_LOCAL;
	r->http.result = CURLE_OK;
	r->status = 200;
	r->resp.len = 0;
	r->has_length = false;
	r->content_length = 0;
	r->retry_after_s = -1;
	r->sink_failed = false;
	bg_strlcpy(r->etag, etag ? etag : "", sizeof(r->etag));
	bg_meta_clear(&r->meta);
}

static void hex128(XXH128_hash_t h, char hex[33])
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, h);
	bg_hex(c.digest, 16, hex);
}

/* Has the source file changed since it was listed?  Then the object starts
 * over (or fails, after MAX_RESTARTS). */
static bool local_src_changed(bg_copy *cp, obj *o, struct stat *st)
{
	char now[BG_ETAG_MAX];
	if (fstat(o->sfd, st) < 0) {
		obj_fail(cp, o, "cannot stat %s: %s", o->key, strerror(errno));
		return true;
	}
	bg_local_etag(st, now, sizeof(now));
	if (strcmp(now, o->etag) == 0)
		return false;
	o->restart = o->restarts < MAX_RESTARTS;
	if (!o->restart)
		obj_fail(cp, o, "source file keeps changing during the copy");
	return true;
}

static int local_step(bg_copy *cp, xfer *x)
{
	obj *o = x->o;
	bool write = x->phase == X_PUT;
	if (x->got == x->len) { /* an empty file */
		bg_http_fop_post(&cp->http, &x->fop, 0);
		return 0;
	}
	int rc;
	if (write) {
		uint64_t took;
		rc = wb_submit(cp, x, x->got, x->len, &took);
	} else {
		unsigned n = bg_chain_iov(&cp->pool, &x->chain, x->got, x->len - x->got, x->iov,
					  IOV_WINDOW);
		rc = bg_http_file_rw(&cp->http, &x->fop, false, o->sfd, x->iov, n, x->off + x->got);
	}
	if (rc < 0) {
		obj_fail(cp, o, "cannot queue a file %s: %s", write ? "write" : "read", strerror(-rc));
		return -1;
	}
	return 0;
}

static int local_get(bg_copy *cp, xfer *x)
{
	obj *o = x->o;
	if (o->sfd < 0) {
		o->sfd = openat(cp->src_root, o->key, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (o->sfd < 0) {
			obj_fail(cp, o, "cannot open %s: %s", o->key, strerror(errno));
			return -1;
		}
		struct stat st;
		if (local_src_changed(cp, o, &st))
			return -1;
	}
	return local_step(cp, x);
}

/* The temporary file of a download, in its directory (made as needed,
 * never through a symlink).  Its name is the upload ID the journal keeps.
 * Room for it is made by local_room. */
static int local_open_temp(bg_copy *cp, obj *o)
{
	int rc = o->dirfd >= 0 ? 0 : bg_local_open_parent(cp->dst_root, o->dkey, true, &o->dirfd);
	if (rc < 0) {
		if (rc == -ENOTDIR || rc == -ELOOP)
			obj_fail(cp, o, "cannot make the directories of %s: a part of the path is a file or a symlink",
				 o->dkey);
		else
			local_fail(cp, o, -rc, "cannot make the directories of", o->dkey);
		return -1;
	}
	char tmp[BG_TEMP_NAME_MAX];
	bg_local_temp_name(o->dkey, tmp);
	int flags = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	int fd = openat(o->dirfd, tmp, flags, 0666);
	if (fd < 0 && errno == EEXIST) {
		/* left by a run without a journal (one with a journal resumes
		 * or removes it before getting here) */
		unlinkat(o->dirfd, tmp, 0);
		fd = openat(o->dirfd, tmp, flags, 0666);
	}
	if (fd < 0) {
		local_fail(cp, o, errno, "cannot create a temporary file for", o->dkey);
		return -1;
	}
	bg_strlcpy(o->upload_id, tmp, sizeof(o->upload_id));
	o->tfd = fd;
	return 0;
}

/* What fallocate's answer e (an errno, or 0) means: room for the whole
 * file, so a full disk shows before any byte moves.  A file system that
 * cannot preallocate is no failure.  -1 fails o (the abort removes the
 * temporary file). */
static int local_room(bg_copy *cp, obj *o, int e)
{
	if (e && disk_trouble(e)) {
		local_fail(cp, o, e, "cannot make room for", o->dkey);
		return -1;
	}
	return 0;
}

/* local_room with fallocate called here, in the loop. */
static int local_room_now(bg_copy *cp, obj *o)
{
	if (!o->size)
		return 0;
	return local_room(cp, o, fallocate(o->tfd, 0, 0, (off_t)o->size) < 0 ? errno : 0);
}

/* The temporary file, with room made in the loop (single-part downloads;
 * a multipart one's room is made by io_uring, see O_CREATE). */
static int local_create(bg_copy *cp, obj *o)
{
	if (local_open_temp(cp, o) < 0)
		return -1;
	return local_room_now(cp, o);
}

/* Puts the finished temporary file in place under its name, with the
 * source's modification time. */
static int local_finalize(bg_copy *cp, obj *o)
{
	struct timespec ts[2];
	if (bg_local_mtime_for(&o->meta, o->last_modified, &ts[1]) == 0) {
		ts[0] = ts[1];
		if (futimens(o->tfd, ts) < 0) {
			local_fail(cp, o, errno, "cannot set the modification time of", o->dkey);
			return -1;
		}
	}
	if (renameat(o->dirfd, o->upload_id, o->dirfd, bg_local_base(o->dkey)) < 0) {
		local_fail(cp, o, errno, "cannot rename the finished download into place:", o->dkey);
		return -1;
	}
	close_fd(&o->tfd);
	return 0;
}

static int local_put(bg_copy *cp, xfer *x)
{
	obj *o = x->o;
	x->syncing = false;
	if (!o->plan.multipart && o->tfd < 0 && local_create(cp, o) < 0)
		return -1;
	return local_step(cp, x);
}

static void local_get_done(bg_copy *cp, xfer *x, int res)
{
	obj *o = x->o;
	if (res < 0) {
		obj_fail(cp, o, "read of %s failed: %s", o->key, strerror(-res));
		xfer_free(cp, x);
		return;
	}
	x->got += (uint64_t)res;
	cp->stats.bytes_read += (uint64_t)res;
	struct stat st;
	if (res == 0 && x->got < x->len) { /* the file got shorter */
		if (!local_src_changed(cp, o, &st))
			obj_fail(cp, o, "%s ended early", o->key);
		xfer_free(cp, x);
		return;
	}
	if (x->got < x->len) {
		if (local_step(cp, x) < 0)
			xfer_free(cp, x);
		return;
	}
	bg_chain_set_len(&cp->pool, &x->chain, x->len);
	bg_chain_each(&cp->pool, &x->chain, xfer_hash, x);
	if (local_src_changed(cp, o, &st)) {
		xfer_free(cp, x);
		return;
	}
	local_answer(&x->req, NULL);
	if (!o->plan.multipart && bg_local_meta_mtime(&x->req.meta, &st.st_mtim) < 0) {
		obj_fail(cp, o, "no room for the mtime metadata");
		xfer_free(cp, x);
		return;
	}
	xfer_done(&x->req);
}

static void local_put_done(bg_copy *cp, xfer *x, int res)
{
	obj *o = x->o;
	char hex[33];
	if (o->failed || o->restart) {
		xfer_free(cp, x);
		return;
	}
	if (x->syncing) {
		x->syncing = false;
		if (res < 0) {
			local_fail(cp, o, -res, "cannot flush", o->dkey);
			xfer_free(cp, x);
			return;
		}
		if (local_finalize(cp, o) < 0) {
			xfer_free(cp, x);
			return;
		}
		o->upload_id[0] = '\0'; /* nothing left to remove */
		hex128(x->digest, hex);
		local_answer(&x->req, hex);
		xfer_done(&x->req);
		return;
	}
	if (res < 0 || (res == 0 && x->got < x->len)) {
		local_fail(cp, o, res < 0 ? -res : EIO, "cannot write", o->dkey);
		xfer_free(cp, x);
		return;
	}
	x->got += (uint64_t)res;
	cp->stats.bytes_written += (uint64_t)res;
	if (x->got < x->len) {
		if (local_step(cp, x) < 0)
			xfer_free(cp, x);
		return;
	}
	if (!o->plan.multipart) {
		/* On disk before the rename: the file appears whole or not at all. */
		x->syncing = true;
		if (bg_http_fdatasync(&cp->http, &x->fop, o->tfd) < 0) {
			obj_fail(cp, o, "cannot queue a flush of %s", o->dkey);
			xfer_free(cp, x);
		}
		return;
	}
	/* A part's "ETag" is its XXH3-128: what a resume re-reads to check it. */
	hex128(x->digest, hex);
	local_answer(&x->req, hex);
	xfer_done(&x->req);
}

/* A write-behind write has landed (or failed) while its GET runs or
 * waits to be judged. */
static void wb_done(bg_copy *cp, xfer *x, int res)
{
	obj *o = x->o;
	bool running = x->req.http.active; /* else its end is queued or jpend */
	if (res <= 0) {
		local_fail(cp, o, res < 0 ? -res : EIO, "cannot write", o->dkey);
	} else {
		x->wdone += (uint64_t)res;
		cp->stats.bytes_written += (uint64_t)res;
		x->wsub = x->wdone; /* after a short write, the rest again */
	}
	if (x->jpend) {
		x->jpend = false;
		xfer_judge(cp, x, &x->req);
		return;
	}
	if (!running || cp->halting)
		return; /* its end, already queued, is judged next; or it is dropped */
	if (o->failed || o->restart) {
		bg_http_abort(&cp->http, &x->req.http);
		xfer_free(cp, x);
		return;
	}
	if (x->got > x->wsub && (x->wfull || x->got - x->wsub >= WB_CHUNK)) {
		int rc = wb_write(cp, x);
		if (rc < 0) {
			obj_fail(cp, o, "cannot queue a write of %s: %s", o->dkey, strerror(-rc));
			bg_http_abort(&cp->http, &x->req.http);
			xfer_free(cp, x);
			return;
		}
	}
	if (x->wfull) {
		/* May hand the kept chunk to on_get_bytes right here. */
		x->wfull = false;
		curl_easy_pause(x->req.http.easy, CURLPAUSE_CONT);
	}
}

static void xfer_fop_done(bg_fop *op)
{
	xfer *x = op->owner;
	if (!x->o)
		return; /* dropped while stopping */
	if (x->phase == X_GET && x->wb)
		wb_done(x->cp, x, op->res);
	else if (x->phase == X_GET)
		local_get_done(x->cp, x, op->res);
	else
		local_put_done(x->cp, x, op->res);
}

static void dispatch_data(bg_copy *cp, uint64_t now)
{
	/* retries first: their bytes are already reserved */
	for (unsigned i = 0; i < cp->nxf; i++) {
		xfer *x = &cp->xf[i];
		if (!is_retry_due(x->waiting, x->retry_at, now))
			continue;
		x->waiting = false;
		if (x->o->failed || x->o->restart) {
			xfer_free(cp, x);
			continue;
		}
		int rc = x->phase == X_GET ? start_get(cp, x) : start_put(cp, x);
		if (rc < 0)
			xfer_free(cp, x);
	}
	if (cp->halting)
		return;
	/* --concurrency GETs and --concurrency uploads at most: a part whose
	 * GET is done uploads on a slot of its own, so uploads never hold back
	 * the next reads (the pool still bounds the bytes held). */
	unsigned free_x = 0, gets = 0, puts = 0;
	for (unsigned i = 0; i < cp->nxf; i++) {
		free_x += cp->xf[i].phase == X_FREE;
		gets += cp->xf[i].phase == X_GET;
		puts += cp->xf[i].phase == X_PUT ||
			(cp->xf[i].phase == X_GET && cp->xf[i].sreq.http.active);
	}
	for (unsigned i = 0; i < cp->nxf; i++) {
		xfer *x = &cp->xf[i];
		if (x->phase == X_HOLD && (x->o->failed || x->o->restart)) {
			xfer_free(cp, x);
			continue;
		}
		if (x->phase != X_READY)
			continue;
		if (x->o->failed || x->o->restart) {
			xfer_free(cp, x);
			free_x++;
		} else if (puts < cp->o->concurrency) {
			puts++;
			if (start_put(cp, x) < 0) {
				xfer_free(cp, x);
				free_x++;
			}
		}
	}
	/* then upload slots left over go to parts still arriving */
	for (unsigned i = 0; cp->stream && i < cp->nxf && puts < cp->o->concurrency; i++) {
		xfer *x = &cp->xf[i];
		if (x->phase != X_GET || x->streaming || x->nostream || x->waiting || !x->got ||
		    x->got == x->len || x->o->failed || x->o->restart)
			continue;
		if (stream_start(cp, x) == 0)
			puts++;
	}
	unsigned new_gets = cp->o->concurrency > gets ? cp->o->concurrency - gets : 0;
	for (obj *o = cp->active_head; o && free_x && new_gets; o = o->next) {
		if (o->failed || o->restart)
			continue;
		if (o->state == O_PARTS) {
			while (o->next_part < o->plan.nparts && o->pdone[o->next_part])
				o->next_part++; /* found uploaded on resume */
			if (!jready(cp, o)) {
				cp->jwaiting++; /* its upload ID is not committed yet */
				continue;
			}
		}
		bool small = o->state == O_SMALL && !o->data_started;
		bool part = o->state == O_PARTS && o->next_part < o->plan.nparts;
		if (!small && !part)
			continue;
		while (free_x && new_gets &&
		       (small || (o->state == O_PARTS && o->next_part < o->plan.nparts))) {
			xfer *x = NULL;
			for (unsigned i = 0; i < cp->nxf && !x; i++)
				if (cp->xf[i].phase == X_FREE)
					x = &cp->xf[i];
			BG_ASSERT(x);
			uint32_t pi = small ? 0 : o->next_part;
			uint64_t off, len;
			bg_plan_part_range(&o->plan, o->size, pi, &off, &len);
			bool wb = cp->ldst && !get_checks_etag(cp, o);
			if (bg_pool_reserve(&cp->pool, wb && len > WB_RING ? WB_RING : len,
					    &x->chain) < 0)
				return; /* in order: wait for memory */
			x->wb = wb;
			x->o = o;
			x->part = pi;
			x->off = off;
			x->len = len;
			x->attempt = 0;
			o->parts_inflight++;
			if (small)
				o->data_started = true;
			else
				do
					o->next_part++;
				while (o->next_part < o->plan.nparts && o->pdone[o->next_part]);
			free_x--;
			new_gets--;
			if (start_get(cp, x) < 0) {
				xfer_free(cp, x);
				break;
			}
			small = false;
		}
	}
}

/* ---- control requests ------------------------------------------------- */

static void ctl_done(bg_s3_req *r);

static int build_complete(bg_copy *cp, obj *o, bg_buf *b)
{
	bg_buf_reset(b);
	int rc = bg_buf_addf(b, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (uint32_t i = 0; i < o->plan.nparts && rc == 0; i++) {
		char hex[33];
		bg_hex(o->md5[i], 16, hex);
		rc = bg_buf_addf(b, "<Part><PartNumber>%u</PartNumber><ETag>\"%s\"</ETag>", i + 1, hex);
		if (rc == 0 && cp->cksum == BG_CKSUM_CRC32C) {
			uint32_t c = o->crc[i];
			unsigned char be[4] = { (unsigned char)(c >> 24), (unsigned char)(c >> 16),
						(unsigned char)(c >> 8), (unsigned char)c };
			char b64[16];
			bg_base64(be, 4, b64, sizeof(b64));
			rc = bg_buf_addf(b, "<ChecksumCRC32C>%s</ChecksumCRC32C>", b64);
		}
		if (rc == 0)
			rc = bg_buf_addf(b, "</Part>");
	}
	if (rc == 0)
		rc = bg_buf_addf(b, "</CompleteMultipartUpload>");
	return rc;
}

/* The ETag S3 and R2 give a multipart object: md5 of the part MD5s, "-N". */
static void multipart_etag(const obj *o, char *out, size_t cap)
{
	unsigned char d[16];
	bg_md5 m;
	bg_md5_init(&m);
	bg_md5_update(&m, o->md5, (size_t)o->plan.nparts * 16);
	bg_md5_final(&m, d);
	char hex[33];
	bg_hex(d, 16, hex);
	bg_snprintf(out, cap, "%s-%u", hex, o->plan.nparts);
}

static bool local_ctl_side(const bg_copy *cp, ostate s);
static int local_ctl(bg_copy *cp, ctl *c);

static int start_ctl(bg_copy *cp, ctl *c)
{
	obj *o = c->o;
	if (local_ctl_side(cp, o->state))
		return local_ctl(cp, c);
	const bg_copy_opts *op = cp->o;
	bg_query_param q[4];
	size_t nq = 0;
	bg_header h[2];
	size_t nh = 0;
	bg_s3_call call = { 0 };
	const bg_endpoint *ep = &op->dst_ep;
	switch (o->state) {
	case O_HEAD:
	case O_HEAD_PART:
	case O_HEAD_LAST:
		ep = &op->src_ep;
		call = (bg_s3_call){ .method = "HEAD", .bucket = op->src.bucket, .key = o->key,
				     .capture_meta = o->state == O_HEAD };
		/* No If-Match here: moto compares it with the part's own ETag.
		 * Every GET carries If-Match, which is what guards the bytes. */
		if (o->state == O_HEAD_PART)
			q[nq++] = (bg_query_param){ "partNumber", "1" };
		if (o->state == O_HEAD_LAST) {
			bg_snprintf(c->partno, sizeof(c->partno), "%u", bg_plan_etag_parts(o->etag));
			q[nq++] = (bg_query_param){ "partNumber", c->partno };
		}
		break;
	case O_CREATE:
		q[nq++] = (bg_query_param){ "uploads", NULL };
		if (cp->cksum == BG_CKSUM_CRC32C)
			h[nh++] = (bg_header){ "x-amz-checksum-algorithm", "CRC32C" };
		call = (bg_s3_call){ .method = "POST", .bucket = op->dst.bucket, .key = o->dkey,
				     .meta = &o->meta, .body = BG_BODY_MEM, .mem = "", .body_len = 0 };
		break;
	case O_COMPLETE:
		if (build_complete(cp, o, &c->body) < 0) {
			obj_fail(cp, o, "CompleteMultipartUpload body too large");
			return -1;
		}
		q[nq++] = (bg_query_param){ "uploadId", o->upload_id };
		call = (bg_s3_call){ .method = "POST", .bucket = op->dst.bucket, .key = o->dkey,
				     .body = BG_BODY_MEM, .mem = c->body.data,
				     .body_len = c->body.len };
		break;
	case O_VERIFY:
		call = (bg_s3_call){ .method = "HEAD", .bucket = op->dst.bucket, .key = o->dkey };
		break;
	case O_ABORT:
		q[nq++] = (bg_query_param){ "uploadId", o->upload_id };
		call = (bg_s3_call){ .method = "DELETE", .bucket = op->dst.bucket, .key = o->dkey };
		break;
	case O_UPLOADS:
		q[nq++] = (bg_query_param){ "uploads", NULL };
		q[nq++] = (bg_query_param){ "prefix", o->dkey };
		if (o->lu_key[0])
			q[nq++] = (bg_query_param){ "key-marker", o->lu_key };
		if (o->lu_upload[0])
			q[nq++] = (bg_query_param){ "upload-id-marker", o->lu_upload };
		call = (bg_s3_call){ .method = "GET", .bucket = op->dst.bucket };
		break;
	case O_ABORT_STRAY:
		q[nq++] = (bg_query_param){ "uploadId", o->stray_id };
		call = (bg_s3_call){ .method = "DELETE", .bucket = op->dst.bucket, .key = o->dkey };
		break;
	case O_LISTPARTS:
		q[nq++] = (bg_query_param){ "uploadId", o->upload_id };
		if (o->lp_marker) {
			bg_snprintf(c->partno, sizeof(c->partno), "%u", o->lp_marker);
			q[nq++] = (bg_query_param){ "part-number-marker", c->partno };
		}
		call = (bg_s3_call){ .method = "GET", .bucket = op->dst.bucket, .key = o->dkey };
		break;
	default:
		BG_ASSERT(!"no control request for this state");
	}
	call.query = q;
	call.nquery = nq;
	call.headers = h;
	call.nheaders = nh;
	return obj_req_start(cp, o, &c->req, ep, &call, "request");
}

static void ctl_release(bg_copy *cp, ctl *c)
{
	obj *o = c->o;
	c->busy = c->waiting = false;
	c->o = NULL;
	o->ctl_busy = false;
	obj_settle(cp, o);
}

/* A HEAD of the source told us size, ETag and metadata: plan the copy. */
static void planned_from_head(bg_copy *cp, obj *o)
{
	bg_plan_input in = {
		.size = o->size, .threshold = cp->o->threshold, .part_size = cp->o->part_size,
		.max_part = (uint64_t)cp->pool.nblocks * POOL_BLOCK / 2,
		.src_part_size = o->no_reuse ? 0 : o->src_part_size,
		.src_parts = bg_plan_etag_parts(o->etag),
	};
	char err[256];
	if (bg_plan_object(&in, &o->plan, err, sizeof(err)) < 0) {
		obj_fail(cp, o, "%s", err);
		return;
	}
	memset(o->pdone, 0, o->plan.nparts);
	unsigned char md5[16];
	o->whole_md5 = o->plan.multipart && !cp->ldst && !o->etag_opaque &&
		       bg_unhex16(o->etag, md5) == 0;
	o->whole_ok = false;
	o->whole_next = 0;
	if (o->whole_md5)
		bg_md5_init(&o->whole);
	o->state = o->plan.multipart ? O_CREATE : O_SMALL;
}

/* Resuming: the earlier upload cannot be used; copy the object anew. */
static void jfresh(bg_copy *cp, obj *o)
{
	o->recheck = false;
	obj_reset_for_plan(cp, o);
	o->plan = (bg_plan){ 0 };
	o->state = O_HEAD;
}

/* Resuming: our upload is gone.  If the journal has every part, a run
 * killed while Complete was with the server may have finished the object:
 * a HEAD showing the size and the ETag those parts make proves it (and
 * nothing is sent again); anything else copies the object anew.  A local
 * file has no such ETag (a stat shows only its size, and a stale file of
 * the same size would pass): a download whose temporary file is gone is
 * always copied anew. */
static void jgone(bg_copy *cp, obj *o)
{
	uint32_t have = 0;
	for (uint32_t i = 0; o->resumed && i < o->plan.nparts; i++)
		have += o->jhave[i];
	if (!o->resumed || have != o->plan.nparts || cp->ldst) {
		jfresh(cp, o);
		return;
	}
	multipart_etag(o, o->expect_etag, sizeof(o->expect_etag));
	o->upload_id[0] = '\0';
	o->recheck = true;
	o->state = O_VERIFY;
}

static int on_upload(void *ctx, const bg_xml_upload *u)
{
	obj *o = ctx;
	if (u->key_len != strlen(o->dkey) || memcmp(u->key, o->dkey, u->key_len) != 0)
		return 0; /* another key under this prefix */
	if (!o->sweeping && o->resumed && strcmp(u->upload_id, o->upload_id) == 0)
		o->own_seen = true;
	else if (!o->stray_id[0])
		bg_strlcpy(o->stray_id, u->upload_id, sizeof(o->stray_id));
	return 0;
}

static int on_listed_part(void *ctx, const bg_xml_part *p)
{
	obj *o = ctx;
	if (p->number < 1 || p->number > o->plan.nparts)
		return 0;
	uint32_t i = p->number - 1;
	uint64_t off, len;
	bg_plan_part_range(&o->plan, o->size, i, &off, &len);
	unsigned char md5[16];
	if (o->jhave[i] && p->size == len && bg_unhex16(p->etag, md5) == 0 &&
	    memcmp(md5, o->md5[i], 16) == 0)
		o->pdone[i] = 1;
	return 0;
}

static void ctl_done(bg_s3_req *r)
{
	ctl *c = r->owner;
	bg_copy *cp = c->cp;
	obj *o = c->o;
	char msg[BG_MSG_MAX];
	bg_m_op op = ctl_op(o->state);
	bool local = r->tag == REQ_LOCAL; /* answered by local file work (see local_ctl) */
	note_req(cp, r, ctl_ep(o->state), op);
	bg_s3_outcome out = classify(cp, r, ctl_ep(o->state), msg, sizeof(msg));
	bool integrity = false;

	if (o->state == O_ABORT) {
		/* Gone already (404 NoSuchUpload) counts as aborted. */
		if (out == BG_S3_DONE || r->status == 404) {
			o->upload_id[0] = '\0';
			o->state = O_VERIFY; /* placeholder: settle finishes or restarts */
			ctl_release(cp, c);
			return;
		}
	} else if (out == BG_S3_DONE && o->state == O_COMPLETE) {
		bg_xml_error xe;
		int rc = bg_xml_parse_complete(r->resp.data ? r->resp.data : "", r->resp.len,
					       o->put_etag, sizeof(o->put_etag), &xe);
		if (rc == 1) {
			bg_snprintf(msg, sizeof(msg), "answered 200 with error %s: %.300s",
				    xe.code, xe.message);
			bool again = strcmp(xe.code, "InternalError") == 0 ||
				     strcmp(xe.code, "SlowDown") == 0;

			out = again ? BG_S3_RETRY : BG_S3_FAIL;
		} else if (rc < 0) {
			/* Ceph RGW answers an empty <ETag/>: the HEAD decides. */
			o->put_etag[0] = '\0';
		}
	}
	if (o->failed && !cleaning(o)) {
		/* An upload created meanwhile must still be aborted. */
		if (o->state == O_CREATE && out == BG_S3_DONE && !local &&
		    bg_xml_parse_initiate(r->resp.data ? r->resp.data : "", r->resp.len,
					  o->upload_id, sizeof(o->upload_id)) < 0)
			o->upload_id[0] = '\0';
		ctl_release(cp, c);
		return;
	}
	if (out == BG_S3_FAIL && r->status == 412 &&
	    (o->state == O_HEAD_PART || o->state == O_HEAD_LAST)) {
		o->restart = o->restarts < MAX_RESTARTS;
		if (!o->restart)
			obj_fail(cp, o, "source keeps changing during the copy (%s)", msg);
		ctl_release(cp, c);
		return;
	}
	if (out == BG_S3_FAIL && o->state == O_COMPLETE && c->attempt > 0 &&
	    strcmp(r->err.code, "NoSuchUpload") == 0) {
		/* An earlier attempt completed the upload but its answer was
		 * lost: the HEAD of the destination decides (expected ETag). */
		multipart_etag(o, o->expect_etag, sizeof(o->expect_etag));
		o->upload_id[0] = '\0';
		o->state = O_VERIFY;
		c->attempt = 0;
		ctl_release(cp, c);
		return;
	}
	if (out == BG_S3_FAIL && r->status == 404 &&
	    (o->state == O_ABORT_STRAY || o->state == O_LISTPARTS ||
	     (o->state == O_VERIFY && o->recheck)))
		out = BG_S3_DONE; /* the upload is gone: see the state below */
	if (out == BG_S3_RETRY && o->state == O_CREATE)
		o->create_lost = true; /* the server may have created one anyway */
	if (out == BG_S3_RETRY && ++c->attempt < cp->o->retries) {
		note_retry(cp, r, op, o->key, c->attempt, msg, integrity);
		c->waiting = true;
		c->retry_at = bg_now_ns() + bg_s3_backoff_ns(r, c->attempt);
		return;
	}
	if (out != BG_S3_DONE) {
		static const char *const what[] = {
			[O_HEAD] = "HEAD of the source", [O_HEAD_PART] = "HEAD of the source's part 1",
			[O_HEAD_LAST] = "HEAD of the source's last part",
			[O_UPLOADS] = "ListMultipartUploads of the destination key",
			[O_ABORT_STRAY] = "AbortMultipartUpload of an earlier run's upload",
			[O_LISTPARTS] = "ListParts of the resumed upload",
			[O_CREATE] = "CreateMultipartUpload", [O_COMPLETE] = "CompleteMultipartUpload",
			[O_VERIFY] = "HEAD of the destination", [O_ABORT] = "AbortMultipartUpload",
		};
		char full[BG_MSG_MAX + 64];
		bg_snprintf(full, sizeof(full), "%s failed: %s", what[o->state], msg);
		if (o->state == O_ABORT) {
			/* Report it: an upload was left behind. */
			char keep[BG_MSG_MAX];
			bg_snprintf(keep, sizeof(keep), "%s; also %s (upload %s left open)",
				    o->failed ? o->err : "restart", full, o->upload_id);
			bg_strlcpy(o->err, keep, sizeof(o->err));
			o->failed = true;
			o->upload_id[0] = '\0';
		} else if (o->sweeping) {
			obj_fail(cp, o, "%s: an upload of this key whose CreateMultipartUpload answer was "
				 "lost may be left open", full);
		} else {
			obj_fail(cp, o, "%s", full);
		}
		ctl_release(cp, c);
		return;
	}
	c->attempt = 0;
	switch (o->state) {
	case O_HEAD:
		if (!r->has_length || !r->etag[0]) {
			obj_fail(cp, o, "HEAD of the source gave no size or ETag");
			break;
		}
		if (o->etag[0] && strcmp(o->etag, r->etag) != 0) {
			o->restart = o->restarts < MAX_RESTARTS;
			if (!o->restart)
				obj_fail(cp, o, "source keeps changing during the copy");
			break;
		}
		bg_strlcpy(o->etag, r->etag, sizeof(o->etag));
		o->size = r->content_length;
		o->meta = r->meta;
		o->etag_opaque = r->etag_opaque;
		/* An opaque ETag cannot be matched by reusing the source's parts:
		 * barge's own layout, without asking for the source's. */
		if (bg_plan_etag_parts(o->etag) > 0 && !o->etag_opaque)
			o->state = O_HEAD_PART;
		else
			planned_from_head(cp, o);
		break;
	case O_HEAD_PART:
		/* Content-Length of part 1 is the source's part size, unless the
		 * server ignored partNumber and described the whole object. */
		o->src_part_size = r->has_length && (r->content_length < o->size ||
						     bg_plan_etag_parts(o->etag) == 1)
					   ? r->content_length : 0;
		if (o->src_part_size && bg_plan_etag_parts(o->etag) >= 2 &&
		    (o->size + o->src_part_size - 1) / o->src_part_size ==
			    bg_plan_etag_parts(o->etag))
			o->state = O_HEAD_LAST; /* part 1 alone does not prove uniform parts */
		else
			planned_from_head(cp, o);
		break;
	case O_HEAD_LAST: {
		uint64_t n = bg_plan_etag_parts(o->etag);
		uint64_t last = o->size - (n - 1) * o->src_part_size;
		if (!r->has_length || r->content_length != last)
			o->src_part_size = 0; /* not uniform: barge's own parts */
		planned_from_head(cp, o);
		break;
	}
	case O_CREATE:
		if (!local && bg_xml_parse_initiate(r->resp.data ? r->resp.data : "", r->resp.len,
					  o->upload_id, sizeof(o->upload_id)) < 0) {
			obj_fail(cp, o, "CreateMultipartUpload answer has no UploadId");
			break;
		}
		o->state = O_PARTS;
		if (cp->j) /* no part goes out before the upload ID is journaled */
			o->jwait = jwrite(cp, o, BG_JS_UPLOADING, NULL);
		break;
	case O_UPLOADS: {
		bool trunc = false;
		char was_key[BG_KEY_MAX + 1], was_upload[BG_TOKEN_MAX];
		bg_strlcpy(was_key, o->lu_key, sizeof(was_key));
		bg_strlcpy(was_upload, o->lu_upload, sizeof(was_upload));
		if (!local)
			o->stray_id[0] = '\0';
		if (!local && bg_xml_parse_list_uploads(r->resp.data ? r->resp.data : "", r->resp.len,
					      on_upload, o, &trunc, o->lu_key, sizeof(o->lu_key),
					      o->lu_upload, sizeof(o->lu_upload)) < 0) {
			obj_fail(cp, o, "ListMultipartUploads answer cannot be read");
			break;
		}
		if (o->stray_id[0]) {
			o->state = O_ABORT_STRAY;
			break;
		}
		if (trunc && (o->lu_key[0] || o->lu_upload[0])) {
			/* next page; a server that gives the same markers again
			 * would be asked for the same page forever */
			if (strcmp(was_key, o->lu_key) == 0 && strcmp(was_upload, o->lu_upload) == 0)
				obj_fail(cp, o, "ListMultipartUploads of the destination key does not "
					 "advance (the same next markers twice)");
			break;
		}
		o->lu_key[0] = o->lu_upload[0] = '\0';
		if (o->sweeping) {
			o->sweeping = o->create_lost = false;
			o->state = O_FREE; /* every upload of the key is gone: finished below */
		} else if (o->resumed && o->own_seen) {
			o->lp_marker = 0;
			o->state = O_LISTPARTS;
		} else {
			jgone(cp, o);
		}
		break;
	}
	case O_ABORT_STRAY:
		cp->stats.stray_aborts++;
		o->stray_id[0] = o->lu_key[0] = o->lu_upload[0] = '\0';
		o->own_seen = false; /* list again from the start */
		o->state = O_UPLOADS;
		break;
	case O_LISTPARTS: {
		if (r->status == 404) { /* completed or aborted since */
			jgone(cp, o);
			break;
		}
		bool trunc = false;
		unsigned next = 0;
		if (!local && bg_xml_parse_list_parts(r->resp.data ? r->resp.data : "", r->resp.len,
					    on_listed_part, o, &trunc, &next) < 0) {
			obj_fail(cp, o, "ListParts answer cannot be read");
			break;
		}
		if (trunc && next > o->lp_marker) {
			o->lp_marker = next;
			break;
		}
		o->parts_done = 0;
		for (uint32_t i = 0; i < o->plan.nparts; i++) {
			if (o->pdone[i])
				o->parts_done++;
			else if (o->jhave[i]) /* journaled, not there: it must not count */
				jpart(cp, o, i, false, 0);
		}
		o->next_part = 0;
		cp->stats.resumed_uploads++;
		cp->stats.resumed_parts += o->parts_done;
		o->state = o->parts_done == o->plan.nparts ? O_COMPLETE : O_PARTS;
		break;
	}
	case O_COMPLETE:
		multipart_etag(o, o->expect_etag, sizeof(o->expect_etag));
		if (o->put_etag[0] && strcmp(o->put_etag, o->expect_etag) != 0) {
			obj_fail(cp, o, "CompleteMultipartUpload ETag %s differs from the parts' %s",
				 o->put_etag, o->expect_etag);
			break;
		}
		o->upload_id[0] = '\0'; /* the upload is an object now */
		o->state = O_VERIFY;
		break;
	case O_VERIFY:
		if (o->recheck && (r->status == 404 || !r->has_length ||
				   r->content_length != o->size ||
				   strcmp(r->etag, o->expect_etag) != 0)) {
			jfresh(cp, o); /* not the object its parts make: copy anew */
			break;
		}
		bg_strlcpy(o->dst_etag, r->etag, sizeof(o->dst_etag));
		if (!r->has_length || r->content_length != o->size) {
			char m[128];
			bg_snprintf(m, sizeof(m), "%llu bytes, expected %llu",
				    (unsigned long long)r->content_length, (unsigned long long)o->size);
			obj_fail(cp, o, "destination HEAD shows %s", m);
		} else if (strcmp(r->etag, o->expect_etag) != 0) {
			char m[256];
			bg_snprintf(m, sizeof(m), "ETag %s, expected %s", r->etag, o->expect_etag);
			obj_fail(cp, o, "destination HEAD shows %s", m);
		} else if (o->plan.same_layout && !cp->ldst && !o->etag_opaque &&
			   strcmp(r->etag, o->etag) != 0) {
			/* The parts arrived as sent, yet over the source's boundaries
			 * the ETags differ: the source's middle parts are not uniform
			 * (first and last were checked), or the bytes read were not the
			 * source's. Either way: copy again with barge's own parts. */
			o->no_reuse = true;
			o->restart = o->restarts < MAX_RESTARTS;
			if (!o->restart) {
				char m[256];
				bg_snprintf(m, sizeof(m), "%s, source has %s", r->etag, o->etag);
				obj_fail(cp, o, "same part layout but ETag %s", m);
			}
		} else {
			unsigned char a[16];
			/* single-part source: its ETag is an MD5, and so is ours */
			if (!o->plan.multipart && !cp->ldst && !o->etag_opaque &&
			    bg_unhex16(o->etag, a) == 0 && bg_unhex16(r->etag, a) == 0 &&
			    strcmp(r->etag, o->etag) != 0) {
				char m[256];
				bg_snprintf(m, sizeof(m), "%s, source %s", r->etag, o->etag);
				obj_fail(cp, o, "content differs: destination ETag %s", m);
				break;
			}
			if (o->create_lost) {
				/* Our upload is an object now; any upload of the
				 * key left is one whose Create answer was lost. */
				o->sweeping = true;
				o->lu_key[0] = o->lu_upload[0] = '\0';
				o->state = O_UPLOADS;
			} else {
				o->state = O_FREE; /* finished below */
			}
		}
		break;
	default:
		BG_ASSERT(!"unexpected control state");
	}
	bool finished = o->state == O_FREE;
	if (finished)
		o->state = O_VERIFY;
	c->busy = c->waiting = false;
	c->o = NULL;
	o->ctl_busy = false;
	if (finished && !o->failed) {
		obj_finish(cp, o);
		return;
	}
	obj_settle(cp, o);
}

/* ---- local files: control --------------------------------------------- */

static bool local_ctl_side(const bg_copy *cp, ostate s)
{
	return ctl_ep(s) == BG_MX_SRC ? cp->lsrc : cp->ldst;
}

/* The download's directory, without making it: 0, or -errno. */
static int local_dir(bg_copy *cp, obj *o)
{
	return o->dirfd >= 0 ? 0 : bg_local_open_parent(cp->dst_root, o->dkey, false, &o->dirfd);
}

/* Resuming a download: which journaled parts does the temporary file
 * hold?  Each is read back and its XXH3-128 compared with the journal's. */
static void local_check_parts(bg_copy *cp, obj *o)
{
	struct stat st;
	if (fstat(o->tfd, &st) < 0)
		return;
	for (uint32_t i = 0; i < o->plan.nparts; i++) {
		if (!o->jhave[i])
			continue;
		uint64_t off, len;
		bg_plan_part_range(&o->plan, o->size, i, &off, &len);
		if (off + len > (uint64_t)st.st_size)
			continue;
		XXH3_128bits_reset(cp->xs_obj);
		uint64_t done = 0;
		while (done < len) {
			size_t want = len - done < VERIFY_BUF ? (size_t)(len - done) : VERIFY_BUF;
			ssize_t n = pread(o->tfd, cp->vbuf, want, (off_t)(off + done));
			if (n <= 0)
				break;
			XXH3_128bits_update(cp->xs_obj, cp->vbuf, (size_t)n);
			done += (uint64_t)n;
		}
		if (done == len && XXH128_isEqual(XXH3_128bits_digest(cp->xs_obj), o->xxh[i]))
			o->pdone[i] = 1;
	}
}

/* A control step on the local side: the work is done here, synchronously
 * (an fdatasync and a multipart download's fallocate excepted: io_uring
 * does those), and answers through c->fop at the next turn,
 * the way a request would: res 0 goes on through ctl_done, res < 0 means
 * the failure is recorded already. */
static int local_ctl(bg_copy *cp, ctl *c)
{
	obj *o = c->o;
	bg_s3_req *r = &c->req;
	struct stat st;
	int res = 0, rc;
	local_answer(r, NULL);
	switch (o->state) {
	case O_HEAD:
		if (fstatat(cp->src_root, o->key, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			obj_fail(cp, o, "cannot stat %s: %s", o->key, strerror(errno));
			res = -1;
		} else if (!S_ISREG(st.st_mode)) {
			obj_fail(cp, o, "%s is no longer a regular file", o->key);
			res = -1;
		} else {
			bg_local_etag(&st, r->etag, sizeof(r->etag));
			r->has_length = true;
			r->content_length = (uint64_t)st.st_size;
			bg_local_meta_mtime(&r->meta, &st.st_mtim);
		}
		break;
	case O_CREATE:
		/* The room is made by io_uring: on a large file (or tmpfs, where
		 * it allocates every page) fallocate takes a while. */
		if (local_open_temp(cp, o) < 0)
			res = -1;
		else if (o->size && bg_http_fallocate(&cp->http, &c->fop, o->tfd, o->size) == 0)
			return 0; /* on to ctl_fop_done */
		else
			res = local_room_now(cp, o); /* the ring refused it: here */
		break;
	case O_COMPLETE:
		if (bg_http_fdatasync(&cp->http, &c->fop, o->tfd) < 0) {
			obj_fail(cp, o, "cannot queue a flush of %s", o->dkey);
			return -1;
		}
		return 0; /* on to ctl_fop_done */
	case O_VERIFY:
		rc = local_dir(cp, o);
		if (rc == 0 && fstatat(o->dirfd, bg_local_base(o->dkey), &st, AT_SYMLINK_NOFOLLOW) < 0)
			rc = -errno;
		if (rc == -ENOENT || rc == -ENOTDIR) {
			/* (never a resume's recheck: jgone copies anew) */
			obj_fail(cp, o, "%s is not there after the rename", o->dkey);
			res = -1;
		} else if (rc < 0) {
			obj_fail(cp, o, "cannot stat %s: %s", o->dkey, strerror(-rc));
			res = -1;
		} else {
			r->has_length = true;
			r->content_length = (uint64_t)st.st_size;
			bg_strlcpy(r->etag, S_ISREG(st.st_mode) ? o->expect_etag : "not-a-file",
				   sizeof(r->etag));
		}
		break;
	case O_ABORT:
	case O_ABORT_STRAY: {
		const char *name = o->state == O_ABORT ? o->upload_id : o->stray_id;
		if (o->state == O_ABORT)
			close_fd(&o->tfd);
		rc = local_dir(cp, o);
		if (rc == 0 && unlinkat(o->dirfd, name, 0) < 0 && errno != ENOENT)
			rc = -errno;
		if (rc < 0 && rc != -ENOENT && rc != -ENOTDIR) {
			char keep[BG_MSG_MAX];
			bg_snprintf(keep, sizeof(keep), "%s; also cannot remove the temporary file %s: %s",
				    o->failed ? o->err : "restart", name, strerror(-rc));
			bg_strlcpy(o->err, keep, sizeof(o->err));
			o->failed = true;
		}
		break;
	}
	case O_UPLOADS: {
		char tmp[BG_TEMP_NAME_MAX];
		bg_local_temp_name(o->dkey, tmp);
		o->stray_id[0] = '\0';
		if (local_dir(cp, o) == 0 && fstatat(o->dirfd, tmp, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (o->resumed && strcmp(o->upload_id, tmp) == 0 && S_ISREG(st.st_mode))
				o->own_seen = true;
			else
				bg_strlcpy(o->stray_id, tmp, sizeof(o->stray_id));
		}
		break;
	}
	case O_LISTPARTS:
		if (o->tfd < 0 && local_dir(cp, o) == 0)
			o->tfd = openat(o->dirfd, o->upload_id, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (o->tfd < 0)
			r->status = 404; /* gone since: ctl_done starts it over */
		else
			local_check_parts(cp, o);
		break;
	default:
		BG_ASSERT(!"no local step for this state");
	}
	bg_http_fop_post(&cp->http, &c->fop, res);
	return 0;
}

static void ctl_fop_done(bg_fop *op)
{
	ctl *c = op->owner;
	bg_copy *cp = c->cp;
	if (!c->busy)
		return; /* dropped while stopping */
	obj *o = c->o;
	if (o->state == O_COMPLETE && op->res >= 0 && !o->failed) {
		if (local_finalize(cp, o) < 0) {
			ctl_release(cp, c);
			return;
		}
		local_answer(&c->req, NULL);
		o->put_etag[0] = '\0';
	} else if (o->state == O_COMPLETE && op->res < 0) {
		local_fail(cp, o, -op->res, "cannot flush", o->dkey);
	} else if (o->state == O_CREATE && op->res < 0) {
		op->res = local_room(cp, o, -op->res);
	}
	if (op->res < 0 || (o->failed && !cleaning(o))) {
		ctl_release(cp, c);
		return;
	}
	ctl_done(&c->req);
}

static bool needs_ctl(const obj *o)
{
	if (o->ctl_busy || o->parts_inflight)
		return false;
	if (cleaning(o))
		return true;
	if (o->state == O_COMPLETE && o->whole_md5 && !o->whole_ok)
		return false; /* whole_turn has not seen every part's bytes yet */
	switch (o->state) {
	case O_HEAD:
	case O_HEAD_PART:
	case O_HEAD_LAST:
	case O_CREATE:
	case O_COMPLETE:
	case O_VERIFY:
	case O_UPLOADS:
	case O_ABORT_STRAY:
	case O_LISTPARTS:
		return !o->failed && !o->restart;
	default:
		return false;
	}
}

static void dispatch_ctl(bg_copy *cp, uint64_t now)
{
	for (unsigned i = 0; i < cp->nctl; i++) {
		ctl *c = &cp->ctls[i];
		if (!is_retry_due(c->waiting, c->retry_at, now))
			continue;
		c->waiting = false;
		if ((c->o->failed || c->o->restart) && !cleaning(c->o)) {
			ctl_release(cp, c);
			continue;
		}
		if (start_ctl(cp, c) < 0)
			ctl_release(cp, c);
	}
	for (obj *o = cp->active_head; o;) {
		obj *next = o->next; /* ctl_release may finish o */
		if (needs_ctl(o) && o->state == O_CREATE && cp->j) {
			/* Journal the intent first: a run killed after Create
			 * still knows the key may have an upload to abort. */
			if (!o->jcreating) {
				o->jcreating = true;
				o->jwait = jwrite(cp, o, BG_JS_CREATING, NULL);
			}
			if (!jready(cp, o)) {
				cp->jwaiting++;
				o = next;
				continue;
			}
		}
		if (needs_ctl(o)) {
			ctl *c = NULL;
			for (unsigned i = 0; i < cp->nctl && !c; i++)
				if (!cp->ctls[i].busy)
					c = &cp->ctls[i];
			if (!c)
				return;
			c->busy = true;
			c->o = o;
			c->attempt = 0;
			o->ctl_busy = true;
			if (start_ctl(cp, c) < 0)
				ctl_release(cp, c);
		}
		o = next;
	}
}

/* ---- setup, loop, teardown ------------------------------------------- */

static void progress(bg_copy *cp, bool force)
{
	uint64_t now = bg_now_ns();
	if (!force && now - cp->last_progress < 250000000ull)
		return;
	cp->last_progress = now;
	cp->stats.elapsed_ns = now - cp->t0;
	cp->stats.pool_peak_bytes = (uint64_t)cp->pool.peak_used * POOL_BLOCK;
	if (cp->o->on_progress)
		cp->o->on_progress(cp->o->ctx, &cp->stats);
	if (cp->j) {
		bg_jtotals t = {
			.objects_done = cp->stats.done_objects, .bytes_done = cp->stats.done_bytes,
			.objects_failed = cp->stats.failed_objects,
			.objects_skipped = cp->stats.already_done_objects,
			.bytes_read = cp->stats.bytes_read, .bytes_written = cp->stats.bytes_written,
			.retries = cp->stats.retries,
		};
		bg_journal_run_progress(cp->j, &t);
	}
}

/* The metrics snapshot handed to the tool: every interval and at the end. */
static void publish_metrics(bg_copy *cp, bool final)
{
	uint64_t now = bg_now_ns();
	uint64_t every = cp->o->metrics_interval_ns ? cp->o->metrics_interval_ns : 5000000000ull;
	if (!cp->o->on_metrics || (!final && now - cp->last_metrics < every))
		return;
	cp->last_metrics = now;
	bg_metrics *m = &cp->m;
	m->bytes_read = cp->stats.bytes_read;
	m->bytes_written = cp->stats.bytes_written;
	m->objects_done = cp->stats.done_objects;
	m->objects_failed = cp->stats.failed_objects;
	m->objects_inflight = cp->active;
	m->objects_listed = cp->stats.listed_objects;
	m->objects_skipped = cp->stats.already_done_objects;
	m->bytes_done = cp->stats.done_bytes;
	m->pool_in_use = (uint64_t)(cp->pool.nblocks - cp->pool.nfree) * POOL_BLOCK;
	m->pool_peak = (uint64_t)cp->pool.peak_used * POOL_BLOCK;
	m->pool_capacity = (uint64_t)cp->pool.nblocks * POOL_BLOCK;
	m->journal_open = cp->j != NULL;
	if (cp->j) {
		m->journal_queued = cp->jseq;
		m->journal_committed = bg_journal_committed(cp->j);
	}
	m->bwlimit_up = cp->bw_up.rate;
	m->bwlimit_down = cp->bw_down.rate;
	m->elapsed_s = (double)(now - cp->t0) / 1e9;
	m->finished = final;
	cp->o->on_metrics(cp->o->ctx, m);
}

/* --bwlimit-file: read at start, every second, and at once on SIGHUP.
 * A missing or unreadable file keeps the limit in force. */
static void bw_reload(bg_copy *cp, uint64_t now, bool force)
{
	const bg_copy_opts *o = cp->o;
	bool hup = o->reload && *o->reload;
	if (!o->bwlimit_file || (!force && !hup && now - cp->last_bwread < 1000000000ull))
		return;
	if (hup)
		*o->reload = 0;
	cp->last_bwread = now;
	FILE *f = fopen(o->bwlimit_file, "r");
	if (!f)
		return;
	char line[128];
	uint64_t up, down;
	char err[160];
	if (fgets(line, sizeof(line), f) && bg_bwlimit_parse(line, &up, &down, err, sizeof(err)) == 0) {
		bg_bucket_set(&cp->bw_up, up, now);
		bg_bucket_set(&cp->bw_down, down, now);
	}
	fclose(f);
}

/* Resumes one transfer the bandwidth limit paused, if its bucket has
 * tokens again.  True if it is (still, or again) paused. */
static bool bw_resume(bool *paused, bg_s3_req *r, const bg_bucket *b)
{
	if (!*paused)
		return false;
	if (!r->http.active) {
		*paused = false;
		return false;
	}
	if (b->rate && b->tokens <= 0)
		return true;
	/* May hand the kept chunk to on_get_bytes right here, which may pause
	 * again: that is fine, we are not inside curl_multi. */
	*paused = false;
	curl_easy_pause(r->http.easy, CURLPAUSE_CONT);
	return *paused;
}

/* Refills the buckets and resumes transfers the limit paused.  Returns
 * true if some transfer is still paused (the loop then wakes soon). */
static bool bw_turn(bg_copy *cp, uint64_t now)
{
	bg_bucket_refill(&cp->bw_up, now);
	bg_bucket_refill(&cp->bw_down, now);
	bool waiting = false;
	for (unsigned i = 0; i < cp->nxf; i++) {
		xfer *x = &cp->xf[i];
		waiting |= bw_resume(&x->paused, &x->req,
				     x->phase == X_GET ? &cp->bw_down : &cp->bw_up);
		waiting |= bw_resume(&x->spaused, &x->sreq, &cp->bw_up);
	}
	return waiting;
}

/* Has the journal's writer failed?  Then no record commits any more. */
static bool jdead(bg_copy *cp)
{
	return cp->j && bg_journal_error_state(cp->j, NULL);
}

/* Objects whose final record has committed are counted and reported.
 * If the journal has failed, that record never commits: the object is
 * let go uncounted (the next run finds it not done and checks it again). */
static void finish_journaled(bg_copy *cp)
{
	bool dead = jdead(cp);
	for (obj *o = cp->active_head; o;) {
		obj *next = o->next;
		if (o->state == O_JFINAL) {
			if (jready(cp, o))
				obj_finish(cp, o);
			else if (dead)
				obj_release(cp, o);
			else
				cp->jwaiting++;
		}
		o = next;
	}
}

/* Lets every file operation in the kernel finish: their buffers are pool
 * blocks and their descriptors the objects'. */
static void quiesce_files(bg_copy *cp)
{
	while (cp->http.fops || cp->http.fop_head)
		if (bg_http_turn(&cp->http, 10000000ull) < 0)
			break;
}

/* Drops a transfer at once: its requests (in flight or finished and not
 * yet judged) and its blocks; its object is not settled. */
static void xfer_drop(bg_copy *cp, xfer *x)
{
	bg_http_abort(&cp->http, &x->req.http);
	stream_cancel(cp, x);
	bg_pool_release(&cp->pool, &x->chain);
	x->o->parts_inflight--;
	x->o = NULL;
	x->phase = X_FREE;
	x->waiting = false;
}

/* Drops a control request at once; its object is not settled. */
static void ctl_drop(bg_copy *cp, ctl *c)
{
	bg_http_abort(&cp->http, &c->req.http);
	c->o->ctl_busy = false;
	c->busy = c->waiting = false;
	c->o = NULL;
}

/* Stopping with a journal: drop everything in flight and leave open
 * uploads to the next run, which continues or aborts them from what the
 * journal says.  Objects whose final record is queued finish once it
 * commits (finish_journaled). */
static void halt_journaled(bg_copy *cp)
{
	for (unsigned i = 0; i < cp->nxf; i++)
		if (cp->xf[i].phase != X_FREE)
			xfer_drop(cp, &cp->xf[i]);
	for (unsigned i = 0; i < cp->nctl; i++)
		if (cp->ctls[i].busy)
			ctl_drop(cp, &cp->ctls[i]);
	bool dead = jdead(cp);
	for (obj *o = cp->active_head; o;) {
		obj *next = o->next;
		if (o->state != O_JFINAL || dead)
			obj_release(cp, o);
		o = next;
	}
}

/* Stopping without a journal: every object in flight fails with why, and
 * its open upload is aborted through the usual path, so none is left
 * behind (within HALT_GRACE_NS: see halt_force). */
static void halt_unjournaled(bg_copy *cp, const char *why)
{
	for (unsigned i = 0; i < cp->nxf; i++) {
		xfer *x = &cp->xf[i];
		if (x->phase == X_FREE)
			continue;
		bg_http_abort(&cp->http, &x->req.http);
		obj_fail(cp, x->o, "%s", why);
		xfer_free(cp, x);
	}
	for (obj *o = cp->active_head; o;) {
		obj *next = o->next; /* settling may release o */
		obj_fail(cp, o, "%s", why);
		obj_settle(cp, o);
		o = next;
	}
}

/* The run stops: Ctrl-C, or a fatal error (the listing failed, the
 * journal cannot be written, the disk is full).  Nothing new starts, the
 * listing is dropped with whatever page is in flight (a page arriving
 * after the stop must not queue keys nobody will take), and what is in
 * flight is settled.  Called once, at the top of a loop turn. */
static void halt(bg_copy *cp)
{
	BG_ASSERT(!cp->halting);
	cp->halting = true;
	cp->halt_deadline = bg_now_ns() + HALT_GRACE_NS;
	bg_http_abort(&cp->http, &cp->list.http);
	cp->list_busy = cp->list_waiting = false;
	cp->list_done = true;
	cp->qlen = 0;
	quiesce_files(cp);
	if (cp->j)
		halt_journaled(cp);
	else
		halt_unjournaled(cp, cp->fatal ? "not finished: the copy stopped on an error"
						: "interrupted");
}

/* The stop's grace is over: whatever is still in flight (an abort that
 * keeps failing, a commit that does not come) is dropped.  Without a
 * journal an upload left open is named in its object's failure. */
static void halt_force(bg_copy *cp)
{
	quiesce_files(cp);
	for (unsigned i = 0; i < cp->nxf; i++)
		if (cp->xf[i].phase != X_FREE)
			xfer_drop(cp, &cp->xf[i]);
	for (unsigned i = 0; i < cp->nctl; i++)
		if (cp->ctls[i].busy)
			ctl_drop(cp, &cp->ctls[i]);
	while (cp->active_head) {
		obj *o = cp->active_head;
		if (!cp->j && o->upload_id[0]) {
			char keep[BG_MSG_MAX];
			bg_snprintf(keep, sizeof(keep), "%s; its upload %s was left open (no answer to the abort in time)",
				    o->failed ? o->err : "interrupted", o->upload_id);
			bg_strlcpy(o->err, keep, sizeof(o->err));
			cp->left_open++;
		}
		if (!cp->j) {
			o->failed = true;
			cp->stats.failed_objects++;
			emit(cp, BG_EV_FAILED, o, o->err);
		}
		obj_release(cp, o);
	}
}

/* Is the loop done?  Running: when the listing is read to its end and
 * every object it gave is finished.  Stopping: when nothing is in flight
 * any more (queued keys do not count: nobody will take them). */
static bool run_over(const bg_copy *cp)
{
	if (cp->halting)
		return !cp->active && !cp->list_busy && !cp->http.fops && !cp->http.fop_head;
	return !cp->active && !cp->qlen && !cp->list_busy && cp->list_done &&
	       (!cp->j || cp->sweep_done);
}

static void teardown(bg_copy *cp)
{
	quiesce_files(cp);
	if (cp->objs)
		for (unsigned i = 0; i < cp->nobjs; i++)
			obj_close_files(&cp->objs[i]);
	if (cp->walking)
		bg_walk_close(&cp->walk);
	close_fd(&cp->src_root);
	close_fd(&cp->dst_root);
	free(cp->vbuf);
	for (unsigned i = 0; i < cp->nxf; i++) {
		bg_s3_req_free(&cp->xf[i].req);
		bg_s3_req_free(&cp->xf[i].sreq);
		if (cp->xf[i].xs)
			XXH3_freeState(cp->xf[i].xs);
	}
	free(cp->xf);
	free(cp->md5_runs);
	for (unsigned i = 0; i < cp->nctl; i++) {
		bg_s3_req_free(&cp->ctls[i].req);
		bg_buf_free(&cp->ctls[i].body);
	}
	bg_s3_req_free(&cp->list);
	if (cp->objs) {
		for (unsigned i = 0; i < cp->nobjs; i++) {
			free(cp->objs[i].md5);
			free(cp->objs[i].crc);
			free(cp->objs[i].xxh);
			free(cp->objs[i].pdone);
			free(cp->objs[i].jhave);
		}
	}
	free(cp->objs);
	free(cp->ctls);
	free(cp->queue);
	if (cp->xs_obj)
		XXH3_freeState(cp->xs_obj);
	bg_pool_free(&cp->pool);
	bg_http_free(&cp->http);
}

/* Local paths: the source walk (or the one file), the target directory
 * (made if missing), and descriptors enough for every object's files. */
static bg_err setup_local(bg_copy *cp, bg_status *st)
{
	const bg_copy_opts *o = cp->o;
	if (!cp->lsrc && !cp->ldst)
		return BG_OK;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (cp->lsrc) {
		const char *path = o->src.path;
		struct stat sst;
		if (stat(path, &sst) < 0)
			return bg_fail(st, BG_E_CONFIG, "source %s: %s", path, strerror(errno));
		if (S_ISDIR(sst.st_mode)) {
			cp->src_root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
			int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			char err[200];
			if (cp->src_root < 0 || dfd < 0) {
				if (dfd >= 0)
					close(dfd);
				return bg_fail(st, BG_E_CONFIG, "source directory %s: %s", path, strerror(errno));
			}
			if (bg_walk_open(&cp->walk, dfd, err, sizeof(err)) < 0)
				return bg_fail(st, BG_E_CONFIG, "source directory %s: %s", path, err);
			cp->walking = true;
		} else if (S_ISREG(sst.st_mode)) {
			/* One file: its directory is the root, its name the key's
			 * last part (a DST ending in '/' or a bare bucket), or DST's
			 * key as given. */
			char dir[sizeof(o->src.path)];
			bg_strlcpy(dir, path, sizeof(dir));
			char *slash = strrchr(dir, '/');
			const char *base = slash ? slash + 1 : dir;
			if (bg_strlcpy(cp->single_key, base, sizeof(cp->single_key)) < 0)
				return bg_fail(st, BG_E_CONFIG, "source file name is too long: %s", path);
			if (slash == dir)
				dir[1] = '\0';
			else if (slash)
				*slash = '\0';
			cp->src_root = open(slash ? dir : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (cp->src_root < 0)
				return bg_fail(st, BG_E_CONFIG, "directory of %s: %s", path, strerror(errno));
			const char *pre = o->dst.prefix;
			size_t pl = strlen(pre);
			if (bg_snprintf(cp->single_dkey, sizeof(cp->single_dkey), "%s%s",
					pre, (pl == 0 || pre[pl - 1] == '/') ? cp->single_key : "") < 0)
				return bg_fail(st, BG_E_CONFIG, "destination key is too long");
			cp->single = true;
		} else {
			return bg_fail(st, BG_E_CONFIG, "source %s is not a file or a directory", path);
		}
	}
	if (cp->ldst && !o->dry_run) { /* a dry run makes nothing */
		const char *path = o->dst.path;
		int rc = bg_local_mkdirs(path);
		if (rc < 0)
			return bg_fail(st, BG_E_CONFIG, "cannot make the directory %s: %s", path, strerror(-rc));
		cp->dst_root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (cp->dst_root < 0)
			return bg_fail(st, BG_E_CONFIG, "destination %s: %s", path,
				       errno == ENOTDIR ? "not a directory" : strerror(errno));
		if (faccessat(cp->dst_root, ".", W_OK, AT_EACCESS) < 0)
			return bg_fail(st, BG_E_CONFIG, "destination directory %s is not writable: %s",
				       path, strerror(errno));
		cp->vbuf = malloc(VERIFY_BUF);
		if (!cp->vbuf)
			return bg_fail(st, BG_E_NOMEM, "out of memory for the verify buffer");
	}
	return BG_OK;
}

static bg_err setup(bg_copy *cp, const bg_copy_opts *o, bg_status *st)
{
	cp->o = o;
	cp->j = o->dry_run ? NULL : o->journal;
	cp->cksum = o->cksum;
	cp->xs_obj = XXH3_createState();
	if (!cp->xs_obj)
		return bg_fail(st, BG_E_NOMEM, "out of memory for a hash state");
	cp->lsrc = o->src.kind == BG_LOC_LOCAL;
	cp->ldst = o->dst.kind == BG_LOC_LOCAL;
	if (cp->ldst)
		cp->cksum = BG_CKSUM_NONE; /* no server to check a checksum; XXH3 still runs */
	if (cp->cksum == BG_CKSUM_AUTO)
		cp->cksum = o->dst_ep.custom ? BG_CKSUM_MD5 : BG_CKSUM_CRC32C;
	cp->stream = !cp->lsrc && !cp->ldst && cp->cksum == BG_CKSUM_NONE;
	norm_prefix(o->src.prefix, cp->src_prefix, sizeof(cp->src_prefix));
	norm_prefix(o->dst.prefix, cp->dst_prefix, sizeof(cp->dst_prefix));
	cp->src_plen = strlen(cp->src_prefix);
	/* Transfers: --concurrency GETs plus as many uploads of parts already
	 * read (the pool still bounds the bytes held).  Object slots: enough
	 * for every transfer and control slot to be busy with another. */
	cp->nxf = 2 * o->concurrency;
	cp->nobjs = 3 * o->concurrency + 4;
	/* Every small object ends with a HEAD of the destination on a control
	 * slot: as many of them as transfers, or on a distant endpoint the
	 * HEADs (one round trip each) cap the object rate. */
	unsigned nctl = o->concurrency > NCTL_MIN ? o->concurrency : NCTL_MIN;
	cp->ctls = calloc(nctl, sizeof(*cp->ctls));
	if (!cp->ctls)
		return bg_fail(st, BG_E_NOMEM, "out of memory for the control slots");
	cp->nctl = nctl;
	/* Connections: every request that can be in flight at once may hold
	 * one, on either endpoint (GETs, uploads, control requests, the
	 * listing), and the idle ones of both are kept.  With fewer, a request
	 * to one endpoint closes an idle connection to the other and opens a
	 * new one: with small objects that churn cost a connect and a close
	 * for every third request. */
	unsigned max_conns = 2 * (o->concurrency + nctl) + 2;
	if (bg_http_init(&cp->http, max_conns + 32, max_conns, st))
		return st->code;
	if (bg_pool_init(&cp->pool, o->memory, POOL_BLOCK, st))
		return st->code;
	cp->xf = calloc(cp->nxf, sizeof(*cp->xf));
	cp->md5_runs = calloc(cp->nxf, sizeof(*cp->md5_runs));
	cp->objs = calloc(cp->nobjs, sizeof(*cp->objs));
	cp->queue = malloc(QUEUE_MAX * sizeof(*cp->queue));
	if (!cp->xf || !cp->md5_runs || !cp->objs || !cp->queue)
		return bg_fail(st, BG_E_NOMEM, "out of memory for the transfer tables");
	for (unsigned i = 0; i < cp->nobjs; i++)
		cp->objs[i].sfd = cp->objs[i].tfd = cp->objs[i].dirfd = -1;
	for (unsigned i = 0; i < cp->nxf; i++) {
		xfer *x = &cp->xf[i];
		if (bg_s3_req_init(&x->req, XFER_BODY_MAX, st))
			return st->code;
		x->req.owner = x;
		x->req.done = xfer_done;
		if (bg_s3_req_init(&x->sreq, XFER_BODY_MAX, st))
			return st->code;
		x->sreq.owner = x;
		x->sreq.done = xfer_done;
		x->cp = cp;
		x->xs = XXH3_createState();
		x->fop.owner = x;
		x->fop.done = xfer_fop_done;
		if (!x->xs)
			return bg_fail(st, BG_E_NOMEM, "out of memory for hash states");
	}
	for (unsigned i = 0; i < cp->nctl; i++) {
		ctl *c = &cp->ctls[i];
		if (bg_s3_req_init(&c->req, CTL_BODY_MAX, st))
			return st->code;
		c->req.owner = c;
		c->req.done = ctl_done;
		c->cp = cp;
		c->fop.owner = c;
		c->fop.done = ctl_fop_done;
		bg_buf_init(&c->body, CTL_BODY_MAX);
	}
	if (bg_s3_req_init(&cp->list, LIST_BODY_MAX, st))
		return st->code;
	if (o->stall_timeout_s) {
		for (unsigned i = 0; i < cp->nxf; i++) {
			bg_s3_req_stall(&cp->xf[i].req, o->stall_timeout_s);
			bg_s3_req_stall(&cp->xf[i].sreq, o->stall_timeout_s);
		}
		for (unsigned i = 0; i < cp->nctl; i++)
			bg_s3_req_stall(&cp->ctls[i].req, o->stall_timeout_s);
		bg_s3_req_stall(&cp->list, o->stall_timeout_s);
	}
	cp->list.owner = cp;
	cp->list.done = list_done;
	for (unsigned i = 0; i < cp->nobjs; i++) {
		obj *ob = &cp->objs[i];
		ob->md5 = calloc(BG_PARTS_MAX, sizeof(*ob->md5));
		ob->crc = calloc(BG_PARTS_MAX, sizeof(*ob->crc));
		ob->xxh = calloc(BG_PARTS_MAX, sizeof(*ob->xxh));
		ob->pdone = calloc(BG_PARTS_MAX, 1);
		ob->jhave = calloc(BG_PARTS_MAX, 1);
		if (!ob->md5 || !ob->crc || !ob->xxh || !ob->pdone || !ob->jhave)
			return bg_fail(st, BG_E_NOMEM, "out of memory for part tables");
	}
	return setup_local(cp, st);
}

/* HEAD of the destination bucket before anything moves: a missing bucket
 * or bad keys are configuration errors, not a thousand failed objects. */
static void preflight_cb(bg_s3_req *r)
{
	(void)r; /* the loop below waits for r to leave curl and the done queue */
}

static bg_err preflight(bg_copy *cp, bg_status *st)
{
	bg_s3_req *r = &cp->ctls[0].req;
	for (unsigned attempt = 1;; attempt++) {
		bg_s3_call c = { .method = "HEAD", .bucket = cp->o->dst.bucket };
		if (bg_s3_prepare(r, &cp->o->dst_ep, &c, st) < 0)
			return st->code;
		r->done = preflight_cb;
		if (bg_s3_start(&cp->http, r) < 0)
			return bg_fail(st, BG_E_INTERNAL, "cannot start a request");
		while (r->http.active || r->http.queued) {
			if (stop_asked(cp)) {
				bg_http_abort(&cp->http, &r->http);
				r->done = ctl_done;
				return bg_fail(st, BG_E_USAGE, "interrupted");
			}
			if (bg_http_turn(&cp->http, 100000000ull) < 0)
				return bg_fail(st, BG_E_INTERNAL, "event loop failed");
		}
		r->done = ctl_done;
		note_req(cp, r, BG_MX_DST, BG_M_HEAD);
		char msg[BG_MSG_MAX];
		bg_s3_outcome out = bg_s3_classify(r, msg, sizeof(msg));
		if (out == BG_S3_DONE)
			return BG_OK;
		if (out == BG_S3_RETRY && attempt < cp->o->retries) {
			note_retry(cp, r, BG_M_HEAD, "", attempt, msg, false);
			uint64_t until = bg_now_ns() + bg_s3_backoff_ns(r, attempt);
			for (uint64_t now; (now = bg_now_ns()) < until && !stop_asked(cp);)
				bg_http_turn(&cp->http, until - now < 100000000ull ? until - now : 100000000ull);
			continue;
		}
		if (r->status == 404)
			return bg_fail(st, BG_E_CONFIG,
				       "destination bucket '%s' does not exist at %s: create it first",
				       cp->o->dst.bucket, cp->o->dst_ep.url);
		if (r->status == 403)
			return bg_fail(st, BG_E_CONFIG,
				       "access to destination bucket '%s' at %s denied (HTTP 403): check the %s keys",
				       cp->o->dst.bucket, cp->o->dst_ep.url,
				       cp->o->dst.kind == BG_LOC_R2 ? "R2_ACCESS_KEY_ID/R2_SECRET_ACCESS_KEY" : "destination");
		/* Refused, reset, timed out, 5xx after every retry: the endpoint
		 * may come back; anything else is for the user to fix. */
		return bg_fail(st, out == BG_S3_RETRY ? BG_E_NET : BG_E_CONFIG,
			       "cannot reach destination bucket '%s' at %s: %s",
			       cp->o->dst.bucket, cp->o->dst_ep.url, msg);
	}
}

bg_err bg_copy_run(const bg_copy_opts *o, bg_copy_stats *stats, bg_status *st)
{
	bg_copy *cp = calloc(1, sizeof(*cp));
	if (!cp)
		return bg_fail(st, BG_E_NOMEM, "out of memory");
	cp->src_root = cp->dst_root = -1;
	bg_err rc = setup(cp, o, st);
	if (rc == BG_OK && !cp->ldst)
		rc = preflight(cp, st);
	if (rc != BG_OK) {
		teardown(cp);
		free(cp);
		return rc;
	}
	cp->t0 = bg_now_ns();
	bg_bucket_set(&cp->bw_up, o->bw_up, cp->t0);
	bg_bucket_set(&cp->bw_down, o->bw_down, cp->t0);
	bw_reload(cp, cp->t0, true);
	cp->last_metrics = cp->t0;
	for (;;) {
		uint64_t now = bg_now_ns();
		if (cp->j) {
			bg_status jst = { 0 };
			if (bg_journal_error_state(cp->j, &jst))
				set_fatal(cp, jst.code ? jst.code : BG_E_IO, "journal: %s", jst.msg);
		}
		if (!cp->halting && (stop_asked(cp) || cp->fatal))
			halt(cp);
		if (cp->halting && now >= cp->halt_deadline)
			halt_force(cp);
		cp->jwaiting = 0;
		maybe_list(cp);
		admit(cp);
		sweep_orphans(cp);
		dispatch_ctl(cp, now);
		uint64_t hash_wait = md5_turn(cp);
		whole_turn(cp);
		dispatch_data(cp, now);
		if (cp->j)
			finish_journaled(cp);
		progress(cp, false);
		publish_metrics(cp, false);
		bw_reload(cp, now, false);
		stream_turn(cp);
		bool throttled = bw_turn(cp, bg_now_ns());
		if (run_over(cp))
			break;
		uint64_t wait = 100000000ull; /* progress cadence */
		if (cp->jwaiting)
			wait = 1000000ull; /* the writer thread commits in the meantime */
		if (hash_wait < wait)
			wait = hash_wait; /* a part waits to be hashed beside another */
		if (throttled && wait > 2000000ull)
			wait = 2000000ull; /* tokens come back every few ms */
		if (cp->halting) {
			uint64_t left = cp->halt_deadline > now ? cp->halt_deadline - now : 1;
			if (left < wait)
				wait = left; /* halt_force's moment */
		}
		int lrc = bg_http_turn(&cp->http, wait);
		if (lrc < 0) {
			set_fatal(cp, BG_E_INTERNAL, "event loop failed: %s", strerror(-lrc));
			break;
		}
	}
	if (!cp->halting && !cp->fatal && cp->settled != cp->stats.listed_objects)
		set_fatal(cp, BG_E_INTERNAL, "%llu of %llu listed objects were never settled (a bug in "
			  "barge: please report it); the copy is not complete",
			  (unsigned long long)(cp->stats.listed_objects - cp->settled),
			  (unsigned long long)cp->stats.listed_objects);
	progress(cp, true);
	publish_metrics(cp, true);
	*stats = cp->stats;
	if (cp->fatal) {
		*st = cp->fatal_st;
		rc = st->code;
	} else if (cp->stats.failed_objects) {
		rc = bg_fail(st, BG_E_INTEGRITY, "%llu object(s) failed",
			     (unsigned long long)cp->stats.failed_objects);
	} else if (o->stop && *o->stop) {
		rc = bg_fail(st, BG_E_USAGE, "interrupted");
	}
	teardown(cp);
	free(cp);
	return rc;
}
