/* http.c - curl multi on io_uring: socket/timer callbacks mapped to poll
 * operations and the wait timeout of each loop turn. */
#include "http.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#define UD_SLOT(ud) ((uint32_t)((ud) >> 32) & 0x7fffffffu)
#define UD_GEN(ud) ((uint32_t)(ud))
#define MAKE_UD(slot, gen) (((uint64_t)(slot) << 32) | (uint64_t)(gen))
/* File operations carry their bg_fop's address under this bit; socket
 * slots never reach it. */
#define UD_FOP (1ull << 62)

static unsigned mask_for(int what)
{
	switch (what) {
	case CURL_POLL_IN: return POLLIN;
	case CURL_POLL_OUT: return POLLOUT;
	case CURL_POLL_INOUT: return POLLIN | POLLOUT;
	default: return 0;
	}
}

static void disarm(bg_http *h, unsigned slot)
{
	bg_http_sock *s = &h->socks[slot];
	if (s->armed) {
		int rc = bg_ring_poll_remove(&h->ring, MAKE_UD(slot, s->gen));
		BG_ASSERT(rc == 0);
		s->armed = false;
	}
	s->gen++; /* whatever is still in flight for the old tag is stale */
}

static void arm(bg_http *h, unsigned slot)
{
	bg_http_sock *s = &h->socks[slot];
	unsigned mask = mask_for(s->what);
	if (!mask || s->armed)
		return;
	int rc = bg_ring_poll_add(&h->ring, s->fd, mask, MAKE_UD(slot, s->gen));
	BG_ASSERT(rc == 0);
	s->armed = true;
	s->armed_mask = mask;
}

static int sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	(void)easy;
	bg_http *h = userp;
	long slot = socketp ? (long)(intptr_t)socketp - 1 : -1;

	if (what == CURL_POLL_REMOVE) {
		if (slot >= 0) {
			disarm(h, (unsigned)slot);
			h->socks[slot].used = false;
			curl_multi_assign(h->multi, fd, NULL);
		}
		return 0;
	}
	if (slot < 0) {
		for (unsigned i = 0; i < h->nsocks; i++) {
			if (!h->socks[i].used) {
				slot = (long)i;
				break;
			}
		}
		if (slot < 0)
			return -1; /* table full: curl fails this transfer */
		bg_http_sock *s = &h->socks[slot];
		s->used = true;
		s->fd = fd;
		s->armed = false;
		s->gen++;
		curl_multi_assign(h->multi, fd, (void *)(intptr_t)(slot + 1));
	}
	bg_http_sock *s = &h->socks[slot];
	if (s->armed && s->armed_mask != mask_for(what))
		disarm(h, (unsigned)slot);
	s->what = what;
	arm(h, (unsigned)slot);
	return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	(void)multi;
	bg_http *h = userp;
	if (timeout_ms < 0) {
		h->timer_deadline = 0;
		h->timer_due = false;
	} else if (timeout_ms == 0) {
		/* Must not call back into curl from here: the loop does it. */
		h->timer_due = true;
	} else {
		h->timer_deadline = bg_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	}
	return 0;
}

int bg_http_init(bg_http *h, unsigned max_sockets, unsigned max_conns, bg_status *st)
{
	memset(h, 0, sizeof(*h));
	h->socks = calloc(max_sockets, sizeof(*h->socks));
	if (!h->socks)
		return bg_fail(st, BG_E_NOMEM, "out of memory for %u sockets", max_sockets);
	h->nsocks = max_sockets;
	if (bg_ring_init(&h->ring, 256, st) < 0) {
		free(h->socks);
		h->socks = NULL;
		return st ? st->code : BG_E_CONFIG;
	}
	h->multi = curl_multi_init();
	if (!h->multi) {
		bg_http_free(h);
		return bg_fail(st, BG_E_NOMEM, "curl_multi_init failed");
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)max_conns);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)max_conns);
	return 0;
}

void bg_http_free(bg_http *h)
{
	if (h->multi)
		curl_multi_cleanup(h->multi); /* closes sockets through sock_cb */
	h->multi = NULL;
	bg_ring_exit(&h->ring);
	free(h->socks);
	h->socks = NULL;
}

int bg_http_add(bg_http *h, bg_http_req *r)
{
	BG_ASSERT(!r->active);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK)
		return -1;
	r->active = true;
	h->active++;
	return 0;
}

/* Takes r out of the done queue (its callback must not run). */
static void unqueue(bg_http *h, bg_http_req *r)
{
	bg_http_req **pp = &h->done_head, *prev = NULL;
	while (*pp && *pp != r) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	BG_ASSERT(*pp == r);
	*pp = r->next;
	if (h->done_tail == r)
		h->done_tail = prev;
	r->next = NULL;
	r->queued = false;
}

void bg_http_abort(bg_http *h, bg_http_req *r)
{
	if (r->queued)
		unqueue(h, r);
	if (!r->active)
		return;
	curl_multi_remove_handle(h->multi, r->easy);
	r->active = false;
	h->active--;
}

static void harvest(bg_http *h)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(h->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		bg_http_req *r = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		BG_ASSERT(r && r->active);
		r->result = m->data.result;
		/* m is invalid after remove_handle: nothing below reads it. */
		curl_multi_remove_handle(h->multi, r->easy);
		r->active = false;
		h->active--;
		r->next = NULL;
		r->queued = true;
		if (h->done_tail)
			h->done_tail->next = r;
		else
			h->done_head = r;
		h->done_tail = r;
	}
}

