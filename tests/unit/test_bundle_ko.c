/*
 * The reader of a module's .ko (hvb_ko) over a real object built at
 * "make check" time from tests/unit/bundle-data/ko_fixture.c: every symbol's
 * type letter and flags, name@N in section order, the refusal of a bare
 * name several symbols share, missing names, the search of a directory
 * tree for MODULE.ko, and the object damaged every way (each byte flipped
 * or cleared, each truncation): a clean error or a parse whose lookups
 * answer.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hvb.h"
#include "hvb_ko.h"

#ifndef HV_KO_FIXTURE
#define HV_KO_FIXTURE "tests/unit/ko_fixture.ko"
#endif

/* ---------- the fixture ---------- */

static uint8_t *fixture;
static size_t fixture_len;
static char fixture_path[4096];

static void load_fixture(void)
{
	const char *top = getenv("top_builddir");

	if (fixture)
		return;
	if (top && *top)
		snprintf(fixture_path, sizeof(fixture_path), "%s/tests/unit/ko_fixture.ko", top);
	else
		snprintf(fixture_path, sizeof(fixture_path), "%s", HV_KO_FIXTURE);
	ck_assert_msg(hvb_read_file(fixture_path, HVB_KO_MAX_BYTES, &fixture, &fixture_len) == 0,
		      "%s (make tests/unit/ko_fixture.ko builds it)", hv_err_last()->msg);
}

/* What each unique name of the fixture must look like. */
struct want {
	const char *name;
	char type;
	bool percpu, init_only, untraced;
};

static const struct want wants[] = {
	{ "ko_traced_global", 'T', false, false, false },
	{ "ko_traced_static", 't', false, false, false },
	{ "ko_notrace", 'T', false, false, true },
	{ "ko_part2_entry", 'T', false, false, false },
	{ "ko_init", 't', false, true, false },
	{ "ko_exit", 't', false, true, false },
	{ "ko_percpu_hits", 'D', true, false, false },
	{ "ko_percpu_local", 'd', true, false, false },
	{ "ko_counter", 'D', false, false, false },
	{ "ko_local_data", 'd', false, false, false },
	{ "ko_zeroed", 'B', false, false, false },
	{ "ko_local_bss", 'b', false, false, false },
	{ "ko_table", 'R', false, false, false },
	{ "ko_local_table", 'r', false, false, false },
	{ "ko_note", 'r', false, true, false },
};
#define NWANTS (sizeof(wants) / sizeof(wants[0]))

/* Every name asked of a damaged object. */
static const char *const probes[] = {
	"ko_traced_global",
	"ko_traced_static",
	"ko_notrace",
	"ko_part2_entry",
	"ko_init",
	"ko_exit",
	"ko_percpu_hits",
	"ko_percpu_local",
	"ko_counter",
	"ko_local_data",
	"ko_zeroed",
	"ko_local_bss",
	"ko_table",
	"ko_local_table",
	"ko_note",
	"ko_shared",
	"ko_shared@0",
	"ko_shared@1",
	"ko_twin",
	"ko_twin@0",
	"ko_twin@1",
	"ko_twin@2",
	"__fentry__",
	"ko_fixture.c",
	"",
	"@0",
	"ko_missing@x",
};
#define NPROBES (sizeof(probes) / sizeof(probes[0]))

/* ---------- a plain reading of the fixture's ELF, to know what to expect ---------- */

