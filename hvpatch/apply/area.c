#include "area.h"

#include <string.h>

#define KERNEL_IMAGE_BASE 0xffffffff80000000ull
#define TWO_MIB		  (2ull * 1024 * 1024)

const uint8_t hvp_ftrace_nop[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };

int hvp_layout_plan(uint64_t area_gpa, uint64_t area_size, uint32_t pd_index,
		    struct hvp_layout *out)
{
	uint32_t s;

	memset(out, 0, sizeof(*out));
	if (area_gpa & (HVP_PAGE - 1))
		return hv_err(HV_E_RANGE, "the patch area at 0x%llx is not page-aligned",
			      (unsigned long long)area_gpa);
	if (area_size < HVP_AREA_MIN)
		return hv_err(HV_E_RANGE,
			      "the patch area is %llu KiB; at least %u KiB is needed "
			      "(enroll the domain with a larger --area-size)",
			      (unsigned long long)(area_size / 1024), HVP_AREA_MIN / 1024);
	if (pd_index >= 512)
		return hv_err(HV_E_RANGE, "page-directory index %u is outside 0..511", pd_index);
	out->area_gpa = area_gpa;
	out->pt_gpa = area_gpa + HVP_PAGE;
	out->pd_index = pd_index;
	out->window_gva = KERNEL_IMAGE_BASE + (uint64_t)pd_index * TWO_MIB;
	for (s = 0; s < HVP_SLOTS; s++) {
		uint64_t first = 2 + (uint64_t)s * HVP_SLOT_PAGES;
		struct hvp_slot *sl = &out->slot[s];

		sl->code_gpa = area_gpa + first * HVP_PAGE;
		sl->code_gva = out->window_gva + first * HVP_PAGE;
		sl->data_gpa = sl->code_gpa + HVP_SLOT_CODE_PAGES * HVP_PAGE;
		sl->data_gva = sl->code_gva + HVP_SLOT_CODE_PAGES * HVP_PAGE;
		sl->code_size = HVP_SLOT_CODE_PAGES * HVP_PAGE;
		sl->data_size = HVP_SLOT_DATA_PAGES * HVP_PAGE;
	}
	return 0;
}

int hvp_layout_pick_pd(const uint64_t pd[512], uint32_t first_free_index, uint64_t expected_pde)
{
	uint32_t i;

	for (i = first_free_index; i < 512; i++)
		if (pd[i] == 0 || pd[i] == expected_pde)
			return (int)i;
	return hv_err(HV_E_NOTFOUND,
		      "no free page-directory entry after the kernel image (from index %u of "
		      "the kernel-image region) is left to map the patch area",
		      first_free_index);
}

uint64_t hvp_layout_pde(const struct hvp_layout *lay)
{
	/* Non-leaf: RW here, the page-table entries decide the permissions. */
	return (lay->pt_gpa & HVP_PTE_ADDR) | HVP_PTE_P | HVP_PTE_RW | HVP_PTE_A | HVP_PTE_D;
}

void hvp_layout_ptes(const struct hvp_layout *lay, uint64_t ptes[512])
{
	uint32_t s, p;

	memset(ptes, 0, 512 * sizeof(ptes[0]));
	for (s = 0; s < HVP_SLOTS; s++) {
		uint32_t first = 2 + s * HVP_SLOT_PAGES;

		for (p = 0; p < HVP_SLOT_PAGES; p++) {
			uint64_t gpa = lay->area_gpa + (uint64_t)(first + p) * HVP_PAGE;
			uint64_t e = (gpa & HVP_PTE_ADDR) | HVP_PTE_P | HVP_PTE_A | HVP_PTE_G;

			if (p >= HVP_SLOT_CODE_PAGES)
				e |= HVP_PTE_RW | HVP_PTE_D | HVP_PTE_NX;
			ptes[first + p] = e;
		}
	}
}

int hvp_encode_jmp(uint64_t from, uint64_t to, uint8_t out[5])
{
	int64_t rel = (int64_t)(to - (from + 5));
	uint32_t u;

	if (rel > INT32_MAX || rel < INT32_MIN)
		return hv_err(HV_E_RANGE, "a jump from 0x%llx to 0x%llx does not fit in 32 bits",
			      (unsigned long long)from, (unsigned long long)to);
	u = (uint32_t)(int32_t)rel;
	out[0] = 0xe9;
	out[1] = (uint8_t)u;
	out[2] = (uint8_t)(u >> 8);
	out[3] = (uint8_t)(u >> 16);
	out[4] = (uint8_t)(u >> 24);
	return 0;
}

int hvp_decode_jmp(uint64_t from, const uint8_t b[5], uint64_t *to)
{
	int32_t rel;

	if (b[0] != 0xe9)
		return 0;
	rel = (int32_t)((uint32_t)b[1] | (uint32_t)b[2] << 8 | (uint32_t)b[3] << 16 |
			(uint32_t)b[4] << 24);
	*to = from + 5 + (uint64_t)(int64_t)rel;
	return 1;
}

int hvp_rip_inside_site(uint64_t rip, uint64_t site)
{
	return rip > site && rip < site + 5;
}
