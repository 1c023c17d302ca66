/*
 * hvpatch build's object reader: a synthetic kbuild-like object becomes the
 * expected bundle; refused sections are named with their function; hostile
 * objects (every byte flipped, every truncation, broken headers, indexes and
 * offsets) fail cleanly; the manifest parser and vmlinux identification.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv_hex.h"
#include "hvb.h"
#include "hvb_build.h"

/* ---------- a tiny ELF64 writer ---------- */

#define MAXS 24

struct osec {
	const char *name;
	uint32_t type;
	uint64_t flags, align;
	const uint8_t *data;
	size_t size;
};

struct osym {
	const char *name;
	uint8_t info;
	uint16_t shndx;
	uint64_t value, size;
};

struct orela {
	int sec; /* user section index (1-based) */
	uint64_t off;
	uint32_t sym, type;
	int64_t addend;
};

struct spec {
	uint16_t e_type;
	int nsec, nsym, nrela;
	struct osec sec[MAXS];
	struct osym sym[32];
	struct orela rela[64];
};

struct out {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct out *o, const void *d, size_t n)
{
	if (o->len + n > o->cap) {
		o->cap = (o->len + n) * 2 + 256;
		o->p = realloc(o->p, o->cap);
		ck_assert_ptr_nonnull(o->p);
	}
	if (d)
		memcpy(o->p + o->len, d, n);
	else
		memset(o->p + o->len, 0, n);
	o->len += n;
}

static void putle(struct out *o, uint64_t v, int n)
{
	uint8_t b[8];
	int i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put(o, b, (size_t)n);
}

static void align8(struct out *o)
{
	while (o->len % 8)
		put(o, NULL, 1);
}

struct shdr {
	uint32_t name, type, link, info;
	uint64_t flags, off, size, align, entsize;
};

/* Build the object; returns malloc'd bytes. */
static uint8_t *write_elf(const struct spec *s, size_t *len)
{
	struct out o = { 0 }, shstr = { 0 }, str = { 0 };
	struct shdr sh[MAXS * 2 + 4];
	int n = 1, i, j, symtab, strtab, shstrtab;
	size_t shoff;

	memset(sh, 0, sizeof(sh));
	put(&shstr, "", 1);
	put(&str, "", 1);
	put(&o, NULL, 64);
	for (i = 0; i < s->nsec; i++, n++) {
		sh[n].name = (uint32_t)shstr.len;
		put(&shstr, s->sec[i].name, strlen(s->sec[i].name) + 1);
		sh[n].type = s->sec[i].type;
		sh[n].flags = s->sec[i].flags;
		sh[n].align = s->sec[i].align;
		sh[n].size = s->sec[i].size;
		align8(&o);
		sh[n].off = o.len;
		if (s->sec[i].type != 8)
			put(&o, s->sec[i].data, s->sec[i].size);
	}
	symtab = n + s->nsec; /* after the rela sections (one slot per user section) */
	strtab = symtab + 1;
	shstrtab = symtab + 2;
	for (i = 1; i <= s->nsec; i++, n++) {
		char name[128];

		snprintf(name, sizeof(name), ".rela%s", s->sec[i - 1].name);
		sh[n].name = (uint32_t)shstr.len;
		put(&shstr, name, strlen(name) + 1);
		sh[n].type = 4;
		sh[n].link = (uint32_t)symtab;
		sh[n].info = (uint32_t)i;
		sh[n].entsize = 24;
		sh[n].align = 8;
		align8(&o);
		sh[n].off = o.len;
		for (j = 0; j < s->nrela; j++) {
			if (s->rela[j].sec != i)
				continue;
			putle(&o, s->rela[j].off, 8);
			putle(&o, (uint64_t)s->rela[j].sym << 32 | s->rela[j].type, 8);
			putle(&o, (uint64_t)s->rela[j].addend, 8);
		}
		sh[n].size = o.len - sh[n].off;
	}
	/* symtab */
	align8(&o);
	sh[n].name = (uint32_t)shstr.len;
	put(&shstr, ".symtab", 8);
	sh[n].type = 2;
	sh[n].link = (uint32_t)strtab;
	sh[n].entsize = 24;
	sh[n].off = o.len;
	put(&o, NULL, 24);
	for (i = 0; i < s->nsym; i++) {
		putle(&o, str.len, 4);
		put(&str, s->sym[i].name, strlen(s->sym[i].name) + 1);
		putle(&o, s->sym[i].info, 1);
		putle(&o, 0, 1);
		putle(&o, s->sym[i].shndx, 2);
		putle(&o, s->sym[i].value, 8);
		putle(&o, s->sym[i].size, 8);
	}
	sh[n].size = o.len - sh[n].off;
	n++;
	sh[n].name = (uint32_t)shstr.len;
	put(&shstr, ".strtab", 8);
	sh[n].type = 3;
	sh[n].off = o.len;
	put(&o, str.p, str.len);
	sh[n].size = str.len;
	n++;
	sh[n].name = (uint32_t)shstr.len;
	put(&shstr, ".shstrtab", 10);
	sh[n].type = 3;
	sh[n].off = o.len;
	sh[n].size = shstr.len;
	put(&o, shstr.p, shstr.len);
	n++;
	align8(&o);
	shoff = o.len;
	for (i = 0; i < n; i++) {
		putle(&o, sh[i].name, 4);
		putle(&o, sh[i].type, 4);
		putle(&o, sh[i].flags, 8);
		putle(&o, 0, 8);
		putle(&o, sh[i].off, 8);
		putle(&o, sh[i].size, 8);
		putle(&o, sh[i].link, 4);
		putle(&o, sh[i].info, 4);
		putle(&o, sh[i].align, 8);
		putle(&o, sh[i].entsize, 8);
	}
	memcpy(o.p, "\177ELF\2\1\1", 7);
	memset(o.p + 7, 0, 9);
	o.p[16] = (uint8_t)s->e_type;
	o.p[17] = (uint8_t)(s->e_type >> 8);
	o.p[18] = 62;
	o.p[20] = 1;
	memset(o.p + 24, 0, 16);
	for (i = 0; i < 8; i++)
		o.p[40 + i] = (uint8_t)(shoff >> (8 * i));
	memset(o.p + 48, 0, 4);
	o.p[52] = 64;
	o.p[58] = 64;
	o.p[60] = (uint8_t)n;
	o.p[62] = (uint8_t)shstrtab;
	free(shstr.p);
	free(str.p);
	*len = o.len;
	return o.p;
}

