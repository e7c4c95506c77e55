/* copy_ctl.c - the control requests of the copy scheduler: HEADs, Create,
 * Complete, Abort, ListMultipartUploads, ListParts.  Which one an object's
 * state calls for (copy_state.c's table), what every answer has in common
 * (retries, failures, answers about the whole copy), and one handler per
 * state for what a good answer does (the resume's states: copy_resume.c)
 * (copy_int.h). */
#include "copy_int.h"

static bg_m_ep ctl_ep(ostate s)
{
	return cp_ostates[s].ctl & CTL_SRC ? BG_MX_SRC : BG_MX_DST;
}

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
void cp_multipart_etag(const obj *o, char *out, size_t cap)
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

/* The request o's state calls for, into call (query and headers in q, h). */
static int ctl_call(bg_copy *cp, ctl *c, bg_s3_call *call, bg_query_param *q, size_t *nq,
		    bg_header *h, size_t *nh)
{
	obj *o = c->o;
	const bg_copy_opts *op = cp->o;
	const char *dst = op->dst.bucket;
	switch (o->state) {
	case O_HEAD:
	case O_HEAD_PART:
	case O_HEAD_LAST:
	case O_HEAD_MID:
		*call = (bg_s3_call){ .method = "HEAD", .bucket = op->src.bucket, .key = o->key,
				      .capture_meta = o->state == O_HEAD };
		/* No If-Match here: moto compares it with the part's own ETag.
		 * Every GET carries If-Match, which is what guards the bytes. */
		if (o->state == O_HEAD_PART)
			q[(*nq)++] = (bg_query_param){ "partNumber", "1" };
		if (o->state == O_HEAD_LAST || o->state == O_HEAD_MID) {
			bg_snprintf(c->partno, sizeof(c->partno), "%u", o->state == O_HEAD_MID ?
				    o->mid_next : bg_plan_etag_parts(o->etag));
			q[(*nq)++] = (bg_query_param){ "partNumber", c->partno };
		}
		return 0;
	case O_CREATE:
		q[(*nq)++] = (bg_query_param){ "uploads", NULL };
		if (cp->cksum == BG_CKSUM_CRC32C)
			h[(*nh)++] = (bg_header){ "x-amz-checksum-algorithm", "CRC32C" };
		*call = (bg_s3_call){ .method = "POST", .bucket = dst, .key = o->dkey,
				      .meta = &o->meta, .body = BG_BODY_MEM, .mem = "", .body_len = 0 };
		return 0;
	case O_COMPLETE:
		if (build_complete(cp, o, &c->body) < 0) {
			cp_obj_fail(cp, o, "CompleteMultipartUpload body too large");
			return -1;
		}
		q[(*nq)++] = (bg_query_param){ "uploadId", o->upload_id };
		*call = (bg_s3_call){ .method = "POST", .bucket = dst, .key = o->dkey,
				      .body = BG_BODY_MEM, .mem = c->body.data, .body_len = c->body.len };
		return 0;
	case O_VERIFY:
	case O_RECHECK:
		*call = (bg_s3_call){ .method = "HEAD", .bucket = dst, .key = o->dkey };
		return 0;
	case O_ABORT:
	case O_ABORT_STRAY:
	case O_SWEEP_ABORT:
		q[(*nq)++] = (bg_query_param){ "uploadId", o->state == O_ABORT ? o->upload_id
									   : o->stray_id };
		*call = (bg_s3_call){ .method = "DELETE", .bucket = dst, .key = o->dkey };
		return 0;
	case O_UPLOADS:
	case O_SWEEP:
		q[(*nq)++] = (bg_query_param){ "uploads", NULL };
		q[(*nq)++] = (bg_query_param){ "prefix", o->dkey };
		if (o->lu_key[0])
			q[(*nq)++] = (bg_query_param){ "key-marker", o->lu_key };
		if (o->lu_upload[0])
			q[(*nq)++] = (bg_query_param){ "upload-id-marker", o->lu_upload };
		*call = (bg_s3_call){ .method = "GET", .bucket = dst };
		return 0;
	case O_LISTPARTS:
		q[(*nq)++] = (bg_query_param){ "uploadId", o->upload_id };
		if (o->lp_marker) {
			bg_snprintf(c->partno, sizeof(c->partno), "%u", o->lp_marker);
			q[(*nq)++] = (bg_query_param){ "part-number-marker", c->partno };
		}
		*call = (bg_s3_call){ .method = "GET", .bucket = dst, .key = o->dkey };
		return 0;
	default:
		BG_ASSERT(!"no control request for this state");
		return -1;
	}
}

