/*
 * The guest's loaded modules and their own symbol tables (see
 * hvi_modules.h).  Every struct is copied out of the guest once and parsed
 * from the copy; every pointer is checked before it is followed, every
 * count and length bounded before anything is allocated.
 */
/* Guarded so the fuzz runner can build it without configure. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "hvi_modules.h"

#include "hv_buf.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvi_btf.h"
#include "hvi_kernel.h"
#include "hvi_text.h"

/* Lowest address of the kernel half of the address space. */
#define KERNEL_HALF 0xffff800000000000ull
/* The most of a struct module read (6.1's is 896 bytes). */
#define MOD_SPAN_MAX 4096u
/* struct mod_kallsyms is 32 bytes in 6.1. */
#define KS_SPAN_MAX 256u

struct hvi_modsyms {
	struct hvi_modsym *syms; /* address order */
	size_t n, skipped;
	char *strtab;	 /* the copied string table (names point into it) */
	uint64_t lo, hi; /* the module's core layout */
};

int hvi_modules_layout_from_btf(const struct hvi_btf *b, struct hvi_modules_layout *lay)
{
	static const struct {
		const char *type, *member;
		size_t off;
		uint32_t size;
	} want[] = {
		{ "module", "state", offsetof(struct hvi_modules_layout, mod_state), 4 },
		{ "module", "list", offsetof(struct hvi_modules_layout, mod_list), 16 },
		{ "module", "name", offsetof(struct hvi_modules_layout, mod_name),
		  HVI_MODULE_NAME_LEN },
		{ "module", "kallsyms", offsetof(struct hvi_modules_layout, mod_kallsyms), 8 },
		{ "module", "core_layout.base", offsetof(struct hvi_modules_layout, core_base), 8 },
		{ "module", "core_layout.size", offsetof(struct hvi_modules_layout, core_size), 4 },
		{ "module", "core_layout.text_size",
		  offsetof(struct hvi_modules_layout, core_text_size), 4 },
		{ "module", "core_layout.ro_size",
		  offsetof(struct hvi_modules_layout, core_ro_size), 4 },
		{ "mod_kallsyms", "symtab", offsetof(struct hvi_modules_layout, ks_symtab), 8 },
		{ "mod_kallsyms", "num_symtab", offsetof(struct hvi_modules_layout, ks_num_symtab),
		  4 },
		{ "mod_kallsyms", "strtab", offsetof(struct hvi_modules_layout, ks_strtab), 8 },
		{ "mod_kallsyms", "typetab", offsetof(struct hvi_modules_layout, ks_typetab), 8 },
	};
	static const struct {
		const char *name;
		size_t off;
	} states[] = {
		{ "MODULE_STATE_LIVE", offsetof(struct hvi_modules_layout, state_live) },
		{ "MODULE_STATE_COMING", offsetof(struct hvi_modules_layout, state_coming) },
		{ "MODULE_STATE_GOING", offsetof(struct hvi_modules_layout, state_going) },
		{ "MODULE_STATE_UNFORMED", offsetof(struct hvi_modules_layout, state_unformed) },
	};
	uint32_t off = 0, size = 0;
	size_t k;
	int r;

	memset(lay, 0, sizeof(*lay));
	r = hvi_btf_member_offset(b, "module", "core_layout", &off, &size);
	if (r == HV_E_NOTFOUND && hvi_btf_member_offset(b, "module", "mem", &off, &size) == 0) {
		r = hv_err(HV_E_UNSUPPORTED,
			   "the guest's struct module has mem[] instead of core_layout (the "
			   "Linux 6.4+ layout), which hvpatch does not read yet; its modules "
			   "cannot be listed");
		goto out;
	}
	for (k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		r = hvi_btf_member_offset(b, want[k].type, want[k].member, &off, &size);
		if (r < 0) {
			r = hv_err_prefix("the layout of the guest's module list");
			goto out;
		}
		if (size != want[k].size) {
			r = hv_err(HV_E_FORMAT,
				   "the guest's %s.%s is %u bytes, not the %u hvpatch reads",
				   want[k].type, want[k].member, size, want[k].size);
			goto out;
		}
		memcpy((char *)lay + want[k].off, &off, sizeof(off));
	}
	for (k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
		int64_t v = 0;

		r = hvi_btf_enum_value(b, "module_state", states[k].name, &v);
		if (r < 0) {
			r = hv_err_prefix("the layout of the guest's module list");
			goto out;
		}
		memcpy((char *)lay + states[k].off, &v, sizeof(v));
	}
	r = 0;
out:
	return r;
}

