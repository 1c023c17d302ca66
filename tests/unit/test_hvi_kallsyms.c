/*
 * libhvi kallsyms decoding over synthetic tables written by a small encoder
 * (tests/unit/hvi_testlib.c) in both supported layouts: finding the tables
 * among other bytes, decoding every name and address, duplicates and
 * name@N, address lookups, the _text cross-check; hostile tables (absurd
 * counts, unsorted markers, overrunning names, broken token index,
 * truncation) and random mutations; release and build-id readers.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hvi_kallsyms.h"
#include "hvi_kernel.h"
#include "hvi_testlib.h"

#define TEXT	0xffffffffa1000000ull
#define IMG_LEN (4u << 20)
#define TAB_OFF 0x100000u
#define NSYMS	3000u

static uint8_t *img;
static struct enc_sym *syms;
static char (*names)[700];
static struct enc_layout lay;

/*
 * A symbol set: per-cpu absolutes first, _text, then functions (some with
 * duplicated static names), a very long name (2-byte length), and data.
 */
static void make_syms(void)
{
	size_t i;

	syms = calloc(NSYMS, sizeof(*syms));
	names = calloc(NSYMS, sizeof(*names));
	ck_assert(syms && names);
	for (i = 0; i < NSYMS; i++) {
		struct enc_sym *s = &syms[i];

		s->name = names[i];
		if (i < 10) {
			snprintf(names[i], sizeof(names[i]), "percpu_var_%zu", i);
			s->type = 'D';
			s->addr = i * 0x40;
			s->absolute = 1;
		} else if (i == 10) {
			strcpy(names[i], "_text");
			s->type = 'T';
			s->addr = TEXT;
		} else if (i == 11) {
			strcpy(names[i], "_stext");
			s->type = 'T';
			s->addr = TEXT;
		} else if (i % 97 == 0) {
			strcpy(names[i], "dup_static");
			s->type = 't';
			s->addr = TEXT + 0x1000 + i * 0x40;
		} else if (i == 1234) {
			size_t k;

			for (k = 0; k < 300; k++)
				names[i][k] = (char)('a' + k % 26);
			names[i][300] = 0;
			s->type = 'T';
			s->addr = TEXT + 0x1000 + i * 0x40;
		} else {
			snprintf(names[i], sizeof(names[i]), "%s_%zu_fn",
				 i % 3 ? "vfs_read" : "net", i);
			s->type = i < 2500 ? 'T' : 'd';
			s->addr = TEXT + 0x1000 + i * 0x40;
		}
	}
	/* two symbols out of address order (the real tables are sorted; the
	 * decoder must not rely on it) */
	syms[601].addr = TEXT + 0x1000 + 599 * 0x40 + 8;
}

/* An image with junk around the tables (including a decoy digit run). */
static void make_image(int with_seqs)
{
	size_t i;
	static const char decoy[] = "x\0"
				    "0\0"
				    "1\0"
				    "2\0"
				    "3\0"
				    "4\0"
				    "5\0"
				    "6\0"
				    "7\0"
				    "8\0"
				    "9";

	img = calloc(1, IMG_LEN);
	ck_assert_ptr_nonnull(img);
	srand(7);
	for (i = 0; i < TAB_OFF; i++)
		img[i] = (uint8_t)rand();
	memcpy(img + 0x1000, decoy, sizeof(decoy));
	ck_assert_int_eq(enc_kallsyms(syms, NSYMS, TEXT, img, IMG_LEN, TAB_OFF, with_seqs, &lay),
			 0);
	memcpy(img + lay.end + 64, decoy, sizeof(decoy));
}

static void setup(void)
{
	make_syms();
	make_image(0);
}

static void setup_seqs(void)
{
	make_syms();
	make_image(1);
}

static void teardown(void)
{
	free(img);
	free(syms);
	free(names);
	img = NULL;
}

static void check_found(const struct hvi_ksyms_tables *t)
{
	ck_assert_uint_eq(t->offsets_off, lay.offsets);
	ck_assert_uint_eq(t->relative_base_off, lay.relative_base);
	ck_assert_uint_eq(t->num_syms_off, lay.num_syms);
	ck_assert_uint_eq(t->names_off, lay.names);
	ck_assert_uint_eq(t->markers_off, lay.markers);
	ck_assert_uint_eq(t->token_table_off, lay.token_table);
	ck_assert_uint_eq(t->token_index_off, lay.token_index);
	ck_assert_uint_eq(t->num_syms, NSYMS);
	ck_assert_uint_eq(t->num_markers, (NSYMS + 255) / 256);
	ck_assert_uint_eq(t->relative_base, TEXT);
}

