/*
 * hv_wire: the agent protocol's codec (docs/AGENT-PROTOCOL.md), the one
 * place both sides take it from: the host's channel (hvpatch/agentchan,
 * hvc_) and the guest agent (guest-agent, agt_).  The limits, the message
 * envelope, the field readers and validators, and the reader and writer of
 * every message body are defined here once, so what one side writes is what
 * the other side accepts.
 *
 * Everything read is untrusted: a line is bounded (HV_WIRE_LINE_MAX) before
 * jansson sees it, then every field is checked for type, length, character
 * set and range.  Readers return 0, or HV_E_FORMAT (HV_E_UNSUPPORTED,
 * HV_E_NOMEM where said) with one sentence naming the field.  Writers
 * return a new jansson reference or a malloc'ed line, NULL when out of
 * memory.
 */
#ifndef HV_WIRE_H
#define HV_WIRE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv_error.h"

#define HV_WIRE_VERSION 1
#define HV_WIRE_CHANNEL "org.hvpatch.agent.0" /* the virtio-serial port's name */

/* The protocol's limits: one set, for both sides. */
#define HV_WIRE_LINE_MAX   65536 /* bytes per message, newline included */
#define HV_WIRE_MAX_FUNCS  256	 /* functions in one status or verification */
#define HV_WIRE_NAME_MAX   255	 /* characters of a function name */
#define HV_WIRE_MODULE_MAX 55	 /* characters of the MODULE in "MODULE:name" */
#define HV_WIRE_LEVEL_MAX  127	 /* characters of a level name */
#define HV_WIRE_BYTES_MAX  16	 /* expected or found bytes of one site */
#define HV_WIRE_TEXT_MAX   255	 /* characters of an error or a reason */
#define HV_WIRE_WORD_MAX   31	 /* characters of a type, op, trigger, result, symbol */
#define HV_WIRE_OFFSET_MAX 64	 /* a site minus its function's entry */
#define HV_WIRE_ID_MAX	   9007199254740991ULL /* 2^53 - 1: exact in every JSON reader */
#define HV_WIRE_TIME_MAX   (INT64_C(1) << 40)  /* unix seconds */

/*
 * The sides once kept copies of these limits that nothing compared; with
 * this header included, defining or using one is a compile error.
 */
#pragma GCC poison AGT_PROTO_VERSION AGT_LINE_MAX AGT_MAX_FUNCS AGT_NAME_MAX AGT_LEVEL_MAX
#pragma GCC poison AGT_BYTES_MAX AGT_REASON_MAX AGT_ID_MAX
#pragma GCC poison HVC_PROTO_VERSION HVC_LINE_MAX HVC_MAX_FUNCS HVC_NAME_MAX HVC_LEVEL_MAX
#pragma GCC poison HVC_BYTES_MAX HVC_TEXT_MAX HVC_ID_MAX

/* ---- the message bodies */

/* One patched function of a status. */
struct hv_wire_func {
	char name[HV_WIRE_NAME_MAX +
		  1];	 /* 1..255 of [A-Za-z0-9_.$], "MODULE:" first for a module's */
	uint64_t site;	 /* kernel virtual address of the redirect site */
	uint32_t offset; /* site minus the function's entry (4 after endbr64) */
	uint8_t expected[HV_WIRE_BYTES_MAX];
	size_t expected_len; /* 1..HV_WIRE_BYTES_MAX */
};

/* A status: the patch level after an apply or a revert (host -> guest). */
struct hv_wire_status {
	bool known;				    /* not on the wire: a status was received */
	uint64_t id;				    /* the message id */
	char level[HV_WIRE_LEVEL_MAX + 1];	    /* "" when no patch is installed */
	char previous_level[HV_WIRE_LEVEL_MAX + 1]; /* "" when none */
	char op[HV_WIRE_WORD_MAX + 1];		    /* "apply", "revert" or "" */
	int64_t applied_at;			    /* unix seconds (host clock); 0 unknown */
	int64_t received_at; /* not on the wire: unix seconds (receiver's clock) */
	size_t nfuncs;
	struct hv_wire_func *funcs; /* owned; hv_wire_status_clear() frees */
};

