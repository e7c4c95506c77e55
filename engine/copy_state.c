/* copy_state.c - the state machines of the copy scheduler, the objects'
 * and their parts': every state, what it waits for, which states may
 * follow it, and the one function through which each changes (copy_int.h).
 *
 * An object's path (docs/architecture.md, "One object's path"):
 *
 *   FREE -> ADMIT -> SMALL ----------------------------> VERIFY -> PROVED
 *                 -> HEAD [-> HEAD_PART [-> HEAD_LAST]]
 *                      -> SMALL, or CREATE -> PARTS -> COMPLETE -> VERIFY
 *                 -> UPLOADS [<-> ABORT_STRAY] -> LISTPARTS -> PARTS/COMPLETE
 *                                              -> RECHECK -> PROVED
 *   VERIFY -> SWEEP [<-> SWEEP_ABORT] -> PROVED      (uploads a lost Create
 *                                                     or a killed run left)
 *   VERIFY -> HEAD_MID -> (restart) HEAD             (ETag not the source's)
 *   PROVED -> JFINAL (its record commits) -> FREE
 *
 * From any active state an object may end: fail or restart (settled once
 * nothing is in flight: ABORT -> ABORTED, a SWEEP after a lost Create,
 * then HEAD again or finished), or be let go by a stop (FREE). */
#include "copy_int.h"

#define S(x) (1u << (x))
/* What may follow any active state: a restart (HEAD), the settling of a
 * failure or restart (ABORT, SWEEP), finishing (JFINAL with a journal,
 * FREE without), and a stop (FREE). */
#define ENDS (S(O_HEAD) | S(O_ABORT) | S(O_SWEEP) | S(O_JFINAL) | S(O_FREE))

const cp_ostate_info cp_ostates[O_COUNT] = {
	[O_FREE] = { .name = "FREE", .next = S(O_ADMIT) | S(O_SWEEP) },
	[O_ADMIT] = { .name = "ADMIT", .next = S(O_SMALL) | S(O_UPLOADS) | ENDS },
	[O_SMALL] = { .name = "SMALL", .next = S(O_VERIFY) | ENDS },
	[O_HEAD] = { .name = "HEAD", .next = S(O_HEAD_PART) | S(O_SMALL) | S(O_CREATE) | ENDS,
		.ctl = CTL_SRC, .op = BG_M_HEAD, .what = "HEAD of the source" },
	[O_HEAD_PART] = { .name = "HEAD_PART",
		.next = S(O_HEAD_LAST) | S(O_SMALL) | S(O_CREATE) | ENDS, .ctl = CTL_SRC,
		.op = BG_M_HEAD, .what = "HEAD of the source's part 1" },
	[O_HEAD_LAST] = { .name = "HEAD_LAST", .next = S(O_SMALL) | S(O_CREATE) | ENDS,
		.ctl = CTL_SRC, .op = BG_M_HEAD, .what = "HEAD of the source's last part" },
	[O_HEAD_MID] = { .name = "HEAD_MID", .next = ENDS, .ctl = CTL_SRC, .op = BG_M_HEAD,
		.what = "HEAD of a middle part of the source" },
	[O_CREATE] = { .name = "CREATE", .next = S(O_PARTS) | ENDS, .ctl = CTL_DST,
		.op = BG_M_CREATE, .what = "CreateMultipartUpload" },
	[O_PARTS] = { .name = "PARTS", .next = S(O_COMPLETE) | ENDS },
	[O_COMPLETE] = { .name = "COMPLETE", .next = S(O_VERIFY) | ENDS, .ctl = CTL_DST,
		.op = BG_M_COMPLETE, .what = "CompleteMultipartUpload" },
	[O_VERIFY] = { .name = "VERIFY", .next = S(O_PROVED) | S(O_HEAD_MID) | ENDS,
		.ctl = CTL_DST, .op = BG_M_HEAD, .what = "HEAD of the destination" },
	[O_RECHECK] = { .name = "RECHECK", .next = S(O_PROVED) | ENDS, .ctl = CTL_DST,
		.op = BG_M_HEAD,
		.what = "HEAD of the destination (is the resumed object there?)" },
	[O_SWEEP] = { .name = "SWEEP",
		.next = S(O_SWEEP_ABORT) | S(O_PROVED) | S(O_ABORTED) | ENDS,
		.ctl = CTL_DST | CTL_CLEANS, .op = BG_M_LIST_UPLOADS,
		.what = "ListMultipartUploads of the destination key" },
	[O_SWEEP_ABORT] = { .name = "SWEEP_ABORT", .next = S(O_SWEEP) | S(O_ABORTED) | ENDS,
		.ctl = CTL_DST | CTL_CLEANS, .op = BG_M_ABORT,
		.what = "AbortMultipartUpload of an upload left behind" },
	[O_ABORT] = { .name = "ABORT", .next = S(O_ABORTED) | ENDS, .ctl = CTL_DST | CTL_CLEANS,
		.op = BG_M_ABORT, .what = "AbortMultipartUpload" },
	[O_ABORTED] = { .name = "ABORTED", .next = ENDS },
	[O_UPLOADS] = { .name = "UPLOADS",
		.next = S(O_ABORT_STRAY) | S(O_LISTPARTS) | S(O_RECHECK) | ENDS, .ctl = CTL_DST,
		.op = BG_M_LIST_UPLOADS,
		.what = "ListMultipartUploads of the destination key" },
	[O_ABORT_STRAY] = { .name = "ABORT_STRAY", .next = S(O_UPLOADS) | ENDS, .ctl = CTL_DST,
		.op = BG_M_ABORT, .what = "AbortMultipartUpload of an earlier run's upload" },
	[O_LISTPARTS] = { .name = "LISTPARTS",
		.next = S(O_PARTS) | S(O_COMPLETE) | S(O_RECHECK) | ENDS, .ctl = CTL_DST,
		.op = BG_M_LIST_PARTS, .what = "ListParts of the resumed upload" },
	[O_PROVED] = { .name = "PROVED", .next = S(O_JFINAL) | S(O_FREE) },
	[O_JFINAL] = { .name = "JFINAL", .next = S(O_FREE) },
};

