/* bench_cmd.c - `barge bench SRC DST`: parses, resolves configuration, runs
 * bg_bench_run and prints one table (or one JSON document) of the phases. */
#include "bench_cmd.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cmdutil.h"
#include "config.h"
#include "esc.h"
#include "plan.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2

static volatile int stop_flag;

/* What the command line says. */
typedef struct bargs {
	const char *src_profile, *dst_profile, *env_file, *ca_bundle;
	bool json, insecure, keep;
	uint64_t size, part_size, memory;
	unsigned count, concurrency, retries;
	int cksum;
} bargs;

static const cli_opt bench_opts[] = {
	CLI_OPT_SIZE("--size", "SIZE", bargs, size, 1, BG_OBJECT_MAX,
		     "bytes per object (default 16M)"),
	CLI_OPT_UINT("--count", "N", bargs, count, 1, 10000000, NULL, "objects (default 16)"),
	CLI_OPT_UINT("--concurrency", "N", bargs, concurrency, 1, 1024, NULL,
		     "transfers in flight (default 32)"),
	CLI_OPT_SIZE("--part-size", "SIZE", bargs, part_size, BG_PART_MIN, BG_PART_MAX,
		     "multipart part size, upload and copy (default 16M)"),
	CLI_OPT_SIZE("--memory", "SIZE", bargs, memory, 16 * BG_MIB, 1ull << 40,
		     "the copy's part-buffer budget (default: 1/16 of RAM,\n"
		     "256M to 1G)"),
	CLI_OPT_UINT("--retries", "N", bargs, retries, 1, 100, NULL, CU_HELP_RETRIES),
	CLI_OPT_CHOICE("--checksum", "MODE", bargs, cksum, cu_checksum_modes,
		       "the copy's checksum: auto, md5, crc32c or none"),
	CLI_OPT_FLAG("--json", bargs, json, "print one JSON document instead of the table"),
	CLI_OPT_FLAG("--keep", bargs, keep,
		     "leave the objects written (open uploads are still aborted)"),
	CLI_OPT_STR("--src-profile", "P", bargs, src_profile, CU_HELP_SRC_PROFILE),
	CLI_OPT_STR("--dst-profile", "P", bargs, dst_profile, CU_HELP_DST_PROFILE),
	CLI_OPT_STR("--env-file", "FILE", bargs, env_file, CU_HELP_ENV_FILE),
	CLI_OPT_STR("--ca-bundle", "FILE", bargs, ca_bundle, CU_HELP_CA_BOTH),
	CLI_OPT_FLAG("--insecure", bargs, insecure, CU_HELP_INSECURE),
	CU_REFUSE_PROFILE,
	CLI_OPT_END,
};

static const cli_cmd bench_cmd = {
	.name = "bench",
	.usage = "usage: barge bench SRC DST [options]\n"
		 "\n"
		 "Measures SRC and DST (s3://bucket[/prefix] or r2://bucket[/prefix]) in three\n"
		 "timed phases: upload (COUNT objects of SIZE, generated in memory, PUT to SRC,\n"
		 "multipart above the part size), download (every object read back from SRC, each\n"
		 "range checked against the generator with XXH3) and streaming copy (the copy\n"
		 "engine, SRC to DST). It writes only under PREFIX/barge-bench-<random>/ on each\n"
		 "side and deletes what it wrote at the end (and aborts open multipart uploads).\n"
		 "Reports bytes, objects, MB/s, objects/s, request latency p50/p90/p99 (time to\n"
		 "first byte and total, per request kind; not collected in the copy phase),\n"
		 "errors and retries, CPU seconds per GiB and peak memory.\n",
	.tail = "Credentials as for 'barge copy' (see 'barge copy --help').\n"
		"\n"
		"Exit: 0 every phase succeeded, 1 a phase had failed objects (named), 2 usage,\n"
		"configuration or an error that stopped the benchmark.\n",
	.opts = bench_opts,
	.pos_min = 2, .pos_max = 2,
	.pos_need = "SRC and DST", .pos_takes = "SRC and DST",
};

