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
# A patch passes with 0 errors, 0 warnings and 0 checks, except for these,
# each matched narrowly and named in the result:
#
#   UNKNOWN_COMMIT_ID   no upstream commit id can be looked up: in the tree,
#                       a source tarball's import has no upstream history;
#                       from the empty directory there is no git at all.
#                       How each id is cited (GIT_COMMIT_ID) is still checked
#                       there, as no lookup stands in for it
#   FILE_PATH_CHANGES   a new file under a path that MAINTAINERS already lists
#   VOLATILE            "const volatile" in a *.bpf.c file: the BPF rodata
#                       idiom, settable before load, as upstream's tests use it
. "$(dirname "$0")/../lib/lib.sh"
lg_env


# The patches exactly as exported (export.sh): signed off, patch 1 left out.
DIR=$OUT/series
ls "$DIR"/0001-*.patch >/dev/null 2>&1 || die "no exported series in $DIR; the export stage comes first"

no_history=$([[ $(git -C "$LINUX" rev-list --count lg/base) == 1 ]] && echo "no upstream history in a tarball tree")

# covered PATH: MAINTAINERS has an F: pattern that is a prefix of PATH.
covered() {
	awk -v p="$1" '/^F:\t/ { f = $2; sub(/\*$/, "", f); if (index(p, f) == 1) { found = 1; exit } }
		END { exit !found }' "$LINUX/MAINTAINERS"
}

# accepted PATCH "FILE:LINE: TYPE:KIND: ..." -> prints the exception name
accepted() {
	local patch=$1 line=$2 kind n text f
	kind=$(sed -n 's/^[^:]*:[0-9]*: [A-Z]*:\([A-Z_0-9]*\):.*/\1/p' <<<"$line")
	n=$(sed -n 's/^[^:]*:\([0-9]*\):.*/\1/p' <<<"$line")
	case $kind in
	UNKNOWN_COMMIT_ID)
		[[ -n $no_history ]] && echo "$kind ($no_history)"
		;;
	FILE_PATH_CHANGES)
		for f in $(git apply --numstat --summary "$patch" | sed -n 's/^ create mode [0-9]* //p'); do
			covered "$f" || return 1
		done
		echo "$kind (new files already covered by MAINTAINERS)"
		;;
	VOLATILE)
		text=$(sed -n "${n}p" "$patch")
		f=$(awk -v n="$n" 'NR <= n && /^\+\+\+ b\// { f = substr($0, 7) } END { print f }' "$patch")
		[[ $text == "+const volatile "* && $f == *.bpf.c ]] &&
			echo "$kind (BPF rodata 'const volatile' in $f)"
		;;
	*) return 1 ;;
	esac
}

# check WHERE NAME-PREFIX CHECKPATCH-ARGS...: every patch, from WHERE.
rc=0
check() {
	local where=$1 prefix=$2 p name out bad ok l e
	shift 2
	local d kind
	for p in $(exported_patches "$DIR") $(own_series | while read -r _ d; do exported_patches "$d"; done); do
		kind=
		[[ $(dirname "$p") == "$DIR" ]] || kind=${p#"$OUT"/series-} kind=${kind%%/*}
		name=$prefix${kind:+$kind/}$(basename "$p" .patch)
		# In the chroot: its spdxcheck.py needs python3-ply and python3-git.
		out=$(cd "$where" && in_chroot "$LINUX/scripts/checkpatch.pl" "$@" --strict --terse \
			--show-types --no-summary "$p" 2>&1)
		bad=() ok=()
		while IFS= read -r l; do
			[[ -n $l ]] || continue
			if e=$(accepted "$p" "$l"); then
				ok+=("$e")
			else
				bad+=("$l")
			fi
		done <<<"$out"
		if ((${#bad[@]})); then
			printf '    %s\n' "${bad[@]}" >&2
			"$LG_TOP/tools/lib/ktap.py" add "$RESULTS" "not ok" "$name" "${#bad[@]} problem(s)"
			rc=1
		else
			"$LG_TOP/tools/lib/ktap.py" add "$RESULTS" ok "$name" \
				"0 errors, 0 warnings, 0 checks$( ((${#ok[@]})) && printf '; accepted: %s' "$(printf '%s\n' "${ok[@]}" | sort -u | paste -sd ';')")"
		fi
	done
}
check "$LINUX" checkpatch/
no_history="no git repository to look ids up in"
bare=$(mktemp -d)
check "$bare" checkpatch/no-tree/ --no-tree
rmdir "$bare"
exit "$rc"
