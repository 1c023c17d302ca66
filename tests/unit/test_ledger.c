/* The host ledger: write-ahead records survive a crash and reconcile. */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hvl.h"

#define UUID1 "0b6c2d7e-5a41-4c1e-9d0a-1f6e2a3b4c5d"
#define UUID2 "7f0e9c1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b"

/* The ledger lives in a private directory: hvl_open() refuses one that
 * others may write, such as /tmp itself. */
static char dirpath[] = "/tmp/hvl-test-XXXXXX";
static char dbpath[64];

static void unlink_all(void)
{
	char p[80];

	unlink(dbpath);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
}

static struct hvl_ledger *fresh(void)
{
	struct hvl_ledger *l = NULL;

	unlink_all();
	ck_assert_int_eq(hvl_open(dbpath, &l), 0);
	return l;
}

static void drop(struct hvl_ledger *l)
{
	hvl_close(l);
	unlink_all();
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

/* A second connection to the ledger's file, as another program would read it. */
static sqlite3 *raw_open(void)
{
	sqlite3 *db = NULL;

	ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v;

	ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
		      sqlite3_errmsg(db));
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", sql,
		      sqlite3_errmsg(db));
}

static int64_t raw_state(sqlite3 *db, int64_t id)
{
	char sql[80];

	snprintf(sql, sizeof(sql), "SELECT state FROM ops WHERE id = %lld", (long long)id);
	return raw_int(db, sql);
}

/*
 * The ops table holds the numbers of enum hvl_state (whatever they are), and
 * the ledger's queries find rows by those numbers: an SQL text with a state
 * number of its own disagrees with the enum here.
 */
START_TEST(test_states_are_the_enum)
{
	struct hvl_ledger *l = fresh();
	struct hvl_op op = make_op("apply", "", "L1"), got;
	static const uint8_t o[1] = { 0x90 }, n[1] = { 0xcc };
	struct hvl_write w = { 0x1000, 1, o, n, "site" };
	char sql[256];
	sqlite3 *db;
	int64_t id, id2;

	ck_assert_int_eq(hvl_op_begin(l, &op, &id), 0);
	db = raw_open();
	ck_assert_int_eq(raw_state(db, id), HVL_INTENT);
	ck_assert_int_eq(hvl_op_add_write(l, id, &w), 0);
	ck_assert_int_eq(raw_state(db, id), HVL_WRITING);
	ck_assert_int_eq(hvl_op_finish(l, id, HVL_ROLLED_BACK, 0, 0, 0, "undone"), 0);
	ck_assert_int_eq(raw_state(db, id), HVL_ROLLED_BACK);
	ck_assert_int_eq(hvl_op_begin(l, &op, &id), 0);
	ck_assert_int_eq(hvl_op_finish(l, id, HVL_FAILED, 0, 0, 0, "refused"), 0);
	ck_assert_int_eq(raw_state(db, id), HVL_FAILED);
	ck_assert_int_eq(hvl_op_begin(l, &op, &id), 0);
	ck_assert_int_eq(hvl_op_finish(l, id, HVL_DONE, 0, 0, 0, ""), 0);
	ck_assert_int_eq(raw_state(db, id), HVL_DONE);

	/* Rows another writer left in each state: only intent and writing are open. */
	snprintf(sql, sizeof(sql),
		 "INSERT INTO ops(uuid, boot_key, kind, from_level, to_level, bundle_sha256,"
		 " state, started_us) VALUES('%s', 'b', 'apply', '', 'L9', '', %d, 1)",
		 UUID2, (int)HVL_DONE);
	raw_exec(db, sql);
	ck_assert_int_eq(hvl_op_open_for(l, UUID2, &got), 0);
	snprintf(sql, sizeof(sql), "UPDATE ops SET state = %d WHERE uuid = '%s'", (int)HVL_WRITING,
		 UUID2);
	raw_exec(db, sql);
	ck_assert_int_eq(hvl_op_open_for(l, UUID2, &got), 1);
	ck_assert_int_eq(got.state, HVL_WRITING);
	ck_assert_str_eq(got.to_level, "L9");
	id2 = got.id;
	snprintf(sql, sizeof(sql), "UPDATE ops SET state = %d WHERE uuid = '%s'", (int)HVL_INTENT,
		 UUID2);
	raw_exec(db, sql);
	ck_assert_int_eq(hvl_op_open_for(l, UUID2, &got), 1);
	ck_assert_int_eq(got.state, HVL_INTENT);
	/* A state the enum does not have is refused, not taken for one it has. */
	snprintf(sql, sizeof(sql), "UPDATE ops SET state = 99 WHERE uuid = '%s'", UUID2);
	raw_exec(db, sql);
	ck_assert_int_eq(hvl_op_open_for(l, UUID2, &got), 0);
	ck_assert_int_eq(hvl_op_get(l, id2, &got), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "state 99"));
	sqlite3_close(db);
	drop(l);
}
END_TEST

