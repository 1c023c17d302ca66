#include "config.h"

/*
 * The host's client of hvpatch-agent: non-blocking unix-socket I/O with
 * poll(), one deadline per exchange, bounded line assembly and a budget of
 * bytes and messages per exchange.  Nothing the agent sends can make it
 * wait longer than the caller's timeout, allocate more than HV_WIRE_LINE_MAX
 * per line, or crash it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hv_clock.h"
#include "hvc.h"

struct hvc_session {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *line; /* HV_WIRE_LINE_MAX bytes */
	size_t used;
	bool dropping;
	char chunk[4096];
	size_t cpos, clen;
	uint64_t next_id;
	struct hv_wire_hello agent;
	bool have_agent;
	bool failed;
	char misbehaviour[512];
	const char *noted[16]; /* findings already in misbehaviour (their formats) */
	unsigned nnoted;
	unsigned nbad;	   /* malformed or oversized messages so far */
	uint64_t ex_bytes; /* this exchange */
	unsigned ex_msgs;
	uint64_t ex_start_ms;
};

/* Add one finding to the session's misbehaviour text. */
static void note(struct hvc_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct hvc_session *s, const char *fmt, ...)
{
	size_t n = strlen(s->misbehaviour);
	unsigned i;
	va_list ap;

	/* Each kind of finding once: a flood of one mistake must not hide the rest. */
	for (i = 0; i < s->nnoted; i++)
		if (s->noted[i] == fmt)
			return;
	if (s->nnoted < sizeof(s->noted) / sizeof(s->noted[0]))
		s->noted[s->nnoted++] = fmt;
	if (n + 8 >= sizeof(s->misbehaviour))
		return;
	if (!n)
		n = (size_t)snprintf(s->misbehaviour, sizeof(s->misbehaviour),
				     "agent misbehaved: ");
	else
		n += (size_t)snprintf(s->misbehaviour + n, sizeof(s->misbehaviour) - n, "; ");
	if (n >= sizeof(s->misbehaviour))
		return;
	va_start(ap, fmt);
	vsnprintf(s->misbehaviour + n, sizeof(s->misbehaviour) - n, fmt, ap);
	va_end(ap);
	/* Agent-chosen text reaches terminals and logs: printable ASCII only. */
	hv_wire_clean(s->misbehaviour + n);
}

/* Append how many bad messages there were, once they are more than one. */
static void summarize(struct hvc_session *s)
{
	size_t n = strlen(s->misbehaviour);

	if (s->nbad > 1 && n + 48 < sizeof(s->misbehaviour))
		snprintf(s->misbehaviour + n, sizeof(s->misbehaviour) - n,
			 "; %u malformed or oversized messages in all", s->nbad);
	s->nbad = 0;
}

static void exchange_start(struct hvc_session *s)
{
	s->ex_bytes = 0;
	s->ex_msgs = 0;
	s->ex_start_ms = hv_mono_ms();
}

/*
 * The next complete line from the agent before @deadline.  *@line points
 * into the session (valid until the next call).  HV_E_TIMEOUT, HV_E_IO
 * (closed), HV_E_PROTO (the exchange's budget is spent: flooding).
 */
