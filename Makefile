# SPDX-License-Identifier: GPL-2.0
# scx-loopguard: the sched_ext dispatch-loop guard for Linux 6.12, its tests,
# and the harness that builds, boots and checks it. 'make help' lists targets.

# Where the toolchain chroot, the kernel tree and the builds are kept (kept
# across runs, outside the repo), and where logs and results are written.
CACHE ?= $(if $(HOME),$(HOME)/.cache,/var/cache)/scx-loopguard
O ?= $(CURDIR)/out
V ?= 0
export CACHE V
export OUT := $(abspath $(O))
# Optional: KDIR=/path/to/linux-6.12.y, ACCEL=auto|kvm|tcg, CPUS=N,
# TOOLCHAIN=chroot|host, MIRROR=URL (default: this machine's apt sources),
# SOAK=N (rounds of 'make soak').
export KDIR ACCEL CPUS TOOLCHAIN MIRROR SOAK

P := tools/pipeline.sh
SETUP := toolchain tree series

.PHONY: all test soak unit vm kernels toolchain tree series userspace help clean distclean

## all: build the patched kernel and the selftests, boot it, run them all
all:
	@$(P) reset $(SETUP) patched_kernel userspace patched report

## test: 'all', plus unit checks, checkpatch, 1-CPU and soak runs, the qmap reproducer and the baseline negative control
test:
	@$(P) reset unit $(SETUP) checkpatch kernels userspace patched patched_1cpu soak \
		qmap baseline report

## soak: the new tests SOAK=N times in a row (default 10) on the patched kernel
soak:
	@$(P) reset $(SETUP) patched_kernel userspace soak report

## unit: the harness's own checks, no VM (seconds)
unit:
	@$(P) reset unit report

## vm: an interactive shell in the patched kernel
vm:
	@$(P) $(SETUP) patched_kernel userspace
	@tools/vm.sh shell patched -c $(or $(CPUS),2)

## kernels: build the patched and the baseline kernel
kernels:
	@$(P) $(SETUP) kernels

## toolchain: one set-up step; also tree, series, userspace
toolchain tree series userspace:
	@$(P) $@

## clean: remove the logs and results (O=, default ./out)
clean:
	rm -rf $(OUT)

## distclean: also remove the caches: chroot, kernel tree, builds (CACHE=)
distclean: clean
	rm -rf $(CACHE)

## help: this text
help:
	@echo 'scx-loopguard targets:'
	@sed -n 's/^## \([^:]*\): /  \1\t/p' $(MAKEFILE_LIST) | expand -t 20
	@echo
	@echo 'Variables: V=1 (show commands and build output), O=DIR (results, default ./out),'
	@echo '  CACHE=DIR (default ~/.cache/scx-loopguard), KDIR=/path/to/linux-6.12.y,'
	@echo '  ACCEL=auto|kvm|tcg, CPUS=N (guest CPUs, default 2), TOOLCHAIN=chroot|host'