/* Each new SQLite connection in this process gets limit_length as its
 * SQLITE_LIMIT_LENGTH while limit_ext is registered. */
static int limit_length;

static int limit_ext(sqlite3 *db, char **err, const void *api)
{
	(void)err;
	(void)api;
	sqlite3_limit(db, SQLITE_LIMIT_LENGTH, limit_length);
	return SQLITE_OK;
}

static void expect_bind_error(int r, const char *param)
{
	ck_assert_msg(r == HV_E_RANGE, "expected HV_E_RANGE binding %s, got %d: %s", param, r,
		      hv_err_last()->msg);
	ck_assert_msg(strstr(hv_err_last()->msg, param) != NULL, "message does not name %s: %s",
		      param, hv_err_last()->msg);
}

static int count_writes(void *opaque, const struct hvl_write *w)
{
	(void)w;
	(*(int *)opaque)++;
	return 0;
}

/*
 * A value SQLite refuses to bind (longer than the connection's length limit)
 * is an error naming the parameter, and nothing is recorded.  Were a bind's
 * result ignored, the parameter would stay NULL: a lookup would quietly find
 * nothing, and an insert would fail later with another error.
 */
START_TEST(test_bind_failures_are_errors)
{
	struct hvl_ledger *l = fresh();
	struct hvl_op op = make_op("apply", "", "L1"), got;
	struct hvl_agent_report a = { 0 };
	struct hvl_write w;
	static const uint8_t o[1] = { 0x90 }, n[1] = { 0xcc };
	char level[64];
	uint8_t *data = NULL;
	size_t len = 0, big_len;
	char *big;
	sqlite3 *db;
	int64_t id;
	int nw = 0;

	/* Long enough for the schema, short enough for a test. */
	hvl_close(l);
	db = raw_open();
	limit_length = (int)raw_int(db, "SELECT MAX(LENGTH(sql)) FROM sqlite_master") + 64;
	sqlite3_close(db);
	ck_assert_int_eq(sqlite3_auto_extension((void (*)(void))limit_ext), SQLITE_OK);
	ck_assert_int_eq(hvl_open(dbpath, &l), 0);
	sqlite3_reset_auto_extension();
	big_len = (size_t)limit_length * 2;
	big = malloc(big_len + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', big_len);
	big[big_len] = '\0';

	expect_bind_error(hvl_level_get(l, UUID1, big, level, sizeof(level)), ":boot_key");
	expect_bind_error(hvl_level_get(l, big, "boot-A", level, sizeof(level)), ":uuid");
	expect_bind_error(hvl_level_history(l, UUID1, big, NULL, NULL), ":boot_key");
	expect_bind_error(hvl_op_open_for(l, big, &got), ":uuid");
	expect_bind_error(hvl_bundle_put(l, "cafe", (const uint8_t *)big, big_len), ":data");
	expect_bind_error(hvl_bundle_put(l, big, (const uint8_t *)"b", 1), ":sha256");
	ck_assert_int_eq(hvl_bundle_get(l, "cafe", &data, &len), HV_E_NOTFOUND);
	expect_bind_error(hvl_bundle_get(l, big, &data, &len), ":sha256");
	ck_assert_ptr_null(data);

	ck_assert_int_eq(hvl_op_begin(l, &op, &id), 0);
	w = (struct hvl_write){ 0x1000, 1, o, n, big };
	expect_bind_error(hvl_op_add_write(l, id, &w), ":what");
	w = (struct hvl_write){ 0x1000, (uint32_t)big_len, (const uint8_t *)big,
				(const uint8_t *)big, "site" };
	expect_bind_error(hvl_op_add_write(l, id, &w), ":old");
	ck_assert_int_eq(hvl_op_each_write(l, id, 0, count_writes, &nw), 0);
	ck_assert_int_eq(nw, 0);
	ck_assert_int_eq(hvl_op_get(l, id, &got), 0);
	ck_assert_int_eq(got.state, HVL_INTENT);
	expect_bind_error(hvl_op_finish(l, id, HVL_DONE, 1, 1, 1, big), ":detail");
	ck_assert_int_eq(hvl_op_get(l, id, &got), 0);
	ck_assert_int_eq(got.state, HVL_INTENT);
	ck_assert_int_eq(hvl_level_get(l, UUID1, "boot-A", level, sizeof(level)), 1);
	ck_assert_str_eq(level, "");

	a.summary = big;
	expect_bind_error(hvl_agent_put(l, id, UUID1, &a), ":summary");
	a.summary = "ok";
	a.report = big;
	expect_bind_error(hvl_agent_put(l, id, UUID1, &a), ":report");
	ck_assert_int_eq(hvl_agent_last(l, UUID1, &a), 0);
	expect_bind_error(hvl_agent_last(l, big, &a), ":uuid");

	/* Values within the limit still go through the same connection. */
	ck_assert_int_eq(hvl_op_finish(l, id, HVL_DONE, 1, 1, 1, "ok"), 0);
	ck_assert_int_eq(hvl_level_get(l, UUID1, "boot-A", level, sizeof(level)), 1);
	ck_assert_str_eq(level, "L1");
	free(big);
	drop(l);
}
END_TEST

/* A NULL summary, report or write description is stored as "". */
START_TEST(test_null_text_is_empty)
{
	struct hvl_ledger *l = fresh();
	struct hvl_op op = make_op("apply", "", "L1");
	struct hvl_agent_report a = { 0 }, b;
	static const uint8_t o[1] = { 0x90 }, n[1] = { 0xcc };
	struct hvl_write w = { 0x1000, 1, o, n, NULL };
	int64_t id;

	ck_assert_int_eq(hvl_op_begin(l, &op, &id), 0);
	ck_assert_int_eq(hvl_op_add_write(l, id, &w), 0);
	ck_assert_int_eq(hvl_op_finish(l, id, HVL_DONE, 1, 1, 1, NULL), 0);
	ck_assert_int_eq(hvl_agent_put(l, id, UUID1, &a), 0);
	ck_assert_int_eq(hvl_agent_last(l, UUID1, &b), 1);
	ck_assert_str_eq(b.summary, "");
	drop(l);
}
END_TEST

static unsigned mode_of(const char *path)
{
	struct stat st;

	ck_assert_int_eq(lstat(path, &st), 0);
	return (unsigned)(st.st_mode & 0777);
}

/* A new ledger and its -wal file are 0600 whatever the umask. */
START_TEST(test_created_private)
{
	struct hvl_ledger *l;
	struct hvl_op op = make_op("apply", "", "L1");
	char wal[80];
	mode_t old = umask(0);
	int64_t id;

	l = fresh();
	umask(old);
	ck_assert_int_eq(hvl_op_begin(l, &op, &id), 0);
	ck_assert_uint_eq(mode_of(dbpath), 0600);
	snprintf(wal, sizeof(wal), "%s-wal", dbpath);
	ck_assert_uint_eq(mode_of(wal), 0600);
	drop(l);
}
END_TEST

/* Group/world write bits, a symlink, another's directory: refused; read
 * bits are taken away. */
START_TEST(test_loose_files_refused)
{
	struct hvl_ledger *l = fresh();
	char sub[96], inner[128], link[96], wal[160];

	hvl_close(l);
	l = NULL;
	ck_assert_int_eq(chmod(dbpath, 0666), 0);
	ck_assert_int_eq(hvl_open(dbpath, &l), HV_E_PERM);
	ck_assert_ptr_null(l);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "chmod 600"));
	ck_assert_int_eq(chmod(dbpath, 0620), 0);
	ck_assert_int_eq(hvl_open(dbpath, &l), HV_E_PERM);
	ck_assert_int_eq(chmod(dbpath, 0644), 0);
	ck_assert_int_eq(hvl_open(dbpath, &l), 0);
	ck_assert_uint_eq(mode_of(dbpath), 0600);
	hvl_close(l);
	l = NULL;
	/* A -wal file others may write is refused as well. */
	snprintf(wal, sizeof(wal), "%s-wal", dbpath);
	ck_assert_int_eq(close(open(wal, O_CREAT | O_WRONLY, 0600)), 0);
	ck_assert_int_eq(chmod(wal, 0646), 0);
	ck_assert_int_eq(hvl_open(dbpath, &l), HV_E_PERM);
	unlink(wal);
	/* A symbolic link is never followed. */
	snprintf(link, sizeof(link), "%s/link.db", dirpath);
	ck_assert_int_eq(symlink(dbpath, link), 0);
	ck_assert_int_lt(hvl_open(link, &l), 0);
	ck_assert_ptr_null(l);
	unlink(link);
	/* A directory others may write. */
	snprintf(sub, sizeof(sub), "%s/open", dirpath);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	ck_assert_int_eq(chmod(sub, 01777), 0);
	snprintf(inner, sizeof(inner), "%s/ledger.db", sub);
	ck_assert_int_eq(hvl_open(inner, &l), HV_E_PERM);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "writable by everyone"));
	ck_assert_int_eq(chmod(sub, 0770), 0);
	ck_assert_int_eq(hvl_open(inner, &l), HV_E_PERM);
	ck_assert_int_eq(access(inner, F_OK), -1); /* nothing was created */
	ck_assert_int_eq(chmod(sub, 0700), 0);
	ck_assert_int_eq(hvl_open(inner, &l), 0);
	hvl_close(l);
	snprintf(wal, sizeof(wal), "%s-wal", inner);
	unlink(wal);
	snprintf(wal, sizeof(wal), "%s-shm", inner);
	unlink(wal);
	unlink(inner);
	rmdir(sub);
	drop(NULL);
}
END_TEST

