/*
 * hvpatch-agent, guest side: the host-message parser (valid, malformed,
 * oversized, unknown, wrong version, mutated), the state file, the
 * self-check over synthetic kallsyms and kcore files, and the connection
 * logic (acks, errors, dropped oversized lines).
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"
#include "hv_clock.h"
#include "hv_check.h"
#include "test_agent_fixture.h"

#define STATUS_MSG                                                                            \
	"{\"v\":1,\"type\":\"status\",\"id\":7,\"level\":\"2026.11-1\",\"previous_level\":"   \
	"\"2026.11-0\",\"op\":\"apply\",\"applied_at\":1764079391,\"functions\":[{\"name\":"  \
	"\"cmdline_proc_show\",\"site\":\"0xffffffff81000100\",\"expected\":\"0f1f440000\"}," \
	"{\"name\":\"version_proc_show\",\"site\":\"0xffffffff81000200\",\"offset\":0,"       \
	"\"expected\":\"e912345678\"}]}"

static int parse(const char *s, struct agt_msg *m, uint64_t *id)
{
	return agt_msg_parse(s, strlen(s), m, id);
}

START_TEST(test_status_message_parses)
{
	struct agt_msg m;
	uint64_t id;

	ck_assert_int_eq(parse(STATUS_MSG, &m, &id), 0);
	ck_assert_int_eq(m.type, AGT_MSG_STATUS);
	ck_assert_uint_eq(m.id, 7);
	ck_assert_str_eq(m.status.level, "2026.11-1");
	ck_assert_str_eq(m.status.previous_level, "2026.11-0");
	ck_assert_str_eq(m.status.op, "apply");
	ck_assert_int_eq(m.status.applied_at, 1764079391);
	ck_assert_uint_eq(m.status.nfuncs, 2);
	ck_assert_str_eq(m.status.funcs[0].name, "cmdline_proc_show");
	ck_assert_uint_eq(m.status.funcs[0].site, 0xffffffff81000100ULL);
	ck_assert_uint_eq(m.status.funcs[0].expected_len, 5);
	ck_assert_uint_eq(m.status.funcs[0].expected[0], 0x0f);
	ck_assert_uint_eq(m.status.funcs[1].expected[4], 0x78);
	agt_msg_clear(&m);
}
END_TEST

START_TEST(test_ping_and_verify_requests_parse)
{
	struct agt_msg m;
	uint64_t id;

	ck_assert_int_eq(parse("{\"v\":1,\"type\":\"ping\",\"id\":3}", &m, &id), 0);
	ck_assert_int_eq(m.type, AGT_MSG_PING);
	ck_assert_uint_eq(m.id, 3);
	agt_msg_clear(&m);
	ck_assert_int_eq(parse("{\"type\":\"verify\",\"id\":9007199254740991,\"v\":1}", &m, &id),
			 0);
	ck_assert_int_eq(m.type, AGT_MSG_VERIFY);
	ck_assert_uint_eq(m.id, 9007199254740991ULL);
	agt_msg_clear(&m);
}
END_TEST

/* Each malformed message is rejected with the expected error class. */
static const struct {
	const char *msg;
	int code;
	uint64_t id; /* the id the error reply can name */
} bad_msgs[] = {
	{ "", HV_E_FORMAT, 0 },
	{ "{", HV_E_FORMAT, 0 },
	{ "[1,2]", HV_E_FORMAT, 0 },
	{ "\"status\"", HV_E_FORMAT, 0 },
	{ "{\"type\":\"ping\",\"id\":1}", HV_E_FORMAT, 1 },
	{ "{\"v\":2,\"type\":\"ping\",\"id\":1}", HV_E_UNSUPPORTED, 1 },
	{ "{\"v\":\"1\",\"type\":\"ping\",\"id\":1}", HV_E_FORMAT, 1 },
	{ "{\"v\":1,\"type\":\"reboot\",\"id\":4}", HV_E_PROTO, 4 },
	{ "{\"v\":1,\"type\":\"ping\"}", HV_E_FORMAT, 0 },
	{ "{\"v\":1,\"type\":\"ping\",\"id\":0}", HV_E_FORMAT, 0 },
	{ "{\"v\":1,\"type\":\"ping\",\"id\":-5}", HV_E_FORMAT, 0 },
	{ "{\"v\":1,\"type\":\"ping\",\"id\":9007199254740992}", HV_E_FORMAT, 0 },
	{ "{\"v\":1,\"type\":\"ping\",\"id\":1.5}", HV_E_FORMAT, 0 },
	{ "{\"v\":1,\"type\":1,\"id\":2}", HV_E_FORMAT, 2 },
	{ "{\"v\":1,\"v\":1,\"type\":\"ping\",\"id\":2}", HV_E_FORMAT, 0 },
	{ "{\"v\":1,\"type\":\"status\",\"id\":5}", HV_E_FORMAT, 5 },
	{ "{\"v\":1,\"type\":\"status\",\"id\":5,\"level\":\"x\",\"functions\":{}}", HV_E_FORMAT,
	  5 },
	{ "{\"v\":1,\"type\":\"status\",\"id\":5,\"level\":\"a\\nb\",\"functions\":[]}",
	  HV_E_FORMAT, 5 },
	{ "{\"v\":1,\"type\":\"status\",\"id\":5,\"level\":\"x\",\"op\":\"melt\",\"functions\":[]}",
	  HV_E_FORMAT, 5 },
	{ "{\"v\":1,\"type\":\"status\",\"id\":5,\"level\":\"x\",\"functions\":[{\"name\":\"f\","
	  "\"site\":\"ffff\",\"expected\":\"90\"}]}",
	  HV_E_FORMAT, 5 },
	{ "{\"v\":1,\"type\":\"status\",\"id\":5,\"level\":\"x\",\"functions\":[{\"name\":\"f\","
	  "\"site\":\"0x12345678901234567\",\"expected\":\"90\"}]}",
	  HV_E_FORMAT, 5 },
	{ "{\"v\":1,\"type\":\"status\",\"id\":5,\"level\":\"x\",\"functions\":[{\"name\":\"f\","
	  "\"site\":\"0x10\",\"expected\":\"9\"}]}",
	  HV_E_FORMAT, 5 },
	{ "{\"v\":1,\"type\":\"status\",\"id\":5,\"level\":\"x\",\"functions\":[{\"name\":\"f\","
	  "\"site\":\"0x10\",\"expected\":\"zz\"}]}",
	  HV_E_FORMAT, 5 },
	{ "{\"v\":1,\"type\":\"status\",\"id\":5,\"level\":\"x\",\"functions\":[{\"name\":\"f\","
	  "\"site\":\"0x10\",\"expected\":\"000102030405060708090a0b0c0d0e0f10\"}]}",
	  HV_E_FORMAT, 5 },
	{ "{\"v\":1,\"type\":\"status\",\"id\":5,\"level\":\"x\",\"functions\":[{\"name\":\"a b\","
	  "\"site\":\"0x10\",\"expected\":\"90\"}]}",
	  HV_E_FORMAT, 5 },
	{ "{\"v\":1,\"type\":\"status\",\"id\":5,\"level\":\"x\",\"functions\":[{\"name\":\"f\","
	  "\"site\":\"0x10\",\"offset\":65,\"expected\":\"90\"}]}",
	  HV_E_FORMAT, 5 },
	{ "{\"v\":1,\"type\":\"status\",\"id\":5,\"level\":\"x\",\"functions\":[7]}", HV_E_FORMAT,
	  5 },
};

