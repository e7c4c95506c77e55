/* test_config.c - locations, endpoint URLs, credential resolution from the
 * environment and the AWS shared files, dotenv loading. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "check.h"
#include "config.h"
#include "util.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzzSECRET"

static char dir[64];
static char err[512];

static const char *const vars[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
	"AWS_ENDPOINT_URL_S3", "AWS_CA_BUNDLE", "AWS_SHARED_CREDENTIALS_FILE",
	"AWS_CONFIG_FILE", "R2_ACCOUNT_ID", "R2_ACCESS_KEY_ID",
	"R2_SECRET_ACCESS_KEY", "R2_ENDPOINT_URL",
};

static void path_of(char *out, size_t cap, const char *name)
{
	bg_snprintf(out, cap, "%s/%s", dir, name);
}

static void put(const char *name, const char *text)
{
	char p[256];
	FILE *f;

	path_of(p, sizeof(p), name);
	f = fopen(p, "w");
	if (!f) {
		perror(p);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

/* Clean environment: no AWS or R2 variables, HOME in the scratch dir, and
 * the shared files pointed at dir/credentials and dir/config. */
static void reset(void)
{
	char p[256];

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	setenv("HOME", dir, 1);
	path_of(p, sizeof(p), "credentials");
	setenv("AWS_SHARED_CREDENTIALS_FILE", p, 1);
	path_of(p, sizeof(p), "config");
	setenv("AWS_CONFIG_FILE", p, 1);
	put("credentials", "");
	put("config", "");
	err[0] = '\0';
}

static int resolve(bg_loc_kind kind, const char *profile, bg_endpoint *e)
{
	int rc = bg_endpoint_resolve(kind, profile, e, err, sizeof(err));

	CHECK(strstr(err, SECRET) == NULL);
	CHECK(strchr(err, '\n') == NULL);
	return rc;
}

static void test_location(void)
{
	static const char *const bad[] = {
		"", "gs://bucket", "s3://", "s3:///x", "r2://ab", "s3://Bucket",
		"s3://-abc", "s3://abc-", "s3://a..b", "s3://a b", "s3://a%bc",
		"s3://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	char big[1200];
	bg_location l;

	CHECK_INT(bg_location_parse("s3://bucket", &l, err, sizeof(err)), 0);
	CHECK_INT(l.kind, BG_LOC_S3);
	CHECK_STR(l.bucket, "bucket");
	CHECK_STR(l.prefix, "");
	CHECK_INT(bg_location_parse("s3://bucket/", &l, err, sizeof(err)), 0);
	CHECK_STR(l.prefix, "");
	CHECK_INT(bg_location_parse("r2://my.bucket-1_x/a/b//c d/", &l, err, sizeof(err)), 0);
	CHECK_INT(l.kind, BG_LOC_R2);
	CHECK_STR(l.bucket, "my.bucket-1_x");
	CHECK_STR(l.prefix, "a/b//c d/");
	CHECK_INT(bg_location_parse("s3://abc//x", &l, err, sizeof(err)), 0);
	CHECK_STR(l.prefix, "/x");
	CHECK_INT(bg_location_parse("S3://abc", &l, err, sizeof(err)), 0);
	CHECK_INT(l.kind, BG_LOC_S3);
	CHECK_INT(bg_location_parse("./data/dir", &l, err, sizeof(err)), 0);
	CHECK_INT(l.kind, BG_LOC_LOCAL);
	CHECK_STR(l.path, "./data/dir");
	CHECK_INT(bg_location_parse("/tmp/x:y", &l, err, sizeof(err)), 0);
	CHECK_INT(l.kind, BG_LOC_LOCAL);
	CHECK_INT(bg_location_parse("./odd://name", &l, err, sizeof(err)), 0);
	CHECK_INT(l.kind, BG_LOC_LOCAL);
	CHECK_STR(l.path, "./odd://name");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (bg_location_parse(bad[i], &l, err, sizeof(err)) != -1) {
			fprintf(stderr, "accepted bad location '%s'\n", bad[i]);
			check_failures++;
		}
		CHECK(err[0] != '\0');
	}
	bg_location_parse("gs://bucket/x", &l, err, sizeof(err));
	CHECK(strstr(err, "gs://") != NULL);
	bg_location_parse("s3://", &l, err, sizeof(err));
	CHECK(strstr(err, "missing bucket") != NULL);
	bg_location_parse("s3://Bucket", &l, err, sizeof(err));
	CHECK(strstr(err, "lowercase") != NULL);

	/* prefix at the limit and one over */
	memcpy(big, "s3://abc/", 9);
	memset(big + 9, 'k', 1023);
	big[9 + 1023] = '\0';
	CHECK_INT(bg_location_parse(big, &l, err, sizeof(err)), 0);
	CHECK_INT(strlen(l.prefix), 1023);
	memcpy(big + 9 + 1023, "k", 2);
	CHECK_INT(bg_location_parse(big, &l, err, sizeof(err)), -1);
}

