/*
 * hvi_ftrace over synthetic guest memory: a direct map of RAM at the
 * kernel's page_offset holding ftrace_page chains (sorted core groups, an
 * unsorted-across-groups module group, empty groups), a struct mutex and
 * ftrace_ops lists with filter and notrace hashes; then hostile chains
 * (loops at every distance, endless chains, pointers outside the kernel,
 * lying index/order, unmapped arrays, unsorted arrays, absurd hash sizes,
 * looping buckets) and thousands of random corruptions.  The layout comes
 * from synthetic BTF (with offsets unlike 6.1's) and, when it is cached,
 * from the Debian 6.1 kernel's own BTF.
 */
#include "config.h"

#include <bpf/btf.h>
#include <check.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvi_btf.h"
#include "hvi_ftrace.h"
#include "hvi_paging.h"
#include "hvi_testlib.h"

#define RAM	  (8ull << 20)
#define TABLES	  (6ull << 20)
#define TABLES_SZ (1ull << 20)
#define PO	  0xffff888000000000ull /* direct map of RAM */

/* A layout unlike 6.1's: the code must use the offsets it is given. */
static const struct hvi_ftrace_layout L = {
	.pg_next = 16,
	.pg_records = 0,
	.pg_index = 8,
	.pg_order = 12,
	.rec_size = 24,
	.rec_ip = 8,
	.rec_flags = 16,
	.mutex_owner = 8,
	.ops_next = 40,
	.ops_flags = 8,
	.ops_func_hash = 96,
	.ohash_notrace = 8,
	.ohash_filter = 0,
	.hash_size_bits = 16,
	.hash_buckets = 0,
	.hash_count = 8,
	.ent_next = 16,
	.ent_ip = 0,
	.fl_disabled = 1ull << 25,
	.fl_enabled = 1ull << 31,
	.ops_fl_enabled = 1,
};

static struct tmem t;
static struct hvi_paging pg;

/* Where things live in the synthetic RAM (all through the direct map). */
#define START_VAR   (PO + 0x001000)		       /* ftrace_pages_start */
#define GROUP(i)    (PO + 0x002000 + (uint64_t)(i)*64) /* struct ftrace_page */
#define RECORDS(i)  (PO + 0x100000 + (uint64_t)(i)*0x4000)
#define LOCK	    (PO + 0x003000)
#define OPS_LIST    (PO + 0x003100) /* ftrace_ops_list */
#define LIST_END    (PO + 0x003200) /* ftrace_list_end */
#define OPS(i)	    (PO + 0x004000 + (uint64_t)(i)*0x200)
#define FHASH(i)    (PO + 0x008000 + (uint64_t)(i)*0x100) /* struct ftrace_ops_hash */
#define HASH(i)	    (PO + 0x00a000 + (uint64_t)(i)*0x100) /* struct ftrace_hash */
#define BUCKETS(i)  (PO + 0x010000 + (uint64_t)(i)*0x2000)
#define ENTRY(i)    (PO + 0x040000 + (uint64_t)(i)*0x40)
#define UNMAPPED_VA 0xffffc90000000000ull

#define TEXT 0xffffffff81000000ull

static void w64(uint64_t gva, uint64_t v)
{
	put_u64(t.ram + (gva - PO), v);
}

static void w32(uint64_t gva, uint32_t v)
{
	put_u32(t.ram + (gva - PO), v);
}

static void setup(void)
{
	ck_assert_int_eq(tmem_init(&t, RAM, TABLES, TABLES_SZ, 4), 0);
	tmem_map(&t, PO, 0, HVI_PAGE_1G, HVI_PTE_RW | HVI_PTE_NX);
	ck_assert_int_eq(hvi_paging_init(&pg, &t.mem, t.pgd, tmem_cr4(&t)), 0);
}

/* Group @i: @n records with ips from @ips, order @order, next group @next (0: end). */
static void group(unsigned i, const uint64_t *ips, unsigned n, int order, uint64_t next)
{
	unsigned k;

	w64(GROUP(i) + L.pg_next, next);
	w64(GROUP(i) + L.pg_records, RECORDS(i));
	w32(GROUP(i) + L.pg_index, n);
	w32(GROUP(i) + L.pg_order, (uint32_t)order);
	for (k = 0; k < n; k++) {
		w64(RECORDS(i) + k * L.rec_size + L.rec_ip, ips[k]);
		w64(RECORDS(i) + k * L.rec_size + L.rec_flags, k % 7 == 3 ? L.fl_disabled : 0);
	}
}

/*
 * The standard chain: groups 0..2 hold the core kernel's sites (sorted
 * across groups, 100 each, 0x40 apart), group 3 is empty, group 4 a
 * module's (higher addresses, then a lower one after it in chain order is
 * not possible to search globally: only per group).
 */
static uint64_t core_ip(unsigned k)
{
	return TEXT + 0x1000 + 0x40ull * k;
}

static void standard_chain(void)
{
	static uint64_t ips[5][100];
	unsigned g, k;

	for (g = 0; g < 3; g++)
		for (k = 0; k < 100; k++)
			ips[g][k] = core_ip(g * 100 + k);
	for (k = 0; k < 10; k++)
		ips[4][k] = 0xffffffffc0000000ull + 0x100ull * k;
	group(0, ips[0], 100, 1, GROUP(1));
	group(1, ips[1], 100, 1, GROUP(2));
	group(2, ips[2], 100, 1, GROUP(3));
	group(3, NULL, 0, 0, GROUP(4));
	group(4, ips[4], 10, 0, 0);
	w64(START_VAR, GROUP(0));
}

