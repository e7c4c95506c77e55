/* test_journal.c - journal/journal.c: what goes through the queue comes back
 * after a reopen, refusals leave the file as it was, the writer keeps up
 * with a fast producer, and a writer error stops the journal without
 * blocking anyone.  Everything happens in a fresh directory under /tmp. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "journal.h"

static char dir[64];

/* The endpoints of the runs below. */
static const bg_jident SRC_ID = { "http://127.0.0.1:9000", "us-east-1", "AKIDSRC" };
static const bg_jident DST_ID = { "https://acct.r2.cloudflarestorage.com", "auto", "R2KEY" };

static void path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

/* Whole file into a malloc'd buffer; NULL (and *n = 0) if missing. */
static unsigned char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b;
	long len;

	*n = 0;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)len + 1);
	if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
		free(b);
		b = NULL;
	}
	fclose(f);
	*n = b ? (size_t)len : 0;
	return b;
}

static void spit(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");

	CHECK(f != NULL);
	if (!f)
		return;
	CHECK(fwrite(data, 1, n, f) == n);
	fclose(f);
}

/* One integer from a query run by a separate sqlite3 connection. */
static long long q_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long long v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	else
		fprintf(stderr, "query %s: %s\n", sql, db ? sqlite3_errmsg(db) : "?");
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static bg_journal *jopen(const char *path, unsigned flags)
{
	bg_journal *j = NULL;
	bg_status st = { 0 };

	if (bg_journal_open(&j, path, flags, BG_JSYNC_NORMAL, &st) != BG_OK) {
		fprintf(stderr, "open %s: %s\n", path, st.msg);
		check_failures++;
		return NULL;
	}
	return j;
}

static void jclose(bg_journal *j)
{
	bg_status st = { 0 };

	if (bg_journal_close(j, &st) != BG_OK) {
		fprintf(stderr, "close: %s\n", st.msg);
		check_failures++;
	}
}

static void fill_part(bg_jpart *p, uint32_t n, uint64_t psize)
{
	memset(p, 0, sizeof(*p));
	p->number = n;
	p->offset = (n - 1) * psize;
	p->length = psize;
	for (int i = 0; i < 16; i++)
		p->xxh3[i] = (unsigned char)(n * 16 + (unsigned)i);
	snprintf(p->etag, sizeof(p->etag), "etag-%u", n);
	p->crc32c = 0xdeadbeefu ^ n;
}

struct got {
	unsigned n;
	bg_jpart p[8];
};

static void on_part(void *ctx, const bg_jpart *p)
{
	struct got *g = ctx;

	if (g->n < 8)
		g->p[g->n] = *p;
	g->n++;
}

/* Waits (at most a few seconds) for the writer to commit seq. */
static void wait_committed(bg_journal *j, uint64_t seq)
{
	for (int i = 0; i < 5000 && bg_journal_committed(j) < seq; i++) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	CHECK(bg_journal_committed(j) >= seq);
}

