/* barge.c - the command line: parses, resolves configuration, calls the
 * engine.  Exit codes (docs/output.md): 0 all done, 1 some objects failed,
 * 2 usage, configuration or environment error, 75 a temporary condition
 * (journal in use, endpoints unreachable), 130 and 143 interrupted by
 * SIGINT and SIGTERM. */
#include <curl/curl.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bwlimit.h"
#include "cli.h"
#include "cmdutil.h"
#include "config.h"
#include "copy.h"
#include "esc.h"
#include "journal.h"
#include "audit_cmd.h"
#include "bench_cmd.h"
#include "ls_cmd.h"
#include "plan_cmd.h"
#include "doctor_cmd.h"
#include "progress.h"
#include "metrics_out.h"

#define EXIT_PARTIAL 1
#define EXIT_USAGE 2
#define EXIT_TEMPFAIL 75 /* sysexits.h EX_TEMPFAIL: worth running again as it is */

static volatile int stop_flag; /* the signal that asked to stop, 0 */
static volatile int reload_flag; /* SIGHUP: re-read --bwlimit-file */

static void on_hup(int sig)
{
	(void)sig;
	reload_flag = 1;
}
static bool resuming; /* cmd_copy runs for barge resume */

static void on_signal(int sig)
{
	stop_flag = sig;
	signal(sig, SIG_DFL); /* a second Ctrl-C ends it at once */
}

/* ---- barge copy: its options --------------------------------------------- */

/* What barge copy's command line says. */
typedef struct copy_args {
	bg_copy_opts o; /* what goes straight to the engine */
	cu_filters filters;
	const char *src_profile, *dst_profile, *env_file, *ca_bundle, *journal;
	const char *metrics_file, *metrics_listen;
	bool insecure;
	int pmode, cksum, jsync, log_json, log_level; /* the choices' enums */
	uint64_t metrics_interval_s;
	/* The options as given, for the journal (barge resume repeats them). */
	bg_buf args_json;
	unsigned nargs_json;
	bool args_over;       /* args_json is full: the record would miss some */
	const char *not_utf8; /* an option whose value JSON cannot keep */
} copy_args;

static const cli_choice jsync_modes[] = {
	{ "normal", BG_JSYNC_NORMAL }, { "full", BG_JSYNC_FULL }, { "off", BG_JSYNC_OFF },
	{ NULL, 0 },
};
static const cli_choice log_formats[] = { { "text", 0 }, { "json", 1 }, { NULL, 0 } };
static const cli_choice log_levels[] = {
	{ "error", BG_LOG_ERROR }, { "warn", BG_LOG_WARN }, { "info", BG_LOG_INFO },
	{ "debug", BG_LOG_DEBUG }, { NULL, 0 },
};

static int bwlimit_opt(void *dst, const char *name, const char *val, char *err, size_t cap)
{
	bg_copy_opts *o = dst;
	char why[200];

	(void)name;
	if (bg_bwlimit_parse(val, &o->bw_up, &o->bw_down, why, sizeof(why)) < 0) {
		bg_snprintf(err, cap, "--bwlimit '%s': must be a rate such as 200M or "
			    "up:100M,down:200M", val);
		return -1;
	}
	return 0;
}

