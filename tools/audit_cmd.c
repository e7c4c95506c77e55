/* audit_cmd.c - `barge audit SRC DST`: parses, resolves configuration,
 * opens the journal, runs bg_audit_run, prints findings and a summary, and
 * writes the JSON report (docs/audit.md). */
#include "audit_cmd.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "cmdutil.h"
#include "config.h"
#include "esc.h"
#include "journal.h"
#include "plan.h"
#include "progress.h"

#define EXIT_FOUND 1
#define EXIT_USAGE 2
#define EXIT_TEMPFAIL 75 /* journal in use, endpoints unreachable: run it again later */
#define MAX_LINES 100 /* findings printed on the terminal */

static const char usage_audit[] =
	"usage: barge audit SRC DST [options]\n"
	"\n"
	"Compares SRC and DST (s3://bucket[/prefix] or r2://bucket[/prefix]) and, with a\n"
	"journal, both with what the copy recorded. Reports objects missing on DST, extra\n"
	"on DST, size and ETag mismatches (where ETags are comparable), objects changed on\n"
	"SRC since they were copied, objects the journal does not know and multipart\n"
	"uploads left open on DST; --deep re-reads data and compares each part's XXH3\n"
	"with the journal (docs/audit.md).\n"
	"\n"
	"  --journal PATH         the journal of the copy: compare with it and record\n"
	"                         this audit and its findings in it\n"
	"  --deep                 re-read the destination by the journaled parts (without\n"
	"                         a journal: re-read both sides and compare them)\n"
	"  --sample FRACTION      re-read only this fraction of the objects, 0 < F <= 1\n"
	"                         (implies --deep; at least one object is re-read)\n"
	"  --seed N               the sample's seed (default: random; printed)\n"
	"  --source               with --deep and a journal: re-read the source too\n"
	"  --report FILE          write every finding and the summary as JSON to FILE\n"
	"  --concurrency N        reads in flight (default 32)\n"
	"  --memory SIZE          memory budget for reads in flight (default 512M; 1 MiB\n"
	"                         per read)\n"
	"  --retries N            attempts per request (default 10)\n"
	"  --progress MODE        auto, bar, json or none (default auto)\n"
	"  --src-profile P        shared-config profile for SRC\n"
	"  --dst-profile P        shared-config profile for DST\n"
	"  --env-file FILE        load KEY=VALUE lines (R2 keys, ...) from FILE\n"
	"\n"
	"Credentials as for 'barge copy' (see 'barge copy --help').\n"
	"\n"
	"Exit: 0 clean, 1 something was found (each finding named), 2 the audit could not\n"
	"be done (usage, configuration, a bucket missing, access denied, a listing that\n"
	"failed, an unreadable journal).\n";

static volatile int stop_flag; /* the signal that asked to stop, 0 */

/* The exit code of an audit that returned rc: 0 clean, 1 findings, 75
 * temporary, 128 + the signal when interrupted, else 2. */
static int exit_code(bg_err rc, int sig)
{
	if (rc == BG_OK)
		return 0;
	if (sig)
		return 128 + sig;
	if (rc == BG_E_INTEGRITY)
		return EXIT_FOUND;
	return rc == BG_E_NET || rc == BG_E_BUSY ? EXIT_TEMPFAIL : EXIT_USAGE;
}

/* Long options that take a value. */
static const char *const value_options[] = {
		"--journal", "--sample", "--seed", "--report", "--concurrency", "--memory",
		"--retries", "--progress", "--src-profile", "--dst-profile", "--env-file",
};

static void jnum(FILE *f, int64_t v)
{
	if (v < 0)
		fputs("null", f);
	else
		fprintf(f, "%" PRId64, v);
}

static void finding_json(FILE *f, const bg_afinding *x)
{
	fputs("{\"kind\": ", f);
	bg_json_put(f, bg_audit_kind_name(x->kind));
	fputs(", \"key\": ", f);
	bg_json_put(f, x->key);
	fputs(", \"detail\": ", f);
	bg_json_put(f, x->detail);
	fputs(", \"src_size\": ", f);
	jnum(f, x->src_size);
	fputs(", \"dst_size\": ", f);
	jnum(f, x->dst_size);
	fputs(", \"src_etag\": ", f);
	bg_json_put(f, x->src_etag && x->src_etag[0] ? x->src_etag : NULL);
	fputs(", \"dst_etag\": ", f);
	bg_json_put(f, x->dst_etag && x->dst_etag[0] ? x->dst_etag : NULL);
	fputs(", \"part\": ", f);
	jnum(f, x->part ? (int64_t)x->part : -1);
	fputc('}', f);
}

