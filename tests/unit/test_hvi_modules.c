/*
 * The module list and module symbol tables over synthetic guest memory: a
 * direct map of RAM at the kernel's page_offset holding the list head,
 * the module area mapped onto RAM holding each module's core layout
 * (struct module, its Elf64_Sym table, strings and types), with the 6.1
 * layout taken from a synthetic BTF; then hostile lists and tables (a
 * loop, a pointer outside RAM, an endless list, a huge num_symtab, names
 * without an end, tables outside the module), each an error, never a hang.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/btf.h>

#include "hvi_btf.h"
#include "hvi_modules.h"
#include "hvi_paging.h"
#include "hvi_testlib.h"

#define RAM	  (32ull << 20)
#define TABLES	  (30ull << 20)
#define TABLES_SZ (1ull << 20)
#define PO	  0xffff888000000000ull /* direct map of RAM */
#define MOD_GPA	  0x400000ull		/* where the module area's first 2 MiB live */
#define HEAD	  (PO + 0x1000)		/* the kernel's `modules` */
#define CORE(i)	  (HVI_MODULES_VADDR + (uint64_t)(i)*0x10000)
#define MOD(i)	  (CORE(i) + 0x8000) /* struct module, in the core's data */
#define SYMTAB(i) (CORE(i) + 0x9000)
#define STRTAB(i) (CORE(i) + 0xa000)
#define TYPES(i)  (CORE(i) + 0xb000)
#define CORE_SIZE 0x10000u

static struct tmem t;
static struct hvi_paging pg;
static struct hvi_modules_layout L;

static uint8_t *at(uint64_t gva)
{
	if (gva >= HVI_MODULES_VADDR)
		return t.ram + MOD_GPA + (gva - HVI_MODULES_VADDR);
	return t.ram + (gva - PO);
}

static void w64(uint64_t gva, uint64_t v)
{
	put_u64(at(gva), v);
}

static void w32(uint64_t gva, uint32_t v)
{
	put_u32(at(gva), v);
}

static int must(int id)
{
	ck_assert_msg(id > 0, "libbpf writer: %d", id);
	return id;
}

static void field(struct btf *w, const char *name, int type, unsigned off)
{
	ck_assert_int_eq(btf__add_field(w, name, type, off * 8, 0), 0);
}

/*
 * BTF with Debian 6.1's struct module (the members read, at their real
 * offsets), struct module_layout, struct mod_kallsyms and enum
 * module_state; with @v64 the 6.4+ struct module (mem[] instead of
 * core_layout).
 */
static struct hvi_btf *make_btf(int v64)
{
	struct btf *w = btf__new_empty();
	int uint_, ulong, char_, pvoid, lh, lh_ptr, name_arr, layout, ks, ks_ptr, es, mod, mem_arr;
	struct hvi_btf *b = NULL;
	const void *raw;
	uint32_t n = 0;

