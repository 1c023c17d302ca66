/*
 * modsites.c: the guest's modules for the apply engine (see modsites.h).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "guest/guest.h"
#include "access/hva.h"
#include "hvi_btf.h"
#include "hvi_kernel.h"
#include "modsites.h"

int hvp_mods_open(struct hvg *g, struct hvp_mods *m)
{
	struct hvi_btf *btf = NULL;
	int r;

	if (m->open)
		return 0;
	m->g = g;
	r = hvi_btf_open(g->k, &btf);
	if (r == 0)
		r = hvi_modules_open(g->k, btf, &m->lay, &m->list);
	hvi_btf_free(btf);
	if (r < 0)
		return hv_err_prefix("reading the guest's module list");
	m->open = true;
	return 0;
}

void hvp_mods_free(struct hvp_mods *m)
{
	unsigned i;

	if (!m)
		return;
	for (i = 0; i < m->ncache; i++)
		hvi_modsyms_free(m->cache[i].syms);
	hvi_modlist_free(m->list);
	memset(m, 0, sizeof(*m));
}

const struct hvi_module *hvp_mods_find(const struct hvp_mods *m, const char *name)
{
	return m && m->open ? hvi_modlist_find(m->list, name) : NULL;
}

/* The live module @module, or an error saying why not. */
static int live_module(const struct hvp_mods *m, const char *module, const struct hvi_module **out)
{
	const struct hvi_module *mod = hvp_mods_find(m, module);

	*out = NULL;
	if (!mod)
		return hv_err(HV_E_NOTFOUND, "module %s is not loaded in %s", module,
			      m->g ? m->g->info.name : "the guest");
	if (mod->state != m->lay.state_live)
		return hv_err(HV_E_BUSY,
			      "module %s of %s is %s, not live: it is being loaded or unloaded; "
			      "try again when it has settled",
			      module, m->g->info.name, mod->state_name);
	*out = mod;
	return 0;
}

static int module_syms(struct hvp_mods *m, const struct hvi_module *mod,
		       const struct hvi_modsyms **out)
{
	unsigned i;
	int r;

	for (i = 0; i < m->ncache; i++)
		if (m->cache[i].m == mod) {
			*out = m->cache[i].syms;
			return 0;
		}
	if (m->ncache == HVP_MODS_CACHE)
		return hv_err(HV_E_RANGE, "one operation may use the symbols of at most %u modules",
			      HVP_MODS_CACHE);
	r = hvi_module_syms_read(&m->g->k->pg, &m->lay, mod, &m->cache[m->ncache].syms);
	if (r < 0)
		return r;
	m->cache[m->ncache].m = mod;
	*out = m->cache[m->ncache++].syms;
	return 0;
}

int hvp_mods_lookup(void *ctx, const char *module, const char *name, struct hvb_modsym *out)
{
	struct hvp_mods *m = ctx;
	const struct hvi_module *mod = NULL;
	const struct hvi_modsyms *syms = NULL;
	struct hvi_modsym s;
	int r;

	memset(out, 0, sizeof(*out));
	r = live_module(m, module, &mod);
	if (r == 0)
		r = module_syms(m, mod, &syms);
	if (r == 0)
		r = hvi_modsyms_lookup(syms, name, &s);
	if (r < 0)
		return hv_err_prefix("module %s", module);
	out->addr = s.addr;
	out->type = s.type;
	/* Code outside the core text (init code is gone once the module is
	 * live; what is left of its layout is data). */
	if ((s.type == 't' || s.type == 'T') &&
	    (s.addr < mod->base || s.addr - mod->base >= mod->text_size))
		out->init_only = true;
	return 0;
}

int hvp_mods_site(struct hvp_mods *m, const char *module, const char *fn, uint64_t gva,
		  uint64_t *gpa)
{
	const struct hvi_module *mod;
	struct hvg *g = m->g;
	uint64_t gpa4;
	unsigned perms;
	int r;

	r = live_module(m, module, &mod);
	if (r < 0)
		return r;
	if (gva < mod->base || gva - mod->base >= mod->text_size ||
	    mod->text_size - (gva - mod->base) < 5)
		return hv_err(HV_E_RANGE,
			      "the site of %s:%s at 0x%" PRIx64 " lies outside the module's code "
			      "(0x%" PRIx64 "..0x%" PRIx64 "); refusing to write there",
			      module, fn, gva, mod->base, mod->base + mod->text_size);
	r = hvi_translate(&g->k->pg, gva, gpa, &perms);
	if (r == 0)
		r = hvi_translate(&g->k->pg, gva + 4, &gpa4, &perms);
	if (r < 0)
		return hv_err_prefix("the site of %s:%s at 0x%" PRIx64, module, fn, gva);
	if (gpa4 != *gpa + 4)
		return hv_err(HV_E_UNSUPPORTED, "the entry of %s:%s straddles two physical pages",
			      module, fn);
	if ((g->info.area_gpa && *gpa + 5 > g->info.area_gpa &&
	     *gpa < g->info.area_gpa + g->info.area_size) ||
	    (!hva_ram_view(g->h, *gpa, 5) && (*gpa >= g->mem.max_gpa || g->mem.max_gpa - *gpa < 5)))
		return hv_err(HV_E_RANGE,
			      "the guest's page tables map the site of %s:%s (0x%" PRIx64
			      ") to guest-physical 0x%" PRIx64 ", which is not guest RAM "
			      "hvpatch may write; refusing to write there",
			      module, fn, gva, *gpa);
	return 0;
}

bool hvp_site_module(const char *site_name, char module[HVB_MAX_MODULE_NAME + 1])
{
	return hvb_sym_module(site_name, module, HVB_MAX_MODULE_NAME + 1, NULL);
}

int hvp_mods_recheck(struct hvp_mods *m, const struct hvp_site *sites, unsigned n)
{
	char module[HVB_MAX_MODULE_NAME + 1];
	struct hvi_modlist *now = NULL;
	const struct hvi_module *a, *b;
	unsigned i;
	int r = 0;

	for (i = 0; i < n; i++)
		if (hvp_site_module(sites[i].name, module))
			break;
	if (i == n || !m->open)
		return 0; /* no module sites */
	r = hvi_modules_read(&m->g->k->pg, &m->lay, m->list->head_gva, &now);
	if (r < 0)
		return hv_err_prefix("reading the guest's module list again in the pause");
	r = 0; /* it returned how many modules it read */
	for (i = 0; i < n && r == 0; i++) {
		if (!hvp_site_module(sites[i].name, module))
			continue;
		a = hvi_modlist_find(m->list, module);
		b = hvi_modlist_find(now, module);
		if (!a || !b || a->gva != b->gva || a->base != b->base || a->size != b->size ||
		    b->state != m->lay.state_live)
			r = hv_err(HV_E_STATE,
				   "module %s of %s changed between planning and the pause (%s); "
				   "nothing was written: run the command again",
				   module, m->g->info.name,
				   !b	? "it was unloaded"
				   : !a ? "it was loaded"
					: "it was reloaded or is going away");
	}
	hvi_modlist_free(now);
	return r;
}