static const cli_opt copy_opts[] = {
	CLI_OPT_UINT("--concurrency", "N", copy_args, o.concurrency, 1, 1024, NULL,
		     "parallel reads from SRC, and as many parallel\n"
		     "uploads to DST (default 32)"),
	CLI_OPT_SIZE("--part-size", "SIZE", copy_args, o.part_size, BG_PART_MIN, BG_PART_MAX,
		     "multipart part size (default 16M; raised per object\n"
		     "to keep within 10,000 parts)"),
	CLI_OPT_SIZE("--multipart-threshold", "SIZE", copy_args, o.threshold, 0, BG_PUT_MAX,
		     "objects larger than this go multipart\n"
		     "(default: the part size)"),
	CLI_OPT_SIZE("--memory", "SIZE", copy_args, o.memory, 16 * BG_MIB, 1ull << 40,
		     "part-buffer budget (default: 1/16 of RAM,\n"
		     "256M to 1G)"),
	CLI_OPT_FN("--include", "GLOB", cu_filters, copy_args, filters, cu_filter_opt,
		   "copy keys matching GLOB (relative to SRC's prefix)"),
	CLI_OPT_FN("--exclude", "GLOB", cu_filters, copy_args, filters, cu_filter_opt,
		   "skip keys matching GLOB; the last match wins"),
	CLI_OPT_FLAG("--dry-run", copy_args, o.dry_run, "list and show the plan, move nothing"),
	CLI_OPT_CHOICE("--progress", "MODE", copy_args, pmode, cu_progress_modes, CU_HELP_PROGRESS),
	CLI_OPT_CHOICE("--checksum", "MODE", copy_args, cksum, cu_checksum_modes,
		       "auto, md5, crc32c or none: the checksum sent with each\n"
		       "part for the destination to verify (auto: crc32c on\n"
		       "AWS and R2, md5 on other endpoints); with none, parts\n"
		       "upload while they are read"),
	CLI_OPT_UINT("--retries", "N", copy_args, o.retries, 1, 100, NULL, CU_HELP_RETRIES),
	CLI_OPT_UINT("--stall-timeout", "SECS", copy_args, o.stall_timeout_s, 1, 3600,
		     "a number of seconds",
		     "a transfer moving under 1 KiB/s for SECS is dropped\n"
		     "and retried (default 30)"),
	CLI_OPT_STR("--src-profile", "P", copy_args, src_profile, CU_HELP_SRC_PROFILE),
	CLI_OPT_STR("--dst-profile", "P", copy_args, dst_profile, CU_HELP_DST_PROFILE),
	CLI_OPT_STR("--env-file", "FILE", copy_args, env_file, CU_HELP_ENV_FILE),
	CLI_OPT_STR("--ca-bundle", "FILE", copy_args, ca_bundle,
		    CU_HELP_CA_BOTH "\n(default: AWS_CA_BUNDLE, a profile's ca_bundle, the system's)"),
	CLI_OPT_FLAG("--insecure", copy_args, insecure,
		     "do not verify TLS certificates (says so loudly; tests only)"),
	CLI_OPT_STR("--journal", "PATH", copy_args, journal,
		    "record the copy in the SQLite journal PATH (created\n"
		    "0600); if PATH exists for the same SRC and DST, resume:\n"
		    "done objects are skipped, interrupted multipart uploads\n"
		    "continue where they stopped (see docs/journal.md)"),
	CLI_OPT_CHOICE("--journal-sync", "MODE", copy_args, jsync, jsync_modes,
		       "normal (default), full (fsync every commit) or off"),
	CLI_OPT_STR("--metrics-file", "PATH", copy_args, metrics_file,
		    "write Prometheus metrics to PATH (atomically) every\n"
		    "interval and at the end (node_exporter textfile)"),
	CLI_OPT_STR("--metrics-listen", "ADDR:PORT", copy_args, metrics_listen,
		    "serve them on GET /metrics (PORT alone: 127.0.0.1)"),
	CLI_OPT_U64("--metrics-interval", "SECS", copy_args, metrics_interval_s, 1, 86400,
		    "a number of seconds", "how often metrics are published (default 5)"),
	CLI_OPT_CHOICE("--log-format", "FMT", copy_args, log_json, log_formats,
		       "text (default) or json: one line per event on stderr"),
	CLI_OPT_CHOICE("--log-level", "LEVEL", copy_args, log_level, log_levels,
		       "error, warn (default: retries, failures), info (+ done) or\n"
		       "debug (+ every object's change of state: KEY: HEAD => CREATE)"),
	CLI_OPT_FN("--bwlimit", "RATE", bg_copy_opts, copy_args, o, bwlimit_opt,
		   "bytes/s per direction, all transfers together: 200M,\n"
		   "or up:100M,down:200M (see docs/metrics.md)"),
	CLI_OPT_STR("--bwlimit-file", "FILE", copy_args, o.bwlimit_file,
		    "read the rate from FILE's first line at start, every\n"
		    "second and on SIGHUP (changes it while running)"),
	CU_REFUSE_PROFILE,
	CLI_OPT_END,
};

/* Appends one JSON string to the {"args": [...]} being built (args_over
 * when it does not fit).  False when v is not UTF-8: JSON cannot carry it
 * unchanged, so barge resume would repeat another value. */
static bool json_arg(copy_args *a, const char *v)
{
	size_t len = strlen(v);

	if (bg_buf_add(&a->args_json, ", ", a->nargs_json++ ? 2 : 0) < 0 ||
	    bg_json_buf(&a->args_json, v, len) < 0)
		a->args_over = true;
	return bg_utf8_valid(v, len);
}

