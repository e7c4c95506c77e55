/* fuzz_headers - response header capture (engine/s3.c on_header and
 * bg_meta_capture): ETag, Content-Length, x-amz-mp-parts-count,
 * Retry-After and the preserved object headers, fed line by line as curl
 * does.  s3.c is included so its static header callback can be reached. */
#include "../../engine/s3.c"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bg_s3_req r;
	/* curl refuses header lines with NUL bytes ("Nul byte in header"). */
	if (memchr(data, '\0', size))
		return 0;
	memset(&r, 0, sizeof(r));
	r.retry_after_s = -1;
	r.capture_meta = size && (data[0] & 1);

	/* Split the input into lines as curl hands them over (CRLF kept). */
	size_t pos = 0;
	while (pos < size) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t n = nl ? (size_t)(nl - (data + pos)) + 1 : size - pos;
		char *line = fuzz_copy(data + pos, n);
		size_t got = on_header(line, 1, n, &r);
		FUZZ_CHECK(got == n || got == 0);
		free(line);
		pos += n;
		if (!got)
			break;
	}
	FUZZ_CHECK(fuzz_terminated(r.etag, sizeof(r.etag)));
	FUZZ_CHECK(r.retry_after_s >= -1 && r.retry_after_s <= 3600);
	FUZZ_CHECK(r.mp_parts <= 10000);
	FUZZ_CHECK(r.meta.len <= sizeof(r.meta.buf));
	/* Captured pairs are NUL-separated name, value, name, value... */
	size_t nul = 0;
	for (size_t i = 0; i < r.meta.len; i++)
		nul += r.meta.buf[i] == '\0';
	FUZZ_CHECK(nul == 2 * r.meta.count);
	return 0;
}
