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
# What happened is written to $OUT/logs/NAME.outcome, one line of key=value
# that tools/lib/ktap.py reads (outcome_of()); vm.sh exits 0 if the outcome
# is "passed", else 1. The outcomes:
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
#   harness-error the splat scan failed, or vng could not start
# Besides: exit= the command's status (when it ran), boot_guest= the guest's
# uptime and boot_host= the host's seconds from start when the command
# started, secs= the whole run.
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
	with_lock in_chroot timeout -s KILL "${KVM_PROBE_SECS:-20}" qemu-system-x86_64 -accel kvm -cpu host \
		-m 256 -smp 1 -nographic -no-reboot -kernel "$KIMG" \
		-append "console=ttyS0 panic=-1 root=/dev/lg-no-root" >"$log" 2>&1 </dev/null || rc=$?
	if grep -qE 'VFS: (Unable to mount|Cannot open) root' "$log"; then
		echo kvm
		msg ACCEL "KVM works here: a kernel booted to its root in $(elapsed "$t0")" >&2
	else
		echo "tcg (KVM probe: exit $rc, $(grep -m1 -iE 'error|fail|abort' "$log" | cut -c1-80))"
		msg ACCEL "KVM does not work here ($(grep -m1 -iE 'error|fail|abort' "$log" | cut -c1-80 || echo "no root reached in ${KVM_PROBE_SECS:-20}s")): TCG" >&2
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
	local name=$1 cpus=2 secs=300 mem=2G log rundir t0 opt start='' idle=0 cmd
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
		*) die "usage: vm.sh run NAME KERNEL [-c CPUS] [-t SECS] [-m MEM] -- CMD..." ;;
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
	# guest only, not the wait for the lock. A guest that stalled while
	# booting (see watch_guest) never ran the test: it is booted once more.
	fresh_rundir "$rundir"
	with_lock watch_guest "$log" "$secs" "$start" "$idle"
	# QEMU itself can die while the kernel boots (seen once under
	# multi-threaded TCG: an assertion in its memory map code): that is
	# not the kernel's doing, and no test ran yet either.
	if [[ $WATCH == exited ]] && qemu_crashed "$log" && ! grep -q "^$BOOT_MARK" "$log"; then
		WATCH=boot-stall
	fi
	if [[ $WATCH == boot-stall ]]; then
		mv "$log" "$log.boot-failed"
		msg RETRY "$name: the guest stalled or QEMU crashed while booting, before the test (TCG); booting again (first log: $log.boot-failed)"
		fresh_rundir "$rundir"
		with_lock watch_guest "$log" "$secs" "$start" "$idle"
		[[ $WATCH == boot-stall ]] && WATCH=no-start
	fi
	[[ $V == 1 ]] && cat "$log" >&2
	finish "$name" "$log" "$t0"
	[[ $RESULT == passed ]]
}

# qemu_crashed LOG: QEMU aborted (an assertion or a fatal error of its own).
qemu_crashed() {
	grep -qE '^qemu-system-[^:]*: .*(Assertion .* failed|[Ff]atal)' "$1"
}

fresh_rundir() {
	rm -rf "$1"
	mkdir -p "$1"
}

# finish NAME LOG T0: the outcome from WATCH (watch_guest's) and the console,
# written to $OUTCOME, and told.
finish() {
	local name=$1 log=$2 t0=$3 scan=0 boot
	RESULT=$WATCH
	case $WATCH in
	no-start)
		echo "scx-loopguard: TIMEOUT: the test did not start within the timeout" >>"$log"
		msg TIMEOUT "$name: the test never started (log: $log)"
		;;
	frozen)
		echo "scx-loopguard: HANG: silent after the test started, guest killed by the host" >>"$log"
		msg HANG "$name: guest froze: no output after the test started (log: $log)"
		;;
	hang)
		echo "scx-loopguard: HANG: no exit within the timeout, guest killed by the host" >>"$log"
		msg HANG "$name: guest did not finish in time (log: $log)"
		;;
	exited)
		# Any timestamped kernel line: the first ones, before the
		# serial console is up, never reach the log.
		if qemu_crashed "$log"; then
			RESULT=harness-error
			msg ERROR "$name: QEMU crashed, not the guest: $(grep -m1 -E '^qemu-system-' "$log" | cut -c1-160) (log: $log)"
		elif ((VNG_RC == 255)); then
			RESULT=panic
			msg PANIC "$name: guest panicked after $(elapsed "$t0") (log: $log)"
		elif ! grep -qE '^\[ *[0-9]+\.[0-9]+\] ' "$log"; then
			RESULT=never-booted
			tail -n 5 "$log" >&2
			msg ERROR "$name: the guest never booted (vng exit $VNG_RC, log: $log)"
		else
			"$LG_TOP/tools/lib/ktap.py" has-splat "$log" >&2 || scan=$?
			case $scan in
			0)
				RESULT=splat
				msg SPLAT "$name: kernel splat in the console (log: $log)"
				;;
			1) if ((VNG_RC == 0)); then RESULT=passed; else RESULT=failed; fi ;;
			*)
				RESULT=harness-error
				msg ERROR "$name: the splat scanner failed (exit $scan), the console is unchecked (log: $log)"
				;;
			esac
		fi
		;;
	esac
	boot=$(sed -n "s/^$BOOT_MARK\([0-9.]*\).*/\1/p" "$log" | head -n1)
	printf 'outcome=%s exit=%s boot_guest=%s boot_host=%s secs=%s accel=%s cpus=%s kernel=%s\n' \
		"$RESULT" "${VNG_RC:--}" "${boot:--}" "${BOOT_HOST:--}" "$(($(date +%s) - t0))" \
		"$ACCEL_USED" "$cpus" "$KIMG" >"$OUTCOME"
	[[ $RESULT == @(passed|failed) ]] &&
		msg VM "$name: $RESULT (exit $VNG_RC) after $(elapsed "$t0"); the command started at ${boot:-?} s of guest uptime, ${BOOT_HOST:-?} s after QEMU"
}

