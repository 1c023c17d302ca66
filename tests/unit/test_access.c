/*
 * Unit tests of hvpatch/access without a VM: the gdbstub and QMP clients
 * against scripted fake peers on socket pairs (protocol edge cases QEMU
 * rarely shows), and the hva wrappers (unsupported operations, guests
 * found paused, the pause deadline) over a fake backend.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "access/gdb.h"
#include "hv_clock.h"
#include "access/hva_impl.h"
#include "access/qmp.h"

/* ---- a scripted gdbstub peer ---- */

enum {
	F_ASYNC_FIRST = 1, /* send a stop reply before the answer */
	F_BAD_CSUM = 2,	   /* first send the answer with a wrong checksum */
	F_SILENT = 4,	   /* never answer */
	F_CLOSE = 8,	   /* close the connection instead of answering */
	F_MEM = 16,	   /* answer an 'm' packet with bytes (addr & 0xff) */
	F_RAW = 32,	   /* send the reply bytes as they are */
};

struct step {
	const char *expect; /* prefix of the packet the client must send */
	const char *reply;
	int flags;
};

struct peer {
	int fd;
	const struct step *steps;
	int nsteps;
	int failed_step; /* -1 when every step matched */
	int nacks;	 /* '-' received from the client */
};

static void send_pkt(int fd, const char *payload, int bad)
{
	char buf[20000];
	unsigned sum = 0;
	size_t i, n = strlen(payload);

	for (i = 0; i < n; i++)
		sum += (unsigned char)payload[i];
	snprintf(buf, sizeof(buf), "$%s#%02x", payload, (sum + (bad ? 1 : 0)) & 0xff);
	if (write(fd, buf, strlen(buf)) < 0)
		return;
}

/* Read one packet from the client (skipping acks); NULL when closed. */
static char *read_pkt(struct peer *p)
{
	static char buf[20000];
	size_t n = 0;
	char c;
	int in = 0;

	for (;;) {
		if (read(p->fd, &c, 1) != 1)
			return NULL;
		if (!in) {
			if (c == '-')
				p->nacks++;
			if (c == '$')
				in = 1;
			continue;
		}
		if (c == '#') {
			char cs[2];

			if (read(p->fd, cs, 2) != 2)
				return NULL;
			buf[n] = '\0';
			if (write(p->fd, "+", 1) != 1)
				return NULL;
			return buf;
		}
		if (n + 1 < sizeof(buf))
			buf[n++] = c;
	}
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	int i, closed = 0;

	p->failed_step = -1;
	for (i = 0; i < p->nsteps; i++) {
		const struct step *s = &p->steps[i];
		char *got = read_pkt(p);

		if (!got || strncmp(got, s->expect, strlen(s->expect)) != 0) {
			p->failed_step = i;
			break;
		}
		if (s->flags & F_SILENT) {
			char c;

			while (read(p->fd, &c, 1) == 1)
				;
			break;
		}
		if (s->flags & F_CLOSE) {
			closed = 1;
			break;
		}
		if (s->flags & F_ASYNC_FIRST)
			send_pkt(p->fd, "T02thread:p01.01;", 0);
		if (s->flags & F_BAD_CSUM)
			send_pkt(p->fd, s->reply, 1);
		if (s->flags & F_RAW) {
			if (write(p->fd, s->reply, strlen(s->reply)) < 0)
				break;
		} else if (s->flags & F_MEM) {
			unsigned long long a;
			size_t len, k;
			char hex[9000];

			if (sscanf(got, "m%llx,%zx", &a, &len) != 2 || len > 4096) {
				p->failed_step = i;
				break;
			}
			for (k = 0; k < len; k++)
				sprintf(hex + 2 * k, "%02x", (unsigned)((a + k) & 0xff));
			hex[2 * len] = '\0';
			send_pkt(p->fd, hex, 0);
		} else {
			send_pkt(p->fd, s->reply, 0);
		}
	}
	if (p->failed_step < 0 && !closed) {
		char c;

		/* Count what the client still says (its nacks) until it closes. */
		while (read(p->fd, &c, 1) == 1)
			if (c == '-')
				p->nacks++;
	}
	shutdown(p->fd, SHUT_RDWR);
	close(p->fd);
	return NULL;
}

static const struct step hello[] = {
	{ "qSupported:", "PacketSize=1000;qXfer:features:read+;multiprocess+", 0 },
	{ "Qqemu.PhyMemMode:1", "OK", 0 },
};

/* Start a peer running hello + @more; connect a client with @timeout_ms. */
static int start(const struct step *more, int nmore, unsigned timeout_ms, struct peer *p,
		 pthread_t *t, struct hva_gdb **g, struct step *all)
{
	int sv[2];

	memcpy(all, hello, sizeof(hello));
	memcpy(all + 2, more, sizeof(*more) * (size_t)nmore);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p->fd = sv[1];
	p->steps = all;
	p->nsteps = 2 + nmore;
	p->nacks = 0;
	pthread_create(t, NULL, peer_main, p);
	return hva_gdb_attach_fd(sv[0], timeout_ms, g);
}