static void test_roundtrip(void)
{
	char path[128], src[64], dst[64], opts[64];
	bg_journal *j;
	bg_status st = { 0 };
	struct stat sb;
	bg_jobject o;
	bg_jpart p;
	struct got g;
	int64_t id1, id2;
	uint64_t seq, last;
	const char *weird = "dir/\"quoted\" \\ back\ttab \xc3\xa9";

	path_of(path, sizeof(path), "round.journal");
	j = jopen(path, BG_J_CREATE);
	if (!j)
		return;
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	CHECK_INT(bg_journal_locations(j, src, sizeof(src), dst, sizeof(dst), opts, sizeof(opts),
				       &st), 1);
	CHECK_INT(bg_journal_begin_run(j, "s3://src/pre", "r2://dst", &SRC_ID, &DST_ID, "{\"concurrency\":8}", &st),
		  BG_OK);
	CHECK(bg_journal_committed(j) > 0);
	/* -wal and -shm are not readable by others either */
	{
		char side[160];

		snprintf(side, sizeof(side), "%s-wal", path);
		CHECK(stat(side, &sb) == 0 && (sb.st_mode & 0077) == 0);
		snprintf(side, sizeof(side), "%s-shm", path);
		CHECK(stat(side, &sb) == 0 && (sb.st_mode & 0077) == 0);
	}

	id1 = bg_journal_new_id(j);
	id2 = bg_journal_new_id(j);
	CHECK(id1 > 0 && id2 == id1 + 1);
	bg_jobject_rec r1 = { .id = id1, .key = "a/big.bin", .dst_key = "pre/a/big.bin",
			      .size = 3u << 20, .src_etag = "abc-3",
			      .last_modified = "2024-01-01T00:00:00.000Z", .part_size = 1u << 20,
			      .nparts = 3, .same_layout = true, .upload_id = "UPLOAD-1",
			      .state = BG_JS_UPLOADING };
	bg_jobject_rec r2 = { .id = id2, .key = weird, .size = 5, .src_etag = "e5",
			      .state = BG_JS_FAILED, .error = "R2 said no: \"InvalidDigest\"" };
	CHECK(bg_journal_object(j, &r1) > 0);
	CHECK(bg_journal_object(j, &r2) > 0);
	fill_part(&p, 1, 1u << 20);
	CHECK(bg_journal_part(j, id1, &p, true, 1) > 0);
	fill_part(&p, 2, 1u << 20);
	CHECK(bg_journal_part(j, id1, &p, true, 2) > 0);
	CHECK(bg_journal_part(j, id1, &p, true, 3) > 0); /* attempts add up: 5 */
	fill_part(&p, 3, 1u << 20);
	CHECK(bg_journal_part(j, id1, &p, true, 1) > 0);
	CHECK(bg_journal_part(j, id1, &p, false, 1) > 0); /* 3 is pending again */
	CHECK(bg_journal_error(j, id2, weird, "gave up after 5 attempts") > 0);
	seq = bg_journal_error(j, 0, NULL, "an error with no object");
	CHECK(seq > 0);
	wait_committed(j, seq);

	/* committed rows are visible to lookup before close */
	CHECK_INT(bg_journal_lookup(j, "a/big.bin", &o, &st), 1);
	CHECK_INT(bg_journal_lookup(j, "nope", &o, &st), 0);

	/* a second journal object with the same key replaces the first */
	int64_t id3 = bg_journal_new_id(j);
	bg_jobject_rec r3 = { .id = id3, .key = "dup", .size = 1, .state = BG_JS_CREATING };
	bg_jobject_rec r4 = r3;
	r4.id = bg_journal_new_id(j);
	r4.state = BG_JS_DONE;
	CHECK(bg_journal_object(j, &r3) > 0);
	fill_part(&p, 1, 1);
	CHECK(bg_journal_part(j, id3, &p, true, 1) > 0);
	CHECK(bg_journal_object(j, &r4) > 0);
	last = bg_journal_run_progress(j, &(bg_jtotals){ .bytes_written = 42, .retries = 2 });
	CHECK(last > seq);
	bg_jtotals t = { .objects_done = 1, .bytes_done = 1, .objects_failed = 1,
			 .bytes_written = 77 };
	CHECK_INT(bg_journal_end_run(j, 1, &t, &st), BG_OK);
	CHECK_INT(q_int(path, "SELECT retries FROM runs WHERE id = 1"), 0);
	CHECK(bg_journal_committed(j) > last);
	CHECK_INT(bg_journal_error_state(j, &st), 0);
	jclose(j);

	/* the close checkpointed: no -wal left */
	{
		char side[160];

		snprintf(side, sizeof(side), "%s-wal", path);
		CHECK(access(side, F_OK) != 0);
	}

	j = jopen(path, 0);
	if (!j)
		return;
	CHECK(bg_journal_new_id(j) > r4.id);
	CHECK_INT(bg_journal_lookup(j, "a/big.bin", &o, &st), 1);
	CHECK_INT(o.id, id1);
	CHECK_INT(o.state, BG_JS_UPLOADING);
	CHECK_INT(o.size, 3u << 20);
	CHECK_STR(o.src_etag, "abc-3");
	CHECK_INT(o.part_size, 1u << 20);
	CHECK_INT(o.nparts, 3);
	CHECK(o.same_layout);
	CHECK_STR(o.upload_id, "UPLOAD-1");
	CHECK_STR(o.dst_etag, "");
	CHECK_INT(bg_journal_lookup(j, weird, &o, &st), 1);
	CHECK_INT(o.id, id2);
	CHECK_INT(o.state, BG_JS_FAILED);
	CHECK_INT(bg_journal_lookup(j, "dup", &o, &st), 1);
	CHECK_INT(o.id, r4.id);
	CHECK_INT(o.state, BG_JS_DONE);

	memset(&g, 0, sizeof(g));
	CHECK_INT(bg_journal_load_parts(j, id1, on_part, &g, &st), 0);
	CHECK_INT(g.n, 2); /* part 3 is pending */
	for (unsigned i = 0; i < 2 && i < g.n; i++) {
		bg_jpart want;

		fill_part(&want, i + 1, 1u << 20);
		CHECK_INT(g.p[i].number, want.number);
		CHECK_INT(g.p[i].offset, want.offset);
		CHECK_INT(g.p[i].length, want.length);
		CHECK(memcmp(g.p[i].xxh3, want.xxh3, 16) == 0);
		CHECK_STR(g.p[i].etag, want.etag);
		CHECK_INT(g.p[i].crc32c, want.crc32c);
	}
	memset(&g, 0, sizeof(g));
	CHECK_INT(bg_journal_load_parts(j, id3, on_part, &g, &st), 0);
	CHECK_INT(g.n, 0); /* the replaced row's parts went with it */

	CHECK_INT(bg_journal_locations(j, src, sizeof(src), dst, sizeof(dst), opts, sizeof(opts),
				       &st), 0);
	CHECK_STR(src, "s3://src/pre");
	CHECK_STR(dst, "r2://dst");
	CHECK_STR(opts, "{\"concurrency\":8}");

	/* another source or destination is refused; the same is a new run */
	st.code = BG_OK;
	CHECK_INT(bg_journal_begin_run(j, "s3://other", "r2://dst", &SRC_ID, &DST_ID, "{}", &st), BG_E_CONFIG);
	CHECK(strstr(st.msg, path) != NULL);
	CHECK(strstr(st.msg, "s3://src/pre") != NULL);
	CHECK_INT(bg_journal_begin_run(j, "s3://src/pre", "r2://dst2", &SRC_ID, &DST_ID, "{}", &st), BG_E_CONFIG);
	CHECK_INT(bg_journal_begin_run(j, "s3://src/pre", "r2://dst", &SRC_ID, &DST_ID, "{}", &st), BG_OK);
	wait_committed(j, bg_journal_run_progress(j, &(bg_jtotals){ .retries = 3 }));
	CHECK_INT(bg_journal_end_run(j, 0, NULL, &st), BG_OK); /* keeps the totals */
	CHECK_INT(q_int(path, "SELECT retries FROM runs WHERE id = 2"), 3);
	CHECK_INT(q_int(path, "SELECT exit_code FROM runs WHERE id = 2"), 0);
	/* forget_parts */
	seq = bg_journal_forget_parts(j, id1);
	CHECK(seq > 0);
	wait_committed(j, seq);
	memset(&g, 0, sizeof(g));
	CHECK_INT(bg_journal_load_parts(j, id1, on_part, &g, &st), 0);
	CHECK_INT(g.n, 0);
	jclose(j);

	CHECK_INT(q_int(path, "SELECT count(*) FROM runs"), 2);
	CHECK_INT(q_int(path, "SELECT exit_code FROM runs WHERE id = 1"), 1);
	CHECK_INT(q_int(path, "SELECT bytes_written FROM runs WHERE id = 1"), 77);
	CHECK_INT(q_int(path, "SELECT count(*) FROM errors"), 2);
	CHECK_INT(q_int(path, "SELECT count(*) FROM errors WHERE object_id IS NULL"), 1);
	CHECK_INT(q_int(path, "SELECT count(*) FROM objects WHERE key = 'dup'"), 1);
	CHECK_INT(q_int(path, "SELECT objects_failed FROM progress"), 1);
	CHECK_INT(q_int(path, "SELECT objects_in_progress FROM progress"), 1);
	CHECK_INT(q_int(path, "SELECT count(*) FROM failures"), 1);
	CHECK_INT(q_int(path, "PRAGMA application_id"), 0x62617267);
	CHECK_INT(q_int(path, "PRAGMA user_version"), 4);
}

