#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Fill in the cover letter git format-patch --cover-letter wrote.

  cover.py COVER BASE OUT TEXT MAINTAINERS BASEDESC [KIND]

COVER is 0000-cover-letter.patch of base BASE (6.12 or 7.3), OUT the top
results folder of the run (results.txt, BASE/figures.txt, BASE/runs/),
TEXT the series' own cover text (kernel/BASE/cover.txt: the subject line, a
blank line, then the body), MAINTAINERS what scripts/get_maintainer.pl said
for each patch (a file name line, then its list), BASEDESC the subject of
the base commit. With KIND, the series is one of their own: "rust" the
Rust one (the @rust entries of kernel/BASE/series), any other a fix
(@fix=KIND, whose reproducer's results are named KIND-fix/...), and only
its own results are quoted. The
subject and blurb placeholders are replaced; the
shortlog, diffstat and base-commit trailer that git wrote stay as they are.
"""
import collections
import glob
import os
import re
import statistics
import sys
import textwrap

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ktap  # noqa: E402 - the harness's parsers

def results(out):
    """(status, name, comment) of every result in results.txt."""
    return ktap.load(os.path.join(out, "results.txt"))


def spread(vals):
    vals = sorted(vals)
    if not vals:
        return "-"
    if len(vals) == 1:
        return str(vals[0])
    return "%d/%d/%d" % (vals[0], statistics.median_low(vals), vals[-1])


def witness(out, base):
    """{(test, cpus): [dict per LOOPGUARD line]} of BASE."""
    figs = collections.defaultdict(list)
    path = os.path.join(out, base, "figures.txt")
    if os.path.exists(path):
        for kv in ktap.figures(ktap.read(path)):
            if "test" in kv:
                figs[(kv["test"], kv.get("cpus", "?"))].append(kv)
    return figs


def upstream_tests(base):
    """The names of the tests the series adds on BASE (the .name of each
    struct scx_test in the repo folder its test patch copies in)."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    folder = os.path.join(here, "selftests", base)
    names = []
    for f in sorted(glob.glob(os.path.join(folder, "*.c"))):
        if not f.endswith(".bpf.c"):
            names += re.findall(r'^\s*\.name\s*=\s*"([^"]+)"', ktap.read(f), re.M)
    return names


def testing(out, base):
    rows = results(out)
    if not rows:
        return ["This export was not tested by scx-loopguard in the same run, so",
                "no results are quoted."]
    lines = []
    bases = collections.OrderedDict()
    for st, name, _ in rows:
        b = name.split("/")[0]
        b = b if b[:1].isdigit() else "harness"
        g = bases.setdefault(b, [0, 0, 0])
        g[{"ok": 0, "not ok": 1}.get(st, 2)] += 1
    # How the guests ran, from what the watcher wrote of each.
    accels = sorted({ktap.outcome_of(f).get("accel", "?").split("-")[0].upper()
                     for f in glob.glob(os.path.join(out, "*", "logs", "*.outcome"))})
    lines.append("Tested with scx-loopguard in QEMU (%s) guests, in one run:" % ("/".join(accels) or "TCG"))
    lines.append("")
    for b, (p, f, sk) in bases.items():
        what = "Linux %s" % b if b[0].isdigit() else "the harness' own checks"
        lines.append("  %-34s %3d passed, %d failed%s" % (what, p, f, ", %d skipped" % sk if sk else ""))
    lines.append("")
    for b in bases:
        if not b[0].isdigit():
            continue
        lines += figures_of(out, b, rows)
    return lines


def figures_of(out, base, rows):
    lines = []
    mine = [(s, n[len(base) + 1:], c) for s, n, c in rows if n.startswith(base + "/")]
    tests = upstream_tests(base)
    runs = collections.OrderedDict()
    for s, n, c in mine:
        run, _, test = n.rpartition("/")
        if test in tests and not run.startswith("baseline"):
            runs.setdefault(run, []).append("%s %s" % (test, s))
    if runs:
        lines.append("Linux %s, the tests of this series, per guest:" % base)
        for run, rs in runs.items():
            lines += textwrap.wrap("  %s: %s" % (run, ", ".join(rs)), 72, subsequent_indent="      ")
        lines.append("")
    figs = witness(out, base)
    if figs:
        lines.append("Linux %s, the harness' per-invocation witness (min/median/max):" % base)
        lines.append("  %-18s %4s %4s %-18s %-9s %-15s %-13s %s" %
                     ("test", "cpus", "runs", "break-outs", "rounds", "eject ms",
                      "resched p99 us", "max us"))
        for (test, cpus), rs in sorted(figs.items()):
            def col(k):
                return spread([int(r[k]) for r in rs if r.get(k, "").isdigit()])
            lines.append("  %-18s %4s %4d %-18s %-9s %-15s %-13s %s" %
                         (test, cpus, len(rs), col("breakouts"), col("max_rounds"), col("eject_ms"),
                          col("lat_p99_us"), col("lat_max_us")))
        lines.append("")
    # The census of production schedulers ('make census'), when it ran
    # into the same results folder.
    census = os.path.join(out, base, "census", "census.txt")
    if os.path.exists(census):
        lines.append("Linux %s, production sched_ext schedulers under load (make census):" % base)
        lines += ["  " + l.rstrip() for l in ktap.read(census).splitlines()]
        lines.append("")
    neg = [(s, n, c) for s, n, c in mine if n.startswith("baseline-")]
    if neg:
        lines.append("Linux %s with the loop bound reverted (the negative control):" % base)
        for s, n, c in neg:
            lines.append("  %s %s: %s" % (s, n, c))
        lines.append("")
    for prefix, title in (("checkpatch/", "scripts/checkpatch.pl --strict"),
                          ("bisect/", "each prefix built (CONFIG_WERROR=y)")):
        sel = [(s, n, c) for s, n, c in mine if n.startswith(prefix)]
        if sel:
            bad = [n for s, n, _ in sel if s != "ok"]
            lines.append("Linux %s, %s: %d of %d ok%s" % (base, title, len(sel) - len(bad), len(sel),
                                                          (" (not ok: %s)" % ", ".join(bad)) if bad else ""))
    lines.append("")
    return lines


# The results that are the Rust series' own, by name after "BASE/".
RUST_RESULTS = re.compile(r"^(rust/|rust-series/|checkpatch/rust/|series/git-am-rust$)")


UNTESTED = ["This export was not tested by scx-loopguard in the same run, so",
            "no results are quoted."]


def own_results(out, base, pattern):
    """(status, name, comment) of this base's results whose name after
    "BASE/" matches PATTERN: a series of its own quotes only those."""
    rows = [(s, n[len(base) + 1:], c) for s, n, c in results(out) if n.startswith(base + "/")]
    return [(s, n, c) for s, n, c in rows if pattern.match(n)]


def testing_rust(out, base):
    rows = own_results(out, base, RUST_RESULTS)
    if not rows:
        return UNTESTED
    lines = ["Tested with scx-loopguard on Linux %s (x86_64, QEMU TCG guests), in one" % base,
             "run: the doctests ran under KUnit (CONFIG_RUST_KERNEL_DOCTESTS=y,",
             "kunit.enable=1), the sample was built from samples/rust and loaded.", ""]
    for s, n, c in rows:
        lines += textwrap.wrap("  %s %s%s" % (s, n, ": " + c if c else ""), 72,
                               subsequent_indent="      ", break_on_hyphens=False)
    return lines + [""]


def testing_fix(out, base, kind):
    own = re.compile(r"^(%s-fix/|checkpatch/(no-tree/)?%s/|series/git-am-%s$)" % ((re.escape(kind),) * 3))
    rows = own_results(out, base, own)
    if not rows:
        return UNTESTED
    lines = textwrap.wrap("Tested on Linux %s (x86_64, in QEMU) with a reproducer module, "
                          "without the fix and with it:" % base, 72) + [""]
    for s, n, c in rows:
        if n.startswith(kind + "-fix/"):
            lines += textwrap.wrap("  %s: %s" % (n.split("/", 1)[1], c), 72,
                                   subsequent_indent="    ", break_on_hyphens=False)
    bad = [n for s, n, _ in rows if s != "ok"]
    lines += [""] + textwrap.wrap("checkpatch.pl --strict, git am onto the base: %s." %
                                  ("clean" if not bad else "not ok: " + ", ".join(bad)), 72)
    return lines + [""]


def recipients(path):
    """(patch file name, its recipients as one line) of each patch in
    MAINTAINERS (export.sh's: a file name line, then its list)."""
    rows = []
    if not os.path.exists(path):
        return rows
    cur = None
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        if re.match(r"^\d{4}-.*\.patch$", line):
            cur = line
        elif cur and line:
            rows.append((cur, line))
    return rows


def maintainers(path):
    lines = []
    for patch, who in recipients(path):
        lines += textwrap.wrap("%s: %s" % (patch[:4], who), 72, subsequent_indent="      ",
                               break_on_hyphens=False, break_long_words=False)
    return lines


def main():
    if len(sys.argv) not in (7, 8) or not re.fullmatch(r"[a-z0-9]+", (sys.argv[7:] or ["x"])[0]):
        sys.exit(__doc__)
    cover, base, out, text, maint, basedesc = sys.argv[1:7]
    kind = (sys.argv[7:] or [""])[0]
    s = open(cover, encoding="utf-8").read()
    own = open(text, encoding="utf-8").read().split("\n")
    subject, body = own[0].strip(), "\n".join(own[2:]).rstrip()
    if "*** SUBJECT HERE ***" not in s or "*** BLURB HERE ***" not in s:
        # A fix of one patch goes out as one mail: its notes below "---".
        if not kind or kind == "rust" or "\n---\n" not in s:
            sys.exit("%s: no placeholders to fill" % cover)
        notes = [body, ""] + textwrap.wrap(
            "Base: %s." % re.sub(r"^scx-loopguard base: ", "", basedesc), 72) + [""]
        notes += testing_fix(out, base, kind)
        i = s.index("\n---\n") + 5
        s = s[:i] + "\n".join(notes).rstrip() + "\n\n" + s[i:]
        # Who gets it, as mail headers that git send-email reads.
        cc = [a.strip() for _, who in recipients(maint)
              for a in re.split(r",\s+(?=[^,]*[<@])", who) if "@" in a]
        if cc:
            h = s.index("\n\n")
            s = s[:h] + "".join("\nCc: %s" % a for a in cc) + s[h:]
        open(cover, "w", encoding="utf-8").write(s)
        return
    blurb = [body, ""]
    blurb += textwrap.wrap("Base: %s, imported as one commit, so the base-commit "
                           "below names that import." % re.sub(r"^scx-loopguard base: ", "", basedesc), 72)
    blurb += [""]
    if kind == "rust":
        blurb += testing_rust(out, base)
    elif kind:
        blurb += testing_fix(out, base, kind)
    else:
        blurb += testing(out, base)
    who = maintainers(maint)
    if who:
        blurb += ["Recipients, per patch (scripts/get_maintainer.pl):", ""] + who + [""]
    blurb += textwrap.wrap("The series, its tests and the harness that ran them are "
                           "scx-loopguard's.", 72)
    s = s.replace("*** SUBJECT HERE ***", subject)
    s = s.replace("*** BLURB HERE ***", "\n".join(blurb).rstrip())
    open(cover, "w", encoding="utf-8").write(s)


if __name__ == "__main__":
    main()