static void regs_hex(char *out, uint64_t rip, uint64_t cr3, uint32_t cs, uint64_t kgs)
{
	uint8_t raw[HVA_GDB_REGS_BYTES];
	size_t i;

	memset(raw, 0, sizeof(raw));
	for (i = 0; i < 8; i++) {
		raw[128 + i] = (uint8_t)(rip >> (8 * i));
		raw[204 + i] = (uint8_t)(cr3 >> (8 * i));
		raw[180 + i] = (uint8_t)(kgs >> (8 * i));
	}
	for (i = 0; i < 4; i++)
		raw[140 + i] = (uint8_t)(cs >> (8 * i));
	for (i = 0; i < sizeof(raw); i++)
		sprintf(out + 2 * i, "%02x", raw[i]);
}

START_TEST(gdb_regs_from_second_vcpu)
{
	static char g[2 * HVA_GDB_REGS_BYTES + 1];
	struct step more[] = { { "Hgp1.2", "OK", 0 }, { "g", g, 0 } }, all[8];
	struct hva_regs regs;
	struct hva_gdb *c = NULL;
	struct peer p;
	pthread_t t;

	regs_hex(g, 0xffffffff81234567ull, 0x1234000ull | (1u << 12), 0x33, 0xffff888000001000ull);
	ck_assert_int_eq(start(more, 2, 1000, &p, &t, &c, all), 0);
	ck_assert_uint_eq(hva_gdb_packet_size(c), 0x1000);
	ck_assert_int_eq(hva_gdb_read_regs(c, 1, &regs), 0);
	ck_assert_uint_eq(regs.rip, 0xffffffff81234567ull);
	ck_assert_uint_eq(regs.cr3, 0x1235000ull);
	ck_assert_uint_eq(regs.cpl, 3);
	ck_assert_uint_eq(regs.kernel_gs_base, 0xffff888000001000ull);
	ck_assert(!regs.idtr_valid);
	hva_gdb_close(c);
	pthread_join(t, NULL);
	ck_assert_int_eq(p.failed_step, -1);
}
END_TEST

START_TEST(gdb_skips_async_stop_and_nacks_bad_checksum)
{
	struct step more[] = { { "m1000,4", "", F_MEM | F_ASYNC_FIRST | F_BAD_CSUM } }, all[8];
	struct hva_gdb *c = NULL;
	uint8_t buf[4];
	struct peer p;
	pthread_t t;

	/* F_BAD_CSUM with F_MEM: the peer sends garbage first, then the bytes. */
	more[0].reply = "00000000";
	ck_assert_int_eq(start(more, 1, 1000, &p, &t, &c, all), 0);
	ck_assert_int_eq(hva_gdb_read_phys(c, 0x1000, buf, 4), 0);
	ck_assert_uint_eq(buf[0], 0x00);
	ck_assert_uint_eq(buf[3], 0x03);
	hva_gdb_close(c);
	pthread_join(t, NULL);
	ck_assert_int_eq(p.failed_step, -1);
	ck_assert_int_eq(p.nacks, 1);
}
END_TEST

START_TEST(gdb_read_is_split_by_packet_size)
{
	/* PacketSize 0x60 = 96: (96 - 32) / 2 = 32 bytes a packet. */
	struct step all[8] = {
		{ "qSupported:", "PacketSize=60", 0 },
		{ "Qqemu.PhyMemMode:1", "OK", 0 },
		{ "m2000,20", "", F_MEM },
		{ "m2020,20", "", F_MEM },
		{ "m2040,10", "", F_MEM },
	};
	struct hva_gdb *c = NULL;
	uint8_t buf[0x50];
	struct peer p;
	pthread_t t;
	int sv[2], i;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p.fd = sv[1];
	p.steps = all;
	p.nsteps = 5;
	p.nacks = 0;
	pthread_create(&t, NULL, peer_main, &p);
	ck_assert_int_eq(hva_gdb_attach_fd(sv[0], 1000, &c), 0);
	ck_assert_int_eq(hva_gdb_read_phys(c, 0x2000, buf, sizeof(buf)), 0);
	for (i = 0; i < (int)sizeof(buf); i++)
		ck_assert_uint_eq(buf[i], (0x2000 + i) & 0xff);
	hva_gdb_close(c);
	pthread_join(t, NULL);
	ck_assert_int_eq(p.failed_step, -1);
}
END_TEST

START_TEST(gdb_write_packet_and_ok)
{
	struct step more[] = { { "M3000,3:31c0c3", "OK", 0 }, { "M3000,1:90", "E14", 0 } }, all[8];
	static const uint8_t code[] = { 0x31, 0xc0, 0xc3 }, nop = 0x90;
	struct hva_gdb *c = NULL;
	struct peer p;
	pthread_t t;

	ck_assert_int_eq(start(more, 2, 1000, &p, &t, &c, all), 0);
	ck_assert_int_eq(hva_gdb_write_phys(c, 0x3000, code, 3), 0);
	ck_assert_int_eq(hva_gdb_write_phys(c, 0x3000, &nop, 1), HV_E_IO);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "E14"));
	hva_gdb_close(c);
	pthread_join(t, NULL);
	ck_assert_int_eq(p.failed_step, -1);
}
END_TEST

START_TEST(gdb_bad_register_layout_is_unsupported)
{
	struct step more[] = { { "Hgp1.1", "OK", 0 }, { "g", "00112233", 0 } }, all[8];
	struct hva_regs regs;
	struct hva_gdb *c = NULL;
	struct peer p;
	pthread_t t;

	ck_assert_int_eq(start(more, 2, 1000, &p, &t, &c, all), 0);
	ck_assert_int_eq(hva_gdb_read_regs(c, 0, &regs), HV_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "4 bytes"));
	hva_gdb_close(c);
	pthread_join(t, NULL);
}
END_TEST

