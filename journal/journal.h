/* journal.h - the SQLite journal: one file per migration, the resume state
 * and the audit record (schema: docs/journal.md).
 *
 * Threads: the copy loop calls every function below from one thread.
 * Writes (bg_journal_object/part/...) only queue a record and return a
 * sequence number; a writer thread owns the write connection and applies
 * queued records in batches, one transaction per batch (group commit), so
 * the loop never waits on SQLite or fsync.  bg_journal_committed() tells
 * which sequence numbers are durable (as durable as the sync setting
 * makes them).  Reads (lookup, load_parts) use a second, read-only
 * connection on the loop thread: WAL lets them run beside the writer, and
 * they see committed rows only.
 *
 * Nothing here ever sees a credential: callers pass locations and options,
 * never keys. */
#ifndef BG_JOURNAL_H
#define BG_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "s3limits.h" /* BG_KEY_MAX, BG_ETAG_MAX, BG_TOKEN_MAX */
#include "util.h"

typedef struct bg_journal bg_journal;

/* SQLite's synchronous setting for the write connection (WAL always). */
typedef enum bg_jsync {
	BG_JSYNC_OFF,    /* no fsync at all: cheapest; an OS crash may lose recent commits */
	BG_JSYNC_NORMAL, /* default: fsync at checkpoints; a power loss may lose the last commits */
	BG_JSYNC_FULL,   /* fsync every commit */
} bg_jsync;

/* objects.state */
typedef enum bg_jstate {
	BG_JS_CREATING = 1,  /* CreateMultipartUpload may have been sent; no upload ID known */
	BG_JS_UPLOADING = 2, /* upload_id known; parts being uploaded */
	BG_JS_DONE = 3,      /* copied and verified by a HEAD of the destination */
	BG_JS_FAILED = 4,    /* failed for good in some run; error says why */
} bg_jstate;

#define BG_J_CREATE 1u   /* create the file if it does not exist */
#define BG_J_READONLY 2u /* open read-only (status, audit) */

/* Opens (or with BG_J_CREATE creates) a journal.  The file is created
 * 0600.  Opening checks that the file is a barge journal (application_id),
 * of a schema version this build knows (older ones are migrated, newer
 * ones refused), and passes SQLite's quick_check.  Every refusal is
 * BG_E_CONFIG or BG_E_IO with a one-line message naming the path and
 * what to do (BG_E_BUSY when another process holds the journal's lock: a
 * condition that passes), and never modifies or replaces the file: not an SQLite
 * file, a foreign SQLite database, corrupt or truncated, newer schema,
 * unwritable directory or file, missing file without BG_J_CREATE. */
bg_err bg_journal_open(bg_journal **out, const char *path, unsigned flags, bg_jsync sync,
		       bg_status *st);

/* Applies everything queued, stops the writer thread, closes.  Returns
 * the writer's error if it had one (then the last records may be lost).
 * NULL is fine. */
bg_err bg_journal_close(bg_journal *j, bg_status *st);

/* The source and destination URLs the journal was made for, and the
 * options JSON of its last run; returns 0, or 1 when the journal has no
 * run yet, or -1 with st set. */
int bg_journal_locations(bg_journal *j, char *src, size_t src_cap, char *dst, size_t dst_cap,
			 char *opts, size_t opts_cap, bg_status *st);

/* Which store one side of a copy is on: the endpoint URL (for R2 by
 * account, https://ACCOUNT.r2.cloudflarestorage.com), the region and the
 * access key ID, never the secret.  A local side is the endpoint "local"
 * with region and key_id "" (its absolute path is its location).  Recorded
 * in meta (src_endpoint, src_region, src_key_id, dst_...). */
typedef struct bg_jident {
	const char *endpoint;
	const char *region;
	const char *key_id;
} bg_jident;

/* Starts a run.  The first run fixes the journal's source and destination
 * (URLs as the user wrote them, normalised by the caller) and their
 * identities; a later run with other locations is refused with
 * BG_E_CONFIG ("journal PATH belongs to s3://a -> r2://b; use another
 * --journal ..."), and so is one whose endpoint, region or access key ID
 * differs on either side (the objects the journal calls done are not known
 * to be at the other store), with a message naming both identities.  A
 * journal without identities (written before barge recorded them) adopts
 * those of this run.  opts_json: the options of the run as a JSON object
 * (no secrets).  Synchronous (commits before returning). */
