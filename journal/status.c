/* status.c - `barge status JOURNAL [--json]`: a journal's summary.
 *
 * Opens the journal read-only (a copy may be writing it: WAL lets both
 * run), reads the progress view, the failed objects and the runs, and
 * writes text for people or one JSON document for programs.  The JSON
 * lists every failure; the text stops after STATUS_TEXT_FAILURES.  Rows
 * are streamed, so a journal with millions of failures costs no memory;
 * if a read fails half-way the output is incomplete and the call returns
 * -1. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "esc.h"
#include "jint.h"
#include "journal.h"

#define STATUS_TEXT_FAILURES 50

static void human(char *buf, size_t cap, uint64_t n)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)n;
	int u = -1;

	if (n < 1024) {
		snprintf(buf, cap, "%" PRIu64 " B", n);
		return;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, cap, "%.1f %s", v, units[u]);
}

static void when(char *buf, size_t cap, double t)
{
	time_t s = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&s, &tm) || !strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, cap, "%.0f", t);
}

static void json_num_or_null(FILE *out, sqlite3_stmt *s, int col, bool real)
{
	if (sqlite3_column_type(s, col) == SQLITE_NULL)
		fputs("null", out);
	else if (real)
		fprintf(out, "%.3f", sqlite3_column_double(s, col));
	else
		fprintf(out, "%lld", (long long)sqlite3_column_int64(s, col));
}

/* What a run's exit code says (docs/output.md). */
static const char *outcome(int code)
{
	switch (code) {
	case 0: return "all done";
	case 1: return "some objects failed";
	case 75: return "temporary: journal in use or endpoints unreachable";
	case 130: return "interrupted by Ctrl-C";
	case 143: return "interrupted by SIGTERM";
	default: return "error";
	}
}

struct counts {
	int64_t n[4], b[4]; /* done, in progress, failed, total */
};

static const char *const count_names[4] = { "done", "in_progress", "failed", "total" };

/* The progress view's counts.  SQLite's result code. */
static int read_counts(sqlite3 *db, struct counts *c)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT objects_done, bytes_done, objects_in_progress,"
				    " bytes_in_progress, objects_failed, bytes_failed, objects_total,"
				    " bytes_total FROM progress", -1, &s, NULL);

	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		for (int i = 0; i < 4; i++) {
			c->n[i] = sqlite3_column_int64(s, 2 * i);
			c->b[i] = sqlite3_column_int64(s, 2 * i + 1);
		}
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	return rc;
}

/* The journal, the copy it records (loc 0: src and dst are known) and the
 * counts; in JSON, up to the opening of the failures' list. */
static void print_head(bg_journal *j, bool json, FILE *out, int loc, const char *src,
		       const char *dst, const struct counts *c)
{
	const char *path = bg_journal_path(j);
	char h[32];

	if (json) {
		fputs("{\"journal\": ", out);
		bg_json_put(out, path);
		fputs(", \"source\": ", out);
		bg_json_put(out, loc == 0 ? src : NULL);
		fputs(", \"destination\": ", out);
		bg_json_put(out, loc == 0 ? dst : NULL);
		if (bg_journal_is_snapshot(j))
			fputs(", \"snapshot\": true", out);
		for (int k = 0; k < 2; k++) {
			fprintf(out, ", \"%s\": {", k ? "bytes" : "objects");
			for (int i = 0; i < 4; i++)
				fprintf(out, "%s\"%s\": %" PRId64, i ? ", " : "", count_names[i],
					k ? c->b[i] : c->n[i]);
			fputc('}', out);
		}
		fputs(", \"failures\": [", out);
		return;
	}
	fputs("journal ", out);
	bg_text_put(out, path);
	fputs(bg_journal_is_snapshot(j) ? " (read as a snapshot)\n" : "\n", out);
	if (loc == 0) {
		fputs("copy    ", out);
		bg_text_put(out, src);
		fputs(" -> ", out);
		bg_text_put(out, dst);
		fputc('\n', out);
	} else {
		fputs("copy    (no run yet)\n", out);
	}
	for (int i = 0; i < 4; i++) {
		human(h, sizeof(h), (uint64_t)c->b[i]);
		fprintf(out, "  %-12s %10" PRId64 " objects  %10s  (%" PRId64 " bytes)\n",
			i == 1 ? "in progress" : count_names[i], c->n[i], h, c->b[i]);
	}
}

/* Every failed object in JSON, the first STATUS_TEXT_FAILURES in text.
 * SQLITE_DONE when all were read. */