static int start_ctl(bg_copy *cp, ctl *c)
{
	obj *o = c->o;
	if (cp_local_ctl_side(cp, o->state))
		return cp_local_ctl(cp, c);
	bg_query_param q[4];
	bg_header h[2];
	size_t nq = 0, nh = 0;
	bg_s3_call call;
	if (ctl_call(cp, c, &call, q, &nq, h, &nh) < 0)
		return -1;
	call.query = q;
	call.nquery = nq;
	call.headers = h;
	call.nheaders = nh;
	const bg_endpoint *ep = ctl_ep(o->state) == BG_MX_SRC ? &cp->o->src_ep : &cp->o->dst_ep;
	return cp_obj_req_start(cp, o, &c->req, ep, &call, "request");
}

void cp_ctl_release(bg_copy *cp, ctl *c)
{
	obj *o = c->o;
	c->busy = c->retry.waiting = false;
	c->o = NULL;
	o->ctl_busy = false;
	cp_obj_settle(cp, o);
}

/* ---- what a good answer does, one handler per state --------------------- */

static void head_done(bg_copy *cp, obj *o, bg_s3_req *r, bool local)
{
	(void)local;
	if (!r->has_length || !r->etag[0]) {
		cp_obj_fail(cp, o, "HEAD of the source gave no size or ETag");
		return;
	}
	if (o->etag[0] && strcmp(o->etag, r->etag) != 0) {
		o->restart = o->restarts < MAX_RESTARTS;
		if (!o->restart)
			cp_obj_fail(cp, o, "source keeps changing during the copy");
		return;
	}
	bg_strlcpy(o->etag, r->etag, sizeof(o->etag));
	o->size = r->content_length;
	o->meta = r->meta;
	o->etag_opaque = r->etag_opaque;
	/* An opaque ETag cannot be matched by reusing the source's parts:
	 * barge's own layout, without asking for the source's. */
	if (bg_plan_etag_parts(o->etag) > 0 && !o->etag_opaque && !o->no_reuse)
		cp_obj_to(cp, o, O_HEAD_PART);
	else
		cp_planned_from_head(cp, o);
}

static void head_part_done(bg_copy *cp, obj *o, bg_s3_req *r, bool local)
{
	(void)local;
	/* Content-Length of part 1 is the source's part size, unless the
	 * server ignored partNumber and described the whole object. */
	uint32_t n = bg_plan_etag_parts(o->etag);
	o->src_part_size = r->has_length && (r->content_length < o->size || n == 1)
				   ? r->content_length : 0;
	if (o->src_part_size && n >= 2 && (o->size + o->src_part_size - 1) / o->src_part_size == n)
		cp_obj_to(cp, o, O_HEAD_LAST); /* part 1 alone does not prove uniform parts */
	else
		cp_planned_from_head(cp, o);
}

static void head_last_done(bg_copy *cp, obj *o, bg_s3_req *r, bool local)
{
	(void)local;
	uint64_t n = bg_plan_etag_parts(o->etag);
	uint64_t last = o->size - (n - 1) * o->src_part_size;
	if (!r->has_length || r->content_length != last)
		o->src_part_size = 0; /* not uniform: barge's own parts */
	cp_planned_from_head(cp, o);
}

/* After an ETag that the source's layout did not make: is a middle part
 * of another size?  Then that layout cannot be R2's: barge's own parts
 * (and its own proof); if none is, the bytes were damaged on the way: the
 * same parts again. */
static void head_mid_done(bg_copy *cp, obj *o, bg_s3_req *r, bool local)
{
	(void)cp;
	(void)local;
	if (!r->has_length || r->content_length != o->src_part_size) {
		o->no_reuse = true;
		o->restart = true;
	} else if (++o->mid_next >= bg_plan_etag_parts(o->etag)) {
		o->restart = true;
	}
}

