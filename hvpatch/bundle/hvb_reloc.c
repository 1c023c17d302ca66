/*
 * hvb_reloc.c: the kernel-symbol relocation rule build and apply share
 * (see hvb_reloc.h).  Links against libhvi, like hvb_kcheck.c.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hvb_reloc.h"
#include "hvi_kallsyms.h"

/* Same-named symbols considered when picking the one global among them. */
#define DUP_MAX 16

/*
 * The kinds the kernel's per-cpu accessors produce against a per-cpu
 * symbol: %gs:sym(%rip) (this_cpu_read() and friends in 6.1: PC32),
 * %gs:sym (this_cpu_read_stable(), e.g. current: 32S), $sym
 * (this_cpu_ptr(): 32S or 32) and a stored offset (64).  A PC-relative
 * reference yields the symbol's value at run time like an absolute one; it
 * only has to reach it from where the patch lies.
 */
static bool percpu_kind(uint32_t type)
{
	return type == HVB_R_X86_64_PC32 || type == HVB_R_X86_64_32S || type == HVB_R_X86_64_32 ||
	       type == HVB_R_X86_64_64;
}

/* The symbol a relocation's name means (hvb_reloc.h); errors unprefixed. */
static int lookup(const struct hvi_symtab *st, const char *name, struct hvi_sym *s)
{
	struct hvi_sym all[DUP_MAX];
	int r = hvi_sym_lookup(st, name, s), n, i, globals = 0;

	if (r != HV_E_INVAL || strchr(name, '@'))
		goto out;
	/* Several symbols of that name: the linker would bind a reference to
	 * the one global among them (the others are file-local). */
	n = hvi_sym_lookup_all(st, name, all, DUP_MAX);
	for (i = 0; i < n && i < DUP_MAX; i++)
		if (all[i].type >= 'A' && all[i].type <= 'Z') {
			*s = all[i];
			globals++;
		}
	if (n > DUP_MAX || globals != 1) {
		r = hv_err(HV_E_INVAL,
			   "kernel symbol %s names %d symbols, %d of them global; name one as "
			   "%s@N in the manifest",
			   name, n, globals, name);
		goto out;
	}
	hv_err_clear();
	r = 0;
out:
	return r;
}

int hvb_reloc_ksym(const struct hvi_symtab *st, const struct hvb_bundle *b, size_t i,
		   uint64_t *value)
{
	const struct hvb_reloc *x;
	const char *type, *sec;
	struct hvi_sym s;
	int64_t v;
	int r;

	*value = 0;
	if (!st || !b || i >= b->nrelocs || b->relocs[i].kind != HVB_TGT_KSYM ||
	    !b->relocs[i].symbol || b->relocs[i].section >= b->nsections) {
		r = hv_err(HV_E_INVAL, "hvb_reloc_ksym needs symbols and a kernel-symbol "
				       "relocation of a checked bundle");
		goto out;
	}
	x = &b->relocs[i];
	type = hvb_reloc_type_name(x->type);
	sec = b->sections[x->section].name;
	r = lookup(st, x->symbol, &s);
	if (r < 0) {
		r = hv_err_prefix("relocation %zu (%s at %s+0x%llx) to kernel symbol %s", i, type,
				  sec, (unsigned long long)x->offset, x->symbol);
		goto out;
	}
	if (s.absolute && !percpu_kind(x->type)) {
		r = hv_err(HV_E_UNSUPPORTED,
			   "relocation %zu (%s at %s+0x%llx) to kernel symbol %s: %s is per-cpu "
			   "data, whose value is an offset in each CPU's per-cpu area, not an "
			   "address, and no per-cpu accessor produces %s against it (a call or "
			   "a 64-bit PC-relative value would reach unrelated memory); reach it "
			   "through the kernel's accessors (this_cpu_read(), this_cpu_ptr(), "
			   "per_cpu_ptr()), which use R_X86_64_PC32 or R_X86_64_32S",
			   i, type, sec, (unsigned long long)x->offset, x->symbol, x->symbol, type);
		goto out;
	}
	if (s.absolute && x->type != HVB_R_X86_64_PC32) {
		/* Offsets are below 2^31 (kallsyms stores them as s32 >= 0);
		 * an addend beyond +-2^40 cannot fit anyway, and bounding it
		 * keeps the sum from overflowing.  A PC32 result depends on
		 * where the patch lies: hvb_apply_relocs() checks it. */
		v = x->addend > ((int64_t)1 << 40) || x->addend < -((int64_t)1 << 40)
			    ? ((int64_t)1 << 40)
			    : (int64_t)s.addr + x->addend;
		if ((x->type == HVB_R_X86_64_32S && (v < INT32_MIN || v > INT32_MAX)) ||
		    (x->type == HVB_R_X86_64_32 && (v < 0 || v > (int64_t)UINT32_MAX))) {
			r = hv_err(HV_E_RANGE,
				   "relocation %zu (%s at %s+0x%llx) to kernel symbol %s: the "
				   "per-cpu offset 0x%llx plus addend %lld does not fit the "
				   "%s 32-bit field; the object is not one the kernel's "
				   "accessors produce, rebuild it with the kernel's kbuild",
				   i, type, sec, (unsigned long long)x->offset, x->symbol,
				   (unsigned long long)s.addr, (long long)x->addend,
				   x->type == HVB_R_X86_64_32S ? "signed" : "unsigned");
			goto out;
		}
	} else if (!s.absolute && x->type == HVB_R_X86_64_32) {
		r = hv_err(HV_E_UNSUPPORTED,
			   "relocation %zu (%s at %s+0x%llx) to kernel symbol %s: %s is a kernel "
			   "address in the top 2 GiB, which a zero-extended 32-bit field cannot "
			   "hold; compile the patch with the kernel's kbuild (-mcmodel=kernel "
			   "uses R_X86_64_32S)",
			   i, type, sec, (unsigned long long)x->offset, x->symbol, x->symbol);
		goto out;
	}
	*value = s.addr;
	r = 0;
out:
	return r;
}

