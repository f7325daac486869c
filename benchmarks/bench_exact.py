"""The exact solver against a plain NumPy brute force, in CPU seconds, written to results/bench/.

    .venv/bin/python benchmarks/bench_exact.py [--seeds 2] [--reps 5] [--users 6 7 8 9 10]

What is timed: ``exact`` is ``plcore.solve(inst, method="exact")``, what a user calls: the
search, the time-limit clock and the final ``plcore.evaluate`` check of the schedule it returns.
The brute force (:func:`brute_force`) returns only the optimum's length: no schedule, no check.
The search alone (``solve_exact``, no check) is timed too, as ``search``. The ratio compares
``plcore.solve`` with the brute force.

Three regimes: loose deadlines and ample bandwidth (almost nothing is pruned: the worst case),
tight deadlines, and a binding bandwidth budget. For every instance the methods run in turn, one
run of each per round, ``reps`` rounds in the same process; the table gives CPU-time medians
(``time.process_time``), wall medians, and the ratio exact / brute force of the two CPU medians
per instance, then the median and the largest over the instances of a size and regime. The brute
force is only run up to ``--brute-max`` users (9: 362,880 orders, about 2 s a run; 10 users take
about ten times as long and some GB); it must agree with the exact solver on every instance it
is run on (checked here). Above ``--brute-max`` users the ratio is bounded instead: by exact's
slowest median over the brute force's fastest run at ``--brute-max`` users in the same regime
(which enumerates fewer orders than at more users).
"""

from __future__ import annotations

import argparse
import itertools
import statistics

import numpy as np
import pandas as pd

import plcore
from common import machine, timed
from plcore.model.timeline import BANDWIDTH_RTOL, user_bandwidth
from plcore.paths import result_dir
from plcore.schedulers.exact import solve_exact
from plcore.study.synthetic import random_instance

REGIMES = {
    "loose, ample bandwidth": dict(deadline_s=(0.5, 1.0), bandwidth_hz=1e10),
    "tight deadlines": dict(deadline_s=(0.02, 0.1), bandwidth_hz=1e10),
    "binding bandwidth": dict(deadline_s=(0.04, 0.15), bandwidth_hz=6e6),
}


def brute_force(inst: plcore.Instance) -> int:
    """The optimum throughput by enumerating every order of all users with NumPy.

    Every schedule is a suffix of some order of all n users, and a suffix's ALAP starts are those
    it has inside the whole order (a start depends only on what follows). So for all n! orders at
    once: starts backwards (n vectorized steps), least bandwidths (one call), suffix sums; a
    suffix is feasible when its first user's load from the resident blocks fits before its start
    and its bandwidth sum fits the budget.
    """
    arr = inst.arrays
    n = inst.n_users
    if n == 0:
        return 0
    perm = np.array(list(itertools.permutations(range(n))), dtype=np.intp)
    mod = arr.model_of[perm]
    starts = np.empty(perm.shape)
    starts[:, -1] = arr.deadline_s[perm[:, -1]] - arr.infer_s[perm[:, -1]]
    for i in range(n - 2, -1, -1):
        finish = np.minimum(arr.deadline_s[perm[:, i]],
                            starts[:, i + 1] - arr.link_s[mod[:, i], mod[:, i + 1]])
        starts[:, i] = finish - arr.infer_s[perm[:, i]]
    bw = user_bandwidth(inst, perm.ravel(), starts.ravel()).reshape(perm.shape)
    suffix_bw = np.cumsum(bw[:, ::-1], axis=1)[:, ::-1]
    ok = ((starts - arr.from_resident_s[mod] >= -arr.time_tol_s)
          & (suffix_bw <= inst.bandwidth_hz * (1 + BANDWIDTH_RTOL)))
    length = np.where(ok, n - np.arange(n)[None, :], 0)
    return int(length.max())