static void url_ok(const char *url, const char *want_url, const char *want_host, bool tls)
{
	bg_endpoint e;

	memset(&e, 0, sizeof(e));
	err[0] = '\0';
	CHECK_INT(bg_endpoint_set_url(&e, url, err, sizeof(err)), 0);
	if (err[0])
		fprintf(stderr, "  %s: %s\n", url, err);
	CHECK_STR(e.url, want_url);
	CHECK_STR(e.host, want_host);
	CHECK_INT(e.tls, tls);
}

static void test_url(void)
{
	static const char *const bad[] = {
		"", "ftp://x", "127.0.0.1:9000", "http://", "http:///", "http://h/path",
		"http://h//", "http://h?x=1", "http://h#f", "http://h:", "http://h:0",
		"http://h:65536", "http://h:99999999999", "http://h:9x", "http://[::1",
		"http://[]", "http://h h", "http://a:b@h",
	};
	bg_endpoint e;

	url_ok("http://127.0.0.1:9000", "http://127.0.0.1:9000", "127.0.0.1:9000", false);
	url_ok("https://x.example/", "https://x.example", "x.example", true);
	url_ok("HTTPS://x.example:443", "https://x.example", "x.example", true);
	url_ok("http://minio_1:80/", "http://minio_1", "minio_1", false);
	url_ok("http://h:443", "http://h:443", "h:443", false);
	url_ok("https://h:80", "https://h:80", "h:80", true);
	url_ok("http://[::1]:8080", "http://[::1]:8080", "[::1]:8080", false);
	url_ok("https://[::1]", "https://[::1]", "[::1]", true);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (bg_endpoint_set_url(&e, bad[i], err, sizeof(err)) != -1) {
			fprintf(stderr, "accepted bad URL '%s'\n", bad[i]);
			check_failures++;
		}
		CHECK(err[0] != '\0');
	}
	bg_endpoint_set_url(&e, "ftp://x", err, sizeof(err));
	CHECK_STR(err, "endpoint URL 'ftp://x': scheme must be http or https");
	/* userinfo is never echoed */
	bg_endpoint_set_url(&e, "https://AKID:" SECRET "@host", err, sizeof(err));
	CHECK(strstr(err, SECRET) == NULL);
	CHECK(strstr(err, "password") != NULL);
}

static void test_env_keys(void)
{
	bg_endpoint e;

	reset();
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
	setenv("AWS_SESSION_TOKEN", "TOKENENV", 1);
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), 0);
	CHECK_STR(e.access_key, "AKENV");
	CHECK_STR(e.secret_key, SECRET);
	CHECK_STR(e.session_token, "TOKENENV");
	CHECK_STR(e.region, "us-east-1");
	CHECK_STR(e.url, "https://s3.us-east-1.amazonaws.com");
	CHECK_STR(e.host, "s3.us-east-1.amazonaws.com");
	CHECK(e.tls);
	CHECK(!e.custom);
	CHECK_STR(e.profile, "");
	CHECK_STR(e.ca_bundle, "");

	/* half a pair names the missing variable */
	unsetenv("AWS_SECRET_ACCESS_KEY");
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), -1);
	CHECK(strstr(err, "AWS_SECRET_ACCESS_KEY") != NULL);
	CHECK_STR(e.secret_key, "");
	CHECK_STR(e.access_key, "");
	unsetenv("AWS_ACCESS_KEY_ID");
	setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), -1);
	CHECK(strstr(err, "AWS_ACCESS_KEY_ID is not") != NULL);

	/* nothing at all */
	reset();
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), -1);
	CHECK(strncmp(err, "no credentials for s3://: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with keys in ",
		      100) == 0);
	CHECK_INT(resolve(BG_LOC_LOCAL, NULL, &e), -1);
}

