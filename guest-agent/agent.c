/*
 * hvpatch-agent: runs inside the guest.  It tells the host which kernel runs
 * here and shows the tenant which patch level the host says is installed.
 * Static binary, no run-time dependencies.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <syslog.h>
#include <unistd.h>

#include "hv_error.h"

#define AGENT_PORT_DEFAULT  "/dev/virtio-ports/org.hvpatch.agent.0"
#define AGENT_STATUS_FILE   "/run/hvpatch/status.json"
#define AGENT_PROTO_VERSION 1
/* A host line longer than this is dropped whole: the host is not trusted to be sane either. */
#define AGENT_LINE_MAX 65536

static volatile sig_atomic_t stop_requested;
static int use_syslog;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void logmsg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logmsg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (use_syslog) {
		vsyslog(prio, fmt, ap);
	} else {
		fputs("hvpatch-agent: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

/* Write a JSON string literal of @s (escaping what JSON requires). */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static int hello_line(char *out, size_t outlen)
{
	struct utsname u;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int r = 0;

	if (uname(&u) < 0)
		return hv_err(HV_E_IO, "cannot read the kernel release (uname): %s",
			      strerror(errno));
	f = open_memstream(&buf, &len);
	if (!f)
		return hv_err(HV_E_NOMEM, "cannot build the hello message: out of memory");
	fprintf(f, "{\"type\":\"hello\",\"proto\":%d,\"agent_version\":", AGENT_PROTO_VERSION);
	json_str(f, PACKAGE_VERSION);
	fputs(",\"kernel_release\":", f);
	json_str(f, u.release);
	fputs("}\n", f);
	fclose(f);
	if (len + 1 > outlen)
		r = hv_err(HV_E_RANGE, "the hello message (%zu bytes) exceeds its buffer", len);
	else
		memcpy(out, buf, len + 1);
	free(buf);
	return r;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return hv_err(HV_E_IO, "cannot write to the host channel: %s",
				      w < 0 ? strerror(errno) : "short write");
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * One connection to the host: send hello, then read newline-delimited
 * messages until the port fails.  Lines are logged only for now.
 */
static int serve_port(const char *port)
{
	static char line[AGENT_LINE_MAX];
	char hello[1024];
	size_t used = 0;
	int dropping = 0;
	int fd, r;

	fd = open(port, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return hv_err(errno == ENOENT ? HV_E_NOTFOUND : HV_E_IO,
			      "cannot open the host channel %s: %s", port, strerror(errno));
	r = hello_line(hello, sizeof(hello));
	if (r == 0)
		r = write_all(fd, hello, strlen(hello));
	while (r == 0 && !stop_requested) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char chunk[4096];
		ssize_t n;
		ssize_t i;

		if (poll(&p, 1, 1000) <= 0)
			continue;
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* virtio-serial reads 0 while the host side is closed: retry later. */
			r = hv_err(HV_E_IO, "the host channel %s closed", port);
			break;
		}
		for (i = 0; i < n; i++) {
			if (chunk[i] == '\n') {
				if (!dropping) {
					line[used] = 0;
					logmsg(LOG_INFO, "host message (%zu bytes)", used);
				}
				used = 0;
				dropping = 0;
			} else if (!dropping && used < sizeof(line) - 1) {
				line[used++] = chunk[i];
			} else if (!dropping) {
				logmsg(LOG_WARNING, "dropping a host message longer than %d bytes",
				       AGENT_LINE_MAX);
				dropping = 1;
			}
		}
	}
	close(fd);
	return r;
}

static int cmd_daemon(int argc, char **argv)
{
	const char *port = AGENT_PORT_DEFAULT;
	unsigned backoff_s = 1;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			port = argv[++i];
		} else if (!strcmp(argv[i], "--syslog")) {
			use_syslog = 1;
		} else {
			fprintf(stderr, "hvpatch-agent daemon: unexpected argument '%s'\n",
				argv[i]);
			return 2;
		}
	}
	if (use_syslog)
		openlog("hvpatch-agent", LOG_PID, LOG_DAEMON);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	logmsg(LOG_INFO, "version %s, host channel %s", PACKAGE_VERSION, port);
	while (!stop_requested) {
		if (serve_port(port) < 0)
			logmsg(LOG_WARNING, "%s; retrying in %u s", hv_err_last()->msg, backoff_s);
		else
			backoff_s = 1;
		if (stop_requested)
			break;
		sleep(backoff_s);
		if (backoff_s < 30)
			backoff_s *= 2;
	}
	return 0;
}

static int cmd_hello(void)
{
	char hello[1024];

	if (hello_line(hello, sizeof(hello)) < 0) {
		fprintf(stderr, "hvpatch-agent: error: %s\n", hv_err_last()->msg);
		return 1;
	}
	fputs(hello, stdout);
	return 0;
}

static int cmd_status(void)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(AGENT_STATUS_FILE, "r");

	if (!f) {
		if (errno == ENOENT) {
			printf("No patch level is known: the host has not reported one since "
			       "boot.\n");
			return 0;
		}
		fprintf(stderr, "hvpatch-agent: error: cannot read %s: %s\n", AGENT_STATUS_FILE,
			strerror(errno));
		return 1;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stdout);
	fclose(f);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: hvpatch-agent COMMAND [OPTIONS]\n"
		   "\n"
		   "The guest side of hvpatch: it reports this kernel to the host and shows\n"
		   "which patch level the host installed.\n"
		   "\n"
		   "Commands:\n"
		   "  daemon [--port PATH] [--syslog]\n"
		   "              talk to the host over the virtio-serial port (default\n"
		   "              " AGENT_PORT_DEFAULT "),\n"
		   "              reconnecting whenever the port goes away\n"
		   "  status      show the patch level last reported by the host\n"
		   "  hello       print the hello message this agent sends to the host\n"
		   "  --version   print the version\n"
		   "  --help      show this help\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("hvpatch-agent %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "daemon"))
		return cmd_daemon(argc - 1, argv + 1);
	if (!strcmp(argv[1], "status"))
		return cmd_status();
	if (!strcmp(argv[1], "hello"))
		return cmd_hello();
	fprintf(stderr, "hvpatch-agent: unknown command '%s'\nTry 'hvpatch-agent --help'.\n",
		argv[1]);
	return 2;
}
