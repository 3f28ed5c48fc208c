#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Unit checks of the harness's shell side: tree detection, series
# application and export, apply/unapply, the edit loop, the pipeline's
# status and the refusals. No VM, no kernel build; each check
# runs the real script on a small synthetic tree or a recorded log. The
# verdicts of tools/lib/ktap.py have their tests in test_verdicts.py, the
# guest watcher its own in test_watch.py (with a fake vng), which pytest
# runs (make unit, make test).
# The synthetic trees are 6.12-shaped (kernel/sched/ext.c); the 7.3 checks
# say BASE=7.3 themselves.
export BASE=6.12
. "$(dirname "$0")/../lib/lib.sh"
lg_env

T=$LG_TOP/tools

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# Synthetic trees only: never wait for the lock of a real build.
export LG_LOCK=$TMP/lock
mkdir -p "$OUT"

check() {
	local name=$1
	shift
	if out=$("$@" 2>&1); then
		"$T/lib/ktap.py" add "$RESULTS" ok "unit/$name"
	else
		"$T/lib/ktap.py" add "$RESULTS" "not ok" "unit/$name" "$(tail -n1 <<<"$out")"
	fi
}

# expect_fail PATTERN CMD...: CMD must fail and say PATTERN.
expect_fail() {
	local pat=$1 out
	shift
	if out=$("$@" 2>&1); then
		echo "succeeded, but should have failed with '$pat'"
		return 1
	fi
	grep -q -- "$pat" <<<"$out" || { echo "failed without '$pat': $out"; return 1; }
}

gitq() { git -c user.name=t -c user.email=t@t -c init.defaultBranch=main "$@" >/dev/null; }

# tree WORK KDIR: tree.sh imports KDIR into WORK's folder for that tree; the
# checks after it run without KDIR, so WORK/linux points there too.
tree() {
	WORK=$1 KDIR=$2 "$T/host/tree.sh" >/dev/null 2>&1 || return 1
	ln -sfn "$(WORK=$1 KDIR=$2 bash -c '. "$0"/lib/lib.sh; lg_env; echo "$LINUX"' "$T")" "$1/linux"
}

# A fake Linux tree: top Makefile with VERSION/PATCHLEVEL, kernel/sched/ext.c.
fake_tree() {
	local dir=$1 ver=$2 patch=$3
	mkdir -p "$dir/kernel/sched"
	printf 'VERSION = %s\nPATCHLEVEL = %s\nSUBLEVEL = 9\n' "$ver" "$patch" >"$dir/Makefile"
	printf 'static int balance_one(void)\n{\n\tint nr_loops = 32;\n\treturn nr_loops;\n}\n' \
		>"$dir/kernel/sched/ext.c"
	gitq -C "$dir" init
	gitq -C "$dir" add -A
	gitq -C "$dir" commit -m base
}

t_tree_ok() {
	fake_tree "$TMP/ok" 6 12
	[[ $("$T/host/tree.sh" check "$TMP/ok") == 6.12.9 ]]
}
t_tree_missing() { expect_fail "no such directory" "$T/host/tree.sh" check "$TMP/nope"; }
t_tree_not_linux() {
	mkdir -p "$TMP/empty"
	expect_fail "not a Linux 6.12 tree" "$T/host/tree.sh" check "$TMP/empty"
}
t_tree_wrong_version() {
	fake_tree "$TMP/v611" 6 11
	expect_fail "Linux 6.11.9, but the series is for 6.12.y" "$T/host/tree.sh" check "$TMP/v611"
}
t_tree_dirty() {
	fake_tree "$TMP/dirty" 6 12
	echo "/* local change */" >>"$TMP/dirty/kernel/sched/ext.c"
	expect_fail "uncommitted changes" "$T/host/tree.sh" check "$TMP/dirty"
}
# KDIR trees are prepared without writing to them: a git tree stays as it was.
t_tree_kdir_untouched() {
	fake_tree "$TMP/user" 6 12
	local before after
	before=$(cd "$TMP/user" && git rev-parse HEAD && git status --porcelain && find . | sort | sha256sum)
	tree $TMP/w1 $TMP/user || return 1
	after=$(cd "$TMP/user" && git rev-parse HEAD && git status --porcelain && find . | sort | sha256sum)
	[[ $before == "$after" ]] && git -C "$TMP/w1/linux" rev-parse -q --verify lg/base >/dev/null
}

