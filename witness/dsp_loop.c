// SPDX-License-Identifier: GPL-2.0
/*
 * Trap the kernel in its ops.dispatch() retry loop, balance_one() on 6.12 or
 * scx_dispatch_sched() on 7.3, and verify that it bounds the loop: it breaks
 * out after SCX_DSP_MAX_LOOPS rounds, kicks its own CPU, comes back to
 * dispatch, and the watchdog ejects the scheduler for the tasks it starves.
 * On a kernel without the bound, the looping CPU spins with IRQs disabled and
 * these tests never finish.
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
#include "dsp_loop.bpf.skel.h"
#include "scx_test.h"

#ifndef SCHED_EXT
#define SCHED_EXT		7
#endif

/* mirrored from dsp_loop.bpf.c */
#define MAX_CPUS		128
#define LAT_SLOTS		64
enum rounds_slot {
	RND_ZERO,
	RND_BELOW,
	RND_AT_MAX,
	RND_ABOVE,
	NR_RND_SLOTS,
};

static_assert(sizeof(((struct dsp_loop__bss *)0)->obs_invocations) ==
	       MAX_CPUS * sizeof(__u64), "MAX_CPUS differs from dsp_loop.bpf.c");
static_assert(sizeof(((struct dsp_loop__bss *)0)->obs_lat_hist) ==
	       MAX_CPUS * LAT_SLOTS * sizeof(__u64), "LAT_SLOTS differs from dsp_loop.bpf.c");
static_assert(sizeof(((struct dsp_loop__bss *)0)->obs_rounds_hist) ==
	       MAX_CPUS * NR_RND_SLOTS * sizeof(__u64), "NR_RND_SLOTS differs from dsp_loop.bpf.c");

/*
 * Two CPU-bound victims share the looping CPU. Whichever runs when the loop
 * is armed is kept running by balance_one() (prev still has work and no other
 * task reaches the local DSQ), but the other one sits in the shared DSQ where
 * no CPU may consume it, so the watchdog always has a stalled task to find,
 * even in partial mode where the victims are the only SCX tasks.
 */
#define NR_VICTIMS		2
#define NR_OBSERVERS		10

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
 * The figures of scx-loopguard's scx_loopguard_watch kernel module, which
 * counts the same events with kprobes. Cross-checked when it is loaded.
 */
#define MOD_FIGURES		"/sys/kernel/debug/scx_loopguard/figures"

struct mod_figures {
	u64 breakouts;
	u64 self_kicks;
	u64 resched;
	u64 rounds_max;
};

/* what the observers attach to, chosen from vmlinux BTF */
struct dsp_loop_obs {
	bool pick;		/* the loop runs in do_pick_task_scx(), not balance_scx() */
	bool dsq_insert;	/* rounds: scx_bpf_dsq_insert___v2(), not scx_bpf_dispatch() */
	int kick_args;		/* of scx_kick_cpu(), 0: the core kicks by the kfunc */
	bool has_tp;		/* sched_ext_dispatch_loop_breakout exists */
	bool has_ev;		/* SCX_EV_DISPATCH_LOOP_BREAKOUT exists */
};

struct dsp_loop_ctx {
	const char *name;
	bool partial;
	s32 loop_cpu;		/* -1: every CPU loops */
	int victim_cpu;
	int nr_cpus;
	u64 max_loops;
	bool bound_missing;	/* no SCX_DSP_MAX_LOOPS in BTF */
	struct dsp_loop_obs obs;
	u64 timeout_ms;
	struct dsp_loop *skel;
	struct bpf_link *obs_links[NR_OBSERVERS];
	struct bpf_link *ops_link;
	pid_t victims[NR_VICTIMS];
};

