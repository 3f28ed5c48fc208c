#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The developer's loop: a work tree of the series that the harness never
# resets, a snapshot of it to build and test, and the way back into kernel/.
#
#   edit.sh start      $WORK/edit: a git worktree on branch lg/edit, made from
#                      lg/local (the series, then the project's own tests) the
#                      first time and kept as it is afterwards
#   edit.sh snapshot   what the work tree holds, edits not committed included,
#                      as branch lg/edit-build; the work tree and its index are
#                      not touched
#   edit.sh refresh    write lg/edit back into kernel/BASE/: its commits map
#                      one to one, in order, onto the entries of
#                      kernel/BASE/series; an entry whose commit changed gets
#                      its patch rewritten and its folder files (SRC=DEST)
#                      copied back. 'make refresh' then applies the series
#                      again, checks that it gives lg/edit's tree, and runs
#                      the export and checkpatch.
#
# The usual kernel way to change a patch: commit the edit with
# 'git commit --fixup=COMMIT', then 'git rebase -i --autosquash lg/base'.
. "$(dirname "$0")/../lib/lib.sh"
lg_env

EDIT=$WORK/edit

edit_start() {
	git_lg rev-parse -q --verify lg/local >/dev/null || die "no lg/local in $LINUX; run 'make series' first"
	if [[ -d $EDIT ]]; then
		git -C "$EDIT" rev-parse -q --verify HEAD >/dev/null ||
			die "$EDIT exists but is not a git work tree; move it away"
		msg EDIT "kept as it is: $EDIT (branch lg/edit, $(git_lg rev-list --count lg/local..lg/edit 2>/dev/null || echo '?') commits past the series as last applied, $(git -C "$EDIT" status --porcelain | wc -l) files changed and not committed)"
		return
	fi
	git_lg worktree prune
	git_lg worktree add -q -B lg/edit "$EDIT" lg/local || die "cannot make the work tree $EDIT"
	msg EDIT "your work tree: $EDIT (branch lg/edit, from lg/local); the harness never resets it"
}

edit_snapshot() {
	local idx tree snap
	[[ -d $EDIT ]] || die "no work tree $EDIT; run 'make edit' first"
	idx=$(mktemp)
	cp "$(git -C "$EDIT" rev-parse --path-format=absolute --git-path index)" "$idx" || die "cannot read the index of $EDIT"
	GIT_INDEX_FILE=$idx git -C "$EDIT" add -A || die "cannot snapshot $EDIT"
	tree=$(GIT_INDEX_FILE=$idx git -C "$EDIT" write-tree) || die "cannot snapshot $EDIT"
	rm -f "$idx"
	if [[ $tree == "$(git -C "$EDIT" rev-parse 'HEAD^{tree}')" ]]; then
		snap=$(git -C "$EDIT" rev-parse HEAD)
	else
		snap=$(git_lg commit-tree "$tree" -p "$(git -C "$EDIT" rev-parse HEAD)" \
			-m "scx-loopguard: the edits in $EDIT not yet committed") || die "cannot snapshot $EDIT"
	fi
	git_lg branch -q -f lg/edit-build "$snap" || die "cannot point lg/edit-build at the snapshot of $EDIT"
	msg EDIT "lg/edit-build $(git_lg rev-parse --short lg/edit-build): $EDIT as it is now"
}

# same_change A B: commits A and B have the same message and make the same
# change (blob ids left out: their parents may differ).
same_change() {
	cmp -s <(git_lg show --format=%B "$1" | grep -v '^index ') <(git_lg show --format=%B "$2" | grep -v '^index ')
}

# mbox COMMIT EXCLUDE...: COMMIT as the series keeps a patch: an mbox with
# its author, date and message, and its diff without the EXCLUDEd paths
# (which live in repo folders); just the message if nothing is left.
mbox() {
	local c=$1 p
	shift
	# A range, not -1: with paths, -1 would take the last commit that
	# touches them, which need not be COMMIT.
	p=$(git_lg format-patch --zero-commit --stdout --no-signature "$c^..$c" -- . "${@/#/:(exclude)}")
	if [[ -n $p ]]; then
		printf '%s\n' "$p"
		return
	fi
	git_lg log -1 --format='From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001%nFrom: %an <%ae>%nDate: %aD%nSubject: [PATCH] %s%n%n%b%n---' "$c"
}

