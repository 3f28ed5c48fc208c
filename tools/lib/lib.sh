# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash disable=SC2034 # lg_env's settings are the sourcing scripts'
# Common helpers for the scx-loopguard harness. Sourced, never run.
#
# Conventions:
#   - every message goes to stderr with a "  TAG   " prefix, like Kbuild;
#   - V=1 echoes each command before running it;
#   - long steps print their elapsed time when they end;
#   - die() prints one plain line and exits 2 (bad input) or the given code.

# lg_env: the settings every script of the harness shares, from the
# environment and the defaults, checked and exported. Each script calls
# it right after sourcing this file, which by itself only defines.
lg_env() {
	# An unset variable is an error, and so is a pipeline whose any part
	# failed. No errexit (set -e): the scripts check each status they act
	# on (a test stage that fails records it and the run goes on), and
	# errexit is off in every function called from a condition, so it would
	# hold in some calls of a function and not in others.
	set -uo pipefail

	LG_TOP=${LG_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
	if [[ -z ${CACHE:-} ]]; then
		CACHE=${XDG_CACHE_HOME:-${HOME:+$HOME/.cache}}
		CACHE=${CACHE:-/var/cache}/scx-loopguard
	fi
	CHROOT=${CHROOT:-$CACHE/chroot}

	# With KDIR= and no BASE=, the base is that of the tree; a newer mainline
	# tree takes the 7.3 series (for apply and series only, see tree.sh).
	if [[ -z ${BASE:-} && -n ${KDIR:-} ]]; then
		LG_KVER=$(kver "$KDIR")
		case $LG_KVER in
		6.12.*) BASE=6.12 ;;
		7.3.*) BASE=7.3 ;;
		*) ! newer "$LG_KVER" 7.3 || BASE=7.3 ;;
		esac
	fi

	# The kernel base: each has its own series (kernel/BASE/), tree, build
	# directory and cached images ($WORK), and its own logs and runs ($OUT).
	# Results of all bases go to one file, each name prefixed with its base.
	BASE=${BASE:-7.3}
	WORK=${WORK:-$CACHE/work/$BASE}
	# The kernel tree of this base: Debian's linux-source-BASE in $WORK/linux;
	# a KDIR= tree in a folder of its own, $WORK/kdir/ID/linux, with its own
	# build directory, so that going from one to the other and back rebuilds
	# neither from cold.
	if [[ -n ${KDIR:-} ]]; then
		LG_TREE=$WORK/kdir/$(cd "$KDIR" 2>/dev/null && pwd | sha256sum | cut -c1-12)
	else
		LG_TREE=$WORK
	fi
	LINUX=$LG_TREE/linux
	# The kernel build directory of this base: O=DIR (LG_KBUILD) puts it in
	# DIR/BASE, by default it is beside the tree. KCONFIG=FILE (LG_KCONFIG) is a
	# config fragment of the user's, merged after the project's.
	if [[ -n ${LG_KBUILD:-} ]]; then
		KB=$LG_KBUILD/$BASE
	else
		KB=$LG_TREE/build
	fi
	LG_KCONFIG=${LG_KCONFIG:-}
	# The virtme-ng that boots the guests (tools/host/virtme-ng.txt): toolchain.sh
	# unpacks it into the chroot at $GUEST_VNG_DIR, vm.sh runs it from there.
	VNG_VER=$(sed -n 's/^virtme-ng==\([^ ]*\).*/\1/p' "$LG_TOP/tools/host/virtme-ng.txt")
	GUEST_VNG_DIR=/opt/virtme-ng-$VNG_VER
	LG_OUT=${LG_OUT:-$LG_TOP/out}
	OUT=$LG_OUT/$BASE
	RESULTS=$LG_OUT/results.txt
	LG_RESULT_PREFIX=${LG_RESULT_PREFIX-$BASE/}
	SERIES_DIR=$LG_TOP/kernel/$BASE
	V=${V:-0}
	. "$LG_TOP/tools/guest/markers.sh"
	LG_T0=${LG_T0:-$(date +%s)}
	export LG_TOP CACHE CHROOT BASE WORK LINUX KB LG_KBUILD LG_KCONFIG LG_OUT OUT RESULTS LG_RESULT_PREFIX SERIES_DIR V LG_T0

	[[ -z $LG_KCONFIG || -f $LG_KCONFIG ]] ||
		die "KCONFIG=$LG_KCONFIG: no such file (a kernel config fragment, CONFIG_FOO=y lines)"

	case $BASE in
	6.12 | 7.3) ;;
	*) die "BASE=$BASE: the series exists for BASE=7.3 (default) and BASE=6.12" ;;
	esac

	GUEST=$LG_TOP/tools/guest/guest.sh
	# Every guest's bound, in seconds of the host's time from its start:
	# generous for TCG (a guest can take 50 s to boot), but bounded. What
	# ends a guest sooner is its watch (see guest()).
	TO_SUITE=${TO_SUITE:-900}         # a test suite, or a run of many steps
	TO_STALL=${TO_STALL:-240}         # one scenario, which may stall
	TO_MUTANT=${TO_MUTANT:-300}       # a mutant kernel's run
	TO_BENCH=${TO_BENCH:-600}         # one of make bench's overhead boots
	TO_RECOVERY=${TO_RECOVERY:-1200}  # make bench's recovery runs
	TO_ARM64=${TO_ARM64:-900}         # the arm64 guest (KUnit at boot: most of it)
	# A guest's boot: how long it may take to reach its test's start line
	# before it counts as stalled while booting (and, if its bound is
	# longer, is booted once more; guests reach it in 5-10 s), and the boot
	# in the bounds made of steps.
	BOOT_SECS=${BOOT_SECS:-120}
	TO_SCHED_LOAD=300                 # a census scheduler's load (a Rust one: minutes)
	# ACCEL=auto's trial boot under KVM: the seconds it has to reach its root.
	KVM_PROBE_SECS=${KVM_PROBE_SECS:-20}
	# The lock of with_lock().
	LG_LOCK=${LG_LOCK:-$CACHE/.lock}
}

