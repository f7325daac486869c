"""CPU time of density-search at 1,000, 10,000 and 100,000 users / 200 models.

    .venv/bin/python benchmarks/bench_density_search.py [--reps 5] [--users 1000 10000 100000]

The instances are those the runtime chapter times the greedy on (general sharing over a
ResNet-101 zoo, 20 clusters of 10 models, per-user deadlines of 0.5-50 s, 100 MHz:
:func:`plcore.study.experiments.runtime_instance`). Each repetition solves the same instance,
whose index arrays are built once beforehand (building them is the instance's cost, not the
solver's). CPU seconds (``time.process_time``): median, min and max of ``--reps`` runs, written to
``results/bench/density_search.csv`` with the users served by density-search and by the
schedules it starts from.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import pandas as pd

import plcore
from plcore.paths import result_dir
from plcore.schedulers.density_search import solve_density_search
from plcore.study.experiments import runtime_instance


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--users", type=int, nargs="+", default=[1000, 10000, 100000])
    args = ap.parse_args()
    rows = []
    for n in args.users:
        inst = runtime_instance("greedy", n)
        inst.arrays                                   # built once, outside the timings
        times = []
        for _ in range(args.reps):
            t0 = time.process_time()
            seq = solve_density_search(inst)
            times.append(time.process_time() - t0)
        assert plcore.evaluate(inst, seq).feasible
        served = {m: len(plcore.solve(inst, method=m)) for m in ("no-sharing", "edf", "greedy")}
        rows.append({"users": n, "models": len(inst.models), "blocks": len(inst.blocks),
                     "reps": args.reps, "cpu_median_s": float(np.median(times)),
                     "cpu_min_s": float(np.min(times)), "cpu_max_s": float(np.max(times)),
                     "served": len(seq), **{f"served_{m}": v for m, v in served.items()}})
    df = pd.DataFrame(rows)
    out = result_dir("bench") / "density_search.csv"
    df.to_csv(out, index=False)
    print(f"density-search CPU time (s) on {platform.processor() or platform.machine()}, "
          f"median of {args.reps}")
    print(df.round(3).to_string(index=False))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
