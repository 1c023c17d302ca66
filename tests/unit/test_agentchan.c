/*
 * The host's channel to hvpatch-agent: the guest-message parser (valid,
 * malformed, oversized, wrong version, unknown type, lying counts, mutated)
 * and the client against fake agents served by a thread on a unix socket:
 * the real agent code (well-behaved), and silent, slow, flooding,
 * garbage-sending, lying, rejecting and hanging-up ones.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "hv_clock.h"
#include "hvc.h"
#include "hv_check.h"
#include "test_agent_fixture.h"

#define VERIFY_MSG                                                                              \
	"{\"v\":1,\"type\":\"verify\",\"id\":4,\"level\":\"L1\",\"at\":1764079391,\"trigger\":" \
	"\"status\",\"present\":1,\"mismatch\":1,\"unreadable\":1,\"functions\":[{\"name\":"    \
	"\"a\",\"site\":\"0xffffffff81000100\",\"result\":\"present\",\"symbol\":\"agrees\","   \
	"\"symbol_address\":\"0xffffffff81000100\"},{\"name\":\"b\",\"site\":"                  \
	"\"0xffffffff81000200\",\"result\":\"mismatch\",\"found\":\"0f1f440000\",\"symbol\":"   \
	"\"differs\",\"symbol_address\":\"0xffffffff81000400\"},{\"name\":\"c\",\"site\":"      \
	"\"0x10\","                                                                             \
	"\"result\":\"unreadable\",\"reason\":\"no segment\"}]}"

#define HELLO_MSG                                                                                 \
	"{\"v\":1,\"type\":\"hello\",\"id\":null,\"agent_version\":\"0.1.0\",\"kernel_release\":" \
	"\"6.1.0-56-cloud-amd64\",\"boot_id\":\"0b6c2d7e\",\"level\":null}"

static int parse(const char *s, struct hvc_msg *m)
{
	return hvc_msg_parse(s, strlen(s), m);
}

START_TEST(test_hello_parses)
{
	struct hvc_msg m;

	ck_assert_int_eq(parse(HELLO_MSG, &m), 0);
	ck_assert_int_eq(m.type, HVC_MSG_HELLO);
	ck_assert_uint_eq(m.id, 0);
	ck_assert_str_eq(m.agent.agent_version, "0.1.0");
	ck_assert_str_eq(m.agent.kernel_release, "6.1.0-56-cloud-amd64");
	ck_assert(!m.agent.level_known);
	hvc_msg_clear(&m);
}
END_TEST

START_TEST(test_verify_parses)
{
	struct hvc_msg m;

	ck_assert_int_eq(parse(VERIFY_MSG, &m), 0);
	ck_assert_int_eq(m.type, HVC_MSG_VERIFY);
	ck_assert_uint_eq(m.id, 4);
	ck_assert_uint_eq(m.verify.n, 3);
	ck_assert_int_eq(m.verify.checks[0].result, HV_WIRE_PRESENT);
	ck_assert_int_eq(m.verify.checks[0].sym, HV_WIRE_SYM_AGREES);
	ck_assert_int_eq(m.verify.checks[1].result, HV_WIRE_MISMATCH);
	ck_assert_uint_eq(m.verify.checks[1].found_len, 5);
	ck_assert_uint_eq(m.verify.checks[1].found[0], 0x0f);
	ck_assert_uint_eq(m.verify.checks[1].sym_addr, 0xffffffff81000400ULL);
	ck_assert_int_eq(m.verify.checks[2].result, HV_WIRE_UNREADABLE);
	ck_assert_str_eq(m.verify.checks[2].reason, "no segment");
	ck_assert_uint_eq(m.verify.npresent + m.verify.nmismatch + m.verify.nunreadable, 3);
	hvc_msg_clear(&m);
}
END_TEST

START_TEST(test_ack_error_and_unknown_types_parse)
{
	struct hvc_msg m;

	ck_assert_int_eq(parse("{\"v\":1,\"type\":\"ack\",\"id\":3,\"ok\":true}", &m), 0);
	ck_assert_int_eq(m.type, HVC_MSG_ACK);
	ck_assert(m.ok);
	hvc_msg_clear(&m);
	ck_assert_int_eq(parse("{\"v\":1,\"type\":\"error\",\"id\":null,\"reason\":\"x\"}", &m), 0);
	ck_assert_int_eq(m.type, HVC_MSG_ERROR);
	ck_assert_str_eq(m.text, "x");
	hvc_msg_clear(&m);
	/* A newer agent's new message type is ignored, not an error. */
	ck_assert_int_eq(parse("{\"v\":1,\"type\":\"telemetry\",\"id\":null}", &m), 0);
	ck_assert_int_eq(m.type, HVC_MSG_UNKNOWN);
	hvc_msg_clear(&m);
}
END_TEST