static void decode_all(void)
{
	struct hvi_ksyms_tables t;
	struct hvi_symtab *st = NULL;
	struct hvi_sym s, all[64];
	uint64_t off;
	size_t i;
	int n;

	ck_assert_int_eq(hvi_ksyms_find(img, IMG_LEN, &t), 0);
	check_found(&t);
	ck_assert_int_eq(hvi_ksyms_decode(img, IMG_LEN, &t, TEXT, &st), NSYMS);
	ck_assert_uint_eq(hvi_symtab_count(st), NSYMS);
	/* every symbol decodes to its name and address */
	for (i = 0; i < NSYMS; i++) {
		if (!strcmp(syms[i].name, "dup_static"))
			continue;
		ck_assert_msg(hvi_sym_lookup(st, syms[i].name, &s) == 0, "%s: %s", syms[i].name,
			      hv_err_last()->msg);
		ck_assert_uint_eq(s.addr, syms[i].addr);
		ck_assert_int_eq(s.type, syms[i].type);
		ck_assert_int_eq(s.absolute, syms[i].absolute);
	}
	/* the symbols come out in address order */
	for (i = 1; i < NSYMS; i++) {
		struct hvi_sym a, b;

		ck_assert_int_eq(hvi_symtab_get(st, i - 1, &a), 0);
		ck_assert_int_eq(hvi_symtab_get(st, i, &b), 0);
		ck_assert(a.absolute > b.absolute ||
			  (a.absolute == b.absolute && a.addr <= b.addr));
	}
	ck_assert_int_eq(hvi_symtab_get(st, NSYMS, &s), HV_E_RANGE);
	/* duplicates: all of them in address order, name@N, bare name refused */
	n = hvi_sym_lookup_all(st, "dup_static", all, 64);
	ck_assert_int_eq(n, (NSYMS - 1) / 97);
	for (i = 1; i < (size_t)n; i++)
		ck_assert_uint_lt(all[i - 1].addr, all[i].addr);
	ck_assert_uint_eq(all[0].addr, TEXT + 0x1000 + 97 * 0x40);
	ck_assert_uint_eq(all[2].dup_index, 2);
	ck_assert_uint_eq(all[2].dup_count, (unsigned)n);
	ck_assert_int_eq(hvi_sym_lookup(st, "dup_static", &s), HV_E_INVAL);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "dup_static@0"));
	ck_assert_int_eq(hvi_sym_lookup(st, "dup_static@2", &s), 0);
	ck_assert_uint_eq(s.addr, all[2].addr);
	ck_assert_int_eq(hvi_sym_lookup(st, "dup_static@30", &s), HV_E_NOTFOUND);
	ck_assert_int_eq(hvi_sym_lookup(st, "no_such_symbol", &s), HV_E_NOTFOUND);
	ck_assert_int_eq(hvi_sym_lookup(st, "vfs_read", &s), HV_E_NOTFOUND); /* a prefix only */
	ck_assert_int_eq(hvi_sym_lookup_all(st, "nothing", NULL, 0), 0);
	/* address -> symbol + offset */
	ck_assert_int_eq(hvi_sym_by_addr(st, syms[500].addr + 0x13, 0, &s, &off), 0);
	ck_assert_str_eq(s.name, syms[500].name);
	ck_assert_uint_eq(off, 0x13);
	ck_assert_int_eq(hvi_sym_by_addr(st, TEXT, 0, &s, &off), 0);
	ck_assert_str_eq(s.name, "_text"); /* first of two at the same address */
	ck_assert_int_eq(hvi_sym_by_addr(st, TEXT - 1, 0, &s, &off), HV_E_NOTFOUND);
	ck_assert_int_eq(hvi_sym_by_addr(st, 0x40, 0, &s, &off), HV_E_NOTFOUND); /* per-cpu */
	ck_assert_int_eq(hvi_sym_by_addr(st, syms[NSYMS - 1].addr + 0x100000, 0x1000, &s, &off),
			 HV_E_NOTFOUND);
	/* the long name (2-byte length) */
	ck_assert_int_eq(hvi_sym_lookup(st, names[1234], &s), 0);
	ck_assert_uint_eq(strlen(s.name), 300);
	hvi_symtab_free(st);
	/* _text must match the base from the page tables */
	st = NULL;
	ck_assert_int_eq(hvi_ksyms_decode(img, IMG_LEN, &t, TEXT + HVI_PAGE_2M, &st), HV_E_VERIFY);
	ck_assert_ptr_null(st);
}

