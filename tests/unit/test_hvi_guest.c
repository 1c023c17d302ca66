/*
 * A whole synthetic kernel (page tables, kallsyms written by the encoder,
 * banner, build-id note) seen end to end by hvi_kernel_open(), and through
 * hvpatch/inspect's guest view (hvg_attach()) over a fake hypervisor
 * backend: registers of a kernel-mode or user-mode vCPU, in-place or copied
 * image reads, a vCPU not yet in long mode, a guest found paused.  Needs no
 * cached kernel and no VM.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/hva_impl.h"
#include "hvi_kernel.h"
#include "hvi_testlib.h"
#include "guest/guest.h"

#define RAM	  (16ull << 20)
#define TABLES	  (12ull << 20)
#define PHYS	  0x400000ull
#define TEXT	  0xffffffffa4600000ull
#define IMG_BYTES (4ull << 20)

static const char banner[] = "Linux version 6.1.0-99-test (builder@example) #1 SMP\n";

static struct enc_sym ksyms[] = {
	{ 'D', "fixed_percpu_data", 0, 1 },
	{ 'D', "runqueues", 0x2c0c0, 1 },
	{ 'T', "_text", TEXT, 0 },
	{ 'T', "_stext", TEXT, 0 },
	{ 'R', "linux_banner", TEXT + 0x100, 0 },
	{ 'R', "__start_notes", TEXT + 0x200, 0 },
	{ 'R', "__stop_notes", TEXT + 0x200 + 36, 0 },
	{ 'T', "cmdline_proc_show", TEXT + 0x1000, 0 },
	{ 't', "show_stat", TEXT + 0x2000, 0 },
	{ 't', "show_stat", TEXT + 0x3000, 0 },
	{ 'T', "_etext", TEXT + 0x8000, 0 },
	{ 'B', "_end", TEXT + 0x3f0000, 0 },
};

/* RAM with a 4 MiB kernel at PHYS mapped at TEXT with 2 MiB pages. */
static void synth_kernel(struct tmem *t, unsigned levels)
{
	struct enc_layout lay;
	uint8_t *img;
	unsigned i;

	ck_assert_int_eq(tmem_init(t, RAM, TABLES, 1u << 20, levels), 0);
	img = t->ram + PHYS;
	memcpy(img + 0x100, banner, sizeof(banner));
	put_u32(img + 0x200, 4);
	put_u32(img + 0x204, 20);
	put_u32(img + 0x208, 3);
	memcpy(img + 0x20c, "GNU", 4);
	for (i = 0; i < 20; i++)
		img[0x210 + i] = (uint8_t)(0x10 + i);
	ck_assert_int_eq(enc_kallsyms(ksyms, sizeof(ksyms) / sizeof(ksyms[0]), TEXT, img, IMG_BYTES,
				      0x10000, 1, &lay),
			 0);
	for (i = 0; i < IMG_BYTES / HVI_PAGE_2M; i++)
		tmem_map(t, TEXT + i * HVI_PAGE_2M, PHYS + i * HVI_PAGE_2M, HVI_PAGE_2M, HVI_PTE_G);
}

static void check_view(const struct hvi_kernel *k)
{
	struct hvi_sym s;

	ck_assert_str_eq(k->release, "6.1.0-99-test");
	ck_assert_str_eq(k->build_id_hex, "101112131415161718191a1b1c1d1e1f20212223");
	ck_assert_uint_eq(k->nsyms, sizeof(ksyms) / sizeof(ksyms[0]));
	ck_assert_uint_eq(k->loc.text_gva, TEXT);
	ck_assert_uint_eq(k->loc.text_gpa, PHYS);
	ck_assert_uint_eq(k->end_gva, TEXT + 0x3f0000);
	ck_assert_uint_eq(k->etext_gva, TEXT + 0x8000);
	ck_assert_int_eq(hvi_sym_lookup(k->syms, "show_stat@1", &s), 0);
	ck_assert_uint_eq(s.addr, TEXT + 0x3000);
	ck_assert_int_eq(hvi_sym_lookup(k->syms, "runqueues", &s), 0);
	ck_assert(s.absolute);
	ck_assert_uint_eq(s.addr, 0x2c0c0);
	ck_assert_int_eq(hvi_l2_first_free_after_image(&k->loc), (int)k->loc.end_index);
}

START_TEST(test_open_synthetic_4level)
{
	struct tmem t;
	struct hvi_kernel *k = NULL;

	synth_kernel(&t, 4);
	ck_assert_int_eq(hvi_kernel_open(&t.mem, t.pgd, 0, NULL, &k), 0);
	check_view(k);
	ck_assert(k->image.direct);
	ck_assert_ptr_null(k->image.p); /* not kept */
	hvi_kernel_close(k);
	tmem_free(&t);
}
END_TEST

