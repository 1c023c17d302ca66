/* Guarded so the fuzz runner (tests/fuzz/run.sh) can build it without configure. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

/*
 * The host's side of the protocol: which guest messages it takes (hostile
 * input), and the status and request lines it sends.  The codec itself is
 * hv_wire.
 */
#include <stdlib.h>
#include <string.h>

#include "hvc.h"

int hvc_msg_parse(const char *line, size_t len, struct hvc_msg *out)
{
	struct hv_wire_head h;
	json_t *o = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	r = hv_wire_parse(line, len, HV_WIRE_FROM_AGENT, &o, &h);
	if (r < 0)
		goto out;
	out->id = h.id;
	if (!strcmp(h.type, "hello") || !strcmp(h.type, "pong")) {
		out->type = h.type[0] == 'h' ? HVC_MSG_HELLO : HVC_MSG_PONG;
		r = hv_wire_hello_read(o, &out->agent);
	} else if (!strcmp(h.type, "ack")) {
		out->type = HVC_MSG_ACK;
		r = hv_wire_ack_read(o, &h, &out->ok, out->text);
	} else if (!strcmp(h.type, "verify")) {
		out->type = HVC_MSG_VERIFY;
		r = hv_wire_get_str(o, "level", false, out->level, sizeof(out->level), "verify");
		if (r == 0)
			r = hv_wire_verify_read(o, &out->verify);
	} else if (!strcmp(h.type, "error")) {
		out->type = HVC_MSG_ERROR;
		r = hv_wire_get_str(o, "reason", true, out->text, sizeof(out->text), "error");
	} else {
		out->type = HVC_MSG_UNKNOWN;
		memcpy(out->text, h.type, sizeof(h.type));
	}
out:
	json_decref(o);
	if (r < 0)
		hvc_msg_clear(out);
	return r;
}

void hvc_msg_clear(struct hvc_msg *m)
{
	if (!m)
		return;
	hv_wire_verify_clear(&m->verify);
	memset(m, 0, sizeof(*m));
}

/* Copy the caller's string @s into @dst (@dstlen bytes); HV_E_INVAL when it does not fit. */
static int copy_text(char *dst, size_t dstlen, const char *s, const char *what)
{
	size_t n = s ? strlen(s) : 0;

	if (n >= dstlen)
		return hv_err(HV_E_INVAL, "the status %s is %zu characters, more than %zu", what, n,
			      dstlen - 1);
	memcpy(dst, s ? s : "", n + 1);
	return 0;
}

/* The caller's status as the codec's, checked against the protocol's rules. */
static int status_from_caller(const struct hvc_status *in, struct hv_wire_status *w)
{
	size_t i;
	int r;

	memset(w, 0, sizeof(*w));
	if (!in->level)
		return hv_err(HV_E_INVAL, "the status has no level");
	if (in->nfuncs > HV_WIRE_MAX_FUNCS || (in->nfuncs && !in->funcs))
		return hv_err(HV_E_INVAL, "the status lists %zu functions; at most %d are allowed",
			      in->nfuncs, HV_WIRE_MAX_FUNCS);
	r = copy_text(w->level, sizeof(w->level), in->level, "level");
	if (r == 0)
		r = copy_text(w->previous_level, sizeof(w->previous_level), in->previous_level,
			      "previous level");
	if (r == 0)
		r = copy_text(w->op, sizeof(w->op), in->op, "op");
	if (r < 0)
		return r;
	w->applied_at = in->applied_at;
	if (in->nfuncs) {
		w->funcs = calloc(in->nfuncs, sizeof(*w->funcs));
		if (!w->funcs)
			return hv_err(HV_E_NOMEM, "cannot build a status message: out of memory");
	}
	for (i = 0; i < in->nfuncs; i++) {
		const struct hvc_func *f = &in->funcs[i];
		struct hv_wire_func *g = &w->funcs[i];

		/* A name or byte string too long to copy stays empty: the check names it. */
		if (f->name && strlen(f->name) <= HV_WIRE_NAME_MAX)
			memcpy(g->name, f->name, strlen(f->name) + 1);
		if (f->expected && f->expected_len <= HV_WIRE_BYTES_MAX) {
			memcpy(g->expected, f->expected, f->expected_len);
			g->expected_len = f->expected_len;
		}
		g->site = f->site;
		g->offset = f->offset;
	}
	w->nfuncs = in->nfuncs;
	return hv_wire_status_check(w, HV_E_INVAL);
}

int hvc_status_line(uint64_t id, const struct hvc_status *st, char **out)
{
	struct hv_wire_status w;
	json_t *o = NULL;
	int r;

	*out = NULL;
	memset(&w, 0, sizeof(w));
	if (!id || id > HV_WIRE_ID_MAX) {
		r = hv_err(HV_E_INVAL, "status id %llu is outside 1..2^53-1",
			   (unsigned long long)id);
		goto out;
	}
	r = status_from_caller(st, &w);
	if (r < 0)
		goto out;
	o = hv_wire_head("status", id);
	if (!o) {
		r = hv_err(HV_E_NOMEM, "cannot build a status message: out of memory");
		goto out;
	}
	r = hv_wire_status_json(o, &w);
	if (r < 0)
		goto out;
	*out = hv_wire_line(o);
	o = NULL;
	if (!*out) {
		r = hv_err(HV_E_NOMEM, "cannot build a status message: out of memory");
	} else if (strlen(*out) >= HV_WIRE_LINE_MAX) {
		r = hv_err(HV_E_INVAL, "the status message is %zu bytes, more than the limit of %d",
			   strlen(*out), HV_WIRE_LINE_MAX - 1);
		free(*out);
		*out = NULL;
	}
out:
	json_decref(o);
	hv_wire_status_clear(&w);
	return r;
}

char *hvc_request_line(const char *type, uint64_t id)
{
	return hv_wire_request_line(type, id);
}
