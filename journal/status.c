/* status.c - `barge status`: a journal's summary as text or JSON. */
#include "journal.h"

#include "jint.h"

int bg_journal_print_status(const char *path, bool json, FILE *out, bg_status *st)
{
	(void)json;
	(void)out;
	bg_fail(st, BG_E_INTERNAL, "barge status %s: not implemented yet", path);
	return -1;
}
