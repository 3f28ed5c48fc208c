// SPDX-License-Identifier: GPL-2.0
/*
 * Reproducer for __register_kprobe() returning 0 when arming a new kprobe
 * fails (Linux 7.3.4, since "kprobes: Adopt guard() and scoped_guard()").
 *
 * Only a kprobe on ftrace can fail to arm. One with a post_handler needs
 * an IPMODIFY ftrace_ops, and a function can have only one of those, so
 * this module first takes cmdline_proc_show() with an IPMODIFY ftrace_ops
 * of its own, as a livepatch would, and then registers:
 *
 *   probe     a kprobe with a post_handler there: it cannot be armed, so
 *             register_kprobe() must fail (-EBUSY); with the bug it
 *             returns 0 and the probe is neither listed nor ever hit;
 *   control   a kprobe with no post_handler there, which needs no
 *             IPMODIFY: it must register, and be hit when /proc/cmdline
 *             is read, which shows that the function can be probed and
 *             is reached.
 *
 * The results are read-only parameters: ret, ftrace (the probe is on
 * ftrace), hits, control_ret, control_hits. The module always loads, so
 * that user space reads them and then reads /proc/cmdline and
 * /sys/kernel/debug/kprobes/list.
 *
 * Copyright (c) 2026 scx-loopguard developers
 */
#include <linux/atomic.h>
#include <linux/ftrace.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/string.h>

#define TARGET "cmdline_proc_show"

/* ftrace_set_filter() takes a writable buffer */
static unsigned char filter[] = TARGET;

static int ret;
module_param(ret, int, 0444);
MODULE_PARM_DESC(ret, "register_kprobe() of the probe with a post_handler");
static bool ftrace;
module_param(ftrace, bool, 0444);
MODULE_PARM_DESC(ftrace, "that probe is a kprobe on ftrace");
static int control_ret;
module_param(control_ret, int, 0444);
MODULE_PARM_DESC(control_ret, "register_kprobe() of the probe without one");

static atomic_t hits = ATOMIC_INIT(0);
static atomic_t control_hits = ATOMIC_INIT(0);

static int get_hits(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", atomic_read(kp->arg));
}

static const struct kernel_param_ops hits_ops = {
	.get = get_hits,
};
module_param_cb(hits, &hits_ops, &hits, 0444);
MODULE_PARM_DESC(hits, "calls the probe with a post_handler saw");
module_param_cb(control_hits, &hits_ops, &control_hits, 0444);
MODULE_PARM_DESC(control_hits, "calls the probe without one saw");

static void notrace ipmodify_nop(unsigned long ip, unsigned long parent_ip,
				 struct ftrace_ops *op, struct ftrace_regs *fregs)
{
}

static struct ftrace_ops ipmodify_ops = {
	.func = ipmodify_nop,
	.flags = FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_IPMODIFY,
};

static int pre(struct kprobe *p, struct pt_regs *regs)
{
	atomic_inc(&hits);
	return 0;
}

static void post(struct kprobe *p, struct pt_regs *regs, unsigned long flags)
{
}

static int control_pre(struct kprobe *p, struct pt_regs *regs)
{
	atomic_inc(&control_hits);
	return 0;
}

static struct kprobe probe = {
	.symbol_name = TARGET,
	.pre_handler = pre,
	.post_handler = post,
};

static struct kprobe control = {
	.symbol_name = TARGET,
	.pre_handler = control_pre,
};

static int __init kprobe_arm_error_init(void)
{
	int err;

	/* An IPMODIFY ops needs its filter before it is registered. */
	err = ftrace_set_filter(&ipmodify_ops, filter, strlen(TARGET), 0);
	if (err)
		return err;
	err = register_ftrace_function(&ipmodify_ops);
	if (err) {
		ftrace_free_filter(&ipmodify_ops);
		return err;
	}

	/* First, so that it is a new probe, not one added to the control. */
	ret = register_kprobe(&probe);
	ftrace = probe.flags & KPROBE_FLAG_FTRACE;
	control_ret = register_kprobe(&control);
	pr_info("kprobe_arm_error: register_kprobe() with a post_handler on %s: %d (ftrace %d), without: %d\n",
		TARGET, ret, ftrace, control_ret);
	return 0;
}

static void __exit kprobe_arm_error_exit(void)
{
	if (!control_ret)
		unregister_kprobe(&control);
	/* With the bug, there is nothing to unregister, which it tolerates. */
	if (!ret)
		unregister_kprobe(&probe);
	unregister_ftrace_function(&ipmodify_ops);
	ftrace_free_filter(&ipmodify_ops);
}

module_init(kprobe_arm_error_init);
module_exit(kprobe_arm_error_exit);
MODULE_DESCRIPTION("Reproducer: register_kprobe() returns 0 when arming fails");
MODULE_LICENSE("GPL");