START_TEST(find_records_in_every_group)
{
	uint64_t want[8] = { core_ip(0),
			     core_ip(99),
			     core_ip(100),
			     core_ip(257),
			     core_ip(299),
			     0xffffffffc0000900ull,
			     core_ip(300) /* past the end */,
			     core_ip(5) + 1 /* inside a site, not its start */ };
	struct hvi_ftrace_rec recs[8];
	struct hvi_ftrace_cost c;

	setup();
	standard_chain();
	ck_assert_int_eq(hvi_ftrace_find(&pg, &L, START_VAR, want, 8, recs, &c), 6);
	ck_assert_uint_eq(recs[0].gva, RECORDS(0));
	ck_assert_uint_eq(recs[1].gva, RECORDS(0) + 99 * L.rec_size);
	ck_assert_uint_eq(recs[2].gva, RECORDS(1));
	ck_assert_uint_eq(recs[3].gva, RECORDS(2) + 57 * L.rec_size);
	ck_assert_uint_eq(recs[3].flags, 0);
	ck_assert_uint_eq(recs[4].gva, RECORDS(2) + 99 * L.rec_size);
	ck_assert_uint_eq(recs[5].gva, RECORDS(4) + 9 * L.rec_size);
	ck_assert_uint_eq(recs[6].gva, 0);
	ck_assert_uint_eq(recs[7].gva, 0);
	ck_assert_uint_eq(recs[3].ip, core_ip(257));
	ck_assert_uint_eq(c.groups, 5);
	ck_assert_uint_eq(c.records, 310);
	/* A binary search per group: far fewer reads than records. */
	ck_assert_uint_lt(c.reads, 120);
	/* Record 3 of a group carries DISABLED (see group()). */
	want[0] = core_ip(103);
	ck_assert_int_eq(hvi_ftrace_find(&pg, &L, START_VAR, want, 1, recs, &c), 1);
	ck_assert_uint_eq(recs[0].flags, L.fl_disabled);
	/* Found early: the walk stops. */
	want[0] = core_ip(1);
	ck_assert_int_eq(hvi_ftrace_find(&pg, &L, START_VAR, want, 1, recs, &c), 1);
	ck_assert_uint_eq(c.groups, 1);
	tmem_free(&t);
}
END_TEST

START_TEST(find_in_empty_and_odd_chains)
{
	uint64_t ip = core_ip(3), ips[1] = { core_ip(3) };
	struct hvi_ftrace_rec rec;
	struct hvi_ftrace_cost c;

	setup();
	/* No chain at all. */
	w64(START_VAR, 0);
	ck_assert_int_eq(hvi_ftrace_find(&pg, &L, START_VAR, &ip, 1, &rec, &c), 0);
	ck_assert_uint_eq(rec.gva, 0);
	/* Only empty groups (a records pointer of 0 is fine there). */
	group(0, NULL, 0, 0, GROUP(1));
	group(1, NULL, 0, 0, 0);
	w64(GROUP(1) + L.pg_records, 0);
	w64(START_VAR, GROUP(0));
	ck_assert_int_eq(hvi_ftrace_find(&pg, &L, START_VAR, &ip, 1, &rec, &c), 0);
	ck_assert_uint_eq(c.groups, 2);
	/* Nothing asked: nothing walked. */
	ck_assert_int_eq(hvi_ftrace_find(&pg, &L, START_VAR, &ip, 0, &rec, NULL), 0);
	/* One record, at the end of a full order-0 array (4096 / 24 = 170). */
	{
		static uint64_t many[170];
		unsigned k;

		for (k = 0; k < 170; k++)
			many[k] = core_ip(k);
		group(0, many, 170, 0, 0);
		ips[0] = core_ip(169);
		ck_assert_int_eq(hvi_ftrace_find(&pg, &L, START_VAR, ips, 1, &rec, NULL), 1);
		ck_assert_uint_eq(rec.gva, RECORDS(0) + 169 * L.rec_size);
		/* 171 does not fit in order 0. */
		w32(GROUP(0) + L.pg_index, 171);
		ck_assert_int_eq(hvi_ftrace_find(&pg, &L, START_VAR, ips, 1, &rec, NULL),
				 HV_E_FORMAT);
	}
	tmem_free(&t);
}
END_TEST

