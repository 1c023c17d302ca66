/*
 * JSON helpers shared by the agent's message and state-file code (jansson).
 * Every getter validates type, length and character set, and records an
 * HV_E_FORMAT sentence naming the field on failure.
 */
#ifndef AGT_AGENT_JSON_H
#define AGT_AGENT_JSON_H

#include <jansson.h>

#include "agent.h"

/*
 * Copy the string member @key of @o into @dst (@dstlen bytes with the NUL).
 * Missing: "" when !@required, else HV_E_FORMAT.  Only printable ASCII
 * (0x20..0x7e) is accepted; longer than @dstlen-1 is HV_E_FORMAT.
 */
int agt_json_str(json_t *o, const char *key, bool required, char *dst, size_t dstlen,
		 const char *what) HV_WUR;

/* Integer member @key in [@min, @max]; missing gives @dflt unless @required. */
int agt_json_int(json_t *o, const char *key, bool required, int64_t min, int64_t max, int64_t dflt,
		 int64_t *out, const char *what) HV_WUR;

/* "0x" followed by 1..16 hex digits. */
int agt_parse_addr(const char *s, uint64_t *out) HV_WUR;

/* An even number (2..2*@max) of hex digits into @out; *@n gets the count. */
int agt_parse_hex(const char *s, uint8_t *out, size_t max, size_t *n) HV_WUR;

/*
 * Read the status fields (level, previous_level, op, applied_at, functions)
 * of object @o into *@st (cleared first).  HV_E_FORMAT names the field.
 */
int agt_status_from_json(json_t *o, struct agt_status *st) HV_WUR;

/* Add the status fields of @st to @o; HV_E_NOMEM. */
int agt_status_to_json(json_t *o, const struct agt_status *st) HV_WUR;

/* The verify result as an object (new reference) or NULL when out of memory. */
json_t *agt_verify_to_json(const struct agt_verify *v);

/* Set *@s from object @o ("0x..." string); "" for 0. */
json_t *agt_json_addr(uint64_t a);

#endif