/* Attempts add up across records (and runs). */
static void test_attempts(void)
{
	char path[128];
	bg_journal *j;
	bg_jpart p;
	int64_t id;

	path_of(path, sizeof(path), "attempts.journal");
	j = jopen(path, BG_J_CREATE);
	if (!j)
		return;
	id = bg_journal_new_id(j);
	bg_jobject_rec r = { .id = id, .key = "k", .size = 2, .state = BG_JS_UPLOADING };
	bg_journal_object(j, &r);
	fill_part(&p, 1, 1);
	bg_journal_part(j, id, &p, false, 2);
	bg_journal_part(j, id, &p, true, 3);
	jclose(j);
	j = jopen(path, 0);
	if (!j)
		return;
	bg_journal_part(j, id, &p, true, 4);
	jclose(j);
	CHECK_INT(q_int(path, "SELECT attempts FROM parts WHERE number = 1"), 9);
	CHECK_INT(q_int(path, "SELECT state = 'uploaded' FROM parts WHERE number = 1"), 1);
}

/* The MD5 state of a single-part source copied in parts comes back from
 * lookup as written, and the object's next record clears it; also after
 * the journal was closed and opened again. */
static void test_whole(void)
{
	char path[128];
	bg_journal *j;
	bg_jobject o;
	bg_status st = { 0 };
	unsigned char state[16];
	int64_t id;

	for (int i = 0; i < 16; i++)
		state[i] = (unsigned char)(0xf0 + i);
	path_of(path, sizeof(path), "whole.journal");
	j = jopen(path, BG_J_CREATE);
	if (!j)
		return;
	id = bg_journal_new_id(j);
	bg_jobject_rec r = { .id = id, .key = "w", .size = 3, .state = BG_JS_UPLOADING,
			     .part_size = 1, .nparts = 3 };
	bg_journal_object(j, &r);
	bg_journal_whole(j, id, 2, state);
	jclose(j);
	j = jopen(path, 0);
	if (!j)
		return;
	CHECK_INT(bg_journal_lookup(j, "w", &o, &st), 1);
	CHECK_INT(o.whole_parts, 2);
	CHECK(memcmp(o.whole_state, state, 16) == 0);
	bg_journal_object(j, &r);
	jclose(j);
	CHECK_INT(q_int(path, "SELECT whole_parts FROM objects WHERE key = 'w'"), 0);
	CHECK_INT(q_int(path, "SELECT whole_md5 IS NULL FROM objects WHERE key = 'w'"), 1);
}

