/* Enrollment rewrites a domain definition, keeping what is there. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "area.h"
#include "enroll.h"

static const char plain[] = "<domain type='kvm'><name>web-01</name>"
			    "<uuid>0b6c2d7e-5a41-4c1e-9d0a-1f6e2a3b4c5d</uuid>"
			    "<memory unit='MiB'>512</memory>"
			    "<memoryBacking><hugepages/></memoryBacking>"
			    "<devices><disk type='file' device='disk'/></devices></domain>";

#define AREA HVE_AREA_DIR "/0b6c2d7e-5a41-4c1e-9d0a-1f6e2a3b4c5d"

START_TEST(test_enroll_adds_everything)
{
	struct hve_opts o = { 8 };
	struct hve_changes ch;
	char *out = NULL, path[256];

	ck_assert_int_eq(hve_xml_enroll(plain, &o, &out, &ch), 0);
	ck_assert(ch.memfd_added && ch.area_added && ch.channel_added);
	ck_assert(!ch.legacy_removed && !ch.area_moved);
	ck_assert_str_eq(ch.uuid, "0b6c2d7e-5a41-4c1e-9d0a-1f6e2a3b4c5d");
	ck_assert_str_eq(ch.area_path, AREA);
	ck_assert_str_eq(ch.name, "web-01");
	ck_assert_uint_eq(ch.area_mib, 8);
	ck_assert_ptr_nonnull(strstr(out, "<source type=\"memfd\"/>"));
	ck_assert_ptr_nonnull(strstr(out, "<access mode=\"shared\"/>"));
	ck_assert_ptr_nonnull(strstr(out, "<hugepages/>"));
	ck_assert_ptr_nonnull(strstr(out, "<disk type=\"file\" device=\"disk\"/>"));
	ck_assert_ptr_nonnull(strstr(out, "xmlns:qemu=\"" HVE_QEMU_NS "\""));
	ck_assert_ptr_nonnull(strstr(out, "<qemu:arg value=\"-object\"/>"));
	ck_assert_ptr_nonnull(strstr(out,
				     "<qemu:arg value=\"memory-backend-file,id=" HVE_AREA_MEM_ID
				     ",mem-path=" AREA ",size=8M,share=on,readonly=on\"/>"));
	ck_assert_ptr_nonnull(strstr(out, "<qemu:arg value=\"-device\"/>"));
	ck_assert_ptr_nonnull(strstr(out, "<qemu:arg value=\"ivshmem-plain,id=" HVE_AREA_DEV_ID
					  ",memdev=" HVE_AREA_MEM_ID ",bus=pci.0,addr=0x1f\"/>"));
	/* No guest-writable shared memory any more. */
	ck_assert_ptr_null(strstr(out, "<shmem"));
	ck_assert_ptr_nonnull(strstr(out, "name=\"org.hvpatch.agent.0\""));
	ck_assert_int_eq(hve_xml_area_path(out, path, sizeof(path)), 1);
	ck_assert_str_eq(path, AREA);
	ck_assert_int_eq(hve_xml_area_path(plain, path, sizeof(path)), 0);
	free(out);
}
END_TEST

START_TEST(test_enroll_is_idempotent)
{
	struct hve_opts big = { 64 };
	struct hve_changes ch;
	char *once = NULL, *twice = NULL;

	ck_assert_int_eq(hve_xml_enroll(plain, NULL, &once, &ch), 0);
	ck_assert_uint_eq(ch.area_mib, HVE_AREA_MIB_DEFAULT);
	/* An enrolled domain keeps its area and its size. */
	ck_assert_int_eq(hve_xml_enroll(once, &big, &twice, &ch), 0);
	ck_assert(!ch.memfd_added && !ch.area_added && !ch.channel_added);
	ck_assert(!ch.legacy_removed && !ch.area_moved);
	ck_assert_str_eq(ch.area_path, AREA);
	ck_assert_uint_eq(ch.area_mib, HVE_AREA_MIB_DEFAULT);
	ck_assert_str_eq(once, twice);
	free(once);
	free(twice);
}
END_TEST

/* An old enrolment: a /dev/shm area named by 8 UUID characters. */
START_TEST(test_enroll_replaces_legacy_shmem)
{
	static const char old[] =
		"<domain type='qemu'><name>old</name>"
		"<uuid>0b6c2d7e-5a41-4c1e-9d0a-1f6e2a3b4c5d</uuid>"
		"<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>"
		"<devices><shmem name='hvpatch-0b6c2d7e'><model type='ivshmem-plain'/>"
		"<size unit='M'>4</size></shmem>"
		"<shmem name='other'><model type='ivshmem-plain'/></shmem>"
		"<channel type='unix'><target type='virtio' name='org.hvpatch.agent.0'/></channel>"
		"</devices></domain>";
	struct hve_changes ch;
	char *out = NULL;

	ck_assert_int_eq(hve_xml_enroll(old, NULL, &out, &ch), 0);
	ck_assert(ch.legacy_removed && ch.area_added && !ch.memfd_added && !ch.channel_added);
	ck_assert_str_eq(ch.legacy_name, "hvpatch-0b6c2d7e");
	ck_assert_ptr_null(strstr(out, "hvpatch-0b6c2d7e"));
	/* Someone else's shmem stays. */
	ck_assert_ptr_nonnull(strstr(out, "<shmem name=\"other\">"));
	ck_assert_ptr_nonnull(strstr(out, "mem-path=" AREA ","));
	free(out);
}
END_TEST

/* A clone keeps its template's qemu:commandline: enroll points it at its
 * own file, keeps other arguments, and never leaves the area writable. */