START_TEST(test_malformed_messages_are_rejected)
{
	struct agt_msg m;
	uint64_t id;

	ck_assert_int_eq(parse(bad_msgs[_i].msg, &m, &id), bad_msgs[_i].code);
	ck_assert_uint_eq(id, bad_msgs[_i].id);
	ck_assert_int_eq(m.type, 0);
	ck_assert_ptr_null(m.status.funcs);
	ck_assert_str_ne(hv_err_last()->msg, "");
}
END_TEST

START_TEST(test_too_many_functions_rejected)
{
	size_t cap = 300 * 80 + 200, i;
	char *s = malloc(cap);
	size_t n;
	struct agt_msg m;
	uint64_t id;

	ck_assert_ptr_nonnull(s);
	n = (size_t)snprintf(s, cap,
			     "{\"v\":1,\"type\":\"status\",\"id\":1,\"level\":\"x\","
			     "\"functions\":[");
	for (i = 0; i < HV_WIRE_MAX_FUNCS + 1; i++)
		n += (size_t)snprintf(
			s + n, cap - n,
			"%s{\"name\":\"f%zu\",\"site\":\"0x%zx\",\"expected\":\"90\"}",
			i ? "," : "", i, i);
	snprintf(s + n, cap - n, "]}");
	ck_assert_int_eq(agt_msg_parse(s, strlen(s), &m, &id), HV_E_FORMAT);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "more than the limit"));
	free(s);
}
END_TEST

START_TEST(test_oversized_message_rejected)
{
	char *s = malloc(HV_WIRE_LINE_MAX + 10);
	struct agt_msg m;
	uint64_t id;

	ck_assert_ptr_nonnull(s);
	memset(s, ' ', HV_WIRE_LINE_MAX + 10);
	memcpy(s, "{\"v\":1,\"type\":\"ping\",\"id\":1}", 28);
	ck_assert_int_eq(agt_msg_parse(s, HV_WIRE_LINE_MAX, &m, &id), HV_E_FORMAT);
	/* One byte less is still a message. */
	ck_assert_int_eq(agt_msg_parse(s, HV_WIRE_LINE_MAX - 1, &m, &id), 0);
	agt_msg_clear(&m);
	free(s);
}
END_TEST

