/*
 * The stack check of a switch (see stackcheck.h).
 */
#include "config.h"

#include "stackcheck.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hv_clock.h"
#include "hvi_btf.h"
#include "hvi_kallsyms.h"
#include "hvi_kernel.h"

/* A function longer than this is taken to end here (the next symbol may be
 * far away after padding or data). */
#define FUNC_MAX_BYTES 65536u

/* What visit() tells the walk on an error (beyond any task count the walk
 * can reach). */
#define VISIT_ERROR ((1 << 30) + 1)

int hvp_stack_add_range(struct hvp_stack_ranges *sr, uint64_t lo, uint64_t hi, const char *what)
{
	if (sr->n >= HVP_STACK_MAX_RANGES)
		return hv_err(HV_E_RANGE, "more than %u code ranges to keep off the stacks",
			      HVP_STACK_MAX_RANGES);
	snprintf(sr->what[sr->n], sizeof(sr->what[0]), "%s", what);
	sr->r[sr->n] = (struct hvi_code_range){ lo, hi, sr->what[sr->n] };
	sr->n++;
	return 0;
}

int hvp_stack_add_function(const struct hvg *g, struct hvp_stack_ranges *sr, uint64_t entry,
			   const char *name)
{
	size_t lo = 0, hi = hvi_symtab_count(g->k->syms);
	uint64_t end = entry + FUNC_MAX_BYTES;
	struct hvi_sym s;

	/* The first symbol above @entry, by binary search in address order. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (hvi_symtab_get(g->k->syms, mid, &s) < 0) {
			hv_err_clear();
			break;
		}
		if (s.absolute || s.addr <= entry)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < hvi_symtab_count(g->k->syms) && hvi_symtab_get(g->k->syms, lo, &s) == 0 &&
	    !s.absolute && s.addr > entry && s.addr < end)
		end = s.addr;
	hv_err_clear();
	return hvp_stack_add_range(sr, entry, end, name);
}

/* The offsets hvpatch reads, from the kernel's own BTF. */
static int task_layout(struct hvg *g, struct hvi_task_layout *lay)
{
	static const struct {
		const char *type, *member;
		size_t off;
	} want[] = {
		{ "task_struct", "tasks", offsetof(struct hvi_task_layout, tasks) },
		{ "task_struct", "signal", offsetof(struct hvi_task_layout, signal) },
		{ "signal_struct", "thread_head", offsetof(struct hvi_task_layout, thread_head) },
		{ "task_struct", "thread_node", offsetof(struct hvi_task_layout, thread_node) },
		{ "task_struct", "stack", offsetof(struct hvi_task_layout, stack) },
		{ "task_struct", "thread.sp", offsetof(struct hvi_task_layout, thread_sp) },
		{ "task_struct", "pid", offsetof(struct hvi_task_layout, pid) },
		{ "task_struct", "comm", offsetof(struct hvi_task_layout, comm) },
		{ "task_struct", "on_cpu", offsetof(struct hvi_task_layout, on_cpu) },
	};
	struct hvi_btf *btf = NULL;
	size_t k;
	int r;

	r = hvi_btf_open(g->k, &btf);
	if (r < 0)
		return hv_err_prefix("reading the guest kernel's BTF (needed to check the tasks' "
				     "stacks)");
	for (k = 0; k < sizeof(want) / sizeof(want[0]) && r == 0; k++) {
		uint32_t off = 0, size = 0;

		r = hvi_btf_member_offset(btf, want[k].type, want[k].member, &off, &size);
		if (r == 0)
			*(uint32_t *)((char *)lay + want[k].off) = off;
	}
	hvi_btf_free(btf);
	return r;
}

struct walk_ctx {
	const struct hvi_paging *pg;
	const struct hvp_stack_ranges *sr;
	const struct hva_regs *regs;
	unsigned nregs;
	struct hvp_stack_block *blk;
	int err;
};

static int visit(void *opaque, const struct hvi_task *t)
{
	struct walk_ctx *c = opaque;
	struct hvi_stack_hit hit;
	uint64_t from = 0;
	unsigned k;
	int r;

	c->blk->tasks++;
	/* A task running in the kernel on a vCPU: its live stack starts at
	 * that vCPU's RSP. */
	for (k = 0; k < c->nregs; k++)
		if (c->regs[k].cpl == 0 && c->regs[k].rsp >= t->stack &&
		    c->regs[k].rsp - t->stack < HVI_STACK_BYTES)
			from = c->regs[k].rsp;
	r = hvi_stack_scan(c->pg, t, from, c->sr->r, c->sr->n, &hit);
	if (r < 0) {
		/* An exiting task's stack may be gone already: not in the way. */
		if (r == HV_E_RANGE) {
			hv_err_clear();
			return 0;
		}
		c->err = r;
		return VISIT_ERROR;
	}
	if (r == 0)
		return 0;
	/* Every task in the way is counted, and the first few named: the one
	 * the operator can act on may not be the first on the list (init
	 * waiting for a pipe, say, before the reader that holds it up). */
	if (c->blk->named < HVP_STACK_MAX_NAMED) {
		struct hvp_stack_task *bt = &c->blk->t[c->blk->named++];

		bt->pid = t->pid;
		snprintf(bt->comm, sizeof(bt->comm), "%s", t->comm);
		bt->addr = hit.value;
		snprintf(bt->what, sizeof(bt->what), "%s", c->sr->what[hit.range]);
	}
	c->blk->blocked++;
	return 0;
}

void hvp_stack_block_describe(const struct hvp_stack_block *blk, char *buf, size_t len)
{
	size_t off = 0;
	unsigned k;
	int n;

	if (!len)
		return;
	buf[0] = '\0';
	for (k = 0; k < blk->named && off < len; k++) {
		n = snprintf(buf + off, len - off,
			     "%stask %d (%s) has 0x%" PRIx64 " on its kernel stack, inside %s",
			     k ? "; " : "", (int)blk->t[k].pid, blk->t[k].comm, blk->t[k].addr,
			     blk->t[k].what);
		if (n < 0)
			return;
		off += (size_t)n;
	}
	if (blk->blocked > blk->named && off < len)
		snprintf(buf + off, len - off, "; %u more", blk->blocked - blk->named);
}

int hvp_stack_prepare(struct hvg *g)
{
	int r;

	if (g->have_task_layout)
		return 0;
	r = task_layout(g, &g->task_layout);
	if (r == 0)
		g->have_task_layout = true;
	return r;
}

int hvp_stack_check(struct hvg *g, const struct hvp_stack_ranges *sr, const struct hva_regs *regs,
		    unsigned nregs, struct hvp_stack_block *blk)
{
	struct walk_ctx c = { &g->k->pg, sr, regs, nregs, blk, 0 };
	struct hvi_task_layout lay;
	uint64_t t0 = hv_mono_us();
	struct hvi_sym init;
	int r;

	memset(blk, 0, sizeof(*blk));
	r = hvp_stack_prepare(g);
	if (r < 0)
		goto out;
	lay = g->task_layout;
	r = hvi_sym_lookup(g->k->syms, "init_task", &init);
	if (r < 0) {
		r = hv_err_prefix("finding the guest's task list");
		goto out;
	}
	r = hvi_tasks_walk(&g->k->pg, &lay, init.addr, visit, &c);
	if (r == VISIT_ERROR)
		r = hv_err_prefix("checking the stack of a guest task");
	else if (r >= 0)
		r = blk->blocked ? 1 : 0;
	else
		r = hv_err_prefix("walking the guest's tasks");
out:
	blk->check_us = hv_mono_us() - t0;
	return r;
}
