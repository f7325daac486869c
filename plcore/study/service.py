"""A feasible schedule served as early as possible: bandwidth shares, upload times, latencies.

:func:`plcore.evaluate` fixes the *least* bandwidth of each served user (data arriving exactly at
its ALAP start). A deployed uplink need not leave the rest of the band idle; this module shares the
leftover ``B - sum(beta)`` out and runs the schedule as early as possible, so that latency metrics
(upload time, completion time, percentiles, fairness) can be read off a schedule. This is *our*
definition, used by the book's latency and fairness experiment; MODEL.md fixes only feasibility and
throughput, which do not depend on it.

Timeline, per position ``i`` of the schedule (all users send from t = 0):

    b_i      = beta_i + share_i                         (bandwidth, Hz; sums to at most B)
    tau_i    = D_i / r_i(b_i)                           (upload time: communication latency, s)
    start_i  = max(tau_i, finish_{i-1} + L_i)           (finish_0 = 0; loading needs no data)
    finish_i = start_i + infer_i                        (end-to-end latency, s)

Since ``b_i >= beta_i(s_i^ALAP)``, ``tau_i <= s_i^ALAP``, and by induction ``start_i <= s_i^ALAP``:
a feasible schedule still meets every deadline (checked by the tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ScheduleError
from ..model.bandwidth import shannon_rate
from ..model.evaluate import evaluate
from ..model.instance import Instance
from ..model.timeline import asap_finish

__all__ = ["Service", "serve", "upload_time", "SHARES"]

SHARES = ("equal", "proportional", "none")


@dataclass(frozen=True)
class Service:
    """A schedule as served; arrays are indexed by position in ``sequence``, shape ``(n,)``."""

    sequence: tuple[int, ...]
    partial: bool
    share: str
    bandwidth_hz: np.ndarray   # allocated bandwidth b_i (Hz)
    upload_s: np.ndarray       # tau_i: time the user's data has fully arrived (s)
    load_s: np.ndarray         # L_i (s)
    start_s: np.ndarray        # inference start (s)
    finish_s: np.ndarray       # inference done: end-to-end latency from t = 0 (s)


def upload_time(data_bits, radio, b_hz, rate: str = "shannon") -> np.ndarray:
    """Time (s) to send ``data_bits`` at bandwidth ``b_hz``: ``D / r(b)``; 0 without data.

    ``radio`` is ``a_k`` (Hz) for the Shannon rate and the spectral efficiency for the linear one.
    """
    D = np.asarray(data_bits, dtype=float)
    b = np.asarray(b_hz, dtype=float)
    r = shannon_rate(b, radio) if rate == "shannon" else b * np.asarray(radio, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(D > 0, D / r, 0.0)
    return np.where(np.isnan(t), np.inf, t)


def serve(instance: Instance, sequence, partial: bool = True, share: str = "equal") -> Service:
    """Serve a feasible schedule as early as possible with the whole band shared out.

    Parameters
    ----------
    instance : Instance
    sequence : sequence of int
        A schedule that :func:`plcore.evaluate` finds feasible under ``partial``.
    partial : bool, default True
        Partial loading (True) or the whole-model loader (False), as in :func:`plcore.evaluate`.
    share : {"equal", "proportional", "none"}, default "equal"
        How the leftover ``B - sum(beta)`` is shared: in equal parts, in proportion to each user's
        least bandwidth ``beta``, or not at all (each user keeps exactly ``beta``).

    Returns
    -------
    Service
        Bandwidth (Hz), upload time, load time, inference start and completion (s) per position.

    Raises
    ------
    ScheduleError
        If the schedule is not feasible (its reason is quoted), or for a bad sequence.
    ValueError
        For an unknown ``share``.

    Examples
    --------
    >>> import plcore
    >>> from plcore.study.service import serve
    >>> inst = plcore.load_instance("data/instances/example.json")
    >>> seq = plcore.solve(inst, method="exact")
    >>> sv = serve(inst, seq)
    >>> bool((sv.finish_s <= inst.arrays.deadline_s[seq] + 1e-12).all())
    True

    Notes
    -----
    O(n) after :func:`plcore.evaluate`. With ``share="none"`` every upload ends exactly at the
    ALAP start (up to rounding), and only the GPU side runs earlier.
    """
    if share not in SHARES:
        raise ValueError(f"share must be one of {SHARES}, got {share!r}")
    ev = evaluate(instance, sequence, partial=partial)
    if not ev.feasible:
        raise ScheduleError(f"cannot serve an infeasible schedule: {ev.reason}")
    seq = list(ev.sequence)
    arr = instance.arrays
    beta = np.asarray(ev.bandwidth_hz, dtype=float)
    n = len(seq)
    leftover = max(instance.bandwidth_hz - float(beta.sum()), 0.0)
    if share == "equal" and n:
        b = beta + leftover / n
    elif share == "proportional" and beta.sum() > 0:
        b = beta * (instance.bandwidth_hz / beta.sum())
    else:
        b = beta.copy()
    idx = np.asarray(seq, dtype=int)
    tau = upload_time(arr.data_bits[idx], arr.radio[idx], b, arr.rate)
    # Never later than the ALAP start whose bandwidth b covers; rounding in D / r(b) must not make a
    # user with exactly beta look a hair late.
    tau = np.minimum(tau, ev.start_s)
    finish = asap_finish(arr, seq, ev.load_s, ready=tau)
    return Service(sequence=tuple(seq), partial=partial, share=share, bandwidth_hz=b,
                   upload_s=tau, load_s=np.asarray(ev.load_s, dtype=float),
                   start_s=finish - arr.infer_s[idx], finish_s=finish)
