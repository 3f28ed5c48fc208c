#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot a kernel under virtme-ng and run one command in it, with a hard
# host-side timeout, the console saved to a log, and a splat scan.
#
#   vm.sh run NAME KERNEL [-c CPUS] [-t SECS] [-m MEM] [-s REGEX -i SECS] -- CMD...
#   vm.sh shell KERNEL [-c CPUS]
#
# NAME names the run: $OUT/logs/NAME.log holds the console and the guest's
# output; $OUT/runs/NAME/ is writable by the guest. KERNEL is "patched",
# "baseline" or a bzImage path. Exit status:
#   0 command passed, clean console    1 command failed
#   3 kernel splat in the console      124 guest hung (host timeout, or with
#   125 guest panicked                     -s/-i: silent for SECS after REGEX)
#   2 harness error, guest never booted    126 timeout before REGEX was seen
#
# -s REGEX -i SECS: once REGEX shows up in the log (the test has started), a
# guest that prints nothing for SECS is frozen: the guest scripts print a
# heartbeat every 2 s, so only a guest with every CPU stuck goes silent.
. "$(dirname "$0")/../lib/lib.sh"

kernel_image() {
	local k=$1
	[[ -f $k ]] || k=$WORK/kernels/$1/bzImage
	[[ -f $k ]] || die "no kernel '$1' (looked for $k); run 'make kernels' first"
	printf '%s\n' "$k"
}

# TCG unless KVM really works. Nested KVM on a guest host is pathologically
# slow here (minutes to decompress a kernel), so a host that is itself a
# guest gets TCG unless ACCEL=kvm says otherwise.
accel() {
	case ${ACCEL:-auto} in
	kvm) echo kvm ;;
	tcg) echo tcg ;;
	auto)
		if [[ -w /dev/kvm ]] && ! grep -qw hypervisor /proc/cpuinfo; then
			echo kvm
		else
			echo tcg
		fi
		;;
	*) die "ACCEL=$ACCEL: use auto, kvm or tcg" ;;
	esac
}

# The guests boot with the virtme-ng of tools/host/virtme-ng.txt, which
# toolchain.sh unpacks into the chroot, else with Debian's.
guest_vng() {
	if [[ -x $CHROOT$GUEST_VNG_DIR/vng ]]; then
		echo "$GUEST_VNG_DIR/vng"
	else
		echo vng
	fi
}

vng_args() {
	local cpus=$1 mem=$2 a
	a=$(accel)
	VNG=("$(guest_vng)" --run "$KIMG" --cpus "$cpus" --memory "$mem" --verbose
		--append "panic=-1 oops=panic softlockup_panic=0 rcupdate.rcu_cpu_stall_timeout=20"
		--append "hung_task_timeout_secs=30")
	# kmemleak is built in but off: its first automatic scan, a minute
	# after boot, is so slow under TCG that it silenced a guest for 20 s.
	# KMEMLEAK=1 turns it on for runs that want it.
	[[ ${KMEMLEAK:-0} == 1 ]] && VNG+=(--append "kmemleak=on")
	# More kernel parameters for one run (e.g. KUnit's, for the guest that
	# runs the Rust doctests).
	[[ -n ${LG_KARGS:-} ]] && VNG+=(--append "$LG_KARGS")
	# Multi-threaded TCG (one host thread per vCPU). The test kernel is
	# built without CONFIG_JUMP_LABEL, see tools/build/loopguard.config; with it,
	# TCG_THREAD=single avoids stale-int3 oopses but starves vCPUs.
	[[ $a == tcg ]] && VNG+=(--disable-kvm "--qemu-opts=-accel tcg,thread=${TCG_THREAD:-multi}")
	ACCEL_USED=$a
}