def timed_in_turn(fns: dict, reps: int) -> tuple[dict, dict]:
    """:func:`common.timed` for several functions, one run of each in turn, ``reps`` rounds.

    Taking the runs in turn rather than one function's runs in a row exposes every method to
    the same load on a shared machine, so that the ratio of their medians is not the ratio of
    two different moments. Returns the timings and the last result of each, by name.
    """
    rounds = [{name: timed(fn, 1) for name, fn in fns.items()} for _ in range(reps)]
    times = {}
    for name in fns:
        cpu = [r[name][0]["cpu_s"] for r in rounds]
        wall = [r[name][0]["wall_s"] for r in rounds]
        times[name] = {"cpu_s": statistics.median(cpu), "cpu_min_s": min(cpu),
                       "cpu_max_s": max(cpu), "wall_s": statistics.median(wall), "reps": reps}
    return times, {name: rounds[-1][name][1] for name in fns}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--users", type=int, nargs="+", default=[6, 7, 8, 9, 10])
    ap.add_argument("--brute-max", type=int, default=9)
    args = ap.parse_args()
    rows = []
    for n in args.users:
        for regime, kw in REGIMES.items():
            for structure in ("general", "bottom"):
                for seed in range(args.seeds):
                    inst = random_instance(seed, n, max(2, n // 2), structure=structure, **kw)
                    inst.arrays
                    fns = {"exact": lambda: plcore.solve(inst, method="exact"),
                           "search": lambda: solve_exact(inst)}
                    if n <= args.brute_max:
                        fns["brute"] = lambda: brute_force(inst)
                    times, last = timed_in_turn(fns, args.reps)
                    seq = last["exact"]
                    if last["search"] != seq:
                        raise AssertionError(f"solve_exact {last['search']} != plcore.solve {seq}")
                    if n <= args.brute_max and last["brute"] != len(seq):
                        raise AssertionError(f"brute force {last['brute']} != exact {len(seq)} "
                                             f"({n} users, {regime}, {structure}, {seed})")
                    row = {"users": n, "regime": regime, "structure": structure, "seed": seed,
                           "throughput": len(seq)}
                    for name, t in times.items():
                        row.update({f"{name}_{k}": v for k, v in t.items()})
                    if n <= args.brute_max:
                        row["ratio"] = times["exact"]["cpu_s"] / times["brute"]["cpu_s"]
                    rows.append(row)
    df = pd.DataFrame(rows)
    out = result_dir("bench") / "exact_runtime.csv"
    df.to_csv(out, index=False)
    cols = {"exact_cpu_s": "median", "exact_wall_s": "median", "search_cpu_s": "median"}
    if "ratio" in df:
        cols.update({"brute_cpu_s": "median", "ratio": ["median", "max"]})
    summary = df.groupby(["users", "regime"]).agg(cols)
    print(f"exact = plcore.solve(method='exact') (search + final evaluate check), search = "
          f"solve_exact alone, vs NumPy brute force; CPU seconds (medians of {args.reps} runs per "
          f"instance, then the median over {args.seeds} seeds x 2 structures); ratio = exact / "
          f"brute force per instance, measured in one run; {machine()}")
    print(summary.to_string(float_format=lambda v: f"{v:.4g}"))
    if "ratio" in df:
        print(f"exact faster than brute force on {(df.ratio < 1).sum()} of "
              f"{df.ratio.notna().sum()} instances")
        ran = df[df.ratio.notna()]
        for n in sorted(set(df.users) - set(ran.users)):
            for regime in REGIMES:
                here = df[(df.users == n) & (df.regime == regime)]
                base = ran[(ran.users == ran.users.max()) & (ran.regime == regime)]
                if len(here) and len(base):
                    print(f"{n} users, {regime}: brute force not run; ratio < "
                          f"{here.exact_cpu_s.max() / base.brute_cpu_min_s.min():.3g} (exact's "
                          f"slowest median over the brute force's fastest run at "
                          f"{ran.users.max()} users, which enumerates fewer orders)")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