static int print_failures(sqlite3 *db, bool json, FILE *out)
{
	sqlite3_stmt *s = NULL;
	int64_t nfail = 0;
	int rc = sqlite3_prepare_v2(db, "SELECT key, error, updated_at FROM objects WHERE state = 4"
				    " ORDER BY updated_at, id", -1, &s, NULL);

	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(s, 0);
		const char *err = (const char *)sqlite3_column_text(s, 1);

		if (json) {
			fputs(nfail ? ", {\"key\": " : "{\"key\": ", out);
			bg_json_put(out, key);
			fputs(", \"error\": ", out);
			bg_json_put(out, err);
			fprintf(out, ", \"at\": %.3f}", sqlite3_column_double(s, 2));
		} else if (nfail < STATUS_TEXT_FAILURES) {
			fputs("FAILED ", out);
			bg_text_put(out, key);
			fputs(": ", out);
			bg_text_put(out, err ? err : "(no reason recorded)");
			fputc('\n', out);
		}
		nfail++;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE && !json && nfail > STATUS_TEXT_FAILURES)
		fprintf(out, "... and %" PRId64 " more (barge status --json lists them all)\n",
			nfail - STATUS_TEXT_FAILURES);
	return rc;
}

/* One run's line of text ("run N started ...") into last. */
static void describe_run(sqlite3_stmt *s, char *last, size_t cap)
{
	char h[32], t[48];

	when(t, sizeof(t), sqlite3_column_double(s, 1));
	human(h, sizeof(h), (uint64_t)sqlite3_column_int64(s, 4));
	if (sqlite3_column_type(s, 2) == SQLITE_NULL) {
		snprintf(last, cap, "run %lld started %s: still running, or stopped without "
			 "finishing (barge resume goes on); %s written",
			 (long long)sqlite3_column_int64(s, 0), t, h);
	} else {
		int code = sqlite3_column_int(s, 3);

		snprintf(last, cap, "run %lld started %s: exited %d (%s); %s written",
			 (long long)sqlite3_column_int64(s, 0), t, code, outcome(code), h);
	}
}

/* Every run in JSON (and the closing of the document); the count and the
 * last run in text.  SQLITE_DONE when all were read. */
static int print_runs(sqlite3 *db, bool json, FILE *out)
{
	sqlite3_stmt *s = NULL;
	char last[256];
	int64_t nruns = 0;
	int rc = sqlite3_prepare_v2(db, "SELECT id, started_at, ended_at, exit_code, bytes_written,"
				    " objects_done FROM runs ORDER BY id", -1, &s, NULL);

	if (json)
		fputs("], \"runs\": [", out);
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		nruns++;
		rc = SQLITE_OK;
		if (!json) {
			describe_run(s, last, sizeof(last)); /* text: only the last run */
			continue;
		}
		fprintf(out, "%s{\"id\": %lld, \"started_at\": %.3f, \"ended_at\": ",
			nruns > 1 ? ", " : "", (long long)sqlite3_column_int64(s, 0),
			sqlite3_column_double(s, 1));
		json_num_or_null(out, s, 2, true);
		fputs(", \"exit_code\": ", out);
		json_num_or_null(out, s, 3, false);
		fprintf(out, ", \"bytes_written\": %lld, \"objects_done\": %lld}",
			(long long)sqlite3_column_int64(s, 4), (long long)sqlite3_column_int64(s, 5));
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return rc;
	if (json)
		fputs("]}\n", out);
	else if (nruns)
		fprintf(out, "runs    %" PRId64 "; last: %s\n", nruns, last);
	else
		fputs("runs    none\n", out);
	return rc;
}

static int print(bg_journal *j, bool json, FILE *out, bg_status *st)
{
	sqlite3 *db = bg_journal_rdb(j);
	const char *path = bg_journal_path(j);
	char src[BG_TOKEN_MAX], dst[BG_TOKEN_MAX];
	struct counts c = { { 0 }, { 0 } };
	int loc = bg_journal_locations(j, src, sizeof(src), dst, sizeof(dst), NULL, 0, st);

	if (loc < 0)
		return -1;
	if (read_counts(db, &c) != SQLITE_OK)
		goto sqlfail;
	print_head(j, json, out, loc, src, dst, &c);
	if (print_failures(db, json, out) != SQLITE_DONE || print_runs(db, json, out) != SQLITE_DONE)
		goto sqlfail;
	if (ferror(out)) {
		bg_fail(st, BG_E_IO, "barge status %s: writing the output failed", path);
		return -1;
	}
	return 0;
sqlfail:
	bg_fail(st, BG_E_IO, "journal %s: reading it failed: %s", path, sqlite3_errmsg(db));
	return -1;
}

int bg_journal_print_status(const char *path, bool json, FILE *out, bg_status *st)
{
	bg_journal *j = NULL;
	int res;

	if (bg_journal_open(&j, path, BG_J_READONLY, BG_JSYNC_NORMAL, st) != BG_OK)
		return -1;
	res = print(j, json, out, st);
	bg_journal_close(j, NULL);
	return res;
}
