/*
 * Kernel-symbol relocations: what each relocation kind resolves to against
 * per-cpu and ordinary kernel symbols (value, overflow, refusal; the
 * per-cpu kinds are those the 6.1 accessors compile to, seen in
 * docs/examples/percpu-current), and that
 * "hvpatch build --vmlinux" (hvb_check_vmlinux over a synthetic vmlinux)
 * and the apply engine's relocation (hvb_apply_relocs_ksym with the
 * engine's resolver, hvb_reloc_ksym over the same kallsyms) refuse the same
 * bundles with the same sentence; and that both refuse the same
 * replacement targets alike (hvb_target_sym); and the same for symbols and
 * functions of modules (MODULE:name) over one module source.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv_check.h"
#include "hvb.h"
#include "hvb_build.h"
#include "hvb_reloc.h"
#include "hvi_kallsyms.h"
#include "hvi_testlib.h"

#define TEXT	 0xffffffff81000000ull
#define PHYS	 0x1000000ull
#define IMG_LEN	 (1u << 20)
#define TAB_OFF	 0x10000u
#define ELF_HEAD 0x1000u

/* Where the patch's sections are placed (the top 2 GiB, as apply does). */
#define SEC_TEXT 0xffffffffc0100000ull
#define SEC_DATA 0xffffffffc0101000ull

#define PCPU_CURRENT 0x1fbc0ull
#define PCPU_CPU     0x1f2a0ull
#define PCPU_FAR     0x7ffffff0ull

static const struct enc_sym syms[] = {
	{ 'A', "fixed_percpu_data", 0x0, 1 },
	{ 'D', "cpu_number", PCPU_CPU, 1 },
	{ 'D', "current_task", PCPU_CURRENT, 1 },
	{ 'D', "far_percpu", PCPU_FAR, 1 },
	{ 'T', "_text", TEXT, 0 },
	{ 'T', "_stext", TEXT, 0 },
	{ 'T', "__fentry__", TEXT + 0x100, 0 },
	{ 't', "dup_static", TEXT + 0x200, 0 },
	{ 'T', "seq_printf", TEXT + 0x300, 0 },
	{ 't', "dup_static", TEXT + 0x400, 0 },
	{ 't', "one_global", TEXT + 0x500, 0 },
	{ 'T', "one_global", TEXT + 0x600, 0 },
	{ 'D', "saved_command_line", TEXT + 0x80000, 0 },
};
#define NSYMS (sizeof(syms) / sizeof(syms[0]))

static uint64_t sec_text = SEC_TEXT; /* where apply_one() places .text */
static uint8_t *vmlinux;	     /* ELF header, one PT_LOAD, the image at ELF_HEAD */
static size_t vmlinux_len;
static struct hvi_symtab *st;

static void setup(void)
{
	struct hvi_ksyms_tables t;
	struct enc_layout lay;
	uint8_t *img;

	vmlinux_len = ELF_HEAD + IMG_LEN;
	vmlinux = calloc(1, vmlinux_len);
	ck_assert_ptr_nonnull(vmlinux);
	img = vmlinux + ELF_HEAD;
	ck_assert_int_eq(enc_kallsyms(syms, NSYMS, TEXT, img, IMG_LEN, TAB_OFF, 1, &lay), 0);
	/* seq_printf and the global one_global start with "call __fentry__" */
	img[0x300] = 0xe8;
	put_u32(img + 0x301, (uint32_t)(int32_t)(0x100 - 0x305));
	img[0x600] = 0xe8;
	put_u32(img + 0x601, (uint32_t)(int32_t)(0x100 - 0x605));
	memcpy(vmlinux, "\177ELF\2\1\1", 7);
	put_u16(vmlinux + 16, 2);  /* ET_EXEC */
	put_u16(vmlinux + 18, 62); /* EM_X86_64 */
	put_u64(vmlinux + 32, 64); /* e_phoff */
	put_u16(vmlinux + 52, 64);
	put_u16(vmlinux + 54, 56); /* e_phentsize */
	put_u16(vmlinux + 56, 1);  /* e_phnum */
	put_u32(vmlinux + 64, 1);  /* PT_LOAD */
	put_u32(vmlinux + 68, 5);
	put_u64(vmlinux + 72, ELF_HEAD);
	put_u64(vmlinux + 80, TEXT);
	put_u64(vmlinux + 88, PHYS);
	put_u64(vmlinux + 96, IMG_LEN);
	put_u64(vmlinux + 104, IMG_LEN);
	ck_assert_int_eq(hvi_ksyms_find(img, IMG_LEN, &t), 0);
	ck_assert_int_eq(hvi_ksyms_decode(img, IMG_LEN, &t, TEXT, &st), (int)NSYMS);
}

