#include "config.h"

/*
 * The agent's side of the channel: newline-delimited JSON over the
 * virtio-serial port.  The port reads EOF and polls POLLHUP while no host
 * is connected; a host connecting clears POLLHUP and gets a hello.  The
 * port disappearing (read/poll errors, open failures) makes the daemon
 * close it and reopen it with a backoff of 1 s doubling to 30 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "hv_clock.h"

static int log_syslog;

void agt_log_to_syslog(void)
{
	openlog("hvpatch-agent", LOG_PID, LOG_DAEMON);
	log_syslog = 1;
}

void agt_log(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (log_syslog) {
		vsyslog(prio, fmt, ap);
	} else {
		fputs("hvpatch-agent: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

struct agt_conn {
	const struct agt_config *cfg;
	struct agt_state *st;
	char *line; /* HV_WIRE_LINE_MAX bytes */
	size_t used;
	bool dropping;
	char *outq; /* AGT_OUTQ_MAX bytes */
	size_t outlen;
	bool drop_logged;
	uint64_t pending_verify; /* status id to verify; 0 none */
	char release[65];
	char boot_id[40];
};

int agt_conn_new(const struct agt_config *cfg, struct agt_state *st, struct agt_conn **out)
{
	struct agt_conn *c = calloc(1, sizeof(*c));
	struct utsname u;
	FILE *f;

	*out = NULL;
	if (c) {
		c->line = malloc(HV_WIRE_LINE_MAX);
		c->outq = malloc(AGT_OUTQ_MAX);
	}
	if (!c || !c->line || !c->outq) {
		agt_conn_free(c);
		return hv_err(HV_E_NOMEM, "cannot set up the host channel: out of memory");
	}
	c->cfg = cfg;
	c->st = st;
	snprintf(c->release, sizeof(c->release), "%s", uname(&u) == 0 ? u.release : "unknown");
	snprintf(c->boot_id, sizeof(c->boot_id), "unknown");
	f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (f) {
		if (fgets(c->boot_id, sizeof(c->boot_id), f))
			c->boot_id[strcspn(c->boot_id, "\n")] = 0;
		fclose(f);
	}
	*out = c;
	return 0;
}

void agt_conn_free(struct agt_conn *c)
{
	if (!c)
		return;
	free(c->line);
	free(c->outq);
	free(c);
}

/* Queue @line (owned, may be NULL when a builder ran out of memory). */
static int queue(struct agt_conn *c, char *line)
{
	size_t n;

	if (!line)
		return hv_err(HV_E_NOMEM, "cannot build a message for the host: out of memory");
	n = strlen(line);
	if (n > AGT_OUTQ_MAX - c->outlen) {
		if (!c->drop_logged)
			agt_log(LOG_WARNING, "dropping messages for the host: it is not reading");
		c->drop_logged = true;
	} else {
		memcpy(c->outq + c->outlen, line, n);
		c->outlen += n;
	}
	free(line);
	return 0;
}

/* Save the state file; on failure log why and return false. */
static bool save_state(struct agt_conn *c)
{
	if (agt_state_save(c->cfg->state_path, c->st) == 0)
		return true;
	agt_log(LOG_WARNING, "%s", hv_err_last()->msg);
	return false;
}

int agt_conn_hello(struct agt_conn *c)
{
	return queue(c, agt_hello_line("hello", 0, c->release, c->boot_id, &c->st->status));
}

static int run_verify(struct agt_conn *c, uint64_t id, const char *trigger)
{
	int r = agt_verify_run(&c->st->status, c->cfg->kallsyms, c->cfg->kcore, trigger,
			       &c->st->verify);

	if (r < 0)
		return r;
	if (c->st->verify.nmismatch || c->st->verify.nunreadable)
		agt_log(LOG_WARNING,
			"self-check of level '%s': %u present, %u mismatch, %u "
			"unreadable",
			c->st->status.level, c->st->verify.npresent, c->st->verify.nmismatch,
			c->st->verify.nunreadable);
	save_state(c);
	return queue(c, agt_verify_line(id, &c->st->status, &c->st->verify));
}

int agt_conn_periodic(struct agt_conn *c)
{
	if (!c->st->status.known || !c->st->status.nfuncs)
		return 0;
	return run_verify(c, 0, "periodic");
}

