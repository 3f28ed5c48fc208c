#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Export the series as a reviewer gets it: git format-patch output with a
# cover letter, on the pristine 6.12.y base, in $OUT/series.
#
# Patch 1 of kernel/series is upstream commit 0922f54fdd15, which v6.12
# already has, so the exported series is patches 2..N. They are applied with
# git am to a pristine checkout of lg/base (branch lg/upstream), which must
# give exactly the tree of lg/patched; that is the "git am on the base"
# check. The cover letter quotes the figures of the last run in $OUT.
#
#   export.sh [--ktap]   write $OUT/series; with --ktap, the git am check
#                        is also a KTAP result in $RESULTS
. "$(dirname "$0")/lib.sh"

LINUX=$WORK/linux
RESULTS=${RESULTS:-$OUT/results.txt}
DIR=$OUT/series
WT=$WORK/export

KTAP=$([[ ${1:-} == --ktap ]] && echo 1)
result() {
	if [[ -n $KTAP ]]; then
		"$LG_TOP/tools/ktap.py" add "$RESULTS" "$@"
	else
		msg SERIES "$1: $2: $3"
	fi
}

export_series() {
	local n patches
	git_lg rev-parse -q --verify lg/patched >/dev/null ||
		die "no lg/patched in $LINUX; run 'make series' from the start"
	n=$(git_lg rev-list --count lg/revert..lg/patched)
	((n >= 2)) || die "the series has $n patch(es); nothing to export after patch 1"

	# Patches 2..N, then git am on a pristine base.
	rm -rf "$WORK/export-in"
	git_lg format-patch -q --zero-commit -o "$WORK/export-in" lg/revert..lg/patched ||
		die "git format-patch failed"
	patches=$(find "$WORK/export-in" -name '*.patch' | sort | tail -n +2)
	git_lg worktree remove --force "$WT" >/dev/null 2>&1 || rm -rf "$WT"
	git_lg worktree prune
	git_lg worktree add -q -f -B lg/upstream "$WT" lg/base ||
		die "cannot check out lg/base in $WT"
	# shellcheck disable=SC2086 # one argument per patch file
	if ! git -C "$WT" -c user.name=scx-loopguard -c user.email=scx-loopguard@localhost \
		am -q $patches >"$WORK/export-am.log" 2>&1; then
		git -C "$WT" am --abort >/dev/null 2>&1 || true
		result "not ok" series/git-am "patches 2..$n do not apply to lg/base: $(grep -m1 -E 'error|failed|Patch failed' "$WORK/export-am.log")"
		return 1
	fi
	if ! git_lg diff --quiet lg/upstream lg/patched; then
		result "not ok" series/git-am "git am on lg/base does not give lg/patched's tree"
		return 1
	fi
	result ok series/git-am "patches 2..$n apply with git am to lg/base ($(git_lg rev-parse --short lg/base)), tree = lg/patched"

	rm -rf "$DIR"
	mkdir -p "$DIR"
	git -C "$LINUX" -c user.name="scx-loopguard developers" -c user.email=scx-loopguard@example.org \
		format-patch -q --zero-commit --cover-letter --base=lg/base \
		-o "$DIR" lg/base..lg/upstream || die "git format-patch failed"
	"$LG_TOP/tools/cover.py" "$DIR"/0000-cover-letter.patch "$OUT" \
		"$(git_lg log -1 --format=%s lg/base)" || die "cannot write the cover letter"
	git_lg worktree remove --force "$WT"
	msg SERIES "$((n - 1)) patches and a cover letter in $DIR"
}

with_lock export_series
