/* journal.c - the SQLite journal (see journal.h; schema in docs/journal.md).
 *
 * Two connections.  The write connection belongs to a writer thread from
 * the end of bg_journal_open to bg_journal_close; the read-only one to the
 * loop thread.  Between them is a queue with a fixed number of record
 * slots and a byte ring (the arena) holding copies of the records'
 * strings, both allocated at open: queuing a record is a lock, a copy and
 * maybe a signal, never a malloc.  Slots and arena bytes are handed out
 * and given back in the same order (FIFO), so each needs only a head and a
 * tail counter.
 *
 * The writer takes everything queued (up to J_BATCH records), applies it
 * in one BEGIN IMMEDIATE ... COMMIT with statements prepared at open, then
 * frees those slots and publishes the last sequence number it committed.
 * Records queued while a commit runs wait for the next one: that is the
 * group commit.  A record's sequence number is its position in the queue,
 * counted from 1.
 *
 * Lifetime rule: a slot and its arena bytes may be reused only after the
 * writer has moved the tail past it, whether it applied the record or, once
 * it has failed, dropped it.  Synchronous calls (begin_run, end_run) may
 * therefore point their record at the caller's strings: they wait for the
 * tail to pass their record before returning.
 *
 * After the first SQLite error the writer rolls back, keeps the message,
 * and drops everything queued then and later; write calls return 0 at once
 * (even when the queue is full), so the copy never waits on a dead
 * journal. */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jint.h"

#define J_SLOTS 2048            /* queued records */
#define J_BATCH (J_SLOTS / 2)   /* records per transaction, at most */
#define J_ARENA (2u << 20)      /* bytes of queued strings */
#define J_BUSY_MS 10000         /* wait this long for another connection's lock */
#define J_STR_SMALL 64          /* last_modified, xxh3 hex */
#define J_ERR_MAX 512           /* error texts (truncated, with their NUL) */
#define J_NSTR 8                /* strings in one record, at most */

enum jtype {
	JR_OBJECT = 1, JR_PART, JR_FORGET, JR_ERROR, JR_PROGRESS, JR_BEGIN, JR_END,
	JR_AUDIT_BEGIN, JR_FINDING, JR_AUDIT_END, JR_DROP, JR_WHOLE,
};

struct jrec {
	enum jtype type;
	double at;           /* wall clock when queued */
	uint64_t arena_end;  /* arena head after this record's strings */
	union {
		struct {
			int64_t id;
			char *key, *dst_key, *src_etag, *last_modified, *upload_id, *dst_etag,
				*xxh3, *error;
			uint64_t size, part_size;
			uint32_t nparts;
			bool same_layout;
			bg_jstate state;
		} obj;
		struct {
			int64_t object_id;
			bg_jpart p;
			bool uploaded;
			unsigned attempts;
		} part;
		int64_t forget_id; /* JR_FORGET, JR_DROP */
		struct {
			int64_t object_id;
			uint32_t parts;
			unsigned char state[16];
		} whole;
		struct {
			int64_t object_id;
			char *key, *msg;
		} err;
		bg_jtotals tot; /* JR_PROGRESS */
		struct {        /* borrowed: the caller waits */
			const char *src, *dst, *opts;
			bg_jident src_id, dst_id;
		} begin;
		struct {
			int exit_code;
			bool has_totals; /* else the last progress totals stay */
			bg_jtotals t;
		} end;
		bg_jaudit_begin abegin; /* borrowed: the caller waits */
		struct {
			char *kind, *key, *detail, *src_etag, *dst_etag;
			int64_t src_size, dst_size;
			uint32_t part_number;
		} find;
		bg_jaudit_end aend;     /* borrowed: the caller waits */
	} u;
};

/* Writer statements, prepared once. */
#define J_WSTMTS                                                                      \
	X(BEGIN, "BEGIN IMMEDIATE")                                                    \
	X(COMMIT, "COMMIT")                                                            \
	X(OBJ_DEL_PARTS, "DELETE FROM parts WHERE object_id IN "                       \
			 "(SELECT id FROM objects WHERE key = ?1 AND id <> ?2)")       \
	X(OBJ_DEL, "DELETE FROM objects WHERE key = ?1 AND id <> ?2")                  \
	X(OBJ_PUT, "INSERT OR REPLACE INTO objects (id, key, dst_key, size, src_etag," \
		   " last_modified, part_size, nparts, same_layout, upload_id, state,"  \
		   " dst_etag, xxh3, error, run_id, updated_at) VALUES"                 \
		   " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)") \
	X(PART, "INSERT INTO parts (object_id, number, \"offset\", length, xxh3, etag," \
		" crc32c, state, attempts, run_id, updated_at) VALUES"                 \
		" (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"                      \
		" ON CONFLICT (object_id, number) DO UPDATE SET"                       \
		" \"offset\" = excluded.\"offset\", length = excluded.length,"         \
		" xxh3 = excluded.xxh3, etag = excluded.etag, crc32c = excluded.crc32c," \
		" state = excluded.state, attempts = parts.attempts + excluded.attempts," \
		" run_id = excluded.run_id, updated_at = excluded.updated_at")        \
	X(FORGET, "DELETE FROM parts WHERE object_id = ?1")                            \
	X(ERROR, "INSERT INTO errors (at, run_id, object_id, key, message)"            \
		 " VALUES (?1, ?2, ?3, ?4, ?5)")                                       \
	X(PROGRESS, "UPDATE runs SET objects_done = ?2, bytes_done = ?3,"              \
		    " objects_failed = ?4, objects_skipped = ?5, bytes_read = ?6,"      \
		    " bytes_written = ?7, retries = ?8, updated_at = ?9 WHERE id = ?1") \
	X(META_ADD, "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)")         \
	X(RUN_ADD, "INSERT INTO runs (started_at, src, dst, options, updated_at)"      \
		   " VALUES (?1, ?2, ?3, ?4, ?1)")                                      \
	X(RUN_END, "UPDATE runs SET ended_at = ?2, exit_code = ?3,"                    \
		   " objects_done = coalesce(?4, objects_done),"                        \
		   " bytes_done = coalesce(?5, bytes_done),"                            \
		   " objects_failed = coalesce(?6, objects_failed),"                    \
		   " objects_skipped = coalesce(?7, objects_skipped),"                  \
		   " bytes_read = coalesce(?8, bytes_read),"                            \
		   " bytes_written = coalesce(?9, bytes_written),"                      \
		   " retries = coalesce(?10, retries), updated_at = ?2 WHERE id = ?1")    \
	X(AUDIT_ADD, "INSERT INTO audits (started_at, src, dst, options, deep, sample, seed)" \
		     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")                             \
	X(FINDING, "INSERT INTO audit_findings (audit_id, kind, key, detail, src_size,"  \
		   " dst_size, src_etag, dst_etag, part_number, at)"                    \
		   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")                 \
	X(AUDIT_END, "UPDATE audits SET ended_at = ?2, objects_checked = ?3,"          \
		     " objects_reread = ?4, bytes_reread = ?5, findings = ?6,"          \
		     " not_comparable = ?7, exit_code = ?8, error = ?9 WHERE id = ?1")      \
	X(DROP, "DELETE FROM objects WHERE id = ?1")                                     \
	X(WHOLE, "UPDATE objects SET whole_parts = ?2, whole_md5 = ?3 WHERE id = ?1")

#define X(id, sql) W_##id,
enum wstmt { J_WSTMTS W_COUNT };
#undef X
#define X(id, sql) [W_##id] = sql,
static const char *const wsql[W_COUNT] = { J_WSTMTS };
#undef X

/* Reader statements (loop thread). */
#define J_RSTMTS                                                                  \
	X(LOOKUP, "SELECT id, state, size, src_etag, part_size, nparts, same_layout," \
		  " upload_id, dst_etag FROM objects WHERE key = ?1")                  \
	X(AUDIT_LOOKUP, "SELECT id, state, size, src_etag, part_size, nparts,"         \
			" same_layout, upload_id, dst_etag, xxh3 FROM objects WHERE key = ?1") \
	X(PARTS, "SELECT number, \"offset\", length, xxh3, etag, crc32c FROM parts"   \
		 " WHERE object_id = ?1 AND state = 'uploaded' ORDER BY number")       \
	X(META, "SELECT value FROM meta WHERE key = ?1")                               \
	X(LAST_OPTS, "SELECT options FROM runs ORDER BY id DESC LIMIT 1")                \
	X(WHOLE_OF, "SELECT whole_parts, whole_md5 FROM objects WHERE id = ?1")         \
	X(NEXT_OPEN, "SELECT id, key, dst_key FROM objects WHERE state IN (1, 2)"         \
		     " AND id > ?1 ORDER BY id LIMIT 1")

#define X(id, sql) R_##id,
enum rstmt { J_RSTMTS R_COUNT };
#undef X
#define X(id, sql) [R_##id] = sql,
static const char *const rsql[R_COUNT] = { J_RSTMTS };
#undef X

/*
 * Schema migrations: step N takes a journal from user_version N to N + 1.
 * A new version adds a step here and bumps BG_J_VERSION; nothing else
 * changes.
 */
