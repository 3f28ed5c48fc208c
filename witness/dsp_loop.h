/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the dsp_loop witness's BPF side and user space share: the per-CPU
 * record of the observers, one entry per possible CPU in a per-CPU array.
 *
 * Copyright (c) 2026 scx-loopguard developers
 */
#ifndef __DSP_LOOP_H
#define __DSP_LOOP_H

#define LAT_SLOTS	64

enum rounds_slot {
	RND_ZERO,	/* no dispatch round */
	RND_BELOW,	/* 1 .. max_loops - 1 rounds */
	RND_AT_MAX,	/* exactly max_loops rounds */
	RND_ABOVE,	/* more than max_loops rounds */
	NR_RND_SLOTS,
};

/* where a CPU is between a break-out and its next invocation */
enum pending_state {
	PEND_NONE,
	PEND_KICKED,	/* an invocation reached the bound, nothing since */
	PEND_RESCHED,	/* the kick's irq_work asked this CPU to reschedule */
	PEND_EXCUSED,	/* the kick's irq_work found a class above SCX running */
};

struct cpu_obs {
	/* per-invocation and per-irq_work state, kept whether watching or not */
	u32 cur_rounds;
	u32 cur_self_kicks;
	u32 cur_bad_kicks;
	u32 cur_tp;
	u32 cur_tp_bad;
	u32 pending;			/* enum pending_state */
	u8 in_window;
	u8 in_irq_work;
	u8 iw_resched_self;
	u8 iw_higher_class;
	u64 bound_at;

	/* counted only while watching */
	u64 invocations;
	u64 rounds;
	u64 max_rounds;
	u64 rounds_hist[NR_RND_SLOTS];
	u64 at_bound;			/* invocations of exactly max_loops rounds */
	u64 bound_kicked;		/* ... that kicked this CPU once, no flags, nothing else */
	u64 stray_kicks;		/* self-kicks in invocations off the bound */
	u64 self_kicks;		/* kicks of this CPU with no flags in invocations */
	u64 kicks_other;		/* kicks of another CPU in invocations */
	u64 kicks_flagged;		/* kicks with flags in invocations */
	u64 ext_kicks;		/* kicks outside invocations */
	u64 tp_breakouts;		/* the tracepoint, in invocations */
	u64 tp_bad;			/* ... with wrong arguments or outside invocations */
	u64 tp_mismatch;		/* invocations where it disagrees with the bound */
	u64 iw_runs;			/* kick irq_work runs with a break-out pending */
	u64 iw_resched;		/* ... that asked this CPU to reschedule */
	u64 tied;			/* next invocations after the irq_work's resched */
	u64 excused;			/* ... after the irq_work found a higher class */
	u64 untied;			/* ... before either */
	u64 first_bound_at;
	u64 lat_sum;			/* break-out to the next invocation, tied only */
	u64 lat_max;
	u64 lat_hist[LAT_SLOTS];	/* slot n: [2^(n-1), 2^n - 1] ns, slot 0: 0 ns */
	u64 iw_lat_max;		/* break-out to the irq_work's resched */
	u64 iw_lat_hist[LAT_SLOTS];
	u64 sched_dispatch_calls;	/* the scheduler's own ops.dispatch() calls */
	u64 sched_loop_dispatches;	/* ... of which inserted PID 1 */
};

#endif /* __DSP_LOOP_H */