struct dsp_loop_stats {
	u64 invocations;
	u64 rounds;
	u64 max_rounds;
	u64 rounds_hist[NR_RND_SLOTS];
	u64 breakouts;
	u64 foreign_breakouts;	/* on a CPU that wasn't told to loop */
	u64 bad_breakouts;
	u64 first_breakout_at;
	u64 self_kicks;
	u64 bal_kicks_other;
	u64 bal_kicks_flagged;
	u64 ext_kicks;
	u64 tp_breakouts;
	u64 tp_bad;
	u64 tp_mismatch;
	u64 dump_breakouts;
	u64 ev_breakouts;
	u64 resched;
	u64 lat_sum;
	u64 lat_max;
	u64 lat_hist[LAT_SLOTS];
	u64 sched_dispatch_calls;
	u64 sched_loop_dispatches;
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
	cpu_set_t mask;
	char c = 'r';

	CPU_ZERO(&mask);
	CPU_SET(cpu, &mask);
	if (sched_setaffinity(0, sizeof(mask), &mask))
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

static void collect_stats(struct dsp_loop_ctx *ctx, struct dsp_loop_stats *st)
{
	struct dsp_loop__bss *bss = ctx->skel->bss;
	int cpu, i;

	memset(st, 0, sizeof(*st));
	for (cpu = 0; cpu < ctx->nr_cpus; cpu++) {
		st->invocations += bss->obs_invocations[cpu];
		st->rounds += bss->obs_rounds[cpu];
		if (bss->obs_max_rounds[cpu] > st->max_rounds)
			st->max_rounds = bss->obs_max_rounds[cpu];
		for (i = 0; i < NR_RND_SLOTS; i++)
			st->rounds_hist[i] += bss->obs_rounds_hist[cpu][i];
		st->breakouts += bss->obs_breakouts[cpu];
		if (ctx->loop_cpu >= 0 && cpu != ctx->loop_cpu)
			st->foreign_breakouts += bss->obs_breakouts[cpu];
		st->bad_breakouts += bss->obs_bad_breakouts[cpu];
		if (bss->obs_first_breakout_at[cpu] &&
		    (!st->first_breakout_at ||
		     bss->obs_first_breakout_at[cpu] < st->first_breakout_at))
			st->first_breakout_at = bss->obs_first_breakout_at[cpu];
		st->self_kicks += bss->obs_self_kicks[cpu];
		st->bal_kicks_other += bss->obs_bal_kicks_other[cpu];
		st->bal_kicks_flagged += bss->obs_bal_kicks_flagged[cpu];
		st->ext_kicks += bss->obs_ext_kicks[cpu];
		st->tp_breakouts += bss->obs_tp_breakouts[cpu];
		st->tp_bad += bss->obs_tp_bad[cpu];
		st->tp_mismatch += bss->obs_tp_mismatch[cpu];
		st->resched += bss->obs_resched[cpu];
		st->lat_sum += bss->obs_lat_sum[cpu];
		if (bss->obs_lat_max[cpu] > st->lat_max)
			st->lat_max = bss->obs_lat_max[cpu];
		for (i = 0; i < LAT_SLOTS; i++)
			st->lat_hist[i] += bss->obs_lat_hist[cpu][i];
		st->sched_dispatch_calls += bss->sched_dispatch_calls[cpu];
		st->sched_loop_dispatches += bss->sched_loop_dispatches[cpu];
	}
	st->dump_breakouts = dump_breakouts(ctx->skel->data_uei_dump->uei_dump);
	st->ev_breakouts = ctx->skel->bss->exit_ev_breakouts;
}

/*
 * The @pct percentile of the reschedule latency, in usecs. The histogram only
 * has log2 resolution, so this is the upper bound of the slot holding the
 * percentile (2^n - 1 ns for slot n), rounded up to a whole usec, and never
 * more than the largest latency seen.
 */
static u64 lat_percentile_us(const struct dsp_loop_stats *st, u64 pct)
{
	u64 total = 0, want, seen = 0, bound;
	int i;

	for (i = 0; i < LAT_SLOTS; i++)
		total += st->lat_hist[i];
	if (!total)
		return 0;

	want = (total * pct + 99) / 100;
	for (i = 0; i < LAT_SLOTS; i++) {
		seen += st->lat_hist[i];
		if (seen >= want)
			break;
	}
	if (i >= LAT_SLOTS)
		i = LAT_SLOTS - 1;
	if (!i)
		return 0;

	bound = ((1ULL << i) - 1) < st->lat_max ? ((1ULL << i) - 1) : st->lat_max;
	return (bound + USEC_NS - 1) / USEC_NS;
}

/* zero the module's figures; false if it is not loaded */
static bool mod_reset(void)
{
	FILE *f = fopen(MOD_FIGURES, "w");
	bool ok;

	if (!f)
		return false;
	ok = fputs("reset\n", f) >= 0;
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
		m->breakouts = mod_value(line, " breakouts=");
		m->self_kicks = mod_value(line, " self_kicks=");
		m->resched = mod_value(line, " resched=");
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
 *   self-kick   scx_kick_cpu(cpu, flags) (6.12 with this series),
 *               scx_kick_cpu(sch, cpu, flags) (7.3), told apart by their
 *               number of parameters, or else scx_bpf_kick_cpu() (plain 6.12)
 *
 * Skip, saying why, where one of them is missing: the observers would see
 * nothing and the test would fail for the wrong reason.
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

	obs->has_tp = btf_has(btf, "btf_trace_sched_ext_dispatch_loop_breakout",
			      BTF_KIND_TYPEDEF);
	obs->has_ev = btf_has_member(btf, "scx_event_stats", "SCX_EV_DISPATCH_LOOP_BREAKOUT");
	btf__free(btf);

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

static enum scx_test_status setup_common(void **ctxp, const char *name,
					 bool one_cpu, bool partial)
{
	struct dsp_loop_obs obs = {};
	struct dsp_loop_ctx *ctx;
	struct dsp_loop *skel;
	int nr_cpus = libbpf_num_possible_cpus();
	u64 max_loops = 0;
	bool bound_missing = false;
	enum scx_test_status status;

	SCX_FAIL_IF(nr_cpus <= 0, "libbpf_num_possible_cpus() failed (%d)", nr_cpus);
	SCX_FAIL_IF(nr_cpus > MAX_CPUS, "%d CPUs, the observers only track %d",
		    nr_cpus, MAX_CPUS);

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
			"the dispatch loop is unbounded, expect a lock-up");
		max_loops = DSP_MAX_LOOPS_DFL;
		bound_missing = true;
	}
	SCX_GT(max_loops, 0);
	SCX_FAIL_IF(partial && !SCX_OPS_SWITCH_PARTIAL, "SCX_OPS_SWITCH_PARTIAL missing");

