/*
 * The agent protocol's codec (hvpatch/common/hv_wire.c), which both the
 * host and the agent use: limits (also against docs/AGENT-PROTOCOL.md),
 * envelope, field readers, validators, and every body written then read.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv_check.h"
#include "hv_wire.h"

/* Parse the JSON text @s as an object (the test's own input: must be valid). */
static json_t *obj(const char *s)
{
	json_t *o = json_loads(s, JSON_REJECT_DUPLICATES, NULL);

	ck_assert_msg(json_is_object(o), "test input is not an object: %s", s);
	return o;
}

/* Write @o (stolen) and read it back as an object: what the other side gets. */
static json_t *through_the_wire(json_t *o)
{
	char *line = hv_wire_line(o);
	json_t *back;

	ck_assert_ptr_nonnull(line);
	/* one line: its only newline ends it */
	ck_assert_ptr_eq(strchr(line, '\n'), line + strlen(line) - 1);
	back = json_loads(line, 0, NULL);
	ck_assert_ptr_nonnull(back);
	free(line);
	return back;
}

static int parse(const char *s, enum hv_wire_from from, struct hv_wire_head *h)
{
	json_t *o = (json_t *)1;
	int r = hv_wire_parse(s, strlen(s), from, &o, h);

	ck_assert(r == 0 ? json_is_object(o) : o == NULL);
	json_decref(o);
	return r;
}

/* The numbers docs/AGENT-PROTOCOL.md states are the ones the code uses. */
START_TEST(test_limits_match_the_protocol_document)
{
	const char *top = getenv("top_srcdir");
	char path[4096], *doc = NULL;
	size_t n = 0, i;
	FILE *f;
	char lines[8][128];

	ck_assert_int_eq(HV_WIRE_VERSION, 1);
	ck_assert_uint_eq(HV_WIRE_ID_MAX, (1ULL << 53) - 1);
	ck_assert_int_eq(HV_WIRE_LINE_MAX, 65536);
	snprintf(lines[0], sizeof(lines[0]), "%d %03d bytes per message, newline included",
		 HV_WIRE_LINE_MAX / 1000, HV_WIRE_LINE_MAX % 1000);
	snprintf(lines[1], sizeof(lines[1]), "%d functions per status", HV_WIRE_MAX_FUNCS);
	snprintf(lines[2], sizeof(lines[2]), "function names up to %d characters",
		 HV_WIRE_NAME_MAX);
	snprintf(lines[3], sizeof(lines[3]), "level names up to %d characters", HV_WIRE_LEVEL_MAX);
	snprintf(lines[4], sizeof(lines[4]), "reasons up to %d", HV_WIRE_TEXT_MAX);
	snprintf(lines[5], sizeof(lines[5]), "hex, 1 to %d bytes", HV_WIRE_BYTES_MAX);
	snprintf(lines[6], sizeof(lines[6]), "integer 0..%d", HV_WIRE_OFFSET_MAX);
	snprintf(lines[7], sizeof(lines[7]), "`\"v\": %d`", HV_WIRE_VERSION);
	if (!top)
		return; /* run outside make check: only the constants */
	snprintf(path, sizeof(path), "%s/docs/AGENT-PROTOCOL.md", top);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(getdelim(&doc, &n, 0, f) > 0, 1);
	fclose(f);
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		ck_assert_msg(strstr(doc, lines[i]), "docs/AGENT-PROTOCOL.md does not say \"%s\"",
			      lines[i]);
	free(doc);
}
END_TEST

