#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make rust ARCH=arm64: the Rust kprobes series of 7.3 on arm64, where
# kretprobes have no rethook, so that a return can find its kretprobe gone
# (the Kretprobe's None branch), which never happens on x86_64.
#
#   arm64.sh kernel   the patched tree built for arm64 (ARCH=arm64 LLVM=1
#                     CLIPPY=1, allnoconfig with tools/arm64/arm64.config)
#                     in a build directory of its own (CACHE/arm64/BASE, or
#                     O=DIR's DIR/arm64/BASE), with the kprobes sample (=m)
#                     and the stress module (rust/kretprobe_stress, M=);
#                     cached by source and config in $WORK/arm64/KEY
#   arm64.sh run      boots it in QEMU (qemu-system-aarch64 -M virt, TCG,
#                     2 CPUs) on an initramfs of tools/arm64/init.c (built
#                     with the tree's nolibc) and the two modules; results
#                     rust-arm64/console, /doctests (the KUnit doctests of
#                     the kprobes abstractions, at boot), /sample, /stress
. "$(dirname "$0")/../lib/lib.sh"
lg_env

T=$LG_TOP/tools
FRAG=$T/arm64/arm64.config
A=${LG_KBUILD:-$CACHE}/arm64/$BASE
# in_chroot binds the build directory it is given as KB.
# shellcheck disable=SC2034 # read by in_chroot (lib.sh)
KB=$A
STRESS=$LG_TOP/rust/kretprobe_stress
# The sample's processes, as on x86_64 (pipeline.sh's SAMPLE_FORKS).
SAMPLE_FORKS=20

[[ $BASE == 7.3 ]] || die "make rust ARCH=arm64 is for BASE=7.3: 6.12 keeps its Rust patches for the module, which is x86_64's"

amake() {
	local q=()
	[[ $V == 1 ]] && q=(V=1)
	in_chroot make -C "$LINUX" O="$A" ARCH=arm64 LLVM=1 "${q[@]}" "$@"
}

