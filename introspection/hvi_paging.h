/*
 * hvi_paging: x86-64 page-table walks over guest memory.
 *
 * 4-level and 5-level (CR4.LA57) paging with 4 KiB, 2 MiB and 1 GiB pages.
 * Every table entry comes from the guest and is checked: tables must lie
 * inside guest RAM (hvi_mem.max_gpa), reserved page-size bits are errors, a
 * table that appears twice on one walk (a self-referencing table) is an
 * error, and enumeration has a hard budget of table entries it may visit.
 */
#ifndef HVI_PAGING_H
#define HVI_PAGING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv_error.h"
#include "hvi_mem.h"

/* Page-table entry bits. */
#define HVI_PTE_P	 (1ull << 0)
#define HVI_PTE_RW	 (1ull << 1)
#define HVI_PTE_US	 (1ull << 2)
#define HVI_PTE_A	 (1ull << 5)
#define HVI_PTE_D	 (1ull << 6)
#define HVI_PTE_PS	 (1ull << 7)
#define HVI_PTE_G	 (1ull << 8)
#define HVI_PTE_NX	 (1ull << 63)
#define HVI_PTE_ADDR	 0x000ffffffffff000ull /* bits 12..51 */
#define HVI_CR4_LA57	 (1ull << 12)
#define HVI_CR3_PTI_USER (1ull << 12)

/* Accumulated permissions of a mapping (AND of RW/US, OR of NX). */
#define HVI_PERM_W  1u /* writable at every level */
#define HVI_PERM_U  2u /* user-accessible at every level */
#define HVI_PERM_NX 4u /* no-execute at some level */

/* Default budget of table entries hvi_enum_mappings() may inspect. */
#define HVI_ENUM_DEFAULT_BUDGET (4u * 1024 * 1024)

struct hvi_paging {
	const struct hvi_mem *mem;
	uint64_t cr3;	  /* as given */
	uint64_t pgd_gpa; /* the kernel top-level table (PTI user bit and PCID removed) */
	unsigned levels;  /* 4 or 5 */
	bool pti_user;	  /* cr3 was a PTI user CR3 (bit 12 set) */
};

/* One level of a walk, outermost first (level 5 or 4 down to 1). */
struct hvi_walk_level {
	unsigned level;	    /* 5 = PML5, 4 = PML4, 3 = PDPT, 2 = PD, 1 = PT */
	unsigned index;	    /* 0..511 */
	uint64_t table_gpa; /* the table read at this level */
	uint64_t entry;	    /* the entry value found */
};

struct hvi_walk {
	uint64_t gva;
	unsigned nlevels;	     /* levels visited (valid entries of lv[]) */
	struct hvi_walk_level lv[5]; /* lv[nlevels-1] is where the walk stopped */
	bool mapped;		     /* true if a present leaf was reached */
	uint64_t gpa;		     /* translation of gva (if mapped) */
	uint64_t page_size;	     /* HVI_PAGE_4K, _2M or _1G (if mapped) */
	uint64_t page_gpa;	     /* start of the physical page (if mapped) */
	unsigned perms;		     /* HVI_PERM_* (if mapped) */
};

/*
 * Prepare walks from @cr3 with paging mode taken from @cr4 (LA57 selects 5
 * levels).  PCID bits (0..11) and bit 63 are ignored; a PTI user CR3 (bit 12
 * set) is turned into the kernel PGD (cr3 & ~0x1fff), which maps the whole
 * kernel.  @mem must outlive @pg; nothing is allocated.
 * Returns 0, or HV_E_RANGE if the top-level table lies outside guest RAM.
 */
int hvi_paging_init(struct hvi_paging *pg, const struct hvi_mem *mem, uint64_t cr3,
		    uint64_t cr4) HV_WUR;

/*
 * Walk the tables for @gva and fill @w (always, also on failure, so callers
 * and error messages can say at which level and entry the walk stopped).
 * Returns 0 when @gva is mapped; HV_E_NOTFOUND when an entry on the way is
 * not present (w->lv[w->nlevels-1] is that entry); HV_E_FORMAT for a
 * non-canonical address, a page-size bit where the architecture reserves it,
 * or a table that appears twice on the walk; HV_E_RANGE for a table outside
 * guest RAM; or the memory callback's error.  The final page may lie outside
 * RAM (device memory such as the patch-area BAR is mapped that way): only
 * tables are checked against max_gpa, and reads of the page are checked when
 * they happen.
 */
int hvi_walk(const struct hvi_paging *pg, uint64_t gva, struct hvi_walk *w) HV_WUR;

/*
 * Translate @gva to guest-physical *@gpa (and *@perms, may be NULL).
 * Errors as hvi_walk(), with a message naming the address and the level.
 */
int hvi_translate(const struct hvi_paging *pg, uint64_t gva, uint64_t *gpa, unsigned *perms) HV_WUR;

/*
 * Read @len bytes of guest-virtual memory at @gva (any number of pages).
 * Returns 0 or the first failing translation/read error.
 */
int hvi_read_virt(const struct hvi_paging *pg, uint64_t gva, void *buf, size_t len) HV_WUR;

/* One present leaf mapping found by hvi_enum_mappings(). */
struct hvi_mapping {
	uint64_t gva;
	uint64_t gpa;
	uint64_t size; /* page size: HVI_PAGE_4K, _2M or _1G */
	unsigned perms;
	unsigned level; /* level of the leaf entry: 1, 2 or 3 */
};

/*
 * Called for each present leaf in address order.  Return 0 to go on, a
 * positive value to stop early (hvi_enum_mappings() then returns 0), or a
 * negative HV_E_* code (recorded) to fail.
 */
typedef int (*hvi_mapping_fn)(void *opaque, const struct hvi_mapping *m);

/*
 * Visit every present leaf mapping that overlaps [@gva_start, @gva_end)
 * (end exclusive; both canonical, start < end, same half).  Non-present
 * upper-level entries are skipped whole; each table is read once per visit
 * (512 entries at a time).  At most @budget entries are inspected (0 means
 * HVI_ENUM_DEFAULT_BUDGET): a guest whose tables point at each other to
 * multiply the work gets HV_E_RANGE instead of an endless walk.  Tables
 * outside guest RAM and reserved page-size bits are HV_E_RANGE/HV_E_FORMAT.
 * Returns the number of mappings visited, or a negative HV_E_* code.
 */
int hvi_enum_mappings(const struct hvi_paging *pg, uint64_t gva_start, uint64_t gva_end,
		      uint64_t budget, hvi_mapping_fn fn, void *opaque) HV_WUR;

/* Whether @gva is canonical for the paging mode of @pg. */
bool hvi_gva_canonical(const struct hvi_paging *pg, uint64_t gva);

/* "4-level" or "5-level". */
const char *hvi_paging_mode_name(const struct hvi_paging *pg);

#endif
