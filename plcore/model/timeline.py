"""The timeline of a schedule: load times, ALAP inference starts, ASAP completions (MODEL.md s. 2).

These are the shared building blocks of :func:`plcore.evaluate` and of the solvers, so that every
solver computes start times with exactly the arithmetic the evaluator uses.

All arrays are indexed by *position* in the schedule (0-based), not by user.
"""

from __future__ import annotations

import numpy as np

from ..errors import ScheduleError, short_repr
from .instance import Instance, InstanceArrays

# Feasibility tolerances, shared by evaluator and solvers so that their verdicts agree despite sums
# taken in different orders: timing to the instance's ``arrays.time_tol_s`` (1 ps, more only for
# huge time horizons), and a 1e-9 relative excess of the bandwidth budget.
BANDWIDTH_RTOL = 1e-9


def schedule_indices(inst: Instance, sequence) -> np.ndarray:
    """Validate a schedule: distinct integer user indices in ``range(n_users)``.

    Returns
    -------
    ndarray of int, shape (n,)
        The user indices, in service order.

    Raises
    ------
    ScheduleError
        Naming the first bad position: not an integer, out of range, or a repeated user.

    Notes
    -----
    Checked with whole-array operations (the type of every item, the range, and distinctness by
    sorting); only when something is wrong does the item-by-item walk run, to name the first bad
    position exactly as it always did. O(n log n).
    """
    if isinstance(sequence, (set, frozenset, dict)):
        raise ScheduleError(f"schedule must be ordered (a list or array of user indices), got a "
                            f"{type(sequence).__name__}")
    if isinstance(sequence, np.ndarray) and sequence.ndim == 1 and sequence.dtype.kind in "iu":
        idx, items = sequence, None
    else:
        try:
            items = list(sequence)
        except TypeError:
            raise ScheduleError(f"schedule must be a sequence of user indices, got "
                                f"{short_repr(sequence)}") from None
        types = set(map(type, items))
        # bool is an int subclass, and so are enums: only exact ints and NumPy integers pass here.
        if all(t is int or issubclass(t, np.integer) for t in types):
            idx = np.array(items) if items else np.zeros(0, dtype=int)
        else:
            idx = None
    if idx is not None and idx.dtype.kind in "iu":     # huge Python ints give an object array
        if idx.size == 0:
            return np.zeros(0, dtype=int)
        if not ((idx < 0) | (idx >= inst.n_users)).any():
            ordered = np.sort(idx)
            if (ordered[1:] != ordered[:-1]).all():
                return idx.astype(int, copy=False)
    return np.array(_check_items(inst, list(sequence) if items is None else items), dtype=int)


def _check_items(inst: Instance, items: list) -> list[int]:
    """Item by item: raises :class:`ScheduleError` at the first bad position."""
    seen: dict[int, int] = {}
    out = []
    for pos, k in enumerate(items):
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
            raise ScheduleError(f"schedule[{pos}]: user index must be an integer, got "
                                f"{short_repr(k)}")
        k = int(k)
        if not 0 <= k < inst.n_users:
            raise ScheduleError(f"schedule[{pos}]: unknown user {k} "
                                f"(the instance has users 0..{inst.n_users - 1})")
        if k in seen:
            raise ScheduleError(f"schedule[{pos}]: user {k} already served at position {seen[k]}")
        seen[k] = pos
        out.append(k)
    return out


def check_partial(partial) -> bool:
    """``partial`` as a bool; anything but True or False (``'False'``, None, 0) is a TypeError.

    A string ``'False'`` is truthy: taking it as partial loading would silently give the other
    loader's answer.
    """
    if not isinstance(partial, (bool, np.bool_)):
        raise TypeError(f"partial: must be True (partial loading) or False (the whole-model "
                        f"loader), got {short_repr(partial)} ({type(partial).__name__})")
    return bool(partial)


def load_times(arr: InstanceArrays, seq, partial: bool = True) -> np.ndarray:
    """Load time ``L_i`` (s) before each position's inference, shape ``(n,)``.

    ``partial=True``: only the blocks missing from the previous model (the resident blocks for the
    first) are loaded. ``partial=False``: the traditional loader loads the whole model whenever the
    model changes, the first user's model included whatever blocks are resident: it knows models,
    not blocks (MODEL.md section 5).

    Raises
    ------
    TypeError
        If ``partial`` is not a bool.
    """
    return model_load_times(arr, arr.model_of[np.asarray(seq, dtype=int)], partial)


def model_load_times(arr: InstanceArrays, models: np.ndarray, partial: bool = True) -> np.ndarray:
    """:func:`load_times` for a sequence of model indices (one per position)."""
    partial = check_partial(partial)
    L = np.empty(models.size)
    if models.size == 0:
        return L
    if partial:
        L[0] = arr.from_resident_s[models[0]]
        L[1:] = arr.link_s[models[:-1], models[1:]]
    else:
        L[0] = arr.model_full_s[models[0]]
        L[1:] = np.where(models[1:] == models[:-1], 0.0, arr.model_full_s[models[1:]])
    return L


