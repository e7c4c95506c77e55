/* jfault.c - an LD_PRELOAD shim that makes barge's journal writes fail.
 *
 * What it is for: issue 17's schedule explorer (tests/explore/explore.py)
 * runs real barge copies and needs "the journal's disk filled up at the
 * 40th write" on demand, the way SQLite's own tests fail the Nth write
 * through a VFS.  barge links Debian's libsqlite3 dynamically, whose unix
 * VFS calls libc's write/pwrite64/fsync/fdatasync/ftruncate through the
 * PLT, so interposing those symbols here reaches every journal write
 * without touching barge.
 *
 *   BARGE_JFAULT=match=.journal,op=write,nth=40,err=ENOSPC[,sticky=1]
 *
 *   match   substring of the file's path (readlink /proc/self/fd/N, cached
 *           per fd, forgotten on close); default ".journal", which also
 *           matches the -wal and -shm files
 *   op      write (write, pwrite, pwrite64), sync (fsync, fdatasync),
 *           truncate (ftruncate, ftruncate64) or any; default write
 *   nth     fail the Nth call that matches op and path (1-based; default 1)
 *   sticky  1: fail every matching call after the Nth as well
 *   err     ENOSPC (default), EIO, EDQUOT, or short: a write of half the
 *           bytes asked for, really written (a sync or truncate fails EIO)
 *
 * Without BARGE_JFAULT it only forwards.  It prints nothing unless it
 * injects, and then one line to stderr, prefixed "jfault:", at the first
 * injection into each open file (the explorer times the fault by it, and
 * tells a failed WAL append, which SQLite reports, from a failed
 * checkpoint write, which SQLite ignores). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { OP_WRITE = 1, OP_SYNC = 2, OP_TRUNC = 4, OP_ANY = 7 };
enum { FD_CACHE = 4096 };

static int cfg_on, cfg_ops = OP_WRITE, cfg_err = ENOSPC, cfg_short, cfg_sticky;
static long cfg_nth = 1;
static char cfg_match[256] = ".journal";
static long calls;              /* matching calls so far (atomic) */
/* per fd: 0 unknown, -1 does not match, 1 matches, 2 matches and its
 * first injection was told */
static signed char fd_seen[FD_CACHE];

/* real_NAME: libc's NAME, looked up once (the pointer types come from
 * the prototypes in <unistd.h>, which this file's definitions match). */
#define REAL(name) \
	static __typeof__(name) *real_##name; \
	if (!real_##name) \
		real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

__attribute__((constructor)) static void jf_init(void)
{
	const char *env = getenv("BARGE_JFAULT");
	char buf[512];
	if (!env || !*env || strlen(env) >= sizeof(buf))
		return;
	memcpy(buf, env, strlen(env) + 1);
	for (char *kv = buf, *next; kv; kv = next) {
		next = strchr(kv, ',');
		if (next)
			*next++ = '\0';
		char *v = strchr(kv, '=');
		if (!v)
			continue;
		*v++ = '\0';
		if (!strcmp(kv, "match"))
			snprintf(cfg_match, sizeof(cfg_match), "%s", v);
		else if (!strcmp(kv, "op"))
			cfg_ops = !strcmp(v, "sync") ? OP_SYNC : !strcmp(v, "truncate") ? OP_TRUNC :
				  !strcmp(v, "any") ? OP_ANY : OP_WRITE;
		else if (!strcmp(kv, "nth"))
			cfg_nth = strtol(v, NULL, 10);
		else if (!strcmp(kv, "sticky"))
			cfg_sticky = strtol(v, NULL, 10) != 0;
		else if (!strcmp(kv, "err")) {
			cfg_short = !strcmp(v, "short");
			cfg_err = !strcmp(v, "EIO") ? EIO : !strcmp(v, "EDQUOT") ? EDQUOT : ENOSPC;
		}
	}
	cfg_on = cfg_nth > 0;
}

static int fd_matches(int fd)
{
	char link[64], path[4096];
	if (fd < 0)
		return 0;
	signed char seen = fd < FD_CACHE ? __atomic_load_n(&fd_seen[fd], __ATOMIC_RELAXED) : 0;
	if (seen)
		return seen > 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = '\0';
	int m = n > 0 && strstr(path, cfg_match) != NULL;
	if (fd < FD_CACHE)
		__atomic_store_n(&fd_seen[fd], (signed char)(m ? 1 : -1), __ATOMIC_RELAXED);
	return m;
}

/* 1 when this call (of kind op, on fd) is to fail. */
static int inject(int op, int fd, const char *fn)
{
	if (!cfg_on || !(cfg_ops & op) || !fd_matches(fd))
		return 0;
	long nth = __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
	if (nth != cfg_nth && !(cfg_sticky && nth > cfg_nth))
		return 0;
	if (fd >= FD_CACHE || __atomic_exchange_n(&fd_seen[fd], 2, __ATOMIC_RELAXED) != 2) {
		char link[64], path[512] = "?", line[768];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		ssize_t pn = readlink(link, path, sizeof(path) - 1);
		path[pn > 0 ? pn : 1] = '\0';
		int len = snprintf(line, sizeof(line), "jfault: %s on %s (matching call %ld): %s%s\n", fn,
				   path, nth, cfg_short && op == OP_WRITE ? "short write" : strerror(cfg_err),
				   cfg_sticky ? ", and every matching call after it" : "");
		REAL(write);
		if (len > 0 && real_write(2, line, (size_t)len) < 0)
			return 1;
	}
	return 1;
}

/* The write family: an injected failure is -1 with errno, or for "short"
 * a real write of half the bytes. */
#define WRAP_WRITE(name, proto, args) \
	ssize_t name proto \
	{ \
		REAL(name); \
		if (inject(OP_WRITE, fd, #name)) { \
			if (!cfg_short) { \
				errno = cfg_err; \
				return -1; \
			} \
			n /= 2; \
		} \
		return real_##name args; \
	}

WRAP_WRITE(write, (int fd, const void *b, size_t n), (fd, b, n))
WRAP_WRITE(pwrite, (int fd, const void *b, size_t n, off_t off), (fd, b, n, off))
WRAP_WRITE(pwrite64, (int fd, const void *b, size_t n, off64_t off), (fd, b, n, off))

/* Syncs and truncations fail with err (EIO for "short"). */
#define WRAP_INT(name, op, proto, args) \
	int name proto \
	{ \
		REAL(name); \
		if (inject(op, fd, #name)) { \
			errno = cfg_short ? EIO : cfg_err; \
			return -1; \
		} \
		return real_##name args; \
	}

WRAP_INT(fsync, OP_SYNC, (int fd), (fd))
WRAP_INT(fdatasync, OP_SYNC, (int fd), (fd))
WRAP_INT(ftruncate, OP_TRUNC, (int fd, off_t len), (fd, len))
WRAP_INT(ftruncate64, OP_TRUNC, (int fd, off64_t len), (fd, len))

/* A closed fd's number may come back for another file at once: forget it
 * before and after. */
int close(int fd)
{
	REAL(close);
	int forget = fd >= 0 && fd < FD_CACHE;
	if (forget)
		__atomic_store_n(&fd_seen[fd], 0, __ATOMIC_RELAXED);
	int r = real_close(fd);
	if (forget)
		__atomic_store_n(&fd_seen[fd], 0, __ATOMIC_RELAXED);
	return r;
}
