/*
 * libhvi page walks over synthetic page tables: every page size, 4- and
 * 5-level paging, PTI user CR3s, accumulated permissions, enumeration, the
 * kernel locator, and hostile tables (outside RAM, loops, reserved bits,
 * multiplying tables, truncated RAM, random corruption).
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hvi_kernel.h"
#include "hvi_paging.h"
#include "hvi_testlib.h"

#define RAM	  (64ull << 20)
#define TABLES	  (32ull << 20)
#define TABLES_SZ (8ull << 20)

static struct tmem t;
static struct hvi_paging pg;

static void setup(unsigned levels)
{
	ck_assert_int_eq(tmem_init(&t, RAM, TABLES, TABLES_SZ, levels), 0);
}

static void init_pg(uint64_t cr3)
{
	ck_assert_int_eq(hvi_paging_init(&pg, &t.mem, cr3, tmem_cr4(&t)), 0);
}

static uint64_t xlate(uint64_t gva, unsigned *perms)
{
	uint64_t gpa = 0;
	int r = hvi_translate(&pg, gva, &gpa, perms);

	ck_assert_msg(r == 0, "translate 0x%llx: %s", (unsigned long long)gva, hv_err_last()->msg);
	return gpa;
}

static void all_sizes(unsigned levels)
{
	const uint64_t k = 0xffffffff81000000ull, m = 0xffff888000000000ull;
	struct hvi_walk w;
	unsigned perms;

	setup(levels);
	tmem_map(&t, k, 0x200000, HVI_PAGE_2M, HVI_PTE_G);
	tmem_map(&t, k + HVI_PAGE_2M + 0x3000, 0x5000, HVI_PAGE_4K, HVI_PTE_RW | HVI_PTE_NX);
	tmem_map(&t, m, 0x40000000, HVI_PAGE_1G, HVI_PTE_RW | HVI_PTE_NX);
	tmem_map(&t, 0x400000, 0x9000, HVI_PAGE_4K, HVI_PTE_US | HVI_PTE_RW);
	init_pg(t.pgd);
	ck_assert_uint_eq(pg.levels, levels);
	ck_assert_uint_eq(xlate(k + 0x12345, &perms), 0x212345);
	ck_assert_uint_eq(perms, 0); /* read-only, executable, supervisor */
	ck_assert_uint_eq(xlate(k + HVI_PAGE_2M + 0x3abc, &perms), 0x5abc);
	ck_assert_uint_eq(perms, HVI_PERM_W | HVI_PERM_NX);
	ck_assert_uint_eq(xlate(m + 0x3fffffff, &perms), 0x7fffffff);
	ck_assert_uint_eq(perms, HVI_PERM_W | HVI_PERM_NX);
	ck_assert_uint_eq(xlate(0x400123, &perms), 0x9123);
	ck_assert_uint_eq(perms, HVI_PERM_W | HVI_PERM_U);
	/* the walk records every level */
	ck_assert_int_eq(hvi_walk(&pg, k + HVI_PAGE_2M + 0x3abc, &w), 0);
	ck_assert_uint_eq(w.nlevels, levels);
	ck_assert_uint_eq(w.lv[0].level, levels);
	ck_assert_uint_eq(w.lv[0].table_gpa, t.pgd);
	ck_assert_uint_eq(w.lv[levels - 1].level, 1);
	ck_assert_uint_eq(w.lv[levels - 1].index, 3);
	ck_assert_uint_eq(w.lv[levels - 1].entry & HVI_PTE_ADDR, 0x5000);
	ck_assert_uint_eq(w.page_size, HVI_PAGE_4K);
	ck_assert_int_eq(hvi_walk(&pg, m + 5, &w), 0);
	ck_assert_uint_eq(w.page_size, HVI_PAGE_1G);
	ck_assert_uint_eq(w.nlevels, levels - 2);
	/* not mapped: the walk says where it stopped */
	ck_assert_int_eq(hvi_walk(&pg, k + 2 * HVI_PAGE_2M, &w), HV_E_NOTFOUND);
	ck_assert_uint_eq(w.lv[w.nlevels - 1].level, 2);
	ck_assert_uint_eq(w.lv[w.nlevels - 1].index, ((k >> 21) & 511) + 2);
	ck_assert_uint_eq(w.lv[w.nlevels - 1].entry, 0);
	ck_assert(!w.mapped);
	ck_assert_int_eq(hvi_walk(&pg, k + HVI_PAGE_2M + 0x4000, &w), HV_E_NOTFOUND);
	ck_assert_uint_eq(w.lv[w.nlevels - 1].level, 1);
	tmem_free(&t);
}