/* Each option taken, as given, goes to the journal's record of the run
 * (runs.options, docs/journal.md): all but --journal (the journal itself)
 * and --dry-run (a dry run records nothing). */
static void record_opt(void *base, const cli_opt *o, const char *val)
{
	copy_args *a = base;

	if (strcmp(o->name, "--journal") == 0 || strcmp(o->name, "--dry-run") == 0)
		return;
	json_arg(a, o->name);
	if (val && !json_arg(a, val))
		a->not_utf8 = o->name;
}

static const cli_cmd copy_cmd = {
	.name = "copy",
	.usage = "usage: barge copy SRC DST [options]\n"
		 "\n"
		 "SRC and DST are s3://bucket[/prefix] or r2://bucket[/prefix]; a prefix is a\n"
		 "folder: s3://b/data copies the keys under data/ to DST's prefix.  One side\n"
		 "may be a local directory (uploaded or downloaded as a tree) or, as SRC, a\n"
		 "file (to DST's key, or under it when DST ends in '/'); see docs/local.md.\n",
	.tail = "Credentials: s3:// uses AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN,\n"
		"AWS_PROFILE, ~/.aws/{config,credentials}, AWS_REGION, AWS_ENDPOINT_URL_S3 or\n"
		"AWS_ENDPOINT_URL, AWS_CA_BUNDLE; r2:// uses R2_ACCOUNT_ID, R2_ACCESS_KEY_ID,\n"
		"R2_SECRET_ACCESS_KEY and R2_ENDPOINT_URL. Secrets are never taken as arguments.\n"
		"\n"
		"Exit: 0  all copied and verified\n"
		"      1  some objects failed (each is named on stderr and in the journal)\n"
		"      2  usage, configuration or environment error: the message says what to fix\n"
		"     75  a temporary condition: the journal is in use by another barge, or the\n"
		"         endpoints could not be reached; run the same command again later\n"
		"    130  interrupted by Ctrl-C (SIGINT); 143 by SIGTERM (with --journal, barge\n"
		"         resume goes on from there)\n",
	.opts = copy_opts,
	.pos_min = 2, .pos_max = 2,
	.pos_need = "SRC and DST", .pos_takes = "SRC and DST",
	.on_opt = record_opt,
};

/* Parses barge copy's arguments into a: 0, 1 after --help, or EXIT_USAGE
 * (said); SRC and DST in pos. */
static int copy_parse(copy_args *a, int argc, char **argv, cli_args *pos)
{
	bg_buf_init(&a->args_json, 64 * 1024);
	bg_buf_addf(&a->args_json, "{\"args\": [");
	a->o.concurrency = 32;
	a->o.part_size = 16 * BG_MIB;
	a->o.threshold = UINT64_MAX; /* not given: the part size */
	a->o.memory = cu_default_memory();
	a->o.retries = 10;
	a->cksum = BG_CKSUM_AUTO;
	a->pmode = BG_PROG_AUTO;
	a->jsync = BG_JSYNC_NORMAL;
	a->log_level = BG_LOG_WARN;

	int r = cli_parse(&copy_cmd, a, argc, argv, pos);
	if (r)
		return r < 0 ? EXIT_USAGE : 1;
	if (bg_buf_addf(&a->args_json, "]}") < 0)
		a->args_over = true;
	if (a->args_over && a->journal)
		return cli_usage("copy", "the options take more than the journal's record of a run "
				 "keeps (64 KiB): put long --include/--exclude lists in fewer "
				 "patterns, or copy without --journal");
	if (a->not_utf8 && a->journal)
		return cli_usage("copy", "the value of %s is not UTF-8: a journal cannot record it "
				 "for barge resume (give it in UTF-8, or copy without --journal)",
				 a->not_utf8);
	if (a->o.threshold == UINT64_MAX)
		a->o.threshold = a->o.part_size;
	if (a->o.memory < 2 * a->o.part_size) {
		bg_text_line(stderr, "barge: --memory must be at least twice --part-size "
				"(a part is buffered while the next one is read)");
		return EXIT_USAGE;
	}
	if (a->o.threshold > a->o.memory / 2) {
		bg_text_line(stderr, "barge: --multipart-threshold must be at most half of --memory");
		return EXIT_USAGE;
	}
	a->o.filters = a->filters.list;
	a->o.nfilters = a->filters.n;
	a->o.cksum = (bg_cksum_mode)a->cksum;
	a->o.metrics_interval_ns = a->metrics_interval_s * 1000000000ull;
	return 0;
}

