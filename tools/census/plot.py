#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Plot the census's dispatch rounds per ops.dispatch() invocation.

  plot.py DIR      reads DIR/census.csv, writes DIR/census-rounds.png: one
                   panel per base and CPU count, one bar series per
                   scheduler (all workloads summed), log scale
"""
import collections
import csv
import os
import sys


def main(d):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hist = collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
    with open(os.path.join(d, "census.csv"), newline="") as f:
        for r in csv.DictReader(f):
            for w in r["rounds_hist"].split():
                rounds, n = w.split(":")
                hist[(r["base"], r["cpus"])][r["scheduler"]][int(rounds)] += int(n)
    if not hist:
        print("plot.py: no histogram in census.csv", file=sys.stderr)
        return 1
    panels = sorted(hist)
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for ax, key in zip(axes[0], panels):
        scheds = sorted(hist[key])
        width = 0.8 / len(scheds)
        for i, s in enumerate(scheds):
            xs = sorted(hist[key][s])
            ax.bar([x + i * width for x in xs], [hist[key][s][x] for x in xs], width, label=s)
        ax.axvline(32, color="red", linestyle="--", linewidth=1, label="SCX_DSP_MAX_LOOPS")
        ax.set_yscale("log")
        ax.set_xlabel("dispatch rounds in one invocation")
        ax.set_ylabel("invocations")
        ax.set_title(f"Linux {key[0]}, {key[1]} vCPU(s)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    out = os.path.join(d, "census-rounds.png")
    fig.savefig(out, dpi=100)
    print(f"  CENSUS  {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]) if len(sys.argv) == 2 else __doc__)