/* ---------- the standard object ---------- */

static const uint8_t text[38] = {
	0xe8, 0,    0,	  0, 0,	      /* 0: call __fentry__ */
	0xe8, 0,    0,	  0, 0,	      /* 5: call seq_puts */
	0x48, 0xc7, 0xc6, 0, 0, 0, 0, /* 10: mov $.rodata, %rsi (32S at 13) */
	0x48, 0xc7, 0xc7, 0, 0, 0, 0, /* 17: mov $counter, %rdi (32S at 20) */
	0xe9, 0,    0,	  0, 0,	      /* 24: jmp hvpatch_orig_target_a */
	0xc3, 0xcc, 0xcc,	      /* 29 */
	0xe8, 0,    0,	  0, 0,	      /* 32: hvp_b: call __fentry__ */
	0xc3,			      /* 37 */
};
static const uint8_t rodata[6] = "hello";
static const uint8_t data8[8];
static const uint8_t meta16[16], meta4[4], comment[4] = "GCC", debug8[8];

enum {
	S_TEXT = 1,
	S_RODATA,
	S_DATA,
	S_BSS,
	S_MCOUNT,
	S_COMMENT,
	S_RETSITES,
	S_DEBUG
};
enum {
	Y_TEXT = 1,
	Y_RODATA,
	Y_A,
	Y_B,
	Y_FENTRY,
	Y_SEQ,
	Y_ORIG,
	Y_COUNTER
};

#define SEC(nm, ty, fl, al, d, sz)    \
	(struct osec)                 \
	{                             \
		nm, ty, fl, al, d, sz \
	}
#define SYM(nm, inf, sh, v, sz)    \
	(struct osym)              \
	{                          \
		nm, inf, sh, v, sz \
	}
#define RELA(s, o, y, t, a)   \
	(struct orela)        \
	{                     \
		s, o, y, t, a \
	}