# kver DIR: "6.12.117" from the top Makefile of a Linux tree, or nothing.
kver() {
	awk -F' *= *' '$1 == "VERSION" { v = $2 } $1 == "PATCHLEVEL" { p = $2 }
		$1 == "SUBLEVEL" { s = $2 } END { if (v != "") print v "." p "." s }' \
		"$1/Makefile" 2>/dev/null
}
# newer V1 V2: version V1 (a.b.c) is above a.b of V2.
newer() {
	local a b
	IFS=. read -r a b _ <<<"$1"
	[[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]] || return 1
	((a > ${2%%.*} || (a == ${2%%.*} && b > ${2#*.})))
}

# exported_patches DIR: the patch files git format-patch wrote into DIR, in
# order, without the cover letter.
exported_patches() {
	find "$1" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' ! -name '0000-*' | sort
}

# own_series: the series of their own that export.sh wrote for this base
# (the @rust one, one per @fix=NAME), one "KIND DIR" line each, DIR being
# $OUT/series-KIND.
own_series() {
	local d
	for d in "$OUT"/series-*/; do
		[[ -d $d ]] || continue
		d=${d%/}
		echo "${d##*/series-} $d"
	done
}

# check_paths: refuse, before anything is built or booted, a checkout,
# output, cache, build directory or KDIR= tree whose path the guests cannot
# take: virtme-ng splits "--rwdir A=B" at '=', QEMU's -virtfs options at ','
# and a space splits make's words; ':' separates PATH-like lists.
check_paths() {
	local what path
	for what in "the checkout:$LG_TOP" "OUT=:$LG_OUT" "CACHE=:$CACHE" "O=:${LG_KBUILD:-}" "KDIR=:${KDIR:-}"; do
		path=${what#*:}
		[[ -n $path && $path == *[=,:[:space:]]* ]] || continue
		die "${what%%:*} is '$path': a path with '=', ',', ':' or a space cannot be shared with the guests (virtme-ng, QEMU and make split at them); use a path without them"
	done
}

msg() {
	local tag=$1
	shift
	printf '  %-7s %s\n' "$tag" "$*" >&2
}

die() {
	local rc=2
	if [[ $1 =~ ^[0-9]+$ ]]; then
		rc=$1
		shift
	fi
	printf 'scx-loopguard: error: %s\n' "$*" >&2
	exit "$rc"
}


# Seconds since $1 (default: start of the make run), as "1m23s".
# tenths NS: nanoseconds as seconds with one decimal.
tenths() {
	printf '%d.%d' $(($1 / 1000000000)) $(($1 / 100000000 % 10))
}

elapsed() {
	local s=$(($(date +%s) - ${1:-$LG_T0}))
	if ((s >= 60)); then
		printf '%dm%02ds' $((s / 60)) $((s % 60))
	else
		printf '%ds' "$s"
	fi
}

# run CMD...: echo under V=1, then run.
run() {
	[[ $V == 1 ]] && printf '+ %s\n' "$*" >&2
	"$@"
}

# Guests. Every guest that runs a test is booted by guest() (make boots
# measures the boot itself with vm.sh run, and make rust ARCH=arm64 boots
# QEMU directly), under one of these watches: vm.sh's start line (-s) and the seconds of silence after
# it that make the guest frozen (-i). guest.sh prints its heartbeat
# (GUEST_ALIVE) every 2 s, so only a guest with every CPU stuck goes silent.
#   tests   guest.sh's GUEST_START; 60 s
#   mutant  the same, 30 s: a mutant is expected to fail, not to freeze
#   qmap    scx_qmap enabled, under CPU-bound load; 15 s. A healthy
#           guest's heartbeat gaps were at most 9.4 s of guest time in five
#           full 'make test' runs (2026-12-06; 6.12's patched qmap run, the
#           busiest): 1.6 times that
#   freeze  a guest whose test is expected to freeze it (the baseline's):
#           once the kernel names a new test's scheduler (NEW_STARTED);
#           8 s. No CPU-bound load runs beside these tests: their healthy
#           gaps (the same tests on patched kernels, the baseline's
#           dsp_loop_one_cpu, which does not freeze) were at most 4.3 s of
#           guest time in five full 'make test' runs (2026-12-06), so 8 s
#           is 1.9 times that. Shorter would call frozen a baseline that was
#           only slow
#   qmap-freeze  scx_qmap on the baseline, under load, where the stall is
#           expected; 12 s, 1.3 times the qmap gap above
# The start line of a baseline run: the kernel names a new test's
# scheduler. 6.12 says 'BPF scheduler "NAME" enabled'. On 7.3 that line may
# never reach the console: printing is threaded there, and the printer
# cannot run once every CPU is trapped, which can be right after the enable.
# 7.3 prints "sched_ext: NAME: watchdog timeout ..." earlier in the enable.
NEW_STARTED='BPF scheduler "(dsp_loop|dispatch_loop)" enabled|sched_ext: (dsp_loop|dispatch_loop): '
QMAP_STARTED='BPF scheduler "qmap" enabled'

# guest WATCH NAME KERNEL CPUS SECS CMD...: boot KERNEL ("patched",
# "baseline", a kernel of $WORK/kernels, or a bzImage) with CPUS vCPUs, run
# CMD (usually "$GUEST" COMMAND ARGS...) in it as run NAME under WATCH, and
# end it after SECS. Its status is vm.sh's (0 if the outcome is "passed");
# the outcome itself is in $OUT/logs/NAME.outcome, which console_result
# turns into the run's result.
guest() {
	local watch=$1 name=$2 kernel=$3 cpus=$4 secs=$5 start=$GUEST_START idle
	shift 5
	case $watch in
	tests) idle=60 ;;
	mutant) idle=30 ;;
	qmap) start=$QMAP_STARTED idle=15 ;;
	freeze) start=$NEW_STARTED idle=8 ;;
	qmap-freeze) start=$QMAP_STARTED idle=12 ;;
	*) die "guest: no watch '$watch'" ;;
	esac
	"$LG_TOP/tools/guest/vm.sh" run "$name" "$kernel" -c "$cpus" -t "$secs" -s "$start" -i "$idle" -- "$@"
}

