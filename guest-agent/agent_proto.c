/* Guarded so the fuzz runner (tests/fuzz/run.sh) can build it without configure. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

/* Host -> guest message parsing and guest -> host message building. */
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "agent_json.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

static bool printable_char(char c)
{
	return (unsigned char)c >= 0x20 && (unsigned char)c <= 0x7e;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if (!printable_char(*s))
			return false;
	return true;
}

int agt_json_str(json_t *o, const char *key, bool required, char *dst, size_t dstlen,
		 const char *what)
{
	json_t *v = json_object_get(o, key);
	const char *s;
	size_t n;

	if (!v || json_is_null(v)) {
		if (required)
			return hv_err(HV_E_FORMAT, "the %s has no \"%s\" field", what, key);
		dst[0] = 0;
		return 0;
	}
	if (!json_is_string(v))
		return hv_err(HV_E_FORMAT, "the %s field \"%s\" is not a string", what, key);
	s = json_string_value(v);
	n = json_string_length(v);
	if (n >= dstlen)
		return hv_err(HV_E_FORMAT, "the %s field \"%s\" is %zu bytes long, more than %zu",
			      what, key, n, dstlen - 1);
	if (strlen(s) != n || !printable(s))
		return hv_err(HV_E_FORMAT,
			      "the %s field \"%s\" holds characters other than printable ASCII",
			      what, key);
	memcpy(dst, s, n + 1);
	return 0;
}

int agt_json_int(json_t *o, const char *key, bool required, int64_t min, int64_t max, int64_t dflt,
		 int64_t *out, const char *what)
{
	json_t *v = json_object_get(o, key);
	json_int_t i;

	if (!v || json_is_null(v)) {
		if (required)
			return hv_err(HV_E_FORMAT, "the %s has no \"%s\" field", what, key);
		*out = dflt;
		return 0;
	}
	if (!json_is_integer(v))
		return hv_err(HV_E_FORMAT, "the %s field \"%s\" is not an integer", what, key);
	i = json_integer_value(v);
	if (i < min || i > max)
		return hv_err(HV_E_FORMAT, "the %s field \"%s\" (%lld) is outside %lld..%lld", what,
			      key, (long long)i, (long long)min, (long long)max);
	*out = i;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int agt_parse_addr(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t i, n;

	if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return hv_err(HV_E_FORMAT, "address '%.40s' does not start with 0x", s);
	n = strlen(s + 2);
	if (n < 1 || n > 16)
		return hv_err(HV_E_FORMAT, "address '%.40s' must have 1 to 16 hex digits", s);
	for (i = 0; i < n; i++) {
		int d = hexval(s[2 + i]);

		if (d < 0)
			return hv_err(HV_E_FORMAT, "address '%.40s' is not hexadecimal", s);
		v = (v << 4) | (uint64_t)d;
	}
	*out = v;
	return 0;
}

int agt_parse_hex(const char *s, uint8_t *out, size_t max, size_t *n)
{
	size_t len = strlen(s), i;

	if (len == 0 || len % 2 || len / 2 > max)
		return hv_err(HV_E_FORMAT,
			      "byte string '%.40s' must be an even number of hex digits, 2 to %zu",
			      s, 2 * max);
	for (i = 0; i < len / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return hv_err(HV_E_FORMAT, "byte string '%.40s' is not hexadecimal", s);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*n = len / 2;
	return 0;
}

void agt_hex(char *out, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = 0;
}

json_t *agt_json_addr(uint64_t a)
{
	char s[24];

	snprintf(s, sizeof(s), "0x%016llx", (unsigned long long)a);
	return json_string(s);
}

static bool symbol_chars(const char *s)
{
	for (; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '$'))
			return false;
	}
	return true;
}

