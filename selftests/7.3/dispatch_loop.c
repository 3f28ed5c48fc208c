// SPDX-License-Identifier: GPL-2.0
/*
 * Trap CPUs in the ops.dispatch() loop and check that the kernel breaks out
 * of it: the break-outs are counted, and the watchdog ejects the scheduler
 * for the tasks it starves. dispatch_loop_one_cpu traps one CPU, and
 * dispatch_loop_all_cpus every CPU the test may use: when the loop is not
 * bounded, that locks the machine up for good.
 */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <errno.h>
#include <sched.h>
#include <scx/common.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "dispatch_loop.bpf.skel.h"
#include "scx_test.h"

#ifndef SCHED_EXT
#define SCHED_EXT 7
#endif

/*
 * CPU-bound SCHED_EXT tasks pinned to each looping CPU: one may keep
 * running, as the CPU keeps its current task when it dispatches nothing,
 * and the other starves.
 */
#define VICTIMS_PER_CPU	2

/*
 * The watchdog looks every timeout_ms / 2 for a task that has waited
 * timeout_ms, so the stall exit is due 1.5 * timeout_ms after arming. The
 * test ends as soon as it comes; waiting for ten times timeout_ms only
 * matters on a kernel that fails, and leaves room for slow or emulated
 * machines.
 */
#define EJECT_WAIT_TIMEOUTS	10

struct dispatch_loop_ctx {
	struct dispatch_loop *skel;
	cpu_set_t cpus;		/* the CPUs that loop */
	int nr_victims;
	pid_t *victims;
};

static __u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static enum scx_test_status setup(void **ctx_ptr, bool all_cpus)
{
	struct dispatch_loop_ctx *ctx;
	struct dispatch_loop *skel;
	cpu_set_t cpus;
	__u32 key;
	__u8 trap = 1;
	int cpu = 0;

	/* the CPUs this task may run on are online */
	SCX_FAIL_IF(sched_getaffinity(0, sizeof(cpus), &cpus), "sched_getaffinity");
	if (!all_cpus) {
		while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &cpus))
			cpu++;
		SCX_FAIL_IF(cpu == CPU_SETSIZE, "No CPU to run on");
		CPU_ZERO(&cpus);
		CPU_SET(cpu, &cpus);
	}

	skel = dispatch_loop__open();
	SCX_FAIL_IF(!skel, "Failed to open");
	SCX_ENUM_INIT(skel);
	if (bpf_map__set_max_entries(skel->maps.trap_cpus, libbpf_num_possible_cpus()) ||
	    dispatch_loop__load(skel)) {
		dispatch_loop__destroy(skel);
		SCX_FAIL("Failed to load skel");
	}
	for (key = 0; key < CPU_SETSIZE; key++) {
		if (CPU_ISSET(key, &cpus) &&
		    bpf_map__update_elem(skel->maps.trap_cpus, &key, sizeof(key),
					 &trap, sizeof(trap), BPF_ANY)) {
			dispatch_loop__destroy(skel);
			SCX_FAIL("Failed to set CPU %u to loop", key);
		}
	}

	ctx = calloc(1, sizeof(*ctx));
	if (ctx)
		ctx->victims = calloc(CPU_COUNT(&cpus) * VICTIMS_PER_CPU, sizeof(pid_t));
	if (!ctx || !ctx->victims) {
		free(ctx);
		dispatch_loop__destroy(skel);
		SCX_FAIL("Failed to allocate context");
	}
	ctx->skel = skel;
	ctx->cpus = cpus;
	*ctx_ptr = ctx;

	return SCX_TEST_PASS;
}

static enum scx_test_status setup_one_cpu(void **ctx_ptr)
{
	return setup(ctx_ptr, false);
}

static enum scx_test_status setup_all_cpus(void **ctx_ptr)
{
	return setup(ctx_ptr, true);
}

static pid_t start_victim(void)
{
	pid_t parent = getpid();
	pid_t pid;

	pid = fork();
	if (pid)
		return pid;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		_exit(1);
	for (;;)
		asm volatile("" ::: "memory");
}

static void stop_victims(struct dispatch_loop_ctx *ctx)
{
	int i;

	for (i = 0; i < ctx->nr_victims; i++) {
		kill(ctx->victims[i], SIGKILL);
		waitpid(ctx->victims[i], NULL, 0);
	}
	ctx->nr_victims = 0;
}