START_TEST(test_4level_all_sizes)
{
	all_sizes(4);
}
END_TEST

START_TEST(test_5level_all_sizes)
{
	all_sizes(5);
}
END_TEST

/* Addresses only 5-level paging can express, and canonical checks of each mode. */
START_TEST(test_5level_high_addresses)
{
	const uint64_t va = 0xff11000000000000ull; /* PML5 index 0x111 */
	struct hvi_walk w;

	setup(5);
	tmem_map(&t, va, 0x123000, HVI_PAGE_4K, 0);
	init_pg(t.pgd);
	ck_assert(hvi_gva_canonical(&pg, va));
	ck_assert_uint_eq(xlate(va + 7, NULL), 0x123007);
	ck_assert_int_eq(hvi_walk(&pg, va, &w), 0);
	ck_assert_uint_eq(w.lv[0].index, 0x111);
	ck_assert_str_eq(hvi_paging_mode_name(&pg), "5-level");
	ck_assert_int_eq(hvi_paging_init(&pg, &t.mem, t.pgd, 0), 0);
	ck_assert(!hvi_gva_canonical(&pg, va));
	ck_assert_int_eq(hvi_walk(&pg, va, &w), HV_E_FORMAT);
	ck_assert_int_eq(hvi_walk(&pg, 0x0000800000000000ull, &w), HV_E_FORMAT);
	tmem_free(&t);
}
END_TEST

/* A PTI user CR3 (bit 12, PCID, no-flush bit) walks the kernel half. */
START_TEST(test_pti_user_cr3)
{
	const uint64_t k = 0xffffffff81000000ull;
	uint64_t user_pgd;

	setup(4);
	tmem_map(&t, k, 0x200000, HVI_PAGE_2M, 0);
	user_pgd = t.pgd + HVI_PAGE_4K;
	/* the user half maps the kernel address elsewhere (like a trampoline) */
	tmem_set(&t, user_pgd, 511, tmem_get(&t, t.pgd, 511) + 0); /* same upper table */
	tmem_set(&t, user_pgd, 511, 0);
	init_pg(t.pgd | HVI_CR3_PTI_USER | 0x7b | (1ull << 63));
	ck_assert(pg.pti_user);
	ck_assert_uint_eq(pg.pgd_gpa, t.pgd);
	ck_assert_uint_eq(xlate(k + 0x10, NULL), 0x200010);
	/* a kernel CR3 with PCID bits is the same table */
	init_pg(t.pgd | 0x5);
	ck_assert(!pg.pti_user);
	ck_assert_uint_eq(xlate(k + 0x10, NULL), 0x200010);
	tmem_free(&t);
}
END_TEST