typedef struct actx {
	bg_prog_mode mode;
	FILE *report;
	uint64_t nfound, printed;
	bool bar_drawn;
} actx;

static void clear_bar(actx *c)
{
	if (c->bar_drawn) {
		fputs("\r\033[K", stderr);
		c->bar_drawn = false;
	}
}

static void on_finding(void *ctx, const bg_afinding *f)
{
	actx *c = ctx;
	if (c->report) {
		fputs(c->nfound ? ",\n  " : "\n  ", c->report);
		finding_json(c->report, f);
	}
	c->nfound++;
	if (c->mode == BG_PROG_JSON) {
		fputs("{\"type\": \"finding\", \"finding\": ", stdout);
		finding_json(stdout, f);
		fputs("}\n", stdout);
		fflush(stdout);
		return;
	}
	if (c->printed == MAX_LINES)
		return;
	c->printed++;
	clear_bar(c);
	printf("%-20s ", bg_audit_kind_name(f->kind));
	bg_text_put(stdout, f->key);
	if (f->part)
		printf(" (part %u)", f->part);
	fputs(": ", stdout);
	bg_text_put(stdout, f->detail);
	fputc('\n', stdout);
	fflush(stdout);
}

static void on_progress(void *ctx, const bg_audit_stats *s)
{
	actx *c = ctx;
	char b[32];
	bg_human_bytes((double)s->bytes_reread, b, sizeof(b));
	if (c->mode == BG_PROG_JSON) {
		printf("{\"type\": \"progress\", \"source_objects\": %" PRIu64
		       ", \"destination_objects\": %" PRIu64 ", \"objects_checked\": %" PRIu64
		       ", \"objects_reread\": %" PRIu64 ", \"bytes_reread\": %" PRIu64
		       ", \"findings\": %" PRIu64 ", \"elapsed_s\": %.3f}\n",
		       s->src_objects, s->dst_objects, s->objects_checked, s->objects_reread,
		       s->bytes_reread, s->findings, (double)s->elapsed_ns / 1e9);
		fflush(stdout);
	} else if (c->mode == BG_PROG_BAR) {
		fprintf(stderr, "\r\033[Kaudit: %" PRIu64 " keys checked, %" PRIu64
			" re-read (%s), %" PRIu64 " findings, %.0f s", s->objects_checked,
			s->objects_reread, b, s->findings, (double)s->elapsed_ns / 1e9);
		c->bar_drawn = true;
	}
}

/* The location as the journal records it: scheme://bucket[/prefix]. */
static void location_url(const bg_location *l, char *out, size_t cap)
{
	const char *scheme = l->kind == BG_LOC_R2 ? "r2" : "s3";
	if (l->prefix[0])
		bg_snprintf(out, cap, "%s://%s/%s", scheme, l->bucket, l->prefix);
	else
		bg_snprintf(out, cap, "%s://%s", scheme, l->bucket);
}

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct aargs {
	const char *pos[2];
	const char *journal, *report, *src_profile, *dst_profile, *env_file;
	bool deep, source, has_sample, has_seed;
	double sample;
	uint64_t seed, memory;
	unsigned concurrency, retries;
	bg_prog_mode pmode;
} aargs;

