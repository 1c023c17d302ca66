/* Guarded so the fuzz runner (tests/fuzz/run.sh) can build it without configure. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "state.h"

#include <string.h>

#include "hv_buf.h"

static void put_u32(uint8_t *p, uint32_t v)
{
	unsigned i;

	for (i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	unsigned i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_text(uint8_t *p, const char *s)
{
	size_t n = strnlen(s, HVP_STATE_TEXT - 1);

	memset(p, 0, HVP_STATE_TEXT);
	memcpy(p, s, n);
}

int hvp_state_encode(const struct hvp_state *st, uint8_t out[HVP_STATE_BYTES])
{
	uint8_t *p = out;
	uint32_t i;

	if (st->nsites > HVP_STATE_MAX_SITES)
		return hv_err(HV_E_RANGE, "a level may patch at most %u functions, not %u",
			      HVP_STATE_MAX_SITES, st->nsites);
	for (i = 0; i < st->nsites; i++)
		if (st->sites[i].flags & ~HVP_SITE_FLAGS_KNOWN)
			return hv_err(HV_E_INTERNAL, "site %s has unknown flags 0x%x",
				      st->sites[i].name, st->sites[i].flags);
	memset(out, 0, HVP_STATE_BYTES);
	memcpy(p, HVP_STATE_MAGIC, 8);
	p += 8;
	put_u32(p, HVP_STATE_VERSION);
	put_u32(p + 4, st->nsites);
	put_u32(p + 8, st->pd_index);
	put_u32(p + 12, st->active_slot);
	p += 16;
	put_u64(p, st->pde);
	put_u64(p + 8, st->window_gva);
	put_u64(p + 16, st->applied_unix);
	p += 24;
	put_text(p, st->boot_key);
	put_text(p + 64, st->level);
	put_text(p + 128, st->patch_id);
	memcpy(p + 192, st->bundle_sha256, 32);
	p += 224;
	for (i = 0; i < st->nsites; i++) {
		const struct hvp_site *s = &st->sites[i];

		put_u64(p, s->site_gva);
		put_u64(p + 8, s->site_gpa);
		put_u64(p + 16, s->target_gva);
		memcpy(p + 24, s->orig, 5);
		memcpy(p + 29, s->jmp, 5);
		p[34] = (uint8_t)s->flags;
		p[35] = (uint8_t)(s->flags >> 8);
		put_text(p + 36, s->name);
		p += 100;
	}
	put_u32(p, st->code_offset);
	put_u32(p + 4, st->slot_used[0]);
	put_u32(p + 8, st->slot_used[1]);
	return 0;
}

static int get_text(struct hv_buf *b, char *out, const char *field)
{
	const uint8_t *t;
	size_t n, i;
	int r = hv_buf_get_bytes(b, HVP_STATE_TEXT, &t);

	if (r < 0)
		return r;
	n = strnlen((const char *)t, HVP_STATE_TEXT);
	if (n == HVP_STATE_TEXT)
		return hv_err(HV_E_FORMAT, "patch-area record: %s is not NUL-terminated", field);
	for (i = 0; i < n; i++)
		if (t[i] < 0x20 || t[i] > 0x7e)
			return hv_err(
				HV_E_FORMAT,
				"patch-area record: %s has a non-printable byte 0x%02x at %zu",
				field, t[i], i);
	memcpy(out, t, n + 1);
	return 0;
}

int hvp_state_decode(const uint8_t *p, size_t len, struct hvp_state *st)
{
	struct hv_buf b;
	uint32_t version, i;
	uint16_t flags;
	const uint8_t *magic;
	int r;

	memset(st, 0, sizeof(*st));
	st->active_slot = HVP_NO_SLOT;
	if (len < 8 || memcmp(p, HVP_STATE_MAGIC, 8) != 0)
		return 0;
	hv_buf_init(&b, p, len < HVP_STATE_BYTES ? len : HVP_STATE_BYTES, "patch-area record");
	if ((r = hv_buf_get_bytes(&b, 8, &magic)) < 0 || (r = hv_buf_get_u32(&b, &version)) < 0 ||
	    (r = hv_buf_get_u32(&b, &st->nsites)) < 0 ||
	    (r = hv_buf_get_u32(&b, &st->pd_index)) < 0 ||
	    (r = hv_buf_get_u32(&b, &st->active_slot)) < 0 ||
	    (r = hv_buf_get_u64(&b, &st->pde)) < 0 ||
	    (r = hv_buf_get_u64(&b, &st->window_gva)) < 0 ||
	    (r = hv_buf_get_u64(&b, &st->applied_unix)) < 0)
		return r;
	if (version < 1 || version > HVP_STATE_VERSION)
		return hv_err(HV_E_FORMAT,
			      "patch-area record has version %u; this hvpatch knows 1 to %u",
			      version, HVP_STATE_VERSION);
	if (st->nsites > HVP_STATE_MAX_SITES)
		return hv_err(HV_E_FORMAT, "patch-area record lists %u sites (at most %u)",
			      st->nsites, HVP_STATE_MAX_SITES);
	if (st->pd_index >= 512)
		return hv_err(HV_E_FORMAT, "patch-area record has page-directory index %u",
			      st->pd_index);
	if (st->active_slot != HVP_NO_SLOT && st->active_slot > 1)
		return hv_err(HV_E_FORMAT, "patch-area record has slot %u", st->active_slot);
	if ((r = get_text(&b, st->boot_key, "boot key")) < 0 ||
	    (r = get_text(&b, st->level, "level")) < 0 ||
	    (r = get_text(&b, st->patch_id, "patch id")) < 0 ||
	    (r = hv_buf_copy(&b, st->bundle_sha256, 32)) < 0)
		return r;
	for (i = 0; i < st->nsites; i++) {
		struct hvp_site *s = &st->sites[i];

		if ((r = hv_buf_get_u64(&b, &s->site_gva)) < 0 ||
		    (r = hv_buf_get_u64(&b, &s->site_gpa)) < 0 ||
		    (r = hv_buf_get_u64(&b, &s->target_gva)) < 0 ||
		    (r = hv_buf_copy(&b, s->orig, 5)) < 0 || (r = hv_buf_copy(&b, s->jmp, 5)) < 0 ||
		    (r = hv_buf_get_u16(&b, &flags)) < 0 ||
		    (r = get_text(&b, s->name, "site name")) < 0)
			return r;
		/* Version 1 kept these bits reserved. */
		if (version >= 2) {
			if (flags & ~HVP_SITE_FLAGS_KNOWN)
				return hv_err(HV_E_FORMAT,
					      "patch-area record: site %s has unknown flags 0x%x",
					      s->name, flags);
			s->flags = flags;
		}
	}
	if (version >= 3 && ((r = hv_buf_get_u32(&b, &st->code_offset)) < 0 ||
			     (r = hv_buf_get_u32(&b, &st->slot_used[0])) < 0 ||
			     (r = hv_buf_get_u32(&b, &st->slot_used[1])) < 0))
		return r;
	if (st->code_offset > HVP_STATE_CODE_MAX || st->slot_used[0] > HVP_STATE_CODE_MAX ||
	    st->slot_used[1] > HVP_STATE_CODE_MAX)
		return hv_err(HV_E_FORMAT,
			      "patch-area record has a code offset or slot use beyond %u bytes",
			      HVP_STATE_CODE_MAX);
	if (st->active_slot == HVP_NO_SLOT && st->nsites)
		return hv_err(HV_E_FORMAT, "patch-area record has sites but no active slot");
	return 1;
}
