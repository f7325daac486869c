"""Schedulers benchmark: runtime and growth, optimality against the exact solver, paper-like gains.

    .venv/bin/python benchmarks/bench_schedulers.py [--quick]

Writes results/bench/{runtime,optimality,scenarios}.csv and prints the summary tables.
Not part of `make test`: timings depend on the machine (numbers in the closing notes come from the
2-core CI machine).
"""

from __future__ import annotations

import argparse
import platform

import pandas as pd
from tqdm import tqdm

from plcore.study.experiments import (CASES, growth_exponents, optimality_trial, runtime_point,
                                scenario_trial, summarize_optimality)
from plcore.paths import result_dir


def runtime(quick: bool) -> pd.DataFrame:
    plan = [("greedy", "users", [1000, 2000, 5000, 10000] + ([] if quick else [20000])),
            ("greedy", "models", [30, 50, 100, 200, 400]),
            ("dp", "users", [50, 100, 200, 400, 800] + ([] if quick else [1600, 3200])),
            ("dp-binding", "users", [50, 100, 200, 400, 800] + ([] if quick else [1600])),
            ("dp", "models", [8, 20, 40, 80, 160])]
    rows = [runtime_point(method, size, axis, reps=1 if method == "dp-binding" else 3)
            for method, axis, sizes in plan
            for size in tqdm(sizes, desc=f"{method} vs {axis}")]
    return pd.concat(rows, ignore_index=True)


def optimality(quick: bool) -> pd.DataFrame:
    n_inst = 100 if quick else 400
    trials = [optimality_trial(seed, case, binding)
              for case in CASES for binding in (False, True)
              for seed in tqdm(range(n_inst), desc=f"vs exact: {case}, binding={binding}")]
    return pd.concat(trials, ignore_index=True)


def scenarios(quick: bool) -> pd.DataFrame:
    seeds = range(10 if quick else 30)
    return pd.concat([scenario_trial(seed, n_users=30, bandwidth_hz=bw)
                      for bw in tqdm([10e6, 20e6, 50e6, 100e6], desc="scenarios")
                      for seed in seeds], ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    out = result_dir("bench")
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}")

    rt = runtime(args.quick)
    rt.to_csv(out / "runtime.csv", index=False)
    print("\nRuntime (median of 3 runs; binding DP: 1 run), seconds:")
    print(rt.to_string(index=False))
    print("\nGrowth exponents (slope of log time vs log size):")
    print(growth_exponents(rt).round(3).to_string(index=False))

    opt = optimality(args.quick)
    opt.to_csv(out / "optimality.csv", index=False)
    print("\nAgainst the exact optimum (small random instances):")
    print(summarize_optimality(opt).round(3).to_string(index=False))

    sc = scenarios(args.quick)
    sc.to_csv(out / "scenarios.csv", index=False)
    sc["bandwidth_mhz"] = sc.bandwidth_hz / 1e6
    table = sc.pivot_table(index="bandwidth_mhz", columns="method", values="served", aggfunc="mean")
    table["dp / no-sharing"] = table["dp"] / table["no-sharing"]
    print("\nPaper-like scenarios (30 users, ResNet-50 zoo, 200 ms): mean users served")
    print(table.round(2).to_string())
    print(f"\n-> {out}")


if __name__ == "__main__":
    main()
