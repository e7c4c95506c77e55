/* test_plan.c - engine/plan.c against R2's multipart rules: parts of
 * 5 MiB..5 GiB, at most 10,000 of them, all but the last equal, the last
 * no larger; objects up to 5 TiB; the source's layout reused when it fits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "plan.h"

#define TIB (1024 * BG_GIB)

/* The defaults of `barge copy`: 16 MiB parts and threshold, 512 MiB of
 * memory (of which a part may take half). */
static bg_plan_input defaults(uint64_t size)
{
	bg_plan_input in = {
		.size = size,
		.threshold = 16 * BG_MIB,
		.part_size = 16 * BG_MIB,
		.max_part = 256 * BG_MIB,
	};
	return in;
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

/* NULL when plan p for an object of `size` bytes is one R2 accepts and
 * its part ranges tile [0, size) exactly; otherwise what is wrong. */
static const char *violation(const bg_plan *p, uint64_t size)
{
	if (p->nparts < 1 || p->nparts > BG_PARTS_MAX)
		return "part count outside 1..10000";
	if (!p->multipart) {
		if (p->nparts != 1)
			return "single PUT with more than one part";
		if (p->same_layout)
			return "single PUT claims the source's layout";
		if (size > BG_PUT_MAX)
			return "single PUT over 5 GiB";
		return NULL;
	}
	if (p->part_size == 0)
		return "zero part size";
	if (p->part_size > BG_PART_MAX)
		return "part over 5 GiB";
	if (p->nparts > 1 && p->part_size < BG_PART_MIN)
		return "non-last part under 5 MiB";
	if (ceil_div(size ? size : 1, p->part_size) != p->nparts)
		return "part count does not match size / part size";
	uint64_t next = 0;
	for (uint32_t i = 0; i < p->nparts; i++) {
		uint64_t off, len;
		bg_plan_part_range(p, size, i, &off, &len);
		if (off != next)
			return "gap or overlap between parts";
		if (len > p->part_size)
			return "part larger than the part size";
		if (i + 1 < p->nparts && len != p->part_size)
			return "non-last part of a different size";
		if (size && len == 0)
			return "empty part";
		next = off + len;
	}
	if (next != size)
		return "parts do not end at the object's size";
	return NULL;
}

#define CHECK_RULES(p, size)                                                   \
	do {                                                                   \
		const char *why_ = violation(&(p), (size));                    \
		if (why_) {                                                    \
			fprintf(stderr, "%s:%d: size %llu: %s (part %llu x %u)\n", \
				__FILE__, __LINE__, (unsigned long long)(size), why_, \
				(unsigned long long)(p).part_size, (p).nparts);  \
			check_failures++;                                      \
		}                                                              \
	} while (0)

static int plan(const bg_plan_input *in, bg_plan *out, char *err, size_t cap)
{
	err[0] = '\0';
	return bg_plan_object(in, out, err, cap);
}

static void test_small(void)
{
	char err[256];
	bg_plan p;

	bg_plan_input in = defaults(0);
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(!p.multipart);
	CHECK(!p.same_layout);
	CHECK_INT(p.nparts, 1);
	CHECK_INT(p.part_size, 0);
	CHECK_RULES(p, 0);

	in = defaults(1);
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(!p.multipart);
	CHECK_INT(p.nparts, 1);
	CHECK_INT(p.part_size, 1);
	CHECK_RULES(p, 1);

	/* Threshold 0: every non-empty object goes multipart, even one byte
	 * (a single part may be smaller than 5 MiB); the empty one is a PUT. */
	in = defaults(1);
	in.threshold = 0;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(p.multipart);
	CHECK_INT(p.nparts, 1);
	CHECK_RULES(p, 1);
	in.size = 0;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(!p.multipart);
	CHECK_RULES(p, 0);
}

static void test_threshold(void)
{
	char err[256];
	bg_plan p;
	const uint64_t t = 16 * BG_MIB;

	bg_plan_input in = defaults(t - 1);
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(!p.multipart);
	CHECK_INT(p.part_size, t - 1);
	CHECK_RULES(p, t - 1);

	in = defaults(t);
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(!p.multipart);
	CHECK_INT(p.nparts, 1);
	CHECK_RULES(p, t);

	in = defaults(t + 1);
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(p.multipart);
	CHECK(!p.same_layout);
	CHECK_INT(p.part_size, 16 * BG_MIB);
	CHECK_INT(p.nparts, 2);
	CHECK_RULES(p, t + 1);
	uint64_t off, len;
	bg_plan_part_range(&p, t + 1, 1, &off, &len);
	CHECK_INT(off, t);
	CHECK_INT(len, 1);

	/* A threshold above 5 GiB still never makes a PUT over 5 GiB. */
	in = defaults(BG_PUT_MAX + 1);
	in.threshold = UINT64_MAX;
	in.max_part = BG_PART_MAX;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(p.multipart);
	CHECK_RULES(p, BG_PUT_MAX + 1);
	in.size = BG_PUT_MAX;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(!p.multipart);
	CHECK_RULES(p, BG_PUT_MAX);

	/* A preferred part size under 5 MiB is raised to 5 MiB. */
	in = defaults(100 * BG_MIB);
	in.part_size = 1 * BG_MIB;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(p.multipart);
	CHECK_INT(p.part_size, BG_PART_MIN);
	CHECK_INT(p.nparts, 20);
	CHECK_RULES(p, 100 * BG_MIB);
}

static void test_huge(void)
{
	char err[256];
	bg_plan p;

	/* 5 TiB: 16 MiB parts would need 327,680 of them; the plan picks the
	 * smallest whole-MiB part size that fits in 10,000 parts (525 MiB). */
	bg_plan_input in = defaults(BG_OBJECT_MAX);
	in.max_part = BG_PART_MAX;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(p.multipart);
	CHECK(!p.same_layout);
	CHECK(p.part_size >= ceil_div(BG_OBJECT_MAX, BG_PARTS_MAX));
	CHECK_INT(p.part_size % BG_MIB, 0);
	CHECK(p.part_size - BG_MIB < ceil_div(BG_OBJECT_MAX, BG_PARTS_MAX)); /* smallest */
	CHECK_INT(p.part_size, 525 * BG_MIB);
	CHECK_INT(p.nparts, ceil_div(BG_OBJECT_MAX, 525 * BG_MIB));
	CHECK(p.nparts <= BG_PARTS_MAX);
	CHECK_RULES(p, BG_OBJECT_MAX);

	/* A preferred part size already large enough is kept. */
	in.part_size = BG_GIB;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK_INT(p.part_size, BG_GIB);
	CHECK_INT(p.nparts, 5120);
	CHECK_RULES(p, BG_OBJECT_MAX);

	/* 160,000 MiB is exactly 10,000 16 MiB parts; one byte more needs 17. */
	in = defaults(10000 * 16 * BG_MIB);
	in.max_part = BG_PART_MAX;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK_INT(p.part_size, 16 * BG_MIB);
	CHECK_INT(p.nparts, 10000);
	CHECK_RULES(p, in.size);
	in.size++;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK_INT(p.part_size, 17 * BG_MIB);
	CHECK_RULES(p, in.size);

	/* Over 5 TiB: refused, with a reason. */
	in = defaults(BG_OBJECT_MAX + 1);
	in.max_part = BG_PART_MAX;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), -1);
	CHECK(strstr(err, "5 TiB") != NULL);
	in.size = UINT64_MAX;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), -1);
	CHECK(err[0] != '\0');
}

