/* Hexadecimal text of bytes and numbers (hv_hex.h). */
#include "hv_hex.h"

int hv_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t hv_hex_encode(char *out, size_t outlen, const void *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *b = p;
	size_t i, fit;

	if (!outlen)
		return 0;
	fit = (outlen - 1) / 2;
	if (n < fit)
		fit = n;
	for (i = 0; i < fit; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * fit] = '\0';
	return fit;
}

int hv_hex_decode(const char *s, size_t len, uint8_t *out, size_t max, size_t *n, const char *what)
{
	size_t i;

	if (!len || len % 2 || len / 2 > max)
		return hv_err(
			HV_E_FORMAT,
			"the %s has %zu hex digits; it must have an even number from 2 to %zu",
			what, len, 2 * max);
	for (i = 0; i < len; i += 2) {
		int hi = hv_hex_digit((unsigned char)s[i]),
		    lo = hv_hex_digit((unsigned char)s[i + 1]);

		if (hi < 0 || lo < 0)
			return hv_err(HV_E_FORMAT, "the %s is not hexadecimal (character %zu)",
				      what, hi < 0 ? i + 1 : i + 2);
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*n = len / 2;
	return 0;
}

int hv_hex_u64(const char *s, size_t len, uint64_t *v, const char *what)
{
	uint64_t x = 0;
	size_t i;

	if (len < 1 || len > 16)
		return hv_err(HV_E_FORMAT, "the %s has %zu hex digits; it must have 1 to 16", what,
			      len);
	for (i = 0; i < len; i++) {
		int d = hv_hex_digit((unsigned char)s[i]);

		if (d < 0)
			return hv_err(HV_E_FORMAT, "the %s is not hexadecimal (character %zu)",
				      what, i + 1);
		x = x << 4 | (uint64_t)d;
	}
	*v = x;
	return 0;
}
