/* Guarded so the fuzz runner (tests/fuzz/run.sh) can build it without configure. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "hvi_kallsyms.h"

#include <stdlib.h>
#include <string.h>

#define NTOKENS	      256u
#define TOKEN_MAX     128u /* longest token accepted */
#define TOKTAB_MAX    (NTOKENS * (TOKEN_MAX + 1))
#define MARKER_STRIDE 256u
/* The most bytes 256 name entries can take (2-byte header, 512 tokens each). */
#define LAST_BLOCK_MAX ((size_t)MARKER_STRIDE * (HVI_KSYM_NAME_MAX + 2) + 16)
/* Bounds on the search, so a crafted image cannot stall it. */
#define FIND_CANDIDATES_MAX 1024u /* digit runs examined ("0".."9" tokens) */
#define FIND_TABLES_MAX	    256u  /* token tables checked in full */
#define FIND_WORK_MAX	    64u	  /* O(num_syms) validations (names, seqs) */
#define ALIGN8(x)	    (((x) + 7u) & ~(size_t)7u)

/* Bounded little-endian loads: 0 if in range, HV_E_FORMAT otherwise. */
static int ld_u16(const uint8_t *img, size_t len, size_t off, uint16_t *v)
{
	if (off > len || len - off < 2)
		return HV_E_FORMAT;
	*v = (uint16_t)(img[off] | (img[off + 1] << 8));
	return 0;
}

static int ld_u32(const uint8_t *img, size_t len, size_t off, uint32_t *v)
{
	if (off > len || len - off < 4)
		return HV_E_FORMAT;
	*v = (uint32_t)img[off] | ((uint32_t)img[off + 1] << 8) | ((uint32_t)img[off + 2] << 16) |
	     ((uint32_t)img[off + 3] << 24);
	return 0;
}

static int ld_u64(const uint8_t *img, size_t len, size_t off, uint64_t *v)
{
	uint32_t lo, hi;

	if (ld_u32(img, len, off, &lo) < 0 || ld_u32(img, len, off + 4, &hi) < 0)
		return HV_E_FORMAT;
	*v = ((uint64_t)hi << 32) | lo;
	return 0;
}

/* A token table: 256 offsets and lengths into the image. */
struct toktab {
	uint32_t off[NTOKENS];
	uint8_t tlen[NTOKENS];
};

/*
 * Check that a token table starts at @start: 256 non-empty printable tokens,
 * each at the offset the token index at ALIGN8(end) gives.  Fills @tt.
 */
static bool check_token_table(const uint8_t *img, size_t len, size_t start, size_t *index_off,
			      struct toktab *tt)
{
	size_t p = start, q;
	unsigned i;

	for (i = 0; i < NTOKENS; i++) {
		size_t n = 0;

		tt->off[i] = (uint32_t)(p - start);
		while (p < len && img[p] != 0) {
			if (img[p] < 0x20 || img[p] > 0x7e || ++n > TOKEN_MAX)
				return false;
			p++;
		}
		if (p >= len || n == 0)
			return false;
		tt->tlen[i] = (uint8_t)n;
		p++; /* NUL */
	}
	q = ALIGN8(p);
	for (i = 0; i < NTOKENS; i++) {
		uint16_t v;

		if (ld_u16(img, len, q + 2u * i, &v) < 0 || v != tt->off[i])
			return false;
	}
	*index_off = q;
	return true;
}

/* Expand one name entry at @off into @buf; returns the entry's size in bytes or -1. */
static long expand_name(const uint8_t *img, size_t end, size_t off, const uint8_t *toks_base,
			const struct toktab *tt, char *buf, size_t *nlen)
{
	size_t n, hdr = 1, i, o = 0;

	if (off >= end)
		return -1;
	n = img[off];
	if (n & 0x80) {
		if (off + 1 >= end)
			return -1;
		n = (n & 0x7f) | ((size_t)img[off + 1] << 7);
		hdr = 2;
	}
	if (n == 0 || n > end - off - hdr)
		return -1;
	for (i = 0; i < n; i++) {
		uint8_t t = img[off + hdr + i];

		if (o + tt->tlen[t] > HVI_KSYM_NAME_MAX)
			return -1;
		memcpy(buf + o, toks_base + tt->off[t], tt->tlen[t]);
		o += tt->tlen[t];
	}
	if (o < 2)
		return -1;
	buf[o] = 0;
	*nlen = o;
	return (long)(hdr + n);
}

/*
 * Size of the name entry at @off (header + token bytes), or 0 if malformed;
 * *@hdr_out (may be NULL) gets the header's size, 1 or 2.
 */
