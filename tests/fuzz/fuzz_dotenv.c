/* fuzz_dotenv - --env-file (bg_envfile_load) on arbitrary files: a result of
 * 0 or -1 with a one-line message naming the file; variables it sets are
 * visible afterwards.  The environment is cleared after every input. */
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "/tmp/barge-fuzz-dotenv-%d", (int)getpid());
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	FILE *f = fopen(path, "w");
	if (!f)
		abort();
	if (size)
		fwrite(data, 1, size, f);
	fclose(f);

	clearenv();
	setenv("BARGE_FUZZ_PRESET", "kept", 1);
	err[0] = '\0';
	int rc = bg_envfile_load(path, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == -1) {
		FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) && err[0] != '\0');
		FUZZ_CHECK(strchr(err, '\n') == NULL);
		FUZZ_CHECK(strstr(err, path) != NULL);
	}
	/* Variables already set are never overridden. */
	const char *kept = getenv("BARGE_FUZZ_PRESET");
	FUZZ_CHECK(kept && strcmp(kept, "kept") == 0);
	clearenv();
	return 0;
}
