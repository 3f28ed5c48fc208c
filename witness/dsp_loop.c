// SPDX-License-Identifier: GPL-2.0
/*
 * Trap the kernel in its ops.dispatch() retry loop, balance_one() on 6.12 or
 * scx_dispatch_sched() on 7.3, and verify that it bounds the loop: it breaks
 * out after SCX_DSP_MAX_LOOPS rounds, kicks its own CPU, comes back to
 * dispatch, and the watchdog ejects the scheduler for the tasks it starves.
 * On a kernel without the bound, the looping CPU spins with IRQs disabled and
 * dsp_loop_all_cpus and dsp_loop_partial never finish; dsp_loop_one_cpu's
 * trap ends such a loop on its 33rd call, and fails then.
 *
 * dsp_loop_one_cpu first walks the bound's edge: ops.dispatch() succeeds on
 * call 31, then on call 32, of each invocation, and then on call 40 counted
 * on from an invocation that broke out. Round 32 is still within the bound:
 * a success there must end the loop with no kick, and a scheduler that
 * needs more than 32 rounds must get them in the next invocation, through
 * the kick, and stay. Its trap then fails 32 calls, the 33rd never comes.
 *
 * One source for both bases: the BPF side picks its kfuncs from the headers
 * it is built with, and the observers that fit the running kernel are chosen
 * from its BTF, see choose_observers(). A test skips, saying why, where an
 * attach point it needs is missing.
 *
 * Copyright (c) 2026 scx-loopguard developers
 */
#define _GNU_SOURCE
#include <assert.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <poll.h>
#include <sched.h>
#include <scx/common.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "dsp_loop.h"
#include "dsp_loop.bpf.skel.h"
#include "scx_test.h"

#ifndef SCHED_EXT
#define SCHED_EXT		7
#endif

/* a per-CPU map value is copied out at this alignment, one per possible CPU */
static_assert(sizeof(struct cpu_obs) % 8 == 0, "struct cpu_obs is not 8-byte aligned");

/*
 * NR_VICTIMS (2) CPU-bound victims share the looping CPU. The loop is armed
 * as one of them starts to run, and the kernel keeps it running at each
 * break-out (prev still has work and no other task reaches the local DSQ),
 * but the other one sits in the shared DSQ where no CPU may consume it, so
 * the watchdog always has a stalled task to find, even in partial mode
 * where the victims are the only SCX tasks.
 */
#define NR_OBSERVERS		15

#define MSEC_NS			((u64)1000000)
#define USEC_NS			((u64)1000)
#define POLL_INTERVAL_US	10000
#define READY_TIMEOUT_MS	10000
#define EXIT_DEADLINE_MS	30000
#define REAP_TIMEOUT_MS		10000
#define STATE_TIMEOUT_MS	5000
#define BUSY_CHILD_MS		50

/*
 * The watchdog checks every timeout_ms / 2 and a task counts as stalled once
 * it has been runnable for timeout_ms, so the scheduler should be gone within
 * 1.5 * timeout_ms of the first starved task. Allow twice that, plus slack for
 * a slow (TCG) guest to run the disable path.
 */
/* SCX_DSP_MAX_LOOPS of the fix, for a kernel that lacks it */
#define DSP_MAX_LOOPS_DFL	32

#define EJECT_TIMEOUTS		3
#define EJECT_SLACK_MS		2000

/*
 * dsp_loop_one_cpu's phases before its trap: each must see this many
 * successes within its timeout. The loop CPU's victims take turns at every
 * slice's end (20 ms), and at every other one in PH_ACROSS.
 */
#define PHASE_MIN_SUCC		10
#define PHASE_TIMEOUT_MS	15000
#define PHASE_MIN_TIMEOUT_MS	500

/*
 * The figures of scx-loopguard's scx_loopguard_watch kernel module, which
 * watches the loop with kprobes from other points: rounds from
 * flush_dispatch_buf(), the kick's effect from the need-resched flag the
 * irq_work leaves. Cross-checked when it is loaded.
 */
#define MOD_FIGURES		"/sys/kernel/debug/scx_loopguard/figures"

struct mod_figures {
	u64 at_bound;
	u64 breakouts;
	u64 tied;
	u64 untied;
	u64 rounds_max;
};

/* what the observers attach to, chosen from vmlinux BTF */
struct dsp_loop_obs {
	bool pick;		/* the loop runs in do_pick_task_scx(), not balance_scx() */
	bool dsq_insert;	/* rounds: scx_bpf_dsq_insert___v2(), not scx_bpf_dispatch() */
	int kick_args;		/* of scx_kick_cpu(), 0: the core kicks by the kfunc */
	bool has_tp;		/* sched_ext_dispatch_loop_breakout exists */
	bool has_ev;		/* SCX_EV_DISPATCH_LOOP_BREAKOUT exists */
	u64 rq_bal_keep;	/* 6.12's SCX_RQ_BAL_KEEP, for balance_scx()'s verdict */
};

struct dsp_loop_ctx {
	const char *name;
	bool partial;
	s32 loop_cpu;		/* -1: every CPU loops */
	bool phases;		/* the boundary phases before the trap */
	int victim_cpu;
	int nr_possible;	/* entries of the per-CPU map */
	int nr_online;		/* CPUs that can have a break-out in flight */
	u64 max_loops;
	bool bound_missing;	/* no SCX_DSP_MAX_LOOPS in BTF */
	struct dsp_loop_obs obs;
	u64 timeout_ms;
	struct dsp_loop *skel;
	struct bpf_link *obs_links[NR_OBSERVERS];
	struct bpf_link *ops_link;
	pid_t victims[NR_VICTIMS];
};

/* the observers' per-CPU records, summed */
struct dsp_loop_stats {
	struct cpu_obs sum;
	u64 max_rounds;
	u64 first_bound_at;
	u64 foreign_bound;	/* at the bound on a CPU that wasn't told to loop */
	u64 in_flight;		/* break-outs whose next invocation had not come */
	u64 dump_breakouts;
	u64 ev_breakouts;
	u64 lat_max;
	u64 iw_lat_max;
	u64 succ_rounds_min[NR_PHASES];
	u64 succ_rounds_max[NR_PHASES];
};

static u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void victim_main(int cpu, bool partial, int ready_fd)
{
	struct sched_param param = {};
	size_t size = CPU_ALLOC_SIZE(cpu + 1);
	cpu_set_t *mask = CPU_ALLOC(cpu + 1);
	char c = 'r';

	if (!mask)
		_exit(1);
	CPU_ZERO_S(size, mask);
	CPU_SET_S(cpu, size, mask);
	if (sched_setaffinity(0, size, mask))
		_exit(1);
	if (partial && sched_setscheduler(0, SCHED_EXT, &param))
		_exit(2);
	if (write(ready_fd, &c, 1) != 1)
		_exit(3);
	close(ready_fd);

	for (;;)
		;
}

static enum scx_test_status start_victims(struct dsp_loop_ctx *ctx)
{
	struct pollfd pfd;
	int fds[2], i, nr_ready = 0;
	u64 deadline;
	char c;

