"""Schedulers benchmark: runtime and growth, optimality against the exact solver, paper-like gains.

    .venv/bin/python benchmarks/bench_schedulers.py [--quick] [--reps 5] [--large] [--dp]

Runtime: CPU seconds (``time.process_time``), the median of ``--reps`` runs (at least 5) with its
min and max, beside the wall-clock median; growth exponents fitted as ``t = c + b n^k`` so that
a fixed cost is not read as slow growth. ``dp-binding-40`` is the DP with a binding budget at
40 models (8 clusters of 5, 5 ms of deadline per user, 20 MHz: about 60 % of the time-optimal
users fit). ``--large`` adds one run of it at 10,000 users with its memory peak above the
import (tracemalloc). ``--dp`` runs only the binding DP: 1,000 users (medians of ``--reps``),
10,000 users with its memory peak, and, with ``--large``, one run of each time-bound instance
(``make_instance(seed=0, n_users=5000, deadline_s=20.0)`` and 10,000 users at 40 s, where the
deadline binds and the count exchange runs).

Writes results/bench/{runtime,optimality,scenarios}.csv and prints the summary tables.
Not part of `make test`: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import resource
import tracemalloc

import pandas as pd
from tqdm import tqdm

import plcore
from common import machine, timed
from plcore.model.instance import Instance
from plcore.paths import result_dir
from plcore.study.experiments import (CASES, growth_exponents, optimality_trial,
                                      runtime_instance, scenario_trial, summarize_optimality)
from plcore.study.scenarios import make_instance


def binding_instance(n_users: int, seed: int = 0) -> Instance:
    """The DP's binding-budget case at 40 models (see the module docstring)."""
    return make_instance(seed=seed, n_users=n_users, n_clusters=8, models_per_cluster=5,
                         shared_depth=12, deadline_s=0.005 * n_users, bandwidth_hz=20e6)


def instance_for(method: str, size: int, axis: str) -> Instance:
    return (binding_instance(size) if method == "dp-binding-40"
            else runtime_instance(method, size, axis))


def runtime_point(method: str, size: int, axis: str, reps: int) -> dict:
    """CPU and wall time of ``solve`` on a fresh copy of the instance (its index arrays
    included), medians of ``reps`` runs."""
    inst = instance_for(method, size, axis)
    d = inst.to_dict()
    plcore.solve(Instance.from_dict(d) if size <= 1000 else inst, method=_method(method))
    times, seq = timed(lambda: plcore.solve(Instance.from_dict(d), method=_method(method)), reps)
    return {"method": method, "axis": axis, "size": size, "users": inst.n_users,
            "models": len(inst.models), "served": len(seq), "seconds": times["cpu_s"], **times}


def _method(method: str) -> str:
    return "dp" if method.startswith("dp") else method


def runtime(quick: bool, reps: int) -> pd.DataFrame:
    plan = [("greedy", "users", [1000, 2000, 5000, 10000] + ([] if quick else [20000])),
            ("greedy", "models", [30, 50, 100, 200, 400]),
            ("dp", "users", [50, 100, 200, 400, 800] + ([] if quick else [1600, 3200])),
            ("dp-binding", "users", [50, 100, 200, 400, 800] + ([] if quick else [1600])),
            ("dp-binding-40", "users", [125, 250, 500, 1000] + ([] if quick else [2000])),
            ("dp", "models", [8, 20, 40, 80, 160])]
    rows = [runtime_point(method, size, axis, reps)
            for method, axis, sizes in plan
            for size in tqdm(sizes, desc=f"{method} vs {axis}")]
    return pd.DataFrame(rows)


def large_binding(n_users: int = 10_000) -> dict:
    """One run of the binding DP at ``n_users``: CPU seconds and the memory peak above what the
    instance and the imports hold (tracemalloc, which also slows the run)."""
    inst = binding_instance(n_users)
    inst.arrays
    plcore.solve(binding_instance(100), method="dp")      # imports done before measuring
    t, seq = timed(lambda: plcore.solve(inst, method="dp"), 1)
    tracemalloc.start()
    plcore.solve(Instance.from_dict(inst.to_dict()), method="dp")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"users": n_users, "served": len(seq), "cpu_s": t["cpu_s"], "wall_s": t["wall_s"],
            "peak_mb_above_import": peak / 1e6}


def time_bound(n_users: int, deadline_s: float, rss0_kb: int) -> dict:
    """One run of the DP on the default scenario at ``n_users`` and one deadline that binds:
    CPU and wall seconds, users served, and the process's peak resident memory above
    ``rss0_kb`` (``ru_maxrss`` before the first run: an upper bound on what this run added
    when an earlier run of the process peaked lower)."""
    inst = make_instance(seed=0, n_users=n_users, deadline_s=deadline_s)
    t, seq = timed(lambda: plcore.solve(inst, method="dp"), 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"users": n_users, "deadline_s": deadline_s, "served": len(seq), "cpu_s": t["cpu_s"],
            "wall_s": t["wall_s"], "peak_rss_mb_above": (peak - rss0_kb) / 1024}


def dp_only(reps: int, large: bool) -> None:
    """The binding DP's points of issue #12: 1,000 and 10,000 users at 40 models, and with
    ``large`` the time-bound instances."""
    if large:      # first, so that the peak memory before them is the import's
        plcore.solve(binding_instance(100), method="dp")      # imports done before measuring
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(pd.DataFrame([time_bound(5000, 20.0, rss0), time_bound(10_000, 40.0, rss0)])
              .round(3).to_string(index=False))
    row = runtime_point("dp-binding-40", 1000, "users", reps)
    print(f"Binding DP, 1,000 users / 40 models: CPU median of {reps} {row['cpu_s']:.3f} s "
          f"({row['cpu_min_s']:.3f}-{row['cpu_max_s']:.3f}), {row['served']} served")
    print(pd.DataFrame([large_binding()]).round(3).to_string(index=False))


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
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--large", action="store_true", help="also the binding DP at 10,000 users")
    ap.add_argument("--dp", action="store_true",
                    help="only the binding DP (1,000 and 10,000 users; --large: time-bound too)")
    args = ap.parse_args()
    out = result_dir("bench")
    print(f"machine: {machine()}")
    if args.dp:
        dp_only(max(args.reps, 5), args.large)
        return

    rt = runtime(args.quick, max(args.reps, 5))
    rt.to_csv(out / "runtime.csv", index=False)
    print(f"\nRuntime, CPU seconds: median of {max(args.reps, 5)} runs (min, max) and the wall "
          "median:")
    print(rt[["method", "axis", "size", "models", "served", "cpu_s", "cpu_min_s", "cpu_max_s",
              "wall_s"]].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print("\nGrowth of the CPU medians, t = c + b n^k (fixed cost c separated out):")
    print(growth_exponents(rt).round(3).to_string(index=False))
    if args.large:
        big = pd.DataFrame([large_binding()])
        big.to_csv(out / "dp_binding_large.csv", index=False)
        print("\nBinding DP at 10,000 users / 40 models (one run):")
        print(big.round(3).to_string(index=False))

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
