// SPDX-License-Identifier: GPL-2.0
/*
 * Example patch "hostname-check" (level 2026.11-2): a "security fix" that
 * adds a missing input check.  Writing /proc/sys/kernel/hostname (or
 * domainname) accepted any bytes, including '/', spaces and control
 * characters, which later confuse scripts that build paths or commands from
 * the hostname.  After the fix only RFC 1123 characters (letters, digits,
 * '-' and '.') are accepted; anything else fails with EINVAL and the name
 * is unchanged.
 *
 * Replaces the static sysctl handler proc_do_uts_string() of
 * kernel/utsname_sysctl.c.  The replacement checks the new value (sysctl
 * handlers get it in a kernel buffer, so no user-memory access is needed)
 * and then runs the original function body through hvpatch_orig_<name>,
 * which hvpatch resolves to the original function's entry + 5 (just past
 * its ftrace site, where the redirect jump lives).
 *
 * Patch levels are cumulative: this level also carries level 2026.11-1's
 * cmdline_proc_show change, with the new level in it.
 */
#include <linux/errno.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/sysctl.h>

#define HVPATCH_LEVEL "2026.11-2"

int hvp_cmdline_proc_show(struct seq_file *m, void *v);
int hvp_proc_do_uts_string(struct ctl_table *table, int write, void *buffer, size_t *lenp,
			   loff_t *ppos);
/* The original body of proc_do_uts_string (resolved by hvpatch). */
int hvpatch_orig_proc_do_uts_string(struct ctl_table *table, int write, void *buffer, size_t *lenp,
				    loff_t *ppos);

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

MODULE_LICENSE("GPL");
