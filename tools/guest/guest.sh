#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest (virtme-ng shares the toolchain root with it).
#
#   guest.sh selftests BINDIR RUNDIR [FILTERS]
#       run the sched_ext selftest runner, line-buffered (its tests fork, and
#       a block-buffered stdout would be printed twice), into RUNDIR/runner.txt
#   guest.sh witness MODULE BINDIR RUNDIR TESTS
#       the witness's TESTS, each from zeroed figures, with the
#       scx_loopguard_watch module loaded, for make mutants; the runner's
#       output into RUNDIR/runner.txt, the module's figures after each test
#       into RUNDIR/figures.txt
#   guest.sh kselftest INSTALLDIR RUNDIR TIMEOUT
#       run_kselftest.sh of the kselftest framework's install (timeout
#       overridden to TIMEOUT s), line-buffered: its output into
#       RUNDIR/kselftest.txt, the runner's own lines (the framework's "# "
#       taken off) into RUNDIR/runner.txt, and the guest's uptime at each
#       test's start and at the end into RUNDIR/times.txt
#   guest.sh failpath BINDIR RUNDIR FILTER
#       the runner once, for the tests matching FILTER, on a kernel whose
#       watchdog never fires; its output into RUNDIR/runner.txt, and how many
#       seconds it took into RUNDIR/time.txt
#   guest.sh soak BINDIR RUNDIR N FILTERS
#       run the tests matching each word of FILTERS, N times in a row
#   guest.sh qmap BINDIR RUNDIR COUNT SECS
#       run scx_qmap -l COUNT under CPU-bound load for at most SECS
#   guest.sh rust MODULE BINDIR SCXDIR RUNDIR CYCLES TESTS [LEGIT]
#       load the scx_loopguard_watch module, run each of TESTS (the
#       witness's) and each scheduler of LEGIT under load, each from zeroed
#       figures, into RUNDIR/figures.txt; then load and unload the module
#       CYCLES times while scx_simple runs
#   guest.sh kprobes SAMPLE RUNDIR FORKS
#       the kernel log of the boot, whose KUnit run (kunit.enable=1) holds the
#       Rust doctests, into RUNDIR/kunit.txt; then load the rust_kprobe
#       sample, start FORKS processes, unload it, its lines into
#       RUNDIR/sample.txt (SAMPLE -: none, the doctests only)
#   guest.sh kprobe_repro MODULE RUNDIR READS
#       load the kprobes fix's reproducer (tools/repro), read /proc/cmdline
#       READS times, then its parameters and how many probes the kprobes
#       debugfs list has on the function; then have it register a probe
#       like the first without its ftrace_ops, and read READS times again;
#       all as one "KPROBE_REPRO key=value..." line into RUNDIR/repro.txt;
#       then unload it
#   guest.sh debugfs_repro MODULE RUNDIR
#       load the debugfs fix's reproducer (the tree's rust_debugfs_scoped
#       sample), hold its control/create file open in a process of its own,
#       and try to unload it; if that is refused, close the file and unload
#       it again; one "DEBUGFS_REPRO key=value..." line into RUNDIR/repro.txt.
#       If the unload succeeds with the file open, the file stays open: the
#       holder outlives this script (closing it would run freed code)
#   guest.sh stress MODULE RUNDIR
#       the kretprobe stress (rust/kretprobe_stress): loaded, which runs
#       its rounds, while one shell reads /proc/self/stat in a loop (short
#       calls of the probed __task_pid_nr_ns()) and another sleeps 5 ms in
#       a loop (calls of hrtimer_nanosleep() that sleep); its lines into
#       RUNDIR/stress.txt
#   guest.sh census MODULE RUNDIR SECS SCHEDULER...
#       with the scx_loopguard_watch module loaded, each SCHEDULER (a path)
#       under each workload (perf bench sched messaging, stress-ng CPU and
#       fork, a parallel C build) for about SECS: one "CENSUS key=value..."
#       line per pair into RUNDIR/census.txt, the module's figures into
#       RUNDIR/figures.txt, the scheduler's output into RUNDIR/NAME.txt (each
#       scheduler is loaded once and runs the three workloads in turn)
#   guest.sh bench_overhead SCXDIR RUNDIR ITER WARM SCHEDULER...
#       perf bench sched messaging and pipe, ITER times each, under each
#       SCHEDULER (of SCXDIR), after WARM untimed runs of each; one
#       "BENCH ..." line per measurement: its CPU time (perf's task-clock;
#       under ICOUNT, its instructions) and its elapsed time
#   guest.sh bench_recovery MODULE BINDIR RUNDIR REPS TIMEOUT_MS...
#       the dsp_loop_all_cpus test REPS times per watchdog timeout, with the
#       module loaded; its LOOPGUARD lines and the module's figures
set -u
. "$(dirname "$0")/markers.sh"

