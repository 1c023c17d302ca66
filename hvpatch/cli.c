#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "access/hva.h"
#include "hv_error.h"

int cli_fail(const char *cmd)
{
	const struct hv_error *e = hv_err_last();

	if (e->code == HV_OK) {
		fprintf(stderr,
			"hvpatch %s: error: the operation failed without a recorded reason\n", cmd);
		return HV_EXIT_FAIL;
	}
	fprintf(stderr, "hvpatch %s: error: %s\n", cmd, e->msg);
	if (getenv("HVPATCH_DEBUG"))
		fprintf(stderr, "hvpatch %s: (%s, recorded at %s:%s:%d)\n", cmd,
			hv_strerror(e->code), e->file, e->func, e->line);
	return HV_EXIT_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hvpatch %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'hvpatch %s --help' for more information.\n", cmd);
	return HV_EXIT_USAGE;
}

int cli_parse_u64(const char *s, const char *what, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return hv_err(HV_E_INVAL, "%s '%s' is not an unsigned number", what, s ? s : "");
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno == ERANGE)
		return hv_err(HV_E_INVAL, "%s '%s' does not fit in 64 bits", what, s);
	if (*end)
		return hv_err(HV_E_INVAL,
			      "%s '%s' is not a number (expected decimal, or hex with 0x)", what,
			      s);
	*out = v;
	return 0;
}

#define HV_STR_(x) #x
#define HV_STR(x)  HV_STR_(x)

enum {
	OPT_G_QMP = 1000,
	OPT_G_DEADLINE,
	OPT_G_JSON
};

/* The guest options and their --help lines, in the order they print. */
static const struct {
	unsigned bit;
	struct option opt;
	const char *help;
} guest_opts[] = {
	{ CLI_G_CONNECT,
	  { "connect", required_argument, NULL, 'c' },
	  "  -c, --connect URI      libvirt URI (default qemu:///system)\n" },
	{ CLI_G_QMP,
	  { "qmp-socket", required_argument, NULL, OPT_G_QMP },
	  "      --qmp-socket PATH  use a QEMU run without libvirt, through its QMP\n"
	  "                         socket; DOMAIN is then only a label\n" },
	{ CLI_G_DEADLINE,
	  { "deadline-ms", required_argument, NULL, OPT_G_DEADLINE },
	  "      --deadline-ms N    longest pause (1 to 10000); past it the guest is\n"
	  "                         resumed and any change rolled back (default " HV_STR(
		  HVA_DEFAULT_PAUSE_DEADLINE_MS) ")\n" },
	{ CLI_G_JSON,
	  { "json", no_argument, NULL, OPT_G_JSON },
	  "      --json             machine-readable output\n" },
};

int cli_parse(const struct cli_spec *spec, int argc, char **argv, struct cli_guest *g, int *rc)
{
	struct option opts[64];
	char shorts[64];
	size_t n = 0, k;
	uint64_t v;
	int o;

	if (g)
		memset(g, 0, sizeof(*g));
	for (k = 0; k < sizeof(guest_opts) / sizeof(guest_opts[0]); k++)
		if (spec->guest & guest_opts[k].bit)
			opts[n++] = guest_opts[k].opt;
	for (k = 0; spec->own && spec->own[k].name && n < 62; k++)
		opts[n++] = spec->own[k];
	opts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[n] = (struct option){ NULL, 0, NULL, 0 };
	/* A leading ':' reports a missing argument as ':' rather than '?'. */
	snprintf(shorts, sizeof(shorts), ":h%s%s", spec->guest & CLI_G_CONNECT ? "c:" : "",
		 spec->own_short ? spec->own_short : "");
	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
		const char *opt = argv[optind - 1];

		switch (o) {
		case 'h':
			fputs(spec->help, stdout);
			if (spec->guest) {
				size_t hl = strlen(spec->help);

				/* One blank line before the section, whatever the help ends with.
				 */
				if (hl < 2 || strcmp(spec->help + hl - 2, "\n\n") != 0)
					fputc('\n', stdout);
				fputs("Guest selection:\n", stdout);
				for (k = 0; k < sizeof(guest_opts) / sizeof(guest_opts[0]); k++)
					if (spec->guest & guest_opts[k].bit)
						fputs(guest_opts[k].help, stdout);
			}
			fputs("  -h, --help             this help\n", stdout);
			if (spec->extra_help)
				fputs(spec->extra_help, stdout);
			*rc = HV_EXIT_OK;
			return -1;
		case 'c':
			if (!(spec->guest & CLI_G_CONNECT))
				goto own;
			g->uri = optarg;
			break;
		case OPT_G_QMP:
			g->qmp_socket = optarg;
			break;
		case OPT_G_DEADLINE:
			if (cli_parse_u64(optarg, "--deadline-ms", &v) < 0 || v == 0 || v > 10000) {
				hv_err_clear();
				*rc = cli_usage_error(
					spec->cmd, "--deadline-ms wants 1 to 10000 (ms), not '%s'",
					optarg);
				return -1;
			}
			g->deadline_ms = (unsigned)v;
			break;
		case OPT_G_JSON:
			g->json = true;
			break;
		case ':':
			*rc = cli_usage_error(spec->cmd, "option '%s' needs a value", opt);
			return -1;
		case '?':
			*rc = cli_usage_error(spec->cmd, "unknown option '%s'", opt);
			return -1;
		default:
		own:
			if (!spec->take || spec->take(spec->ctx, o, optarg) < 0) {
				char msg[1100];

				snprintf(msg, sizeof(msg), "%s",
					 spec->take ? hv_err_last()->msg : "unknown option");
				hv_err_clear();
				*rc = cli_usage_error(spec->cmd, "%s", msg);
				return -1;
			}
			break;
		}
	}
	return optind;
}

const char *cli_escape(const char *s, char *out, size_t n)
{
	size_t o = 0;

	if (!n)
		return out;
	for (; s && *s && o + 5 < n; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\') {
			out[o++] = '\\';
			out[o++] = '\\';
		} else if (c < 0x20 || c >= 0x7f) {
			o += (size_t)snprintf(out + o, n - o, "\\x%02x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return out;
}
