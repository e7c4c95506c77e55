/* esc.h - bytes from outside (keys, local file names, server messages)
 * written so that they cannot break what carries them: a JSON string that
 * every JSON parser accepts, and a line of text that cannot drive a
 * terminal.  One writer of each; every printer of barge goes through them
 * (docs/output.md).
 *
 * Both walk the input as UTF-8.  A byte that does not start a well-formed
 * sequence (a stray continuation byte, 0xC0, 0xC1, 0xF5..0xFF, an
 * overlong form, a UTF-16 surrogate, a code point above U+10FFFF, a
 * sequence cut short) is one invalid byte, and the walk goes on at the
 * next byte. */
#ifndef BG_ESC_H
#define BG_ESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util.h"

/* Length (1 to 4) of the well-formed UTF-8 sequence at p, n bytes
 * available (n > 0); 0 when p does not start one. */
size_t bg_utf8_len(const unsigned char *p, size_t n);

/* Whether the n bytes at s are all well-formed UTF-8. */
bool bg_utf8_valid(const char *s, size_t n);

/* Where escaped output goes, piece by piece. */
typedef void (*bg_esc_sink)(void *ctx, const char *p, size_t n);

/* n bytes as a JSON string, quotes included.  '"' and '\' are escaped;
 * newline, tab and carriage return are \n \t \r; the other C0 controls,
 * DEL and the C1 controls (U+0080..U+009F) are \u00XX, so the line is also
 * safe on a terminal; an invalid byte is \ufffd (U+FFFD, the replacement
 * character: JSON text must be UTF-8).  Everything else is copied. */
void bg_esc_json(bg_esc_sink out, void *ctx, const char *s, size_t n);

/* n bytes as text for a terminal, one line, reversible: '\' is \\;
 * newline, tab and carriage return are \n \t \r; the other C0 controls,
 * DEL, each of the two bytes of a C1 control (U+0080..U+009F) and an
 * invalid byte are \xHH (lowercase hex).  Everything else is copied. */
void bg_esc_text(bg_esc_sink out, void *ctx, const char *s, size_t n);

/* The same to a FILE.  bg_json_put writes NULL as null; bg_text_put
 * writes nothing for NULL. */
void bg_json_put(FILE *f, const char *s);
void bg_json_putn(FILE *f, const char *s, size_t n);
void bg_text_put(FILE *f, const char *s);
void bg_text_putn(FILE *f, const char *s, size_t n);

/* One line of text to f: fmt formatted, the result escaped as a whole
 * with bg_esc_text (the keys, paths and server messages in it cannot
 * drive the terminal), then a newline.  fmt has no newline of its own;
 * a line longer than 16 KiB is cut there.  The way barge prints its
 * messages ("barge: ..."). */
void bg_text_line(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The same appended to a buffer; 0, or -1 when it is full. */
int bg_json_buf(bg_buf *b, const char *s, size_t n);
int bg_text_buf(bg_buf *b, const char *s, size_t n);

#endif
