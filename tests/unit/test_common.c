/* Unit tests of the common library: error record, bounded reader, hex, clocks. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "hv_buf.h"
#include "hv_check.h"
#include "hv_clock.h"
#include "hv_error.h"
#include "hv_hex.h"

START_TEST(test_err_records_origin_and_code)
{
	int r;

	hv_err_clear();
	ck_assert_int_eq(hv_err_last()->code, HV_OK);
	r = hv_err(HV_E_FORMAT, "table %s is bad", "x");
	ck_assert_int_eq(r, HV_E_FORMAT);
	ck_assert_int_eq(hv_err_last()->code, HV_E_FORMAT);
	ck_assert_str_eq(hv_err_last()->msg, "table x is bad");
	ck_assert_ptr_nonnull(strstr(hv_err_last()->func, "test_err_records_origin_and_code"));
	ck_assert_ptr_nonnull(strstr(hv_err_last()->file, "test_common.c"));
	ck_assert_int_gt(hv_err_last()->line, 0);
}
END_TEST

START_TEST(test_err_prefix_keeps_code)
{
	hv_err_clear();
	ck_assert_int_eq(hv_err_prefix("ctx"), HV_E_INTERNAL);
	hv_err(HV_E_IO, "read failed");
	ck_assert_int_eq(hv_err_prefix("reading %s", "guest"), HV_E_IO);
	ck_assert_str_eq(hv_err_last()->msg, "reading guest: read failed");
}
END_TEST

START_TEST(test_err_shows_control_characters_escaped)
{
	ck_assert_int_eq(hv_err(HV_E_NOTFOUND, "no symbol named '%s'", "cmdline\r"), HV_E_NOTFOUND);
	ck_assert_str_eq(hv_err_last()->msg, "no symbol named 'cmdline\\x0d'");
	ck_assert_int_eq(hv_err_prefix("at \x1b[2J"), HV_E_NOTFOUND);
	ck_assert_str_eq(hv_err_last()->msg, "at \\x1b[2J: no symbol named 'cmdline\\x0d'");
	/* C1 controls, raw or UTF-8 encoded, and stray bytes are escaped;
	 * well-formed text is kept. */
	(void)hv_err(HV_E_FORMAT, "a\x9b"
				  "2Jb \xc2\x9b"
				  "2J caf\xc3\xa9 \xe2\x80\x94 \xff\xc3");
	ck_assert_str_eq(hv_err_last()->msg,
			 "a\\x9b2Jb \\xc2\\x9b2J caf\xc3\xa9 \xe2\x80\x94 \\xff\\xc3");
	hv_err_clear();
}
END_TEST

START_TEST(test_strerror_all_codes)
{
	int c;

	for (c = HV_OK; c >= HV_E_MIN; c--)
		ck_assert_str_ne(hv_strerror(c), "unknown error");
	ck_assert_str_eq(hv_strerror(-999), "unknown error");
}
END_TEST

START_TEST(test_buf_integers_le)
{
	static const uint8_t bytes[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
					 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f };
	struct hv_buf b;
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	hv_buf_init(&b, bytes, sizeof(bytes), "ints");
	ck_assert_int_eq(hv_buf_get_u8(&b, &v8), 0);
	ck_assert_uint_eq(v8, 0x01);
	ck_assert_int_eq(hv_buf_get_u16(&b, &v16), 0);
	ck_assert_uint_eq(v16, 0x0302);
	ck_assert_int_eq(hv_buf_get_u32(&b, &v32), 0);
	ck_assert_uint_eq(v32, 0x07060504);
	ck_assert_int_eq(hv_buf_get_u64(&b, &v64), 0);
	ck_assert_uint_eq(v64, 0x0f0e0d0c0b0a0908ULL);
	ck_assert_uint_eq(hv_buf_remaining(&b), 0);
	ck_assert_int_eq(hv_buf_get_u8(&b, &v8), HV_E_FORMAT);
}
END_TEST

