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
 * To test the bound's edge, user space can also give ops.dispatch() a
 * success @schedule: it fails a number of calls, counted per invocation or
 * on from an invocation that broke out, and on the next call moves a
 * task from the shared DSQ to the local one, a round that makes progress.
 * dsp_loop_one_cpu runs its trap in phases of different schedules, see
 * enum dsp_phase.
 *
 * Without a bound on that loop the CPU spins in it forever with IRQs
 * disabled and the machine locks up. With the bound, the loop gives up after
 * SCX_DSP_MAX_LOOPS rounds, kicks its own CPU with no flags to come back
 * later, and the watchdog ejects the scheduler for the tasks it starves in
 * the shared DSQ.
 *
 * The fentry/fexit programs at the end take no part in scheduling: they watch
 * the kernel, and user space loads those that fit it, as read from vmlinux
 * BTF. See "Observers" below for what they watch and what each invocation
 * must show. The kernel's own count of break-outs is a second account: the
 * sched_ext_dispatch_loop_breakout tracepoint on 6.12 with this series, and
 * the SCX_EV_DISPATCH_LOOP_BREAKOUT event counter on 7.3, read in ops.exit().
 *
 * Copyright (c) 2026 scx-loopguard developers
 */

#include <scx/common.bpf.h>
#include "dsp_loop.h"

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
 * Set by user space before load. Plain globals rather than const rodata: the
 * verifier cannot fold them, which costs nothing here.
 */
s32 loop_cpu = -1;
u32 max_loops;
bool has_tp;		/* obs_breakout_tp is loaded */
u32 rq_bal_keep;	/* 6.12's SCX_RQ_BAL_KEEP, from vmlinux BTF */

/* set by user space at run time */
bool armed;
bool watching;
u32 schedule;		/* SCHEDULE(), see dsp_loop.h */
/*
 * The victims' PIDs, set before the scheduler is attached. With
 * @arm_at_victim set, ops.running() sets @armed as a victim starts to run:
 * the trap then always begins with a victim on its CPU, which the first
 * break-out there keeps running (see requeue_kept()). Armed at any other
 * moment, both victims can be in the shared DSQ, where no CPU consumes
 * them any more, and no break-out would ever have a task to keep.
 */
u32 victim_pids[NR_VICTIMS];
bool arm_at_victim;
u64 armed_ns;		/* bpf_ktime_get_ns() when ops.running() armed */

/*
 * bpf_ktime_get_ns() (CLOCK_MONOTONIC) and bpf_jiffies64() of the first
 * looping ops.dispatch() and of ops.exit(): the tick period, as this kernel
 * runs it, is what the kick's latency is compared with.
 */
u64 armed_at;
u64 armed_jiffies;
u64 exit_at;
u64 exit_jiffies;

/* SCX_EV_DISPATCH_LOOP_BREAKOUT as ops.exit() read it, 0 where it is missing */
u64 exit_ev_breakouts;
bool exit_ev_read;	/* ops.exit() read the event counters */

/* the observers' record, one entry per possible CPU, see dsp_loop.h */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct cpu_obs);
} cpu_obs SEC(".maps");

/* this CPU's entry; never NULL for key 0, but the verifier wants the check */
static __always_inline struct cpu_obs *this_obs(void)
{
	u32 zero = 0;

	return bpf_map_lookup_elem(&cpu_obs, &zero);
}

UEI_DEFINE(uei);

s32 BPF_STRUCT_OPS(dsp_loop_select_cpu, struct task_struct *p, s32 prev_cpu,
		   u64 wake_flags)
{
	bool is_idle;

	/* don't dispatch, every task must go through ops.enqueue() */
	return scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
}

static bool should_loop(s32 cpu)
{
	return READ_ONCE(armed) && (loop_cpu < 0 || cpu == loop_cpu);
}

/*
 * The trap's running task. At a break-out the kernel keeps running the
 * queued task it found, and ends its slice at the next tick. If a task of a
 * higher class (a fair one in partial mode, or an RT one) wakes on that CPU
 * then, the core picks it over the kept task, whose slice is spent, and puts
 * the kept task back here, not woken. In the shared DSQ it would never run
 * again, and no later break-out on that CPU would have a task to keep. So
 * the task the kernel kept on a looping CPU goes straight back to that
 * CPU's local DSQ, and so does the first task put back there during the
 * trap before any was kept. One task per CPU: the other victim still
 * starves.
 */
