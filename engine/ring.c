/* ring.c - io_uring: probe, poll operations and the completion drain. */
#include "ring.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define BG_RING_BATCH 256

int bg_ring_init(bg_ring *r, unsigned depth, bg_status *st)
{
	memset(r, 0, sizeof(*r));
	int rc = io_uring_queue_init(depth, &r->ring, 0);
	if (rc < 0) {
		const char *hint = "";
		FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
		int disabled = 0;
		if (f) {
			if (fscanf(f, "%d", &disabled) != 1)
				disabled = 0;
			fclose(f);
		}
		if (disabled)
			hint = ": io_uring is disabled by sysctl kernel.io_uring_disabled; "
			       "set it to 0 (or run as a member of io_uring_group)";
		else if (rc == -EPERM)
			hint = ": io_uring is blocked (a seccomp profile of the container?); "
			       "allow io_uring_setup/io_uring_enter";
		else if (rc == -ENOSYS)
			hint = ": the kernel has no io_uring (Linux 5.10 or newer is needed)";
		else if (rc == -ENOMEM)
			hint = ": raise the locked memory limit (ulimit -l)";
		bg_fail(st, BG_E_CONFIG, "cannot set up io_uring (%s)%s", strerror(-rc), hint);
		return rc;
	}
	unsigned feat = r->ring.features;
	if (!(feat & IORING_FEAT_EXT_ARG)) {
		io_uring_queue_exit(&r->ring);
		bg_fail(st, BG_E_CONFIG, "io_uring lacks IORING_FEAT_EXT_ARG: Linux 5.11 or newer is needed");
		return -ENOSYS;
	}
	r->depth = depth;
	return 0;
}

void bg_ring_exit(bg_ring *r)
{
	if (r->depth)
		io_uring_queue_exit(&r->ring);
	r->depth = 0;
}

static struct io_uring_sqe *get_sqe(bg_ring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	if (!sqe) {
		/* The submission queue is full: hand it to the kernel, retry. */
		int rc = io_uring_submit(&r->ring);
		if (rc < 0)
			return NULL;
		sqe = io_uring_get_sqe(&r->ring);
	}
	return sqe;
}

int bg_ring_poll_add(bg_ring *r, int fd, unsigned mask, uint64_t user_data)
{
	struct io_uring_sqe *sqe = get_sqe(r);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, fd, mask);
	io_uring_sqe_set_data64(sqe, user_data);
	return 0;
}

int bg_ring_poll_remove(bg_ring *r, uint64_t user_data)
{
	struct io_uring_sqe *sqe = get_sqe(r);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_remove(sqe, user_data);
	io_uring_sqe_set_data64(sqe, BG_RING_UD_IGNORE);
	return 0;
}

int bg_ring_file_rw(bg_ring *r, bool write, int fd, const struct iovec *iov, unsigned n,
		    uint64_t off, uint64_t user_data)
{
	struct io_uring_sqe *sqe = get_sqe(r);
	if (!sqe)
		return -EBUSY;
	if (write)
		io_uring_prep_writev(sqe, fd, iov, n, off);
	else
		io_uring_prep_readv(sqe, fd, iov, n, off);
	io_uring_sqe_set_data64(sqe, user_data);
	return 0;
}

int bg_ring_fdatasync(bg_ring *r, int fd, uint64_t user_data)
{
	struct io_uring_sqe *sqe = get_sqe(r);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data64(sqe, user_data);
	return 0;
}

int bg_ring_fallocate(bg_ring *r, int fd, uint64_t len, uint64_t user_data)
{
	struct io_uring_sqe *sqe = get_sqe(r);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_fallocate(sqe, fd, 0, 0, len);
	io_uring_sqe_set_data64(sqe, user_data);
	return 0;
}

int bg_ring_run(bg_ring *r, uint64_t timeout_ns, bg_ring_handler handler, void *ctx)
{
	struct io_uring_cqe *cqe = NULL;
	int rc;
	if (timeout_ns) {
		struct __kernel_timespec ts = {
			.tv_sec = (long long)(timeout_ns / 1000000000ull),
			.tv_nsec = (long long)(timeout_ns % 1000000000ull),
		};
		rc = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
	} else {
		rc = io_uring_submit(&r->ring);
	}
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
		return rc;

	/* Drain into a local batch first: handlers may queue new operations. */
	struct {
		uint64_t ud;
		int res;
	} batch[BG_RING_BATCH];
	unsigned n = 0;
	unsigned head;
	io_uring_for_each_cqe(&r->ring, head, cqe)
	{
		if (n == BG_RING_BATCH)
			break;
		batch[n].ud = io_uring_cqe_get_data64(cqe);
		batch[n].res = cqe->res;
		n++;
	}
	io_uring_cq_advance(&r->ring, n);

	int handled = 0;
	for (unsigned i = 0; i < n; i++) {
		if (batch[i].ud & BG_RING_UD_IGNORE)
			continue;
		handler(ctx, batch[i].ud, batch[i].res);
		handled++;
	}
	return handled;
}
