/* s3limits.h - the sizes S3 and R2 allow, and the buffers barge keeps for
 * them: keys, ETags, tokens, dates, parts, objects.  A leaf header (no
 * includes) that the engine and the journal both use, so that journal/
 * needs nothing of the XML parser or the planner to size its rows. */
#ifndef BG_S3LIMITS_H
#define BG_S3LIMITS_H

/* Text from a server, without a terminating NUL. */
#define BG_KEY_MAX 1024    /* S3 keys are at most 1024 bytes of UTF-8 */
#define BG_ETAG_MAX 80     /* without quotes: 32 hex + "-10000" fits easily */
#define BG_TOKEN_MAX 2048  /* continuation tokens, upload IDs */
#define BG_DATE_MAX 40

/* Objects and multipart uploads (R2: 5 MiB..5 GiB per part, at most
 * 10,000 parts; one PUT up to 5 GiB; an object up to 5 TiB). */
#define BG_MIB (1ull << 20)
#define BG_GIB (1ull << 30)
#define BG_PART_MIN (5 * BG_MIB)
#define BG_PART_MAX (5 * BG_GIB)
#define BG_PARTS_MAX 10000u
#define BG_PUT_MAX (5 * BG_GIB)
#define BG_OBJECT_MAX (5ull * 1024 * BG_GIB)

#endif
