/* cmdutil.c - pieces the barge commands share (see cmdutil.h). */
#include "cmdutil.h"
#include "copy.h"
#include "esc.h"
#include "plan.h"
#include "progress.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bg_jident cu_ident(const bg_location *l, const bg_endpoint *e)
{
	if (l->kind == BG_LOC_LOCAL)
		return (bg_jident){ .endpoint = "local", .region = "", .key_id = "" };
	return (bg_jident){ .endpoint = e->url, .region = e->region, .key_id = e->access_key };
}

int cu_readable(const char *what, const char *path, char *err, size_t cap)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		bg_snprintf(err, cap, "%s %s cannot be read: %s", what, path, strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

int cu_resolve(const char *url, const cu_where *w, bg_location *loc, bg_endpoint *ep,
	       char *err, size_t cap)
{
	if (bg_location_parse(url, loc, err, cap) < 0)
		return -1;
	if (loc->kind == BG_LOC_LOCAL) {
		bg_snprintf(err, cap, "'%s' is a local path: give s3://bucket[/prefix] or "
				      "r2://bucket[/prefix]", url);
		return -1;
	}
	if (bg_endpoint_resolve(loc->kind, w->profile, ep, err, cap) < 0)
		return -1;
	if (w->ca_bundle && cu_set_ca(w->ca_bundle, ep, err, cap) < 0)
		return -1;
	ep->insecure = w->insecure;
	return 0;
}

int cu_set_ca(const char *path, bg_endpoint *ep, char *err, size_t cap)
{
	if (cu_readable("--ca-bundle", path, err, cap) < 0)
		return -1;
	if (bg_strlcpy(ep->ca_bundle, path, sizeof(ep->ca_bundle)) < 0) {
		bg_snprintf(err, cap, "--ca-bundle path is too long");
		return -1;
	}
	return 0;
}

uint64_t cu_default_memory(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	uint64_t ram = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
	FILE *f = fopen("/sys/fs/cgroup/memory.max", "r"); /* "max" when unlimited */
	if (f) {
		unsigned long long lim;
		if (fscanf(f, "%llu", &lim) == 1 && lim > 0 && (!ram || lim < ram))
			ram = lim;
		fclose(f);
	}
	uint64_t m = ram / 16 / BG_MIB * BG_MIB;
	if (m < 256 * BG_MIB)
		m = 256 * BG_MIB;
	if (m > 1024 * BG_MIB)
		m = 1024 * BG_MIB;
	return m;
}

void cu_folder(const char *prefix, char *out, size_t cap)
{
	size_t n = strlen(prefix);
	bg_snprintf(out, cap, "%s%s", prefix, (n && prefix[n - 1] != '/') ? "/" : "");
}

struct list_ctx {
	const cu_list_opts *o;
	cu_list_stats *s;
};

static int count_object(void *ctx, const bg_xml_object *x)
{
	struct list_ctx *lc = ctx;
	lc->s->objects++;
	lc->s->bytes += x->size;
	return lc->o->on_object ? lc->o->on_object(lc->o->ctx, x) : 0;
}

static int count_prefix(void *ctx, const char *p, size_t n)
{
	struct list_ctx *lc = ctx;
	lc->s->prefixes++;
	return lc->o->on_prefix ? lc->o->on_prefix(lc->o->ctx, p, n) : 0;
}

int cu_list(bg_http *h, bg_s3_req *r, const bg_endpoint *ep, const cu_list_opts *o,
	    cu_list_stats *s, char *msg, size_t cap)
{
	static char token[BG_TOKEN_MAX];
	char maxk[16];
	struct list_ctx lc = { o, s };
	unsigned bad_pages = 0;

	token[0] = '\0';
	memset(s, 0, sizeof(*s));
	bg_snprintf(maxk, sizeof(maxk), "%u", o->max_keys);
	for (;;) {
		bg_query_param q[6];
		size_t nq = 0;
		q[nq++] = (bg_query_param){ "list-type", "2" };
		q[nq++] = (bg_query_param){ "encoding-type", "url" };
		if (o->prefix && o->prefix[0])
			q[nq++] = (bg_query_param){ "prefix", o->prefix };
		if (o->delimiter)
			q[nq++] = (bg_query_param){ "delimiter", o->delimiter };
		if (o->max_keys)
			q[nq++] = (bg_query_param){ "max-keys", maxk };
		if (token[0])
			q[nq++] = (bg_query_param){ "continuation-token", token };
		bg_s3_call c = { .method = "GET", .bucket = o->bucket, .query = q, .nquery = nq };
		bg_s3_outcome out = bg_s3_exec(h, r, ep, &c, o->attempts, NULL, &s->retries, msg, cap);
		if (out != BG_S3_DONE) {
			bg_strlcpy(s->err_code, r->err.code, sizeof(s->err_code));
			return -1;
		}
		const char *body = r->resp.data ? r->resp.data : "";
		bg_xml_list_result res;
		/* Check the whole page (both parsers refuse a bad page before
		 * delivering anything), then deliver prefixes and objects. */
		if (bg_xml_parse_list(body, r->resp.len, NULL, NULL, &res, msg, cap) < 0 ||
		    bg_xml_parse_list_prefixes(body, r->resp.len, NULL, NULL, NULL, msg, cap) < 0) {
			if (++bad_pages < o->attempts) {
				s->retries++;
				continue; /* cut short on the way: read it again */
			}
			return -1;
		}
		bad_pages = 0;
		s->pages++;
		if (o->delimiter &&
		    bg_xml_parse_list_prefixes(body, r->resp.len, count_prefix, &lc, NULL, msg, cap))
			return -1;
		if (bg_xml_parse_list(body, r->resp.len, count_object, &lc, &res, msg, cap))
			return -1;
		if (!res.is_truncated) {
			s->complete = true;
			return 0;
		}
		if (strcmp(token, res.next_token) == 0) {
			bg_snprintf(msg, cap, "the server sent the same continuation token twice");
			return -1;
		}
		bg_strlcpy(token, res.next_token, sizeof(token));
		if (o->max_pages && s->pages >= o->max_pages)
			return 0;
	}
}

/* ---- command lines ---------------------------------------------------- */

const cli_choice cu_progress_modes[] = {
	{ "auto", BG_PROG_AUTO }, { "bar", BG_PROG_BAR }, { "json", BG_PROG_JSON },
	{ "none", BG_PROG_NONE }, { NULL, 0 },
};

const cli_choice cu_checksum_modes[] = {
	{ "auto", BG_CKSUM_AUTO }, { "md5", BG_CKSUM_MD5 }, { "crc32c", BG_CKSUM_CRC32C },
	{ "none", BG_CKSUM_NONE }, { NULL, 0 },
};

int cu_filter_opt(void *dst, const char *name, const char *val, char *err, size_t cap)
{
	cu_filters *f = dst;
	size_t n = strlen(val);
	char *g;

	if (f->n == CU_FILTERS_MAX) {
		bg_snprintf(err, cap, "at most %d --include/--exclude filters", CU_FILTERS_MAX);
		return -1;
	}
	g = malloc(n + 2);
	if (!g) {
		bg_snprintf(err, cap, "out of memory");
		return -1;
	}
	g[0] = strcmp(name, "--include") == 0 ? '+' : '-';
	memcpy(g + 1, val, n + 1);
	f->list[f->n++] = g;
	return 0;
}

void cu_filters_free(cu_filters *f)
{
	for (unsigned i = 0; i < f->n; i++)
		free((char *)f->list[i]);
	f->n = 0;
}

int cu_tls_both(const char *ca_bundle, bool insecure, bg_endpoint *src, bg_endpoint *dst)
{
	char err[512];

	if (ca_bundle && (cu_set_ca(ca_bundle, src, err, sizeof(err)) < 0 ||
			  cu_set_ca(ca_bundle, dst, err, sizeof(err)) < 0)) {
		bg_text_line(stderr, "barge: %s", err);
		return 2;
	}
	if (insecure) {
		src->insecure = dst->insecure = true;
		bg_text_line(stderr, "barge: WARNING: --insecure: TLS certificates are NOT verified on "
			     "either endpoint; anyone on the path can impersonate them, read and "
			     "change the data");
	}
	return 0;
}

static volatile int *stop_target;

static void on_stop_signal(int sig)
{
	*stop_target = sig; /* which one: the exit code says (128 + sig) */
	signal(sig, SIG_DFL); /* a second Ctrl-C ends it at once */
}

void cu_catch_stop(volatile int *flag)
{
	stop_target = flag;
	signal(SIGINT, on_stop_signal);
	signal(SIGTERM, on_stop_signal);
}