/* The newest write of a given description among operations closed as
 * done: what the engine trusts instead of the guest's record. */
START_TEST(test_last_write)
{
	struct hvl_ledger *l = fresh();
	struct hvl_op op = make_op("apply", "", "L1"), got;
	static const uint8_t z[3] = { 0, 0, 0 }, r1[3] = { 1, 1, 1 }, r2[3] = { 2, 2, 2 },
			     r3[3] = { 3, 3, 3 };
	struct hvl_write w1 = { 0x5000, 3, z, r1, "patch-area record" };
	struct hvl_write w2 = { 0x5000, 3, r1, r2, "patch-area record" };
	struct hvl_write w3 = { 0x5000, 3, r2, r3, "patch-area record" };
	struct hvl_write site = { 0x9000, 3, z, r3, "site f" };
	uint8_t *data = NULL;
	uint64_t gpa = 0;
	size_t len = 0;
	int64_t id1, id2, id3;

	ck_assert_int_eq(hvl_last_write(l, UUID1, "patch-area record", &got, &gpa, &data, &len), 0);
	ck_assert_ptr_null(data);
	ck_assert_int_eq(hvl_op_begin(l, &op, &id1), 0);
	ck_assert_int_eq(hvl_op_add_write(l, id1, &w1), 0);
	ck_assert_int_eq(hvl_op_add_write(l, id1, &site), 0);
	ck_assert_int_eq(hvl_op_finish(l, id1, HVL_DONE, 1, 6, 1, "d"), 0);
	op = make_op("apply", "L1", "L2");
	strcpy(op.boot_key, "boot-B");
	ck_assert_int_eq(hvl_op_begin(l, &op, &id2), 0);
	ck_assert_int_eq(hvl_op_add_write(l, id2, &w2), 0);
	ck_assert_int_eq(hvl_op_finish(l, id2, HVL_DONE, 1, 3, 0, "d"), 0);
	/* Rolled back and still open operations do not count. */
	op = make_op("apply", "L2", "L3");
	ck_assert_int_eq(hvl_op_begin(l, &op, &id3), 0);
	ck_assert_int_eq(hvl_op_add_write(l, id3, &w3), 0);
	ck_assert_int_eq(hvl_op_finish(l, id3, HVL_ROLLED_BACK, 1, 0, 0, "r"), 0);
	ck_assert_int_eq(hvl_op_begin(l, &op, &id3), 0);
	ck_assert_int_eq(hvl_op_add_write(l, id3, &w3), 0);
	ck_assert_int_eq(hvl_last_write(l, UUID1, "patch-area record", &got, &gpa, &data, &len), 1);
	ck_assert_int_eq(got.id, id2);
	ck_assert_str_eq(got.boot_key, "boot-B");
	ck_assert_uint_eq(gpa, 0x5000);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(data, r2, 3);
	free(data);
	ck_assert_int_eq(hvl_last_write(l, UUID2, "patch-area record", &got, &gpa, &data, &len), 0);
	drop(l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ledger");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	if (!mkdtemp(dirpath))
		return 99;
	snprintf(dbpath, sizeof(dbpath), "%s/ledger.db", dirpath);
	tcase_add_test(tc, test_created_private);
	tcase_add_test(tc, test_loose_files_refused);
	tcase_add_test(tc, test_last_write);
	tcase_add_test(tc, test_apply_done_sets_level);
	tcase_add_test(tc, test_open_op_survives_crash_and_blocks);
	tcase_add_test(tc, test_levels_stack_and_revert);
	tcase_add_test(tc, test_bundles_and_bad_input);
	tcase_add_test(tc, test_agent_reports);
	tcase_add_test(tc, test_states_are_the_enum);
	tcase_add_test(tc, test_bind_failures_are_errors);
	tcase_add_test(tc, test_null_text_is_empty);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	unlink_all();
	rmdir(dirpath);
	return failed ? 1 : 0;
}