# A fake project: kernel/BASE/series with patch 1 (already in the tree, as in 6.12)
# and patch 2 (new), made with git format-patch from the fake tree.
fake_series() {
	local top=$1 tree=$2 bad=${3:-}
	mkdir -p "$top/kernel/$BASE"
	gitq -C "$tree" checkout -q -b mk
	sed -i '/nr_loops = 32/d; s/return nr_loops;/return 0;/' "$tree/kernel/sched/ext.c"
	gitq -C "$tree" commit -qam "revert"
	git -C "$tree" show main:kernel/sched/ext.c >"$tree/kernel/sched/ext.c"
	gitq -C "$tree" commit -qam "sched_ext: guard"
	echo "/* new */" >>"$tree/kernel/sched/ext.c"
	[[ -n $bad ]] && sed -i 's/balance_one/balance_two/' "$tree/kernel/sched/ext.c"
	gitq -C "$tree" commit -qam "sched_ext: more"
	git -C "$tree" format-patch -q -2 -o "$top/kernel/$BASE"
	gitq -C "$tree" checkout -q main
	gitq -C "$tree" branch -q -D mk
	(cd "$top/kernel/$BASE" && ls *.patch) >"$top/kernel/$BASE/series"
	# A bad patch 2 must not apply on the real base.
	[[ -z $bad ]] || sed -i 's/^-static int balance_one/-static int balance_xxx/' "$top"/kernel/$BASE/0002-*.patch
}

# message_patch FILE SUBJECT LINE...: an mbox by A U Thor with only a
# message (its files come from a folder mapping of the series).
message_patch() {
	local f=$1 subject=$2
	shift 2
	printf '%s\n' "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001" \
		"From: A U Thor <author@example.org>" "Date: Mon, 23 Nov 2026 23:30:00 +0000" \
		"Subject: [PATCH] $subject" "" "$@" "---" >"$f"
}

# fake_rust_series TOP TREE WORK: the fake series plus a message-only @rust
# entry whose file comes from TOP/r, applied in WORK.
fake_rust_series() {
	local top=$1 tree=$2 work=$3
	fake_tree "$tree" 6 12
	fake_series "$top" "$tree"
	mkdir -p "$top/r"
	echo "// kprobes" >"$top/r/kprobes.rs"
	message_patch "$top/kernel/$BASE/0003-rust.patch" "rust: Add kprobes" "Why."
	echo "0003-rust.patch r=rust/kernel @rust" >>"$top/kernel/$BASE/series"
	tree $work $tree || { echo "tree.sh failed"; return 1; }
	WORK=$work LG_TOP=$top "$T/build/series.sh" 2>/dev/null || { echo "series.sh failed"; return 1; }
}

t_series_ok() {
	fake_tree "$TMP/s1" 6 12
	fake_series "$TMP/p1" "$TMP/s1"
	tree $TMP/w2 $TMP/s1 || return 1
	WORK=$TMP/w2 LG_TOP=$TMP/p1 "$T/build/series.sh" || return 1
	local l=$TMP/w2/linux
	# baseline lacks the guard, patched has it and patch 2 on top
	! grep -q nr_loops <(git -C "$l" show lg/baseline:kernel/sched/ext.c) &&
		grep -q nr_loops <(git -C "$l" show lg/patched:kernel/sched/ext.c) &&
		grep -q 'new' <(git -C "$l" show lg/patched:kernel/sched/ext.c)
}
# A message-only patch whose files come from a repo folder (SRC=DEST).
t_series_overlay() {
	fake_tree "$TMP/s4" 6 12
	fake_series "$TMP/p4" "$TMP/s4"
	rm "$TMP"/p4/kernel/$BASE/0002-*.patch
	mkdir -p "$TMP/p4/doc"
	echo "new text" >"$TMP/p4/doc/guide.rst"
	message_patch "$TMP/p4/kernel/$BASE/0002-doc.patch" "doc: Add a guide" "Why the guide." "" \
		"Signed-off-by: A U Thor <author@example.org>"
	sed -i '2d' "$TMP/p4/kernel/$BASE/series"
	echo "0002-doc.patch doc=Documentation/x" >>"$TMP/p4/kernel/$BASE/series"
	tree $TMP/w5 $TMP/s4 || return 1
	WORK=$TMP/w5 LG_TOP=$TMP/p4 "$T/build/series.sh" || return 1
	local l=$TMP/w5/linux
	[[ $(git -C "$l" show lg/patched:Documentation/x/guide.rst) == "new text" ]] &&
		[[ $(git -C "$l" log -1 --format='%an|%s' lg/patched) == "A U Thor|doc: Add a guide" ]]
}

# An @rust entry: a series of its own on top (lg/core is the main series'
# tip), in both kernels; a main entry after it is refused.
t_series_rust() {
	fake_rust_series "$TMP/p6" "$TMP/s6" "$TMP/w6" || return 1
	local l=$TMP/w6/linux
	[[ $(git -C "$l" rev-parse lg/core) == "$(git -C "$l" rev-parse lg/patched~1)" ]] ||
		{ echo "lg/core is not the tip of the main series"; return 1; }
	[[ $(git -C "$l" show lg/baseline:rust/kernel/kprobes.rs) == "// kprobes" ]] ||
		{ echo "the baseline lacks the @rust entry"; return 1; }
	grep -q 'new' <(git -C "$l" show lg/core:kernel/sched/ext.c) || { echo "lg/core lacks patch 2"; return 1; }
	# A main entry after an @rust one.
	sed -n 2p "$TMP/p6/kernel/$BASE/series" >>"$TMP/p6/kernel/$BASE/series"
	sed -i 2d "$TMP/p6/kernel/$BASE/series"
	expect_fail "comes after an entry of the rust series" env WORK="$TMP/w6" LG_TOP="$TMP/p6" "$T/build/series.sh"
}