	SCX_FAIL_IF(pipe(fds), "pipe() failed (%s)", strerror(errno));

	fflush(NULL);
	for (i = 0; i < NR_VICTIMS; i++) {
		pid_t pid = fork();

		if (!pid) {
			close(fds[0]);
			victim_main(ctx->victim_cpu, ctx->partial, fds[1]);
		}
		if (pid < 0) {
			SCX_ERR("fork() failed (%s)", strerror(errno));
			break;
		}
		ctx->victims[i] = pid;
	}
	close(fds[1]);

	pfd.fd = fds[0];
	pfd.events = POLLIN;
	deadline = now_ns() + READY_TIMEOUT_MS * MSEC_NS;
	while (i == NR_VICTIMS && nr_ready < NR_VICTIMS && now_ns() < deadline) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (read(fds[0], &c, 1) != 1)
			break;
		nr_ready++;
	}
	close(fds[0]);

	SCX_FAIL_IF(nr_ready != NR_VICTIMS,
		    "Expected %d victims ready on CPU %d%s, got %d",
		    NR_VICTIMS, ctx->victim_cpu,
		    ctx->partial ? " with SCHED_EXT" : "", nr_ready);
	return SCX_TEST_PASS;
}

/* SIGKILL and reap any victim left, blocking */
static void stop_victims(struct dsp_loop_ctx *ctx)
{
	int i;

	for (i = 0; i < NR_VICTIMS; i++) {
		if (ctx->victims[i] <= 0)
			continue;
		kill(ctx->victims[i], SIGKILL);
		waitpid(ctx->victims[i], NULL, 0);
		ctx->victims[i] = 0;
	}
}

/* reap @pid, giving up after @timeout_ms */
static bool reap_timeout(pid_t pid, int *status, u64 timeout_ms)
{
	u64 deadline = now_ns() + timeout_ms * MSEC_NS;
	pid_t ret;

	do {
		ret = waitpid(pid, status, WNOHANG);
		if (ret == pid)
			return true;
		if (ret < 0)
			return false;
		usleep(POLL_INTERVAL_US);
	} while (now_ns() < deadline);

	return false;
}

static bool read_state(char *buf, size_t len)
{
	FILE *f = fopen("/sys/kernel/sched_ext/state", "r");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, len, f);
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

/*
 * The sum of the "dsp_breakouts" lines in the exit's debug dump. The dump
 * lists only the CPUs that were busy at the time, each with its count since
 * the scheduler was enabled.
 */
static u64 dump_breakouts(const char *dump)
{
	const char *key = "dsp_breakouts  : ";
	const char *p = dump;
	u64 sum = 0;

	while ((p = strstr(p, key))) {
		p += strlen(key);
		sum += strtoull(p, NULL, 10);
	}
	return sum;
}

static void sum_phases(struct dsp_loop_stats *st, const struct cpu_obs *o)
{
	struct phase_obs *s;
	const struct phase_obs *p;
	int i;

	for (i = 0; i < NR_PHASES; i++) {
		s = &st->sum.ph[i];
		p = &o->ph[i];
		s->invocations += p->invocations;
		s->succ += p->succ;
		s->succ_local += p->succ_local;
		s->succ_kicked += p->succ_kicked;
		s->succ_after_bound += p->succ_after_bound;
		s->at_bound += p->at_bound;
		s->bound_kicked += p->bound_kicked;
		s->tied += p->tied;
		s->untied += p->untied;
		if (p->succ_rounds_min &&
		    (!st->succ_rounds_min[i] || p->succ_rounds_min < st->succ_rounds_min[i]))
			st->succ_rounds_min[i] = p->succ_rounds_min;
		if (p->succ_rounds_max > st->succ_rounds_max[i])
			st->succ_rounds_max[i] = p->succ_rounds_max;
	}
}

static enum scx_test_status collect_stats(struct dsp_loop_ctx *ctx, struct dsp_loop_stats *st)
{
	struct cpu_obs *per_cpu, *o, *sum = &st->sum;
	u32 zero = 0;
	int cpu, i, err;

	memset(st, 0, sizeof(*st));
	per_cpu = calloc(ctx->nr_possible, sizeof(*per_cpu));
	SCX_FAIL_IF(!per_cpu, "Failed to allocate %d per-CPU records", ctx->nr_possible);
	err = bpf_map_lookup_elem(bpf_map__fd(ctx->skel->maps.cpu_obs), &zero, per_cpu);
	if (err) {
		free(per_cpu);
		SCX_FAIL("Failed to read the per-CPU records (%d)", err);
	}

	for (cpu = 0; cpu < ctx->nr_possible; cpu++) {
		o = &per_cpu[cpu];
		sum_phases(st, o);
		sum->ticks += o->ticks;
		sum->iw_in_tick += o->iw_in_tick;
		sum->bound_kept += o->bound_kept;
		sum->bound_dropped += o->bound_dropped;
		sum->bound_empty_last += o->bound_empty_last;
		sum->pick_reopened += o->pick_reopened;
		sum->kept_requeued += o->kept_requeued;
		sum->invocations += o->invocations;
		sum->rounds += o->rounds;
		if (o->max_rounds > st->max_rounds)
			st->max_rounds = o->max_rounds;
		for (i = 0; i < NR_RND_SLOTS; i++)
			sum->rounds_hist[i] += o->rounds_hist[i];
		sum->at_bound += o->at_bound;
		if (ctx->loop_cpu >= 0 && cpu != ctx->loop_cpu)
			st->foreign_bound += o->at_bound;
		sum->bound_kicked += o->bound_kicked;
		sum->stray_kicks += o->stray_kicks;
		sum->self_kicks += o->self_kicks;
		sum->kicks_other += o->kicks_other;
		sum->kicks_flagged += o->kicks_flagged;
		sum->ext_kicks += o->ext_kicks;
		sum->tp_breakouts += o->tp_breakouts;
		sum->tp_bad += o->tp_bad;
		sum->tp_mismatch += o->tp_mismatch;
		sum->iw_runs += o->iw_runs;
		sum->iw_resched += o->iw_resched;
		sum->tied += o->tied;
		sum->excused += o->excused;
		sum->untied += o->untied;
		if (o->pending != PEND_NONE)
			st->in_flight++;
		if (o->first_bound_at &&
		    (!st->first_bound_at || o->first_bound_at < st->first_bound_at))
			st->first_bound_at = o->first_bound_at;
		sum->lat_sum += o->lat_sum;
		if (o->lat_max > st->lat_max)
			st->lat_max = o->lat_max;
		if (o->iw_lat_max > st->iw_lat_max)
			st->iw_lat_max = o->iw_lat_max;
		for (i = 0; i < LAT_SLOTS; i++) {
			sum->lat_hist[i] += o->lat_hist[i];
			sum->iw_lat_hist[i] += o->iw_lat_hist[i];
		}
		sum->sched_dispatch_calls += o->sched_dispatch_calls;
		sum->sched_loop_dispatches += o->sched_loop_dispatches;
	}
	free(per_cpu);
	st->dump_breakouts = dump_breakouts(ctx->skel->data_uei_dump->uei_dump);
	st->ev_breakouts = ctx->skel->bss->exit_ev_breakouts;
	return SCX_TEST_PASS;
}

