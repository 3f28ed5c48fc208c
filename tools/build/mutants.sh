#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Mutation testing of the loop guard: build kernels whose guard is subtly
# wrong, and require the witness to fail on every one of them.
#
#   mutants.sh [NAME...]
#
# Each mutants/BASE/NN-NAME.patch is one plausible mistake, applied to
# lg/patched as branch lg/mutant/NAME and built into the shared build
# directory (an incremental rebuild, cached by source like every kernel).
# One guest per mutant runs the witness's tests, with the Rust module
# loaded: the BPF witness cross-checks the module's figures, and the table
# says what the module's own checks make of them. Killed (a test failed, or
# the guest froze, panicked or splatted) is a pass; survived is a failure,
# and so is a run that cannot tell, or one where the module did not load.
# NAME... picks mutants by name (default: all). MUTANT_RUNS=N runs each
# mutant's guest N times (default 1); it is killed only if every run kills
# it. With MUTANT_UPSTREAM=1, a second guest per mutant runs the series'
# own tests, and the table says which of them fail there: a report, not a
# verdict (the slim upstream tests are not meant to kill every mutant).
# The tree is left at lg/patched, built.
#
#   mutants.sh --gate
#
# The failure-path gate: the kernel of mutants/BASE/gate-no-watchdog.patch,
# whose loop is bounded but whose watchdog never fires, on which the
# series' tests must each fail with their own message, within their bound,
# and let the runner go on.
. "$(dirname "$0")/../lib/lib.sh"
lg_env

T=$LG_TOP/tools
ST=$WORK/userspace/selftests
MUTANTS=$LG_TOP/mutants/$BASE
# The witness's tests: every mutant must fail at least one of them.
WITNESS_TESTS=$(new_tests witness)
GUEST_CPUS=${CPUS:-2}
UPSTREAM_TESTS=$(new_tests upstream | xargs)
RUNS=${MUTANT_RUNS:-1}
# The patched kernel's module, which loads on every mutant of it (same
# release, no module versions), and the bound its figures are checked at.
MODULE=$WORK/modules/patched/scx_loopguard_watch.ko
DSP_MAX_LOOPS=32
# The gate's bound per test: the tests wait ten times their 1000 ms
# ops.timeout_ms for the exit that never comes, and get 15 s more for
# setting up and tearing down under TCG.
GATE_SECS_PER_TEST=25