/* Flip every byte of a valid message and cut it at every length: never a crash. */
START_TEST(test_mutated_status_never_crashes)
{
	const char *base = STATUS_MSG;
	size_t n = strlen(base), i, ok = 0, bad = 0;
	char *s = malloc(n + 1);
	static const unsigned char flips[] = { 0x01, 0x20, 0x80, 0xff };
	struct agt_msg m;
	uint64_t id;
	size_t f;

	ck_assert_ptr_nonnull(s);
	for (i = 0; i < n; i++) {
		for (f = 0; f < sizeof(flips); f++) {
			memcpy(s, base, n + 1);
			s[i] = (char)(s[i] ^ flips[f]);
			if (agt_msg_parse(s, n, &m, &id) == 0) {
				ok++;
				ck_assert_uint_le(m.status.nfuncs, 2);
				agt_msg_clear(&m);
			} else {
				bad++;
				ck_assert_ptr_null(m.status.funcs);
			}
		}
		/* every truncation of a JSON object is invalid */
		ck_assert_int_lt(agt_msg_parse(base, i, &m, &id), 0);
	}
	ck_assert_uint_gt(bad, n); /* most mutations break it */
	ck_assert_uint_gt(ok, 0);  /* some (inside strings) do not */
	free(s);
}
END_TEST

START_TEST(test_builders_emit_versioned_lines)
{
	struct hv_wire_status st;
	char *l;

	memset(&st, 0, sizeof(st));
	l = agt_hello_line("hello", 0, "6.1.0-56-cloud-amd64", "b00t", &st);
	ck_assert_str_eq(
		l, "{\"v\":1,\"type\":\"hello\",\"id\":null,\"agent_version\":\"" PACKAGE_VERSION
		   "\",\"kernel_release\":\"6.1.0-56-cloud-amd64\",\"boot_id\":\"b00t\","
		   "\"level\":null}\n");
	free(l);
	l = hv_wire_ack_line(42, true, NULL);
	ck_assert_str_eq(l, "{\"v\":1,\"type\":\"ack\",\"id\":42,\"ok\":true}\n");
	free(l);
	l = hv_wire_error_line(0, "bad\x01thing\xff");
	ck_assert_str_eq(l, "{\"v\":1,\"type\":\"error\",\"id\":null,\"reason\":\"bad?thing?\"}\n");
	free(l);
}
END_TEST

