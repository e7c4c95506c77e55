/* progress.c - progress bar, JSON lines and summary (see progress.h). */
#include "progress.h"

#include "esc.h"
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

void bg_human_bytes(double b, char *out, size_t cap)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;
	while (b >= 1024 && i < 4) {
		b /= 1024;
		i++;
	}
	snprintf(out, cap, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

void bg_progress_init(bg_progress *p, bg_prog_mode mode, bool dry_run)
{
	memset(p, 0, sizeof(*p));
	p->out = stdout;
	p->err = stderr;
	p->dry_run = dry_run;
	if (mode == BG_PROG_AUTO)
		mode = isatty(STDERR_FILENO) ? BG_PROG_BAR : BG_PROG_NONE;
	p->mode = mode;
}

static double rate(const bg_copy_stats *s)
{
	double secs = (double)s->elapsed_ns / 1e9;
	return secs > 0 ? (double)s->bytes_written / secs : 0;
}

static void tick_json(bg_progress *p, const bg_copy_stats *s)
{
	fprintf(p->out,
		"{\"type\":\"progress\",\"elapsed_s\":%.3f,\"listed_objects\":%" PRIu64
		",\"listed_bytes\":%" PRIu64 ",\"listing_done\":%s,\"done_objects\":%" PRIu64
		",\"done_bytes\":%" PRIu64 ",\"uploaded_bytes\":%" PRIu64
		",\"failed_objects\":%" PRIu64 ",\"bytes_read\":%" PRIu64
		",\"bytes_written\":%" PRIu64 ",\"retries\":%" PRIu64 ",\"rate_bps\":%.0f}\n",
		(double)s->elapsed_ns / 1e9, s->listed_objects, s->listed_bytes,
		s->listing_done ? "true" : "false", s->done_objects, s->done_bytes, s->parts_bytes,
		s->failed_objects, s->bytes_read, s->bytes_written, s->retries, rate(s));
	fflush(p->out);
}

uint64_t bg_progress_bytes(const bg_copy_stats *s)
{
	uint64_t now = s->done_bytes > s->parts_bytes ? s->done_bytes : s->parts_bytes;
	uint64_t b = s->already_done_bytes + now;

	return b > s->listed_bytes ? s->listed_bytes : b;
}

static void tick_bar(bg_progress *p, const bg_copy_stats *s)
{
	char done[32], total[32], r[32], bar[21], eta[32] = "--:--";
	uint64_t sent = bg_progress_bytes(s);
	double rt = rate(s);
	double frac = s->listed_bytes ? (double)sent / (double)s->listed_bytes : 0;
	int fill = (int)(frac * 20);

	bg_human_bytes((double)sent, done, sizeof(done));
	bg_human_bytes((double)s->listed_bytes, total, sizeof(total));
	bg_human_bytes(rt, r, sizeof(r));
	for (int i = 0; i < 20; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[20] = '\0';
	if (s->listing_done && rt > 0) {
		double left = (double)(s->listed_bytes - sent) / rt;
		snprintf(eta, sizeof(eta), "%d:%02d", (int)left / 60, (int)left % 60);
	}
	fprintf(p->err, "\r[%s] %s / %s%s  %" PRIu64 "/%" PRIu64 " objects  %s/s  ETA %s  ",
		bar, done, total, s->listing_done ? "" : "+",
		s->already_done_objects + s->done_objects, s->listed_objects, r, eta);
	fflush(p->err);
	p->bar_drawn = true;
}

void bg_progress_tick(void *ctx, const bg_copy_stats *s)
{
	bg_progress *p = ctx;
	if (p->mode == BG_PROG_JSON)
		tick_json(p, s);
	else if (p->mode == BG_PROG_BAR)
		tick_bar(p, s);
}

static void clear_bar(bg_progress *p)
{
	if (p->bar_drawn) {
		fprintf(p->err, "\r\033[K");
		p->bar_drawn = false;
	}
}

void bg_progress_object(void *ctx, const bg_obj_event *e)
{
	bg_progress *p = ctx;
	if (p->mode == BG_PROG_JSON) {
		const char *st = e->kind == BG_EV_DONE ? "done" :
				 e->kind == BG_EV_FAILED ? "failed" :
				 e->kind == BG_EV_SKIPPED ? "skipped" : "planned";
		fprintf(p->out, "{\"type\":\"object\",\"status\":\"%s\",\"key\":", st);
		bg_json_put(p->out, e->key);
		fprintf(p->out, ",\"dst_key\":");
		bg_json_put(p->out, e->dst_key);
		fprintf(p->out, ",\"size\":%" PRIu64 ",\"src_etag\":", e->size);
		bg_json_put(p->out, e->src_etag);
		if (e->kind == BG_EV_DONE) {
			fprintf(p->out, ",\"dst_etag\":");
			bg_json_put(p->out, e->dst_etag);
			fprintf(p->out, ",\"same_etag\":%s,\"parts\":%u,\"part_size\":%" PRIu64
				",\"xxh3_128\":\"%s\"",
				e->same_etag ? "true" : "false", e->plan->nparts,
				e->plan->part_size, e->xxh3);
		} else if (e->kind == BG_EV_PLANNED) {
			fprintf(p->out, ",\"multipart\":%s,\"parts\":%u,\"part_size\":%" PRIu64,
				e->plan->multipart ? "true" : "false", e->plan->nparts,
				e->plan->part_size);
		} else {
			fprintf(p->out, ",\"error\":");
			bg_json_put(p->out, e->error ? e->error : "");
		}
		fprintf(p->out, "}\n");
		fflush(p->out);
	} else if (e->kind == BG_EV_PLANNED) {
		char sz[32], ps[32];
		bg_human_bytes((double)e->size, sz, sizeof(sz));
		bg_human_bytes((double)e->plan->part_size, ps, sizeof(ps));
		if (e->plan->multipart)
			bg_text_line(p->out, "would copy %s -> %s (%s, %u parts of %s)", e->key,
				     e->dst_key, sz, e->plan->nparts, ps);
		else
			bg_text_line(p->out, "would copy %s -> %s (%s, one PUT)", e->key, e->dst_key,
				     sz);
	}
	if (e->kind == BG_EV_FAILED && !p->json_log) { /* else the event log has it */
		clear_bar(p);
		bg_text_line(p->err, "barge: failed: %s: %s", e->key, e->error ? e->error : "");
	}
	if (e->kind == BG_EV_SKIPPED && !p->json_log) {
		clear_bar(p);
		bg_text_line(p->err, "barge: skipped: %s: %s", e->key, e->error ? e->error : "");
	}
}

void bg_progress_summary(bg_progress *p, const bg_copy_stats *s, bg_err rc)
{
	clear_bar(p);
	double secs = (double)s->elapsed_ns / 1e9;
	char bytes[32], r[32];
	bg_human_bytes((double)s->done_bytes, bytes, sizeof(bytes));
	bg_human_bytes(rate(s), r, sizeof(r));
	if (p->mode == BG_PROG_JSON) {
		fprintf(p->out,
			"{\"type\":\"summary\",\"ok\":%s,\"dry_run\":%s,\"objects\":%" PRIu64
			",\"bytes\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"skipped\":%" PRIu64
			",\"same_etag\":%" PRIu64 ",\"retries\":%" PRIu64 ",\"requests\":%" PRIu64
			",\"elapsed_s\":%.3f,\"rate_bps\":%.0f,\"pool_peak_bytes\":%" PRIu64
			",\"already_done\":%" PRIu64 ",\"already_done_bytes\":%" PRIu64
			",\"resumed_uploads\":%" PRIu64 ",\"resumed_parts\":%" PRIu64
			",\"stray_aborts\":%" PRIu64 "}\n",
			rc == BG_OK ? "true" : "false", p->dry_run ? "true" : "false",
			s->done_objects, s->done_bytes, s->failed_objects, s->skipped_objects,
			s->same_etag, s->retries, s->requests, secs, rate(s), s->pool_peak_bytes,
			s->already_done_objects, s->already_done_bytes, s->resumed_uploads,
			s->resumed_parts, s->stray_aborts);
		fflush(p->out);
	}
	if (p->json_log) {
		fprintf(p->err,
			"{\"level\":\"info\",\"event\":\"summary\",\"ok\":%s,\"objects\":%" PRIu64
			",\"bytes\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"retries\":%" PRIu64
			",\"elapsed_s\":%.3f,\"rate_bps\":%.0f}\n",
			rc == BG_OK ? "true" : "false", s->done_objects, s->done_bytes,
			s->failed_objects, s->retries, secs, rate(s));
		return;
	}
	if (p->dry_run)
		fprintf(p->err, "dry run: %" PRIu64 " objects (%s) would be copied, %" PRIu64
				" excluded by filters\n",
			s->done_objects, bytes, s->skipped_objects);
	else
		fprintf(p->err,
			"copied %" PRIu64 " objects (%s) in %.1f s, %s/s; %" PRIu64 " failed, %" PRIu64
			" excluded; %" PRIu64 " with the source's ETag; %" PRIu64 " retries\n",
			s->done_objects, bytes, secs, r, s->failed_objects, s->skipped_objects,
			s->same_etag, s->retries);
	if (!p->dry_run && (s->already_done_objects || s->resumed_uploads || s->stray_aborts)) {
		char done[32];
		bg_human_bytes((double)s->already_done_bytes, done, sizeof(done));
		fprintf(p->err,
			"journal: %" PRIu64 " objects (%s) done in earlier runs, skipped; %" PRIu64
			" multipart uploads continued (%" PRIu64 " parts not sent again); %" PRIu64
			" unusable uploads of earlier runs aborted\n",
			s->already_done_objects, done, s->resumed_uploads, s->resumed_parts,
			s->stray_aborts);
	}
}