START_TEST(find_refuses_hostile_chains)
{
	uint64_t ip = core_ip(400); /* found nowhere: every walk goes to the end */
	struct hvi_ftrace_rec rec;
	unsigned loop_to, len;
	int r;

	setup();
	/* A loop back to every earlier node of chains of every length up to 40. */
	for (len = 1; len <= 40; len++)
		for (loop_to = 0; loop_to < len; loop_to++) {
			unsigned i;

			for (i = 0; i < len; i++)
				group(i, NULL, 0, 0, i + 1 < len ? GROUP(i + 1) : GROUP(loop_to));
			w64(START_VAR, GROUP(0));
			r = hvi_ftrace_find(&pg, &L, START_VAR, &ip, 1, &rec, NULL);
			ck_assert_msg(r == HV_E_FORMAT, "len %u loop to %u: %d", len, loop_to, r);
			ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "loops"));
		}
	/* Pointers that are not aligned kernel addresses. */
	standard_chain();
	w64(GROUP(1) + L.pg_next, 0x1234000);
	ck_assert_int_eq(hvi_ftrace_find(&pg, &L, START_VAR, &ip, 1, &rec, NULL), HV_E_FORMAT);
	w64(GROUP(1) + L.pg_next, GROUP(2) + 1);
	ck_assert_int_eq(hvi_ftrace_find(&pg, &L, START_VAR, &ip, 1, &rec, NULL), HV_E_FORMAT);
	standard_chain();
	w64(GROUP(2) + L.pg_records, 0x7fff0000);
	ck_assert_int_eq(hvi_ftrace_find(&pg, &L, START_VAR, &ip, 1, &rec, NULL), HV_E_FORMAT);
	w64(START_VAR, 0xdead);
	ck_assert_int_eq(hvi_ftrace_find(&pg, &L, START_VAR, &ip, 1, &rec, NULL), HV_E_FORMAT);
	/* Unmapped: the records array, a group, the variable itself. */
	standard_chain();
	w64(GROUP(2) + L.pg_records, UNMAPPED_VA);
	ck_assert_int_lt(hvi_ftrace_find(&pg, &L, START_VAR, &ip, 1, &rec, NULL), 0);
	standard_chain();
	w64(GROUP(2) + L.pg_next, UNMAPPED_VA);
	ck_assert_int_lt(hvi_ftrace_find(&pg, &L, START_VAR, &ip, 1, &rec, NULL), 0);
	ck_assert_int_lt(hvi_ftrace_find(&pg, &L, UNMAPPED_VA, &ip, 1, &rec, NULL), 0);
	/* Lying index and order. */
	standard_chain();
	w32(GROUP(1) + L.pg_index, 0xffffffffu);
	ck_assert_int_eq(hvi_ftrace_find(&pg, &L, START_VAR, &ip, 1, &rec, NULL), HV_E_FORMAT);
	standard_chain();
	w32(GROUP(1) + L.pg_order, HVI_FTRACE_MAX_ORDER + 1);
	ck_assert_int_eq(hvi_ftrace_find(&pg, &L, START_VAR, &ip, 1, &rec, NULL), HV_E_FORMAT);
	w32(GROUP(1) + L.pg_order, 0xffffffffu);
	ck_assert_int_eq(hvi_ftrace_find(&pg, &L, START_VAR, &ip, 1, &rec, NULL), HV_E_FORMAT);
	standard_chain();
	w32(GROUP(1) + L.pg_index, 400); /* order 1 holds 341 */
	ck_assert_int_eq(hvi_ftrace_find(&pg, &L, START_VAR, &ip, 1, &rec, NULL), HV_E_FORMAT);
	/* An array that would wrap around the address space. */
	standard_chain();
	w64(GROUP(4) + L.pg_records, 0xfffffffffffff000ull);
	ck_assert_int_eq(hvi_ftrace_find(&pg, &L, START_VAR, &ip, 1, &rec, NULL), HV_E_FORMAT);
	/* A claimed order larger than the memory behind it: the reads fail or
	 * find nothing, within bounds. */
	standard_chain();
	w32(GROUP(4) + L.pg_order, HVI_FTRACE_MAX_ORDER);
	w32(GROUP(4) + L.pg_index, 1000000);
	r = hvi_ftrace_find(&pg, &L, START_VAR, &ip, 1, &rec, NULL);
	ck_assert(r == 0 || r < 0);
	tmem_free(&t);
}
END_TEST

START_TEST(find_refuses_an_endless_chain)
{
	uint64_t ip = core_ip(1);
	struct hvi_ftrace_rec rec;
	unsigned i;

	setup();
	/* HVI_FTRACE_MAX_GROUPS + 1 distinct groups, 32 bytes apart. */
	for (i = 0; i <= HVI_FTRACE_MAX_GROUPS; i++) {
		uint64_t gva = PO + 0x200000 + 32ull * i;

		w64(gva + L.pg_next, i < HVI_FTRACE_MAX_GROUPS ? gva + 32 : 0);
		w32(gva + L.pg_index, 0);
		w32(gva + L.pg_order, 0);
	}
	w64(START_VAR, PO + 0x200000);
	ck_assert_int_eq(hvi_ftrace_find(&pg, &L, START_VAR, &ip, 1, &rec, NULL), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "longer than"));
	/* One fewer: the end is reached. */
	w64(PO + 0x200000 + 32ull * (HVI_FTRACE_MAX_GROUPS - 1) + L.pg_next, 0);
	ck_assert_int_eq(hvi_ftrace_find(&pg, &L, START_VAR, &ip, 1, &rec, NULL), 0);
	tmem_free(&t);
}
END_TEST

