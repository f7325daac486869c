"""Runtime of the exact solver on 8 and 10 users (median over seeds), written to results/bench/.

    .venv/bin/python benchmarks/bench_exact.py [--seeds 5]

Three regimes: loose deadlines and ample bandwidth (almost nothing is pruned: the worst case),
tight deadlines, and a binding bandwidth budget.
"""

from __future__ import annotations

import argparse
import platform
import time

import pandas as pd

import plcore
from plcore.paths import result_dir
from plcore.study.synthetic import random_instance

REGIMES = {
    "loose, ample bandwidth": dict(deadline_s=(0.5, 1.0), bandwidth_hz=1e10),
    "tight deadlines": dict(deadline_s=(0.02, 0.1), bandwidth_hz=1e10),
    "binding bandwidth": dict(deadline_s=(0.04, 0.15), bandwidth_hz=6e6),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--users", type=int, nargs="+", default=[8, 10])
    args = ap.parse_args()
    rows = []
    for n in args.users:
        for regime, kw in REGIMES.items():
            for structure in ("general", "bottom"):
                for seed in range(args.seeds):
                    inst = random_instance(seed, n, max(2, n // 2), structure=structure, **kw)
                    t0 = time.perf_counter()
                    seq = plcore.solve(inst, method="exact")
                    rows.append({"users": n, "regime": regime, "structure": structure, "seed": seed,
                                 "seconds": time.perf_counter() - t0, "throughput": len(seq)})
    df = pd.DataFrame(rows)
    out = result_dir("bench") / "exact_runtime.csv"
    df.to_csv(out, index=False)
    summary = (df.groupby(["users", "regime"]).seconds
               .agg(median="median", min="min", max="max").round(3))
    print(f"exact solver runtime (s) on {platform.processor() or platform.machine()}, "
          f"{args.seeds} seeds x 2 structures")
    print(summary.to_string())
    print(f"-> {out}")


if __name__ == "__main__":
    main()