enum hv_wire_result {
	HV_WIRE_UNCHECKED = 0,
	HV_WIRE_PRESENT,    /* the site holds the expected bytes */
	HV_WIRE_MISMATCH,   /* it holds found[] instead: drift */
	HV_WIRE_UNREADABLE, /* the agent could not read it (reason) */
};

enum hv_wire_sym {
	HV_WIRE_SYM_UNKNOWN = 0,
	HV_WIRE_SYM_AGREES,	/* the guest's kallsyms has the function at site - offset */
	HV_WIRE_SYM_DIFFERS,	/* ... at sym_addr instead */
	HV_WIRE_SYM_MISSING,	/* ... not at all */
	HV_WIRE_SYM_UNREADABLE, /* the agent could not read kallsyms */
};

/* The agent's check of one function. */
struct hv_wire_check {
	char name[HV_WIRE_NAME_MAX + 1];
	uint64_t site;
	enum hv_wire_result result;
	uint8_t found[HV_WIRE_BYTES_MAX];
	size_t found_len;
	char reason[HV_WIRE_TEXT_MAX + 1];
	enum hv_wire_sym sym;
	uint64_t sym_addr; /* when HV_WIRE_SYM_AGREES or HV_WIRE_SYM_DIFFERS */
};

/* The agent's check of every function of a status (guest -> host "verify"). */
struct hv_wire_verify {
	int64_t at; /* unix seconds (guest clock); 0 = never run */
	char trigger[HV_WIRE_WORD_MAX + 1];
	size_t n;
	struct hv_wire_check *checks; /* owned; hv_wire_verify_clear() frees */
	unsigned npresent, nmismatch, nunreadable;
};

/* What the agent says about itself ("hello" and "pong"). */
struct hv_wire_hello {
	char agent_version[64];
	char kernel_release[65]; /* the guest's uname -r */
	char boot_id[40];
	bool level_known;
	char level[HV_WIRE_LEVEL_MAX + 1]; /* the level the agent last heard of */
};

/* ---- the envelope: {"v":1,"type":...,"id":...} */

enum hv_wire_from {
	HV_WIRE_FROM_HOST,  /* host -> guest: the id is required */
	HV_WIRE_FROM_AGENT, /* guest -> host: the id may be null */
};

struct hv_wire_head {
	char type[HV_WIRE_WORD_MAX + 1];
	uint64_t id; /* 1..HV_WIRE_ID_MAX, or 0 when null, absent or unreadable */
};

/*
 * Parse one line of @len bytes (no newline) sent from @from: less than
 * HV_WIRE_LINE_MAX bytes of JSON, an object without duplicate keys, "v"
 * equal to HV_WIRE_VERSION, a "type" string and an "id".  On success *@obj
 * is the object (the caller json_decref()s it) and *@h its envelope.  The
 * id is put in @h as soon as it can be read, also on failure, so that an
 * answer can name the message.  HV_E_FORMAT; HV_E_UNSUPPORTED for another
 * version.
 */
int hv_wire_parse(const char *line, size_t len, enum hv_wire_from from, json_t **obj,
		  struct hv_wire_head *h) HV_WUR;

/* {"v":1,"type":@type,"id":@id}, with id null for 0 (new reference). */
json_t *hv_wire_head(const char *type, uint64_t id);

/* @o (stolen; may be NULL) as one compact line ending in "\n" (malloc'ed). */
char *hv_wire_line(json_t *o);

/* A message of only its envelope ("ping", the "verify" request) as a line. */
char *hv_wire_request_line(const char *type, uint64_t id);

/* ---- field readers: member @key of object @o, described as @what in errors */

/*
 * A string of printable ASCII shorter than @dstlen into @dst.  Missing or
 * null: "" unless @required.
 */
int hv_wire_get_str(json_t *o, const char *key, bool required, char *dst, size_t dstlen,
		    const char *what) HV_WUR;

/* An integer in [@min, @max] into *@out; missing or null: @dflt unless @required. */
int hv_wire_get_int(json_t *o, const char *key, bool required, int64_t min, int64_t max,
		    int64_t dflt, int64_t *out, const char *what) HV_WUR;

/* An address: "0x" and 1 to 16 hex digits.  Missing or null: 0 unless @required. */
int hv_wire_get_addr(json_t *o, const char *key, bool required, uint64_t *out,
		     const char *what) HV_WUR;