# checked NAME CMD...: run a checker that adds its own results; exit 0 or 1
# are its verdicts, anything else (70: it crashed) is one failing result.
checked() {
	local name=$1 rc=0
	shift
	"$@" || rc=$?
	((rc <= 1)) || "$LG_TOP/tools/lib/ktap.py" add "$RESULTS" "not ok" "$name" \
		"the checker $(basename "$1") failed (exit $rc)"
}

# console_result NAME: one result for the console of guest run NAME, from
# what vm.sh wrote of it (the verdict is ktap.py's console_verdict()).
console_result() {
	checked "$1/console" "$LG_TOP/tools/lib/ktap.py" console "$RESULTS" "$1" \
		"$OUT/logs/$1.outcome" "$OUT/logs/$1.log"
}

# census_list [NAME...]: the "NAME VERSION" lines of the census's pinned
# schedulers (tools/census/schedulers.txt), those named only. Call it as
# list=$(census_list) || exit: a malformed list, or none of it left, is an
# error.
census_list() {
	local list=$LG_TOP/tools/census/schedulers.txt name ver n=0
	[[ -f $list ]] || die "no $list"
	while read -r name ver; do
		[[ -n $name ]] || continue
		[[ -n $ver ]] || die "$list: no version for $name"
		if (($#)) && [[ " $* " != *" $name "* ]]; then
			continue
		fi
		echo "$name $ver"
		n=$((n + 1))
	done < <(sed -e 's/#.*//' "$list")
	((n)) || die "no scheduler of $list is called ${*:-anything}"
}

# git_lg ARGS...: git on the kernel tree $LINUX, as the harness commits there.
git_lg() {
	run git -C "$LINUX" -c user.name=scx-loopguard -c user.email=scx-loopguard@localhost -c gc.auto=0 -c maintenance.auto=false \
		-c advice.detachedHead=false "$@"
}

# series_entries: the entries of kernel/BASE/series, comments and blank
# lines dropped.
series_entries() {
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$SERIES_DIR/series"
}

# new_tests [upstream|witness]: the new tests of this base, the names
# registered in the .c files of every repo folder that kernel/BASE/series
# copies into the sched_ext selftests: the upstream tests and the project's
# witness alike, or those of the series only (upstream: no @local entry),
# or the witness's only (the @local ones), on one line.
ST_DEST=tools/testing/selftests/sched_ext
new_tests() {
	if [[ ${1:-} == witness ]]; then
		comm -23 <(new_tests | sort) <(new_tests upstream | sort) | xargs
		return
	fi
	local src f
	for src in $(series_entries | { if [[ ${1:-} == upstream ]]; then grep -v '@local'; else cat; fi; } |
		tr ' ' '\n' | sed -n "s|^\([^=]*\)=$ST_DEST\$|\1|p"); do
		for f in "$LG_TOP/$src"/*.c; do
			[[ $f == *.bpf.c ]] && continue
			sed -n 's/^[[:space:]]*\.name[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$f"
		done
	done
}

# patch_subject MBOX: the subject of a git format-patch file, without its
# [PATCH ...] prefix, unfolded (a long Subject: header continues on the
# next line).
patch_subject() {
	sed -n '/^Subject: /{s/^Subject: \(\[PATCH[^]]*\] \)\{0,1\}//;N;s/\n / /;s/\n.*//;p;q}' "$1"
}

# step TAG WHAT CMD...: a long step, with a start line and a timed end line.
step() {
	local tag=$1 what=$2 t0 rc=0
	shift 2
	t0=$(date +%s)
	msg "$tag" "$what ..."
	run "$@" || rc=$?
	if ((rc)); then
		msg "$tag" "$what FAILED after $(elapsed "$t0")"
		return "$rc"
	fi
	msg "$tag" "$what done in $(elapsed "$t0")"
}

# logto FILE CMD...: CMD's output into FILE, with a heartbeat line (elapsed
# time, last line of FILE) every minute while it runs. V=1 shows everything
# instead. On failure: the tail of FILE and its path.
logto() {
	local log=$1 rc=0 pid t0 i
	shift
	mkdir -p "$(dirname "$log")"
	if [[ $V == 1 ]]; then
		"$@" 2>&1 | tee "$log" || rc=$?
	else
		t0=$(date +%s)
		"$@" >"$log" 2>&1 &
		pid=$!
		while kill -0 "$pid" 2>/dev/null; do
			for ((i = 0; i < 60; i++)); do
				kill -0 "$pid" 2>/dev/null || break 2
				sleep 1
			done
			msg "..." "$(elapsed "$t0") $(tail -n1 "$log" | cut -c1-70 | xargs)"
		done
		wait "$pid" || rc=$?
	fi
	if ((rc)); then
		tail -n 30 "$log" >&2
		msg FAIL "full log: $log"
	fi
	return "$rc"
}

need_root() {
	[[ $(id -u) == 0 ]] ||
		die "this step needs root (debootstrap, chroot and bind mounts); run it as root or with sudo"
}

# The project-wide lock: one kernel build or one VM at a time on this machine.
# An flock(1) on a file in the cache, held by this shell until CMD returns, so
# CMD may be a shell function. Nested calls do not take it twice.
with_lock() {
	local fd rc=0
	if [[ -n ${LG_LOCKED:-} ]]; then
		"$@"
		return
	fi
	mkdir -p "$CACHE"
	exec {fd}>>"$LG_LOCK"
	if ! flock -n "$fd"; then
		msg LOCK "waiting for another build or VM of scx-loopguard ($LG_LOCK)"
		flock -w "${LG_LOCK_WAIT:-7200}" "$fd" || die "could not get the lock $LG_LOCK"
	fi
	# Closed for CMD: bash keeps the lock in a close-on-exec copy while CMD
	# runs, so no child (git's background gc, say) inherits it and holds
	# the lock after we are done.
	LG_LOCKED=1 "$@" {fd}>&- || rc=$?
	exec {fd}>&-
	return "$rc"
}

# in_chroot CMD...: run CMD inside the toolchain chroot, in private mount and
# PID namespaces: the bind mounts vanish with the command, and when the command
# is killed (a timeout), every process it started dies with it, QEMU included.
# The repo, the work dir and the output dir keep their host paths.
# TOOLCHAIN=host runs CMD directly.
in_chroot() {
	local cwd=$PWD
	if [[ ${TOOLCHAIN:-chroot} == host || -n ${LG_IN_CHROOT:-} ]]; then
		run "$@"
		return
	fi
	[[ -x $CHROOT/bin/sh ]] || die "no toolchain chroot at $CHROOT; run 'make toolchain'"
	need_root
	mkdir -p "$WORK" "$KB" "$OUT" "$LG_OUT"
	run unshare --mount --pid --fork --kill-child --propagation private -- /bin/bash -ec '
		root=$1 cwd=$2
		shift 2
		mount -t proc proc "$root/proc"
		# KDIR too: a tree cloned from it with --shared reads its objects.
		for d in /sys /dev /dev/pts /tmp "$LG_TOP" "$WORK" "$KB" "$LG_OUT" ${KDIR:+"$KDIR"}; do
			# never the root: it would hide the chroot
			[[ $d == /?* && -d $d ]] || continue
			mkdir -p "$root$d"
			mount --rbind "$d" "$root$d"
		done
		# A guest boots from this root (virtme-ng shares it over 9p). In
		# this mount namespace only, udevd and udevadm are a script that
		# only names the virtio-serial ports, and systemd-tmpfiles is a
		# file the init cannot run, so skips (tools/guest/guest-root/):
		# udev coldplug and tmpfiles took most of each boot under TCG.
		if [[ ${LG_GUEST_ROOT:-0} == 1 ]]; then
			mount --bind "$LG_TOP/tools/guest/guest-root/udevadm" "$root/usr/bin/udevadm"
			mount --bind "$LG_TOP/tools/guest/guest-root/systemd-tmpfiles" "$root/usr/bin/systemd-tmpfiles"
		fi
		exec chroot "$root" /usr/bin/env -i \
			HOME=/root PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
			TERM="${TERM:-dumb}" LANG=C.UTF-8 \
			LG_TOP="$LG_TOP" WORK="$WORK" LINUX="$LINUX" KB="$KB" OUT="$OUT" LG_OUT="$LG_OUT" BASE="$BASE" \
			RESULTS="$RESULTS" V="$V" CACHE="$CACHE" \
			LG_T0="$LG_T0" LG_IN_CHROOT=1 LG_LOCKED="${LG_LOCKED:-}" \
			/bin/bash -c "cd \"\$0\" && exec \"\$@\"" "$cwd" "$@"
	' lg-chroot "$CHROOT" "$cwd" "$@"
}

# The Debian mirror of this machine, from its own apt sources (never
# hard-coded): the first URIs: line of a deb822 file, else the first deb line.
apt_mirror() {
	local m
	m=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -v -- '-security' | head -n1)
	if [[ -z $m ]]; then
		m=$(awk '$1 == "deb" && $2 !~ /^\[/ { print $2; exit }
			 $1 == "deb" && $2 ~ /^\[/ { for (i = 3; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' \
			/etc/apt/sources.list 2>/dev/null | head -n1)
	fi
	[[ -n $m ]] || die "cannot find a Debian mirror in /etc/apt/sources.list{,.d}; set MIRROR=URL"
	printf '%s\n' "${m%/}"
}
