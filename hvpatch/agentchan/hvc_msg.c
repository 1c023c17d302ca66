/* Guarded so the fuzz runner (tests/fuzz/run.sh) can build it without configure. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

/*
 * Guest -> host message parsing (hostile input) and host -> guest message
 * building.  jansson parses one bounded line; every field is then checked
 * for type, length, character set and range.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "hvc.h"

static bool printable(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static bool symbol_name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '$'))
			return false;
	}
	return true;
}

/* String member @key: printable ASCII, shorter than @dstlen; "" when absent and optional. */
static int get_str(json_t *o, const char *key, bool required, char *dst, size_t dstlen,
		   const char *what)
{
	json_t *v = json_object_get(o, key);
	size_t n;

	dst[0] = 0;
	if (!v || json_is_null(v)) {
		if (required)
			return hv_err(HV_E_FORMAT, "the agent's %s has no \"%s\"", what, key);
		return 0;
	}
	if (!json_is_string(v))
		return hv_err(HV_E_FORMAT, "the agent's %s field \"%s\" is not a string", what,
			      key);
	n = json_string_length(v);
	if (n >= dstlen)
		return hv_err(HV_E_FORMAT,
			      "the agent's %s field \"%s\" is %zu bytes, more than %zu", what, key,
			      n, dstlen - 1);
	if (!printable(json_string_value(v), n))
		return hv_err(HV_E_FORMAT,
			      "the agent's %s field \"%s\" holds characters other than printable "
			      "ASCII",
			      what, key);
	memcpy(dst, json_string_value(v), n + 1);
	return 0;
}