START_TEST(test_decode_60)
{
	decode_all();
}
END_TEST

START_TEST(test_decode_62_seqs)
{
	struct hvi_ksyms_tables t;

	decode_all();
	ck_assert_int_eq(hvi_ksyms_find(img, IMG_LEN, &t), 0);
	ck_assert_str_eq(t.layout, "linux-6.2");
	ck_assert_uint_eq(t.seqs_off, lay.seqs);
}
END_TEST

static int find_decode(void);

/* A name order from the guest that lies is not used: the result is the same. */
START_TEST(test_seqs_lying)
{
	unsigned i;

	/* swap two entries: still a permutation, no longer in name order */
	for (i = 0; i < 3; i++) {
		uint8_t tmp = img[lay.seqs + 3 + i];

		img[lay.seqs + 3 + i] = img[lay.seqs + 3 * 2000 + i];
		img[lay.seqs + 3 * 2000 + i] = tmp;
	}
	decode_all();
	/* a number twice: not a permutation */
	memcpy(img + lay.seqs + 3, img + lay.seqs + 6, 3);
	decode_all();
	/* a number out of range (the layout check rejects it already) */
	img[lay.seqs] = 0xff;
	ck_assert_int_eq(find_decode(), HV_E_NOTFOUND);
}
END_TEST

START_TEST(test_layout_name_60)
{
	struct hvi_ksyms_tables t;

	ck_assert_int_eq(hvi_ksyms_find(img, IMG_LEN, &t), 0);
	ck_assert_str_eq(t.layout, "linux-6.0");
}
END_TEST

/* A hinted token table is checked like a found one. */
START_TEST(test_find_at_hint)
{
	struct hvi_ksyms_tables t;

	ck_assert_int_eq(hvi_ksyms_find_at(img, IMG_LEN, lay.token_table, &t), 0);
	check_found(&t);
	ck_assert_int_eq(hvi_ksyms_find_at(img, IMG_LEN, lay.token_table + 8, &t), HV_E_NOTFOUND);
	ck_assert_uint_eq(t.num_syms, 0);
	ck_assert_int_eq(hvi_ksyms_find_at(img, IMG_LEN, lay.markers, &t), HV_E_NOTFOUND);
	ck_assert_int_eq(hvi_ksyms_find_at(img, IMG_LEN, IMG_LEN + 8, &t), HV_E_NOTFOUND);
	ck_assert_int_eq(hvi_ksyms_find_at(img, IMG_LEN, lay.token_table + 1, &t), HV_E_NOTFOUND);
}
END_TEST

/* ---- hostile tables ---- */

static int find_decode(void)
{
	struct hvi_ksyms_tables t;
	struct hvi_symtab *st = NULL;
	int r = hvi_ksyms_find(img, IMG_LEN, &t);

	if (r < 0)
		return r;
	r = hvi_ksyms_decode(img, IMG_LEN, &t, TEXT, &st);
	hvi_symtab_free(st);
	return r;
}

START_TEST(test_no_tables)
{
	memset(img + TAB_OFF, 0, IMG_LEN - TAB_OFF);
	ck_assert_int_eq(find_decode(), HV_E_NOTFOUND);
	ck_assert_int_eq(hvi_ksyms_find(NULL, 0, &(struct hvi_ksyms_tables){ 0 }), HV_E_NOTFOUND);
}
END_TEST

START_TEST(test_absurd_num_syms)
{
	put_u32(img + lay.num_syms, 0x7fffffff);
	ck_assert_int_eq(find_decode(), HV_E_NOTFOUND);
	put_u32(img + lay.num_syms, NSYMS + 1); /* same marker count, one name too many */
	ck_assert_int_eq(find_decode(), HV_E_NOTFOUND);
}
END_TEST

START_TEST(test_unsorted_markers)
{
	uint32_t m1, m2;

	memcpy(&m1, img + lay.markers + 4, 4);
	memcpy(&m2, img + lay.markers + 8, 4);
	memcpy(img + lay.markers + 4, &m2, 4);
	memcpy(img + lay.markers + 8, &m1, 4);
	ck_assert_int_eq(find_decode(), HV_E_NOTFOUND);
}
END_TEST

