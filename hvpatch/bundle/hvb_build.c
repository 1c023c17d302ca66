/*
 * hvb_build.c: ELF64 relocatable object + manifest -> bundle; vmlinux
 * identification; the manifest parser.
 */
/* Guarded so the fuzz runner (tests/fuzz/run.sh) can build it without configure. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "hvb_build.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv_buf.h"
#include "hv_hex.h"

/* ---------- ELF64 reading (all through hv_buf) ---------- */

#define ET_REL_		 1
#define ET_EXEC_	 2
#define EM_X86_64_	 62
#define SHT_PROGBITS_	 1
#define SHT_SYMTAB_	 2
#define SHT_STRTAB_	 3
#define SHT_RELA_	 4
#define SHT_NOTE_	 7
#define SHT_NOBITS_	 8
#define SHT_REL_	 9
#define SHT_GROUP_	 17
#define SHF_WRITE_	 0x1
#define SHF_ALLOC_	 0x2
#define SHF_EXEC_	 0x4
#define SHN_UNDEF_	 0
#define SHN_LORESERVE_	 0xff00
#define SHN_ABS_	 0xfff1
#define SHN_COMMON_	 0xfff2
#define STT_FUNC_	 2
#define STT_SECTION_	 3
#define ELF_MAX_SECTIONS 65280
#define ELF_MAX_SYMS	 (1u << 20)

struct elf_sec {
	const char *name; /* points into the object's bytes, NUL-terminated */
	uint32_t type, link, info;
	uint64_t flags, offset, size, addralign, entsize;
};

struct elf_sym {
	const char *name;
	uint8_t info;
	uint16_t shndx;
	uint64_t value, size;
};

struct elf {
	const uint8_t *buf;
	size_t len;
	const char *what;
	uint16_t type;
	size_t nsec;
	struct elf_sec *sec;
	size_t nsym;
	struct elf_sym *sym;
};

static void elf_close(struct elf *e)
{
	free(e->sec);
	free(e->sym);
	e->sec = NULL;
	e->sym = NULL;
}

static int elf_open(const uint8_t *buf, size_t len, const char *what, struct elf *e)
{
	struct hv_buf b, names;
	const uint8_t *ident;
	uint16_t machine, ehsize, shentsize, shnum, shstrndx, phentsize, phnum;
	uint32_t version, flags;
	uint64_t entry, phoff, shoff;
	size_t i;
	int r;

	memset(e, 0, sizeof(*e));
	e->buf = buf;
	e->len = len;
	e->what = what;
	hv_buf_init(&b, buf, len, "ELF header");
	if ((r = hv_buf_get_bytes(&b, 16, &ident)) < 0)
		goto bad;
	if (memcmp(ident, "\177ELF", 4) != 0) {
		r = hv_err(HV_E_FORMAT, "%s is not an ELF file (no \\177ELF magic)", what);
		goto out;
	}
	if (ident[4] != 2 || ident[5] != 1 || ident[6] != 1) {
		r = hv_err(HV_E_FORMAT,
			   "%s is not a little-endian 64-bit ELF version 1 file (class %u, data "
			   "%u, version %u); build it for x86-64",
			   what, ident[4], ident[5], ident[6]);
		goto out;
	}
	if ((r = hv_buf_get_u16(&b, &e->type)) < 0 || (r = hv_buf_get_u16(&b, &machine)) < 0 ||
	    (r = hv_buf_get_u32(&b, &version)) < 0 || (r = hv_buf_get_u64(&b, &entry)) < 0 ||
	    (r = hv_buf_get_u64(&b, &phoff)) < 0 || (r = hv_buf_get_u64(&b, &shoff)) < 0 ||
	    (r = hv_buf_get_u32(&b, &flags)) < 0 || (r = hv_buf_get_u16(&b, &ehsize)) < 0 ||
	    (r = hv_buf_get_u16(&b, &phentsize)) < 0 || (r = hv_buf_get_u16(&b, &phnum)) < 0 ||
	    (r = hv_buf_get_u16(&b, &shentsize)) < 0 || (r = hv_buf_get_u16(&b, &shnum)) < 0 ||
	    (r = hv_buf_get_u16(&b, &shstrndx)) < 0)
		goto bad;
	if (machine != EM_X86_64_) {
		r = hv_err(HV_E_FORMAT, "%s is for ELF machine %u, not x86-64 (62)", what, machine);
		goto out;
	}
	if (shentsize != 64 || shnum < 1 || shnum > ELF_MAX_SECTIONS || shstrndx >= shnum) {
		r = hv_err(HV_E_FORMAT,
			   "%s has a bad section header table (entry size %u, %u sections, "
			   "names in section %u)",
			   what, shentsize, shnum, shstrndx);
		goto out;
	}
	if (shoff > len || (len - shoff) / 64 < shnum) {
		r = hv_err(HV_E_FORMAT,
			   "%s section headers (%u at offset %llu) lie outside the %zu-byte file",
			   what, shnum, (unsigned long long)shoff, len);
		goto out;
	}
	e->sec = calloc(shnum, sizeof(*e->sec));
	if (!e->sec) {
		r = hv_err(HV_E_NOMEM, "out of memory reading %s", what);
		goto out;
	}
	e->nsec = shnum;
	b.what = "ELF section headers";
	for (i = 0; i < shnum; i++) {
		struct elf_sec *s = &e->sec[i];
		uint32_t name;

		if ((r = hv_buf_seek(&b, shoff + 64 * i)) < 0 ||
		    (r = hv_buf_get_u32(&b, &name)) < 0 || (r = hv_buf_get_u32(&b, &s->type)) < 0 ||
		    (r = hv_buf_get_u64(&b, &s->flags)) < 0 || (r = hv_buf_skip(&b, 8)) < 0 ||
		    (r = hv_buf_get_u64(&b, &s->offset)) < 0 ||
		    (r = hv_buf_get_u64(&b, &s->size)) < 0 ||
		    (r = hv_buf_get_u32(&b, &s->link)) < 0 ||
		    (r = hv_buf_get_u32(&b, &s->info)) < 0 ||
		    (r = hv_buf_get_u64(&b, &s->addralign)) < 0 ||
		    (r = hv_buf_get_u64(&b, &s->entsize)) < 0)
			goto bad;
		s->name = (const char *)(uintptr_t)name; /* resolved below */
		if (s->type != SHT_NOBITS_ && (s->offset > len || len - s->offset < s->size)) {
			r = hv_err(HV_E_FORMAT,
				   "%s section %zu (%llu bytes at offset %llu) lies outside the "
				   "%zu-byte file",
				   what, i, (unsigned long long)s->size,
				   (unsigned long long)s->offset, len);
			goto out;
		}
	}
	if (e->sec[shstrndx].type != SHT_STRTAB_) {
		r = hv_err(HV_E_FORMAT, "%s section-name table (section %u) is not a string table",
			   what, shstrndx);
		goto out;
	}
	hv_buf_init(&names, buf + e->sec[shstrndx].offset, e->sec[shstrndx].size,
		    "ELF section-name table");
	for (i = 0; i < shnum; i++) {
		size_t off = (size_t)(uintptr_t)e->sec[i].name;

		if ((r = hv_buf_seek(&names, off)) < 0 ||
		    (r = hv_buf_get_cstr(&names, 4096, &e->sec[i].name, NULL)) < 0) {
			r = hv_err_prefix("%s section %zu name", what, i);
			goto out;
		}
	}
	r = 0;
	goto out;
bad:
	r = hv_err_prefix("%s", what);
out:
	if (r < 0)
		elf_close(e);
	return r;
}