START_TEST(test_open_synthetic_5level_kept_copy)
{
	struct tmem t;
	struct hvi_kernel *k = NULL;
	struct hvi_open_opts o;

	synth_kernel(&t, 5);
	t.mem.map = NULL;
	memset(&o, 0, sizeof(o));
	o.keep_image = true;
	ck_assert_int_eq(hvi_kernel_open(&t.mem, t.pgd | HVI_CR3_PTI_USER, HVI_CR4_LA57, &o, &k),
			 0);
	check_view(k);
	ck_assert(!k->image.direct);
	ck_assert_ptr_nonnull(k->image.owned);
	ck_assert_uint_eq(k->image.len, IMG_BYTES);
	ck_assert_int_eq(memcmp(k->image.p + 0x100, banner, sizeof(banner)), 0);
	hvi_kernel_close(k);
	tmem_free(&t);
}
END_TEST

/* Each step's failure is reported, and nothing is returned. */
START_TEST(test_open_failures)
{
	struct tmem t;
	struct hvi_kernel *k = NULL;

	synth_kernel(&t, 4);
	/* no banner */
	memset(t.ram + PHYS + 0x100, 0, sizeof(banner));
	ck_assert_int_eq(hvi_kernel_open(&t.mem, t.pgd, 0, NULL, &k), HV_E_FORMAT);
	ck_assert_ptr_null(k);
	memcpy(t.ram + PHYS + 0x100, banner, sizeof(banner));
	/* no build-id note */
	put_u32(t.ram + PHYS + 0x208, 7);
	ck_assert_int_eq(hvi_kernel_open(&t.mem, t.pgd, 0, NULL, &k), HV_E_NOTFOUND);
	put_u32(t.ram + PHYS + 0x208, 3);
	/* CR3 outside RAM */
	ck_assert_int_eq(hvi_kernel_open(&t.mem, RAM + 0x2000, 0, NULL, &k), HV_E_RANGE);
	/* the wrong paging mode finds nothing */
	ck_assert_int_lt(hvi_kernel_open(&t.mem, t.pgd, HVI_CR4_LA57, NULL, &k), 0);
	ck_assert_ptr_null(k);
	ck_assert_int_eq(hvi_kernel_open(&t.mem, t.pgd, 0, NULL, &k), 0);
	hvi_kernel_close(k);
	tmem_free(&t);
}
END_TEST

/* ---- the guest view over a fake hypervisor backend ---- */

struct fake {
	struct tmem t;
	int pauses, resumes;
	bool running;
	int user_after; /* vCPU 1 is in user mode from this pause on (0: never) */
	uint64_t cr0;
	int idtr_reads;
};

static int f_describe(struct hva *h, struct hva_info *out)
{
	struct fake *f = h->be;

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "fakeguest");
	out->accel = HVA_ACCEL_TCG;
	out->mem_bytes = f->t.size;
	out->nvcpus = 2;
	out->nregions = 1;
	out->regions[0].size = f->t.size;
	return 0;
}

static int f_running(struct hva *h, bool *running)
{
	*running = ((struct fake *)h->be)->running;
	return 0;
}

static int f_pause(struct hva *h)
{
	struct fake *f = h->be;

	f->pauses++;
	f->running = false;
	return 0;
}

static int f_resume(struct hva *h)
{
	struct fake *f = h->be;

	f->resumes++;
	f->running = true;
	return 0;
}

static int f_regs(struct hva *h, unsigned cpu, struct hva_regs *out, bool want_idtr)
{
	struct fake *f = h->be;

	memset(out, 0, sizeof(*out));
	out->cr0 = f->cr0;
	out->efer = 0xd01;
	out->cr3 = f->t.pgd | 0x5;
	out->cr4 = tmem_cr4(&f->t);
	out->rip = TEXT + 0x1000;
	if (cpu == 1 && f->user_after && f->pauses >= f->user_after) {
		out->cpl = 3;
		out->cr3 |= HVI_CR3_PTI_USER;
		out->rip = 0x401000;
	}
	if (want_idtr)
		f->idtr_reads++;
	return 0;
}

static int f_read(struct hva *h, uint64_t gpa, void *buf, size_t len)
{
	struct fake *f = h->be;

	if (gpa > f->t.size || len > f->t.size - gpa)
		return hv_err(HV_E_RANGE, "fake read outside RAM");
	memcpy(buf, f->t.ram + gpa, len);
	return 0;
}

static const struct hva_ops fake_ops = {
	.name = "fake",
	.describe = f_describe,
	.running = f_running,
	.pause = f_pause,
	.resume = f_resume,
	.read_regs = f_regs,
	.read_phys = f_read,
};

/* The fake's pauses are in this process: the guard has nothing to end. */
static int guard_nothing(void *arg)
{
	(void)arg;
	return 0;
}

static const struct hva_guard_backend fake_guard = { .name = "fake", .resume = guard_nothing };

