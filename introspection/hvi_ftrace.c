/*
 * The guest's ftrace records, ftrace_lock and registered ftrace users (see
 * hvi_ftrace.h).  Everything read here is guest memory: every pointer is
 * checked before it is followed, every chain is bounded and checked for
 * loops, every count is checked against the array it describes.
 */
/* Guarded so the fuzz runner (tests/fuzz/run.sh) can build it without configure. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "hvi_ftrace.h"

#include "hv_buf.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "hvi_btf.h"

/* Lowest address of the kernel half of the address space. */
#define KERNEL_HALF 0xffff800000000000ull
/* x86-64 base pages (the records arrays are 4 KiB << order). */
#define PAGE_BYTES 4096ull
/* The low bits of struct mutex.owner that are flags, not the task. */
#define MUTEX_FLAGS 0x07ull
/* hash_64() of include/linux/hash.h (x86-64 has no arch-specific hash). */
#define GOLDEN_RATIO_64 0x61C8864680B583EBull
/* Largest span of a struct's fields read in one go. */
#define SPAN_MAX 256u

uint64_t hvi_ftrace_hash_bucket(uint64_t ip, unsigned bits)
{
	if (bits == 0 || bits > 63)
		return 0;
	return (ip * GOLDEN_RATIO_64) >> (64 - bits);
}

/* Whether every offset in @lay leaves room for its field inside SPAN_MAX. */
static int layout_check(const struct hvi_ftrace_layout *l)
{
	const uint32_t off8[] = { l->pg_next,	    l->pg_records,   l->mutex_owner,
				  l->ops_next,	    l->ops_flags,    l->ops_func_hash,
				  l->ohash_notrace, l->ohash_filter, l->hash_size_bits,
				  l->hash_buckets,  l->hash_count,   l->ent_next,
				  l->ent_ip };
	size_t i;

	for (i = 0; i < sizeof(off8) / sizeof(off8[0]); i++)
		if (off8[i] > SPAN_MAX - 8)
			return hv_err(
				HV_E_INVAL,
				"ftrace layout: a field offset of %u is beyond what hvi_ftrace "
				"reads (%u bytes of a struct)",
				off8[i], SPAN_MAX);
	if (l->pg_index > SPAN_MAX - 4 || l->pg_order > SPAN_MAX - 4)
		return hv_err(HV_E_INVAL,
			      "ftrace layout: ftrace_page.index or .order lies beyond %u bytes",
			      SPAN_MAX);
	if (l->rec_size < 16 || l->rec_size > 4096 || l->rec_ip > l->rec_size - 8 ||
	    l->rec_flags > l->rec_size - 8)
		return hv_err(HV_E_INVAL,
			      "ftrace layout: struct dyn_ftrace of %u bytes with ip at %u and "
			      "flags at %u is not one hvi_ftrace can read",
			      l->rec_size, l->rec_ip, l->rec_flags);
	return 0;
}

static int rd(const struct hvi_paging *pg, uint64_t gva, void *buf, size_t len,
	      struct hvi_ftrace_cost *c)
{
	if (++c->reads > HVI_FTRACE_MAX_READS)
		return hv_err(HV_E_FORMAT,
			      "reading the guest's ftrace structures took more than %u reads: a "
			      "corrupt or hostile guest",
			      HVI_FTRACE_MAX_READS);
	return hvi_read_virt(pg, gva, buf, len);
}

static int rd64(const struct hvi_paging *pg, uint64_t gva, uint64_t *v, struct hvi_ftrace_cost *c)
{
	uint8_t b[8];
	int r = rd(pg, gva, b, sizeof(b), c);

	*v = r == 0 ? hv_le64(b) : 0;
	return r;
}

/* A pointer read from the guest must be an aligned kernel address. */
static int check_ptr(uint64_t p, const char *what)
{
	if (p < KERNEL_HALF || (p & 7))
		return hv_err(HV_E_FORMAT,
			      "the guest's %s holds 0x%" PRIx64 ", not a kernel pointer", what, p);
	return 0;
}

/*
 * Brent's cycle finder over a chain: call with each step's new node.
 * Returns HV_E_FORMAT when @next has been seen at the last checkpoint.
 */
struct brent {
	uint64_t saved;
	uint64_t power, lam;
};

