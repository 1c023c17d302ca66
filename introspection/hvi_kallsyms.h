/*
 * hvi_kallsyms: the kernel's own symbol table, decoded from its memory.
 *
 * A Linux kernel built with CONFIG_KALLSYMS keeps compressed symbol tables in
 * .rodata (scripts/kallsyms.c).  libhvi finds them in the kernel image (the
 * bytes from _text on, see hvi_read_image()), checks them
 * hard (token-table shape, token index, markers against the decoded names,
 * counts against table sizes, _text against the base found from the page
 * tables) and decodes them into an index:
 *
 *   name -> address(es)       hvi_sym_lookup(), hvi_sym_lookup_all()
 *   address -> symbol+offset  hvi_sym_by_addr()
 *
 * Static functions may share a name.  hvi_sym_lookup_all() returns all of
 * them in address order; "name@N" picks the N-th (from 0) in that order, so
 * "name@0" is the lowest address.  A bare name that is duplicated is an
 * error (HV_E_INVAL) naming how many there are.
 *
 * Layouts: the table order differs between kernel versions.  Every
 * supported order is one entry in the layout table in hvi_kallsyms.c:
 * "linux-6.0" (offsets, relative_base, num_syms, names, markers,
 * token_table, token_index) and "linux-6.2" (the same with
 * kallsyms_seqs_of_names between markers and token_table; the Debian 6.1
 * kernels carry it as a backport).
 *
 * The image may be a copy or guest RAM read in place that the guest can
 * change meanwhile: every read is bounds-checked when it happens, so the
 * worst outcome is a wrong answer or an error, never an out-of-bounds read.
 */
#ifndef HVI_KALLSYMS_H
#define HVI_KALLSYMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv_error.h"

#define HVI_KSYM_NAME_MAX 512	     /* KSYM_NAME_LEN in 6.1, type letter included */
#define HVI_KSYMS_MAX	  (1u << 22) /* more symbols than any kernel has */
/*
 * Bounds on the expanded names (the index's name pool), so a few bytes of
 * forged tables cannot become gigabytes of host memory: at most
 * HVI_KSYMS_EXPAND_MAX times the compressed names (Debian 6.1: 1.1 MB of
 * names expand to 2.0 MB, a factor 1.75), at least HVI_KSYMS_POOL_FLOOR,
 * never more than HVI_KSYMS_POOL_MAX (Debian 6.1 needs 2 MiB).
 */
#define HVI_KSYMS_EXPAND_MAX 16u
#define HVI_KSYMS_POOL_FLOOR (1u << 20)
#define HVI_KSYMS_POOL_MAX   (64u << 20)

/* Where the tables lie, as byte offsets into the image copy. */
struct hvi_ksyms_tables {
	const char *layout; /* name of the layout that matched: "linux-6.0", "linux-6.2" */
	size_t offsets_off;
	size_t relative_base_off;
	size_t num_syms_off;
	size_t names_off;
	size_t names_len; /* bytes of name entries (up to the last one's end) */
	size_t markers_off;
	size_t token_table_off;
	size_t token_index_off;
	size_t seqs_off; /* kallsyms_seqs_of_names (layout linux-6.2), else 0 */
	uint32_t num_syms;
	uint32_t num_markers;
	uint64_t relative_base; /* as stored in the image (run-time value under KASLR) */
};

/*
 * Find the kallsyms tables in @img (@len bytes, img[0] is the byte at the
 * kernel's _text).  Searches for the token table (its run of single-digit
 * tokens "0".."9"), confirms it with the token index that follows it, then
 * walks back over markers, names, num_syms, relative_base and offsets as the
 * layout prescribes, checking each.  Returns 0 and fills @t; HV_E_NOTFOUND if
 * no table set passes every check; never reads outside @img.
 */
int hvi_ksyms_find(const uint8_t *img, size_t len, struct hvi_ksyms_tables *t) HV_WUR;

/*
 * As hvi_ksyms_find(), for a token table said to start at @token_table_off
 * (e.g. from a VMCOREINFO "SYMBOL(kallsyms_token_table)=" line, which the
 * guest can forge): the same checks, no search.  HV_E_NOTFOUND if the
 * tables there do not pass them.
 */
int hvi_ksyms_find_at(const uint8_t *img, size_t len, size_t token_table_off,
		      struct hvi_ksyms_tables *t) HV_WUR;

struct hvi_symtab;

/* One symbol as returned by the lookups; @name points into the symtab. */
struct hvi_sym {
	uint64_t addr;
	const char *name;
	char type;	    /* kallsyms type letter: 't', 'T', 'd', ... */
	bool absolute;	    /* an absolute (per-cpu) value, not a kernel address */
	unsigned dup_index; /* N in "name@N" (0 if the name is unique) */
	unsigned dup_count; /* symbols with this name (1 if unique) */
};

/*
 * Decode the tables @t found in @img into a new index, *@out (free with
 * hvi_symtab_free()).  @expect_text_gva, when not 0, is the kernel base found
 * independently (page tables): the decoded "_text" must equal it, and it
 * decides between the absolute-per-cpu and the plain base-relative address
 * schemes.  @t is checked again (it may come from a forged hint): nothing
 * is allocated before every count and length in it is bounded, and the
 * index then takes about 44 bytes per symbol plus the expanded names.
 * Returns the number of symbols; HV_E_RANGE when num_syms exceeds
 * HVI_KSYMS_MAX or the names would expand beyond the bounds above (the
 * message names the field and the bound); HV_E_FORMAT for a field that does
 * not fit the image or the other fields (names length, offsets, markers,
 * token table), a malformed name entry or one with a byte that is not
 * printable ASCII, or names that change while they are read; HV_E_VERIFY
 * when _text does not match; HV_E_NOMEM.  Every name in the index is
 * printable ASCII without spaces.
 */
int hvi_ksyms_decode(const uint8_t *img, size_t len, const struct hvi_ksyms_tables *t,
		     uint64_t expect_text_gva, struct hvi_symtab **out) HV_WUR;

/* Free an index; accepts NULL. */
void hvi_symtab_free(struct hvi_symtab *st);

/* Number of symbols in the index. */
size_t hvi_symtab_count(const struct hvi_symtab *st);

/* The @i-th symbol in address order (0 <= i < count); HV_E_RANGE otherwise. */
int hvi_symtab_get(const struct hvi_symtab *st, size_t i, struct hvi_sym *out) HV_WUR;

/*
 * Resolve @name ("name" or "name@N") to one symbol.  Returns 0;
 * HV_E_NOTFOUND if there is no such name (or N is too large); HV_E_INVAL if
 * a bare name matches several symbols (the message lists how to pick one).
 */
int hvi_sym_lookup(const struct hvi_symtab *st, const char *name, struct hvi_sym *out) HV_WUR;

/*
 * All symbols named @name (no "@N"), in address order: copies up to @max of
 * them into @out (may be NULL when @max is 0) and returns how many exist
 * (0 if none; that is not an error).
 */
int hvi_sym_lookup_all(const struct hvi_symtab *st, const char *name, struct hvi_sym *out,
		       size_t max);

/*
 * The symbol containing @addr: the one with the highest address <= @addr
 * (absolute per-cpu symbols are not considered), and *@offset = addr - its
 * address.  Returns 0, or HV_E_NOTFOUND when @addr lies below the first
 * symbol or beyond @max_offset bytes after the nearest one (0 = no limit).
 */
int hvi_sym_by_addr(const struct hvi_symtab *st, uint64_t addr, uint64_t max_offset,
		    struct hvi_sym *out, uint64_t *offset) HV_WUR;

#endif