static size_t entry_size_hdr(const uint8_t *img, size_t end, size_t off, size_t *hdr_out)
{
	size_t n, hdr = 1;

	if (off >= end)
		return 0;
	n = img[off];
	if (n & 0x80) {
		if (off + 1 >= end)
			return 0;
		n = (n & 0x7f) | ((size_t)img[off + 1] << 7);
		hdr = 2;
	}
	if (n == 0 || n > end - off - hdr)
		return 0;
	if (hdr_out)
		*hdr_out = hdr;
	return hdr + n;
}

static size_t entry_size(const uint8_t *img, size_t end, size_t off)
{
	return entry_size_hdr(img, end, off, NULL);
}

/*
 * Check @count names from @names_off against the markers: the entry of every
 * 256th symbol must start where its marker says; the last entry must end
 * before @end (<= @len).  Returns the end offset of the names, or 0.
 */
static size_t check_names(const uint8_t *img, size_t len, size_t names_off, size_t end,
			  uint32_t count, size_t markers_off, uint32_t nmarkers)
{
	size_t p = names_off;
	uint32_t i;

	for (i = 0; i < count; i++) {
		size_t sz;

		if (i % MARKER_STRIDE == 0) {
			uint32_t m;

			if (i / MARKER_STRIDE >= nmarkers ||
			    ld_u32(img, len, markers_off + 4u * (i / MARKER_STRIDE), &m) < 0 ||
			    m != p - names_off)
				return 0;
		}
		sz = entry_size(img, end, p);
		if (!sz)
			return 0;
		p += sz;
	}
	return p;
}

/*
 * Count the markers starting at @off: 0 first, then strictly increasing by
 * at least 2 bytes per symbol, at most @max of them.  Returns the count.
 */
static uint32_t count_markers(const uint8_t *img, size_t len, size_t off, uint32_t max)
{
	uint32_t n = 0, prev = 0, v;

	while (n < max && ld_u32(img, len, off + 4u * n, &v) == 0) {
		if (n == 0 ? v != 0 : v < prev + 2 * MARKER_STRIDE)
			break;
		prev = v;
		n++;
	}
	return n;
}

/*
 * The common part of the 6.x layouts: names end within 8 bytes before the
 * markers at @markers_off (@nm of them); before the names lie num_syms (u32
 * + 4 bytes of padding), relative_base (u64) and the offsets (s32 each).
 * Search the start of the names (8-aligned, where num_syms is consistent
 * with @nm and, when @want_n is not 0, equals it) and check every name
 * against the markers.  Fills @t on success.
 */
static bool find_names(const uint8_t *img, size_t len, size_t markers_off, uint32_t nm,
		       uint32_t want_n, struct hvi_ksyms_tables *t, unsigned *work)
{
	uint32_t last;
	size_t hi, lo, q;

	if (ld_u32(img, len, markers_off + 4u * (nm - 1), &last) < 0 || last > markers_off)
		return false;
	hi = (markers_off - last) & ~(size_t)7;
	lo = hi > LAST_BLOCK_MAX ? hi - LAST_BLOCK_MAX : 16;
	for (q = hi; q >= lo && q >= 16; q -= 8) {
		uint32_t n, zero;
		uint64_t rb;
		size_t names_end, offs_len;

		if (ld_u32(img, len, q - 8, &n) < 0 || ld_u32(img, len, q - 4, &zero) < 0)
			break;
		if (zero != 0 || n == 0 || n > HVI_KSYMS_MAX ||
		    (n + MARKER_STRIDE - 1) / MARKER_STRIDE != nm || (want_n && n != want_n))
			continue;
		offs_len = ALIGN8((size_t)n * 4);
		if (q - 16 < offs_len || ld_u64(img, len, q - 16, &rb) < 0)
			continue;
		if (*work == 0)
			return false;
		(*work)--;
		names_end = check_names(img, len, q, markers_off, n, markers_off, nm);
		if (!names_end || markers_off - names_end >= 8)
			continue;
		t->names_off = q;
		t->names_len = names_end - q;
		t->num_syms_off = q - 8;
		t->relative_base_off = q - 16;
		t->offsets_off = q - 16 - offs_len;
		t->markers_off = markers_off;
		t->num_syms = n;
		t->num_markers = nm;
		t->relative_base = rb;
		return true;
	}
	return false;
}

/*
 * Linux 6.0 and 6.1 (and 5.x, whose 1-byte name lengths never set bit 7):
 * offsets, relative_base, num_syms, names, markers, token_table,
 * token_index, each label 8-byte aligned.  The markers end right before the
 * token table at @tt_off (4 bytes earlier when their count is odd).
 */
