/*
 * The pause guard process (see guard.h for why and what it promises).
 *
 * Session -> guard: one struct guard_req per message ('P' pause or arm,
 * 'R' resume and disarm, 'D' disarm, 'Q' quit).  Guard -> session: one
 * struct guard_rep per request.  SOCK_SEQPACKET keeps message boundaries
 * and reports the session's death as end-of-file.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hv_clock.h"
#include "guard.h"

/* How long the session waits for the guard to pause or resume the guest:
 * a libvirt call that takes longer is stuck; the guard stays armed. */
#define GUARD_REPLY_TIMEOUT_MS 30000

struct guard_req {
	uint8_t op;
	uint32_t deadline_ms;
};

struct guard_rep {
	int32_t code;
	uint8_t was_running;
	char msg[400];
};

struct hva_guard {
	int fd;
	pid_t pid;
	bool owns_pause;
};

/* Field 3 (state) and 22 (start time) of /proc/PID/stat; false if gone. */
static bool proc_stat(pid_t pid, char *state, uint64_t *start)
{
	char path[64], buf[1024], *p;
	unsigned long long st = 0;
	FILE *f;
	size_t n;
	int field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: count from the
	 * last ')'. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return false;
	*state = p[2];
	for (field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (p && sscanf(p + 1, "%llu", &st) == 1)
		*start = (uint64_t)st;
	return true;
}

uint64_t hva_process_start(pid_t pid)
{
	uint64_t start = 0;
	char state;

	return proc_stat(pid, &state, &start) ? start : 0;
}

bool hva_process_alive(pid_t pid, uint64_t start)
{
	uint64_t now = 0;
	char state = 0;

	if (pid <= 0)
		return false;
	if (!proc_stat(pid, &state, &now))
		return kill(pid, 0) == 0 || errno != ESRCH; /* no /proc: ask the kernel */
	/* A zombie has ended: it can no longer resume anything.  Another
	 * process with the same pid started at another time is not it. */
	if (state == 'Z' || state == 'X')
		return false;
	return start == 0 || now == 0 || now == start;
}

static int record_path(const char *dir, const char *uuid, char *path, size_t n)
{
	if (!dir || !*dir || !uuid || !*uuid || strchr(uuid, '/') || uuid[0] == '.')
		return -1;
	if ((size_t)snprintf(path, n, "%s/%s", dir, uuid) >= n)
		return -1;
	return 0;
}

int hva_pause_record_read(const char *dir, const char *uuid, struct hva_pause_record *rec)
{
	char path[512], buf[512];
	long long op, gp;
	unsigned long long os, gs, since;
	unsigned dl;
	FILE *f;
	size_t n;

	memset(rec, 0, sizeof(*rec));
	if (record_path(dir, uuid, path, sizeof(path)) < 0)
		return hv_err(HV_E_NOTFOUND, "no pause record for this guest");
	f = fopen(path, "r");
	if (!f)
		return hv_err(HV_E_NOTFOUND, "no pause record %s", path);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (sscanf(buf,
		   "owner=%lld owner_start=%llu guard=%lld guard_start=%llu since_ms=%llu "
		   "deadline_ms=%u",
		   &op, &os, &gp, &gs, &since, &dl) != 6 ||
	    op <= 0 || gp <= 0 || op > INT32_MAX || gp > INT32_MAX)
		return hv_err(HV_E_FORMAT, "the pause record %s is not one hvpatch wrote", path);
	rec->owner_pid = (pid_t)op;
	rec->owner_start = os;
	rec->guard_pid = (pid_t)gp;
	rec->guard_start = gs;
	rec->since_unix_ms = since;
	rec->deadline_ms = dl;
	return 0;
}

void hva_pause_record_remove(const char *dir, const char *uuid)
{
	char path[512];

	if (record_path(dir, uuid, path, sizeof(path)) == 0)
		(void)unlink(path);
}

/* In the guard: write the record (best effort; it only helps diagnose a
 * pause that outlived both processes). */
static void record_write(const char *dir, const char *uuid, pid_t owner, unsigned deadline_ms)
{
	char path[512], tmp[560], text[256];
	int fd, n;

	if (record_path(dir, uuid, path, sizeof(path)) < 0)
		return;
	(void)mkdir(dir, 0700);
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	n = snprintf(text, sizeof(text),
		     "owner=%d owner_start=%" PRIu64 " guard=%d guard_start=%" PRIu64
		     " since_ms=%" PRIu64 " deadline_ms=%u\n",
		     (int)owner, hva_process_start(owner), (int)getpid(),
		     hva_process_start(getpid()), hv_unix_ms(), deadline_ms);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, text, (size_t)n) != n || close(fd) < 0 || rename(tmp, path) < 0)
		(void)unlink(tmp);
}