static const struct {
	const char *msg;
	int code;
} bad_msgs[] = {
	{ "", HV_E_FORMAT },
	{ "nonsense", HV_E_FORMAT },
	{ "{\"v\":1,\"type\":\"hello\"", HV_E_FORMAT },
	{ "[]", HV_E_FORMAT },
	{ "{\"type\":\"hello\"}", HV_E_FORMAT },
	{ "{\"v\":2,\"type\":\"hello\"}", HV_E_UNSUPPORTED },
	{ "{\"v\":1}", HV_E_FORMAT },
	{ "{\"v\":1,\"type\":\"hello\",\"agent_version\":\"1\"}", HV_E_FORMAT },
	{ "{\"v\":1,\"type\":\"hello\",\"agent_version\":\"1\",\"kernel_release\":\"\"}",
	  HV_E_FORMAT },
	{ "{\"v\":1,\"type\":\"hello\",\"agent_version\":\"1\",\"kernel_release\":\"a\\u001b[2J\"}",
	  HV_E_FORMAT },
	{ "{\"v\":1,\"type\":\"hello\",\"agent_version\":\"1\",\"kernel_release\":"
	  "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
	  HV_E_FORMAT },
	{ "{\"v\":1,\"type\":\"hello\",\"agent_version\":7,\"kernel_release\":\"r\"}",
	  HV_E_FORMAT },
	{ "{\"v\":1,\"type\":\"ack\",\"ok\":true}", HV_E_FORMAT },
	{ "{\"v\":1,\"type\":\"ack\",\"id\":3,\"ok\":\"yes\"}", HV_E_FORMAT },
	{ "{\"v\":1,\"type\":\"ack\",\"id\":-3,\"ok\":true}", HV_E_FORMAT },
	{ "{\"v\":1,\"type\":\"ack\",\"id\":99999999999999999999,\"ok\":true}", HV_E_FORMAT },
	{ "{\"v\":1,\"type\":\"error\",\"id\":3}", HV_E_FORMAT },
	{ "{\"v\":1,\"type\":\"verify\",\"id\":3,\"present\":0,\"mismatch\":0,\"unreadable\":0}",
	  HV_E_FORMAT },
	/* counts that lie about the list */
	{ "{\"v\":1,\"type\":\"verify\",\"id\":3,\"present\":5,\"mismatch\":0,\"unreadable\":0,"
	  "\"functions\":[]}",
	  HV_E_FORMAT },
	{ "{\"v\":1,\"type\":\"verify\",\"id\":3,\"present\":100000,\"mismatch\":0,\"unreadable\":"
	  "0,"
	  "\"functions\":[]}",
	  HV_E_FORMAT },
	{ "{\"v\":1,\"type\":\"verify\",\"id\":3,\"present\":0,\"mismatch\":1,\"unreadable\":0,"
	  "\"functions\":[{\"name\":\"a\",\"site\":\"0x1\",\"result\":\"mismatch\"}]}",
	  HV_E_FORMAT },
	{ "{\"v\":1,\"type\":\"verify\",\"id\":3,\"present\":1,\"mismatch\":0,\"unreadable\":0,"
	  "\"functions\":[{\"name\":\"a\",\"site\":\"0x1\",\"result\":\"fine\"}]}",
	  HV_E_FORMAT },
	{ "{\"v\":1,\"type\":\"verify\",\"id\":3,\"present\":1,\"mismatch\":0,\"unreadable\":0,"
	  "\"functions\":[{\"name\":\"a;rm\",\"site\":\"0x1\",\"result\":\"present\"}]}",
	  HV_E_FORMAT },
	{ "{\"v\":1,\"type\":\"verify\",\"id\":3,\"present\":1,\"mismatch\":0,\"unreadable\":0,"
	  "\"functions\":[{\"name\":\"a\",\"site\":\"1\",\"result\":\"present\"}]}",
	  HV_E_FORMAT },
	{ "{\"v\":1,\"type\":\"verify\",\"id\":3,\"present\":0,\"mismatch\":1,\"unreadable\":0,"
	  "\"functions\":[{\"name\":\"a\",\"site\":\"0x1\",\"result\":\"mismatch\",\"found\":"
	  "\"00112233445566778899aabbccddeeff00\"}]}",
	  HV_E_FORMAT },
	{ "{\"v\":1,\"type\":\"verify\",\"id\":3,\"present\":1,\"mismatch\":0,\"unreadable\":0,"
	  "\"functions\":[\"a\"]}",
	  HV_E_FORMAT },
};

START_TEST(test_malformed_guest_messages_rejected)
{
	struct hvc_msg m;

	ck_assert_int_eq(parse(bad_msgs[_i].msg, &m), bad_msgs[_i].code);
	ck_assert_ptr_null(m.verify.checks);
	ck_assert_int_eq(m.type, 0);
}
END_TEST