START_TEST(test_envelope_from_host)
{
	struct hv_wire_head h;
	char big[HV_WIRE_LINE_MAX + 8];

	ck_assert_int_eq(parse("{\"v\":1,\"type\":\"ping\",\"id\":3}", HV_WIRE_FROM_HOST, &h), 0);
	ck_assert_str_eq(h.type, "ping");
	ck_assert_uint_eq(h.id, 3);
	ck_assert_int_eq(
		parse("{\"v\":1,\"type\":\"ping\",\"id\":9007199254740991}", HV_WIRE_FROM_HOST, &h),
		0);
	ck_assert_uint_eq(h.id, HV_WIRE_ID_MAX);
	/* The host must name every message, with an id from 1 to 2^53-1. */
	ck_assert_int_eq(parse("{\"v\":1,\"type\":\"ping\"}", HV_WIRE_FROM_HOST, &h), HV_E_FORMAT);
	ck_assert_int_eq(parse("{\"v\":1,\"type\":\"ping\",\"id\":null}", HV_WIRE_FROM_HOST, &h),
			 HV_E_FORMAT);
	ck_assert_int_eq(parse("{\"v\":1,\"type\":\"ping\",\"id\":0}", HV_WIRE_FROM_HOST, &h),
			 HV_E_FORMAT);
	ck_assert_int_eq(
		parse("{\"v\":1,\"type\":\"ping\",\"id\":9007199254740992}", HV_WIRE_FROM_HOST, &h),
		HV_E_FORMAT);
	/* Another version: refused, but the id is known for the answer. */
	ck_assert_int_eq(parse("{\"v\":2,\"type\":\"ping\",\"id\":12}", HV_WIRE_FROM_HOST, &h),
			 HV_E_UNSUPPORTED);
	ck_assert_uint_eq(h.id, 12);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "the host speaks protocol version 2; "
							 "this agent speaks version 1"));
	ck_assert_int_eq(parse("{\"type\":\"ping\",\"id\":4}", HV_WIRE_FROM_HOST, &h), HV_E_FORMAT);
	ck_assert_uint_eq(h.id, 4);
	ck_assert_int_eq(parse("{\"v\":\"1\",\"type\":\"ping\",\"id\":4}", HV_WIRE_FROM_HOST, &h),
			 HV_E_FORMAT);
	ck_assert_int_eq(parse("{\"v\":1,\"type\":7,\"id\":4}", HV_WIRE_FROM_HOST, &h),
			 HV_E_FORMAT);
	ck_assert_int_eq(parse("{\"v\":1,\"type\":\"a-type-longer-than-thirty-one-chars\","
			       "\"id\":4}",
			       HV_WIRE_FROM_HOST, &h),
			 HV_E_FORMAT);
	ck_assert_int_eq(
		parse("{\"v\":1,\"v\":1,\"type\":\"ping\",\"id\":4}", HV_WIRE_FROM_HOST, &h),
		HV_E_FORMAT);
	ck_assert_int_eq(parse("{\"v\":1,\"type\":\"a\\u0000b\",\"id\":4}", HV_WIRE_FROM_HOST, &h),
			 HV_E_FORMAT);
	ck_assert_int_eq(parse("[1,2]", HV_WIRE_FROM_HOST, &h), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "the host message is not a JSON object"));
	/* jansson quotes what it could not read; the sentence stays printable. */
	ck_assert_int_eq(parse("{\"v\":1,\x1b[2J", HV_WIRE_FROM_HOST, &h), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "is not valid JSON"));
	ck_assert(hv_wire_printable(hv_err_last()->msg, strlen(hv_err_last()->msg)));
	/* The line limit comes before jansson sees anything. */
	memset(big, ' ', sizeof(big));
	memcpy(big, "{\"v\":1,\"type\":\"ping\",\"id\":3}", 28);
	{
		json_t *o;

		ck_assert_int_eq(
			hv_wire_parse(big, HV_WIRE_LINE_MAX - 1, HV_WIRE_FROM_HOST, &o, &h), 0);
		json_decref(o);
		ck_assert_int_eq(hv_wire_parse(big, HV_WIRE_LINE_MAX, HV_WIRE_FROM_HOST, &o, &h),
				 HV_E_FORMAT);
		ck_assert_ptr_null(o);
		ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "more than the limit of 65535"));
	}
}
END_TEST

START_TEST(test_envelope_from_agent)
{
	struct hv_wire_head h;

	/* The agent's unsolicited messages carry a null id. */
	ck_assert_int_eq(parse("{\"v\":1,\"type\":\"hello\",\"id\":null}", HV_WIRE_FROM_AGENT, &h),
			 0);
	ck_assert_uint_eq(h.id, 0);
	ck_assert_int_eq(parse("{\"v\":1,\"type\":\"hello\"}", HV_WIRE_FROM_AGENT, &h), 0);
	ck_assert_int_eq(parse("{\"v\":1,\"type\":\"ack\",\"id\":5}", HV_WIRE_FROM_AGENT, &h), 0);
	ck_assert_uint_eq(h.id, 5);
	ck_assert_int_eq(parse("{\"v\":1,\"type\":\"ack\",\"id\":0}", HV_WIRE_FROM_AGENT, &h),
			 HV_E_FORMAT);
	ck_assert_int_eq(parse("{\"v\":1,\"type\":\"ack\",\"id\":-3}", HV_WIRE_FROM_AGENT, &h),
			 HV_E_FORMAT);
	ck_assert_int_eq(parse("{\"v\":3,\"type\":\"hello\"}", HV_WIRE_FROM_AGENT, &h),
			 HV_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "the agent speaks protocol version 3; "
							 "this host speaks version 1"));
	ck_assert_int_eq(parse("", HV_WIRE_FROM_AGENT, &h), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "the agent's message is not valid JSON"));
}
END_TEST