cmd_run() {
	local name=$1 cpus=2 secs=300 mem=2G rc=0 log rundir t0 opt start='' idle=0
	KIMG=$(kernel_image "$2")
	shift 2
	OPTIND=1
	while getopts c:t:m:s:i: opt; do
		case $opt in
		s) start=$OPTARG ;;
		i) idle=$OPTARG ;;
		c) cpus=$OPTARG ;;
		t) secs=$OPTARG ;;
		m) mem=$OPTARG ;;
		*) die "usage: vm.sh run NAME KERNEL [-c CPUS] [-t SECS] [-m MEM] -- CMD..." ;;
		esac
	done
	shift $((OPTIND - 1))
	[[ ${1:-} == -- ]] && shift
	(($# > 0)) || die "vm.sh run: no command"

	mkdir -p "$OUT/logs"
	log=$OUT/logs/$name.log
	rundir=$OUT/runs/$name
	rm -rf "$rundir"
	mkdir -p "$rundir"
	vng_args "$cpus" "$mem"
	VNG+=(--rwdir "$rundir=$rundir" --exec "$(printf '%q ' "$@")")

	t0=$(date +%s)
	msg VM "$name: $(basename "$(dirname "$KIMG")")/$(basename "$KIMG"), $cpus CPU(s), $ACCEL_USED, timeout ${secs}s"
	# The lock keeps one VM (or build) at a time; the timeout covers the
	# guest only, not the wait for the lock. A guest that fails to boot
	# (122, see watch_guest) never ran the test: it is booted once more.
	with_lock watch_guest "$log" "$secs" "$start" "$idle" || rc=$?
	if ((rc == 122)); then
		mv "$log" "$log.boot-failed"
		msg RETRY "$name: the guest stalled while booting, before the test (TCG); booting again (first log: $log.boot-failed)"
		rm -rf "$rundir"
		mkdir -p "$rundir"
		rc=0
		with_lock watch_guest "$log" "$secs" "$start" "$idle" || rc=$?
		((rc == 122)) && rc=126
	fi
	[[ $V == 1 ]] && cat "$log" >&2

	if ((rc == 126)); then
		echo "scx-loopguard: TIMEOUT: the test did not start within ${secs}s" >>"$log"
		msg TIMEOUT "$name: '$start' never showed up within ${secs}s (log: $log)"
		return 126
	elif ((rc == 123)); then
		echo "scx-loopguard: HANG: silent for ${idle}s after '$start', guest killed by the host" >>"$log"
		msg HANG "$name: guest froze: no output for ${idle}s after the test started (log: $log)"
		return 124
	elif ((rc == 124)); then
		echo "scx-loopguard: HANG: no exit after ${secs}s, guest killed by the host" >>"$log"
		msg HANG "$name: guest did not finish within ${secs}s (log: $log)"
		return 124
	elif ((rc == 255)); then
		msg PANIC "$name: guest panicked after $(elapsed "$t0") (log: $log)"
		return 125
	fi
	# Any timestamped kernel line: the first ones, before the serial
	# console is up, never reach the log.
	if ! grep -qE '^\[ *[0-9]+\.[0-9]+\] ' "$log"; then
		tail -n 5 "$log" >&2
		msg ERROR "$name: the guest never booted (vng exit $rc, log: $log)"
		return 2
	fi
	local scan=0
	"$LG_TOP/tools/lib/ktap.py" has-splat "$log" >&2 || scan=$?
	case $scan in
	0)
		msg SPLAT "$name: kernel splat in the console (log: $log)"
		return 3
		;;
	1) ;;
	*)
		msg ERROR "$name: the splat scanner failed (exit $scan), the console is unchecked (log: $log)"
		return 2
		;;
	esac
	msg VM "$name: exit $rc after $(elapsed "$t0")"
	((rc == 0)) || return 1
}

# watch_guest LOG SECS START IDLE: run "${VNG[@]}" into LOG, kill it after
# SECS (124), or (123) after IDLE silent seconds once START is in LOG; 126 if
# SECS ran out before START showed up. 122 if, before START, the kernel
# reported an RCU stall (seen under TCG: a vCPU's timer never fires during
# boot) or START did not show up within BOOT_SECS.
BOOT_SECS=${BOOT_SECS:-240}
BOOT_STALL='rcu: INFO: rcu_(preempt|sched) detected stalls|rcu: .* kthread timer wakeup didn.t happen'

watch_guest() {
	local log=$1 secs=$2 start=$3 idle=$4 pid t0 size last_size=-1 quiet=0 started=0 rc=0
	LG_GUEST_ROOT=1 in_chroot "${VNG[@]}" >"$log" 2>&1 </dev/null &
	pid=$!
	t0=$(date +%s)
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		if [[ -n $start ]] && ((!started)) && grep -qE -- "$start" "$log"; then
			started=1
		fi
		size=$(stat -c %s "$log")
		if ((size == last_size)); then
			quiet=$((quiet + 1))
		else
			quiet=0
			last_size=$size
		fi
		if [[ -n $start ]] && ((!started)) &&
			{ grep -qE -- "$BOOT_STALL" "$log" || (($(date +%s) - t0 >= BOOT_SECS && secs > BOOT_SECS)); }; then
			rc=122
		elif ((started && idle > 0 && quiet >= idle)); then
			rc=123
		elif (($(date +%s) - t0 >= secs)); then
			rc=124
			[[ -n $start ]] && ((!started)) && rc=126
		fi
		if ((rc)); then
			# in_chroot runs vng in its own PID namespace: killing its
			# root process takes QEMU down with it.
			pkill -KILL -P "$pid" 2>/dev/null
			kill -KILL "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			return "$rc"
		fi
	done
	wait "$pid"
}

cmd_shell() {
	local cpus=2
	KIMG=$(kernel_image "$1")
	shift
	[[ ${1:-} == -c ]] && cpus=$2
	vng_args "$cpus" 2G
	msg VM "interactive shell on $KIMG ($ACCEL_USED); exit the shell to power off"
	with_lock in_chroot "${VNG[@]}"
}

case ${1:-} in
run)
	shift
	cmd_run "$@"
	;;
shell)
	shift
	cmd_shell "$@"
	;;
*) die "usage: vm.sh run NAME KERNEL [-c CPUS] [-t SECS] -- CMD... | vm.sh shell KERNEL" ;;
esac