START_TEST(test_enroll_repoints_cloned_area)
{
	static const char clone[] =
		"<domain type='qemu' xmlns:q='http://libvirt.org/schemas/domain/qemu/1.0'>"
		"<name>clone</name><uuid>11111111-2222-3333-4444-555555555555</uuid>"
		"<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>"
		"<devices><channel type='unix'><target type='virtio' "
		"name='org.hvpatch.agent.0'/></channel></devices>"
		"<q:commandline><q:arg value='-msg'/><q:arg value='timestamp=on'/>"
		"<q:arg value='-object'/><q:arg value='memory-backend-file,id=hvpatch-area-mem,"
		"mem-path=" AREA ",size=4M,share=on,readonly=on'/>"
		"<q:arg value='-device'/><q:arg value='ivshmem-plain,id=hvpatch-area,"
		"memdev=hvpatch-area-mem'/></q:commandline></domain>";
	static const char writable[] =
		"<domain><name>w</name><uuid>0b6c2d7e-5a41-4c1e-9d0a-1f6e2a3b4c5d</uuid>"
		"<qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
		"<qemu:arg value='-object'/><qemu:arg value='memory-backend-file,"
		"id=hvpatch-area-mem,mem-path=" AREA ",size=4M,share=on'/>"
		"<qemu:arg value='-device'/><qemu:arg value='ivshmem-plain,id=hvpatch-area,"
		"memdev=hvpatch-area-mem'/></qemu:commandline></domain>";
	struct hve_changes ch;
	char *out = NULL, path[256];

	ck_assert_int_eq(hve_xml_enroll(clone, NULL, &out, &ch), 0);
	ck_assert(ch.area_added && ch.area_moved);
	ck_assert_str_eq(ch.old_area_path, AREA);
	ck_assert_str_eq(ch.area_path, HVE_AREA_DIR "/11111111-2222-3333-4444-555555555555");
	ck_assert_int_eq(hve_xml_area_path(out, path, sizeof(path)), 1);
	ck_assert_str_eq(path, ch.area_path);
	ck_assert_ptr_null(strstr(out, "mem-path=" AREA));
	ck_assert_ptr_nonnull(strstr(out, "<q:arg value=\"timestamp=on\"/>"));
	/* Exactly one backend and one device. */
	ck_assert_ptr_null(strstr(strstr(out, "memory-backend-file") + 1, "memory-backend-file"));
	ck_assert_ptr_null(strstr(strstr(out, "ivshmem-plain") + 1, "ivshmem-plain"));
	free(out);

	ck_assert_int_eq(hve_xml_enroll(writable, NULL, &out, &ch), 0);
	ck_assert(ch.area_added && !ch.area_moved);
	ck_assert_ptr_nonnull(strstr(out, "readonly=on"));
	free(out);
}
END_TEST

/* The device's PCI slot is one libvirt never assigns by itself. */
START_TEST(test_enroll_pci_slot_by_machine)
{
	static const char q35[] = "<domain><name>q</name>"
				  "<uuid>0b6c2d7e-5a41-4c1e-9d0a-1f6e2a3b4c5d</uuid>"
				  "<os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>"
				  "</domain>";
	static const char pc[] = "<domain><name>p</name>"
				 "<uuid>0b6c2d7e-5a41-4c1e-9d0a-1f6e2a3b4c5d</uuid>"
				 "<os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type></os>"
				 "</domain>";
	struct hve_changes ch;
	char *out = NULL, obj[512], dev[256];

	ck_assert_int_eq(hve_xml_enroll(q35, NULL, &out, &ch), 0);
	ck_assert_ptr_nonnull(strstr(out, "memdev=" HVE_AREA_MEM_ID ",bus=pcie.0,addr=0x1b\""));
	free(out);
	ck_assert_int_eq(hve_xml_enroll(pc, NULL, &out, &ch), 0);
	ck_assert_ptr_nonnull(strstr(out, "memdev=" HVE_AREA_MEM_ID ",bus=pci.0,addr=0x1f\""));
	free(out);
	/* Bare QEMU (--qemu-args): QEMU places it. */
	ck_assert_int_eq(hve_area_args(AREA, 4, NULL, obj, sizeof(obj), dev, sizeof(dev)), 0);
	ck_assert_str_eq(dev, "ivshmem-plain,id=" HVE_AREA_DEV_ID ",memdev=" HVE_AREA_MEM_ID);
	ck_assert_str_eq(obj, "memory-backend-file,id=" HVE_AREA_MEM_ID ",mem-path=" AREA
			      ",size=4M,share=on,readonly=on");
}
END_TEST

START_TEST(test_enroll_refusals)
{
	struct hve_opts bad = { 6 };
	struct hve_changes ch;
	char *out = NULL;
	static const char no_uuid[] = "<domain><name>x</name><devices/></domain>";
	static const char bad_uuid[] = "<domain><name>x</name><uuid>0b6c2d7e</uuid></domain>";

	ck_assert_int_eq(hve_xml_enroll(plain, &bad, &out, &ch), HV_E_INVAL);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "power of two"));
	ck_assert_int_eq(hve_xml_enroll("<network/>", NULL, &out, &ch), HV_E_FORMAT);
	ck_assert_int_eq(hve_xml_enroll("not xml at all", NULL, &out, &ch), HV_E_FORMAT);
	ck_assert_int_eq(hve_xml_enroll(no_uuid, NULL, &out, &ch), HV_E_STATE);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "full UUID"));
	ck_assert_int_eq(hve_xml_enroll(bad_uuid, NULL, &out, &ch), HV_E_STATE);
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
	tcase_add_test(tc, test_enroll_replaces_legacy_shmem);
	tcase_add_test(tc, test_enroll_repoints_cloned_area);
	tcase_add_test(tc, test_enroll_pci_slot_by_machine);
	tcase_add_test(tc, test_enroll_refusals);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