static void create_done(bg_copy *cp, obj *o, bg_s3_req *r, bool local)
{
	(void)r;
	(void)local; /* upload_id: parsed in answer(), or set by the local side */
	cp_obj_to(cp, o, O_PARTS);
	if (cp->j) /* no part goes out before the upload ID is journaled */
		o->jwait = cp_jwrite(cp, o, BG_JS_UPLOADING, NULL);
}

static void complete_done(bg_copy *cp, obj *o, bg_s3_req *r, bool local)
{
	(void)r;
	(void)local;
	cp_multipart_etag(o, o->expect_etag, sizeof(o->expect_etag));
	if (o->put_etag[0] && strcmp(o->put_etag, o->expect_etag) != 0) {
		cp_obj_fail(cp, o, "CompleteMultipartUpload ETag %s differs from the parts' %s",
			    o->put_etag, o->expect_etag);
		return;
	}
	o->upload_id[0] = '\0'; /* the upload is an object now */
	cp_obj_to(cp, o, O_VERIFY);
}

/* The destination holds the object's size and ETag; what else the source's
 * ETag says: the same layout must give the same ETag, a single-part
 * source's MD5 must equal ours. */
static void verify_source(bg_copy *cp, obj *o, bg_s3_req *r)
{
	unsigned char a[16];
	if (o->plan.same_layout && !cp->ldst && !o->etag_opaque && strcmp(r->etag, o->etag) != 0) {
		/* The parts arrived as sent, yet over the source's boundaries the
		 * ETags differ: the source's middle parts are not of the first
		 * one's size (first and last were checked), or the bytes read
		 * were not the source's (damaged on the way; a change fails
		 * If-Match).  O_HEAD_MID asks the middle parts' sizes. */
		if (o->restarts >= MAX_RESTARTS) {
			cp_obj_fail(cp, o, "the parts read do not make the source's ETag (%d tries, "
				    "same part layout, destination ETag %s, source %s): damaged on the "
				    "way each time", MAX_RESTARTS + 1, r->etag, o->etag);
		} else if (bg_plan_etag_parts(o->etag) > 2) {
			o->mid_next = 2;
			cp_obj_to(cp, o, O_HEAD_MID);
		} else {
			o->restart = true;
		}
		return;
	}
	if (!o->plan.multipart && !cp->ldst && !o->etag_opaque && bg_unhex16(o->etag, a) == 0 &&
	    bg_unhex16(r->etag, a) == 0 && strcmp(r->etag, o->etag) != 0) {
		cp_obj_fail(cp, o, "content differs: destination ETag %s, source %s", r->etag, o->etag);
		return;
	}
	if (o->create_lost || (!cp->j && o->plan.multipart && !cp->ldst))
		/* Our upload is an object now; any upload of the key left is one
		 * whose Create answer was lost, or, without a journal to find
		 * them by, one a killed run left: running the same copy again
		 * cleans up after it. */
		cp_sweep_begin(cp, o);
	else
		cp_obj_to(cp, o, O_PROVED);
}

static void verify_done(bg_copy *cp, obj *o, bg_s3_req *r, bool local)
{
	(void)local;
	bg_strlcpy(o->dst_etag, r->etag, sizeof(o->dst_etag));
	if (!r->has_length || r->content_length != o->size)
		cp_obj_fail(cp, o, "destination HEAD shows %llu bytes, expected %llu",
			    (unsigned long long)r->content_length, (unsigned long long)o->size);
	else if (strcmp(r->etag, o->expect_etag) != 0)
		cp_obj_fail(cp, o, "destination HEAD shows ETag %s, expected %s", r->etag,
			    o->expect_etag);
	else
		verify_source(cp, o, r);
}

/* A resumed object whose upload is gone: the object its journaled parts
 * make is there (a run killed as Complete was answered), or it is copied
 * anew. */
static void recheck_done(bg_copy *cp, obj *o, bg_s3_req *r, bool local)
{
	(void)local;
	if (r->status == 404 || !r->has_length || r->content_length != o->size ||
	    strcmp(r->etag, o->expect_etag) != 0) {
		cp_jfresh(cp, o);
		return;
	}
	bg_strlcpy(o->dst_etag, r->etag, sizeof(o->dst_etag));
	cp_obj_to(cp, o, O_PROVED);
}

static void abort_done(bg_copy *cp, obj *o, bg_s3_req *r, bool local)
{
	(void)r;
	(void)local;
	o->upload_id[0] = '\0';
	cp_obj_to(cp, o, O_ABORTED); /* settled next: finished or restarted */
}