static int get_line(struct hvc_session *s, uint64_t deadline, const char **line, size_t *len)
{
	for (;;) {
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		ssize_t n;
		int w;

		while (s->cpos < s->clen) {
			char ch = s->chunk[s->cpos++];

			if (ch == '\n') {
				bool dropped = s->dropping;

				s->dropping = false;
				*len = s->used;
				s->used = 0;
				if (++s->ex_msgs > HVC_EXCHANGE_MAX_MSGS) {
					note(s, "flooded the channel with more than %d messages",
					     HVC_EXCHANGE_MAX_MSGS);
					s->failed = true;
					return hv_err(
						HV_E_PROTO,
						"the agent flooded the channel with more than "
						"%d messages in one exchange",
						HVC_EXCHANGE_MAX_MSGS);
				}
				if (dropped) {
					s->nbad++;
					note(s, "sent a message longer than %d bytes",
					     HV_WIRE_LINE_MAX - 1);
					continue;
				}
				*line = s->line;
				return 0;
			}
			if (s->dropping)
				continue;
			if (s->used < HV_WIRE_LINE_MAX - 1)
				s->line[s->used++] = ch;
			else
				s->dropping = true;
		}
		w = hv_ms_until(deadline);
		if (w == 0)
			return hv_err(HV_E_TIMEOUT, "the agent did not answer in time");
		n = poll(&p, 1, w);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return hv_err(HV_E_IO, "cannot wait on the agent socket %s: %s", s->path,
				      strerror(errno));
		if (n == 0)
			return hv_err(HV_E_TIMEOUT, "the agent did not answer in time");
		n = read(s->fd, s->chunk, sizeof(s->chunk));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			s->failed = true;
			return hv_err(HV_E_IO, "the agent channel %s closed%s%s", s->path,
				      n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
		}
		s->cpos = 0;
		s->clen = (size_t)n;
		s->ex_bytes += (uint64_t)n;
		if (s->ex_bytes > HVC_EXCHANGE_MAX_BYTES) {
			note(s, "flooded the channel with more than %u bytes",
			     HVC_EXCHANGE_MAX_BYTES);
			s->failed = true;
			return hv_err(
				HV_E_PROTO,
				"the agent flooded the channel with more than %u bytes in one "
				"exchange",
				HVC_EXCHANGE_MAX_BYTES);
		}
	}
}

/*
 * The next well-formed message.  Malformed ones, other versions and
 * unknown types are noted (or ignored) and skipped; hello and pong update
 * the session's agent info.
 */
static int next_msg(struct hvc_session *s, uint64_t deadline, struct hvc_msg *m)
{
	for (;;) {
		const char *line = NULL;
		size_t len = 0;
		int r = get_line(s, deadline, &line, &len);

		if (r < 0)
			return r;
		if (!len)
			continue;
		r = hvc_msg_parse(line, len, m);
		if (r == HV_E_NOMEM)
			return r;
		if (r < 0) {
			s->nbad++;
			note(s, "sent a malformed message (%.160s)", hv_err_last()->msg);
			continue;
		}
		if (m->type == HVC_MSG_UNKNOWN) {
			hvc_msg_clear(m);
			continue;
		}
		if (m->type == HVC_MSG_HELLO || m->type == HVC_MSG_PONG) {
			s->agent = m->agent;
			s->have_agent = true;
		}
		return 0;
	}
}

static int send_all(struct hvc_session *s, const char *p, size_t n, uint64_t deadline)
{
	while (n) {
		struct pollfd pf = { .fd = s->fd, .events = POLLOUT };
		ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		int t;

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			s->failed = true;
			if (errno == EPIPE || errno == ECONNRESET)
				return hv_err(HV_E_IO,
					      "the agent channel %s closed before a "
					      "message could be sent",
					      s->path);
			return hv_err(HV_E_IO, "cannot write to the agent socket %s: %s", s->path,
				      strerror(errno));
		}
		t = hv_ms_until(deadline);
		if (t == 0 || poll(&pf, 1, t) == 0)
			return hv_err(HV_E_TIMEOUT,
				      "the agent does not read its channel %s: a message could not "
				      "be sent in time",
				      s->path);
	}
	return 0;
}