static void test_memory(void)
{
	char err[256];
	bg_plan p;

	/* 1 TiB needs 105 MiB parts; 64 MiB of part buffer cannot hold one. */
	bg_plan_input in = defaults(TIB);
	in.max_part = 64 * BG_MIB;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), -1);
	CHECK(strstr(err, "--memory") != NULL);
	CHECK(strstr(err, "105 MiB") != NULL);

	/* Not even the 5 MiB minimum fits. */
	in = defaults(100 * BG_MIB);
	in.max_part = 4 * BG_MIB;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), -1);
	CHECK(strstr(err, "--memory") != NULL);

	/* A small object needs no part buffer beyond its size. */
	in.size = 1000;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(!p.multipart);

	/* A preferred part size over 5 GiB is refused rather than used. */
	in = defaults(20 * BG_GIB);
	in.part_size = BG_PART_MAX + BG_MIB;
	in.max_part = UINT64_MAX;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), -1);
	CHECK(err[0] != '\0');

	/* A tiny error buffer is never overrun. */
	char tiny[8];
	memset(tiny, 'x', sizeof(tiny));
	in = defaults(TIB);
	in.max_part = 64 * BG_MIB;
	CHECK_INT(bg_plan_object(&in, &p, tiny, sizeof(tiny)), -1);
	CHECK_INT(strlen(tiny), sizeof(tiny) - 1);
}