START_TEST(gdb_unknown_vcpu_is_not_found)
{
	struct step more[] = { { "Hgp1.9", "E22", 0 } }, all[8];
	struct hva_regs regs;
	struct hva_gdb *c = NULL;
	struct peer p;
	pthread_t t;

	ck_assert_int_eq(start(more, 1, 1000, &p, &t, &c, all), 0);
	ck_assert_int_lt(hva_gdb_read_regs(c, 8, &regs), 0);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "vCPU 8"));
	hva_gdb_close(c);
	pthread_join(t, NULL);
}
END_TEST

START_TEST(gdb_silent_peer_times_out)
{
	struct step more[] = { { "m0,4", "", F_SILENT } }, all[8];
	struct hva_gdb *c = NULL;
	uint64_t t0;
	uint8_t buf[4];
	struct peer p;
	pthread_t t;
	long ms;

	ck_assert_int_eq(start(more, 1, 150, &p, &t, &c, all), 0);
	t0 = hv_mono_ms();
	ck_assert_int_eq(hva_gdb_read_phys(c, 0, buf, 4), HV_E_TIMEOUT);
	ms = (long)(hv_mono_ms() - t0);
	ck_assert_int_ge(ms, 100);
	ck_assert_int_lt(ms, 5000);
	hva_gdb_close(c);
	pthread_join(t, NULL);
}
END_TEST

START_TEST(gdb_peer_closing_is_io_error)
{
	struct step more[] = { { "m0,4", "", F_CLOSE } }, all[8];
	struct hva_gdb *c = NULL;
	uint8_t buf[4];
	struct peer p;
	pthread_t t;

	ck_assert_int_eq(start(more, 1, 1000, &p, &t, &c, all), 0);
	ck_assert_int_eq(hva_gdb_read_phys(c, 0, buf, 4), HV_E_IO);
	hva_gdb_close(c);
	pthread_join(t, NULL);
}
END_TEST

START_TEST(gdb_short_memory_reply_is_error)
{
	struct step more[] = { { "m0,4", "0011", 0 } }, all[8];
	struct hva_gdb *c = NULL;
	uint8_t buf[4];
	struct peer p;
	pthread_t t;

	ck_assert_int_eq(start(more, 1, 1000, &p, &t, &c, all), 0);
	ck_assert_int_eq(hva_gdb_read_phys(c, 0, buf, 4), HV_E_IO);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "2 of 4 bytes"));
	hva_gdb_close(c);
	pthread_join(t, NULL);
}
END_TEST

START_TEST(gdb_endless_packet_is_refused)
{
	static char junk[12000];
	struct step more[] = { { "m0,4", junk, F_RAW } }, all[8];
	struct hva_gdb *c = NULL;
	uint8_t buf[4];
	struct peer p;
	pthread_t t;

	junk[0] = '$';
	memset(junk + 1, 'a', sizeof(junk) - 2);
	ck_assert_int_eq(start(more, 1, 1000, &p, &t, &c, all), 0);
	ck_assert_int_eq(hva_gdb_read_phys(c, 0, buf, 4), HV_E_PROTO);
	hva_gdb_close(c);
	pthread_join(t, NULL);
}
END_TEST

START_TEST(gdb_without_physical_mode_is_unsupported)
{
	struct step all[2] = { { "qSupported:", "PacketSize=1000", 0 },
			       { "Qqemu.PhyMemMode:1", "", 0 } };
	struct hva_gdb *c = NULL;
	struct peer p;
	pthread_t t;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p.fd = sv[1];
	p.steps = all;
	p.nsteps = 2;
	pthread_create(&t, NULL, peer_main, &p);
	ck_assert_int_eq(hva_gdb_attach_fd(sv[0], 1000, &c), HV_E_UNSUPPORTED);
	ck_assert_ptr_null(c);
	pthread_join(t, NULL);
}
END_TEST

/* ---- a scripted QMP peer ---- */

struct qpeer {
	int fd;
	const char *const *lines; /* sent one by one after each client line */
	const char *greeting;	  /* NULL: say nothing */
};

static void *qpeer_main(void *arg)
{
	struct qpeer *q = arg;
	char c;
	int i = 0;

	if (q->greeting && write(q->fd, q->greeting, strlen(q->greeting)) < 0)
		goto out;
	while (read(q->fd, &c, 1) == 1) {
		if (c != '\n')
			continue;
		if (!q->lines[i])
			break;
		if (write(q->fd, q->lines[i], strlen(q->lines[i])) < 0)
			break;
		i++;
	}
out:
	close(q->fd);
	return NULL;
}

static int qstart(struct qpeer *q, pthread_t *t, unsigned timeout_ms, struct hva_qmp **out)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	q->fd = sv[1];
	pthread_create(t, NULL, qpeer_main, q);
	return hva_qmp_attach_fd(sv[0], timeout_ms, out);
}

#define GREETING "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n"