static int brent_step(struct brent *b, uint64_t next, const char *what)
{
	if (next && next == b->saved)
		return hv_err(HV_E_FORMAT, "the guest's %s loops back to 0x%" PRIx64, what, next);
	if (++b->lam == b->power) {
		b->saved = next;
		b->power <<= 1;
		b->lam = 0;
	}
	return 0;
}

int hvi_ftrace_layout_from_btf(const struct hvi_btf *b, struct hvi_ftrace_layout *lay)
{
	static const struct {
		const char *type, *member;
		size_t off;
		uint32_t size;
	} want[] = {
		{ "ftrace_page", "next", offsetof(struct hvi_ftrace_layout, pg_next), 8 },
		{ "ftrace_page", "records", offsetof(struct hvi_ftrace_layout, pg_records), 8 },
		{ "ftrace_page", "index", offsetof(struct hvi_ftrace_layout, pg_index), 4 },
		{ "ftrace_page", "order", offsetof(struct hvi_ftrace_layout, pg_order), 4 },
		{ "dyn_ftrace", "ip", offsetof(struct hvi_ftrace_layout, rec_ip), 8 },
		{ "dyn_ftrace", "flags", offsetof(struct hvi_ftrace_layout, rec_flags), 8 },
		{ "mutex", "owner", offsetof(struct hvi_ftrace_layout, mutex_owner), 8 },
		{ "ftrace_ops", "next", offsetof(struct hvi_ftrace_layout, ops_next), 8 },
		{ "ftrace_ops", "flags", offsetof(struct hvi_ftrace_layout, ops_flags), 8 },
		{ "ftrace_ops", "func_hash", offsetof(struct hvi_ftrace_layout, ops_func_hash), 8 },
		{ "ftrace_ops_hash", "notrace_hash",
		  offsetof(struct hvi_ftrace_layout, ohash_notrace), 8 },
		{ "ftrace_ops_hash", "filter_hash",
		  offsetof(struct hvi_ftrace_layout, ohash_filter), 8 },
		{ "ftrace_hash", "size_bits", offsetof(struct hvi_ftrace_layout, hash_size_bits),
		  8 },
		{ "ftrace_hash", "buckets", offsetof(struct hvi_ftrace_layout, hash_buckets), 8 },
		{ "ftrace_hash", "count", offsetof(struct hvi_ftrace_layout, hash_count), 8 },
		{ "ftrace_func_entry", "hlist.next", offsetof(struct hvi_ftrace_layout, ent_next),
		  8 },
		{ "ftrace_func_entry", "ip", offsetof(struct hvi_ftrace_layout, ent_ip), 8 },
	};
	static const struct {
		const char *name;
		size_t off;
	} flags[] = {
		{ "FTRACE_FL_DISABLED", offsetof(struct hvi_ftrace_layout, fl_disabled) },
		{ "FTRACE_FL_ENABLED", offsetof(struct hvi_ftrace_layout, fl_enabled) },
		{ "FTRACE_OPS_FL_ENABLED", offsetof(struct hvi_ftrace_layout, ops_fl_enabled) },
	};
	size_t k;
	int r = 0;

	memset(lay, 0, sizeof(*lay));
	for (k = 0; k < sizeof(want) / sizeof(want[0]) && r == 0; k++) {
		uint32_t off = 0, size = 0;

		r = hvi_btf_member_offset(b, want[k].type, want[k].member, &off, &size);
		if (r < 0)
			r = hv_err_prefix("the layout of the guest's ftrace records");
		else if (size != want[k].size)
			r = hv_err(HV_E_FORMAT,
				   "the guest's %s.%s is %u bytes, not the %u hvpatch reads",
				   want[k].type, want[k].member, size, want[k].size);
		else
			memcpy((char *)lay + want[k].off, &off, sizeof(off));
	}
	if (r == 0) {
		r = hvi_btf_struct_size(b, "dyn_ftrace", &lay->rec_size);
		if (r < 0)
			r = hv_err_prefix("the layout of the guest's ftrace records");
	}
	for (k = 0; k < sizeof(flags) / sizeof(flags[0]) && r == 0; k++) {
		int64_t v = 0;
		uint64_t u;

		r = hvi_btf_enum_value(b, NULL, flags[k].name, &v);
		if (r < 0) {
			r = hv_err_prefix("the flags of the guest's ftrace records");
			break;
		}
		/* 1UL << 31 in an enum BTF calls signed reads back negative. */
		u = v < 0 && v >= INT32_MIN ? (uint64_t)(uint32_t)(int32_t)v : (uint64_t)v;
		if (v < INT32_MIN || u == 0 || (u & (u - 1)) != 0)
			r = hv_err(HV_E_FORMAT,
				   "the guest's %s is %" PRId64 ", not a single flag bit",
				   flags[k].name, v);
		else
			memcpy((char *)lay + flags[k].off, &u, sizeof(u));
	}
	if (r == 0)
		r = layout_check(lay);
	return r;
}