START_TEST(find_in_unsorted_groups)
{
	uint64_t ips[50], want;
	struct hvi_ftrace_rec rec;
	unsigned k, found = 0;
	int r;

	setup();
	srand(7);
	for (k = 0; k < 50; k++)
		ips[k] = TEXT + 0x40ull * (unsigned)(rand() % 1000);
	ips[0] = TEXT;
	ips[49] = TEXT + 0x40ull * 1000;
	group(0, ips, 50, 0, 0);
	w64(START_VAR, GROUP(0));
	/* Whatever it finds must be a record holding that ip. */
	for (k = 0; k <= 1000; k++) {
		want = TEXT + 0x40ull * k;
		r = hvi_ftrace_find(&pg, &L, START_VAR, &want, 1, &rec, NULL);
		ck_assert(r == 0 || r == 1);
		if (r == 1) {
			ck_assert_uint_eq(get_u64(t.ram + (rec.gva - PO) + L.rec_ip), want);
			found++;
		}
	}
	ck_assert_uint_ge(found, 2);
	tmem_free(&t);
}
END_TEST

START_TEST(find_refuses_bad_arguments)
{
	static uint64_t ips[HVI_FTRACE_MAX_IPS + 1];
	static struct hvi_ftrace_rec recs[HVI_FTRACE_MAX_IPS + 1];
	struct hvi_ftrace_layout bad = L;

	setup();
	standard_chain();
	ck_assert_int_eq(
		hvi_ftrace_find(&pg, &L, START_VAR, ips, HVI_FTRACE_MAX_IPS + 1, recs, NULL),
		HV_E_INVAL);
	ck_assert_int_eq(hvi_ftrace_find(&pg, &L, START_VAR, ips, HVI_FTRACE_MAX_IPS, recs, NULL),
			 0);
	bad.rec_size = 8;
	ck_assert_int_eq(hvi_ftrace_find(&pg, &bad, START_VAR, ips, 1, recs, NULL), HV_E_INVAL);
	bad = L;
	bad.rec_flags = 20;
	ck_assert_int_eq(hvi_ftrace_find(&pg, &bad, START_VAR, ips, 1, recs, NULL), HV_E_INVAL);
	bad = L;
	bad.pg_order = 4000;
	ck_assert_int_eq(hvi_ftrace_find(&pg, &bad, START_VAR, ips, 1, recs, NULL), HV_E_INVAL);
	tmem_free(&t);
}
END_TEST

START_TEST(lock_owner)
{
	uint64_t owner = 1;

	setup();
	ck_assert_int_eq(hvi_ftrace_lock_owner(&pg, &L, LOCK, &owner), 0);
	ck_assert_uint_eq(owner, 0);
	/* Waiters flagged but nobody holding it (between an unlock and the handoff). */
	w64(LOCK + L.mutex_owner, 0x1);
	ck_assert_int_eq(hvi_ftrace_lock_owner(&pg, &L, LOCK, &owner), 0);
	w64(LOCK + L.mutex_owner, 0xffff888004321c05ull);
	ck_assert_int_eq(hvi_ftrace_lock_owner(&pg, &L, LOCK, &owner), 1);
	ck_assert_uint_eq(owner, 0xffff888004321c00ull);
	ck_assert_int_lt(hvi_ftrace_lock_owner(&pg, &L, UNMAPPED_VA, &owner), 0);
	tmem_free(&t);
}
END_TEST

/* Hash @h (bits @bits) holding @n ips, entries from entry number @e0 on. */
static void hash(unsigned h, unsigned bits, const uint64_t *ips, unsigned n, unsigned e0)
{
	unsigned k, nb = 1u << bits;

	w64(HASH(h) + L.hash_size_bits, bits);
	w64(HASH(h) + L.hash_buckets, BUCKETS(h));
	w64(HASH(h) + L.hash_count, n);
	memset(t.ram + (BUCKETS(h) - PO), 0, 8ull * nb);
	for (k = 0; k < n; k++) {
		uint64_t b = BUCKETS(h) + 8 * hvi_ftrace_hash_bucket(ips[k], bits);
		uint64_t node = ENTRY(e0 + k) + L.ent_next;

		/* Push at the head of the bucket, as hlist_add_head does. */
		w64(node, get_u64(t.ram + (b - PO)));
		w64(ENTRY(e0 + k) + L.ent_ip, ips[k]);
		w64(b, node);
	}
}

/* Ops @i: flags, filter hash @filter, notrace hash @notrace (-1: none), next. */
static void ops(unsigned i, uint64_t flags, int filter, int notrace, uint64_t next)
{
	w64(OPS(i) + L.ops_flags, flags);
	w64(OPS(i) + L.ops_next, next);
	w64(OPS(i) + L.ops_func_hash, FHASH(i));
	w64(FHASH(i) + L.ohash_filter, filter < 0 ? 0 : HASH(filter));
	w64(FHASH(i) + L.ohash_notrace, notrace < 0 ? 0 : HASH(notrace));
}

/*
 * The standard list: ops 0 disabled with an empty filter; ops 1 enabled,
 * filter {A, B, ... 40 ips} in 16 buckets; ops 2 enabled, empty filter
 * hash (every function) but notrace {N} in a one-bucket hash.
 */
#define IP_A core_ip(1)
#define IP_N core_ip(2)
#define IP_X core_ip(3)

