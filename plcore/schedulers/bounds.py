"""Upper bounds on the optimal throughput, for instances too large for the exact solver.

Each bound relaxes part of the problem, so no feasible schedule can serve more users:

* ``deadlines``: loading is free (a valid relaxation: loads are >= 0) and bandwidth unlimited; the
  most users a single GPU can finish by their deadlines is then given exactly by the
  Moore-Hodgson algorithm.
* ``bandwidth``: every user starts at the latest its own deadline allows, ``d_k - infer_k``, which
  no schedule can beat (ALAP starts never exceed it), so each needs at least
  ``beta_k(d_k - infer_k)``; the most users whose least needs fit the budget is found by taking the
  smallest first.
* ``dp-time``: for bottom-layer sharing with a common deadline, the DP's exact optimum without the
  bandwidth budget (users that cannot be served even alone removed).
"""

from __future__ import annotations

import heapq

import numpy as np

from ..model.instance import Instance
from ..model.sharing import NotBottomLayer, layer_tree
from ..model.timeline import BANDWIDTH_RTOL, user_bandwidth, within_budget

__all__ = ["upper_bound", "bounds"]


def _moore_hodgson(p: np.ndarray, d: np.ndarray, tol_s: float) -> int:
    """Most jobs (processing ``p``, due ``d``) one machine can finish on time (Moore-Hodgson 1968),
    counting a job late only by more than ``tol_s``."""
    heap: list[float] = []
    t = 0.0
    for k in np.argsort(d, kind="stable"):
        heapq.heappush(heap, -p[k])
        t += p[k]
        if t > d[k] + tol_s:
            t += heapq.heappop(heap)   # drop the longest job so far
    return len(heap)


def bounds(instance: Instance) -> dict[str, int]:
    """All applicable upper bounds on the optimal throughput, by name (see the module docstring).

    Examples
    --------
    >>> import plcore
    >>> from plcore.schedulers.bounds import bounds, upper_bound
    >>> from plcore.study.synthetic import random_instance
    >>> inst = random_instance(2, 8, 3, structure="bottom", common_deadline=True)
    >>> upper_bound(inst) >= len(plcore.solve(inst, method="exact"))
    True

    Notes
    -----
    O(n log n) for ``deadlines`` and ``bandwidth``; the DP's cost for ``dp-time``.
    """
    arr = instance.arrays
    n = instance.n_users
    if n == 0:
        return {"deadlines": 0, "bandwidth": 0}
    need = np.sort(user_bandwidth(instance, np.arange(n), arr.deadline_s - arr.infer_s))
    out = {
        "deadlines": _moore_hodgson(arr.infer_s, arr.deadline_s, arr.time_tol_s),
        "bandwidth": int(np.searchsorted(np.cumsum(need), instance.bandwidth_hz * (1 + BANDWIDTH_RTOL),
                                         side="right")),
    }
    d = arr.deadline_s
    if np.all(d == d[0]):
        try:
            tree = layer_tree(instance)
        except NotBottomLayer:
            tree = None
        if tree is not None:
            from .dp import dp_time_table

            alone = user_bandwidth(instance, np.arange(n), d - arr.infer_s)
            servable = np.flatnonzero(within_budget(alone, instance.bandwidth_hz))
            table = dp_time_table(instance, tree, servable)
            out["dp-time"] = int(np.flatnonzero(table <= d[0] + arr.time_tol_s).max())
    return out


def upper_bound(instance: Instance) -> int:
    """The tightest of :func:`bounds`: no schedule serves more users."""
    return min(bounds(instance).values())
