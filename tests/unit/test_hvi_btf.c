/*
 * libhvi's BTF reader (hvi_btf): a synthetic BTF written with libbpf's
 * writer API (task_struct-like types, nested and anonymous members, a
 * bitfield, typedefs, enums) placed between __start_BTF and __stop_BTF of a
 * synthetic kernel (encoder-written kallsyms, 2 MiB mappings) and read back
 * through hvi_kernel_open() and hvi_btf_open(); then what a hostile guest
 * can do: symbols missing, reversed, absurd or outside the image, the range
 * unmapped, garbage, truncated or big-endian blobs, types libbpf accepts but
 * that lie (dangling type ids and names, members outside their struct,
 * names defined twice, anonymous members nested in a loop or exploding),
 * and random corruption.  When the Debian kernel is cached, its image is
 * loaded into synthetic RAM and every field hvpatch uses must resolve from
 * the guest's own BTF, to the offsets pahole shows for that build.
 */
#include "config.h"

#include <bpf/btf.h>
#include <check.h>
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvi_btf.h"
#include "hvi_kernel.h"
#include "hvi_testlib.h"

#define RAM	  (16ull << 20)
#define TABLES	  (12ull << 20)
#define PHYS	  0x400000ull
#define TEXT	  0xffffffffa4600000ull
#define IMG_BYTES (4ull << 20)
#define BTF_OFF	  0x1fff00ull /* straddles the first two 2 MiB pages */
#define BTF_GVA	  (TEXT + BTF_OFF)

/* ---- a synthetic BTF ---- */

/* Type ids of the synthetic BTF, for tests that add hostile types to it. */
struct ids {
	int int_, uint, ulong, u8, char_;
	int list_head, thread, task, signal;
};

static int add_field(struct btf *w, const char *name, int type, unsigned byte_off)
{
	int r = btf__add_field(w, name, type, byte_off * 8, 0);

	ck_assert_msg(r == 0, "btf__add_field %s: %d", name ? name : "(anonymous)", r);
	return r;
}

static int must(int id)
{
	ck_assert_msg(id > 0, "libbpf writer: %d", id);
	return id;
}

/*
 * task_struct-like types with the offsets of the Debian 6.1 kernel, plus
 * anonymous members, a named union, a typedef'd member, a bitfield, enums.
 */
static struct btf *make_btf(struct ids *id)
{
	struct btf *w = btf__new_empty();
	int ptr_void, lh_ptr, arr16, pid_t_, lh_t, c_lh_t, anon_s, anon_u, rcu, rcu_b, sig_ptr;
	int e, dyn, fpage, fp_ptr, dyn_ptr;

	ck_assert_ptr_nonnull(w);
	id->int_ = must(btf__add_int(w, "int", 4, BTF_INT_SIGNED));
	id->uint = must(btf__add_int(w, "unsigned int", 4, 0));
	id->ulong = must(btf__add_int(w, "long unsigned int", 8, 0));
	id->u8 = must(btf__add_int(w, "unsigned char", 1, 0));
	id->char_ = must(btf__add_int(w, "char", 1, BTF_INT_CHAR));
	ptr_void = must(btf__add_ptr(w, 0));

	/* fields must follow their struct: the pointer to it is the next type */
	id->list_head = must(btf__add_struct(w, "list_head", 16));
	add_field(w, "next", id->list_head + 1, 0);
	add_field(w, "prev", id->list_head + 1, 8);
	lh_ptr = must(btf__add_ptr(w, id->list_head));
	ck_assert_int_eq(lh_ptr, id->list_head + 1);

	id->thread = must(btf__add_struct(w, "thread_struct", 4416));
	add_field(w, "tls", id->ulong, 0);
	add_field(w, "sp", id->ulong, 24);
	add_field(w, "es", id->uint, 32);

	id->signal = must(btf__add_struct(w, "signal_struct", 64));
	add_field(w, "nr_threads", id->int_, 4);
	add_field(w, "thread_head", id->list_head, 16);
	sig_ptr = must(btf__add_ptr(w, id->signal));

	arr16 = must(btf__add_array(w, id->int_, id->char_, 16));
	pid_t_ = must(btf__add_typedef(w, "pid_t", id->int_));
	lh_t = must(btf__add_typedef(w, "lh_t", id->list_head));
	c_lh_t = must(btf__add_const(w, lh_t));

	anon_s = must(btf__add_struct(w, NULL, 8));
	add_field(w, "a", id->int_, 0);
	add_field(w, "inner_pid", id->int_, 4);
	anon_u = must(btf__add_union(w, NULL, 16));
	add_field(w, NULL, anon_s, 0);
	add_field(w, "u_long", id->ulong, 0);

	rcu_b = must(btf__add_struct(w, NULL, 2));
	add_field(w, "blocked", id->u8, 0);
	add_field(w, "need_qs", id->u8, 1);
	rcu = must(btf__add_union(w, "rcu_special", 4));
	add_field(w, "b", rcu_b, 0);
	add_field(w, "s", id->uint, 0);

	id->task = must(btf__add_struct(w, "task_struct", 9728));
	add_field(w, "__state", id->uint, 24);
	add_field(w, "stack", ptr_void, 32);
	add_field(w, "flags", id->uint, 44);
	add_field(w, "on_cpu", id->int_, 52);
	add_field(w, NULL, anon_u, 64);
	add_field(w, "rcu_read_unlock_special", rcu, 2040);
	add_field(w, "tasks", id->list_head, 2192);
	ck_assert_int_eq(btf__add_field(w, "sched_reset_on_fork", id->uint, 2340 * 8 + 3, 1), 0);
	add_field(w, "pid", pid_t_, 2416);
	add_field(w, "thread_node", id->list_head, 2608);
	add_field(w, "comm", arr16, 2976);
	add_field(w, "signal", sig_ptr, 3072);
	add_field(w, "node", c_lh_t, 3104);
	add_field(w, "thread", id->thread, 5312);
	must(btf__add_typedef(w, "task_t", id->task));
	must(btf__add_typedef(w, "not_struct_t", id->int_));

