#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Fill in the cover letter git format-patch --cover-letter wrote.

  cover.py COVER OUT BASE

COVER is 0000-cover-letter.patch, OUT the results folder of the last run
(results.txt, figures.txt), BASE a one-line description of the base commit.
The subject and blurb placeholders are replaced; the shortlog, diffstat and
base-commit trailer that git wrote stay as they are.
"""
import collections
import os
import re
import statistics
import sys
import textwrap

SUBJECT = "sched_ext: Test, trace and document the ops.dispatch() loop bound"

PROBLEM = """\
A BPF scheduler whose ops.dispatch() keeps dispatching tasks that never
reach the local DSQ traps balance_one() in its retry loop, with the rq
lock held and IRQs disabled. Upstream commit 0922f54fdd15 ("sched_ext:
Make watchdog handle ops.dispatch() looping stall"), in v6.12, bounds the
loop at SCX_DSP_MAX_LOOPS rounds and has the CPU kick itself, so that the
watchdog can eject such a scheduler instead of the machine locking up.

What the bound still lacks, in 6.12 and later, is a test, a way to see it
work, and documentation; and its self-kick goes through the BPF-facing
kfunc. This series adds those, on top of 6.12.y, and the Rust kprobe
support that its second, in-kernel witness is written with:"""

PATCHES = [
    "Fix REGISTER_SCX_TEST() so that one file can register several tests.",
    "Add the dsp_loop kselftests, which trap ops.dispatch() on demand (on "
    "all CPUs, on one, and in SCX_OPS_SWITCH_PARTIAL mode) and check from "
    "fentry/fexit that every break-out comes after exactly "
    "SCX_DSP_MAX_LOOPS rounds, kicks its own CPU with no flags, that the "
    "CPU is rescheduled, and that the watchdog ejects the scheduler in "
    "time.",
    "Add a sched_ext_dispatch_loop_breakout tracepoint and a per-CPU "
    "break-out count, printed as dsp_breakouts in the debug dump, so that "
    "a dispatch loop can be told apart from other stalls.",
    "Give the core an internal scx_kick_cpu() and make scx_bpf_kick_cpu() "
    "a wrapper around it. No functional change.",
    "Document the bounded retry, why the kick is deferred rather than a "
    "resched_curr(), and how a looping scheduler shows up and is diagnosed.",
    "rust: Add the bindings and helpers a kprobe-based module needs "
    "(kprobes, debugfs, seq_file, get_kretprobe(), raw_smp_processor_id()).",
    "rust: Add Kprobe and Kretprobe, pinned, registered on initialisation "
    "and unregistered on drop, with handler traits. The tests' Rust module "
    "(not part of this series) uses them to watch the loop from inside the "
    "kernel.",
]


def results(out):
    """(status, name, comment) of every result in results.txt."""
    rows = []
    path = os.path.join(out, "results.txt")
    if not os.path.exists(path):
        return rows
    for line in open(path, encoding="utf-8", errors="replace"):
        m = re.match(r"^(ok|not ok|skip)\t([^\t]+)\t?(.*)$", line.rstrip("\n"))
        if m:
            rows.append(m.groups())
    return rows


def figures(out):
    """{(test, cpus): [dict per LOOPGUARD line]} from figures.txt."""
    figs = collections.defaultdict(list)
    path = os.path.join(out, "figures.txt")
    if not os.path.exists(path):
        return figs
    for line in open(path, encoding="utf-8", errors="replace"):
        kv = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
        if "test" in kv:
            figs[(kv["test"], kv.get("cpus", "?"))].append(kv)
    return figs


def spread(rows, key):
    vals = sorted(int(r[key]) for r in rows if r.get(key, "").lstrip("-").isdigit())
    if not vals:
        return "-"
    if len(vals) == 1:
        return str(vals[0])
    return "%d/%d/%d" % (vals[0], statistics.median_low(vals), vals[-1])


def testing(out):
    rows = results(out)
    if not rows:
        return ["No 'make test' results were found in %s; run 'make test'" % out,
                "and then 'make series' to quote them here."]
    lines = []
    groups = collections.OrderedDict()
    for st, name, _ in rows:
        g = groups.setdefault(name.split("/")[0], [0, 0])
        g[0 if st == "ok" else 1] += 1
    passed = sum(g[0] for g in groups.values())
    failed = sum(g[1] for g in groups.values())
    lines.append("'make test' (QEMU TCG guests, 2 and 1 vCPUs): %d passed, %d failed." %
                 (passed, failed))
    lines.append("")
    for g, (p, f) in groups.items():
        lines.append("  %-26s %3d passed, %d failed" % (g, p, f))
    lines.append("")

    figs = figures(out)
    if figs:
        lines.append("dsp_loop figures on the patched kernel (min/median/max over runs;")
        lines.append("latency = break-out to the next balance on that CPU):")
        lines.append("")
        lines.append("  %-18s %4s %4s %-18s %-9s %-15s %-14s %s" %
                     ("test", "cpus", "runs", "break-outs", "max", "eject ms",
                      "lat p99 us", "lat max us"))
        for (test, cpus), rs in sorted(figs.items()):
            lines.append("  %-18s %4s %4d %-18s %-9s %-15s %-14s %s" %
                         (test, cpus, len(rs), spread(rs, "breakouts"),
                          spread(rs, "max_rounds"), spread(rs, "eject_ms"),
                          spread(rs, "lat_p99_us"), spread(rs, "lat_max_us")))
        lines.append("")
        dsp = [s for s, n, _ in rows if "/dsp_loop" in n and not n.startswith("baseline")]
        if dsp and all(s == "ok" for s in dsp):
            lines.append("All %d dsp_loop runs passed, which means: self-kicks = break-outs," % len(dsp))
            lines.append("every break-out ran exactly SCX_DSP_MAX_LOOPS rounds, tracepoint")
            lines.append("hits = break-outs seen by fentry/fexit, dsp_breakouts in the dump")
            lines.append("> 0, and the scheduler was ejected within 3 x timeout_ms + 2 s.")
            lines.append("")

    base = [(s, n, c) for s, n, c in rows if n.startswith("baseline-")]
    if base:
        lines.append("Negative control, the same tests on this base with 0922f54fdd15")
        lines.append("reverted:")
        lines.append("")
        for s, n, c in base:
            lines.append("  %s %s: %s" % (s, n, c))
        lines.append("")

    mod = os.path.join(out, "runs", "rust-patched", "summary.txt")
    if os.path.exists(mod):
        lines.append("The Rust module (kprobes on balance_scx(), flush_dispatch_buf(),")
        lines.append("scx_bpf_consume() and scx_kick_cpu()), same guest, its own counts;")
        lines.append("win = IRQs-off time of a break-out invocation:")
        lines.append("")
        for l in open(mod, encoding="utf-8"):
            kv = dict(w.split("=", 1) for w in l.split()[1:] if "=" in w)
            lines.append("  %-17s break-outs %-6s max rounds %-3s resched %-6s lat p50/p99/max %s/%s/%s us,"
                         % (kv.get("scenario"), kv.get("breakouts"), kv.get("rounds_max"),
                            kv.get("resched"), kv.get("lat_p50_us"), kv.get("lat_p99_us"),
                            kv.get("lat_max_us")))
            lines.append("  %-17s win p50/p99/max %s/%s/%s us" % ("", kv.get("win_p50_us"),
                                                                 kv.get("win_p99_us"),
                                                                 kv.get("win_max_us")))
        lines.append("")

    lines.append("Below, patches are numbered as in the harness, where 1 is 0922f54fdd15")
    lines.append("and 2..8 are the patches of this series.")
    lines.append("")
    for prefix, title in (("bisect/", "Bisection, each prefix built with CONFIG_WERROR=y:"),
                          ("docs/", "Documentation:"),
                          ("checkpatch/", "scripts/checkpatch.pl --strict:")):
        sel = [(s, n, c) for s, n, c in rows if n.startswith(prefix)]
        if not sel:
            continue
        lines.append(title)
        lines.append("")
        for s, n, c in sel:
            lines.append("  %s %s: %s" % (s, n[len(prefix):], c))
        lines.append("")
    return lines


def blurb(out, base, nr_patches):
    text = [PROBLEM, ""]
    if nr_patches == len(PATCHES):
        for i, p in enumerate(PATCHES, 1):
            text += textwrap.wrap(p, 68, initial_indent=" %d. " % i,
                                  subsequent_indent="    ")
    else:
        text += ["(the patches are listed below)"]
    text += [""]
    text += textwrap.wrap(
        "The bound itself is unchanged and matches 0922f54fdd15: the harness "
        "that produced the figures below carries that commit as the first "
        "patch of its series and checks that applying it to the reverted "
        "base gives this base back exactly. The reverted base is the negative "
        "control.", 72)
    text += [""]
    text += textwrap.wrap("Base: v6.12.117 as Debian ships it (%s), imported as "
                          "one commit." % re.sub(r"^scx-loopguard base: ", "", base), 72)
    text += [""]
    text += testing(out)
    bench = os.path.join(out, "bench", "summary.txt")
    mode = os.path.join(out, "bench", "mode")
    if os.path.exists(bench) and os.path.exists(mode) and open(mode).read().strip() == "full":
        text += ["make bench (QEMU TCG; see the tables for what TCG lets one claim):", ""]
        text += [l.rstrip("\n") for l in open(bench, encoding="utf-8")]
        text += [""]
    text += ["Link: https://lore.kernel.org/r/20240618212056.2833381-20-tj@kernel.org"]
    return "\n".join(text).rstrip() + "\n"


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    cover, out, base = sys.argv[1:]
    s = open(cover, encoding="utf-8").read()
    if "*** SUBJECT HERE ***" not in s or "*** BLURB HERE ***" not in s:
        sys.exit("%s: no placeholders to fill" % cover)
    s = s.replace("*** SUBJECT HERE ***", SUBJECT)
    nr_patches = len([f for f in os.listdir(os.path.dirname(os.path.abspath(cover)))
                      if re.match(r"^\d{4}-.*\.patch$", f) and not f.startswith("0000-")])
    s = s.replace("*** BLURB HERE ***", blurb(out, base, nr_patches).rstrip("\n"))
    open(cover, "w", encoding="utf-8").write(s)


if __name__ == "__main__":
    main()
