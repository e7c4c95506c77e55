/* codec.c - hex and percent-encoding (see codec.h). */
#include "codec.h"

#include <limits.h>
#include <string.h>

int bg_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void bg_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int bg_unhex(const char *hex, size_t len, unsigned char *out, size_t n)
{
	if (!hex || len / 2 != n || len % 2)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = bg_hex_digit((unsigned char)hex[2 * i]);
		int lo = bg_hex_digit((unsigned char)hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

int bg_unhex16(const char *hex, unsigned char out[16])
{
	return hex ? bg_unhex(hex, strnlen(hex, 33), out, 16) : -1;
}

/* Reads in[i] before it writes out[o], and o <= i: out may be in. */
int bg_url_decode(const char *in, size_t n, bool plus_is_space, char *out, size_t cap)
{
	size_t o = 0;
	int r = 0;

	if (cap == 0)
		return BG_URL_LONG;
	if (cap > INT_MAX)
		cap = INT_MAX;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)in[i];

		if (c == '%') {
			int hi = n - i > 2 ? bg_hex_digit((unsigned char)in[i + 1]) : -1;
			int lo = n - i > 2 ? bg_hex_digit((unsigned char)in[i + 2]) : -1;

			if (hi < 0 || lo < 0 || (hi | lo) == 0) {
				r = BG_URL_BAD;
				break;
			}
			c = hi << 4 | lo;
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		} else if (c == 0) {
			r = BG_URL_BAD;
			break;
		}
		if (o + 1 >= cap) {
			r = BG_URL_LONG;
			break;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return r ? r : (int)o;
}