static const char *const migrations[BG_J_VERSION] = {
	/* 0 -> 1 */
	"CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value);"
	"CREATE TABLE runs ("
	" id INTEGER PRIMARY KEY, started_at REAL NOT NULL, ended_at REAL,"
	" src TEXT NOT NULL, dst TEXT NOT NULL, options TEXT, exit_code INTEGER,"
	" objects_done INTEGER NOT NULL DEFAULT 0, bytes_done INTEGER NOT NULL DEFAULT 0,"
	" objects_failed INTEGER NOT NULL DEFAULT 0, objects_skipped INTEGER NOT NULL DEFAULT 0,"
	" bytes_read INTEGER NOT NULL DEFAULT 0, bytes_written INTEGER NOT NULL DEFAULT 0,"
	" retries INTEGER NOT NULL DEFAULT 0, updated_at REAL);"
	"CREATE TABLE object_states (state INTEGER PRIMARY KEY, name TEXT NOT NULL);"
	"INSERT INTO object_states VALUES (1, 'creating'), (2, 'uploading'), (3, 'done'),"
	" (4, 'failed');"
	"CREATE TABLE objects ("
	" id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, dst_key TEXT,"
	" size INTEGER NOT NULL, src_etag TEXT, last_modified TEXT,"
	" part_size INTEGER NOT NULL DEFAULT 0, nparts INTEGER NOT NULL DEFAULT 0,"
	" same_layout INTEGER NOT NULL DEFAULT 0, upload_id TEXT,"
	" state INTEGER NOT NULL CHECK (state BETWEEN 1 AND 4),"
	" dst_etag TEXT, xxh3 TEXT, error TEXT, run_id INTEGER, updated_at REAL NOT NULL);"
	"CREATE INDEX objects_state ON objects (state);"
	"CREATE TABLE parts ("
	" object_id INTEGER NOT NULL, number INTEGER NOT NULL,"
	" \"offset\" INTEGER NOT NULL, length INTEGER NOT NULL, xxh3 TEXT, etag TEXT,"
	" crc32c INTEGER, state TEXT NOT NULL CHECK (state IN ('uploaded', 'pending')),"
	" attempts INTEGER NOT NULL DEFAULT 0, run_id INTEGER, updated_at REAL NOT NULL,"
	" PRIMARY KEY (object_id, number)) WITHOUT ROWID;"
	"CREATE TABLE errors ("
	" id INTEGER PRIMARY KEY, at REAL NOT NULL, run_id INTEGER, object_id INTEGER,"
	" key TEXT, message TEXT NOT NULL);"
	"CREATE INDEX errors_object ON errors (object_id);"
	"CREATE VIEW objects_v AS SELECT o.id, o.key, o.dst_key, o.size, s.name AS state,"
	" o.src_etag, o.dst_etag, o.part_size, o.nparts, o.same_layout, o.upload_id,"
	" o.xxh3, o.error, o.run_id, datetime(o.updated_at, 'unixepoch') AS updated"
	" FROM objects o JOIN object_states s ON s.state = o.state;"
	"CREATE VIEW progress AS SELECT"
	" count(*) FILTER (WHERE state = 3) AS objects_done,"
	" coalesce(sum(size) FILTER (WHERE state = 3), 0) AS bytes_done,"
	" count(*) FILTER (WHERE state IN (1, 2)) AS objects_in_progress,"
	" coalesce(sum(size) FILTER (WHERE state IN (1, 2)), 0) AS bytes_in_progress,"
	" count(*) FILTER (WHERE state = 4) AS objects_failed,"
	" coalesce(sum(size) FILTER (WHERE state = 4), 0) AS bytes_failed,"
	" count(*) AS objects_total, coalesce(sum(size), 0) AS bytes_total"
	" FROM objects;"
	"CREATE VIEW failures AS SELECT key, error, datetime(updated_at, 'unixepoch') AS failed,"
	" updated_at AS at, run_id FROM objects WHERE state = 4 ORDER BY updated_at;"
	"CREATE VIEW throughput AS SELECT datetime(minute * 60, 'unixepoch') AS minute,"
	" sum(bytes) AS bytes, round(sum(bytes) / 60.0 / 1048576, 2) AS mib_per_s,"
	" sum(parts) AS parts, sum(objects) AS objects FROM ("
	"  SELECT CAST(updated_at / 60 AS INTEGER) AS minute, length AS bytes, 1 AS parts,"
	"  0 AS objects FROM parts WHERE state = 'uploaded'"
	"  UNION ALL SELECT CAST(updated_at / 60 AS INTEGER), CASE WHEN part_size = 0"
	"  THEN size ELSE 0 END, 0, 1 FROM objects WHERE state = 3)"
	" GROUP BY minute ORDER BY minute;"
	"CREATE VIEW runs_summary AS SELECT id, datetime(started_at, 'unixepoch') AS started,"
	" datetime(ended_at, 'unixepoch') AS ended,"
	" round(coalesce(ended_at, updated_at) - started_at, 1) AS seconds,"
	" CASE WHEN ended_at IS NULL THEN 'running or killed' WHEN exit_code = 0 THEN 'ok'"
	" WHEN exit_code = 1 THEN 'some objects failed' ELSE 'error' END AS outcome,"
	" exit_code, objects_done, bytes_done, objects_failed, objects_skipped,"
	" bytes_read, bytes_written, retries,"
	" round(bytes_written / 1048576.0 / max(coalesce(ended_at, updated_at) - started_at,"
	" 0.001), 1) AS mib_per_s,"
	" (SELECT count(*) FROM errors e WHERE e.run_id = runs.id) AS errors,"
	" src, dst FROM runs ORDER BY id;",
	/* 1 -> 2: the audit history (barge audit) */
	"CREATE TABLE audits ("
	" id INTEGER PRIMARY KEY, started_at REAL NOT NULL, ended_at REAL,"
	" src TEXT NOT NULL, dst TEXT NOT NULL, options TEXT,"
	" deep INTEGER NOT NULL DEFAULT 0, sample REAL, seed INTEGER,"
	" objects_checked INTEGER NOT NULL DEFAULT 0, objects_reread INTEGER NOT NULL DEFAULT 0,"
	" bytes_reread INTEGER NOT NULL DEFAULT 0, findings INTEGER NOT NULL DEFAULT 0,"
	" not_comparable INTEGER NOT NULL DEFAULT 0, exit_code INTEGER, error TEXT);"
	"CREATE TABLE audit_findings ("
	" id INTEGER PRIMARY KEY, audit_id INTEGER NOT NULL, kind TEXT NOT NULL,"
	" key TEXT NOT NULL, detail TEXT, src_size INTEGER, dst_size INTEGER,"
	" src_etag TEXT, dst_etag TEXT, part_number INTEGER, at REAL NOT NULL);"
	"CREATE INDEX audit_findings_audit ON audit_findings (audit_id);"
	"CREATE INDEX audit_findings_key ON audit_findings (key);"
	"CREATE VIEW audits_summary AS SELECT id, datetime(started_at, 'unixepoch') AS started,"
	" round(coalesce(ended_at, started_at) - started_at, 1) AS seconds,"
	" CASE WHEN ended_at IS NULL THEN 'running or killed' WHEN exit_code = 0 THEN 'clean'"
	" WHEN exit_code = 1 THEN 'findings' ELSE 'error' END AS outcome,"
	" exit_code, deep, sample, seed, objects_checked, objects_reread, bytes_reread,"
	" findings, not_comparable, error, src, dst FROM audits ORDER BY id;",
	/* 2 -> 3: the outcomes of exit codes 75 (temporary), 130 and 143
	 * (interrupted), which runs and audits record since */
	"DROP VIEW runs_summary;"
	"CREATE VIEW runs_summary AS SELECT id, datetime(started_at, 'unixepoch') AS started,"
	" datetime(ended_at, 'unixepoch') AS ended,"
	" round(coalesce(ended_at, updated_at) - started_at, 1) AS seconds,"
	" CASE WHEN ended_at IS NULL THEN 'running or killed' WHEN exit_code = 0 THEN 'ok'"
	" WHEN exit_code = 1 THEN 'some objects failed' WHEN exit_code = 75 THEN 'temporary'"
	" WHEN exit_code = 130 THEN 'interrupted (SIGINT)'"
	" WHEN exit_code = 143 THEN 'interrupted (SIGTERM)' ELSE 'error' END AS outcome,"
	" exit_code, objects_done, bytes_done, objects_failed, objects_skipped,"
	" bytes_read, bytes_written, retries,"
	" round(bytes_written / 1048576.0 / max(coalesce(ended_at, updated_at) - started_at,"
	" 0.001), 1) AS mib_per_s,"
	" (SELECT count(*) FROM errors e WHERE e.run_id = runs.id) AS errors,"
	" src, dst FROM runs ORDER BY id;"
	"DROP VIEW audits_summary;"
	"CREATE VIEW audits_summary AS SELECT id, datetime(started_at, 'unixepoch') AS started,"
	" round(coalesce(ended_at, started_at) - started_at, 1) AS seconds,"
	" CASE WHEN ended_at IS NULL THEN 'running or killed' WHEN exit_code = 0 THEN 'clean'"
	" WHEN exit_code = 1 THEN 'findings' WHEN exit_code = 75 THEN 'temporary'"
	" WHEN exit_code = 130 THEN 'interrupted (SIGINT)'"
	" WHEN exit_code = 143 THEN 'interrupted (SIGTERM)' ELSE 'error' END AS outcome,"
	" exit_code, deep, sample, seed, objects_checked, objects_reread, bytes_reread,"
	" findings, not_comparable, error, src, dst FROM audits ORDER BY id;",
	/* 3 -> 4: how far the MD5 of a single-part source copied in parts got
	 * (parts in it, and its state then), so a resume can go on with it */
	"ALTER TABLE objects ADD COLUMN whole_parts"
	" INTEGER NOT NULL DEFAULT 0;"
	" ALTER TABLE objects ADD COLUMN whole_md5 TEXT;",
};

struct bg_journal {
	char path[PATH_MAX];
	bool readonly, snapshot;
	int lockfd; /* holds flock(LOCK_EX) while writing; -1 */
	dev_t dev;  /* the file opened, to notice it being removed or replaced */
	ino_t ino;
	double checked_at; /* writer: last time it looked */
	sqlite3 *wdb, *rdb;
	sqlite3_stmt *w[W_COUNT];
	sqlite3_stmt *r[R_COUNT];
	int64_t last_id;  /* bg_journal_new_id (loop thread) */
	int64_t run_id;   /* the current run (writer thread) */
	int64_t audit_id; /* the current audit (writer thread) */