/* Load the one symbol table of a relocatable object. */
static int elf_load_syms(struct elf *e, size_t *symtab_idx)
{
	struct hv_buf b, str;
	const struct elf_sec *st = NULL, *ss;
	size_t i;
	int r;

	*symtab_idx = 0;
	for (i = 1; i < e->nsec; i++) {
		if (e->sec[i].type != SHT_SYMTAB_)
			continue;
		if (st)
			return hv_err(HV_E_FORMAT, "%s has more than one symbol table", e->what);
		st = &e->sec[i];
		*symtab_idx = i;
	}
	if (!st)
		return hv_err(
			HV_E_FORMAT,
			"%s has no symbol table; do not strip the object before hvpatch build",
			e->what);
	if (st->entsize != 24 || st->size % 24 || st->size / 24 > ELF_MAX_SYMS ||
	    st->link >= e->nsec || e->sec[st->link].type != SHT_STRTAB_)
		return hv_err(HV_E_FORMAT,
			      "%s symbol table is malformed (entry size %llu, %llu bytes, string "
			      "table %u)",
			      e->what, (unsigned long long)st->entsize,
			      (unsigned long long)st->size, st->link);
	ss = &e->sec[st->link];
	e->nsym = st->size / 24;
	e->sym = calloc(e->nsym ? e->nsym : 1, sizeof(*e->sym));
	if (!e->sym)
		return hv_err(HV_E_NOMEM, "out of memory reading the symbols of %s", e->what);
	hv_buf_init(&b, e->buf + st->offset, st->size, "ELF symbol table");
	hv_buf_init(&str, e->buf + ss->offset, ss->size, "ELF symbol-name table");
	for (i = 0; i < e->nsym; i++) {
		struct elf_sym *s = &e->sym[i];
		uint32_t name;
		uint8_t other;

		if ((r = hv_buf_get_u32(&b, &name)) < 0 || (r = hv_buf_get_u8(&b, &s->info)) < 0 ||
		    (r = hv_buf_get_u8(&b, &other)) < 0 ||
		    (r = hv_buf_get_u16(&b, &s->shndx)) < 0 ||
		    (r = hv_buf_get_u64(&b, &s->value)) < 0 ||
		    (r = hv_buf_get_u64(&b, &s->size)) < 0)
			return hv_err_prefix("%s", e->what);
		if ((r = hv_buf_seek(&str, name)) < 0 ||
		    (r = hv_buf_get_cstr(&str, HVB_MAX_NAME, &s->name, NULL)) < 0)
			return hv_err_prefix("%s symbol %zu name", e->what, i);
		if (s->shndx != SHN_UNDEF_ && s->shndx < SHN_LORESERVE_ && s->shndx >= e->nsec)
			return hv_err(HV_E_FORMAT,
				      "%s symbol %zu (%s) is in section %u, which does not exist",
				      e->what, i, s->name, s->shndx);
	}
	return 0;
}

/* The function of section @sec containing @off, for error messages. */
/* The function part of a replacement target ("MODULE:fn" -> "fn"). */
static const char *target_function(const char *target)
{
	const char *colon = strchr(target, ':');

	return colon ? colon + 1 : target;
}

/*
 * "MODULE:__this_module" (malloc'd) when every module target of @b is in
 * one module MODULE and there is at least one; else NULL.
 */
static char *this_module(const struct hvb_bundle *b)
{
	char mod[HVB_MAX_MODULE_NAME + 1], first[HVB_MAX_MODULE_NAME + 1] = "", *out;
	size_t i, n;

	for (i = 0; i < b->nreplacements; i++) {
		if (!hvb_sym_module(b->replacements[i].target, mod, sizeof(mod), NULL))
			continue;
		if (first[0] && strcmp(first, mod) != 0)
			return NULL;
		memcpy(first, mod, sizeof(first));
	}
	if (!first[0])
		return NULL;
	n = strlen(first) + sizeof(":__this_module");
	out = malloc(n);
	if (out)
		snprintf(out, n, "%s:__this_module", first);
	return out;
}

static const char *func_at(const struct elf *e, size_t sec, uint64_t off)
{
	const char *best = NULL;
	size_t i;

	for (i = 0; i < e->nsym; i++) {
		const struct elf_sym *s = &e->sym[i];

		if (s->shndx != sec || (s->info & 15) != STT_FUNC_)
			continue;
		if (off >= s->value && off - s->value < (s->size ? s->size : 1))
			return s->name;
		if (!best && off >= s->value)
			best = s->name;
	}
	return best ? best : "(no function)";
}

/* ---------- section classification ---------- */

struct sec_rule {
	const char *name;
	bool prefix;
	enum {
		RULE_REFUSE,
		RULE_DROP
	} action;
	const char *why; /* for RULE_REFUSE: what it is and what to do instead */
};

