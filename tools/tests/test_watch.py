# SPDX-License-Identifier: GPL-2.0
"""Tests of the guest watcher (tools/guest/watch.py, through vm.sh run),
run by pytest, with tools/tests/fake-vng standing in for virtme-ng and
QEMU: every outcome a guest run can have, each from the behaviour that must
give it, the log that keeps every line, the boot time, and vm.sh's status.
"""
import os
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
VM = os.path.join(TOP, "tools", "guest", "vm.sh")


@pytest.fixture
def guest(tmp_path):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "vng").symlink_to(os.path.join(HERE, "fake-vng"))
    kernel = tmp_path / "bzImage"
    kernel.write_text("")
    out = tmp_path / "out"

    def run(mode, *opts, name=None, cmd=None, kernel_path=None, **env):
        name = name or f"g-{mode}"
        if cmd is None:
            cmd = ["sh", "-c", f"echo hello; exit {0 if mode == 'pass' else 5}"]
        e = dict(os.environ, FAKE_VNG=mode, PATH=f"{bin_}:{os.environ['PATH']}", TOOLCHAIN="host",
                 CHROOT=str(tmp_path / "no-chroot"), LG_OUT=str(out), ACCEL="tcg", BASE="7.3",
                 LG_LOCK=str(tmp_path / "lock"), CACHE=str(tmp_path / "cache"), **env)
        for k in ("LG_TOP", "OUT", "WORK", "LINUX", "KB", "RESULTS", "LG_IN_CHROOT", "LG_LOCKED"):
            e.pop(k, None)
        r = subprocess.run([VM, "run", name, str(kernel_path or kernel), *opts, "--", *cmd], env=e,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        logs = out / "7.3" / "logs"
        oc = logs / f"{name}.outcome"
        kv = dict(w.split("=", 1) for w in oc.read_text().split()) if oc.exists() else {}
        return r.returncode, kv, logs / f"{name}.log"

    run.tmp = tmp_path
    return run


@pytest.mark.parametrize("mode,want", [("pass", "passed"), ("fail", "failed"), ("panic", "panic"),
                                       ("splat", "splat"), ("noboot", "never-booted")])
def test_outcome(guest, mode, want):
    rc, kv, _ = guest(mode, "-t", "20")
    assert kv["outcome"] == want
    # vm.sh: 0 only for a command that passed on a clean console.
    assert rc == (0 if want == "passed" else 1)


def test_hang(guest):
    assert guest("hang", "-t", "1.5")[1]["outcome"] == "hang"


def test_frozen_after_start(guest):
    kv = guest("freeze", "-t", "20", "-s", "FAKE-TEST-START", "-i", "1")[1]
    assert kv["outcome"] == "frozen" and kv["started"] == "1"


def test_never_started(guest):
    kv = guest("hang", "-t", "1.5", "-s", "FAKE-TEST-START", "-i", "1")[1]
    assert kv["outcome"] == "no-start" and kv["started"] == "0"


def test_qemu_crash(guest):
    # QEMU dying is not a kernel panic; while booting, it is booted again.
    assert guest("qemu-crash", "-t", "20")[1]["outcome"] == "harness-error"
    state = guest.tmp / "crashed-once"
    rc, kv, log = guest("qemu-crash-once", "-t", "20", FAKE_VNG_STATE=str(state))
    # (the command exits 5 in any mode but pass: it ran)
    assert kv["outcome"] == "failed" and os.path.exists(f"{log}.boot-failed")


def test_log_and_boot_time(guest):
    # The command's output and the console are both kept, in the one log;
    # the guest's uptime at the command's start is measured.
    rc, kv, log = guest("fail", "-t", "20")
    text = log.read_text()
    assert "\nhello\n" in text and "Linux version" in text
    assert kv["exit"] == "5" and float(kv["boot_guest"]) >= 0 and float(kv["boot_host"]) >= 0
    assert kv["accel"] == "tcg" and kv["cpus"] == "2"


def test_missing_kernel(guest):
    # A run that stops early leaves no outcome of an earlier one behind.
    assert guest("pass", "-t", "20", name="g-ok")[0] == 0
    rc, kv, _ = guest("pass", "-t", "20", name="g-ok", kernel_path=guest.tmp / "no-such-bzImage")
    assert rc == 2 and kv == {}
