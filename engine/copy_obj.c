/* copy_obj.c - an object's life in the copy scheduler: admission from the
 * listing queue, planning, failure, settling and finishing, and what every
 * request's outcome says (copy_int.h). */
#include "copy_int.h"

/* The object's XXH3-128 in hex: a single PUT's is that of its bytes; a
 * multipart object's is the XXH3-128 of its parts' canonical digests in
 * part order (what the journal's parts rows let anyone recompute). */
void cp_obj_xxh_hex(bg_copy *cp, const obj *o, char hex[33])
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

void cp_emit(bg_copy *cp, bg_obj_event_kind kind, obj *o, const char *error)
{
	if (!cp->o->on_object)
		return;
	char hex[33] = "";
	if (kind == BG_EV_DONE)
		cp_obj_xxh_hex(cp, o, hex);
	bg_obj_event e = {
		.kind = kind, .key = o->key, .dst_key = o->dkey, .size = o->size,
		.src_etag = o->etag, .dst_etag = o->dst_etag,
		.same_etag = o->dst_etag[0] && strcmp(o->dst_etag, o->etag) == 0,
		.plan = &o->plan, .xxh3 = hex, .error = error,
	};
	cp->o->on_object(cp->o->ctx, &e);
}

void cp_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void cp_obj_close_files(obj *o)
{
	cp_close_fd(&o->sfd);
	cp_close_fd(&o->tfd);
	cp_close_fd(&o->dirfd);
}

void cp_obj_release(bg_copy *cp, obj *o)
{
	cp_obj_close_files(o);
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
	cp_obj_to(cp, o, O_FREE);
	cp->active--;
}

void cp_obj_finish(bg_copy *cp, obj *o)
{
	BG_ASSERT(o->parts_inflight == 0 && !o->ctl_busy);
	if (o->orphan) {
		cp_orphan_finish(cp, o);
		return;
	}
	if (cp->j && !cp->o->dry_run && o->state != O_JFINAL) {
		/* Counted and reported once the record has committed. */
		if (o->failed)
			bg_journal_error(cp->j, o->jid, o->key, o->err);
		o->jwait = cp_jwrite(cp, o, o->failed ? BG_JS_FAILED : BG_JS_DONE,
				  o->failed ? o->err : NULL);
		cp_obj_to(cp, o, O_JFINAL);
		return;
	}
	cp->settled++;
	if (o->failed) {
		cp->stats.failed_objects++;
		cp_emit(cp, BG_EV_FAILED, o, o->err);
	} else {
		cp->stats.done_objects++;
		cp->stats.done_bytes += o->size;
		if (strcmp(o->dst_etag, o->etag) == 0)
			cp->stats.same_etag++;
		cp_emit(cp, BG_EV_DONE, o, NULL);
	}
	cp_obj_release(cp, o);
}

void cp_obj_reset_for_plan(bg_copy *cp, obj *o)
{
	if (cp->j)
		bg_journal_forget_parts(cp->j, o->jid); /* a new upload, new parts */
	cp_obj_close_files(o); /* a restart reopens the (maybe new) source file */
	o->jcreating = o->resumed = o->own_seen = false;
	o->next_part = o->parts_done = o->parts_inflight = 0;
	o->upload_id[0] = '\0';
	o->put_etag[0] = o->expect_etag[0] = o->dst_etag[0] = '\0';
	o->data_started = false;
}

void cp_obj_fail(bg_copy *cp, obj *o, const char *fmt, ...)
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

/* Called whenever an object may be able to move on after a request. */
void cp_obj_settle(bg_copy *cp, obj *o)
{
	if (o->parts_inflight || o->ctl_busy)
		return;
	if (o->failed || o->restart) {
		if (o->upload_id[0]) {
			/* cp_dispatch_ctl sends the abort; it clears upload_id */
			if (o->state != O_ABORT)
				cp_obj_to(cp, o, O_ABORT);
			return;
		}
		if (o->failed && cp_cleaning(o))
			return; /* its sweep goes on (O_SWEEP, O_SWEEP_ABORT) */
		if (o->failed && o->create_lost) {
			/* A Create whose answer was lost may have made an upload
			 * we never heard of: abort every upload of the key. */
			cp_sweep_begin(cp, o);
			return;
		}
		if (o->restart && !o->failed) {
			o->restart = false;
			o->restarts++;
			cp_obj_reset_for_plan(cp, o);
			o->etag[0] = '\0'; /* learn the new one */
			cp_obj_to(cp, o, O_HEAD);
			return;
		}
		cp_obj_finish(cp, o);
	}
}

