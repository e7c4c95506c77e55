/* plan_cmd.c - `barge plan SRC DST` (see plan_cmd.h).
 *
 * Lists the source page by page (cmdutil.c), passes each key through the
 * copy's --include/--exclude filters, and plans it with the copy's rules
 * (engine/plan.c, and the same order of requests as engine/copy.c):
 *
 *   no "-N" ETag, size <= threshold:  GET, PUT, HEAD of the destination
 *   otherwise:  HEAD of the source; for a "-N" ETag also HEAD ?partNumber=1
 *               and, when N >= 2 parts of that size make the object,
 *               HEAD ?partNumber=N; then Create, N x (GET range,
 *               UploadPart), Complete, HEAD of the destination (or GET,
 *               PUT, HEAD when the plan is a single PUT)
 *   once:       HEAD of the destination bucket (the copy's preflight)
 *
 * The source's part size of a multipart ("-N") object is not in the
 * listing.  By default it is estimated from the size and N alone: the
 * smallest whole MiB of at least 5 MiB with which N uniform parts make the
 * object (uploaders use whole-MiB parts: 8 MiB for the AWS CLI, 5 or 16
 * MiB for others).  --exact asks the source instead, with the HEADs the
 * copy itself makes (HEAD ?partNumber=1 and =N), so the part sizes, the
 * "same layout" counts and the HEAD counts are exact; it costs two HEADs
 * per multipart object.  Nothing is kept per object: memory stays flat. */
#include "plan_cmd.h"

#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmdutil.h"
#include "esc.h"
#include "copy.h"
#include "plan.h"
#include "progress.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define MAX_SIZES 256   /* distinct part sizes kept in the histogram */
#define MAX_FAIL_LINES 20
#define NCLASS 4

/* ---- prices ------------------------------------------------------------ */

typedef struct prices {
	char as_of[32];
	char source[256];
	char currency[16];
	double gb_bytes;
	double s3_egress[4]; /* first 10 TB, next 40, next 100, over 150 */
	double s3_egress_free_gb;
	double s3_get_per_1000, s3_list_per_1000;
	double r2_storage, r2_free_storage_gb;
	double r2_class_a, r2_free_class_a;
	double r2_class_b, r2_free_class_b;
	double r2_egress;
	const char *file; /* NULL: built in */
	char bad[160];    /* the handler's complaint */
} prices;

/* The same figures as docs/prices.ini (test_utils.py checks they agree). */
static void prices_default(prices *p)
{
	memset(p, 0, sizeof(*p));
	bg_strlcpy(p->as_of, "2026-11-29", sizeof(p->as_of));
	bg_strlcpy(p->source, "aws.amazon.com/s3/pricing (us-east-1, S3 Standard); "
			      "developers.cloudflare.com/r2/pricing", sizeof(p->source));
	bg_strlcpy(p->currency, "USD", sizeof(p->currency));
	p->gb_bytes = 1073741824.0;
	p->s3_egress[0] = 0.09;
	p->s3_egress[1] = 0.085;
	p->s3_egress[2] = 0.07;
	p->s3_egress[3] = 0.05;
	p->s3_get_per_1000 = 0.0004;
	p->s3_list_per_1000 = 0.005;
	p->r2_storage = 0.015;
	p->r2_free_storage_gb = 10;
	p->r2_class_a = 4.50;
	p->r2_free_class_a = 1e6;
	p->r2_class_b = 0.36;
	p->r2_free_class_b = 1e7;
	p->r2_egress = 0;
}

static int price_handler(void *user, const char *section, const char *name, const char *value)
{
	prices *p = user;
	static const struct {
		const char *section, *name;
		size_t off;
	} nums[] = {
		{ "meta", "gb_bytes", offsetof(prices, gb_bytes) },
		{ "s3", "egress_per_gb_first_10tb", offsetof(prices, s3_egress) },
		{ "s3", "egress_per_gb_next_40tb", offsetof(prices, s3_egress) + sizeof(double) },
		{ "s3", "egress_per_gb_next_100tb", offsetof(prices, s3_egress) + 2 * sizeof(double) },
		{ "s3", "egress_per_gb_over_150tb", offsetof(prices, s3_egress) + 3 * sizeof(double) },
		{ "s3", "egress_free_gb", offsetof(prices, s3_egress_free_gb) },
		{ "s3", "get_per_1000", offsetof(prices, s3_get_per_1000) },
		{ "s3", "list_per_1000", offsetof(prices, s3_list_per_1000) },
		{ "r2", "storage_per_gb_month", offsetof(prices, r2_storage) },
		{ "r2", "free_storage_gb", offsetof(prices, r2_free_storage_gb) },
		{ "r2", "class_a_per_million", offsetof(prices, r2_class_a) },
		{ "r2", "free_class_a", offsetof(prices, r2_free_class_a) },
		{ "r2", "class_b_per_million", offsetof(prices, r2_class_b) },
		{ "r2", "free_class_b", offsetof(prices, r2_free_class_b) },
		{ "r2", "egress_per_gb", offsetof(prices, r2_egress) },
	};
	if (strcmp(section, "meta") == 0) {
		char *dst = strcmp(name, "as_of") == 0 ? p->as_of :
			    strcmp(name, "source") == 0 ? p->source :
			    strcmp(name, "currency") == 0 ? p->currency : NULL;
		size_t cap = dst == p->as_of ? sizeof(p->as_of) :
			     dst == p->source ? sizeof(p->source) : sizeof(p->currency);
		if (dst) {
			if (bg_strlcpy(dst, value, cap) < 0) {
				bg_snprintf(p->bad, sizeof(p->bad), "[meta] %s is too long", name);
				return 0;
			}
			return 1;
		}
	}
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (strcmp(section, nums[i].section) != 0 || strcmp(name, nums[i].name) != 0)
			continue;
		char *end = NULL;
		errno = 0;
		double v = strtod(value, &end);
		if (errno || end == value || *end || !(v >= 0) || !isfinite(v) ||
		    (nums[i].off == offsetof(prices, gb_bytes) && v < 1)) {
			bg_snprintf(p->bad, sizeof(p->bad), "[%s] %s = '%.40s' is not a number of "
				    "at least 0", section, name, value);
			return 0;
		}
		*(double *)(void *)((char *)p + nums[i].off) = v;
		return 1;
	}
	bg_snprintf(p->bad, sizeof(p->bad), "unknown key [%s] %s (see docs/prices.ini)", section,
		    name);
	return 0;
}

