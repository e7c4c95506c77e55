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
#define MAX_FILTERS 64

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

static const char usage_main[] =
	"usage: barge COMMAND [ARGS]\n"
	"\n"
	"commands:\n"
	"  copy SRC DST     copy every object under SRC to DST (s3:// or r2://)\n"
	"  resume JOURNAL   go on with the copy a journal records (same SRC, DST, options)\n"
	"  status JOURNAL   what a journal says: done, in progress, failed [--json]\n"
	"  audit SRC DST    compare both sides (and the journal); --deep re-reads data\n"
	"  bench SRC DST    measure upload, download and streaming copy [--json]\n"
	"  ls URL           list keys, sizes, dates and ETags [--recursive] [--json]\n"
	"  plan SRC DST     what a copy would do: objects, requests, part sizes, time, cost\n"
	"  doctor URL       check DNS, TCP, TLS, clock, keys, list, read, write, multipart\n"
	"  help             this text; 'barge COMMAND --help' for one command\n"
	"  version          print the version\n";

static const char usage_copy[] =
	"usage: barge copy SRC DST [options]\n"
	"\n"
	"SRC and DST are s3://bucket[/prefix] or r2://bucket[/prefix]; a prefix is a\n"
	"folder: s3://b/data copies the keys under data/ to DST's prefix.  One side\n"
	"may be a local directory (uploaded or downloaded as a tree) or, as SRC, a\n"
	"file (to DST's key, or under it when DST ends in '/'); see docs/local.md.\n"
	"\n"
	"  --concurrency N        parallel reads from SRC, and as many parallel\n"
	"                         uploads to DST (default 32)\n"
	"  --part-size SIZE       multipart part size (default 16M; raised per object\n"
	"                         to keep within 10,000 parts)\n"
	"  --multipart-threshold SIZE  objects larger than this go multipart\n"
	"                         (default: the part size)\n"
	"  --memory SIZE          part-buffer budget (default: 1/16 of RAM,\n"
	"                         256M to 1G)\n"
	"  --include GLOB         copy keys matching GLOB (relative to SRC's prefix)\n"
	"  --exclude GLOB         skip keys matching GLOB; the last match wins\n"
	"  --dry-run              list and show the plan, move nothing\n"
	"  --progress MODE        auto, bar, json or none (default auto)\n"
	"  --checksum MODE        auto, md5, crc32c or none: the checksum sent with each\n"
	"                         part for the destination to verify (auto: crc32c on\n"
	"                         AWS and R2, md5 on other endpoints); with none, parts\n"
	"                         upload while they are read\n"
	"  --retries N            attempts per request (default 10)\n"
	"  --stall-timeout SECS   a transfer moving under 1 KiB/s for SECS is dropped\n"
	"                         and retried (default 30)\n"
	"  --src-profile P        shared-config profile for SRC\n"
	"  --dst-profile P        shared-config profile for DST\n"
	"  --env-file FILE        load KEY=VALUE lines (R2 keys, ...) from FILE\n"
	"  --ca-bundle FILE       trust the CAs in FILE (PEM) for both endpoints\n"
	"                         (default: AWS_CA_BUNDLE, a profile's ca_bundle, the system's)\n"
	"  --insecure             do not verify TLS certificates (says so loudly; tests only)\n"
	"  --journal PATH         record the copy in the SQLite journal PATH (created\n"
	"                         0600); if PATH exists for the same SRC and DST, resume:\n"
	"                         done objects are skipped, interrupted multipart uploads\n"
	"                         continue where they stopped (see docs/journal.md)\n"
	"  --journal-sync MODE    normal (default), full (fsync every commit) or off\n"
	"  --metrics-file PATH    write Prometheus metrics to PATH (atomically) every\n"
	"                         interval and at the end (node_exporter textfile)\n"
	"  --metrics-listen ADDR:PORT  serve them on GET /metrics (PORT alone: 127.0.0.1)\n"
	"  --metrics-interval SECS  how often metrics are published (default 5)\n"
	"  --log-format FMT       text (default) or json: one line per event on stderr\n"
	"  --log-level LEVEL      error, warn (default: retries, failures) or info (+ done)\n"
	"  --bwlimit RATE         bytes/s per direction, all transfers together: 200M,\n"
	"                         or up:100M,down:200M (see docs/metrics.md)\n"
	"  --bwlimit-file FILE    read the rate from FILE's first line at start, every\n"
	"                         second and on SIGHUP (changes it while running)\n"
	"\n"
	"Credentials: s3:// uses AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN,\n"
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
	"         resume goes on from there)\n";