START_TEST(test_oversized_guest_message_rejected)
{
	char *s = malloc(HV_WIRE_LINE_MAX + 1);
	struct hvc_msg m;

	ck_assert_ptr_nonnull(s);
	memset(s, ' ', HV_WIRE_LINE_MAX + 1);
	memcpy(s, HELLO_MSG, strlen(HELLO_MSG));
	ck_assert_int_eq(hvc_msg_parse(s, HV_WIRE_LINE_MAX, &m), HV_E_FORMAT);
	ck_assert_int_eq(hvc_msg_parse(s, HV_WIRE_LINE_MAX - 1, &m), 0);
	hvc_msg_clear(&m);
	free(s);
}
END_TEST

START_TEST(test_mutated_guest_messages_never_crash)
{
	const char *bases[] = { VERIFY_MSG, HELLO_MSG };
	static const unsigned char flips[] = { 0x01, 0x04, 0x20, 0x80, 0xff };
	size_t b, i, f, ok = 0, bad = 0;
	struct hvc_msg m;

	for (b = 0; b < 2; b++) {
		size_t n = strlen(bases[b]);
		char *s = malloc(n + 1);

		ck_assert_ptr_nonnull(s);
		for (i = 0; i < n; i++) {
			for (f = 0; f < sizeof(flips); f++) {
				memcpy(s, bases[b], n + 1);
				s[i] = (char)(s[i] ^ flips[f]);
				if (hvc_msg_parse(s, n, &m) == 0) {
					ok++;
					ck_assert_uint_le(m.verify.n, 3);
					ck_assert_uint_eq(m.verify.npresent + m.verify.nmismatch +
								  m.verify.nunreadable,
							  m.verify.n);
					hvc_msg_clear(&m);
				} else {
					bad++;
					ck_assert_ptr_null(m.verify.checks);
				}
			}
			ck_assert_int_lt(hvc_msg_parse(bases[b], i, &m), 0);
		}
		free(s);
	}
	ck_assert_uint_gt(bad, ok);
	ck_assert_uint_gt(ok, 0);
}
END_TEST

static const uint8_t nop5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
static const uint8_t jmp5[5] = { 0xe9, 0x01, 0x02, 0x03, 0x04 };

START_TEST(test_status_line_checks_caller_input)
{
	struct hvc_func f = { "cmdline_proc_show", 0xffffffff81000100ULL, 0, nop5, 5 };
	struct hvc_status st = { "L1", "L0", "apply", 1764079391, 1, &f };
	char *line = NULL;
	struct agt_msg m;
	uint64_t id;

	ck_assert_int_eq(hvc_status_line(12, &st, &line), 0);
	/* What the host builds, the agent accepts, field for field. */
	ck_assert_int_eq(agt_msg_parse(line, strlen(line) - 1, &m, &id), 0);
	ck_assert_uint_eq(m.id, 12);
	ck_assert_str_eq(m.status.level, "L1");
	ck_assert_str_eq(m.status.previous_level, "L0");
	ck_assert_uint_eq(m.status.funcs[0].site, 0xffffffff81000100ULL);
	ck_assert_mem_eq(m.status.funcs[0].expected, nop5, 5);
	agt_msg_clear(&m);
	free(line);
	f.name = "bad name";
	ck_assert_int_eq(hvc_status_line(12, &st, &line), HV_E_INVAL);
	f.name = "ok";
	f.expected_len = 17;
	ck_assert_int_eq(hvc_status_line(12, &st, &line), HV_E_INVAL);
	f.expected_len = 5;
	st.level = "tab\there";
	ck_assert_int_eq(hvc_status_line(12, &st, &line), HV_E_INVAL);
	st.level = "L1";
	st.op = "explode";
	ck_assert_int_eq(hvc_status_line(12, &st, &line), HV_E_INVAL);
	st.op = NULL;
	ck_assert_int_eq(hvc_status_line(0, &st, &line), HV_E_INVAL);
	ck_assert_ptr_null(line);
}
END_TEST