/* 0, or -1 with err. */
static int prices_load(prices *p, const char *file, char *err, size_t cap)
{
	prices_default(p);
	p->file = file;
	int rc = ini_parse(file, price_handler, p);
	if (rc == -1) {
		bg_snprintf(err, cap, "price file %s cannot be read: %s", file, strerror(errno));
		return -1;
	}
	if (rc != 0) {
		bg_snprintf(err, cap, "price file %s, line %d: %s", file, rc,
			    p->bad[0] ? p->bad : "not a 'name = value' line");
		return -1;
	}
	return 0;
}

/* docs/prices.ini of the source tree barge was built in (zig-out/bin/barge
 * -> ../../docs/prices.ini), or ../share/barge/prices.ini of an install. */
static const char *prices_default_file(char *buf, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	const char *dir = dirname(exe);
	static const char *const rel[] = { "../../docs/prices.ini", "../share/barge/prices.ini" };
	for (size_t i = 0; i < 2; i++) {
		if (bg_snprintf(buf, cap, "%s/%s", dir, rel[i]) < 0)
			continue;
		if (access(buf, R_OK) == 0)
			return buf;
	}
	return NULL;
}

/* ---- --bandwidth --------------------------------------------------------- */

/* "1G", "1Gbit", "100Mbps", "125MB", "1GiB", "500k": bits per second. */
static int parse_bandwidth(const char *s, double *bits)
{
	char *end = NULL;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || !(v > 0) || !isfinite(v))
		return -1;
	double mult = 1;
	const char *u = end;
	const char *si = strchr("kKMGT", *u);
	if (*u && si) {
		int e = *u == 'k' || *u == 'K' ? 1 : *u == 'M' ? 2 : *u == 'G' ? 3 : 4;
		bool bin = u[1] == 'i';
		for (int k = 0; k < e; k++)
			mult *= bin ? 1024.0 : 1000.0;
		u += bin ? 2 : 1;
	}
	bool bytes;
	if (!*u || strcmp(u, "bit") == 0 || strcmp(u, "b") == 0 || strcmp(u, "bps") == 0 ||
	    strcmp(u, "bit/s") == 0 || strcmp(u, "b/s") == 0)
		bytes = false;
	else if (strcmp(u, "B") == 0 || strcmp(u, "Bps") == 0 || strcmp(u, "B/s") == 0)
		bytes = true;
	else
		return -1;
	*bits = v * mult * (bytes ? 8 : 1);
	return *bits >= 1 ? 0 : -1;
}

/* ---- the plan ------------------------------------------------------------ */

typedef struct reqs {
	uint64_t list_pages, head_src, get, put, create, upload_part, complete, head_dst;
} reqs;

typedef struct psize {
	uint64_t part_size; /* 0: single PUT */
	uint64_t objects, parts;
} psize;

typedef struct pctx {
	/* options */
	uint64_t part_size, threshold, memory;
	const char *const *filters;
	unsigned nfilters;
	bool exact, objects_out, json;
	size_t plen, dplen; /* source folder, destination folder lengths */
	const bg_endpoint *ep;
	const char *bucket;
	unsigned attempts;
	bg_http *http;
	bg_s3_req *head;
	/* totals */
	uint64_t objects, bytes, excluded, outside;
	uint64_t cls_n[NCLASS], cls_b[NCLASS];
	uint64_t single, multipart, parts, same_layout, mp_sources;
	uint64_t failed, failed_bytes;
	reqs r;
	psize sizes[MAX_SIZES];
	unsigned nsizes;
	uint64_t other_objects, other_parts; /* past MAX_SIZES distinct sizes */
	unsigned head_retries;
	bool head_failed;
	char head_msg[BG_MSG_MAX];
} pctx;

static const uint64_t class_max[NCLASS] = { BG_MIB, 16 * BG_MIB, BG_GIB, UINT64_MAX };
static const char *const class_name[NCLASS] = { "< 1 MiB", "1 MiB - 16 MiB", "16 MiB - 1 GiB",
						"> 1 GiB" };
static const char *const class_id[NCLASS] = { "lt_1mib", "1mib_16mib", "16mib_1gib", "gt_1gib" };

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

/* The source part size of a "-N" object of size bytes, estimated: the
 * smallest whole MiB >= 5 MiB with which N uniform parts make the object,
 * else the smallest size that does; 0 if none does. */
