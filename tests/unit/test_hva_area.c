/*
 * The patch area's host-side checks without a VM: where the guest may put
 * it (RAM overlap, alignment, the 1 MiB floor, the APIC/firmware hole), the
 * /proc/PID/maps and command-line parsers, and the scan for other QEMUs that
 * map an area file (over a synthetic /proc tree).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "area.h"

static const struct hve_ram_range ram[2] = {
	{ 0, 0x20000000ull },		  /* 512 MiB below 4 GiB */
	{ 0x100000000ull, 0x40000000ull } /* 1 GiB above */
};

START_TEST(test_gpa_accepts_pci_hole)
{
	ck_assert_int_eq(hve_area_check_gpa(0xfe400000ull, 4u << 20, ram, 2, "d"), 0);
	ck_assert_int_eq(hve_area_check_gpa(0xe0000000ull, 4u << 20, ram, 2, "d"), 0);
	/* 64-bit BAR above the RAM above 4 GiB. */
	ck_assert_int_eq(hve_area_check_gpa(0x800000000ull, 4u << 20, ram, 2, "d"), 0);
}
END_TEST

START_TEST(test_gpa_refuses_ram)
{
	ck_assert_int_eq(hve_area_check_gpa(0x1000000ull, 4u << 20, ram, 2, "dom"), HV_E_RANGE);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "over its RAM at 0x0..0x1fffffff"));
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "dom"));
	/* Straddling the end of RAM. */
	ck_assert_int_eq(hve_area_check_gpa(0x1fc00000ull, 4u << 20, ram, 2, "d"), HV_E_RANGE);
	ck_assert_int_eq(hve_area_check_gpa(0x100000000ull + (4u << 20), 4u << 20, ram, 2, "d"),
			 HV_E_RANGE);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "0x100000000..0x13fffffff"));
}
END_TEST

START_TEST(test_gpa_refuses_odd_places)
{
	/* Not aligned to its size. */
	ck_assert_int_eq(hve_area_check_gpa(0xfe500000ull, 4u << 20, ram, 2, "d"), HV_E_RANGE);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "not aligned"));
	/* Below 1 MiB (with no RAM there at all). */
	ck_assert_int_eq(hve_area_check_gpa(0xc0000ull, 0x40000ull, NULL, 0, "d"), HV_E_RANGE);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "below 1 MiB"));
	/* APICs and firmware. */
	ck_assert_int_eq(hve_area_check_gpa(0xfec00000ull, 0x100000ull, ram, 2, "d"), HV_E_RANGE);
	ck_assert_int_eq(hve_area_check_gpa(0xfe000000ull, 0x2000000ull, ram, 2, "d"), HV_E_RANGE);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "0xfec00000..0xffffffff"));
	/* Sizes that are no BAR's. */
	ck_assert_int_eq(hve_area_check_gpa(0xe0000000ull, 3u << 20, ram, 2, "d"), HV_E_RANGE);
	ck_assert_int_eq(hve_area_check_gpa(0xe0000000ull, 0, ram, 2, "d"), HV_E_RANGE);
	ck_assert_int_eq(hve_area_check_gpa(0xffffffffffc00000ull, 8u << 20, ram, 2, "d"),
			 HV_E_RANGE);
}
END_TEST

START_TEST(test_uuid_and_path)
{
	char p[256];

	ck_assert_int_eq(hve_area_path("0B6C2D7E-5A41-4C1E-9D0A-1F6E2A3B4C5D", p, sizeof(p)), 0);
	ck_assert_str_eq(p, HVE_AREA_DIR "/0b6c2d7e-5a41-4c1e-9d0a-1f6e2a3b4c5d");
	ck_assert_int_eq(hve_area_path("0b6c2d7e", p, sizeof(p)), HV_E_INVAL);
	ck_assert_int_eq(hve_area_path("../../../../etc/passwd-5a41-4c1e-9d0a-1f6e", p, sizeof(p)),
			 HV_E_INVAL);
	ck_assert_int_eq(hve_area_path("0b6c2d7e-5a41-4c1e-9d0a-1f6e2a3b4c5d", p, 10), HV_E_RANGE);
	ck_assert(!hve_uuid_valid(NULL));
	ck_assert(!hve_uuid_valid("0b6c2d7e-5a41-4c1e-9d0a-1f6e2a3b4c5g"));
}
END_TEST

static const char maps[] =
	"55d0c0000000-55d0c0100000 r-xp 00000000 fd:01 1234 /usr/bin/qemu-system-x86_64\n"
	"7f0000000000-7f0000400000 r--s 00000000 fd:01 98765 /var/lib/hvpatch/area/x\n"
	"7f1000000000-7f1000001000 rw-p 00000000 00:00 0 \n"
	"7f2000000000-7f2000400000 rw-s 00000000 00:01 98765 /memfd:x (deleted)";