static bool requeue_kept(struct task_struct *p, u64 enq_flags)
{
	struct cpu_obs *o;
	u32 zero = 0;
	s32 cpu;

	if ((enq_flags & SCX_ENQ_WAKEUP) || !READ_ONCE(armed) ||
	    SCHED_PHASE(READ_ONCE(schedule)) != PH_TRAP)
		return false;
	cpu = scx_bpf_task_cpu(p);
	if (!should_loop(cpu))
		return false;
	o = bpf_map_lookup_percpu_elem(&cpu_obs, &zero, cpu);
	if (!o || (o->kept_pid && o->kept_pid != p->pid))
		return false;
	o->kept_pid = p->pid;
	if (READ_ONCE(watching))
		o->kept_requeued++;
	return true;
}

static bool is_victim(const struct task_struct *p)
{
	int i;

	for (i = 0; i < NR_VICTIMS; i++)
		if (p->pid && p->pid == victim_pids[i])
			return true;
	return false;
}

void BPF_STRUCT_OPS(dsp_loop_running, struct task_struct *p)
{
	if (READ_ONCE(arm_at_victim) && !READ_ONCE(armed) && is_victim(p)) {
		armed_ns = bpf_ktime_get_ns();
		WRITE_ONCE(armed, true);
	}
}

void BPF_STRUCT_OPS(dsp_loop_enqueue, struct task_struct *p, u64 enq_flags)
{
	if (requeue_kept(p, enq_flags)) {
		dsq_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, enq_flags);
		return;
	}
	dsq_insert(p, SHARED_DSQ, SCX_SLICE_DFL, enq_flags);
}

/*
 * The success round of a schedule: move a task from the shared DSQ, where
 * the other victim waits, to the local DSQ. The kernel must stop looping
 * right after it. It is a round without an insert, so it is counted here.
 */
static void dispatch_success(struct cpu_obs *o)
{
	o->sched_calls = 0;
	if (o->in_window) {
		o->cur_rounds++;
		o->cur_last_insert = false;
	}
	if (dsq_move_to_local(SHARED_DSQ) && o->in_window)
		o->cur_success = true;
}

void BPF_STRUCT_OPS(dsp_loop_dispatch, s32 cpu, struct task_struct *prev)
{
	struct cpu_obs *o = this_obs();
	struct task_struct *p;

	if (o && READ_ONCE(watching))
		o->sched_dispatch_calls++;

	if (!should_loop(cpu)) {
		dsq_move_to_local(SHARED_DSQ);
		return;
	}

	/*
	 * The schedule in force when this invocation began, see
	 * window_enter(). Only inside an observed invocation: a loop the
	 * observers do not see stays a plain trap.
	 */
	if (o && o->in_window && o->cur_succeed_after &&
	    ++o->sched_calls > o->cur_succeed_after) {
		dispatch_success(o);
		return;
	}

	p = bpf_task_from_pid(1);
	if (!p) {
		scx_bpf_error("PID 1 not found");
		return;
	}

	if (o && READ_ONCE(watching))
		o->sched_loop_dispatches++;
	if (!armed_at) {
		armed_jiffies = bpf_jiffies64();
		armed_at = bpf_ktime_get_ns();
	}

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
	exit_jiffies = bpf_jiffies64();
	read_exit_events();
	/* UEI_RECORD() writes uei.kind last, with a full barrier */
	UEI_RECORD(uei, ei);
}

SEC(".struct_ops.link")
struct sched_ext_ops dsp_loop_ops = {
	.select_cpu		= (void *)dsp_loop_select_cpu,
	.enqueue		= (void *)dsp_loop_enqueue,
	.dispatch		= (void *)dsp_loop_dispatch,
	.running		= (void *)dsp_loop_running,
	.init			= (void *)dsp_loop_init,
	.exit			= (void *)dsp_loop_exit,
	.name			= "dsp_loop",
	.timeout_ms		= 1000U,
};

