// SPDX-License-Identifier: GPL-2.0
/*
 * Example patch "module-binfmt": a function of a module and a function of
 * the kernel in one level.
 *
 * binfmt_misc:bm_status_read() (fs/binfmt_misc.c, a module in Debian's
 * kernels) reads the module's static "enabled" flag:
 *
 *   static ssize_t
 *   bm_status_read(struct file *file, char __user *buf, size_t nbytes, loff_t *ppos)
 *   {
 *           char *s = enabled ? "enabled\n" : "disabled\n";
 *
 *           return simple_read_from_buffer(buf, nbytes, ppos, s, strlen(s));
 *   }
 *
 * The replacement reads the same flag: the manifest line
 * "symbol = hvp_bm_enabled -> binfmt_misc:enabled" makes the undefined
 * name below the module's own static variable in the running guest.  The
 * second replacement, cmdline_proc_show() of fs/proc/cmdline.c, is in the
 * kernel: it is patched even when binfmt_misc is not loaded, while the
 * module's part waits (pending) for the module.
 */
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/string.h>

#define HVPATCH_LEVEL "module-1"

extern int hvp_bm_enabled;

ssize_t hvp_bm_status_read(struct file *file, char __user *buf, size_t nbytes, loff_t *ppos);
int hvp_cmdline_proc_show(struct seq_file *m, void *v);

ssize_t hvp_bm_status_read(struct file *file, char __user *buf, size_t nbytes, loff_t *ppos)
{
	const char *s = hvp_bm_enabled ? "enabled hvpatch_level=" HVPATCH_LEVEL "\n"
				       : "disabled hvpatch_level=" HVPATCH_LEVEL "\n";

	return simple_read_from_buffer(buf, nbytes, ppos, s, strlen(s));
}

int hvp_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_puts(m, saved_command_line);
	seq_puts(m, " hvpatch_level=" HVPATCH_LEVEL "\n");
	return 0;
}

/* kbuild wants a license; hvpatch drops .modinfo. */
MODULE_LICENSE("GPL");
