/* ident.c - the endpoints a journal belongs to.
 *
 * A journal says which objects are done at a destination.  The location
 * (r2://bucket/prefix) does not say which destination: the same bucket
 * name exists at a staging and a production endpoint, under two R2
 * accounts, behind two sets of keys.  So the first run records, per side,
 * the endpoint URL, the region and the access key ID (meta src_endpoint,
 * src_region, src_key_id, dst_...; never a secret), and every later run
 * and audit must name the same ones: a journaled object is skipped only at
 * the store that received it.  A journal written before barge recorded
 * them has none; its next run records its own (journal.c, JR_BEGIN). */
#include <string.h>

#include "jint.h"

#define ID_URL_MAX 600 /* bg_endpoint.url is 512 */
#define ID_SMALL_MAX 300

struct ident {
	char endpoint[ID_URL_MAX], region[ID_SMALL_MAX], key_id[ID_SMALL_MAX];
};

/* The identity recorded for side: 1 (in *out), 0 none, -1 with st set. */
static int read_ident(bg_journal *j, const char *side, struct ident *out, bg_status *st)
{
	char key[32];
	int f;

	memset(out, 0, sizeof(*out));
	bg_snprintf(key, sizeof(key), "%s_endpoint", side);
	f = bg_journal_meta(j, key, out->endpoint, sizeof(out->endpoint), st);
	if (f <= 0)
		return f;
	bg_snprintf(key, sizeof(key), "%s_region", side);
	if (bg_journal_meta(j, key, out->region, sizeof(out->region), st) < 0)
		return -1;
	bg_snprintf(key, sizeof(key), "%s_key_id", side);
	if (bg_journal_meta(j, key, out->key_id, sizeof(out->key_id), st) < 0)
		return -1;
	return 1;
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* "URL (region R, access key K)", shortened to fit a one-line message. */
static void describe(const char *endpoint, const char *region, const char *key_id, char *out,
		     size_t cap)
{
	if (strcmp(endpoint, "local") == 0)
		bg_snprintf(out, cap, "a local path");
	else
		bg_snprintf(out, cap, "%.160s (region %.40s, access key %.40s)", endpoint,
			    region[0] ? region : "none", key_id[0] ? key_id : "none");
}

bg_err bg_jident_check(bg_journal *j, const char *side, const char *loc, const bg_jident *now,
		       const char *todo, bg_status *st)
{
	struct ident was;
	char a[300], b[300];
	int f = read_ident(j, side, &was, st);

	if (f < 0)
		return st ? st->code : BG_E_IO;
	if (f == 0 || !now)
		return BG_OK;
	if (strcmp(was.endpoint, or_empty(now->endpoint)) == 0 &&
	    strcmp(was.region, or_empty(now->region)) == 0 &&
	    strcmp(was.key_id, or_empty(now->key_id)) == 0)
		return BG_OK;
	describe(was.endpoint, was.region, was.key_id, a, sizeof(a));
	describe(or_empty(now->endpoint), or_empty(now->region), or_empty(now->key_id), b,
		 sizeof(b));
	return bg_fail(st, BG_E_CONFIG, "journal %s belongs to the %s %.100s at %s, not at %s: "
		       "the objects it records as done are not known to be there; %s",
		       bg_journal_path(j), strcmp(side, "src") == 0 ? "source" : "destination",
		       loc, a, b, todo);
}
