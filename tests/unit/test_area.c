/* Patch-area layout and the x86-64 encodings the apply engine writes. */
#include <check.h>
#include <string.h>

#include "area.h"
#include "state.h"

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

static void sample_state(struct hvp_state *st)
{
	memset(st, 0, sizeof(*st));
	st->pd_index = 98;
	st->active_slot = 1;
	st->pde = 0xfe401063ull;
	st->window_gva = 0xffffffff8c400000ull;
	st->applied_unix = 1795620353;
	strcpy(st->boot_key, "ffffffff89800000-c816000");
	strcpy(st->level, "2026.11-2");
	strcpy(st->patch_id, "hostname-check");
	memset(st->bundle_sha256, 0xab, 32);
	st->nsites = 2;
	st->sites[0].site_gva = 0xffffffff89bf5980ull;
	st->sites[0].site_gpa = 0xdbf5980ull;
	st->sites[0].target_gva = 0xffffffff8c501000ull;
	memcpy(st->sites[0].orig, hvp_ftrace_nop, 5);
	memcpy(st->sites[0].jmp, "\xe9\x7b\xc6\x80\x02", 5);
	strcpy(st->sites[0].name, "cmdline_proc_show");
	st->sites[0].flags = HVP_SITE_FTRACE_OFF;
	st->sites[1] = st->sites[0];
	st->sites[1].site_gva += 0x1000;
	st->sites[1].flags = 0;
	strcpy(st->sites[1].name, "proc_do_uts_string");
}

START_TEST(test_state_roundtrip)
{
	static uint8_t page[HVP_STATE_BYTES];
	struct hvp_state a, b;

	sample_state(&a);
	ck_assert_int_eq(hvp_state_encode(&a, page), 0);
	ck_assert_int_eq(hvp_state_decode(page, sizeof(page), &b), 1);
	ck_assert_int_eq(memcmp(&a, &b, sizeof(a)), 0);
	/* A fresh (zeroed) area holds no record. */
	memset(page, 0, sizeof(page));
	ck_assert_int_eq(hvp_state_decode(page, sizeof(page), &b), 0);
	ck_assert_uint_eq(b.active_slot, HVP_NO_SLOT);
	a.nsites = HVP_STATE_MAX_SITES + 1;
	ck_assert_int_eq(hvp_state_encode(&a, page), HV_E_RANGE);
}
END_TEST

START_TEST(test_state_hostile_fields)
{
	static uint8_t page[HVP_STATE_BYTES];
	struct hvp_state a, b;

	sample_state(&a);
	ck_assert_int_eq(hvp_state_encode(&a, page), 0);
	page[8] = 4; /* version */
	ck_assert_int_eq(hvp_state_decode(page, sizeof(page), &b), HV_E_FORMAT);
	page[8] = 0;
	ck_assert_int_eq(hvp_state_decode(page, sizeof(page), &b), HV_E_FORMAT);
	ck_assert_int_eq(hvp_state_encode(&a, page), 0);
	page[48 + 224 + 100 + 34] = 0x02; /* an unknown flag of the second site */
	ck_assert_int_eq(hvp_state_decode(page, sizeof(page), &b), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "proc_do_uts_string"));
	ck_assert_int_eq(hvp_state_encode(&a, page), 0);
	page[48 + 224 + 35] = 0x80;
	ck_assert_int_eq(hvp_state_decode(page, sizeof(page), &b), HV_E_FORMAT);
	ck_assert_int_eq(hvp_state_encode(&a, page), 0);
	page[12] = 200; /* nsites */
	ck_assert_int_eq(hvp_state_decode(page, sizeof(page), &b), HV_E_FORMAT);
	ck_assert_int_eq(hvp_state_encode(&a, page), 0);
	page[16] = 0x00, page[17] = 0x02; /* pd_index 512 */
	ck_assert_int_eq(hvp_state_decode(page, sizeof(page), &b), HV_E_FORMAT);
	ck_assert_int_eq(hvp_state_encode(&a, page), 0);
	page[20] = 7; /* slot */
	ck_assert_int_eq(hvp_state_decode(page, sizeof(page), &b), HV_E_FORMAT);
	ck_assert_int_eq(hvp_state_encode(&a, page), 0);
	memset(page + 48 + 64, 'x', 64); /* level without NUL */
	ck_assert_int_eq(hvp_state_decode(page, sizeof(page), &b), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "level"));
	ck_assert_int_eq(hvp_state_encode(&a, page), 0);
	page[48 + 64] = 0x07; /* non-printable */
	ck_assert_int_eq(hvp_state_decode(page, sizeof(page), &b), HV_E_FORMAT);
	ck_assert_int_eq(hvp_state_encode(&a, page), 0);
	page[48 + 224 + 2 * 100 + 3] = 0x10; /* code offset 256 MiB */
	ck_assert_int_eq(hvp_state_decode(page, sizeof(page), &b), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "code offset"));
}
END_TEST

