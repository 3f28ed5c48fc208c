#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Export the series of this base as a reviewer gets it: git format-patch
# output with a cover letter, on the pristine base, in $OUT/series.
#
# Patch 1 of kernel/BASE/series is the loop bound the base already carries
# (upstream commit 0922f54fdd15); it only exists to derive the baseline and
# is never exported. Patches 2..N are applied with git am to a pristine
# checkout of lg/base (branch lg/upstream), which must give exactly the tree
# of lg/patched: the "git am on the base" check. @local entries (the
# project's own tests) are on lg/local, never on lg/patched, so they never
# reach the export.
#
# Every exported patch is authored and signed off by the person who runs
# this, from their git identity (user.name, user.email). 'make series'
# refuses without one. 'make test' (--ktap) uses it when there is one, and a
# placeholder otherwise, which is said in the result; those patches are
# only for the checks of the run and must not be sent.
#
#   export.sh patches [--ktap]   write $OUT/series/*.patch, check git am
#   export.sh cover              add the cover letter with this run's results
. "$(dirname "$0")/lib.sh"

LINUX=$WORK/linux
DIR=$OUT/series
WT=$WORK/export
PLACEHOLDER_NAME="Placeholder Not-For-Sending"
PLACEHOLDER_EMAIL="no-git-identity@scx-loopguard.invalid"

KTAP=$([[ ${2:-} == --ktap ]] && echo 1)
result() {
	if [[ -n $KTAP ]]; then
		"$LG_TOP/tools/ktap.py" add "$RESULTS" "$@"
	else
		msg SERIES "$1: $2: $3"
	fi
}

# identity: ID_NAME and ID_EMAIL, from git config as the user has set it.
identity() {
	ID_NAME=$(git config user.name 2>/dev/null)
	ID_EMAIL=$(git config user.email 2>/dev/null)
	ID_NOTE=
	[[ -n $ID_NAME && -n $ID_EMAIL ]] && return
	if [[ -z $KTAP ]]; then
		die "the exported patches are signed off by you, and git has no identity for you; set it with: git config --global user.name 'Your Name'; git config --global user.email you@example.org"
	fi
	ID_NAME=$PLACEHOLDER_NAME
	ID_EMAIL=$PLACEHOLDER_EMAIL
	ID_NOTE=" (no git identity: signed off with a placeholder, not for sending)"
}

gitid() {
	git -C "$WT" -c user.name="$ID_NAME" -c user.email="$ID_EMAIL" -c gc.auto=0 "$@"
}

export_patches() {
	local n p patches
	git_lg rev-parse -q --verify lg/patched >/dev/null ||
		die "no lg/patched in $LINUX; run 'make series' from the start"
	n=$(git_lg rev-list --count lg/revert..lg/patched)
	((n >= 2)) || die "the series has $n patch(es); nothing to export after patch 1"
	identity

	rm -rf "$WORK/export-in"
	git_lg format-patch -q --zero-commit -o "$WORK/export-in" lg/revert..lg/patched ||
		die "git format-patch failed"
	patches=$(find "$WORK/export-in" -name '*.patch' | sort | tail -n +2)
	git_lg worktree remove --force "$WT" >/dev/null 2>&1 || rm -rf "$WT"
	git_lg worktree prune
	git_lg worktree add -q -f -B lg/upstream "$WT" lg/base ||
		die "cannot check out lg/base in $WT"
	# Each patch as its own commit, then authored and signed off by the
	# person exporting it.
	for p in $patches; do
		if ! gitid am -q "$p" >"$WORK/export-am.log" 2>&1; then
			gitid am --abort >/dev/null 2>&1 || true
			result "not ok" series/git-am "$(basename "$p") does not apply to lg/base: $(grep -m1 -E 'error|failed|Patch failed' "$WORK/export-am.log")"
			return 1
		fi
		gitid commit -q --amend --no-edit --no-verify --reset-author --signoff ||
			die "cannot sign off $(basename "$p")"
	done

	# The tree is compared with lg/patched below, once, on the files written.
	rm -rf "$DIR"
	mkdir -p "$DIR"
	gitid format-patch -q --zero-commit --cover-letter --base=lg/base \
		-o "$DIR" lg/base..lg/upstream || die "git format-patch failed"
	git_lg worktree remove --force "$WT"

	# What a reviewer does: git am of the files as written, on the base.
	git_lg worktree add -q -f --detach "$WT" lg/base || die "cannot check out lg/base in $WT"
	# shellcheck disable=SC2046 # one argument per patch file
	if ! gitid am -q $(exported_patches "$DIR") >"$WORK/export-am.log" 2>&1 ||
		! git -C "$WT" diff --quiet lg/patched HEAD; then
		git -C "$WT" am --abort >/dev/null 2>&1 || true
		git_lg worktree remove --force "$WT"
		result "not ok" series/git-am "the exported files do not git am to lg/base, or not to lg/patched's tree"
		return 1
	fi
	git_lg worktree remove --force "$WT"
	result ok series/git-am "patches 2..$n, as exported, apply with git am to lg/base ($(git_lg rev-parse --short lg/base)), tree = lg/patched; From/Signed-off-by: $ID_NAME <$ID_EMAIL>$ID_NOTE"
	echo "$ID_NAME <$ID_EMAIL>$ID_NOTE" >"$DIR/.identity"
	msg SERIES "$((n - 1)) patches in $DIR, signed off by $ID_NAME <$ID_EMAIL>$ID_NOTE"
}

export_cover() {
	local cover=$DIR/0000-cover-letter.patch maint=$DIR/.maintainers p
	[[ -f $cover ]] || die "no $cover; run 'make series' first"
	# Who gets which patch, as the tree's own script says.
	: >"$maint"
	for p in $(exported_patches "$DIR"); do
		{
			echo "$(basename "$p")"
			(cd "$LINUX" && in_chroot perl scripts/get_maintainer.pl --no-git --no-git-fallback \
				--no-rolestats --no-multiline --separator ', ' "$p" 2>/dev/null) ||
				echo "(scripts/get_maintainer.pl failed)"
		} >>"$maint"
	done
	"$LG_TOP/tools/cover.py" "$cover" "$BASE" "$LG_OUT" "$SERIES_DIR/cover.txt" "$maint" \
		"$(git_lg log -1 --format=%s lg/base)" || die "cannot write the cover letter"
	msg SERIES "cover letter: $cover"
}

case ${1:-} in
patches) with_lock export_patches ;;
cover) export_cover ;;
*) die "usage: export.sh patches [--ktap] | export.sh cover" ;;
esac
