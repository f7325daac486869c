"""Evaluate a schedule: timeline, least bandwidth per user, feasibility and throughput."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bandwidth import min_time
from .instance import Instance
from .timeline import (alap_starts, asap_finish, check_partial, load_times, meets_deadlines,
                       schedule_indices, user_bandwidth, within_budget)

__all__ = ["Evaluation", "evaluate"]


@dataclass(frozen=True)
class Evaluation:
    """The evaluation of one schedule. Arrays are indexed by position in ``sequence``.

    Attributes
    ----------
    sequence : tuple[int, ...]
        The users served, in order.
    partial : bool
        Partial loading (True) or the traditional whole-model loader (False).
    load_s : ndarray, shape (n,)
        Load time before each inference (s).
    start_s : ndarray, shape (n,)
        ALAP inference start times (s); the load for position i runs in ``[start_s - load_s, start_s)``.
    finish_s : ndarray, shape (n,)
        Inference completion times under ALAP (s).
    bandwidth_hz : ndarray, shape (n,)
        Least bandwidth of each user (Hz): its data arrives exactly at its start.
    total_bandwidth_hz : float
        Sum of ``bandwidth_hz`` (Hz).
    budget_hz : float
        The instance's total bandwidth ``B`` (Hz).
    slack_s : float
        ``start_s[0] - load_s[0]``: how much later the whole schedule could begin (s); negative when
        the order cannot meet its deadlines.
    meets_deadlines : bool
    feasible : bool
        Meets every deadline and ``total_bandwidth_hz <= budget_hz``.
    throughput : int
        Users served by their deadlines: ``len(sequence)`` if feasible, else 0.
    reason : str or None
        Why the schedule is infeasible, in words; None when feasible.
    """

    sequence: tuple
    partial: bool
    load_s: np.ndarray
    start_s: np.ndarray
    finish_s: np.ndarray
    bandwidth_hz: np.ndarray
    total_bandwidth_hz: float
    budget_hz: float
    slack_s: float
    meets_deadlines: bool
    feasible: bool
    throughput: int
    reason: str | None

    def to_dict(self) -> dict:
        """JSON-ready dict (infinite bandwidths become the string "inf")."""
        def num(x):
            x = float(x)
            return x if np.isfinite(x) else ("inf" if x > 0 else "-inf")

        return {
            "sequence": list(self.sequence), "partial": self.partial,
            "feasible": self.feasible, "throughput": self.throughput, "reason": self.reason,
            "meets_deadlines": self.meets_deadlines, "slack_s": num(self.slack_s),
            "total_bandwidth_hz": num(self.total_bandwidth_hz), "budget_hz": self.budget_hz,
            "load_s": [num(v) for v in self.load_s], "start_s": [num(v) for v in self.start_s],
            "finish_s": [num(v) for v in self.finish_s],
            "bandwidth_hz": [num(v) for v in self.bandwidth_hz],
        }


def evaluate(instance: Instance, sequence, partial: bool = True) -> Evaluation:
    """Evaluate a schedule under the ALAP timeline and the closed-form least bandwidth.

    Parameters
    ----------
    instance : Instance
    sequence : sequence of int
        Distinct user indices, in service order. Users not listed are dropped.
    partial : bool, default True
        True: partial loading (only blocks missing from the previous model are loaded).
        False: the traditional loader (whole model at every model change, and for the first
        model whatever blocks are resident: it knows models, not blocks).

    Returns
    -------
    Evaluation

    Raises
    ------
    ScheduleError
        For a repeated, unknown or non-integer user index (naming its position).
    TypeError
        If ``partial`` is not True or False (a string ``'False'`` would otherwise count as True).

    Examples
    --------
    >>> import plcore
    >>> inst = plcore.Instance.from_dict({
    ...     "blocks": {"base": {"bytes": 4e7, "load_s": 0.004}, "h1": {"bytes": 1e6, "load_s": 1e-4},
    ...                "h2": {"bytes": 1e6, "load_s": 1e-4}},
    ...     "models": {"m1": {"blocks": ["base", "h1"], "infer_s": 0.002},
    ...                "m2": {"blocks": ["base", "h2"], "infer_s": 0.002}},
    ...     "users": [{"model": "m1", "data_bits": 1e6, "deadline_s": 0.05, "power_w": 0.2,
    ...                "channel_gain": 1e-10},
    ...               {"model": "m2", "data_bits": 1e6, "deadline_s": 0.05, "power_w": 0.2,
    ...                "channel_gain": 1e-10}],
    ...     "noise_psd_w_hz": 4e-21, "bandwidth_hz": 2e7})
    >>> ev = plcore.evaluate(inst, [0, 1])
    >>> ev.feasible, ev.throughput, ev.load_s.round(4).tolist()    # base is loaded once
    (True, 2, [0.0041, 0.0001])
    >>> plcore.evaluate(inst, [0, 1], partial=False).load_s.round(4).tolist()
    [0.0041, 0.0041]

    Notes
    -----
    ALAP: ``F_n = d_n``, ``F_i = min(d_i, s_{i+1} - L_{i+1})``, ``s_i = F_i - infer_i``; deadlines
    are met iff ``s_1 - L_1 >= 0`` (MODEL.md section 2). O(n log n) time (checking that the
    users are distinct), O(n) otherwise.
    """
    partial = check_partial(partial)
    idx = schedule_indices(instance, sequence)     # one array for every step below
    seq = idx.tolist()
    arr = instance.arrays
    L = load_times(arr, idx, partial=partial)
    s = alap_starts(arr, idx, L)
    n = len(seq)
    bw = user_bandwidth(instance, idx, s) if n else np.zeros(0)
    total = float(bw.sum()) if n else 0.0
    slack = float(s[0] - L[0]) if n else np.inf
    meets = meets_deadlines(s, L, arr.time_tol_s)
    feasible = bool(meets and within_budget(total, instance.bandwidth_hz))

    reason = None
    if not meets:
        finish = asap_finish(arr, seq, L)
        late = int(np.argmax(finish - arr.deadline_s[seq]))   # the latest user
        k = seq[late]
        reason = (f"deadline missed: user {k} (position {late}) finishes at {finish[late]:.6g} s "
                  f"even when everything runs as early as possible; its deadline is "
                  f"{arr.deadline_s[k]:.6g} s")
    elif not feasible:
        inf_pos = np.flatnonzero(~np.isfinite(bw))
        if inf_pos.size:
            i = int(inf_pos[0])
            k = seq[i]
            need = float(min_time(arr.data_bits[k], arr.radio[k])) if arr.rate == "shannon" else 0.0
            reason = (f"user {k} (position {i}) cannot upload {arr.data_bits[k]:.6g} bits by its "
                      f"latest start {s[i]:.6g} s at any bandwidth (it needs more than "
                      f"{need:.6g} s)")
        else:
            reason = (f"bandwidth: the users need {total / 1e6:.6g} MHz in total, more than the "
                      f"budget of {instance.bandwidth_hz / 1e6:.6g} MHz")
    return Evaluation(
        sequence=tuple(seq), partial=partial, load_s=L, start_s=s, finish_s=s + arr.infer_s[idx],
        bandwidth_hz=bw, total_bandwidth_hz=total, budget_hz=instance.bandwidth_hz,
        slack_s=slack, meets_deadlines=bool(meets), feasible=feasible,
        throughput=n if feasible else 0, reason=reason)
