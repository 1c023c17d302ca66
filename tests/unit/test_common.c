/* Unit tests for the shared error record and the bounded reader. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "hv_buf.h"
#include "hv_error.h"

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

static Suite *common_suite(void)
{
	Suite *s = suite_create("common");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_err_records_origin_and_code);
	tcase_add_test(tc, test_err_prefix_keeps_code);
	tcase_add_test(tc, test_strerror_all_codes);
	tcase_add_test(tc, test_buf_integers_le);
	tcase_add_test(tc, test_buf_truncation_leaves_position);
	tcase_add_test(tc, test_buf_sub_is_bounded);
	tcase_add_test(tc, test_buf_cstr_limits);
	tcase_add_test(tc, test_buf_every_truncation_fails_cleanly);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(common_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