START_TEST(test_head_and_request_lines)
{
	char *line = hv_wire_request_line("ping", 7);

	ck_assert_str_eq(line, "{\"v\":1,\"type\":\"ping\",\"id\":7}\n");
	free(line);
	line = hv_wire_line(hv_wire_head("hello", 0));
	ck_assert_str_eq(line, "{\"v\":1,\"type\":\"hello\",\"id\":null}\n");
	free(line);
	ck_assert_ptr_null(hv_wire_line(NULL));
}
END_TEST

START_TEST(test_string_reader)
{
	json_t *o = obj("{\"a\":\"abc\",\"n\":null,\"i\":5,\"esc\":\"a\\u001bb\","
			"\"hi\":\"\\u00e9\"}");
	char s[4];

	ck_assert_int_eq(hv_wire_get_str(o, "a", true, s, sizeof(s), "x"), 0);
	ck_assert_str_eq(s, "abc");
	/* One byte less of room: too long. */
	ck_assert_int_eq(hv_wire_get_str(o, "a", true, s, 3, "x"), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "the x field \"a\" is 3 bytes long"));
	ck_assert_int_eq(hv_wire_get_str(o, "missing", false, s, sizeof(s), "x"), 0);
	ck_assert_str_eq(s, "");
	ck_assert_int_eq(hv_wire_get_str(o, "n", false, s, sizeof(s), "x"), 0);
	ck_assert_int_eq(hv_wire_get_str(o, "missing", true, s, sizeof(s), "x"), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "the x has no \"missing\" field"));
	ck_assert_int_eq(hv_wire_get_str(o, "n", true, s, sizeof(s), "x"), HV_E_FORMAT);
	ck_assert_int_eq(hv_wire_get_str(o, "i", false, s, sizeof(s), "x"), HV_E_FORMAT);
	ck_assert_int_eq(hv_wire_get_str(o, "esc", false, s, sizeof(s), "x"), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "other than printable ASCII"));
	ck_assert_int_eq(hv_wire_get_str(o, "hi", false, s, sizeof(s), "x"), HV_E_FORMAT);
	json_decref(o);
}
END_TEST

START_TEST(test_integer_reader)
{
	json_t *o = obj("{\"z\":0,\"t\":10,\"neg\":-1,\"f\":1.5,\"s\":\"3\",\"n\":null}");
	int64_t v;

	ck_assert_int_eq(hv_wire_get_int(o, "t", true, 0, 10, 0, &v, "x"), 0);
	ck_assert_int_eq(v, 10);
	ck_assert_int_eq(hv_wire_get_int(o, "z", true, 0, 10, 7, &v, "x"), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(hv_wire_get_int(o, "t", true, 0, 9, 0, &v, "x"), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "(10) is outside 0..9"));
	ck_assert_int_eq(hv_wire_get_int(o, "neg", true, 0, 10, 0, &v, "x"), HV_E_FORMAT);
	ck_assert_int_eq(hv_wire_get_int(o, "f", true, 0, 10, 0, &v, "x"), HV_E_FORMAT);
	ck_assert_int_eq(hv_wire_get_int(o, "s", true, 0, 10, 0, &v, "x"), HV_E_FORMAT);
	ck_assert_int_eq(hv_wire_get_int(o, "n", false, 0, 10, 7, &v, "x"), 0);
	ck_assert_int_eq(v, 7);
	ck_assert_int_eq(hv_wire_get_int(o, "gone", false, 0, 10, 8, &v, "x"), 0);
	ck_assert_int_eq(v, 8);
	ck_assert_int_eq(hv_wire_get_int(o, "gone", true, 0, 10, 8, &v, "x"), HV_E_FORMAT);
	json_decref(o);
}
END_TEST

