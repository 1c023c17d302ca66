/* The host ledger: write-ahead records survive a crash and reconcile. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvl.h"

#define UUID1 "0b6c2d7e-5a41-4c1e-9d0a-1f6e2a3b4c5d"

static char dbpath[] = "/tmp/hvl-test-XXXXXX";

static struct hvl_ledger *fresh(void)
{
	struct hvl_ledger *l = NULL;
	int fd = mkstemp(dbpath);

	ck_assert_int_ge(fd, 0);
	close(fd);
	unlink(dbpath);
	ck_assert_int_eq(hvl_open(dbpath, &l), 0);
	return l;
}

static void drop(struct hvl_ledger *l)
{
	char p[64];

	hvl_close(l);
	unlink(dbpath);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
	strcpy(dbpath, "/tmp/hvl-test-XXXXXX");
}

static struct hvl_op make_op(const char *kind, const char *from, const char *to)
{
	struct hvl_op op;

	memset(&op, 0, sizeof(op));
	strcpy(op.domain_uuid, UUID1);
	strcpy(op.boot_key, "boot-A");
	snprintf(op.kind, sizeof(op.kind), "%s", kind);
	snprintf(op.from_level, sizeof(op.from_level), "%s", from);
	snprintf(op.to_level, sizeof(op.to_level), "%s", to);
	strcpy(op.bundle_sha256, "aa");
	return op;
}

struct seen {
	int n;
	uint64_t gpas[8];
	uint8_t first_old[8];
};

static int collect(void *opaque, const struct hvl_write *w)
{
	struct seen *s = opaque;

	s->gpas[s->n] = w->gpa;
	s->first_old[s->n] = w->old_bytes[0];
	s->n++;
	return 0;
}

START_TEST(test_apply_done_sets_level)
{
	struct hvl_ledger *l = fresh();
	struct hvl_op op = make_op("apply", "", "2026.11-1"), got;
	static const uint8_t nop[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	static const uint8_t jmp[5] = { 0xe9, 1, 2, 3, 4 };
	struct hvl_write w = { 0x1000, 5, nop, jmp, "site f" };
	char level[64];
	int64_t id;

	ck_assert_int_eq(hvl_level_get(l, UUID1, "boot-A", level, sizeof(level)), 0);
	ck_assert_int_eq(hvl_op_begin(l, &op, &id), 0);
	ck_assert_int_eq(hvl_op_get(l, id, &got), 0);
	ck_assert_int_eq(got.state, HVL_INTENT);
	ck_assert_int_eq(hvl_op_add_write(l, id, &w), 0);
	ck_assert_int_eq(hvl_op_get(l, id, &got), 0);
	ck_assert_int_eq(got.state, HVL_WRITING);
	ck_assert_int_eq(hvl_op_finish(l, id, HVL_DONE, 321, 5, 1, "ok"), 0);
	ck_assert_int_eq(hvl_op_get(l, id, &got), 0);
	ck_assert_int_eq(got.state, HVL_DONE);
	ck_assert_int_eq(got.pause_us, 321);
	ck_assert_int_eq(hvl_level_get(l, UUID1, "boot-A", level, sizeof(level)), 1);
	ck_assert_str_eq(level, "2026.11-1");
	/* A different boot of the same domain is unknown, hence unpatched. */
	ck_assert_int_eq(hvl_level_get(l, UUID1, "boot-B", level, sizeof(level)), 0);
	/* Closing twice is refused. */
	ck_assert_int_eq(hvl_op_finish(l, id, HVL_DONE, 0, 0, 0, ""), HV_E_STATE);
	drop(l);
}
END_TEST