START_TEST(test_buf_truncation_leaves_position)
{
	static const uint8_t bytes[] = { 1, 2, 3 };
	struct hv_buf b;
	uint32_t v32;
	const uint8_t *p;

	hv_buf_init(&b, bytes, sizeof(bytes), "tiny table");
	ck_assert_int_eq(hv_buf_get_u32(&b, &v32), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "tiny table is truncated"));
	ck_assert_uint_eq(b.off, 0);
	ck_assert_int_eq(hv_buf_get_bytes(&b, SIZE_MAX, &p), HV_E_FORMAT);
	ck_assert_int_eq(hv_buf_skip(&b, 4), HV_E_FORMAT);
	ck_assert_int_eq(hv_buf_seek(&b, 4), HV_E_FORMAT);
	ck_assert_int_eq(hv_buf_seek(&b, 3), 0);
	ck_assert_uint_eq(hv_buf_remaining(&b), 0);
}
END_TEST

START_TEST(test_buf_sub_is_bounded)
{
	static const uint8_t bytes[] = { 1, 2, 3, 4, 5, 6 };
	struct hv_buf b, sub;
	uint32_t v32;
	uint16_t v16;

	hv_buf_init(&b, bytes, sizeof(bytes), "outer");
	ck_assert_int_eq(hv_buf_sub(&b, 2, &sub, "inner"), 0);
	ck_assert_int_eq(hv_buf_get_u32(&sub, &v32), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "inner"));
	ck_assert_int_eq(hv_buf_get_u16(&sub, &v16), 0);
	ck_assert_uint_eq(v16, 0x0201);
	ck_assert_int_eq(hv_buf_get_u32(&b, &v32), 0);
	ck_assert_uint_eq(v32, 0x06050403);
	ck_assert_int_eq(hv_buf_sub(&b, 1, &sub, "past end"), HV_E_FORMAT);
}
END_TEST

START_TEST(test_buf_cstr_limits)
{
	static const char data[] = "abc\0defgh\0xyz";
	struct hv_buf b;
	const char *s;
	size_t n;

	hv_buf_init(&b, data, sizeof(data) - 1, "strings");
	ck_assert_int_eq(hv_buf_get_cstr(&b, 8, &s, &n), 0);
	ck_assert_str_eq(s, "abc");
	ck_assert_uint_eq(n, 3);
	/* "defgh" is 5 characters: a limit of 4 must refuse it, 5 must accept. */
	ck_assert_int_eq(hv_buf_get_cstr(&b, 4, &s, &n), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "longer than 4"));
	ck_assert_int_eq(hv_buf_get_cstr(&b, 5, &s, &n), 0);
	ck_assert_str_eq(s, "defgh");
	/* "xyz" has no terminator inside the buffer. */
	ck_assert_int_eq(hv_buf_get_cstr(&b, 100, &s, &n), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "not NUL-terminated"));
	ck_assert_uint_eq(hv_buf_remaining(&b), 3);
}
END_TEST

START_TEST(test_buf_every_truncation_fails_cleanly)
{
	uint8_t bytes[16];
	size_t cut;

	memset(bytes, 0xab, sizeof(bytes));
	for (cut = 0; cut <= sizeof(bytes); cut++) {
		struct hv_buf b;
		uint64_t a = 0, c = 0;
		int r;

		hv_buf_init(&b, bytes, cut, "cut");
		r = hv_buf_get_u64(&b, &a);
		if (r == 0)
			r = hv_buf_get_u64(&b, &c);
		ck_assert_int_eq(r, cut == 16 ? 0 : HV_E_FORMAT);
	}
}
END_TEST

START_TEST(test_hex_digit_values)
{
	static const char digits[] = "0123456789abcdefABCDEF";
	int c;

	for (c = 0; c < 256; c++) {
		const char *at = c ? strchr(digits, c) : NULL;
		int want = !at		      ? -1
			   : at - digits < 16 ? (int)(at - digits)
					      : (int)(at - digits) - 6;

		ck_assert_msg(hv_hex_digit(c) == want, "digit 0x%02x: %d, not %d", c,
			      hv_hex_digit(c), want);
	}
}
END_TEST

