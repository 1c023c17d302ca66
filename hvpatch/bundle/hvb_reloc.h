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

/*
 * Check every kernel-symbol relocation of @b against @st with
 * hvb_reloc_ksym(), in order, stopping at the first refusal.  Returns the
 * number of relocations checked, or hvb_reloc_ksym()'s error for the first
 * one refused.  Nothing to free.
 */
int hvb_reloc_check_all(const struct hvi_symtab *st, const struct hvb_bundle *b) HV_WUR;

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