/* The group header: next, records, index, order. */
struct group {
	uint64_t next, records;
	int32_t index, order;
};

static int read_group(const struct hvi_paging *pg, const struct hvi_ftrace_layout *l, uint64_t gva,
		      struct group *g, struct hvi_ftrace_cost *c)
{
	uint8_t b[SPAN_MAX];
	uint32_t span = l->pg_next + 8;
	uint64_t cap;
	int r;

	if (l->pg_records + 8 > span)
		span = l->pg_records + 8;
	if (l->pg_index + 4 > span)
		span = l->pg_index + 4;
	if (l->pg_order + 4 > span)
		span = l->pg_order + 4;
	memset(g, 0, sizeof(*g));
	r = rd(pg, gva, b, span, c);
	if (r < 0)
		return hv_err_prefix("reading the guest's ftrace_page at 0x%" PRIx64, gva);
	g->next = hv_le64(b + l->pg_next);
	g->records = hv_le64(b + l->pg_records);
	g->index = (int32_t)hv_le32(b + l->pg_index);
	g->order = (int32_t)hv_le32(b + l->pg_order);
	if (g->next && (r = check_ptr(g->next, "ftrace_page.next")) < 0)
		return r;
	if (g->index < 0 || g->order < 0 || g->order > HVI_FTRACE_MAX_ORDER)
		return hv_err(HV_E_FORMAT,
			      "the guest's ftrace_page at 0x%" PRIx64 " has index %d and order %d",
			      gva, (int)g->index, (int)g->order);
	if (g->index == 0)
		return 0;
	r = check_ptr(g->records, "ftrace_page.records");
	if (r < 0)
		return r;
	cap = (PAGE_BYTES << g->order) / l->rec_size;
	if ((uint64_t)g->index > cap || g->records + (PAGE_BYTES << g->order) < g->records)
		return hv_err(HV_E_FORMAT,
			      "the guest's ftrace_page at 0x%" PRIx64 " claims %d records in an "
			      "array of %" PRIu64 " (order %d)",
			      gva, (int)g->index, cap, (int)g->order);
	return 0;
}

static int rec_ip(const struct hvi_paging *pg, const struct hvi_ftrace_layout *l,
		  const struct group *g, uint64_t i, uint64_t *ip, struct hvi_ftrace_cost *c)
{
	int r = rd64(pg, g->records + i * l->rec_size + l->rec_ip, ip, c);

	if (r < 0)
		return hv_err_prefix("reading ftrace record %" PRIu64 " at 0x%" PRIx64, i,
				     g->records + i * l->rec_size);
	return 0;
}

/* Binary search of one sorted group for @ip: 1 and *@at when found. */
static int search_group(const struct hvi_paging *pg, const struct hvi_ftrace_layout *l,
			const struct group *g, uint64_t ip, uint64_t *at, struct hvi_ftrace_cost *c)
{
	uint64_t lo = 0, hi = (uint64_t)g->index, mid, v;
	int r;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		r = rec_ip(pg, l, g, mid, &v, c);
		if (r < 0)
			return r;
		if (v < ip) {
			lo = mid + 1;
		} else if (v > ip) {
			hi = mid;
		} else {
			*at = mid;
			return 1;
		}
	}
	return 0;
}

int hvi_ftrace_find(const struct hvi_paging *pg, const struct hvi_ftrace_layout *lay,
		    uint64_t pages_start, const uint64_t *ips, size_t n,
		    struct hvi_ftrace_rec *recs, struct hvi_ftrace_cost *cost)
{
	struct hvi_ftrace_cost local = { 0, 0, 0 };
	struct hvi_ftrace_cost *c = cost ? cost : &local;
	struct brent br = { 0, 1, 0 };
	struct group g;
	uint64_t cur = 0, first = 0, last = 0, at = 0;
	size_t i, left = n, found = 0;
	int r;