static void test_layout(void)
{
	char err[256];
	bg_plan p;

	/* 100 MiB uploaded in 8 MiB parts: 13 parts, reproduced as is. */
	bg_plan_input in = defaults(100 * BG_MIB);
	in.src_part_size = 8 * BG_MIB;
	in.src_parts = 13;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(p.multipart);
	CHECK(p.same_layout);
	CHECK_INT(p.part_size, 8 * BG_MIB);
	CHECK_INT(p.nparts, 13);
	CHECK_RULES(p, in.size);

	/* A part size that is not whole MiB is kept too (the ETag depends on it). */
	in.src_part_size = 5 * BG_MIB + 12345;
	in.src_parts = (uint32_t)ceil_div(in.size, in.src_part_size);
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(p.same_layout);
	CHECK_INT(p.part_size, 5 * BG_MIB + 12345);
	CHECK_RULES(p, in.size);

	/* Layout reuse wins over the threshold: a 10 MiB object that was
	 * uploaded as two 5 MiB parts keeps them. */
	in = defaults(10 * BG_MIB);
	in.src_part_size = 5 * BG_MIB;
	in.src_parts = 2;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(p.multipart);
	CHECK(p.same_layout);
	CHECK_INT(p.nparts, 2);
	CHECK_RULES(p, in.size);

	/* Inconsistent part count (size / part size says 13, ETag says 12):
	 * barge plans its own parts. */
	in = defaults(100 * BG_MIB);
	in.src_part_size = 8 * BG_MIB;
	in.src_parts = 12;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(p.multipart);
	CHECK(!p.same_layout);
	CHECK_INT(p.part_size, 16 * BG_MIB);
	CHECK_INT(p.nparts, 7);
	CHECK_RULES(p, in.size);
	in.src_parts = 14;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(!p.same_layout);
	CHECK_RULES(p, in.size);

	/* Unknown part size (0): own plan. */
	in.src_parts = 13;
	in.src_part_size = 0;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(!p.same_layout);
	CHECK_RULES(p, in.size);

	/* Source parts larger than the memory budget allows: own plan. */
	in = defaults(2 * BG_GIB);
	in.src_part_size = 512 * BG_MIB;
	in.src_parts = 4;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(p.multipart);
	CHECK(!p.same_layout);
	CHECK_INT(p.part_size, 16 * BG_MIB);
	CHECK_RULES(p, in.size);
	in.max_part = 512 * BG_MIB; /* exactly enough */
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(p.same_layout);
	CHECK_INT(p.part_size, 512 * BG_MIB);
	CHECK_RULES(p, in.size);

	/* Source parts over 5 GiB (possible nowhere, but do not copy them). */
	in = defaults(12 * BG_GIB);
	in.max_part = UINT64_MAX;
	in.src_part_size = 6 * BG_GIB;
	in.src_parts = 2;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(!p.same_layout);
	CHECK_RULES(p, in.size);

	/* Source parts under 5 MiB with more than one part: R2 would refuse
	 * them (EntityTooSmall), so own plan. */
	in = defaults(20 * BG_MIB);
	in.src_part_size = 4 * BG_MIB;
	in.src_parts = 5;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(!p.same_layout);
	CHECK_RULES(p, in.size);

	/* One small part (a "-1" ETag): a one-part upload of any size. */
	in = defaults(1000);
	in.src_part_size = 1000;
	in.src_parts = 1;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(p.multipart);
	CHECK(p.same_layout);
	CHECK_INT(p.nparts, 1);
	CHECK_INT(p.part_size, 1000);
	CHECK_RULES(p, 1000);
	uint64_t off, len;
	bg_plan_part_range(&p, 1000, 0, &off, &len);
	CHECK_INT(off, 0);
	CHECK_INT(len, 1000);

	/* ... but not when the size says the object is bigger than that part. */
	in.size = 1001;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
	CHECK(!p.same_layout);
	CHECK_RULES(p, 1001);

	/* Even an over-5 TiB source with a plausible layout is refused. */
	in = defaults(BG_OBJECT_MAX + BG_GIB);
	in.max_part = UINT64_MAX;
	in.src_part_size = BG_GIB;
	in.src_parts = 5121;
	CHECK_INT(plan(&in, &p, err, sizeof(err)), -1);
}

