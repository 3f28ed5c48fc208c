// SPDX-License-Identifier: GPL-2.0
/*
 * A scheduler whose ops.dispatch() traps CPUs in the dispatch loop.
 *
 * Only SCHED_EXT tasks are switched (SCX_OPS_SWITCH_PARTIAL), so that the
 * test itself stays on the fair class and can report a failure however the
 * looping CPUs fare. Tasks go from ops.enqueue() to a shared DSQ. Once user
 * space sets @armed, ops.dispatch() on the CPUs set in @trap_cpus stops
 * consuming it and inserts kthreadd (PID 2, as scx_qmap -l does) into the
 * local DSQ instead. kthreadd is not queued on this scheduler, so the
 * insertion is dropped and the local DSQ stays empty, but the round still
 * counts as progress and the core calls ops.dispatch() again. Only the
 * SCX_DSP_MAX_LOOPS bound gets the CPU out; the tasks pinned to it then
 * starve in the shared DSQ and the watchdog must eject the scheduler.
 */

#include <scx/common.bpf.h>

char _license[] SEC("license") = "GPL";

#define SHARED_DSQ	0

bool armed;
u64 nr_trapped_cpus;
u64 nr_breakouts;

UEI_DEFINE(uei);

/* per CPU: set by user space if it is to loop; 2 once it has */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);	/* the number of possible CPUs, set by user space */
	__type(key, u32);
	__type(value, u8);
} trap_cpus SEC(".maps");

void BPF_STRUCT_OPS(dispatch_loop_enqueue, struct task_struct *p, u64 enq_flags)
{
	scx_bpf_dsq_insert(p, SHARED_DSQ, SCX_SLICE_DFL, enq_flags);
}

void BPF_STRUCT_OPS(dispatch_loop_dispatch, s32 cpu, struct task_struct *prev)
{
	struct task_struct *p;
	u32 key = cpu;
	u8 *trap;

	trap = bpf_map_lookup_elem(&trap_cpus, &key);
	if (!READ_ONCE(armed) || !trap || !*trap) {
		scx_bpf_dsq_move_to_local(SHARED_DSQ, 0);
		return;
	}

	if (*trap == 1) {
		*trap = 2;
		__sync_fetch_and_add(&nr_trapped_cpus, 1);
	}

	/* PID 2 of the initial PID namespace, whatever the test's own */
	p = bpf_task_from_pid(2);
	if (!p) {
		scx_bpf_error("kthreadd (PID 2) not found");
		return;
	}
	/*
	 * kthreadd is not queued on the BPF scheduler, so finish_dispatch()
	 * drops the insertion, but the core still counts it as a task
	 * dispatched in this round, and that is what keeps it calling
	 * ops.dispatch() until the bound.
	 */
	if (!scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, 0, 0))
		scx_bpf_error("the insertion of kthreadd was refused");
	bpf_task_release(p);
}

s32 BPF_STRUCT_OPS_SLEEPABLE(dispatch_loop_init)
{
	return scx_bpf_create_dsq(SHARED_DSQ, -1);
}

void BPF_STRUCT_OPS(dispatch_loop_exit, struct scx_exit_info *ei)
{
	struct scx_event_stats events;

	scx_bpf_events(&events, sizeof(events));
	nr_breakouts = scx_read_event(&events, SCX_EV_DISPATCH_LOOP_BREAKOUT);
	UEI_RECORD(uei, ei);
}

SEC(".struct_ops.link")
struct sched_ext_ops dispatch_loop_ops = {
	.enqueue		= (void *)dispatch_loop_enqueue,
	.dispatch		= (void *)dispatch_loop_dispatch,
	.init			= (void *)dispatch_loop_init,
	.exit			= (void *)dispatch_loop_exit,
	.flags			= SCX_OPS_SWITCH_PARTIAL,
	.name			= "dispatch_loop",
	.timeout_ms		= 1000U,
};