static int func_from_json(json_t *f, size_t i, struct agt_func *out)
{
	char addr[24], hex[2 * AGT_BYTES_MAX + 1];
	int64_t off;
	int r;

	if (!json_is_object(f))
		return hv_err(HV_E_FORMAT, "function %zu of the status is not an object", i);
	r = agt_json_str(f, "name", true, out->name, sizeof(out->name), "function entry");
	if (r == 0 && (!out->name[0] || !symbol_chars(out->name)))
		r = hv_err(HV_E_FORMAT,
			   "function %zu has an empty name or one with characters a kernel "
			   "symbol cannot hold",
			   i);
	if (r == 0)
		r = agt_json_str(f, "site", true, addr, sizeof(addr), "function entry");
	if (r == 0)
		r = agt_parse_addr(addr, &out->site);
	if (r == 0)
		r = agt_json_int(f, "offset", false, 0, 64, 0, &off, "function entry");
	if (r == 0)
		out->offset = (uint32_t)off;
	if (r == 0)
		r = agt_json_str(f, "expected", true, hex, sizeof(hex), "function entry");
	if (r == 0)
		r = agt_parse_hex(hex, out->expected, AGT_BYTES_MAX, &out->expected_len);
	if (r < 0)
		hv_err_prefix("function %zu ('%.60s')", i, out->name);
	return r;
}