# banner MARK: GUEST_START or GUEST_DONE, with what the guest is.
banner() {
	echo "$1 kernel=$(uname -r) cpus=$(nproc)"
}

# A live guest always prints something: the host tells a frozen guest from a
# quiet test by this heartbeat, every HEARTBEAT_SECS (markers.sh), on the
# guest's output (not in the files under RUNDIR).
( while sleep "$HEARTBEAT_SECS"; do echo "$GUEST_ALIVE $(cut -d' ' -f1 /proc/uptime)"; done ) &
HEARTBEAT=$!

# run_tests FILTERS: the runner once for all tests (no FILTERS), or once per
# word of FILTERS (runner -t matches a substring of the test name).
run_tests() {
	local t
	if [[ -z $1 ]]; then
		stdbuf -oL -eL ./runner -q 2>&1
		return
	fi
	for t in $1; do
		stdbuf -oL -eL ./runner -q -t "$t" 2>&1
	done
}

selftests() {
	local bin=$1 rundir=$2 filter=${3:-}
	banner "$GUEST_START"
	cd "$bin" || exit 2
	run_tests "$filter" | tee "$rundir/runner.txt"
	banner "$GUEST_DONE"
}

# witness MOD BIN RUNDIR TESTS: the witness's TESTS with the module
# loaded, its figures saved after each, for make mutants: the BPF witness
# cross-checks the module's figures, and the host reads them on their own.
witness() {
	local mod=$1 bin=$2 rundir=$3 tests=$4 t
	banner "$GUEST_START"
	mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
	sysctl -qw debug.kprobes-optimization=0
	: >"$rundir/figures.txt"
	if insmod "$mod"; then
		echo "module loaded" >"$rundir/module.txt"
	else
		echo "module insmod failed" >"$rundir/module.txt"
	fi
	cd "$bin" || exit 2
	for t in $tests; do
		[[ -w $FIG ]] && echo reset >"$FIG"
		run_tests "$t" | tee -a "$rundir/runner.txt"
		[[ -r $FIG ]] && figures "$t" "$rundir"
	done
	banner "$GUEST_DONE"
}

kselftest() {
	local dir=$1 rundir=$2 to=$3 l
	banner "$GUEST_START"
	# The framework writes each program's output to /dev/stdout, opened
	# anew: it must be this process's stdout, as on any distribution, not
	# the console the guest's init may have linked it to.
	[[ $(readlink /dev/stdout) == /proc/self/fd/1 ]] || ln -sfn /proc/self/fd/1 /dev/stdout
	cd "$dir" || exit 2
	stdbuf -oL -eL ./run_kselftest.sh --override-timeout "$to" 2>&1 | tee "$rundir/kselftest.txt" |
		while IFS= read -r l; do
			case $l in
			"# TEST: "*) echo "$(cut -d' ' -f1 /proc/uptime) ${l#\# TEST: }" >>"$rundir/times.txt" ;;
			esac
			case $l in
			"# "*) printf '%s\n' "${l#\# }" >>"$rundir/runner.txt" ;;
			esac
			printf '%s\n' "$l"
		done
	echo "$(cut -d' ' -f1 /proc/uptime) END" >>"$rundir/times.txt"
	banner "$GUEST_DONE"
}

