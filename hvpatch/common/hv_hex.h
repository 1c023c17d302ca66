/*
 * hv_hex: bytes as lower-case hexadecimal text and back, with bounded
 * output on both ways.  Used for build-ids, key ids, digests and the agent
 * protocol's byte strings and addresses.
 */
#ifndef HV_HEX_H
#define HV_HEX_H

#include <stddef.h>
#include <stdint.h>

#include "hv_error.h"

/* Size of a buffer that holds @n bytes as hex text with its NUL. */
#define HV_HEX_SIZE(n) (2 * (n) + 1)

/* The value of hex digit @c (either case), or -1 when @c is not one. */
int hv_hex_digit(int c);

/*
 * Write the @n bytes at @p as 2*@n lower-case hex digits and a NUL into
 * @out, which holds @outlen bytes.  Only whole bytes that fit are written
 * and @out is always NUL-terminated (when @outlen > 0).  Returns how many
 * bytes were written: @n when @out had room for HV_HEX_SIZE(@n).
 */
size_t hv_hex_encode(char *out, size_t outlen, const void *p, size_t n);

/*
 * Decode the @len characters at @s, an even number of hex digits (either
 * case), into @out, which holds @max bytes; *@n gets the byte count
 * (1..@max).  HV_E_FORMAT, naming @what, when @len is 0, odd or more than
 * 2*@max, or a character is not a hex digit; @out may then be partly
 * written and *@n is unchanged.  @s need not be NUL-terminated.
 */
int hv_hex_decode(const char *s, size_t len, uint8_t *out, size_t max, size_t *n,
		  const char *what) HV_WUR;

/*
 * Read the @len characters at @s, 1 to 16 hex digits without a prefix, as
 * a number into *@v.  HV_E_FORMAT, naming @what, otherwise (*@v unchanged).
 */
int hv_hex_u64(const char *s, size_t len, uint64_t *v, const char *what) HV_WUR;

#endif
