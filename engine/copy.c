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
#include "copy_int.h"

#include <sys/resource.h>

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

/* A permanent problem: stop dispatching, abort the upload if one is open. */
/* Has the user asked the copy to stop (Ctrl-C)? */
static bool stop_asked(const bg_copy *cp)
{
	return cp->o->stop && *cp->o->stop;
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
	cp_stream_cancel(cp, x);
	bg_pool_release(&cp->pool, &x->chain);
	cp_xfer_to(cp, x, X_FREE);
	x->o->parts_inflight--;
	x->o = NULL;
	x->retry.waiting = false;
}

/* Drops a control request at once; its object is not settled. */
static void ctl_drop(bg_copy *cp, ctl *c)
{
	bg_http_abort(&cp->http, &c->req.http);
	c->o->ctl_busy = false;
	c->busy = c->retry.waiting = false;
	c->o = NULL;
}

/* Stopping with a journal: drop everything in flight and leave open
 * uploads to the next run, which continues or aborts them from what the
 * journal says.  Objects whose final record is queued finish once it
 * commits (cp_finish_journaled). */
static void halt_journaled(bg_copy *cp)
{
	for (unsigned i = 0; i < cp->nxf; i++)
		if (cp->xf[i].phase != X_FREE)
			xfer_drop(cp, &cp->xf[i]);
	for (unsigned i = 0; i < cp->nctl; i++)
		if (cp->ctls[i].busy)
			ctl_drop(cp, &cp->ctls[i]);
	bool dead = cp_jdead(cp);
	for (obj *o = cp->active_head; o;) {
		obj *next = o->next;
		if (o->state != O_JFINAL || dead)
			cp_obj_release(cp, o);
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
		cp_obj_fail(cp, x->o, "%s", why);
		cp_xfer_free(cp, x);
	}
	for (obj *o = cp->active_head; o;) {
		obj *next = o->next; /* settling may release o */
		cp_obj_fail(cp, o, "%s", why);
		cp_obj_settle(cp, o);
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
	bg_lister_stop(&cp->lister);
	cp->list_done = true;
	cp->qlen = 0;
	quiesce_files(cp);
	if (cp->j)
		halt_journaled(cp);
	else
		halt_unjournaled(cp, cp->fatal.set ? "not finished: the copy stopped on an error"
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
			cp_emit(cp, BG_EV_FAILED, o, o->err);
		}
		cp_obj_release(cp, o);
	}
}

/* Is the loop done?  Running: when the listing is read to its end and
 * every object it gave is finished.  Stopping: when nothing is in flight
 * any more (queued keys do not count: nobody will take them). */
static bool run_over(const bg_copy *cp)
{
	if (cp->halting)
		return !cp->active && bg_lister_idle(&cp->lister) && !cp->http.fops && !cp->http.fop_head;
	return !cp->active && !cp->qlen && bg_lister_idle(&cp->lister) && cp->list_done &&
	       (!cp->j || cp->sweep_done);
}