failpath() {
	local bin=$1 rundir=$2 filter=$3 t0 t1
	banner "$GUEST_START"
	cd "$bin" || exit 2
	t0=$(cut -d' ' -f1 /proc/uptime)
	run_tests "$filter" | tee "$rundir/runner.txt"
	t1=$(cut -d' ' -f1 /proc/uptime)
	echo "runner_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" | tee "$rundir/time.txt"
	banner "$GUEST_DONE"
}

soak() {
	local bin=$1 rundir=$2 n=$3 filter=$4 i
	banner "$GUEST_START"
	cd "$bin" || exit 2
	for ((i = 1; i <= n; i++)); do
		echo "LOOPGUARD-SOAK round=$i"
		run_tests "$filter"
	done | tee "$rundir/runner.txt"
	banner "$GUEST_DONE"
}

qmap() {
	local bin=$1 rundir=$2 count=$3 secs=$4 state rc=0
	banner "$GUEST_START"
	load_start
	timeout -s INT "$secs" "$bin/scx_qmap" -l "$count" >"$rundir/qmap.txt" 2>&1 || rc=$?
	load_stop
	state=$(cat /sys/kernel/sched_ext/state 2>/dev/null)
	echo "qmap_rc=$rc state=$state" | tee "$rundir/result.txt"
	dmesg | grep -E 'sched_ext: BPF scheduler "qmap"' | tee -a "$rundir/result.txt"
	tail -n 5 "$rundir/qmap.txt"
	banner "$GUEST_DONE"
}

# CPU-bound load: two busy loops per CPU. Stopped by their PIDs, never by a
# bare wait: the heartbeat is a background job too.
LOAD=()
load_start() {
	local i
	for ((i = 0; i < $(nproc) * 2; i++)); do
		(while :; do :; done) &
		LOAD+=($!)
	done
}
load_stop() {
	kill "${LOAD[@]}" 2>/dev/null
	wait "${LOAD[@]}" 2>/dev/null
	LOAD=()
}

FIG=/sys/kernel/debug/scx_loopguard/figures

# figures SCENARIO RUNDIR: append the module's figures under a header line.
figures() {
	{
		echo "scenario $1"
		cat "$FIG"
		echo "end"
	} >>"$2/figures.txt"
}

TRACE=/sys/kernel/tracing
trace_mount() { mountpoint -q $TRACE || mount -t tracefs none $TRACE 2>/dev/null; }

# trace_tail BUFFER FILE: a trace buffer's last 80 lines, without the
# header, into FILE.
trace_tail() { grep -v '^#' "$1" | tail -n 80 >"$2"; }

# trace_stop_on: the top-level trace buffer emptied and recording every
# context switch, and the module armed to write one line at its next
# break-out and turn the buffer off (its figures file's trace_stop). Fails
# without tracefs.
trace_stop_on() {
	trace_mount
	[[ -w $TRACE/tracing_on ]] || return 1
	echo 0 >$TRACE/tracing_on
	echo >$TRACE/trace
	echo 1 >$TRACE/events/sched/sched_switch/enable
	echo 1 >$TRACE/tracing_on
	echo trace_stop >"$FIG"
}

# trace_stop_result FILE: the buffer's last lines into FILE; prints
# "marker-last" if the module stopped it with its line the last of its CPU
# (another CPU may record between the line and the stop), "running" if
# nothing stopped it, "no-marker" if it stopped otherwise; then the number
# of context switches in FILE.
trace_stop_result() {
	local on
	on=$(cat $TRACE/tracing_on 2>/dev/null)
	echo 0 >$TRACE/tracing_on
	echo 0 >$TRACE/events/sched/sched_switch/enable
	trace_tail $TRACE/trace "$1"
	if ((${on:-1})); then
		echo -n running
	elif awk '/ scx_loopguard_watch: dispatch-loop break-out cpu=[0-9]+ rounds=[0-9]+$/ {
			m = NR; match($0, /\[[0-9]+\]/); c = substr($0, RSTART, RLENGTH); next }
		m && index($0, c) { later = 1 }
		END { exit !(m && !later) }' "$1"; then
		echo -n marker-last
	else
		echo -n no-marker
	fi
	echo " $(grep -c ' sched_switch: ' "$1")"
}