START_TEST(test_address_and_bytes_readers)
{
	json_t *o = obj("{\"a\":\"0xffffffff81000100\",\"b\":\"0X1\",\"c\":\"ffff\","
			"\"d\":\"0x12345678901234567\",\"e\":\"0x\",\"f\":\"0xfg\",\"i\":16,"
			"\"h16\":\"000102030405060708090a0b0c0d0e0F\","
			"\"h17\":\"000102030405060708090a0b0c0d0e0f10\",\"odd\":\"abc\","
			"\"bad\":\"zz\",\"empty\":\"\"}");
	uint8_t bytes[HV_WIRE_BYTES_MAX];
	uint64_t a;
	size_t n;

	ck_assert_int_eq(hv_wire_get_addr(o, "a", true, &a, "x"), 0);
	ck_assert_uint_eq(a, 0xffffffff81000100ULL);
	ck_assert_int_eq(hv_wire_get_addr(o, "b", true, &a, "x"), 0);
	ck_assert_uint_eq(a, 1);
	ck_assert_int_eq(hv_wire_get_addr(o, "gone", false, &a, "x"), 0);
	ck_assert_uint_eq(a, 0);
	ck_assert_int_eq(hv_wire_get_addr(o, "c", true, &a, "x"), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "does not start with 0x"));
	ck_assert_int_eq(hv_wire_get_addr(o, "d", true, &a, "x"), HV_E_FORMAT);
	ck_assert_int_eq(hv_wire_get_addr(o, "e", true, &a, "x"), HV_E_FORMAT);
	ck_assert_int_eq(hv_wire_get_addr(o, "f", true, &a, "x"), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "the x field \"f\" ('0xfg')"));
	ck_assert_int_eq(hv_wire_get_addr(o, "i", true, &a, "x"), HV_E_FORMAT);
	ck_assert_int_eq(hv_wire_get_addr(o, "gone", true, &a, "x"), HV_E_FORMAT);

	ck_assert_int_eq(hv_wire_get_bytes(o, "h16", true, bytes, &n, "x"), 0);
	ck_assert_uint_eq(n, 16);
	ck_assert_uint_eq(bytes[15], 0x0f);
	ck_assert_int_eq(hv_wire_get_bytes(o, "h17", true, bytes, &n, "x"), HV_E_FORMAT);
	ck_assert_int_eq(hv_wire_get_bytes(o, "odd", true, bytes, &n, "x"), HV_E_FORMAT);
	ck_assert_int_eq(hv_wire_get_bytes(o, "bad", true, bytes, &n, "x"), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "the x field \"bad\""));
	ck_assert_int_eq(hv_wire_get_bytes(o, "gone", false, bytes, &n, "x"), 0);
	ck_assert_uint_eq(n, 0);
	/* Present means 1 to 16 bytes: an empty string is not "none". */
	ck_assert_int_eq(hv_wire_get_bytes(o, "empty", false, bytes, &n, "x"), HV_E_FORMAT);
	ck_assert_int_eq(hv_wire_get_addr(o, "empty", false, &a, "x"), HV_E_FORMAT);
	ck_assert_int_eq(hv_wire_get_bytes(o, "gone", true, bytes, &n, "x"), HV_E_FORMAT);
	json_decref(o);
}
END_TEST

START_TEST(test_validators)
{
	char name[HV_WIRE_NAME_MAX + 2], dirty[] = "a\x01\x7f\xff b";

	memset(name, 'f', sizeof(name));
	name[HV_WIRE_NAME_MAX] = 0;
	ck_assert(hv_wire_symbol_ok(name));
	name[HV_WIRE_NAME_MAX] = 'f';
	name[HV_WIRE_NAME_MAX + 1] = 0;
	ck_assert(!hv_wire_symbol_ok(name));
	ck_assert(hv_wire_symbol_ok("do_sys_open.cold$1_A9"));
	ck_assert(!hv_wire_symbol_ok(""));
	ck_assert(!hv_wire_symbol_ok("a b"));
	ck_assert(!hv_wire_symbol_ok("a-b"));
	/* functions of modules */
	ck_assert(hv_wire_symbol_ok("zram:writeback_store"));
	ck_assert(hv_wire_symbol_ok("sch-hhf:hhf_change.isra.0"));
	ck_assert(!hv_wire_symbol_ok(":writeback_store"));
	ck_assert(!hv_wire_symbol_ok("zram:"));
	ck_assert(!hv_wire_symbol_ok("zram:a:b"));
	ck_assert(!hv_wire_symbol_ok("zram:write-back"));
	ck_assert(!hv_wire_symbol_ok("a2345678901234567890123456789012345678901234567890123456:f"));
	ck_assert(hv_wire_op_ok(""));
	ck_assert(hv_wire_op_ok("apply"));
	ck_assert(hv_wire_op_ok("revert"));
	ck_assert(!hv_wire_op_ok("Apply"));
	ck_assert(!hv_wire_op_ok("applyx"));
	ck_assert(hv_wire_printable(" ~", 2));
	ck_assert(!hv_wire_printable("\x1f", 1));
	ck_assert(!hv_wire_printable("\x7f", 1));
	ck_assert(hv_wire_printable("", 0));
	hv_wire_clean(dirty);
	ck_assert_str_eq(dirty, "a??? b");
}
END_TEST

