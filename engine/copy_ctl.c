/* copy_ctl.c - the control requests of the copy scheduler: HEADs, Create,
 * Complete, Abort, ListMultipartUploads, ListParts; which one an object's
 * state calls for, and what its answer does to the object (copy_int.h). */
#include "copy_int.h"

static bg_m_op ctl_op(ostate s)
{
	switch (s) {
	case O_HEAD: case O_HEAD_PART: case O_HEAD_LAST: case O_HEAD_MID: case O_VERIFY:
		return BG_M_HEAD;
	case O_CREATE: return BG_M_CREATE;
	case O_COMPLETE: return BG_M_COMPLETE;
	case O_ABORT: case O_ABORT_STRAY: return BG_M_ABORT;
	case O_UPLOADS: return BG_M_LIST_UPLOADS;
	case O_LISTPARTS: return BG_M_LIST_PARTS;
	default: return BG_M_HEAD;
	}
}

bg_m_ep cp_ctl_ep(ostate s)
{
	return (s == O_HEAD || s == O_HEAD_PART || s == O_HEAD_LAST || s == O_HEAD_MID) ? BG_MX_SRC
											    : BG_MX_DST;
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

static int start_ctl(bg_copy *cp, ctl *c)
{
	obj *o = c->o;
	if (cp_local_ctl_side(cp, o->state))
		return cp_local_ctl(cp, c);
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
	case O_HEAD_MID:
		ep = &op->src_ep;
		call = (bg_s3_call){ .method = "HEAD", .bucket = op->src.bucket, .key = o->key,
				     .capture_meta = o->state == O_HEAD };
		/* No If-Match here: moto compares it with the part's own ETag.
		 * Every GET carries If-Match, which is what guards the bytes. */
		if (o->state == O_HEAD_PART)
			q[nq++] = (bg_query_param){ "partNumber", "1" };
		if (o->state == O_HEAD_LAST || o->state == O_HEAD_MID) {
			bg_snprintf(c->partno, sizeof(c->partno), "%u", o->state == O_HEAD_MID ?
				    o->mid_next : bg_plan_etag_parts(o->etag));
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
			cp_obj_fail(cp, o, "CompleteMultipartUpload body too large");
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
	return cp_obj_req_start(cp, o, &c->req, ep, &call, "request");
}

void cp_ctl_release(bg_copy *cp, ctl *c)
{
	obj *o = c->o;
	c->busy = c->waiting = false;
	c->o = NULL;
	o->ctl_busy = false;
	cp_obj_settle(cp, o);
}

void cp_ctl_done(bg_s3_req *r)
{
	ctl *c = r->owner;
	bg_copy *cp = c->cp;
	obj *o = c->o;
	char msg[BG_MSG_MAX];
	bg_m_op op = ctl_op(o->state);
	bool local = r->tag == REQ_LOCAL; /* answered by local file work (see cp_local_ctl) */
	cp_note_req(cp, r, cp_ctl_ep(o->state), op);
	bg_s3_outcome out = cp_classify(cp, r, cp_ctl_ep(o->state), msg, sizeof(msg));
	bool integrity = false;

	if (o->state == O_ABORT) {
		/* Gone already (404 NoSuchUpload) counts as aborted. */
		if (out == BG_S3_DONE || r->status == 404) {
			o->upload_id[0] = '\0';
			o->state = O_VERIFY; /* placeholder: settle finishes or restarts */
			cp_ctl_release(cp, c);
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
	} else if (out == BG_S3_DONE && o->state == O_CREATE && !local &&
		   bg_xml_parse_initiate(r->resp.data ? r->resp.data : "", r->resp.len,
					 o->upload_id, sizeof(o->upload_id)) < 0) {
		/* The server made an upload, but its ID did not reach us (a body
		 * damaged or cut): ask again, and remember to look for it. */
		o->upload_id[0] = '\0';
		bg_snprintf(msg, sizeof(msg), "CreateMultipartUpload answer has no UploadId");
		out = BG_S3_RETRY;
		integrity = true;
	}
	if (o->failed && !cp_cleaning(o)) {
		/* An upload created meanwhile (upload_id, parsed above) must still
		 * be aborted; one whose answer was lost is looked for. */
		o->create_lost |= o->state == O_CREATE && out == BG_S3_RETRY;
		cp_ctl_release(cp, c);
		return;
	}
	if (out == BG_S3_FAIL && r->status == 412 &&
	    (o->state == O_HEAD_PART || o->state == O_HEAD_LAST || o->state == O_HEAD_MID)) {
		o->restart = o->restarts < MAX_RESTARTS;
		if (!o->restart)
			cp_obj_fail(cp, o, "source keeps changing during the copy (%s)", msg);
		cp_ctl_release(cp, c);
		return;
	}
	if (out == BG_S3_FAIL && o->state == O_COMPLETE && c->attempt > 0 &&
	    strcmp(r->err.code, "NoSuchUpload") == 0) {
		/* An earlier attempt completed the upload but its answer was
		 * lost: the HEAD of the destination decides (expected ETag). */
		cp_multipart_etag(o, o->expect_etag, sizeof(o->expect_etag));
		o->upload_id[0] = '\0';
		o->state = O_VERIFY;
		c->attempt = 0;
		cp_ctl_release(cp, c);
		return;
	}
	if (out == BG_S3_FAIL && r->status == 404 &&
	    (o->state == O_ABORT_STRAY || o->state == O_LISTPARTS ||
	     (o->state == O_VERIFY && o->recheck)))
		out = BG_S3_DONE; /* the upload is gone: see the state below */
	if (out == BG_S3_RETRY && o->state == O_CREATE)
		o->create_lost = true; /* the server may have created one anyway */
	if (out == BG_S3_RETRY && ++c->attempt < cp->o->retries) {
		cp_note_retry(cp, r, op, o->key, c->attempt, msg, integrity);
		c->waiting = true;
		c->retry_at = bg_now_ns() + bg_s3_backoff_ns(r, c->attempt);
		return;
	}
	if (out != BG_S3_DONE) {
		static const char *const what[] = {
			[O_HEAD] = "HEAD of the source", [O_HEAD_PART] = "HEAD of the source's part 1",
			[O_HEAD_LAST] = "HEAD of the source's last part",
			[O_HEAD_MID] = "HEAD of a middle part of the source",
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
			cp_obj_fail(cp, o, "%s: an upload of this key whose CreateMultipartUpload answer was "
				 "lost may be left open", full);
		} else {
			cp_obj_fail(cp, o, "%s", full);
		}
		cp_ctl_release(cp, c);
		return;
	}
	c->attempt = 0;
	switch (o->state) {
	case O_HEAD:
		if (!r->has_length || !r->etag[0]) {
			cp_obj_fail(cp, o, "HEAD of the source gave no size or ETag");
			break;
		}
		if (o->etag[0] && strcmp(o->etag, r->etag) != 0) {
			o->restart = o->restarts < MAX_RESTARTS;
			if (!o->restart)
				cp_obj_fail(cp, o, "source keeps changing during the copy");
			break;
		}
		bg_strlcpy(o->etag, r->etag, sizeof(o->etag));
		o->size = r->content_length;
		o->meta = r->meta;
		o->etag_opaque = r->etag_opaque;
		/* An opaque ETag cannot be matched by reusing the source's parts:
		 * barge's own layout, without asking for the source's. */
		if (bg_plan_etag_parts(o->etag) > 0 && !o->etag_opaque && !o->no_reuse)
			o->state = O_HEAD_PART;
		else
			cp_planned_from_head(cp, o);
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
			cp_planned_from_head(cp, o);
		break;
	case O_HEAD_LAST: {
		uint64_t n = bg_plan_etag_parts(o->etag);
		uint64_t last = o->size - (n - 1) * o->src_part_size;
		if (!r->has_length || r->content_length != last)
			o->src_part_size = 0; /* not uniform: barge's own parts */
		cp_planned_from_head(cp, o);
		break;
	}
	case O_HEAD_MID:
		/* After an ETag that the source's layout did not make: is a
		 * middle part of another size?  Then that layout cannot be R2's:
		 * barge's own parts (its own proof); if none is, the bytes were
		 * damaged on the way: the same parts again. */
		if (!r->has_length || r->content_length != o->src_part_size) {
			o->no_reuse = true;
			o->restart = true;
		} else if (++o->mid_next >= bg_plan_etag_parts(o->etag)) {
			o->restart = true;
		}
		break;
	case O_CREATE: /* upload_id parsed above */
		o->state = O_PARTS;
		if (cp->j) /* no part goes out before the upload ID is journaled */
			o->jwait = cp_jwrite(cp, o, BG_JS_UPLOADING, NULL);
		break;
	case O_UPLOADS: {
		bool trunc = false;
		char was_key[BG_KEY_MAX + 1], was_upload[BG_TOKEN_MAX];
		bg_strlcpy(was_key, o->lu_key, sizeof(was_key));
		bg_strlcpy(was_upload, o->lu_upload, sizeof(was_upload));
		if (!local)
			o->stray_id[0] = '\0';
		if (!local && bg_xml_parse_list_uploads(r->resp.data ? r->resp.data : "", r->resp.len,
					      cp_on_upload, o, &trunc, o->lu_key, sizeof(o->lu_key),
					      o->lu_upload, sizeof(o->lu_upload)) < 0) {
			cp_obj_fail(cp, o, "ListMultipartUploads answer cannot be read");
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
				cp_obj_fail(cp, o, "ListMultipartUploads of the destination key does not "
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
			cp_jgone(cp, o);
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
			cp_jgone(cp, o);
			break;
		}
		bool trunc = false;
		unsigned next = 0;
		if (!local && bg_xml_parse_list_parts(r->resp.data ? r->resp.data : "", r->resp.len,
					    cp_on_listed_part, o, &trunc, &next) < 0) {
			cp_obj_fail(cp, o, "ListParts answer cannot be read");
			break;
		}
		if (trunc && next > o->lp_marker) {
			o->lp_marker = next;
			break;
		}
		if (o->whole_md5)
			cp_whole_resume(o);
		o->parts_done = 0;
		for (uint32_t i = 0; i < o->plan.nparts; i++) {
			if (o->pdone[i])
				o->parts_done++;
			else if (o->jhave[i]) /* journaled, not there: it must not count */
				cp_jpart(cp, o, i, false, 0);
		}
		o->next_part = 0;
		cp->stats.resumed_uploads++;
		cp->stats.resumed_parts += o->parts_done;
		o->state = o->parts_done == o->plan.nparts ? O_COMPLETE : O_PARTS;
		break;
	}
	case O_COMPLETE:
		cp_multipart_etag(o, o->expect_etag, sizeof(o->expect_etag));
		if (o->put_etag[0] && strcmp(o->put_etag, o->expect_etag) != 0) {
			cp_obj_fail(cp, o, "CompleteMultipartUpload ETag %s differs from the parts' %s",
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
			cp_jfresh(cp, o); /* not the object its parts make: copy anew */
			break;
		}
		bg_strlcpy(o->dst_etag, r->etag, sizeof(o->dst_etag));
		if (!r->has_length || r->content_length != o->size) {
			char m[128];
			bg_snprintf(m, sizeof(m), "%llu bytes, expected %llu",
				    (unsigned long long)r->content_length, (unsigned long long)o->size);
			cp_obj_fail(cp, o, "destination HEAD shows %s", m);
		} else if (strcmp(r->etag, o->expect_etag) != 0) {
			char m[256];
			bg_snprintf(m, sizeof(m), "ETag %s, expected %s", r->etag, o->expect_etag);
			cp_obj_fail(cp, o, "destination HEAD shows %s", m);
		} else if (o->plan.same_layout && !cp->ldst && !o->etag_opaque &&
			   strcmp(r->etag, o->etag) != 0) {
			/* The parts arrived as sent, yet over the source's boundaries
			 * the ETags differ: the source's middle parts are not of the
			 * first one's size (first and last were checked), or the
			 * bytes read were not the source's (damaged on the way; a
			 * change fails If-Match).  O_HEAD_MID asks the middle parts'
			 * sizes: another size means barge's own parts (and its own
			 * proof); none means damage: the same parts again, since
			 * only they prove the bytes (the explorer saw damaged reads
			 * called done with barge's own). */
			if (o->restarts < MAX_RESTARTS) {
				o->mid_next = 2; /* O_HEAD_MID decides how it goes on */
				o->upload_id[0] = '\0';
				o->state = bg_plan_etag_parts(o->etag) > 2 ? O_HEAD_MID : O_HEAD;
				o->restart = o->state == O_HEAD;
			} else {
				char m[256];
				bg_snprintf(m, sizeof(m), "%s, source has %s", r->etag, o->etag);
				cp_obj_fail(cp, o, "the parts read do not make the source's ETag (%d tries, "
					    "same part layout, destination ETag %s): damaged on the way each "
					    "time", MAX_RESTARTS + 1, m);
			}
		} else {
			unsigned char a[16];
			/* single-part source: its ETag is an MD5, and so is ours */
			if (!o->plan.multipart && !cp->ldst && !o->etag_opaque &&
			    bg_unhex16(o->etag, a) == 0 && bg_unhex16(r->etag, a) == 0 &&
			    strcmp(r->etag, o->etag) != 0) {
				char m[256];
				bg_snprintf(m, sizeof(m), "%s, source %s", r->etag, o->etag);
				cp_obj_fail(cp, o, "content differs: destination ETag %s", m);
				break;
			}
			if (o->create_lost || (!cp->j && o->plan.multipart && !cp->ldst)) {
				/* Our upload is an object now; any upload of the key
				 * left is one whose Create answer was lost, or, without
				 * a journal to find them by, one a killed run left:
				 * running the same copy again cleans up after it. */
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
		cp_obj_finish(cp, o);
		return;
	}
	cp_obj_settle(cp, o);
}

static bool needs_ctl(const obj *o)
{
	if (o->ctl_busy || o->parts_inflight)
		return false;
	if (cp_cleaning(o))
		return true;
	if (o->state == O_COMPLETE && o->whole_md5 && !o->whole_ok)
		return false; /* cp_whole_turn has not seen every part's bytes yet */
	switch (o->state) {
	case O_HEAD:
	case O_HEAD_PART:
	case O_HEAD_LAST:
	case O_HEAD_MID:
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

void cp_dispatch_ctl(bg_copy *cp, uint64_t now)
{
	for (unsigned i = 0; i < cp->nctl; i++) {
		ctl *c = &cp->ctls[i];
		if (!cp_is_retry_due(c->waiting, c->retry_at, now))
			continue;
		c->waiting = false;
		if ((c->o->failed || c->o->restart) && !cp_cleaning(c->o)) {
			cp_ctl_release(cp, c);
			continue;
		}
		if (start_ctl(cp, c) < 0)
			cp_ctl_release(cp, c);
	}
	for (obj *o = cp->active_head; o;) {
		obj *next = o->next; /* cp_ctl_release may finish o */
		if (needs_ctl(o) && o->state == O_CREATE && cp->j) {
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
				cp_ctl_release(cp, c);
		}
		o = next;
	}
}