static void teardown(void)
{
	hvi_symtab_free(st);
	st = NULL;
	free(vmlinux);
	vmlinux = NULL;
}

/* A bundle with a text and a data section and one kernel-symbol relocation. */
struct one {
	struct hvb_bundle b;
	struct hvb_section sec[2];
	struct hvb_reloc rel;
	uint8_t text[64], data[64];
	char symbol[64];
};

static void one_init(struct one *o, uint32_t type, uint32_t section, uint64_t offset,
		     int64_t addend, const char *symbol)
{
	memset(o, 0, sizeof(*o));
	o->sec[0] = (struct hvb_section){ HVB_SEC_TEXT, ".text", 64, 16, true, false, o->text };
	o->sec[1] = (struct hvb_section){ HVB_SEC_DATA, ".data", 64, 8, false, true, o->data };
	snprintf(o->symbol, sizeof(o->symbol), "%s", symbol);
	o->rel.type = type;
	o->rel.section = section;
	o->rel.offset = offset;
	o->rel.addend = addend;
	o->rel.kind = HVB_TGT_KSYM;
	o->rel.symbol = o->symbol;
	o->b.patch_id = "reloc-test";
	o->b.level = "1";
	o->b.nsections = 2;
	o->b.sections = o->sec;
	o->b.nrelocs = 1;
	o->b.relocs = &o->rel;
}

/* The apply engine's resolver (engine.c resolve_ksym): the shared rule. */
static int engine_resolve(void *ctx, const struct hvb_bundle *b, size_t i, uint64_t *value)
{
	return hvb_reloc_ksym(ctx, b, i, value);
}

/* Relocate @o as apply does; returns its result, *@field the patched bytes. */
static int apply_one(struct one *o, uint64_t *field)
{
	const uint64_t secs[2] = { sec_text, SEC_DATA };
	struct hvb_placement pl = { secs, NULL };
	struct hvb_patched out;
	unsigned w = hvb_reloc_width(o->rel.type), k;
	int r = hvb_apply_relocs_ksym(&o->b, &pl, engine_resolve, st, &out);

	*field = 0;
	if (r == 0) {
		for (k = 0; k < w; k++)
			*field |= (uint64_t)out.bytes[o->rel.section][o->rel.offset + k] << (8 * k);
		hvb_patched_free(&out);
	} else {
		ck_assert_ptr_null(out.bytes);
	}
	return r;
}

static uint64_t sext32(uint64_t v)
{
	return (uint64_t)(int64_t)(int32_t)(uint32_t)v;
}

