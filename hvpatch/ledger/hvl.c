#include "hv_clock.h"
#include "hvl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct hvl_ledger {
	sqlite3 *db;
	char path[512];
};

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=FULL;"
	"PRAGMA foreign_keys=ON;"
	"CREATE TABLE IF NOT EXISTS boots("
	"  uuid TEXT NOT NULL, boot_key TEXT NOT NULL, first_seen_us INTEGER NOT NULL,"
	"  PRIMARY KEY(uuid, boot_key));"
	"CREATE TABLE IF NOT EXISTS ops("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL, boot_key TEXT NOT NULL,"
	"  kind TEXT NOT NULL, from_level TEXT NOT NULL, to_level TEXT NOT NULL,"
	"  bundle_sha256 TEXT NOT NULL, state INTEGER NOT NULL,"
	"  started_us INTEGER NOT NULL, finished_us INTEGER NOT NULL DEFAULT 0,"
	"  pause_us INTEGER NOT NULL DEFAULT 0, bytes_written INTEGER NOT NULL DEFAULT 0,"
	"  sites_changed INTEGER NOT NULL DEFAULT 0, detail TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX IF NOT EXISTS ops_open ON ops(uuid, state);"
	"CREATE TABLE IF NOT EXISTS op_writes("
	"  op_id INTEGER NOT NULL REFERENCES ops(id), seq INTEGER NOT NULL,"
	"  gpa INTEGER NOT NULL, old BLOB NOT NULL, new BLOB NOT NULL, what TEXT NOT NULL,"
	"  PRIMARY KEY(op_id, seq));"
	"CREATE TABLE IF NOT EXISTS levels("
	"  uuid TEXT NOT NULL, boot_key TEXT NOT NULL, seq INTEGER NOT NULL,"
	"  level TEXT NOT NULL, bundle_sha256 TEXT NOT NULL, op_id INTEGER NOT NULL,"
	"  PRIMARY KEY(uuid, boot_key, seq));"
	"CREATE TABLE IF NOT EXISTS bundles(sha256 TEXT PRIMARY KEY, data BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS agent_reports("
	"  op_id INTEGER PRIMARY KEY REFERENCES ops(id), uuid TEXT NOT NULL,"
	"  unix_us INTEGER NOT NULL, acked INTEGER NOT NULL, verified INTEGER NOT NULL,"
	"  present INTEGER NOT NULL, mismatch INTEGER NOT NULL, misbehaved INTEGER NOT NULL,"
	"  summary TEXT NOT NULL, report TEXT NOT NULL);";

static int db_err(struct hvl_ledger *l, const char *what)
{
	return hv_err(HV_E_IO, "ledger %s: %s failed: %s", l->path, what, sqlite3_errmsg(l->db));
}

static void copy_text(char *dst, size_t n, const unsigned char *src)
{
	snprintf(dst, n, "%s", src ? (const char *)src : "");
}

/*
 * Binding values to a statement's named parameters (":uuid").  Each helper
 * checks sqlite3_bind_*()'s result and returns 0 or a recorded error naming
 * the parameter and the statement: HV_E_RANGE for a value longer than SQLite
 * takes, HV_E_NOMEM, or HV_E_INTERNAL when the statement has no such
 * parameter (a bug here).  States are bound from enum hvl_state, never
 * written into the SQL as numbers.
 */
static int param_index(struct hvl_ledger *l, sqlite3_stmt *st, const char *name, int *idx)
{
	int r = 0;

	*idx = sqlite3_bind_parameter_index(st, name);
	if (*idx <= 0)
		r = hv_err(HV_E_INTERNAL,
			   "ledger %s: the statement \"%.60s...\" has no parameter %s", l->path,
			   sqlite3_sql(st), name);
	return r;
}

static int bind_result(struct hvl_ledger *l, sqlite3_stmt *st, const char *name, int rc)
{
	int code = HV_E_INTERNAL;

	if (rc == SQLITE_OK)
		code = 0;
	else if (rc == SQLITE_TOOBIG)
		code = HV_E_RANGE;
	else if (rc == SQLITE_NOMEM)
		code = HV_E_NOMEM;
	if (code < 0)
		code = hv_err(code, "ledger %s: cannot bind %s of \"%.60s...\": %s", l->path, name,
			      sqlite3_sql(st), sqlite3_errstr(rc));
	return code;
}