static const char creds_file[] =
	"# shared credentials\n"
	"[default]\n"
	"aws_access_key_id = AKDEF\n"
	"aws_secret_access_key = " SECRET "\n"
	"\n"
	"[work]\n"
	"aws_access_key_id=AKWORK\n"
	"AWS_SECRET_ACCESS_KEY=SKWORK\n"
	"aws_session_token = TOKWORK\n"
	"[profile literal]\n"
	"aws_access_key_id = AKLIT\n"
	"aws_secret_access_key = SKLIT\n"
	"[halfkey]\n"
	"aws_secret_access_key = " SECRET "\n";

static const char config_file[] =
	"; config\n"
	"[default]\n"
	"region = eu-west-1\n"
	"[profile work]\n"
	"region = ap-south-1\n"
	"endpoint_url = http://127.0.0.1:9000\n"
	"s3 =\n"
	"    addressing_style = path\n"
	"[profile   cfgonly  ]\n"
	"aws_access_key_id = AKCFG\n"
	"aws_secret_access_key = SKCFG\n"
	"region = us-west-2\n"
	"[bare]\n"
	"aws_access_key_id = AKBARE\n"
	"aws_secret_access_key = SKBARE\n"
	"[profile sso]\n"
	"sso_session = corp\n"
	"region = us-east-2\n"
	"[profile badurl]\n"
	"aws_access_key_id = A\n"
	"aws_secret_access_key = " SECRET "\n"
	"endpoint_url = ftp://x\n"
	"[profile r2]\n"
	"aws_access_key_id = AKR2\n"
	"aws_secret_access_key = SKR2\n"
	"endpoint_url = http://localhost:9100\n";

static void test_profiles(void)
{
	bg_endpoint e;

	reset();
	put("credentials", creds_file);
	put("config", config_file);

	/* default profile */
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), 0);
	CHECK_STR(e.access_key, "AKDEF");
	CHECK_STR(e.secret_key, SECRET);
	CHECK_STR(e.session_token, "");
	CHECK_STR(e.region, "eu-west-1");
	CHECK_STR(e.url, "https://s3.eu-west-1.amazonaws.com");
	CHECK_STR(e.profile, "default");

	/* AWS_PROFILE */
	setenv("AWS_PROFILE", "work", 1);
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), 0);
	CHECK_STR(e.access_key, "AKWORK");
	CHECK_STR(e.secret_key, "SKWORK");
	CHECK_STR(e.session_token, "TOKWORK");
	CHECK_STR(e.region, "ap-south-1");
	CHECK_STR(e.url, "http://127.0.0.1:9000");
	CHECK_STR(e.host, "127.0.0.1:9000");
	CHECK(!e.tls);
	CHECK(e.custom);
	CHECK_STR(e.profile, "work");

	/* AWS_PROFILE with env keys: keys from env, the rest from the profile */
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), 0);
	CHECK_STR(e.access_key, "AKENV");
	CHECK_STR(e.secret_key, "SKENV");
	CHECK_STR(e.session_token, "");
	CHECK_STR(e.region, "ap-south-1");
	CHECK_STR(e.url, "http://127.0.0.1:9000");

	/* an explicit profile beats env keys and AWS_PROFILE */
	CHECK_INT(resolve(BG_LOC_S3, "default", &e), 0);
	CHECK_STR(e.access_key, "AKDEF");
	CHECK_STR(e.region, "eu-west-1");
	CHECK(!e.custom);
	CHECK_INT(resolve(BG_LOC_S3, "cfgonly", &e), 0);
	CHECK_STR(e.access_key, "AKCFG");
	CHECK_STR(e.secret_key, "SKCFG");
	CHECK_STR(e.region, "us-west-2");
	CHECK_STR(e.profile, "cfgonly");

	/* the credentials file takes "[profile x]" literally; the config file
	 * ignores sections without "profile " */
	CHECK_INT(resolve(BG_LOC_S3, "profile literal", &e), 0);
	CHECK_STR(e.access_key, "AKLIT");
	CHECK_INT(resolve(BG_LOC_S3, "literal", &e), -1);
	CHECK_INT(resolve(BG_LOC_S3, "bare", &e), -1);
	CHECK(strstr(err, "profile 'bare' not found in ") != NULL);

	/* profile problems */
	CHECK_INT(resolve(BG_LOC_S3, "halfkey", &e), -1);
	CHECK(strstr(err, "no aws_access_key_id") != NULL);
	CHECK_INT(resolve(BG_LOC_S3, "sso", &e), -1);
	CHECK(strstr(err, "sso_session") != NULL);
	CHECK_INT(resolve(BG_LOC_S3, "badurl", &e), -1);
	CHECK_STR(err, "endpoint_url of profile 'badurl' 'ftp://x': scheme must be http or https");
	CHECK_INT(resolve(BG_LOC_S3, "", &e), -1);
	CHECK_INT(resolve(BG_LOC_S3, "a-very-long-profile-name-of-more-than-forty", &e), -1);
	CHECK(strstr(err, "too long") != NULL);

	/* AWS_PROFILE naming a missing profile is an error even with env keys */
	setenv("AWS_PROFILE", "nope", 1);
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), -1);
	CHECK(strstr(err, "profile 'nope' (from AWS_PROFILE) not found") != NULL);

	/* AWS_PROFILE names a profile without keys, no env keys */
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	setenv("AWS_PROFILE", "halfkey", 1);
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), -1);
	CHECK(strstr(err, "halfkey") != NULL);
}

