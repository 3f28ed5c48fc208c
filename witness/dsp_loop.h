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

/* the CPU-bound tasks the trap starves, see dsp_loop.c */
#define NR_VICTIMS	2

enum rounds_slot {
	RND_ZERO,	/* no dispatch round */
	RND_BELOW,	/* 1 .. max_loops - 1 rounds */
	RND_AT_MAX,	/* exactly max_loops rounds */
	RND_ABOVE,	/* more than max_loops rounds */
	NR_RND_SLOTS,
};

/*
 * dsp_loop_one_cpu runs its trap in phases, each with its own success
 * schedule: ops.dispatch() fails for a number of calls and then moves a task
 * to the local DSQ. The last phase is the trap itself, whose success would
 * come one call past the bound, which never comes.
 */
enum dsp_phase {
	PH_TRAP,	/* the loop, until the watchdog ejects the scheduler */
	PH_BELOW,	/* success on call max_loops - 1 of each invocation */
	PH_AT,		/* success on call max_loops of each invocation */
	PH_ACROSS,	/* success on call max_loops + 8, counted across a break-out */
	NR_PHASES,
};

/*
 * The schedule in force, one word that user space writes at once and each
 * invocation reads once, at its start: the phase, whether the calls are
 * counted across an invocation that broke out, and how many calls fail
 * before a success (0: none succeeds).
 */
#define SCHED_PHASE(s)		((s) & 0xff)
#define SCHED_ACROSS		(1U << 8)
#define SCHED_AFTER(s)		((s) >> 16)
#define SCHEDULE(phase, after, across)	\
	((phase) | ((after) << 16) | ((across) ? SCHED_ACROSS : 0))

/* what the pick that ended an invocation did, from its return */
enum pick_result {
	PICK_NONE,	/* nothing to run: the CPU goes idle */
	PICK_PREV,	/* keep running the task that was running */
	PICK_LOCAL,	/* the first task of this CPU's local DSQ */
	PICK_OTHER,	/* anything else */
	PICK_OPEN,	/* 7.3: not final, the core picks again at once */
};

struct phase_obs {
	u64 invocations;		/* with at least one round */
	u64 succ;			/* a success round moved a task to the local DSQ */
	u64 succ_local;		/* ... and the pick took the local DSQ's first task */
	u64 succ_kicked;		/* ... and the invocation kicked anyway */
	u64 succ_after_bound;		/* ... the CPU's previous invocation with rounds broke out */
	u64 succ_rounds_min;
	u64 succ_rounds_max;
	u64 at_bound;
	u64 bound_kicked;
	u64 tied;
	u64 untied;
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
	u8 in_tick;			/* in the tick's update_process_times() */
	u8 cur_success;		/* a success round moved a task to the local DSQ */
	u8 cur_last_insert;		/* the last round inserted */
	u8 cur_prev_queued;		/* the running task was queued on SCX at entry */
	u8 last_bound;			/* the previous invocation with rounds broke out */
	u8 pick_open;			/* the last pick was not final (7.3) */
	u32 cur_phase;
	u32 cur_succeed_after;
	u32 sched_calls;		/* the scheduler's failed calls since its last success */
	u32 cur_prev_pid;		/* the running task at entry */
	u32 kept_pid;			/* the trap's running task, see requeue_kept() */
	u64 open_switches;		/* rq->nr_switches when that pick was left open */
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
	u64 ticks;			/* update_process_times() calls */
	u64 iw_in_tick;		/* kick irq_work runs inside it */
	u64 bound_kept;		/* at the bound, a queued running task kept */
	u64 bound_dropped;		/* ... not kept */
	u64 bound_empty_last;		/* at the bound after a round that inserted nothing */
	u64 pick_reopened;		/* invocations right after a pick that was not final */
	u64 kept_requeued;		/* the kept task, back on its CPU after losing it */
	struct phase_obs ph[NR_PHASES];
};

#endif /* __DSP_LOOP_H */
