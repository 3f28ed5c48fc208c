#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarise a make bench run.

  benchstat.py BENCHDIR HZ

Reads overhead.txt, recovery.txt and figures-*.txt from BENCHDIR, prints
the three tables, and writes overhead.csv, recovery.csv, windows.csv,
bench.png (if matplotlib is there) and summary.txt (for the cover letter).
"""
import collections
import csv
import os
import math
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ktap  # noqa: E402 - the harness's parsers

def kv_lines(path):
    rows = []
    if not os.path.exists(path):
        return rows
    for line in open(path, encoding="utf-8", errors="replace"):
        kv = ktap.keyvals(line.split())
        if kv:
            rows.append(kv)
    return rows


def fnum(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


# Two-sided 95% quantiles of Student's t by degrees of freedom (beyond 20,
# that of 20: slightly wide, never narrow).
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086]


def ratio_ci(ratios):
    """Geometric mean of the pair ratios and its 95% t-interval (on logs)."""
    logs = [math.log(r) for r in ratios]
    m = statistics.mean(logs)
    if len(logs) < 2:
        return math.exp(m), None, None
    half = T975[min(len(logs) - 1, len(T975)) - 1] * statistics.stdev(logs) / math.sqrt(len(logs))
    return math.exp(m), math.exp(m - half), math.exp(m + half)


def cv(vals):
    return statistics.stdev(vals) / statistics.mean(vals) if len(vals) > 1 else None


def pct(x):
    return "%6.2f%%" % (100 * x) if x is not None else "%7s" % "-"


def overhead(d, out):
    rows = kv_lines(os.path.join(d, "overhead.txt"))
    icount = ktap.read_if_any(os.path.join(d, "icount")).strip() or "wallclock"
    # (sched, workload) -> pair -> kernel -> [values]
    data = collections.defaultdict(lambda: collections.defaultdict(lambda: collections.defaultdict(list)))
    for r in rows:
        v = fnum(r.get("value"))
        if v is not None and v > 0:
            data[(r["sched"], r["workload"])][r["pair"]][r["kernel"]].append(v)
    res = []
    with open(os.path.join(d, "overhead.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sched", "workload", "pair", "patched_median", "baseline_median", "ratio"])
        for key in sorted(data):
            ratios, boots, within = [], collections.defaultdict(list), []
            for pair, ks in sorted(data[key].items(), key=lambda x: int(x[0])):
                for k, vs in ks.items():
                    boots[k].append(statistics.median(vs))
                    if cv(vs) is not None:
                        within.append(cv(vs))
                if ks.get("patched") and ks.get("baseline"):
                    p, b = statistics.median(ks["patched"]), statistics.median(ks["baseline"])
                    ratios.append(p / b)
                    w.writerow([key[0], key[1], pair, p, b, p / b])
            if not ratios:
                continue
            gm, lo, hi = ratio_ci(ratios)
            floor = max((c for c in (cv(boots["patched"]), cv(boots["baseline"])) if c is not None),
                        default=None)
            res.append((key, len(ratios), gm, lo, hi, floor,
                        statistics.mean(within) if within else None))
    against = ktap.read_if_any(os.path.join(d, "against")).strip() or "baseline"
    if against == "patched":
        out.append("0. A/A run (BENCH_AGAINST=patched): the 'baseline' side booted the patched")
        out.append("   kernel too, so every ratio below is the method's noise, not an overhead.")
        out.append("")
    if icount == "wallclock":
        out.append("1. Overhead on the normal path: patched/baseline of the CPU time of a run")
        out.append("   (perf's task-clock) by the host's wall-clock (below 1: the patched")
        out.append("   kernel was faster)")
    else:
        out.append("1. Overhead on the normal path: patched/baseline of the CPU time of a run")
        out.append("   (perf's task-clock of the benchmark and its children) under QEMU -icount")
        out.append("   shift=%s: the guest's clock advances 2^shift ns per instruction executed," % icount)
        out.append("   so CPU time is instructions, kernel and user; below 1: the patched")
        out.append("   kernel took fewer")
    out.append("   (messaging: 4 x 40 tasks x 25 loops; pipe: 5000 round trips; per boot the")
    out.append("   median of BENCH_ITER runs; ratio: geometric mean over pairs of boots, with")
    out.append("   its 95% t-interval)")
    out.append("")
    out.append("   %-11s %-10s %5s %7s %15s %8s %8s %8s" % ("scheduler", "workload", "pairs", "ratio",
                                                       "95% CI", "+/-", "boot CV", "run CV"))
    for (s, wl), n, gm, lo, hi, floor, within in res:
        ci = "%7.4f..%-7.4f" % (lo, hi) if lo else "%15s" % "-"
        halfw = max(gm - lo, hi - gm) / gm if lo else None
        out.append("   %-11s %-10s %5d %7.4f %15s %8s %8s %8s" % (s, wl, n, gm, ci, pct(halfw),
                                                             pct(floor), pct(within)))
    out.append("")
    if res and all(r[3] for r in res):
        widest = max(max(gm - lo, hi - gm) / gm for _, _, gm, lo, hi, _, _ in res)
        inside = all(lo <= 1.0 <= hi for _, _, _, lo, hi, _, _ in res)
        out.append("   The widest 95%% CI is +/-%.2f%% (target: +/-1%%); they %s 1.0000."
                   % (100 * widest, "all contain" if inside else "do not all contain"))
        out.append("   boot CV: spread of one boot's median across boots of the same kernel (the")
        out.append("   noise floor of one pair); run CV: spread of the runs within one boot.")
    out.append("")
    return [r[:6] for r in res]


def recovery(d, out):
    rows = kv_lines(os.path.join(d, "recovery.txt"))
    groups = collections.defaultdict(list)
    with open(os.path.join(d, "recovery.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["vcpus", "timeout_ms", "eject_ms", "ratio"])
        for r in rows:
            t, e = fnum(r.get("timeout_ms")), fnum(r.get("eject_ms"))
            if t and e is not None:
                groups[(int(r["vcpus"]), int(t))].append(e / t)
                w.writerow([r["vcpus"], int(t), int(e), e / t])
    out.append("2. Recovery: arming the loop to the scheduler's ejection, / timeout_ms")
    out.append("   Bound from the code: a task is stalled once runnable for timeout_ms, and")
    out.append("   the watchdog looks every timeout_ms / 2, so ejection comes at most")
    out.append("   1.5 x timeout_ms after the victim last became runnable (plus a few")
    out.append("   jiffies and the exit path). The baseline never recovers: it freezes.")
    out.append("")
    out.append("   %5s %10s %4s %7s %7s %7s %s" % ("vCPUs", "timeout_ms", "runs", "min", "median",
                                               "max", "above 1.5"))
    above_all = 0
    for (c, t), rs in sorted(groups.items()):
        above = sum(1 for x in rs if x > 1.5 + 0.02)
        above_all += above
        out.append("   %5d %10d %4d %7.2f %7.2f %7.2f %d" % (c, t, len(rs), min(rs),
                                                         statistics.median(rs), max(rs), above))
    out.append("")
    return groups, above_all


def windows(d, hz, out):
    per = []
    for fn in sorted(os.listdir(d)):
        if not fn.startswith("figures-"):
            continue
        cpus = fn[len("figures-"):].split("cpu")[0]
        for run, b in ktap.module_blocks(ktap.read(os.path.join(d, fn))).items():
            if "total" in b or "window" in b:
                r = {"vcpus": cpus, "run": run}
                r.update(b.get("total", {}))
                r.update({"win_" + k: v for k, v in b.get("window", {}).items()})
                per.append(r)
    with open(os.path.join(d, "windows.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["vcpus", "run", "breakouts", "win_p50_ns", "win_p99_ns", "win_max_ns",
                    "lat_p50_ns", "lat_p99_ns", "lat_max_ns"])
        for r in per:
            w.writerow([r["vcpus"], r["run"], r.get("breakouts"), r.get("win_p50_ns"),
                        r.get("win_p99_ns"), r.get("win_max_ns"), r.get("lat_p50_ns"),
                        r.get("lat_p99_ns"), r.get("lat_max_ns")])
    tick_us = 1e6 / hz if hz else 0
    out.append("3. Per break-out, from the Rust module (log2-slot percentiles, us):")
    out.append("   IRQs-off window = balance_scx() entry to return of a break-out invocation;")
    out.append("   latency = break-out to the next balance_scx() on that CPU.")
    out.append("")
    out.append("   %5s %5s %10s %10s %10s %10s %10s %10s" % ("vCPUs", "runs", "win p50", "win p99",
                                                       "win max", "lat p50", "lat p99", "lat max"))
    summary = {}
    for c in sorted({r["vcpus"] for r in per}):
        rs = [r for r in per if r["vcpus"] == c and fnum(r.get("win_max_ns"))]
        if not rs:
            continue

        def med(k):
            return statistics.median(fnum(r.get(k)) or 0 for r in rs) / 1000

        def mx(k):
            return max(fnum(r.get(k)) or 0 for r in rs) / 1000
        vals = (med("win_p50_ns"), med("win_p99_ns"), mx("win_max_ns"),
                med("lat_p50_ns"), med("lat_p99_ns"), mx("lat_max_ns"))
        summary[c] = vals
        out.append("   %5s %5d %10.1f %10.1f %10.1f %10.1f %10.1f %10.1f" % ((c, len(rs)) + vals))
    out.append("")
    if tick_us:
        out.append("   The tick period of this config (HZ=%d) is %.0f us." % (hz, tick_us))
    out.append("   p50/p99 are medians over runs, max the largest of any run. TCG runs far")
    out.append("   slower than hardware, so these are upper bounds for real machines.")
    out.append("")
    return per, summary


def plot(d, ovh, rec, per):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.5))
    if ovh:
        labels = ["%s\n%s" % k for k, *_ in ovh]
        meds = [m for _, _, m, _, _, _ in ovh]
        # One pair has no interval: no error bar.
        errs = [[m - lo if lo else 0 for _, _, m, lo, _, _ in ovh],
                [hi - m if hi else 0 for _, _, m, _, hi, _ in ovh]]
        ax[0].errorbar(range(len(ovh)), meds, yerr=errs, fmt="o", capsize=4)
        ax[0].axhline(1.0, color="grey", lw=0.8)
        ax[0].set_xticks(range(len(ovh)), labels, fontsize=8)
    ax[0].set_title("patched/baseline (geometric mean, 95% CI)")
    for (c, t), rs in sorted(rec.items()):
        ax[1].scatter([t] * len(rs), rs, s=12, label="%d vCPU" % c if t == min(
            tt for cc, tt in rec if cc == c) else None, color="C0" if c == 2 else "C1")
    ax[1].axhline(1.5, color="red", lw=0.8, ls="--", label="bound 1.5")
    ax[1].set_xscale("log")
    ax[1].set_xlabel("timeout_ms")
    ax[1].set_title("ejection time / timeout_ms")
    ax[1].legend(fontsize=8)
    for i, (k, lab) in enumerate((("win_max_ns", "IRQs-off window max"),
                                  ("lat_max_ns", "reschedule latency max"))):
        vals = [fnum(r.get(k)) / 1000 for r in per if fnum(r.get(k))]
        if vals:
            ax[2].hist(vals, bins=20, alpha=0.6, label=lab)
    ax[2].set_xlabel("us (per run)")
    ax[2].set_title("per break-out, per run maxima")
    ax[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(d, "bench.png"), dpi=100)
    return True


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    d, hz = sys.argv[1], int(sys.argv[2] or 0)
    out = []
    ovh = overhead(d, out)
    rec, above = recovery(d, out)
    per, win = windows(d, hz, out)
    png = plot(d, ovh, rec, per)
    out.append("Files: %s/{overhead,recovery,windows}.csv%s" % (d, ", bench.png" if png else ""))
    print("\n".join(out))
    with open(os.path.join(d, "report.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    # A few lines for the cover letter.
    s = []
    for (sch, wl), n, med, lo, hi, _ in ovh:
        if lo:
            s.append("  overhead %s/%s: %.4f (95%% CI %.4f..%.4f, %d pairs)" % (sch, wl, med, lo, hi, n))
    for (c, t), rs in sorted(rec.items()):
        s.append("  recovery %d vCPU timeout %d ms: %.2f..%.2f x timeout (%d runs)"
                 % (c, t, min(rs), max(rs), len(rs)))
    for c, v in sorted(win.items()):
        s.append("  %s vCPU per break-out: IRQs-off p50/p99/max %.0f/%.0f/%.0f us, "
                 "reschedule p50/p99/max %.0f/%.0f/%.0f us" % ((c,) + v))
    with open(os.path.join(d, "summary.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(s) + "\n")
    return 1 if above else 0


if __name__ == "__main__":
    sys.exit(main())