/* 0, 1 for --help (printed), or EXIT_USAGE (message printed). */
static int parse(int argc, char **argv, aargs *a)
{
	unsigned npos = 0;
	uint64_t v;
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		const char *val = NULL;
		char name[32];
		int kind;
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			fputs(usage_audit, stdout);
			return 1;
		} else if (strcmp(arg, "--deep") == 0) {
			a->deep = true;
			continue;
		} else if (strcmp(arg, "--source") == 0) {
			a->source = true;
			continue;
		} else if ((kind = cu_value_option("audit", argc, argv, &i, value_options,
						   sizeof(value_options) / sizeof(value_options[0]),
						   name, sizeof(name), &val)) != 0) {
			if (kind < 0)
				return EXIT_USAGE;
			if (strcmp(name, "--journal") == 0) {
				a->journal = val;
			} else if (strcmp(name, "--report") == 0) {
				a->report = val;
			} else if (strcmp(name, "--sample") == 0) {
				char *end = NULL;
				errno = 0;
				a->sample = strtod(val, &end);
				if (errno || !end || end == val || *end || !(a->sample > 0.0) ||
				    a->sample > 1.0)
					return cu_usage_error("audit", "--sample '%s' must be a fraction above 0 and at most 1 (0.01 is 1%%)", val);
				a->has_sample = a->deep = true;
			} else if (strcmp(name, "--seed") == 0) {
				if (bg_parse_u64(val, 0, (1ull << 53) - 1, &a->seed) < 0)
					return cu_usage_error("audit", "--seed '%s' must be a whole number below 2^53", val);
				a->has_seed = true;
			} else if (strcmp(name, "--concurrency") == 0) {
				if (bg_parse_u64(val, 1, 1024, &v) < 0)
					return cu_usage_error("audit", "--concurrency '%s' must be a number from 1 to 1024", val);
				a->concurrency = (unsigned)v;
			} else if (strcmp(name, "--retries") == 0) {
				if (bg_parse_u64(val, 1, 100, &v) < 0)
					return cu_usage_error("audit", "--retries '%s' must be a number from 1 to 100", val);
				a->retries = (unsigned)v;
			} else if (strcmp(name, "--memory") == 0) {
				if (bg_parse_size(val, &a->memory) < 0 || a->memory < 4 * BG_MIB ||
				    a->memory > (1ull << 40))
					return cu_usage_error("audit", "--memory '%s' must be a size from 4M to 1T", val);
			} else if (strcmp(name, "--progress") == 0) {
				if (strcmp(val, "auto") == 0) a->pmode = BG_PROG_AUTO;
				else if (strcmp(val, "bar") == 0) a->pmode = BG_PROG_BAR;
				else if (strcmp(val, "json") == 0) a->pmode = BG_PROG_JSON;
				else if (strcmp(val, "none") == 0) a->pmode = BG_PROG_NONE;
				else return cu_usage_error("audit", "--progress '%s' must be auto, bar, json or none", val);
			} else if (strcmp(name, "--src-profile") == 0) {
				a->src_profile = val;
			} else if (strcmp(name, "--dst-profile") == 0) {
				a->dst_profile = val;
			} else if (strcmp(name, "--env-file") == 0) {
				a->env_file = val;
			}
			continue;
		} else if (arg[0] == '-' && arg[1]) {
			return cu_usage_error("audit", "unknown option '%s'", arg);
		}
		if (npos == 2)
			return cu_usage_error("audit", "too many arguments: '%s' (audit takes SRC and DST)", arg);
		a->pos[npos++] = arg;
	}
	if (npos < 2)
		return cu_usage_error("audit", "audit needs SRC and DST%s", "");
	if (a->source && !a->deep)
		return cu_usage_error("audit", "--source re-reads the source: it needs --deep (or --sample)%s", "");
	return 0;
}

