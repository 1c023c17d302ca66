/*
 * The agent protocol's codec (hv_wire.h): envelope, field readers,
 * validators, and the reader and writer of each message body.
 */
#include "hv_wire.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv_hex.h"

/* What the rest of the code relies on, checked where the limits live. */
_Static_assert(HV_WIRE_LINE_MAX - 1 <= INT_MAX, "a line length must print as an int");
_Static_assert(HV_WIRE_MAX_FUNCS <= INT_MAX, "counts must print as an int");
_Static_assert(HV_WIRE_ID_MAX <= (uint64_t)INT64_MAX, "ids must fit a JSON integer");
_Static_assert(HV_WIRE_OFFSET_MAX <= UINT32_MAX, "an offset must fit uint32_t");
_Static_assert(sizeof("revert") <= HV_WIRE_WORD_MAX + 1, "the op word must fit");
_Static_assert(sizeof("unreadable") <= HV_WIRE_WORD_MAX + 1, "result words must fit");

#define ADDR_TEXT_MAX 18 /* "0x" and 16 hex digits */

/* ---- validators */

bool hv_wire_printable(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static bool wire_sym_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '$';
}

bool hv_wire_symbol_ok(const char *s)
{
	const char *colon = strchr(s, ':');
	size_t n = strlen(s), i;

	if (n < 1 || n > HV_WIRE_NAME_MAX)
		return false;
	if (colon) {
		/* "MODULE:name", a function of a module. */
		size_t m = (size_t)(colon - s);

		if (m < 1 || m > HV_WIRE_MODULE_MAX || !colon[1])
			return false;
		for (i = 0; i < m; i++)
			if (!wire_sym_char(s[i]) && s[i] != '-')
				return false;
		s = colon + 1;
	}
	for (; *s; s++)
		if (!wire_sym_char(*s))
			return false;
	return true;
}

bool hv_wire_op_ok(const char *op)
{
	return !op[0] || !strcmp(op, "apply") || !strcmp(op, "revert");
}

void hv_wire_clean(char *s)
{
	for (; *s; s++)
		if (!hv_wire_printable(s, 1))
			*s = '?';
}

static int check_level(const char *s, const char *what, int code)
{
	size_t n = strlen(s);

	if (n > HV_WIRE_LEVEL_MAX || !hv_wire_printable(s, n))
		return hv_err(code, "the status %s must be at most %d printable ASCII characters",
			      what, HV_WIRE_LEVEL_MAX);
	return 0;
}

int hv_wire_status_check(const struct hv_wire_status *st, int code)
{
	size_t i;
	int r;

	r = check_level(st->level, "level", code);
	if (r == 0)
		r = check_level(st->previous_level, "previous level", code);
	if (r == 0 && !hv_wire_op_ok(st->op))
		r = hv_err(code, "the status op '%.20s' is neither apply nor revert", st->op);
	if (r == 0 && (st->applied_at < 0 || st->applied_at > HV_WIRE_TIME_MAX))
		r = hv_err(code, "the status time %lld is out of range", (long long)st->applied_at);
	if (r == 0 && (st->nfuncs > HV_WIRE_MAX_FUNCS || (st->nfuncs && !st->funcs)))
		r = hv_err(code, "the status lists %zu functions, more than the limit of %d",
			   st->nfuncs, HV_WIRE_MAX_FUNCS);
	for (i = 0; r == 0 && i < st->nfuncs; i++) {
		const struct hv_wire_func *f = &st->funcs[i];

		if (!hv_wire_symbol_ok(f->name) || !f->expected_len ||
		    f->expected_len > HV_WIRE_BYTES_MAX || f->offset > HV_WIRE_OFFSET_MAX)
			r = hv_err(
				code,
				"function %zu of the status needs a symbol name of 1 to %d "
				"characters of [A-Za-z0-9_.$] (after MODULE: for a function of a "
				"module), 1 to %d expected bytes and an offset up to %d",
				i, HV_WIRE_NAME_MAX, HV_WIRE_BYTES_MAX, HV_WIRE_OFFSET_MAX);
	}
	return r;
}

/* ---- field readers */