START_TEST(test_maps_parser)
{
	ck_assert_int_eq(hve_maps_has(maps, strlen(maps), 0xfd, 1, 98765), 1);
	ck_assert_int_eq(hve_maps_has(maps, strlen(maps), 0xfd, 1, 1234), 1);
	/* Same inode, other device; last line without a newline. */
	ck_assert_int_eq(hve_maps_has(maps, strlen(maps), 0, 1, 98765), 1);
	ck_assert_int_eq(hve_maps_has(maps, strlen(maps), 0xfd, 2, 98765), 0);
	ck_assert_int_eq(hve_maps_has(maps, strlen(maps), 0xfd, 1, 9876), 0);
	/* Anonymous memory (inode 0) never matches. */
	ck_assert_int_eq(hve_maps_has(maps, strlen(maps), 0, 0, 0), 0);
	ck_assert_int_eq(hve_maps_has("garbage\n\n-", 10, 0xfd, 1, 98765), 0);
	ck_assert_int_eq(hve_maps_has(maps, 40, 0xfd, 1, 98765), 0);
}
END_TEST

START_TEST(test_cmdline_ident)
{
	static const char cmd[] = "/usr/bin/qemu-system-x86_64\0-name\0guest=web-01,debug-threads="
				  "on\0-S\0-uuid\0aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\0";
	static const char plain[] = "qemu\0-name\0vm\033[31m\0";
	char name[64], uuid[40];

	hve_cmdline_ident(cmd, sizeof(cmd) - 1, name, sizeof(name), uuid, sizeof(uuid));
	ck_assert_str_eq(name, "web-01");
	ck_assert_str_eq(uuid, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
	/* No terminal escapes reach a message; a missing value is "". */
	hve_cmdline_ident(plain, sizeof(plain) - 1, name, sizeof(name), uuid, sizeof(uuid));
	ck_assert_str_eq(name, "vm?[31m");
	ck_assert_str_eq(uuid, "");
	hve_cmdline_ident("qemu\0-name", 10, name, sizeof(name), uuid, sizeof(uuid));
	ck_assert_str_eq(name, "");
}
END_TEST

/* A synthetic /proc: a QEMU that maps the file, this domain's QEMU, an
 * hvpatch (same executable as ours) and a shell that maps it too. */
static void mkproc(const char *root, int pid, const char *exe, const char *maps_text,
		   const char *cmd, size_t cmd_len)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%d", root, pid);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/%d/exe", root, pid);
	ck_assert_int_eq(symlink(exe, p), 0);
	snprintf(p, sizeof(p), "%s/%d/maps", root, pid);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(maps_text, f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/%d/cmdline", root, pid);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fwrite(cmd, 1, cmd_len, f);
	fclose(f);
}

START_TEST(test_find_mappers)
{
	char root[] = "/tmp/hvpatch-test-proc-XXXXXX";
	static const char other_cmd[] = "qemu-system-x86_64\0-name\0guest=tenant-b,x=y\0-uuid\0"
					"bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb";
	struct hve_mapper m[4];
	dev_t dev = makedev(0xfd, 1);
	int n;

	ck_assert_ptr_nonnull(mkdtemp(root));
	mkproc(root, 100, "/usr/bin/qemu-system-x86_64", maps, "qemu\0", 5); /* this domain */
	mkproc(root, 200, "/usr/bin/qemu-system-x86_64", maps, other_cmd, sizeof(other_cmd));
	mkproc(root, 300, "/bin/sh", maps, "sh\0", 3);			   /* not a QEMU */
	mkproc(root, 400, "/usr/bin/qemu-system-x86_64", "", "qemu\0", 5); /* maps other files */

	n = hve_area_find_mappers(root, dev, 98765, 100, m, 4);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(m[0].pid, 200);
	ck_assert_str_eq(m[0].name, "tenant-b");
	ck_assert_str_eq(m[0].uuid, "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb");
	ck_assert_int_eq(hve_area_pid_maps(root, 100, dev, 98765), 1);
	ck_assert_int_eq(hve_area_pid_maps(root, 400, dev, 98765), 0);
	/* Nobody else maps another inode. */
	ck_assert_int_eq(hve_area_find_mappers(root, dev, 5, 100, m, 4), 0);
	ck_assert_int_lt(hve_area_find_mappers("/nonexistent-proc", dev, 1, 0, m, 4), 0);
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		ck_assert_int_eq(system(cmd), 0);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hva_area");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_gpa_accepts_pci_hole);
	tcase_add_test(tc, test_gpa_refuses_ram);
	tcase_add_test(tc, test_gpa_refuses_odd_places);
	tcase_add_test(tc, test_uuid_and_path);
	tcase_add_test(tc, test_maps_parser);
	tcase_add_test(tc, test_cmdline_ident);
	tcase_add_test(tc, test_find_mappers);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