	pthread_t thread;
	bool started, sync_init;
	pthread_mutex_t mu;
	pthread_cond_t work; /* the writer waits for records or stop */
	pthread_cond_t room; /* writers of records and flushers wait */
	/* under mu */
	uint64_t head, tail;   /* records queued, records taken off */
	uint64_t ahead, atail; /* arena bytes handed out, given back */
	bool idle, stop, failed;
	bg_status werr;
	_Atomic uint64_t committed;

	struct jrec *ring; /* J_SLOTS */
	char *arena;       /* J_ARENA */
};

static double now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

sqlite3 *bg_journal_rdb(bg_journal *j)
{
	return j->rdb;
}

const char *bg_journal_path(bg_journal *j)
{
	return j->path;
}

bool bg_journal_is_snapshot(bg_journal *j)
{
	return j->snapshot;
}

/* ---- open: the checks done before SQLite sees the file ---------------- */

/* The directory part of path ("." when there is none). */
static void dir_of(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		bg_strlcpy(dir, ".", cap);
	else if (slash == path)
		bg_strlcpy(dir, "/", cap);
	else
		bg_snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

static bg_err dir_writable(const char *path, bg_status *st)
{
	char dir[PATH_MAX];

	dir_of(path, dir, sizeof(dir));
	if (access(dir, W_OK) != 0)
		return bg_fail(st, BG_E_CONFIG,
			       "directory %s is not writable: %s (the journal %s needs it for its "
			       "-wal and -shm files): give a --journal path in a writable directory",
			       dir, strerror(errno), path);
	return BG_OK;
}

/* Stats, creates (BG_J_CREATE) or checks the header of the file, and
 * leaves it open in *fd.  *created: this call made the (empty) file. */
/* Does PATH-wal exist with at least its header and one frame? */
static bool wal_holds_pages(const char *path)
{
	char wal[PATH_MAX + 8];
	struct stat sb;
	return bg_snprintf(wal, sizeof(wal), "%s-wal", path) >= 0 && stat(wal, &sb) == 0 &&
	       sb.st_size > 32 + 24;
}

static bg_err file_check(const char *path, unsigned flags, int *fd, bool *created, bg_status *st)
{
	bool writing = !(flags & BG_J_READONLY);
	unsigned char hdr[100];
	struct stat sb;
	unsigned page;
	ssize_t n;
	bg_err e;

	*fd = -1;
	*created = false;
	if (stat(path, &sb) != 0) {
		if (errno != ENOENT)
			return bg_fail(st, BG_E_IO, "journal %s: %s", path, strerror(errno));
		if (!(flags & BG_J_CREATE) || !writing)
			return bg_fail(st, BG_E_CONFIG,
				       "journal %s does not exist: check the path (barge copy "
				       "--journal %s creates one)", path, path);
		e = dir_writable(path, st);
		if (e)
			return e;
		*fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (*fd < 0)
			return bg_fail(st, BG_E_IO, "cannot create journal %s: %s", path,
				       strerror(errno));
		*created = true;
		return BG_OK;
	}
	if (!S_ISREG(sb.st_mode))
		return bg_fail(st, BG_E_CONFIG, "journal %s is not a regular file: give the path "
			       "of a barge journal", path);
	if (sb.st_size == 0)
		return bg_fail(st, BG_E_CONFIG,
			       "journal %s is an empty file, not a barge journal (a first run "
			       "killed at once may leave one): remove it or give another "
			       "--journal path", path);
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return bg_fail(st, BG_E_IO, "cannot open journal %s: %s", path, strerror(errno));
	n = pread(*fd, hdr, sizeof(hdr), 0);
	if (n < 0)
		return bg_fail(st, BG_E_IO, "cannot read journal %s: %s", path, strerror(errno));
	if ((size_t)n < 16 || memcmp(hdr, "SQLite format 3", 16) != 0)
		return bg_fail(st, BG_E_CONFIG,
			       "%s is not a barge journal (not an SQLite file): give the path of "
			       "a journal barge wrote", path);
	page = (unsigned)hdr[16] << 8 | hdr[17];
	if (page == 1)
		page = 65536;
	/* A checkpoint cut short (a full disk) leaves part of a page at the
	 * end; the pages are still in the -wal, which SQLite replays, and the
	 * quick_check after it judges the file. */
	bool wal = wal_holds_pages(path);
	if ((size_t)n < sizeof(hdr) || page < 512 || (page & (page - 1)) ||
	    sb.st_size < (off_t)page || (sb.st_size % page && !wal))
		return bg_fail(st, BG_E_CONFIG,
			       "journal %s is truncated or damaged (%lld bytes, not whole %u-byte "
			       "pages): restore it from a copy or give another --journal path",
			       path, (long long)sb.st_size, page);
	if (writing) {
		if (access(path, W_OK) != 0)
			return bg_fail(st, BG_E_CONFIG, "journal %s is not writable: %s: fix its "
				       "permissions or give another --journal path", path,
				       strerror(errno));
		e = dir_writable(path, st);
		if (e)
			return e;
	}
	return BG_OK;
}

/* "file:" URI of path with ?immutable=1 (characters that mean something in
 * a URI escaped). */
static int immutable_uri(const char *path, char *out, size_t cap)
{
	size_t o = 0;

	if (bg_strlcpy(out, "file:", cap) < 0)
		return -1;
	o = 5;
	for (const char *p = path; *p; p++) {
		unsigned char c = (unsigned char)*p;
		bool esc = c == '%' || c == '?' || c == '#' || c <= 0x20 || c >= 0x7f;

		if (o + 4 >= cap)
			return -1;
		if (esc)
			o += (size_t)snprintf(out + o, cap - o, "%%%02X", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return bg_strlcpy(out + o, "?immutable=1", cap - o) < 0 ? -1 : 0;
}

/* Runs one PRAGMA or SELECT that yields an integer. */
static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);

	if (rc == SQLITE_OK) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			*out = sqlite3_column_int64(s, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(s);
	return rc;
}

/* Opens the read-only connection.  A WAL journal in a directory where the
 * -shm file cannot be created may refuse a normal read-only open; then the
 * file is read as an immutable snapshot (only when the caller allows it). */
static bg_err open_ro(bg_journal *j, bool allow_snapshot, bg_status *st)
{
	int64_t v;
	int rc;

	rc = sqlite3_open_v2(j->path, &j->rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(j->rdb, J_BUSY_MS);
		rc = query_int(j->rdb, "SELECT count(*) FROM sqlite_schema", &v);
	}
	if (rc != SQLITE_OK && allow_snapshot &&
	    ((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_READONLY)) {
		char uri[PATH_MAX * 3 + 32];

		if (immutable_uri(j->path, uri, sizeof(uri)) == 0) {
			sqlite3_close(j->rdb);
			j->rdb = NULL;
			rc = sqlite3_open_v2(uri, &j->rdb, SQLITE_OPEN_READONLY |
					     SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI, NULL);
			if (rc == SQLITE_OK)
				rc = query_int(j->rdb, "SELECT count(*) FROM sqlite_schema", &v);
			j->snapshot = rc == SQLITE_OK;
		}
	}
	if (rc != SQLITE_OK) {
		const char *why = j->rdb ? sqlite3_errmsg(j->rdb) : sqlite3_errstr(rc);

		if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
			return bg_fail(st, BG_E_CONFIG, "journal %s is corrupt (%s): restore it "
				       "from a copy or give another --journal path", j->path, why);
		return bg_fail(st, BG_E_IO, "cannot read journal %s: %s", j->path, why);
	}
	return BG_OK;
}

/* The checks SQLite can answer, on the read-only connection: a barge
 * journal, of a schema we know, passing quick_check.  *fresh: an SQLite
 * file without any table or application_id (barge may initialise it). */
static bg_err db_check(bg_journal *j, bool *fresh, bg_status *st)
{
	int64_t app = 0, ver = 0, tables = 0;
	sqlite3_stmt *s = NULL;
	const char *res;
	int rc;

	rc = query_int(j->rdb, "PRAGMA application_id", &app);
	if (rc == SQLITE_OK)
		rc = query_int(j->rdb, "PRAGMA user_version", &ver);
	if (rc == SQLITE_OK)
		rc = query_int(j->rdb, "SELECT count(*) FROM sqlite_schema", &tables);
	if (rc != SQLITE_OK)
		return bg_fail(st, BG_E_CONFIG, "journal %s is corrupt (%s): restore it from a "
			       "copy or give another --journal path", j->path,
			       sqlite3_errmsg(j->rdb));
	*fresh = app == 0 && ver == 0 && tables == 0;
	if (*fresh)
		return BG_OK;
	if (app != BG_J_APP_ID)
		return bg_fail(st, BG_E_CONFIG, "%s is an SQLite database but not a barge journal "
			       "(application_id 0x%08" PRIx32 "): give another --journal path",
			       j->path, (uint32_t)app);
	if (ver > BG_J_VERSION)
		return bg_fail(st, BG_E_CONFIG, "journal %s has schema version %" PRId64 ", newer "
			       "than this barge knows (%d): use a newer barge", j->path, ver,
			       BG_J_VERSION);
	rc = sqlite3_prepare_v2(j->rdb, "PRAGMA quick_check(1)", -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	res = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
	if (!res || strcmp(res, "ok") != 0) {
		bg_fail(st, BG_E_CONFIG, "journal %s is corrupt (%.200s): restore it from a "
			"copy or give another --journal path", j->path,
			res ? res : sqlite3_errmsg(j->rdb));
		sqlite3_finalize(s);
		return BG_E_CONFIG;
	}
	sqlite3_finalize(s);
	return BG_OK;
}

static bg_err sql_fail(bg_journal *j, sqlite3 *db, const char *what, bg_status *st)
{
	return bg_fail(st, BG_E_IO, "journal %s: %s: %s", j->path, what, sqlite3_errmsg(db));
}

/* Brings the schema to BG_J_VERSION in one transaction. */
static bg_err migrate(bg_journal *j, bg_status *st)
{
	char sql[160];
	int64_t ver = 0, app = 0;
	double now = now_real();
	bg_err e = BG_OK;

	if (sqlite3_exec(j->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return sql_fail(j, j->wdb, "cannot lock it to check its schema", st);
	if (query_int(j->wdb, "PRAGMA user_version", &ver) != SQLITE_OK ||
	    query_int(j->wdb, "PRAGMA application_id", &app) != SQLITE_OK) {
		e = sql_fail(j, j->wdb, "reading its schema version", st);
		goto out;
	}
	if (ver > BG_J_VERSION || (app != BG_J_APP_ID && (app != 0 || ver != 0))) {
		/* changed since db_check: someone else is using the file */
		e = bg_fail(st, BG_E_CONFIG, "journal %s changed while barge opened it: make "
			    "sure no other program uses it", j->path);
		goto out;
	}
	for (int64_t v = ver; v < BG_J_VERSION; v++) {
		if (sqlite3_exec(j->wdb, migrations[v], NULL, NULL, NULL) != SQLITE_OK) {
			bg_snprintf(sql, sizeof(sql), "creating schema version %d", (int)v + 1);
			e = sql_fail(j, j->wdb, sql, st);
			goto out;
		}
		bg_snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO meta VALUES "
			    "('schema_v%d_at', %.3f)", (int)v + 1, now);
		if (sqlite3_exec(j->wdb, sql, NULL, NULL, NULL) != SQLITE_OK) {
			e = sql_fail(j, j->wdb, "recording the schema version", st);
			goto out;
		}
	}
	if (ver < BG_J_VERSION) {
		bg_snprintf(sql, sizeof(sql),
			    "INSERT OR IGNORE INTO meta VALUES ('created_at', %.3f);"
			    "PRAGMA application_id = %d; PRAGMA user_version = %d;",
			    now, BG_J_APP_ID, BG_J_VERSION);
		if (sqlite3_exec(j->wdb, sql, NULL, NULL, NULL) != SQLITE_OK) {
			e = sql_fail(j, j->wdb, "setting its schema version", st);
			goto out;
		}
	}
	if (sqlite3_exec(j->wdb, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		e = sql_fail(j, j->wdb, "committing its schema", st);
out:
	if (e)
		sqlite3_exec(j->wdb, "ROLLBACK", NULL, NULL, NULL);
	return e;
}

static bg_err open_rw(bg_journal *j, bg_jsync sync, bg_status *st)
{
	static const char *const syncs[] = { "OFF", "NORMAL", "FULL" };
	char sql[96];
	int64_t mode_ok = 0;
	sqlite3_stmt *s = NULL;
	int rc;

	rc = sqlite3_open_v2(j->path, &j->wdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		return bg_fail(st, BG_E_IO, "cannot open journal %s for writing: %s", j->path,
			       j->wdb ? sqlite3_errmsg(j->wdb) : sqlite3_errstr(rc));
	sqlite3_busy_timeout(j->wdb, J_BUSY_MS);
	sqlite3_extended_result_codes(j->wdb, 1);
	rc = sqlite3_prepare_v2(j->wdb, "PRAGMA journal_mode = WAL", -1, &s, NULL);
	if (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		mode_ok = sqlite3_stricmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
	sqlite3_finalize(s);
	if (!mode_ok)
		return sql_fail(j, j->wdb, "cannot switch it to WAL mode", st);
	if ((unsigned)sync > BG_JSYNC_FULL)
		sync = BG_JSYNC_NORMAL;
	bg_snprintf(sql, sizeof(sql), "PRAGMA synchronous = %s", syncs[sync]);
	if (sqlite3_exec(j->wdb, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sql_fail(j, j->wdb, "setting synchronous", st);
	return migrate(j, st);
}

static bg_err prepare_all(bg_journal *j, bg_status *st)
{
	for (int i = 0; j->wdb && i < W_COUNT; i++)
		if (sqlite3_prepare_v3(j->wdb, wsql[i], -1, SQLITE_PREPARE_PERSISTENT, &j->w[i],
				       NULL) != SQLITE_OK)
			return sql_fail(j, j->wdb, "preparing a statement", st);
	for (int i = 0; i < R_COUNT; i++)
		if ((i != R_WHOLE_OF || j->wdb) && /* version 4 columns: not in an older */
		    sqlite3_prepare_v3(j->rdb, rsql[i], -1, SQLITE_PREPARE_PERSISTENT, &j->r[i],
				       NULL) != SQLITE_OK)
			return sql_fail(j, j->rdb, "preparing a statement", st);
	return BG_OK;
}

static void *writer_main(void *arg);

static void destroy(bg_journal *j)
{
	for (int i = 0; i < R_COUNT; i++)
		sqlite3_finalize(j->r[i]);
	sqlite3_close(j->rdb);
	for (int i = 0; i < W_COUNT; i++)
		sqlite3_finalize(j->w[i]);
	sqlite3_close(j->wdb); /* the last connection: checkpoints the WAL */
	/* Only now: closing any descriptor of the file would drop SQLite's
	 * POSIX locks on it. */
	if (j->lockfd >= 0)
		close(j->lockfd);
	if (j->sync_init) {
		pthread_mutex_destroy(&j->mu);
		pthread_cond_destroy(&j->work);
		pthread_cond_destroy(&j->room);
	}
	free(j->ring);
	free(j->arena);
	free(j);
}

static bool side_exists(const char *path, const char *suffix)
{
	char side[PATH_MAX + 8];
	struct stat sb;
	return bg_snprintf(side, sizeof(side), "%s%s", path, suffix) >= 0 && lstat(side, &sb) == 0;
}

/* Removes PATH-wal / PATH-shm left by a refused open.  The -wal only when
 * empty (a non-empty one holds somebody's commits); the -shm is an index
 * SQLite rebuilds. */
static void remove_empty_side(const char *path, const char *suffix)
{
	char side[PATH_MAX + 8];
	struct stat sb;
	if (bg_snprintf(side, sizeof(side), "%s%s", path, suffix) >= 0 && lstat(side, &sb) == 0 &&
	    S_ISREG(sb.st_mode) && (sb.st_size == 0 || strcmp(suffix, "-shm") == 0))
		unlink(side);
}

bg_err bg_journal_open(bg_journal **out, const char *path, unsigned flags, bg_jsync sync,
		       bg_status *st)
{
	bool readonly = flags & BG_J_READONLY, created = false, fresh = false;
	struct stat sb;
	bg_journal *j;
	bg_err e;

	*out = NULL;
	if (!path || !path[0])
		return bg_fail(st, BG_E_USAGE, "no journal path given");
	j = calloc(1, sizeof(*j));
	if (!j)
		return bg_fail(st, BG_E_NOMEM, "out of memory opening journal %s", path);
	j->lockfd = -1;
	j->readonly = readonly;
	if (bg_strlcpy(j->path, path, sizeof(j->path)) < 0) {
		free(j);
		return bg_fail(st, BG_E_CONFIG, "journal path too long: %.100s...", path);
	}
	/* A refusal must leave the directory as it was: side files the
	 * checks make (SQLite opens a WAL-mode file with -wal and -shm) go. */
	bool had_wal = side_exists(path, "-wal"), had_shm = side_exists(path, "-shm");
	e = file_check(path, flags, &j->lockfd, &created, st);
	if (e)
		goto fail;
	if (!readonly && flock(j->lockfd, LOCK_EX | LOCK_NB) != 0) {
		e = errno == EWOULDBLOCK
			? bg_fail(st, BG_E_BUSY, "journal %s is in use by another barge: wait "
				  "for it to finish or give another --journal path", path)
			: bg_fail(st, BG_E_IO, "cannot lock journal %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!created) {
		/* Read-only first: nothing is written before the file checks out. */
		e = open_ro(j, readonly, st);
		if (!e)
			e = db_check(j, &fresh, st);
		if (!e && fresh && readonly)
			e = bg_fail(st, BG_E_CONFIG, "journal %s is an empty SQLite database, not "
				    "a barge journal yet: give the path of a journal barge wrote",
				    path);
		sqlite3_close(j->rdb);
		j->rdb = NULL;
		if (e)
			goto fail;
	}
	if (!readonly) {
		e = open_rw(j, sync, st);
		if (e)
			goto fail;
	}
	e = open_ro(j, readonly, st);
	if (!e)
		e = prepare_all(j, st);
	if (!e && query_int(j->rdb, "SELECT max(coalesce((SELECT max(id) FROM objects), 0),"
			    " coalesce((SELECT max(object_id) FROM parts), 0))",
			    &j->last_id) != SQLITE_OK)
		e = sql_fail(j, j->rdb, "reading object ids", st);
	if (e)
		goto fail;
	if (!readonly) {
		j->ring = calloc(J_SLOTS, sizeof(*j->ring));
		j->arena = malloc(J_ARENA);
		if (!j->ring || !j->arena) {
			e = bg_fail(st, BG_E_NOMEM, "out of memory for the journal queue");
			goto fail;
		}
		pthread_mutex_init(&j->mu, NULL);
		pthread_cond_init(&j->work, NULL);
		pthread_cond_init(&j->room, NULL);
		j->sync_init = true;
		if (pthread_create(&j->thread, NULL, writer_main, j) != 0) {
			e = bg_fail(st, BG_E_NOMEM, "cannot start the journal writer thread");
			goto fail;
		}
		if (fstat(j->lockfd, &sb) == 0) {
			j->dev = sb.st_dev;
			j->ino = sb.st_ino;
		}
		j->started = true;
	}
	*out = j;
	return BG_OK;
fail:
	destroy(j);
	if (!created) {
		if (!had_wal)
			remove_empty_side(path, "-wal");
		if (!had_shm)
			remove_empty_side(path, "-shm");
	}
	if (created) { /* ours, and nothing in it worth keeping */
		char side[PATH_MAX + 8];

		unlink(path);
		if (bg_snprintf(side, sizeof(side), "%s-wal", path) >= 0)
			unlink(side);
		if (bg_snprintf(side, sizeof(side), "%s-shm", path) >= 0)
			unlink(side);
	}
	return e;
}

/* ---- the writer thread ------------------------------------------------ */

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v && v[0])
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

static void bind_id(sqlite3_stmt *s, int i, int64_t v)
{
	if (v > 0)
		sqlite3_bind_int64(s, i, v);
	else
		sqlite3_bind_null(s, i);
}

/* Steps a statement to completion and resets it; SQLite's result code. */
static int run(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		rc = SQLITE_OK;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

static void bind_totals(sqlite3_stmt *s, int first, const bg_jtotals *t)
{
	const uint64_t v[] = { t->objects_done, t->bytes_done, t->objects_failed,
			       t->objects_skipped, t->bytes_read, t->bytes_written, t->retries };

	for (int i = 0; i < 7; i++)
		sqlite3_bind_int64(s, first + i, (sqlite3_int64)v[i]);
}

/* An object's row; its parts and error rows go first. */
static int apply_object(bg_journal *j, const struct jrec *r)
{
	sqlite3_stmt *s;
	int rc;

	for (int k = W_OBJ_DEL_PARTS; k <= W_OBJ_DEL; k++) {
		s = j->w[k];
		sqlite3_bind_text(s, 1, r->u.obj.key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, r->u.obj.id);
		if ((rc = run(s)) != SQLITE_OK)
			return rc;
	}
	s = j->w[W_OBJ_PUT];
	sqlite3_bind_int64(s, 1, r->u.obj.id);
	sqlite3_bind_text(s, 2, r->u.obj.key, -1, SQLITE_STATIC);
	bind_text(s, 3, r->u.obj.dst_key);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)r->u.obj.size);
	bind_text(s, 5, r->u.obj.src_etag);
	bind_text(s, 6, r->u.obj.last_modified);
	sqlite3_bind_int64(s, 7, (sqlite3_int64)r->u.obj.part_size);
	sqlite3_bind_int64(s, 8, r->u.obj.nparts);
	sqlite3_bind_int(s, 9, r->u.obj.same_layout);
	bind_text(s, 10, r->u.obj.upload_id);
	sqlite3_bind_int(s, 11, (int)r->u.obj.state);
	bind_text(s, 12, r->u.obj.dst_etag);
	bind_text(s, 13, r->u.obj.xxh3);
	bind_text(s, 14, r->u.obj.error);
	bind_id(s, 15, j->run_id);
	sqlite3_bind_double(s, 16, r->at);
	return run(s);
}

/* A part's row. */
static int apply_part(bg_journal *j, const struct jrec *r)
{
	sqlite3_stmt *s = j->w[W_PART];
	char hex[33];

	bg_hex(r->u.part.p.xxh3, 16, hex);
	sqlite3_bind_int64(s, 1, r->u.part.object_id);
	sqlite3_bind_int64(s, 2, r->u.part.p.number);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)r->u.part.p.offset);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)r->u.part.p.length);
	sqlite3_bind_text(s, 5, hex, 32, SQLITE_TRANSIENT);
	bind_text(s, 6, r->u.part.p.etag);
	sqlite3_bind_int64(s, 7, r->u.part.p.crc32c);
	sqlite3_bind_text(s, 8, r->u.part.uploaded ? "uploaded" : "pending", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 9, r->u.part.attempts);
	bind_id(s, 10, j->run_id);
	sqlite3_bind_double(s, 11, r->at);
	return run(s);
}

/* The MD5 state of a single-part source read in parts, so far. */
static int apply_whole(bg_journal *j, const struct jrec *r)
{
	sqlite3_stmt *s = j->w[W_WHOLE];
	char hex[33];

	bg_hex(r->u.whole.state, 16, hex);
	sqlite3_bind_int64(s, 1, r->u.whole.object_id);
	sqlite3_bind_int64(s, 2, r->u.whole.parts);
	sqlite3_bind_text(s, 3, hex, 32, SQLITE_TRANSIENT);
	return run(s);
}

/* JR_FORGET drops an object's parts; JR_DROP the object as well. */
static int apply_forget(bg_journal *j, const struct jrec *r)
{
	sqlite3_stmt *s = j->w[W_FORGET];
	int rc;

	sqlite3_bind_int64(s, 1, r->u.forget_id);
	if ((rc = run(s)) != SQLITE_OK || r->type == JR_FORGET)
		return rc;
	s = j->w[W_DROP];
	sqlite3_bind_int64(s, 1, r->u.forget_id);
	return run(s);
}

static int apply_error(bg_journal *j, const struct jrec *r)
{
	sqlite3_stmt *s = j->w[W_ERROR];

	sqlite3_bind_double(s, 1, r->at);
	bind_id(s, 2, j->run_id);
	bind_id(s, 3, r->u.err.object_id);
	bind_text(s, 4, r->u.err.key);
	sqlite3_bind_text(s, 5, r->u.err.msg ? r->u.err.msg : "", -1, SQLITE_STATIC);
	return run(s);
}

static int apply_progress(bg_journal *j, const struct jrec *r)
{
	sqlite3_stmt *s = j->w[W_PROGRESS];

	bind_id(s, 1, j->run_id);
	bind_totals(s, 2, &r->u.tot);
	sqlite3_bind_double(s, 9, r->at);
	return run(s);
}

/* A run's row, and the endpoints' identity where it is missing: the first
 * run's, or the first after an upgrade (docs/journal.md). */
static int apply_begin(bg_journal *j, const struct jrec *r)
{
	const bg_jident *si = &r->u.begin.src_id, *di = &r->u.begin.dst_id;
	const char *kv[8][2] = {
		{ "src", r->u.begin.src }, { "dst", r->u.begin.dst },
		{ "src_endpoint", si->endpoint }, { "src_region", si->region },
		{ "src_key_id", si->key_id }, { "dst_endpoint", di->endpoint },
		{ "dst_region", di->region }, { "dst_key_id", di->key_id },
	};
	sqlite3_stmt *s;
	int rc;

	for (int i = 0; i < 8; i++) {
		s = j->w[W_META_ADD];
		sqlite3_bind_text(s, 1, kv[i][0], -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, kv[i][1] ? kv[i][1] : "", -1, SQLITE_STATIC);
		if ((rc = run(s)) != SQLITE_OK)
			return rc;
	}
	s = j->w[W_RUN_ADD];
	sqlite3_bind_double(s, 1, r->at);
	sqlite3_bind_text(s, 2, r->u.begin.src, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, r->u.begin.dst, -1, SQLITE_STATIC);
	bind_text(s, 4, r->u.begin.opts);
	if ((rc = run(s)) == SQLITE_OK)
		j->run_id = sqlite3_last_insert_rowid(j->wdb);
	return rc;
}

static int apply_end(bg_journal *j, const struct jrec *r)
{
	sqlite3_stmt *s = j->w[W_RUN_END];

	bind_id(s, 1, j->run_id);
	sqlite3_bind_double(s, 2, r->at);
	sqlite3_bind_int(s, 3, r->u.end.exit_code);
	if (r->u.end.has_totals)
		bind_totals(s, 4, &r->u.end.t);
	return run(s);
}

static int apply_audit_begin(bg_journal *j, const struct jrec *r)
{
	sqlite3_stmt *s = j->w[W_AUDIT_ADD];
	int rc;

	sqlite3_bind_double(s, 1, r->at);
	sqlite3_bind_text(s, 2, r->u.abegin.src, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, r->u.abegin.dst, -1, SQLITE_STATIC);
	bind_text(s, 4, r->u.abegin.options);
	sqlite3_bind_int(s, 5, r->u.abegin.deep);
	if (r->u.abegin.sample >= 0)
		sqlite3_bind_double(s, 6, r->u.abegin.sample);
	if (r->u.abegin.has_seed)
		sqlite3_bind_int64(s, 7, (sqlite3_int64)r->u.abegin.seed);
	if ((rc = run(s)) == SQLITE_OK)
		j->audit_id = sqlite3_last_insert_rowid(j->wdb);
	return rc;
}

static int apply_finding(bg_journal *j, const struct jrec *r)
{
	sqlite3_stmt *s = j->w[W_FINDING];

	bind_id(s, 1, j->audit_id);
	sqlite3_bind_text(s, 2, r->u.find.kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, r->u.find.key ? r->u.find.key : "", -1, SQLITE_STATIC);
	bind_text(s, 4, r->u.find.detail);
	if (r->u.find.src_size >= 0)
		sqlite3_bind_int64(s, 5, r->u.find.src_size);
	if (r->u.find.dst_size >= 0)
		sqlite3_bind_int64(s, 6, r->u.find.dst_size);
	bind_text(s, 7, r->u.find.src_etag);
	bind_text(s, 8, r->u.find.dst_etag);
	if (r->u.find.part_number)
		sqlite3_bind_int64(s, 9, r->u.find.part_number);
	sqlite3_bind_double(s, 10, r->at);
	return run(s);
}

static int apply_audit_end(bg_journal *j, const struct jrec *r)
{
	const bg_jaudit_end *e = &r->u.aend;
	sqlite3_stmt *s = j->w[W_AUDIT_END];

	bind_id(s, 1, j->audit_id);
	sqlite3_bind_double(s, 2, r->at);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)e->objects_checked);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)e->objects_reread);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)e->bytes_reread);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)e->findings);
	sqlite3_bind_int64(s, 7, (sqlite3_int64)e->not_comparable);
	sqlite3_bind_int(s, 8, e->exit_code);
	bind_text(s, 9, e->error);
	return run(s);
}

