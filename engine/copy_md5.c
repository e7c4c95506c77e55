/* copy_md5.c - MD5 in the copy scheduler: parts hashed side by side in the
 * vector lanes (md5_turn), and the whole-object MD5 of a single-part
 * source read in parts (whole_turn) (copy_int.h). */
#include "copy_int.h"

static void md5_finish(bg_copy *cp, xfer *x);

/* MD5 is a chain of dependent steps, so one part at a time leaves most
 * of a core idle; bg_md5_lanes hashes up to BG_MD5_LANES parts in the
 * lanes of the vector registers instead.  So MD5 is not taken as bytes
 * arrive but in cp_md5_turn, once per loop turn, over the parts whose GETs
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

/* Parts whose GETs are done wait for one another, up to MD5_WAIT_NS,
 * while GETs or uploads are running (an upload's end lets a GET start):
 * then MD5_GATHER or more of them are hashed together.  Should the parts
 * that may wait be hashed now?  *busy: GETs with an MD5 and uploads. */
static bool md5_gather(const bg_copy *cp, uint64_t now, unsigned *busy)
{
	unsigned ready = 0;
	bool due = false;
	*busy = 0;
	for (unsigned i = 0; i < cp->nxf; i++) {
		const xfer *x = &cp->xf[i];
		*busy += (x->phase == X_GET && x->md5_on) || x->phase == X_PUT;
		if (x->phase == X_HASH && md5_may_wait(x)) {
			ready++;
			due |= now - x->hash_since >= MD5_WAIT_NS;
		}
	}
	return ready >= MD5_GATHER || due || !*busy;
}

/* The runs of bytes to hash now, longest first, in cp->md5_runs: their
 * count. */
static unsigned md5_runs(bg_copy *cp, bool gather)
{
	md5_run *r = cp->md5_runs;
	unsigned n = 0;
	for (unsigned i = 0; i < cp->nxf; i++) {
		xfer *x = &cp->xf[i];
		if (!x->md5_on || x->retry.waiting || (x->phase != X_GET && x->phase != X_HASH) ||
		    (x->phase == X_HASH && !gather && md5_may_wait(x)))
			continue;
		const unsigned char *at;
		size_t len = md5_run_at(cp, x, &at);
		if (!len || (x->phase == X_GET && len < MD5_RUN_MIN))
			continue;
		unsigned j = n++;
		for (; j > 0 && r[j - 1].n < len; j--)
			r[j] = r[j - 1];
		r[j] = (md5_run){ x, at, len };
	}
	return n;
}

/* Hashes the runs side by side, as long as two or more are there. */
static void md5_together(bg_copy *cp, bool gather, uint64_t now)
{
	md5_run *r = cp->md5_runs;
	unsigned n;
	while ((n = md5_runs(cp, gather)) >= 2) {
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
}

/* Returns how long the loop may sleep before a part that waits in X_HASH
 * for one to hash beside it is hashed alone (UINT64_MAX: none waits). */
uint64_t cp_md5_turn(bg_copy *cp)
{
	uint64_t now = bg_now_ns();
	unsigned busy;
	md5_together(cp, md5_gather(cp, now, &busy), now);
	/* A running GET whose bytes have waited MD5_WAIT_NS for company (one
	 * GET alone, or a slow link) is hashed alone, so that it does not end
	 * with all its bytes still to hash. */
	for (unsigned i = 0; i < cp->nxf; i++) {
		xfer *x = &cp->xf[i];
		if (x->phase != X_GET || !x->md5_on || x->retry.waiting ||
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
		cp_xfer_free(cp, x);
		return;
	}
	unsigned char want[16];
	if (!o->plan.multipart && !o->etag_opaque && bg_unhex16(o->etag, want) == 0 &&
	    memcmp(want, x->md5sum, 16) != 0) {
		cp_xfer_to(cp, x, X_GET);
		if (bg_retry_later(&x->retry, NULL, cp->o->retries)) {
			cp_note_retry(cp, &x->req, BG_M_GET, o->key, x->retry.attempt,
				   "bytes read do not match the source ETag", true);
			return;
		}
		cp_obj_fail(cp, o, "bytes read do not match the source ETag %s", o->etag);
		cp_xfer_free(cp, x);
		return;
	}
	x->retry.attempt = 0;
	cp_xfer_to(cp, x, X_READY); /* cp_dispatch_data uploads it when a slot is free */
}

/* ---- the MD5 of a single-part source read in parts ---------------------
 *
 * Parts are read side by side and end in any order; the object's MD5
 * takes them in part order, each once it is uploaded: an uploaded part
 * holds its blocks (X_HOLD) until the parts before it are in.  Parts are
 * read in order, so the one the MD5 waits for is always in flight:
 * nothing waits on a part that is not coming.  Since every part in the
 * MD5 is uploaded, its state after each part can go to the journal
 * (bg_journal_whole), and a resume goes on from there (cp_whole_resume). */

/* The transfer holding o's part i with its GET done, or NULL. */
static xfer *whole_part(bg_copy *cp, const obj *o, uint32_t i)
{
	for (unsigned k = 0; k < cp->nxf; k++) {
		xfer *x = &cp->xf[k];
		if (x->o == o && x->part == i && x->phase == X_HOLD)
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
		cp_note_retry(cp, NULL, BG_M_GET, o->key, o->restarts + 1,
			   "bytes read do not match the source ETag: the object is read again", true);
		o->restart = true;
	} else {
		cp_obj_fail(cp, o, "bytes read do not match the source ETag %s (read %d times)", o->etag,
			 MAX_RESTARTS + 1);
	}
}

void cp_whole_turn(bg_copy *cp)
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
			if (o->whole_next == o->plan.nparts) {
				whole_check(cp, o);
			} else if (cp->j) {
				/* every part so far is uploaded: a resume goes on from here */
				unsigned char st[16];
				bg_md5_state(&o->whole, st);
				bg_journal_whole(cp->j, o->jid, o->whole_next, st);
			}
			if (x->phase == X_HOLD) {
				cp_xfer_free(cp, x); /* may settle and finish o */
				if (o->state == O_FREE) /* released: nothing more of it */
					break;
			}
		}
		o = next;
	}
}
