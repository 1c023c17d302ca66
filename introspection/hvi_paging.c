/* Guarded so the fuzz runner (tests/fuzz/run.sh) can build it without configure. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "hvi_paging.h"

#include <string.h>

#define ENTRIES 512u

static unsigned level_shift(unsigned level)
{
	return 12 + 9 * (level - 1);
}

static unsigned gva_index(uint64_t gva, unsigned level)
{
	return (unsigned)((gva >> level_shift(level)) & (ENTRIES - 1));
}

/* Physical address mask of a leaf at @level (PAT bit 12 excluded for large pages). */
static uint64_t leaf_mask(unsigned level)
{
	return HVI_PTE_ADDR & ~((1ull << level_shift(level)) - 1);
}

bool hvi_gva_canonical(const struct hvi_paging *pg, uint64_t gva)
{
	unsigned bits = pg->levels == 5 ? 57 : 48;
	int64_t s = (int64_t)(gva << (64 - bits)) >> (64 - bits);

	return (uint64_t)s == gva;
}

const char *hvi_paging_mode_name(const struct hvi_paging *pg)
{
	return pg->levels == 5 ? "5-level" : "4-level";
}

int hvi_paging_init(struct hvi_paging *pg, const struct hvi_mem *mem, uint64_t cr3, uint64_t cr4)
{
	int r = 0;

	memset(pg, 0, sizeof(*pg));
	pg->mem = mem;
	pg->cr3 = cr3;
	pg->levels = (cr4 & HVI_CR4_LA57) ? 5 : 4;
	pg->pti_user = (cr3 & HVI_CR3_PTI_USER) != 0;
	pg->pgd_gpa = cr3 & HVI_PTE_ADDR & ~0x1fffull;
	if (!mem || pg->pgd_gpa >= mem->max_gpa || mem->max_gpa - pg->pgd_gpa < HVI_PAGE_4K) {
		r = hv_err(HV_E_RANGE,
			   "the top-level page table at guest-physical 0x%llx (from CR3 0x%llx) "
			   "lies outside guest RAM; check that the CR3 value is the guest's",
			   (unsigned long long)pg->pgd_gpa, (unsigned long long)cr3);
		goto out;
	}
out:
	return r;
}

static int read_entry(const struct hvi_paging *pg, uint64_t table_gpa, unsigned index, uint64_t *e)
{
	uint8_t b[8];
	int r = hvi_mem_read(pg->mem, table_gpa + 8ull * index, b, sizeof(b));
	unsigned i;

	if (r < 0)
		return r;
	*e = 0;
	for (i = 8; i-- > 0;)
		*e = (*e << 8) | b[i];
	return 0;
}

int hvi_walk(const struct hvi_paging *pg, uint64_t gva, struct hvi_walk *w)
{
	uint64_t table = pg->pgd_gpa, e = 0;
	unsigned level, i, writable = 1, user = 1, nx = 0;
	int r = 0;

	memset(w, 0, sizeof(*w));
	w->gva = gva;
	if (!hvi_gva_canonical(pg, gva)) {
		r = hv_err(HV_E_FORMAT, "virtual address 0x%llx is not canonical under %s paging",
			   (unsigned long long)gva, hvi_paging_mode_name(pg));
		goto out;
	}
	for (level = pg->levels; level >= 1; level--) {
		struct hvi_walk_level *lv = &w->lv[w->nlevels++];

		lv->level = level;
		lv->index = gva_index(gva, level);
		lv->table_gpa = table;
		for (i = 0; i + 1 < w->nlevels; i++) {
			if (w->lv[i].table_gpa == table) {
				r = hv_err(HV_E_FORMAT,
					   "page table at guest-physical 0x%llx appears at level "
					   "%u and again at level %u while translating 0x%llx: "
					   "the guest's page tables loop",
					   (unsigned long long)table, w->lv[i].level, level,
					   (unsigned long long)gva);
				goto out;
			}
		}
		r = read_entry(pg, table, lv->index, &e);
		if (r < 0)
			goto out;
		lv->entry = e;
		if (!(e & HVI_PTE_P)) {
			r = HV_E_NOTFOUND;
			hv_err(r,
			       "virtual address 0x%llx is not mapped: level-%u entry %u of the "
			       "table at guest-physical 0x%llx is not present",
			       (unsigned long long)gva, level, lv->index,
			       (unsigned long long)table);
			goto out;
		}
		writable &= (e & HVI_PTE_RW) ? 1u : 0u;
		user &= (e & HVI_PTE_US) ? 1u : 0u;
		nx |= (e & HVI_PTE_NX) ? 1u : 0u;
		if ((e & HVI_PTE_PS) && level >= 4) {
			r = hv_err(HV_E_FORMAT,
				   "level-%u entry %u (0x%016llx) of the table at guest-physical "
				   "0x%llx sets the page-size bit, which is reserved at that level",
				   level, lv->index, (unsigned long long)e,
				   (unsigned long long)table);
			goto out;
		}
		if (level == 1 || (e & HVI_PTE_PS)) {
			uint64_t size = 1ull << level_shift(level);

			w->page_gpa = e & leaf_mask(level);
			w->gpa = w->page_gpa | (gva & (size - 1));
			w->page_size = size;
			w->perms = (writable ? HVI_PERM_W : 0) | (user ? HVI_PERM_U : 0) |
				   (nx ? HVI_PERM_NX : 0);
			w->mapped = true;
			goto out;
		}
		table = e & HVI_PTE_ADDR;
		if (table >= pg->mem->max_gpa || pg->mem->max_gpa - table < HVI_PAGE_4K) {
			r = hv_err(HV_E_RANGE,
				   "level-%u entry %u (0x%016llx) of the table at guest-physical "
				   "0x%llx points at 0x%llx, outside guest RAM (ends at 0x%llx)",
				   level, lv->index, (unsigned long long)e,
				   (unsigned long long)lv->table_gpa, (unsigned long long)table,
				   (unsigned long long)pg->mem->max_gpa);
			goto out;
		}
	}
out:
	return r;
}