	dyn = must(btf__add_struct(w, "dyn_ftrace", 16));
	add_field(w, "ip", id->ulong, 0);
	add_field(w, "flags", id->ulong, 8);
	dyn_ptr = must(btf__add_ptr(w, dyn));
	fpage = must(btf__add_struct(w, "ftrace_page", 24));
	add_field(w, "next", fpage + 1, 0);
	add_field(w, "records", dyn_ptr, 8);
	add_field(w, "index", id->int_, 16);
	add_field(w, "order", id->int_, 20);
	fp_ptr = must(btf__add_ptr(w, fpage));
	ck_assert_int_eq(fp_ptr, fpage + 1);

	/* enum { FTRACE_FL_ENABLED = 1U << 31, ..., FTRACE_FL_DISABLED = 1 << 25 } */
	e = must(btf__add_enum(w, NULL, 4));
	ck_assert_int_eq(btf__add_enum_value(w, "FTRACE_FL_ENABLED", 1ll << 31), 0);
	ck_assert_int_eq(btf__add_enum_value(w, "FTRACE_FL_REGS", 1ll << 30), 0);
	ck_assert_int_eq(btf__add_enum_value(w, "FTRACE_FL_DISABLED", 1ll << 25), 0);
	(void)e;
	must(btf__add_enum(w, "signed_enum", 4));
	ck_assert_int_eq(btf__add_enum_value(w, "NEG_ONE", -1), 0);
	ck_assert_int_eq(btf__add_enum_value(w, "SAME_NAME", 7), 0);
	must(btf__add_enum(w, "a_enum", 4));
	ck_assert_int_eq(btf__add_enum_value(w, "DUP_NAME", 1), 0);
	ck_assert_int_eq(btf__add_enum_value(w, "SAME_NAME", 7), 0);
	must(btf__add_enum(w, "b_enum", 4));
	ck_assert_int_eq(btf__add_enum_value(w, "DUP_NAME", 2), 0);
	must(btf__add_enum64(w, "big64", 8, false));
	ck_assert_int_eq(btf__add_enum64_value(w, "BIG_VALUE", 1ull << 63), 0);
	ck_assert_int_eq(btf__add_enum64_value(w, "SMALL64", 5), 0);
	return w;
}

/* A malloc'd copy of the raw bytes of @w (which is freed). */
static uint8_t *raw_of(struct btf *w, size_t *len)
{
	__u32 n = 0;
	const void *p = btf__raw_data(w, &n);
	uint8_t *copy;

	ck_assert_ptr_nonnull(p);
	copy = malloc(n);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, p, n);
	*len = n;
	btf__free(w);
	return copy;
}

static uint8_t *good_blob(size_t *len)
{
	struct ids id;

	return raw_of(make_btf(&id), len);
}

static struct hvi_btf *parse_ok(const uint8_t *blob, size_t len)
{
	struct hvi_btf *b = NULL;
	int r = hvi_btf_from_bytes(blob, len, "the test BTF", &b);

	ck_assert_msg(r == 0, "hvi_btf_from_bytes: %s", hv_err_last()->msg);
	ck_assert_ptr_nonnull(b);
	return b;
}

/* ---- expectations ---- */

struct want {
	const char *type, *path;
	uint32_t off, size;
};

/* The fields hvpatch asks for, at the Debian 6.1 offsets (pahole on 6.1.0-56's BTF). */
static const struct want hvpatch_fields[] = {
	{ "task_struct", "tasks", 2192, 16 },
	{ "task_struct", "stack", 32, 8 },
	{ "task_struct", "thread.sp", 5336, 8 },
	{ "task_struct", "__state", 24, 4 },
	{ "task_struct", "on_cpu", 52, 4 },
	{ "task_struct", "pid", 2416, 4 },
	{ "task_struct", "comm", 2976, 16 },
	{ "task_struct", "flags", 44, 4 },
	{ "task_struct", "signal", 3072, 8 },
	{ "task_struct", "thread_node", 2608, 16 },
	{ "task_struct", "thread", 5312, 4416 },
	{ "signal_struct", "thread_head", 16, 16 },
	{ "list_head", "next", 0, 8 },
	{ "list_head", "prev", 8, 8 },
	{ "dyn_ftrace", "ip", 0, 8 },
	{ "dyn_ftrace", "flags", 8, 8 },
	{ "ftrace_page", "next", 0, 8 },
	{ "ftrace_page", "records", 8, 8 },
	{ "ftrace_page", "index", 16, 4 },
};

static void check_fields(const struct hvi_btf *b, const struct want *w, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint32_t off = 1, size = 1;
		int r = hvi_btf_member_offset(b, w[i].type, w[i].path, &off, &size);

		ck_assert_msg(r == 0, "%s.%s: %s", w[i].type, w[i].path, hv_err_last()->msg);
		ck_assert_msg(off == w[i].off && size == w[i].size,
			      "%s.%s at %u (%u bytes), expected %u (%u bytes)", w[i].type,
			      w[i].path, off, size, w[i].off, w[i].size);
	}
}