/* One begin_run on a journal opened for it; its result, message in st. */
static bg_err begin_with(const char *path, const bg_jident *src, const bg_jident *dst,
			 bg_status *st)
{
	bg_journal *j = jopen(path, BG_J_CREATE);
	bg_err e;

	if (!j)
		return BG_E_INTERNAL;
	e = bg_journal_begin_run(j, "s3://a", "r2://b", src, dst, NULL, st);
	if (!e)
		bg_journal_end_run(j, 0, NULL, st);
	jclose(j);
	return e;
}

/* The endpoints a journal belongs to: recorded by the first run, and a
 * later run (or audit) at another endpoint, region or access key refused
 * with both named; a journal without them (an older barge's) adopts the
 * next run's. */
static void test_identity(void)
{
	static const bg_jident staging = { "http://localhost:9000", "auto", "R2KEY" };
	static const bg_jident other_key = { "https://acct.r2.cloudflarestorage.com", "auto",
					     "OTHERKEY" };
	static const bg_jident other_region = { "https://acct.r2.cloudflarestorage.com", "eu",
						"R2KEY" };
	static const bg_jident local = { "local", "", "" };
	char path[128];
	bg_status st = { 0 };
	bg_journal *j;
	int64_t aid;

	path_of(path, sizeof(path), "ident.journal");
	CHECK_INT(begin_with(path, &SRC_ID, &DST_ID, &st), BG_OK);
	CHECK_INT(q_int(path, "SELECT count(*) FROM meta WHERE key = 'dst_endpoint' AND"
			" value = 'https://acct.r2.cloudflarestorage.com'"), 1);
	CHECK_INT(q_int(path, "SELECT count(*) FROM meta WHERE key = 'src_key_id' AND"
			" value = 'AKIDSRC'"), 1);
	CHECK_INT(begin_with(path, &SRC_ID, &DST_ID, &st), BG_OK);
	CHECK_INT(begin_with(path, &SRC_ID, &staging, &st), BG_E_CONFIG);
	CHECK(strstr(st.msg, "destination r2://b at https://acct.r2.cloudflarestorage.com "
		      "(region auto, access key R2KEY), not at http://localhost:9000 (region auto, "
		      "access key R2KEY)") != NULL);
	CHECK(strstr(st.msg, "give another --journal path") != NULL);
	CHECK_INT(begin_with(path, &SRC_ID, &other_key, &st), BG_E_CONFIG);
	CHECK(strstr(st.msg, "OTHERKEY") != NULL);
	CHECK_INT(begin_with(path, &SRC_ID, &other_region, &st), BG_E_CONFIG);
	CHECK_INT(begin_with(path, &local, &DST_ID, &st), BG_E_CONFIG);
	CHECK(strstr(st.msg, "source s3://a") != NULL && strstr(st.msg, "a local path") != NULL);
	CHECK_INT(q_int(path, "SELECT count(*) FROM runs"), 2);
	/* audits: checked where given */
	j = jopen(path, 0);
	if (j) {
		bg_jaudit_begin a = { .src = "s3://a", .dst = "r2://b", .sample = -1,
				      .src_id = &SRC_ID, .dst_id = &staging };
		CHECK_INT(bg_journal_begin_audit(j, &a, &aid, &st), BG_E_CONFIG);
		CHECK(strstr(st.msg, "audit with the endpoints") != NULL);
		a.dst_id = &DST_ID;
		CHECK_INT(bg_journal_begin_audit(j, &a, &aid, &st), BG_OK);
		jclose(j);
	}
	/* a journal of a barge that recorded none adopts the next run's */
	{
		sqlite3 *db = NULL;

		CHECK(sqlite3_open(path, &db) == SQLITE_OK);
		CHECK(sqlite3_exec(db, "DELETE FROM meta WHERE key LIKE '%\\_endpoint' ESCAPE '\\'"
				   " OR key LIKE '%\\_region' ESCAPE '\\' OR key LIKE"
				   " '%\\_key\\_id' ESCAPE '\\'", NULL, NULL, NULL) == SQLITE_OK);
		sqlite3_close(db);
	}
	CHECK_INT(q_int(path, "SELECT count(*) FROM meta WHERE key LIKE 'dst%'"), 1);
	CHECK_INT(begin_with(path, &SRC_ID, &staging, &st), BG_OK);
	CHECK_INT(q_int(path, "SELECT count(*) FROM meta WHERE key = 'dst_endpoint' AND"
			" value = 'http://localhost:9000'"), 1);
	CHECK_INT(begin_with(path, &SRC_ID, &DST_ID, &st), BG_E_CONFIG);
	CHECK_INT(q_int(path, "SELECT count(*) FROM runs"), 3);
}