static uint64_t estimate_part(uint64_t size, uint32_t n)
{
	if (n == 1)
		return size;
	if (size < n)
		return 0;
	uint64_t lo = ceil_div(size, n), hi = (size - 1) / (n - 1);
	if (lo > hi)
		return 0;
	uint64_t want = lo < BG_PART_MIN ? BG_PART_MIN : lo;
	uint64_t mib = ceil_div(want, BG_MIB) * BG_MIB;
	if (mib <= hi)
		return mib;
	return want <= hi ? want : lo;
}

/* --exact: what copy's HEAD ?partNumber=1 (and =N) would learn; *last
 * says whether the HEAD of part N was made. */
static uint64_t exact_part(pctx *c, const char *key, uint64_t size, uint32_t n, bool *last)
{
	char pn[16], msg[BG_MSG_MAX];
	bg_query_param q[1] = { { "partNumber", "1" } };
	bg_s3_call call = { .method = "HEAD", .bucket = c->bucket, .key = key, .query = q,
			    .nquery = 1 };
	*last = false;
	if (bg_s3_exec(c->http, c->head, c->ep, &call, c->attempts, NULL, &c->head_retries, msg,
		       sizeof(msg)) != BG_S3_DONE) {
		c->head_failed = true;
		bg_snprintf(c->head_msg, sizeof(c->head_msg), "HEAD ?partNumber=1 of %.200s: %s",
			    key, msg);
		return 0;
	}
	bg_s3_req *r = c->head;
	uint64_t ps = r->has_length && (r->content_length < size || n == 1) ? r->content_length : 0;
	if (!ps || n < 2 || ceil_div(size, ps) != n)
		return ps;
	*last = true;
	bg_snprintf(pn, sizeof(pn), "%u", n);
	q[0].value = pn;
	if (bg_s3_exec(c->http, c->head, c->ep, &call, c->attempts, NULL, &c->head_retries, msg,
		       sizeof(msg)) != BG_S3_DONE) {
		c->head_failed = true;
		bg_snprintf(c->head_msg, sizeof(c->head_msg), "HEAD ?partNumber=%u of %.200s: %s",
			    n, key, msg);
		return 0;
	}
	uint64_t last_len = size - (uint64_t)(n - 1) * ps;
	return r->has_length && r->content_length == last_len ? ps : 0;
}

static void add_size(pctx *c, uint64_t part_size, uint64_t nparts)
{
	for (unsigned i = 0; i < c->nsizes; i++) {
		if (c->sizes[i].part_size == part_size) {
			c->sizes[i].objects++;
			c->sizes[i].parts += nparts;
			return;
		}
	}
	if (c->nsizes < MAX_SIZES) {
		c->sizes[c->nsizes++] = (psize){ part_size, 1, nparts };
	} else {
		c->other_objects++;
		c->other_parts += nparts;
	}
}

static void print_failure(pctx *c, const char *key, size_t klen, const char *why)
{
	if (c->json) {
		fputs("{\"type\": \"failure\", \"key\": ", stdout);
		bg_json_putn(stdout, key, klen);
		fputs(", \"error\": ", stdout);
		bg_json_putn(stdout, why, strlen(why));
		fputs("}\n", stdout);
	} else if (c->failed <= MAX_FAIL_LINES) {
		fputs("cannot copy: ", stdout);
		bg_text_putn(stdout, key, klen);
		fputs(": ", stdout);
		bg_text_line(stdout, "%s", why);
	}
}

static void print_object(pctx *c, const bg_xml_object *o, const bg_plan *p)
{
	if (c->json) {
		fputs("{\"type\": \"object\", \"key\": ", stdout);
		bg_json_putn(stdout, o->key, o->key_len);
		printf(", \"size\": %" PRIu64 ", \"multipart\": %s, \"part_size\": %" PRIu64
		       ", \"nparts\": %" PRIu32 ", \"same_layout\": %s}\n", o->size,
		       p->multipart ? "true" : "false", p->multipart ? p->part_size : 0, p->nparts,
		       p->same_layout ? "true" : "false");
	} else {
		printf("%14" PRIu64 "  ", o->size);
		if (p->multipart)
			printf("%5" PRIu32 " x %-12" PRIu64 " %-12s", p->nparts, p->part_size,
			       p->same_layout ? "same layout" : "");
		else
			printf("%-33s", "single PUT");
		bg_text_putn(stdout, o->key, o->key_len);
		fputc('\n', stdout);
	}
}

/* A multipart source's part size and count into in: from HEADs
 * (--exact) or estimated from its size and count.  Counts the HEADs the
 * copy will make.  False when a HEAD failed (c->head_failed). */
static bool source_layout(pctx *c, const bg_xml_object *o, uint32_t n, bg_plan_input *in)
{
	c->mp_sources++;
	c->r.head_src++;
	/* copy.c keeps key in a C string: no NUL inside (xml.c refuses %00) */
	char key[BG_KEY_MAX + 1];
	memcpy(key, o->key, o->key_len);
	key[o->key_len] = '\0';
	bool last = false;
	if (c->exact) {
		in->src_part_size = exact_part(c, key, o->size, n, &last);
	} else {
		in->src_part_size = estimate_part(o->size, n);
		last = in->src_part_size && n >= 2 && ceil_div(o->size, in->src_part_size) == n;
	}
	if (c->head_failed)
		return false;
	c->r.head_src += last; /* HEAD ?partNumber=N */
	in->src_parts = n;
	return true;
}

