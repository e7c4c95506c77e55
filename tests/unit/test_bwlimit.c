/* test_bwlimit.c - engine/bwlimit.c: the rate syntax and the token
 * bucket's arithmetic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bwlimit.h"
#include "check.h"

#define MiB (1ull << 20)

static void test_parse(void)
{
	uint64_t u = 1, d = 1;
	char err[200];
	CHECK_INT(bg_bwlimit_parse("200M", &u, &d, err, sizeof(err)), 0);
	CHECK_INT(u, 200 * MiB);
	CHECK_INT(d, 200 * MiB);
	CHECK_INT(bg_bwlimit_parse(" up:100M,down:2G\n", &u, &d, err, sizeof(err)), 0);
	CHECK_INT(u, 100 * MiB);
	CHECK_INT(d, 2048 * MiB);
	CHECK_INT(bg_bwlimit_parse("down:5M", &u, &d, err, sizeof(err)), 0);
	CHECK_INT(u, 0);
	CHECK_INT(d, 5 * MiB);
	CHECK_INT(bg_bwlimit_parse("off", &u, &d, err, sizeof(err)), 0);
	CHECK_INT(u, 0);
	CHECK_INT(bg_bwlimit_parse("fast", &u, &d, err, sizeof(err)), -1);
	CHECK(strstr(err, "fast") != NULL);
	CHECK_INT(bg_bwlimit_parse("up:", &u, &d, err, sizeof(err)), -1);
	CHECK_INT(bg_bwlimit_parse("up:1M,sideways:2M", &u, &d, err, sizeof(err)), -1);
}

static void test_bucket(void)
{
	bg_bucket b = { 0 };
	CHECK_INT(bg_bucket_take(&b, 12345), 12345); /* unlimited */
	bg_bucket_set(&b, 10 * MiB, 1000000000ull);
	CHECK_INT(bg_bucket_take(&b, 100), 0);       /* starts empty */
	bg_bucket_refill(&b, 1100000000ull);         /* 100 ms: 1 MiB */
	CHECK_INT(b.tokens, (int64_t)(MiB));
	bg_bucket_refill(&b, 3000000000ull);         /* capped at 100 ms */
	CHECK_INT(b.tokens, (int64_t)(MiB));
	CHECK_INT(bg_bucket_take(&b, 600000), 600000);
	CHECK_INT(bg_bucket_take(&b, 600000), MiB - 600000);
	CHECK_INT(bg_bucket_take(&b, 1), 0);
	bg_bucket_refill(&b, 3000100000ull);         /* 0.1 ms */
	CHECK(bg_bucket_take_all(&b, 16384));        /* on credit */
	CHECK(b.tokens < 0);
	CHECK(!bg_bucket_take_all(&b, 1));
}

int main(void)
{
	test_parse();
	test_bucket();
	CHECK_DONE();
}