START_TEST(qmp_skips_events)
{
	static const char *const lines[] = {
		"{\"return\": {}}\n",
		"{\"event\": \"STOP\", \"timestamp\": {}}\n{\"return\": {\"running\": false}}\n",
		NULL,
	};
	struct qpeer q = { .lines = lines, .greeting = GREETING };
	struct hva_qmp *c = NULL;
	char *reply = NULL;
	pthread_t t;

	ck_assert_int_eq(qstart(&q, &t, 1000, &c), 0);
	ck_assert_int_eq(hva_qmp_command(c, "{\"execute\":\"query-status\"}", &reply), 0);
	ck_assert_ptr_nonnull(strstr(reply, "running"));
	ck_assert_ptr_null(strstr(reply, "STOP"));
	free(reply);
	hva_qmp_close(c);
	pthread_join(t, NULL);
}
END_TEST

START_TEST(qmp_no_greeting_is_busy)
{
	static const char *const lines[] = { NULL };
	struct qpeer q = { .lines = lines, .greeting = NULL };
	struct hva_qmp *c = NULL;
	pthread_t t;
	int sv;

	ck_assert_int_eq(qstart(&q, &t, 150, &c), HV_E_BUSY);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "another client"));
	sv = q.fd;
	shutdown(sv, SHUT_RDWR);
	pthread_join(t, NULL);
}
END_TEST

START_TEST(qmp_garbage_is_protocol_error)
{
	static const char *const lines[] = { "{\"return\": {}}\n", "this is not json\n", NULL };
	struct qpeer q = { .lines = lines, .greeting = GREETING };
	struct hva_qmp *c = NULL;
	char *reply = NULL;
	pthread_t t;

	ck_assert_int_eq(qstart(&q, &t, 1000, &c), 0);
	ck_assert_int_eq(hva_qmp_command(c, "{\"execute\":\"x\"}", &reply), HV_E_PROTO);
	ck_assert_ptr_null(reply);
	hva_qmp_close(c);
	pthread_join(t, NULL);
}
END_TEST

START_TEST(qmp_not_a_monitor)
{
	static const char *const lines[] = { NULL };
	struct qpeer q = { .lines = lines, .greeting = "SSH-2.0-OpenSSH\n" };
	struct hva_qmp *c = NULL;
	pthread_t t;

	ck_assert_int_eq(qstart(&q, &t, 1000, &c), HV_E_PROTO);
	pthread_join(t, NULL);
}
END_TEST

/* ---- the hva wrappers over a fake backend ---- */

struct fake {
	int pauses, resumes;
	bool running;
	bool fail_resume;
};

static int f_running(struct hva *h, bool *running)
{
	*running = ((struct fake *)h->be)->running;
	return 0;
}

static int f_pause(struct hva *h)
{
	struct fake *f = h->be;

	f->pauses++;
	f->running = false;
	return 0;
}

static int f_resume(struct hva *h)
{
	struct fake *f = h->be;

	f->resumes++;
	f->running = true;
	return f->fail_resume ? hv_err(HV_E_IO, "fake resume failed") : 0;
}

static int f_write(struct hva *h, uint64_t gpa, const void *buf, size_t len, unsigned flags,
		   enum hva_write_path *used)
{
	(void)h;
	(void)flags;
	(void)gpa;
	(void)buf;
	(void)len;
	*used = HVA_WRITE_GDBSTUB;
	return 0;
}

static const struct hva_ops fake_ops = {
	.name = "fake",
	.running = f_running,
	.pause = f_pause,
	.resume = f_resume,
	.write_phys = f_write,
};

/*
 * A guard backend for tests: it tells what it does by writing one byte per
 * action ('P' pause, 'R' resume) to the pipe whose write end is *arg, and
 * reports the guest paused while the file tg_paused_file exists.
 */
static char tg_paused_file[256];
static bool tg_guest_runs = true;

static int tg_pause(void *arg, bool *was_running)
{
	*was_running = tg_guest_runs;
	if (tg_guest_runs)
		(void)!write(*(int *)arg, "P", 1);
	return 0;
}

static int tg_resume(void *arg)
{
	(void)!write(*(int *)arg, "R", 1);
	return 0;
}

static int tg_paused(void *arg, bool *paused)
{
	(void)arg;
	*paused = tg_paused_file[0] && access(tg_paused_file, F_OK) == 0;
	return 0;
}

static int tg_gdbstub_off(void *arg)
{
	(void)!write(*(int *)arg, "G", 1);
	return 0;
}

/* The session pauses; the guard only ends a pause the session left. */
static const struct hva_guard_backend tg_session_pauses = {
	.name = "test",
	.resume = tg_resume,
	.paused = tg_paused,
	.gdbstub_off = tg_gdbstub_off,
};
/* The guard pauses and resumes itself (as under libvirt). */
static const struct hva_guard_backend tg_guard_pauses = {
	.name = "test",
	.pause = tg_pause,
	.resume = tg_resume,
	.paused = tg_paused,
};

static int tg_fd = -1; /* what the fake sessions' guards write to */

static struct hva *fake_session(struct fake *f, unsigned deadline_ms)
{
	struct hva_open_opts o = { .pause_deadline_ms = deadline_ms };
	struct hva *h = hva_session_new(&fake_ops, &o, "fakeguest");
	static int devnull = -1;

	ck_assert_ptr_nonnull(h);
	if (devnull < 0)
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	tg_fd = devnull;
	ck_assert_int_eq(hva_guard_start(&tg_session_pauses, &tg_fd, tg_fd, "", NULL, &h->guard),
			 0);
	memset(f, 0, sizeof(*f));
	f->running = true;
	h->be = f;
	return h;
}