/* The furthest byte of struct module the layout reads, checked against MOD_SPAN_MAX. */
static int layout_span(const struct hvi_modules_layout *l, uint32_t *span)
{
	const struct {
		uint32_t off, size;
	} f[] = {
		{ l->mod_state, 4 },
		{ l->mod_list, 16 },
		{ l->mod_name, HVI_MODULE_NAME_LEN },
		{ l->mod_kallsyms, 8 },
		{ l->core_base, 8 },
		{ l->core_size, 4 },
		{ l->core_text_size, 4 },
		{ l->core_ro_size, 4 },
	};
	const struct {
		uint32_t off, size;
	} ks[] = {
		{ l->ks_symtab, 8 },
		{ l->ks_num_symtab, 4 },
		{ l->ks_strtab, 8 },
		{ l->ks_typetab, 8 },
	};
	uint32_t end = 0;
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (f[i].off > MOD_SPAN_MAX - f[i].size)
			return hv_err(HV_E_INVAL,
				      "module layout: a field at offset %u lies beyond the %u "
				      "bytes of struct module hvi_modules reads",
				      f[i].off, MOD_SPAN_MAX);
		if (f[i].off + f[i].size > end)
			end = f[i].off + f[i].size;
	}
	for (i = 0; i < sizeof(ks) / sizeof(ks[0]); i++)
		if (ks[i].off > KS_SPAN_MAX - ks[i].size)
			return hv_err(HV_E_INVAL,
				      "module layout: a field of struct mod_kallsyms lies beyond "
				      "the %u bytes hvi_modules reads",
				      KS_SPAN_MAX);
	*span = end;
	return 0;
}

/* A pointer read from the list must be an aligned kernel address. */
static int check_ptr(uint64_t p, const char *what, uint64_t where)
{
	if (p < KERNEL_HALF || (p & 7))
		return hv_err(HV_E_FORMAT,
			      "the guest's %s at 0x%" PRIx64 " holds 0x%" PRIx64
			      ", not a kernel pointer: a corrupt or hostile module list",
			      what, where, p);
	return 0;
}

/* Brent's cycle detection: true when @node was seen at the last checkpoint. */
struct brent {
	uint64_t saved;
	unsigned power, lam;
};

static bool brent_step(struct brent *b, uint64_t node)
{
	if (node == b->saved)
		return true;
	if (b->power == b->lam) {
		b->saved = node;
		b->power *= 2;
		b->lam = 0;
	}
	b->lam++;
	return false;
}

static const char *state_name(const struct hvi_modules_layout *l, int64_t s)
{
	if (s == l->state_live)
		return "live";
	if (s == l->state_coming)
		return "coming";
	if (s == l->state_going)
		return "going";
	if (s == l->state_unformed)
		return "unformed";
	return "?";
}

/* Parse one struct module from its copy @buf (@span bytes) into @m. */
static int parse_module(const struct hvi_modules_layout *l, const uint8_t *buf, uint64_t gva,
			struct hvi_module *m)
{
	const uint8_t *name = buf + l->mod_name;
	int r = 0;