static void test_home_files(void)
{
	char p[256];
	bg_endpoint e;

	reset();
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unsetenv("AWS_CONFIG_FILE");
	CHECK_INT(resolve(BG_LOC_S3, "x", &e), -1);
	CHECK_STR(err, "profile 'x' not found in ~/.aws/config or ~/.aws/credentials");
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), -1);
	CHECK_STR(err, "no credentials for s3://: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with keys in ~/.aws/credentials");

	path_of(p, sizeof(p), ".aws");
	mkdir(p, 0700);
	put(".aws/credentials", "[x]\naws_access_key_id = AKHOME\naws_secret_access_key = SKHOME\n");
	put(".aws/config", "[profile x]\nregion = eu-central-1\nca_bundle = /dev/null\n");
	CHECK_INT(resolve(BG_LOC_S3, "x", &e), 0);
	CHECK_STR(e.access_key, "AKHOME");
	CHECK_STR(e.region, "eu-central-1");
	CHECK_STR(e.ca_bundle, "/dev/null");
	path_of(p, sizeof(p), ".aws/credentials");
	unlink(p);
	path_of(p, sizeof(p), ".aws/config");
	unlink(p);
	path_of(p, sizeof(p), ".aws");
	rmdir(p);
}

static void test_file_errors(void)
{
	char p[256], tok[3001];
	bg_endpoint e;

	reset();
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);

	/* missing files are fine */
	path_of(p, sizeof(p), "no-such-config");
	setenv("AWS_CONFIG_FILE", p, 1);
	path_of(p, sizeof(p), "no-such-dir/credentials");
	setenv("AWS_SHARED_CREDENTIALS_FILE", p, 1);
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), 0);

	/* malformed file names file and line */
	reset();
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
	put("config", "[default]\nregion = us-east-1\nthis is not ini\n");
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), -1);
	CHECK(strstr(err, "/config:3:") != NULL);
	put("config", "[default\nregion = x\n");
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), -1);
	CHECK(strstr(err, "/config:1:") != NULL);

	/* a directory is not a file */
	path_of(p, sizeof(p), "adir");
	mkdir(p, 0700);
	setenv("AWS_CONFIG_FILE", p, 1);
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), -1);
	CHECK(strstr(err, "directory") != NULL);
	rmdir(p);

	/* unreadable file (root reads anything) */
	put("config", "[default]\n");
	path_of(p, sizeof(p), "config");
	setenv("AWS_CONFIG_FILE", p, 1);
	if (geteuid() != 0) {
		chmod(p, 0);
		CHECK_INT(resolve(BG_LOC_S3, NULL, &e), -1);
		CHECK(strstr(err, "cannot read") != NULL);
		chmod(p, 0600);
	}

	/* a long session token is read whole (inih's default is 200 bytes) */
	reset();
	memset(tok, 'T', sizeof(tok) - 1);
	tok[sizeof(tok) - 1] = '\0';
	{
		char text[4000];

		bg_snprintf(text, sizeof(text),
			    "[default]\naws_access_key_id = A\naws_secret_access_key = B\n"
			    "aws_session_token = %s==\n", tok);
		put("credentials", text);
	}
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), 0);
	CHECK_INT(strlen(e.session_token), 3002);
	CHECK(e.session_token[0] == 'T' && e.session_token[3001] == '=');
	CHECK_STR(e.access_key, "A");
}

