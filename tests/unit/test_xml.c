/* test_xml.c - engine/xml.c against response bodies shaped like the
 * examples in the Amazon S3 API reference (ListObjectsV2, ListParts,
 * InitiateMultipartUpload, CompleteMultipartUpload, Error). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "xml.h"

#define MAXOBJ 16

struct seen {
	unsigned n;
	unsigned stop_at; /* return 42 from the callback at this object (1-based) */
	char key[MAXOBJ][BG_KEY_MAX + 1];
	size_t key_len[MAXOBJ];
	uint64_t size[MAXOBJ];
	char etag[MAXOBJ][BG_ETAG_MAX + 1];
	char date[MAXOBJ][BG_DATE_MAX + 1];
};

static int on_obj(void *ctx, const bg_xml_object *o)
{
	struct seen *s = ctx;

	if (s->n < MAXOBJ) {
		memcpy(s->key[s->n], o->key, o->key_len + 1);
		s->key_len[s->n] = o->key_len;
		s->size[s->n] = o->size;
		snprintf(s->etag[s->n], sizeof(s->etag[0]), "%s", o->etag);
		snprintf(s->date[s->n], sizeof(s->date[0]), "%s", o->last_modified);
	}
	s->n++;
	if (s->stop_at && s->n == s->stop_at)
		return 42;
	return 0;
}

static int list(const char *body, struct seen *s, bg_xml_list_result *r, char *msg, size_t cap)
{
	memset(s, 0, sizeof(*s));
	return bg_xml_parse_list(body, strlen(body), on_obj, s, r, msg, cap);
}

/* First page of a truncated listing (API reference, "list with a
 * continuation token" example). */