/* The location as the journal records it: scheme://bucket[/prefix]. */
static void location_url(const bg_location *l, char *out, size_t cap)
{
	if (l->kind == BG_LOC_LOCAL) {
		/* absolute, so that barge resume works from any directory */
		char cwd[4096];
		if (l->path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
			bg_snprintf(out, cap, "%s", l->path);
		else
			bg_snprintf(out, cap, "%s/%s", cwd, l->path);
		return;
	}
	const char *scheme = l->kind == BG_LOC_R2 ? "r2" : "s3";
	if (l->prefix[0])
		bg_snprintf(out, cap, "%s://%s/%s", scheme, l->bucket, l->prefix);
	else
		bg_snprintf(out, cap, "%s://%s", scheme, l->bucket);
}

/* What the copy's callbacks need: progress output, metrics, logs. */
typedef struct copy_ctx {
	bg_progress *prog;
	bg_mout *mout;
} copy_ctx;

static void copy_on_progress(void *ctx, const bg_copy_stats *s)
{
	bg_progress_tick(((copy_ctx *)ctx)->prog, s);
}

static void copy_on_object(void *ctx, const bg_obj_event *e)
{
	bg_progress_object(((copy_ctx *)ctx)->prog, e);
	bg_log_object(e);
}

static void copy_on_retry(void *ctx, const bg_retry_event *e)
{
	(void)ctx;
	bg_log_retry(e);
}

static void copy_on_state(void *ctx, const char *key, unsigned part, const char *from,
			  const char *to)
{
	(void)ctx;
	bg_log_state(key, part, from, to);
}

static void copy_on_metrics(void *ctx, const bg_metrics *m)
{
	bg_mout_publish(((copy_ctx *)ctx)->mout, m);
}

/* The exit code of a copy that returned rc, stopped by signal sig (0:
 * none).  An interrupted run exits 128 + the signal, as a shell reports a
 * process the signal ended: 130 after SIGINT, 143 after SIGTERM. */
static int exit_code(bg_err rc, int sig)
{
	if (sig && (rc == BG_E_INTEGRITY || rc == BG_E_USAGE))
		return 128 + sig;
	if (rc == BG_OK)
		return 0;
	if (rc == BG_E_INTEGRITY)
		return EXIT_PARTIAL;
	return rc == BG_E_NET || rc == BG_E_BUSY ? EXIT_TEMPFAIL : EXIT_USAGE;
}

/* Records the run's end (exit code, totals) and closes the journal.  0, or
 * -1 (said on stderr). */
static int end_journal(bg_journal *j, const char *path, int code, const bg_copy_stats *s)
{
	bg_jtotals t = {
		.objects_done = s->done_objects, .bytes_done = s->done_bytes,
		.objects_failed = s->failed_objects, .objects_skipped = s->already_done_objects,
		.bytes_read = s->bytes_read, .bytes_written = s->bytes_written,
		.retries = s->retries,
	};
	bg_status jst = { 0 };
	if (bg_journal_end_run(j, code, &t, &jst) != BG_OK || bg_journal_close(j, &jst) != BG_OK) {
		bg_text_line(stderr, "barge: journal %s: %s (the copy's last records may be missing: "
			     "a resume redoes that work)", path, jst.msg);
		return -1;
	}
	return 0;
}

/* The last words of a copy: the summary, why it stopped.  Returns code. */
static int say_end(bg_progress *prog, const bg_copy_opts *o, const bg_copy_stats *s, bg_err rc,
		   const bg_status *st, int code, const char *journal)
{
	if (code == EXIT_USAGE || code == EXIT_TEMPFAIL) {
		if (prog->bar_drawn)
			fputc('\n', stderr);
		bg_text_line(stderr, "barge: %s%s", st->msg, code == EXIT_TEMPFAIL ?
			     " (temporary: run the same command again later)" : "");
		return code;
	}
	bg_progress_summary(prog, s, rc);
	const char *by = code == 128 + SIGTERM ? "SIGTERM" : code == 128 + SIGINT ? "Ctrl-C" : NULL;
	if (by && journal) {
		bg_text_line(stderr, "barge: interrupted by %s; the journal keeps the uploads in progress: "
			     "'barge resume %s' goes on from here", by, journal);
	} else if (by) {
		bg_text_line(stderr, "barge: interrupted by %s: objects in flight are named above; %llu "
			     "listed objects were not started", by,
			     (unsigned long long)(s->listed_objects - s->done_objects -
						  s->failed_objects - s->already_done_objects));
	} else if (rc == BG_OK && s->listed_objects == 0 && s->skipped_objects == 0 &&
		   o->src.kind != BG_LOC_LOCAL) {
		char srcu[8300];
		location_url(&o->src, srcu, sizeof(srcu));
		bg_text_line(stderr, "barge: nothing to copy: no keys under %s%s (a prefix is a folder; "
			     "to copy one object, give its folder and --include its name)",
			     srcu, o->src.prefix[0] ? "/" : "");
	}
	return code;
}

/* Loads --env-file, parses SRC and DST, resolves each bucket's endpoint
 * and keys, --ca-bundle and --insecure; refuses two local paths and
 * overlapping prefixes.  0, or EXIT_USAGE (said). */
static int copy_resolve(copy_args *a, const cli_args *pos)
{
	bg_copy_opts *o = &a->o;
	char err[512];

	if (a->env_file && bg_envfile_load(a->env_file, err, sizeof(err)) < 0)
		goto fail;
	if (bg_location_parse(pos->pos[0], &o->src, err, sizeof(err)) < 0 ||
	    bg_location_parse(pos->pos[1], &o->dst, err, sizeof(err)) < 0)
		goto fail;
	bool lsrc = o->src.kind == BG_LOC_LOCAL, ldst = o->dst.kind == BG_LOC_LOCAL;
	if (lsrc && ldst) {
		bg_text_line(stderr, "barge: both SRC and DST are local paths: barge copies to or from a bucket (use cp or rsync between directories)");
		return EXIT_USAGE;
	}
	if ((!lsrc && bg_endpoint_resolve(o->src.kind, a->src_profile, &o->src_ep, err,
					  sizeof(err)) < 0) ||
	    (!ldst && bg_endpoint_resolve(o->dst.kind, a->dst_profile, &o->dst_ep, err,
					  sizeof(err)) < 0))
		goto fail;
	if (cu_tls_both(a->ca_bundle, a->insecure, &o->src_ep, &o->dst_ep))
		return EXIT_USAGE;
	if (!lsrc && !ldst && strcmp(o->src_ep.url, o->dst_ep.url) == 0 &&
	    strcmp(o->src.bucket, o->dst.bucket) == 0) {
		const char *p = o->src.prefix, *q = o->dst.prefix;
		size_t lp = strlen(p), lq = strlen(q);
		if (strncmp(p, q, lp < lq ? lp : lq) == 0) {
			bg_text_line(stderr, "barge: SRC and DST overlap in the same bucket: choose prefixes that do not contain each other");
			return EXIT_USAGE;
		}
	}
	return 0;
fail:
	bg_text_line(stderr, "barge: %s", err);
	return EXIT_USAGE;
}

/* Opens (or creates) --journal and records this run's start.  0, or the
 * exit code (said): 75 when another barge holds it, else 2. */
static int copy_journal(copy_args *a, bg_journal **out)
{
	bg_copy_opts *o = &a->o;
	char srcu[8300], dstu[8300];
	bg_status st = { 0 };
	bg_journal *j = NULL;

	location_url(&o->src, srcu, sizeof(srcu));
	location_url(&o->dst, dstu, sizeof(dstu));
	bg_jident sid = cu_ident(&o->src, &o->src_ep), did = cu_ident(&o->dst, &o->dst_ep);
	if (bg_journal_open(&j, a->journal, BG_J_CREATE, (bg_jsync)a->jsync, &st) != BG_OK ||
	    bg_journal_begin_run(j, srcu, dstu, &sid, &did, a->args_json.data, &st) != BG_OK) {
		bg_text_line(stderr, "barge: %s", st.msg);
		bg_journal_close(j, NULL);
		return st.code == BG_E_BUSY ? EXIT_TEMPFAIL : EXIT_USAGE; /* in use: 75 */
	}
	if (resuming)
		bg_text_line(stderr, "barge: resuming %s -> %s from %s", srcu, dstu, a->journal);
	*out = j;
	return 0;
}

/* Runs the resolved copy: output, metrics, signals, the journal, the
 * engine, the last words.  Returns the exit code. */
static int copy_run(copy_args *a)
{
	bg_copy_opts *o = &a->o;
	bg_progress prog;
	char err[512];

	bg_progress_init(&prog, (bg_prog_mode)a->pmode, o->dry_run);
	copy_ctx cctx = { .prog = &prog };
	bg_log_setup(a->log_json, (bg_log_level)a->log_level);
	prog.json_log = a->log_json;
	if (a->metrics_file || a->metrics_listen) {
		cctx.mout = bg_mout_start(a->metrics_file, a->metrics_listen, err, sizeof(err));
		if (!cctx.mout) {
			bg_text_line(stderr, "barge: %s", err);
			return EXIT_USAGE;
		}
		o->on_metrics = copy_on_metrics;
	}
	o->on_progress = copy_on_progress;
	o->on_object = copy_on_object;
	o->on_retry = copy_on_retry;
	if (bg_log_wants(BG_LOG_DEBUG))
		o->on_state = copy_on_state;
	o->ctx = &cctx;
	o->stop = &stop_flag;
	o->reload = &reload_flag;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_hup);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN); /* a file-size limit is an error (EFBIG), not a kill */

	bg_journal *j = NULL;
	if (a->journal && !o->dry_run) {
		int code = copy_journal(a, &j);
		if (code)
			return code;
		o->journal = j;
	}
	bg_buf_free(&a->args_json);

	bg_copy_stats stats = { 0 };
	bg_status st = { 0 };
	bg_err rc = bg_copy_run(o, &stats, &st);
	int code = exit_code(rc, stop_flag);
	bg_mout_stop(cctx.mout);
	bg_endpoint_wipe(&o->src_ep);
	bg_endpoint_wipe(&o->dst_ep);
	if (j && end_journal(j, a->journal, code, &stats) < 0)
		return EXIT_USAGE;
	return say_end(&prog, o, &stats, rc, &st, code, j ? a->journal : NULL);
}