int hvi_translate(const struct hvi_paging *pg, uint64_t gva, uint64_t *gpa, unsigned *perms)
{
	struct hvi_walk w;
	int r = hvi_walk(pg, gva, &w);

	if (r < 0)
		goto out;
	*gpa = w.gpa;
	if (perms)
		*perms = w.perms;
out:
	return r;
}

int hvi_read_virt(const struct hvi_paging *pg, uint64_t gva, void *buf, size_t len)
{
	uint8_t *dst = buf;
	int r = 0;

	while (len > 0) {
		struct hvi_walk w;
		uint64_t chunk;

		r = hvi_walk(pg, gva, &w);
		if (r < 0)
			goto out;
		chunk = w.page_size - (gva & (w.page_size - 1));
		if (chunk > len)
			chunk = len;
		r = hvi_mem_read(pg->mem, w.gpa, dst, (size_t)chunk);
		if (r < 0)
			goto out;
		dst += chunk;
		len -= (size_t)chunk;
		gva += chunk;
	}
out:
	return r;
}

struct enum_state {
	const struct hvi_paging *pg;
	uint64_t start, end; /* inclusive end (last byte) to avoid overflow */
	uint64_t budget, spent;
	hvi_mapping_fn fn;
	void *opaque;
	int count;
	bool stop;
	uint64_t path[5]; /* tables on the current path, to reject loops */
};

static uint64_t sign_extend(const struct hvi_paging *pg, uint64_t va)
{
	unsigned bits = pg->levels == 5 ? 57 : 48;

	return (uint64_t)((int64_t)(va << (64 - bits)) >> (64 - bits));
}

/* The virtual address without its sign extension: bits 0..47 (or 0..56). */
static uint64_t raw_mask(const struct hvi_paging *pg)
{
	return pg->levels == 5 ? (1ull << 57) - 1 : (1ull << 48) - 1;
}

