"""Exact maximum-throughput schedule by branch and bound over suffixes with dominance."""

from __future__ import annotations

import functools

import numpy as np

from ..model.instance import Instance
from ..model.timeline import BANDWIDTH_RTOL, user_bandwidth
from .limits import current_clock
from .options import check_option

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
        If the instance has more than ``max_users`` users, or ``max_users`` is not an integer
        >= 0.

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
    **What it searches.** Schedules are built backwards, by prepending users to a suffix. For a
    fixed suffix the ALAP start times of its users (MODEL.md section 2) are fixed except through
    the load time of its first user, which depends on the user prepended next. So a suffix is
    summarized by a *label* ``(S, f, s_f, b)``: its user set ``S``, its first user ``f``, the ALAP
    start ``s_f`` of ``f`` and the summed least bandwidth ``b`` of its users. Prepending ``u`` gives
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
    * *Dominance*: for the same ``(S, f)``, a label with a later-or-equal start and a
      smaller-or-equal bandwidth is at least as good for every completion, because ``s_u`` is
      non-decreasing in ``s_f`` and ``beta`` is non-increasing in time. Dominated labels are
      dropped.

    **Small instances** (at most six users, no time limit). The label search pays one
    least-bandwidth call per level, about a hundred NumPy operations whatever the level's size,
    which at six users cost more than the search itself. So up to six users the solver instead
    lists every sequence of distinct users (1,956 at six users, a table built once per size),
    computes their starts level by level with the same arithmetic, keeps those whose every
    suffix passes the time test, and takes all their least bandwidths in one call (each
    distinct pair of user and start once: most sequences share them). Every label the search
    would keep is among them, and every one of them is dominated by a label the search keeps
    (same state, by induction over the levels), so the largest level with a complete
    schedule within the budget and its least bandwidth are the search's; when a single sequence
    has that least bandwidth it is the search's answer, and on a tie the label search runs to
    pick the same one. The result is the same schedule either way (tested on random instances,
    ties included).

    **Cost.** At most ``n 2^n`` states ``(S, f)``, each extended by ``n`` users: ``O(n^2 2^n)``
    label extensions times the Pareto-front size, in the worst case (ample deadlines and
    bandwidth); tight deadlines or budgets prune most of it. Each level is computed at once in
    NumPy (one least-bandwidth call for every label and user, the fronts by one sort), so the
    fixed cost is a few array operations per level. Against enumerating every order with NumPy
    (``benchmarks/bench_exact.py --reps 5``: :func:`plcore.solve` with its final ``evaluate``
    check, about a quarter of its time at six users, against a brute force that returns only the
    optimum's length; CPU seconds, medians of 5 runs taken in turn, on a 2-core machine shared
    with other jobs), the ratio per instance, median per size over three regimes (loose, tight
    deadlines, binding budget), was 0.71-0.79 at 6 users (0.46-0.87 ms against 0.66-1.14 ms;
    up to 0.88 in other runs on the shared machine), 0.29-0.38 at 7, 0.03-0.07 at 8,
    0.003-0.013 at 9, and below 0.032 at 10 (bounded by the brute force's fastest run at 9
    users); exact was faster on all 48 instances. With loose deadlines
    (``random_instance(3, n, n, deadline_s=(0.5, 1.0))``) ten users take about 0.01 s of CPU and
    twelve 0.08 s (the book's runtime chapter measures it).

    **Time limit** (:func:`plcore.solve`'s ``time_limit_s``). With a limit, the greedy's schedule
    (:func:`~plcore.schedulers.greedy.solve_greedy`, milliseconds at this size) is taken first as
    the one to beat, since the search proves its levels one user at a time and reaches long
    schedules last. The search is stopped between two steps of a level: the extension of 20,000
    labels, or the fronts of about 50,000 (a level's fronts are taken in pieces, each holding
    whole states: in one piece, a level of a million labels took 0.3-0.6 s past the limit). The
    answer is then the longer of the greedy's schedule and the best complete schedule of the
    largest level finished so far: feasible, but not proven optimal.
    """
    check_option("exact", "max_users", max_users)
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
    via = arr.link_s[m_of[:, None], m_of[None, :]] + infer[:, None]    # (predecessor, f)
    np.fill_diagonal(via, np.inf)
    via_user = via.min(axis=0)
    need = np.minimum(arr.from_resident_s[m_of], via_user)

    def alive(f, s, b):
        return (s - need[f] >= -tol) & (b <= budget)

    clock = current_clock()
    if not clock.limited and n <= _SMALL_USERS:   # the same answer with one bandwidth call
        seq = _small_search(instance, need, budget)
        if seq is not None:
            clock.offer(seq)
            return seq

    # A level holds its labels as arrays, one entry per label: the suffix's user set (a bit
    # mask), its first user u, u's start s, the suffix's bandwidth b, and the index of the rest
    # of the suffix in the previous level (-1: none). Labels are ordered by state (mask, u) in
    # order of first appearance, then in the order they were made.
    s1 = d - infer
    b1 = user_bandwidth(instance, np.arange(n), s1)
    first = np.flatnonzero(alive(np.arange(n), s1, b1))
    level = (np.left_shift(1, first).astype(np.int64), first, s1[first], b1[first],
             np.full(first.size, -1))
    levels = []

    if clock.limited:
        from .greedy import solve_greedy

        clock.note("greedy schedule to beat")
        clock.offer(solve_greedy(instance))
    best = None
    all_users = np.arange(n)
    size = 1
    while level[0].size:
        levels.append(level)
        masks, us, s_f, b_f, _ = level
        done = np.flatnonzero(s_f - arr.from_resident_s[m_of[us]] >= -tol)
        if done.size:
            best = (len(levels) - 1, int(done[np.argmin(b_f[done])]))   # the first least b
            clock.offer(_sequence(levels, best))
        clock.note(f"searching schedules of {size + 1} users")
        size += 1
        level = _extend(instance, level, alive, all_users, clock)
    return _sequence(levels, best) if best is not None else []


# Up to this many users, :func:`_small_search` enumerates every suffix (1,956 at six users).
_SMALL_USERS = 6


@functools.lru_cache(maxsize=None)
def _suffixes(n: int):
    """Every sequence of distinct users of ``range(n)``, by length, as a tree of suffixes.

    Returns ``(user, rest, chain, bounds)``: the first user of each sequence; the index of its
    rest (the sequence without its first user; 0 for length one, unused); column ``i`` of
    ``chain``, the indices of sequence ``i``'s suffixes from its last user to itself, padded in
    front with ``-1`` to ``n`` entries; and the index range of each length. Within a length the
    sequences are in the label search's order of making them: by rest, then by first user.
    """
    users = [np.arange(n)]
    rest = [np.zeros(n, dtype=np.intp)]
    chains = [np.arange(n)[None, :]]
    masks = np.left_shift(1, users[0]).astype(np.int64)
    bounds = [(0, n)]
    all_users = np.arange(n)
    while len(bounds) < n:
        lo, hi = bounds[-1]
        li, cu = np.nonzero((masks[:, None] >> all_users[None, :]) & 1 == 0)
        users.append(cu)
        rest.append(li + lo)
        chains.append(np.vstack((chains[-1][:, li], np.arange(hi, hi + cu.size))))
        masks = masks[li] | np.left_shift(1, cu).astype(np.int64)
        bounds.append((hi, hi + cu.size))
    chain = np.hstack([np.pad(c, ((n - c.shape[0], 0), (0, 0)), constant_values=-1)
                       for c in chains])
    out = np.concatenate(users), np.concatenate(rest), chain, tuple(bounds)
    for a in out[:3]:
        a.flags.writeable = False
    return out


def _small_search(instance, need, budget):
    """The label search's answer for at most ``_SMALL_USERS`` users, with one bandwidth call.

    Computes the start of every sequence of distinct users as a suffix, with the label search's
    arithmetic (``s_u = min(d_u, s_f - L(m_u -> m_f)) - infer_u``), keeps those whose every
    suffix passes the time test, takes the least bandwidths of all of them at once and sums them
    along each sequence in the search's order. Every label the search keeps is among them, and
    each of them is dominated by a kept label of the same state (by induction over the levels:
    ``s_u`` is non-decreasing in ``s_f``, ``beta`` non-increasing, rounding monotone); so the
    largest level with a complete schedule within the budget, and its least bandwidth ``b*``,
    are the search's. When one sequence alone has ``b*`` it is the search's answer; on a tie,
    whose winner depends on the search's order, this returns None and the search decides.
    """
    arr = instance.arrays
    m_of, tol = arr.model_of, arr.time_tol_s
    user, rest, chain, bounds = _suffixes(instance.n_users)
    m_u = m_of[user]
    d_u, infer_u = arr.deadline_s[user], arr.infer_s[user]
    link_u = arr.link_s[m_u, m_u[rest]]
    s = d_u - infer_u                       # the starts of sequences of one user
    for lo, hi in bounds[1:]:
        s[lo:hi] = np.minimum(d_u[lo:hi], s[rest[lo:hi]] - link_u[lo:hi]) - infer_u[lo:hi]
    ok = np.ones(user.size + 1, dtype=bool)               # index -1: the padding
    np.greater_equal(s - need[user], -tol, out=ok[:-1])
    alive = np.logical_and.reduce(ok[chain], axis=0)
    live = alive.nonzero()[0]
    if not live.size:
        return []
    beta = np.full(user.size + 1, np.inf)
    beta[-1] = 0.0                                       # the padding adds 0
    beta[live] = _bandwidth_per_pair(instance, user[live], s[live])
    # Suffix sums from the last user forward, as the search adds them (0 + x is exact).
    terms = beta[chain]
    b = terms[0]
    for row in terms[1:]:
        b = b + row
    for lo, hi in reversed(bounds):         # the longest complete schedules within the budget
        top = lo + np.flatnonzero(alive[lo:hi] & (b[lo:hi] <= budget)
                                  & (s[lo:hi] - arr.from_resident_s[m_u[lo:hi]] >= -tol))
        if top.size:
            win = top[b[top] == b[top].min()]
            if win.size > 1:
                return None
            return [int(user[i]) for i in chain[::-1, win[0]] if i >= 0]
    return []


_PAIR_SLOTS_LOG2 = 12      # a table of 4,096 slots for a few hundred distinct pairs


def _bandwidth_per_pair(instance, users: np.ndarray, t_s: np.ndarray) -> np.ndarray:
    """``user_bandwidth(instance, users, t_s)``, with each distinct (user, time) pair computed
    about once: the sequences of a small instance share few distinct starts (a user's deadline
    often decides it). Each pair is hashed to a slot; an entry whose slot holds the same pair
    takes that entry's value, any other is computed itself, so every value is the one the
    plain call gives. O(m), no sort."""
    idx = np.arange(users.size)
    key = t_s.view(np.uint64) + users.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    slot = (key * np.uint64(0xBF58476D1CE4E5B9)) >> np.uint64(64 - _PAIR_SLOTS_LOG2)
    table = np.empty(1 << _PAIR_SLOTS_LOG2, dtype=np.intp)
    table[slot] = idx            # one of the entries in each slot
    rep = table[slot]
    own = (rep == idx) | (t_s[rep] != t_s) | (users[rep] != users)
    todo = own.nonzero()[0]
    out = np.empty(users.size)
    out[todo] = user_bandwidth(instance, users[todo], t_s[todo])
    return out[np.where(own, idx, rep)]      # its own value, or that of an equal pair


# Labels extended at once (bounds the memory of a level's (label, user) grids).
_CHUNK_LABELS = 20_000
_NO_LABEL = np.iinfo(np.int64).max     # above every shifted rank


def _extend(instance, level, alive, all_users, clock):
    """The next level: prepend every user not in a suffix to it, keep the live, non-dominated
    labels of each state (mask, u).

    A label is dropped when another of the same state starts at least as late with at most its
    bandwidth; of equal labels the first made is kept. (The same fronts, in the same order, as
    inserting the labels one by one into a Pareto front.)
    """
    arr = instance.arrays
    m_of, d, infer = arr.model_of, arr.deadline_s, arr.infer_s
    masks, us, s_f, b_f, _ = level
    parts = []
    for lo in range(0, masks.size, _CHUNK_LABELS):
        clock.check()
        sl = slice(lo, lo + _CHUNK_LABELS)
        free = (masks[sl, None] >> all_users[None, :]) & 1 == 0
        li, cu = np.nonzero(free)               # row-major: labels in order, users ascending
        li += lo
        # Start of the prepended user and the new bandwidth sum, for every (label, candidate).
        s_u = np.minimum(d[cu], s_f[li] - arr.link_s[m_of[cu], m_of[us[li]]]) - infer[cu]
        b_u = b_f[li] + user_bandwidth(instance, cu, s_u)
        ok = alive(cu, s_u, b_u)
        parts.append((li[ok], cu[ok], s_u[ok], b_u[ok]))
    li, cu, s_u, b_u = (np.concatenate(x) for x in zip(*parts))
    new_mask = masks[li] | np.left_shift(1, cu).astype(np.int64)
    key = new_mask * all_users.size + cu
    keep = _all_fronts(key, s_u, b_u, clock)
    return new_mask[keep], cu[keep], s_u[keep], b_u[keep], li[keep]


# Labels whose fronts are taken in one piece: a level of a million labels took 0.3-0.6 s in one
# sort, past a time limit; in pieces of this size the limit is checked every few milliseconds.
_FRONT_PIECE = 50_000


def _all_fronts(key: np.ndarray, s: np.ndarray, b: np.ndarray, clock) -> np.ndarray:
    """:func:`_fronts` of all labels, computed in pieces with a time check between two.

    Each state's labels all go to one piece (by a hash of the state), so each piece's fronts
    are those of its states; the kept labels are then put back in the order :func:`_fronts`
    gives (by the first appearance of their state, then by index). The same indices, in the
    same order, as one call. O(m log m) for m labels, plus O(m) to split them.
    """
    pieces = -(-key.size // _FRONT_PIECE)
    if pieces <= 1:
        keep, _ = _fronts(key, s, b)
        return keep
    mixed = key.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    piece = (mixed % np.uint64(pieces)).astype(np.uint16)
    by_piece = np.argsort(piece, kind="stable")      # indices ascending within each piece
    bounds = np.searchsorted(piece[by_piece], np.arange(pieces + 1))
    kept, first = [], []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        clock.check()
        idx = by_piece[lo:hi]
        k, f = _fronts(key[idx], s[idx], b[idx])
        kept.append(idx[k])
        first.append(idx[f])
    kept, first = np.concatenate(kept), np.concatenate(first)
    return kept[np.lexsort((kept, first))]


def _fronts(key: np.ndarray, s: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the labels kept in the Pareto front of their state ``key``, ordered by state
    (in order of first appearance), then by index: the fronts that inserting the labels one by
    one would leave (a label is dropped when another of its state starts at least as late with
    at most its bandwidth; of equal labels the first is kept). Also, for each kept label, the
    index of its state's first label.

    Within a state, sorted by latest start, then least bandwidth, then index, a label survives
    iff its bandwidth is below every bandwidth before it. O(m log m) for m labels.
    """
    _, first_at, inv = np.unique(key, return_index=True, return_inverse=True)
    state = np.argsort(np.argsort(first_at, kind="stable"), kind="stable")[inv]
    idx = np.arange(key.size)
    order = np.lexsort((idx, b, -s, state))
    _, b_rank = np.unique(b, return_inverse=True)
    # Ranks shifted down by state, so that a running minimum restarts at each state.
    v = b_rank[order].astype(np.int64) - state[order].astype(np.int64) * (key.size + 1)
    before = np.concatenate(([_NO_LABEL], np.minimum.accumulate(v)[:-1]))
    keep = order[v < before]
    keep = keep[np.lexsort((keep, state[keep]))]   # by state, then in the order made
    return keep, first_at[inv[keep]]


def _sequence(levels: list, at: tuple) -> list[int]:
    """The schedule of the label ``at = (level, index)``: its user, then the rest of its suffix."""
    seq = []
    k, i = at
    while i >= 0:
        seq.append(int(levels[k][1][i]))
        i = int(levels[k][4][i])
        k -= 1
    return seq
