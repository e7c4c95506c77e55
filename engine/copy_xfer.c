/* copy_xfer.c - part transfers of the copy scheduler: the GET into a part's
 * pool blocks, the upload from them, cut-through uploads, retries, and the
 * dispatch of both (copy_int.h). */
#include "copy_int.h"

/* The part's digests, over bytes as they arrive (or, for a file, once
 * they are all read).  MD5 is not here: cp_md5_turn takes it between loop
 * turns, over many parts at once, and md5_finish the rest. */
void cp_xfer_hash(void *ctx, const unsigned char *p, size_t n)
{
	xfer *x = ctx;
	XXH3_128bits_update(x->xs, p, n);
	if (x->cp->cksum == BG_CKSUM_CRC32C)
		x->crc = bg_crc32c(x->crc, p, n);
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
	if (x->wb && x->got + n - x->wdone > cp_wb_cap(cp, x)) {
		/* The ring is full of unwritten bytes: wait for the write (none
		 * starts once the copy is stopping: the GET is dropped). */
		int rc = x->fop.active || cp->halting ? 0 : cp_wb_write(cp, x);
		if (rc < 0 || n > cp_wb_cap(cp, x)) {
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
	if ((x->wb ? cp_wb_append(cp, x, p, n) : bg_chain_append(&cp->pool, &x->chain, p, n)) < 0)
		return 0;
	cp_xfer_hash(x, (const unsigned char *)p, n);
	x->got += n;
	cp->stats.bytes_read += n;
	if (x->wb && !x->fop.active && x->got - x->wsub >= WB_CHUNK && !cp->halting) {
		int rc = cp_wb_write(cp, x);
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
 * far.  When it has sent all of that it pauses; cp_stream_turn resumes it. */
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
	if (x->wb && !o->plan.multipart && o->tfd < 0 && cp_local_create(cp, o) < 0)
		return -1; /* a multipart download's file is made before its parts */
	if (x->md5_on) {
		bg_md5_init(&x->md5);
		bg_chain_cur_start(&x->chain, &x->md5_at);
		x->md5_moved = bg_now_ns();
	}
	x->crc = 0;
	x->got = 0;
	x->nostream = false;
	cp_xfer_to(cp, x, X_GET);
	if (cp->lsrc)
		return cp_local_get(cp, x);
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
	return cp_obj_req_start(cp, o, &x->req, &cp->o->src_ep, &c, "GET");
}

static int start_put(bg_copy *cp, xfer *x)
{
	obj *o = x->o;
	if (cp->ldst) {
		x->got = 0;
		x->paused = false;
		cp_xfer_to(cp, x, X_PUT);
		return cp_local_put(cp, x);
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
	cp_xfer_to(cp, x, X_PUT);
	bg_s3_call c = {
		.method = "PUT", .bucket = cp->o->dst.bucket, .key = o->dkey, .query = q,
		.nquery = nq, .headers = h, .nheaders = nh,
		.meta = o->plan.multipart ? NULL : &o->meta, .body = BG_BODY_STREAM,
		.body_len = x->len, .read_fn = on_put_bytes, .io_ctx = x,
	};
	return cp_obj_req_start(cp, o, &x->req, &cp->o->dst_ep, &c, "PUT");
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
	if (cp_req_start(cp, &x->sreq, &cp->o->dst_ep, &c, &st) < 0) {
		x->nostream = true; /* the part uploads the usual way once read */
		return -1;
	}
	x->streaming = true;
	return 0;
}

void cp_stream_cancel(bg_copy *cp, xfer *x)
{
	if (x->sreq.http.active)
		bg_http_abort(&cp->http, &x->sreq.http);
	x->streaming = x->starved = x->spaused = x->sended = false;
}

/* Resumes cut-through uploads the GET has caught up with (outside curl). */
void cp_stream_turn(bg_copy *cp)
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

void cp_xfer_free(bg_copy *cp, xfer *x)
{
	cp_stream_cancel(cp, x);
	bg_pool_release(&cp->pool, &x->chain);
	cp_xfer_to(cp, x, X_FREE);
	obj *o = x->o;
	x->o = NULL;
	x->retry.waiting = false;
	o->parts_inflight--;
	cp_obj_settle(cp, o);
}

void cp_xfer_done(bg_s3_req *r)
{
	xfer *x = r->owner;
	bg_copy *cp = x->cp;
	/* Freeing x cancels both its requests, done or not (bg_http_abort
	 * takes a finished one out of the done queue), so x has its object. */
	BG_ASSERT(x->o);
	if (r == &x->sreq) {
		cp_note_req(cp, r, BG_MX_DST, x->o->plan.multipart ? BG_M_UPLOAD_PART : BG_M_PUT);
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
		cp_note_req(cp, r, x->phase == X_GET ? BG_MX_SRC : BG_MX_DST, op);
	}
	cp_xfer_judge(cp, x, r);
}

/* A GET has brought the whole part: on to the hash, the file (a
 * download), the upload already streaming, or a slot to upload from. */
static void get_done(bg_copy *cp, xfer *x, bg_s3_req *r)
{
	obj *o = x->o;
	x->digest = XXH3_128bits_digest(x->xs);
	o->etag_opaque |= r->etag_opaque;
	if (!o->plan.multipart) {
		o->meta = r->meta; /* headers to preserve, from the GET */
		if (r->etag[0] && strcmp(r->etag, o->etag) != 0) {
			o->restart = o->restarts < MAX_RESTARTS;
			if (!o->restart)
				cp_obj_fail(cp, o, "source keeps changing during the copy");
			cp_xfer_free(cp, x);
			return;
		}
	}
	if (x->wb) {
		/* what the ring still holds goes to the file, then on as a
		 * written part (cp_local_put_done) */
		cp_xfer_to(cp, x, X_PUT);
		x->got = x->wdone;
		if (cp_local_put(cp, x) < 0)
			cp_xfer_free(cp, x);
	} else if (x->streaming) {
		/* the upload goes on (or has ended and is judged now) */
		cp_xfer_to(cp, x, X_PUT);
		if (x->sended)
			cp_xfer_judge(cp, x, &x->sreq);
	} else if (x->md5_on) {
		cp_xfer_to(cp, x, X_HASH); /* cp_md5_turn hashes the rest, then md5_finish */
		x->hash_since = bg_now_ns();
	} else {
		cp_xfer_to(cp, x, X_READY); /* cp_dispatch_data uploads it when a slot is free */
	}
}

/* The destination accepted the part (or the single PUT). */
static void put_done(bg_copy *cp, xfer *x, bg_s3_req *r, unsigned tries)
{
	obj *o = x->o;
	if (!o->plan.multipart) {
		o->xxh[0] = x->digest;
		cp->stats.parts_bytes += x->len;
		bg_strlcpy(o->put_etag, r->etag, sizeof(o->put_etag));
		bg_strlcpy(o->expect_etag, r->etag, sizeof(o->expect_etag));
		cp_obj_to(cp, o, O_VERIFY);
		cp_xfer_free(cp, x);
		return;
	}
	if (bg_unhex16(r->etag, o->md5[x->part]) < 0) {
		cp_obj_fail(cp, o, "destination returned a part ETag that is not an MD5: %s", r->etag);
		cp_xfer_free(cp, x);
		return;
	}
	o->crc[x->part] = x->crc;
	o->xxh[x->part] = x->digest;
	o->pdone[x->part] = 1;
	o->parts_done++;
	cp->stats.parts_bytes += x->len;
	if (cp->j)
		cp_jpart(cp, o, x->part, true, tries);
	if (o->parts_done == o->plan.nparts)
		cp_obj_to(cp, o, O_COMPLETE);
	if (o->whole_md5)
		cp_xfer_to(cp, x, X_HOLD); /* cp_whole_turn takes its bytes, then frees it */
	else
		cp_xfer_free(cp, x);
}

/* A transfer that did not succeed: tried again, or its object fails (or
 * starts over: the source changed). */
static void xfer_not_done(bg_copy *cp, xfer *x, bg_s3_req *r, bg_s3_outcome out,
			  const char *msg, bool integrity)
{
	obj *o = x->o;
	bool get = x->phase == X_GET;
	if (out == BG_S3_FAIL && get && r->status == 412) {
		/* The source changed since it was listed: redo it whole. */
		if (o->restarts < MAX_RESTARTS)
			o->restart = true;
		else
			cp_obj_fail(cp, o, "source keeps changing during the copy (%s)", msg);
		cp_xfer_free(cp, x);
		return;
	}
	if (out == BG_S3_RETRY && bg_retry_later(&x->retry, r, cp->o->retries)) {
		bg_m_op op = get ? BG_M_GET : o->plan.multipart ? BG_M_UPLOAD_PART : BG_M_PUT;
		cp_note_retry(cp, r, op, o->key, x->retry.attempt, msg, integrity);
		return;
	}
	if (o->plan.multipart)
		cp_obj_fail(cp, o, "%s of part %u failed: %s",
			    get ? "GET from source" : "upload to destination", x->part + 1, msg);
	else
		cp_obj_fail(cp, o, "%s failed: %s", get ? "GET from source" : "PUT to destination",
			    msg);
	cp_xfer_free(cp, x);
}

/* What a finished GET or upload means for its part. */
void cp_xfer_judge(bg_copy *cp, xfer *x, bg_s3_req *r)
{
	obj *o = x->o;
	char msg[BG_MSG_MAX];
	if (x->wb && x->phase == X_GET && x->fop.active) {
		x->jpend = true; /* cp_wb_done judges it once the write lands */
		return;
	}
	if (r == &x->sreq)
		x->streaming = x->sended = false;
	bg_s3_outcome out = cp_classify(cp, r, x->phase == X_GET ? BG_MX_SRC : BG_MX_DST, msg,
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
		cp_stream_cancel(cp, x);
	if (o->failed || o->restart) {
		cp_xfer_free(cp, x);
		return;
	}
	if (out != BG_S3_DONE) {
		xfer_not_done(cp, x, r, out, msg, integrity);
		return;
	}
	unsigned tries = x->retry.attempt + 1;
	/* A GET whose MD5 is still to be checked against the source's ETag
	 * keeps its count: a mismatch is one more try of the same GET. */
	if (x->phase != X_GET || !x->md5_on)
		x->retry.attempt = 0;
	if (x->phase == X_GET)
		get_done(cp, x, r);
	else
		put_done(cp, x, r, tries);
}

void cp_xfer_fop_done(bg_fop *op)
{
	xfer *x = op->owner;
	if (!x->o)
		return; /* dropped while stopping */
	if (x->phase == X_GET && x->wb)
		cp_wb_done(x->cp, x, op->res);
	else if (x->phase == X_GET)
		cp_local_get_done(x->cp, x, op->res);
	else
		cp_local_put_done(x->cp, x, op->res);
}

/* Retries whose time has come: their bytes are already reserved. */
static void dispatch_retries(bg_copy *cp, uint64_t now)
{
	for (unsigned i = 0; i < cp->nxf; i++) {
		xfer *x = &cp->xf[i];
		if (!bg_retry_due(&x->retry, now))
			continue;
		x->retry.waiting = false;
		if (x->o->failed || x->o->restart) {
			cp_xfer_free(cp, x);
			continue;
		}
		int rc = x->phase == X_GET ? start_get(cp, x) : start_put(cp, x);
		if (rc < 0)
			cp_xfer_free(cp, x);
	}
}

/* Parts read (and hashed) go up, within --concurrency uploads, then the
 * upload slots left over go to parts still arriving (cut-through).
 * *free_x counts the transfer slots freed here. */
static void dispatch_uploads(bg_copy *cp, unsigned puts, unsigned *free_x)
{
	for (unsigned i = 0; i < cp->nxf; i++) {
		xfer *x = &cp->xf[i];
		bool gone = x->o && (x->o->failed || x->o->restart);
		if ((x->phase == X_HOLD || x->phase == X_READY) && gone) {
			cp_xfer_free(cp, x);
			*free_x += 1;
		} else if (x->phase == X_READY && puts < cp->o->concurrency) {
			puts++;
			if (start_put(cp, x) < 0) {
				cp_xfer_free(cp, x);
				*free_x += 1;
			}
		}
	}
	for (unsigned i = 0; cp->stream && i < cp->nxf && puts < cp->o->concurrency; i++) {
		xfer *x = &cp->xf[i];
		if (x->phase != X_GET || x->streaming || x->nostream || x->retry.waiting || !x->got ||
		    x->got == x->len || x->o->failed || x->o->restart)
			continue;
		if (stream_start(cp, x) == 0)
			puts++;
	}
}

/* The GET of o's next part (or of the whole small object) on x, with its
 * bytes reserved in the pool.  -1 when the pool cannot hold them yet. */
static int get_next_part(bg_copy *cp, obj *o, xfer *x, bool small)
{
	uint32_t pi = small ? 0 : o->next_part;
	uint64_t off, len;
	bg_plan_part_range(&o->plan, o->size, pi, &off, &len);
	bool wb = cp->ldst && !get_checks_etag(cp, o);
	if (bg_pool_reserve(&cp->pool, wb && len > WB_RING ? WB_RING : len, &x->chain) < 0)
		return -1; /* in order: wait for memory */
	x->wb = wb;
	x->o = o;
	x->part = pi;
	x->off = off;
	x->len = len;
	x->retry.attempt = 0;
	o->parts_inflight++;
	if (small)
		o->data_started = true;
	else
		do
			o->next_part++;
		while (o->next_part < o->plan.nparts && o->pdone[o->next_part]);
	if (start_get(cp, x) < 0)
		cp_xfer_free(cp, x);
	return 0;
}

static xfer *free_xfer(bg_copy *cp)
{
	for (unsigned i = 0; i < cp->nxf; i++)
		if (cp->xf[i].phase == X_FREE)
			return &cp->xf[i];
	BG_ASSERT(!"a free transfer slot was counted");
	return NULL;
}

/* --concurrency GETs and --concurrency uploads at most: a part whose GET
 * is done uploads on a slot of its own, so uploads never hold back the
 * next reads (the pool still bounds the bytes held).  New GETs go in
 * admission order and stop at the first part the pool cannot hold, so big
 * parts are not starved by small ones. */
void cp_dispatch_data(bg_copy *cp, uint64_t now)
{
	dispatch_retries(cp, now);
	if (cp->halting)
		return;
	unsigned free_x = 0, gets = 0, puts = 0;
	for (unsigned i = 0; i < cp->nxf; i++) {
		free_x += cp->xf[i].phase == X_FREE;
		gets += cp->xf[i].phase == X_GET;
		puts += cp->xf[i].phase == X_PUT ||
			(cp->xf[i].phase == X_GET && cp->xf[i].sreq.http.active);
	}
	dispatch_uploads(cp, puts, &free_x);
	unsigned new_gets = cp->o->concurrency > gets ? cp->o->concurrency - gets : 0;
	for (obj *o = cp->active_head; o && free_x && new_gets; o = o->next) {
		if (o->failed || o->restart)
			continue;
		if (o->state == O_PARTS) {
			while (o->next_part < o->plan.nparts && o->pdone[o->next_part])
				o->next_part++; /* found uploaded on resume */
			if (!cp_jready(cp, o)) {
				cp->jwaiting++; /* its upload ID is not committed yet */
				continue;
			}
		}
		bool small = o->state == O_SMALL && !o->data_started;
		while (free_x && new_gets && !o->failed &&
		       (small || (o->state == O_PARTS && o->next_part < o->plan.nparts))) {
			if (get_next_part(cp, o, free_xfer(cp), small) < 0)
				return;
			free_x--;
			new_gets--;
			small = false;
		}
	}
}