/* The requests the plan p of one object will make. */
static void count_plan(pctx *c, const bg_plan *p)
{
	if (p->multipart) {
		c->multipart++;
		c->parts += p->nparts;
		c->same_layout += p->same_layout;
		c->r.create++;
		c->r.get += p->nparts;
		c->r.upload_part += p->nparts;
		c->r.complete++;
		add_size(c, p->part_size, p->nparts);
	} else {
		c->single++;
		c->parts++;
		c->r.get++;
		c->r.put++;
		add_size(c, 0, 1);
	}
	c->r.head_dst++;
}

static void count_failed(pctx *c, const bg_xml_object *o, const char *why)
{
	c->failed++;
	c->failed_bytes += o->size;
	print_failure(c, o->key, o->key_len, why);
}

static int on_object(void *ctx, const bg_xml_object *o)
{
	pctx *c = ctx;
	if (o->key_len < c->plen) {
		c->outside++; /* a server that ignored the prefix */
		return 0;
	}
	const char *rel = o->key + c->plen;
	if (!bg_copy_filter(c->filters, c->nfilters, rel)) {
		c->excluded++;
		return 0;
	}
	c->objects++;
	c->bytes += o->size;
	for (int i = 0; i < NCLASS; i++) {
		if (o->size < class_max[i] || i == NCLASS - 1) {
			c->cls_n[i]++;
			c->cls_b[i] += o->size;
			break;
		}
	}
	if (c->dplen + (o->key_len - c->plen) > BG_KEY_MAX) {
		count_failed(c, o, "destination key longer than 1024 bytes");
		return 0;
	}
	uint32_t n = bg_plan_etag_parts(o->etag);
	bg_plan_input in = { .size = o->size, .threshold = c->threshold,
			     .part_size = c->part_size, .max_part = c->memory };
	if (n || o->size > c->threshold) {
		c->r.head_src++;
		if (n && !source_layout(c, o, n, &in))
			return 1;
		in.max_part = c->memory / 2;
	}
	char err[256];
	bg_plan p;
	if (bg_plan_object(&in, &p, err, sizeof(err)) < 0) {
		count_failed(c, o, err);
		return 0;
	}
	count_plan(c, &p);
	if (c->objects_out)
		print_object(c, o, &p);
	return ferror(stdout) ? 1 : 0;
}

static int cmp_size(const void *a, const void *b)
{
	const psize *x = a, *y = b;
	return x->part_size < y->part_size ? -1 : x->part_size > y->part_size;
}

/* ---- costs and time ------------------------------------------------------ */

typedef struct costs {
	double gb, egress, s3_get, s3_list, class_a, class_b, one_time, storage_month;
	uint64_t s3_get_reqs, s3_list_reqs, a_ops, b_ops;
} costs;

static double tiered_egress(const prices *p, double gb)
{
	static const double tier_gb[3] = { 10240, 40960, 102400 };
	double left = gb - p->s3_egress_free_gb, cost = 0;
	if (left <= 0)
		return 0;
	for (int i = 0; i < 3 && left > 0; i++) {
		double in = left < tier_gb[i] ? left : tier_gb[i];
		cost += in * p->s3_egress[i];
		left -= in;
	}
	return cost + (left > 0 ? left * p->s3_egress[3] : 0);
}

static double over(double v, double free)
{
	return v > free ? v - free : 0;
}

static void cost_of(const pctx *c, const prices *p, costs *k)
{
	memset(k, 0, sizeof(*k));
	k->gb = (double)c->bytes / p->gb_bytes;
	k->s3_get_reqs = c->r.head_src + c->r.get;
	k->s3_list_reqs = c->r.list_pages;
	k->a_ops = c->r.put + c->r.create + c->r.upload_part + c->r.complete;
	k->b_ops = c->r.head_dst;
	k->egress = tiered_egress(p, k->gb);
	k->s3_get = (double)k->s3_get_reqs / 1000.0 * p->s3_get_per_1000;
	k->s3_list = (double)k->s3_list_reqs / 1000.0 * p->s3_list_per_1000;
	k->class_a = over((double)k->a_ops, p->r2_free_class_a) / 1e6 * p->r2_class_a;
	k->class_b = over((double)k->b_ops, p->r2_free_class_b) / 1e6 * p->r2_class_b;
	k->one_time = k->egress + k->s3_get + k->s3_list + k->class_a + k->class_b;
	k->storage_month = over(k->gb, p->r2_free_storage_gb) * p->r2_storage;
}

static uint64_t total_requests(const reqs *r)
{
	return r->list_pages + r->head_src + r->get + r->put + r->create + r->upload_part +
	       r->complete + r->head_dst;
}

static void human_time(double s, char *out, size_t cap)
{
	if (s < 60)
		bg_snprintf(out, cap, "%.1f s", s);
	else if (s < 3600)
		bg_snprintf(out, cap, "%.1f min", s / 60);
	else if (s < 86400 * 2)
		bg_snprintf(out, cap, "%.1f h", s / 3600);
	else
		bg_snprintf(out, cap, "%.1f days", s / 86400);
}

static void human_rate(double bits, char *out, size_t cap)
{
	static const char *const u[] = { "bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s" };
	int i = 0;
	while (bits >= 1000 && i < 4) {
		bits /= 1000;
		i++;
	}
	bg_snprintf(out, cap, "%g %s", bits, u[i]);
}

/* ---- the command ---------------------------------------------------------- */

typedef struct pargs {
	const char *src_profile, *dst_profile, *env_file, *ca_bundle, *prices_file;
	bool insecure, exact, objects_out, json;
	double bandwidth, rtt_ms;
	uint64_t concurrency, attempts;
	uint64_t part_size, threshold, memory; /* threshold UINT64_MAX: the part size */
	cu_filters filters;
} pargs;