/* Member @key of @o, or NULL when missing or null (an error when @required). */
static int member(json_t *o, const char *key, bool required, const char *what, json_t **v)
{
	*v = json_object_get(o, key);
	if (*v && json_is_null(*v))
		*v = NULL;
	if (!*v && required)
		return hv_err(HV_E_FORMAT, "the %s has no \"%s\" field", what, key);
	return 0;
}

int hv_wire_get_str(json_t *o, const char *key, bool required, char *dst, size_t dstlen,
		    const char *what)
{
	json_t *v;
	size_t n;
	int r;

	dst[0] = 0;
	r = member(o, key, required, what, &v);
	if (r < 0 || !v)
		return r;
	if (!json_is_string(v))
		return hv_err(HV_E_FORMAT, "the %s field \"%s\" is not a string", what, key);
	n = json_string_length(v);
	if (n >= dstlen)
		return hv_err(HV_E_FORMAT, "the %s field \"%s\" is %zu bytes long, more than %zu",
			      what, key, n, dstlen - 1);
	/* Also refuses an embedded NUL (\u0000), which is not printable. */
	if (!hv_wire_printable(json_string_value(v), n))
		return hv_err(HV_E_FORMAT,
			      "the %s field \"%s\" holds characters other than printable ASCII",
			      what, key);
	memcpy(dst, json_string_value(v), n + 1);
	return 0;
}