/* runs_summary names the outcome of every exit code barge records. */
static void test_outcomes(void)
{
	static const struct {
		int code;
		const char *outcome;
	} want[] = { { 0, "ok" }, { 1, "some objects failed" }, { 2, "error" },
		     { 75, "temporary" }, { 130, "interrupted (SIGINT)" },
		     { 143, "interrupted (SIGTERM)" } };
	char path[128], sql[160];
	bg_status st = { 0 };
	bg_journal *j;

	path_of(path, sizeof(path), "outcomes.journal");
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		j = jopen(path, BG_J_CREATE);
		if (!j)
			return;
		CHECK_INT(bg_journal_begin_run(j, "s3://a", "r2://b", &SRC_ID, &DST_ID, NULL, &st), BG_OK);
		CHECK_INT(bg_journal_end_run(j, want[i].code, NULL, &st), BG_OK);
		jclose(j);
		snprintf(sql, sizeof(sql), "SELECT outcome = '%s' FROM runs_summary WHERE id = %zu",
			 want[i].outcome, i + 1);
		CHECK_INT(q_int(path, sql), 1);
		snprintf(sql, sizeof(sql), "SELECT exit_code FROM runs WHERE id = %zu", i + 1);
		CHECK_INT(q_int(path, sql), want[i].code);
	}
}

/* Opens path every way; each must fail with a message naming it, and the
 * file must be byte for byte what it was. */
static void refused(const char *path, const char *why)
{
	static const unsigned flags[] = { 0, BG_J_CREATE, BG_J_READONLY };
	size_t n0, n1;
	unsigned char *before = slurp(path, &n0), *after;

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		bg_journal *j = NULL;
		bg_status st = { 0 };
		bg_err e = bg_journal_open(&j, path, flags[i], BG_JSYNC_NORMAL, &st);

		if (e == BG_OK) {
			fprintf(stderr, "%s (%s): opened with flags %u\n", path, why, flags[i]);
			check_failures++;
			bg_journal_close(j, NULL);
			continue;
		}
		CHECK(j == NULL);
		CHECK(e == BG_E_CONFIG || e == BG_E_IO);
		CHECK_INT(st.code, e);
		if (!strstr(st.msg, path)) {
			fprintf(stderr, "%s: message does not name the file: %s\n", why, st.msg);
			check_failures++;
		}
		if (strchr(st.msg, '\n'))
			check_failures++;
	}
	after = slurp(path, &n1);
	if (n0 != n1 || (n0 && memcmp(before, after, n0) != 0)) {
		fprintf(stderr, "%s (%s): the file changed (%zu -> %zu bytes)\n", path, why, n0,
			n1);
		check_failures++;
	}
	free(before);
	free(after);
}

/* A real journal with some rows, closed. */
static void make_journal(const char *path, int nobj)
{
	bg_journal *j = jopen(path, BG_J_CREATE);
	bg_status st = { 0 };

	if (!j)
		return;
	CHECK_INT(bg_journal_begin_run(j, "s3://a", "r2://b", &SRC_ID, &DST_ID, "{}", &st), BG_OK);
	for (int i = 0; i < nobj; i++) {
		char key[64];
		bg_jobject_rec r = { .id = bg_journal_new_id(j), .key = key, .size = 100,
				     .state = BG_JS_DONE,
				     .error = "padding padding padding padding padding" };

		snprintf(key, sizeof(key), "some/prefix/object-%06d", i);
		bg_journal_object(j, &r);
	}
	jclose(j);
}

/* A version-1 journal (made by turning a fresh one back into v1: the
 * audit tables gone, the views of version 1, user_version 1) opens, is
 * migrated to 2 and 3, and keeps its rows; then an audit and its findings
 * are recorded. */