static uint8_t jmp5[5] = { 0xe9, 1, 2, 3, 4 };

static void good_status(struct hv_wire_status *st, size_t n)
{
	size_t i;

	memset(st, 0, sizeof(*st));
	snprintf(st->level, sizeof(st->level), "2026.11-1");
	snprintf(st->previous_level, sizeof(st->previous_level), "2026.11-0");
	snprintf(st->op, sizeof(st->op), "apply");
	st->applied_at = 1764079391;
	st->nfuncs = n;
	st->funcs = calloc(n ? n : 1, sizeof(*st->funcs));
	ck_assert_ptr_nonnull(st->funcs);
	for (i = 0; i < n; i++) {
		snprintf(st->funcs[i].name, sizeof(st->funcs[i].name), "f%zu", i);
		st->funcs[i].site = 0xffffffff81000000ULL + 0x100 * i;
		st->funcs[i].offset = i % 2 ? 4 : 0;
		memcpy(st->funcs[i].expected, jmp5, 5);
		st->funcs[i].expected_len = 5;
	}
}

/* Each way a status can break a rule, and whether it does. */
static const struct {
	const char *what;
	int breaks;
} rules[] = {
	{ "good", 0 },
	{ "level not printable", 1 },
	{ "op unknown", 1 },
	{ "time negative", 1 },
	{ "time at its limit", 0 },
	{ "time past its limit", 1 },
	{ "functions at their limit", 0 },
	{ "one function too many", 1 },
	{ "functions missing", 1 },
	{ "empty name", 1 },
	{ "name with a space", 1 },
	{ "no expected bytes", 1 },
	{ "too many expected bytes", 1 },
	{ "offset at its limit", 0 },
	{ "offset past its limit", 1 },
};

START_TEST(test_status_rules_for_both_sides)
{
	struct hv_wire_status st;
	struct hv_wire_func *keep;

	good_status(&st, HV_WIRE_MAX_FUNCS + 1);
	st.nfuncs = 2;
	keep = st.funcs;
	switch (_i) {
	case 1:
		st.level[3] = '\n';
		break;
	case 2:
		snprintf(st.op, sizeof(st.op), "melt");
		break;
	case 3:
		st.applied_at = -1;
		break;
	case 4:
		st.applied_at = HV_WIRE_TIME_MAX;
		break;
	case 5:
		st.applied_at = HV_WIRE_TIME_MAX + 1;
		break;
	case 6:
		st.nfuncs = HV_WIRE_MAX_FUNCS;
		break;
	case 7:
		st.nfuncs = HV_WIRE_MAX_FUNCS + 1;
		break;
	case 8:
		st.funcs = NULL;
		break;
	case 9:
		st.funcs[1].name[0] = 0;
		break;
	case 10:
		snprintf(st.funcs[1].name, sizeof(st.funcs[1].name), "a b");
		break;
	case 11:
		st.funcs[1].expected_len = 0;
		break;
	case 12:
		st.funcs[1].expected_len = HV_WIRE_BYTES_MAX + 1;
		break;
	case 13:
		st.funcs[1].offset = HV_WIRE_OFFSET_MAX;
		break;
	case 14:
		st.funcs[1].offset = HV_WIRE_OFFSET_MAX + 1;
		break;
	}
	/* The host refuses its caller's status with HV_E_INVAL, the agent a received one
	 * with HV_E_FORMAT: the same rules. */
	ck_assert_msg(hv_wire_status_check(&st, HV_E_INVAL) == (rules[_i].breaks ? HV_E_INVAL : 0),
		      "%s: %s", rules[_i].what, hv_err_last()->msg);
	ck_assert_int_eq(hv_wire_status_check(&st, HV_E_FORMAT),
			 rules[_i].breaks ? HV_E_FORMAT : 0);
	st.funcs = keep;
	hv_wire_status_clear(&st);
}
END_TEST

