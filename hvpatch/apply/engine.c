/*
 * The apply engine.  See engine.h for the shape of an operation; the order
 * of the writes inside the pause is what makes it safe:
 *   1. the new slot's sections (no site jumps there yet, so no vCPU can be
 *      executing them),
 *   2. the patch area's page table and its page-directory entry (first
 *      time only; an entry the kernel never uses),
 *   3. the record page (host bookkeeping, never mapped in the guest),
 *   4. FTRACE_FL_DISABLED set on the ftrace record of each function newly
 *      patched (before its jump: the guest's ftrace never meets a jump on
 *      a site it may still rewrite),
 *   5. the sites: each 5-byte jump, checked not to cut a vCPU's RIP, then
 *      the original bytes of the sites the new level drops,
 *   6. FTRACE_FL_DISABLED cleared on the records of the sites restored
 *      (after their original bytes are back).
 * Undo runs the same list backwards with the old bytes.
 */
#include "config.h"

#include "hv_clock.h"
#include "engine.h"

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentchan/hvc.h"
#include "area.h"
#include "modsites.h"
#include "stackcheck.h"
#include "bundle/hvb.h"
#include "bundle/hvb_reloc.h"
#include "hvi_btf.h"
#include "hvi_ftrace.h"
#include "hvi_kallsyms.h"
#include "hvi_kernel.h"
#include "hv_hex.h"
#include "hvi_paging.h"

#define RIP_RETRIES 8
/* How long the guest's ftrace_lock may stay held before the switch is
 * refused, and the pause between looks. */
#define FTRACE_LOCK_WAIT_MS  2000u
#define FTRACE_LOCK_RETRY_MS 10u
/* Largest span of a struct dyn_ftrace (ip through flags) written as one. */
#define FTRACE_SPAN_MAX 32u
/* What a write of an ftrace record is called, in the ledger too. */
#define FTRACE_WHAT "ftrace record of "

/*
 * Fault injection for the crash tests: HVPATCH_CRASH_AT=STEP makes hvpatch
 * kill itself (SIGKILL, no clean-up) at that step of an operation, so the
 * tests can check the guest and the ledger after a crash at each point.
 * Steps: intent, logged, paused, first-write, written, resumed.
 */
static void crash_point(const char *step)
{
	const char *at = getenv("HVPATCH_CRASH_AT");

	if (at && !strcmp(at, step))
		raise(SIGKILL);
}

struct wr {
	uint64_t gpa;
	uint32_t len;
	uint8_t *old;
	uint8_t *new_bytes;
	char what[96];
	int is_site;
	uint64_t site_gva; /* for a site: the function's entry */
	unsigned flags;	   /* HVA_WF_DATA for bytes the guest never executes */
	int done;	   /* written in this pause */
};

/* One ftrace record write: the span of struct dyn_ftrace from ip to flags. */
struct ftrace_write {
	uint64_t gpa;
	uint32_t len;
	uint8_t old[FTRACE_SPAN_MAX], new_bytes[FTRACE_SPAN_MAX];
	uint64_t ip; /* the function */
	char name[HVP_STATE_TEXT];
	char what[96];
};

/* What a plan does to the guest's ftrace records, and what it learned. */
struct ftrace_plan {
	bool active; /* the plan writes ftrace records: ftrace_lock must be free */
	struct hvi_ftrace_layout lay;
	uint64_t lock_gva, ops_list, list_end; /* ftrace_lock, ftrace_ops_list, ftrace_list_end */
	struct ftrace_write set[HVP_STATE_MAX_SITES];	/* newly patched: DISABLED set */
	struct ftrace_write clear[HVP_STATE_MAX_SITES]; /* restored: DISABLED cleared */
	unsigned nset, nclear;
	uint64_t btf_us, find_us; /* reading the layout, finding the records */
	struct hvi_ftrace_cost cost;
};

struct plan {
	struct wr *w;
	size_t n, cap;
	uint64_t rip_sites[HVP_STATE_MAX_SITES * 2];
	unsigned nrip_sites;
	uint64_t slot_lo, slot_hi; /* code of the slot being written */
	struct hvp_state from, to;
	unsigned sites_changed;
	bool check_gpa; /* also keep vCPUs out of every code write, by address */
	bool keep_same; /* plan_add keeps a write whose bytes are there already */
	struct ftrace_plan ft;
	struct hvp_mods mods; /* the guest's modules, when a site or symbol is in one */
	unsigned npending;    /* replacements whose module is not loaded */
	char pending[HVP_STATE_MAX_SITES][HVP_STATE_TEXT];
	unsigned ngone; /* sites of the current level whose module went away */
	char gone[HVP_STATE_MAX_SITES][HVP_STATE_TEXT];
};

/* What switch_plan() did. */
enum switch_outcome {
	SWITCH_UNTOUCHED = 0,  /* failed before any write */
	SWITCH_DONE,	       /* every write made and read back */
	SWITCH_ROLLED_BACK,    /* failed; every byte written was restored */
	SWITCH_RESTORE_FAILED, /* failed, and restoring failed too */
};

struct switch_result {
	enum switch_outcome outcome;
	const char *step; /* the step that failed, for messages */
	uint64_t pause_us, bytes;
	enum hva_write_path code_path;
	bool wrote;
	unsigned stack_tasks;	    /* tasks whose stacks were checked */
	uint64_t stack_check_us;    /* the longest stack check */
	uint64_t stack_waited_ms;   /* waited for tasks to leave */
	unsigned ftrace_lock_waits; /* pauses that found the guest's ftrace_lock held */
	uint64_t ftrace_check_us;   /* the longest check of ftrace_lock and users */
};

static void plan_free(struct plan *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		free(p->w[i].old);
		free(p->w[i].new_bytes);
	}
	free(p->w);
	hvp_mods_free(&p->mods);
	memset(p, 0, sizeof(*p));
}

/* Add a write of @len bytes; @old is read from the guest now. */
static int plan_add(struct hvg *g, struct plan *p, uint64_t gpa, const uint8_t *new_bytes,
		    uint32_t len, int is_site, unsigned flags, const char *what)
{
	struct wr *w;
	int r;

	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct wr *nw = realloc(p->w, cap * sizeof(*nw));

		if (!nw)
			return hv_err(HV_E_NOMEM, "out of memory planning the writes");
		p->w = nw;
		p->cap = cap;
	}
	w = &p->w[p->n];
	memset(w, 0, sizeof(*w));
	w->old = malloc(len);
	w->new_bytes = malloc(len);
	if (!w->old || !w->new_bytes) {
		free(w->old);
		free(w->new_bytes);
		return hv_err(HV_E_NOMEM, "out of memory planning the writes");
	}
	r = hva_read_phys(g->h, gpa, w->old, len);
	if (r < 0) {
		free(w->old);
		free(w->new_bytes);
		return hv_err_prefix("reading %s", what);
	}
	if (!p->keep_same && memcmp(w->old, new_bytes, len) == 0) {
		/* Already there: nothing to write or undo. */
		free(w->old);
		free(w->new_bytes);
		return 0;
	}
	memcpy(w->new_bytes, new_bytes, len);
	w->gpa = gpa;
	w->len = len;
	w->is_site = is_site;
	w->flags = flags;
	snprintf(w->what, sizeof(w->what), "%s", what);
	p->n++;
	return 0;
}

/*
 * Walk the kernel's own top-level page table from here on.  The CR3 the
 * guest was opened with belongs to whatever task ran on that vCPU; a
 * short-lived task can exit and its page tables be freed and reused while
 * hvpatch works, but init_top_pgt (swapper_pg_dir) lives as long as the
 * kernel and maps all of it.  Checked: it must map _text where the
 * locator found it.  On any doubt the original CR3 stays in use.
 */
static void use_kernel_pgd(struct hvg *g)
{
	struct hvi_paging pg;
	struct hvi_sym s;
	uint64_t gpa, text_gpa;
	unsigned perms;

	if (hvi_sym_lookup(g->k->syms, "init_top_pgt", &s) < 0 ||
	    hvi_translate(&g->k->pg, s.addr, &gpa, &perms) < 0 ||
	    hvi_paging_init(&pg, &g->mem, gpa, g->regs.cr4) < 0 ||
	    hvi_translate(&pg, g->k->loc.text_gva, &text_gpa, &perms) < 0 ||
	    text_gpa != g->k->loc.text_gpa) {
		hv_err_clear();
		return;
	}
	g->k->pg = pg;
}

void hvp_boot_key(const struct hvg *g, char out[HVP_STATE_TEXT])
{
	snprintf(out, HVP_STATE_TEXT, "%016" PRIx64 "-%" PRIx64, g->k->loc.text_gva,
		 g->k->loc.l2_gpa);
}

/* What the record write is called, in the ledger too. */
#define RECORD_WHAT "patch-area record"

/*
 * A site hvpatch may rewrite: inside the kernel's text (_stext.._etext),
 * and at the guest-physical address the kernel image's physical layout
 * gives it (its offset from _text added to _text's physical address).
 * The guest's page tables could map a function's address anywhere; this
 * keeps every write and every restore inside the kernel's own text.
 * Returns 0 and *@gpa, or HV_E_RANGE / HV_E_UNSUPPORTED naming the site.
 */
static int site_check(struct hvg *g, const char *name, uint64_t gva, uint64_t *gpa)
{
	uint64_t etext = g->k->etext_gva;
	struct hvi_sym s;

	memset(&s, 0, sizeof(s));
	if (hvi_sym_lookup(g->k->syms, "_stext", &s) < 0 || !etext || s.absolute) {
		hv_err_clear();
		return hv_err(
			HV_E_UNSUPPORTED,
			"the guest's kallsyms lack _stext or _etext, so hvpatch cannot check "
			"that the site of %s lies in the kernel's text; refusing to write there",
			name);
	}
	if (gva < s.addr || gva < g->k->loc.text_gva || gva >= etext || etext - gva < 5)
		return hv_err(HV_E_RANGE,
			      "the site of %s at 0x%" PRIx64 " lies outside the kernel's text "
			      "(0x%" PRIx64 "..0x%" PRIx64 "); refusing to write there",
			      name, gva, s.addr, etext);
	*gpa = g->k->loc.text_gpa + (gva - g->k->loc.text_gva);
	return 0;
}

/* Record one finding (the first HVP_MAX_FINDINGS; all are counted).  With
 * @exp and @got (@len bytes each), expected/found show them whole when
 * they are 16 bytes or fewer, else the 16 from the first difference, and
 * @gpa/@gva move there. */
static void __attribute__((format(printf, 9, 10)))
finding(struct hvp_findings *f, bool blocking, const char *what, uint64_t gpa, uint64_t gva,
	const uint8_t *exp, const uint8_t *got, size_t len, const char *fmt, ...)
{
	struct hvp_finding *x;
	size_t k = 0, n;
	va_list ap;

	f->total++;
	f->blocking = f->blocking || blocking;
	if (f->n >= HVP_MAX_FINDINGS)
		return;
	x = &f->f[f->n++];
	memset(x, 0, sizeof(*x));
	snprintf(x->what, sizeof(x->what), "%s", what);
	if (exp && got && len) {
		while (len > 16 && k < len && exp[k] == got[k])
			k++;
		if (k == len)
			k = 0;
		n = len - k < 16 ? len - k : 16;
		hv_hex_encode(x->expected, sizeof(x->expected), exp + k, n);
		hv_hex_encode(x->found, sizeof(x->found), got + k, n);
	}
	x->gpa = gpa ? gpa + k : 0;
	x->gva = gva ? gva + k : 0;
	va_start(ap, fmt);
	vsnprintf(x->detail, sizeof(x->detail), fmt, ap);
	va_end(ap);
}

static void empty_state(struct hvp_state *st)
{
	memset(st, 0, sizeof(*st));
	st->active_slot = HVP_NO_SLOT;
}

/*
 * What hvpatch last left in this guest, from the ledger alone (the guest's
 * record is never believed): the record page of the newest operation
 * closed as done, when it belongs to this boot: *@page, decoded into
 * *@cur, *@have set.  Otherwise *@cur holds no level, and *@other_boot
 * says hvpatch last patched another boot of this domain.  The boot key
 * comes from the guest's page tables, so a guest could fake a new boot:
 * a site of that last level still holding hvpatch's jump says it did not
 * reboot (a blocking finding in @f).
 */
static int ledger_current(struct hvg *g, struct hvl_ledger *l, struct hvp_state *cur,
			  uint8_t page[HVP_STATE_BYTES], bool *have, bool *other_boot,
			  struct hvp_findings *f)
{
	char key[HVP_STATE_TEXT], hx[11];
	struct hvl_op op;
	uint8_t *data = NULL, now[5];
	uint64_t gpa = 0;
	size_t len = 0;
	uint32_t i;
	int r;

	*have = false;
	*other_boot = false;
	empty_state(cur);
	hvp_boot_key(g, key);
	r = hvl_last_write(l, g->info.uuid, RECORD_WHAT, &op, &gpa, &data, &len);
	if (r <= 0)
		goto out;
	if (len != HVP_STATE_BYTES || hvp_state_decode(data, len, cur) != 1) {
		hv_err_clear();
		r = hv_err(HV_E_FORMAT,
			   "the ledger's patch-area record of operation %lld for %s is not a valid "
			   "record; the ledger is damaged (restore it from a backup)",
			   (long long)op.id, g->info.name);
		goto out;
	}
	r = 0;
	if (!strcmp(op.boot_key, key) && !strcmp(cur->boot_key, key)) {
		memcpy(page, data, HVP_STATE_BYTES);
		*have = true;
		goto out;
	}
	*other_boot = true;
	for (i = 0; cur->active_slot != HVP_NO_SLOT && i < cur->nsites; i++) {
		const struct hvp_site *s = &cur->sites[i];

		if (hva_read_phys(g->h, s->site_gpa, now, 5) < 0) {
			hv_err_clear(); /* not guest RAM any more: a different machine */
			continue;
		}
		if (memcmp(now, s->jmp, 5) != 0)
			continue;
		hv_hex_encode(hx, sizeof(hx), now, 5);
		finding(f, true, "boot", s->site_gpa, s->site_gva, NULL, NULL, 0,
			"the guest did not reboot, yet its page tables give a new boot key "
			"(%.40s): the site of %.63s still holds the jump (%s) that level %.63s "
			"wrote in boot %.40s, so the guest hides its patch level",
			key, s->name, hx, cur->level, op.boot_key);
	}
	empty_state(cur);
out:
	free(data);
	return r;
}