/* The synthetic BTF's own members: anonymous, nested, typedef'd. */
static void check_synthetic(const struct hvi_btf *b)
{
	static const struct want more[] = {
		{ "task_struct", "u_long", 64, 8 },
		{ "task_struct", "a", 64, 4 },
		{ "task_struct", "inner_pid", 68, 4 },
		{ "task_struct", "rcu_read_unlock_special", 2040, 4 },
		{ "task_struct", "rcu_read_unlock_special.b", 2040, 2 },
		{ "task_struct", "rcu_read_unlock_special.b.need_qs", 2041, 1 },
		{ "task_struct", "rcu_read_unlock_special.s", 2040, 4 },
		{ "task_struct", "node", 3104, 16 },
		{ "task_struct", "node.prev", 3112, 8 },
		{ "task_struct", "thread.es", 5344, 4 },
		{ "struct task_struct", "tasks", 2192, 16 },
		{ "task_t", "thread.sp", 5336, 8 },
		{ "union rcu_special", "b.blocked", 0, 1 },
		{ "rcu_special", "s", 0, 4 },
	};
	uint32_t size = 0;
	int64_t v = 0;

	check_fields(b, hvpatch_fields, sizeof(hvpatch_fields) / sizeof(hvpatch_fields[0]));
	check_fields(b, more, sizeof(more) / sizeof(more[0]));
	ck_assert_int_eq(hvi_btf_struct_size(b, "task_struct", &size), 0);
	ck_assert_uint_eq(size, 9728);
	ck_assert_int_eq(hvi_btf_struct_size(b, "thread_struct", &size), 0);
	ck_assert_uint_eq(size, 4416);
	ck_assert_int_eq(hvi_btf_struct_size(b, "task_t", &size), 0);
	ck_assert_uint_eq(size, 9728);
	ck_assert_int_eq(hvi_btf_struct_size(b, "union rcu_special", &size), 0);
	ck_assert_uint_eq(size, 4);
	ck_assert_int_eq(hvi_btf_enum_value(b, NULL, "FTRACE_FL_DISABLED", &v), 0);
	ck_assert_int_eq(v, 1 << 25);
	ck_assert_int_eq(hvi_btf_enum_value(b, NULL, "FTRACE_FL_ENABLED", &v), 0);
	ck_assert_int_eq(v, 2147483648ll);
}

/* hvi_btf_member_offset() fails with @code and a message holding every string of @words. */
static void member_fails(const struct hvi_btf *b, const char *type, const char *path, int code,
			 const char *const *words)
{
	uint32_t off = 7, size = 7;
	int r = hvi_btf_member_offset(b, type, path, &off, &size);

	ck_assert_msg(r == code, "%s / %s: %d (%s), expected %d", type, path, r, hv_err_last()->msg,
		      code);
	ck_assert_uint_eq(off, 0);
	ck_assert_uint_eq(size, 0);
	for (; words && *words; words++)
		ck_assert_msg(strstr(hv_err_last()->msg, *words), "'%s' not in: %s", *words,
			      hv_err_last()->msg);
}

#define WORDS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* ---- a synthetic kernel carrying it ---- */

static const char banner[] = "Linux version 6.1.0-99-test (builder@example) #1 SMP\n";

struct kopts {
	uint64_t start, stop; /* __start_BTF / __stop_BTF; 0 leaves the symbol out */
	int start_absolute;
	int dup_start; /* a second __start_BTF */
	int hole;      /* the 4 KiB page at image offset 2 MiB unmapped */
	unsigned levels;
	int copy; /* memory without a map callback */
};

static void synth_kernel(struct tmem *t, const struct kopts *o, const void *blob, size_t len)
{
	struct enc_sym ks[16];
	struct enc_layout lay;
	uint8_t *img;
	size_t n = 0;
	unsigned i;

	ck_assert_int_eq(tmem_init(t, RAM, TABLES, 1u << 20, o->levels ? o->levels : 4), 0);
	img = t->ram + PHYS;
	memcpy(img + 0x100, banner, sizeof(banner));
	put_u32(img + 0x200, 4);
	put_u32(img + 0x204, 20);
	put_u32(img + 0x208, 3);
	memcpy(img + 0x20c, "GNU", 4);
	for (i = 0; i < 20; i++)
		img[0x210 + i] = (uint8_t)(0x10 + i);
	ck_assert_uint_le(BTF_OFF + len, IMG_BYTES);
	if (blob)
		memcpy(img + BTF_OFF, blob, len);
	ks[n++] = (struct enc_sym){ 'T', "_text", TEXT, 0 };
	ks[n++] = (struct enc_sym){ 'T', "_stext", TEXT, 0 };
	ks[n++] = (struct enc_sym){ 'R', "linux_banner", TEXT + 0x100, 0 };
	ks[n++] = (struct enc_sym){ 'R', "__start_notes", TEXT + 0x200, 0 };
	ks[n++] = (struct enc_sym){ 'R', "__stop_notes", TEXT + 0x200 + 36, 0 };
	ks[n++] = (struct enc_sym){ 'T', "cmdline_proc_show", TEXT + 0x1000, 0 };
	ks[n++] = (struct enc_sym){ 'T', "_etext", TEXT + 0x8000, 0 };
	if (o->start)
		ks[n++] = (struct enc_sym){ 'R', "__start_BTF", o->start, o->start_absolute };
	if (o->stop)
		ks[n++] = (struct enc_sym){ 'R', "__stop_BTF", o->stop, 0 };
	if (o->dup_start)
		ks[n++] = (struct enc_sym){ 'r', "__start_BTF", TEXT + 0x300000, 0 };
	ks[n++] = (struct enc_sym){ 'B', "_end", TEXT + 0x3f0000, 0 };
	ck_assert_int_eq(enc_kallsyms(ks, n, TEXT, img, IMG_BYTES, 0x10000, 1, &lay), 0);
	ck_assert_uint_lt(lay.end, BTF_OFF);
	tmem_map(t, TEXT, PHYS, HVI_PAGE_2M, HVI_PTE_G);
	for (i = 1; i < IMG_BYTES / HVI_PAGE_2M; i++) {
		uint64_t k;

		if (!(o->hole && i == 1)) {
			tmem_map(t, TEXT + i * HVI_PAGE_2M, PHYS + i * HVI_PAGE_2M, HVI_PAGE_2M,
				 HVI_PTE_G);
			continue;
		}
		for (k = HVI_PAGE_4K; k < HVI_PAGE_2M; k += HVI_PAGE_4K)
			tmem_map(t, TEXT + i * HVI_PAGE_2M + k, PHYS + i * HVI_PAGE_2M + k,
				 HVI_PAGE_4K, HVI_PTE_G);
	}
	if (o->copy)
		t->mem.map = NULL;
}

