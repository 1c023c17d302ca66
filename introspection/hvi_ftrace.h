/*
 * hvi_ftrace: the guest kernel's ftrace records, the lock that guards them
 * and the ftrace users it has registered, read from its memory alone.
 *
 * Why: hvpatch writes its jump over a function's ftrace site.  The kernel
 * keeps one record per site (struct dyn_ftrace { ip, flags }), in arrays
 * chained from the static ftrace_pages_start:
 *
 *   ftrace_pages_start -> struct ftrace_page { next, records, index, order }
 *                         records[0 .. index-1], sorted by ip in each array
 *
 * A record whose flags hold FTRACE_FL_DISABLED (and not FTRACE_FL_ENABLED)
 * is skipped by every path of 6.1's ftrace that selects or rewrites sites
 * (skip_record(): __ftrace_hash_rec_update(), ftrace_check_record() and so
 * x86's ftrace_replace_code(); match_records() for set_ftrace_filter), so
 * with it set the guest can trace every other function and never finds
 * hvpatch's jump where it expects its NOP.
 *
 *   hvi_ftrace_layout_from_btf(btf, &lay);         struct offsets, flag values
 *   hvi_ftrace_find(pg, &lay, pages_start, ips, n, recs, &cost);
 *   hvi_ftrace_lock_owner(pg, &lay, ftrace_lock, &owner);
 *   hvi_ftrace_ops_covering(pg, &lay, ops_list, list_end, ip, &ops, &cost);
 *
 * Every record, page, list and hash is guest memory and hostile: chains may
 * loop (found by Brent's method) or be endless (bounded by
 * HVI_FTRACE_MAX_GROUPS / HVI_FTRACE_MAX_OPS), counts and orders lie
 * (checked against the array they describe), pointers point anywhere
 * (checked to be aligned kernel addresses, then read through the page
 * tables), arrays are unsorted (the binary search is bounded and then just
 * does not find), and no call reads guest memory more than
 * HVI_FTRACE_MAX_READS times.  A hostile guest gets an error or a "not found", never a
 * crash or a hang.  The layout comes from the kernel's own BTF, so one
 * build serves every kernel build.
 */
#ifndef HVI_FTRACE_H
#define HVI_FTRACE_H

#include <stddef.h>
#include <stdint.h>

#include "hv_error.h"
#include "hvi_paging.h"

/* More struct ftrace_page in the chain than this is taken for a corrupt one. */
#define HVI_FTRACE_MAX_GROUPS (1u << 16)
/* Largest ftrace_page.order believed (the records array is 4 KiB << order). */
#define HVI_FTRACE_MAX_ORDER 16
/* More registered ftrace_ops than this is taken for a corrupt list. */
#define HVI_FTRACE_MAX_OPS 4096u
/* Largest ftrace_hash.size_bits believed (the kernel's limit is 12). */
#define HVI_FTRACE_MAX_HASH_BITS 20
/* Longest hash bucket chain followed. */
#define HVI_FTRACE_MAX_CHAIN (1u << 16)
/* Most addresses one hvi_ftrace_find() looks up. */
#define HVI_FTRACE_MAX_IPS 256u
/* Most reads of guest memory one call makes (a hostile guest's work bound). */
#define HVI_FTRACE_MAX_READS (1u << 18)

struct hvi_btf;

/* Where the fields hvi_ftrace reads sit, and the flag values (from BTF). */
struct hvi_ftrace_layout {
	/* struct ftrace_page */
	uint32_t pg_next, pg_records, pg_index, pg_order;
	/* struct dyn_ftrace: its size (the array stride), .ip, .flags */
	uint32_t rec_size, rec_ip, rec_flags;
	/* struct mutex .owner (task pointer | MUTEX_FLAGS in the low 3 bits) */
	uint32_t mutex_owner;
	/* struct ftrace_ops .next, .flags, .func_hash */
	uint32_t ops_next, ops_flags, ops_func_hash;
	/* struct ftrace_ops_hash .notrace_hash, .filter_hash */
	uint32_t ohash_notrace, ohash_filter;
	/* struct ftrace_hash .size_bits, .buckets, .count */
	uint32_t hash_size_bits, hash_buckets, hash_count;
	/* struct ftrace_func_entry .hlist.next, .ip */
	uint32_t ent_next, ent_ip;
	uint64_t fl_disabled;	 /* FTRACE_FL_DISABLED (1 << 25 in 6.1) */
	uint64_t fl_enabled;	 /* FTRACE_FL_ENABLED (1 << 31 in 6.1) */
	uint64_t ops_fl_enabled; /* FTRACE_OPS_FL_ENABLED (1 << 0 in 6.1) */
};

