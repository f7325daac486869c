"""Schedulers benchmark: runtime and growth, optimality against the exact solver, paper-like gains.

    .venv/bin/python benchmarks/bench_schedulers.py [--quick]

Writes results/bench/{runtime,optimality,scenarios}.csv and prints the summary tables.
Not part of `make test`: timings depend on the machine (numbers in the closing notes come from the
2-core CI machine).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import pandas as pd
from tqdm import tqdm

import plcore
from plcore.paths import result_dir
from plcore.scenarios import make_instance
from plcore.experiments import CASES, optimality_trial, summarize_optimality


def timed(fn, reps: int = 3) -> float:
    """Median wall time of ``fn()`` over ``reps`` runs (s)."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def fresh(inst):
    """A copy without cached arrays, so each timing includes building them."""
    return plcore.Instance.from_dict(inst.to_dict())


def runtime(quick: bool) -> pd.DataFrame:
    rows = []
    # Greedy: general sharing (ResNet-101 zoo, 6 private blocks per model at random positions).
    users = [1000, 2000, 5000, 10000] if quick else [1000, 2000, 5000, 10000, 20000]
    for n in tqdm(users, desc="greedy vs users"):
        inst = make_instance(seed=0, n_users=n, architecture="resnet101", sharing="general",
                             n_clusters=20, models_per_cluster=10, private_blocks=6,
                             deadline_s=(0.5, 50.0), bandwidth_hz=100e6)
        rows.append({"method": "greedy", "axis": "users", "users": n, "models": 200,
                     "blocks": len(inst.blocks),
                     "seconds": timed(lambda: plcore.solve(fresh(inst), method="greedy"))})
    for clusters in tqdm([3, 5, 10, 20, 40], desc="greedy vs models"):
        inst = make_instance(seed=0, n_users=10000, architecture="resnet101", sharing="general",
                             n_clusters=clusters, models_per_cluster=10, private_blocks=6,
                             deadline_s=(0.5, 50.0), bandwidth_hz=100e6)
        rows.append({"method": "greedy", "axis": "models", "users": 10000,
                     "models": 10 * clusters, "blocks": len(inst.blocks),
                     "seconds": timed(lambda: plcore.solve(fresh(inst), method="greedy"))})
    # DP: bottom-layer ResNet-50 zoo, common deadline long enough to serve about half the users.
    users = [50, 100, 200, 400, 800] if quick else [50, 100, 200, 400, 800, 1600, 3200]
    for bw, label in ((1e12, "dp (ample bandwidth)"), (20e6, "dp (binding bandwidth)")):
        for n in tqdm(users, desc=label):
            inst = make_instance(seed=0, n_users=n, n_clusters=4, models_per_cluster=5,
                                 shared_depth=12, deadline_s=0.005 * n, bandwidth_hz=bw)
            rows.append({"method": label, "axis": "users", "users": n, "models": 20,
                         "blocks": len(inst.blocks),
                         "seconds": timed(lambda: plcore.solve(fresh(inst), method="dp"), 1)})
    for per in tqdm([2, 5, 10, 20, 40], desc="dp vs models"):
        inst = make_instance(seed=0, n_users=400, n_clusters=4, models_per_cluster=per,
                             shared_depth=12, deadline_s=2.0, bandwidth_hz=1e12)
        rows.append({"method": "dp (ample bandwidth)", "axis": "models", "users": 400,
                     "models": 4 * per, "blocks": len(inst.blocks),
                     "seconds": timed(lambda: plcore.solve(fresh(inst), method="dp"), 1)})
    return pd.DataFrame(rows)


def growth(df: pd.DataFrame) -> pd.DataFrame:
    """Least-squares slope of log(seconds) against log(size): the empirical growth exponent."""
    out = []
    for (method, axis), g in df.groupby(["method", "axis"]):
        x = np.log(g["users" if axis == "users" else "models"].to_numpy(float))
        y = np.log(g["seconds"].to_numpy(float))
        slope = np.polyfit(x, y, 1)[0] if len(g) > 1 else np.nan
        out.append({"method": method, "axis": axis, "exponent": round(float(slope), 2),
                    "largest": int(round(np.exp(x.max()))), "seconds_at_largest": g["seconds"].iloc[-1]})
    return pd.DataFrame(out)


def optimality(quick: bool) -> pd.DataFrame:
    n_inst = 100 if quick else 400
    trials = [optimality_trial(seed, case, binding)
              for case in CASES for binding in (False, True)
              for seed in tqdm(range(n_inst), desc=f"vs exact: {case}, binding={binding}")]
    return pd.concat(trials, ignore_index=True)


def scenarios(quick: bool) -> pd.DataFrame:
    rows = []
    seeds = range(10 if quick else 30)
    bws = [10e6, 20e6, 50e6, 100e6]
    for bw in tqdm(bws, desc="scenarios"):
        for seed in seeds:
            inst = make_instance(seed=seed, n_users=30, bandwidth_hz=bw)
            for method in ("dp", "greedy", "no-sharing", "edf", "random"):
                rows.append({"bandwidth_mhz": bw / 1e6, "seed": seed, "method": method,
                             "served": len(plcore.solve(inst, method=method))})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    out = result_dir("bench")
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}")

    rt = runtime(args.quick)
    rt.to_csv(out / "runtime.csv", index=False)
    print("\nRuntime (median of 3 runs; DP: 1 run), seconds:")
    print(rt.to_string(index=False))
    print("\nGrowth exponents (slope of log time vs log size):")
    print(growth(rt).to_string(index=False))

    opt = optimality(args.quick)
    opt.to_csv(out / "optimality.csv", index=False)
    print("\nAgainst the exact optimum (small random instances):")
    print(summarize_optimality(opt).round(3).to_string(index=False))

    sc = scenarios(args.quick)
    sc.to_csv(out / "scenarios.csv", index=False)
    table = sc.pivot_table(index="bandwidth_mhz", columns="method", values="served", aggfunc="mean")
    table["dp / no-sharing"] = table["dp"] / table["no-sharing"]
    print("\nPaper-like scenarios (30 users, ResNet-50 zoo, 200 ms): mean users served")
    print(table.round(2).to_string())
    print(f"\n-> {out}")


if __name__ == "__main__":
    main()
