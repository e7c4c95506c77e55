/* test_run.c - engine/run.c: the first fatal error wins, retries count
 * their attempts, and a failed answer is explained in one line that names
 * what to check (the bucket, the key variables of the side, the attempts). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "run.h"

static bg_s3_req req; /* big: kept out of the stack */

static void answer(long status, const char *code)
{
	memset(&req, 0, sizeof(req));
	req.status = status;
	bg_strlcpy(req.err.code, code, sizeof(req.err.code));
	req.retry_after_s = -1;
}

static void test_fatal_first_wins(void)
{
	bg_fatal f = { 0 };
	CHECK(!f.set);
	bg_fatal_set(&f, BG_E_CONFIG, "the %s\nbroke", "first");
	bg_fatal_set(&f, BG_E_NET, "the second");
	CHECK(f.set);
	CHECK_INT(f.st.code, BG_E_CONFIG);
	CHECK_STR(f.st.msg, "the first broke"); /* one line */
}

static void test_retry(void)
{
	bg_retry t = { 0 };
	answer(503, "SlowDown");
	CHECK(!bg_retry_due(&t, 0));
	CHECK(bg_retry_later(&t, &req, 3));
	CHECK(t.waiting && t.attempt == 1);
	CHECK(bg_retry_due(&t, t.at));
	CHECK(!bg_retry_due(&t, t.at - 1));
	CHECK(bg_retry_later(&t, &req, 3));
	CHECK(!bg_retry_later(&t, &req, 3)); /* the third attempt was the last */
	CHECK(!t.waiting);
	CHECK_INT(t.attempt, 3);
	bg_retry_reset(&t);
	CHECK(t.attempt == 0 && !t.waiting);
	CHECK(!bg_retry_later(&t, &req, 1)); /* --retries 1: no retry at all */
}

static void test_why(void)
{
	answer(404, "NoSuchBucket");
	CHECK_INT(bg_s3_why_failed(&req, BG_S3_FAIL, false), BG_WHY_NO_BUCKET);
	answer(404, "NotFound"); /* a HEAD: no body */
	CHECK_INT(bg_s3_why_failed(&req, BG_S3_FAIL, true), BG_WHY_NO_BUCKET);
	CHECK_INT(bg_s3_why_failed(&req, BG_S3_FAIL, false), BG_WHY_OTHER); /* a key */
	answer(403, "InvalidAccessKeyId");
	CHECK_INT(bg_s3_why_failed(&req, BG_S3_FAIL, false), BG_WHY_KEYS);
	answer(403, "SignatureDoesNotMatch");
	CHECK_INT(bg_s3_why_failed(&req, BG_S3_FAIL, false), BG_WHY_KEYS);
	answer(400, "ExpiredToken");
	CHECK_INT(bg_s3_why_failed(&req, BG_S3_FAIL, false), BG_WHY_KEYS);
	answer(403, "AccessDenied");
	CHECK_INT(bg_s3_why_failed(&req, BG_S3_FAIL, false), BG_WHY_DENIED);
	answer(403, "Forbidden");
	CHECK_INT(bg_s3_why_failed(&req, BG_S3_FAIL, true), BG_WHY_DENIED);
	answer(503, "SlowDown");
	CHECK_INT(bg_s3_why_failed(&req, BG_S3_RETRY, true), BG_WHY_GAVE_UP);
	answer(0, ""); /* connection refused */
	CHECK_INT(bg_s3_why_failed(&req, BG_S3_RETRY, true), BG_WHY_GAVE_UP);
	answer(400, "InvalidArgument");
	CHECK_INT(bg_s3_why_failed(&req, BG_S3_FAIL, true), BG_WHY_OTHER);
}

static bg_location r2loc = { .kind = BG_LOC_R2, .bucket = "dst-b" };
static bg_location s3loc = { .kind = BG_LOC_S3, .bucket = "src-b" };
static bg_endpoint r2ep = { .url = "http://127.0.0.1:7480" };
static bg_endpoint s3ep = { .url = "https://s3.us-east-1.amazonaws.com" };