/* ---- the child ---- */

struct guard_child {
	const struct hva_guard_backend *be;
	void *arg;
	int fd;
	pid_t owner;
	const char *uuid, *dir;
	int init_r;
	char init_msg[400];
	bool armed, rescued, gdb_on;
	uint64_t armed_ms, deadline_ms;
};

static void child_disarm(struct guard_child *c)
{
	c->armed = false;
	c->rescued = false;
	hva_pause_record_remove(c->dir, c->uuid);
}

static void child_rescue(struct guard_child *c)
{
	if (c->init_r == 0 && c->be->resume && c->be->resume(c->arg) < 0)
		hv_err_clear();
}

static void child_reply(struct guard_child *c, int code, bool was_running)
{
	struct guard_rep rep;

	memset(&rep, 0, sizeof(rep));
	rep.code = code;
	rep.was_running = was_running;
	if (code < 0)
		snprintf(rep.msg, sizeof(rep.msg), "%.399s", hv_err_last()->msg);
	hv_err_clear();
	(void)!send(c->fd, &rep, sizeof(rep), MSG_NOSIGNAL);
}

static void child_request(struct guard_child *c, const struct guard_req *q)
{
	bool was_running = true;
	int r = 0;

	if (c->init_r < 0 && (q->op == 'P' || q->op == 'R')) {
		r = hv_err(c->init_r, "%s", c->init_msg);
		child_reply(c, r, false);
		return;
	}
	switch (q->op) {
	case 'P':
		c->armed = true;
		c->rescued = false;
		c->armed_ms = hv_mono_ms();
		c->deadline_ms = q->deadline_ms;
		record_write(c->dir, c->uuid, c->owner, q->deadline_ms);
		if (c->be->pause) {
			r = c->be->pause(c->arg, &was_running);
			if (r < 0 || !was_running)
				child_disarm(c);
		}
		break;
	case 'R':
		if (c->be->resume && c->be->pause)
			r = c->be->resume(c->arg);
		/* A failed resume stays armed: the deadline tries again. */
		if (r == 0)
			child_disarm(c);
		break;
	case 'D':
		child_disarm(c);
		break;
	case 'G':
	case 'g':
		c->gdb_on = q->op == 'G';
		break;
	default:
		r = hv_err(HV_E_PROTO, "the pause guard got an unknown request %u", q->op);
		break;
	}
	child_reply(c, r, was_running);
}

static void child_main(struct guard_child *c)
{
	if (c->be->init) {
		c->init_r = c->be->init(c->arg);
		if (c->init_r < 0)
			snprintf(c->init_msg, sizeof(c->init_msg), "%.399s", hv_err_last()->msg);
		hv_err_clear();
	}
	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		struct guard_req q;
		int timeout = -1, pr;
		ssize_t n;

		if (c->armed) {
			uint64_t due = c->armed_ms + c->deadline_ms + HVA_GUARD_GRACE_MS,
				 now = hv_mono_ms();

			if (c->rescued)
				due = now + HVA_GUARD_RECHECK_MS;
			if (now >= due && !c->rescued) {
				/* The session hangs or was stopped: end the pause. */
				child_rescue(c);
				c->rescued = true;
				continue;
			}
			timeout = (int)(due - now);
		}
		pr = poll(&pfd, 1, timeout);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0) {
			bool paused = false;

			/* Past a rescue: a late write of a hung session may have
			 * stopped the guest again (QEMU's gdbstub stops a running
			 * guest when a byte arrives). */
			if (c->rescued && c->be->paused && c->init_r == 0 &&
			    c->be->paused(c->arg, &paused) == 0 && paused)
				child_rescue(c);
			hv_err_clear();
			continue;
		}
		n = pr < 0 ? -1 : recv(c->fd, &q, sizeof(q), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(q) || q.op == 'Q') {
			/* The session died (or ended): never leave the guest paused,
			 * nor its gdbstub listening.  The gdbstub goes first: a
			 * client it still served could stop the guest again. */
			if (c->gdb_on && c->init_r == 0 && c->be->gdbstub_off &&
			    c->be->gdbstub_off(c->arg) < 0)
				hv_err_clear();
			if (c->armed) {
				child_rescue(c);
				child_disarm(c);
			}
			return;
		}
		child_request(c, &q);
	}
}

