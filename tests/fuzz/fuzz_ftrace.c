/*
 * libhvi's reader of the guest's ftrace records, ftrace_lock and ftrace
 * users over a hostile guest RAM.  Input: a 40-byte header, then the RAM
 * (guest-physical 0 onwards, at most 1 MiB), which the fuzzer maps at the
 * kernel's direct map (0xffff888000000000) with page tables of its own:
 *
 *   u32 offset of ftrace_pages_start   u32 offset of ftrace_lock
 *   u32 offset of ftrace_ops_list      u32 offset of ftrace_list_end
 *   u64 ip[3]                           (the addresses looked up)
 *
 * with the Debian 6.1 layout (struct ftrace_page { next, records, index,
 * order }, struct dyn_ftrace { ip, flags } of 16 bytes, ...).  Every call
 * must end in bounded time with a result or an error that carries its
 * sentence; a record found holds the ip asked for.  Seeds: chain (four
 * groups, one empty, the ips in the second and fourth), ops (three
 * ftrace_ops, one enabled with a filter hash holding ip[0]).
 */
/* clang-format off */
/* fuzz-sources: introspection/hvi_ftrace.c introspection/hvi_btf.c introspection/hvi_paging.c introspection/hvi_mem.c hvpatch/common/hv_buf.c hvpatch/common/hv_error.c */
/* clang-format on */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hvi_ftrace.h"
#include "hvi_paging.h"

#define PO	    0xffff888000000000ull
#define HDR	    40u
#define RAM_MAX	    (1u << 20)
#define TABLE_BYTES 4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct hvi_ftrace_layout L61 = {
	.pg_next = 0,
	.pg_records = 8,
	.pg_index = 16,
	.pg_order = 20,
	.rec_size = 16,
	.rec_ip = 0,
	.rec_flags = 8,
	.mutex_owner = 0,
	.ops_next = 8,
	.ops_flags = 16,
	.ops_func_hash = 88,
	.ohash_notrace = 0,
	.ohash_filter = 8,
	.hash_size_bits = 0,
	.hash_buckets = 8,
	.hash_count = 16,
	.ent_next = 0,
	.ent_ip = 16,
	.fl_disabled = 1ull << 25,
	.fl_enabled = 1ull << 31,
	.ops_fl_enabled = 1,
};

static uint64_t get(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put64(uint8_t *p, uint64_t v)
{
	unsigned i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[RAM_MAX + 2 * TABLE_BYTES];
	struct hvi_flat_mem flat;
	struct hvi_mem mem;
	struct hvi_paging pg;
	struct hvi_ftrace_rec recs[3];
	uint64_t ips[3], ram_len, pml4, pdpt, ops, owner, ip;
	unsigned k;
	int r;

	if (size < HDR || size - HDR > RAM_MAX)
		return 0;
	ram_len = ((size - HDR) + TABLE_BYTES - 1) / TABLE_BYTES * TABLE_BYTES;
	memset(buf, 0, ram_len + 2 * TABLE_BYTES);
	memcpy(buf, data + HDR, size - HDR);
	/* PML4 -> PDPT -> one 1 GiB page at guest-physical 0. */
	pml4 = ram_len;
	pdpt = ram_len + TABLE_BYTES;
	put64(buf + pml4 + 8 * ((PO >> 39) & 511), pdpt | 0x3);
	put64(buf + pdpt, 0x83);
	hvi_mem_flat(&mem, &flat, buf, ram_len + 2 * TABLE_BYTES);
	if (hvi_paging_init(&pg, &mem, pml4, 0) < 0)
		abort();
	for (k = 0; k < 3; k++)
		ips[k] = get(data + 16 + 8 * k, 8);
	r = hvi_ftrace_find(&pg, &L61, PO + get(data, 4), ips, 3, recs, NULL);
	if (r > 3 || (r < 0 && hv_err_last()->code != r))
		abort();
	for (k = 0; r > 0 && k < 3; k++)
		if (recs[k].gva && (hvi_read_virt(&pg, recs[k].gva + L61.rec_ip, &ip, 8) != 0 ||
				    ip != ips[k] || recs[k].ip != ips[k]))
			abort();
	r = hvi_ftrace_lock_owner(&pg, &L61, PO + get(data + 4, 4), &owner);
	if (r > 1 || (r < 0 && hv_err_last()->code != r) || (r == 0 && owner))
		abort();
	r = hvi_ftrace_ops_covering(&pg, &L61, PO + get(data + 8, 4), PO + get(data + 12, 4),
				    ips[0], &ops, NULL);
	if (r > 1 || (r < 0 && hv_err_last()->code != r) || (r == 1 && !ops))
		abort();
	return 0;
}
