#include "config.h"

/* hvpatch agent-ping and agent-notify: talk to a guest's hvpatch-agent by hand. */
#include <getopt.h>
#include <stdbool.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access/hva.h"
#include "cli.h"
#include "hv_hex.h"
#include "hvc.h"

int cmd_agent_ping(int argc, char **argv);
int cmd_agent_notify(int argc, char **argv);
int cmd_agent_verify(int argc, char **argv);

#define DEFAULT_TIMEOUT_MS 5000

static const char ping_help[] =
	"Usage: hvpatch agent-ping (--socket PATH | --domain DOMAIN) [--timeout MS] [--json]\n"
	"\n"
	"Connect to the host end of a guest's hvpatch-agent channel (the unix socket\n"
	"libvirt binds for the virtio-serial channel " HV_WIRE_CHANNEL "; see\n"
	"<channel type='unix'> in 'virsh dumpxml DOMAIN'), ask the agent who it is,\n"
	"and print its answer: agent version, the guest's kernel release and boot\n"
	"id, and the patch level the agent last heard of.  Everything the agent says\n"
	"is the guest's claim, not proof.\n"
	"\n"
	"Options:\n"
	"  -s, --socket PATH   the channel's unix socket\n"
	"  -d, --domain DOMAIN find the socket in the libvirt domain's definition\n"
	"  -t, --timeout MS    give up after MS milliseconds (default 5000)\n"
	"\n"
	"Example:\n"
	"  hvpatch agent-ping --domain web-01\n"
	"  hvpatch agent-ping --socket /var/lib/libvirt/qemu/channel/target/web-01.agent\n";

static const char notify_help[] =
	"Usage: hvpatch agent-notify (--socket PATH | --domain DOMAIN) --level LEVEL [OPTIONS]\n"
	"\n"
	"Send a status update to a guest's hvpatch-agent, as the apply engine does\n"
	"after every apply or revert, and print the agent's acknowledgement and its\n"
	"own verification of every site (present, mismatch with the bytes it read,\n"
	"or unreadable).  A diagnostic and test tool: the status is what you say,\n"
	"so the tenant sees it; use it on test guests.\n"
	"\n"
	"Options:\n"
	"  -s, --socket PATH       the channel's unix socket\n"
	"  -d, --domain DOMAIN     find the socket in the libvirt domain's definition\n"
	"  -l, --level LEVEL       patch level name ('' for none)\n"
	"  -p, --previous LEVEL    the level before this one\n"
	"      --op apply|revert   what produced this level\n"
	"      --applied-at SECS   unix time of the change (default: now)\n"
	"  -f, --func NAME:SITE:HEX[:OFFSET]\n"
	"                          a patched function: symbol, site address (0x...),\n"
	"                          the bytes the site holds (hex) and the site's\n"
	"                          offset from the function entry; repeatable\n"
	"  -t, --timeout MS        give up after MS milliseconds (default 5000)\n"
	"\n"
	"Example:\n"
	"  hvpatch agent-notify --socket /run/hvt.agent --level 2026.11-1 \\\n"
	"      --func cmdline_proc_show:0xffffffffb5a3c1e0:e912345678\n";

static const char verify_help[] =
	"Usage: hvpatch agent-verify (--socket PATH | --domain DOMAIN) [--func NAME:SITE:HEX]...\n"
	"                            [OPTIONS]\n"
	"\n"
	"Ask a guest's hvpatch-agent to check its patched sites now, from inside the\n"
	"guest (its own /proc/kallsyms and /proc/kcore), and print the result: per\n"
	"function present, mismatch (drift: the bytes it found) or unreadable.  The\n"
	"--func list is what the host believes is installed; a verification of other\n"
	"functions or sites is reported as the agent misbehaving.\n"
	"\n"
	"Options:\n"
	"  -s, --socket PATH       the channel's unix socket\n"
	"  -d, --domain DOMAIN     find the socket in the libvirt domain's definition\n"
	"  -f, --func NAME:SITE:HEX[:OFFSET]\n"
	"                          a function the host patched; repeatable\n"
	"  -t, --timeout MS        give up after MS milliseconds (default 5000)\n"
	"\n"
	"Example:\n"
	"  hvpatch agent-verify --socket /run/hvt.agent \\\n"
	"      --func cmdline_proc_show:0xffffffffb5a3c1e0:e912345678\n";

static const char ping_exit_help[] =
	"\n"
	"Options may come in any order.\n"
	"Exit status: 0 the agent answered, 1 no answer or a broken channel (the\n"
	"message says why), 2 bad usage.\n";

