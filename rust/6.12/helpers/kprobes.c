// SPDX-License-Identifier: GPL-2.0

#include <linux/kprobes.h>
#include <linux/ptrace.h>

#ifdef CONFIG_HAVE_FUNCTION_ARG_ACCESS_API
unsigned long rust_helper_regs_get_kernel_argument(struct pt_regs *regs, unsigned int n)
{
	return regs_get_kernel_argument(regs, n);
}
#endif

#ifdef CONFIG_KRETPROBES
struct kretprobe *rust_helper_get_kretprobe(struct kretprobe_instance *ri)
{
	return get_kretprobe(ri);
}

unsigned long rust_helper_regs_return_value(struct pt_regs *regs)
{
	return regs_return_value(regs);
}
#endif