static void test_migrate_v1_and_audit(void)
{
	char path[128], xxh[65];
	sqlite3 *db = NULL;
	bg_journal *j;
	bg_status st = { 0 };
	bg_jobject o;
	int64_t aid = 0;

	path_of(path, sizeof(path), "v1.journal");
	make_journal(path, 3);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "DROP VIEW audits_summary; DROP TABLE audit_findings;"
			   " DROP TABLE audits; ALTER TABLE objects DROP COLUMN whole_parts;"
			   " ALTER TABLE objects DROP COLUMN whole_md5; DELETE FROM meta WHERE key IN"
			   " ('schema_v2_at', 'schema_v3_at', 'schema_v4_at'); PRAGMA user_version = 1",
			   NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	CHECK_INT(q_int(path, "PRAGMA user_version"), 1);

	/* read-only: read as it is, not migrated */
	j = jopen(path, BG_J_READONLY);
	if (j)
		jclose(j);
	CHECK_INT(q_int(path, "PRAGMA user_version"), 1);

	j = jopen(path, 0);
	if (!j)
		return;
	CHECK_INT(q_int(path, "PRAGMA user_version"), 4);
	CHECK_INT(q_int(path, "SELECT count(*) FROM objects"), 3);
	CHECK_INT(q_int(path, "SELECT count(*) FROM meta WHERE key = 'schema_v2_at'"), 1);
	CHECK_INT(q_int(path, "SELECT count(*) FROM meta WHERE key = 'schema_v3_at'"), 1);
	CHECK_INT(q_int(path, "SELECT count(*) FROM meta WHERE key = 'schema_v4_at'"), 1);
	CHECK_INT(q_int(path, "SELECT count(*) FROM objects WHERE whole_parts = 0"), 3);
	CHECK_INT(q_int(path, "SELECT count(*) FROM audits"), 0);

	CHECK_INT(bg_journal_audit_lookup(j, "some/prefix/object-000001", &o, xxh, &st), 1);
	CHECK_INT(o.size, 100);
	CHECK_STR(xxh, "");
	CHECK_INT(bg_journal_audit_lookup(j, "nope", &o, xxh, &st), 0);

	/* another pair of locations is refused */
	bg_jaudit_begin wrong = { .src = "s3://x", .dst = "r2://b", .sample = -1 };
	CHECK_INT(bg_journal_begin_audit(j, &wrong, &aid, &st), BG_E_CONFIG);
	CHECK(strstr(st.msg, "records the copy s3://a -> r2://b") != NULL);

	bg_jaudit_begin a = { .src = "s3://a", .dst = "r2://b", .options = "{\"deep\": true}",
			      .deep = true, .sample = 0.25, .has_seed = true, .seed = 42 };
	CHECK_INT(bg_journal_begin_audit(j, &a, &aid, &st), BG_OK);
	CHECK_INT(aid, 1);
	bg_jfinding f1 = { .kind = "missing", .key = "k1", .detail = "not on the destination",
			   .src_size = 10, .dst_size = -1, .src_etag = "abc" };
	bg_jfinding f2 = { .kind = "part_mismatch", .key = "k2", .detail = "part 3",
			   .src_size = 30, .dst_size = 30, .part_number = 3 };
	CHECK(bg_journal_finding(j, &f1) > 0);
	CHECK(bg_journal_finding(j, &f2) > 0);
	bg_jaudit_end e = { .objects_checked = 7, .objects_reread = 2, .bytes_reread = 60,
			    .findings = 2, .not_comparable = 1, .exit_code = 1 };
	CHECK_INT(bg_journal_end_audit(j, &e, &st), BG_OK);
	/* a second audit gets the next id */
	CHECK_INT(bg_journal_begin_audit(j, &a, &aid, &st), BG_OK);
	CHECK_INT(aid, 2);
	bg_jaudit_end e2 = { .exit_code = 2, .error = "listing failed" };
	CHECK_INT(bg_journal_end_audit(j, &e2, &st), BG_OK);
	jclose(j);

	CHECK_INT(q_int(path, "SELECT count(*) FROM audits"), 2);
	CHECK_INT(q_int(path, "SELECT count(*) FROM audit_findings WHERE audit_id = 1"), 2);
	CHECK_INT(q_int(path, "SELECT part_number FROM audit_findings WHERE key = 'k2'"), 3);
	CHECK_INT(q_int(path, "SELECT dst_size IS NULL FROM audit_findings WHERE key = 'k1'"), 1);
	CHECK_INT(q_int(path, "SELECT seed FROM audits WHERE id = 1"), 42);
	CHECK_INT(q_int(path, "SELECT sample * 100 FROM audits WHERE id = 1"), 25);
	CHECK_INT(q_int(path, "SELECT exit_code FROM audits WHERE id = 1"), 1);
	CHECK_INT(q_int(path, "SELECT objects_reread FROM audits WHERE id = 1"), 2);
	CHECK_INT(q_int(path, "SELECT error = 'listing failed' FROM audits WHERE id = 2"), 1);
	CHECK_INT(q_int(path, "SELECT count(*) FROM audits_summary WHERE outcome = 'findings'"), 1);
}