static void print_json(const bg_bench_opts *o, const bg_bench_result *r, bg_err rc,
		       const char *msg)
{
	FILE *f = stdout;
	fputs("{\"run_id\": ", f);
	bg_json_put(f, r->run_id);
	fputs(", \"src_prefix\": ", f);
	bg_json_put(f, r->src_prefix);
	fputs(", \"dst_prefix\": ", f);
	bg_json_put(f, r->dst_prefix);
	fprintf(f, ", \"size\": %llu, \"count\": %u, \"concurrency\": %u, \"part_size\": %llu, "
		   "\"parts_per_object\": %u, \"memory\": %llu, \"keep\": %s, \"ok\": %s, "
		   "\"error\": ",
		(unsigned long long)o->size, o->count, o->concurrency,
		(unsigned long long)r->part_size, r->parts_per_object,
		(unsigned long long)o->memory, o->keep ? "true" : "false",
		rc == BG_OK ? "true" : "false");
	if (rc == BG_OK)
		fputs("null", f);
	else
		bg_json_put(f, msg);
	fputs(", \"phases\": {", f);
	bool first = true;
	for (int k = 0; k < BG_BPH_COUNT; k++) {
		const bg_bench_phase *p = &r->phase[k];
		if (!p->ran)
			continue;
		fprintf(f, "%s\n  ", first ? "" : ",");
		first = false;
		bg_json_put(f, bg_bench_phase_name((bg_bench_phase_id)k));
		fprintf(f, ": {\"bytes\": %llu, \"objects\": %llu, \"failed\": %llu, "
			   "\"requests\": %llu, \"errors\": %llu, \"retries\": %llu, "
			   "\"wall_s\": %.6f, \"mb_s\": %.3f, \"objects_s\": %.3f, "
			   "\"cpu_s\": %.6f, \"cpu_s_per_gib\": %.6f, \"peak_rss_kib\": %ld, "
			   "\"error\": ",
			(unsigned long long)p->bytes, (unsigned long long)p->objects,
			(unsigned long long)p->failed, (unsigned long long)p->requests,
			(unsigned long long)p->errors, (unsigned long long)p->retries, p->wall_s,
			p->mb_s, p->objects_s, p->cpu_s, p->cpu_s_per_gib, p->peak_rss_kib);
		if (p->error[0])
			bg_json_put(f, p->error);
		else
			fputs("null", f);
		if (!p->latencies) {
			fputs(", \"latency\": null, \"latency_note\": \"not collected in the copy "
			      "phase\"", f);
			if (k == BG_BPH_COPY)
				fprintf(f, ", \"same_etag\": %llu, \"pool_peak_bytes\": %llu",
					(unsigned long long)r->copy.same_etag,
					(unsigned long long)r->copy.pool_peak_bytes);
			fputc('}', f);
			continue;
		}
		fputs(", \"latency\": {", f);
		bool lfirst = true;
		for (int op = 0; op < BG_BOP_COUNT; op++) {
			const bg_bench_lat *l = &p->ops[op];
			if (!l->count)
				continue;
			fprintf(f, "%s\"%s\": {\"count\": %llu, \"errors\": %llu, "
				   "\"ttfb_s\": {\"p50\": %.6f, \"p90\": %.6f, \"p99\": %.6f}, "
				   "\"total_s\": {\"p50\": %.6f, \"p90\": %.6f, \"p99\": %.6f}}",
				lfirst ? "" : ", ", bg_bench_op_name((bg_bench_op)op),
				(unsigned long long)l->count, (unsigned long long)l->errors,
				l->ttfb[0], l->ttfb[1], l->ttfb[2], l->total[0], l->total[1],
				l->total[2]);
			lfirst = false;
		}
		fputs("}}", f);
	}
	fputs("\n}}\n", f);
}

static void print_table(const bg_bench_opts *o, const bg_bench_result *r)
{
	printf("barge bench: %u objects of %llu bytes (%u part%s of %llu), concurrency %u\n",
	       o->count, (unsigned long long)o->size, r->parts_per_object,
	       r->parts_per_object == 1 ? "" : "s", (unsigned long long)r->part_size,
	       o->concurrency);
	bg_text_line(stdout, "scratch: %s (source), %s (destination)%s", r->src_prefix,
		     r->dst_prefix, o->keep ? ", kept" : "");
	fputc('\n', stdout);
	printf("%-9s %12s %8s %7s %9s %9s %9s %7s %7s %8s %9s\n", "phase", "bytes", "objects",
	       "failed", "wall s", "MB/s", "obj/s", "errors", "retries", "CPU s/GiB",
	       "peak RSS");
	for (int k = 0; k < BG_BPH_COUNT; k++) {
		const bg_bench_phase *p = &r->phase[k];
		if (!p->ran)
			continue;
		printf("%-9s %12llu %8llu %7llu %9.3f %9.1f %9.1f %7llu %7llu %9.3f %6ld MiB\n",
		       bg_bench_phase_name((bg_bench_phase_id)k), (unsigned long long)p->bytes,
		       (unsigned long long)p->objects, (unsigned long long)p->failed, p->wall_s,
		       p->mb_s, p->objects_s, (unsigned long long)p->errors,
		       (unsigned long long)p->retries, p->cpu_s_per_gib, p->peak_rss_kib / 1024);
	}
	printf("\nrequest latency, ms (time to first byte | total):\n");
	printf("%-9s %-18s %7s %6s %8s %8s %8s | %8s %8s %8s\n", "phase", "request", "count",
	       "errors", "p50", "p90", "p99", "p50", "p90", "p99");
	for (int k = 0; k < BG_BPH_COUNT; k++) {
		const bg_bench_phase *p = &r->phase[k];
		if (!p->ran)
			continue;
		if (!p->latencies) {
			printf("%-9s (not collected: the copy engine reports its totals only; %llu "
			       "requests)\n", bg_bench_phase_name((bg_bench_phase_id)k),
			       (unsigned long long)p->requests);
			continue;
		}
		for (int op = 0; op < BG_BOP_COUNT; op++) {
			const bg_bench_lat *l = &p->ops[op];
			if (!l->count)
				continue;
			printf("%-9s %-18s %7llu %6llu %8.2f %8.2f %8.2f | %8.2f %8.2f %8.2f\n",
			       bg_bench_phase_name((bg_bench_phase_id)k),
			       bg_bench_op_name((bg_bench_op)op), (unsigned long long)l->count,
			       (unsigned long long)l->errors, l->ttfb[0] * 1e3, l->ttfb[1] * 1e3,
			       l->ttfb[2] * 1e3, l->total[0] * 1e3, l->total[1] * 1e3,
			       l->total[2] * 1e3);
		}
	}
	for (int k = 0; k < BG_BPH_COUNT; k++)
		if (r->phase[k].error[0])
			bg_text_line(stdout, "%s: %s", bg_bench_phase_name((bg_bench_phase_id)k),
				     r->phase[k].error);
}

