/*
 * Offline real-kernel test: the cached Debian vmlinux (ELF) is loaded into a
 * synthetic guest RAM at a chosen physical base, mapped by page tables the
 * way Linux maps its image (level2_kernel_pgt, 2 MiB pages, one of them
 * split into 4 KiB pages with freed init memory unmapped), and libhvi must
 * find the kernel, decode its kallsyms and read its release and build-id,
 * consistently with the ELF file.  Runs at the link address and at a
 * KASLR-like shifted base (relative_base adjusted as the kernel's
 * relocation would), under 4- and 5-level paging and from a PTI user CR3.
 *
 * Skipped (exit 77) when the kernel is not cached: run
 * "sh tests/guest/fetch-kernel.sh 6.1.0-56" first.
 */
#include "config.h"

#include <check.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvi_kernel.h"
#include "hvi_testlib.h"

#define LINK_TEXT 0xffffffff81000000ull
#define LINK_PHYS 0x1000000ull
#define TABLES_SZ (2ull << 20)

static char kdir[512];
static uint8_t *elf;
static size_t elf_len;
static char want_release[128];
static char want_build_id[128];

struct secinfo {
	uint64_t addr, size;
};

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (!f)
		return -1;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return -1;
	}
	*buf = malloc((size_t)n + 1);
	if (!*buf || fread(*buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		return -1;
	}
	(*buf)[n] = 0;
	*len = (size_t)n;
	fclose(f);
	return 0;
}

static const Elf64_Ehdr *ehdr(void)
{
	const Elf64_Ehdr *e = (const Elf64_Ehdr *)elf;

	ck_assert(elf_len > sizeof(*e) && !memcmp(e->e_ident, ELFMAG, SELFMAG));
	ck_assert(e->e_ident[EI_CLASS] == ELFCLASS64);
	return e;
}

static struct secinfo section(const char *name)
{
	const Elf64_Ehdr *e = ehdr();
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(elf + e->e_shoff), *strs;
	struct secinfo s = { 0, 0 };
	unsigned i;

	ck_assert(e->e_shoff + (uint64_t)e->e_shnum * sizeof(*sh) <= elf_len);
	strs = &sh[e->e_shstrndx];
	for (i = 0; i < e->e_shnum; i++) {
		if (!strcmp((const char *)elf + strs->sh_offset + sh[i].sh_name, name)) {
			s.addr = sh[i].sh_addr;
			s.size = sh[i].sh_size;
		}
	}
	ck_assert_msg(s.addr, "section %s missing from vmlinux", name);
	return s;
}

/* Copy the PT_LOAD segments at physical @phys (for the link-time physical 16 MiB). */
static uint64_t load_segments(struct tmem *t, uint64_t phys)
{
	const Elf64_Ehdr *e = ehdr();
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(elf + e->e_phoff);
	uint64_t end = 0;
	unsigned i;

	for (i = 0; i < e->e_phnum; i++) {
		uint64_t dst;

		if (ph[i].p_type != PT_LOAD)
			continue;
		ck_assert(ph[i].p_paddr >= LINK_PHYS);
		ck_assert(ph[i].p_offset + ph[i].p_filesz <= elf_len);
		dst = phys + ph[i].p_paddr - LINK_PHYS;
		ck_assert(dst + ph[i].p_memsz <= t->size);
		memcpy(t->ram + dst, elf + ph[i].p_offset, ph[i].p_filesz);
		if (ph[i].p_paddr + ph[i].p_memsz - LINK_PHYS > end)
			end = ph[i].p_paddr + ph[i].p_memsz - LINK_PHYS;
	}
	return end;
}

struct setup {
	struct tmem t;
	uint64_t text_gva, phys, image_bytes, shift;
	uint64_t split_gva; /* the 2 MiB page mapped by 4 KiB pages */
	unsigned unmapped;  /* 4 KiB pages left unmapped in it */
};

/*
 * Build a guest: image at @phys, _text at @text_gva, @levels-level paging.
 * Text pages RX (0x1e1 like Linux), the rest RW+NX; the 2 MiB page holding
 * .init.text is split into 4 KiB pages and its init pages are unmapped.
 */