static const struct sec_rule sec_rules[] = {
	{ "__bug_table", false, RULE_REFUSE,
	  "BUG()/WARN() needs an entry in the kernel's bug table, which a patch cannot extend; "
	  "replace BUG_ON/WARN_ON with an explicit check, pr_err() and an error return" },
	{ "__ex_table", false, RULE_REFUSE,
	  "an instruction with an exception fixup (inline user-memory access such as get_user, "
	  "or a fault-tolerant MSR/FPU access) needs the kernel's exception table, which a patch "
	  "cannot extend; call an out-of-line kernel helper instead (e.g. _copy_from_user, "
	  "strncpy_from_user)" },
	{ ".altinstructions", false, RULE_REFUSE,
	  "alternative instructions (static_cpu_has, alternative(), inline STAC/CLAC, some "
	  "barriers) are patched by the kernel at load time, which the apply engine does not do; "
	  "call an out-of-line kernel helper instead" },
	{ ".altinstr_replacement", false, RULE_REFUSE,
	  "alternative instructions are patched by the kernel at load time, which the apply "
	  "engine does not do; call an out-of-line kernel helper instead" },
	{ ".altinstr_aux", false, RULE_REFUSE,
	  "static_cpu_has() needs the alternatives patcher; test the CPU feature with "
	  "boot_cpu_has() instead" },
	{ "__jump_table", false, RULE_REFUSE,
	  "static keys (static_branch_*, tracepoints, jump-label pr_debug) need the kernel's jump "
	  "table, which a patch cannot extend; read a plain variable or call an out-of-line "
	  "helper" },
	{ ".static_call_sites", false, RULE_REFUSE,
	  "static_call() sites are patched by the kernel at load time; call the function "
	  "directly or through a pointer" },
	{ ".static_call.text", false, RULE_REFUSE,
	  "static_call trampolines cannot be defined in a patch; call the function directly" },
	{ ".parainstructions", false, RULE_REFUSE,
	  "paravirt call sites are patched by the kernel at load time; call an out-of-line "
	  "kernel helper instead" },
	{ "__ksymtab", true, RULE_REFUSE,
	  "EXPORT_SYMBOL cannot add symbols to a running kernel; remove the export" },
	{ "__kcrctab", true, RULE_REFUSE,
	  "EXPORT_SYMBOL cannot add symbols to a running kernel; remove the export" },
	{ ".init.", true, RULE_REFUSE,
	  "__init code and data are freed after boot and never run for a patch; remove __init, "
	  "__initdata and module_init" },
	{ ".exit.", true, RULE_REFUSE,
	  "__exit code never runs for a patch; remove __exit and module_exit" },
	{ ".data..percpu", true, RULE_REFUSE,
	  "a patch cannot allocate per-CPU storage; use an existing kernel per-CPU variable or a "
	  "plain array indexed by CPU" },
	{ "__tracepoints", true, RULE_REFUSE,
	  "tracepoints cannot be defined in a patch; remove the trace event" },
	{ "_ftrace_events", false, RULE_REFUSE,
	  "trace events cannot be defined in a patch; remove the trace event" },
	{ "__param", false, RULE_REFUSE,
	  "module parameters do not exist for a patch; remove "
	  "module_param" },
	{ "__dyndbg", true, RULE_REFUSE,
	  "dynamic-debug pr_debug()/dev_dbg() needs the kernel's debug table; use pr_info() or "
	  "remove the message" },
	{ ".kprobes.text", false, RULE_REFUSE,
	  "__kprobes code needs the kprobe blacklist; remove the annotation" },
	{ "_kprobe_blacklist", false, RULE_REFUSE,
	  "NOKPROBE_SYMBOL needs the kprobe blacklist; remove the annotation" },
	{ "__mcount_loc", false, RULE_DROP, NULL },
	{ "__patchable_function_entries", false, RULE_DROP, NULL },
	{ ".return_sites", false, RULE_DROP, NULL },
	{ ".retpoline_sites", false, RULE_DROP, NULL },
	{ ".call_sites", false, RULE_DROP, NULL },
	{ ".ibt_endbr_seal", false, RULE_DROP, NULL },
	{ ".orc_unwind", true, RULE_DROP, NULL },
	{ ".orc_header", false, RULE_DROP, NULL },
	{ ".smp_locks", false, RULE_DROP, NULL },
	{ ".modinfo", false, RULE_DROP, NULL },
	{ ".gnu.linkonce.this_module", false, RULE_DROP, NULL },
	{ "__versions", false, RULE_DROP, NULL },
	{ ".printk_index", false, RULE_DROP, NULL },
	{ ".eh_frame", false, RULE_DROP, NULL },
	{ ".note", true, RULE_DROP, NULL },
	{ ".comment", false, RULE_DROP, NULL },
	{ ".debug", true, RULE_DROP, NULL },
	{ ".zdebug", true, RULE_DROP, NULL },
	{ ".discard", true, RULE_DROP, NULL },
	{ ".BTF", true, RULE_DROP, NULL },
	{ ".llvm_addrsig", false, RULE_DROP, NULL },
};

static const struct sec_rule *rule_for(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(sec_rules) / sizeof(sec_rules[0]); i++) {
		const struct sec_rule *r = &sec_rules[i];

		if (r->prefix ? strncmp(name, r->name, strlen(r->name)) == 0
			      : strcmp(name, r->name) == 0)
			return r;
	}
	return NULL;
}

const char *hvb_sec_action_name(enum hvb_sec_action a)
{
	switch (a) {
	case HVB_ACT_KEPT:
		return "kept";
	case HVB_ACT_RELOCS:
		return "relocations";
	case HVB_ACT_DROPPED_META:
		return "dropped (metadata)";
	case HVB_ACT_DROPPED_NOALLOC:
		return "dropped (not loaded)";
	case HVB_ACT_BOOKKEEPING:
		return "symbols";
	}
	return "unknown";
}

void hvb_build_report_free(struct hvb_build_report *r)
{
	if (!r)
		return;
	free(r->secs);
	memset(r, 0, sizeof(*r));
}

/* Name the first function that a refused section's relocations point at. */
static const char *refused_func(const struct elf *e, size_t sec)
{
	size_t i;

	for (i = 1; i < e->nsec; i++) {
		struct hv_buf b;
		const struct elf_sec *rs = &e->sec[i];

		if (rs->type != SHT_RELA_ || rs->info != sec || rs->entsize != 24)
			continue;
		hv_buf_init(&b, e->buf + rs->offset, rs->size, "ELF relocations");
		while (hv_buf_remaining(&b) >= 24) {
			uint64_t off, info, add;
			uint32_t si;

			if (hv_buf_get_u64(&b, &off) < 0 || hv_buf_get_u64(&b, &info) < 0 ||
			    hv_buf_get_u64(&b, &add) < 0)
				break;
			si = (uint32_t)(info >> 32);
			if (si >= e->nsym)
				continue;
			if (e->sym[si].shndx && e->sym[si].shndx < e->nsec &&
			    (e->sec[e->sym[si].shndx].flags & SHF_EXEC_))
				return func_at(e, e->sym[si].shndx, e->sym[si].value + add);
		}
	}
	return "(no function found)";
}

/* ---------- the build ---------- */

struct in_map {
	int out; /* output section index, or -1 */
	uint64_t off;
};

static int add_report(struct hvb_build_report *rep, const struct elf_sec *s, enum hvb_sec_action a,
		      int out, uint64_t off)
{
	struct hvb_build_sec *n;

	if (!rep)
		return 0;
	n = realloc(rep->secs, (rep->nsecs + 1) * sizeof(*n));
	if (!n)
		return hv_err(HV_E_NOMEM, "out of memory for the build report");
	rep->secs = n;
	n = &rep->secs[rep->nsecs++];
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", s->name);
	n->action = a;
	n->size_bytes = s->size;
	n->out_section = out < 0 ? 0 : (uint32_t)out;
	n->out_offset = off;
	return 0;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");

	if (!d)
		hv_err(HV_E_NOMEM, "out of memory copying '%.40s'", s ? s : "");
	return d;
}

static int find_func(const struct elf *e, const char *name, size_t *idx)
{
	size_t i;

	for (i = 1; i < e->nsym; i++) {
		const struct elf_sym *s = &e->sym[i];

		if (strcmp(s->name, name) != 0 || s->shndx == SHN_UNDEF_ ||
		    s->shndx >= SHN_LORESERVE_)
			continue;
		*idx = i;
		return 0;
	}
	return HV_E_NOTFOUND;
}