edit_refresh() {
	local commits applied all entry c p rest o src dest f name n=0 changed=0 ex
	git_lg rev-parse -q --verify lg/edit >/dev/null || die "no lg/edit; run 'make edit' first"
	git_lg rev-parse -q --verify lg/local >/dev/null || die "no lg/local; run 'make series' first"
	[[ -z $(git -C "$EDIT" status --porcelain 2>/dev/null) ]] ||
		die "$EDIT has changes not committed; commit them (e.g. git commit --fixup=COMMIT, then git rebase -i --autosquash lg/base) and run 'make refresh' again"
	mapfile -t commits < <(git_lg rev-list --reverse lg/base..lg/edit)
	mapfile -t applied < <(git_lg rev-list --reverse lg/base..lg/local)
	# The baseline's revert commit, when the base carries patch 1, is not an entry.
	if ((${#commits[@]})) && [[ $(git_lg log -1 --format=%s "${commits[0]}") == "scx-loopguard baseline: revert"* ]]; then
		commits=("${commits[@]:1}")
		applied=("${applied[@]:1}")
	fi
	mapfile -t all < <(series_entries)
	((${#commits[@]} == ${#all[@]})) ||
		die "lg/edit has ${#commits[@]} commits after lg/base (the revert aside) and kernel/$BASE/series ${#all[@]} entries; fold new work into an entry (git rebase -i --autosquash lg/base), or add the patch to kernel/$BASE/series by hand"
	for entry in "${all[@]}"; do
		c=${commits[n]}
		read -r p rest <<<"$entry"
		n=$((n + 1))
		if ((n == 1)); then
			git_lg diff --quiet lg/base "$c" ||
				die "commit 1 of lg/edit changes patch 1, the base's own loop bound, whose reverse is the baseline; put the change into a later commit"
			continue
		fi
		if same_change "$c" "${applied[n - 1]}"; then
			continue
		fi
		ex=()
		for o in $rest; do
			[[ $o == *=* ]] || continue
			src=${o%%=*} dest=${o#*=}
			# Files this commit changed directly in DEST go back to SRC
			# if SRC has them or the commit adds them; changes to the
			# tree's own files stay in the patch.
			while read -r f; do
				name=${f#"$dest"/}
				[[ $name == */* ]] && continue
				[[ -f $LG_TOP/$src/$name ]] || ! git_lg cat-file -e "$c^:$f" 2>/dev/null || continue
				if git_lg cat-file -e "$c:$f" 2>/dev/null; then
					git_lg show "$c:$f" >"$LG_TOP/$src/$name"
				else
					rm -f "$LG_TOP/$src/$name"
				fi
			done < <(git_lg diff-tree -r --no-commit-id --name-only "$c^" "$c" -- "$dest")
			for f in "$LG_TOP/$src"/*; do
				[[ -f $f ]] && ex+=("$dest/$(basename "$f")")
			done
		done
		mbox "$c" "${ex[@]}" >"$SERIES_DIR/$p" || die "cannot write kernel/$BASE/$p"
		msg REFRESH "kernel/$BASE/$p$([[ -n $rest ]] && echo " and its folder files") from $(git_lg log -1 --format='%h %s' "$c")"
		changed=$((changed + 1))
	done
	msg REFRESH "$changed of $n entries rewritten; applying the series again to check"
}

edit_verify() {
	[[ $(git_lg rev-parse 'lg/local^{tree}') == "$(git_lg rev-parse 'lg/edit^{tree}')" ]] ||
		die "the series in kernel/$BASE/, applied again, does not give lg/edit's tree: $(git_lg diff --stat lg/edit lg/local | tail -n1)"
	msg REFRESH "kernel/$BASE/, applied with git am, gives exactly lg/edit's tree"
}

case ${1:-} in
start) with_lock edit_start ;;
snapshot) with_lock edit_snapshot ;;
refresh) with_lock edit_refresh ;;
verify) edit_verify ;;
*) die "usage: edit.sh start | snapshot | refresh | verify" ;;
esac