static int cmd_copy(int argc, char **argv)
{
	static copy_args a; /* static: endpoints are large, and what it holds stays
			     * reachable on every way out */
	cli_args pos;
	int code = copy_parse(&a, argc, argv, &pos);

	if (code == 0)
		code = copy_resolve(&a, &pos);
	if (code == 0)
		code = copy_run(&a);
	else if (code == 1)
		code = 0; /* --help */
	cu_filters_free(&a.filters);
	bg_buf_free(&a.args_json);
	return code;
}

/* Appends cp (a code point below U+10000, not a surrogate or NUL) to
 * buf as UTF-8.  0, or -1. */
static int put_utf8(unsigned cp, char *buf, size_t *used, size_t cap)
{
	unsigned char u[3];
	size_t n = 0;

	if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	if (cp < 0x80) {
		u[n++] = (unsigned char)cp;
	} else if (cp < 0x800) {
		u[n++] = (unsigned char)(0xC0 | cp >> 6);
		u[n++] = (unsigned char)(0x80 | (cp & 0x3F));
	} else {
		u[n++] = (unsigned char)(0xE0 | cp >> 12);
		u[n++] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		u[n++] = (unsigned char)(0x80 | (cp & 0x3F));
	}
	if (*used + n + 1 > cap)
		return -1;
	memcpy(buf + *used, u, n);
	*used += n;
	return 0;
}