static void standard_ops(void)
{
	uint64_t f[40], n[3] = { core_ip(900), IP_N, core_ip(901) }, empty[1] = { 0 };
	unsigned k;

	for (k = 0; k < 40; k++)
		f[k] = core_ip(1 + 7 * k);
	hash(0, 0, empty, 0, 0);
	hash(1, 4, f, 40, 100);
	hash(2, 0, n, 3, 200);
	ops(0, 0x10, 0, -1, OPS(1));
	ops(1, 0x11, 1, -1, OPS(2));
	ops(2, 0x01, 0, 2, LIST_END);
	w64(OPS_LIST, OPS(0));
}

START_TEST(ops_covering)
{
	uint64_t o;
	struct hvi_ftrace_cost c;

	setup();
	standard_ops();
	/* A is in ops 1's filter. */
	ck_assert_int_eq(hvi_ftrace_ops_covering(&pg, &L, OPS_LIST, LIST_END, IP_A, &o, &c), 1);
	ck_assert_uint_eq(o, OPS(1));
	ck_assert_uint_eq(c.groups, 2);
	/* X: not in ops 1's filter, but ops 2 traces everything. */
	ck_assert_int_eq(hvi_ftrace_ops_covering(&pg, &L, OPS_LIST, LIST_END, IP_X, &o, &c), 1);
	ck_assert_uint_eq(o, OPS(2));
	/* N: in ops 2's notrace hash: nobody. */
	ck_assert_int_eq(hvi_ftrace_ops_covering(&pg, &L, OPS_LIST, LIST_END, IP_N, &o, &c), 0);
	ck_assert_uint_eq(o, 0);
	ck_assert_uint_eq(c.groups, 3);
	/* Ops 2 disabled: X is traced by nobody. */
	w64(OPS(2) + L.ops_flags, 0);
	ck_assert_int_eq(hvi_ftrace_ops_covering(&pg, &L, OPS_LIST, LIST_END, IP_X, &o, NULL), 0);
	/* Ops 1's filter hash pointer missing: it traces everything. */
	w64(FHASH(1) + L.ohash_filter, 0);
	ck_assert_int_eq(hvi_ftrace_ops_covering(&pg, &L, OPS_LIST, LIST_END, IP_X, &o, NULL), 1);
	ck_assert_uint_eq(o, OPS(1));
	/* An empty list. */
	w64(OPS_LIST, LIST_END);
	ck_assert_int_eq(hvi_ftrace_ops_covering(&pg, &L, OPS_LIST, LIST_END, IP_X, &o, &c), 0);
	ck_assert_uint_eq(c.groups, 0);
	ck_assert_uint_eq(c.reads, 1);
	tmem_free(&t);
}
END_TEST

START_TEST(ops_refuses_hostile_lists)
{
	uint64_t o;
	unsigned i, len, to;

	setup();
	/* Disabled ops in loops of every shape. */
	for (len = 1; len <= 20; len++)
		for (to = 0; to < len; to++) {
			for (i = 0; i < len; i++)
				ops(i, 0, -1, -1, i + 1 < len ? OPS(i + 1) : OPS(to));
			w64(OPS_LIST, OPS(0));
			ck_assert_int_eq(hvi_ftrace_ops_covering(&pg, &L, OPS_LIST, LIST_END, IP_X,
								 &o, NULL),
					 HV_E_FORMAT);
		}
	/* A list that ends without ftrace_list_end. */
	standard_ops();
	w64(OPS(2) + L.ops_next, 0);
	w64(OPS(2) + L.ops_flags, 0);
	ck_assert_int_eq(hvi_ftrace_ops_covering(&pg, &L, OPS_LIST, LIST_END, IP_N, &o, NULL),
			 HV_E_FORMAT);
	/* An enabled ops without hashes. */
	standard_ops();
	w64(OPS(1) + L.ops_func_hash, 0);
	ck_assert_int_eq(hvi_ftrace_ops_covering(&pg, &L, OPS_LIST, LIST_END, IP_N, &o, NULL),
			 HV_E_FORMAT);
	/* A hash claiming 2^40 buckets. */
	standard_ops();
	w64(HASH(1) + L.hash_size_bits, 40);
	ck_assert_int_eq(hvi_ftrace_ops_covering(&pg, &L, OPS_LIST, LIST_END, IP_N, &o, NULL),
			 HV_E_FORMAT);
	/* A bucket chain that loops (every entry of ops 2's notrace hash in one bucket). */
	standard_ops();
	w64(ENTRY(202) + L.ent_next, ENTRY(200) + L.ent_next);
	w64(ENTRY(200) + L.ent_next, ENTRY(202) + L.ent_next);
	w64(BUCKETS(2), ENTRY(202) + L.ent_next);
	ck_assert_int_eq(hvi_ftrace_ops_covering(&pg, &L, OPS_LIST, LIST_END, IP_N, &o, NULL),
			 HV_E_FORMAT);
	/* Unmapped buckets, entries and hashes: read errors. */
	standard_ops();
	w64(HASH(1) + L.hash_buckets, UNMAPPED_VA);
	ck_assert_int_lt(hvi_ftrace_ops_covering(&pg, &L, OPS_LIST, LIST_END, IP_N, &o, NULL), 0);
	standard_ops();
	w64(FHASH(2) + L.ohash_notrace, UNMAPPED_VA);
	ck_assert_int_lt(hvi_ftrace_ops_covering(&pg, &L, OPS_LIST, LIST_END, IP_N, &o, NULL), 0);
	standard_ops();
	w64(OPS(1) + L.ops_next, 0x5000);
	ck_assert_int_eq(hvi_ftrace_ops_covering(&pg, &L, OPS_LIST, LIST_END, IP_N, &o, NULL),
			 HV_E_FORMAT);
	tmem_free(&t);
}
END_TEST