int hva_guard_start(const struct hva_guard_backend *be, void *arg, int keep_fd, const char *uuid,
		    const char *pause_dir, struct hva_guard **out)
{
	struct hva_guard *g;
	int sv[2];
	pid_t pid, owner = getpid();

	*out = NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return hv_err(HV_E_NOMEM, "out of memory for the pause guard");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		free(g);
		return hv_err(HV_E_IO, "cannot create the pause guard's socket: %s",
			      strerror(errno));
	}
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		free(g);
		return hv_err(HV_E_IO, "cannot start the pause guard: %s", strerror(errno));
	}
	if (pid == 0) {
		struct guard_child c;
		int fd, maxfd = (int)sysconf(_SC_OPEN_MAX);
		sigset_t none;

		/* Its own session, so a signal to hvpatch's process group spares
		 * it; it ends when the session's socket closes. */
		(void)setsid();
		signal(SIGINT, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGQUIT, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (fd = 3; fd < maxfd && fd < 4096; fd++)
			if (fd != sv[1] && fd != keep_fd)
				close(fd);
		memset(&c, 0, sizeof(c));
		c.be = be;
		c.arg = arg;
		c.fd = sv[1];
		c.owner = owner;
		c.uuid = uuid ? uuid : "";
		c.dir = pause_dir ? pause_dir : "";
		child_main(&c);
		if (be->fini)
			be->fini(arg);
		_exit(0);
	}
	close(sv[1]);
	g->fd = sv[0];
	g->pid = pid;
	g->owns_pause = be->pause != NULL;
	*out = g;
	return 0;
}

static int request(struct hva_guard *g, char op, unsigned deadline_ms, bool *was_running)
{
	struct guard_req q;
	struct guard_rep rep;
	struct pollfd pfd = { .fd = g->fd, .events = POLLIN };
	uint64_t end = hv_mono_ms() + GUARD_REPLY_TIMEOUT_MS;
	ssize_t n;

	memset(&q, 0, sizeof(q));
	q.op = (uint8_t)op;
	q.deadline_ms = deadline_ms;
	if (send(g->fd, &q, sizeof(q), MSG_NOSIGNAL) != (ssize_t)sizeof(q))
		return hv_err(HV_E_IO, "the pause guard (pid %d) is gone: %s", (int)g->pid,
			      strerror(errno));
	for (;;) {
		uint64_t now = hv_mono_ms();
		int pr;

		if (now >= end)
			return hv_err(HV_E_TIMEOUT,
				      "the pause guard (pid %d) did not answer within %d ms; it "
				      "resumes the guest at the deadline",
				      (int)g->pid, GUARD_REPLY_TIMEOUT_MS);
		pr = poll(&pfd, 1, (int)(end - now));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue;
		n = recv(g->fd, &rep, sizeof(rep), 0);
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (n != (ssize_t)sizeof(rep))
		return hv_err(HV_E_IO, "the pause guard (pid %d) ended unexpectedly", (int)g->pid);
	rep.msg[sizeof(rep.msg) - 1] = '\0';
	if (was_running)
		*was_running = rep.was_running != 0;
	if (rep.code < 0)
		return hv_err(rep.code >= HV_E_MIN ? rep.code : HV_E_INTERNAL, "%s", rep.msg);
	return 0;
}

int hva_guard_pause(struct hva_guard *g, unsigned deadline_ms, bool *was_running)
{
	bool dummy;

	return request(g, 'P', deadline_ms, was_running ? was_running : &dummy);
}

int hva_guard_resume(struct hva_guard *g)
{
	return request(g, 'R', 0, NULL);
}

int hva_guard_disarm(struct hva_guard *g)
{
	return request(g, 'D', 0, NULL);
}

int hva_guard_note_gdbstub(struct hva_guard *g, bool on)
{
	if (!g)
		return 0;
	return request(g, on ? 'G' : 'g', 0, NULL);
}

bool hva_guard_owns_pause(const struct hva_guard *g)
{
	return g && g->owns_pause;
}

pid_t hva_guard_pid(const struct hva_guard *g)
{
	return g ? g->pid : 0;
}

void hva_guard_stop(struct hva_guard *g)
{
	struct guard_req q;

	if (!g)
		return;
	memset(&q, 0, sizeof(q));
	q.op = 'Q';
	(void)!send(g->fd, &q, sizeof(q), MSG_NOSIGNAL);
	close(g->fd);
	if (g->pid > 0)
		(void)waitpid(g->pid, NULL, 0);
	free(g);
}