/* The escape after a backslash, at *p (moved past it), appended to buf:
 * the ones bg_esc_json writes, and the rest of JSON's (not surrogate
 * pairs, which it never writes).  0, or -1. */
static int unescape(const char **p, char *buf, size_t *used, size_t cap)
{
	static const char from[] = "\"\\/ntrbf", to[] = "\"\\/\n\t\r\b\f";
	const char *q = *p, *f;
	unsigned cp = 0;

	if (*q != 'u') {
		f = *q ? strchr(from, *q) : NULL;
		if (!f || *used + 2 > cap)
			return -1;
		buf[(*used)++] = to[f - from];
		*p = q + 1;
		return 0;
	}
	for (int k = 1; k <= 4; k++) {
		int d = bg_hex_digit((unsigned char)q[k]); /* -1 at the NUL: stops */

		if (d < 0)
			return -1;
		cp = cp << 4 | (unsigned)d;
	}
	*p = q + 5;
	return put_utf8(cp, buf, used, cap);
}

/* Reads the {"args": [...]} a journal keeps (written by json_arg) into
 * argv-style strings inside buf.  Returns the count, or -1. */
static int parse_args_json(const char *s, char *buf, size_t cap, char **out, int max)
{
	const char *p = strchr(s, '[');
	size_t used = 0;
	int n = 0;
	if (!p)
		return -1;
	for (p++;;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == ']')
			return n;
		if (*p != '"' || n == max)
			return -1;
		out[n++] = buf + used;
		for (p++; *p != '"';) {
			if (!*p)
				return -1;
			if (*p == '\\') {
				p++;
				if (unescape(&p, buf, &used, cap) < 0)
					return -1;
				continue;
			}
			if (used + 2 > cap)
				return -1;
			buf[used++] = *p++;
		}
		p++;
		buf[used++] = '\0';
	}
}