int agt_status_from_json(json_t *o, struct agt_status *st)
{
	json_t *fa;
	int64_t at;
	size_t i, n;
	int r;

	agt_status_clear(st);
	r = agt_json_str(o, "level", true, st->level, sizeof(st->level), "status");
	if (r == 0)
		r = agt_json_str(o, "previous_level", false, st->previous_level,
				 sizeof(st->previous_level), "status");
	if (r == 0)
		r = agt_json_str(o, "op", false, st->op, sizeof(st->op), "status");
	if (r == 0 && st->op[0] && strcmp(st->op, "apply") && strcmp(st->op, "revert"))
		r = hv_err(HV_E_FORMAT, "the status op '%s' is neither apply nor revert", st->op);
	if (r == 0)
		r = agt_json_int(o, "applied_at", false, 0, INT64_C(1) << 40, 0, &at, "status");
	if (r < 0)
		goto out;
	st->applied_at = at;
	fa = json_object_get(o, "functions");
	if (!fa || !json_is_array(fa)) {
		r = hv_err(HV_E_FORMAT, "the status has no \"functions\" array");
		goto out;
	}
	n = json_array_size(fa);
	if (n > AGT_MAX_FUNCS) {
		r = hv_err(HV_E_FORMAT, "the status lists %zu functions, more than the limit of %d",
			   n, AGT_MAX_FUNCS);
		goto out;
	}
	if (n) {
		st->funcs = calloc(n, sizeof(*st->funcs));
		if (!st->funcs) {
			r = hv_err(HV_E_NOMEM, "cannot hold %zu functions: out of memory", n);
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		r = func_from_json(json_array_get(fa, i), i, &st->funcs[i]);
		if (r < 0)
			goto out;
		st->nfuncs = i + 1;
	}
	st->known = true;
out:
	if (r < 0)
		agt_status_clear(st);
	return r;
}

int agt_status_to_json(json_t *o, const struct agt_status *st)
{
	json_t *fa = json_array();
	char hex[2 * AGT_BYTES_MAX + 1];
	size_t i;
	int bad = !fa;

	bad |= json_object_set_new(o, "level", json_string(st->level));
	bad |= json_object_set_new(o, "previous_level", json_string(st->previous_level));
	bad |= json_object_set_new(o, "op", json_string(st->op));
	bad |= json_object_set_new(o, "applied_at", json_integer(st->applied_at));
	for (i = 0; fa && i < st->nfuncs; i++) {
		const struct agt_func *f = &st->funcs[i];

		agt_hex(hex, f->expected, f->expected_len);
		bad |= json_array_append_new(fa, json_pack("{s:s,s:o,s:I,s:s}", "name", f->name,
							   "site", agt_json_addr(f->site), "offset",
							   (json_int_t)f->offset, "expected", hex));
	}
	bad |= json_object_set_new(o, "functions", fa);
	return bad ? hv_err(HV_E_NOMEM, "cannot build the status JSON: out of memory") : 0;
}

const char *agt_result_name(enum agt_result r)
{
	switch (r) {
	case AGT_PRESENT:
		return "present";
	case AGT_MISMATCH:
		return "mismatch";
	case AGT_UNREADABLE:
		break;
	}
	return "unreadable";
}

const char *agt_sym_name(enum agt_sym s)
{
	switch (s) {
	case AGT_SYM_AGREES:
		return "agrees";
	case AGT_SYM_DIFFERS:
		return "differs";
	case AGT_SYM_MISSING:
		return "missing";
	case AGT_SYM_UNREADABLE:
		break;
	}
	return "unreadable";
}

json_t *agt_verify_to_json(const struct agt_verify *v)
{
	json_t *o = json_object(), *fa = json_array();
	char hex[2 * AGT_BYTES_MAX + 1];
	size_t i;
	int bad = !o || !fa;

	for (i = 0; !bad && i < v->n; i++) {
		const struct agt_check *c = &v->checks[i];
		json_t *f = json_pack("{s:s,s:o,s:s,s:s}", "name", c->name, "site",
				      agt_json_addr(c->site), "result", agt_result_name(c->result),
				      "symbol", agt_sym_name(c->sym));

		bad |= !f;
		if (f && (c->sym == AGT_SYM_AGREES || c->sym == AGT_SYM_DIFFERS))
			bad |= json_object_set_new(f, "symbol_address", agt_json_addr(c->sym_addr));
		if (f && c->result == AGT_MISMATCH) {
			agt_hex(hex, c->found, c->found_len);
			bad |= json_object_set_new(f, "found", json_string(hex));
		}
		if (f && c->reason[0])
			bad |= json_object_set_new(f, "reason", json_string(c->reason));
		bad |= json_array_append_new(fa, f);
	}
	if (!bad) {
		bad |= json_object_set_new(o, "at", json_integer(v->at));
		bad |= json_object_set_new(o, "trigger", json_string(v->trigger));
		bad |= json_object_set_new(o, "present", json_integer(v->npresent));
		bad |= json_object_set_new(o, "mismatch", json_integer(v->nmismatch));
		bad |= json_object_set_new(o, "unreadable", json_integer(v->nunreadable));
		bad |= json_object_set_new(o, "functions", fa);
		fa = NULL;
	}
	json_decref(fa);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int agt_msg_parse(const char *line, size_t len, struct agt_msg *out, uint64_t *id_out)
{
	json_error_t jerr;
	json_t *o = NULL, *tv;
	const char *type;
	int64_t v, id = 0;
	int r = 0;

	memset(out, 0, sizeof(*out));
	*id_out = 0;
	if (len >= AGT_LINE_MAX) {
		r = hv_err(HV_E_FORMAT, "the host message is %zu bytes, more than the limit of %d",
			   len, AGT_LINE_MAX - 1);
		goto out;
	}
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o) {
		for (char *c = jerr.text; *c; c++)
			if (!printable_char(*c))
				*c = '?';
		r = hv_err(HV_E_FORMAT, "the host message is not valid JSON: %s at column %d",
			   jerr.text, jerr.column);
		goto out;
	}
	if (!json_is_object(o)) {
		r = hv_err(HV_E_FORMAT, "the host message is not a JSON object");
		goto out;
	}
	/* The id first, so that any later error can name the message. */
	if (agt_json_int(o, "id", false, 1, (int64_t)AGT_ID_MAX, 0, &id, "host message") == 0)
		*id_out = (uint64_t)id;
	r = agt_json_int(o, "v", true, INT64_MIN, INT64_MAX, 0, &v, "host message");
	if (r < 0)
		goto out;
	if (v != AGT_PROTO_VERSION) {
		r = hv_err(HV_E_UNSUPPORTED,
			   "the host speaks protocol version %lld; this agent speaks version %d",
			   (long long)v, AGT_PROTO_VERSION);
		goto out;
	}
	r = agt_json_int(o, "id", true, 1, (int64_t)AGT_ID_MAX, 0, &id, "host message");
	if (r < 0)
		goto out;
	out->id = (uint64_t)id;
	tv = json_object_get(o, "type");
	if (!json_is_string(tv)) {
		r = hv_err(HV_E_FORMAT, "the host message has no \"type\" string");
		goto out;
	}
	type = json_string_value(tv);
	if (!strcmp(type, "ping")) {
		out->type = AGT_MSG_PING;
	} else if (!strcmp(type, "verify")) {
		out->type = AGT_MSG_VERIFY;
	} else if (!strcmp(type, "status")) {
		out->type = AGT_MSG_STATUS;
		r = agt_status_from_json(o, &out->status);
		if (r < 0)
			goto out;
		out->status.id = out->id;
	} else {
		r = hv_err(HV_E_PROTO, "the host message type '%.40s' is unknown to this agent",
			   type);
		goto out;
	}
out:
	json_decref(o);
	if (r < 0)
		agt_msg_clear(out);
	return r;
}

void agt_msg_clear(struct agt_msg *m)
{
	if (!m)
		return;
	agt_status_clear(&m->status);
	memset(m, 0, sizeof(*m));
}

/* Serialize @o (stolen) as one line with "\n". */
static char *finish(json_t *o)
{
	char *s, *line = NULL;
	size_t n;

	if (!o)
		return NULL;
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!s)
		return NULL;
	n = strlen(s);
	line = malloc(n + 2);
	if (line) {
		memcpy(line, s, n);
		line[n] = '\n';
		line[n + 1] = 0;
	}
	free(s);
	return line;
}

