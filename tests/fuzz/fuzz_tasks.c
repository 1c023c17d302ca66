/*
 * libhvi's task walk and stack scan over a hostile guest RAM.  Input: a
 * 32-byte header (CR3, CR4 flag byte, init_task, nine 16-bit member
 * offsets) and then the RAM (guest-physical 0 onwards, which the header's
 * page tables map as they like).  Every walk must end, in bounded time, in
 * a count or an error; every hit must lie in the range it names; every
 * task name must be printable ASCII.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hvi_mem.h"
#include "hvi_paging.h"
#include "hvi_tasks.h"
#include "hvi_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	const struct hvi_paging *pg;
	unsigned n;
};

static const struct hvi_code_range ranges[] = {
	{ 0xffffffff81000000ull, 0xffffffff81100000ull, "text" },
	{ 0xffffffffc0000000ull, 0xffffffffc0200000ull, "slot" },
};

static int visit(void *opaque, const struct hvi_task *t)
{
	struct ctx *c = opaque;
	struct hvi_stack_hit hit;
	int r;

	if (t->comm[HVI_TASK_COMM_LEN] != '\0' || strlen(t->comm) > HVI_TASK_COMM_LEN ||
	    !hvi_text_printable(t->comm, strlen(t->comm)))
		abort();
	r = hvi_stack_scan(c->pg, t, 0, ranges, 2, &hit);
	if (r == 1 && (hit.range > 1 || hit.value < ranges[hit.range].lo ||
		       hit.value >= ranges[hit.range].hi || hit.slot_gva < t->stack ||
		       hit.slot_gva >= t->stack + HVI_STACK_BYTES))
		abort();
	return ++c->n > 4096; /* enough of one input */
}

static uint64_t le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hvi_task_layout lay;
	struct hvi_flat_mem flat;
	struct hvi_mem mem;
	struct hvi_paging pg;
	struct ctx c = { &pg, 0 };
	uint16_t off[9];
	unsigned i;
	int r;

	if (size < 32 + 4096)
		return 0;
	for (i = 0; i < 9; i++)
		off[i] = (uint16_t)le(data + 14 + 2 * i, 2);
	lay = (struct hvi_task_layout){ off[0], off[1], off[2], off[3], off[4],
					off[5], off[6], off[7], off[8] };
	hvi_mem_flat(&mem, &flat, data + 32, size - 32);
	if (hvi_paging_init(&pg, &mem, le(data, 5) % (size - 32),
			    (data[5] & 1) ? HVI_CR4_LA57 : 0) < 0)
		return 0;
	r = hvi_tasks_walk(&pg, &lay, 0xffff000000000000ull | le(data + 6, 8), visit, &c);
	if (r > (int)HVI_TASKS_MAX)
		abort();
	return 0;
}