	memset(c, 0, sizeof(*c));
	if (n > HVI_FTRACE_MAX_IPS)
		return hv_err(HV_E_INVAL,
			      "at most %u ftrace records are looked up at once, not %zu",
			      HVI_FTRACE_MAX_IPS, n);
	for (i = 0; i < n; i++)
		memset(&recs[i], 0, sizeof(recs[i]));
	r = layout_check(lay);
	if (r == 0)
		r = rd64(pg, pages_start, &cur, c);
	if (r < 0)
		return hv_err_prefix("reading ftrace_pages_start at 0x%" PRIx64, pages_start);
	if (cur && (r = check_ptr(cur, "ftrace_pages_start")) < 0)
		return r;
	br.saved = cur;
	while (cur && left > 0) {
		if (++c->groups > HVI_FTRACE_MAX_GROUPS)
			return hv_err(
				HV_E_FORMAT,
				"the guest's ftrace_page chain is longer than %u: a loop or a "
				"corrupt chain",
				HVI_FTRACE_MAX_GROUPS);
		r = read_group(pg, lay, cur, &g, c);
		if (r < 0)
			return r;
		c->records += (uint64_t)g.index;
		if (g.index > 0) {
			r = rec_ip(pg, lay, &g, 0, &first, c);
			if (r == 0)
				r = rec_ip(pg, lay, &g, (uint64_t)g.index - 1, &last, c);
			if (r < 0)
				return r;
			for (i = 0; i < n; i++) {
				if (recs[i].gva || ips[i] < first || ips[i] > last)
					continue;
				r = search_group(pg, lay, &g, ips[i], &at, c);
				if (r < 0)
					return r;
				if (r == 0)
					continue;
				recs[i].gva = g.records + at * lay->rec_size;
				recs[i].ip = ips[i];
				r = rd64(pg, recs[i].gva + lay->rec_flags, &recs[i].flags, c);
				if (r < 0)
					return hv_err_prefix(
						"reading the ftrace record of 0x%" PRIx64, ips[i]);
				found++;
				left--;
			}
		}
		r = brent_step(&br, g.next, "ftrace_page chain");
		if (r < 0)
			return r;
		cur = g.next;
	}
	return (int)found;
}

int hvi_ftrace_lock_owner(const struct hvi_paging *pg, const struct hvi_ftrace_layout *lay,
			  uint64_t lock_gva, uint64_t *owner)
{
	struct hvi_ftrace_cost c;
	uint64_t v = 0;
	int r;

	memset(&c, 0, sizeof(c));
	*owner = 0;
	r = layout_check(lay);
	if (r == 0)
		r = rd64(pg, lock_gva + lay->mutex_owner, &v, &c);
	if (r < 0)
		return hv_err_prefix("reading the guest's ftrace_lock at 0x%" PRIx64, lock_gva);
	*owner = v & ~MUTEX_FLAGS;
	return *owner != 0;
}

/*
 * Whether the ftrace_hash at @hash holds @ip: 1, 0, or an error; an empty
 * hash (no pointer, or count 0) is 0 with *@empty set.
 */
static int hash_holds(const struct hvi_paging *pg, const struct hvi_ftrace_layout *l, uint64_t hash,
		      uint64_t ip, bool *empty, struct hvi_ftrace_cost *c)
{
	uint8_t b[SPAN_MAX];
	uint32_t span = l->hash_size_bits + 8;
	uint64_t bits, buckets, count, node = 0, entry_ip = 0;
	struct brent br = { 0, 1, 0 };
	unsigned steps = 0;
	int r;

	*empty = true;
	if (!hash)
		return 0;
	r = check_ptr(hash, "ftrace_ops hash pointer");
	if (r < 0)
		return r;
	if (l->hash_buckets + 8 > span)
		span = l->hash_buckets + 8;
	if (l->hash_count + 8 > span)
		span = l->hash_count + 8;
	r = rd(pg, hash, b, span, c);
	if (r < 0)
		return hv_err_prefix("reading the guest's ftrace_hash at 0x%" PRIx64, hash);
	bits = hv_le64(b + l->hash_size_bits);
	buckets = hv_le64(b + l->hash_buckets);
	count = hv_le64(b + l->hash_count);
	if (count == 0)
		return 0;
	*empty = false;
	if (bits > HVI_FTRACE_MAX_HASH_BITS)
		return hv_err(HV_E_FORMAT,
			      "the guest's ftrace_hash at 0x%" PRIx64 " claims 2^%" PRIu64
			      " buckets",
			      hash, bits);
	r = check_ptr(buckets, "ftrace_hash.buckets");
	if (r == 0)
		r = rd64(pg, buckets + 8 * hvi_ftrace_hash_bucket(ip, (unsigned)bits), &node, c);
	if (r < 0)
		return r;
	br.saved = node;
	while (node) {
		if (++steps > HVI_FTRACE_MAX_CHAIN)
			return hv_err(HV_E_FORMAT,
				      "a bucket of the guest's ftrace_hash at 0x%" PRIx64
				      " is longer than %u entries",
				      hash, HVI_FTRACE_MAX_CHAIN);
		r = check_ptr(node, "ftrace_hash bucket chain");
		if (r == 0)
			r = rd64(pg, node - l->ent_next + l->ent_ip, &entry_ip, c);
		if (r < 0)
			return r;
		if (entry_ip == ip)
			return 1;
		r = rd64(pg, node, &node, c);
		if (r == 0)
			r = brent_step(&br, node, "ftrace_hash bucket chain");
		if (r < 0)
			return r;
	}
	return 0;
}