static void std_spec(struct spec *s)
{
	memset(s, 0, sizeof(*s));
	s->e_type = 1;
	s->sec[s->nsec++] = SEC(".text", 1, 6, 16, text, sizeof(text));
	s->sec[s->nsec++] = SEC(".rodata.str1.1", 1, 0x32, 1, rodata, sizeof(rodata));
	s->sec[s->nsec++] = SEC(".data", 1, 3, 8, data8, sizeof(data8));
	s->sec[s->nsec++] = SEC(".bss", 8, 3, 8, NULL, 16);
	s->sec[s->nsec++] = SEC("__mcount_loc", 1, 2, 8, meta16, sizeof(meta16));
	s->sec[s->nsec++] = SEC(".comment", 1, 0x30, 1, comment, sizeof(comment));
	s->sec[s->nsec++] = SEC(".return_sites", 1, 2, 4, meta4, sizeof(meta4));
	s->sec[s->nsec++] = SEC(".debug_info", 1, 0, 1, debug8, sizeof(debug8));
	s->sym[s->nsym++] = SYM("", 3, S_TEXT, 0, 0);
	s->sym[s->nsym++] = SYM("", 3, S_RODATA, 0, 0);
	s->sym[s->nsym++] = SYM("hvp_a", 0x12, S_TEXT, 0, 32);
	s->sym[s->nsym++] = SYM("hvp_b", 0x12, S_TEXT, 32, 6);
	s->sym[s->nsym++] = SYM("__fentry__", 0x10, 0, 0, 0);
	s->sym[s->nsym++] = SYM("seq_puts", 0x10, 0, 0, 0);
	s->sym[s->nsym++] = SYM("hvpatch_orig_target_a", 0x10, 0, 0, 0);
	s->sym[s->nsym++] = SYM("counter", 0x01, S_BSS, 8, 4);
	s->rela[s->nrela++] = RELA(S_TEXT, 1, Y_FENTRY, 4, -4);
	s->rela[s->nrela++] = RELA(S_TEXT, 6, Y_SEQ, 4, -4);
	s->rela[s->nrela++] = RELA(S_TEXT, 13, Y_RODATA, 11, 0);
	s->rela[s->nrela++] = RELA(S_TEXT, 20, Y_COUNTER, 11, 0);
	s->rela[s->nrela++] = RELA(S_TEXT, 25, Y_ORIG, 4, -4);
	s->rela[s->nrela++] = RELA(S_TEXT, 33, Y_FENTRY, 4, -4);
	s->rela[s->nrela++] = RELA(S_DATA, 0, Y_TEXT, 1, 32);
	s->rela[s->nrela++] = RELA(S_MCOUNT, 0, Y_TEXT, 1, 0);
	s->rela[s->nrela++] = RELA(S_MCOUNT, 8, Y_TEXT, 1, 32);
	s->rela[s->nrela++] = RELA(S_RETSITES, 0, Y_TEXT, 2, 29);
	s->rela[s->nrela++] = RELA(S_DEBUG, 0, Y_TEXT, 10, 0);
}

static const char manifest_text[] = "# test\n"
				    "patch-id = test-fix\n"
				    "level = 2026.11-2\n"
				    "description = first line\n"
				    "description = second line\n"
				    "cve = CVE-2026-0001\n"
				    "replace = target_a -> hvp_a\n"
				    "replace = target_b@1 -> hvp_b   \n";

static struct hvb_manifest *manifest(void)
{
	struct hvb_manifest *m = NULL;

	ck_assert_int_eq(hvb_manifest_parse(manifest_text, strlen(manifest_text), "t.manifest", &m),
			 0);
	return m;
}

static struct hvb_kernel_id kid(void)
{
	struct hvb_kernel_id k;

	memset(&k, 0, sizeof(k));
	ck_assert_int_eq(hvb_parse_build_id("3b43fad5034874490492495d552c0af6a5fab235", &k), 0);
	strcpy(k.release, "6.1.0-56-cloud-amd64");
	return k;
}

static int build(const struct spec *s, struct hvb_bundle **b, struct hvb_build_report *rep)
{
	struct hvb_manifest *m = manifest();
	struct hvb_kernel_id k = kid();
	size_t len = 0;
	uint8_t *obj = write_elf(s, &len);
	int r = hvb_build_object(obj, len, "t.o", m, &k, 1, b, rep);

	free(obj);
	hvb_manifest_free(m);
	return r;
}