bool agt_conn_verify_pending(const struct agt_conn *c)
{
	return c->pending_verify != 0;
}

int agt_conn_run_pending(struct agt_conn *c)
{
	uint64_t id = c->pending_verify;

	if (!id)
		return 0;
	c->pending_verify = 0;
	return run_verify(c, id, "status");
}

static int handle_line(struct agt_conn *c, const char *p, size_t n)
{
	struct agt_msg m;
	uint64_t id;
	int r;

	c->st->host_last_seen = (int64_t)time(NULL);
	r = agt_msg_parse(p, n, &m, &id);
	if (r == HV_E_NOMEM)
		return r;
	if (r < 0) {
		agt_log(LOG_WARNING, "rejected a host message: %s", hv_err_last()->msg);
		return queue(c, hv_wire_error_line(id, hv_err_last()->msg));
	}
	switch (m.type) {
	case AGT_MSG_PING:
		r = queue(c, agt_hello_line("pong", m.id, c->release, c->boot_id, &c->st->status));
		break;
	case AGT_MSG_VERIFY:
		if (!c->st->status.known) {
			r = queue(c, hv_wire_error_line(m.id,
							"no status is known: nothing to verify"));
			break;
		}
		c->pending_verify = m.id;
		break;
	case AGT_MSG_STATUS:
		m.status.received_at = (int64_t)time(NULL);
		r = hv_wire_status_copy(&c->st->status, &m.status);
		if (r < 0)
			break;
		hv_wire_verify_clear(&c->st->verify);
		agt_log(LOG_INFO, "host reports patch level '%s' (%zu functions)",
			c->st->status.level, c->st->status.nfuncs);
		/* Accepted either way; the host learns when the tenant cannot see it. */
		if (save_state(c))
			r = queue(c, hv_wire_ack_line(m.id, true, NULL));
		else
			r = queue(c, hv_wire_ack_line(m.id, true, hv_err_last()->msg));
		if (r == 0)
			c->pending_verify = m.id;
		break;
	}
	agt_msg_clear(&m);
	return r;
}

int agt_conn_input(struct agt_conn *c, const char *p, size_t n)
{
	size_t i;
	int r = 0;

	for (i = 0; i < n && r == 0; i++) {
		if (p[i] == '\n') {
			if (c->dropping)
				r = queue(c,
					  hv_wire_error_line(0, "a host message exceeded the size "
								"limit and was dropped"));
			else if (c->used)
				r = handle_line(c, c->line, c->used);
			c->used = 0;
			c->dropping = false;
		} else if (c->dropping) {
			continue;
		} else if (c->used < HV_WIRE_LINE_MAX - 1) {
			c->line[c->used++] = p[i];
		} else {
			agt_log(LOG_WARNING, "dropping a host message longer than %d bytes",
				HV_WIRE_LINE_MAX - 1);
			c->dropping = true;
			c->used = 0;
		}
	}
	return r;
}

const char *agt_conn_output(const struct agt_conn *c, size_t *len)
{
	*len = c->outlen;
	return c->outq;
}

void agt_conn_consumed(struct agt_conn *c, size_t n)
{
	c->drop_logged = false;
	if (n >= c->outlen) {
		c->outlen = 0;
		return;
	}
	memmove(c->outq, c->outq + n, c->outlen - n);
	c->outlen -= n;
}