static void build(struct setup *s, uint64_t phys, uint64_t text_gva, unsigned levels)
{
	struct secinfo text = section(".text"), init = section(".init.text");
	uint64_t ram, off, tables;

	memset(s, 0, sizeof(*s));
	s->text_gva = text_gva;
	s->phys = phys;
	s->shift = text_gva - LINK_TEXT;
	/* image size from the ELF, rounded to 2 MiB */
	{
		const Elf64_Ehdr *e = ehdr();
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(elf + e->e_phoff);
		unsigned i;

		for (i = 0; i < e->e_phnum; i++)
			if (ph[i].p_type == PT_LOAD &&
			    ph[i].p_paddr + ph[i].p_memsz - LINK_PHYS > s->image_bytes)
				s->image_bytes = ph[i].p_paddr + ph[i].p_memsz - LINK_PHYS;
		s->image_bytes = (s->image_bytes + HVI_PAGE_2M - 1) & ~(HVI_PAGE_2M - 1);
	}
	tables = phys + s->image_bytes;
	ram = tables + TABLES_SZ;
	ck_assert_int_eq(tmem_init(&s->t, ram, tables, TABLES_SZ, levels), 0);
	ck_assert_uint_eq(load_segments(&s->t, phys) <= s->image_bytes, 1);
	s->split_gva = (init.addr & ~(HVI_PAGE_2M - 1)) + s->shift;
	for (off = 0; off < s->image_bytes; off += HVI_PAGE_2M) {
		uint64_t gva = text_gva + off, link = LINK_TEXT + off;
		uint64_t flags = link < text.addr + text.size ? HVI_PTE_A | HVI_PTE_D | HVI_PTE_G
							      : HVI_PTE_A | HVI_PTE_D | HVI_PTE_G |
									HVI_PTE_RW | HVI_PTE_NX;

		if (gva == s->split_gva) {
			uint64_t k;

			for (k = 0; k < HVI_PAGE_2M; k += HVI_PAGE_4K) {
				uint64_t l = link + k;

				/* freed init memory: unmapped, like free_kernel_image_pages() */
				if (l >= init.addr && l < init.addr + 0x40000) {
					s->unmapped++;
					continue;
				}
				tmem_map(&s->t, gva + k, phys + off + k, HVI_PAGE_4K,
					 HVI_PTE_A | HVI_PTE_D | HVI_PTE_G | HVI_PTE_RW);
			}
			continue;
		}
		tmem_map(&s->t, gva, phys + off, HVI_PAGE_2M, flags);
	}
	/* a user mapping in the user half of the PTI PGD only */
	tmem_set(&s->t, s->t.pgd + HVI_PAGE_4K, 0, 0x1234067);
}

/* Find relative_base at link time and move it by @shift (KASLR relocation). */
static void relocate_relative_base(struct setup *s)
{
	struct hvi_ksyms_tables t;
	uint8_t *img = s->t.ram + s->phys;
	uint64_t rb;

	ck_assert_int_eq(hvi_ksyms_find(img, s->image_bytes, &t), 0);
	rb = get_u64(img + t.relative_base_off);
	ck_assert_msg(rb == LINK_TEXT, "relative_base in the file is 0x%llx",
		      (unsigned long long)rb);
	put_u64(img + t.relative_base_off, rb + s->shift);
}

static uint64_t sym(const struct hvi_kernel *k, const char *name)
{
	struct hvi_sym s;
	int r = hvi_sym_lookup(k->syms, name, &s);

	ck_assert_msg(r == 0, "lookup %s: %s", name, hv_err_last()->msg);
	return s.addr;
}