static void test_etag_parts(void)
{
	CHECK_INT(bg_plan_etag_parts("abc-7"), 7);
	CHECK_INT(bg_plan_etag_parts("abc"), 0);
	CHECK_INT(bg_plan_etag_parts("abc-0"), 0);
	CHECK_INT(bg_plan_etag_parts("abc-10000"), 10000);
	CHECK_INT(bg_plan_etag_parts("abc-10001"), 0);
	CHECK_INT(bg_plan_etag_parts("abc-x"), 0);
	CHECK_INT(bg_plan_etag_parts("abc-"), 0);
	CHECK_INT(bg_plan_etag_parts("abc-7x"), 0);
	CHECK_INT(bg_plan_etag_parts("abc-+7"), 0);
	CHECK_INT(bg_plan_etag_parts("abc- 7"), 0);
	CHECK_INT(bg_plan_etag_parts("abc-99999999999999999999999"), 0);
	CHECK_INT(bg_plan_etag_parts(""), 0);
	CHECK_INT(bg_plan_etag_parts("-3"), 3);
	CHECK_INT(bg_plan_etag_parts("d41d8cd98f00b204e9800998ecf8427e"), 0);
	CHECK_INT(bg_plan_etag_parts("3858f62230ac3c915f300c664312c11f-9"), 9);
}

/* Every part of several plans, end to end. */
static void test_ranges(void)
{
	static const uint64_t sizes[] = {
		1, 5 * BG_MIB - 1, 5 * BG_MIB, 5 * BG_MIB + 1, 16 * BG_MIB + 1,
		32 * BG_MIB, 100 * BG_MIB + 7, BG_PUT_MAX + 1, 1234567890123ull,
		BG_OBJECT_MAX - 1, BG_OBJECT_MAX,
	};
	char err[256];
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		bg_plan_input in = defaults(sizes[k]);
		in.threshold = 0;
		in.max_part = BG_PART_MAX;
		bg_plan p;
		CHECK_INT(plan(&in, &p, err, sizeof(err)), 0);
		CHECK(p.multipart);
		uint64_t next = 0, total = 0;
		for (uint32_t i = 0; i < p.nparts; i++) {
			uint64_t off, len;
			bg_plan_part_range(&p, sizes[k], i, &off, &len);
			CHECK_INT(off, next);
			CHECK(len > 0);
			CHECK(len <= p.part_size);
			if (i + 1 < p.nparts)
				CHECK_INT(len, p.part_size);
			next = off + len;
			total += len;
		}
		CHECK_INT(next, sizes[k]);
		CHECK_INT(total, sizes[k]);
	}
}

/* splitmix64: a fixed sequence, so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n]. */
static uint64_t rnd_upto(uint64_t n)
{
	return n == UINT64_MAX ? rnd() : rnd() % (n + 1);
}

