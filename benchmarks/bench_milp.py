"""The MILP oracle on scenario instances of 10 to 30 users, written to results/bench/milp.csv.

    .venv/bin/python benchmarks/bench_milp.py [--seeds 5] [--users 10 15 20 25 30] [--limit 60]
        [--search-nodes N]

Instances: ``plcore.study.scenarios.make_instance`` with per-user deadlines drawn from 0.1 to
0.3 s, under general sharing and under the default bottom-layer sharing. Each solve runs under a
wall-clock limit (``--limit``, seconds); the CSV has one row per instance (CPU seconds, users
served, whether optimality was proven, the proven upper bound, MILP rounds), and the summary
printed at the end gives, per size, how many instances were solved to proven optimality out of
how many, the median CPU seconds, and what settled the last count (``proof``: the suffix search,
a program, the combinatorial bounds, or the heuristics serving every candidate). ``bound`` is the
largest count the combinatorial bounds left open (None where the heuristics already served every
candidate). ``--search-nodes 0`` turns the suffix search off (the programs alone, as before it).
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import pandas as pd

from plcore.paths import result_dir
from plcore.schedulers.limits import TimeLimitWarning
from plcore.schedulers.milp import solve_milp
from plcore.study.scenarios import make_instance


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--users", type=int, nargs="+", default=[10, 15, 20, 25, 30])
    ap.add_argument("--limit", type=float, default=60.0, help="wall-clock seconds per solve")
    ap.add_argument("--search-nodes", type=int, default=1_000_000,
                    help="node budget of the suffix search per count (0: off)")
    args = ap.parse_args()
    rows = []
    for n in args.users:
        for sharing in ("general", "bottom"):
            for seed in range(args.seeds):
                inst = make_instance(seed=seed, n_users=n, sharing=sharing,
                                     deadline_s=(0.1, 0.3))
                info: dict = {}
                c0, w0 = time.process_time(), time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", TimeLimitWarning)
                    seq = solve_milp(inst, time_limit_s=args.limit, info=info,
                                     search_nodes=args.search_nodes)
                rows.append(dict(users=n, sharing=sharing, seed=seed,
                                 cpu_s=time.process_time() - c0,
                                 wall_s=time.perf_counter() - w0, served=len(seq),
                                 optimal=bool(info["optimal"]), upper=info["upper"],
                                 bound=info.get("bound"),
                                 rounds=info["rounds"], candidates=info["candidates"],
                                 proof=info.get("proof"), search_nodes=info["search_nodes"],
                                 limit_s=args.limit, machine=platform.node()))
                print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    out = result_dir("bench") / "milp.csv"
    df.to_csv(out, index=False)
    summary = df.groupby(["users", "sharing"]).agg(
        median_cpu_s=("cpu_s", "median"), median_wall_s=("wall_s", "median"),
        solved=("optimal", "sum"), instances=("optimal", "size"),
        median_served=("served", "median"))
    print(summary.to_string())
    by_size = df.groupby("users").agg(
        proven=("optimal", "sum"), instances=("optimal", "size"),
        median_cpu_s=("cpu_s", "median"), max_cpu_s=("cpu_s", "max"))
    print(by_size.to_string())
    print(df.groupby(["users", "proof"], dropna=False).size().to_string())
    print(f"written to {out}")


if __name__ == "__main__":
    main()
