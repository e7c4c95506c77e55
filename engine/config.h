/* config.h - locations (s3://, r2://, local paths) and endpoints with their
 * credentials, resolved the way the AWS CLI and the R2 docs do. */
#ifndef BG_CONFIG_H
#define BG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum bg_loc_kind { BG_LOC_S3, BG_LOC_R2, BG_LOC_LOCAL } bg_loc_kind;

typedef struct bg_location {
	bg_loc_kind kind;
	char bucket[64];   /* S3 bucket names: 3..63 chars */
	char prefix[1024]; /* everything after "bucket/", may be "" */
	char path[4096];   /* local path (BG_LOC_LOCAL) */
} bg_location;

/* "s3://bucket", "s3://bucket/", "s3://bucket/some/prefix", "r2://...",
 * anything without "://" is a local path.  Rejects an empty or invalid
 * bucket name, unknown schemes ("gs://"), over-long prefixes.
 * Returns 0 or -1 with a one-line message in err. */
int bg_location_parse(const char *url, bg_location *out, char *err, size_t errcap);

typedef struct bg_endpoint {
	char url[512];  /* "https://host[:port]" or "http://...", no trailing slash, no path */
	char host[300]; /* "host" or "host:port" when the port is not the scheme's default: the Host header */
	bool tls;
	char region[64];
	char access_key[256];
	char secret_key[256];
	char session_token[4096]; /* "" if none */
	char ca_bundle[4096];     /* "" if none */
	bool insecure;            /* --insecure: no TLS certificate verification */
	bool custom;              /* the endpoint came from an override (env or profile) */
	char profile[128];        /* profile used, "" if none; for messages */
} bg_endpoint;

/* Resolves endpoint and credentials for one side.
 * kind BG_LOC_S3:
 *   profile: the explicit profile (--src-profile), NULL if none.
 *   With an explicit profile, its keys come from the shared files only.
 *   Otherwise keys from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 *   AWS_SESSION_TOKEN, else from profile AWS_PROFILE (or "default") in
 *   AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) then AWS_CONFIG_FILE
 *   (~/.aws/config, section "[profile NAME]" or "[default]").
 *   Region: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, "us-east-1".
 *   Endpoint: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's
 *   endpoint_url, else https://s3.REGION.amazonaws.com.
 *   CA bundle: AWS_CA_BUNDLE, the profile's ca_bundle.
 * kind BG_LOC_R2:
 *   Keys R2_ACCESS_KEY_ID / R2_SECRET_ACCESS_KEY (or, with an explicit
 *   profile, that profile's keys and endpoint_url).  Endpoint R2_ENDPOINT_URL,
 *   else https://R2_ACCOUNT_ID.r2.cloudflarestorage.com. Region "auto".
 * Returns 0 or -1 with a one-line message that says what to set (and never
 * contains a secret). */
int bg_endpoint_resolve(bg_loc_kind kind, const char *profile, bg_endpoint *out,
			char *err, size_t errcap);

/* Loads KEY=VALUE lines from a dotenv file into the environment without
 * overriding variables already set.  Supports comments (#), blank lines,
 * "export KEY=...", single and double quoted values (with \n, \" and \\
 * escapes in double quotes).  Returns 0 or -1 with a message naming the
 * file and line. */
int bg_envfile_load(const char *path, char *err, size_t errcap);

/* Parses an endpoint URL ("http://127.0.0.1:9000", "https://x.example/")
 * into out->url, out->host and out->tls. 0 or -1. */
int bg_endpoint_set_url(bg_endpoint *out, const char *url, char *err, size_t errcap);

/* Overwrites the secret fields with zeros. */
void bg_endpoint_wipe(bg_endpoint *e);

#endif