static void fop_queue(bg_http *h, bg_fop *op)
{
	op->next = NULL;
	if (h->fop_tail)
		h->fop_tail->next = op;
	else
		h->fop_head = op;
	h->fop_tail = op;
}

static int fop_submit(bg_http *h, bg_fop *op, int rc)
{
	if (rc < 0)
		return rc;
	op->active = true;
	h->fops++;
	return 0;
}

static uint64_t fop_ud(bg_fop *op)
{
	uint64_t p = (uint64_t)(uintptr_t)op;
	BG_ASSERT(p < UD_FOP);
	return UD_FOP | p;
}

int bg_http_file_rw(bg_http *h, bg_fop *op, bool write, int fd, const struct iovec *iov,
		    unsigned n, uint64_t off)
{
	BG_ASSERT(!op->active);
	return fop_submit(h, op, bg_ring_file_rw(&h->ring, write, fd, iov, n, off, fop_ud(op)));
}

int bg_http_fdatasync(bg_http *h, bg_fop *op, int fd)
{
	BG_ASSERT(!op->active);
	return fop_submit(h, op, bg_ring_fdatasync(&h->ring, fd, fop_ud(op)));
}

int bg_http_fallocate(bg_http *h, bg_fop *op, int fd, uint64_t len)
{
	BG_ASSERT(!op->active);
	return fop_submit(h, op, bg_ring_fallocate(&h->ring, fd, len, fop_ud(op)));
}

void bg_http_fop_post(bg_http *h, bg_fop *op, int res)
{
	BG_ASSERT(!op->active);
	op->res = res;
	op->active = true;
	fop_queue(h, op);
}

/* The one place where a poll completion's result is translated. */
static void on_cqe(void *ctx, uint64_t ud, int res)
{
	bg_http *h = ctx;
	if (ud & UD_FOP) {
		bg_fop *op = (bg_fop *)(uintptr_t)(ud & ~UD_FOP);
		BG_ASSERT(op->active && h->fops > 0);
		h->fops--;
		op->res = res;
		fop_queue(h, op);
		return;
	}
	uint32_t slot = UD_SLOT(ud);
	BG_ASSERT(slot < h->nsocks);
	bg_http_sock *s = &h->socks[slot];
	if (!s->used || s->gen != UD_GEN(ud)) {
		h->stale++; /* curl dropped or re-registered the socket */
		return;
	}
	s->armed = false;
	int ev = 0;
	switch (res < 0 ? -res : 0) {
	case 0:
		if (res & (POLLIN | POLLHUP))
			ev |= CURL_CSELECT_IN;
		if (res & POLLOUT)
			ev |= CURL_CSELECT_OUT;
		if (res & (POLLERR | POLLHUP | POLLNVAL))
			ev |= CURL_CSELECT_ERR;
		break;
	case EINTR:
	case EAGAIN:
		arm(h, slot); /* try again */
		return;
	case ECANCELED:
		return; /* we cancelled it ourselves; gen already moved on */
	case EFAULT:
	case EBADF:
		/* curl closed the fd without telling us: a programmer error. */
		BG_ASSERT(!"poll on a bad fd");
		return;
	default:
		ev = CURL_CSELECT_ERR; /* unexpected: let curl find out */
		break;
	}
	h->polls++;
	int running;
	curl_socket_t fd = s->fd;
	curl_multi_socket_action(h->multi, fd, ev, &running);
	/* Re-read the table: the callback may have changed this slot. */
	s = &h->socks[slot];
	if (s->used && s->fd == fd && !s->armed)
		arm(h, slot);
}

int bg_http_turn(bg_http *h, uint64_t max_wait_ns)
{
	uint64_t now = bg_now_ns();
	uint64_t wait = max_wait_ns;
	if (h->timer_due || h->done_head || h->fop_head)
		wait = 0;
	else if (h->timer_deadline) {
		uint64_t left = h->timer_deadline > now ? h->timer_deadline - now : 0;
		if (left < wait)
			wait = left;
	}
	/* bg_ring_run with 0 only submits: use 1 ns to poll the queue. */
	int rc = bg_ring_run(&h->ring, wait ? wait : 1, on_cqe, h);
	if (rc < 0)
		return rc;

	now = bg_now_ns();
	if (h->timer_due || (h->timer_deadline && now >= h->timer_deadline)) {
		h->timer_due = false;
		h->timer_deadline = 0;
		int running;
		curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	harvest(h);

	/* Callbacks run from the drained queue, after curl returned.  One at
	 * a time off the head: a callback may abort a request still queued
	 * (bg_http_abort unqueues it), and nothing harvests meanwhile. */
	bg_http_req *r;
	while ((r = h->done_head)) {
		h->done_head = r->next;
		if (!h->done_head)
			h->done_tail = NULL;
		r->next = NULL;
		r->queued = false;
		r->done(r, r->result);
	}
	bg_fop *op = h->fop_head;
	h->fop_head = h->fop_tail = NULL;
	while (op) {
		bg_fop *next = op->next;
		op->next = NULL;
		op->active = false;
		op->done(op);
		op = next;
	}
	return 0;
}