/* Build the kernel, open it (must work) and return hvi_btf_open()'s result. */
static int open_btf(const struct kopts *o, const void *blob, size_t len, struct hvi_btf **b)
{
	struct tmem t;
	struct hvi_kernel *k = NULL;
	int r;

	synth_kernel(&t, o, blob, len);
	r = hvi_kernel_open(&t.mem, t.pgd, tmem_cr4(&t), NULL, &k);
	ck_assert_msg(r == 0, "hvi_kernel_open: %s", hv_err_last()->msg);
	*b = (struct hvi_btf *)0x1; /* must be reset on failure */
	r = hvi_btf_open(k, b);
	if (r < 0)
		ck_assert_ptr_null(*b);
	hvi_kernel_close(k);
	tmem_free(&t);
	return r;
}

static struct kopts normal(size_t len)
{
	struct kopts o;

	memset(&o, 0, sizeof(o));
	o.start = BTF_GVA;
	o.stop = BTF_GVA + len;
	return o;
}

static void open_fails_at(int line, const struct kopts *o, const void *blob, size_t len, int code,
			  const char *const *words)
{
	struct hvi_btf *b = NULL;
	int r = open_btf(o, blob, len, &b);

	if (r == 0)
		hvi_btf_free(b);
	ck_assert_msg(r == code, "hvi_btf_open (line %d): %d (%s), expected %d", line, r,
		      r ? hv_err_last()->msg : "opened", code);
	for (; words && *words; words++)
		ck_assert_msg(strstr(hv_err_last()->msg, *words), "'%s' not in: %s", *words,
			      hv_err_last()->msg);
}

#define open_fails(...) open_fails_at(__LINE__, __VA_ARGS__)

/* ---- tests ---- */

START_TEST(test_guest_btf_offsets)
{
	static const unsigned levels[] = { 4, 5 };
	size_t len;
	uint8_t *blob = good_blob(&len);
	unsigned i;

	for (i = 0; i < 4; i++) {
		struct kopts o = normal(len);
		struct hvi_btf *b = NULL;
		int r;

		o.levels = levels[i % 2];
		o.copy = i >= 2;
		r = open_btf(&o, blob, len, &b);
		ck_assert_msg(r == 0, "hvi_btf_open: %s", hv_err_last()->msg);
		ck_assert_uint_eq(b->start_gva, BTF_GVA);
		ck_assert_uint_eq(b->size_bytes, len);
		ck_assert_uint_gt(b->ntypes, 30);
		check_synthetic(b);
		hvi_btf_free(b);
	}
	free(blob);
}
END_TEST

START_TEST(test_guest_btf_symbols_hostile)
{
	size_t len;
	uint8_t *blob = good_blob(&len);
	struct kopts o;

	/* no BTF at all: a kernel without CONFIG_DEBUG_INFO_BTF */
	o = normal(len);
	o.start = o.stop = 0;
	open_fails(&o, blob, len, HV_E_NOTFOUND, WORDS("__start_BTF", "CONFIG_DEBUG_INFO_BTF"));
	o = normal(len);
	o.stop = 0;
	open_fails(&o, blob, len, HV_E_NOTFOUND, WORDS("__stop_BTF"));
	/* stop before start, stop at start */
	o = normal(len);
	o.stop = o.start - 0x40;
	open_fails(&o, blob, len, HV_E_RANGE, WORDS("before", "__stop_BTF"));
	o.stop = o.start;
	open_fails(&o, blob, len, HV_E_RANGE, WORDS("where"));
	/* absurdly large, and beyond the image */
	o = normal(len);
	o.stop = o.start + HVI_BTF_MAX + 1;
	open_fails(&o, blob, len, HV_E_RANGE, WORDS("16777216"));
	o.stop = TEXT + IMG_BYTES + 0x1000;
	open_fails(&o, blob, len, HV_E_RANGE, WORDS("does not lie inside"));
	o = normal(len);
	o.start = TEXT + IMG_BYTES + 0x1000;
	o.stop = o.start + len;
	open_fails(&o, blob, len, HV_E_RANGE, WORDS("does not lie inside"));
	/* a per-cpu (absolute) symbol, a duplicated one */
	o = normal(len);
	o.start = 0x1234;
	o.start_absolute = 1;
	open_fails(&o, blob, len, HV_E_FORMAT, WORDS("absolute"));
	o = normal(len);
	o.dup_start = 1;
	open_fails(&o, blob, len, HV_E_INVAL, WORDS("__start_BTF"));
	/* the range is not mapped (a hole in the page tables) */
	o = normal(len);
	o.hole = 1;
	open_fails(&o, blob, len, HV_E_NOTFOUND, WORDS("cannot read the guest kernel's BTF"));
	/* the exact size is required: one byte less or more */
	o = normal(len);
	o.stop--;
	open_fails(&o, blob, len, HV_E_FORMAT, WORDS("truncated"));
	o.stop += 2;
	open_fails(&o, blob, len, HV_E_FORMAT, WORDS("truncated"));
	free(blob);
}
END_TEST

START_TEST(test_guest_btf_bytes_hostile)
{
	size_t len, i;
	uint8_t *blob = good_blob(&len), *bad = malloc(len);
	struct kopts o = normal(len);

	ck_assert_ptr_nonnull(bad);
	/* garbage where the BTF should be */
	for (i = 0; i < len; i++)
		bad[i] = (uint8_t)(i * 131 + 7);
	open_fails(&o, bad, len, HV_E_FORMAT, WORDS("magic"));
	/* zeros (an unused page) */
	open_fails(&o, NULL, len, HV_E_FORMAT, WORDS("magic"));
	/* big-endian magic */
	memcpy(bad, blob, len);
	ck_assert(bad[0] == 0x9f && bad[1] == 0xeb);
	bad[0] = 0xeb;
	bad[1] = 0x9f;
	open_fails(&o, bad, len, HV_E_FORMAT, WORDS("big-endian"));
	/* a header libbpf would take, a type section it refuses (kind 31) */
	memcpy(bad, blob, len);
	bad[24 + 7] = 0x1f; /* first type's info: kind in bits 24..28 */
	open_fails(&o, bad, len, HV_E_FORMAT, WORDS("libbpf refused", "BTF_KIND"));
	/* another version, another header length */
	memcpy(bad, blob, len);
	bad[2] = 2;
	open_fails(&o, bad, len, HV_E_FORMAT, WORDS("version 2"));
	free(bad);
	free(blob);
}
END_TEST

