#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check the figures of the scx_loopguard_watch module from a guest run.

  modcheck.py RUNDIR PREFIX RESULTS MAX_LOOPS CYCLES [SCHEDULER...]
  modcheck.py mutant RUNDIR MAX_LOOPS TEST...

RUNDIR/figures.txt has one block per scenario, as guest.sh rust writes it:
"scenario NAME", the module's figures file, "end". RUNDIR/result.txt has the
load/unload cycle outcome and the trace stop's. One KTAP result per
scenario, one for the cycles and one for the trace stop are appended to
RESULTS; the figures are printed, and written as
one "LOOPGUARD-MOD ..." line per scenario to RUNDIR/summary.txt. The
SCHEDULERs are the legitimate ones that ran (default: scx_simple scx_qmap).

With "mutant", one line for make mutants' table: "loaded" or "not-loaded",
a tab, and what the module's figures say of each looping TEST.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ktap  # noqa: E402 - the harness's one results writer and parsers

LOOPING = ("dsp_loop_all_cpus", "dsp_loop_one_cpu", "dsp_loop_partial")
LEGIT = ("scx_simple", "scx_qmap")


def parse_blocks(path):
    """The module's figures file: ktap.module_blocks()."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return ktap.module_blocks(f.read())


def num(d, k):
    try:
        return int(d.get(k, "-1"))
    except ValueError:
        return -1


def check_looping(b, max_loops):
    """The module's own account of a looping run, from its own points: the
    invocations at the bound are counted from the rounds, whatever kicked;
    the kicks must be exactly there; each must have queued its irq_work;
    and the next invocation must be tied to the kick by the need-resched
    flag the irq_work left. (at_bound and the histogram's count at the bound
    are the same by construction, and so is the maximum once nothing is
    above the bound and something is at it: neither is checked.)"""
    t = b.get("total", {})
    at, bo = num(t, "at_bound"), num(t, "breakouts")
    hist, bo_hist = b.get("rounds_hist", {}), b.get("breakout_rounds_hist", {})
    errs = []
    if num(b.get("probes", {}), "max_loops") != max_loops:
        errs.append("the module was not told the bound (max_loops=%s)" % b.get("probes", {}).get("max_loops"))
    if at <= 0:
        errs.append("no invocation at the bound")
    if any(n > max_loops for n in hist):
        errs.append("invocations above %d rounds" % max_loops)
    if bo != at or set(bo_hist) - {max_loops}:
        errs.append("self-kicks in %d invocations, by rounds %s; %d at the bound" % (bo, bo_hist, at))
    if num(t, "kicks_other_cpu") != 0 or num(t, "kicks_flagged") != 0:
        errs.append("kicks in balance to another CPU or with flags")
    if num(t, "bound_deferred") != at:
        errs.append("%d of %d at-bound invocations queued an irq_work" % (num(t, "bound_deferred"), at))
    if num(t, "untied") != 0:
        errs.append("%d next invocations came before the kick's irq_work asked for them" % num(t, "untied"))
    if num(t, "tied") <= 0:
        errs.append("no next invocation tied to its kick")
    return errs


def check_legit(b, max_loops):
    t = b.get("total", {})
    errs = []
    if num(t, "invocations") <= 0:
        errs.append("no balance invocation seen")
    if num(t, "breakouts") != 0:
        errs.append("%d break-outs" % num(t, "breakouts"))
    if num(t, "rounds_max") >= max_loops:
        errs.append("rounds_max %d" % num(t, "rounds_max"))
    if b.get("rc", 0) not in (0, 130, 124):
        errs.append("scheduler exited with %d" % b["rc"])
    return errs


def summary(name, b):
    t, w = b.get("total", {}), b.get("window", {})
    return ("LOOPGUARD-MOD scenario=%s invocations=%s rounds_max=%s at_bound=%s breakouts=%s "
            "self_kicks=%s resched=%s untied=%s lat_p50_us=%.1f lat_p99_us=%.1f lat_max_us=%.1f "
            "win_p50_us=%.1f win_p99_us=%.1f win_max_us=%.1f" %
            (name, t.get("invocations"), t.get("rounds_max"), t.get("at_bound"), t.get("breakouts"),
             t.get("self_kicks"), t.get("tied"), t.get("untied"), num(t, "lat_p50_ns") / 1000,
             num(t, "lat_p99_ns") / 1000, num(t, "lat_max_ns") / 1000,
             num(w, "p50_ns") / 1000, num(w, "p99_ns") / 1000, num(w, "max_ns") / 1000))


def mutant_report(rundir, max_loops, tests):
    """(loaded, text) for make mutants: whether the module loaded in the
    mutant's guest, and what its own figures say of each looping test, a
    report beside the BPF witness's verdict (which cross-checks them too)."""
    try:
        with open(os.path.join(rundir, "module.txt"), encoding="utf-8") as f:
            state = f.read().strip()
    except OSError:
        state = "no record"
    if state != "module loaded":
        return False, "the module did not load (%s)" % state
    figs = os.path.join(rundir, "figures.txt")
    blocks = parse_blocks(figs) if os.path.exists(figs) else {}
    flagged, clean, missing = [], [], []
    for t in tests:
        b = blocks.get(t)
        if not b or "total" not in b:
            missing.append(t)
            continue
        errs = check_looping(b, max_loops)
        if errs:
            flagged.append("%s (%s)" % (t, errs[0]))
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


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "mutant":
        if len(sys.argv) < 5:
            sys.exit("usage: modcheck.py mutant RUNDIR MAX_LOOPS TEST...")
        loaded, text = mutant_report(sys.argv[2], int(sys.argv[3]), sys.argv[4:])
        print("%s\t%s" % ("loaded" if loaded else "not-loaded", text))
        return 0
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    rundir, prefix, results = sys.argv[1:4]
    max_loops, cycles = (int(a) for a in sys.argv[4:6])
    legit = tuple(sys.argv[6:]) or LEGIT
    out = []

    def add(status, name, comment):
        out.append(status)
        ktap.add(results, status, "%s/%s" % (prefix, name), comment)

    figs = os.path.join(rundir, "figures.txt")
    blocks = parse_blocks(figs) if os.path.exists(figs) else {}
    lines = []
    for name in LOOPING + legit:
        b = blocks.get(name)
        if not b or "total" not in b:
            add("not ok", "module-" + name, "no figures (module not loaded, or guest stopped)")
            continue
        errs = check_looping(b, max_loops) if name in LOOPING else check_legit(b, max_loops)
        lines.append(summary(name, b))
        t = b["total"]
        what = "at_bound=%s breakouts=%s rounds_max=%s tied=%s untied=%s" % (
            t.get("at_bound"), t.get("breakouts"), t.get("rounds_max"), t.get("tied"), t.get("untied"))
        add("not ok" if errs else "ok", "module-" + name, "; ".join(errs) if errs else what)

    res = {}
    rpath = os.path.join(rundir, "result.txt")
    if os.path.exists(rpath):
        for line in open(rpath, encoding="utf-8", errors="replace"):
            w = line.split()
            if len(w) == 2:
                res[w[0]] = w[1]
    errs = []
    if res.get("cycles") != "%d/%d" % (cycles, cycles):
        errs.append("cycles %s" % res.get("cycles", "?"))
    if res.get("stale_probes") != "0":
        errs.append("stale probes %s" % res.get("stale_probes", "?"))
    if res.get("debugfs_left") != "0":
        errs.append("debugfs directory left behind")
    if res.get("kmemleak", "off") not in ("off", "0"):
        errs.append("kmemleak: %s unreferenced objects" % res["kmemleak"])
    add("not ok" if errs else "ok", "module-load-unload",
        "; ".join(errs) if errs else "%d cycles while scx_simple ran, no stale probe, kmemleak %s"
        % (cycles, res.get("kmemleak", "off")))

    held = res.get("open_across_unload", "?")
    add("ok" if held == "refused-then-unloaded" else "not ok", "module-open-across-unload",
        "rmmod refused while the figures file was open, and unloaded once it was closed"
        if held == "refused-then-unloaded" else
        "figures file held open across rmmod: %s (the module must not go while open)" % held)

    # The module's trace stop, armed for dsp_loop_all_cpus: the top-level
    # buffer must have stopped with the module's line last, and context
    # switches before it.
    stop, switches = res.get("trace_stop", "?"), num(res, "trace_switches")
    ok = stop == "marker-last" and switches > 0
    add("ok" if ok else "not ok", "module-trace-stop",
        "the first break-out stopped the trace, its line last after %d context switches" % switches
        if ok else "trace stop: %s, %d context switches (see trace-breakout.txt)" % (stop, switches))

    with open(os.path.join(rundir, "summary.txt"), "w", encoding="utf-8") as f:
        f.write("".join(l + "\n" for l in lines))
    for l in lines:
        print("    " + l, file=sys.stderr)
    return 1 if "not ok" in out else 0


if __name__ == "__main__":
    sys.exit(ktap.run_main(lambda _argv: main(), sys.argv[1:]))