/* Permissions accumulate: RW and US need every level, NX at any level. */
START_TEST(test_permissions_accumulate)
{
	const uint64_t va = 0xffffc90000001000ull;
	uint64_t pt;
	unsigned perms;
	struct hvi_walk w;

	setup(4);
	pt = tmem_map(&t, va, 0x7000, HVI_PAGE_4K, HVI_PTE_RW | HVI_PTE_US);
	init_pg(t.pgd);
	xlate(va, &perms);
	ck_assert_uint_eq(perms, HVI_PERM_W | HVI_PERM_U);
	ck_assert_int_eq(hvi_walk(&pg, va, &w), 0);
	/* clear RW in the PD entry: not writable any more; set NX in the PDPT entry */
	tmem_set(&t, w.lv[2].table_gpa, w.lv[2].index, w.lv[2].entry & ~HVI_PTE_RW);
	tmem_set(&t, w.lv[1].table_gpa, w.lv[1].index, w.lv[1].entry | HVI_PTE_NX);
	xlate(va, &perms);
	ck_assert_uint_eq(perms, HVI_PERM_U | HVI_PERM_NX);
	/* clear US in the PML4 entry */
	tmem_set(&t, w.lv[0].table_gpa, w.lv[0].index, w.lv[0].entry & ~HVI_PTE_US);
	xlate(va, &perms);
	ck_assert_uint_eq(perms, HVI_PERM_NX);
	(void)pt;
	tmem_free(&t);
}
END_TEST

START_TEST(test_read_virt_across_pages)
{
	const uint64_t va = 0xffffffffa0000ff0ull;
	uint8_t buf[32];
	unsigned i;

	setup(4);
	tmem_map(&t, va & ~0xfffull, 0x10000, HVI_PAGE_4K, 0);
	tmem_map(&t, (va & ~0xfffull) + 0x1000, 0x30000, HVI_PAGE_4K, 0);
	for (i = 0; i < 16; i++) {
		t.ram[0x10ff0 + i] = (uint8_t)i;
		t.ram[0x30000 + i] = (uint8_t)(0x80 + i);
	}
	init_pg(t.pgd);
	ck_assert_int_eq(hvi_read_virt(&pg, va, buf, sizeof(buf)), 0);
	for (i = 0; i < 16; i++) {
		ck_assert_uint_eq(buf[i], i);
		ck_assert_uint_eq(buf[16 + i], 0x80 + i);
	}
	ck_assert_int_eq(hvi_read_virt(&pg, va + 0x1000, buf, sizeof(buf)), HV_E_NOTFOUND);
	tmem_free(&t);
}
END_TEST

/* ---- hostile tables ---- */

START_TEST(test_table_outside_ram)
{
	const uint64_t va = 0xffffffff81000000ull;
	struct hvi_walk w;
	uint64_t gpa;

	setup(4);
	tmem_map(&t, va, 0x200000, HVI_PAGE_2M, 0);
	init_pg(t.pgd);
	ck_assert_int_eq(hvi_walk(&pg, va, &w), 0);
	/* the PDPT entry now points beyond RAM */
	tmem_set(&t, w.lv[1].table_gpa, w.lv[1].index, (RAM + 0x1000) | 0x63);
	ck_assert_int_eq(hvi_translate(&pg, va, &gpa, NULL), HV_E_RANGE);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "outside guest RAM"));
	/* a huge physical address (bit 51) too */
	tmem_set(&t, w.lv[1].table_gpa, w.lv[1].index, (1ull << 51) | 0x63);
	ck_assert_int_eq(hvi_translate(&pg, va, &gpa, NULL), HV_E_RANGE);
	/* CR3 beyond RAM */
	ck_assert_int_eq(hvi_paging_init(&pg, &t.mem, RAM + 0x2000, 0), HV_E_RANGE);
	tmem_free(&t);
}
END_TEST

/* RAM that ends in the middle of a table: the table is truncated. */
START_TEST(test_truncated_table)
{
	const uint64_t va = 0xffffffff81000000ull;
	struct hvi_walk w;
	uint64_t gpa;

	setup(4);
	tmem_map(&t, va, 0x200000, HVI_PAGE_2M, 0);
	init_pg(t.pgd);
	ck_assert_int_eq(hvi_walk(&pg, va, &w), 0);
	t.mem.max_gpa = w.lv[2].table_gpa + 0x800; /* PD only half inside RAM */
	ck_assert_int_eq(hvi_translate(&pg, va, &gpa, NULL), HV_E_RANGE);
	t.mem.max_gpa = RAM;
	tmem_free(&t);
}
END_TEST