	ctx = calloc(1, sizeof(*ctx));
	SCX_FAIL_IF(!ctx, "Failed to allocate ctx");
	ctx->name = name;
	ctx->partial = partial;
	ctx->nr_cpus = nr_cpus;
	ctx->max_loops = max_loops;
	ctx->bound_missing = bound_missing;
	ctx->obs = obs;
	/* with a single CPU, one_cpu loops on every CPU, that's fine */
	ctx->loop_cpu = one_cpu ? nr_cpus - 1 : -1;
	ctx->victim_cpu = nr_cpus - 1;

	skel = dsp_loop__open();
	if (!skel) {
		free(ctx);
		SCX_FAIL("Failed to open skel");
	}
	skel->data->loop_cpu = ctx->loop_cpu;
	skel->bss->max_loops = max_loops;

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

static enum scx_test_status dsp_loop_run(void *arg)
{
	struct dsp_loop_ctx *ctx = arg;
	struct dsp_loop *skel = ctx->skel;
	struct user_exit_info *ei = &skel->data->uei;
	u64 eject_bound_ms = EJECT_TIMEOUTS * ctx->timeout_ms + EJECT_SLACK_MS;
	u64 arm_at, exit_at, eject_ms, min_resched;
	struct mod_figures mod = {};
	bool has_mod;
	struct dsp_loop_stats st;
	enum scx_test_status status;

	status = attach_observers(ctx);
	if (status != SCX_TEST_PASS)
		return status;