START_TEST(test_percpu_absolute_kinds)
{
	struct one o;
	uint64_t f, v;

	/* this_cpu_read(current_task): mov %gs:current_task,%rax (32S, A = 0) */
	one_init(&o, HVB_R_X86_64_32S, 0, 5, 0, "current_task");
	ck_assert_int_eq(hvb_reloc_ksym(st, &o.b, 0, &v), 0);
	ck_assert_uint_eq(v, PCPU_CURRENT);
	ck_assert_msg(apply_one(&o, &f) == 0, "%s", hv_err_last()->msg);
	ck_assert_uint_eq(f, PCPU_CURRENT);
	/* a field of a per-cpu struct: the addend is kept */
	one_init(&o, HVB_R_X86_64_32S, 0, 5, 0x18, "cpu_number");
	ck_assert_int_eq(apply_one(&o, &f), 0);
	ck_assert_uint_eq(f, PCPU_CPU + 0x18);
	/* this_cpu_ptr(&var): mov $var,%reg (32 or 32S) */
	one_init(&o, HVB_R_X86_64_32, 0, 8, 0, "cpu_number");
	ck_assert_int_eq(apply_one(&o, &f), 0);
	ck_assert_uint_eq(f, PCPU_CPU);
	/* a per-cpu offset stored in data (64) */
	one_init(&o, HVB_R_X86_64_64, 1, 8, 8, "current_task");
	ck_assert_int_eq(apply_one(&o, &f), 0);
	ck_assert_uint_eq(f, PCPU_CURRENT + 8);
	/* offset 0 (fixed_percpu_data, type 'A') is per-cpu too */
	one_init(&o, HVB_R_X86_64_32S, 0, 0, 0x28, "fixed_percpu_data");
	ck_assert_int_eq(apply_one(&o, &f), 0);
	ck_assert_uint_eq(f, 0x28);
	/* far offsets: 32S stops at 2^31 - 1, 32 at 2^32 - 1, 64 never */
	one_init(&o, HVB_R_X86_64_32S, 0, 0, 0xf, "far_percpu");
	ck_assert_int_eq(apply_one(&o, &f), 0);
	ck_assert_uint_eq(f, 0x7fffffffu);
	one_init(&o, HVB_R_X86_64_32S, 0, 0, 0x10, "far_percpu");
	ck_assert_int_eq(apply_one(&o, &f), HV_E_RANGE);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "per-cpu offset 0x7ffffff0"));
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "signed 32-bit"));
	one_init(&o, HVB_R_X86_64_32, 0, 0, 0x10, "far_percpu");
	ck_assert_int_eq(apply_one(&o, &f), 0);
	ck_assert_uint_eq(f, 0x80000000u);
	one_init(&o, HVB_R_X86_64_32, 0, 0, 0x80000010ll, "far_percpu");
	ck_assert_int_eq(apply_one(&o, &f), HV_E_RANGE);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "unsigned 32-bit"));
	one_init(&o, HVB_R_X86_64_32, 0, 0, -0x20, "cpu_number@0");
	ck_assert_int_eq(apply_one(&o, &f), 0);
	ck_assert_uint_eq(f, PCPU_CPU - 0x20);
	one_init(&o, HVB_R_X86_64_32, 0, 0, -(int64_t)PCPU_CPU - 1, "cpu_number");
	ck_assert_int_eq(apply_one(&o, &f), HV_E_RANGE);
	one_init(&o, HVB_R_X86_64_32S, 0, 0, -(int64_t)PCPU_CPU - 1, "cpu_number");
	ck_assert_int_eq(apply_one(&o, &f), 0);
	ck_assert_uint_eq(f, 0xffffffffu);
	/* addends far out of range, without overflowing the sum */
	one_init(&o, HVB_R_X86_64_32S, 0, 0, INT64_MAX, "far_percpu");
	ck_assert_int_eq(apply_one(&o, &f), HV_E_RANGE);
	one_init(&o, HVB_R_X86_64_32, 0, 0, INT64_MIN, "far_percpu");
	ck_assert_int_eq(apply_one(&o, &f), HV_E_RANGE);
	one_init(&o, HVB_R_X86_64_64, 1, 0, 0x100000000ll, "far_percpu");
	ck_assert_int_eq(apply_one(&o, &f), 0);
	ck_assert_uint_eq(f, PCPU_FAR + 0x100000000ull);
}
END_TEST

/*
 * this_cpu_read() in 6.1 is %gs:sym(%rip): the CPU adds the displacement
 * to the next instruction's address, which must give the per-cpu offset.
 */