START_TEST(test_build_standard)
{
	static const uint8_t nop5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	struct spec s;
	struct hvb_bundle *b = NULL;
	struct hvb_build_report rep;
	uint8_t *p = NULL;
	size_t n = 0, i;
	int dropped_meta = 0, dropped_noalloc = 0;

	std_spec(&s);
	ck_assert_int_eq(build(&s, &b, &rep), 0);
	ck_assert_str_eq(b->patch_id, "test-fix");
	ck_assert_str_eq(b->level, "2026.11-2");
	ck_assert_str_eq(b->description, "first line\nsecond line");
	ck_assert_uint_eq(b->ncves, 1);
	ck_assert_uint_eq(b->ntargets, 1);
	ck_assert_uint_eq(b->targets[0].build_id_len, 20);
	ck_assert_uint_eq(b->targets[0].build_id[0], 0x3b);
	ck_assert_uint_eq(b->nsections, 4);
	ck_assert_int_eq(b->sections[0].kind, HVB_SEC_TEXT);
	ck_assert_uint_eq(b->sections[0].size_bytes, 38);
	ck_assert_uint_eq(b->sections[0].align_bytes, 16);
	ck_assert_int_eq(b->sections[1].kind, HVB_SEC_RODATA);
	ck_assert_int_eq(b->sections[2].kind, HVB_SEC_DATA);
	ck_assert_int_eq(b->sections[3].kind, HVB_SEC_BSS);
	ck_assert_uint_eq(b->sections[3].size_bytes, 16);
	/* call __fentry__ became the 5-byte NOP at both entries */
	ck_assert_mem_eq(b->sections[0].bytes, nop5, 5);
	ck_assert_mem_eq(b->sections[0].bytes + 32, nop5, 5);
	ck_assert_mem_eq(b->sections[0].bytes + 5, text + 5, 27);
	ck_assert_uint_eq(rep.fentry_nops, 2);
	/* replacements */
	ck_assert_uint_eq(b->nreplacements, 2);
	ck_assert_str_eq(b->replacements[0].target, "target_a");
	ck_assert_uint_eq(b->replacements[0].target_index, HVB_NO_INDEX);
	ck_assert_uint_eq(b->replacements[0].offset, 0);
	ck_assert_str_eq(b->replacements[1].target, "target_b");
	ck_assert_uint_eq(b->replacements[1].target_index, 1);
	ck_assert_uint_eq(b->replacements[1].offset, 32);
	/* relocations: seq_puts, .rodata, counter (bss+8), original body, data->text */
	ck_assert_uint_eq(b->nrelocs, 5);
	ck_assert_int_eq(b->relocs[0].kind, HVB_TGT_KSYM);
	ck_assert_str_eq(b->relocs[0].symbol, "seq_puts");
	ck_assert_uint_eq(b->relocs[0].offset, 6);
	ck_assert_int_eq(b->relocs[0].addend, -4);
	ck_assert_int_eq(b->relocs[1].kind, HVB_TGT_SECTION);
	ck_assert_uint_eq(b->relocs[1].target_section, 1);
	ck_assert_uint_eq(b->relocs[1].type, HVB_R_X86_64_32S);
	ck_assert_uint_eq(b->relocs[2].target_section, 3);
	ck_assert_uint_eq(b->relocs[2].target_offset, 8);
	ck_assert_int_eq(b->relocs[3].kind, HVB_TGT_ORIG);
	ck_assert_uint_eq(b->relocs[3].replacement, 0);
	ck_assert_uint_eq(b->relocs[4].section, 2);
	ck_assert_uint_eq(b->relocs[4].target_section, 0);
	ck_assert_int_eq(b->relocs[4].addend, 32);
	/* the report lists what was dropped */
	for (i = 0; i < rep.nsecs; i++) {
		if (rep.secs[i].action == HVB_ACT_DROPPED_META)
			dropped_meta++;
		if (rep.secs[i].action == HVB_ACT_DROPPED_NOALLOC)
			dropped_noalloc++;
	}
	ck_assert_int_eq(dropped_meta, 2);    /* __mcount_loc, .return_sites */
	ck_assert_int_eq(dropped_noalloc, 2); /* .comment, .debug_info */
	ck_assert_uint_eq(rep.relocs_dropped, 4);
	ck_assert_int_eq(hvb_serialize(b, &p, &n), 0);
	/* HVB_SEED_DIR=DIR writes this object and its bundle as fuzz seeds. */
	if (getenv("HVB_SEED_DIR")) {
		char path[4096];
		size_t olen = 0;
		uint8_t *obj = write_elf(&s, &olen);
		FILE *f;

		snprintf(path, sizeof(path), "%s/synthetic.o", getenv("HVB_SEED_DIR"));
		f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		ck_assert_uint_eq(fwrite(obj, 1, olen, f), olen);
		fclose(f);
		snprintf(path, sizeof(path), "%s/synthetic.hvb", getenv("HVB_SEED_DIR"));
		f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		ck_assert_uint_eq(fwrite(p, 1, n, f), n);
		fclose(f);
		free(obj);
	}
	free(p);
	hvb_build_report_free(&rep);
	hvb_free(b);
}
END_TEST

/* ---------- refused sections ---------- */

static const char *const refused[] = {
	"__bug_table",	     "__ex_table",    ".altinstructions",   ".altinstr_replacement",
	".altinstr_aux",     "__jump_table",  ".static_call_sites", ".parainstructions",
	"__ksymtab",	     "__ksymtab_gpl", "__ksymtab_strings",  "__kcrctab",
	".init.text",	     ".exit.text",    ".init.data",	    ".data..percpu",
	"__tracepoints",     "__param",	      "__dyndbg",	    ".static_call.text",
	"_kprobe_blacklist",
};

START_TEST(test_refused_section)
{
	struct spec s;
	struct hvb_bundle *b = NULL;
	const char *msg;

	std_spec(&s);
	s.sec[s.nsec++] = SEC(refused[_i], 1, 2, 4, meta16, sizeof(meta16));
	/* its entry points into hvp_b, like a bug-table entry would */
	s.rela[s.nrela++] = RELA(s.nsec, 0, Y_TEXT, 2, 35);
	ck_assert_int_eq(build(&s, &b, NULL), HV_E_UNSUPPORTED);
	ck_assert_ptr_null(b);
	msg = hv_err_last()->msg;
	ck_assert_msg(strstr(msg, refused[_i]) != NULL, "section not named: %s", msg);
	ck_assert_msg(strstr(msg, "hvp_b") != NULL, "function not named: %s", msg);
	ck_assert_msg(strstr(msg, "instead") || strstr(msg, "remove") || strstr(msg, "use") ||
			      strstr(msg, "replace"),
		      "no advice: %s", msg);
}
END_TEST

