/*
 * Prototypes of every subcommand, from each part's commands.inc.  A file
 * that implements a command includes this header (so its prototype is
 * checked); main.c builds the command table from the same lists.
 */
#ifndef HVPATCH_COMMANDS_H
#define HVPATCH_COMMANDS_H

#define HV_CMD(name, fn, summary) int fn(int argc, char **argv);
#include "access/commands.inc"
#include "inspect/commands.inc"
#include "bundle/commands.inc"
#include "apply/commands.inc"
#include "agentchan/commands.inc"
#undef HV_CMD

#endif
