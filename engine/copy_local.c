/* copy_local.c - the copy scheduler's local side: file reads, writes and
 * control steps that answer the way requests do, and the write-behind of
 * downloads (copy_int.h; docs/local.md). */
#include "copy_int.h"

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
uint64_t cp_wb_cap(const bg_copy *cp, const xfer *x)
{
	return (uint64_t)x->chain.nblocks * cp->pool.block_size;
}

int cp_wb_append(bg_copy *cp, xfer *x, const char *p, size_t n)
{
	uint64_t cap = cp_wb_cap(cp, x), pos = x->got % cap;
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
		uint64_t cap = cp_wb_cap(cp, x);
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
int cp_wb_write(bg_copy *cp, xfer *x)
{
	uint64_t took;
	int rc = wb_submit(cp, x, x->wsub, x->got, &took);
	if (rc == 0)
		x->wsub += took;
	return rc;
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
		bg_fatal_set(&cp->fatal, BG_E_IO, "cannot write to %s: %s: choose a writable "
			     "directory with enough free space", cp->o->dst.path, strerror(e));
	cp_obj_fail(cp, o, "%s %s: %s", what, name, strerror(e));
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
		cp_obj_fail(cp, o, "cannot stat %s: %s", o->key, strerror(errno));
		return true;
	}
	bg_local_etag(st, now, sizeof(now));
	if (strcmp(now, o->etag) == 0)
		return false;
	o->restart = o->restarts < MAX_RESTARTS;
	if (!o->restart)
		cp_obj_fail(cp, o, "source file keeps changing during the copy");
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
		cp_obj_fail(cp, o, "cannot queue a file %s: %s", write ? "write" : "read", strerror(-rc));
		return -1;
	}
	return 0;
}