	/*
	 * Victims first: until the scheduler is attached, they run as normal
	 * tasks (SCHED_EXT falls back to the fair class). Attaching and then
	 * arming right away leaves the watchdog no window to catch a victim
	 * starved by the set-up itself, which on one CPU in partial mode,
	 * where the fair class always goes first, it otherwise can.
	 */
	status = start_victims(ctx);
	if (status != SCX_TEST_PASS)
		return status;

	ctx->ops_link = bpf_map__attach_struct_ops(skel->maps.dsp_loop_ops);
	SCX_FAIL_IF(!ctx->ops_link, "Failed to attach scheduler");

	SCX_EQ(UEI_EXITED(skel, uei), EXIT_KIND(SCX_EXIT_NONE));

	has_mod = mod_reset();
	skel->bss->watching = true;
	arm_at = now_ns();
	skel->bss->armed = true;

	while (!UEI_EXITED(skel, uei)) {
		SCX_FAIL_IF(now_ns() - arm_at > EXIT_DEADLINE_MS * MSEC_NS,
			    "Scheduler not ejected within %dms of arming",
			    EXIT_DEADLINE_MS);
		usleep(POLL_INTERVAL_US);
	}
	skel->bss->armed = false;
	skel->bss->watching = false;

	has_mod = has_mod && mod_read(&mod);
	exit_at = skel->bss->exit_at;
	eject_ms = exit_at > arm_at ? (exit_at - arm_at) / MSEC_NS : 0;
	collect_stats(ctx, &st);

	/* one machine-readable line, printed in pieces to keep the format strings whole */
	printf("LOOPGUARD test=%s cpus=%d timeout_ms=%lu breakouts=%lu kicks=%lu resched=%lu",
	       ctx->name, ctx->nr_cpus, ctx->timeout_ms, st.breakouts, st.self_kicks, st.resched);
	printf(" max_rounds=%lu eject_ms=%lu lat_p50_us=%lu lat_p99_us=%lu lat_max_us=%lu",
	       st.max_rounds, eject_ms, lat_percentile_us(&st, 50),
	       lat_percentile_us(&st, 99), st.lat_max / USEC_NS);
	printf(" bpf_dispatches=%lu observed_rounds=%lu tp_breakouts=%ld dump_breakouts=%ld",
	       st.sched_loop_dispatches, st.rounds,
	       ctx->obs.has_tp ? (long)st.tp_breakouts : -1L,
	       ctx->obs.has_tp ? (long)st.dump_breakouts : -1L);
	printf(" event_breakouts=%ld\n", ctx->obs.has_ev ? (long)st.ev_breakouts : -1L);

	printf("%s: loop_cpu=%d victim_cpu=%d partial=%d max_loops=%lu invocations=%lu\n",
	       ctx->name, ctx->loop_cpu, ctx->victim_cpu, ctx->partial, ctx->max_loops,
	       st.invocations);
	printf("%s: rounds/invocation 0:%lu 1..max-1:%lu max:%lu >max:%lu\n",
	       ctx->name, st.rounds_hist[RND_ZERO], st.rounds_hist[RND_BELOW],
	       st.rounds_hist[RND_AT_MAX], st.rounds_hist[RND_ABOVE]);
	printf("%s: first_breakout_ms=%lu lat_avg_us=%lu dispatch_calls=%lu\n",
	       ctx->name,
	       st.first_breakout_at > arm_at ? (st.first_breakout_at - arm_at) / MSEC_NS : 0,
	       st.resched ? st.lat_sum / st.resched / USEC_NS : 0,
	       st.sched_dispatch_calls);
	printf("%s: observed: %s() rounds by %s() kicks by %s\n",
	       ctx->name, ctx->obs.pick ? "do_pick_task_scx" : "balance_scx",
	       ctx->obs.dsq_insert ? "scx_bpf_dsq_insert___v2" : "scx_bpf_dispatch",
	       kick_fn(&ctx->obs));
	printf("%s: kicks in invocations: other=%lu flagged=%lu, outside: %lu\n",
	       ctx->name, st.bal_kicks_other, st.bal_kicks_flagged, st.ext_kicks);
	if (ctx->obs.has_tp)
		printf("%s: tracepoint: bad=%lu mismatched=%lu\n",
		       ctx->name, st.tp_bad, st.tp_mismatch);
	if (has_mod)
		printf("%s: module: breakouts=%lu self_kicks=%lu resched=%lu rounds_max=%lu\n",
		       ctx->name, mod.breakouts, mod.self_kicks, mod.resched, mod.rounds_max);
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

