#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Check that the series is bisectable: every prefix lg/revert..lg/patched~k
# builds. Each patch is built for what it touches:
#
#   kernel files     the kernel (tools/build/loopguard.config has CONFIG_WERROR=y),
#                    incrementally in the shared build directory, cached by
#                    tree like every image (kbuild.sh)
#   sched_ext tests  the sched_ext selftests, against that prefix's sources
#   Documentation/   make htmldocs SPHINXDIRS=scheduler, whose warnings must
#                    be those of lg/base, no more
#
# One KTAP result per patch, with the time each build took (or took when it
# was cached), and one for the docs. The tree is left at lg/patched, built.
. "$(dirname "$0")/../lib/lib.sh"
lg_env


WT=$WORK/bisect
STAMPS=$WORK/bisect-stamps

result() { "$LG_TOP/tools/lib/ktap.py" add "$RESULTS" "$@"; }

# What the documentation patch puts into the built page, and the base lacks.
case $BASE in
6.12) DOCS_MARK='Bounded Dispatch Retry' ;;
*) DOCS_MARK='SCX_DSP_MAX_LOOPS' ;;
esac

# worktree REF: check REF out, detached, in $WT. The worktree is kept for
# the next run: switching it between nearby commits is much faster than a
# fresh checkout of a kernel tree.
worktree() {
	if git -C "$WT" rev-parse --git-dir >/dev/null 2>&1; then
		git -C "$WT" checkout -q --detach -f "$1" && git -C "$WT" clean -q -fdx && return
	fi
	git -C "$LINUX" worktree remove --force "$WT" >/dev/null 2>&1 || rm -rf "$WT"
	git -C "$LINUX" worktree prune
	git -C "$LINUX" worktree add -q --detach "$WT" "$1" >/dev/null ||
		die "cannot check out $1 in $WT"
}

# stamped KIND ID CMD...: run CMD once per KIND and ID (a git tree id);
# prints how long it took, then or the first time.
stamped() {
	local kind=$1 id=$2 t0 stamp
	shift 2
	stamp=$STAMPS/$kind-$id
	if [[ -f $stamp ]]; then
		echo "$(cat "$stamp"), cached"
		return 0
	fi
	t0=$(date +%s)
	"$@" || return 1
	mkdir -p "$STAMPS"
	elapsed "$t0" | tee "$stamp"
}

build_selftests() {
	local q=()
	[[ $V == 1 ]] || q=(-s)
	rm -rf "$WORK/bisect-selftests"
	mkdir -p "$WORK/bisect-selftests"
	logto "$OUT/logs/bisect-selftests.log" in_chroot make "${q[@]}" -j"$(nproc)" \
		-C "$WT/tools/testing/selftests/sched_ext" O="$KB" \
		OUTPUT="$WORK/bisect-selftests" LLVM=1
}

# htmldocs REF LOG: the scheduler docs of REF; LOG gets the warnings, with
# paths and line numbers dropped so that moved text compares equal.
htmldocs() {
	worktree "$1"
	rm -rf "$WORK/bisect-docs"
	in_chroot make -C "$WT" O="$WORK/bisect-docs" htmldocs SPHINXDIRS=scheduler \
		>"$2.raw" 2>&1 || return 1
	grep -E 'WARNING|ERROR' "$2.raw" | grep -v 'dot(1) not found' |
		sed -E 's|^[^ ]*/Documentation/([^:]*):[0-9]*:|\1:|' | sort -u >"$2"
}

docs_check() {
	local top=$1 base=$OUT/logs/docs-base.txt new=$OUT/logs/docs-patched.txt extra t0 stamp html
	stamp=$STAMPS/docs-$(git -C "$LINUX" rev-parse "lg/base:Documentation")-$(git -C "$LINUX" rev-parse "$top:Documentation")
	if [[ -f $stamp ]]; then
		result ok docs/htmldocs "$(cat "$stamp") (cached)"
		return
	fi
	t0=$(date +%s)
	if ! htmldocs lg/base "$base" || ! htmldocs "$top" "$new"; then
		result "not ok" docs/htmldocs "make htmldocs failed, see $base.raw and $new.raw"
		return
	fi
	extra=$(comm -13 "$base" "$new")
	html=$(find "$WORK/bisect-docs" -name sched-ext.html | head -n1)
	if [[ -n $extra ]]; then
		printf '    %s\n' "$extra" >&2
		result "not ok" docs/htmldocs "$(wc -l <<<"$extra") new warning(s), see $new.raw"
	elif [[ -z $html ]] || ! grep -q "$DOCS_MARK" "$html"; then
		result "not ok" docs/htmldocs "no '$DOCS_MARK' in the built sched-ext.html"
	else
		mkdir -p "$STAMPS"
		echo "make htmldocs SPHINXDIRS=scheduler: no new warnings ($(wc -l <"$base") on lg/base too), $(elapsed "$t0")" >"$stamp"
		result ok docs/htmldocs "$(cat "$stamp")"
	fi
}

main() {
	local commits c k=0 n files what t kernels=() name subj note
	commits=$(git -C "$LINUX" rev-list --reverse lg/revert..lg/patched) ||
		die "no lg/revert..lg/patched; run 'make series' first"
	n=$(wc -w <<<"$commits")

	# The kernels first, all in one kbuild.sh run, which ends at lg/patched.
	for c in $commits; do
		k=$((k + 1))
		files=$(git -C "$LINUX" diff-tree --no-commit-id --name-only -r "$c")
		grep -qvE '^(tools|Documentation)/' <<<"$files" && kernels+=("prefix-$k=$c")
	done
	"$LG_TOP/tools/build/kbuild.sh" "${kernels[@]}" patched || {
		result "not ok" bisect/kernels "a prefix of the series does not build, see $OUT/logs"
		return 1
	}

	k=0
	for c in $commits; do
		k=$((k + 1))
		subj=$(git -C "$LINUX" log -1 --format=%s "$c")
		name=bisect/$(printf '%d-of-%d' "$k" "$n")
		files=$(git -C "$LINUX" diff-tree --no-commit-id --name-only -r "$c")
		what=()
		if grep -qvE '^(tools|Documentation)/' <<<"$files"; then
			if [[ -f $WORK/kernels/prefix-$k/build-time ]]; then
				what+=("kernel $(cat "$WORK/kernels/prefix-$k/build-time")")
			else
				what+=("kernel cached")
			fi
		fi
		if grep -q '^tools/testing/selftests/sched_ext/' <<<"$files"; then
			worktree "$c"
			if ! t=$(stamped selftests "$(git -C "$LINUX" rev-parse "$c:tools")" build_selftests); then
				result "not ok" "$name" "$subj: the selftests do not build, see $OUT/logs/bisect-selftests.log"
				continue
			fi
			what+=("selftests $t")
		fi
		if grep -q '^Documentation/' <<<"$files"; then
			what+=("docs: see docs/htmldocs")
		fi
		note=$(IFS=';'; echo "${what[*]}")
		result ok "$name" "$subj: built (${note//;/, })"
	done
	docs_check "$(git -C "$LINUX" rev-parse lg/patched)"
}

with_lock main
