/* copy_bw.c - the copy scheduler's bandwidth limit: the buckets' rates
 * (from --bwlimit, then --bwlimit-file and SIGHUP), their refill each turn
 * of the loop, and the resumption of the transfers they paused.  The
 * tokens are taken where curl moves bytes (copy_xfer.c). */
#include "copy_int.h"

/* The limits the options give, then the file's if there is one. */
void cp_bw_start(bg_copy *cp, uint64_t now)
{
	bg_bucket_set(&cp->bw_up, cp->o->bw_up, now);
	bg_bucket_set(&cp->bw_down, cp->o->bw_down, now);
	cp_bw_reload(cp, now, true);
}

/* --bwlimit-file: read at start, every second, and at once on SIGHUP.
 * A missing or unreadable file keeps the limit in force. */
void cp_bw_reload(bg_copy *cp, uint64_t now, bool force)
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
bool cp_bw_turn(bg_copy *cp, uint64_t now)
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
