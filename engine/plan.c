/* plan.c - part sizes (see plan.h). */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

uint32_t bg_plan_etag_parts(const char *etag)
{
	const char *dash = strrchr(etag, '-');
	if (!dash || !dash[1])
		return 0;
	uint64_t n;
	if (bg_parse_u64(dash + 1, 1, BG_PARTS_MAX, &n) < 0)
		return 0;
	return (uint32_t)n;
}

/* The source's layout can be reproduced on R2 when its part size is
 * uniform-compatible and fits the memory budget. */
static bool layout_usable(const bg_plan_input *in)
{
	uint64_t ps = in->src_part_size;
	if (!in->src_parts || !ps || ps > BG_PART_MAX || ps > in->max_part)
		return false;
	if (ceil_div(in->size ? in->size : 1, ps) != in->src_parts)
		return false;
	/* All but the last part must be at least 5 MiB. */
	return in->src_parts == 1 || ps >= BG_PART_MIN;
}

int bg_plan_object(const bg_plan_input *in, bg_plan *out, char *err, size_t errcap)
{
	memset(out, 0, sizeof(*out));
	if (in->size > BG_OBJECT_MAX) {
		bg_snprintf(err, errcap, "object of %llu bytes is larger than the 5 TiB S3 limit",
			    (unsigned long long)in->size);
		return -1;
	}
	if (layout_usable(in)) {
		out->multipart = true;
		out->same_layout = true;
		out->part_size = in->src_part_size;
		out->nparts = in->src_parts;
		return 0;
	}
	if (in->size <= in->threshold && in->size <= BG_PUT_MAX) {
		out->part_size = in->size;
		out->nparts = 1;
		return 0;
	}
	uint64_t ps = in->part_size < BG_PART_MIN ? BG_PART_MIN : in->part_size;
	uint64_t least = ceil_div(in->size, BG_PARTS_MAX);
	if (ps < least)
		ps = ceil_div(least, BG_MIB) * BG_MIB; /* uniform, whole MiB */
	if (ps > BG_PART_MAX) {
		bg_snprintf(err, errcap, "object of %llu bytes needs parts over 5 GiB",
			    (unsigned long long)in->size);
		return -1;
	}
	if (ps > in->max_part) {
		bg_snprintf(err, errcap,
			    "object of %llu bytes needs %llu MiB parts, more than --memory allows: "
			    "raise --memory to at least %llu MiB",
			    (unsigned long long)in->size, (unsigned long long)(ps / BG_MIB),
			    (unsigned long long)(2 * ps / BG_MIB));
		return -1;
	}
	out->multipart = true;
	out->part_size = ps;
	out->nparts = (uint32_t)ceil_div(in->size, ps);
	BG_ASSERT(out->nparts >= 1 && out->nparts <= BG_PARTS_MAX);
	return 0;
}

void bg_plan_part_range(const bg_plan *p, uint64_t size, uint32_t i, uint64_t *off,
			uint64_t *len)
{
	BG_DEBUG_ASSERT(i < p->nparts);
	*off = (uint64_t)i * p->part_size;
	uint64_t left = size > *off ? size - *off : 0;
	*len = left < p->part_size ? left : p->part_size;
}
