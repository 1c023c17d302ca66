/*
 * Shared pieces of the hvpatch command line: the command table, error
 * printing and argument parsing.  Each subcommand is an int (*)(argc, argv)
 * where argv[0] is the subcommand name; it returns a process exit status
 * (HV_EXIT_*), prints its own --help, and reports failures through
 * cli_fail() so every error reaches the user as one sentence.
 */
#ifndef HVPATCH_CLI_H
#define HVPATCH_CLI_H

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

#endif