START_TEST(test_percpu_pc32)
{
	struct one o;
	uint64_t f, v;

	/* mov %gs:cpu_number(%rip),%edx: field at +3, next instruction at +7 */
	one_init(&o, HVB_R_X86_64_PC32, 0, 3, -4, "cpu_number");
	ck_assert_int_eq(hvb_reloc_ksym(st, &o.b, 0, &v), 0);
	ck_assert_uint_eq(v, PCPU_CPU);
	ck_assert_msg(apply_one(&o, &f) == 0, "%s", hv_err_last()->msg);
	ck_assert_uint_eq(sec_text + 7 + sext32(f), PCPU_CPU);
	/* mov %gs:kstat+8(%rip),%esi: the addend carries the field offset */
	one_init(&o, HVB_R_X86_64_PC32, 0, 3, 8 - 4, "far_percpu");
	ck_assert_int_eq(apply_one(&o, &f), HV_E_RANGE); /* 2 GiB away */
	one_init(&o, HVB_R_X86_64_PC32, 0, 3, 8 - 4, "current_task");
	ck_assert_int_eq(apply_one(&o, &f), 0);
	ck_assert_uint_eq(sec_text + 7 + sext32(f), PCPU_CURRENT + 8);
	/* a patch placed at the bottom of the top 2 GiB cannot reach it */
	sec_text = 0xffffffff80000000ull;
	one_init(&o, HVB_R_X86_64_PC32, 0, 3, -4, "cpu_number");
	ck_assert_int_eq(apply_one(&o, &f), HV_E_RANGE);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "signed 32-bit"));
	sec_text = SEC_TEXT;
}
END_TEST

START_TEST(test_percpu_kinds_refused)
{
	static const uint32_t kinds[] = { HVB_R_X86_64_PLT32, HVB_R_X86_64_PC64 };
	struct one o;
	uint64_t f, v;
	size_t k;

	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		one_init(&o, kinds[k], kinds[k] == HVB_R_X86_64_PC64, 3, -4, "current_task");
		ck_assert_int_eq(hvb_reloc_ksym(st, &o.b, 0, &v), HV_E_UNSUPPORTED);
		ck_assert_int_eq(apply_one(&o, &f), HV_E_UNSUPPORTED);
		/* one sentence: which relocation, which symbol, why, what to do */
		ck_assert_msg(!strncmp(hv_err_last()->msg, "relocation 0 (", 14), "%s",
			      hv_err_last()->msg);
		ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, hvb_reloc_type_name(kinds[k])));
		ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "+0x3"));
		ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "current_task is per-cpu data"));
		ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "no per-cpu accessor produces"));
		ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "this_cpu_read()"));
	}
}
END_TEST

