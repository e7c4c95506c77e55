/* ring.h - the io_uring layer.  Returns -errno like liburing; above it the
 * bg_err enum takes over.  The ring only carries 64-bit user_data; the owner
 * of an operation decodes it.  Completions are drained into a local batch
 * first and handed out after, never from inside submit. */
#ifndef BG_RING_H
#define BG_RING_H

#include <liburing.h>
#include <stdbool.h>
#include <sys/uio.h>
#include <stdint.h>

#include "util.h"

/* user_data with this bit set marks operations whose completion nobody
 * wants (poll removals); the ring swallows them. */
#define BG_RING_UD_IGNORE (1ull << 63)

typedef struct bg_ring {
	struct io_uring ring;
	unsigned depth;
} bg_ring;

typedef void (*bg_ring_handler)(void *ctx, uint64_t user_data, int res);

/* Sets up a ring of `depth` entries; on failure explains what is missing
 * (kernel.io_uring_disabled, seccomp, old kernel). */
int bg_ring_init(bg_ring *r, unsigned depth, bg_status *st);
void bg_ring_exit(bg_ring *r);

/* Queue a one-shot poll for `mask` (POLLIN|POLLOUT) on fd. 0 or -errno. */
int bg_ring_poll_add(bg_ring *r, int fd, unsigned mask, uint64_t user_data);
/* Queue the cancellation of the poll tagged `user_data`. 0 or -errno. */
int bg_ring_poll_remove(bg_ring *r, uint64_t user_data);

/* Queue a vectored read or write of a regular file at `off`. 0 or -errno.
 * The iovec array and the buffers must stay valid until the completion. */
int bg_ring_file_rw(bg_ring *r, bool write, int fd, const struct iovec *iov, unsigned n,
		    uint64_t off, uint64_t user_data);
/* Queue an fdatasync of fd. 0 or -errno. */
int bg_ring_fdatasync(bg_ring *r, int fd, uint64_t user_data);
int bg_ring_fallocate(bg_ring *r, int fd, uint64_t len, uint64_t user_data);

/* Submits what is queued, waits up to timeout_ns (0: do not wait) for at
 * least one completion, then calls handler once per completion.
 * Returns the number handled or -errno. */
int bg_ring_run(bg_ring *r, uint64_t timeout_ns, bg_ring_handler handler, void *ctx);

#endif
