/*
 * hvi_modules: the guest kernel's loaded modules and each module's own
 * symbol table, read from its memory alone.
 *
 * Why: much of a distribution kernel is modules (filesystems, netfilter,
 * drivers), and a fix to a module function needs that function's address
 * in the running guest.  The kernel keeps every module on the list whose
 * head is the symbol `modules`; with CONFIG_KALLSYMS each module keeps its
 * own symbol table (ELF symbols, a string table and a type letter per
 * symbol) in its core layout:
 *
 *   modules -> struct module { state, list, name[56], core_layout { base,
 *              size, text_size, ro_size }, kallsyms -> struct mod_kallsyms
 *              { symtab (Elf64_Sym[num_symtab]), num_symtab, strtab, typetab } }
 *
 *   hvi_modules_layout_from_btf(btf, &lay);        offsets from the kernel's BTF
 *   hvi_modules_read(pg, &lay, modules_gva, &list); every module, bounded
 *   hvi_module_syms_read(pg, &lay, &list->mods[i], &syms);   one module's symbols
 *   hvi_modsyms_lookup(syms, "virtcons_probe", &s);          name -> address
 *   hvi_modsyms_by_addr(syms, addr, &s, &off);               address -> name+off
 *   hvi_modules_resolve(pg, &lay, list, "virtio_console:virtcons_probe", &s);
 *
 * Everything is guest memory and hostile: the list may loop (Brent's
 * method finds it) or be endless (HVI_MODULES_MAX), each list pointer must
 * be an aligned kernel address, a module's core layout must lie inside the
 * module area, its symbol table and strings must lie inside that core
 * layout, counts and string bytes are capped before anything is allocated,
 * and each table is copied out of the guest once and only the copy is
 * used.  A hostile guest gets an error naming the module and the field,
 * never a crash or a hang.  The layout comes from the kernel's own BTF
 * (the 6.1 struct module with core_layout; the 6.4+ struct module_memory
 * layout is refused with a sentence).
 */
#ifndef HVI_MODULES_H
#define HVI_MODULES_H

#include <stddef.h>
#include <stdint.h>

#include "hv_error.h"
#include "hvi_paging.h"

/* MODULE_NAME_LEN on 64-bit kernels (64 - sizeof(unsigned long)). */
#define HVI_MODULE_NAME_LEN 56u
/* More modules than this is taken for a corrupt or hostile list. */
#define HVI_MODULES_MAX 8192u
/* Largest mod_kallsyms.num_symtab believed (the largest modules have ~10^4). */
#define HVI_MODULE_SYMS_MAX (1u << 18)
/* Largest module string table copied. */
#define HVI_MODULE_STRTAB_MAX (8u << 20)
/* Longest symbol name, NUL excluded (KSYM_NAME_LEN in 6.1 is 512). */
#define HVI_MODULE_SYM_NAME_MAX 511u
/* x86-64 module area: MODULES_VADDR .. MODULES_END. */
#define HVI_MODULES_VADDR 0xffffffffc0000000ull
#define HVI_MODULES_END	  0xffffffffff000000ull
/* sizeof(Elf64_Sym): fixed by the ELF format. */
#define HVI_ELF64_SYM_BYTES 24u

struct hvi_btf;
struct hvi_kernel;

/* Where the fields hvi_modules reads sit (byte offsets, from BTF). */
struct hvi_modules_layout {
	/* struct module */
	uint32_t mod_state, mod_list, mod_name, mod_kallsyms;
	uint32_t core_base, core_size, core_text_size, core_ro_size; /* core_layout.* */
	/* struct mod_kallsyms */
	uint32_t ks_symtab, ks_num_symtab, ks_strtab, ks_typetab;
	/* enum module_state */
	int64_t state_live, state_coming, state_going, state_unformed;
};

/* One module as the walk saw it. */
struct hvi_module {
	uint64_t gva;			    /* the struct module */
	char name[HVI_MODULE_NAME_LEN + 1]; /* hvi_text_copy(): printable ASCII */
	unsigned name_subst;		    /* bytes of the name replaced by '?' */
	int64_t state;			    /* enum module_state as read */
	const char *state_name;		    /* "live", "coming", "going", "unformed", "?" */
	uint64_t base;			    /* core_layout.base */
	uint32_t size, text_size, ro_size;  /* core_layout sizes in bytes */
	uint64_t kallsyms;		    /* the struct mod_kallsyms pointer */
};

/* Every module, in list order (the newest first, as the kernel adds them). */
struct hvi_modlist {
	struct hvi_module *mods;
	size_t n;
	unsigned steps;	   /* list nodes visited */
	uint64_t head_gva; /* the list head it was read from */
};

/* One module symbol; @name points into the struct hvi_modsyms. */
struct hvi_modsym {
	uint64_t addr;
	uint64_t size;	    /* st_size, or 0 when it would leave the core layout */
	const char *name;   /* printable ASCII without spaces */
	char type;	    /* typetab letter ('t', 'T', 'd', ...), '?' when not printable */
	unsigned dup_index; /* N in "name@N" (0 if the name is unique) */
	unsigned dup_count; /* symbols of this module with this name */
};

struct hvi_modsyms; /* one module's symbol index */

/*
 * Fill @lay from the kernel's BTF @b: struct module's state, list, name,
 * kallsyms and core_layout.{base,size,text_size,ro_size}; struct
 * mod_kallsyms's symtab, num_symtab, strtab and typetab; enum module_state.
 * Each must have the size 6.1 on x86-64 gives it (8-byte pointers, 4-byte
 * ints and enum, name of HVI_MODULE_NAME_LEN bytes).  Returns 0;
 * HV_E_UNSUPPORTED for a kernel whose struct module has no core_layout (the
 * 6.4+ layout); errors of hvi_btf_member_offset() / hvi_btf_enum_value()
 * prefixed with what was asked; HV_E_FORMAT for a size that is not what
 * hvi_modules reads.
 */