rust() {
	local mod=$1 st=$2 scx=$3 rundir=$4 cycles=$5 tests=$6 legit=${7:-}
	local t s rc i ok=0 sp ts='not-run 0' tr
	banner "$GUEST_START"
	mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
	# Plain int3 kprobes, no jump optimisation: fewer text patches under TCG.
	sysctl -qw debug.kprobes-optimization=0
	: >"$rundir/figures.txt"
	if ! insmod "$mod"; then
		echo "LOOPGUARD-RUST insmod failed" | tee "$rundir/result.txt"
		banner "$GUEST_DONE"
		return
	fi
	# The looping scheduler: the kselftests, which cross-check with the module.
	# The first one's break-outs also stop the trace.
	for t in $tests; do
		echo reset >"$FIG"
		tr=no
		[[ $t == dsp_loop_all_cpus ]] && { trace_stop_on && tr=yes || ts='no-tracefs 0'; }
		(cd "$st" && stdbuf -oL -eL ./runner -q -t "$t" 2>&1) | tee -a "$rundir/runner.txt"
		figures "$t" "$rundir"
		[[ $tr == yes ]] && ts=$(trace_stop_result "$rundir/trace-breakout.txt")
	done
	# Legitimate schedulers under load: the false-positive guard.
	for s in $legit; do
		"$scx/$s" >"$rundir/$s.txt" 2>&1 &
		sp=$!
		# Load and count from when it runs: loading a BPF scheduler takes
		# seconds under TCG, and more under load.
		wait_enabled "$sp"
		load_start
		echo reset >"$FIG"
		sleep 5
		figures "$s" "$rundir"
		rc=0
		kill -INT "$sp" 2>/dev/null
		wait "$sp" || rc=$?
		load_stop
		echo "scenario-rc $s $rc" >>"$rundir/figures.txt"
	done
	rmmod scx_loopguard_watch || echo "LOOPGUARD-RUST rmmod failed"
	# Load/unload cycles while a scheduler runs.
	load_start
	"$scx/scx_simple" >/dev/null 2>&1 &
	sp=$!
	sleep 2
	for ((i = 1; i <= cycles; i++)); do
		insmod "$mod" || break
		cat "$FIG" >/dev/null || break
		rmmod scx_loopguard_watch || break
		ok=$i
	done
	kill -INT "$sp" 2>/dev/null
	wait "$sp" 2>/dev/null
	load_stop
	# The figures file held open across an unload attempt: the module must
	# refuse to go while the file is open (its file_operations has an owner),
	# and go once the file is closed.
	held=no-load
	if insmod "$mod"; then
		exec 3<"$FIG"
		if rmmod scx_loopguard_watch 2>/dev/null; then
			held=unloaded-while-open
		else
			held=refused
		fi
		exec 3<&-
		[[ $held == refused ]] && rmmod scx_loopguard_watch && held=refused-then-unloaded
	fi
	{
		echo "open_across_unload $held"
		echo "trace_stop ${ts% *}"
		echo "trace_switches ${ts#* }"
		echo "cycles $ok/$cycles"
		echo "stale_probes $(grep -c -E 'balance_scx|do_pick_task_scx|flush_dispatch_buf|scx_bpf_consume|scx_bpf_dsq_move_to_local|kick_cpu' /sys/kernel/debug/kprobes/list 2>/dev/null)"
		echo "debugfs_left $(test -e /sys/kernel/debug/scx_loopguard && echo 1 || echo 0)"
		if [[ -w /sys/kernel/debug/kmemleak ]] && echo scan >/sys/kernel/debug/kmemleak 2>/dev/null; then
			echo "kmemleak $(grep -c '^unreferenced object' /sys/kernel/debug/kmemleak)"
		else
			echo "kmemleak off"
		fi
	} | tee "$rundir/result.txt"
	banner "$GUEST_DONE"
}

