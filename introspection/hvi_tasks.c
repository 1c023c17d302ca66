/*
 * Every task of a guest kernel and a conservative scan of its kernel stack
 * (see hvi_tasks.h).  The lists are guest memory: every step is bounded
 * and every pointer checked before it is followed.
 */
#include "hvi_tasks.h"
#include "hvi_text.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Lowest address of the kernel half of the address space. */
#define KERNEL_HALF 0xffff800000000000ull

/*
 * A few recent translations, kept for one walk (the guest is paused, its
 * tables do not change meanwhile): task_structs and stacks sit in large
 * direct-map or vmalloc pages, so most reads skip the page walk.
 */
#define VCACHE_SLOTS 16

struct vcache {
	const struct hvi_paging *pg;
	uint64_t gva[VCACHE_SLOTS], gpa[VCACHE_SLOTS], size[VCACHE_SLOTS];
	unsigned n, next;
};

static int cread(struct vcache *c, uint64_t gva, void *buf, size_t len)
{
	uint8_t *out = buf;

	while (len) {
		struct hvi_walk w;
		uint64_t off, gpa = 0;
		size_t chunk;
		unsigned i;
		int r;

		for (i = 0; i < c->n; i++)
			if (gva >= c->gva[i] && gva - c->gva[i] < c->size[i])
				break;
		if (i == c->n) {
			r = hvi_walk(c->pg, gva, &w);
			if (r < 0)
				return hv_err_prefix("reading guest-virtual 0x%" PRIx64, gva);
			i = c->next;
			c->next = (c->next + 1) % VCACHE_SLOTS;
			if (c->n < VCACHE_SLOTS)
				c->n++;
			c->gva[i] = gva & ~(w.page_size - 1);
			c->gpa[i] = w.page_gpa;
			c->size[i] = w.page_size;
		}
		off = gva - c->gva[i];
		gpa = c->gpa[i] + off;
		chunk = len < c->size[i] - off ? len : (size_t)(c->size[i] - off);
		r = hvi_mem_read(c->pg->mem, gpa, out, chunk);
		if (r < 0)
			return r;
		out += chunk;
		gva += chunk;
		len -= chunk;
	}
	return 0;
}

static int read_u64(struct vcache *c, uint64_t gva, uint64_t *v)
{
	return cread(c, gva, v, sizeof(*v));
}

/* A pointer read from a list must stay in the kernel half and be aligned. */
static int check_ptr(uint64_t p, const char *what)
{
	if (p < KERNEL_HALF || (p & 7))
		return hv_err(HV_E_FORMAT,
			      "the guest's %s holds 0x%" PRIx64 ", not a kernel pointer", what, p);
	return 0;
}

/*
 * Brent's cycle detection over the nodes a list walk visits: a list that
 * loops without coming back to its head is caught after a few times the
 * loop's length, with no extra reads.
 */
struct brent {
	uint64_t tortoise;
	unsigned power, lam;
};

static void brent_init(struct brent *b, uint64_t start)
{
	b->tortoise = start;
	b->power = b->lam = 1;
}

/* True when @node was seen before (the list loops). */
static bool brent_step(struct brent *b, uint64_t node)
{
	if (node == b->tortoise)
		return true;
	if (b->power == b->lam) {
		b->tortoise = node;
		b->power *= 2;
		b->lam = 0;
	}
	b->lam++;
	return false;
}

static int read_task(struct vcache *c, const struct hvi_task_layout *lay, uint64_t gva,
		     struct hvi_task *t)
{
	char comm[HVI_TASK_COMM_LEN];
	int r;

	memset(t, 0, sizeof(*t));
	t->gva = gva;
	r = cread(c, gva + lay->pid, &t->pid, sizeof(t->pid));
	if (r == 0)
		r = cread(c, gva + lay->comm, comm, sizeof(comm));
	if (r == 0)
		r = read_u64(c, gva + lay->stack, &t->stack);
	if (r == 0)
		r = read_u64(c, gva + lay->thread_sp, &t->sp);
	if (r == 0)
		r = cread(c, gva + lay->on_cpu, &t->on_cpu, sizeof(t->on_cpu));
	if (r < 0)
		return hv_err_prefix("reading the task at 0x%" PRIx64, gva);
	hvi_text_copy(t->comm, sizeof(t->comm), (const uint8_t *)comm, sizeof(comm));
	return 0;
}