START_TEST(test_ordinary_symbols)
{
	struct one o;
	uint64_t f, v;

	/* call seq_printf (PLT32): S + A - P */
	one_init(&o, HVB_R_X86_64_PLT32, 0, 1, -4, "seq_printf");
	ck_assert_int_eq(hvb_reloc_ksym(st, &o.b, 0, &v), 0);
	ck_assert_uint_eq(v, TEXT + 0x300);
	ck_assert_int_eq(apply_one(&o, &f), 0);
	ck_assert_uint_eq(sext32(f), TEXT + 0x300 - 4 - (SEC_TEXT + 1));
	one_init(&o, HVB_R_X86_64_PC32, 0, 1, -4, "saved_command_line");
	ck_assert_int_eq(apply_one(&o, &f), 0);
	ck_assert_uint_eq(sext32(f), TEXT + 0x80000 - 4 - (SEC_TEXT + 1));
	one_init(&o, HVB_R_X86_64_PC64, 1, 0, 0, "seq_printf");
	ck_assert_int_eq(apply_one(&o, &f), 0);
	ck_assert_uint_eq(f, TEXT + 0x300 - SEC_DATA);
	/* addresses: 64 and 32S (the top 2 GiB) */
	one_init(&o, HVB_R_X86_64_64, 1, 0, 8, "saved_command_line");
	ck_assert_int_eq(apply_one(&o, &f), 0);
	ck_assert_uint_eq(f, TEXT + 0x80008);
	one_init(&o, HVB_R_X86_64_32S, 0, 4, 0, "saved_command_line");
	ck_assert_int_eq(apply_one(&o, &f), 0);
	ck_assert_uint_eq(sext32(f), TEXT + 0x80000);
	/* 32 (zero-extended) can never hold a kernel address */
	one_init(&o, HVB_R_X86_64_32, 0, 4, 0, "saved_command_line");
	ck_assert_int_eq(hvb_reloc_ksym(st, &o.b, 0, &v), HV_E_UNSUPPORTED);
	ck_assert_int_eq(apply_one(&o, &f), HV_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "zero-extended"));
	/* names: unique, @N, one global among statics, ambiguous, unknown */
	one_init(&o, HVB_R_X86_64_64, 1, 0, 0, "dup_static@1");
	ck_assert_int_eq(apply_one(&o, &f), 0);
	ck_assert_uint_eq(f, TEXT + 0x400);
	one_init(&o, HVB_R_X86_64_64, 1, 0, 0, "one_global");
	ck_assert_int_eq(apply_one(&o, &f), 0);
	ck_assert_uint_eq(f, TEXT + 0x600);
	one_init(&o, HVB_R_X86_64_64, 1, 0, 0, "dup_static");
	ck_assert_int_eq(apply_one(&o, &f), HV_E_INVAL);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "dup_static@N"));
	one_init(&o, HVB_R_X86_64_64, 1, 0, 0, "no_such_symbol");
	ck_assert_int_eq(apply_one(&o, &f), HV_E_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "no_such_symbol"));
}
END_TEST

/*
 * Every refusal, built both ways: the build's check of the vmlinux and the
 * apply engine's relocation give the same code and the same sentence; and
 * what apply accepts, build accepts.
 */
START_TEST(test_build_and_apply_agree)
{
	static const struct {
		uint32_t type;
		int64_t addend;
		const char *symbol;
		int want; /* 0: accepted by both */
	} cases[] = {
		{ HVB_R_X86_64_PLT32, -4, "current_task", HV_E_UNSUPPORTED },
		{ HVB_R_X86_64_PLT32, -4, "cpu_number", HV_E_UNSUPPORTED },
		{ HVB_R_X86_64_PC64, 0, "current_task", HV_E_UNSUPPORTED },
		{ HVB_R_X86_64_PC64, 0, "fixed_percpu_data", HV_E_UNSUPPORTED },
		{ HVB_R_X86_64_32S, 0x10, "far_percpu", HV_E_RANGE },
		{ HVB_R_X86_64_32, 0x80000010ll, "far_percpu", HV_E_RANGE },
		{ HVB_R_X86_64_32, -0x1000000ll, "cpu_number", HV_E_RANGE },
		{ HVB_R_X86_64_32, 0, "saved_command_line", HV_E_UNSUPPORTED },
		{ HVB_R_X86_64_32, 0, "seq_printf", HV_E_UNSUPPORTED },
		{ HVB_R_X86_64_64, 0, "dup_static", HV_E_INVAL },
		{ HVB_R_X86_64_PLT32, -4, "dup_static", HV_E_INVAL },
		{ HVB_R_X86_64_PLT32, -4, "no_such_symbol", HV_E_NOTFOUND },
		{ HVB_R_X86_64_64, 0, "dup_static@2", HV_E_NOTFOUND },
		{ HVB_R_X86_64_32S, 0, "current_task", 0 },
		{ HVB_R_X86_64_PC32, -4, "cpu_number", 0 },
		{ HVB_R_X86_64_PC32, 4, "current_task", 0 },
		{ HVB_R_X86_64_32, 0, "cpu_number", 0 },
		{ HVB_R_X86_64_64, 0, "far_percpu", 0 },
		{ HVB_R_X86_64_PLT32, -4, "seq_printf", 0 },
		{ HVB_R_X86_64_PLT32, -4, "one_global", 0 },
		{ HVB_R_X86_64_PC32, -4, "dup_static@0", 0 },
	};
	struct hvb_kernel_check kc;
	char build_msg[1024];
	struct one o;
	uint64_t f;
	size_t k;
	int rb, ra;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		uint32_t section = hvb_reloc_width(cases[k].type) == 8 ? 1 : 0;

		one_init(&o, cases[k].type, section, 8, cases[k].addend, cases[k].symbol);
		hv_err_clear();
		rb = hvb_check_vmlinux(&o.b, vmlinux, vmlinux_len, "vmlinux", NULL, &kc);
		ck_assert_msg(kc.checked, "case %zu: the synthetic vmlinux was not read: %s", k,
			      kc.note);
		snprintf(build_msg, sizeof(build_msg), "%s", rb < 0 ? hv_err_last()->msg : "");
		hv_err_clear();
		ra = apply_one(&o, &f);
		ck_assert_msg(rb == cases[k].want && ra == cases[k].want,
			      "case %zu (%s %s): build %d, apply %d, wanted %d: %s", k,
			      hvb_reloc_type_name(cases[k].type), cases[k].symbol, rb, ra,
			      cases[k].want, build_msg);
		if (rb == 0) {
			ck_assert_uint_eq(kc.symbols_checked, 1);
			continue;
		}
		ck_assert_str_eq(build_msg, hv_err_last()->msg);
		ck_assert_msg(!strncmp(build_msg, "relocation 0 (", 14), "%s", build_msg);
		ck_assert_ptr_nonnull(strstr(build_msg, cases[k].symbol));
	}
}
END_TEST

