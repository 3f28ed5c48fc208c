#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Export the series of this base as a reviewer gets it: git format-patch
# output with a cover letter, on the pristine base, in $OUT/series.
#
# The entries marked @rust in kernel/BASE/series are a series of their own,
# written to $OUT/series-rust in the same way, and so is each @fix=NAME
# series (an upstream fix found on the way, for its own maintainers), to
# $OUT/series-NAME.
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
. "$(dirname "$0")/../lib/lib.sh"
lg_env

DIR=$OUT/series
WT=$WORK/export
# series.sh's record of the series of their own: "NAME FROM TO" lines
SIDES=$LINUX/.git/lg-sides
PLACEHOLDER_NAME="Placeholder Not-For-Sending"
PLACEHOLDER_EMAIL="no-git-identity@scx-loopguard.invalid"

KTAP=$([[ ${2:-} == --ktap ]] && echo 1)
result() {
	if [[ -n $KTAP ]]; then
		"$LG_TOP/tools/lib/ktap.py" add "$RESULTS" "$@"
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

# change_of REPO A B: the diff from A to B, without the blob ids (the
# pre-images of the @rust series differ between lg/base and lg/core).
change_of() {
	git -C "$1" diff "$2" "$3" | grep -v '^index '
}

# sparse_worktree ARGS... -- PATCH...: git worktree add ARGS, with only the
# files the PATCHes touch checked out: git am needs no others, and a full
# checkout of the kernel took about 40 s here, four times per base. The
# commits it makes still have the whole tree.
sparse_worktree() {
	local args=() wt files
	while [[ $1 != -- ]]; do
		args+=("$1")
		shift
	done
	shift
	git_lg worktree add -q -f --no-checkout "${args[@]}" || return 1
	wt=${args[-2]}
	mapfile -t files < <(sed -n 's|^diff --git a/\(.*\) b/\(.*\)$|/\1\n/\2|p' "$@" | sort -u)
	# .gitattributes too: its diff drivers shape the hunk headers that the
	# "make the change of" comparison reads.
	git -C "$wt" sparse-checkout set --no-cone -- .gitattributes "${files[@]}" &&
		git -C "$wt" checkout -q
}

# export_range FROM TO DIR SKIP WHAT: the commits FROM..TO, the first SKIP
# of them left out, each applied with git am to a pristine lg/base and
# authored and signed off by the person exporting it, then written to DIR
# with a cover letter. The files as written must git am onto lg/base once
# more and make exactly the change FROM..TO made, which is
# the result series/git-am[-WHAT].
export_range() {
	local from=$1 to=$2 dir=$3 skip=$4 what=$5 p patches n name=series/git-am${5:+-$5}
	rm -rf "$WORK/export-in"
	git_lg format-patch -q --zero-commit -o "$WORK/export-in" "$from..$to" ||
		die "git format-patch failed"
	patches=$(find "$WORK/export-in" -name '*.patch' | sort | tail -n +$((skip + 1)))
	n=$(wc -w <<<"$patches")
	git_lg worktree remove --force "$WT" >/dev/null 2>&1 || rm -rf "$WT"
	git_lg worktree prune
	# shellcheck disable=SC2086 # one argument per patch file
	sparse_worktree -B lg/upstream "$WT" lg/base -- $patches ||
		die "cannot check out lg/base in $WT"
	# Each patch as its own commit, then authored and signed off by the
	# person exporting it.
	for p in $patches; do
		if ! gitid am -q "$p" >"$WORK/export-am.log" 2>&1; then
			gitid am --abort >/dev/null 2>&1 || true
			result "not ok" "$name" "$(basename "$p") does not apply to lg/base: $(grep -m1 -E 'error|failed|Patch failed' "$WORK/export-am.log")"
			return 1
		fi
		gitid commit -q --amend --no-edit --no-verify --reset-author --signoff ||
			die "cannot sign off $(basename "$p")"
	done

	rm -rf "$dir"
	mkdir -p "$dir"
	# One patch of a series of its own (a fix) goes out as one mail, with
	# its notes below "---" (cover_of); anything longer has a cover letter.
	local cl=--cover-letter
	[[ -z $what || $n -gt 1 ]] || cl=--no-cover-letter
	gitid format-patch -q --zero-commit "$cl" --base=lg/base \
		-o "$dir" lg/base..lg/upstream || die "git format-patch failed"
	git_lg worktree remove --force "$WT"

	# What a reviewer does: git am of the files as written, on the base.
	# shellcheck disable=SC2046 # one argument per patch file
	sparse_worktree --detach "$WT" lg/base -- $(exported_patches "$dir") || die "cannot check out lg/base in $WT"
	# shellcheck disable=SC2046 # one argument per patch file
	if ! gitid am -q $(exported_patches "$dir") >"$WORK/export-am.log" 2>&1 ||
		! cmp -s <(change_of "$WT" lg/base HEAD) \
			<(change_of "$LINUX" "$([[ $from == lg/revert ]] && echo lg/base || echo "$from")" "$to"); then
		git -C "$WT" am --abort >/dev/null 2>&1 || true
		git_lg worktree remove --force "$WT"
		result "not ok" "$name" "the exported files do not git am to lg/base, or do not make the change of $from..$to"
		return 1
	fi
	git_lg worktree remove --force "$WT"
	# A branch by its name, a commit (the end of a series of its own) short.
	[[ $to == lg/* ]] || to=$(git_lg rev-parse --short "$to")
	local these="patches${what:+ of the $what series}, as exported, apply" make=make
	((n > 1)) || these="patch${what:+ of the $what series}, as exported, applies" make=makes
	result ok "$name" "$n $these with git am to lg/base ($(git_lg rev-parse --short lg/base)) and $make the change of $to; From/Signed-off-by: $ID_NAME <$ID_EMAIL>$ID_NOTE"
	echo "$ID_NAME <$ID_EMAIL>$ID_NOTE" >"$dir/.identity"
	msg SERIES "$n patches in $dir, signed off by $ID_NAME <$ID_EMAIL>$ID_NOTE"
}

# The main series is lg/revert..lg/core without patch 1; the @rust entries
# and each @fix=NAME series (series.sh's $SIDES) are series of their own,
# for other maintainers, on the same pristine base.
export_patches() {
	local n rc=0 name from to
	for b in lg/patched lg/core; do
		git_lg rev-parse -q --verify "$b" >/dev/null ||
			die "no $b in $LINUX; run 'make series' from the start"
	done
	[[ -f $SIDES ]] || die "no $SIDES; run 'make series' from the start"
	n=$(git_lg rev-list --count lg/revert..lg/core)
	((n >= 2)) || die "the series has $n patch(es); nothing to export after patch 1"
	identity
	export_range lg/revert lg/core "$DIR" 1 "" || rc=1
	rm -rf "$OUT"/series-*/
	while read -r name from to; do
		export_range "$from" "$to" "$OUT/series-$name" 0 "$name" || rc=1
	done <"$SIDES"
	return "$rc"
}

# cover_of DIR TEXT [KIND]: fill in DIR's cover letter from TEXT (the
# subject, a blank line, the body), this run's results (KIND, a series of
# its own: only that series' own) and who gets which patch, as the tree's
# own script says.
cover_of() {
	local dir=$1 cover=$1/0000-cover-letter.patch maint=$1/.maintainers p
	# A fix of one patch: its notes go into the patch itself.
	[[ -f $cover || -z ${3:-} || $(exported_patches "$dir" | wc -l) != 1 ]] ||
		cover=$(exported_patches "$dir")
	[[ -f $cover ]] || die "no $cover; run 'make series' first"
	: >"$maint"
	for p in $(exported_patches "$dir"); do
		{
			echo "$(basename "$p")"
			(cd "$LINUX" && in_chroot perl scripts/get_maintainer.pl --no-git --no-git-fallback \
				--no-rolestats --no-multiline --separator ', ' "$p" 2>/dev/null) ||
				echo "(scripts/get_maintainer.pl failed)"
		} >>"$maint"
	done
	"$LG_TOP/tools/review/cover.py" "$cover" "$BASE" "$LG_OUT" "$2" "$maint" \
		"$(git_lg log -1 --format=%s lg/base)" ${3:+"$3"} || die "cannot write the cover letter"
	msg SERIES "cover letter: $cover"
}

export_cover() {
	local d name
	cover_of "$DIR" "$SERIES_DIR/cover.txt"
	while read -r name d; do
		[[ -f $SERIES_DIR/cover-$name.txt ]] || die "kernel/$BASE/cover-$name.txt is missing: the cover text of the $name series"
		cover_of "$d" "$SERIES_DIR/cover-$name.txt" "$name"
	done < <(own_series)
}

case ${1:-} in
patches) with_lock export_patches ;;
cover) export_cover ;;
*) die "usage: export.sh patches [--ktap] | export.sh cover" ;;
esac