int hvi_modules_layout_from_btf(const struct hvi_btf *b, struct hvi_modules_layout *lay) HV_WUR;

/*
 * Read every module on the list whose head (a struct list_head) is at
 * @head_gva (the kernel's symbol `modules`) into *@out (free with
 * hvi_modlist_free()).  Returns the number of modules (0: none loaded);
 * HV_E_FORMAT when the list loops without coming back to its head, holds
 * more than HVI_MODULES_MAX modules, holds a pointer that is not an aligned
 * kernel address, a module whose name has no NUL in its HVI_MODULE_NAME_LEN
 * bytes, or a core layout outside the module area; HV_E_INVAL for a layout
 * whose offsets are beyond a struct module; HV_E_NOMEM; read errors
 * (HV_E_NOTFOUND / HV_E_RANGE for an unmapped pointer or one outside RAM).
 * Nothing is allocated on failure.
 */
int hvi_modules_read(const struct hvi_paging *pg, const struct hvi_modules_layout *lay,
		     uint64_t head_gva, struct hvi_modlist **out) HV_WUR;

/*
 * The whole first step for a caller that holds the kernel: the layout from
 * @b (hvi_modules_layout_from_btf(), into *@lay), the list head from the
 * kernel's kallsyms (the data symbol `modules`: of several symbols of that
 * name the only global data one, 'D'), then hvi_modules_read() into *@out.
 * Returns the number of modules; HV_E_NOTFOUND when the kernel has no such
 * symbol (a kernel without CONFIG_MODULES); HV_E_INVAL when several
 * symbols of that name leave no single global one; the errors of the two
 * calls.  @k->pg.mem must still be valid.
 */
int hvi_modules_open(const struct hvi_kernel *k, const struct hvi_btf *b,
		     struct hvi_modules_layout *lay, struct hvi_modlist **out) HV_WUR;

/* Free a list; accepts NULL. */
void hvi_modlist_free(struct hvi_modlist *l);

/* The module named @name in @l, or NULL. */
const struct hvi_module *hvi_modlist_find(const struct hvi_modlist *l, const char *name);

/*
 * Copy module @m's own symbol table out of the guest (once) and index it
 * into *@out (free with hvi_modsyms_free()).  Kept: every symbol with a
 * non-empty name without '@' whose address lies inside @m's core layout
 * (per-cpu and absolute symbols, and names "name@N" could not pick, are
 * left out, counted in hvi_modsyms_skipped()).
 * Returns the number of symbols kept; HV_E_UNSUPPORTED when @m is not live
 * (still loading, going away: its table is not final); HV_E_RANGE for
 * num_symtab above HVI_MODULE_SYMS_MAX or a string table above
 * HVI_MODULE_STRTAB_MAX; HV_E_FORMAT when the mod_kallsyms, symtab, strtab
 * or typetab pointer is not inside the module's core layout, a name lies
 * outside the string table, has no NUL within HVI_MODULE_SYM_NAME_MAX
 * bytes or holds a byte that is not printable ASCII; HV_E_NOMEM; read
 * errors.  Nothing is allocated on failure.
 */
int hvi_module_syms_read(const struct hvi_paging *pg, const struct hvi_modules_layout *lay,
			 const struct hvi_module *m, struct hvi_modsyms **out) HV_WUR;

/* Free an index; accepts NULL. */
void hvi_modsyms_free(struct hvi_modsyms *s);

/* Symbols kept, and symbols left out (outside the core layout or nameless). */
size_t hvi_modsyms_count(const struct hvi_modsyms *s);
size_t hvi_modsyms_skipped(const struct hvi_modsyms *s);

/* The @i-th symbol in address order; HV_E_RANGE when @i >= count. */
int hvi_modsyms_get(const struct hvi_modsyms *s, size_t i, struct hvi_modsym *out) HV_WUR;

/*
 * Resolve @name ("name" or "name@N", N-th in address order) in the module's
 * symbols.  Returns 0; HV_E_NOTFOUND when there is no such symbol (or N is
 * too large); HV_E_INVAL when a bare name is shared by several symbols
 * (the message says how many and how to pick one).
 */
int hvi_modsyms_lookup(const struct hvi_modsyms *s, const char *name,
		       struct hvi_modsym *out) HV_WUR;

/*
 * The symbol containing @addr: the highest address <= @addr, and *@offset
 * = @addr - that address.  Returns 0, or HV_E_NOTFOUND when @addr is below
 * the first symbol or outside the module's core layout.
 */
int hvi_modsyms_by_addr(const struct hvi_modsyms *s, uint64_t addr, struct hvi_modsym *out,
			uint64_t *offset) HV_WUR;

/*
 * Resolve a module-qualified name "MODULE:function" (function as for
 * hvi_modsyms_lookup(), so "MODULE:function@N" works) over @l: reads that
 * module's symbols and looks the name up; *@mod (may be NULL) gets the
 * module.  Returns 0; HV_E_INVAL when @qname has no ':' or an empty part;
 * HV_E_NOTFOUND when no module of that name is loaded (the message says
 * "is not loaded") or it has no such symbol; errors of
 * hvi_module_syms_read() and hvi_modsyms_lookup().  out->name is copied
 * into @name_buf (@name_len bytes) because the index is freed before return.
 */
int hvi_modules_resolve(const struct hvi_paging *pg, const struct hvi_modules_layout *lay,
			const struct hvi_modlist *l, const char *qname, struct hvi_modsym *out,
			char *name_buf, size_t name_len, const struct hvi_module **mod) HV_WUR;

#endif