static int bandwidth_opt(void *dst, const char *name, const char *val, char *err, size_t cap)
{
	(void)name;
	if (parse_bandwidth(val, dst) == 0)
		return 0;
	bg_snprintf(err, cap, "--bandwidth '%s' must look like 1G, 1Gbit, 100Mbps, 125MB or 1GiB "
		    "(no unit: bits per second)", val);
	return -1;
}

static int rtt_opt(void *dst, const char *name, const char *val, char *err, size_t cap)
{
	double *ms = dst;
	char *end = NULL;

	(void)name;
	*ms = strtod(val, &end);
	if (end == val || *end || !(*ms >= 0) || *ms > 60000) {
		bg_snprintf(err, cap, "--rtt '%s' must be milliseconds from 0 to 60000", val);
		return -1;
	}
	return 0;
}

static const cli_opt plan_opts[] = {
	CLI_OPT_SIZE("--part-size", "SIZE", pargs, part_size, BG_PART_MIN, BG_PART_MAX,
		     "as for copy (default 16M)"),
	CLI_OPT_SIZE("--multipart-threshold", "SIZE", pargs, threshold, 0, BG_PUT_MAX,
		     "as for copy (default: the part size)"),
	CLI_OPT_SIZE("--memory", "SIZE", pargs, memory, 16 * BG_MIB, 1ull << 40,
		     "as for copy (default: 1/16 of RAM, 256M to 1G): bounds\n"
		     "the part size"),
	CLI_OPT_FN("--include", "GLOB", cu_filters, pargs, filters, cu_filter_opt, "as for copy"),
	CLI_OPT_FN("--exclude", "GLOB", cu_filters, pargs, filters, cu_filter_opt,
		   "as for copy; the last match wins"),
	CLI_OPT_FLAG("--exact", pargs, exact,
		     "HEAD each multipart source (?partNumber=1 and =N, as\n"
		     "copy does) for its real part size; default: estimate\n"
		     "it from the size and the ETag's -N part count"),
	CLI_OPT_FN("--bandwidth", "RATE", double, pargs, bandwidth, bandwidth_opt,
		   "the link's rate (default 1Gbit): a number with k, M,\n"
		   "G or T (powers of 1000; Ki, Mi, Gi, Ti: of 1024) and a\n"
		   "unit: bit, b or bps for bits per second, B or Bps for\n"
		   "bytes per second; no unit means bits: 1G = 1 Gbit/s,\n"
		   "125MB = 1 Gbit/s too"),
	CLI_OPT_U64("--concurrency", "N", pargs, concurrency, 1, 1024, NULL,
		    "transfers in flight (default 32, as for copy) and"),
	CLI_OPT_FN("--rtt", "MS", double, pargs, rtt_ms, rtt_opt,
		   "a request's round trip (default 20 ms): requests take\n"
		   "at least requests x rtt / concurrency"),
	CLI_OPT_STR("--prices", "FILE", pargs, prices_file,
		    "the price table (default: $BARGE_PRICES, else\n"
		    "docs/prices.ini next to the barge that runs, else the\n"
		    "same prices built in); see docs/utilities.md"),
	CLI_OPT_FLAG("--objects", pargs, objects_out, "also one line per object: its size and plan"),
	CLI_OPT_FLAG("--json", pargs, json,
		     "JSON lines: with --objects one {\"type\": \"object\"}\n"
		     "per object, one {\"type\": \"failure\"} per object that\n"
		     "cannot be copied, and last {\"type\": \"summary\", ...}"),
	CLI_OPT_STR("--src-profile", "P", pargs, src_profile, CU_HELP_SRC_PROFILE),
	CLI_OPT_STR("--dst-profile", "P", pargs, dst_profile,
		    "accepted for symmetry with copy (DST is not contacted)"),
	CLI_OPT_STR("--env-file", "FILE", pargs, env_file, CU_HELP_ENV_FILE),
	CLI_OPT_STR("--ca-bundle", "FILE", pargs, ca_bundle, CU_HELP_CA_BUNDLE),
	CLI_OPT_FLAG("--insecure", pargs, insecure, CU_HELP_INSECURE),
	CLI_OPT_U64("--retries", "N", pargs, attempts, 1, 100, NULL, CU_HELP_RETRIES),
	CU_REFUSE_PROFILE,
	CLI_OPT_END,
};

static const cli_cmd plan_cmd = {
	.name = "plan",
	.usage = "usage: barge plan SRC DST [options]\n"
		 "\n"
		 "Lists SRC (every page) and prints what 'barge copy SRC DST' with the same\n"
		 "options would do, without moving anything: objects and bytes by size class,\n"
		 "the requests of each kind, the part sizes, the expected time at a bandwidth\n"
		 "and the cost (S3 egress and requests, R2 operations and storage) from a\n"
		 "price table. SRC and DST are s3://bucket[/prefix] or r2://bucket[/prefix];\n"
		 "only SRC is contacted.\n",
	.tail = "Exit: 0 planned, 1 some objects cannot be copied as the options stand (each\n"
		"named, e.g. a part size --memory cannot hold), 2 usage, configuration, a\n"
		"price file that does not parse, or a listing that failed.\n",
	.opts = plan_opts,
	.pos_min = 2, .pos_max = 2,
	.pos_need = "SRC and DST", .pos_takes = "SRC and DST",
};

