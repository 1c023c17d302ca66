/*
 * hvb_reloc: the one rule for a bundle relocation against a kernel symbol,
 * shared by "hvpatch build --vmlinux" (the target vmlinux's kallsyms) and
 * the apply engine (the running guest's kallsyms), so that build refuses
 * exactly what apply would refuse, with the same sentence.
 *
 * Which symbol a name means: "name@N" is the N-th of that name in address
 * order; a plain name must be unique, or name exactly one global symbol
 * among several (the one the linker would bind to).
 *
 * What value it gives: an address for an ordinary symbol.  A per-cpu
 * symbol (kallsyms marks it absolute: KALLSYMS_ABSOLUTE_PERCPU) gives its
 * offset in the per-cpu area, the value the kernel itself was linked with
 * (x86-64 per-cpu is zero-based, reached through %gs, and the offset is
 * not moved by KASLR), for the kinds the kernel's per-cpu accessors
 * produce: R_X86_64_PC32 (%gs:sym(%rip), this_cpu_read() and friends in
 * 6.1: the CPU adds the displacement to the next instruction's address, so
 * the result is the offset, wherever the patch lies within 2 GiB of it),
 * R_X86_64_32S (%gs:sym, this_cpu_read_stable() as in `current`; $sym in
 * this_cpu_ptr()), R_X86_64_32 and R_X86_64_64, the absolute ones when the
 * offset plus addend fits the field.  R_X86_64_PLT32 (a call or jump) and
 * R_X86_64_PC64 against a per-cpu symbol are refused: no accessor produces
 * them.  R_X86_64_32 against an ordinary symbol is refused: kernel
 * addresses lie in the top 2 GiB, which a zero-extended field cannot hold.
 *
 * Not visible in a relocation: whether the instruction carries the %gs
 * prefix.  Plain C that dereferences a per-cpu variable without the
 * accessors produces the same R_X86_64_PC32 and reads the offset as an
 * address; the kernel's sparse checks (make C=1) catch it, as they do for
 * modules, which the kernel's loader resolves the same way.
 */
#ifndef HVB_RELOC_H
#define HVB_RELOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv_error.h"
#include "hvb.h"

struct hvi_symtab;
struct hvi_sym;

/*
 * Resolve relocation @i of @b (a HVB_TGT_KSYM relocation) against the
 * kernel symbols @st, following the rule above, and set *@value to the
 * symbol's value S (the relocation's addend is not added).  Returns 0 or a
 * negative HV_E_* with one sentence recorded that starts "relocation I
 * (TYPE at SECTION+0xOFF) to kernel symbol NAME:"; the build and the apply
 * engine record the same sentence for the same bundle and symbols.
 * Errors: HV_E_NOTFOUND (no such symbol), HV_E_INVAL (ambiguous name, or
 * @i is not a kernel-symbol relocation of @b), HV_E_UNSUPPORTED (PLT32 or
 * PC64 against per-cpu data; a zero-extended 32-bit field for a kernel
 * address), HV_E_RANGE (a per-cpu offset plus addend that does not fit an
 * absolute 32-bit field).  Whether a PC-relative result fits depends on
 * where the patch lies, so hvb_apply_relocs() checks that at apply.
 */
int hvb_reloc_ksym(const struct hvi_symtab *st, const struct hvb_bundle *b, size_t i,
		   uint64_t *value) HV_WUR;

/* One symbol of a module, as a module source reports it. */
struct hvb_modsym {
	uint64_t addr;	/* its address in the guest; 0 from a .ko file */
	char type;	/* kallsyms-style letter: 't'/'T' code, 'd', 'D', 'b', 'r', ... */
	bool percpu;	/* per-cpu data of the module */
	bool untraced;	/* a function known not to start with the ftrace call */
	bool init_only; /* code or data freed once the module has loaded */
};

/*
 * Where symbols come from: the kernel's kallsyms and, for "MODULE:name",
 * a module source: the running guest's module list (the engine) or the
 * modules' .ko files (hvpatch build --modules).  mod_lookup resolves
 * "name" or "name@N" (the N-th of that name in the module, address order)
 * in module @module: returns 0, HV_E_NOTFOUND (no such module, or no such
 * symbol: one sentence saying which), HV_E_INVAL (a bare name several
 * symbols share), or an error reading the source.  mod_lookup NULL: no
 * module source (module symbols are refused with a sentence saying what
 * to give).
 */
struct hvb_symsrc {
	const struct hvi_symtab *kernel;
	int (*mod_lookup)(void *ctx, const char *module, const char *name, struct hvb_modsym *out);
	void *mod_ctx;
	const char *mod_hint; /* what gives module symbols, for the refusal ("--modules DIR") */
};

/*
 * Resolve relocation @i of @b (HVB_TGT_KSYM) through @src: a plain name by
 * hvb_reloc_ksym() against src->kernel; "MODULE:name" through
 * src->mod_lookup, by the module rule: any kind but R_X86_64_32 (module
 * addresses lie in the top 2 GiB) against the module's code or data; its
 * per-cpu data and its init code or data are refused.  *@value gets the
 * symbol's address (0 from a .ko source).  Errors as hvb_reloc_ksym(),
 * with sentences starting "relocation I (TYPE at SECTION+0xOFF) to module
 * symbol MODULE:NAME:"; HV_E_UNSUPPORTED when there is no module source.
 */
int hvb_reloc_sym(const struct hvb_symsrc *src, const struct hvb_bundle *b, size_t i,
		  uint64_t *value) HV_WUR;

/*
 * Check every kernel- and module-symbol relocation of @b with
 * hvb_reloc_sym(), in order, stopping at the first refusal.  Returns the
 * number of relocations checked, or the error for the first one refused.
 * Nothing to free.
 */
int hvb_reloc_check_all(const struct hvb_symsrc *src, const struct hvb_bundle *b) HV_WUR;

/* What a replacement target resolved to. */
struct hvb_target_addr {
	uint64_t addr;			      /* entry; 0 from a .ko source */
	char module[HVB_MAX_MODULE_NAME + 1]; /* "" for a kernel function */
	bool untraced;			      /* (.ko source) no ftrace call at entry */
};

/*
 * Resolve replacement @i of @b through @src: a kernel target by
 * hvb_target_sym(); "MODULE:function" through src->mod_lookup, which must
 * give a function ('t' or 'T') that is not init code and, when the source
 * knows, starts with the ftrace call.  Sentences start "bundle ID replaces
 * NAME".  Errors as hvb_target_sym(), plus HV_E_UNSUPPORTED when there is
 * no module source or the function is init code or untraced.
 */
int hvb_target_resolve(const struct hvb_symsrc *src, const struct hvb_bundle *b, size_t i,
		       struct hvb_target_addr *out) HV_WUR;

/*
 * Resolve replacement @i of @b (its target, "name" or "name@N") against
 * the kernel symbols @st into *@out: the symbol must exist (a plain name
 * once) and be a function (kallsyms type 't' or 'T').  The build and the
 * apply engine both call this, so they refuse a target with the same
 * sentence, which starts "bundle ID replaces NAME".  Returns 0 or a
 * negative HV_E_*: HV_E_NOTFOUND / HV_E_INVAL (unknown or ambiguous name),
 * HV_E_UNSUPPORTED (not a function), HV_E_INVAL (@i out of range).
 * Nothing to free (*@out's name points into @st).
 */
int hvb_target_sym(const struct hvi_symtab *st, const struct hvb_bundle *b, size_t i,
		   struct hvi_sym *out) HV_WUR;

#endif