static int enum_table(struct enum_state *s, uint64_t table, unsigned level, uint64_t base,
		      unsigned perm_w, unsigned perm_u, unsigned perm_nx)
{
	uint8_t raw[ENTRIES * 8];
	unsigned shift = level_shift(level), first, last, i, j, depth = s->pg->levels - level;
	uint64_t span = 1ull << shift;
	int r = 0;

	for (j = 0; j < depth; j++) {
		if (s->path[j] == table) {
			r = hv_err(HV_E_FORMAT,
				   "page table at guest-physical 0x%llx refers back to itself "
				   "through level %u: the guest's page tables loop",
				   (unsigned long long)table, level);
			goto out;
		}
	}
	s->path[depth] = table;
	/* The part of this table that overlaps [start, end] (raw, unextended addresses). */
	first = s->start > base ? (unsigned)((s->start - base) >> shift) : 0;
	last = ((s->end - base) >> shift) >= ENTRIES ? ENTRIES - 1
						     : (unsigned)((s->end - base) >> shift);
	if (s->spent + (last - first + 1) > s->budget) {
		r = hv_err(HV_E_RANGE,
			   "enumerating mappings of 0x%llx..0x%llx needs more than %llu page-table "
			   "entries; the guest's tables are abnormally large or point at each "
			   "other",
			   (unsigned long long)s->start, (unsigned long long)s->end,
			   (unsigned long long)s->budget);
		goto out;
	}
	s->spent += last - first + 1;
	r = hvi_mem_read(s->pg->mem, table + 8ull * first, raw, 8ull * (last - first + 1));
	if (r < 0)
		goto out;
	for (i = first; i <= last && !s->stop; i++) {
		uint64_t e = 0, va = base + (uint64_t)i * span;
		unsigned w, u, nx;

		for (j = 8; j-- > 0;)
			e = (e << 8) | raw[8 * (i - first) + j];
		if (!(e & HVI_PTE_P))
			continue;
		w = perm_w & ((e & HVI_PTE_RW) ? 1u : 0u);
		u = perm_u & ((e & HVI_PTE_US) ? 1u : 0u);
		nx = perm_nx | ((e & HVI_PTE_NX) ? 1u : 0u);
		if ((e & HVI_PTE_PS) && level >= 4) {
			r = hv_err(HV_E_FORMAT,
				   "level-%u entry %u (0x%016llx) of the table at guest-physical "
				   "0x%llx sets the page-size bit, which is reserved at that level",
				   level, i, (unsigned long long)e, (unsigned long long)table);
			goto out;
		}
		if (level == 1 || (e & HVI_PTE_PS)) {
			struct hvi_mapping m;

			m.gva = sign_extend(s->pg, va);
			m.gpa = e & leaf_mask(level);
			m.size = span;
			m.perms = (w ? HVI_PERM_W : 0) | (u ? HVI_PERM_U : 0) |
				  (nx ? HVI_PERM_NX : 0);
			m.level = level;
			s->count++;
			r = s->fn(s->opaque, &m);
			if (r < 0)
				goto out;
			if (r > 0) {
				s->stop = true;
				r = 0;
			}
			continue;
		}
		{
			uint64_t next = e & HVI_PTE_ADDR;

			if (next >= s->pg->mem->max_gpa ||
			    s->pg->mem->max_gpa - next < HVI_PAGE_4K) {
				r = hv_err(HV_E_RANGE,
					   "level-%u entry %u (0x%016llx) of the table at "
					   "guest-physical 0x%llx points at 0x%llx, outside guest "
					   "RAM (ends at 0x%llx)",
					   level, i, (unsigned long long)e,
					   (unsigned long long)table, (unsigned long long)next,
					   (unsigned long long)s->pg->mem->max_gpa);
				goto out;
			}
			r = enum_table(s, next, level - 1, va, w, u, nx);
			if (r < 0)
				goto out;
		}
	}
out:
	return r;
}

int hvi_enum_mappings(const struct hvi_paging *pg, uint64_t gva_start, uint64_t gva_end,
		      uint64_t budget, hvi_mapping_fn fn, void *opaque)
{
	struct enum_state s;
	int r;

	memset(&s, 0, sizeof(s));
	if (!fn || gva_end <= gva_start || !hvi_gva_canonical(pg, gva_start) ||
	    !hvi_gva_canonical(pg, gva_end - 1) || (gva_start >> 63) != ((gva_end - 1) >> 63)) {
		r = hv_err(HV_E_INVAL,
			   "cannot enumerate mappings of 0x%llx..0x%llx: the range must be "
			   "non-empty, canonical under %s paging and inside one half of the "
			   "address space",
			   (unsigned long long)gva_start, (unsigned long long)gva_end,
			   hvi_paging_mode_name(pg));
		goto out;
	}
	s.pg = pg;
	s.start = gva_start & raw_mask(pg);
	s.end = (gva_end - 1) & raw_mask(pg);
	s.budget = budget ? budget : HVI_ENUM_DEFAULT_BUDGET;
	s.fn = fn;
	s.opaque = opaque;
	r = enum_table(&s, pg->pgd_gpa, pg->levels, 0, 1, 1, 0);
	if (r >= 0)
		r = s.count;
out:
	return r;
}
