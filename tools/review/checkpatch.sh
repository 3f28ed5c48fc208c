#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# checkpatch.pl --strict on every exported patch of the series, as
# export.sh wrote it into $OUT/series, and of each series of its own in
# $OUT/series-KIND (the Rust one, the fixes: results checkpatch/KIND/NAME)
# if this base has them; each
# twice: from the top of the tree, as today's tree checks it, and from an
# empty directory with --no-tree (results checkpatch/no-tree/...), as a
# reviewer runs it on a mailed patch. The second matters: with a .git in
# reach, checkpatch looks commit ids up instead of checking how they are
# cited, and an id it cannot find hides the format error (GIT_COMMIT_ID).
# A patch passes with 0 errors, 0 warnings and 0 checks, except for a few,
# each matched narrowly and named in the result: the verdict and its
# exceptions are ktap.py's (checkpatch_verdict()). One of them needs to know
# that no upstream commit id can be looked up, and why: in the tree, a
# source tarball's import has no upstream history; from the empty directory
# there is no git at all. How each id is cited (GIT_COMMIT_ID) is still
# checked there, as no lookup stands in for it.
. "$(dirname "$0")/../lib/lib.sh"
lg_env


# The patches exactly as exported (export.sh): signed off, patch 1 left out.
DIR=$OUT/series
ls "$DIR"/0001-*.patch >/dev/null 2>&1 || die "no exported series in $DIR; the export stage comes first"

no_history=$([[ $(git -C "$LINUX" rev-list --count lg/base) == 1 ]] && echo "no upstream history in a tarball tree")

# check WHERE NAME-PREFIX CHECKPATCH-ARGS...: every patch, from WHERE; exit
# 1 if one is not clean.
check() {
	local where=$1 prefix=$2 p name d kind st out rc=0
	shift 2
	out=$(mktemp)
	for p in $(exported_patches "$DIR") $(own_series | while read -r _ d; do exported_patches "$d"; done); do
		kind=
		[[ $(dirname "$p") == "$DIR" ]] || kind=${p#"$OUT"/series-} kind=${kind%%/*}
		name=$prefix${kind:+$kind/}$(basename "$p" .patch)
		# In the chroot: its spdxcheck.py needs python3-ply and python3-git.
		st=0
		(cd "$where" && in_chroot "$LINUX/scripts/checkpatch.pl" "$@" --strict --terse \
			--show-types --no-summary "$p") >"$out" 2>&1 || st=$?
		"$LG_TOP/tools/lib/ktap.py" checkpatch "$RESULTS" "$name" "$out" "$st" "$p" \
			"$LINUX/MAINTAINERS" "$no_history" || rc=1
	done
	rm -f "$out"
	return "$rc"
}

# The two passes side by side (one per CPU), each into results of its own,
# appended in order.
rc=0
bare=$(mktemp -d)
tree_results=$(mktemp)
bare_results=$(mktemp)
RESULTS=$tree_results check "$LINUX" checkpatch/ &
tree_pass=$!
RESULTS=$bare_results no_history="no git repository to look ids up in" check "$bare" checkpatch/no-tree/ --no-tree &
bare_pass=$!
wait "$tree_pass" || rc=1
wait "$bare_pass" || rc=1
cat "$tree_results" "$bare_results" >>"$RESULTS"
rm -rf "$bare" "$tree_results" "$bare_results"
exit "$rc"