static int usage_error(const char *fmt, const char *arg)
	__attribute__((format(printf, 1, 0)));
static int usage_error(const char *fmt, const char *arg)
{
	return cu_usage_error("copy", fmt, arg);
}

/* Options of 'barge copy' that take a value. */
static const char *const value_options[] = {
		"--concurrency", "--retries", "--part-size", "--multipart-threshold", "--memory",
		"--include", "--exclude", "--progress", "--checksum", "--src-profile",
		"--dst-profile", "--env-file", "--journal", "--journal-sync", "--ca-bundle",
		"--metrics-file", "--metrics-listen", "--metrics-interval", "--stall-timeout", "--log-format",
		"--log-level", "--bwlimit", "--bwlimit-file",
};

static int parse_size_opt(const char *name, const char *v, uint64_t min, uint64_t max,
			  uint64_t *out)
{
	if (!v || bg_parse_size(v, out) < 0 || *out < min || *out > max) {
		bg_text_line(stderr, "barge: %s '%s' is not a size between %llu and %llu bytes "
				"(use forms like 16M, 1G)",
			name, v ? v : "", (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	return 0;
}

/* Appends one JSON string to the {"args": [...]} being built.  False when
 * v is not UTF-8: JSON cannot carry it unchanged, so barge resume would
 * repeat another value. */
static bool json_arg(bg_buf *b, unsigned *n, const char *v)
{
	size_t len = strlen(v);

	bg_buf_add(b, ", ", (*n)++ ? 2 : 0);
	bg_json_buf(b, v, len);
	return bg_utf8_valid(v, len);
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

static int cmd_copy(int argc, char **argv)
{
	static bg_copy_opts o;
	const char *filters[MAX_FILTERS];
	unsigned nfilters = 0;
	const char *pos[2];
	unsigned npos = 0;
	const char *src_profile = NULL, *dst_profile = NULL, *env_file = NULL;
	bg_prog_mode pmode = BG_PROG_AUTO;
	uint64_t v;
	bool threshold_set = false;
	char *filter_mem[MAX_FILTERS] = { 0 };
	const char *journal_path = NULL, *ca_bundle = NULL;
	bool insecure = false;
	bg_jsync jsync = BG_JSYNC_NORMAL;
	const char *metrics_file = NULL, *metrics_listen = NULL;
	bool log_json = false;
	bg_log_level log_level = BG_LOG_WARN;
	/* The options as given, for the journal (barge resume repeats them). */
	static bg_buf args_json; /* static: still reachable on early returns */
	bg_buf_init(&args_json, 64 * 1024);
	bg_buf_addf(&args_json, "{\"args\": [");
	unsigned nargs_json = 0;
	const char *not_utf8 = NULL; /* an option whose value JSON cannot keep */

	o.concurrency = 32;
	o.part_size = 16 * BG_MIB;
	o.memory = cu_default_memory();
	o.retries = 10;
	o.cksum = BG_CKSUM_AUTO;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		char name[32];
		int kind;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage_copy, stdout);
			return 0;
		} else if (strcmp(a, "--dry-run") == 0) {
			o.dry_run = true;
			continue;
		} else if (strcmp(a, "--insecure") == 0) {
			insecure = true;
			json_arg(&args_json, &nargs_json, a);
			continue;

		} else if ((kind = cu_value_option("copy", argc, argv, &i, value_options,
						   sizeof(value_options) / sizeof(value_options[0]),
						   name, sizeof(name), &val)) != 0) {
			if (kind < 0)
				return EXIT_USAGE;
			a = name;
			if (strcmp(a, "--concurrency") == 0) {
				if (bg_parse_u64(val, 1, 1024, &v) < 0)
					return usage_error("--concurrency '%s' must be a number from 1 to 1024", val);
				o.concurrency = (unsigned)v;
			} else if (strcmp(a, "--retries") == 0) {
				if (bg_parse_u64(val, 1, 100, &v) < 0)
					return usage_error("--retries '%s' must be a number from 1 to 100", val);
				o.retries = (unsigned)v;
			} else if (strcmp(a, "--stall-timeout") == 0) {
				if (bg_parse_u64(val, 1, 3600, &v) < 0)
					return usage_error("--stall-timeout '%s' must be a number of seconds from 1 to 3600", val);
				o.stall_timeout_s = (unsigned)v;
			} else if (strcmp(a, "--part-size") == 0) {
				if (parse_size_opt(a, val, BG_PART_MIN, BG_PART_MAX, &o.part_size) < 0)
					return EXIT_USAGE;
			} else if (strcmp(a, "--multipart-threshold") == 0) {
				if (parse_size_opt(a, val, 0, BG_PUT_MAX, &o.threshold) < 0)
					return EXIT_USAGE;
				threshold_set = true;
			} else if (strcmp(a, "--memory") == 0) {
				if (parse_size_opt(a, val, 16 * BG_MIB, 1ull << 40, &o.memory) < 0)
					return EXIT_USAGE;
			} else if (strcmp(a, "--include") == 0 || strcmp(a, "--exclude") == 0) {
				if (nfilters == MAX_FILTERS)
					return usage_error("at most %s --include/--exclude filters", "64");
				size_t n = strlen(val);
				char *f = malloc(n + 2);
				if (!f) {
					bg_text_line(stderr, "barge: out of memory");
					return EXIT_USAGE;
				}
				f[0] = a[2] == 'i' ? '+' : '-';
				memcpy(f + 1, val, n + 1);
				filter_mem[nfilters] = f;
				filters[nfilters++] = f;
			} else if (strcmp(a, "--progress") == 0) {
				if (strcmp(val, "auto") == 0) pmode = BG_PROG_AUTO;
				else if (strcmp(val, "bar") == 0) pmode = BG_PROG_BAR;
				else if (strcmp(val, "json") == 0) pmode = BG_PROG_JSON;
				else if (strcmp(val, "none") == 0) pmode = BG_PROG_NONE;
				else return usage_error("--progress '%s' must be auto, bar, json or none", val);
			} else if (strcmp(a, "--checksum") == 0) {
				if (strcmp(val, "auto") == 0) o.cksum = BG_CKSUM_AUTO;
				else if (strcmp(val, "md5") == 0) o.cksum = BG_CKSUM_MD5;
				else if (strcmp(val, "crc32c") == 0) o.cksum = BG_CKSUM_CRC32C;
				else if (strcmp(val, "none") == 0) o.cksum = BG_CKSUM_NONE;
				else return usage_error("--checksum '%s' must be auto, md5, crc32c or none", val);
			} else if (strcmp(a, "--src-profile") == 0) {
				src_profile = val;
			} else if (strcmp(a, "--dst-profile") == 0) {
				dst_profile = val;
			} else if (strcmp(a, "--env-file") == 0) {
				env_file = val;
			} else if (strcmp(a, "--ca-bundle") == 0) {
				ca_bundle = val;
			} else if (strcmp(a, "--journal") == 0) {
				journal_path = val;
				continue; /* not among the recorded options */
			} else if (strcmp(a, "--journal-sync") == 0) {
				if (strcmp(val, "normal") == 0) jsync = BG_JSYNC_NORMAL;
				else if (strcmp(val, "full") == 0) jsync = BG_JSYNC_FULL;
				else if (strcmp(val, "off") == 0) jsync = BG_JSYNC_OFF;
				else return usage_error("--journal-sync '%s' must be normal, full or off", val);
			} else if (strcmp(a, "--metrics-file") == 0) {
				metrics_file = val;
			} else if (strcmp(a, "--metrics-listen") == 0) {
				metrics_listen = val;
			} else if (strcmp(a, "--metrics-interval") == 0) {
				if (bg_parse_u64(val, 1, 86400, &v) < 0)
					return usage_error("--metrics-interval '%s' must be seconds from 1 to 86400", val);
				o.metrics_interval_ns = v * 1000000000ull;
			} else if (strcmp(a, "--log-format") == 0) {
				if (strcmp(val, "json") == 0) log_json = true;
				else if (strcmp(val, "text") == 0) log_json = false;
				else return usage_error("--log-format '%s' must be text or json", val);
			} else if (strcmp(a, "--log-level") == 0) {
				if (strcmp(val, "error") == 0) log_level = BG_LOG_ERROR;
				else if (strcmp(val, "warn") == 0) log_level = BG_LOG_WARN;
				else if (strcmp(val, "info") == 0) log_level = BG_LOG_INFO;
				else return usage_error("--log-level '%s' must be error, warn or info", val);
			} else if (strcmp(a, "--bwlimit") == 0) {
				uint64_t bu, bd;
				char berr[200];
				if (bg_bwlimit_parse(val, &bu, &bd, berr, sizeof(berr)) < 0)
					return usage_error("--bwlimit '%s': must be a rate such as 200M or up:100M,down:200M", val);
				o.bw_up = bu;
				o.bw_down = bd;
			} else if (strcmp(a, "--bwlimit-file") == 0) {
				o.bwlimit_file = val;
			} else {
				return usage_error("unknown option '%s'", a);
			}
			json_arg(&args_json, &nargs_json, a);
			if (!json_arg(&args_json, &nargs_json, val))
				not_utf8 = a;
			continue;
		} else if (a[0] == '-' && a[1]) {
			return usage_error("unknown option '%s'", a);
		}
		if (npos == 2)
			return usage_error("too many arguments: '%s' (copy takes SRC and DST)", a);
		pos[npos++] = a;
	}
	if (npos < 2)
		return usage_error("copy needs SRC and DST%s", "");
	if (not_utf8 && journal_path)
		return usage_error("the value of %s is not UTF-8: a journal cannot record it for "
				   "barge resume (give it in UTF-8, or copy without --journal)", not_utf8);
	if (!threshold_set)
		o.threshold = o.part_size;
	if (o.memory < 2 * o.part_size) {
		bg_text_line(stderr, "barge: --memory must be at least twice --part-size "
				"(a part is buffered while the next one is read)");
		return EXIT_USAGE;
	}
	if (o.threshold > o.memory / 2) {
		bg_text_line(stderr, "barge: --multipart-threshold must be at most half of --memory");
		return EXIT_USAGE;
	}
	o.filters = filters;
	o.nfilters = nfilters;

	char err[512];
	if (env_file && bg_envfile_load(env_file, err, sizeof(err)) < 0) {
		bg_text_line(stderr, "barge: %s", err);
		return EXIT_USAGE;
	}
	if (bg_location_parse(pos[0], &o.src, err, sizeof(err)) < 0 ||
	    bg_location_parse(pos[1], &o.dst, err, sizeof(err)) < 0) {
		bg_text_line(stderr, "barge: %s", err);
		return EXIT_USAGE;
	}
	bool lsrc = o.src.kind == BG_LOC_LOCAL, ldst = o.dst.kind == BG_LOC_LOCAL;
	if (lsrc && ldst) {
		bg_text_line(stderr, "barge: both SRC and DST are local paths: barge copies to or from a bucket (use cp or rsync between directories)");
		return EXIT_USAGE;
	}
	if ((!lsrc && bg_endpoint_resolve(o.src.kind, src_profile, &o.src_ep, err, sizeof(err)) < 0) ||
	    (!ldst && bg_endpoint_resolve(o.dst.kind, dst_profile, &o.dst_ep, err, sizeof(err)) < 0)) {
		bg_text_line(stderr, "barge: %s", err);
		return EXIT_USAGE;
	}
	if (ca_bundle && (cu_set_ca(ca_bundle, &o.src_ep, err, sizeof(err)) < 0 ||
			  cu_set_ca(ca_bundle, &o.dst_ep, err, sizeof(err)) < 0)) {
		bg_text_line(stderr, "barge: %s", err);
		return EXIT_USAGE;
	}
	if (insecure) {
		o.src_ep.insecure = o.dst_ep.insecure = true;
		bg_text_line(stderr, "barge: WARNING: --insecure: TLS certificates are NOT verified on either "
				"endpoint; anyone on the path can impersonate them, read and change the data");
	}
	if (!lsrc && !ldst && strcmp(o.src_ep.url, o.dst_ep.url) == 0 &&
	    strcmp(o.src.bucket, o.dst.bucket) == 0) {
		const char *a = o.src.prefix, *b = o.dst.prefix;
		size_t la = strlen(a), lb = strlen(b);
		if (strncmp(a, b, la < lb ? la : lb) == 0) {
			bg_text_line(stderr, "barge: SRC and DST overlap in the same bucket: choose prefixes that do not contain each other");
			return EXIT_USAGE;
		}
	}

	bg_progress prog;
	bg_progress_init(&prog, pmode, o.dry_run);
	copy_ctx cctx = { .prog = &prog };
	bg_log_setup(log_json, log_level);
	prog.json_log = log_json;
	if (metrics_file || metrics_listen) {
		cctx.mout = bg_mout_start(metrics_file, metrics_listen, err, sizeof(err));
		if (!cctx.mout) {
			bg_text_line(stderr, "barge: %s", err);
			return EXIT_USAGE;
		}
		o.on_metrics = copy_on_metrics;
	}
	o.on_progress = copy_on_progress;
	o.on_object = copy_on_object;
	o.on_retry = copy_on_retry;
	o.ctx = &cctx;
	o.stop = &stop_flag;
	o.reload = &reload_flag;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_hup);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN); /* a file-size limit is an error (EFBIG), not a kill */

	bg_status st = { 0 };
	bg_journal *j = NULL;
	bg_buf_addf(&args_json, "]}");
	if (journal_path && !o.dry_run) {
		char srcu[8300], dstu[8300];
		location_url(&o.src, srcu, sizeof(srcu));
		location_url(&o.dst, dstu, sizeof(dstu));
		bg_jident sid = cu_ident(&o.src, &o.src_ep), did = cu_ident(&o.dst, &o.dst_ep);
		if (bg_journal_open(&j, journal_path, BG_J_CREATE, jsync, &st) != BG_OK ||
		    bg_journal_begin_run(j, srcu, dstu, &sid, &did, args_json.data, &st) != BG_OK) {
			bg_text_line(stderr, "barge: %s", st.msg);
			bg_journal_close(j, NULL);
			bg_buf_free(&args_json);
			return st.code == BG_E_BUSY ? EXIT_TEMPFAIL : EXIT_USAGE; /* in use: 75 */
		}
		o.journal = j;
		if (resuming)
			bg_text_line(stderr, "barge: resuming %s -> %s from %s", srcu, dstu, journal_path);
	}
	bg_buf_free(&args_json);

	bg_copy_stats stats = { 0 };
	bg_err rc = bg_copy_run(&o, &stats, &st);
	int code = exit_code(rc, stop_flag);
	bg_mout_stop(cctx.mout);
	bg_endpoint_wipe(&o.src_ep);
	bg_endpoint_wipe(&o.dst_ep);
	for (unsigned i = 0; i < nfilters; i++)
		free(filter_mem[i]);
	if (j && end_journal(j, journal_path, code, &stats) < 0)
		return EXIT_USAGE;
	return say_end(&prog, &o, &stats, rc, &st, code, j ? journal_path : NULL);
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