def alap_starts(arr: InstanceArrays, seq, L: np.ndarray) -> np.ndarray:
    """As-late-as-possible inference start times ``s_i`` (s), shape ``(n,)``.

    ``F_n = d_n``; ``F_i = min(d_i, s_{i+1} - L_{i+1})``; ``s_i = F_i - infer_i``. Every start is
    the latest any valid timing of this order allows, so every user's bandwidth is the least.
    """
    seq = np.asarray(seq, dtype=int)
    return alap_from(L, arr.infer_s[seq], arr.deadline_s[seq])


def alap_from(L: np.ndarray, infer: np.ndarray, deadline: np.ndarray) -> np.ndarray:
    """ALAP starts from per-position loads, inference times and deadlines (s), shape ``(n,)``.

    Unrolled, ``s_i = min_{j >= i}(d_j - P_j) + P_i - infer_i`` with ``P_j`` the running sum of
    ``L + infer`` up to position j: a reversed cumulative minimum, O(n) in NumPy.
    """
    if L.size == 0:
        return np.empty(0)
    P = np.cumsum(L + infer)
    M = np.minimum.accumulate((deadline - P)[::-1])[::-1]
    return M + P - infer


def asap_finish(arr: InstanceArrays, seq: list[int], L: np.ndarray, ready=None) -> np.ndarray:
    """Completion times (s) when everything runs as early as possible from t = 0, shape ``(n,)``.

    Each load starts when the GPU is free; inference follows it, but not before ``ready[i]`` (s),
    when position i's input has arrived (default: inputs are there from the start).
    """
    finish = np.empty(len(seq))
    t = 0.0
    for i, k in enumerate(seq):
        start = t + L[i] if ready is None else max(t + L[i], ready[i])
        t = start + arr.infer_s[k]
        finish[i] = t
    return finish


def pipelined_finish(start_s: float, load_s, compute_s) -> float:
    """Finish (s) of one inference whose blocks compute while its later blocks load.

    The blocks of one model in order, bottom first. From ``start_s`` the missing blocks are copied
    one after the other (``load_s[j]``, 0 for a resident block); block j computes for
    ``compute_s[j]`` once its copy has ended and block j - 1 has computed. With every load first
    and then every computation this is ``start_s + sum(load_s) + sum(compute_s)``; pipelined, the
    loading hidden behind computation is that sum minus the finish.

    Parameters
    ----------
    start_s : float
        When the first copy may start (the previous inference's end).
    load_s, compute_s : sequence of float, shape (b,)
        Per block, in the model's order (s).

    Returns
    -------
    float

    Examples
    --------
    >>> pipelined_finish(0.0, [1.0, 0.0, 2.0], [1.0, 1.0, 1.0])    # block 2 waits for its copy
    4.0
    >>> pipelined_finish(0.0, [0.0, 0.0, 1.0], [1.0, 1.0, 1.0])    # its copy hidden entirely
    3.0

    Notes
    -----
    O(b). The rule of PipeSwitch-style pipelining, as :mod:`plcore.online.simulator` applies it
    with the inference split over the blocks.
    """
    ready = start_s
    t = start_s
    for load, compute in zip(load_s, compute_s):
        ready += load
        t = max(t, ready) + compute
    return float(t)


def user_bandwidth(inst: Instance, users, t_s) -> np.ndarray:
    """Least bandwidth (Hz) of ``users`` whose data must arrive by ``t_s`` (vectorized).

    A start within the timing tolerance before t = 0 counts as t = 0, as the deadline test lets
    it: a user with no data then needs no bandwidth, however the running sums of the start times
    were rounded (one solver's exact 0 can be another's -1e-28).
    """
    from .bandwidth import min_bandwidth

    arr = inst.arrays
    users = np.asarray(users, dtype=int)
    t = np.asarray(t_s, dtype=float)
    early = t < 0
    if early.any():
        t = np.where(early & (t >= -arr.time_tol_s), 0.0, t)
    return min_bandwidth(arr.data_bits[users], arr.radio[users], t, rate=arr.rate)


def meets_deadlines(starts: np.ndarray, L: np.ndarray, tol_s: float) -> bool:
    """Whether ALAP ``starts`` with loads ``L`` meet every deadline: the first load fits after
    t = 0, ``s_1 - L_1 >= 0`` (MODEL.md section 2), up to ``tol_s`` (the instance's
    ``arrays.time_tol_s``). True when empty."""
    return starts.size == 0 or bool(starts[0] - L[0] >= -tol_s)


def within_budget(total_hz: float, budget_hz: float) -> bool:
    """``total <= budget`` up to the shared relative tolerance (elementwise for arrays)."""
    return total_hz <= budget_hz * (1.0 + BANDWIDTH_RTOL)