/*
 * The @pct percentile of a latency histogram, in usecs. The histogram only
 * has log2 resolution, so this is the upper bound of the slot holding the
 * percentile (2^n - 1 ns for slot n), rounded up to a whole usec, and never
 * more than the largest latency seen, @max.
 */
static u64 lat_percentile_us(const u64 *hist, u64 max, u64 pct)
{
	u64 total = 0, want, seen = 0, bound;
	int i;

	for (i = 0; i < LAT_SLOTS; i++)
		total += hist[i];
	if (!total)
		return 0;

	want = (total * pct + 99) / 100;
	for (i = 0; i < LAT_SLOTS; i++) {
		seen += hist[i];
		if (seen >= want)
			break;
	}
	if (i >= LAT_SLOTS)
		i = LAT_SLOTS - 1;
	if (!i)
		return 0;

	bound = ((1ULL << i) - 1) < max ? ((1ULL << i) - 1) : max;
	return (bound + USEC_NS - 1) / USEC_NS;
}

/*
 * The tick period in usecs, from the jiffies and the monotonic clock between
 * the first looping ops.dispatch() and ops.exit(), rounded to the nearest
 * CONFIG_HZ the kernel offers; 0 if the interval is too short to tell.
 */
static u64 tick_us(const struct dsp_loop *skel)
{
	static const u64 hz_choices[] = { 100, 250, 300, 1000 };
	u64 ns = skel->bss->exit_at - skel->bss->armed_at;
	u64 jiffies = skel->bss->exit_jiffies - skel->bss->armed_jiffies;
	u64 hz, best = 0, d, best_d = ~0ULL;
	size_t i;

	if (!skel->bss->armed_at || skel->bss->exit_at <= skel->bss->armed_at ||
	    jiffies < 10)
		return 0;
	hz = jiffies * 1000000000ULL / ns;
	for (i = 0; i < sizeof(hz_choices) / sizeof(hz_choices[0]); i++) {
		d = hz > hz_choices[i] ? hz - hz_choices[i] : hz_choices[i] - hz;
		if (d < best_d) {
			best_d = d;
			best = hz_choices[i];
		}
	}
	return 1000000 / best;
}

/* zero the module's figures and give it the bound; false if it is not loaded */
static bool mod_reset(u64 max_loops)
{
	FILE *f = fopen(MOD_FIGURES, "w");
	bool ok;

	if (!f)
		return false;
	ok = fprintf(f, "reset max_loops=%lu\n", max_loops) > 0;
	return !fclose(f) && ok;
}

/* a missing key reads as 0, which fails the checks */
static u64 mod_value(const char *line, const char *key)
{
	const char *p = strstr(line, key);

	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

/* the module's "total" line */
static bool mod_read(struct mod_figures *m)
{
	FILE *f = fopen(MOD_FIGURES, "r");
	char line[1024];
	bool found = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "total ", 6))
			continue;
		m->at_bound = mod_value(line, " at_bound=");
		m->breakouts = mod_value(line, " breakouts=");
		m->tied = mod_value(line, " tied=");
		m->untied = mod_value(line, " untied=");
		m->rounds_max = mod_value(line, " rounds_max=");
		found = true;
	}
	fclose(f);
	return found;
}

static bool btf_has(const struct btf *btf, const char *name, __u32 kind)
{
	return btf__find_by_name_kind(btf, name, kind) >= 0;
}

/* the number of parameters of function @name, -1 if there is no such function */
static int btf_func_nr_params(const struct btf *btf, const char *name)
{
	const struct btf_type *t;
	__s32 id = btf__find_by_name_kind(btf, name, BTF_KIND_FUNC);

	if (id < 0)
		return -1;
	t = btf__type_by_id(btf, btf__type_by_id(btf, id)->type);
	return t && btf_is_func_proto(t) ? btf_vlen(t) : -1;
}

static bool btf_has_member(const struct btf *btf, const char *type, const char *member)
{
	const struct btf_member *m;
	const struct btf_type *t;
	__s32 id = btf__find_by_name_kind(btf, type, BTF_KIND_STRUCT);
	int i;

	if (id < 0)
		return false;
	t = btf__type_by_id(btf, id);
	for (i = 0, m = btf_members(t); i < btf_vlen(t); i++, m++)
		if (!strcmp(btf__name_by_offset(btf, m->name_off), member))
			return true;
	return false;
}

/*
 * Where to watch the loop in the running kernel:
 *
 *   invocation  balance_scx() (6.12) or do_pick_task_scx() (7.3)
 *   rounds      scx_bpf_dispatch() (6.12) or scx_bpf_dsq_insert___v2() (7.3),
 *               the kfuncs the scheduler's inserts end up in
 *   kick        scx_kick_cpu(cpu, flags) (6.12 with this series),
 *               scx_kick_cpu(sch, cpu, flags) (7.3), told apart by their
 *               number of parameters, or else scx_bpf_kick_cpu() (plain 6.12)
 *   deferred    kick_cpus_irq_workfn() and resched_curr() (both bases)
 *   tick        update_process_times() (both bases)
 *
 * Skip, saying why, where one of them is missing: the observers would see
 * nothing and the test would fail for the wrong reason. A function in BTF
 * can still be inlined at the call site that matters, so no observer is
 * trusted to have seen nothing: every zero the test asserts is paired with a
 * count of the same observer that must be nonzero, see dsp_loop_run().
 */
static enum scx_test_status choose_observers(const char *name, struct dsp_loop_obs *obs)
{
	struct btf *btf = btf__load_vmlinux_btf();
	char why[128] = "";
	int nr;

	SCX_FAIL_IF(!btf, "Failed to load vmlinux BTF (%s)", strerror(errno));

	if (btf_has(btf, "balance_scx", BTF_KIND_FUNC))
		obs->pick = false;
	else if (btf_has(btf, "do_pick_task_scx", BTF_KIND_FUNC))
		obs->pick = true;
	else
		snprintf(why, sizeof(why), "no balance_scx() or do_pick_task_scx()");

	if (btf_has(btf, "scx_bpf_dsq_insert___v2", BTF_KIND_FUNC))
		obs->dsq_insert = true;
	else if (btf_has(btf, "scx_bpf_dispatch", BTF_KIND_FUNC))
		obs->dsq_insert = false;
	else
		snprintf(why, sizeof(why), "no scx_bpf_dsq_insert___v2() or scx_bpf_dispatch()");