static bool layout_60(const uint8_t *img, size_t len, size_t tt_off, struct hvi_ksyms_tables *t,
		      unsigned *work)
{
	size_t pad;

	for (pad = 0; pad <= 4; pad += 4) {
		size_t end = tt_off - pad, p;
		uint32_t v, prev = UINT32_MAX, nm;

		if (tt_off < pad + 8 || (pad && (ld_u32(img, len, end, &v) < 0 || v != 0)))
			continue;
		/* walk back over strictly decreasing values down to markers[0] == 0 */
		for (p = end; p >= 4 && (end - p) / 4 <= HVI_KSYMS_MAX / MARKER_STRIDE; p -= 4) {
			if (ld_u32(img, len, p - 4, &v) < 0 || v >= prev)
				break;
			prev = v;
			if (v == 0) {
				p -= 4;
				break;
			}
		}
		if (prev != 0 || (p & 7))
			continue;
		nm = (uint32_t)((end - p) / 4);
		if (nm == 0 || count_markers(img, len, p, nm) != nm ||
		    ALIGN8(p + 4u * nm) != tt_off)
			continue;
		if (find_names(img, len, p, nm, 0, t, work))
			return true;
	}
	return false;
}

/*
 * Linux 6.2 and 6.3, and the Debian 6.1 kernels, which carry the backport
 * of kallsyms_seqs_of_names: as layout_60, but between the markers and the
 * token table lies kallsyms_seqs_of_names (3 bytes, big-endian, per
 * symbol: symbol indices in name order).
 */
static bool layout_62(const uint8_t *img, size_t len, size_t tt_off, struct hvi_ksyms_tables *t,
		      unsigned *work)
{
	const size_t max_back =
		3u * (size_t)HVI_KSYMS_MAX + 4u * (HVI_KSYMS_MAX / MARKER_STRIDE) + 16;
	size_t back;

	for (back = 8; back <= max_back && back <= tt_off; back += 8) {
		size_t m0 = tt_off - back, seqs;
		uint32_t nm, run, v, n, nlo, nhi;

		if (ld_u32(img, len, m0, &v) < 0 || v != 0)
			continue;
		run = count_markers(img, len, m0, HVI_KSYMS_MAX / MARKER_STRIDE + 1);
		/* values after the last marker may continue the run: try each length */
		for (nm = run; nm >= 1; nm--) {
			seqs = ALIGN8(m0 + 4u * nm);
			if (seqs >= tt_off)
				continue;
			/* tt_off == ALIGN8(seqs + 3n) */
			nlo = (uint32_t)(((tt_off - seqs > 7 ? tt_off - seqs - 7 : 0) + 2) / 3);
			nhi = (uint32_t)((tt_off - seqs) / 3);
			if (nhi > HVI_KSYMS_MAX)
				continue;
			for (n = nlo; n <= nhi; n++) {
				size_t i;
				bool ok = true;

				if (n == 0 || ALIGN8(seqs + 3u * (size_t)n) != tt_off ||
				    (n + MARKER_STRIDE - 1) / MARKER_STRIDE != nm)
					continue;
				if (*work == 0)
					return false;
				(*work)--;
				for (i = 0; i < n && ok; i++) {
					const uint8_t *q = img + seqs + 3 * i;

					ok = (((uint32_t)q[0] << 16) | ((uint32_t)q[1] << 8) |
					      q[2]) < n;
				}
				if (ok && find_names(img, len, m0, nm, n, t, work)) {
					t->seqs_off = seqs;
					return true;
				}
			}
		}
	}
	return false;
}

/* The supported table orders, tried in turn.  Add new kernel layouts here. */
static const struct {
	const char *name;
	bool (*walk_back)(const uint8_t *img, size_t len, size_t tt_off, struct hvi_ksyms_tables *t,
			  unsigned *work);
} layouts[] = {
	{ "linux-6.0", layout_60 },
	{ "linux-6.2", layout_62 },
};

static const char digits[] = "0\0"
			     "1\0"
			     "2\0"
			     "3\0"
			     "4\0"
			     "5\0"
			     "6\0"
			     "7\0"
			     "8\0"
			     "9";

/*
 * Check a token table at @start (with its index at @want_index, or anywhere
 * when that is SIZE_MAX) and walk back through each layout.  Fills @t.
 */
static bool try_table(const uint8_t *img, size_t len, size_t start, size_t want_index,
		      struct hvi_ksyms_tables *t, unsigned *work)
{
	struct toktab tt;
	size_t index_off;
	unsigned k;

	if (!check_token_table(img, len, start, &index_off, &tt) ||
	    (want_index != SIZE_MAX && index_off != want_index))
		return false;
	for (k = 0; k < sizeof(layouts) / sizeof(layouts[0]); k++) {
		memset(t, 0, sizeof(*t));
		if (layouts[k].walk_back(img, len, start, t, work)) {
			t->layout = layouts[k].name;
			t->token_table_off = start;
			t->token_index_off = index_off;
			return true;
		}
	}
	memset(t, 0, sizeof(*t));
	return false;
}