START_TEST(test_status_written_is_read)
{
	struct hv_wire_status st, back;
	json_t *o;

	good_status(&st, 3);
	st.funcs[2].expected_len = HV_WIRE_BYTES_MAX;
	o = hv_wire_head("status", 9);
	ck_assert_int_eq(hv_wire_status_json(o, &st), 0);
	o = through_the_wire(o);
	memset(&back, 0, sizeof(back));
	ck_assert_int_eq(hv_wire_status_read(o, &back), 0);
	json_decref(o);
	ck_assert(back.known);
	ck_assert_str_eq(back.level, st.level);
	ck_assert_str_eq(back.previous_level, st.previous_level);
	ck_assert_str_eq(back.op, st.op);
	ck_assert_int_eq(back.applied_at, st.applied_at);
	ck_assert_uint_eq(back.nfuncs, 3);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_str_eq(back.funcs[i].name, st.funcs[i].name);
		ck_assert_uint_eq(back.funcs[i].site, st.funcs[i].site);
		ck_assert_uint_eq(back.funcs[i].offset, st.funcs[i].offset);
		ck_assert_uint_eq(back.funcs[i].expected_len, st.funcs[i].expected_len);
		ck_assert_mem_eq(back.funcs[i].expected, st.funcs[i].expected,
				 st.funcs[i].expected_len);
	}
	/* A deep copy: the copy keeps its functions when the original goes. */
	{
		struct hv_wire_status copy;

		memset(&copy, 0, sizeof(copy));
		ck_assert_int_eq(hv_wire_status_copy(&copy, &back), 0);
		ck_assert_ptr_ne(copy.funcs, back.funcs);
		hv_wire_status_clear(&back);
		ck_assert_str_eq(copy.funcs[2].name, "f2");
		hv_wire_status_clear(&copy);
	}
	hv_wire_status_clear(&st);
	hv_wire_status_clear(NULL);
}
END_TEST

START_TEST(test_status_reader_refuses_and_clears)
{
	static const char *bad[] = {
		"{\"functions\":[]}",
		"{\"level\":\"x\"}",
		"{\"level\":\"x\",\"functions\":{}}",
		"{\"level\":\"x\",\"op\":\"melt\",\"functions\":[]}",
		"{\"level\":\"x\",\"applied_at\":-1,\"functions\":[]}",
		"{\"level\":\"x\",\"functions\":[7]}",
		"{\"level\":\"x\",\"functions\":[{\"name\":\"f\",\"site\":\"0x10\"}]}",
		"{\"level\":\"x\",\"functions\":[{\"name\":\"f\",\"expected\":\"90\"}]}",
		"{\"level\":\"x\",\"functions\":[{\"name\":\"f\",\"site\":\"0x10\",\"expected\":"
		"\"90\"},{\"name\":\"f.g h\",\"site\":\"0x10\",\"expected\":\"90\"}]}",
		"{\"level\":\"x\",\"functions\":[{\"name\":\"f\",\"site\":\"0x10\",\"offset\":65,"
		"\"expected\":\"90\"}]}",
	};
	struct hv_wire_status st;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *o = obj(bad[i]);

		memset(&st, 0, sizeof(st));
		ck_assert_msg(hv_wire_status_read(o, &st) == HV_E_FORMAT, "accepted %s", bad[i]);
		ck_assert(!st.known);
		ck_assert_ptr_null(st.funcs);
		ck_assert_uint_eq(st.nfuncs, 0);
		json_decref(o);
	}
}
END_TEST

static void fill_checks(struct hv_wire_verify *v)
{
	static const enum hv_wire_result res[] = { HV_WIRE_PRESENT, HV_WIRE_MISMATCH,
						   HV_WIRE_UNREADABLE };
	static const enum hv_wire_sym sym[] = { HV_WIRE_SYM_AGREES, HV_WIRE_SYM_DIFFERS,
						HV_WIRE_SYM_MISSING };
	size_t i;

	memset(v, 0, sizeof(*v));
	v->at = 1764079393;
	snprintf(v->trigger, sizeof(v->trigger), "status");
	v->n = 3;
	v->checks = calloc(3, sizeof(*v->checks));
	ck_assert_ptr_nonnull(v->checks);
	for (i = 0; i < 3; i++) {
		struct hv_wire_check *c = &v->checks[i];

		snprintf(c->name, sizeof(c->name), "fn%zu", i);
		c->site = 0xffffffff81000000ULL + i;
		c->result = res[i];
		c->sym = sym[i];
		c->sym_addr = c->sym == HV_WIRE_SYM_MISSING ? 0 : 0xffffffff82000000ULL + i;
	}
	memcpy(v->checks[1].found, jmp5, 5);
	v->checks[1].found_len = 5;
	snprintf(v->checks[2].reason, sizeof(v->checks[2].reason), "no \x1b segment");
	v->npresent = v->nmismatch = v->nunreadable = 1;
}

