/*
 * hvp engine: apply, revert and status of patch levels on a running guest.
 *
 * One operation = a plan of guest writes (old and new bytes for each),
 * recorded in the ledger before any of them is made, then carried out in one
 * pause: check no vCPU's RIP is inside a site, check every write's old bytes
 * are still there, write the new slot's code and data, the patch-area page
 * table and its page-directory entry (first time only), the record page and
 * finally the jumps; read everything back; resume.  Any failure restores
 * every byte written, in reverse order, before resuming.
 *
 * Each function a level newly patches is taken out of the guest's ftrace in
 * the same pause: FTRACE_FL_DISABLED is set on its ftrace record (struct
 * dyn_ftrace, found before the pause), so enabling a tracer in the guest
 * leaves hvpatch's jump alone instead of finding it and killing ftrace.
 * The patch-area record remembers which flags hvpatch set
 * (HVP_SITE_FTRACE_OFF); a site that gets its original bytes back gets its
 * flag cleared in the same pause.  In the pause the guest's ftrace_lock
 * must be free (it is waited for like a vCPU in the way), and a flag is
 * cleared only when no enabled ftrace user covers the function.
 *
 * Levels are cumulative: a level's bundle holds every fix; applying level
 * N+1 over N writes it into the other slot and moves each site's jump (or
 * puts the original bytes back for a function N+1 no longer patches) in the
 * same pause.  A revert re-applies the previous level's bundle (kept in the
 * ledger) or, at the bottom of the stack, restores every site.
 */
#ifndef HVP_ENGINE_H
#define HVP_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "hv_error.h"
#include "guest/guest.h"
#include "bundle/hvb.h"
#include "ledger/hvl.h"
#include "state.h"

#define HVP_DEFAULT_LEDGER  "/var/lib/hvpatch/ledger.db"
#define HVP_LOCK_DIR	    "/run/hvpatch/lock"
#define HVP_DEFAULT_TRUSTED "/etc/hvpatch/trusted-keys"

struct hvp_opts {
	const char *trusted_dir;   /* NULL: HVP_DEFAULT_TRUSTED */
	unsigned deadline_ms;	   /* 0: HVA_DEFAULT_PAUSE_DEADLINE_MS */
	bool dry_run;		   /* plan and check, write nothing */
	bool to_none;		   /* revert: remove every level at once */
	unsigned agent_timeout_ms; /* 0: 2000; telling the agent never fails an apply */
	unsigned stack_wait_ms;	   /* 0: 15000; how long a task in the way may take to leave */
	bool no_stack_check;	   /* skip the tasks' stack check (a kernel without BTF) */
	bool no_ftrace_guard;	   /* leave newly patched functions in the guest's ftrace */
	bool allow_downgrade;	   /* apply a level older than the one installed */
};

/* What an apply or revert did (or would do, with dry_run). */
struct hvp_report {
	char kind[16]; /* "apply" or "revert" */
	char domain[256];
	char uuid[40];
	char from_level[HVP_STATE_TEXT];
	char to_level[HVP_STATE_TEXT];
	int64_t op_id;
	uint64_t pause_us;
	uint64_t bytes_written;
	unsigned writes;
	unsigned sites_changed;
	unsigned slot;		/* slot the new level lives in (HVP_NO_SLOT: none) */
	const char *write_path; /* "gdbstub", "ram", ... */
	bool dry_run;
	char reconciled[256];	    /* what the start-up reconcile found, or "" */
	char agent[512];	    /* what the guest agent said, or why it was not told */
	unsigned stack_tasks;	    /* tasks whose kernel stacks were checked */
	uint64_t stack_check_us;    /* the longest stack check (in the pause) */
	uint64_t stack_waited_ms;   /* waited for tasks to leave the changed code */
	unsigned ftrace_marked;	    /* functions taken out of the guest's ftrace */
	unsigned ftrace_restored;   /* functions given back to the guest's ftrace */
	uint64_t ftrace_btf_us;	    /* reading the ftrace layout from the BTF (before the pause) */
	uint64_t ftrace_find_us;    /* finding the ftrace records (before the pause) */
	unsigned ftrace_groups;	    /* ftrace_page groups walked to find them */
	unsigned ftrace_reads;	    /* guest reads the walk made */
	uint64_t ftrace_check_us;   /* the longest check of ftrace_lock and users in a pause */
	unsigned ftrace_lock_waits; /* pauses that found the guest's ftrace_lock held */
	/* Replacements of functions of modules that are not loaded: no site
	 * yet (docs/OPERATOR-GUIDE.md, "Functions of modules"). */
	unsigned npending;
	char pending[HVP_STATE_MAX_SITES][HVP_STATE_TEXT];
	/* Sites of the previous level whose module went away: left alone. */
	unsigned ngone;
	char gone[HVP_STATE_MAX_SITES][HVP_STATE_TEXT];
};

