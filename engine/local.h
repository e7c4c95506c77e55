/* local.h - local files as a copy's source or destination: walking a tree
 * into keys, keys into paths that cannot leave the target directory,
 * temporary names, and modification times.  The bytes themselves move
 * through io_uring in copy.c; everything here is metadata work. */
#ifndef BG_LOCAL_H
#define BG_LOCAL_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "esc.h"
#include "s3.h"
#include "xml.h"

#define BG_WALK_DEPTH 64
#define BG_TEMP_NAME_MAX 40

/* A depth-first walk of a directory tree that never follows symlinks.
 * Holds one open directory per level. */
typedef struct bg_walk {
	DIR *dirs[BG_WALK_DEPTH];
	size_t plen[BG_WALK_DEPTH]; /* length of rel for entries of that level */
	unsigned depth;
	char rel[BG_KEY_MAX * 2 + 2];
} bg_walk;

typedef enum bg_walk_kind {
	BG_WALK_FILE,    /* a regular file: rel, st */
	BG_WALK_SKIP,    /* not copied, not an error (symlink, fifo, socket, device) */
	BG_WALK_FAIL,    /* cannot be copied: an unreadable directory, a name that
			  * cannot be a key; why says it */
} bg_walk_kind;

typedef struct bg_walk_entry {
	bg_walk_kind kind;
	const char *rel; /* path relative to the root, '/'-separated (valid until the next call) */
	struct stat st;
	char why[160];
} bg_walk_entry;

/* Opens the walk at dirfd (which the walk then owns). 0 or -1 with err. */
int bg_walk_open(bg_walk *w, int dirfd, char *err, size_t cap);
/* 1 with *e filled, 0 at the end. */
int bg_walk_next(bg_walk *w, bg_walk_entry *e);
void bg_walk_close(bg_walk *w);

/* Can `rel` (a key relative to the copy's prefix) be a file beneath a
 * directory?  0 yes; -1 with why: empty, absolute, an empty, "." or ".."
 * component, a component over 255 bytes, or a name barge keeps for its
 * temporary files.  Keys ending in '/' (directory markers) are the
 * caller's business. */
int bg_local_key_check(const char *rel, char *why, size_t cap);

/* Whether a name is valid UTF-8 (what S3 keys must be): bg_utf8_valid,
 * in esc.h. */

/* Opens (create: making them, mode 0777 less the umask) the directories
 * of rel's parent beneath rootfd, one component at a time and never
 * through a symlink, so nothing outside rootfd is touched.  *dirfd gets an
 * O_PATH descriptor of the parent; returns 0, or -errno (ENOENT when not
 * creating and a directory is missing, ENOTDIR or ELOOP when a component
 * is a file or a symlink). */
int bg_local_open_parent(int rootfd, const char *rel, bool create, int *dirfd);

/* mkdir -p: 0, or -errno. */
int bg_local_mkdirs(const char *path);

/* The name of rel's last component. */
const char *bg_local_base(const char *rel);

/* The temporary file name a download of dkey is written under, in the
 * same directory: ".barge.<16 hex>.partial", the hex a hash of dkey, so
 * a later run finds what an earlier one left. */
void bg_local_temp_name(const char *dkey, char out[BG_TEMP_NAME_MAX]);

/* The "ETag" of a local file: its modification time, size, change time
 * and inode, which a resumed or restarted copy compares to see whether it
 * changed (75 characters at most until the year 36812: BG_ETAG_MAX). */
void bg_local_etag(const struct stat *st, char *out, size_t cap);

/* x-amz-meta-mtime ("seconds.fraction", rclone's form) of a file. */
int bg_local_meta_mtime(bg_meta *m, const struct timespec *ts);

/* The modification time a downloaded file gets: x-amz-meta-mtime when
 * the object has it, else its Last-Modified (ISO 8601 from a listing).
 * 0, or -1 when neither can be read. */
int bg_local_mtime_for(const bg_meta *m, const char *last_modified, struct timespec *ts);

#endif