	ck_assert_ptr_nonnull(w);
	uint_ = must(btf__add_int(w, "unsigned int", 4, 0));
	ulong = must(btf__add_int(w, "long unsigned int", 8, 0));
	char_ = must(btf__add_int(w, "char", 1, BTF_INT_CHAR));
	pvoid = must(btf__add_ptr(w, 0));
	lh = must(btf__add_struct(w, "list_head", 16));
	field(w, "next", lh + 1, 0);
	field(w, "prev", lh + 1, 8);
	lh_ptr = must(btf__add_ptr(w, lh));
	ck_assert_int_eq(lh_ptr, lh + 1);
	name_arr = must(btf__add_array(w, uint_, char_, 56));
	layout = must(btf__add_struct(w, "module_layout", 80));
	field(w, "base", pvoid, 0);
	field(w, "size", uint_, 8);
	field(w, "text_size", uint_, 12);
	field(w, "ro_size", uint_, 16);
	field(w, "ro_after_init_size", uint_, 20);
	ks = must(btf__add_struct(w, "mod_kallsyms", 32));
	field(w, "symtab", pvoid, 0);
	field(w, "num_symtab", uint_, 8);
	field(w, "strtab", pvoid, 16);
	field(w, "typetab", pvoid, 24);
	ks_ptr = must(btf__add_ptr(w, ks));
	es = must(btf__add_enum(w, "module_state", 4));
	ck_assert_int_eq(btf__add_enum_value(w, "MODULE_STATE_LIVE", 0), 0);
	ck_assert_int_eq(btf__add_enum_value(w, "MODULE_STATE_COMING", 1), 0);
	ck_assert_int_eq(btf__add_enum_value(w, "MODULE_STATE_GOING", 2), 0);
	ck_assert_int_eq(btf__add_enum_value(w, "MODULE_STATE_UNFORMED", 3), 0);
	mem_arr = must(btf__add_array(w, uint_, layout, 7));
	mod = must(btf__add_struct(w, "module", 896));
	ck_assert_int_gt(mod, mem_arr);
	field(w, "state", es, 0);
	field(w, "list", lh, 8);
	field(w, "name", name_arr, 24);
	if (v64) {
		field(w, "mem", mem_arr, 320);
	} else {
		field(w, "core_layout", layout, 320);
		field(w, "init_layout", layout, 400);
	}
	field(w, "taints", ulong, 504);
	field(w, "kallsyms", ks_ptr, 544);
	field(w, "core_kallsyms", ks, 552);
	raw = btf__raw_data(w, &n);
	ck_assert_ptr_nonnull(raw);
	ck_assert_int_eq(hvi_btf_from_bytes(raw, n, "the test BTF", &b), 0);
	btf__free(w);
	return b;
}

struct tsym {
	const char *name;
	uint64_t off; /* from the core base; ~0: per-cpu (outside the core) */
	char type;
};

static const struct tsym SYMS[] = {
	{ "", 0, 0 }, /* the null symbol */
	{ "modfn_probe", 0x100, 't' },
	{ "modfn_remove", 0x200, 't' },
	{ "shared", 0x300, 't' },
	{ "shared", 0x380, 't' },
	{ "mod_data", 0x6100, 'd' },
	{ "pcpu_counter", ~0ull, 'd' },
	{ "odd@1", 0x400, 't' }, /* "name@N" could not pick it */
};
#define NSYMS (sizeof(SYMS) / sizeof(SYMS[0]))

/* Module @i named @name with the symbols above, written into its core. */
static void module(unsigned i, const char *name)
{
	uint64_t ks = MOD(i) + 552, stroff = 1;
	size_t k;

	w32(MOD(i), 0);
	memcpy(at(MOD(i) + 24), name, strlen(name) + 1);
	w64(MOD(i) + 320, CORE(i));
	w32(MOD(i) + 328, CORE_SIZE);
	w32(MOD(i) + 332, 0x4000);
	w32(MOD(i) + 336, 0x6000);
	w64(MOD(i) + 544, ks);
	w64(ks, SYMTAB(i));
	w32(ks + 8, NSYMS);
	w64(ks + 16, STRTAB(i));
	w64(ks + 24, TYPES(i));
	for (k = 0; k < NSYMS; k++) {
		uint64_t e = SYMTAB(i) + 24 * k;

		w32(e, k ? (uint32_t)stroff : 0);
		w64(e + 8, SYMS[k].off == ~0ull ? 0x2a000 : CORE(i) + SYMS[k].off);
		w64(e + 16, k ? 0x40 : 0);
		if (k) {
			memcpy(at(STRTAB(i) + stroff), SYMS[k].name, strlen(SYMS[k].name) + 1);
			stroff += strlen(SYMS[k].name) + 1;
		}
		*at(TYPES(i) + k) = (uint8_t)SYMS[k].type;
	}
}

