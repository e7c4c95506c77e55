/* config.c - see config.h
 *
 * Bucket names: 3..63 characters of lowercase letters, digits, '.', '-' and
 * '_', starting and ending with a letter or digit, without "..".  That is
 * the S3 rule plus '_', which legacy us-east-1 buckets and several
 * S3-compatible stores (Ceph RGW, MinIO in some setups) allow; uppercase
 * is refused because S3 and R2 both refuse it and it is usually a typo.
 *
 * Shared files follow botocore: the credentials file has "[NAME]" sections,
 * the config file "[default]" and "[profile NAME]" (other sections are
 * ignored).  A key pair is taken whole from one file, the credentials file
 * first; other settings merge with the credentials file winning.  Keys are
 * case-insensitive, values are taken verbatim (no inline comments).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* explicit_bzero, getline, setenv */
#endif
#include "config.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* inih keeps at most 49 bytes of a section name; "profile " + 40 fits, so a
 * truncated section can never be mistaken for a requested one. */
#define PROFILE_NAME_MAX 40

static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err && cap) {
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
		bg_one_line(err); /* the input quoted may hold a newline */
	}
	return -1;
}

/* An environment variable, NULL when unset or empty. */
static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

#define LOWER "abcdefghijklmnopqrstuvwxyz"
#define ALNUM LOWER "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/* A DNS label: 1..max letters, digits and '-' (regions, account IDs). */
static bool is_label(const char *s, size_t max)
{
	size_t n = strspn(s, ALNUM "-");

	return n > 0 && n <= max && s[n] == '\0';
}