static int connect_socket(struct hvc_session *s, const char *path, uint64_t deadline)
{
	struct sockaddr_un sa;
	int r;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return hv_err(HV_E_IO, "cannot create a socket for the agent channel: %s",
			      strerror(errno));
	for (;;) {
		struct pollfd p = { .fd = s->fd, .events = POLLOUT };
		socklen_t sl = sizeof(r);

		if (connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return 0;
		if (errno == EAGAIN && hv_ms_until(deadline)) {
			/* The listener's backlog is full: try again shortly. */
			poll(NULL, 0, 10);
			continue;
		}
		if (errno != EINPROGRESS)
			break;
		if (poll(&p, 1, hv_ms_until(deadline)) <= 0)
			return hv_err(HV_E_TIMEOUT,
				      "cannot connect to the agent socket %s: no answer in time",
				      path);
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &r, &sl) == 0 && r == 0)
			return 0;
		errno = r;
		break;
	}
	if (errno == ENOENT)
		return hv_err(HV_E_NOTFOUND,
			      "the agent socket %s does not exist: is the domain running and "
			      "enrolled (hvpatch enroll)?",
			      path);
	return hv_err(errno == EACCES ? HV_E_PERM : HV_E_IO,
		      "cannot connect to the agent socket %s: %s%s", path, strerror(errno),
		      errno == ECONNREFUSED ? " (is the domain running?)" : "");
}

static int open_until(const char *path, uint64_t deadline, struct hvc_session **out)
{
	struct hvc_session *s = NULL;
	struct hvc_msg m;
	char *ping = NULL;
	uint64_t ping_id;
	int r;

	*out = NULL;
	memset(&m, 0, sizeof(m));
	if (!path || !*path || strlen(path) >= sizeof(s->path))
		return hv_err(HV_E_INVAL, "the agent socket path is empty or longer than %zu bytes",
			      sizeof(s->path) - 1);
	s = calloc(1, sizeof(*s));
	if (s)
		s->line = malloc(HV_WIRE_LINE_MAX);
	if (!s || !s->line) {
		r = hv_err(HV_E_NOMEM, "cannot open the agent channel: out of memory");
		goto out;
	}
	s->fd = -1;
	s->next_id = 1;
	snprintf(s->path, sizeof(s->path), "%s", path);
	r = connect_socket(s, path, deadline);
	if (r < 0)
		goto out;
	exchange_start(s);
	/* Ask who is there: a running agent answers with pong (and hello when it
	 * notices the new connection itself). */
	ping_id = s->next_id++;
	ping = hvc_request_line("ping", ping_id);
	if (!ping) {
		r = hv_err(HV_E_NOMEM, "cannot build a ping: out of memory");
		goto out;
	}
	r = send_all(s, ping, strlen(ping), deadline);
	while (r == 0 && !s->have_agent) {
		r = next_msg(s, deadline, &m);
		if (r < 0)
			break;
		if (m.type == HVC_MSG_ACK || (m.type == HVC_MSG_VERIFY && m.id))
			note(s, "answered message %llu that was never sent",
			     (unsigned long long)m.id);
		else if (m.type == HVC_MSG_ERROR)
			note(s, "reported an error to a ping: %.100s", m.text);
		hvc_msg_clear(&m);
	}
	if (r == HV_E_TIMEOUT)
		r = hv_err(HV_E_TIMEOUT,
			   "no agent answered on %s within the timeout: is hvpatch-agent "
			   "running in the guest, with the virtio_console module loaded, and "
			   "no other client connected to the channel (QEMU serves one at a "
			   "time)?",
			   path);
	if (r < 0)
		goto out;
	*out = s;
	s = NULL;
out:
	free(ping);
	if (s)
		summarize(s);
	if (r < 0 && s && s->misbehaviour[0])
		hv_err_prefix("%s", s->misbehaviour);
	hvc_session_close(s);
	return r;
}

int hvc_session_open(const char *socket_path, unsigned timeout_ms, struct hvc_session **out)
{
	return open_until(socket_path, hv_mono_ms() + timeout_ms, out);
}

const struct hv_wire_hello *hvc_session_agent(const struct hvc_session *s)
{
	return &s->agent;
}

const char *hvc_session_misbehaviour(const struct hvc_session *s)
{
	return s->misbehaviour;
}

void hvc_session_close(struct hvc_session *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->line);
	free(s);
}

void hvc_report_clear(struct hvc_report *r)
{
	if (!r)
		return;
	free(r->sites);
	memset(r, 0, sizeof(*r));
}