/* The list head -> module n-1 -> ... -> module 0 -> head (newest first). */
static void build(unsigned n, const char *const *names)
{
	struct hvi_btf *b = make_btf(0);
	uint64_t prev = HEAD;
	unsigned i;

	ck_assert_int_eq(hvi_modules_layout_from_btf(b, &L), 0);
	hvi_btf_free(b);
	ck_assert_int_eq(tmem_init(&t, RAM, TABLES, TABLES_SZ, 4), 0);
	tmem_map(&t, PO, 0, HVI_PAGE_1G, HVI_PTE_RW | HVI_PTE_NX);
	tmem_map(&t, HVI_MODULES_VADDR, MOD_GPA, HVI_PAGE_2M, HVI_PTE_RW);
	ck_assert_int_eq(hvi_paging_init(&pg, &t.mem, t.pgd, tmem_cr4(&t)), 0);
	for (i = n; i-- > 0;) {
		module(i, names[i]);
		w64(prev, MOD(i) + 8);
		prev = MOD(i) + 8;
	}
	w64(prev, HEAD);
}

static const char *const NAMES[] = { "virtio", "virtio_ring", "virtio_console" };

START_TEST(layout_comes_from_btf)
{
	struct hvi_btf *b = make_btf(0);

	ck_assert_int_eq(hvi_modules_layout_from_btf(b, &L), 0);
	ck_assert_uint_eq(L.mod_list, 8);
	ck_assert_uint_eq(L.mod_name, 24);
	ck_assert_uint_eq(L.core_base, 320);
	ck_assert_uint_eq(L.core_size, 328);
	ck_assert_uint_eq(L.core_text_size, 332);
	ck_assert_uint_eq(L.mod_kallsyms, 544);
	ck_assert_uint_eq(L.ks_typetab, 24);
	ck_assert_int_eq(L.state_unformed, 3);
	hvi_btf_free(b);
	b = make_btf(1);
	ck_assert_int_eq(hvi_modules_layout_from_btf(b, &L), HV_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "6.4"));
	hvi_btf_free(b);
}
END_TEST

START_TEST(reads_every_module_and_its_symbols)
{
	struct hvi_modlist *l = NULL;
	struct hvi_modsyms *s = NULL;
	const struct hvi_module *m, *mm = NULL;
	struct hvi_modsym sym;
	char nb[64];
	uint64_t off = 0;

	build(3, NAMES);
	ck_assert_int_eq(hvi_modules_read(&pg, &L, HEAD, &l), 3);
	ck_assert_str_eq(l->mods[0].name, "virtio_console"); /* newest first */
	ck_assert_str_eq(l->mods[2].name, "virtio");
	m = hvi_modlist_find(l, "virtio_ring");
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->gva, MOD(1));
	ck_assert_uint_eq(m->base, CORE(1));
	ck_assert_uint_eq(m->size, CORE_SIZE);
	ck_assert_uint_eq(m->text_size, 0x4000);
	ck_assert_str_eq(m->state_name, "live");
	ck_assert_int_eq(hvi_module_syms_read(&pg, &L, m, &s), 5);
	ck_assert_uint_eq(hvi_modsyms_skipped(s), 3); /* the null, per-cpu and '@' symbols */
	ck_assert_int_eq(hvi_modsyms_lookup(s, "modfn_probe", &sym), 0);
	ck_assert_uint_eq(sym.addr, CORE(1) + 0x100);
	ck_assert_uint_eq(sym.size, 0x40);
	ck_assert_int_eq(sym.type, 't');
	ck_assert_int_eq(hvi_modsyms_lookup(s, "shared", &sym), HV_E_INVAL);
	ck_assert_int_eq(hvi_modsyms_lookup(s, "shared@1", &sym), 0);
	ck_assert_uint_eq(sym.addr, CORE(1) + 0x380);
	ck_assert_int_eq(hvi_modsyms_lookup(s, "pcpu_counter", &sym), HV_E_NOTFOUND);
	ck_assert_int_eq(hvi_modsyms_by_addr(s, CORE(1) + 0x210, &sym, &off), 0);
	ck_assert_str_eq(sym.name, "modfn_remove");
	ck_assert_uint_eq(off, 0x10);
	ck_assert_int_eq(hvi_modsyms_by_addr(s, CORE(1) + 0x50, &sym, &off), HV_E_NOTFOUND);
	ck_assert_int_eq(hvi_modsyms_by_addr(s, CORE(1) + CORE_SIZE, &sym, &off), HV_E_NOTFOUND);
	hvi_modsyms_free(s);
	ck_assert_int_eq(hvi_modules_resolve(&pg, &L, l, "virtio_console:modfn_remove", &sym, nb,
					     sizeof(nb), &mm),
			 0);
	ck_assert_uint_eq(sym.addr, CORE(2) + 0x200); /* virtio_console is module 2 */
	ck_assert_str_eq(sym.name, "modfn_remove");
	ck_assert_ptr_eq(mm, &l->mods[0]);
	ck_assert_int_eq(
		hvi_modules_resolve(&pg, &L, l, "e1000:e1000_probe", &sym, nb, sizeof(nb), NULL),
		HV_E_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "is not loaded"));
	ck_assert_int_eq(hvi_modules_resolve(&pg, &L, l, "virtio:nope", &sym, nb, sizeof(nb), NULL),
			 HV_E_NOTFOUND);
	ck_assert_int_eq(hvi_modules_resolve(&pg, &L, l, "modfn_probe", &sym, nb, sizeof(nb), NULL),
			 HV_E_INVAL);
	hvi_modlist_free(l);
	tmem_free(&t);
}
END_TEST

