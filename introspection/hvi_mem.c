/* Guarded so the fuzz runner (tests/fuzz/run.sh) can build it without configure. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "hvi_mem.h"

#include <string.h>

int hvi_mem_read(const struct hvi_mem *m, uint64_t gpa, void *buf, size_t len)
{
	int r;

	if (!m || !m->read) {
		r = hv_err(HV_E_INVAL, "guest memory has no read callback; this is a bug in the "
				       "caller of libhvi");
		goto out;
	}
	if (gpa >= m->max_gpa || len > m->max_gpa - gpa) {
		r = hv_err(HV_E_RANGE,
			   "guest-physical range 0x%llx..0x%llx lies outside guest RAM (which "
			   "ends at 0x%llx), so the guest's tables point at memory that does "
			   "not exist; the guest kernel's memory is inconsistent or hostile",
			   (unsigned long long)gpa, (unsigned long long)(gpa + len),
			   (unsigned long long)m->max_gpa);
		goto out;
	}
	r = m->read(m->ctx, gpa, buf, len);
	if (r > 0)
		r = 0;
out:
	return r;
}

const uint8_t *hvi_mem_map(const struct hvi_mem *m, uint64_t gpa, size_t len)
{
	if (!m || !m->map || gpa >= m->max_gpa || len > m->max_gpa - gpa)
		return NULL;
	return m->map(m->ctx, gpa, len);
}

static int flat_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	const struct hvi_flat_mem *f = ctx;

	if (gpa > f->size_bytes || len > f->size_bytes - gpa)
		return hv_err(HV_E_RANGE,
			      "read of %zu bytes at guest-physical 0x%llx is outside "
			      "the %llu-byte memory image",
			      len, (unsigned long long)gpa, (unsigned long long)f->size_bytes);
	memcpy(buf, f->base + gpa, len);
	return 0;
}

static const uint8_t *flat_map(void *ctx, uint64_t gpa, size_t len)
{
	const struct hvi_flat_mem *f = ctx;

	if (gpa > f->size_bytes || len > f->size_bytes - gpa)
		return NULL;
	return f->base + gpa;
}

void hvi_mem_flat(struct hvi_mem *m, struct hvi_flat_mem *flat, const void *base,
		  uint64_t size_bytes)
{
	flat->base = base;
	flat->size_bytes = base ? size_bytes : 0;
	m->read = flat_read;
	m->map = flat_map;
	m->ctx = flat;
	m->max_gpa = flat->size_bytes;
}