static void test_precedence(void)
{
	bg_endpoint e;

	reset();
	put("config", "[default]\nregion = eu-west-3\nendpoint_url = https://prof.example:8443/\n");
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);

	setenv("AWS_REGION", "us-west-1", 1);
	setenv("AWS_DEFAULT_REGION", "us-west-2", 1);
	setenv("AWS_ENDPOINT_URL_S3", "http://localhost:9000", 1);
	setenv("AWS_ENDPOINT_URL", "http://localhost:9001", 1);
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), 0);
	CHECK_STR(e.region, "us-west-1");
	CHECK_STR(e.url, "http://localhost:9000");
	CHECK_STR(e.host, "localhost:9000");
	CHECK(e.custom);

	unsetenv("AWS_REGION");
	unsetenv("AWS_ENDPOINT_URL_S3");
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), 0);
	CHECK_STR(e.region, "us-west-2");
	CHECK_STR(e.url, "http://localhost:9001");

	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("AWS_ENDPOINT_URL");
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), 0);
	CHECK_STR(e.region, "eu-west-3");
	CHECK_STR(e.url, "https://prof.example:8443");
	CHECK_STR(e.host, "prof.example:8443");
	CHECK(e.tls);
	CHECK(e.custom);

	put("config", "");
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), 0);
	CHECK_STR(e.region, "us-east-1");
	CHECK_STR(e.url, "https://s3.us-east-1.amazonaws.com");
	CHECK(!e.custom);

	setenv("AWS_DEFAULT_REGION", "eu-north-1", 1);
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), 0);
	CHECK_STR(e.url, "https://s3.eu-north-1.amazonaws.com");

	/* bad values say which variable */
	setenv("AWS_REGION", "us east", 1);
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), -1);
	CHECK(strstr(err, "AWS_REGION") != NULL);
	unsetenv("AWS_REGION");
	setenv("AWS_ENDPOINT_URL_S3", "ftp://x", 1);
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), -1);
	CHECK_STR(err, "AWS_ENDPOINT_URL_S3 'ftp://x': scheme must be http or https");
	unsetenv("AWS_ENDPOINT_URL_S3");

	/* settings in both files: the credentials file wins, like botocore */
	unsetenv("AWS_DEFAULT_REGION");
	put("config", "[default]\nregion = eu-west-3\nendpoint_url = http://conf:1\n");
	put("credentials", "[default]\nregion = ca-central-1\n");
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), 0);
	CHECK_STR(e.region, "ca-central-1");
	CHECK_STR(e.url, "http://conf:1");
	put("config", "");
	put("credentials", "");

	/* CA bundle */
	setenv("AWS_CA_BUNDLE", "/dev/null", 1);
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), 0);
	CHECK_STR(e.ca_bundle, "/dev/null");
	setenv("AWS_CA_BUNDLE", "/nonexistent/ca.pem", 1);
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), -1);
	CHECK(strstr(err, "AWS_CA_BUNDLE") != NULL);
}

