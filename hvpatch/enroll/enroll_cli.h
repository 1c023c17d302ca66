/* The "hvpatch enroll" subcommand (see cli.h for the calling convention). */
#ifndef HVE_ENROLL_CLI_H
#define HVE_ENROLL_CLI_H

int cmd_enroll(int argc, char **argv);

#endif