static char *skip_ws(char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* ---- locations ---- */

static bool is_scheme(const char *s, size_t n)
{
	return n > 0 && isalpha((unsigned char)s[0]) && strspn(s, ALNUM "+-.") >= n;
}

/* b[0..n) is a bucket name by the rules at the top of this file. */
static bool is_bucket(const char *b, size_t n)
{
	return n >= 3 && n <= 63 && strspn(b, LOWER "0123456789.-_") >= n &&
	       isalnum((unsigned char)b[0]) && isalnum((unsigned char)b[n - 1]) &&
	       !memmem(b, n, "..", 2);
}

int bg_location_parse(const char *url, bg_location *out, char *err, size_t errcap)
{
	const char *sep, *b, *slash;
	size_t sl, bl;

	memset(out, 0, sizeof(*out));
	if (!url || !*url)
		return fail(err, errcap, "empty location: expected s3://BUCKET[/PREFIX], r2://BUCKET[/PREFIX] or a local path");
	sep = strstr(url, "://");
	if (!sep || !is_scheme(url, (size_t)(sep - url))) {
		out->kind = BG_LOC_LOCAL;
		if (bg_strlcpy(out->path, url, sizeof(out->path)) < 0)
			return fail(err, errcap, "local path is longer than %zu bytes", sizeof(out->path) - 1);
		return 0;
	}
	sl = (size_t)(sep - url);
	if (sl == 2 && strncasecmp(url, "s3", 2) == 0)
		out->kind = BG_LOC_S3;
	else if (sl == 2 && strncasecmp(url, "r2", 2) == 0)
		out->kind = BG_LOC_R2;
	else
		return fail(err, errcap, "unsupported scheme '%.*s://' in '%.200s': use s3://, r2:// or a local path", (int)(sl > 32 ? 32 : sl), url, url);
	b = sep + 3;
	slash = strchr(b, '/');
	bl = slash ? (size_t)(slash - b) : strlen(b);
	if (bl == 0)
		return fail(err, errcap, "'%.200s': missing bucket name (expected %.2s://BUCKET[/PREFIX])", url, url);
	if (!is_bucket(b, bl))
		return fail(err, errcap, "'%.200s': a bucket name is 3-63 lowercase letters, digits, '.', '-' or '_', starting and ending with a letter or digit", url);
	memcpy(out->bucket, b, bl);
	out->bucket[bl] = '\0';
	if (slash && bg_strlcpy(out->prefix, slash + 1, sizeof(out->prefix)) < 0)
		return fail(err, errcap, "'%.100s...': prefix is longer than %zu bytes (S3 keys are at most 1024)", url, sizeof(out->prefix) - 1);
	return 0;
}

/* ---- endpoint URLs ---- */

static int parse_url(bg_endpoint *out, const char *url, const char *label,
		     char *err, size_t cap)
{
	const char *sep, *p, *hs, *he, *why;
	unsigned long port, defport;
	size_t nd;
	bool tls;
	int n;

	if (!url || !*url)
		return fail(err, cap, "%s is empty: expected http(s)://HOST[:PORT]", label);
	/* Never echo a URL with userinfo: it may hold a password. */
	if (strchr(url, '@'))
		return fail(err, cap, "%s: a user name or password in the URL is not supported; give keys in the environment or a profile", label);
	sep = strstr(url, "://");
	if (!sep)
		return fail(err, cap, "%s '%.200s': expected http://HOST[:PORT] or https://HOST[:PORT]", label, url);
	tls = sep - url == 5 && strncasecmp(url, "https", 5) == 0;
	if (!tls && !(sep - url == 4 && strncasecmp(url, "http", 4) == 0))
		return fail(err, cap, "%s '%.200s': scheme must be http or https", label, url);
	p = hs = sep + 3;
	why = "invalid IPv6 address";
	if (*p == '[') {
		p += 1 + strspn(p + 1, "0123456789abcdefABCDEF:.");
		if (*p++ != ']' || p - hs < 4)
			goto bad;
	} else {
		p += strspn(p, ALNUM ".-_");
	}
	he = p;
	why = "missing host";
	if (he == hs)
		goto bad;
	port = defport = tls ? 443 : 80;
	if (*p == ':') {
		why = "invalid port (expected 1-65535)";
		for (p++, port = 0, nd = 0; isdigit((unsigned char)*p) && port <= 65535; p++, nd++)
			port = port * 10 + (unsigned long)(*p - '0');
		if (nd == 0 || port == 0 || port > 65535)
			goto bad;
	}
	if (*p == '/')
		p++;
	why = strchr("/?#", *p) ? "must not have a path, query or fragment (expected http(s)://HOST[:PORT])" :
				  "invalid character in host name or port";
	if (*p)
		goto bad;
	if (port == defport)
		n = bg_snprintf(out->host, sizeof(out->host), "%.*s", (int)(he - hs), hs);
	else
		n = bg_snprintf(out->host, sizeof(out->host), "%.*s:%lu", (int)(he - hs), hs, port);
	if (n < 0 || bg_snprintf(out->url, sizeof(out->url), "%s://%s", tls ? "https" : "http", out->host) < 0)
		return fail(err, cap, "%s: host name is too long", label);
	out->tls = tls;
	return 0;
bad:
	return fail(err, cap, "%s '%.200s': %s", label, url, why);
}

int bg_endpoint_set_url(bg_endpoint *out, const char *url, char *err, size_t errcap)
{
	return parse_url(out, url, "endpoint URL", err, errcap);
}

/* ---- AWS shared files ---- */

/* One profile as read from one file. */
struct prof {
	bool found;
	char ak[256];
	char sk[256];
	char token[4096];
	char region[64];
	char endpoint[512];
	char ca[4096];
	char unsupported[32]; /* a credential source barge cannot use */
};

#define PROF_KEY(key, field) { key, offsetof(struct prof, field), sizeof(((struct prof *)0)->field) }
static const struct {
	const char *key;
	size_t off, size;
} prof_keys[] = {
	PROF_KEY("aws_access_key_id", ak), PROF_KEY("aws_secret_access_key", sk),
	PROF_KEY("aws_session_token", token), PROF_KEY("region", region),
	PROF_KEY("endpoint_url", endpoint), PROF_KEY("ca_bundle", ca),
};
static const char *const unsupported_keys[] = {
	"credential_process", "role_arn", "sso_session", "sso_start_url",
	"web_identity_token_file",
};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum { CRED, CONF }; /* ~/.aws/credentials, ~/.aws/config */

struct shared {
	char path[2][4096];
	char disp[2][128]; /* for messages: "~/.aws/config" or $AWS_CONFIG_FILE */
	struct prof p[2];
	const char *name;  /* the profile */
	bool config;       /* parsing CONF: sections are "[profile NAME]" */
	const char *why;   /* reason when the ini handler failed */
};

static bool section_is(const char *sec, const char *want, bool config)
{
	size_t n;

	if (!config)
		return strcmp(sec, want) == 0;
	if (strcmp(sec, "default") == 0)
		return strcmp(want, "default") == 0;
	if (strncmp(sec, "profile", 7) != 0 || (sec[7] != ' ' && sec[7] != '\t'))
		return false;
	sec += 7 + strspn(sec + 7, " \t");
	n = strlen(sec);
	while (n && (sec[n - 1] == ' ' || sec[n - 1] == '\t'))
		n--;
	return n == strlen(want) && strncmp(sec, want, n) == 0;
}

static int ini_cb(void *user, const char *section, const char *name, const char *value)
{
	struct shared *sh = user;
	struct prof *p = &sh->p[sh->config];

	if (!section_is(section, sh->name, sh->config))
		return 1;
	p->found = true;
	for (size_t i = 0; i < NELEM(unsupported_keys); i++) {
		if (strcasecmp(name, unsupported_keys[i]) == 0)
			bg_strlcpy(p->unsupported, unsupported_keys[i], sizeof(p->unsupported));
	}
	for (size_t i = 0; i < NELEM(prof_keys); i++) {
		char *dst = (char *)p + prof_keys[i].off;

		if (strcasecmp(name, prof_keys[i].key) == 0 &&
		    bg_strlcpy(dst, value, prof_keys[i].size) < 0) {
			explicit_bzero(dst, prof_keys[i].size);
			sh->why = "value is too long";
			return 0;
		}
	}
	return 1;
}

/* Debian's libinih exports its build knobs as variables.  With upstream's
 * defaults a line over 200 bytes (any session token) would be split in two
 * and parsed as garbage, so lines go on a growing heap buffer. */
static int parse_ini(FILE *f, struct shared *sh)
{
	bool stack = ini_use_stack, grow = ini_allow_realloc;
	bool inl = ini_allow_inline_comments, stop = ini_stop_on_first_error;
	int max = ini_max_line, rc;

	ini_use_stack = false;
	ini_allow_realloc = true;
	ini_max_line = 1 << 20;
	ini_allow_inline_comments = false; /* botocore keeps ';' in values */
	ini_stop_on_first_error = true;
	rc = ini_parse_file(f, ini_cb, sh);
	ini_use_stack = stack;
	ini_allow_realloc = grow;
	ini_max_line = max;
	ini_allow_inline_comments = inl;
	ini_stop_on_first_error = stop;
	return rc;
}

/* A missing file is fine; an unreadable or malformed one is an error. */
static int load_file(struct shared *sh, int which, char *err, size_t cap)
{
	const char *disp = sh->disp[which];
	struct stat st;
	FILE *f;
	bool rerr;
	int rc;

	if (!sh->path[which][0])
		return 0;
	f = fopen(sh->path[which], "r");
	if (!f && (errno == ENOENT || errno == ENOTDIR))
		return 0;
	if (!f)
		return fail(err, cap, "cannot read %s: %s", disp, strerror(errno));
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		return fail(err, cap, "%s is a directory, expected an AWS %s file", disp,
			    which == CONF ? "config" : "credentials");
	}
	sh->config = which == CONF;
	sh->why = NULL;
	rc = parse_ini(f, sh);
	rerr = ferror(f);
	fclose(f);
	if (rc == -2)
		return fail(err, cap, "out of memory reading %s", disp);
	if (rc > 0)
		return fail(err, cap, "%s:%d: %s", disp, rc, sh->why ? sh->why : "expected [section] or key = value");
	if (rc < 0 || rerr)
		return fail(err, cap, "cannot read %s", disp);
	return 0;
}