/* Name the first field of the record @now that differs from the ledger's @want. */
static void record_finding(uint64_t gpa, const uint8_t *want_page, const uint8_t *now,
			   struct hvp_findings *f)
{
	struct hvp_state want, gs;
	char d[200], a[11], b[11];
	uint32_t i;
	int r;

	d[0] = '\0';
	if (hvp_state_decode(want_page, HVP_STATE_BYTES, &want) != 1)
		hv_err_clear();
	r = hvp_state_decode(now, HVP_STATE_BYTES, &gs);
	if (r < 0) {
		hv_err_clear();
		snprintf(d, sizeof(d), "it is no longer a valid record");
	} else if (r == 0) {
		snprintf(d, sizeof(d), "it no longer holds a record (no magic)");
	} else if (strcmp(want.level, gs.level)) {
		snprintf(d, sizeof(d), "level: the ledger says '%.63s', the record says '%.63s'",
			 want.level, gs.level);
	} else if (strcmp(want.patch_id, gs.patch_id)) {
		snprintf(d, sizeof(d), "patch id: the ledger says '%.63s', the record says '%.63s'",
			 want.patch_id, gs.patch_id);
	} else if (want.nsites != gs.nsites) {
		snprintf(d, sizeof(d), "site count: the ledger says %u, the record says %u",
			 want.nsites, gs.nsites);
	} else if (want.active_slot != gs.active_slot) {
		snprintf(d, sizeof(d),
			 "slot in use: the ledger says 0x%x, the record says 0x%x (0xffffffff: "
			 "none)",
			 want.active_slot, gs.active_slot);
	} else if (want.pd_index != gs.pd_index || want.pde != gs.pde) {
		snprintf(d, sizeof(d),
			 "page-directory entry: the ledger says %u (0x%" PRIx64 "), the record "
			 "says %u (0x%" PRIx64 ")",
			 want.pd_index, want.pde, gs.pd_index, gs.pde);
	} else {
		for (i = 0; i < gs.nsites && !d[0]; i++) {
			const struct hvp_site *w = &want.sites[i], *x = &gs.sites[i];

			if (w->site_gva != x->site_gva || w->site_gpa != x->site_gpa)
				snprintf(d, sizeof(d), "the address of site %.63s", w->name);
			else if (memcmp(w->orig, x->orig, 5)) {
				hv_hex_encode(a, sizeof(a), w->orig, 5);
				hv_hex_encode(b, sizeof(b), x->orig, 5);
				snprintf(d, sizeof(d),
					 "the saved original bytes of site %.63s: the ledger says "
					 "%s, "
					 "the record says %s",
					 w->name, a, b);
			} else if (memcmp(w->jmp, x->jmp, 5) || w->target_gva != x->target_gva)
				snprintf(d, sizeof(d), "the jump of site %.63s", w->name);
		}
		if (!d[0])
			snprintf(d, sizeof(d), "its bytes (boot key, time, flags or padding)");
	}
	finding(f, false, RECORD_WHAT, gpa, 0, want_page, now, HVP_STATE_BYTES,
		"the record differs from the one hvpatch wrote: %s", d);
}

/* Where a level's code may start in its slot. */
#define CODE_ALIGN 64u

/* ud2 (0f 0b), 8 times: what code of a module that is not loaded calls. */
#define HVP_TRAP_BYTES 16u

/* Modules a level's code names but that are not there: their symbols
 * resolve to the slot's trap (see plan_sections()). */
#define MAX_ABSENT 16
struct resolve_ctx {
	struct hvg *g;
	struct hvp_mods *mods;
	uint64_t trap;
	unsigned nabsent;
	char absent[MAX_ABSENT][HVB_MAX_MODULE_NAME + 1];
};

static int resolve_ksym(void *ctx, const struct hvb_bundle *b, size_t i, uint64_t *value);
static int plan_sections(const struct hvb_bundle *b, const struct hvp_layout *lay, uint32_t slot,
			 uint32_t code_offset, uint64_t *sec_addr, uint64_t *trap);
static int resolve_targets(struct resolve_ctx *rc, const struct hvb_bundle *b,
			   const struct hvp_state *applied, uint64_t *target_addr, bool *pending);
static bool bundle_names_modules(const struct hvb_bundle *b);

static bool is_absent(const struct resolve_ctx *rc, const char *module)
{
	unsigned i;

	for (i = 0; i < rc->nabsent; i++)
		if (!strcmp(rc->absent[i], module))
			return true;
	return false;
}

static int add_absent(struct resolve_ctx *rc, const char *module)
{
	if (is_absent(rc, module))
		return 0;
	if (rc->nabsent == MAX_ABSENT)
		return hv_err(HV_E_RANGE, "a level may name at most %d modules that are not loaded",
			      MAX_ABSENT);
	snprintf(rc->absent[rc->nabsent++], sizeof(rc->absent[0]), "%s", module);
	return 0;
}

/* Whether @st has a site in module @module. */
static bool state_has_module(const struct hvp_state *st, const char *module)
{
	char m[HVB_MAX_MODULE_NAME + 1];
	uint32_t i;

	for (i = 0; i < st->nsites; i++)
		if (hvp_site_module(st->sites[i].name, m) && !strcmp(m, module))
			return true;
	return false;
}

/*
 * Whether module @module, whose functions @cur patched, is no longer the
 * module patched: unloaded, going, or its sites no longer where they were,
 * or holding their original bytes (reloaded in place).  Reads the guest.
 */
static bool module_gone(struct hvg *g, struct hvp_mods *mods, const struct hvp_state *cur,
			const char *module)
{
	char m[HVB_MAX_MODULE_NAME + 1];
	uint8_t now[5];
	uint64_t gpa;
	uint32_t i;

	if (hvp_mods_open(g, mods) < 0) {
		hv_err_clear();
		return false; /* cannot tell: treat as there (a site check follows) */
	}
	for (i = 0; i < cur->nsites; i++) {
		const struct hvp_site *s = &cur->sites[i];

		if (!hvp_site_module(s->name, m) || strcmp(m, module) != 0)
			continue;
		if (hvp_mods_site(mods, module, s->name, s->site_gva, &gpa) < 0 ||
		    gpa != s->site_gpa || hva_read_phys(mods->g->h, gpa, now, 5) < 0 ||
		    (memcmp(now, s->orig, 5) == 0 && memcmp(now, s->jmp, 5) != 0)) {
			hv_err_clear();
			return true;
		}
	}
	return false;
}

/*
 * The code of the level's slot, recomputed from the ledger's copy of its
 * bundle (placed and relocated as apply did), against the guest's bytes;
 * and the sites the bundle gives against the ledger's record.  Data
 * sections are not compared: the patch's own code writes them.
 */
static int verify_slot(struct hvg *g, struct hvl_ledger *l, const struct hvp_state *cur,
		       const struct hvp_layout *lay, struct hvp_mods *mods, struct hvp_findings *f)
{
	uint64_t sec_addr[HVB_MAX_SECTIONS], target_addr[HVP_STATE_MAX_SITES], trap = 0;
	bool pending[HVP_STATE_MAX_SITES];
	struct hvb_patched patched = { 0, NULL };
	struct hvb_placement pl = { sec_addr, target_addr };
	struct resolve_ctx rc;
	struct hvb_bundle *b = NULL;
	uint8_t *bytes = NULL, *now = NULL, sha[32], jmp[5];
	uint32_t i, j, slot = cur->active_slot, npending = 0;
	char shahex[65], what[96], mod[HVB_MAX_MODULE_NAME + 1];
	size_t len = 0, k;
	int r;

	memset(&rc, 0, sizeof(rc));
	rc.g = g;
	rc.mods = mods;
	hv_hex_encode(shahex, sizeof(shahex), cur->bundle_sha256, 32);
	r = hvl_bundle_get(l, shahex, &bytes, &len);
	if (r == 0)
		r = hvb_sha256(bytes, len, sha);
	if (r == 0 && memcmp(sha, cur->bundle_sha256, 32) != 0)
		r = hv_err(HV_E_VERIFY, "the ledger's copy of bundle %s does not hash to its name",
			   shahex);
	if (r == 0)
		r = hvb_parse(bytes, len, &b);
	if (r == 0 && (b->nreplacements > HVP_STATE_MAX_SITES || slot >= HVP_SLOTS))
		r = hv_err(HV_E_FORMAT, "the ledger's record of level %s does not match its bundle",
			   cur->level);
	if (r == 0 && bundle_names_modules(b))
		r = hvp_mods_open(g, mods);
	if (r == 0)
		r = plan_sections(b, lay, slot, cur->code_offset, sec_addr, &trap);
	rc.trap = trap;
	/* Modules whose functions the level patched but that went away since
	 * (or came back elsewhere): their code in the slot is dead, and the
	 * relocations to them cannot be recomputed. */
	for (i = 0; r == 0 && i < cur->nsites; i++)
		if (hvp_site_module(cur->sites[i].name, mod) && module_gone(g, mods, cur, mod))
			r = add_absent(&rc, mod);
	if (r == 0)
		r = resolve_targets(&rc, b, cur, target_addr, pending);
	/* Pending at apply (no site), not gone since (a site in the record). */
	for (i = 0; r == 0 && i < b->nreplacements; i++)
		npending += pending[i] &&
			    !(hvb_sym_module(b->replacements[i].target, mod, sizeof(mod), NULL) &&
			      state_has_module(cur, mod));
	if (r == 0 && b->nreplacements != cur->nsites + npending)
		r = hv_err(HV_E_FORMAT,
			   "the ledger's record of level %s does not match its bundle (%zu "
			   "functions, %u sites, %u pending)",
			   cur->level, b->nreplacements, cur->nsites, npending);
	if (r == 0)
		r = hvb_apply_relocs_ksym(b, &pl, resolve_ksym, &rc, &patched);
	if (r < 0) {
		r = hv_err_prefix("recomputing level %s from the ledger's bundle", cur->level);
		goto out;
	}
	for (i = 0; i < b->nsections; i++) {
		const struct hvb_section *s = &b->sections[i];
		uint64_t gpa = lay->slot[slot].code_gpa + (sec_addr[i] - lay->slot[slot].code_gva);

		if (!s->exec || !s->size_bytes)
			continue;
		free(now);
		now = malloc(s->size_bytes);
		if (!now) {
			r = hv_err(HV_E_NOMEM, "out of memory comparing the patch-area slot");
			goto out;
		}
		r = hva_read_phys(g->h, gpa, now, s->size_bytes);
		if (r < 0)
			goto out;
		/* Fields that point into a module that went away: not recomputable. */
		for (k = 0; k < b->nrelocs; k++) {
			const struct hvb_reloc *x = &b->relocs[k];
			size_t w = hvb_reloc_width(x->type);

			if (x->section == i && x->kind == HVB_TGT_KSYM &&
			    hvb_sym_module(x->symbol, mod, sizeof(mod), NULL) &&
			    is_absent(&rc, mod) && x->offset <= s->size_bytes &&
			    s->size_bytes - x->offset >= w)
				memcpy(patched.bytes[i] + x->offset, now + x->offset, w);
		}
		if (memcmp(now, patched.bytes[i], s->size_bytes) != 0) {
			snprintf(what, sizeof(what), "slot %u section %.40s", slot, s->name);
			finding(f, false, what, gpa, sec_addr[i], patched.bytes[i], now,
				s->size_bytes,
				"the code level %.63s runs differs from its bundle (recomputed "
				"from the ledger's copy)",
				cur->level);
		}
	}
	for (i = 0, j = 0; i < b->nreplacements; i++) {
		const struct hvb_replacement *rp = &b->replacements[i];
		const struct hvp_site *s;

		if (pending[i] && !(hvb_sym_module(rp->target, mod, sizeof(mod), NULL) &&
				    state_has_module(cur, mod)))
			continue; /* no site: its module was not there */
		s = &cur->sites[j++];
		if (pending[i])
			continue; /* its module went away: status says so */
		if (hvp_encode_jmp(target_addr[i], sec_addr[rp->section] + rp->offset, jmp) < 0 ||
		    target_addr[i] != s->site_gva || memcmp(jmp, s->jmp, 5) != 0) {
			hv_err_clear();
			snprintf(what, sizeof(what), "site %.63s", s->name);
			finding(f, true, what, s->site_gpa, s->site_gva, s->jmp, jmp, 5,
				"the guest's symbols no longer give the site and jump the ledger "
				"recorded for level %.63s (its kallsyms changed)",
				cur->level);
		}
	}
	r = 0;
out:
	free(now);
	free(bytes);
	hvb_patched_free(&patched);
	hvb_free(b);
	return r;
}

/*
 * Compare the guest with what the ledger says hvpatch left there (@cur,
 * decoded from the record page @page): the record, where the patch area
 * is, the page-directory entry mapping it, its page table, the code of the
 * level's slot and every site's jump.  Each difference is a finding in
 * @f; the return value is 0 or an error reading the guest or the ledger.
 */
static int verify_guest(struct hvg *g, struct hvl_ledger *l, const struct hvp_state *cur,
			const uint8_t page[HVP_STATE_BYTES], struct hvp_mods *mods,
			struct hvp_findings *f)
{
	char mod[HVB_MAX_MODULE_NAME + 1];
	uint8_t now[HVP_STATE_BYTES], jmp_now[5];
	uint64_t ptes[512], gpt[512], pde = 0, want_gpa = 0;
	struct hvp_layout lay;
	char what[96];
	uint32_t i;
	int r;