int hvi_ksyms_find_at(const uint8_t *img, size_t len, size_t token_table_off,
		      struct hvi_ksyms_tables *t)
{
	unsigned work = FIND_WORK_MAX;
	int r = 0;

	if (!img || token_table_off >= len || (token_table_off & 7) ||
	    !try_table(img, len, token_table_off, SIZE_MAX, t, &work)) {
		memset(t, 0, sizeof(*t));
		r = hv_err(HV_E_NOTFOUND,
			   "no valid kallsyms tables end with a token table at image offset +0x%zx "
			   "(the hint is wrong, or the tables are damaged or of an unsupported "
			   "layout)",
			   token_table_off);
	}
	return r;
}

int hvi_ksyms_find(const uint8_t *img, size_t len, struct hvi_ksyms_tables *t)
{
	const size_t dlen = sizeof(digits); /* includes the last NUL */
	size_t pos = 0;
	unsigned tried = 0, tables = 0, work = FIND_WORK_MAX;
	int r = HV_E_NOTFOUND;

	memset(t, 0, sizeof(*t));
	while (img && pos + dlen <= len) {
		const uint8_t *hit = memmem(img + pos, len - pos, digits, dlen);
		size_t d, q, qmax;

		if (!hit)
			break;
		d = (size_t)(hit - img);
		pos = d + 1;
		if (d == 0 || img[d - 1] != 0)
			continue; /* "0" must be a whole token */
		if (++tried > FIND_CANDIDATES_MAX || tables >= FIND_TABLES_MAX || work == 0)
			break; /* a real kernel has a handful; this image is built to stall us */
		/* the token index follows the table: find it by token '0' -> d */
		qmax = d + TOKTAB_MAX;
		for (q = ALIGN8(d + dlen); q <= qmax && q + 2 * NTOKENS <= len; q += 8) {
			uint16_t v0, v30;
			size_t start;
			unsigned k;

			if (ld_u16(img, len, q, &v0) < 0 || v0 != 0 ||
			    ld_u16(img, len, q + 2 * 0x30, &v30) < 0 || v30 > d || ((d - v30) & 7))
				continue;
			/* tokens '1'..'9' follow '0', two bytes each */
			for (k = 1; k < 10; k++) {
				uint16_t vk;

				if (ld_u16(img, len, q + 2 * (0x30 + k), &vk) < 0 ||
				    vk != v30 + 2 * k)
					break;
			}
			if (k < 10)
				continue;
			start = d - v30;
			if (++tables > FIND_TABLES_MAX)
				break;
			if (try_table(img, len, start, q, t, &work)) {
				r = 0;
				goto out;
			}
		}
	}
	hv_err(r,
	       "no kallsyms tables found in the %zu-byte kernel image (%u digit runs, %u "
	       "token-table candidates checked%s): the kernel lacks CONFIG_KALLSYMS, uses an "
	       "unsupported table layout, or its tables are damaged",
	       len, tried, tables,
	       tried > FIND_CANDIDATES_MAX || tables >= FIND_TABLES_MAX || work == 0
		       ? ", then gave up: too many candidates"
		       : "");
out:
	return r;
}

/* The index. */
struct sym_ent {
	uint64_t addr;
	uint32_t name_off; /* into pool */
	uint32_t seq;	   /* position in the kallsyms table (tie breaker) */
	char type;
	bool absolute;
};

struct hvi_symtab {
	struct sym_ent *syms; /* address order */
	uint32_t *by_name;    /* indices into syms, name order then address order */
	uint32_t *dup_index;  /* per sym: N of name@N */
	uint32_t *dup_count;  /* per sym */
	size_t n;
	size_t first_rel; /* first non-absolute symbol in address order */
	char *pool;
	size_t pool_len, pool_cap;
};

void hvi_symtab_free(struct hvi_symtab *st)
{
	if (!st)
		return;
	free(st->syms);
	free(st->by_name);
	free(st->dup_index);
	free(st->dup_count);
	free(st->pool);
	free(st);
}

size_t hvi_symtab_count(const struct hvi_symtab *st)
{
	return st ? st->n : 0;
}