	/* 3. every break-out after exactly SCX_DSP_MAX_LOOPS rounds, with a self-kick */
	SCX_GT(st.breakouts, 0);
	SCX_EQ(st.max_rounds, ctx->max_loops);
	SCX_EQ(st.rounds_hist[RND_ABOVE], 0);
	SCX_EQ(st.bad_breakouts, 0);
	SCX_EQ(st.self_kicks, st.breakouts);
	SCX_EQ(st.bal_kicks_other, 0);
	SCX_EQ(st.foreign_breakouts, 0);
	SCX_GE(st.first_breakout_at, arm_at);
	SCX_LE(st.first_breakout_at, exit_at);

	/*
	 * 3a. the kernel's own account agrees: one tracepoint hit per
	 * break-out, with this CPU and the bound, and a nonzero break-out
	 * count in the debug dump, which the dump took while the loops went on
	 */
	if (ctx->obs.has_tp) {
		SCX_EQ(st.tp_breakouts, st.breakouts);
		SCX_EQ(st.tp_bad, 0);
		SCX_EQ(st.tp_mismatch, 0);
		SCX_GT(st.dump_breakouts, 0);
		SCX_LE(st.dump_breakouts, st.breakouts);
	}

	/*
	 * 3b. the kernel's event counter (7.3) agrees. The kernel counts every
	 * break-out from the scheduler's enabling until ops.exit() reads the
	 * count, after the last invocation that could loop has returned. The
	 * observers count those that end while @watching, which is set before
	 * @armed and cleared after ops.exit(). Nothing loops before @armed, so
	 * each break-out seen here must be in the kernel's count, and the
	 * kernel may only have more from an invocation that saw @armed but
	 * still a stale @watching at its end, at most one per CPU. Anything
	 * else, such as a self-kick without a break-out or a break-out the
	 * kernel did not count, shows as a difference.
	 */
	if (ctx->obs.has_ev) {
		SCX_FAIL_IF(!ctx->skel->bss->exit_ev_read,
			    "ops.exit() did not read the event counters");
		SCX_GE(st.ev_breakouts, st.breakouts);
		SCX_LE(st.ev_breakouts, st.breakouts + ctx->nr_cpus);
	}

	/*
	 * 3c. the kernel module, where loaded, counted the same: the windows
	 * differ by the invocations in flight at arming, at most one per CPU
	 */
	if (has_mod) {
		SCX_GT(mod.breakouts, 0);
		SCX_GE(mod.breakouts + ctx->nr_cpus, st.breakouts);
		SCX_LE(mod.breakouts, st.breakouts + ctx->nr_cpus);
		SCX_EQ(mod.self_kicks, mod.breakouts);
		SCX_EQ(mod.rounds_max, ctx->max_loops);
	}

	/* 4. the kicked CPU came back, bar the last break-out per CPU */
	min_resched = st.breakouts > (u64)ctx->nr_cpus ? st.breakouts - ctx->nr_cpus : 0;
	SCX_GT(st.resched, 0);
	SCX_GE(st.resched, min_resched);
	SCX_LE(st.resched, st.breakouts);

	/* 5. the scheduler saw at least the rounds the kernel made */
	SCX_GT(st.rounds, 0);
	SCX_GT(st.sched_loop_dispatches, 0);
	SCX_LE(st.rounds, st.sched_loop_dispatches);

	/* 6. the system is still usable */
	return check_usable(ctx);
}

static void dsp_loop_cleanup(void *arg)
{
	struct dsp_loop_ctx *ctx = arg;
	int i;

	/* stop looping first, so that the victims can be reaped */
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
	.description = "Trap ops.dispatch() on the last CPU, expect bounded loops and a stall exit",
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