START_TEST(test_verify_written_is_read)
{
	struct hv_wire_verify v, back;
	json_t *o;
	size_t i;

	fill_checks(&v);
	o = through_the_wire(hv_wire_verify_json(&v));
	memset(&back, 0, sizeof(back));
	ck_assert_int_eq(hv_wire_verify_read(o, &back), 0);
	json_decref(o);
	ck_assert_int_eq(back.at, v.at);
	ck_assert_str_eq(back.trigger, "status");
	ck_assert_uint_eq(back.n, 3);
	ck_assert_uint_eq(back.npresent + back.nmismatch + back.nunreadable, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_str_eq(back.checks[i].name, v.checks[i].name);
		ck_assert_uint_eq(back.checks[i].site, v.checks[i].site);
		ck_assert_int_eq(back.checks[i].result, v.checks[i].result);
		ck_assert_int_eq(back.checks[i].sym, v.checks[i].sym);
		ck_assert_uint_eq(back.checks[i].sym_addr, v.checks[i].sym_addr);
	}
	ck_assert_uint_eq(back.checks[1].found_len, 5);
	ck_assert_mem_eq(back.checks[1].found, jmp5, 5);
	/* Text from the guest is reduced to printable ASCII when it is written. */
	ck_assert_str_eq(back.checks[2].reason, "no ? segment");
	ck_assert_str_eq(hv_wire_result_name(HV_WIRE_UNCHECKED), "unchecked");
	ck_assert_str_eq(hv_wire_sym_name(HV_WIRE_SYM_UNKNOWN), "unknown");
	hv_wire_verify_clear(&back);
	hv_wire_verify_clear(&v);
	hv_wire_verify_clear(NULL);
}
END_TEST

START_TEST(test_verify_reader_refuses_lies)
{
	static const char *bad[] = {
		/* counts that disagree with the list */
		"{\"present\":1,\"mismatch\":0,\"unreadable\":0,\"functions\":[]}",
		"{\"present\":0,\"mismatch\":0,\"unreadable\":0,\"functions\":[{\"name\":\"f\","
		"\"site\":\"0x1\",\"result\":\"present\"}]}",
		/* a mismatch without what was found, an unknown result, no list */
		"{\"present\":0,\"mismatch\":1,\"unreadable\":0,\"functions\":[{\"name\":\"f\","
		"\"site\":\"0x1\",\"result\":\"mismatch\"}]}",
		"{\"present\":1,\"mismatch\":0,\"unreadable\":0,\"functions\":[{\"name\":\"f\","
		"\"site\":\"0x1\",\"result\":\"fine\"}]}",
		"{\"present\":0,\"mismatch\":0,\"unreadable\":0}",
		"{\"present\":0,\"mismatch\":0,\"functions\":[]}",
		"{\"present\":257,\"mismatch\":0,\"unreadable\":0,\"functions\":[]}",
		"{\"present\":1,\"mismatch\":0,\"unreadable\":0,\"functions\":[{\"name\":\"f g\","
		"\"site\":\"0x1\",\"result\":\"present\"}]}",
	};
	struct hv_wire_verify v;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *o = obj(bad[i]);

		memset(&v, 0, sizeof(v));
		ck_assert_msg(hv_wire_verify_read(o, &v) == HV_E_FORMAT, "accepted %s", bad[i]);
		ck_assert_ptr_null(v.checks);
		json_decref(o);
	}
	/* A symbol word this side does not know is not a lie. */
	{
		json_t *o = obj("{\"present\":1,\"mismatch\":0,\"unreadable\":0,\"functions\":[{"
				"\"name\":\"f\",\"site\":\"0x1\",\"result\":\"present\","
				"\"symbol\":\"moved\"}]}");

		ck_assert_int_eq(hv_wire_verify_read(o, &v), 0);
		ck_assert_int_eq(v.checks[0].sym, HV_WIRE_SYM_UNKNOWN);
		hv_wire_verify_clear(&v);
		json_decref(o);
	}
}
END_TEST