static void test_refusals(void)
{
	char path[128], real[128];
	unsigned char *b;
	size_t n;
	sqlite3 *db;

	path_of(path, sizeof(path), "text.journal");
	spit(path, "hello, I am not a database\n", 27);
	refused(path, "a text file");

	path_of(path, sizeof(path), "empty.journal");
	spit(path, "", 0);
	refused(path, "a 0-byte file");

	path_of(real, sizeof(real), "real.journal");
	make_journal(real, 2000);
	b = slurp(real, &n);
	CHECK(b && n > 8192);
	path_of(path, sizeof(path), "trunc100.journal");
	spit(path, b, 100);
	refused(path, "first 100 bytes of a journal");
	path_of(path, sizeof(path), "trunchalf.journal");
	spit(path, b, n / 2 + 100);
	refused(path, "a journal cut in the middle of a page");
	if (b && n > 8192) {
		/* garbage over the b-tree pages after the first ones */
		for (size_t i = 3 * 4096; i < n; i += 7)
			b[i] = (unsigned char)(i * 131);
		path_of(path, sizeof(path), "corrupt.journal");
		spit(path, b, n);
		refused(path, "a journal with damaged pages");
	}
	free(b);

	path_of(path, sizeof(path), "foreign.db");
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1);", NULL, NULL,
			   NULL) == SQLITE_OK);
	sqlite3_close(db);
	refused(path, "another program's SQLite database");

	path_of(path, sizeof(path), "newer.journal");
	make_journal(path, 1);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "PRAGMA user_version = 5", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	refused(path, "a journal of a newer schema");

	/* missing, without BG_J_CREATE */
	{
		bg_journal *j = NULL;
		bg_status st = { 0 };

		path_of(path, sizeof(path), "missing.journal");
		CHECK_INT(bg_journal_open(&j, path, 0, BG_JSYNC_NORMAL, &st), BG_E_CONFIG);
		CHECK(strstr(st.msg, "does not exist") != NULL);
		CHECK(access(path, F_OK) != 0);
		CHECK_INT(bg_journal_open(&j, path, BG_J_READONLY, BG_JSYNC_NORMAL, &st),
			  BG_E_CONFIG);
		CHECK(access(path, F_OK) != 0);
	}
	/* a directory that does not exist; one where nothing can be created
	 * (root passes access(W_OK) on a 0555 directory, so /proc stands in) */
	{
		bg_journal *j = NULL;
		bg_status st = { 0 };

		path_of(path, sizeof(path), "no/such/dir/x.journal");
		CHECK(bg_journal_open(&j, path, BG_J_CREATE, BG_JSYNC_NORMAL, &st) != BG_OK);
		CHECK(strstr(st.msg, "not writable") != NULL);
		CHECK(bg_journal_open(&j, "/proc/barge-test.journal", BG_J_CREATE,
				      BG_JSYNC_NORMAL, &st) != BG_OK);
		CHECK(strstr(st.msg, "/proc") != NULL);
		CHECK(bg_journal_open(&j, dir, BG_J_CREATE, BG_JSYNC_NORMAL, &st) == BG_E_CONFIG);
		CHECK(strstr(st.msg, "not a regular file") != NULL);
	}
	/* the real one still opens, read-only and read-write */
	{
		bg_journal *j = jopen(real, BG_J_READONLY);

		if (j) {
			bg_jobject o;
			bg_status st = { 0 };

			CHECK_INT(bg_journal_lookup(j, "some/prefix/object-000007", &o, &st), 1);
			CHECK_INT(bg_journal_object(j, &(bg_jobject_rec){ .id = 1, .key = "x",
								.state = BG_JS_DONE }), 0);
			CHECK_INT(bg_journal_error_state(j, &st), 0);
			jclose(j);
		}
		j = jopen(real, 0);
		/* a second writer is turned away while the first holds it */
		if (j) {
			bg_journal *j2 = NULL;
			bg_status st = { 0 };

			CHECK_INT(bg_journal_open(&j2, real, 0, BG_JSYNC_NORMAL, &st), BG_E_BUSY);
			CHECK(strstr(st.msg, "in use") != NULL);
			jclose(j);
		}
	}
}

/* 20,000 object and 20,000 part records queued as fast as the loop can:
 * the ring fills, the producer waits, nothing is lost. */
static void test_many(void)
{
	char path[128];
	bg_journal *j;
	uint64_t seq = 0, prev = 0;
	bool monotonic = true;

	path_of(path, sizeof(path), "many.journal");
	j = jopen(path, BG_J_CREATE);
	if (!j)
		return;
	for (int i = 0; i < 20000; i++) {
		char key[BG_KEY_MAX + 1];
		bg_jpart p;
		int64_t id = bg_journal_new_id(j);

		/* long keys so the string arena wraps too */
		snprintf(key, sizeof(key), "%0*d", 200 + i % 800, i);
		bg_jobject_rec r = { .id = id, .key = key, .dst_key = key, .size = 1u << 20,
				     .state = BG_JS_UPLOADING, .upload_id = key };
		seq = bg_journal_object(j, &r);
		monotonic &= seq == prev + 1;
		fill_part(&p, 1, 1u << 20);
		prev = bg_journal_part(j, id, &p, true, 1);
		monotonic &= prev == seq + 1;
	}
	CHECK(monotonic);
	CHECK_INT(prev, 40000);
	jclose(j);
	CHECK_INT(q_int(path, "SELECT count(*) FROM objects"), 20000);
	CHECK_INT(q_int(path, "SELECT count(*) FROM parts WHERE state = 'uploaded'"), 20000);
	CHECK_INT(q_int(path, "SELECT count(*) FROM objects WHERE key = dst_key AND key = upload_id"
			      " AND length(key) = 200 + (CAST(key AS INTEGER) % 800)"), 20000);
}

/* A write error (the file size limit standing in for a full disk): the
 * error is kept, later calls return 0 without blocking even with far more
 * records than the ring holds, and close reports it. */
static void test_write_error(void)
{
	char path[128], big[1000];
	bg_journal *j;
	bg_status st = { 0 };
	struct rlimit old, lim;
	int zeros = 0;

	path_of(path, sizeof(path), "full.journal");
	j = jopen(path, BG_J_CREATE);
	if (!j)
		return;
	CHECK_INT(bg_journal_begin_run(j, "s3://a", "r2://b", &SRC_ID, &DST_ID, NULL, &st), BG_OK);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 256 * 1024;
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	for (int i = 0; i < 10000; i++) {
		char key[32];

		snprintf(key, sizeof(key), "k%d", i);
		bg_jobject_rec r = { .id = bg_journal_new_id(j), .key = key, .size = 1,
				     .state = BG_JS_FAILED, .error = big, .dst_key = big };
		if (bg_journal_object(j, &r) == 0)
			zeros++;
	}
	CHECK(zeros > 0);
	CHECK_INT(bg_journal_end_run(j, 0, NULL, &st) != BG_OK, 1);
	CHECK_INT(bg_journal_error_state(j, &st), 1);
	CHECK(strstr(st.msg, path) != NULL);
	CHECK_INT(bg_journal_close(j, &st), BG_E_IO);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	printf("(expected) %s\n", st.msg);
}

