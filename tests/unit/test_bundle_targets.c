/*
 * The example patches' targets exist in the pinned kernels and can be
 * redirected: for each kernel whose vmlinux is cached, every "replace"
 * target of every docs/examples manifest resolves (through libhvi's
 * kallsyms decoder over the image) to exactly one function, or to the one
 * its "@N" names, and that function starts with "call __fentry__" (the
 * ftrace site the kernel turns into the 5-byte NOP at boot).  Also checks
 * that the build-id hvpatch reads from each vmlinux is the one in
 * tests/unit/bundle-data/kernels.
 *
 * Skipped (exit 77) when no pinned vmlinux is cached: run
 * "sh tests/guest/fetch-kernel.sh 6.1.0-56" first.
 */
#include "config.h"

#include <check.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hv_hex.h"
#include "hvb.h"
#include "hvb_build.h"
#include "hvi_kallsyms.h"

#define LINK_TEXT 0xffffffff81000000ull
#define LINK_PHYS 0x1000000ull

static const char *const abis[] = { "6.1.0-55", "6.1.0-56" };
static const char *const examples[] = { "cmdline-level", "hostname-check", "version-level" };

static const char *cache_dir(void)
{
	const char *c = getenv("HVPATCH_CACHE");

	return c && *c ? c : "/var/cache/hvpatch";
}

/* The kernel image from _text on, as the kernel lays it out in memory. */
static uint8_t *image_of(const uint8_t *elf, size_t len, size_t *img_len)
{
	const Elf64_Ehdr *e = (const Elf64_Ehdr *)elf;
	const Elf64_Phdr *ph;
	uint64_t end = 0;
	uint8_t *img;
	unsigned i;

	ck_assert(len > sizeof(*e) && !memcmp(e->e_ident, ELFMAG, SELFMAG));
	ck_assert(e->e_phoff + (uint64_t)e->e_phnum * sizeof(*ph) <= len);
	ph = (const Elf64_Phdr *)(elf + e->e_phoff);
	for (i = 0; i < e->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_paddr + ph[i].p_memsz - LINK_PHYS > end)
			end = ph[i].p_paddr + ph[i].p_memsz - LINK_PHYS;
	ck_assert_uint_lt(end, 256u << 20);
	img = calloc(1, end);
	ck_assert_ptr_nonnull(img);
	for (i = 0; i < e->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD)
			continue;
		ck_assert(ph[i].p_paddr >= LINK_PHYS && ph[i].p_offset + ph[i].p_filesz <= len);
		memcpy(img + (ph[i].p_paddr - LINK_PHYS), elf + ph[i].p_offset, ph[i].p_filesz);
	}
	*img_len = end;
	return img;
}

START_TEST(test_example_targets_traceable)
{
	const char *abi = abis[_i];
	const char *top = getenv("top_srcdir") ? getenv("top_srcdir") : ".";
	char path[4096], want_bid[128] = "", line[256], hex[2 * HVB_MAX_BUILD_ID + 1];
	struct hvb_kernel_id kid;
	struct hvi_ksyms_tables t;
	struct hvi_symtab *st = NULL;
	struct hvi_sym fentry;
	uint8_t *elf = NULL, *img;
	size_t len = 0, img_len = 0, i, j;
	FILE *f;

	snprintf(path, sizeof(path), "%s/kernels/%s/vmlinux", cache_dir(), abi);
	if (hvb_read_file(path, 1024u << 20, &elf, &len) < 0) {
		printf("%s: no cached vmlinux (%s); not checked\n", abi, path);
		return;
	}
	/* build-id as hvpatch build reads it == the test data */
	snprintf(path, sizeof(path), "%s/tests/unit/bundle-data/kernels", top);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, abi, strlen(abi)) && line[strlen(abi)] == ' ')
			sscanf(line + strlen(abi) + 1, "%127s", want_bid);
	fclose(f);
	ck_assert_int_eq(hvb_vmlinux_identify(elf, len, abi, &kid), 0);
	hv_hex_encode(hex, sizeof(hex), kid.build_id, kid.build_id_len);
	ck_assert_str_eq(hex, want_bid);
	ck_assert(!strncmp(kid.release, abi, strlen(abi)));

	img = image_of(elf, len, &img_len);
	ck_assert_int_eq(hvi_ksyms_find(img, img_len, &t), 0);
	ck_assert_int_gt(hvi_ksyms_decode(img, img_len, &t, LINK_TEXT, &st), 0);
	ck_assert_int_eq(hvi_sym_lookup(st, "__fentry__", &fentry), 0);
	for (i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		struct hvb_manifest *m = NULL;
		uint8_t *text = NULL;
		size_t tlen = 0;

		snprintf(path, sizeof(path), "%s/docs/examples/%s/manifest", top, examples[i]);
		ck_assert_int_eq(hvb_read_file(path, 1 << 20, &text, &tlen), 0);
		ck_assert_int_eq(hvb_manifest_parse((const char *)text, tlen, path, &m), 0);
		for (j = 0; j < m->nrepl; j++) {
			char spec[600];
			struct hvi_sym s;
			uint64_t off;
			int32_t rel;

			if (m->repl[j].target_index == HVB_NO_INDEX)
				snprintf(spec, sizeof(spec), "%s", m->repl[j].target);
			else
				snprintf(spec, sizeof(spec), "%s@%u", m->repl[j].target,
					 m->repl[j].target_index);
			ck_assert_msg(hvi_sym_lookup(st, spec, &s) == 0, "%s in %s: %s", spec, abi,
				      hv_err_last()->msg);
			ck_assert_msg(s.type == 't' || s.type == 'T', "%s is not code", spec);
			off = s.addr - LINK_TEXT;
			ck_assert_uint_lt(off + 5, img_len);
			ck_assert_msg(img[off] == 0xe8,
				      "%s in %s does not start with call __fentry__", spec, abi);
			rel = (int32_t)((uint32_t)img[off + 1] | (uint32_t)img[off + 2] << 8 |
					(uint32_t)img[off + 3] << 16 |
					(uint32_t)img[off + 4] << 24);
			ck_assert_msg(s.addr + 5 + (uint64_t)(int64_t)rel == fentry.addr,
				      "%s in %s starts with a call, but not to __fentry__", spec,
				      abi);
		}
		hvb_manifest_free(m);
		free(text);
	}
	hvi_symtab_free(st);
	free(img);
	free(elf);
}
END_TEST

int main(void)
{
	SRunner *r;
	Suite *s;
	TCase *t;
	char path[4096];
	size_t i;
	int failed, cached = 0;

	for (i = 0; i < sizeof(abis) / sizeof(abis[0]); i++) {
		snprintf(path, sizeof(path), "%s/kernels/%s/vmlinux", cache_dir(), abis[i]);
		if (access(path, R_OK) == 0)
			cached++;
	}
	if (!cached) {
		printf("SKIP: no pinned vmlinux is cached; run 'sh tests/guest/fetch-kernel.sh "
		       "6.1.0-56' (and 6.1.0-55)\n");
		return 77;
	}
	s = suite_create("bundle-targets");
	t = tcase_create("targets");
	tcase_set_timeout(t, 120);
	tcase_add_loop_test(t, test_example_targets_traceable, 0,
			    (int)(sizeof(abis) / sizeof(abis[0])));
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_set_fork_status(r, CK_NOFORK);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