/* Reads profile name from both files.  A profile asked for by name (asked
 * says by whom) must exist in one of them. */
static int shared_load(struct shared *sh, const char *name, const char *asked,
		       bg_endpoint *out, char *err, size_t cap)
{
	static const char *const var[2] = { "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE" };
	static const char *const def[2] = { "/.aws/credentials", "/.aws/config" };
	const char *home = env("HOME");

	if (strlen(name) > PROFILE_NAME_MAX)
		return fail(err, cap, "profile name '%.40s...' is too long (at most %d characters)", name, PROFILE_NAME_MAX);
	sh->name = name;
	for (int i = 0; i < 2; i++) {
		const char *v = env(var[i]);
		int n = 0;

		if (v && !(v[0] == '~' && v[1] == '/' && home))
			n = bg_snprintf(sh->path[i], sizeof(sh->path[i]), "%s", v);
		else if (v || home)
			n = bg_snprintf(sh->path[i], sizeof(sh->path[i]), "%s%s", home, v ? v + 1 : def[i]);
		if (n < 0)
			return fail(err, cap, "%s: path is too long", v ? var[i] : "HOME");
		if (v)
			bg_snprintf(sh->disp[i], sizeof(sh->disp[i]), "%.127s", v);
		else
			bg_snprintf(sh->disp[i], sizeof(sh->disp[i]), "~%s", def[i]);
		if (load_file(sh, i, err, cap))
			return -1;
	}
	if (sh->p[CRED].found || sh->p[CONF].found)
		return bg_strlcpy(out->profile, name, sizeof(out->profile));
	if (asked)
		return fail(err, cap, "profile '%s'%s not found in %s or %s", name, asked,
			    sh->disp[CONF], sh->disp[CRED]);
	return 0;
}