START_TEST(hva_pause_resume_measures)
{
	struct fake f;
	struct hva *h = fake_session(&f, 1000);
	enum hva_write_path used;
	uint64_t us = 0;
	uint8_t b = 0;

	ck_assert_int_eq(hva_write_phys(h, 0, &b, 1, &used), HV_E_STATE);
	ck_assert_int_eq(hva_pause(h), 0);
	ck_assert(hva_is_paused(h));
	ck_assert_int_eq(hva_pause(h), HV_E_STATE);
	ck_assert_int_eq(hva_write_phys(h, 0, &b, 1, &used), 0);
	ck_assert_int_eq(used, HVA_WRITE_GDBSTUB);
	usleep(2000);
	ck_assert_int_eq(hva_resume(h, &us), 0);
	ck_assert_uint_ge(us, 2000);
	ck_assert_int_eq(f.pauses, 1);
	ck_assert_int_eq(f.resumes, 1);
	ck_assert_int_eq(hva_resume(h, &us), HV_E_STATE);
	hva_close(h);
}
END_TEST

START_TEST(hva_deadline_resumes_guest)
{
	struct fake f;
	struct hva *h = fake_session(&f, 50);
	enum hva_write_path used;
	uint64_t us = 0;
	uint8_t b = 0;

	ck_assert_int_eq(hva_pause(h), 0);
	usleep(200 * 1000);
	ck_assert_int_eq(f.resumes, 1);
	ck_assert(f.running);
	ck_assert_int_eq(hva_write_phys(h, 0, &b, 1, &used), HV_E_TIMEOUT);
	ck_assert_int_eq(used, HVA_WRITE_NONE);
	ck_assert_int_eq(hva_resume(h, &us), HV_E_TIMEOUT);
	ck_assert_uint_ge(us, 50 * 1000);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "deadline"));
	/* The session is usable again. */
	ck_assert_int_eq(hva_pause(h), 0);
	ck_assert_int_eq(hva_resume(h, &us), 0);
	ck_assert_int_eq(f.resumes, 2);
	hva_close(h);
}
END_TEST

START_TEST(hva_close_resumes_a_paused_guest)
{
	struct fake f;
	struct hva *h = fake_session(&f, 5000);

	ck_assert_int_eq(hva_pause(h), 0);
	hva_close(h);
	ck_assert_int_eq(f.resumes, 1);
	ck_assert(f.running);
}
END_TEST

START_TEST(hva_guest_found_paused_stays_paused)
{
	struct fake f;
	struct hva *h = fake_session(&f, 50);
	uint64_t us;

	f.running = false;
	ck_assert_int_eq(hva_pause(h), 0);
	usleep(120 * 1000); /* no deadline applies to someone else's pause */
	ck_assert_int_eq(hva_resume(h, &us), 0);
	ck_assert_int_eq(f.pauses, 0);
	ck_assert_int_eq(f.resumes, 0);
	ck_assert(!f.running);
	hva_close(h);
	ck_assert_int_eq(f.resumes, 0);
}
END_TEST

START_TEST(hva_missing_operation_is_unsupported)
{
	struct fake f;
	struct hva *h = fake_session(&f, 100);
	struct hva_regs regs;
	struct hva_info info;
	uint8_t b;
	char *reply;

	ck_assert_int_eq(hva_read_phys(h, 0, &b, 1), HV_E_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(hv_err_last()->msg, "fake backend"));
	ck_assert_int_eq(hva_describe(h, &info), HV_E_UNSUPPORTED);
	ck_assert_int_eq(hva_hmp(h, "info status", &reply), HV_E_UNSUPPORTED);
	ck_assert_int_eq(hva_read_regs(h, 0, &regs), HV_E_UNSUPPORTED);
	ck_assert_int_eq(hva_read_phys(h, UINT64_MAX, &b, 2), HV_E_RANGE);
	hva_close(h);
}
END_TEST

/* ---- the pause guard ---- */

/* Next byte from @fd within @ms, or 0. */
static char next_byte(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c = 0;

	if (poll(&p, 1, ms) == 1 && read(fd, &c, 1) == 1)
		return c;
	return 0;
}

/*
 * In a child process: start a guard, arm it (the guard pausing itself when
 * @be owns the pause) and die with SIGKILL, as a killed hvpatch would.
 */
