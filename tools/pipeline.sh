#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The stages behind the Makefile. Each stage is idempotent and cheap when its
# result is cached; each test stage appends its results to $RESULTS, and
# 'report' prints them as KTAP ending in "N passed, N failed".
#
#   pipeline.sh STAGE...
. "$(dirname "$0")/lib/lib.sh"
lg_env

T=$LG_TOP/tools
ST=$WORK/userspace/selftests
SCX=$WORK/userspace/sched_ext
# The same selftests as the kselftest framework installs them (make install
# of tools/testing/selftests, TARGETS=sched_ext), with run_kselftest.sh. Its
# top Makefile skips sched_ext unless told otherwise (SKIP_TARGETS ?= bpf
# sched_ext), so a CI that runs every target never runs these tests.
KSFT=$WORK/userspace/kselftest
GUEST_CPUS=${CPUS:-2}
# The kprobes fix's reproducer reads /proc/cmdline this many times.
REPRO_READS=3
# The Rust series' sample (7.3), and the processes started while it is loaded.
SAMPLE=rust_kprobe
SAMPLE_FORKS=20
# KUnit runs the kernel crate's doctests in the Rust series' guest only.
KUNIT_ARGS="kunit.enable=1 kunit.filter_glob=rust_doctests_kernel"
# The module's load/unload cycles: 100 by default ('make rust'); 'make test' runs 5.
RUST_CYCLES=${RUST_CYCLES:-100}
# The kselftest framework's default timeout for the sched_ext runner, which
# the new tests' own time is held to (see stage_patched).
KSFT_DEFAULT_TIMEOUT=45
# The mutants make test runs (make mutants runs them all).
MUTANTS_SMOKE=${MUTANTS_SMOKE:-guard-before-progress lazy-kick}
# The census kernels' build directories (see build_census_kernel).
CENSUS_KB=${LG_KBUILD:-$CACHE}/census

# The modules built for the kernels, out of tree (M=) against each kernel's
# build, with CLIPPY=1 and CONFIG_WERROR's -Dwarnings (-Werror for C), and
# cached by kernel and module source. The tree is left at lg/patched, built.
#   scx_loopguard_watch  the Rust module (baseline and patched)
#   kprobe_arm_error     the reproducer of the kprobes fix (7.3: patched and
#                        nofix-kprobes)
#   rust_debugfs_scoped  the tree's own sample, the reproducer of the
#                        debugfs fix (7.3: patched and nofix-debugfs)
#   kretprobe_stress     the stress of 7.3's Kretprobe (make rust)
MOD=scx_loopguard_watch
MODSRC=$LG_TOP/rust/$MOD
REPRO=kprobe_arm_error
REPROSRC=$LG_TOP/tools/repro
DEBUGFS_SAMPLE=rust_debugfs_scoped
STRESS=kretprobe_stress
STRESSSRC=$LG_TOP/rust/$STRESS

ktap() { "$T/lib/ktap.py" "$@"; }

stage_toolchain() { "$T/host/toolchain.sh"; }
stage_tree() { "$T/host/tree.sh"; }
stage_series() { "$T/build/series.sh"; }
# The kernel images; the build directory is left as it is. The stages that
# build in it (modules, the sample, user space) bring it to the kernel they
# need themselves. Besides baseline and patched, each fix of the series
# (@fix=NAME) has its kernel without the fix, nofix-NAME (lg/nofix/NAME).
stage_patched_kernel() { "$T/build/kbuild.sh" --images patched; }
stage_kernels() { with_lock build_kernels; }
# Each kernel's modules are built as soon as its image is, while the build
# directory holds it: built later, against a kernel the directory no longer
# holds, each costs a relink and BTF first (about 80 s on 7.3, on a cold
# run; see Documentation/measurements.md).
build_kernels() {
	local k
	for k in $(fix_kernels) baseline patched; do
		"$T/build/kbuild.sh" --images "$k" || return
		k=${k%%=*}
		# Only for a run that builds the modules anyway (not make check).
		[[ " $STAGES " == *" modules "* ]] && held "$k" && modules_for "$k"
	done
	return 0
}

# held KERNEL: the shared build directory holds KERNEL, built.
held() { [[ $(cat "$KB/.lg-built" 2>/dev/null) == $(readlink "$WORK/kernels/$1") ]]; }

# kernel_ref KERNEL: the branch a kernel is built from.
kernel_ref() {
	case $1 in
	nofix-*) echo "lg/nofix/${1#nofix-}" ;;
	*) echo "lg/$1" ;;
	esac
}

# fix_names: the fix series of this base's series (@fix=NAME), by name.
fix_names() { awk '$1 != "rust" { print $1 }' "$LINUX/.git/lg-sides" 2>/dev/null; }
fix_kernels() {
	local f
	for f in $(fix_names); do echo "nofix-$f=$(kernel_ref "nofix-$f")"; done
}