# An @fix=NAME entry after the @rust one: a third series, in the patched
# kernel but not the baseline, recorded in lg-sides and exported on its
# own, with lg/nofix/NAME (the patched tree without it); one that is
# split, and an unknown tag, are refused.
t_series_fix() {
	fake_rust_series "$TMP/pf" "$TMP/sf" "$TMP/wf" || return 1
	local l=$TMP/wf/linux p=$TMP/pf o=$TMP/of
	mkdir -p "$p/f"
	echo "/* fixed */" >"$p/f/fix.c"
	message_patch "$p/kernel/$BASE/0004-fix.patch" "kernel: Fix it" "Why."
	echo "0004-fix.patch f=kernel @fix=kprobes" >>"$p/kernel/$BASE/series"
	WORK=$TMP/wf LG_TOP=$p "$T/build/series.sh" 2>/dev/null || { echo "series.sh failed"; return 1; }
	[[ $(awk '{ print $1 }' "$l/.git/lg-sides" | paste -sd,) == rust,kprobes ]] ||
		{ echo "lg-sides: $(cat "$l/.git/lg-sides")"; return 1; }
	[[ $(awk '$1 == "kprobes" { print $3 }' "$l/.git/lg-sides") == "$(git -C "$l" rev-parse lg/patched)" ]] ||
		{ echo "the fix series does not end at lg/patched"; return 1; }
	git -C "$l" cat-file -e lg/patched:kernel/fix.c && ! git -C "$l" cat-file -e lg/baseline:kernel/fix.c 2>/dev/null ||
		{ echo "the fix is not in the patched kernel only"; return 1; }
	# lg/nofix/kprobes: lg/patched without the fix, and nothing else.
	[[ $(git -C "$l" diff --name-only lg/nofix/kprobes lg/patched) == kernel/fix.c &&
		$(git -C "$l" rev-parse lg/nofix/kprobes^) == $(git -C "$l" rev-parse lg/patched) ]] ||
		{ echo "lg/nofix/kprobes is not lg/patched without the fix"; return 1; }
	WORK=$TMP/wf LG_OUT=$o "$T/review/export.sh" patches --ktap >/dev/null 2>&1 || { echo "export failed"; return 1; }
	[[ -f $(echo "$o"/6.12/series-kprobes/0001-kernel-Fix-it.patch) && -f $(echo "$o"/6.12/series-rust/0001-rust-Add-kprobes.patch) ]] ||
		{ echo "not three series: $(cd "$o/6.12" && echo *)"; return 1; }
	grep -q $'^ok\tseries/git-am-kprobes\t1 patch of the kprobes series, as exported, applies' "$o/results.txt" || { echo "no git-am-kprobes result"; return 1; }
	# The fix split by a Rust entry.
	sed -i '3d' "$p/kernel/$BASE/series"
	printf '%s\n' "0003-rust.patch r=rust/kernel @rust" "0004-fix.patch f=kernel @fix=kprobes" >>"$p/kernel/$BASE/series"
	expect_fail "whose entries must be together" env WORK="$TMP/wf" LG_TOP="$p" "$T/build/series.sh" || return 1
	sed -i 's/@fix=kprobes/@fixes=kprobes/' "$p/kernel/$BASE/series"
	expect_fail "unknown tag @fixes=kprobes" env WORK="$TMP/wf" LG_TOP="$p" "$T/build/series.sh"
}

t_series_conflict() {
	fake_tree "$TMP/s2" 6 12
	fake_series "$TMP/p2" "$TMP/s2" bad
	tree $TMP/w3 $TMP/s2 || return 1
	expect_fail "patch 2 (0002-sched_ext-more.patch) does not apply" \
		env WORK="$TMP/w3" LG_TOP="$TMP/p2" "$T/build/series.sh"
}
t_series_patch1_foreign() {
	fake_tree "$TMP/s3" 6 12
	fake_series "$TMP/p3" "$TMP/s3"
	sed -i 's/nr_loops = 32/nr_loops = 64/' "$TMP/s3/kernel/sched/ext.c"
	gitq -C "$TMP/s3" commit -qam "someone else's loop bound"
	tree $TMP/w4 $TMP/s3 || return 1
	expect_fail "neither applies nor reverts" env WORK="$TMP/w4" LG_TOP="$TMP/p3" "$T/build/series.sh"
}

# make apply: on a fake user tree with the fake series (patch 1 already in).
# state DIR: what must not change when apply refuses or fails.
state() { (cd "$1" && git rev-parse HEAD && git status --porcelain && git for-each-ref); }

# Every apply check runs from a scratch directory that is a git tree of its
# own, so that a KDIR mix-up would show up there and never touch the repo.
apply_sh() { (cd "$CWD" && "$T/review/apply.sh" "$@"); }