static void (*const on_done[O_COUNT])(bg_copy *, obj *, bg_s3_req *, bool) = {
	[O_HEAD] = head_done, [O_HEAD_PART] = head_part_done, [O_HEAD_LAST] = head_last_done,
	[O_HEAD_MID] = head_mid_done, [O_CREATE] = create_done, [O_COMPLETE] = complete_done,
	[O_VERIFY] = verify_done, [O_RECHECK] = recheck_done, [O_ABORT] = abort_done,
	[O_SWEEP] = cp_uploads_done, [O_UPLOADS] = cp_uploads_done,
	[O_SWEEP_ABORT] = cp_stray_aborted, [O_ABORT_STRAY] = cp_stray_aborted,
	[O_LISTPARTS] = cp_listparts_done,
};

/* ---- what every answer has in common ----------------------------------- */

/* The bodies that turn a 200 into something else: Complete's (it can hold
 * an <Error>) and Create's (no UploadId: the server made an upload whose
 * ID did not reach us). */
static bg_s3_outcome answer_body(obj *o, bg_s3_req *r, bool local, bg_s3_outcome out,
				 char *msg, size_t cap)
{
	const char *body = r->resp.data ? r->resp.data : "";
	if (out != BG_S3_DONE || local)
		return out;
	if (o->state == O_COMPLETE) {
		bg_xml_error xe;
		int rc = bg_xml_parse_complete(body, r->resp.len, o->put_etag, sizeof(o->put_etag), &xe);
		if (rc == 1) {
			bg_snprintf(msg, cap, "answered 200 with error %s: %.300s", xe.code, xe.message);
			return strcmp(xe.code, "InternalError") == 0 || strcmp(xe.code, "SlowDown") == 0
				       ? BG_S3_RETRY : BG_S3_FAIL;
		}
		if (rc < 0)
			o->put_etag[0] = '\0'; /* Ceph RGW answers <ETag/>: the HEAD decides */
	} else if (o->state == O_CREATE &&
		   bg_xml_parse_initiate(body, r->resp.len, o->upload_id, sizeof(o->upload_id)) < 0) {
		o->upload_id[0] = '\0';
		bg_snprintf(msg, cap, "CreateMultipartUpload answer has no UploadId");
		return BG_S3_RETRY;
	}
	return out;
}

/* Answers that decide at once, before retries: true when c is released. */
static bool answer_special(bg_copy *cp, ctl *c, obj *o, bg_s3_req *r, bg_s3_outcome *out,
			   const char *msg)
{
	if (o->failed && !cp_cleaning(o)) {
		/* An upload created meanwhile (upload_id, parsed above) must still
		 * be aborted; one whose answer was lost is looked for. */
		o->create_lost |= o->state == O_CREATE && *out == BG_S3_RETRY;
		return true;
	}
	if (*out == BG_S3_FAIL && r->status == 412 &&
	    (o->state == O_HEAD_PART || o->state == O_HEAD_LAST || o->state == O_HEAD_MID)) {
		o->restart = o->restarts < MAX_RESTARTS;
		if (!o->restart)
			cp_obj_fail(cp, o, "source keeps changing during the copy (%s)", msg);
		return true;
	}
	if (*out == BG_S3_FAIL && o->state == O_COMPLETE && c->retry.attempt > 0 &&
	    strcmp(r->err.code, "NoSuchUpload") == 0) {
		/* An earlier attempt completed the upload but its answer was
		 * lost: the HEAD of the destination decides (expected ETag). */
		cp_multipart_etag(o, o->expect_etag, sizeof(o->expect_etag));
		o->upload_id[0] = '\0';
		cp_obj_to(cp, o, O_VERIFY);
		return true;
	}
	if (*out != BG_S3_DONE && r->status == 404 &&
	    (o->state == O_ABORT || o->state == O_ABORT_STRAY || o->state == O_SWEEP_ABORT ||
	     o->state == O_LISTPARTS || o->state == O_RECHECK))
		*out = BG_S3_DONE; /* the upload (or object) is gone: its handler decides */
	return false;
}

