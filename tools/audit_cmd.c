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
	const char *journal, *report, *src_profile, *dst_profile, *env_file, *ca_bundle;
	bool deep, source, has_sample, has_seed, insecure;
	double sample;
	uint64_t seed, memory;
	unsigned concurrency, retries;
	int pmode; /* bg_prog_mode */
} aargs;

/* --sample F: a fraction, 0 < F <= 1; it implies --deep. */
static int sample_opt(void *dst, const char *name, const char *val, char *err, size_t cap)
{
	aargs *a = dst;
	char *end = NULL;

	(void)name;
	errno = 0;
	a->sample = strtod(val, &end);
	if (errno || !end || end == val || *end || !(a->sample > 0.0) || a->sample > 1.0) {
		bg_snprintf(err, cap, "--sample '%s' must be a fraction above 0 and at most 1 (0.01 "
			    "is 1%%)", val);
		return -1;
	}
	a->has_sample = a->deep = true;
	return 0;
}

static int seed_opt(void *dst, const char *name, const char *val, char *err, size_t cap)
{
	aargs *a = dst;

	(void)name;
	if (bg_parse_u64(val, 0, (1ull << 53) - 1, &a->seed) < 0) {
		bg_snprintf(err, cap, "--seed '%s' must be a whole number below 2^53", val);
		return -1;
	}
	a->has_seed = true;
	return 0;
}

static const cli_opt audit_opts[] = {
	CLI_OPT_STR("--journal", "PATH", aargs, journal,
		    "the journal of the copy: compare with it and record\n"
		    "this audit and its findings in it"),
	CLI_OPT_FLAG("--deep", aargs, deep,
		     "re-read the destination by the journaled parts (without\n"
		     "a journal: re-read both sides and compare them)"),
	CLI_OPT_FN_ALL("--sample", "FRACTION", sample_opt,
		   "re-read only this fraction of the objects, 0 < F <= 1\n"
		   "(implies --deep; at least one object is re-read)"),
	CLI_OPT_FN_ALL("--seed", "N", seed_opt,
		   "the sample's seed (default: random; printed)"),
	CLI_OPT_FLAG("--source", aargs, source,
		     "with --deep and a journal: re-read the source too"),
	CLI_OPT_STR("--report", "FILE", aargs, report,
		    "write every finding and the summary as JSON to FILE"),
	CLI_OPT_UINT("--concurrency", "N", aargs, concurrency, 1, 1024, NULL,
		     "reads in flight (default 32)"),
	CLI_OPT_SIZE("--memory", "SIZE", aargs, memory, 4 * BG_MIB, 1ull << 40,
		     "memory budget for reads in flight (default 512M; 1 MiB\n"
		     "per read)"),
	CLI_OPT_UINT("--retries", "N", aargs, retries, 1, 100, NULL, CU_HELP_RETRIES),
	CLI_OPT_CHOICE("--progress", "MODE", aargs, pmode, cu_progress_modes, CU_HELP_PROGRESS),
	CLI_OPT_STR("--src-profile", "P", aargs, src_profile, CU_HELP_SRC_PROFILE),
	CLI_OPT_STR("--dst-profile", "P", aargs, dst_profile, CU_HELP_DST_PROFILE),
	CLI_OPT_STR("--env-file", "FILE", aargs, env_file, CU_HELP_ENV_FILE),
	CLI_OPT_STR("--ca-bundle", "FILE", aargs, ca_bundle,
		    CU_HELP_CA_BOTH "\n(default: AWS_CA_BUNDLE, a profile's ca_bundle, the system's)"),
	CLI_OPT_FLAG("--insecure", aargs, insecure, CU_HELP_INSECURE),
	CU_REFUSE_PROFILE,
	CLI_OPT_END,
};

static const cli_cmd audit_cmd = {
	.name = "audit",
	.usage = "usage: barge audit SRC DST [options]\n"
		 "\n"
		 "Compares SRC and DST (s3://bucket[/prefix] or r2://bucket[/prefix]) and, with a\n"
		 "journal, both with what the copy recorded. Reports objects missing on DST, extra\n"
		 "on DST, size and ETag mismatches (where ETags are comparable), objects changed on\n"
		 "SRC since they were copied, objects the journal does not know and multipart\n"
		 "uploads left open on DST; --deep re-reads data and compares each part's XXH3\n"
		 "with the journal (docs/audit.md).\n",
	.tail = "Credentials as for 'barge copy' (see 'barge copy --help').\n"
		"\n"
		"Exit: 0 clean, 1 something was found (each finding named), 2 the audit could not\n"
		"be done (usage, configuration, a bucket missing, access denied, a listing that\n"
		"failed, an unreadable journal).\n",
	.opts = audit_opts,
	.pos_min = 2, .pos_max = 2,
	.pos_need = "SRC and DST", .pos_takes = "SRC and DST",
};

