/* ls_cmd.c - `barge ls URL [--json] [--recursive]` (see ls_cmd.h).
 *
 * One listing request at a time on a private loop (cmdutil.c's cu_list);
 * each page is printed as it arrives, its folders first, then its
 * objects, so memory stays flat for any bucket. */
#include "ls_cmd.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdutil.h"
#include "esc.h"

#define EXIT_USAGE 2
#define ETAG_COL 38 /* 32 hex digits and "-10000" */

/* What the command line says. */
typedef struct lsargs {
	cu_where w;
	const char *env_file;
	bool json, recursive;
	unsigned attempts;
} lsargs;

static const cli_opt ls_opts[] = {
	{ .name = "--recursive", .alias = 'r', .kind = CLI_FLAG,
	  .off = CLI_AT(bool, lsargs, recursive),
	  .help = "every key under URL, full keys, no folders" },
	CLI_OPT_FLAG("--json", lsargs, json,
		     "one JSON object per line instead of text:\n"
		     "{\"type\": \"object\", \"key\": K, \"size\": N,\n"
		     " \"last_modified\": T, \"etag\": E} or\n"
		     "{\"type\": \"prefix\", \"prefix\": P} (full keys, JSON escapes)"),
	CLI_OPT_STR("--profile", "P", lsargs, w.profile, CU_HELP_PROFILE),
	CLI_OPT_STR("--env-file", "FILE", lsargs, env_file, CU_HELP_ENV_FILE),
	CLI_OPT_STR("--ca-bundle", "FILE", lsargs, w.ca_bundle, CU_HELP_CA_BUNDLE),
	CLI_OPT_FLAG("--insecure", lsargs, w.insecure, CU_HELP_INSECURE),
	CLI_OPT_UINT("--retries", "N", lsargs, attempts, 1, 100, NULL,
		     "attempts per page (default 10)"),
	CU_REFUSE_SIDE_PROFILES,
	CLI_OPT_END,
};

static const cli_cmd ls_cmd = {
	.name = "ls",
	.usage = "usage: barge ls URL [options]\n"
		 "\n"
		 "Lists the objects under URL (s3://bucket[/prefix] or r2://bucket[/prefix]; the\n"
		 "prefix is a folder, as for copy: s3://b/data lists the keys under data/).\n"
		 "By default one level, like 'aws s3 ls': sub-folders as 'PRE name/', then the\n"
		 "objects, names relative to the folder. Every page of the listing is read.\n",
	.tail = "Text lines: 'DATE TIME  SIZE  ETAG  NAME' (UTC, bytes), and 'PRE NAME' for a\n"
		"folder; the name starts in column 76 (after an ETag of up to 38 characters).\n"
		"Names are printed exactly, except that a backslash is written \\\\, newline,\n"
		"tab and carriage return as \\n \\t \\r, and other control characters (C0,\n"
		"DEL, each byte of a C1 control) and bytes that are not UTF-8 as \\xHH: every\n"
		"line is one object, nothing in it drives the terminal, and the escapes can be\n"
		"undone (docs/output.md).\n"
		"\n"
		"Credentials as for 'barge copy' (see 'barge copy --help').\n"
		"Exit: 0 listed (also when nothing is there), 2 usage, configuration, a missing\n"
		"bucket, access denied or a listing that failed (what was printed before is\n"
		"then incomplete, and stderr says so).\n",
	.opts = ls_opts,
	.pos_min = 1, .pos_max = 1,
	.pos_need = "a URL such as s3://bucket/prefix", .pos_takes = "one URL",
};

typedef struct lsctx {
	bool json, recursive;
	size_t plen; /* the folder's length, cut from names in text mode */
} lsctx;

static int on_prefix(void *ctx, const char *p, size_t n)
{
	lsctx *c = ctx;
	if (c->json) {
		fputs("{\"type\": \"prefix\", \"prefix\": ", stdout);
		bg_json_putn(stdout, p, n);
		fputs("}\n", stdout);
	} else {
		size_t cut = n >= c->plen ? c->plen : 0;
		printf("%*s", 19 + 2 + 12 + 2 + ETAG_COL - 2, "");
		fputs("PRE ", stdout);
		bg_text_putn(stdout, p + cut, n - cut);
		fputc('\n', stdout);
	}
	return ferror(stdout) ? 1 : 0;
}