stage_modules() { with_lock build_modules; }

# modules_of KERNEL: NAME=SOURCE of each module built for KERNEL, SOURCE
# a folder of the repo, or samples/rust:SYMBOL for a sample of the tree.
modules_of() {
	case $1 in
	baseline) echo "$MOD=$MODSRC" ;;
	patched)
		echo "$MOD=$MODSRC"
		[[ $BASE == 6.12 ]] || echo "$REPRO=$REPROSRC" "$DEBUGFS_SAMPLE=samples/rust:SAMPLE_RUST_DEBUGFS_SCOPED" "$STRESS=$STRESSSRC"
		;;
	nofix-kprobes) echo "$REPRO=$REPROSRC" ;;
	nofix-debugfs) echo "$DEBUGFS_SAMPLE=samples/rust:SAMPLE_RUST_DEBUGFS_SCOPED" ;;
	esac
}

build_modules() {
	local k order=()
	# The kernel the build directory holds first, and patched last: the
	# fewest switches.
	for k in $(fix_kernels | sed 's/=.*//') baseline patched; do
		if held "$k"; then
			order=("$k" "${order[@]}")
		else
			order+=("$k")
		fi
	done
	[[ ${order[0]} != patched ]] || order=("${order[@]:1}" patched)
	for k in "${order[@]}"; do
		modules_for "$k"
	done
	"$T/build/kbuild.sh" patched || die 1 "cannot bring the build directory back to the patched kernel"
	msg RUST "the modules of the ${order[*]} kernels are built"
}

# modules_for KERNEL: the modules of KERNEL (modules_of), each built unless
# cached.
modules_for() {
	local m
	for m in $(modules_of "$1"); do
		module_for "$1" "$KB" "${m%%=*}" "${m#*=}"
	done
}

# with_kb DIR CMD...: CMD with KB=DIR, the build directory in_chroot shows.
with_kb() {
	local KB=$1
	shift
	"$@"
}

