"""Admission steps shared by the heuristic schedulers: deadlines first, then the bandwidth budget.

Both steps only ever *remove* users from an order, which is safe: removing a user never makes the
others start earlier. Its inference time disappears, and the next user's load can only shrink or
stay, because partial loading obeys the triangle inequality ``L(p -> n) <= L(p -> m) + L(m -> n)``
(a block of ``n`` missing from ``p`` is either loaded before ``m`` or before ``n``). The same holds
for the whole-model loader. So an order that meets its deadlines still meets them, and every ALAP
start, hence every user's least bandwidth, can only get better.
"""

from __future__ import annotations

import numpy as np

from ..instance import Instance
from ..timeline import TIME_TOL_S, alap_starts, load_times, user_bandwidth, within_budget


def admit_deadlines(instance: Instance, order, partial: bool = True) -> list[int]:
    """Walk ``order`` as early as possible, keeping each user that still finishes by its deadline.

    Parameters
    ----------
    instance : Instance
    order : sequence of int
        Candidate users in service order.
    partial : bool
        Loader assumed (partial loading, or whole models).

    Returns
    -------
    list of int
        The kept users, in the same order; the schedule meets every deadline.

    Notes
    -----
    O(n). A skipped user is skipped for good: time only moves forward.
    """
    arr = instance.arrays
    kept: list[int] = []
    t = 0.0
    prev = -1  # model index of the last kept user, -1 for the resident state
    for k in order:
        m = arr.model_of[k]
        if partial:
            L = arr.from_resident_s[m] if prev < 0 else arr.link_s[prev, m]
        elif prev < 0:
            L = 0.0 if arr.resident_holds[m] else arr.model_full_s[m]
        else:
            L = 0.0 if m == prev else arr.model_full_s[m]
        finish = t + L + arr.infer_s[k]
        if finish <= arr.deadline_s[k] + TIME_TOL_S:
            kept.append(int(k))
            t = finish
            prev = m
    return kept


def fit_bandwidth(instance: Instance, seq, partial: bool = True) -> list[int]:
    """Drop users from a deadline-feasible order until its ALAP bandwidth fits the budget.

    Each round evaluates the ALAP timeline and drops the users needing the most bandwidth, as few
    as cover the excess (at most 2 % of the users per round, at least one), then re-evaluates: the
    survivors start later and need less.

    Returns
    -------
    list of int
        A subsequence of ``seq`` that is feasible (deadlines and budget).

    Notes
    -----
    O(n) per round, O(n) rounds in the worst case, usually a handful.
    """
    arr = instance.arrays
    seq = np.asarray(seq, dtype=int)
    budget = instance.bandwidth_hz
    while seq.size:
        s = alap_starts(arr, seq, load_times(arr, seq, partial=partial))
        bw = user_bandwidth(instance, seq, s)
        total = bw.sum()
        if within_budget(total, budget):
            break
        by_need = np.argsort(-bw, kind="stable")
        excess = total - budget
        cover = int(np.searchsorted(np.cumsum(bw[by_need]), excess) + 1) if np.isfinite(excess) \
            else int(np.isinf(bw).sum())
        drop = by_need[:max(1, min(cover, max(1, seq.size // 50)))]
        seq = np.delete(seq, drop)
    return seq.tolist()
