"""CPU time of density-search at 1,000, 10,000 and 100,000 users / 200 models; its gap to the MILP.

    .venv/bin/python benchmarks/bench_density_search.py [--reps 5] [--users 1000 10000 100000]
    .venv/bin/python benchmarks/bench_density_search.py --gap [--seeds 0 1 2] [--milp-limit 60]
    .venv/bin/python benchmarks/bench_density_search.py --huge [--reps 5] [--users 200000]

The instances are those the runtime chapter times the greedy on (general sharing over a
ResNet-101 zoo, 20 clusters of 10 models, per-user deadlines of 0.5-50 s, 100 MHz:
:func:`plcore.study.experiments.runtime_instance`). Each repetition solves the same instance,
whose index arrays are built once beforehand (building them is the instance's cost, not the
solver's). CPU seconds (``time.process_time``): median, min and max of ``--reps`` runs, written to
``results/bench/density_search.csv`` with the users served by density-search and by the
schedules it starts from.

``--gap`` instead compares density-search with the MILP oracle
(:func:`plcore.schedulers.milp.solve_milp`, ``--milp-limit`` seconds each) on the 20-30-user
family of issue #12: ``make_instance(seed, n_users, sharing, deadline_s=(0.1, 0.3))`` for 20, 25
and 30 users, general and bottom sharing, the given seeds. Only proven optima count. The optima
are cached in ``results/bench/milp_optima.csv`` (computed once per instance and limit); the
rows go to ``results/bench/density_search_gap.csv``.

``--huge`` times the largest instances, with per-user deadlines and with one deadline for all
(``--users``, default 200,000; the first value is used): the runtime chapter's instance, the same
with a common deadline of 25 s, and the default scenario's models (10 models, 20 MHz, general
sharing) with common deadlines of 0.2 s (its default) and 25 s, where the budget binds. CPU
seconds (median, min, max of ``--reps``), then one more run under ``tracemalloc`` for the peak of
the memory the solve allocated, the process's peak resident memory (``ru_maxrss``, all cases
so far) and the time a run with ``time_limit_s=5`` took; rows to
``results/bench/density_search_huge.csv``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import numpy as np
import pandas as pd

import plcore
from plcore.paths import result_dir
from plcore.schedulers.density_search import solve_density_search
from plcore.study.experiments import runtime_instance
from plcore.study.scenarios import make_instance


def gap(seeds, milp_limit_s: float) -> None:
    """Mean relative gap of density-search to the proven MILP optima (see the module doc)."""
    from plcore.schedulers.milp import solve_milp

    cache = result_dir("bench") / "milp_optima.csv"
    known = pd.read_csv(cache) if cache.exists() else pd.DataFrame(
        columns=["users", "sharing", "seed", "limit_s", "served", "optimal"])
    rows, fresh = [], []
    for n in (20, 25, 30):
        for sharing in ("general", "bottom"):
            for seed in seeds:
                inst = make_instance(seed=seed, n_users=n, sharing=sharing, deadline_s=(0.1, 0.3))
                hit = known[(known.users == n) & (known.sharing == sharing) & (known.seed == seed)
                            & (known.limit_s == milp_limit_s)]
                if len(hit):
                    opt, proven = int(hit.served.iloc[0]), bool(hit.optimal.iloc[0])
                else:
                    info = {}
                    opt = len(solve_milp(inst, time_limit_s=milp_limit_s, info=info))
                    proven = bool(info["optimal"])
                    fresh.append({"users": n, "sharing": sharing, "seed": seed,
                                  "limit_s": milp_limit_s, "served": opt, "optimal": proven})
                t0 = time.process_time()
                seq = solve_density_search(inst)
                cpu = time.process_time() - t0
                assert plcore.evaluate(inst, seq).feasible
                rows.append({"users": n, "sharing": sharing, "seed": seed, "optimum": opt,
                             "proven": proven, "served": len(seq), "cpu_s": cpu})
    if fresh:
        pd.concat([known, pd.DataFrame(fresh)]).to_csv(cache, index=False)
    df = pd.DataFrame(rows)
    out = result_dir("bench") / "density_search_gap.csv"
    df.to_csv(out, index=False)
    p = df[df.proven]
    g = 1 - p.served / p.optimum
    print(df.to_string(index=False))
    print(f"seeds {list(seeds)}: proven {len(p)} of {len(df)}, mean gap {100 * g.mean():.2f} %, "
          f"optimal on {int((g == 0).sum())}, CPU median {df.cpu_s.median():.2f} s -> {out}")


def huge_cases(n: int):
    """(name, instance) of ``--huge`` (see the module doc)."""
    inst = runtime_instance("greedy", n)
    yield "runtime, per-user deadlines", inst
    yield "runtime, common deadline 25 s", inst.replace(
        users=[{**u, "deadline_s": 25.0} for u in inst.to_dict()["users"]])
    for deadline in (0.2, 25.0):
        yield (f"default models, common deadline {deadline:g} s",
               make_instance(seed=0, n_users=n, sharing="general", deadline_s=deadline))


def huge(n: int, reps: int) -> None:
    """CPU time and memory of density-search on the ``--huge`` instances."""
    import resource
    import tracemalloc

    rows = []
    for name, inst in huge_cases(n):
        inst.arrays                                   # built once, outside the timings
        times = []
        for _ in range(reps):
            t0 = time.process_time()
            seq = solve_density_search(inst)
            times.append(time.process_time() - t0)
        assert plcore.evaluate(inst, seq).feasible
        tracemalloc.start()
        solve_density_search(inst)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        t0 = time.perf_counter()
        limited = plcore.solve_with_status(inst, "density-search", time_limit_s=5.0)
        rows.append({"case": name, "users": inst.n_users, "reps": reps,
                     "cpu_median_s": float(np.median(times)), "cpu_min_s": float(np.min(times)),
                     "cpu_max_s": float(np.max(times)), "served": len(seq),
                     "peak_alloc_mb": peak / 2**20,
                     "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                     "limit_5s_wall_s": time.perf_counter() - t0,
                     "limit_5s_served": len(limited.schedule)})
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    out = result_dir("bench") / "density_search_huge.csv"
    df.to_csv(out, index=False)
    print(df.round(2).to_string(index=False))
    print(f"-> {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--users", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--gap", action="store_true", help="gap to the MILP at 20-30 users instead")
    ap.add_argument("--huge", action="store_true",
                    help="CPU and memory at 200,000 users (--users), common deadlines included")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--milp-limit", type=float, default=60.0)
    args = ap.parse_args()
    if args.gap:
        gap(args.seeds, args.milp_limit)
        return
    if args.huge:
        huge(args.users[0] if "--users" in sys.argv else 200_000, args.reps)
        return
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