/* ---- what an answer says ---------------------------------------------- */

/* Counts one finished request (every attempt, in its done callback). */
void cp_note_req(bg_copy *cp, bg_s3_req *r, bg_m_ep ep, bg_m_op op)
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
 * with no success between (of a request asked after the last of them),
 * are taken as the side's. */
#define DENIED_IN_A_ROW 3

static void note_refusal(bg_copy *cp, const bg_s3_req *r, bg_m_ep ep, bg_s3_outcome out,
			 const char *msg)
{
	bool dst = ep == BG_MX_DST;
	if (out == BG_S3_DONE && r->status >= 200 && r->status < 300) {
		/* Only a request asked after the last refusal says access is
		 * back: one asked before it (a Complete held up on the way)
		 * says nothing about the refusals (explorer seed 3142). */
		if (r->asked_ns > cp->denied_at[dst])
			cp->denied[dst] = 0;
		return;
	}
	if (out != BG_S3_FAIL)
		return;
	bg_s3_why why = bg_s3_why_failed(r, out, false);
	if (why == BG_WHY_DENIED) {
		cp->denied_at[dst] = bg_now_ns();
		if (++cp->denied[dst] < DENIED_IN_A_ROW)
			return;
	}
	if (why != BG_WHY_NO_BUCKET && why != BG_WHY_KEYS && why != BG_WHY_DENIED)
		return;
	char detail[BG_MSG_MAX], line[BG_MSG_MAX];
	if (why == BG_WHY_DENIED) {
		bg_snprintf(detail, sizeof(detail), "%s on %u requests in a row",
			    r->err.code[0] ? r->err.code : "HTTP 403", cp->denied[dst]);
		msg = detail;
	}
	bg_s3_failure f = { .r = r, .out = out, .msg = msg, .side = dst ? "destination" : "source",
			    .loc = dst ? &cp->o->dst : &cp->o->src,
			    .ep = dst ? &cp->o->dst_ep : &cp->o->src_ep };
	bg_err code = bg_s3_explain(&f, line, sizeof(line));
	bg_fatal_set(&cp->fatal, code, "%s", line);
}

/* bg_s3_classify, and what the answer says about the whole copy. */
bg_s3_outcome cp_classify(bg_copy *cp, bg_s3_req *r, bg_m_ep ep, char *msg, size_t cap)
{
	bg_s3_outcome out = bg_s3_classify(r, msg, cap);
	note_refusal(cp, r, ep, out, msg);
	return out;
}

/* Counts a retry by cause and tells the tool (logs). r NULL or integrity:
 * the bytes or the answer were wrong, not the transport. */