	memset(m, 0, sizeof(*m));
	m->gva = gva;
	if (!memchr(name, 0, HVI_MODULE_NAME_LEN)) {
		r = hv_err(HV_E_FORMAT,
			   "the guest's module at 0x%" PRIx64
			   " has a name of %u bytes without an end: a corrupt or hostile "
			   "module list",
			   gva, HVI_MODULE_NAME_LEN);
		goto out;
	}
	m->name_subst =
		(unsigned)hvi_text_copy(m->name, sizeof(m->name), name, HVI_MODULE_NAME_LEN);
	m->state = (int32_t)hv_le32(buf + l->mod_state);
	m->state_name = state_name(l, m->state);
	m->base = hv_le64(buf + l->core_base);
	m->size = hv_le32(buf + l->core_size);
	m->text_size = hv_le32(buf + l->core_text_size);
	m->ro_size = hv_le32(buf + l->core_ro_size);
	m->kallsyms = hv_le64(buf + l->mod_kallsyms);
	/* A module being set up may have no core yet; every formed one has. */
	if (m->state == l->state_unformed && m->base == 0)
		goto out;
	if (m->base < HVI_MODULES_VADDR || m->base >= HVI_MODULES_END ||
	    m->size > HVI_MODULES_END - m->base || m->text_size > m->size || m->ro_size > m->size ||
	    m->text_size > m->ro_size) {
		r = hv_err(HV_E_FORMAT,
			   "the guest's module %s (struct module at 0x%" PRIx64
			   ") claims a core layout at 0x%" PRIx64
			   " of %u bytes (text %u, read-only %u) that is not inside the module "
			   "area 0x%llx..0x%llx: a corrupt or hostile module",
			   m->name, gva, m->base, m->size, m->text_size, m->ro_size,
			   HVI_MODULES_VADDR, HVI_MODULES_END);
		goto out;
	}
out:
	return r;
}

void hvi_modlist_free(struct hvi_modlist *l)
{
	if (!l)
		return;
	free(l->mods);
	free(l);
}

int hvi_modules_read(const struct hvi_paging *pg, const struct hvi_modules_layout *lay,
		     uint64_t head_gva, struct hvi_modlist **out)
{
	struct hvi_modlist *l = NULL;
	struct brent seen = { head_gva, 1, 1 };
	uint8_t buf[MOD_SPAN_MAX];
	uint64_t node = 0, from = head_gva;
	size_t cap = 0;
	uint32_t span = 0;
	int r;

	*out = NULL;
	r = layout_span(lay, &span);
	if (r < 0)
		goto out;
	r = check_ptr(head_gva, "module list head", head_gva);
	if (r < 0)
		goto out;
	l = calloc(1, sizeof(*l));
	if (!l) {
		r = hv_err(HV_E_NOMEM, "out of memory listing the guest's modules");
		goto out;
	}
	l->head_gva = head_gva;
	r = hvi_read_virt(pg, head_gva, &node, sizeof(node));
	if (r < 0) {
		r = hv_err_prefix("reading the guest's module list head at 0x%" PRIx64, head_gva);
		goto out;
	}
	while (node != head_gva) {
		uint64_t mod;

		r = check_ptr(node, "module list", from);
		if (r < 0)
			goto out;
		if (brent_step(&seen, node)) {
			r = hv_err(HV_E_FORMAT,
				   "the guest's module list at 0x%" PRIx64
				   " loops without coming back to its head: a corrupt or hostile "
				   "module list",
				   head_gva);
			goto out;
		}
		if (++l->steps > HVI_MODULES_MAX) {
			r = hv_err(HV_E_FORMAT,
				   "the guest's module list at 0x%" PRIx64
				   " holds more than %u modules: a loop or a corrupt list",
				   head_gva, HVI_MODULES_MAX);
			goto out;
		}
		mod = node - lay->mod_list;
		r = hvi_read_virt(pg, mod, buf, span);
		if (r < 0) {
			r = hv_err_prefix("reading the guest's module at 0x%" PRIx64, mod);
			goto out;
		}
		if (l->n == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			struct hvi_module *nm = realloc(l->mods, ncap * sizeof(*nm));

			if (!nm) {
				r = hv_err(HV_E_NOMEM, "out of memory listing the guest's modules");
				goto out;
			}
			l->mods = nm;
			cap = ncap;
		}
		r = parse_module(lay, buf, mod, &l->mods[l->n]);
		if (r < 0)
			goto out;
		l->n++;
		from = node;
		node = hv_le64(buf + lay->mod_list);
	}
	*out = l;
	l = NULL;
	r = (int)(*out)->n;
out:
	hvi_modlist_free(l);
	return r;
}