/* barge resume takes no options of its own: the ones after JOURNAL are
 * copy's, added to the journal's (the last of each wins). */
static const cli_opt resume_opts[] = { CU_REFUSE_PROFILE, CLI_OPT_END };

static const cli_cmd resume_cmd = {
	.name = "resume",
	.usage = "usage: barge resume JOURNAL [options]\n"
		 "\n"
		 "Goes on with the copy JOURNAL records: the same SRC, DST and options as its\n"
		 "last run (options given here are added after them, so they win), credentials\n"
		 "from the environment as for copy. Same as repeating 'barge copy ... --journal\n"
		 "JOURNAL'. The environment must name the same endpoints and keys as the\n"
		 "journal's first run (docs/journal.md). The options are copy's, after JOURNAL\n"
		 "(see 'barge copy --help').\n",
	.tail = "Exit: 0 all copied and verified, 1 some objects failed, 2 usage, configuration\n"
		"or environment error, 75 temporary (journal in use, endpoints unreachable: run\n"
		"it again later), 130 interrupted by Ctrl-C, 143 by SIGTERM.\n",
	.opts = resume_opts,
	.pos_min = 1, .pos_max = 1,
	.pos_need = "a JOURNAL", .pos_takes = "one JOURNAL",
	.stop_at_last_pos = true,
};

static int cmd_resume(int argc, char **argv)
{
	cli_args pos;
	int r = cli_parse(&resume_cmd, NULL, argc, argv, &pos);
	if (r)
		return r < 0 ? EXIT_USAGE : 0;
	const char *path = pos.pos[0];
	bg_journal *j = NULL;
	bg_status st = { 0 };
	static char src[1200], dst[1200], opts[64 * 1024], buf[64 * 1024];
	if (bg_journal_open(&j, path, BG_J_READONLY, BG_JSYNC_NORMAL, &st) != BG_OK) {
		bg_text_line(stderr, "barge: %s", st.msg);
		return EXIT_USAGE;
	}
	int f = bg_journal_locations(j, src, sizeof(src), dst, sizeof(dst), opts, sizeof(opts), &st);
	bg_journal_close(j, NULL);
	if (f < 0) {
		bg_text_line(stderr, "barge: %s", st.msg);
		return EXIT_USAGE;
	}
	if (f == 1) {
		bg_text_line(stderr, "barge: journal %s records no copy yet: start one with 'barge copy SRC DST --journal %s'",
			path, path);
		return EXIT_USAGE;
	}
	enum { MAXA = 512 };
	static char *av[MAXA + 8];
	int n = 0;
	av[n++] = src;
	av[n++] = dst;
	int k = parse_args_json(opts, buf, sizeof(buf), av + n, MAXA - argc);
	if (k < 0) {
		bg_text_line(stderr, "barge: journal %s: its recorded options cannot be read; run 'barge copy SRC DST --journal %s' with them again",
			path, path);
		return EXIT_USAGE;
	}
	n += k;
	for (int i = pos.next; i < argc && n < MAXA; i++)
		av[n++] = argv[i];
	av[n++] = (char *)"--journal";
	av[n++] = (char *)path;
	av[n] = NULL;
	resuming = true; /* said once the journal is open and locked */
	return cmd_copy(n, av);
}

typedef struct status_args {
	bool json;
} status_args;

static const cli_opt status_opts[] = {
	CLI_OPT_FLAG("--json", status_args, json, "one JSON document instead of text"),
	CLI_OPT_END,
};

