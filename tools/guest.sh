#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest (virtme-ng shares the toolchain root with it).
#
#   guest.sh selftests BINDIR RUNDIR [FILTER]
#       run the sched_ext selftest runner, line-buffered (its tests fork, and
#       a block-buffered stdout would be printed twice), into RUNDIR/runner.txt
#   guest.sh soak BINDIR RUNDIR N FILTER
#       run the tests matching FILTER N times in a row
#   guest.sh qmap BINDIR RUNDIR COUNT SECS
#       run scx_qmap -l COUNT under CPU-bound load for at most SECS
set -u

banner() {
	echo "LOOPGUARD-GUEST $1 kernel=$(uname -r) cpus=$(nproc)"
}

# A live guest always prints something: the host tells a frozen guest from a
# quiet test by this heartbeat, every 2 s, on the guest's output (not in the
# files under RUNDIR).
( while sleep 2; do echo "LOOPGUARD-ALIVE $(cut -d' ' -f1 /proc/uptime)"; done ) &

selftests() {
	local bin=$1 rundir=$2 filter=${3:-}
	banner start
	cd "$bin" || exit 2
	stdbuf -oL -eL ./runner -q ${filter:+-t "$filter"} 2>&1 | tee "$rundir/runner.txt"
	banner done
}

soak() {
	local bin=$1 rundir=$2 n=$3 filter=$4 i
	banner start
	cd "$bin" || exit 2
	for ((i = 1; i <= n; i++)); do
		echo "LOOPGUARD-SOAK round=$i"
		stdbuf -oL -eL ./runner -q -t "$filter" 2>&1
	done | tee "$rundir/runner.txt"
	banner done
}

qmap() {
	local bin=$1 rundir=$2 count=$3 secs=$4 i pids=() state rc=0
	banner start
	for ((i = 0; i < $(nproc) * 2; i++)); do
		(while :; do :; done) &
		pids+=($!)
	done
	timeout -s INT "$secs" "$bin/scx_qmap" -l "$count" >"$rundir/qmap.txt" 2>&1 || rc=$?
	kill "${pids[@]}" 2>/dev/null
	# Not a bare wait: the heartbeat is a background job too.
	wait "${pids[@]}" 2>/dev/null
	state=$(cat /sys/kernel/sched_ext/state 2>/dev/null)
	echo "qmap_rc=$rc state=$state" | tee "$rundir/result.txt"
	dmesg | grep -E 'sched_ext: BPF scheduler "qmap"' | tee -a "$rundir/result.txt"
	tail -n 5 "$rundir/qmap.txt"
	banner done
}

cmd=$1
shift
"$cmd" "$@"
