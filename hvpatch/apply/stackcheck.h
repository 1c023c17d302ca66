/*
 * The stack check of a switch: inside the pause, no task of the guest may
 * have, on its kernel stack, a return address inside a function whose site
 * the switch changes or inside code the switch rewrites.  A task asleep
 * there would wake up in rewritten bytes, or run a mix of old and new
 * code.  Checked from guest memory alone: the task lists and stacks are
 * read with libhvi (hvi_tasks.h), the structure layout comes from the
 * kernel's own BTF.
 */
#ifndef HVP_STACKCHECK_H
#define HVP_STACKCHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "guest/guest.h"
#include "hv_error.h"
#include "hvi_tasks.h"

#define HVP_STACK_MAX_RANGES 160

/* What to keep off every stack. */
struct hvp_stack_ranges {
	struct hvi_code_range r[HVP_STACK_MAX_RANGES];
	char what[HVP_STACK_MAX_RANGES][96];
	unsigned n;
};

/* How many of the tasks in the way a refusal names. */
#define HVP_STACK_MAX_NAMED 4

/* A task in the way of a switch. */
struct hvp_stack_task {
	int32_t pid;
	char comm[HVI_TASK_COMM_LEN + 1];
	uint64_t addr; /* the return address found */
	char what[96]; /* the function or slot it lies in */
};

/* The tasks that block a switch. */
struct hvp_stack_block {
	struct hvp_stack_task t[HVP_STACK_MAX_NAMED]; /* the first ones found */
	unsigned named;				      /* entries of t[] filled */
	unsigned blocked;			      /* tasks in the way, in all */
	unsigned tasks;				      /* tasks looked at */
	uint64_t check_us;			      /* how long the check took */
};

/*
 * Add the function starting at @entry (a site being changed; its end is the
 * next kernel symbol, at most 64 KiB on) to @sr, named @name.  Errors:
 * HV_E_RANGE when @sr is full.
 */
int hvp_stack_add_function(const struct hvg *g, struct hvp_stack_ranges *sr, uint64_t entry,
			   const char *name) HV_WUR;

/* Add the code range [@lo, @hi) named @what. */
int hvp_stack_add_range(struct hvp_stack_ranges *sr, uint64_t lo, uint64_t hi,
			const char *what) HV_WUR;

/*
 * Learn where the kernel keeps what the check reads (from its BTF: copying
 * and parsing it takes milliseconds), once per guest session.  Call it
 * before pausing, so the pause pays only for the walk.  Errors: those of
 * reading the BTF (HV_E_NOTFOUND: the kernel has none).
 */
int hvp_stack_prepare(struct hvg *g) HV_WUR;

/*
 * With the guest paused: walk every task and scan its stack (from the
 * saved stack pointer; for a task running on a vCPU in kernel mode, from
 * that vCPU's RSP, from @regs: one per vCPU) for an address in @sr.  Returns 0 when no task is in
 * the way, 1 with *@blk naming the first task that is, or a negative
 * HV_E_* (no usable layout: the kernel has no BTF hvpatch can read;
 * hostile lists; read errors).  blk->tasks and blk->check_us are filled
 * in every case.
 */
int hvp_stack_check(struct hvg *g, const struct hvp_stack_ranges *sr, const struct hva_regs *regs,
		    unsigned nregs, struct hvp_stack_block *blk) HV_WUR;

/*
 * Write into @buf (@len bytes, always terminated) the tasks of @blk for an
 * error: "task 7 (cat) has 0x... on its kernel stack, inside pipe_read",
 * joined by "; " when there are more, and "; N more" past the named ones.
 */
void hvp_stack_block_describe(const struct hvp_stack_block *blk, char *buf, size_t len);

#endif