	nr = btf_func_nr_params(btf, "scx_kick_cpu");
	if (nr == 2 || nr == 3)
		obs->kick_args = nr;
	else if (nr >= 0)
		snprintf(why, sizeof(why), "scx_kick_cpu() with %d parameters, not 2 or 3", nr);
	else if (btf_has(btf, "scx_bpf_kick_cpu", BTF_KIND_FUNC))
		obs->kick_args = 0;
	else
		snprintf(why, sizeof(why), "no scx_kick_cpu() or scx_bpf_kick_cpu()");

	if (!btf_has(btf, "kick_cpus_irq_workfn", BTF_KIND_FUNC))
		snprintf(why, sizeof(why), "no kick_cpus_irq_workfn()");
	else if (!btf_has(btf, "resched_curr", BTF_KIND_FUNC))
		snprintf(why, sizeof(why), "no resched_curr()");
	else if (!btf_has(btf, "update_process_times", BTF_KIND_FUNC))
		snprintf(why, sizeof(why), "no update_process_times()");

	obs->has_tp = btf_has(btf, "btf_trace_sched_ext_dispatch_loop_breakout",
			      BTF_KIND_TYPEDEF);
	obs->has_ev = btf_has_member(btf, "scx_event_stats", "SCX_EV_DISPATCH_LOOP_BREAKOUT");
	btf__free(btf);

	if (!obs->pick && !__COMPAT_read_enum("scx_rq_flags", "SCX_RQ_BAL_KEEP", &obs->rq_bal_keep))
		snprintf(why, sizeof(why), "balance_scx() but no SCX_RQ_BAL_KEEP");

	if (why[0]) {
		fprintf(stderr, "%s: SKIP: vmlinux BTF has %s to attach to\n", name, why);
		return SCX_TEST_SKIP;
	}
	return SCX_TEST_PASS;
}

static const char *kick_fn(const struct dsp_loop_obs *obs)
{
	switch (obs->kick_args) {
	case 2:
		return "scx_kick_cpu(cpu, flags)";
	case 3:
		return "scx_kick_cpu(sch, cpu, flags)";
	default:
		return "scx_bpf_kick_cpu(cpu, flags)";
	}
}

static void set_autoload(struct dsp_loop *skel, const struct dsp_loop_obs *obs)
{
	bpf_program__set_autoload(skel->progs.obs_balance_enter, !obs->pick);
	bpf_program__set_autoload(skel->progs.obs_balance_exit, !obs->pick);
	bpf_program__set_autoload(skel->progs.obs_pick_enter, obs->pick);
	bpf_program__set_autoload(skel->progs.obs_pick_exit, obs->pick);
	bpf_program__set_autoload(skel->progs.obs_dispatch, !obs->dsq_insert);
	bpf_program__set_autoload(skel->progs.obs_dsq_insert, obs->dsq_insert);
	bpf_program__set_autoload(skel->progs.obs_kick_cpu, !obs->kick_args);
	bpf_program__set_autoload(skel->progs.obs_core_kick_cpu, obs->kick_args == 2);
	bpf_program__set_autoload(skel->progs.obs_sch_kick_cpu, obs->kick_args == 3);
	bpf_program__set_autoload(skel->progs.obs_breakout_tp, obs->has_tp);
	/* the irq_work, resched_curr() and tick observers: always */
}

static enum scx_test_status attach_observers(struct dsp_loop_ctx *ctx)
{
	struct bpf_program *progs[NR_OBSERVERS] = {
		ctx->skel->progs.obs_balance_enter,
		ctx->skel->progs.obs_balance_exit,
		ctx->skel->progs.obs_pick_enter,
		ctx->skel->progs.obs_pick_exit,
		ctx->skel->progs.obs_dispatch,
		ctx->skel->progs.obs_dsq_insert,
		ctx->skel->progs.obs_kick_cpu,
		ctx->skel->progs.obs_core_kick_cpu,
		ctx->skel->progs.obs_sch_kick_cpu,
		ctx->skel->progs.obs_breakout_tp,
		ctx->skel->progs.obs_irq_work_enter,
		ctx->skel->progs.obs_irq_work_exit,
		ctx->skel->progs.obs_resched_curr,
		ctx->skel->progs.obs_tick_enter,
		ctx->skel->progs.obs_tick_exit,
	};
	int i;

	for (i = 0; i < NR_OBSERVERS; i++) {
		if (!bpf_program__autoload(progs[i]))
			continue;
		ctx->obs_links[i] = bpf_program__attach(progs[i]);
		SCX_FAIL_IF(!ctx->obs_links[i], "Failed to attach %s (%s)",
			    bpf_program__name(progs[i]), strerror(errno));
	}
	return SCX_TEST_PASS;
}

/* after the ejection, tasks must run and the scheduler must unload */
static enum scx_test_status check_usable(struct dsp_loop_ctx *ctx)
{
	char state[32] = "";
	u64 deadline;
	int i, status = -1;
	pid_t pid;

	for (i = 0; i < NR_VICTIMS; i++) {
		SCX_FAIL_IF(kill(ctx->victims[i], SIGKILL),
			    "Failed to kill victim %d (%s)", ctx->victims[i], strerror(errno));
		SCX_FAIL_IF(!reap_timeout(ctx->victims[i], &status, REAP_TIMEOUT_MS),
			    "Victim %d not reaped within %dms", ctx->victims[i],
			    REAP_TIMEOUT_MS);
		ctx->victims[i] = 0;
	}

	fflush(NULL);
	pid = fork();
	SCX_FAIL_IF(pid < 0, "fork() failed (%s)", strerror(errno));
	if (!pid) {
		u64 end = now_ns() + BUSY_CHILD_MS * MSEC_NS;

		while (now_ns() < end)
			;
		_exit(0);
	}
	if (!reap_timeout(pid, &status, REAP_TIMEOUT_MS)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		SCX_FAIL("Busy child %d did not finish within %dms", pid, REAP_TIMEOUT_MS);
	}
	SCX_FAIL_IF(!WIFEXITED(status) || WEXITSTATUS(status),
		    "Busy child %d failed (status 0x%x)", pid, status);

	SCX_EQ(bpf_link__destroy(ctx->ops_link), 0);
	ctx->ops_link = NULL;

	deadline = now_ns() + STATE_TIMEOUT_MS * MSEC_NS;
	while (!read_state(state, sizeof(state)) || strcmp(state, "disabled")) {
		SCX_FAIL_IF(now_ns() >= deadline,
			    "Expected sched_ext state \"disabled\", got \"%s\"", state);
		usleep(POLL_INTERVAL_US);
	}
	return SCX_TEST_PASS;
}

/*
 * The highest CPU this process may run on, which is online (the last
 * possible CPU need not be), and how many there are.
 */
static enum scx_test_status last_usable_cpu(int nr_possible, int *last, int *nr)
{
	size_t size = CPU_ALLOC_SIZE(nr_possible);
	cpu_set_t *mask = CPU_ALLOC(nr_possible);
	int cpu, err;

