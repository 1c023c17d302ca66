/*
 * hvi_tasks: every task of a guest kernel, from its memory alone, and a
 * conservative scan of each task's kernel stack for return addresses in
 * given code ranges.
 *
 * Why: a task asleep in a function whose code is about to change would wake
 * up in rewritten bytes.  Before a switch, the caller (in a pause) asks
 * whether any task's stack holds an address inside a function whose site
 * changes or inside code about to be rewritten.
 *
 * Everything here is read from guest memory and untrusted: the lists may
 * loop, point outside RAM or be endless; every walk is bounded (a task
 * count limit and a step limit per list) and every pointer is read through
 * the page tables, so a hostile guest gets an error, not a hang.
 *
 * The layout (member offsets) comes from the caller (from the kernel's own
 * BTF), so one build of libhvi serves every kernel build.
 */
#ifndef HVI_TASKS_H
#define HVI_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include "hv_error.h"
#include "hvi_paging.h"

/* More tasks than this is taken for a corrupt or hostile list. */
#define HVI_TASKS_MAX (1u << 20)
/* x86-64 kernel stacks (THREAD_SIZE, without KASAN). */
#define HVI_STACK_BYTES	  16384u
#define HVI_TASK_COMM_LEN 16

/* Where the fields hvpatch reads sit in the guest's structs. */
struct hvi_task_layout {
	uint32_t tasks;	      /* task_struct.tasks (list_head): every process */
	uint32_t signal;      /* task_struct.signal (pointer) */
	uint32_t thread_head; /* signal_struct.thread_head (list_head) */
	uint32_t thread_node; /* task_struct.thread_node (list_head): a process's threads */
	uint32_t stack;	      /* task_struct.stack (pointer to the stack's base) */
	uint32_t thread_sp;   /* task_struct.thread.sp (saved stack pointer) */
	uint32_t pid;	      /* task_struct.pid (int) */
	uint32_t comm;	      /* task_struct.comm (char[16]) */
	uint32_t on_cpu;      /* task_struct.on_cpu (int) */
};

/* One task as the walk saw it. */
struct hvi_task {
	uint64_t gva; /* the task_struct */
	int32_t pid;
	char comm[HVI_TASK_COMM_LEN + 1]; /* NUL-terminated; hvi_text_copy(): bytes
					   * outside printable ASCII as '?' */
	uint64_t stack;			  /* base of its kernel stack */
	uint64_t sp;			  /* saved stack pointer */
	int32_t on_cpu;
};

/*
 * Call @fn for every thread of every process, starting from the task_struct
 * at @init_task (the kernel's init_task).  Stops at the first non-zero
 * return of @fn and returns it.  Returns the number of tasks seen, or a
 * negative HV_E_*: HV_E_FORMAT when a list loops, is longer than
 * HVI_TASKS_MAX or leaves the kernel's address space, errors of the reads.
 */
int hvi_tasks_walk(const struct hvi_paging *pg, const struct hvi_task_layout *lay,
		   uint64_t init_task, int (*fn)(void *ctx, const struct hvi_task *t),
		   void *ctx) HV_WUR;

/* A code range [lo, hi) to look for on stacks, and what to call it. */
struct hvi_code_range {
	uint64_t lo, hi;
	const char *what;
};

/* Where a stack scan found a hit. */
struct hvi_stack_hit {
	uint64_t slot_gva; /* the stack word holding it */
	uint64_t value;	   /* the address found */
	unsigned range;	   /* index into the ranges */
};

/*
 * Scan task @t's kernel stack word by word from @from (its saved stack
 * pointer, or a vCPU's RSP for a running task; 0: t->sp) up to the top of
 * the stack for a value inside one of @ranges.  Conservative: any word
 * that looks like such an address counts, so a stale value only delays.
 * Returns 1 with *@hit filled on a hit, 0 when the stack is clear, or a
 * negative HV_E_* (HV_E_RANGE: the pointer is not inside the task's
 * stack; read errors).
 */
int hvi_stack_scan(const struct hvi_paging *pg, const struct hvi_task *t, uint64_t from,
		   const struct hvi_code_range *ranges, unsigned nranges,
		   struct hvi_stack_hit *hit) HV_WUR;

#endif