int hvi_modules_open(const struct hvi_kernel *k, const struct hvi_btf *b,
		     struct hvi_modules_layout *lay, struct hvi_modlist **out)
{
	struct hvi_sym cand[8];
	uint64_t head = 0;
	int r, n, i, globals = 0;

	*out = NULL;
	r = hvi_modules_layout_from_btf(b, lay);
	if (r < 0)
		goto out;
	n = hvi_sym_lookup_all(k->syms, "modules", cand, sizeof(cand) / sizeof(cand[0]));
	if (n <= 0) {
		r = hv_err(HV_E_NOTFOUND,
			   "the guest kernel has no symbol 'modules' (the head of its module "
			   "list): a kernel built without module support has no modules to list");
		goto out;
	}
	for (i = 0; i < n && i < (int)(sizeof(cand) / sizeof(cand[0])); i++)
		if (cand[i].type == 'D' && !cand[i].absolute) {
			head = cand[i].addr;
			globals++;
		}
	if (n == 1 && !cand[0].absolute)
		head = cand[0].addr;
	else if (globals != 1) {
		r = hv_err(HV_E_INVAL,
			   "the guest kernel has %d symbols named 'modules' and %d of them are "
			   "global data: hvpatch cannot tell which one heads the module list",
			   n, globals);
		goto out;
	}
	r = hvi_modules_read(&k->pg, lay, head, out);
out:
	return r;
}

const struct hvi_module *hvi_modlist_find(const struct hvi_modlist *l, const char *name)
{
	size_t i;

	for (i = 0; l && name && i < l->n; i++)
		if (!strcmp(l->mods[i].name, name))
			return &l->mods[i];
	return NULL;
}

void hvi_modsyms_free(struct hvi_modsyms *s)
{
	if (!s)
		return;
	free(s->syms);
	free(s->strtab);
	free(s);
}

size_t hvi_modsyms_count(const struct hvi_modsyms *s)
{
	return s ? s->n : 0;
}

size_t hvi_modsyms_skipped(const struct hvi_modsyms *s)
{
	return s ? s->skipped : 0;
}

int hvi_modsyms_get(const struct hvi_modsyms *s, size_t i, struct hvi_modsym *out)
{
	if (!s || i >= s->n)
		return hv_err(HV_E_RANGE, "module symbol %zu does not exist (%zu symbols)", i,
			      s ? s->n : 0);
	*out = s->syms[i];
	return 0;
}

/* Whether [@p, @p + @len) lies inside the core layout of @m. */
static bool in_core(const struct hvi_module *m, uint64_t p, uint64_t len)
{
	return p >= m->base && p - m->base <= m->size && len <= m->size - (p - m->base);
}