static void summary(FILE *f, const bg_audit_stats *s, const aargs *a, const char *srcu,
		    const char *dstu, int64_t audit_id, int code, const char *error)
{
	char sb[32], db[32], rb[32];
	bg_human_bytes((double)s->src_bytes, sb, sizeof(sb));
	bg_human_bytes((double)s->dst_bytes, db, sizeof(db));
	bg_human_bytes((double)s->bytes_reread, rb, sizeof(rb));
	char jn[64] = "";
	if (a->journal)
		bg_snprintf(jn, sizeof(jn), " (audit %" PRId64 ")", audit_id);
	bg_text_line(f, "audit %s -> %s%s%s%s", srcu, dstu, a->journal ? " with journal " : "",
		     a->journal ? a->journal : "", jn);
	fprintf(f, "  listed: %" PRIu64 " source objects (%s), %" PRIu64
		" destination objects (%s)%s\n", s->src_objects, sb, s->dst_objects, db,
		s->listing_done ? "" : ", listing incomplete");
	fprintf(f, "  compared: %" PRIu64 " keys, %" PRIu64 " on both sides", s->objects_checked,
		s->both);
	if (s->not_comparable)
		fprintf(f, "; ETags not comparable for %" PRIu64 " (different part layouts, not "
			"counted as findings)", s->not_comparable);
	fputc('\n', f);
	if (a->deep) {
		fprintf(f, "  re-read: %" PRIu64 " objects, %s, %" PRIu64 " ranges", s->objects_reread,
			rb, s->parts_reread);
		if (a->has_sample)
			fprintf(f, " (sample %g of %" PRIu64 " objects, seed %" PRIu64 ")", a->sample,
				s->deep_candidates, a->seed);
		if (s->unverifiable)
			fprintf(f, "; %" PRIu64 " could not be verified (no journal record of their "
				"bytes, source changed)", s->unverifiable);
		fputc('\n', f);
	}
	fprintf(f, "  findings: %" PRIu64, s->findings);
	const char *sep = " (";
	for (int k = 0; k < BG_AK_COUNT; k++) {
		if (!s->by_kind[k])
			continue;
		fprintf(f, "%s%s %" PRIu64, sep, bg_audit_kind_name((bg_akind)k), s->by_kind[k]);
		sep = ", ";
	}
	fputs(s->findings ? ")\n" : "\n", f);
	if (code == 0)
		fputs("result: clean\n", f);
	else if (code == EXIT_FOUND)
		fputs("result: problems found (exit 1)\n", f);
	else
		bg_text_line(f, "result: the audit could not be completed: %s (exit %d)", error, code);
}

static void report_tail(FILE *f, const bg_audit_stats *s, const aargs *a, const char *srcu,
			const char *dstu, int64_t audit_id, double t0, int code, const char *error)
{
	fprintf(f, "%s],\n", s->findings ? "\n" : "");
	fputs("\"report\": \"barge audit\", \"version\": 1,\n\"source\": ", f);
	bg_json_put(f, srcu);
	fputs(", \"destination\": ", f);
	bg_json_put(f, dstu);
	fputs(", \"journal\": ", f);
	bg_json_put(f, a->journal);
	fputs(", \"audit_id\": ", f);
	jnum(f, a->journal ? audit_id : -1);
	fprintf(f, ",\n\"started_at\": %.3f, \"ended_at\": %.3f,\n", t0, wall_now());
	fprintf(f, "\"options\": {\"deep\": %s, \"sample\": ", a->deep ? "true" : "false");
	if (a->has_sample)
		fprintf(f, "%.17g, \"seed\": %" PRIu64, a->sample, a->seed);
	else
		fputs("null, \"seed\": null", f);
	fprintf(f, ", \"source\": %s},\n", a->source ? "true" : "false");
	fprintf(f, "\"summary\": {\"source_objects\": %" PRIu64 ", \"source_bytes\": %" PRIu64
		", \"destination_objects\": %" PRIu64 ", \"destination_bytes\": %" PRIu64
		", \"objects_checked\": %" PRIu64 ", \"on_both_sides\": %" PRIu64
		", \"not_comparable\": %" PRIu64 ", \"deep_candidates\": %" PRIu64
		", \"objects_reread\": %" PRIu64 ", \"bytes_reread\": %" PRIu64
		", \"ranges_reread\": %" PRIu64 ", \"unverifiable\": %" PRIu64
		", \"listing_complete\": %s, \"requests\": %" PRIu64 ", \"retries\": %" PRIu64
		", \"findings\": %" PRIu64 ", \"by_kind\": {",
		s->src_objects, s->src_bytes, s->dst_objects, s->dst_bytes, s->objects_checked,
		s->both, s->not_comparable, s->deep_candidates, s->objects_reread,
		s->bytes_reread, s->parts_reread, s->unverifiable,
		s->listing_done ? "true" : "false", s->requests, s->retries, s->findings);
	const char *sep = "";
	for (int k = 0; k < BG_AK_COUNT; k++) {
		if (!s->by_kind[k])
			continue;
		fprintf(f, "%s\"%s\": %" PRIu64, sep, bg_audit_kind_name((bg_akind)k), s->by_kind[k]);
		sep = ", ";
	}
	fprintf(f, "}, \"elapsed_s\": %.3f},\n\"exit_code\": %d, \"error\": ",
		(double)s->elapsed_ns / 1e9, code);
	bg_json_put(f, code > EXIT_FOUND ? error : NULL);
	fputs("}\n", f);
}

