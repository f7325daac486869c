"""Experiments shared by the benchmarks and the notebooks: one trial function per comparison.

Each function returns a tidy ``pandas.DataFrame`` (one row per instance and method) and is seeded:
same arguments, same rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .schedulers import solve
from .synthetic import random_instance

CASES = ("bottom, common deadline", "general, per-user deadlines")
BINDING_BUDGETS_HZ = (1e6, 2e6, 4e6, 8e6)
AMPLE_BUDGET_HZ = 1e11


def small_instance(seed: int, case: str, binding: bool):
    """A random small instance (4-8 users, 2-5 models) of one comparison case.

    ``binding`` draws the budget from :data:`BINDING_BUDGETS_HZ` (1-8 MHz: most instances then
    serve fewer users than time alone would allow), else :data:`AMPLE_BUDGET_HZ`.
    """
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(4, 9)), int(rng.integers(2, 6))
    bw = float(rng.choice(BINDING_BUDGETS_HZ)) if binding else AMPLE_BUDGET_HZ
    if case == CASES[0]:
        return random_instance(seed, n, m, structure="bottom", common_deadline=True,
                               bandwidth_hz=bw, deadline_s=(0.02, 0.08))
    if case == CASES[1]:
        return random_instance(seed, n, m, structure="general", bandwidth_hz=bw,
                               deadline_s=(0.015, 0.08))
    raise ValueError(f"unknown case {case!r}; one of {CASES}")


def optimality_trial(seed: int, case: str, binding: bool,
                     methods=("dp", "greedy", "no-sharing", "edf", "random")) -> pd.DataFrame:
    """Every method against the exact optimum on one small instance.

    ``dp`` is skipped for the general case (it does not apply). Columns: case, binding, seed,
    method, optimum, served.
    """
    inst = small_instance(seed, case, binding)
    best = len(solve(inst, method="exact"))
    rows = []
    for method in methods:
        if method == "dp" and case != CASES[0]:
            continue
        rows.append({"case": case, "binding": binding, "seed": seed, "method": method,
                     "optimum": best, "served": len(solve(inst, method=method))})
    return pd.DataFrame(rows)


def summarize_optimality(df: pd.DataFrame) -> pd.DataFrame:
    """Optimality rate, mean and largest gap (users) by case, budget and method."""
    df = df.assign(optimal=df.served == df.optimum, gap=df.optimum - df.served)
    return (df.groupby(["case", "binding", "method"])
            .agg(instances=("optimal", "size"), optimal_rate=("optimal", "mean"),
                 mean_gap=("gap", "mean"), max_gap=("gap", "max"))
            .reset_index())


METHODS = ("dp", "greedy", "no-sharing", "edf", "random")


def scenario_trial(seed: int, methods=METHODS, **changes) -> pd.DataFrame:
    """Every method on one paper-like scenario drawn with ``seed`` (see :mod:`plcore.scenarios`).

    ``changes`` override :class:`~plcore.scenarios.Scenario` defaults and are repeated as columns,
    so sweeps over any parameter stay tidy. ``dp`` is skipped where it does not apply (per-user
    deadlines or general sharing). "no-sharing" is evaluated under the whole-model loader it
    assumes. Columns: the changes, seed, method, served, bandwidth_mhz_used, load_s, infer_s.
    """
    from .evaluate import evaluate
    from .scenarios import make_instance

    inst = make_instance(seed=seed, **changes)
    common = len({u.deadline_s for u in inst.users}) <= 1
    rows = []
    for method in methods:
        if method == "dp" and not (common and changes.get("sharing", "bottom") == "bottom"):
            continue
        seq = solve(inst, method=method)
        ev = evaluate(inst, seq, partial=method != "no-sharing")
        rows.append({**{k: v if np.isscalar(v) else str(v) for k, v in changes.items()},
                     "seed": seed, "method": method, "served": len(seq),
                     "bandwidth_mhz_used": ev.total_bandwidth_hz / 1e6,
                     "load_s": float(ev.load_s.sum()), "infer_s": float(inst.arrays.infer_s[seq].sum())})
    return pd.DataFrame(rows)