# module_for KERNEL BUILD-DIR NAME SOURCE: NAME.ko for KERNEL in
# $WORK/modules/KERNEL/, built against BUILD-DIR (the shared one, $KB, is
# first brought to KERNEL; another, such as the census kernels', is the
# chroot's to see too) unless the kernel's cache has it for this source.
# SOURCE is a folder of the repo, or samples/rust:SYMBOL: a sample of the
# tree, built with the tree's own Makefile and its Kconfig symbol set on
# the command line (the project's config leaves samples off, so that adding
# one rebuilds no kernel); the kernel's key covers its source.
module_for() {
	local k=$1 kb=$2 name=$3 src=$4 key dest what q=() how
	[[ $V == 1 ]] && q=(V=1)
	key=$(readlink "$WORK/kernels/$k") || die "no $k kernel; run 'make kernels' first"
	if [[ $src == samples/* ]]; then
		dest=$WORK/kernels/$key/$name.ko what=${src%%:*}/$name.ko
		how=(M="${src%%:*}" MO="$WORK/module" "CONFIG_${src#*:}=m")
	else
		dest=$WORK/kernels/$key/$name-$(cat "$src"/* | sha256sum | cut -c1-16).ko what=$name.ko
		how=(M="$WORK/module")
	fi
	if [[ ! -f $dest ]]; then
		if [[ $kb == "$KB" ]]; then
			"$T/build/kbuild.sh" "$k=$(kernel_ref "$k")" ||
				die 1 "cannot bring the build directory to the $k kernel"
			# The series may have moved since the kernels stage: the key
			# is what kbuild.sh built now.
			key=$(readlink "$WORK/kernels/$k")
			dest=$WORK/kernels/$key/${dest##*/}
		fi
		[[ $(cat "$kb/.lg-built" 2>/dev/null) == "$key" ]] ||
			die 1 "$kb does not hold the $k kernel ($key); run 'make kernels' again"
	fi
	if [[ ! -f $dest ]]; then
		rm -rf "$WORK/module"
		mkdir -p "$WORK/module"
		[[ $src == samples/* ]] || cp "$src"/* "$WORK/module/"
		step RUST "$what for the $k kernel (CLIPPY=1)" logto "$OUT/logs/module-$name-$k.log" \
			with_kb "$kb" in_chroot make -C "$LINUX" O="$kb" "${how[@]}" LLVM=1 CLIPPY=1 "${q[@]}" modules ||
			die 1 "$what does not build for the $k kernel, or the compiler or clippy warned (-Werror, -Dwarnings; see $OUT/logs/module-$name-$k.log)"
		cp "$WORK/module/$name.ko" "$dest"
	fi
	mkdir -p "$WORK/modules/$k"
	cp "$dest" "$WORK/modules/$k/$name.ko"
}

# Each fix of 7.3's series (a series of its own, @fix=NAME) is shown by its
# reproducer, on nofix-NAME (the patched kernel without the fix), where it
# must show the bug, and on the patched kernel, where it must not.
#   kprobes  tools/repro: register_kprobe() must return 0 for a probe that
#            was never armed without the fix, and fail with it;
#   debugfs  the tree's rust_debugfs_scoped sample, one of its files held
#            open across rmmod: without the fix rmmod succeeds (the check
#            stops there: closing the file would be the use-after-free);
#            with it, rmmod is refused until the file is closed.
stage_kprobes_fix() {
	fix_guests kprobes kprobe_repro "$REPRO.ko" "$REPRO_READS"
}
stage_debugfs_fix() {
	fix_guests debugfs debugfs_repro "$DEBUGFS_SAMPLE.ko"
}

# fix_guests FIX GUEST-COMMAND MODULE [ARG...]: the two guests of a fix's
# reproducer, each running guest.sh GUEST-COMMAND with that kernel's MODULE,
# a run folder and ARG..., and their results FIX-fix/without-fix and
# FIX-fix/with-fix (ktap.py GUEST-COMMAND reads the run's repro.txt).
fix_guests() {
	local fix=$1 cmd=$2 mod=$3 k name what expect
	shift 3
	for k in "nofix-$fix" patched; do
		name=$fix-fix-$k what=without-fix expect=bug
		[[ $k == patched ]] && what=with-fix expect=fixed
		mkdir -p "$OUT/runs/$name"
		guest tests "$name" "$k" "$GUEST_CPUS" "$TO_STALL" \
			"$GUEST" "$cmd" "$WORK/modules/$k/$mod" "$OUT/runs/$name" "$@" || true
		checked "$fix-fix/$what" "$T/lib/ktap.py" "$cmd" "$RESULTS" "$fix-fix/$what" \
			"$OUT/runs/$name/repro.txt" "$expect"
		console_result "$name"
	done
}

# The kprobes sample of the Rust series (7.3), for the patched kernel.
stage_sample() { with_lock build_sample; }
build_sample() {
	module_for patched "$KB" "$SAMPLE" samples/rust:SAMPLE_RUST_KPROBE
	"$T/build/kbuild.sh" patched || die 1 "cannot bring the build directory back to the patched kernel"
}

# The Rust series in one patched guest: the kernel crate's doctests, which
# KUnit runs at boot in this guest only (the config keeps KUnit off unless
# kunit.enable=1), then, on 7.3, the kprobes sample, loaded while FORKS
# processes start. 6.12's patches have the abstraction's doctests but no
# sample.
# With the module's stage in the same run, the Rust series' checks share its
# guest (they run first; the module's tests cannot spoil their results,
# which are on disk by then): one boot fewer.
stage_rust_series() {
	if [[ " $STAGES " == *" rust "* ]]; then
		msg RUST "the Rust series' doctests and sample run in the module's guest (rust-patched)"
		return 0
	fi
	local name=rust-series cmd
	mapfile -t cmd < <(rust_series_cmd "$OUT/runs/$name")
	LG_KARGS=$KUNIT_ARGS guest tests "$name" patched "$GUEST_CPUS" "$TO_SUITE" "${cmd[@]}" || true
	rust_series_checks "$OUT/runs/$name"
	console_result "$name"
}
rust_series_sample() {
	if [[ $BASE == 6.12 ]]; then echo -; else echo "$WORK/modules/patched/$SAMPLE.ko"; fi
}
# rust_series_cmd RUNDIR: the guest's command, one word per line.
rust_series_cmd() {
	printf '%s\n' "$GUEST" kprobes "$(rust_series_sample)" "$1" "$SAMPLE_FORKS"
}
rust_series_checks() {
	checked rust/doctests "$T/lib/ktap.py" kunit "$RESULTS" rust/doctests "$1/kunit.txt" rust_doctests_kernel kprobes
	[[ $(rust_series_sample) == - ]] ||
		checked rust/sample "$T/lib/ktap.py" sample "$RESULTS" rust/sample "$1/sample.txt" "$SAMPLE_FORKS"
}

# make rustdoc of the patched tree, with the project's config, whose
# CONFIG_WERROR=y makes scripts/Makefile.warn pass -Dwarnings to rustdoc as
# to rustc: the gate the Rust-for-Linux maintainers build with. Stock 7.3.4
# is clean with this toolchain (Documentation/notes/rustdoc-7.3.md), so
# every diagnostic is the series'. A clean run is kept with the kernel it
# was for, as the module is: only a changed tree runs it again.
stage_rustdoc() { with_lock build_rustdoc; }
build_rustdoc() {
	local key stamp log=$OUT/logs/rustdoc.log t0 rc=0 q=()
	[[ $V == 1 ]] && q=(V=1)
	key=$(readlink "$WORK/kernels/patched") || die "no patched kernel; run 'make kernels' first"
	stamp=$WORK/kernels/$key/rustdoc.ok
	if [[ -f $stamp ]]; then
		ktap rustdoc "$RESULTS" rust/rustdoc 0 "$log" "(kernel $key, run in $(cat "$stamp"))"
		return 0
	fi
	"$T/build/kbuild.sh" patched || die 1 "cannot bring the build directory to the patched kernel"
	t0=$(date +%s)
	# CLIPPY=1 as for the kernel: the same commands, so nothing is rebuilt
	# for the docs, or for the next kernel after them.
	step RUST "make rustdoc (CONFIG_WERROR: -Dwarnings)" logto "$log" \
		in_chroot make -C "$LINUX" O="$KB" LLVM=1 CLIPPY=1 -j"$(nproc)" "${q[@]}" rustdoc || rc=$?
	if ((rc == 0)); then
		elapsed "$t0" >"$stamp"
	else
		grep -E -A3 '^(error|warning)' "$log" | head -n 40 >&2
	fi
	checked rust/rustdoc "$T/lib/ktap.py" rustdoc "$RESULTS" rust/rustdoc "$rc" "$log" "in $(elapsed "$t0")"
}

# rustfmt --check with the base's .rustfmt.toml on every Rust file of this
# base's series (rust/BASE) and on the module.
stage_rustfmt() {
	local files out=$OUT/logs/rustfmt.log rc=0
	local dirs=("$LG_TOP/rust/$BASE" "$MODSRC")
	[[ $BASE == 6.12 ]] || dirs+=("$STRESSSRC")
	mapfile -t files < <(find "${dirs[@]}" -name '*.rs' | sort)
	mkdir -p "$OUT/logs"
	in_chroot rustfmt --check --edition 2021 --config-path "$LINUX/.rustfmt.toml" "${files[@]}" >"$out" 2>&1 || rc=$?
	((rc == 0)) || head -n 40 "$out" >&2
	checked rust/rustfmt "$T/lib/ktap.py" tool "$RESULTS" rust/rustfmt "$rc" "$out" "${#files[@]} files"
}

# The module in a patched guest: the kselftests with the module loaded
# (they cross-check), scx_simple and scx_qmap as false-positive guards, and
# load/unload cycles.
# The legitimate schedulers of tools/sched_ext the module must see no
# break-out from. 7.3.4's scx_qmap does not load on 7.3 (the verifier
# rejects qmap_dequeue, built with clang 19), so 7.3 uses scx_central.
legit_scheds() {
	case $BASE in
	6.12) echo scx_simple scx_qmap ;;
	*) echo scx_simple scx_central ;;
	esac
}
stage_rust() {
	local name=rust-patched max cmd series='' kargs='' witness scheds
	witness=$(new_tests witness)
	scheds=$(legit_scheds)
	max=$(git -C "$LINUX" grep -h -E '^[[:space:]]*SCX_DSP_MAX_LOOPS[[:space:]]*=' lg/patched -- kernel/sched/ |
		sed -n 's/^[[:space:]]*SCX_DSP_MAX_LOOPS[[:space:]]*=[[:space:]]*\([0-9]*\),.*/\1/p' | head -n1)
	cmd=$(printf '%q ' "$GUEST" rust "$WORK/modules/patched/$MOD.ko" "$ST" "$SCX" "$OUT/runs/$name" \
		"$RUST_CYCLES" "$witness" "$scheds")
	if [[ " $STAGES " == *" rust_series "* ]]; then
		series=$OUT/runs/$name/series
		kargs=$KUNIT_ARGS
		cmd="mkdir -p $(printf '%q' "$series") && $(rust_series_cmd "$series" | xargs printf '%q '); $cmd"
	fi
	# kmemleak on (RUST_KMEMLEAK=0 turns it off): the cycles end with a scan.
	KMEMLEAK=${RUST_KMEMLEAK:-1} LG_KARGS=$kargs guest tests "$name" patched "$GUEST_CPUS" "$TO_SUITE" \
		bash -c "$cmd" || true
	[[ -z $series ]] || rust_series_checks "$series"
	checked "$name" "$T/lib/ktap.py" runner "$RESULTS" "$name" "$OUT/runs/$name/runner.txt"
	# shellcheck disable=SC2086 # one word per test and per scheduler
	checked "$name/module" "$T/lib/ktap.py" module "$RESULTS" "$name" "$OUT/runs/$name" "${max:-32}" "$RUST_CYCLES" \
		--looping $witness --legit $scheds
	console_result "$name"
}

# The module on the baseline: it loads, then the looping test freezes the
# guest before there is anything to report. That is the expected stall.
stage_rust_baseline() {
	local name=rust-baseline
	guest freeze "$name" baseline "$GUEST_CPUS" "$TO_STALL" \
		"$GUEST" rust "$WORK/modules/baseline/$MOD.ko" "$ST" "$SCX" "$OUT/runs/$name" 1 dsp_loop_all_cpus || true
	checked "$name" "$T/lib/ktap.py" module-stall "$RESULTS" "$name" "$OUT/logs/$name.outcome" \
		"$OUT/logs/$name.log" "dsp_loop_all_cpus with the module loaded" "$OUT/runs/$name/runner.txt" "$TO_STALL"
}

# User space is built once, from the patched tree, and run on both kernels
# (CO-RE): the sched_ext selftests and the tools/sched_ext schedulers.
stage_userspace() { with_lock build_userspace; }

# USER_REF: the tree to build them from, lg/local unless 'make check EDIT=1'.
build_userspace() {
	local linux=$LINUX q=() key ref=${USER_REF:-lg/local}
	[[ $V == 1 ]] || q=(-s)
	# Keyed by tools/ alone: a change to the kernel's code needs no new user
	# space, which loads on any of the kernels by CO-RE.
	key=$(git -C "$linux" rev-parse "$ref:tools") || die "no $ref in $linux"
	if [[ -x $ST/runner && -x $SCX/scx_qmap && -x $KSFT/run_kselftest.sh && $(cat "$WORK/userspace/.key" 2>/dev/null) == "$key" ]]; then
		msg USER "selftests and schedulers are up to date"
		return
	fi
	mkdir -p "$ST" "$SCX" "$OUT/logs"
	# The selftests take the kernel's BTF from the build directory.
	"$T/build/kbuild.sh" patched || die 1 "cannot bring the build directory to the patched kernel"
	# lg/local = lg/patched + the project's own tests (tools/ only): the
	# kernel build in $KB stays valid across this checkout.
	git -C "$linux" checkout -q -f "$ref"
	step USER "sched_ext selftests" logto "$OUT/logs/build-selftests.log" \
		with_lock in_chroot make "${q[@]}" -j"$(nproc)" \
		-C "$linux/tools/testing/selftests/sched_ext" O="$KB" OUTPUT="$ST" LLVM=1 ||
		die 1 "the selftests do not build"
	step USER "tools/sched_ext schedulers" logto "$OUT/logs/build-sched_ext.log" \
		with_lock in_chroot make "${q[@]}" -j"$(nproc)" \
		-C "$linux/tools/sched_ext" O="$KB" LLVM=1 ||
		die 1 "tools/sched_ext does not build"
	cp "$KB"/build/bin/scx_* "$SCX/"
	rm -rf "$KSFT"
	step USER "sched_ext selftests, installed by the kselftest framework" logto "$OUT/logs/build-kselftest.log" \
		with_lock in_chroot make "${q[@]}" -j"$(nproc)" -C "$linux/tools/testing/selftests" \
		TARGETS=sched_ext SKIP_TARGETS= O="$KB" KSFT_INSTALL_PATH="$KSFT" LLVM=1 install ||
		die 1 "the kselftest framework's install of the sched_ext selftests failed"
	git -C "$linux" checkout -q -f lg/patched
	echo "$key" >"$WORK/userspace/.key"
}

# kselftests NAME KERNEL CPUS [FILTER]: one guest, the runner, parsed.
kselftests() {
	local name=$1 kernel=$2 cpus=$3 filter=${4:-}
	guest tests "$name" "$kernel" "$cpus" "$TO_SUITE" \
		"$GUEST" selftests "$ST" "$OUT/runs/$name" "$filter" || true
	checked "$name" "$T/lib/ktap.py" runner "$RESULTS" "$name" "$OUT/runs/$name/runner.txt"
	console_result "$name"
}

# All selftests, stock and new, on the patched kernel, the way a kernel CI
# runs them: run_kselftest.sh of the kselftest framework's install. Its
# default timeout, 45 s for the whole sched_ext runner, is overridden (the
# stock tests alone take minutes under TCG) with the guest's bound less its
# boot, so that the framework's timeout, not the host's, ends a runner that
# hangs; the new tests' own time is a result of its own, held to those 45 s.
stage_patched() {
	local name=patched-${GUEST_CPUS}cpu
	guest tests "$name" patched "$GUEST_CPUS" "$TO_SUITE" \
		"$GUEST" kselftest "$KSFT" "$OUT/runs/$name" $((TO_SUITE - BOOT_SECS)) || true
	checked "$name" "$T/lib/ktap.py" runner "$RESULTS" "$name" "$OUT/runs/$name/runner.txt"
	# shellcheck disable=SC2046 # one word per test
	checked "$name/kselftest" "$T/lib/ktap.py" kselftest "$RESULTS" "$name/kselftest" \
		"$OUT/runs/$name/kselftest.txt" "$OUT/runs/$name/times.txt" "$KSFT_DEFAULT_TIMEOUT" $(new_tests upstream)
	console_result "$name"
}

# The new tests again on a 1-CPU guest (the 2-CPU run is in stage_patched).
stage_patched_1cpu() {
	kselftests patched-1cpu patched 1 "$(new_tests | xargs)"
}

stage_checkpatch() { "$T/review/checkpatch.sh"; }

# Every prefix of the series builds (kernel, selftests, docs); the tree is
# left at lg/patched, built.
stage_bisect() { "$T/build/bisect.sh"; }

# The series as a reviewer gets it, in $OUT/series: git am of the exported
# files onto the pristine base is a result. The cover letter, which quotes
# this run's results, is written by 'cover' at the end.
stage_export() { "$T/review/export.sh" patches --ktap; }
stage_cover() { "$T/review/export.sh" cover; }
# The same for 'make series', which is not a test run: no result.
stage_export_only() { "$T/review/export.sh" patches && "$T/review/export.sh" cover; }

# The negative control: each new test, alone, on the kernel without the fix.
# It must freeze the guest or fail; a pass means the test proves nothing.
stage_baseline() {
	local t
	for t in $(new_tests); do
		baseline_run "baseline-$t" "$t"
	done
}

# baseline_run NAME TEST: TEST alone in a baseline guest; it must freeze it
# or fail.
baseline_run() {
	local name=$1 t=$2
	guest freeze "$name" baseline "$GUEST_CPUS" "$TO_STALL" \
		"$GUEST" selftests "$ST" "$OUT/runs/$name" "$t" || true
	stall_verdict "$name" "$t"
}

# stall_verdict NAME WHAT: the baseline must freeze (or fail) once the test
# has started; a run that never got there proves nothing either way (the
# verdict is ktap.py's stall_verdict()).
stall_verdict() {
	checked "$1" "$T/lib/ktap.py" stall "$RESULTS" "$1" "$OUT/logs/$1.outcome" "$2" "$OUT/runs/$1/runner.txt" "$TO_STALL"
}

# make check: the tests named in TESTS (words as runner -t takes them) in
# one guest on KERNEL (patched, the default, or baseline). On the baseline,
# a looping test must freeze the guest or fail, as in stage_baseline.
stage_check_args() {
	[[ -n ${TESTS:-} ]] || die "make check needs TESTS=\"NAME...\" (e.g. TESTS=dispatch_loop; runner -t matches a part of a name)"
	[[ ${KERNEL:-patched} == @(patched|baseline|edit) || -f ${KERNEL:-} || -f $WORK/kernels/${KERNEL:-}/bzImage ]] ||
		die "KERNEL=$KERNEL: use patched, baseline, a kernel the harness built (e.g. no-watchdog, the failure-path gate's) or the path of a bzImage (EDIT=1: your work tree)"
}
stage_check() {
	local k=${KERNEL:-patched} t
	stage_check_args
	case $k in
	patched | edit) kselftests "check-$k" "$k" "$GUEST_CPUS" "$TESTS" ;;
	baseline)
		for t in $TESTS; do
			baseline_run "check-baseline-$t" "$t"
		done
		;;
	*)
		msg CHECK "your kernel $k; the tests' user space is built from lg/local and loads there by CO-RE"
		[[ -f $k ]] || k=$WORK/kernels/$k/bzImage
		kselftests check-own "$(realpath "$k")" "$GUEST_CPUS" "$TESTS"
		;;
	esac
}