# mutant_files [NAME...]: the mutant patches of this base, all or by name.
mutant_files() {
	local n f
	if (($# == 0)); then
		find "$MUTANTS" -maxdepth 1 -name '[0-9][0-9]-*.patch' | sort
		return
	fi
	for n in "$@"; do
		f=$(find "$MUTANTS" -maxdepth 1 -name "[0-9][0-9]-$n.patch" | head -n1)
		[[ -n $f ]] || die "no mutant '$n' for BASE=$BASE (see $MUTANTS)"
		echo "$f"
	done
}

mutant_name() {
	local b
	b=$(basename "$1" .patch)
	echo "${b#[0-9][0-9]-}"
}

# make_branch PATCH NAME: lg/mutant/NAME = lg/patched + PATCH. The commit is
# new each time, but the kernel cache is keyed by its tree, so an unchanged
# mutant is not rebuilt.
make_branch() {
	local p=$1 name=$2
	git_lg checkout -q -f lg/patched
	git_lg checkout -q -B "lg/mutant/$name"
	if ! git_lg apply --index "$p" 2>"$WORK/mutant-apply.log"; then
		git_lg checkout -q -f lg/patched
		die "mutant $name ($(basename "$p")) does not apply to lg/patched: $(head -n1 "$WORK/mutant-apply.log")"
	fi
	git_lg commit -q --no-verify -m "mutant: $name" -m "$(sed -n '1p' "$p")"
}

# upstream_report NAME: the series' own tests on mutant NAME, in a guest of
# their own (so that they cannot blur the witness's verdict): what each did.
upstream_report() {
	local name=mutant-$1-upstream
	guest mutant "$name" "mutant-$1" "$GUEST_CPUS" "$TO_MUTANT" \
		"$GUEST" selftests "$ST" "$OUT/runs/$name" "$UPSTREAM_TESTS" >/dev/null 2>&1
	"$T/lib/ktap.py" tests "$OUT/runs/$name/runner.txt" "$OUT/logs/$name.outcome" $UPSTREAM_TESTS ||
		echo "unknown (the report failed)"
}

gate() {
	local f=$MUTANTS/gate-no-watchdog.patch name=no-watchdog
	[[ -f $f ]] || die "no $f"
	[[ -x $ST/runner ]] || die "no selftests in $ST; run 'make userspace' first"
	msg GATE "$name: $(sed -n '1s/^Gate [^:]*: //p' "$f")"
	with_lock make_branch "$f" "gate-$name"
	"$T/build/kbuild.sh" --images "$name=lg/mutant/gate-$name" ||
		die 1 "the gate kernel $name does not build; see $OUT/logs/build-$name.log"
	with_lock git_lg checkout -q -f lg/patched
	# One runner for every test of the series: each failure must let the
	# runner go on to the next test, and to its summary after the last.
	guest mutant failpath "$name" "$GUEST_CPUS" $((BOOT_SECS + GATE_SECS_PER_TEST * $(wc -w <<<"$UPSTREAM_TESTS"))) \
		"$GUEST" failpath "$ST" "$OUT/runs/failpath" dispatch_loop
	checked failpath "$T/lib/ktap.py" failpath "$RESULTS" failpath "$OUT/logs/failpath.outcome" \
		"$OUT/runs/failpath/runner.txt" "$OUT/runs/failpath/time.txt" "$GATE_SECS_PER_TEST" $UPSTREAM_TESTS
	console_result failpath
}

# run_mutant NAME RUN: one guest of the witness's tests on mutant NAME, with
# the module loaded; sets verdict, how and module (what the module's own
# checks said). Run 1's result is mutant/NAME, run N's mutant/NAME/runN.
run_mutant() {
	local name=$1 r=$2 run=mutant-$1 res=mutant/$1
	((r > 1)) && run=mutant-$name-run$r res=mutant/$name/run$r
	guest mutant "$run" "mutant-$name" "$GUEST_CPUS" "$TO_MUTANT" \
		"$GUEST" witness "$MODULE" "$ST" "$OUT/runs/$run" "$WITNESS_TESTS" || true
	verdict='' how='' module=''
	IFS=$'\t' read -r verdict how module < <("$T/lib/ktap.py" mutant "$RESULTS" "$res" \
		"$OUT/runs/$run" "$OUT/logs/$run.outcome" "$DSP_MAX_LOOPS" $WITNESS_TESTS)
	if [[ -z $verdict ]]; then
		# A checker that crashed: a failure, never a pass.
		verdict=unknown how="the verdict checker failed"
		"$T/lib/ktap.py" add "$RESULTS" "not ok" "$res" "$how"
	fi
}

main() {
	local files f name verdict how module t0 r n first_how first_module killed=0 total=0 table=()
	mapfile -t files < <(mutant_files "$@")
	((${#files[@]})) || die "no mutants in $MUTANTS"
	[[ -x $ST/runner ]] || die "no selftests in $ST; run 'make userspace' first"
	[[ -f $MODULE ]] || die "no module at $MODULE; run 'make rust' (or the modules stage) first"
	[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "MUTANT_RUNS=$RUNS: give a number of runs, 1 or more"
	mkdir -p "$OUT"
	for f in "${files[@]}"; do
		name=$(mutant_name "$f")
		t0=$(date +%s)
		msg MUTANT "$name: $(sed -n '1s/^Mutant [^:]*: //p' "$f")"
		with_lock make_branch "$f" "$name"
		# The image is all the guest needs: a cached mutant builds nothing.
		"$T/build/kbuild.sh" --images "mutant-$name=lg/mutant/$name" ||
			die 1 "mutant $name does not build; see $OUT/logs/build-mutant-$name.log"
		n=0
		for ((r = 1; r <= RUNS; r++)); do
			run_mutant "$name" "$r"
			[[ $verdict == killed ]] && n=$((n + 1))
			((r == 1)) && { first_how=$how first_module=$module; }
			[[ $verdict == killed ]] || { first_how="run $r: $how"; break; }
		done
		if ((n == RUNS)); then
			verdict=killed
			killed=$((killed + 1))
		fi
		((RUNS > 1)) && verdict="$verdict $n/$RUNS"
		total=$((total + 1))
		table+=("$(printf '%-26s %-12s %6s  %s' "$name" "$verdict" "$(elapsed "$t0")" "$first_how")")
		table+=("$(printf '%-26s %s' '' "module: $first_module")")
		[[ ${MUTANT_UPSTREAM:-0} == 1 ]] && table+=("$(printf '%-26s %s' '' "upstream tests: $(upstream_report "$name")")")
	done
	# The tree back at lg/patched; the build directory is brought to
	# whichever kernel a later stage builds against by that stage.
	with_lock git_lg checkout -q -f lg/patched
	printf '%s\n' "${table[@]}" >"$OUT/mutants.txt"
	msg MUTANTS "$killed of $total killed on $BASE ($OUT/mutants.txt):"
	printf '    %s\n' "${table[@]}" >&2
	((killed == total))
}

if [[ ${1:-} == --gate ]]; then
	gate
else
	main "$@"
fi
