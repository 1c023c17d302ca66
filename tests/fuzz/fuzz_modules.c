/*
 * libhvi's reader of the guest's module list and module symbol tables over
 * a hostile guest RAM.  Input: a 16-byte header, then the RAM
 * (guest-physical 0 onwards, at most 1 MiB), which the fuzzer maps twice
 * with page tables of its own: at the kernel's direct map
 * (0xffff888000000000) and at the module area (0xffffffffc0000000), so a
 * module's core layout can lie in the RAM too:
 *
 *   u32 offset of the list head `modules` (direct map)
 *   u32 unused    u64 an address looked up in every module
 *
 * with the Debian 6.1 layout (struct module: state 0, list 8, name 24,
 * core_layout 320, kallsyms 544; struct mod_kallsyms: symtab 0,
 * num_symtab 8, strtab 16, typetab 24).  Every call must end in bounded
 * time with a result or an error carrying its sentence; every module name
 * and symbol name must be printable ASCII; every symbol must lie inside
 * its module's core layout and be found again by name and by address.
 * Seed: two-modules (a list of two modules with four symbols each).
 */
/* clang-format off */
/* fuzz-sources: introspection/hvi_modules.c introspection/hvi_btf.c introspection/hvi_paging.c introspection/hvi_mem.c introspection/hvi_text.c hvpatch/common/hv_error.c */
/* clang-format on */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvi_modules.h"
#include "hvi_paging.h"
#include "hvi_text.h"

#define PO	    0xffff888000000000ull
#define HDR	    16u
#define RAM_MAX	    (1u << 20)
#define TABLE_BYTES 4096u
#define MODS_READ   8u /* symbol tables read per input */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct hvi_modules_layout L61 = {
	.mod_state = 0,
	.mod_list = 8,
	.mod_name = 24,
	.mod_kallsyms = 544,
	.core_base = 320,
	.core_size = 328,
	.core_text_size = 332,
	.core_ro_size = 336,
	.ks_symtab = 0,
	.ks_num_symtab = 8,
	.ks_strtab = 16,
	.ks_typetab = 24,
	.state_live = 0,
	.state_coming = 1,
	.state_going = 2,
	.state_unformed = 3,
};

static uint64_t get(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put64(uint8_t *p, uint64_t v)
{
	unsigned i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Every symbol of @s is inside @m's core, printable, and found again. */
static void check_syms(const struct hvi_module *m, const struct hvi_modsyms *s, uint64_t probe)
{
	size_t i, n = hvi_modsyms_count(s);
	struct hvi_modsym a, b;
	uint64_t off;
	char q[HVI_MODULE_SYM_NAME_MAX + 16];

	for (i = 0; i < n; i++) {
		if (hvi_modsyms_get(s, i, &a) != 0)
			abort();
		if (a.addr < m->base || a.addr >= m->base + m->size || !a.name[0] ||
		    strlen(a.name) > HVI_MODULE_SYM_NAME_MAX ||
		    !hvi_text_printable(a.name, strlen(a.name)) || a.dup_index >= a.dup_count ||
		    (a.size && a.addr + a.size > m->base + m->size))
			abort();
		snprintf(q, sizeof(q), "%s@%u", a.name, a.dup_index);
		if (hvi_modsyms_lookup(s, q, &b) != 0 || b.addr != a.addr)
			abort();
		if (hvi_modsyms_by_addr(s, a.addr, &b, &off) != 0 || b.addr != a.addr || off)
			abort();
	}
	if (hvi_modsyms_by_addr(s, probe, &b, &off) == 0 &&
	    (probe < b.addr || probe - b.addr != off || probe >= m->base + m->size))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[RAM_MAX + 3 * TABLE_BYTES];
	struct hvi_flat_mem flat;
	struct hvi_mem mem;
	struct hvi_paging pg;
	struct hvi_modlist *l = NULL;
	uint64_t ram_len, pml4, pdpt_po, pdpt_mod, probe;
	size_t i;
	int r;

	if (size < HDR || size - HDR > RAM_MAX)
		return 0;
	ram_len = ((size - HDR) + TABLE_BYTES - 1) / TABLE_BYTES * TABLE_BYTES;
	memset(buf, 0, ram_len + 3 * TABLE_BYTES);
	memcpy(buf, data + HDR, size - HDR);
	/* PML4 -> PDPT -> one 1 GiB page at guest-physical 0, twice. */
	pml4 = ram_len;
	pdpt_po = ram_len + TABLE_BYTES;
	pdpt_mod = ram_len + 2 * TABLE_BYTES;
	put64(buf + pml4 + 8 * ((PO >> 39) & 511), pdpt_po | 0x3);
	put64(buf + pdpt_po, 0x83);
	put64(buf + pml4 + 8 * 511, pdpt_mod | 0x3);
	put64(buf + pdpt_mod + 8 * 511, 0x83);
	hvi_mem_flat(&mem, &flat, buf, ram_len + 3 * TABLE_BYTES);
	if (hvi_paging_init(&pg, &mem, pml4, 0) < 0)
		abort();
	probe = get(data + 8, 8);
	r = hvi_modules_read(&pg, &L61, PO + get(data, 4), &l);
	if (r < 0) {
		if (hv_err_last()->code != r || !hv_err_last()->msg[0] || l)
			abort();
		return 0;
	}
	if ((size_t)r != l->n || l->n > HVI_MODULES_MAX)
		abort();
	for (i = 0; i < l->n; i++) {
		const struct hvi_module *m = &l->mods[i];

		if (strlen(m->name) > HVI_MODULE_NAME_LEN ||
		    !hvi_text_printable(m->name, strlen(m->name)))
			abort();
	}
	for (i = 0; i < l->n && i < MODS_READ; i++) {
		const struct hvi_module *m = &l->mods[i];
		struct hvi_modsyms *s = NULL;
		struct hvi_modsym a, b;
		char q[HVI_MODULE_NAME_LEN + HVI_MODULE_SYM_NAME_MAX + 16],
			nb[HVI_MODULE_SYM_NAME_MAX + 1];

		r = hvi_module_syms_read(&pg, &L61, m, &s);
		if (r < 0) {
			if (hv_err_last()->code != r || s)
				abort();
			continue;
		}
		if ((size_t)r != hvi_modsyms_count(s))
			abort();
		check_syms(m, s, probe);
		/* The qualified name of the first symbol resolves to it (the
		 * first module of that name is the one the list names). */
		if (r > 0 && hvi_modlist_find(l, m->name) == m && !strchr(m->name, ':') &&
		    hvi_modsyms_get(s, 0, &a) == 0) {
			snprintf(q, sizeof(q), "%s:%s@%u", m->name, a.name, a.dup_index);
			if (hvi_modules_resolve(&pg, &L61, l, q, &b, nb, sizeof(nb), NULL) == 0 &&
			    b.addr != a.addr)
				abort();
		}
		hvi_modsyms_free(s);
	}
	hvi_modlist_free(l);
	return 0;
}