/*
 * A byte string: 1 to HV_WIRE_BYTES_MAX bytes in hex, into @out (room for
 * HV_WIRE_BYTES_MAX); *@n gets the count.  Missing or null: 0 bytes
 * unless @required.
 */
int hv_wire_get_bytes(json_t *o, const char *key, bool required, uint8_t *out, size_t *n,
		      const char *what) HV_WUR;

/* ---- validators */

/* Are the @n bytes at @s printable ASCII (0x20..0x7e)? */
bool hv_wire_printable(const char *s, size_t n);

/* Is @s a function name the protocol carries: 1..255 of [A-Za-z0-9_.$],
 * or "MODULE:name" with MODULE 1..55 of [A-Za-z0-9_-]? */
bool hv_wire_symbol_ok(const char *s);

/* Is @op one a status may carry: "", "apply" or "revert"? */
bool hv_wire_op_ok(const char *op);

/* Replace every byte of @s that is not printable ASCII with '?'. */
void hv_wire_clean(char *s);

/*
 * Check a status against the protocol's rules: level names, op, time,
 * count and every function (symbol name, 1..16 expected bytes, offset up
 * to 64).  Returns 0, or @code (HV_E_INVAL for a caller's status,
 * HV_E_FORMAT for one received) with a sentence naming the field.
 */
int hv_wire_status_check(const struct hv_wire_status *st, int code) HV_WUR;

/* ---- the bodies: writers add fields to an object, readers fill a struct */

/* Free what @st owns and zero it; accepts NULL. */
void hv_wire_status_clear(struct hv_wire_status *st);

/* Deep copy; *@dst is cleared first.  HV_E_NOMEM. */
int hv_wire_status_copy(struct hv_wire_status *dst, const struct hv_wire_status *src) HV_WUR;

/* Add level, previous_level, op, applied_at and functions to @o.  HV_E_NOMEM. */
int hv_wire_status_json(json_t *o, const struct hv_wire_status *st) HV_WUR;

/*
 * Read the status fields of @o into *@st (cleared first; free with
 * hv_wire_status_clear()) and check them (hv_wire_status_check()); sets
 * known.  HV_E_FORMAT, HV_E_NOMEM.
 */
int hv_wire_status_read(json_t *o, struct hv_wire_status *st) HV_WUR;

void hv_wire_verify_clear(struct hv_wire_verify *v);

/*
 * One check as an object: name, site, result, symbol, and symbol_address,
 * found and reason where they apply (new reference).
 */
json_t *hv_wire_check_json(const struct hv_wire_check *c);

/* The verification as an object of at, trigger, counts and functions (new reference). */
json_t *hv_wire_verify_json(const struct hv_wire_verify *v);

/*
 * Read a verification from @o into *@v (cleared first; free with
 * hv_wire_verify_clear()): at most HV_WIRE_MAX_FUNCS functions, each with
 * a symbol name, an address, a known result (a mismatch with its found
 * bytes), and counts that agree with the list.  HV_E_FORMAT, HV_E_NOMEM.
 */
int hv_wire_verify_read(json_t *o, struct hv_wire_verify *v) HV_WUR;

/* agent_version, kernel_release, boot_id and level (null when not known); new reference. */
json_t *hv_wire_hello_json(const struct hv_wire_hello *h);

/* Read a hello or pong body; the kernel release must not be empty.  HV_E_FORMAT. */
int hv_wire_hello_read(json_t *o, struct hv_wire_hello *h) HV_WUR;

/* "ack" and "error" lines; texts are cut to HV_WIRE_TEXT_MAX printable ASCII. */
char *hv_wire_ack_line(uint64_t id, bool ok, const char *error);
char *hv_wire_error_line(uint64_t id, const char *reason);

/*
 * Read an ack body: "ok" (a boolean) into *@ok and the optional "error"
 * into @error (HV_WIRE_TEXT_MAX + 1 bytes); an ack must name its message
 * (@h->id).  HV_E_FORMAT.
 */
int hv_wire_ack_read(json_t *o, const struct hv_wire_head *h, bool *ok, char *error) HV_WUR;

/* "present", "mismatch", "unreadable", "unchecked". */
const char *hv_wire_result_name(enum hv_wire_result r);
/* "agrees", "differs", "missing", "unreadable", "unknown". */
const char *hv_wire_sym_name(enum hv_wire_sym s);

#endif