/* 0, 1 after --help, or EXIT_USAGE; SRC and DST in pos. */
static int parse(int argc, char **argv, pargs *a, pctx *c, cli_args *pos)
{
	int r = cli_parse(&plan_cmd, a, argc, argv, pos);
	if (r)
		return r < 0 ? EXIT_USAGE : 1;
	c->part_size = a->part_size;
	c->memory = a->memory;
	c->threshold = a->threshold == UINT64_MAX ? a->part_size : a->threshold;
	c->filters = a->filters.list;
	c->nfilters = a->filters.n;
	c->exact = a->exact;
	c->objects_out = a->objects_out;
	c->json = a->json;
	if (c->memory < 2 * c->part_size) {
		bg_text_line(stderr, "barge: --memory must be at least twice --part-size (as for copy)");
		return EXIT_USAGE;
	}
	if (c->threshold > c->memory / 2) {
		bg_text_line(stderr, "barge: --multipart-threshold must be at most half of --memory "
				"(as for copy)");
		return EXIT_USAGE;
	}
	return 0;
}

static void print_text(const pctx *c, const pargs *a, const prices *p, const costs *k,
		       const char *srcu, const char *dstu, double data_s, double req_s)
{
	char b1[32], b2[32], t1[32], t2[32], t3[32], rate[32];
	bg_human_bytes((double)c->bytes, b1, sizeof(b1));
	bg_text_line(stdout, "plan %s -> %s", srcu, dstu);
	printf("  objects: %" PRIu64 " (%s, %" PRIu64 " bytes)", c->objects, b1, c->bytes);
	if (c->excluded)
		printf("; %" PRIu64 " more excluded by --include/--exclude", c->excluded);
	fputc('\n', stdout);
	for (int i = 0; i < NCLASS; i++) {
		bg_human_bytes((double)c->cls_b[i], b2, sizeof(b2));
		printf("    %-16s %10" PRIu64 " objects  %12s\n", class_name[i], c->cls_n[i], b2);
	}
	if (c->failed) {
		bg_human_bytes((double)c->failed_bytes, b2, sizeof(b2));
		printf("  cannot be copied with these options: %" PRIu64 " objects (%s)%s\n",
		       c->failed, b2, c->failed > MAX_FAIL_LINES ? "; the first 20 are named above" :
		       ", named above");
	}
	printf("  uploads: %" PRIu64 " single PUT, %" PRIu64 " multipart (%" PRIu64 " parts)\n",
	       c->single, c->multipart, c->parts - c->single);
	printf("  same layout as the source (destination ETag = source ETag): %" PRIu64 " of %" PRIu64
	       " multipart sources (%s)\n", c->same_layout, c->mp_sources,
	       c->exact ? "part sizes asked with HEAD ?partNumber" :
			  "part size estimated from the -N ETag; --exact asks the source");
	printf("  part sizes:\n");
	for (unsigned i = 0; i < c->nsizes; i++) {
		const psize *s = &c->sizes[i];
		if (!s->part_size) {
			printf("    %-16s %10" PRIu64 " objects\n", "single PUT", s->objects);
			continue;
		}
		bg_human_bytes((double)s->part_size, b2, sizeof(b2));
		printf("    %-16s %10" PRIu64 " objects %10" PRIu64 " parts  (%" PRIu64 " bytes)\n", b2,
		       s->objects, s->parts, s->part_size);
	}
	if (c->other_objects)
		printf("    %-16s %10" PRIu64 " objects %10" PRIu64 " parts\n", "other sizes",
		       c->other_objects, c->other_parts);
	const reqs *r = &c->r;
	printf("  requests: %" PRIu64 "\n", total_requests(r));
	printf("    source (S3):       %" PRIu64 " LIST pages, %" PRIu64 " HEAD, %" PRIu64 " GET\n",
	       r->list_pages, r->head_src, r->get);
	printf("    destination (R2):  %" PRIu64 " PUT, %" PRIu64 " CreateMultipartUpload, %" PRIu64
	       " UploadPart, %" PRIu64 " CompleteMultipartUpload, %" PRIu64 " HEAD (verify and "
	       "the bucket check)\n", r->put, r->create, r->upload_part, r->complete, r->head_dst);
	human_rate(a->bandwidth, rate, sizeof(rate));
	human_time(data_s > req_s ? data_s : req_s, t1, sizeof(t1));
	human_time(data_s, t2, sizeof(t2));
	human_time(req_s, t3, sizeof(t3));
	printf("  time at %s: about %s (bytes / bandwidth: %s; requests x %.0f ms / %" PRIu64
	       " in flight: %s)\n", rate, t1, t2, a->rtt_ms, a->concurrency, t3);
	bg_text_line(stdout, "  cost (%s, prices as of %s from %s):", p->currency, p->as_of,
		     p->file ? p->file : "barge's built-in table (docs/prices.ini)");
	printf("    S3 egress          %12.4f  (%.2f GB)\n", k->egress, k->gb);
	printf("    S3 GET/HEAD        %12.4f  (%" PRIu64 " requests)\n", k->s3_get, k->s3_get_reqs);
	printf("    S3 LIST            %12.4f  (%" PRIu64 " requests)\n", k->s3_list, k->s3_list_reqs);
	printf("    R2 Class A         %12.4f  (%" PRIu64 " operations)\n", k->class_a, k->a_ops);
	printf("    R2 Class B         %12.4f  (%" PRIu64 " operations)\n", k->class_b, k->b_ops);
	printf("    one-time total     %12.4f\n", k->one_time);
	printf("    R2 storage         %12.4f  per month afterwards\n", k->storage_month);
	printf("    (R2 free allowances taken off once; S3 egress by its monthly tiers; retries "
	       "not included)\n");
}

