#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Break each verdict of tools/lib/ktap.py in turn, and check that its test
in test_verdicts.py fails.

Each verdict is broken twice, in a copy of ktap.py: once so that it always
passes, once so that it never does. For each, pytest runs that verdict's
tests against the copy; they must fail. One line per break, "caught" or
"MISSED"; exit 0 only if every break was caught.

  break_verdicts.py [RESULTS NAME]   with RESULTS, one result NAME/VERDICT per
                                     verdict, through ktap.py

The breaks run side by side, one per CPU.
"""
import concurrent.futures
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
KTAP = os.path.join(HERE, "..", "lib", "ktap.py")
TESTS = os.path.join(HERE, "test_verdicts.py")

OK, NOT_OK = '("ok", "broken")', '("not ok", "broken")'
# verdict: (its value when broken to always pass, when broken to never pass)
BREAKS = {
    "splat_lines": ("[]", '["BUG: broken"]'),
    "parse_runner": ('[("ok", "dispatch_loop")]', '[("not ok", "dispatch_loop")]'),
    "console_verdict": (OK, NOT_OK),
    "stall_verdict": (OK, NOT_OK),
    "module_stall_verdict": (OK, NOT_OK),
    "qmap_verdict": (OK, NOT_OK),
    "bench_smoke_verdict": (OK, NOT_OK),
    "tool_verdict": (OK, NOT_OK),
    "module_scenario_verdict": (OK, NOT_OK),
    "module_cycles_verdict": (OK, NOT_OK),
    "module_open_verdict": (OK, NOT_OK),
    "module_trace_stop_verdict": (OK, NOT_OK),
    "module_mutant_report": ('(True, "sees nothing wrong")', '(False, "broken")'),
    "census": ("0", "1"),
    "soak": ("0", "1"),
    "report": ("0", "1"),
    "checkpatch_exception": ('"ANY (broken)"', "None"),
    "rustdoc_verdict": (OK, NOT_OK),
    "roundtrip_verdict": (OK, NOT_OK),
    "mutant_with_module": ('("killed", "broken", None)', '("unknown", "broken", "broken")'),
    "checkpatch_verdict": ('("ok", "broken", [])', '("not ok", "broken", [])'),
    "failpath_verdicts": ('[("ok", None, "broken")] * 2', '[("not ok", None, "broken")] * 2'),
    "kselftest_verdicts": ('[("ok", None, "broken")] * 2', '[("not ok", None, "broken")] * 2'),
    "lockdep_verdict": (OK, NOT_OK),
    "mutant_verdict": ('("killed", "broken")', '("survived", "broken")'),
    "kunit_verdicts": ('[("ok", None, "broken")] * 3', '[("not ok", None, "broken")] * 3'),
    "sample_verdict": (OK, NOT_OK),
    "kprobe_repro_verdict": (OK, NOT_OK),
    "debugfs_repro_verdict": (OK, NOT_OK),
    "stress_verdict": (OK, NOT_OK),
    "boot_verdict": (OK, NOT_OK),
    "stage_verdict": ("None", NOT_OK),
    "guest_outcome": ('("passed", "")', '("harness-error", "")'),
    "junit_verdicts": ('[("ok", "test_a", "broken")]', '[("not ok", "test_a", "broken")]'),
}


def broken_copy(src, name, value, path):
    """SRC with NAME rebound, after every definition, to a function that
    returns VALUE whatever it is given; written to PATH."""
    head, sep, tail = src.rpartition('\nif __name__ == "__main__":')
    assert sep, "ktap.py has no main guard"
    with open(path, "w") as f:
        f.write(f"{head}\n{name} = lambda *a, **kw: {value}\n{sep}{tail}")


def caught(path, name):
    """The tests of NAME fail against the copy at PATH."""
    env = dict(os.environ, LG_KTAP=path)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", f"test_{name}",
                        TESTS], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # 1: tests failed. 5 (none collected) or anything else is not a catch.
    return r.returncode == 1


def main(argv):
    src = open(KTAP).read()
    missing = [n for n in BREAKS if f"\ndef {n}(" not in src]
    if missing:
        print(f"break_verdicts.py: ktap.py has no {', '.join(missing)}", file=sys.stderr)
        return 2
    verdicts = sorted(n for n in BREAKS)
    modes = ("always passes", "never passes")
    bad = 0
    with tempfile.TemporaryDirectory() as d:
        def job(i, name, value):
            # Each break in a folder of its own: they run side by side.
            os.mkdir(os.path.join(d, str(i)))
            path = os.path.join(d, str(i), "ktap.py")
            broken_copy(src, name, value, path)
            return caught(path, name)

        jobs = [(name, mode, value) for name in verdicts for mode, value in zip(modes, BREAKS[name])]
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            got = list(pool.map(lambda a: job(*a), ((i, n, v) for i, (n, _, v) in enumerate(jobs))))
        for name in verdicts:
            how = []
            for (n, mode, _), ok in zip(jobs, got):
                if n != name:
                    continue
                bad += not ok
                how.append(f"{mode}: {'caught' if ok else 'MISSED'}")
                print(f"  {'caught' if ok else 'MISSED':<7} {name} broken so that it {mode}")
            if len(argv) == 2:
                status = "ok" if all(h.endswith("caught") for h in how) else "not ok"
                subprocess.run([sys.executable, KTAP, "add", argv[0], status, f"{argv[1]}/{name}",
                                "; ".join(how)], check=True)
    print(f"{len(verdicts) * 2 - bad} of {len(verdicts) * 2} breaks caught")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
