# SPDX-License-Identifier: GPL-2.0
# scx-loopguard: the sched_ext dispatch-loop guard for Linux 7.3 and 6.12, its
# tests, and the harness that builds, boots and checks it. 'make help' lists
# targets.

# Where the toolchain chroot, the kernel tree and the builds are kept (kept
# across runs, outside the repo), and where logs and results are written.
CACHE ?= $(if $(HOME),$(HOME)/.cache,/var/cache)/scx-loopguard
OUT ?= $(CURDIR)/out
V ?= 0
export CACHE V
# One clock for the whole make run, whichever stages it calls.
export LG_T0 := $(shell date +%s)
export LG_OUT := $(abspath $(OUT))
# O=DIR: the kernel build directories, DIR/7.3 and DIR/6.12, as O= means to
# Kbuild (default: in CACHE). KCONFIG=FILE: your config fragment, merged
# after tools/build/loopguard.config.
export LG_KBUILD := $(if $(O),$(abspath $(O)))
export LG_KCONFIG := $(if $(KCONFIG),$(abspath $(KCONFIG)))
# BASE=7.3|6.12: the kernel base ('make' runs 7.3, 'make test' both; with
# KDIR= and no BASE, the base of that tree). Optional: KDIR=/path/to/linux,
# ACCEL=auto|kvm|tcg, CPUS=N, TOOLCHAIN=chroot|host, MIRROR=URL (default:
# this machine's apt sources), SOAK=N (rounds of 'make soak').
export BASE ACCEL CPUS TOOLCHAIN MIRROR SOAK TESTS KERNEL MUTANT EDIT BOOTS CENSUS_SECS SCHEDULERS
TEST_BASES := $(or $(BASE),$(if $(KDIR),auto,7.3 6.12))

# KDIR is the base tree for the set-up, except for apply/unapply, where it
# is the user's tree to change.
P := KDIR=$(KDIR) tools/pipeline.sh
SETUP := toolchain tree series

.PHONY: all test check edit refresh mutants rust lockdep bench boots census soak unit vm kernels toolchain tree series userspace apply unapply help clean distclean

## all: build the patched kernel and the selftests, boot it, run them all
all:
	@$(P) reset $(SETUP) patched_kernel userspace patched report

## test: both bases: the harness's own checks (unit, pytest, shellcheck), the exported series (and the Rust one, and 7.3's kprobes fix), checkpatch (in the tree and --no-tree), every prefix built, all selftests, 1-CPU runs, the baseline negative control, the failure-path gate (a kernel whose watchdog never fires), the Rust doctests, sample and module; 7.3's make rustdoc (-Dwarnings), kprobes fix reproducer, mutants and census smoke runs; 6.12's soak, qmap and bench smoke runs
test:
	@tools/pipeline.sh reset unit toolchain pytest shellcheck
	@set -e; for b in $(TEST_BASES); do [ $$b != auto ] || b=; BASE=$$b RUST_CYCLES=$${RUST_CYCLES:-5} SOAK=$${SOAK:-3} $(P) $(SETUP) base_tests; done
	@set -e; for b in $(TEST_BASES); do [ $$b != auto ] || b=; BASE=$$b $(P) cover; done
	@tools/pipeline.sh report

## rust: the Rust side on both bases (or BASE=): kprobe doctests under KUnit, 7.3's kprobes sample and make rustdoc, the module in a patched guest and on the baseline; ARCH=arm64: 7.3's Rust series cross-built for arm64 (own build directory, CACHE/arm64/7.3) and booted in QEMU: the doctests, the sample and the kretprobe stress
rust:
ifeq ($(ARCH),arm64)
	@BASE=7.3 $(P) reset $(SETUP) arm64_kernel arm64 report
else
	@tools/pipeline.sh reset
	@set -e; for b in $(TEST_BASES); do [ $$b != auto ] || b=; BASE=$$b $(P) $(SETUP) kernels modules $$([ "$$b" = 6.12 ] || echo sample rustdoc) rustfmt userspace rust_series rust rust_baseline $$([ "$$b" = 6.12 ] || echo rust_stress); done
	@tools/pipeline.sh report
endif

## bench: cost and benefit of the guard, patched against baseline (6.12): the overhead in instructions (QEMU -icount, BENCH_PAIRS=6 boots each), recovery times, IRQs-off windows; not pass/fail
bench:
	@BASE=6.12 $(P) $(SETUP) kernels modules userspace bench

## boots: a guest's round trip as the tests boot it against the stock guest root with udev (BOOTS=N each, default 3); exit status and streams checked
boots:
	@$(P) $(SETUP) patched_kernel boots

## census: production schedulers (tools/census/schedulers.txt, built once with cargo in a root of their own) under three workloads on 1 and 2 vCPUs, on census kernels of both bases (or BASE=): the patched kernel with tools/census/census.config (CPU_FREQ, for scx_lavd), built in a directory of its own (CACHE/census/BASE, about 13 min cold): break-outs and rounds per invocation in OUT/BASE/census/ (CENSUS_SECS per workload)
census:
	@tools/pipeline.sh reset
	@set -e; for b in $(TEST_BASES); do [ $$b != auto ] || b=; BASE=$$b $(P) $(SETUP) userspace census_build census_kernel census; done
	@tools/pipeline.sh report

## lockdep: the series' tests once on the patched kernel built with lockdep (tools/build/lockdep.config), in a build directory of its own (CACHE/lockdep/BASE; about 15 min cold); BASE=7.3 by default
lockdep:
	@$(P) reset $(SETUP) patched_kernel userspace lockdep_kernel lockdep report

## soak: the new tests SOAK=N times in a row (default 10) on the patched kernel
soak:
	@$(P) reset $(SETUP) patched_kernel userspace soak report

