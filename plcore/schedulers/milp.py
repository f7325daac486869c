"""Exact maximum-throughput schedule from a MILP (HiGHS) with lazy bandwidth cuts."""

from __future__ import annotations

import time
import warnings

import numpy as np

from ..model.evaluate import evaluate
from ..model.instance import Instance
from ..model.timeline import user_bandwidth
from .limits import TimeLimitWarning, TimeUp, check_time_limit, current_clock

__all__ = ["solve_milp"]

# The program is written in milliseconds and megahertz, so that its numbers are of order 1-1000.
_MS = 1e3
_MHZ = 1e-6
# Margins that keep HiGHS's feasibility tolerance (about 1e-7 in these units) on the safe side:
# a deadline is met 1 ns early and the budget with a relative 1e-7 to spare.
_DEADLINE_MARGIN_MS = 1e-6
_BUDGET_RTOL = 1e-7
_INITIAL_CUTS = 6        # tangent points per user before the first solve


def solve_milp(instance: Instance, *, time_limit_s: float | None = None, max_rounds: int = 500,
               initial_cuts: int = _INITIAL_CUTS, info: dict | None = None) -> list[int]:
    r"""A maximum-throughput schedule from a MILP solved by HiGHS, with lazy bandwidth cuts.

    An exact oracle independent of :func:`~plcore.schedulers.exact.solve_exact`: it returns a
    schedule serving the largest number of users any schedule can serve (MODEL.md section 2),
    for any sharing structure, per-user deadlines, resident blocks and either rate.

    Parameters
    ----------
    instance : Instance
    time_limit_s : float, optional
        Wall-clock seconds for the whole cut loop (None: no limit). Under :func:`plcore.solve`'s
        own ``time_limit_s`` the smaller of the two applies.
    max_rounds : int, default 500
        Most MILP solves of the cut loop (each adds cuts; the loop ends long before in practice).
    initial_cuts : int, default 6
        Tangent points per user in the first program (spread from ``tau_k`` to its latest start,
        see Notes); 0: every cut is added lazily.
    info : dict, optional
        Filled in place with ``rounds`` (MILP solves), ``cuts`` (tangent cuts in the last
        program), ``optimal`` (bool: proven), ``stopped`` (None or ``"time limit"``), ``upper``
        (the best upper bound on the throughput proven, an int) and ``candidates`` (users that
        can be served alone).

    Returns
    -------
    list of int
        User indices in service order; :func:`plcore.evaluate` finds it feasible (possibly empty).

    Raises
    ------
    ValueError
        For a bad ``time_limit_s`` or ``max_rounds``.
    RuntimeError
        If HiGHS fails (infeasible or unbounded program: a bug), or ``max_rounds`` is exhausted.

    Warns
    -----
    TimeLimitWarning
        When ``time_limit_s`` (given here) stopped the loop: the schedule is then the best feasible
        one found, not proven optimal. Under :func:`plcore.solve` the stop is reported as for the
        other methods (a warning from ``solve``, ``stopped`` from ``solve_with_status``).

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
    >>> seq = plcore.solve(inst, method="milp")
    >>> len(seq), plcore.evaluate(inst, seq).feasible     # all three, as "exact" finds
    (3, True)

    Notes
    -----
    **Lower bound.** The schedules of :func:`~plcore.schedulers.greedy.solve_greedy` and of
    ``edf`` (milliseconds) give a feasible throughput ``n0``; the program is asked for at least
    ``n0`` users (if every candidate is served already, that schedule is returned), and if no
    schedule of the program reaches ``n0`` the heuristic's schedule is optimal. It only prunes:
    the optimum is proven by the program.

    **Candidates.** A user whose schedule alone is infeasible (:func:`plcore.evaluate`) is in no
    feasible schedule (other users only delay it and add bandwidth) and is left out. Let ``K`` be
    the remaining ``n`` users and ``P = 1..n`` the positions (slots) of the schedule; ``M`` the
    models they request and ``m_k`` user k's model; times in ms, bandwidth in MHz.

    **Variables.** ``x[k,p]`` binary: user k is served at position p. ``z[m,p] = sum of x[k,p]
    over the users of m`` (an expression), and ``z[0,p] = 1 - sum_k x[k,p]`` for an empty slot
    (model "none"). ``y[a,b,p]`` in [0, 1]: slot p holds model a and slot p+1 model b (a, b in
    ``M`` and "none"; "none" is followed by "none" only). ``S[p] >= 0``: inference start at slot
    p. ``sigma[k,p] >= 0``: the start at which user k's data must have arrived when it sits at p
    (0 otherwise); ``s_k = sum_p sigma[k,p]``. ``t_k >= 0``: a lower estimate of user k's least
    bandwidth. ``u[d,m]`` in [0, 1]: model m is used by a served user of deadline at most d.

    **Constraints.**

    * Assignment: ``sum_p x[k,p] <= 1``, ``sum_k x[k,p] <= 1``, and slots filled from the front,
      ``sum_k x[k,p+1] <= sum_k x[k,p]``.
    * Model transitions as a flow between consecutive slots: ``sum_b y[a,b,p] = z[a,p]`` and
      ``sum_a y[a,b,p] = z[b,p+1]``. With integral ``x`` it forces ``y[a,b,p] = 1`` exactly for
      the pair of models in slots p and p+1, so the load before slot p+1 is
      ``L[p+1] = sum_{a,b} link[a,b] y[a,b,p]`` (``link`` = the partial-loading times
      ``InstanceArrays.link_s``; 0 into "none") and ``L[1] = sum_m from_resident[m] z[m,1]``:
      sequence-dependent load times from the shared blocks, resident blocks included.
    * Timing: ``S[1] >= L[1]``, ``S[p+1] >= S[p] + sum_m infer_m z[m,p] + L[p+1]``.
    * Deadlines: ``S[p] + sum_m infer_m z[m,p] <= sum_k d_k x[k,p] + H (1 - sum_k x[k,p])``
      (H the latest deadline; an empty slot is not constrained).
    * Arrival: ``sum_k sigma[k,p] <= S[p]`` and ``tau_k x[k,p] <= sigma[k,p] <= (d_k - infer_k)
      x[k,p]``, with ``tau_k = D_k / r_k(B)``, the time before which user k's data cannot arrive
      even with the whole budget (every feasible schedule starts k later).
    * Bandwidth: ``sum_k t_k <= B`` and, for each user k and each *tangent point* ``s0`` in its
      cut set, ``t_k >= beta_k(s0) x_k + beta_k'(s0) (s_k - s0 x_k)`` with ``x_k = sum_p x[k,p]``
      (for ``x_k = 1`` the tangent of ``beta_k`` at ``s0``; for ``x_k = 0``, ``s_k = 0`` and it
      says ``t_k >= 0``).
    * Slots: slot p (0-based) cannot start before ``min_m from_resident[m] + p min_k infer_k``;
      this is a lower bound on ``S[p]``, and ``x[k,p] = 0`` where it exceeds k's latest start.
    * ``sum_{k,p} x[k,p] >= n0`` (see *Lower bound*).
    * Capacity (valid inequalities that tighten the relaxation): for each distinct deadline d,
      ``sum_{k: d_k <= d} infer_k x_k + sum_m w_m u[d,m] <= d`` with ``u[d,m_k] >= x_k`` for
      ``d_k <= d``, where ``w_m`` is the least time any load of m takes (from the resident
      blocks or from another model): each model used before d is loaded at least once before d.

    Objective: maximise ``sum_{k,p} x[k,p]``.

    **Why it is exact.** Every feasible schedule, with its ALAP starts as ``S`` and ``sigma``, is
    a solution: ``beta_k`` is convex and decreasing in the start time, so every tangent lies below
    it and no cut removes a feasible schedule. Conversely the program's schedule has a valid timing
    (its ``S``), so its ALAP run meets every deadline, and its ALAP starts are at least the
    program's ``s_k``. The *cut loop*: solve; evaluate the schedule exactly
    (:func:`plcore.evaluate`); if it is feasible, it is optimal, since the program is a
    relaxation; otherwise add, for each of its users, the tangent of ``beta_k`` at its ALAP start
    (they cut the solution off: the tangents at the ALAP starts, taken at the program's earlier
    starts, sum to at least the true total, which exceeds B), and a *no-good* cut
    ``sum_{p <= n'} x[u_p, p] <= n' - 1`` on its prefix of n' users (every schedule that begins
    with an infeasible prefix is infeasible: later users only move earlier starts earlier and add
    bandwidth), then solve again. The no-good cuts make the loop finite; the tangents make it short.
    Start times in the program may be earlier than ALAP: the constraints only need a valid timing.

    **Tolerances.** The program meets each deadline 1 ns early and the budget with a relative
    1e-7 to spare, so that HiGHS's feasibility tolerance cannot return a schedule that misses
    one; a schedule feasible only within these margins (a measure-zero event for drawn instances)
    could be missed.

    **Size and cost.** ``n^2`` binaries, ``O(n^2 + n |M|^2)`` continuous variables and
    ``O(n^2 + n |M|)`` rows plus the cuts; solved by HiGHS's branch and cut, whose worst case is
    exponential. Tight deadlines or a binding budget make it harder, more so than for
    :func:`~plcore.schedulers.exact.solve_exact`, whose pruning they help; in exchange it does not
    enumerate subsets and reaches larger instances when deadlines are loose (the benchmark
    ``benchmarks/bench_milp.py`` measures it). ``scipy.optimize`` is imported on the first call.
    """
    own_limit = check_time_limit(time_limit_s)
    if isinstance(max_rounds, bool) or not isinstance(max_rounds, (int, np.integer)) \
            or max_rounds < 1:
        raise ValueError(f"milp solver: max_rounds must be a positive integer, got {max_rounds!r}")
    if isinstance(initial_cuts, bool) or not isinstance(initial_cuts, (int, np.integer)) \
            or initial_cuts < 0:
        raise ValueError(f"milp solver: initial_cuts must be an integer >= 0, got "
                         f"{initial_cuts!r}")
    clock = current_clock()
    start = time.perf_counter()
    deadlines = []
    if own_limit is not None:
        deadlines.append(start + own_limit)
    if clock.deadline is not None:
        deadlines.append(clock.deadline)
    stop_at = min(deadlines) if deadlines else None
    stats = {"rounds": 0, "cuts": 0, "optimal": False, "stopped": None, "upper": None,
             "candidates": 0}
    if info is not None:
        info.clear()
        info.update(stats)

    n_all = instance.n_users
    cand = [k for k in range(n_all) if evaluate(instance, [k]).feasible]
    stats["candidates"] = len(cand)
    if len(cand) <= 1:
        stats.update(optimal=True, upper=len(cand))
        if info is not None:
            info.update(stats)
        return cand

    # A feasible schedule from the fast heuristics: a lower bound the program must reach, and the
    # answer if a time limit stops the loop.
    from .baselines import solve_edf
    from .greedy import solve_greedy

    best = max((list(solve_greedy(instance)), list(solve_edf(instance))), key=len)
    clock.offer(best)
    if len(best) == len(cand):     # every candidate served: nothing to prove
        stats.update(optimal=True, upper=len(cand))
        if info is not None:
            info.update(stats)
        return best

    program = _Program(instance, np.array(cand, dtype=int), at_least=len(best),
                       initial_cuts=int(initial_cuts))
    if info is not None:
        info["program"] = program     # internal: lets tests check the cuts
    result_seq = None
    for _ in range(max_rounds):
        remaining = None if stop_at is None else stop_at - time.perf_counter()
        if remaining is not None and remaining <= 0:
            break
        clock.note(f"MILP round {stats['rounds'] + 1}")
        status, seq, bound = program.solve(remaining)
        stats["rounds"] += 1
        stats["cuts"] = program.n_cuts
        if status == "limit":
            if seq:
                ev = evaluate(instance, seq)
                if ev.feasible and len(seq) > len(best):
                    best = seq
                    clock.offer(best)
            if bound is not None:
                stats["upper"] = int(np.floor(bound + 1e-6))
            break
        if status == "infeasible":     # nothing beats the heuristics' schedule
            stats["upper"] = len(best)
            result_seq = best
            break
        stats["upper"] = len(seq)
        ev = evaluate(instance, seq)
        if ev.feasible:
            result_seq = seq
            break
        program.add_cuts(seq, ev.start_s, over_budget=ev.meets_deadlines)
    else:
        raise RuntimeError(f"milp solver: no feasible optimum after max_rounds={max_rounds} "
                           "cut rounds (raise max_rounds)")

    if result_seq is not None:
        stats["optimal"] = True
        if info is not None:
            info.update(stats)
        return result_seq
    # Stopped by a time limit.
    stats["stopped"] = "time limit"
    if info is not None:
        info.update(stats)
    if clock.deadline is not None and stop_at == clock.deadline:
        clock.offer(best)
        clock.stopped = "time limit"
        raise TimeUp
    warnings.warn(TimeLimitWarning(
        f"milp: time limit of {own_limit:g} s reached after {stats['rounds']} MILP solve(s); the "
        f"schedule ({len(best)} users) is the best feasible one found, not proven optimal"),
        stacklevel=2)
    return best