/* Replacement targets: build and apply refuse the same ones, alike. */
START_TEST(test_targets_agree)
{
	static const struct {
		const char *target;
		uint32_t index;
		int want;
	} cases[] = {
		{ "no_such_function", HVB_NO_INDEX, HV_E_NOTFOUND },
		{ "dup_static", HVB_NO_INDEX, HV_E_INVAL },
		{ "dup_static", 5, HV_E_NOTFOUND },
		{ "saved_command_line", HVB_NO_INDEX, HV_E_UNSUPPORTED },
		{ "current_task", HVB_NO_INDEX, HV_E_UNSUPPORTED },
		{ "seq_printf", HVB_NO_INDEX, 0 },
		{ "one_global", 1, 0 },
	};
	struct hvb_replacement rp;
	struct hvb_kernel_check kc;
	char build_msg[1024];
	struct hvi_sym sym;
	struct one o;
	size_t k;
	int rb, ra;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		one_init(&o, HVB_R_X86_64_PLT32, 0, 8, -4, "seq_printf");
		memset(&rp, 0, sizeof(rp));
		rp.target = (char *)cases[k].target;
		rp.target_index = cases[k].index;
		rp.name = "hvp_fn";
		o.b.replacements = &rp;
		o.b.nreplacements = 1;
		hv_err_clear();
		rb = hvb_check_vmlinux(&o.b, vmlinux, vmlinux_len, "vmlinux", NULL, &kc);
		snprintf(build_msg, sizeof(build_msg), "%s", rb < 0 ? hv_err_last()->msg : "");
		hv_err_clear();
		/* what the engine's resolve_targets() calls for each replacement */
		ra = hvb_target_sym(st, &o.b, 0, &sym);
		ck_assert_msg(rb == cases[k].want && ra == cases[k].want,
			      "target case %zu (%s): build %d, apply %d, wanted %d: %s", k,
			      cases[k].target, rb, ra, cases[k].want, build_msg);
		if (rb == 0) {
			ck_assert_uint_eq(kc.targets_checked, 1);
			continue;
		}
		ck_assert_str_eq(build_msg, hv_err_last()->msg);
		ck_assert_msg(!strncmp(build_msg, "bundle reloc-test replaces ", 27), "%s",
			      build_msg);
	}
}
END_TEST

/* A module source as the engine's (the guest's module list) and build's
 * (.ko files) are: a table. */
