/*
 * Cross-check against GNU ld: an object compiled the way kbuild compiles
 * kernel code (-mcmodel=kernel -pg -mfentry) goes through hvb_build_object()
 * and hvb_apply_relocs() with fixed section and symbol addresses, and the
 * result must be byte-for-byte what ld produces when it links the same
 * object at the same addresses (except that each "call __fentry__" is the
 * 5-byte NOP in the bundle).  Exits 77 (skip) without gcc, ld or objcopy.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvb.h"
#include "hvb_build.h"

static char dir[] = "/tmp/hvb-ld-XXXXXX";

static const char source[] =
	"struct seq_file;\n"
	"extern char *saved_command_line;\n"
	"int seq_puts(struct seq_file *m, const char *s);\n"
	"int seq_printf(struct seq_file *m, const char *f, ...);\n"
	"int hvpatch_orig_version_proc_show(struct seq_file *m, void *v);\n"
	"static int counter;\n"
	"static long table[4] = { 1, 2, 3, 4 };\n"
	"int hvp_cmdline_proc_show(struct seq_file *m, void *v);\n"
	"int hvp_version_proc_show(struct seq_file *m, void *v);\n"
	"static int (*const hooks[])(struct seq_file *, void *) = { hvp_cmdline_proc_show,\n"
	"	hvp_version_proc_show };\n"
	"int (*hook_ptr)(struct seq_file *, void *) = hvp_version_proc_show;\n"
	"__attribute__((noinline)) static void bump(int *p) { *p += 1; }\n"
	"int hvp_cmdline_proc_show(struct seq_file *m, void *v)\n"
	"{\n"
	"	bump(&counter);\n"
	"	seq_puts(m, saved_command_line);\n"
	"	seq_puts(m, \" hvpatch_level=ld-1\\n\");\n"
	"	return table[counter & 3] > 2;\n"
	"}\n"
	"int hvp_version_proc_show(struct seq_file *m, void *v)\n"
	"{\n"
	"	int r = hvpatch_orig_version_proc_show(m, v);\n"
	"	seq_printf(m, \"a longer format string so it lands in .rodata.str1.8: %d %p\\n\",\n"
	"		   counter, (void *)hooks[counter & 1]);\n"
	"	return r + (int)(long)&table[1];\n"
	"}\n";

static const char manifest_text[] = "patch-id = ld\nlevel = ld-1\n"
				    "replace = cmdline_proc_show -> hvp_cmdline_proc_show\n"
				    "replace = version_proc_show -> hvp_version_proc_show\n";

static const struct {
	const char *name;
	uint64_t addr;
} ksyms[] = {
	{ "__fentry__", 0xffffffff81000000ull },
	{ "__x86_return_thunk", 0xffffffff81000100ull },
	{ "seq_puts", 0xffffffff81111110ull },
	{ "seq_printf", 0xffffffff81111220ull },
	{ "saved_command_line", 0xffffffff82222220ull },
};
#define VERSION_PROC_SHOW 0xffffffff81333330ull
#define CMDLINE_PROC_SHOW 0xffffffff81333440ull

/* ld's placement for each kind of bundle section. */
static const uint64_t kind_addr[5] = { 0, 0xffffffffc0200000ull, 0xffffffffc0300000ull,
				       0xffffffffc0400000ull, 0xffffffffc0500000ull };
static const char *const kind_sec[5] = { NULL, ".text", ".rodata", ".data", ".bss" };

static int resolve(void *ctx, const char *name, uint64_t *addr)
{
	size_t i;

	(void)ctx;
	for (i = 0; i < sizeof(ksyms) / sizeof(ksyms[0]); i++)
		if (!strcmp(ksyms[i].name, name)) {
			*addr = ksyms[i].addr;
			return 0;
		}
	return hv_err(HV_E_NOTFOUND, "kernel symbol %s is not in the test table", name);
}

/* Run @cmd in the scratch directory. */
static int sh(const char *cmd)
{
	char full[4096];

	snprintf(full, sizeof(full), "cd %s && %s", dir, cmd);
	return system(full);
}