static uint64_t rd(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void wr(uint8_t *p, unsigned n, uint64_t v)
{
	unsigned i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Section header @i of the fixture (trusted: the compiler wrote it). */
static const uint8_t *shdr(size_t i)
{
	return fixture + rd(fixture + 0x28, 8) + 64 * i;
}

static size_t nsections(void)
{
	return (size_t)rd(fixture + 0x3c, 2);
}

static const char *section_name(size_t i)
{
	const uint8_t *strs = shdr((size_t)rd(fixture + 0x3e, 2));

	return (const char *)fixture + rd(strs + 24, 8) + rd(shdr(i), 4);
}

static size_t section_index(const char *name)
{
	size_t i;

	for (i = 1; i < nsections(); i++)
		if (!strcmp(section_name(i), name))
			return i;
	ck_abort_msg("the fixture has no section %s", name);
	return 0;
}

static size_t section_by_type(uint32_t type)
{
	size_t i;

	for (i = 1; i < nsections(); i++)
		if (rd(shdr(i) + 4, 4) == type)
			return i;
	ck_abort_msg("the fixture has no section of type %u", type);
	return 0;
}

/* The first symbol named @name in section @sec (SIZE_MAX: any but undefined): its index and value.
 */
static size_t symbol(const char *name, size_t sec, uint64_t *value)
{
	const uint8_t *st = shdr(section_by_type(2));
	const uint8_t *str = shdr((size_t)rd(st + 40, 4));
	size_t i, n = (size_t)(rd(st + 32, 8) / 24);

	for (i = 1; i < n; i++) {
		const uint8_t *s = fixture + rd(st + 24, 8) + 24 * i;
		const char *nm = (const char *)fixture + rd(str + 24, 8) + rd(s, 4);
		size_t shndx = (size_t)rd(s + 6, 2);

		if (!strcmp(nm, name) && (sec == SIZE_MAX ? shndx != 0 : shndx == sec)) {
			if (value)
				*value = rd(s + 8, 8);
			return i;
		}
	}
	ck_abort_msg("the fixture has no symbol %s", name);
	return 0;
}

/* ---------- lookups ---------- */

static struct hvb_ko *parse_fixture(const uint8_t *buf, size_t len)
{
	struct hvb_ko *ko = NULL;
	int r = hvb_ko_parse(buf, len, "ko_fixture.ko", &ko);

	ck_assert_msg(r >= 0, "%s", hv_err_last()->msg);
	ck_assert_ptr_nonnull(ko);
	return ko;
}

static void check_want(const struct hvb_ko *ko, const struct want *w)
{
	struct hvb_modsym m;

	ck_assert_msg(hvb_ko_lookup(ko, w->name, &m) == 0, "%s: %s", w->name, hv_err_last()->msg);
	ck_assert_msg(m.type == w->type, "%s: type %c, expected %c", w->name, m.type, w->type);
	ck_assert_msg(m.percpu == w->percpu, "%s: percpu %d", w->name, m.percpu);
	ck_assert_msg(m.init_only == w->init_only, "%s: init_only %d", w->name, m.init_only);
	ck_assert_msg(m.untraced == w->untraced, "%s: untraced %d", w->name, m.untraced);
	ck_assert_uint_eq(m.addr, 0);
}

START_TEST(test_symbols)
{
	struct hvb_ko *ko;
	size_t i;
	int r;

	load_fixture();
	r = hvb_ko_parse(fixture, fixture_len, "ko_fixture.ko", &ko);
	ck_assert_msg(r >= (int)NWANTS + 3, "%d: %s", r, hv_err_last()->msg);
	for (i = 0; i < NWANTS; i++)
		check_want(ko, &wants[i]);
	hvb_ko_free(ko);
	hvb_ko_free(NULL);
}
END_TEST

START_TEST(test_name_at_n)
{
	struct hvb_ko *ko;
	struct hvb_modsym m0, m1, m;
	bool a_first, text_first;

	load_fixture();
	ko = parse_fixture(fixture, fixture_len);
	a_first = section_index(".text.a") < section_index(".text.b");
	text_first = section_index(".text") < section_index(".data");
	/* ko_twin: traced in .text.a (part 1), notrace in .text.b (part 2) */
	ck_assert_int_eq(hvb_ko_lookup(ko, "ko_twin@0", &m0), 0);
	ck_assert_int_eq(hvb_ko_lookup(ko, "ko_twin@1", &m1), 0);
	ck_assert_int_eq(m0.type, 't');
	ck_assert_int_eq(m1.type, 't');
	ck_assert(m0.untraced == !a_first);
	ck_assert(m1.untraced == a_first);
	ck_assert(!m0.init_only && !m1.init_only && !m0.percpu && !m1.percpu);
	/* ko_shared: a global function in .text and a static variable in .data */
	ck_assert_int_eq(hvb_ko_lookup(ko, "ko_shared@0", &m0), 0);
	ck_assert_int_eq(hvb_ko_lookup(ko, "ko_shared@1", &m1), 0);
	ck_assert_int_eq(m0.type, text_first ? 'T' : 'd');
	ck_assert_int_eq(m1.type, text_first ? 'd' : 'T');
	/* a bare name a global and a static share: refused, as in the guest */
	ck_assert_int_eq(hvb_ko_lookup(ko, "ko_shared", &m), HV_E_INVAL);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "ko_shared@N"));
	/* a name held once is also its own @0 */
	ck_assert_int_eq(hvb_ko_lookup(ko, "ko_notrace@0", &m), 0);
	ck_assert(m.type == 'T' && m.untraced);
	/* a bare name two locals share */
	ck_assert_int_eq(hvb_ko_lookup(ko, "ko_twin", &m), HV_E_INVAL);
	ck_assert_int_eq(hv_err_last()->code, HV_E_INVAL);
	ck_assert_msg(strstr(hv_err_last()->msg, "2 symbols") &&
			      strstr(hv_err_last()->msg, "ko_twin@N"),
		      "%s", hv_err_last()->msg);
	/* N too large, and names that are not there */
	ck_assert_int_eq(hvb_ko_lookup(ko, "ko_twin@2", &m), HV_E_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "ko_twin@2"));
	ck_assert_int_eq(hvb_ko_lookup(ko, "ko_notrace@1", &m), HV_E_NOTFOUND);
	ck_assert_int_eq(hvb_ko_lookup(ko, "ko_shared@99", &m), HV_E_NOTFOUND);
	ck_assert_int_eq(hvb_ko_lookup(ko, "ko_missing", &m), HV_E_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "ko_missing"));
	ck_assert_int_eq(hvb_ko_lookup(ko, "ko_missing@0", &m), HV_E_NOTFOUND);
	ck_assert_int_eq(hvb_ko_lookup(ko, "", &m), HV_E_NOTFOUND);
	ck_assert_int_eq(hvb_ko_lookup(ko, "@0", &m), HV_E_NOTFOUND);
	ck_assert_int_eq(hvb_ko_lookup(ko, "ko_traced", &m), HV_E_NOTFOUND); /* a prefix */
	ck_assert_int_eq(hvb_ko_lookup(ko, "ko_traced_global_", &m), HV_E_NOTFOUND);
	/* undefined, file and section symbols are not the module's */
	ck_assert_int_eq(hvb_ko_lookup(ko, "__fentry__", &m), HV_E_NOTFOUND);
	ck_assert_int_eq(hvb_ko_lookup(ko, "ko_fixture.c", &m), HV_E_NOTFOUND);
	ck_assert_int_eq(hvb_ko_lookup(ko, ".text", &m), HV_E_NOTFOUND);
	{
		char longname[HVB_MAX_NAME + 40];

		memset(longname, 'k', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		ck_assert_int_eq(hvb_ko_lookup(ko, longname, &m), HV_E_NOTFOUND);
		memcpy(longname + sizeof(longname) - 4, "@0", 3);
		ck_assert_int_eq(hvb_ko_lookup(ko, longname, &m), HV_E_NOTFOUND);
	}
	hvb_ko_free(ko);
}
END_TEST