/* Sizes spread over every order of magnitude up to 5 TiB. */
static uint64_t rnd_size(void)
{
	switch (rnd() % 4) {
	case 0: return rnd_upto(BG_OBJECT_MAX);
	case 1: return rnd_upto(1ull << (rnd() % 43)); /* up to 4 TiB, log-spread */
	case 2: return BG_OBJECT_MAX - rnd_upto(BG_GIB);
	default: {
		uint64_t ps = (rnd() % 64 + 5) * BG_MIB; /* near a part boundary */
		return ps * (rnd() % 10001) + rnd_upto(2) - 1;
	}
	}
}

static void test_property(void)
{
	char err[256];
	unsigned planned = 0, refused = 0, reused = 0;
	for (int iter = 0; iter < 20000; iter++) {
		bg_plan_input in;
		memset(&in, 0, sizeof(in));
		in.size = rnd_size();
		if (in.size > BG_OBJECT_MAX)
			in.size = BG_OBJECT_MAX;
		/* What `barge copy` accepts: part size 5 MiB..5 GiB, threshold
		 * 0..5 GiB, a part buffer of at least one preferred part. */
		in.part_size = rnd() % 2 ? (rnd() % 5116 + 5) * BG_MIB
					 : BG_PART_MIN + rnd_upto(BG_PART_MAX - BG_PART_MIN);
		in.threshold = rnd() % 2 ? in.part_size : rnd_upto(BG_PUT_MAX);
		in.max_part = rnd() % 2 ? BG_PART_MAX : in.part_size + rnd_upto(BG_PART_MAX);
		switch (rnd() % 3) {
		case 0: /* single-part source */
			break;
		case 1: { /* a consistent multipart source */
			uint32_t n = (uint32_t)(rnd() % BG_PARTS_MAX + 1);
			in.src_parts = n;
			in.src_part_size = in.size ? ceil_div(in.size, n) : 0;
			if (in.src_part_size && ceil_div(in.size, in.src_part_size) != n)
				in.src_parts = (uint32_t)ceil_div(in.size, in.src_part_size);
			break;
		}
		default: /* whatever a HEAD might say */
			in.src_parts = (uint32_t)(rnd() % BG_PARTS_MAX + 1);
			in.src_part_size = rnd_upto(rnd() % 2 ? 64 * BG_MIB : BG_OBJECT_MAX);
			break;
		}

		bg_plan p;
		err[0] = '\0';
		int r = bg_plan_object(&in, &p, err, sizeof(err));
		uint64_t least = ceil_div(ceil_div(in.size, BG_PARTS_MAX), BG_MIB) * BG_MIB;
		if (r < 0) {
			refused++;
			if (!strstr(err, "--memory"))
				fprintf(stderr, "size %llu part %llu max %llu src %u x %llu: %s\n",
					(unsigned long long)in.size, (unsigned long long)in.part_size,
					(unsigned long long)in.max_part, in.src_parts,
					(unsigned long long)in.src_part_size, err);
			/* The only reason left: the part buffer is too small. */
			CHECK(strstr(err, "--memory") != NULL);
			CHECK(least > in.max_part || in.part_size > in.max_part);
			continue;
		}
		planned++;
		CHECK_RULES(p, in.size);
		if (p.same_layout) {
			reused++;
			CHECK_INT(p.part_size, in.src_part_size);
			CHECK_INT(p.nparts, in.src_parts);
			CHECK(p.part_size <= in.max_part);
		} else if (p.multipart) {
			CHECK(p.part_size <= in.max_part);
			CHECK(p.part_size == in.part_size || p.part_size == least);
			CHECK(in.size > in.threshold || in.size > BG_PUT_MAX);
		} else {
			CHECK(in.size <= in.threshold);
		}
	}
	CHECK(planned > 10000);
	CHECK(reused > 1000);
	printf("property: %u plans (%u reuse the source layout), %u refused for memory\n",
	       planned, reused, refused);
}

int main(void)
{
	test_small();
	test_threshold();
	test_huge();
	test_memory();
	test_layout();
	test_etag_parts();
	test_ranges();
	test_property();
	CHECK_DONE();
}