## mutants: kernels with subtly wrong loop guards (mutants/BASE/), each of which the witness (with the Rust module loaded) must fail, and what the series' own tests do on each (a report; MUTANT_UPSTREAM=0 skips it); both bases unless BASE=, MUTANT="NAME..." picks, MUTANT_RUNS=N repeats each guest
mutants:
	@tools/pipeline.sh reset
	@set -e; for b in $(TEST_BASES); do [ $$b != auto ] || b=; BASE=$$b MUTANT_UPSTREAM=$${MUTANT_UPSTREAM:-1} $(P) $(SETUP) kernels modules userspace mutants; done
	@tools/pipeline.sh report

## check: rebuild what changed, then run TESTS="NAME..." in one guest on KERNEL=patched|baseline|/path/to/bzImage (BASE=7.3 by default); EDIT=1: on what your work tree (make edit) holds, edits not committed included
check:
ifeq ($(EDIT),1)
	@KERNEL=edit USER_REF=lg/edit-build $(P) check_args reset $(SETUP) edit_build userspace check report
else
	@$(P) check_args reset $(SETUP) $(if $(filter baseline,$(KERNEL)),kernels,$(if $(filter-out patched,$(KERNEL)),,patched_kernel)) userspace check report
endif

## edit: your work tree of the series of BASE (CACHE/work/BASE/edit, branch lg/edit), made once from the series and never reset by the harness
edit:
	@$(P) $(SETUP) edit_start

## refresh: write the commits of your work tree (lg/edit, one per series entry) back into kernel/BASE/, then apply the series again, export and checkpatch it
refresh:
	@$(P) reset $(SETUP) edit_refresh series edit_verify export checkpatch report

## unit: the harness's own checks, no VM (seconds): the shell checks, then the verdicts' tests under pytest in the toolchain chroot (made first if missing) and each verdict broken in turn (tools/tests/break_verdicts.py), and shellcheck on the scripts
unit:
	@$(P) reset unit toolchain pytest shellcheck report

## vm: an interactive shell in the patched kernel
vm:
	@$(P) $(SETUP) patched_kernel userspace
	@tools/guest/vm.sh shell patched -c $(or $(CPUS),2)

## kernels: build the patched and the baseline kernel
kernels:
	@$(P) $(SETUP) kernels

## series: write the series of BASE (default 7.3), signed off by you (git config user.name/email), with a cover letter, to $(OUT)/BASE/series
series:
	@LG_ALLOW_NEWER=1 $(P) $(SETUP) export_only

## apply: apply the series to your 7.3.y or 6.12.y git tree, KDIR=/path (patches already there are skipped)
apply:
	@LG_ALLOW_NEWER=1 tools/review/apply.sh check "$(KDIR)"
	@BASE=$$(LG_ALLOW_NEWER=1 tools/review/apply.sh base "$(KDIR)") KDIR= tools/pipeline.sh $(SETUP)
	@LG_ALLOW_NEWER=1 tools/review/apply.sh apply "$(KDIR)"

## unapply: take the series back out of KDIR=/path
unapply:
	@tools/review/apply.sh unapply "$(KDIR)"

## toolchain: one set-up step; also tree, userspace
toolchain tree userspace:
	@$(P) $@

## clean: remove the logs and results (OUT=, default ./out)
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
	@echo 'Variables: V=1 (show commands and build output), OUT=DIR (results and logs, default ./out),'
	@echo '  O=DIR (kernel build directories DIR/BASE, default in CACHE), KCONFIG=FILE (your config fragment),'
	@echo '  CACHE=DIR (default ~/.cache/scx-loopguard), BASE=7.3|6.12, KDIR=/path/to/linux,'
	@echo '  ACCEL=auto|kvm|tcg, CPUS=N (guest CPUs, default 2), TOOLCHAIN=chroot|host'
	@echo '  SOAK=N, KMEMLEAK=1, RUST_CYCLES=N, MIRROR=URL, TESTS="NAME...",'
	@echo '  KERNEL=patched|baseline|/path/to/bzImage (make check),'
	@echo '  MUTANT="NAME...", MUTANT_RUNS=N and MUTANT_UPSTREAM=0|1 (make mutants), EDIT=1 (make check on your work tree),'
	@echo '  ARCH=arm64 and TO_ARM64=SECS (make rust: 7.3 on arm64 in QEMU, the guest'"'"'s bound, default 900),'
	@echo '  BOOTS=N (make boots), CENSUS_SECS=N and SCHEDULERS="NAME..." (make census),'
	@echo '  BENCH_PAIRS=N, BENCH_ITER=N, BENCH_CPUS=N, BENCH_ICOUNT=SHIFT (empty: wall-clock), BENCH_AGAINST=baseline|patched (make bench)'
	@echo '  BENCH_REPS=N and BENCH_TIMEOUTS="MS..." (make bench: the recovery runs),'
	@echo '  RUST_KMEMLEAK=0 (no kmemleak in the module'"'"'s guest), JOBS=N (build jobs, default the CPUs),'
	@echo '  TO_SUITE=SECS, TO_STALL=SECS, TO_MUTANT=SECS, TO_BENCH=SECS, TO_RECOVERY=SECS (a guest'"'"'s bound: 900, 240,'
	@echo '  300, 600, 1200; all in tools/lib/lib.sh'"'"'s lg_env), BOOT_SECS=SECS (to reach'
	@echo '  the test, 120), KVM_PROBE_SECS=SECS (ACCEL=auto'"'"'s KVM boot, 20), TCG_THREAD=multi|single,'
	@echo '  LG_LOCK_WAIT=SECS (the wait for another build or VM, 7200)'
