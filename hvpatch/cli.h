/*
 * Shared pieces of the hvpatch command line: the command table, error
 * printing and argument parsing.  Each subcommand is an int (*)(argc, argv)
 * where argv[0] is the subcommand name; it returns a process exit status
 * (HV_EXIT_*), prints its own --help, and reports failures through
 * cli_fail() so every error reaches the user as one sentence.
 */
#ifndef HVPATCH_CLI_H
#define HVPATCH_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum {
	HV_EXIT_OK = 0,
	HV_EXIT_FAIL = 1,  /* the operation failed; the message says why */
	HV_EXIT_USAGE = 2, /* the command line was wrong */
};

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary; /* one line for "hvpatch --help" */
};

/* The table lives in main.c; NULL-name terminated. */
extern const struct cli_command cli_commands[];

/*
 * Print this thread's last error as "hvpatch CMD: error: MSG" to stderr (with
 * file:function:line when HVPATCH_DEBUG is set in the environment) and
 * return HV_EXIT_FAIL.
 */
int cli_fail(const char *cmd);

/* Print "hvpatch CMD: MSG" plus a hint to run --help; return HV_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Parse an unsigned number (decimal, or hex with 0x) that must fill @s.
 * Returns 0, or HV_E_INVAL with a message naming @what.
 */
int cli_parse_u64(const char *s, const char *what, uint64_t *out)
	__attribute__((warn_unused_result));

/* The options of every command that opens a guest. */
struct cli_guest {
	const char *uri;	/* -c/--connect; NULL: qemu:///system */
	const char *qmp_socket; /* --qmp-socket: a QEMU run without libvirt */
	unsigned deadline_ms;	/* --deadline-ms; 0: HVA_DEFAULT_PAUSE_DEADLINE_MS */
	bool json;		/* --json */
};

/* Which of them a command takes (cli_spec.guest). */
#define CLI_G_CONNECT  0x1u /* -c, --connect URI */
#define CLI_G_QMP      0x2u /* --qmp-socket PATH */
#define CLI_G_DEADLINE 0x4u /* --deadline-ms N */
#define CLI_G_JSON     0x8u /* --json */
/* Every command that pauses a guest takes all four. */
#define CLI_G_ALL (CLI_G_CONNECT | CLI_G_QMP | CLI_G_DEADLINE | CLI_G_JSON)

/* A command's own option values start here (getopt_long "val"). */
#define CLI_OPT_OWN 2000

/*
 * What cli_parse() needs to know of a command.  @own lists the command's
 * own long options (NULL-terminated, may be NULL; each val either a short
 * option letter listed in @own_short or >= CLI_OPT_OWN); @take receives
 * each of them and returns 0, or a negative HV_E_* with a sentence
 * recorded (printed as a usage error).  @guest: which guest-selection
 * options apply (CLI_G_*; they print under "Guest selection:").
 */
struct cli_spec {
	const char *cmd;
	const char *help; /* the command's own part of --help */
	const struct option *own;
	const char *own_short; /* e.g. "o:m:"; NULL for none */
	int (*take)(void *ctx, int val, const char *arg);
	void *ctx;
	unsigned guest;		/* CLI_G_* bits: the guest options it takes */
	const char *extra_help; /* printed after the guest options (exit status...) */
};

/*
 * Parse @argv (argv[0] is the command name) the way GNU tools do: options
 * before, between or after the operands; "--" ends the options.  Fills
 * *@g (zeroed first; may be NULL when !spec->guest).  Returns the index in
 * the permuted @argv of the first operand, or -1 with *@rc set: HV_EXIT_OK
 * after printing --help, HV_EXIT_USAGE after a usage error (printed).
 */
int cli_parse(const struct cli_spec *spec, int argc, char **argv, struct cli_guest *g, int *rc);

/*
 * @s with control characters and non-ASCII bytes shown as \xNN (and a
 * backslash as \\), truncated to fit @out (size @n): for echoing names the
 * user typed (a carriage return pasted from a serial console is otherwise
 * invisible).  Returns @out.
 */
const char *cli_escape(const char *s, char *out, size_t n);

#endif