START_TEST(test_bytes_truncated_and_sizes)
{
	size_t len, cut;
	uint8_t *blob = good_blob(&len);
	struct hvi_btf *b = (struct hvi_btf *)0x1;

	for (cut = 0; cut < len; cut++) {
		int r = hvi_btf_from_bytes(blob, cut, "a truncated BTF", &b);

		ck_assert_msg(r == (cut ? HV_E_FORMAT : HV_E_RANGE), "cut at %zu: %d (%s)", cut, r,
			      hv_err_last()->msg);
		ck_assert_ptr_null(b);
	}
	ck_assert_int_eq(hvi_btf_from_bytes(blob, (size_t)HVI_BTF_MAX + 1, "x", &b), HV_E_RANGE);
	ck_assert_int_eq(hvi_btf_from_bytes(NULL, 100, "x", &b), HV_E_RANGE);
	b = parse_ok(blob, len);
	ck_assert_uint_eq(b->start_gva, 0);
	check_synthetic(b);
	hvi_btf_free(b);
	hvi_btf_free(NULL);
	free(blob);
}
END_TEST

START_TEST(test_lookup_refusals)
{
	size_t len;
	uint8_t *blob = good_blob(&len);
	struct hvi_btf *b = parse_ok(blob, len);
	char longpath[HVI_BTF_PATH_MAX + 8];
	uint32_t size = 5;

	/* missing struct, missing member (type and member named) */
	member_fails(b, "task_strct", "tasks", HV_E_NOTFOUND, WORDS("task_strct"));
	member_fails(b, "task_struct", "taks", HV_E_NOTFOUND, WORDS("task_struct", "taks"));
	member_fails(b, "task_struct", "thread.sq", HV_E_NOTFOUND,
		     WORDS("task_struct.thread", "struct thread_struct", "'sq'"));
	member_fails(b, "union task_struct", "tasks", HV_E_NOTFOUND, WORDS("union"));
	/* a bitfield */
	member_fails(b, "task_struct", "sched_reset_on_fork", HV_E_UNSUPPORTED,
		     WORDS("sched_reset_on_fork", "bitfield", "1 bit wide", "bit 18723"));
	/* through a pointer, an array, a scalar */
	member_fails(b, "task_struct", "stack.x", HV_E_UNSUPPORTED,
		     WORDS("task_struct.stack", "pointer"));
	member_fails(b, "task_struct", "signal.thread_head", HV_E_UNSUPPORTED,
		     WORDS("task_struct.signal", "pointer"));
	member_fails(b, "task_struct", "comm.x", HV_E_UNSUPPORTED, WORDS("array"));
	member_fails(b, "task_struct", "pid.x", HV_E_UNSUPPORTED,
		     WORDS("task_struct.pid", "not a struct"));
	member_fails(b, "ftrace_page", "records.ip", HV_E_UNSUPPORTED, WORDS("pointer"));
	/* a typedef of something else, malformed names and paths */
	member_fails(b, "not_struct_t", "x", HV_E_UNSUPPORTED, WORDS("typedef"));
	member_fails(b, "task_struct", "", HV_E_INVAL, NULL);
	member_fails(b, "task_struct", "thread..sp", HV_E_INVAL, WORDS("thread..sp"));
	member_fails(b, "task_struct", "thread.", HV_E_INVAL, NULL);
	member_fails(b, "task_struct", "1tasks", HV_E_INVAL, NULL);
	member_fails(b, "task_struct", "tasks->next", HV_E_INVAL, NULL);
	member_fails(b, "", "tasks", HV_E_INVAL, NULL);
	member_fails(b, "struct ", "tasks", HV_E_INVAL, NULL);
	member_fails(b, "task struct", "tasks", HV_E_INVAL, NULL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = 0;
	member_fails(b, "task_struct", longpath, HV_E_INVAL, NULL);
	ck_assert_int_eq(hvi_btf_struct_size(b, "nosuch", &size), HV_E_NOTFOUND);
	ck_assert_int_eq(hvi_btf_struct_size(b, "list_head", &size), 0);
	ck_assert_uint_eq(size, 16);
	hvi_btf_free(b);
	free(blob);
}
END_TEST

START_TEST(test_enums)
{
	size_t len;
	uint8_t *blob = good_blob(&len);
	struct hvi_btf *b = parse_ok(blob, len);
	int64_t v = 99;

	ck_assert_int_eq(hvi_btf_enum_value(b, NULL, "FTRACE_FL_REGS", &v), 0);
	ck_assert_int_eq(v, 1 << 30);
	ck_assert_int_eq(hvi_btf_enum_value(b, NULL, "NEG_ONE", &v), 0);
	ck_assert_int_eq(v, -1);
	ck_assert_int_eq(hvi_btf_enum_value(b, "signed_enum", "NEG_ONE", &v), 0);
	ck_assert_int_eq(v, -1);
	ck_assert_int_eq(hvi_btf_enum_value(b, NULL, "SMALL64", &v), 0);
	ck_assert_int_eq(v, 5);
	/* the same name and value in two enums is one answer */
	ck_assert_int_eq(hvi_btf_enum_value(b, NULL, "SAME_NAME", &v), 0);
	ck_assert_int_eq(v, 7);
	/* different values: ambiguous unless the enum is named */
	ck_assert_int_eq(hvi_btf_enum_value(b, NULL, "DUP_NAME", &v), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "enum a_enum"));
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "enum b_enum"));
	ck_assert_int_eq(hvi_btf_enum_value(b, "enum b_enum", "DUP_NAME", &v), 0);
	ck_assert_int_eq(v, 2);
	ck_assert_int_eq(hvi_btf_enum_value(b, "a_enum", "DUP_NAME", &v), 0);
	ck_assert_int_eq(v, 1);
	/* above INT64_MAX */
	ck_assert_int_eq(hvi_btf_enum_value(b, NULL, "BIG_VALUE", &v), HV_E_RANGE);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "BIG_VALUE"));
	/* a #define is not in BTF */
	ck_assert_int_eq(hvi_btf_enum_value(b, NULL, "TASK_RUNNING", &v), HV_E_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "#define"));
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(hvi_btf_enum_value(b, "b_enum", "SAME_NAME", &v), HV_E_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "b_enum"));
	ck_assert_int_eq(hvi_btf_enum_value(b, "no_enum", "DUP_NAME", &v), HV_E_NOTFOUND);
	ck_assert_int_eq(hvi_btf_enum_value(b, NULL, "not a name", &v), HV_E_INVAL);
	ck_assert_int_eq(hvi_btf_enum_value(b, "enum ", "X", &v), HV_E_INVAL);
	hvi_btf_free(b);
	free(blob);
}
END_TEST