static const char usage_resume[] =
	"usage: barge resume JOURNAL [options]\n"
	"\n"
	"Goes on with the copy JOURNAL records: the same SRC, DST and options as its\n"
	"last run (options given here are added after them, so they win), credentials\n"
	"from the environment as for copy. Same as repeating 'barge copy ... --journal\n"
	"JOURNAL'. The environment must name the same endpoints and keys as the\n"
	"journal's first run (docs/journal.md).\n"
	"\n"
	"Exit: 0 all copied and verified, 1 some objects failed, 2 usage, configuration\n"
	"or environment error, 75 temporary (journal in use, endpoints unreachable: run\n"
	"it again later), 130 interrupted by Ctrl-C, 143 by SIGTERM.\n";

static int cmd_resume(int argc, char **argv)
{
	if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
		fputs(usage_resume, stdout);
		return 0;
	}
	if (argc < 1 || argv[0][0] == '-') {
		bg_text_line(stderr, "barge: resume needs a JOURNAL (see 'barge resume --help')");
		return EXIT_USAGE;
	}
	const char *path = argv[0];
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
	for (int i = 1; i < argc && n < MAXA; i++)
		av[n++] = argv[i];
	av[n++] = (char *)"--journal";
	av[n++] = (char *)path;
	av[n] = NULL;
	resuming = true; /* said once the journal is open and locked */
	return cmd_copy(n, av);
}