/* A setting of the profile: the credentials file wins, like botocore. */
static const char *shared_get(const struct shared *sh, size_t off)
{
	const char *c = (const char *)&sh->p[CRED] + off;

	return c[0] ? c : (const char *)&sh->p[CONF] + off;
}

/* Takes the profile's key pair whole from the credentials file if it has
 * either key, else from the config file.  1 found, -1 error, 0 none (an
 * error too when must is set). */
static int shared_keys(const struct shared *sh, bool must, bg_endpoint *out,
		       char *err, size_t cap)
{
	const char *u = shared_get(sh, offsetof(struct prof, unsupported));
	const struct prof *p = &sh->p[CRED];
	int which = CRED;

	if (!p->ak[0] && !p->sk[0])
		p = &sh->p[which = CONF];
	if (!p->ak[0] && !p->sk[0] && !must)
		return 0;
	if (!p->ak[0] && !p->sk[0] && u[0])
		return fail(err, cap, "profile '%s' uses %s, which barge does not support: put aws_access_key_id and aws_secret_access_key in it", sh->name, u);
	if (!p->ak[0] && !p->sk[0])
		return fail(err, cap, "profile '%s' has no aws_access_key_id and aws_secret_access_key in %s or %s",
			    sh->name, sh->disp[CRED], sh->disp[CONF]);
	if (!p->ak[0] || !p->sk[0])
		return fail(err, cap, "profile '%s' in %s has %s but no %s", sh->name, sh->disp[which],
			    p->ak[0] ? "aws_access_key_id" : "aws_secret_access_key",
			    p->ak[0] ? "aws_secret_access_key" : "aws_access_key_id");
	memcpy(out->access_key, p->ak, sizeof(out->access_key));
	memcpy(out->secret_key, p->sk, sizeof(out->secret_key));
	memcpy(out->session_token, p->token, sizeof(out->session_token));
	return 1;
}

#define SHARED(sh, field) shared_get(sh, offsetof(struct prof, field))

/* ---- resolving ---- */

/* 1 both variables set, 0 neither, -1 (naming the missing one) otherwise. */
static int env_keys(const char *akv, const char *skv, bg_endpoint *out,
		    char *err, size_t cap)
{
	const char *ak = env(akv), *sk = env(skv);

	if (!ak && !sk)
		return 0;
	if (!ak || !sk)
		return fail(err, cap, "%s is set but %s is not: set both", ak ? akv : skv, ak ? skv : akv);
	if (bg_strlcpy(out->access_key, ak, sizeof(out->access_key)) < 0 ||
	    bg_strlcpy(out->secret_key, sk, sizeof(out->secret_key)) < 0)
		return fail(err, cap, "%s or %s is too long", akv, skv);
	return 1;
}

/* Names where a value came from: "VAR", or "KEY of profile 'NAME'". */
static const char *origin(char *buf, size_t n, const char *var, const char *key,
			  const char *profile)
{
	if (var)
		return var;
	bg_snprintf(buf, n, "%s of profile '%s'", key, profile);
	return buf;
}

static int set_ca(bg_endpoint *out, const char *path, const char *what,
		  char *err, size_t cap)
{
	if (!path[0])
		return 0;
	if (bg_strlcpy(out->ca_bundle, path, sizeof(out->ca_bundle)) < 0)
		errno = ENAMETOOLONG;
	else if (access(path, R_OK) == 0)
		return 0;
	return fail(err, cap, "%s '%.200s': %s", what, path, strerror(errno));
}