/* The journal moved away under a running copy: the writer notices (within
 * a second) and stops. */
static void test_replaced(void)
{
	char path[128], moved[140];
	bg_journal *j;
	bg_status st = { 0 };
	uint64_t seq = 0;

	path_of(path, sizeof(path), "replaced.journal");
	snprintf(moved, sizeof(moved), "%s.moved", path);
	j = jopen(path, BG_J_CREATE);
	if (!j)
		return;
	CHECK_INT(bg_journal_begin_run(j, "s3://a", "r2://b", &SRC_ID, &DST_ID, NULL, &st), BG_OK);
	CHECK(rename(path, moved) == 0);
	for (int i = 0; i < 300 && !bg_journal_error_state(j, &st); i++) {
		struct timespec ts = { 0, 10000000 };
		bg_jobject_rec r = { .id = bg_journal_new_id(j), .key = "k", .state = BG_JS_DONE };

		seq = bg_journal_object(j, &r);
		nanosleep(&ts, NULL);
	}
	CHECK_INT(bg_journal_error_state(j, &st), 1);
	CHECK(strstr(st.msg, "removed or replaced") != NULL);
	CHECK(seq == 0 || bg_journal_committed(j) < seq);
	CHECK(bg_journal_close(j, &st) != BG_OK);
}

/* barge status --json on a live journal and on a closed one. */
static void test_status(void)
{
	char path[128], *out = NULL;
	size_t outlen = 0;
	bg_journal *j;
	bg_status st = { 0 };
	FILE *f;
	int rc;

	path_of(path, sizeof(path), "status.journal");
	j = jopen(path, BG_J_CREATE);
	if (!j)
		return;
	CHECK_INT(bg_journal_begin_run(j, "s3://a \"q\"", "r2://b", &SRC_ID, &DST_ID, "{}", &st), BG_OK);
	bg_jobject_rec r1 = { .id = bg_journal_new_id(j), .key = "ok", .size = 1536,
			      .state = BG_JS_DONE };
	bg_jobject_rec r2 = { .id = bg_journal_new_id(j), .key = "bad\"key\\\n\x01",
			      .size = 10, .state = BG_JS_FAILED, .error = "It \"broke\"" };
	bg_jobject_rec r3 = { .id = bg_journal_new_id(j), .key = "going", .size = 7,
			      .state = BG_JS_UPLOADING };
	bg_journal_object(j, &r1);
	bg_journal_object(j, &r2);
	wait_committed(j, bg_journal_object(j, &r3));

	/* while the writer has it open */
	f = open_memstream(&out, &outlen);
	rc = bg_journal_print_status(path, true, f, &st);
	fclose(f);
	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "status: %s\n", st.msg);
	if (out) {
		CHECK(strstr(out, "\"source\": \"s3://a \\\"q\\\"\"") != NULL);
		CHECK(strstr(out, "\"objects\": {\"done\": 1, \"in_progress\": 1, \"failed\": 1, "
				  "\"total\": 3}") != NULL);
		CHECK(strstr(out, "\"bytes\": {\"done\": 1536, \"in_progress\": 7, \"failed\": 10, "
				  "\"total\": 1553}") != NULL);
		CHECK(strstr(out, "\"key\": \"bad\\\"key\\\\\\n\\u0001\"") != NULL);
		CHECK(strstr(out, "\"error\": \"It \\\"broke\\\"\"") != NULL);
		CHECK(strstr(out, "\"ended_at\": null") != NULL);
		if (check_failures)
			fprintf(stderr, "%s\n", out);
	}
	free(out);
	out = NULL;
	jclose(j);

	f = open_memstream(&out, &outlen);
	rc = bg_journal_print_status(path, false, f, &st);
	fclose(f);
	CHECK_INT(rc, 0);
	if (out) {
		CHECK(strstr(out, "1.5 KiB") != NULL);
		CHECK(strstr(out, "FAILED ") != NULL);
	}
	free(out);

	/* a refusal is an error, not output */
	{
		char bad[128];

		path_of(bad, sizeof(bad), "text.journal");
		out = NULL;
		f = open_memstream(&out, &outlen);
		CHECK_INT(bg_journal_print_status(bad, true, f, &st), -1);
		fclose(f);
		CHECK_INT(outlen, 0);
		free(out);
	}
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/barge-test-journal-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_roundtrip();
	test_attempts();
	test_whole();
	test_outcomes();
	test_identity();
	test_refusals();
	test_migrate_v1_and_audit();
	test_many();
	test_write_error();
	test_replaced();
	test_status();
	if (!check_failures) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	} else {
		fprintf(stderr, "files left in %s\n", dir);
	}
	CHECK_DONE();
}