static const struct {
	const char *module, *name;
	struct hvb_modsym sym;
} modsyms[] = {
	{ "mod_a", "fn", { 0xffffffffc0201000ull, 't', false, false, false } },
	{ "mod_a", "notrace_fn", { 0xffffffffc0201100ull, 't', false, true, false } },
	{ "mod_a", "init_fn", { 0xffffffffc0201200ull, 't', false, false, true } },
	{ "mod_a", "data_var", { 0xffffffffc0203000ull, 'd', false, false, false } },
	{ "mod_a", "pcpu_var", { 0x2c0ull, 'd', true, false, false } },
	{ "mod_a", "init_var", { 0xffffffffc0204000ull, 'd', false, false, true } },
};

static int table_lookup(void *ctx, const char *module, const char *name, struct hvb_modsym *out)
{
	size_t i;

	(void)ctx;
	for (i = 0; i < sizeof(modsyms) / sizeof(modsyms[0]); i++)
		if (!strcmp(modsyms[i].module, module) && !strcmp(modsyms[i].name, name)) {
			*out = modsyms[i].sym;
			return 0;
		}
	if (strcmp(module, "mod_a") != 0)
		return hv_err(HV_E_NOTFOUND, "module %s is not loaded in the guest", module);
	return hv_err(HV_E_NOTFOUND, "module %s: the module has no symbol named '%s'", module,
		      name);
}

static const struct hvb_symsrc *table_src;

/* The engine's resolver over the same module table (engine.c resolve_ksym). */
static int engine_resolve_mod(void *ctx, const struct hvb_bundle *b, size_t i, uint64_t *value)
{
	struct hvb_symsrc src = *table_src;

	src.kernel = ctx;
	return hvb_reloc_sym(&src, b, i, value);
}

/*
 * Module symbols and targets: build (hvb_check_vmlinux with a module
 * source) and apply (the engine's calls, hvb_reloc_sym and
 * hvb_target_resolve) refuse the same and say the same.
 */