static const cli_cmd status_cmd = {
	.name = "status",
	.usage = "usage: barge status JOURNAL [--json]\n"
		 "\n"
		 "Objects and bytes done, in progress and failed (with the reasons) as\n"
		 "the journal records them; safe to run while a copy writes it.\n",
	.opts = status_opts,
	.pos_min = 1, .pos_max = 1,
	.pos_need = "a JOURNAL", .pos_takes = "one JOURNAL",
};

static int cmd_status(int argc, char **argv)
{
	status_args a = { 0 };
	cli_args pos;
	int r = cli_parse(&status_cmd, &a, argc, argv, &pos);
	if (r)
		return r < 0 ? EXIT_USAGE : 0;
	bg_status st = { 0 };
	if (bg_journal_print_status(pos.pos[0], a.json, stdout, &st) < 0) {
		bg_text_line(stderr, "barge: %s", st.msg);
		return EXIT_USAGE;
	}
	return 0;
}

/* ---- the commands ---------------------------------------------------------- */

static const struct command {
	const char *name, *args, *summary;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "copy", "SRC DST", "copy every object under SRC to DST (s3:// or r2://)", cmd_copy },
	{ "resume", "JOURNAL", "go on with the copy a journal records (same SRC, DST, options)",
	  cmd_resume },
	{ "status", "JOURNAL", "what a journal says: done, in progress, failed [--json]", cmd_status },
	{ "audit", "SRC DST", "compare both sides (and the journal); --deep re-reads data",
	  cmd_audit },
	{ "bench", "SRC DST", "measure upload, download and streaming copy [--json]", cmd_bench },
	{ "ls", "URL", "list keys, sizes, dates and ETags [--recursive] [--json]", cmd_ls },
	{ "plan", "SRC DST", "what a copy would do: objects, requests, part sizes, time, cost",
	  cmd_plan },
	{ "doctor", "URL", "check DNS, TCP, TLS, clock, keys, list, read, write, multipart",
	  cmd_doctor },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage_main(FILE *f)
{
	char label[32];

	fputs("usage: barge COMMAND [ARGS]\n\ncommands:\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		bg_snprintf(label, sizeof(label), "%s %s", commands[i].name, commands[i].args);
		fprintf(f, "  %-16s %s\n", label, commands[i].summary);
	}
	fprintf(f, "  %-16s %s\n", "help [COMMAND]", "this text, or one command's ('barge COMMAND "
		"--help')");
	fprintf(f, "  %-16s %s\n", "version", "print the version");
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* barge help [COMMAND]: the main help, or COMMAND --help. */
static int cmd_help(int argc, char **argv)
{
	if (argc < 1) {
		usage_main(stdout);
		return 0;
	}
	const struct command *c = find_command(argv[0]);
	if (argc > 1) {
		bg_text_line(stderr, "barge: help takes one COMMAND, not also '%s' (see 'barge help')",
			     argv[1]);
		return EXIT_USAGE;
	}
	if (strcmp(argv[0], "help") == 0 || strcmp(argv[0], "version") == 0) {
		usage_main(stdout);
		return 0;
	}
	if (!c) {
		bg_text_line(stderr, "barge: unknown command '%s' (see 'barge help')", argv[0]);
		return EXIT_USAGE;
	}
	char *help[] = { (char *)"--help", NULL };
	return c->run(1, help);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage_main(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
		return cmd_help(argc - 2, argv + 2);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("barge 0.1.0 (%s)\n", curl_version());
		return 0;
	}
	const struct command *c = find_command(cmd);
	if (!c) {
		bg_text_line(stderr, "barge: unknown command '%s' (see 'barge help')", cmd);
		return EXIT_USAGE;
	}
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	/* libcurl allocates a transfer's 256 KiB receive buffer when it
	 * starts and frees it when it ends.  With glibc's defaults that
	 * memory goes back to the kernel (a heap trim, or a mapping of its
	 * own) and is faulted in again by the next transfer: at thousands of
	 * small objects a second, 7% of the run.  Freed memory stays in the
	 * heap instead, up to what the slots hold at once anyway; the part
	 * pool is a mapping of its own. */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		bg_text_line(stderr, "barge: libcurl failed to initialise");
		return EXIT_USAGE;
	}
	int rc = c->run(argc - 2, argv + 2);
	curl_global_cleanup();
	return rc;
}