/* The synthetic BTF plus types libbpf accepts but that lie. */
static struct btf *make_forged_btf(void)
{
	struct ids id;
	struct btf *w = make_btf(&id);
	int self, lvl[5], i, j, anon8;
	struct btf_type *t;

	/* a member of a type that does not exist */
	must(btf__add_struct(w, "dangling", 16));
	add_field(w, "x", 60000, 0);
	add_field(w, "s", id.list_head, 0);
	/* a member beyond the end of its struct */
	must(btf__add_struct(w, "outside", 8));
	add_field(w, "x", id.int_, 16);
	/* a member name twice, directly and through an anonymous member */
	must(btf__add_struct(w, "twice", 8));
	add_field(w, "x", id.int_, 0);
	add_field(w, "x", id.int_, 4);
	anon8 = must(btf__add_struct(w, NULL, 4));
	add_field(w, "y", id.int_, 0);
	must(btf__add_struct(w, "twice_anon", 8));
	add_field(w, "y", id.int_, 0);
	add_field(w, NULL, anon8, 4);
	/* an anonymous member larger than its container */
	must(btf__add_struct(w, "anon_out", 2));
	add_field(w, NULL, anon8, 0);
	/* a struct name twice */
	must(btf__add_struct(w, "dup_struct", 8));
	must(btf__add_union(w, "dup_struct", 8));
	/* an anonymous struct that contains itself */
	self = must(btf__add_struct(w, NULL, 8));
	add_field(w, NULL, self, 0);
	must(btf__add_struct(w, "loop", 8));
	add_field(w, NULL, self, 0);
	/* anonymous members 60 wide and 4 deep: some 26 million members to visit */
	lvl[4] = must(btf__add_struct(w, NULL, 8));
	add_field(w, "leaf", id.int_, 0);
	for (i = 3; i >= 0; i--) {
		lvl[i] = must(btf__add_struct(w, NULL, 8));
		for (j = 0; j < 60; j++)
			add_field(w, NULL, lvl[i + 1], 0);
	}
	must(btf__add_struct(w, "wide", 8));
	add_field(w, NULL, lvl[0], 0);
	/* a member whose name lies outside the strings */
	must(btf__add_struct(w, "badname", 8));
	add_field(w, "x", id.int_, 0);
	t = (struct btf_type *)btf__type_by_id(w, btf__type_cnt(w) - 1);
	btf_members(t)[0].name_off = 0x7ffffff0;
	/* a bitfield in the older encoding: an int of 3 bits, no kind_flag */
	i = must(btf__add_int(w, "u3", 4, 0));
	t = (struct btf_type *)btf__type_by_id(w, (__u32)i);
	*(__u32 *)(t + 1) = 3; /* encoding 0, offset 0, 3 bits */
	must(btf__add_struct(w, "legacy", 8));
	add_field(w, "f", i, 4);
	add_field(w, "g", id.int_, 0);
	/* a struct larger than hvpatch takes */
	must(btf__add_struct(w, "huge", HVI_BTF_TYPE_MAX + 1));
	add_field(w, "x", id.int_, 0);
	return w;
}

START_TEST(test_forged_types)
{
	struct hvi_btf *b;
	uint8_t *blob;
	size_t len;

	blob = raw_of(make_forged_btf(), &len);
	b = parse_ok(blob, len);
	check_synthetic(b); /* the honest types still answer */
	member_fails(b, "dangling", "x", HV_E_FORMAT, WORDS("dangling.x", "60000"));
	member_fails(b, "dangling", "x.y", HV_E_FORMAT, WORDS("60000"));
	member_fails(b, "outside", "x", HV_E_FORMAT, WORDS("outside.x", "does not lie inside"));
	member_fails(b, "twice", "x", HV_E_FORMAT, WORDS("twice", "2 members named 'x'"));
	member_fails(b, "twice_anon", "y", HV_E_FORMAT, WORDS("2 members named 'y'"));
	member_fails(b, "anon_out", "y", HV_E_FORMAT, WORDS("anonymous member 0"));
	member_fails(b, "dup_struct", "x", HV_E_FORMAT, WORDS("2 structs or unions", "dup_struct"));
	member_fails(b, "loop", "zz", HV_E_FORMAT, WORDS("deep"));
	member_fails(b, "wide", "nothere", HV_E_FORMAT, WORDS("visited more than"));
	member_fails(b, "badname", "x", HV_E_FORMAT, WORDS("name offset"));
	member_fails(b, "huge", "x", HV_E_RANGE, WORDS("struct huge", "16777216"));
	member_fails(b, "legacy", "f", HV_E_UNSUPPORTED, WORDS("legacy.f", "3 bits wide"));
	{
		uint32_t off, size;

		ck_assert_int_eq(hvi_btf_member_offset(b, "legacy", "g", &off, &size), 0);
		ck_assert_uint_eq(size, 4);
	}
	hvi_btf_free(b);
	free(blob);
}
END_TEST

