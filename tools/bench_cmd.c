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

static const char usage_bench[] =
	"usage: barge bench SRC DST [options]\n"
	"\n"
	"Measures SRC and DST (s3://bucket[/prefix] or r2://bucket[/prefix]) in three\n"
	"timed phases: upload (COUNT objects of SIZE, generated in memory, PUT to SRC,\n"
	"multipart above the part size), download (every object read back from SRC, each\n"
	"range checked against the generator with XXH3) and streaming copy (the copy\n"
	"engine, SRC to DST). It writes only under PREFIX/barge-bench-<random>/ on each\n"
	"side and deletes what it wrote at the end (and aborts open multipart uploads).\n"
	"Reports bytes, objects, MB/s, objects/s, request latency p50/p90/p99 (time to\n"
	"first byte and total, per request kind; not collected in the copy phase),\n"
	"errors and retries, CPU seconds per GiB and peak memory.\n"
	"\n"
	"  --size SIZE            bytes per object (default 16M)\n"
	"  --count N              objects (default 16)\n"
	"  --concurrency N        transfers in flight (default 32)\n"
	"  --part-size SIZE       multipart part size, upload and copy (default 16M)\n"
	"  --memory SIZE          the copy's part-buffer budget (default: 1/16 of RAM,\n"
	"                         256M to 1G)\n"
	"  --retries N            attempts per request (default 10)\n"
	"  --checksum MODE        the copy's checksum: auto, md5, crc32c or none\n"
	"  --json                 print one JSON document instead of the table\n"
	"  --keep                 leave the objects written (open uploads are still aborted)\n"
	"  --src-profile P        shared-config profile for SRC\n"
	"  --dst-profile P        shared-config profile for DST\n"
	"  --env-file FILE        load KEY=VALUE lines (R2 keys, ...) from FILE\n"
	"  --ca-bundle FILE       trust the CAs in FILE (PEM) for both endpoints\n"
	"  --insecure             do not verify TLS certificates (tests only)\n"
	"\n"
	"Credentials as for 'barge copy' (see 'barge copy --help').\n"
	"\n"
	"Exit: 0 every phase succeeded, 1 a phase had failed objects (named), 2 usage,\n"
	"configuration or an error that stopped the benchmark.\n";

static volatile int stop_flag;

/* Long options that take a value. */
static const char *const value_options[] = {
		"--size", "--count", "--concurrency", "--part-size", "--memory", "--retries",
		"--checksum", "--src-profile", "--dst-profile", "--env-file", "--ca-bundle",
};

static int size_opt(const char *name, const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
	if (bg_parse_size(v, out) < 0 || *out < min || *out > max) {
		bg_text_line(stderr, "barge: %s '%s' is not a size between %llu and %llu bytes "
				"(use forms like 64K, 16M, 1G)",
			name, v, (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	return 0;
}

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

int cmd_bench(int argc, char **argv)
{
	static bg_bench_opts o;
	const char *pos[2];
	unsigned npos = 0;
	const char *src_profile = NULL, *dst_profile = NULL, *env_file = NULL, *ca_bundle = NULL;
	bool json = false, insecure = false;
	uint64_t v;

	o.size = 16 * BG_MIB;
	o.count = 16;
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
			fputs(usage_bench, stdout);
			return 0;
		} else if (strcmp(a, "--json") == 0) {
			json = true;
		} else if (strcmp(a, "--keep") == 0) {
			o.keep = true;
		} else if (strcmp(a, "--insecure") == 0) {
			insecure = true;
		} else if ((kind = cu_value_option("bench", argc, argv, &i, value_options,
						   sizeof(value_options) / sizeof(value_options[0]),
						   name, sizeof(name), &val)) != 0) {
			if (kind < 0)
				return EXIT_USAGE;
			if (strcmp(name, "--size") == 0) {
				if (size_opt(name, val, 1, BG_OBJECT_MAX, &o.size) < 0)
					return EXIT_USAGE;
			} else if (strcmp(name, "--count") == 0) {
				if (bg_parse_u64(val, 1, 10000000, &v) < 0)
					return cu_usage_error("bench", "--count '%s' must be a number from 1 to 10000000", val);
				o.count = (unsigned)v;
			} else if (strcmp(name, "--concurrency") == 0) {
				if (bg_parse_u64(val, 1, 1024, &v) < 0)
					return cu_usage_error("bench", "--concurrency '%s' must be a number from 1 to 1024", val);
				o.concurrency = (unsigned)v;
			} else if (strcmp(name, "--part-size") == 0) {
				if (size_opt(name, val, BG_PART_MIN, BG_PART_MAX, &o.part_size) < 0)
					return EXIT_USAGE;
			} else if (strcmp(name, "--memory") == 0) {
				if (size_opt(name, val, 16 * BG_MIB, 1ull << 40, &o.memory) < 0)
					return EXIT_USAGE;
			} else if (strcmp(name, "--retries") == 0) {
				if (bg_parse_u64(val, 1, 100, &v) < 0)
					return cu_usage_error("bench", "--retries '%s' must be a number from 1 to 100", val);
				o.retries = (unsigned)v;
			} else if (strcmp(name, "--checksum") == 0) {
				if (strcmp(val, "auto") == 0) o.cksum = BG_CKSUM_AUTO;
				else if (strcmp(val, "md5") == 0) o.cksum = BG_CKSUM_MD5;
				else if (strcmp(val, "crc32c") == 0) o.cksum = BG_CKSUM_CRC32C;
				else if (strcmp(val, "none") == 0) o.cksum = BG_CKSUM_NONE;
				else return cu_usage_error("bench", "--checksum '%s' must be auto, md5, crc32c or none", val);
			} else if (strcmp(name, "--src-profile") == 0) {
				src_profile = val;
			} else if (strcmp(name, "--dst-profile") == 0) {
				dst_profile = val;
			} else if (strcmp(name, "--env-file") == 0) {
				env_file = val;
			} else if (strcmp(name, "--ca-bundle") == 0) {
				ca_bundle = val;
			}
		} else if (a[0] == '-' && a[1]) {
			return cu_usage_error("bench", "unknown option '%s'", a);
		} else {
			if (npos == 2)
				return cu_usage_error("bench", "too many arguments: '%s' (bench takes SRC and DST)", a);
			pos[npos++] = a;
		}
	}
	if (npos < 2)
		return cu_usage_error("bench", "bench needs SRC and DST%s", "");
	if (o.memory < 2 * o.part_size) {
		bg_text_line(stderr, "barge: --memory must be at least twice --part-size");
		return EXIT_USAGE;
	}

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
	if (o.src.kind == BG_LOC_LOCAL || o.dst.kind == BG_LOC_LOCAL) {
		bg_text_line(stderr, "barge: bench measures object stores: use s3://bucket[/prefix] or "
				"r2://bucket[/prefix] on both sides");
		return EXIT_USAGE;
	}
	if (bg_endpoint_resolve(o.src.kind, src_profile, &o.src_ep, err, sizeof(err)) < 0 ||
	    bg_endpoint_resolve(o.dst.kind, dst_profile, &o.dst_ep, err, sizeof(err)) < 0) {
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
		bg_text_line(stderr, "barge: WARNING: --insecure: TLS certificates are NOT verified on "
				"either endpoint");
	}
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
	if (json)
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
