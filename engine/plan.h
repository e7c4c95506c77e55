/* plan.h - choosing how an object crosses: one PUT, or a multipart upload
 * with one uniform part size that R2 accepts (5 MiB..5 GiB per part, at
 * most 10,000 parts, all but the last equal, the last no larger). */
#ifndef BG_PLAN_H
#define BG_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3limits.h" /* BG_MIB, BG_PART_MIN, BG_PARTS_MAX, ... */

typedef struct bg_plan {
	bool multipart;
	bool same_layout; /* parts match the source's, so ETags will match */
	uint64_t part_size;
	uint32_t nparts;  /* 1 for a single PUT */
} bg_plan;

typedef struct bg_plan_input {
	uint64_t size;
	uint64_t threshold;     /* objects up to this size go as one PUT */
	uint64_t part_size;     /* preferred part size */
	uint64_t max_part;      /* largest part the memory budget can hold */
	uint64_t src_part_size; /* first part of a multipart source, 0 if unknown */
	uint32_t src_parts;     /* parts of the source ("-N" ETag), 0 if single-part */
} bg_plan_input;

/* 0 and *out filled, or -1 with a one-line reason in err. */
int bg_plan_object(const bg_plan_input *in, bg_plan *out, char *err, size_t errcap);

/* Number of parts in the source ETag ("...-N"), 0 when it has no suffix
 * or the suffix is not a number in 1..10000. */
uint32_t bg_plan_etag_parts(const char *etag);

/* Byte range of part i (0-based) under plan p for an object of size. */
void bg_plan_part_range(const bg_plan *p, uint64_t size, uint32_t i, uint64_t *off,
			uint64_t *len);

#endif