START_TEST(test_self_referencing_table)
{
	struct hvi_walk w;
	uint64_t gpa;

	setup(4);
	init_pg(t.pgd);
	/* PML4[5] points at the PML4 itself (a recursive mapping) */
	tmem_set(&t, t.pgd, 5, t.pgd | 0x63);
	ck_assert_int_eq(hvi_walk(&pg, 5ull << 39, &w), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "loop"));
	ck_assert_uint_eq(w.nlevels, 2);
	/* a two-table cycle: PDPT[0] -> PML4 */
	tmem_set(&t, t.pgd, 6, (t.pgd + 0x4000) | 0x63);
	tmem_set(&t, t.pgd + 0x4000, 0, t.pgd | 0x63);
	ck_assert_int_eq(hvi_translate(&pg, 6ull << 39, &gpa, NULL), HV_E_FORMAT);
	tmem_free(&t);
}
END_TEST

START_TEST(test_reserved_page_size_bits)
{
	uint64_t gpa;

	setup(4);
	init_pg(t.pgd);
	tmem_set(&t, t.pgd, 3, 0x200000 | 0xe3); /* PS in a PML4 entry */
	ck_assert_int_eq(hvi_translate(&pg, 3ull << 39, &gpa, NULL), HV_E_FORMAT);
	tmem_free(&t);
	setup(5);
	init_pg(t.pgd);
	tmem_set(&t, t.pgd, 3, 0x200000 | 0xe3); /* PS in a PML5 entry */
	ck_assert_int_eq(hvi_translate(&pg, 3ull << 48, &gpa, NULL), HV_E_FORMAT);
	tmem_free(&t);
}
END_TEST

/* ---- enumeration ---- */

struct seen {
	int n;
	struct hvi_mapping m[64];
};

static int collect(void *opaque, const struct hvi_mapping *m)
{
	struct seen *s = opaque;

	if (s->n < 64)
		s->m[s->n] = *m;
	s->n++;
	return 0;
}

/* Counts table reads, to show non-present upper levels are skipped. */
struct counting {
	struct hvi_flat_mem flat;
	struct hvi_mem inner;
	unsigned reads;
};

static int counting_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct counting *c = ctx;

	c->reads++;
	return c->inner.read(c->inner.ctx, gpa, buf, len);
}

START_TEST(test_enumerate)
{
	const uint64_t k = 0xffffffff80000000ull;
	struct seen s;
	struct counting c;
	struct hvi_mem cm;
	int r;

	setup(4);
	tmem_map(&t, k + 0x1000000, 0x1000000, HVI_PAGE_2M, 0);
	tmem_map(&t, k + 0x1200000, 0x1200000, HVI_PAGE_2M, HVI_PTE_RW | HVI_PTE_NX);
	tmem_map(&t, k + 0x1400000, 0x2000000, HVI_PAGE_4K, HVI_PTE_RW);
	tmem_map(&t, k + 0x1402000, 0x2002000, HVI_PAGE_4K, HVI_PTE_RW);
	tmem_map(&t, 0xffff888000000000ull, 0, HVI_PAGE_1G, HVI_PTE_RW);
	init_pg(t.pgd);
	memset(&s, 0, sizeof(s));
	r = hvi_enum_mappings(&pg, k, k + HVI_PAGE_1G, 0, collect, &s);
	ck_assert_int_eq(r, 4);
	ck_assert_int_eq(s.n, 4);
	ck_assert_uint_eq(s.m[0].gva, k + 0x1000000);
	ck_assert_uint_eq(s.m[0].size, HVI_PAGE_2M);
	ck_assert_uint_eq(s.m[0].perms, 0);
	ck_assert_uint_eq(s.m[1].perms, HVI_PERM_W | HVI_PERM_NX);
	ck_assert_uint_eq(s.m[2].gva, k + 0x1400000);
	ck_assert_uint_eq(s.m[2].gpa, 0x2000000);
	ck_assert_uint_eq(s.m[2].size, HVI_PAGE_4K);
	ck_assert_uint_eq(s.m[3].gva, k + 0x1402000);
	/* a partial range: only what overlaps */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(hvi_enum_mappings(&pg, k + 0x1300000, k + 0x1401000, 0, collect, &s), 2);
	ck_assert_uint_eq(s.m[0].gva, k + 0x1200000);
	/* the whole kernel half reads only the few present tables */
	c.inner = t.mem;
	cm.read = counting_read;
	cm.ctx = &c;
	cm.max_gpa = RAM;
	c.reads = 0;
	pg.mem = &cm;
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(hvi_enum_mappings(&pg, 0xffff800000000000ull, 0, 0, collect, &s),
			 HV_E_INVAL); /* end 0 is below the start */
	ck_assert_int_eq(hvi_enum_mappings(&pg, 0xffff800000000000ull, 0xfffffffffffff000ull, 0,
					   collect, &s),
			 5);
	ck_assert_uint_le(c.reads, 8);
	tmem_free(&t);
}
END_TEST