static bg_err explain(const char *what, const char *side, bool r2, bg_s3_outcome out,
		      const char *msg, unsigned attempts, char *buf, size_t cap)
{
	bg_s3_failure f = {
		.r = &req, .out = out, .msg = msg, .what = what, .side = side,
		.loc = r2 ? &r2loc : &s3loc, .ep = r2 ? &r2ep : &s3ep, .attempts = attempts,
		.bucket_level = true,
	};
	return bg_s3_explain(&f, buf, cap);
}

static void test_explain(void)
{
	char line[BG_MSG_MAX];
	answer(404, "NoSuchBucket");
	CHECK_INT(explain("listing the source", "source", false, BG_S3_FAIL, "HTTP 404 NoSuchBucket",
			  1, line, sizeof(line)), BG_E_CONFIG);
	CHECK_STR(line, "the source bucket 'src-b' does not exist at "
			"https://s3.us-east-1.amazonaws.com: check its name");
	explain(NULL, "destination", true, BG_S3_FAIL, "HTTP 404", 1, line, sizeof(line));
	CHECK_STR(line, "the destination bucket 'dst-b' does not exist at http://127.0.0.1:7480: "
			"create it first");

	answer(403, "SignatureDoesNotMatch");
	CHECK_INT(explain("listing the destination", "destination", true, BG_S3_FAIL, "HTTP 403 x",
			  1, line, sizeof(line)), BG_E_CONFIG);
	CHECK_STR(line, "the destination at http://127.0.0.1:7480 refuses barge's keys "
			"(SignatureDoesNotMatch): check the R2_ACCESS_KEY_ID/R2_SECRET_ACCESS_KEY");
	explain(NULL, "source", false, BG_S3_FAIL, "HTTP 403 x", 1, line, sizeof(line));
	CHECK(strstr(line, "check the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"));
	bg_strlcpy(s3ep.profile, "prod", sizeof(s3ep.profile));
	explain(NULL, "source", false, BG_S3_FAIL, "HTTP 403 x", 1, line, sizeof(line));
	CHECK(strstr(line, "AWS_SECRET_ACCESS_KEY (or profile 'prod')"));
	s3ep.profile[0] = '\0';

	answer(403, "AccessDenied");
	explain("listing the source", "source", false, BG_S3_FAIL, "HTTP 403 AccessDenied: no",
		1, line, sizeof(line));
	CHECK_STR(line, "the source bucket 'src-b' at https://s3.us-east-1.amazonaws.com denies "
			"access (HTTP 403 AccessDenied: no): check the AWS_ACCESS_KEY_ID/"
			"AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and what they may do");

	answer(503, "ServiceUnavailable");
	CHECK_INT(explain("listing the destination", "destination", true, BG_S3_RETRY,
			  "HTTP 503 ServiceUnavailable", 3, line, sizeof(line)), BG_E_NET);
	CHECK_STR(line, "listing the destination failed after 3 attempts: HTTP 503 "
			"ServiceUnavailable (http://127.0.0.1:7480)");
	explain("listing the source", "source", false, BG_S3_RETRY, "Couldn't connect", 1, line,
		sizeof(line));
	CHECK(strstr(line, "failed after 1 attempt: "));

	answer(400, "InvalidArgument");
	CHECK_INT(explain(NULL, "source", false, BG_S3_FAIL, "HTTP 400 InvalidArgument: bad\nline",
			  1, line, sizeof(line)), BG_E_CONFIG);
	CHECK_STR(line, "a request failed: HTTP 400 InvalidArgument: bad line "
			"(https://s3.us-east-1.amazonaws.com)");
}

int main(void)
{
	test_fatal_first_wins();
	test_retry();
	test_why();
	test_explain();
	CHECK_DONE();
}