/* Bind @s (NULL binds ""); the string must outlive the statement's step. */
static int HV_WUR bind_text(struct hvl_ledger *l, sqlite3_stmt *st, const char *name, const char *s)
{
	int i = 0, r;

	r = param_index(l, st, name, &i);
	if (r == 0)
		r = bind_result(l, st, name,
				sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_STATIC));
	return r;
}

static int HV_WUR bind_int64(struct hvl_ledger *l, sqlite3_stmt *st, const char *name, int64_t v)
{
	int i = 0, r;

	r = param_index(l, st, name, &i);
	if (r == 0)
		r = bind_result(l, st, name, sqlite3_bind_int64(st, i, (sqlite3_int64)v));
	return r;
}

static int HV_WUR bind_state(struct hvl_ledger *l, sqlite3_stmt *st, const char *name,
			     enum hvl_state s)
{
	return bind_int64(l, st, name, (int64_t)s);
}

/* Bind @len bytes at @p; they must outlive the statement's step. */
static int HV_WUR bind_blob(struct hvl_ledger *l, sqlite3_stmt *st, const char *name, const void *p,
			    size_t len)
{
	int i = 0, r;

	if (len > INT_MAX)
		r = hv_err(HV_E_RANGE, "ledger %s: %s is %zu bytes, more than SQLite takes",
			   l->path, name, len);
	else
		r = param_index(l, st, name, &i);
	if (r == 0)
		r = bind_result(l, st, name,
				sqlite3_bind_blob(st, i, len ? p : "", (int)len, SQLITE_STATIC));
	return r;
}

const char *hvl_state_name(enum hvl_state s)
{
	switch (s) {
	case HVL_INTENT:
		return "intent";
	case HVL_WRITING:
		return "writing";
	case HVL_DONE:
		return "done";
	case HVL_ROLLED_BACK:
		return "rolled_back";
	case HVL_FAILED:
		return "failed";
	}
	return "unknown";
}

/*
 * The directory holding the ledger: anyone who can write it can replace
 * the ledger or plant its -wal file, so it must belong to root or to us
 * and be writable by nobody else.
 */
static int check_dir(const char *path)
{
	char dir[512], *slash;
	struct stat st;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return hv_err(HV_E_INVAL, "the ledger path %.80s... is too long", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) < 0)
		return hv_err(errno == EACCES ? HV_E_PERM : HV_E_IO,
			      "cannot open the ledger %s: its directory %s: %s", path, dir,
			      strerror(errno));
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return hv_err(HV_E_PERM,
			      "refusing the ledger %s: its directory %s is writable by %s, who "
			      "could replace the ledger that drives hvpatch's guest writes; keep "
			      "the ledger in a directory only root writes (chmod go-w %s)",
			      path, dir, st.st_mode & S_IWOTH ? "everyone" : "its group", dir);
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return hv_err(HV_E_PERM,
			      "refusing the ledger %s: its directory %s belongs to user %u, who "
			      "could replace the ledger; keep it in a directory owned by root",
			      path, dir, (unsigned)st.st_uid);
	return 0;
}

/*
 * One of the ledger's files (@path, or its -wal/-shm when @create is
 * false and it exists): a regular file of ours, one link, not a symlink,
 * writable by nobody else.  Read bits for group and others are taken
 * away (0600); write bits are refused, since someone else may have
 * changed what drives hvpatch's writes.
 */
