/*
 * hvpatch-agent internals (prefix agt_): the protocol messages the agent
 * reads and writes (docs/AGENT-PROTOCOL.md), the tenant's state file, and
 * the agent's own verification of patched sites through /proc/kallsyms and
 * /proc/kcore.
 *
 * Everything the host sends is untrusted: every line is bounded
 * (HV_WIRE_LINE_MAX), every string, count and address is checked before use,
 * and a malformed message is an error (answered with an "error" message),
 * never a crash.  Functions return 0 or a negative HV_E_* code with one
 * sentence recorded by hv_err().
 */
#ifndef AGT_AGENT_H
#define AGT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hv_error.h"
#include "hv_wire.h"

#define AGT_PORT_DEFAULT     "/dev/virtio-ports/" HV_WIRE_CHANNEL
#define AGT_STATE_DEFAULT    "/run/hvpatch/status.json"
#define AGT_KALLSYMS_DEFAULT "/proc/kallsyms"
#define AGT_KCORE_DEFAULT    "/proc/kcore"

/* The agent's own limits; the protocol's are in hv_wire.h. */
#define AGT_STATE_MAX (1024 * 1024) /* bytes of the state file */
#define AGT_OUTQ_MAX  (256 * 1024)  /* bytes queued for the host */

/*
 * What the agent keeps in its state file: the status the host last
 * reported (status.known false when none since boot) and the agent's own
 * verification of it.
 */
struct agt_state {
	struct hv_wire_status status;
	struct hv_wire_verify verify;
	bool host_connected;
	int64_t host_last_seen; /* unix seconds; 0 never */
};

/* ---- agent_proto.c: host -> guest messages in, guest -> host messages out */

enum agt_msg_type {
	AGT_MSG_STATUS = 1,
	AGT_MSG_PING,
	AGT_MSG_VERIFY,
};

struct agt_msg {
	enum agt_msg_type type;
	uint64_t id;
	struct hv_wire_status status; /* AGT_MSG_STATUS only */
};

/*
 * Parse one host message (@len bytes, no newline).  On success *@out is
 * filled (free with agt_msg_clear()).  On failure returns HV_E_FORMAT
 * (malformed JSON, wrong types, out-of-range values), HV_E_UNSUPPORTED
 * (other protocol version) or HV_E_PROTO (unknown message type), and sets
 * *@id_out to the message's id when one could be read (else 0), so the
 * answer can name it.
 */
int agt_msg_parse(const char *line, size_t len, struct agt_msg *out, uint64_t *id_out) HV_WUR;
void agt_msg_clear(struct agt_msg *m);

/*
 * Builders of guest -> host messages (acks and errors: hv_wire_ack_line(),
 * hv_wire_error_line()).  Each returns a malloc'ed, NUL-terminated line
 * ending in "\n" (caller frees), or NULL when out of memory.  An @id of 0
 * is sent as null.  Every line stays under HV_WIRE_LINE_MAX: a
 * verification that would not fit keeps only its first reason, and if that
 * is not enough becomes an "error" message.
 */
char *agt_hello_line(const char *type, uint64_t id, const char *release, const char *boot_id,
		     const struct hv_wire_status *st);
char *agt_verify_line(uint64_t id, const struct hv_wire_status *st, const struct hv_wire_verify *v);

/* ---- agent_state.c: the state file and the tenant's view */

void agt_state_clear(struct agt_state *s);

/*
 * Write @s to @path atomically (temp file in the same directory, fsync,
 * rename, fsync of the directory), creating the directory if needed.
 * HV_E_IO names the path and errno.
 */
int agt_state_save(const char *path, const struct agt_state *s) HV_WUR;

/*
 * Read @path into *@s (cleared first; free with agt_state_clear()).
 * HV_E_NOTFOUND when the file does not exist, HV_E_FORMAT when it is
 * malformed or larger than AGT_STATE_MAX, HV_E_IO otherwise.
 */
int agt_state_load(const char *path, struct agt_state *s) HV_WUR;

/*
 * The tenant view: @s as one line of JSON (malloc'ed, no newline; caller
 * frees), with "age_s" computed against @now when a status is known.
 * NULL when out of memory.
 */
char *agt_state_json(const struct agt_state *s, int64_t now);

/* Print @s for people to @f. */
void agt_state_print(FILE *f, const struct agt_state *s, int64_t now);