/* 5-level enumeration: the kernel half spans PML5 entries 256..511. */
START_TEST(test_enumerate_5level)
{
	struct seen s;

	setup(5);
	tmem_map(&t, 0xff11000000000000ull, 0x5000, HVI_PAGE_4K, HVI_PTE_NX);
	tmem_map(&t, 0xffffffff81000000ull, 0x200000, HVI_PAGE_2M, 0);
	tmem_map(&t, 0x1000, 0x9000, HVI_PAGE_4K, HVI_PTE_US);
	init_pg(t.pgd);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(hvi_enum_mappings(&pg, 0xff00000000000000ull, 0xfffffffffffff000ull, 0,
					   collect, &s),
			 2);
	ck_assert_uint_eq(s.m[0].gva, 0xff11000000000000ull);
	ck_assert_uint_eq(s.m[0].perms, HVI_PERM_NX);
	ck_assert_uint_eq(s.m[1].gva, 0xffffffff81000000ull);
	ck_assert_uint_eq(s.m[1].level, 2);
	/* the user half */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(hvi_enum_mappings(&pg, 0, 1ull << 56, 0, collect, &s), 1);
	ck_assert_uint_eq(s.m[0].perms, HVI_PERM_U);
	/* a range crossing the halves is refused */
	ck_assert_int_eq(hvi_enum_mappings(&pg, 0, 0xfffffffffffff000ull, 0, collect, &s),
			 HV_E_INVAL);
	tmem_free(&t);
}
END_TEST

static int stop_early(void *opaque, const struct hvi_mapping *m)
{
	(void)m;
	return ++*(int *)opaque >= 2 ? 1 : 0;
}

START_TEST(test_enumerate_stop_and_budget)
{
	const uint64_t base = 0xffffc90000000000ull;
	uint64_t pd, pt;
	unsigned i;
	int calls = 0;
	struct seen s;

	setup(4);
	tmem_map(&t, base, 0x1000, HVI_PAGE_4K, 0);
	init_pg(t.pgd);
	ck_assert_int_eq(hvi_enum_mappings(&pg, base, base + HVI_PAGE_1G, 0, stop_early, &calls),
			 1);
	/* multiplying tables: every PD entry -> the same PT, every PT entry present */
	{
		struct hvi_walk w;

		ck_assert_int_eq(hvi_walk(&pg, base, &w), 0);
		pd = w.lv[2].table_gpa;
		pt = w.lv[3].table_gpa;
	}
	for (i = 0; i < 512; i++) {
		tmem_set(&t, pd, i, pt | 0x63);
		tmem_set(&t, pt, i, 0x1000 | 0x63);
	}
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(hvi_enum_mappings(&pg, base, base + HVI_PAGE_1G, 10000, collect, &s),
			 HV_E_RANGE);
	ck_assert_uint_le(s.n, 10000);
	/* with enough budget it completes: 512 * 512 leaves */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(hvi_enum_mappings(&pg, base, base + HVI_PAGE_1G, 0, collect, &s),
			 512 * 512);
	/* a loop in enumeration: PD entry -> the PDPT */
	{
		struct hvi_walk w;

		ck_assert_int_eq(hvi_walk(&pg, base, &w), 0);
		tmem_set(&t, pd, 7, w.lv[1].table_gpa | 0x63);
	}
	ck_assert_int_eq(hvi_enum_mappings(&pg, base, base + HVI_PAGE_1G, 0, collect, &s),
			 HV_E_FORMAT);
	tmem_free(&t);
}
END_TEST

