// SPDX-License-Identifier: GPL-2.0
/*
 * Example patch "cmdline-level" (level 2026.11-1): /proc/cmdline shows the
 * installed hvpatch level after the kernel command line.
 *
 * Replaces the static function cmdline_proc_show() of fs/proc/cmdline.c:
 *
 *   static int cmdline_proc_show(struct seq_file *m, void *v)
 *   {
 *           seq_puts(m, saved_command_line);
 *           seq_putc(m, '\n');
 *           return 0;
 *   }
 *
 * The replacement is ordinary kernel C, compiled by the target kernel's
 * kbuild.  Kernel symbols it uses (saved_command_line, seq_puts) are resolved
 * by hvpatch at apply time from the guest's own kallsyms, so they need not be
 * exported.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/seq_file.h>

#define HVPATCH_LEVEL "2026.11-1"

int hvp_cmdline_proc_show(struct seq_file *m, void *v);

int hvp_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_puts(m, saved_command_line);
	seq_puts(m, " hvpatch_level=" HVPATCH_LEVEL "\n");
	return 0;
}

/* kbuild wants a license; hvpatch drops .modinfo. */
MODULE_LICENSE("GPL");