/* Function entry points (section, offset), sorted, for the __fentry__ check. */
struct func_entry {
	size_t sec;
	uint64_t off;
};

static int cmp_entry(const void *a, const void *b)
{
	const struct func_entry *x = a, *y = b;

	if (x->sec != y->sec)
		return x->sec < y->sec ? -1 : 1;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return 0;
}

static int func_entries(const struct elf *e, struct func_entry **out, size_t *n)
{
	struct func_entry *v = calloc(e->nsym ? e->nsym : 1, sizeof(*v));
	size_t i, k = 0;

	*out = NULL;
	*n = 0;
	if (!v)
		return hv_err(HV_E_NOMEM, "out of memory indexing the functions of %s", e->what);
	for (i = 1; i < e->nsym; i++) {
		if ((e->sym[i].info & 15) != STT_FUNC_ || e->sym[i].shndx == SHN_UNDEF_ ||
		    e->sym[i].shndx >= SHN_LORESERVE_)
			continue;
		v[k].sec = e->sym[i].shndx;
		v[k].off = e->sym[i].value;
		k++;
	}
	qsort(v, k, sizeof(*v), cmp_entry);
	*out = v;
	*n = k;
	return 0;
}

int hvb_build_object(const uint8_t *obj, size_t len, const char *obj_name,
		     const struct hvb_manifest *m, const struct hvb_kernel_id *targets,
		     size_t ntargets, struct hvb_bundle **out, struct hvb_build_report *rep)
{
	static const uint8_t nop5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	static const char *const kind_names[4] = { ".text", ".rodata", ".data", ".bss" };
	struct elf e = { 0 };
	struct hvb_bundle *b = NULL;
	struct in_map *map = NULL;
	struct func_entry *entries = NULL;
	size_t nentries = 0;
	uint64_t kind_size[4] = { 0 };
	uint32_t kind_align[4] = { 1, 1, 1, 1 };
	int kind_out[4] = { -1, -1, -1, -1 };
	size_t i, j, symtab = 0;
	int r;

	*out = NULL;
	if (rep)
		memset(rep, 0, sizeof(*rep));
	if (!m || !targets || !ntargets || ntargets > HVB_MAX_TARGETS) {
		r = hv_err(HV_E_INVAL, "building %s needs a manifest and 1 to %d target kernels",
			   obj_name, HVB_MAX_TARGETS);
		goto out;
	}
	r = elf_open(obj, len, obj_name, &e);
	if (r < 0)
		goto out;
	if (e.type != ET_REL_) {
		r = hv_err(HV_E_FORMAT,
			   "%s is an ELF file of type %u, not a relocatable object (.o); give "
			   "hvpatch build the .o that kbuild compiled, not the .ko",
			   obj_name, e.type);
		goto out;
	}
	r = elf_load_syms(&e, &symtab);
	if (r < 0)
		goto out;
	map = calloc(e.nsec, sizeof(*map));
	b = hvb_new();
	if (!map || !b) {
		r = hv_err(HV_E_NOMEM, "out of memory building from %s", obj_name);
		goto out;
	}
	/* Pass 1: classify each section and lay out the kept ones. */
	for (i = 0; i < e.nsec; i++) {
		const struct elf_sec *s = &e.sec[i];
		const struct sec_rule *rule;
		int k;

		map[i].out = -1;
		if (i == 0)
			continue;
		if (s->type == SHT_SYMTAB_ || s->type == SHT_STRTAB_) {
			if ((r = add_report(rep, s, HVB_ACT_BOOKKEEPING, -1, 0)) < 0)
				goto out;
			continue;
		}
		if (s->type == SHT_RELA_)
			continue; /* with its target, below */
		rule = rule_for(s->name);
		if (rule && rule->action == RULE_REFUSE) {
			r = hv_err(HV_E_UNSUPPORTED,
				   "%s: section %s (used by function %s) cannot be applied safely: "
				   "%s",
				   obj_name, s->name, refused_func(&e, i), rule->why);
			goto out;
		}
		if (s->type == SHT_REL_ || s->type == SHT_GROUP_) {
			r = hv_err(HV_E_UNSUPPORTED,
				   "%s: section %s has ELF type %u (%s), which kbuild objects for "
				   "x86-64 do not use; build the patch with the kernel's kbuild",
				   obj_name, s->name, s->type,
				   s->type == SHT_REL_ ? "REL relocations" : "COMDAT group");
			goto out;
		}
		if (rule) {
			if ((r = add_report(rep, s,
					    (s->flags & SHF_ALLOC_) ? HVB_ACT_DROPPED_META
								    : HVB_ACT_DROPPED_NOALLOC,
					    -1, 0)) < 0)
				goto out;
			continue;
		}
		if (!(s->flags & SHF_ALLOC_)) {
			if ((r = add_report(rep, s, HVB_ACT_DROPPED_NOALLOC, -1, 0)) < 0)
				goto out;
			continue;
		}
		if (s->flags & SHF_EXEC_)
			k = 0;
		else if (s->type == SHT_NOBITS_)
			k = 3;
		else if (s->flags & SHF_WRITE_)
			k = 2;
		else
			k = 1;
		if (s->type != SHT_PROGBITS_ && s->type != SHT_NOBITS_) {
			r = hv_err(HV_E_UNSUPPORTED,
				   "%s: loaded section %s has ELF type %u, which hvpatch does not "
				   "know how to place; remove what creates it",
				   obj_name, s->name, s->type);
			goto out;
		}
		if ((k == 3) != (s->type == SHT_NOBITS_) || (k == 3 && !(s->flags & SHF_WRITE_)) ||
		    (k == 0 && s->type == SHT_NOBITS_)) {
			r = hv_err(HV_E_UNSUPPORTED,
				   "%s: section %s has flags 0x%llx that do not fit text, rodata, "
				   "data or bss",
				   obj_name, s->name, (unsigned long long)s->flags);
			goto out;
		}
		if (s->addralign > HVB_MAX_ALIGN_BYTES ||
		    (s->addralign > 1 && (s->addralign & (s->addralign - 1)))) {
			r = hv_err(HV_E_FORMAT,
				   "%s: section %s has alignment %llu; a power of two up to %d is "
				   "required",
				   obj_name, s->name, (unsigned long long)s->addralign,
				   HVB_MAX_ALIGN_BYTES);
			goto out;
		}
		if (s->size > HVB_MAX_SECTION_BYTES) {
			r = hv_err(HV_E_FORMAT, "%s: section %s is %llu bytes; at most %u allowed",
				   obj_name, s->name, (unsigned long long)s->size,
				   HVB_MAX_SECTION_BYTES);
			goto out;
		}
		{
			uint64_t a = s->addralign ? s->addralign : 1;
			uint64_t at = (kind_size[k] + a - 1) & ~(a - 1);

			if (at + s->size > HVB_MAX_SECTION_BYTES) {
				r = hv_err(HV_E_FORMAT,
					   "%s: the %s sections add up to more than %u bytes",
					   obj_name, kind_names[k], HVB_MAX_SECTION_BYTES);
				goto out;
			}
			map[i].out = k; /* kind for now; output index assigned below */
			map[i].off = at;
			kind_size[k] = at + s->size;
			if (a > kind_align[k])
				kind_align[k] = (uint32_t)a;
		}
	}
	/* Create the output sections (only kinds with bytes). */
	for (j = 0; j < 4; j++) {
		struct hvb_section *s;

		if (!kind_size[j])
			continue;
		s = realloc(b->sections, (b->nsections + 1) * sizeof(*s));
		if (!s) {
			r = hv_err(HV_E_NOMEM, "out of memory building from %s", obj_name);
			goto out;
		}
		b->sections = s;
		s = &b->sections[b->nsections];
		memset(s, 0, sizeof(*s));
		kind_out[j] = (int)b->nsections++;
		s->kind = (enum hvb_section_kind)(j + 1);
		s->exec = j == 0;
		s->write = j >= 2;
		s->align_bytes = kind_align[j];
		s->size_bytes = kind_size[j];
		if (!(s->name = xstrdup(kind_names[j]))) {
			r = HV_E_NOMEM;
			goto out;
		}
		if (j != 3) {
			s->bytes = malloc(kind_size[j]);
			if (!s->bytes) {
				r = hv_err(HV_E_NOMEM, "out of memory building from %s", obj_name);
				goto out;
			}
			memset(s->bytes, j == 0 ? 0xcc : 0, kind_size[j]);
		}
	}
	for (i = 1; i < e.nsec; i++) {
		if (map[i].out < 0)
			continue;
		if (!kind_size[map[i].out]) {
			map[i].out = -1; /* an empty section of an empty kind */
			continue;
		}
		map[i].out = kind_out[map[i].out];
		if (e.sec[i].type != SHT_NOBITS_ && e.sec[i].size)
			memcpy(b->sections[map[i].out].bytes + map[i].off, obj + e.sec[i].offset,
			       e.sec[i].size);
		if ((r = add_report(rep, &e.sec[i], HVB_ACT_KEPT, map[i].out, map[i].off)) < 0)
			goto out;
	}
	if (kind_out[0] < 0) {
		r = hv_err(HV_E_FORMAT, "%s has no code (no executable section with bytes)",
			   obj_name);
		goto out;
	}
	/* Metadata. */
	if (!(b->patch_id = xstrdup(m->patch_id)) || !(b->level = xstrdup(m->level)) ||
	    !(b->description = xstrdup(m->description))) {
		r = HV_E_NOMEM;
		goto out;
	}
	b->targets = calloc(ntargets, sizeof(*b->targets));
	b->cves = calloc(m->ncves ? m->ncves : 1, sizeof(*b->cves));
	b->replacements = calloc(m->nrepl ? m->nrepl : 1, sizeof(*b->replacements));
	if (!b->targets || !b->cves || !b->replacements) {
		r = hv_err(HV_E_NOMEM, "out of memory building from %s", obj_name);
		goto out;
	}
	for (i = 0; i < ntargets; i++) {
		struct hvb_target *t = &b->targets[b->ntargets++];

		if (targets[i].build_id_len > HVB_MAX_BUILD_ID) {
			r = hv_err(HV_E_INVAL, "target build-id %zu is too long", i);
			goto out;
		}
		memcpy(t->build_id, targets[i].build_id, targets[i].build_id_len);
		t->build_id_len = targets[i].build_id_len;
		if (!(t->release = xstrdup(targets[i].release))) {
			r = HV_E_NOMEM;
			goto out;
		}
	}
	for (i = 0; i < m->ncves; i++) {
		if (!(b->cves[b->ncves++] = xstrdup(m->cves[i]))) {
			r = HV_E_NOMEM;
			goto out;
		}
	}
	for (i = 0; i < m->nrepl; i++) {
		struct hvb_replacement *p = &b->replacements[b->nreplacements++];
		const struct elf_sym *s;
		size_t si = 0;

		if (!(p->target = xstrdup(m->repl[i].target)) ||
		    !(p->name = xstrdup(m->repl[i].replacement))) {
			r = HV_E_NOMEM;
			goto out;
		}
		p->target_index = m->repl[i].target_index;
		if (find_func(&e, m->repl[i].replacement, &si) < 0) {
			r = hv_err(HV_E_NOTFOUND,
				   "%s does not define the function %s that the manifest names as "
				   "the replacement of %s; check the spelling and that it is not "
				   "static inline",
				   obj_name, m->repl[i].replacement, m->repl[i].target);
			goto out;
		}
		s = &e.sym[si];
		if ((s->info & 15) != STT_FUNC_ || map[s->shndx].out < 0 ||
		    b->sections[map[s->shndx].out].kind != HVB_SEC_TEXT ||
		    s->value >= e.sec[s->shndx].size) {
			r = hv_err(HV_E_FORMAT,
				   "%s: %s (replacement of %s) is not a function in a code section",
				   obj_name, s->name, m->repl[i].target);
			goto out;
		}
		p->section = (uint32_t)map[s->shndx].out;
		p->offset = map[s->shndx].off + s->value;
	}
	/* Pass 2: relocations of kept sections. */
	r = func_entries(&e, &entries, &nentries);
	if (r < 0)
		goto out;
	for (i = 1; i < e.nsec; i++) {
		const struct elf_sec *rs = &e.sec[i];
		const struct elf_sec *ts;
		struct hv_buf rb;
		struct hvb_section *os;

		if (rs->type != SHT_RELA_)
			continue;
		if (rs->info >= e.nsec || rs->info == 0) {
			r = hv_err(HV_E_FORMAT,
				   "%s: relocation section %s applies to section %u, "
				   "which does not exist",
				   obj_name, rs->name, rs->info);
			goto out;
		}
		ts = &e.sec[rs->info];
		if (!rs->size)
			continue;
		if (map[rs->info].out < 0) {
			if (rep)
				rep->relocs_dropped += (unsigned)(rs->size / 24);
			continue;
		}
		if (rs->entsize != 24 || rs->size % 24 || rs->link != symtab) {
			r = hv_err(HV_E_FORMAT,
				   "%s: relocation section %s is malformed (entry size %llu, %llu "
				   "bytes, symbol table %u)",
				   obj_name, rs->name, (unsigned long long)rs->entsize,
				   (unsigned long long)rs->size, rs->link);
			goto out;
		}
		if (ts->type == SHT_NOBITS_) {
			r = hv_err(HV_E_FORMAT, "%s: relocation section %s patches bss section %s",
				   obj_name, rs->name, ts->name);
			goto out;
		}
		if ((r = add_report(rep, rs, HVB_ACT_RELOCS, map[rs->info].out, 0)) < 0)
			goto out;
		os = &b->sections[map[rs->info].out];
		hv_buf_init(&rb, obj + rs->offset, rs->size, "ELF relocations");
		while (hv_buf_remaining(&rb)) {
			uint64_t off, info, addend;
			uint32_t type, si;
			const struct elf_sym *s;
			struct hvb_reloc *x;
			unsigned w;

			if ((r = hv_buf_get_u64(&rb, &off)) < 0 ||
			    (r = hv_buf_get_u64(&rb, &info)) < 0 ||
			    (r = hv_buf_get_u64(&rb, &addend)) < 0) {
				r = hv_err_prefix("%s: %s", obj_name, rs->name);
				goto out;
			}
			if (rep)
				rep->relocs_in++;
			type = (uint32_t)info;
			si = (uint32_t)(info >> 32);
			if (type == 0)
				continue; /* R_X86_64_NONE */
			w = hvb_reloc_width(type);
			if (!w) {
				r = hv_err(
					HV_E_UNSUPPORTED,
					"%s: relocation type %u at %s+0x%llx (in %s) is not "
					"supported (R_X86_64_64, PC32, PLT32, 32, 32S, PC64 are); "
					"build with the kernel's kbuild flags (-mcmodel=kernel)",
					obj_name, type, ts->name, (unsigned long long)off,
					func_at(&e, rs->info, off));
				goto out;
			}
			if (off > ts->size || ts->size - off < w) {
				r = hv_err(HV_E_FORMAT,
					   "%s: relocation at %s+0x%llx lies outside the %llu-byte "
					   "section",
					   obj_name, ts->name, (unsigned long long)off,
					   (unsigned long long)ts->size);
				goto out;
			}
			if (si == 0 || si >= e.nsym) {
				r = hv_err(
					HV_E_FORMAT,
					"%s: relocation at %s+0x%llx names symbol %u, which does "
					"not exist",
					obj_name, ts->name, (unsigned long long)off, si);
				goto out;
			}
			s = &e.sym[si];
			if (s->shndx == SHN_UNDEF_ && !strcmp(s->name, "__fentry__")) {
				uint8_t *site = os->bytes + map[rs->info].off + off;
				struct func_entry key = { rs->info, off - 1 };
				bool entry = off >= 1 && nentries &&
					     bsearch(&key, entries, nentries, sizeof(*entries),
						     cmp_entry) != NULL;

				if (!entry || site[-1] != 0xe8 ||
				    (type != HVB_R_X86_64_PLT32 && type != HVB_R_X86_64_PC32)) {
					r = hv_err(HV_E_UNSUPPORTED,
						   "%s: call to __fentry__ at %s+0x%llx (in %s) is "
						   "not a 'call __fentry__' at a function entry; "
						   "build "
						   "with the kernel's kbuild flags",
						   obj_name, ts->name, (unsigned long long)off,
						   func_at(&e, rs->info, off));
					goto out;
				}
				memcpy(site - 1, nop5, sizeof(nop5));
				if (rep)
					rep->fentry_nops++;
				continue;
			}
			if (b->nrelocs >= HVB_MAX_RELOCS) {
				r = hv_err(HV_E_FORMAT, "%s: too many relocations (at most %d)",
					   obj_name, HVB_MAX_RELOCS);
				goto out;
			}
			x = realloc(b->relocs, (b->nrelocs + 1) * sizeof(*x));
			if (!x) {
				r = hv_err(HV_E_NOMEM, "out of memory building from %s", obj_name);
				goto out;
			}
			b->relocs = x;
			x = &b->relocs[b->nrelocs++];
			memset(x, 0, sizeof(*x));
			x->type = type;
			x->section = (uint32_t)map[rs->info].out;
			x->offset = map[rs->info].off + off;
			x->addend = (int64_t)addend;
			if (s->shndx == SHN_UNDEF_) {
				size_t pl = strlen(HVB_ORIG_PREFIX), found = 0, which = 0;

				if (!*s->name) {
					r = hv_err(HV_E_FORMAT,
						   "%s: relocation at %s+0x%llx names an undefined "
						   "symbol without a name",
						   obj_name, ts->name, (unsigned long long)off);
					goto out;
				}
				for (j = 0; j < m->nalias; j++)
					if (!strcmp(m->alias[j].local, s->name))
						break;
				if (j < m->nalias) {
					const char *k = m->alias[j].kernel;
					size_t kn = strcspn(k, "@"), q;

					uint32_t ki =
						k[kn] ? (uint32_t)strtoul(k + kn + 1, NULL, 10)
						      : HVB_NO_INDEX;

					for (q = 0; q < b->nreplacements; q++) {
						uint32_t ri = b->replacements[q].target_index;

						if (strlen(b->replacements[q].target) == kn &&
						    !strncmp(b->replacements[q].target, k, kn) &&
						    (ri == ki || ri == HVB_NO_INDEX ||
						     ki == HVB_NO_INDEX)) {
							r = hv_err(
								HV_E_UNSUPPORTED,
								"%s: %s uses %s (manifest symbol "
								"%s), a function this bundle "
								"replaces, so it would call "
								"itself; "
								"call %s%s for the original body",
								obj_name,
								func_at(&e, rs->info, off), k,
								s->name, HVB_ORIG_PREFIX,
								b->replacements[q].target);
							goto out;
						}
					}
					x->kind = HVB_TGT_KSYM;
					if (!(x->symbol = xstrdup(m->alias[j].kernel))) {
						r = HV_E_NOMEM;
						goto out;
					}
					continue;
				}
				if (!strncmp(s->name, HVB_ORIG_PREFIX, pl)) {
					for (j = 0; j < b->nreplacements; j++)
						if (!strcmp(target_function(
								    b->replacements[j].target),
							    s->name + pl)) {
							found++;
							which = j;
						}
					if (found != 1) {
						r = hv_err(found ? HV_E_FORMAT : HV_E_NOTFOUND,
							   "%s: %s (in %s) calls %s, but %s "
							   "replacement "
							   "of %s in the manifest",
							   obj_name, ts->name,
							   func_at(&e, rs->info, off), s->name,
							   found ? "there is more than one"
								 : "there is no",
							   s->name + pl);
						goto out;
					}
					x->kind = HVB_TGT_ORIG;
					x->replacement = (uint32_t)which;
					continue;
				}
				if (!strcmp(s->name, "__this_module") &&
				    (x->symbol = this_module(b)) != NULL) {
					/* Code of one module's functions may name
					 * that module (try_module_get(THIS_MODULE)). */
					x->kind = HVB_TGT_KSYM;
					continue;
				}
				if (!strcmp(s->name, "__this_module")) {
					r = hv_err(
						HV_E_UNSUPPORTED,
						"%s: %s uses THIS_MODULE, but a patch is not a "
						"module, and it replaces functions of no single "
						"module whose struct module it could mean; remove "
						"the module reference (e.g. the .owner of "
						"file_operations)",
						obj_name, func_at(&e, rs->info, off));
					goto out;
				}
				for (j = 0; j < b->nreplacements; j++) {
					if (!strcmp(b->replacements[j].target, s->name)) {
						r = hv_err(HV_E_UNSUPPORTED,
							   "%s: %s calls %s, which this bundle "
							   "replaces, "
							   "so it would call itself; call %s%s to "
							   "run the "
							   "original body",
							   obj_name, func_at(&e, rs->info, off),
							   s->name, HVB_ORIG_PREFIX, s->name);
						goto out;
					}
				}
				x->kind = HVB_TGT_KSYM;
				if (!(x->symbol = xstrdup(s->name))) {
					r = HV_E_NOMEM;
					goto out;
				}
				continue;
			}
			if (s->shndx >= SHN_LORESERVE_) {
				r = hv_err(
					HV_E_UNSUPPORTED,
					"%s: relocation at %s+0x%llx (in %s) refers to %s symbol "
					"%s, which a bundle cannot express; define it in the patch "
					"or use a kernel symbol",
					obj_name, ts->name, (unsigned long long)off,
					func_at(&e, rs->info, off),
					s->shndx == SHN_ABS_ ? "absolute"
					: s->shndx == SHN_COMMON_
						? "common (build with -fno-common)"
						: "special-section",
					s->name);
				goto out;
			}
			if (map[s->shndx].out < 0) {
				r = hv_err(
					HV_E_UNSUPPORTED,
					"%s: %s (at %s+0x%llx) refers to %s in section %s, which "
					"is not part of the bundle",
					obj_name, func_at(&e, rs->info, off), ts->name,
					(unsigned long long)off, *s->name ? s->name : "a symbol",
					e.sec[s->shndx].name);
				goto out;
			}
			if (s->value > e.sec[s->shndx].size) {
				r = hv_err(HV_E_FORMAT, "%s: symbol %s lies outside its section %s",
					   obj_name, s->name, e.sec[s->shndx].name);
				goto out;
			}
			x->kind = HVB_TGT_SECTION;
			x->target_section = (uint32_t)map[s->shndx].out;
			x->target_offset = map[s->shndx].off + s->value;
		}
	}
	r = hvb_check(b);
	if (r < 0) {
		r = hv_err_prefix("%s", obj_name);
		goto out;
	}
	*out = b;
	b = NULL;
out:
	hvb_free(b);
	free(map);
	free(entries);
	elf_close(&e);
	if (r < 0)
		hvb_build_report_free(rep);
	return r;
}

