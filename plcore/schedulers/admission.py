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

from ..model.instance import Instance
from ..model.timeline import (alap_starts, load_times, meets_deadlines, model_load_times,
                        user_bandwidth, within_budget)
from .limits import current_clock


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
        # The same loading rule as the evaluator: the load of m right after the last kept model.
        L = model_load_times(arr, np.array([m] if prev < 0 else [prev, m]), partial)[-1]
        finish = t + L + arr.infer_s[k]
        if finish <= arr.deadline_s[k] + arr.time_tol_s:
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


_EVAL_OVERHEAD = 500   # one evaluation's fixed cost, in units of schedule length


def reinsert(instance: Instance, seq, partial: bool = True, max_work: int = 2_000_000) -> list[int]:
    """Give every user left out of ``seq`` a second chance, at the place that costs least bandwidth.

    Users not in ``seq`` are taken earliest deadline first; each is tried at candidate positions
    and inserted at the feasible one (deadlines and budget, ALAP) with the least total bandwidth.
    Candidate positions are all of them for schedules of up to 40 users; beyond, the places where
    it adds no loading (next to a user of the same model), its earliest-deadline place and the end.

    Parameters
    ----------
    max_work : int
        Budget: the summed length of all schedules evaluated, plus a fixed 500 per evaluation
        for its overhead. It bounds the time on large instances (about 0.1 s per million on one
        core of the CI machine) and is not reached on small ones.

    Returns
    -------
    list of int
        A feasible schedule containing ``seq`` in the same relative order.

    Notes
    -----
    O(max_work). The schedule stays feasible after every insertion, since only feasible
    insertions are kept. The budget is checked before each user, so one user's positions are all
    tried even past it (on huge schedules that one user can cost many times the budget).

    Under a time limit (:func:`plcore.solve`) the schedule in hand is offered to the clock after
    every insertion, and the limit is checked before each evaluation.
    """
    arr = instance.arrays
    seq = [int(k) for k in seq]
    clock = current_clock()
    clock.offer(seq)
    clock.note("second chance for left-out users")
    alone = user_bandwidth(instance, np.arange(instance.n_users), arr.deadline_s - arr.infer_s)
    inside = set(seq)
    left = [int(k) for k in np.argsort(arr.deadline_s, kind="stable")
            if int(k) not in inside and within_budget(alone[k], instance.bandwidth_hz)]
    work = 0
    for k in left:
        if work >= max_work:
            break
        current = np.array(seq, dtype=int)    # converted once per user, not per evaluation
        if len(seq) <= 40:
            positions = range(len(seq) + 1)
        else:
            same = np.flatnonzero(arr.model_of[current] == arr.model_of[k])
            edf = int(np.searchsorted(arr.deadline_s[current], arr.deadline_s[k], side="right"))
            positions = sorted({*same.tolist(), *(same + 1).tolist(), edf, len(seq)})
        best = None
        for p in positions:
            clock.check()
            trial = np.insert(current, p, k)
            work += trial.size + _EVAL_OVERHEAD
            total = _total_if_feasible(instance, trial, partial)
            if total is not None and (best is None or total < best[0]):
                best = (total, trial)
        if best is not None:
            seq = best[1].tolist()
            clock.offer(seq)
    return seq


def _total_if_feasible(instance: Instance, seq: np.ndarray, partial: bool) -> float | None:
    """Total ALAP bandwidth of a schedule (an int array) if it is feasible, else None."""
    arr = instance.arrays
    L = load_times(arr, seq, partial=partial)
    s = alap_starts(arr, seq, L)
    if not meets_deadlines(s, L, arr.time_tol_s):
        return None
    total = float(user_bandwidth(instance, seq, s).sum())
    return total if within_budget(total, instance.bandwidth_hz) else None