static enum scx_test_status start_victims(struct dispatch_loop_ctx *ctx)
{
	struct sched_param param = {};
	cpu_set_t cpus;
	pid_t pid;
	int cpu, i;

	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &ctx->cpus))
			continue;
		CPU_ZERO(&cpus);
		CPU_SET(cpu, &cpus);
		for (i = 0; i < VICTIMS_PER_CPU; i++) {
			pid = start_victim();
			SCX_FAIL_IF(pid < 0, "fork");
			ctx->victims[ctx->nr_victims++] = pid;
			SCX_FAIL_IF(sched_setaffinity(pid, sizeof(cpus), &cpus),
				    "Failed to pin a task to CPU %d (%d)", cpu, errno);
			SCX_FAIL_IF(sched_setscheduler(pid, SCHED_EXT, &param),
				    "Failed to switch a task to SCHED_EXT (%d)", errno);
		}
	}

	return SCX_TEST_PASS;
}

static enum scx_test_status dispatch_loop_run(void *ctx_ptr)
{
	struct dispatch_loop_ctx *ctx = ctx_ptr;
	struct dispatch_loop *skel = ctx->skel;
	__u32 timeout_ms = skel->struct_ops.dispatch_loop_ops->timeout_ms;
	enum scx_test_status status;
	struct bpf_link *link;
	__u64 armed_at, waited;
	bool exited;

	status = start_victims(ctx);
	if (status != SCX_TEST_PASS)
		return status;

	link = bpf_map__attach_struct_ops(skel->maps.dispatch_loop_ops);
	SCX_FAIL_IF(!link, "Failed to attach scheduler");

	skel->bss->armed = true;
	armed_at = now_ms();

	/* without the bound on the loop, the machine locks up here instead */
	for (;;) {
		exited = UEI_EXITED(skel, uei);
		waited = now_ms() - armed_at;
		if (exited || waited >= EJECT_WAIT_TIMEOUTS * timeout_ms)
			break;
		usleep(10000);
	}

	/*
	 * Detach before the victims are killed: if the scheduler is still
	 * there, the starved ones can't run to die.
	 */
	bpf_link__destroy(link);
	stop_victims(ctx);

	SCX_FAIL_IF(!exited, "Not ejected within %llu ms (timeout_ms %u)",
		    (unsigned long long)waited, timeout_ms);
	SCX_EQ(skel->data->uei.kind, EXIT_KIND(SCX_EXIT_ERROR_STALL));
	SCX_FAIL_IF(!strstr(skel->data->uei.msg, "failed to run"),
		    "Expected a starved task, got \"%s\"", skel->data->uei.msg);
	/* every CPU set to loop called ops.dispatch() while armed */
	SCX_EQ(skel->bss->nr_trapped_cpus, CPU_COUNT(&ctx->cpus));
	/* each trapped CPU broke out; a kernel without the event can't say */
	if (__COMPAT_struct_has_field("scx_event_stats", "SCX_EV_DISPATCH_LOOP_BREAKOUT"))
		SCX_GE(skel->bss->nr_breakouts, skel->bss->nr_trapped_cpus);

	return SCX_TEST_PASS;
}

static void cleanup(void *ctx_ptr)
{
	struct dispatch_loop_ctx *ctx = ctx_ptr;

	stop_victims(ctx);
	dispatch_loop__destroy(ctx->skel);
	free(ctx->victims);
	free(ctx);
}

struct scx_test dispatch_loop_one_cpu = {
	.name = "dispatch_loop_one_cpu",
	.description = "Verify that a looping ops.dispatch() on one CPU is bounded and ejected",
	.setup = setup_one_cpu,
	.run = dispatch_loop_run,
	.cleanup = cleanup,
};

REGISTER_SCX_TEST(&dispatch_loop_one_cpu)

struct scx_test dispatch_loop_all_cpus = {
	.name = "dispatch_loop_all_cpus",
	.description = "Verify that a looping ops.dispatch() on every CPU is bounded and ejected",
	.setup = setup_all_cpus,
	.run = dispatch_loop_run,
	.cleanup = cleanup,
};

REGISTER_SCX_TEST(&dispatch_loop_all_cpus)