START_TEST(test_hex_encode_is_lower_case_and_bounded)
{
	static const uint8_t b[] = { 0x00, 0x9f, 0xa0, 0xff, 0x12 };
	char out[16];

	memset(out, 'x', sizeof(out));
	ck_assert_uint_eq(hv_hex_encode(out, sizeof(out), b, sizeof(b)), 5);
	ck_assert_str_eq(out, "009fa0ff12");
	/* Room for HV_HEX_SIZE(2) = 5 bytes: two whole bytes, then the NUL. */
	memset(out, 'x', sizeof(out));
	ck_assert_uint_eq(hv_hex_encode(out, HV_HEX_SIZE(2), b, sizeof(b)), 2);
	ck_assert_str_eq(out, "009f");
	ck_assert_int_eq(out[5], 'x');
	/* One byte short of the second: only the first, never half a byte. */
	memset(out, 'x', sizeof(out));
	ck_assert_uint_eq(hv_hex_encode(out, HV_HEX_SIZE(2) - 1, b, sizeof(b)), 1);
	ck_assert_str_eq(out, "00");
	ck_assert_uint_eq(hv_hex_encode(out, 1, b, sizeof(b)), 0);
	ck_assert_str_eq(out, "");
	memset(out, 'x', sizeof(out));
	ck_assert_uint_eq(hv_hex_encode(out, 0, b, sizeof(b)), 0);
	ck_assert_int_eq(out[0], 'x');
	ck_assert_uint_eq(hv_hex_encode(out, sizeof(out), b, 0), 0);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_hex_decode_round_trip_and_limits)
{
	uint8_t b[4], all[256];
	char text[HV_HEX_SIZE(256)];
	size_t n = 99, i;

	for (i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)i;
	hv_hex_encode(text, sizeof(text), all, sizeof(all));
	{
		uint8_t back[256];

		ck_assert_int_eq(hv_hex_decode(text, strlen(text), back, sizeof(back), &n, "t"), 0);
		ck_assert_uint_eq(n, 256);
		ck_assert_mem_eq(back, all, 256);
	}
	ck_assert_int_eq(hv_hex_decode("DeadBEEF", 8, b, 4, &n, "t"), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(b[0], 0xde);
	ck_assert_uint_eq(b[3], 0xef);
	/* Only @len characters are read: the rest of the string does not count. */
	ck_assert_int_eq(hv_hex_decode("abzz", 2, b, 4, &n, "t"), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(b[0], 0xab);
	n = 99;
	ck_assert_int_eq(hv_hex_decode("", 0, b, 4, &n, "key id"), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "the key id has 0 hex digits"));
	ck_assert_int_eq(hv_hex_decode("abc", 3, b, 4, &n, "t"), HV_E_FORMAT);
	/* An odd @len is refused even where the next character would make a byte. */
	ck_assert_int_eq(hv_hex_decode("abcd", 3, b, 4, &n, "t"), HV_E_FORMAT);
	ck_assert_int_eq(hv_hex_decode("0011223344", 10, b, 4, &n, "t"), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "from 2 to 8"));
	ck_assert_int_eq(hv_hex_decode("00112g", 6, b, 4, &n, "t"), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "not hexadecimal (character 6)"));
	ck_assert_int_eq(hv_hex_decode("0x11", 4, b, 4, &n, "t"), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "(character 2)"));
	ck_assert_uint_eq(n, 99); /* unchanged on failure */
}
END_TEST

START_TEST(test_hex_u64)
{
	uint64_t v = 7;

	ck_assert_int_eq(hv_hex_u64("ffffffff81000100", 16, &v, "a"), 0);
	ck_assert_uint_eq(v, 0xffffffff81000100ULL);
	ck_assert_int_eq(hv_hex_u64("A", 1, &v, "a"), 0);
	ck_assert_uint_eq(v, 10);
	ck_assert_int_eq(hv_hex_u64("12 T name", 2, &v, "a"), 0);
	ck_assert_uint_eq(v, 0x12);
	v = 7;
	ck_assert_int_eq(hv_hex_u64("", 0, &v, "site"), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "the site has 0 hex digits"));
	ck_assert_int_eq(hv_hex_u64("10000000000000000", 17, &v, "a"), HV_E_FORMAT);
	ck_assert_int_eq(hv_hex_u64("12g4", 4, &v, "a"), HV_E_FORMAT);
	ck_assert_int_eq(hv_hex_u64("-1", 2, &v, "a"), HV_E_FORMAT);
	ck_assert_uint_eq(v, 7);
}
END_TEST

