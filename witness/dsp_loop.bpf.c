// SPDX-License-Identifier: GPL-2.0
/*
 * A scheduler that can trap the kernel in its ops.dispatch() retry loop, and
 * observers that watch how the kernel gets out of it. The loop is in
 * balance_one() under balance_scx() on 6.12, and in scx_dispatch_sched()
 * under do_pick_task_scx() on 7.3.
 *
 * Every task goes from ops.enqueue() straight into one shared DSQ, which
 * ops.dispatch() consumes, so no task is ever left in BPF custody
 * (SCX_OPSS_QUEUED). ops.select_cpu() picks a CPU but never dispatches, so
 * that nothing bypasses the shared DSQ. Once user space sets @armed,
 * ops.dispatch() on @loop_cpu (or on every CPU if it is -1) stops consuming
 * and inserts PID 1 into the local DSQ instead. PID 1 is not QUEUED, so
 * finish_dispatch() silently drops it and the local DSQ stays empty, yet the
 * loop sees an inserted task and counts the round as progress. This loops
 * whatever the load is.
 *
 * Without a bound on that loop the CPU spins in it forever with IRQs
 * disabled and the machine locks up. With the bound, the loop gives up after
 * SCX_DSP_MAX_LOOPS rounds, kicks its own CPU with no flags to come back
 * later, and the watchdog ejects the scheduler for the tasks it starves in
 * the shared DSQ.
 *
 * The fentry/fexit programs at the end take no part in scheduling. They watch
 * the kernel, not the scheduler, and user space loads those that fit it, as
 * read from vmlinux BTF. balance_scx() (6.12) or do_pick_task_scx() (7.3)
 * delimits an invocation on a CPU, scx_bpf_dispatch() (6.12) or
 * scx_bpf_dsq_insert___v2() (7.3) calls inside it count the dispatch rounds,
 * and a kick of this CPU with no flags inside it is the break-out's
 * self-kick. The core kicks through scx_kick_cpu(cpu, flags) on 6.12 with
 * this series, through scx_kick_cpu(sch, cpu, flags) on 7.3, and through the
 * scx_bpf_kick_cpu() kfunc on plain 6.12. The next invocation on the same
 * CPU after a break-out is the reschedule the kick asked for, and its latency
 * is recorded. The kernel's own count of break-outs is a second witness: the
 * sched_ext_dispatch_loop_breakout tracepoint on 6.12, and the
 * SCX_EV_DISPATCH_LOOP_BREAKOUT event counter on 7.3, read in ops.exit().
 *
 * Copyright (c) 2026 scx-loopguard developers
 */

#include <scx/common.bpf.h>

char _license[] SEC("license") = "GPL";

#define SHARED_DSQ	0

/*
 * 7.3's headers define scx_bpf_dsq_move_to_local() as a macro, 6.12's have
 * the older scx_bpf_dispatch() and scx_bpf_consume() instead.
 */
#ifdef scx_bpf_dsq_move_to_local
#define HAVE_DSQ_INSERT
#define dsq_insert(p, dsq_id, slice, enq_flags)	\
	scx_bpf_dsq_insert(p, dsq_id, slice, enq_flags)
#define dsq_move_to_local(dsq_id)		scx_bpf_dsq_move_to_local(dsq_id, 0)
#else
#define dsq_insert(p, dsq_id, slice, enq_flags)	\
	scx_bpf_dispatch(p, dsq_id, slice, enq_flags)
#define dsq_move_to_local(dsq_id)		scx_bpf_consume(dsq_id)
#endif

/*
 * The per-CPU arrays below are indexed by CPU number. The sizes and the
 * rounds histogram slots are mirrored in dsp_loop.c, which checks them
 * against the skeleton at build time.
 */
#define MAX_CPUS	128
#define LAT_SLOTS	64

enum rounds_slot {
	RND_ZERO,	/* no dispatch round */
	RND_BELOW,	/* 1 .. max_loops - 1 rounds */
	RND_AT_MAX,	/* exactly max_loops rounds */
	RND_ABOVE,	/* more than max_loops rounds */
	NR_RND_SLOTS,
};

/*
 * Set by user space before load. Plain globals rather than const rodata: the
 * verifier cannot fold them, which costs nothing here.
 */
s32 loop_cpu = -1;
u32 max_loops;
bool has_tp;		/* obs_breakout_tp is loaded */

/* set by user space at run time */
bool armed;
bool watching;

/* bpf_ktime_get_ns() of ops.exit(), CLOCK_MONOTONIC */
u64 exit_at;

