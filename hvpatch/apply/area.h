/*
 * hvp_area: the layout of the patch area and the x86-64 encodings the apply
 * engine writes.  Pure functions, no guest access, so every rule here is
 * unit-tested on its own.
 *
 * The patch area is hidden guest-physical memory (an ivshmem BAR backed by a
 * host file) that no guest driver uses.  Its first HVP_AREA_WINDOW bytes are
 * mapped into the kernel's address space through one page-directory entry of
 * the kernel-image region (level2_kernel_pgt) that the kernel leaves empty,
 * pointing at a page table that itself lives in the area:
 *
 *   page 0          header (never mapped into the guest)
 *   page 1          the page table: 512 entries for the 2 MiB window
 *   pages 2..       two slots, A and B, each HVP_SLOT_CODE_PAGES of code
 *                   (read+execute) then HVP_SLOT_DATA_PAGES of data
 *                   (read+write, no-execute)
 *
 * The page-table entries are written once and never change, so no guest TLB
 * can hold a stale permission.  A level lives in one slot; the next level is
 * written to the other slot and switched in one pause (atomic replace), so
 * the slot in use is never rewritten while its code may run.
 */
#ifndef HVP_AREA_H
#define HVP_AREA_H

#include <stddef.h>
#include <stdint.h>

#include "hv_error.h"

#define HVP_PAGE	    4096u
#define HVP_AREA_WINDOW	    (2u * 1024 * 1024) /* mapped through one PD entry */
#define HVP_AREA_MIN	    (HVP_AREA_WINDOW)  /* smallest usable patch area */
#define HVP_SLOT_CODE_PAGES 160u
#define HVP_SLOT_DATA_PAGES 95u
#define HVP_SLOT_PAGES	    (HVP_SLOT_CODE_PAGES + HVP_SLOT_DATA_PAGES)
#define HVP_SLOTS	    2u

/* x86-64 page-table entry bits. */
#define HVP_PTE_P    (1ull << 0)
#define HVP_PTE_RW   (1ull << 1)
#define HVP_PTE_US   (1ull << 2)
#define HVP_PTE_A    (1ull << 5)
#define HVP_PTE_D    (1ull << 6)
#define HVP_PTE_PS   (1ull << 7)
#define HVP_PTE_G    (1ull << 8)
#define HVP_PTE_NX   (1ull << 63)
#define HVP_PTE_ADDR 0x000ffffffffff000ull

/* The 5-byte NOP the kernel leaves at every traceable function's entry. */
extern const uint8_t hvp_ftrace_nop[5];

struct hvp_slot {
	uint64_t code_gpa, code_gva; /* HVP_SLOT_CODE_PAGES pages */
	uint64_t data_gpa, data_gva; /* HVP_SLOT_DATA_PAGES pages */
	uint32_t code_size, data_size;
};

struct hvp_layout {
	uint64_t area_gpa;   /* guest-physical base of the patch area */
	uint64_t window_gva; /* kernel-virtual base of the mapped window */
	uint64_t pt_gpa;     /* the page table (page 1) */
	uint32_t pd_index;   /* entry of level2_kernel_pgt that maps the window */
	struct hvp_slot slot[HVP_SLOTS];
};

/*
 * Plan the layout for a patch area at @area_gpa of @area_size bytes, mapped
 * at PD entry @pd_index of the kernel-image region (virtual 0xffffffff80000000
 * + pd_index * 2 MiB).  HV_E_RANGE if the area is too small or misaligned.
 */
int hvp_layout_plan(uint64_t area_gpa, uint64_t area_size, uint32_t pd_index,
		    struct hvp_layout *out) HV_WUR;

/*
 * Choose the PD entry for the window: the first entry at or above
 * @first_free_index (the one after the kernel image, rounded up) whose
 * current value in @pd (the 512 entries of level2_kernel_pgt) is zero, or
 * whose value already equals @expected_pde (a previous hvpatch run mapped
 * it).  Any entry of this 1 GiB region is within rel32 reach (2 GiB) of
 * all kernel text, so jumps and calls both ways need no further check.
 * Returns the index, or HV_E_NOTFOUND when no entry is free.
 */
int hvp_layout_pick_pd(const uint64_t pd[512], uint32_t first_free_index,
		       uint64_t expected_pde) HV_WUR;

/* The PD entry that points at the area's page table. */
uint64_t hvp_layout_pde(const struct hvp_layout *lay);

/* The 512 page-table entries for the window (header and PT pages not mapped). */
void hvp_layout_ptes(const struct hvp_layout *lay, uint64_t ptes[512]);

/*
 * Encode "jmp rel32" at @from to @to into @out.  HV_E_RANGE if the
 * displacement does not fit in 32 bits.
 */
int hvp_encode_jmp(uint64_t from, uint64_t to, uint8_t out[5]) HV_WUR;

/* Decode a "jmp rel32" at @from; returns 1 and the target, or 0 if @b is not one. */
int hvp_decode_jmp(uint64_t from, const uint8_t b[5], uint64_t *to);

/*
 * Whether an instruction pointer @rip would be cut by rewriting the 5 bytes
 * at @site: true when rip lies strictly inside (site, site + 5).
 */
int hvp_rip_inside_site(uint64_t rip, uint64_t site);

#endif