/*
 * Observers. They watch the kernel from points that do not depend on how it
 * counts its own rounds:
 *
 *   invocation  balance_scx() (6.12) or do_pick_task_scx() (7.3), which runs
 *               the dispatch loop with the rq lock held and IRQs disabled,
 *               and never nests
 *   round       the insert kfunc each looping ops.dispatch() calls once
 *   kick        the core's kick helper, with its target CPU and flags
 *   deferred    kick_cpus_irq_workfn(), the kick's irq_work, and the
 *               resched_curr() calls it makes
 *   tick        update_process_times(), whose irq_work_tick() runs lazy
 *               irq_work
 *
 * An invocation of exactly @max_loops rounds reached the bound, whether or
 * not it kicked. It must have kicked its own CPU once, with no flags, and
 * nothing else; an invocation off the bound must not have kicked at all.
 * Then the kick must take effect, in order: the irq_work runs on that CPU and
 * asks it to reschedule (or finds a class above SCX running there, which 7.3
 * rightly leaves alone), and only then does the next invocation come on that
 * CPU. A next invocation that comes first is "untied": the CPU came back for
 * another reason (a tick, a wake-up), not because of the kick. The kick's
 * irq_work is a hard one (7.3), or a plain one that behaves the same without
 * PREEMPT_RT (6.12): it runs from the raised list as soon as IRQs are back
 * on, and never from the tick's irq_work_tick(), where a lazy one would
 * wait for the next tick. That is an order, checked as such, not a time.
 *
 * An invocation whose success round moved a task to the local DSQ made
 * progress, however many rounds it took: it must not kick, and its pick must
 * take the local DSQ's first task. An invocation that reached the bound with
 * a queued task running must keep running it, as the kernel does when it
 * finds nothing else.
 *
 * 7.3 can call do_pick_task_scx() twice in one pick: after a RETRY_TASK
 * return, and after a NULL pick for the ext dl_server, the core goes on
 * picking with IRQs still disabled. Such a second invocation, with no
 * context switch since the first, is no sign of how the kick worked, so a
 * break-out still pending then is left for the next invocation to judge.
 * 6.12 balances once per pick.
 *
 * Core scheduling would break the per-CPU accounting (6.12 balances the SMT
 * siblings from one CPU, 7.3 dispatches for them), but it is only enabled
 * once a task gets a cookie, which nothing here gives, so a CONFIG_SCHED_CORE
 * kernel runs the paths watched here as any other does.
 *
 * Each CPU only touches its own entry, from paths that run with IRQs
 * disabled, except kicks outside an invocation, which can nest with IRQs and
 * are counted atomically. Counters move only while @watching is set; the
 * per-invocation state is tracked regardless, so that an invocation in
 * flight when @watching gets set is still counted whole.
 */
extern const void ext_sched_class __ksym;
extern const void idle_sched_class __ksym;

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

static __always_inline struct phase_obs *phase_of(struct cpu_obs *o)
{
	u32 i = o->cur_phase;

	if (i >= NR_PHASES)
		return NULL;
	/* keep the compiler from forming the pointer before the check */
	barrier_var(i);
	return &o->ph[i];
}

static __always_inline int window_enter(struct rq *rq, struct task_struct *prev)
{
	struct cpu_obs *o = this_obs();
	struct phase_obs *ph;
	bool reopened;
	u32 sched;
	u64 lat;

	if (!o)
		return 0;

	sched = READ_ONCE(schedule);
	o->cur_phase = SCHED_PHASE(sched);
	o->cur_succeed_after = SCHED_AFTER(sched);
	/* across: the count goes on only from an invocation that broke out */
	if (!(sched & SCHED_ACROSS) || !o->last_bound)
		o->sched_calls = 0;
	ph = phase_of(o);
	/* the same pick, with no context switch since it was left open */
	reopened = o->pick_open && rq->nr_switches == o->open_switches;
	o->pick_open = false;
	if (reopened && READ_ONCE(watching))
		o->pick_reopened++;

	/* the next invocation after a break-out: was it the kick's doing? */
	if (o->pending != PEND_NONE && !reopened && READ_ONCE(watching)) {
		switch (o->pending) {
		case PEND_RESCHED:
			lat = bpf_ktime_get_ns() - o->bound_at;
			o->tied++;
			if (ph)
				ph->tied++;
			o->lat_sum += lat;
			if (lat > o->lat_max)
				o->lat_max = lat;
			o->lat_hist[lat_slot(lat)]++;
			break;
		case PEND_EXCUSED:
			o->excused++;
			break;
		default:
			o->untied++;
			if (ph)
				ph->untied++;
			break;
		}
	}
	if (!reopened)
		o->pending = PEND_NONE;

	o->cur_success = false;
	o->cur_last_insert = false;
	o->cur_prev_queued = prev->sched_class == &ext_sched_class &&
			     (prev->scx.flags & SCX_TASK_QUEUED);
	o->cur_prev_pid = prev->pid;
	o->cur_rounds = 0;
	o->cur_self_kicks = 0;
	o->cur_bad_kicks = 0;
	o->cur_tp = 0;
	o->cur_tp_bad = 0;
	o->in_window = true;
	return 0;
}

/* what a success invocation showed, in its phase */
static __always_inline void count_success(struct cpu_obs *o, struct phase_obs *ph,
					  u32 rounds, enum pick_result res, bool after_bound)
{
	ph->succ++;
	if (res == PICK_LOCAL)
		ph->succ_local++;
	if (o->cur_self_kicks || o->cur_bad_kicks)
		ph->succ_kicked++;
	if (after_bound)
		ph->succ_after_bound++;
	if (!ph->succ_rounds_min || rounds < ph->succ_rounds_min)
		ph->succ_rounds_min = rounds;
	if (rounds > ph->succ_rounds_max)
		ph->succ_rounds_max = rounds;
}