static int by_addr(const void *a, const void *b)
{
	const struct hvi_modsym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* A symbol's name and its place in address order, for numbering duplicates. */
struct name_ref {
	const char *name;
	size_t idx;
};

static int by_name(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Number the symbols that share a name, in address order (sorted once: a
 * hostile table of one name repeated stays n log n). */
static int number_dups(struct hvi_modsyms *s)
{
	struct name_ref *p = NULL;
	size_t i, j, k;
	int r = 0;

	for (i = 0; i < s->n; i++) {
		s->syms[i].dup_index = 0;
		s->syms[i].dup_count = 1;
	}
	if (s->n < 2)
		goto out;
	p = malloc(s->n * sizeof(*p));
	if (!p) {
		r = hv_err(HV_E_NOMEM, "out of memory indexing a module's symbols");
		goto out;
	}
	for (i = 0; i < s->n; i++) {
		p[i].name = s->syms[i].name;
		p[i].idx = i;
	}
	qsort(p, s->n, sizeof(*p), by_name);
	for (i = 0; i < s->n; i = j) {
		for (j = i + 1; j < s->n && !strcmp(p[j].name, p[i].name); j++)
			;
		for (k = i; k < j; k++) {
			s->syms[p[k].idx].dup_index = (unsigned)(k - i);
			s->syms[p[k].idx].dup_count = (unsigned)(j - i);
		}
	}
out:
	free(p);
	return r;
}

/* Whether each byte of the NUL-terminated @s is printable ASCII other than space. */
static bool sym_name_ok(const char *s)
{
	for (; *s; s++)
		if (*s <= 0x20 || *s > 0x7e)
			return false;
	return true;
}

int hvi_module_syms_read(const struct hvi_paging *pg, const struct hvi_modules_layout *lay,
			 const struct hvi_module *m, struct hvi_modsyms **out)
{
	struct hvi_modsyms *s = NULL;
	uint8_t ks[KS_SPAN_MAX], *symtab = NULL, *types = NULL;
	uint64_t symtab_gva, strtab_gva, typetab_gva, str_end, str_len;
	uint32_t num, span = 0, i;
	int r;

	*out = NULL;
	r = layout_span(lay, &span);
	if (r < 0)
		goto out;
	if (m->state != lay->state_live) {
		r = hv_err(HV_E_UNSUPPORTED,
			   "the guest's module %s is %s, not live: its symbol table is not "
			   "final; try again once it has finished loading",
			   m->name, m->state_name);
		goto out;
	}
	/* core_kallsyms lives inside struct module, itself in the core layout. */
	if (!in_core(m, m->kallsyms, 1) || (m->kallsyms & 7)) {
		r = hv_err(HV_E_FORMAT,
			   "the guest's module %s has its symbol table descriptor at 0x%" PRIx64
			   ", outside its core layout 0x%" PRIx64 "+0x%x: a corrupt or hostile "
			   "module",
			   m->name, m->kallsyms, m->base, m->size);
		goto out;
	}
	{
		uint32_t ks_span = lay->ks_typetab + 8;

		if (lay->ks_symtab + 8 > ks_span)
			ks_span = lay->ks_symtab + 8;
		if (lay->ks_strtab + 8 > ks_span)
			ks_span = lay->ks_strtab + 8;
		if (lay->ks_num_symtab + 4 > ks_span)
			ks_span = lay->ks_num_symtab + 4;
		if (!in_core(m, m->kallsyms, ks_span)) {
			r = hv_err(HV_E_FORMAT,
				   "the guest's module %s has its symbol table descriptor at "
				   "0x%" PRIx64 " running past its core layout: a corrupt or "
				   "hostile module",
				   m->name, m->kallsyms);
			goto out;
		}
		r = hvi_read_virt(pg, m->kallsyms, ks, ks_span);
		if (r < 0) {
			r = hv_err_prefix("reading the symbol table descriptor of module %s",
					  m->name);
			goto out;
		}
	}
	symtab_gva = hv_le64(ks + lay->ks_symtab);
	num = hv_le32(ks + lay->ks_num_symtab);
	strtab_gva = hv_le64(ks + lay->ks_strtab);
	typetab_gva = hv_le64(ks + lay->ks_typetab);
	if (num > HVI_MODULE_SYMS_MAX) {
		r = hv_err(HV_E_RANGE,
			   "the guest's module %s claims %u symbols, more than the %u hvpatch "
			   "believes: a corrupt or hostile module",
			   m->name, num, HVI_MODULE_SYMS_MAX);
		goto out;
	}
	if (!in_core(m, symtab_gva, (uint64_t)num * HVI_ELF64_SYM_BYTES) ||
	    !in_core(m, typetab_gva, num) || !in_core(m, strtab_gva, 1)) {
		r = hv_err(HV_E_FORMAT,
			   "the guest's module %s has its symbols (%u at 0x%" PRIx64
			   "), names (0x%" PRIx64 ") or types (0x%" PRIx64
			   ") outside its core layout 0x%" PRIx64 "+0x%x: a corrupt or hostile "
			   "module",
			   m->name, num, symtab_gva, strtab_gva, typetab_gva, m->base, m->size);
		goto out;
	}
	/* The kernel lays out symtab, strtab, typetab in that order; the
	 * strings end where the types start, else at the end of the core. */
	str_end = typetab_gva > strtab_gva ? typetab_gva : m->base + m->size;
	str_len = str_end - strtab_gva;
	if (str_len > HVI_MODULE_STRTAB_MAX) {
		r = hv_err(HV_E_RANGE,
			   "the guest's module %s has a string table of %" PRIu64
			   " bytes, more than the %u hvpatch copies: a corrupt or hostile module",
			   m->name, str_len, HVI_MODULE_STRTAB_MAX);
		goto out;
	}
	s = calloc(1, sizeof(*s));
	symtab = malloc(num ? (size_t)num * HVI_ELF64_SYM_BYTES : 1);
	types = malloc(num ? num : 1);
	if (s) {
		s->strtab = malloc((size_t)str_len + 1);
		s->syms = calloc(num ? num : 1, sizeof(*s->syms));
	}
	if (!s || !symtab || !types || !s->strtab || !s->syms) {
		r = hv_err(HV_E_NOMEM, "out of memory copying the symbols of module %s", m->name);
		goto out;
	}
	s->lo = m->base;
	s->hi = m->base + m->size;
	r = hvi_read_virt(pg, symtab_gva, symtab, (size_t)num * HVI_ELF64_SYM_BYTES);
	if (r == 0)
		r = hvi_read_virt(pg, typetab_gva, types, num);
	if (r == 0)
		r = hvi_read_virt(pg, strtab_gva, s->strtab, (size_t)str_len);
	if (r < 0) {
		r = hv_err_prefix("reading the symbol table of module %s", m->name);
		goto out;
	}
	s->strtab[str_len] = 0;
	for (i = 0; i < num; i++) {
		const uint8_t *e = symtab + (size_t)i * HVI_ELF64_SYM_BYTES;
		uint32_t st_name = hv_le32(e);
		uint64_t value = hv_le64(e + 8), size = hv_le64(e + 16);
		const char *name;
		size_t len;
		struct hvi_modsym *o;

		if (st_name >= str_len) {
			r = hv_err(HV_E_FORMAT,
				   "symbol %u of the guest's module %s has its name at offset "
				   "%u, outside its string table of %" PRIu64
				   " bytes: a corrupt or hostile module",
				   i, m->name, st_name, str_len);
			goto out;
		}
		name = s->strtab + st_name;
		len = strnlen(name, (size_t)(str_len - st_name));
		if (len > HVI_MODULE_SYM_NAME_MAX || st_name + len >= str_len) {
			r = hv_err(HV_E_FORMAT,
				   "symbol %u of the guest's module %s has a name without an end "
				   "within %u bytes: a corrupt or hostile module",
				   i, m->name, HVI_MODULE_SYM_NAME_MAX);
			goto out;
		}
		if (!sym_name_ok(name)) {
			r = hv_err(HV_E_FORMAT,
				   "symbol %u of the guest's module %s has a name with a byte "
				   "that is not printable ASCII: a corrupt or hostile module",
				   i, m->name);
			goto out;
		}
		/* The null symbol, per-cpu data and anything outside the core;
		 * and a name with '@', which "name@N" could not pick (C and
		 * assembler names in a kernel module never have one). */
		if (len == 0 || !in_core(m, value, 0) || value == s->hi || memchr(name, '@', len)) {
			s->skipped++;
			continue;
		}
		o = &s->syms[s->n++];
		o->addr = value;
		o->size = in_core(m, value, size) ? size : 0;
		o->name = name;
		o->type = types[i] > 0x20 && types[i] < 0x7f ? (char)types[i] : '?';
	}
	qsort(s->syms, s->n, sizeof(*s->syms), by_addr);
	r = number_dups(s);
	if (r < 0)
		goto out;
	*out = s;
	s = NULL;
	r = (int)(*out)->n;
out:
	free(symtab);
	free(types);
	hvi_modsyms_free(s);
	return r;
}

int hvi_modsyms_lookup(const struct hvi_modsyms *s, const char *name, struct hvi_modsym *out)
{
	char base[HVI_MODULE_SYM_NAME_MAX + 1];
	const char *at = strchr(name, '@');
	unsigned long nth = 0;
	bool want_nth = false;
	size_t i, len, found = 0;
	int r = HV_E_NOTFOUND;

	len = at ? (size_t)(at - name) : strlen(name);
	if (len == 0 || len >= sizeof(base)) {
		r = hv_err(HV_E_INVAL, "'%.64s' is not a module symbol name", name);
		goto out;
	}
	memcpy(base, name, len);
	base[len] = 0;
	if (at) {
		char *end = NULL;

		nth = strtoul(at + 1, &end, 10);
		if (!at[1] || *end || nth > UINT32_MAX) {
			r = hv_err(HV_E_INVAL,
				   "'%.64s': after '@' comes the number of the symbol (from 0)",
				   name);
			goto out;
		}
		want_nth = true;
	}
	for (i = 0; s && i < s->n; i++) {
		if (strcmp(s->syms[i].name, base))
			continue;
		found = s->syms[i].dup_count;
		if (want_nth ? s->syms[i].dup_index == nth : s->syms[i].dup_count == 1) {
			*out = s->syms[i];
			r = 0;
			goto out;
		}
	}
	if (found > 1 && !want_nth)
		r = hv_err(HV_E_INVAL,
			   "%zu symbols of the module are named '%s': name one as %s@N (N from 0, "
			   "in address order)",
			   found, base, base);
	else
		r = hv_err(HV_E_NOTFOUND, "the module has no symbol named '%s'", name);
out:
	return r;
}

int hvi_modsyms_by_addr(const struct hvi_modsyms *s, uint64_t addr, struct hvi_modsym *out,
			uint64_t *offset)
{
	size_t lo = 0, hi = s ? s->n : 0;

	if (!s || s->n == 0 || addr < s->syms[0].addr || addr >= s->hi)
		return hv_err(HV_E_NOTFOUND, "0x%" PRIx64 " is not inside a symbol of the module",
			      addr);
	/* The last symbol whose address is <= addr. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->syms[mid].addr <= addr)
			lo = mid;
		else
			hi = mid;
	}
	*out = s->syms[lo];
	*offset = addr - s->syms[lo].addr;
	return 0;
}

int hvi_modules_resolve(const struct hvi_paging *pg, const struct hvi_modules_layout *lay,
			const struct hvi_modlist *l, const char *qname, struct hvi_modsym *out,
			char *name_buf, size_t name_len, const struct hvi_module **mod)
{
	char mname[HVI_MODULE_NAME_LEN + 1];
	const char *colon = strchr(qname, ':');
	const struct hvi_module *m;
	struct hvi_modsyms *s = NULL;
	size_t n;
	int r;

	if (mod)
		*mod = NULL;
	n = colon ? (size_t)(colon - qname) : 0;
	if (!colon || n == 0 || n >= sizeof(mname) || !colon[1]) {
		r = hv_err(HV_E_INVAL,
			   "'%.80s' is not a module-qualified name: write MODULE:function", qname);
		goto out;
	}
	memcpy(mname, qname, n);
	mname[n] = 0;
	m = hvi_modlist_find(l, mname);
	if (!m) {
		r = hv_err(HV_E_NOTFOUND, "module %s is not loaded in the guest", mname);
		goto out;
	}
	r = hvi_module_syms_read(pg, lay, m, &s);
	if (r < 0)
		goto out;
	r = hvi_modsyms_lookup(s, colon + 1, out);
	if (r < 0) {
		r = hv_err_prefix("module %s", mname);
		goto out;
	}
	if (name_buf && name_len) {
		snprintf(name_buf, name_len, "%s", out->name);
		out->name = name_buf;
	} else {
		out->name = NULL;
	}
	if (mod)
		*mod = m;
	r = 0;
out:
	hvi_modsyms_free(s);
	return r;
}
