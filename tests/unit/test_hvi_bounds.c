/*
 * libhvi against a guest that tries to make the host spend memory or print
 * what it likes: forged kallsyms counts and names that expand a few bytes
 * of guest memory into gigabytes of host memory, and version banners with
 * control bytes or bytes that change while libhvi reads them.
 *
 * The memory bound is checked twice: the decode runs under an address-space
 * limit (RLIMIT_AS, except under AddressSanitizer, which reserves terabytes
 * of shadow) and the growth of the test process's peak RSS is measured.
 * Check runs each test in its own child, so the limit ends with the test.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hvi_kallsyms.h"
#include "hvi_kernel.h"
#include "hvi_tasks.h"
#include "hvi_testlib.h"
#include "hvi_text.h"

#if defined(__SANITIZE_ADDRESS__)
#define HV_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HV_TEST_ASAN 1
#endif
#endif

#define TEXT 0xffffffffa1000000ull
/* What one decode may add to the process's peak RSS in these tests. */
#define PEAK_GROWTH_MAX (96ull << 20)
/* Address space allowed beyond what the process holds when the decode starts. */
#define AS_HEADROOM (192ull << 20)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Peak RSS of this process so far, in bytes. */
static uint64_t peak_rss(void)
{
	struct rusage ru;

	ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
	return (uint64_t)ru.ru_maxrss * 1024;
}

/* Cap the address space at what the process maps now plus AS_HEADROOM. */
static void limit_address_space(void)
{
#ifndef HV_TEST_ASAN
	unsigned long pages = 0;
	struct rlimit rl;
	FILE *f = fopen("/proc/self/statm", "r");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%lu", &pages), 1);
	fclose(f);
	rl.rlim_cur = rl.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + AS_HEADROOM;
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
#endif
}

/*
 * Forge Linux 6.0-layout kallsyms tables for @n symbols whose names are
 * made of long tokens: the token table holds the printable characters at
 * their own index and 128-character tokens at every other index, and each
 * name entry is 5 bytes (a type letter and @long_tokens long tokens, plus
 * the length byte), so every name expands to 1 + 128 * long_tokens
 * characters.  Symbol 0 is "_text" at TEXT.  Returns the image (free it),
 * its length in *@len, and where the tables are in *@t.
 */
static uint8_t *forge_long_names(uint32_t n, unsigned long_tokens, size_t *len,
				 struct hvi_ksyms_tables *t)
{
	uint32_t nm = (n + 255) / 256, i;
	size_t cap, p = 64, names, entry = 2 + long_tokens, k;
	uint8_t *img;
	uint16_t idx[256];

	cap = 64 + 4ull * n + 64 + entry * n + 8 + 4ull * nm + 8 + 256 * 130 + 8 + 512 + 64;
	img = calloc(1, cap);
	ck_assert_ptr_nonnull(img);
	memset(t, 0, sizeof(*t));
	t->offsets_off = p;
	for (i = 0; i < n; i++)
		put_u32(img + p + 4ull * i, (uint32_t)(-1 - (int32_t)(i * 16u))); /* TEXT + 16 i */
	p = (p + 4ull * n + 7) & ~(size_t)7;
	t->relative_base_off = p;
	put_u64(img + p, TEXT);
	p += 8;
	t->num_syms_off = p;
	put_u32(img + p, n);
	p += 8;
	names = t->names_off = p;
	/* "_text" first, the way the encoder spells single characters */
	img[p++] = 6;
	memcpy(img + p, "T_text", 6);
	p += 6;
	for (i = 1; i < n; i++) {
		img[p++] = (uint8_t)(1 + long_tokens);
		img[p++] = 'T';
		for (k = 0; k < long_tokens; k++)
			img[p++] = (uint8_t)(0x80 + (i + k) % 128);
	}
	t->names_len = p - names;
	p = (p + 7) & ~(size_t)7;
	t->markers_off = p;
	/* marker j: where entry 256 j starts (entry 0 is 7 bytes, the others entry) */
	for (i = 0; i < nm; i++)
		put_u32(img + p + 4ull * i, i ? (uint32_t)(7 + entry * (256ull * i - 1)) : 0);
	p = (p + 4ull * nm + 7) & ~(size_t)7;
	t->token_table_off = p;
	for (i = 0; i < 256; i++) {
		idx[i] = (uint16_t)(p - t->token_table_off);
		if (i >= 0x21 && i <= 0x7e) {
			img[p++] = (uint8_t)i;
		} else {
			for (k = 0; k < 128; k++)
				img[p++] = (uint8_t)('a' + (i + k) % 26);
		}
		img[p++] = 0;
	}
	p = (p + 7) & ~(size_t)7;
	t->token_index_off = p;
	for (i = 0; i < 256; i++)
		put_u16(img + p + 2 * i, idx[i]);
	p += 512;
	ck_assert_uint_le(p, cap);
	t->layout = "linux-6.0";
	t->num_syms = n;
	t->num_markers = nm;
	t->relative_base = TEXT;
	*len = cap;
	return img;
}

