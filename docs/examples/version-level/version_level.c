// SPDX-License-Identifier: GPL-2.0
/*
 * Example patch "version-level" (level 2026.11-3): /proc/version gets a
 * second line naming the installed hvpatch level.
 *
 * Replaces the static function version_proc_show() of fs/proc/version.c
 * with a wrapper that first runs the original body (through
 * hvpatch_orig_version_proc_show, i.e. the original entry + 5) and then
 * calls the kernel helper seq_printf() to append a line.
 *
 * Cumulative: also carries levels 2026.11-1 and 2026.11-2.
 */
#include <linux/errno.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/sysctl.h>

#define HVPATCH_LEVEL "2026.11-3"

int hvp_cmdline_proc_show(struct seq_file *m, void *v);
int hvp_proc_do_uts_string(struct ctl_table *table, int write, void *buffer, size_t *lenp,
			   loff_t *ppos);
int hvp_version_proc_show(struct seq_file *m, void *v);
int hvpatch_orig_proc_do_uts_string(struct ctl_table *table, int write, void *buffer, size_t *lenp,
				    loff_t *ppos);
int hvpatch_orig_version_proc_show(struct seq_file *m, void *v);

int hvp_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_puts(m, saved_command_line);
	seq_puts(m, " hvpatch_level=" HVPATCH_LEVEL "\n");
	return 0;
}

static bool uts_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.';
}

int hvp_proc_do_uts_string(struct ctl_table *table, int write, void *buffer, size_t *lenp,
			   loff_t *ppos)
{
	if (write && buffer && lenp) {
		const char *s = buffer;
		size_t n = *lenp, i;

		if (n && s[n - 1] == '\n')
			n--;
		for (i = 0; i < n; i++)
			if (!uts_char_ok(s[i]))
				return -EINVAL;
	}
	return hvpatch_orig_proc_do_uts_string(table, write, buffer, lenp, ppos);
}

int hvp_version_proc_show(struct seq_file *m, void *v)
{
	int ret = hvpatch_orig_version_proc_show(m, v);

	seq_printf(m, "hvpatch level %s (patched live from the host)\n", HVPATCH_LEVEL);
	return ret;
}

MODULE_LICENSE("GPL");
