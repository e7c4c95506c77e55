/* cmdutil.h - small pieces the utility commands share (barge ls, doctor,
 * plan): locations and endpoints from the usual options, a whole
 * ListObjectsV2 listing run one page at a time on a private loop.  Keys
 * are escaped for the terminal and for JSON by engine/esc.h. */
#ifndef BG_CMDUTIL_H
#define BG_CMDUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

/* ---- command lines (copy, audit, bench) ----------------------------- */

/* Prints "barge: MESSAGE (see 'barge CMD --help')" (fmt has one %s for
 * arg) and returns 2, the usage exit code. */
int cu_usage_error(const char *cmd, const char *fmt, const char *arg)
	__attribute__((format(printf, 2, 0)));

/* argv[*i] as a long option that takes a value, "--name value" or
 * "--name=value", among `names`: 1 with name (NUL-terminated) and *val set
 * and *i moved past a separate value; 0 when argv[*i] is not one of them
 * (the caller says "unknown option"); -1 when its value is missing
 * (message printed). */
int cu_value_option(const char *cmd, int argc, char **argv, int *i, const char *const *names,
		    size_t nnames, char *name, size_t cap, const char **val);

/* SIGINT/SIGTERM set *flag to the signal's number; a second one ends the
 * process at once. */
void cu_catch_stop(volatile int *flag);

#endif
