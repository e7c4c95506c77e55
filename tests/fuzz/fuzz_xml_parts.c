/* fuzz_xml_parts - ListParts pages (bg_xml_parse_list_parts). */
#include "fuzz.h"
#include "xml.h"

static int on_part(void *ctx, const bg_xml_part *p)
{
	(void)ctx;
	FUZZ_CHECK(p->etag != NULL);
	FUZZ_CHECK(strlen(p->etag) < 4096);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = fuzz_copy(data, size);
	bool truncated = false;
	unsigned next = 0;

	int rc = bg_xml_parse_list_parts(body, size, on_part, NULL, &truncated, &next);
	FUZZ_CHECK(rc == 0 || rc == -1);
	free(body);
	return 0;
}