/* ---------- vmlinux ---------- */

static int find_build_id(const struct elf *e, struct hvb_kernel_id *out)
{
	size_t i;
	int r;

	for (i = 1; i < e->nsec; i++) {
		struct hv_buf b;

		if (e->sec[i].type != SHT_NOTE_)
			continue;
		hv_buf_init(&b, e->buf + e->sec[i].offset, e->sec[i].size, "ELF note");
		while (hv_buf_remaining(&b) >= 12) {
			uint32_t namesz, descsz, type;
			const uint8_t *name, *desc;

			if ((r = hv_buf_get_u32(&b, &namesz)) < 0 ||
			    (r = hv_buf_get_u32(&b, &descsz)) < 0 ||
			    (r = hv_buf_get_u32(&b, &type)) < 0 || namesz > 4096 ||
			    descsz > 65536 || (r = hv_buf_get_bytes(&b, namesz, &name)) < 0 ||
			    (r = hv_buf_skip(&b, (4 - namesz % 4) % 4)) < 0 ||
			    (r = hv_buf_get_bytes(&b, descsz, &desc)) < 0)
				break;
			if (namesz == 4 && !memcmp(name, "GNU", 4) && type == 3 && descsz >= 1 &&
			    descsz <= HVB_MAX_BUILD_ID) {
				memcpy(out->build_id, desc, descsz);
				out->build_id_len = descsz;
				return 0;
			}
			if (hv_buf_skip(&b, (4 - descsz % 4) % 4) < 0)
				break;
		}
	}
	hv_err_clear();
	return hv_err(HV_E_FORMAT, "%s has no GNU build-id note", e->what);
}