/*
 * A million 385-character names from 9 MB of guest memory: the tables are
 * well formed, so the finder accepts them, but expanded they would take
 * 385 MB of host memory.  The decode refuses before it allocates, naming
 * the names and the bound; memory and time stay small.
 */
START_TEST(test_names_expanding_beyond_bound)
{
	struct hvi_ksyms_tables forged, t;
	struct hvi_symtab *st = NULL;
	uint64_t peak0, t0;
	size_t len;
	uint8_t *img = forge_long_names(1000000, 3, &len, &forged);
	int r;

	ck_assert_int_eq(hvi_ksyms_find(img, len, &t), 0);
	ck_assert_uint_eq(t.num_syms, 1000000);
	ck_assert_uint_eq(t.names_len, forged.names_len);
	peak0 = peak_rss();
	limit_address_space();
	t0 = now_ms();
	r = hvi_ksyms_decode(img, len, &t, TEXT, &st);
	ck_assert_msg(r == HV_E_RANGE, "decode returned %d: %s", r, hv_err_last()->msg);
	ck_assert_ptr_null(st);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "names"));
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "384999621")); /* what they would take */
	ck_assert_uint_lt(now_ms() - t0, 5000);
	ck_assert_msg(peak_rss() - peak0 < PEAK_GROWTH_MAX, "peak RSS grew by %llu bytes",
		      (unsigned long long)(peak_rss() - peak0));
	free(img);
}
END_TEST

/*
 * Below the absolute bound but far beyond what the compressed names can
 * mean: 100000 names of 257 characters from 400 kB is refused by the
 * expansion ratio.
 */
START_TEST(test_names_expansion_ratio)
{
	struct hvi_ksyms_tables t;
	struct hvi_symtab *st = NULL;
	size_t len;
	uint8_t *img = forge_long_names(100000, 2, &len, &t);
	int r;

	r = hvi_ksyms_decode(img, len, &t, TEXT, &st);
	ck_assert_msg(r == HV_E_RANGE, "decode returned %d: %s", r, hv_err_last()->msg);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "compressed"));
	ck_assert_ptr_null(st);
	free(img);
}
END_TEST

/* A small table with long tokens stays decodable: the bound is not a ban. */
START_TEST(test_long_tokens_within_bound)
{
	struct hvi_ksyms_tables t;
	struct hvi_symtab *st = NULL;
	struct hvi_sym s;
	size_t len;
	uint8_t *img = forge_long_names(300, 1, &len, &t);

	ck_assert_int_eq(hvi_ksyms_find(img, len, &t), 0);
	ck_assert_int_eq(hvi_ksyms_decode(img, len, &t, TEXT, &st), 300);
	ck_assert_int_eq(hvi_sym_lookup(st, "_text", &s), 0);
	ck_assert_uint_eq(s.addr, TEXT);
	hvi_symtab_free(st);
	free(img);
}
END_TEST

/* num_syms of ten million, with markers to match: refused at once, by name. */
START_TEST(test_num_syms_ten_million)
{
	struct hvi_ksyms_tables t;
	struct hvi_symtab *st = NULL;
	uint64_t peak0, t0;
	size_t len;
	uint8_t *img = forge_long_names(3000, 1, &len, &t);
	size_t tt_off;
	int r;

	t.num_syms = 10000000;
	t.num_markers = (t.num_syms + 255) / 256;
	peak0 = peak_rss();
	limit_address_space();
	t0 = now_ms();
	r = hvi_ksyms_decode(img, len, &t, TEXT, &st);
	ck_assert_msg(r == HV_E_RANGE, "decode returned %d: %s", r, hv_err_last()->msg);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "num_syms"));
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "10000000"));
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "4194304"));
	ck_assert_ptr_null(st);
	/* the same number in the image: the finder does not take it either */
	tt_off = t.token_table_off;
	ck_assert_int_eq(hvi_ksyms_find_at(img, len, tt_off, &t), 0); /* the hint is right */
	put_u32(img + t.num_syms_off, 10000000);
	ck_assert_int_eq(hvi_ksyms_find(img, len, &t), HV_E_NOTFOUND);
	ck_assert_int_eq(hvi_ksyms_find_at(img, len, tt_off, &t), HV_E_NOTFOUND);
	ck_assert_uint_lt(now_ms() - t0, 2000);
	ck_assert_uint_lt(peak_rss() - peak0, PEAK_GROWTH_MAX);
	free(img);
}
END_TEST