START_TEST(test_state_file_round_trip_is_atomic)
{
	char *dir = fx_tmpdir(), path[512], tmp[600];
	struct agt_msg m;
	struct agt_state s, back;
	uint64_t id;
	char *a, *b;
	struct stat sb;

	ck_assert_ptr_nonnull(dir);
	snprintf(path, sizeof(path), "%s/run/hvpatch/status.json", dir);
	memset(&s, 0, sizeof(s));
	memset(&back, 0, sizeof(back));
	ck_assert_int_eq(agt_state_load(path, &back), HV_E_NOTFOUND);
	ck_assert_int_eq(parse(STATUS_MSG, &m, &id), 0);
	ck_assert_int_eq(hv_wire_status_copy(&s.status, &m.status), 0);
	s.status.received_at = 1764079400;
	s.host_connected = true;
	s.host_last_seen = 1764079401;
	ck_assert_int_eq(agt_verify_run(&s.status, "/nonexistent/kallsyms", "/nonexistent/kcore",
					"status", &s.verify),
			 0);
	ck_assert_int_eq(agt_state_save(path, &s), 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	ck_assert_int_ne(stat(tmp, &sb), 0); /* no temporary left behind */
	ck_assert_int_eq(agt_state_load(path, &back), 0);
	a = agt_state_json(&s, 1764079500);
	b = agt_state_json(&back, 1764079500);
	ck_assert_str_eq(a, b);
	ck_assert_ptr_nonnull(strstr(a, "\"age_s\":100"));
	ck_assert_ptr_nonnull(strstr(a, "\"unreadable\":2"));
	free(a);
	free(b);
	/* A corrupt file is an error, not a crash, and not a known state. */
	ck_assert_int_eq(fx_write(path, "{\"known\":true,\"level\":7}", 24), 0);
	ck_assert_int_eq(agt_state_load(path, &back), HV_E_FORMAT);
	ck_assert(!back.status.known);
	agt_state_clear(&s);
	agt_state_clear(&back);
	agt_msg_clear(&m);
	fx_rmdir(dir);
}
END_TEST

struct vfix {
	char *dir;
	char kallsyms[512], kcore[512];
	uint8_t text[FX_TEXT_LEN];
};

static void vfix_init(struct vfix *v, const char *kallsyms_text)
{
	static const uint8_t nop[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	static const uint8_t jmp[5] = { 0xe9, 0x12, 0x34, 0x56, 0x78 };

	v->dir = fx_tmpdir();
	ck_assert_ptr_nonnull(v->dir);
	memset(v->text, 0xcc, sizeof(v->text));
	memcpy(v->text + FX_FUNC_OFF, nop, 5);
	memcpy(v->text + FX_FUNC2_OFF, jmp, 5);
	snprintf(v->kallsyms, sizeof(v->kallsyms), "%s/kallsyms", v->dir);
	snprintf(v->kcore, sizeof(v->kcore), "%s/kcore", v->dir);
	ck_assert_int_eq(fx_write(v->kallsyms, kallsyms_text, strlen(kallsyms_text)), 0);
	ck_assert_int_eq(fx_kcore_file(v->kcore, FX_TEXT_VA, v->text, sizeof(v->text)), 0);
}

static const char good_kallsyms[] = "ffffffff81000000 T _text\n"
				    "ffffffff81000100 t cmdline_proc_show\n"
				    "ffffffff81000180 t cmdline_proc_show\n"
				    "ffffffff81000200 t version_proc_show\n"
				    "ffffffff81000300 t other_function\t[some_module]\n";

START_TEST(test_verify_reports_present_and_mismatch)
{
	struct vfix v;
	struct agt_msg m;
	struct hv_wire_verify out;
	uint64_t id;

	memset(&out, 0, sizeof(out));
	vfix_init(&v, good_kallsyms);
	ck_assert_int_eq(parse(STATUS_MSG, &m, &id), 0);
	/* make the second expectation wrong: the site holds e912345678, expect e9...79 */
	m.status.funcs[1].expected[4] = 0x79;
	ck_assert_int_eq(agt_verify_run(&m.status, v.kallsyms, v.kcore, "request", &out), 0);
	ck_assert_uint_eq(out.n, 2);
	ck_assert_int_eq(out.checks[0].result, HV_WIRE_PRESENT);
	ck_assert_int_eq(out.checks[0].sym, HV_WIRE_SYM_AGREES);
	ck_assert_uint_eq(out.checks[0].sym_addr, FX_FUNC_VA);
	ck_assert_int_eq(out.checks[1].result, HV_WIRE_MISMATCH);
	ck_assert_uint_eq(out.checks[1].found_len, 5);
	ck_assert_uint_eq(out.checks[1].found[4], 0x78);
	ck_assert_uint_eq(out.npresent, 1);
	ck_assert_uint_eq(out.nmismatch, 1);
	ck_assert_uint_eq(out.nunreadable, 0);
	hv_wire_verify_clear(&out);
	agt_msg_clear(&m);
	fx_rmdir(v.dir);
}
END_TEST

/* A function of a module is "MODULE:name", as kallsyms lists it with
 * "[MODULE]" after the name; the bare name does not match it. */
START_TEST(test_verify_module_functions)
{
	struct vfix v;
	struct agt_msg m;
	struct hv_wire_verify out;
	uint64_t id;

	memset(&out, 0, sizeof(out));
	vfix_init(&v, "ffffffff81000000 T _text\n"
		      "ffffffff81000100 t cmdline_proc_show\t[some_module]\n"
		      "ffffffff81000200 t version_proc_show\t[other_module]\n");
	ck_assert_int_eq(parse(STATUS_MSG, &m, &id), 0);
	snprintf(m.status.funcs[0].name, sizeof(m.status.funcs[0].name),
		 "some_module:cmdline_proc_show");
	ck_assert(hv_wire_status_check(&m.status, HV_E_FORMAT) == 0);
	ck_assert_int_eq(agt_verify_run(&m.status, v.kallsyms, v.kcore, "request", &out), 0);
	ck_assert_int_eq(out.checks[0].sym, HV_WIRE_SYM_AGREES);
	ck_assert_uint_eq(out.checks[0].sym_addr, FX_FUNC_VA);
	ck_assert_int_eq(out.checks[0].result, HV_WIRE_PRESENT);
	/* version_proc_show of other_module is not the kernel's version_proc_show */
	ck_assert_int_eq(out.checks[1].sym, HV_WIRE_SYM_MISSING);
	hv_wire_verify_clear(&out);
	agt_msg_clear(&m);
	fx_rmdir(v.dir);
}
END_TEST

START_TEST(test_verify_reports_symbol_disagreement)
{
	struct vfix v;
	struct agt_msg m;
	struct hv_wire_verify out;
	uint64_t id;

	memset(&out, 0, sizeof(out));
	/* kallsyms puts version_proc_show elsewhere and lacks cmdline_proc_show */
	vfix_init(&v, "ffffffff81000000 T _text\n"
		      "ffffffff81000400 t version_proc_show\n");
	ck_assert_int_eq(parse(STATUS_MSG, &m, &id), 0);
	ck_assert_int_eq(agt_verify_run(&m.status, v.kallsyms, v.kcore, "request", &out), 0);
	ck_assert_int_eq(out.checks[0].sym, HV_WIRE_SYM_MISSING);
	ck_assert_int_eq(out.checks[0].result, HV_WIRE_PRESENT);
	ck_assert_ptr_nonnull(strstr(out.checks[0].reason, "does not list"));
	ck_assert_int_eq(out.checks[1].sym, HV_WIRE_SYM_DIFFERS);
	ck_assert_uint_eq(out.checks[1].sym_addr, 0xffffffff81000400ULL);
	hv_wire_verify_clear(&out);
	agt_msg_clear(&m);
	fx_rmdir(v.dir);
}
END_TEST

START_TEST(test_verify_site_outside_core_is_unreadable)
{
	struct vfix v;
	struct agt_msg m;
	struct hv_wire_verify out;
	uint64_t id;

	memset(&out, 0, sizeof(out));
	vfix_init(&v, good_kallsyms);
	ck_assert_int_eq(parse(STATUS_MSG, &m, &id), 0);
	m.status.funcs[0].site = FX_TEXT_VA + FX_TEXT_LEN - 2; /* straddles the end */
	m.status.funcs[1].site = 0xffffffffc0000000ULL;	       /* not mapped at all */
	ck_assert_int_eq(agt_verify_run(&m.status, v.kallsyms, v.kcore, "request", &out), 0);
	ck_assert_int_eq(out.checks[0].result, HV_WIRE_UNREADABLE);
	ck_assert_int_eq(out.checks[1].result, HV_WIRE_UNREADABLE);
	ck_assert_ptr_nonnull(strstr(out.checks[1].reason, "no segment"));
	ck_assert_uint_eq(out.nunreadable, 2);
	hv_wire_verify_clear(&out);
	/* No kcore at all: every site unreadable, with the reason. */
	ck_assert_int_eq(
		agt_verify_run(&m.status, v.kallsyms, "/nonexistent/kcore", "request", &out), 0);
	ck_assert_int_eq(out.checks[0].result, HV_WIRE_UNREADABLE);
	ck_assert_ptr_nonnull(strstr(out.checks[0].reason, "/nonexistent/kcore"));
	hv_wire_verify_clear(&out);
	agt_msg_clear(&m);
	fx_rmdir(v.dir);
}
END_TEST

START_TEST(test_kcore_header_mutations_are_bounded)
{
	uint8_t text[64], img[0x1000 + 64], mut[0x1000 + 64], buf[8];
	char *dir = fx_tmpdir(), path[512];
	size_t n, i;
	struct agt_kcore *k;
	unsigned opened = 0;

	ck_assert_ptr_nonnull(dir);
	snprintf(path, sizeof(path), "%s/kcore", dir);
	memset(text, 0x90, sizeof(text));
	n = fx_kcore_image(img, sizeof(img), FX_TEXT_VA, text, sizeof(text));
	ck_assert_uint_gt(n, 0);
	/* Intact: reads work, and only inside the segment. */
	ck_assert_int_eq(fx_write(path, img, n), 0);
	ck_assert_int_eq(agt_kcore_open(path, &k), 0);
	ck_assert_int_eq(agt_kcore_read(k, FX_TEXT_VA + 56, buf, 8), 0);
	ck_assert_int_eq(agt_kcore_read(k, FX_TEXT_VA + 57, buf, 8), HV_E_RANGE);
	ck_assert_int_eq(agt_kcore_read(k, FX_TEXT_VA - 1, buf, 1), HV_E_RANGE);
	agt_kcore_close(k);
	/* Every header byte flipped, every header truncated: an error or a bounded reader. */
	for (i = 0; i < 64 + 2 * 56; i++) {
		memcpy(mut, img, n);
		mut[i] ^= 0xff;
		ck_assert_int_eq(fx_write(path, mut, n), 0);
		if (agt_kcore_open(path, &k) == 0) {
			opened++;
			int r1 = agt_kcore_read(k, FX_TEXT_VA, buf, 8);
			int r2 = agt_kcore_read(k, 0xfffffffffffffff8ULL, buf, 8);

			ck_assert_int_le(r1, 0);
			ck_assert_int_lt(r2, 0);
			agt_kcore_close(k);
		} else {
			ck_assert_ptr_null(k);
		}
		ck_assert_int_eq(fx_write(path, img, i), 0);
		ck_assert_int_lt(agt_kcore_open(path, &k), 0);
	}
	ck_assert_uint_gt(opened, 0);
	/* A segment whose end wraps around the address space is ignored. */
	memcpy(mut, img, n);
	memset(mut + 64 + 56 + 16, 0xff, 8); /* p_vaddr = ~0 */
	ck_assert_int_eq(fx_write(path, mut, n), 0);
	ck_assert_int_eq(agt_kcore_open(path, &k), 0);
	ck_assert_int_eq(agt_kcore_read(k, 0xffffffffffffffffULL, buf, 1), HV_E_RANGE);
	agt_kcore_close(k);
	fx_rmdir(dir);
}
END_TEST

START_TEST(test_kallsyms_long_and_odd_lines_skipped)
{
	struct vfix v;
	struct agt_msg m;
	struct hv_wire_verify out = { 0 };
	uint64_t id;
	char *ks = malloc(8192);
	size_t n = 0;

	ck_assert_ptr_nonnull(ks);
	/* a 3000-character line whose tail looks like a valid entry, and junk lines */
	n += (size_t)snprintf(ks + n, 8192 - n, "ffffffff81000000 T ");
	memset(ks + n, 'a', 3000);
	n += 3000;
	n += (size_t)snprintf(ks + n, 8192 - n,
			      "\nffffffff81000100 t cmdline_proc_show\n"
			      "zzzz t version_proc_show\n"
			      "ffffffff81000200t version_proc_show\n"
			      "12345678901234567 t version_proc_show\n");
	vfix_init(&v, ks);
	ck_assert_int_eq(parse(STATUS_MSG, &m, &id), 0);
	ck_assert_int_eq(agt_verify_run(&m.status, v.kallsyms, v.kcore, "request", &out), 0);
	ck_assert_int_eq(out.checks[0].sym, HV_WIRE_SYM_AGREES);
	ck_assert_int_eq(out.checks[1].sym, HV_WIRE_SYM_MISSING);
	hv_wire_verify_clear(&out);
	agt_msg_clear(&m);
	fx_rmdir(v.dir);
	free(ks);
}
END_TEST

/* The connection: feed host bytes, read the queued replies. */
struct cfix {
	struct vfix v;
	char state[512];
	struct agt_config cfg;
	struct agt_state st;
	struct agt_conn *c;
};

static void cfix_init(struct cfix *f)
{
	memset(f, 0, sizeof(*f));
	vfix_init(&f->v, good_kallsyms);
	snprintf(f->state, sizeof(f->state), "%s/status.json", f->v.dir);
	f->cfg.port = "/nonexistent";
	f->cfg.state_path = f->state;
	f->cfg.kallsyms = f->v.kallsyms;
	f->cfg.kcore = f->v.kcore;
	f->cfg.verify_interval_s = 0;
	ck_assert_int_eq(agt_conn_new(&f->cfg, &f->st, &f->c), 0);
}

static void cfix_done(struct cfix *f)
{
	agt_conn_free(f->c);
	agt_state_clear(&f->st);
	fx_rmdir(f->v.dir);
}

/* The queued output as a string (static buffer), then forget it. */
static const char *drain(struct cfix *f)
{
	static char out[AGT_OUTQ_MAX + 1];
	size_t n;
	const char *p = agt_conn_output(f->c, &n);

	memcpy(out, p, n);
	out[n] = 0;
	agt_conn_consumed(f->c, n);
	return out;
}

static int count_lines(const char *s, const char *needle)
{
	int n = 0;

	while ((s = strstr(s, needle))) {
		n++;
		s++;
	}
	return n;
}

START_TEST(test_conn_acks_status_then_verifies)
{
	struct cfix f;
	const char *out;
	struct agt_state back;

	cfix_init(&f);
	ck_assert_int_eq(agt_conn_input(f.c, STATUS_MSG "\n", strlen(STATUS_MSG) + 1), 0);
	out = drain(&f);
	ck_assert_str_eq(out, "{\"v\":1,\"type\":\"ack\",\"id\":7,\"ok\":true}\n");
	ck_assert(agt_conn_verify_pending(f.c));
	ck_assert_int_eq(agt_conn_run_pending(f.c), 0);
	out = drain(&f);
	ck_assert_ptr_nonnull(strstr(out, "\"type\":\"verify\",\"id\":7"));
	ck_assert_ptr_nonnull(strstr(out, "\"present\":2,\"mismatch\":0"));
	/* The tenant's state file has the new level and the self-check. */
	memset(&back, 0, sizeof(back));
	ck_assert_int_eq(agt_state_load(f.state, &back), 0);
	ck_assert_str_eq(back.status.level, "2026.11-1");
	ck_assert_uint_eq(back.verify.npresent, 2);
	agt_state_clear(&back);
	cfix_done(&f);
}
END_TEST

START_TEST(test_conn_ack_says_when_state_cannot_be_saved)
{
	struct cfix f;
	const char *out;

	cfix_init(&f);
	f.cfg.state_path = "/proc/hvpatch-cannot-write-here/status.json";
	ck_assert_int_eq(agt_conn_input(f.c, STATUS_MSG "\n", strlen(STATUS_MSG) + 1), 0);
	out = drain(&f);
	ck_assert_ptr_nonnull(strstr(out,
				     "{\"v\":1,\"type\":\"ack\",\"id\":7,\"ok\":true,\"error\":"
				     "\"cannot create the state directory"));
	ck_assert_str_eq(f.st.status.level, "2026.11-1");
	cfix_done(&f);
}
END_TEST

START_TEST(test_conn_answers_errors_and_keeps_going)
{
	struct cfix f;
	const char *out;
	static const char in[] = "garbage\n"
				 "{\"v\":9,\"type\":\"ping\",\"id\":11}\n"
				 "{\"v\":1,\"type\":\"format_disk\",\"id\":12}\n"
				 "{\"v\":1,\"type\":\"verify\",\"id\":13}\n"
				 "\n"
				 "{\"v\":1,\"type\":\"ping\",\"id\":14}\n";

	cfix_init(&f);
	/* byte by byte: lines split across reads must still work */
	for (size_t i = 0; i < sizeof(in) - 1; i++)
		ck_assert_int_eq(agt_conn_input(f.c, in + i, 1), 0);
	out = drain(&f);
	ck_assert_int_eq(count_lines(out, "\"type\":\"error\""), 4);
	ck_assert_ptr_nonnull(strstr(
		out,
		"\"type\":\"error\",\"id\":null,\"reason\":\"the host message is not valid JSON"));
	ck_assert_ptr_nonnull(
		strstr(out, "\"id\":11,\"reason\":\"the host speaks protocol version 9"));
	ck_assert_ptr_nonnull(strstr(out, "\"id\":12,\"reason\":\"the host message type"));
	ck_assert_ptr_nonnull(strstr(out, "\"id\":13,\"reason\":\"no status is known"));
	ck_assert_ptr_nonnull(strstr(out, "\"type\":\"pong\",\"id\":14"));
	ck_assert(!f.st.status.known);
	cfix_done(&f);
}
END_TEST

START_TEST(test_conn_drops_oversized_line_whole)
{
	struct cfix f;
	const char *out;
	char *big = malloc(HV_WIRE_LINE_MAX + 100);
	static const char ping[] = "{\"v\":1,\"type\":\"ping\",\"id\":5}\n";

	ck_assert_ptr_nonnull(big);
	cfix_init(&f);
	/* an oversized line whose tail would parse as a status if it were kept */
	memset(big, ' ', HV_WIRE_LINE_MAX + 100);
	memcpy(big + HV_WIRE_LINE_MAX + 100 - strlen(STATUS_MSG), STATUS_MSG, strlen(STATUS_MSG));
	ck_assert_int_eq(agt_conn_input(f.c, big, HV_WIRE_LINE_MAX + 100), 0);
	ck_assert_int_eq(agt_conn_input(f.c, "\n", 1), 0);
	ck_assert_int_eq(agt_conn_input(f.c, ping, strlen(ping)), 0);
	out = drain(&f);
	ck_assert_ptr_nonnull(strstr(out, "exceeded the size limit"));
	ck_assert_ptr_nonnull(strstr(out, "\"type\":\"pong\",\"id\":5"));
	ck_assert(!f.st.status.known);
	cfix_done(&f);
	free(big);
}
END_TEST

START_TEST(test_conn_output_queue_is_bounded)
{
	struct cfix f;
	size_t n, i;
	static const char ping[] = "{\"v\":1,\"type\":\"ping\",\"id\":5}\n";

	cfix_init(&f);
	/* a host that sends but never reads: replies stop at the queue limit */
	for (i = 0; i < 10000; i++)
		ck_assert_int_eq(agt_conn_input(f.c, ping, strlen(ping)), 0);
	(void)agt_conn_output(f.c, &n);
	ck_assert_uint_le(n, AGT_OUTQ_MAX);
	ck_assert_uint_gt(n, AGT_OUTQ_MAX - 300);
	cfix_done(&f);
}
END_TEST

/* ---- the daemon over a pseudo-terminal standing in for the virtio port */

struct dfix {
	struct vfix v;
	char port[512], state[512];
	struct agt_config cfg;
	volatile int stop;
	pthread_t th;
};

static void *daemon_main(void *arg)
{
	struct dfix *d = arg;

	(void)agt_daemon(&d->cfg, &d->stop);
	return NULL;
}

/* A new pty in raw mode whose slave the port symlink points at; returns the master. */
static int new_port(const char *link)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	struct termios t;

	ck_assert_int_ge(m, 0);
	ck_assert_int_eq(grantpt(m), 0);
	ck_assert_int_eq(unlockpt(m), 0);
	ck_assert_int_eq(tcgetattr(m, &t), 0);
	cfmakeraw(&t);
	ck_assert_int_eq(tcsetattr(m, TCSANOW, &t), 0);
	unlink(link);
	ck_assert_int_eq(symlink(ptsname(m), link), 0);
	return m;
}

/* Read from @fd until a line containing @want arrives or @timeout_ms pass. */
static int wait_for(int fd, const char *want, int timeout_ms, char *buf, size_t cap)
{
	uint64_t deadline_ms = hv_mono_ms() + (uint64_t)timeout_ms;
	size_t n = 0;

	buf[0] = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left_ms = hv_ms_until(deadline_ms);

		if (strstr(buf, want))
			return 0;
		if (!left_ms || n + 1 >= cap)
			return -1;
		if (poll(&p, 1, left_ms) > 0) {
			ssize_t r = read(fd, buf + n, cap - 1 - n);

			if (r <= 0)
				return -1;
			n += (size_t)r;
			buf[n] = 0;
		}
	}
}