/* Many enabled ops sharing one long bucket chain without the ip: bounded
 * by the read budget, not by ops x chain. */
START_TEST(ops_work_is_bounded)
{
	uint64_t chain[200], o;
	struct hvi_ftrace_cost c;
	unsigned i, n = 2000;
	int r;

	setup();
	for (i = 0; i < 200; i++)
		chain[i] = core_ip(1000 + i);
	hash(5, 0, chain, 200, 300);
	w64(FHASH(0) + L.ohash_filter, HASH(5));
	w64(FHASH(0) + L.ohash_notrace, 0);
	for (i = 0; i < n; i++) {
		uint64_t at = PO + 0x300000 + 0x80ull * i;

		w64(at + L.ops_flags, 1);
		w64(at + L.ops_func_hash, FHASH(0));
		w64(at + L.ops_next, i + 1 < n ? at + 0x80 : LIST_END);
	}
	w64(OPS_LIST, PO + 0x300000);
	r = hvi_ftrace_ops_covering(&pg, &L, OPS_LIST, LIST_END, IP_X, &o, &c);
	ck_assert_int_eq(r, HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "more than"));
	ck_assert_uint_le(c.reads, HVI_FTRACE_MAX_READS + 1);
	/* 100 of them: answered. */
	w64(PO + 0x300000 + 0x80ull * 99 + L.ops_next, LIST_END);
	ck_assert_int_eq(hvi_ftrace_ops_covering(&pg, &L, OPS_LIST, LIST_END, IP_X, &o, &c), 0);
	ck_assert_uint_eq(c.groups, 100);
	tmem_free(&t);
}
END_TEST

START_TEST(hash_is_the_kernels)
{
	/* hash_64(val, bits) = val * 0x61C8864680B583EB >> (64 - bits). */
	ck_assert_uint_eq(hvi_ftrace_hash_bucket(1, 10), 0x61C8864680B583EBull >> 54);
	ck_assert_uint_eq(hvi_ftrace_hash_bucket(0xffffffff81234560ull, 0), 0);
	ck_assert_uint_eq(hvi_ftrace_hash_bucket(0xffffffff81234560ull, 12),
			  (0xffffffff81234560ull * 0x61C8864680B583EBull) >> 52);
	ck_assert_uint_lt(hvi_ftrace_hash_bucket(0xffffffff81234560ull, 7), 128);
}
END_TEST

/* Random bytes over every structure: never a crash or a hang; every
 * failure carries its sentence; every record found holds the ip asked. */
START_TEST(random_corruption)
{
	struct hvi_ftrace_rec recs[4];
	uint64_t want[4] = { core_ip(0), core_ip(150), core_ip(299), 0xffffffffc0000400ull };
	uint64_t o, owner;
	unsigned iter, k;
	int r;

	setup();
	srand(2026);
	for (iter = 0; iter < 3000; iter++) {
		standard_chain();
		standard_ops();
		for (k = 0; k < 1 + (unsigned)(rand() % 8); k++) {
			uint64_t areas[] = { GROUP(0), GROUP(3), START_VAR, OPS(0),
					     OPS(2),   FHASH(1), HASH(1),   ENTRY(100) };
			uint64_t at = areas[rand() % 8] + (uint64_t)(rand() % 64);

			if (rand() % 2)
				t.ram[at - PO] = (uint8_t)rand();
			else
				w64(at & ~7ull, PO + (uint64_t)(rand() % 0x80000));
		}
		r = hvi_ftrace_find(&pg, &L, START_VAR, want, 4, recs, NULL);
		ck_assert(r <= 4);
		if (r < 0)
			ck_assert_int_eq(hv_err_last()->code, r);
		for (k = 0; r > 0 && k < 4; k++)
			if (recs[k].gva)
				ck_assert_uint_eq(get_u64(t.ram + (recs[k].gva - PO) + L.rec_ip),
						  want[k]);
		r = hvi_ftrace_ops_covering(&pg, &L, OPS_LIST, LIST_END, want[k % 4], &o, NULL);
		ck_assert(r == 0 || r == 1 || (r < 0 && hv_err_last()->code == r));
		ck_assert_int_ge(hvi_ftrace_lock_owner(&pg, &L, LOCK, &owner), 0);
	}
	tmem_free(&t);
}
END_TEST

/* ---- the layout from BTF ---- */

static int must(int id)
{
	ck_assert_int_gt(id, 0);
	return id;
}

static void field(int r)
{
	ck_assert_int_eq(r, 0);
}

/*
 * Synthetic BTF with the structs hvi_ftrace reads at @L's offsets, the
 * FTRACE_FL_* enumerators in an anonymous (signed) enum, as 6.1 has them.
 * @wrong_size makes dyn_ftrace.flags 4 bytes; @no_disabled leaves
 * FTRACE_FL_DISABLED out; @two_bits gives it the value 3.
 */
static struct hvi_btf *synthetic_btf(int wrong_size, int no_disabled, int two_bits)
{
	struct btf *w = btf__new_empty();
	struct hvi_btf *b = NULL;
	const void *raw;
	__u32 raw_len;
	int ul, in, ptr, hnode, e;

