/*
 * hvg: a running guest, opened and seen.  Joins the hypervisor access layer
 * (hva.h) and libhvi (hvi_kernel.h): open the domain, pause it briefly to
 * read a vCPU's CR3/CR4/IDTR, resume, then locate the kernel and build its
 * symbol index from guest memory (shared RAM reads, no pause needed).
 *
 * Used by hvpatch inspect/sym/addr and by the apply engine:
 *
 *   struct hvg_opts o = HVG_OPTS_INIT;
 *   struct hvg *g;
 *   if (hvg_open("domain", &o, &g) < 0) ... hv_err_last() ...
 *   g->k->syms                    symbol index (hvi_sym_lookup() ...)
 *   g->k->pg                      page walks (hvi_translate() ...)
 *   g->k->loc.l2_gpa, l2_free[]   the kernel-image page directory
 *   g->h                          the hva session (pause, writes)
 *   hvg_close(g);
 */
#ifndef HVG_GUEST_H
#define HVG_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "hv_error.h"
#include "hvi_kernel.h"
#include "hvi_tasks.h"
#include "access/hva.h"

struct hvg_opts {
	const char *uri;	/* libvirt URI; NULL = qemu:///system */
	const char *qmp_socket; /* bare QEMU instead of libvirt */
	unsigned deadline_ms;	/* pause watchdog; 0 = default */
	int cpu;		/* vCPU whose CR3 is used; -1 = the first one */
	bool user_cr3;		/* wait for a vCPU in user mode (CPL 3) and use its CR3 */
	unsigned user_wait_ms;	/* how long to look for one (0 = 30000) */
	bool idt_check;		/* cross-check the base with IDT gate 0 when IDTR is known */
};
#define HVG_OPTS_INIT                             \
	{                                         \
		NULL, NULL, 0, -1, false, 0, true \
	}

struct hvg {
	struct hva *h; /* owned unless attached with hvg_attach() */
	bool own_h;
	struct hva_info info;
	struct hva_regs regs; /* of the vCPU used */
	unsigned cpu;	      /* that vCPU */
	unsigned pauses;      /* pauses needed to get the registers */
	uint64_t pause_us;    /* longest of them */
	struct hvi_mem mem;
	struct hvi_kernel *k; /* owned */
	uint64_t index_us;    /* time to locate the kernel and build the index */
	uint64_t total_us;    /* open to ready */
	/* Where the kernel keeps what the stack check reads (from its BTF),
	 * learned on first use. */
	struct hvi_task_layout task_layout;
	bool have_task_layout;
};

/*
 * Open @domain and see its kernel.  On success *@out (free with
 * hvg_close()) holds the session and the kernel view.  Errors: those of
 * hva_open() and hvi_kernel_open() (with the step named), HV_E_TIMEOUT
 * when opts->user_cr3 found no vCPU in user mode in time.
 */
int hvg_open(const char *domain, const struct hvg_opts *opts, struct hvg **out) HV_WUR;

/*
 * As hvg_open() on a session the caller already holds; @h stays the
 * caller's (hvg_close() does not close it).  If @h is paused on entry it is
 * left paused; otherwise it is paused only to read registers.
 */
int hvg_attach(struct hva *h, const struct hvg_opts *opts, struct hvg **out) HV_WUR;

/* Free the view (and the session if hvg_open() made it); accepts NULL. */
void hvg_close(struct hvg *g);

#endif