static int get_uint(json_t *o, const char *key, bool required, uint64_t max, uint64_t *out,
		    const char *what)
{
	json_t *v = json_object_get(o, key);

	*out = 0;
	if (!v || json_is_null(v)) {
		if (required)
			return hv_err(HV_E_FORMAT, "the agent's %s has no \"%s\"", what, key);
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return hv_err(HV_E_FORMAT,
			      "the agent's %s field \"%s\" is not an integer from 0 to %llu", what,
			      key, (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
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

static int parse_addr(const char *s, uint64_t *out, const char *what)
{
	size_t n = strlen(s), i;
	uint64_t v = 0;

	if (n < 3 || n > 18 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return hv_err(HV_E_FORMAT,
			      "the agent's %s is not an address (0x + 1..16 hex digits)", what);
	for (i = 2; i < n; i++) {
		int d = hexval(s[i]);

		if (d < 0)
			return hv_err(HV_E_FORMAT, "the agent's %s is not hexadecimal", what);
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return 0;
}

static int parse_bytes(const char *s, uint8_t *out, size_t *n, const char *what)
{
	size_t len = strlen(s), i;

	if (len == 0 || len % 2 || len / 2 > HVC_BYTES_MAX)
		return hv_err(HV_E_FORMAT, "the agent's %s is not 1 to %d bytes of hex", what,
			      HVC_BYTES_MAX);
	for (i = 0; i < len / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return hv_err(HV_E_FORMAT, "the agent's %s is not hexadecimal", what);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*n = len / 2;
	return 0;
}

static int parse_agent(json_t *o, struct hvc_agent_info *a)
{
	json_t *lv = json_object_get(o, "level");
	int r;

	r = get_str(o, "agent_version", true, a->agent_version, sizeof(a->agent_version), "hello");
	if (r == 0)
		r = get_str(o, "kernel_release", true, a->kernel_release, sizeof(a->kernel_release),
			    "hello");
	if (r == 0)
		r = get_str(o, "boot_id", false, a->boot_id, sizeof(a->boot_id), "hello");
	if (r == 0 && !a->kernel_release[0])
		r = hv_err(HV_E_FORMAT, "the agent's hello has an empty kernel release");
	if (r == 0 && lv && !json_is_null(lv)) {
		r = get_str(o, "level", false, a->level, sizeof(a->level), "hello");
		a->level_known = r == 0;
	}
	return r;
}

static int parse_site(json_t *f, size_t i, struct hvc_site *s)
{
	char buf[2 * HVC_BYTES_MAX + 1], addr[24], res[16], sym[16];
	int r;

	if (!json_is_object(f))
		return hv_err(HV_E_FORMAT, "function %zu of the agent's verify is not an object",
			      i);
	r = get_str(f, "name", true, s->name, sizeof(s->name), "verify function");
	if (r == 0 && !symbol_name_ok(s->name))
		r = hv_err(HV_E_FORMAT, "function %zu of the agent's verify has an invalid name",
			   i);
	if (r == 0)
		r = get_str(f, "site", true, addr, sizeof(addr), "verify function");
	if (r == 0)
		r = parse_addr(addr, &s->site, "verify site");
	if (r == 0)
		r = get_str(f, "result", true, res, sizeof(res), "verify function");
	if (r == 0) {
		if (!strcmp(res, "present"))
			s->result = HVC_SITE_PRESENT;
		else if (!strcmp(res, "mismatch"))
			s->result = HVC_SITE_MISMATCH;
		else if (!strcmp(res, "unreadable"))
			s->result = HVC_SITE_UNREADABLE;
		else
			r = hv_err(HV_E_FORMAT,
				   "function %zu of the agent's verify has result "
				   "'%s', not present, mismatch or unreadable",
				   i, res);
	}
	if (r == 0)
		r = get_str(f, "found", s->result == HVC_SITE_MISMATCH, buf, sizeof(buf),
			    "verify function");
	if (r == 0 && buf[0])
		r = parse_bytes(buf, s->found, &s->found_len, "found bytes");
	if (r == 0)
		r = get_str(f, "reason", false, s->reason, sizeof(s->reason), "verify function");
	if (r == 0)
		r = get_str(f, "symbol", false, sym, sizeof(sym), "verify function");
	if (r == 0) {
		s->sym = !sym[0]		      ? HVC_SYM_UNKNOWN
			 : !strcmp(sym, "agrees")     ? HVC_SYM_AGREES
			 : !strcmp(sym, "differs")    ? HVC_SYM_DIFFERS
			 : !strcmp(sym, "missing")    ? HVC_SYM_MISSING
			 : !strcmp(sym, "unreadable") ? HVC_SYM_UNREADABLE
						      : HVC_SYM_UNKNOWN;
		r = get_str(f, "symbol_address", false, addr, sizeof(addr), "verify function");
	}
	if (r == 0 && addr[0])
		r = parse_addr(addr, &s->sym_addr, "symbol address");
	return r;
}

static int parse_verify(json_t *o, struct hvc_msg *m)
{
	json_t *fa = json_object_get(o, "functions");
	uint64_t present, mismatch, unreadable;
	size_t i, n;
	int r;

	r = get_str(o, "level", false, m->level, sizeof(m->level), "verify");
	if (r == 0)
		r = get_str(o, "trigger", false, m->trigger, sizeof(m->trigger), "verify");
	if (r == 0)
		r = get_uint(o, "present", true, HVC_MAX_FUNCS, &present, "verify");
	if (r == 0)
		r = get_uint(o, "mismatch", true, HVC_MAX_FUNCS, &mismatch, "verify");
	if (r == 0)
		r = get_uint(o, "unreadable", true, HVC_MAX_FUNCS, &unreadable, "verify");
	if (r < 0)
		return r;
	if (!json_is_array(fa))
		return hv_err(HV_E_FORMAT, "the agent's verify has no \"functions\" array");
	n = json_array_size(fa);
	if (n > HVC_MAX_FUNCS)
		return hv_err(HV_E_FORMAT, "the agent's verify lists %zu functions, more than %d",
			      n, HVC_MAX_FUNCS);
	if (n) {
		m->sites = calloc(n, sizeof(*m->sites));
		if (!m->sites)
			return hv_err(HV_E_NOMEM, "cannot hold the agent's verify: out of memory");
	}
	for (i = 0; i < n; i++) {
		r = parse_site(json_array_get(fa, i), i, &m->sites[i]);
		if (r < 0)
			return r;
		m->nsites = i + 1;
		if (m->sites[i].result == HVC_SITE_PRESENT)
			m->npresent++;
		else if (m->sites[i].result == HVC_SITE_MISMATCH)
			m->nmismatch++;
		else
			m->nunreadable++;
	}
	if (present != m->npresent || mismatch != m->nmismatch || unreadable != m->nunreadable)
		return hv_err(HV_E_FORMAT,
			      "the agent's verify counts (%llu present, %llu mismatch, %llu "
			      "unreadable) disagree with its %zu functions",
			      (unsigned long long)present, (unsigned long long)mismatch,
			      (unsigned long long)unreadable, n);
	return 0;
}

int hvc_msg_parse(const char *line, size_t len, struct hvc_msg *out)
{
	json_error_t jerr;
	json_t *o = NULL, *x;
	uint64_t id;
	char type[32];
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (len >= HVC_LINE_MAX) {
		r = hv_err(HV_E_FORMAT, "the agent's message is %zu bytes, more than %d", len,
			   HVC_LINE_MAX - 1);
		goto out;
	}
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o) {
		/* jansson quotes the offending input: keep it printable. */
		for (char *c = jerr.text; *c; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
				*c = '?';
		r = hv_err(HV_E_FORMAT, "the agent's message is not JSON (%.80s, column %d)",
			   jerr.text, jerr.column);
		goto out;
	}
	if (!json_is_object(o)) {
		r = hv_err(HV_E_FORMAT, "the agent's message is not a JSON object");
		goto out;
	}
	x = json_object_get(o, "v");
	if (!json_is_integer(x)) {
		r = hv_err(HV_E_FORMAT, "the agent's message has no integer version \"v\"");
		goto out;
	}
	if (json_integer_value(x) != HVC_PROTO_VERSION) {
		r = hv_err(HV_E_UNSUPPORTED,
			   "the agent speaks protocol version %lld; this host speaks version %d",
			   (long long)json_integer_value(x), HVC_PROTO_VERSION);
		goto out;
	}
	r = get_str(o, "type", true, type, sizeof(type), "message");
	if (r == 0)
		r = get_uint(o, "id", false, HVC_ID_MAX, &id, "message");
	if (r < 0)
		goto out;
	out->id = id;
	if (!strcmp(type, "hello") || !strcmp(type, "pong")) {
		out->type = type[0] == 'h' ? HVC_MSG_HELLO : HVC_MSG_PONG;
		r = parse_agent(o, &out->agent);
	} else if (!strcmp(type, "ack")) {
		out->type = HVC_MSG_ACK;
		x = json_object_get(o, "ok");
		if (!id)
			r = hv_err(HV_E_FORMAT, "the agent's ack names no message id");
		else if (!json_is_boolean(x))
			r = hv_err(HV_E_FORMAT, "the agent's ack has no boolean \"ok\"");
		else
			out->ok = json_is_true(x);
		if (r == 0)
			r = get_str(o, "error", false, out->text, sizeof(out->text), "ack");
	} else if (!strcmp(type, "verify")) {
		out->type = HVC_MSG_VERIFY;
		r = parse_verify(o, out);
	} else if (!strcmp(type, "error")) {
		out->type = HVC_MSG_ERROR;
		r = get_str(o, "reason", true, out->text, sizeof(out->text), "error");
	} else {
		out->type = HVC_MSG_UNKNOWN;
		snprintf(out->text, sizeof(out->text), "%s", type);
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
	free(m->sites);
	memset(m, 0, sizeof(*m));
}

static void hex(char *out, const uint8_t *p, size_t n)
{
	static const char d[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = 0;
}

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
		memcpy(line + n, "\n", 2);
	}
	free(s);
	return line;
}

static int check_text(const char *s, size_t max, bool may_be_empty, const char *what)
{
	size_t n = s ? strlen(s) : 0;

	if (!s && !may_be_empty)
		return hv_err(HV_E_INVAL, "the status has no %s", what);
	if (n > max || !printable(s ? s : "", n) || (!n && !may_be_empty))
		return hv_err(HV_E_INVAL,
			      "the status %s must be %s1 to %zu printable ASCII characters", what,
			      may_be_empty ? "empty or " : "", max);
	return 0;
}

int hvc_status_line(uint64_t id, const struct hvc_status *st, char **out)
{
	char hx[2 * HVC_BYTES_MAX + 1], site[24];
	json_t *o = NULL, *fa = NULL;
	size_t i;
	int r;

	*out = NULL;
	if (!id || id > HVC_ID_MAX)
		return hv_err(HV_E_INVAL, "status id %llu is outside 1..2^53-1",
			      (unsigned long long)id);
	r = check_text(st->level, HVC_LEVEL_MAX, true, "level");
	if (r == 0)
		r = check_text(st->previous_level ? st->previous_level : "", HVC_LEVEL_MAX, true,
			       "previous level");
	if (r == 0 && st->op && strcmp(st->op, "apply") && strcmp(st->op, "revert"))
		r = hv_err(HV_E_INVAL, "the status op '%.20s' is neither apply nor revert", st->op);
	if (r == 0 && (st->nfuncs > HVC_MAX_FUNCS || (st->nfuncs && !st->funcs)))
		r = hv_err(HV_E_INVAL, "the status lists %zu functions; at most %d are allowed",
			   st->nfuncs, HVC_MAX_FUNCS);
	if (r == 0 && (st->applied_at < 0 || st->applied_at > (INT64_C(1) << 40)))
		r = hv_err(HV_E_INVAL, "the status time %lld is out of range",
			   (long long)st->applied_at);
	if (r < 0)
		return r;
	o = json_pack("{s:i,s:s,s:I,s:s,s:s,s:s,s:I}", "v", HVC_PROTO_VERSION, "type", "status",
		      "id", (json_int_t)id, "level", st->level, "previous_level",
		      st->previous_level ? st->previous_level : "", "op", st->op ? st->op : "",
		      "applied_at", (json_int_t)st->applied_at);
	fa = json_array();
	if (!o || !fa) {
		r = hv_err(HV_E_NOMEM, "cannot build a status message: out of memory");
		goto out;
	}
	for (i = 0; i < st->nfuncs; i++) {
		const struct hvc_func *f = &st->funcs[i];

		if (!f->name || strlen(f->name) > HVC_NAME_MAX || !symbol_name_ok(f->name) ||
		    !f->expected || !f->expected_len || f->expected_len > HVC_BYTES_MAX ||
		    f->offset > 64) {
			r = hv_err(HV_E_INVAL,
				   "function %zu of the status needs a symbol name of 1 to %d "
				   "characters, 1 to %d expected bytes and an offset up to 64",
				   i, HVC_NAME_MAX, HVC_BYTES_MAX);
			goto out;
		}
		hex(hx, f->expected, f->expected_len);
		snprintf(site, sizeof(site), "0x%016llx", (unsigned long long)f->site);
		if (json_array_append_new(fa, json_pack("{s:s,s:s,s:I,s:s}", "name", f->name,
							"site", site, "offset",
							(json_int_t)f->offset, "expected", hx))) {
			r = hv_err(HV_E_NOMEM, "cannot build a status message: out of memory");
			goto out;
		}
	}
	if (json_object_set(o, "functions", fa)) {
		r = hv_err(HV_E_NOMEM, "cannot build a status message: out of memory");
		goto out;
	}
	*out = finish(o);
	o = NULL;
	if (!*out)
		r = hv_err(HV_E_NOMEM, "cannot build a status message: out of memory");
	else if (strlen(*out) >= HVC_LINE_MAX) {
		r = hv_err(HV_E_INVAL, "the status message is %zu bytes, more than the limit of %d",
			   strlen(*out), HVC_LINE_MAX - 1);
		free(*out);
		*out = NULL;
	}
out:
	json_decref(o);
	json_decref(fa);
	return r;
}

char *hvc_request_line(const char *type, uint64_t id)
{
	return finish(json_pack("{s:i,s:s,s:I}", "v", HVC_PROTO_VERSION, "type", type, "id",
				(json_int_t)id));
}

const char *hvc_site_result_name(enum hvc_site_result r)
{
	switch (r) {
	case HVC_SITE_PRESENT:
		return "present";
	case HVC_SITE_MISMATCH:
		return "mismatch";
	case HVC_SITE_UNREADABLE:
		return "unreadable";
	case HVC_SITE_UNCHECKED:
		break;
	}
	return "unchecked";
}

const char *hvc_sym_name(enum hvc_sym s)
{
	switch (s) {
	case HVC_SYM_AGREES:
		return "agrees";
	case HVC_SYM_DIFFERS:
		return "differs";
	case HVC_SYM_MISSING:
		return "missing";
	case HVC_SYM_UNREADABLE:
		return "unreadable";
	case HVC_SYM_UNKNOWN:
		break;
	}
	return "unknown";
}
