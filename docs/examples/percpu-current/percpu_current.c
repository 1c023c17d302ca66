// SPDX-License-Identifier: GPL-2.0
/*
 * Example patch "percpu-current": a replacement that reads `current`, the
 * credentials and per-cpu data, the way most real security fixes do.
 *
 * Replaces version_proc_show() of fs/proc/version.c with a copy of what the
 * kernel's own function does (the banner from utsname(), i.e.
 * current->nsproxy->uts_ns) and then one line of what it read through the
 * kernel's per-cpu accessors:
 *
 *   current (mov %gs:current_task)           -> comm, pid, uid, euid
 *   raw_smp_processor_id() (%gs:cpu_number)  -> cpu
 *   this_cpu_read(kstat.softirqs[TIMER])     -> %gs:kstat+addend
 *   this_cpu_ptr(&kstat)->irqs_sum           -> mov $kstat + add %gs:this_cpu_off
 *
 * Each of these is an R_X86_64_32S relocation against a per-cpu symbol,
 * which hvpatch resolves to the symbol's per-cpu offset.
 */
#include <linux/cred.h>
#include <linux/interrupt.h>
#include <linux/kernel_stat.h>
#include <linux/module.h>
#include <linux/printk.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/smp.h>
#include <linux/utsname.h>

int hvp_version_proc_show(struct seq_file *m, void *v);

int hvp_version_proc_show(struct seq_file *m, void *v)
{
	struct new_utsname *uts = utsname();
	const struct cred *cred = current_cred();
	unsigned int timer_softirqs;
	unsigned long irqs_sum;
	int cpu;

	/* What the kernel's version_proc_show() prints. */
	seq_printf(m, linux_proc_banner, uts->sysname, uts->release, uts->version);
	/*
	 * Raw reads: get_cpu()/put_cpu() would bring a static call
	 * (preempt_schedule under PREEMPT_DYNAMIC), which a patch cannot
	 * carry.  A task that moves between the reads gets values from two
	 * CPUs; the probe pins itself to one.
	 */
	cpu = raw_smp_processor_id();
	timer_softirqs = this_cpu_read(kstat.softirqs[TIMER_SOFTIRQ]);
	irqs_sum = kstat_this_cpu->irqs_sum;
	seq_printf(m,
		   "hvpatch-percpu release=%s comm=%s pid=%d uid=%u euid=%u cpu=%d "
		   "timer_softirqs=%u irqs_sum=%lu\n",
		   uts->release, current->comm, task_pid_nr(current), __kuid_val(cred->uid),
		   __kuid_val(cred->euid), cpu, timer_softirqs, irqs_sum);
	return 0;
}

MODULE_LICENSE("GPL");