int hv_wire_get_int(json_t *o, const char *key, bool required, int64_t min, int64_t max,
		    int64_t dflt, int64_t *out, const char *what)
{
	json_t *v;
	json_int_t i;
	int r;

	r = member(o, key, required, what, &v);
	if (r < 0)
		return r;
	if (!v) {
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

/*
 * The text of string member @key into @s (@slen bytes), for the readers of
 * hex fields; *@have says whether the member is there (not missing or null).
 */
static int hex_text(json_t *o, const char *key, bool required, char *s, size_t slen,
		    const char *what, bool *have)
{
	json_t *v;
	int r = member(o, key, required, what, &v);

	*have = r == 0 && v;
	return *have ? hv_wire_get_str(o, key, required, s, slen, what) : r;
}

int hv_wire_get_addr(json_t *o, const char *key, bool required, uint64_t *out, const char *what)
{
	char s[ADDR_TEXT_MAX + 1];
	bool have;
	int r;

	*out = 0;
	r = hex_text(o, key, required, s, sizeof(s), what, &have);
	if (r == 0 && have && (s[0] != '0' || (s[1] != 'x' && s[1] != 'X')))
		r = hv_err(HV_E_FORMAT, "the %s field \"%s\" ('%s') does not start with 0x", what,
			   key, s);
	else if (r == 0 && have && hv_hex_u64(s + 2, strlen(s + 2), out, "address") < 0)
		r = hv_err_prefix("the %s field \"%s\" ('%s')", what, key, s);
	return r;
}

int hv_wire_get_bytes(json_t *o, const char *key, bool required, uint8_t *out, size_t *n,
		      const char *what)
{
	char s[2 * HV_WIRE_BYTES_MAX + 1];
	bool have;
	int r;

	*n = 0;
	r = hex_text(o, key, required, s, sizeof(s), what, &have);
	if (r == 0 && have &&
	    hv_hex_decode(s, strlen(s), out, HV_WIRE_BYTES_MAX, n, "byte string") < 0)
		r = hv_err_prefix("the %s field \"%s\"", what, key);
	return r;
}

/* ---- writers */

static json_t *addr_json(uint64_t a)
{
	char s[ADDR_TEXT_MAX + 1];

	snprintf(s, sizeof(s), "0x%016llx", (unsigned long long)a);
	return json_string(s);
}

static json_t *bytes_json(const uint8_t *p, size_t n)
{
	char s[2 * HV_WIRE_BYTES_MAX + 1];

	hv_hex_encode(s, sizeof(s), p, n);
	return json_string(s);
}

/* At most HV_WIRE_TEXT_MAX characters of @s, anything but printable ASCII as '?'. */
static json_t *text_json(const char *s)
{
	char buf[HV_WIRE_TEXT_MAX + 1];

	snprintf(buf, sizeof(buf), "%s", s ? s : "");
	hv_wire_clean(buf);
	return json_string(buf);
}

json_t *hv_wire_head(const char *type, uint64_t id)
{
	return json_pack("{s:i,s:s,s:o}", "v", HV_WIRE_VERSION, "type", type, "id",
			 id ? json_integer((json_int_t)id) : json_null());
}

char *hv_wire_line(json_t *o)
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

char *hv_wire_request_line(const char *type, uint64_t id)
{
	return hv_wire_line(hv_wire_head(type, id));
}

/* ---- the envelope */

int hv_wire_parse(const char *line, size_t len, enum hv_wire_from from, json_t **obj,
		  struct hv_wire_head *h)
{
	const char *what = from == HV_WIRE_FROM_HOST ? "host message" : "agent's message";
	const char *peer = from == HV_WIRE_FROM_HOST ? "host" : "agent";
	const char *self = from == HV_WIRE_FROM_HOST ? "agent" : "host";
	json_error_t jerr;
	json_t *o = NULL;
	int64_t v, id = 0;
	int r = 0;

	*obj = NULL;
	memset(h, 0, sizeof(*h));
	if (len >= HV_WIRE_LINE_MAX) {
		r = hv_err(HV_E_FORMAT, "the %s is %zu bytes, more than the limit of %d", what, len,
			   HV_WIRE_LINE_MAX - 1);
		goto out;
	}
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o) {
		/* jansson quotes the offending input: keep it printable. */
		hv_wire_clean(jerr.text);
		r = hv_err(HV_E_FORMAT, "the %s is not valid JSON: %.80s at column %d", what,
			   jerr.text, jerr.column);
		goto out;
	}
	if (!json_is_object(o)) {
		r = hv_err(HV_E_FORMAT, "the %s is not a JSON object", what);
		goto out;
	}
	/* The id first, so that any later error can name the message. */
	if (hv_wire_get_int(o, "id", false, 1, (int64_t)HV_WIRE_ID_MAX, 0, &id, what) == 0)
		h->id = (uint64_t)id;
	r = hv_wire_get_int(o, "v", true, INT64_MIN, INT64_MAX, 0, &v, what);
	if (r < 0)
		goto out;
	if (v != HV_WIRE_VERSION) {
		r = hv_err(HV_E_UNSUPPORTED,
			   "the %s speaks protocol version %lld; this %s speaks version %d", peer,
			   (long long)v, self, HV_WIRE_VERSION);
		goto out;
	}
	r = hv_wire_get_str(o, "type", true, h->type, sizeof(h->type), what);
	if (r == 0)
		r = hv_wire_get_int(o, "id", from == HV_WIRE_FROM_HOST, 1, (int64_t)HV_WIRE_ID_MAX,
				    0, &id, what);
out:
	if (r < 0) {
		json_decref(o);
		o = NULL;
	}
	*obj = o;
	return r;
}

/* ---- status */

void hv_wire_status_clear(struct hv_wire_status *st)
{
	if (!st)
		return;
	free(st->funcs);
	memset(st, 0, sizeof(*st));
}

int hv_wire_status_copy(struct hv_wire_status *dst, const struct hv_wire_status *src)
{
	struct hv_wire_func *f = NULL;

	if (src->nfuncs) {
		f = calloc(src->nfuncs, sizeof(*f));
		if (!f)
			return hv_err(HV_E_NOMEM,
				      "cannot copy a status of %zu functions: out of memory",
				      src->nfuncs);
		memcpy(f, src->funcs, src->nfuncs * sizeof(*f));
	}
	hv_wire_status_clear(dst);
	*dst = *src;
	dst->funcs = f;
	return 0;
}

int hv_wire_status_json(json_t *o, const struct hv_wire_status *st)
{
	json_t *fa = json_array();
	size_t i;
	int bad = !fa;

	bad |= json_object_set_new(o, "level", json_string(st->level));
	bad |= json_object_set_new(o, "previous_level", json_string(st->previous_level));
	bad |= json_object_set_new(o, "op", json_string(st->op));
	bad |= json_object_set_new(o, "applied_at", json_integer(st->applied_at));
	for (i = 0; fa && i < st->nfuncs; i++) {
		const struct hv_wire_func *f = &st->funcs[i];

		bad |= json_array_append_new(
			fa, json_pack("{s:s,s:o,s:I,s:o}", "name", f->name, "site",
				      addr_json(f->site), "offset", (json_int_t)f->offset,
				      "expected", bytes_json(f->expected, f->expected_len)));
	}
	bad |= json_object_set_new(o, "functions", fa);
	return bad ? hv_err(HV_E_NOMEM, "cannot build a status: out of memory") : 0;
}

static int func_read(json_t *f, size_t i, struct hv_wire_func *out)
{
	const char *what = "status function";
	int64_t off;
	int r;

	if (!json_is_object(f))
		return hv_err(HV_E_FORMAT, "function %zu of the status is not an object", i);
	r = hv_wire_get_str(f, "name", true, out->name, sizeof(out->name), what);
	if (r == 0)
		r = hv_wire_get_addr(f, "site", true, &out->site, what);
	if (r == 0)
		r = hv_wire_get_int(f, "offset", false, 0, HV_WIRE_OFFSET_MAX, 0, &off, what);
	if (r == 0) {
		out->offset = (uint32_t)off;
		r = hv_wire_get_bytes(f, "expected", true, out->expected, &out->expected_len, what);
	}
	if (r < 0)
		hv_err_prefix("function %zu ('%.60s')", i, out->name);
	return r;
}

int hv_wire_status_read(json_t *o, struct hv_wire_status *st)
{
	const char *what = "status";
	json_t *fa;
	size_t i, n;
	int r;

	hv_wire_status_clear(st);
	r = hv_wire_get_str(o, "level", true, st->level, sizeof(st->level), what);
	if (r == 0)
		r = hv_wire_get_str(o, "previous_level", false, st->previous_level,
				    sizeof(st->previous_level), what);
	if (r == 0)
		r = hv_wire_get_str(o, "op", false, st->op, sizeof(st->op), what);
	if (r == 0)
		r = hv_wire_get_int(o, "applied_at", false, 0, HV_WIRE_TIME_MAX, 0, &st->applied_at,
				    what);
	if (r < 0)
		goto out;
	fa = json_object_get(o, "functions");
	if (!json_is_array(fa)) {
		r = hv_err(HV_E_FORMAT, "the status has no \"functions\" array");
		goto out;
	}
	n = json_array_size(fa);
	if (n > HV_WIRE_MAX_FUNCS) {
		r = hv_err(HV_E_FORMAT, "the status lists %zu functions, more than the limit of %d",
			   n, HV_WIRE_MAX_FUNCS);
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
		r = func_read(json_array_get(fa, i), i, &st->funcs[i]);
		if (r < 0)
			goto out;
		st->nfuncs = i + 1;
	}
	r = hv_wire_status_check(st, HV_E_FORMAT);
	if (r == 0)
		st->known = true;
out:
	if (r < 0)
		hv_wire_status_clear(st);
	return r;
}

/* ---- verify */

const char *hv_wire_result_name(enum hv_wire_result r)
{
	switch (r) {
	case HV_WIRE_PRESENT:
		return "present";
	case HV_WIRE_MISMATCH:
		return "mismatch";
	case HV_WIRE_UNREADABLE:
		return "unreadable";
	case HV_WIRE_UNCHECKED:
		break;
	}
	return "unchecked";
}

const char *hv_wire_sym_name(enum hv_wire_sym s)
{
	switch (s) {
	case HV_WIRE_SYM_AGREES:
		return "agrees";
	case HV_WIRE_SYM_DIFFERS:
		return "differs";
	case HV_WIRE_SYM_MISSING:
		return "missing";
	case HV_WIRE_SYM_UNREADABLE:
		return "unreadable";
	case HV_WIRE_SYM_UNKNOWN:
		break;
	}
	return "unknown";
}

void hv_wire_verify_clear(struct hv_wire_verify *v)
{
	if (!v)
		return;
	free(v->checks);
	memset(v, 0, sizeof(*v));
}

json_t *hv_wire_check_json(const struct hv_wire_check *c)
{
	json_t *f = json_pack("{s:s,s:o,s:s,s:s}", "name", c->name, "site", addr_json(c->site),
			      "result", hv_wire_result_name(c->result), "symbol",
			      hv_wire_sym_name(c->sym));
	int bad = !f;

	if (f && (c->sym == HV_WIRE_SYM_AGREES || c->sym == HV_WIRE_SYM_DIFFERS))
		bad |= json_object_set_new(f, "symbol_address", addr_json(c->sym_addr));
	if (f && c->result == HV_WIRE_MISMATCH)
		bad |= json_object_set_new(f, "found", bytes_json(c->found, c->found_len));
	if (f && c->reason[0])
		bad |= json_object_set_new(f, "reason", text_json(c->reason));
	if (bad) {
		json_decref(f);
		return NULL;
	}
	return f;
}

json_t *hv_wire_verify_json(const struct hv_wire_verify *v)
{
	json_t *o = json_object(), *fa = json_array();
	size_t i;
	int bad = !o || !fa;

	for (i = 0; !bad && i < v->n; i++)
		bad |= json_array_append_new(fa, hv_wire_check_json(&v->checks[i]));
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

static int result_read(const char *s, enum hv_wire_result *r)
{
	*r = !strcmp(s, "present")	? HV_WIRE_PRESENT
	     : !strcmp(s, "mismatch")	? HV_WIRE_MISMATCH
	     : !strcmp(s, "unreadable") ? HV_WIRE_UNREADABLE
					: HV_WIRE_UNCHECKED;
	if (*r == HV_WIRE_UNCHECKED)
		return hv_err(HV_E_FORMAT, "the result '%s' is not present, mismatch or unreadable",
			      s);
	return 0;
}

/* A symbol word this side does not know is not an error: a newer agent may say more. */
static enum hv_wire_sym sym_read(const char *s)
{
	return !strcmp(s, "agrees")	  ? HV_WIRE_SYM_AGREES
	       : !strcmp(s, "differs")	  ? HV_WIRE_SYM_DIFFERS
	       : !strcmp(s, "missing")	  ? HV_WIRE_SYM_MISSING
	       : !strcmp(s, "unreadable") ? HV_WIRE_SYM_UNREADABLE
					  : HV_WIRE_SYM_UNKNOWN;
}

static int check_read(json_t *f, size_t i, struct hv_wire_check *c)
{
	const char *what = "verify function";
	char res[HV_WIRE_WORD_MAX + 1], sym[HV_WIRE_WORD_MAX + 1];
	int r;

	if (!json_is_object(f))
		return hv_err(HV_E_FORMAT, "function %zu of the verification is not an object", i);
	r = hv_wire_get_str(f, "name", true, c->name, sizeof(c->name), what);
	if (r == 0 && !hv_wire_symbol_ok(c->name))
		r = hv_err(HV_E_FORMAT, "the name is not a kernel symbol");
	if (r == 0)
		r = hv_wire_get_addr(f, "site", true, &c->site, what);
	if (r == 0)
		r = hv_wire_get_str(f, "result", true, res, sizeof(res), what);
	if (r == 0)
		r = result_read(res, &c->result);
	if (r == 0)
		r = hv_wire_get_bytes(f, "found", c->result == HV_WIRE_MISMATCH, c->found,
				      &c->found_len, what);
	if (r == 0)
		r = hv_wire_get_str(f, "reason", false, c->reason, sizeof(c->reason), what);
	if (r == 0)
		r = hv_wire_get_str(f, "symbol", false, sym, sizeof(sym), what);
	if (r == 0) {
		c->sym = sym_read(sym);
		r = hv_wire_get_addr(f, "symbol_address", false, &c->sym_addr, what);
	}
	if (r < 0)
		hv_err_prefix("function %zu of the verification", i);
	return r;
}

int hv_wire_verify_read(json_t *o, struct hv_wire_verify *v)
{
	const char *what = "verification";
	json_t *fa = json_object_get(o, "functions");
	int64_t at, present, mismatch, unreadable;
	size_t i, n;
	int r;

	hv_wire_verify_clear(v);
	r = hv_wire_get_int(o, "at", false, 0, HV_WIRE_TIME_MAX, 0, &at, what);
	if (r == 0)
		r = hv_wire_get_str(o, "trigger", false, v->trigger, sizeof(v->trigger), what);
	if (r == 0)
		r = hv_wire_get_int(o, "present", true, 0, HV_WIRE_MAX_FUNCS, 0, &present, what);
	if (r == 0)
		r = hv_wire_get_int(o, "mismatch", true, 0, HV_WIRE_MAX_FUNCS, 0, &mismatch, what);
	if (r == 0)
		r = hv_wire_get_int(o, "unreadable", true, 0, HV_WIRE_MAX_FUNCS, 0, &unreadable,
				    what);
	if (r < 0)
		goto out;
	v->at = at;
	if (!json_is_array(fa)) {
		r = hv_err(HV_E_FORMAT, "the verification has no \"functions\" array");
		goto out;
	}
	n = json_array_size(fa);
	if (n > HV_WIRE_MAX_FUNCS) {
		r = hv_err(HV_E_FORMAT,
			   "the verification lists %zu functions, more than the limit of %d", n,
			   HV_WIRE_MAX_FUNCS);
		goto out;
	}
	if (n) {
		v->checks = calloc(n, sizeof(*v->checks));
		if (!v->checks) {
			r = hv_err(HV_E_NOMEM, "cannot hold a verification: out of memory");
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		r = check_read(json_array_get(fa, i), i, &v->checks[i]);
		if (r < 0)
			goto out;
		v->n = i + 1;
		if (v->checks[i].result == HV_WIRE_PRESENT)
			v->npresent++;
		else if (v->checks[i].result == HV_WIRE_MISMATCH)
			v->nmismatch++;
		else
			v->nunreadable++;
	}
	if (present != v->npresent || mismatch != v->nmismatch || unreadable != v->nunreadable)
		r = hv_err(HV_E_FORMAT,
			   "the verification counts (%lld present, %lld mismatch, %lld "
			   "unreadable) disagree with its %zu functions",
			   (long long)present, (long long)mismatch, (long long)unreadable, n);
out:
	if (r < 0)
		hv_wire_verify_clear(v);
	return r;
}

/* ---- hello, ack, error */

json_t *hv_wire_hello_json(const struct hv_wire_hello *h)
{
	return json_pack("{s:s,s:s,s:s,s:o}", "agent_version", h->agent_version, "kernel_release",
			 h->kernel_release, "boot_id", h->boot_id, "level",
			 h->level_known ? json_string(h->level) : json_null());
}

int hv_wire_hello_read(json_t *o, struct hv_wire_hello *h)
{
	const char *what = "hello";
	int r;

	memset(h, 0, sizeof(*h));
	r = hv_wire_get_str(o, "agent_version", true, h->agent_version, sizeof(h->agent_version),
			    what);
	if (r == 0)
		r = hv_wire_get_str(o, "kernel_release", true, h->kernel_release,
				    sizeof(h->kernel_release), what);
	if (r == 0)
		r = hv_wire_get_str(o, "boot_id", false, h->boot_id, sizeof(h->boot_id), what);
	if (r == 0 && !h->kernel_release[0])
		r = hv_err(HV_E_FORMAT, "the hello has an empty kernel release");
	if (r == 0)
		r = hv_wire_get_str(o, "level", false, h->level, sizeof(h->level), what);
	if (r == 0) {
		json_t *lv = json_object_get(o, "level");

		h->level_known = lv && !json_is_null(lv);
	}
	return r;
}

char *hv_wire_ack_line(uint64_t id, bool ok, const char *error)
{
	json_t *o = hv_wire_head("ack", id);

	if (o && (json_object_set_new(o, "ok", json_boolean(ok)) ||
		  (error && json_object_set_new(o, "error", text_json(error))))) {
		json_decref(o);
		o = NULL;
	}
	return hv_wire_line(o);
}

char *hv_wire_error_line(uint64_t id, const char *reason)
{
	json_t *o = hv_wire_head("error", id);

	if (o && json_object_set_new(o, "reason", text_json(reason))) {
		json_decref(o);
		o = NULL;
	}
	return hv_wire_line(o);
}

int hv_wire_ack_read(json_t *o, const struct hv_wire_head *h, bool *ok, char *error)
{
	json_t *x = json_object_get(o, "ok");

	*ok = false;
	error[0] = 0;
	if (!h->id)
		return hv_err(HV_E_FORMAT, "the ack names no message id");
	if (!json_is_boolean(x))
		return hv_err(HV_E_FORMAT, "the ack has no boolean \"ok\"");
	*ok = json_is_true(x);
	return hv_wire_get_str(o, "error", false, error, HV_WIRE_TEXT_MAX + 1, "ack");
}