/* An empty list is zero modules, not an error. */
START_TEST(empty_list)
{
	struct hvi_modlist *l = NULL;

	build(0, NAMES);
	ck_assert_int_eq(hvi_modules_read(&pg, &L, HEAD, &l), 0);
	ck_assert_uint_eq(l->n, 0);
	hvi_modlist_free(l);
	tmem_free(&t);
}
END_TEST

static int read_fails(int want, const char *words)
{
	struct hvi_modlist *l = NULL;
	int r = hvi_modules_read(&pg, &L, HEAD, &l);

	ck_assert_msg(r == want, "got %d (%s), want %d", r, r < 0 ? hv_err_last()->msg : "", want);
	ck_assert_ptr_null(l);
	ck_assert_msg(strstr(hv_err_last()->msg, words), "message '%s' lacks '%s'",
		      hv_err_last()->msg, words);
	return r;
}

START_TEST(hostile_lists)
{
	/* A loop that never comes back to the head. */
	build(3, NAMES);
	w64(MOD(0) + 8, MOD(2) + 8);
	read_fails(HV_E_FORMAT, "loops");
	tmem_free(&t);

	/* A pointer into the direct map beyond RAM. */
	build(3, NAMES);
	w64(MOD(1) + 8, PO + 2 * RAM);
	read_fails(HV_E_RANGE, "module at");
	tmem_free(&t);

	/* A user-space and an unaligned pointer. */
	build(3, NAMES);
	w64(MOD(1) + 8, 0x400000);
	read_fails(HV_E_FORMAT, "not a kernel pointer");
	w64(MOD(1) + 8, MOD(0) + 9);
	read_fails(HV_E_FORMAT, "not a kernel pointer");
	tmem_free(&t);

	/* A name that fills its 56 bytes without an end. */
	build(3, NAMES);
	memset(at(MOD(1) + 24), 'A', HVI_MODULE_NAME_LEN);
	read_fails(HV_E_FORMAT, "without an end");
	tmem_free(&t);

	/* A layout (from a forged BTF) with offsets beyond what is read. */
	build(3, NAMES);
	L.mod_kallsyms = 5000;
	read_fails(HV_E_INVAL, "module layout");
	L.mod_kallsyms = 544;
	L.ks_typetab = UINT32_MAX - 2;
	read_fails(HV_E_INVAL, "module layout");
	tmem_free(&t);

	/* A core layout outside the module area, or larger than it. */
	build(3, NAMES);
	w64(MOD(1) + 320, PO);
	read_fails(HV_E_FORMAT, "module area");
	w64(MOD(1) + 320, HVI_MODULES_END - 0x1000);
	read_fails(HV_E_FORMAT, "module area");
	tmem_free(&t);
}
END_TEST