bg_err bg_journal_begin_run(bg_journal *j, const char *src, const char *dst,
			    const bg_jident *src_id, const bg_jident *dst_id,
			    const char *opts_json, bg_status *st);

typedef struct bg_jtotals {
	uint64_t objects_done, bytes_done, objects_failed, objects_skipped;
	uint64_t bytes_read, bytes_written, retries;
} bg_jtotals;

/* Flushes the queue, then records the run's end (exit code, totals).
 * Synchronous. */
bg_err bg_journal_end_run(bg_journal *j, int exit_code, const bg_jtotals *t, bg_status *st);

/* ---- reads (loop thread, committed rows) ---------------------------- */

typedef struct bg_jobject {
	int64_t id;
	bg_jstate state;
	uint64_t size;
	char src_etag[BG_ETAG_MAX];
	uint64_t part_size; /* 0 for a single PUT */
	uint32_t nparts;
	bool same_layout;
	char upload_id[BG_TOKEN_MAX];
	char dst_etag[BG_ETAG_MAX];
	/* a single-part source copied in parts: the MD5 state after its first
	 * whole_parts parts (0: none recorded) */
	uint32_t whole_parts;
	unsigned char whole_state[16];
} bg_jobject;

/* Looks up the object of a source key: 1 found (*out filled), 0 not
 * journaled, -1 error (st set). */
int bg_journal_lookup(bg_journal *j, const char *key, bg_jobject *out, bg_status *st);

/* The first object after id `after` (in id order) whose row is creating or
 * uploading: an upload of it may be open.  1 found (id, key and dst_key
 * filled), 0 none, -1 error (st set).  Committed rows only. */
int bg_journal_next_open(bg_journal *j, int64_t after, int64_t *id, char *key, size_t kcap,
			 char *dkey, size_t dcap, bg_status *st);

typedef struct bg_jpart {
	uint32_t number; /* 1-based */
	uint64_t offset, length;
	unsigned char xxh3[16]; /* canonical (big-endian) XXH3-128 */
	char etag[BG_ETAG_MAX]; /* destination part ETag, quotes stripped */
	uint32_t crc32c;
} bg_jpart;

/* Calls cb for each part of the object journaled as uploaded, in part
 * order.  0, or -1 with st set. */
int bg_journal_load_parts(bg_journal *j, int64_t object_id,
			  void (*cb)(void *ctx, const bg_jpart *p), void *ctx, bg_status *st);

/* ---- writes (queued; group-committed by the writer thread) ---------- */

/* A new object id (never reused; ids of existing rows come from lookup). */
int64_t bg_journal_new_id(bg_journal *j);

/* The whole row of an object, inserted or replaced by id.  Strings may be
 * NULL (stored as NULL); they are copied before the call returns. */
typedef struct bg_jobject_rec {
	int64_t id;
	const char *key, *dst_key;
	uint64_t size;
	const char *src_etag, *last_modified;
	uint64_t part_size;
	uint32_t nparts;
	bool same_layout;
	const char *upload_id;
	bg_jstate state;
	const char *dst_etag;
	const char *xxh3; /* hex, XXH3-128 over the parts' XXH3-128s; single PUT: of the bytes */
	const char *error;
} bg_jobject_rec;

/* Each returns the record's sequence number (> 0), or 0 when the journal
 * has failed (see bg_journal_error).  When the queue is full the call
 * waits for the writer: that is the only wait, and it means SQLite is
 * slower than the copy. */
uint64_t bg_journal_object(bg_journal *j, const bg_jobject_rec *r);

/* A part uploaded (uploaded = true: accepted by the destination with the
 * checksum sent) or about to be re-sent (uploaded = false: it must not
 * count as there until a new uploaded record).  attempts: requests made
 * for it in this run. */
uint64_t bg_journal_part(bg_journal *j, int64_t object_id, const bg_jpart *p, bool uploaded,
			 unsigned attempts);

/* Forgets every part of an object (its upload was aborted or replaced). */
uint64_t bg_journal_forget_parts(bg_journal *j, int64_t object_id);

/* How far the MD5 over a single-part source's bytes got: the state of
 * the MD5 (bg_md5_state) after its first `parts` parts, all uploaded.
 * The object's next record (any state) clears it. */
uint64_t bg_journal_whole(bg_journal *j, int64_t object_id, uint32_t parts,
			  const unsigned char state[16]);