/* A type name outside the strings: lookups that scan the types say so. */
START_TEST(test_forged_type_name)
{
	struct ids id;
	struct btf *w = make_btf(&id);
	struct hvi_btf *b;
	struct btf_type *t;
	uint8_t *blob;
	size_t len;
	uint32_t off;
	int64_t v;

	t = (struct btf_type *)btf__type_by_id(w, (__u32)id.list_head);
	t->name_off = 0x7fffff00;
	blob = raw_of(w, &len);
	b = parse_ok(blob, len);
	ck_assert_int_eq(hvi_btf_member_offset(b, "task_struct", "tasks", &off, NULL), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "name offset"));
	ck_assert_int_eq(hvi_btf_enum_value(b, NULL, "FTRACE_FL_DISABLED", &v), 0);
	hvi_btf_free(b);
	free(blob);
}
END_TEST

/* Random corruption of the blob: an error or answers inside their struct, never a crash. */
START_TEST(test_random_corruption)
{
	static const struct want *f = hvpatch_fields;
	size_t len, n, i, parsed = 0;
	uint8_t *blob = good_blob(&len), *bad = malloc(len);
	unsigned seed = 12345;

	ck_assert_ptr_nonnull(bad);
	for (n = 0; n < 3000; n++) {
		struct hvi_btf *b = NULL;
		unsigned k, flips = 1 + n % 4;

		memcpy(bad, blob, len);
		for (k = 0; k < flips; k++) {
			seed = seed * 1103515245u + 12345u;
			/* past the header mostly: the header is checked first */
			bad[24 + (seed >> 8) % (len - 24)] ^= (uint8_t)(1u << ((seed >> 4) % 8));
		}
		if (hvi_btf_from_bytes(bad, len, "a corrupted BTF", &b) < 0) {
			ck_assert_ptr_null(b);
			continue;
		}
		parsed++;
		for (i = 0; i < sizeof(hvpatch_fields) / sizeof(hvpatch_fields[0]); i++) {
			uint32_t off, size, ssize;
			int64_t v;

			if (hvi_btf_member_offset(b, f[i].type, f[i].path, &off, &size) == 0) {
				ck_assert_int_eq(hvi_btf_struct_size(b, f[i].type, &ssize), 0);
				ck_assert_uint_le((uint64_t)off + size, ssize);
			}
			if (hvi_btf_enum_value(b, NULL, "FTRACE_FL_DISABLED", &v) == 0)
				ck_assert(v >= INT32_MIN && v <= UINT32_MAX);
		}
		hvi_btf_free(b);
	}
	ck_assert_uint_gt(parsed, 100);
	free(bad);
	free(blob);
}
END_TEST

/* ---- the cached Debian kernel ---- */

#define LINK_TEXT 0xffffffff81000000ull
#define LINK_PHYS 0x1000000ull

static char vmlinux_path[600];
static const char *abi;

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;
	int r = -1;

	*buf = NULL;
	if (!f)
		return -1;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		goto out;
	*buf = malloc((size_t)n + 1);
	if (!*buf || fread(*buf, 1, (size_t)n, f) != (size_t)n)
		goto out;
	*len = (size_t)n;
	r = 0;
out:
	fclose(f);
	return r;
}

/* The .BTF section of the ELF @elf: its address and file bytes. */
static void btf_section(const uint8_t *elf, size_t elf_len, uint64_t *addr, const uint8_t **p,
			size_t *size)
{
	const Elf64_Ehdr *e = (const Elf64_Ehdr *)elf;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(elf + e->e_shoff), *strs;
	unsigned i;

	ck_assert(!memcmp(e->e_ident, ELFMAG, SELFMAG));
	ck_assert(e->e_shoff + (uint64_t)e->e_shnum * sizeof(*sh) <= elf_len);
	strs = &sh[e->e_shstrndx];
	*addr = 0;
	for (i = 0; i < e->e_shnum; i++)
		if (!strcmp((const char *)elf + strs->sh_offset + sh[i].sh_name, ".BTF")) {
			*addr = sh[i].sh_addr;
			*p = elf + sh[i].sh_offset;
			*size = sh[i].sh_size;
		}
	ck_assert_msg(*addr, ".BTF missing from the vmlinux");
}