START_TEST(test_module_rules_agree)
{
	static const struct {
		uint32_t type;
		const char *symbol;
		int want;
		const char *says;
	} rel[] = {
		{ HVB_R_X86_64_PC32, "mod_a:data_var", 0, NULL },
		{ HVB_R_X86_64_PLT32, "mod_a:fn", 0, NULL },
		{ HVB_R_X86_64_32S, "mod_a:data_var", 0, NULL },
		{ HVB_R_X86_64_32, "mod_a:data_var", HV_E_UNSUPPORTED, "top 2 GiB" },
		{ HVB_R_X86_64_PC32, "mod_a:pcpu_var", HV_E_UNSUPPORTED,
		  "per-cpu data of module mod_a" },
		{ HVB_R_X86_64_PC32, "mod_a:init_var", HV_E_UNSUPPORTED, "init code or data" },
		{ HVB_R_X86_64_PC32, "mod_a:missing", HV_E_NOTFOUND,
		  "has no symbol named 'missing'" },
		{ HVB_R_X86_64_PC32, "mod_b:x", HV_E_NOTFOUND, "module mod_b is not loaded" },
	};
	static const struct {
		const char *target;
		int want;
		const char *says;
	} tgt[] = {
		{ "mod_a:fn", 0, NULL },
		{ "mod_a:data_var", HV_E_UNSUPPORTED, "not a function of module mod_a" },
		{ "mod_a:notrace_fn", HV_E_UNSUPPORTED, "does not start with the ftrace call" },
		{ "mod_a:init_fn", HV_E_UNSUPPORTED, "is init code" },
		{ "mod_a:missing", HV_E_NOTFOUND, "has no symbol named 'missing'" },
	};
	struct hvb_symsrc src = { NULL, table_lookup, NULL, "--modules DIR" }, none = src;
	struct hvb_replacement rp;
	struct hvb_kernel_check kc;
	struct hvb_target_addr ta;
	char build_msg[1024];
	const uint64_t secs[2] = { SEC_TEXT, SEC_DATA };
	struct hvb_placement pl = { secs, NULL };
	struct hvb_patched out;
	struct one o;
	size_t k;
	int rb, ra;

	table_src = &src;
	for (k = 0; k < sizeof(rel) / sizeof(rel[0]); k++) {
		one_init(&o, rel[k].type, 0, 8, -4, rel[k].symbol);
		hv_err_clear();
		rb = hvb_check_vmlinux(&o.b, vmlinux, vmlinux_len, "vmlinux", &src, &kc);
		snprintf(build_msg, sizeof(build_msg), "%s", rb < 0 ? hv_err_last()->msg : "");
		hv_err_clear();
		ra = hvb_apply_relocs_ksym(&o.b, &pl, engine_resolve_mod, st, &out);
		if (ra == 0)
			hvb_patched_free(&out);
		ck_assert_msg(rb == rel[k].want && ra == rel[k].want,
			      "module reloc case %zu (%s): build %d, apply %d, wanted %d: %s", k,
			      rel[k].symbol, rb, ra, rel[k].want, build_msg);
		if (rb == 0)
			continue;
		ck_assert_msg(strstr(hv_err_last()->msg, build_msg) != NULL,
			      "build said '%s', apply '%s'", build_msg, hv_err_last()->msg);
		ck_assert_msg(strstr(build_msg, rel[k].says), "case %zu: %s", k, build_msg);
	}
	/* No module source: refused, saying what to give. */
	none.mod_lookup = NULL;
	one_init(&o, HVB_R_X86_64_PC32, 0, 8, -4, "mod_a:data_var");
	ck_assert_int_eq(hvb_check_vmlinux(&o.b, vmlinux, vmlinux_len, "vmlinux", &none, &kc),
			 HV_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "give --modules DIR"));
	ck_assert_int_eq(hvb_check_vmlinux(&o.b, vmlinux, vmlinux_len, "vmlinux", NULL, &kc),
			 HV_E_UNSUPPORTED);

	for (k = 0; k < sizeof(tgt) / sizeof(tgt[0]); k++) {
		one_init(&o, HVB_R_X86_64_PLT32, 0, 8, -4, "seq_printf");
		memset(&rp, 0, sizeof(rp));
		rp.target = (char *)tgt[k].target;
		rp.target_index = HVB_NO_INDEX;
		rp.name = "hvp_fn";
		o.b.replacements = &rp;
		o.b.nreplacements = 1;
		hv_err_clear();
		rb = hvb_check_vmlinux(&o.b, vmlinux, vmlinux_len, "vmlinux", &src, &kc);
		snprintf(build_msg, sizeof(build_msg), "%s", rb < 0 ? hv_err_last()->msg : "");
		hv_err_clear();
		src.kernel = st;
		ra = hvb_target_resolve(&src, &o.b, 0, &ta);
		src.kernel = NULL;
		ck_assert_msg(rb == tgt[k].want && ra == tgt[k].want,
			      "module target case %zu (%s): build %d, apply %d, wanted %d: %s", k,
			      tgt[k].target, rb, ra, tgt[k].want, build_msg);
		if (rb == 0) {
			ck_assert_uint_eq(kc.module_targets, 1);
			ck_assert_str_eq(ta.module, "mod_a");
			ck_assert_uint_eq(ta.addr, 0xffffffffc0201000ull);
			continue;
		}
		ck_assert_str_eq(build_msg, hv_err_last()->msg);
		ck_assert_msg(strstr(build_msg, tgt[k].says), "case %zu: %s", k, build_msg);
	}
}
END_TEST

int main(void)
{
	Suite *su = suite_create("bundle_reloc");
	TCase *tc = tcase_create("reloc");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_percpu_absolute_kinds);
	tcase_add_test(tc, test_percpu_pc32);
	tcase_add_test(tc, test_percpu_kinds_refused);
	tcase_add_test(tc, test_ordinary_symbols);
	tcase_add_test(tc, test_build_and_apply_agree);
	tcase_add_test(tc, test_targets_agree);
	tcase_add_test(tc, test_module_rules_agree);
	suite_add_tcase(su, tc);
	return hv_check_run(su);
}