static struct hva *fake_session(struct fake *f, bool ram_mapped)
{
	struct hva_open_opts o = { .pause_deadline_ms = 5000 };
	struct hva *h = hva_session_new(&fake_ops, &o, "fakeguest");

	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(hva_guard_start(&fake_guard, NULL, -1, "", NULL, &h->guard), 0);
	memset(f, 0, sizeof(*f));
	synth_kernel(&f->t, 4);
	f->running = true;
	f->cr0 = 0x80050033;
	h->be = f;
	if (ram_mapped) {
		h->ram = f->t.ram;
		h->ram_bytes = f->t.size;
	}
	return h;
}

static void drop(struct hva *h, struct fake *f)
{
	h->ram = NULL;
	hva_close(h);
	tmem_free(&f->t);
}

START_TEST(test_attach_kernel_mode)
{
	struct fake f;
	struct hva *h = fake_session(&f, true);
	struct hvg *g = NULL;

	ck_assert_int_eq(hvg_attach(h, NULL, &g), 0);
	check_view(g->k);
	ck_assert(g->k->image.direct); /* read in place from the RAM mapping */
	ck_assert_uint_eq(g->cpu, 0);
	ck_assert_uint_eq(g->pauses, 1);
	ck_assert_int_eq(f.pauses, 1);
	ck_assert_int_eq(f.resumes, 1); /* resumed before the index was built */
	ck_assert(f.running);
	ck_assert_int_eq(f.idtr_reads, 1); /* IDTR only for the vCPU used */
	ck_assert(!g->k->pg.pti_user);
	ck_assert_uint_eq(g->mem.max_gpa, RAM);
	hvg_close(g);
	drop(h, &f);
}
END_TEST

START_TEST(test_attach_user_mode)
{
	struct fake f;
	struct hva *h = fake_session(&f, false);
	struct hvg *g = NULL;
	struct hvg_opts o = HVG_OPTS_INIT;

	f.user_after = 3;
	o.user_cr3 = true;
	ck_assert_int_eq(hvg_attach(h, &o, &g), 0);
	ck_assert_uint_eq(g->pauses, 3);
	ck_assert_uint_eq(g->cpu, 1);
	ck_assert_uint_eq(g->regs.cpl, 3);
	ck_assert(g->k->pg.pti_user);
	ck_assert(!g->k->image.direct); /* no RAM mapping: copied through read_phys */
	check_view(g->k);
	ck_assert_int_eq(f.pauses, f.resumes);
	hvg_close(g);
	drop(h, &f);
}
END_TEST

START_TEST(test_attach_errors)
{
	struct fake f;
	struct hva *h = fake_session(&f, true);
	struct hvg *g = NULL;
	struct hvg_opts o = HVG_OPTS_INIT;

	/* never in user mode: gives up after the wait */
	o.user_cr3 = true;
	o.user_wait_ms = 30;
	ck_assert_int_eq(hvg_attach(h, &o, &g), HV_E_TIMEOUT);
	ck_assert_ptr_null(g);
	ck_assert_int_eq(f.pauses, f.resumes);
	ck_assert(f.running);
	/* no such vCPU */
	o = (struct hvg_opts)HVG_OPTS_INIT;
	o.cpu = 7;
	ck_assert_int_eq(hvg_attach(h, &o, &g), HV_E_INVAL);
	/* still in real mode */
	f.cr0 = 0x10;
	ck_assert_int_eq(hvg_attach(h, NULL, &g), HV_E_STATE);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "not in 64-bit mode"));
	ck_assert_ptr_null(g);
	/* a kernel the page tables do not show */
	f.cr0 = 0x80050033;
	memset(f.t.ram + f.t.pgd, 0, HVI_PAGE_4K);
	ck_assert_int_eq(hvg_attach(h, NULL, &g), HV_E_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "cannot see the kernel of fakeguest"));
	ck_assert(f.running);
	drop(h, &f);
}
END_TEST

/* A guest someone else paused stays paused. */
START_TEST(test_attach_found_paused)
{
	struct fake f;
	struct hva *h = fake_session(&f, true);
	struct hvg *g = NULL;

	f.running = false;
	ck_assert_int_eq(hvg_attach(h, NULL, &g), 0);
	check_view(g->k);
	ck_assert_int_eq(f.pauses, 0);
	ck_assert_int_eq(f.resumes, 0);
	ck_assert(!f.running);
	hvg_close(g);
	drop(h, &f);
	ck_assert_int_eq(f.resumes, 0);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("hvi_guest");
	TCase *tc = tcase_create("synthetic kernel");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_open_synthetic_4level);
	tcase_add_test(tc, test_open_synthetic_5level_kept_copy);
	tcase_add_test(tc, test_open_failures);
	tcase_add_test(tc, test_attach_kernel_mode);
	tcase_add_test(tc, test_attach_user_mode);
	tcase_add_test(tc, test_attach_errors);
	tcase_add_test(tc, test_attach_found_paused);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