# key: the patched tree (without tools/ and Documentation/), the config
# fragment, the stress module and the init.
key() {
	{
		git -C "$LINUX" ls-tree lg/patched | grep -v -P '\t(tools|Documentation)$'
		cat "$FRAG" "$STRESS"/* "$T/arm64/init.c"
	} | sha256sum | cut -c1-16
}

build() {
	local dest=$WORK/arm64/$1 t0 opt missing=()
	if [[ -f $dest/Image ]]; then
		msg ARM64 "arm64 kernel and modules are cached ($1)"
		return
	fi
	t0=$(date +%s)
	run git -C "$LINUX" -c advice.detachedHead=false checkout -q -f lg/patched
	mkdir -p "$A" "$OUT/logs"
	step ARM64 "config: allnoconfig + $(basename "$FRAG")" logto "$OUT/logs/arm64-config.log" \
		amake KCONFIG_ALLCONFIG="$FRAG" allnoconfig || die 1 "the arm64 config failed (see $OUT/logs/arm64-config.log)"
	for opt in RUST KPROBES KRETPROBES KUNIT KUNIT_AUTORUN_ENABLED RUST_KERNEL_DOCTESTS WERROR BINFMT_ELF BLK_DEV_INITRD; do
		grep -q "^CONFIG_$opt=y" "$A/.config" || missing+=("$opt")
	done
	grep -q '^CONFIG_SAMPLE_RUST_KPROBE=m' "$A/.config" || missing+=(SAMPLE_RUST_KPROBE)
	((${#missing[@]} == 0)) ||
		die 1 "the arm64 config lacks ${missing[*]} (is the Rust toolchain usable for arm64? try 'make ARCH=arm64 LLVM=1 rustavailable')"
	step ARM64 "kernel, sample and UAPI headers (CLIPPY=1)" logto "$OUT/logs/arm64-build.log" \
		amake CLIPPY=1 -j"$(nproc)" Image modules headers || die 1 "the arm64 kernel does not build (see $OUT/logs/arm64-build.log)"
	rm -rf "$WORK/arm64-stress"
	mkdir -p "$WORK/arm64-stress"
	cp "$STRESS"/* "$WORK/arm64-stress/"
	step ARM64 "kretprobe_stress.ko (CLIPPY=1)" logto "$OUT/logs/arm64-stress.log" \
		amake CLIPPY=1 M="$WORK/arm64-stress" modules || die 1 "the stress module does not build for arm64 (see $OUT/logs/arm64-stress.log)"
	step ARM64 "init (nolibc)" logto "$OUT/logs/arm64-init.log" \
		in_chroot clang --target=aarch64-linux-gnu -static -nostdlib -ffreestanding -fno-stack-protector \
		-Os -Wall -Werror -I "$A/usr/include" -I "$LINUX/tools/include/nolibc" -include nolibc.h \
		-fuse-ld=lld -o "$WORK/arm64-stress/init" "$T/arm64/init.c" ||
		die 1 "the guest's init does not build (see $OUT/logs/arm64-init.log)"
	mkdir -p "$dest.tmp"
	cp "$A/arch/arm64/boot/Image" "$A/samples/rust/rust_kprobe.ko" "$WORK/arm64-stress/kretprobe_stress.ko" \
		"$WORK/arm64-stress/init" "$dest.tmp/"
	rm -rf "$dest"
	mv "$dest.tmp" "$dest"
	msg ARM64 "arm64 kernel, sample, stress module and init built in $(elapsed "$t0")"
}

cmd_kernel() {
	local k
	k=$(key)
	with_lock build "$k"
	ln -sfn "$k" "$WORK/arm64/current"
}

# initramfs DIR CPIO: the init and the modules, with the device nodes and
# mount points the init needs.
initramfs() {
	local d=$1/root
	rm -rf "$d"
	mkdir -p "$d"/{dev,proc,sys}
	cp "$WORK/arm64/current"/{init,rust_kprobe.ko,kretprobe_stress.ko} "$d/"
	mknod -m 600 "$d/dev/console" c 5 1 || die "cannot make the arm64 guest's /dev/console"
	in_chroot bash -c 'cd "$1" && find . | cpio -o -H newc --owner=0:0 --quiet >"$2"' cpio "$d" "$2" ||
		die "cannot make the arm64 guest's initramfs"
}

cmd_run() {
	local name=rust-arm64 log=$OUT/logs/rust-arm64.log rd=$OUT/runs/rust-arm64 t0
	[[ -f $WORK/arm64/current/Image ]] || die "no arm64 kernel; run 'make rust ARCH=arm64'"
	mkdir -p "$rd" "$OUT/logs"
	initramfs "$rd" "$rd/initramfs.cpio"
	t0=$(date +%s)
	msg ARM64 "booting the arm64 guest (TCG, 2 CPUs; at most ${TO_ARM64}s) ..."
	with_lock in_chroot timeout "$TO_ARM64" qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 1024 \
		-nographic -no-reboot -kernel "$WORK/arm64/current/Image" -initrd "$rd/initramfs.cpio" \
		-append "console=ttyAMA0 panic=-1 rdinit=/init" </dev/null >"$log" 2>&1 || true
	msg ARM64 "the arm64 guest ran for $(elapsed "$t0") ($log)"
	checked "$name/console" "$T/lib/ktap.py" boot "$RESULTS" "$name/console" "$log" "$ARM64_DONE"
	checked "$name/doctests" "$T/lib/ktap.py" kunit "$RESULTS" "$name/doctests" "$log" rust_doctests_kernel kprobes
	checked "$name/sample" "$T/lib/ktap.py" sample "$RESULTS" "$name/sample" "$log" "$SAMPLE_FORKS"
	checked "$name/stress" "$T/lib/ktap.py" stress "$RESULTS" "$name/stress" "$log"
}

case ${1:-} in
kernel) cmd_kernel ;;
run) cmd_run ;;
*) die "usage: arm64.sh kernel|run" ;;
esac