/* Does the agent's verification describe exactly the functions we sent? */
static bool verify_matches(const struct hvc_msg *m, const struct hvc_status *st, size_t *bad)
{
	size_t i;

	*bad = 0;
	if (m->verify.n != st->nfuncs)
		return false;
	for (i = 0; i < m->verify.n; i++) {
		const struct hv_wire_check *x = &m->verify.checks[i];
		const struct hvc_func *f = &st->funcs[i];

		*bad = i;
		if (strcmp(x->name, f->name) || x->site != f->site)
			return false;
		if (x->result == HV_WIRE_MISMATCH && x->found_len != f->expected_len)
			return false;
		if (x->result == HV_WIRE_PRESENT && x->found_len &&
		    (x->found_len != f->expected_len ||
		     memcmp(x->found, f->expected, f->expected_len)))
			return false;
	}
	return true;
}

static void finish_report(struct hvc_session *s, struct hvc_report *rep, uint64_t start)
{
	summarize(s);
	rep->hello = s->have_agent;
	rep->agent = s->agent;
	rep->misbehaved = s->misbehaviour[0] != 0;
	snprintf(rep->misbehaviour, sizeof(rep->misbehaviour), "%s", s->misbehaviour);
	rep->messages = s->ex_msgs;
	rep->bytes = s->ex_bytes;
	rep->elapsed_ms = hv_mono_ms() - start;
}

/*
 * One exchange: with @verify_only false send @st and wait for its ack and
 * verify; with @verify_only true ask for a verification of what the agent
 * has and check it against @st (what the host believes is installed).
 */
static int exchange_until(struct hvc_session *s, const struct hvc_status *st, bool verify_only,
			  uint64_t deadline, struct hvc_report *rep)
{
	uint64_t start = hv_mono_ms(), id;
	struct hvc_msg m;
	char *line = NULL;
	size_t bad;
	int r;

	memset(&m, 0, sizeof(m));
	if (s->failed) {
		r = hv_err(HV_E_STATE, "the agent channel %s failed earlier: open a new session",
			   s->path);
		goto out;
	}
	id = s->next_id++;
	rep->status_id = id;
	if (verify_only) {
		line = hvc_request_line("verify", id);
		r = line ? 0 : hv_err(HV_E_NOMEM, "cannot build a verify request: out of memory");
	} else {
		r = hvc_status_line(id, st, &line);
	}
	if (r < 0)
		goto out;
	exchange_start(s);
	r = send_all(s, line, strlen(line), deadline);
	while (r == 0 && !rep->rejected && !((rep->acked || verify_only) && rep->verified)) {
		r = next_msg(s, deadline, &m);
		if (r < 0)
			break;
		switch (m.type) {
		case HVC_MSG_ACK:
			if (m.id == id && !rep->acked) {
				rep->acked = m.ok;
				rep->rejected = !m.ok;
				snprintf(rep->agent_error, sizeof(rep->agent_error), "%s", m.text);
			} else if (m.id == id) {
				note(s, "acknowledged status %llu twice", (unsigned long long)id);
			} else if (m.id >= s->next_id) {
				note(s, "acknowledged message %llu that was never sent",
				     (unsigned long long)m.id);
			}
			/* An ack of an earlier message of this session is late, not wrong. */
			break;
		case HVC_MSG_VERIFY:
			if (m.id == id) {
				if (!verify_only && !rep->acked && !rep->rejected)
					note(s,
					     "sent the verification of status %llu before its "
					     "ack",
					     (unsigned long long)id);
				if (!verify_matches(&m, st, &bad)) {
					note(s,
					     "sent a verification that does not match the "
					     "status (%zu functions sent, %zu reported, first "
					     "difference at %zu)",
					     st->nfuncs, m.verify.n, bad);
					break;
				}
				free(rep->sites);
				rep->sites = m.verify.checks;
				rep->nsites = m.verify.n;
				rep->npresent = m.verify.npresent;
				rep->nmismatch = m.verify.nmismatch;
				rep->nunreadable = m.verify.nunreadable;
				m.verify.checks = NULL;
				m.verify.n = 0;
				rep->verified = true;
			} else if (m.id >= s->next_id) {
				note(s, "sent a verification of message %llu that was never sent",
				     (unsigned long long)m.id);
			}
			/* Periodic (id null) and earlier verifications are not ours. */
			break;
		case HVC_MSG_ERROR:
			if (m.id == id) {
				rep->rejected = true;
				snprintf(rep->agent_error, sizeof(rep->agent_error), "%s", m.text);
			} else if (m.id >= s->next_id) {
				note(s, "reported an error about message %llu that was never sent",
				     (unsigned long long)m.id);
			}
			break;
		default:
			break;
		}
		hvc_msg_clear(&m);
	}
	if (r == HV_E_NOMEM || r == HV_E_IO || r == HV_E_PROTO) {
		/* recorded already */
	} else if (rep->rejected) {
		r = hv_err(HV_E_PROTO, "the agent rejected %s %llu: %s",
			   verify_only ? "verify request" : "status", (unsigned long long)id,
			   rep->agent_error[0] ? rep->agent_error : "no reason given");
	} else if (verify_only) {
		if (!rep->verified)
			r = hv_err(HV_E_TIMEOUT, "the agent did not send its verification in time");
	} else if (rep->acked) {
		r = 0; /* acked; out->verified says whether the verification came */
	} else if (r == HV_E_TIMEOUT) {
		r = hv_err(HV_E_TIMEOUT, "the agent did not acknowledge status %llu in time",
			   (unsigned long long)id);
	}
out:
	free(line);
	finish_report(s, rep, start);
	if (r < 0 && r != HV_E_INVAL && rep->misbehaved)
		hv_err_prefix("%s", rep->misbehaviour);
	return r;
}