/* What makes a function traced: the call at its first byte and its relocation to __fentry__. */
START_TEST(test_traced_needs_call_and_reloc)
{
	static const struct want traced = { "ko_traced_global", 'T', false, false, false };
	static const struct want untraced = { "ko_traced_global", 'T', false, false, true };
	size_t text, rela, fentry, i, n;
	uint64_t value;
	uint8_t *q;
	struct hvb_ko *ko;

	load_fixture();
	q = malloc(fixture_len);
	ck_assert_ptr_nonnull(q);
	text = section_index(".text");
	rela = section_index(".rela.text");
	symbol("ko_traced_global", text, &value);
	fentry = symbol("__fentry__", 0, NULL);
	/* the call byte changed */
	memcpy(q, fixture, fixture_len);
	ck_assert_uint_eq(q[rd(shdr(text) + 24, 8) + value], 0xe8);
	q[rd(shdr(text) + 24, 8) + value] = 0x90;
	ko = parse_fixture(q, fixture_len);
	check_want(ko, &untraced);
	hvb_ko_free(ko);
	/* the relocation at +1 retyped (R_X86_64_64), retargeted, or moved */
	for (i = 0; i < 3; i++) {
		const uint8_t *rs = shdr(rela);
		size_t k, found = 0;

		memcpy(q, fixture, fixture_len);
		n = (size_t)(rd(rs + 32, 8) / 24);
		for (k = 0; k < n; k++) {
			uint8_t *r = q + rd(rs + 24, 8) + 24 * k;

			if (rd(r, 8) != value + 1)
				continue;
			ck_assert_uint_eq(rd(r + 8, 8) >> 32, fentry);
			found++;
			if (i == 0)
				wr(r + 8, 4, 1);
			else if (i == 1)
				wr(r + 12, 4, fentry - 1);
			else
				wr(r, 8, value + 2);
		}
		ck_assert_uint_eq(found, 1);
		ko = parse_fixture(q, fixture_len);
		check_want(ko, &untraced);
		hvb_ko_free(ko);
	}
	/* R_X86_64_PC32 counts as well as R_X86_64_PLT32 */
	{
		const uint8_t *rs = shdr(rela);
		size_t k;

		memcpy(q, fixture, fixture_len);
		n = (size_t)(rd(rs + 32, 8) / 24);
		for (k = 0; k < n; k++) {
			uint8_t *r = q + rd(rs + 24, 8) + 24 * k;

			if (rd(r, 8) == value + 1)
				wr(r + 8, 4, 2);
		}
		ko = parse_fixture(q, fixture_len);
		check_want(ko, &traced);
		hvb_ko_free(ko);
	}
	free(q);
}
END_TEST

