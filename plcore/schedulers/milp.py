"""Exact maximum-throughput schedule from a MILP (HiGHS) with lazy bandwidth cuts."""

from __future__ import annotations

import time
import warnings

import numpy as np

from ..model.evaluate import evaluate
from ..model.instance import Instance
from ..model.timeline import user_bandwidth
from .limits import TimeLimitWarning, TimeUp, check_time_limit, current_clock, import_optimize
from .options import check_option

__all__ = ["solve_milp"]

# The program is written in milliseconds and megahertz, so that its numbers are of order 1-1000.
_MS = 1e3
_MHZ = 1e-6
# Margins that keep HiGHS's feasibility tolerance (about 1e-7 in these units) on the safe side:
# a deadline is met 1 ns early and the budget with a relative 1e-7 to spare.
_DEADLINE_MARGIN_MS = 1e-6
_BUDGET_RTOL = 1e-7
_INITIAL_CUTS = 6        # tangent points per user before the first solve
# Where the slot-wise tangent cuts touch, as shares of the way from a slot's earliest to its latest
# start (the latest first: starts are as late as possible).
_SLOT_FRACTIONS = (1.0, 0.8, 0.55, 0.3)
# Under a time limit, the suffix search of a count takes at most this share of the time left.
_SEARCH_SHARE = 0.75


