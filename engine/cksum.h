/* cksum.h - the checksums a destination verifies (CRC32C, MD5), base64. */
#ifndef BG_CKSUM_H
#define BG_CKSUM_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

/* CRC-32C (Castagnoli), streaming: start with crc = 0. Uses SSE4.2 when
 * the CPU has it. */
uint32_t bg_crc32c(uint32_t crc, const void *p, size_t n);

/* Standard base64 with padding. Returns length or -1 if cap is too small. */
int bg_base64(const unsigned char *in, size_t n, char *out, size_t cap);

/* bg_unhex16 (a 32-digit hex digest to 16 bytes) is in codec.h. */

#endif