	ck_assert_ptr_nonnull(w);
	ul = must(btf__add_int(w, "long unsigned int", 8, 0));
	in = must(btf__add_int(w, "int", 4, BTF_INT_SIGNED));
	ptr = must(btf__add_ptr(w, ul));
	must(btf__add_struct(w, "ftrace_page", 24));
	field(btf__add_field(w, "records", ptr, 0, 0));
	field(btf__add_field(w, "index", in, 64, 0));
	field(btf__add_field(w, "order", in, 96, 0));
	field(btf__add_field(w, "next", ptr, 128, 0));
	must(btf__add_struct(w, "dyn_ftrace", 24));
	field(btf__add_field(w, "arch", ul, 0, 0));
	field(btf__add_field(w, "ip", ul, 64, 0));
	field(btf__add_field(w, "flags", wrong_size ? in : ul, 128, 0));
	must(btf__add_struct(w, "mutex", 32));
	field(btf__add_field(w, "wait_lock", ul, 0, 0));
	field(btf__add_field(w, "owner", ul, 64, 0));
	must(btf__add_struct(w, "ftrace_ops", 184));
	field(btf__add_field(w, "func", ptr, 0, 0));
	field(btf__add_field(w, "flags", ul, 64, 0));
	field(btf__add_field(w, "next", ptr, 320, 0));
	field(btf__add_field(w, "func_hash", ptr, 768, 0));
	must(btf__add_struct(w, "ftrace_ops_hash", 48));
	field(btf__add_field(w, "filter_hash", ptr, 0, 0));
	field(btf__add_field(w, "notrace_hash", ptr, 64, 0));
	must(btf__add_struct(w, "ftrace_hash", 48));
	field(btf__add_field(w, "buckets", ptr, 0, 0));
	field(btf__add_field(w, "count", ul, 64, 0));
	field(btf__add_field(w, "size_bits", ul, 128, 0));
	hnode = must(btf__add_struct(w, "hlist_node", 16));
	field(btf__add_field(w, "pprev", ptr, 0, 0));
	field(btf__add_field(w, "next", ptr, 64, 0));
	must(btf__add_struct(w, "ftrace_func_entry", 32));
	field(btf__add_field(w, "ip", ul, 0, 0));
	field(btf__add_field(w, "hlist", hnode, 64, 0)); /* hlist at 8: its next at 16 */
	e = must(btf__add_enum(w, NULL, 4));
	ck_assert_int_eq(btf__add_enum_value(w, "FTRACE_FL_ENABLED", INT32_MIN), 0);
	if (!no_disabled)
		ck_assert_int_eq(
			btf__add_enum_value(w, "FTRACE_FL_DISABLED", two_bits ? 3 : 1 << 25), 0);
	(void)e;
	must(btf__add_enum(w, NULL, 4));
	ck_assert_int_eq(btf__add_enum_value(w, "FTRACE_OPS_FL_ENABLED", 1), 0);
	raw = btf__raw_data(w, &raw_len);
	ck_assert_ptr_nonnull(raw);
	ck_assert_int_eq(hvi_btf_from_bytes(raw, raw_len, "synthetic BTF", &b), 0);
	btf__free(w);
	return b;
}

START_TEST(layout_from_synthetic_btf)
{
	struct hvi_ftrace_layout lay;
	struct hvi_btf *b = synthetic_btf(0, 0, 0);

	ck_assert_int_eq(hvi_ftrace_layout_from_btf(b, &lay), 0);
	ck_assert_uint_eq(lay.pg_next, 16);
	ck_assert_uint_eq(lay.pg_records, 0);
	ck_assert_uint_eq(lay.pg_index, 8);
	ck_assert_uint_eq(lay.pg_order, 12);
	ck_assert_uint_eq(lay.rec_size, 24);
	ck_assert_uint_eq(lay.rec_ip, 8);
	ck_assert_uint_eq(lay.rec_flags, 16);
	ck_assert_uint_eq(lay.mutex_owner, 8);
	ck_assert_uint_eq(lay.ops_next, 40);
	ck_assert_uint_eq(lay.ops_flags, 8);
	ck_assert_uint_eq(lay.ops_func_hash, 96);
	ck_assert_uint_eq(lay.ohash_filter, 0);
	ck_assert_uint_eq(lay.ohash_notrace, 8);
	ck_assert_uint_eq(lay.hash_size_bits, 16);
	ck_assert_uint_eq(lay.hash_buckets, 0);
	ck_assert_uint_eq(lay.hash_count, 8);
	ck_assert_uint_eq(lay.ent_next, 16);
	ck_assert_uint_eq(lay.ent_ip, 0);
	ck_assert_uint_eq(lay.fl_disabled, 1u << 25);
	ck_assert_uint_eq(lay.fl_enabled, 1ull << 31); /* signed in BTF, a bit here */
	ck_assert_uint_eq(lay.ops_fl_enabled, 1);
	ck_assert_int_eq(memcmp(&lay, &L, sizeof(L)), 0);
	hvi_btf_free(b);
	b = synthetic_btf(1, 0, 0);
	ck_assert_int_eq(hvi_ftrace_layout_from_btf(b, &lay), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "dyn_ftrace.flags is 4 bytes"));
	hvi_btf_free(b);
	b = synthetic_btf(0, 1, 0);
	ck_assert_int_eq(hvi_ftrace_layout_from_btf(b, &lay), HV_E_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "FTRACE_FL_DISABLED"));
	hvi_btf_free(b);
	b = synthetic_btf(0, 0, 1);
	ck_assert_int_eq(hvi_ftrace_layout_from_btf(b, &lay), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "not a single flag bit"));
	hvi_btf_free(b);
}
END_TEST