	SCX_FAIL_IF(!mask, "Failed to allocate a CPU mask");
	err = sched_getaffinity(0, size, mask) ? errno : 0;
	*nr = CPU_COUNT_S(size, mask);
	for (cpu = nr_possible - 1; cpu >= 0 && !CPU_ISSET_S(cpu, size, mask); cpu--)
		;
	CPU_FREE(mask);
	SCX_FAIL_IF(err, "sched_getaffinity() failed (%s)", strerror(err));
	SCX_FAIL_IF(cpu < 0, "No CPU to run on");
	*last = cpu;
	return SCX_TEST_PASS;
}

static enum scx_test_status setup_common(void **ctxp, const char *name,
					 bool one_cpu, bool partial)
{
	struct dsp_loop_obs obs = {};
	struct dsp_loop_ctx *ctx;
	struct dsp_loop *skel;
	int nr_possible = libbpf_num_possible_cpus();
	int last_cpu, nr_online;
	u64 max_loops = 0;
	bool bound_missing = false;
	enum scx_test_status status;

	SCX_FAIL_IF(nr_possible <= 0, "libbpf_num_possible_cpus() failed (%d)", nr_possible);
	status = last_usable_cpu(nr_possible, &last_cpu, &nr_online);
	if (status != SCX_TEST_PASS)
		return status;

	status = choose_observers(name, &obs);
	if (status != SCX_TEST_PASS)
		return status;

	/*
	 * The bound is what's under test. A kernel without it has no
	 * SCX_DSP_MAX_LOOPS in its BTF: run anyway, against the value the fix
	 * uses, so that the test shows what happens there (the looping CPUs
	 * never come back), and fail at the end if it ever gets there.
	 */
	if (!__COMPAT_read_enum("scx_consts", "SCX_DSP_MAX_LOOPS", &max_loops)) {
		fprintf(stderr, "SCX_DSP_MAX_LOOPS missing from vmlinux BTF: %s\n",
			"the dispatch loop is unbounded, expect a lock-up or a failure");
		max_loops = DSP_MAX_LOOPS_DFL;
		bound_missing = true;
	}
	SCX_GT(max_loops, 0);
	SCX_FAIL_IF(partial && !SCX_OPS_SWITCH_PARTIAL, "SCX_OPS_SWITCH_PARTIAL missing");

	ctx = calloc(1, sizeof(*ctx));
	SCX_FAIL_IF(!ctx, "Failed to allocate ctx");
	ctx->name = name;
	ctx->partial = partial;
	ctx->nr_possible = nr_possible;
	ctx->nr_online = nr_online;
	ctx->max_loops = max_loops;
	ctx->bound_missing = bound_missing;
	ctx->obs = obs;
	/* with a single CPU, one_cpu loops on every CPU, that's fine */
	ctx->loop_cpu = one_cpu ? last_cpu : -1;
	ctx->phases = one_cpu;
	ctx->victim_cpu = last_cpu;

	skel = dsp_loop__open();
	if (!skel) {
		free(ctx);
		SCX_FAIL("Failed to open skel");
	}
#ifdef SCX_ENUM_INIT
	/* 7.3's headers read the kernel's enums (SCX_DSQ_LOCAL...) at run time */
	SCX_ENUM_INIT(skel);
#endif
	skel->data->loop_cpu = ctx->loop_cpu;
	skel->bss->max_loops = max_loops;
	skel->bss->rq_bal_keep = obs.rq_bal_keep;

	set_autoload(skel, &obs);
	skel->bss->has_tp = obs.has_tp;
	UEI_SET_SIZE(skel, dsp_loop_ops, uei);
	if (partial)
		skel->struct_ops.dsp_loop_ops->flags |= SCX_OPS_SWITCH_PARTIAL;
	/*
	 * DSP_LOOP_TIMEOUT_MS overrides the watchdog timeout, for measuring
	 * how the time to ejection scales with it. The bounds below follow.
	 */
	if (getenv("DSP_LOOP_TIMEOUT_MS")) {
		u32 t = strtoul(getenv("DSP_LOOP_TIMEOUT_MS"), NULL, 10);

		if (t)
			skel->struct_ops.dsp_loop_ops->timeout_ms = t;
	}
	ctx->timeout_ms = skel->struct_ops.dsp_loop_ops->timeout_ms;

	if (dsp_loop__load(skel)) {
		dsp_loop__destroy(skel);
		free(ctx);
		SCX_FAIL("Failed to load skel");
	}
	ctx->skel = skel;

	*ctxp = ctx;
	return SCX_TEST_PASS;
}

/* dsp_loop_one_cpu's phases before the trap, in order */
static const struct {
	enum dsp_phase phase;
	const char *what;
	int after;		/* failed calls before the success, from the bound */
	bool across;
} boundary_phases[] = {
	{ PH_BELOW, "success on call max_loops - 1", -2, false },
	{ PH_AT, "success on call max_loops", -1, false },
	{ PH_ACROSS, "success on call max_loops + 8, on from a break-out", 7, true },
};
#define NR_BOUNDARY_PHASES	(sizeof(boundary_phases) / sizeof(boundary_phases[0]))

static const char *phase_name(int phase)
{
	static const char *const names[NR_PHASES] = {
		[PH_TRAP] = "trap", [PH_BELOW] = "below", [PH_AT] = "at", [PH_ACROSS] = "across",
	};

	return names[phase];
}

/*
 * Run each boundary phase until it has seen PHASE_MIN_SUCC successes, none
 * of which may be ejected. The phases are checked after the trap, from the
 * same records, see check_phases().
 */
static enum scx_test_status run_phases(struct dsp_loop_ctx *ctx)
{
	struct dsp_loop *skel = ctx->skel;
	struct dsp_loop_stats st;
	enum scx_test_status status;
	u64 deadline, after;
	size_t i;
	int ph;

	/* the watchdog must let a victim wait two slices in PH_ACROSS */
	SCX_FAIL_IF(ctx->timeout_ms < PHASE_MIN_TIMEOUT_MS,
		    "The phases need timeout_ms >= %d, not %lu", PHASE_MIN_TIMEOUT_MS, ctx->timeout_ms);

	for (i = 0; i < NR_BOUNDARY_PHASES; i++) {
		ph = boundary_phases[i].phase;
		after = ctx->max_loops + boundary_phases[i].after;
		skel->bss->schedule = SCHEDULE(ph, after, boundary_phases[i].across);
		/* the first schedule is in place before anything loops */
		skel->bss->armed = true;
		deadline = now_ns() + PHASE_TIMEOUT_MS * MSEC_NS;
		for (;;) {
			SCX_FAIL_IF(UEI_EXITED(skel, uei),
				    "Scheduler ejected in phase %s (%s): %s (%s)",
				    phase_name(ph), boundary_phases[i].what,
				    skel->data->uei.reason, skel->data->uei.msg);
			status = collect_stats(ctx, &st);
			if (status != SCX_TEST_PASS)
				return status;
			if (st.sum.ph[ph].succ >= PHASE_MIN_SUCC)
				break;
			SCX_FAIL_IF(now_ns() >= deadline,
				    "Phase %s (%s, after %lu failed calls): %lu of %d successes within %dms, in %lu invocations with rounds",
				    phase_name(ph), boundary_phases[i].what, after,
				    st.sum.ph[ph].succ, PHASE_MIN_SUCC, PHASE_TIMEOUT_MS,
				    st.sum.ph[ph].invocations);
			usleep(POLL_INTERVAL_US);
		}
	}
	return SCX_TEST_PASS;
}