static int check_file(const char *path, const char *ledger, bool create)
{
	struct stat st;
	int fd, r = 0;

	fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
	if (fd < 0 && !create && errno == ENOENT)
		return 0;
	if (fd < 0)
		return hv_err(errno == EACCES ? HV_E_PERM : HV_E_IO,
			      "cannot open the ledger file %s: %s%s", path, strerror(errno),
			      errno == ELOOP ? " (a symbolic link: hvpatch follows none there)"
					     : "");
	if (fstat(fd, &st) < 0) {
		r = hv_err(HV_E_IO, "cannot stat the ledger file %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != geteuid()) {
		r = hv_err(HV_E_PERM,
			   "refusing the ledger file %s: it is %s; the ledger %s must be a "
			   "regular file of user %u with one link",
			   path,
			   !S_ISREG(st.st_mode) ? "not a regular file"
			   : st.st_nlink != 1	? "hard-linked elsewhere"
						: "owned by another user",
			   ledger, (unsigned)geteuid());
		goto out;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		r = hv_err(HV_E_PERM,
			   "refusing the ledger file %s: mode %03o lets %s write it, and its "
			   "contents drive hvpatch's guest writes; check that nobody changed it, "
			   "then chmod 600 %s",
			   path, (unsigned)(st.st_mode & 0777),
			   st.st_mode & S_IWOTH ? "everyone" : "its group", path);
		goto out;
	}
	if ((st.st_mode & 0077) && fchmod(fd, st.st_mode & 0700) < 0)
		r = hv_err(HV_E_IO, "cannot make the ledger file %s private (chmod 600): %s", path,
			   strerror(errno));
out:
	close(fd);
	return r;
}

int hvl_open(const char *path, struct hvl_ledger **out)
{
	struct hvl_ledger *l = NULL;
	char *msg = NULL, side[600];
	int r = 0;

	*out = NULL;
	r = check_dir(path);
	if (r == 0)
		r = check_file(path, path, true);
	snprintf(side, sizeof(side), "%s-wal", path);
	if (r == 0)
		r = check_file(side, path, false);
	snprintf(side, sizeof(side), "%s-shm", path);
	if (r == 0)
		r = check_file(side, path, false);
	if (r < 0)
		return r;
	l = calloc(1, sizeof(*l));
	if (!l)
		return hv_err(HV_E_NOMEM, "cannot allocate the ledger handle for %s", path);
	snprintf(l->path, sizeof(l->path), "%s", path);
	/* SQLite gives the -wal and -shm files the database file's mode (0600). */
	if (sqlite3_open_v2(path, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL) !=
	    SQLITE_OK) {
		r = hv_err(HV_E_IO, "cannot open the ledger %s: %s", path,
			   l->db ? sqlite3_errmsg(l->db) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(l->db, 5000);
	if (sqlite3_exec(l->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		r = hv_err(HV_E_IO, "cannot set up the ledger schema in %s: %s", path,
			   msg ? msg : "unknown error");
		goto out;
	}
	*out = l;
	l = NULL;
out:
	sqlite3_free(msg);
	hvl_close(l);
	return r;
}

void hvl_close(struct hvl_ledger *l)
{
	if (!l)
		return;
	sqlite3_close(l->db);
	free(l);
}

static int exec(struct hvl_ledger *l, const char *sql)
{
	if (sqlite3_exec(l->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_err(l, sql);
	return 0;
}

static int prepare(struct hvl_ledger *l, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(l->db, sql, -1, st, NULL) != SQLITE_OK)
		return db_err(l, "preparing a query");
	return 0;
}

/* 1 if @v is a value of enum hvl_state (the switch has no default, so -Wswitch
 * notices a state added to the enum and not here), else 0. */
static int state_known(int64_t v)
{
	int known = 0;

	if (v < INT_MIN || v > INT_MAX)
		return 0;
	switch ((enum hvl_state)v) {
	case HVL_INTENT:
	case HVL_WRITING:
	case HVL_DONE:
	case HVL_ROLLED_BACK:
	case HVL_FAILED:
		known = 1;
		break;
	}
	return known;
}

/* Fill *@op from a row of OP_COLUMNS; HV_E_FORMAT if its state is none of enum hvl_state. */
static int fill_op(struct hvl_ledger *l, sqlite3_stmt *st, struct hvl_op *op)
{
	int64_t state;
	int r = 0;

	memset(op, 0, sizeof(*op));
	op->id = sqlite3_column_int64(st, 0);
	copy_text(op->domain_uuid, sizeof(op->domain_uuid), sqlite3_column_text(st, 1));
	copy_text(op->boot_key, sizeof(op->boot_key), sqlite3_column_text(st, 2));
	copy_text(op->kind, sizeof(op->kind), sqlite3_column_text(st, 3));
	copy_text(op->from_level, sizeof(op->from_level), sqlite3_column_text(st, 4));
	copy_text(op->to_level, sizeof(op->to_level), sqlite3_column_text(st, 5));
	copy_text(op->bundle_sha256, sizeof(op->bundle_sha256), sqlite3_column_text(st, 6));
	state = sqlite3_column_int64(st, 7);
	op->started_unix_us = sqlite3_column_int64(st, 8);
	op->finished_unix_us = sqlite3_column_int64(st, 9);
	op->pause_us = sqlite3_column_int64(st, 10);
	op->bytes_written = (uint64_t)sqlite3_column_int64(st, 11);
	op->sites_changed = (uint32_t)sqlite3_column_int64(st, 12);
	copy_text(op->detail, sizeof(op->detail), sqlite3_column_text(st, 13));
	if (state_known(state))
		op->state = (enum hvl_state)state;
	else
		r = hv_err(HV_E_FORMAT,
			   "ledger %s: operation %lld has state %lld, which this hvpatch does not "
			   "know; use the hvpatch that wrote the ledger",
			   l->path, (long long)op->id, (long long)state);
	return r;
}

#define OP_COLUMNS                                                                           \
	"id, uuid, boot_key, kind, from_level, to_level, bundle_sha256, state, started_us, " \
	"finished_us, pause_us, bytes_written, sites_changed, detail"

int hvl_op_open_for(struct hvl_ledger *l, const char *uuid, struct hvl_op *op)
{
	sqlite3_stmt *st = NULL;
	int r;

	r = prepare(l,
		    "SELECT " OP_COLUMNS " FROM ops WHERE uuid = :uuid"
		    " AND state IN (:intent, :writing) ORDER BY id LIMIT 1",
		    &st);
	if (r < 0 || (r = bind_text(l, st, ":uuid", uuid)) < 0 ||
	    (r = bind_state(l, st, ":intent", HVL_INTENT)) < 0 ||
	    (r = bind_state(l, st, ":writing", HVL_WRITING)) < 0)
		goto out;
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		r = fill_op(l, st, op);
		if (r == 0)
			r = 1;
		break;
	case SQLITE_DONE:
		r = 0;
		break;
	default:
		r = db_err(l, "looking up open operations");
	}
out:
	sqlite3_finalize(st);
	return r;
}

int hvl_op_get(struct hvl_ledger *l, int64_t id, struct hvl_op *op)
{
	sqlite3_stmt *st = NULL;
	int r;

	r = prepare(l, "SELECT " OP_COLUMNS " FROM ops WHERE id = :id", &st);
	if (r < 0 || (r = bind_int64(l, st, ":id", id)) < 0)
		goto out;
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		r = fill_op(l, st, op);
		break;
	case SQLITE_DONE:
		r = hv_err(HV_E_NOTFOUND, "ledger %s has no operation %lld", l->path,
			   (long long)id);
		break;
	default:
		r = db_err(l, "reading an operation");
	}
out:
	sqlite3_finalize(st);
	return r;
}

int hvl_op_begin(struct hvl_ledger *l, const struct hvl_op *op, int64_t *id)
{
	sqlite3_stmt *st = NULL;
	struct hvl_op open_op;
	int64_t now = hv_unix_us();
	int r;

	if (strlen(op->domain_uuid) != HVL_UUID_LEN)
		return hv_err(HV_E_INVAL, "ledger: domain UUID '%s' is not a 36-character UUID",
			      op->domain_uuid);
	r = exec(l, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	r = hvl_op_open_for(l, op->domain_uuid, &open_op);
	if (r < 0)
		goto out;
	if (r == 1) {
		r = hv_err(HV_E_BUSY,
			   "domain %s already has operation %lld (%s to level '%s') in state %s; "
			   "it must be reconciled first",
			   op->domain_uuid, (long long)open_op.id, open_op.kind, open_op.to_level,
			   hvl_state_name(open_op.state));
		goto out;
	}
	r = prepare(l,
		    "INSERT OR IGNORE INTO boots(uuid, boot_key, first_seen_us)"
		    " VALUES(:uuid, :boot_key, :now)",
		    &st);
	if (r < 0 || (r = bind_text(l, st, ":uuid", op->domain_uuid)) < 0 ||
	    (r = bind_text(l, st, ":boot_key", op->boot_key)) < 0 ||
	    (r = bind_int64(l, st, ":now", now)) < 0)
		goto out;
	if (sqlite3_step(st) != SQLITE_DONE) {
		r = db_err(l, "recording the guest boot");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	r = prepare(l,
		    "INSERT INTO ops(uuid, boot_key, kind, from_level, to_level, bundle_sha256, "
		    "state, started_us, detail) VALUES(:uuid, :boot_key, :kind, :from_level,"
		    " :to_level, :bundle_sha256, :state, :now, :detail)",
		    &st);
	if (r < 0 || (r = bind_text(l, st, ":uuid", op->domain_uuid)) < 0 ||
	    (r = bind_text(l, st, ":boot_key", op->boot_key)) < 0 ||
	    (r = bind_text(l, st, ":kind", op->kind)) < 0 ||
	    (r = bind_text(l, st, ":from_level", op->from_level)) < 0 ||
	    (r = bind_text(l, st, ":to_level", op->to_level)) < 0 ||
	    (r = bind_text(l, st, ":bundle_sha256", op->bundle_sha256)) < 0 ||
	    (r = bind_state(l, st, ":state", HVL_INTENT)) < 0 ||
	    (r = bind_int64(l, st, ":now", now)) < 0 ||
	    (r = bind_text(l, st, ":detail", op->detail)) < 0)
		goto out;
	if (sqlite3_step(st) != SQLITE_DONE) {
		r = db_err(l, "recording a new operation");
		goto out;
	}
	*id = sqlite3_last_insert_rowid(l->db);
	r = 0;
out:
	sqlite3_finalize(st);
	if (r < 0)
		sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
	else
		r = exec(l, "COMMIT");
	return r;
}

int hvl_op_add_write(struct hvl_ledger *l, int64_t id, const struct hvl_write *w)
{
	sqlite3_stmt *st = NULL;
	int r;

	r = exec(l, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	r = prepare(l,
		    "INSERT INTO op_writes(op_id, seq, gpa, old, new, what) VALUES(:id,"
		    " (SELECT COUNT(*) FROM op_writes WHERE op_id = :id), :gpa, :old, :new, :what)",
		    &st);
	if (r < 0 || (r = bind_int64(l, st, ":id", id)) < 0 ||
	    (r = bind_int64(l, st, ":gpa", (int64_t)w->gpa)) < 0 ||
	    (r = bind_blob(l, st, ":old", w->old_bytes, w->len)) < 0 ||
	    (r = bind_blob(l, st, ":new", w->new_bytes, w->len)) < 0 ||
	    (r = bind_text(l, st, ":what", w->what)) < 0)
		goto out;
	if (sqlite3_step(st) != SQLITE_DONE) {
		r = db_err(l, "recording a guest write");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	r = prepare(
		l,
		"UPDATE ops SET state = :writing WHERE id = :id AND state IN (:intent, :writing)",
		&st);
	if (r < 0 || (r = bind_int64(l, st, ":id", id)) < 0 ||
	    (r = bind_state(l, st, ":intent", HVL_INTENT)) < 0 ||
	    (r = bind_state(l, st, ":writing", HVL_WRITING)) < 0)
		goto out;
	if (sqlite3_step(st) != SQLITE_DONE) {
		r = db_err(l, "marking an operation as writing");
		goto out;
	}
	if (sqlite3_changes(l->db) != 1)
		r = hv_err(HV_E_STATE, "ledger %s: operation %lld is not open", l->path,
			   (long long)id);
out:
	sqlite3_finalize(st);
	if (r < 0)
		sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
	else
		r = exec(l, "COMMIT");
	return r;
}

static int level_push_pop(struct hvl_ledger *l, const struct hvl_op *op)
{
	sqlite3_stmt *st = NULL;
	int revert = !strcmp(op->kind, "revert");
	int r;

	if (revert)
		r = prepare(
			l,
			"DELETE FROM levels WHERE uuid = :uuid AND boot_key = :boot_key AND seq ="
			" (SELECT MAX(seq) FROM levels WHERE uuid = :uuid AND boot_key = "
			":boot_key)",
			&st);
	else
		r = prepare(l,
			    "INSERT INTO levels(uuid, boot_key, seq, level, bundle_sha256, op_id) "
			    "VALUES(:uuid, :boot_key, (SELECT COALESCE(MAX(seq), 0) + 1 FROM levels"
			    " WHERE uuid = :uuid AND boot_key = :boot_key), :level, :bundle_sha256,"
			    " :id)",
			    &st);
	if (r < 0 || (r = bind_text(l, st, ":uuid", op->domain_uuid)) < 0 ||
	    (r = bind_text(l, st, ":boot_key", op->boot_key)) < 0)
		goto out;
	if (!revert && ((r = bind_text(l, st, ":level", op->to_level)) < 0 ||
			(r = bind_text(l, st, ":bundle_sha256", op->bundle_sha256)) < 0 ||
			(r = bind_int64(l, st, ":id", op->id)) < 0))
		goto out;
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_err(l, "updating the domain's level");
out:
	sqlite3_finalize(st);
	return r;
}

int hvl_op_finish(struct hvl_ledger *l, int64_t id, enum hvl_state state, int64_t pause_us,
		  uint64_t bytes_written, uint32_t sites_changed, const char *detail)
{
	sqlite3_stmt *st = NULL;
	struct hvl_op op;
	int r;

	if (state != HVL_DONE && state != HVL_ROLLED_BACK && state != HVL_FAILED)
		return hv_err(HV_E_INVAL, "ledger: operation %lld cannot be closed as %s",
			      (long long)id, hvl_state_name(state));
	r = exec(l, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	r = hvl_op_get(l, id, &op);
	if (r < 0)
		goto out;
	if (op.state != HVL_INTENT && op.state != HVL_WRITING) {
		r = hv_err(HV_E_STATE, "ledger %s: operation %lld is already %s", l->path,
			   (long long)id, hvl_state_name(op.state));
		goto out;
	}
	r = prepare(l,
		    "UPDATE ops SET state = :state, finished_us = :now, pause_us = :pause_us,"
		    " bytes_written = :bytes_written, sites_changed = :sites_changed,"
		    " detail = :detail WHERE id = :id",
		    &st);
	if (r < 0 || (r = bind_int64(l, st, ":id", id)) < 0 ||
	    (r = bind_state(l, st, ":state", state)) < 0 ||
	    (r = bind_int64(l, st, ":now", hv_unix_us())) < 0 ||
	    (r = bind_int64(l, st, ":pause_us", pause_us)) < 0 ||
	    (r = bind_int64(l, st, ":bytes_written", (int64_t)bytes_written)) < 0 ||
	    (r = bind_int64(l, st, ":sites_changed", sites_changed)) < 0 ||
	    (r = bind_text(l, st, ":detail", detail)) < 0)
		goto out;
	if (sqlite3_step(st) != SQLITE_DONE) {
		r = db_err(l, "closing an operation");
		goto out;
	}
	if (state == HVL_DONE)
		r = level_push_pop(l, &op);
out:
	sqlite3_finalize(st);
	if (r < 0)
		sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
	else
		r = exec(l, "COMMIT");
	return r;
}

int hvl_op_each_write(struct hvl_ledger *l, int64_t id, int reverse,
		      int (*fn)(void *opaque, const struct hvl_write *w), void *opaque)
{
	sqlite3_stmt *st = NULL;
	int r, s;

	r = prepare(l,
		    reverse ? "SELECT gpa, old, new, what FROM op_writes WHERE op_id = :id"
			      " ORDER BY seq DESC"
			    : "SELECT gpa, old, new, what FROM op_writes WHERE op_id = :id"
			      " ORDER BY seq",
		    &st);
	if (r < 0 || (r = bind_int64(l, st, ":id", id)) < 0)
		goto out;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		struct hvl_write w;
		int olen = sqlite3_column_bytes(st, 1);
		int nlen = sqlite3_column_bytes(st, 2);

		if (olen != nlen) {
			r = hv_err(
				HV_E_FORMAT,
				"ledger %s: a write of operation %lld has %d old and %d new bytes",
				l->path, (long long)id, olen, nlen);
			goto out;
		}
		w.gpa = (uint64_t)sqlite3_column_int64(st, 0);
		w.old_bytes = sqlite3_column_blob(st, 1);
		w.new_bytes = sqlite3_column_blob(st, 2);
		w.len = (uint32_t)olen;
		w.what = (const char *)sqlite3_column_text(st, 3);
		r = fn(opaque, &w);
		if (r < 0)
			goto out;
	}
	if (s != SQLITE_DONE)
		r = db_err(l, "reading recorded writes");
	else
		r = 0;
out:
	sqlite3_finalize(st);
	return r;
}

int hvl_level_get(struct hvl_ledger *l, const char *uuid, const char *boot_key, char *level,
		  size_t level_len)
{
	sqlite3_stmt *st = NULL;
	int r;

	r = prepare(
		l,
		"SELECT (SELECT COUNT(*) FROM boots WHERE uuid = :uuid AND boot_key = :boot_key),"
		" COALESCE((SELECT level FROM levels WHERE uuid = :uuid AND boot_key = :boot_key"
		" ORDER BY seq DESC LIMIT 1), '')",
		&st);
	if (r < 0 || (r = bind_text(l, st, ":uuid", uuid)) < 0 ||
	    (r = bind_text(l, st, ":boot_key", boot_key)) < 0)
		goto out;
	if (sqlite3_step(st) != SQLITE_ROW) {
		r = db_err(l, "reading the domain's level");
		goto out;
	}
	copy_text(level, level_len, sqlite3_column_text(st, 1));
	r = sqlite3_column_int(st, 0) > 0 ? 1 : 0;
out:
	sqlite3_finalize(st);
	return r;
}

int hvl_level_history(struct hvl_ledger *l, const char *uuid, const char *boot_key,
		      int (*cb)(void *opaque, const char *level, const char *bundle_sha256),
		      void *opaque)
{
	sqlite3_stmt *st = NULL;
	int r, s, n = 0;

	r = prepare(l,
		    "SELECT level, bundle_sha256 FROM levels WHERE uuid = :uuid"
		    " AND boot_key = :boot_key ORDER BY seq",
		    &st);
	if (r < 0 || (r = bind_text(l, st, ":uuid", uuid)) < 0 ||
	    (r = bind_text(l, st, ":boot_key", boot_key)) < 0)
		goto out;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (cb) {
			r = cb(opaque, (const char *)sqlite3_column_text(st, 0),
			       (const char *)sqlite3_column_text(st, 1));
			if (r < 0)
				goto out;
		}
		n++;
	}
	r = s == SQLITE_DONE ? n : db_err(l, "reading the level history");
out:
	sqlite3_finalize(st);
	return r;
}

int hvl_last_write(struct hvl_ledger *l, const char *uuid, const char *what, struct hvl_op *op,
		   uint64_t *gpa, uint8_t **data, size_t *len)
{
	sqlite3_stmt *st = NULL;
	int r, s, n;

	*data = NULL;
	*len = 0;
	r = prepare(l,
		    "SELECT " OP_COLUMNS ", w.gpa, w.new FROM ops JOIN op_writes w ON"
		    " w.op_id = ops.id WHERE ops.uuid = :uuid AND ops.state = :done AND"
		    " w.what = :what ORDER BY ops.id DESC, w.seq DESC LIMIT 1",
		    &st);
	if (r < 0 || (r = bind_text(l, st, ":uuid", uuid)) < 0 ||
	    (r = bind_state(l, st, ":done", HVL_DONE)) < 0 ||
	    (r = bind_text(l, st, ":what", what)) < 0)
		goto out;
	s = sqlite3_step(st);
	if (s == SQLITE_DONE) {
		r = 0;
		goto out;
	}
	if (s != SQLITE_ROW) {
		r = db_err(l, "reading the last recorded write");
		goto out;
	}
	r = fill_op(l, st, op);
	if (r < 0)
		goto out;
	*gpa = (uint64_t)sqlite3_column_int64(st, 14);
	n = sqlite3_column_bytes(st, 15);
	*data = malloc(n > 0 ? (size_t)n : 1);
	if (!*data) {
		r = hv_err(HV_E_NOMEM, "cannot allocate %d bytes for a recorded write", n);
		goto out;
	}
	if (n > 0)
		memcpy(*data, sqlite3_column_blob(st, 15), (size_t)n);
	*len = (size_t)n;
	r = 1;
out:
	sqlite3_finalize(st);
	return r;
}

int hvl_bundle_put(struct hvl_ledger *l, const char *sha256, const uint8_t *data, size_t len)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (len > 64u * 1024 * 1024)
		return hv_err(HV_E_RANGE, "ledger: bundle %s is %zu bytes, more than 64 MiB",
			      sha256, len);
	r = prepare(l, "INSERT OR IGNORE INTO bundles(sha256, data) VALUES(:sha256, :data)", &st);
	if (r < 0 || (r = bind_text(l, st, ":sha256", sha256)) < 0 ||
	    (r = bind_blob(l, st, ":data", data, len)) < 0)
		goto out;
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_err(l, "storing a bundle");
out:
	sqlite3_finalize(st);
	return r;
}

int hvl_bundle_get(struct hvl_ledger *l, const char *sha256, uint8_t **data, size_t *len)
{
	sqlite3_stmt *st = NULL;
	int r, s, n;

	*data = NULL;
	*len = 0;
	r = prepare(l, "SELECT data FROM bundles WHERE sha256 = :sha256", &st);
	if (r < 0 || (r = bind_text(l, st, ":sha256", sha256)) < 0)
		goto out;
	s = sqlite3_step(st);
	if (s == SQLITE_DONE) {
		r = hv_err(HV_E_NOTFOUND, "ledger %s holds no bundle with SHA-256 %s", l->path,
			   sha256);
		goto out;
	}
	if (s != SQLITE_ROW) {
		r = db_err(l, "reading a stored bundle");
		goto out;
	}
	n = sqlite3_column_bytes(st, 0);
	*data = malloc(n > 0 ? (size_t)n : 1);
	if (!*data) {
		r = hv_err(HV_E_NOMEM, "cannot allocate %d bytes for bundle %s", n, sha256);
		goto out;
	}
	if (n > 0)
		memcpy(*data, sqlite3_column_blob(st, 0), (size_t)n);
	*len = (size_t)n;
out:
	sqlite3_finalize(st);
	return r;
}

int hvl_agent_put(struct hvl_ledger *l, int64_t op_id, const char *uuid,
		  const struct hvl_agent_report *a)
{
	sqlite3_stmt *st = NULL;
	int r;

	r = prepare(l,
		    "INSERT OR REPLACE INTO agent_reports(op_id, uuid, unix_us, acked, verified, "
		    "present, mismatch, misbehaved, summary, report) VALUES(:op_id, :uuid, :now,"
		    " :acked, :verified, :present, :mismatch, :misbehaved, :summary, :report)",
		    &st);
	if (r < 0 || (r = bind_int64(l, st, ":op_id", op_id)) < 0 ||
	    (r = bind_text(l, st, ":uuid", uuid)) < 0 ||
	    (r = bind_int64(l, st, ":now", hv_unix_us())) < 0 ||
	    (r = bind_int64(l, st, ":acked", a->acked)) < 0 ||
	    (r = bind_int64(l, st, ":verified", a->verified)) < 0 ||
	    (r = bind_int64(l, st, ":present", a->present)) < 0 ||
	    (r = bind_int64(l, st, ":mismatch", a->mismatch)) < 0 ||
	    (r = bind_int64(l, st, ":misbehaved", a->misbehaved)) < 0 ||
	    (r = bind_text(l, st, ":summary", a->summary)) < 0 ||
	    (r = bind_text(l, st, ":report", a->report)) < 0)
		goto out;
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_err(l, "recording what the guest agent said");
out:
	sqlite3_finalize(st);
	return r;
}

int hvl_agent_last(struct hvl_ledger *l, const char *uuid, struct hvl_agent_report *a)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *t;
	int r, s;

	memset(a, 0, sizeof(*a));
	r = prepare(l,
		    "SELECT op_id, unix_us, acked, verified, present, mismatch, misbehaved, summary"
		    " FROM agent_reports WHERE uuid = :uuid ORDER BY op_id DESC LIMIT 1",
		    &st);
	if (r < 0 || (r = bind_text(l, st, ":uuid", uuid)) < 0)
		goto out;
	s = sqlite3_step(st);
	if (s == SQLITE_DONE) {
		r = 0;
		goto out;
	}
	if (s != SQLITE_ROW) {
		r = db_err(l, "reading what the guest agent said");
		goto out;
	}
	a->op_id = sqlite3_column_int64(st, 0);
	a->unix_us = sqlite3_column_int64(st, 1);
	a->acked = sqlite3_column_int(st, 2);
	a->verified = sqlite3_column_int(st, 3);
	a->present = (unsigned)sqlite3_column_int(st, 4);
	a->mismatch = (unsigned)sqlite3_column_int(st, 5);
	a->misbehaved = sqlite3_column_int(st, 6);
	t = sqlite3_column_text(st, 7);
	snprintf(a->summary_buf, sizeof(a->summary_buf), "%s", t ? (const char *)t : "");
	a->summary = a->summary_buf;
	r = 1;
out:
	sqlite3_finalize(st);
	return r;
}