START_TEST(test_dropped_metadata)
{
	static const char *const dropped[] = {
		"__patchable_function_entries",
		".retpoline_sites",
		".orc_unwind",
		".orc_unwind_ip",
		".modinfo",
		".gnu.linkonce.this_module",
		".note.gnu.property",
		".smp_locks",
		".discard.addressable",
		".call_sites",
	};
	size_t i;

	for (i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++) {
		struct spec s;
		struct hvb_bundle *b = NULL;

		std_spec(&s);
		s.sec[s.nsec++] = SEC(dropped[i], 1, 2, 4, meta16, sizeof(meta16));
		s.rela[s.nrela++] = RELA(s.nsec, 0, Y_TEXT, 2, 35);
		ck_assert_msg(build(&s, &b, NULL) == 0, "%s: %s", dropped[i], hv_err_last()->msg);
		ck_assert_uint_eq(b->nsections, 4);
		hvb_free(b);
	}
}
END_TEST

/* ---------- hostile objects ---------- */

static int build_bytes(const uint8_t *obj, size_t len)
{
	struct hvb_manifest *m = manifest();
	struct hvb_kernel_id k = kid();
	struct hvb_bundle *b = NULL;
	struct hvb_build_report rep;
	int r = hvb_build_object(obj, len, "t.o", m, &k, 1, &b, &rep);

	if (r == 0) {
		ck_assert_int_eq(hvb_check(b), 0);
		hvb_build_report_free(&rep);
	} else {
		ck_assert_ptr_null(b);
		ck_assert_ptr_null(rep.secs);
		ck_assert(hv_err_last()->msg[0] != '\0');
	}
	hvb_free(b);
	hvb_manifest_free(m);
	return r;
}

START_TEST(test_truncated_objects)
{
	struct spec s;
	size_t len = 0, i;
	uint8_t *obj;

	std_spec(&s);
	obj = write_elf(&s, &len);
	ck_assert_int_eq(build_bytes(obj, len), 0);
	for (i = 0; i < len; i++) {
		uint8_t *q = malloc(i ? i : 1);

		memcpy(q, obj, i);
		ck_assert_int_lt(build_bytes(q, i), 0);
		free(q);
	}
	free(obj);
}
END_TEST

START_TEST(test_flipped_objects)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };
	struct spec s;
	size_t len = 0, i, k, failed = 0;
	uint8_t *obj, *q;

	std_spec(&s);
	obj = write_elf(&s, &len);
	q = malloc(len);
	for (i = 0; i < len; i++) {
		for (k = 0; k < sizeof(masks); k++) {
			memcpy(q, obj, len);
			q[i] ^= masks[k];
			if (build_bytes(q, len) < 0)
				failed++;
		}
	}
	ck_assert_uint_gt(failed, 0);
	free(q);
	free(obj);
}
END_TEST

static void put_u64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

START_TEST(test_broken_headers)
{
	struct spec s;
	size_t len = 0;
	uint8_t *obj, *q;

	std_spec(&s);
	obj = write_elf(&s, &len);
	q = malloc(len);
#define TRY(edit, want, needle)                                                 \
	do {                                                                    \
		memcpy(q, obj, len);                                            \
		edit;                                                           \
		ck_assert_int_eq(build_bytes(q, len), want);                    \
		ck_assert_msg(strstr(hv_err_last()->msg, needle) != NULL, "%s", \
			      hv_err_last()->msg);                              \
	} while (0)
	TRY(q[0] = 'X', HV_E_FORMAT, "not an ELF");
	TRY(q[4] = 1, HV_E_FORMAT, "64-bit");
	TRY(q[5] = 2, HV_E_FORMAT, "little-endian");
	TRY(q[16] = 3, HV_E_FORMAT, "not a relocatable object");
	TRY(q[18] = 3, HV_E_FORMAT, "machine");
	TRY(put_u64(q + 40, len - 10), HV_E_FORMAT, "outside");
	TRY(put_u64(q + 40, UINT64_MAX - 8), HV_E_FORMAT, "outside");
	TRY(q[60] = 0xff, HV_E_FORMAT, "outside");
	TRY(q[62] = 0xfe, HV_E_FORMAT, "section header table");
	TRY(q[58] = 40, HV_E_FORMAT, "section header table");
#undef TRY
	free(q);
	free(obj);
}
END_TEST