	r = hva_read_phys(g->h, g->info.area_gpa, now, sizeof(now));
	if (r < 0)
		return hv_err_prefix("reading the patch-area record");
	if (memcmp(now, page, sizeof(now)) != 0)
		record_finding(g->info.area_gpa, page, now, f);
	r = hvp_layout_plan(g->info.area_gpa, g->info.area_size, cur->pd_index, &lay);
	if (r < 0)
		return r;
	if (hvp_layout_pde(&lay) != cur->pde)
		finding(f, true, "patch area", g->info.area_gpa, 0, NULL, NULL, 0,
			"the patch area is now at guest-physical 0x%" PRIx64
			", not where the ledger's level mapped it (page-directory entry 0x%" PRIx64
			")",
			g->info.area_gpa, cur->pde);
	r = hva_read_phys(g->h, g->k->loc.l2_gpa + 8ull * cur->pd_index, &pde, 8);
	if (r < 0)
		return r;
	if (pde != cur->pde) {
		snprintf(what, sizeof(what), "page-directory entry %u", cur->pd_index);
		finding(f, true, what, g->k->loc.l2_gpa + 8ull * cur->pd_index,
			hvi_l2_entry_gva(cur->pd_index), (const uint8_t *)&cur->pde,
			(const uint8_t *)&pde, 8,
			"the entry that maps the patch area at 0x%" PRIx64 " holds 0x%" PRIx64
			", not 0x%" PRIx64,
			hvi_l2_entry_gva(cur->pd_index), pde, cur->pde);
	}
	hvp_layout_ptes(&lay, ptes);
	r = hva_read_phys(g->h, lay.pt_gpa, gpt, sizeof(gpt));
	if (r < 0)
		return r;
	for (i = 0; i < 512; i++)
		if (gpt[i] != ptes[i]) {
			finding(f, false, "patch-area page table", lay.pt_gpa + 8ull * i,
				lay.window_gva + (uint64_t)i * HVP_PAGE, (const uint8_t *)&ptes[i],
				(const uint8_t *)&gpt[i], 8,
				"entry %u (mapping 0x%" PRIx64 ") holds 0x%" PRIx64
				", not 0x%" PRIx64,
				i, lay.window_gva + (uint64_t)i * HVP_PAGE, gpt[i], ptes[i]);
			break;
		}
	if (cur->active_slot != HVP_NO_SLOT) {
		r = verify_slot(g, l, cur, &lay, mods, f);
		if (r < 0)
			return r;
	}
	for (i = 0; i < cur->nsites; i++) {
		const struct hvp_site *s = &cur->sites[i];

		snprintf(what, sizeof(what), "site %.63s", s->name);
		if (hvp_site_module(s->name, mod)) {
			/* A module that went away took the site with it (status
			 * says so); one still there must hold the jump. */
			if (module_gone(g, mods, cur, mod))
				continue;
		} else if (site_check(g, s->name, s->site_gva, &want_gpa) < 0 ||
			   want_gpa != s->site_gpa) {
			finding(f, true, what, s->site_gpa, s->site_gva, NULL, NULL, 0,
				"the kernel image no longer lies where level %.63s patched it: "
				"%.150s",
				cur->level,
				hv_err_last()->code ? hv_err_last()->msg : "the site moved");
			hv_err_clear();
			continue;
		}
		r = hva_read_phys(g->h, s->site_gpa, jmp_now, 5);
		if (r < 0)
			return r;
		if (memcmp(jmp_now, s->jmp, 5) != 0)
			finding(f, true, what, s->site_gpa, s->site_gva, s->jmp, jmp_now, 5,
				"drift or tampering: the site no longer holds hvpatch's jump (%s)",
				!memcmp(jmp_now, s->orig, 5) ? "it holds its original bytes again"
							     : "it holds other bytes");
	}
	return 0;
}

/* The error refusing an operation on a guest with blocking findings. */
static int refuse_findings(const struct hvg *g, const char *kind, const struct hvp_findings *f)
{
	const struct hvp_finding *x = &f->f[0];
	unsigned i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->f[i].what, RECORD_WHAT) &&
		    strcmp(f->f[i].what, "patch-area page table") &&
		    strncmp(f->f[i].what, "slot ", 5)) {
			x = &f->f[i];
			break;
		}
	return hv_err(HV_E_VERIFY,
		      "%s refused: %s does not hold what the ledger says hvpatch left there "
		      "(%u difference%s; %s at 0x%" PRIx64 "%s%s%s%s: %s); see 'hvpatch status %s'",
		      kind, g->info.name, f->total, f->total == 1 ? "" : "s", x->what, x->gpa,
		      x->expected[0] ? ": expected " : "", x->expected,
		      x->found[0] ? ", found " : "", x->found, x->detail, g->info.name);
}

/*
 * The value of a kernel-symbol relocation in this guest: the rule
 * "hvpatch build --vmlinux" also applies (hvb_reloc.h), so build refuses
 * first what apply would refuse, in the same words.  Per-cpu symbols give
 * their per-cpu offset to absolute kinds; PC-relative kinds are refused.
 */
static int resolve_ksym(void *ctx, const struct hvb_bundle *b, size_t i, uint64_t *value)
{
	const struct resolve_ctx *rc = ctx;
	struct hvb_symsrc src = { rc->g->k->syms, hvp_mods_lookup, rc->mods, NULL };
	char mod[HVB_MAX_MODULE_NAME + 1];

	if (i < b->nrelocs && b->relocs[i].kind == HVB_TGT_KSYM &&
	    hvb_sym_module(b->relocs[i].symbol, mod, sizeof(mod), NULL) && is_absent(rc, mod)) {
		/* Code only that module's sites lead to: never run while the
		 * module is not there; if it ever ran, ud2 stops it. */
		*value = rc->trap;
		return 0;
	}
	return hvb_reloc_sym(&src, b, i, value);
}

static bool bundle_names_modules(const struct hvb_bundle *b)
{
	char mod[HVB_MAX_MODULE_NAME + 1];
	size_t i;

	for (i = 0; i < b->nreplacements; i++)
		if (hvb_sym_module(b->replacements[i].target, mod, sizeof(mod), NULL))
			return true;
	for (i = 0; i < b->nrelocs; i++)
		if (b->relocs[i].kind == HVB_TGT_KSYM &&
		    hvb_sym_module(b->relocs[i].symbol, mod, sizeof(mod), NULL))
			return true;
	return false;
}

static const struct hvp_site *find_site(const struct hvp_state *st, uint64_t gva)
{
	uint32_t i;

	for (i = 0; i < st->nsites; i++)
		if (st->sites[i].site_gva == gva)
			return &st->sites[i];
	return NULL;
}

/*
 * Step 1 of a plan: where the patch area sits in the kernel-image page
 * directory (the entry the current level uses, or a free one after the
 * image), its layout, and the slot the new level goes to (the one not in
 * use).  @l2 receives the page directory as read now.
 */
static int plan_window(struct hvg *g, const struct hvp_state *cur, uint64_t l2[512],
		       struct hvp_layout *lay, uint32_t *pd_index, uint32_t *slot)
{
	int r;

	r = hva_read_phys(g->h, g->k->loc.l2_gpa, l2, 512 * sizeof(uint64_t));
	if (r < 0)
		return hv_err_prefix("reading the kernel-image page directory");
	if (cur->active_slot != HVP_NO_SLOT) {
		*pd_index = cur->pd_index;
	} else {
		r = hvp_layout_plan(g->info.area_gpa, g->info.area_size, 0, lay);
		if (r < 0)
			return r;
		/* Leave one empty entry after the image: the kernel's image is
		 * found as the run of present entries, which must not grow to
		 * include the patch area. */
		r = hvp_layout_pick_pd(l2, g->k->loc.end_index + 1, hvp_layout_pde(lay));
		if (r < 0)
			return hv_err(
				HV_E_NOTFOUND,
				"the kernel-image region of %s has no free page-directory entry "
				"after the kernel for the patch area",
				g->info.name);
		*pd_index = (uint32_t)r;
		if (l2[*pd_index] == 0 && !hvi_l2_entry_free(&g->k->loc, *pd_index))
			return hv_err(HV_E_STATE, "page-directory entry %u changed while planning",
				      *pd_index);
	}
	r = hvp_layout_plan(g->info.area_gpa, g->info.area_size, *pd_index, lay);
	if (r < 0)
		return r;
	*slot = cur->active_slot == 0 ? 1 : 0;
	return 0;
}

/*
 * Step 2: place the bundle's sections in the slot, code in its RX pages,
 * everything else in its RW+NX pages; @sec_addr receives each section's
 * address in the guest.
 */
static int plan_sections(const struct hvb_bundle *b, const struct hvp_layout *lay, uint32_t slot,
			 uint32_t code_offset, uint64_t *sec_addr, uint64_t *trap)
{
	uint64_t code_off = code_offset, data_off = 0;
	uint32_t i;

	for (i = 0; i < b->nsections; i++) {
		const struct hvb_section *s = &b->sections[i];
		uint64_t *off = s->exec ? &code_off : &data_off;
		uint64_t limit = s->exec ? lay->slot[slot].code_size : lay->slot[slot].data_size;
		uint64_t a = s->align_bytes ? s->align_bytes : 1;

		*off = (*off + a - 1) & ~(a - 1);
		if (s->size_bytes > limit || *off > limit - s->size_bytes)
			return hv_err(
				HV_E_RANGE,
				"bundle %s does not fit in a patch-area slot: its %s sections "
				"need more than %" PRIu64 " KiB",
				b->patch_id, s->exec ? "code" : "data", limit / 1024);
		sec_addr[i] =
			(s->exec ? lay->slot[slot].code_gva : lay->slot[slot].data_gva) + *off;
		*off += s->size_bytes;
	}
	/* After the code: a trap, the value of symbols of modules that are not
	 * loaded (plan_writes() writes it when a replacement is pending). */
	code_off = (code_off + HVP_TRAP_BYTES - 1) & ~(uint64_t)(HVP_TRAP_BYTES - 1);
	if (code_off > lay->slot[slot].code_size - HVP_TRAP_BYTES)
		return hv_err(HV_E_RANGE,
			      "bundle %s does not fit in a patch-area slot: its code sections "
			      "leave no room for the %u-byte trap after them",
			      b->patch_id, HVP_TRAP_BYTES);
	*trap = lay->slot[slot].code_gva + code_off;
	return 0;
}

/*
 * Step 3: the address of each function the bundle replaces: a function of
 * the running kernel, or of a loaded module.  A replacement of a function
 * of a module that is not loaded is pending (*@pending[i]): it gets no
 * site, and its original-body calls and the module's symbols resolve to
 * the slot's trap.  Planning (@applied NULL) asks the guest's module list;
 * recomputing a level (@applied: its record) takes the modules it had
 * sites in as the ones that were there, and those in rc->absent (gone
 * since) as not.
 */
static int resolve_targets(struct resolve_ctx *rc, const struct hvb_bundle *b,
			   const struct hvp_state *applied, uint64_t *target_addr, bool *pending)
{
	struct hvb_symsrc src = { rc->g->k->syms, hvp_mods_lookup, rc->mods, NULL };
	char mod[HVB_MAX_MODULE_NAME + 1];
	struct hvb_target_addr t;
	uint32_t i;
	int r;

	for (i = 0; i < b->nreplacements; i++) {
		pending[i] = false;
		if (hvb_sym_module(b->replacements[i].target, mod, sizeof(mod), NULL) &&
		    (is_absent(rc, mod) ||
		     (applied ? !state_has_module(applied, mod) : !hvp_mods_find(rc->mods, mod)))) {
			pending[i] = true;
			target_addr[i] = rc->trap - HVB_ORIG_BODY_OFFSET;
			r = add_absent(rc, mod);
			if (r < 0)
				return r;
			continue;
		}
		/* The rule "hvpatch build --vmlinux" applies too (hvb_reloc.h). */
		r = hvb_target_resolve(&src, b, i, &t);
		if (r < 0)
			return r;
		target_addr[i] = t.addr;
	}
	return 0;
}

/*
 * Where the entry of kernel function @name (@gva) is, guest-physical: the
 * page walk must give one run of 5 bytes inside the kernel's text, where
 * the kernel image's layout puts it.
 */
static int kernel_site(struct hvg *g, const char *name, uint64_t gva, uint64_t *gpa)
{
	uint64_t gpa4, want_gpa = 0;
	unsigned perms;
	int r;

	r = hvi_translate(&g->k->pg, gva, gpa, &perms);
	if (r == 0)
		r = hvi_translate(&g->k->pg, gva + 4, &gpa4, &perms);
	if (r == 0 && gpa4 != *gpa + 4)
		r = hv_err(HV_E_UNSUPPORTED, "the entry of %s straddles two physical pages", name);
	if (r == 0)
		r = site_check(g, name, gva, &want_gpa);
	if (r == 0 && want_gpa != *gpa)
		r = hv_err(HV_E_VERIFY,
			   "the guest's page tables map the entry of %s (0x%" PRIx64
			   ") at guest-physical 0x%" PRIx64 ", not at 0x%" PRIx64
			   " where the kernel image lies; hvpatch writes only into the "
			   "kernel's own text",
			   name, gva, *gpa, want_gpa);
	return r;
}

/*
 * Step 4: the sites of the new level: each function entry, its physical
 * address, its jump, and what it must hold now (the jump of the current
 * level for a function already patched, else the ftrace NOP).
 */