START_TEST(test_name_overruns)
{
	/* the last name claims more tokens than are left before the markers */
	struct hvi_ksyms_tables t;

	ck_assert_int_eq(hvi_ksyms_find(img, IMG_LEN, &t), 0);
	img[lay.names] = 0x7f; /* first name: 127 tokens, breaks marker 1 */
	ck_assert_int_eq(find_decode(), HV_E_NOTFOUND);
	/* decoding with the old (now wrong) description fails cleanly too */
	{
		struct hvi_symtab *st = NULL;

		ck_assert_int_eq(hvi_ksyms_decode(img, IMG_LEN, &t, TEXT, &st), HV_E_FORMAT);
		ck_assert_ptr_null(st);
	}
}
END_TEST

START_TEST(test_token_index_broken)
{
	put_u16(img + lay.token_index + 2 * 0x41, 3);
	ck_assert_int_eq(find_decode(), HV_E_NOTFOUND);
}
END_TEST

START_TEST(test_token_nonprintable)
{
	img[lay.token_table] = 0x01; /* first token (a pair) now starts with a control byte */
	ck_assert_int_eq(find_decode(), HV_E_NOTFOUND);
}
END_TEST

START_TEST(test_description_out_of_bounds)
{
	struct hvi_ksyms_tables t;
	struct hvi_symtab *st = NULL;

	ck_assert_int_eq(hvi_ksyms_find(img, IMG_LEN, &t), 0);
	t.names_len = IMG_LEN;
	ck_assert_int_eq(hvi_ksyms_decode(img, IMG_LEN, &t, TEXT, &st), HV_E_FORMAT);
	ck_assert_int_eq(hvi_ksyms_find(img, IMG_LEN, &t), 0);
	t.num_syms = HVI_KSYMS_MAX + 1;
	ck_assert_int_eq(hvi_ksyms_decode(img, IMG_LEN, &t, TEXT, &st), HV_E_RANGE);
	ck_assert_int_eq(hvi_ksyms_find(img, IMG_LEN, &t), 0);
	t.token_table_off = IMG_LEN - 3;
	ck_assert_int_eq(hvi_ksyms_decode(img, IMG_LEN, &t, TEXT, &st), HV_E_FORMAT);
	ck_assert_ptr_null(st);
}
END_TEST

/* An image made of nothing but candidate digit runs is given up on quickly. */
START_TEST(test_stall_bounded)
{
	static const char run[] = "x\0"
				  "0\0"
				  "1\0"
				  "2\0"
				  "3\0"
				  "4\0"
				  "5\0"
				  "6\0"
				  "7\0"
				  "8\0"
				  "9\0";
	struct hvi_ksyms_tables t;
	size_t p;
	clock_t c0 = clock();

	for (p = 0; p + sizeof(run) <= IMG_LEN; p += sizeof(run) - 1)
		memcpy(img + p, run, sizeof(run) - 1);
	ck_assert_int_eq(hvi_ksyms_find(img, IMG_LEN, &t), HV_E_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "gave up"));
	ck_assert_int_lt((clock() - c0) / CLOCKS_PER_SEC, 5);
}
END_TEST

/* Cutting the image anywhere inside the tables never over-reads. */
START_TEST(test_truncated)
{
	size_t cut;

	for (cut = lay.offsets; cut < lay.end; cut += (lay.end - lay.offsets) / 97 + 1) {
		uint8_t *copy = malloc(cut);
		struct hvi_ksyms_tables t;
		int r;

		ck_assert_ptr_nonnull(copy);
		memcpy(copy, img, cut);
		r = hvi_ksyms_find(copy, cut, &t);
		ck_assert_int_eq(r, HV_E_NOTFOUND);
		free(copy);
	}
}
END_TEST