START_TEST(test_matches_ld)
{
	static const uint8_t nop5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	char path[4200], defs[2048] = "", *d = defs, cmd[3000];
	struct hvb_manifest *m = NULL;
	struct hvb_kernel_id k;
	struct hvb_bundle *b = NULL;
	struct hvb_build_report rep;
	struct hvb_patched out;
	uint64_t secaddr[HVB_MAX_SECTIONS], tgt[2] = { CMDLINE_PROC_SHOW, VERSION_PROC_SHOW };
	struct hvb_placement pl = { secaddr, tgt };
	uint8_t *obj = NULL;
	size_t olen = 0, i, j;
	unsigned nops = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/p.c", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(source, f);
	fclose(f);
	ck_assert_int_eq(sh("gcc -O2 -mcmodel=kernel -fno-pic -pg -mfentry "
			    "-fcf-protection=none -fno-common -fno-asynchronous-unwind-tables "
			    "-fno-stack-protector -fno-jump-tables -mindirect-branch=thunk-extern "
			    "-mfunction-return=thunk-extern -c p.c -o p.o"),
			 0);
	snprintf(path, sizeof(path), "%s/p.o", dir);
	ck_assert_int_eq(hvb_read_file(path, 0, &obj, &olen), 0);
	ck_assert_int_eq(
		hvb_manifest_parse(manifest_text, sizeof(manifest_text) - 1, "ld.manifest", &m), 0);
	memset(&k, 0, sizeof(k));
	k.build_id_len = 1;
	strcpy(k.release, "test");
	ck_assert_msg(hvb_build_object(obj, olen, "p.o", m, &k, 1, &b, &rep) == 0, "%s",
		      hv_err_last()->msg);
	ck_assert_uint_ge(rep.fentry_nops, 3); /* two replacements and bump() */
	ck_assert_uint_ge(b->nsections, 3);
	for (i = 0; i < b->nsections; i++)
		secaddr[i] = kind_addr[b->sections[i].kind];
	ck_assert_msg(hvb_apply_relocs(b, &pl, resolve, NULL, &out) == 0, "%s", hv_err_last()->msg);

	/* Link the same object with ld at the same addresses. */
	for (i = 0; i < sizeof(ksyms) / sizeof(ksyms[0]); i++)
		d += sprintf(d, " --defsym=%s=0x%llx", ksyms[i].name,
			     (unsigned long long)ksyms[i].addr);
	sprintf(d, " --defsym=hvpatch_orig_version_proc_show=0x%llx",
		(unsigned long long)(VERSION_PROC_SHOW + HVB_ORIG_BODY_OFFSET));
	snprintf(path, sizeof(path), "%s/p.ld", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"SECTIONS {\n"
		"  .text 0x%llx : { *(.text .text.*) }\n"
		"  .rodata 0x%llx : { *(.rodata .rodata.*) }\n"
		"  .data 0x%llx : { *(.data .data.*) }\n"
		"  .bss 0x%llx : { *(.bss .bss.*) }\n"
		"  /DISCARD/ : { *(*) }\n"
		"}\n",
		(unsigned long long)kind_addr[1], (unsigned long long)kind_addr[2],
		(unsigned long long)kind_addr[3], (unsigned long long)kind_addr[4]);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "ld -static -nostdlib -T p.ld %s -o p.elf p.o", defs);
	ck_assert_int_eq(sh(cmd), 0);

	for (i = 0; i < b->nsections; i++) {
		const struct hvb_section *s = &b->sections[i];
		uint8_t *ref = NULL;
		size_t rlen = 0;

		if (s->kind == HVB_SEC_BSS)
			continue;
		snprintf(cmd, sizeof(cmd), "objcopy -O binary --only-section=%s p.elf sec.bin",
			 kind_sec[s->kind]);
		ck_assert_int_eq(sh(cmd), 0);
		snprintf(path, sizeof(path), "%s/sec.bin", dir);
		ck_assert_int_eq(hvb_read_file(path, 0, &ref, &rlen), 0);
		ck_assert_uint_eq(rlen, s->size_bytes);
		for (j = 0; j < rlen; j++) {
			if (s->kind == HVB_SEC_TEXT && j + 5 <= rlen &&
			    !memcmp(out.bytes[i] + j, nop5, 5) && ref[j] == 0xe8) {
				int32_t rel =
					(int32_t)((uint32_t)ref[j + 1] | (uint32_t)ref[j + 2] << 8 |
						  (uint32_t)ref[j + 3] << 16 |
						  (uint32_t)ref[j + 4] << 24);

				/* ld's "call __fentry__" is the bundle's NOP */
				ck_assert_uint_eq(kind_addr[1] + j + 5 + (uint64_t)(int64_t)rel,
						  ksyms[0].addr);
				nops++;
				j += 4;
				continue;
			}
			ck_assert_msg(out.bytes[i][j] == ref[j],
				      "%s+0x%zx: bundle 0x%02x, ld 0x%02x", s->name, j,
				      out.bytes[i][j], ref[j]);
		}
		free(ref);
	}
	ck_assert_uint_eq(nops, rep.fentry_nops);
	hvb_patched_free(&out);
	hvb_build_report_free(&rep);
	hvb_free(b);
	hvb_manifest_free(m);
	free(obj);
}
END_TEST

int main(void)
{
	SRunner *r;
	Suite *s;
	TCase *t;
	char cmd[256];
	int failed;

	if (system("command -v gcc >/dev/null && command -v ld >/dev/null && "
		   "command -v objcopy >/dev/null") != 0) {
		printf("SKIP: gcc, ld or objcopy is missing (apt-get install gcc binutils)\n");
		return 77;
	}
	if (!mkdtemp(dir))
		return 99;
	s = suite_create("bundle-ld");
	t = tcase_create("ld");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, test_matches_ld);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_set_fork_status(r, CK_NOFORK);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		failed++;
	return failed ? 1 : 0;
}
