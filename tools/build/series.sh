#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Turn lg/base of $LINUX into the trees the tests need:
#
#   lg/revert    lg/base with patch 1 (the loop guard) reverse-applied
#   lg/patched   lg/revert with the whole series applied by git am
#   lg/core      lg/patched without the entries marked @rust or @fix=NAME:
#                the tip of the main (sched_ext) series; the entries on top
#                of it are series of their own (the @rust one, one per
#                @fix=NAME), exported separately (export.sh), each one
#                contiguous, in the order of kernel/BASE/series. Where each
#                starts and ends is in $LINUX/.git/lg-sides ("NAME FROM TO")
#   lg/baseline  lg/revert with the patches marked @baseline or @rust in
#                kernel/BASE/series cherry-picked: the kernel without the fix, with the same
#                test support
#   lg/nofix/NAME  lg/patched without the fix of the @fix=NAME entries: where
#                that fix's reproducer must show the bug (made with no
#                checkout, so that no file of the tree changes its time)
#   lg/local     lg/patched with the entries marked @local: the project's own
#                test code (the witness), which is never exported; the
#                user space of both kernels is built from it
#
# As the base already carries patch 1, lg/patched differs from lg/base only
# by patches 2..N, which is checked. Any patch that fails to apply is named.
. "$(dirname "$0")/../lib/lib.sh"
lg_env


# message_commit PATCH: an empty commit with PATCH's author, date and message.
message_commit() {
	local info=$WORK/mailinfo
	git mailinfo "$info.msg" "$info.patch" <"$1" >"$info" ||
		die "cannot parse $(basename "$1")"
	{
		sed -n 's/^Subject: //p' "$info"
		echo
		cat "$info.msg"
	} >"$info.full"
	GIT_AUTHOR_NAME=$(sed -n 's/^Author: //p' "$info") \
		GIT_AUTHOR_EMAIL=$(sed -n 's/^Email: //p' "$info") \
		GIT_AUTHOR_DATE=$(sed -n 's/^Date: //p' "$info") \
		git_lg commit -q --allow-empty --no-verify -F "$info.full"
}