START_TEST(test_bad_relocations)
{
	struct spec s;
	struct hvb_bundle *b = NULL;

	std_spec(&s);
	s.rela[1].type = 9; /* R_X86_64_GOTPCREL */
	ck_assert_int_eq(build(&s, &b, NULL), HV_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "type 9"));
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "hvp_a"));

	std_spec(&s);
	s.rela[1].off = 36; /* 4 bytes past the 38-byte section end */
	ck_assert_int_eq(build(&s, &b, NULL), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "outside"));

	std_spec(&s);
	s.rela[1].sym = 99;
	ck_assert_int_eq(build(&s, &b, NULL), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "symbol 99"));

	std_spec(&s);
	s.rela[0].off = 6; /* __fentry__ call not at an entry */
	s.rela[1].off = 1;
	ck_assert_int_eq(build(&s, &b, NULL), HV_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "__fentry__"));

	std_spec(&s);
	s.sym[Y_SEQ - 1].name = "target_b"; /* calls a function it replaces */
	ck_assert_int_eq(build(&s, &b, NULL), HV_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "hvpatch_orig_target_b"));

	/* symbol = LOCAL -> KERNEL@N names a duplicated kernel static */
	{
		static const char mt[] = "patch-id = a\nlevel = 1\n"
					 "replace = target_a -> hvp_a\n"
					 "replace = target_b@1 -> hvp_b\n"
					 "symbol = seq_puts -> init_once@3\n";
		struct hvb_manifest *am = NULL;
		struct hvb_kernel_id k = kid();
		size_t olen = 0;
		uint8_t *obj;

		std_spec(&s);
		obj = write_elf(&s, &olen);
		ck_assert_int_eq(hvb_manifest_parse(mt, sizeof(mt) - 1, "a.manifest", &am), 0);
		ck_assert_uint_eq(am->nalias, 1);
		ck_assert_int_eq(hvb_build_object(obj, olen, "t.o", am, &k, 1, &b, NULL), 0);
		ck_assert_str_eq(b->relocs[0].symbol, "init_once@3");
		hvb_free(b);
		b = NULL;
		hvb_manifest_free(am);
		am = NULL;
		/* an alias for a replaced function would call itself */
		{
			static const char mt2[] = "patch-id = a\nlevel = 1\n"
						  "replace = target_a -> hvp_a\n"
						  "replace = target_b@1 -> hvp_b\n"
						  "symbol = seq_puts -> target_b@1\n";

			ck_assert_int_eq(
				hvb_manifest_parse(mt2, sizeof(mt2) - 1, "a.manifest", &am), 0);
			ck_assert_int_eq(hvb_build_object(obj, olen, "t.o", am, &k, 1, &b, NULL),
					 HV_E_UNSUPPORTED);
			ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "hvpatch_orig_target_b"));
			hvb_manifest_free(am);
			am = NULL;
		}
		/* ...but another function of the same name is fine */
		{
			static const char mt3[] = "patch-id = a\nlevel = 1\n"
						  "replace = target_a -> hvp_a\n"
						  "replace = target_b@1 -> hvp_b\n"
						  "symbol = seq_puts -> target_b@0\n";

			ck_assert_int_eq(
				hvb_manifest_parse(mt3, sizeof(mt3) - 1, "a.manifest", &am), 0);
			ck_assert_int_eq(hvb_build_object(obj, olen, "t.o", am, &k, 1, &b, NULL),
					 0);
			ck_assert_str_eq(b->relocs[0].symbol, "target_b@0");
			hvb_free(b);
			b = NULL;
			hvb_manifest_free(am);
		}
		free(obj);
	}

	std_spec(&s);
	s.sym[Y_SEQ - 1].name = "__this_module";
	ck_assert_int_eq(build(&s, &b, NULL), HV_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "THIS_MODULE"));

	std_spec(&s);
	s.sym[Y_ORIG - 1].name = "hvpatch_orig_nothing";
	ck_assert_int_eq(build(&s, &b, NULL), HV_E_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "no replacement of nothing"));

	std_spec(&s);
	s.sym[Y_B - 1].name = "hvp_other";
	ck_assert_int_eq(build(&s, &b, NULL), HV_E_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "hvp_b"));

	std_spec(&s);
	s.sym[Y_COUNTER - 1].shndx = 0xfff2; /* SHN_COMMON */
	ck_assert_int_eq(build(&s, &b, NULL), HV_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "-fno-common"));

	std_spec(&s);
	s.sym[Y_COUNTER - 1].shndx = 40;
	ck_assert_int_eq(build(&s, &b, NULL), HV_E_FORMAT);

	std_spec(&s);
	s.sym[Y_COUNTER - 1].shndx = S_MCOUNT; /* points into a dropped section */
	ck_assert_int_eq(build(&s, &b, NULL), HV_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "__mcount_loc"));

	std_spec(&s);
	s.sec[S_TEXT - 1].align = 3;
	ck_assert_int_eq(build(&s, &b, NULL), HV_E_FORMAT);

	std_spec(&s);
	s.sec[S_DATA - 1].type = 9; /* SHT_REL */
	ck_assert_int_eq(build(&s, &b, NULL), HV_E_UNSUPPORTED);
	ck_assert_ptr_null(b);
}
END_TEST