void agt_conn_reset(struct agt_conn *c)
{
	c->outlen = 0;
	c->used = 0;
	c->dropping = false;
	c->pending_verify = 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void set_connected(struct agt_conn *c, bool on)
{
	c->st->host_connected = on;
	if (on)
		c->st->host_last_seen = (int64_t)time(NULL);
	agt_log(LOG_INFO, "host %s", on ? "connected" : "disconnected");
	save_state(c);
}

int agt_serve_fd(int fd, const struct agt_config *cfg, struct agt_state *st, volatile int *stop)
{
	struct agt_conn *c = NULL;
	int connected = 0, r;
	uint64_t next_check_ms;

	r = agt_conn_new(cfg, st, &c);
	if (r < 0)
		return r;
	next_check_ms =
		hv_mono_ms() + 1000u * (cfg->verify_interval_s ? cfg->verify_interval_s : 1);
	while (!*stop) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char chunk[4096];
		size_t outlen;
		const char *out = agt_conn_output(c, &outlen);
		int n, timeout = connected ? 1000 : 0;
		ssize_t got;

		if (connected && outlen)
			p.events |= POLLOUT;
		n = poll(&p, 1, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = hv_err(HV_E_IO, "cannot wait on the host channel: %s", strerror(errno));
			break;
		}
		if (p.revents & (POLLERR | POLLNVAL)) {
			r = hv_err(HV_E_IO, "the host channel failed (poll events 0x%x)",
				   (unsigned)p.revents);
			break;
		}
		if (!connected) {
			if (p.revents & POLLHUP) {
				/* No host: drop what a departed host left, look again later. */
				while (read(fd, chunk, sizeof(chunk)) > 0)
					;
				sleep_ms(cfg->poll_ms ? cfg->poll_ms : 250);
			} else {
				connected = 1;
				set_connected(c, true);
				r = agt_conn_hello(c);
				if (r < 0)
					break;
			}
		} else {
			if ((p.revents & POLLOUT) && outlen) {
				ssize_t w = write(fd, out, outlen);

				if (w > 0)
					agt_conn_consumed(c, (size_t)w);
				else if (w < 0 && errno != EAGAIN && errno != EINTR &&
					 errno != EPIPE) {
					r = hv_err(HV_E_IO, "cannot write to the host channel: %s",
						   strerror(errno));
					break;
				}
			}
			if (p.revents & (POLLIN | POLLHUP)) {
				got = read(fd, chunk, sizeof(chunk));
				if (got > 0) {
					r = agt_conn_input(c, chunk, (size_t)got);
					if (r < 0)
						break;
				} else if (got == 0 || errno == EPIPE || errno == ECONNRESET) {
					connected = 0;
					agt_conn_reset(c);
					set_connected(c, false);
					if (cfg->return_on_hangup) {
						r = 0;
						break;
					}
				} else if (errno != EAGAIN && errno != EINTR) {
					r = hv_err(HV_E_IO, "cannot read the host channel: %s",
						   strerror(errno));
					break;
				}
			}
		}
		if (agt_conn_verify_pending(c)) {
			r = agt_conn_run_pending(c);
			if (r < 0)
				break;
		}
		if (cfg->verify_interval_s && hv_mono_ms() >= next_check_ms) {
			next_check_ms = hv_mono_ms() + 1000u * cfg->verify_interval_s;
			r = agt_conn_periodic(c);
			if (r < 0)
				break;
			if (!connected)
				agt_conn_reset(c);
		}
	}
	if (connected) {
		st->host_connected = false;
		save_state(c);
	}
	agt_conn_free(c);
	return *stop ? 0 : r;
}

int agt_daemon(const struct agt_config *cfg, volatile int *stop)
{
	struct agt_state st;
	unsigned backoff_s = 1;

	memset(&st, 0, sizeof(st));
	/* A restarted agent keeps what the host said before (same boot: /run is tmpfs). */
	if (agt_state_load(cfg->state_path, &st) < 0 && hv_err_last()->code != HV_E_NOTFOUND)
		agt_log(LOG_WARNING, "ignoring the old state: %s", hv_err_last()->msg);
	st.host_connected = false;
	agt_log(LOG_INFO, "version %s, host channel %s, state %s", PACKAGE_VERSION, cfg->port,
		cfg->state_path);
	while (!*stop) {
		int fd = open(cfg->port, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
		int r;

		if (fd < 0) {
			r = hv_err(errno == ENOENT ? HV_E_NOTFOUND : HV_E_IO,
				   "cannot open the host channel %s: %s", cfg->port,
				   strerror(errno));
		} else {
			/* The port opened: a later failure starts a fresh backoff. */
			backoff_s = 1;
			r = agt_serve_fd(fd, cfg, &st, stop);
			close(fd);
		}
		if (*stop)
			break;
		if (r < 0)
			agt_log(LOG_WARNING, "%s; retrying in %u s", hv_err_last()->msg, backoff_s);
		for (unsigned t = 0; t < backoff_s * 4 && !*stop; t++)
			sleep_ms(250);
		if (backoff_s < 30)
			backoff_s = backoff_s * 2 > 30 ? 30 : backoff_s * 2;
	}
	agt_state_clear(&st);
	return 0;
}
