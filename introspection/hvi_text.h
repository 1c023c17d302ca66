/*
 * hvi_text: the one way bytes from a guest become host text.
 *
 * Every string libhvi hands out (the kernel release, task names, symbol
 * names) is printable ASCII (0x20..0x7e), so a caller may print it on a
 * terminal or put it in JSON as it is: a guest cannot move the cursor,
 * retitle the window or break a JSON document through it.  Strings with a
 * fixed alphabet (the release, symbol names) are refused when a byte is
 * outside it; free text (a task's comm) goes through hvi_text_copy().
 *
 * Guest memory may change while it is read (libhvi reads guest RAM in
 * place): a string is copied into host memory once, then checked, then
 * only the copy is used.
 */
#ifndef HVI_TEXT_H
#define HVI_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What hvi_text_copy() puts in place of a byte that is not printable ASCII. */
#define HVI_TEXT_SUBST '?'

/*
 * Copy the string at @src (at most @srclen bytes, ending early at a NUL)
 * into @dst (@dstlen bytes, at least 1), at most @dstlen - 1 characters,
 * always NUL-terminated, with every byte outside 0x20..0x7e replaced by
 * HVI_TEXT_SUBST.  Each byte of @src is read exactly once, so a guest that
 * rewrites @src meanwhile cannot get a byte past the check.  Returns how
 * many bytes were replaced.
 */
size_t hvi_text_copy(char *dst, size_t dstlen, const uint8_t *src, size_t srclen);

/* Whether each of the @n bytes at @s is printable ASCII (0x20..0x7e). */
bool hvi_text_printable(const char *s, size_t n);

#endif
