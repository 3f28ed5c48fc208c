#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make census: do production sched_ext schedulers ever reach the dispatch
# loop's bound? Each scheduler of tools/census/schedulers.txt (built by
# tools/census/build.sh) runs on the census kernel of BASE (the patched one with
# tools/census/census.config, for what scx_lavd needs) under each
# workload, on 1 and 2 vCPUs, with the scx_loopguard_watch module counting
# dispatch rounds per invocation; the kernel counts break-outs (7.3: its
# event; 6.12: its tracepoint). Results in $OUT/census/: census.txt (the
# table), census.csv, census-rounds.png; each guest's own files (the
# scheduler's output, the module's figures, 6.12's trace of a break-out) in
# $OUT/runs/census-Ncpu/. A break-out on a real scheduler is a
# finding, not a failure; a scheduler that does not load is reported with
# its error.
#
#   census.sh            the census (CENSUS_SECS per workload, default 20;
#                        SCHEDULERS="NAME...": those of the list only)
#   census.sh smoke      make test's run of the machinery: the in-tree
#                        scx_simple, 2 vCPUs, 4 s per workload, strict
. "$(dirname "$0")/../lib/lib.sh"
lg_env

T=$LG_TOP/tools
# The census's own kernel (tools/census/census.config, stage census_kernel)
# and the module built for it; the smoke run uses the patched kernel of
# make test.
kernel=census
[[ ${1:-} != smoke ]] || kernel=patched
MOD=$WORK/modules/$kernel/scx_loopguard_watch.ko
C=$OUT/census${1:+-$1}

[[ -f $MOD ]] || die "no module in $MOD; run the modules stage first"
rm -rf "$C"
mkdir -p "$C"
if [[ ${1:-} == smoke ]]; then
	scheds=("$WORK/userspace/sched_ext/scx_simple")
	cpus_list=(2) secs=4 strict=1
else
	scheds=()
	# shellcheck disable=SC2086 # one word per name
	list=$(census_list ${SCHEDULERS:-}) || exit
	while read -r name _; do
		[[ -n $name ]] || continue
		if [[ -x $WORK/census/bin/$name ]]; then
			scheds+=("$WORK/census/bin/$name")
		else
			# Not built: said so in the table's place, never hidden.
			"$T/lib/ktap.py" add "$RESULTS" skip "census/$name" "not built (see $CACHE/census/$name-*.log)"
		fi
	done <<<"$list"
	cpus_list=(1 2) secs=${CENSUS_SECS:-20} strict=0
fi
((${#scheds[@]})) || die "no scheduler to run; 'make census' builds them"

rundirs=()
t0=$(date +%s)
for cpus in "${cpus_list[@]}"; do
	name=census${1:+-$1}-${cpus}cpu
	# A Rust scheduler may take minutes to load under TCG (up to 240 s is
	# waited for), once; then three workloads.
	guest tests "$name" "$kernel" "$cpus" $((BOOT_SECS + ${#scheds[@]} * (TO_SCHED_LOAD + 3 * (secs + 30)))) \
		"$GUEST" census "$MOD" "$OUT/runs/$name" "$secs" "${scheds[@]}" || true
	console_result "$name"
	rundirs+=("$OUT/runs/$name")
done
msg CENSUS "${#scheds[@]} scheduler(s) x 3 workloads x ${#cpus_list[@]} CPU count(s) in $(elapsed "$t0") ($C):"
checked census "$T/lib/ktap.py" census "$RESULTS" census "$C" "$strict" "${rundirs[@]}"
if [[ ${1:-} != smoke ]]; then
	in_chroot python3 "$T/census/plot.py" "$C" || msg CENSUS "no plot (see above)"
fi