/* One function per kind of record. */
static int (*const appliers[])(bg_journal *j, const struct jrec *r) = {
	[JR_OBJECT] = apply_object, [JR_PART] = apply_part, [JR_WHOLE] = apply_whole,
	[JR_FORGET] = apply_forget, [JR_DROP] = apply_forget, [JR_ERROR] = apply_error,
	[JR_PROGRESS] = apply_progress, [JR_BEGIN] = apply_begin, [JR_END] = apply_end,
	[JR_AUDIT_BEGIN] = apply_audit_begin, [JR_FINDING] = apply_finding,
	[JR_AUDIT_END] = apply_audit_end,
};

/* Applies one record; SQLite's result code. */
static int apply(bg_journal *j, const struct jrec *r)
{
	if ((size_t)r->type >= sizeof(appliers) / sizeof(appliers[0]) || !appliers[r->type])
		return SQLITE_INTERNAL;
	return appliers[r->type](j, r);
}

static const char *const type_names[] = {
	[JR_OBJECT] = "writing an object", [JR_PART] = "writing a part",
	[JR_FORGET] = "forgetting parts", [JR_ERROR] = "writing an error",
	[JR_PROGRESS] = "writing the run's totals", [JR_BEGIN] = "writing the run's start",
	[JR_END] = "writing the run's end", [JR_AUDIT_BEGIN] = "writing the audit's start",
	[JR_FINDING] = "writing an audit finding", [JR_AUDIT_END] = "writing the audit's end",
	[JR_DROP] = "dropping an object", [JR_WHOLE] = "writing an object's MD5 so far",
};