START_TEST(test_daemon_reopens_port_after_it_goes_away)
{
	static char buf[65536];
	struct dfix d;
	int m;
	static const char ping[] = "{\"v\":1,\"type\":\"ping\",\"id\":21}\n";

	memset(&d, 0, sizeof(d));
	vfix_init(&d.v, good_kallsyms);
	snprintf(d.port, sizeof(d.port), "%s/port", d.v.dir);
	snprintf(d.state, sizeof(d.state), "%s/run/status.json", d.v.dir);
	d.cfg.port = d.port;
	d.cfg.state_path = d.state;
	d.cfg.kallsyms = d.v.kallsyms;
	d.cfg.kcore = d.v.kcore;
	d.cfg.poll_ms = 20;
	m = new_port(d.port);
	ck_assert_int_eq(pthread_create(&d.th, NULL, daemon_main, &d), 0);
	/* A host on the port: hello, then a status is acked and verified. */
	ck_assert_msg(wait_for(m, "\"type\":\"hello\"", 5000, buf, sizeof(buf)) == 0, "got: %s",
		      buf);
	ck_assert_ptr_nonnull(strstr(buf, "\"level\":null"));
	ck_assert_int_eq(write(m, STATUS_MSG "\n", strlen(STATUS_MSG) + 1),
			 (ssize_t)strlen(STATUS_MSG) + 1);
	ck_assert_msg(wait_for(m, "\"type\":\"verify\",\"id\":7", 5000, buf, sizeof(buf)) == 0,
		      "got: %s", buf);
	ck_assert_ptr_nonnull(strstr(buf, "\"type\":\"ack\",\"id\":7,\"ok\":true"));
	/* The port goes away (hang-up), and a new one appears at the same path. */
	close(m);
	m = new_port(d.port);
	ck_assert_msg(wait_for(m, "\"type\":\"hello\"", 8000, buf, sizeof(buf)) == 0,
		      "no hello after the port came back: %s", buf);
	/* The agent still knows the level it was told before. */
	ck_assert_ptr_nonnull(strstr(buf, "\"level\":\"2026.11-1\""));
	ck_assert_int_eq(write(m, ping, strlen(ping)), (ssize_t)strlen(ping));
	ck_assert_msg(wait_for(m, "\"type\":\"pong\",\"id\":21", 5000, buf, sizeof(buf)) == 0,
		      "got: %s", buf);
	d.stop = 1;
	pthread_join(d.th, NULL);
	close(m);
	fx_rmdir(d.v.dir);
}
END_TEST

