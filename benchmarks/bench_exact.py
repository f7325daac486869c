"""The exact solver against a plain NumPy brute force, in CPU seconds, written to results/bench/.

    .venv/bin/python benchmarks/bench_exact.py [--seeds 2] [--reps 5] [--users 6 7 8 9 10]

Three regimes: loose deadlines and ample bandwidth (almost nothing is pruned: the worst case),
tight deadlines, and a binding bandwidth budget. For every instance both methods run ``reps``
times in turn in the same process; the table gives CPU-time medians (``time.process_time``) with
their min and max, wall medians, and the ratio exact / brute force of the two medians. The brute
force (:func:`brute_force`) is only run up to ``--brute-max`` users (9: 362,880 orders); it must
agree with the exact solver on every instance it is run on (checked here).
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import pandas as pd

import plcore
from common import machine, timed
from plcore.model.timeline import BANDWIDTH_RTOL, user_bandwidth
from plcore.paths import result_dir
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
                    t_ex, seq = timed(lambda: plcore.solve(inst, method="exact"), args.reps)
                    row = {"users": n, "regime": regime, "structure": structure, "seed": seed,
                           "throughput": len(seq), **{f"exact_{k}": v for k, v in t_ex.items()}}
                    if n <= args.brute_max:
                        t_bf, best = timed(lambda: brute_force(inst), args.reps)
                        if best != len(seq):
                            raise AssertionError(f"brute force {best} != exact {len(seq)} "
                                                 f"({n} users, {regime}, {structure}, {seed})")
                        row.update({f"brute_{k}": v for k, v in t_bf.items()})
                        row["ratio"] = t_ex["cpu_s"] / t_bf["cpu_s"]
                    rows.append(row)
    df = pd.DataFrame(rows)
    out = result_dir("bench") / "exact_runtime.csv"
    df.to_csv(out, index=False)
    cols = {"exact_cpu_s": "median", "exact_wall_s": "median"}
    if "ratio" in df:
        cols.update({"brute_cpu_s": "median", "ratio": ["median", "max"]})
    summary = df.groupby(["users", "regime"]).agg(cols)
    print(f"exact solver vs NumPy brute force, CPU seconds (medians of {args.reps} runs per "
          f"instance, then the median over {args.seeds} seeds x 2 structures); ratio = exact / "
          f"brute force, measured in one run; {machine()}")
    print(summary.to_string(float_format=lambda v: f"{v:.4g}"))
    if "ratio" in df:
        print(f"exact faster than brute force on {(df.ratio < 1).sum()} of "
              f"{df.ratio.notna().sum()} instances")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