START_TEST(layout_without_ftrace)
{
	struct btf *w = btf__new_empty();
	struct hvi_btf *b = NULL;
	struct hvi_ftrace_layout lay;
	const void *raw;
	__u32 raw_len;

	must(btf__add_int(w, "int", 4, BTF_INT_SIGNED));
	raw = btf__raw_data(w, &raw_len);
	ck_assert_int_eq(hvi_btf_from_bytes(raw, raw_len, "synthetic BTF", &b), 0);
	ck_assert_int_eq(hvi_ftrace_layout_from_btf(b, &lay), HV_E_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "ftrace_page"));
	hvi_btf_free(b);
	btf__free(w);
}
END_TEST

/* ---- the cached Debian kernel ---- */

static char vmlinux_path[600];

START_TEST(layout_of_the_debian_kernel)
{
	struct btf *raw_btf = btf__parse_raw(vmlinux_path);
	struct btf *elf_btf = raw_btf ? raw_btf : btf__parse_elf(vmlinux_path, NULL);
	struct hvi_ftrace_layout lay;
	struct hvi_btf *b = NULL;
	const void *raw;
	__u32 raw_len;

	ck_assert_ptr_nonnull(elf_btf);
	raw = btf__raw_data(elf_btf, &raw_len);
	ck_assert_ptr_nonnull(raw);
	ck_assert_int_eq(hvi_btf_from_bytes(raw, raw_len, "the Debian kernel's BTF", &b), 0);
	ck_assert_int_eq(hvi_ftrace_layout_from_btf(b, &lay), 0);
	/* pahole -F btf on 6.1.0-56 (docs/INTROSPECTION.md). */
	ck_assert_uint_eq(lay.pg_next, 0);
	ck_assert_uint_eq(lay.pg_records, 8);
	ck_assert_uint_eq(lay.pg_index, 16);
	ck_assert_uint_eq(lay.pg_order, 20);
	ck_assert_uint_eq(lay.rec_size, 16);
	ck_assert_uint_eq(lay.rec_ip, 0);
	ck_assert_uint_eq(lay.rec_flags, 8);
	ck_assert_uint_eq(lay.mutex_owner, 0);
	ck_assert_uint_eq(lay.ops_next, 8);
	ck_assert_uint_eq(lay.ops_flags, 16);
	ck_assert_uint_eq(lay.ops_func_hash, 88);
	ck_assert_uint_eq(lay.ohash_notrace, 0);
	ck_assert_uint_eq(lay.ohash_filter, 8);
	ck_assert_uint_eq(lay.hash_size_bits, 0);
	ck_assert_uint_eq(lay.hash_buckets, 8);
	ck_assert_uint_eq(lay.hash_count, 16);
	ck_assert_uint_eq(lay.ent_next, 0);
	ck_assert_uint_eq(lay.ent_ip, 16);
	ck_assert_uint_eq(lay.fl_disabled, 1u << 25);
	ck_assert_uint_eq(lay.fl_enabled, 1ull << 31);
	ck_assert_uint_eq(lay.ops_fl_enabled, 1);
	hvi_btf_free(b);
	btf__free(elf_btf);
}
END_TEST

int main(void)
{
	const char *cache = getenv("HVPATCH_CACHE");
	const char *abi = getenv("HVPATCH_TEST_ABI");
	Suite *s = suite_create("hvi_ftrace");
	TCase *tc = tcase_create("ftrace");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, find_records_in_every_group);
	tcase_add_test(tc, find_in_empty_and_odd_chains);
	tcase_add_test(tc, find_refuses_hostile_chains);
	tcase_add_test(tc, find_refuses_an_endless_chain);
	tcase_add_test(tc, find_in_unsorted_groups);
	tcase_add_test(tc, find_refuses_bad_arguments);
	tcase_add_test(tc, lock_owner);
	tcase_add_test(tc, ops_covering);
	tcase_add_test(tc, ops_refuses_hostile_lists);
	tcase_add_test(tc, ops_work_is_bounded);
	tcase_add_test(tc, hash_is_the_kernels);
	tcase_add_test(tc, random_corruption);
	tcase_add_test(tc, layout_from_synthetic_btf);
	tcase_add_test(tc, layout_without_ftrace);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	snprintf(vmlinux_path, sizeof(vmlinux_path), "%s/kernels/%s/vmlinux",
		 cache ? cache : "/var/cache/hvpatch", abi ? abi : "6.1.0-56");
	if (access(vmlinux_path, R_OK) == 0) {
		TCase *real = tcase_create("real kernel");

		tcase_set_timeout(real, 120);
		tcase_add_test(real, layout_of_the_debian_kernel);
		suite_add_tcase(s, real);
	} else {
		printf("note: %s is not cached; the real-kernel case is left out\n", vmlinux_path);
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