START_TEST(test_hello_written_is_read)
{
	struct hv_wire_hello h, back;
	json_t *o;

	memset(&h, 0, sizeof(h));
	snprintf(h.agent_version, sizeof(h.agent_version), "0.1.0");
	snprintf(h.kernel_release, sizeof(h.kernel_release), "6.1.0-56-cloud-amd64");
	snprintf(h.boot_id, sizeof(h.boot_id), "0b6c2d7e");
	o = through_the_wire(hv_wire_hello_json(&h));
	ck_assert(json_is_null(json_object_get(o, "level")));
	ck_assert_int_eq(hv_wire_hello_read(o, &back), 0);
	json_decref(o);
	ck_assert_str_eq(back.kernel_release, h.kernel_release);
	ck_assert_str_eq(back.boot_id, h.boot_id);
	ck_assert(!back.level_known);
	h.level_known = true;
	o = through_the_wire(hv_wire_hello_json(&h));
	ck_assert_int_eq(hv_wire_hello_read(o, &back), 0);
	json_decref(o);
	ck_assert(back.level_known);
	ck_assert_str_eq(back.level, "");
	h.kernel_release[0] = 0;
	o = through_the_wire(hv_wire_hello_json(&h));
	ck_assert_int_eq(hv_wire_hello_read(o, &back), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "empty kernel release"));
	json_decref(o);
}
END_TEST

START_TEST(test_ack_and_error_lines)
{
	char text[HV_WIRE_TEXT_MAX + 1], longer[400];
	struct hv_wire_head h;
	json_t *o;
	char *line;
	bool ok;

	memset(longer, 'e', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = 0;
	longer[3] = '\n';
	line = hv_wire_ack_line(7, true, longer);
	ck_assert_ptr_nonnull(line);
	ck_assert_int_eq(hv_wire_parse(line, strlen(line) - 1, HV_WIRE_FROM_AGENT, &o, &h), 0);
	free(line);
	ck_assert_str_eq(h.type, "ack");
	ck_assert_int_eq(hv_wire_ack_read(o, &h, &ok, text), 0);
	ck_assert(ok);
	/* cut to the limit and made printable */
	ck_assert_uint_eq(strlen(text), HV_WIRE_TEXT_MAX);
	ck_assert_int_eq(text[3], '?');
	json_decref(o);

	line = hv_wire_error_line(0, "nothing to verify");
	ck_assert_str_eq(line, "{\"v\":1,\"type\":\"error\",\"id\":null,\"reason\":\"nothing to "
			       "verify\"}\n");
	free(line);

	o = obj("{\"ok\":\"yes\"}");
	h.id = 3;
	ck_assert_int_eq(hv_wire_ack_read(o, &h, &ok, text), HV_E_FORMAT);
	json_decref(o);
	o = obj("{\"ok\":false}");
	ck_assert_int_eq(hv_wire_ack_read(o, &h, &ok, text), 0);
	ck_assert(!ok);
	ck_assert_str_eq(text, "");
	h.id = 0; /* an ack must name the message it answers */
	ck_assert_int_eq(hv_wire_ack_read(o, &h, &ok, text), HV_E_FORMAT);
	json_decref(o);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("wire");
	TCase *t = tcase_create("codec");

	tcase_add_test(t, test_limits_match_the_protocol_document);
	tcase_add_test(t, test_envelope_from_host);
	tcase_add_test(t, test_envelope_from_agent);
	tcase_add_test(t, test_head_and_request_lines);
	tcase_add_test(t, test_string_reader);
	tcase_add_test(t, test_integer_reader);
	tcase_add_test(t, test_address_and_bytes_readers);
	tcase_add_test(t, test_validators);
	tcase_add_loop_test(t, test_status_rules_for_both_sides, 0,
			    (int)(sizeof(rules) / sizeof(rules[0])));
	tcase_add_test(t, test_status_written_is_read);
	tcase_add_test(t, test_status_reader_refuses_and_clears);
	tcase_add_test(t, test_verify_written_is_read);
	tcase_add_test(t, test_verify_reader_refuses_lies);
	tcase_add_test(t, test_hello_written_is_read);
	tcase_add_test(t, test_ack_and_error_lines);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return hv_check_run(suite());
}
