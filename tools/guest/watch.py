#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Run one guest and watch it from the host: the guest watcher of vm.sh.

  watch.py [options] -- CMD...

CMD (virtme-ng, in the toolchain chroot) boots the guest. Its output, the
console and the guest command's output together, goes into --log as it
comes. The watcher ends the guest when it runs over --secs, when it is
silent for --idle seconds after a line matching --start, or, before that
line, when the kernel reports an RCU stall or --boot-secs run out (a boot
that stalled, seen under TCG): such a guest never ran its test and is
booted once more. How the run ended is the outcome (ktap.guest_outcome,
the one place that decides it), written to --outcome as one line of
key=value; the exit status is 0 if the outcome is "passed", else 1.
"""
import argparse
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ktap  # noqa: E402

# Before the start line: the kernel reports a stalled CPU while booting.
BOOT_STALL = re.compile(ktap.BOOT_STALL.encode())
# After the guest is gone, its output is read for at most this long: with
# TOOLCHAIN=host a stray QEMU could keep the pipe open.
DRAIN_SECS = 5.0


def msg(tag, text):
    print(f"  {tag:<7} {text}", file=sys.stderr, flush=True)


def kill_group(p):
    """Kill CMD and everything it started (its own session; in the chroot's
    PID namespace, killing its root takes QEMU down too)."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def run_once(cmd, log, secs, start, idle, boot_secs, boot_mark):
    """Boot once: (end, rc, boot_host, started). END is "exited" (RC its
    status), "hang", "frozen", "no-start" or "boot-stall"; BOOT_HOST the
    seconds from the start to BOOT_MARK, or None; STARTED whether the
    START line came."""
    t0 = time.monotonic()
    start_re = re.compile(start.encode()) if start else None
    started = False
    boot_host = None
    end = None
    last = t0
    partial = b""
    with open(log, "wb") as out:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
        fd = p.stdout.fileno()
        exited_at = None
        while True:
            now = time.monotonic()
            if exited_at is None and p.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at >= DRAIN_SECS:
                break
            ready, _, _ = select.select([fd], [], [], 0.2)
            now = time.monotonic()
            if ready:
                data = os.read(fd, 65536)
                if not data:
                    break
                out.write(data)
                out.flush()
                last = now
                lines = (partial + data).split(b"\n")
                partial = lines.pop()
                for line in lines:
                    if boot_host is None and line.startswith(boot_mark):
                        boot_host = now - t0
                    if start_re and not started:
                        if start_re.search(line):
                            started = True
                        elif BOOT_STALL.search(line):
                            end = "boot-stall"
            if end is None and exited_at is None:
                el = now - t0
                if start_re and not started and secs > boot_secs and el >= boot_secs:
                    end = "boot-stall"
                elif started and idle > 0 and now - last >= idle:
                    end = "frozen"
                elif el >= secs:
                    end = "no-start" if start_re and not started else "hang"
            if end is not None:
                kill_group(p)
                p.stdout.close()
                return end, None, boot_host, started
        p.stdout.close()
        rc = p.wait()
    return "exited", rc, boot_host, started


def fresh(rundir):
    if rundir:
        shutil.rmtree(rundir, ignore_errors=True)
        os.makedirs(rundir)


def main(argv):
    ap = argparse.ArgumentParser(prog="watch.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", required=True, help="the run's name, for messages")
    ap.add_argument("--log", required=True)
    ap.add_argument("--outcome", required=True)
    ap.add_argument("--rundir", help="the guest's writable folder, emptied before each boot")
    ap.add_argument("--secs", type=float, required=True, help="the guest's bound")
    ap.add_argument("--start", default="", help="the line (a regex) that starts the test")
    ap.add_argument("--idle", type=float, default=0, help="seconds of silence after --start: frozen")
    ap.add_argument("--boot-secs", type=float, required=True, help="seconds to reach --start")
    ap.add_argument("--boot-mark", required=True, help="the line the guest prints with its uptime")
    ap.add_argument("--facts", default="", help="key=value words added to the outcome line")
    ap.add_argument("cmd", nargs="+")
    a = ap.parse_args(argv)
    mark = a.boot_mark.encode()
    t0 = time.monotonic()
    fresh(a.rundir)
    end, rc, boot_host, started = run_once(a.cmd, a.log, a.secs, a.start, a.idle, a.boot_secs, mark)
    text = ktap.read(a.log)
    if end == "exited" and ktap.qemu_crashed(text) and a.boot_mark not in text:
        # QEMU itself died while the kernel booted (seen once under
        # multi-threaded TCG): not the kernel's doing, and no test ran.
        end = "boot-stall"
    if end == "boot-stall":
        os.replace(a.log, a.log + ".boot-failed")
        msg("RETRY", f"{a.name}: the guest stalled or QEMU crashed while booting, before the test (TCG); "
                     f"booting again (first log: {a.log}.boot-failed)")
        fresh(a.rundir)
        end, rc, boot_host, started = run_once(a.cmd, a.log, a.secs, a.start, a.idle, a.boot_secs, mark)
        text = ktap.read(a.log)
        if end == "boot-stall":
            end = "no-start"
    outcome, why = ktap.guest_outcome(end, rc, text)
    secs = time.monotonic() - t0
    if why:
        with open(a.log, "a") as f:
            f.write(f"scx-loopguard: {why}\n")
    m = re.search(re.escape(a.boot_mark) + r"([0-9.]+)", text)
    boot_guest = m.group(1) if m else "-"
    with open(a.outcome, "w") as f:
        f.write(f"outcome={outcome} exit={'-' if rc is None else rc} boot_guest={boot_guest} "
                f"boot_host={'-' if boot_host is None else f'{boot_host:.1f}'} secs={secs:.0f}"
                f" started={int(started) if a.start else '-'}" + (f" {a.facts}" if a.facts else "") + "\n")
    tag = {"passed": "VM", "failed": "VM", "frozen": "HANG", "hang": "HANG", "no-start": "TIMEOUT",
           "panic": "PANIC", "splat": "SPLAT"}.get(outcome, "ERROR")
    if outcome in ("passed", "failed"):
        msg(tag, f"{a.name}: {outcome} (exit {rc}) after {secs:.0f}s; the command started at {boot_guest} s of "
                 f"guest uptime, {'?' if boot_host is None else f'{boot_host:.1f}'} s after QEMU")
    else:
        msg(tag, f"{a.name}: {ktap.OUTCOME_TEXT.get(outcome, outcome)} after {secs:.0f}s (log: {a.log})")
        if outcome == "splat":
            for line in ktap.splat_lines(text)[:20]:
                print("    " + line.strip(), file=sys.stderr)
        if outcome == "never-booted":
            print("\n".join(text.splitlines()[-5:]), file=sys.stderr)
    return 0 if outcome == "passed" else 1


if __name__ == "__main__":
    sys.exit(ktap.run_main(main, sys.argv[1:]))
