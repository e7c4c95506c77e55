/* cmdutil.h - small pieces the barge commands share: locations and
 * endpoints from the usual options, a whole ListObjectsV2 listing run one
 * page at a time on a private loop (ls, doctor, plan), and the options,
 * choices and help texts several commands take alike (parsed by cli.h).
 * Keys are escaped for the terminal and for JSON by engine/esc.h. */
#ifndef BG_CMDUTIL_H
#define BG_CMDUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "config.h"
#include "http.h"
#include "journal.h"
#include "s3.h"
#include "xml.h"

/* Options every utility takes for one location. */
typedef struct cu_where {
	const char *profile;   /* --profile (or --src-profile/--dst-profile) */
	const char *ca_bundle; /* --ca-bundle */
	bool insecure;         /* --insecure */
} cu_where;

/* Parses url (s3:// or r2:// only) and resolves its endpoint and
 * credentials.  0, or -1 with a one-line message that says what to fix. */
int cu_resolve(const char *url, const cu_where *w, bg_location *loc, bg_endpoint *ep,
	       char *err, size_t cap);

/* What the journal records as the store a location is on (journal.h,
 * docs/journal.md): e's URL, region and access key ID, or "local" for a
 * local path.  Points into e. */
bg_jident cu_ident(const bg_location *l, const bg_endpoint *e);

/* The default --memory (copy, plan, bench): a sixteenth of the memory
 * this process may use (physical memory, or the cgroup's limit when lower),
 * at least 256 MiB and at most 1 GiB, in whole MiB. */
uint64_t cu_default_memory(void);

/* The location's prefix as a folder: "" or ending in '/' (what copy does). */
void cu_folder(const char *prefix, char *out, size_t cap);

typedef struct cu_list_opts {
	const char *bucket;
	const char *prefix;    /* "" for the whole bucket */
	const char *delimiter; /* NULL: everything under prefix */
	unsigned max_keys;     /* 0: the server's default (1000) */
	unsigned max_pages;    /* 0: all pages */
	bg_xml_object_cb on_object; /* may be NULL */
	bg_xml_prefix_cb on_prefix; /* may be NULL */
	void *ctx;
	unsigned attempts;     /* per page */
} cu_list_opts;

typedef struct cu_list_stats {
	uint64_t pages, objects, prefixes, bytes;
	unsigned retries;
	bool complete;          /* the last page said IsTruncated false */
	char err_code[64];      /* the server's error code when it failed */
} cu_list_stats;

/* Lists page by page (encoding-type=url, continuation tokens); each page
 * is checked whole before its items are delivered, and a page that does
 * not parse is fetched again.  r needs a body cap of a few MiB.  0, or -1
 * with msg (the callback's non-zero value also stops with -1). */
int cu_list(bg_http *h, bg_s3_req *r, const bg_endpoint *ep, const cu_list_opts *o,
	    cu_list_stats *s, char *msg, size_t cap);

/* Checks that path can be read (--ca-bundle); 0 or -1 with err. */
int cu_readable(const char *what, const char *path, char *err, size_t cap);

/* --ca-bundle PATH for ep: readable, and short enough to keep.  0, or -1
 * with err ("--ca-bundle P cannot be read: ...", "... path is too long"). */
int cu_set_ca(const char *path, bg_endpoint *ep, char *err, size_t cap);

/* ---- command lines (every command; the parser is cli.h) ------------- */

/* The choices of --progress (bg_prog_mode) and --checksum (bg_cksum_mode). */
extern const cli_choice cu_progress_modes[];
extern const cli_choice cu_checksum_modes[];

/* Help texts of options several commands share, each written once. */
#define CU_HELP_SRC_PROFILE "shared-config profile for SRC"
#define CU_HELP_DST_PROFILE "shared-config profile for DST"
#define CU_HELP_PROFILE "shared-config profile for URL"
#define CU_HELP_ENV_FILE "load KEY=VALUE lines (R2 keys, ...) from FILE"
#define CU_HELP_CA_BUNDLE "trust the CAs in FILE (PEM)"
#define CU_HELP_CA_BOTH "trust the CAs in FILE (PEM) for both endpoints"
#define CU_HELP_INSECURE "do not verify TLS certificates (tests only)"
#define CU_HELP_PROGRESS "auto, bar, json or none (default auto)"
#define CU_HELP_RETRIES "attempts per request (default 10)"

/* --profile where there are two locations, --src-profile and --dst-profile
 * where there is one: refused with what to give instead.  A single
 * --profile for SRC and DST would hand the source's keys to the
 * destination (R2's come from elsewhere), so each side names its own. */
#define CU_REFUSE_PROFILE                                                              \
	CLI_OPT_REFUSE("--profile", "SRC and DST each take their own: --src-profile P, " \
				    "--dst-profile P")
#define CU_REFUSE_SIDE_PROFILES                                                       \
	CLI_OPT_REFUSE("--src-profile", "one location, one profile: --profile P"),     \
	CLI_OPT_REFUSE("--dst-profile", "one location, one profile: --profile P")

/* --include GLOB and --exclude GLOB (copy, plan), in the order given:
 * "+GLOB" or "-GLOB", as bg_copy_filter takes them. */
#define CU_FILTERS_MAX 64
typedef struct cu_filters {
	const char *list[CU_FILTERS_MAX];
	unsigned n;
} cu_filters;

/* The CLI_FN of --include and --exclude (dst: a cu_filters). */
int cu_filter_opt(void *dst, const char *name, const char *val, char *err, size_t cap);

/* Frees what cu_filter_opt took. */
void cu_filters_free(cu_filters *f);

/* --ca-bundle and --insecure for both endpoints (copy, audit, bench):
 * ca_bundle (may be NULL) readable and kept in each, --insecure said
 * loudly on stderr.  0, or 2 after one line on stderr. */
int cu_tls_both(const char *ca_bundle, bool insecure, bg_endpoint *src, bg_endpoint *dst);

/* SIGINT/SIGTERM set *flag to the signal's number; a second one ends the
 * process at once. */
void cu_catch_stop(volatile int *flag);

#endif