kprobes() {
	local mod=$1 rundir=$2 forks=$3 i
	banner "$GUEST_START"
	# KUnit ran before init: its KTAP is all in the log already.
	dmesg -t >"$rundir/kunit.txt"
	if [[ $mod == - ]]; then
		echo "no sample on this base"
	elif insmod "$mod"; then
		for ((i = 0; i < forks; i++)); do
			/bin/true
		done
		rmmod rust_kprobe || echo "LOOPGUARD-RUST rmmod failed"
	else
		echo "LOOPGUARD-RUST insmod failed"
	fi
	dmesg -t | grep 'rust_kprobe: ' | tee "$rundir/sample.txt"
	banner "$GUEST_DONE"
}

# read_cmdline N: call cmdline_proc_show(), the reproducer's function, N times
read_cmdline() {
	local i
	for ((i = 0; i < $1; i++)); do
		cat /proc/cmdline >/dev/null
	done
}

kprobe_repro() {
	local mod=$1 rundir=$2 reads=$3 p=/sys/module/kprobe_arm_error/parameters i line
	banner "$GUEST_START"
	if insmod "$mod"; then
		read_cmdline "$reads"
		line="KPROBE_REPRO reads=$reads"
		for i in ret ftrace disable_ret control_ret hits control_hits; do
			line+=" $i=$(cat "$p/$i")"
		done
		line+=" listed=$(grep -c ' cmdline_proc_show+' /sys/kernel/debug/kprobes/list)"
		# Without the ftrace_ops, a probe like the first must work.
		echo 1 >"$p/again"
		read_cmdline "$reads"
		line+=" again_ret=$(cat "$p/again_ret") again_hits=$(cat "$p/again_hits")"
		echo "$line" | tee "$rundir/repro.txt"
		rmmod kprobe_arm_error || echo "LOOPGUARD-REPRO rmmod failed"
	else
		echo "LOOPGUARD-REPRO insmod failed"
	fi
	dmesg -t | grep 'kprobe_arm_error: ' | tee -a "$rundir/repro.txt"
	banner "$GUEST_DONE"
}

debugfs_repro() {
	local mod=$1 rundir=$2 f=/sys/kernel/debug/rust_scoped_debugfs/control/create
	local line holder err=$rundir/rmmod.err rc i
	banner "$GUEST_START"
	line="DEBUGFS_REPRO insmod=0 held=0"
	if insmod "$mod"; then
		line="DEBUGFS_REPRO insmod=1"
		# The holder opens the file itself and keeps it open until killed.
		setsid bash -c 'exec 3>>"$1" && exec sleep infinity' holder "$f" </dev/null >/dev/null 2>&1 &
		holder=$!
		for ((i = 0; i < 20; i++)); do
			[[ $(readlink "/proc/$holder/fd/3" 2>/dev/null) == "$f" ]] && break
			sleep 0.25
		done
		if [[ $(readlink "/proc/$holder/fd/3" 2>/dev/null) == "$f" ]]; then
			line+=" held=1"
			rc=0
			rmmod rust_debugfs_scoped 2>"$err" || rc=1
			line+=" rmmod_open=$rc rmmod_open_err=$(tr -s ' \n' '__' <"$err")"
			if ((rc)); then
				kill "$holder"
				wait "$holder" 2>/dev/null
				rc=0
				rmmod rust_debugfs_scoped || rc=1
				line+=" rmmod_closed=$rc"
			fi
		else
			line+=" held=0"
			kill "$holder" 2>/dev/null
		fi
	fi
	echo "$line" | tee "$rundir/repro.txt"
	sync
	banner "$GUEST_DONE"
}

