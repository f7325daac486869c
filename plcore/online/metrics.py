"""Metrics of a simulated run: a tidy per-request table and a one-row summary.

Definitions (``n`` requests arrived; ``H`` the time of the last arrival or event, s)

* **goodput**: requests served by their deadline per second of the arrival window
  ``(0, t_last_arrival]`` (req/s); it never exceeds the arrival rate ``n / t_last_arrival``.
  Both are NaN (undefined) when every request arrives at t = 0, as in a batch;
* **late share / rejected share**: fractions of the ``n`` requests;
* **latency**: ``finish - arrival`` of the requests that were run (served or late), P50/P95/P99
  with bootstrap confidence intervals (:func:`quantile_ci`);
* **Jain's index** ``(sum x)^2 / (n sum x^2)`` of each model's (each user's) served share,
  over the models (users) with at least one request;
* **GPU time**: shares of ``H`` spent loading, running inference, and idle (no job dispatched);
  with pipelining loading and inference overlap, so the shares may add up to more than 1; the
  rest of a dispatched job's time is spent waiting for its data;
* **bytes loaded per served request** and the **cache hit rate** (blocks of dispatched models
  found resident / blocks needed).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import binom

from .simulator import LATE, REJECTED, SERVED, STATUS, Run

__all__ = ["summary", "frame", "jain_index", "quantile_ci", "format_summary"]


def jain_index(x) -> float:
    """Jain's fairness index ``(sum x)^2 / (n sum x^2)`` in ``[1/n, 1]``; 1 for all-zero input.

    Examples
    --------
    >>> from plcore.online.metrics import jain_index
    >>> jain_index([1, 1, 1]), jain_index([1, 0, 0])
    (1.0, 0.3333333333333333)
    """
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return math.nan
    sq = float(np.sum(x * x))
    return 1.0 if sq == 0 else float(np.sum(x)) ** 2 / (x.size * sq)


def quantile_ci(values, q: float, *, level: float = 0.95, n_boot: int = 2000,
                seed: int = 0) -> tuple[float, float, float]:
    """A quantile and its percentile-bootstrap confidence interval.

    Parameters
    ----------
    values : array_like, shape (n,)
    q : float
        Quantile in (0, 1) (e.g. 0.99 for P99).
    level : float
        Confidence level of the interval.
    n_boot : int
        Bootstrap replicates.
    seed : int
        Seeds the replicates: same data and seed, same interval.

    Returns
    -------
    (estimate, low, high) : tuple of float
        The sample quantile (the ``ceil(q n)``-th smallest value) and the interval; NaNs when
        ``values`` is empty.

    Notes
    -----
    Resampling n values with replacement and taking the ``ceil(q n)``-th smallest gives the
    ``j``-th smallest of the sample with ``P(j <= i) = P(Binomial(n, i / n) >= ceil(q n))``
    (the resample has at least ``ceil(q n)`` values among the ``i`` smallest). So each replicate
    is drawn from that distribution by inversion, with seeded uniforms: the same distribution
    as resampling, in O(n log n + n_boot log n) instead of O(n_boot n), which matters for a
    million latencies.

    Examples
    --------
    >>> import numpy as np
    >>> from plcore.online.metrics import quantile_ci
    >>> est, lo, hi = quantile_ci(np.arange(1, 1001), 0.5)
    >>> est, bool(lo < est < hi)
    (500.0, True)
    """
    x = np.sort(np.asarray(values, dtype=float))
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan
    k = max(int(math.ceil(q * n - 1e-9)), 1)
    est = float(x[k - 1])
    i = np.arange(1, n + 1)
    cdf = binom.sf(k - 1, n, i / n)               # P(j <= i)
    u = np.random.default_rng(seed).random(n_boot)
    j = np.minimum(np.searchsorted(cdf, u, side="left"), n - 1)
    reps = x[j]
    a = (1 - level) / 2
    return est, float(np.quantile(reps, a)), float(np.quantile(reps, 1 - a))


def frame(run: Run):
    """One row per request: the tidy table of a run (pandas DataFrame).

    Columns: ``request, arrival_s, model, user, deadline_s`` (absolute), ``status``
    (served/late/rejected), ``reason``, ``upload_s, dispatch_s, start_s, finish_s, end_s``,
    ``latency_s`` (finish - arrival; NaN if not run), ``load_s, bytes_loaded, hits, accesses``.
    """
    import pandas as pd

    return pd.DataFrame({
        "request": np.arange(run.n), "arrival_s": run.arrival_s,
        "model": np.asarray(run.model_names, dtype=object)[run.model] if run.n else [],
        "user": run.user, "deadline_s": run.deadline_s,
        "status": np.asarray(STATUS, dtype=object)[run.status] if run.n else [],
        "reason": run.reason, "upload_s": run.upload_s, "dispatch_s": run.dispatch_s,
        "start_s": run.start_s, "finish_s": run.finish_s, "end_s": run.end_s,
        "latency_s": run.finish_s - run.arrival_s, "load_s": run.load_s,
        "bytes_loaded": run.bytes_loaded, "hits": run.hits, "accesses": run.accesses,
    })


def _served_share(groups: np.ndarray, served: np.ndarray) -> np.ndarray:
    _, inv = np.unique(groups, return_inverse=True)
    total = np.bincount(inv)
    ok = np.bincount(inv, weights=served.astype(float))
    return ok / total


def summary(run: Run, *, n_boot: int = 2000, seed: int = 0) -> dict:
    """The one-row summary of a run (a dict of plain numbers and strings).

    Parameters
    ----------
    run : Run
    n_boot, seed
        Bootstrap of the latency percentiles (:func:`quantile_ci`).

    Returns
    -------
    dict
        ``requests, served, late, rejected, arrival_rate_hz, goodput_hz, late_share,
        rejected_share, latency_p50_s`` (and ``_lo``/``_hi`` bounds, likewise P95 and P99),
        ``jain_models, jain_users, gpu_load_share, gpu_infer_share, gpu_idle_share,
        gpu_wait_share`` (dispatched but waiting for its data), ``bytes_per_served,
        cache_hit_rate, horizon_s, cpu_s`` and the run's configuration.

    Notes
    -----
    O(n log n) (sorting the latencies).
    """
    n = run.n
    served = run.status == SERVED
    late = run.status == LATE
    window = float(run.arrival_s.max()) if n else 0.0
    H = run.horizon_s
    out = {**run.config, "requests": n, "served": int(served.sum()), "late": int(late.sum()),
           "rejected": int((run.status == REJECTED).sum())}
    out["arrival_rate_hz"] = n / window if window > 0 else math.nan      # no window: undefined
    out["goodput_hz"] = int(served.sum()) / window if window > 0 else math.nan
    out["late_share"] = float(late.mean()) if n else math.nan
    out["rejected_share"] = float((run.status == REJECTED).mean()) if n else math.nan
    lat = (run.finish_s - run.arrival_s)[served | late]
    for q in (50, 95, 99):
        est, lo, hi = quantile_ci(lat, q / 100, n_boot=n_boot, seed=seed)
        out[f"latency_p{q}_s"], out[f"latency_p{q}_lo_s"], out[f"latency_p{q}_hi_s"] = est, lo, hi
    out["jain_models"] = jain_index(_served_share(run.model, served)) if n else math.nan
    out["jain_users"] = jain_index(_served_share(run.user, served)) if n else math.nan
    out["gpu_load_share"] = run.gpu_load_s / H if H > 0 else math.nan
    out["gpu_infer_share"] = run.gpu_infer_s / H if H > 0 else math.nan
    out["gpu_idle_share"] = 1.0 - run.gpu_busy_s / H if H > 0 else math.nan
    # Dispatched but neither loading nor computing: waiting for the job's data to arrive.
    out["gpu_wait_share"] = (max(0.0, run.gpu_busy_s - run.gpu_load_s - run.gpu_infer_s) / H
                             if H > 0 else math.nan)
    n_served = int(served.sum())
    out["bytes_per_served"] = float(run.bytes_loaded.sum()) / n_served if n_served else math.inf
    acc = int(run.accesses.sum())
    out["cache_hit_rate"] = int(run.hits.sum()) / acc if acc else math.nan
    out["horizon_s"] = H
    out["cpu_s"] = run.cpu_s
    return out


def format_summary(s: dict) -> str:
    """The summary on one screen, for the command line.

    A value that is not defined for the run (NaN or infinite: no request ran, none was served,
    or all arrived at t = 0) is written ``n/a``, not ``nan`` or ``inf``.
    """
    def ms(key):
        est = _number(1e3 * s[key + "_s"], ".1f", " ms")
        if est == "n/a":
            return est
        return (f"{est} [{_number(1e3 * s[key + '_lo_s'], '.1f')}, "
                f"{_number(1e3 * s[key + '_hi_s'], '.1f')}]")

    def pct(key, spec=".1f"):
        return _number(100 * s[key], spec, " %")

    lines = [
        f"policy {s['policy']}  loader {s['loader']}  eviction {s['eviction']}  "
        f"capacity {_number(s['capacity_bytes'] / 1e9, '.3g', ' GB')}  pipelined "
        f"{s['pipelined']}  bandwidth {s['bandwidth']} "
        f"({_number(s['bandwidth_hz'] / 1e6, 'g', ' MHz')})",
        f"requests {s['requests']}: served {s['served']}, late {s['late']}, "
        f"rejected {s['rejected']}",
        f"arrival rate {_number(s['arrival_rate_hz'], '.4g', ' req/s')}, goodput "
        f"{_number(s['goodput_hz'], '.4g', ' req/s')}, late {pct('late_share', '.2f')}, "
        f"rejected {pct('rejected_share', '.2f')}",
        f"latency P50 {ms('latency_p50')}  P95 {ms('latency_p95')}  P99 {ms('latency_p99')} "
        "(95 % bootstrap CI)",
        f"Jain's index: models {_number(s['jain_models'], '.3f')}, users "
        f"{_number(s['jain_users'], '.3f')}",
        f"GPU time: loading {pct('gpu_load_share')}, inference {pct('gpu_infer_share')}, "
        f"waiting for data {pct('gpu_wait_share')}, idle {pct('gpu_idle_share')}",
        f"bytes loaded per served request {_number(s['bytes_per_served'] / 1e6, '.3g', ' MB')}, "
        f"cache hit rate {pct('cache_hit_rate')}",
        f"simulated {_number(s['horizon_s'], '.4g', ' s')} in {_number(s['cpu_s'], '.3g', ' s')} "
        "of CPU",
    ]
    return "\n".join(lines)


def _number(value: float, spec: str, unit: str = "") -> str:
    """``value`` formatted with ``spec``, then ``unit``; ``n/a`` where it is not finite."""
    return f"{value:{spec}}{unit}" if math.isfinite(value) else "n/a"