static void check_kernel(const struct setup *s, const struct hvi_kernel *k)
{
	struct secinfo text = section(".text"), notes = section(".notes"),
		       rodata = section(".rodata");
	uint64_t cps, fentry, addr, off;
	const uint8_t *img = s->t.ram + s->phys;
	struct hvi_sym hs, dups[4];
	int32_t rel;
	size_t i, ndup = 0;
	char dupname[600] = "";

	ck_assert_uint_eq(k->loc.text_gva, s->text_gva);
	ck_assert_uint_eq(k->loc.text_gpa, s->phys);
	ck_assert_int_eq(k->loc.kaslr_offset, (int64_t)s->shift);
	ck_assert_uint_eq(k->loc.image_end_gva, s->text_gva + s->image_bytes);
	ck_assert_str_eq(k->release, want_release);
	ck_assert_str_eq(k->build_id_hex, want_build_id);
	ck_assert_uint_eq(k->image.holes, s->unmapped);
	ck_assert_uint_gt(k->nsyms, 50000);
	/* Debian 6.1 carries the kallsyms_seqs_of_names backport (the 6.2 order) */
	ck_assert_str_eq(k->tables.layout, "linux-6.2");
	/* symbols against the ELF sections */
	ck_assert_uint_eq(sym(k, "_text"), text.addr + s->shift);
	ck_assert_uint_eq(sym(k, "_stext"), text.addr + s->shift);
	ck_assert_uint_eq(sym(k, "__start_notes"), notes.addr + s->shift);
	ck_assert_uint_eq(sym(k, "__stop_notes"), notes.addr + notes.size + s->shift);
	ck_assert_uint_eq(sym(k, "__start_rodata"), rodata.addr + s->shift);
	addr = sym(k, "linux_banner");
	ck_assert(addr >= rodata.addr + s->shift && addr < rodata.addr + rodata.size + s->shift);
	ck_assert_uint_le(sym(k, "_end"), k->loc.image_end_gva);
	/* cmdline_proc_show: in .text, and its file bytes call __fentry__ */
	cps = sym(k, "cmdline_proc_show");
	ck_assert(cps >= text.addr + s->shift && cps < text.addr + text.size + s->shift);
	fentry = sym(k, "__fentry__");
	ck_assert_uint_eq(img[cps - s->text_gva], 0xe8);
	memcpy(&rel, img + (cps - s->text_gva) + 1, 4);
	ck_assert_uint_eq(cps + 5 + (uint64_t)(int64_t)rel, fentry);
	/* address -> symbol */
	ck_assert_int_eq(hvi_sym_by_addr(k->syms, cps + 3, 0, &hs, &off), 0);
	ck_assert_str_eq(hs.name, "cmdline_proc_show");
	ck_assert_uint_eq(off, 3);
	ck_assert_int_eq(hvi_sym_by_addr(k->syms, s->text_gva, 0, &hs, &off), 0);
	ck_assert_uint_eq(off, 0);
	ck_assert_uint_eq(hs.addr, s->text_gva);
	/* per-cpu symbols are absolute and not moved by KASLR */
	ck_assert_int_eq(hvi_sym_lookup(k->syms, "fixed_percpu_data", &hs), 0);
	ck_assert(hs.absolute);
	ck_assert_uint_eq(hs.addr, 0);
	/* translation of a text address gives its physical place and permissions */
	{
		uint64_t gpa;
		unsigned perms;

		ck_assert_int_eq(hvi_translate(&k->pg, cps, &gpa, &perms), 0);
		ck_assert_uint_eq(gpa, s->phys + (cps - s->text_gva));
		ck_assert_uint_eq(perms & (HVI_PERM_W | HVI_PERM_NX | HVI_PERM_U), 0);
	}
	/* duplicates: a static name that occurs several times */
	for (i = 0; i < k->nsyms && !dupname[0]; i++) {
		ck_assert_int_eq(hvi_symtab_get(k->syms, i, &hs), 0);
		if (hs.dup_count >= 2 && !hs.absolute)
			snprintf(dupname, sizeof(dupname), "%s", hs.name);
	}
	ck_assert_msg(dupname[0], "no duplicated symbol name found");
	ndup = (size_t)hvi_sym_lookup_all(k->syms, dupname, dups, 4);
	ck_assert_uint_ge(ndup, 2);
	ck_assert_uint_le(dups[0].addr, dups[1].addr);
	ck_assert_int_eq(hvi_sym_lookup(k->syms, dupname, &hs), HV_E_INVAL);
	{
		char at[640];

		snprintf(at, sizeof(at), "%s@1", dupname);
		ck_assert_int_eq(hvi_sym_lookup(k->syms, at, &hs), 0);
		ck_assert_uint_eq(hs.addr, dups[1].addr);
	}
	/* the level2 free map: the image entries are taken, the one after is free */
	ck_assert(!hvi_l2_entry_free(&k->loc, k->loc.first_index));
	ck_assert(hvi_l2_entry_free(&k->loc, k->loc.end_index));
}

