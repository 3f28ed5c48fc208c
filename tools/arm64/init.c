// SPDX-License-Identifier: GPL-2.0
/*
 * The init of the guest of 'make rust ARCH=arm64' (tools/arm64/arm64.sh),
 * built with the kernel's nolibc, so that the guest needs no root file
 * system of its own: as PID 1 it mounts what the checks need, runs the
 * kprobes sample (SAMPLE_FORKS processes that exit with 0 while it is
 * loaded) and the kretprobe stress (loaded while one child calls getppid()
 * and another nanosleep() in loops), both modules from /, and powers the
 * guest off. The modules print
 * their figures to the console; this prints LOOPGUARD-ARM64 lines.
 *
 * Run as "init pidloop SECS" on any architecture, it calls getppid() for
 * SECS seconds: the calls that the stress probes.
 */

#define SAMPLE_FORKS 20
#define PIDLOOP_SECS 600

static void pidloop(int secs)
{
	time_t end = time(NULL) + secs;
	int i;

	while (time(NULL) < end)
		for (i = 0; i < 1000; i++)
			getppid();
}

/* Calls of hrtimer_nanosleep() that sleep 5 ms each, for SECS seconds. */
static void sleeploop(int secs)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 5000000 };
	time_t end = time(NULL) + secs;

	while (time(NULL) < end)
		syscall(__NR_nanosleep, &ts, NULL);
}

static pid_t spawn(void (*loop)(int), int secs)
{
	pid_t p = fork();

	if (p == 0) {
		loop(secs);
		exit(0);
	}
	return p;
}

static int insmod(const char *path)
{
	int fd = open(path, O_RDONLY), ret;

	if (fd < 0) {
		printf("LOOPGUARD-ARM64 cannot open %s: errno %d\n", path, errno);
		return -1;
	}
	ret = syscall(__NR_finit_module, fd, "", 0);
	if (ret)
		printf("LOOPGUARD-ARM64 insmod %s: errno %d\n", path, errno);
	close(fd);
	return ret;
}

static int rmmod(const char *name)
{
	int ret = syscall(__NR_delete_module, name, O_NONBLOCK);

	if (ret)
		printf("LOOPGUARD-ARM64 rmmod %s: errno %d\n", name, errno);
	return ret;
}

static void run_sample(void)
{
	pid_t p;
	int i;

	if (insmod("/rust_kprobe.ko"))
		return;
	for (i = 0; i < SAMPLE_FORKS; i++) {
		p = fork();
		if (p == 0)
			exit(0);
		if (p > 0)
			waitpid(p, NULL, 0);
	}
	rmmod("rust_kprobe");
}

static void run_stress(void)
{
	pid_t loops[2] = { spawn(pidloop, PIDLOOP_SECS), spawn(sleeploop, PIDLOOP_SECS) };
	int i;

	/* The module's init runs the rounds, with the loops going. */
	if (!insmod("/kretprobe_stress.ko"))
		rmmod("kretprobe_stress");
	for (i = 0; i < 2; i++) {
		if (loops[i] > 0) {
			kill(loops[i], SIGKILL);
			waitpid(loops[i], NULL, 0);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "pidloop")) {
		pidloop(atoi(argv[2]));
		return 0;
	}
	if (getpid() != 1) {
		printf("usage: %s pidloop SECS (or run as PID 1)\n", argv[0]);
		return 2;
	}
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	printf("LOOPGUARD-ARM64 start\n");
	run_sample();
	run_stress();
	printf("LOOPGUARD-ARM64 done\n");
	reboot(LINUX_REBOOT_CMD_POWER_OFF);
	return 0;
}
