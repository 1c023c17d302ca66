/*
 * hvl: the host ledger.  One SQLite database (WAL mode) records, per domain
 * UUID, which patch level each boot of the guest is at, and every apply or
 * revert operation, written ahead of any change to guest memory:
 *
 *   1. hvl_op_begin()      an operation is "intent" before the guest is touched;
 *   2. hvl_op_add_write()  each guest write (gpa, old bytes, new bytes) is
 *                          recorded before it is made, so a crashed run can
 *                          restore or finish it by reading the guest;
 *   3. hvl_op_finish()     "done", "rolled_back" or "failed", with the pause
 *                          length, bytes written and sites changed; "done"
 *                          also moves the domain's level.
 *
 * At most one operation per domain is open at a time.  At start-up,
 * hvl_op_open_for() finds an operation a crash left open so the caller can
 * reconcile it against guest memory.
 *
 * All functions return 0 (or 1 where documented) or a negative HV_E_* code
 * with the error recorded; a value longer than SQLite takes is HV_E_RANGE
 * and nothing is recorded.  Strings passed in are copied; strings in
 * returned structs live in fixed-size arrays owned by the struct.  States
 * are stored as the numbers of enum hvl_state, which must therefore never
 * be renumbered; a state the enum does not know is HV_E_FORMAT on reading.
 */
#ifndef HVL_H
#define HVL_H

#include <stddef.h>
#include <stdint.h>

#include "hv_error.h"

#define HVL_UUID_LEN 36
#define HVL_TEXT_MAX 256

struct hvl_ledger;

enum hvl_state {
	HVL_INTENT = 0,	     /* recorded, guest not touched yet */
	HVL_WRITING = 1,     /* guest writes may have happened */
	HVL_DONE = 2,	     /* finished, guest at to_level */
	HVL_ROLLED_BACK = 3, /* every write undone, guest at from_level */
	HVL_FAILED = 4,	     /* refused before any write, guest untouched */
};

struct hvl_op {
	int64_t id;
	char domain_uuid[HVL_UUID_LEN + 1];
	char boot_key[HVL_TEXT_MAX]; /* identifies one boot of the guest */
	char kind[16];		     /* "apply" or "revert" */
	char from_level[HVL_TEXT_MAX];
	char to_level[HVL_TEXT_MAX];
	char bundle_sha256[65]; /* of the bundle being applied, "" for a revert to none */
	enum hvl_state state;
	int64_t started_unix_us;
	int64_t finished_unix_us;
	int64_t pause_us;
	uint64_t bytes_written;
	uint32_t sites_changed;
	char detail[HVL_TEXT_MAX * 2];
};

struct hvl_write {
	uint64_t gpa;
	uint32_t len;
	const uint8_t *old_bytes; /* len bytes */
	const uint8_t *new_bytes; /* len bytes */
	const char *what;	  /* e.g. "site cmdline_proc_show" */
};

/*
 * Open (creating if needed) the ledger at @path; *@out is freed with
 * hvl_close().  Its contents drive guest writes, so the files are kept
 * private: a new ledger is created 0600; an existing one (and its -wal and
 * -shm files) must be a regular file of the calling user with one link,
 * not a symbolic link, and not writable by group or others (HV_E_PERM:
 * someone else may have changed it; the message says what to check and
 * "chmod 600"); read bits for group and others are removed.  The directory
 * must belong to root or the caller and be writable by nobody else
 * (HV_E_PERM).  HV_E_IO when a file cannot be opened or set up.
 */
int hvl_open(const char *path, struct hvl_ledger **out) HV_WUR;
void hvl_close(struct hvl_ledger *l);

/* Name of a state ("intent", "writing", ...). */
const char *hvl_state_name(enum hvl_state s);

/*
 * Record a new operation from @op (id, state and times are set here) and
 * return its id in *@id.  HV_E_BUSY if the domain has an open operation.
 */
int hvl_op_begin(struct hvl_ledger *l, const struct hvl_op *op, int64_t *id) HV_WUR;

/* Record one guest write of operation @id before it is made; marks it "writing". */
int hvl_op_add_write(struct hvl_ledger *l, int64_t id, const struct hvl_write *w) HV_WUR;