static int find_release(const struct elf *e, struct hvb_kernel_id *out)
{
	static const char key[] = "Linux version ";
	size_t i, pass;

	for (pass = 0; pass < 2; pass++) {
		for (i = 1; i < e->nsec; i++) {
			const struct elf_sec *s = &e->sec[i];
			const uint8_t *p, *end;

			if (s->type != SHT_PROGBITS_ || (pass == 0 && strcmp(s->name, ".rodata")))
				continue;
			p = e->buf + s->offset;
			end = p + s->size;
			while (p < end &&
			       (p = memmem(p, (size_t)(end - p), key, sizeof(key) - 1))) {
				const uint8_t *q = p + sizeof(key) - 1;
				size_t n = 0;

				while (q + n < end && n <= HVB_MAX_ID &&
				       ((q[n] >= 'a' && q[n] <= 'z') ||
					(q[n] >= 'A' && q[n] <= 'Z') ||
					(q[n] >= '0' && q[n] <= '9') || q[n] == '.' ||
					q[n] == '-' || q[n] == '_' || q[n] == '+' || q[n] == '~'))
					n++;
				if (n && n <= HVB_MAX_ID && q + n + 1 < end && q[n] == ' ' &&
				    q[n + 1] == '(') {
					memcpy(out->release, q, n);
					out->release[n] = '\0';
					return 0;
				}
				p = q;
			}
		}
	}
	return hv_err(HV_E_FORMAT,
		      "%s has no \"Linux version RELEASE (\" banner in its read-only data; give "
		      "the release with --release",
		      e->what);
}