# SOAK=N consecutive runs of the new tests in one patched guest: every run
# must pass; the spread of each figure is printed.
# make edit, make check EDIT=1, make refresh: the work tree the harness never
# resets (tools/build/edit.sh), its snapshot built as the kernel "edit", and its
# commits written back into kernel/BASE/, then checked.
stage_edit_start() { "$T/build/edit.sh" start; }
stage_edit_build() { "$T/build/edit.sh" snapshot && "$T/build/kbuild.sh" edit=lg/edit-build; }
stage_edit_refresh() { "$T/build/edit.sh" refresh; }
stage_edit_verify() { "$T/build/edit.sh" verify; }

stage_soak() {
	local name=patched-soak n=${SOAK:-10}
	guest tests "$name" patched "$GUEST_CPUS" $((TO_SUITE + n * 60)) \
		"$GUEST" soak "$ST" "$OUT/runs/$name" "$n" "$(new_tests | xargs)" || true
	checked soak "$T/lib/ktap.py" soak "$RESULTS" "$OUT/runs/$name/runner.txt" "$n"
	console_result "$name"
}

# The seed's reproducer: scx_qmap -l under CPU-bound load. The fixed kernel
# ejects qmap through the watchdog and carries on; the baseline freezes.
stage_qmap() {
	local k name watch
	for k in patched baseline; do
		name=$k-qmap watch=qmap
		[[ $k == baseline ]] && watch=qmap-freeze
		guest "$watch" "$name" "$k" "$GUEST_CPUS" "$TO_STALL" \
			"$GUEST" qmap "$SCX" "$OUT/runs/$name" 100 60 || true
		# The baseline must freeze: its console's verdict is the stall's.
		if [[ $k == baseline ]]; then
			stall_verdict "$name" "qmap -l 100"
		else
			checked "$name" "$T/lib/ktap.py" qmap "$RESULTS" "$name" "$OUT/logs/$name.outcome" "$OUT/runs/$name/result.txt"
			console_result "$name"
		fi
	done
}