/* ---- the kernel locator ---- */

START_TEST(test_locate_kernel)
{
	const uint64_t text = 0xffffffffb5400000ull;
	struct hvi_kernel_loc loc;
	unsigned i;

	setup(4);
	for (i = 0; i < 5; i++)
		tmem_map(&t, text + i * HVI_PAGE_2M, 0x1000000 + i * HVI_PAGE_2M, HVI_PAGE_2M, 0);
	/* a later run (a patch area) after a gap */
	tmem_map(&t, text + 7 * HVI_PAGE_2M, 0x3000000, HVI_PAGE_2M, 0);
	/* inside the image, one 2 MiB page split and fully unmapped (freed init) */
	{
		struct hvi_walk w;
		uint64_t pt = tmem_table(&t);

		init_pg(t.pgd);
		ck_assert_int_eq(hvi_walk(&pg, text + 2 * HVI_PAGE_2M, &w), 0);
		tmem_set(&t, w.lv[2].table_gpa, w.lv[2].index, pt | 0x63);
	}
	init_pg(t.pgd);
	ck_assert_int_eq(hvi_locate_kernel(&pg, &loc), 0);
	ck_assert_uint_eq(loc.text_gva, text);
	ck_assert_uint_eq(loc.text_gpa, 0x1000000);
	ck_assert_uint_eq(loc.first_index, 426);
	ck_assert_uint_eq(loc.end_index, 431);
	ck_assert_uint_eq(loc.image_end_gva, text + 5 * HVI_PAGE_2M);
	ck_assert_int_eq(loc.kaslr_offset, (int64_t)(text - HVI_KERNEL_LINK_TEXT));
	ck_assert_uint_eq(loc.l2_present, 6);
	ck_assert(hvi_l2_entry_free(&loc, 425));
	ck_assert(!hvi_l2_entry_free(&loc, 426));
	ck_assert(hvi_l2_entry_free(&loc, 431));
	ck_assert(!hvi_l2_entry_free(&loc, 433));
	ck_assert(!hvi_l2_entry_free(&loc, 512));
	ck_assert_uint_eq(hvi_l2_entry_gva(426), text);
	ck_assert_int_eq(hvi_l2_first_free_after_image(&loc), 431);
	ck_assert_uint_eq(hvi_l2_entry_gpa(&loc, 431), loc.l2_gpa + 431 * 8);
	ck_assert_uint_eq(tmem_get(&t, loc.l2_gpa, 433) & HVI_PTE_ADDR, 0x3000000);
	/* a patch area mapped right after the image is not part of it: */
	/* a 2 MiB page elsewhere, */
	tmem_map(&t, text + 5 * HVI_PAGE_2M, 0x3400000, HVI_PAGE_2M, 0);
	ck_assert_int_eq(hvi_locate_kernel(&pg, &loc), 0);
	ck_assert_uint_eq(loc.end_index, 431);
	/* a page table outside RAM (the area's own, in its BAR), */
	tmem_set(&t, loc.l2_gpa, 431, (RAM + 0x1000) | 0x63);
	ck_assert_int_eq(hvi_locate_kernel(&pg, &loc), 0);
	ck_assert_uint_eq(loc.end_index, 431);
	/* a page table mapping pages elsewhere */
	{
		uint64_t pt = tmem_table(&t);

		tmem_set(&t, pt, 0, 0x3800000 | 0x63);
		tmem_set(&t, loc.l2_gpa, 431, pt | 0x63);
		ck_assert_int_eq(hvi_locate_kernel(&pg, &loc), 0);
		ck_assert_uint_eq(loc.end_index, 431);
		/* while the linear continuation extends the image */
		tmem_set(&t, pt, 3, (0x1000000 + 5 * HVI_PAGE_2M + 3 * HVI_PAGE_4K) | 0x63);
		tmem_set(&t, pt, 0, 0);
		ck_assert_int_eq(hvi_locate_kernel(&pg, &loc), 0);
		ck_assert_uint_eq(loc.end_index, 432);
	}
	tmem_free(&t);
}
END_TEST

