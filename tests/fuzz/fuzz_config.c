/* fuzz_config - the AWS shared config and credentials files (libinih via
 * bg_endpoint_resolve).  config.c reads files only, so each input is
 * written to a temporary file that AWS_SHARED_CREDENTIALS_FILE and
 * AWS_CONFIG_FILE both name, and resolved for the default profile, a named
 * profile (AWS_PROFILE and --src-profile) and an r2:// profile.  A failure
 * must be one line that never contains the secret key the file holds. */
#include <stdbool.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "/tmp/barge-fuzz-config-%d", (int)getpid());
	return 0;
}

static bool secret_in_input;

static void check(int rc, const bg_endpoint *ep, const char *err)
{
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		FUZZ_CHECK(fuzz_terminated(ep->access_key, sizeof(ep->access_key)));
		FUZZ_CHECK(fuzz_terminated(ep->secret_key, sizeof(ep->secret_key)));
		FUZZ_CHECK(fuzz_terminated(ep->session_token, sizeof(ep->session_token)));
		FUZZ_CHECK(fuzz_terminated(ep->region, sizeof(ep->region)));
		FUZZ_CHECK(fuzz_terminated(ep->url, sizeof(ep->url)));
		FUZZ_CHECK(ep->url[0] != '\0' && ep->host[0] != '\0');
		FUZZ_CHECK(strpbrk(ep->host, "\r\n ") == NULL);
	} else {
		FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
		/* The secret appended to every input must never show (unless
		 * the fuzzer also wrote it into another value, which may be
		 * quoted: an endpoint_url, a profile name). */
		if (!secret_in_input)
			FUZZ_CHECK(strstr(err, "FUZZSECRETvalue") == NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bg_endpoint ep;
	char err[512];
	secret_in_input = memmem(data, size, "FUZZSECRET", 10) != NULL;
	FILE *f = fopen(path, "w");
	if (!f)
		abort();
	if (size)
		fwrite(data, 1, size, f);
	/* A secret the error messages must not repeat. */
	fputs("\naws_secret_access_key = FUZZSECRETvalue\n", f);
	fclose(f);

	clearenv();
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	setenv("AWS_CONFIG_FILE", path, 1);
	setenv("HOME", "/nonexistent", 1);

	memset(&ep, 0, sizeof(ep));
	check(bg_endpoint_resolve(BG_LOC_S3, NULL, &ep, err, sizeof(err)), &ep, err);
	memset(&ep, 0, sizeof(ep));
	check(bg_endpoint_resolve(BG_LOC_S3, "prod", &ep, err, sizeof(err)), &ep, err);
	setenv("AWS_PROFILE", "prod", 1);
	memset(&ep, 0, sizeof(ep));
	check(bg_endpoint_resolve(BG_LOC_S3, NULL, &ep, err, sizeof(err)), &ep, err);
	memset(&ep, 0, sizeof(ep));
	check(bg_endpoint_resolve(BG_LOC_R2, "r2", &ep, err, sizeof(err)), &ep, err);
	bg_endpoint_wipe(&ep);
	return 0;
}
