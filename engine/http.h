/* http.h - libcurl's multi interface driven by the io_uring ring.
 *
 * curl tells us which sockets it wants watched (socket callback) and when it
 * wants to be called back (timer callback).  Each watched socket gets a slot
 * in a table sized at start; its poll is tagged with (slot, generation) so a
 * completion that arrives after curl dropped or re-registered the socket is
 * recognised as stale and ignored.  A removed socket's pending poll is
 * cancelled.  Finished transfers are queued and their callbacks run after
 * curl has returned: never from inside curl.
 *
 * Lifetime rule: a bg_http_req belongs to its owner; after bg_http_add it
 * must not be reused or freed until its done callback ran (or
 * bg_http_abort returned). */
#ifndef BG_HTTP_H
#define BG_HTTP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "ring.h"
#include "util.h"

typedef struct bg_http_req bg_http_req;
typedef void (*bg_http_done_fn)(bg_http_req *req, CURLcode cc);

struct bg_http_req {
	CURL *easy;           /* created once by the owner, reused */
	bg_http_done_fn done; /* runs once per bg_http_add */
	void *owner;
	bg_http_req *next; /* done-queue link */
	CURLcode result;   /* set when the transfer finished */
	bool active;
	bool queued;       /* finished, its callback not yet run */
};

/* A file operation on the same ring (reads and writes of local files, an
 * fdatasync), or a completion posted without I/O.  Its done callback runs
 * from bg_http_turn like a finished transfer's: never from inside submit.
 * res is what the kernel answered (bytes, or -errno). */
typedef struct bg_fop bg_fop;
struct bg_fop {
	void (*done)(bg_fop *op);
	void *owner;
	bg_fop *next; /* done-queue link */
	int res;
	bool active;
};

typedef struct bg_http_sock {
	curl_socket_t fd;
	uint32_t gen;
	int what;     /* CURL_POLL_* curl asked for */
	bool used;
	bool armed;   /* a poll is in the ring */
	unsigned armed_mask;
} bg_http_sock;

typedef struct bg_http {
	CURLM *multi;
	bg_ring ring;
	bg_http_sock *socks;
	unsigned nsocks;
	uint64_t timer_deadline; /* bg_now_ns() value, 0 if none */
	bool timer_due;          /* curl asked for a zero timeout */
	bg_http_req *done_head, *done_tail;
	bg_fop *fop_head, *fop_tail; /* finished file operations */
	unsigned fops;               /* file operations in the kernel */
	unsigned active;
	uint64_t polls;          /* poll completions handled (stats) */
	uint64_t stale;          /* stale completions ignored */
} bg_http;

/* max_sockets bounds the socket table (connections + a margin);
 * max_conns is curl's total connection limit. */
int bg_http_init(bg_http *h, unsigned max_sockets, unsigned max_conns, bg_status *st);
void bg_http_free(bg_http *h);

/* Starts a transfer. 0 or -1 (curl refused the handle). */
int bg_http_add(bg_http *h, bg_http_req *r);
/* Stops a transfer without running its callback: also one that has
 * finished and waits in the done queue (its callback will not run). */
void bg_http_abort(bg_http *h, bg_http_req *r);

/* File operations (see bg_fop).  0 or -errno (the ring refused it). */
int bg_http_file_rw(bg_http *h, bg_fop *op, bool write, int fd, const struct iovec *iov,
		    unsigned n, uint64_t off);
int bg_http_fdatasync(bg_http *h, bg_fop *op, int fd);
/* Room for len bytes from offset 0 (fallocate, mode 0). */
int bg_http_fallocate(bg_http *h, bg_fop *op, int fd, uint64_t len);
/* Completes op with res at the next turn, with no I/O (for work done
 * synchronously that must answer the way asynchronous work does). */
void bg_http_fop_post(bg_http *h, bg_fop *op, int res);

/* One turn of the loop: waits at most max_wait_ns (bounded further by
 * curl's timer), lets curl act on ready sockets and timers, then runs the
 * done callbacks of finished transfers.  Returns 0 or -errno from the ring. */
int bg_http_turn(bg_http *h, uint64_t max_wait_ns);

#endif