/* One record as found. */
struct hvi_ftrace_rec {
	uint64_t gva;	/* the struct dyn_ftrace; 0: no record for this ip */
	uint64_t ip;	/* its ip (the looked-up address when found) */
	uint64_t flags; /* its flags when read */
};

/* What a walk cost, for reports and benchmarks. */
struct hvi_ftrace_cost {
	unsigned groups;  /* struct ftrace_page (or ftrace_ops) visited */
	unsigned reads;	  /* reads of guest memory */
	uint64_t records; /* records the visited groups hold (sum of index) */
};

/*
 * Fill @lay from the kernel's BTF @b: the members above (each must exist
 * with the size x86-64 6.1 gives it: 8-byte pointers and longs, 4-byte
 * ints), sizeof(struct dyn_ftrace) (at least 16, at most 4096, with .ip and
 * .flags inside it) and the enumerators FTRACE_FL_DISABLED,
 * FTRACE_FL_ENABLED and FTRACE_OPS_FL_ENABLED (each a single bit).
 * Returns 0; errors of hvi_btf_member_offset() / hvi_btf_enum_value()
 * (HV_E_NOTFOUND: a kernel without dynamic ftrace, or another layout),
 * prefixed with what was asked; HV_E_FORMAT for a size or value that is
 * not what hvi_ftrace can read.
 */
int hvi_ftrace_layout_from_btf(const struct hvi_btf *b, struct hvi_ftrace_layout *lay) HV_WUR;

/*
 * Find the records of the @n addresses @ips (at most HVI_FTRACE_MAX_IPS)
 * in the chain that starts at the pointer stored at @pages_start (the
 * address of the kernel's variable ftrace_pages_start).  As the kernel's
 * lookup_rec(): each struct ftrace_page whose first and last ip bound an
 * address is binary-searched; a record matches when its ip equals the
 * address exactly; the first match in chain order wins.  recs[i] gets the
 * record of ips[i] (gva 0 when there is none).  @cost (may be NULL)
 * receives what the walk read.  Returns the number of addresses found (0
 * when the chain is empty); HV_E_FORMAT when the chain loops, is longer
 * than HVI_FTRACE_MAX_GROUPS, holds a pointer that is not an aligned
 * kernel address, or a group whose index or order does not fit its array,
 * or the walk needs more than HVI_FTRACE_MAX_READS reads;
 * HV_E_INVAL for @n above HVI_FTRACE_MAX_IPS; read errors.
 */
int hvi_ftrace_find(const struct hvi_paging *pg, const struct hvi_ftrace_layout *lay,
		    uint64_t pages_start, const uint64_t *ips, size_t n,
		    struct hvi_ftrace_rec *recs, struct hvi_ftrace_cost *cost) HV_WUR;

/*
 * Read the struct mutex at @lock_gva (the kernel's ftrace_lock): *@owner
 * gets the owning task (the owner word without its three flag bits), 0
 * when nobody holds it.  Returns 1 when held, 0 when free, or a read error.
 */
int hvi_ftrace_lock_owner(const struct hvi_paging *pg, const struct hvi_ftrace_layout *lay,
			  uint64_t lock_gva, uint64_t *owner) HV_WUR;

/*
 * Whether an enabled ftrace user (struct ftrace_ops on the list whose head
 * pointer is stored at @ops_list, ended by the struct at @list_end: the
 * kernel's ftrace_ops_list and ftrace_list_end) would trace @ip: the
 * kernel's ops_references_ip(), conservatively: the ops is enabled, its
 * filter hash is missing or empty or holds @ip, and its notrace hash does
 * not hold @ip.  Such a user counts the function in its record's reference
 * count, so clearing FTRACE_FL_DISABLED under it would break the kernel's
 * accounting.  Hashes are looked up as __ftrace_lookup_ip() does (bucket
 * hash_64(ip, size_bits), x86-64's generic hash).  Returns 1 with *@ops_gva
 * set to the first such ops, 0 when none (*@ops_gva = 0); HV_E_FORMAT for
 * a list or chain that loops, is too long or holds a bad pointer, a hash
 * whose size_bits exceeds HVI_FTRACE_MAX_HASH_BITS, or more than
 * HVI_FTRACE_MAX_READS reads in all; read errors.
 * @cost (may be NULL) counts the ops visited and the reads.
 */
int hvi_ftrace_ops_covering(const struct hvi_paging *pg, const struct hvi_ftrace_layout *lay,
			    uint64_t ops_list, uint64_t list_end, uint64_t ip, uint64_t *ops_gva,
			    struct hvi_ftrace_cost *cost) HV_WUR;

/* The bucket of @ip in a hash of 2^@bits buckets (the kernel's hash_64()). */
uint64_t hvi_ftrace_hash_bucket(uint64_t ip, unsigned bits);

#endif