static __always_inline int window_exit(struct rq *rq, enum pick_result res)
{
	struct cpu_obs *o = this_obs();
	struct phase_obs *ph;
	bool at_bound, success, after_bound;
	u32 rounds;
	u64 now;

	if (!o)
		return 0;

	o->in_window = false;
	o->pick_open = res == PICK_OPEN;
	if (o->pick_open)
		o->open_switches = rq->nr_switches;
	rounds = o->cur_rounds;
	success = o->cur_success;
	/* a round that made progress ends the loop whatever its number */
	at_bound = rounds == max_loops && !success;
	after_bound = o->last_bound;
	if (rounds)
		o->last_bound = at_bound;
	ph = phase_of(o);
	if (!READ_ONCE(watching) || !ph)
		return 0;

	if (rounds)
		ph->invocations++;
	/*
	 * A success whose pick is not final is not counted: the core picks
	 * again, and the task waits on the local DSQ for a later pick.
	 */
	if (success && res != PICK_OPEN)
		count_success(o, ph, rounds, res, after_bound);

	o->invocations++;
	o->rounds += rounds;
	if (rounds > o->max_rounds)
		o->max_rounds = rounds;
	o->rounds_hist[rounds_slot(rounds)]++;
	o->self_kicks += o->cur_self_kicks;
	o->tp_breakouts += o->cur_tp;
	o->tp_bad += o->cur_tp_bad;
	if (has_tp && o->cur_tp != at_bound)
		o->tp_mismatch++;

	if (!at_bound) {
		o->stray_kicks += o->cur_self_kicks;
		return 0;
	}

	now = bpf_ktime_get_ns();
	o->at_bound++;
	ph->at_bound++;
	if (o->cur_self_kicks == 1 && !o->cur_bad_kicks) {
		o->bound_kicked++;
		ph->bound_kicked++;
	}
	if (!o->cur_last_insert)
		o->bound_empty_last++;
	/* the kernel keeps running a queued task when it finds nothing else */
	if (o->cur_prev_queued && res == PICK_PREV) {
		o->bound_kept++;
		o->kept_pid = o->cur_prev_pid;
	} else if (o->cur_prev_queued && res != PICK_OPEN) {
		o->bound_dropped++;
	}
	if (!o->first_bound_at)
		o->first_bound_at = now;
	o->bound_at = now;
	o->pending = PEND_KICKED;
	return 0;
}

/*
 * 6.12: balance_scx() runs balance_one() and its loop. It returns whether
 * there is a task to run, and flags the rq to keep running @prev; otherwise
 * pick_task_scx() takes the local DSQ's first task.
 */
SEC("fentry/balance_scx")
int BPF_PROG(obs_balance_enter, struct rq *rq, struct task_struct *prev)
{
	return window_enter(rq, prev);
}

SEC("fexit/balance_scx")
int BPF_PROG(obs_balance_exit, struct rq *rq, struct task_struct *prev,
	     struct rq_flags *rf, int ret)
{
	if (!ret)
		return window_exit(rq, PICK_NONE);
	if (rq->scx.flags & rq_bal_keep)
		return window_exit(rq, PICK_PREV);
	if (rq->scx.local_dsq.nr)
		return window_exit(rq, PICK_LOCAL);
	return window_exit(rq, PICK_OTHER);
}

/*
 * 7.3: do_pick_task_scx() runs scx_dispatch_sched() and its loop, inlined,
 * and returns the task to run: the running one kept, the local DSQ's first
 * task (still on the DSQ until it is set to run), NULL, or RETRY_TASK.
 */
#define RETRY_TASK_PTR	((struct task_struct *)-1L)

SEC("fentry/do_pick_task_scx")
int BPF_PROG(obs_pick_enter, struct rq *rq)
{
	return window_enter(rq, rq->curr);
}

SEC("fexit/do_pick_task_scx")
int BPF_PROG(obs_pick_exit, struct rq *rq, struct rq_flags *rf, u64 force_scx,
	     struct task_struct *p)
{
	/* a bool argument: only its low byte is defined */
	if (p == RETRY_TASK_PTR || ((force_scx & 0xff) && !p))
		return window_exit(rq, PICK_OPEN);
	if (!p)
		return window_exit(rq, PICK_NONE);
	if (p == rq->curr)
		return window_exit(rq, PICK_PREV);
	if (p->scx.dsq == &rq->scx.local_dsq)
		return window_exit(rq, PICK_LOCAL);
	return window_exit(rq, PICK_OTHER);
}

