/* util.h - error codes, messages, assertions and bounded buffers shared by
 * every barge module.  Nothing here allocates on its own except bg_buf when
 * asked to grow, and that growth is capped. */
#ifndef BG_UTIL_H
#define BG_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h" /* bg_hex and the decoders, which most modules use */

/* One error enum above the ring layer (the ring itself returns -errno). */
typedef enum bg_err {
	BG_OK = 0,
	BG_E_USAGE,     /* bad command line */
	BG_E_CONFIG,    /* missing/invalid credentials, endpoint, profile */
	BG_E_NOMEM,     /* allocation failed or a cap was reached */
	BG_E_IO,        /* local I/O */
	BG_E_NET,       /* connection, timeout, reset (retryable) */
	BG_E_HTTP,      /* server answered with an error status */
	BG_E_PARSE,     /* malformed response */
	BG_E_CHANGED,   /* source changed during the copy (If-Match failed) */
	BG_E_INTEGRITY, /* checksum/size/ETag mismatch */
	BG_E_INTERNAL,  /* bug */
	BG_E_BUSY,      /* held by another process (a journal's lock): try again later */
} bg_err;

const char *bg_err_name(bg_err e);

/* A human message travels beside the code. */
#define BG_MSG_MAX 512
typedef struct bg_status {
	bg_err code;
	char msg[BG_MSG_MAX];
} bg_status;

/* Makes msg one line: newlines, CR and tabs become spaces, other control
 * bytes '?'.  Every error message goes through it (bg_fail does it). */
void bg_one_line(char *msg);

/* Sets st->code and formats st->msg; returns code so callers can
 * `return bg_fail(st, BG_E_CONFIG, "...")`. st may be NULL. */
bg_err bg_fail(bg_status *st, bg_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Always-on assertion: logs file and line, aborts. */
#define BG_ASSERT(x)                                                     \
	do {                                                             \
		if (!(x))                                                \
			bg_assert_fail(#x, __FILE__, __LINE__);          \
	} while (0)
#ifndef NDEBUG
#define BG_DEBUG_ASSERT(x) BG_ASSERT(x)
#else
#define BG_DEBUG_ASSERT(x) ((void)0)
#endif
_Noreturn void bg_assert_fail(const char *expr, const char *file, int line);

/* Bounded growable byte buffer (like curl's dynbuf): never grows past cap. */
typedef struct bg_buf {
	char *data;
	size_t len;
	size_t alloc;
	size_t cap; /* hard limit on len */
} bg_buf;

void bg_buf_init(bg_buf *b, size_t cap);
void bg_buf_free(bg_buf *b);
void bg_buf_reset(bg_buf *b); /* len = 0, keeps memory */
/* Appends n bytes, keeps data NUL-terminated. -1 when cap or memory runs out. */
int bg_buf_add(bg_buf *b, const void *p, size_t n);
int bg_buf_addf(bg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Safe string copy: always terminates, returns -1 on truncation. */
int bg_strlcpy(char *dst, const char *src, size_t cap);
/* snprintf that returns -1 on truncation or error. */
int bg_snprintf(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Parses sizes like "8M", "8MiB", "512k", "1G", "1048576" (binary units).
 * Returns 0 or -1. */
int bg_parse_size(const char *s, uint64_t *out);
/* Parses a decimal unsigned integer with bounds; 0 or -1. */
int bg_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Monotonic clock in nanoseconds. */
uint64_t bg_now_ns(void);

#endif