static int resolve_s3(const char *profile, bg_endpoint *out, struct shared *sh,
		      char *err, size_t cap)
{
	const char *name = profile ? profile : env("AWS_PROFILE");
	const char *pname = name ? name : "default";
	const char *v, *what = NULL;
	char url[128], lb[128];
	int k;

	if (shared_load(sh, pname, name ? (profile ? "" : " (from AWS_PROFILE)") : NULL, out, err, cap) < 0)
		return -1;
	k = profile ? 0 : env_keys("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", out, err, cap);
	if (k > 0 && (v = env("AWS_SESSION_TOKEN")) &&
	    bg_strlcpy(out->session_token, v, sizeof(out->session_token)) < 0)
		return fail(err, cap, "AWS_SESSION_TOKEN is too long");
	if (k == 0)
		k = shared_keys(sh, name != NULL, out, err, cap);
	if (k < 0)
		return -1;
	if (k == 0)
		return fail(err, cap, "no credentials for s3://: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with keys in %s", sh->disp[CRED]);

	if ((v = env("AWS_REGION")))
		what = "AWS_REGION";
	else if ((v = env("AWS_DEFAULT_REGION")))
		what = "AWS_DEFAULT_REGION";
	else if (!(v = SHARED(sh, region))[0])
		v = "us-east-1";
	if (!is_label(v, sizeof(out->region) - 1))
		return fail(err, cap, "%s '%.80s' is not a region name (like us-east-1)",
			    origin(lb, sizeof(lb), what, "region", pname), v);
	bg_strlcpy(out->region, v, sizeof(out->region));

	what = NULL;
	if ((v = env("AWS_ENDPOINT_URL_S3")))
		what = "AWS_ENDPOINT_URL_S3";
	else if ((v = env("AWS_ENDPOINT_URL")))
		what = "AWS_ENDPOINT_URL";
	else if (!(v = SHARED(sh, endpoint))[0])
		v = NULL;
	out->custom = v != NULL;
	if (v && parse_url(out, v, origin(lb, sizeof(lb), what, "endpoint_url", pname), err, cap))
		return -1;
	bg_snprintf(url, sizeof(url), "https://s3.%s.amazonaws.com", out->region);
	if (!v && parse_url(out, url, "AWS endpoint", err, cap))
		return -1;

	if ((v = env("AWS_CA_BUNDLE")))
		return set_ca(out, v, "AWS_CA_BUNDLE", err, cap);
	return set_ca(out, SHARED(sh, ca), origin(lb, sizeof(lb), NULL, "ca_bundle", pname), err, cap);
}

static int resolve_r2(const char *profile, bg_endpoint *out, struct shared *sh,
		      char *err, size_t cap)
{
	const char *v, *pend = "";
	char url[128], lb[128];
	int k;

	if (profile) {
		if (shared_load(sh, profile, "", out, err, cap) < 0 ||
		    shared_keys(sh, true, out, err, cap) < 0)
			return -1;
		pend = SHARED(sh, endpoint);
	} else {
		k = env_keys("R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", out, err, cap);
		if (k < 0)
			return -1;
		if (k == 0)
			return fail(err, cap, "no credentials for r2://: set R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY, or use a profile with keys");
	}
	memcpy(out->region, "auto", 5);

	if ((v = env("R2_ENDPOINT_URL")) || pend[0]) {
		if (parse_url(out, v ? v : pend, origin(lb, sizeof(lb), v ? "R2_ENDPOINT_URL" : NULL, "endpoint_url", profile),
			      err, cap))
			return -1;
		out->custom = true;
	} else if ((v = env("R2_ACCOUNT_ID"))) {
		if (!is_label(v, 63))
			return fail(err, cap, "R2_ACCOUNT_ID '%.80s': expected the account ID from the Cloudflare dashboard (32 hex digits)", v);
		bg_snprintf(url, sizeof(url), "https://%s.r2.cloudflarestorage.com", v);
		if (parse_url(out, url, "R2_ACCOUNT_ID", err, cap))
			return -1;
	} else {
		return fail(err, cap, "r2:// needs R2_ACCOUNT_ID or R2_ENDPOINT_URL");
	}
	return profile ? set_ca(out, SHARED(sh, ca), origin(lb, sizeof(lb), NULL, "ca_bundle", profile), err, cap) : 0;
}