int cp_local_get(bg_copy *cp, xfer *x)
{
	obj *o = x->o;
	if (o->sfd < 0) {
		o->sfd = openat(cp->src_root, o->key, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (o->sfd < 0) {
			cp_obj_fail(cp, o, "cannot open %s: %s", o->key, strerror(errno));
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
			cp_obj_fail(cp, o, "cannot make the directories of %s: a part of the path is a file or a symlink",
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
int cp_local_create(bg_copy *cp, obj *o)
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
	cp_close_fd(&o->tfd);
	return 0;
}

int cp_local_put(bg_copy *cp, xfer *x)
{
	obj *o = x->o;
	x->syncing = false;
	if (!o->plan.multipart && o->tfd < 0 && cp_local_create(cp, o) < 0)
		return -1;
	return local_step(cp, x);
}

void cp_local_get_done(bg_copy *cp, xfer *x, int res)
{
	obj *o = x->o;
	if (res < 0) {
		cp_obj_fail(cp, o, "read of %s failed: %s", o->key, strerror(-res));
		cp_xfer_free(cp, x);
		return;
	}
	x->got += (uint64_t)res;
	cp->stats.bytes_read += (uint64_t)res;
	struct stat st;
	if (res == 0 && x->got < x->len) { /* the file got shorter */
		if (!local_src_changed(cp, o, &st))
			cp_obj_fail(cp, o, "%s ended early", o->key);
		cp_xfer_free(cp, x);
		return;
	}
	if (x->got < x->len) {
		if (local_step(cp, x) < 0)
			cp_xfer_free(cp, x);
		return;
	}
	bg_chain_set_len(&cp->pool, &x->chain, x->len);
	bg_chain_each(&cp->pool, &x->chain, cp_xfer_hash, x);
	if (local_src_changed(cp, o, &st)) {
		cp_xfer_free(cp, x);
		return;
	}
	local_answer(&x->req, NULL);
	if (!o->plan.multipart && bg_local_meta_mtime(&x->req.meta, &st.st_mtim) < 0) {
		cp_obj_fail(cp, o, "no room for the mtime metadata");
		cp_xfer_free(cp, x);
		return;
	}
	cp_xfer_done(&x->req);
}

void cp_local_put_done(bg_copy *cp, xfer *x, int res)
{
	obj *o = x->o;
	char hex[33];
	if (o->failed || o->restart) {
		cp_xfer_free(cp, x);
		return;
	}
	if (x->syncing) {
		x->syncing = false;
		if (res < 0) {
			local_fail(cp, o, -res, "cannot flush", o->dkey);
			cp_xfer_free(cp, x);
			return;
		}
		if (local_finalize(cp, o) < 0) {
			cp_xfer_free(cp, x);
			return;
		}
		o->upload_id[0] = '\0'; /* nothing left to remove */
		hex128(x->digest, hex);
		local_answer(&x->req, hex);
		cp_xfer_done(&x->req);
		return;
	}
	if (res < 0 || (res == 0 && x->got < x->len)) {
		local_fail(cp, o, res < 0 ? -res : EIO, "cannot write", o->dkey);
		cp_xfer_free(cp, x);
		return;
	}
	x->got += (uint64_t)res;
	cp->stats.bytes_written += (uint64_t)res;
	if (x->got < x->len) {
		if (local_step(cp, x) < 0)
			cp_xfer_free(cp, x);
		return;
	}
	if (!o->plan.multipart) {
		/* On disk before the rename: the file appears whole or not at all. */
		x->syncing = true;
		if (bg_http_fdatasync(&cp->http, &x->fop, o->tfd) < 0) {
			cp_obj_fail(cp, o, "cannot queue a flush of %s", o->dkey);
			cp_xfer_free(cp, x);
		}
		return;
	}
	/* A part's "ETag" is its XXH3-128: what a resume re-reads to check it. */
	hex128(x->digest, hex);
	local_answer(&x->req, hex);
	cp_xfer_done(&x->req);
}

/* A write-behind write has landed (or failed) while its GET runs or
 * waits to be judged. */
void cp_wb_done(bg_copy *cp, xfer *x, int res)
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
		cp_xfer_judge(cp, x, &x->req);
		return;
	}
	if (!running || cp->halting)
		return; /* its end, already queued, is judged next; or it is dropped */
	if (o->failed || o->restart) {
		bg_http_abort(&cp->http, &x->req.http);
		cp_xfer_free(cp, x);
		return;
	}
	if (x->got > x->wsub && (x->wfull || x->got - x->wsub >= WB_CHUNK)) {
		int rc = cp_wb_write(cp, x);
		if (rc < 0) {
			cp_obj_fail(cp, o, "cannot queue a write of %s: %s", o->dkey, strerror(-rc));
			bg_http_abort(&cp->http, &x->req.http);
			cp_xfer_free(cp, x);
			return;
		}
	}
	if (x->wfull) {
		/* May hand the kept chunk to on_get_bytes right here. */
		x->wfull = false;
		curl_easy_pause(x->req.http.easy, CURLPAUSE_CONT);
	}
}

/* ---- local files: control --------------------------------------------- */

bool cp_local_ctl_side(const bg_copy *cp, ostate s)
{
	return cp_ostates[s].ctl & CTL_SRC ? cp->lsrc : cp->ldst;
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
 * the way a request would: res 0 goes on through cp_ctl_done, res < 0 means
 * the failure is recorded already. */
/* The source file's "HEAD": its size, "ETag" and mtime.  0, or -1 with
 * o failed. */
static int local_head(bg_copy *cp, obj *o, bg_s3_req *r)
{
	struct stat st;
	if (fstatat(cp->src_root, o->key, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		cp_obj_fail(cp, o, "cannot stat %s: %s", o->key, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		cp_obj_fail(cp, o, "%s is no longer a regular file", o->key);
		return -1;
	}
	bg_local_etag(&st, r->etag, sizeof(r->etag));
	r->has_length = true;
	r->content_length = (uint64_t)st.st_size;
	bg_local_meta_mtime(&r->meta, &st.st_mtim);
	return 0;
}

/* The finished file's "HEAD" (never O_RECHECK here: cp_jgone copies a
 * download anew).  0, or -1 with o failed. */
static int local_verify(bg_copy *cp, obj *o, bg_s3_req *r)
{
	struct stat st;
	int rc = local_dir(cp, o);
	if (rc == 0 && fstatat(o->dirfd, bg_local_base(o->dkey), &st, AT_SYMLINK_NOFOLLOW) < 0)
		rc = -errno;
	if (rc == -ENOENT || rc == -ENOTDIR) {
		cp_obj_fail(cp, o, "%s is not there after the rename", o->dkey);
		return -1;
	}
	if (rc < 0) {
		cp_obj_fail(cp, o, "cannot stat %s: %s", o->dkey, strerror(-rc));
		return -1;
	}
	r->has_length = true;
	r->content_length = (uint64_t)st.st_size;
	bg_strlcpy(r->etag, S_ISREG(st.st_mode) ? o->expect_etag : "not-a-file", sizeof(r->etag));
	return 0;
}

int cp_local_ctl(bg_copy *cp, ctl *c)
{
	obj *o = c->o;
	bg_s3_req *r = &c->req;
	struct stat st;
	int res = 0, rc;
	local_answer(r, NULL);
	switch (o->state) {
	case O_HEAD:
		res = local_head(cp, o, r);
		break;
	case O_CREATE:
		/* The room is made by io_uring: on a large file (or tmpfs, where
		 * it allocates every page) fallocate takes a while. */
		if (local_open_temp(cp, o) < 0)
			res = -1;
		else if (o->size && bg_http_fallocate(&cp->http, &c->fop, o->tfd, o->size) == 0)
			return 0; /* on to cp_ctl_fop_done */
		else
			res = local_room_now(cp, o); /* the ring refused it: here */
		break;
	case O_COMPLETE:
		if (bg_http_fdatasync(&cp->http, &c->fop, o->tfd) < 0) {
			cp_obj_fail(cp, o, "cannot queue a flush of %s", o->dkey);
			return -1;
		}
		return 0; /* on to cp_ctl_fop_done */
	case O_VERIFY:
		res = local_verify(cp, o, r);
		break;
	case O_ABORT:
	case O_ABORT_STRAY:
	case O_SWEEP_ABORT: {
		const char *name = o->state == O_ABORT ? o->upload_id : o->stray_id;
		if (o->state == O_ABORT)
			cp_close_fd(&o->tfd);
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
	case O_UPLOADS:
	case O_SWEEP: {
		char tmp[BG_TEMP_NAME_MAX];
		bg_local_temp_name(o->dkey, tmp);
		o->stray_id[0] = '\0';
		if (local_dir(cp, o) == 0 && fstatat(o->dirfd, tmp, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (o->state == O_UPLOADS && o->resumed && strcmp(o->upload_id, tmp) == 0 &&
			    S_ISREG(st.st_mode))
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
			r->status = 404; /* gone since: cp_ctl_done starts it over */
		else
			local_check_parts(cp, o);
		break;
	default:
		BG_ASSERT(!"no local step for this state");
	}
	bg_http_fop_post(&cp->http, &c->fop, res);
	return 0;
}

void cp_ctl_fop_done(bg_fop *op)
{
	ctl *c = op->owner;
	bg_copy *cp = c->cp;
	if (!c->busy)
		return; /* dropped while stopping */
	obj *o = c->o;
	if (o->state == O_COMPLETE && op->res >= 0 && !o->failed) {
		if (local_finalize(cp, o) < 0) {
			cp_ctl_release(cp, c);
			return;
		}
		local_answer(&c->req, NULL);
		o->put_etag[0] = '\0';
	} else if (o->state == O_COMPLETE && op->res < 0) {
		local_fail(cp, o, -op->res, "cannot flush", o->dkey);
	} else if (o->state == O_CREATE && op->res < 0) {
		op->res = local_room(cp, o, -op->res);
	}
	if (op->res < 0 || (o->failed && !cp_cleaning(o))) {
		cp_ctl_release(cp, c);
		return;
	}
	cp_ctl_done(&c->req);
}
