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
# "baseline" or a bzImage path.
#
# The guest runs under tools/guest/watch.py, which writes what happened to
# $OUT/logs/NAME.outcome, one line of key=value that tools/lib/ktap.py reads
# (outcome_of(); ktap.guest_outcome() decides it); vm.sh exits 0 if the
# outcome is "passed", else 1. The outcomes:
#   passed        the command exited 0 and the console is clean
#   failed        the command exited non-zero, the console is clean
#   splat         a kernel splat in the console
#   panic         the guest panicked (QEMU exited on panic=-1)
#   frozen        silent for SECS of -i after REGEX of -s showed up: the guest
#                 scripts print a heartbeat every 2 s, so only a guest with
#                 every CPU stuck goes silent
#   hang          no exit within -t SECS
#   no-start      -t SECS ran out before REGEX showed up
#   never-booted  no kernel line in the console at all
#   harness-error QEMU itself crashed (not the kernel), after a retry if
#                 it crashed while booting
# Besides: exit= the command's status (when it ran), boot_guest= the guest's
# uptime and boot_host= the host's seconds from start when the command
# started, secs= the whole run, started= 1 if REGEX of -s showed up (0 if
# not, - without -s). "passed" says only that the command exited 0: whether
# its tests passed is for ktap.py to read in what they wrote.
. "$(dirname "$0")/../lib/lib.sh"
lg_env

kernel_image() {
	local k=$1
	[[ -f $k ]] || k=$WORK/kernels/$1/bzImage
	[[ -f $k ]] || die "no kernel '$1' (looked for $k); run 'make kernels' first"
	printf '%s\n' "$k"
}

# TCG unless KVM really works here, which only a boot can tell: on a host
# that is itself a guest, nested KVM may refuse to start (QEMU aborts
# setting an MSR) or run pathologically slowly (minutes to decompress a
# kernel). ACCEL=auto boots the kernel under KVM with no root once per host
# boot (the answer is kept in $CACHE/accel); KVM counts if the kernel gets
# as far as looking for its root within KVM_PROBE_SECS (default 20).
accel() {
	case ${ACCEL:-auto} in
	kvm) echo kvm ;;
	tcg) echo tcg ;;
	auto)
		if [[ ! -w /dev/kvm ]]; then
			echo tcg
			return
		fi
		local memo=$CACHE/accel boot
		boot=$(cat /proc/sys/kernel/random/boot_id)
		# Only a real kernel can answer (and the answer is kept).
		[[ -s $KIMG ]] || { echo tcg; return; }
		if [[ $(sed -n 1p "$memo" 2>/dev/null) != "$boot" ]]; then
			mkdir -p "$CACHE"
			printf '%s\n%s\n' "$boot" "$(probe_kvm)" >"$memo"
		fi
		sed -n 2p "$memo" | cut -d' ' -f1
		;;
	*) die "ACCEL=$ACCEL: use auto, kvm or tcg" ;;
	esac
}

# probe_kvm: "kvm" if KIMG boots under KVM to the point of mounting its
# root within KVM_PROBE_SECS, else "tcg (why)".
probe_kvm() {
	local log t0 rc=0
	log=$(mktemp)
	t0=$(date +%s)
	with_lock in_chroot timeout -s KILL "$KVM_PROBE_SECS" qemu-system-x86_64 -accel kvm -cpu host \
		-m 256 -smp 1 -nographic -no-reboot -kernel "$KIMG" \
		-append "console=ttyS0 panic=-1 root=/dev/lg-no-root" >"$log" 2>&1 </dev/null || rc=$?
	if grep -qE 'VFS: (Unable to mount|Cannot open) root' "$log"; then
		echo kvm
		msg ACCEL "KVM works here: a kernel booted to its root in $(elapsed "$t0")" >&2
	else
		echo "tcg (KVM probe: exit $rc, $(grep -m1 -iE 'error|fail|abort' "$log" | cut -c1-80))"
		msg ACCEL "KVM does not work here ($(grep -m1 -iE 'error|fail|abort' "$log" | cut -c1-80 || echo "no root reached in ${KVM_PROBE_SECS}s")): TCG" >&2
	fi
	rm -f "$log"
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
	a=$(accel) || exit 2
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
	# ICOUNT=SHIFT: the guest's clocks follow the instructions it executes
	# (2^SHIFT ns each), not the host's time, and idle time is skipped, not
	# waited: what make bench's overhead figure measures with. It needs
	# TCG, and single-threaded TCG (all vCPUs on one host thread).
	if [[ -n ${ICOUNT:-} ]]; then
		[[ $ICOUNT =~ ^([0-9]|10)$ ]] || die "ICOUNT=$ICOUNT: a shift, 0 to 10"
		VNG+=(--disable-kvm "--qemu-opts=-accel tcg,thread=single -icount shift=$ICOUNT,sleep=off")
		a=tcg-icount$ICOUNT
	elif [[ $a == tcg ]]; then
		VNG+=(--disable-kvm "--qemu-opts=-accel tcg,thread=${TCG_THREAD:-multi}")
	fi
	ACCEL_USED=$a
}