START_TEST(test_locate_kernel_hostile)
{
	struct hvi_kernel_loc loc;
	struct hvi_walk w;

	setup(4);
	init_pg(t.pgd);
	ck_assert_int_eq(hvi_locate_kernel(&pg, &loc), HV_E_NOTFOUND); /* nothing mapped */
	tmem_map(&t, HVI_KERNEL_MAP_START, 0x40000000, HVI_PAGE_1G, 0);
	ck_assert_int_eq(hvi_locate_kernel(&pg, &loc), HV_E_FORMAT); /* 1 GiB page */
	tmem_free(&t);
	setup(4);
	tmem_map(&t, 0xffffffffb5400000ull, 0x1000000, HVI_PAGE_2M, 0);
	init_pg(t.pgd);
	ck_assert_int_eq(hvi_walk(&pg, 0xffffffffb5400000ull, &w), 0);
	/* level2 entries all zero: no image */
	tmem_set(&t, w.lv[2].table_gpa, w.lv[2].index, 0);
	ck_assert_int_eq(hvi_locate_kernel(&pg, &loc), HV_E_NOTFOUND);
	/* level3[510] outside RAM */
	tmem_set(&t, w.lv[1].table_gpa, 510, (RAM + 0x1000) | 0x63);
	ck_assert_int_eq(hvi_locate_kernel(&pg, &loc), HV_E_RANGE);
	tmem_free(&t);
}
END_TEST

/* The image is read in place when linear, copied (holes as zeros) otherwise. */
START_TEST(test_read_image)
{
	const uint64_t text = 0xffffffffa0000000ull;
	struct hvi_kernel_loc loc;
	struct hvi_image img;
	uint64_t k;

	setup(4);
	for (k = 0; k < HVI_PAGE_2M; k += HVI_PAGE_4K) /* 4 KiB pages, one hole */
		if (k != 0x5000)
			tmem_map(&t, text + k, 0x400000 + k, HVI_PAGE_4K, 0);
	tmem_map(&t, text + HVI_PAGE_2M, 0x600000, HVI_PAGE_2M, 0);
	memset(t.ram + 0x400000, 0xaa, 2 * HVI_PAGE_2M);
	init_pg(t.pgd);
	ck_assert_int_eq(hvi_locate_kernel(&pg, &loc), 0);
	ck_assert_int_eq(hvi_read_image(&pg, &loc, &img), 0);
	ck_assert(img.direct);
	ck_assert_ptr_eq(img.p, t.ram + 0x400000);
	ck_assert_uint_eq(img.len, 2 * HVI_PAGE_2M);
	ck_assert_uint_eq(img.holes, 1);
	ck_assert_ptr_null(img.owned);
	hvi_image_release(&img);
	/* move the second 2 MiB page elsewhere: not linear, so copied */
	tmem_map(&t, text + HVI_PAGE_2M, 0x800000, HVI_PAGE_2M, 0);
	t.ram[0x800000] = 0x55;
	ck_assert_int_eq(hvi_read_image(&pg, &loc, &img), 0);
	ck_assert(!img.direct);
	ck_assert_ptr_nonnull(img.owned);
	ck_assert_uint_eq(img.p[0x5000], 0); /* the hole */
	ck_assert_uint_eq(img.p[0x4fff], 0xaa);
	ck_assert_uint_eq(img.p[HVI_PAGE_2M], 0x55);
	hvi_image_release(&img);
	hvi_image_release(&img); /* twice is fine */
	/* an image beyond RAM: copying fails cleanly */
	tmem_map(&t, text + HVI_PAGE_2M, RAM, HVI_PAGE_2M, 0);
	ck_assert_int_eq(hvi_read_image(&pg, &loc, &img), HV_E_RANGE);
	ck_assert_ptr_null(img.p);
	tmem_free(&t);
}
END_TEST

