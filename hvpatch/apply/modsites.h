/*
 * hvp_mods: the guest's loaded modules as the apply engine needs them, to
 * replace functions of modules ("MODULE:function" targets) and resolve
 * relocations against module symbols ("MODULE:name").
 *
 * Module memory comes and goes with the module: a site in a module is
 * written only when the module is live, its function lies in the module's
 * core text, and (checked again inside the pause, from a fresh read of the
 * module list) the module is still the one planned for.  A site whose
 * module was unloaded is never written again: its memory belongs to
 * whatever the guest put there since.
 *
 * Everything read here is guest memory, read through libhvi's bounded
 * module reader (hvi_modules.h).
 */
#ifndef HVP_MODSITES_H
#define HVP_MODSITES_H

#include <stdbool.h>
#include <stdint.h>

#include "hv_error.h"
#include "bundle/hvb_reloc.h"
#include "hvi_modules.h"
#include "state.h"

struct hvg;

/* Modules whose symbol tables one operation reads (a bundle names fewer). */
#define HVP_MODS_CACHE 32u

struct hvp_mods {
	struct hvg *g;
	bool open; /* list read */
	struct hvi_modules_layout lay;
	struct hvi_modlist *list;
	struct {
		const struct hvi_module *m;
		struct hvi_modsyms *syms;
	} cache[HVP_MODS_CACHE];
	unsigned ncache;
};

/*
 * Read the module list of @g into @m (once: later calls return 0 at once).
 * @m must be zeroed before the first call.  Returns 0; the errors of
 * hvi_btf_open() and hvi_modules_open(), prefixed "reading the guest's
 * module list".  Free with hvp_mods_free().
 */
int hvp_mods_open(struct hvg *g, struct hvp_mods *m) HV_WUR;

/* Free what @m holds and zero it; accepts NULL. */
void hvp_mods_free(struct hvp_mods *m);

/* The module named @name on the list, or NULL (not loaded). */
const struct hvi_module *hvp_mods_find(const struct hvp_mods *m, const char *name);

/*
 * A mod_lookup for struct hvb_symsrc (ctx: a struct hvp_mods, opened):
 * "name" or "name@N" in module @module of the guest, from the module's own
 * symbol table.  Returns 0 (out->addr the guest address); HV_E_NOTFOUND
 * ("module M is not loaded in DOMAIN", or no such symbol); HV_E_BUSY for a
 * module being loaded or unloaded; the errors of hvi_module_syms_read().
 */
int hvp_mods_lookup(void *ctx, const char *module, const char *name, struct hvb_modsym *out);

/*
 * Check that module @module's function @fn has its site at @gva, a place
 * hvpatch may write: the module is live, @gva and the 5 bytes after it lie
 * in the module's core text, the guest's page tables map them to one
 * guest-physical run (*@gpa) in RAM, outside the patch area.  Returns 0;
 * HV_E_NOTFOUND (module gone), HV_E_BUSY (loading or unloading),
 * HV_E_RANGE / HV_E_UNSUPPORTED naming the site.
 */
int hvp_mods_site(struct hvp_mods *m, const char *module, const char *fn, uint64_t gva,
		  uint64_t *gpa) HV_WUR;

/*
 * With the guest paused: read the module list again and check that each
 * module that @sites (@n of them) name is still the module planned for
 * (same struct module, same core base, live).  Returns 0; HV_E_STATE
 * naming the module that changed; read errors.
 */
int hvp_mods_recheck(struct hvp_mods *m, const struct hvp_site *sites, unsigned n) HV_WUR;

/*
 * The module a site name belongs to ("MODULE:function" -> MODULE, copied
 * into @module); false for a kernel function.
 */
bool hvp_site_module(const char *site_name, char module[HVB_MAX_MODULE_NAME + 1]);

#endif
