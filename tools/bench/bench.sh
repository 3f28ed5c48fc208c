#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make bench: what the loop guard costs and what it buys, patched against
# baseline on this machine, in one run. Results in $OUT/bench/.
#
#   bench.sh [smoke]
#
# 1. Overhead: perf bench sched messaging and pipe under scx_simple and
#    scx_qmap, one guest boot per kernel and pair, alternating patched and
#    baseline (A B B A ...), BENCH_PAIRS pairs (default 6), on BENCH_CPUS
#    vCPUs (default 1), each run's CPU time (perf's task-clock). The guests run
#    with QEMU's -icount (BENCH_ICOUNT=SHIFT, default 0: one instruction is
#    one ns of the guest's time; when every vCPU idles, time jumps to the
#    next timer), so a run's time follows the instructions the guest
#    executed for it, not the host's noisy wall-clock; BENCH_ICOUNT=
#    (empty) times by the wall-clock instead.
# 2. Recovery: the dsp_loop_all_cpus kselftest BENCH_REPS times per watchdog
#    timeout in BENCH_TIMEOUTS, on 2 and 1 vCPUs, patched only: the
#    baseline never recovers (make test's negative control shows it freeze).
# 3. IRQs-off window and break-out-to-reschedule latency: from the Rust
#    module during the recovery runs.
# 'smoke' is one pair, scx_simple only, one run of each workload with no
# warm-up, one rep, one timeout, recovery on 2 vCPUs only (the 1-vCPU run is
# the same code): it keeps the code from rotting, and its timings mean
# nothing.
. "$(dirname "$0")/../lib/lib.sh"
lg_env

T=$LG_TOP/tools
# The smoke run of make test writes its own folder: a full run's results
# in $OUT/bench stay.
B=$OUT/bench${1:+-$1}
SCX=$WORK/userspace/sched_ext
ST=$WORK/userspace/selftests
MOD=$WORK/modules/patched/scx_loopguard_watch.ko
PAIRS=${BENCH_PAIRS:-6}
ITER=${BENCH_ITER:-3}
ICOUNT=${BENCH_ICOUNT-0}
# The kernel the patched one is compared with: BENCH_AGAINST=patched
# compares it with itself, which measures the method's noise floor.
AGAINST=${BENCH_AGAINST:-baseline}
# One vCPU: with two, the spread of a run's CPU time within one boot was
# 0.1-1.3%, against 0.04-0.23% with one (2026-11-26, two pairs each).
OCPUS=${BENCH_CPUS:-1}
[[ $AGAINST == baseline || $AGAINST == patched ]] || die "BENCH_AGAINST=$AGAINST: baseline or patched"
REPS=${BENCH_REPS:-5}
TIMEOUTS=${BENCH_TIMEOUTS:-250 500 1000 2000}
SCHEDS=(scx_simple scx_qmap) WARM=1 RCPUS="2 1"
if [[ ${1:-} == smoke ]]; then
	PAIRS=1 ITER=1 REPS=1 TIMEOUTS=1000 SCHEDS=(scx_simple) WARM=0 RCPUS=2
fi

rm -rf "$B"
mkdir -p "$B"
echo "${1:-full}" >"$B/mode"
echo "${ICOUNT:-wallclock}" >"$B/icount"
echo "$AGAINST" >"$B/against"
t0=$(date +%s)

boot() { # NAME KERNEL CPUS TIMEOUT GUEST-ARGS...
	local name=$1 kernel=$2 cpus=$3 to=$4
	shift 4
	guest tests "$name" "$kernel" "$cpus" "$to" "$GUEST" "$@" ||
		msg BENCH "$name: guest run failed (rc $?), see $OUT/logs/$name.log"
}

# The two sides take turns at going first (ABBA...), and their guests'
# names are of one length: an A/A run with the first side always first and
# names of different lengths (bench-patched-N, bench-baseline-N) showed a
# bias between the sides of up to 0.33% on messaging.
n=0 total=$((PAIRS * 2))
for ((p = 1; p <= PAIRS; p++)); do
	order=(patched baseline)
	((p % 2)) || order=(baseline patched)
	for k in "${order[@]}"; do
		n=$((n + 1))
		kernel=$k
		[[ $k == baseline ]] && kernel=$AGAINST
		msg BENCH "overhead: $k side ($kernel kernel), pair $p of $PAIRS (run $n of $total), elapsed $(elapsed "$t0")"
		name=bench-${k:0:1}-$p
		ICOUNT=$ICOUNT boot "$name" "$kernel" "$OCPUS" "$TO_BENCH" bench_overhead "$SCX" "$OUT/runs/$name" "$ITER" "$WARM" "${SCHEDS[@]}"
		sed -n "s/^BENCH /kernel=$k pair=$p /p" "$OUT/runs/$name/bench.txt" >>"$B/overhead.txt" 2>/dev/null
	done
done

for cpus in $RCPUS; do
	msg BENCH "recovery: patched kernel, $cpus vCPU(s), timeouts $TIMEOUTS x $REPS, elapsed $(elapsed "$t0")"
	name=bench-recovery-${cpus}cpu
	# shellcheck disable=SC2086 # one argument per timeout
	boot "$name" patched "$cpus" "$TO_RECOVERY" bench_recovery "$MOD" "$ST" "$OUT/runs/$name" "$REPS" $TIMEOUTS
	"$T/lib/ktap.py" figure-lines --prefix "vcpus=$cpus " "$OUT/runs/$name/runner.txt" >>"$B/recovery.txt"
	cp "$OUT/runs/$name/figures.txt" "$B/figures-${cpus}cpu.txt" 2>/dev/null
done

msg BENCH "done in $(elapsed "$t0"); summarising"
in_chroot python3 "$T/bench/benchstat.py" "$B" "$(grep -m1 '^CONFIG_HZ=' "$WORK/kernels/patched/.config" | cut -d= -f2)"