/*
 * One difference between what the ledger says hvpatch left in the guest
 * and what the guest holds (tampering, or drift at a site).  Everything
 * here is host-made text: guest bytes appear only as hex.
 */
#define HVP_MAX_FINDINGS 24
struct hvp_finding {
	char what[96];	   /* "site cmdline_proc_show", "patch-area record", ... */
	uint64_t gpa;	   /* where it differs (0: not one address) */
	uint64_t gva;	   /* the kernel address, when there is one (else 0) */
	char expected[40]; /* hex of the first differing bytes (up to 16), or "" */
	char found[40];
	char detail[320]; /* one sentence: which field, or why it matters */
};

struct hvp_findings {
	unsigned n;	/* findings recorded (at most HVP_MAX_FINDINGS) */
	unsigned total; /* findings seen, also those not recorded */
	bool blocking;	/* one of them refuses a revert (sites, page directory, boot) */
	struct hvp_finding f[HVP_MAX_FINDINGS];
};

/* One patched function as status shows it. */
struct hvp_site_status {
	struct hvp_site site;
	uint8_t now[5]; /* bytes at the site now */
	bool intact;	/* now == site.jmp (and, in a module, the module is still there) */
	char module[HVB_MAX_MODULE_NAME + 1]; /* "" for a kernel function */
	bool gone; /* its module was unloaded (or reloaded unpatched): no site any more */
};

/* A replacement of the level whose module was not loaded when it was applied. */
struct hvp_pending {
	char target[HVP_STATE_TEXT];	      /* "MODULE:function" */
	char module[HVB_MAX_MODULE_NAME + 1]; /* MODULE */
	bool loaded_now; /* the module is loaded now: apply the level again to patch it */
};

/*
 * What status found.  state, sites, patched and ledger_level come from the
 * ledger (what hvpatch itself wrote); guest_record is what the patch
 * area's record says (guest-reported), agent what the guest agent said.
 */
struct hvp_status {
	char domain[256];
	char uuid[40];
	char release[64];
	char build_id[130];
	char boot_key[HVP_STATE_TEXT];
	uint64_t pgd_gpa;	/* the top-level page table the walks used (init_top_pgt) */
	bool patched;		/* a level is installed in this boot */
	bool new_boot;		/* hvpatch last patched an earlier boot: this one is unpatched */
	struct hvp_state state; /* from the ledger: the record page hvpatch last wrote */
	struct hvp_state guest_record; /* guest-reported: the record in the patch area now */
	int guest_record_known;	       /* 1 decoded, 0 no record there, -1 not a valid record */
	struct hvp_findings tamper;    /* every difference from the ledger (sites included) */
	struct hvp_site_status sites[HVP_STATE_MAX_SITES];
	unsigned drifted; /* sites that no longer hold hvpatch's jump (gone ones not counted) */
	unsigned gone;	  /* sites whose module went away */
	unsigned npending;
	struct hvp_pending pending[HVP_STATE_MAX_SITES];
	char ledger_level[HVP_STATE_TEXT];
	int ledger_known;	       /* the ledger knows this boot */
	char reconciled[256];	       /* what the reconcile found, or "" */
	struct hvl_agent_report agent; /* the agent's latest word (agent.summary) */
	int agent_known;
};

