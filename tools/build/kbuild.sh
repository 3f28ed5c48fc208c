#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the kernels of $LINUX with LLVM=1 in one shared output
# directory, so that switching between lg/baseline and lg/patched costs an
# incremental rebuild, not a cold one. Each result is cached under
# $WORK/kernels/<key>, keyed by the source tree and the config fragment.
#
#   kbuild.sh NAME[=REF]...
#                        build REF (default lg/NAME: baseline, patched) and
#                        link $WORK/kernels/NAME to it; the last one stays
#                        checked out, so modules and selftests can use it
. "$(dirname "$0")/../lib/lib.sh"
lg_env

FRAG=$LG_TOP/tools/build/loopguard.config
JOBS=${JOBS:-$(nproc)}

kmake() {
	local q=()
	[[ $V == 1 ]] && q=(V=1)
	with_lock in_chroot make -C "$LINUX" O="$KB" LLVM=1 CLIPPY=1 -j"$JOBS" "${q[@]}" "$@"
}

# fragments: the project's config fragment, then KCONFIG= if given. Both
# are part of every kernel's cache key.
fragments() {
	cat "$FRAG"
	[[ -z $LG_KCONFIG ]] || cat "$LG_KCONFIG"
}

configure() {
	local want
	want=$(fragments | sha256sum | cut -c1-16)
	if [[ -f $KB/.config && $(cat "$KB/.lg-config" 2>/dev/null) == "$want" ]]; then
		return
	fi
	mkdir -p "$KB"
	fragments >"$KB/lg.config"
	step CONFIG "vng --kconfig + $(basename "$FRAG")${LG_KCONFIG:+ + $LG_KCONFIG}" \
		with_lock in_chroot bash -c "cd '$LINUX' && vng --kconfig --config '$KB/lg.config' O='$KB' LLVM=1 >'$KB/kconfig.log' 2>&1" ||
		die 1 "kernel config failed, see $KB/kconfig.log"
	# Check that what matters survived olddefconfig (a dropped dependency
	# would otherwise surface much later as a missing feature).
	local opt missing=()
	for opt in SCHED_CLASS_EXT DEBUG_INFO_BTF RUST KPROBES BPF_EVENTS FUNCTION_TRACER WERROR IKCONFIG_PROC RUST_KERNEL_DOCTESTS; do
		# unless a fragment turns it off on purpose (the census's WERROR)
		grep -q "^# CONFIG_$opt is not set" "$KB/lg.config" && continue
		grep -q "^CONFIG_$opt=y" "$KB/.config" || missing+=("$opt")
	done
	((${#missing[@]} == 0)) ||
		die 1 "the kernel config lacks ${missing[*]} after olddefconfig (${LG_KCONFIG:+does KCONFIG=$LG_KCONFIG turn them off? }is the Rust toolchain usable? try 'make LLVM=1 rustavailable')"
	echo "$want" >"$KB/.lg-config"
}

# check_image REF: the image just built must match REF's source, as far as
# the loop guard goes: SCX_DSP_MAX_LOOPS is in vmlinux's BTF exactly when
# REF's ext.c has it. This catches a tree switched under a running build,
# which would make the baseline silently carry the fix.
check_image() {
	local src=0 bin=0 n
	git -C "$LINUX" grep -q SCX_DSP_MAX_LOOPS "$1" -- kernel/sched/ && src=1
	# grep -c reads it all: with pipefail, grep -q could SIGPIPE bpftool.
	n=$(in_chroot bpftool btf dump file "$KB/vmlinux" 2>/dev/null | grep -c 'SCX_DSP_MAX_LOOPS')
	((n > 0)) && bin=1
	((src == bin)) ||
		die 1 "the $1 image does not match its source (SCX_DSP_MAX_LOOPS: source $src, BTF $bin); run 'make kernels' again"
}

# make_image REF KEY NAME: build the checked-out REF into $KB (log
# build-NAME.log), check the image
# against REF's source, and record KEY as what $KB now holds.
make_image() {
	configure
	logto "$OUT/logs/build-$3.log" kmake || die 1 "the $3 kernel does not build"
	check_image "$1"
	echo "$2" >"$KB/.lg-built"
}

build() {
	local name=${1%%=*} ref=lg/$1 key dest t0
	[[ $1 == *=* ]] && ref=${1#*=}
	git -C "$LINUX" rev-parse -q --verify "$ref" >/dev/null ||
		die "no branch $ref in $LINUX; run 'make series' first"
	# tools/ and Documentation/ do not go into a kernel image.
	key=$({
		git -C "$LINUX" ls-tree "$ref" | grep -v -P '\t(tools|Documentation)$'
		fragments
	} | sha256sum | cut -c1-16)
	dest=$WORK/kernels/$key
	if [[ ! -f $dest/bzImage ]]; then
		run git -C "$LINUX" checkout -q -f "$ref"
		t0=$(date +%s)
		msg BUILD "$name kernel ($ref $(git -C "$LINUX" rev-parse --short "$ref")) ..."
		make_image "$ref" "$key" "$name"
		mkdir -p "$dest.tmp"
		cp "$KB/arch/x86/boot/bzImage" "$KB/System.map" "$KB/.config" "$dest.tmp/"
		git -C "$LINUX" rev-parse "$ref" >"$dest.tmp/commit"
		elapsed "$t0" >"$dest.tmp/build-time"
		rm -rf "$dest"
		mv "$dest.tmp" "$dest"
		msg BUILD "$name kernel done in $(elapsed "$t0")"
	else
		msg BUILD "$name kernel is cached ($key)"
	fi
	ln -sfn "$key" "$WORK/kernels/$name"
}

# main NAME...: every checkout and build below runs under one hold of the
# lock, so that nothing can switch the tree between a checkout and its build.
main() {
	local n last ref want
	for n in "$@"; do
		build "$n"
	done
	# --images: the images are all that is wanted (make check, a guest run):
	# a tree whose build directory is empty (a KDIR tree whose kernels are
	# cached) stays unbuilt.
	((IMAGES_ONLY)) && return
	# Leave the last kernel's tree checked out and built, for M= modules and
	# the selftests: rebuild it if another kernel was built into $KB after it.
	last=${!#}
	ref=lg/$last
	[[ $last == *=* ]] && ref=${last#*=}
	last=${last%%=*}
	want=$(readlink "$WORK/kernels/$last")
	run git -C "$LINUX" checkout -q -f "$ref"
	[[ $(cat "$KB/.lg-built" 2>/dev/null) == "$want" ]] || make_image "$ref" "$want" "$last"
}

IMAGES_ONLY=0
[[ ${1:-} == --images ]] && IMAGES_ONLY=1 && shift
[[ $# -gt 0 ]] || die "usage: kbuild.sh [--images] NAME[=REF]... (baseline, patched)"
with_lock main "$@"