static void print_json(const pctx *c, const pargs *a, const prices *p, const costs *k,
		       const char *srcu, const char *dstu, double data_s, double req_s)
{
	const reqs *r = &c->r;
	fputs("{\"type\": \"summary\", \"source\": ", stdout);
	bg_json_putn(stdout, srcu, strlen(srcu));
	fputs(", \"destination\": ", stdout);
	bg_json_putn(stdout, dstu, strlen(dstu));
	printf(", \"objects\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"excluded\": %" PRIu64
	       ", \"failed\": %" PRIu64 ", \"failed_bytes\": %" PRIu64 ", \"size_classes\": [",
	       c->objects, c->bytes, c->excluded, c->failed, c->failed_bytes);
	for (int i = 0; i < NCLASS; i++) {
		char max[24] = "null";
		if (i < NCLASS - 1)
			bg_snprintf(max, sizeof(max), "%" PRIu64, class_max[i]);
		printf("%s{\"class\": \"%s\", \"min\": %" PRIu64 ", \"max\": %s, \"objects\": %" PRIu64
		       ", \"bytes\": %" PRIu64 "}", i ? ", " : "", class_id[i],
		       i ? class_max[i - 1] : 0, max, c->cls_n[i], c->cls_b[i]);
	}
	printf("], \"single_put\": %" PRIu64 ", \"multipart\": %" PRIu64 ", \"parts\": %" PRIu64
	       ", \"multipart_sources\": %" PRIu64 ", \"same_layout\": %" PRIu64
	       ", \"layout_basis\": \"%s\", \"part_sizes\": [", c->single, c->multipart,
	       c->parts - c->single, c->mp_sources, c->same_layout, c->exact ? "head" : "etag");
	for (unsigned i = 0; i < c->nsizes; i++)
		printf("%s{\"part_size\": %" PRIu64 ", \"objects\": %" PRIu64 ", \"parts\": %" PRIu64
		       "}", i ? ", " : "", c->sizes[i].part_size, c->sizes[i].objects,
		       c->sizes[i].parts);
	printf("], \"other_part_sizes\": {\"objects\": %" PRIu64 ", \"parts\": %" PRIu64 "}",
	       c->other_objects, c->other_parts);
	printf(", \"requests\": {\"list_pages\": %" PRIu64 ", \"head_source\": %" PRIu64
	       ", \"get\": %" PRIu64 ", \"put\": %" PRIu64 ", \"create\": %" PRIu64
	       ", \"upload_part\": %" PRIu64 ", \"complete\": %" PRIu64
	       ", \"head_destination\": %" PRIu64 ", \"total\": %" PRIu64 "}",
	       r->list_pages, r->head_src, r->get, r->put, r->create, r->upload_part, r->complete,
	       r->head_dst, total_requests(r));
	printf(", \"bandwidth_bits_per_s\": %.17g, \"concurrency\": %" PRIu64 ", \"rtt_ms\": %g"
	       ", \"time_s\": %.3f, \"data_time_s\": %.3f, \"request_time_s\": %.3f",
	       a->bandwidth, a->concurrency, a->rtt_ms, data_s > req_s ? data_s : req_s, data_s,
	       req_s);
	fputs(", \"cost\": {\"currency\": ", stdout);
	bg_json_putn(stdout, p->currency, strlen(p->currency));
	fputs(", \"prices_file\": ", stdout);
	if (p->file)
		bg_json_putn(stdout, p->file, strlen(p->file));
	else
		fputs("null", stdout);
	fputs(", \"as_of\": ", stdout);
	bg_json_putn(stdout, p->as_of, strlen(p->as_of));
	printf(", \"gb\": %.6f, \"s3_egress\": %.6f, \"s3_get\": %.6f, \"s3_list\": %.6f"
	       ", \"r2_class_a\": %.6f, \"r2_class_b\": %.6f, \"one_time_total\": %.6f"
	       ", \"r2_storage_per_month\": %.6f, \"s3_get_requests\": %" PRIu64
	       ", \"s3_list_requests\": %" PRIu64 ", \"r2_class_a_ops\": %" PRIu64
	       ", \"r2_class_b_ops\": %" PRIu64 "}}\n",
	       k->gb, k->egress, k->s3_get, k->s3_list, k->class_a, k->class_b, k->one_time,
	       k->storage_month, k->s3_get_reqs, k->s3_list_reqs, k->a_ops, k->b_ops);
}

static void location_url(const bg_location *l, char *out, size_t cap)
{
	const char *scheme = l->kind == BG_LOC_R2 ? "r2" : "s3";
	if (l->prefix[0])
		bg_snprintf(out, cap, "%s://%s/%s", scheme, l->bucket, l->prefix);
	else
		bg_snprintf(out, cap, "%s://%s", scheme, l->bucket);
}

/* The price table: --prices, $BARGE_PRICES, the shipped file, or the
 * built-in one (p keeps the name: it outlives this call).  0, or -1 with
 * err. */
static int load_prices(const pargs *a, prices *p, char *err, size_t cap)
{
	static char pbuf[PATH_MAX + 64]; /* p keeps the file's name */
	const char *pf = a->prices_file ? a->prices_file : getenv("BARGE_PRICES");
	if (pf && !*pf)
		pf = NULL;
	if (!pf)
		pf = prices_default_file(pbuf, sizeof(pbuf));
	if (!pf) {
		prices_default(p);
		return 0;
	}
	return prices_load(p, pf, err, cap);
}