static void test_r2(void)
{
	bg_endpoint e;

	reset();
	setenv("AWS_ACCESS_KEY_ID", "AKAWS", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKAWS", 1);
	CHECK_INT(resolve(BG_LOC_R2, NULL, &e), -1);
	CHECK(strstr(err, "no credentials for r2://: set R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY") == err);

	setenv("R2_ACCESS_KEY_ID", "AKR2", 1);
	CHECK_INT(resolve(BG_LOC_R2, NULL, &e), -1);
	CHECK(strstr(err, "R2_SECRET_ACCESS_KEY") != NULL);
	unsetenv("R2_ACCESS_KEY_ID");
	setenv("R2_SECRET_ACCESS_KEY", SECRET, 1);
	CHECK_INT(resolve(BG_LOC_R2, NULL, &e), -1);
	CHECK(strstr(err, "R2_ACCESS_KEY_ID is not") != NULL);

	setenv("R2_ACCESS_KEY_ID", "AKR2", 1);
	CHECK_INT(resolve(BG_LOC_R2, NULL, &e), -1);
	CHECK_STR(err, "r2:// needs R2_ACCOUNT_ID or R2_ENDPOINT_URL");

	setenv("R2_ACCOUNT_ID", "0123456789abcdef0123456789abcdef", 1);
	CHECK_INT(resolve(BG_LOC_R2, NULL, &e), 0);
	CHECK_STR(e.url, "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com");
	CHECK_STR(e.host, "0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com");
	CHECK_STR(e.region, "auto");
	CHECK_STR(e.access_key, "AKR2");
	CHECK_STR(e.secret_key, SECRET);
	CHECK(e.tls);
	CHECK(!e.custom);

	setenv("R2_ENDPOINT_URL", "http://127.0.0.1:9100/", 1);
	CHECK_INT(resolve(BG_LOC_R2, NULL, &e), 0);
	CHECK_STR(e.url, "http://127.0.0.1:9100");
	CHECK_STR(e.host, "127.0.0.1:9100");
	CHECK_STR(e.region, "auto");
	CHECK(e.custom);

	unsetenv("R2_ENDPOINT_URL");
	setenv("R2_ACCOUNT_ID", "bad/account", 1);
	CHECK_INT(resolve(BG_LOC_R2, NULL, &e), -1);
	CHECK(strstr(err, "R2_ACCOUNT_ID") != NULL);

	/* an explicit profile: its keys and endpoint_url */
	unsetenv("R2_ACCOUNT_ID");
	put("config", config_file);
	put("credentials", creds_file);
	CHECK_INT(resolve(BG_LOC_R2, "r2", &e), 0);
	CHECK_STR(e.access_key, "AKR2");
	CHECK_STR(e.secret_key, "SKR2");
	CHECK_STR(e.url, "http://localhost:9100");
	CHECK_STR(e.region, "auto");
	CHECK_STR(e.profile, "r2");
	CHECK_INT(resolve(BG_LOC_R2, "default", &e), -1);
	CHECK_STR(err, "r2:// needs R2_ACCOUNT_ID or R2_ENDPOINT_URL");
	CHECK_INT(resolve(BG_LOC_R2, "missing", &e), -1);
	CHECK(strstr(err, "profile 'missing' not found") == err);
	CHECK_INT(resolve(BG_LOC_R2, "halfkey", &e), -1);
}

static void test_secret_never_leaks(void)
{
	char p[256];
	bg_endpoint e;

	/* the resolve() wrapper checks every message; a few more cases */
	reset();
	setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
	setenv("AWS_SESSION_TOKEN", SECRET, 1);
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), -1);
	setenv("AWS_ACCESS_KEY_ID", "AK", 1);
	setenv("AWS_ENDPOINT_URL", "http://AK:" SECRET "@h:9000", 1);
	CHECK_INT(resolve(BG_LOC_S3, NULL, &e), -1);
	CHECK(strstr(err, "AWS_ENDPOINT_URL") != NULL);
	CHECK_STR(e.secret_key, "");
	CHECK_STR(e.session_token, "");

	put("env-bad", "R2_SECRET_ACCESS_KEY=\"" SECRET "\n");
	path_of(p, sizeof(p), "env-bad");
	CHECK_INT(bg_envfile_load(p, err, sizeof(err)), -1);
	CHECK(strstr(err, SECRET) == NULL);
	CHECK(getenv("R2_SECRET_ACCESS_KEY") == NULL);
	unlink(p);
}