/* The "MODULE:name" half of hvb_reloc_sym(). */
static int reloc_modsym(const struct hvb_symsrc *src, const struct hvb_bundle *b, size_t i,
			const char *module, const char *name, uint64_t *value)
{
	const struct hvb_reloc *x = &b->relocs[i];
	const char *type = hvb_reloc_type_name(x->type), *sec = b->sections[x->section].name;
	struct hvb_modsym ms;
	int r;

	memset(&ms, 0, sizeof(ms));
	if (!src->mod_lookup) {
		r = hv_err(HV_E_UNSUPPORTED,
			   "relocation %zu (%s at %s+0x%llx) to module symbol %s: there are no "
			   "module symbols to check it against; give %s",
			   i, type, sec, (unsigned long long)x->offset, x->symbol,
			   src->mod_hint ? src->mod_hint : "the module's symbols");
		goto out;
	}
	r = src->mod_lookup(src->mod_ctx, module, name, &ms);
	if (r < 0) {
		r = hv_err_prefix("relocation %zu (%s at %s+0x%llx) to module symbol %s", i, type,
				  sec, (unsigned long long)x->offset, x->symbol);
		goto out;
	}
	if (ms.percpu || ms.init_only) {
		r = hv_err(HV_E_UNSUPPORTED,
			   "relocation %zu (%s at %s+0x%llx) to module symbol %s: %s is %s of "
			   "module %s, which a patch cannot reach (%s)",
			   i, type, sec, (unsigned long long)x->offset, x->symbol, name,
			   ms.percpu ? "per-cpu data" : "init code or data", module,
			   ms.percpu ? "its per-cpu offset is known only to the module loader"
				     : "it is freed once the module has loaded");
		goto out;
	}
	if (x->type == HVB_R_X86_64_32) {
		r = hv_err(HV_E_UNSUPPORTED,
			   "relocation %zu (%s at %s+0x%llx) to module symbol %s: module "
			   "addresses lie in the top 2 GiB, which a zero-extended 32-bit field "
			   "cannot hold; compile the patch with the kernel's kbuild",
			   i, type, sec, (unsigned long long)x->offset, x->symbol);
		goto out;
	}
	*value = ms.addr;
	r = 0;
out:
	return r;
}

int hvb_reloc_sym(const struct hvb_symsrc *src, const struct hvb_bundle *b, size_t i,
		  uint64_t *value)
{
	char module[HVB_MAX_MODULE_NAME + 1];
	const char *name;

	*value = 0;
	if (!src || !b || i >= b->nrelocs || b->relocs[i].kind != HVB_TGT_KSYM ||
	    !b->relocs[i].symbol || b->relocs[i].section >= b->nsections)
		return hv_err(HV_E_INVAL, "hvb_reloc_sym needs a symbol source and a "
					  "kernel-symbol relocation of a checked bundle");
	if (hvb_sym_module(b->relocs[i].symbol, module, sizeof(module), &name))
		return reloc_modsym(src, b, i, module, name, value);
	return hvb_reloc_ksym(src->kernel, b, i, value);
}