/* Random corruption of the tables: walks and enumeration fail cleanly. */
START_TEST(test_mutations)
{
	const uint64_t k = 0xffffffff81000000ull;
	unsigned iter, ok = 0, failed = 0;
	uint8_t *orig;
	uint64_t used;

	setup(4);
	tmem_map(&t, k, 0x1000000, HVI_PAGE_2M, 0);
	tmem_map(&t, k + HVI_PAGE_2M, 0x1200000, HVI_PAGE_4K, 0);
	tmem_map(&t, k + HVI_PAGE_2M + 0x1000, 0x1201000, HVI_PAGE_4K, 0);
	used = t.next_table - t.pgd;
	orig = malloc(used);
	ck_assert_ptr_nonnull(orig);
	memcpy(orig, t.ram + t.pgd, used);
	srand(4);
	for (iter = 0; iter < 3000; iter++) {
		struct hvi_walk w;
		struct seen s;
		struct hvi_kernel_loc loc;
		unsigned f, nflips = 1 + (unsigned)rand() % 4;
		int r;

		memcpy(t.ram + t.pgd, orig, used);
		for (f = 0; f < nflips; f++) {
			/* flip a bit in a used entry, or write a random table pointer */
			uint64_t off = ((uint64_t)rand() % (used / 8)) * 8;

			if (rand() % 2)
				t.ram[t.pgd + off + (unsigned)rand() % 8] ^=
					(uint8_t)(1u << (rand() % 8));
			else
				put_u64(t.ram + t.pgd + off,
					(t.pgd + ((uint64_t)rand() % (used / 4096)) * 4096) | 0x63 |
						((uint64_t)(rand() % 2) << 7));
		}
		init_pg(t.pgd);
		r = hvi_walk(&pg, k + HVI_PAGE_2M + 0x1234, &w);
		if (r == 0)
			ck_assert_uint_lt(w.gpa, (uint64_t)1 << 52);
		else
			ck_assert(r == HV_E_NOTFOUND || r == HV_E_FORMAT || r == HV_E_RANGE);
		memset(&s, 0, sizeof(s));
		r = hvi_enum_mappings(&pg, HVI_KERNEL_MAP_START, 0xfffffffffffff000ull, 200000,
				      collect, &s);
		ck_assert(r >= 0 || r == HV_E_FORMAT || r == HV_E_RANGE);
		r = hvi_locate_kernel(&pg, &loc);
		if (r == 0)
			ok++;
		else
			failed++;
	}
	ck_assert_uint_gt(ok, 0);
	ck_assert_uint_gt(failed, 0);
	free(orig);
	tmem_free(&t);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("hvi_paging");
	TCase *tc = tcase_create("paging");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_4level_all_sizes);
	tcase_add_test(tc, test_5level_all_sizes);
	tcase_add_test(tc, test_5level_high_addresses);
	tcase_add_test(tc, test_pti_user_cr3);
	tcase_add_test(tc, test_permissions_accumulate);
	tcase_add_test(tc, test_read_virt_across_pages);
	tcase_add_test(tc, test_table_outside_ram);
	tcase_add_test(tc, test_truncated_table);
	tcase_add_test(tc, test_self_referencing_table);
	tcase_add_test(tc, test_reserved_page_size_bits);
	tcase_add_test(tc, test_enumerate);
	tcase_add_test(tc, test_enumerate_stop_and_budget);
	tcase_add_test(tc, test_enumerate_5level);
	tcase_add_test(tc, test_locate_kernel);
	tcase_add_test(tc, test_locate_kernel_hostile);
	tcase_add_test(tc, test_read_image);
	tcase_add_test(tc, test_mutations);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