/* Each field of a forged description is refused with its own name. */
START_TEST(test_forged_fields_named)
{
	struct hvi_ksyms_tables good, t;
	struct hvi_symtab *st = NULL;
	size_t len;
	uint8_t *img = forge_long_names(3000, 1, &len, &good);
	int r;

	/* more symbols than the names can hold (2 bytes each at least) */
	t = good;
	t.num_syms = (uint32_t)(t.names_len / 2 + 256);
	t.num_markers = (t.num_syms + 255) / 256;
	r = hvi_ksyms_decode(img, len, &t, TEXT, &st);
	ck_assert_int_eq(r, HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "names length"));
	/* a names length beyond the image */
	t = good;
	t.names_len = SIZE_MAX / 2;
	ck_assert_int_eq(hvi_ksyms_decode(img, len, &t, TEXT, &st), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "names length"));
	/* offsets that would run past the names */
	t = good;
	t.offsets_off = t.names_off - 8;
	ck_assert_int_eq(hvi_ksyms_decode(img, len, &t, TEXT, &st), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "offsets"));
	/* a marker count that does not match num_syms */
	t = good;
	t.num_markers++;
	ck_assert_int_eq(hvi_ksyms_decode(img, len, &t, TEXT, &st), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "markers"));
	/* a token table beyond the image */
	t = good;
	t.token_table_off = len - 3;
	ck_assert_int_eq(hvi_ksyms_decode(img, len, &t, TEXT, &st), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "token table"));
	/* one name entry claiming 0x3fff tokens (two-byte length) */
	t = good;
	img[t.names_off + 7] = 0xff;
	img[t.names_off + 8] = 0x7f;
	ck_assert_int_eq(hvi_ksyms_decode(img, len, &t, TEXT, &st), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "names"));
	ck_assert_int_eq(hvi_ksyms_find(img, len, &t), HV_E_NOTFOUND);
	ck_assert_ptr_null(st);
	free(img);
}
END_TEST

/* ---- the version banner ---- */

