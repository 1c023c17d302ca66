/* Patch-area layout and the x86-64 encodings the apply engine writes. */
#include <check.h>
#include <string.h>

#include "area.h"

#define AREA_GPA 0xfe400000ull

START_TEST(test_layout_slots_disjoint_and_in_window)
{
	struct hvp_layout lay;
	uint32_t s;

	ck_assert_int_eq(hvp_layout_plan(AREA_GPA, 4u << 20, 448, &lay), 0);
	ck_assert_uint_eq(lay.window_gva, 0xffffffff80000000ull + 448ull * (2u << 20));
	ck_assert_uint_eq(lay.pt_gpa, AREA_GPA + 4096);
	for (s = 0; s < HVP_SLOTS; s++) {
		const struct hvp_slot *sl = &lay.slot[s];

		ck_assert_uint_ge(sl->code_gpa, AREA_GPA + 2 * 4096);
		ck_assert_uint_eq(sl->data_gpa, sl->code_gpa + sl->code_size);
		ck_assert_uint_eq(sl->code_gva - lay.window_gva, sl->code_gpa - AREA_GPA);
		ck_assert_uint_le(sl->data_gva + sl->data_size, lay.window_gva + HVP_AREA_WINDOW);
	}
	ck_assert_uint_le(lay.slot[0].data_gpa + lay.slot[0].data_size, lay.slot[1].code_gpa);
}
END_TEST

START_TEST(test_layout_refuses_bad_areas)
{
	struct hvp_layout lay;

	ck_assert_int_eq(hvp_layout_plan(AREA_GPA + 1, 4u << 20, 448, &lay), HV_E_RANGE);
	ck_assert_int_eq(hvp_layout_plan(AREA_GPA, 1u << 20, 448, &lay), HV_E_RANGE);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "at least 2048 KiB"));
	ck_assert_int_eq(hvp_layout_plan(AREA_GPA, 4u << 20, 512, &lay), HV_E_RANGE);
}
END_TEST

START_TEST(test_ptes_code_rx_data_nx)
{
	struct hvp_layout lay;
	uint64_t ptes[512];
	uint32_t i;

	ck_assert_int_eq(hvp_layout_plan(AREA_GPA, 4u << 20, 448, &lay), 0);
	hvp_layout_ptes(&lay, ptes);
	/* Header and page table are not mapped: the guest cannot change them. */
	ck_assert_uint_eq(ptes[0], 0);
	ck_assert_uint_eq(ptes[1], 0);
	for (i = 2; i < 2 + HVP_SLOTS * HVP_SLOT_PAGES; i++) {
		uint32_t in_slot = (i - 2) % HVP_SLOT_PAGES;

		ck_assert(ptes[i] & HVP_PTE_P);
		ck_assert(!(ptes[i] & HVP_PTE_US));
		ck_assert_uint_eq(ptes[i] & HVP_PTE_ADDR, AREA_GPA + (uint64_t)i * 4096);
		if (in_slot < HVP_SLOT_CODE_PAGES) {
			ck_assert(!(ptes[i] & HVP_PTE_RW));
			ck_assert(!(ptes[i] & HVP_PTE_NX));
		} else {
			ck_assert(ptes[i] & HVP_PTE_RW);
			ck_assert(ptes[i] & HVP_PTE_NX);
		}
	}
	for (; i < 512; i++)
		ck_assert_uint_eq(ptes[i], 0);
	ck_assert_uint_eq(hvp_layout_pde(&lay) & HVP_PTE_ADDR, lay.pt_gpa);
	ck_assert(!(hvp_layout_pde(&lay) & HVP_PTE_PS));
}
END_TEST

START_TEST(test_pick_pd)
{
	uint64_t pd[512];

	memset(pd, 0, sizeof(pd));
	pd[440] = 0x1e1;
	pd[441] = 0x2001e1;
	ck_assert_int_eq(hvp_layout_pick_pd(pd, 440, 0x1234), 442);
	pd[442] = 0x1234;
	ck_assert_int_eq(hvp_layout_pick_pd(pd, 440, 0x1234), 442);
	pd[442] = 0x99;
	ck_assert_int_eq(hvp_layout_pick_pd(pd, 440, 0x1234), 443);
	memset(pd, 0xff, sizeof(pd));
	ck_assert_int_eq(hvp_layout_pick_pd(pd, 0, 0x1234), HV_E_NOTFOUND);
}
END_TEST

START_TEST(test_jmp_roundtrip_and_range)
{
	uint8_t b[5];
	uint64_t to = 0;
	uint64_t from = 0xffffffff81234560ull;

	ck_assert_int_eq(hvp_encode_jmp(from, 0xffffffffb8002000ull, b), 0);
	ck_assert_uint_eq(b[0], 0xe9);
	ck_assert_int_eq(hvp_decode_jmp(from, b, &to), 1);
	ck_assert_uint_eq(to, 0xffffffffb8002000ull);
	/* Backwards. */
	ck_assert_int_eq(hvp_encode_jmp(from, from - 0x1000, b), 0);
	ck_assert_int_eq(hvp_decode_jmp(from, b, &to), 1);
	ck_assert_uint_eq(to, from - 0x1000);
	/* Out of reach. */
	ck_assert_int_eq(hvp_encode_jmp(from, 0xffff888000000000ull, b), HV_E_RANGE);
	ck_assert_int_eq(hvp_decode_jmp(from, hvp_ftrace_nop, &to), 0);
}
END_TEST

START_TEST(test_rip_inside_site)
{
	ck_assert(!hvp_rip_inside_site(0x1000, 0x1000));
	ck_assert(hvp_rip_inside_site(0x1001, 0x1000));
	ck_assert(hvp_rip_inside_site(0x1004, 0x1000));
	ck_assert(!hvp_rip_inside_site(0x1005, 0x1000));
	ck_assert(!hvp_rip_inside_site(0xfff, 0x1000));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("area");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_layout_slots_disjoint_and_in_window);
	tcase_add_test(tc, test_layout_refuses_bad_areas);
	tcase_add_test(tc, test_ptes_code_rx_data_nx);
	tcase_add_test(tc, test_pick_pd);
	tcase_add_test(tc, test_jmp_roundtrip_and_range);
	tcase_add_test(tc, test_rip_inside_site);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