START_TEST(test_clock_units_agree)
{
	uint64_t ns = hv_mono_ns(), us = hv_mono_us(), ms = hv_mono_ms(), ns2;
	struct timespec ts;

	/* Read in this order, each is at least the one before in its unit... */
	ck_assert_uint_ge(us, ns / 1000);
	ck_assert_uint_ge(ms, us / 1000);
	ns2 = hv_mono_ns();
	/* ...and not later than the next reading. */
	ck_assert_uint_le(us, ns2 / 1000);
	ck_assert_uint_le(ms, ns2 / 1000000);
	ck_assert_uint_ge(ns2, ns);
	/* The monotonic clock, not another one. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ck_assert_uint_le(ms, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
	ck_assert_uint_ge(ms + 1000, (uint64_t)ts.tv_sec * 1000);
}
END_TEST

START_TEST(test_clock_measures_a_sleep)
{
	struct timespec nap = { 0, 50 * 1000000L };
	uint64_t ns = hv_mono_ns(), us = hv_mono_us(), ms = hv_mono_ms();

	while (nanosleep(&nap, &nap) < 0 && errno == EINTR)
		;
	ck_assert_uint_ge(hv_mono_ns() - ns, 50000000u);
	ck_assert_uint_ge(hv_mono_us() - us, 50000u);
	ck_assert_uint_ge(hv_mono_ms() - ms, 49u); /* ms truncates */
	ck_assert_uint_lt(hv_mono_ms() - ms, 5000u);
}
END_TEST

START_TEST(test_clock_unix_time)
{
	int64_t before = (int64_t)time(NULL), us = hv_unix_us(), ms = hv_unix_ms();
	int64_t after = (int64_t)time(NULL);

	/* time() reads the coarse clock, which may trail the precise one by a
	 * tick across a second boundary. */
	ck_assert_int_ge(us / 1000000, before);
	ck_assert_int_le(us / 1000000, after + 1);
	ck_assert_int_ge(ms, us / 1000);
	ck_assert_int_le(ms / 1000, after + 1);
}
END_TEST

START_TEST(test_clock_wait_until_a_deadline)
{
	uint64_t now = hv_mono_ms();
	int w = hv_ms_until(now + 2000);

	ck_assert_int_le(w, 2000);
	ck_assert_int_ge(w, 1000);
	ck_assert_int_eq(hv_ms_until(now), 0);
	ck_assert_int_eq(hv_ms_until(0), 0);
	ck_assert_int_eq(hv_ms_until(now + 100ULL * HV_WAIT_MAX_MS), HV_WAIT_MAX_MS);
	ck_assert_int_eq(hv_ms_until(UINT64_MAX), HV_WAIT_MAX_MS);
}
END_TEST

static Suite *common_suite(void)
{
	Suite *s = suite_create("common");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_err_records_origin_and_code);
	tcase_add_test(tc, test_err_prefix_keeps_code);
	tcase_add_test(tc, test_err_shows_control_characters_escaped);
	tcase_add_test(tc, test_strerror_all_codes);
	tcase_add_test(tc, test_buf_integers_le);
	tcase_add_test(tc, test_buf_truncation_leaves_position);
	tcase_add_test(tc, test_buf_sub_is_bounded);
	tcase_add_test(tc, test_buf_cstr_limits);
	tcase_add_test(tc, test_buf_every_truncation_fails_cleanly);
	tcase_add_test(tc, test_hex_digit_values);
	tcase_add_test(tc, test_hex_encode_is_lower_case_and_bounded);
	tcase_add_test(tc, test_hex_decode_round_trip_and_limits);
	tcase_add_test(tc, test_hex_u64);
	tcase_add_test(tc, test_clock_units_agree);
	tcase_add_test(tc, test_clock_measures_a_sleep);
	tcase_add_test(tc, test_clock_unix_time);
	tcase_add_test(tc, test_clock_wait_until_a_deadline);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return hv_check_run(common_suite());
}
