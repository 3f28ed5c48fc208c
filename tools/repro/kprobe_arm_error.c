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
 * With the bug, disable_kprobe() on the probe that was "registered" fails
 * (-EINVAL): the core does not know it. Writing to "again" then drops the
 * IPMODIFY ftrace_ops and registers another probe like the first: it must
 * register and be hit, which shows that the failed arming left nothing
 * behind in the core.
 *
 * The results are read-only parameters: ret, ftrace (the probe is on
 * ftrace), disable_ret (1: not tried, as ret was an error), hits,
 * control_ret, control_hits, again_ret (1: not tried yet), again_hits.
 * The module always loads, so that user space reads them and reads
 * /proc/cmdline and /sys/kernel/debug/kprobes/list in between.
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
static int disable_ret = 1;
module_param(disable_ret, int, 0444);
MODULE_PARM_DESC(disable_ret, "disable_kprobe() of that probe, if it was registered");
static int control_ret;
module_param(control_ret, int, 0444);
MODULE_PARM_DESC(control_ret, "register_kprobe() of the probe without one");
static int again_ret = 1;
module_param(again_ret, int, 0444);
MODULE_PARM_DESC(again_ret, "register_kprobe() of a probe like the first, once the ftrace_ops is gone");

static atomic_t hits = ATOMIC_INIT(0);
static atomic_t control_hits = ATOMIC_INIT(0);
static atomic_t again_hits = ATOMIC_INIT(0);
static bool ipmodify_on;

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
module_param_cb(again_hits, &hits_ops, &again_hits, 0444);
MODULE_PARM_DESC(again_hits, "calls the probe registered again saw");

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

static int again_pre(struct kprobe *p, struct pt_regs *regs)
{
	atomic_inc(&again_hits);
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

static struct kprobe probe_again = {
	.symbol_name = TARGET,
	.pre_handler = again_pre,
	.post_handler = post,
};

static void ipmodify_off(void)
{
	if (!ipmodify_on)
		return;
	unregister_ftrace_function(&ipmodify_ops);
	ftrace_free_filter(&ipmodify_ops);
	ipmodify_on = false;
}

/* Any write: without the IPMODIFY ops, register a probe like the first. */
static int again_set(const char *val, const struct kernel_param *kp)
{
	if (again_ret != 1)
		return -EALREADY;
	ipmodify_off();
	again_ret = register_kprobe(&probe_again);
	return 0;
}

static const struct kernel_param_ops again_ops = {
	.set = again_set,
};
module_param_cb(again, &again_ops, NULL, 0200);
MODULE_PARM_DESC(again, "write anything: drop the ftrace_ops, register a probe like the first");

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
	ipmodify_on = true;

	/* First, so that it is a new probe, not one added to the control. */
	ret = register_kprobe(&probe);
	ftrace = probe.flags & KPROBE_FLAG_FTRACE;
	if (!ret)
		disable_ret = disable_kprobe(&probe);
	control_ret = register_kprobe(&control);
	pr_info("kprobe_arm_error: register_kprobe() with a post_handler on %s: %d (ftrace %d, disable_kprobe() %d), without: %d\n",
		TARGET, ret, ftrace, disable_ret, control_ret);
	return 0;
}

static void __exit kprobe_arm_error_exit(void)
{
	if (!again_ret)
		unregister_kprobe(&probe_again);
	if (!control_ret)
		unregister_kprobe(&control);
	/* With the bug, there is nothing to unregister, which it tolerates. */
	if (!ret)
		unregister_kprobe(&probe);
	ipmodify_off();
}

module_init(kprobe_arm_error_init);
module_exit(kprobe_arm_error_exit);
MODULE_DESCRIPTION("Reproducer: register_kprobe() returns 0 when arming fails");
MODULE_LICENSE("GPL");