static void teardown(bg_copy *cp)
{
	quiesce_files(cp);
	if (cp->objs)
		for (unsigned i = 0; i < cp->nobjs; i++)
			cp_obj_close_files(&cp->objs[i]);
	if (cp->walking)
		bg_walk_close(&cp->walk);
	cp_close_fd(&cp->src_root);
	cp_close_fd(&cp->dst_root);
	free(cp->vbuf);
	for (unsigned i = 0; cp->xf && i < cp->nxf; i++) {
		bg_s3_req_free(&cp->xf[i].req);
		bg_s3_req_free(&cp->xf[i].sreq);
		if (cp->xf[i].xs)
			XXH3_freeState(cp->xf[i].xs);
	}
	free(cp->xf);
	free(cp->md5_runs);
	for (unsigned i = 0; cp->ctls && i < cp->nctl; i++) {
		bg_s3_req_free(&cp->ctls[i].req);
		bg_buf_free(&cp->ctls[i].body);
	}
	bg_lister_free(&cp->lister);
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

/* The transfer slots: each with its two requests (the GET or upload, and
 * a cut-through upload), a hash state, a file operation. */
static bg_err setup_xfers(bg_copy *cp, bg_status *st)
{
	for (unsigned i = 0; i < cp->nxf; i++) {
		xfer *x = &cp->xf[i];
		if (bg_s3_req_init(&x->req, XFER_BODY_MAX, st) ||
		    bg_s3_req_init(&x->sreq, XFER_BODY_MAX, st))
			return st->code;
		x->req.owner = x->sreq.owner = x;
		x->req.done = x->sreq.done = cp_xfer_done;
		x->cp = cp;
		x->xs = XXH3_createState();
		x->fop.owner = x;
		x->fop.done = cp_xfer_fop_done;
		if (!x->xs)
			return bg_fail(st, BG_E_NOMEM, "out of memory for hash states");
		if (cp->o->stall_timeout_s) {
			bg_s3_req_stall(&x->req, cp->o->stall_timeout_s);
			bg_s3_req_stall(&x->sreq, cp->o->stall_timeout_s);
		}
	}
	return BG_OK;
}

/* The control slots, the listing's request and the objects' part tables
 * (10,000 parts each, allocated once). */
static bg_err setup_ctls_objs(bg_copy *cp, bg_status *st)
{
	for (unsigned i = 0; i < cp->nctl; i++) {
		ctl *c = &cp->ctls[i];
		if (bg_s3_req_init(&c->req, CTL_BODY_MAX, st))
			return st->code;
		c->req.owner = c;
		c->req.done = cp_ctl_done;
		c->cp = cp;
		c->fop.owner = c;
		c->fop.done = cp_ctl_fop_done;
		bg_buf_init(&c->body, CTL_BODY_MAX);
		if (cp->o->stall_timeout_s)
			bg_s3_req_stall(&c->req, cp->o->stall_timeout_s);
	}
	if (cp_list_init(cp, st))
		return st->code;
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
	 * for every transfer and control slot to be busy with another.  Every
	 * small object ends with a HEAD of the destination on a control slot:
	 * as many of them as transfers, or on a distant endpoint the HEADs
	 * (one round trip each) cap the object rate. */
	cp->nxf = 2 * o->concurrency;
	cp->nobjs = 3 * o->concurrency + 4;
	cp->nctl = o->concurrency > NCTL_MIN ? o->concurrency : NCTL_MIN;
	/* Connections: every request that can be in flight at once may hold
	 * one, on either endpoint (GETs, uploads, control requests, the
	 * listing), and the idle ones of both are kept.  With fewer, a request
	 * to one endpoint closes an idle connection to the other and opens a
	 * new one: with small objects that churn cost a connect and a close
	 * for every third request. */
	unsigned max_conns = 2 * (o->concurrency + cp->nctl) + 2;
	if (bg_http_init(&cp->http, max_conns + 32, max_conns, st) ||
	    bg_pool_init(&cp->pool, o->memory, POOL_BLOCK, st))
		return st->code;
	cp->ctls = calloc(cp->nctl, sizeof(*cp->ctls));
	cp->xf = calloc(cp->nxf, sizeof(*cp->xf));
	cp->md5_runs = calloc(cp->nxf, sizeof(*cp->md5_runs));
	cp->objs = calloc(cp->nobjs, sizeof(*cp->objs));
	cp->queue = malloc(QUEUE_MAX * sizeof(*cp->queue));
	if (!cp->ctls || !cp->xf || !cp->md5_runs || !cp->objs || !cp->queue)
		return bg_fail(st, BG_E_NOMEM, "out of memory for the transfer tables");
	for (unsigned i = 0; i < cp->nobjs; i++)
		cp->objs[i].sfd = cp->objs[i].tfd = cp->objs[i].dirfd = -1;
	bg_err e = setup_xfers(cp, st);
	if (!e)
		e = setup_ctls_objs(cp, st);
	return e ? e : setup_local(cp, st);
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
				r->done = cp_ctl_done;
				return bg_fail(st, BG_E_USAGE, "interrupted");
			}
			if (bg_http_turn(&cp->http, 100000000ull) < 0)
				return bg_fail(st, BG_E_INTERNAL, "event loop failed");
		}
		r->done = cp_ctl_done;
		cp_note_req(cp, r, BG_MX_DST, BG_M_HEAD);
		char msg[BG_MSG_MAX];
		bg_s3_outcome out = bg_s3_classify(r, msg, sizeof(msg));
		if (out == BG_S3_DONE)
			return BG_OK;
		if (out == BG_S3_RETRY && attempt < cp->o->retries) {
			cp_note_retry(cp, r, BG_M_HEAD, "", attempt, msg, false);
			uint64_t until = bg_now_ns() + bg_s3_backoff_ns(r, attempt);
			for (uint64_t now; (now = bg_now_ns()) < until && !stop_asked(cp);)
				bg_http_turn(&cp->http, until - now < 100000000ull ? until - now : 100000000ull);
			continue;
		}
		bg_s3_why why = bg_s3_why_failed(r, out, true);
		if (why == BG_WHY_NO_BUCKET || why == BG_WHY_KEYS || why == BG_WHY_DENIED) {
			char line[BG_MSG_MAX];
			bg_s3_failure f = { .r = r, .out = out, .msg = msg, .side = "destination",
					    .loc = &cp->o->dst, .ep = &cp->o->dst_ep, .bucket_level = true };
			bg_err code = bg_s3_explain(&f, line, sizeof(line));
			return bg_fail(st, code, "%s", line);
		}
		/* Refused, reset, timed out, 5xx after every retry: the endpoint
		 * may come back; anything else is for the user to fix. */
		return bg_fail(st, out == BG_S3_RETRY ? BG_E_NET : BG_E_CONFIG,
			       "cannot reach destination bucket '%s' at %s: %s",
			       cp->o->dst.bucket, cp->o->dst_ep.url, msg);
	}
}