/* A verification of many long-named, unreadable functions still fits one message. */
START_TEST(test_verify_line_stays_under_the_limit)
{
	struct hv_wire_status st;
	struct hv_wire_verify v;
	char *line;
	size_t i;

	memset(&st, 0, sizeof(st));
	memset(&v, 0, sizeof(v));
	st.known = true;
	st.nfuncs = 200;
	st.funcs = calloc(st.nfuncs, sizeof(*st.funcs));
	ck_assert_ptr_nonnull(st.funcs);
	for (i = 0; i < st.nfuncs; i++) {
		memset(st.funcs[i].name, 'f', 200);
		snprintf(st.funcs[i].name + 200, 16, "%u", (unsigned)(i % 1000));
		st.funcs[i].site = FX_TEXT_VA + i;
		st.funcs[i].expected_len = 5;
	}
	ck_assert_int_eq(
		agt_verify_run(&st, "/nonexistent/kallsyms", "/nonexistent/kcore", "status", &v),
		0);
	ck_assert_uint_eq(v.nunreadable, 200);
	line = agt_verify_line(9, &st, &v);
	ck_assert_ptr_nonnull(line);
	ck_assert_uint_lt(strlen(line), HV_WIRE_LINE_MAX);
	ck_assert_ptr_nonnull(strstr(line, "\"type\":\"verify\",\"id\":9"));
	ck_assert_ptr_nonnull(strstr(line, "\"unreadable\":200"));
	free(line);
	/* Even longer: an error message instead of an oversized line. */
	st.nfuncs = v.n = HV_WIRE_MAX_FUNCS;
	st.funcs = realloc(st.funcs, st.nfuncs * sizeof(*st.funcs));
	v.checks = realloc(v.checks, v.n * sizeof(*v.checks));
	ck_assert_ptr_nonnull(st.funcs);
	ck_assert_ptr_nonnull(v.checks);
	for (i = 200; i < st.nfuncs; i++) {
		st.funcs[i] = st.funcs[0];
		v.checks[i] = v.checks[0];
		memset(v.checks[i].name, 'g', HV_WIRE_NAME_MAX);
		v.checks[i].name[HV_WIRE_NAME_MAX] = 0;
	}
	line = agt_verify_line(9, &st, &v);
	ck_assert_ptr_nonnull(line);
	ck_assert_uint_lt(strlen(line), HV_WIRE_LINE_MAX);
	ck_assert_ptr_nonnull(strstr(line, "\"type\":\"error\",\"id\":9"));
	free(line);
	hv_wire_verify_clear(&v);
	hv_wire_status_clear(&st);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("agent");
	TCase *t = tcase_create("core");

	tcase_set_timeout(t, 60);
	tcase_add_test(t, test_status_message_parses);
	tcase_add_test(t, test_ping_and_verify_requests_parse);
	tcase_add_loop_test(t, test_malformed_messages_are_rejected, 0,
			    (int)(sizeof(bad_msgs) / sizeof(bad_msgs[0])));
	tcase_add_test(t, test_too_many_functions_rejected);
	tcase_add_test(t, test_oversized_message_rejected);
	tcase_add_test(t, test_mutated_status_never_crashes);
	tcase_add_test(t, test_builders_emit_versioned_lines);
	tcase_add_test(t, test_state_file_round_trip_is_atomic);
	tcase_add_test(t, test_verify_reports_present_and_mismatch);
	tcase_add_test(t, test_verify_reports_symbol_disagreement);
	tcase_add_test(t, test_verify_module_functions);
	tcase_add_test(t, test_verify_site_outside_core_is_unreadable);
	tcase_add_test(t, test_kcore_header_mutations_are_bounded);
	tcase_add_test(t, test_kallsyms_long_and_odd_lines_skipped);
	tcase_add_test(t, test_conn_acks_status_then_verifies);
	tcase_add_test(t, test_conn_answers_errors_and_keeps_going);
	tcase_add_test(t, test_conn_ack_says_when_state_cannot_be_saved);
	tcase_add_test(t, test_conn_drops_oversized_line_whole);
	tcase_add_test(t, test_conn_output_queue_is_bounded);
	tcase_add_test(t, test_daemon_reopens_port_after_it_goes_away);
	tcase_add_test(t, test_verify_line_stays_under_the_limit);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return hv_check_run(suite());
}