/* Version 2 keeps each site's flags where version 1 had a reserved u16; a
 * version 1 record (as hvpatch wrote it before) still reads, without
 * flags whatever its reserved bytes hold.  Version 3 adds the code offset
 * and each slot's use after the sites; older records read as 0. */
START_TEST(test_state_versions)
{
	static uint8_t page[HVP_STATE_BYTES];
	struct hvp_state a, b;

	sample_state(&a);
	a.code_offset = 0x1040;
	a.slot_used[0] = 0x2000;
	a.slot_used[1] = 0x1080;
	ck_assert_int_eq(hvp_state_encode(&a, page), 0);
	ck_assert_uint_eq(page[8], 3);
	ck_assert_int_eq(hvp_state_decode(page, sizeof(page), &b), 1);
	ck_assert_uint_eq(b.code_offset, 0x1040);
	ck_assert_uint_eq(b.slot_used[0], 0x2000);
	ck_assert_uint_eq(b.slot_used[1], 0x1080);
	page[8] = 2;
	ck_assert_int_eq(hvp_state_decode(page, sizeof(page), &b), 1);
	ck_assert_uint_eq(b.code_offset, 0);
	ck_assert_uint_eq(b.slot_used[0], 0);
	sample_state(&a);
	ck_assert_int_eq(hvp_state_encode(&a, page), 0);
	ck_assert_uint_eq(page[48 + 224 + 34], HVP_SITE_FTRACE_OFF);
	ck_assert_uint_eq(page[48 + 224 + 100 + 34], 0);
	ck_assert_int_eq(hvp_state_decode(page, sizeof(page), &b), 1);
	ck_assert_uint_eq(b.sites[0].flags, HVP_SITE_FTRACE_OFF);
	ck_assert_uint_eq(b.sites[1].flags, 0);
	page[8] = 1;
	page[48 + 224 + 35] = 0xff;
	page[48 + 224 + 100 + 34] = 0x55;
	ck_assert_int_eq(hvp_state_decode(page, sizeof(page), &b), 1);
	ck_assert_uint_eq(b.sites[0].flags, 0);
	ck_assert_uint_eq(b.sites[1].flags, 0);
	ck_assert_str_eq(b.sites[1].name, "proc_do_uts_string");
	ck_assert_str_eq(b.level, "2026.11-2");
	/* Re-encoded, it is a version 3 record without flags. */
	ck_assert_int_eq(hvp_state_encode(&b, page), 0);
	ck_assert_uint_eq(page[8], 3);
	ck_assert_int_eq(hvp_state_decode(page, sizeof(page), &a), 1);
	ck_assert_int_eq(memcmp(&a, &b, sizeof(a)), 0);
	/* hvpatch never writes a flag it does not know. */
	a.sites[1].flags = 0x8000;
	ck_assert_int_eq(hvp_state_encode(&a, page), HV_E_INTERNAL);
}
END_TEST

/* Flip every byte and truncate at every length: never a crash, and any
 * record that decodes has bounded counts and terminated strings. */
START_TEST(test_state_mutations)
{
	static uint8_t page[HVP_STATE_BYTES], m[HVP_STATE_BYTES];
	struct hvp_state a, b;
	size_t i, used = 48 + 224 + 2 * 100 + 12;
	int r;

	sample_state(&a);
	ck_assert_int_eq(hvp_state_encode(&a, page), 0);
	for (i = 0; i < used; i++) {
		memcpy(m, page, sizeof(m));
		m[i] ^= 0xff;
		r = hvp_state_decode(m, sizeof(m), &b);
		ck_assert(r == 1 || r == 0 || r == HV_E_FORMAT);
		if (r == 1) {
			ck_assert_uint_le(b.nsites, HVP_STATE_MAX_SITES);
			ck_assert_uint_lt(strlen(b.level), HVP_STATE_TEXT);
			ck_assert_uint_lt(b.pd_index, 512);
			ck_assert_uint_eq(b.sites[0].flags & ~HVP_SITE_FLAGS_KNOWN, 0);
			ck_assert_uint_eq(b.sites[1].flags & ~HVP_SITE_FLAGS_KNOWN, 0);
		}
	}
	for (i = 0; i < used; i++) {
		r = hvp_state_decode(page, i, &b);
		ck_assert(r == 0 || r == HV_E_FORMAT);
	}
	ck_assert_int_eq(hvp_state_decode(page, used, &b), 1);
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
	tcase_add_test(tc, test_state_roundtrip);
	tcase_add_test(tc, test_state_hostile_fields);
	tcase_add_test(tc, test_state_versions);
	tcase_add_test(tc, test_state_mutations);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
