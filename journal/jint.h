/* jint.h - what journal.c shares with the other journal/ files (status.c).
 * Not part of the journal's contract: only journal/ includes it. */
#ifndef BG_JINT_H
#define BG_JINT_H

#include <sqlite3.h>
#include <stdbool.h>

#include "journal.h"

#define BG_J_APP_ID 0x62617267 /* "barg" */
#define BG_J_VERSION 4         /* schema version this build writes */

/* The read-only connection of an open journal (loop thread only). */
sqlite3 *bg_journal_rdb(bg_journal *j);
/* The journal's path as given to bg_journal_open. */
const char *bg_journal_path(bg_journal *j);
/* meta's value of key on the read connection (NULL as ""): 1 found, 0
 * not there, -1 with st set. */
int bg_journal_meta(bg_journal *j, const char *key, char *dst, size_t cap, bg_status *st);
/* Checks the identity the journal records for side ("src" or "dst", of
 * location loc) against now: BG_OK when they are the same or the journal
 * records none, else BG_E_CONFIG with a message naming both and ending in
 * todo (what to do instead). */
bg_err bg_jident_check(bg_journal *j, const char *side, const char *loc, const bg_jident *now,
		       const char *todo, bg_status *st);
/* True when the read connection had to fall back to an immutable
 * snapshot (read-only directory without a -shm file, see
 * docs/journal.md): rows a live writer adds later are not seen. */
bool bg_journal_is_snapshot(bg_journal *j);

#endif