/* What the agent builds, the host accepts, field for field: one codec both ways. */
START_TEST(test_agent_lines_reach_the_host_intact)
{
	struct hv_wire_status st = { .known = true, .level = "2026.11-1" };
	struct hv_wire_verify v = { .at = 1764079393, .trigger = "periodic", .n = 2 };
	struct hvc_msg m;
	char *line;
	size_t i;

	line = agt_hello_line("pong", 5, "6.1.0-56-cloud-amd64", "b00t", &st);
	ck_assert_int_eq(hvc_msg_parse(line, strlen(line) - 1, &m), 0);
	free(line);
	ck_assert_int_eq(m.type, HVC_MSG_PONG);
	ck_assert_uint_eq(m.id, 5);
	ck_assert_str_eq(m.agent.agent_version, PACKAGE_VERSION);
	ck_assert_str_eq(m.agent.kernel_release, "6.1.0-56-cloud-amd64");
	ck_assert_str_eq(m.agent.boot_id, "b00t");
	ck_assert(m.agent.level_known);
	ck_assert_str_eq(m.agent.level, "2026.11-1");
	hvc_msg_clear(&m);

	v.checks = calloc(2, sizeof(*v.checks));
	ck_assert_ptr_nonnull(v.checks);
	snprintf(v.checks[0].name, sizeof(v.checks[0].name), "cmdline_proc_show");
	v.checks[0].site = 0xffffffff81000100ULL;
	v.checks[0].result = HV_WIRE_PRESENT;
	v.checks[0].sym = HV_WIRE_SYM_AGREES;
	v.checks[0].sym_addr = 0xffffffff81000100ULL;
	snprintf(v.checks[1].name, sizeof(v.checks[1].name), "version_proc_show");
	v.checks[1].site = 0xffffffff81000200ULL;
	v.checks[1].result = HV_WIRE_MISMATCH;
	memcpy(v.checks[1].found, jmp5, 5);
	v.checks[1].found_len = 5;
	v.checks[1].sym = HV_WIRE_SYM_MISSING;
	snprintf(v.checks[1].reason, sizeof(v.checks[1].reason), "kallsyms does not list it");
	v.npresent = 1;
	v.nmismatch = 1;
	line = agt_verify_line(0, &st, &v);
	ck_assert_int_eq(hvc_msg_parse(line, strlen(line) - 1, &m), 0);
	free(line);
	ck_assert_int_eq(m.type, HVC_MSG_VERIFY);
	ck_assert_uint_eq(m.id, 0);
	ck_assert_str_eq(m.level, "2026.11-1");
	ck_assert_str_eq(m.verify.trigger, "periodic");
	ck_assert_int_eq(m.verify.at, v.at);
	ck_assert_uint_eq(m.verify.n, 2);
	ck_assert_uint_eq(m.verify.npresent, 1);
	ck_assert_uint_eq(m.verify.nmismatch, 1);
	for (i = 0; i < 2; i++) {
		ck_assert_str_eq(m.verify.checks[i].name, v.checks[i].name);
		ck_assert_uint_eq(m.verify.checks[i].site, v.checks[i].site);
		ck_assert_int_eq(m.verify.checks[i].result, v.checks[i].result);
		ck_assert_int_eq(m.verify.checks[i].sym, v.checks[i].sym);
		ck_assert_uint_eq(m.verify.checks[i].sym_addr, v.checks[i].sym_addr);
		ck_assert_str_eq(m.verify.checks[i].reason, v.checks[i].reason);
	}
	ck_assert_mem_eq(m.verify.checks[1].found, jmp5, 5);
	hvc_msg_clear(&m);

	line = hv_wire_ack_line(9, false, "the state file is gone");
	ck_assert_int_eq(hvc_msg_parse(line, strlen(line) - 1, &m), 0);
	free(line);
	ck_assert_int_eq(m.type, HVC_MSG_ACK);
	ck_assert(!m.ok);
	ck_assert_str_eq(m.text, "the state file is gone");
	hvc_msg_clear(&m);
	hv_wire_verify_clear(&v);
}
END_TEST

/* ---- fake agents on a unix socket */

enum mode {
	REAL,	  /* the agent's own code (agt_serve_fd) */
	SILENT,	  /* accepts, reads, never answers */
	SLOW,	  /* answers a byte every 50 ms */
	FLOOD,	  /* writes lines as fast as it can */
	GARBAGE,  /* binary junk and broken JSON, then a valid pong and acks */
	LIAR,	  /* acks ids never sent, never the real one */
	WRONGSET, /* acks, then verifies other functions */
	REJECT,	  /* answers the status with an error */
	HANGUP,	  /* closes right after the pong */
	OVERSIZE, /* a 100 KB line, then a proper pong and ack */
	OLDVER,	  /* speaks protocol version 2 only */
};

struct fake {
	enum mode mode;
	char *dir;
	char sock[256];
	int lfd;
	pthread_t th;
	volatile int stop;
	struct {
		char kallsyms[512], kcore[512], state[512];
	} files;
};

static const char pong_fmt[] = "{\"v\":1,\"type\":\"pong\",\"id\":%llu,\"agent_version\":\"fake\","
			       "\"kernel_release\":\"6.1.0-fake\",\"boot_id\":\"b\"}\n";