/* Random mutations of the tables: never a crash; successes stay consistent. */
START_TEST(test_mutations)
{
	uint8_t *orig = malloc(IMG_LEN);
	unsigned iter, ok = 0, bad = 0;

	ck_assert_ptr_nonnull(orig);
	memcpy(orig, img, IMG_LEN);
	srand(11);
	for (iter = 0; iter < 400; iter++) {
		struct hvi_ksyms_tables t;
		struct hvi_symtab *st = NULL;
		unsigned f, nflips = 1 + (unsigned)rand() % 8;
		int r;

		for (f = 0; f < nflips; f++) {
			size_t at = lay.offsets + (size_t)rand() % (lay.end - lay.offsets);

			img[at] = rand() % 3 ? (uint8_t)(img[at] ^ (1u << (rand() % 8)))
					     : (uint8_t)rand();
		}
		r = hvi_ksyms_find(img, IMG_LEN, &t);
		if (r == 0)
			r = hvi_ksyms_decode(img, IMG_LEN, &t, TEXT, &st);
		if (r >= 0) {
			struct hvi_sym s;

			ck_assert_uint_eq(hvi_symtab_count(st), (size_t)r);
			ck_assert_int_eq(hvi_sym_lookup(st, "_text", &s), 0);
			ck_assert_uint_eq(s.addr, TEXT);
			ok++;
		} else {
			ck_assert(r == HV_E_NOTFOUND || r == HV_E_FORMAT || r == HV_E_VERIFY);
			bad++;
		}
		hvi_symtab_free(st);
		memcpy(img + lay.offsets, orig + lay.offsets, lay.end - lay.offsets);
	}
	ck_assert_uint_gt(ok, 0);
	ck_assert_uint_gt(bad, 0);
	free(orig);
}
END_TEST

/* ---- identity: release and build-id ---- */

static const char banner[] = "Linux version 6.1.0-99-cloud-amd64 (debian-kernel@lists.debian.org) "
			     "(gcc-12) #1 SMP PREEMPT_DYNAMIC Debian 6.1.999-1\n";

START_TEST(test_release_scan_and_symbol)
{
	char rel[HVI_RELEASE_MAX];
	uint8_t *m = calloc(1, 0x10000);

	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(hvi_read_release(m, 0x10000, TEXT, NULL, rel), HV_E_NOTFOUND);
	memcpy(m + 0x800, banner, sizeof(banner));
	ck_assert_int_eq(hvi_read_release(m, 0x10000, TEXT, NULL, rel), 0);
	ck_assert_str_eq(rel, "6.1.0-99-cloud-amd64");
	/* a second, different banner without a symbol to choose: refused */
	memcpy(m + 0x2000, "Linux version 9.9.9 (x)", 23);
	ck_assert_int_eq(hvi_read_release(m, 0x10000, TEXT, NULL, rel), HV_E_VERIFY);
	/* text that is not a release is ignored by the scan */
	memcpy(m + 0x2000, "Linux version %s (x)   ", 23);
	ck_assert_int_eq(hvi_read_release(m, 0x10000, TEXT, NULL, rel), 0);
	/* a banner cut by the end of the image */
	ck_assert_int_eq(hvi_read_release(m, 0x800 + 20, TEXT, NULL, rel), HV_E_NOTFOUND);
	free(m);
}
END_TEST