static json_t *head(const char *type, uint64_t id)
{
	return json_pack("{s:i,s:s,s:o}", "v", AGT_PROTO_VERSION, "type", type, "id",
			 id ? json_integer((json_int_t)id) : json_null());
}

char *agt_hello_line(const char *type, uint64_t id, const char *release, const char *boot_id,
		     const struct agt_status *st)
{
	json_t *o = head(type, id);

	if (o && json_object_update_new(
			 o, json_pack("{s:s,s:s,s:s,s:o}", "agent_version", PACKAGE_VERSION,
				      "kernel_release", release, "boot_id", boot_id, "level",
				      st && st->known ? json_string(st->level) : json_null()))) {
		json_decref(o);
		o = NULL;
	}
	return finish(o);
}

/* A copy of @s with anything but printable ASCII replaced by '?'. */
static json_t *clean_string(const char *s)
{
	char buf[AGT_REASON_MAX + 1];
	size_t i;

	for (i = 0; i < AGT_REASON_MAX && s[i]; i++)
		buf[i] = printable_char(s[i]) ? s[i] : '?';
	buf[i] = 0;
	return json_string(buf);
}

char *agt_ack_line(uint64_t id, bool ok, const char *error)
{
	json_t *o = head("ack", id);

	if (o && json_object_set_new(o, "ok", json_boolean(ok))) {
		json_decref(o);
		o = NULL;
	}
	if (o && error && json_object_set_new(o, "error", clean_string(error))) {
		json_decref(o);
		o = NULL;
	}
	return finish(o);
}

char *agt_error_line(uint64_t id, const char *reason)
{
	json_t *o = head("error", id);

	if (o && json_object_set_new(o, "reason", clean_string(reason))) {
		json_decref(o);
		o = NULL;
	}
	return finish(o);
}

static char *verify_line(uint64_t id, const struct agt_status *st, const struct agt_verify *v)
{
	json_t *o = head("verify", id), *vj = agt_verify_to_json(v);

	if (!o || !vj || json_object_set_new(o, "level", json_string(st->level)) ||
	    json_object_update(o, vj)) {
		json_decref(o);
		o = NULL;
	}
	json_decref(vj);
	return finish(o);
}

char *agt_verify_line(uint64_t id, const struct agt_status *st, const struct agt_verify *v)
{
	struct agt_verify slim = *v;
	char *line = verify_line(id, st, v), msg[128];
	size_t i;

	if (!line || strlen(line) < AGT_LINE_MAX)
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
	if (!line || strlen(line) < AGT_LINE_MAX)
		return line;
	free(line);
	snprintf(msg, sizeof(msg),
		 "the verification of %zu functions does not fit in one %d-byte message", v->n,
		 AGT_LINE_MAX);
	return agt_error_line(id, msg);
}
