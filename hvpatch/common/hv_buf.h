/*
 * hv_buf: a bounded, typed reader over bytes that hvpatch does not trust
 * (guest memory, bundles, agent messages).
 *
 * A reader never owns its bytes: the caller keeps them alive while the reader
 * is used.  Every getter checks the remaining length first; on failure it
 * records an HV_E_FORMAT error naming the reader's @what and the offset, and
 * leaves the position unchanged.  All integers are little-endian.
 */
#ifndef HV_BUF_H
#define HV_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "hv_error.h"

struct hv_buf {
	const uint8_t *p;
	size_t len;
	size_t off;
	const char *what; /* static description used in errors, e.g. "bundle header" */
};

/*
 * The little-endian value of the 4 or 8 bytes at @p, for fields whose
 * bounds the caller has already checked (a struct copied out of guest
 * memory in one bounded read).
 */
static inline uint32_t hv_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t hv_le64(const uint8_t *p)
{
	return (uint64_t)hv_le32(p) | (uint64_t)hv_le32(p + 4) << 32;
}

/* Start reading @len bytes at @p.  @what must outlive the reader. */
void hv_buf_init(struct hv_buf *b, const void *p, size_t len, const char *what);

/* Bytes left to read. */
size_t hv_buf_remaining(const struct hv_buf *b);

int hv_buf_get_u8(struct hv_buf *b, uint8_t *v) HV_WUR;
int hv_buf_get_u16(struct hv_buf *b, uint16_t *v) HV_WUR;
int hv_buf_get_u32(struct hv_buf *b, uint32_t *v) HV_WUR;
int hv_buf_get_u64(struct hv_buf *b, uint64_t *v) HV_WUR;

/* Point *@out at the next @n bytes (no copy) and advance past them. */
int hv_buf_get_bytes(struct hv_buf *b, size_t n, const uint8_t **out) HV_WUR;

/* Copy the next @n bytes into @dst and advance. */
int hv_buf_copy(struct hv_buf *b, void *dst, size_t n) HV_WUR;

/* Advance by @n bytes. */
int hv_buf_skip(struct hv_buf *b, size_t n) HV_WUR;

/* Move to absolute offset @off (may equal the length). */
int hv_buf_seek(struct hv_buf *b, size_t off) HV_WUR;

/* Carve the next @n bytes into an independent reader @sub and advance. */
int hv_buf_sub(struct hv_buf *b, size_t n, struct hv_buf *sub, const char *what) HV_WUR;

/*
 * Read a NUL-terminated string of at most @maxlen characters (NUL excluded).
 * *@s points into the buffer; *@slen (may be NULL) gets its length.
 */
int hv_buf_get_cstr(struct hv_buf *b, size_t maxlen, const char **s, size_t *slen) HV_WUR;

#endif
