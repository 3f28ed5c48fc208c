#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Apply the series of its base to a user's own 7.3.y or 6.12.y git tree, or
# take it back out.
#
#   apply.sh apply KDIR [PATCHDIR]    git am each patch onto KDIR's HEAD
#   apply.sh unapply KDIR             reset KDIR to where 'apply' found it
#   apply.sh check KDIR               only the checks that 'apply' makes first
#
# PATCHDIR holds the series as mbox files, in order (default: written from
# lg/revert..lg/patched into $OUT/apply). A patch whose changes KDIR already
# has (patch 1 is in v6.12) is skipped with its reason. Nothing is touched
# unless KDIR is a clean 6.12.y git tree with no git am or rebase under way.
# If any patch fails to apply, KDIR is reset to the commit it was at and the
# patch and its files are named. The commit is kept as
# refs/scx-loopguard/orig-head for 'unapply', which refuses to drop commits
# that are not the series'.
. "$(dirname "$0")/../lib/lib.sh"
lg_env

ORIG=refs/scx-loopguard/orig-head

# Never with an empty KDIR: git -C "" is the current directory.
g() {
	[[ -n $KDIR ]] || die "internal error: no KDIR"
	git -C "$KDIR" "$@"
}

# A committer identity only where the user has none: theirs goes first.
g_am() {
	if [[ -n $(g config user.email) ]]; then
		g am "$@"
	else
		g -c user.name=scx-loopguard -c user.email=scx-loopguard@localhost am "$@"
	fi
}

# check_kdir: everything that can be refused is refused here, before any
# change to KDIR. Sets KVER. Not in a subshell, so that die stops the script.
check_kdir() {
	local top gd
	[[ -n $KDIR ]] || die "no tree given: make apply KDIR=/path/to/linux (a 7.3.y or 6.12.y git tree)"
	KVER=$("$(dirname "$0")/../host/tree.sh" check "$KDIR") || exit 2
	top=$(g rev-parse --show-toplevel 2>/dev/null) ||
		die "KDIR=$KDIR: not a git tree; apply needs git to be able to undo"
	[[ $(cd "$top" && pwd -P) == $(cd "$KDIR" && pwd -P) ]] ||
		die "KDIR=$KDIR: not the top of its git tree ($top)"
	gd=$(g rev-parse --absolute-git-dir)
	[[ ! -d $gd/rebase-apply && ! -d $gd/rebase-merge ]] ||
		die "KDIR=$KDIR: a git am or rebase is in progress; finish or abort it first"
	g rev-parse -q --verify HEAD >/dev/null || die "KDIR=$KDIR: no commit checked out"
}

default_patches() {
	# The series comes from the harness's own tree (the set-up ran with KDIR=).
	local dir=$OUT/apply linux=$WORK/linux
	git -C "$linux" rev-parse -q --verify lg/patched >/dev/null ||
		die "no series in $linux; run 'make series' first"
	rm -rf "$dir"
	git -C "$linux" format-patch -q --zero-commit -o "$dir" lg/revert..lg/patched ||
		die "git format-patch failed"
	echo "$dir"
}

do_apply() {
	local dir=$1 orig p n=0 nr applied=0 skipped=0 files subj
	check_kdir
	[[ -n $dir ]] || dir=$(default_patches) || exit 2
	mapfile -t patches < <(find "$dir" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' ! -name '0000-*' | sort)
	nr=${#patches[@]}
	((nr > 0)) || die "no patches in $dir"
	if g rev-parse -q --verify "$ORIG" >/dev/null; then
		die "KDIR=$KDIR: the series was applied before ($ORIG exists); 'make unapply KDIR=$KDIR' first"
	fi
	orig=$(g rev-parse HEAD)
	msg APPLY "Linux $KVER at $(g rev-parse --short HEAD): $nr patches"
	for p in "${patches[@]}"; do
		n=$((n + 1))
		subj=$(patch_subject "$p")
		if g apply --check -R "$p" >/dev/null 2>&1; then
			msg SKIP "$n/$nr $subj: already in this tree (it reverse-applies cleanly)"
			skipped=$((skipped + 1))
			continue
		fi
		if ! g_am -q --keep-cr "$p" >"$OUT/apply-am.log" 2>&1; then
			files=$(sed -n -e 's/^error: patch failed: \(.*\):[0-9]*$/\1/p' \
				-e 's/^error: \(.*\): does not exist in index$/\1/p' \
				-e 's/^error: \(.*\): already exists in index$/\1/p' \
				-e 's/^error: \(.*\): patch does not apply$/\1/p' "$OUT/apply-am.log" |
				sort -u | paste -sd ' ')
			g am --abort >/dev/null 2>&1 || true
			g reset -q --hard "$orig"
			die "patch $n/$nr ($subj) does not apply to KDIR=$KDIR: conflict in ${files:-unknown files, see $OUT/apply-am.log}; the tree is back at $(g rev-parse --short "$orig") as it was"
		fi
		msg APPLY "$n/$nr $subj"
		applied=$((applied + 1))
	done
	g update-ref "$ORIG" "$orig"
	msg APPLY "$applied applied, $skipped skipped; KDIR is at $(g rev-parse --short HEAD)"
	msg APPLY "to undo: make unapply KDIR=$KDIR, or git -C $KDIR reset --hard $(g rev-parse --short "$orig")"
}

do_unapply() {
	local orig c subj
	check_kdir
	orig=$(g rev-parse -q --verify "$ORIG") ||
		die "KDIR=$KDIR: no $ORIG; the series was not applied with 'make apply'"
	g merge-base --is-ancestor "$orig" HEAD ||
		die "KDIR=$KDIR: HEAD no longer contains $ORIG; restore by hand (git reset --hard ${orig:0:12})"
	# Only drop commits that came from the series: compare with its subjects
	# (unfolded: a long Subject: header continues on the next line).
	local subjects="" p
	for p in "$SERIES_DIR"/*.patch; do
		subjects+="$(patch_subject "$p")"$'\n'
	done
	for c in $(g rev-list "$orig..HEAD"); do
		subj=$(g log -1 --format=%s "$c")
		grep -qxF -- "$subj" <<<"$subjects" ||
			die "KDIR=$KDIR: commit ${c:0:12} ('$subj') is not from the series; restore by hand (git reset --hard ${orig:0:12})"
	done
	g reset -q --hard "$orig"
	g update-ref -d "$ORIG"
	msg APPLY "KDIR is back at $(g rev-parse --short HEAD)"
}

KDIR=${2:-${KDIR:-}}
mkdir -p "$OUT"
case ${1:-} in
apply) do_apply "${3:-}" ;;
check) check_kdir ;;
base) check_kdir && echo "$BASE" ;;
unapply) do_unapply ;;
*) die "usage: apply.sh apply|unapply|check KDIR [PATCHDIR]" ;;
esac