static int plan_sites(struct hvg *g, struct hvp_mods *mods, const struct hvb_bundle *b,
		      const struct hvp_state *cur, const uint64_t *target_addr, const bool *pending,
		      const uint64_t *sec_addr, struct hvp_state *to)
{
	char mod[HVB_MAX_MODULE_NAME + 1];
	uint32_t i;
	int r;

	for (i = 0; i < b->nreplacements; i++) {
		const struct hvb_replacement *rp = &b->replacements[i];
		struct hvp_site *site = &to->sites[to->nsites];
		const struct hvp_site *old = find_site(cur, target_addr[i]);
		const uint8_t *want = old ? old->jmp : hvp_ftrace_nop;
		uint8_t now[5];
		char hx[11];

		if (pending[i])
			continue;
		memset(site, 0, sizeof(*site));
		site->site_gva = target_addr[i];
		site->target_gva = sec_addr[rp->section] + rp->offset;
		snprintf(site->name, sizeof(site->name), "%s", rp->target);
		if (hvb_sym_module(rp->target, mod, sizeof(mod), NULL))
			/* In a module: its live core text, wherever its pages are. */
			r = hvp_mods_site(mods, mod, rp->target, site->site_gva, &site->site_gpa);
		else
			r = kernel_site(g, rp->target, site->site_gva, &site->site_gpa);
		if (r < 0)
			return hv_err_prefix("site of %s", rp->target);
		r = hvp_encode_jmp(site->site_gva, site->target_gva, site->jmp);
		if (r < 0)
			return r;
		r = hva_read_phys(g->h, site->site_gpa, now, 5);
		if (r < 0)
			return r;
		if (memcmp(now, want, 5) != 0) {
			hv_hex_encode(hx, sizeof(hx), now, 5);
			if (old)
				return hv_err(HV_E_VERIFY,
					      "the site of %s holds %s, not the jump hvpatch wrote "
					      "(drift: the guest changed it); see 'hvpatch status'",
					      rp->target, hx);
			return hv_err(
				HV_E_VERIFY,
				"the entry of %s holds %s, not the ftrace NOP 0f1f440000: the "
				"guest traces, probes or patches it itself, so hvpatch will not "
				"touch it",
				rp->target, hx);
		}
		memcpy(site->orig, old ? old->orig : now, 5);
		to->nsites++;
	}
	return 0;
}

/* Step 5: every site of the current level that the new one drops must
 * still hold hvpatch's jump (it gets its original bytes back). */