static int cmd_status(int argc, char **argv)
{
	const char *path = NULL;
	bool json = false;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs("usage: barge status JOURNAL [--json]\n"
			      "\n"
			      "Objects and bytes done, in progress and failed (with the reasons) as\n"
			      "the journal records them; safe to run while a copy writes it.\n", stdout);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			bg_text_line(stderr, "barge: unknown option '%s' (see 'barge status --help')", argv[i]);
			return EXIT_USAGE;
		} else if (path) {
			bg_text_line(stderr, "barge: status takes one JOURNAL, not also '%s'", argv[i]);
			return EXIT_USAGE;
		} else {
			path = argv[i];
		}
	}
	if (!path) {
		bg_text_line(stderr, "barge: status needs a JOURNAL (see 'barge status --help')");
		return EXIT_USAGE;
	}
	bg_status st = { 0 };
	if (bg_journal_print_status(path, json, stdout, &st) < 0) {
		bg_text_line(stderr, "barge: %s", st.msg);
		return EXIT_USAGE;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_main, stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		fputs(usage_main, stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("barge 0.1.0 (%s)\n", curl_version());
		return 0;
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
	int rc;
	if (strcmp(cmd, "copy") == 0) {
		rc = cmd_copy(argc - 2, argv + 2);
	} else if (strcmp(cmd, "resume") == 0) {
		rc = cmd_resume(argc - 2, argv + 2);
	} else if (strcmp(cmd, "status") == 0) {
		rc = cmd_status(argc - 2, argv + 2);
	} else if (strcmp(cmd, "audit") == 0) {
		rc = cmd_audit(argc - 2, argv + 2);
	} else if (strcmp(cmd, "ls") == 0) {
		rc = cmd_ls(argc - 2, argv + 2);
	} else if (strcmp(cmd, "plan") == 0) {
		rc = cmd_plan(argc - 2, argv + 2);
	} else if (strcmp(cmd, "bench") == 0) {
		rc = cmd_bench(argc - 2, argv + 2);
	} else if (strcmp(cmd, "doctor") == 0) {
		rc = cmd_doctor(argc - 2, argv + 2);
	} else {
		bg_text_line(stderr, "barge: unknown command '%s' (see 'barge help')", cmd);
		rc = EXIT_USAGE;
	}
	curl_global_cleanup();
	return rc;
}
