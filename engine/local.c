/* local.c - local files beside the copy engine (see local.h). */
#include "local.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <xxhash.h>

#define NAME_MAX_BYTES 255

int bg_walk_open(bg_walk *w, int dirfd, char *err, size_t cap)
{
	memset(w, 0, sizeof(*w));
	w->dirs[0] = fdopendir(dirfd);
	if (!w->dirs[0]) {
		bg_snprintf(err, cap, "cannot read the directory: %s", strerror(errno));
		close(dirfd);
		return -1;
	}
	w->depth = 1;
	return 0;
}

void bg_walk_close(bg_walk *w)
{
	while (w->depth)
		closedir(w->dirs[--w->depth]);
}

static const char *kind_name(mode_t m)
{
	if (S_ISLNK(m))
		return "a symlink (not followed)";
	if (S_ISFIFO(m))
		return "a fifo";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device";
	return "not a regular file";
}

/* Enters directory n (of dirs[d], its path w->rel[0, base + nl)): 0 (walk
 * on into it), or 1 with e a failure. */
static int walk_descend(bg_walk *w, bg_walk_entry *e, unsigned d, const char *n, size_t nl,
			size_t base)
{
	if (w->depth == BG_WALK_DEPTH) {
		e->kind = BG_WALK_FAIL;
		bg_snprintf(e->why, sizeof(e->why), "directory deeper than %d levels: not walked",
			    BG_WALK_DEPTH);
		return 1;
	}
	int fd = openat(dirfd(w->dirs[d]), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *sub = fd >= 0 ? fdopendir(fd) : NULL;
	if (!sub) {
		int oerr = errno;
		if (fd >= 0)
			close(fd);
		e->kind = BG_WALK_FAIL;
		bg_snprintf(e->why, sizeof(e->why), "cannot read the directory: %s", strerror(oerr));
		return 1;
	}
	w->dirs[w->depth] = sub;
	w->plen[w->depth] = base + nl + 1;
	w->rel[base + nl] = '/';
	w->rel[base + nl + 1] = '\0';
	w->depth++;
	return 0;
}

/* What a non-directory entry n (path w->rel, base + nl bytes) is: a file
 * to copy, one to skip, or a failure. */
static void walk_judge(const bg_walk *w, bg_walk_entry *e, const char *n, size_t nl,
		       size_t base)
{
	e->kind = BG_WALK_FAIL;
	if (nl > 15 && strncmp(n, ".barge.", 7) == 0 && strcmp(n + nl - 8, ".partial") == 0) {
		e->kind = BG_WALK_SKIP;
		bg_snprintf(e->why, sizeof(e->why), "a temporary file of an unfinished download");
	} else if (!S_ISREG(e->st.st_mode)) {
		e->kind = BG_WALK_SKIP;
		bg_snprintf(e->why, sizeof(e->why), "%s", kind_name(e->st.st_mode));
	} else if (base + nl > BG_KEY_MAX) {
		bg_snprintf(e->why, sizeof(e->why), "path longer than %d bytes cannot be a key",
			    BG_KEY_MAX);
	} else if (!bg_utf8_valid(w->rel, base + nl)) {
		bg_snprintf(e->why, sizeof(e->why), "name is not UTF-8: S3 keys must be");
	} else {
		e->kind = BG_WALK_FILE;
	}
}

/* The directory at the top of the stack is read to its end: closed.  1
 * with e a failure if reading it failed (errno rerr), else 0. */
static int walk_pop(bg_walk *w, bg_walk_entry *e, int rerr)
{
	unsigned d = w->depth - 1;
	closedir(w->dirs[d]);
	w->depth--;
	if (!rerr)
		return 0;
	w->rel[w->plen[d] ? w->plen[d] - 1 : 0] = '\0';
	e->kind = BG_WALK_FAIL;
	e->rel = w->rel;
	bg_snprintf(e->why, sizeof(e->why), "cannot read the directory: %s", strerror(rerr));
	return 1;
}

int bg_walk_next(bg_walk *w, bg_walk_entry *e)
{
	while (w->depth) {
		unsigned d = w->depth - 1;
		errno = 0;
		struct dirent *de = readdir(w->dirs[d]);
		if (!de) {
			if (walk_pop(w, e, errno))
				return 1;
			continue;
		}
		const char *n = de->d_name;
		if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0')))
			continue;
		size_t nl = strlen(n), base = w->plen[d];
		e->rel = w->rel;
		memset(&e->st, 0, sizeof(e->st));
		if (base + nl + 2 > sizeof(w->rel)) {
			/* named by its directory ("dir/"); the '/' stays for the
			 * entries after it */
			e->kind = BG_WALK_FAIL;
			bg_snprintf(e->why, sizeof(e->why),
				    "an entry here makes a path longer than %d bytes", BG_KEY_MAX);
			w->rel[base] = '\0';
			return 1;
		}
		memcpy(w->rel + base, n, nl + 1);
		if (fstatat(dirfd(w->dirs[d]), n, &e->st, AT_SYMLINK_NOFOLLOW) < 0) {
			e->kind = BG_WALK_FAIL;
			bg_snprintf(e->why, sizeof(e->why), "cannot stat: %s", strerror(errno));
			return 1;
		}
		if (!S_ISDIR(e->st.st_mode)) {
			walk_judge(w, e, n, nl, base);
			return 1;
		}
		if (walk_descend(w, e, d, n, nl, base))
			return 1;
	}
	return 0;
}

int bg_local_key_check(const char *rel, char *why, size_t cap)
{
	if (!rel[0])
		return bg_snprintf(why, cap, "the key names the directory itself"), -1;
	if (rel[0] == '/')
		return bg_snprintf(why, cap, "it starts with '/'"), -1;
	for (const char *p = rel;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0)
			return bg_snprintf(why, cap, "it has an empty path component ('//')"), -1;
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return bg_snprintf(why, cap, "it has a '%.*s' path component", (int)n, p), -1;
		if (n > NAME_MAX_BYTES)
			return bg_snprintf(why, cap, "a path component is longer than %d bytes",
					   NAME_MAX_BYTES), -1;
		if (n > 7 && strncmp(p, ".barge.", 7) == 0 && n >= 8 &&
		    strncmp(p + n - 8, ".partial", 8) == 0)
			return bg_snprintf(why, cap, "barge keeps names of the form "
					   "'.barge.*.partial' for its temporary files"), -1;
		if (!slash)
			return 0;
		p = slash + 1;
	}
}