def _tangent(instance: Instance, users: np.ndarray, s0_s: np.ndarray):
    """Value (MHz) and slope (MHz/ms) of ``beta_k`` at ``s0`` (s) for each user (vectorized)."""
    arr = instance.arrays
    beta = user_bandwidth(instance, users, s0_s)           # Hz
    D = arr.data_bits[users]
    with np.errstate(divide="ignore", invalid="ignore"):
        if arr.rate == "linear":
            slope = -beta / s0_s
        else:
            # t r(beta) = D with r(b) = b log2(1 + a/b): d beta / dt = -(D / t) / (t r'(beta)),
            # r'(b) = (ln(1+x) - x/(1+x)) / ln 2, x = a/b.
            x = arr.radio[users] / beta
            dr = (np.log1p(x) - x / (1.0 + x)) / np.log(2.0)
            slope = -(D / s0_s) / (s0_s * dr)
    slope = np.where(beta > 0, slope, 0.0)
    return beta * _MHZ, slope * _MHZ / _MS


class _Program:
    """The MILP of :func:`solve_milp` over the candidate users, with its cut pool."""

    def __init__(self, instance: Instance, users: np.ndarray, at_least: int = 0,
                 initial_cuts: int = _INITIAL_CUTS):
        from scipy import sparse

        self.inst = instance
        self.users = users
        self.at_least = at_least
        arr = instance.arrays
        n = users.size
        self.n = n
        models, m_loc = np.unique(arr.model_of[users], return_inverse=True)
        nm = models.size
        self.m_loc = m_loc
        d = arr.deadline_s[users] * _MS - _DEADLINE_MARGIN_MS
        infer = arr.infer_s[users] * _MS
        link = arr.link_s[np.ix_(models, models)] * _MS
        fres = arr.from_resident_s[models] * _MS
        H = float(d.max())
        budget = instance.bandwidth_hz * _MHZ * (1.0 - _BUDGET_RTOL)
        # tau_k: the whole budget delivers k's data no earlier than this (s).
        from ..model.bandwidth import shannon_rate

        if arr.rate == "linear":
            rB = instance.bandwidth_hz * arr.radio[users]
        else:
            rB = shannon_rate(instance.bandwidth_hz, arr.radio[users])
        with np.errstate(divide="ignore"):
            tau = np.where(arr.data_bits[users] > 0, arr.data_bits[users] / rB, 0.0)
        self.tau_s = tau
        self.hi_s = arr.deadline_s[users] - arr.infer_s[users]
        tau_ms = tau * _MS

        # Variable layout.
        # slots are filled at the back: "none" may precede a model, never follow one
        pairs = [(a, b) for a in range(nm + 1) for b in range(nm + 1) if a == nm or b < nm]
        npair = len(pairs)                         # model index nm is "none"
        ix = 0
        X = ix + np.arange(n * n).reshape(n, n); ix += n * n           # noqa: E702
        SIG = ix + np.arange(n * n).reshape(n, n); ix += n * n         # noqa: E702
        S = ix + np.arange(n); ix += n                                  # noqa: E702
        T = ix + np.arange(n); ix += n                                  # noqa: E702
        Y = ix + np.arange(max(n - 1, 0) * npair).reshape(max(n - 1, 0), npair)
        ix += Y.size
        thresholds = np.unique(d)
        # least load time of each model: from resident, or from any other model
        other = np.where(np.eye(nm, dtype=bool), np.inf, link)
        w = np.minimum(fres, other.min(axis=0)) if nm > 1 else fres.copy()
        U = ix + np.arange(thresholds.size * nm).reshape(thresholds.size, nm)
        ix += U.size
        nvar = ix
        self.X, self.SIG, self.T, self.nvar = X, SIG, T, nvar
        self.S, self.Y, self.U, self.pairs, self.thresholds = S, Y, U, pairs, thresholds
        self.nm, self.d_ms, self.H = nm, d, H

        lb = np.zeros(nvar)
        ub = np.full(nvar, np.inf)
        ub[X.ravel()] = 1.0
        # Slot p (0-based, of n) is followed by n - 1 - p served users, each taking at least the
        # shortest inference before the latest deadline H: user k starts there by cap[k, p].
        pmin = float(infer.min())
        cap = np.minimum(self.hi_s[:, None] * _MS,
                         H - infer[:, None] - (n - 1 - np.arange(n))[None, :] * pmin)
        ub[SIG] = np.maximum(cap, 0.0)
        ub[S] = np.maximum(H - (n - np.arange(n)) * pmin, 0.0)
        self.cap = cap
        ub[Y.ravel()] = 1.0
        ub[U.ravel()] = 1.0
        # A user that cannot start in a slot by its cap never sits there.
        ub[X[(cap < tau_ms[:, None]) | (cap < fres.min())]] = 0.0
        integrality = np.zeros(nvar)
        integrality[X.ravel()] = 1
        self.lb, self.ub, self.integrality = lb, ub, integrality
        c = np.zeros(nvar)
        c[X.ravel()] = -1.0
        self.c = c

        self.rows, self.cols, self.vals, self.lo, self.hi = [], [], [], [], []
        add = self._add

        ones = np.ones(n)
        for k in range(n):                       # each user at most once
            add(X[k], ones, -np.inf, 1.0)
        for p in range(n):                       # each slot at most one user
            add(X[:, p], ones, -np.inf, 1.0)
        for p in range(n - 1):                   # slots filled at the back
            add(np.r_[X[:, p], X[:, p + 1]], np.r_[ones, -ones], -np.inf, 0.0)
        users_of = [np.flatnonzero(m_loc == m) for m in range(nm)]
        for p in range(n - 1):                   # transitions: flow out of p, into p + 1
            for a in range(nm + 1):
                ys = [Y[p, i] for i, (aa, _) in enumerate(pairs) if aa == a]
                if a < nm:
                    add(ys + list(X[users_of[a], p]), [1.0] * len(ys) + [-1.0] * len(users_of[a]),
                        0.0, 0.0)
                else:
                    add(ys + list(X[:, p]), [1.0] * len(ys) + [1.0] * n, 1.0, 1.0)
            for b in range(nm + 1):
                ys = [Y[p, i] for i, (_, bb) in enumerate(pairs) if bb == b]
                if b < nm:
                    add(ys + list(X[users_of[b], p + 1]),
                        [1.0] * len(ys) + [-1.0] * len(users_of[b]), 0.0, 0.0)
                else:
                    add(ys + list(X[:, p + 1]), [1.0] * len(ys) + [1.0] * n, 1.0, 1.0)
        # "none" then model b: b is the first model, loaded from the resident blocks
        pair_cost = np.array([link[a, b] if a < nm else (fres[b] if b < nm else 0.0)
                              for a, b in pairs])
        # timing
        add([S[0]] + list(X[:, 0]), [1.0] + list(-fres[m_loc]), 0.0, np.inf)
        for p in range(1, n):
            add([S[p], S[p - 1]] + list(X[:, p - 1]) + list(Y[p - 1]),
                [1.0, -1.0] + list(-infer) + list(-pair_cost), 0.0, np.inf)
        # deadlines
        for p in range(n):
            add([S[p]] + list(X[:, p]), [1.0] + list(infer - d + H), -np.inf, H)
        # arrival starts
        for p in range(n):
            add(list(SIG[:, p]) + [S[p]], [1.0] * n + [-1.0], -np.inf, 0.0)
        for k in range(n):
            for p in range(n):
                add([SIG[k, p], X[k, p]], [1.0, -max(cap[k, p], 0.0)], -np.inf, 0.0)
                add([SIG[k, p], X[k, p]], [1.0, -tau_ms[k]], 0.0, np.inf)
        # bandwidth at least that at the slot's latest start (beta decreases)
        ok = ub[X] > 0
        kk, pp = np.nonzero(ok)
        beta_cap = np.zeros((n, n))
        beta_cap[kk, pp] = user_bandwidth(instance, users[kk], cap[kk, pp] / _MS) * _MHZ
        beta_cap[~np.isfinite(beta_cap)] = 0.0
        for k in range(n):
            add([T[k]] + list(X[k]), [1.0] + list(-beta_cap[k]), 0.0, np.inf)
        # at least as many users as a known feasible schedule serves
        self.at_least_row = None
        if at_least > 0:
            self.at_least_row = len(self.lo)
            add(X.ravel(), np.ones(n * n), float(at_least), np.inf)
        # budget
        add(T, np.ones(n), -np.inf, budget)
        # capacity per deadline threshold
        for i, dl in enumerate(thresholds):
            early = np.flatnonzero(d <= dl)
            cs = list(X[early].ravel()) + list(U[i])
            vs = list(np.repeat(infer[early], n)) + list(w)
            add(cs, vs, -np.inf, float(dl))
            for k in early:
                add(list(X[k]) + [U[i, m_loc[k]]], [1.0] * n + [-1.0], -np.inf, 0.0)
        self.n_cuts = 0
        self.sparse = sparse

        # Initial tangents: points spread from tau_k to the latest start of each user.
        for k in range(n):
            a, b = max(self.tau_s[k], 0.0), self.hi_s[k]
            if not b > a or initial_cuts < 1:
                continue
            pts = a + (b - a) * (np.arange(1, initial_cuts + 1) / initial_cuts) ** 2
            self._tangents(k, pts)

    def _add(self, cs, vs, lo: float, hi: float) -> None:
        """Append the row ``lo <= sum vs[i] * var[cs[i]] <= hi``."""
        self.rows.extend([len(self.lo)] * len(cs))
        self.cols.extend(int(x) for x in cs)
        self.vals.extend(float(v) for v in vs)
        self.lo.append(lo)
        self.hi.append(hi)

    def _tangents(self, k: int, pts_s) -> None:
        """Add the tangent cuts of user k (local index) at start times ``pts_s`` (s)."""
        pts_s = np.asarray(pts_s, dtype=float)
        pts_s = pts_s[(pts_s > self.tau_s[k]) | ((pts_s > 0) & (self.tau_s[k] == 0))]
        if pts_s.size == 0:
            return
        val, slope = _tangent(self.inst, np.full(pts_s.size, self.users[k]), pts_s)
        n = self.n
        for v, g, s0 in zip(val, slope, pts_s * _MS):
            if not (np.isfinite(v) and np.isfinite(g)):
                continue
            # t_k - sum_p [(v - g s0) x[k,p] + g sigma[k,p]] >= 0
            self._add([self.T[k]] + list(self.X[k]) + list(self.SIG[k]),
                      [1.0] + [-(v - g * s0)] * n + [-g] * n, 0.0, np.inf)
            self.n_cuts += 1

    def add_cuts(self, seq: list[int], starts_s: np.ndarray, over_budget: bool = True) -> None:
        """Cut off the infeasible schedule ``seq``: tangents at its ALAP starts, and a no-good.

        ``over_budget``: it meets its deadlines but needs more than B. Its users' ALAP starts do
        not depend on what precedes them, so every schedule ending with ``seq`` needs more than
        B: the no-good forbids ``seq`` in the last slots. Otherwise (a deadline missed, which
        only rounding can cause) it forbids this schedule alone.
        """
        loc = {int(u): i for i, u in enumerate(self.users)}
        for u, s in zip(seq, starts_s):
            self._tangents(loc[u], [s])
        first = self.n - len(seq)
        cs = [self.X[loc[u], first + i] for i, u in enumerate(seq)]
        vs = [1.0] * len(cs)
        if not over_budget and first > 0:
            cs += list(self.X[:, first - 1])       # ... with the slot before it empty
            vs += [-1.0] * self.n
        self._add(cs, vs, -np.inf, len(seq) - 1.0)

    def solve(self, time_limit_s):
        """One HiGHS solve: ("optimal" | "limit", schedule as user indices, bound or None)."""
        from scipy.optimize import LinearConstraint, milp

        A, lo, hi = self.matrix()
        options = {"mip_rel_gap": 1e-6}
        if time_limit_s is not None:
            options["time_limit"] = max(float(time_limit_s), 1e-3)
        res = milp(self.c, constraints=LinearConstraint(A, lo, hi),
                   integrality=self.integrality,
                   bounds=(self.lb, self.ub), options=options)
        seq = self._schedule(res.x) if res.x is not None else []
        if res.status == 0:
            return "optimal", seq, None
        if res.status == 2 and self.at_least > 0:
            return "infeasible", [], None
        if res.status == 1:
            bound = getattr(res, "mip_dual_bound", None)
            return "limit", seq, (None if bound is None else -float(bound))
        raise RuntimeError(f"milp solver: HiGHS failed ({res.status}: {res.message})")

    def point(self, seq) -> np.ndarray:
        """The program's variables for a schedule ``seq`` (user indices, all candidates): its ALAP
        timeline under the program's deadlines, least bandwidths at those starts (to check that
        the program, cuts included, admits every feasible schedule)."""
        from ..model.timeline import alap_from

        arr = self.inst.arrays
        loc = {int(u): i for i, u in enumerate(self.users)}
        ks = np.array([loc[int(u)] for u in seq], dtype=int)
        v = np.zeros(self.nvar)
        if ks.size == 0:
            return v
        seq_arr = self.users[ks]
        L = np.r_[arr.from_resident_s[arr.model_of[seq_arr[0]]],
                  arr.link_s[arr.model_of[seq_arr[:-1]], arr.model_of[seq_arr[1:]]]] * _MS
        starts = alap_from(L, arr.infer_s[seq_arr] * _MS, self.d_ms[ks])
        nm = self.nm
        first = self.n - ks.size
        models = [nm] * first + [int(self.m_loc[k]) for k in ks]
        for i, k in enumerate(ks):
            p = first + i
            v[self.X[k, p]] = 1.0
            v[self.SIG[k, p]] = starts[i]
            v[self.S[p]] = starts[i]
        for p in range(self.n - 1):
            v[self.Y[p, self.pairs.index((models[p], models[p + 1]))]] = 1.0
        v[self.T[ks]] = user_bandwidth(self.inst, seq_arr, starts / _MS) * _MHZ
        for i, dl in enumerate(self.thresholds):
            for k in ks:
                if self.d_ms[k] <= dl:
                    v[self.U[i, self.m_loc[k]]] = 1.0
        return v

    def matrix(self):
        """(A, lo, hi): the constraint rows so far, ``lo <= A v <= hi``."""
        A = self.sparse.csr_array((self.vals, (self.rows, self.cols)),
                                  shape=(len(self.lo), self.nvar))
        return A, np.array(self.lo), np.array(self.hi)

    def _schedule(self, xval) -> list[int]:
        x = xval[self.X] > 0.5
        seq = []
        for p in range(self.n):
            ks = np.flatnonzero(x[:, p])
            if ks.size:
                seq.append(int(self.users[ks[0]]))
        return seq

