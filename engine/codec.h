/* codec.h - hex and percent-encoding: the one place barge turns digits
 * into bytes and back.  Decoders refuse rather than guess: a wrong length,
 * a character that is not a digit, an escape cut short.  Nothing here
 * allocates; every output has a stated size.
 *
 * (SigV4's own percent-encoding, uppercase and with its unreserved set, is
 * bg_uri_encode in sigv4.h; base64 is bg_base64 in cksum.h.) */
#ifndef BG_CODEC_H
#define BG_CODEC_H

#include <stdbool.h>
#include <stddef.h>

/* The value of hex digit c ('0'-'9', 'a'-'f', 'A'-'F'), or -1 for any
 * other value of c (NUL, bytes >= 0x80 and EOF included). */
int bg_hex_digit(int c);

/* Lowercase hex of the n bytes at in, into out (2n+1 bytes, NUL-terminated). */
void bg_hex(const unsigned char *in, size_t n, char *out);

/* Decodes the len characters at hex into n bytes at out: 0 when len is
 * exactly 2n and every character is a hex digit (either case), else -1
 * (out then undefined).  hex need not be NUL-terminated. */
int bg_unhex(const char *hex, size_t len, unsigned char *out, size_t n);

/* A 32-digit hex string (an MD5 ETag, an XXH3-128) to 16 bytes: 0, or -1
 * when hex is NULL or is not exactly 32 hex digits followed by its NUL. */
int bg_unhex16(const char *hex, unsigned char out[16]);

/* bg_url_decode's failures. */
#define BG_URL_BAD (-1)  /* a '%' not followed by two hex digits, a NUL or %00 */
#define BG_URL_LONG (-2) /* the result needs more than cap bytes */

/* Percent-decodes the n bytes at in (%XX, digits of either case) into
 * out, NUL-terminated; cap counts the NUL.  '+' becomes a space when
 * plus_is_space (form encoding: S3's encoding-type=url listings, query
 * strings) and stays '+' otherwise; %2B is always '+'.  A NUL, as %00 or
 * as a byte of in, is refused: no key or name barge handles holds one,
 * and the rest of barge uses C strings.  out may be in (the result is never longer).  Returns the
 * decoded length, or BG_URL_BAD or BG_URL_LONG (out then holds what was
 * decoded before the failure, NUL-terminated).  cap at most INT_MAX. */
int bg_url_decode(const char *in, size_t n, bool plus_is_space, char *out, size_t cap);

#endif