START_TEST(test_identity_through_symbols)
{
	struct enc_sym s[4] = { { 'T', "_text", TEXT, 0 },
				{ 'R', "linux_banner", TEXT + 0x200000, 0 },
				{ 'R', "__start_notes", TEXT + 0x300000, 0 },
				{ 'R', "__stop_notes", TEXT + 0x300000 + 0x48, 0 } };
	static const uint8_t note_other[] = { 4, 0, 0,	 0,   4,   0, 0, 0, 6, 0,
					      0, 0, 'X', 'e', 'n', 0, 1, 2, 3, 4 };
	static const uint8_t note_id[] = { 4, 0, 0, 0, 20, 0, 0, 0, 3, 0, 0, 0, 'G', 'N', 'U', 0 };
	struct hvi_ksyms_tables t;
	struct hvi_symtab *st = NULL;
	uint8_t id[HVI_BUILD_ID_MAX];
	char rel[HVI_RELEASE_MAX];
	unsigned i;

	memset(img, 0, IMG_LEN);
	ck_assert_int_eq(enc_kallsyms(s, 4, TEXT, img, IMG_LEN, TAB_OFF, 1, &lay), 0);
	memcpy(img + 0x200000, banner, sizeof(banner));
	memcpy(img + 0x300000, note_other, sizeof(note_other));
	memcpy(img + 0x300000 + 20, note_id, sizeof(note_id));
	for (i = 0; i < 20; i++)
		img[0x300000 + 36 + i] = (uint8_t)(0xa0 + i);
	/* a decoy banner elsewhere: the symbol decides */
	memcpy(img + 0x10, "Linux version 0.0.1 (decoy)", 27);
	ck_assert_int_eq(hvi_ksyms_find(img, IMG_LEN, &t), 0);
	ck_assert_int_eq(hvi_ksyms_decode(img, IMG_LEN, &t, TEXT, &st), 4);
	ck_assert_int_eq(hvi_read_release(img, IMG_LEN, TEXT, st, rel), 0);
	ck_assert_str_eq(rel, "6.1.0-99-cloud-amd64");
	ck_assert_int_eq(hvi_read_build_id(img, IMG_LEN, TEXT, st, id), 20);
	for (i = 0; i < 20; i++)
		ck_assert_uint_eq(id[i], 0xa0 + i);
	/* without symbols the scan finds the same build-id */
	ck_assert_int_eq(hvi_read_build_id(img, IMG_LEN, TEXT, NULL, id), 20);
	ck_assert_uint_eq(id[19], 0xb3);
	/* a second, different build-id note: the scan refuses, the symbols decide */
	memcpy(img + 0x380000, note_id, sizeof(note_id));
	img[0x380000 + 16] = 0x55;
	ck_assert_int_eq(hvi_read_build_id(img, IMG_LEN, TEXT, NULL, id), HV_E_VERIFY);
	ck_assert_int_eq(hvi_read_build_id(img, IMG_LEN, TEXT, st, id), 20);
	/* absurd note sizes */
	put_u32(img + 0x300000, 0xffffff00);
	ck_assert_int_eq(hvi_read_build_id(img, IMG_LEN, TEXT, st, id), HV_E_FORMAT);
	put_u32(img + 0x300000, 4);
	put_u32(img + 0x300000 + 4, 0x100); /* desc runs past __stop_notes */
	ck_assert_int_eq(hvi_read_build_id(img, IMG_LEN, TEXT, st, id), HV_E_FORMAT);
	put_u32(img + 0x300000 + 4, 4);
	put_u32(img + 0x300000 + 24, 200); /* build-id longer than allowed */
	ck_assert_int_eq(hvi_read_build_id(img, IMG_LEN, TEXT, st, id), HV_E_FORMAT);
	/* banner symbol pointing outside the image */
	hvi_symtab_free(st);
	st = NULL;
	s[1].addr = TEXT + IMG_LEN + 0x1000;
	memset(img + TAB_OFF, 0, lay.end - TAB_OFF);
	ck_assert_int_eq(enc_kallsyms(s, 4, TEXT, img, IMG_LEN, TAB_OFF, 1, &lay), 0);
	ck_assert_int_eq(hvi_ksyms_find(img, IMG_LEN, &t), 0);
	ck_assert_int_eq(hvi_ksyms_decode(img, IMG_LEN, &t, TEXT, &st), 4);
	ck_assert_int_eq(hvi_read_release(img, IMG_LEN, TEXT, st, rel), HV_E_FORMAT);
	hvi_symtab_free(st);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("hvi_kallsyms");
	TCase *tc = tcase_create("layout 6.0"), *tc2 = tcase_create("layout 6.2");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_decode_60);
	tcase_add_test(tc, test_layout_name_60);
	tcase_add_test(tc, test_find_at_hint);
	tcase_add_test(tc, test_no_tables);
	tcase_add_test(tc, test_absurd_num_syms);
	tcase_add_test(tc, test_unsorted_markers);
	tcase_add_test(tc, test_name_overruns);
	tcase_add_test(tc, test_token_index_broken);
	tcase_add_test(tc, test_token_nonprintable);
	tcase_add_test(tc, test_description_out_of_bounds);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_stall_bounded);
	tcase_add_test(tc, test_mutations);
	tcase_add_test(tc, test_release_scan_and_symbol);
	tcase_add_test(tc, test_identity_through_symbols);
	suite_add_tcase(su, tc);
	tcase_add_checked_fixture(tc2, setup_seqs, teardown);
	tcase_set_timeout(tc2, 60);
	tcase_add_test(tc2, test_decode_62_seqs);
	tcase_add_test(tc2, test_seqs_lying);
	tcase_add_test(tc2, test_absurd_num_syms);
	tcase_add_test(tc2, test_unsorted_markers);
	tcase_add_test(tc2, test_truncated);
	tcase_add_test(tc2, test_mutations);
	suite_add_tcase(su, tc2);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