t_apply_unapply() {
	fake_tree "$TMP/a1" 6 12
	fake_series "$TMP/pa1" "$TMP/a1"
	local before out
	before=$(state "$TMP/a1")
	out=$(LG_TOP=$TMP/pa1 apply_sh apply "$TMP/a1" "$TMP/pa1/kernel/$BASE" 2>&1) || { echo "$out"; return 1; }
	grep -q "SKIP .*1/2 sched_ext: guard: already in this tree" <<<"$out" || { echo "$out"; return 1; }
	[[ $(git -C "$TMP/a1" log -1 --format=%s) == "sched_ext: more" ]] || return 1
	grep -q "to undo: make unapply" <<<"$out" || return 1
	LG_TOP=$TMP/pa1 apply_sh unapply "$TMP/a1" >/dev/null 2>&1 || return 1
	[[ $(state "$TMP/a1") == "$before" ]]
}
# A tree 'make apply' put the series on: the harness tests it from where
# apply found it, and refuses a HEAD the series does not give.
t_apply_then_test() {
	fake_tree "$TMP/a5" 6 12
	fake_series "$TMP/pa5" "$TMP/a5"
	local w=$TMP/w-a5 l
	LG_TOP=$TMP/pa5 apply_sh apply "$TMP/a5" "$TMP/pa5/kernel/$BASE" >/dev/null 2>&1 || { echo "apply failed"; return 1; }
	WORK=$w KDIR=$TMP/a5 LG_TOP=$TMP/pa5 "$T/host/tree.sh" >/dev/null 2>&1 || { echo "tree.sh failed"; return 1; }
	WORK=$w KDIR=$TMP/a5 LG_TOP=$TMP/pa5 "$T/build/series.sh" >/dev/null 2>&1 ||
		{ echo "series.sh refuses the tree apply made"; return 1; }
	l=$(WORK=$w KDIR=$TMP/a5 bash -c '. "$0"/lib/lib.sh; lg_env; echo "$LINUX"' "$T")
	git -C "$l" diff --quiet lg/patched "$(git -C "$TMP/a5" rev-parse HEAD)" || { echo "lg/patched is not the user's HEAD"; return 1; }
	[[ $(git -C "$l" rev-parse lg/base) == $(git -C "$TMP/a5" rev-parse refs/scx-loopguard/orig-head) ]] ||
		{ echo "the base is not where apply found the tree"; return 1; }
	echo "/* mine */" >>"$TMP/a5/kernel/sched/ext.c"
	gitq -C "$TMP/a5" commit -qam "my own change"
	WORK=$w KDIR=$TMP/a5 LG_TOP=$TMP/pa5 "$T/host/tree.sh" >/dev/null 2>&1 || { echo "tree.sh failed"; return 1; }
	expect_fail "its HEAD is not the series" env WORK="$w" KDIR="$TMP/a5" LG_TOP="$TMP/pa5" "$T/build/series.sh"
}
t_apply_conflict() {
	fake_tree "$TMP/a2" 6 12
	fake_series "$TMP/pa2" "$TMP/a2" bad
	local before
	before=$(state "$TMP/a2")
	expect_fail "patch 2/2 (sched_ext: more) does not apply .*conflict in kernel/sched/ext.c; the tree is back at" \
		env LG_TOP="$TMP/pa2" "$T/review/apply.sh" apply "$TMP/a2" "$TMP/pa2/kernel/$BASE" || return 1
	[[ $(state "$TMP/a2") == "$before" ]]
}
t_apply_refuses() {
	local before cwd
	fake_tree "$TMP/a3" 6 12
	fake_series "$TMP/pa3" "$TMP/a3"
	cwd=$(state "$CWD")
	expect_fail "no tree given" env KDIR= "$T/review/apply.sh" apply "" "$TMP/pa3/kernel/$BASE" || return 1
	expect_fail "no such directory" apply_sh apply "$TMP/a3-nope" "$TMP/pa3/kernel/$BASE" || return 1
	# dirty
	echo "/* local */" >>"$TMP/a3/kernel/sched/ext.c"
	before=$(state "$TMP/a3")
	expect_fail "uncommitted changes" apply_sh apply "$TMP/a3" "$TMP/pa3/kernel/$BASE" || return 1
	[[ $(state "$TMP/a3") == "$before" ]] || return 1
	# not 6.12.y
	fake_tree "$TMP/a4" 6 11
	before=$(state "$TMP/a4")
	expect_fail "Linux 6.11.9, but the series is for 6.12.y" apply_sh apply "$TMP/a4" "$TMP/pa3/kernel/$BASE" || return 1
	[[ $(state "$TMP/a4") == "$before" ]] || return 1
	# not git
	mkdir -p "$TMP/a5/kernel/sched"
	cp "$TMP/a4/Makefile" "$TMP/a5/"
	sed -i 's/= 11/= 12/' "$TMP/a5/Makefile"
	cp "$TMP/a3/kernel/sched/ext.c" "$TMP/a5/kernel/sched/"
	expect_fail "not a git tree" apply_sh apply "$TMP/a5" "$TMP/pa3/kernel/$BASE" || return 1
	[[ $(state "$CWD") == "$cwd" ]]
}
# A subject long enough for git format-patch to fold its Subject: header.
t_apply_unapply_long_subject() {
	local subj="sched_ext: A subject long enough to be folded over two header lines by git" before
	fake_tree "$TMP/a7" 6 12
	mkdir -p "$TMP/pa7/kernel/$BASE"
	gitq -C "$TMP/a7" checkout -q -b mk
	echo "/* long */" >>"$TMP/a7/kernel/sched/ext.c"
	gitq -C "$TMP/a7" commit -qam "$subj"
	git -C "$TMP/a7" format-patch -q -1 -o "$TMP/pa7/kernel/$BASE"
	gitq -C "$TMP/a7" checkout -q main
	gitq -C "$TMP/a7" branch -q -D mk
	grep -q '^ ' <(sed -n '/^Subject:/,/^$/p' "$TMP"/pa7/kernel/$BASE/*.patch) || { echo "subject not folded"; return 1; }
	before=$(state "$TMP/a7")
	LG_TOP=$TMP/pa7 apply_sh apply "$TMP/a7" "$TMP/pa7/kernel/$BASE" >/dev/null 2>&1 || return 1
	[[ $(git -C "$TMP/a7" log -1 --format=%s) == "$subj" ]] || return 1
	LG_TOP=$TMP/pa7 apply_sh unapply "$TMP/a7" >/dev/null 2>&1 || return 1
	[[ $(state "$TMP/a7") == "$before" ]]
}

# unapply drops the series' commits only, never the user's.
t_apply_unapply_foreign() {
	fake_tree "$TMP/a6" 6 12
	fake_series "$TMP/pa6" "$TMP/a6"
	LG_TOP=$TMP/pa6 apply_sh apply "$TMP/a6" "$TMP/pa6/kernel/$BASE" >/dev/null 2>&1 || return 1
	expect_fail "was applied before" env LG_TOP="$TMP/pa6" "$T/review/apply.sh" apply "$TMP/a6" "$TMP/pa6/kernel/$BASE" || return 1
	echo "/* mine */" >>"$TMP/a6/Makefile"
	gitq -C "$TMP/a6" commit -qam "my own work"
	local head
	head=$(git -C "$TMP/a6" rev-parse HEAD)
	expect_fail "is not from the series" env LG_TOP="$TMP/pa6" "$T/review/apply.sh" unapply "$TMP/a6" || return 1
	[[ $(git -C "$TMP/a6" rev-parse HEAD) == "$head" ]]
}

# A fix of one patch goes out as one mail: cover.py puts its notes and this
# run's results below "---", and the recipients as Cc: headers, and leaves
# the message and the diff as they were.
t_cover_single_patch() {
	local d=$TMP/cov p=$TMP/cov/0001-fix.patch
	mkdir -p "$d"
	printf '%s\n' "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001" \
		"From: A U Thor <author@example.org>" "Subject: [PATCH] kernel: Fix it" "" "Why." \
		"" "Signed-off-by: A U Thor <author@example.org>" "---" " a.c | 1 +" "" \
		"diff --git a/a.c b/a.c" >"$p"
	cp "$p" "$d/orig"
	printf 'ok\t6.12/x-fix/with-fix\tit failed as it should\nok\t6.12/series/git-am-x\t1 patch\nok\t6.12/patched-2cpu/t\t\n' >"$d/results.txt"
	printf 'Fix it\n\nThe reproducer says so.\n' >"$d/text"
	printf '0001-fix.patch\nM Aintainer <m@example.org>, list@vger.kernel.org\n' >"$d/maint"
	"$T/review/cover.py" "$p" 6.12 "$d" "$d/text" "$d/maint" "scx-loopguard base: B" x || return 1
	grep -q '^Cc: M Aintainer <m@example.org>$' "$p" && grep -q '^Cc: list@vger.kernel.org$' "$p" ||
		{ echo "no Cc: headers"; return 1; }
	sed -n '/^---$/,/^diff/p' "$p" | grep -q 'with-fix: it failed as it should' || { echo "no results below ---"; return 1; }
	sed -n '/^---$/,/^diff/p' "$p" | grep -q 'The reproducer says so' || { echo "no notes below ---"; return 1; }
	! sed -n '/^---$/,/^diff/p' "$p" | grep -q 'patched-2cpu' || { echo "another series' results quoted"; return 1; }
	diff <(sed -n '/^Subject/,/^---$/p' "$d/orig") <(sed -n '/^Subject/,/^---$/p' "$p" | grep -v '^Cc: ') >/dev/null ||
		{ echo "the message changed"; return 1; }
	# The main series (no kind) still needs its cover letter's placeholders.
	! "$T/review/cover.py" "$d/orig" 6.12 "$d" "$d/text" "$d/maint" "B" 2>/dev/null
}

# The pipeline's exit status is the report's: non-zero on a failing result
# or on none at all, 0 when every result is ok (a skip is not a failure).
pipeline_report() { # RESULTS-TEXT -> the exit status of 'pipeline.sh report'
	local o=$TMP/pipeline-out rc=0
	rm -rf "$o"
	mkdir -p "$o"
	printf '%b' "$1" >"$o/results.txt"
	LG_OUT=$o "$T/pipeline.sh" report >/dev/null 2>&1 || rc=$?
	echo "$rc"
}
t_pipeline_status() {
	local rc
	rc=$(pipeline_report 'ok\ta\t\nnot ok\tb\twhy\n')
	((rc != 0)) || { echo "a not ok result, but pipeline.sh report exited 0"; return 1; }
	rc=$(pipeline_report 'ok\ta\t\nskip\tc\tnot here\n')
	((rc == 0)) || { echo "every result ok, but pipeline.sh report exited $rc"; return 1; }
	rc=$(pipeline_report '')
	((rc != 0)) || { echo "no result at all, but pipeline.sh report exited 0"; return 1; }
}
# A test stage that fails without recording why is a failing result of its
# own; one that recorded its failure is not counted twice.
t_stage_status() {
	local r=$TMP/stage.txt
	printf 'ok\ta\t\n' >"$r"
	LG_RESULT_PREFIX='' "$T/lib/ktap.py" stage "$r" stage/x 0 1 2>/dev/null
	LG_RESULT_PREFIX='' "$T/lib/ktap.py" stage "$r" stage/y 2 1 2>/dev/null
	printf 'not ok\tz\twhy\n' >>"$r"
	LG_RESULT_PREFIX='' "$T/lib/ktap.py" stage "$r" stage/z 1 2 2>/dev/null
	[[ $(cut -f1,2 "$r" | paste -sd,) == $'ok\ta,not ok\tstage/y,not ok\tz' ]] ||
		{ echo "stage results: $(cut -f1,2 "$r" | paste -sd,)"; return 1; }
}
# The 7.3 base: its tree shape, and a tree's base taken from KDIR.
fake_tree_73() {
	mkdir -p "$1/kernel/sched/ext"
	printf 'VERSION = 7\nPATCHLEVEL = 3\nSUBLEVEL = 9\n' >"$1/Makefile"
	echo 'int nr_loops;' >"$1/kernel/sched/ext/ext.c"
}
t_tree_73_ok() {
	fake_tree_73 "$TMP/t73"
	[[ $(BASE=7.3 "$T/host/tree.sh" check "$TMP/t73") == 7.3.9 ]]
}
t_tree_73_refuses_612() {
	fake_tree "$TMP/t612" 6 12
	expect_fail "not a Linux 7.3 tree with sched_ext" env BASE=7.3 "$T/host/tree.sh" check "$TMP/t612"
}
# A newer mainline tree: a target for apply and series (warned), not for tests.
t_tree_newer_mainline() {
	mkdir -p "$TMP/t74/kernel/sched/ext"
	printf 'VERSION = 7\nPATCHLEVEL = 4\nSUBLEVEL = 0\n' >"$TMP/t74/Makefile"
	echo 'int nr_loops;' >"$TMP/t74/kernel/sched/ext/ext.c"
	expect_fail "Linux 7.4.0, but the series is for 7.3.y" env BASE=7.3 "$T/host/tree.sh" check "$TMP/t74" || return 1
	local out
	out=$(env -u BASE KDIR="$TMP/t74" LG_ALLOW_NEWER=1 "$T/host/tree.sh" check "$TMP/t74" 2>&1) &&
		grep -q 'newer than 7.3.y; the 7.3 series is untested there' <<<"$out" &&
		[[ $(tail -n1 <<<"$out") == 7.4.0 ]]
}
t_base_from_kdir() {
	fake_tree_73 "$TMP/k73"
	fake_tree "$TMP/k612" 6 12
	[[ $(env -u BASE KDIR="$TMP/k73" bash -c '. "$0"/lib/lib.sh; lg_env; echo $BASE' "$T") == 7.3 ]] &&
		[[ $(env -u BASE KDIR="$TMP/k612" bash -c '. "$0"/lib/lib.sh; lg_env; echo $BASE' "$T") == 6.12 ]] &&
		[[ $(env -u BASE -u KDIR bash -c '. "$0"/lib/lib.sh; lg_env; echo $BASE' "$T") == 7.3 ]] &&
		expect_fail "BASE=5.10: the series exists for" env BASE=5.10 bash -c '. "$0"/lib/lib.sh; lg_env' "$T"
}
# Export: signed off by whoever runs it; 'make series' refuses without a git
# identity, the test run marks its placeholder; nobody invented gets in.
t_export_identity() {
	local w=$TMP/we o=$TMP/oe noid=(env HOME="$TMP/nohome" GIT_CONFIG_NOSYSTEM=1 XDG_CONFIG_HOME="$TMP/nohome")
	fake_tree "$TMP/se" 6 12
	fake_series "$TMP/pe" "$TMP/se"
	tree $w $TMP/se || return 1
	WORK=$w LG_TOP=$TMP/pe "$T/build/series.sh" 2>/dev/null || return 1
	expect_fail "git has no identity for you" "${noid[@]}" WORK="$w" LG_OUT="$o" "$T/review/export.sh" patches || return 1
	"${noid[@]}" WORK="$w" LG_OUT="$o" "$T/review/export.sh" patches --ktap >/dev/null 2>&1 || return 1
	grep -q '^Signed-off-by: Placeholder Not-For-Sending <no-git-identity@scx-loopguard.invalid>$' "$o"/6.12/series/0001-*.patch &&
		grep -q "placeholder, not for sending" "$o/results.txt" || { echo "no marked placeholder"; return 1; }
	"${noid[@]}" GIT_CONFIG_COUNT=2 GIT_CONFIG_KEY_0=user.name GIT_CONFIG_VALUE_0="R Unner" \
		GIT_CONFIG_KEY_1=user.email GIT_CONFIG_VALUE_1=r@example.net \
		WORK="$w" LG_OUT="$o" "$T/review/export.sh" patches >/dev/null 2>&1 || return 1
	grep -q '^From: R Unner <r@example.net>$' "$o"/6.12/series/0001-*.patch &&
		grep -q '^Signed-off-by: R Unner <r@example.net>$' "$o"/6.12/series/0001-*.patch &&
		! grep -q 'Signed-off-by: t <t@t>' "$o"/6.12/series/0001-*.patch
}
# The @rust series is exported on its own and must git am onto the
# pristine base; one that depends on the main series is refused.
t_export_rust() {
	local w=$TMP/wr o=$TMP/or p=$TMP/pr
	fake_rust_series "$p" "$TMP/sr" "$w" || return 1
	WORK=$w LG_OUT=$o "$T/review/export.sh" patches --ktap >/dev/null 2>&1 || { echo "export failed"; return 1; }
	[[ $(ls "$o"/6.12/series/0*.patch | wc -l) == 2 && -f $(echo "$o"/6.12/series-rust/0001-rust-Add-kprobes.patch) ]] ||
		{ echo "not two series: $(cd "$o/6.12" && echo series*)"; return 1; }
	grep -q $'^ok\tseries/git-am-rust\t1 patch of the rust series, as exported, applies' "$o/results.txt" || { echo "no git-am-rust result"; return 1; }
	# Now the Rust patch also changes a line that patch 2 added, which is in
	# both kernels (@baseline): series.sh takes it, the export must not.
	sed -i '2s/$/ @baseline/' "$p/kernel/$BASE/series"
	git -C "$w/linux" checkout -q lg/core
	sed -i 's|/\* new \*/|/* newer */|' "$w/linux/kernel/sched/ext.c"
	git -C "$w/linux" -c user.name=t -c user.email=t@t commit -qam "rust: Add kprobes" &&
		git -C "$w/linux" format-patch -q -1 --stdout >"$p/kernel/$BASE/0003-rust.patch" &&
		git -C "$w/linux" checkout -q -f lg/patched
	WORK=$w LG_TOP=$p "$T/build/series.sh" 2>"$TMP/sr.err" || { echo "series.sh failed on the dependent patch: $(tail -n1 "$TMP/sr.err")"; return 1; }
	: >"$o/results.txt"
	WORK=$w LG_OUT=$o "$T/review/export.sh" patches --ktap >/dev/null 2>&1 && { echo "a dependent Rust series was exported"; return 1; }
	grep -q $'^not ok\tseries/git-am-rust\t0001-rust-Add-kprobes.patch does not apply to lg/base' "$o/results.txt" ||
		{ echo "results: $(cat "$o/results.txt")"; return 1; }
}
# make edit / refresh: the work tree survives a new series run, a fixup of
# patch 2 goes back into kernel/, and what cannot be mapped is refused.
t_edit_refresh() {
	local w=$TMP/wd p=$TMP/pd e
	fake_tree "$TMP/sd" 6 12
	fake_series "$p" "$TMP/sd"
	tree $w $TMP/sd || return 1
	WORK=$w LG_TOP=$p "$T/build/series.sh" 2>/dev/null || return 1
	WORK=$w LG_TOP=$p "$T/build/edit.sh" start 2>/dev/null || { echo "edit.sh start failed"; return 1; }
	e=$w/edit
	echo "/* edited */" >>"$e/kernel/sched/ext.c"
	WORK=$w LG_TOP=$p "$T/build/series.sh" 2>/dev/null || return 1
	grep -q edited "$e/kernel/sched/ext.c" || { echo "a series run lost the edit"; return 1; }
	WORK=$w LG_TOP=$p "$T/build/edit.sh" snapshot 2>/dev/null || { echo "snapshot failed"; return 1; }
	grep -q edited <(git -C "$w/linux" show lg/edit-build:kernel/sched/ext.c) &&
		[[ -n $(git -C "$e" status --porcelain) ]] || { echo "the snapshot missed the edit or took it from the work tree"; return 1; }
	expect_fail "changes not committed" env WORK="$w" LG_TOP="$p" "$T/build/edit.sh" refresh || return 1
	gitq -C "$e" commit -qam "fixup! sched_ext: more"
	GIT_SEQUENCE_EDITOR=true gitq -C "$e" rebase -q -i --autosquash lg/base
	WORK=$w LG_TOP=$p "$T/build/edit.sh" refresh 2>/dev/null || { echo "refresh failed"; return 1; }
	grep -q '^+/\* edited \*/' "$p"/kernel/$BASE/0002-*.patch || { echo "patch 2 was not rewritten"; return 1; }
	WORK=$w LG_TOP=$p "$T/build/series.sh" 2>/dev/null &&
		WORK=$w LG_TOP=$p "$T/build/edit.sh" verify 2>/dev/null || { echo "the refreshed series does not give lg/edit"; return 1; }
	# One commit more than the series has entries.
	echo "/* more */" >>"$e/kernel/sched/ext.c"
	gitq -C "$e" commit -qam "sched_ext: yet more"
	expect_fail "fold new work into an entry" env WORK="$w" LG_TOP="$p" "$T/build/edit.sh" refresh || return 1
	gitq -C "$e" reset -q --hard HEAD~1
	# A change to patch 1, the base's own bound: a file more in its commit.
	local tip
	tip=$(git -C "$e" rev-parse HEAD)
	gitq -C "$e" reset -q --hard HEAD~1
	echo x >"$e/x.txt"
	gitq -C "$e" add x.txt
	gitq -C "$e" commit -q --amend --no-edit
	gitq -C "$e" cherry-pick "$tip" || { echo "cannot rebuild the history"; return 1; }
	expect_fail "changes patch 1" env WORK="$w" LG_TOP="$p" "$T/build/edit.sh" refresh
}
# A checkout whose path the guests cannot take ('=' and a space here) is
# refused at once, before anything is built, with a message that says why.
t_path_refused() {
	local d="$TMP/a=b c" out rc=0
	mkdir -p "$d"
	cp -r "$LG_TOP/Makefile" "$LG_TOP/tools" "$d/"
	out=$(env -u LG_TOP -u OUT -u LG_OUT -u CACHE -u BASE CACHE="$TMP/pcache" \
		timeout 20 make -s -C "$d" check TESTS=dispatch_loop 2>&1) || rc=$?
	((rc != 0)) || { echo "make check succeeded from $d"; return 1; }
	grep -q "the checkout is '$d': a path with '='" <<<"$out" || { echo "no clear refusal: $out"; return 1; }
	[[ ! -e $TMP/pcache ]] || { echo "something was made before the refusal"; return 1; }
	rc=0
	out=$(LG_OUT="$TMP/o:ut" "$LG_TOP/tools/pipeline.sh" reset 2>&1) || rc=$?
	((rc == 2)) && grep -q "OUT= is '$TMP/o:ut'" <<<"$out" || { echo "OUT with ':' not refused: $out"; return 1; }
}
# Sourcing lib.sh only defines: no setting is made, exported or checked
# until a script calls lg_env.
t_lib_source_only() {
	local got
	got=$(env -u OUT -u WORK -u LINUX -u RESULTS BASE=5.10 KCONFIG=/nonexistent \
		bash -c '. "$0"/lib/lib.sh && echo "${OUT-unset} ${WORK-unset} ${RESULTS-unset}"' "$T") ||
		{ echo "sourcing failed: $got"; return 1; }
	[[ $got == "unset unset unset" ]] || { echo "sourcing set: $got"; return 1; }
}
t_mirror() {
	local m
	m=$(apt_mirror) && [[ $m == *://* ]]
}

# The folder every check runs from: a 6.12 tree that apply.sh must leave
# alone (the checks only read it).
CWD=$TMP/cwd
fake_tree "$CWD" 6 12
cd "$CWD" || die "cannot enter $CWD"
# The checks side by side, one lane per CPU, each check in a folder of its
# own ($TMP/CHECK) and into results of its own, appended in order.
# shellcheck disable=SC2207 # one word per check
tests=($(if [[ -n ${LG_UNIT_ONLY:-} ]]; then echo "$LG_UNIT_ONLY"; else declare -F | awk '$3 ~ /^t_/ { print $3 }'; fi))
top=$TMP
lanes=$(nproc)
for ((lane = 0; lane < lanes; lane++)); do
	(
		for ((i = lane; i < ${#tests[@]}; i += lanes)); do
			t=${tests[i]} TMP=$top/${tests[i]}
			# Its own output folder too: the scripts it runs write logs there.
			export LG_OUT=$TMP/out OUT=$TMP/out/$BASE
			mkdir -p "$OUT"
			RESULTS=$TMP/unit-results.txt check "${t#t_}" "$t"
		done
	) &
done
wait
for t in "${tests[@]}"; do
	cat "$top/$t/unit-results.txt" >>"$RESULTS" 2>/dev/null ||
		"$T/lib/ktap.py" add "$RESULTS" "not ok" "unit/${t#t_}" "its lane recorded no result"
done