cmd_run() {
	local name=$1 cpus=2 secs=300 mem=2G log rundir t0 opt start='' idle=0 cmd rc=0
	# No outcome of an earlier run may stand for this one, whatever stops it.
	mkdir -p "$OUT/logs"
	OUTCOME=$OUT/logs/$name.outcome
	rm -f "$OUTCOME"
	KIMG=$(kernel_image "$2") || exit 2
	shift 2
	OPTIND=1
	while getopts c:t:m:s:i: opt; do
		case $opt in
		s) start=$OPTARG ;;
		i) idle=$OPTARG ;;
		c) cpus=$OPTARG ;;
		t) secs=$OPTARG ;;
		m) mem=$OPTARG ;;
		*) die "usage: vm.sh run NAME KERNEL [-c CPUS] [-t SECS] [-m MEM] [-s START-REGEX] [-i IDLE-SECS] -- CMD..." ;;
		esac
	done
	shift $((OPTIND - 1))
	[[ ${1:-} == -- ]] && shift
	(($# > 0)) || die "vm.sh run: no command"

	log=$OUT/logs/$name.log
	rundir=$OUT/runs/$name
	vng_args "$cpus" "$mem"
	# The guest's uptime when the command starts: boot-to-command.
	cmd="read -r up _ </proc/uptime; echo \"$BOOT_MARK\$up\"; $(printf '%q ' "$@")"
	VNG+=(--rwdir "$rundir=$rundir" --exec "$cmd")

	t0=$(date +%s)
	msg VM "$name: $(basename "$(dirname "$KIMG")")/$(basename "$KIMG"), $cpus CPU(s), $ACCEL_USED, timeout ${secs}s"
	# The lock keeps one VM (or build) at a time; the timeout covers the
	# guest only, not the wait for the lock.
	LG_GUEST_ROOT=${FAST_BOOT:-1} with_lock python3 "$LG_TOP/tools/guest/watch.py" --name "$name" --log "$log" \
		--outcome "$OUTCOME" --rundir "$rundir" --secs "$secs" --start "$start" --idle "$idle" \
		--boot-secs "$BOOT_SECS" --boot-mark "$BOOT_MARK" --facts "accel=$ACCEL_USED cpus=$cpus kernel=$KIMG" \
		-- "$LG_TOP/tools/guest/in-chroot" "${VNG[@]}" || rc=$?
	[[ $V == 1 ]] && cat "$log" >&2
	# 0 passed, 1 any other outcome; anything else: the watcher crashed,
	# and left no outcome (which ktap.py reads as a harness error).
	((rc <= 1)) || msg ERROR "$name: the guest watcher failed (exit $rc) after $(elapsed "$t0")"
	return "$rc"
}

cmd_shell() {
	local cpus=2
	KIMG=$(kernel_image "$1") || exit 2
	shift
	[[ ${1:-} == -c ]] && cpus=${2:?"$usage"}
	vng_args "$cpus" 2G
	msg VM "interactive shell on $KIMG ($ACCEL_USED); exit the shell to power off"
	with_lock in_chroot "${VNG[@]}"
}

usage="usage: vm.sh run NAME KERNEL [-c CPUS] [-t SECS] [-m MEM] [-s START-REGEX] [-i IDLE-SECS] -- CMD... | vm.sh shell KERNEL [-c CPUS]"
case ${1:-} in
run)
	shift
	(($# >= 2)) || die "$usage"
	cmd_run "$@"
	;;
shell)
	shift
	(($# >= 1)) || die "$usage"
	cmd_shell "$@"
	;;
*) die "$usage" ;;
esac
