/* bwlimit.h - the bandwidth limit (--bwlimit, --bwlimit-file): the rate
 * syntax, and a token bucket per direction.
 *
 * A bucket belongs to one copy's loop thread, which refills it from the
 * monotonic clock each turn (engine/copy_bw.c) and takes tokens as curl
 * moves bytes (engine/copy_xfer.c); nothing else touches it. */
#ifndef BG_BWLIMIT_H
#define BG_BWLIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"


/* "200M" (each direction), "up:100M,down:200M", "0"/"off" (none).
 * 0 or -1 with a message in err. */
int bg_bwlimit_parse(const char *s, uint64_t *up, uint64_t *down, char *err, size_t cap);

/* A token bucket refilled from the monotonic clock; burst = rate / 10
 * (100 ms of traffic, at least 64 KiB), so the rate is smooth. */
typedef struct bg_bucket {
	uint64_t rate;  /* bytes/s, 0 = unlimited */
	int64_t tokens; /* may go negative: a chunk taken on credit */
	uint64_t last_ns;
} bg_bucket;

void bg_bucket_set(bg_bucket *b, uint64_t rate, uint64_t now);
void bg_bucket_refill(bg_bucket *b, uint64_t now);
/* Bytes that may go now (at most want; 0 = pause).  Takes them. */
uint64_t bg_bucket_take(bg_bucket *b, uint64_t want);
/* All or nothing for data curl cannot split (a write callback's chunk):
 * true and taken (on credit if need be) when any token is there. */
bool bg_bucket_take_all(bg_bucket *b, uint64_t n);

#endif
