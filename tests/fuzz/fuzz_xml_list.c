/* fuzz_xml_list - ListObjectsV2 pages (bg_xml_parse_list). */
#include "fuzz.h"
#include "xml.h"

struct seen {
	unsigned n;
};

static int on_object(void *ctx, const bg_xml_object *o)
{
	struct seen *s = ctx;
	FUZZ_CHECK(o->key != NULL);
	FUZZ_CHECK(o->key_len <= BG_KEY_MAX);
	FUZZ_CHECK(strlen(o->key) >= o->key_len || memchr(o->key, '\0', o->key_len));
	if (o->etag)
		FUZZ_CHECK(strlen(o->etag) < 4096);
	if (o->last_modified)
		FUZZ_CHECK(strlen(o->last_modified) < 4096);
	s->n++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = fuzz_copy(data, size);
	bg_xml_list_result out;
	char err[256];
	struct seen s = {0};

	memset(&out, 0x5a, sizeof(out));
	err[0] = '\0';
	int rc = bg_xml_parse_list(body, size, on_object, &s, &out, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK(fuzz_terminated(err, sizeof(err)));
	if (rc == 0) {
		FUZZ_CHECK(fuzz_terminated(out.next_token, sizeof(out.next_token)));
		FUZZ_CHECK(out.key_count == s.n);
		FUZZ_CHECK(!out.is_truncated || out.next_token[0] != '\0');
	} else {
		FUZZ_CHECK(err[0] != '\0');
	}
	free(body);
	return 0;
}