/* ---- agent_verify.c: check each site from inside the guest */

/*
 * Check every function of @st: look it up in the kallsyms file @kallsyms
 * (a /proc/kallsyms-format text file) and read its site through the ELF
 * core file @kcore.  Fills *@out (cleared first; hv_wire_verify_clear() frees).
 * Problems with single sites are results (unreadable + reason), not
 * errors; returns HV_E_NOMEM only.
 */
int agt_verify_run(const struct hv_wire_status *st, const char *kallsyms, const char *kcore,
		   const char *trigger, struct hv_wire_verify *out) HV_WUR;

struct agt_kcore; /* an opened ELF core file */

/*
 * Open the ELF64 core file @path and read its program headers (bounded:
 * at most 65535 headers of 56 bytes).  HV_E_IO (open/read), HV_E_PERM,
 * HV_E_FORMAT (not an x86-64 ELF64 core, headers out of the file).
 * Free with agt_kcore_close() (accepts NULL).
 */
int agt_kcore_open(const char *path, struct agt_kcore **out) HV_WUR;
void agt_kcore_close(struct agt_kcore *k);

/*
 * Read @len bytes at kernel virtual address @va: the PT_LOAD segment that
 * holds all of [va, va+len) gives the file offset.  HV_E_RANGE when no
 * segment covers it, HV_E_IO on a failed or short read.
 */
int agt_kcore_read(struct agt_kcore *k, uint64_t va, void *buf, size_t len) HV_WUR;

/* ---- agent_daemon.c: the channel to the host */

struct agt_config {
	const char *port;
	const char *state_path;
	const char *kallsyms;
	const char *kcore;
	unsigned verify_interval_s; /* periodic self-check; 0 = never */
	unsigned poll_ms;	    /* how often to look for a host while none is connected */
	bool return_on_hangup;	    /* serve_fd returns when the host hangs up (sockets) */
};

/* Log a line to syslog (after agt_log_to_syslog()) or stderr. */
void agt_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void agt_log_to_syslog(void);

/* One conversation with a host over a file descriptor (see agent_daemon.c). */
struct agt_conn;

/*
 * Create the per-connection state for @cfg; *@out is freed with
 * agt_conn_free().  @st is the agent's current state, used and updated by
 * the connection (not owned).  HV_E_NOMEM.
 */
int agt_conn_new(const struct agt_config *cfg, struct agt_state *st, struct agt_conn **out) HV_WUR;
void agt_conn_free(struct agt_conn *c);

/*
 * Feed @n bytes read from the host.  Complete lines are handled (status,
 * ping, verify; errors answered); replies are queued.  Oversized lines are
 * dropped whole and answered with an error.  Returns 0, or HV_E_NOMEM.
 */
int agt_conn_input(struct agt_conn *c, const char *p, size_t n) HV_WUR;

/* Queue a hello for a new host connection. */
int agt_conn_hello(struct agt_conn *c) HV_WUR;

/* Run the periodic self-check now and queue its verify message. */
int agt_conn_periodic(struct agt_conn *c) HV_WUR;

/*
 * A status (or a verify request) leaves a self-check pending, run after the
 * ack went out: agt_conn_run_pending() runs it and queues its verify
 * message.  HV_E_NOMEM.
 */
bool agt_conn_verify_pending(const struct agt_conn *c);
int agt_conn_run_pending(struct agt_conn *c) HV_WUR;

/* Queued output: pointer and length; agt_conn_consumed() drops @n bytes. */
const char *agt_conn_output(const struct agt_conn *c, size_t *len);
void agt_conn_consumed(struct agt_conn *c, size_t n);
/* Forget queued output (the host went away). */
void agt_conn_reset(struct agt_conn *c);

/*
 * Serve the host over an open, non-blocking @fd until it fails, *@stop
 * becomes non-zero, or (with cfg->return_on_hangup) the host hangs up.
 * Used by the daemon for the virtio port (where a hang-up only means "no
 * host now") and by tests with a socket.  Returns 0 when stopped or hung
 * up, HV_E_IO when the fd failed.
 */
int agt_serve_fd(int fd, const struct agt_config *cfg, struct agt_state *st,
		 volatile int *stop) HV_WUR;

/* The daemon: open the port, serve it, reopen it when it goes away. */
int agt_daemon(const struct agt_config *cfg, volatile int *stop);

#endif