static int cmp_addr(const void *a, const void *b)
{
	const struct sym_ent *x = a, *y = b;

	if (x->absolute != y->absolute)
		return x->absolute ? -1 : 1;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_name(const void *a, const void *b, void *ctx)
{
	const struct hvi_symtab *sort_st = ctx;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	int c = strcmp(sort_st->pool + sort_st->syms[x].name_off,
		       sort_st->pool + sort_st->syms[y].name_off);

	if (c)
		return c;
	return x < y ? -1 : x > y;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Take the name order from kallsyms_seqs_of_names (symbol numbers in name
 * order, 3 bytes big-endian each) instead of sorting: fill st->by_name and
 * return true only if the guest's order is a permutation that really is in
 * name order (checked pairwise); symbols of equal name are put in address
 * order.  Anything else returns false and the caller sorts by itself.
 */
static bool name_order_from_seqs(struct hvi_symtab *st, const uint8_t *img, size_t len,
				 size_t seqs_off)
{
	size_t n = st->n, i, j;
	uint32_t *pos = NULL;
	bool ok = false;

	if (seqs_off > len || 3 * n > len - seqs_off)
		return false;
	pos = malloc(n * sizeof(*pos)); /* kallsyms number -> address-order position */
	if (!pos)
		return false;
	for (i = 0; i < n; i++)
		pos[i] = UINT32_MAX;
	for (i = 0; i < n; i++)
		if (st->syms[i].seq < n)
			pos[st->syms[i].seq] = (uint32_t)i;
	for (i = 0; i < n; i++) {
		const uint8_t *q = img + seqs_off + 3 * i;
		uint32_t seq = ((uint32_t)q[0] << 16) | ((uint32_t)q[1] << 8) | q[2];

		if (seq >= n || pos[seq] == UINT32_MAX)
			goto out; /* out of range, or a number seen twice */
		st->by_name[i] = pos[seq];
		pos[seq] = UINT32_MAX;
	}
	for (i = 1; i < n; i++)
		if (strcmp(st->pool + st->syms[st->by_name[i - 1]].name_off,
			   st->pool + st->syms[st->by_name[i]].name_off) > 0)
			goto out;
	/* equal names: address order (the positions) */
	for (i = 0; i < n; i = j) {
		const char *nm = st->pool + st->syms[st->by_name[i]].name_off;

		for (j = i + 1; j < n && !strcmp(nm, st->pool + st->syms[st->by_name[j]].name_off);
		     j++)
			;
		if (j - i > 1)
			qsort(st->by_name + i, j - i, sizeof(*st->by_name), cmp_u32);
	}
	ok = true;
out:
	free(pos);
	return ok;
}

/*
 * Append a name to the pool, which was sized beforehand from the same
 * names (names_pool_bytes()); it never grows.  A name that does not fit
 * means the guest rewrote its tables between the two passes.
 */
static int pool_add(struct hvi_symtab *st, const char *s, size_t n, uint32_t *off)
{
	if (n + 1 > st->pool_cap - st->pool_len)
		return hv_err(
			HV_E_FORMAT,
			"the kallsyms names grew beyond the %zu bytes counted a moment earlier: "
			"the guest is rewriting its symbol tables while hvpatch reads them; "
			"try again, and distrust this guest if it keeps happening",
			st->pool_cap);
	memcpy(st->pool + st->pool_len, s, n + 1);
	*off = (uint32_t)st->pool_len;
	st->pool_len += n + 1;
	return 0;
}

/*
 * Bytes the @n names from @names_off would take in the pool (each without
 * its type letter, NUL-terminated: the sum of the expanded lengths), counted
 * from the token lengths without expanding anything.  Returns SIZE_MAX for
 * an entry that is malformed (the decode then names it).
 */
static size_t names_pool_bytes(const uint8_t *img, size_t names_off, size_t end, uint32_t n,
			       const struct toktab *tt)
{
	size_t p = names_off, total = 0, i, k;

	for (i = 0; i < n; i++) {
		size_t hdr = 1, sz = entry_size_hdr(img, end, p, &hdr), o = 0;

		if (!sz)
			return SIZE_MAX;
		for (k = hdr; k < sz; k++)
			o += tt->tlen[img[p + k]];
		total += o; /* the type letter's byte holds the NUL */
		p += sz;
	}
	return total;
}

/* The most bytes the names may take in the pool, for @names_len compressed bytes. */
static size_t names_pool_max(size_t names_len)
{
	size_t m = names_len > HVI_KSYMS_POOL_MAX / HVI_KSYMS_EXPAND_MAX
			   ? HVI_KSYMS_POOL_MAX
			   : names_len * HVI_KSYMS_EXPAND_MAX;

	return m < HVI_KSYMS_POOL_FLOOR ? HVI_KSYMS_POOL_FLOOR : m;
}

int hvi_ksyms_decode(const uint8_t *img, size_t len, const struct hvi_ksyms_tables *t,
		     uint64_t expect_text_gva, struct hvi_symtab **out)
{
	struct hvi_symtab *st = NULL;
	struct toktab tt;
	size_t p, index_off, names_end, i, pool_need, pool_max;
	uint32_t n;
	int32_t *raw = NULL;
	long text_raw = 0;
	bool text_seen = false, abs_percpu;
	uint64_t text_addr;
	char name[HVI_KSYM_NAME_MAX + 1];
	int r = 0;

	*out = NULL;
	n = t->num_syms;
	/*
	 * Every field is the guest's word.  Each is bounded before anything is
	 * sized from it: the count by HVI_KSYMS_MAX and by the bytes its
	 * tables take inside the image, the expanded names by their compressed
	 * size (names_pool_max()), so a forged table costs the host at most
	 * about 44 bytes per symbol plus HVI_KSYMS_POOL_MAX.
	 */
	if (!img) {
		r = hv_err(HV_E_INVAL, "there is no kernel image to decode kallsyms from");
		goto out;
	}
	if (n == 0 || n > HVI_KSYMS_MAX) {
		r = hv_err(HV_E_RANGE,
			   "the guest kernel's kallsyms num_syms (image offset +0x%zx) says %u "
			   "symbols, but hvpatch accepts 1 to %u: the symbol tables are corrupt or "
			   "forged, so they are not indexed",
			   t->num_syms_off, n, HVI_KSYMS_MAX);
		goto out;
	}
	if (t->names_off > len || t->names_len > len - t->names_off ||
	    t->names_len < 2 * (size_t)n) {
		r = hv_err(
			HV_E_FORMAT,
			"the kallsyms names length (%zu bytes at image offset +0x%zx) does not "
			"fit num_syms %u: the names must lie inside the %zu-byte kernel image "
			"and take at least 2 bytes per symbol, so the tables are corrupt or forged",
			t->names_len, t->names_off, n, len);
		goto out;
	}
	if (t->offsets_off > t->names_off || (size_t)n * 4 > t->names_off - t->offsets_off ||
	    t->relative_base_off > len || len - t->relative_base_off < 8) {
		r = hv_err(HV_E_FORMAT,
			   "the kallsyms offsets (num_syms %u times 4 bytes from image offset "
			   "+0x%zx) run into the names at +0x%zx, or relative_base (+0x%zx) lies "
			   "outside the %zu-byte kernel image: the tables are corrupt or forged",
			   n, t->offsets_off, t->names_off, t->relative_base_off, len);
		goto out;
	}
	if ((n + MARKER_STRIDE - 1) / MARKER_STRIDE != t->num_markers || t->markers_off > len ||
	    (size_t)t->num_markers * 4 > len - t->markers_off) {
		r = hv_err(HV_E_FORMAT,
			   "the kallsyms markers (%u at image offset +0x%zx) do not match num_syms "
			   "%u (one marker per %u symbols: %u) or run past the %zu-byte kernel "
			   "image: the tables are corrupt or forged",
			   t->num_markers, t->markers_off, n, MARKER_STRIDE,
			   (n + MARKER_STRIDE - 1) / MARKER_STRIDE, len);
		goto out;
	}
	if (!check_token_table(img, len, t->token_table_off, &index_off, &tt) ||
	    index_off != t->token_index_off) {
		r = hv_err(HV_E_FORMAT,
			   "the kallsyms token table at image offset +0x%zx is malformed",
			   t->token_table_off);
		goto out;
	}
	names_end = t->names_off + t->names_len;
	if (check_names(img, len, t->names_off, names_end, n, t->markers_off, t->num_markers) !=
	    names_end) {
		r = hv_err(HV_E_FORMAT,
			   "the kallsyms names at image offset +0x%zx do not match their %u "
			   "markers or overrun their %zu bytes",
			   t->names_off, t->num_markers, t->names_len);
		goto out;
	}
	pool_need = names_pool_bytes(img, t->names_off, names_end, n, &tt);
	pool_max = names_pool_max(t->names_len);
	if (pool_need == SIZE_MAX) {
		r = hv_err(HV_E_FORMAT,
			   "the kallsyms names at image offset +0x%zx changed while hvpatch read "
			   "them: the guest is rewriting its symbol tables; try again",
			   t->names_off);
		goto out;
	}
	if (pool_need > pool_max) {
		r = hv_err(
			HV_E_RANGE,
			"the guest kernel's kallsyms names (names length %zu bytes, num_syms %u) "
			"expand to %zu bytes, more than the %zu hvpatch allows them (%u times "
			"their compressed size, at least %u KiB, at most %u MiB): the token "
			"table or the names are forged to exhaust host memory, so they are not "
			"indexed",
			t->names_len, n, pool_need, pool_max, HVI_KSYMS_EXPAND_MAX,
			HVI_KSYMS_POOL_FLOOR >> 10, HVI_KSYMS_POOL_MAX >> 20);
		goto out;
	}
	st = calloc(1, sizeof(*st));
	raw = malloc((size_t)n * sizeof(*raw));
	if (st) {
		st->syms = malloc((size_t)n * sizeof(*st->syms));
		st->pool = malloc(pool_need ? pool_need : 1);
		st->pool_cap = pool_need;
	}
	if (!st || !raw || !st->syms || !st->pool) {
		r = hv_err(
			HV_E_NOMEM,
			"out of memory for the index of %u kallsyms symbols (%zu bytes of names)",
			n, pool_need);
		goto out;
	}
	p = t->names_off;
	for (i = 0; i < n; i++) {
		size_t nlen = 0, k;
		long sz =
			expand_name(img, names_end, p, img + t->token_table_off, &tt, name, &nlen);
		uint32_t u;

		if (sz < 0) {
			r = hv_err(HV_E_FORMAT,
				   "kallsyms name entry %zu at image offset +0x%zx is malformed "
				   "(empty, too long, or beyond the names table)",
				   i, p);
			goto out;
		}
		for (k = 0; k < nlen; k++) {
			if (name[k] <= 0x20 || name[k] > 0x7e) {
				r = hv_err(HV_E_FORMAT,
					   "kallsyms name entry %zu at image offset +0x%zx "
					   "contains a non-printable character",
					   i, p);
				goto out;
			}
		}
		p += (size_t)sz;
		if (ld_u32(img, len, t->offsets_off + 4 * i, &u) < 0) {
			r = hv_err(HV_E_FORMAT, "kallsyms offset %zu lies outside the image", i);
			goto out;
		}
		raw[i] = (int32_t)u;
		st->syms[i].type = name[0];
		st->syms[i].seq = (uint32_t)i;
		r = pool_add(st, name + 1, nlen - 1, &st->syms[i].name_off);
		if (r < 0)
			goto out;
		if (!text_seen && !strcmp(name + 1, "_text")) {
			text_seen = true;
			text_raw = raw[i];
		}
	}
	if (!text_seen) {
		r = hv_err(HV_E_VERIFY, "the decoded kallsyms have no _text symbol, so they cannot "
					"be checked against the kernel base");
		goto out;
	}
	/*
	 * Absolute per-cpu scheme: _text is relative_base - 1 - (-1); plain
	 * base-relative: relative_base + 0.  The one that reproduces _text wins.
	 */
	abs_percpu = text_raw < 0;
	text_addr = abs_percpu ? t->relative_base - 1 - (uint64_t)(int64_t)text_raw
			       : t->relative_base + (uint32_t)text_raw;
	if (expect_text_gva && text_addr != expect_text_gva) {
		r = hv_err(HV_E_VERIFY,
			   "kallsyms place _text at 0x%llx but the page tables place the kernel at "
			   "0x%llx: the symbol tables do not belong to this kernel or were altered",
			   (unsigned long long)text_addr, (unsigned long long)expect_text_gva);
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct sym_ent *s = &st->syms[i];

		s->absolute = false;
		if (abs_percpu && raw[i] >= 0) {
			s->addr = (uint64_t)raw[i];
			s->absolute = true;
		} else if (abs_percpu) {
			s->addr = t->relative_base - 1 - (uint64_t)(int64_t)raw[i];
		} else {
			s->addr = t->relative_base + (uint32_t)raw[i];
		}
	}
	st->n = n;
	/* the kernel stores its symbols in address order already: sort only if not */
	for (i = 1; i < n && cmp_addr(&st->syms[i - 1], &st->syms[i]) <= 0; i++)
		;
	if (i < n)
		qsort(st->syms, n, sizeof(*st->syms), cmp_addr);
	for (st->first_rel = 0; st->first_rel < n && st->syms[st->first_rel].absolute;
	     st->first_rel++)
		;
	st->by_name = malloc((size_t)n * sizeof(*st->by_name));
	st->dup_index = malloc((size_t)n * sizeof(*st->dup_index));
	st->dup_count = malloc((size_t)n * sizeof(*st->dup_count));
	if (!st->by_name || !st->dup_index || !st->dup_count) {
		r = hv_err(HV_E_NOMEM, "out of memory for the kallsyms name index");
		goto out;
	}
	if (!t->seqs_off || !name_order_from_seqs(st, img, len, t->seqs_off)) {
		for (i = 0; i < n; i++)
			st->by_name[i] = (uint32_t)i;
		qsort_r(st->by_name, n, sizeof(*st->by_name), cmp_name, st);
	}
	for (i = 0; i < n;) {
		size_t j = i + 1, k;
		const char *nm = st->pool + st->syms[st->by_name[i]].name_off;

		while (j < n && !strcmp(nm, st->pool + st->syms[st->by_name[j]].name_off))
			j++;
		for (k = i; k < j; k++) {
			st->dup_index[st->by_name[k]] = (uint32_t)(k - i);
			st->dup_count[st->by_name[k]] = (uint32_t)(j - i);
		}
		i = j;
	}
	*out = st;
	st = NULL;
	r = (int)n;
out:
	free(raw);
	hvi_symtab_free(st);
	return r;
}

static void fill(const struct hvi_symtab *st, size_t i, struct hvi_sym *out)
{
	const struct sym_ent *s = &st->syms[i];

	out->addr = s->addr;
	out->name = st->pool + s->name_off;
	out->type = s->type;
	out->absolute = s->absolute;
	out->dup_index = st->dup_index[i];
	out->dup_count = st->dup_count[i];
}

int hvi_symtab_get(const struct hvi_symtab *st, size_t i, struct hvi_sym *out)
{
	if (!st || i >= st->n)
		return hv_err(HV_E_RANGE, "symbol index %zu is beyond the %zu symbols", i,
			      hvi_symtab_count(st));
	fill(st, i, out);
	return 0;
}

/* First position in by_name whose name is >= @name (first @nlen bytes compared). */
static size_t name_lower_bound(const struct hvi_symtab *st, const char *name, size_t nlen)
{
	size_t lo = 0, hi = st->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *m = st->pool + st->syms[st->by_name[mid]].name_off;
		int c = strncmp(m, name, nlen);

		if (c == 0 && m[nlen] != 0)
			c = 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static size_t name_range(const struct hvi_symtab *st, const char *name, size_t nlen, size_t *first)
{
	size_t i = name_lower_bound(st, name, nlen), j = i;

	while (j < st->n) {
		const char *m = st->pool + st->syms[st->by_name[j]].name_off;

		if (strncmp(m, name, nlen) || m[nlen] != 0)
			break;
		j++;
	}
	*first = i;
	return j - i;
}

int hvi_sym_lookup_all(const struct hvi_symtab *st, const char *name, struct hvi_sym *out,
		       size_t max)
{
	size_t first, cnt, k;

	if (!st || !name)
		return 0;
	cnt = name_range(st, name, strlen(name), &first);
	for (k = 0; k < cnt && k < max; k++)
		fill(st, st->by_name[first + k], &out[k]);
	return cnt > (size_t)INT32_MAX ? INT32_MAX : (int)cnt;
}

int hvi_sym_lookup(const struct hvi_symtab *st, const char *name, struct hvi_sym *out)
{
	const char *at;
	size_t nlen, first, cnt;
	unsigned long long want = 0;
	bool has_at = false;
	int r = 0;

	if (!st || !name) {
		r = hv_err(HV_E_INVAL, "no symbol index or no name to look up");
		goto out;
	}
	at = strrchr(name, '@');
	nlen = strlen(name);
	if (at && at[1] >= '0' && at[1] <= '9') {
		char *end;

		want = strtoull(at + 1, &end, 10);
		if (*end == 0) {
			has_at = true;
			nlen = (size_t)(at - name);
		}
	}
	cnt = name_range(st, name, nlen, &first);
	if (cnt == 0) {
		r = hv_err(HV_E_NOTFOUND, "the guest kernel has no symbol named '%.*s'", (int)nlen,
			   name);
		goto out;
	}
	if (!has_at && cnt > 1) {
		r = hv_err(HV_E_INVAL,
			   "'%s' names %zu symbols in the guest kernel; pick one with '%s@0' .. "
			   "'%s@%zu' (in address order)",
			   name, cnt, name, name, cnt - 1);
		goto out;
	}
	if (want >= cnt) {
		r = hv_err(HV_E_NOTFOUND,
			   "'%s' asks for symbol %llu of '%.*s', but the guest kernel has only %zu "
			   "(numbered from 0)",
			   name, want, (int)nlen, name, cnt);
		goto out;
	}
	fill(st, st->by_name[first + want], out);
out:
	return r;
}

int hvi_sym_by_addr(const struct hvi_symtab *st, uint64_t addr, uint64_t max_offset,
		    struct hvi_sym *out, uint64_t *offset)
{
	size_t lo, hi;
	int r = 0;

	if (!st || st->first_rel >= st->n || addr < st->syms[st->first_rel].addr) {
		r = hv_err(HV_E_NOTFOUND, "address 0x%llx lies below every kernel symbol",
			   (unsigned long long)addr);
		goto out;
	}
	lo = st->first_rel;
	hi = st->n;
	while (hi - lo > 1) { /* invariant: syms[lo].addr <= addr */
		size_t mid = lo + (hi - lo) / 2;

		if (st->syms[mid].addr <= addr)
			lo = mid;
		else
			hi = mid;
	}
	/* among symbols at the same address prefer the first in table order */
	while (lo > st->first_rel && st->syms[lo - 1].addr == st->syms[lo].addr)
		lo--;
	if (max_offset && addr - st->syms[lo].addr > max_offset) {
		r = hv_err(HV_E_NOTFOUND,
			   "address 0x%llx lies 0x%llx bytes after the nearest symbol %s, more "
			   "than the 0x%llx allowed",
			   (unsigned long long)addr, (unsigned long long)(addr - st->syms[lo].addr),
			   st->pool + st->syms[lo].name_off, (unsigned long long)max_offset);
		goto out;
	}
	fill(st, lo, out);
	*offset = addr - st->syms[lo].addr;
out:
	return r;
}