int cmd_audit(int argc, char **argv)
{
	static bg_audit_opts o; /* endpoints are large */
	aargs a = { .concurrency = 32, .retries = 10, .memory = 512 * BG_MIB,
		    .pmode = BG_PROG_AUTO };
	int p = parse(argc, argv, &a);
	if (p)
		return p == 1 ? 0 : p;

	char err[512];
	if (a.env_file && bg_envfile_load(a.env_file, err, sizeof(err)) < 0) {
		bg_text_line(stderr, "barge: %s", err);
		return EXIT_USAGE;
	}
	if (bg_location_parse(a.pos[0], &o.src, err, sizeof(err)) < 0 ||
	    bg_location_parse(a.pos[1], &o.dst, err, sizeof(err)) < 0) {
		bg_text_line(stderr, "barge: %s", err);
		return EXIT_USAGE;
	}
	if (o.src.kind == BG_LOC_LOCAL || o.dst.kind == BG_LOC_LOCAL) {
		bg_text_line(stderr, "barge: audit compares buckets: use s3://bucket or r2://bucket on both sides");
		return EXIT_USAGE;
	}
	if (bg_endpoint_resolve(o.src.kind, a.src_profile, &o.src_ep, err, sizeof(err)) < 0 ||
	    bg_endpoint_resolve(o.dst.kind, a.dst_profile, &o.dst_ep, err, sizeof(err)) < 0) {
		bg_text_line(stderr, "barge: %s", err);
		return EXIT_USAGE;
	}
	if (a.has_sample && !a.has_seed) {
		uint32_t r = 0;
		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
			r = (uint32_t)time(NULL) ^ (uint32_t)getpid();
		a.seed = r;
	}
	char srcu[1200], dstu[1200];
	location_url(&o.src, srcu, sizeof(srcu));
	location_url(&o.dst, dstu, sizeof(dstu));

	/* The report goes to FILE.tmp first: FILE appears whole or not at all. */
	char tmp[4200];
	FILE *rep = NULL;
	if (a.report) {
		if (bg_snprintf(tmp, sizeof(tmp), "%s.tmp", a.report) < 0) {
			bg_text_line(stderr, "barge: --report path too long");
			return EXIT_USAGE;
		}
		rep = fopen(tmp, "w");
		if (!rep) {
			bg_text_line(stderr, "barge: cannot write the report %s: %s", tmp, strerror(errno));
			return EXIT_USAGE;
		}
		fputs("{\"findings\": [", rep);
	}

	bg_status st = { 0 };
	bg_journal *j = NULL;
	int64_t audit_id = 0;
	if (a.journal) {
		char opts[512];
		bg_snprintf(opts, sizeof(opts), "{\"deep\": %s, \"sample\": %.17g, \"source\": %s, "
			    "\"concurrency\": %u, \"memory\": %" PRIu64 ", \"report\": %s}",
			    a.deep ? "true" : "false", a.has_sample ? a.sample : 1.0,
			    a.source ? "true" : "false", a.concurrency, a.memory,
			    a.report ? "true" : "false");
		bg_jident sid = cu_ident(&o.src, &o.src_ep), did = cu_ident(&o.dst, &o.dst_ep);
		bg_jaudit_begin jb = { .src = srcu, .dst = dstu, .src_id = &sid, .dst_id = &did,
				       .options = opts, .deep = a.deep,
				       .sample = a.has_sample ? a.sample : -1.0,
				       .has_seed = a.has_sample, .seed = a.seed };
		if (bg_journal_open(&j, a.journal, 0, BG_JSYNC_NORMAL, &st) != BG_OK ||
		    bg_journal_begin_audit(j, &jb, &audit_id, &st) != BG_OK) {
			bg_text_line(stderr, "barge: %s", st.msg);
			bg_journal_close(j, NULL);
			if (rep) {
				fclose(rep);
				unlink(tmp);
			}
			return st.code == BG_E_BUSY ? EXIT_TEMPFAIL : EXIT_USAGE; /* in use: 75 */
		}
	}

	actx c = { .mode = a.pmode, .report = rep };
	if (c.mode == BG_PROG_AUTO)
		c.mode = isatty(STDERR_FILENO) ? BG_PROG_BAR : BG_PROG_NONE;
	o.journal = j;
	o.deep = a.deep;
	o.sample = a.has_sample ? a.sample : 1.0;
	o.seed = a.seed;
	o.reread_source = a.source;
	o.concurrency = a.concurrency;
	o.memory = a.memory;
	o.retries = a.retries;
	o.on_finding = on_finding;
	o.on_progress = on_progress;
	o.ctx = &c;
	o.stop = &stop_flag;
	cu_catch_stop(&stop_flag);
	signal(SIGPIPE, SIG_IGN);
	if (a.has_sample && c.mode != BG_PROG_JSON)
		fprintf(stderr, "barge: sampling %g of the objects with seed %" PRIu64
			" (--seed %" PRIu64 " repeats this sample)\n", a.sample, a.seed, a.seed);

	double t0 = wall_now();
	bg_audit_stats s = { 0 };
	bg_err rc = bg_audit_run(&o, &s, &st);
	bg_endpoint_wipe(&o.src_ep);
	bg_endpoint_wipe(&o.dst_ep);
	int code = exit_code(rc, stop_flag);
	clear_bar(&c);

	if (j) {
		bg_jaudit_end je = { .objects_checked = s.objects_checked,
				     .objects_reread = s.objects_reread,
				     .bytes_reread = s.bytes_reread, .findings = s.findings,
				     .not_comparable = s.not_comparable, .exit_code = code,
				     .error = code > EXIT_FOUND ? st.msg : NULL };
		bg_status jst = { 0 };
		if (bg_journal_end_audit(j, &je, &jst) != BG_OK ||
		    bg_journal_close(j, &jst) != BG_OK) {
			bg_text_line(stderr, "barge: journal %s: %s (this audit's record may be incomplete)",
				a.journal, jst.msg);
			if (code == 0 || code == EXIT_FOUND) {
				code = EXIT_USAGE;
				bg_strlcpy(st.msg, jst.msg, sizeof(st.msg));
			}
		}
	}
	if (rep) {
		report_tail(rep, &s, &a, srcu, dstu, audit_id, t0, code, st.msg);
		bool bad = ferror(rep) != 0;
		if (fclose(rep) != 0 || bad || rename(tmp, a.report) != 0) {
			bg_text_line(stderr, "barge: cannot write the report %s: %s", a.report,
				strerror(errno));
			unlink(tmp);
			code = EXIT_USAGE;
		}
	}
	if (c.mode == BG_PROG_JSON) {
		printf("{\"type\": \"summary\", \"findings\": %" PRIu64 ", \"objects_checked\": %" PRIu64
		       ", \"objects_reread\": %" PRIu64 ", \"bytes_reread\": %" PRIu64
		       ", \"not_comparable\": %" PRIu64 ", \"retries\": %" PRIu64 ", \"seed\": ",
		       s.findings, s.objects_checked, s.objects_reread, s.bytes_reread,
		       s.not_comparable, s.retries);
		jnum(stdout, a.has_sample ? (int64_t)a.seed : -1);
		printf(", \"audit_id\": ");
		jnum(stdout, a.journal ? audit_id : -1);
		printf(", \"exit_code\": %d}\n", code);
	} else {
		if (c.printed < c.nfound)
			printf("... and %" PRIu64 " more findings (%s)\n", c.nfound - c.printed,
			       a.report ? "all are in the report" :
			       a.journal ? "all are in the journal's audit_findings" :
			       "use --report FILE for all of them");
		summary(stdout, &s, &a, srcu, dstu, audit_id, code, st.msg);
	}
	fflush(stdout);
	if (code > EXIT_FOUND)
		bg_text_line(stderr, "barge: %s", st.msg);
	return code;
}