static int on_object(void *ctx, const bg_xml_object *o)
{
	lsctx *c = ctx;
	const char *lm = o->last_modified ? o->last_modified : "";
	if (c->json) {
		fputs("{\"type\": \"object\", \"key\": ", stdout);
		bg_json_putn(stdout, o->key, o->key_len);
		printf(", \"size\": %" PRIu64 ", \"last_modified\": ", o->size);
		bg_json_putn(stdout, lm, strlen(lm));
		fputs(", \"etag\": ", stdout);
		bg_json_putn(stdout, o->etag, strlen(o->etag));
		fputs("}\n", stdout);
	} else {
		/* "2024-01-02T03:04:05.000Z" -> "2024-01-02 03:04:05" */
		char date[20] = "-";
		if (strlen(lm) >= 19) {
			memcpy(date, lm, 19);
			date[10] = ' ';
			date[19] = '\0';
		}
		size_t cut = c->recursive ? 0 : o->key_len >= c->plen ? c->plen : 0;
		printf("%-19s  %12" PRIu64 "  %-*s  ", date, o->size, ETAG_COL,
		       o->etag[0] ? o->etag : "-");
		bg_text_putn(stdout, o->key + cut, o->key_len - cut);
		fputc('\n', stdout);
	}
	return ferror(stdout) ? 1 : 0;
}

int cmd_ls(int argc, char **argv)
{
	static bg_endpoint ep;
	static bg_location loc;
	static bg_s3_req req;
	static bg_http http;
	lsargs a = { .attempts = 10 };
	cli_args pos;
	int r = cli_parse(&ls_cmd, &a, argc, argv, &pos);
	if (r)
		return r < 0 ? EXIT_USAGE : 0;
	const char *url = pos.pos[0], *env_file = a.env_file;
	cu_where w = a.w;
	lsctx c = { .json = a.json, .recursive = a.recursive };

	char err[512];
	if (env_file && bg_envfile_load(env_file, err, sizeof(err)) < 0) {
		bg_text_line(stderr, "barge: %s", err);
		return EXIT_USAGE;
	}
	if (cu_resolve(url, &w, &loc, &ep, err, sizeof(err)) < 0) {
		bg_text_line(stderr, "barge: %s", err);
		return EXIT_USAGE;
	}
	if (w.insecure)
		bg_text_line(stderr, "barge: WARNING: --insecure: the TLS certificate is NOT verified");
	char folder[BG_KEY_MAX + 2];
	cu_folder(loc.prefix, folder, sizeof(folder));
	c.plen = strlen(folder);

	bg_status st = { 0 };
	if (bg_http_init(&http, 16, 4, &st) != BG_OK) {
		bg_text_line(stderr, "barge: %s", st.msg);
		return EXIT_USAGE;
	}
	if (bg_s3_req_init(&req, 16u << 20, &st) != BG_OK) {
		bg_text_line(stderr, "barge: %s", st.msg);
		bg_http_free(&http);
		return EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	cu_list_opts lo = {
		.bucket = loc.bucket, .prefix = folder, .delimiter = c.recursive ? NULL : "/",
		.on_object = on_object, .on_prefix = on_prefix, .ctx = &c,
		.attempts = a.attempts,
	};
	cu_list_stats ls;
	char msg[BG_MSG_MAX + 128];
	int rc = cu_list(&http, &req, &ep, &lo, &ls, msg, sizeof(msg));
	bg_endpoint_wipe(&ep);
	bg_s3_req_free(&req);
	bg_http_free(&http);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		bg_text_line(stderr, "barge: cannot write the listing to standard output");
		return EXIT_USAGE;
	}
	if (rc < 0) {
		const char *scheme = loc.kind == BG_LOC_R2 ? "r2" : "s3";
		if (strcmp(ls.err_code, "NoSuchBucket") == 0)
			bg_text_line(stderr, "barge: bucket '%s' does not exist at %s: check the URL "
					"(%s://BUCKET/prefix) and the endpoint", loc.bucket, ep.url, scheme);
		else
			bg_text_line(stderr, "barge: cannot list %s://%s: %s (%s)%s", scheme, loc.bucket,
				msg, ep.url, ls.pages ? "; the listing above is incomplete" : "");
		return EXIT_USAGE;
	}
	return 0;
}
