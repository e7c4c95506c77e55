/* fuzz_location - locations given on the command line (bg_location_parse)
 * and endpoint URLs from the environment or a profile
 * (bg_endpoint_set_url). */
#include "config.h"
#include "fuzz.h"

static int lower_bucket_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	static bg_location loc;
	static bg_endpoint ep;
	char err[256];

	int rc = bg_location_parse(s, &loc, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		FUZZ_CHECK(loc.kind == BG_LOC_S3 || loc.kind == BG_LOC_R2 || loc.kind == BG_LOC_LOCAL);
		if (loc.kind != BG_LOC_LOCAL) {
			size_t bl = strnlen(loc.bucket, sizeof(loc.bucket));
			FUZZ_CHECK(bl >= 3 && bl <= 63);
			for (size_t i = 0; i < bl; i++)
				FUZZ_CHECK(lower_bucket_char(loc.bucket[i]));
			FUZZ_CHECK(fuzz_terminated(loc.prefix, sizeof(loc.prefix)));
		} else {
			FUZZ_CHECK(strcmp(loc.path, s) == 0);
		}
	} else {
		FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) && err[0]);
		/* One line, even when the location holds a newline (it did
		 * not before 58d5c33: tests/fuzz/crashes/fuzz_location-crash-40a4bc96e071). */
		FUZZ_CHECK(strchr(err, '\n') == NULL);
	}

	memset(&ep, 0, sizeof(ep));
	rc = bg_endpoint_set_url(&ep, s, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		FUZZ_CHECK(fuzz_terminated(ep.url, sizeof(ep.url)));
		FUZZ_CHECK(fuzz_terminated(ep.host, sizeof(ep.host)));
		FUZZ_CHECK(strncmp(ep.url, ep.tls ? "https://" : "http://", ep.tls ? 8 : 7) == 0);
		FUZZ_CHECK(ep.host[0] != '\0');
		/* The Host header goes on the wire: no line breaks, no spaces. */
		FUZZ_CHECK(strpbrk(ep.host, "\r\n \t/") == NULL);
		FUZZ_CHECK(strpbrk(ep.url, "\r\n") == NULL);
	} else {
		FUZZ_CHECK(fuzz_terminated(err, sizeof(err)));
	}
	free(s);
	return 0;
}