/* Objects that are not modules, or whose tables do not fit. */
START_TEST(test_refused_objects)
{
	static const char *const what = "broken.ko";
	uint8_t *q;
	struct hvb_ko *ko = (struct hvb_ko *)&ko;
	size_t symtab;

	load_fixture();
	q = malloc(fixture_len);
	symtab = section_by_type(2);
#define REFUSE(edit, code, needle)                                               \
	do {                                                                     \
		memcpy(q, fixture, fixture_len);                                 \
		edit;                                                            \
		ck_assert_int_eq(hvb_ko_parse(q, fixture_len, what, &ko), code); \
		ck_assert_ptr_null(ko);                                          \
		ck_assert_msg(strstr(hv_err_last()->msg, needle) &&              \
				      strstr(hv_err_last()->msg, what),          \
			      "%s", hv_err_last()->msg);                         \
	} while (0)
	REFUSE(q[0] = 'X', HV_E_FORMAT, "not an x86-64 ELF relocatable");
	REFUSE(q[4] = 1, HV_E_FORMAT, "not an x86-64 ELF relocatable");	  /* ELFCLASS32 */
	REFUSE(wr(q + 16, 2, 2), HV_E_FORMAT, "relocatable");		  /* ET_EXEC */
	REFUSE(wr(q + 18, 2, 3), HV_E_FORMAT, "x86-64");		  /* EM_386 */
	REFUSE(wr(q + 0x3a, 2, 40), HV_E_FORMAT, "section header table"); /* shentsize */
	REFUSE(wr(q + 0x3c, 2, 0), HV_E_FORMAT, "section header table");
	REFUSE(wr(q + 0x3c, 2, 0xffff), HV_E_FORMAT, "section header table");
	REFUSE(wr(q + 0x3e, 2, 0xffff), HV_E_FORMAT, "section header table");
	REFUSE(wr(q + 0x28, 8, ~0ull), HV_E_FORMAT, "section header table");
	REFUSE(wr((uint8_t *)shdr(symtab) - fixture + q + 4, 4, 3), HV_E_FORMAT, "no symbol table");
	REFUSE(wr((uint8_t *)shdr(symtab) - fixture + q + 40, 4, 0xffff), HV_E_FORMAT,
	       "links to section");
	REFUSE(wr((uint8_t *)shdr(symtab) - fixture + q + 32, 8, rd(shdr(symtab) + 32, 8) - 1),
	       HV_E_FORMAT, "not a whole number");
	REFUSE(wr((uint8_t *)shdr(symtab) - fixture + q + 24, 8, fixture_len), HV_E_FORMAT,
	       "outside the file");
	REFUSE(wr((uint8_t *)shdr(1) - fixture + q, 4, 0x7fffffff), HV_E_FORMAT,
	       "name outside its string table");
	REFUSE(wr(q + rd(shdr(symtab) + 24, 8) + 24 * symbol("ko_counter", SIZE_MAX, NULL), 4,
		  0x7fffffff),
	       HV_E_FORMAT, "name outside its string table");
#undef REFUSE
	ck_assert_int_eq(hvb_ko_parse(fixture, 0, what, &ko), HV_E_FORMAT);
	ck_assert_ptr_null(ko);
	ck_assert_int_eq(hvb_ko_parse(fixture, 63, what, &ko), HV_E_FORMAT);
	ck_assert_ptr_null(ko);
	free(q);
}
END_TEST