int bg_endpoint_resolve(bg_loc_kind kind, const char *profile, bg_endpoint *out,
			char *err, size_t errcap)
{
	struct shared *sh;
	int rc;

	memset(out, 0, sizeof(*out));
	if (profile && !*profile)
		return fail(err, errcap, "empty profile name");
	if (kind == BG_LOC_LOCAL)
		return fail(err, errcap, "local paths have no endpoint");
	sh = calloc(1, sizeof(*sh));
	if (!sh)
		return fail(err, errcap, "out of memory");
	if (kind == BG_LOC_S3)
		rc = resolve_s3(profile, out, sh, err, errcap);
	else
		rc = resolve_r2(profile, out, sh, err, errcap);
	explicit_bzero(sh, sizeof(*sh));
	free(sh);
	if (rc)
		bg_endpoint_wipe(out);
	return rc;
}

void bg_endpoint_wipe(bg_endpoint *e)
{
	explicit_bzero(e->access_key, sizeof(e->access_key));
	explicit_bzero(e->secret_key, sizeof(e->secret_key));
	explicit_bzero(e->session_token, sizeof(e->session_token));
}

/* ---- dotenv ---- */

/* Parses one line in place: *key is NULL for blank and comment lines, else
 * *key and *val point into line (decoding only ever shrinks the value).
 * -1 with *why on a malformed line; the message never quotes the line. */
static int env_line(char *line, char **key, char **val, const char **why)
{
	size_t n = strlen(line);
	char *p, *k, *kend, *v, *o;

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	*key = NULL;
	p = skip_ws(line);
	if (!*p || *p == '#')
		return 0;
	if (strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t'))
		p = skip_ws(p + 6);
	k = p;
	while (isalnum((unsigned char)*p) || *p == '_')
		p++;
	kend = p;
	p = skip_ws(p);
	*why = "expected KEY=VALUE";
	if (*p != '=' || kend == k || isdigit((unsigned char)*k)) {
		if (*p)
			*why = "invalid variable name (expected KEY=VALUE)";
		return -1;
	}
	*kend = '\0';
	v = p + 1;
	p = o = skip_ws(v);
	*val = o;
	if (*p == '"' || *p == '\'') {
		char q = *p++;

		for (; *p != q; p++) {
			if (!*p) {
				*why = q == '"' ? "unterminated double quote" : "unterminated single quote";
				return -1;
			}
			if (q == '"' && *p == '\\' && p[1]) {
				if (*++p == 'n')
					*o++ = '\n';
				else if (*p == '"' || *p == '\\')
					*o++ = *p;
				else
					*o++ = '\\', *o++ = *p;
			} else {
				*o++ = *p;
			}
		}
		p = skip_ws(p + 1);
		if (*p && *p != '#') {
			*why = "unexpected text after the closing quote";
			return -1;
		}
	} else {
		/* A comment starts at a '#' that follows whitespace. */
		for (o = p; *o && !(*o == '#' && o > v && (o[-1] == ' ' || o[-1] == '\t')); o++)
			;
		while (o > p && (o[-1] == ' ' || o[-1] == '\t'))
			o--;
	}
	*o = '\0';
	*key = k;
	return 0;
}

int bg_envfile_load(const char *path, char *err, size_t errcap)
{
	char *line = NULL, *key, *val;
	const char *why;
	size_t lcap = 0;
	int rc = 0;
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return fail(err, errcap, "cannot open env file '%s': %s", path, strerror(errno));
	/* Pass 0 checks every line, pass 1 applies: a bad file changes nothing. */
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		unsigned lineno = 0;

		rewind(f);
		while (rc == 0 && getline(&line, &lcap, f) >= 0) {
			lineno++;
			if (env_line(line, &key, &val, &why))
				rc = fail(err, errcap, "%s:%u: %s", path, lineno, why);
			else if (pass == 1 && key && !getenv(key) && setenv(key, val, 0))
				rc = fail(err, errcap, "%s:%u: cannot set %s: %s", path, lineno, key, strerror(errno));
		}
		if (rc == 0 && ferror(f))
			rc = fail(err, errcap, "cannot read env file '%s': %s", path, strerror(errno));
	}
	if (line)
		explicit_bzero(line, lcap);
	free(line);
	fclose(f);
	return rc;
}