stress() {
	local mod=$1 rundir=$2 loop sleeper
	banner "$GUEST_START"
	# A builtin read: no fork per call, so the calls come fast. And calls
	# of hrtimer_nanosleep() that sleep.
	(while :; do read -r _ </proc/self/stat; done) &
	loop=$!
	(while :; do sleep 0.005; done) &
	sleeper=$!
	if insmod "$mod"; then
		rmmod kretprobe_stress || echo "LOOPGUARD-RUST rmmod failed"
	else
		echo "LOOPGUARD-RUST insmod failed"
	fi
	kill "$loop" "$sleeper"
	wait "$loop" "$sleeper" 2>/dev/null
	dmesg -t | grep 'kretprobe_stress: ' | tee "$rundir/stress.txt"
	banner "$GUEST_DONE"
}

# wait_enabled [PID [SECS]]: until a BPF scheduler is enabled, at most SECS
# (default 60), or until the scheduler's process PID has exited (it failed
# to load).
wait_enabled() {
	local i
	for ((i = 0; i < ${2:-60} * 2; i++)); do
		[[ $(cat /sys/kernel/sched_ext/state) == enabled ]] && return 0
		[[ -z ${1:-} ]] || kill -0 "$1" 2>/dev/null || return 1
		sleep 0.5
	done
	return 1
}

# The kernel's own count of dispatch-loop break-outs: 7.3's event, in the
# running scheduler's events file; 6.12's tracepoint, counted in the trace
# buffer (entries and overruns; census_trace_on enables it). "-" if absent.
breakouts_kernel() {
	local ev=/sys/kernel/sched_ext/root/events st
	if [[ -r $ev ]] && grep -q '^SCX_EV_DISPATCH_LOOP_BREAKOUT ' "$ev"; then
		awk '$1 == "SCX_EV_DISPATCH_LOOP_BREAKOUT" { print $2 }' "$ev"
	elif [[ -n ${TRACE_ON:-} ]]; then
		cat $TRACE/per_cpu/cpu*/stats | awk '$1 == "entries:" || $1 == "overrun:" { n += $2 } END { print n + 0 }'
	else
		echo -
	fi
}
census_trace_on() {
	local ev=events/sched_ext/sched_ext_dispatch_loop_breakout/enable
	trace_mount
	[[ -w $TRACE/$ev ]] || return 0
	echo 0 >$TRACE/tracing_on
	echo >$TRACE/trace
	echo 1 >$TRACE/$ev
	echo 1 >$TRACE/tracing_on
	TRACE_ON=1
}

# A trace buffer for the context of a break-out: every context switch,
# until the first break-out stops it, so that it ends with one occurrence
# and what ran before it. With the tracepoint (6.12), a second buffer that
# the tracepoint's traceoff trigger stops. The trigger has a filter that
# always holds: a trigger without one runs before the event is recorded,
# and would stop the buffer without the break-out in it. 7.3's event is a
# count: there, the module stops the top-level buffer (trace_stop_on).
CTX=$TRACE/instances/loopguard-census
census_context_on() {
	local ev=events/sched_ext/sched_ext_dispatch_loop_breakout
	if [[ -z ${TRACE_ON:-} ]]; then
		CTXF=$TRACE/trace
		trace_stop_on || CTXF=
		return 0
	fi
	[[ -d $CTX ]] || mkdir "$CTX" 2>/dev/null || return 0
	CTXF=$CTX/trace
	echo 0 >$CTX/tracing_on
	echo >$CTX/trace
	echo 1 >$CTX/events/sched/sched_switch/enable
	echo 1 >$CTX/$ev/enable
	echo '!traceoff:1 if nr_loops > 0' >$CTX/$ev/trigger 2>/dev/null
	echo 'traceoff:1 if nr_loops > 0' >$CTX/$ev/trigger
	echo 1 >$CTX/tracing_on
}

# census_context FILE: after a break-out, the context buffer's last lines;
# from the module's stop, only if it stopped the buffer with its line.
census_context() {
	[[ -r ${CTXF:-} ]] || return 0
	if [[ $CTXF == "$TRACE/trace" ]]; then
		[[ $(trace_stop_result "$1") == marker-last* ]] || rm -f "$1"
		return 0
	fi
	trace_tail "$CTXF" "$1"
}

