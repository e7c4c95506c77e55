/* progress.h - what the command line shows while a copy runs: a bar on a
 * terminal, JSON lines with --progress json, and the final summary. */
#ifndef BG_PROGRESS_H
#define BG_PROGRESS_H

#include <stdio.h>

#include "copy.h"

typedef enum { BG_PROG_AUTO, BG_PROG_BAR, BG_PROG_JSON, BG_PROG_NONE } bg_prog_mode;

typedef struct bg_progress {
	bg_prog_mode mode; /* resolved: never AUTO */
	bool dry_run;
	FILE *out;         /* JSON lines and dry-run plans: stdout */
	FILE *err;         /* bar, failures, summary: stderr */
	bool bar_drawn;
	bool json_log;     /* --log-format json: stderr carries JSON lines only */
} bg_progress;

void bg_progress_init(bg_progress *p, bg_prog_mode mode, bool dry_run);
void bg_progress_tick(void *ctx, const bg_copy_stats *s);
void bg_progress_object(void *ctx, const bg_obj_event *e);
void bg_progress_summary(bg_progress *p, const bg_copy_stats *s, bg_err rc);

/* The bytes the bar shows as moved: those of objects done in earlier runs
 * (journal), plus this run's bytes of parts and PUTs the destination
 * accepted (objects still open included), or of objects done when that is
 * more (parts an earlier run uploaded; downloads); at most the listed
 * bytes. */
uint64_t bg_progress_bytes(const bg_copy_stats *s);
/* "1.5 GiB" */
void bg_human_bytes(double b, char *out, size_t cap);

#endif