START_TEST(test_real_kernel)
{
	uint8_t *elf;
	size_t elf_len, btf_len;
	const Elf64_Ehdr *e;
	const Elf64_Phdr *ph;
	const uint8_t *btf_bytes;
	uint64_t btf_addr, image = 0, off;
	struct tmem t;
	struct hvi_kernel *k = NULL;
	struct hvi_btf *b = NULL;
	uint32_t size;
	int64_t v;
	unsigned i;
	int r;

	ck_assert_int_eq(read_file(vmlinux_path, &elf, &elf_len), 0);
	e = (const Elf64_Ehdr *)elf;
	ph = (const Elf64_Phdr *)(elf + e->e_phoff);
	for (i = 0; i < e->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_paddr + ph[i].p_memsz - LINK_PHYS > image)
			image = ph[i].p_paddr + ph[i].p_memsz - LINK_PHYS;
	image = (image + HVI_PAGE_2M - 1) & ~(HVI_PAGE_2M - 1);
	ck_assert_int_eq(
		tmem_init(&t, LINK_PHYS + image + (2ull << 20), LINK_PHYS + image, 2ull << 20, 4),
		0);
	for (i = 0; i < e->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD)
			continue;
		ck_assert(ph[i].p_offset + ph[i].p_filesz <= elf_len);
		memcpy(t.ram + ph[i].p_paddr, elf + ph[i].p_offset, ph[i].p_filesz);
	}
	for (off = 0; off < image; off += HVI_PAGE_2M)
		tmem_map(&t, LINK_TEXT + off, LINK_PHYS + off, HVI_PAGE_2M, HVI_PTE_G);
	r = hvi_kernel_open(&t.mem, t.pgd, 0, NULL, &k);
	ck_assert_msg(r == 0, "hvi_kernel_open: %s", hv_err_last()->msg);
	r = hvi_btf_open(k, &b);
	ck_assert_msg(r == 0, "hvi_btf_open: %s", hv_err_last()->msg);
	/* __start_BTF .. __stop_BTF is the ELF's .BTF section, byte for byte */
	btf_section(elf, elf_len, &btf_addr, &btf_bytes, &btf_len);
	ck_assert_uint_eq(b->start_gva, btf_addr);
	ck_assert_uint_eq(b->size_bytes, btf_len);
	ck_assert_uint_gt(b->ntypes, 50000);
	ck_assert_uint_eq(t.ram[LINK_PHYS + (btf_addr - LINK_TEXT)], btf_bytes[0]);
	ck_assert_int_eq(memcmp(t.ram + LINK_PHYS + (btf_addr - LINK_TEXT), btf_bytes, btf_len), 0);
	/* every field hvpatch uses, at the offsets pahole shows for the pinned builds */
	if (!strcmp(abi, "6.1.0-56") || !strcmp(abi, "6.1.0-55")) {
		check_fields(b, hvpatch_fields, sizeof(hvpatch_fields) / sizeof(hvpatch_fields[0]));
		ck_assert_int_eq(hvi_btf_struct_size(b, "task_struct", &size), 0);
		ck_assert_uint_eq(size, 9728);
		ck_assert_int_eq(hvi_btf_enum_value(b, NULL, "FTRACE_FL_DISABLED", &v), 0);
		ck_assert_int_eq(v, 1 << 25);
	} else {
		for (i = 0; i < sizeof(hvpatch_fields) / sizeof(hvpatch_fields[0]); i++) {
			uint32_t o;

			r = hvi_btf_member_offset(b, hvpatch_fields[i].type, hvpatch_fields[i].path,
						  &o, NULL);
			ck_assert_msg(r == 0, "%s", hv_err_last()->msg);
		}
	}
	/* what the real kernel refuses: a bitfield, a path through a pointer */
	member_fails(b, "task_struct", "sched_reset_on_fork", HV_E_UNSUPPORTED, WORDS("bitfield"));
	member_fails(b, "task_struct", "signal.thread_head", HV_E_UNSUPPORTED, WORDS("pointer"));
	hvi_btf_free(b);
	hvi_kernel_close(k);
	tmem_free(&t);
	free(elf);
}
END_TEST

/* ---- seeds for tests/fuzz/fuzz_btf ---- */

static void write_seed(const char *dir, const char *name, struct btf *w)
{
	char path[600];
	size_t len;
	uint8_t *blob = raw_of(w, &len);
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	ck_assert_msg(f, "cannot write %s", path);
	ck_assert_uint_eq(fwrite(blob, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	free(blob);
}

/*
 * HVPATCH_BTF_SEEDS=DIR tests/unit/test_hvi_btf writes the synthetic blobs
 * (the fuzz corpus tests/fuzz/corpus/btf/) instead of testing.
 */
START_TEST(test_write_seeds)
{
	const char *dir = getenv("HVPATCH_BTF_SEEDS");
	struct ids id;
	struct btf *w = btf__new_empty();
	int lh;

	ck_assert_ptr_nonnull(w);
	lh = must(btf__add_struct(w, "list_head", 16));
	add_field(w, "next", lh + 1, 0);
	add_field(w, "prev", lh + 1, 8);
	ck_assert_int_eq(btf__add_ptr(w, lh), lh + 1);
	must(btf__add_enum(w, NULL, 4));
	ck_assert_int_eq(btf__add_enum_value(w, "FTRACE_FL_DISABLED", 1 << 25), 0);
	write_seed(dir, "minimal", w);
	write_seed(dir, "synthetic", make_btf(&id));
	write_seed(dir, "forged", make_forged_btf());
}
END_TEST

int main(void)
{
	const char *cache = getenv("HVPATCH_CACHE");
	const char *seeds = getenv("HVPATCH_BTF_SEEDS");
	Suite *s;
	TCase *tc;
	SRunner *sr;
	int failed;

	s = suite_create("hvi_btf");
	tc = tcase_create("synthetic");
	if (seeds) {
		tcase_add_test(tc, test_write_seeds);
		suite_add_tcase(s, tc);
		sr = srunner_create(s);
		srunner_run_all(sr, CK_NORMAL);
		failed = srunner_ntests_failed(sr);
		srunner_free(sr);
		return failed ? EXIT_FAILURE : EXIT_SUCCESS;
	}
	abi = getenv("HVPATCH_TEST_ABI");
	if (!abi)
		abi = "6.1.0-56";
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_guest_btf_offsets);
	tcase_add_test(tc, test_guest_btf_symbols_hostile);
	tcase_add_test(tc, test_guest_btf_bytes_hostile);
	tcase_add_test(tc, test_bytes_truncated_and_sizes);
	tcase_add_test(tc, test_lookup_refusals);
	tcase_add_test(tc, test_enums);
	tcase_add_test(tc, test_forged_types);
	tcase_add_test(tc, test_forged_type_name);
	tcase_add_test(tc, test_random_corruption);
	suite_add_tcase(s, tc);
	snprintf(vmlinux_path, sizeof(vmlinux_path), "%s/kernels/%s/vmlinux",
		 cache ? cache : "/var/cache/hvpatch", abi);
	if (access(vmlinux_path, R_OK) == 0) {
		TCase *real = tcase_create("real kernel");

		tcase_set_timeout(real, 120);
		tcase_add_test(real, test_real_kernel);
		suite_add_tcase(s, real);
	} else {
		printf("note: %s is not cached; the real-kernel case is left out\n", vmlinux_path);
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
