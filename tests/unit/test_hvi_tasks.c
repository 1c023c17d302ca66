/*
 * The task walk and the stack scan over synthetic guest memory: a direct
 * map of RAM at the kernel's page_offset, task_structs with their
 * signal_structs and thread lists, and stacks holding chosen words; then
 * hostile lists (a loop that never comes back, a pointer outside the
 * kernel, an endless list) and hostile stacks.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvi_paging.h"
#include "hvi_tasks.h"
#include "hvi_testlib.h"

#define RAM	  (8ull << 20)
#define TABLES	  (6ull << 20)
#define TABLES_SZ (1ull << 20)
#define PO	  0xffff888000000000ull /* direct map of RAM */

/* The synthetic layout (offsets in our fake task_struct / signal_struct). */
static const struct hvi_task_layout L = {
	.tasks = 0x100,
	.signal = 0x200,
	.thread_head = 0x10,
	.thread_node = 0x180,
	.stack = 0x20,
	.thread_sp = 0x300,
	.pid = 0x40,
	.comm = 0x60,
	.on_cpu = 0x48,
};

static struct tmem t;
static struct hvi_paging pg;

#define TASK(i)	  (PO + 0x100000 + (uint64_t)(i)*0x1000)
#define SIGNAL(i) (PO + 0x200000 + (uint64_t)(i)*0x100)
#define STACK(i)  (PO + 0x400000 + (uint64_t)(i)*HVI_STACK_BYTES)

static void w64(uint64_t gva, uint64_t v)
{
	put_u64(t.ram + (gva - PO), v);
}

static void w32(uint64_t gva, uint32_t v)
{
	put_u32(t.ram + (gva - PO), v);
}

/*
 * @nproc processes; process i has threads[i] threads (tasks numbered in
 * order, task 0 is init_task with one thread).
 */
static unsigned build(unsigned nproc, const unsigned *threads)
{
	unsigned p, k, n = 0, first[64];

	ck_assert_int_eq(tmem_init(&t, RAM, TABLES, TABLES_SZ, 4), 0);
	tmem_map(&t, PO, 0, HVI_PAGE_1G, HVI_PTE_RW | HVI_PTE_NX);
	ck_assert_int_eq(hvi_paging_init(&pg, &t.mem, t.pgd, tmem_cr4(&t)), 0);
	for (p = 0; p < nproc; p++) {
		uint64_t head = SIGNAL(p) + L.thread_head, prev = head;

		first[p] = n;
		for (k = 0; k < threads[p]; k++, n++) {
			char comm[16];

			w64(TASK(n) + L.signal, SIGNAL(p));
			w64(TASK(n) + L.stack, STACK(n));
			w64(TASK(n) + L.thread_sp, STACK(n) + HVI_STACK_BYTES - 256);
			w32(TASK(n) + L.pid, 100 + n);
			snprintf(comm, sizeof(comm), "task%u", n);
			memcpy(t.ram + (TASK(n) + L.comm - PO), comm, strlen(comm));
			w64(prev, TASK(n) + L.thread_node);
			prev = TASK(n) + L.thread_node;
		}
		w64(prev, head);
	}
	/* The process list: each process's first thread, in a ring. */
	for (p = 0; p < nproc; p++)
		w64(TASK(first[p]) + L.tasks, TASK(first[(p + 1) % nproc]) + L.tasks);
	return n;
}

static int count_cb(void *ctx, const struct hvi_task *task)
{
	unsigned *n = ctx;

	ck_assert_int_eq(task->pid, 100 + (int)*n);
	ck_assert_uint_eq(task->stack, STACK(*n));
	(*n)++;
	return 0;
}

START_TEST(walk_sees_every_thread_of_every_process)
{
	const unsigned threads[] = { 1, 3, 1, 4 };
	unsigned n = 0, total = build(4, threads);

	ck_assert_int_eq(hvi_tasks_walk(&pg, &L, TASK(0), count_cb, &n), (int)total);
	ck_assert_uint_eq(n, total);
	tmem_free(&t);
}
END_TEST

static int stop_at_5(void *ctx, const struct hvi_task *task)
{
	(void)ctx;
	return task->pid == 105 ? 42 : 0;
}

START_TEST(walk_stops_when_told)
{
	const unsigned threads[] = { 1, 3, 4 };

	build(3, threads);
	ck_assert_int_eq(hvi_tasks_walk(&pg, &L, TASK(0), stop_at_5, NULL), 42);
	tmem_free(&t);
}
END_TEST

static int nothing(void *ctx, const struct hvi_task *task)
{
	(void)ctx;
	(void)task;
	return 0;
}

START_TEST(walk_refuses_hostile_lists)
{
	const unsigned threads[] = { 1, 2, 2 };

	/* A thread list that loops without coming back to its head. */
	build(3, threads);
	w64(TASK(2) + L.thread_node, TASK(1) + L.thread_node);
	ck_assert_int_eq(hvi_tasks_walk(&pg, &L, TASK(0), nothing, NULL), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "loops"));
	tmem_free(&t);

	/* A process list that never returns to init_task. */
	build(3, threads);
	w64(TASK(3) + L.tasks, TASK(1) + L.tasks);
	ck_assert_int_eq(hvi_tasks_walk(&pg, &L, TASK(0), nothing, NULL), HV_E_FORMAT);
	tmem_free(&t);

	/* A user-space pointer, an unaligned one, an unmapped kernel one. */
	build(3, threads);
	w64(TASK(1) + L.thread_node, 0x400000);
	ck_assert_int_eq(hvi_tasks_walk(&pg, &L, TASK(0), nothing, NULL), HV_E_FORMAT);
	w64(TASK(1) + L.thread_node, TASK(2) + L.thread_node + 3);
	ck_assert_int_eq(hvi_tasks_walk(&pg, &L, TASK(0), nothing, NULL), HV_E_FORMAT);
	w64(TASK(1) + L.thread_node, 0xffffc90000000000ull);
	ck_assert_int_lt(hvi_tasks_walk(&pg, &L, TASK(0), nothing, NULL), 0);
	w64(TASK(1) + L.signal, 0);
	ck_assert_int_eq(hvi_tasks_walk(&pg, &L, TASK(1), nothing, NULL), HV_E_FORMAT);
	ck_assert_int_eq(hvi_tasks_walk(&pg, &L, 0x1000, nothing, NULL), HV_E_FORMAT);
	tmem_free(&t);
}
END_TEST