void cp_note_retry(bg_copy *cp, const bg_s3_req *r, bg_m_op op, const char *key,
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

/* Signs the call into r and hands it to curl; counted as a request. */
int cp_req_start(bg_copy *cp, bg_s3_req *r, const bg_endpoint *ep, const bg_s3_call *c,
		     bg_status *st)
{
	if (bg_s3_prepare(r, ep, c, st) < 0 || bg_s3_start(&cp->http, r) < 0)
		return -1;
	cp->stats.requests++;
	return 0;
}

/* cp_req_start for one of o's requests: one that cannot start fails o. */
int cp_obj_req_start(bg_copy *cp, obj *o, bg_s3_req *r, const bg_endpoint *ep,
			 const bg_s3_call *c, const char *what)
{
	bg_status st = { 0 };
	if (cp_req_start(cp, r, ep, c, &st) < 0) {
		cp_obj_fail(cp, o, "cannot start %s: %s", what, st.msg);
		return -1;
	}
	return 0;
}

/* A free object slot, linked at the end of the active list, or NULL. */
obj *cp_obj_take(bg_copy *cp)
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

/* The destination key of o, and why it cannot be written there: a key
 * too long, or (a download) one that cannot be a file under the directory.
 * Returns 1 for a directory marker a download skips, else 0 (bad "" when
 * the key is fine). */
static int admit_dkey(bg_copy *cp, obj *o, const char *rel, char *bad, size_t cap)
{
	bad[0] = '\0';
	if (bg_snprintf(o->dkey, sizeof(o->dkey), "%s%s", cp->dst_prefix, rel) < 0 ||
	    strlen(o->dkey) > BG_KEY_MAX) {
		bg_snprintf(bad, cap, "destination key longer than 1024 bytes");
		return 0;
	}
	if (cp->single)
		bg_strlcpy(o->dkey, cp->single_dkey, sizeof(o->dkey));
	if (!cp->ldst)
		return 0;
	size_t n = strlen(o->dkey);
	char why[160];
	if (n && o->dkey[n - 1] == '/' && o->size == 0)
		return 1; /* a directory marker: directories come with the files */
	if (n && o->dkey[n - 1] == '/')
		bg_snprintf(bad, cap, "key '%s' cannot be a local file: it ends with '/'", o->dkey);
	else if (bg_local_key_check(o->dkey, why, sizeof(why)) < 0)
		bg_snprintf(bad, cap, "key cannot be a local file under %.40s: %s", cp->o->dst.path,
			    why);
	return 0;
}

/* A key that is not copied: failed with why, or (a dry run) planned. */
static void admit_end(bg_copy *cp, obj *o, const char *why)
{
	if (why) {
		cp_obj_fail(cp, o, "%s", why);
		cp_obj_finish(cp, o);
		return;
	}
	cp_emit(cp, BG_EV_PLANNED, o, NULL);
	cp->stats.done_objects++;
	cp->stats.done_bytes += o->size;
	cp->settled++;
	cp_obj_release(cp, o);
}

/* A new object's first step: planned at once (a single-part object up to
 * the threshold, or a dry run), or a HEAD of the source first. */
static void admit_plan(bg_copy *cp, obj *o)
{
	bg_plan_input in = {
		.size = o->size, .threshold = cp->o->threshold,
		.part_size = cp->o->part_size, .max_part = (uint64_t)cp->pool.nblocks * POOL_BLOCK,
	};
	char err[256];
	bool small = !bg_plan_etag_parts(o->etag) && o->size <= cp->o->threshold;
	if (!cp->o->dry_run && !small) {
		cp_obj_to(cp, o, O_HEAD);
		return;
	}
	if (bg_plan_object(&in, &o->plan, err, sizeof(err)) < 0) {
		admit_end(cp, o, err);
		return;
	}
	if (cp->o->dry_run) {
		admit_end(cp, o, NULL);
		return;
	}
	o->pdone[0] = 0;
	cp_obj_to(cp, o, O_SMALL);
}

/* Listed keys into free object slots, in listing order. */
void cp_admit(bg_copy *cp)
{
	if (cp->halting || cp->fatal.set)
		return;
	obj *o;
	while (cp->qlen && (o = cp_obj_take(cp))) {
		pending *p = &cp->queue[cp->qhead];
		cp->qhead = (cp->qhead + 1) % QUEUE_MAX;
		cp->qlen--;
		bg_strlcpy(o->key, p->key, sizeof(o->key));
		o->size = p->size;
		bg_strlcpy(o->etag, p->etag, sizeof(o->etag));
		bg_strlcpy(o->last_modified, p->last_modified, sizeof(o->last_modified));
		cp_obj_to(cp, o, O_ADMIT);
		char bad[200];
		if (admit_dkey(cp, o, p->key + cp->src_plen, bad, sizeof(bad)) == 1) {
			cp->stats.skipped_objects++;
			cp->settled++;
			cp_obj_release(cp, o);
			continue;
		}
		if (cp->j && !cp->o->dry_run) {
			bg_jobject jo;
			int f = cp_jlookup(cp, o, &jo);
			if (f < 0) {
				cp_obj_release(cp, o);
				return;
			}
			if (!bad[0] && f == 1 && cp_jadmit(cp, o, &jo))
				continue;
		}
		if (bad[0])
			admit_end(cp, o, bad);
		else
			admit_plan(cp, o);
	}
}

/* A HEAD of the source told us size, ETag and metadata: plan the copy. */
void cp_planned_from_head(bg_copy *cp, obj *o)
{
	bg_plan_input in = {
		.size = o->size, .threshold = cp->o->threshold, .part_size = cp->o->part_size,
		.max_part = (uint64_t)cp->pool.nblocks * POOL_BLOCK / 2,
		.src_part_size = o->no_reuse ? 0 : o->src_part_size,
		.src_parts = bg_plan_etag_parts(o->etag),
	};
	char err[256];
	if (bg_plan_object(&in, &o->plan, err, sizeof(err)) < 0) {
		cp_obj_fail(cp, o, "%s", err);
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
	cp_obj_to(cp, o, o->plan.multipart ? O_CREATE : O_SMALL);
}