/* ---------- a directory of modules ---------- */

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_kodir)
{
	char top[] = "/tmp/hvb_ko.XXXXXX", path[4096];
	static const char *const dirs[] = { "kernel", "kernel/drivers", "kernel/drivers/misc",
					    "kernel/net" };
	static const char *const files[] = { "kernel/drivers/misc/ko_fixture.ko",
					     "kernel/net/ko-dashed.ko", "kernel/broken.ko",
					     "kernel/net/other.ko.xz" };
	struct hvb_kodir *d = NULL;
	struct hvb_modsym m;
	size_t i;

	load_fixture();
	ck_assert_ptr_nonnull(mkdtemp(top));
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", top, dirs[i]);
		ck_assert_int_eq(mkdir(path, 0700), 0);
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", top, files[i]);
		if (i == 2)
			write_file(path, (const uint8_t *)"not an object", 13);
		else
			write_file(path, fixture, fixture_len);
	}
	ck_assert_int_eq(hvb_kodir_open(top, &d), 0);
	/* '-' and '_' alike, either way round */
	ck_assert_int_eq(hvb_kodir_lookup(d, "ko-fixture", "ko_traced_global", &m), 0);
	ck_assert_int_eq(m.type, 'T');
	ck_assert(!m.untraced);
	ck_assert_int_eq(hvb_kodir_lookup(d, "ko_fixture", "ko_notrace", &m), 0);
	ck_assert(m.untraced);
	ck_assert_int_eq(hvb_kodir_lookup(d, "ko_fixture", "ko_percpu_hits", &m), 0); /* cached */
	ck_assert(m.percpu);
	ck_assert_int_eq(hvb_kodir_lookup(d, "ko_dashed", "ko_init", &m), 0);
	ck_assert(m.init_only);
	/* the symbol errors name the module */
	ck_assert_int_eq(hvb_kodir_lookup(d, "ko_fixture", "ko_twin", &m), HV_E_INVAL);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "ko_fixture"));
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "ko_twin@N"));
	ck_assert_int_eq(hvb_kodir_lookup(d, "ko_fixture", "ko_twin@1", &m), 0);
	ck_assert_int_eq(hvb_kodir_lookup(d, "ko_fixture", "nothing", &m), HV_E_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "nothing"));
	/* no such module: the directory is named; a compressed module is not read */
	ck_assert_int_eq(hvb_kodir_lookup(d, "ko_missing", "x", &m), HV_E_NOTFOUND);
	ck_assert_msg(strstr(hv_err_last()->msg, "ko_missing.ko") &&
			      strstr(hv_err_last()->msg, top),
		      "%s", hv_err_last()->msg);
	ck_assert_int_eq(hvb_kodir_lookup(d, "other", "x", &m), HV_E_NOTFOUND);
	ck_assert_int_eq(hvb_kodir_lookup(d, "ko_fix", "x", &m), HV_E_NOTFOUND);
	/* a damaged module: its own error, naming the file, again on a second ask */
	ck_assert_int_eq(hvb_kodir_lookup(d, "broken", "x", &m), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "broken.ko"));
	ck_assert_int_eq(hvb_kodir_lookup(d, "broken", "x", &m), HV_E_FORMAT);
	hvb_kodir_free(d);
	hvb_kodir_free(NULL);
	/* not a directory */
	snprintf(path, sizeof(path), "%s/%s", top, files[0]);
	ck_assert_int_eq(hvb_kodir_open(path, &d), HV_E_NOTFOUND);
	ck_assert_ptr_null(d);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "not a directory"));
	snprintf(path, sizeof(path), "%s/nowhere", top);
	ck_assert_int_eq(hvb_kodir_open(path, &d), HV_E_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "nowhere"));
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", top, files[i]);
		ck_assert_int_eq(unlink(path), 0);
	}
	for (i = sizeof(dirs) / sizeof(dirs[0]); i-- > 0;) {
		snprintf(path, sizeof(path), "%s/%s", top, dirs[i]);
		ck_assert_int_eq(rmdir(path), 0);
	}
	ck_assert_int_eq(rmdir(top), 0);
}
END_TEST

