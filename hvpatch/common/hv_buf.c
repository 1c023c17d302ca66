#include "hv_buf.h"

#include <string.h>

void hv_buf_init(struct hv_buf *b, const void *p, size_t len, const char *what)
{
	b->p = p;
	b->len = p ? len : 0;
	b->off = 0;
	b->what = what ? what : "buffer";
}

size_t hv_buf_remaining(const struct hv_buf *b)
{
	return b->len - b->off;
}

static int need(const struct hv_buf *b, size_t n)
{
	if (n > hv_buf_remaining(b))
		return hv_err(HV_E_FORMAT,
			      "%s is truncated: %zu bytes needed at offset %zu, only %zu left",
			      b->what, n, b->off, hv_buf_remaining(b));
	return 0;
}

static uint64_t load_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	while (n--)
		v = (v << 8) | p[n];
	return v;
}

int hv_buf_get_u8(struct hv_buf *b, uint8_t *v)
{
	int r = need(b, 1);

	if (r < 0)
		return r;
	*v = b->p[b->off++];
	return 0;
}

int hv_buf_get_u16(struct hv_buf *b, uint16_t *v)
{
	int r = need(b, 2);

	if (r < 0)
		return r;
	*v = (uint16_t)load_le(b->p + b->off, 2);
	b->off += 2;
	return 0;
}

int hv_buf_get_u32(struct hv_buf *b, uint32_t *v)
{
	int r = need(b, 4);

	if (r < 0)
		return r;
	*v = (uint32_t)load_le(b->p + b->off, 4);
	b->off += 4;
	return 0;
}

int hv_buf_get_u64(struct hv_buf *b, uint64_t *v)
{
	int r = need(b, 8);

	if (r < 0)
		return r;
	*v = load_le(b->p + b->off, 8);
	b->off += 8;
	return 0;
}

int hv_buf_get_bytes(struct hv_buf *b, size_t n, const uint8_t **out)
{
	int r = need(b, n);

	if (r < 0)
		return r;
	*out = b->p + b->off;
	b->off += n;
	return 0;
}

int hv_buf_copy(struct hv_buf *b, void *dst, size_t n)
{
	int r = need(b, n);

	if (r < 0)
		return r;
	if (n)
		memcpy(dst, b->p + b->off, n);
	b->off += n;
	return 0;
}

int hv_buf_skip(struct hv_buf *b, size_t n)
{
	int r = need(b, n);

	if (r < 0)
		return r;
	b->off += n;
	return 0;
}

int hv_buf_seek(struct hv_buf *b, size_t off)
{
	if (off > b->len)
		return hv_err(HV_E_FORMAT, "%s: offset %zu is past its end (%zu bytes)", b->what,
			      off, b->len);
	b->off = off;
	return 0;
}

int hv_buf_sub(struct hv_buf *b, size_t n, struct hv_buf *sub, const char *what)
{
	int r = need(b, n);

	if (r < 0)
		return r;
	hv_buf_init(sub, b->p + b->off, n, what);
	b->off += n;
	return 0;
}

int hv_buf_get_cstr(struct hv_buf *b, size_t maxlen, const char **s, size_t *slen)
{
	size_t avail = hv_buf_remaining(b);
	size_t scan = avail < maxlen + 1 ? avail : maxlen + 1;
	const uint8_t *start = b->p + b->off;
	const uint8_t *nul = scan ? memchr(start, 0, scan) : NULL;

	if (!nul) {
		if (scan == maxlen + 1)
			return hv_err(HV_E_FORMAT,
				      "%s: string at offset %zu is longer than %zu characters",
				      b->what, b->off, maxlen);
		return hv_err(HV_E_FORMAT, "%s: string at offset %zu is not NUL-terminated",
			      b->what, b->off);
	}
	*s = (const char *)start;
	if (slen)
		*slen = (size_t)(nul - start);
	b->off += (size_t)(nul - start) + 1;
	return 0;
}