/* 0, 1 for --help (printed), or EXIT_USAGE (message printed). */
static int parse(int argc, char **argv, aargs *a, cli_args *pos)
{
	int r = cli_parse(&audit_cmd, a, argc, argv, pos);
	if (r)
		return r < 0 ? EXIT_USAGE : 1;
	if (a->source && !a->deep)
		return cli_usage("audit", "--source re-reads the source: it needs --deep (or --sample)");
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

/* Loads --env-file, parses SRC and DST, resolves both endpoints with
 * --ca-bundle and --insecure, picks a sample's seed.  0, or EXIT_USAGE
 * (said). */
static int resolve(aargs *a, const cli_args *pos, bg_audit_opts *o)
{
	char err[512];

	if (a->env_file && bg_envfile_load(a->env_file, err, sizeof(err)) < 0)
		goto fail;
	if (bg_location_parse(pos->pos[0], &o->src, err, sizeof(err)) < 0 ||
	    bg_location_parse(pos->pos[1], &o->dst, err, sizeof(err)) < 0)
		goto fail;
	if (o->src.kind == BG_LOC_LOCAL || o->dst.kind == BG_LOC_LOCAL) {
		bg_text_line(stderr, "barge: audit compares buckets: use s3://bucket or r2://bucket on both sides");
		return EXIT_USAGE;
	}
	if (bg_endpoint_resolve(o->src.kind, a->src_profile, &o->src_ep, err, sizeof(err)) < 0 ||
	    bg_endpoint_resolve(o->dst.kind, a->dst_profile, &o->dst_ep, err, sizeof(err)) < 0)
		goto fail;
	if (cu_tls_both(a->ca_bundle, a->insecure, &o->src_ep, &o->dst_ep))
		return EXIT_USAGE;
	if (a->has_sample && !a->has_seed) {
		uint32_t r = 0;
		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
			r = (uint32_t)time(NULL) ^ (uint32_t)getpid();
		a->seed = r;
	}
	return 0;
fail:
	bg_text_line(stderr, "barge: %s", err);
	return EXIT_USAGE;
}

/* The report goes to FILE.tmp first: FILE appears whole or not at all.
 * 0 (with *rep NULL when no report was asked for), or an exit code. */
static int open_report(const aargs *a, char *tmp, size_t cap, FILE **rep)
{
	*rep = NULL;
	if (!a->report)
		return 0;
	if (bg_snprintf(tmp, cap, "%s.tmp", a->report) < 0) {
		bg_text_line(stderr, "barge: --report path too long");
		return EXIT_USAGE;
	}
	*rep = fopen(tmp, "w");
	if (!*rep) {
		bg_text_line(stderr, "barge: cannot write the report %s: %s", tmp, strerror(errno));
		return EXIT_USAGE;
	}
	fputs("{\"findings\": [", *rep);
	return 0;
}

/* --journal: the audit's row, with its options and the endpoints'
 * identity.  0, or an exit code (75 when the journal is in use). */
static int begin_journal(const aargs *a, const bg_audit_opts *o, const char *srcu,
			 const char *dstu, bg_journal **j, int64_t *audit_id)
{
	char opts[512];
	bg_status st = { 0 };
	bg_snprintf(opts, sizeof(opts), "{\"deep\": %s, \"sample\": %.17g, \"source\": %s, "
		    "\"concurrency\": %u, \"memory\": %" PRIu64 ", \"report\": %s}",
		    a->deep ? "true" : "false", a->has_sample ? a->sample : 1.0,
		    a->source ? "true" : "false", a->concurrency, a->memory,
		    a->report ? "true" : "false");
	bg_jident sid = cu_ident(&o->src, &o->src_ep), did = cu_ident(&o->dst, &o->dst_ep);
	bg_jaudit_begin jb = { .src = srcu, .dst = dstu, .src_id = &sid, .dst_id = &did,
			       .options = opts, .deep = a->deep,
			       .sample = a->has_sample ? a->sample : -1.0,
			       .has_seed = a->has_sample, .seed = a->seed };
	if (bg_journal_open(j, a->journal, 0, BG_JSYNC_NORMAL, &st) == BG_OK &&
	    bg_journal_begin_audit(*j, &jb, audit_id, &st) == BG_OK)
		return 0;
	bg_text_line(stderr, "barge: %s", st.msg);
	bg_journal_close(*j, NULL);
	*j = NULL;
	return st.code == BG_E_BUSY ? EXIT_TEMPFAIL : EXIT_USAGE;
}

/* The engine's options from the command line's. */
static void set_opts(bg_audit_opts *o, const aargs *a, bg_journal *j, actx *c)
{
	o->journal = j;
	o->deep = a->deep;
	o->sample = a->has_sample ? a->sample : 1.0;
	o->seed = a->seed;
	o->reread_source = a->source;
	o->concurrency = a->concurrency;
	o->memory = a->memory;
	o->retries = a->retries;
	o->on_finding = on_finding;
	o->on_progress = on_progress;
	o->ctx = c;
	o->stop = &stop_flag;
}

/* The audit's end in the journal; a failure there turns a clean exit code
 * into 2, with the journal's message in *st.  The exit code. */
static int end_journal(bg_journal *j, const aargs *a, const bg_audit_stats *s, int code,
		       bg_status *st)
{
	bg_jaudit_end je = { .objects_checked = s->objects_checked,
			     .objects_reread = s->objects_reread, .bytes_reread = s->bytes_reread,
			     .findings = s->findings, .not_comparable = s->not_comparable,
			     .exit_code = code, .error = code > EXIT_FOUND ? st->msg : NULL };
	bg_status jst = { 0 };
	if (bg_journal_end_audit(j, &je, &jst) == BG_OK && bg_journal_close(j, &jst) == BG_OK)
		return code;
	bg_text_line(stderr, "barge: journal %s: %s (this audit's record may be incomplete)",
		     a->journal, jst.msg);
	if (code == 0 || code == EXIT_FOUND) {
		code = EXIT_USAGE;
		bg_strlcpy(st->msg, jst.msg, sizeof(st->msg));
	}
	return code;
}

/* The summary on stdout: a JSON line, or text after the findings. */
static void print_end(const actx *c, const aargs *a, const bg_audit_stats *s, const char *srcu,
		      const char *dstu, int64_t audit_id, int code, const char *msg)
{
	if (c->mode == BG_PROG_JSON) {
		printf("{\"type\": \"summary\", \"findings\": %" PRIu64 ", \"objects_checked\": %" PRIu64
		       ", \"objects_reread\": %" PRIu64 ", \"bytes_reread\": %" PRIu64
		       ", \"not_comparable\": %" PRIu64 ", \"retries\": %" PRIu64 ", \"seed\": ",
		       s->findings, s->objects_checked, s->objects_reread, s->bytes_reread,
		       s->not_comparable, s->retries);
		jnum(stdout, a->has_sample ? (int64_t)a->seed : -1);
		printf(", \"audit_id\": ");
		jnum(stdout, a->journal ? audit_id : -1);
		printf(", \"exit_code\": %d}\n", code);
		return;
	}
	if (c->printed < c->nfound)
		printf("... and %" PRIu64 " more findings (%s)\n", c->nfound - c->printed,
		       a->report ? "all are in the report" :
		       a->journal ? "all are in the journal's audit_findings" :
		       "use --report FILE for all of them");
	summary(stdout, s, a, srcu, dstu, audit_id, code, msg);
}

int cmd_audit(int argc, char **argv)
{
	static bg_audit_opts o; /* endpoints are large */
	aargs a = { .concurrency = 32, .retries = 10, .memory = 512 * BG_MIB,
		    .pmode = BG_PROG_AUTO };
	cli_args pos;
	int p = parse(argc, argv, &a, &pos);
	if (p)
		return p == 1 ? 0 : p;
	if (resolve(&a, &pos, &o))
		return EXIT_USAGE;
	char srcu[1200], dstu[1200], tmp[4200];
	location_url(&o.src, srcu, sizeof(srcu));
	location_url(&o.dst, dstu, sizeof(dstu));
	FILE *rep;
	int code = open_report(&a, tmp, sizeof(tmp), &rep);
	if (code)
		return code;
	bg_journal *j = NULL;
	int64_t audit_id = 0;
	if (a.journal && (code = begin_journal(&a, &o, srcu, dstu, &j, &audit_id)) != 0) {
		if (rep) {
			fclose(rep);
			unlink(tmp);
		}
		return code;
	}
	actx c = { .mode = (bg_prog_mode)a.pmode, .report = rep };
	if (c.mode == BG_PROG_AUTO)
		c.mode = isatty(STDERR_FILENO) ? BG_PROG_BAR : BG_PROG_NONE;
	set_opts(&o, &a, j, &c);
	cu_catch_stop(&stop_flag);
	signal(SIGPIPE, SIG_IGN);
	if (a.has_sample && c.mode != BG_PROG_JSON)
		fprintf(stderr, "barge: sampling %g of the objects with seed %" PRIu64
			" (--seed %" PRIu64 " repeats this sample)\n", a.sample, a.seed, a.seed);

	double t0 = wall_now();
	bg_audit_stats s = { 0 };
	bg_status st = { 0 };
	bg_err rc = bg_audit_run(&o, &s, &st);
	bg_endpoint_wipe(&o.src_ep);
	bg_endpoint_wipe(&o.dst_ep);
	code = exit_code(rc, stop_flag);
	clear_bar(&c);
	if (j)
		code = end_journal(j, &a, &s, code, &st);
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
	print_end(&c, &a, &s, srcu, dstu, audit_id, code, st.msg);
	fflush(stdout);
	if (code > EXIT_FOUND)
		bg_text_line(stderr, "barge: %s", st.msg);
	return code;
}