# overlay WHAT PATCH SRC=DEST...: copy the files of repo folder SRC (not
# recursive) into tree folder DEST and fold them into that entry's commit.
overlay() {
	local what=$1 p=$2 o src dest f
	shift 2
	for o in "$@"; do
		src=${o%%=*} dest=${o#*=}
		[[ -d $LG_TOP/$src && $o == *=* ]] ||
			die "kernel/$BASE/series, $what ($p): bad folder mapping '$o'"
		for f in "$LG_TOP/$src"/*; do
			[[ -f $f ]] || continue
			mkdir -p "$LINUX/$dest"
			cp "$f" "$LINUX/$dest/"
			# -f: a selftest folder's .gitignore ignores all but sources
			git_lg add -f "$dest/$(basename "$f")"
		done
	done
	git_lg commit -q --amend --no-edit --no-verify
}

# apply_entry WHAT PATCH [SRC=DEST]...: PATCH as one commit on the current
# branch, with git am, or as an empty commit with its message when it has no
# diff, then the files of each mapping folded into it (overlay). A patch
# that does not apply is named as WHAT, and the tree is left at lg/base.
apply_entry() {
	local what=$1 p=$2
	shift 2
	if ! grep -q '^diff --git ' "$SERIES_DIR/$p"; then
		# Only a message: its files all come from the overlay.
		message_commit "$SERIES_DIR/$p"
	elif ! git_lg am -q --keep-cr "$SERIES_DIR/$p" >"$WORK/am.log" 2>&1; then
		git_lg am --abort >/dev/null 2>&1 || true
		git_lg checkout -q -f lg/base
		die "$what ($p) does not apply: $(grep -m1 -E 'error|failed' "$WORK/am.log")"
	fi
	(($# == 0)) || overlay "$what" "$p" "$@"
}

apply_series() {
	local first p n=0
	[[ -d $LINUX/.git ]] || die "no kernel tree at $LINUX; run 'make tree' first"
	git_lg rev-parse -q --verify lg/base >/dev/null || die "$LINUX has no lg/base branch"
	first=$SERIES_DIR/$(series_entries | head -n1)
	[[ -f $first ]] || die "kernel/$BASE/series names $(basename "$first"), which does not exist"

	git_lg checkout -q -f -B lg/revert lg/base
	git_lg clean -q -fdx
	if git_lg apply -R --check "$first" 2>/dev/null; then
		git_lg apply -R "$first"
		git_lg commit -q -a --no-verify \
			-m "scx-loopguard baseline: revert \"$(patch_subject "$first")\""
	elif git_lg apply --check "$first" 2>/dev/null; then
		msg SERIES "lg/base lacks patch 1 already; the baseline is lg/base itself"
	else
		die "patch 1 ($(basename "$first")) neither applies nor reverts on $(git_lg log -1 --format=%s lg/base)"
	fi

	git_lg checkout -q -B lg/patched lg/revert
	local both=() locals=() o side cur='' sides=() nside=0
	while read -r p rest; do
		overlays=
		local=0 side=
		for o in $rest; do
			case $o in
			@baseline) both+=("$((n + 1))") ;;
			@rust) side=rust both+=("$((n + 1))") ;;
			@fix=?*) side=${o#@fix=} ;;
			@local) local=1 ;;
			@*) die "kernel/$BASE/series, $p: unknown tag $o" ;;
			*) overlays+=" $o" ;;
			esac
		done
		[[ -f $SERIES_DIR/$p ]] || die "kernel/$BASE/series names $p, which does not exist"
		if ((local)); then
			locals+=("$p$overlays")
			continue
		fi
		((${#locals[@]} == 0)) || die "kernel/$BASE/series: $p comes after an @local entry; @local entries go last"
		# A series of its own: after the main one, and in one piece.
		if [[ -n $side && $side != "$cur" ]]; then
			[[ " ${sides[*]%%=*} " != *" $side "* ]] ||
				die "kernel/$BASE/series: $p is in the $side series, whose entries must be together"
			((${#sides[@]})) || git_lg branch -q -f lg/core HEAD
			sides+=("$side=$(git_lg rev-parse HEAD)")
		elif [[ -z $side && -n $cur ]]; then
			die "kernel/$BASE/series: $p comes after an entry of the $cur series (@rust or @fix); those series go after the main one"
		fi
		cur=$side
		[[ -z $side ]] || nside=$((nside + 1))
		n=$((n + 1))
		# shellcheck disable=SC2086 # one word per folder mapping
		apply_entry "patch $n" "$p" $overlays
		# Patch 1 must give back the base's code exactly, or the baseline is wrong.
		if ((n == 1)) && ! git_lg diff --quiet lg/base HEAD; then
			git_lg checkout -q -f lg/base
			die "patch 1 does not reproduce lg/base exactly; the baseline would be wrong"
		fi
	done < <(series_entries)
	((${#sides[@]})) || git_lg branch -q -f lg/core HEAD
	# Each side series from its start to the next one's, the last to the tip.
	local i to
	: >"$LINUX/.git/lg-sides"
	for ((i = 0; i < ${#sides[@]}; i++)); do
		to=$(git_lg rev-parse HEAD)
		((i + 1 == ${#sides[@]})) || to=${sides[i + 1]#*=}
		echo "${sides[i]%%=*} ${sides[i]#*=} $to" >>"$LINUX/.git/lg-sides"
	done
	# A KDIR tree that 'make apply' put the series on: the series as in
	# kernel/BASE must give exactly its HEAD, or the tests would not test it.
	if [[ -f $LINUX/.git/lg-applied-head ]] &&
		! git_lg diff --quiet lg/patched "$(cat "$LINUX/.git/lg-applied-head")"; then
		git_lg checkout -q -f lg/base
		die "KDIR=$KDIR: its HEAD is not the series of kernel/$BASE on where 'make apply' found it (other commits, or a newer series); 'make unapply KDIR=$KDIR' and apply again, or boot your own build with 'make check KERNEL=/path/to/bzImage'"
	fi

	git_lg checkout -q -B lg/baseline lg/revert
	for o in "${both[@]}"; do
		if ! git_lg cherry-pick --allow-empty "lg/patched~$((n - o))" >"$WORK/am.log" 2>&1; then
			git_lg cherry-pick --abort >/dev/null 2>&1 || true
			git_lg checkout -q -f lg/base
			die "patch $o does not apply to the baseline: $(grep -m1 -E 'error|CONFLICT|fatal' "$WORK/am.log")"
		fi
	done
	# The project's own test code on top, never part of the series.
	git_lg checkout -q -B lg/local lg/patched
	local e
	for e in "${locals[@]}"; do
		# shellcheck disable=SC2086 # the patch, then one word per mapping
		apply_entry "the @local entry" $e
	done
	git_lg checkout -q lg/patched
	nofix_branches
	msg SERIES "$n patches ($nside of them in series of their own${sides:+: ${sides[*]%%=*}}): lg/baseline $(git_lg rev-parse --short lg/baseline) (${#both[@]} of them), lg/patched $(git_lg rev-parse --short lg/patched)"
}

# nofix_branches: lg/nofix/NAME for each fix series of .git/lg-sides,
# lg/patched with that series' diff taken out, in an index of its own.
nofix_branches() {
	local name from to tree commit ref idx=$WORK/nofix.index
	git_lg for-each-ref --format='%(refname)' refs/heads/lg/nofix/ | while read -r ref; do
		git_lg update-ref -d "$ref"
	done
	while read -r name from to; do
		[[ $name != rust ]] || continue
		rm -f "$idx"
		GIT_INDEX_FILE=$idx git_lg read-tree lg/patched || die "cannot read lg/patched into $idx"
		git_lg diff-tree -p --binary "$from" "$to" | GIT_INDEX_FILE=$idx git_lg apply --cached -R ||
			die "the $name fix does not come out of lg/patched cleanly (a later patch changes its lines?)"
		tree=$(GIT_INDEX_FILE=$idx git_lg write-tree) &&
			commit=$(git_lg commit-tree "$tree" -p lg/patched -m "scx-loopguard: lg/patched without the $name fix") &&
			git_lg branch -q -f "lg/nofix/$name" "$commit" ||
			die "cannot make lg/nofix/$name"
	done <"$LINUX/.git/lg-sides"
	rm -f "$idx"
}

# Branch switches rewrite the tree a kernel build may be reading: hold the
# build/VM lock.
case ${1:-apply} in
apply) with_lock apply_series ;;
*) die "usage: series.sh [apply]" ;;
esac