/* Deletes an object's row and its parts: its key is no longer part of the
 * copy (not listed at the source any more) and its uploads were aborted. */
uint64_t bg_journal_drop_object(bg_journal *j, int64_t object_id);

/* An error event (a retry that gave up, a failed object, an abort that
 * failed), kept in the errors table with the time and the current run. */
uint64_t bg_journal_error(bg_journal *j, int64_t object_id, const char *key, const char *msg);

/* The current run's running totals (the runs row is updated with them),
 * queued like the rest; the loop sends them every few hundred ms, so a run
 * killed with -9 still shows about what it read and wrote. */
uint64_t bg_journal_run_progress(bg_journal *j, const bg_jtotals *t);

/* The highest sequence number whose transaction has committed. */
uint64_t bg_journal_committed(bg_journal *j);

/* Non-zero when the writer hit an error (disk full, I/O error, the file
 * replaced): st gets the message; the copy must stop. */
int bg_journal_error_state(bg_journal *j, bg_status *st);

/* ---- audits (schema version 2; barge audit) -------------------------- */

/* An audit's start: where, and with what options (no secrets). */
typedef struct bg_jaudit_begin {
	const char *src, *dst;  /* locations as for runs (scheme://bucket[/prefix]) */
	const bg_jident *src_id, *dst_id; /* the endpoints audited; NULL: not checked */
	const char *options;    /* the audit's options as a JSON object, or NULL */
	bool deep;
	double sample;          /* fraction re-read; < 0: no sampling (NULL) */
	bool has_seed;
	uint64_t seed;          /* the sampling seed, when has_seed */
} bg_jaudit_begin;

/* Starts an audit (a row in `audits`) and returns its id in *audit_id.
 * The journal must be open for writing (an audit migrates a version-1
 * journal to version 2).  If the journal records a copy (its meta src and
 * dst), the audit must name the same locations, else BG_E_CONFIG ("journal
 * P records the copy A -> B, not C -> D ..."), and the same identities
 * where the journal records them (an audit adopts none).  Synchronous. */
bg_err bg_journal_begin_audit(bg_journal *j, const bg_jaudit_begin *a, int64_t *audit_id,
			      bg_status *st);

/* One finding of the current audit (a row in `audit_findings`).  Strings
 * may be NULL (stored as NULL; key as "") and are copied before the call
 * returns; detail is shortened to 511 bytes.  Queued and group-committed
 * like the copy's records: returns the sequence number, or 0 when the
 * journal has failed. */
typedef struct bg_jfinding {
	const char *kind;       /* "missing", "size_mismatch", ... (docs/audit.md) */
	const char *key;        /* key relative to the locations' prefixes */
	const char *detail;     /* one line for a human */
	int64_t src_size, dst_size; /* -1: unknown (NULL) */
	const char *src_etag, *dst_etag;
	uint32_t part_number;   /* 0: not about one part (NULL) */
} bg_jfinding;
uint64_t bg_journal_finding(bg_journal *j, const bg_jfinding *f);

/* The end of the current audit: flushes its findings, then records the
 * totals and the exit code (0 clean, 1 findings, 2 error with `error`).
 * Synchronous. */
typedef struct bg_jaudit_end {
	uint64_t objects_checked;  /* keys looked at (either side) */
	uint64_t objects_reread;   /* objects re-read by a deep audit */
	uint64_t bytes_reread;
	uint64_t findings;
	uint64_t not_comparable;   /* ETags that could not be compared */
	int exit_code;
	const char *error;         /* what prevented the audit, or NULL */
} bg_jaudit_end;
bg_err bg_journal_end_audit(bg_journal *j, const bg_jaudit_end *e, bg_status *st);

/* bg_journal_lookup plus the object's xxh3 (hex; "" when NULL): 1 found,
 * 0 not journaled, -1 error (st set).  Read connection, committed rows. */
int bg_journal_audit_lookup(bg_journal *j, const char *key, bg_jobject *out, char xxh3[65],
			    bg_status *st);

/* ---- status --------------------------------------------------------- */

/* `barge status JOURNAL [--json]`: opens read-only (works while a copy is
 * writing) and prints objects and bytes done, in progress, failed (with
 * each failure's key and reason), the runs.  0, or -1 with st set. */
int bg_journal_print_status(const char *path, bool json, FILE *out, bg_status *st);

#endif
