/* Enrollment rewrites a domain definition, keeping what is there. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "enroll.h"

static const char plain[] = "<domain type='kvm'><name>web-01</name>"
			    "<uuid>0b6c2d7e-5a41-4c1e-9d0a-1f6e2a3b4c5d</uuid>"
			    "<memory unit='MiB'>512</memory>"
			    "<memoryBacking><hugepages/></memoryBacking>"
			    "<devices><disk type='file' device='disk'/></devices></domain>";

START_TEST(test_enroll_adds_everything)
{
	struct hve_opts o = { 8 };
	struct hve_changes ch;
	char *out = NULL;

	ck_assert_int_eq(hve_xml_enroll(plain, &o, &out, &ch), 0);
	ck_assert(ch.memfd_added && ch.shmem_added && ch.channel_added);
	ck_assert_str_eq(ch.shmem_name, "hvpatch-0b6c2d7e");
	ck_assert_uint_eq(ch.area_mib, 8);
	ck_assert_ptr_nonnull(strstr(out, "<source type=\"memfd\"/>"));
	ck_assert_ptr_nonnull(strstr(out, "<access mode=\"shared\"/>"));
	ck_assert_ptr_nonnull(strstr(out, "<hugepages/>"));
	ck_assert_ptr_nonnull(strstr(out, "<disk type=\"file\" device=\"disk\"/>"));
	ck_assert_ptr_nonnull(strstr(out, "<shmem name=\"hvpatch-0b6c2d7e\">"));
	ck_assert_ptr_nonnull(strstr(out, "<model type=\"ivshmem-plain\"/>"));
	ck_assert_ptr_nonnull(strstr(out, "<size unit=\"M\">8</size>"));
	ck_assert_ptr_nonnull(strstr(out, "name=\"org.hvpatch.agent.0\""));
	free(out);
}
END_TEST

START_TEST(test_enroll_is_idempotent)
{
	struct hve_changes ch;
	char *once = NULL, *twice = NULL;

	ck_assert_int_eq(hve_xml_enroll(plain, NULL, &once, &ch), 0);
	ck_assert_uint_eq(ch.area_mib, HVE_AREA_MIB_DEFAULT);
	ck_assert_int_eq(hve_xml_enroll(once, NULL, &twice, &ch), 0);
	ck_assert(!ch.memfd_added && !ch.shmem_added && !ch.channel_added);
	ck_assert_str_eq(ch.shmem_name, "hvpatch-0b6c2d7e");
	ck_assert_uint_eq(ch.area_mib, HVE_AREA_MIB_DEFAULT);
	ck_assert_str_eq(once, twice);
	free(once);
	free(twice);
}
END_TEST

START_TEST(test_enroll_refusals)
{
	struct hve_opts bad = { 6 };
	struct hve_changes ch;
	char *out = NULL;
	static const char wrong_model[] = "<domain><name>x</name><devices><shmem name='hvpatch-x'>"
					  "<model type='ivshmem'/></shmem></devices></domain>";

	ck_assert_int_eq(hve_xml_enroll(plain, &bad, &out, &ch), HV_E_INVAL);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "power of two"));
	ck_assert_int_eq(hve_xml_enroll("<network/>", NULL, &out, &ch), HV_E_FORMAT);
	ck_assert_int_eq(hve_xml_enroll("not xml at all", NULL, &out, &ch), HV_E_FORMAT);
	ck_assert_int_eq(hve_xml_enroll(wrong_model, NULL, &out, &ch), HV_E_STATE);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "hvpatch-x"));
	ck_assert_ptr_null(out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("enroll");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_enroll_adds_everything);
	tcase_add_test(tc, test_enroll_is_idempotent);
	tcase_add_test(tc, test_enroll_refusals);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