static int check_dropped_sites(struct hvg *g, const struct hvp_state *cur,
			       const struct hvp_state *to)
{
	uint32_t i;
	int r;

	for (i = 0; i < cur->nsites; i++) {
		const struct hvp_site *s = &cur->sites[i];
		uint8_t now[5];

		if (find_site(to, s->site_gva))
			continue;
		r = hva_read_phys(g->h, s->site_gpa, now, 5);
		if (r < 0)
			return r;
		if (memcmp(now, s->jmp, 5) != 0)
			return hv_err(
				HV_E_VERIFY,
				"the site of %s no longer holds the jump hvpatch wrote (drift); "
				"see 'hvpatch status'",
				s->name);
	}
	return 0;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	unsigned i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * Plan giving the ftrace record @rec of function @name the flags @flags.
 * The span from ip to flags is written as one, so the pause checks the ip
 * as well as the flags: a record that moved meanwhile (the kernel compacts
 * its arrays when it frees init or module code) is refused, never written
 * over.
 */
static int ftrace_write_plan(struct hvg *g, const struct hvi_ftrace_layout *l,
			     const struct hvi_ftrace_rec *rec, uint64_t flags, const char *name,
			     struct ftrace_write *fw)
{
	uint32_t lo = l->rec_ip < l->rec_flags ? l->rec_ip : l->rec_flags;
	uint32_t hi = (l->rec_ip > l->rec_flags ? l->rec_ip : l->rec_flags) + 8;
	uint64_t gpa_end = 0;
	unsigned perms;
	int r;

	memset(fw, 0, sizeof(*fw));
	fw->ip = rec->ip;
	snprintf(fw->name, sizeof(fw->name), "%s", name);
	snprintf(fw->what, sizeof(fw->what), FTRACE_WHAT "%s (%s FTRACE_FL_DISABLED)", name,
		 flags & l->fl_disabled ? "set" : "clear");
	if (hi - lo > FTRACE_SPAN_MAX)
		return hv_err(HV_E_UNSUPPORTED,
			      "the guest's struct dyn_ftrace has ip and flags %u bytes apart; "
			      "hvpatch writes at most %u",
			      hi - lo, FTRACE_SPAN_MAX);
	fw->len = hi - lo;
	r = hvi_translate(&g->k->pg, rec->gva + lo, &fw->gpa, &perms);
	if (r == 0)
		r = hvi_translate(&g->k->pg, rec->gva + hi - 1, &gpa_end, &perms);
	if (r == 0 && gpa_end != fw->gpa + fw->len - 1)
		r = hv_err(HV_E_UNSUPPORTED, "the ftrace record of %s straddles two physical pages",
			   name);
	if (r == 0)
		r = hva_read_phys(g->h, fw->gpa, fw->old, fw->len);
	if (r < 0)
		return hv_err_prefix("the ftrace record of %s at 0x%" PRIx64, name, rec->gva);
	if (get_le64(fw->old + (l->rec_ip - lo)) != rec->ip ||
	    get_le64(fw->old + (l->rec_flags - lo)) != rec->flags)
		return hv_err(HV_E_VERIFY,
			      "the ftrace record of %s changed while hvpatch read it (the guest is "
			      "changing its tracing); nothing was changed, try again",
			      name);
	memcpy(fw->new_bytes, fw->old, fw->len);
	put_le64(fw->new_bytes + (l->rec_flags - lo), flags);
	return 0;
}

/*
 * What changing the guest's ftrace records needs: the layout and flag
 * values (from the kernel's BTF: milliseconds, so before the pause) in
 * ft->lay, the addresses of ftrace_lock, ftrace_ops_list and
 * ftrace_list_end, and *@pages_start (ftrace_pages_start).
 */
static int ftrace_context(struct hvg *g, struct ftrace_plan *ft, uint64_t *pages_start)
{
	static const char *const syms[] = { "ftrace_pages_start", "ftrace_lock", "ftrace_ops_list",
					    "ftrace_list_end" };
	uint64_t *addr[] = { pages_start, &ft->lock_gva, &ft->ops_list, &ft->list_end };
	struct hvi_btf *btf = NULL;
	struct hvi_sym sym;
	uint64_t t0 = hv_mono_us();
	size_t k;
	int r;

	r = hvi_btf_open(g->k, &btf);
	if (r == 0)
		r = hvi_ftrace_layout_from_btf(btf, &ft->lay);
	hvi_btf_free(btf);
	if (r < 0)
		return hv_err_prefix("taking patched functions out of the guest's ftrace (and "
				     "giving them back) needs its kernel's BTF");
	ft->btf_us = hv_mono_us() - t0;
	for (k = 0; k < sizeof(syms) / sizeof(syms[0]); k++) {
		r = hvi_sym_lookup(g->k->syms, syms[k], &sym);
		if (r == 0 && sym.absolute)
			r = hv_err(HV_E_FORMAT, "the guest's %s is not an address", syms[k]);
		if (r < 0)
			return hv_err_prefix("the guest's ftrace");
		*addr[k] = sym.addr;
	}
	return 0;
}

/*
 * Step 5b: the guest's ftrace.  Every site of the new level that hvpatch
 * has not already taken out of ftrace gets FTRACE_FL_DISABLED set on its
 * record (when the record has no flags at all; a record the kernel itself
 * disabled is left alone, and a function with no record is not ftrace's);
 * any other flags mean the guest traces it or a tracer counts it, and the
 * plan is refused.  Every site the level drops whose flag hvpatch set gets
 * it cleared.  The layout comes from the kernel's BTF, the records are
 * found here, before the pause, and their old bytes are checked in it.
 */
static int plan_ftrace(struct hvg *g, struct plan *p, const struct hvp_state *cur, bool guard)
{
	struct hvp_state *to = &p->to;
	struct ftrace_plan *ft = &p->ft;
	uint64_t ips[2 * HVP_STATE_MAX_SITES], pages_start = 0, t0;
	struct hvi_ftrace_rec recs[2 * HVP_STATE_MAX_SITES];
	int which[2 * HVP_STATE_MAX_SITES]; /* i: to->sites[i]; -1 - i: cur->sites[i] */
	size_t n = 0, k;
	uint32_t i;
	int r;

	for (i = 0; i < to->nsites; i++) {
		const struct hvp_site *old = find_site(cur, to->sites[i].site_gva);

		if (old && (old->flags & HVP_SITE_FTRACE_OFF))
			to->sites[i].flags |= HVP_SITE_FTRACE_OFF; /* stays out */
		else if (guard) {
			ips[n] = to->sites[i].site_gva;
			which[n++] = (int)i;
		}
	}
	for (i = 0; i < cur->nsites; i++)
		if ((cur->sites[i].flags & HVP_SITE_FTRACE_OFF) &&
		    !find_site(to, cur->sites[i].site_gva)) {
			ips[n] = cur->sites[i].site_gva;
			which[n++] = -1 - (int)i;
		}
	if (n == 0)
		return 0;
	r = ftrace_context(g, ft, &pages_start);
	if (r < 0)
		return r;
	t0 = hv_mono_us();
	r = hvi_ftrace_find(&g->k->pg, &ft->lay, pages_start, ips, n, recs, &ft->cost);
	if (r < 0)
		return hv_err_prefix("looking up the ftrace records of the patched functions");
	ft->find_us = hv_mono_us() - t0;
	for (k = 0; k < n; k++) {
		bool set = which[k] >= 0;
		struct hvp_site *site = set ? &to->sites[which[k]] : NULL;
		const char *name = set ? site->name : cur->sites[-1 - which[k]].name;
		uint64_t flags = recs[k].flags, dis = ft->lay.fl_disabled;

		/* No record: ftrace does not know the function.  No flags (when
		 * restoring): nothing left to clear. */
		if (!recs[k].gva || (!set && flags == 0))
			continue;
		if (set && flags == dis)
			continue; /* the kernel's own: not hvpatch's to clear later */
		if (set && flags != 0)
			return hv_err(HV_E_VERIFY,
				      "the ftrace record of %s has flags 0x%" PRIx64 ": the guest "
				      "traces the function, or a tracer, probe or livepatch holds "
				      "it; hvpatch will not take it out of the guest's ftrace, so "
				      "nothing was changed",
				      name, flags);
		if (!set && flags != dis)
			return hv_err(
				HV_E_VERIFY,
				"the ftrace record of %s has flags 0x%" PRIx64 ", not the "
				"FTRACE_FL_DISABLED hvpatch left there: the guest changed it, "
				"so hvpatch will not give the function back to ftrace (nothing "
				"was changed)",
				name, flags);
		if (set) {
			r = ftrace_write_plan(g, &ft->lay, &recs[k], flags | dis, name,
					      &ft->set[ft->nset]);
			if (r < 0)
				return r;
			ft->nset++;
			site->flags |= HVP_SITE_FTRACE_OFF;
		} else {
			r = ftrace_write_plan(g, &ft->lay, &recs[k], flags & ~dis, name,
					      &ft->clear[ft->nclear]);
			if (r < 0)
				return r;
			ft->nclear++;
		}
	}
	ft->active = ft->nset + ft->nclear > 0;
	return 0;
}

/* Add the planned ftrace record write @fw; its old bytes must still be what
 * plan_ftrace() read. */
static int plan_add_ftrace(struct hvg *g, struct plan *p, const struct ftrace_write *fw)
{
	size_t n0 = p->n;
	int r = plan_add(g, p, fw->gpa, fw->new_bytes, fw->len, 0, HVA_WF_DATA, fw->what);

	if (r == 0 && (p->n != n0 + 1 || memcmp(p->w[n0].old, fw->old, fw->len) != 0))
		r = hv_err(HV_E_VERIFY,
			   "the ftrace record of %s changed while hvpatch planned (the guest is "
			   "changing its tracing); nothing was changed, try again",
			   fw->name);
	return r;
}

/*
 * Step 6: the writes, in the order that keeps every intermediate state
 * safe (see the top of this file): slot sections, page table and
 * page-directory entry, record, ftrace flags set, the sites, ftrace flags
 * cleared.
 */
static int plan_writes(struct hvg *g, struct plan *p, const struct hvb_bundle *b,
		       const struct hvb_patched *patched, const struct hvp_layout *lay,
		       uint32_t slot, const uint64_t *sec_addr, const uint64_t l2[512],
		       const struct hvp_state *cur)
{
	struct hvp_state *to = &p->to;
	uint8_t page[HVP_STATE_BYTES];
	uint64_t ptes[512];
	char what[96];
	uint32_t i;
	int r;

	for (i = 0; b && i < b->nsections; i++) {
		const struct hvb_section *s = &b->sections[i];
		uint64_t gpa;

		if (!s->size_bytes)
			continue;
		gpa = (s->exec ? lay->slot[slot].code_gpa : lay->slot[slot].data_gpa) +
		      (sec_addr[i] -
		       (s->exec ? lay->slot[slot].code_gva : lay->slot[slot].data_gva));
		snprintf(what, sizeof(what), "slot %u section %s", slot, s->name);
		r = plan_add(g, p, gpa, patched->bytes[i], (uint32_t)s->size_bytes, 0,
			     s->exec ? 0 : HVA_WF_DATA, what);
		if (r < 0)
			return r;
	}
	hvp_layout_ptes(lay, ptes);
	r = plan_add(g, p, lay->pt_gpa, (const uint8_t *)ptes, sizeof(ptes), 0, HVA_WF_DATA,
		     "patch-area page table");
	if (r < 0)
		return r;
	if (l2[to->pd_index] != to->pde) {
		if (l2[to->pd_index] != 0)
			return hv_err(
				HV_E_STATE,
				"page-directory entry %u of the kernel-image region is in use",
				to->pd_index);
		r = plan_add(g, p, g->k->loc.l2_gpa + 8ull * to->pd_index,
			     (const uint8_t *)&to->pde, 8, 0, HVA_WF_DATA,
			     "page-directory entry of the patch area");
		if (r < 0)
			return r;
	}
	r = hvp_state_encode(to, page);
	if (r < 0)
		return r;
	/* Always logged, even when the guest holds it already: the ledger's
	 * copy of the newest record is what status and the next operation
	 * trust, never the area's. */
	p->keep_same = true;
	r = plan_add(g, p, g->info.area_gpa, page, sizeof(page), 0, HVA_WF_DATA, RECORD_WHAT);
	p->keep_same = false;
	if (r < 0)
		return r;
	/* The guest's ftrace lets go of a function before its jump goes in. */
	for (i = 0; i < p->ft.nset; i++) {
		r = plan_add_ftrace(g, p, &p->ft.set[i]);
		if (r < 0)
			return r;
	}
	/* New jumps, then originals back where the level no longer patches. */
	for (i = 0; i < to->nsites; i++) {
		snprintf(what, sizeof(what), "site %s", to->sites[i].name);
		p->rip_sites[p->nrip_sites++] = to->sites[i].site_gva;
		r = plan_add(g, p, to->sites[i].site_gpa, to->sites[i].jmp, 5, 1, 0, what);
		if (r < 0)
			return r;
		p->w[p->n - 1].site_gva = to->sites[i].site_gva;
		p->sites_changed++;
	}
	for (i = 0; i < cur->nsites; i++) {
		const struct hvp_site *s = &cur->sites[i];

		if (find_site(to, s->site_gva))
			continue;
		snprintf(what, sizeof(what), "site %s (restored)", s->name);
		p->rip_sites[p->nrip_sites++] = s->site_gva;
		r = plan_add(g, p, s->site_gpa, s->orig, 5, 1, 0, what);
		if (r < 0)
			return r;
		p->w[p->n - 1].site_gva = s->site_gva;
		p->sites_changed++;
	}
	/* ... and gets it back once the original bytes are there. */
	for (i = 0; i < p->ft.nclear; i++) {
		r = plan_add_ftrace(g, p, &p->ft.clear[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Build the plan that takes the guest from @cur to bundle @b (NULL: no
 * level), step by step: window and slot, sections, replaced functions,
 * relocation, sites, dropped sites, the guest's ftrace records, then the
 * writes in their safe order.
 */
/*
 * The current level without the sites of modules that went away since it
 * was applied (or came back in their place, unpatched): their memory is no
 * longer the function hvpatch patched, so nothing may be written or
 * restored there.  Their names go to p->gone.
 */
static int prune_gone(struct hvg *g, struct plan *p, const struct hvp_state *cur,
		      struct hvp_state *out)
{
	char mod[HVB_MAX_MODULE_NAME + 1];
	uint32_t i;

	*out = *cur;
	out->nsites = 0;
	for (i = 0; i < cur->nsites; i++) {
		if (hvp_site_module(cur->sites[i].name, mod) &&
		    module_gone(g, &p->mods, cur, mod)) {
			snprintf(p->gone[p->ngone++], sizeof(p->gone[0]), "%s", cur->sites[i].name);
			continue;
		}
		out->sites[out->nsites++] = cur->sites[i];
	}
	return 0;
}

/*
 * Build the plan that takes the guest from @cur to bundle @b (NULL: no
 * level), step by step: window and slot, sections, replaced functions,
 * relocation, sites, dropped sites, the guest's ftrace records, then the
 * writes in their safe order.
 */
static int plan_level(struct hvg *g, const struct hvb_bundle *b, const uint8_t sha[32],
		      const struct hvp_state *cur_in, const struct hvp_opts *o, struct plan *p)
{
	uint64_t l2[512], sec_addr[HVB_MAX_SECTIONS], target_addr[HVP_STATE_MAX_SITES], trap = 0;
	bool pending[HVP_STATE_MAX_SITES];
	struct hvb_patched patched = { 0, NULL };
	struct resolve_ctx rc;
	struct hvp_state *to = &p->to, cur_pruned, *cur = &cur_pruned;
	struct hvp_layout lay;
	uint32_t pd_index = 0, slot = 0, i;
	int r;

	memset(&rc, 0, sizeof(rc));
	rc.g = g;
	rc.mods = &p->mods;
	r = prune_gone(g, p, cur_in, cur);
	if (r < 0)
		return r;
	p->from = *cur;
	memset(to, 0, sizeof(*to));
	to->active_slot = HVP_NO_SLOT;
	r = plan_window(g, cur, l2, &lay, &pd_index, &slot);
	if (r < 0)
		return r;
	p->slot_lo = lay.slot[slot].code_gva;
	p->slot_hi = lay.slot[slot].code_gva + lay.slot[slot].code_size;
	to->pd_index = pd_index;
	to->pde = hvp_layout_pde(&lay);
	to->window_gva = lay.window_gva;
	to->applied_unix = (uint64_t)time(NULL);
	hvp_boot_key(g, to->boot_key);
	to->slot_used[0] = cur->slot_used[0];
	to->slot_used[1] = cur->slot_used[1];
	if (b) {
		struct hvb_placement pl = { sec_addr, target_addr };

		if (b->nreplacements > HVP_STATE_MAX_SITES)
			return hv_err(HV_E_RANGE,
				      "bundle %s replaces %zu functions; one level may replace at "
				      "most %u",
				      b->patch_id, b->nreplacements, HVP_STATE_MAX_SITES);
		to->active_slot = slot;
		snprintf(to->level, sizeof(to->level), "%s", b->level);
		snprintf(to->patch_id, sizeof(to->patch_id), "%s", b->patch_id);
		memcpy(to->bundle_sha256, sha, 32);
		r = bundle_names_modules(b) ? hvp_mods_open(g, &p->mods) : 0;
		/* After all code levels of this boot put in this slot (see
		 * state.h, version 3); from the start again when it is full. */
		to->code_offset = (cur->slot_used[slot] + CODE_ALIGN - 1) & ~(CODE_ALIGN - 1);
		if (r == 0) {
			r = plan_sections(b, &lay, slot, to->code_offset, sec_addr, &trap);
			if (r == HV_E_RANGE && to->code_offset) {
				hv_err_clear();
				to->code_offset = 0;
				r = plan_sections(b, &lay, slot, 0, sec_addr, &trap);
			}
		}
		rc.trap = trap;
		to->slot_used[slot] = (uint32_t)(trap + HVP_TRAP_BYTES - lay.slot[slot].code_gva);
		if (r == 0)
			r = resolve_targets(&rc, b, NULL, target_addr, pending);
		if (r == 0) {
			r = hvb_apply_relocs_ksym(b, &pl, resolve_ksym, &rc, &patched);
			if (r < 0)
				r = hv_err_prefix("relocating bundle %s", b->patch_id);
		}
		if (r == 0)
			r = plan_sites(g, &p->mods, b, cur, target_addr, pending, sec_addr, to);
		if (r < 0)
			goto out;
		for (i = 0; i < b->nreplacements; i++)
			if (pending[i])
				snprintf(p->pending[p->npending++], sizeof(p->pending[0]), "%s",
					 b->replacements[i].target);
	}
	r = check_dropped_sites(g, cur, to);
	if (r == 0)
		r = plan_ftrace(g, p, cur, !o->no_ftrace_guard);
	if (r == 0)
		r = plan_writes(g, p, b, &patched, &lay, slot, sec_addr, l2, cur);
	if (r == 0 && p->npending) {
		static const uint8_t ud2s[HVP_TRAP_BYTES] = { 0x0f, 0x0b, 0x0f, 0x0b, 0x0f, 0x0b,
							      0x0f, 0x0b, 0x0f, 0x0b, 0x0f, 0x0b,
							      0x0f, 0x0b, 0x0f, 0x0b };

		r = plan_add(g, p, lay.slot[slot].code_gpa + (trap - lay.slot[slot].code_gva), ud2s,
			     HVP_TRAP_BYTES, 0, 0, "slot trap for modules not loaded");
	}
out:
	hvb_patched_free(&patched);
	return r;
}

/*
 * Undo the writes made so far, newest first, and read each back.  A write
 * counts as undone only once its old bytes read back (a read-back that
 * cannot even be tried leaves it counted as written).
 */
static int undo(struct hvg *g, struct plan *p)
{
	enum hva_write_path used;
	size_t i = p->n;
	int r = 0, rr;

	while (i-- > 0) {
		struct wr *w = &p->w[i];
		uint8_t *back;

		if (!w->done)
			continue;
		rr = hva_write_phys_flags(g->h, w->gpa, w->old, w->len, w->flags, &used);
		back = rr == 0 ? malloc(w->len) : NULL;
		if (rr == 0 && !back)
			rr = hv_err(HV_E_NOMEM, "out of memory to read back the restored %s",
				    w->what);
		if (rr == 0) {
			rr = hva_read_phys(g->h, w->gpa, back, w->len);
			if (rr == 0 && memcmp(back, w->old, w->len) != 0)
				rr = hv_err(HV_E_VERIFY, "restoring %s did not read back", w->what);
		}
		free(back);
		if (rr < 0 && r == 0)
			r = rr;
		if (rr == 0)
			w->done = 0;
	}
	return r;
}

/*
 * Whether vCPU @cpu (RIP @rip) is inside what @p rewrites: a site, past its
 * first byte (the 5-byte jump would cut an instruction); the code of the
 * slot being written (a level two steps back may still run there); or, for
 * a plan built from ledger writes (p->check_gpa), any code range written,
 * compared by guest-physical address.  Sets *@where to a description.
 */
static bool vcpu_inside(struct hvg *g, const struct plan *p, uint64_t rip, const char **where)
{
	uint64_t gpa;
	unsigned k, perms;
	size_t i;

	for (k = 0; k < p->nrip_sites; k++)
		if (hvp_rip_inside_site(rip, p->rip_sites[k])) {
			*where = "a site being rewritten";
			return true;
		}
	if (p->slot_hi > p->slot_lo && rip >= p->slot_lo && rip < p->slot_hi) {
		*where = "the slot being rewritten";
		return true;
	}
	if (!p->check_gpa || hvi_translate(&g->k->pg, rip, &gpa, &perms) < 0) {
		hv_err_clear(); /* not mapped in the kernel's tables: not kernel code */
		return false;
	}
	for (i = 0; i < p->n; i++)
		if (!(p->w[i].flags & HVA_WF_DATA) && gpa >= p->w[i].gpa &&
		    gpa - p->w[i].gpa < p->w[i].len) {
			*where = "code being restored";
			return true;
		}
	return false;
}

/* How long a task in the way may take to leave before the switch is refused. */
#define STACK_RETRY_MS 100u

/*
 * The code no task may be in during the switch of @p: every function whose
 * site changes and the code of the slot being rewritten.  (A plan from
 * ledger writes keeps vCPUs out by address only.)
 */
static int stack_ranges(struct hvg *g, const struct plan *p, struct hvp_stack_ranges *sr)
{
	char what[96];
	size_t i;
	int r = 0;

	memset(sr, 0, sizeof(*sr));
	for (i = 0; i < p->n && r == 0; i++) {
		const char *name = p->w[i].what;

		if (!p->w[i].is_site)
			continue;
		/* "site NAME" or "site NAME (restored)" */
		snprintf(what, sizeof(what), "%s", !strncmp(name, "site ", 5) ? name + 5 : name);
		what[strcspn(what, " ")] = '\0';
		r = hvp_stack_add_function(g, sr, p->w[i].site_gva, what);
	}
	if (r == 0 && p->slot_hi > p->slot_lo) {
		snprintf(what, sizeof(what), "the patch-area slot being rewritten (0x%" PRIx64 ")",
			 p->slot_lo);
		r = hvp_stack_add_range(sr, p->slot_lo, p->slot_hi, what);
	}
	return r;
}

/*
 * With the guest paused: may @p change the guest's ftrace records now?
 * Returns 1 when ftrace_lock is held (*@owner: the task holding it; the
 * guest is in the middle of changing records or ftrace users: wait), 0
 * when it is free and no enabled ftrace user covers a function whose flag
 * @p clears (the kernel would count that function in the record it would
 * then no longer skip, and find the count wrong when the user goes), or a
 * negative HV_E_* (HV_E_BUSY: such a user; read errors).
 */
static int ftrace_check(struct hvg *g, const struct plan *p, uint64_t *owner)
{
	const struct ftrace_plan *ft = &p->ft;
	uint64_t ops = 0;
	unsigned i;
	int r = hvi_ftrace_lock_owner(&g->k->pg, &ft->lay, ft->lock_gva, owner);

	for (i = 0; r == 0 && i < ft->nclear; i++) {
		r = hvi_ftrace_ops_covering(&g->k->pg, &ft->lay, ft->ops_list, ft->list_end,
					    ft->clear[i].ip, &ops, NULL);
		if (r < 0)
			r = hv_err_prefix("checking the guest's ftrace users");
		else if (r == 1) {
			struct hvi_sym sym;
			uint64_t off = 1;
			char who[HVP_STATE_TEXT + 32];

			memset(&sym, 0, sizeof(sym));
			/* Name the ftrace user when it is a kernel variable
			 * (kprobe_ftrace_ops, global_ops, ...). */
			if (hvi_sym_by_addr(g->k->syms, ops, 4096, &sym, &off) < 0 || !sym.name)
				off = 1;
			hv_err_clear();
			snprintf(who, sizeof(who), "%s%s0x%" PRIx64 "%s", off ? "" : sym.name,
				 off ? "" : " (", ops, off ? "" : ")");
			r = hv_err(
				HV_E_BUSY,
				"the guest traces %s through ftrace (the enabled ftrace_ops %s "
				"covers it: a function tracer without a filter, a filter naming "
				"it, a kprobe or a BPF program); giving the function back to "
				"ftrace now would corrupt the guest's ftrace accounting, so "
				"nothing was changed: stop that tracing (echo nop > "
				"/sys/kernel/tracing/current_tracer, remove kprobes on it) and try "
				"again",
				ft->clear[i].name, who);
		}
	}
	return r;
}

/*
 * Pause the guest with no vCPU inside what @p rewrites and (unless
 * @o->no_stack_check) no task with a return address there on its stack.
 * A vCPU in the way: let the guest run a millisecond and look again, up to
 * RIP_RETRIES times.  When @p changes ftrace records, the guest's
 * ftrace_lock must be free (held: let the guest run FTRACE_LOCK_RETRY_MS
 * and look again, for up to FTRACE_LOCK_WAIT_MS) and no enabled ftrace user
 * may cover a function whose flag @p clears.  A task in the way: let it
 * run STACK_RETRY_MS and look again, for up to @o->stack_wait_ms.  On success the guest is paused;
 * on failure it runs (or the caller's failure path resumes it).
 */
static int pause_clear(struct hvg *g, const struct plan *p, const struct hvp_opts *o,
		       struct switch_result *res)
{
	const char *where = NULL;
	struct hva_regs regs[HVA_MAX_VCPUS];
	struct hvp_stack_ranges sr;
	struct hvp_stack_block blk;
	uint64_t ignored, t0 = hv_mono_ms(), lock_t0 = 0, owner = 0, c0;
	unsigned tries = 0, cpu, wait_ms = o->stack_wait_ms ? o->stack_wait_ms : 15000;
	bool stacks = !o->no_stack_check && !p->check_gpa;
	int r;

	if (stacks) {
		r = stack_ranges(g, p, &sr);
		if (r == 0)
			r = hvp_stack_prepare(g);
		if (r < 0)
			return r;
	}
	for (;;) {
		r = hva_pause(g->h);
		if (r < 0)
			return r;
		crash_point("paused");
		for (cpu = 0; cpu < g->info.nvcpus && cpu < HVA_MAX_VCPUS; cpu++) {
			r = hva_read_regs_fast(g->h, cpu, &regs[cpu]);
			if (r < 0)
				return r;
			if (vcpu_inside(g, p, regs[cpu].rip, &where))
				break;
		}
		if (cpu < g->info.nvcpus) {
			r = hva_resume(g->h, &ignored);
			if (r < 0)
				return r;
			if (++tries > RIP_RETRIES)
				return hv_err(HV_E_BUSY,
					      "vCPU %u stayed inside %s (RIP 0x%" PRIx64
					      ") in %u pauses",
					      cpu, where, regs[cpu].rip, tries);
			usleep(1000);
			continue;
		}
		if (p->ft.active) {
			c0 = hv_mono_us();
			r = ftrace_check(g, p, &owner);
			if (hv_mono_us() - c0 > res->ftrace_check_us)
				res->ftrace_check_us = hv_mono_us() - c0;
			if (r < 0)
				return r;
			if (r == 1) {
				r = hva_resume(g->h, &ignored);
				if (r < 0)
					return r;
				res->ftrace_lock_waits++;
				if (!lock_t0)
					lock_t0 = hv_mono_ms();
				if (hv_mono_ms() - lock_t0 >= FTRACE_LOCK_WAIT_MS)
					return hv_err(
						HV_E_BUSY,
						"the guest's ftrace_lock stayed held (by the task "
						"at "
						"0x%" PRIx64
						") in %u pauses over %u ms: the guest is "
						"changing its tracing, so nothing was changed; try "
						"again when it is done",
						owner, res->ftrace_lock_waits, FTRACE_LOCK_WAIT_MS);
				usleep(FTRACE_LOCK_RETRY_MS * 1000);
				continue;
			}
		}
		if (!stacks)
			return 0;
		r = hvp_stack_check(g, &sr, regs, cpu, &blk);
		res->stack_tasks = blk.tasks;
		if (blk.check_us > res->stack_check_us)
			res->stack_check_us = blk.check_us;
		if (r <= 0)
			return r;
		r = hva_resume(g->h, &ignored);
		if (r < 0)
			return r;
		res->stack_waited_ms = hv_mono_ms() - t0;
		if (res->stack_waited_ms >= wait_ms) {
			char who[1024];

			hvp_stack_block_describe(&blk, who, sizeof(who));
			return hv_err(HV_E_BUSY,
				      "%s, which this operation changes; %s not leave within "
				      "%u ms, so nothing was changed (try again when %s, or "
				      "raise --stack-wait-ms)",
				      who, blk.blocked > 1 ? "they did" : "it did", wait_ms,
				      blk.blocked > 1 ? "they have" : "it has");
		}
		usleep(STACK_RETRY_MS * 1000);
	}
}

/* Every write's old bytes are still in the guest (nothing changed since the
 * plan was made). */
static int check_old_bytes(struct hvg *g, const struct plan *p)
{
	uint8_t *now;
	size_t i;
	int r = 0;

	for (i = 0; i < p->n && r == 0; i++) {
		now = malloc(p->w[i].len);
		if (!now)
			return hv_err(HV_E_NOMEM, "out of memory");
		r = hva_read_phys(g->h, p->w[i].gpa, now, p->w[i].len);
		if (r == 0 && memcmp(now, p->w[i].old, p->w[i].len) != 0)
			r = hv_err(HV_E_VERIFY, "%s changed between planning and the pause",
				   p->w[i].what);
		free(now);
	}
	return r;
}

/* Write every new byte, in plan order; a write that fails may be partial,
 * so it counts as done (to be undone). */
static int write_plan(struct hvg *g, struct plan *p, struct switch_result *res)
{
	enum hva_write_path used = HVA_WRITE_NONE;
	size_t i;
	int r;

	for (i = 0; i < p->n; i++) {
		p->w[i].done = 1;
		res->wrote = true;
		r = hva_write_phys_flags(g->h, p->w[i].gpa, p->w[i].new_bytes, p->w[i].len,
					 p->w[i].flags, &used);
		if (!(p->w[i].flags & HVA_WF_DATA))
			res->code_path = used;
		if (r < 0)
			return hv_err_prefix("writing %s", p->w[i].what);
		res->bytes += p->w[i].len;
		if (i == 0)
			crash_point("first-write");
	}
	crash_point("written");
	return 0;
}

static int read_back(struct hvg *g, const struct plan *p)
{
	uint8_t *back;
	size_t i;
	int r = 0;

	for (i = 0; i < p->n && r == 0; i++) {
		back = malloc(p->w[i].len);
		if (!back)
			return hv_err(HV_E_NOMEM, "out of memory");
		r = hva_read_phys(g->h, p->w[i].gpa, back, p->w[i].len);
		if (r == 0 && memcmp(back, p->w[i].new_bytes, p->w[i].len) != 0)
			r = hv_err(HV_E_VERIFY, "%s did not read back as written", p->w[i].what);
		free(back);
	}
	return r;
}

/*
 * Carry out @p in one pause: pause with no vCPU inside what changes, check
 * the old bytes, write, read back, resume.  On failure every byte written
 * is restored before the guest runs again (re-pausing if the deadline
 * resumed it mid-way); res->outcome says whether that worked.  The first
 * error is returned, with the step named in res->step.
 */
static int switch_plan(struct hvg *g, struct plan *p, const struct hvp_opts *o,
		       struct switch_result *res)
{
	struct hv_error saved;
	uint64_t ignored;
	int r, rr = 0;

	memset(res, 0, sizeof(*res));
	res->step = "pausing the guest";
	hva_set_deadline(g->h, o->deadline_ms ? o->deadline_ms : HVA_DEFAULT_PAUSE_DEADLINE_MS);
	r = pause_clear(g, p, o, res);
	if (r == 0) {
		res->step = "checking the bytes to be replaced";
		r = check_old_bytes(g, p);
	}
	if (r == 0) {
		/* A module unloaded since planning took its sites with it. */
		res->step = "checking the guest's modules";
		r = hvp_mods_recheck(&p->mods, p->to.sites, p->to.nsites);
		if (r == 0)
			r = hvp_mods_recheck(&p->mods, p->from.sites, p->from.nsites);
	}
	if (r == 0) {
		res->step = "writing";
		r = write_plan(g, p, res);
	}
	if (r == 0) {
		res->step = "reading back";
		r = read_back(g, p);
	}
	if (r == 0) {
		res->step = "resuming";
		r = hva_resume(g->h, &res->pause_us);
	}
	if (r == 0) {
		crash_point("resumed");
		res->outcome = SWITCH_DONE;
		return 0;
	}
	/* Keep the first error; restore the guest whatever it costs. */
	saved = *hv_err_last();
	res->outcome = res->wrote ? SWITCH_ROLLED_BACK : SWITCH_UNTOUCHED;
	if (res->wrote) {
		if (!hva_is_paused(g->h)) {
			/* The deadline resumed it mid-way: pause again to undo. */
			if (hva_resume(g->h, &ignored) < 0)
				hv_err_clear(); /* the expected deadline report */
			rr = hva_pause(g->h);
		}
		if (rr == 0)
			rr = undo(g, p);
		if (rr < 0)
			res->outcome = SWITCH_RESTORE_FAILED; /* the next run reconciles */
	}
	if (hva_is_paused(g->h) && hva_resume(g->h, &res->pause_us) < 0)
		hv_err_clear();
	hv_err_set_at(saved.file, saved.func, saved.line, saved.code, "%s", saved.msg);
	return saved.code ? saved.code : HV_E_INTERNAL;
}

/* Record @p in the ledger before any of it is made: intent, then each write. */
static int record_intent(struct hvl_ledger *l, const struct hvg *g, const char *kind,
			 const uint8_t sha[32], const struct plan *p, int64_t *id)
{
	struct hvl_op op;
	size_t i;
	int r;

	memset(&op, 0, sizeof(op));
	snprintf(op.domain_uuid, sizeof(op.domain_uuid), "%s", g->info.uuid);
	snprintf(op.boot_key, sizeof(op.boot_key), "%s", p->to.boot_key);
	snprintf(op.kind, sizeof(op.kind), "%s", kind);
	snprintf(op.from_level, sizeof(op.from_level), "%s", p->from.level);
	snprintf(op.to_level, sizeof(op.to_level), "%s", p->to.level);
	if (sha)
		hv_hex_encode(op.bundle_sha256, sizeof(op.bundle_sha256), sha, 32);
	op.started_unix_us = hv_unix_us();
	r = hvl_op_begin(l, &op, id);
	if (r < 0)
		return hv_err_prefix("recording the %s in the ledger", kind);
	crash_point("intent");
	for (i = 0; i < p->n; i++) {
		struct hvl_write w = { p->w[i].gpa, p->w[i].len, p->w[i].old, p->w[i].new_bytes,
				       p->w[i].what };

		r = hvl_op_add_write(l, *id, &w);
		if (r < 0)
			return hv_err_prefix("recording the %s in the ledger", kind);
	}
	crash_point("logged");
	return 0;
}

/*
 * Carry out @p: record it in the ledger, switch it in one pause, record the
 * outcome.  On failure the guest holds what it held before (or, when even
 * restoring failed, the operation stays open for the next run to
 * reconcile), and the error names the step.
 */
static int execute(struct hvg *g, struct hvl_ledger *l, const char *kind, const uint8_t sha[32],
		   struct plan *p, const struct hvp_opts *opts, struct hvp_report *rep)
{
	struct switch_result res;
	char detail[HVL_TEXT_MAX * 2];
	struct hv_error saved;
	enum hvl_state final;
	int64_t id = 0;
	int r;

	r = record_intent(l, g, kind, sha, p, &id);
	rep->op_id = id;
	if (r < 0) {
		memset(&res, 0, sizeof(res));
		res.step = "recording the operation";
		res.outcome = SWITCH_UNTOUCHED;
	} else {
		r = switch_plan(g, p, opts, &res);
	}
	if (r == 0) {
		rep->pause_us = res.pause_us;
		rep->stack_tasks = res.stack_tasks;
		rep->stack_check_us = res.stack_check_us;
		rep->stack_waited_ms = res.stack_waited_ms;
		rep->ftrace_check_us = res.ftrace_check_us;
		rep->ftrace_lock_waits = res.ftrace_lock_waits;
		rep->bytes_written = res.bytes;
		rep->writes = (unsigned)p->n;
		rep->sites_changed = p->sites_changed;
		rep->write_path = hva_write_path_name(res.code_path);
		snprintf(detail, sizeof(detail),
			 "%s %s -> %s: %zu writes, %" PRIu64 " bytes, %u sites", kind,
			 p->from.level[0] ? p->from.level : "none",
			 p->to.level[0] ? p->to.level : "none", p->n, res.bytes, p->sites_changed);
		r = hvl_op_finish(l, id, HVL_DONE, (int64_t)res.pause_us, res.bytes,
				  p->sites_changed, detail);
		if (r < 0)
			return hv_err_prefix("the guest is at the new level, but the ledger could "
					     "not record it (the next run reconciles it)");
		return 0;
	}
	saved = *hv_err_last();
	final = res.outcome == SWITCH_ROLLED_BACK      ? HVL_ROLLED_BACK
		: res.outcome == SWITCH_RESTORE_FAILED ? HVL_WRITING
						       : HVL_FAILED;
	if (id > 0 && final != HVL_WRITING) {
		snprintf(detail, sizeof(detail), "%s failed while %s: %.300s", kind, res.step,
			 saved.msg);
		if (hvl_op_finish(l, id, final, (int64_t)res.pause_us, 0, 0, detail) < 0)
			hv_err_clear(); /* the guest is safe; report the first error */
	}
	hv_err_set_at(saved.file, saved.func, saved.line, saved.code,
		      "%s failed while %s%s: %.700s", kind, res.step,
		      final == HVL_ROLLED_BACK ? " (every byte written was restored)"
		      : final == HVL_WRITING
			      ? " (restoring failed: run the command again to reconcile)"
			      : " (the guest was not touched)",
		      saved.msg);
	return saved.code ? saved.code : HV_E_INTERNAL;
}

static int reconcile(struct hvg *g, struct hvl_ledger *l, char *what, size_t what_len,
		     bool *tampered);

static void fill_report(struct hvg *g, struct hvp_report *rep, const char *kind)
{
	memset(rep, 0, sizeof(*rep));
	snprintf(rep->kind, sizeof(rep->kind), "%s", kind);
	snprintf(rep->domain, sizeof(rep->domain), "%s", g->info.name);
	snprintf(rep->uuid, sizeof(rep->uuid), "%s", g->info.uuid);
	rep->slot = HVP_NO_SLOT;
	rep->write_path = "none";
}

static void tell_agent(struct hvg *g, struct hvl_ledger *l, const struct plan *p, const char *kind,
		       const struct hvp_opts *opts, struct hvp_report *rep)
{
	struct hvl_agent_report rec;
	char *json;
	struct hvc_func funcs[HVP_STATE_MAX_SITES];
	struct hvc_status st;
	struct hvc_report ar;
	unsigned i;
	int r;

	if (!g->info.agent_socket[0]) {
		snprintf(rep->agent, sizeof(rep->agent), "no agent channel");
		return;
	}
	memset(&st, 0, sizeof(st));
	for (i = 0; i < p->to.nsites; i++) {
		funcs[i].name = p->to.sites[i].name;
		funcs[i].site = p->to.sites[i].site_gva;
		funcs[i].offset = 0;
		funcs[i].expected = p->to.sites[i].jmp;
		funcs[i].expected_len = 5;
	}
	st.level = p->to.level;
	st.previous_level = p->from.level;
	/* The protocol knows "apply" and "revert"; removing every level at once
	 * is a revert to none for the tenant. */
	st.op = strcmp(kind, "reset") ? kind : "revert";
	st.applied_at = (int64_t)p->to.applied_unix;
	st.nfuncs = p->to.nsites;
	st.funcs = funcs;
	r = hvc_notify(g->info.agent_socket, &st,
		       opts->agent_timeout_ms ? opts->agent_timeout_ms : 2000, &ar);
	if (r < 0)
		snprintf(rep->agent, sizeof(rep->agent), "not told: %.250s%s%.200s",
			 hv_err_last()->msg, ar.misbehaved ? "; " : "",
			 ar.misbehaved ? ar.misbehaviour : "");
	else if (ar.misbehaved)
		snprintf(rep->agent, sizeof(rep->agent), "acknowledged, but %.400s",
			 ar.misbehaviour);
	else
		snprintf(rep->agent, sizeof(rep->agent), "acknowledged%s (%u present, %u mismatch)",
			 ar.verified ? " and verified" : "", ar.npresent, ar.nmismatch);
	/* The ledger keeps what the agent said: untrusted, but on record. */
	json = hvc_report_json(&ar, r);
	memset(&rec, 0, sizeof(rec));
	rec.acked = r == 0 && ar.acked;
	rec.verified = ar.verified;
	rec.present = ar.npresent;
	rec.mismatch = ar.nmismatch;
	rec.misbehaved = ar.misbehaved;
	rec.summary = rep->agent;
	rec.report = json;
	if (hvl_agent_put(l, rep->op_id, g->info.uuid, &rec) < 0)
		hv_err_clear();
	free(json);
	hvc_report_clear(&ar);
	hv_err_clear();
}

/*
 * The guest's current level from the ledger, checked against the guest.
 * Differences hvpatch repairs by rewriting them from the ledger (the
 * record, the page table, the code of the slot being left) do not stop an
 * operation; a site, the page-directory entry or a faked boot do.
 */
static int current_checked(struct hvg *g, struct hvl_ledger *l, const char *kind,
			   struct hvp_state *cur, bool *other_boot)
{
	uint8_t page[HVP_STATE_BYTES];
	struct hvp_findings f;
	struct hvp_mods mods;
	bool have = false;
	int r;

	memset(&f, 0, sizeof(f));
	memset(&mods, 0, sizeof(mods));
	if (!g->info.has_area || !g->info.area_gpa)
		return hv_err(
			HV_E_STATE,
			"%s has no patch area: enroll it with 'hvpatch enroll %s' and restart it",
			g->info.name, g->info.name);
	r = ledger_current(g, l, cur, page, &have, other_boot, &f);
	if (r == 0 && have)
		r = verify_guest(g, l, cur, page, &mods, &f);
	if (r == 0 && f.blocking)
		r = refuse_findings(g, kind, &f);
	hvp_mods_free(&mods);
	return r;
}

static int install(struct hvg *g, struct hvl_ledger *l, const struct hvb_bundle *b,
		   const uint8_t *sha, const char *kind, const struct hvp_opts *opts,
		   struct hvp_report *rep, const struct hvp_state *cur)
{
	struct plan p;
	int r;

	memset(&p, 0, sizeof(p));
	r = plan_level(g, b, sha, cur, opts, &p);
	if (r < 0)
		goto out;
	snprintf(rep->from_level, sizeof(rep->from_level), "%s", cur->level);
	snprintf(rep->to_level, sizeof(rep->to_level), "%s", p.to.level);
	rep->slot = p.to.active_slot;
	rep->ftrace_marked = p.ft.nset;
	rep->ftrace_restored = p.ft.nclear;
	rep->ftrace_btf_us = p.ft.btf_us;
	rep->ftrace_find_us = p.ft.find_us;
	rep->ftrace_groups = p.ft.cost.groups;
	rep->ftrace_reads = p.ft.cost.reads;
	rep->npending = p.npending;
	memcpy(rep->pending, p.pending, sizeof(rep->pending));
	rep->ngone = p.ngone;
	memcpy(rep->gone, p.gone, sizeof(rep->gone));
	if (opts->dry_run) {
		size_t i;

		rep->dry_run = true;
		rep->writes = (unsigned)p.n;
		rep->sites_changed = p.sites_changed;
		for (i = 0; i < p.n; i++)
			rep->bytes_written += p.w[i].len;
		r = 0;
		goto out;
	}
	r = execute(g, l, kind, sha, &p, opts, rep);
	if (r == 0)
		tell_agent(g, l, &p, kind, opts, rep);
out:
	plan_free(&p);
	return r;
}

/*
 * The bundle at @path, read once: verified against the trusted keys,
 * parsed, checked to target the guest's kernel, and kept (bytes and
 * SHA-256) in the ledger, so a revert later re-applies exactly these
 * bytes.
 */
static int load_bundle(struct hvg *g, struct hvl_ledger *l, const char *path,
		       const struct hvp_opts *opts, struct hvb_bundle **b, uint8_t sha[32])
{
	struct hvb_verify_info vi;
	uint8_t *bytes = NULL;
	char shahex[65];
	size_t len = 0;
	int r;

	*b = NULL;
	r = hvb_read_file(path, HVB_MAX_BUNDLE_BYTES, &bytes, &len);
	if (r < 0)
		goto out;
	r = hvb_verify_parse(bytes, len,
			     opts->trusted_dir ? opts->trusted_dir : HVP_DEFAULT_TRUSTED, b, &vi);
	if (r < 0) {
		r = hv_err_prefix("bundle %s", path);
		goto out;
	}
	r = hvb_target_index(*b, g->k->build_id, g->k->build_id_len);
	if (r < 0) {
		r = hv_err_prefix(
			"bundle %s cannot patch %s; build the patch against this kernel's "
			"headers",
			path, g->info.name);
		goto out;
	}
	r = hvb_sha256(bytes, len, sha);
	if (r < 0)
		goto out;
	hv_hex_encode(shahex, sizeof(shahex), sha, 32);
	r = hvl_bundle_put(l, shahex, bytes, len);
out:
	if (r < 0) {
		hvb_free(*b);
		*b = NULL;
	}
	free(bytes);
	return r < 0 ? r : 0;
}

int hvp_apply(struct hvp_session *sess, const char *bundle_path, const struct hvp_opts *opts,
	      struct hvp_report *rep)
{
	struct hvg *g = sess->g;
	struct hvl_ledger *l = sess->l;
	struct hvb_bundle *b = NULL;
	struct hvp_state cur;
	bool other_boot = false;
	uint8_t sha[32];
	int r;

	fill_report(g, rep, "apply");
	use_kernel_pgd(g);
	r = reconcile(g, l, rep->reconciled, sizeof(rep->reconciled), NULL);
	if (r < 0)
		return r;
	r = current_checked(g, l, "apply", &cur, &other_boot);
	if (r == 0)
		r = load_bundle(g, l, bundle_path, opts, &b, sha);
	/* Older: the bundle's level string compared as a version (strverscmp)
	 * with the level the ledger says this boot is at. */
	if (r == 0 && cur.level[0] && strverscmp(b->level, cur.level) < 0 && !opts->allow_downgrade)
		r = hv_err(HV_E_STATE,
			   "bundle %s is level %s, older than level %s that %s is at (the ledger "
			   "says so); applying it would bring back what %s fixed: use 'hvpatch "
			   "revert', or --allow-downgrade if that is what you want",
			   bundle_path, b->level, cur.level, g->info.name, cur.level);
	if (r == 0)
		r = install(g, l, b, sha, "apply", opts, rep, &cur);
	hvb_free(b);
	return r;
}

struct hist {
	char level[8][HVL_TEXT_MAX];
	char sha[8][65];
	int n; /* entries seen */
};

static int hist_cb(void *opaque, const char *level, const char *sha)
{
	struct hist *h = opaque;
	int k = h->n % 8;

	snprintf(h->level[k], sizeof(h->level[k]), "%s", level);
	snprintf(h->sha[k], sizeof(h->sha[k]), "%s", sha);
	h->n++;
	return 0;
}

int hvp_revert(struct hvp_session *sess, const struct hvp_opts *opts, struct hvp_report *rep)
{
	struct hvg *g = sess->g;
	struct hvl_ledger *l = sess->l;
	struct hvp_state cur;
	struct hvb_bundle *b = NULL;
	struct hvb_verify_info vi;
	struct hist h;
	char key[HVP_STATE_TEXT];
	uint8_t *bytes = NULL, sha[32];
	size_t len = 0;
	bool new_boot;
	int r, n;

	fill_report(g, rep, "revert");
	use_kernel_pgd(g);
	r = reconcile(g, l, rep->reconciled, sizeof(rep->reconciled), NULL);
	if (r < 0)
		return r;
	r = current_checked(g, l, "revert", &cur, &new_boot);
	if (r < 0)
		return r;
	if (cur.active_slot == HVP_NO_SLOT)
		return hv_err(HV_E_STATE, "%s has no patch level installed%s; nothing to revert",
			      g->info.name, new_boot ? " in this boot (it rebooted since)" : "");
	hvp_boot_key(g, key);
	memset(&h, 0, sizeof(h));
	n = hvl_level_history(l, g->info.uuid, key, hist_cb, &h);
	if (n < 0)
		return n;
	/* The top of the stack is the current level; below it, the one to
	 * return to (unless asked for none, or the ledger knows no more). */
	if (!opts->to_none && n >= 2 && h.level[(n - 2) % 8][0] && h.sha[(n - 2) % 8][0]) {
		const char *want = h.sha[(n - 2) % 8];

		r = hvl_bundle_get(l, want, &bytes, &len);
		if (r < 0) {
			r = hv_err_prefix("the bundle of level %s", h.level[(n - 2) % 8]);
			goto out;
		}
		r = hvb_verify_parse(bytes, len,
				     opts->trusted_dir ? opts->trusted_dir : HVP_DEFAULT_TRUSTED,
				     &b, &vi);
		if (r == 0)
			r = hvb_sha256(bytes, len, sha);
		if (r < 0) {
			r = hv_err_prefix("the stored bundle of level %s", h.level[(n - 2) % 8]);
			goto out;
		}
		r = install(g, l, b, sha, "revert", opts, rep, &cur);
	} else {
		r = install(g, l, NULL, NULL, opts->to_none && n >= 2 ? "reset" : "revert", opts,
			    rep, &cur);
	}
out:
	hvb_free(b);
	free(bytes);
	return r;
}

struct rec_ctx {
	struct hvg *g;
	struct plan *undo; /* writes whose new bytes are in the guest, to restore */
	unsigned nnew, nold, nother, n;
	unsigned ram_new; /* of nnew, writes to kernel memory (not the patch area) */
	char first_other[320];
	struct hvp_mods mods; /* read when a write went into a module */
	unsigned ngone;	      /* writes into modules no longer loaded: left alone */
};

/*
 * Whether logged write @what ("site MODULE:fn", "site MODULE:fn
 * (restored)", "ftrace record of MODULE:fn ...") went into a module that
 * is not loaded (or is going) now:
 * its memory is no longer the module's, so the write is neither checked
 * nor undone.  Sets *@gone; errors reading the module list.
 */
static int rec_module_gone(struct rec_ctx *c, const char *what, bool *gone)
{
	char name[HVP_STATE_TEXT], mod[HVB_MAX_MODULE_NAME + 1];
	const struct hvi_module *m;
	int r;

	size_t pre = strlen(FTRACE_WHAT);

	*gone = false;
	if (what && !strncmp(what, "site ", 5))
		what += 5;
	else if (what && !strncmp(what, FTRACE_WHAT, pre))
		what += pre; /* the module's ftrace records went with it */
	else
		return 0;
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(what, " "), what);
	if (!hvp_site_module(name, mod))
		return 0;
	r = hvp_mods_open(c->g, &c->mods);
	if (r < 0)
		return r;
	m = hvp_mods_find(&c->mods, mod);
	*gone = !m || m->state != c->mods.lay.state_live;
	return 0;
}

/* Whether a logged write went to the patch area (host bookkeeping and
 * code nothing reaches without a page-directory entry and a jump), not
 * to the guest kernel's own memory.  Decided from the ledger's own
 * description of the write, never from the guest. */
static bool area_write(const char *what)
{
	return what && (!strncmp(what, "slot ", 5) || !strncmp(what, "patch-area ", 11));
}

/* Classify one logged write by what the guest holds now; plan to restore
 * the old bytes where the new ones landed. */
static int rec_cb(void *opaque, const struct hvl_write *w)
{
	struct rec_ctx *c = opaque;
	uint8_t *now = malloc(w->len ? w->len : 1);
	char a[17], b[17], x[17];
	size_t k = 0, n;
	int r;

	bool gone = false;

	if (!now)
		return hv_err(HV_E_NOMEM, "out of memory");
	r = rec_module_gone(c, w->what, &gone);
	if (r < 0 || gone) {
		c->ngone += gone;
		goto out;
	}
	r = hva_read_phys(c->g->h, w->gpa, now, w->len);
	if (r < 0)
		goto out;
	c->n++;
	if (!memcmp(now, w->new_bytes, w->len)) {
		c->nnew++;
		if (!area_write(w->what))
			c->ram_new++;
		/* Not known to be data: written as code, and kept clear of vCPUs. */
		r = plan_add(c->g, c->undo, w->gpa, w->old_bytes, w->len, 0, 0,
			     w->what ? w->what : "a logged write");
	} else if (!memcmp(now, w->old_bytes, w->len)) {
		c->nold++;
	} else {
		if (!c->nother++) {
			while (k < w->len &&
			       (now[k] == w->new_bytes[k] || now[k] == w->old_bytes[k]))
				k++;
			if (k == w->len)
				k = 0;
			n = w->len - k < 8 ? w->len - k : 8;
			hv_hex_encode(x, sizeof(x), now + k, n);
			hv_hex_encode(a, sizeof(a), w->old_bytes + k, n);
			hv_hex_encode(b, sizeof(b), w->new_bytes + k, n);
			snprintf(c->first_other, sizeof(c->first_other),
				 "%.96s at 0x%" PRIx64
				 " holds %s, neither its old bytes %s nor its "
				 "new bytes %s",
				 w->what ? w->what : "a write", w->gpa + k, x, a, b);
		}
	}
out:
	free(now);
	return r;
}

/*
 * The undo of an interrupted operation restores the ftrace records it
 * wrote too: written as data, in a pause with the guest's ftrace_lock free,
 * and a flag it clears only when no enabled ftrace user covers the
 * function (as for any switch).  The function's address comes from the
 * logged bytes, its name from the write's description.
 */
static int reconcile_ftrace(struct hvg *g, struct plan *u)
{
	struct ftrace_plan *ft = &u->ft;
	size_t i, pre = strlen(FTRACE_WHAT);
	uint64_t pages_start = 0, now, then;
	uint32_t lo, len;
	bool any = false;
	int r;

	for (i = 0; i < u->n; i++)
		any = any || !strncmp(u->w[i].what, FTRACE_WHAT, pre);
	if (!any)
		return 0;
	r = ftrace_context(g, ft, &pages_start);
	if (r < 0)
		return hv_err_prefix("undoing the ftrace records an interrupted operation wrote");
	lo = ft->lay.rec_ip < ft->lay.rec_flags ? ft->lay.rec_ip : ft->lay.rec_flags;
	len = (ft->lay.rec_ip > ft->lay.rec_flags ? ft->lay.rec_ip : ft->lay.rec_flags) + 8 - lo;
	for (i = 0; i < u->n; i++) {
		struct wr *w = &u->w[i];
		struct ftrace_write *fw;

		if (strncmp(w->what, FTRACE_WHAT, pre) != 0)
			continue;
		if (w->len != len)
			return hv_err(HV_E_VERIFY,
				      "the logged %s is %u bytes, not the %u of the guest's ftrace "
				      "record",
				      w->what, w->len, len);
		w->flags = HVA_WF_DATA;
		/* w->old: what the guest holds now; w->new_bytes: what the undo writes. */
		now = get_le64(w->old + (ft->lay.rec_flags - lo));
		then = get_le64(w->new_bytes + (ft->lay.rec_flags - lo));
		if (!(now & ft->lay.fl_disabled) || (then & ft->lay.fl_disabled))
			continue;
		if (ft->nclear >= HVP_STATE_MAX_SITES)
			return hv_err(HV_E_RANGE,
				      "an interrupted operation wrote more than %u ftrace "
				      "records",
				      HVP_STATE_MAX_SITES);
		fw = &ft->clear[ft->nclear++];
		memset(fw, 0, sizeof(*fw));
		fw->ip = get_le64(w->new_bytes + (ft->lay.rec_ip - lo));
		snprintf(fw->name, sizeof(fw->name), "%.*s", (int)strcspn(w->what + pre, " "),
			 w->what + pre);
	}
	ft->active = true;
	return 0;
}

/* Say that writes into unloaded modules were left alone. */
static void gone_note(char *what, size_t what_len, unsigned ngone)
{
	size_t n = strlen(what);

	if (ngone && n < what_len)
		snprintf(what + n, what_len - n,
			 "; %u write%s into modules unloaded since %s left alone", ngone,
			 ngone == 1 ? "" : "s", ngone == 1 ? "was" : "were");
}

/*
 * The decision rests on the bytes only (see hvp_reconcile() in engine.h):
 * the boot key and the record come from the guest, which could fake a
 * reboot or a record to have an operation closed while its jumps stay.
 * *@tampered (when given) is set when the guest holds neither the old nor
 * the new bytes of a write: HV_E_VERIFY, and the operation stays open.
 */
static int reconcile(struct hvg *g, struct hvl_ledger *l, char *what, size_t what_len,
		     bool *tampered)
{
	struct plan undo_plan;
	struct rec_ctx c;
	struct switch_result res;
	const struct hvp_opts undo_opts = { 0 };
	char key[HVP_STATE_TEXT];
	struct hvl_op op;
	bool same_boot;
	int r;

	what[0] = '\0';
	if (tampered)
		*tampered = false;
	memset(&c, 0, sizeof(c));
	memset(&undo_plan, 0, sizeof(undo_plan));
	c.g = g;
	c.undo = &undo_plan;
	undo_plan.check_gpa = true;
	r = hvl_op_open_for(l, g->info.uuid, &op);
	if (r <= 0)
		return r;
	hvp_boot_key(g, key);
	same_boot = !strcmp(key, op.boot_key);
	r = hvl_op_each_write(l, op.id, 1, rec_cb, &c);
	if (r < 0) {
		r = hv_err_prefix("reconciling operation %lld", (long long)op.id);
		goto out;
	}
	if (!same_boot && c.ram_new == 0) {
		snprintf(what, what_len,
			 "operation %lld (%s %s) was interrupted and the guest has rebooted since "
			 "(none of its writes to kernel memory remain): closed as rolled back",
			 (long long)op.id, op.kind, op.to_level);
		r = hvl_op_finish(l, op.id, HVL_ROLLED_BACK, 0, 0, 0, what);
		goto out;
	}
	if (c.nother > 0) {
		if (tampered)
			*tampered = true;
		r = hv_err(HV_E_VERIFY,
			   "operation %lld (%s to %s) was interrupted and stays open: the guest "
			   "holds neither the old nor the new bytes of %u of its %u writes, so it "
			   "changed them (tampering; first: %s); nothing was changed: inspect %s, "
			   "then restart it from the host (virsh destroy, then start) to close the "
			   "operation",
			   (long long)op.id, op.kind, op.to_level[0] ? op.to_level : "none",
			   c.nother, c.n, c.first_other, g->info.name);
		goto out;
	}
	if (c.n > 0 && c.nnew == c.n) {
		snprintf(
			what, what_len,
			"operation %lld (%s to %s) was interrupted after its last write: the guest "
			"holds all of it, so it is recorded as done",
			(long long)op.id, op.kind, op.to_level[0] ? op.to_level : "none");
		gone_note(what, what_len, c.ngone);
		r = hvl_op_finish(l, op.id, HVL_DONE, 0, 0, 0, what);
		goto out;
	}
	memset(&res, 0, sizeof(res));
	if (undo_plan.n > 0) {
		/* Half done: restore in one pause, with the same vCPU check and
		 * read-back as any operation.  The log was read newest first, so
		 * the jumps are restored before the code they lead to (and the
		 * ftrace flags they needed after them). */
		r = reconcile_ftrace(g, &undo_plan);
		if (r == 0)
			r = switch_plan(g, &undo_plan, &undo_opts, &res);
		if (r < 0) {
			r = hv_err_prefix("undoing the %u landed writes of interrupted operation "
					  "%lld while %s",
					  c.nnew, (long long)op.id, res.step);
			goto out;
		}
	}
	snprintf(what, what_len,
		 "operation %lld (%s to %s) was interrupted; %u of %u writes had landed and were "
		 "undone, so the guest is back at %s",
		 (long long)op.id, op.kind, op.to_level[0] ? op.to_level : "none", c.nnew, c.n,
		 op.from_level[0] ? op.from_level : "no level");
	gone_note(what, what_len, c.ngone);
	r = hvl_op_finish(l, op.id, HVL_ROLLED_BACK, (int64_t)res.pause_us, 0, 0, what);
out:
	plan_free(&undo_plan);
	hvp_mods_free(&c.mods);
	return r;
}

int hvp_reconcile(struct hvp_session *sess, char *what, size_t what_len)
{
	return reconcile(sess->g, sess->l, what, what_len, NULL);
}

/*
 * The replacements of the installed level that have no site because their
 * module was not loaded when it was applied, and whether it is loaded now.
 */
static int status_pending(struct hvg *g, struct hvl_ledger *l, struct hvp_mods *mods,
			  struct hvp_status *st)
{
	struct hvb_bundle *b = NULL;
	uint8_t *bytes = NULL;
	char shahex[65], mod[HVB_MAX_MODULE_NAME + 1];
	size_t len = 0, i;
	int r;

	hv_hex_encode(shahex, sizeof(shahex), st->state.bundle_sha256, 32);
	r = hvl_bundle_get(l, shahex, &bytes, &len);
	if (r == 0)
		r = hvb_parse(bytes, len, &b);
	if (r < 0)
		goto out;
	for (i = 0; i < b->nreplacements && st->npending < HVP_STATE_MAX_SITES; i++) {
		struct hvp_pending *pd = &st->pending[st->npending];

		if (!hvb_sym_module(b->replacements[i].target, mod, sizeof(mod), NULL) ||
		    state_has_module(&st->state, mod))
			continue;
		snprintf(pd->target, sizeof(pd->target), "%s", b->replacements[i].target);
		snprintf(pd->module, sizeof(pd->module), "%s", mod);
		if (hvp_mods_open(g, mods) < 0) {
			r = hv_err_prefix("finding out whether module %s is loaded now", mod);
			goto out;
		}
		pd->loaded_now = hvp_mods_find(mods, mod) != NULL;
		st->npending++;
	}
	r = 0;
out:
	hvb_free(b);
	free(bytes);
	return r;
}

int hvp_status(struct hvp_session *sess, struct hvp_status *st)
{
	struct hvg *g = sess->g;
	struct hvl_ledger *l = sess->l;
	uint8_t page[HVP_STATE_BYTES], now[HVP_STATE_BYTES];
	bool have = false, tampered = false;
	struct hvp_mods mods;
	unsigned i;
	int r;

	memset(&mods, 0, sizeof(mods));

	memset(st, 0, sizeof(*st));
	snprintf(st->domain, sizeof(st->domain), "%s", g->info.name);
	snprintf(st->uuid, sizeof(st->uuid), "%s", g->info.uuid);
	snprintf(st->release, sizeof(st->release), "%s", g->k->release);
	snprintf(st->build_id, sizeof(st->build_id), "%s", g->k->build_id_hex);
	hvp_boot_key(g, st->boot_key);
	use_kernel_pgd(g);
	st->pgd_gpa = g->k->pg.pgd_gpa;
	if (!g->info.has_area || !g->info.area_gpa)
		return hv_err(
			HV_E_STATE,
			"%s has no patch area: enroll it with 'hvpatch enroll %s' and restart it",
			g->info.name, g->info.name);
	r = reconcile(g, l, st->reconciled, sizeof(st->reconciled), &tampered);
	if (r < 0 && !tampered)
		goto out;
	if (r < 0) {
		finding(&st->tamper, true, "open operation", 0, 0, NULL, NULL, 0, "%.319s",
			hv_err_last()->msg);
		snprintf(st->reconciled, sizeof(st->reconciled), "%.255s", hv_err_last()->msg);
		hv_err_clear();
	}
	r = ledger_current(g, l, &st->state, page, &have, &st->new_boot, &st->tamper);
	if (r == 0 && have)
		r = verify_guest(g, l, &st->state, page, &mods, &st->tamper);
	if (r == 0 && have && st->state.active_slot != HVP_NO_SLOT)
		r = status_pending(g, l, &mods, st);
	if (r < 0)
		goto out;
	if (st->tamper.blocking && st->new_boot)
		st->new_boot = false; /* it claims a new boot, and it is lying */
	/* Guest-reported: what the patch area's record says. */
	r = hva_read_phys(g->h, g->info.area_gpa, now, sizeof(now));
	if (r < 0) {
		r = hv_err_prefix("reading the patch-area record");
		goto out;
	}
	r = hvp_state_decode(now, sizeof(now), &st->guest_record);
	if (r < 0) {
		hv_err_clear();
		empty_state(&st->guest_record);
		st->guest_record_known = -1;
	} else {
		st->guest_record_known = r;
	}
	if (!have && st->guest_record_known == 1 && st->guest_record.active_slot != HVP_NO_SLOT &&
	    !strcmp(st->guest_record.boot_key, st->boot_key))
		finding(&st->tamper, false, RECORD_WHAT, g->info.area_gpa, 0, NULL, NULL, 0,
			"the record says level '%.63s' is installed in this boot, but the ledger "
			"knows no level hvpatch installed in it",
			st->guest_record.level);
	st->patched = st->state.active_slot != HVP_NO_SLOT;
	for (i = 0; i < st->state.nsites; i++) {
		struct hvp_site_status *s = &st->sites[i];

		s->site = st->state.sites[i];
		if (hvp_site_module(s->site.name, s->module) &&
		    module_gone(g, &mods, &st->state, s->module)) {
			/* Its memory is not the module's any more: not read. */
			s->gone = true;
			st->gone++;
			continue;
		}
		r = hva_read_phys(g->h, s->site.site_gpa, s->now, 5);
		if (r < 0)
			goto out;
		s->intact = !memcmp(s->now, s->site.jmp, 5);
		if (!s->intact)
			st->drifted++;
	}
	r = hvl_level_get(l, g->info.uuid, st->boot_key, st->ledger_level,
			  sizeof(st->ledger_level));
	if (r < 0)
		goto out;
	st->ledger_known = r;
	if (have && strcmp(st->ledger_level, st->state.level) != 0)
		finding(&st->tamper, false, "ledger", 0, 0, NULL, NULL, 0,
			"the ledger's level stack says '%.63s', its newest record says '%.63s'",
			st->ledger_level, st->state.level);
	r = hvl_agent_last(l, g->info.uuid, &st->agent);
	if (r < 0)
		goto out;
	st->agent_known = r;
	r = 0;
out:
	hvp_mods_free(&mods);
	return r;
}
