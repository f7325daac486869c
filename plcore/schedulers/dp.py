"""Dynamic program for bottom-layer (backbone) sharing with a common deadline."""

from __future__ import annotations

import numpy as np

from ..model.instance import Instance
from ..model.sharing import LayerTree, layer_tree
from ..model.timeline import meets_deadlines, user_bandwidth, within_budget
from .admission import fit_bandwidth
from .limits import current_clock, import_optimize

__all__ = ["solve_dp", "dp_time_table", "count_bound", "table_work"]

# Lagrange multipliers tried for the bandwidth-aware choice of users, in units of T / B.
LAMBDAS = (0.0, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
_BIG = 1e30    # stands for an infinite bandwidth inside the assignment problem (Hz)
# Above this many (user, slot) pairs a layout's bandwidths are computed one model at a time, in
# slices of this many pairs: memory stays bounded (a 20,000-user model took tens of GB at once)
# and the time limit is checked between slices. The values are the same.
_CHUNK_PAIRS = 250_000
# Predicted seconds per (user, slot) pair of the least-bandwidth matrix, and per rows * cols *
# min(rows, cols) of its assignment problem, on one core of the CI machine: under a time limit a
# model's assignment is not started when it would end past the limit.
_BANDWIDTH_S = 3e-7
_ASSIGNMENT_S = 1e-9


def _lsa(cost: np.ndarray):
    """``scipy.optimize.linear_sum_assignment``, imported on first use: scipy.optimize takes
    about 0.4 s to import, which ``import plcore`` should not pay (and a time limit checks it
    first: :func:`~plcore.schedulers.limits.import_optimize`)."""
    return import_optimize().linear_sum_assignment(cost)


def _common_deadline(instance: Instance) -> float:
    d = instance.arrays.deadline_s
    if d.size and np.any(d != d[0]):
        k = int(np.flatnonzero(d != d[0])[0])
        raise ValueError(f"dp needs a common deadline: user {k} has {d[k]:g} s, user 0 has "
                         f"{d[0]:g} s (use method 'greedy' or 'exact' for per-user deadlines)")
    return float(d[0]) if d.size else 0.0


def _minplus(a: np.ndarray, b: np.ndarray,
             size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Min-plus convolution ``out[j] = min_x a[j - x] + b[x]`` and the minimizing ``x``, for
    ``j < size`` (default: every ``j``, ``a.size + b.size - 1`` of them).

    Ties go to the least ``x``. One vectorized pass per entry of the *shorter* array: a chain of
    single-child nodes (a backbone of many blocks) merges ``[0]`` with a long table in one pass,
    and the merges of a tree cost O(sum of min(|a|, |b|)) passes, not O(n) per node. An entry
    ``out[j]`` depends only on ``a[:j + 1]`` and ``b[:j + 1]``, so a ``size`` cuts both arrays and
    every pass, and the entries kept are those of the full convolution, bit for bit.
    """
    full = a.size + b.size - 1
    size = full if size is None else min(size, full)
    a, b = a[:size], b[:size]
    out = np.full(size, np.inf)
    arg = np.zeros(size, dtype=int)
    clock = current_clock()
    if b.size <= a.size:
        for x in range(b.size):
            if x % 128 == 0:        # O(n^2) in all on huge trees: keep the limit within reach
                clock.check()
            cand = a[:size - x] + b[x]
            seg = out[x:x + cand.size]
            better = cand < seg
            seg[better] = cand[better]
            arg[x:x + cand.size][better] = x
        return out, arg
    # The same minimum, looping over a's entries i (x = j - i falls as i rises, so a later i
    # wins a finite tie): a[i] + b[x] is the same float as b[x] + a[i], hence the same table
    # and arguments.
    js = np.arange(size)
    for i in range(a.size):
        if i % 128 == 0:
            clock.check()
        cand = b[:size - i] + a[i]
        seg = out[i:i + cand.size]
        better = (cand < seg) | ((cand == seg) & (cand < np.inf))
        seg[better] = cand[better]
        arg[i:i + cand.size][better] = js[i:i + cand.size][better] - i
    return out, arg


class _Knapsack:
    """Tree knapsack over the layer tree: least cost to serve j users in each subtree.

    ``cost(model m, c users)`` = ``c * infer_m + lam * (sum of the c smallest bandwidth estimates of
    m's users)``; each node adds its block's load time once when its subtree serves anyone.
    With ``max_count``, the tables stop at ``max_count`` users (their entries are the same).
    """

    def __init__(self, tree: LayerTree, weight: np.ndarray, item_cost: list[np.ndarray],
                 max_count: int | None = None):
        self.tree = tree
        size = None if max_count is None else max_count + 1
        self.merges: list[list[tuple[str, int, np.ndarray]]] = [[] for _ in range(tree.n_nodes)]
        self.table: list[np.ndarray | None] = [None] * tree.n_nodes
        for v in tree.postorder():
            g = np.zeros(1)
            for m in tree.models_at[v]:
                g, arg = _minplus(g, item_cost[m], size)
                self.merges[v].append(("model", m, arg))
            for c in tree.children[v]:
                g, arg = _minplus(g, self.table[c], size)
                self.merges[v].append(("node", c, arg))
            g[1:] += weight[v]
            self.table[v] = g

    def counts(self, j: int, n_models: int) -> np.ndarray:
        """Users served per model in an optimal solution serving exactly j users."""
        counts = np.zeros(n_models, dtype=int)
        stack = [(0, j)]
        while stack:
            v, jv = stack.pop()
            for kind, idx, arg in reversed(self.merges[v]):
                if jv == 0:
                    break
                x = int(arg[jv])
                if kind == "model":
                    counts[idx] = x
                elif x:
                    stack.append((idx, x))
                jv -= x
        return counts


def dp_time_table(instance: Instance, tree: LayerTree | None = None,
                  users: np.ndarray | None = None) -> np.ndarray:
    """Least makespan (s) to serve j users, for j = 0..n, with partial loading and no budget.

    ``table[j]`` is exact for bottom-layer sharing: serving a set of models in depth-first order of
    the layer tree loads every block of their union once (resident blocks on the way down: never),
    which no order can beat. ``users`` restricts the candidates (default: all).
    """
    tree = tree or layer_tree(instance)
    arr = instance.arrays
    users = np.arange(instance.n_users) if users is None else np.asarray(users, dtype=int)
    n_models = len(arr.model_names)
    per_model = np.bincount(arr.model_of[users], minlength=n_models)
    items = [np.arange(per_model[m] + 1) * arr.model_infer_s[m] for m in range(n_models)]
    return _Knapsack(tree, _node_weights(instance, tree), items).table[0]


def count_bound(instance: Instance, users: np.ndarray | None = None) -> int:
    """Most of ``users`` (default: all) that any schedule can finish by the common deadline T.

    No ``j`` users finish by T when their ``j`` shortest inference times alone add up past it
    (loads only add to that); a relative margin of 1e-9 covers the rounding of the sums.

    Parameters
    ----------
    instance : Instance
        One deadline for all users.
    users : array of int, optional

    Returns
    -------
    int
        An upper bound on the users served, exact on the time side: the DP's tables stop there.

    Raises
    ------
    ValueError
        If deadlines differ.

    Notes
    -----
    O(n log n).
    """
    T = _common_deadline(instance)
    arr = instance.arrays
    infer = arr.infer_s if users is None else arr.infer_s[np.asarray(users, dtype=int)]
    least = np.cumsum(np.sort(infer))
    limit = T + arr.time_tol_s
    return int(np.searchsorted(least, limit + 1e-9 * abs(limit), side="right"))


def table_work(instance: Instance, tree: LayerTree | None = None) -> int:
    """Entries the min-plus merges of the DP's time table compute (its cost, in units of about a
    nanosecond: 0.94 s for 4.2e8 at 200,000 users), from the table sizes alone.

    The same merges as the tree knapsack's, each over ``min(|a|, |b|)`` passes of at most
    ``count_bound + 1`` entries; every user counted (the DP drops those that could not be
    served alone first, so this is an upper bound).

    Parameters
    ----------
    instance : Instance
        Bottom-layer sharing, one deadline for all users.
    tree : LayerTree, optional
        Its tree of layers (built if not given).

    Returns
    -------
    int

    Raises
    ------
    NotBottomLayer, ValueError
        As :func:`solve_dp`.

    Notes
    -----
    O(N + n log n) for N tree nodes and n users.
    """
    tree = tree or layer_tree(instance)
    arr = instance.arrays
    per_model = np.bincount(arr.model_of, minlength=len(arr.model_names))
    cap = count_bound(instance) + 1
    size = [0] * tree.n_nodes
    work = 0
    for v in tree.postorder():
        g = 1
        parts = [int(per_model[m]) + 1 for m in tree.models_at[v]]
        for b in parts + [size[c] for c in tree.children[v]]:
            a, b = min(g, cap), min(b, cap)
            g = min(a + b - 1, cap)
            work += min(a, b) * g
        size[v] = g
    return work


def _node_weights(instance: Instance, tree: LayerTree) -> np.ndarray:
    arr = instance.arrays
    w = np.zeros(tree.n_nodes)
    w[1:] = arr.block_load_s[tree.block[1:]]
    w[list(tree.resident_path)] = 0.0   # loaded never, if their subtree is visited first
    return w


def solve_dp(instance: Instance, *, lambdas=LAMBDAS, local_search: bool = True,
             max_exchange_models: int = 12) -> list[int]:
    """Optimal throughput for bottom-layer sharing and a common deadline, when bandwidth does not bind.

    Parameters
    ----------
    instance : Instance
        Models sharing only bottom layers (any tree of layers); one deadline for all users.
    lambdas : sequence of float
        Multipliers (in units of T/B) for the bandwidth-aware choice of users when the budget binds.
    local_search : bool
        Reorder sibling subtrees to lower the bandwidth when the budget binds.
    max_exchange_models : int
        Explore count vectors one user apart (an O(M^2) neighbourhood) only up to this many models.

    Returns
    -------
    list of int
        A feasible schedule. Its length equals the optimum whenever the least-makespan schedule of
        the largest servable count fits the budget ("bandwidth does not bind").

    Raises
    ------
    ValueError
        If deadlines differ, or the sharing is not bottom-layer (``NotBottomLayer``).

    Examples
    --------
    >>> import plcore
    >>> from plcore.study.synthetic import random_instance
    >>> inst = random_instance(4, 8, 4, structure="bottom", common_deadline=True, bandwidth_hz=1e9)
    >>> len(plcore.solve(inst, method="dp")) == len(plcore.solve(inst, method="exact"))
    True

    Notes
    -----
    **Why a DP suffices (no bandwidth budget).** With a common deadline T, ALAP packs the schedule
    against T and it meets the deadline iff its makespan ``sum(L_i + infer_i) <= T``. For a set of
    users, the makespan is least when each model's users are served consecutively and the models in
    depth-first order of the layer tree (the resident path first): every block of the union of their
    root paths is then loaded exactly once and the resident ones never, and no order can load a
    needed block fewer times. So only *how many users of each model* matters, and the largest j
    whose least makespan fits T is the optimum. The least makespan for every j is a knapsack over
    the tree: ``f_v[j]`` merges the models ending at node v (``c`` users cost ``c * infer``) and the
    children's tables by min-plus convolution, and adds v's load time when ``j > 0``.

    **When bandwidth binds** we keep the DP for the *time* side and search the bandwidth side:
    users that could not be served even alone are dropped first; for j from the time-optimal count
    down, several count vectors are generated by a Lagrangian DP (cost = time + lambda * estimated
    bandwidth, for each lambda in ``lambdas``), then improved by exchanging one served user of a
    model for one of another while that lowers the bandwidth; each is laid out depth-first with the
    bandwidth-hungrier subtrees last, the users of each model are matched to its slots by an optimal
    assignment, and sibling subtrees are reordered while that lowers the total. When all of a
    model's users send the same data (Shannon rate) or the rate is linear, the least-bandwidth
    cost matrix is Monge (users by link, slots by time; proof in ``_Layout._slot_order``), so the
    optimal assignment gives the model's c best-linked users the c slots in order, best first:
    c bandwidths per assignment. Otherwise ``scipy.optimize.linear_sum_assignment`` solves it,
    without the users dominated, in data and link, by as many others as there are slots (an
    exchange argument shows that is exact). The largest j for which this finds a schedule within
    the budget is searched downwards from the time optimum (by bisection while the range is
    long: serving fewer users is always possible once more is). A fallback drops users from the
    time-optimal schedule until it fits. The result is always feasible; how often it is optimal
    is measured against the exact solver in the book. The reordering may move the
    resident path too: it is laid out first (its blocks are never loaded), but when its users are
    the bandwidth-hungry ones they are better served last, after loading its blocks again.

    **Where it is not optimal.** With a binding budget the optimum need not be depth-first: it
    may serve a model's users (or a subtree's models) in two runs, paying a second load so that
    the hungriest users start last, and no layout this search builds does that. On 300 instances
    of :func:`plcore.study.synthetic.binding_instance` (8-10 users, a common deadline, a budget
    log-uniform in 2-20 MHz; it binds on 254) it served one user fewer than the exact optimum on
    3 (1.0 %), never more than one fewer, and each of the three optima splits a model or a
    subtree; before the resident path could move, 8 (2.7 %). ``tests/test_dp_binding.py`` pins
    this.

    **Cost.** The tree knapsack is O(n^2 + n N) for n users and N tree nodes: O(n^2) for the
    min-plus merges of tables whose sizes add up, O(n N) at worst for adding each node's load
    time; the binding search multiplies it by ``len(lambdas)`` and by the number of counts tried,
    plus O(c^3) assignments (O(c) where the users come in slot order). The binding search costs
    its layouts: about 3,500 trial layouts of O(n) each at 1,000 users / 40 models, each solving
    the assignments of the models it moves. The count exchange (up to ``max_exchange_models``
    models M) scores M (M - 1) layouts of O(j) per round, and a round moves one user, so a
    descent far from the budget is long: on a 10,000-user instance whose deadline binds, about
    700 rounds of 90 layouts for each count tried. It therefore keeps only the totals of the
    count vectors it tried (their schedules took 4 GB there), the assignment cache is bounded in
    bytes (``_CACHE_BYTES``), and once a descent has laid out ``_EXCHANGE_WORK`` slots it scores
    first the ``_SHORTLIST`` moves that gained most in its last full round, and all of them again
    only when none of those gains: a descent of the same kind (each round lowers the total), no
    longer the steepest one, about five times cheaper there.
    Measured on the 2-core CI machine (CPU seconds, ``time.process_time``, with
    ``benchmarks/common.py``'s ``timed``; ``benchmarks/bench_schedulers.py --dp --large``, while
    other jobs shared the machine) on its ``binding_instance(n)`` (40 models, 20 MHz): 1,000
    users 0.75 s median of 5 (0.70-0.90; 0.92 s in a busier run; the search before the
    slot-order assignment: 1.9-2.4 s), 10,000 users 1.6 s (before: 63 and 72 s in two runs; the
    same 6,809 users served) and 40 MB above the import (tracemalloc; was 79 MB). On the
    default scenario where the deadline binds (:func:`plcore.study.scenarios.make_instance`
    with ``seed=0``): 5,000 users at 20 s 0.72 s (before: 35 s; the same 2,732 users); 10,000
    users at 40 s 69 s and 61 MB of peak resident memory above the import (``ru_maxrss``), 5,573
    users (the steepest descent throughout: the same 5,573 users in 194 s; with every tried
    schedule kept, out of memory past 8 GB); 20,000 users at 100 s 142-156 s and 81 MB,
    14,026 users. The slot-order assignment made most of the difference at 40 models
    (no c x c bandwidth matrix, no ``linear_sum_assignment``); skipping the tree's pass-through
    nodes, preparing each trial layout once, computing its starts per model and building a
    schedule only for the layouts returned did the rest. On 120 scenario instances
    (``make_instance``, 117-994 users, 2-8 clusters of 2-6 models, 3-8 ms of deadline per user,
    10-30 MHz; the budget binds on 119; the count exchange runs on 37, a descent laying out at
    most 6.1 million slots) it returns the previous search's schedules, user for user, in a
    fifth of its CPU time (119-139 s against 675 s in all; 10 s against 66 s at most, on 12
    models), and so it does on the 500 small instances of the tests
    (``synthetic.binding_instance`` seeds 0-299 and 200 random bottom-layer ones).

    **Time limit** (:func:`plcore.solve`'s ``time_limit_s``). With a limit, the greedy's schedule
    without its second chance (:func:`~plcore.schedulers.greedy.solve_greedy` with
    ``max_work=0``, near-linear) is computed first, so that a schedule is in hand however early
    the limit comes; the search then runs as without a limit, and when stopped returns the longest
    feasible schedule found (that one, the budget repair of the time-optimal layout, or the
    best count the search has reached).
    """
    T = _common_deadline(instance)
    if instance.n_users == 0:
        return []
    tree = layer_tree(instance)
    arr = instance.arrays
    B = instance.bandwidth_hz
    n_models = len(arr.model_names)
    clock = current_clock()
    if clock.limited:
        from .greedy import solve_greedy

        clock.note("quick first schedule")
        clock.offer(solve_greedy(instance, max_work=0))
    clock.note("time-optimal counts")

    # Users that cannot be served even alone, as late as possible, within the whole budget.
    alone = user_bandwidth(instance, np.arange(instance.n_users), T - arr.infer_s)
    servable = np.flatnonzero(within_budget(alone, B))
    if servable.size == 0:
        return []
    weight = _node_weights(instance, tree)
    by_model = [servable[arr.model_of[servable] == m] for m in range(n_models)]
    time_items = [np.arange(u.size + 1) * arr.model_infer_s[m] for m, u in enumerate(by_model)]
    # The tables stop at the most users that can finish by T (their entries are the same),
    # which bounds their merges when T is short.
    cap = count_bound(instance, servable)
    f = _Knapsack(tree, weight, time_items, cap)
    fits = np.flatnonzero(f.table[0] <= T + arr.time_tol_s)
    j_time = int(fits.max())
    if j_time == 0:
        return []

    layout = _Layout(instance, tree, T, by_model)
    clock.note(f"laying out {j_time:,} users")
    base = layout.schedule(f.counts(j_time, n_models), local_search=False)
    if base is not None and within_budget(base[1], B):
        return base[0].users()  # bandwidth does not bind: optimal

    # Bandwidth binds: Lagrangian choices of users for each count, from the largest down.
    t_hat = T - f.table[0][j_time] / 2.0
    # Estimates at t_hat; a user that could not upload by then counts as needing the whole budget.
    est = [np.sort(np.minimum(user_bandwidth(instance, u, np.full(u.size, t_hat)), B))
           for u in by_model]
    best = fit_bandwidth(instance, base[0].users()) if base is not None else []
    clock.offer(best)
    clock.note("bandwidth-aware counts")
    tables = []
    for lam in lambdas:
        if lam == 0:
            tables.append(f)
            continue
        items = [time_items[m] + lam * (T / B) * np.concatenate(([0.0], np.cumsum(est[m])))
                 for m in range(n_models)]
        tables.append(_Knapsack(tree, weight, items, cap))
    available = np.array([u.size for u in by_model])

    def attempt(j: int):
        """The least-bandwidth schedule of j users our search finds within the budget, or None."""
        clock.note(f"trying {j:,} users")
        outs: dict[bytes, tuple | None] = {}
        for knap in tables:
            clock.check()
            if j < knap.table[0].size:
                counts = knap.counts(j, n_models)
                if counts.tobytes() not in outs:
                    outs[counts.tobytes()] = layout.schedule(counts, local_search=local_search)
        found = _best_within(outs.values(), B)
        if found is None and n_models <= max_exchange_models:
            found = _exchange(layout, outs, available, B, local_search)
        if found is not None:
            clock.offer(found[0].users())
        return found

    # Serving j users is feasible for every j below a feasible one (drop users: safe), so the
    # largest j our search succeeds on is found by walking down from the time optimum when the
    # range is short, by bisection when it is long.
    lo, hi = len(best), j_time          # lo: known feasible; hi: upper bound
    result = None
    while hi - lo > 6:
        mid = (lo + hi + 1) // 2
        found = attempt(mid)
        if found is not None:
            lo, result = mid, found
        else:
            hi = mid - 1
    for j in range(hi, lo, -1):
        found = attempt(j)
        if found is not None:
            return found[0].users()
    return result[0].users() if result is not None else best


def _best_within(outs, B):
    ok = [o for o in outs if o is not None and within_budget(o[1], B)]
    return min(ok, key=lambda o: o[1]) if ok else None


def _exchange(layout: "_Layout", outs: dict, available: np.ndarray, B: float, local_search: bool):
    """Steepest descent on the total bandwidth over count vectors one user apart (same j).

    Starts from the best layout in ``outs`` (count vector's bytes -> scored schedule or None); a
    move serves one user less of model a and one more of model b, if the makespan still fits.
    Stops at the first layout within the budget.

    The count vectors tried are remembered by their totals only (bytes of the counts -> total
    bandwidth, or None when the layout misses the deadline): a schedule is a list of up to n
    users, and a long descent tries tens of thousands of vectors (4 GB at 10,000 users when the
    schedules were kept). A round's best move keeps its schedule while it is in hand; one met
    again is laid out again (the same counts give the same schedule).
    """
    tried: dict[bytes, tuple[float, bool] | None] = {
        k: (o[1], local_search) if o is not None else None for k, o in outs.items()}
    start = [(o[1], k) for k, o in outs.items() if o is not None]
    if not start:
        return None
    current_bw, key = min(start)
    counts = np.frombuffer(key, dtype=int).copy()
    j = int(counts.sum())
    work = 0                 # slots laid out by this descent (see _EXCHANGE_WORK)
    shortlist: list = []     # past the work bound: the moves that lowered the total last time

    def score(moves, best):
        """The best of ``moves`` ((a, b) pairs) that lowers the total below ``best``'s."""
        nonlocal work
        for a, b in moves:
            trial = counts.copy()
            trial[a] -= 1
            trial[b] += 1
            k = trial.tobytes()
            out = None
            if k not in tried:
                out = layout.schedule(trial, local_search=False)
                tried[k] = (out[1], False) if out is not None else None
                work += j
            seen = tried[k]
            if seen is not None and seen[0] < current_bw and (best is None
                                                              or seen[0] < best[0][0]):
                best = (seen, trial, out, (a, b))
        return best

    for _ in range(4 * j + 8):   # each round strictly lowers the bandwidth
        best = None
        if shortlist:
            best = score([(a, b) for a, b in shortlist if counts[a] and counts[b] < available[b]],
                         None)
        if best is None:
            moves = [(a, b) for a in np.flatnonzero(counts).tolist()
                     for b in np.flatnonzero(counts < available).tolist() if a != b]
            if work > _EXCHANGE_WORK:
                # Remember the moves that lower the total, best first (the best is taken).
                gains = []
                for move in moves:
                    found = score([move], None)
                    if found is not None:
                        gains.append((found[0][0], move))
                        if best is None or found[0][0] < best[0][0]:
                            best = found
                shortlist = [move for _, move in sorted(gains)[:_SHORTLIST]]
            else:
                best = score(moves, None)
        if best is None:
            return None
        (total, polished), counts, out, _move = best
        if local_search:   # polish only the move taken, not every neighbour
            # (never None: the polish starts from the layout just scored)
            out = layout.schedule(counts, local_search=True)
            tried[counts.tobytes()] = (out[1], True)
            work += j
        elif out is None:
            out = layout.schedule(counts, local_search=polished)
        current_bw = out[1]
        if within_budget(current_bw, B):
            return out
    return None


# The count exchange's steepest descent scores every move each round; once it has laid out
# this many slots (a sum over its layouts of the users they serve) it scores first only the
# _SHORTLIST moves that lowered the total most in its last full round, and scores every move
# again when none of them does. On the 120 binding scenario instances of the Notes a descent
# laid out at most 5.7 million slots (so they are untouched); a time-bound 10,000-user instance
# laid out 350 million per descent, in about 700 rounds of 90 moves each.
_EXCHANGE_WORK = 20_000_000
_SHORTLIST = 8


class _State:
    """A scored layout: its model groups, slots and starts, each model's assignment, the total."""

    __slots__ = ("groups", "first", "starts", "first_of", "cost", "assigned", "total")

    def __init__(self, groups, first, starts, first_of, cost, assigned, total):
        self.groups, self.first, self.starts = groups, first, starts
        self.first_of, self.cost, self.assigned, self.total = first_of, cost, assigned, total

    def users(self) -> list[int]:
        """The schedule: the users assigned to the slots, in slot order."""
        return np.concatenate([self.assigned[m] for m in self.groups.tolist()]).tolist()


# Bytes a layout's assignment cache may hold (its keys' slot starts and the arrays it made) before
# it is emptied: an entry holds two arrays of its model's slots, so a count of entries does not
# bound it (100,000 entries of 5,000-user layouts held about 1 GB). Emptying it costs only time.
_CACHE_BYTES = 32_000_000
_ENTRY_BYTES = 300      # a cache entry's own overhead: its tuples, bytes and array headers


class _Layout:
    """Turn per-model counts into a depth-first schedule and assign users to slots."""

    def __init__(self, instance: Instance, tree: LayerTree, T: float, by_model: list[np.ndarray]):
        self.inst = instance
        self.arr = instance.arrays
        self.tree = tree
        self.T = T
        self.by_model = by_model
        self.res_first = set(tree.resident_path)
        # Nodes with one child and no model only pass their child's layout on: the layout and
        # the search skip them (jump[v]: the first node below v that does not).
        self.keep = np.array([v == 0 or len(tree.models_at[v]) > 0 or len(tree.children[v]) != 1
                              for v in range(tree.n_nodes)], dtype=bool)
        self.jump = list(range(tree.n_nodes))
        for v in tree.postorder():
            if not self.keep[v]:
                self.jump[v] = self.jump[tree.children[v][0]]
        self.in_order = [self._slot_order(u) for u in by_model]
        self.dominated_by = [self._dominators(u) if o is None else None
                             for u, o in zip(by_model, self.in_order)]
        self._assigned: dict = {}      # (model, its slots' starts) -> (users per slot, bandwidth)
        self._cache_bytes = 0          # what _assigned holds, about (see _CACHE_BYTES)
        self._at_deadline: dict = {}   # model -> running sums of its users' sorted bandwidths
        self._anc = None               # at T - infer; (nodes, models): each model's ancestors

    def _slot_order(self, users: np.ndarray) -> np.ndarray | None:
        """The users in the order in which an optimal assignment fills a model's slots, when one
        order serves every set of slots; None otherwise.

        Under the linear rate, ``beta_k(t) = w_k / t`` with ``w_k = D_k / eff_k``; under the
        Shannon rate with one input size ``D`` for all the users, ``beta_k(t) = a_k h(K / (a_k t))``
        with ``K = D ln 2`` and ``h(s) = 1 / x`` where ``ln(1 + x) / x = s``, an increasing
        *convex* function of s (``d h / d s = 1 / (ln(1 + x) - x / (1 + x))``, whose denominator
        grows with x, which falls as s grows). Either way the cross derivative has one sign,
        ``d^2 beta / (dw dt) <= 0`` (``d^2 beta / (da dt) >= 0``), so that for ``w_1 <= w_2``
        (``a_1 >= a_2``) and ``t_1 <= t_2`` (where finite; a user that can use a slot can use
        every later one) ``beta_1(t_1) + beta_2(t_2) <= beta_1(t_2) + beta_2(t_1)``: the cost
        matrix is Monge and the sorted assignment is optimal. So c slots in time order go to the
        c best users (least ``w``: most ``a``), best first, ties by index; it is finite whenever
        any assignment is. Different input sizes under the Shannon rate: None (no such order).
        """
        arr = self.arr
        if users.size == 0:
            return users
        if arr.rate == "linear":
            key = arr.data_bits[users] / arr.radio[users]
        elif np.all(arr.data_bits[users] == arr.data_bits[users[0]]):
            key = -arr.radio[users]
        else:
            return None
        return users[np.lexsort((users, key))]

    def _dominators(self, users: np.ndarray) -> np.ndarray:
        """For each user, how many users of the same model need no more bandwidth at any time.

        User j dominates user i when it has no more data and a link at least as good (then
        beta_j(t) <= beta_i(t) for every t); ties are broken by index so that the relation is a
        strict order. With c slots, a user dominated by c or more others is never needed: if it were
        assigned, one of its dominators would be free, and swapping them costs nothing.
        """
        D = self.arr.data_bits[users]
        a = self.arr.radio[users]
        if users.size > 2000:          # O(n^2) count: skip the reduction for huge models
            return np.zeros(users.size, dtype=int)
        better = (D[None, :] <= D[:, None]) & (a[None, :] >= a[:, None])
        tie = (D[None, :] == D[:, None]) & (a[None, :] == a[:, None])
        better &= ~tie | (users[None, :] < users[:, None])
        np.fill_diagonal(better, False)
        return better.sum(axis=1)

    def _flatten(self, v: int, order: dict, flat: dict) -> list[int]:
        """Models of v's subtree in layout order (each once: a model's users are consecutive).

        ``flat`` holds the lists of nodes already flattened under this ``order``; the lists of the
        nodes below v that are missing are built first, children before parents (no recursion:
        trees can be deep). A child that only passes on to its one child (no model ends there)
        is skipped: ``order`` has no entry for it, and its list is its descendant's.
        """
        jump = self.jump
        stack = [(v, False)]
        while stack:
            u, ready = stack.pop()
            if u in flat:
                continue
            if not ready:
                stack.append((u, True))
                stack.extend((jump[idx], False) for kind, idx in order[u] if kind == "node")
                continue
            seq: list[int] = []
            for kind, idx in order[u]:
                if kind == "model":
                    seq.append(idx)
                else:
                    seq.extend(flat[jump[idx]])
            flat[u] = seq
        return flat[v]

    def _evaluate(self, groups: list[int], counts: np.ndarray,
                  base: "_State | None" = None) -> "_State | None":
        """Assign users to the slots of the layout that serves ``counts[m]`` users of each model m
        of ``groups``, in that order; None if the layout misses the deadline.

        A model's assignment depends only on its slots' start times, and a swap of two neighbouring
        sibling subtrees moves only the starts inside them: with ``base`` (the layout before the
        move, same counts) a model whose slots kept their positions and their starts, bit for bit,
        keeps its assignment, and only the others are looked up (in a cache keyed by the model and
        its starts) or solved. :meth:`_prepare` does the first part and collects the assignments
        missing from the cache (so that a batch of layouts solves them in one :meth:`_solve`),
        :meth:`_finish` the rest.
        """
        prep = self._prepare(groups, counts, base)
        if prep is None:
            return None
        if prep[-1]:
            self._solve(prep[-1])
        return self._finish(prep)

    def _prepare(self, groups, counts, base):
        """The layout's starts, the assignments it keeps or finds in the cache, and the missing
        ones (key -> job for :meth:`_solve`); None if it misses the deadline."""
        arr = self.arr
        gm = np.asarray(groups, dtype=int)
        gc = counts[gm]
        ends = np.cumsum(gc)
        first = ends - gc
        # model_load_times and alap_from, computed per model: a model's later users load nothing
        # (link_s[m, m] = 0), and with one deadline the running minimum of alap_from is its last
        # entry (the same floats, fewer passes over the n slots).
        L = np.zeros(int(ends[-1]) if gm.size else 0)
        if gm.size:
            L[first[0]] = arr.from_resident_s[gm[0]]
            L[first[1:]] = arr.link_s[gm[:-1], gm[1:]]
        infer = np.repeat(arr.model_infer_s[gm], gc)
        P = np.cumsum(L + infer)
        starts = (self.T - P[-1]) + P - infer if P.size else P
        if not meets_deadlines(starts, L, arr.time_tol_s):
            return None
        if base is None:
            cost = np.zeros(len(self.by_model))
            assigned: list = [None] * len(self.by_model)
            redo = range(gm.size)
        else:
            moved = np.concatenate(([0], np.cumsum(starts != base.starts)))
            redo = np.flatnonzero((base.first_of[gm] != first)
                                  | (moved[ends] != moved[first])).tolist()
            cost = base.cost.copy()
            assigned = list(base.assigned)
        first_l, ends_l = first.tolist(), ends.tolist()
        todo: dict = {}
        for g in redo:
            m = int(gm[g])
            t_slots = starts[first_l[g]:ends_l[g]]
            key = (m, t_slots.tobytes())
            hit = self._assigned.get(key)
            if hit is None:
                order = self.in_order[m]
                todo[key] = ((t_slots, order[:gc[g]], True) if order is not None else
                             (t_slots, self.by_model[m][self.dominated_by[m] < gc[g]], False))
            else:
                assigned[m], cost[m] = hit
        return gm, first, starts, cost, assigned, todo

    def _finish(self, prep) -> "_State":
        """The scored layout of :meth:`_prepare`'s ``prep``, once its missing assignments are in
        the cache."""
        gm, first, starts, cost, assigned, todo = prep
        for key in todo:
            assigned[key[0]], cost[key[0]] = self._assigned[key]
        first_of = np.full(len(self.by_model), -1)
        first_of[gm] = first
        # Summed over the served models in index order, whichever were looked up.
        total = sum(cost[np.sort(gm)].tolist())
        return _State(gm, first, starts, first_of, cost, assigned, total)

    def _solve(self, todo: dict) -> None:
        """Solve the assignments ``todo`` (key -> (its slots' starts, candidate users, whether
        they come in slot order)) into the cache. Users in slot order (:meth:`_slot_order`) fill
        the slots one to one: one bandwidth per slot, from one vectorized call for all of them.
        The others: one vectorized bandwidth call for every (candidate user, slot of its model)
        pair and an optimal assignment, or, when that would be huge, one model at a time in
        slices of bounded size."""
        clock = current_clock()
        if self._cache_bytes > _CACHE_BYTES:
            self._assigned.clear()
            self._cache_bytes = 0
        in_order = [(key, ts, c) for key, (ts, c, ordered) in todo.items() if ordered]
        if in_order:
            clock.check(cost_s=_BANDWIDTH_S * sum(ts.size for _, ts, _ in in_order))
            bw = user_bandwidth(self.inst, np.concatenate([c for _, _, c in in_order]),
                                np.concatenate([ts for _, ts, _ in in_order]))
            pos = 0
            for key, ts, c in in_order:
                self._assigned[key] = (c, float(bw[pos:pos + c.size].sum()))
                self._cache_bytes += len(key[1]) + _ENTRY_BYTES   # c: a view of in_order[m]
                pos += c.size
        jobs = [(key, (ts, c)) for key, (ts, c, ordered) in todo.items() if not ordered]
        if not jobs:
            return
        huge = sum(c.size * ts.size for _, (ts, c) in jobs) > _CHUNK_PAIRS
        if not huge:
            pairs_u = np.concatenate([np.repeat(c, ts.size) for _, (ts, c) in jobs])
            pairs_t = np.concatenate([np.tile(ts, c.size) for _, (ts, c) in jobs])
            cost_all = user_bandwidth(self.inst, pairs_u, pairs_t)
        pos = 0
        for key, (t_slots, cand) in jobs:
            size = cand.size * t_slots.size
            clock.check(cost_s=_BANDWIDTH_S * size * huge
                        + _ASSIGNMENT_S * size * min(cand.size, t_slots.size))
            if huge:
                cost = self._cost_matrix(cand, t_slots)
            else:
                cost = cost_all[pos:pos + size].reshape(cand.size, t_slots.size)
                pos += size
            rows, cols = _lsa(np.minimum(cost, _BIG))
            assigned = np.empty(t_slots.size, dtype=int)
            assigned[cols] = cand[rows]
            self._assigned[key] = (assigned, float(cost[rows, cols].sum()))
            self._cache_bytes += len(key[1]) + assigned.nbytes + _ENTRY_BYTES

    def _cost_matrix(self, cand: np.ndarray, t_slots: np.ndarray) -> np.ndarray:
        """Least bandwidth of each candidate (rows) in each slot (columns), computed in slices of
        rows so that the temporaries stay within ``_CHUNK_PAIRS`` pairs (the values are those of
        one call: the bandwidth is computed element by element)."""
        clock = current_clock()
        cost = np.empty((cand.size, t_slots.size))
        step = max(1, _CHUNK_PAIRS // max(t_slots.size, 1))
        for r in range(0, cand.size, step):
            clock.check()
            rows = cand[r:r + step]
            cost[r:r + rows.size] = user_bandwidth(
                self.inst, np.repeat(rows, t_slots.size),
                np.tile(t_slots, rows.size)).reshape(rows.size, t_slots.size)
        return cost

    def schedule(self, counts: np.ndarray, local_search: bool):
        tree = self.tree
        # Hungrier subtrees last (their users get the latest starts), the resident path first.
        used, h_model, h_node = self._hunger(counts)
        res_first = self.res_first
        order = {}
        for v in np.flatnonzero(used & self.keep).tolist():
            items = [("model", m) for m in tree.models_at[v] if counts[m]]
            items += [("node", c) for c in tree.children[v] if used[c]]
            if len(items) > 1:
                items.sort(key=lambda it: (not (it[0] == "node" and it[1] in res_first),
                                           h_model[it[1]] if it[0] == "model" else h_node[it[1]]))
            order[v] = items
        flat: dict = {}
        out = self._evaluate(self._flatten(0, order, flat), counts)
        if out is not None and local_search:
            out = self._local_search(order, flat, out, counts)
        # The scored layout, not yet its schedule: the count exchange scores tens of thousands
        # of layouts and needs the schedule of few (building each took a sixth of its time).
        return (out, out.total) if out is not None else None

    def _local_search(self, order: dict, flat: dict, out: "_State", counts: np.ndarray):
        """Swap neighbouring items (sibling subtrees, models) of a node while that lowers the total
        bandwidth; first improvement, nodes in order, until a pass changes nothing.

        The swaps still to try at a node are scored together: their missing assignments are
        solved in one batch (one bandwidth call), then each is scored in turn; after a swap is
        taken, the later ones are scored again against the new order.
        """
        tree = self.tree
        improved = True
        while improved:
            improved = False
            for v in list(order):
                items = order[v]
                i = 0   # the resident path too: first saves its loads, later may save bandwidth
                while i < len(items) - 1:
                    trials = []
                    for k in range(i, len(items) - 1):
                        swapped = list(items)
                        swapped[k], swapped[k + 1] = swapped[k + 1], swapped[k]
                        trial = dict(order)
                        trial[v] = swapped
                        # Only v and its ancestors change their flattened lists.
                        trial_flat = dict(flat)
                        u = v
                        while u >= 0:
                            trial_flat.pop(u, None)
                            u = int(tree.parent[u])
                        groups = self._flatten(0, trial, trial_flat)
                        trials.append((k, trial, swapped, trial_flat, groups))
                    preps = [self._prepare(t[4], counts, out) for t in trials]
                    pending: dict = {}
                    for prep in preps:
                        if prep is not None:
                            pending.update(prep[-1])
                    if pending:
                        self._solve(pending)
                    nxt = None
                    for (k, trial, swapped, trial_flat, groups), prep in zip(trials, preps):
                        res = self._finish(prep) if prep is not None else None
                        if res is not None and res.total < out.total * (1 - 1e-12):
                            order, out, items, flat, improved = (trial, res, swapped, trial_flat,
                                                                 True)
                            nxt = k + 1
                            break
                    if nxt is None:
                        break
                    i = nxt
        return out

    def _hunger(self, counts: np.ndarray):
        """The nodes a layout of ``counts`` visits, and the mean bandwidth, at the deadline, of
        the best users each item would serve: per model, and per node over its subtree."""
        inst, arr, tree = self.inst, self.arr, self.tree
        if self._anc is None:        # each model's node and its ancestors, once per layout
            anc = []
            for m in range(len(self.by_model)):
                v, path = int(tree.model_node[m]), []
                while v >= 0:
                    path.append(v)
                    v = int(tree.parent[v])
                anc.append(path)
            self._anc = (np.array([v for path in anc for v in path], dtype=int),
                         np.repeat(np.arange(len(anc)), [len(p) for p in anc]))
        tot = np.zeros(len(self.by_model))
        for m in np.flatnonzero(counts).tolist():
            cum = self._at_deadline.get(m)
            if cum is None:       # the same for every count: computed once per model
                cand = self.by_model[m]
                b = np.sort(user_bandwidth(inst, cand,
                                           np.full(cand.size, self.T - arr.model_infer_s[m])))
                cum = self._at_deadline[m] = np.concatenate(([0.0], np.cumsum(b)))
            tot[m] = cum[counts[m]]
        nodes, models = self._anc
        served = counts[models] > 0
        node_tot = np.bincount(nodes[served], weights=tot[models[served]], minlength=tree.n_nodes)
        node_cnt = np.bincount(nodes[served], weights=counts[models[served]],
                               minlength=tree.n_nodes)
        with np.errstate(invalid="ignore", divide="ignore"):
            return node_cnt > 0, tot / counts, node_tot / np.maximum(node_cnt, 1)