/* ---------- manifest ---------- */

START_TEST(test_manifest)
{
	static const struct {
		const char *text, *needle;
	} bad[] = {
		{ "patch-id = a\nlevel = 1\n", "replace" },
		{ "level = 1\nreplace = a -> b\n", "patch-id" },
		{ "patch-id = a\nreplace = a -> b\n", "level" },
		{ "patch-id = a\nlevel = 1\nreplace = a b\n", "line 3" },
		{ "patch-id = a\nlevel = 1\nreplace = a@x -> b\n", "number" },
		{ "patch-id = a\nlevel = 1\nreplace = a@70000 -> b\n", "0..65535" },
		{ "patch-id = a\nlevel = 1\nreplace = -> b\n", "one kernel function" },
		{ "patch-id = a\nlevel = 1\nreplace = a -> b\ncolour = red\n", "unknown key" },
		{ "patch-id = a\npatch-id = b\n", "twice" },
		{ "just words\n", "key = value" },
		{ "patch-id = a\nlevel = 1\nreplace = a -> b\nsymbol = x@1 -> y\n", "after '->'" },
		{ "patch-id = a\nlevel = 1\nreplace = a -> b\nsymbol = x\n", "line 4" },
	};
	struct hvb_manifest *m = manifest();
	size_t i;

	ck_assert_str_eq(m->patch_id, "test-fix");
	ck_assert_uint_eq(m->nrepl, 2);
	ck_assert_str_eq(m->repl[1].target, "target_b");
	ck_assert_uint_eq(m->repl[1].target_index, 1);
	ck_assert_str_eq(m->repl[1].replacement, "hvp_b");
	hvb_manifest_free(m);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = NULL;
		ck_assert_int_eq(
			hvb_manifest_parse(bad[i].text, strlen(bad[i].text), "x.manifest", &m),
			HV_E_FORMAT);
		ck_assert_ptr_null(m);
		ck_assert_msg(strstr(hv_err_last()->msg, bad[i].needle) != NULL, "%zu: %s", i,
			      hv_err_last()->msg);
		ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "x.manifest"));
	}
	ck_assert_int_eq(hvb_manifest_parse("a\0b", 3, "nul.manifest", &m), HV_E_FORMAT);
}
END_TEST

START_TEST(test_manifest_mutations)
{
	static const uint8_t masks[] = { 0x01, 0x20, 0x80, 0xff };
	size_t n = strlen(manifest_text), i, k, ok = 0;
	char *q = malloc(n);

	for (i = 0; i <= n; i++) { /* every truncation, exact-size buffers */
		struct hvb_manifest *m = NULL;
		char *t = malloc(i ? i : 1);
		int r;

		memcpy(t, manifest_text, i);
		r = hvb_manifest_parse(t, i, "t.manifest", &m);
		if (r == 0) {
			ck_assert_ptr_nonnull(m->patch_id);
			ck_assert_uint_ge(m->nrepl, 1);
		} else {
			ck_assert_ptr_null(m);
		}
		hvb_manifest_free(m);
		free(t);
	}
	for (i = 0; i < n; i++) {
		for (k = 0; k < sizeof(masks); k++) {
			struct hvb_manifest *m = NULL;

			memcpy(q, manifest_text, n);
			q[i] = (char)(q[i] ^ masks[k]);
			if (hvb_manifest_parse(q, n, "t.manifest", &m) == 0) {
				ck_assert_uint_ge(m->nrepl, 1);
				ok++;
			} else {
				ck_assert_ptr_null(m);
				ck_assert(hv_err_last()->msg[0] != '\0');
			}
			hvb_manifest_free(m);
		}
	}
	ck_assert_uint_gt(ok, 0); /* flips inside the description still parse */
	free(q);
}
END_TEST

/* ---------- vmlinux identification ---------- */

