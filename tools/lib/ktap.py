#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Log parsing for the scx-loopguard harness: the one reader of what the
guests and the checkers leave, and the one writer of results.

ktap.py --help lists the commands; ktap.py COMMAND --help tells one.
Every command that writes a result takes the results file first and the
result's name second. Any command exits 70 if it crashes, never 0 or 1.
"""
import argparse
import glob
import os
import re
import sys

# What BPF CI and the kernel's own detectors print when something went wrong.
SPLATS = [
    r"\bBUG: ",
    r"\bWARNING: (CPU: \d+ PID: \d+|at )",
    # lockdep's and RCU-lockdep's reports
    r"\bWARNING: (possible (circular|recursive|irq)|inconsistent lock|suspicious RCU|bad unlock|held lock|lock held)",
    r"\bOops\b",
    r"\bkernel BUG at\b",
    r"general protection fault",
    r"Unable to handle kernel",
    r"\bsoft lockup\b",
    r"\bhard LOCKUP\b",
    r"rcu: .*detected stalls?",
    r"blocked for more than \d+ seconds",
    r"Kernel panic - not syncing",
    r"\bUBSAN: ",
    r"unreferenced object 0x",
]
SPLAT_RE = re.compile("|".join(SPLATS))

RESULT_RE = re.compile(r"^(ok|not ok) \d+ (\S+)(?: # ?(SKIP)?.*)?$")


def splat_lines(text):
    return [l for l in text.splitlines() if SPLAT_RE.search(l)]


def parse_runner(text):
    """[(status, name)] from the sched_ext runner's output, in order.

    A test that started but printed no result line (the runner died or the
    guest hung in it) is reported as failed."""
    results = []
    current = None
    for line in text.splitlines():
        line = line.rstrip("\r")
        if line.startswith("TEST: "):
            current = line[6:].strip()
            continue
        m = RESULT_RE.match(line)
        if m:
            status = "skip" if m.group(3) else m.group(1)
            results.append((status, m.group(2)))
            current = None
    if current is not None:
        results.append(("not ok", current + " (no result: runner died or hung)"))
    return results


# Every figure the harness reads is a "key=value" word. The new tests print
# one "LOOPGUARD key=value..." line per test; the module's figures file is
# blocks of "scenario NAME", lines of "WHAT key=value..." (or "WHAT a:b..."
# for histograms), "end". Nothing else parses them.
def keyvals(words):
    """{key: value} of the key=value words of WORDS."""
    return dict(w.split("=", 1) for w in words if "=" in w)


FIGURES_TAG = "LOOPGUARD"


def figures(text, tag=FIGURES_TAG):
    """The TAG key=value lines in TEXT, as dicts."""
    return [keyvals(l.split()[1:]) for l in text.splitlines() if l.startswith(tag + " ")]


HISTOGRAMS = ("rounds_hist", "breakout_rounds_hist", "lat_hist_log2_ns", "window_hist_log2_ns")


def module_blocks(text):
    """{scenario: {"cpus": {n: {...}}, WHAT: {...}, HIST: {slot: count}, "rc": N}}
    from the module's figures file as tools/guest/guest.sh saves it."""
    blocks, cur, rcs = {}, None, {}
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "scenario" and len(words) == 2:
            cur = blocks.setdefault(words[1], {"cpus": {}})
        elif words[0] == "scenario-rc" and len(words) == 3:
            rcs[words[1]] = int(words[2])
        elif words[0] == "end":
            cur = None
        elif cur is not None:
            if words[0] == "cpu":
                cur["cpus"][int(words[1])] = keyvals(words[1:])
            elif words[0] in HISTOGRAMS:
                cur[words[0]] = {int(a): int(b) for a, b in (w.split(":") for w in words[1:])}
            else:
                cur[words[0]] = keyvals(words[1:])
    for name, rc in rcs.items():
        blocks.setdefault(name, {"cpus": {}})["rc"] = rc
    return blocks


def num(d, key):
    """D[KEY] as an int, -1 where it is missing or no number."""
    try:
        return int(d.get(key, "-1"))
    except ValueError:
        return -1


def module_looping_errors(b, max_loops):
    """What is wrong in the module's own account of a looping run (its
    figures block B), from its own points: the invocations at the bound are
    counted from the rounds, whatever kicked; the kicks must be exactly
    there; each must have queued its irq_work; and the next invocation must
    be tied to the kick by the need-resched flag the irq_work left. (at_bound
    and the histogram's count at the bound are the same by construction,
    and so is the maximum once nothing is above the bound and something is
    at it: neither is checked.)"""
    t = b.get("total", {})
    at, bo = num(t, "at_bound"), num(t, "breakouts")
    hist, bo_hist = b.get("rounds_hist", {}), b.get("breakout_rounds_hist", {})
    errs = []
    if num(b.get("probes", {}), "max_loops") != max_loops:
        errs.append(f"the module was not told the bound (max_loops={b.get('probes', {}).get('max_loops')})")
    if at <= 0:
        errs.append("no invocation at the bound")
    if any(n > max_loops for n in hist):
        errs.append(f"invocations above {max_loops} rounds")
    if bo != at or set(bo_hist) - {max_loops}:
        errs.append(f"self-kicks in {bo} invocations, by rounds {bo_hist}; {at} at the bound")
    if num(t, "kicks_other_cpu") != 0 or num(t, "kicks_flagged") != 0:
        errs.append("kicks in balance to another CPU or with flags")
    if num(t, "bound_deferred") != at:
        errs.append(f"{num(t, 'bound_deferred')} of {at} at-bound invocations queued an irq_work")
    if num(t, "untied") != 0:
        errs.append(f"{num(t, 'untied')} next invocations came before the kick's irq_work asked for them")
    if num(t, "tied") <= 0:
        errs.append("no next invocation tied to its kick")
    return errs


def module_legit_errors(b, max_loops):
    """What is wrong in the module's figures block B of a legitimate
    scheduler's run: it must have seen balance run, and no break-out."""
    t = b.get("total", {})
    errs = []
    if num(t, "invocations") <= 0:
        errs.append("no balance invocation seen")
    if num(t, "breakouts") != 0:
        errs.append(f"{num(t, 'breakouts')} break-outs")
    if num(t, "rounds_max") >= max_loops:
        errs.append(f"rounds_max {num(t, 'rounds_max')}")
    if b.get("rc", 0) not in (0, 130, 124):
        errs.append(f"scheduler exited with {b['rc']}")
    return errs


def module_scenario_verdict(b, max_loops, looping):
    """(status, comment) for one scenario's figures block B (None: none)."""
    if not b or "total" not in b:
        return "not ok", "no figures (module not loaded, or guest stopped)"
    errs = (module_looping_errors if looping else module_legit_errors)(b, max_loops)
    if errs:
        return "not ok", "; ".join(errs)
    t = b["total"]
    return "ok", (f"at_bound={t.get('at_bound')} breakouts={t.get('breakouts')} "
                  f"rounds_max={t.get('rounds_max')} tied={t.get('tied')} untied={t.get('untied')}")


def module_cycles_verdict(res, cycles):
    """(status, comment) for the load/unload cycles, from guest.sh rust's
    result.txt as a dict RES: all CYCLES, no probe and no debugfs folder
    left, no leak kmemleak found."""
    errs = []
    if res.get("cycles") != f"{cycles}/{cycles}":
        errs.append(f"cycles {res.get('cycles', '?')}")
    if res.get("stale_probes") != "0":
        errs.append(f"stale probes {res.get('stale_probes', '?')}")
    if res.get("debugfs_left") != "0":
        errs.append("debugfs directory left behind")
    if res.get("kmemleak", "off") not in ("off", "0"):
        errs.append(f"kmemleak: {res['kmemleak']} unreferenced objects")
    if errs:
        return "not ok", "; ".join(errs)
    return "ok", f"{cycles} cycles while scx_simple ran, no stale probe, kmemleak {res.get('kmemleak', 'off')}"


def module_open_verdict(res):
    """(status, comment): with its figures file open, the module refused to
    go, and went once the file was closed."""
    held = res.get("open_across_unload", "?")
    if held == "refused-then-unloaded":
        return "ok", "rmmod refused while the figures file was open, and unloaded once it was closed"
    return "not ok", f"figures file held open across rmmod: {held} (the module must not go while open)"