def solve_milp(instance: Instance, *, time_limit_s: float | None = None, max_rounds: int = 500,
               initial_cuts: int = _INITIAL_CUTS, use_bounds: bool = True,
               search_nodes: int | None = 1_000_000, info: dict | None = None) -> list[int]:
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
        Most MILP solves in all (each adds cuts; the loop ends long before in practice).
    initial_cuts : int, default 6
        Tangent points per user in the first program (spread from ``tau_k`` to its latest start,
        see Notes); 0: every cut is added lazily.
    use_bounds : bool, default True
        Rule counts out by the combinatorial bounds before any program (see Notes); False: every
        count above the heuristics' is settled by the suffix search or a program.
    search_nodes : int or None, default 1_000_000
        Nodes the suffix search may visit per count before the program takes over (see Notes);
        0: no search (the programs settle every count), None: no node limit. Under a time limit
        the search of a count also stops after 3/4 of the time left.
    info : dict, optional
        Filled in place with ``rounds`` (MILP solves), ``cuts`` (tangent cuts in the last
        program), ``optimal`` (bool: proven), ``stopped`` (None or ``"time limit"``), ``upper``
        (an upper bound on the throughput proven, an int, or None), ``bound`` (the count the
        combinatorial bounds left open, or the number of candidates without them),
        ``candidates`` (users that can be served alone), ``search_nodes`` (nodes the suffix
        search visited), ``searched`` (``(count, "found" | "none" | "gave up")`` per count it
        was asked) and ``proof`` (what settled the optimum: ``"search"``, ``"program"``,
        ``"bounds"``, ``"heuristics"`` (they serve every candidate), ``"candidates"`` (at most
        one), or None when not proven).

    Returns
    -------
    list of int
        User indices in service order; :func:`plcore.evaluate` finds it feasible (possibly empty).

    Raises
    ------
    ValueError
        For a bad ``time_limit_s`` or an option of the wrong type or range
        (:func:`~plcore.schedulers.options.check_option`).
    RuntimeError
        If HiGHS fails (unbounded or an error: a bug), or ``max_rounds`` is exhausted.

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
    **Candidates and counts.** A user whose schedule alone is infeasible (:func:`plcore.evaluate`)
    is in no feasible schedule and is left out; ``K`` are the ``n`` others. Feasibility is
    *monotone in the count*: dropping the first user of a feasible schedule leaves it feasible
    (the other users' ALAP starts do not change, and the new first model loads no more from the
    resident blocks than the old first model and the link to it did). So the optimum is the
    largest ``c`` for which a schedule of exactly ``c`` users exists, and the solver asks
    "is there one?" for ``c = n0 + 1, n0 + 2, ...``, where ``n0`` is the throughput of the best
    of the schedules of ``density-search``, ``greedy``, ``edf`` and ``edf-grouped`` (if it serves
    every candidate, it is returned at once). The first ``c`` with no schedule proves ``c - 1``
    optimal.

    **Bounds before programs** (``use_bounds``). Counts above :func:`~plcore.schedulers.bounds.
    upper_bound` need no program, nor do counts the *assignment bound* rules out: in a schedule
    of ``c`` users, user k in slot p starts no later than ``cap[k,p]`` and no earlier than
    ``first[k,p]`` (below), and its least bandwidth is at least ``beta_k(cap[k,p])``; if even the
    cheapest assignment of ``c`` candidates to the ``c`` slots at these costs (Hungarian method,
    ``scipy.optimize.linear_sum_assignment``) needs more than ``B``, no schedule of ``c`` users
    fits (deadlines relaxed here by the feasibility tolerance, so that the bound holds for
    :func:`plcore.evaluate`). Feasibility being monotone, the first count ruled out settles all
    larger ones.

    **Least loads.** ``A[m, r]``: a sequence of loads that starts (or ends) at model ``m`` and
    reaches models holding ``r`` candidates besides one user of ``m`` takes at least ``A[m, r]``.
    The first entries into each model visited form a spanning tree of those models whose edges
    are real loads, each no cheaper than ``W[a,b] = min(link[a,b], link[b,a])``; a minimum
    spanning tree weighs ``int (components of the graph of edges lighter than theta) - 1
    dtheta``, and at each ``theta`` the models visited touch at least as many components of that
    graph (on all models) as the fewest components, ``m``'s first and then the largest, whose
    users number ``r`` or more.

    **Slot caps.** ``cap[k,p]`` is the least of ``d_k - infer_k``; ``min_i (delta_i - i pmin)``
    (slot p and the ``c - 1 - p`` after it hold ``c - p`` users, each inferring at least
    ``pmin``, that meet their deadlines from the slot's start on, which earliest-deadline-first
    does best; ``delta`` are the ``c - p`` latest deadlines, ascending); and, for ``p < c - 1``,
    ``d'_k - infer_k - (c - 1 - p) pmin - A[m_k, c - 1 - p]`` (the users after k infer and have
    their models loaded after k starts, the last done by ``d'_k``, the latest deadline of a user
    other than k). ``first[k,p] = fres_min + A[m_k, p] + p pmin``: the p users before k infer and
    their models and k's are loaded from the resident blocks (at least ``fres_min``, the
    cheapest such load) first. Slot p is out of k's reach if ``first + infer_k > d_k`` or
    ``first > cap``.

    **Suffix search** (``search_nodes``). Before any program, a count ``c`` goes to a
    depth-first branch and bound that builds schedules backwards: the ALAP starts of a suffix do
    not depend on what precedes it, so a suffix is a state (its users, its first model ``m``,
    its first start ``T``, its bandwidth ``W``) and prepending user j starts it at
    ``min(d_j, T - link[m_j, m]) - infer_j``. A child is dropped when ``W`` exceeds ``B``, when
    the users still to come cannot fit before it, or when a bound on their bandwidth does not
    fit in what is left: for the r users to come, position i (counted back from the suffix) is
    given the latest start ``T - infer_j - i pmin - max(link[m_j, m], P[m_j, m, i + 1])``
    (at most ``d_j - infer_j``) and its user pays at least ``beta_j`` there, rounded to a grid
    so that the value is a lower bound; the cheapest assignment of the remaining candidates to
    the r positions (``scipy.optimize.linear_sum_assignment``) bounds their bandwidth. ``P`` is
    the *path load bound*: a walk of loads from model a to model b through models that hold r
    users besides one of a costs at least ``P[a, b, r]``, the spanning-tree argument of the
    least loads above with one more crossing whenever a and b share a component that the walk
    must leave (:func:`_path_load_bounds`); ``link`` obeys the triangle inequality (a block of
    b that a lacks is missing from c or from a). Two more rules prune without losing every
    schedule of ``c`` users: *dominance of states*, a state with the same users that failed,
    with no more bandwidth and a start later by at least ``link[m, m']`` (m, m' the two first
    models) admits every prefix the other admits, with starts at least as late; *dominance of
    users*, a user u of the same model as v with a deadline no earlier, no more data and a
    channel no worse can take v's place in any schedule without u (the loads are unchanged,
    every ALAP start is at least as late, and ``beta_u <= beta_v``), so only schedules that
    serve u whenever they serve v are searched (a strict order: ties go to the lower index). The
    search first reads every least bandwidth from the grid tables, rounded up in time (no more
    than the true value: it then searches a relaxation whose schedules include every feasible
    one), and runs again with exact values if it completes a schedule that
    :func:`plcore.evaluate` rejects; a schedule it returns is one evaluate accepts, and the
    search exhausting the tree proves that no schedule of ``c`` users exists. It gives up at
    its node or time budget (or on a schedule within rounding of the limits that evaluate
    rejects), and the program below decides that count.

    **The program for a count c** (times in ms, bandwidth in MHz; ``m_k`` user k's model,
    ``M`` the models of ``K``, ``link[a,b]`` the partial-loading time of b after a,
    ``InstanceArrays.link_s``, ``fres[m]`` that from the resident blocks).

    * Variables: ``x[k,p]`` binary, user k in slot p (``p = 0..c-1``); ``z[m,p] = sum of
      x[k,p]`` over the users of m (an expression); ``y[a,b,p]`` in [0, 1], models a and b in
      slots p and p+1; ``S[p] >= 0`` the inference start of slot p; ``sigma[k,p] >= 0`` user k's
      start if it sits in slot p, else 0, and ``s_k = sum_p sigma[k,p]``; ``t_k >= 0`` a lower
      estimate of k's least bandwidth; ``u[d,m]`` in [0, 1] (capacity rows below).
    * Assignment: ``sum_k x[k,p] = 1`` (every slot filled), ``sum_p x[k,p] <= 1``.
    * Model transitions as a flow: ``sum_b y[a,b,p] = z[a,p]``, ``sum_a y[a,b,p] = z[b,p+1]``;
      with integral ``x`` exactly the pair of models of slots p, p+1 has ``y = 1``.
    * Timing with sequence-dependent loads: ``S[0] >= sum_m fres[m] z[m,0]``,
      ``S[p+1] >= S[p] + sum_k infer_k x[k,p] + sum_{a,b} link[a,b] y[a,b,p]``.
    * Deadlines: ``S[p] + sum_k infer_k x[k,p] <= sum_k d_k x[k,p]``.
    * Starts: ``sum_k sigma[k,p] <= S[p]`` and ``tau_k x[k,p] <= sigma[k,p] <= cap[k,p]
      x[k,p]``. ``tau_k = D_k / r_k(B)``: even the whole budget delivers k's data no earlier.
      ``cap[k,p]`` and ``first[k,p]`` are the slot caps above, under the program's deadlines;
      ``x[k,p] = 0`` where slot p is out of k's reach or ``cap`` is below ``tau_k``.
    * Bandwidth: ``sum_k t_k <= B``; ``t_k >= sum_p beta_k(cap[k,p]) x[k,p]``; and the *tangent
      cuts*: for each point ``s0`` of user k's set, ``t_k >= sum_p (beta_k(s0) - beta_k'(s0) s0)
      x[k,p] + beta_k'(s0) s_k``, the tangent of ``beta_k`` at ``s0`` when k is served, ``t_k >=
      0`` when not. ``beta_k`` is convex and decreasing in the start time (MODEL.md section 2),
      so each tangent lies below it. The set starts with ``initial_cuts`` points from ``tau_k``
      to ``d_k - infer_k``. *Slot-wise tangents*: four more cuts per user, each with its own
      point in each slot p, a share (1, 0.8, 0.55, 0.3) of the way from ``max(tau_k, first[k,p])``
      to ``cap[k,p]`` (valid: at most one slot holds k, and each term is a tangent).
    * Capacity before each distinct deadline d: ``sum_{k: d_k <= d} infer_k x_k + sum_m w_m
      u[d,m] <= d``, ``u[d,m_k] >= x_k`` (``x_k = sum_p x[k,p]``), ``w_m`` the least time a
      load of m takes (from the resident blocks or another model): every model used before d is
      loaded before d at least once.
    * No-good cuts on suffixes (below).

    **The cut loop.** Solve; evaluate the schedule exactly (:func:`plcore.evaluate`). Feasible:
    a schedule of ``c`` users exists; go to ``c + 1``. Infeasible: add the tangent of each of its
    users at its ALAP start (taken at the program's starts, which are no later, they sum to more
    than B: the schedule is cut off), and forbid the shortest infeasible suffix ``v`` of it in the
    last slots, ``sum_i x[v_i, c - |v| + i] <= |v| - 1`` (every schedule ending with ``v`` has
    ``v`` as a suffix, infeasible by the monotonicity above). HiGHS proving the program infeasible
    proves that no schedule of ``c`` users exists. Cuts are kept for the next counts.

    **Why it is exact.** Every feasible schedule of ``c`` users, with its ALAP starts as ``S`` and
    ``sigma`` and its least bandwidths as ``t``, satisfies every row (cuts included); the tests
    check this for the optimum of :func:`~plcore.schedulers.exact.solve_exact`, and that the
    load bound, slot caps and assignment bound admit every feasible schedule they are tried on.
    Conversely a solution's order runs by its deadlines (``S`` is a valid timing; ALAP is at
    least as late), and it is accepted only once :func:`plcore.evaluate` finds it feasible. Each
    round forbids a suffix for good, so the loop is finite. The suffix search prunes only by
    the rules above, each of which keeps some schedule of ``c`` users if one exists; the tests
    check its bounds on every split of feasible schedules, the dominance of users by replacing
    users in feasible schedules, and its answer for every count against ``exact``.

    **Tolerances.** The program meets each deadline 1 ns early and the budget with a relative
    1e-7 to spare, so that HiGHS's feasibility tolerances cannot admit a schedule that misses
    one; a schedule feasible only within these margins (a measure-zero event for drawn instances)
    could be missed. The suffix search is on the permissive side: it prunes only beyond
    evaluate's own tolerances, widened by a relative 1e-9 of the budget and 4 of its timing
    tolerances.

    **Size and cost.** The suffix search is exponential in the worst case; each node costs
    ``O(n^2 c)`` plus one assignment problem per child (``O(n c^2)``); its tables take ``n``
    times 16,384 floats (fewer points for many users). The programs have ``n c`` binaries,
    ``O(n c + c |M|^2)`` continuous variables, ``O(n c + n |d|)`` rows plus the cuts, per
    count; each solved by HiGHS's branch and cut, exponential in
    the worst case. Proving that no longer schedule exists is the hard part when the budget
    binds: the relaxation then easily spreads users over slots, where model changes cost
    nothing, and a program of 20 users can take HiGHS minutes; the suffix search is there to
    settle such counts first (its bound prices loads per position, where the relaxation of the
    program does not). The benchmark ``benchmarks/bench_milp.py`` measures how far the oracle
    reaches and which step proved each optimum. ``scipy.optimize`` is imported on
    the first solve.
    """
    own_limit = check_time_limit(time_limit_s)
    for name, value in (("max_rounds", max_rounds), ("initial_cuts", initial_cuts),
                        ("use_bounds", use_bounds), ("search_nodes", search_nodes),
                        ("info", info)):
        check_option("milp", name, value)
    clock = current_clock()
    start = time.perf_counter()
    deadlines = []
    if own_limit is not None:
        deadlines.append(start + own_limit)
    if clock.deadline is not None:
        deadlines.append(clock.deadline)
    stop_at = min(deadlines) if deadlines else None
    stats = {"rounds": 0, "cuts": 0, "optimal": False, "stopped": None, "upper": None,
             "bound": None, "candidates": 0, "search_nodes": 0, "searched": [], "proof": None}
    if info is not None:
        info.clear()
        info.update(stats)

    n_all = instance.n_users
    cand = [k for k in range(n_all) if evaluate(instance, [k]).feasible]
    stats["candidates"] = len(cand)
    if len(cand) <= 1:
        stats.update(optimal=True, upper=len(cand), proof="candidates")
        if info is not None:
            info.update(stats)
        return cand

    # A feasible schedule from the fast heuristics: a lower bound the program must reach, and the
    # answer if a time limit stops the loop.
    from .baselines import solve_edf, solve_edf_grouped
    from .greedy import solve_greedy

    from .density_search import solve_density_search

    best = max((list(solve_density_search(instance)), list(solve_greedy(instance)),
                list(solve_edf(instance)), list(solve_edf_grouped(instance))), key=len)
    clock.offer(best)
    if len(best) == len(cand):     # every candidate served: nothing to prove
        stats.update(optimal=True, upper=len(cand), proof="heuristics")
        if info is not None:
            info.update(stats)
        return best

    pool = _Pool(len(cand))
    if info is not None:
        info["pool"] = pool          # internal: lets tests check the cuts
    best, proven = _count_loop(instance, cand, best, pool, int(initial_cuts), stop_at, clock,
                               stats, max_rounds, bool(use_bounds), search_nodes)
    program = stats.pop("program", None)
    if info is not None and program is not None:
        info["program"] = program
    result_seq = best if proven else None
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


class _Pool:
    """Cuts shared by the programs of every count: tangent points and forbidden suffixes."""

    def __init__(self, n: int):
        self.points: list[list[float]] = [[] for _ in range(n)]   # per local user, in s
        self.suffixes: list[tuple[int, ...]] = []                   # local user indices


class _CountProgram:
    """Is there a schedule of exactly ``c`` of the candidate users? (slots all filled)."""

    def __init__(self, instance: Instance, users: np.ndarray, c: int, pool: _Pool,
                 load_lb_s: np.ndarray | None = None):
        from scipy import sparse

        self.inst, self.users, self.c, self.pool, self.sparse = instance, users, c, pool, sparse
        arr = instance.arrays
        n = users.size
        self.n = n
        models, m_loc = np.unique(arr.model_of[users], return_inverse=True)
        nm = models.size
        self.m_loc, self.nm = m_loc, nm
        d = arr.deadline_s[users] * _MS - _DEADLINE_MARGIN_MS
        infer = arr.infer_s[users] * _MS
        link = arr.link_s[np.ix_(models, models)] * _MS
        fres = arr.from_resident_s[models] * _MS
        self.d_ms = d
        budget = instance.bandwidth_hz * _MHZ * (1.0 - _BUDGET_RTOL)
        self.tau_s = _earliest_arrival(instance, users)
        self.hi_s = arr.deadline_s[users] - arr.infer_s[users]
        tau_ms = self.tau_s * _MS

        ix = 0
        X = ix + np.arange(n * c).reshape(n, c); ix += n * c           # noqa: E702
        SIG = ix + np.arange(n * c).reshape(n, c); ix += n * c         # noqa: E702
        S = ix + np.arange(c); ix += c                                  # noqa: E702
        T = ix + np.arange(n); ix += n                                  # noqa: E702
        Y = ix + np.arange((c - 1) * nm * nm).reshape(c - 1, nm, nm); ix += Y.size  # noqa: E702
        thresholds = np.unique(d)
        other = np.where(np.eye(nm, dtype=bool), np.inf, link)
        w = np.minimum(fres, other.min(axis=0)) if nm > 1 else fres.copy()
        U = ix + np.arange(thresholds.size * nm).reshape(thresholds.size, nm); ix += U.size  # noqa
        self.nvar = ix
        self.X, self.SIG, self.S, self.T, self.Y, self.U = X, SIG, S, T, Y, U
        self.thresholds = thresholds

        lb = np.zeros(ix)
        ub = np.full(ix, np.inf)
        # The latest start of each user in each slot (deadlines, inference and the least loads
        # the users around it need: _slot_caps), in the program's own deadlines.
        if load_lb_s is None:
            load_lb_s = _load_lower_bounds(arr, users)
        cap, slot_cap, first_ms = _slot_caps(c, d, infer, load_lb_s * _MS, m_loc,
                                             float(fres.min()))
        self.cap = cap
        ub[X] = 1.0
        ub[X[(cap < tau_ms[:, None]) | (cap < fres.min())]] = 0.0
        ub[SIG] = np.maximum(cap, 0.0)
        ub[S] = np.maximum(slot_cap, 0.0)
        ub[Y.ravel()] = 1.0
        ub[U.ravel()] = 1.0
        self.lb, self.ub = lb, ub
        self.integrality = np.zeros(ix)
        self.integrality[X.ravel()] = 1
        self.c_obj = np.zeros(ix)
        self.rows, self.cols, self.vals, self.lo, self.hi = [], [], [], [], []
        add = self._add

        for k in range(n):                                   # each user at most once
            add(X[k], np.ones(c), -np.inf, 1.0)
        for p in range(c):                                   # each slot exactly one user
            add(X[:, p], np.ones(n), 1.0, 1.0)
        users_of = [np.flatnonzero(m_loc == m) for m in range(nm)]
        for p in range(c - 1):                               # model transitions as a flow
            for a in range(nm):
                add(list(Y[p, a, :]) + list(X[users_of[a], p]),
                    [1.0] * nm + [-1.0] * users_of[a].size, 0.0, 0.0)
            for b in range(nm):
                add(list(Y[p, :, b]) + list(X[users_of[b], p + 1]),
                    [1.0] * nm + [-1.0] * users_of[b].size, 0.0, 0.0)
        add([S[0]] + list(X[:, 0]), [1.0] + list(-fres[m_loc]), 0.0, np.inf)
        for p in range(1, c):                                # timing
            add([S[p], S[p - 1]] + list(X[:, p - 1]) + list(Y[p - 1].ravel()),
                [1.0, -1.0] + list(-infer) + list(-link.ravel()), 0.0, np.inf)
        for p in range(c):                                   # deadlines
            add([S[p]] + list(X[:, p]), [1.0] + list(infer - d), -np.inf, 0.0)
        for p in range(c):                                   # data must arrive by the start
            add(list(SIG[:, p]) + [S[p]], [1.0] * n + [-1.0], -np.inf, 0.0)
        for k in range(n):
            for p in range(c):
                if ub[X[k, p]] == 0:
                    continue
                add([SIG[k, p], X[k, p]], [1.0, -cap[k, p]], -np.inf, 0.0)
                add([SIG[k, p], X[k, p]], [1.0, -tau_ms[k]], 0.0, np.inf)
        # bandwidth: at least that at the slot's latest start (beta decreases), within budget
        kk, pp = np.nonzero(ub[X] > 0)
        beta_cap = np.zeros((n, c))
        beta_cap[kk, pp] = user_bandwidth(instance, users[kk], cap[kk, pp] / _MS) * _MHZ
        beta_cap[~np.isfinite(beta_cap)] = 0.0
        for k in range(n):
            add([T[k]] + list(X[k]), [1.0] + list(-beta_cap[k]), 0.0, np.inf)
        add(T, np.ones(n), -np.inf, budget)
        for i, dl in enumerate(thresholds):                  # capacity before each deadline
            early = np.flatnonzero(d <= dl)
            add(list(X[early].ravel()) + list(U[i]), list(np.repeat(infer[early], c)) + list(w),
                -np.inf, float(dl))
            for k in early:
                add(list(X[k]) + [U[i, m_loc[k]]], [1.0] * c + [-1.0], -np.inf, 0.0)
        self.n_cuts = 0
        for k in range(n):
            self._tangents(k, pool.points[k])
        # Slot-wise tangents: in slot p user k starts between max(tau_k, first_ms[k,p]) and
        # cap[k,p]; one cut per fraction f takes, for each slot, the tangent at the point a share
        # f of the way between them (valid: at most one slot holds k, and each is a tangent).
        lo_ms = np.maximum(tau_ms[:, None], first_ms)
        for f in _SLOT_FRACTIONS:
            pts = np.where(ub[X] > 0, lo_ms + f * (cap - lo_ms), np.nan)
            for k in range(n):
                self._slot_tangents(k, pts[k])
        for suf in pool.suffixes:
            self._forbid(suf)

    def _add(self, cs, vs, lo: float, hi: float) -> None:
        """Append the row ``lo <= sum vs[i] * var[cs[i]] <= hi``."""
        self.rows.extend([len(self.lo)] * len(cs))
        self.cols.extend(int(x) for x in cs)
        self.vals.extend(float(v) for v in vs)
        self.lo.append(lo)
        self.hi.append(hi)

    def _tangents(self, k: int, pts_s) -> None:
        """Tangent cuts of user k (local index) at start times ``pts_s`` (s)."""
        pts_s = np.asarray(pts_s, dtype=float)
        pts_s = pts_s[pts_s > self.tau_s[k]]
        if pts_s.size == 0:
            return
        val, slope = _tangent(self.inst, np.full(pts_s.size, self.users[k]), pts_s)
        c = self.c
        for v, g, s0 in zip(val, slope, pts_s * _MS):
            if not (np.isfinite(v) and np.isfinite(g)):
                continue
            # t_k - sum_p [(v - g s0) x[k,p] + g sigma[k,p]] >= 0
            self._add([self.T[k]] + list(self.X[k]) + list(self.SIG[k]),
                      [1.0] + [-(v - g * s0)] * c + [-g] * c, 0.0, np.inf)
            self.n_cuts += 1

    def _slot_tangents(self, k: int, pts_ms: np.ndarray) -> None:
        """One cut for user k (local index) from a tangent point per slot (ms; NaN: none, the
        slot is out of k's reach and its x is fixed at 0)."""
        ok = np.isfinite(pts_ms) & (pts_ms > self.tau_s[k] * _MS)
        if not ok.any():
            return
        val, slope = _tangent(self.inst, np.full(int(ok.sum()), self.users[k]), pts_ms[ok] / _MS)
        if not (np.all(np.isfinite(val)) and np.all(np.isfinite(slope))):
            return
        s0 = pts_ms[ok]
        # t_k - sum_p [(v_p - g_p s0_p) x[k,p] + g_p sigma[k,p]] >= 0 over the slots in reach
        self._add([self.T[k]] + list(self.X[k, ok]) + list(self.SIG[k, ok]),
                  [1.0] + list(-(val - slope * s0)) + list(-slope), 0.0, np.inf)
        self.n_cuts += 1

    def _forbid(self, suffix) -> None:
        """No schedule ends with ``suffix`` (local user indices)."""
        if len(suffix) > self.c:
            return
        first = self.c - len(suffix)
        cs = [self.X[k, first + i] for i, k in enumerate(suffix)]
        self._add(cs, [1.0] * len(cs), -np.inf, len(cs) - 1.0)

    def matrix(self):
        """(A, lo, hi): the constraint rows, ``lo <= A v <= hi``."""
        A = self.sparse.csr_array((self.vals, (self.rows, self.cols)),
                                  shape=(len(self.lo), self.nvar))
        return A, np.array(self.lo), np.array(self.hi)

    def solve(self, time_limit_s):
        """One HiGHS solve: ("found" | "none" | "limit", schedule as user indices)."""
        from scipy.optimize import LinearConstraint, milp

        A, lo, hi = self.matrix()
        options = {}
        if time_limit_s is not None:
            options["time_limit"] = max(float(time_limit_s), 1e-3)
        res = milp(self.c_obj, constraints=LinearConstraint(A, lo, hi),
                   integrality=self.integrality, bounds=(self.lb, self.ub), options=options)
        if res.status == 0:
            return "found", self._schedule(res.x)
        if res.status == 2:
            return "none", []
        if res.status == 1:
            return "limit", (self._schedule(res.x) if res.x is not None else [])
        raise RuntimeError(f"milp solver: HiGHS failed ({res.status}: {res.message})")

    def _schedule(self, xval) -> list[int]:
        x = xval[self.X] > 0.5
        return [int(self.users[np.flatnonzero(x[:, p])[0]]) for p in range(self.c)
                if x[:, p].any()]

    def point(self, seq) -> np.ndarray:
        """The program's variables for a schedule of ``c`` candidates: its ALAP timeline under the
        program's deadlines and its least bandwidths at those starts (to check that the program,
        cuts included, admits every feasible schedule)."""
        from ..model.timeline import alap_from

        arr = self.inst.arrays
        loc = {int(u): i for i, u in enumerate(self.users)}
        ks = np.array([loc[int(u)] for u in seq], dtype=int)
        assert ks.size == self.c
        seq_arr = self.users[ks]
        L = np.r_[arr.from_resident_s[arr.model_of[seq_arr[0]]],
                  arr.link_s[arr.model_of[seq_arr[:-1]], arr.model_of[seq_arr[1:]]]] * _MS
        starts = alap_from(L, arr.infer_s[seq_arr] * _MS, self.d_ms[ks])
        v = np.zeros(self.nvar)
        ms = self.m_loc[ks]
        for p, k in enumerate(ks):
            v[self.X[k, p]] = 1.0
            v[self.SIG[k, p]] = starts[p]
            v[self.S[p]] = starts[p]
        for p in range(self.c - 1):
            v[self.Y[p, ms[p], ms[p + 1]]] = 1.0
        v[self.T[ks]] = user_bandwidth(self.inst, seq_arr, starts / _MS) * _MHZ
        for i, dl in enumerate(self.thresholds):
            for k in ks:
                if self.d_ms[k] <= dl:
                    v[self.U[i, self.m_loc[k]]] = 1.0
        return v


def _earliest_arrival(instance: Instance, users: np.ndarray) -> np.ndarray:
    """tau_k (s): the whole budget delivers user k's data no earlier (0 without data)."""
    from ..model.bandwidth import shannon_rate

    arr = instance.arrays
    if arr.rate == "linear":
        rB = instance.bandwidth_hz * arr.radio[users]
    else:
        rB = shannon_rate(instance.bandwidth_hz, arr.radio[users])
    D = arr.data_bits[users]
    with np.errstate(divide="ignore"):
        return np.where(D > 0, D / rB, 0.0)


def _count_loop(instance, cand, best, pool, initial_cuts, stop_at, clock, stats, max_rounds,
                use_bounds=True, search_nodes=0):
    """Raise the count from ``len(best) + 1`` until no schedule of that many users exists."""
    users = np.array(cand, dtype=int)
    n = users.size
    import_optimize()     # the bounds and programs need it; under a limit, not past it
    if initial_cuts > 0:
        tau = _earliest_arrival(instance, users)
        hi = instance.arrays.deadline_s[users] - instance.arrays.infer_s[users]
        for k in range(n):
            if hi[k] > tau[k]:
                frac = (np.arange(1, initial_cuts + 1) / initial_cuts) ** 2
                pool.points[k].extend((tau[k] + (hi[k] - tau[k]) * frac).tolist())
    loc = {int(u): i for i, u in enumerate(users)}
    load_lb = _load_lower_bounds(instance.arrays, users)
    from .bounds import upper_bound

    # Combinatorial bounds first: a count they rule out needs no program.
    if stop_at is not None and time.perf_counter() >= stop_at:
        return best, False
    top = n
    if use_bounds:
        top = min(n, upper_bound(instance))
        c = len(best) + 1
        while c <= top and _assignment_bound(instance, users, c, load_lb):
            c += 1
        top = c - 1
    stats["bound"] = top
    c = len(best) + 1
    search = _SuffixSearch(instance, users, load_lb) if search_nodes != 0 and c <= top else None
    while c <= top:
        if search is not None:
            # The suffix search first, with most of the time left; the program if it gives up.
            remaining = None if stop_at is None else stop_at - time.perf_counter()
            clock.note(f"suffix search: a schedule of {c} users?")
            try:
                status, seq = search.run(c, None if search_nodes is None
                                         else search.nodes + int(search_nodes),
                                         None if remaining is None
                                         else time.perf_counter() + _SEARCH_SHARE * remaining)
            except _GiveUp:
                status = "gave up"
            stats["search_nodes"] = search.nodes
            stats["searched"].append((c, status))
            if status == "found":
                best = seq
                clock.offer(best)
                c += 1
                continue
            if status == "none":
                stats["upper"] = c - 1
                stats["proof"] = "search"
                return best, True
        program = _CountProgram(instance, users, c, pool, load_lb)
        stats["program"] = program
        while True:
            if stats["rounds"] >= max_rounds:
                raise RuntimeError(f"milp solver: no answer after max_rounds={max_rounds} MILP "
                                   "solves (raise max_rounds)")
            remaining = None if stop_at is None else stop_at - time.perf_counter()
            if remaining is not None and remaining <= 0:
                return best, False
            clock.note(f"MILP: a schedule of {c} users? (solve {stats['rounds'] + 1})")
            status, seq = program.solve(remaining)
            stats["rounds"] += 1
            stats["cuts"] = program.n_cuts
            if status == "limit":      # keep what HiGHS found, if it is truly feasible
                if len(seq) > len(best) and evaluate(instance, seq).feasible:
                    best = seq
                    clock.offer(best)
                return best, False
            if status == "none":
                stats["upper"] = c - 1
                stats["proof"] = "program"
                return best, True
            ev = evaluate(instance, seq)
            if ev.feasible:
                best = seq
                clock.offer(best)
                break
            # tangents at the ALAP starts; forbid the shortest infeasible suffix
            for u, s in zip(seq, ev.start_s):
                pool.points[loc[u]].append(float(s))
                program._tangents(loc[u], [float(s)])
            for length in range(1, len(seq) + 1):
                if not evaluate(instance, seq[-length:]).feasible:
                    break
            suffix = tuple(loc[u] for u in seq[-length:])
            pool.suffixes.append(suffix)
            program._forbid(suffix)
        c += 1
    stats["upper"] = top
    stats["proof"] = "bounds"
    return best, True


def _load_lower_bounds(arr, users: np.ndarray) -> np.ndarray:
    """``A[m, r]`` (s): no sequence of model loads that starts or ends at local model ``m`` and
    visits models holding ``r`` of the candidates other than one user of ``m`` takes less.

    A walk over models costs at least the spanning tree its first entries into each model form
    (each edge a real load, in either direction no cheaper than ``W[a, b] = min(link[a, b],
    link[b, a])``), so at least the minimum spanning tree under ``W`` of the models it visits.
    That tree weighs ``int_0^inf (components of the graph of edges lighter than theta, on the
    visited models) - 1 dtheta``; at each ``theta`` the visited models touch at least
    ``q_theta`` components of that graph on *all* models, the fewest (the root's first, then the
    largest) whose users cover the ``r`` others. Integrating ``q_theta - 1`` over the distinct
    weights gives ``A``. O(|M|^3 (log |M| + n)) for ``|M|`` models (at most |M|^2 / 2 weights).
    """
    nm, n = np.unique(arr.model_of[users]).size, users.size
    A = np.zeros((nm, n + 1))
    r = np.arange(n + 1)
    for width, lab, size in _threshold_components(arr, users):
        for m in range(nm):
            own = size[lab[m]] - 1
            cum = np.r_[0, np.cumsum(np.sort(np.delete(size, lab[m]))[::-1])]
            extra = np.where(r <= own, 0, np.searchsorted(cum, r - own, side="left"))
            A[m] += width * extra
    return A


def _threshold_components(arr, users: np.ndarray):
    """For each interval between distinct load weights ``W[a, b] = min(link[a, b], link[b, a])``
    of the candidates' models (local indices, as ``np.unique`` numbers them), yield its width
    (s), each model's component label in the graph of the loads lighter than the interval's end
    (Kruskal's order, union-find) and the candidates each component holds."""
    models, m_loc = np.unique(arr.model_of[users], return_inverse=True)
    nm = models.size
    cnt = np.bincount(m_loc, minlength=nm)
    link = arr.link_s[np.ix_(models, models)]
    W = np.minimum(link, link.T)
    ia, ib = np.triu_indices(nm, 1)
    thr = np.unique(np.r_[0.0, W[ia, ib]])
    parent = np.arange(nm)

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_weight = np.argsort(W[ia, ib], kind="stable")
    e = 0
    for i in range(1, thr.size):
        # join the models linked by loads no heavier than thr[i - 1]
        while e < by_weight.size and W[ia[by_weight[e]], ib[by_weight[e]]] <= thr[i - 1]:
            x, y = find(ia[by_weight[e]]), find(ib[by_weight[e]])
            parent[x] = y
            e += 1
        _, lab = np.unique([find(x) for x in range(nm)], return_inverse=True)
        yield thr[i] - thr[i - 1], lab, np.bincount(lab, weights=cnt).astype(int)


def _slot_caps(c: int, d: np.ndarray, infer: np.ndarray, A: np.ndarray, m_loc: np.ndarray,
               fres_min: float):
    """Latest inference start ``cap[k, p]`` of candidate k in slot p of a schedule of c users
    (-inf where k cannot sit in slot p), each slot's cap ``slot_cap[p]`` (any user) and the
    earliest start ``early[k, p]``.

    All in one unit of time: deadlines ``d``, inference times ``infer``, load bounds ``A`` (from
    :func:`_load_lower_bounds`, rows by local model ``m_loc``) and ``fres_min``, the cheapest
    load of a candidate's model from the resident blocks. ``cap[k, p]`` is the least of:

    * k's own latest start ``d_k - infer_k``;
    * ``slot_cap[p] = min_i (delta_i - i pmin)``: slot p and the ``c - 1 - p`` after it hold
      ``c - p`` users, each inferring at least ``pmin``, that meet their deadlines from the
      slot's start on, which earliest-deadline-first does best; ``delta`` are the ``c - p``
      latest deadlines, ascending (the schedule's own deadlines are no later, one by one);
    * for ``p < c - 1``, ``d'_k - infer_k - (c - 1 - p) pmin - A[m_k, c - 1 - p]``: the
      ``c - 1 - p`` users after k, the last done by ``d'_k`` (the latest deadline of a user other
      than k), infer at least ``pmin`` each, and the models they need are loaded after k's
      start, which takes at least ``A[m_k, c - 1 - p]`` in all.

    ``early[k, p] = fres_min + A[m_k, p] + p pmin`` is the earliest start of k in slot p: before
    k come p users, each inferring at least ``pmin``, and the loads that bring their models and
    k's own from the resident blocks (a walk ending at ``m_k``). Slot p is out of k's reach
    (``cap = -inf``) when ``early + infer_k > d_k`` or ``early > cap``. O(n c).
    """
    n = d.size
    pmin = float(infer.min())
    top = np.sort(d)[::-1][:c][::-1]            # the c latest deadlines, ascending
    slot_cap = np.array([np.min(top[p:] - pmin * np.arange(1, c - p + 1)) for p in range(c)])
    order = np.argsort(d)[::-1]
    d_other = np.full(n, d[order[0]])
    d_other[order[0]] = d[order[1]] if n > 1 else -np.inf
    after = c - 1 - np.arange(c)
    cap = np.minimum((d - infer)[:, None], slot_cap[None, :])
    follow = d_other[:, None] - infer[:, None] - after[None, :] * pmin - A[m_loc][:, after]
    cap = np.minimum(cap, np.where(after[None, :] > 0, follow, np.inf))   # none after the last
    before = fres_min + A[m_loc][:, :c] + np.arange(c)[None, :] * pmin
    cap[(before + infer[:, None] > d[:, None]) | (before > cap)] = -np.inf
    return cap, slot_cap, before


def _assignment_bound(instance: Instance, users: np.ndarray, c: int, A_s: np.ndarray) -> bool:
    """False when no schedule of ``c`` of the candidates ``users`` fits the budget: even the
    cheapest assignment of c of them to the c slots, each at its slot's latest start
    (:func:`_slot_caps`, with the deadlines relaxed by the feasibility tolerance), needs more
    than B. True: no conclusion. O(n c^2) (``scipy.optimize.linear_sum_assignment``)."""
    from scipy.optimize import linear_sum_assignment

    from ..model.timeline import BANDWIDTH_RTOL

    arr = instance.arrays
    m_loc = np.unique(arr.model_of[users], return_inverse=True)[1]
    fres_min = float(arr.from_resident_s[arr.model_of[users]].min())
    cap, _, _ = _slot_caps(c, arr.deadline_s[users] + arr.time_tol_s, arr.infer_s[users], A_s,
                        m_loc, fres_min)
    ok = cap > 0
    beta = np.full(cap.shape, np.inf)
    kk, pp = np.nonzero(ok)
    beta[kk, pp] = user_bandwidth(instance, users[kk], cap[kk, pp])
    big = 1e6 * max(instance.bandwidth_hz, 1.0)
    cost = np.where(np.isfinite(beta), np.minimum(beta, big), big)
    rows, cols = linear_sum_assignment(cost)
    return bool(cost[rows, cols].sum() <= instance.bandwidth_hz * (1.0 + BANDWIDTH_RTOL))


class _GiveUp(Exception):
    """The suffix search stops without an answer (node or time budget, or a near tie)."""


class _Rounded(Exception):
    """The tabled suffix search completed a schedule that evaluate rejects."""


# Grid points per user of the least-bandwidth tables of the suffix search (fewer for many users).
_GRID_POINTS = 16384


def _dominators(instance: Instance, users: np.ndarray) -> list[int]:
    """``dom[v]``: bit mask of the candidates (local indices) that *dominate* candidate v: same
    model, a deadline no earlier, no more data and a channel no worse (``radio`` no smaller;
    identical users: the lower index dominates). Putting such a u in v's place in a schedule
    without u keeps it feasible: the loads are those of the same models, every ALAP start is
    at least as late (one deadline rose), and ``beta_u <= beta_v`` at every start. O(n^2)."""
    arr = instance.arrays
    m, d = arr.model_of[users], arr.deadline_s[users]
    D, a = arr.data_bits[users], arr.radio[users]
    n = users.size
    dom = [0] * n
    for v in range(n):
        ok = (m == m[v]) & (d >= d[v]) & (D <= D[v]) & (a >= a[v])
        same = (d == d[v]) & (D == D[v]) & (a == a[v])
        ok &= ~same | (np.arange(n) < v)
        ok[v] = False
        for u in np.flatnonzero(ok):
            dom[v] |= 1 << int(u)
    return dom


class _SuffixSearch:
    """Is there a schedule of exactly ``c`` of the candidates ``users``? A depth-first branch and
    bound that builds schedules backwards (see :func:`solve_milp`, Notes, "Suffix search")."""

    def __init__(self, instance: Instance, users: np.ndarray, load_lb_s: np.ndarray):
        from scipy.optimize import linear_sum_assignment

        from ..model.bandwidth import min_bandwidth
        from ..model.timeline import BANDWIDTH_RTOL

        self.lsa = linear_sum_assignment
        self.inst, self.users = instance, users
        arr = instance.arrays
        n = users.size
        self.n = n
        models, self.m_loc = np.unique(arr.model_of[users], return_inverse=True)
        self.link = arr.link_s[np.ix_(models, models)]
        self.fres = arr.from_resident_s[models]
        self.fres_min = float(self.fres[self.m_loc].min())
        self.d, self.infer = arr.deadline_s[users], arr.infer_s[users]
        self.hi = self.d - self.infer
        self.A = load_lb_s
        self.P = _path_load_bounds(arr, users)
        # Tolerances on the permissive side of plcore.evaluate's (never prune what it accepts).
        self.slack_s = 4.0 * arr.time_tol_s
        self.budget = instance.bandwidth_hz * (1.0 + BANDWIDTH_RTOL) * (1.0 + 1e-9)
        self.big = 1e3 * max(self.budget, 1.0)
        D, a = arr.data_bits[users], arr.radio[users]
        self.beta = lambda j, t: min_bandwidth(D[j], a[j], np.where(
            (t < 0) & (t >= -arr.time_tol_s), 0.0, t), rate=arr.rate)
        # beta_j at the grid point at or after t: a lower bound (beta is decreasing).
        self.ng = int(max(1024, min(_GRID_POINTS, 4_000_000 // max(n, 1))))
        tmax = max(float(self.hi.max()), 1e-9)
        self.h = tmax / self.ng
        grid = np.arange(self.ng + 1) * self.h
        self.table = np.minimum(min_bandwidth(D[:, None], a[:, None], grid[None, :],
                                              rate=arr.rate), self.big)
        self.dom = _dominators(instance, users)
        self.nodes = 0

    def bound(self, U: np.ndarray, T: float, m: int | None, r: int) -> float:
        """A lower bound on the bandwidth of any ``r`` users of ``U`` (local indices) served
        before a suffix whose first user, of local model ``m``, starts at ``T`` (s); ``m=None``:
        before nothing (the whole schedule). ``self.big`` or more: no such ``r`` users fit.

        Position ``i = 0..r-1`` counts back from the suffix: user j there starts no later than
        ``T - infer_j - i pmin - max(link[m_j, m], A[m_j, i + 1])`` (the i users after it infer
        at least ``pmin`` each; the loads up to model m take at least the direct load, by the
        triangle inequality of partial loads, and at least the least loads ``A`` of a walk from
        m_j through the models of the i + 1 users after it), nor after ``d_j - infer_j``; with
        no suffix, no later than ``max d - infer_j - i pmin - A[m_j, i]``. It starts no earlier
        than ``max(fres[m_j], fres_min + A[m_j, r-1-i]) + (r-1-i) pmin`` (the users before it,
        and the loads from the resident blocks to m_j). So it needs at least beta_j at that
        latest start (on a grid, rounded up in time: lower), and the cheapest assignment of
        users to the r positions bounds the total. O(|U| r) plus the assignment."""
        if U.size < r:
            return self.big
        infer_U = self.infer[U]
        pm = float(infer_U.min())
        i = np.arange(r)
        AU = self.A[self.m_loc[U]]
        if m is None:
            cap = np.minimum(self.hi[U][:, None], (self.d[U].max() - infer_U)[:, None]
                             - pm * i[None, :] - AU[:, :r])
        else:
            after = np.maximum(self.link[self.m_loc[U], m][:, None],
                               self.P[self.m_loc[U], m, 1:r + 1])
            cap = np.minimum(self.hi[U][:, None], (T - infer_U)[:, None] - pm * i[None, :]
                             - after)
        before = r - 1 - i
        low = np.maximum(self.fres[self.m_loc[U]][:, None], self.fres_min + AU[:, before]) \
            + pm * before[None, :]
        k = np.clip(np.ceil(cap / self.h), 0, self.ng).astype(np.intp)
        cost = np.where(cap >= low - self.slack_s, self.table[U[:, None], k], self.big)
        rows, cols = self.lsa(cost)
        return float(cost[rows, cols].sum())

    def child_bounds(self, U: np.ndarray, J: np.ndarray, T: np.ndarray, r: int) -> np.ndarray:
        """:meth:`bound` for each child at once: ``r`` users of ``U`` without ``J[q]`` before a
        suffix whose first user is ``J[q]``, starting at ``T[q]`` (s); ``pmin`` taken over
        ``U`` (no more than over U without J[q]: a lower bound still)."""
        if r == 0:
            return np.zeros(J.size)
        pm = float(self.infer[U].min())
        i = np.arange(r)
        mU, mJ = self.m_loc[U], self.m_loc[J]
        after = np.maximum(self.link[mU[None, :], mJ[:, None]][:, :, None],
                           self.P[mU[None, :], mJ[:, None], 1:r + 1])      # (J, U, r)
        cap = np.minimum(self.hi[U][None, :, None],
                         (T[:, None] - self.infer[U][None, :])[:, :, None]
                         - pm * i[None, None, :] - after)
        before = r - 1 - i
        low = np.maximum(self.fres[mU][:, None], self.fres_min + self.A[mU][:, before]) \
            + pm * before[None, :]                                          # (U, r)
        k = np.clip(np.ceil(cap / self.h), 0, self.ng).astype(np.intp)
        cost = np.where(cap >= low[None] - self.slack_s, self.table[U[None, :, None], k],
                        self.big)
        cost[np.arange(J.size), np.searchsorted(U, J)] = self.big          # J[q] is taken
        out = np.empty(J.size)
        for q in range(J.size):
            rows, cols = self.lsa(cost[q])
            out[q] = cost[q][rows, cols].sum()
        return out

    def run(self, c: int, node_limit: int | None, stop_at: float | None,
            tabled: bool = True):
        """("found", schedule as user indices) or ("none", None); raises _GiveUp.

        ``tabled``: first with every least bandwidth read from the tables (rounded up in time,
        so no more than the true one): an exact search of a relaxed problem whose schedules
        include every feasible one, so its "none" is a proof. If it completes a schedule that
        :func:`plcore.evaluate` rejects (within the grid's rounding of the budget), the count is
        searched again with exact least bandwidths."""
        if self.bound(np.arange(self.n), np.inf, None, c) > self.budget:
            return "none", None
        self.c, self.node_limit, self.stop_at = c, node_limit, stop_at
        seq = None
        if tabled:
            self.memo, self.tabled = {}, True
            try:
                seq = self._dfs(0, np.inf, None, 0.0, c, [], 0)
            except _Rounded:
                tabled = False
        if not tabled:
            self.memo, self.tabled = {}, False
            seq = self._dfs(0, np.inf, None, 0.0, c, [], 0)
        if seq is None:
            return "none", None
        return "found", [int(self.users[j]) for j in seq[::-1]]

    def _dfs(self, mask: int, T: float, m, W: float, r: int, seq: list, req: int):
        """Search the prefixes of the suffix ``seq`` (local indices, backwards): its users
        ``mask``, first model ``m``, first start ``T`` (s), bandwidth ``W`` (Hz); ``r`` users to
        prepend, ``req`` the dominators that must be among them. The caller checked the bound."""
        self.nodes += 1
        if self.node_limit is not None and self.nodes > self.node_limit:
            raise _GiveUp("nodes")
        if self.stop_at is not None and self.nodes % 128 == 0 \
                and time.perf_counter() > self.stop_at:
            raise _GiveUp("time")
        if r == 0:
            if T - self.fres[m] < -self.slack_s:
                return None
            sched = [int(self.users[j]) for j in seq[::-1]]
            if not evaluate(self.inst, sched).feasible:
                if self.tabled:
                    raise _Rounded
                raise _GiveUp("near tie")      # accepted here within rounding, not by evaluate
            return seq
        idx = np.arange(self.n)
        free = np.array([(mask >> j) & 1 == 0 for j in range(self.n)]) if self.n > 62 else \
            ((mask >> idx) & 1) == 0
        U = idx[free]
        if m is None:
            s = self.hi[U]
        else:
            s = np.minimum(self.d[U], T - self.link[self.m_loc[U], m]) - self.infer[U]
        if self.tabled:
            b = self.table[U, np.clip(np.ceil(s / self.h), 0, self.ng).astype(np.intp)]
        else:
            b = self.beta(U, s)
        pm = float(self.infer[U].min())
        good = (W + b <= self.budget) \
            & (s - self.fres[self.m_loc[U]] - (r - 1) * pm >= -self.slack_s)
        # Each child: dominance (memo of failed states), then its bound; best bound first.
        kids = []
        for j, sj, bj in zip(U[good], s[good], b[good]):
            j, sj, bj = int(j), float(sj), float(bj)
            new_mask = mask | (1 << j)
            new_req = (req | self.dom[j]) & ~new_mask
            if bin(new_req).count("1") > r - 1:
                continue
            mj = int(self.m_loc[j])
            front = self.memo.get(new_mask)
            if front is not None and any(W2 <= W + bj and T2 >= sj + self.link[mj, m2]
                                         for m2, T2, W2 in front):
                continue
            kids.append([W + bj, j, sj, bj, mj, new_mask, new_req])
        if not kids:
            return None
        lbs = np.array([k[0] for k in kids]) + self.child_bounds(
            U, np.array([k[1] for k in kids]), np.array([k[2] for k in kids]), r - 1)
        for kid, lb in zip(kids, lbs):
            kid[0] = float(lb)
        for kid in kids:
            if kid[0] > self.budget:
                self._fail(kid[5], kid[4], kid[2], W + kid[3])
        kids = sorted((k for k in kids if k[0] <= self.budget), key=lambda k: k[0])
        for lb, j, sj, bj, mj, new_mask, new_req in kids:
            res = self._dfs(new_mask, sj, mj, W + bj, r - 1, seq + [j], new_req)
            if res is not None:
                return res
            self._fail(new_mask, mj, sj, W + bj)
        return None

    def _fail(self, mask: int, m: int, T: float, W: float) -> None:
        """Remember a state without completion (its users, first model, start, bandwidth)."""
        self.memo.setdefault(mask, []).append((m, T, W))


def _path_load_bounds(arr, users: np.ndarray) -> np.ndarray:
    """``P[a, b, r]`` (s): no sequence of model loads that starts at local model ``a``, ends at
    local model ``b`` and visits models holding ``r`` of the candidates other than one user of
    ``a`` (b's users count) takes less.

    As in :func:`_load_lower_bounds`, a load between models is no cheaper than ``W[a, b] =
    min(link[a, b], link[b, a])``, and at each weight threshold ``theta`` the models split into
    the components of the graph of edges lighter than ``theta``; a load between two components
    weighs at least the next distinct weight. A walk from a to b that visits ``q`` components
    makes at least ``q - 1`` such loads, and at least ``q`` when a and b lie in the same
    component and ``q >= 2`` (it must come back). The fewest components it visits: a's, b's,
    then the largest others, until their users cover ``r``. Summing over the threshold intervals
    gives ``P``. O(|M|^4 + |M|^3 n) for ``|M|`` models.
    """
    nm, n = np.unique(arr.model_of[users]).size, users.size
    P = np.zeros((nm, nm, n + 1))
    r = np.arange(n + 1)
    for width, lab, size in _threshold_components(arr, users):
        for a in range(nm):
            for b in range(nm):
                same = lab[a] == lab[b]
                base = size[lab[a]] - 1 + (0 if same else size[lab[b]])
                q0 = 1 if same else 2
                rest = np.sort(np.delete(size, [lab[a], lab[b]]))[::-1]
                cum = np.r_[0, np.cumsum(rest)]
                extra = np.where(r <= base, 0, np.searchsorted(cum, r - base, side="left"))
                q = q0 + extra
                cross = q - 1 + (same & (q >= 2))
                P[a, b] += width * cross
    return P
