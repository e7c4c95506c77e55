/* fuzz_local_key - keys from a bucket listing turned into paths beneath a
 * download directory (bg_local_key_check), UTF-8 checks of local names
 * (bg_utf8_valid), and the modification times read from object metadata
 * and listings (bg_local_mtime_for).  The invariant that matters: a key
 * accepted as a path cannot name anything outside the directory. */
#include "fuzz.h"
#include "local.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	char why[160];
	int rc = bg_local_key_check(s, why, sizeof(why));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		/* Walk it lexically, independently of the checker: every
		 * component is a plain name, so the path stays beneath. */
		FUZZ_CHECK(s[0] != '\0' && s[0] != '/');
		size_t n = strlen(s);
		const char *p = s;
		while (p <= s + n) {
			const char *e = strchr(p, '/');
			size_t l = e ? (size_t)(e - p) : strlen(p);
			FUZZ_CHECK(l > 0 && l <= 255);
			FUZZ_CHECK(!(l == 1 && p[0] == '.'));
			FUZZ_CHECK(!(l == 2 && p[0] == '.' && p[1] == '.'));
			if (!e)
				break;
			p = e + 1;
		}
		FUZZ_CHECK(strlen(bg_local_base(s)) > 0);
	} else {
		FUZZ_CHECK(why[0] && strchr(why, '\n') == NULL);
	}

	/* A valid UTF-8 string has no byte 0xC0, 0xC1 or 0xF5..0xFF. */
	if (bg_utf8_valid(s, strlen(s)))
		for (const unsigned char *q = (const unsigned char *)s; *q; q++)
			FUZZ_CHECK(*q != 0xc0 && *q != 0xc1 && *q < 0xf5);

	/* The same bytes as an x-amz-meta-mtime value and as a listing's
	 * LastModified. */
	static bg_meta m;
	bg_meta_clear(&m);
	struct timespec ts;
	if (bg_meta_capture(&m, "x-amz-meta-mtime", 16, s, strlen(s)) == 0 &&
	    bg_local_mtime_for(&m, NULL, &ts) == 0)
		FUZZ_CHECK(ts.tv_sec >= 0 && ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000);
	bg_meta_clear(&m);
	if (bg_local_mtime_for(&m, s, &ts) == 0)
		FUZZ_CHECK(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000);

	char tmp[BG_TEMP_NAME_MAX];
	bg_local_temp_name(s, tmp);
	FUZZ_CHECK(strlen(tmp) == 31 && bg_local_key_check(tmp, why, sizeof(why)) == -1);
	free(s);
	return 0;
}