/* More distinct modules than HVI_MODULES_MAX, none repeating: bounded. */
START_TEST(endless_list)
{
	uint64_t prev = HEAD, node;
	unsigned i;

	build(1, NAMES);
	for (i = 0; i <= HVI_MODULES_MAX; i++) {
		node = PO + 0x800000 + (uint64_t)i * 1024; /* struct module copies in RAM */
		memcpy(at(node - 8), at(MOD(0)), 600);
		w64(prev, node);
		prev = node;
	}
	w64(prev, HEAD);
	read_fails(HV_E_FORMAT, "more than");
	tmem_free(&t);
}
END_TEST

static void syms_fail(int want, const char *words)
{
	struct hvi_modlist *l = NULL;
	struct hvi_modsyms *s = NULL;
	int r;

	ck_assert_int_eq(hvi_modules_read(&pg, &L, HEAD, &l), 3);
	r = hvi_module_syms_read(&pg, &L, &l->mods[1], &s); /* virtio_ring */
	ck_assert_msg(r == want, "got %d (%s), want %d", r, r < 0 ? hv_err_last()->msg : "", want);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(hv_err_last()->msg, words), "message '%s' lacks '%s'",
		      hv_err_last()->msg, words);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "virtio_ring"));
	hvi_modlist_free(l);
}

START_TEST(hostile_symbol_tables)
{
	uint64_t ks = MOD(1) + 552;

	build(3, NAMES);
	w32(ks + 8, 0xffffffffu); /* num_symtab */
	syms_fail(HV_E_RANGE, "claims");
	w32(ks + 8, HVI_MODULE_SYMS_MAX); /* believable count, but the table leaves the core */
	syms_fail(HV_E_FORMAT, "outside its core layout");
	w32(ks + 8, NSYMS);
	w64(ks, CORE(2)); /* the next module's core */
	syms_fail(HV_E_FORMAT, "outside its core layout");
	w64(ks, SYMTAB(1));
	w64(ks + 16, PO); /* strtab in the direct map */
	syms_fail(HV_E_FORMAT, "outside its core layout");
	w64(ks + 16, STRTAB(1));
	w64(MOD(1) + 544, PO + 0x2000); /* the descriptor itself */
	syms_fail(HV_E_FORMAT, "descriptor");
	w64(MOD(1) + 544, ks);
	w32(SYMTAB(1) + 24, 0x7fffffff); /* a name offset past the strings */
	syms_fail(HV_E_FORMAT, "outside its string table");
	w32(SYMTAB(1) + 24, 1);
	tmem_free(&t);

	/* A name without an end: letters all the way to the types. */
	build(3, NAMES);
	memset(at(STRTAB(1) + 1), 'x', 0x1000 - 1);
	syms_fail(HV_E_FORMAT, "without an end");
	tmem_free(&t);

	/* Control bytes in a name. */
	build(3, NAMES);
	*at(STRTAB(1) + 2) = 0x1b;
	syms_fail(HV_E_FORMAT, "printable");
	tmem_free(&t);

	/* A module still loading. */
	build(3, NAMES);
	w32(MOD(1), 1);
	syms_fail(HV_E_UNSUPPORTED, "coming");
	tmem_free(&t);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("hvi_modules");
	TCase *tc = tcase_create("modules");

	tcase_add_test(tc, layout_comes_from_btf);
	tcase_add_test(tc, reads_every_module_and_its_symbols);
	tcase_add_test(tc, empty_list);
	tcase_add_test(tc, hostile_lists);
	tcase_add_test(tc, endless_list);
	tcase_add_test(tc, hostile_symbol_tables);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