static const char page1[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
	"  <Name>bucket</Name>\n"
	"  <Prefix></Prefix>\n"
	"  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>\n"
	"  <KeyCount>2</KeyCount>\n"
	"  <MaxKeys>2</MaxKeys>\n"
	"  <IsTruncated>true</IsTruncated>\n"
	"  <Contents>\n"
	"    <Key>ExampleObject.txt</Key>\n"
	"    <LastModified>2013-09-17T18:07:53.000Z</LastModified>\n"
	"    <ETag>&quot;599bab3ed2c697f1d26842727561fd94&quot;</ETag>\n"
	"    <Size>857</Size>\n"
	"    <StorageClass>REDUCED_REDUNDANCY</StorageClass>\n"
	"  </Contents>\n"
	"  <Contents>\n"
	"    <Key>my-image.jpg</Key>\n"
	"    <LastModified>2009-10-12T17:50:30.000Z</LastModified>\n"
	"    <ETag>\"fba9dede5f27731c9771645a39863328-12\"</ETag>\n"
	"    <Size>434234</Size>\n"
	"    <StorageClass>STANDARD</StorageClass>\n"
	"  </Contents>\n"
	"</ListBucketResult>\n";

/* Last page: ContinuationToken echoed, not truncated, no next token. */
static const char page2[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
	"  <Name>bucket</Name>\n"
	"  <Prefix></Prefix>\n"
	"  <ContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</ContinuationToken>\n"
	"  <KeyCount>1</KeyCount>\n"
	"  <MaxKeys>2</MaxKeys>\n"
	"  <IsTruncated>false</IsTruncated>\n"
	"  <Contents>\n"
	"    <Key>happyface.jpg</Key>\n"
	"    <LastModified>2014-11-21T19:40:05.000Z</LastModified>\n"
	"    <ETag>\"70ee1738b6b21e2c8a43f3a5ab0eee71\"</ETag>\n"
	"    <Size>11</Size>\n"
	"    <StorageClass>STANDARD</StorageClass>\n"
	"  </Contents>\n"
	"</ListBucketResult>\n";

static void test_pages(void)
{
	struct seen s;
	bg_xml_list_result r;
	char msg[256];

	CHECK_INT(list(page1, &s, &r, msg, sizeof(msg)), 0);
	CHECK_STR(msg, "");
	CHECK_INT(s.n, 2);
	CHECK_INT(r.key_count, 2);
	CHECK(r.is_truncated);
	CHECK_STR(r.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
	CHECK_STR(s.key[0], "ExampleObject.txt");
	CHECK_INT(s.key_len[0], 17);
	CHECK_INT(s.size[0], 857);
	CHECK_STR(s.etag[0], "599bab3ed2c697f1d26842727561fd94");
	CHECK_STR(s.date[0], "2013-09-17T18:07:53.000Z");
	CHECK_STR(s.key[1], "my-image.jpg");
	CHECK_INT(s.size[1], 434234);
	CHECK_STR(s.etag[1], "fba9dede5f27731c9771645a39863328-12");

	CHECK_INT(list(page2, &s, &r, msg, sizeof(msg)), 0);
	CHECK_INT(s.n, 1);
	CHECK(!r.is_truncated);
	CHECK_STR(r.next_token, "");
	CHECK_STR(s.key[0], "happyface.jpg");
	CHECK_INT(s.size[0], 11);

	/* NULL callback and NULL result are allowed. */
	CHECK_INT(bg_xml_parse_list(page1, strlen(page1), NULL, NULL, NULL, msg, sizeof(msg)), 0);
}

static void test_empty_and_prefixed(void)
{
	struct seen s;
	bg_xml_list_result r;
	char msg[256];
	const char *empty =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Name>bucket</Name><Prefix>nothing/</Prefix><KeyCount>0</KeyCount>"
		"<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>";
	/* Same namespace bound to a prefix; no namespace at all. */
	const char *prefixed =
		"<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<s3:IsTruncated>false</s3:IsTruncated><s3:Contents><s3:Key>a</s3:Key>"
		"<s3:Size>1</s3:Size></s3:Contents></s3:ListBucketResult>";
	const char *bare =
		"<ListBucketResult><Contents><Key>b</Key><Size>2</Size></Contents>"
		"<IsTruncated>false</IsTruncated></ListBucketResult>";

	CHECK_INT(list(empty, &s, &r, msg, sizeof(msg)), 0);
	CHECK_INT(s.n, 0);
	CHECK_INT(r.key_count, 0);
	CHECK(!r.is_truncated);

	CHECK_INT(list(prefixed, &s, &r, msg, sizeof(msg)), 0);
	CHECK_INT(s.n, 1);
	CHECK_STR(s.key[0], "a");
	CHECK_INT(list(bare, &s, &r, msg, sizeof(msg)), 0);
	CHECK_INT(s.n, 1);
	CHECK_STR(s.key[0], "b");
	CHECK_STR(s.etag[0], "");
}

static void test_special_keys(void)
{
	struct seen s;
	bg_xml_list_result r;
	char msg[256];
	const char *body =
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<IsTruncated>false</IsTruncated>"
		"<Contents><Key>a&amp;b &lt;c&gt; &quot;d&quot; &apos;e&apos;</Key><Size>1</Size></Contents>"
		"<Contents><Key>caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80.txt</Key><Size>2</Size></Contents>"
		"<Contents><Key>&#x41;&#66;<![CDATA[<raw>&]]></Key><Size>3</Size></Contents>"
		"<Contents><Key>  spaced  +plus%20</Key><Size>4</Size></Contents>"
		"</ListBucketResult>";

	CHECK_INT(list(body, &s, &r, msg, sizeof(msg)), 0);
	CHECK_STR(msg, "");
	CHECK_INT(s.n, 4);
	CHECK_STR(s.key[0], "a&b <c> \"d\" 'e'");
	CHECK_STR(s.key[1], "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80.txt");
	CHECK_STR(s.key[2], "AB<raw>&");
	/* Without EncodingType nothing is decoded and nothing is trimmed. */
	CHECK_STR(s.key[3], "  spaced  +plus%20");
}

/* encoding-type=url: EncodingType before and after the Contents. */
static void test_url_keys(void)
{
	struct seen s;
	bg_xml_list_result r;
	char msg[256];
	static const char contents[] =
		"<Contents><Key>dir/my%20file.txt</Key><Size>1</Size></Contents>"
		"<Contents><Key>C%2B%2B+notes</Key><Size>2</Size></Contents>"
		"<Contents><Key>100%25%2b</Key><Size>3</Size></Contents>"
		"<Contents><Key>test_file%283%29.png</Key><Size>4</Size></Contents>"
		"<Contents><Key>caf%C3%A9%0A</Key><Size>5</Size></Contents>";
	char before[2048], after[2048];

	snprintf(before, sizeof(before),
		 "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		 "<Name>bucket</Name><Prefix>dir%%2F</Prefix><EncodingType>url</EncodingType>"
		 "<IsTruncated>true</IsTruncated>"
		 "<NextContinuationToken>a%%2Bb=</NextContinuationToken>%s</ListBucketResult>",
		 contents);
	snprintf(after, sizeof(after),
		 "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		 "<Name>bucket</Name><Prefix>dir%%2F</Prefix><IsTruncated>true</IsTruncated>"
		 "%s<NextContinuationToken>a%%2Bb=</NextContinuationToken>"
		 "<EncodingType>url</EncodingType></ListBucketResult>",
		 contents);

	for (int i = 0; i < 2; i++) {
		CHECK_INT(list(i ? after : before, &s, &r, msg, sizeof(msg)), 0);
		CHECK_STR(msg, "");
		CHECK_INT(s.n, 5);
		CHECK_STR(s.key[0], "dir/my file.txt");
		CHECK_STR(s.key[1], "C++ notes");
		CHECK_STR(s.key[2], "100%+");
		CHECK_STR(s.key[3], "test_file(3).png");
		CHECK_STR(s.key[4], "caf\xc3\xa9\n");
		CHECK_INT(s.key_len[4], 6);
		/* The continuation token is opaque: never decoded. */
		CHECK_STR(r.next_token, "a%2Bb=");
	}

	/* Bad escapes fail only when the page is url-encoded. */
	const char *bad[] = { "%", "%2", "%zz", "a%00b" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(before, sizeof(before),
			 "<ListBucketResult><Contents><Key>%s</Key><Size>1</Size></Contents>"
			 "<EncodingType>url</EncodingType></ListBucketResult>", bad[i]);
		CHECK_INT(list(before, &s, &r, msg, sizeof(msg)), -1);
		CHECK_INT(s.n, 0);
		CHECK(strstr(msg, "bad url escape") != NULL);
		snprintf(before, sizeof(before),
			 "<ListBucketResult><Contents><Key>%s</Key><Size>1</Size></Contents>"
			 "</ListBucketResult>", bad[i]);
		CHECK_INT(list(before, &s, &r, msg, sizeof(msg)), 0);
		CHECK_INT(s.n, 1);
	}

	snprintf(before, sizeof(before),
		 "<ListBucketResult><EncodingType>base64</EncodingType></ListBucketResult>");
	CHECK_INT(list(before, &s, &r, msg, sizeof(msg)), -1);
	CHECK(strstr(msg, "EncodingType") != NULL);
}

static char *list_with_key(const char *key, bool url)
{
	size_t cap = strlen(key) + 512;
	char *b = malloc(cap);

	if (!b)
		abort();
	snprintf(b, cap,
		 "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		 "<IsTruncated>false</IsTruncated><Contents><Key>%s</Key>"
		 "<Size>7</Size></Contents>%s</ListBucketResult>",
		 key, url ? "<EncodingType>url</EncodingType>" : "");
	return b;
}

static void test_key_limits(void)
{
	struct seen s;
	bg_xml_list_result r;
	char msg[256];
	char key[6 * BG_KEY_MAX];
	char *b;

	/* Plain keys: 1024 accepted, 1025 rejected. */
	memset(key, 'k', BG_KEY_MAX);
	key[BG_KEY_MAX] = '\0';
	b = list_with_key(key, false);
	CHECK_INT(list(b, &s, &r, msg, sizeof(msg)), 0);
	CHECK_INT(s.n, 1);
	CHECK_INT(s.key_len[0], BG_KEY_MAX);
	CHECK(memcmp(s.key[0], key, BG_KEY_MAX) == 0);
	free(b);
	key[BG_KEY_MAX] = 'k';
	key[BG_KEY_MAX + 1] = '\0';
	b = list_with_key(key, false);
	CHECK_INT(list(b, &s, &r, msg, sizeof(msg)), -1);
	CHECK_INT(s.n, 0);
	CHECK(strstr(msg, "longer than 1024") != NULL);
	free(b);

	/* A 1024-byte key fully escaped is 3072 bytes on the wire. */
	for (int i = 0; i < BG_KEY_MAX; i++)
		memcpy(key + 3 * i, "%2F", 3);
	key[3 * BG_KEY_MAX] = '\0';
	b = list_with_key(key, true);
	CHECK_INT(list(b, &s, &r, msg, sizeof(msg)), 0);
	CHECK_STR(msg, "");
	CHECK_INT(s.n, 1);
	CHECK_INT(s.key_len[0], BG_KEY_MAX);
	CHECK(s.key[0][0] == '/' && s.key[0][BG_KEY_MAX - 1] == '/');
	free(b);
	/* 1025 decoded bytes, both as 3073 wire bytes and as a short one. */
	memcpy(key + 3 * BG_KEY_MAX, "x", 2);
	b = list_with_key(key, true);
	CHECK_INT(list(b, &s, &r, msg, sizeof(msg)), -1);
	CHECK_INT(s.n, 0);
	free(b);
	memset(key, 'k', BG_KEY_MAX + 1);
	key[BG_KEY_MAX + 1] = '\0';
	b = list_with_key(key, true);
	CHECK_INT(list(b, &s, &r, msg, sizeof(msg)), -1);
	CHECK(strstr(msg, "decoded key longer than 1024") != NULL);
	free(b);
	/* 1024 ampersands: 5120 bytes on the wire, 1024 after the parser. */
	for (int i = 0; i < BG_KEY_MAX; i++)
		memcpy(key + 5 * i, "&amp;", 5);
	key[5 * BG_KEY_MAX] = '\0';
	b = list_with_key(key, false);
	CHECK_INT(list(b, &s, &r, msg, sizeof(msg)), 0);
	CHECK_INT(s.key_len[0], BG_KEY_MAX);
	CHECK(s.key[0][0] == '&' && s.key[0][BG_KEY_MAX - 1] == '&');
	free(b);
	/* 1028 wire bytes that decode to 1024: fine under url encoding. */
	memset(key, 'k', BG_KEY_MAX + 2);
	memcpy(key + BG_KEY_MAX - 2, "%20%20", 7);
	b = list_with_key(key, true);
	CHECK_INT(list(b, &s, &r, msg, sizeof(msg)), 0);
	CHECK_INT(s.key_len[0], BG_KEY_MAX);
	free(b);
}

static void test_callback_abort(void)
{
	struct seen s;
	bg_xml_list_result r;
	char msg[256];

	memset(&s, 0, sizeof(s));
	s.stop_at = 1;
	CHECK_INT(bg_xml_parse_list(page1, strlen(page1), on_obj, &s, &r, msg, sizeof(msg)), 42);
	CHECK_INT(s.n, 1);
	CHECK(strstr(msg, "callback") != NULL);
	CHECK_INT(r.key_count, 1);
}

static void test_list_errors(void)
{
	struct seen s;
	bg_xml_list_result r;
	char msg[256];
	/* The Error example from the S3 API reference. */
	const char *err =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<Error>\n"
		"  <Code>NoSuchKey</Code>\n"
		"  <Message>The resource you requested does not exist</Message>\n"
		"  <Resource>/mybucket/myfoto.jpg</Resource>\n"
		"  <RequestId>4442587FB7D0A2F9</RequestId>\n"
		"</Error>";
	char trunc[sizeof(page1)];

	memset(&r, 0xff, sizeof(r));
	CHECK_INT(list(err, &s, &r, msg, sizeof(msg)), -1);
	CHECK(strstr(msg, "NoSuchKey") != NULL);
	CHECK(!r.is_truncated);
	CHECK_STR(r.next_token, "");
	CHECK_INT(r.key_count, 0);
	CHECK(strstr(msg, "The resource you requested does not exist") != NULL);

	/* Cut in the middle: nothing delivered, even the complete objects. */
	memcpy(trunc, page1, sizeof(page1));
	trunc[strstr(page1, "my-image") - page1] = '\0';
	CHECK_INT(list(trunc, &s, &r, msg, sizeof(msg)), -1);
	CHECK_INT(s.n, 0);
	CHECK(strstr(msg, "malformed XML") != NULL);

	const char *bad[] = {
		"",
		"   ",
		"not xml at all",
		"<ListBucketResult><Contents><Key>a</Key><Size>1</Size></Contents>",
		"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
		("<ListBucketResult><IsTruncated>true</IsTruncated>"
		 "<NextContinuationToken></NextContinuationToken></ListBucketResult>"),
		"<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
		"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key></Key><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a</Key><Size>12x</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>a<b/></Key><Size>1</Size></Contents></ListBucketResult>",
		"<ListAllMyBucketsResult></ListAllMyBucketsResult>",
		"<ListBucketResult xmlns:x=\"u\"><y:Contents/></ListBucketResult>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = list(bad[i], &s, &r, msg, sizeof(msg));

		if (rc != -1 || s.n != 0 || !msg[0])
			fprintf(stderr, "bad[%zu] rc=%d n=%u msg=\"%s\"\n", i, rc, s.n, msg);
		CHECK_INT(rc, -1);
		CHECK_INT(s.n, 0);
		CHECK(msg[0] != '\0');
	}

	/* A tiny errmsg buffer is fine. */
	char small[8];
	CHECK_INT(list(err, &s, &r, small, sizeof(small)), -1);
	CHECK_INT(strlen(small), 7);
}

static void test_doctype(void)
{
	struct seen s;
	bg_xml_list_result r;
	char msg[256];
	bg_xml_error e;
	const char *xxe =
		"<?xml version=\"1.0\"?>\n"
		"<!DOCTYPE ListBucketResult [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
		"<ListBucketResult><Contents><Key>&x;</Key><Size>1</Size></Contents>"
		"</ListBucketResult>";
	const char *laughs =
		"<!DOCTYPE Error [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;\">]>"
		"<Error><Code>&b;</Code></Error>";
	const char *plain = "<!DOCTYPE Error><Error><Code>X</Code></Error>";

	CHECK_INT(list(xxe, &s, &r, msg, sizeof(msg)), -1);
	CHECK_INT(s.n, 0);
	CHECK(strstr(msg, "DOCTYPE") != NULL);
	CHECK_INT(bg_xml_parse_error(laughs, strlen(laughs), &e), -1);
	CHECK_INT(bg_xml_parse_error(plain, strlen(plain), &e), -1);
	char etag[64];
	CHECK_INT(bg_xml_parse_complete(plain, strlen(plain), etag, sizeof(etag), &e), -1);
}

static void test_error(void)
{
	bg_xml_error e;
	const char *body =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<Error>\n"
		"  <Code>NoSuchKey</Code>\n"
		"  <Message>The resource you requested does not exist</Message>\n"
		"  <Resource>/mybucket/myfoto.jpg</Resource>\n"
		"  <RequestId>4442587FB7D0A2F9</RequestId>\n"
		"</Error>";
	const char *nomsg = "<Error><Code>SlowDown</Code></Error>";
	char big[2048];
	int n;

	CHECK_INT(bg_xml_parse_error(body, strlen(body), &e), 0);
	CHECK_STR(e.code, "NoSuchKey");
	CHECK_STR(e.message, "The resource you requested does not exist");
	CHECK_INT(bg_xml_parse_error(nomsg, strlen(nomsg), &e), 0);
	CHECK_STR(e.code, "SlowDown");
	CHECK_STR(e.message, "");
	char ws[512];
	snprintf(ws, sizeof(ws), "\r\n   \n%s", body);
	CHECK_INT(bg_xml_parse_error(ws, strlen(ws), &e), 0);
	CHECK_STR(e.code, "NoSuchKey");
	CHECK_INT(bg_xml_parse_error(page2, strlen(page2), &e), -1);
	CHECK_INT(bg_xml_parse_error("", 0, &e), -1);
	CHECK_INT(bg_xml_parse_error("<Error><Code>X</Code>", 21, &e), -1);

	/* A long message is shortened, on a UTF-8 boundary. */
	n = snprintf(big, sizeof(big), "<Error><Code>E</Code><Message>x");
	for (int i = 0; i < 300; i++)
		n += snprintf(big + n, sizeof(big) - (size_t)n, "\xc3\xa9");
	snprintf(big + n, sizeof(big) - (size_t)n, "</Message></Error>");
	CHECK_INT(bg_xml_parse_error(big, strlen(big), &e), 0);
	CHECK_INT(strlen(e.message), 511);
	CHECK(((unsigned char)e.message[509] & 0xC0) == 0xC0);
	CHECK(((unsigned char)e.message[510] & 0xC0) == 0x80);
}

static void test_initiate(void)
{
	char id[BG_TOKEN_MAX];
	char tiny[8];
	const char *body =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
		"  <Bucket>example-bucket</Bucket>\n"
		"  <Key>example-object</Key>\n"
		"  <UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>\n"
		"</InitiateMultipartUploadResult>";
	const char *noid = "<InitiateMultipartUploadResult><Bucket>b</Bucket>"
			   "</InitiateMultipartUploadResult>";
	const char *err = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";

	CHECK_INT(bg_xml_parse_initiate(body, strlen(body), id, sizeof(id)), 0);
	CHECK_STR(id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
	CHECK_INT(bg_xml_parse_initiate(body, strlen(body), tiny, sizeof(tiny)), -1);
	CHECK_INT(bg_xml_parse_initiate(noid, strlen(noid), id, sizeof(id)), -1);
	CHECK_INT(bg_xml_parse_initiate(err, strlen(err), id, sizeof(id)), -1);
	CHECK_INT(bg_xml_parse_initiate(page1, strlen(page1), id, sizeof(id)), -1);
}

static void test_complete(void)
{
	char etag[BG_ETAG_MAX + 1];
	bg_xml_error e;
	const char *ok =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
		"  <Location>http://Example-Bucket.s3.region.amazonaws.com/Example-Object</Location>\n"
		"  <Bucket>Example-Bucket</Bucket>\n"
		"  <Key>Example-Object</Key>\n"
		"  <ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>\n"
		"</CompleteMultipartUploadResult>";
	/* "Sample Response with Error Specified in Body": a 200 whose body is an
	 * Error, here preceded by the whitespace S3 sends to keep the
	 * connection alive while it assembles the object. */
	const char *err200 =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\n"
		"<Error>\n"
		"  <Code>InternalError</Code>\n"
		"  <Message>We encountered an internal error. Please try again.</Message>\n"
		"  <RequestId>656c76696e6727732072657175657374</RequestId>\n"
		"  <HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId>\n"
		"</Error>";
	char ws[1024];
	const char *noetag = "<CompleteMultipartUploadResult><Key>k</Key>"
			     "</CompleteMultipartUploadResult>";
	const char *keepalive_only = "  \n \n   \n";

	memset(&e, 0, sizeof(e));
	CHECK_INT(bg_xml_parse_complete(ok, strlen(ok), etag, sizeof(etag), &e), 0);
	CHECK_STR(etag, "3858f62230ac3c915f300c664312c11f-9");

	CHECK_INT(bg_xml_parse_complete(err200, strlen(err200), etag, sizeof(etag), &e), 1);
	CHECK_STR(e.code, "InternalError");
	CHECK_STR(e.message, "We encountered an internal error. Please try again.");

	snprintf(ws, sizeof(ws), " \n \r\n\t  \n%s", err200);
	memset(&e, 0, sizeof(e));
	CHECK_INT(bg_xml_parse_complete(ws, strlen(ws), etag, sizeof(etag), &e), 1);
	CHECK_STR(e.code, "InternalError");
	snprintf(ws, sizeof(ws), "      \n%s", ok);
	CHECK_INT(bg_xml_parse_complete(ws, strlen(ws), etag, sizeof(etag), &e), 0);
	CHECK_STR(etag, "3858f62230ac3c915f300c664312c11f-9");

	CHECK_INT(bg_xml_parse_complete("", 0, etag, sizeof(etag), &e), -1);
	CHECK_INT(bg_xml_parse_complete(keepalive_only, strlen(keepalive_only), etag,
					sizeof(etag), &e), -1);
	CHECK_INT(bg_xml_parse_complete("garbage<<>>", 11, etag, sizeof(etag), &e), -1);
	CHECK_INT(bg_xml_parse_complete(noetag, strlen(noetag), etag, sizeof(etag), &e), -1);
	/* A body cut while S3 was still writing it. */
	CHECK_INT(bg_xml_parse_complete(ok, 120, etag, sizeof(etag), &e), -1);
	CHECK_INT(bg_xml_parse_complete(err200, 80, etag, sizeof(etag), &e), -1);
	CHECK_INT(bg_xml_parse_complete(ok, strlen(ok), etag, 10, &e), -1);
	CHECK_INT(bg_xml_parse_complete(page1, strlen(page1), etag, sizeof(etag), &e), -1);
}

struct parts {
	unsigned n, stop_at;
	unsigned number[8];
	uint64_t size[8];
	char etag[8][BG_ETAG_MAX + 1];
};

static int on_part(void *ctx, const bg_xml_part *p)
{
	struct parts *ps = ctx;

	if (ps->n < 8) {
		ps->number[ps->n] = p->number;
		ps->size[ps->n] = p->size;
		snprintf(ps->etag[ps->n], sizeof(ps->etag[0]), "%s", p->etag);
	}
	ps->n++;
	return ps->stop_at && ps->n == ps->stop_at ? 7 : 0;
}

static void test_list_parts(void)
{
	struct parts ps;
	bool trunc;
	unsigned marker;
	const char *body =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<ListPartsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
		"  <Bucket>example-bucket</Bucket>\n"
		"  <Key>example-object</Key>\n"
		"  <UploadId>XXBsb2FkIElEIGZvciBlbHZpbmcncyVcdS1tb3ZpZS5tMnRzEEEwbG9hZA</UploadId>\n"
		"  <Initiator>\n"
		"      <ID>arn:aws:iam::111122223333:user/some-user-11116a31-17b5-4fb7-9df5-b288870f11xx</ID>\n"
		"      <DisplayName>umat-user-11116a31-17b5-4fb7-9df5-b288870f11xx</DisplayName>\n"
		"  </Initiator>\n"
		"  <Owner>\n"
		"    <ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>\n"
		"    <DisplayName>someName</DisplayName>\n"
		"  </Owner>\n"
		"  <StorageClass>STANDARD</StorageClass>\n"
		"  <PartNumberMarker>1</PartNumberMarker>\n"
		"  <NextPartNumberMarker>3</NextPartNumberMarker>\n"
		"  <MaxParts>2</MaxParts>\n"
		"  <IsTruncated>true</IsTruncated>\n"
		"  <Part>\n"
		"    <PartNumber>2</PartNumber>\n"
		"    <LastModified>2010-11-10T20:48:34.000Z</LastModified>\n"
		"    <ETag>\"7778aef83f66abc1fa1e8477f296d394\"</ETag>\n"
		"    <Size>10485760</Size>\n"
		"  </Part>\n"
		"  <Part>\n"
		"    <PartNumber>3</PartNumber>\n"
		"    <LastModified>2010-11-10T20:48:33.000Z</LastModified>\n"
		"    <ETag>&quot;aaaa18db4cc2f85cedef654fccc4a4x8&quot;</ETag>\n"
		"    <Size>10485760</Size>\n"
		"  </Part>\n"
		"</ListPartsResult>";
	const char *last =
		"<ListPartsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<PartNumberMarker>3</PartNumberMarker><IsTruncated>false</IsTruncated>"
		"<Part><PartNumber>4</PartNumber><ETag>\"e4\"</ETag><Size>5</Size></Part>"
		"</ListPartsResult>";
	const char *bad[] = {
		"<ListPartsResult><IsTruncated>true</IsTruncated></ListPartsResult>",
		"<ListPartsResult><Part><PartNumber>0</PartNumber><ETag>\"e\"</ETag><Size>5</Size>"
		"</Part></ListPartsResult>",
		"<ListPartsResult><Part><PartNumber>10001</PartNumber><ETag>\"e\"</ETag>"
		"<Size>5</Size></Part></ListPartsResult>",
		"<ListPartsResult><Part><PartNumber>1</PartNumber><Size>5</Size></Part>"
		"</ListPartsResult>",
		"<ListPartsResult><Part><PartNumber>1</PartNumber><ETag>\"e\"</ETag></Part>"
		"</ListPartsResult>",
		"<ListPartsResult><Part><PartNumber>1</PartNumber>",
		"<Error><Code>NoSuchUpload</Code></Error>",
	};

	memset(&ps, 0, sizeof(ps));
	CHECK_INT(bg_xml_parse_list_parts(body, strlen(body), on_part, &ps, &trunc, &marker), 0);
	CHECK(trunc);
	CHECK_INT(marker, 3);
	CHECK_INT(ps.n, 2);
	CHECK_INT(ps.number[0], 2);
	CHECK_INT(ps.size[0], 10485760);
	CHECK_STR(ps.etag[0], "7778aef83f66abc1fa1e8477f296d394");
	CHECK_INT(ps.number[1], 3);
	CHECK_STR(ps.etag[1], "aaaa18db4cc2f85cedef654fccc4a4x8");

	/* moto names the root ListPartsResponse (seen resuming into moto) */
	const char *moto =
		"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ListPartsResponse "
		"xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>b</Bucket><Key>k</Key>"
		"<UploadId>u</UploadId><PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>5"
		"</NextPartNumberMarker><MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated>"
		"<Part><PartNumber>5</PartNumber><LastModified>2026-11-29T18:39:42.000Z</LastModified>"
		"<ETag>\"4f08eef4096726bff1125e1b1b734644\"</ETag><Size>5242880</Size></Part>"
		"<StorageClass>STANDARD</StorageClass></ListPartsResponse>";
	memset(&ps, 0, sizeof(ps));
	CHECK_INT(bg_xml_parse_list_parts(moto, strlen(moto), on_part, &ps, &trunc, &marker), 0);
	CHECK(!trunc);
	CHECK_INT(ps.n, 1);
	CHECK_INT(ps.number[0], 5);
	const char *moto_other = "<ListPartsResponse><IsTruncated>false</IsTruncated></ListPartsResponse>";
	CHECK_INT(bg_xml_parse_list(moto_other, strlen(moto_other), NULL, NULL, NULL, NULL, 0) < 0, 1);

	memset(&ps, 0, sizeof(ps));
	CHECK_INT(bg_xml_parse_list_parts(last, strlen(last), on_part, &ps, &trunc, &marker), 0);
	CHECK(!trunc);
	CHECK_INT(marker, 0);
	CHECK_INT(ps.n, 1);
	CHECK_INT(ps.number[0], 4);
	CHECK_STR(ps.etag[0], "e4");

	memset(&ps, 0, sizeof(ps));
	ps.stop_at = 1;
	CHECK_INT(bg_xml_parse_list_parts(body, strlen(body), on_part, &ps, &trunc, &marker), 7);
	CHECK_INT(ps.n, 1);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&ps, 0, sizeof(ps));
		CHECK_INT(bg_xml_parse_list_parts(bad[i], strlen(bad[i]), on_part, &ps, &trunc,
						  &marker), -1);
		CHECK_INT(ps.n, 0);
	}
}

struct uploads {
	unsigned n;
	unsigned stop_at; /* return 9 from the callback at this upload (1-based) */
	char key[4][BG_KEY_MAX + 1];
	size_t key_len[4];
	char id[4][BG_TOKEN_MAX];
};

static int on_upload(void *ctx, const bg_xml_upload *u)
{
	struct uploads *us = ctx;

	if (us->n < 4) {
		memcpy(us->key[us->n], u->key, u->key_len + 1);
		us->key_len[us->n] = u->key_len;
		snprintf(us->id[us->n], sizeof(us->id[0]), "%s", u->upload_id);
	}
	us->n++;
	return us->stop_at && us->n == us->stop_at ? 9 : 0;
}

static int uploads(const char *body, struct uploads *us, bool *trunc, char *nk, size_t nkcap,
		   char *nu, size_t nucap)
{
	memset(us, 0, sizeof(*us));
	return bg_xml_parse_list_uploads(body, strlen(body), on_upload, us, trunc, nk, nkcap, nu,
					 nucap);
}

/* ListMultipartUploads: the API reference example (truncated, with
 * Initiator and Owner inside each Upload), a url-encoded last page, and
 * pages to refuse. */
static void test_list_uploads(void)
{
	struct uploads us;
	bool trunc;
	char nk[BG_KEY_MAX + 1], nu[BG_TOKEN_MAX];
	const char *body =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<ListMultipartUploadsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
		"  <Bucket>bucket</Bucket>\n"
		"  <KeyMarker></KeyMarker>\n"
		"  <UploadIdMarker></UploadIdMarker>\n"
		"  <NextKeyMarker>my-movie.m2ts</NextKeyMarker>\n"
		"  <NextUploadIdMarker>YW55IGlkZWEgd2h5IGVsdmluZydzIHVwbG9hZCBmYWlsZWQ</NextUploadIdMarker>\n"
		"  <MaxUploads>3</MaxUploads>\n"
		"  <IsTruncated>true</IsTruncated>\n"
		"  <Upload>\n"
		"    <Key>my-divisor</Key>\n"
		"    <UploadId>XMgbGlrZSBlbHZpbmcncyBub3QgaGF2aW5nIG11Y2ggbHVjaw</UploadId>\n"
		"    <Initiator>\n"
		"      <ID>arn:aws:iam::111122223333:user/user1-11111a31-17b5-4fb7-9df5-b111111f13de</ID>\n"
		"      <DisplayName>user1-11111a31-17b5-4fb7-9df5-b111111f13de</DisplayName>\n"
		"    </Initiator>\n"
		"    <Owner>\n"
		"      <ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>\n"
		"      <DisplayName>OwnerDisplayName</DisplayName>\n"
		"    </Owner>\n"
		"    <StorageClass>STANDARD</StorageClass>\n"
		"    <Initiated>2010-11-10T20:48:33.000Z</Initiated>\n"
		"  </Upload>\n"
		"  <Upload>\n"
		"    <Key>my-movie.m2ts</Key>\n"
		"    <UploadId>VXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>\n"
		"    <StorageClass>STANDARD</StorageClass>\n"
		"    <Initiated>2010-11-10T20:48:33.000Z</Initiated>\n"
		"  </Upload>\n"
		"</ListMultipartUploadsResult>\n";
	/* EncodingType after the uploads; the next-key marker is encoded too. */
	const char *url =
		"<ListMultipartUploadsResult>"
		"<IsTruncated>true</IsTruncated>"
		"<NextKeyMarker>a%2Bb+c%26d</NextKeyMarker>"
		"<NextUploadIdMarker> id2 </NextUploadIdMarker>"
		"<Upload><Key>a%2Bb+c%26d</Key><UploadId>id2</UploadId></Upload>"
		"<Upload><Key> sp </Key><UploadId>id3</UploadId></Upload>"
		"<EncodingType>url</EncodingType>"
		"</ListMultipartUploadsResult>";
	const char *empty =
		"<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>"
		"<NextKeyMarker></NextKeyMarker></ListMultipartUploadsResult>";
	const char *bad[] = {
		/* truncated without a NextKeyMarker */
		"<ListMultipartUploadsResult><IsTruncated>true</IsTruncated>"
		"<Upload><Key>k</Key><UploadId>u</UploadId></Upload></ListMultipartUploadsResult>",
		/* an Upload without an UploadId, without a Key */
		"<ListMultipartUploadsResult><Upload><Key>k</Key></Upload>"
		"</ListMultipartUploadsResult>",
		"<ListMultipartUploadsResult><Upload><UploadId>u</UploadId></Upload>"
		"</ListMultipartUploadsResult>",
		/* a bad escape, in a key and in the marker */
		"<ListMultipartUploadsResult><EncodingType>url</EncodingType>"
		"<Upload><Key>a%zz</Key><UploadId>u</UploadId></Upload></ListMultipartUploadsResult>",
		"<ListMultipartUploadsResult><EncodingType>url</EncodingType><IsTruncated>true"
		"</IsTruncated><NextKeyMarker>%0</NextKeyMarker></ListMultipartUploadsResult>",
		/* cut short, an Error, another document */
		"<ListMultipartUploadsResult><Upload><Key>k</Key>",
		"<Error><Code>AccessDenied</Code><Message>no</Message></Error>",
		"<ListPartsResult></ListPartsResult>",
	};
	char longkey[BG_KEY_MAX + 200];
	char body2[BG_KEY_MAX + 400];

	CHECK_INT(uploads(body, &us, &trunc, nk, sizeof(nk), nu, sizeof(nu)), 0);
	CHECK(trunc);
	CHECK_STR(nk, "my-movie.m2ts");
	CHECK_STR(nu, "YW55IGlkZWEgd2h5IGVsdmluZydzIHVwbG9hZCBmYWlsZWQ");
	CHECK_INT(us.n, 2);
	CHECK_STR(us.key[0], "my-divisor");
	CHECK_STR(us.id[0], "XMgbGlrZSBlbHZpbmcncyBub3QgaGF2aW5nIG11Y2ggbHVjaw");
	CHECK_STR(us.key[1], "my-movie.m2ts");
	CHECK_STR(us.id[1], "VXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");

	CHECK_INT(uploads(url, &us, &trunc, nk, sizeof(nk), nu, sizeof(nu)), 0);
	CHECK(trunc);
	CHECK_STR(nk, "a+b c&d");
	CHECK_STR(nu, "id2");
	CHECK_INT(us.n, 2);
	CHECK_STR(us.key[0], "a+b c&d");
	CHECK_INT(us.key_len[0], 7);
	CHECK_STR(us.key[1], " sp "); /* keys are never trimmed */

	CHECK_INT(uploads(empty, &us, &trunc, nk, sizeof(nk), nu, sizeof(nu)), 0);
	CHECK(!trunc);
	CHECK_STR(nk, "");
	CHECK_STR(nu, "");
	CHECK_INT(us.n, 0);

	/* The callback's value stops the parse. */
	memset(&us, 0, sizeof(us));
	us.stop_at = 1;
	CHECK_INT(bg_xml_parse_list_uploads(body, strlen(body), on_upload, &us, &trunc, nk,
					    sizeof(nk), nu, sizeof(nu)), 9);
	CHECK_INT(us.n, 1);

	/* A marker that does not fit the caller's buffer. */
	CHECK_INT(uploads(body, &us, &trunc, nk, 5, nu, sizeof(nu)), -1);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(nk, sizeof(nk), "junk");
		snprintf(nu, sizeof(nu), "junk");
		CHECK_INT(uploads(bad[i], &us, &trunc, nk, sizeof(nk), nu, sizeof(nu)), -1);
		CHECK_INT(us.n, 0);
		CHECK(!trunc);
		CHECK_STR(nk, "");
		CHECK_STR(nu, "");
	}

	/* A key one byte over BG_KEY_MAX. */
	memset(longkey, 'k', BG_KEY_MAX + 1);
	longkey[BG_KEY_MAX + 1] = '\0';
	snprintf(body2, sizeof(body2), "<ListMultipartUploadsResult><Upload><Key>%s</Key>"
		 "<UploadId>u</UploadId></Upload></ListMultipartUploadsResult>", longkey);
	CHECK_INT(uploads(body2, &us, &trunc, nk, sizeof(nk), nu, sizeof(nu)), -1);
	CHECK_INT(us.n, 0);
}

static void test_escape(void)
{
	char out[64];
	const char *in = "a&b<c>\"d\"'e'";

	CHECK_INT(bg_xml_escape(in, strlen(in), out, sizeof(out)), 42);
	CHECK_STR(out, "a&amp;b&lt;c&gt;&quot;d&quot;&apos;e&apos;");
	CHECK_INT(bg_xml_escape("", 0, out, 1), 0);
	CHECK_STR(out, "");
	CHECK_INT(bg_xml_escape("abc", 3, out, 0), -1);
	CHECK_INT(bg_xml_escape("abc", 3, out, 3), -1); /* no room for the NUL */
	CHECK_INT(bg_xml_escape("abc", 3, out, 4), 3);
	CHECK_STR(out, "abc");
	CHECK_INT(bg_xml_escape("&", 1, out, 5), -1);
	CHECK_INT(bg_xml_escape("&", 1, out, 6), 5);
	CHECK_STR(out, "&amp;");
	CHECK_INT(bg_xml_escape("a\r\n\tb", 5, out, sizeof(out)), 9);
	CHECK_STR(out, "a&#13;\n\tb");
	CHECK_INT(bg_xml_escape("a\x01", 2, out, sizeof(out)), -1);
	CHECK_INT(bg_xml_escape("caf\xc3\xa9", 5, out, sizeof(out)), 5);

	/* Round trip: escaped text inside an Error parses back. */
	char body[256];
	bg_xml_error e;
	const char *msg = "bad <Part> & \"quotes\" 'here'";
	int n = bg_xml_escape(msg, strlen(msg), out, sizeof(out));
	CHECK(n > 0);
	snprintf(body, sizeof(body), "<Error><Code>C</Code><Message>%s</Message></Error>", out);
	CHECK_INT(bg_xml_parse_error(body, strlen(body), &e), 0);
	CHECK_STR(e.message, msg);
}

/* ---- CommonPrefixes (ListObjectsV2 with a delimiter) ---- */

struct pfx {
	unsigned n;
	unsigned stop_at;
	char p[MAXOBJ][BG_KEY_MAX + 1];
	size_t len[MAXOBJ];
};

static int on_prefix(void *ctx, const char *prefix, size_t len)
{
	struct pfx *s = ctx;

	if (s->n < MAXOBJ) {
		memcpy(s->p[s->n], prefix, len + 1);
		s->len[s->n] = len;
	}
	s->n++;
	return s->stop_at && s->n == s->stop_at ? 7 : 0;
}

static void test_common_prefixes(void)
{
	/* EncodingType after the items, as some servers send it; a space
	 * as '+', a '+' as %2B, a newline as %0A, UTF-8 escaped. */
	static const char body[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Name>b</Name><Prefix>top%2F</Prefix><Delimiter>%2F</Delimiter>"
		"<IsTruncated>true</IsTruncated>"
		"<NextContinuationToken>tok</NextContinuationToken>"
		"<Contents><Key>top%2Ffile+a</Key><Size>3</Size><ETag>&quot;e&quot;</ETag></Contents>"
		"<CommonPrefixes><Prefix>top%2Fa+b%2F</Prefix></CommonPrefixes>"
		"<CommonPrefixes><Prefix>top%2F1%2B1%0A%2F</Prefix></CommonPrefixes>"
		"<CommonPrefixes><Prefix>top%2F%C3%A9t%C3%A9%2F</Prefix></CommonPrefixes>"
		"<EncodingType>url</EncodingType>"
		"</ListBucketResult>";
	struct pfx s;
	struct seen o;
	bg_xml_list_result r;
	unsigned count = 99;
	char msg[256];

	memset(&s, 0, sizeof(s));
	CHECK_INT(bg_xml_parse_list_prefixes(body, strlen(body), on_prefix, &s, &count, msg,
					     sizeof(msg)), 0);
	CHECK_STR(msg, "");
	CHECK_INT(count, 3);
	CHECK_INT(s.n, 3);
	CHECK_STR(s.p[0], "top/a b/");
	CHECK_STR(s.p[1], "top/1+1\n/");
	CHECK_INT(s.len[1], 9);
	CHECK_STR(s.p[2], "top/\xc3\xa9t\xc3\xa9/");
	/* The objects parser still sees only <Contents>. */
	CHECK_INT(list(body, &o, &r, msg, sizeof(msg)), 0);
	CHECK_INT(o.n, 1);
	CHECK_STR(o.key[0], "top/file a");
	CHECK(r.is_truncated);
	CHECK_STR(r.next_token, "tok");

	/* Callback stop, and NULL callback/count. */
	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	CHECK_INT(bg_xml_parse_list_prefixes(body, strlen(body), on_prefix, &s, NULL, msg,
					     sizeof(msg)), 7);
	CHECK_INT(s.n, 2);
	CHECK_INT(bg_xml_parse_list_prefixes(body, strlen(body), NULL, NULL, NULL, NULL, 0), 0);

	/* No prefixes, plain keys. */
	memset(&s, 0, sizeof(s));
	CHECK_INT(bg_xml_parse_list_prefixes(page1, strlen(page1), on_prefix, &s, &count, msg,
					     sizeof(msg)), 0);
	CHECK_INT(s.n, 0);
	CHECK_INT(count, 0);

	/* Refused pages: nothing delivered. */
	static const char *const bad[] = {
		/* truncated without a token */
		"<ListBucketResult><IsTruncated>true</IsTruncated>"
		"<CommonPrefixes><Prefix>a/</Prefix></CommonPrefixes></ListBucketResult>",
		/* a CommonPrefixes without its Prefix */
		"<ListBucketResult><CommonPrefixes></CommonPrefixes></ListBucketResult>",
		/* a bad escape under EncodingType=url */
		"<ListBucketResult><EncodingType>url</EncodingType>"
		"<CommonPrefixes><Prefix>a%zz/</Prefix></CommonPrefixes></ListBucketResult>",
		/* an error body */
		"<Error><Code>NoSuchBucket</Code><Message>gone</Message></Error>",
		/* cut short */
		"<ListBucketResult><CommonPrefixes><Prefix>a/</Prefix></CommonPrefixes>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&s, 0, sizeof(s));
		count = 99;
		msg[0] = '\0';
		CHECK_INT(bg_xml_parse_list_prefixes(bad[i], strlen(bad[i]), on_prefix, &s, &count,
						     msg, sizeof(msg)), -1);
		CHECK_INT(s.n, 0);
		CHECK_INT(count, 0);
		CHECK(strncmp(msg, "ListObjectsV2: ", 15) == 0);
	}
}

int main(void)
{
	test_pages();
	test_empty_and_prefixed();
	test_special_keys();
	test_url_keys();
	test_key_limits();
	test_callback_abort();
	test_list_errors();
	test_doctype();
	test_error();
	test_initiate();
	test_complete();
	test_list_parts();
	test_list_uploads();
	test_escape();
	test_common_prefixes();
	CHECK_DONE();
}
