# SPDX-License-Identifier: GPL-2.0
"""Unit tests of every verdict of tools/lib/ktap.py, run by pytest.

Each test_NAME tests the verdict function NAME: at least one input it must
pass and one it must fail. tools/tests/break_verdicts.py breaks each
verdict in turn (always ok, then never ok) and checks that its test fails.
LG_KTAP=PATH tests another copy of ktap.py (the broken ones).
"""
import importlib.util
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "testdata")


def _load():
    path = os.environ.get("LG_KTAP") or os.path.join(HERE, "..", "lib", "ktap.py")
    spec = importlib.util.spec_from_file_location("ktap", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


k = _load()


def data(name):
    with open(os.path.join(DATA, name), errors="replace") as f:
        return f.read()


def outcome(what, **kv):
    return dict(outcome=what, **kv)


RUNNER_OK = "TEST: dispatch_loop\nok 1 dispatch_loop #\nRESULTS: 1 passed\n"
RUNNER_FAIL = ("TEST: dispatch_loop\nERR: dispatch_loop.c:10\nNot ejected within 10000 ms\n"
               "not ok 1 dispatch_loop #\nRESULTS: 0 passed\n")
RUNNER_SKIP = "TEST: dispatch_loop\nok 1 dispatch_loop # SKIP no attach point\n"


SPLATS = ["BUG: kernel NULL pointer dereference, address: 0000000000000008",
          "watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [runner:123]",
          "INFO: task kworker/0:1:42 blocked for more than 30 seconds.",
          "Kernel panic - not syncing: Fatal exception",
          "Oops: general protection fault, probably for non-canonical address",
          "unreferenced object 0xffff888003a1c000 (size 64):",
          "WARNING: CPU: 1 PID: 42 at kernel/sched/ext.c:2873 balance_one+0x1a/0x2b0",
          "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:",
          "Oops: int3: 0000 [#1] PREEMPT SMP NOPTI"]
# What a healthy run prints must not count as a splat.
BENIGN = ['sched_ext: BPF scheduler "dsp_loop" disabled (runnable task stall)',
          "sched_ext: dsp_loop: runner[210] failed to run for 1.453s",
          "clocksource: Long readout interval, skipping watchdog check",
          "virtme-init: script returned {0}"]


def test_splat_lines():
    # A clean console has sched_ext's own stall lines: the expected outcome
    # of a stall test, not a splat.
    clean = data("console-clean.log")
    assert "runnable task stall" in clean and k.splat_lines(clean) == []
    # Recorded from a real run (single-threaded TCG): all 24 selftests
    # printed "ok", yet both vCPUs reported soft lockups.
    lockup = data("console-lockup-all-ok.log")
    assert [s for s, _ in k.parse_runner(lockup)].count("ok") == 24
    assert any("soft lockup - CPU#1 stuck for 75s" in l for l in k.splat_lines(lockup))
    for line in SPLATS:
        assert k.splat_lines(f"[   12.345678] {line}\n"), line
    for line in BENIGN:
        assert not k.splat_lines(f"[   12.345678] {line}\n"), line


def test_parse_runner():
    assert k.parse_runner(data("runner-mixed.txt")) == [
        ("ok", "create_dsq"), ("not ok", "dsp_local_on"), ("skip", "hotplug"),
        ("not ok", "select_cpu_vtime (no result: runner died or hung)")]
    assert k.parse_runner("") == []
    assert k.parse_runner(RUNNER_OK) == [("ok", "dispatch_loop")]
    assert k.parse_runner(RUNNER_FAIL) == [("not ok", "dispatch_loop")]
    hung = k.parse_runner("TEST: dispatch_loop\n")
    assert hung and hung[0][0] == "not ok"


@pytest.mark.parametrize("what", ["passed", "failed"])
def test_console_verdict_clean(what):
    assert k.console_verdict(outcome(what), "log")[0] == "ok"


@pytest.mark.parametrize("what", ["splat", "panic", "frozen", "hang", "no-start", "never-booted",
                                  "harness-error"])
def test_console_verdict(what):
    status, comment = k.console_verdict(outcome(what), "log")
    assert status == "not ok" and "log" in comment


@pytest.mark.parametrize("what,text,want", [
    ("frozen", "", "ok"), ("hang", "", "ok"), ("splat", "", "ok"), ("panic", "", "ok"),
    ("failed", RUNNER_FAIL, "ok"), ("failed-before-start", RUNNER_FAIL, "not ok"),
    ("passed", RUNNER_OK, "not ok"), ("passed", RUNNER_SKIP, "not ok"), ("passed", "", "not ok"),
    ("no-start", "", "not ok"), ("never-booted", "", "not ok"), ("harness-error", "", "not ok"),
])
def test_stall_verdict(what, text, want):
    # A test that failed counts only once the watcher saw its scheduler
    # enabled (started=1); before, it proves nothing.
    o = outcome("failed", started="0") if what == "failed-before-start" else outcome(what, started="1")
    assert k.stall_verdict(o, text, "dispatch_loop", 240)[0] == want


def test_module_stall_verdict():
    log = "[ 3.0] scx_loopguard_watch: watching 6 points\n"
    assert k.module_stall_verdict(outcome("frozen"), log, "", "x", 240)[0] == "ok"
    status, comment = k.module_stall_verdict(outcome("frozen"), "no module here", "", "x", 240)
    assert status == "not ok" and "did not load" in comment
    assert k.module_stall_verdict(outcome("passed"), log, RUNNER_OK, "x", 240)[0] == "not ok"


LOOPING_BLOCK = ("scenario dsp_loop_one_cpu\nprobes max_loops=32\n"
                 "total at_bound=5 breakouts=5 bound_deferred=5 tied=5 untied=0 rounds_max=32 "
                 "kicks_other_cpu=0 kicks_flagged=0 invocations=40\n"
                 "rounds_hist 1:35 32:5\nbreakout_rounds_hist 32:5\nend\n")


def looping(**change):
    b = k.module_blocks(LOOPING_BLOCK)["dsp_loop_one_cpu"]
    b["total"].update({key: str(v) for key, v in change.items()})
    return b


def test_module_scenario_verdict():
    v = k.module_scenario_verdict
    assert v(looping(), 32, True)[0] == "ok"
    # Each of the module's own checks of a looping run.
    assert v(looping(), 31, True)[0] == "not ok"
    for change in ({"at_bound": 0}, {"breakouts": 4}, {"bound_deferred": 4}, {"untied": 2}, {"tied": 0},
                   {"kicks_other_cpu": 1}):
        assert v(looping(**change), 32, True)[0] == "not ok", change
    assert v(None, 32, True)[0] == "not ok"
    # A legitimate scheduler: balance seen, no break-out, below the bound.
    legit = k.module_blocks("scenario scx_simple\ntotal invocations=9 breakouts=0 rounds_max=1\nend\n"
                            "scenario-rc scx_simple 130\n")["scx_simple"]
    assert v(legit, 32, False)[0] == "ok"
    legit["total"]["breakouts"] = "1"
    assert v(legit, 32, False)[0] == "not ok"
    assert v(looping(), 32, False)[0] == "not ok"


def test_module_cycles_verdict():
    res = {"cycles": "5/5", "stale_probes": "0", "debugfs_left": "0", "kmemleak": "0"}
    assert k.module_cycles_verdict(res, 5)[0] == "ok"
    for key, bad in (("cycles", "4/5"), ("stale_probes", "1"), ("debugfs_left", "1"), ("kmemleak", "3")):
        assert k.module_cycles_verdict(dict(res, **{key: bad}), 5)[0] == "not ok", key
    assert k.module_cycles_verdict({}, 5)[0] == "not ok"


def test_module_open_verdict():
    assert k.module_open_verdict({"open_across_unload": "refused-then-unloaded"})[0] == "ok"
    for held in ("unloaded-while-open", "refused", "no-load"):
        assert k.module_open_verdict({"open_across_unload": held})[0] == "not ok"
    assert k.module_open_verdict({})[0] == "not ok"


@pytest.mark.parametrize("stop,switches,want", [
    ("marker-last", "12", "ok"), ("marker-last", "0", "not ok"), ("running", "40", "not ok"),
    ("no-marker", "40", "not ok"), (None, None, "not ok")])
def test_module_trace_stop_verdict(stop, switches, want):
    # ok only if the buffer stopped with the module's line last, and
    # context switches before it.
    res = {} if stop is None else {"trace_stop": stop, "trace_switches": switches}
    assert k.module_trace_stop_verdict(res)[0] == want


def test_module_mutant_report():
    # A guest where the module did not load proves nothing of the module
    # (mutants.sh then calls the mutant unknown); figures its own checks
    # reject are named, and a test without figures is said.
    blocks = k.module_blocks(LOOPING_BLOCK)
    assert k.module_mutant_report("", blocks, 32, ["dsp_loop_one_cpu"]) == (
        False, "the module did not load (no record)")
    assert k.module_mutant_report("module insmod failed", blocks, 32, ["dsp_loop_one_cpu"])[0] is False
    assert k.module_mutant_report("module loaded", blocks, 32, ["dsp_loop_one_cpu"]) == (
        True, "sees nothing wrong in dsp_loop_one_cpu")
    blocks["dsp_loop_one_cpu"]["total"]["untied"] = "2"
    loaded, text = k.module_mutant_report("module loaded", blocks, 32, ["dsp_loop_one_cpu", "dsp_loop_all_cpus"])
    assert loaded and text.startswith("flags dsp_loop_one_cpu (") and text.endswith(
        "; no figures for dsp_loop_all_cpus")


CENSUS_LINES = """\
CENSUS sched=scx_a workload=messaging cpus=2 loaded=yes state_after=enabled workload_rc=0 rc=0 kernel_breakouts=0
CENSUS sched=scx_b workload=messaging cpus=2 loaded=yes state_after=enabled workload_rc=0 rc=0 kernel_breakouts=3
CENSUS sched=scx_c workload=messaging cpus=2 loaded=no rc=1
CENSUS sched=scx_d workload=messaging cpus=2 loaded=yes state_after=enabled workload_rc=0 rc=0 kernel_breakouts=0
CENSUS sched=scx_a workload=stress cpus=2 loaded=yes state_after=enabled workload_rc=1 rc=0 kernel_breakouts=0
"""
CENSUS_FIGURES = """\
scenario scx_a/messaging
total invocations=500 rounds_max=2 at_bound=0 breakouts=0
rounds_hist 1:480 2:20
end
scenario scx_b/messaging
total invocations=500 rounds_max=32 at_bound=3 breakouts=3
rounds_hist 1:497 32:3
end
"""


def test_census(tmp_path):
    # A scheduler that ran is ok, with a break-out as a finding; one that
    # did not load is a skip with its error (a failure in make test's strict
    # smoke run); missing figures or no census line at all fail; the table
    # and the CSV are written.
    d = tmp_path / "7.3" / "runs" / "census-2cpu"
    d.mkdir(parents=True)
    (tmp_path / "7.3" / "logs").mkdir()
    (tmp_path / "7.3" / "logs" / "census-2cpu.outcome").write_text(
        "outcome=passed exit=0 boot_guest=3 boot_host=5 secs=99 accel=tcg cpus=2 kernel=/k\n")
    (d / "census.txt").write_text(CENSUS_LINES)
    (d / "scx_c.txt").write_text("INFO libbpf: struct_ops c: member priv not found in kernel, skipping it\n"
                                 "WARN libbpf: failed to open system Kconfig\nError: Failed to load BPF program\n")
    (d / "figures.txt").write_text(CENSUS_FIGURES)
    (d / "trace-scx_b-messaging.txt").write_text("<idle>-0 [001] d..2. 12.5: breakout: cpu=1 nr_loops=32\n")
    out, r = tmp_path / "7.3" / "census", tmp_path / "r.txt"

    def run(strict):
        r.write_text("")
        rc = k.census(str(r), "census", str(out), strict, [str(d)])
        return rc, [l.split("\t") for l in r.read_text().splitlines()]

    rc, rows = run(False)
    assert rc == 1 and [(st, n) for st, n, _ in rows] == [
        ("ok", "census/scx_a/messaging/2cpu"), ("ok", "census/scx_b/messaging/2cpu"),
        ("skip", "census/scx_c/messaging/2cpu"), ("not ok", "census/scx_d/messaging/2cpu"),
        ("not ok", "census/scx_a/stress/2cpu")]
    assert "FINDING: one traced in " in rows[1][2] and "break-outs kernel 3, module 3" in rows[1][2]
    assert "FINDING" not in rows[0][2]
    assert rows[2][2].endswith("did not load (exit 1): failed to open system Kconfig")
    assert "the workload failed" in rows[4][2]
    assert "7.3,2,scx_b,messaging,yes,3,3,3,500,32,0,0,enabled,passed,1:497 32:3\n" in (
        out / "census.csv").read_text()
    assert (out / "census.txt").stat().st_size > 0
    assert [st for st, _, _ in run(True)[1]].count("not ok") == 3
    (d / "census.txt").write_text("")
    rc, rows = run(False)
    assert rc == 1 and [st for st, _, _ in rows] == ["not ok"]


def test_mutant_with_module():
    assert k.mutant_with_module("killed", "x failed", True, "sees nothing wrong") == ("killed", "x failed", None)
    assert k.mutant_with_module("survived", "x passed", True, "m") == ("survived", "x passed", None)
    # Without the module the run proves nothing of its checks: unknown,
    # and a kill without it is a failure of its own.
    assert k.mutant_with_module("killed", "x failed", False, "did not load") == (
        "unknown", "did not load", "did not load")
    assert k.mutant_with_module("survived", "x passed", False, "did not load") == ("unknown", "did not load", None)


def test_roundtrip_verdict():
    log = "[ 1.0] Linux version 7.3\nstdout-ok\nstderr-ok\n"
    assert k.roundtrip_verdict(outcome("failed", exit="3"), log, 3, ["stdout-ok", "stderr-ok"])[0] == "ok"
    assert k.roundtrip_verdict(outcome("passed", exit="0"), log, 0, ["stdout-ok"])[0] == "ok"
    assert k.roundtrip_verdict(outcome("failed", exit="1"), log, 3, ["stdout-ok"])[0] == "not ok"
    assert k.roundtrip_verdict(outcome("failed", exit="3"), "stdout-ok\n", 3, ["stdout-ok", "stderr-ok"])[0] == "not ok"
    assert k.roundtrip_verdict(outcome("failed", exit="3"), "x stdout-ok\n", 3, ["stdout-ok"])[0] == "not ok"


def test_rustdoc_verdict():
    assert k.rustdoc_verdict(0, "", "in 38s", "l")[0] == "ok"
    log = ("  RUSTDOC K rust/kernel/lib.rs\nerror: unresolved link to `Foo`\n --> rust/kernel/a.rs:3:5\n"
           "error: aborting due to 1 previous error\n")
    status, comment = k.rustdoc_verdict(2, log, "", "l")
    assert status == "not ok" and "1 errors" in comment and "unresolved link to `Foo` --> rust/kernel/a.rs" in comment
    assert k.rustdoc_verdict(2, "", "", "l")[0] == "not ok"


def test_qmap_verdict():
    ejected = "state=disabled\nsched_ext: BPF scheduler \"qmap\" disabled (runnable task stall)\n"
    assert k.qmap_verdict(outcome("passed"), ejected)[0] == "ok"
    assert k.qmap_verdict(outcome("frozen"), ejected)[0] == "not ok"
    assert k.qmap_verdict(outcome("passed"), "state=enabled\n")[0] == "not ok"


def test_bench_smoke_verdict():
    report = "1. Overhead\n...\n2. Recovery\n...\n3. Per break-out\n"
    assert k.bench_smoke_verdict(0, report, 10, "d")[0] == "ok"
    assert k.bench_smoke_verdict(1, report, 10, "d")[0] == "not ok"
    assert k.bench_smoke_verdict(0, report.replace("2. Recovery", ""), 10, "d")[0] == "not ok"
    assert k.bench_smoke_verdict(0, report, 0, "d")[0] == "not ok"


def test_tool_verdict():
    assert k.tool_verdict(0, "", "3 files") == ("ok", "3 files")
    status, comment = k.tool_verdict(1, "\nDiff in a.rs at line 3:\n", "3 files")
    assert status == "not ok" and "Diff in a.rs" in comment


CP_PATCH = """Subject: [PATCH] x

diff --git a/tools/testing/selftests/sched_ext/t.bpf.c b/tools/testing/selftests/sched_ext/t.bpf.c
new file mode 100644
index 0000000..1111111
--- /dev/null
+++ b/tools/testing/selftests/sched_ext/t.bpf.c
@@ -0,0 +1,2 @@
+const volatile u32 nr;
+int x;
diff --git a/kernel/sched/ext.c b/kernel/sched/ext.c
--- a/kernel/sched/ext.c
+++ b/kernel/sched/ext.c
@@ -1,1 +1,2 @@
+const volatile int y;
"""
CP_MAINT = "SCHED_EXT\nF:\tkernel/sched/ext*\nF:\ttools/testing/selftests/sched_ext/\n"


def cp_line(n, kind):
    return f"p.patch:{n}: WARNING:{kind}: something\n"


def test_checkpatch_exception():
    e = k.checkpatch_exception
    assert e(cp_line(3, "UNKNOWN_COMMIT_ID"), CP_PATCH, CP_MAINT, "no history") == "UNKNOWN_COMMIT_ID (no history)"
    assert e(cp_line(3, "UNKNOWN_COMMIT_ID"), CP_PATCH, CP_MAINT, "") is None
    assert e(cp_line(3, "FILE_PATH_CHANGES"), CP_PATCH, CP_MAINT, "").startswith("FILE_PATH_CHANGES")
    assert e(cp_line(3, "FILE_PATH_CHANGES"), CP_PATCH, "F:\tkernel/\n", "") is None
    assert e(cp_line(9, "VOLATILE"), CP_PATCH, CP_MAINT, "").startswith("VOLATILE")
    assert e(cp_line(15, "VOLATILE"), CP_PATCH, CP_MAINT, "") is None
    assert e(cp_line(9, "LONG_LINE"), CP_PATCH, CP_MAINT, "no history") is None
    assert e("not a checkpatch line", CP_PATCH, CP_MAINT, "no history") is None


def test_checkpatch_verdict():
    v = k.checkpatch_verdict
    assert v("", 0, CP_PATCH, CP_MAINT, "")[0] == "ok"
    # Each exception where it applies, and nowhere else.
    got = v(cp_line(3, "UNKNOWN_COMMIT_ID"), 1, CP_PATCH, CP_MAINT, "no history")
    assert got[0] == "ok" and "UNKNOWN_COMMIT_ID (no history)" in got[1]
    assert v(cp_line(3, "UNKNOWN_COMMIT_ID"), 1, CP_PATCH, CP_MAINT, "")[0] == "not ok"
    assert v(cp_line(3, "FILE_PATH_CHANGES"), 1, CP_PATCH, CP_MAINT, "")[0] == "ok"
    assert v(cp_line(3, "FILE_PATH_CHANGES"), 1, CP_PATCH, "F:\tkernel/\n", "")[0] == "not ok"
    assert v(cp_line(9, "VOLATILE"), 1, CP_PATCH, CP_MAINT, "")[0] == "ok"
    assert v(cp_line(15, "VOLATILE"), 1, CP_PATCH, CP_MAINT, "")[0] == "not ok"
    assert v(cp_line(10, "VOLATILE"), 1, CP_PATCH, CP_MAINT, "")[0] == "not ok"
    # Anything else, and a checkpatch that crashed, fail.
    bad = v(cp_line(9, "LONG_LINE") + cp_line(9, "VOLATILE"), 1, CP_PATCH, CP_MAINT, "")
    assert bad[0] == "not ok" and bad[2] == [cp_line(9, "LONG_LINE").strip()]
    assert v("", 1, CP_PATCH, CP_MAINT, "")[0] == "not ok"
    assert v("Died at checkpatch.pl line 1.\n", 255, CP_PATCH, CP_MAINT, "")[0] == "not ok"


def test_failpath_verdicts():
    tests = ["dispatch_loop"]
    rows = k.failpath_verdicts(RUNNER_FAIL, outcome("passed"), 11.0, 15, tests)
    assert [r[0] for r in rows] == ["ok", "ok"]
    # A test that passed, a runner that never reached its summary, a run over
    # its bound, a guest that froze: each a failure.
    assert k.failpath_verdicts(RUNNER_OK, outcome("passed"), 11.0, 15, tests)[0][0] == "not ok"
    no_message = RUNNER_FAIL.replace("Not ejected within 10000 ms", "Expected x == y")
    assert k.failpath_verdicts(no_message, outcome("failed"), 3.0, 15, tests)[0][0] == "not ok"
    no_summary = RUNNER_FAIL.replace("RESULTS: 0 passed\n", "")
    assert k.failpath_verdicts(no_summary, outcome("passed"), 11.0, 15, tests)[-1][0] == "not ok"
    assert k.failpath_verdicts(RUNNER_FAIL, outcome("passed"), 16.0, 15, tests)[-1][0] == "not ok"
    assert k.failpath_verdicts(RUNNER_FAIL, outcome("frozen"), 11.0, 15, tests)[-1][0] == "not ok"
    assert k.failpath_verdicts(RUNNER_FAIL, outcome("passed"), None, 15, tests)[-1][0] == "not ok"


def test_kselftest_verdicts():
    text = "ok 1 selftests: sched_ext: runner\n"
    times = "10.0 dispatch_loop\n21.0 END\n"
    rows = k.kselftest_verdicts(text, times, 45, ["dispatch_loop"])
    assert [r[0] for r in rows] == ["ok", "ok"]
    rows = k.kselftest_verdicts("not ok 1 selftests: sched_ext: runner # TIMEOUT 45 seconds\n", times, 45,
                                ["dispatch_loop"])
    assert rows[0][0] == "not ok"
    assert k.kselftest_verdicts(text, "10.0 dispatch_loop\n60.0 END\n", 45, ["dispatch_loop"])[-1][0] == "not ok"
    assert k.kselftest_verdicts(text, "", 45, ["dispatch_loop"])[-1][0] == "not ok"
    assert k.kselftest_verdicts("", times, 45, ["dispatch_loop"])[0][0] == "not ok"


def test_lockdep_verdict():
    on = "Lock dependency validator: Copyright (c) 2006 Red Hat\n"
    assert k.lockdep_verdict(on)[0] == "ok"
    assert k.lockdep_verdict("")[0] == "not ok"
    assert k.lockdep_verdict(on + "turning off the locking correctness validator.\n")[0] == "not ok"


MUTANT_TESTS = ["dsp_loop_all_cpus", "dsp_loop_one_cpu"]
M_PASS = "TEST: dsp_loop_all_cpus\nok 1 dsp_loop_all_cpus #\nTEST: dsp_loop_one_cpu\nok 2 dsp_loop_one_cpu #\n"
M_FAIL = ("TEST: dsp_loop_all_cpus\nERR: dsp_loop.c:42\nExpected o->untied == 0 (3 == 0)\n"
          "not ok 1 dsp_loop_all_cpus #\nTEST: dsp_loop_one_cpu\nok 2 dsp_loop_one_cpu #\n")
M_SKIP = M_PASS.replace("ok 1 dsp_loop_all_cpus #", "ok 1 dsp_loop_all_cpus # SKIP no kick_cpus_irq_workfn()")


# Killed is the only pass, and a run that cannot tell is never taken for one.
@pytest.mark.parametrize("text,what,want", [
    (M_FAIL, "failed", "killed"), (M_PASS, "passed", "survived"), (M_PASS, "frozen", "killed"),
    (M_PASS, "hang", "killed"), (M_PASS, "panic", "killed"), (M_PASS, "splat", "killed"),
    ("", "no-start", "unknown"), (M_PASS, "harness-error", "unknown"), (M_SKIP, "passed", "unknown"),
    (M_PASS.split("TEST: dsp_loop_one_cpu")[0].replace("dsp_loop_all_cpus", "dsp_loop_one_cpu"), "passed", "unknown"),
    (M_PASS, "never-booted", "unknown"),
])
def test_mutant_verdict(text, what, want):
    verdict, how = k.mutant_verdict(text, outcome(what), MUTANT_TESTS)
    assert verdict == want
    if text == M_FAIL:
        assert "dsp_loop.c:42 Expected o->untied == 0" in how


def test_tests_report():
    text = "TEST: a\nok 1 a #\nTEST: b\nERR: b.c:9\nNot ejected\nnot ok 2 b #\nTEST: c\n"
    assert (k.tests_report(text, outcome("frozen"), ["a", "b", "c"])
            == "a passes; b fails (b.c:9 Not ejected); c never ended; the guest: frozen")


def test_soak(tmp_path):
    r = tmp_path / "r.txt"
    assert k.soak(data("runner-mixed.txt"), 1, str(r)) == 1
    text = r.read_text()
    assert "soak/dsp_local_on\t0/1 passed; first failure: dsp_local_on.c:41 Expected skel" in text
    assert "ok\tsoak/create_dsq\t1/1 passed\n" in text


def test_report(tmp_path):
    import io
    r = tmp_path / "r.txt"
    r.write_text("ok\ta\t\nnot ok\tb\twhy\nskip\tc\tnot here\n")
    out = io.StringIO()
    assert k.report(str(r), out) == 1
    lines = out.getvalue().splitlines()
    assert lines[1] == "1..3" and "not ok 2 b # why" in lines and lines[-1] == "1 passed, 1 failed, 1 skipped"
    r.write_text("")
    assert k.report(str(r), io.StringIO()) == 1
    r.write_text("ok\ta\t\n")
    assert k.report(str(r), io.StringIO()) == 0


KUNIT_HEAD = "KTAP version 1\n1..1\n    KTAP version 1\n    # Subtest: rust_doctests_kernel\n    1..3\n"
KUNIT_CASES = ("    ok 1 rust_doctest_kernel_alloc_rs_0\n"
               "    # rust_doctest_kernel_kprobes_rs_0.location: rust/kernel/kprobes.rs:26\n"
               "    ok 2 rust_doctest_kernel_kprobes_rs_0\n    ok 3 rust_doctest_kernel_kprobes_rs_1\n")
KUNIT_END = "ok 1 rust_doctests_kernel\n"


def test_kunit_verdicts():
    rows = k.kunit_verdicts(KUNIT_HEAD + KUNIT_CASES + KUNIT_END, "rust_doctests_kernel", "kprobes")
    assert [r[0] for r in rows] == ["ok", "ok", "ok"]
    assert rows[1][2] == "rust/kernel/kprobes.rs:26"
    bad = KUNIT_CASES.replace("    ok 3", "    not ok 3")
    assert k.kunit_verdicts(KUNIT_HEAD + bad + "not " + KUNIT_END, "rust_doctests_kernel", "kprobes")[0][0] == "not ok"
    assert k.kunit_verdicts(KUNIT_HEAD + KUNIT_CASES, "rust_doctests_kernel", "kprobes")[0][0] == "not ok"
    four = KUNIT_HEAD.replace("1..3", "1..4")
    assert k.kunit_verdicts(four + KUNIT_CASES + KUNIT_END, "rust_doctests_kernel", "kprobes")[0][0] == "not ok"
    assert k.kunit_verdicts("boot\n", "rust_doctests_kernel", "kprobes")[0][0] == "not ok"
    rows = k.kunit_verdicts(KUNIT_HEAD + KUNIT_CASES + KUNIT_END, "rust_doctests_kernel", "debugfs")
    assert rows[-1][0] == "not ok"


SAMPLE = ("rust_kprobe: kernel_clone(): 25 calls, 25 returns, 0 errors, 900 us in all\n"
          "rust_kprobe: do_exit(): 24 exits, 0 with a non-zero code\n")


def test_sample_verdict():
    assert k.sample_verdict(SAMPLE, 20)[0] == "ok"
    assert k.sample_verdict(SAMPLE, 30)[0] == "not ok"
    assert k.sample_verdict(SAMPLE.replace("0 with a non-zero", "24 with a non-zero"), 20)[0] == "not ok"
    assert k.sample_verdict("", 20)[0] == "not ok"


REPRO = ("KPROBE_REPRO reads=3 ret={ret} ftrace=Y disable_ret={dret} control_ret=0 hits=0 control_hits=3 "
         "listed=1 again_ret=0 again_hits=3")


def test_kprobe_repro_verdict():
    fixed, bug = REPRO.format(ret=-16, dret=1), REPRO.format(ret=0, dret=-22)
    assert k.kprobe_repro_verdict(fixed, "fixed")[0] == "ok"
    assert k.kprobe_repro_verdict(bug, "bug")[0] == "ok"
    assert k.kprobe_repro_verdict(bug, "fixed")[0] == "not ok"
    assert k.kprobe_repro_verdict(fixed, "bug")[0] == "not ok"
    for broken, expect in [(bug.replace("control_hits=3", "control_hits=0"), "bug"),
                           (fixed.replace("ftrace=Y", "ftrace=N"), "fixed"),
                           (fixed.replace(" hits=0", ""), "fixed"),
                           (bug.replace("disable_ret=-22", "disable_ret=0"), "bug"),
                           (fixed.replace("again_ret=0", "again_ret=-16"), "fixed"),
                           ("", "bug")]:
        assert k.kprobe_repro_verdict(broken, expect)[0] == "not ok", broken


def test_debugfs_repro_verdict():
    fixed = ("DEBUGFS_REPRO insmod=1 held=1 rmmod_open=1 "
             "rmmod_open_err=rmmod:_ERROR:_Module_rust_debugfs_scoped_is_in_use_ rmmod_closed=0")
    bug = "DEBUGFS_REPRO insmod=1 held=1 rmmod_open=0 rmmod_open_err="
    assert k.debugfs_repro_verdict(fixed, "fixed")[0] == "ok"
    assert k.debugfs_repro_verdict(bug, "bug")[0] == "ok"
    assert k.debugfs_repro_verdict(bug, "fixed")[0] == "not ok"
    assert k.debugfs_repro_verdict(fixed, "bug")[0] == "not ok"
    for broken, expect in [(fixed.replace("rmmod_closed=0", "rmmod_closed=1"), "fixed"),
                           (fixed.replace("is_in_use", "not_found"), "fixed"),
                           (bug.replace("held=1", "held=0"), "bug"),
                           ("DEBUGFS_REPRO insmod=0 held=0", "bug"), ("", "bug")]:
        assert k.debugfs_repro_verdict(broken, expect)[0] == "not ok", broken


STRESS = ("kretprobe_stress: rounds=200\n"
          "kretprobe_stress: short: entries=5000 returns=4990 lost=10 wrong_data=0\n"
          "kretprobe_stress: sleeping: entries=70 returns=57 lost=13 wrong_data=0\n")


def test_stress_verdict():
    assert k.stress_verdict(STRESS)[0] == "ok"
    assert k.stress_verdict(STRESS.replace("wrong_data=0\nkretprobe_stress: sleeping", "wrong_data=2\n"
                                           "kretprobe_stress: sleeping"))[0] == "not ok"
    assert k.stress_verdict(STRESS.replace("rounds=200", "rounds=150"))[0] == "not ok"
    assert k.stress_verdict(STRESS.replace("returns=57", "returns=71"))[0] == "not ok"
    assert k.stress_verdict(STRESS.replace("returns=4990", "returns=0"))[0] == "not ok"
    assert k.stress_verdict(STRESS.replace("entries=70", "entries=0"))[0] == "not ok"
    assert k.stress_verdict(STRESS.replace("sleeping", "sleepy"))[0] == "not ok"
    assert k.stress_verdict("")[0] == "not ok"


def test_boot_verdict():
    assert k.boot_verdict("[ 1.0] booted\nLOOPGUARD-ARM64 done\n", "LOOPGUARD-ARM64 done")[0] == "ok"
    assert k.boot_verdict("[ 1.0] booted\n", "LOOPGUARD-ARM64 done")[0] == "not ok"
    oops = "[ 1.0] Oops: general protection fault\nLOOPGUARD-ARM64 done\n"
    assert k.boot_verdict(oops, "LOOPGUARD-ARM64 done")[0] == "not ok"


def test_stage_verdict():
    assert k.stage_verdict([], 0, 0) is None
    assert k.stage_verdict([("ok", "a", "")], 1, 0)[0] == "not ok"
    assert k.stage_verdict([("ok", "a", ""), ("not ok", "b", "")], 1, 0) is None


def test_outcome_of(tmp_path):
    p = tmp_path / "x.outcome"
    p.write_text("outcome=frozen exit=- secs=70\n")
    assert k.outcome_of(str(p))["outcome"] == "frozen"
    assert k.outcome_of(str(tmp_path / "none"))["outcome"] == "harness-error"
    p.write_text("outcome=strange\n")
    with pytest.raises(ValueError):
        k.outcome_of(str(p))


# The command line: every command that writes results takes the results
# file first and the name second, and writes what its verdict says.
def cli(tmp_path, *args):
    r = tmp_path / "results.txt"
    rc = k.main([args[0], str(r)] + [str(a) for a in args[1:]])
    rows = [l.split("\t") for l in r.read_text().splitlines()] if r.exists() else []
    return rc, rows


def test_cli(tmp_path, monkeypatch):
    monkeypatch.delenv("LG_RESULT_PREFIX", raising=False)
    o = tmp_path / "o.outcome"
    o.write_text("outcome=hang exit=- secs=240\n")
    log = tmp_path / "log"
    log.write_text(STRESS)
    rc, rows = cli(tmp_path, "console", "g", o, "/log")
    assert rc == 0 and rows[-1][:2] == ["not ok", "g/console"] and rows[-1][2] == "guest hung, see /log"
    rc, rows = cli(tmp_path, "stress", "s", log)
    assert rc == 0 and rows[-1][:2] == ["ok", "s"]
    rc, rows = cli(tmp_path, "runner", "r", os.path.join(DATA, "runner-mixed.txt"))
    assert rc == 1 and rows[-4][:2] == ["ok", "r/create_dsq"]
    rc, rows = cli(tmp_path, "runner", "e", "/dev/null")
    assert rc == 1 and rows[-1][:2] == ["not ok", "e"] and "printed no result" in rows[-1][2]
    rc, rows = cli(tmp_path, "kprobe_repro", "x", log, "fixed")
    assert rc == 1 and rows[-1][:2] == ["not ok", "x"]
    rc, rows = cli(tmp_path, "stage", "st", 3, len(rows))
    assert rows[-1][:2] == ["not ok", "st"]
    with pytest.raises(SystemExit):
        k.main(["kprobe_repro", str(tmp_path / "r"), "x", str(log), "maybe"])
    with pytest.raises(SystemExit):
        k.main(["no-such-command"])


def test_cli_outcome_and_figures(tmp_path, capsys):
    o = tmp_path / "o.outcome"
    o.write_text("outcome=failed exit=3 boot_guest=3.1 boot_host=4.2\n")
    assert k.main(["outcome", str(o), "outcome", "exit", "nope"]) == 0
    assert capsys.readouterr().out == "failed\t3\t-\n"
    f = tmp_path / "runner.txt"
    f.write_text("TEST: x\nLOOPGUARD test=x cpus=2\nother\n")
    assert k.main(["figure-lines", "--prefix", "vcpus=2 ", str(f)]) == 0
    assert capsys.readouterr().out == "vcpus=2 test=x cpus=2\n"


# A checker that crashes exits 70, which no verdict uses.
def test_crash_is_not_a_verdict(tmp_path):
    o = tmp_path / "o.outcome"
    o.write_text("outcome=not-an-outcome\n")
    assert k.run_main(k.main, ["console", str(tmp_path / "r"), "x", str(o), "/log"]) == k.EX_SOFTWARE


JUNIT = ('<testsuites><testsuite name="pytest">'
         '<testcase classname="t" name="test_a[1]"/><testcase classname="t" name="test_a[2]"/>'
         '<testcase classname="t" name="test_b"><failure message="assert 1 == 2">x</failure></testcase>'
         '</testsuite></testsuites>')


def test_junit_verdicts():
    rows = k.junit_verdicts(JUNIT, 1)
    assert rows == [("ok", "test_a", "2/2 cases passed"), ("not ok", "test_b", "0/1 cases passed; assert 1 == 2")]
    assert [r[0] for r in k.junit_verdicts(JUNIT.replace('<failure message="assert 1 == 2">x</failure>', ""), 0)] == ["ok", "ok"]
    assert k.junit_verdicts("", 2)[0][0] == "not ok"
    assert k.junit_verdicts("<testsuites/>", 0)[0][0] == "not ok"
    assert k.junit_verdicts("<broken", 1)[0][0] == "not ok"


@pytest.mark.parametrize("end,rc,text,want", [
    ("exited", 0, "[    1.0] Linux\n", "passed"), ("exited", 5, "[    1.0] Linux\n", "failed"),
    ("exited", 255, "[    1.0] Linux\nKernel panic - not syncing\n", "panic"),
    ("exited", 0, "[    1.0] Linux\n[    2.0] BUG: unable to handle page fault\n", "splat"),
    ("exited", 1, "qemu: could not load kernel\n", "never-booted"),
    ("exited", 255, "[    0.5] Linux\nqemu-system-x86_64: a.c:1: f: Assertion `x' failed.\n", "harness-error"),
    ("hang", None, "", "hang"), ("frozen", None, "", "frozen"), ("no-start", None, "", "no-start"),
])
def test_guest_outcome(end, rc, text, want):
    outcome, note = k.guest_outcome(end, rc, text)
    assert outcome == want
    assert bool(note) == (end != "exited")