int hvi_tasks_walk(const struct hvi_paging *pg, const struct hvi_task_layout *lay,
		   uint64_t init_task, int (*fn)(void *ctx, const struct hvi_task *t), void *ctx)
{
	uint64_t p = init_task, next, signal, head, node;
	struct brent procs_seen, threads_seen;
	struct vcache c = { .pg = pg };
	struct hvi_task t;
	unsigned seen = 0, procs = 0;
	int r;

	r = check_ptr(init_task, "init_task");
	if (r < 0)
		return r;
	brent_init(&procs_seen, init_task);
	do {
		/* The threads of process @p, from its signal_struct's list. */
		r = read_u64(&c, p + lay->signal, &signal);
		if (r == 0)
			r = check_ptr(signal, "task's signal pointer");
		if (r < 0)
			return r;
		head = signal + lay->thread_head;
		brent_init(&threads_seen, head);
		r = read_u64(&c, head, &node);
		while (r == 0 && node != head) {
			r = check_ptr(node, "thread list");
			if (r < 0)
				break;
			if (brent_step(&threads_seen, node)) {
				r = hv_err(HV_E_FORMAT,
					   "the guest's thread list at 0x%" PRIx64
					   " loops without coming back to its head",
					   head);
				break;
			}
			if (++seen > HVI_TASKS_MAX) {
				r = hv_err(
					HV_E_FORMAT,
					"the guest's task lists hold more than %u tasks: a loop or "
					"a corrupt list",
					HVI_TASKS_MAX);
				break;
			}
			r = read_task(&c, lay, node - lay->thread_node, &t);
			if (r == 0) {
				r = fn(ctx, &t);
				if (r != 0)
					return r;
				r = read_u64(&c, node, &node);
			}
		}
		if (r < 0)
			return r;
		/* The next process. */
		r = read_u64(&c, p + lay->tasks, &next);
		if (r == 0)
			r = check_ptr(next, "process list");
		if (r < 0)
			return r;
		p = next - lay->tasks;
		if (p != init_task && brent_step(&procs_seen, p))
			return hv_err(HV_E_FORMAT,
				      "the guest's process list loops without coming back to "
				      "init_task");
		if (++procs > HVI_TASKS_MAX)
			return hv_err(HV_E_FORMAT,
				      "the guest's process list is longer than %u: a loop or a "
				      "corrupt list",
				      HVI_TASKS_MAX);
	} while (p != init_task);
	return (int)seen;
}

int hvi_stack_scan(const struct hvi_paging *pg, const struct hvi_task *t, uint64_t from,
		   const struct hvi_code_range *ranges, unsigned nranges, struct hvi_stack_hit *hit)
{
	uint64_t words[HVI_STACK_BYTES / 8], base = t->stack, start;
	size_t i, first;
	unsigned k;
	int r;

	if (!from)
		from = t->sp;
	if (base < KERNEL_HALF || (base & (4096 - 1)) || base + HVI_STACK_BYTES < base)
		return hv_err(HV_E_RANGE,
			      "task %d (%s) has no kernel stack hvpatch can read (base 0x%" PRIx64
			      ")",
			      (int)t->pid, t->comm, base);
	/* From the stack pointer up; a pointer outside the stack (a hostile or
	 * racing guest) makes the scan cover the whole stack instead. */
	start = from >= base && from < base + HVI_STACK_BYTES ? from & ~7ull : base;
	first = (size_t)(start - base) / 8;
	{
		struct vcache c = { .pg = pg };

		r = cread(&c, start, &words[first], HVI_STACK_BYTES - (size_t)(start - base));
	}
	if (r < 0)
		return hv_err_prefix("reading the kernel stack of task %d (%s)", (int)t->pid,
				     t->comm);
	for (i = first; i < HVI_STACK_BYTES / 8; i++)
		for (k = 0; k < nranges; k++)
			if (words[i] >= ranges[k].lo && words[i] < ranges[k].hi) {
				hit->slot_gva = base + 8 * i;
				hit->value = words[i];
				hit->range = k;
				return 1;
			}
	return 0;
}
