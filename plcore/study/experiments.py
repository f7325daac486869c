"""Experiments shared by the benchmarks and the notebooks: one trial function per comparison.

Each function returns a tidy ``pandas.DataFrame`` (one row per instance and method) and is seeded:
same arguments, same rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..schedulers import WHOLE_MODEL_LOADER, solve
from .general_sharing import applies, solve_each
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
                     methods=("dp", "greedy", "density-search", "no-sharing", "edf", "random")) -> pd.DataFrame:
    """Every method against the exact optimum on one small instance.

    ``dp`` is skipped where it does not apply (:func:`plcore.study.general_sharing.applies`: the
    general case). Columns: case, binding, seed, method, optimum, served.
    """
    inst = small_instance(seed, case, binding)
    best = len(solve(inst, method="exact"))
    rows = []
    for method in methods:
        if not applies(method, inst):
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


METHODS = ("dp", "greedy", "density-search", "no-sharing", "fcfs-full", "edf", "random")


def _columns(changes: dict) -> dict:
    """Scenario changes as table columns: scalars as they are, anything else (a range, a
    tuple) as its text, so the tidy CSVs of a sweep stay flat."""
    return {k: v if np.isscalar(v) else str(v) for k, v in changes.items()}


def scenario_trial(seed: int, methods=METHODS, **changes) -> pd.DataFrame:
    """Every method on one paper-like scenario drawn with ``seed`` (see :mod:`plcore.study.scenarios`).

    ``changes`` override :class:`~plcore.study.scenarios.Scenario` defaults and are repeated as columns,
    so sweeps over any parameter stay tidy. ``dp`` is skipped where the drawn instance does not
    allow it (:func:`plcore.study.general_sharing.applies`: per-user deadlines, or sharing other
    than bottom layers). "no-sharing" and "fcfs-full" are evaluated under the
    whole-model loader they assume. Columns: the changes, seed, method, served, bandwidth_mhz_used, load_s, infer_s.
    """
    from .scenarios import make_instance

    inst = make_instance(seed=seed, **changes)
    return pd.DataFrame([{**_columns(changes), "seed": seed, "method": method,
                          "served": len(seq), "bandwidth_mhz_used": ev.total_bandwidth_hz / 1e6,
                          "load_s": float(ev.load_s.sum()),
                          "infer_s": float(inst.arrays.infer_s[seq].sum())}
                         for method, seq, ev in solve_each(inst, methods)])


def runtime_instance(method: str, size: int, axis: str = "users", seed: int = 0):
    """The instances the runtime benchmark times (see :func:`runtime_point`).

    greedy: general sharing over a ResNet-101 zoo (6 private blocks per model at random positions),
    per-user deadlines of 0.5-50 s, 100 MHz; ``axis="users"``: ``size`` users and 20 x 10 models;
    ``axis="models"``: 10,000 users and ``size`` models (clusters of 10).
    dp: bottom-layer sharing over a ResNet-50 zoo (4 clusters, 12 shared blocks), a common deadline
    of 5 ms per user; ``"dp"`` with ample bandwidth, ``"dp-binding"`` with 20 MHz.
    exact: a random general-sharing instance (:func:`plcore.study.synthetic.random_instance`, ``size``
    users, ``size // 2`` models) with loose deadlines and ample bandwidth, where almost nothing is
    pruned: the exact solver's worst case.
    """
    from .scenarios import make_instance

    if method == "exact":
        return random_instance(seed, size, max(2, size // 2), structure="general",
                               deadline_s=(0.5, 1.0), bandwidth_hz=1e10)
    if method == "greedy":
        users, clusters = (size, 20) if axis == "users" else (10000, max(1, size // 10))
        return make_instance(seed=seed, n_users=users, architecture="resnet101", sharing="general",
                             n_clusters=clusters, models_per_cluster=10, private_blocks=6,
                             deadline_s=(0.5, 50.0), bandwidth_hz=100e6)
    if method in ("dp", "dp-binding"):
        users, per = (size, 5) if axis == "users" else (400, max(1, size // 4))
        return make_instance(seed=seed, n_users=users, n_clusters=4, models_per_cluster=per,
                             shared_depth=12, deadline_s=0.005 * users,
                             bandwidth_hz=1e12 if method == "dp" else 20e6)
    raise ValueError(f"no runtime instance for method {method!r}")


def runtime_point(method: str, size: int, axis: str = "users", reps: int = 3,
                  seed: int = 0) -> pd.DataFrame:
    """Median wall time (s) of ``solve`` on :func:`runtime_instance`, over ``reps`` runs.

    Each run starts from a fresh copy of the instance, so building its index arrays is included.
    """
    import time

    from ..model.instance import Instance

    inst = runtime_instance(method, size, axis, seed)
    d = inst.to_dict()
    times = []
    for _ in range(reps):
        fresh = Instance.from_dict(d)
        t0 = time.perf_counter()
        seq = solve(fresh, method="dp" if method.startswith("dp") else method)
        times.append(time.perf_counter() - t0)
    return pd.DataFrame([{"method": method, "axis": axis, "size": size,
                          "users": inst.n_users, "models": len(inst.models),
                          "blocks": len(inst.blocks), "served": len(seq),
                          "seconds": float(np.median(times)), "reps": reps}])


def growth_exponents(df: pd.DataFrame) -> pd.DataFrame:
    """Growth of solve time with size, a fixed cost separated out: ``t(n) = c + b n^k``.

    A plain log-log slope mixes a fixed cost (building index arrays, a capped search) with the
    growth and understates the exponent; the three parameters are fitted to ``log t`` by least
    squares (``c`` in ``[0, min t)``, ``k`` in ``[0, 4]``). With fewer than four sizes, or where
    the fit fails, the slope of the two largest sizes is given instead (``fit`` says which).

    Returns
    -------
    pandas.DataFrame
        Per method and axis: ``exponent`` (k), ``fixed_s`` (c), ``fit``, ``loglog_slope`` (the
        plain slope, for comparison), ``largest`` and ``seconds_at_largest``.
    """
    from scipy.optimize import curve_fit

    out = []
    for (method, axis), g in df.groupby(["method", "axis"]):
        g = g.sort_values("size")
        n, t = g["size"].to_numpy(float), g["seconds"].to_numpy(float)
        x, y = np.log(n), np.log(t)
        slope = float(np.polyfit(x, y, 1)[0]) if len(g) > 1 else np.nan
        k, c, how = np.nan, 0.0, "none"
        if len(g) >= 4:
            def model(logn, c, logb, k):
                return np.log(c + np.exp(logb + k * logn))
            try:
                with np.errstate(all="ignore"):
                    (c, logb, k), _ = curve_fit(
                        model, x, y, p0=(0.5 * t.min(), y[-1] - slope * x[-1], slope),
                        bounds=([0.0, -60.0, 0.0], [t.min() * (1 - 1e-9), 60.0, 4.0]))
                how = "c + b n^k"
            except (RuntimeError, ValueError):
                k = np.nan
        if not np.isfinite(k) and len(g) > 1:
            k, c, how = float((y[-1] - y[-2]) / (x[-1] - x[-2])), 0.0, "two largest sizes"
        out.append({"method": method, "axis": axis, "exponent": float(k), "fixed_s": float(c),
                    "fit": how, "loglog_slope": slope, "largest": int(g["size"].iloc[-1]),
                    "seconds_at_largest": float(g["seconds"].iloc[-1])})
    return pd.DataFrame(out)


def decoupling_trial(seed: int, n_users: int = 6, n_timings: int = 200,
                     structure: str = "general") -> pd.DataFrame:
    """Random valid timings of one random order against its ALAP timing (MODEL.md, decoupling).

    Draws a random instance and a random order; if the order can meet its deadlines, draws
    ``n_timings`` start times that respect only the constraints (order, loads, each user's own
    deadline) and records, for each, its total least bandwidth divided by the ALAP total, and
    whether every start is at most the ALAP start. The decoupling theorem says the ratio is >= 1
    and the starts never later. Columns: seed, timing, ratio, starts_within_alap.
    """
    from ..model.evaluate import evaluate
    from ..model.timeline import user_bandwidth

    rng = np.random.default_rng(seed)
    inst = random_instance(seed, n_users, 3, structure=structure, deadline_s=(0.03, 0.15),
                           bandwidth_hz=1e12)
    order = [int(k) for k in rng.permutation(n_users)]
    ev = evaluate(inst, order)
    if not ev.meets_deadlines:
        return pd.DataFrame(columns=["seed", "timing", "ratio", "starts_within_alap"])
    arr = inst.arrays
    d, tau, L = arr.deadline_s[order], arr.infer_s[order], ev.load_s
    rows = []
    for j in range(n_timings):
        gamma = [np.inf, 1.0, 3.0, 10.0][j % 4]     # inf: as early as possible
        s, earliest = np.empty(n_users), 0.0
        for i in range(n_users):
            lo, hi = earliest + L[i], d[i] - tau[i]
            if hi < lo:
                break
            s[i] = lo if np.isinf(gamma) else lo + (hi - lo) * rng.random() ** gamma
            earliest = s[i] + tau[i]
        else:
            total = float(user_bandwidth(inst, order, s).sum())
            rows.append({"seed": seed, "timing": j, "ratio": total / ev.total_bandwidth_hz,
                         "starts_within_alap": bool(np.all(s <= ev.start_s + 1e-12))})
    return pd.DataFrame(rows)


SERVICE_METHODS = ("dp", "greedy", "no-sharing", "fcfs-full")


def service_trial(seed: int, methods=SERVICE_METHODS, share: str = "equal", **changes) -> pd.DataFrame:
    """Per-user latencies of each method's schedule on one paper-like scenario.

    Each schedule is served as early as possible with the leftover bandwidth shared out
    (:func:`plcore.study.service.serve`); "no-sharing" and "fcfs-full" under the whole-model loader they
    assume. One row per user and method (dropped users too, with NaN times). Columns: the changes,
    seed, method, user, model, served, upload_s, latency_s.
    """
    from .scenarios import make_instance
    from .service import serve

    inst = make_instance(seed=seed, **changes)
    arr = inst.arrays
    names = list(inst.models)
    fixed = _columns(changes)
    frames = []
    for method in methods:
        seq = solve(inst, method=method)
        sv = serve(inst, seq, partial=method not in WHOLE_MODEL_LOADER, share=share)
        upload = np.full(inst.n_users, np.nan)
        latency = np.full(inst.n_users, np.nan)
        upload[list(seq)] = sv.upload_s
        latency[list(seq)] = sv.finish_s
        frames.append(pd.DataFrame({
            **fixed, "seed": seed, "method": method, "user": np.arange(inst.n_users),
            "model": [names[m] for m in arr.model_of], "served": ~np.isnan(latency),
            "upload_s": upload, "latency_s": latency}))
    return pd.concat(frames, ignore_index=True)


def service_summary(df: pd.DataFrame, by=("method",), n_boot: int = 400) -> pd.DataFrame:
    """Latency and fairness metrics of :func:`service_trial` rows, with 95 % intervals.

    One row per group and metric (columns: the ``by`` columns, metric, mean, lo, hi), metrics:

    * ``served``: users served per scenario;
    * ``upload_ms``: communication latency, the mean upload time of the served users of a scenario;
    * ``latency_p50_ms``, ``latency_p99_ms``: median and 99th percentile of the end-to-end latency
      of the served users, pooled over scenarios (interval: bootstrap over scenarios);
    * ``jain``: Jain's index of the fraction of each requested model's users served.

    Per-scenario metrics get Student-t intervals over the scenarios (:func:`plcore.study.stats.mean_ci`).
    """
    from .stats import cluster_bootstrap_ci, jain_index, mean_ci

    by = list(by)
    per_seed = df.groupby(by + ["seed"]).agg(served=("served", "sum"))
    per_seed["upload_ms"] = 1e3 * df[df.served].groupby(by + ["seed"]).upload_s.mean()
    per_seed["jain"] = (df.groupby(by + ["seed", "model"]).served.mean()
                        .groupby(by + ["seed"]).apply(jain_index))
    per_seed = per_seed.reset_index()
    parts = [mean_ci(per_seed, by, m).assign(metric=m) for m in ("served", "upload_ms", "jain")]
    rows = []
    for key, g in df[df.served].groupby(by):
        key = key if isinstance(key, tuple) else (key,)
        clusters = [1e3 * s.latency_s.to_numpy() for _, s in g.groupby("seed")]
        for q, name in ((0.5, "latency_p50_ms"), (0.99, "latency_p99_ms")):
            est, lo, hi = cluster_bootstrap_ci(clusters, lambda x, q=q: np.quantile(x, q),
                                               n_boot=n_boot)
            rows.append({**dict(zip(by, key)), "metric": name, "mean": est, "lo": lo, "hi": hi})
    parts.append(pd.DataFrame(rows))
    cols = by + ["metric", "mean", "lo", "hi"]
    return pd.concat([p[cols] for p in parts], ignore_index=True)


def throughput_ratios(ci: pd.DataFrame, x: str, method: str = "dp",
                      baselines=("no-sharing", "fcfs-full")) -> pd.DataFrame:
    """Mean users served per method at each ``x``, and ``method``'s ratio over each baseline.

    ``ci`` is a :func:`plcore.study.stats.mean_ci` table of ``served`` by ``[x, "method"]``. The ratio
    columns are named ``"<method> / <baseline>"``.
    """
    table = ci.pivot(index=x, columns="method", values="mean")
    for b in baselines:
        table[f"{method} / {b}"] = table[method] / table[b]
    return table