static void die_while_paused(const struct hva_guard_backend *be, int fd, const char *dir)
{
	pid_t pid = fork();
	int st = 0;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct hva_guard *g;
		static int wfd;

		wfd = fd;
		if (hva_guard_start(be, &wfd, wfd, "0000-test", dir, &g) < 0 ||
		    hva_guard_pause(g, 60000, NULL) < 0)
			_exit(1);
		kill(getpid(), SIGKILL);
		_exit(2);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

/*
 * In a child process: start a guard, tell it a gdbstub was started (and,
 * with @stopped, stopped again), and die with SIGKILL.
 */
static void die_with_gdbstub(int fd, bool stopped)
{
	pid_t pid = fork();
	int st = 0;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct hva_guard *g;
		static int wfd;

		wfd = fd;
		if (hva_guard_start(&tg_session_pauses, &wfd, wfd, "", NULL, &g) < 0 ||
		    hva_guard_note_gdbstub(g, true) < 0 ||
		    (stopped && hva_guard_note_gdbstub(g, false) < 0))
			_exit(1);
		kill(getpid(), SIGKILL);
		_exit(2);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

/* A gdbstub left listening by a killed hvpatch is stopped by its guard. */
START_TEST(guard_stops_the_gdbstub_of_a_killed_session)
{
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	die_with_gdbstub(p[1], false);
	close(p[1]);
	ck_assert_int_eq(next_byte(p[0], 2000), 'G');
	ck_assert_int_eq(next_byte(p[0], 500), 0); /* nothing was paused */
	close(p[0]);
	ck_assert_int_eq(pipe(p), 0);
	die_with_gdbstub(p[1], true);
	close(p[1]);
	ck_assert_int_eq(next_byte(p[0], 1000), 0); /* already stopped */
	close(p[0]);
}
END_TEST

START_TEST(guard_resumes_when_the_session_is_killed)
{
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	die_while_paused(&tg_session_pauses, p[1], NULL);
	close(p[1]);
	/* Long before the 60 s deadline. */
	ck_assert_int_eq(next_byte(p[0], 2000), 'R');
	close(p[0]);
}
END_TEST

START_TEST(guard_that_paused_resumes_when_the_session_is_killed)
{
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	tg_guest_runs = true;
	die_while_paused(&tg_guard_pauses, p[1], NULL);
	close(p[1]);
	ck_assert_int_eq(next_byte(p[0], 2000), 'P');
	ck_assert_int_eq(next_byte(p[0], 2000), 'R');
	close(p[0]);
}
END_TEST

START_TEST(guard_leaves_a_guest_it_found_paused)
{
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	tg_guest_runs = false; /* someone else paused it */
	die_while_paused(&tg_guard_pauses, p[1], NULL);
	tg_guest_runs = true;
	close(p[1]);
	/* Nothing paused, nothing resumed: the pipe just closes. */
	ck_assert_int_eq(next_byte(p[0], 2000), 0);
	close(p[0]);
}
END_TEST

START_TEST(guard_ends_a_pause_past_its_deadline_and_again_if_paused_again)
{
	struct hva_guard *g = NULL;
	int p[2], fd;
	uint64_t t0;
	char c;

	ck_assert_int_eq(pipe(p), 0);
	snprintf(tg_paused_file, sizeof(tg_paused_file), "/tmp/hvpatch-tg-%d", (int)getpid());
	tg_fd = p[1];
	ck_assert_int_eq(hva_guard_start(&tg_guard_pauses, &tg_fd, tg_fd, "", NULL, &g), 0);
	t0 = hv_mono_ms();
	ck_assert_int_eq(hva_guard_pause(g, 50, NULL), 0);
	ck_assert_int_eq(next_byte(p[0], 1000), 'P');
	/* A hung session: the guard resumes after the deadline and its grace. */
	c = next_byte(p[0], 3000);
	ck_assert_int_eq(c, 'R');
	ck_assert_uint_ge(hv_mono_ms() - t0, 50 + HVA_GUARD_GRACE_MS - 20);
	/* The guest stops again (a late byte to QEMU's gdbstub): resumed again. */
	fd = open(tg_paused_file, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(next_byte(p[0], 3 * HVA_GUARD_RECHECK_MS), 'R');
	unlink(tg_paused_file);
	tg_paused_file[0] = '\0';
	/* The session's own resume still works and disarms the guard. */
	ck_assert_int_eq(hva_guard_resume(g), 0);
	ck_assert_int_eq(next_byte(p[0], 1000), 'R');
	ck_assert_int_eq(next_byte(p[0], 3 * HVA_GUARD_RECHECK_MS), 0);
	hva_guard_stop(g);
	close(p[0]);
	close(p[1]);
}
END_TEST

/*
 * The guard ends a pause at the deadline of that pause, not at the default
 * one: an operation run with a long --deadline-ms is not resumed under its
 * feet while it still writes.
 */
START_TEST(guard_follows_the_session_deadline)
{
	struct fake f;
	struct hva *h;
	int p[2];
	uint64_t us = 0;

	ck_assert_int_eq(pipe(p), 0);
	h = fake_session(&f, 0);
	hva_guard_stop(h->guard);
	tg_fd = p[1];
	ck_assert_int_eq(hva_guard_start(&tg_session_pauses, &tg_fd, tg_fd, "", NULL, &h->guard),
			 0);
	ck_assert_uint_eq(hva_set_deadline(h, 3000), HVA_DEFAULT_PAUSE_DEADLINE_MS);
	ck_assert_int_eq(hva_pause(h), 0);
	/* Well past the default deadline and the guard's grace. */
	ck_assert_int_eq(
		next_byte(p[0], (int)(HVA_DEFAULT_PAUSE_DEADLINE_MS + HVA_GUARD_GRACE_MS + 600)),
		0);
	ck_assert(hva_is_paused(h));
	ck_assert_int_eq(hva_resume(h, &us), 0);
	ck_assert_int_eq(f.resumes, 1);
	hva_close(h);
	close(p[0]);
	close(p[1]);
}
END_TEST

/*
 * A session whose guard died (killed by an operator, or by the OOM killer)
 * refuses to pause (and SIGPIPE, were the socket to raise it, is not what
 * ends hvpatch: see main.c).
 */
START_TEST(dead_guard_refuses_the_pause)
{
	struct fake f;
	struct hva *h = fake_session(&f, 1000);
	pid_t gp = hva_guard_pid(h->guard);
	int st = 0;

	sigset_t pipe_set;

	/* SIGPIPE as a shell may leave it: not ignored, not blocked. */
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	ck_assert_int_eq(sigprocmask(SIG_UNBLOCK, &pipe_set, NULL), 0);
	ck_assert_int_gt(gp, 0);
	ck_assert_int_eq(kill(gp, SIGKILL), 0);
	ck_assert_int_eq(waitpid(gp, &st, 0), gp);
	ck_assert_int_lt(hva_pause(h), 0);
	ck_assert_int_eq(f.pauses, 0);
	ck_assert(!hva_is_paused(h));
	hva_close(h);
}
END_TEST

static char *tmpdir_new(void)
{
	static char d[64];

	snprintf(d, sizeof(d), "/tmp/hvpatch-pause-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d));
	return d;
}

START_TEST(guard_keeps_a_pause_record_while_armed)
{
	struct hva_pause_record rec;
	struct hva_guard *g = NULL;
	char *dir = tmpdir_new();
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	tg_fd = p[1];
	tg_guest_runs = true;
	ck_assert_int_eq(hva_guard_start(&tg_guard_pauses, &tg_fd, tg_fd, "dom-1", dir, &g), 0);
	ck_assert_int_eq(hva_pause_record_read(dir, "dom-1", &rec), HV_E_NOTFOUND);
	ck_assert_int_eq(hva_guard_pause(g, 5000, NULL), 0);
	ck_assert_int_eq(hva_pause_record_read(dir, "dom-1", &rec), 0);
	ck_assert_int_eq(rec.owner_pid, getpid());
	ck_assert_int_eq(rec.guard_pid, hva_guard_pid(g));
	ck_assert_uint_eq(rec.deadline_ms, 5000);
	ck_assert(hva_process_alive(rec.owner_pid, rec.owner_start));
	ck_assert(hva_process_alive(rec.guard_pid, rec.guard_start));
	ck_assert_int_eq(hva_guard_resume(g), 0);
	ck_assert_int_eq(hva_pause_record_read(dir, "dom-1", &rec), HV_E_NOTFOUND);
	hva_guard_stop(g);
	close(p[0]);
	close(p[1]);
	rmdir(dir);
}
END_TEST

START_TEST(guard_pause_record_refuses_garbage)
{
	struct hva_pause_record rec;
	char *dir = tmpdir_new(), path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/dom-2", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("owner=-1 owner_start=0 guard=5 guard_start=0 since_ms=0 deadline_ms=1\n", f);
	fclose(f);
	ck_assert_int_eq(hva_pause_record_read(dir, "dom-2", &rec), HV_E_FORMAT);
	ck_assert_int_eq(hva_pause_record_read(dir, "../dom-2", &rec), HV_E_NOTFOUND);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* A record naming a process that is gone: a reaped child's pid. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	return pid;
}

static void write_record(const char *dir, const char *key, pid_t owner, pid_t guard,
			 unsigned deadline_ms)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "owner=%d owner_start=0 guard=%d guard_start=0 since_ms=1 deadline_ms=%u\n",
		(int)owner, (int)guard, deadline_ms);
	fclose(f);
}

static struct hva *found_session(struct fake *f, const char *dir)
{
	struct hva *h = fake_session(f, 1000);

	snprintf(h->pause_dir, sizeof(h->pause_dir), "%s", dir);
	snprintf(h->pause_key, sizeof(h->pause_key), "dom-3");
	return h;
}

START_TEST(found_paused_by_someone_else_is_left_paused)
{
	char *dir = tmpdir_new();
	struct fake f;
	struct hva *h = found_session(&f, dir);

	f.running = false;
	ck_assert_int_eq(hva_check_found_state(h), 0);
	ck_assert_int_eq(h->info.found, HVA_FOUND_PAUSED_BY_OTHER);
	ck_assert_ptr_nonnull(strstr(h->info.found_note, "not by hvpatch"));
	ck_assert_int_eq(f.resumes, 0);
	hva_close(h);
	ck_assert_int_eq(f.resumes, 0);
	rmdir(dir);
}
END_TEST

START_TEST(found_paused_by_a_dead_hvpatch_is_resumed)
{
	char *dir = tmpdir_new(), path[128];
	struct fake f;
	struct hva *h = found_session(&f, dir);

	write_record(dir, "dom-3", dead_pid(), dead_pid(), 50);
	f.running = false;
	ck_assert_int_eq(hva_check_found_state(h), 0);
	ck_assert_int_eq(h->info.found, HVA_FOUND_RESUMED_DEAD_PAUSER);
	ck_assert_ptr_nonnull(strstr(h->info.found_note, "resumed it"));
	ck_assert_int_eq(f.resumes, 1);
	ck_assert(f.running);
	snprintf(path, sizeof(path), "%s/dom-3", dir);
	ck_assert_int_ne(access(path, F_OK), 0);
	hva_close(h);
	rmdir(dir);
}
END_TEST

START_TEST(found_paused_by_a_live_hvpatch_is_waited_for_then_left)
{
	char *dir = tmpdir_new(), path[128];
	struct fake f;
	struct hva *h = found_session(&f, dir);
	uint64_t t0 = hv_mono_ms();

	/* This process stands for the other hvpatch and its guard. */
	write_record(dir, "dom-3", getpid(), getpid(), 0);
	f.running = false;
	ck_assert_int_eq(hva_check_found_state(h), 0);
	ck_assert_uint_ge(hv_mono_ms() - t0, HVA_GUARD_GRACE_MS);
	ck_assert_int_eq(h->info.found, HVA_FOUND_PAUSED_BY_HVPATCH);
	ck_assert_int_eq(f.resumes, 0);
	hva_close(h);
	snprintf(path, sizeof(path), "%s/dom-3", dir);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(found_running_drops_a_stale_record)
{
	char *dir = tmpdir_new(), path[128];
	struct fake f;
	struct hva *h = found_session(&f, dir);

	write_record(dir, "dom-3", dead_pid(), dead_pid(), 50);
	ck_assert_int_eq(hva_check_found_state(h), 0);
	ck_assert_int_eq(h->info.found, HVA_FOUND_RUNNING);
	ck_assert_str_eq(h->info.found_note, "");
	snprintf(path, sizeof(path), "%s/dom-3", dir);
	ck_assert_int_ne(access(path, F_OK), 0);
	hva_close(h);
	rmdir(dir);
}
END_TEST

START_TEST(process_alive_sees_zombies_and_other_processes_as_dead)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	usleep(100 * 1000); /* it exits; not reaped yet, so a zombie */
	ck_assert(!hva_process_alive(pid, 0));
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	ck_assert(!hva_process_alive(pid, 0));
	ck_assert(hva_process_alive(getpid(), hva_process_start(getpid())));
	ck_assert_uint_ne(hva_process_start(getpid()), 0);
	/* The same pid with another start time is another process. */
	ck_assert(!hva_process_alive(getpid(), hva_process_start(getpid()) + 1));
}
END_TEST

START_TEST(hva_cannot_pause_without_a_guard)
{
	struct fake f;
	struct hva *h = fake_session(&f, 1000);

	hva_guard_stop(h->guard);
	h->guard = NULL;
	ck_assert_int_eq(hva_pause(h), HV_E_UNSUPPORTED);
	ck_assert_int_eq(f.pauses, 0);
	hva_close(h);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("access");
	TCase *g = tcase_create("gdbstub client");
	TCase *q = tcase_create("qmp client");
	TCase *w = tcase_create("wrappers");
	TCase *pg = tcase_create("pause guard");

	tcase_add_test(g, gdb_regs_from_second_vcpu);
	tcase_add_test(g, gdb_skips_async_stop_and_nacks_bad_checksum);
	tcase_add_test(g, gdb_read_is_split_by_packet_size);
	tcase_add_test(g, gdb_write_packet_and_ok);
	tcase_add_test(g, gdb_bad_register_layout_is_unsupported);
	tcase_add_test(g, gdb_unknown_vcpu_is_not_found);
	tcase_add_test(g, gdb_silent_peer_times_out);
	tcase_add_test(g, gdb_peer_closing_is_io_error);
	tcase_add_test(g, gdb_short_memory_reply_is_error);
	tcase_add_test(g, gdb_endless_packet_is_refused);
	tcase_add_test(g, gdb_without_physical_mode_is_unsupported);
	tcase_add_test(q, qmp_skips_events);
	tcase_add_test(q, qmp_no_greeting_is_busy);
	tcase_add_test(q, qmp_garbage_is_protocol_error);
	tcase_add_test(q, qmp_not_a_monitor);
	tcase_add_test(w, hva_pause_resume_measures);
	tcase_add_test(w, hva_deadline_resumes_guest);
	tcase_add_test(w, hva_close_resumes_a_paused_guest);
	tcase_add_test(w, hva_guest_found_paused_stays_paused);
	tcase_add_test(w, hva_missing_operation_is_unsupported);
	tcase_add_test(w, hva_cannot_pause_without_a_guard);
	tcase_add_test(pg, guard_resumes_when_the_session_is_killed);
	tcase_add_test(pg, guard_stops_the_gdbstub_of_a_killed_session);
	tcase_add_test(pg, guard_that_paused_resumes_when_the_session_is_killed);
	tcase_add_test(pg, guard_leaves_a_guest_it_found_paused);
	tcase_add_test(pg, guard_ends_a_pause_past_its_deadline_and_again_if_paused_again);
	tcase_add_test(pg, guard_keeps_a_pause_record_while_armed);
	tcase_add_test(pg, guard_follows_the_session_deadline);
	tcase_add_test(pg, dead_guard_refuses_the_pause);
	tcase_add_test(pg, guard_pause_record_refuses_garbage);
	tcase_add_test(pg, found_paused_by_someone_else_is_left_paused);
	tcase_add_test(pg, found_paused_by_a_dead_hvpatch_is_resumed);
	tcase_add_test(pg, found_paused_by_a_live_hvpatch_is_waited_for_then_left);
	tcase_add_test(pg, found_running_drops_a_stale_record);
	tcase_add_test(pg, process_alive_sees_zombies_and_other_processes_as_dead);
	tcase_set_timeout(pg, 20);
	suite_add_tcase(s, g);
	suite_add_tcase(s, q);
	suite_add_tcase(s, w);
	suite_add_tcase(s, pg);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