/*
 * An engine session: the guest opened and seen, its ledger, and the
 * per-domain lock.  Every operation below takes one, so every caller gets
 * the same mutual exclusion.  Callers read g (and l) but do not replace
 * them.
 */
struct hvp_session {
	struct hva *h; /* the hypervisor session g stands on */
	struct hvg *g;
	struct hvl_ledger *l;
	int lock_fd;
};

struct hvp_session_opts {
	const char *uri;	 /* libvirt URI; NULL: qemu:///system */
	const char *qmp_socket;	 /* a QEMU run without libvirt */
	const char *ledger_path; /* NULL: HVP_DEFAULT_LEDGER (its directory is created 0700) */
	const char *lock_dir;	 /* NULL: HVP_LOCK_DIR */
};

/*
 * Open @domain for the engine: open and see the guest (a second and third
 * look when the vCPU's page tables vanished while being read), take the
 * domain's lock, open the ledger.  On success *@out (free with
 * hvp_session_close()) holds all three.  Errors: those of hvg_open()
 * (prefixed "opening DOMAIN (nothing was changed)"), HV_E_BUSY (another
 * hvpatch holds the domain's lock), HV_E_PERM/HV_E_IO (lock or ledger
 * directory), those of hvl_open().
 */
int hvp_session_open(const char *domain, const struct hvp_session_opts *o,
		     struct hvp_session **out) HV_WUR;

/* Close the ledger and the guest and drop the lock.  Accepts NULL. */
void hvp_session_close(struct hvp_session *s);

/* The session's guest (owned by the session). */
struct hvg *hvp_session_guest(const struct hvp_session *s);

/*
 * Apply the bundle file @bundle_path to the session's guest.  Verifies the
 * signature against opts->trusted_dir, the build-id, every symbol and every
 * site before touching the guest.  Returns 0 and fills *@rep; on failure
 * the guest holds exactly what it held before, and the error names the step.
 */
int hvp_apply(struct hvp_session *s, const char *bundle_path, const struct hvp_opts *opts,
	      struct hvp_report *rep) HV_WUR;

/* Return to the previous level (or to none with opts->to_none). */
int hvp_revert(struct hvp_session *s, const struct hvp_opts *opts, struct hvp_report *rep) HV_WUR;

/*
 * What is installed, from the ledger, and everything in the guest that
 * differs from it: the record, the patch area's page table, the
 * page-directory entry that maps it, the code of the level's slot
 * (recomputed from the ledger's copy of the bundle) and every site's jump
 * (drift), in st->tamper.  Runs the reconcile first; a reconcile that
 * finds the guest matching neither the old nor the new bytes of an open
 * operation is a finding too (the operation stays open).  Does not pause
 * the guest.  Returns 0 (findings are not errors) or an error reading the
 * guest or the ledger.
 */
int hvp_status(struct hvp_session *s, struct hvp_status *st) HV_WUR;

/*
 * Finish an operation a crashed hvpatch left open for @g's domain, deciding
 * only from the bytes each of its logged writes finds in the guest: every
 * new byte there: done; some new, the rest old: the new ones are undone
 * in one pause (rolled back); every one old: rolled back.  A guest that
 * says it rebooted (another boot key) is believed only when none of the
 * operation's writes to kernel memory holds its new bytes.  A write that
 * holds neither its old nor its new bytes is tampering: HV_E_VERIFY naming
 * it, and the operation stays open.  Writes a sentence of what it did into
 * @what ("" when nothing was open).
 */
int hvp_reconcile(struct hvp_session *s, char *what, size_t what_len) HV_WUR;

/* The boot key of the guest's current boot (KASLR base, page directory). */
void hvp_boot_key(const struct hvg *g, char out[HVP_STATE_TEXT]);

#endif
