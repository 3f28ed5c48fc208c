#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the kernels of $WORK/linux with LLVM=1 in one shared output
# directory, so that switching between lg/baseline and lg/patched costs an
# incremental rebuild, not a cold one. Each result is cached under
# $WORK/kernels/<key>, keyed by the source tree and the config fragment.
#
#   kbuild.sh NAME...    build lg/NAME (baseline, patched) and link
#                        $WORK/kernels/NAME to it; the last one stays
#                        checked out, so modules and selftests can use it
. "$(dirname "$0")/lib.sh"

LINUX=$WORK/linux
KB=$WORK/build
FRAG=$LG_TOP/tools/loopguard.config
JOBS=${JOBS:-$(nproc)}

kmake() {
	local q=()
	[[ $V == 1 ]] && q=(V=1)
	with_lock in_chroot make -C "$LINUX" O="$KB" LLVM=1 -j"$JOBS" "${q[@]}" "$@"
}

# Run a long make with its output in a log, a heartbeat every minute, and the
# tail of the log on failure. V=1 shows everything instead.
logged() {
	local log=$1 pid rc=0 t0
	shift
	if [[ $V == 1 ]]; then
		"$@" 2>&1 | tee "$log"
		return
	fi
	t0=$(date +%s)
	"$@" >"$log" 2>&1 &
	pid=$!
	while ! wait_for "$pid" 60; do
		msg "..." "$(elapsed "$t0") $(grep -E '^\s+(CC|LD|RUSTC|BTF|AR|AS)' "$log" | tail -n1 | xargs)"
	done
	wait "$pid" || rc=$?
	if ((rc)); then
		tail -n 30 "$log" >&2
		msg FAIL "full log: $log"
	fi
	return "$rc"
}

# wait_for PID SECS: true when PID ended within SECS.
wait_for() {
	local i
	for ((i = 0; i < $2; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 1
	done
	return 1
}

configure() {
	local want
	want=$(cat "$FRAG" | sha256sum | cut -c1-16)
	if [[ -f $KB/.config && $(cat "$KB/.lg-config" 2>/dev/null) == "$want" ]]; then
		return
	fi
	mkdir -p "$KB"
	step CONFIG "vng --kconfig + $(basename "$FRAG")" \
		with_lock in_chroot bash -c "cd '$LINUX' && vng --kconfig --config '$FRAG' O='$KB' LLVM=1 >'$KB/kconfig.log' 2>&1" ||
		die 1 "kernel config failed, see $KB/kconfig.log"
	# Check that what matters survived olddefconfig (a dropped dependency
	# would otherwise surface much later as a missing feature).
	local opt missing=()
	for opt in SCHED_CLASS_EXT DEBUG_INFO_BTF RUST KPROBES BPF_EVENTS FUNCTION_TRACER WERROR; do
		grep -q "^CONFIG_$opt=y" "$KB/.config" || missing+=("$opt")
	done
	((${#missing[@]} == 0)) ||
		die 1 "the kernel config lacks ${missing[*]} after olddefconfig (is the Rust toolchain usable? try 'make LLVM=1 rustavailable')"
	echo "$want" >"$KB/.lg-config"
}

build() {
	local name=$1 ref=lg/$1 key dest t0
	git -C "$LINUX" rev-parse -q --verify "$ref" >/dev/null ||
		die "no branch $ref in $LINUX; run 'make series' first"
	# tools/ and Documentation/ do not go into a kernel image.
	key=$({
		git -C "$LINUX" ls-tree "$ref" | grep -v -P '\t(tools|Documentation)$'
		cat "$FRAG"
	} | sha256sum | cut -c1-16)
	dest=$WORK/kernels/$key
	if [[ ! -f $dest/bzImage ]]; then
		run git -C "$LINUX" checkout -q -f "$ref"
		configure
		mkdir -p "$OUT/logs"
		t0=$(date +%s)
		msg BUILD "$name kernel ($ref $(git -C "$LINUX" rev-parse --short "$ref")) ..."
		logged "$OUT/logs/build-$name.log" kmake ||
			die 1 "the $name kernel does not build"
		echo "$key" >"$KB/.lg-built"
		mkdir -p "$dest.tmp"
		cp "$KB/arch/x86/boot/bzImage" "$KB/System.map" "$KB/.config" "$dest.tmp/"
		git -C "$LINUX" rev-parse "$ref" >"$dest.tmp/commit"
		rm -rf "$dest"
		mv "$dest.tmp" "$dest"
		msg BUILD "$name kernel done in $(elapsed "$t0")"
	else
		msg BUILD "$name kernel is cached ($key)"
	fi
	ln -sfn "$key" "$WORK/kernels/$name"
}

[[ $# -gt 0 ]] || die "usage: kbuild.sh NAME... (baseline, patched)"
for n in "$@"; do
	build "$n"
done
# Leave the last kernel's tree checked out and built, for M= modules and the
# selftests: rebuild it if another kernel was built into $KB after it.
last=${!#}
want=$(readlink "$WORK/kernels/$last")
run git -C "$LINUX" checkout -q -f "lg/$last"
if [[ $(cat "$KB/.lg-built" 2>/dev/null) != "$want" ]]; then
	configure
	logged "$OUT/logs/build-$last.log" kmake || die 1 "the $last kernel does not build"
	echo "$want" >"$KB/.lg-built"
fi
