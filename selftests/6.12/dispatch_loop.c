// SPDX-License-Identifier: GPL-2.0
/*
 * Trap one CPU in the ops.dispatch() loop and check that the kernel breaks
 * out of it: the break-outs are counted, and the watchdog ejects the
 * scheduler for the tasks it starves.
 *
 * The 6.12.y form: break-outs are counted from their tracepoint.
 */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <sched.h>
#include <scx/common.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "dispatch_loop.bpf.skel.h"
#include "scx_test.h"

/* CPU-bound tasks pinned to the looping CPU: one may keep running, one starves */
#define NR_VICTIMS	2

static pid_t victims[NR_VICTIMS];
static bool has_tp;

static __u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static enum scx_test_status setup(void **ctx)
{
	struct dispatch_loop *skel;
	cpu_set_t cpus;
	int cpu;

	/* the first CPU this task may run on is online */
	SCX_FAIL_IF(sched_getaffinity(0, sizeof(cpus), &cpus), "sched_getaffinity");
	for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &cpus); cpu++)
		;
	SCX_FAIL_IF(cpu == CPU_SETSIZE, "No CPU to run on");

	skel = dispatch_loop__open();
	SCX_FAIL_IF(!skel, "Failed to open");
	skel->rodata->loop_cpu = cpu;
	/* without the tracepoint, load anyway: the loop is what is tested */
	has_tp = libbpf_find_vmlinux_btf_id("sched_ext_dispatch_loop_breakout",
					    BPF_TRACE_RAW_TP) >= 0;
	bpf_program__set_autoload(skel->progs.dispatch_loop_breakout, has_tp);
	SCX_FAIL_IF(dispatch_loop__load(skel), "Failed to load skel");

	*ctx = skel;
	return SCX_TEST_PASS;
}

static void stop_victims(void)
{
	int i;

	for (i = 0; i < NR_VICTIMS; i++) {
		if (victims[i] > 0) {
			kill(victims[i], SIGKILL);
			waitpid(victims[i], NULL, 0);
			victims[i] = 0;
		}
	}
}

static enum scx_test_status run(void *ctx)
{
	struct dispatch_loop *skel = ctx;
	__u32 timeout_ms = skel->struct_ops.dispatch_loop_ops->timeout_ms;
	struct bpf_link *link, *tp_link = NULL;
	__u64 armed_at, waited;
	bool exited;
	cpu_set_t cpus;
	int i;

	CPU_ZERO(&cpus);
	CPU_SET(skel->rodata->loop_cpu, &cpus);
	for (i = 0; i < NR_VICTIMS; i++) {
		victims[i] = fork();
		SCX_FAIL_IF(victims[i] < 0, "fork");
		if (!victims[i]) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			for (;;)
				;
		}
		SCX_FAIL_IF(sched_setaffinity(victims[i], sizeof(cpus), &cpus),
			    "Failed to pin a victim to CPU %d", skel->rodata->loop_cpu);
	}

	if (has_tp)
		tp_link = bpf_program__attach(skel->progs.dispatch_loop_breakout);
	link = bpf_map__attach_struct_ops(skel->maps.dispatch_loop_ops);
	if (!link || (!tp_link && has_tp)) {
		stop_victims();
		bpf_link__destroy(link);
		bpf_link__destroy(tp_link);
		SCX_ERR("Failed to attach scheduler");
		return SCX_TEST_FAIL;
	}

	skel->bss->armed = true;
	armed_at = now_ms();

	/*
	 * The watchdog looks every timeout_ms / 2 for a task that has waited
	 * timeout_ms, so the stall exit is due 1.5 * timeout_ms after arming.
	 * Allow twice that for slow or emulated machines. Without the bound
	 * on the loop, the machine locks up instead.
	 */
	for (;;) {
		exited = UEI_EXITED(skel, uei);
		waited = now_ms() - armed_at;
		if (exited || waited >= 3 * timeout_ms)
			break;
		usleep(10000);
	}

	stop_victims();
	bpf_link__destroy(link);
	bpf_link__destroy(tp_link);

	/* once detached, the scheduler has exited, ejected or not */
	SCX_FAIL_IF(!exited, "Not ejected within %llu ms (timeout_ms %u)",
		    (unsigned long long)waited, timeout_ms);
	printf("# loop CPU %d, %llu break-outs, ejected after %llu ms (timeout_ms %u)\n",
	       skel->rodata->loop_cpu, (unsigned long long)skel->bss->nr_breakouts,
	       (unsigned long long)waited, timeout_ms);

	SCX_EQ(skel->data->uei.kind, EXIT_KIND(SCX_EXIT_ERROR_STALL));
	SCX_GT(skel->bss->nr_breakouts, 0);

	return SCX_TEST_PASS;
}

static void cleanup(void *ctx)
{
	stop_victims();
	dispatch_loop__destroy(ctx);
}

struct scx_test dispatch_loop = {
	.name = "dispatch_loop",
	.description = "Verify that a looping ops.dispatch() is bounded and ejected",
	.setup = setup,
	.run = run,
	.cleanup = cleanup,
};

REGISTER_SCX_TEST(&dispatch_loop)