/*
 * What each boundary phase must show. A success is the scheduler's word
 * that it moved a task to the local DSQ; the pick that took that task is
 * the kernel's. Round max_loops is still within the bound: a success there
 * must end the loop as any other does, with no kick.
 */
static enum scx_test_status check_phases(const struct dsp_loop_ctx *ctx,
					 const struct dsp_loop_stats *st)
{
	const struct phase_obs *p;
	size_t i;
	int ph;

	for (i = 0; i < NR_BOUNDARY_PHASES; i++) {
		ph = boundary_phases[i].phase;
		p = &st->sum.ph[ph];
		SCX_FAIL_IF(p->succ_local != p->succ,
			    "Phase %s: %lu of %lu successes not picked from the local DSQ",
			    phase_name(ph), p->succ - p->succ_local, p->succ);
		SCX_FAIL_IF(p->succ_kicked,
			    "Phase %s: %lu of %lu invocations kicked after a round that made progress",
			    phase_name(ph), p->succ_kicked, p->succ);
		if (!boundary_phases[i].across)
			continue;
		/*
		 * Past the bound, legitimately: each break-out kicked, the CPU
		 * came back through the kick, and the next invocation that
		 * dispatched got the 40th call, so that every break-out but
		 * the last on each CPU was followed by a success, and the
		 * scheduler stayed (run_phases()).
		 */
		SCX_EQ(p->bound_kicked, p->at_bound);
		SCX_GT(p->tied, 0);
		SCX_EQ(p->untied, 0);
		SCX_FAIL_IF(p->at_bound > p->succ + ctx->nr_online,
			    "Phase %s: %lu break-outs for %lu successes on call %lu",
			    phase_name(ph), p->at_bound, p->succ,
			    ctx->max_loops + boundary_phases[i].after + 1);
	}
	return SCX_TEST_PASS;
}

static enum scx_test_status dsp_loop_run(void *arg)
{
	struct dsp_loop_ctx *ctx = arg;
	struct dsp_loop *skel = ctx->skel;
	struct user_exit_info *ei = &skel->data->uei;
	u64 eject_bound_ms = EJECT_TIMEOUTS * ctx->timeout_ms + EJECT_SLACK_MS;
	u64 arm_at, exit_at, eject_ms, tick;
	struct mod_figures mod = {};
	bool has_mod;
	struct dsp_loop_stats st;
	struct cpu_obs *o;
	enum scx_test_status status;
	int i;

	status = attach_observers(ctx);
	if (status != SCX_TEST_PASS)
		return status;

	/*
	 * Victims first: until the scheduler is attached, they run as normal
	 * tasks (SCHED_EXT falls back to the fair class). Attaching and then
	 * arming at once (as soon as a victim runs) leaves the watchdog no
	 * window to catch a victim starved by the set-up itself, which on one
	 * CPU in partial mode, where the fair class always goes first, it
	 * otherwise can.
	 */
	status = start_victims(ctx);
	if (status != SCX_TEST_PASS)
		return status;
	for (i = 0; i < NR_VICTIMS; i++)
		skel->bss->victim_pids[i] = ctx->victims[i];

	ctx->ops_link = bpf_map__attach_struct_ops(skel->maps.dsp_loop_ops);
	SCX_FAIL_IF(!ctx->ops_link, "Failed to attach scheduler");

	SCX_EQ(UEI_EXITED(skel, uei), EXIT_KIND(SCX_EXIT_NONE));

	if (ctx->phases) {
		skel->bss->watching = true;
		status = run_phases(ctx);
		if (status != SCX_TEST_PASS)
			return status;
	}

	/*
	 * The trap: every call fails. dsp_loop_one_cpu's success would come
	 * on call max_loops + 1, which a bounded loop never makes: it fails as
	 * soon as one comes. The module's figures start here too.
	 */
	arm_at = now_ns();
	skel->bss->schedule = SCHEDULE(PH_TRAP, ctx->phases ? ctx->max_loops : 0, false);
	has_mod = mod_reset(ctx->max_loops);
	skel->bss->watching = true;
	/*
	 * After the phases the loop is armed already, and a victim runs. Else
	 * the scheduler arms as a victim starts to run (ops.running()), and
	 * says when: this process may not run again until the ejection (on
	 * one CPU, or where every CPU loops), so its own clock cannot say.
	 */
	if (!ctx->phases) {
		skel->bss->arm_at_victim = true;
		while (!skel->bss->armed && !UEI_EXITED(skel, uei)) {
			SCX_FAIL_IF(now_ns() - arm_at > READY_TIMEOUT_MS * MSEC_NS,
				    "No victim started to run on CPU %d within %dms, to arm at",
				    ctx->victim_cpu, READY_TIMEOUT_MS);
			usleep(POLL_INTERVAL_US / 10);
		}
		if (skel->bss->armed)
			arm_at = skel->bss->armed_ns;
	}

	while (!UEI_EXITED(skel, uei)) {
		SCX_FAIL_IF(now_ns() - arm_at > EXIT_DEADLINE_MS * MSEC_NS,
			    "Scheduler not ejected within %dms of arming",
			    EXIT_DEADLINE_MS);
		if (ctx->phases) {
			status = collect_stats(ctx, &st);
			if (status != SCX_TEST_PASS)
				return status;
			SCX_FAIL_IF(st.sum.ph[PH_TRAP].succ,
				    "Call %lu came in the trap, past the bound (%lu times)",
				    ctx->max_loops + 1, st.sum.ph[PH_TRAP].succ);
		}
		usleep(POLL_INTERVAL_US);
	}
	skel->bss->arm_at_victim = false;
	skel->bss->armed = false;
	skel->bss->watching = false;

	has_mod = has_mod && mod_read(&mod);
	exit_at = skel->bss->exit_at;
	eject_ms = exit_at > arm_at ? (exit_at - arm_at) / MSEC_NS : 0;
	status = collect_stats(ctx, &st);
	if (status != SCX_TEST_PASS)
		return status;
	o = &st.sum;
	tick = tick_us(skel);