static bool release_ok(const char *rel)
{
	size_t i, n = strlen(rel);

	if (n == 0 || n >= HVI_RELEASE_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (rel[i] < 0x21 || rel[i] > 0x7e)
			return false;
	return true;
}

START_TEST(test_banner_escape_refused)
{
	static const char esc[] =
		"Linux version 6.1.0-99\x1b[2J\x1b]0;owned\x07-cloud-amd64 (x) #1\n";
	uint8_t *m = calloc(1, 0x10000);
	char rel[HVI_RELEASE_MAX];
	size_t i;

	ck_assert_ptr_nonnull(m);
	memcpy(m + 0x800, esc, sizeof(esc));
	ck_assert_int_lt(hvi_read_release(m, 0x10000, TEXT, NULL, rel), 0);
	ck_assert_str_eq(rel, "");
	/* the refusal's message is one line of printable text */
	for (i = 0; hv_err_last()->msg[i]; i++)
		ck_assert_int_ge((unsigned char)hv_err_last()->msg[i], 0x20);
	/* the escape right after the release, where the space belongs */
	memcpy(m + 0x800, "Linux version 6.1.0-99\x1b[31m (x)", 31);
	ck_assert_int_lt(hvi_read_release(m, 0x10000, TEXT, NULL, rel), 0);
	/* DEL and a byte above 0x7e */
	memcpy(m + 0x800, "Linux version 6.1.0-9\x7f (x)      ", 31);
	ck_assert_int_lt(hvi_read_release(m, 0x10000, TEXT, NULL, rel), 0);
	memcpy(m + 0x800, "Linux version 6.1.0-9\x9b (x)      ", 31);
	ck_assert_int_lt(hvi_read_release(m, 0x10000, TEXT, NULL, rel), 0);
	free(m);
}
END_TEST

/* A release without a terminator running to the end of the image, and one too long. */
START_TEST(test_banner_overlong_refused)
{
	static const char pfx[] = "Linux version ";
	size_t len = 0x1000, at = len - 14 - 300;
	uint8_t *m = calloc(1, len);
	char rel[HVI_RELEASE_MAX];

	ck_assert_ptr_nonnull(m);
	memcpy(m + at, pfx, 14);
	memset(m + at + 14, 'a', len - at - 14); /* no space, no NUL: runs off the end */
	ck_assert_int_eq(hvi_read_release(m, len, TEXT, NULL, rel), HV_E_NOTFOUND);
	ck_assert_str_eq(rel, "");
	/* terminated, but longer than a release can be */
	m[len - 2] = ' ';
	ck_assert_int_eq(hvi_read_release(m, len, TEXT, NULL, rel), HV_E_NOTFOUND);
	/* the longest accepted release */
	memset(m + at + 14, 'b', HVI_RELEASE_MAX - 1);
	m[at + 14 + HVI_RELEASE_MAX - 1] = ' ';
	ck_assert_int_eq(hvi_read_release(m, len, TEXT, NULL, rel), 0);
	ck_assert_uint_eq(strlen(rel), HVI_RELEASE_MAX - 1);
	ck_assert(release_ok(rel));
	free(m);
}
END_TEST

struct flipper {
	volatile uint8_t *byte;
	atomic_int stop;
};

static void *flip(void *arg)
{
	struct flipper *f = arg;

	while (!atomic_load_explicit(&f->stop, memory_order_relaxed)) {
		*f->byte = 0x1b;
		*f->byte = '.';
	}
	return NULL;
}

/*
 * The guest rewrites a byte of its release between ESC and '.' while libhvi
 * reads it in place: whatever libhvi returns must be a release it checked,
 * never the bytes the guest wrote after the check.
 */
START_TEST(test_banner_racing_guest)
{
	static const char b[] =
		"Linux version 6.1.0-99-cloud-amd64-with-a-long-local-version-xy (x) #1\n";
	size_t len = 0x4000;
	uint8_t *m = calloc(1, len);
	struct flipper f;
	pthread_t th;
	char rel[HVI_RELEASE_MAX] = "";
	unsigned ok = 0, refused = 0, i;
	uint64_t t0 = now_ms();

	ck_assert_ptr_nonnull(m);
	memcpy(m + 0x800, b, sizeof(b));
	f.byte = m + 0x800 + 15; /* the '.' after "6" */
	atomic_init(&f.stop, 0);
	ck_assert_int_eq(pthread_create(&th, NULL, flip, &f), 0);
	for (i = 0; i < 2000000 && now_ms() - t0 < 3000; i++) {
		if (hvi_read_release(m, len, TEXT, NULL, rel) < 0) {
			refused++;
			continue;
		}
		ok++;
		if (!release_ok(rel))
			break;
	}
	atomic_store(&f.stop, 1);
	pthread_join(th, NULL);
	ck_assert_msg(release_ok(rel) || rel[0] == 0,
		      "after %u good reads the release held a byte the guest wrote after the check",
		      ok);
	ck_assert_msg(ok > 0, "no read succeeded (%u refused): the race was not exercised",
		      refused);
	free(m);
}
END_TEST

/* ---- the one sanitiser ---- */

START_TEST(test_text_copy)
{
	static const uint8_t src[] = {
		'a', 0x1b, '[', '3', '1', 'm', 0x7f, 0x9b, 0xff, 'z', 0, 'q'
	};
	char dst[8];

	ck_assert_uint_eq(hvi_text_copy(dst, sizeof(dst), src, sizeof(src)), 2);
	ck_assert_str_eq(dst, "a?[31m?"); /* cut at 7 characters, then NUL */
	ck_assert_uint_eq(hvi_text_copy(dst, 4, src + 6, 6), 3);
	ck_assert_str_eq(dst, "???");
	ck_assert_uint_eq(hvi_text_copy(dst, sizeof(dst), src + 9, 3), 0);
	ck_assert_str_eq(dst, "z"); /* stops at the NUL */
	ck_assert_uint_eq(hvi_text_copy(dst, 1, src, sizeof(src)), 0);
	ck_assert_str_eq(dst, "");
	ck_assert(hvi_text_printable("abc ~", 5));
	ck_assert(!hvi_text_printable("ab\x1b", 3));
	ck_assert(!hvi_text_printable("ab\0", 3));
	ck_assert(!hvi_text_printable("\x80", 1));
}
END_TEST

int main(void)
{
	Suite *su = suite_create("hvi_bounds");
	TCase *tc = tcase_create("kallsyms"), *tc2 = tcase_create("banner");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_names_expanding_beyond_bound);
	tcase_add_test(tc, test_names_expansion_ratio);
	tcase_add_test(tc, test_long_tokens_within_bound);
	tcase_add_test(tc, test_num_syms_ten_million);
	tcase_add_test(tc, test_forged_fields_named);
	suite_add_tcase(su, tc);
	tcase_set_timeout(tc2, 60);
	tcase_add_test(tc2, test_banner_escape_refused);
	tcase_add_test(tc2, test_banner_overlong_refused);
	tcase_add_test(tc2, test_banner_racing_guest);
	tcase_add_test(tc2, test_text_copy);
	suite_add_tcase(su, tc2);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