/* The one place an object changes state: a move the table does not allow
 * is a bug, caught here (an assertion) rather than as a hang later. */
void cp_obj_to(bg_copy *cp, obj *o, ostate to)
{
	ostate from = o->state;
	BG_ASSERT(to < O_COUNT && (cp_ostates[from].next & S(to)));
	o->state = to;
	if (cp->o->on_state)
		cp->o->on_state(cp->o->ctx, o->key, 0, cp_ostates[from].name, cp_ostates[to].name);
}

/* A part's path through its transfer slot (an xfer):
 *
 *   FREE -> GET -> READY ----------> PUT -> FREE
 *               -> HASH -> READY             -> HOLD -> FREE   (whole MD5)
 *               -> PUT (cut-through, or a download's write-behind)
 *
 * A retry stays in its phase (GET -> GET, PUT -> PUT) until retry_at; a
 * part whose bytes do not match the source ETag is read again (HASH ->
 * GET).  From any phase the slot may be freed (the part failed, the
 * object failed or restarts, or the run stops). */
const cp_xphase_info cp_xphases[X_COUNT] = {
	[X_FREE] = { .name = "FREE", .next = S(X_GET) },
	[X_GET] = { .name = "GET", .next = S(X_GET) | S(X_HASH) | S(X_READY) | S(X_PUT) | S(X_FREE) },
	[X_HASH] = { .name = "HASH", .next = S(X_GET) | S(X_READY) | S(X_FREE) },
	[X_READY] = { .name = "READY", .next = S(X_PUT) | S(X_FREE) },
	[X_PUT] = { .name = "PUT", .next = S(X_PUT) | S(X_HOLD) | S(X_FREE) },
	[X_HOLD] = { .name = "HOLD", .next = S(X_FREE) },
};

/* The one place a transfer slot changes phase; x->o is still its object. */
void cp_xfer_to(bg_copy *cp, xfer *x, xphase to)
{
	xphase from = x->phase;
	BG_ASSERT(to < X_COUNT && (cp_xphases[from].next & S(to)) && x->o);
	x->phase = to;
	if (cp->o->on_state && from != to)
		cp->o->on_state(cp->o->ctx, x->o->key, x->part + 1, cp_xphases[from].name,
				cp_xphases[to].name);
}

/* Is the object taking its uploads down (its own, or every one of its key)?
 * That goes on when it has failed. */
bool cp_cleaning(const obj *o)
{
	return cp_ostates[o->state].ctl & CTL_CLEANS;
}

/* Does the object's state call for a control request now? */
bool cp_needs_ctl(const obj *o)
{
	if (o->ctl_busy || o->parts_inflight || !cp_ostates[o->state].ctl)
		return false;
	if (cp_cleaning(o))
		return true;
	if (o->state == O_COMPLETE && o->whole_md5 && !o->whole_ok)
		return false; /* cp_whole_turn has not seen every part's bytes yet */
	return !o->failed && !o->restart;
}
