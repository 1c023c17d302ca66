/*
 * libhvi's page walks, enumeration, kernel locator and image reader over a
 * hostile guest RAM.  Input: a 16-byte header (CR3, CR4 flag byte, a virtual
 * address) and then the RAM itself (guest-physical 0 onwards).  Every walk
 * must end in bounded time with a result inside RAM or an error.
 */
/* clang-format off */
/* fuzz-sources: introspection/hvi_paging.c introspection/hvi_kernel.c introspection/hvi_kallsyms.c introspection/hvi_mem.c hvpatch/common/hv_buf.c hvpatch/common/hv_hex.c hvpatch/common/hv_error.c */
/* clang-format on */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hvi_kernel.h"
#include "hvi_paging.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count(void *opaque, const struct hvi_mapping *m)
{
	(void)m;
	++*(unsigned *)opaque;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hvi_flat_mem flat;
	struct hvi_mem mem;
	struct hvi_paging pg;
	struct hvi_walk w;
	struct hvi_kernel_loc loc;
	uint64_t cr3 = 0, gva = 0, gpa;
	uint8_t buf[64];
	unsigned i, n = 0;
	int r;

	if (size < 16 + 4096)
		return 0;
	for (i = 0; i < 6; i++)
		cr3 |= (uint64_t)data[i] << (8 * i);
	for (i = 0; i < 8; i++)
		gva |= (uint64_t)data[8 + i] << (8 * i);
	hvi_mem_flat(&mem, &flat, data + 16, size - 16);
	if (data[7] & 2)
		mem.map = NULL; /* exercise the copying image reader */
	if (hvi_paging_init(&pg, &mem, cr3 % (size - 16), (data[6] & 1) ? HVI_CR4_LA57 : 0) < 0)
		return 0;
	r = hvi_walk(&pg, gva, &w);
	if (r == 0 && (!w.mapped || w.nlevels > pg.levels || w.gpa >= (1ull << 52)))
		abort();
	if (w.nlevels > 5)
		abort();
	(void)hvi_translate(&pg, 0xffffffff81000000ull, &gpa, NULL);
	(void)hvi_read_virt(&pg, gva, buf, sizeof(buf));
	r = hvi_enum_mappings(&pg, 0xffff800000000000ull, 0xfffffffffffff000ull, 100000, count, &n);
	if (r >= 0 && (unsigned)r != n)
		abort();
	if (hvi_locate_kernel(&pg, &loc) == 0) {
		struct hvi_image img;

		if (loc.first_index >= loc.end_index || loc.end_index > HVI_L2_ENTRIES)
			abort();
		if (hvi_read_image(&pg, &loc, &img) == 0) {
			struct hvi_ksyms_tables t;

			if (img.len != loc.image_end_gva - loc.text_gva)
				abort();
			(void)hvi_ksyms_find(img.p, img.len, &t);
			hvi_image_release(&img);
		}
	}
	return 0;
}
