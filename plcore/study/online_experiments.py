"""Experiments of the online-serving pages: a scenario's catalogue, one simulated run as a row.

The online notebooks sweep one knob (offered load, cache capacity, popularity skew, burstiness,
the Lyapunov weight V, pipelining) with :func:`plcore.study.sweep.run_sweep` over
:func:`online_trial`, which draws a seeded workload for a paper-like scenario
(:mod:`plcore.study.scenarios`), simulates it (:func:`plcore.online.simulate`) and returns the
run's summary (:func:`plcore.online.metrics.summary`) as one row. The helpers below turn those rows
into the numbers the pages state: means over seeds with intervals, the knee of a load curve.

Load is counted in units of the **traditional server's capacity**: ``1 / (L + infer_s)`` requests
per second, the rate at which a server that reloads a whole model (load time ``L``) for every
request is busy all the time. It is computed from the scenario, not chosen after the results.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..model.instance import Instance
from ..online import generate, make_policy, simulate
from ..online.catalogue import whole_server_rate
from ..online.metrics import summary
from .scenarios import Scenario, make_instance

__all__ = ["scenario_catalogue", "model_bytes", "whole_server_rate", "online_trial", "knee",
           "policy_key", "POLICIES", "SUMMARY_COLUMNS"]

# The policies the pages compare, in the order of plcore.study.plots.POLICY_STYLE.
POLICIES = ("fifo-whole", "fifo-cache", "pl-greedy", "edf-batch", "lyapunov")

# Columns of plcore.online.metrics.summary kept in a trial's row.
SUMMARY_COLUMNS = ("requests", "served", "late", "rejected", "arrival_rate_hz", "goodput_hz",
                   "late_share", "rejected_share", "latency_p50_s", "latency_p95_s",
                   "latency_p99_s", "latency_p99_lo_s", "latency_p99_hi_s", "jain_models",
                   "jain_users", "gpu_load_share", "gpu_infer_share", "gpu_idle_share",
                   "gpu_wait_share", "bytes_per_served", "cache_hit_rate", "horizon_s")


def scenario_catalogue(scenario: Scenario | dict | None = None) -> Instance:
    """The catalogue of a scenario: its blocks, models, loader and radio constants, no users.

    Parameters
    ----------
    scenario : Scenario or dict, optional
        A scenario, or changes to the default :class:`~plcore.study.scenarios.Scenario`.

    Returns
    -------
    Instance
        The scenario's instance for seed 0 with its users removed (the online workload brings
        its own requests). Block sizes and load times come from the scenario's profile and do
        not depend on the seed.

    Raises
    ------
    ValueError
        For a bad scenario parameter (named).

    Examples
    --------
    >>> from plcore.study.online_experiments import scenario_catalogue
    >>> cat = scenario_catalogue({"n_clusters": 3})
    >>> len(cat.models), cat.n_users
    (15, 0)

    Notes
    -----
    O(blocks + models).
    """
    if scenario is None or isinstance(scenario, dict):
        scenario = Scenario().replace(**(scenario or {}))
    d = make_instance(scenario.replace(n_users=1), seed=0).to_dict()
    d["users"] = []
    d.pop("meta", None)
    return Instance.from_dict(d)


def model_bytes(catalogue: Instance) -> float:
    """Bytes of the largest model of ``catalogue`` (B): the unit of cache capacity.

    Examples
    --------
    >>> from plcore.online import cluster_catalogue
    >>> round(model_bytes(cluster_catalogue()) / 1e6, 1)
    102.4
    """
    return max(sum(catalogue.blocks[b].bytes for b in m.blocks) for m in catalogue.models.values())




def online_trial(seed: int, policy: str, load: float = 1.0, n_requests: int = 2000,
                 capacity_models: float = 1.0, eviction: str = "lru", pipelined: bool = False,
                 cv: float = 1.0, popularity: str = "uniform", zipf_alpha: float = 1.0,
                 deadline_s: float = 0.2, V: float | None = None, bandwidth: str = "equal",
                 scenario: dict | None = None, n_boot: int = 1000) -> pd.DataFrame:
    """Simulate one seeded workload under one policy; the run's summary as one row.

    Parameters
    ----------
    seed : int
        Seeds the workload (arrivals, models, users' positions, shadowing).
    policy : str
        One of :data:`plcore.online.POLICIES`.
    load : float
        Offered load in units of :func:`whole_server_rate` (1: the traditional server is busy
        all the time), > 0.
    n_requests : int
    capacity_models : float
        GPU memory for parameters, in units of :func:`model_bytes` (1: room for one model).
    eviction, pipelined, bandwidth
        Passed to :func:`plcore.online.simulate`.
    cv, popularity, zipf_alpha, deadline_s
        Passed to :func:`plcore.online.generate` (inter-arrival CV, model popularity, relative
        deadline in s).
    V : float, optional
        The Lyapunov policy's weight (its default when None); ignored by the other policies
        (their rows have ``V`` NaN).
    scenario : dict, optional
        Changes to the default scenario (:func:`scenario_catalogue`).
    n_boot : int
        Bootstrap replicates of the latency percentiles' intervals.

    Returns
    -------
    pandas.DataFrame
        One row: the parameters, ``rate_hz`` (the arrival rate asked for), ``served_share``
        (goodput over the measured arrival rate) and :data:`SUMMARY_COLUMNS`.

    Raises
    ------
    ValueError
        For an unknown policy, a load or capacity <= 0, or a bad scenario parameter.

    Examples
    --------
    >>> from plcore.study.online_experiments import online_trial
    >>> row = online_trial(0, "fifo-cache", load=0.5, n_requests=200)
    >>> int(row.served.iloc[0] + row.late.iloc[0] + row.rejected.iloc[0])
    200

    Notes
    -----
    O(n_requests log n_requests) for the simulator plus the policy's cost per decision (one
    greedy solve per window for ``pl-greedy``).
    """
    if not load > 0:
        raise ValueError(f"load must be > 0, got {load!r}")
    if not capacity_models > 0:
        raise ValueError(f"capacity_models must be > 0, got {capacity_models!r}")
    cat = scenario_catalogue(scenario)
    rate = load * whole_server_rate(cat)
    w = generate(cat, n_requests, rate, seed=seed, cv=cv, popularity=popularity,
                 zipf_alpha=zipf_alpha, deadline_s=deadline_s)
    options = {"V": V} if (policy == "lyapunov" and V is not None) else {}
    run = simulate(cat, w, make_policy(policy, **options),
                   capacity_bytes=capacity_models * model_bytes(cat), eviction=eviction,
                   pipelined=pipelined, bandwidth=bandwidth)
    s = summary(run, n_boot=n_boot, seed=seed)
    row = {"seed": seed, "policy": policy, "load": load, "capacity_models": capacity_models,
           "eviction": eviction, "pipelined": pipelined, "cv": cv, "popularity": popularity,
           "zipf_alpha": zipf_alpha, "deadline_s": deadline_s,
           "V": options.get("V", math.nan), "rate_hz": rate,
           "served_share": s["goodput_hz"] / s["arrival_rate_hz"]}
    row.update({k: s[k] for k in SUMMARY_COLUMNS})
    return pd.DataFrame([row])


def knee(x, served_share, threshold: float = 0.95) -> float:
    """The load at which the served share first falls below ``threshold``: the knee.

    Linear interpolation between the last swept load at or above the threshold and the first
    below it.

    Parameters
    ----------
    x : sequence of float
        Swept loads, increasing.
    served_share : sequence of float
        Mean share of requests served by their deadlines at each load.
    threshold : float
        The share that counts as "keeping up".

    Returns
    -------
    float
        The interpolated load; ``x[0]`` if the first point is already below the threshold, NaN if
        no point is (the knee lies beyond the sweep).

    Raises
    ------
    ValueError
        If the sequences differ in length, are empty, or ``x`` is not increasing.

    Examples
    --------
    >>> round(knee([1, 2, 3], [1.0, 0.9, 0.5]), 9)      # halfway from 1.0 down to 0.9 at 0.95
    1.5
    >>> import math; math.isnan(knee([1, 2], [1.0, 0.99]))
    True

    Notes
    -----
    O(len(x)).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(served_share, dtype=float)
    if x.size == 0 or x.shape != y.shape:
        raise ValueError(f"knee: need equal, non-empty sequences, got {x.size} and {y.size}")
    if np.any(np.diff(x) <= 0):
        raise ValueError(f"knee: loads must increase, got {x.tolist()}")
    below = np.flatnonzero(y < threshold)
    if below.size == 0:
        return math.nan
    i = int(below[0])
    if i == 0:
        return float(x[0])
    x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
    f = (y0 - threshold) / (y0 - y1)
    return float((1 - f) * x0 + f * x1)


def policy_key(policy: str) -> str:
    """A policy's name as a glue-key fragment: ``"pl-greedy"`` -> ``"pl_greedy"``."""
    return policy.replace("-", "_")
