#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot a kernel under virtme-ng and run one command in it, with a hard
# host-side timeout, the console saved to a log, and a splat scan.
#
#   vm.sh run NAME KERNEL [-c CPUS] [-t SECS] [-m MEM] -- CMD...
#   vm.sh shell KERNEL [-c CPUS]
#
# NAME names the run: $OUT/logs/NAME.log holds the console and the guest's
# output; $OUT/runs/NAME/ is writable by the guest. KERNEL is "patched",
# "baseline" or a bzImage path. Exit status:
#   0 command passed, clean console    1 command failed
#   3 kernel splat in the console      124 guest hung (host timeout)
#   125 guest panicked                 2 harness error, guest never booted
. "$(dirname "$0")/lib.sh"

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

vng_args() {
	local cpus=$1 mem=$2 a
	a=$(accel)
	VNG=(vng --run "$KIMG" --cpus "$cpus" --memory "$mem" --verbose
		--append "panic=-1 oops=panic softlockup_panic=0 rcupdate.rcu_cpu_stall_timeout=20"
		--append "hung_task_timeout_secs=30 kmemleak=on")
	# Multi-threaded TCG (one host thread per vCPU). The test kernel is
	# built without CONFIG_JUMP_LABEL, see tools/loopguard.config; with it,
	# TCG_THREAD=single avoids stale-int3 oopses but starves vCPUs.
	[[ $a == tcg ]] && VNG+=(--disable-kvm "--qemu-opts=-accel tcg,thread=${TCG_THREAD:-multi}")
	ACCEL_USED=$a
}

cmd_run() {
	local name=$1 cpus=2 secs=300 mem=2G rc=0 log rundir t0 opt
	KIMG=$(kernel_image "$2")
	shift 2
	OPTIND=1
	while getopts c:t:m: opt; do
		case $opt in
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
	# guest only, not the wait for the lock.
	LG_TIMEOUT=$secs with_lock in_chroot "${VNG[@]}" >"$log" 2>&1 </dev/null || rc=$?
	[[ $V == 1 ]] && cat "$log" >&2

	if ((rc == 124 || rc == 137)); then
		echo "scx-loopguard: HANG: no exit after ${secs}s, guest killed by the host" >>"$log"
		msg HANG "$name: guest did not finish within ${secs}s (log: $log)"
		return 124
	elif ((rc == 255)); then
		msg PANIC "$name: guest panicked after $(elapsed "$t0") (log: $log)"
		return 125
	fi
	if ! grep -q 'Linux version' "$log"; then
		tail -n 5 "$log" >&2
		msg ERROR "$name: the guest never booted (vng exit $rc, log: $log)"
		return 2
	fi
	if "$LG_TOP/tools/ktap.py" has-splat "$log" >&2; then
		msg SPLAT "$name: kernel splat in the console (log: $log)"
		return 3
	fi
	msg VM "$name: exit $rc after $(elapsed "$t0")"
	((rc == 0)) || return 1
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