/* SCX_EV_DISPATCH_LOOP_BREAKOUT as ops.exit() read it, 0 where it is missing */
u64 exit_ev_breakouts;
bool exit_ev_read;	/* ops.exit() read the event counters */

/* the scheduler's own count of ops.dispatch() calls */
u64 sched_dispatch_calls[MAX_CPUS];
u64 sched_loop_dispatches[MAX_CPUS];

UEI_DEFINE(uei);

s32 BPF_STRUCT_OPS(dsp_loop_select_cpu, struct task_struct *p, s32 prev_cpu,
		   u64 wake_flags)
{
	bool is_idle;

	/* don't dispatch, every task must go through ops.enqueue() */
	return scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
}

void BPF_STRUCT_OPS(dsp_loop_enqueue, struct task_struct *p, u64 enq_flags)
{
	dsq_insert(p, SHARED_DSQ, SCX_SLICE_DFL, enq_flags);
}

static bool should_loop(s32 cpu)
{
	return READ_ONCE(armed) && (loop_cpu < 0 || cpu == loop_cpu);
}

void BPF_STRUCT_OPS(dsp_loop_dispatch, s32 cpu, struct task_struct *prev)
{
	struct task_struct *p;
	u32 idx = cpu;

	if (idx < MAX_CPUS)
		sched_dispatch_calls[idx]++;

	if (!should_loop(cpu)) {
		dsq_move_to_local(SHARED_DSQ);
		return;
	}

	p = bpf_task_from_pid(1);
	if (!p) {
		scx_bpf_error("PID 1 not found");
		return;
	}

	if (idx < MAX_CPUS)
		sched_loop_dispatches[idx]++;

	/*
	 * PID 1 is never QUEUED on this scheduler: finish_dispatch() drops it
	 * but this round still counts as progress for the loop (dspc->nr_tasks).
	 * A zero slice leaves the task's slice alone as it isn't ours to refill.
	 */
	dsq_insert(p, SCX_DSQ_LOCAL, 0, 0);
	bpf_task_release(p);
}

s32 BPF_STRUCT_OPS_SLEEPABLE(dsp_loop_init)
{
	return scx_bpf_create_dsq(SHARED_DSQ, -1);
}

#ifdef HAVE_DSQ_INSERT
/*
 * The break-out counter the scx-loopguard series adds to 7.3, through a CO-RE
 * flavor of struct scx_event_stats, so that this builds against a vmlinux.h
 * without it too. scx_read_event() reads 0 where the running kernel lacks it.
 */
struct scx_event_stats___dsp_loop {
	s64 SCX_EV_DISPATCH_LOOP_BREAKOUT;
} __attribute__((preserve_access_index));

/* room for a struct scx_event_stats larger than this vmlinux.h's */
static u64 exit_events[64];
#endif

/*
 * On 7.3, scx_bpf_events() is in scx_kfunc_ids_any, callable from every op,
 * and still finds the scheduler in ops.exit(): it is marked dead only after.
 * Before ops.exit(), the disable path bypasses, clears the ops and waits out
 * (synchronize_rcu()) every do_pick_task_scx() in flight, so no break-out can
 * follow this read.
 */
static void read_exit_events(void)
{
#ifdef HAVE_DSQ_INSERT
	struct scx_event_stats___dsp_loop *ev = (void *)exit_events;

	if (!bpf_ksym_exists(scx_bpf_events))
		return;
	scx_bpf_events((void *)exit_events, sizeof(exit_events));
	exit_ev_breakouts = scx_read_event(ev, SCX_EV_DISPATCH_LOOP_BREAKOUT);
	exit_ev_read = true;
#endif
}

void BPF_STRUCT_OPS(dsp_loop_exit, struct scx_exit_info *ei)
{
	exit_at = bpf_ktime_get_ns();
	read_exit_events();
	/* UEI_RECORD() writes uei.kind last, with a full barrier */
	UEI_RECORD(uei, ei);
}

SEC(".struct_ops.link")
struct sched_ext_ops dsp_loop_ops = {
	.select_cpu		= (void *)dsp_loop_select_cpu,
	.enqueue		= (void *)dsp_loop_enqueue,
	.dispatch		= (void *)dsp_loop_dispatch,
	.init			= (void *)dsp_loop_init,
	.exit			= (void *)dsp_loop_exit,
	.name			= "dsp_loop",
	.timeout_ms		= 1000U,
};

/*
 * Observers. An invocation, balance_scx() or do_pick_task_scx(), runs with
 * the rq lock held and IRQs disabled and never nests, so the per-CPU state of
 * its window is only ever touched by its own CPU and needs no atomics. The
 * counters are only updated while @watching is set. The per-invocation state
 * is tracked regardless so that an invocation in flight when @watching gets
 * set is still counted whole.
 */