# The figures the witness prints, one line per test and guest (ktap.py
# figure-lines picks them out).
stage_write_figures() { write_figures; }
write_figures() {
	local f=("$OUT"/runs/patched-*/runner.txt)
	[[ -e ${f[0]} ]] || f=()
	: >"$OUT/figures.txt"
	((${#f[@]} == 0)) || ktap figure-lines "${f[@]}" >"$OUT/figures.txt"
}

stage_figures() {
	local f
	for f in "$LG_OUT"/*/figures.txt; do
		[[ -s $f ]] || continue
		msg FIGURES "dispatch-loop witness on the patched $(basename "$(dirname "$f")") kernel ($f):"
		checked figures "$T/lib/ktap.py" figures "$f"
	done
}

# make mutants: every mutant of this base must be killed by the witness.
# make test runs two of them on 7.3 (MUTANTS_SMOKE), so that the machinery
# cannot rot: each is killed only by a check that earlier versions of the
# witness lacked (no kick after a round 32 that made progress; the kick's
# irq_work never run from the tick).
stage_mutants() { "$T/build/mutants.sh" ${MUTANT:-}; }
stage_mutants_smoke() { "$T/build/mutants.sh" $MUTANTS_SMOKE; }
# make lockdep: the series' tests on the patched kernel built with lockdep
# (tools/build/lockdep.config) in a build directory of its own
# (CACHE/lockdep/BASE, or O=DIR's DIR/lockdep/BASE), one guest.
# The console's splat scan is the verdict on the locking; the kernel must
# say that its lock validator runs.
stage_lockdep_kernel() {
	LG_KBUILD=${LG_KBUILD:-$CACHE}/lockdep LG_KCONFIG=$T/build/lockdep.config \
		"$T/build/kbuild.sh" --images lockdep=lg/patched
}
stage_lockdep() {
	kselftests lockdep lockdep "$GUEST_CPUS" "$(new_tests upstream | xargs)"
	checked lockdep/validator "$T/lib/ktap.py" lockdep "$RESULTS" lockdep/validator "$OUT/logs/lockdep.log"
}

# The failure-path gate: the series' tests on a kernel whose watchdog never
# fires must fail with their own message and let the runner go on.
stage_failpath() { "$T/build/mutants.sh" --gate; }

# The stress of 7.3's Kretprobe on x86_64 (make rust; make rust ARCH=arm64
# runs it on arm64): probes registered and unregistered while the probed
# function is called in a loop on the other CPU.
stage_rust_stress() {
	local name=rust-stress
	mkdir -p "$OUT/runs/$name"
	guest tests "$name" patched 2 "$TO_STALL" \
		"$GUEST" stress "$WORK/modules/patched/$STRESS.ko" "$OUT/runs/$name" || true
	checked "$name/stress" "$T/lib/ktap.py" stress "$RESULTS" "$name/stress" "$OUT/runs/$name/stress.txt"
	console_result "$name"
}

# make rust ARCH=arm64 (tools/arm64/arm64.sh): the Rust series of 7.3 on
# arm64, kernel and guest.
stage_arm64_kernel() { "$T/arm64/arm64.sh" kernel; }
stage_arm64() { "$T/arm64/arm64.sh" run; }

stage_unit() { LG_RESULT_PREFIX='' "$T/tests/unit.sh"; }
# The verdicts' tests (tools/tests/test_verdicts.py) and the guest
# watcher's (test_watch.py, with a fake vng) under pytest in the chroot, one
# result per test; then each verdict broken in turn, which its
# test must catch (tools/tests/break_verdicts.py), one result per verdict.
stage_pytest() { LG_RESULT_PREFIX='' run_pytest; }
# The scripts of the harness under shellcheck -S warning (its errors and
# warnings; not its notes and style), in the chroot: one result, shellcheck.
stage_shellcheck() {
	local log=$LG_OUT/shellcheck.txt rc=0
	# shellcheck disable=SC2046 # one word per file
	(cd "$LG_TOP" && in_chroot shellcheck -x -S warning $(find tools -name '*.sh' | sort) tools/guest/in-chroot) \
		>"$log" 2>&1 || rc=$?
	LG_RESULT_PREFIX='' checked shellcheck "$T/lib/ktap.py" tool "$RESULTS" shellcheck "$rc" "$log" \
		"no error or warning in the harness's scripts"
}
run_pytest() {
	local xml=$LG_OUT/pytest.xml rc=0
	rm -f "$xml"
	in_chroot python3 -m pytest -q -p no:cacheprovider --junitxml="$xml" "$T/tests/test_verdicts.py" \
		"$T/tests/test_watch.py" >&2 || rc=$?
	checked pytest "$T/lib/ktap.py" junit "$RESULTS" pytest "$xml" "$rc"
	checked pytest/break in_chroot python3 "$T/tests/break_verdicts.py" "$RESULTS" pytest/break >&2
}

# make bench, full; and the smoke version make test runs so that it cannot
# rot: it must produce every table, but its timings count for nothing.
stage_bench() { "$T/bench/bench.sh"; }
# make census (tools/census/): the production schedulers, built once in a
# root of their own, then run; make test runs the machinery with scx_simple.
# SCHEDULERS="NAME...": those of the list only.
stage_census_build() { "$T/census/build.sh" ${SCHEDULERS:-}; }
# The census runs on kernels of its own: the patched kernel with
# tools/census/census.config (what its schedulers need from the kernel's
# BTF), built in CACHE/census/BASE (or O=DIR's DIR/census/BASE), with the
# Rust module built against it.
stage_census_kernel() { with_lock build_census_kernel; }
build_census_kernel() {
	LG_KBUILD=$CENSUS_KB LG_KCONFIG=$T/census/census.config "$T/build/kbuild.sh" census=lg/patched ||
		die 1 "the census kernel does not build"
	module_for census "$CENSUS_KB/$BASE" "$MOD" "$MODSRC"
}
stage_census() { "$T/census/census.sh"; }
stage_census_smoke() { "$T/census/census.sh" smoke; }
stage_boots() { "$T/bench/boots.sh"; }
stage_bench_smoke() {
	local rc=0
	"$T/bench/bench.sh" smoke || rc=$?
	checked bench/smoke "$T/lib/ktap.py" bench-smoke "$RESULTS" bench/smoke "$OUT/bench-smoke" "$rc"
}

stage_report() {
	stage_figures
	checked boots "$T/lib/ktap.py" boots "$LG_OUT"
	msg REPORT "results of this run ($(elapsed)):"
	ktap report "$RESULTS"
}

# A new run: results and per-run output of the last one go.
stage_reset() {
	rm -rf "$LG_OUT"/*/runs "$LG_OUT"/*/figures.txt "$LG_OUT"/*/logs/*.outcome "$LG_OUT"/boots.txt
	mkdir -p "$OUT"
	: >"$RESULTS"
}

# What 'make test' runs on each base. The soak, qmap and bench smoke runs
# are 6.12's; the Rust sample, make rustdoc, the fixes' reproducers, the
# mutants and the census smoke run are 7.3's.
base_tests() {
	case $BASE in
	7.3) echo export checkpatch bisect kernels modules sample rustdoc rustfmt userspace patched patched_1cpu \
		rust_series rust baseline rust_baseline kprobes_fix debugfs_fix failpath mutants_smoke census_smoke write_figures ;;
	6.12) echo export checkpatch bisect kernels modules rustfmt userspace patched \
		patched_1cpu soak rust_series rust qmap baseline rust_baseline failpath bench_smoke write_figures ;;
	esac
}

(($# > 0)) || die "usage: pipeline.sh STAGE..."
check_paths
# shellcheck disable=SC2046 # one word per stage
set -- $(for s in "$@"; do if [[ $s == base_tests ]]; then base_tests; else echo "$s"; fi; done)
# A set-up or build stage that fails ends the run: nothing after it could
# be trusted. Test stages record their failures as results and go on.
FATAL=" toolchain tree series patched_kernel kernels modules sample userspace census_kernel arm64_kernel edit_start edit_build edit_refresh edit_verify "
STAGES="$*"
for s in "$@"; do
	declare -F "stage_$s" >/dev/null || die "pipeline.sh: no stage '$s'"
done
# Each stage's time, in $LG_OUT/stages.txt (BASE STAGE SECONDS): the budget.
# The exit status is the report's, the one reader of the results: non-zero
# when a result is not ok or there is none. A test stage that fails without
# recording why becomes a failing result of its own, so the report sees it.
mkdir -p "$LG_OUT"
status=0
for s in "$@"; do
	t=$(date +%s) rc=0
	rows=$(ktap rows "$RESULTS")
	"stage_$s" || rc=$?
	[[ $s == reset ]] && : >"$LG_OUT/stages.txt"
	printf '%s\t%s\t%d\n' "$BASE" "$s" $(($(date +%s) - t)) >>"$LG_OUT/stages.txt"
	if ((rc)) && [[ $FATAL == *" $s "* ]]; then
		die "stage '$s' failed; stopping"
	elif [[ $s == report ]]; then
		status=$rc
	elif [[ $s != reset ]]; then
		ktap stage "$RESULTS" "stage/$s" "$rc" "$rows" ||
			die "the stage's checker failed (ktap.py stage)"
	fi
done
exit "$status"
