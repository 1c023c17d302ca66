#include "config.h"

/*
 * hvpatch-agent: runs inside the guest.  It tells the host which kernel runs
 * here, shows the tenant which patch level the host says is installed, and
 * checks the patched sites for itself.  Static binary, no run-time
 * dependencies.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <syslog.h>
#include <time.h>

#include "agent.h"
#include "hv_hex.h"

static volatile int stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static const char usage_text[] =
	"Usage: hvpatch-agent COMMAND [OPTIONS]\n"
	"\n"
	"The guest side of hvpatch.  The host patches this kernel from outside the\n"
	"VM; this agent reports the kernel to the host, records the patch level the\n"
	"host installed, and checks the patched code for itself.\n"
	"\n"
	"Commands:\n"
	"  status [--json]   show the installed patch level, when it was applied, each\n"
	"                    patched function and the last self-check; works without\n"
	"                    the host (shows the last known state and its age)\n"
	"  verify [--json]   check each patched function now: its address in\n"
	"                    /proc/kallsyms and the bytes at its site in /proc/kcore\n"
	"                    (needs root)\n"
	"  daemon [--port PATH] [--syslog] [--interval S]\n"
	"                    talk to the host over the virtio-serial port\n"
	"                    " AGT_PORT_DEFAULT "\n"
	"                    reconnecting whenever it goes away; checks every S seconds\n"
	"                    (default 60, 0 = only after each status)\n"
	"  hello             print the hello message this agent sends to the host\n"
	"  --version         print the version\n"
	"  --help            show this help\n"
	"\n"
	"Options for every command:\n"
	"  --state PATH      state file (default " AGT_STATE_DEFAULT ",\n"
	"                    or $HVPATCH_AGENT_STATE)\n"
	"  --kallsyms PATH   symbol list (default " AGT_KALLSYMS_DEFAULT
	", or $HVPATCH_AGENT_KALLSYMS)\n"
	"  --kcore PATH      kernel core file (default " AGT_KCORE_DEFAULT
	", or $HVPATCH_AGENT_KCORE)\n"
	"\n"
	"Exit status: 0 success (verify: every site present), 1 failure (verify: a\n"
	"site holds other bytes or could not be read), 2 bad usage.\n"
	"The protocol is described in docs/AGENT-PROTOCOL.md, the tenant's view in\n"
	"docs/TENANT-GUIDE.md.\n";

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v && *v ? v : dflt;
}

static int fail(const char *cmd)
{
	fprintf(stderr, "hvpatch-agent %s: error: %s\n", cmd, hv_err_last()->msg);
	return 1;
}

static int usage_error(const char *cmd, const char *what)
{
	fprintf(stderr, "hvpatch-agent %s: %s\nTry 'hvpatch-agent --help'.\n", cmd, what);
	return 2;
}

static int load_known(const char *path, struct agt_state *st)
{
	int r = agt_state_load(path, st);

	if (r == HV_E_NOTFOUND) {
		agt_state_clear(st);
		return 0;
	}
	return r;
}

static int cmd_status(const struct agt_config *cfg, int json)
{
	struct agt_state st;
	int64_t now = (int64_t)time(NULL);
	char *text;
	int rc = 0;

	memset(&st, 0, sizeof(st));
	if (load_known(cfg->state_path, &st) < 0)
		return fail("status");
	if (json) {
		text = agt_state_json(&st, now);
		if (!text) {
			agt_state_clear(&st);
			fprintf(stderr, "hvpatch-agent status: error: out of memory\n");
			return 1;
		}
		printf("%s\n", text);
		free(text);
	} else {
		agt_state_print(stdout, &st, now);
	}
	agt_state_clear(&st);
	return rc;
}

static int cmd_verify(const struct agt_config *cfg, int json)
{
	struct agt_state st;
	struct hv_wire_verify v;
	char hex[HV_HEX_SIZE(HV_WIRE_BYTES_MAX)];
	int rc = 1;
	size_t i;

	memset(&st, 0, sizeof(st));
	memset(&v, 0, sizeof(v));
	if (load_known(cfg->state_path, &st) < 0)
		return fail("verify");
	if (agt_verify_run(&st.status, cfg->kallsyms, cfg->kcore, "request", &v) < 0) {
		rc = fail("verify");
		goto out;
	}
	if (json) {
		json_t *o = hv_wire_verify_json(&v);
		char *s = NULL;

		if (o && !json_object_set_new(o, "known", json_boolean(st.status.known)) &&
		    !json_object_set_new(o, "level", json_string(st.status.level)))
			s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(o);
		if (!s) {
			fprintf(stderr, "hvpatch-agent verify: error: out of memory\n");
			goto out;
		}
		printf("%s\n", s);
		free(s);
	} else if (!st.status.known) {
		printf("Nothing to verify: the host has not reported a patch level since boot.\n");
	} else {
		printf("Patch level %s: %zu functions, %u present, %u mismatch, %u unreadable\n",
		       st.status.level[0] ? st.status.level : "none", v.n, v.npresent, v.nmismatch,
		       v.nunreadable);
		for (i = 0; i < v.n; i++) {
			const struct hv_wire_check *c = &v.checks[i];

			printf("  %-32s 0x%016llx  %s", c->name, (unsigned long long)c->site,
			       hv_wire_result_name(c->result));
			if (c->result == HV_WIRE_MISMATCH) {
				hv_hex_encode(hex, sizeof(hex), c->found, c->found_len);
				printf(" (found %s, expected ", hex);
				hv_hex_encode(hex, sizeof(hex), st.status.funcs[i].expected,
					      st.status.funcs[i].expected_len);
				printf("%s)", hex);
			}
			printf("; kallsyms %s", hv_wire_sym_name(c->sym));
			if (c->sym == HV_WIRE_SYM_DIFFERS)
				printf(" (0x%016llx)", (unsigned long long)c->sym_addr);
			if (c->reason[0])
				printf("\n      %s", c->reason);
			printf("\n");
		}
	}
	rc = v.nmismatch || v.nunreadable ? 1 : 0;
out:
	hv_wire_verify_clear(&v);
	agt_state_clear(&st);
	return rc;
}

static int cmd_hello(void)
{
	struct utsname u;
	char *line;

	if (uname(&u) < 0) {
		fprintf(stderr, "hvpatch-agent hello: error: cannot read the kernel release\n");
		return 1;
	}
	line = agt_hello_line("hello", 0, u.release, "unknown", NULL);
	if (!line) {
		fprintf(stderr, "hvpatch-agent hello: error: out of memory\n");
		return 1;
	}
	fputs(line, stdout);
	free(line);
	return 0;
}

static int cmd_daemon(const struct agt_config *cfg, int use_syslog)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (use_syslog)
		agt_log_to_syslog();
	return agt_daemon(cfg, &stop_requested) < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "port", required_argument, NULL, 'p' },
		{ "syslog", no_argument, NULL, 's' },
		{ "interval", required_argument, NULL, 'i' },
		{ "state", required_argument, NULL, 'S' },
		{ "kallsyms", required_argument, NULL, 'K' },
		{ "kcore", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct agt_config cfg = {
		.port = AGT_PORT_DEFAULT,
		.state_path = env_or("HVPATCH_AGENT_STATE", AGT_STATE_DEFAULT),
		.kallsyms = env_or("HVPATCH_AGENT_KALLSYMS", AGT_KALLSYMS_DEFAULT),
		.kcore = env_or("HVPATCH_AGENT_KCORE", AGT_KCORE_DEFAULT),
		.verify_interval_s = 60,
		.poll_ms = 250,
	};
	const char *cmd;
	int json = 0, use_syslog = 0, c;
	char *end;
	unsigned long v;

	if (argc < 2) {
		fputs(usage_text, stderr);
		return 2;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		printf("hvpatch-agent %s (protocol version %d)\n", PACKAGE_VERSION,
		       HV_WIRE_VERSION);
		return 0;
	}
	if (strcmp(cmd, "status") && strcmp(cmd, "verify") && strcmp(cmd, "daemon") &&
	    strcmp(cmd, "hello")) {
		fprintf(stderr,
			"hvpatch-agent: unknown command '%s'\nTry 'hvpatch-agent --help'.\n", cmd);
		return 2;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'p':
			cfg.port = optarg;
			break;
		case 's':
			use_syslog = 1;
			break;
		case 'i':
			v = strtoul(optarg, &end, 10);
			if (!*optarg || *end || v > 86400)
				return usage_error(cmd, "--interval must be 0 to 86400 seconds");
			cfg.verify_interval_s = (unsigned)v;
			break;
		case 'S':
			cfg.state_path = optarg;
			break;
		case 'K':
			cfg.kallsyms = optarg;
			break;
		case 'C':
			cfg.kcore = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return usage_error(cmd, "unknown option");
		}
	}
	if (optind != argc)
		return usage_error(cmd, "unexpected argument");
	if (!strcmp(cmd, "status"))
		return cmd_status(&cfg, json);
	if (!strcmp(cmd, "verify"))
		return cmd_verify(&cfg, json);
	if (!strcmp(cmd, "hello"))
		return cmd_hello();
	return cmd_daemon(&cfg, use_syslog);
}
