// SPDX-License-Identifier: GPL-2.0
/*
 * Test patch "pipe-wait" for the stack check (t-stack-check.sh): the
 * replacement of pipe_read() calls the original body, so a task that blocks
 * reading an empty pipe while a level is installed sleeps inside pipe_read
 * called from this replacement: both addresses are on its kernel stack.
 * /proc/cmdline shows the level, so the guest can tell it is patched.
 * The level comes from pipe_wait_level.h, which the test writes next to a
 * copy of this file for each level (manifest.N).
 */
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/uio.h>

#include "pipe_wait_level.h"

int hvp_cmdline_proc_show(struct seq_file *m, void *v);
ssize_t hvp_pipe_read(struct kiocb *iocb, struct iov_iter *to);
/* The original body of pipe_read (resolved by hvpatch). */
ssize_t hvpatch_orig_pipe_read(struct kiocb *iocb, struct iov_iter *to);

int hvp_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_puts(m, saved_command_line);
	seq_puts(m, " hvpatch_level=" PIPE_WAIT_LEVEL "\n");
	return 0;
}

ssize_t hvp_pipe_read(struct kiocb *iocb, struct iov_iter *to)
{
	return hvpatch_orig_pipe_read(iocb, to);
}

MODULE_LICENSE("GPL");