/* With @copy the memory has no map callback, so the image is copied. */
static void run_case(uint64_t phys, uint64_t text_gva, unsigned levels, int pti, int copy)
{
	struct setup s;
	struct hvi_kernel *k = NULL;
	uint64_t cr3;
	int r;

	build(&s, phys, text_gva, levels);
	if (text_gva != LINK_TEXT)
		relocate_relative_base(&s);
	cr3 = s.t.pgd | (pti ? HVI_CR3_PTI_USER | 0x5 : 0);
	if (copy)
		s.t.mem.map = NULL;
	r = hvi_kernel_open(&s.t.mem, cr3, tmem_cr4(&s.t), NULL, &k);
	ck_assert_msg(r == 0, "hvi_kernel_open: %s", hv_err_last()->msg);
	ck_assert_uint_eq(k->pg.levels, levels);
	ck_assert_int_eq(k->pg.pti_user, pti);
	check_kernel(&s, k);
	ck_assert_int_eq(k->image.direct, !copy);
	hvi_kernel_close(k);
	tmem_free(&s.t);
}

START_TEST(test_link_address_4level)
{
	run_case(LINK_PHYS, LINK_TEXT, 4, 0, 0);
}
END_TEST

START_TEST(test_kaslr_4level_pti)
{
	run_case(0x7a00000, 0xffffffffb5400000ull, 4, 1, 0);
}
END_TEST

START_TEST(test_kaslr_5level)
{
	run_case(0x3200000, 0xffffffff9ce00000ull, 5, 0, 1);
}
END_TEST

/* The decoded _text must match the page tables: a moved base is rejected. */
START_TEST(test_kaslr_without_relocation_rejected)
{
	struct setup s;
	struct hvi_kernel *k = NULL;

	build(&s, 0x7a00000, 0xffffffffb5400000ull, 4);
	ck_assert_int_eq(hvi_kernel_open(&s.t.mem, s.t.pgd, 0, NULL, &k), HV_E_VERIFY);
	ck_assert_ptr_null(k);
	tmem_free(&s.t);
}
END_TEST

/* IDT cross-check: a gate pointing into the text passes, one outside fails. */
START_TEST(test_idt_crosscheck)
{
	struct setup s;
	struct hvi_kernel *k = NULL;
	struct hvi_open_opts o;
	uint64_t idt_gpa, h = 0xffffffffb5400000ull + 0x1234, idt_gva = 0xfffffe0000000000ull;
	uint8_t *g;

	build(&s, 0x7a00000, 0xffffffffb5400000ull, 4);
	relocate_relative_base(&s);
	idt_gpa = tmem_table(&s.t);
	tmem_map(&s.t, idt_gva, idt_gpa, HVI_PAGE_4K, HVI_PTE_NX);
	g = s.t.ram + idt_gpa;
	put_u16(g, (uint16_t)h);
	put_u16(g + 2, 0x10);
	put_u16(g + 4, 0x8e00);
	put_u16(g + 6, (uint16_t)(h >> 16));
	put_u32(g + 8, (uint32_t)(h >> 32));
	memset(&o, 0, sizeof(o));
	o.idtr_base = idt_gva;
	o.idtr_limit = 4095;
	ck_assert_int_eq(hvi_kernel_open(&s.t.mem, s.t.pgd, 0, &o, &k), 0);
	ck_assert(k->idt_checked);
	ck_assert_uint_eq(k->idt_handler0, h);
	hvi_kernel_close(k);
	k = NULL;
	put_u16(g + 6, 0x0000); /* handler now at 0xffffffff00001234 */
	ck_assert_int_eq(hvi_kernel_open(&s.t.mem, s.t.pgd, 0, &o, &k), HV_E_VERIFY);
	ck_assert_ptr_null(k);
	tmem_free(&s.t);
}
END_TEST

/*
 * Mutations of the real kallsyms tables (bytes flipped or overwritten in
 * offsets, names, markers, seqs, token table and index): finding and
 * decoding never crash, and whatever decodes still places _text at the base.
 */