/*
 * One insert per round: this assumes, like the scheduler above, that
 * ops.dispatch() inserts at most one task per call.
 */
static int observe_round(void)
{
	struct cpu_obs *o = this_obs();

	if (o && o->in_window) {
		o->cur_rounds++;
		o->cur_last_insert = true;
	}
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
 * balance_scx(). Inside an invocation, this scheduler never kicks, so every
 * kick there is the core's.
 */
static int observe_kick(s32 cpu, u64 flags)
{
	struct cpu_obs *o = this_obs();

	if (!o)
		return 0;

	if (!o->in_window) {
		if (READ_ONCE(watching))
			__sync_fetch_and_add(&o->ext_kicks, 1);
		return 0;
	}

	if (cpu == (s32)bpf_get_smp_processor_id() && !flags) {
		o->cur_self_kicks++;
		return 0;
	}

	o->cur_bad_kicks++;
	if (!READ_ONCE(watching))
		return 0;
	if (flags)
		o->kicks_flagged++;
	else
		o->kicks_other++;
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

/*
 * The kick's deferred work. It runs in hard IRQ context on the CPU that
 * kicked, once that CPU has IRQs enabled again, which is after the pick that
 * broke out is done.
 */
SEC("fentry/kick_cpus_irq_workfn")
int BPF_PROG(obs_irq_work_enter)
{
	struct task_struct *curr = bpf_get_current_task_btf();
	const void *class = curr->sched_class;
	struct cpu_obs *o = this_obs();

	if (!o)
		return 0;
	o->in_irq_work = true;
	o->iw_resched_self = false;
	if (o->in_tick && READ_ONCE(watching))
		o->iw_in_tick++;
	o->iw_higher_class = class != &ext_sched_class && class != &idle_sched_class;
	return 0;
}

SEC("fexit/kick_cpus_irq_workfn")
int BPF_PROG(obs_irq_work_exit)
{
	struct cpu_obs *o = this_obs();
	u64 lat;

	if (!o)
		return 0;
	o->in_irq_work = false;
	if (o->pending != PEND_KICKED)
		return 0;
	if (READ_ONCE(watching))
		o->iw_runs++;

	if (o->iw_resched_self) {
		o->pending = PEND_RESCHED;
		if (READ_ONCE(watching)) {
			lat = bpf_ktime_get_ns() - o->bound_at;
			o->iw_resched++;
			if (lat > o->iw_lat_max)
				o->iw_lat_max = lat;
			o->iw_lat_hist[lat_slot(lat)]++;
		}
	} else if (o->iw_higher_class) {
		o->pending = PEND_EXCUSED;
	}
	/* otherwise it ran for another kick: the break-out's would have resched'd */
	return 0;
}

SEC("fentry/resched_curr")
int BPF_PROG(obs_resched_curr, struct rq *rq)
{
	struct cpu_obs *o = this_obs();

	if (o && o->in_irq_work && rq->cpu == (int)bpf_get_smp_processor_id())
		o->iw_resched_self = true;
	return 0;
}

/*
 * The tick runs lazy irq_work from irq_work_tick(), with IRQs disabled, and
 * on x86 (which has an irq_work interrupt) nothing from the raised list.
 * irq_work.c is built without ftrace, so watch its only caller,
 * update_process_times(), instead: nothing else it calls runs irq_work.
 */
SEC("fentry/update_process_times")
int BPF_PROG(obs_tick_enter)
{
	struct cpu_obs *o = this_obs();

	if (!o)
		return 0;
	o->in_tick = true;
	if (READ_ONCE(watching))
		o->ticks++;
	return 0;
}

SEC("fexit/update_process_times")
int BPF_PROG(obs_tick_exit)
{
	struct cpu_obs *o = this_obs();

	if (o)
		o->in_tick = false;
	return 0;
}

/* Loaded only where the kernel has the tracepoint (6.12 with this series). */
SEC("tp_btf/sched_ext_dispatch_loop_breakout")
int BPF_PROG(obs_breakout_tp, int cpu, int nr_loops)
{
	struct cpu_obs *o = this_obs();

	if (!o)
		return 0;

	if (!o->in_window) {
		if (READ_ONCE(watching))
			__sync_fetch_and_add(&o->tp_bad, 1);
		return 0;
	}

	o->cur_tp++;
	if (cpu != (s32)bpf_get_smp_processor_id() || nr_loops != (s32)max_loops)
		o->cur_tp_bad++;
	return 0;
}