/* ---------- damaged objects ---------- */

struct tally {
	size_t parsed, refused, found;
};

/* Parse @len bytes at @p (an exact-size copy) and ask every probe. */
static void try_bytes(const uint8_t *p, size_t len, struct tally *t)
{
	struct hvb_ko *ko = (struct hvb_ko *)&ko;
	struct hvb_modsym m;
	size_t i;
	int r;

	hv_err_clear();
	r = hvb_ko_parse(p, len, "ko_fixture.ko", &ko);
	if (r < 0) {
		ck_assert_msg(r == HV_E_FORMAT || r == HV_E_RANGE || r == HV_E_NOMEM, "%d", r);
		ck_assert_int_eq(hv_err_last()->code, r);
		ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "ko_fixture.ko"));
		ck_assert_ptr_null(ko);
		t->refused++;
		return;
	}
	ck_assert_ptr_nonnull(ko);
	t->parsed++;
	for (i = 0; i < NPROBES; i++) {
		hv_err_clear();
		r = hvb_ko_lookup(ko, probes[i], &m);
		if (r == 0) {
			ck_assert_msg(m.type && strchr("tTdDbBrR", m.type), "%s: %c", probes[i],
				      m.type);
			ck_assert_uint_eq(m.addr, 0);
			t->found++;
		} else {
			ck_assert_msg(r == HV_E_NOTFOUND || r == HV_E_INVAL, "%s: %d", probes[i],
				      r);
			ck_assert_int_eq(hv_err_last()->code, r);
			ck_assert(hv_err_last()->msg[0] != '\0');
		}
	}
	hvb_ko_free(ko);
}

START_TEST(test_flipped_bytes)
{
	struct tally t = { 0, 0, 0 };
	uint8_t *q;
	size_t i, k;

	load_fixture();
	q = malloc(fixture_len);
	ck_assert_ptr_nonnull(q);
	for (i = 0; i < fixture_len; i++) {
		for (k = 0; k < 3; k++) {
			memcpy(q, fixture, fixture_len);
			if (k == 0)
				q[i] ^= 0xff;
			else if (k == 1)
				q[i] ^= 0x01;
			else
				q[i] = 0;
			try_bytes(q, fixture_len, &t);
		}
	}
	/* most bytes are code and data: the object still parses */
	ck_assert_uint_gt(t.parsed, t.refused);
	ck_assert_uint_gt(t.refused, 0);
	ck_assert_uint_gt(t.found, 0);
	free(q);
}
END_TEST

START_TEST(test_truncated)
{
	struct tally t = { 0, 0, 0 };
	size_t i;

	load_fixture();
	for (i = 0; i <= fixture_len; i++) {
		uint8_t *q = malloc(i ? i : 1);

		ck_assert_ptr_nonnull(q);
		memcpy(q, fixture, i);
		try_bytes(q, i, &t);
		free(q);
	}
	ck_assert_uint_ge(t.parsed, 1); /* the whole object */
	ck_assert_uint_ge(t.refused, fixture_len / 2);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("bundle-ko");
	TCase *t = tcase_create("ko");

	tcase_set_timeout(t, 120);
	tcase_add_test(t, test_symbols);
	tcase_add_test(t, test_name_at_n);
	tcase_add_test(t, test_traced_needs_call_and_reloc);
	tcase_add_test(t, test_refused_objects);
	tcase_add_test(t, test_kodir);
	tcase_add_test(t, test_flipped_bytes);
	tcase_add_test(t, test_truncated);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *r = srunner_create(suite());
	int failed;

	srunner_set_fork_status(r, CK_NOFORK);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	free(fixture);
	return failed ? 1 : 0;
}