START_TEST(test_open_op_survives_crash_and_blocks)
{
	struct hvl_ledger *l = fresh();
	struct hvl_op op = make_op("apply", "", "L1"), open_op;
	static const uint8_t a_old[2] = { 0xa0, 0 }, a_new[2] = { 1, 1 };
	static const uint8_t b_old[2] = { 0xb0, 0 }, b_new[2] = { 2, 2 };
	struct hvl_write wa = { 0x2000, 2, a_old, a_new, "a" };
	struct hvl_write wb = { 0x3000, 2, b_old, b_new, "b" };
	struct seen s = { 0 };
	int64_t id, id2;

	ck_assert_int_eq(hvl_op_begin(l, &op, &id), 0);
	ck_assert_int_eq(hvl_op_add_write(l, id, &wa), 0);
	ck_assert_int_eq(hvl_op_add_write(l, id, &wb), 0);
	/* The process dies here; a new one opens the same ledger. */
	hvl_close(l);
	ck_assert_int_eq(hvl_open(dbpath, &l), 0);
	ck_assert_int_eq(hvl_op_open_for(l, UUID1, &open_op), 1);
	ck_assert_int_eq(open_op.id, id);
	ck_assert_int_eq(open_op.state, HVL_WRITING);
	ck_assert_str_eq(open_op.to_level, "L1");
	/* No second operation while one is open. */
	ck_assert_int_eq(hvl_op_begin(l, &op, &id2), HV_E_BUSY);
	/* Undo order is the reverse of the write order. */
	ck_assert_int_eq(hvl_op_each_write(l, id, 1, collect, &s), 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert_uint_eq(s.gpas[0], 0x3000);
	ck_assert_uint_eq(s.first_old[0], 0xb0);
	ck_assert_uint_eq(s.gpas[1], 0x2000);
	ck_assert_int_eq(hvl_op_finish(l, id, HVL_ROLLED_BACK, 0, 0, 0, "reconciled"), 0);
	ck_assert_int_eq(hvl_op_open_for(l, UUID1, &open_op), 0);
	ck_assert_int_eq(hvl_op_begin(l, &op, &id2), 0);
	drop(l);
}
END_TEST

static int count_levels(void *opaque, const char *level, const char *sha)
{
	(void)level;
	(void)sha;
	(*(int *)opaque)++;
	return 0;
}

START_TEST(test_levels_stack_and_revert)
{
	struct hvl_ledger *l = fresh();
	struct hvl_op a1 = make_op("apply", "", "L1");
	struct hvl_op a2 = make_op("apply", "L1", "L2");
	struct hvl_op r1 = make_op("revert", "L2", "L1");
	char level[64];
	int64_t id;
	int n = 0;

	ck_assert_int_eq(hvl_op_begin(l, &a1, &id), 0);
	ck_assert_int_eq(hvl_op_finish(l, id, HVL_DONE, 1, 1, 1, ""), 0);
	ck_assert_int_eq(hvl_op_begin(l, &a2, &id), 0);
	ck_assert_int_eq(hvl_op_finish(l, id, HVL_DONE, 1, 1, 1, ""), 0);
	ck_assert_int_eq(hvl_level_get(l, UUID1, "boot-A", level, sizeof(level)), 1);
	ck_assert_str_eq(level, "L2");
	ck_assert_int_eq(hvl_level_history(l, UUID1, "boot-A", count_levels, &n), 2);
	ck_assert_int_eq(n, 2);
	/* A failed operation changes nothing. */
	ck_assert_int_eq(hvl_op_begin(l, &r1, &id), 0);
	ck_assert_int_eq(hvl_op_finish(l, id, HVL_FAILED, 0, 0, 0, "refused"), 0);
	ck_assert_int_eq(hvl_level_get(l, UUID1, "boot-A", level, sizeof(level)), 1);
	ck_assert_str_eq(level, "L2");
	ck_assert_int_eq(hvl_op_begin(l, &r1, &id), 0);
	ck_assert_int_eq(hvl_op_finish(l, id, HVL_DONE, 1, 1, 1, ""), 0);
	ck_assert_int_eq(hvl_level_get(l, UUID1, "boot-A", level, sizeof(level)), 1);
	ck_assert_str_eq(level, "L1");
	r1 = make_op("revert", "L1", "");
	ck_assert_int_eq(hvl_op_begin(l, &r1, &id), 0);
	ck_assert_int_eq(hvl_op_finish(l, id, HVL_DONE, 1, 1, 1, ""), 0);
	ck_assert_int_eq(hvl_level_get(l, UUID1, "boot-A", level, sizeof(level)), 1);
	ck_assert_str_eq(level, "");
	drop(l);
}
END_TEST

START_TEST(test_bundles_and_bad_input)
{
	struct hvl_ledger *l = fresh();
	static const uint8_t blob[] = { 1, 2, 3, 0, 4 };
	struct hvl_op op = make_op("apply", "", "x");
	uint8_t *data = NULL;
	size_t len = 0;
	int64_t id;

	ck_assert_int_eq(hvl_bundle_put(l, "cafe", blob, sizeof(blob)), 0);
	ck_assert_int_eq(hvl_bundle_get(l, "cafe", &data, &len), 0);
	ck_assert_uint_eq(len, sizeof(blob));
	ck_assert_mem_eq(data, blob, sizeof(blob));
	free(data);
	ck_assert_int_eq(hvl_bundle_get(l, "beef", &data, &len), HV_E_NOTFOUND);
	strcpy(op.domain_uuid, "not-a-uuid");
	ck_assert_int_eq(hvl_op_begin(l, &op, &id), HV_E_INVAL);
	ck_assert_int_eq(hvl_op_finish(l, 999, HVL_DONE, 0, 0, 0, ""), HV_E_NOTFOUND);
	ck_assert_int_eq(hvl_op_finish(l, 1, HVL_WRITING, 0, 0, 0, ""), HV_E_INVAL);
	drop(l);
	ck_assert_int_eq(hvl_open("/nonexistent-dir/x.db", &l), HV_E_IO);
	ck_assert_ptr_null(l);
}
END_TEST

START_TEST(test_agent_reports)
{
	struct hvl_ledger *l = fresh();
	struct hvl_op op = make_op("apply", "", "2026.11-1");
	struct hvl_agent_report a = { 0 }, b;
	int64_t id1, id2;

	ck_assert_int_eq(hvl_agent_last(l, op.domain_uuid, &b), 0);
	ck_assert_int_eq(hvl_op_begin(l, &op, &id1), 0);
	ck_assert_int_eq(hvl_op_finish(l, id1, HVL_DONE, 10, 5, 1, "ok"), 0);
	a.acked = 1;
	a.verified = 1;
	a.present = 1;
	a.summary = "acknowledged and verified (1 present, 0 mismatch)";
	a.report = "{\"ok\":true}";
	ck_assert_int_eq(hvl_agent_put(l, id1, op.domain_uuid, &a), 0);
	op = make_op("revert", "2026.11-1", "");
	ck_assert_int_eq(hvl_op_begin(l, &op, &id2), 0);
	ck_assert_int_eq(hvl_op_finish(l, id2, HVL_DONE, 10, 5, 1, "ok"), 0);
	memset(&a, 0, sizeof(a));
	a.misbehaved = 1;
	a.summary = "not told: agent misbehaved: flooded the channel";
	ck_assert_int_eq(hvl_agent_put(l, id2, op.domain_uuid, &a), 0);
	ck_assert_int_eq(hvl_agent_last(l, op.domain_uuid, &b), 1);
	ck_assert_int_eq(b.op_id, id2);
	ck_assert_int_eq(b.misbehaved, 1);
	ck_assert_int_eq(b.acked, 0);
	ck_assert_str_eq(b.summary, "not told: agent misbehaved: flooded the channel");
	ck_assert_int_eq(hvl_agent_last(l, "00000000-0000-0000-0000-000000000000", &b), 0);
	drop(l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ledger");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_apply_done_sets_level);
	tcase_add_test(tc, test_open_op_survives_crash_and_blocks);
	tcase_add_test(tc, test_levels_stack_and_revert);
	tcase_add_test(tc, test_bundles_and_bad_input);
	tcase_add_test(tc, test_agent_reports);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
