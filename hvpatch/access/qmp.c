#include "config.h"

#include "hv_clock.h"
#include "qmp.h"
#include "sock.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

struct hva_qmp {
	int fd;
	unsigned timeout_ms;
	pid_t pid;
	char *buf; /* received bytes not yet returned */
	size_t len, cap;
};

/* Return the next line (without '\n') in *line, malloc'd. */
static int read_line(struct hva_qmp *q, uint64_t deadline, char **line)
{
	struct pollfd pfd = { .fd = q->fd, .events = POLLIN };

	*line = NULL;
	for (;;) {
		char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
		uint64_t t;
		ssize_t r;
		int pr;

		if (nl) {
			size_t n = (size_t)(nl - q->buf);

			*line = malloc(n + 1);
			if (!*line)
				return hv_err(HV_E_NOMEM, "out of memory for a QMP reply");
			memcpy(*line, q->buf, n);
			(*line)[n] = '\0';
			memmove(q->buf, nl + 1, q->len - n - 1);
			q->len -= n + 1;
			return 0;
		}
		if (q->len >= HVA_QMP_REPLY_MAX)
			return hv_err(HV_E_PROTO, "a QMP message is longer than %d bytes",
				      HVA_QMP_REPLY_MAX);
		if (q->cap - q->len < 4096) {
			size_t cap = q->cap ? q->cap * 2 : 65536;
			char *p;

			if (cap > HVA_QMP_REPLY_MAX + 4096)
				cap = HVA_QMP_REPLY_MAX + 4096;
			p = realloc(q->buf, cap);
			if (!p)
				return hv_err(HV_E_NOMEM, "out of memory for a QMP reply");
			q->buf = p;
			q->cap = cap;
		}
		t = hv_mono_ms();
		if (t >= deadline)
			return hv_err(HV_E_TIMEOUT, "QEMU's monitor did not answer within %u ms",
				      q->timeout_ms);
		pr = poll(&pfd, 1, (int)(deadline - t));
		if (pr < 0 && errno != EINTR)
			return hv_err(HV_E_IO, "poll on the QMP socket failed: %s",
				      strerror(errno));
		if (pr <= 0)
			continue;
		r = recv(q->fd, q->buf + q->len, q->cap - q->len, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return hv_err(HV_E_IO, "cannot read from the QMP socket: %s",
				      strerror(errno));
		if (r == 0)
			return hv_err(HV_E_IO, "QEMU closed the QMP connection");
		q->len += (size_t)r;
	}
}

static int send_str(struct hva_qmp *q, const char *s)
{
	size_t n = strlen(s);

	while (n) {
		ssize_t w = send(q->fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return hv_err(HV_E_IO, "cannot write to the QMP socket: %s",
				      strerror(errno));
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int hva_qmp_command(struct hva_qmp *q, const char *cmd_json, char **reply)
{
	uint64_t deadline = hv_mono_ms() + q->timeout_ms;
	char *line = NULL;
	json_t *j;
	int r, is_reply;

	*reply = NULL;
	r = send_str(q, cmd_json);
	if (r == 0)
		r = send_str(q, "\n");
	if (r < 0)
		return r;
	for (;;) {
		r = read_line(q, deadline, &line);
		if (r < 0)
			return r;
		/* Events are {"event": ...}; replies {"return"...} or {"error"...}. */
		j = json_loads(line, 0, NULL);
		if (!json_is_object(j)) {
			json_decref(j);
			free(line);
			return hv_err(HV_E_PROTO,
				      "QEMU's monitor sent a line that is not a JSON object");
		}
		is_reply = json_object_get(j, "return") || json_object_get(j, "error");
		/* The guard's "cont" (sent while this session hung) is not ours. */
		if (json_is_string(json_object_get(j, "id")) &&
		    !strcmp(json_string_value(json_object_get(j, "id")), HVA_QMP_GUARD_ID))
			is_reply = 0;
		json_decref(j);
		if (is_reply) {
			*reply = line;
			return 0;
		}
		free(line);
	}
}

int hva_qmp_attach_fd(int fd, unsigned timeout_ms, struct hva_qmp **out)
{
	struct hva_qmp *q;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	char *line = NULL;
	int r;

	*out = NULL;
	q = calloc(1, sizeof(*q));
	if (!q) {
		close(fd);
		return hv_err(HV_E_NOMEM, "out of memory for a QMP session");
	}
	q->fd = fd;
	q->timeout_ms = timeout_ms ? timeout_ms : 5000;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
		q->pid = cred.pid;
	r = read_line(q, hv_mono_ms() + q->timeout_ms, &line);
	if (r < 0) {
		if (r == HV_E_TIMEOUT)
			r = hv_err(
				HV_E_BUSY,
				"QEMU's QMP socket accepted the connection but sent no greeting: "
				"another client probably holds the monitor");
		goto out;
	}
	if (!strstr(line, "\"QMP\"")) {
		r = hv_err(HV_E_PROTO, "the peer is not a QMP monitor (greeting '%.60s')", line);
		goto out;
	}
	free(line);
	line = NULL;
	r = hva_qmp_command(q, "{\"execute\":\"qmp_capabilities\"}", &line);
	if (r < 0)
		goto out;
	if (!strstr(line, "\"return\"")) {
		r = hv_err(HV_E_PROTO, "QEMU refused qmp_capabilities: %.200s", line);
		goto out;
	}
	*out = q;
	q = NULL;
out:
	free(line);
	hva_qmp_close(q);
	return r;
}

int hva_qmp_connect(const char *path, unsigned timeout_ms, struct hva_qmp **out)
{
	int fd, r;

	*out = NULL;
	r = hva_sock_connect(path, "QEMU's QMP socket", &fd);
	if (r < 0)
		return r;
	return hva_qmp_attach_fd(fd, timeout_ms, out);
}

pid_t hva_qmp_peer_pid(const struct hva_qmp *q)
{
	return q->pid;
}

int hva_qmp_fd(const struct hva_qmp *q)
{
	return q ? q->fd : -1;
}

void hva_qmp_close(struct hva_qmp *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	free(q->buf);
	free(q);
}
