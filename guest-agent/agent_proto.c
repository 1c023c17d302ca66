/* Guarded so the fuzz runner (tests/fuzz/run.sh) can build it without configure. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

/*
 * The agent's side of the protocol: which host messages it takes, and the
 * hello and verify messages it sends.  The codec itself is hv_wire.
 */
#include <stdlib.h>
#include <string.h>

#include "agent.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

int agt_msg_parse(const char *line, size_t len, struct agt_msg *out, uint64_t *id_out)
{
	enum agt_msg_type type = 0;
	struct hv_wire_head h;
	json_t *o = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	r = hv_wire_parse(line, len, HV_WIRE_FROM_HOST, &o, &h);
	*id_out = h.id;
	if (r == 0)
		type = !strcmp(h.type, "ping")	   ? AGT_MSG_PING
		       : !strcmp(h.type, "verify") ? AGT_MSG_VERIFY
		       : !strcmp(h.type, "status") ? AGT_MSG_STATUS
						   : 0;
	if (r == 0 && !type)
		r = hv_err(HV_E_PROTO, "the host message type '%s' is unknown to this agent",
			   h.type);
	/* A status that fails to read leaves out->status cleared. */
	if (r == 0 && type == AGT_MSG_STATUS)
		r = hv_wire_status_read(o, &out->status);
	if (r == 0) {
		out->type = type;
		out->id = h.id;
		out->status.id = h.id;
	}
	json_decref(o);
	return r;
}

void agt_msg_clear(struct agt_msg *m)
{
	if (m) {
		hv_wire_status_clear(&m->status);
		m->type = 0;
		m->id = 0;
	}
}

char *agt_hello_line(const char *type, uint64_t id, const char *release, const char *boot_id,
		     const struct hv_wire_status *st)
{
	struct hv_wire_hello h;
	json_t *o = hv_wire_head(type, id);

	memset(&h, 0, sizeof(h));
	snprintf(h.agent_version, sizeof(h.agent_version), "%s", PACKAGE_VERSION);
	snprintf(h.kernel_release, sizeof(h.kernel_release), "%s", release);
	snprintf(h.boot_id, sizeof(h.boot_id), "%s", boot_id);
	h.level_known = st && st->known;
	if (h.level_known)
		memcpy(h.level, st->level, sizeof(h.level));
	if (o && json_object_update_new(o, hv_wire_hello_json(&h))) {
		json_decref(o);
		o = NULL;
	}
	return hv_wire_line(o);
}

static char *verify_line(uint64_t id, const struct hv_wire_status *st,
			 const struct hv_wire_verify *v)
{
	json_t *o = hv_wire_head("verify", id), *vj = hv_wire_verify_json(v);

	if (!o || !vj || json_object_set_new(o, "level", json_string(st->level)) ||
	    json_object_update(o, vj)) {
		json_decref(o);
		o = NULL;
	}
	json_decref(vj);
	return hv_wire_line(o);
}

char *agt_verify_line(uint64_t id, const struct hv_wire_status *st, const struct hv_wire_verify *v)
{
	struct hv_wire_verify slim = *v;
	char *line = verify_line(id, st, v), msg[128];
	size_t i;

	if (!line || strlen(line) < HV_WIRE_LINE_MAX)
		return line;
	/* Too long for one message: keep only the first reason (they are
	 * usually all the same), then give up with an error. */
	free(line);
	slim.checks = malloc(v->n * sizeof(*v->checks));
	if (!slim.checks)
		return NULL;
	memcpy(slim.checks, v->checks, v->n * sizeof(*v->checks));
	for (i = 1; i < slim.n; i++)
		slim.checks[i].reason[0] = 0;
	line = verify_line(id, st, &slim);
	free(slim.checks);
	if (!line || strlen(line) < HV_WIRE_LINE_MAX)
		return line;
	free(line);
	snprintf(msg, sizeof(msg),
		 "the verification of %zu functions does not fit in one %d-byte message", v->n,
		 HV_WIRE_LINE_MAX);
	return hv_wire_error_line(id, msg);
}
