/*
 * hvc: the host's side of the channel to hvpatch-agent inside a guest
 * (docs/AGENT-PROTOCOL.md; the codec and its limits are hv_wire.h).
 * Newline-delimited JSON over the unix socket that libvirt binds for the
 * domain's virtio-serial channel org.hvpatch.agent.0 (struct
 * hva_info.agent_socket).
 *
 * The agent runs inside a tenant's VM, so everything it says is untrusted:
 * lines are bounded (HV_WIRE_LINE_MAX), every exchange has a deadline and a
 * budget of bytes and messages, every field is checked.  An agent that is
 * silent, slow, floods the channel, sends garbage or lies never blocks the
 * caller beyond its timeout; what it did wrong is reported in
 * hvc_report.misbehaviour ("agent misbehaved: ...").
 *
 * Typical use by the apply engine after every apply or revert:
 *
 *	struct hvc_report rep;
 *	if (hvc_notify(info.agent_socket, &status, 5000, &rep) < 0)
 *		warn("%s", hv_err_last()->msg);   // the apply still succeeded
 *	record(rep.acked, rep.verified, rep.nmismatch, rep.misbehaviour);
 *	hvc_report_clear(&rep);
 */
#ifndef HVC_H
#define HVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv_error.h"
#include "hv_wire.h"

/* What one exchange (open, send_status) reads at most before giving up. */
#define HVC_EXCHANGE_MAX_BYTES (4u * 1024 * 1024)
#define HVC_EXCHANGE_MAX_MSGS  1024

/* One patched function, as the caller describes it (pointers stay the caller's). */
struct hvc_func {
	const char *name;	 /* kernel symbol, e.g. "cmdline_proc_show" */
	uint64_t site;		 /* kernel virtual address of the redirect site */
	uint32_t offset;	 /* site minus the function's entry (0, or 4 after endbr64) */
	const uint8_t *expected; /* what the site holds now (e.g. e9 rel32) */
	size_t expected_len;	 /* 1..HV_WIRE_BYTES_MAX */
};

/* The guest's patch level after an apply or revert. */
struct hvc_status {
	const char *level;	    /* "" when nothing is applied any more */
	const char *previous_level; /* NULL or "" when none */
	const char *op;		    /* "apply", "revert" or NULL */
	int64_t applied_at;	    /* unix seconds; 0 unknown */
	size_t nfuncs;
	const struct hvc_func *funcs;
};

/* ---- messages (hvc_msg.c) */

enum hvc_msg_type {
	HVC_MSG_UNKNOWN = 0, /* a type this host does not know: ignore it */
	HVC_MSG_HELLO,
	HVC_MSG_PONG,
	HVC_MSG_ACK,
	HVC_MSG_VERIFY,
	HVC_MSG_ERROR,
};

/* One parsed guest -> host message. */
struct hvc_msg {
	enum hvc_msg_type type;
	uint64_t id;			   /* 0 when null or absent */
	struct hv_wire_hello agent;	   /* hello, pong */
	bool ok;			   /* ack */
	char text[HV_WIRE_TEXT_MAX + 1];   /* ack "error", error "reason"; unknown: its type */
	char level[HV_WIRE_LEVEL_MAX + 1]; /* verify */
	struct hv_wire_verify verify;	   /* verify; owned, hvc_msg_clear() frees */
};

/*
 * Parse one guest message of @len bytes (no newline).  On success *@out is
 * filled; free it with hvc_msg_clear().  Errors: HV_E_FORMAT (not JSON, a
 * field missing, of the wrong type, too long, out of range, or counts that
 * disagree), HV_E_UNSUPPORTED (another protocol version), HV_E_NOMEM.
 * An unknown "type" is not an error: out->type is HVC_MSG_UNKNOWN.
 */
int hvc_msg_parse(const char *line, size_t len, struct hvc_msg *out) HV_WUR;
void hvc_msg_clear(struct hvc_msg *m);

/*
 * The host -> guest "status" message for @st with @id, as a malloc'ed line
 * ending in "\n" (*@out; caller frees).  HV_E_INVAL when @st breaks the
 * limits (names, bytes, counts) with a sentence naming the field;
 * HV_E_NOMEM.
 */
int hvc_status_line(uint64_t id, const struct hvc_status *st, char **out) HV_WUR;

/* "ping" or "verify" request lines; NULL when out of memory. */
char *hvc_request_line(const char *type, uint64_t id);

/* ---- sessions (hvc_client.c) */