def module_trace_stop_verdict(res):
    """(status, comment) for the module's trace stop, armed for
    dsp_loop_all_cpus: the top-level buffer stopped with the module's line
    last, and context switches before it."""
    stop, switches = res.get("trace_stop", "?"), num(res, "trace_switches")
    if stop == "marker-last" and switches > 0:
        return "ok", f"the first break-out stopped the trace, its line last after {switches} context switches"
    return "not ok", f"trace stop: {stop}, {switches} context switches (see trace-breakout.txt)"


def module_summary(name, b):
    """One LOOPGUARD-MOD line of a scenario's figures."""
    t, w = b.get("total", {}), b.get("window", {})
    us = lambda d, k: f"{num(d, k) / 1000:.1f}"  # noqa: E731
    return (f"LOOPGUARD-MOD scenario={name} invocations={t.get('invocations')} "
            f"rounds_max={t.get('rounds_max')} at_bound={t.get('at_bound')} breakouts={t.get('breakouts')} "
            f"self_kicks={t.get('self_kicks')} resched={t.get('tied')} untied={t.get('untied')} "
            f"lat_p50_us={us(t, 'lat_p50_ns')} lat_p99_us={us(t, 'lat_p99_ns')} lat_max_us={us(t, 'lat_max_ns')} "
            f"win_p50_us={us(w, 'p50_ns')} win_p99_us={us(w, 'p99_ns')} win_max_us={us(w, 'max_ns')}")


def module_mutant_report(state, blocks, max_loops, tests):
    """(loaded, text) for make mutants: whether the module loaded in the
    mutant's guest (STATE, guest.sh's module.txt), and what its own figures
    (BLOCKS) say of each looping TEST: a report beside the BPF witness's
    verdict, which cross-checks them too."""
    if state != "module loaded":
        return False, f"the module did not load ({state or 'no record'})"
    flagged, clean, missing = [], [], []
    for t in tests:
        b = blocks.get(t)
        if not b or "total" not in b:
            missing.append(t)
            continue
        errs = module_looping_errors(b, max_loops)
        if errs:
            flagged.append(f"{t} ({errs[0]})")
        else:
            clean.append(t)
    parts = []
    if flagged:
        parts.append("flags " + ", ".join(flagged))
    if clean:
        parts.append("sees nothing wrong in " + " ".join(clean))
    if missing:
        parts.append("no figures for " + " ".join(missing))
    return True, "; ".join(parts)


def cmd_module(a):
    """The module's guest run (guest.sh rust) in RUNDIR: one result per
    scenario, the cycles, the file held open and the trace stop; the
    figures as LOOPGUARD-MOD lines in RUNDIR/summary.txt and on stderr."""
    blocks = module_blocks(read_if_any(os.path.join(a.rundir, "figures.txt")))
    res = dict(w for w in (l.split() for l in read_if_any(os.path.join(a.rundir, "result.txt")).splitlines())
               if len(w) == 2)
    rows, lines = [], []
    for name in a.looping + a.legit:
        st, c = module_scenario_verdict(blocks.get(name), a.max_loops, name in a.looping)
        rows.append((st, f"module-{name}", c))
        if blocks.get(name, {}).get("total"):
            lines.append(module_summary(name, blocks[name]))
    for suffix, verdict in (("module-load-unload", module_cycles_verdict(res, a.cycles)),
                            ("module-open-across-unload", module_open_verdict(res)),
                            ("module-trace-stop", module_trace_stop_verdict(res))):
        rows.append((verdict[0], suffix, verdict[1]))
    with open(os.path.join(a.rundir, "summary.txt"), "w", encoding="utf-8") as f:
        f.write("".join(l + "\n" for l in lines))
    for l in lines:
        print("    " + l, file=sys.stderr)
    return results_of(a.results, a.name, rows)


def figures_table(text):
    """The witness's figures of a run, one line per test and guest."""
    cols = ("cpus", "breakouts", "kicks", "resched", "max_rounds")
    for kv in figures(text):
        print(f"    {kv.get('test', '?'):<20} " + " ".join(f"{c}={kv.get(c, '-'):<6}" for c in cols)
              + f" eject={kv.get('eject_ms', '-')}ms lat p50/p99/max="
              + "/".join(kv.get(k, "-") for k in ("lat_p50_us", "lat_p99_us", "lat_max_us")) + "us",
              file=sys.stderr)