/* A request that failed for good: the object fails with what it was. */
static void answer_failed(bg_copy *cp, obj *o, const char *msg)
{
	char full[BG_MSG_MAX + 64];
	bg_snprintf(full, sizeof(full), "%s failed: %s", cp_ostates[o->state].what, msg);
	if (o->state == O_ABORT) {
		/* Report it: an upload was left behind. */
		char keep[BG_MSG_MAX];
		bg_snprintf(keep, sizeof(keep), "%s; also %s (upload %s left open)",
			    o->failed ? o->err : "restart", full, o->upload_id);
		bg_strlcpy(o->err, keep, sizeof(o->err));
		o->failed = true;
		o->upload_id[0] = '\0';
		cp_obj_to(cp, o, O_ABORTED);
	} else if (o->state == O_SWEEP || o->state == O_SWEEP_ABORT) {
		cp_obj_fail(cp, o, "%s: an upload of this key whose CreateMultipartUpload answer was "
			    "lost may be left open", full);
		o->create_lost = false; /* looked for, in vain: the message says so */
		cp_obj_to(cp, o, O_ABORTED);
	} else {
		cp_obj_fail(cp, o, "%s", full);
	}
}

void cp_ctl_done(bg_s3_req *r)
{
	ctl *c = r->owner;
	bg_copy *cp = c->cp;
	obj *o = c->o;
	char msg[BG_MSG_MAX];
	bg_m_op op = cp_ostates[o->state].op;
	bool local = r->tag == REQ_LOCAL; /* answered by local file work (see cp_local_ctl) */
	cp_note_req(cp, r, ctl_ep(o->state), op);
	bg_s3_outcome out = cp_classify(cp, r, ctl_ep(o->state), msg, sizeof(msg));
	bg_s3_outcome was = out;
	out = answer_body(o, r, local, out, msg, sizeof(msg));
	bool integrity = was == BG_S3_DONE && out == BG_S3_RETRY;
	if (answer_special(cp, c, o, r, &out, msg)) {
		c->retry.attempt = 0;
		cp_ctl_release(cp, c);
		return;
	}
	if (out == BG_S3_RETRY && o->state == O_CREATE)
		o->create_lost = true; /* the server may have created one anyway */
	if (out == BG_S3_RETRY && bg_retry_later(&c->retry, r, cp->o->retries)) {
		cp_note_retry(cp, r, op, o->key, c->retry.attempt, msg, integrity);
		return;
	}
	c->retry.attempt = 0;
	if (out != BG_S3_DONE)
		answer_failed(cp, o, msg);
	else
		on_done[o->state](cp, o, r, local);
	c->busy = c->retry.waiting = false;
	c->o = NULL;
	o->ctl_busy = false;
	if (o->state == O_PROVED && !o->failed)
		cp_obj_finish(cp, o);
	else
		cp_obj_settle(cp, o);
}

void cp_dispatch_ctl(bg_copy *cp, uint64_t now)
{
	for (unsigned i = 0; i < cp->nctl; i++) {
		ctl *c = &cp->ctls[i];
		if (!bg_retry_due(&c->retry, now))
			continue;
		c->retry.waiting = false;
		if ((c->o->failed || c->o->restart) && !cp_cleaning(c->o)) {
			cp_ctl_release(cp, c);
			continue;
		}
		if (start_ctl(cp, c) < 0)
			cp_ctl_release(cp, c);
	}
	for (obj *o = cp->active_head; o;) {
		obj *next = o->next; /* cp_ctl_release may finish o */
		if (cp_needs_ctl(o) && o->state == O_CREATE && cp->j) {
			/* Journal the intent first: a run killed after Create
			 * still knows the key may have an upload to abort. */
			if (!o->jcreating) {
				o->jcreating = true;
				o->jwait = cp_jwrite(cp, o, BG_JS_CREATING, NULL);
			}
			if (!cp_jready(cp, o)) {
				cp->jwaiting++;
				o = next;
				continue;
			}
		}
		if (cp_needs_ctl(o)) {
			ctl *c = NULL;
			for (unsigned i = 0; i < cp->nctl && !c; i++)
				if (!cp->ctls[i].busy)
					c = &cp->ctls[i];
			if (!c)
				return;
			c->busy = true;
			c->o = o;
			c->retry.attempt = 0;
			o->ctl_busy = true;
			if (start_ctl(cp, c) < 0)
				cp_ctl_release(cp, c);
		}
		o = next;
	}
}