int hvb_vmlinux_identify(const uint8_t *buf, size_t len, const char *what,
			 struct hvb_kernel_id *out)
{
	struct elf e;
	int r;

	memset(out, 0, sizeof(*out));
	r = elf_open(buf, len, what, &e);
	if (r < 0)
		return r;
	if (e.type != ET_EXEC_)
		r = hv_err(HV_E_FORMAT,
			   "%s is not an executable ELF image (type %u); give the "
			   "vmlinux, not a module or bzImage",
			   what, e.type);
	if (r == 0)
		r = find_build_id(&e, out);
	if (r == 0)
		r = find_release(&e, out);
	elf_close(&e);
	return r;
}

int hvb_parse_build_id(const char *hex, struct hvb_kernel_id *out)
{
	if (hv_hex_decode(hex ? hex : "", hex ? strlen(hex) : 0, out->build_id, HVB_MAX_BUILD_ID,
			  &out->build_id_len, "build-id") < 0)
		return hv_err(HV_E_INVAL,
			      "build-id '%.140s' must be 2 to %d hex digits (an even number), as "
			      "printed by 'readelf -n vmlinux'",
			      hex ? hex : "", 2 * HVB_MAX_BUILD_ID);
	return 0;
}

/* ---------- manifest ---------- */

void hvb_manifest_free(struct hvb_manifest *m)
{
	size_t i;

	if (!m)
		return;
	free(m->patch_id);
	free(m->level);
	free(m->description);
	for (i = 0; i < m->ncves; i++)
		free(m->cves[i]);
	free(m->cves);
	for (i = 0; i < m->nrepl; i++) {
		free(m->repl[i].target);
		free(m->repl[i].replacement);
	}
	free(m->repl);
	for (i = 0; i < m->nalias; i++) {
		free(m->alias[i].local);
		free(m->alias[i].kernel);
	}
	free(m->alias);
	free(m);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int parse_repl(char *v, const char *path, unsigned line, struct hvb_manifest_repl *out)
{
	char *arrow = strstr(v, "->"), *t, *s, *at;
	unsigned long idx;

	if (!arrow)
		return hv_err(HV_E_FORMAT,
			      "%s line %u: replace needs 'TARGET -> FUNCTION' (e.g. "
			      "'cmdline_proc_show -> hvp_cmdline_proc_show')",
			      path, line);
	*arrow = '\0';
	t = trim(v);
	s = trim(arrow + 2);
	out->target_index = HVB_NO_INDEX;
	at = strchr(t, '@');
	if (at) {
		char *end = NULL;

		*at = '\0';
		idx = strtoul(at + 1, &end, 10);
		if (!at[1] || *end || idx > 0xffff)
			return hv_err(HV_E_FORMAT,
				      "%s line %u: '%s@%s' needs a number 0..65535 after '@' (the "
				      "index among same-named kernel functions in address order)",
				      path, line, t, at + 1);
		out->target_index = (uint32_t)idx;
	}
	if (!*t || !*s || strpbrk(t, " \t") || strpbrk(s, " \t"))
		return hv_err(HV_E_FORMAT,
			      "%s line %u: replace needs one kernel function name before '->' and "
			      "one function name after it",
			      path, line);
	out->target = strdup(t);
	out->replacement = strdup(s);
	if (!out->target || !out->replacement)
		return hv_err(HV_E_NOMEM, "out of memory reading %s", path);
	return 0;
}

int hvb_manifest_parse(const char *text, size_t len, const char *path, struct hvb_manifest **out)
{
	struct hvb_manifest *m = calloc(1, sizeof(*m));
	char *copy = NULL, *line, *next;
	unsigned lineno = 0;
	int r = 0;

	*out = NULL;
	if (!m || !(copy = malloc(len + 1))) {
		r = hv_err(HV_E_NOMEM, "out of memory reading %s", path);
		goto out;
	}
	if (memchr(text, 0, len)) {
		r = hv_err(HV_E_FORMAT, "%s contains a NUL byte; a manifest is a text file", path);
		goto out;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	for (line = copy; line; line = next) {
		char *eq, *k, *v;

		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		k = trim(line);
		if (!*k || *k == '#')
			continue;
		eq = strchr(k, '=');
		if (!eq) {
			r = hv_err(HV_E_FORMAT,
				   "%s line %u: expected 'key = value' (keys: patch-id, level, "
				   "description, cve, replace, symbol)",
				   path, lineno);
			goto out;
		}
		*eq = '\0';
		k = trim(k);
		v = trim(eq + 1);
		if (!strcmp(k, "patch-id") || !strcmp(k, "level")) {
			char **dst = k[0] == 'p' ? &m->patch_id : &m->level;

			if (*dst) {
				r = hv_err(HV_E_FORMAT, "%s line %u: %s is given twice", path,
					   lineno, k);
				goto out;
			}
			if (!(*dst = strdup(v))) {
				r = hv_err(HV_E_NOMEM, "out of memory reading %s", path);
				goto out;
			}
		} else if (!strcmp(k, "description")) {
			size_t old = m->description ? strlen(m->description) : 0;
			char *d = realloc(m->description, old + strlen(v) + 2);

			if (!d) {
				r = hv_err(HV_E_NOMEM, "out of memory reading %s", path);
				goto out;
			}
			if (old)
				d[old++] = '\n';
			strcpy(d + old, v);
			m->description = d;
		} else if (!strcmp(k, "cve")) {
			char **c = realloc(m->cves, (m->ncves + 1) * sizeof(*c));

			if (!c) {
				r = hv_err(HV_E_NOMEM, "out of memory reading %s", path);
				goto out;
			}
			m->cves = c;
			if (!(c[m->ncves] = strdup(v))) {
				r = hv_err(HV_E_NOMEM, "out of memory reading %s", path);
				goto out;
			}
			m->ncves++;
		} else if (!strcmp(k, "symbol")) {
			struct hvb_manifest_alias *a =
				realloc(m->alias, (m->nalias + 1) * sizeof(*a));
			struct hvb_manifest_repl tmp = { 0 };

			if (!a) {
				r = hv_err(HV_E_NOMEM, "out of memory reading %s", path);
				goto out;
			}
			m->alias = a;
			memset(&a[m->nalias], 0, sizeof(*a));
			m->nalias++;
			/* same shape as replace, read the other way round */
			r = parse_repl(v, path, lineno, &tmp);
			if (r < 0) {
				free(tmp.target);
				free(tmp.replacement);
				r = hv_err_prefix("symbol = LOCAL -> KERNEL[@N]");
				goto out;
			}
			if (tmp.target_index != HVB_NO_INDEX) {
				free(tmp.target);
				free(tmp.replacement);
				r = hv_err(HV_E_FORMAT,
					   "%s line %u: 'symbol = LOCAL -> KERNEL[@N]' needs the "
					   "@N on "
					   "the kernel name, after '->'",
					   path, lineno);
				goto out;
			}
			a[m->nalias - 1].local = tmp.target;
			a[m->nalias - 1].kernel = tmp.replacement;
		} else if (!strcmp(k, "replace")) {
			struct hvb_manifest_repl *p = realloc(m->repl, (m->nrepl + 1) * sizeof(*p));

			if (!p) {
				r = hv_err(HV_E_NOMEM, "out of memory reading %s", path);
				goto out;
			}
			m->repl = p;
			memset(&p[m->nrepl], 0, sizeof(*p));
			m->nrepl++;
			r = parse_repl(v, path, lineno, &p[m->nrepl - 1]);
			if (r < 0)
				goto out;
		} else {
			r = hv_err(HV_E_FORMAT,
				   "%s line %u: unknown key '%.40s' (keys: patch-id, level, "
				   "description, cve, replace, symbol)",
				   path, lineno, k);
			goto out;
		}
	}
	if (!m->patch_id || !m->level || !m->nrepl) {
		r = hv_err(HV_E_FORMAT,
			   "%s must give patch-id, level and at least one 'replace = TARGET -> "
			   "FUNCTION' line (missing: %s)",
			   path,
			   !m->patch_id ? "patch-id"
			   : !m->level	? "level"
					: "replace");
		goto out;
	}
	if (!m->description && !(m->description = strdup(""))) {
		r = hv_err(HV_E_NOMEM, "out of memory reading %s", path);
		goto out;
	}
	*out = m;
	m = NULL;
out:
	free(copy);
	hvb_manifest_free(m);
	return r;
}