static bool obs_in_window[MAX_CPUS];
static u32 obs_cur_rounds[MAX_CPUS];
static u32 obs_cur_self_kicks[MAX_CPUS];
static u32 obs_cur_tp[MAX_CPUS];
static u32 obs_cur_tp_bad[MAX_CPUS];
static bool obs_resched_pending[MAX_CPUS];
static u64 obs_breakout_at[MAX_CPUS];

u64 obs_invocations[MAX_CPUS];
u64 obs_rounds[MAX_CPUS];
u64 obs_max_rounds[MAX_CPUS];
u64 obs_rounds_hist[MAX_CPUS][NR_RND_SLOTS];
u64 obs_breakouts[MAX_CPUS];
u64 obs_bad_breakouts[MAX_CPUS];
u64 obs_first_breakout_at[MAX_CPUS];
u64 obs_self_kicks[MAX_CPUS];
u64 obs_bal_kicks_other[MAX_CPUS];
u64 obs_bal_kicks_flagged[MAX_CPUS];
u64 obs_ext_kicks[MAX_CPUS];
u64 obs_tp_breakouts[MAX_CPUS];
u64 obs_tp_bad[MAX_CPUS];
u64 obs_tp_mismatch[MAX_CPUS];
u64 obs_resched[MAX_CPUS];
u64 obs_lat_sum[MAX_CPUS];
u64 obs_lat_max[MAX_CPUS];
/* slot n counts latencies in [2^(n-1), 2^n - 1] ns, slot 0 counts 0 ns */
u64 obs_lat_hist[MAX_CPUS][LAT_SLOTS];

static u32 rounds_slot(u32 rounds)
{
	if (!rounds)
		return RND_ZERO;
	if (rounds < max_loops)
		return RND_BELOW;
	if (rounds == max_loops)
		return RND_AT_MAX;
	return RND_ABOVE;
}

/* fls64(): 0 for 0, otherwise the 1-based index of the highest set bit */
static u32 lat_slot(u64 v)
{
	u32 r = 0;

	if (v >> 32) {
		v >>= 32;
		r += 32;
	}
	if (v >> 16) {
		v >>= 16;
		r += 16;
	}
	if (v >> 8) {
		v >>= 8;
		r += 8;
	}
	if (v >> 4) {
		v >>= 4;
		r += 4;
	}
	if (v >> 2) {
		v >>= 2;
		r += 2;
	}
	if (v >> 1) {
		v >>= 1;
		r += 1;
	}
	r += v;

	return r < LAT_SLOTS ? r : LAT_SLOTS - 1;
}

static __always_inline int window_enter(void)
{
	u32 cpu = bpf_get_smp_processor_id();
	u64 lat;

	if (cpu >= MAX_CPUS)
		return 0;

	if (obs_resched_pending[cpu]) {
		obs_resched_pending[cpu] = false;
		if (READ_ONCE(watching)) {
			lat = bpf_ktime_get_ns() - obs_breakout_at[cpu];
			obs_resched[cpu]++;
			obs_lat_sum[cpu] += lat;
			if (lat > obs_lat_max[cpu])
				obs_lat_max[cpu] = lat;
			obs_lat_hist[cpu][lat_slot(lat)]++;
		}
	}

	obs_cur_rounds[cpu] = 0;
	obs_cur_self_kicks[cpu] = 0;
	obs_cur_tp[cpu] = 0;
	obs_cur_tp_bad[cpu] = 0;
	obs_in_window[cpu] = true;
	return 0;
}

static __always_inline int window_exit(void)
{
	u32 cpu = bpf_get_smp_processor_id();
	u32 rounds, self_kicks, tp, tp_bad;
	u64 now;

	if (cpu >= MAX_CPUS)
		return 0;

	obs_in_window[cpu] = false;
	rounds = obs_cur_rounds[cpu];
	self_kicks = obs_cur_self_kicks[cpu];
	tp = obs_cur_tp[cpu];
	tp_bad = obs_cur_tp_bad[cpu];

	if (!READ_ONCE(watching))
		return 0;

	obs_tp_breakouts[cpu] += tp;
	obs_tp_bad[cpu] += tp_bad;
	if (has_tp && tp != self_kicks)
		obs_tp_mismatch[cpu]++;

	obs_invocations[cpu]++;
	obs_rounds[cpu] += rounds;
	if (rounds > obs_max_rounds[cpu])
		obs_max_rounds[cpu] = rounds;
	obs_rounds_hist[cpu][rounds_slot(rounds)]++;
	obs_self_kicks[cpu] += self_kicks;

	if (!self_kicks)
		return 0;

	/* the invocation ended with a self-kick: a break-out */
	now = bpf_ktime_get_ns();
	obs_breakouts[cpu]++;
	if (rounds != max_loops)
		obs_bad_breakouts[cpu]++;
	if (!obs_first_breakout_at[cpu])
		obs_first_breakout_at[cpu] = now;
	obs_breakout_at[cpu] = now;
	obs_resched_pending[cpu] = true;
	return 0;
}