# watch_guest LOG SECS START IDLE: run "${VNG[@]}" into LOG and set WATCH:
# exited (VNG_RC its status); hang after SECS; frozen after IDLE silent
# seconds once START is in LOG; no-start if SECS ran out before START showed
# up; boot-stall if, before START, the kernel reported an RCU stall (seen
# under TCG: a vCPU's timer never fires during boot) or START did not show
# up within BOOT_SECS. BOOT_HOST: seconds from start to the command.
BOOT_SECS=${BOOT_SECS:-240}
BOOT_STALL='rcu: INFO: rcu_(preempt|sched) detected stalls|rcu: .* kthread timer wakeup didn.t happen'

# end_log: the log's reader ends once every writer of the FIFO has gone. In
# the chroot's PID namespace they all die with vng; with TOOLCHAIN=host a
# QEMU could outlive it and keep the FIFO open: the reader is not waited
# for longer than 5 s, so that a stray writer cannot hold the lock for ever.
end_log() {
	local i
	for ((i = 0; i < 50; i++)); do
		kill -0 "$cat" 2>/dev/null || break
		sleep 0.1
	done
	kill "$cat" 2>/dev/null
	wait "$cat" 2>/dev/null
	rm -f "$fifo"
}

watch_guest() {
	local log=$1 secs=$2 start=$3 idle=$4 pid cat t0 now size last_size=-1 quiet=0 started=0 tick=0 fifo
	WATCH='' VNG_RC='' BOOT_HOST=''
	# QEMU opens the command's stdout and stderr again by their /proc/self/fd
	# names, each with its own offset into a plain file, and truncating it:
	# the console and the command's output overwrote each other. A FIFO
	# keeps every write, in order.
	fifo=$(mktemp -u "$OUT/logs/.fifo.XXXXXX")
	mkfifo "$fifo"
	cat <"$fifo" >"$log" &
	cat=$!
	LG_GUEST_ROOT=${FAST_BOOT:-1} in_chroot "${VNG[@]}" >"$fifo" 2>&1 </dev/null &
	pid=$!
	t0=$(date +%s%N)
	while kill -0 "$pid" 2>/dev/null; do
		# Fine steps until the command started, for its boot time.
		if [[ -z $BOOT_HOST ]]; then
			sleep 0.2
			grep -q "^$BOOT_MARK" "$log" && BOOT_HOST=$(tenths $(($(date +%s%N) - t0)))
			tick=$((tick + 1))
			((tick % 5)) && continue
		else
			sleep 1
		fi
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
		now=$((($(date +%s%N) - t0) / 1000000000))
		if [[ -n $start ]] && ((!started)) &&
			{ grep -qE -- "$BOOT_STALL" "$log" || ((now >= BOOT_SECS && secs > BOOT_SECS)); }; then
			WATCH=boot-stall
		elif ((started && idle > 0 && quiet >= idle)); then
			WATCH=frozen
		elif ((now >= secs)); then
			WATCH=hang
			[[ -n $start ]] && ((!started)) && WATCH=no-start
		fi
		if [[ -n $WATCH ]]; then
			# in_chroot runs vng in its own PID namespace: killing its
			# root process takes QEMU down with it.
			pkill -KILL -P "$pid" 2>/dev/null
			kill -KILL "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			end_log
			return 0
		fi
	done
	VNG_RC=0
	wait "$pid" || VNG_RC=$?
	end_log
	# A command that ended within the last poll: the time is an upper bound.
	[[ -n $BOOT_HOST ]] || ! grep -q "^$BOOT_MARK" "$log" || BOOT_HOST=$(tenths $(($(date +%s%N) - t0)))
	WATCH=exited
}


cmd_shell() {
	local cpus=2
	KIMG=$(kernel_image "$1") || exit 2
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
