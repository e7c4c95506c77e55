/* copy_resume.c - the copy scheduler and its journal: records, admission of
 * objects the journal knows, the resume of their uploads, and the sweep of
 * keys no longer listed (copy_int.h; docs/journal.md). */
#include "copy_int.h"

bool cp_jready(const bg_copy *cp, const obj *o)
{
	return !cp->j || o->jwait == 0 || bg_journal_committed(cp->j) >= o->jwait;
}

/* The object's row as it stands now. */
uint64_t cp_jwrite(bg_copy *cp, obj *o, bg_jstate state, const char *error)
{
	char hex[33] = "";
	if (state == BG_JS_DONE)
		cp_obj_xxh_hex(cp, o, hex);
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

void cp_jpart(bg_copy *cp, obj *o, uint32_t part, bool uploaded, unsigned attempts)
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
void cp_orphan_finish(bg_copy *cp, obj *o)
{
	cp->orphans_active--;
	if (o->failed) {
		bg_journal_error(cp->j, o->jid, o->key, o->err);
		cp->stats.failed_objects++;
		cp_emit(cp, BG_EV_FAILED, o, o->err);
	} else {
		static const char why[] = "no longer listed at the source: its open upload (if "
					  "any) was aborted and its journal row dropped";
		bg_journal_error(cp->j, o->jid, o->key, why);
		bg_journal_drop_object(cp->j, o->jid);
		cp->stats.orphans++;
		cp_emit(cp, BG_EV_SKIPPED, o, why);
	}
	cp_obj_release(cp, o);
}

/* ---- admission -------------------------------------------------------- */

/* The journal's row for the object: 1 found (o->jid is its id), 0 new
 * (a new id), -1 the journal cannot be read (fatal). */
int cp_jlookup(bg_copy *cp, obj *o, bg_jobject *jo)
{
	bg_status st = { 0 };
	int f = bg_journal_lookup(cp->j, o->key, jo, &st);
	if (f < 0) {
		bg_fatal_set(&cp->fatal, st.code ? st.code : BG_E_IO, "journal: %s", st.msg);
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

/* A single-part source copied in parts (its ETag a plain MD5): the MD5
 * over its bytes (copy_md5.c), from the state the journal has. */
static void whole_from_journal(bg_copy *cp, obj *o, const bg_jobject *jo)
{
	unsigned char md5[16];
	o->whole_md5 = !cp->ldst && bg_unhex16(o->etag, md5) == 0;
	if (!o->whole_md5)
		return;
	bg_md5_init(&o->whole);
	o->whole_next = 0;
	if (jo->whole_parts && jo->whole_parts < o->plan.nparts) {
		bg_md5_restore(&o->whole, jo->whole_state,
			       (uint64_t)jo->whole_parts * o->plan.part_size);
		o->whole_next = jo->whole_parts;
	}
}

/* An object the journal knows.  Returns true when admission is settled
 * here: done before (skipped), or uploads of an earlier run to look at
 * (O_UPLOADS); false to copy it the usual way. */
bool cp_jadmit(bg_copy *cp, obj *o, const bg_jobject *jo)
{
	bool same = jo->size == o->size && strcmp(jo->src_etag, o->etag) == 0;
	if (same && jo->state == BG_JS_DONE) {
		cp->stats.already_done_objects++;
		cp->settled++;
		cp->stats.already_done_bytes += o->size;
		cp_obj_release(cp, o);
		return true;
	}
	/* Could an earlier run have left an upload of this key open? */
	if (!(jo->state == BG_JS_CREATING || jo->state == BG_JS_UPLOADING || jo->upload_id[0] ||
	      jo->part_size))
		return false;
	uint64_t ps = jo->part_size;
	if (same && jo->state == BG_JS_UPLOADING && jo->upload_id[0] && ps &&
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
			bg_fatal_set(&cp->fatal, st.code ? st.code : BG_E_IO, "journal: %s", st.msg);
			cp_obj_release(cp, o);
			return true;
		}
		o->resumed = true;
		o->jcreating = true; /* its CREATING record is in the journal */
		whole_from_journal(cp, o, jo);
	}
	cp_obj_to(cp, o, O_UPLOADS);
	return true;
}

/* After ListParts: a single-part source's MD5 goes on from the state the
 * journal has after its first k parts, if those are all there; the parts
 * after them were never in it and are sent again.  Otherwise the MD5 and
 * every part start over (in the same upload). */
void cp_whole_resume(obj *o)
{
	uint32_t k = o->whole_next;
	for (uint32_t i = 0; i < k; i++)
		if (!o->pdone[i]) {
			k = 0;
			bg_md5_init(&o->whole);
			o->whole_next = 0;
			break;
		}
	for (uint32_t i = k; i < o->plan.nparts; i++)
		o->pdone[i] = 0;
}

/* Once every listed object is finished, the journal's rows still creating
 * or uploading are keys an earlier run left in progress that this run did
 * not list (deleted at the source, or newly excluded): each becomes an
 * orphan object that aborts every upload of its destination key (the
 * sweep of O_UPLOADS), then leaves the journal (cp_orphan_finish). */
void cp_sweep_orphans(bg_copy *cp)
{
	if (!cp->j || cp->sweep_done || cp->halting || cp->fatal.set || !cp->list_done || cp->qlen ||
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
			bg_fatal_set(&cp->fatal, st.code ? st.code : BG_E_IO, "journal: %s", st.msg);
		if (f <= 0) {
			cp->sweep_done = f == 0;
			return;
		}
		cp->sweep_after = id;
		obj *o = cp_obj_take(cp);
		bg_strlcpy(o->key, key, sizeof(o->key));
		bg_strlcpy(o->dkey, dkey, sizeof(o->dkey));
		o->jid = id;
		o->orphan = true;
		cp->orphans_active++;
		cp_sweep_begin(cp, o);
	}
}

/* Resuming: the earlier upload cannot be used; copy the object anew. */
void cp_jfresh(bg_copy *cp, obj *o)
{
	cp_obj_reset_for_plan(cp, o);
	o->plan = (bg_plan){ 0 };
	cp_obj_to(cp, o, O_HEAD);
}

/* Resuming: our upload is gone.  If the journal has every part, a run
 * killed while Complete was with the server may have finished the object:
 * a HEAD showing the size and the ETag those parts make proves it (and
 * nothing is sent again); anything else copies the object anew.  A local
 * file has no such ETag (a stat shows only its size, and a stale file of
 * the same size would pass): a download whose temporary file is gone is
 * always copied anew. */
void cp_jgone(bg_copy *cp, obj *o)
{
	uint32_t have = 0;
	for (uint32_t i = 0; o->resumed && i < o->plan.nparts; i++)
		have += o->jhave[i];
	if (!o->resumed || have != o->plan.nparts || cp->ldst) {
		cp_jfresh(cp, o);
		return;
	}
	cp_multipart_etag(o, o->expect_etag, sizeof(o->expect_etag));
	o->upload_id[0] = '\0';
	cp_obj_to(cp, o, O_RECHECK);
}

/* Every upload of o's destination key is to go (cp_on_upload takes each
 * as a stray in O_SWEEP): after a lost Create, for an orphan, or without
 * a journal once the object is done. */
void cp_sweep_begin(bg_copy *cp, obj *o)
{
	o->lu_key[0] = o->lu_upload[0] = o->stray_id[0] = '\0';
	cp_obj_to(cp, o, O_SWEEP);
}

int cp_on_upload(void *ctx, const bg_xml_upload *u)
{
	obj *o = ctx;
	if (u->key_len != strlen(o->dkey) || memcmp(u->key, o->dkey, u->key_len) != 0)
		return 0; /* another key under this prefix */
	if (o->state == O_UPLOADS && o->resumed && strcmp(u->upload_id, o->upload_id) == 0)
		o->own_seen = true;
	else if (!o->stray_id[0])
		bg_strlcpy(o->stray_id, u->upload_id, sizeof(o->stray_id));
	return 0;
}

int cp_on_listed_part(void *ctx, const bg_xml_part *p)
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

/* Has the journal's writer failed?  Then no record commits any more. */
bool cp_jdead(bg_copy *cp)
{
	return cp->j && bg_journal_error_state(cp->j, NULL);
}

/* Objects whose final record has committed are counted and reported.
 * If the journal has failed, that record never commits: the object is
 * let go uncounted (the next run finds it not done and checks it again). */
void cp_finish_journaled(bg_copy *cp)
{
	bool dead = cp_jdead(cp);
	for (obj *o = cp->active_head; o;) {
		obj *next = o->next;
		if (o->state == O_JFINAL) {
			if (cp_jready(cp, o))
				cp_obj_finish(cp, o);
			else if (dead)
				cp_obj_release(cp, o);
			else
				cp->jwaiting++;
		}
		o = next;
	}
}

/* ---- the answers of the resume's requests (copy_ctl.c's table) ---------- */

/* ListMultipartUploads of the key: in O_UPLOADS, our journaled upload is
 * looked for and every other is a stray; in O_SWEEP, every one is.  A
 * stray is aborted, then the key is listed again from the start. */
void cp_uploads_done(bg_copy *cp, obj *o, bg_s3_req *r, bool local)
{
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
		return;
	}
	if (o->stray_id[0]) {
		cp_obj_to(cp, o, o->state == O_SWEEP ? O_SWEEP_ABORT : O_ABORT_STRAY);
		return;
	}
	if (trunc && (o->lu_key[0] || o->lu_upload[0])) {
		/* the next page; a server that gives the same markers again
		 * would be asked for the same page forever */
		if (strcmp(was_key, o->lu_key) == 0 && strcmp(was_upload, o->lu_upload) == 0)
			cp_obj_fail(cp, o, "ListMultipartUploads of the destination key does not "
				    "advance (the same next markers twice)");
		return;
	}
	o->lu_key[0] = o->lu_upload[0] = '\0';
	if (o->state == O_SWEEP) {
		o->create_lost = false; /* every upload of the key is gone */
		cp_obj_to(cp, o, o->failed ? O_ABORTED : O_PROVED);
	} else if (o->resumed && o->own_seen) {
		o->lp_marker = 0;
		cp_obj_to(cp, o, O_LISTPARTS);
	} else {
		cp_jgone(cp, o);
	}
}

void cp_stray_aborted(bg_copy *cp, obj *o, bg_s3_req *r, bool local)
{
	(void)r;
	(void)local;
	cp->stats.stray_aborts++;
	o->stray_id[0] = o->lu_key[0] = o->lu_upload[0] = '\0';
	o->own_seen = false; /* list again from the start */
	cp_obj_to(cp, o, o->state == O_SWEEP_ABORT ? O_SWEEP : O_UPLOADS);
}

/* ListParts of our upload: a part counts as there only if the journal has
 * it as uploaded and ListParts shows it with the same ETag and size. */
void cp_listparts_done(bg_copy *cp, obj *o, bg_s3_req *r, bool local)
{
	if (r->status == 404) { /* completed or aborted since */
		cp_jgone(cp, o);
		return;
	}
	bool trunc = false;
	unsigned next = 0;
	if (!local && bg_xml_parse_list_parts(r->resp.data ? r->resp.data : "", r->resp.len,
					      cp_on_listed_part, o, &trunc, &next) < 0) {
		cp_obj_fail(cp, o, "ListParts answer cannot be read");
		return;
	}
	if (trunc && next > o->lp_marker) {
		o->lp_marker = next;
		return;
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
	cp_obj_to(cp, o, o->parts_done == o->plan.nparts ? O_COMPLETE : O_PARTS);
}