START_TEST(test_real_tables_mutated)
{
	struct setup s;
	struct hvi_ksyms_tables t0;
	uint8_t *img, *orig;
	size_t lo, hi;
	unsigned iter, ok = 0, bad = 0;

	build(&s, LINK_PHYS, LINK_TEXT, 4);
	img = s.t.ram + s.phys;
	ck_assert_int_eq(hvi_ksyms_find(img, s.image_bytes, &t0), 0);
	lo = t0.offsets_off;
	hi = t0.token_index_off + 512;
	orig = malloc(hi - lo);
	ck_assert_ptr_nonnull(orig);
	memcpy(orig, img + lo, hi - lo);
	srand(56);
	for (iter = 0; iter < 60; iter++) {
		struct hvi_ksyms_tables t;
		struct hvi_symtab *st = NULL;
		unsigned f, n = 1 + (unsigned)rand() % 6;
		int r;

		for (f = 0; f < n; f++) {
			/* aim at the small tables half of the time */
			size_t at =
				rand() % 2 ? t0.markers_off + (size_t)rand() % (hi - t0.markers_off)
					   : lo + (size_t)rand() % (hi - lo);

			img[at] = rand() % 2 ? (uint8_t)(img[at] ^ (1u << (rand() % 8)))
					     : (uint8_t)rand();
		}
		r = hvi_ksyms_find(img, s.image_bytes, &t);
		if (r == 0)
			r = hvi_ksyms_decode(img, s.image_bytes, &t, LINK_TEXT, &st);
		if (r >= 0) {
			struct hvi_sym y;

			ck_assert_int_eq(hvi_sym_lookup(st, "_text", &y), 0);
			ck_assert_uint_eq(y.addr, LINK_TEXT);
			ok++;
		} else {
			ck_assert(r == HV_E_NOTFOUND || r == HV_E_FORMAT || r == HV_E_VERIFY);
			bad++;
		}
		hvi_symtab_free(st);
		memcpy(img + lo, orig, hi - lo);
	}
	ck_assert_uint_gt(ok, 0);
	ck_assert_uint_gt(bad, 0);
	free(orig);
	tmem_free(&s.t);
}
END_TEST

int main(void)
{
	const char *cache = getenv("HVPATCH_CACHE");
	const char *abi = getenv("HVPATCH_TEST_ABI");
	char path[600];
	Suite *su;
	TCase *tc;
	SRunner *sr;
	int failed;

	snprintf(kdir, sizeof(kdir), "%s/kernels/%s", cache ? cache : "/var/cache/hvpatch",
		 abi ? abi : "6.1.0-56");
	snprintf(path, sizeof(path), "%s/vmlinux", kdir);
	if (access(path, R_OK) != 0) {
		printf("SKIP: %s is not cached; run 'sh tests/guest/fetch-kernel.sh %s' first\n",
		       path, abi ? abi : "6.1.0-56");
		return 77;
	}
	if (read_file(path, &elf, &elf_len) != 0) {
		printf("cannot read %s\n", path);
		return 1;
	}
	{
		FILE *f;

		snprintf(path, sizeof(path), "%s/release", kdir);
		f = fopen(path, "r");
		if (!f || !fgets(want_release, sizeof(want_release), f))
			return 1;
		fclose(f);
		want_release[strcspn(want_release, "\n")] = 0;
		snprintf(path, sizeof(path), "%s/build-id", kdir);
		f = fopen(path, "r");
		if (!f || !fgets(want_build_id, sizeof(want_build_id), f))
			return 1;
		fclose(f);
		want_build_id[strcspn(want_build_id, "\n")] = 0;
	}
	su = suite_create("hvi_vmlinux");
	tc = tcase_create("real kernel image");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_link_address_4level);
	tcase_add_test(tc, test_kaslr_4level_pti);
	tcase_add_test(tc, test_kaslr_5level);
	tcase_add_test(tc, test_kaslr_without_relocation_rejected);
	tcase_add_test(tc, test_idt_crosscheck);
	tcase_add_test(tc, test_real_tables_mutated);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	free(elf);
	return failed ? 1 : 0;
}