static void put(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Read one host line (blocking, bounded); return its "id" or 0. */
static unsigned long long read_id(int fd, char *type, size_t typelen)
{
	char buf[8192];
	size_t n = 0;
	char *p;

	type[0] = 0;
	while (n < sizeof(buf) - 1) {
		ssize_t r = read(fd, buf + n, 1);

		if (r <= 0)
			return 0;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = 0;
	p = strstr(buf, "\"type\":\"");
	if (p)
		snprintf(type, typelen, "%.*s", (int)strcspn(p + 8, "\""), p + 8);
	p = strstr(buf, "\"id\":");
	return p ? strtoull(p + 5, NULL, 10) : 0;
}

static void serve_script(struct fake *f, int fd)
{
	char line[512], type[32];
	unsigned long long id;
	size_t i;

	id = read_id(fd, type, sizeof(type)); /* the ping */
	switch (f->mode) {
	case SILENT:
		while (read_id(fd, type, sizeof(type)) || type[0])
			;
		break;
	case SLOW:
		snprintf(line, sizeof(line), pong_fmt, id);
		for (i = 0; line[i] && !f->stop; i++) {
			if (send(fd, line + i, 1, MSG_NOSIGNAL) <= 0)
				break;
			poll(NULL, 0, 50);
		}
		break;
	case FLOOD:
		for (i = 0; !f->stop; i++)
			if (send(fd, "{\"v\":1,\"type\":\"pong\"}\n", 22, MSG_NOSIGNAL) <= 0)
				break;
		break;
	case GARBAGE:
		put(fd, "\x01\x02\xff\xfe garbage\n{\"v\":1,\"type\":\n{{{{{{{{\n[1,2,3]\n"
			"{\"v\":1,\"type\":\"hello\",\"x\":\x1b[2J\x07}\n");
		snprintf(line, sizeof(line), pong_fmt, id);
		put(fd, line);
		id = read_id(fd, type, sizeof(type));
		put(fd, "\x7f\x45\x4c\x46 more junk\n");
		snprintf(line, sizeof(line), "{\"v\":1,\"type\":\"ack\",\"id\":%llu,\"ok\":true}\n",
			 id);
		put(fd, line);
		while (read_id(fd, type, sizeof(type)))
			;
		break;
	case LIAR:
		snprintf(line, sizeof(line), pong_fmt, id);
		put(fd, line);
		id = read_id(fd, type, sizeof(type));
		snprintf(line, sizeof(line),
			 "{\"v\":1,\"type\":\"ack\",\"id\":%llu,\"ok\":true}\n"
			 "{\"v\":1,\"type\":\"verify\",\"id\":%llu,\"present\":0,\"mismatch\":0,"
			 "\"unreadable\":0,\"functions\":[]}\n",
			 id + 100, id + 200);
		put(fd, line);
		while (read_id(fd, type, sizeof(type)))
			;
		break;
	case WRONGSET:
		snprintf(line, sizeof(line), pong_fmt, id);
		put(fd, line);
		id = read_id(fd, type, sizeof(type));
		snprintf(line, sizeof(line),
			 "{\"v\":1,\"type\":\"ack\",\"id\":%llu,\"ok\":true}\n"
			 "{\"v\":1,\"type\":\"verify\",\"id\":%llu,\"present\":1,\"mismatch\":0,"
			 "\"unreadable\":0,\"functions\":[{\"name\":\"not_what_was_sent\",\"site\":"
			 "\"0x1\",\"result\":\"present\"}]}\n",
			 id, id);
		put(fd, line);
		while (read_id(fd, type, sizeof(type)))
			;
		break;
	case REJECT:
		snprintf(line, sizeof(line), pong_fmt, id);
		put(fd, line);
		id = read_id(fd, type, sizeof(type));
		snprintf(line, sizeof(line),
			 "{\"v\":1,\"type\":\"error\",\"id\":%llu,\"reason\":\"I do not like "
			 "it\"}\n",
			 id);
		put(fd, line);
		while (read_id(fd, type, sizeof(type)))
			;
		break;
	case HANGUP:
		snprintf(line, sizeof(line), pong_fmt, id);
		put(fd, line);
		break;
	case OVERSIZE: {
		char *big = malloc(100001);

		if (big) {
			memset(big, 'x', 100000);
			big[100000] = 0;
			put(fd, big);
			put(fd, "\n");
			free(big);
		}
		snprintf(line, sizeof(line), pong_fmt, id);
		put(fd, line);
		id = read_id(fd, type, sizeof(type));
		snprintf(line, sizeof(line), "{\"v\":1,\"type\":\"ack\",\"id\":%llu,\"ok\":true}\n",
			 id);
		put(fd, line);
		while (read_id(fd, type, sizeof(type)))
			;
		break;
	}
	case OLDVER:
		put(fd, "{\"v\":2,\"type\":\"hello\",\"agent_version\":\"9\",\"kernel_release\":"
			"\"x\"}\n");
		while (read_id(fd, type, sizeof(type)))
			;
		break;
	case REAL:
		break;
	}
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	ck_assert_int_ge(fl, 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct agt_config cfg = {
		"/nonexistent", f->files.state, f->files.kallsyms, f->files.kcore, 0, 20, true
	};
	struct agt_state st;

	/* The real agent serves one host after another and keeps its state,
	 * like the daemon on its port; the scripted ones serve one. */
	memset(&st, 0, sizeof(st));
	while (!f->stop) {
		int fd = accept(f->lfd, NULL, NULL);

		if (fd < 0)
			break;
		if (f->mode == REAL) {
			set_nonblock(fd);
			if (agt_serve_fd(fd, &cfg, &st, &f->stop) < 0)
				f->stop = 1;
		} else {
			serve_script(f, fd);
			f->stop = 1;
		}
		close(fd);
	}
	agt_state_clear(&st);
	return NULL;
}

static void fake_start(struct fake *f, enum mode mode)
{
	struct sockaddr_un sa;
	uint8_t text[FX_TEXT_LEN];

	memset(f, 0, sizeof(*f));
	f->mode = mode;
	f->dir = fx_tmpdir();
	ck_assert_ptr_nonnull(f->dir);
	snprintf(f->sock, sizeof(f->sock), "%s/agent.sock", f->dir);
	snprintf(f->files.kallsyms, sizeof(f->files.kallsyms), "%s/kallsyms", f->dir);
	snprintf(f->files.kcore, sizeof(f->files.kcore), "%s/kcore", f->dir);
	snprintf(f->files.state, sizeof(f->files.state), "%s/run/status.json", f->dir);
	memset(text, 0xcc, sizeof(text));
	memcpy(text + FX_FUNC_OFF, nop5, 5);
	memcpy(text + FX_FUNC2_OFF, jmp5, 5);
	ck_assert_int_eq(fx_kcore_file(f->files.kcore, FX_TEXT_VA, text, sizeof(text)), 0);
	ck_assert_int_eq(fx_write(f->files.kallsyms,
				  "ffffffff81000100 t cmdline_proc_show\n"
				  "ffffffff81000200 T version_proc_show\n",
				  74),
			 0);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(f->lfd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(f->sock), sizeof(sa.sun_path));
	memcpy(sa.sun_path, f->sock, strlen(f->sock));
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(f->lfd, 4), 0);
	ck_assert_int_eq(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
	f->stop = 1;
	shutdown(f->lfd, SHUT_RDWR);
	pthread_join(f->th, NULL);
	close(f->lfd);
	fx_rmdir(f->dir);
}

/* Two functions: the first holds nop5, the second jmp5 in the fake core. */
static struct hvc_func two_funcs[2] = {
	{ "cmdline_proc_show", FX_FUNC_VA, 0, nop5, 5 },
	{ "version_proc_show", FX_FUNC2_VA, 0, nop5, 5 },
};
static const struct hvc_status two_status = { "2026.11-1", "", "apply", 1764079391, 2, two_funcs };

START_TEST(test_real_agent_acks_and_verifies)
{
	struct fake f;
	struct hvc_session *s = NULL;
	struct hvc_report rep;
	char *json;

	fake_start(&f, REAL);
	ck_assert_int_eq(hvc_session_open(f.sock, 3000, &s), 0);
	ck_assert_str_eq(hvc_session_agent(s)->agent_version, PACKAGE_VERSION);
	ck_assert_str_ne(hvc_session_agent(s)->kernel_release, "");
	ck_assert_int_eq(hvc_send_status(s, &two_status, 3000, &rep), 0);
	ck_assert(rep.acked);
	ck_assert(rep.verified);
	ck_assert(!rep.misbehaved);
	ck_assert_uint_eq(rep.nsites, 2);
	ck_assert_int_eq(rep.sites[0].result, HV_WIRE_PRESENT);
	ck_assert_int_eq(rep.sites[0].sym, HV_WIRE_SYM_AGREES);
	ck_assert_int_eq(rep.sites[1].result, HV_WIRE_MISMATCH);
	ck_assert_mem_eq(rep.sites[1].found, jmp5, 5);
	ck_assert_uint_eq(rep.npresent, 1);
	ck_assert_uint_eq(rep.nmismatch, 1);
	json = hvc_report_json(&rep, 0);
	ck_assert_ptr_nonnull(json);
	ck_assert_ptr_nonnull(strstr(json, "{\"ok\":true,\"status_id\":2,\"acked\":true,"));
	ck_assert_ptr_nonnull(strstr(json, "\"name\":\"version_proc_show\",\"site\":"
					   "\"0xffffffff81000200\",\"result\":\"mismatch\""));
	ck_assert_ptr_nonnull(strstr(json, "\"found\":\"e901020304\""));
	ck_assert_ptr_nonnull(strstr(json, "\"error\":null"));
	free(json);
	hvc_report_clear(&rep);
	/* A second status on the same session: ids move on, the agent follows. */
	ck_assert_int_eq(hvc_send_status(s, &two_status, 3000, &rep), 0);
	ck_assert_uint_eq(rep.status_id, 3);
	ck_assert(rep.acked && rep.verified);
	hvc_report_clear(&rep);
	hvc_session_close(s);
	fake_stop(&f);
}
END_TEST

START_TEST(test_verify_request_detects_drift)
{
	static const uint8_t other_nop[5] = { 0x66, 0x0f, 0x1f, 0x40, 0x00 };
	struct fake f;
	struct hvc_session *s = NULL;
	struct hvc_report rep;
	uint8_t text[FX_TEXT_LEN];

	fake_start(&f, REAL);
	ck_assert_int_eq(hvc_session_open(f.sock, 3000, &s), 0);
	/* Before any status the agent has nothing to check: a clear refusal. */
	ck_assert_int_eq(hvc_request_verify(s, &two_status, 3000, &rep), HV_E_PROTO);
	ck_assert(rep.rejected);
	ck_assert_ptr_nonnull(strstr(rep.agent_error, "no status is known"));
	ck_assert(!rep.misbehaved);
	hvc_report_clear(&rep);
	ck_assert_int_eq(hvc_send_status(s, &two_status, 3000, &rep), 0);
	ck_assert_int_eq(rep.sites[0].result, HV_WIRE_PRESENT);
	hvc_report_clear(&rep);
	/* Someone rewrites the first site behind the host's back. */
	memset(text, 0xcc, sizeof(text));
	memcpy(text + FX_FUNC_OFF, other_nop, 5);
	memcpy(text + FX_FUNC2_OFF, jmp5, 5);
	ck_assert_int_eq(fx_kcore_file(f.files.kcore, FX_TEXT_VA, text, sizeof(text)), 0);
	ck_assert_int_eq(hvc_request_verify(s, &two_status, 3000, &rep), 0);
	ck_assert(rep.verified);
	ck_assert_int_eq(rep.sites[0].result, HV_WIRE_MISMATCH);
	ck_assert_mem_eq(rep.sites[0].found, other_nop, 5);
	ck_assert_uint_eq(rep.nmismatch, 2);
	hvc_report_clear(&rep);
	hvc_session_close(s);
	/* One-shot form, against a host view that differs from the agent's. */
	two_funcs[1].name = "meminfo_proc_show";
	ck_assert_int_eq(hvc_check(f.sock, &two_status, 800, &rep), HV_E_TIMEOUT);
	two_funcs[1].name = "version_proc_show";
	ck_assert(!rep.verified);
	ck_assert_ptr_nonnull(strstr(rep.misbehaviour, "does not match the status"));
	hvc_report_clear(&rep);
	fake_stop(&f);
}
END_TEST

START_TEST(test_notify_real_agent_writes_tenant_state)
{
	struct fake f;
	struct hvc_report rep;
	struct agt_state st;
	char *dir;

	fake_start(&f, REAL);
	ck_assert_int_eq(hvc_notify(f.sock, &two_status, 3000, &rep), 0);
	ck_assert(rep.hello && rep.acked && rep.verified);
	hvc_report_clear(&rep);
	/* what the tenant's "hvpatch-agent status" reads */
	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(agt_state_load(f.files.state, &st), 0);
	ck_assert_str_eq(st.status.level, "2026.11-1");
	ck_assert_uint_eq(st.status.nfuncs, 2);
	ck_assert_uint_eq(st.verify.nmismatch, 1);
	agt_state_clear(&st);
	dir = NULL;
	(void)dir;
	fake_stop(&f);
}
END_TEST

/* Each bad agent: the call returns within its timeout (+ slack) with the expected outcome. */
static const struct {
	enum mode mode;
	int open_rc;	     /* expected from hvc_session_open */
	int send_rc;	     /* expected from hvc_send_status when open worked */
	const char *finding; /* substring of the misbehaviour or error, or NULL */
} bad_agents[] = {
	{ SILENT, HV_E_TIMEOUT, 0, "no agent answered" },
	{ SLOW, HV_E_TIMEOUT, 0, "no agent answered" },
	{ FLOOD, HV_E_PROTO, 0, "flooded the channel" },
	{ GARBAGE, 0, 0, "sent a malformed message" },
	{ LIAR, 0, HV_E_TIMEOUT, "never sent" },
	{ WRONGSET, 0, 0, "does not match the status" },
	{ REJECT, 0, HV_E_PROTO, "I do not like it" },
	{ HANGUP, 0, HV_E_IO, "closed" },
	{ OVERSIZE, 0, 0, "longer than 65535 bytes" },
	{ OLDVER, HV_E_TIMEOUT, 0, "protocol version 2" },
};

START_TEST(test_bad_agent_is_bounded_and_reported)
{
	const unsigned timeout_ms = 600;
	struct fake f;
	struct hvc_session *s = NULL;
	struct hvc_report rep;
	uint64_t t0;
	int r;

	memset(&rep, 0, sizeof(rep));
	fake_start(&f, bad_agents[_i].mode);
	t0 = hv_mono_ms();
	r = hvc_session_open(f.sock, timeout_ms, &s);
	ck_assert_uint_le(hv_mono_ms() - t0, timeout_ms + 400);
	ck_assert_int_eq(r, bad_agents[_i].open_rc);
	if (r < 0) {
		ck_assert_ptr_null(s);
		ck_assert_msg(strstr(hv_err_last()->msg, bad_agents[_i].finding), "error was: %s",
			      hv_err_last()->msg);
		goto out;
	}
	t0 = hv_mono_ms();
	r = hvc_send_status(s, &two_status, timeout_ms, &rep);
	ck_assert_uint_le(hv_mono_ms() - t0, timeout_ms + 400);
	ck_assert_int_eq(r, bad_agents[_i].send_rc);
	ck_assert_msg(strstr(rep.misbehaviour, bad_agents[_i].finding) ||
			      strstr(rep.agent_error, bad_agents[_i].finding) ||
			      (r < 0 && strstr(hv_err_last()->msg, bad_agents[_i].finding)),
		      "report: misbehaviour '%s', agent error '%s', error '%s'", rep.misbehaviour,
		      rep.agent_error, hv_err_last()->msg);
	if (rep.misbehaved)
		ck_assert_ptr_nonnull(strstr(rep.misbehaviour, "agent misbehaved: "));
	/* Whatever the agent sent, what reaches terminals and logs is printable. */
	for (const char *c = rep.misbehaviour; *c; c++)
		ck_assert(*c >= 0x20 && *c <= 0x7e);
	for (const char *c = hv_err_last()->msg; *c; c++)
		ck_assert(*c >= 0x20 && *c <= 0x7e);
	ck_assert(!rep.verified); /* none of them produced a trustworthy verification */
	hvc_report_clear(&rep);
out:
	hvc_session_close(s);
	fake_stop(&f);
}
END_TEST

START_TEST(test_notify_reports_misbehaviour_but_still_returns)
{
	struct fake f;
	struct hvc_report rep;
	uint64_t t0 = hv_mono_ms();

	fake_start(&f, FLOOD);
	ck_assert_int_eq(hvc_notify(f.sock, &two_status, 800, &rep), HV_E_PROTO);
	ck_assert_uint_le(hv_mono_ms() - t0, 1200);
	ck_assert(rep.misbehaved);
	ck_assert_ptr_nonnull(strstr(rep.misbehaviour, "agent misbehaved: "));
	/* each kind of finding once, so the flood itself is named, with a count */
	ck_assert_msg(strstr(rep.misbehaviour, "flooded the channel"), "%s", rep.misbehaviour);
	ck_assert_ptr_nonnull(strstr(rep.misbehaviour, "malformed or oversized messages in all"));
	ck_assert_ptr_null(
		strstr(strstr(rep.misbehaviour, "sent a malformed") + 1, "sent a malformed"));
	hvc_report_clear(&rep);
	fake_stop(&f);
}
END_TEST

START_TEST(test_no_socket_is_a_clear_error)
{
	struct hvc_session *s = NULL;
	struct hvc_report rep;

	ck_assert_int_eq(hvc_session_open("/nonexistent/agent.sock", 100, &s), HV_E_NOTFOUND);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "/nonexistent/agent.sock"));
	ck_assert_int_eq(hvc_notify("", &two_status, 100, &rep), HV_E_INVAL);
	ck_assert(!rep.acked);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("agentchan");
	TCase *p = tcase_create("parser"), *c = tcase_create("client");

	tcase_add_test(p, test_hello_parses);
	tcase_add_test(p, test_verify_parses);
	tcase_add_test(p, test_ack_error_and_unknown_types_parse);
	tcase_add_loop_test(p, test_malformed_guest_messages_rejected, 0,
			    (int)(sizeof(bad_msgs) / sizeof(bad_msgs[0])));
	tcase_add_test(p, test_oversized_guest_message_rejected);
	tcase_add_test(p, test_mutated_guest_messages_never_crash);
	tcase_add_test(p, test_status_line_checks_caller_input);
	tcase_add_test(p, test_agent_lines_reach_the_host_intact);
	suite_add_tcase(s, p);
	tcase_set_timeout(c, 30);
	tcase_add_test(c, test_real_agent_acks_and_verifies);
	tcase_add_test(c, test_verify_request_detects_drift);
	tcase_add_test(c, test_notify_real_agent_writes_tenant_state);
	tcase_add_loop_test(c, test_bad_agent_is_bounded_and_reported, 0,
			    (int)(sizeof(bad_agents) / sizeof(bad_agents[0])));
	tcase_add_test(c, test_notify_reports_misbehaviour_but_still_returns);
	tcase_add_test(c, test_no_socket_is_a_clear_error);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	return hv_check_run(suite());
}