static const char notify_exit_help[] =
	"\n"
	"Options may come in any order.\n"
	"Exit status: 0 the agent acknowledged the status (the verification may\n"
	"still report mismatches: read it), 1 it did not (the message says why),\n"
	"2 bad usage.\n";

static const char verify_exit_help[] =
	"\n"
	"Options may come in any order.\n"
	"Exit status: 0 the verification arrived (read it for mismatches), 1 it\n"
	"did not (the message says why), 2 bad usage.\n";

/*
 * The agent socket of libvirt domain @domain (its <channel> for
 * org.hvpatch.agent.0), through the access layer.  Returns 0 or HV_E_*.
 */
static int domain_socket(const char *domain, const char *uri, char *out, size_t outlen)
{
	struct hva_open_opts o = { 0 };
	struct hva *h = NULL;
	struct hva_info info;
	int r;

	o.uri = uri;
	r = hva_open(domain, &o, &h);
	if (r == 0)
		r = hva_describe(h, &info);
	if (r == 0 && !info.agent_socket[0])
		r = hv_err(HV_E_NOTFOUND,
			   "domain '%s' has no " HV_WIRE_CHANNEL " channel with a unix socket: "
			   "enroll it (hvpatch enroll) and restart it",
			   domain);
	if (r == 0)
		snprintf(out, outlen, "%s", info.agent_socket);
	hva_close(h);
	return r;
}

/* What every agent-* command takes: where the agent is, how long to wait, how to print. */
struct target {
	const char *sock, *domain, *uri;
	unsigned timeout_ms;
	int json;
	char sockbuf[256];
};

/*
 * Take option @c (argument @arg) when it is one of struct target's.
 * Returns 1 when taken, 0 when it is another option, or a negative HV_E_*
 * with the reason recorded.
 */
static int target_option(int c, const char *arg, struct target *t)
{
	uint64_t v;

	switch (c) {
	case 's':
		t->sock = arg;
		return 1;
	case 'd':
		t->domain = arg;
		return 1;
	case 't':
		if (cli_parse_u64(arg, "--timeout", &v) < 0 || v == 0 || v > 600000)
			return hv_err(HV_E_INVAL, "--timeout '%s' must be 1 to 600000 milliseconds",
				      arg);
		t->timeout_ms = (unsigned)v;
		return 1;
	}
	return 0;
}

/* The options every agent-* command shares, for cli_parse(). */
#define TARGET_OPTIONS                                                                          \
	{ "socket", required_argument, NULL, 's' }, { "domain", required_argument, NULL, 'd' }, \
	{                                                                                       \
		"timeout", required_argument, NULL, 't'                                         \
	}

/* Parse @argv for @cmd with @take for its own options; fills t->uri/json. */
static int target_parse(const char *cmd, int argc, char **argv, const char *help,
			const struct option *own, const char *own_short,
			int (*take)(void *, int, const char *), void *ctx, const char *exit_help,
			struct target *t, int *rc)
{
	struct cli_spec spec = { .cmd = cmd,
				 .help = help,
				 .own = own,
				 .own_short = own_short,
				 .take = take,
				 .ctx = ctx,
				 .guest = CLI_G_CONNECT | CLI_G_JSON,
				 .extra_help = exit_help };
	struct cli_guest g;
	int i = cli_parse(&spec, argc, argv, &g, rc);

	if (i < 0)
		return -1;
	t->uri = g.uri;
	t->json = g.json;
	optind = i;
	return i;
}

/*
 * After the options: no argument left and exactly one of --socket and
 * --domain.  Returns 0 or HV_EXIT_USAGE (the usage error printed).
 */
static int target_check(const char *cmd, int argc, char **argv, const struct target *t)
{
	if (optind != argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!t->sock == !t->domain)
		return cli_usage_error(cmd, "give either --socket PATH or --domain DOMAIN");
	return 0;
}

/* Look up the --domain's agent socket.  Returns 0 (t->sock set) or the exit status. */
static int target_socket(const char *cmd, struct target *t)
{
	if (t->domain) {
		if (domain_socket(t->domain, t->uri, t->sockbuf, sizeof(t->sockbuf)) < 0)
			return cli_fail(cmd);
		t->sock = t->sockbuf;
	}
	return 0;
}

static void print_json(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(o);
}

static int ping_take(void *ctx, int c, const char *arg)
{
	int r = target_option(c, arg, ctx);

	return r < 0 ? r : r ? 0 : hv_err(HV_E_INVAL, "unknown option");
}

