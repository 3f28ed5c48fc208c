// SPDX-License-Identifier: GPL-2.0

#include <linux/kprobes.h>

#ifdef CONFIG_KRETPROBES
struct kretprobe *rust_helper_get_kretprobe(struct kretprobe_instance *ri)
{
	return get_kretprobe(ri);
}
#endif