static void test_envfile(void)
{
	char p[256], msg[400];

	reset();
	unsetenv("BGT_PRESET");
	setenv("BGT_PRESET", "old", 1);
	put("env",
	    "# comment\n"
	    "\n"
	    "   \t\n"
	    "export BGT_A=plain\n"
	    "BGT_B = spaced value   # trailing comment\n"
	    "BGT_C=\"dq \\\"x\\\" \\\\ \\n end # not comment\" # c\n"
	    "BGT_D='sq \\n #notcomment'\n"
	    "BGT_E=abc#def\n"
	    "BGT_F=\n"
	    "BGT_G=  # only a comment\n"
	    "BGT_PRESET=new\n"
	    "BGT_H=\"a#b\"\r\n"
	    "BGT_I=x=y\n"
	    "export\tBGT_J=''\n"
	    "BGT_K=\"\\t\"\n");
	path_of(p, sizeof(p), "env");
	CHECK_INT(bg_envfile_load(p, err, sizeof(err)), 0);
	if (err[0])
		fprintf(stderr, "  %s\n", err);
	CHECK_STR(getenv("BGT_A"), "plain");
	CHECK_STR(getenv("BGT_B"), "spaced value");
	CHECK_STR(getenv("BGT_C"), "dq \"x\" \\ \n end # not comment");
	CHECK_STR(getenv("BGT_D"), "sq \\n #notcomment");
	CHECK_STR(getenv("BGT_E"), "abc#def");
	CHECK_STR(getenv("BGT_F"), "");
	CHECK_STR(getenv("BGT_G"), "");
	CHECK_STR(getenv("BGT_PRESET"), "old");
	CHECK_STR(getenv("BGT_H"), "a#b");
	CHECK_STR(getenv("BGT_I"), "x=y");
	CHECK_STR(getenv("BGT_J"), "");
	CHECK_STR(getenv("BGT_K"), "\\t");

	/* malformed lines: file and line, and nothing applied */
	static const char *const bad[] = {
		"BGT_OK1=1\nNOEQUALS\n",
		"BGT_OK1=1\n\n1BAD=x\n",
		"BGT_OK1=1\nBAD-KEY=x\n",
		"BGT_OK1=1\nK=\"unterminated\n",
		"BGT_OK1=1\nK='unterminated\n",
		"BGT_OK1=1\nK=\"a\" junk\n",
		"BGT_OK1=1\nexport\n",
	};
	static const int line[] = { 2, 3, 2, 2, 2, 2, 2 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put("env", bad[i]);
		err[0] = '\0';
		CHECK_INT(bg_envfile_load(p, err, sizeof(err)), -1);
		bg_snprintf(msg, sizeof(msg), "%s:%d: ", p, line[i]);
		if (strncmp(err, msg, strlen(msg)) != 0) {
			fprintf(stderr, "case %zu: '%s' does not start with '%s'\n", i, err, msg);
			check_failures++;
		}
		CHECK(getenv("BGT_OK1") == NULL);
	}
	unlink(p);

	/* missing file */
	CHECK_INT(bg_envfile_load(p, err, sizeof(err)), -1);
	CHECK(strstr(err, "No such file") != NULL);
	/* a directory */
	CHECK_INT(bg_envfile_load(dir, err, sizeof(err)), -1);

	for (const char *v = "ABCDEFGHIJK"; *v; v++) {
		char name[8];

		bg_snprintf(name, sizeof(name), "BGT_%c", *v);
		unsetenv(name);
	}
	unsetenv("BGT_PRESET");
}

static void test_wipe(void)
{
	bg_endpoint e;

	memset(&e, 'x', sizeof(e));
	bg_endpoint_wipe(&e);
	for (size_t i = 0; i < sizeof(e.secret_key); i++)
		CHECK(e.secret_key[i] == 0);
	for (size_t i = 0; i < sizeof(e.session_token); i++)
		CHECK(e.session_token[i] == 0);
	CHECK(e.access_key[0] == 0 && e.access_key[255] == 0);
	CHECK(e.region[0] == 'x');
}

int main(void)
{
	char p[256];

	bg_strlcpy(dir, "/tmp/bg_test_config.XXXXXX", sizeof(dir));
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_location();
	test_url();
	test_env_keys();
	test_profiles();
	test_home_files();
	test_file_errors();
	test_precedence();
	test_r2();
	test_secret_never_leaks();
	test_envfile();
	test_wipe();

	static const char *const files[] = { "credentials", "config", "env" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		path_of(p, sizeof(p), files[i]);
		unlink(p);
	}
	if (rmdir(dir) != 0)
		perror(dir);
	CHECK_DONE();
}