int bg_local_open_parent(int rootfd, const char *rel, bool create, int *dirfd)
{
	char comp[NAME_MAX_BYTES + 1];
	int fd = -1;
	const char *p = rel;
	for (;;) {
		const char *slash = strchr(p, '/');
		if (!slash)
			break;
		size_t n = (size_t)(slash - p);
		if (n == 0 || n > NAME_MAX_BYTES) {
			if (fd >= 0)
				close(fd);
			return -EINVAL;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		int at = fd >= 0 ? fd : rootfd;
		if (create && mkdirat(at, comp, 0777) < 0 && errno != EEXIST) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			return -e;
		}
		int nfd = openat(at, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;
		if (fd >= 0)
			close(fd);
		if (nfd < 0)
			return -(e == ENOENT && create ? ENOTDIR : e);
		fd = nfd;
		p = slash + 1;
	}
	if (fd < 0) {
		fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
	}
	*dirfd = fd;
	return 0;
}

int bg_local_mkdirs(const char *path)
{
	char buf[4096];
	if (bg_strlcpy(buf, path, sizeof(buf)) < 0)
		return -ENAMETOOLONG;
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, 0777) < 0 && errno != EEXIST)
				return -errno;
			*p = c;
			if (!c)
				return 0;
		}
	}
}

const char *bg_local_base(const char *rel)
{
	const char *s = strrchr(rel, '/');
	return s ? s + 1 : rel;
}

void bg_local_temp_name(const char *dkey, char out[BG_TEMP_NAME_MAX])
{
	bg_snprintf(out, BG_TEMP_NAME_MAX, ".barge.%016llx.partial",
		    (unsigned long long)XXH64(dkey, strlen(dkey), 0x6261726765ull));
}

void bg_local_etag(const struct stat *st, char *out, size_t cap)
{
	/* No '-': that would read as a multipart ETag's part count.  The
	 * change time and inode too: `cp -p` and `rsync -t` keep the size and
	 * the modification time of a file they rewrite, never its ctime. */
	bg_snprintf(out, cap, "%llx.%09ld.%llx.%llx.%09ld.%llx",
		    (unsigned long long)st->st_mtim.tv_sec, (long)st->st_mtim.tv_nsec,
		    (unsigned long long)st->st_size, (unsigned long long)st->st_ctim.tv_sec,
		    (long)st->st_ctim.tv_nsec, (unsigned long long)st->st_ino);
}

int bg_local_meta_mtime(bg_meta *m, const struct timespec *ts)
{
	static const char name[] = "x-amz-meta-mtime";
	char v[48];
	int n = bg_snprintf(v, sizeof(v), "%lld.%09ld", (long long)ts->tv_sec, (long)ts->tv_nsec);
	if (n < 0)
		return -1;
	return bg_meta_capture(m, name, sizeof(name) - 1, v, (size_t)n);
}

/* ".digits" at *p as nanoseconds (digits past the ninth ignored); *p
 * moves past them.  No '.': 0. */
static long parse_fraction(const char **p)
{
	const char *s = *p;
	long ns = 0, scale = 100000000;
	if (*s != '.')
		return 0;
	for (s++; *s >= '0' && *s <= '9'; s++) {
		ns += (*s - '0') * scale;
		scale /= 10;
	}
	*p = s;
	return ns;
}

/* "seconds[.fraction]", as rclone and barge write it. */
static int parse_mtime_value(const char *s, struct timespec *ts)
{
	char *e;
	errno = 0;
	long long sec = strtoll(s, &e, 10);
	const char *end = e;
	if (end == s || errno || sec < 0)
		return -1;
	long ns = parse_fraction(&end);
	if (*end)
		return -1;
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = ns;
	return 0;
}

/* "2026-11-29T18:00:00.123Z" (listings) or an HTTP date is not needed:
 * listings are the only source of Last-Modified here. */
static int parse_iso(const char *s, struct timespec *ts)
{
	struct tm tm = { 0 };
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return -1;
	long ns = parse_fraction(&end);
	if (*end != 'Z' && *end != '\0')
		return -1;
	ts->tv_sec = timegm(&tm);
	ts->tv_nsec = ns;
	return 0;
}

int bg_local_mtime_for(const bg_meta *m, const char *last_modified, struct timespec *ts)
{
	for (size_t i = 0; i < m->len;) {
		const char *name = m->buf + i;
		const char *value = name + strlen(name) + 1;
		i = (size_t)(value - m->buf) + strlen(value) + 1;
		if (strcmp(name, "x-amz-meta-mtime") == 0 && parse_mtime_value(value, ts) == 0)
			return 0;
	}
	if (last_modified && last_modified[0] && parse_iso(last_modified, ts) == 0)
		return 0;
	return -1;
}