START_TEST(test_vmlinux_identify)
{
	static const uint8_t note[] = { 4, 0, 0,   0,	4,   0, 0,    0,    3,	  0,
					0, 0, 'G', 'N', 'U', 0, 0xde, 0xad, 0xbe, 0xef };
	static const char banner[] = "xx\0Linux version 6.1.0-99-test (someone@host) #1 SMP\0";
	struct spec s;
	struct hvb_kernel_id k;
	uint8_t *img;
	size_t len = 0;

	memset(&s, 0, sizeof(s));
	s.e_type = 2;
	s.sec[s.nsec++] = SEC(".notes", 7, 2, 4, note, sizeof(note));
	s.sec[s.nsec++] = SEC(".rodata", 1, 2, 8, (const uint8_t *)banner, sizeof(banner));
	img = write_elf(&s, &len);
	ck_assert_int_eq(hvb_vmlinux_identify(img, len, "vmlinux", &k), 0);
	ck_assert_str_eq(k.release, "6.1.0-99-test");
	ck_assert_uint_eq(k.build_id_len, 4);
	ck_assert_uint_eq(k.build_id[3], 0xef);
	/* no program headers: not an image hvpatch can check symbols in */
	{
		struct spec os;
		struct hvb_bundle *b = NULL;
		struct hvb_kernel_check kc;

		std_spec(&os);
		ck_assert_int_eq(build(&os, &b, NULL), 0);
		ck_assert_int_eq(hvb_check_vmlinux(b, img, len, "vmlinux", NULL, &kc), HV_E_FORMAT);
		ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "program header"));
		ck_assert_int_eq(hvb_check_vmlinux(b, img, 40, "vmlinux", NULL, &kc), HV_E_FORMAT);
		hvb_free(b);
	}
	free(img);
	/* no banner */
	s.sec[1].data = (const uint8_t *)"nothing here";
	s.sec[1].size = 12;
	img = write_elf(&s, &len);
	ck_assert_int_eq(hvb_vmlinux_identify(img, len, "vmlinux", &k), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "--release"));
	free(img);
	/* an object is not a vmlinux */
	s.e_type = 1;
	img = write_elf(&s, &len);
	ck_assert_int_eq(hvb_vmlinux_identify(img, len, "x.o", &k), HV_E_FORMAT);
	free(img);
	/* every byte flipped and every truncation of an image: no crash */
	{
		size_t i;
		uint8_t *q;

		s.e_type = 2;
		s.sec[1].data = (const uint8_t *)banner;
		s.sec[1].size = sizeof(banner);
		img = write_elf(&s, &len);
		q = malloc(len);
		for (i = 0; i < len; i++) {
			memcpy(q, img, len);
			q[i] ^= 0xff;
			if (hvb_vmlinux_identify(q, len, "vmlinux", &k) < 0)
				ck_assert(hv_err_last()->msg[0] != '\0');
			ck_assert_int_lt(hvb_vmlinux_identify(img, i, "vmlinux", &k), 0);
		}
		free(q);
		free(img);
	}
	ck_assert_int_eq(hvb_parse_build_id("abc", &k), HV_E_INVAL);
	ck_assert_int_eq(hvb_parse_build_id("zz", &k), HV_E_INVAL);
}
END_TEST

/* The cached vmlinux of a pinned kernel, when a developer has fetched it. */
START_TEST(test_real_vmlinux)
{
	static const char *const abis[] = { "6.1.0-55", "6.1.0-56" };
	size_t i;
	int seen = 0;

	for (i = 0; i < 2; i++) {
		char path[256], want[128] = "", hex[129];
		struct hvb_kernel_id k;
		uint8_t *img = NULL;
		size_t len = 0;
		FILE *f;

		snprintf(path, sizeof(path), "/var/cache/hvpatch/kernels/%s/build-id", abis[i]);
		f = fopen(path, "r");
		if (!f)
			continue;
		ck_assert_ptr_nonnull(fgets(want, sizeof(want), f));
		fclose(f);
		want[strcspn(want, "\n")] = '\0';
		snprintf(path, sizeof(path), "/var/cache/hvpatch/kernels/%s/vmlinux", abis[i]);
		if (hvb_read_file(path, 1024u << 20, &img, &len) < 0)
			continue;
		ck_assert_int_eq(hvb_vmlinux_identify(img, len, path, &k), 0);
		hv_hex_encode(hex, sizeof(hex), k.build_id, k.build_id_len);
		ck_assert_str_eq(hex, want);
		ck_assert(strncmp(k.release, abis[i], strlen(abis[i])) == 0);
		free(img);
		seen++;
	}
	if (!seen)
		fprintf(stderr,
			"test_real_vmlinux: no cached vmlinux; checked synthetic images only\n");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("bundle-elf");
	TCase *t = tcase_create("build");

	tcase_set_timeout(t, 120);
	tcase_add_test(t, test_build_standard);
	tcase_add_loop_test(t, test_refused_section, 0,
			    (int)(sizeof(refused) / sizeof(refused[0])));
	tcase_add_test(t, test_dropped_metadata);
	tcase_add_test(t, test_truncated_objects);
	tcase_add_test(t, test_flipped_objects);
	tcase_add_test(t, test_broken_headers);
	tcase_add_test(t, test_bad_relocations);
	tcase_add_test(t, test_manifest);
	tcase_add_test(t, test_manifest_mutations);
	tcase_add_test(t, test_vmlinux_identify);
	tcase_add_test(t, test_real_vmlinux);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *r = srunner_create(suite());
	int failed;

	srunner_set_fork_status(r, CK_NOFORK);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