# workload NAME SECS: about SECS of it, on every CPU.
workload() {
	local end=$((SECONDS + $2)) n d
	n=$(nproc)
	case $1 in
	messaging)
		while ((SECONDS < end)); do
			perf bench sched messaging -g "$n" -l 50 >/dev/null 2>&1 || return 1
		done
		;;
	# Its temporary files go to /tmp: the working directory is read-only.
	stress) stress-ng --temp-path /tmp --cpu "$n" --fork "$n" --timeout "$2s" --quiet >/dev/null 2>&1 ;;
	build)
		# A small C project, written here: 24 files and a Makefile,
		# built with make -j, again and again.
		d=$(mktemp -d)
		for i in $(seq 1 24); do
			printf 'static int f(int x) { return x * %d + 1; }\nint g%d(int x) { int s = 0; for (int i = 0; i < x; i++) s += f(i); return s; }\n' \
				"$i" "$i" >"$d/f$i.c"
		done
		printf 'SRCS := $(wildcard *.c)\nall: $(SRCS:.c=.o)\n%%.o: %%.c\n\tgcc -O2 -c $< -o $@\n' >"$d/Makefile"
		while ((SECONDS < end)); do
			rm -f "$d"/*.o
			make -s -C "$d" -j"$n" >/dev/null 2>&1 || { rm -rf "$d"; return 1; }
		done
		rm -rf "$d"
		;;
	*) return 1 ;;
	esac
}

census() {
	local mod=$1 rundir=$2 secs=$3 bin s w sp rc k0 k1 state wrc l lines
	shift 3
	banner "$GUEST_START"
	mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
	sysctl -qw debug.kprobes-optimization=0
	census_trace_on
	: >"$rundir/figures.txt"
	: >"$rundir/census.txt"
	if ! insmod "$mod"; then
		echo "CENSUS-ERROR the module did not load" | tee -a "$rundir/census.txt"
		banner "$GUEST_DONE"
		return
	fi
	# One load per scheduler (the verifier is slow under TCG), then each
	# workload from zeroed figures; its lines get the scheduler's exit
	# status once it has stopped.
	for bin in "$@"; do
		s=$(basename "$bin")
		"$bin" >"$rundir/$s.txt" 2>&1 &
		sp=$!
		# The verifier takes long on a production scheduler under TCG.
		if ! wait_enabled "$sp" 240; then
			rc=0
			kill -INT "$sp" 2>/dev/null
			wait "$sp" || rc=$?
			for w in messaging stress build; do
				echo "CENSUS sched=$s workload=$w cpus=$(nproc) loaded=no rc=$rc" | tee -a "$rundir/census.txt"
			done
			continue
		fi
		lines=()
		for w in messaging stress build; do
			# Each workload's trace starts empty and armed.
			census_context_on
			k0=$(breakouts_kernel)
			echo reset >"$FIG"
			wrc=0
			workload "$w" "$secs" || wrc=$?
			k1=$(breakouts_kernel)
			figures "$s/$w" "$rundir"
			state=$(cat /sys/kernel/sched_ext/state)
			[[ $k0 == - || $k1 == - ]] && k1=- k0=0
			# A finding: the trace of one occurrence.
			[[ $k1 != - ]] && ((k1 > k0)) && census_context "$rundir/trace-$s-$w.txt"
			lines+=("CENSUS sched=$s workload=$w cpus=$(nproc) loaded=yes state_after=$state workload_rc=$wrc kernel_breakouts=$([[ $k1 == - ]] && echo - || echo $((k1 - k0)))")
		done
		rc=0
		kill -INT "$sp" 2>/dev/null
		wait "$sp" || rc=$?
		for l in "${lines[@]}"; do
			echo "$l rc=$rc" | tee -a "$rundir/census.txt"
		done
	done
	rmmod scx_loopguard_watch || echo "CENSUS-ERROR rmmod failed"
	banner "$GUEST_DONE"
}

bench_overhead() {
	local scx=$1 rundir=$2 iter=$3 warm=$4 s i sp
	shift 4
	banner "$GUEST_START"
	for s in "$@"; do
		# Nothing crosses to the host while a workload runs: the
		# scheduler's output goes to the guest's /tmp, and the heartbeat
		# pauses for one run at a time (seconds; the host waits 60).
		"$scx/$s" >"/tmp/$s.txt" 2>&1 &
		sp=$!
		wait_enabled "$sp" || echo "BENCH-ERROR $s not enabled"
		# Untimed runs first: perf and its pages come in over 9p the
		# first time, and I/O waits on the host, not on the guest.
		for ((i = 1 - warm; i <= iter; i++)); do
			# 4 groups x 40 tasks x 25 loops of messages
			timed "sched=$s workload=messaging iter=$i" perf bench sched messaging -g 4 -l 25
			# 5000 pipe round trips between two tasks
			timed "sched=$s workload=pipe iter=$i" perf bench sched pipe -l 5000
		done | grep -v -E ' iter=(0|-[0-9]+) ' | tee -a "$rundir/bench.txt"
		kill -INT "$sp" 2>/dev/null
		wait "$sp" 2>/dev/null
		cp "/tmp/$s.txt" "$rundir/"
	done
	banner "$GUEST_DONE"
}

# timed KEYS CMD...: one "BENCH KEYS value=SECONDS unit=cpu-s" line: the
# CPU time of CMD and its children (perf's task-clock, from the scheduler's
# clock: under ICOUNT, the instructions executed on their behalf), and the
# time it took from start to end (elapsed_ns: that includes idle time).
timed() {
	local keys=$1 t0 t1 rc=0 cpu
	shift
	kill -STOP "$HEARTBEAT"
	t0=$(date +%s%N)
	perf stat -x, -e task-clock -o /tmp/stat.csv -- "$@" >/dev/null 2>&1 || rc=$?
	t1=$(date +%s%N)
	kill -CONT "$HEARTBEAT"
	cpu=$(awk -F, '$3 ~ /^task-clock/ { print $1 }' /tmp/stat.csv)
	if ((rc)) || [[ -z $cpu ]]; then
		echo "BENCH-ERROR $keys exit=$rc task-clock=${cpu:-none}"
		return
	fi
	echo "BENCH $keys value=$(awk -v ms="$cpu" 'BEGIN { printf "%.6f", ms / 1000 }') unit=cpu-s elapsed_ns=$((t1 - t0))"
}

bench_recovery() {
	local mod=$1 st=$2 rundir=$3 reps=$4 t r
	shift 4
	banner "$GUEST_START"
	mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
	sysctl -qw debug.kprobes-optimization=0
	insmod "$mod" || echo "BENCH-ERROR insmod failed"
	: >"$rundir/figures.txt"
	for t in "$@"; do
		for ((r = 1; r <= reps; r++)); do
			echo reset >"$FIG"
			(cd "$st" && DSP_LOOP_TIMEOUT_MS=$t stdbuf -oL -eL ./runner -q -t dsp_loop_all_cpus 2>&1) |
				tee -a "$rundir/runner.txt"
			figures "timeout=$t,rep=$r" "$rundir"
		done
	done
	rmmod scx_loopguard_watch
	banner "$GUEST_DONE"
}

# The commands of the list at the top, and no other function of this file.
COMMANDS=" selftests witness kselftest failpath soak qmap rust kprobes kprobe_repro debugfs_repro stress census
	bench_overhead bench_recovery "
if (($# == 0)) || [[ $1 == *[[:space:]]* || $COMMANDS != *[[:space:]]"$1"[[:space:]]* ]]; then
	echo "guest.sh: no command '${1:-}'; one of:" $COMMANDS >&2
	kill "$HEARTBEAT"
	exit 2
fi
cmd=$1
shift
"$cmd" "$@"