/*
 * Close operation @id with @state (HVL_DONE, HVL_ROLLED_BACK or HVL_FAILED)
 * and its measurements.  HVL_DONE also sets the domain's level for the
 * operation's boot to to_level (in the same transaction).
 */
int hvl_op_finish(struct hvl_ledger *l, int64_t id, enum hvl_state state, int64_t pause_us,
		  uint64_t bytes_written, uint32_t sites_changed, const char *detail) HV_WUR;

/* Returns 1 and fills *@op if @uuid has an open operation, 0 if not. */
int hvl_op_open_for(struct hvl_ledger *l, const char *uuid, struct hvl_op *op) HV_WUR;

/* Fill *@op with operation @id (HV_E_NOTFOUND if none). */
int hvl_op_get(struct hvl_ledger *l, int64_t id, struct hvl_op *op) HV_WUR;

/*
 * Call @fn for each recorded write of @id, in the order they were recorded
 * (use reverse order to undo).  The pointers in *w are valid only during the
 * call.  Stops and returns @fn's negative value if it fails.
 */
int hvl_op_each_write(struct hvl_ledger *l, int64_t id, int reverse,
		      int (*fn)(void *opaque, const struct hvl_write *w), void *opaque) HV_WUR;

/*
 * The level @uuid is at in boot @boot_key: 1 and *@level filled (may be ""
 * for "no patch"), or 0 if the ledger knows nothing of that boot (a new
 * boot of a guest is unpatched).
 */
int hvl_level_get(struct hvl_ledger *l, const char *uuid, const char *boot_key, char *level,
		  size_t level_len) HV_WUR;

/*
 * The levels applied in @boot_key, oldest first, as a stack (revert pops).
 * @cb is called per entry; returns the number of entries.
 */
int hvl_level_history(struct hvl_ledger *l, const char *uuid, const char *boot_key,
		      int (*cb)(void *opaque, const char *level, const char *bundle_sha256),
		      void *opaque) HV_WUR;

/*
 * The newest write described as @what (e.g. "patch-area record") of an
 * operation of @uuid closed as done, in any boot: 1 with *@op (that
 * operation), *@gpa and its new bytes in *@data (malloc'd, freed by the
 * caller, *@len bytes); 0 when there is none (*@data NULL).  This is what
 * hvpatch itself last wrote there, so a caller can compare the guest with
 * it instead of believing the guest.
 */
int hvl_last_write(struct hvl_ledger *l, const char *uuid, const char *what, struct hvl_op *op,
		   uint64_t *gpa, uint8_t **data, size_t *len) HV_WUR;

/* Keep a copy of a bundle by its SHA-256 so a revert can re-apply an older level. */
int hvl_bundle_put(struct hvl_ledger *l, const char *sha256, const uint8_t *data,
		   size_t len) HV_WUR;
/* Fetch a stored bundle; *@data is malloc'd and owned by the caller. */
int hvl_bundle_get(struct hvl_ledger *l, const char *sha256, uint8_t **data, size_t *len) HV_WUR;

/* What the guest agent said after an operation (untrusted; for the record). */
struct hvl_agent_report {
	int64_t op_id;	 /* filled by hvl_agent_last() */
	int64_t unix_us; /* when it was recorded (hvl_agent_last()) */
	int acked;	 /* it acknowledged the new status */
	int verified;	 /* its own check of the sites arrived */
	unsigned present, mismatch;
	int misbehaved;
	const char *summary; /* one sentence */
	const char *report;  /* the full report as JSON, or NULL */
	char summary_buf[512];
};

/* Record what the agent said about operation @op_id of domain @uuid. */
int hvl_agent_put(struct hvl_ledger *l, int64_t op_id, const char *uuid,
		  const struct hvl_agent_report *a) HV_WUR;

/*
 * The latest agent report for @uuid: 1 and *@a filled (a->summary points
 * into @a), 0 if there is none.
 */
int hvl_agent_last(struct hvl_ledger *l, const char *uuid, struct hvl_agent_report *a) HV_WUR;

#endif