	/* one machine-readable line, printed in pieces to keep the format strings whole */
	printf("LOOPGUARD test=%s cpus=%d timeout_ms=%lu breakouts=%lu kicks=%lu resched=%lu",
	       ctx->name, ctx->nr_online, ctx->timeout_ms, o->at_bound, o->bound_kicked, o->tied);
	printf(" excused=%lu untied=%lu in_flight=%lu max_rounds=%lu eject_ms=%lu",
	       o->excused, o->untied, st.in_flight, st.max_rounds, eject_ms);
	printf(" lat_p50_us=%lu lat_p99_us=%lu lat_max_us=%lu",
	       lat_percentile_us(o->lat_hist, st.lat_max, 50),
	       lat_percentile_us(o->lat_hist, st.lat_max, 99), st.lat_max / USEC_NS);
	printf(" irq_work_p50_us=%lu irq_work_p99_us=%lu irq_work_max_us=%lu tick_us=%lu",
	       lat_percentile_us(o->iw_lat_hist, st.iw_lat_max, 50),
	       lat_percentile_us(o->iw_lat_hist, st.iw_lat_max, 99), st.iw_lat_max / USEC_NS, tick);
	printf(" bpf_dispatches=%lu observed_rounds=%lu tp_breakouts=%ld dump_breakouts=%ld",
	       o->sched_loop_dispatches, o->rounds,
	       ctx->obs.has_tp ? (long)o->tp_breakouts : -1L,
	       ctx->obs.has_tp ? (long)st.dump_breakouts : -1L);
	printf(" event_breakouts=%ld iw_in_tick=%lu ticks=%lu bound_kept=%lu bound_dropped=%lu\n",
	       ctx->obs.has_ev ? (long)st.ev_breakouts : -1L, o->iw_in_tick, o->ticks,
	       o->bound_kept, o->bound_dropped);

	printf("%s: loop_cpu=%d victim_cpu=%d partial=%d max_loops=%lu invocations=%lu\n",
	       ctx->name, ctx->loop_cpu, ctx->victim_cpu, ctx->partial, ctx->max_loops,
	       o->invocations);
	printf("%s: rounds/invocation 0:%lu 1..max-1:%lu max:%lu >max:%lu\n",
	       ctx->name, o->rounds_hist[RND_ZERO], o->rounds_hist[RND_BELOW],
	       o->rounds_hist[RND_AT_MAX], o->rounds_hist[RND_ABOVE]);
	printf("%s: at the bound %lu, kicked once and right %lu; self-kicks %lu, off the bound %lu\n",
	       ctx->name, o->at_bound, o->bound_kicked, o->self_kicks, o->stray_kicks);
	printf("%s: kicks in invocations: other CPU %lu, flagged %lu; outside: %lu\n",
	       ctx->name, o->kicks_other, o->kicks_flagged, o->ext_kicks);
	printf("%s: after a break-out: irq_work runs %lu, resched of this CPU %lu; next invocation tied %lu, excused %lu, untied %lu, in flight at exit %lu\n",
	       ctx->name, o->iw_runs, o->iw_resched, o->tied, o->excused, o->untied,
	       st.in_flight);
	printf("%s: latency against a %luus tick: break-out to resched p99 %.2f ticks, to the next invocation p99 %.2f ticks\n",
	       ctx->name, tick,
	       tick ? (double)lat_percentile_us(o->iw_lat_hist, st.iw_lat_max, 99) / tick : 0.0,
	       tick ? (double)lat_percentile_us(o->lat_hist, st.lat_max, 99) / tick : 0.0);
	printf("%s: first_breakout_ms=%lu lat_avg_us=%lu dispatch_calls=%lu\n",
	       ctx->name,
	       st.first_bound_at > arm_at ? (st.first_bound_at - arm_at) / MSEC_NS : 0,
	       o->tied ? o->lat_sum / o->tied / USEC_NS : 0, o->sched_dispatch_calls);
	printf("%s: ticks %lu, kick irq_work runs inside the tick %lu; at the bound, running task kept %lu, dropped %lu, put back after losing its CPU %lu; last round empty %lu; picks not final %lu\n",
	       ctx->name, o->ticks, o->iw_in_tick, o->bound_kept, o->bound_dropped,
	       o->kept_requeued, o->bound_empty_last, o->pick_reopened);
	for (i = 0; ctx->phases && i < NR_PHASES; i++)
		printf("%s: phase %s: invocations %lu successes %lu (local %lu kicked %lu after a break-out %lu, rounds %lu..%lu) at the bound %lu kicked %lu tied %lu untied %lu\n",
		       ctx->name, phase_name(i), o->ph[i].invocations, o->ph[i].succ,
		       o->ph[i].succ_local, o->ph[i].succ_kicked, o->ph[i].succ_after_bound,
		       st.succ_rounds_min[i], st.succ_rounds_max[i], o->ph[i].at_bound,
		       o->ph[i].bound_kicked, o->ph[i].tied, o->ph[i].untied);
	printf("%s: observed: %s() rounds by %s() kicks by %s\n",
	       ctx->name, ctx->obs.pick ? "do_pick_task_scx" : "balance_scx",
	       ctx->obs.dsq_insert ? "scx_bpf_dsq_insert___v2" : "scx_bpf_dispatch",
	       kick_fn(&ctx->obs));
	if (ctx->obs.has_tp)
		printf("%s: tracepoint: hits %lu bad=%lu mismatched=%lu\n",
		       ctx->name, o->tp_breakouts, o->tp_bad, o->tp_mismatch);
	if (has_mod)
		printf("%s: module: at_bound=%lu breakouts=%lu tied=%lu untied=%lu rounds_max=%lu\n",
		       ctx->name, mod.at_bound, mod.breakouts, mod.tied, mod.untied, mod.rounds_max);
	printf("%s: exit: %s (%s)\n", ctx->name, ei->reason, ei->msg);
	fflush(stdout);

	/* 0. the bound exists at all (without it, this point is never reached) */
	SCX_FAIL_IF(ctx->bound_missing, "No SCX_DSP_MAX_LOOPS in this kernel");

	/* 1. ejected by the watchdog */
	SCX_EQ(ei->kind, EXIT_KIND(SCX_EXIT_ERROR_STALL));
	SCX_FAIL_IF(!strstr(ei->reason, "runnable task stall"),
		    "Expected reason \"runnable task stall\", got \"%s\"", ei->reason);
	SCX_FAIL_IF(!strstr(ei->msg, "failed to run for") &&
		    !strstr(ei->msg, "watchdog failed to check in"),
		    "Expected a watchdog stall message, got \"%s\"", ei->msg);

	/* 2. ... promptly */
	SCX_GT(exit_at, arm_at);
	SCX_LE(eject_ms, eject_bound_ms);

	/*
	 * 3. the loop is bounded at exactly SCX_DSP_MAX_LOOPS rounds, counted
	 * per invocation from the inserts: none above it, some at it (so the
	 * most rounds are the bound), and only on the CPUs told to loop.
	 * at_bound > 0 is also the positive control of the invocation and
	 * round observers: the scheduler loops on every armed CPU, so they
	 * must see invocations reach the bound.
	 */
	SCX_EQ(o->rounds_hist[RND_ABOVE], 0);
	SCX_GT(o->at_bound, 0);
	SCX_EQ(st.foreign_bound, 0);

