"""Exact maximum-throughput schedule by branch and bound over suffixes with dominance."""

from __future__ import annotations

import numpy as np

from ..model.instance import Instance
from ..model.timeline import BANDWIDTH_RTOL, user_bandwidth
from .limits import current_clock

__all__ = ["solve_exact"]


def solve_exact(instance: Instance, *, max_users: int = 16) -> list[int]:
    """A maximum-throughput schedule: the true optimum over all sequences of distinct users.

    Among the schedules of maximum throughput it returns one of least total bandwidth (ties broken
    by the search order, deterministically).

    Parameters
    ----------
    instance : Instance
        Any sharing structure, per-user deadlines, Shannon or linear rate, any bandwidth budget.
    max_users : int, default 16
        Refuse larger instances (the worst case is exponential); raise it knowingly.

    Returns
    -------
    list of int
        User indices in service order; ``plcore.evaluate`` finds it feasible. Empty if no user can
        be served.

    Raises
    ------
    ValueError
        If the instance has more than ``max_users`` users.

    Examples
    --------
    >>> import plcore
    >>> inst = plcore.Instance.from_dict({
    ...     "blocks": {"base": {"bytes": 4e7, "load_s": 0.02}, "h1": {"bytes": 1e6, "load_s": 1e-3},
    ...                "h2": {"bytes": 1e6, "load_s": 1e-3}},
    ...     "models": {"m1": {"blocks": ["base", "h1"], "infer_s": 0.005},
    ...                "m2": {"blocks": ["base", "h2"], "infer_s": 0.005}},
    ...     "users": [{"model": m, "data_bits": 1e5, "deadline_s": 0.04, "spectral_eff": 5.0}
    ...               for m in ("m1", "m2", "m1")],
    ...     "rate": "linear", "bandwidth_hz": 1e8})
    >>> plcore.solve(inst, method="exact")      # the two m1 users back to back; base loaded once
    [1, 2, 0]

    Notes
    -----
    **What it searches.** Schedules are built backwards, by prepending users to a suffix. For a fixed
    suffix the ALAP start times of its users (MODEL.md section 2) are fixed except through the
    load time of its first user, which depends on the user prepended next. So a suffix is summarized
    by a *label* ``(S, f, s_f, b)``: its user set ``S``, its first user ``f``, the ALAP start ``s_f``
    of ``f`` and the summed least bandwidth ``b`` of its users. Prepending ``u`` gives
    ``s_u = min(d_u, s_f - L(m_u -> m_f)) - infer_u`` and ``b + beta_u(s_u)``. A label is a
    complete feasible schedule iff ``s_f - L(resident -> m_f) >= 0`` and ``b <= B``. Level ``k``
    holds every non-dominated, non-pruned label with ``|S| = k``; the answer is a feasible label of
    the largest level that has one.

    **Why the pruning is safe.**

    * *Budget*: prepending can only add bandwidth, and never changes a suffix user's start, so a
      label with ``b > B`` has no feasible completion.
    * *Time*: ``f`` is preceded by the resident blocks or by some user ``v`` that must finish, after
      starting at ``t >= 0``, before ``f``'s load; so ``s_f >= min(L(resident -> m_f),
      min_v L(m_v -> m_f) + infer_v)`` is necessary, and a label violating it is dropped. (This is
      the backward form of "a prefix that misses a deadline when run as early as possible can
      never be completed".)
    * *Dominance*: for the same ``(S, f)``, a label with a later-or-equal start and a smaller-or-equal
      bandwidth is at least as good for every completion, because ``s_u`` is non-decreasing in
      ``s_f`` and ``beta`` is non-increasing in time. Dominated labels are dropped.

    **Cost.** At most ``n 2^n`` states ``(S, f)``, each extended by ``n`` users: ``O(n^2 2^n)``
    label extensions times the Pareto-front size, in the worst case (ample deadlines and
    bandwidth); tight deadlines or budgets prune most of it. With loose deadlines, ten users take
    about a second on a 2-core CPU (the book's runtime chapter measures it), sixteen minutes.

    **Time limit** (:func:`plcore.solve`'s ``time_limit_s``). With a limit, the greedy's schedule
    (:func:`~plcore.schedulers.greedy.solve_greedy`, milliseconds at this size) is taken first as
    the one to beat, since the search proves its levels one user at a time and reaches long
    schedules last. The search is stopped between two states; the answer is then the longer of
    the greedy's schedule and the best complete schedule of the largest level finished so far:
    feasible, but not proven optimal.
    """
    n = instance.n_users
    if n > max_users:
        raise ValueError(f"exact solver: {n} users is more than max_users={max_users} "
                         "(the search is exponential in the worst case; pass max_users to insist)")
    if n == 0:
        return []
    arr = instance.arrays
    budget = instance.bandwidth_hz * (1.0 + BANDWIDTH_RTOL)
    m_of, d, infer = arr.model_of, arr.deadline_s, arr.infer_s
    tol = arr.time_tol_s

    # Least time before f's start that any predecessor situation needs (see "Time" above).
    via_user = np.full(n, np.inf)
    for f in range(n):
        others = np.arange(n) != f
        if others.any():
            via_user[f] = np.min(arr.link_s[m_of[others], m_of[f]] + infer[others])
    need = np.minimum(arr.from_resident_s[m_of], via_user)

    def alive(f, s, b):
        return (s - need[f] >= -tol) & (b <= budget)

    # A label is (s, b, u, parent): start of u, bandwidth of the suffix, u, the rest of the suffix.
    level: dict[tuple[int, int], list[tuple]] = {}
    s1 = d - infer
    b1 = user_bandwidth(instance, np.arange(n), s1)
    for f in range(n):
        if alive(f, s1[f], b1[f]):
            level[(1 << f, f)] = [(float(s1[f]), float(b1[f]), f, None)]

    clock = current_clock()
    if clock.limited:
        from .greedy import solve_greedy

        clock.note("greedy schedule to beat")
        clock.offer(solve_greedy(instance))
    best = None
    all_users = np.arange(n)
    size = 1
    while level:
        done = [lab for (mask, f), labs in level.items() for lab in labs
                if lab[0] - arr.from_resident_s[m_of[f]] >= -tol]
        if done:
            best = min(done, key=lambda lab: lab[1])
            clock.offer(_sequence(best))
        clock.note(f"searching schedules of {size + 1} users")
        size += 1
        nxt: dict[tuple[int, int], list[tuple]] = {}
        for (mask, f), labs in level.items():
            clock.check()
            cand = all_users[[(mask >> u) & 1 == 0 for u in range(n)]]
            if cand.size == 0:
                continue
            s_f = np.array([lab[0] for lab in labs])
            b_f = np.array([lab[1] for lab in labs])
            # (labels, candidates) grids: start of the prepended user and the new bandwidth sum.
            s_u = np.minimum(d[cand][None, :], s_f[:, None] - arr.link_s[m_of[cand], m_of[f]][None, :])
            s_u = s_u - infer[cand][None, :]
            b_u = b_f[:, None] + user_bandwidth(instance, np.broadcast_to(cand, s_u.shape), s_u)
            ok = alive(cand[None, :], s_u, b_u)
            for li, ci in zip(*np.nonzero(ok)):
                u = int(cand[ci])
                _insert(nxt.setdefault((mask | (1 << u), u), []),
                        (float(s_u[li, ci]), float(b_u[li, ci]), u, labs[li]))
        level = nxt
    return _sequence(best)


def _sequence(lab: tuple | None) -> list[int]:
    """The schedule of a label: its user, then its parent's (the rest of the suffix)."""
    seq = []
    while lab is not None:
        seq.append(lab[2])
        lab = lab[3]
    return seq


def _insert(front: list[tuple], lab: tuple) -> None:
    """Add ``lab`` to a Pareto front (later start and less bandwidth are better), in place."""
    s, b = lab[0], lab[1]
    for other in front:
        if other[0] >= s and other[1] <= b:
            return
    front[:] = [o for o in front if not (s >= o[0] and b <= o[1])]
    front.append(lab)
