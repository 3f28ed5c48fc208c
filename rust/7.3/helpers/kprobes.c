// SPDX-License-Identifier: GPL-2.0

#include <linux/kprobes.h>
#include <linux/ptrace.h>

/*
 * These run inside kprobe handlers. Where they are not inlined into the
 * Rust code that calls them, keep them off the probe points, as the C
 * functions they wrap are inline (get_kretprobe() is nokprobe_inline).
 */

#ifdef CONFIG_HAVE_FUNCTION_ARG_ACCESS_API
__rust_helper unsigned long rust_helper_regs_get_kernel_argument(struct pt_regs *regs,
								 unsigned int n)
{
	return regs_get_kernel_argument(regs, n);
}
NOKPROBE_SYMBOL(rust_helper_regs_get_kernel_argument);
#endif

#ifdef CONFIG_KRETPROBES
__rust_helper struct kretprobe *rust_helper_get_kretprobe(struct kretprobe_instance *ri)
{
	return get_kretprobe(ri);
}
NOKPROBE_SYMBOL(rust_helper_get_kretprobe);

__rust_helper unsigned long rust_helper_regs_return_value(struct pt_regs *regs)
{
	return regs_return_value(regs);
}
NOKPROBE_SYMBOL(rust_helper_regs_return_value);
#endif