/* Whether the path still names the file being written (checked at most
 * once a second): a journal removed or replaced under a running copy would
 * take every later commit with it.  0, or -1 with *err. */
static int still_there(bg_journal *j, double now, bg_status *err)
{
	struct stat sb;

	if (now - j->checked_at < 1.0)
		return 0;
	j->checked_at = now;
	if (stat(j->path, &sb) == 0 && sb.st_dev == j->dev && sb.st_ino == j->ino)
		return 0;
	bg_fail(err, BG_E_IO, "journal %s was removed or replaced while barge was writing it: "
		"the copy stops; put it back (or start again with a new journal)", j->path);
	return -1;
}

/* One transaction over records [from, from + n).  0, or -1 with *err. */
static int apply_batch(bg_journal *j, uint64_t from, uint64_t n, bg_status *err)
{
	const struct jrec *r = NULL;
	const char *what = "starting a transaction";
	int rc;

	if (still_there(j, j->ring[from % J_SLOTS].at, err) < 0)
		return -1;
	rc = run(j->w[W_BEGIN]);
	for (uint64_t i = 0; rc == SQLITE_OK && i < n; i++) {
		r = &j->ring[(from + i) % J_SLOTS];
		rc = apply(j, r);
		if (rc != SQLITE_OK)
			what = type_names[r->type];
	}
	if (rc == SQLITE_OK) {
		rc = run(j->w[W_COMMIT]);
		what = "committing";
	}
	if (rc == SQLITE_OK)
		return 0;
	bg_fail(err, BG_E_IO, "journal %s: %s failed: %s (SQLite error %d): the copy stops; "
		"free space or fix the file, then run barge resume %s", j->path, what,
		sqlite3_errmsg(j->wdb), rc, j->path);
	if (!sqlite3_get_autocommit(j->wdb))
		sqlite3_exec(j->wdb, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static void *writer_main(void *arg)
{
	bg_journal *j = arg;

	pthread_mutex_lock(&j->mu);
	for (;;) {
		uint64_t from, n;
		bool failed;
		bg_status err = { 0 };
		int rc = 0;

		while (j->head == j->tail && !j->stop) {
			j->idle = true;
			pthread_cond_wait(&j->work, &j->mu);
			j->idle = false;
		}
		if (j->head == j->tail)
			break; /* stopping, and everything is applied */
		from = j->tail;
		n = j->head - j->tail;
		if (n > J_BATCH)
			n = J_BATCH;
		failed = j->failed;
		pthread_mutex_unlock(&j->mu);
		if (!failed)
			rc = apply_batch(j, from, n, &err);
		pthread_mutex_lock(&j->mu);
		if (rc && !j->failed) {
			j->failed = true;
			j->werr = err;
		}
		j->tail = from + n;
		j->atail = j->ring[(from + n - 1) % J_SLOTS].arena_end;
		if (!failed && !rc)
			atomic_store_explicit(&j->committed, from + n, memory_order_release);
		pthread_cond_broadcast(&j->room);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

/* ---- queuing ---------------------------------------------------------- */

/* A string field of a record, its limit (bytes without the NUL) and
 * whether a longer one is shortened (texts) or refused (names, IDs). */
struct jstr {
	char **p;
	size_t max;
	bool trunc;
};

static int rec_strings(struct jrec *r, struct jstr *v)
{
	switch (r->type) {
	case JR_OBJECT:
		v[0] = (struct jstr){ &r->u.obj.key, BG_KEY_MAX, false };
		v[1] = (struct jstr){ &r->u.obj.dst_key, BG_KEY_MAX, false };
		v[2] = (struct jstr){ &r->u.obj.src_etag, BG_ETAG_MAX - 1, false };
		v[3] = (struct jstr){ &r->u.obj.last_modified, J_STR_SMALL, false };
		v[4] = (struct jstr){ &r->u.obj.upload_id, BG_TOKEN_MAX - 1, false };
		v[5] = (struct jstr){ &r->u.obj.dst_etag, BG_ETAG_MAX - 1, false };
		v[6] = (struct jstr){ &r->u.obj.xxh3, J_STR_SMALL, false };
		v[7] = (struct jstr){ &r->u.obj.error, J_ERR_MAX - 1, true };
		return 8;
	case JR_ERROR:
		v[0] = (struct jstr){ &r->u.err.key, BG_KEY_MAX, true };
		v[1] = (struct jstr){ &r->u.err.msg, J_ERR_MAX - 1, true };
		return 2;
	case JR_FINDING:
		v[0] = (struct jstr){ &r->u.find.kind, J_STR_SMALL, true };
		v[1] = (struct jstr){ &r->u.find.key, BG_KEY_MAX, true };
		v[2] = (struct jstr){ &r->u.find.detail, J_ERR_MAX - 1, true };
		v[3] = (struct jstr){ &r->u.find.src_etag, BG_ETAG_MAX - 1, true };
		v[4] = (struct jstr){ &r->u.find.dst_etag, BG_ETAG_MAX - 1, true };
		return 5;
	default:
		return 0;
	}
}

/* Length to copy of s: at most max bytes, cut before a UTF-8 continuation
 * byte when shortened; -1 when too long and not shortenable. */
static ssize_t str_len(const char *s, size_t max, bool trunc)
{
	size_t n = strnlen(s, max + 1);

	if (n <= max)
		return (ssize_t)n;
	if (!trunc)
		return -1;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return (ssize_t)n;
}

/* Sets the sticky error from the loop thread (a record we cannot take). */
static void fail_caller(bg_journal *j, const char *what)
{
	pthread_mutex_lock(&j->mu);
	if (!j->failed) {
		j->failed = true;
		bg_fail(&j->werr, BG_E_INTERNAL, "journal %s: %s", j->path, what);
	}
	pthread_mutex_unlock(&j->mu);
}

/* Arena offset for n bytes if they fit now (skipping the tail end of the
 * ring when they would straddle it), or -1. */
static int64_t arena_take(bg_journal *j, size_t n)
{
	uint64_t pos = j->ahead % J_ARENA, skip = 0;

	if (n == 0)
		return 0;
	if (J_ARENA - pos < n)
		skip = J_ARENA - pos;
	if (j->ahead + skip + n - j->atail > J_ARENA)
		return -1;
	j->ahead += skip;
	pos = j->ahead % J_ARENA;
	j->ahead += n;
	return (int64_t)pos;
}

/* Queues a copy of *r (and of its strings).  The record's sequence number,
 * or 0 when the journal has failed or is read-only. */
static uint64_t enqueue(bg_journal *j, struct jrec *r)
{
	struct jstr v[J_NSTR];
	ssize_t len[J_NSTR];
	int ns = rec_strings(r, v);
	size_t need = 0;
	struct jrec *slot;
	int64_t off = 0;
	uint64_t seq;

	if (!j || j->readonly)
		return 0;
	for (int i = 0; i < ns; i++) {
		len[i] = *v[i].p ? str_len(*v[i].p, v[i].max, v[i].trunc) : 0;
		if (len[i] < 0) {
			char why[160];

			bg_snprintf(why, sizeof(why), "a record string is longer than %zu bytes "
				    "(\"%.40s...\")", v[i].max, *v[i].p);
			fail_caller(j, why);
			return 0;
		}
		if (*v[i].p)
			need += (size_t)len[i] + 1;
	}
	r->at = now_real();
	pthread_mutex_lock(&j->mu);
	for (;;) {
		if (j->failed) {
			pthread_mutex_unlock(&j->mu);
			return 0;
		}
		if (j->head - j->tail < J_SLOTS && (off = arena_take(j, need)) >= 0)
			break;
		/* The only wait: the queue is full, SQLite is behind the copy. */
		pthread_cond_wait(&j->room, &j->mu);
	}
	slot = &j->ring[j->head % J_SLOTS];
	*slot = *r;
	ns = rec_strings(slot, v);
	for (int i = 0; i < ns; i++) {
		char *dst;

		if (!*v[i].p)
			continue;
		dst = j->arena + off;
		memcpy(dst, *v[i].p, (size_t)len[i]);
		dst[len[i]] = '\0';
		*v[i].p = dst;
		off += len[i] + 1;
	}
	slot->arena_end = j->ahead;
	seq = ++j->head;
	if (j->idle)
		pthread_cond_signal(&j->work);
	pthread_mutex_unlock(&j->mu);
	return seq;
}

/* Waits until the writer has taken record seq (applied or dropped).  0
 * when it is committed, else the writer's error in st. */
static bg_err wait_for(bg_journal *j, uint64_t seq, bg_status *st)
{
	bg_err e = BG_OK;

	pthread_mutex_lock(&j->mu);
	while (j->tail < seq)
		pthread_cond_wait(&j->room, &j->mu);
	if (j->failed || atomic_load(&j->committed) < seq) {
		e = j->werr.code ? j->werr.code : BG_E_IO;
		bg_fail(st, e, "%s", j->werr.msg[0] ? j->werr.msg : "journal write failed");
	}
	pthread_mutex_unlock(&j->mu);
	return e;
}

/* Queues r and waits for its commit. */
static bg_err sync_op(bg_journal *j, struct jrec *r, bg_status *st)
{
	uint64_t seq;

	if (j->readonly)
		return bg_fail(st, BG_E_INTERNAL, "journal %s was opened read-only", j->path);
	seq = enqueue(j, r);
	if (!seq) {
		bg_journal_error_state(j, st);
		return st ? st->code : BG_E_IO;
	}
	return wait_for(j, seq, st);
}

/* Waits until everything queued so far is taken by the writer. */
static bg_err flush(bg_journal *j, bg_status *st)
{
	uint64_t seq;

	if (j->readonly)
		return BG_OK;
	pthread_mutex_lock(&j->mu);
	seq = j->head;
	pthread_mutex_unlock(&j->mu);
	return seq ? wait_for(j, seq, st) : BG_OK;
}

/* ---- the API ---------------------------------------------------------- */

bg_err bg_journal_close(bg_journal *j, bg_status *st)
{
	bg_err e = BG_OK;

	if (!j)
		return BG_OK;
	if (j->started) {
		pthread_mutex_lock(&j->mu);
		j->stop = true;
		pthread_cond_signal(&j->work);
		pthread_mutex_unlock(&j->mu);
		pthread_join(j->thread, NULL); /* it applies everything queued first */
		if (j->failed)
			e = bg_fail(st, j->werr.code ? j->werr.code : BG_E_IO, "%s", j->werr.msg);
	}
	/* The reader goes first, so that the writer's close is the last one
	 * and checkpoints the WAL into the file (and removes -wal, -shm). */
	for (int i = 0; i < R_COUNT; i++) {
		sqlite3_finalize(j->r[i]);
		j->r[i] = NULL;
	}
	sqlite3_close(j->rdb);
	j->rdb = NULL;
	for (int i = 0; i < W_COUNT; i++) {
		sqlite3_finalize(j->w[i]);
		j->w[i] = NULL;
	}
	if (j->wdb && sqlite3_close(j->wdb) != SQLITE_OK && !e)
		e = sql_fail(j, j->wdb, "closing", st);
	j->wdb = NULL;
	destroy(j);
	return e;
}

/* Copies column i (NULL as "") into dst; -1 when it does not fit. */
static int col_text(sqlite3_stmt *s, int i, char *dst, size_t cap)
{
	const char *v = (const char *)sqlite3_column_text(s, i);

	return bg_strlcpy(dst, v ? v : "", cap);
}

/* One row of a one-parameter text query on the read connection: 1 found,
 * 0 not, -1 error. */
static int read_text(bg_journal *j, enum rstmt q, const char *arg, char *dst, size_t cap,
		     bg_status *st)
{
	sqlite3_stmt *s = j->r[q];
	int rc, res;

	if (arg)
		sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		res = 1;
		if (dst && col_text(s, 0, dst, cap) < 0) {
			res = -1;
			bg_fail(st, BG_E_NOMEM, "journal %s: a stored value is longer than %zu "
				"bytes", j->path, cap - 1);
		}
	} else if (rc == SQLITE_DONE) {
		res = 0;
	} else {
		res = -1;
		sql_fail(j, j->rdb, "reading", st);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return res;
}

int bg_journal_meta(bg_journal *j, const char *key, char *dst, size_t cap, bg_status *st)
{
	return read_text(j, R_META, key, dst, cap, st);
}

int bg_journal_locations(bg_journal *j, char *src, size_t src_cap, char *dst, size_t dst_cap,
			 char *opts, size_t opts_cap, bg_status *st)
{
	int a, b, c;

	a = read_text(j, R_META, "src", src, src_cap, st);
	if (a <= 0)
		return a < 0 ? -1 : 1;
	b = read_text(j, R_META, "dst", dst, dst_cap, st);
	if (b <= 0)
		return b < 0 ? -1 : 1;
	if (opts && opts_cap)
		opts[0] = '\0';
	c = read_text(j, R_LAST_OPTS, NULL, opts, opts_cap, st);
	return c < 0 ? -1 : c == 0 ? 1 : 0;
}

bg_err bg_journal_begin_run(bg_journal *j, const char *src, const char *dst,
			    const bg_jident *src_id, const bg_jident *dst_id,
			    const char *opts_json, bg_status *st)
{
	static const char todo[] = "give another --journal path to start a new journal there";
	char osrc[BG_TOKEN_MAX], odst[BG_TOKEN_MAX];
	struct jrec r = { .type = JR_BEGIN };
	int a, b;
	bg_err e;

	if (!src || !dst || !src_id || !dst_id || !src_id->endpoint || !dst_id->endpoint)
		return bg_fail(st, BG_E_INTERNAL, "begin_run without a source or destination");
	e = flush(j, st);
	if (e)
		return e;
	a = read_text(j, R_META, "src", osrc, sizeof(osrc), st);
	b = a < 0 ? -1 : read_text(j, R_META, "dst", odst, sizeof(odst), st);
	if (a < 0 || b < 0)
		return st ? st->code : BG_E_IO;
	if ((a && strcmp(osrc, src) != 0) || (b && strcmp(odst, dst) != 0))
		return bg_fail(st, BG_E_CONFIG, "journal %s belongs to %s -> %s, not %s -> %s: "
			       "give another --journal path", j->path, a ? osrc : "?",
			       b ? odst : "?", src, dst);
	e = bg_jident_check(j, "src", src, src_id, todo, st);
	if (!e)
		e = bg_jident_check(j, "dst", dst, dst_id, todo, st);
	if (e)
		return e;
	r.u.begin.src = src;
	r.u.begin.dst = dst;
	r.u.begin.src_id = *src_id;
	r.u.begin.dst_id = *dst_id;
	r.u.begin.opts = opts_json;
	return sync_op(j, &r, st);
}

bg_err bg_journal_end_run(bg_journal *j, int exit_code, const bg_jtotals *t, bg_status *st)
{
	struct jrec r = { .type = JR_END };

	r.u.end.exit_code = exit_code;
	r.u.end.has_totals = t != NULL;
	if (t)
		r.u.end.t = *t;
	return sync_op(j, &r, st);
}

/* How far the object's whole MD5 got (writable journals only: version 4).
 * 0, or -1 with st set when the row holds something else than 32 hex
 * digits and a part count. */
static int whole_of(bg_journal *j, bg_jobject *out, bg_status *st)
{
	sqlite3_stmt *s = j->r[R_WHOLE_OF];
	int res = 0;

	if (!s)
		return 0;
	sqlite3_bind_int64(s, 1, out->id);
	if (sqlite3_step(s) == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(s, 1);
		int64_t n = sqlite3_column_int64(s, 0);

		if (n > 0 && h) {
			if (n > BG_PARTS_MAX || bg_unhex16(h, out->whole_state) < 0)
				res = -1;
			else
				out->whole_parts = (uint32_t)n;
		}
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (res < 0)
		bg_fail(st, BG_E_INTEGRITY, "journal %s: the MD5 state of object %" PRId64
			" is damaged", j->path, out->id);
	return res;
}

/* One objects row of key with statement q (LOOKUP, or AUDIT_LOOKUP which
 * adds xxh3 as column 9): 1 found, 0 not journaled, -1 error. */
static int lookup_row(bg_journal *j, enum rstmt q, const char *key, bg_jobject *out,
		      char *xxh3, size_t xxh3_cap, bg_status *st)
{
	sqlite3_stmt *s = j->r[q];
	int rc, res = 0;

	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		int64_t state = sqlite3_column_int64(s, 1);

		memset(out, 0, sizeof(*out));
		out->id = sqlite3_column_int64(s, 0);
		out->state = (bg_jstate)state;
		out->size = (uint64_t)sqlite3_column_int64(s, 2);
		out->part_size = (uint64_t)sqlite3_column_int64(s, 4);
		out->nparts = (uint32_t)sqlite3_column_int64(s, 5);
		out->same_layout = sqlite3_column_int(s, 6) != 0;
		res = 1;
		if (state < BG_JS_CREATING || state > BG_JS_FAILED || out->id <= 0 ||
		    col_text(s, 3, out->src_etag, sizeof(out->src_etag)) < 0 ||
		    col_text(s, 7, out->upload_id, sizeof(out->upload_id)) < 0 ||
		    col_text(s, 8, out->dst_etag, sizeof(out->dst_etag)) < 0 ||
		    (xxh3 && col_text(s, 9, xxh3, xxh3_cap) < 0)) {
			res = -1;
			bg_fail(st, BG_E_INTEGRITY, "journal %s: the row of %.200s is damaged (id, "
				"state or a field out of range)", j->path, key);
		}
	} else if (rc != SQLITE_DONE) {
		res = -1;
		sql_fail(j, j->rdb, "looking up an object", st);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return res;
}

int bg_journal_lookup(bg_journal *j, const char *key, bg_jobject *out, bg_status *st)
{
	int f = lookup_row(j, R_LOOKUP, key, out, NULL, 0, st);

	return f == 1 && whole_of(j, out, st) < 0 ? -1 : f;
}

int bg_journal_load_parts(bg_journal *j, int64_t object_id,
			  void (*cb)(void *ctx, const bg_jpart *p), void *ctx, bg_status *st)
{
	sqlite3_stmt *s = j->r[R_PARTS];
	int rc, res = 0;

	sqlite3_bind_int64(s, 1, object_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		bg_jpart p;
		int64_t num = sqlite3_column_int64(s, 0);

		memset(&p, 0, sizeof(p));
		p.number = (uint32_t)num;
		p.offset = (uint64_t)sqlite3_column_int64(s, 1);
		p.length = (uint64_t)sqlite3_column_int64(s, 2);
		p.crc32c = (uint32_t)sqlite3_column_int64(s, 5);
		if (num < 1 || num > BG_PARTS_MAX ||
		    bg_unhex16((const char *)sqlite3_column_text(s, 3), p.xxh3) < 0 ||
		    col_text(s, 4, p.etag, sizeof(p.etag)) < 0) {
			res = -1;
			bg_fail(st, BG_E_INTEGRITY, "journal %s: part %" PRId64 " of object %"
				PRId64 " is damaged (number, xxh3 or etag)", j->path, num,
				object_id);
			break;
		}
		cb(ctx, &p);
	}
	if (res == 0 && rc != SQLITE_DONE) {
		res = -1;
		sql_fail(j, j->rdb, "reading parts", st);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return res;
}

int64_t bg_journal_new_id(bg_journal *j)
{
	return ++j->last_id;
}

uint64_t bg_journal_object(bg_journal *j, const bg_jobject_rec *o)
{
	struct jrec r = { .type = JR_OBJECT };

	if (!o->key || !o->key[0] || o->id <= 0 || o->state < BG_JS_CREATING ||
	    o->state > BG_JS_FAILED) {
		if (j && !j->readonly)
			fail_caller(j, "an object record without a key, an id or a valid state");
		return 0;
	}
	r.u.obj.id = o->id;
	r.u.obj.key = (char *)o->key;
	r.u.obj.dst_key = (char *)o->dst_key;
	r.u.obj.size = o->size;
	r.u.obj.src_etag = (char *)o->src_etag;
	r.u.obj.last_modified = (char *)o->last_modified;
	r.u.obj.part_size = o->part_size;
	r.u.obj.nparts = o->nparts;
	r.u.obj.same_layout = o->same_layout;
	r.u.obj.upload_id = (char *)o->upload_id;
	r.u.obj.state = o->state;
	r.u.obj.dst_etag = (char *)o->dst_etag;
	r.u.obj.xxh3 = (char *)o->xxh3;
	r.u.obj.error = (char *)o->error;
	return enqueue(j, &r);
}

uint64_t bg_journal_part(bg_journal *j, int64_t object_id, const bg_jpart *p, bool uploaded,
			 unsigned attempts)
{
	struct jrec r = { .type = JR_PART };

	r.u.part.object_id = object_id;
	r.u.part.p = *p;
	r.u.part.p.etag[sizeof(r.u.part.p.etag) - 1] = '\0';
	r.u.part.uploaded = uploaded;
	r.u.part.attempts = attempts;
	return enqueue(j, &r);
}

uint64_t bg_journal_forget_parts(bg_journal *j, int64_t object_id)
{
	struct jrec r = { .type = JR_FORGET };

	r.u.forget_id = object_id;
	return enqueue(j, &r);
}

uint64_t bg_journal_whole(bg_journal *j, int64_t object_id, uint32_t parts,
			  const unsigned char state[16])
{
	struct jrec r = { .type = JR_WHOLE };

	r.u.whole.object_id = object_id;
	r.u.whole.parts = parts;
	memcpy(r.u.whole.state, state, 16);
	return enqueue(j, &r);
}

uint64_t bg_journal_drop_object(bg_journal *j, int64_t object_id)
{
	struct jrec r = { .type = JR_DROP };

	r.u.forget_id = object_id;
	return enqueue(j, &r);
}

int bg_journal_next_open(bg_journal *j, int64_t after, int64_t *id, char *key, size_t kcap,
			 char *dkey, size_t dcap, bg_status *st)
{
	sqlite3_stmt *s = j->r[R_NEXT_OPEN];
	int rc, res = 0;

	sqlite3_bind_int64(s, 1, after);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		res = 1;
		*id = sqlite3_column_int64(s, 0);
		if (col_text(s, 1, key, kcap) < 0 || col_text(s, 2, dkey, dcap) < 0 || !dkey[0]) {
			res = -1;
			bg_fail(st, BG_E_INTEGRITY, "journal %s: the row of object %" PRId64
				" is damaged (key or destination key)", j->path, *id);
		}
	} else if (rc != SQLITE_DONE) {
		res = -1;
		sql_fail(j, j->rdb, "looking for open uploads", st);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return res;
}

uint64_t bg_journal_error(bg_journal *j, int64_t object_id, const char *key, const char *msg)
{
	struct jrec r = { .type = JR_ERROR };

	r.u.err.object_id = object_id;
	r.u.err.key = (char *)key;
	r.u.err.msg = (char *)(msg ? msg : "");
	return enqueue(j, &r);
}

uint64_t bg_journal_run_progress(bg_journal *j, const bg_jtotals *t)
{
	struct jrec r = { .type = JR_PROGRESS };

	r.u.tot = *t;
	return enqueue(j, &r);
}

uint64_t bg_journal_committed(bg_journal *j)
{
	return j ? atomic_load_explicit(&j->committed, memory_order_acquire) : 0;
}

int bg_journal_error_state(bg_journal *j, bg_status *st)
{
	int failed = 0;

	if (!j || j->readonly)
		return 0;
	pthread_mutex_lock(&j->mu);
	if (j->failed) {
		failed = 1;
		bg_fail(st, j->werr.code ? j->werr.code : BG_E_IO, "%s", j->werr.msg);
	}
	pthread_mutex_unlock(&j->mu);
	return failed;
}

/* ---- audits (schema version 2) ---------------------------------------- */

bg_err bg_journal_begin_audit(bg_journal *j, const bg_jaudit_begin *a, int64_t *audit_id,
			      bg_status *st)
{
	char osrc[BG_TOKEN_MAX], odst[BG_TOKEN_MAX];
	struct jrec r = { .type = JR_AUDIT_BEGIN };
	int fa, fb;
	bg_err e;

	if (!a || !a->src || !a->dst)
		return bg_fail(st, BG_E_INTERNAL, "begin_audit without a source or destination");
	if (j->readonly)
		return bg_fail(st, BG_E_INTERNAL, "journal %s was opened read-only", j->path);
	e = flush(j, st);
	if (e)
		return e;
	fa = read_text(j, R_META, "src", osrc, sizeof(osrc), st);
	fb = fa < 0 ? -1 : read_text(j, R_META, "dst", odst, sizeof(odst), st);
	if (fa < 0 || fb < 0)
		return st ? st->code : BG_E_IO;
	if ((fa && strcmp(osrc, a->src) != 0) || (fb && strcmp(odst, a->dst) != 0))
		return bg_fail(st, BG_E_CONFIG, "journal %s records the copy %s -> %s, not %s -> %s: "
			       "audit with the SRC and DST of that copy, or without --journal",
			       j->path, fa ? osrc : "?", fb ? odst : "?", a->src, a->dst);
	e = bg_jident_check(j, "src", a->src, a->src_id, "audit with the endpoints and keys of "
			    "that copy, or without --journal", st);
	if (!e)
		e = bg_jident_check(j, "dst", a->dst, a->dst_id, "audit with the endpoints and keys "
				    "of that copy, or without --journal", st);
	if (e)
		return e;
	r.u.abegin = *a;
	e = sync_op(j, &r, st);
	if (!e && audit_id) {
		pthread_mutex_lock(&j->mu); /* written by the writer before the tail moved */
		*audit_id = j->audit_id;
		pthread_mutex_unlock(&j->mu);
	}
	return e;
}

uint64_t bg_journal_finding(bg_journal *j, const bg_jfinding *f)
{
	struct jrec r = { .type = JR_FINDING };

	if (!f->kind || !f->kind[0]) {
		if (j && !j->readonly)
			fail_caller(j, "an audit finding without a kind");
		return 0;
	}
	r.u.find.kind = (char *)f->kind;
	r.u.find.key = (char *)(f->key ? f->key : "");
	r.u.find.detail = (char *)f->detail;
	r.u.find.src_etag = (char *)f->src_etag;
	r.u.find.dst_etag = (char *)f->dst_etag;
	r.u.find.src_size = f->src_size;
	r.u.find.dst_size = f->dst_size;
	r.u.find.part_number = f->part_number;
	return enqueue(j, &r);
}

bg_err bg_journal_end_audit(bg_journal *j, const bg_jaudit_end *e, bg_status *st)
{
	struct jrec r = { .type = JR_AUDIT_END };

	r.u.aend = *e;
	return sync_op(j, &r, st);
}

int bg_journal_audit_lookup(bg_journal *j, const char *key, bg_jobject *out, char xxh3[65],
			    bg_status *st)
{
	xxh3[0] = '\0';
	return lookup_row(j, R_AUDIT_LOOKUP, key, out, xxh3, 65, st);
}