int cmd_agent_ping(int argc, char **argv)
{
	static const struct option opts[] = {
		TARGET_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct target t = { .timeout_ms = DEFAULT_TIMEOUT_MS };
	struct hvc_session *s = NULL;
	const struct hv_wire_hello *a;
	int r, rc;

	if (target_parse("agent-ping", argc, argv, ping_help, opts, "s:d:t:", ping_take, &t,
			 ping_exit_help, &t, &rc) < 0)
		return rc;
	r = target_check("agent-ping", argc, argv, &t);
	if (r == 0)
		r = target_socket("agent-ping", &t);
	if (r)
		return r;
	if (hvc_session_open(t.sock, t.timeout_ms, &s) < 0)
		return cli_fail("agent-ping");
	a = hvc_session_agent(s);
	if (t.json) {
		json_t *o = hv_wire_hello_json(a);

		if (o)
			json_object_set_new(o, "misbehaviour",
					    json_string(hvc_session_misbehaviour(s)));
		print_json(o);
	} else {
		printf("agent version:  %s\n"
		       "kernel release: %s\n"
		       "boot id:        %s\n"
		       "known level:    %s\n",
		       a->agent_version, a->kernel_release, a->boot_id[0] ? a->boot_id : "unknown",
		       !a->level_known ? "none reported yet"
		       : a->level[0]   ? a->level
				       : "none (unpatched)");
		if (hvc_session_misbehaviour(s)[0])
			printf("warning:        %s\n", hvc_session_misbehaviour(s));
	}
	hvc_session_close(s);
	return HV_EXIT_OK;
}

/* NAME:SITE:HEX[:OFFSET] into @f, with the name and bytes kept in @store. */
static int parse_func(const char *arg, struct hvc_func *f, char *name, size_t namelen,
		      uint8_t *bytes)
{
	char buf[512], *sitep, *hexp, *offp;
	uint64_t v;

	if (strlen(arg) >= sizeof(buf))
		return -1;
	strcpy(buf, arg);
	sitep = strchr(buf, ':');
	hexp = sitep ? strchr(sitep + 1, ':') : NULL;
	if (!hexp)
		return -1;
	*sitep++ = 0;
	*hexp++ = 0;
	offp = strchr(hexp, ':');
	if (offp)
		*offp++ = 0;
	if (!buf[0] || strlen(buf) >= namelen)
		return -1;
	strcpy(name, buf);
	if (cli_parse_u64(sitep, "site", &f->site) < 0)
		return -1;
	if (hv_hex_decode(hexp, strlen(hexp), bytes, HV_WIRE_BYTES_MAX, &f->expected_len,
			  "byte string") < 0)
		return -1;
	f->offset = 0;
	if (offp) {
		if (cli_parse_u64(offp, "offset", &v) < 0 || v > HV_WIRE_OFFSET_MAX)
			return -1;
		f->offset = (uint32_t)v;
	}
	f->name = name;
	f->expected = bytes;
	return 0;
}

static void report_text(const struct hvc_report *rep, int r)
{
	char hex[HV_HEX_SIZE(HV_WIRE_BYTES_MAX)];
	size_t i;

	if (rep->hello)
		printf("agent:     hvpatch-agent %s on %s\n", rep->agent.agent_version,
		       rep->agent.kernel_release);
	printf("status %llu: %s\n", (unsigned long long)rep->status_id,
	       rep->acked      ? "acknowledged"
	       : rep->rejected ? "rejected"
			       : "not acknowledged");
	if (rep->agent_error[0])
		printf("agent says: %s\n", rep->agent_error);
	if (rep->verified) {
		printf("verified:  %u present, %u mismatch, %u unreadable\n", rep->npresent,
		       rep->nmismatch, rep->nunreadable);
		for (i = 0; i < rep->nsites; i++) {
			const struct hv_wire_check *s = &rep->sites[i];

			printf("  %-32s 0x%016llx %s", s->name, (unsigned long long)s->site,
			       hv_wire_result_name(s->result));
			if (s->result == HV_WIRE_MISMATCH) {
				hv_hex_encode(hex, sizeof(hex), s->found, s->found_len);
				printf(" (found %s)", hex);
			}
			printf("; kallsyms %s%s%s\n", hv_wire_sym_name(s->sym),
			       s->reason[0] ? "; " : "", s->reason);
		}
	} else if (r == 0) {
		printf("verified:  no verification arrived in time\n");
	}
	if (rep->misbehaved)
		printf("warning:   %s\n", rep->misbehaviour);
}

#define MAX_CLI_FUNCS 64

struct notify_ctx {
	struct target *t;
	struct hvc_status *st;
	struct hvc_func *funcs;
	char (*names)[HV_WIRE_NAME_MAX + 1];
	uint8_t (*bytes)[HV_WIRE_BYTES_MAX];
	int have_level;
};

static int notify_take(void *ctx, int c, const char *arg)
{
	struct notify_ctx *n = ctx;
	struct hvc_status *st = n->st;
	uint64_t v;
	int r = target_option(c, arg, n->t);

	if (r != 0)
		return r < 0 ? r : 0;
	switch (c) {
	case 'l':
		st->level = arg;
		n->have_level = 1;
		return 0;
	case 'p':
		st->previous_level = arg;
		return 0;
	case 'o':
		if (strcmp(arg, "apply") && strcmp(arg, "revert"))
			return hv_err(HV_E_INVAL, "--op must be apply or revert");
		st->op = arg;
		return 0;
	case 'a':
		if (cli_parse_u64(arg, "--applied-at", &v) < 0 || v > (uint64_t)HV_WIRE_TIME_MAX)
			return hv_err(HV_E_INVAL, "--applied-at must be unix seconds");
		st->applied_at = (int64_t)v;
		return 0;
	case 'f':
		if (st->nfuncs >= MAX_CLI_FUNCS)
			return hv_err(HV_E_INVAL, "at most %d --func options", MAX_CLI_FUNCS);
		if (parse_func(arg, &n->funcs[st->nfuncs], n->names[st->nfuncs],
			       sizeof(n->names[0]), n->bytes[st->nfuncs]) < 0)
			return hv_err(HV_E_INVAL,
				      "--func '%s' must be NAME:0xSITE:HEXBYTES[:OFFSET] (1 to %d "
				      "bytes, offset up to %d)",
				      arg, HV_WIRE_BYTES_MAX, HV_WIRE_OFFSET_MAX);
		st->nfuncs++;
		return 0;
	default:
		return hv_err(HV_E_INVAL, "unknown option");
	}
}

static int run_notify(int argc, char **argv, bool verify_only)
{
	const char *cmd = verify_only ? "agent-verify" : "agent-notify";
	static const struct option notify_opts[] = {
		TARGET_OPTIONS,
		{ "level", required_argument, NULL, 'l' },
		{ "previous", required_argument, NULL, 'p' },
		{ "op", required_argument, NULL, 'o' },
		{ "applied-at", required_argument, NULL, 'a' },
		{ "func", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct option verify_opts[] = {
		TARGET_OPTIONS,
		{ "func", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	static struct hvc_func funcs[MAX_CLI_FUNCS];
	static char names[MAX_CLI_FUNCS][HV_WIRE_NAME_MAX + 1];
	static uint8_t bytes[MAX_CLI_FUNCS][HV_WIRE_BYTES_MAX];
	struct target t = { .timeout_ms = DEFAULT_TIMEOUT_MS };
	struct hvc_status st;
	struct hvc_report rep;
	struct notify_ctx nc = { &t, &st, funcs, names, bytes, 0 };
	int r, rc;

	memset(&st, 0, sizeof(st));
	st.applied_at = (int64_t)time(NULL);
	st.funcs = funcs;
	if (target_parse(cmd, argc, argv, verify_only ? verify_help : notify_help,
			 verify_only ? verify_opts : notify_opts,
			 verify_only ? "s:d:t:f:" : "s:d:t:l:p:f:", notify_take, &nc,
			 verify_only ? verify_exit_help : notify_exit_help, &t, &rc) < 0)
		return rc;
	r = target_check(cmd, argc, argv, &t);
	if (r)
		return r;
	if (!nc.have_level && !verify_only)
		return cli_usage_error(cmd, "--level LEVEL is required ('' for none)");
	if (!nc.have_level)
		st.level = "";
	r = target_socket(cmd, &t);
	if (r)
		return r;
	r = verify_only ? hvc_check(t.sock, &st, t.timeout_ms, &rep)
			: hvc_notify(t.sock, &st, t.timeout_ms, &rep);
	if (t.json) {
		char *j = hvc_report_json(&rep, r);

		if (j)
			printf("%s\n", j);
		free(j);
	} else
		report_text(&rep, r);
	hvc_report_clear(&rep);
	if (r < 0)
		return cli_fail(cmd);
	return HV_EXIT_OK;
}

int cmd_agent_notify(int argc, char **argv)
{
	return run_notify(argc, argv, false);
}

int cmd_agent_verify(int argc, char **argv)
{
	return run_notify(argc, argv, true);
}
