#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Mutation testing of the loop guard: build kernels whose guard is subtly
# wrong, and require the deep witness to fail on every one of them.
#
#   mutants.sh [NAME...]
#
# Each mutants/BASE/NN-NAME.patch is one plausible mistake, applied to
# lg/patched as branch lg/mutant/NAME and built into the shared build
# directory (an incremental rebuild, cached by source like every kernel).
# One guest per mutant runs the witness's tests. Killed (a test failed, or
# the guest froze, panicked or splatted) is a pass; survived is a failure,
# and so is a run that cannot tell. NAME... picks mutants by name (default:
# all). The tree is left at lg/patched, built.
. "$(dirname "$0")/../lib/lib.sh"

T=$LG_TOP/tools
ST=$WORK/userspace/selftests
MUTANTS=$LG_TOP/mutants/$BASE
# The deep witness's tests: every mutant must fail at least one of them.
WITNESS_TESTS="dsp_loop_all_cpus dsp_loop_one_cpu dsp_loop_partial"
GUEST_CPUS=${CPUS:-2}
TO_MUTANT=${TO_MUTANT:-300}
IDLE_MUTANT=30

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

main() {
	local files f name verdict how t0 killed=0 total=0 table=()
	mapfile -t files < <(mutant_files "$@")
	((${#files[@]})) || die "no mutants in $MUTANTS"
	[[ -x $ST/runner ]] || die "no selftests in $ST; run 'make userspace' first"
	mkdir -p "$OUT"
	for f in "${files[@]}"; do
		name=$(mutant_name "$f")
		t0=$(date +%s)
		msg MUTANT "$name: $(sed -n '1s/^Mutant [^:]*: //p' "$f")"
		with_lock make_branch "$f" "$name"
		# The image is all the guest needs: a cached mutant builds nothing.
		"$T/build/kbuild.sh" --images "mutant-$name=lg/mutant/$name" ||
			die 1 "mutant $name does not build; see $OUT/logs/build-mutant/$name.log"
		"$T/guest/vm.sh" run "mutant-$name" "mutant-$name" -c "$GUEST_CPUS" -t "$TO_MUTANT" \
			-s 'LOOPGUARD-GUEST start' -i "$IDLE_MUTANT" -- \
			"$T/guest/guest.sh" selftests "$ST" "$OUT/runs/mutant-$name" "$WITNESS_TESTS" || true
		IFS=$'\t' read -r verdict how < <("$T/lib/ktap.py" mutant "$OUT/runs/mutant-$name/runner.txt" \
			"$OUT/logs/mutant-$name.outcome" "mutant/$name" "$RESULTS" $WITNESS_TESTS)
		if [[ -z $verdict ]]; then
			# A checker that crashed: a failure, never a pass.
			verdict=unknown how="the verdict checker failed"
			"$T/lib/ktap.py" add "$RESULTS" "not ok" "mutant/$name" "$how"
		fi
		[[ $verdict == killed ]] && killed=$((killed + 1))
		total=$((total + 1))
		table+=("$(printf '%-18s %-9s %6s  %s' "$name" "$verdict" "$(elapsed "$t0")" "$how")")
	done
	# The tree back at lg/patched; the build directory is brought to
	# whichever kernel a later stage builds against by that stage.
	with_lock git_lg checkout -q -f lg/patched
	printf '%s\n' "${table[@]}" >"$OUT/mutants.txt"
	msg MUTANTS "$killed of $total killed on $BASE ($OUT/mutants.txt):"
	printf '    %s\n' "${table[@]}" >&2
	((killed == total))
}

main "$@"
