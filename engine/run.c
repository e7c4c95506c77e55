/* run.c - the run's first fatal error, retries with backoff, and the one
 * line that explains a request which failed for good (see run.h). */
#include "run.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void bg_fatal_set(bg_fatal *f, bg_err code, const char *fmt, ...)
{
	if (f->set)
		return;
	f->set = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->st.msg, sizeof(f->st.msg), fmt, ap);
	va_end(ap);
	bg_one_line(f->st.msg);
	f->st.code = code;
}

bool bg_retry_later(bg_retry *t, const bg_s3_req *r, unsigned attempts)
{
	if (++t->attempt >= attempts) {
		t->waiting = false;
		return false;
	}
	t->waiting = true;
	t->at = bg_now_ns() + bg_s3_backoff_ns(r, t->attempt);
	return true;
}

bool bg_retry_due(const bg_retry *t, uint64_t now)
{
	return t->waiting && now >= t->at;
}

void bg_retry_reset(bg_retry *t)
{
	*t = (bg_retry){ 0 };
}

/* Error codes that say the keys themselves are wrong, not what they may
 * do: no use trying another request with them. */
static const char *const key_codes[] = {
	"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
	"TokenRefreshRequired", "AccountProblem", "AllAccessDisabled",
};

bg_s3_why bg_s3_why_failed(const bg_s3_req *r, bg_s3_outcome out, bool bucket_level)
{
	const char *code = r->err.code;
	if (strcmp(code, "NoSuchBucket") == 0 || (bucket_level && r->status == 404))
		return BG_WHY_NO_BUCKET;
	for (size_t i = 0; i < sizeof(key_codes) / sizeof(key_codes[0]); i++)
		if (strcmp(code, key_codes[i]) == 0)
			return BG_WHY_KEYS;
	if (r->status == 403)
		return BG_WHY_DENIED;
	return out == BG_S3_RETRY ? BG_WHY_GAVE_UP : BG_WHY_OTHER;
}

void bg_keys_hint(const bg_location *loc, const bg_endpoint *ep, char *buf, size_t cap)
{
	bool r2 = loc->kind == BG_LOC_R2;
	const char *vars = r2 ? "R2_ACCESS_KEY_ID/R2_SECRET_ACCESS_KEY"
			      : "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY";
	if (ep && ep->profile[0])
		bg_snprintf(buf, cap, "%s (or profile '%s')", vars, ep->profile);
	else
		bg_snprintf(buf, cap, "%s%s", vars, r2 ? "" : " (or AWS_PROFILE)");
}

bg_err bg_s3_explain(const bg_s3_failure *f, char *buf, size_t cap)
{
	const char *side = f->side, *url = f->ep->url, *bucket = f->loc->bucket;
	const char *what = f->what ? f->what : "a request";
	char keys[256];
	bg_keys_hint(f->loc, f->ep, keys, sizeof(keys));
	bg_err code = BG_E_CONFIG;
	switch (bg_s3_why_failed(f->r, f->out, f->bucket_level)) {
	case BG_WHY_NO_BUCKET:
		bg_snprintf(buf, cap, "the %s bucket '%s' does not exist at %s: %s", side, bucket, url,
			    strcmp(side, "destination") == 0 ? "create it first" : "check its name");
		break;
	case BG_WHY_KEYS:
		bg_snprintf(buf, cap, "the %s at %s refuses barge's keys (%s): check the %s", side,
			    url, f->r->err.code, keys);
		break;
	case BG_WHY_DENIED:
		bg_snprintf(buf, cap, "the %s bucket '%s' at %s denies access (%s): check the %s "
			    "and what they may do", side, bucket, url, f->msg, keys);
		break;
	case BG_WHY_GAVE_UP:
		code = BG_E_NET;
		bg_snprintf(buf, cap, "%s failed after %u attempt%s: %s (%s)", what, f->attempts,
			    f->attempts == 1 ? "" : "s", f->msg, url);
		break;
	case BG_WHY_OTHER:
		bg_snprintf(buf, cap, "%s failed: %s (%s)", what, f->msg, url);
		break;
	}
	bg_one_line(buf);
	return code;
}