	/*
	 * 4. dsp_loop_one_cpu: at the bound's edge, a round that made progress
	 * ended the loop with no kick and the pick took its task, and past the
	 * bound the scheduler could still make progress in the next invocation
	 * (its own messages, first, as they say which phase went wrong).
	 *
	 * 4a. every invocation that reached the bound kicked its own CPU once,
	 * with no flags, and made no other kick; no invocation off the bound
	 * kicked. bound_kicked == at_bound > 0 is the kick observer's positive
	 * control, which makes its zeros below count.
	 */
	if (ctx->phases) {
		status = check_phases(ctx, &st);
		if (status != SCX_TEST_PASS)
			return status;
	}
	SCX_EQ(o->stray_kicks, 0);
	SCX_EQ(o->bound_kicked, o->at_bound);
	SCX_EQ(o->kicks_other, 0);
	SCX_EQ(o->kicks_flagged, 0);

	/*
	 * 4b. a break-out with a queued task running kept running it, as the
	 * kernel does whenever it finds nothing else. With a CPU of its own,
	 * a victim is such a task, so some break-outs must have one. On one
	 * CPU the trap can start while the test process sleeps, and then no
	 * victim runs again; there, dsp_loop_one_cpu's successes, picked from
	 * the local DSQ, are the pick observer's positive control.
	 */
	SCX_EQ(o->bound_dropped, 0);
	if (ctx->nr_online > 1)
		SCX_GT(o->bound_kept, 0);
	else if (ctx->phases)
		SCX_GT(o->ph[PH_BELOW].succ_local, 0);

	/*
	 * 5. the kick's irq_work ran from the raised list, when IRQs came back
	 * on: never from the tick, where a lazy irq_work waits. The tick
	 * observer saw ticks, which makes its zero count. This is an order,
	 * not a time, so a slow (TCG) vCPU cannot make it flake.
	 */
	/* x86: the irq_work interrupt, so irq_work_tick() runs only lazy work */
	SCX_GT(o->ticks, 0);
	SCX_EQ(o->iw_in_tick, 0);

	/*
	 * 5a. the kick took effect, in order: its irq_work ran on that CPU and
	 * asked it to reschedule, then the next invocation came. Each CPU can
	 * have one break-out in flight when the scheduler exits, which is
	 * neither. tied > 0 is the positive control of the irq_work and
	 * resched_curr() observers. The latencies are reported above, not
	 * checked: under TCG a vCPU can stall for longer than a tick.
	 */
	SCX_EQ(o->untied, 0);
	SCX_GT(o->tied, 0);

	/*
	 * 6. the kernel's own account agrees. 6.12: the tracepoint fires once
	 * in each invocation that reached the bound and in no other, with this
	 * CPU and the bound, and the debug dump, taken while the loops went on,
	 * has a nonzero count.
	 */
	if (ctx->obs.has_tp) {
		SCX_EQ(o->tp_breakouts, o->at_bound);
		SCX_EQ(o->tp_bad, 0);
		SCX_EQ(o->tp_mismatch, 0);
		SCX_GT(st.dump_breakouts, 0);
		SCX_LE(st.dump_breakouts, o->at_bound);
	}

	/*
	 * 7.3: the event counter. The kernel counts every break-out from the
	 * scheduler's enabling until ops.exit() reads the count, after the
	 * last invocation that could loop has returned. The observers count
	 * those that end while @watching, which is set before @armed and
	 * cleared after ops.exit(). Nothing loops before @armed, so each
	 * break-out seen here must be in the kernel's count, and the kernel
	 * may only have more from an invocation that saw @armed but still a
	 * stale @watching at its end, at most one per CPU. A break-out whose
	 * last round inserted nothing is not counted (the loop would have
	 * ended there anyway).
	 */
	if (ctx->obs.has_ev) {
		SCX_FAIL_IF(!ctx->skel->bss->exit_ev_read,
			    "ops.exit() did not read the event counters");
		SCX_GE(st.ev_breakouts, o->at_bound - o->bound_empty_last);
		SCX_LE(st.ev_breakouts, o->at_bound + ctx->nr_online);
	}

	/*
	 * The kernel module, where loaded, saw the same from its own points
	 * during the trap (it is reset as the trap begins):
	 * as many invocations at the bound (its window differs by the
	 * invocations in flight at arming, at most one per CPU), the same
	 * maximum, and every next invocation tied to the kick by the
	 * need-resched flag its irq_work left.
	 */
	if (has_mod) {
		/* one more for the moment between the switch to the trap and the reset */
		u64 slack = ctx->nr_online + ctx->phases;
		u64 trap_bound = o->ph[PH_TRAP].at_bound;

		SCX_GT(mod.at_bound, 0);
		SCX_GE(mod.at_bound + slack, trap_bound);
		SCX_LE(mod.at_bound, trap_bound + slack);
		SCX_EQ(mod.rounds_max, ctx->max_loops);
		SCX_GT(mod.tied, 0);
		SCX_EQ(mod.untied, 0);
	}

	/* 7. the system is still usable */
	return check_usable(ctx);
}

static void dsp_loop_cleanup(void *arg)
{
	struct dsp_loop_ctx *ctx = arg;
	int i;

	/* stop looping first, so that the victims can be reaped */
	ctx->skel->bss->arm_at_victim = false;
	ctx->skel->bss->armed = false;
	ctx->skel->bss->watching = false;
	bpf_link__destroy(ctx->ops_link);
	stop_victims(ctx);
	for (i = 0; i < NR_OBSERVERS; i++)
		bpf_link__destroy(ctx->obs_links[i]);
	dsp_loop__destroy(ctx->skel);
	free(ctx);
}

static enum scx_test_status setup_all_cpus(void **ctx)
{
	return setup_common(ctx, "dsp_loop_all_cpus", false, false);
}

static enum scx_test_status setup_one_cpu(void **ctx)
{
	return setup_common(ctx, "dsp_loop_one_cpu", true, false);
}

static enum scx_test_status setup_partial(void **ctx)
{
	return setup_common(ctx, "dsp_loop_partial", false, true);
}

struct scx_test dsp_loop_all_cpus = {
	.name = "dsp_loop_all_cpus",
	.description = "Trap ops.dispatch() on all CPUs, expect bounded loops and a stall exit",
	.setup = setup_all_cpus,
	.run = dsp_loop_run,
	.cleanup = dsp_loop_cleanup,
};

struct scx_test dsp_loop_one_cpu = {
	.name = "dsp_loop_one_cpu",
	.description = "Succeed at the bound's edge, then trap ops.dispatch() on the last CPU, expect bounded loops and a stall exit",
	.setup = setup_one_cpu,
	.run = dsp_loop_run,
	.cleanup = dsp_loop_cleanup,
};

struct scx_test dsp_loop_partial = {
	.name = "dsp_loop_partial",
	.description = "Trap ops.dispatch() on all CPUs in partial mode, expect a bounded loop",
	.setup = setup_partial,
	.run = dsp_loop_run,
	.cleanup = dsp_loop_cleanup,
};

REGISTER_SCX_TEST(&dsp_loop_all_cpus)
REGISTER_SCX_TEST(&dsp_loop_one_cpu)
REGISTER_SCX_TEST(&dsp_loop_partial)