int hvb_reloc_check_all(const struct hvb_symsrc *src, const struct hvb_bundle *b)
{
	uint64_t v;
	size_t i;
	int r = 0, n = 0;

	for (i = 0; b && i < b->nrelocs; i++) {
		if (b->relocs[i].kind != HVB_TGT_KSYM)
			continue;
		r = hvb_reloc_sym(src, b, i, &v);
		if (r < 0)
			goto out;
		n++;
	}
	r = n;
out:
	return r;
}

int hvb_target_resolve(const struct hvb_symsrc *src, const struct hvb_bundle *b, size_t i,
		       struct hvb_target_addr *out)
{
	const struct hvb_replacement *rp;
	char name[HVB_MAX_NAME + 16];
	struct hvb_modsym ms;
	struct hvi_sym s;
	const char *fn;
	int r;

	memset(out, 0, sizeof(*out));
	if (!src || !b || i >= b->nreplacements || !b->replacements[i].target) {
		r = hv_err(HV_E_INVAL, "hvb_target_resolve needs a symbol source and a "
				       "replacement of a checked bundle");
		goto out;
	}
	rp = &b->replacements[i];
	if (!hvb_sym_module(rp->target, out->module, sizeof(out->module), &fn)) {
		r = hvb_target_sym(src->kernel, b, i, &s);
		if (r == 0)
			out->addr = s.addr;
		goto out;
	}
	if (rp->target_index == HVB_NO_INDEX)
		snprintf(name, sizeof(name), "%s", fn);
	else
		snprintf(name, sizeof(name), "%s@%u", fn, rp->target_index);
	if (!src->mod_lookup) {
		r = hv_err(HV_E_UNSUPPORTED,
			   "bundle %s replaces %s:%s, a function of module %s, but there are no "
			   "module symbols to check it against; give %s",
			   b->patch_id, out->module, name, out->module,
			   src->mod_hint ? src->mod_hint : "the module's symbols");
		goto out;
	}
	memset(&ms, 0, sizeof(ms));
	r = src->mod_lookup(src->mod_ctx, out->module, name, &ms);
	if (r < 0) {
		r = hv_err_prefix("bundle %s replaces %s:%s", b->patch_id, out->module, name);
		goto out;
	}
	if (ms.type != 't' && ms.type != 'T') {
		r = hv_err(HV_E_UNSUPPORTED,
			   "bundle %s replaces %s:%s, which is not a function of module %s "
			   "(type '%c'); name a function",
			   b->patch_id, out->module, name, out->module, ms.type);
		goto out;
	}
	if (ms.init_only || ms.untraced) {
		r = hv_err(HV_E_UNSUPPORTED,
			   "bundle %s replaces %s:%s, which %s, so it has no redirect site; "
			   "replace a traceable caller instead",
			   b->patch_id, out->module, name,
			   ms.init_only ? "is init code, freed once the module has loaded"
					: "does not start with the ftrace call (notrace)");
		goto out;
	}
	out->addr = ms.addr;
	r = 0;
out:
	return r;
}

int hvb_target_sym(const struct hvi_symtab *st, const struct hvb_bundle *b, size_t i,
		   struct hvi_sym *out)
{
	const struct hvb_replacement *rp;
	char name[HVB_MAX_NAME + 16];
	int r;

	memset(out, 0, sizeof(*out));
	if (!st || !b || i >= b->nreplacements || !b->replacements[i].target) {
		r = hv_err(HV_E_INVAL, "hvb_target_sym needs symbols and a replacement of a "
				       "checked bundle");
		goto out;
	}
	rp = &b->replacements[i];
	if (rp->target_index == HVB_NO_INDEX)
		snprintf(name, sizeof(name), "%s", rp->target);
	else
		snprintf(name, sizeof(name), "%s@%u", rp->target, rp->target_index);
	r = hvi_sym_lookup(st, name, out);
	if (r < 0) {
		r = hv_err_prefix("bundle %s replaces %s", b->patch_id, name);
		goto out;
	}
	if (out->absolute || (out->type != 't' && out->type != 'T')) {
		r = hv_err(HV_E_UNSUPPORTED,
			   "bundle %s replaces %s, which is not a function in the kernel "
			   "(kallsyms type '%c'); name a function",
			   b->patch_id, name, out->type);
		goto out;
	}
	r = 0;
out:
	return r;
}