def soak(text, rounds, results):
    """N rounds of the same tests: each test must pass in every round."""
    parsed = parse_runner(text)
    names = sorted({n for _, n in parsed})
    rc = 0
    for name in names:
        got = [s for s, n in parsed if n == name]
        passed = sum(1 for s in got if s == "ok")
        ok = passed == rounds and len(got) == rounds
        rc |= not ok
        why = "" if ok else first_error(text, name)
        add(results, "ok" if ok else "not ok", f"soak/{name}",
            f"{passed}/{rounds} passed" + (f"; first failure: {why}" if why else ""))
    if not names:
        add(results, "not ok", "soak", "no test ran")
        return 1
    rows = figures(text)
    for name in names:
        mine = [r for r in rows if r.get("test") == name]
        for key in ("breakouts", "resched", "eject_ms", "lat_p50_us", "lat_p99_us", "lat_max_us"):
            vals = sorted(int(r[key]) for r in mine if r.get(key, "").isdigit())
            if vals:
                med = vals[len(vals) // 2]
                print(f"    {name:<20} {key:<11} min {vals[0]:>8}  median {med:>8}  max {vals[-1]:>8}  (n={len(vals)})",
                      file=sys.stderr)
    return rc


# What tools/guest/vm.sh says happened to a guest run, in LOG.outcome.
OUTCOMES = ("passed", "failed", "splat", "panic", "frozen", "hang", "no-start",
            "never-booted", "harness-error")


def outcome_of(path):
    """The key=value line vm.sh wrote for a run, as a dict. A missing file
    is a harness error (vm.sh never got to the end); an unknown outcome is a
    bug, and crashes the checker, which is a failure."""
    try:
        text = read(path).strip()
    except FileNotFoundError:
        return {"outcome": "harness-error", "why": f"no {path}"}
    kv = dict(w.split("=", 1) for w in text.split() if "=" in w)
    if kv.get("outcome") not in OUTCOMES:
        raise ValueError(f"{path}: unknown outcome {kv.get('outcome')!r}")
    return kv


# What each outcome but passed and failed means, in a result's words.
OUTCOME_TEXT = {
    "splat": "kernel splat",
    "panic": "guest panicked",
    "frozen": "guest froze",
    "hang": "guest hung",
    "no-start": "the test never started",
    "never-booted": "the guest never booted",
    "harness-error": "harness error",
}
# A CPU that stalled while the kernel booted (seen under TCG: a vCPU's timer
# never fires), which the guest watcher retries once; after the test has
# started, the same lines are a splat.
BOOT_STALL = r"rcu: INFO: rcu_(preempt|sched) detected stalls|rcu: .* kthread timer wakeup didn.t happen"
# QEMU's own abort (an assertion or a fatal error), not the guest's doing.
QEMU_CRASH_RE = re.compile(r"^qemu-system-[^:]*: .*(Assertion .* failed|[Ff]atal)", re.M)
# Any timestamped kernel line: the first ones, before the serial console is
# up, never reach the log.
KERNEL_LINE_RE = re.compile(r"^\[ *[0-9]+\.[0-9]+\] ", re.M)


def qemu_crashed(text):
    return bool(QEMU_CRASH_RE.search(text))


def guest_outcome(end, rc, text):
    """(outcome, note) of a guest run: how the watcher ended it (END: "exited"
    with status RC, "hang", "frozen" or "no-start") and its log TEXT; NOTE
    is a line for the log when the host ended the guest, else ''."""
    if end == "no-start":
        return "no-start", "TIMEOUT: the test did not start within the timeout"
    if end == "frozen":
        return "frozen", "HANG: silent after the test started, guest killed by the host"
    if end == "hang":
        return "hang", "HANG: no exit within the timeout, guest killed by the host"
    if end != "exited":
        raise ValueError(f"unknown end of a guest run: {end!r}")
    if qemu_crashed(text):
        return "harness-error", ""
    if rc == 255:  # QEMU's exit on the guest's panic (panic=-1)
        return "panic", ""
    if not KERNEL_LINE_RE.search(text):
        return "never-booted", ""
    if splat_lines(text):
        return "splat", ""
    return ("passed" if rc == 0 else "failed"), ""


def console_verdict(outcome, log):
    """(status, comment) for the console of a guest run."""
    what = outcome["outcome"]
    if what in ("passed", "failed"):
        return "ok", "no splat, no hang"
    return "not ok", OUTCOME_TEXT.get(what, "harness error") + f", see {log}"


def stall_verdict(outcome, text, what, timeout):
    """(status, comment) for a run on a kernel without the fix: it must
    freeze the guest or fail once WHAT has started (the watcher saw its
    start line: "started=1" in OUTCOME); a pass proves nothing, and so
    does a run that never got there, or a test that failed before (its
    scheduler did not load, say)."""
    how = outcome["outcome"]
    if how in ("frozen", "hang"):
        return "ok", f"stall reproduced: guest froze once {what} started"
    if how in ("splat", "panic"):
        return "ok", f"stall reproduced: lockup or panic once {what} started"
    if how == "no-start":
        return "not ok", f"{what} never started within {timeout}s"
    if how in ("passed", "failed"):
        first = next((s for s, _ in parse_runner(text) if s in ("ok", "not ok", "skip")), None)
        if first == "ok":
            return "not ok", "passed without the fix: the test proves nothing"
        if first == "not ok" and outcome.get("started") != "1":
            return "not ok", f"{what} failed before its scheduler was enabled: the test proves nothing"
        if first == "not ok":
            return "ok", "the test failed without the fix, after its scheduler was enabled (no freeze)"
        if first == "skip":
            return "not ok", "skipped without the fix: the test proves nothing"
        return "not ok", f"{what} finished without freezing ({how})"
    return "not ok", f"{how}: {outcome.get('why', 'see the log')}"


MODULE_WATCHING = "scx_loopguard_watch: watching "


def module_stall_verdict(outcome, log, text, what, timeout):
    """(status, comment) for the module on the baseline: it must load (its
    "watching" line in the console LOG), then the test freezes the guest."""
    if MODULE_WATCHING not in log:
        return "not ok", f"the module did not load on the baseline (outcome {outcome['outcome']})"
    return stall_verdict(outcome, text, what, timeout)


def qmap_verdict(outcome, text):
    """(status, comment) for scx_qmap -l under load on the patched kernel:
    the watchdog ejects it (guest.sh's result TEXT) and the guest goes on."""
    words = " ".join(text.split())
    if (outcome["outcome"] == "passed" and "state=disabled" in words
            and "disabled (runnable task stall)" in words):
        return "ok", "watchdog ejected qmap, system carried on"
    return "not ok", f"no watchdog exit ({outcome['outcome']}): {words}"


BENCH_SECTIONS = ("1. Overhead", "2. Recovery", "3. Per break-out")


def bench_smoke_verdict(rc, report, csv_size, where):
    """(status, comment) for the make bench smoke run: it ran, and produced
    every section of its report and the overhead CSV."""
    missing = [s for s in BENCH_SECTIONS if not any(l.startswith(s) for l in report.splitlines())]
    if rc == 0 and not missing and csv_size > 0:
        return "ok", f"all three sections produced (1 pair, scx_simple, 1 run; in {where})"
    why = f"exit {rc}" if rc else f"missing {', '.join(missing)}" if missing else "no overhead.csv"
    return "not ok", f"make bench smoke run failed ({why}), see {where}"


def tool_verdict(rc, output, ok_text):
    """(status, comment) for a checking tool (rustfmt --check): exit 0 is
    ok, anything else not ok with the tool's first line of output."""
    if rc == 0:
        return "ok", ok_text
    first = next((l.strip() for l in output.splitlines() if l.strip()), "no output")
    return "not ok", f"exit {rc}: {first}"


CHECKPATCH_LINE_RE = re.compile(r"^[^:]*:(\d+): [A-Z]+:([A-Z_0-9]+):")


def maintained(path, maintainers):
    """PATH is covered by an F: pattern of the MAINTAINERS text, a prefix of
    it (a trailing * taken off)."""
    for line in maintainers.splitlines():
        if line.startswith("F:\t") and path.startswith(line[3:].strip().rstrip("*")):
            return True
    return False


def checkpatch_exception(line, patch, maintainers, no_history):
    """The exception LINE of checkpatch --terse --show-types on PATCH (its
    text) falls under, named with why, or None; each is matched narrowly:
      UNKNOWN_COMMIT_ID  no id can be looked up (NO_HISTORY says why; empty:
                         the ids can be, and this is an error)
      FILE_PATH_CHANGES  every file the patch creates is already covered by
                         MAINTAINERS
      VOLATILE           the line is "+const volatile ..." in a *.bpf.c
                         file: the BPF rodata idiom upstream's tests use"""
    m = CHECKPATCH_LINE_RE.match(line)
    if not m:
        return None
    n, kind = int(m.group(1)), m.group(2)
    lines = patch.splitlines()
    if kind == "UNKNOWN_COMMIT_ID" and no_history:
        return f"{kind} ({no_history})"
    if kind == "FILE_PATH_CHANGES":
        new = [re.match(r"diff --git a/\S+ b/(\S+)", lines[i - 1]).group(1)
               for i, l in enumerate(lines) if l.startswith("new file mode ") and i > 0
               and lines[i - 1].startswith("diff --git ")]
        if all(maintained(f, maintainers) for f in new):
            return f"{kind} (new files already covered by MAINTAINERS)"
    if kind == "VOLATILE" and 0 < n <= len(lines):
        f = next((l[6:] for l in reversed(lines[:n]) if l.startswith("+++ b/")), "")
        if lines[n - 1].startswith("+const volatile ") and f.endswith(".bpf.c"):
            return f"{kind} (BPF rodata 'const volatile' in {f})"
    return None


def checkpatch_verdict(output, rc, patch, maintainers, no_history):
    """(status, comment, problems) for checkpatch.pl --strict --terse
    --show-types on PATCH, which printed OUTPUT and exited RC: ok with no
    error, warning or check but the exceptions of checkpatch_exception();
    a checkpatch that crashed (exit above 1, or 1 with nothing said) is
    not ok."""
    said = [l for l in output.splitlines() if l.strip()]
    if rc > 1 or (rc == 1 and not said):
        return "not ok", f"checkpatch.pl exited {rc}" + (f": {said[0]}" if said else ""), said[:1]
    accepted, bad = set(), []
    for line in said:
        e = checkpatch_exception(line, patch, maintainers, no_history)
        if e:
            accepted.add(e)
        else:
            bad.append(line)
    if bad:
        return "not ok", f"{len(bad)} problem(s)", bad
    comment = "0 errors, 0 warnings, 0 checks"
    return "ok", comment + (f"; accepted: {';'.join(sorted(accepted))}" if accepted else ""), []


def cmd_checkpatch(a):
    status, comment, bad = checkpatch_verdict(read_if_any(a.output), a.rc, read(a.patch),
                                              read(a.maintainers), a.no_history)
    for line in bad:
        print(f"    {line}", file=sys.stderr)
    return one_result(a.results, a.name, (status, comment))


def rustdoc_verdict(rc, log, how, where):
    """(status, comment) for make rustdoc under CONFIG_WERROR (-Dwarnings),
    which exited RC with its LOG (at WHERE): clean on exit 0 (HOW says when
    or how long); else its errors, counted, and the first with the line
    after it. An exit without an error line is still a failure."""
    if rc == 0:
        return "ok", f"make rustdoc with CONFIG_WERROR (-Dwarnings): clean {how}"
    lines = log.splitlines()
    errs = [i for i, l in enumerate(lines) if l.startswith("error") and not l.startswith("error: aborting")]
    first = " ".join(l.strip() for l in lines[errs[0]:errs[0] + 2]) if errs else f"exit {rc}, no error line"
    return "not ok", f"make rustdoc with CONFIG_WERROR failed with {len(errs)} errors; first: {first} (see {where})"


def roundtrip_verdict(outcome, log, status, lines):
    """(status, comment) for make boots' round trip: the guest's command,
    which printed each of LINES (one to stdout, one to stderr) and exited
    STATUS, came back as such: outcome failed (or passed, for 0) with that
    exit status, and each line at the start of a line of the LOG."""
    want = "passed" if status == 0 else "failed"
    got = outcome.get("outcome"), outcome.get("exit")
    lost = [l for l in lines if not re.search(rf"^{re.escape(l)}", log, re.M)]
    if got == (want, str(status)) and not lost:
        return "ok", "exit status and both streams kept"
    return "not ok", f"outcome {got[0]} exit {got[1]}" + (f", lost {' '.join(lost)}" if lost else "")


def first_error(text, test):
    """The first "ERR: file:line" of TEST in the runner's output, with the
    message line after it, or ''."""
    lines = text.splitlines()
    current = None
    for i, line in enumerate(lines):
        if line.startswith("TEST: "):
            current = line[6:].strip()
        elif current == test and line.startswith("ERR: "):
            msg = lines[i + 1].strip() if i + 1 < len(lines) else ""
            return f"{line[5:].strip()} {msg}".strip()
    return ""


# What the upstream tests print when the scheduler was never ejected.
NOT_EJECTED = "Not ejected within"


def failpath_verdicts(text, outcome, secs, bound, tests):
    """[(status, test or None, comment)] for the failure-path gate: one row
    per TEST (it failed with its own message), and one for the run (the
    guest ended, the runner reached its summary, in time)."""
    rows = []
    got = dict((n, st) for st, n in parse_runner(text))
    for t in tests:
        err = first_error(text, t)
        if got.get(t) == "not ok" and NOT_EJECTED in err:
            rows.append(("ok", t, f"failed with its own message: {err}"))
        elif t not in got:
            rows.append(("not ok", t, "no result: the test never ran or never ended"))
        else:
            rows.append(("not ok", t, f"{got[t]}, expected a failure saying '{NOT_EJECTED}' ({err or 'no ERR line'})"))
    how = outcome["outcome"]
    limit = bound * len(tests)
    if how not in ("passed", "failed"):
        rows.append(("not ok", None, f"the guest did not end by itself ({how})"))
    elif "RESULTS:" not in text:
        rows.append(("not ok", None, "the runner never printed its summary: it did not go on"))
    elif secs is None:
        rows.append(("not ok", None, "no runner time recorded"))
    elif secs > limit:
        rows.append(("not ok", None, f"the runner took {secs:.1f} s, over {limit} s ({bound} s per test)"))
    else:
        rows.append(("ok", None, f"the runner went on and ended in {secs:.1f} s (bound {limit} s, {bound} s per test)"))
    return rows


# The kselftest framework's line for one program, e.g.
# "ok 1 selftests: sched_ext: runner" or "not ok 1 ... # TIMEOUT 45 seconds".
KSFT_RE = re.compile(r"^(ok|not ok) \d+ selftests: (\S+): (\S+)(?: # (.*))?$")


def kselftest_verdicts(text, times, limit, tests):
    """[(status, suffix, comment)]: the framework's own verdict on each
    program (suffix None), and how long TESTS took (suffix "time")."""
    rows = []
    for line in text.splitlines():
        m = KSFT_RE.match(line.rstrip("\r"))
        if m:
            rows.append((m.group(1), None, f"run_kselftest.sh: {m.group(1)} {m.group(2)}:{m.group(3)}"
                         + (f" # {m.group(4)}" if m.group(4) else "")))
    if not rows:
        rows.append(("not ok", None, "run_kselftest.sh reported no program"))
    stamps = []
    for line in times.splitlines():
        w = line.split(None, 1)
        if len(w) == 2:
            stamps.append((float(w[0]), w[1].strip()))
    took = {}
    for (t0, name), (t1, _) in zip(stamps, stamps[1:]):
        if name in tests:
            took[name] = t1 - t0
    missing = [t for t in tests if t not in took]
    if missing:
        rows.append(("not ok", "time", f"no start and end seen for {', '.join(missing)}"))
    else:
        total = sum(took.values())
        each = ", ".join(f"{t} {took[t]:.1f} s" for t in tests)
        status = "ok" if total <= limit else "not ok"
        rows.append((status, "time", f"the new tests took {total:.1f} s ({each}); "
                     f"the framework allows {limit} s for the whole runner"))
    return rows


def lockdep_verdict(text):
    """(status, comment): the kernel's lock validator ran and stayed on
    (it turns itself off after its first report, or when it runs out)."""
    if "Lock dependency validator" not in text:
        return "not ok", "the kernel did not start its lock validator (no CONFIG_PROVE_LOCKING?)"
    off = [l.strip() for l in text.splitlines() if "lockdep is turned off" in l or "turning off the locking correctness validator" in l]
    if off:
        return "not ok", f"the lock validator turned itself off: {off[0]}"
    return "ok", "the lock validator ran throughout"


def tests_report(text, outcome, tests):
    """One line: what each of TESTS did in a guest run, and how it ended."""
    got = dict((n.split(" ")[0], "hung" if " (no result" in n else st) for st, n in parse_runner(text))
    parts = []
    for t in tests:
        st = got.get(t)
        if st == "not ok":
            err = first_error(text, t)
            parts.append(f"{t} fails" + (f" ({err})" if err else ""))
        elif st in ("ok", "skip"):
            parts.append(f"{t} {'passes' if st == 'ok' else 'skips'}")
        else:
            parts.append(f"{t} never ended")
    how = outcome["outcome"]
    if how not in ("passed", "failed"):
        parts.append(f"the guest: {how}")
    return "; ".join(parts)


def mutant_verdict(text, outcome, tests):
    """(verdict, how) for a mutant kernel: "killed", "survived" or
    "unknown", from the runner's TEXT and vm.sh's OUTCOME."""
    got = dict((n.split(" ")[0], s) for s, n in parse_runner(text))
    failed = [t for t in tests if got.get(t) == "not ok"]
    err = {t: first_error(text, t) for t in failed}
    said = [t for t in failed if err[t]]
    before = f"{said[0]} failed ({err[said[0]]}), then " if said else ""
    how = outcome["outcome"]
    if how in ("frozen", "hang"):
        return "killed", before + "the guest froze"
    if how == "panic":
        return "killed", before + "the guest panicked"
    if how == "splat":
        return "killed", before + "kernel splat in the console"
    if how == "no-start":
        return "unknown", "the tests never started"
    if how not in ("passed", "failed"):
        return "unknown", f"{how}: {outcome.get('why', 'see the log')}"
    if failed:
        first = err[failed[0]]
        return "killed", f"{', '.join(failed)} failed" + (f": {first}" if first else "")
    missing = [t for t in tests if got.get(t) != "ok"]
    if missing:
        return "unknown", f"{', '.join(missing)} did not run or skipped"
    return "survived", f"{', '.join(tests)} passed"


def mutant_with_module(verdict, how, loaded, module):
    """(verdict, how, module_failure) for a mutant from the witness's
    VERDICT and HOW (mutant_verdict()) and the module's report
    (module_mutant_report(): LOADED, MODULE): a guest where the module did
    not load proves nothing of the module's checks, so the mutant is
    unknown; if the witness killed it anyway, that is a failure of its own
    (MODULE_FAILURE, else None)."""
    if loaded:
        return verdict, how, None
    return "unknown", module, (module if verdict == "killed" else None)


# A KUnit case or suite result inside its suite: "ok 3 name # SKIP why".
KUNIT_RE = re.compile(r"^(\s*)(ok|not ok) (\d+) (\S+)(?:\s*#\s*(SKIP)\b.*)?$")


def kunit_verdicts(text, suite, focus):
    """[(status, case, comment)] for SUITE's run in the kernel log TEXT: the
    suite first (case None), then each case whose name has FOCUS in it."""
    lines = text.splitlines()
    start = None
    for i, line in enumerate(lines):
        if line.strip() == "# Subtest: " + suite:
            start = i
    if start is None:
        return [("not ok", None, f"KUnit did not run {suite} (no '# Subtest: {suite}' in the log)")]
    indent = len(lines[start]) - len(lines[start].lstrip())
    plan, cases, end, where = None, [], None, {}
    for line in lines[start + 1:]:
        m = re.match(r"^\s*# (\S+)\.location: (\S+)$", line)
        if m:
            where[m.group(1)] = m.group(2)
            continue
        m = re.match(r"^\s*1\.\.(\d+)$", line)
        if m and plan is None:
            plan = int(m.group(1))
            continue
        m = KUNIT_RE.match(line)
        if not m:
            continue
        if len(m.group(1)) < indent and m.group(4) == suite:
            end = m.group(2)
            break
        if len(m.group(1)) == indent:
            cases.append(("skip" if m.group(5) else m.group(2), m.group(4)))
    failed = [n for s, n in cases if s == "not ok"]
    skipped = sum(1 for s, _ in cases if s == "skip")
    passed = len(cases) - len(failed) - skipped
    counts = f"{passed} passed, {len(failed)} failed, {skipped} skipped of {plan} planned"
    if plan is None or end is None:
        status, comment = "not ok", f"the suite's run is cut short in the log: {counts}"
    elif failed or len(cases) != plan or end != "ok":
        status = "not ok"
        comment = counts + (": " + ", ".join(failed[:5]) if failed else "")
    else:
        status, comment = "ok", counts
    rows = [(status, None, comment)]
    mine = [(s, n) for s, n in cases if focus in n]
    if not mine:
        rows.append(("not ok", focus, f"no case of {suite} has '{focus}' in its name"))
    rows += [(s, n, where.get(n, "")) for s, n in mine]
    return rows


# The sample's lines at unload.
SAMPLE_RE = re.compile(r"kernel_clone\(\): (\d+) calls, (\d+) returns, (\d+) errors, (\d+) us in all")
SAMPLE_EXIT_RE = re.compile(r"do_exit\(\): (\d+) exits, (\d+) with a non-zero code")


def sample_verdict(text, forks):
    """(status, comment) for the rust_kprobe sample after FORKS processes,
    each of which exits with 0: its kretprobe must have seen at least FORKS
    calls and returns of kernel_clone(), and its kprobe at least FORKS
    exits, not all of them with a non-zero code (read from the argument)."""
    m, e = SAMPLE_RE.search(text), SAMPLE_EXIT_RE.search(text)
    if not m or not e:
        return "not ok", "the sample printed no counts (did it load and unload?)"
    calls, rets, errs, us = (int(g) for g in m.groups())
    exits, failed = (int(g) for g in e.groups())
    comment = (f"{calls} calls, {rets} returns, {errs} errors of kernel_clone() ({us} us in all), "
               f"{exits} exits ({failed} non-zero) while {forks} processes started and exited with 0")
    if calls < forks or rets < forks or exits < forks:
        return "not ok", comment + f": fewer than {forks}"
    if exits - failed < forks:
        return "not ok", comment + f": fewer than {forks} exits with code 0 (is the argument read right?)"
    return "ok", comment


def kprobe_repro_verdict(text, expect):
    """(status, comment) for the kprobe_arm_error reproducer's line, on a
    kernel with the kprobes fix (EXPECT "fixed") or without it ("bug").

    The probe with a post_handler cannot be armed there (the function has
    an IPMODIFY ftrace_ops already). The control probe, without one, must
    register and see the reads of /proc/cmdline: that the function can be
    probed and is reached is what makes the probe's 0 hits mean something."""
    kv = {}
    for line in text.splitlines():
        if line.startswith("KPROBE_REPRO "):
            kv = keyvals(line.split()[1:])
    ints = ("ret", "disable_ret", "control_ret", "hits", "control_hits", "listed", "reads",
            "again_ret", "again_hits")
    if kv.get("ftrace") not in ("Y", "N") or not all(re.fullmatch(r"-?\d+", kv.get(k, "")) for k in ints):
        return "not ok", "the reproducer printed no complete KPROBE_REPRO line (did it load?)"
    ret, dret, cret, hits, chits, listed, reads, aret, ahits = (int(kv[k]) for k in ints)
    if kv["ftrace"] != "Y":
        return "not ok", "the probe is not a kprobe on ftrace, which alone can fail to arm (CONFIG_KPROBES_ON_FTRACE?)"
    if cret or chits < reads:
        return "not ok", (f"the control probe (no post_handler) did not work: register_kprobe() {cret}, "
                          f"{chits} calls seen of {reads} reads of /proc/cmdline")
    if aret or ahits < reads:
        return "not ok", (f"without the ftrace_ops, a probe like the first did not work: register_kprobe() "
                          f"{aret}, {ahits} calls seen of {reads} reads (state left behind?)")
    seen = (f"the control saw {chits} calls for {reads} reads of /proc/cmdline, and without the "
            f"ftrace_ops a probe like the first registered and saw {ahits}")
    if expect == "fixed":
        if ret < 0 and not hits and listed == 1:
            return "ok", f"register_kprobe() failed with {ret} where arming failed; {seen}"
        return "not ok", (f"register_kprobe() returned {ret} for a probe that cannot be armed "
                          f"({hits} calls seen, {listed} probes listed on the function); {seen}")
    if not ret and not hits and listed == 1 and dret < 0:
        return "ok", (f"register_kprobe() returned 0 for a probe that was never armed: not listed, "
                      f"0 calls seen, disable_kprobe() {dret}; {seen}")
    return "not ok", (f"the bug did not show without the fix: register_kprobe() returned {ret}, "
                      f"disable_kprobe() {dret}, {hits} calls seen, {listed} probes listed "
                      f"(is the fix in this kernel already?)")


def debugfs_repro_verdict(text, expect):
    """(status, comment) for the debugfs fix's reproducer: the tree's
    rust_debugfs_scoped sample loaded, control/create held open by a
    process of its own, then rmmod. With the fix (EXPECT "fixed"), the
    open file pins the module: rmmod must fail with EBUSY and succeed once
    the file is closed. Without it ("bug"), rmmod succeeds while the file
    is open; the guest leaves the file open, as closing it then runs freed
    code."""
    kv = {}
    for line in text.splitlines():
        if line.startswith("DEBUGFS_REPRO "):
            kv = keyvals(line.split()[1:])
    if kv.get("held") != "1":
        return "not ok", ("the sample's file was never held open (did the sample load? "
                          f"insmod={kv.get('insmod', '?')})")
    open_rc, open_err = kv.get("rmmod_open"), kv.get("rmmod_open_err", "")
    if open_rc not in ("0", "1"):
        return "not ok", "the reproducer printed no complete DEBUGFS_REPRO line"
    if expect == "fixed":
        if open_rc == "0":
            return "not ok", "rmmod unloaded the sample while its file was open: the module is not pinned"
        if "in_use" not in open_err:
            return "not ok", f"rmmod failed while the file was open, but not as busy: {open_err!r}"
        if kv.get("rmmod_closed") != "0":
            return "not ok", "rmmod was refused while the file was open, but failed again once it was closed"
        return "ok", "rmmod refused while the file was open (module in use), and unloaded it once the file was closed"
    if open_rc == "0":
        return "ok", "rmmod unloaded the sample while its file was open (the file left open: closing it would run freed code)"
    return "not ok", f"the bug did not show without the fix: rmmod was refused ({open_err!r}; is the fix in this kernel already?)"


# The fixes' reproducers (ktap.py NAME LOG EXPECT NAME RESULTS), by command.
REPRO_VERDICTS = {"kprobe_repro": kprobe_repro_verdict, "debugfs_repro": debugfs_repro_verdict}


STRESS_ROUNDS_RE = re.compile(r"kretprobe_stress: rounds=(\d+)")
STRESS_RE = re.compile(r"kretprobe_stress: (short|sleeping): entries=(\d+) returns=(\d+) lost=(\d+) wrong_data=(\d+)")
STRESS_ROUNDS = 200


def stress_verdict(text):
    """(status, comment) for the kretprobe stress: STRESS_ROUNDS rounds of
    two probes registered and unregistered while their functions were
    called in loops, one with short calls, one with calls that sleep. Both
    must have seen calls, no more returns than calls, and each return with
    the data its own probe's entry handler wrote; returns lost to
    unregistering are counted, not failed."""
    r = STRESS_ROUNDS_RE.search(text)
    got = {m.group(1): tuple(int(g) for g in m.groups()[1:]) for m in STRESS_RE.finditer(text)}
    if not r or set(got) != {"short", "sleeping"}:
        return "not ok", "the stress module printed no figures (did it load?)"
    rounds = int(r.group(1))
    comment = f"{rounds} rounds; " + "; ".join(
        f"{k} calls: {e} entered, {ret} returns handed over, {lost} lost to unregistering, {w} with wrong data"
        for k, (e, ret, lost, w) in sorted(got.items(), reverse=True))
    if rounds != STRESS_ROUNDS:
        return "not ok", comment + f": not the {STRESS_ROUNDS} rounds"
    for k, (e, ret, lost, w) in got.items():
        if not e or (k == "short" and not ret):
            return "not ok", comment + f": no {k} call was caught (did the calls run?)"
        if ret > e:
            return "not ok", comment + ": more returns than calls (a return handled twice?)"
        if w:
            return "not ok", comment
    return "ok", comment


def boot_verdict(text, marker):
    """(status, comment) for the console of a guest that vm.sh did not run."""
    splat = splat_lines(text)
    if splat:
        return "not ok", "kernel splat: " + splat[0].strip()
    if marker not in text:
        return "not ok", f"the guest never reached '{marker}' (hung, panicked or never booted)"
    return "ok", "no splat, reached the end"


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def read_if_any(path):
    """PATH's text, or '' if the guest never wrote it."""
    try:
        return read(path)
    except FileNotFoundError:
        return ""


def add(results, status, name, comment=""):
    if status not in ("ok", "not ok", "skip"):
        raise SystemExit(f"ktap.py: bad status {status!r}")
    name = os.environ.get("LG_RESULT_PREFIX", "") + name
    with open(results, "a") as f:
        f.write(f"{status}\t{name}\t{comment}\n")
    mark = {"ok": "ok", "not ok": "FAIL", "skip": "skip"}[status]
    print(f"  {mark:<7} {name}{'  # ' + comment if comment else ''}", file=sys.stderr)


def load(results):
    rows = []
    try:
        text = read(results)
    except FileNotFoundError:
        return rows
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            rows.append((parts[0], parts[1], parts[2] if len(parts) > 2 else ""))
    return rows


def report(results, out=sys.stdout):
    rows = load(results)
    print("KTAP version 1", file=out)
    print(f"1..{len(rows)}", file=out)
    for i, (status, name, comment) in enumerate(rows, 1):
        if status == "skip":
            print(f"ok {i} {name} # SKIP {comment}".rstrip(), file=out)
        elif comment:
            print(f"{status} {i} {name} # {comment}", file=out)
        else:
            print(f"{status} {i} {name}", file=out)
    passed = sum(1 for r in rows if r[0] == "ok")
    failed = sum(1 for r in rows if r[0] == "not ok")
    skipped = sum(1 for r in rows if r[0] == "skip")
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(f"# {line}", file=out)
    print(line, file=out)
    return 1 if failed or not rows else 0


def stage_verdict(rows, rc, before):
    """(status, comment) for a pipeline stage that exited RC, or None when
    there is nothing to add: a stage that failed without recording a
    failure of its own would otherwise be lost on the way to the report."""
    if rc == 0 or any(r[0] == "not ok" for r in rows[before:]):
        return None
    return "not ok", f"the stage exited {rc} and recorded no failure of its own; see the messages above"


def boots(outdir):
    """Per guest: base, name, CPUs, accelerator, the guest's uptime and the
    host's seconds when the command started, the whole run, the outcome."""
    rows = []
    for path in sorted(glob.glob(os.path.join(outdir, "*", "logs", "*.outcome"))):
        o = outcome_of(path)
        base = path.split(os.sep)[-3]
        name = os.path.basename(path)[: -len(".outcome")]
        rows.append((base, name, o.get("cpus", "-"), o.get("accel", "-"), o.get("boot_guest", "-"),
                     o.get("boot_host", "-"), o.get("secs", "-"), o["outcome"]))
    if not rows:
        return 0
    with open(os.path.join(outdir, "boots.txt"), "w") as f:
        f.write("# base\tguest\tcpus\taccel\tcommand_at_uptime_s\tcommand_at_host_s\trun_s\toutcome\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    guest = sorted(float(r[4]) for r in rows if r[4] != "-")
    host = sorted(float(r[5]) for r in rows if r[5] != "-")
    if guest and host:
        print(f"  BOOTS   {len(rows)} guest{'s' if len(rows) > 1 else ''}; the command started at {guest[len(guest) // 2]:.1f} s of guest uptime "
              f"(median; {guest[0]:.1f} to {guest[-1]:.1f}), {host[len(host) // 2]:.1f} s after QEMU started "
              f"(median; {host[0]:.1f} to {host[-1]:.1f}); per guest in {outdir}/boots.txt", file=sys.stderr)
    return 0


CENSUS_COLS = ("base", "cpus", "scheduler", "workload", "loaded", "kernel_breakouts", "module_breakouts",
               "at_bound", "invocations", "rounds_max", "sched_rc", "workload_rc", "state_after", "guest",
               "rounds_hist")
# What a scheduler that did not load said: libbpf's reason, else its last line.
LOAD_ERROR_RE = re.compile(r"libbpf: (.*(?:not found|failed|error).*)")


def run_outcome(rundir):
    """vm.sh's outcome of the guest whose run folder is OUT/runs/NAME."""
    rundir = os.path.abspath(rundir)
    return outcome_of(os.path.join(os.path.dirname(os.path.dirname(rundir)), "logs",
                                   os.path.basename(rundir) + ".outcome"))


def census_rows(rundir, base):
    """One dict per scheduler and workload of a census guest."""
    outcome = run_outcome(rundir)["outcome"]
    blocks = module_blocks(read_if_any(os.path.join(rundir, "figures.txt")))
    rows = []
    for kv in figures(read_if_any(os.path.join(rundir, "census.txt")), "CENSUS"):
        b = blocks.get(f"{kv.get('sched')}/{kv.get('workload')}", {})
        t = b.get("total", {})
        hist = b.get("rounds_hist", {})
        rows.append({
            "base": base, "cpus": kv.get("cpus", "?"), "scheduler": kv.get("sched", "?"),
            "workload": kv.get("workload", "?"), "loaded": kv.get("loaded", "?"),
            "kernel_breakouts": kv.get("kernel_breakouts", "-"), "module_breakouts": t.get("breakouts", "-"),
            "at_bound": t.get("at_bound", "-"), "invocations": t.get("invocations", "-"),
            "rounds_max": t.get("rounds_max", "-"), "sched_rc": kv.get("rc", "?"),
            "workload_rc": kv.get("workload_rc", "-"),
            "state_after": kv.get("state_after", "-"), "guest": outcome,
            "rounds_hist": " ".join(f"{r}:{n}" for r, n in sorted(hist.items()) if n),
            "_dir": rundir,
        })
    return rows


def census(results, name, outdir, strict, rundirs):
    """Results, table and CSV of the census; a nonzero break-out count on a
    scheduler that loaded is a finding, reported, not a failure."""
    import csv
    rows, rc = [], 0
    for d in rundirs:
        base = os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(d))))
        got = census_rows(d, base)
        if not got:
            add(results, "not ok", f"{name}/{os.path.basename(d)}", "no census line: the guest never got there "
                f"({run_outcome(d)['outcome']})")
            rc = 1
        rows += got
    for r in rows:
        what = f"{name}/{r['scheduler']}/{r['workload']}/{r['cpus']}cpu"
        if r["loaded"] != "yes":
            err = ""
            text = read_if_any(os.path.join(r["_dir"], f"{r['scheduler']}.txt"))
            lines = [l.strip() for l in text.splitlines() if l.strip()]
            why = [m.group(1) for m in map(LOAD_ERROR_RE.search, lines)
                   if m and "skipping" not in m.group(1)]
            if why or lines:
                err = (why[0] if why else lines[-1])[:160]
            add(results, "not ok" if strict else "skip", what, f"did not load (exit {r['sched_rc']}): {err}")
            rc |= strict
            continue
        if r["workload_rc"] not in ("0", "-"):
            add(results, "not ok", what, f"the workload failed (exit {r['workload_rc']}): nothing was measured")
            rc = 1
            continue
        if r["module_breakouts"] == "-" or r["guest"] not in ("passed", "failed"):
            add(results, "not ok", what, f"no figures from the module, or the guest {r['guest']}")
            rc = 1
            continue
        found = ""
        if r["module_breakouts"] != "0" or r["kernel_breakouts"] not in ("0", "-"):
            found = "FINDING: "
            trace = os.path.join(r["_dir"], f"trace-{r['scheduler']}-{r['workload']}.txt")
            if os.path.exists(trace):
                found += f"one traced in {trace}; "
        add(results, "ok", what, found +
            f"break-outs kernel {r['kernel_breakouts']}, module {r['module_breakouts']}; "
            f"rounds max {r['rounds_max']} of {r['invocations']} invocations; exit {r['sched_rc']}")
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "census.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CENSUS_COLS, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    widths = {c: max([len(c)] + [len(str(r[c])) for r in rows]) for c in CENSUS_COLS[:-1]}
    lines = ["  ".join(c.ljust(widths[c]) for c in CENSUS_COLS[:-1])]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in CENSUS_COLS[:-1]) for r in rows]
    with open(os.path.join(outdir, "census.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    for l in lines:
        print("    " + l, file=sys.stderr)
    return rc


def results_of(results, name, rows):
    """Append ROWS, [(status, suffix or None, comment)], as results NAME or
    NAME/SUFFIX; exit 1 if one is not ok."""
    for status, suffix, comment in rows:
        add(results, status, f"{name}/{suffix}" if suffix else name, comment)
    return 1 if any(r[0] == "not ok" for r in rows) else 0


def one_result(results, name, verdict):
    """Append VERDICT, (status, comment), as result NAME; exit 1 unless ok."""
    return results_of(results, name, [(verdict[0], None, verdict[1])])


def cmd_runner(a):
    parsed = parse_runner(read_if_any(a.out))
    if not parsed:
        return one_result(a.results, a.name, ("not ok", "the runner printed no result"))
    return results_of(a.results, a.name, [(st, n, "") for st, n in parsed])


def cmd_mutant(a):
    verdict, how = mutant_verdict(read_if_any(os.path.join(a.rundir, "runner.txt")), outcome_of(a.outcome),
                                  a.tests)
    add(a.results, "ok" if verdict == "killed" else "not ok", a.name, f"{verdict}: {how}")
    loaded, module = module_mutant_report(read_if_any(os.path.join(a.rundir, "module.txt")).strip(),
                                          module_blocks(read_if_any(os.path.join(a.rundir, "figures.txt"))),
                                          a.max_loops, a.tests)
    verdict, how, failure = mutant_with_module(verdict, how, loaded, module)
    if failure:
        add(a.results, "not ok", f"{a.name}/module", failure)
    print(f"{verdict}\t{how}\t{module}")
    return 0 if verdict == "killed" else 1


def cmd_console(a):
    one_result(a.results, f"{a.name}/console", console_verdict(outcome_of(a.outcome), a.log))
    return 0


def cmd_stall(a):
    one_result(a.results, a.name, stall_verdict(outcome_of(a.outcome), read_if_any(a.out), a.what, a.timeout))
    return 0


def cmd_failpath(a):
    secs = keyvals(read_if_any(a.time).split()).get("runner_secs")
    rows = failpath_verdicts(read_if_any(a.out), outcome_of(a.outcome),
                             None if secs is None else float(secs), a.bound, a.tests)
    return results_of(a.results, a.name, [(st, t or "runner", c) for st, t, c in rows])


def cmd_repro(a):
    return one_result(a.results, a.name, REPRO_VERDICTS[a.command](read_if_any(a.log), a.expect))


def cmd_outcome(a):
    o = outcome_of(a.file)
    print("\t".join(o.get(k, "-") for k in a.keys))
    return 0


def cmd_figure_lines(a):
    for path in a.files:
        for line in read_if_any(path).splitlines():
            if line.startswith(FIGURES_TAG + " "):
                print(a.prefix + line[len(FIGURES_TAG) + 1:] if a.prefix else line)
    return 0


def junit_verdicts(xml_text, rc):
    """[(status, test, comment)] from pytest's JUnit XML: one row per test
    function (its parametrized cases together), or one failing row when
    pytest did not run its tests to the end (RC other than 0 or 1)."""
    import xml.etree.ElementTree as ET
    cases = {}
    try:
        root = ET.fromstring(xml_text) if xml_text else None
    except ET.ParseError as e:
        root, rc = None, f"{rc}, unreadable XML: {e}"
    for tc in ([] if root is None else root.iter("testcase")):
        name = tc.get("name", "?").split("[")[0]
        bad = tc.find("failure")
        if bad is None:
            bad = tc.find("error")
        c = cases.setdefault(name, [0, 0, ""])
        c[0] += 1
        if bad is not None:
            c[1] += 1
            c[2] = c[2] or (bad.get("message") or "failed").splitlines()[0][:200]
    if rc not in (0, 1) or not cases:
        return [("not ok", None, f"pytest did not run the tests to the end (exit {rc}, {len(cases)} tests seen)")]
    return [("not ok" if bad else "ok", name, f"{n - bad}/{n} cases passed" + (f"; {msg}" if msg else ""))
            for name, (n, bad, msg) in cases.items()]


def cmd_stage(a):
    verdict = stage_verdict(load(a.results), a.rc, a.rows)
    if verdict:
        add(a.results, verdict[0], a.name, verdict[1])
    return 0


def cmd_rows(a):
    print(len(load(a.results)))
    return 0


# Every command that writes results takes the results file first, then the
# result's NAME (or the prefix of its names), then what it reads.
COMMANDS = {
    # name: (handler, help, [(argument, argparse options)]); RESULTS and
    # NAME first where the handler writes results.
    "runner": (cmd_runner, "the sched_ext selftest runner's output OUT (its exit status is always 0): "
               "one result NAME/TEST per test", [("results", {}), ("name", {}), ("out", {})]),
    "soak": (lambda a: soak(read_if_any(a.out), a.rounds, a.results),
             "ROUNDS rounds of the runner in OUT: one result per test, ok only if it passed all of "
             "them; figure spreads", [("results", {}), ("out", {}), ("rounds", {"type": int})]),
    "mutant": (cmd_mutant, "the verdict on one mutant kernel from the guest's OUTCOME (vm.sh's) and "
               "RUNDIR (guest.sh witness's: the runner's output, the module's record and figures at the "
               "bound MAX_LOOPS): killed (a TEST failed, or the guest froze, panicked or splatted) is ok, "
               "survived is not ok, and so is a run that cannot tell (never started, skipped, or the "
               "module did not load); prints VERDICT<TAB>HOW<TAB>what the module's figures say",
               [("results", {}), ("name", {}), ("rundir", {}), ("outcome", {}), ("max_loops", {"type": int}),
                ("tests", {"nargs": "+"})]),
    "console": (cmd_console, "one result NAME/console for a guest run, from its OUTCOME (vm.sh's) "
                "and console LOG", [("results", {}), ("name", {}), ("outcome", {}), ("log", {})]),
    "stall": (cmd_stall, "a run that must freeze the guest or fail (the negative control)",
              [("results", {}), ("name", {}), ("outcome", {}), ("what", {}), ("out", {}), ("timeout", {})]),
    "failpath": (cmd_failpath, "the failure-path gate: on a kernel whose watchdog never fires, each "
                 "TEST must fail with its own 'Not ejected within' message, the runner must go on to "
                 "its summary, and the run (TIME, guest.sh's) must end within BOUND s per TEST",
                 [("results", {}), ("name", {}), ("outcome", {}), ("out", {}), ("time", {}),
                  ("bound", {"type": int}), ("tests", {"nargs": "+"})]),
    "module-stall": (lambda a: one_result(a.results, a.name, module_stall_verdict(
        outcome_of(a.outcome), read_if_any(a.log), read_if_any(a.out), a.what, a.timeout)),
        "the module on a kernel without the fix: it loaded (its line in the console LOG), then the "
        "test froze the guest or failed",
        [("results", {}), ("name", {}), ("outcome", {}), ("log", {}), ("what", {}), ("out", {}),
         ("timeout", {})]),
    "module": (cmd_module, "the module's guest run (guest.sh rust) in RUNDIR, at the bound MAX_LOOPS "
               "after CYCLES load/unload cycles: one result NAME/module-SCENARIO per looping test (the "
               "witness's, --looping) and legitimate scheduler (--legit), and NAME/module-load-unload, "
               "NAME/module-open-across-unload, NAME/module-trace-stop",
               [("results", {}), ("name", {}), ("rundir", {}), ("max_loops", {"type": int}),
                ("cycles", {"type": int}), ("--looping", {"nargs": "+", "required": True}),
                ("--legit", {"nargs": "+", "required": True})]),
    "qmap": (lambda a: one_result(a.results, a.name, qmap_verdict(outcome_of(a.outcome), read_if_any(a.out))),
             "scx_qmap -l on the patched kernel: ejected by the watchdog (guest.sh's result OUT), and "
             "the guest went on", [("results", {}), ("name", {}), ("outcome", {}), ("out", {})]),
    "bench-smoke": (lambda a: one_result(a.results, a.name, bench_smoke_verdict(
        a.rc, read_if_any(os.path.join(a.dir, "report.txt")),
        os.path.getsize(os.path.join(a.dir, "overhead.csv")) if os.path.exists(
            os.path.join(a.dir, "overhead.csv")) else 0, a.dir)),
        "the make bench smoke run in DIR, which exited RC: every section of its report and the "
        "overhead CSV", [("results", {}), ("name", {}), ("dir", {}), ("rc", {"type": int})]),
    "tool": (lambda a: one_result(a.results, a.name, tool_verdict(a.rc, read_if_any(a.output), a.ok_text)),
             "a checking tool that exited RC with its OUTPUT: ok (saying OK_TEXT) on exit 0",
             [("results", {}), ("name", {}), ("rc", {"type": int}), ("output", {}), ("ok_text", {})]),
    "kselftest": (lambda a: results_of(a.results, a.name, kselftest_verdicts(
        read_if_any(a.out), read_if_any(a.times), a.limit, a.tests)),
        "the kselftest framework's run (run_kselftest.sh's OUT): result NAME is its own verdict on "
        "the runner, and NAME/time says how long TEST... took (TIMES: 'UPTIME TEST' per start, then "
        "'UPTIME END'): within LIMIT s in all",
        [("results", {}), ("name", {}), ("out", {}), ("times", {}), ("limit", {"type": int}),
         ("tests", {"nargs": "*"})]),
    "checkpatch": (cmd_checkpatch, "checkpatch.pl --strict --terse --show-types on PATCH, which "
                   "printed OUTPUT and exited RC: no error, warning or check but the narrow exceptions "
                   "(an unknown commit id where NO_HISTORY says why none can be looked up; new files "
                   "MAINTAINERS covers; BPF rodata 'const volatile'); a crash is a failure",
                   [("results", {}), ("name", {}), ("output", {}), ("rc", {"type": int}), ("patch", {}),
                    ("maintainers", {}), ("no_history", {"nargs": "?", "default": ""})]),
    "rustdoc": (lambda a: one_result(a.results, a.name, rustdoc_verdict(a.rc, read_if_any(a.log), a.how, a.log)),
                "make rustdoc, which exited RC with its LOG: clean (HOW: when or how long), or its errors",
                [("results", {}), ("name", {}), ("rc", {"type": int}), ("log", {}), ("how", {})]),
    "roundtrip": (lambda a: print(roundtrip_verdict(outcome_of(a.outcome), read_if_any(a.log), a.status,
                                                    a.lines)[0] == "ok" and "yes" or "no") or 0,
                  "make boots: the guest's command, which printed LINES and exited STATUS, came back "
                  "as such in its OUTCOME and LOG; prints yes or no",
                  [("outcome", {}), ("log", {}), ("status", {"type": int}), ("lines", {"nargs": "+"})]),
    "lockdep": (lambda a: one_result(a.results, a.name, lockdep_verdict(read_if_any(a.log))),
                "the kernel of LOG ran its lock validator, and it stayed on",
                [("results", {}), ("name", {}), ("log", {})]),
    "tests": (lambda a: print(tests_report(read_if_any(a.out), outcome_of(a.outcome), a.tests)) or 0,
              "one line on what each TEST did in a guest (a report, not a result)",
              [("out", {}), ("outcome", {}), ("tests", {"nargs": "+"})]),
    "kunit": (lambda a: results_of(a.results, a.name, kunit_verdicts(read_if_any(a.log), a.suite, a.focus)),
              "the KUnit SUITE in the kernel log LOG: one result NAME for the suite (every planned case "
              "ran, none failed), and one NAME/CASE per case whose name contains FOCUS (at least one "
              "must have run)", [("results", {}), ("name", {}), ("log", {}), ("suite", {}), ("focus", {})]),
    "sample": (lambda a: one_result(a.results, a.name, sample_verdict(read_if_any(a.log), a.forks)),
               "the rust_kprobe sample's report in LOG after FORKS processes were started: at least "
               "FORKS calls and returns", [("results", {}), ("name", {}), ("log", {}), ("forks", {"type": int})]),
    "kprobe_repro": (cmd_repro, "the kprobes fix's reproducer (its KPROBE_REPRO line in LOG) on a "
                     "kernel with the fix (EXPECT fixed: arming fails, register_kprobe() must say so) or "
                     "without it (bug: it returns 0 for the probe that was never armed); both need the "
                     "control probe to work",
                     [("results", {}), ("name", {}), ("log", {}), ("expect", {"choices": ("fixed", "bug")})]),
    "debugfs_repro": (cmd_repro, "the debugfs fix's reproducer (its DEBUGFS_REPRO line in LOG): with "
                      "a file of the sample held open, rmmod must be refused and succeed once it is "
                      "closed (EXPECT fixed), or succeed (bug)",
                      [("results", {}), ("name", {}), ("log", {}), ("expect", {"choices": ("fixed", "bug")})]),
    "stress": (lambda a: one_result(a.results, a.name, stress_verdict(read_if_any(a.log))),
               "the kretprobe_stress module's lines in LOG: every round ran, returns were caught, none "
               "with another probe's data", [("results", {}), ("name", {}), ("log", {})]),
    "boot": (lambda a: one_result(a.results, a.name, boot_verdict(read_if_any(a.log), a.marker)),
             "a guest run without vm.sh (the arm64 one): its console LOG has no splat and reached MARKER",
             [("results", {}), ("name", {}), ("log", {}), ("marker", {})]),
    "outcome": (cmd_outcome, "the values of KEYs (default: outcome) of vm.sh's OUTCOME file, tab-separated, "
                "- where it has none", [("file", {}), ("keys", {"nargs": "*", "default": ["outcome"]})]),
    "figure-lines": (cmd_figure_lines, "the new tests' figure lines (FIGURES_TAG key=value...) of runner "
                     "outputs, the tag replaced by PREFIX if given",
                     [("--prefix", {"default": ""}), ("files", {"nargs": "+"})]),
    "figures": (lambda a: figures_table(read(a.file)) or 0,
                "the witness's figures in FILE, as a table on stderr", [("file", {})]),
    "boots": (lambda a: boots(a.outdir), "the boot-to-command time of every guest of the run "
              "(OUTDIR/*/logs/*.outcome): a table in OUTDIR/boots.txt, a summary on stderr",
              [("outdir", {})]),
    "census": (lambda a: census(a.results, a.name, a.outdir, a.strict == "1", a.rundirs),
               "the census's guests (RUNDIR/census.txt, RUNDIR/figures.txt, RUNDIR.outcome): one result "
               "NAME/SCHED/WORKLOAD/CPUScpu per pair; the table on stderr and in OUTDIR/census.txt, "
               "OUTDIR/census.csv. A scheduler that did not load is a skip with its error (STRICT=1: a "
               "failure)", [("results", {}), ("name", {}), ("outdir", {}), ("strict", {"choices": ("0", "1")}),
                            ("rundirs", {"nargs": "+"})]),
    "add": (lambda a: add(a.results, a.status, a.name, a.comment) or 0, "append one result",
            [("results", {}), ("status", {"choices": ("ok", "not ok", "skip")}), ("name", {}),
             ("comment", {"nargs": "?", "default": ""})]),
    "report": (lambda a: report(a.results), "RESULTS as a KTAP document ending in 'N passed, N failed'; "
               "exit 1 on a failure or when RESULTS holds no result at all", [("results", {})]),
    "rows": (cmd_rows, "how many results RESULTS holds", [("results", {})]),
    "junit": (lambda a: results_of(a.results, a.name, junit_verdicts(read_if_any(a.xml), a.rc)),
              "pytest's JUnit XML, from a run that exited RC: one result NAME/TEST per test function",
              [("results", {}), ("name", {}), ("xml", {}), ("rc", {"type": int})]),
    "stage": (cmd_stage, "a pipeline stage NAME ended with status RC, RESULTS holding ROWS results when "
              "it started: a non-zero RC that recorded no failure of its own is one failing result",
              [("results", {}), ("name", {}), ("rc", {"type": int}), ("rows", {"type": int})]),
}


def parser():
    p = argparse.ArgumentParser(prog="ktap.py", description=__doc__.split("\n\n")[0],
                                epilog="Any command exits 70 if it crashes, never 0 or 1.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (handler, text, args) in COMMANDS.items():
        sp = sub.add_parser(name, help=text, description=text)
        for arg, opts in args:
            sp.add_argument(arg, metavar=arg.lstrip("-").upper(), **opts)
        sp.set_defaults(handler=handler)
    return p


def main(argv):
    a = parser().parse_args(argv)
    return a.handler(a)


# A checker that crashes must never read as a verdict: an uncaught exception
# exits with EX_SOFTWARE (70), which no verdict uses, and callers report it.
EX_SOFTWARE = 70


def run_main(main, argv):
    try:
        return main(argv)
    except SystemExit:
        raise
    except BaseException:  # noqa: B902 - any crash, KeyboardInterrupt included
        import traceback
        traceback.print_exc()
        return EX_SOFTWARE


if __name__ == "__main__":
    sys.exit(run_main(main, sys.argv[1:]))