/* SRC (resolved: its endpoint and keys) and DST (a bucket, not a path).
 * 0, or -1 with err. */
static int locations(const pargs *a, const cli_args *pos, bg_location *src, bg_location *dst,
		     bg_endpoint *ep, char *err, size_t cap)
{
	if (bg_location_parse(pos->pos[1], dst, err, cap) < 0)
		return -1;
	if (dst->kind == BG_LOC_LOCAL) {
		bg_snprintf(err, cap, "DST '%s' is a local path: plan covers s3:// and r2:// "
				      "destinations", pos->pos[1]);
		return -1;
	}
	cu_where w = { .profile = a->src_profile, .ca_bundle = a->ca_bundle, .insecure = a->insecure };
	if (cu_resolve(pos->pos[0], &w, src, ep, err, cap) < 0)
		return -1;
	if (a->insecure)
		bg_text_line(stderr, "barge: WARNING: --insecure: the TLS certificate is NOT verified");
	return 0;
}

/* Lists the source below folder into c (sizes, counts, HEADs of
 * multipart sources).  0, or -1 with err. */
static int survey(pctx *c, const pargs *a, const bg_location *src, const char *folder,
		  const char *srcu, bg_s3_req *list, char *err, size_t cap)
{
	cu_list_opts lo = { .bucket = src->bucket, .prefix = folder, .on_object = on_object,
			    .ctx = c, .attempts = (unsigned)a->attempts };
	cu_list_stats ls;
	char msg[BG_MSG_MAX + 128];
	if (cu_list(c->http, list, c->ep, &lo, &ls, msg, sizeof(msg)) < 0) {
		if (c->head_failed)
			bg_snprintf(err, cap, "%s (%s)", c->head_msg, c->ep->url);
		else if (strcmp(ls.err_code, "NoSuchBucket") == 0)
			bg_snprintf(err, cap, "source bucket '%s' does not exist at %s", src->bucket,
				    c->ep->url);
		else
			bg_snprintf(err, cap, "cannot list %s: %s (%s)", srcu, msg, c->ep->url);
		return -1;
	}
	c->r.list_pages = ls.pages;
	c->r.head_dst++; /* the copy's HEAD of the destination bucket */
	qsort(c->sizes, c->nsizes, sizeof(c->sizes[0]), cmp_size);
	return 0;
}

int cmd_plan(int argc, char **argv)
{
	static pctx c;
	static bg_location src, dst;
	static bg_endpoint ep;
	static bg_http http;
	static bg_s3_req list, head;
	static prices p;
	static pargs a; /* static: its filters stay reachable on every way out */
	cli_args pos;
	int code = EXIT_USAGE;
	char err[512];

	a = (pargs){ .bandwidth = 1e9, .rtt_ms = 20, .concurrency = 32, .attempts = 10,
		     .part_size = 16 * BG_MIB, .threshold = UINT64_MAX,
		     .memory = cu_default_memory() };
	int pr = parse(argc, argv, &a, &c, &pos);
	if (pr) {
		code = pr == 1 ? 0 : pr;
		goto out;
	}
	if ((a.env_file && bg_envfile_load(a.env_file, err, sizeof(err)) < 0) ||
	    load_prices(&a, &p, err, sizeof(err)) < 0 ||
	    locations(&a, &pos, &src, &dst, &ep, err, sizeof(err)) < 0)
		goto fail;
	char folder[BG_KEY_MAX + 2], dfolder[BG_KEY_MAX + 2], srcu[1200], dstu[1200];
	cu_folder(src.prefix, folder, sizeof(folder));
	cu_folder(dst.prefix, dfolder, sizeof(dfolder));
	location_url(&src, srcu, sizeof(srcu));
	location_url(&dst, dstu, sizeof(dstu));
	c.plen = strlen(folder);
	c.dplen = strlen(dfolder);
	bg_status st = { 0 };
	if (bg_http_init(&http, 16, 4, &st) != BG_OK || bg_s3_req_init(&list, 16u << 20, &st) ||
	    bg_s3_req_init(&head, 64 * 1024, &st)) {
		bg_strlcpy(err, st.msg, sizeof(err));
		goto fail;
	}
	c.ep = &ep;
	c.bucket = src.bucket;
	c.attempts = (unsigned)a.attempts;
	c.http = &http;
	c.head = &head;
	signal(SIGPIPE, SIG_IGN);
	if (survey(&c, &a, &src, folder, srcu, &list, err, sizeof(err)) < 0)
		goto fail;
	costs k;
	cost_of(&c, &p, &k);
	double data_s = (double)c.bytes * 8.0 / a.bandwidth;
	double req_s = (double)total_requests(&c.r) * a.rtt_ms / 1000.0 / (double)a.concurrency;
	if (c.json)
		print_json(&c, &a, &p, &k, srcu, dstu, data_s, req_s);
	else
		print_text(&c, &a, &p, &k, srcu, dstu, data_s, req_s);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		bg_snprintf(err, sizeof(err), "cannot write the plan to standard output");
		goto fail;
	}
	code = c.failed ? EXIT_FAILED : 0;
	goto out;
fail:
	bg_text_line(stderr, "barge: %s", err);
	code = EXIT_USAGE;
out:
	bg_endpoint_wipe(&ep);
	bg_s3_req_free(&list);
	bg_s3_req_free(&head);
	if (http.multi)
		bg_http_free(&http);
	cu_filters_free(&a.filters);
	return code;
}