/* One turn's work, in order: the stop, the listing, admission, control
 * requests, hashing, data.  Returns how long the loop may sleep. */
static uint64_t turn(bg_copy *cp, uint64_t now)
{
	if (cp->j) {
		bg_status jst = { 0 };
		if (bg_journal_error_state(cp->j, &jst))
			bg_fatal_set(&cp->fatal, jst.code ? jst.code : BG_E_IO, "journal: %s", jst.msg);
	}
	if (!cp->halting && (stop_asked(cp) || cp->fatal.set))
		halt(cp);
	if (cp->halting && now >= cp->halt_deadline)
		halt_force(cp);
	cp->jwaiting = 0;
	cp_maybe_list(cp);
	cp_admit(cp);
	cp_sweep_orphans(cp);
	cp_dispatch_ctl(cp, now);
	uint64_t hash_wait = cp_md5_turn(cp);
	cp_whole_turn(cp);
	cp_dispatch_data(cp, now);
	if (cp->j)
		cp_finish_journaled(cp);
	progress(cp, false);
	publish_metrics(cp, false);
	cp_bw_reload(cp, now, false);
	cp_stream_turn(cp);
	bool throttled = cp_bw_turn(cp, bg_now_ns());
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
	return wait;
}

/* The run's result: a fatal error, failed objects, a stop, or done. */
static bg_err outcome(bg_copy *cp, bg_status *st)
{
	if (!cp->halting && !cp->fatal.set && cp->settled != cp->stats.listed_objects)
		bg_fatal_set(&cp->fatal, BG_E_INTERNAL, "%llu of %llu listed objects were never "
			     "settled (a bug in barge: please report it); the copy is not complete",
			     (unsigned long long)(cp->stats.listed_objects - cp->settled),
			     (unsigned long long)cp->stats.listed_objects);
	if (cp->fatal.set) {
		*st = cp->fatal.st;
		return st->code;
	}
	if (cp->stats.failed_objects)
		return bg_fail(st, BG_E_INTEGRITY, "%llu object(s) failed",
			       (unsigned long long)cp->stats.failed_objects);
	if (stop_asked(cp))
		return bg_fail(st, BG_E_USAGE, "interrupted");
	return BG_OK;
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
	cp_bw_start(cp, cp->t0);
	cp->last_metrics = cp->t0;
	for (;;) {
		uint64_t wait = turn(cp, bg_now_ns());
		if (run_over(cp))
			break;
		int lrc = bg_http_turn(&cp->http, wait);
		if (lrc < 0) {
			bg_fatal_set(&cp->fatal, BG_E_INTERNAL, "event loop failed: %s", strerror(-lrc));
			break;
		}
	}
	rc = outcome(cp, st);
	progress(cp, true);
	publish_metrics(cp, true);
	*stats = cp->stats;
	teardown(cp);
	free(cp);
	return rc;
}