static int keep(void *ctx, const struct hvi_task *task)
{
	*(struct hvi_task *)ctx = *task;
	return 0;
}

START_TEST(walk_comm_is_printable)
{
	const unsigned threads[] = { 1 };
	struct hvi_task task;

	build(1, threads);
	/* 16 bytes, none of them a NUL, with control characters. */
	memcpy(t.ram + (TASK(0) + L.comm - PO), "a\rb\x1b[2Jcdefghijklm", 16);
	ck_assert_int_eq(hvi_tasks_walk(&pg, &L, TASK(0), keep, &task), 1);
	ck_assert_str_eq(task.comm, "a?b?[2Jcdefghijk");
	tmem_free(&t);
}
END_TEST

static const struct hvi_code_range ranges[] = {
	{ 0xffffffff81234000ull, 0xffffffff81234100ull, "pipe_read" },
	{ 0xffffffffc1000000ull, 0xffffffffc1100000ull, "slot 0" },
};

static struct hvi_task one_task(void)
{
	const unsigned threads[] = { 1 };
	struct hvi_task task = { 0 };

	build(1, threads);
	task.pid = 100;
	snprintf(task.comm, sizeof(task.comm), "reader");
	task.stack = STACK(0);
	task.sp = STACK(0) + HVI_STACK_BYTES - 256;
	return task;
}

START_TEST(scan_finds_a_return_address_above_the_stack_pointer)
{
	struct hvi_task task = one_task();
	struct hvi_stack_hit hit;

	ck_assert_int_eq(hvi_stack_scan(&pg, &task, 0, ranges, 2, &hit), 0);
	w64(task.sp + 64, 0xffffffffc1000123ull);
	ck_assert_int_eq(hvi_stack_scan(&pg, &task, 0, ranges, 2, &hit), 1);
	ck_assert_uint_eq(hit.range, 1);
	ck_assert_uint_eq(hit.value, 0xffffffffc1000123ull);
	ck_assert_uint_eq(hit.slot_gva, task.sp + 64);
	/* The end of a range is outside it. */
	w64(task.sp + 64, 0xffffffff81234100ull);
	ck_assert_int_eq(hvi_stack_scan(&pg, &task, 0, ranges, 2, &hit), 0);
	w64(task.sp + 64, 0xffffffff812340ffull);
	ck_assert_int_eq(hvi_stack_scan(&pg, &task, 0, ranges, 2, &hit), 1);
	ck_assert_uint_eq(hit.range, 0);
	/* Below the stack pointer is dead stack: not scanned. */
	w64(task.sp + 64, 0);
	w64(task.sp - 64, 0xffffffffc1000123ull);
	ck_assert_int_eq(hvi_stack_scan(&pg, &task, 0, ranges, 2, &hit), 0);
	/* From a running vCPU's RSP instead. */
	ck_assert_int_eq(hvi_stack_scan(&pg, &task, task.sp - 128, ranges, 2, &hit), 1);
	tmem_free(&t);
}
END_TEST

START_TEST(scan_of_a_hostile_stack)
{
	struct hvi_task task = one_task();
	struct hvi_stack_hit hit;

	/* A saved stack pointer outside the stack: the whole stack is read. */
	w64(STACK(0) + 8, 0xffffffffc1000123ull);
	task.sp = 0xdeadbeef;
	ck_assert_int_eq(hvi_stack_scan(&pg, &task, 0, ranges, 2, &hit), 1);
	/* A stack that is not a kernel page, or not mapped. */
	task.stack = 0x7000;
	ck_assert_int_eq(hvi_stack_scan(&pg, &task, 0, ranges, 2, &hit), HV_E_RANGE);
	task.stack = STACK(0) + 8;
	ck_assert_int_eq(hvi_stack_scan(&pg, &task, 0, ranges, 2, &hit), HV_E_RANGE);
	task.stack = 0xffffc90000000000ull;
	ck_assert_int_lt(hvi_stack_scan(&pg, &task, 0, ranges, 2, &hit), 0);
	task.stack = 0xfffffffffffff000ull;
	ck_assert_int_eq(hvi_stack_scan(&pg, &task, 0, ranges, 2, &hit), HV_E_RANGE);
	tmem_free(&t);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("hvi_tasks");
	TCase *tc = tcase_create("tasks");

	tcase_add_test(tc, walk_sees_every_thread_of_every_process);
	tcase_add_test(tc, walk_stops_when_told);
	tcase_add_test(tc, walk_refuses_hostile_lists);
	tcase_add_test(tc, walk_comm_is_printable);
	tcase_add_test(tc, scan_finds_a_return_address_above_the_stack_pointer);
	tcase_add_test(tc, scan_of_a_hostile_stack);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
