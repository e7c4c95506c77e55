/* fuzz_xml_error - error bodies and the small single-answer responses:
 * <Error> (bg_xml_parse_error), CompleteMultipartUpload, which can be an
 * <Error> under 200 OK (bg_xml_parse_complete), InitiateMultipartUpload
 * (bg_xml_parse_initiate); and bg_xml_escape, whose output must parse back. */
#include <stdbool.h>

#include "fuzz.h"
#include "xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = fuzz_copy(data, size);
	bg_xml_error e;
	char etag[BG_ETAG_MAX], upload[BG_TOKEN_MAX];
	int rc;

	memset(&e, 0x5a, sizeof(e));
	rc = bg_xml_parse_error(body, size, &e);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		FUZZ_CHECK(fuzz_terminated(e.code, sizeof(e.code)));
		FUZZ_CHECK(fuzz_terminated(e.message, sizeof(e.message)));
	}

	memset(&e, 0x5a, sizeof(e));
	memset(etag, 0x5a, sizeof(etag));
	rc = bg_xml_parse_complete(body, size, etag, sizeof(etag), &e);
	FUZZ_CHECK(rc == 0 || rc == 1 || rc == -1);
	if (rc == 0) {
		/* Only a matched pair of quotes is stripped: an ETag of
		 * '"abc' stays as sent and then fails the ETag check. */
		FUZZ_CHECK(fuzz_terminated(etag, sizeof(etag)));
	}
	if (rc == 1) {
		FUZZ_CHECK(fuzz_terminated(e.code, sizeof(e.code)));
		FUZZ_CHECK(fuzz_terminated(e.message, sizeof(e.message)));
	}

	memset(upload, 0x5a, sizeof(upload));
	rc = bg_xml_parse_initiate(body, size, upload, sizeof(upload));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0)
		FUZZ_CHECK(fuzz_terminated(upload, sizeof(upload)));

	/* bg_xml_escape: bounded, and no raw markup characters left. */
	char out[6 * 512 + 1];
	size_t n = size > 512 ? 512 : size;
	int len = bg_xml_escape(body, n, out, sizeof(out));
	/* Control characters other than tab, LF and CR (written &#13;) cannot be written in
	 * XML 1.0: refused (-1); everything else fits in 6 bytes per byte. */
	bool ctl = false;
	for (size_t i = 0; i < n; i++)
		ctl |= (unsigned char)body[i] < 0x20 && body[i] != '\t' && body[i] != '\n' && body[i] != '\r';
	FUZZ_CHECK(ctl ? len == -1 : (len >= 0 && (size_t)len < sizeof(out)));
	if (len >= 0)
		FUZZ_CHECK(memchr(out, '<', (size_t)len) == NULL && memchr(out, '>', (size_t)len) == NULL);
	char tiny[8];
	len = bg_xml_escape(body, n, tiny, sizeof(tiny));
	FUZZ_CHECK(len == -1 || (size_t)len < sizeof(tiny));
	free(body);
	return 0;
}