/* The outcome of one status exchange; always filled, also on failure. */
struct hvc_report {
	bool hello; /* the agent identified itself */
	struct hv_wire_hello agent;
	uint64_t status_id;
	bool acked;				/* the agent accepted the status */
	bool rejected;				/* it answered with an error */
	char agent_error[HV_WIRE_TEXT_MAX + 1]; /* its error text, when rejected */
	bool verified;				/* its verification arrived */
	size_t nsites;
	struct hv_wire_check *sites; /* owned; hvc_report_clear() frees */
	unsigned npresent, nmismatch, nunreadable;
	bool misbehaved;
	char misbehaviour[512]; /* "agent misbehaved: ..." when misbehaved */
	unsigned messages;	/* messages read in this exchange */
	uint64_t bytes;		/* bytes read in this exchange */
	uint64_t elapsed_ms;
};

void hvc_report_clear(struct hvc_report *r);

/*
 * @rep as one line of compact JSON (malloc'ed, no newline; caller frees),
 * with "ok" (@rc == 0) and "error" (this thread's last error when @rc < 0,
 * else null), for the CLI, the ledger and logs.  NULL when out of memory.
 * Keys: ok, status_id, acked, rejected, agent_error, verified, present,
 * mismatch, unreadable, agent, functions[] (as on the wire:
 * hv_wire_check_json()), misbehaved, misbehaviour, elapsed_ms,
 * error.
 */
char *hvc_report_json(const struct hvc_report *rep, int rc);

/* @a as compact JSON (agent_version, kernel_release, boot_id, level); caller frees. */
char *hvc_agent_json(const struct hv_wire_hello *a);

struct hvc_session;

/*
 * Connect to the agent socket @socket_path, ask the agent who it is (ping)
 * and wait up to @timeout_ms for its hello or pong.  *@out owns the
 * connection; close it with hvc_session_close().  Errors: HV_E_INVAL (bad
 * path), HV_E_NOTFOUND (no socket), HV_E_IO (connect failed, channel
 * closed), HV_E_TIMEOUT (no agent answered: is hvpatch-agent running?),
 * HV_E_PROTO (the agent misbehaved so badly the session is useless).
 */
int hvc_session_open(const char *socket_path, unsigned timeout_ms, struct hvc_session **out) HV_WUR;

/* The agent's hello; valid while the session lives. */
const struct hv_wire_hello *hvc_session_agent(const struct hvc_session *s);

/* What the agent did wrong so far ("" when nothing); valid while the session lives. */
const char *hvc_session_misbehaviour(const struct hvc_session *s);

/*
 * Send @st and wait up to @timeout_ms for the agent's ack and verification.
 * *@out is cleared and filled with everything learnt (free with
 * hvc_report_clear()), also on failure.  Returns 0 when the agent
 * acknowledged the status (out->verified says whether its verification
 * arrived in time); HV_E_TIMEOUT (no ack in time), HV_E_PROTO (the agent
 * rejected the status or misbehaved beyond the exchange's budget), HV_E_IO
 * (the channel closed), HV_E_INVAL (@st breaks the limits), HV_E_STATE (the
 * session failed earlier).
 */
int hvc_send_status(struct hvc_session *s, const struct hvc_status *st, unsigned timeout_ms,
		    struct hvc_report *out) HV_WUR;

/*
 * Ask the agent to check its sites now (drift detection, e.g. for
 * "hvpatch status") and wait up to @timeout_ms for its verification.
 * @st is what the host believes is installed: the verification must list
 * exactly its functions and sites, else it is noted as misbehaviour and not
 * used.  *@out as for hvc_send_status() (acked stays false: nothing to
 * acknowledge).
 * Returns 0 when the verification arrived; HV_E_TIMEOUT, HV_E_PROTO (the
 * agent answered with an error, e.g. it knows no status), HV_E_IO,
 * HV_E_STATE.
 */
int hvc_request_verify(struct hvc_session *s, const struct hvc_status *st, unsigned timeout_ms,
		       struct hvc_report *out) HV_WUR;

/* Close the connection and free @s.  Accepts NULL. */
void hvc_session_close(struct hvc_session *s);

/*
 * One call for the apply engine: open, send @st, close, all within
 * @timeout_ms.  *@out is always filled (free with hvc_report_clear());
 * returns what hvc_session_open() or hvc_send_status() returned.
 */
int hvc_notify(const char *socket_path, const struct hvc_status *st, unsigned timeout_ms,
	       struct hvc_report *out) HV_WUR;

/* Like hvc_notify(), but ask for a verification only (hvc_request_verify()). */
int hvc_check(const char *socket_path, const struct hvc_status *st, unsigned timeout_ms,
	      struct hvc_report *out) HV_WUR;

#endif