int hvi_ftrace_ops_covering(const struct hvi_paging *pg, const struct hvi_ftrace_layout *lay,
			    uint64_t ops_list, uint64_t list_end, uint64_t ip, uint64_t *ops_gva,
			    struct hvi_ftrace_cost *cost)
{
	struct hvi_ftrace_cost local = { 0, 0, 0 };
	struct hvi_ftrace_cost *c = cost ? cost : &local;
	struct brent br = { 0, 1, 0 };
	uint8_t b[SPAN_MAX];
	uint32_t span;
	uint64_t cur = 0, next, flags, fh, filter, notrace;
	bool empty;
	int r;

	memset(c, 0, sizeof(*c));
	*ops_gva = 0;
	r = layout_check(lay);
	if (r == 0)
		r = rd64(pg, ops_list, &cur, c);
	if (r < 0)
		return hv_err_prefix("reading ftrace_ops_list at 0x%" PRIx64, ops_list);
	span = lay->ops_next + 8;
	if (lay->ops_flags + 8 > span)
		span = lay->ops_flags + 8;
	if (lay->ops_func_hash + 8 > span)
		span = lay->ops_func_hash + 8;
	br.saved = cur;
	while (cur != list_end) {
		r = check_ptr(cur, "ftrace_ops list");
		if (r < 0)
			return r;
		if (++c->groups > HVI_FTRACE_MAX_OPS)
			return hv_err(HV_E_FORMAT,
				      "the guest's ftrace_ops list is longer than %u: a loop or a "
				      "corrupt list",
				      HVI_FTRACE_MAX_OPS);
		r = rd(pg, cur, b, span, c);
		if (r < 0)
			return hv_err_prefix("reading the guest's ftrace_ops at 0x%" PRIx64, cur);
		next = hv_le64(b + lay->ops_next);
		flags = hv_le64(b + lay->ops_flags);
		fh = hv_le64(b + lay->ops_func_hash);
		if (flags & lay->ops_fl_enabled) {
			uint8_t h[SPAN_MAX];
			uint32_t hspan = lay->ohash_notrace + 8;
			int in_filter = 1, in_notrace = 0;

			if (lay->ohash_filter + 8 > hspan)
				hspan = lay->ohash_filter + 8;
			r = check_ptr(fh, "ftrace_ops.func_hash");
			if (r == 0)
				r = rd(pg, fh, h, hspan, c);
			if (r < 0)
				return hv_err_prefix(
					"reading the hashes of the guest's ftrace_ops at "
					"0x%" PRIx64,
					cur);
			filter = hv_le64(h + lay->ohash_filter);
			notrace = hv_le64(h + lay->ohash_notrace);
			/* An empty filter means every function. */
			r = hash_holds(pg, lay, filter, ip, &empty, c);
			if (r < 0)
				return r;
			in_filter = empty ? 1 : r;
			if (in_filter) {
				in_notrace = hash_holds(pg, lay, notrace, ip, &empty, c);
				if (in_notrace < 0)
					return in_notrace;
			}
			if (in_filter && !in_notrace) {
				*ops_gva = cur;
				return 1;
			}
		}
		r = brent_step(&br, next, "ftrace_ops list");
		if (r < 0)
			return r;
		cur = next;
	}
	return 0;
}
