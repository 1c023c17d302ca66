/* Guarded so the fuzz runner (tests/fuzz/run.sh) can build it without configure. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "hvi_text.h"

static bool printable(uint8_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

size_t hvi_text_copy(char *dst, size_t dstlen, const uint8_t *src, size_t srclen)
{
	/* volatile: one load per byte, checked and stored from a register */
	const volatile uint8_t *s = src;
	size_t i, replaced = 0;

	if (!dst || dstlen == 0)
		return 0;
	for (i = 0; src && i < srclen && i + 1 < dstlen; i++) {
		uint8_t c = s[i];

		if (c == 0)
			break;
		if (!printable(c)) {
			c = HVI_TEXT_SUBST;
			replaced++;
		}
		dst[i] = (char)c;
	}
	dst[i] = '\0';
	return replaced;
}

bool hvi_text_printable(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!printable((uint8_t)s[i]))
			return false;
	return true;
}
