/*
 * hva_guard: the pause guard, a child process every session starts before
 * it can pause the guest, and which outlives hvpatch.
 *
 * Why a process: a pause must end even when hvpatch is SIGKILLed, stopped,
 * or hangs, and none of that can be handled inside hvpatch.  The guard runs
 * in its own session (a signal to hvpatch's process group spares it) and is
 * told of every pause over a SOCK_SEQPACKET socket pair, so it learns of
 * hvpatch's death at once (the socket reads end-of-file).
 *
 * Arming comes first: hva_guard_pause() arms the guard and, for a backend
 * whose guard owns the pause (libvirt: the guard holds its own connection
 * and issues virDomainSuspend itself), pauses the guest from inside the
 * guard.  The guard therefore knows whether a pause happened even if
 * hvpatch dies in the middle of asking for it.  While armed, the guard
 * resumes the guest when the socket closes (hvpatch died) or when the pause
 * outlives its deadline plus a grace period (hvpatch hangs or was stopped),
 * whichever comes first; after a deadline rescue it stays armed, so a
 * guest paused again by a late write of a hung hvpatch is resumed again.
 *
 * While armed, the guard keeps a pause record (see hva_pause_record_*), so
 * that a later hvpatch that finds the guest paused can tell a pause left by
 * a dead hvpatch (and its dead guard) from one an operator made.
 */
#ifndef HVA_GUARD_H
#define HVA_GUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hv_error.h"

/* How long past its deadline a pause may last before the guard ends it:
 * the session's own watchdog comes first, the guard covers a hung one. */
#define HVA_GUARD_GRACE_MS 500u
/* While armed past the deadline, how often the guard looks again. */
#define HVA_GUARD_RECHECK_MS 250u

/*
 * What the guard does in the child process.  All run in the child, which is
 * single-threaded; each returns 0 or a negative HV_E_* code with a message in
 * the child's own error record (sent back to the session).
 */
struct hva_guard_backend {
	const char *name;
	/* Connect (called once, right after the fork); may be NULL. */
	int (*init)(void *arg);
	/*
	 * Pause the guest if it runs; *was_running says whether it ran.  NULL
	 * when the session pauses the guest itself (the guard is then only
	 * armed, and the session must hva_guard_disarm() if it does not pause).
	 */
	int (*pause)(void *arg, bool *was_running);
	/* Resume the guest (a no-op when it runs). */
	int (*resume)(void *arg);
	/*
	 * Whether the guest is paused, for the repeated checks after a deadline
	 * rescue; NULL when the backend cannot tell (then one rescue only).
	 */
	int (*paused)(void *arg, bool *paused);
	/*
	 * Stop QEMU's gdbstub (HMP "gdbserver none"): called when the session
	 * ends or dies while a gdbstub it started still listens, since that
	 * socket gives whoever reaches it the guest's memory and vCPUs.  May
	 * be NULL.
	 */
	int (*gdbstub_off)(void *arg);
	void (*fini)(void *arg);
};

struct hva_guard;

/*
 * Fork the guard.  Call while the process is single-threaded (before any
 * pause: the session's watchdog threads do not exist yet).  @arg is
 * used in the child only (its memory is the child's copy).  @keep_fd is a
 * descriptor the child keeps open (the QMP socket of the bare-QEMU backend;
 * -1 for none); every other descriptor is closed in the child.  @uuid and
 * @pause_dir name the pause record ("" / NULL: no record).
 * On success *out owns the guard; end it with hva_guard_stop().
 * Errors: HV_E_IO (no socket pair, no fork).
 */
int hva_guard_start(const struct hva_guard_backend *be, void *arg, int keep_fd, const char *uuid,
		    const char *pause_dir, struct hva_guard **out) HV_WUR;

/*
 * Arm the guard with @deadline_ms and, when the backend's guard owns the
 * pause, pause the guest.  *was_running (may be NULL) says whether the guest
 * ran; when it did not, the guard is not armed and nothing was paused.
 * For a backend that pauses in the session, *was_running is true and the
 * guard is armed: the session pauses next, or calls hva_guard_disarm().
 * Errors: the backend's (the guard is then disarmed), HV_E_IO (the guard is
 * gone), HV_E_TIMEOUT (the guard did not answer; it stays armed and will
 * resume the guest at the deadline).
 */
int hva_guard_pause(struct hva_guard *g, unsigned deadline_ms, bool *was_running) HV_WUR;

/*
 * Resume the guest (when the guard owns the pause) and disarm the guard.
 * Errors: the backend's, HV_E_IO, HV_E_TIMEOUT.
 */
int hva_guard_resume(struct hva_guard *g) HV_WUR;

/* Disarm without resuming (the session resumed the guest itself). */
int hva_guard_disarm(struct hva_guard *g) HV_WUR;

/*
 * Tell the guard that the session started (@on) or stopped QEMU's gdbstub,
 * so that it stops one left listening when the session dies.
 * Errors: HV_E_IO, HV_E_TIMEOUT (the guard is gone or hangs).
 */
int hva_guard_note_gdbstub(struct hva_guard *g, bool on) HV_WUR;

/* Whether the backend's guard issues the pause itself. */
bool hva_guard_owns_pause(const struct hva_guard *g);

/* The guard's process id (0 when there is none). */
pid_t hva_guard_pid(const struct hva_guard *g);

/*
 * Stop the guard (it resumes the guest first if it is still armed) and
 * free @g.  Accepts NULL.
 */
void hva_guard_stop(struct hva_guard *g);

/*
 * The pause record: one small file per domain, @dir/@uuid, written by an
 * armed guard and removed when it disarms.  It names the hvpatch and guard
 * processes (with their start times, so a reused pid is not mistaken for
 * them) and when the pause began.
 */
struct hva_pause_record {
	pid_t owner_pid, guard_pid;
	uint64_t owner_start, guard_start; /* /proc/PID/stat start times */
	uint64_t since_unix_ms;
	unsigned deadline_ms;
};

/*
 * Read the record of @uuid in @dir.  Returns 0 and fills *rec, HV_E_NOTFOUND
 * when there is none, HV_E_FORMAT when the file is not a record.
 */
int hva_pause_record_read(const char *dir, const char *uuid, struct hva_pause_record *rec) HV_WUR;
/* Remove the record of @uuid (a missing one is not an error). */
void hva_pause_record_remove(const char *dir, const char *uuid);
/* Whether process @pid still runs and is the one started at @start. */
bool hva_process_alive(pid_t pid, uint64_t start);
/* The start time of process @pid (0 if unknown). */
uint64_t hva_process_start(pid_t pid);

#endif
