"""Density search: value-density construction and local search, for general sharing."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..model.evaluate import evaluate
from ..model.instance import Instance
from ..model.timeline import alap_from, model_load_times, user_bandwidth, within_budget
from .admission import fit_bandwidth
from .baselines import solve_edf, solve_no_sharing
from .greedy import solve_greedy
from .limits import current_clock
from .options import check_option

__all__ = ["solve_density_search"]

_EVAL_OVERHEAD = 200     # one trial's fixed cost, in units of positions recomputed
_SMALL = 40              # schedules up to this length: every position and pair is tried
_TINY = 12               # schedules shorter than this: whole neighbourhoods scored in one batch
_MAX_ROUNDS = 50         # rounds of the local search, at most
_MIN_WORK = 100_000      # the local search's budget is never less (small instances)
# The budget counts at most this many users: a trial costs far more than its 200 units of
# overhead when the schedule is thousands of users long (its arrays are rebuilt whole). At
# 200,000 users (10 models, 20 MHz, one deadline of 25 s) the whole budget took 7 of the 8 s of
# a solve; a quarter of it served 0.7 % fewer users (3,328 against 3,352).
_WORK_USERS = 100_000
_PLATEAU_GAIN = 0.01     # same users: a batched move is kept if it saves 1 % of the bandwidth
_BATCH_DISCOUNT = 8       # a position scored in a batch costs an eighth of one scored alone
_BATCH = 20_000          # most candidate schedules scored in one batch
_KICK_USERS = 64         # instances of 12 to 64 users: iterated local search with kicks
_KICKS = 40              # kicks tried, at most
# The restarts and kicks share a budget of this many units of cost per user. Cost (``_State.cost``)
# follows CPU time where the work units do not: a batched position counts whole (not an eighth),
# a trial and an insertion's scan of the positions a fixed _TRIAL_COST (about 110 us each, some
# 600 batched positions' time, where the work counts 200).
_ILS_WORK = 100_000
_TRIAL_COST = 600
_KICK_SHARE = 2          # a kicked search's budget is a search's divided by this
# Above this many users the no-sharing and greedy starts are their near-linear versions: with a
# common deadline and a binding budget no-sharing's DP takes minutes at 10,000 users, and the
# greedy's second chance tries every place next to a user of the same model (seconds per user
# when a few models have thousands of users each).
_QUICK_STARTS = 2_000


def solve_density_search(instance: Instance, *, seed: int = 0, work_per_user: int = 200,
                         use_greedy: bool = True) -> list[int]:
    """Value-density construction, then local search on an incremental timeline.

    Our scheduler for general sharing (any block sets, per-user deadlines). It starts from the
    best of its own value-density schedules and the ``no-sharing``, ``edf`` and ``greedy``
    schedules, and improves it by local search, so it never serves fewer users than any of them
    (above 2,000 users, than their near-linear versions: see Notes, Cost).

    Parameters
    ----------
    instance : Instance
        Any sharing structure, per-user deadlines, Shannon or linear rate, any budget.
    seed : int, default 0
        Seeds the order in which the local search visits its moves: same seed, same schedule.
    work_per_user : int, default 200
        Budget of the local search: ``work_per_user * min(n_users, 100_000)`` units (at least
        100,000), a unit being one position of the timeline recomputed, plus a fixed 200 per
        trial move for its overhead. 0 skips the local search.
    use_greedy : bool, default True
        Also start from the paper's greedy (:func:`~plcore.schedulers.greedy.solve_greedy`).

    Returns
    -------
    list of int
        User indices in service order; :func:`plcore.evaluate` finds it feasible, and it is at
        least as long as the ``no-sharing``, ``edf`` (and ``greedy``) schedules; above 2,000
        users, as ``no-sharing`` with ``quick=True`` and the greedy without its second chance.

    Raises
    ------
    ValueError
        For an option of the wrong type or range, e.g. a negative ``work_per_user``
        (:func:`~plcore.schedulers.options.check_option`).

    Examples
    --------
    >>> import plcore
    >>> from plcore.study.synthetic import random_instance
    >>> inst = random_instance(0, 8, 4, structure="general", bandwidth_hz=4e6)
    >>> seq = plcore.solve(inst, method="density-search")
    >>> plcore.evaluate(inst, seq).feasible
    True
    >>> len(seq) >= max(len(plcore.solve(inst, method=m)) for m in ("no-sharing", "edf"))
    True

    Notes
    -----
    **Construction (value density).** Time runs forward from t = 0. A model that is not yet
    loaded brings the *group* of its users that can still finish by their deadlines if it is
    loaded now and they are served back to back, earliest deadline first (for equal inference
    times ``p`` and a start at ``tau``, the group's size is ``min_j(max(q_j, 0) + n_m - j)`` with
    ``q_j = floor((d_j - tau) / p)`` over the model's users in deadline order: one pass, vectorized
    over all models). Its value is the group's size ``c``, its cost the incremental load time
    given the resident blocks plus ``c p``. Two rules pick the next model, and both schedules are
    built: the best *value density* ``c / (load + c p)``, and the same with urgency,
    ``c / (load + c p + slack)`` where ``slack`` is how long the group's most urgent user could
    still wait. A loaded model serves its whole group; its other users could never be served
    later (time only moves forward). The bandwidth budget is then met by dropping the users that
    need the most (:func:`~plcore.schedulers.admission.fit_bandwidth`).

    **Local search.** From the best start (most users, then least total bandwidth), moves are
    tried and kept when they serve more users or the same users with less total least bandwidth:

    * *insertion* of a dropped user (earliest deadline first). Where it meets every deadline is
      found for all positions at once from the as-early-as-possible completions and the
      suffix-minimum slack; the few feasible positions that add the least time are scored;
    * *repair*: where an insertion meets the deadlines but not the budget, the user needing the
      most bandwidth is dropped instead, if that lowers the total (the next insertions then fit);
    * *or-opt*: a model group (a run of one model's users) moved next to another group of the
      same model (one load less), or one group earlier or later; on schedules of up to 40 users,
      every user moved to every position and every pair swapped;
    * *removal and reinsertion* on small schedules: a served user swapped for a dropped one.

    Each trial is scored on an incremental timeline: ALAP starts depend only on the suffix after
    a position (MODEL.md section 2) and a load only on its two neighbours, so only the positions
    before the last changed one are recomputed, and least bandwidths only where a start moved.

    On schedules of up to 40 users the neighbourhoods are scored whole, in batches of up to
    20,000 candidate schedules (one NumPy pass each, the evaluator's arithmetic row by row):
    every dropped user at every position, every user or model group moved anywhere, every
    served user exchanged for a dropped one; below 12 users also an insertion combined with one
    other move, and one served user replaced by two dropped ones. A move that keeps the same
    users is kept there only if it saves 1 % of the total bandwidth.

    **Restarts and kicks** (instances of 12 to 64 users). The local search also runs from every
    other start, and the best result is then perturbed 40 times (iterated local search): 1-3
    random users dropped and one other moved to a random place (only dropped where the move
    misses a deadline), the local search run again, the result kept if it is better. These
    searches leave out the exchanges of a served user for a dropped one (the largest batched
    neighbourhood), which halves their cost without losing users on the instances below. The
    schedules these find are not one or two moves away: on the 20-30-user instances below, the
    optimal schedules the MILP finds serve one user more with 5-13 of the common users in another
    relative order (often with more model groups, i.e. more loads), which no insertion combined
    with one move or group move reaches from the local optimum. Below 12 users the batched
    neighbourhoods above already reach the optimum almost always. The restarts and kicks share
    one budget of 100,000 n units of a cost that follows CPU time (a batched position one unit,
    a trial or an insertion's scan of the positions 600 more: about 110 us each), and a kicked
    search has half a search's budget (it repairs a few users). When each had a whole budget
    of its own, instances where the budget leaves about ten users served (every batch full)
    took 5-6 s and the slowest at 64 users 2.7 s.

    **Cost.** Construction: O(M n) for M models (one vectorized pass per loaded model) plus
    O(n log n). Starts: those of ``no-sharing`` (whose copy of the instance,
    :func:`plcore.model.sharing.unshared`, is built from its index arrays), ``edf`` and
    ``greedy``; above 2,000 users their near-linear versions: ``no-sharing`` with ``quick=True``
    (with a common deadline and a binding budget its DP's count exchange took 145 s at 20,000
    users, the quick DP 1.7 s for 0.5 % fewer users) and the greedy without its second chance
    (which tries every place next to a user of the same model: 14 s at 100,000 users on 10
    models; the local search's insertions do that work within its budget). Local search:
    bounded by ``work_per_user * min(n, 100,000)`` units (at least 100,000), O(n) per accepted
    move; at most 50 rounds. Its batches are built from only as many dropped users as fill
    them (at 200,000 users the insertions of all of them took 1.8 GB). From 12 to 64 users the
    restarts and kicks run it up to 44 times more, within 100,000 n units of cost in all. The
    result is checked with :func:`plcore.evaluate` (O(n)); should rounding ever make it fail,
    the best start is returned.

    Measured with ``benchmarks/bench_density_search.py`` (general sharing, 200 models, per-user
    deadlines; CPU seconds on a shared 2-core machine, median of 5, index arrays built
    beforehand): about 0.2 s at 1,000 users, 0.3 s at 10,000 and 1.5 s at 100,000 (medians of
    two runs of five). At 200,000 users (``--huge``: per-user deadlines, and one deadline for
    all on 200 models and on the default scenario's 10 models, where 20 MHz binds): 0.9-5.0 s
    (medians of five) and at most 93 MB allocated by the solve (``tracemalloc``). At 20-30
    users the restarts and kicks take it from about 0.05 s to about 0.25 s (median).

    **Gap to the optimum** at 20-30 users (``make_instance(seed, n_users, sharing,
    deadline_s=(0.1, 0.3))``, 20, 25 and 30 users, general and bottom sharing, proven MILP
    optima with a 60 s limit; ``benchmarks/bench_density_search.py --gap --seeds 0 1 2``): mean
    relative gap 0 % on seeds 0-2 (17 proven, optimal on all) and 0.58 % on seeds 3-5
    (``--seeds 3 4 5``: 16 proven, optimal on 14); without the restarts and kicks 2.22 % and
    2.46 %.

    **Time limit** (:func:`plcore.solve`'s ``time_limit_s``): every feasible start is offered to
    the clock as it is built (EDF and the two constructions first, which are never interrupted;
    then no-sharing and the greedy, whose second chances the limit can stop), and the local search
    (restarts and kicks included) is stopped between two trials. A stopped solve returns the
    longest schedule offered, which may then be shorter than the no-sharing one.
    """
    for name, value in (("seed", seed), ("work_per_user", work_per_user),
                        ("use_greedy", use_greedy)):
        check_option("density-search", name, value)
    clock = current_clock()
    n = instance.n_users
    if n == 0:
        return []
    starts = []
    # The near-linear starts first: under a time limit, the later ones may be stopped.
    for name, fn in (("edf", solve_edf), ("density", _construct), ("urgency", _construct_urgent),
                     ("no-sharing", _no_sharing_start),
                     ("greedy", _greedy_start if use_greedy else None)):
        if fn is None:
            continue
        clock.note(f"start: {name}")
        seq = [int(k) for k in fn(instance)]
        clock.offer(seq)
        starts.append(seq)
    state = max((_State(instance, s) for s in starts), key=lambda st: (st.n, -st.total))
    best_start = state.users.tolist()
    if work_per_user > 0:
        clock.note("local search")
        rng = np.random.default_rng(seed)
        work = max(work_per_user * min(n, _WORK_USERS), _MIN_WORK)
        by_deadline = _eligible_by_deadline(instance)     # the same for every search below
        _search(state, by_deadline, work, rng, clock)
        if _TINY <= n <= _KICK_USERS:
            left = _ILS_WORK * n          # restarts and kicks together
            for s0 in starts:
                other = _State(instance, s0)
                if other.users.tolist() == best_start or left <= 0:
                    continue
                left -= _search(other, by_deadline, min(work, left), rng, clock,
                                exchanges=False)
                if state.better(other.n, other.total):
                    state = other
                    clock.offer(state.users.tolist())
            clock.note("kicks")
            state = _kicks(state, by_deadline, work // _KICK_SHARE, left, rng, clock)
    result = state.users.tolist()
    if len(result) < len(best_start) or not evaluate(instance, result).feasible:
        result = best_start      # never worse than the best start (rounding guard)
    return result


def _no_sharing_start(instance: Instance) -> list[int]:
    """The ``no-sharing`` schedule, quick above :data:`_QUICK_STARTS` users."""
    if instance.n_users <= _QUICK_STARTS:
        return solve_no_sharing(instance)
    return solve_no_sharing(instance, quick=True)


def _greedy_start(instance: Instance) -> list[int]:
    """The ``greedy`` schedule, without its second chance above :data:`_QUICK_STARTS` users (the
    local search's insertions then do that work, within its budget)."""
    if instance.n_users <= _QUICK_STARTS:
        return solve_greedy(instance)
    return solve_greedy(instance, max_work=0)


# --------------------------------------------------------------------------------------------------
# Construction


def _construct(instance: Instance) -> list[int]:
    """Value-density construction (see Notes of :func:`solve_density_search`)."""
    return _build(instance, urgent=False)


def _construct_urgent(instance: Instance) -> list[int]:
    """Value-density construction with the urgency term."""
    return _build(instance, urgent=True)


def _build(instance: Instance, urgent: bool) -> list[int]:
    arr = instance.arrays
    n_models = len(arr.model_names)
    tol = arr.time_tol_s
    # Users grouped by model, each group in deadline order (ties by index).
    order = np.lexsort((np.arange(instance.n_users), arr.deadline_s, arr.model_of))
    mod = arr.model_of[order]
    d = arr.deadline_s[order]
    p_all = arr.model_infer_s
    pending = np.bincount(mod, minlength=n_models) > 0
    t, cur = 0.0, -1
    out: list[int] = []
    alive = np.ones(order.size, dtype=bool)
    while pending.any():
        load = arr.from_resident_s if cur < 0 else arr.link_s[cur]
        keep = alive & pending[mod] & (d + tol >= t + load[mod] + p_all[mod])
        idx = np.flatnonzero(keep)
        if idx.size == 0:
            break
        alive[:] = False
        alive[idx] = True         # users that cannot finish even alone now never will
        m = mod[idx]
        # Segments of equal model (idx is sorted by model, then deadline).
        first = np.flatnonzero(np.r_[True, m[1:] != m[:-1]])
        seg_len = np.diff(np.r_[first, idx.size])
        rank = np.arange(idx.size) - np.repeat(first, seg_len)          # 0-based j - 1
        p = p_all[m]
        tau = t + load[m]
        # Users each model could still serve back to back; without inference time (infer_s = 0)
        # all of them, since every kept user meets its deadline at tau.
        q = np.full(idx.size, np.inf)
        timed = p > 0
        q[timed] = np.floor((d[idx[timed]] + tol - tau[timed]) / p[timed])
        val = np.maximum(q, 0) + np.repeat(seg_len, seg_len) - (rank + 1)
        c = np.minimum(seg_len, np.minimum.reduceat(val, first))
        models = m[first]
        cost = load[models] + c * p_all[models]
        if urgent:
            slack = d[idx[first]] - (t + load[models] + p_all[models])
            cost = cost + np.maximum(slack, 0.0)
        # A group that costs no time (resident, no inference) is worth the most.
        score = np.divide(c, cost, out=np.full(c.size, np.inf), where=cost > 0)
        ok = c > 0
        if not ok.any():
            break
        cand = np.flatnonzero(ok)
        # Best score, then the earliest first deadline, then the lowest model index.
        pick = cand[np.lexsort((models[cand], d[idx[first[cand]]], -score[cand]))[0]]
        mm = int(models[pick])
        t += load[mm]
        pm = p_all[mm]
        for j in idx[first[pick]:first[pick] + seg_len[pick]]:
            if t + pm <= d[j] + tol:
                out.append(int(order[j]))
                t += pm
        pending[mm] = False
        cur = mm
    return fit_bandwidth(instance, out)


# --------------------------------------------------------------------------------------------------
# The incremental timeline


class _State:
    """A feasible schedule with its timeline: loads, ALAP starts, least bandwidths, ASAP slack."""

    def __init__(self, instance: Instance, seq):
        self.inst = instance
        self.arr = instance.arrays
        self.budget = instance.bandwidth_hz
        self.cost = [0]       # CPU cost of the moves scored (see _ILS_WORK), shared by copies
        self.set(np.asarray(seq, dtype=int))

    def set(self, users: np.ndarray, s=None, bw=None) -> None:
        arr = self.arr
        self.users = users
        self.n = users.size
        self.models = arr.model_of[users]
        self.L = model_load_times(arr, self.models)
        if s is None:
            s = alap_from(self.L, arr.infer_s[users], arr.deadline_s[users])
            bw = user_bandwidth(self.inst, users, s) if users.size else np.zeros(0)
        self.s, self.bw = s, bw
        self.total = float(bw.sum())
        # As early as possible: completions F and the least slack of each suffix.
        self.F = np.cumsum(self.L + arr.infer_s[users])
        slack = arr.deadline_s[users] - self.F
        self.suffix_slack = np.r_[np.minimum.accumulate(slack[::-1])[::-1], np.inf]
        self.inside = np.zeros(self.inst.n_users, dtype=bool)
        self.inside[users] = True

    def trial(self, new: np.ndarray):
        """Score ``new``: (starts, bandwidths, total) if feasible, else None; and the work done.

        Positions of the common suffix keep their starts and bandwidths; the prefix before it is
        recomputed, and bandwidths only where a user or its start changed.
        """
        arr = self.arr
        old = self.users
        x = min(old.size, new.size)
        if x:
            diff = np.flatnonzero(new[new.size - x:][::-1] != old[old.size - x:][::-1])
            c = int(diff[0]) if diff.size else x
        else:
            c = 0
        q = new.size - c
        work = q + _EVAL_OVERHEAD
        self.cost[0] += q + _TRIAL_COST
        if q == 0:
            return None, work
        pre = new[:q]
        models = arr.model_of[pre]
        Lp = model_load_times(arr, models)
        dl = arr.deadline_s[pre].copy()
        if c:
            s_next = self.s[old.size - c]
            dl[-1] = min(dl[-1], s_next - arr.link_s[models[-1], arr.model_of[new[q]]])
        sp = alap_from(Lp, arr.infer_s[pre], dl)
        if sp[0] - Lp[0] < -arr.time_tol_s:
            return None, work
        bp = np.empty(q)
        y = min(q, old.size)
        same = np.zeros(q, dtype=bool)
        same[:y] = (pre[:y] == old[:y]) & (sp[:y] == self.s[:y])
        bp[same] = self.bw[:y][same[:y]]
        ch = ~same
        if ch.any():
            bp[ch] = user_bandwidth(self.inst, pre[ch], sp[ch])
        s = np.concatenate([sp, self.s[old.size - c:]])
        bw = np.concatenate([bp, self.bw[old.size - c:]])
        total = float(bw.sum())
        if not within_budget(total, self.budget):
            return (s, bw, total, False), work
        return (s, bw, total, True), work

    def better(self, n_new: int, total: float) -> bool:
        return n_new > self.n or (n_new == self.n and total < self.total * (1 - 1e-9))


# --------------------------------------------------------------------------------------------------
# Local search


def _search(st: _State, by_deadline: np.ndarray, budget: int, rng: np.random.Generator, clock,
            exchanges: bool = True) -> int:
    """Local search on ``st`` in place, within about ``budget`` units of work (a batch or a
    trial may pass it); returns its cost (see :data:`_ILS_WORK`)."""
    work = 0
    spent = st.cost[0]

    improved = True
    rounds = 0
    while improved and work < budget and rounds < _MAX_ROUNDS:
        if st.inside[by_deadline].all():
            break               # every user who could be served alone is served
        improved = False
        rounds += 1
        if st.n <= _SMALL:
            done, w = _batch_moves(st, by_deadline, budget - work, clock, exchanges)
            work += w
            improved |= done
            if st.n <= _SMALL:
                break           # the batched neighbourhoods are exhausted
        # ---- insertion (with repair), earliest deadline first
        for k in by_deadline:
            if work >= budget:
                break
            if st.inside[k]:
                continue
            clock.check()
            done, w = _insert(st, int(k))
            work += w
            improved |= done
        # ---- or-opt and swaps
        if work < budget:
            done, w = _group_moves(st, budget - work, rng, clock)
            work += w
            improved |= done
        clock.offer(st.users.tolist())
    return st.cost[0] - spent


def _eligible_by_deadline(inst: Instance) -> np.ndarray:
    """Users that could be served alone (by their deadline, within the budget), by deadline."""
    arr = inst.arrays
    alone = user_bandwidth(inst, np.arange(inst.n_users), arr.deadline_s - arr.infer_s)
    eligible = np.flatnonzero(within_budget(alone, inst.bandwidth_hz)
                              & (arr.deadline_s - arr.infer_s - arr.from_resident_s[arr.model_of]
                                 >= -arr.time_tol_s))
    return eligible[np.argsort(arr.deadline_s[eligible], kind="stable")]


def _kicks(st: _State, by_deadline: np.ndarray, budget: int, left: int,
           rng: np.random.Generator, clock) -> _State:
    """Iterated local search: from the best schedule, drop a few random users and move one
    other, then search again (within ``budget`` units each, ``left`` in all); keep the result
    if it is better. Returns the best state."""
    inst = st.inst
    n_max = by_deadline.size
    for _ in range(_KICKS):
        if left <= 0:
            break
        clock.check()
        users = st.users
        if users.size < 2 or users.size == n_max:
            break
        r = int(rng.integers(1, min(3, users.size - 1) + 1))
        keep = np.delete(users, rng.choice(users.size, size=r, replace=False))
        i, p = rng.integers(keep.size), rng.integers(keep.size + 1)
        moved = _move(keep, int(i), int(i) + 1, int(p))
        cand = None
        for new in (moved, keep):
            tmp = _State(inst, new)
            if tmp.n and tmp.s[0] - tmp.L[0] >= -tmp.arr.time_tol_s and \
                    within_budget(tmp.total, tmp.budget):
                cand = tmp
                break
        if cand is None:
            continue
        left -= _search(cand, by_deadline, min(budget, left), rng, clock, exchanges=False)
        if st.better(cand.n, cand.total):
            st = cand
            clock.offer(st.users.tolist())
    return st


def _insert(st: _State, k: int, max_trials: int = 6):
    """Insert user ``k`` where it adds least bandwidth; else repair the budget by dropping the
    hungriest user if that lowers the total. Returns (improved, work)."""
    arr = st.arr
    n = st.n
    m = arr.model_of[k]
    dk, pk = arr.deadline_s[k], arr.model_infer_s[m]
    tol = arr.time_tol_s
    st.cost[0] += n + 1 + _TRIAL_COST
    # Deadline feasibility of every position p at once (as early as possible).
    prevF = np.r_[0.0, st.F]                                   # completion before position p
    prev_m = np.r_[-1, st.models]
    into = np.where(prev_m < 0, arr.from_resident_s[m], arr.link_s[np.maximum(prev_m, 0), m])
    nxt = np.r_[st.models, -1]
    out = np.where(nxt < 0, 0.0, arr.link_s[m, np.maximum(nxt, 0)])
    was = np.r_[st.L, 0.0]
    delta = into + pk + out - was
    ok = (prevF + into + pk <= dk + tol) & (delta <= st.suffix_slack + tol)
    pos = np.flatnonzero(ok)
    work = n + 1
    if pos.size == 0:
        return False, work
    if n > _SMALL and pos.size > max_trials:
        # The least added time first, later positions on ties (fewer starts move).
        pos = pos[np.lexsort((-pos, delta[pos]))[:max_trials]]
    best = None
    over = None
    for p in pos:
        new = np.insert(st.users, p, k)
        res, w = st.trial(new)
        work += w
        if res is None:
            continue
        if res[3]:
            if best is None or res[2] < best[1][2]:
                best = (new, res)
        elif over is None or res[2] < over[1][2]:
            over = (new, res)
    if best is not None:
        st.set(best[0], *best[1][:2])
        return True, work
    if over is not None:
        # Repair: drop the user needing the most bandwidth (never k itself) if the total falls.
        new, (s, bw, total, _) = over
        pos_k = int(np.flatnonzero(new == k)[0])
        order = np.argsort(-bw, kind="stable")
        for r in order[:3]:
            if r == pos_k:
                continue
            cand = np.delete(new, r)
            tmp = _State.__new__(_State)
            tmp.__dict__.update(st.__dict__)
            tmp.users, tmp.s, tmp.bw = new, s, bw
            res, w = tmp.trial(cand)
            work += w
            if res is not None and res[3] and st.better(cand.size, res[2]):
                st.set(cand, *res[:2])
                return True, work
    return False, work


def _groups(models: np.ndarray):
    """Runs of equal model: (starts, ends) positions, ends exclusive."""
    if models.size == 0:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    starts = np.flatnonzero(np.r_[True, models[1:] != models[:-1]])
    ends = np.r_[starts[1:], models.size]
    return starts, ends


def _move(users: np.ndarray, a: int, b: int, p: int) -> np.ndarray:
    """Move the segment ``users[a:b]`` so that it starts before the element now at ``p``."""
    seg = users[a:b]
    rest = np.concatenate([users[:a], users[b:]])
    q = p if p <= a else p - (b - a)
    return np.concatenate([rest[:q], seg, rest[q:]])


def _group_moves(st: _State, budget: int, rng, clock):
    """Or-opt on model groups: merge a group with another of its model, or shift it by one
    group. Returns (improved, work)."""
    work = 0
    improved = False
    g_start, g_end = _groups(st.models)
    order = rng.permutation(g_start.size)
    for gi in order:
        if work >= budget:
            break
        g_start, g_end = _groups(st.models)
        if gi >= g_start.size:
            continue
        a, b = int(g_start[gi]), int(g_end[gi])
        m = st.models[a]
        targets = set()
        same = np.flatnonzero(st.models[g_start] == m)
        for gj in same:
            if gj != gi:
                targets.add(int(g_start[gj]))
                targets.add(int(g_end[gj]))
        if gi > 0:
            targets.add(int(g_start[gi - 1]))
        if gi + 1 < g_start.size:
            targets.add(int(g_end[gi + 1]))
        best = None
        for p in sorted(targets):
            if a <= p <= b:
                continue
            clock.check()
            new = _move(st.users, a, b, p)
            res, w = st.trial(new)
            work += w
            if res is not None and res[3] and st.better(new.size, res[2]) and \
                    (best is None or res[2] < best[1][2]):
                best = (new, res)
        if best is not None:
            st.set(best[0], *best[1][:2])
            improved = True
    return improved, work


def _batch_totals(instance: Instance, S: np.ndarray) -> np.ndarray:
    """Total least bandwidth of each row of ``S`` (schedules of equal length, shape (K, n)),
    ``inf`` where the row misses a deadline or the budget. The arithmetic of
    :func:`plcore.evaluate`, row by row."""
    arr = instance.arrays
    K, n = S.shape
    out = np.full(K, np.inf)
    if K == 0 or n == 0:
        return np.zeros(K) if n == 0 else out
    models = arr.model_of[S]
    L = np.empty((K, n))
    L[:, 0] = arr.from_resident_s[models[:, 0]]
    L[:, 1:] = arr.link_s[models[:, :-1], models[:, 1:]]
    infer = arr.infer_s[S]
    P = np.cumsum(L + infer, axis=1)
    M = np.minimum.accumulate((arr.deadline_s[S] - P)[:, ::-1], axis=1)[:, ::-1]
    s = M + P - infer
    ok = s[:, 0] - L[:, 0] >= -arr.time_tol_s
    if ok.any():
        tot = user_bandwidth(instance, S[ok], s[ok]).sum(axis=1)
        out[ok] = np.where(within_budget(tot, instance.bandwidth_hz), tot, np.inf)
    return out


@lru_cache(maxsize=64)
def _relocation_index(n: int) -> np.ndarray:
    """Index rows that move one of ``n`` positions to another place (identity first)."""
    idx = [np.arange(n)]
    for i in range(n):
        rest = np.delete(np.arange(n), i)
        idx += [np.insert(rest, p, i) for p in range(n) if p != i]
    return np.array(idx)


@lru_cache(maxsize=64)
def _insertion_index(n: int) -> np.ndarray:
    """Index rows into ``n + 1`` items (the new one last) that put the new one at each place."""
    return np.array([np.r_[np.arange(p), n, np.arange(p, n)] for p in range(n + 1)])


def _relocations(S: np.ndarray) -> np.ndarray:
    """Every row of ``S`` (shape (K, n)) with one element moved to another place, the row itself
    included: shape (K * (1 + n (n - 1)), n)."""
    K, n = S.shape
    return S[:, _relocation_index(n)].reshape(-1, n)


def _insertions(S: np.ndarray, ks) -> np.ndarray:
    """Each row of ``S`` (shape (K, n), or one schedule of shape (n,)) with one of ``ks``
    inserted at every position: shape (len(ks) * K * (n + 1), n + 1)."""
    S = np.atleast_2d(S)
    K, n = S.shape
    ks = np.asarray(ks, dtype=int)
    ext = np.empty((ks.size, K, n + 1), dtype=int)
    ext[:, :, :n] = S[None]
    ext[:, :, n] = ks[:, None]
    return ext[:, :, _insertion_index(n)].reshape(-1, n + 1)


def _batch_moves(st: _State, by_deadline: np.ndarray, budget: int, clock,
                 exchanges: bool = True):
    """Short schedules: whole neighbourhoods scored in batches. One more user: a dropped user
    inserted anywhere; below :data:`_TINY` users also with one other user moved anywhere, or in
    place of a served user with a second dropped user inserted too. The same users with less
    bandwidth: one user or one model group moved anywhere, or a served user exchanged for a
    dropped one. Returns (improved, work)."""
    inst = st.inst
    work = 0
    improved = False
    while work < budget:
        clock.check()
        users = st.users
        n = users.size
        dropped = by_deadline[~st.inside[by_deadline]].tolist()
        if not dropped:
            break
        S = _chunked(_grown(users, dropped), n + 1)
        tot = _batch_totals(inst, S)
        work += S.size // _BATCH_DISCOUNT + _EVAL_OVERHEAD
        st.cost[0] += S.size + _EVAL_OVERHEAD
        if np.isfinite(tot).any():
            i = int(np.argmin(tot))
            st.set(S[i].copy())
            improved = True
            continue
        S = _chunked(_same(users, st.models, dropped, exchanges), n)
        tot = _batch_totals(inst, S)
        work += S.size // _BATCH_DISCOUNT + _EVAL_OVERHEAD
        st.cost[0] += S.size + _EVAL_OVERHEAD
        i = int(np.argmin(tot))
        if tot[i] < st.total * (1 - _PLATEAU_GAIN):
            st.set(S[i].copy())
            improved = True
            continue
        break
    return improved, work


def _grown(users: np.ndarray, dropped: list):
    """The candidates of :func:`_batch_moves` with one user more, part by part (built lazily:
    :func:`_chunked` stops asking once it has :data:`_BATCH` rows)."""
    n = users.size
    # Only the first _BATCH rows are ever used: each part is built from no more of its inputs
    # than they need (with 200,000 dropped users the insertions alone took gigabytes).
    first = _insertions(users, dropped[:_need(n + 1)])
    yield first
    if n < _TINY:
        yield _relocations(first[:_need(1 + (n + 1) * n)])
        for r in range(n):
            rest = np.delete(users, r)
            for a in range(len(dropped)):
                for b in range(a + 1, len(dropped)):
                    yield _insertions(_insertions(rest, [dropped[a]]), [dropped[b]])


def _same(users: np.ndarray, models: np.ndarray, dropped: list, exchanges: bool):
    """The candidates of :func:`_batch_moves` with as many users, part by part (lazily)."""
    yield _relocations(users[None, :])
    yield _group_relocations(users, models)
    for r in range(users.size if exchanges else 0):
        yield _insertions(np.delete(users, r), dropped[:_need(users.size)])


def _group_relocations(users: np.ndarray, models: np.ndarray) -> np.ndarray:
    """``users`` with one model group (a run of one model's users) moved to any other group
    boundary: shape (K, n)."""
    starts, ends = _groups(models)
    bounds = np.r_[starts, users.size]
    rows = [_move(users, int(a), int(b), int(p)) for a, b in zip(starts, ends) if b - a > 1
            for p in bounds if not a <= p <= b]
    return np.array(rows, dtype=int).reshape(-1, users.size)


def _need(rows_each: int) -> int:
    """How many inputs, each making ``rows_each`` candidate rows, fill a batch."""
    return -(-_BATCH // max(rows_each, 1))


def _chunked(parts, width: int) -> np.ndarray:
    """Stack candidate rows, at most :data:`_BATCH` of them (the first ones)."""
    rows, total = [], 0
    for part in parts:
        part = part[:_BATCH - total]
        rows.append(part)
        total += part.shape[0]
        if total >= _BATCH:
            break
    return np.concatenate(rows) if rows else np.zeros((0, width), dtype=int)
