/*
 * hvpatch: patch a running Linux guest kernel from the host.
 * This file holds the command table and the top-level option handling only.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <libvirt/libvirt.h>

#include "cli.h"
#include "access/hva.h"
#include "enroll/enroll_cli.h"
#include "hv_error.h"

static int cmd_version(int argc, char **argv);

/*
 * Each part of hvpatch lists its commands in its own commands.inc, so parts
 * can grow without touching this file.
 */
#include "commands.h"

#define HV_CMD(name, fn, summary) { name, fn, summary },
const struct cli_command cli_commands[] = {
	{ "enroll", cmd_enroll, "prepare a libvirt domain's definition for patching" },
#include "access/commands.inc"
#include "inspect/commands.inc"
#include "bundle/commands.inc"
#include "apply/commands.inc"
#include "agentchan/commands.inc"
	{ "version", cmd_version, "print the versions of hvpatch and the libraries it uses" },
	{ NULL, NULL, NULL },
};

static void print_help(FILE *f)
{
	const struct cli_command *c;

	fprintf(f, "Usage: hvpatch [--help] [--version] COMMAND [ARGS...]\n"
		   "\n"
		   "hvpatch fixes a running Linux guest kernel from the host: it pauses the\n"
		   "guest's vCPUs, writes the fix into the guest kernel's text through the\n"
		   "hypervisor's view of guest-physical memory, and resumes the guest.  The\n"
		   "guest loads no module and does not reboot.\n"
		   "\n"
		   "Commands:\n");
	for (c = cli_commands; c->name; c++)
		fprintf(f, "  %-12s %s\n", c->name, c->summary);
	fprintf(f, "\n"
		   "Options:\n"
		   "  -h, --help     show this help, or a command's help with COMMAND --help\n"
		   "  -V, --version  print the version and exit\n"
		   "\n"
		   "Environment:\n"
		   "  HVPATCH_DEBUG  when set, errors also show where in hvpatch they arose\n"
		   "\n"
		   "Exit status: 0 on success, 1 when the operation failed (the message says\n"
		   "why), 2 when the command line was wrong.\n");
}

static int cmd_version(int argc, char **argv)
{
	unsigned long lib = 0;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: hvpatch version\n\n"
		       "Print the version of hvpatch and of the libvirt library it runs with.\n");
		return HV_EXIT_OK;
	}
	if (argc > 1)
		return cli_usage_error("version", "unexpected argument '%s'", argv[1]);
	printf("hvpatch %s\n", PACKAGE_VERSION);
	if (virGetVersion(&lib, NULL, NULL) == 0)
		printf("libvirt %lu.%lu.%lu\n", lib / 1000000, (lib / 1000) % 1000, lib % 1000);
	return HV_EXIT_OK;
}

/* A guest found paused is never passed over in silence. */
static void print_note(const char *domain, const char *note)
{
	(void)domain;
	fprintf(stderr, "hvpatch: note: %s\n", note);
}

/*
 * What was printed must have reached stdout: a report cut short (a full
 * disk, a reader that went away) is a failure, never an exit 0 with no
 * output.
 */
static int finish(int rc)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		int e = errno;

		fprintf(stderr, "hvpatch: error: cannot write the output: %s\n",
			e ? strerror(e) : "write error");
		if (rc == HV_EXIT_OK)
			rc = HV_EXIT_FAIL;
	}
	return rc;
}

static int run(int argc, char **argv)
{
	const struct cli_command *c;

	if (argc < 2) {
		print_help(stderr);
		return HV_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		print_help(stdout);
		return HV_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))
		return cmd_version(1, argv);
	if (argv[1][0] == '-') {
		fprintf(stderr, "hvpatch: unknown option '%s'\nTry 'hvpatch --help'.\n", argv[1]);
		return HV_EXIT_USAGE;
	}
	for (c = cli_commands; c->name; c++)
		if (!strcmp(c->name, argv[1]))
			return c->run(argc - 1, argv + 1);
	fprintf(stderr, "hvpatch: unknown command '%s'\nTry 'hvpatch --help'.\n", argv[1]);
	return HV_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	/* A write to a closed socket or pipe (libvirtd gone, QEMU's monitor
	 * or gdbstub closed, a reader of stdout gone) must come back as an
	 * error the operation handles (restoring bytes, resuming the guest),
	 * not kill hvpatch in the middle of a pause. */
	signal(SIGPIPE, SIG_IGN);
	hva_set_note_handler(print_note);
	return finish(run(argc, argv));
}