/* 6.12: balance_scx() runs balance_one() and its loop. */
SEC("fentry/balance_scx")
int BPF_PROG(obs_balance_enter)
{
	return window_enter();
}

SEC("fexit/balance_scx")
int BPF_PROG(obs_balance_exit)
{
	return window_exit();
}

/* 7.3: do_pick_task_scx() runs scx_dispatch_sched() and its loop, inlined. */
SEC("fentry/do_pick_task_scx")
int BPF_PROG(obs_pick_enter)
{
	return window_enter();
}

SEC("fexit/do_pick_task_scx")
int BPF_PROG(obs_pick_exit)
{
	return window_exit();
}

/*
 * One insert per round: this assumes, like the scheduler above, that
 * ops.dispatch() inserts at most one task per call.
 */
static int observe_round(void)
{
	u32 cpu = bpf_get_smp_processor_id();

	if (cpu < MAX_CPUS && obs_in_window[cpu])
		obs_cur_rounds[cpu]++;
	return 0;
}

/* 6.12's kfunc */
SEC("fentry/scx_bpf_dispatch")
int BPF_PROG(obs_dispatch)
{
	return observe_round();
}

/* 7.3's kfunc, which the scx_bpf_dsq_insert() of compat.bpf.h calls */
SEC("fentry/scx_bpf_dsq_insert___v2")
int BPF_PROG(obs_dsq_insert)
{
	return observe_round();
}

/*
 * 6.12's core also kicks with SCX_KICK_IDLE from pick_task_scx(), outside
 * balance_scx(). Only a kick of this very CPU with no flags from inside an
 * invocation is a break-out's self-kick.
 */
static int observe_kick(s32 cpu, u64 flags)
{
	u32 this_cpu = bpf_get_smp_processor_id();

	if (this_cpu >= MAX_CPUS)
		return 0;

	if (!obs_in_window[this_cpu]) {
		/* may nest with IRQs, be atomic */
		if (READ_ONCE(watching))
			__sync_fetch_and_add(&obs_ext_kicks[this_cpu], 1);
		return 0;
	}

	if (cpu == (s32)this_cpu && !flags) {
		obs_cur_self_kicks[this_cpu]++;
		return 0;
	}

	if (!READ_ONCE(watching))
		return 0;
	if (flags)
		obs_bal_kicks_flagged[this_cpu]++;
	else
		obs_bal_kicks_other[this_cpu]++;
	return 0;
}

/*
 * User space loads exactly one of the three below, after the parameters of
 * scx_kick_cpu() in vmlinux BTF.
 */

/* Plain 6.12: the kfunc is the core's way to kick CPUs. */
SEC("fentry/scx_bpf_kick_cpu")
int BPF_PROG(obs_kick_cpu, s32 cpu, u64 flags)
{
	return observe_kick(cpu, flags);
}

/* 6.12 with this series: the core's own helper. */
SEC("fentry/scx_kick_cpu")
int BPF_PROG(obs_core_kick_cpu, s32 cpu, u64 flags)
{
	return observe_kick(cpu, flags);
}

/* 7.3: the core's helper, which takes the scheduler first. */
SEC("fentry/scx_kick_cpu")
int BPF_PROG(obs_sch_kick_cpu, void *sch, s32 cpu, u64 flags)
{
	return observe_kick(cpu, flags);
}

/* Loaded only where the kernel has the tracepoint (6.12 with this series). */
SEC("tp_btf/sched_ext_dispatch_loop_breakout")
int BPF_PROG(obs_breakout_tp, int cpu, int nr_loops)
{
	u32 this_cpu = bpf_get_smp_processor_id();

	if (this_cpu >= MAX_CPUS)
		return 0;

	if (!obs_in_window[this_cpu]) {
		if (READ_ONCE(watching))
			__sync_fetch_and_add(&obs_tp_bad[this_cpu], 1);
		return 0;
	}

	obs_cur_tp[this_cpu]++;
	if (cpu != (s32)this_cpu || nr_loops != (s32)max_loops)
		obs_cur_tp_bad[this_cpu]++;
	return 0;
}