/* Parses into o and a: 0, 1 after --help, or EXIT_USAGE (said). */
static int parse(int argc, char **argv, bg_bench_opts *o, bargs *a, cli_args *pos)
{
	*a = (bargs){ .size = 16 * BG_MIB, .count = 16, .concurrency = 32,
		      .part_size = 16 * BG_MIB, .memory = cu_default_memory(), .retries = 10,
		      .cksum = BG_CKSUM_AUTO };
	int r = cli_parse(&bench_cmd, a, argc, argv, pos);
	if (r)
		return r < 0 ? EXIT_USAGE : 1;
	if (a->memory < 2 * a->part_size) {
		bg_text_line(stderr, "barge: --memory must be at least twice --part-size");
		return EXIT_USAGE;
	}
	o->size = a->size;
	o->count = a->count;
	o->concurrency = a->concurrency;
	o->part_size = a->part_size;
	o->memory = a->memory;
	o->retries = a->retries;
	o->cksum = (bg_cksum_mode)a->cksum;
	o->keep = a->keep;
	return 0;
}

int cmd_bench(int argc, char **argv)
{
	static bg_bench_opts o;
	bargs a;
	cli_args pos;
	int pr = parse(argc, argv, &o, &a, &pos);
	if (pr)
		return pr == 1 ? 0 : pr;

	char err[512];
	if (a.env_file && bg_envfile_load(a.env_file, err, sizeof(err)) < 0) {
		bg_text_line(stderr, "barge: %s", err);
		return EXIT_USAGE;
	}
	if (bg_location_parse(pos.pos[0], &o.src, err, sizeof(err)) < 0 ||
	    bg_location_parse(pos.pos[1], &o.dst, err, sizeof(err)) < 0) {
		bg_text_line(stderr, "barge: %s", err);
		return EXIT_USAGE;
	}
	if (o.src.kind == BG_LOC_LOCAL || o.dst.kind == BG_LOC_LOCAL) {
		bg_text_line(stderr, "barge: bench measures object stores: use s3://bucket[/prefix] or "
				"r2://bucket[/prefix] on both sides");
		return EXIT_USAGE;
	}
	if (bg_endpoint_resolve(o.src.kind, a.src_profile, &o.src_ep, err, sizeof(err)) < 0 ||
	    bg_endpoint_resolve(o.dst.kind, a.dst_profile, &o.dst_ep, err, sizeof(err)) < 0) {
		bg_text_line(stderr, "barge: %s", err);
		return EXIT_USAGE;
	}
	if (cu_tls_both(a.ca_bundle, a.insecure, &o.src_ep, &o.dst_ep))
		return EXIT_USAGE;
	o.stop = &stop_flag;
	cu_catch_stop(&stop_flag);
	signal(SIGPIPE, SIG_IGN);

	static bg_bench_result r;
	bg_status st = { 0 };
	bg_err rc = bg_bench_run(&o, &r, &st);
	bg_endpoint_wipe(&o.src_ep);
	bg_endpoint_wipe(&o.dst_ep);
	if (rc != BG_OK && rc != BG_E_INTEGRITY && !r.phase[BG_BPH_UPLOAD].ran) {
		bg_text_line(stderr, "barge: %s", st.msg);
		return EXIT_USAGE;
	}
	if (a.json)
		print_json(&o, &r, rc, st.msg);
	else
		print_table(&o, &r);
	if (rc == BG_OK)
		return 0;
	bg_text_line(stderr, "barge: bench: %s", st.msg);
	if (rc == BG_E_INTEGRITY || (stop_flag && rc == BG_E_USAGE))
		return EXIT_FAILED;
	return EXIT_USAGE;
}
