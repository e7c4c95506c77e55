/* fuzz_xml_uploads - ListMultipartUploads pages (bg_xml_parse_list_uploads). */
#include "fuzz.h"
#include "xml.h"

static int on_upload(void *ctx, const bg_xml_upload *u)
{
	(void)ctx;
	FUZZ_CHECK(u->key != NULL && u->upload_id != NULL);
	FUZZ_CHECK(u->key_len <= BG_KEY_MAX);
	FUZZ_CHECK(strlen(u->upload_id) < BG_TOKEN_MAX);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = fuzz_copy(data, size);
	char next_key[BG_KEY_MAX + 1], next_upload[BG_TOKEN_MAX];
	bool truncated = false;

	memset(next_key, 0x5a, sizeof(next_key));
	memset(next_upload, 0x5a, sizeof(next_upload));
	int rc = bg_xml_parse_list_uploads(body, size, on_upload, NULL, &truncated, next_key,
					   sizeof(next_key), next_upload, sizeof(next_upload));
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK(fuzz_terminated(next_key, sizeof(next_key)));
	FUZZ_CHECK(fuzz_terminated(next_upload, sizeof(next_upload)));
	if (rc == 0 && truncated)
		FUZZ_CHECK(next_key[0] != '\0');
	if (rc != 0)
		FUZZ_CHECK(next_key[0] == '\0' && next_upload[0] == '\0');
	free(body);
	return 0;
}