int hvc_send_status(struct hvc_session *s, const struct hvc_status *st, unsigned timeout_ms,
		    struct hvc_report *out)
{
	memset(out, 0, sizeof(*out));
	if (!s || !st)
		return hv_err(HV_E_INVAL, "hvc_send_status needs a session and a status");
	return exchange_until(s, st, false, hv_mono_ms() + timeout_ms, out);
}

int hvc_request_verify(struct hvc_session *s, const struct hvc_status *st, unsigned timeout_ms,
		       struct hvc_report *out)
{
	memset(out, 0, sizeof(*out));
	if (!s || !st)
		return hv_err(HV_E_INVAL, "hvc_request_verify needs a session and a status");
	return exchange_until(s, st, true, hv_mono_ms() + timeout_ms, out);
}

static int one_shot(const char *socket_path, const struct hvc_status *st, bool verify_only,
		    unsigned timeout_ms, struct hvc_report *out)
{
	uint64_t start = hv_mono_ms(), deadline = start + timeout_ms;
	struct hvc_session *s = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if (!st)
		return hv_err(HV_E_INVAL, "the agent channel needs a status to send or check");
	r = open_until(socket_path, deadline, &s);
	if (r < 0) {
		out->elapsed_ms = hv_mono_ms() - start;
		if (strstr(hv_err_last()->msg, "agent misbehaved: ")) {
			out->misbehaved = true;
			snprintf(out->misbehaviour, sizeof(out->misbehaviour), "%s",
				 strstr(hv_err_last()->msg, "agent misbehaved: "));
		}
		return r;
	}
	r = exchange_until(s, st, verify_only, deadline, out);
	out->elapsed_ms = hv_mono_ms() - start;
	hvc_session_close(s);
	return r;
}

int hvc_notify(const char *socket_path, const struct hvc_status *st, unsigned timeout_ms,
	       struct hvc_report *out)
{
	return one_shot(socket_path, st, false, timeout_ms, out);
}

int hvc_check(const char *socket_path, const struct hvc_status *st, unsigned timeout_ms,
	      struct hvc_report *out)
{
	return one_shot(socket_path, st, true, timeout_ms, out);
}
