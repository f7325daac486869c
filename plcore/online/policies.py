"""Serving policies: which pending request the GPU serves next.

A policy is an object with ``name``, ``loader`` (``"partial"``: the block cache; ``"whole"``: the
traditional loader), ``drop_hopeless`` (let the simulator reject a chosen request that can no
longer finish by its deadline), ``period_s`` (a timer, or None) and the methods ``bind(sim)``,
``on_arrival(k)``, ``choose() -> k or None``, ``on_done(k, status)`` and ``on_timer()``. It is
stateful: use a fresh one per run. ``choose`` must return a pending request.

================ ===================================================================================
``ArrivalOrder``  first come, first served; ``loader="whole"`` is the traditional server (whole-model
                  reloads), ``"partial"`` the same order with the block cache
``RollingPL``     PartialLoading in rolling windows: when the GPU falls idle with nothing committed
                  (or every ``period_s``), :func:`plcore.solve` schedules the pending requests as an
                  :class:`~plcore.Instance` (remaining deadlines and bits, current channels, the
                  cache as resident blocks) and the first part of the plan is committed
``EDFBatch``      earliest deadline first; the chosen request's model then serves the other pending
                  requests of that model (at most ``max_batch``) before the next choice
``Lyapunov``      drift-plus-penalty with a virtual queue per model: serve the model maximizing
                  ``(V + Q_m) / (L_m + infer_m)``; large ``V`` favours throughput (cheap models),
                  small ``V`` fairness (models behind on service)
``FixedOrder``    a given sequence of request indices (tests; batch schedules)
================ ===================================================================================
"""

from __future__ import annotations

import heapq
import math
from collections import deque

from ..model.evaluate import evaluate
from ..model.instance import Instance, User
from ..model.sharing import NotBottomLayer
from ..schedulers import solve
from ..schedulers.admission import admit_deadlines, fit_bandwidth

__all__ = ["Policy", "ArrivalOrder", "RollingPL", "EDFBatch", "Lyapunov", "FixedOrder",
           "POLICIES", "make_policy"]


class Policy:
    """Base class: no timer, the block cache, hopeless requests dropped at dispatch."""

    name = "policy"
    loader = "partial"
    drop_hopeless = True
    period_s = None

    def bind(self, sim) -> None:
        self.sim = sim

    def on_arrival(self, k: int) -> None:
        pass

    def choose(self):
        raise NotImplementedError

    def on_done(self, k: int, status: int) -> None:
        pass

    def on_timer(self) -> None:
        pass


class ArrivalOrder(Policy):
    """First come, first served.

    Parameters
    ----------
    loader : {"partial", "whole"}
        ``"whole"``: the traditional server, which reloads the whole model at every model change;
        ``"partial"``: the block cache (its eviction is the simulator's).
    drop_hopeless : bool
        Reject at dispatch a request that cannot finish by its deadline (True), or serve it late.

    Notes
    -----
    O(1) amortized per decision.
    """

    def __init__(self, loader: str = "partial", drop_hopeless: bool = True):
        self.loader = loader
        self.drop_hopeless = drop_hopeless
        self.name = "fifo-whole" if loader == "whole" else "fifo-cache"
        self.queue: deque = deque()

    def on_arrival(self, k):
        self.queue.append(k)

    def choose(self):
        q, status = self.queue, self.sim.status
        while q:
            k = q.popleft()
            if status[k] == 1:
                return k
        return None


class FixedOrder(Policy):
    """Serve the requests of ``sequence`` in that order (others are never chosen).

    ``plan_s`` (absolute, one per position) sets the planned starts the ``"least"`` bandwidth rule
    aims at, e.g. :func:`plcore.evaluate`'s ALAP starts.
    """

    name = "fixed"

    def __init__(self, sequence, plan_s=None, drop_hopeless: bool = True):
        self.sequence = [int(k) for k in sequence]
        self.plan = None if plan_s is None else [float(t) for t in plan_s]
        self.drop_hopeless = drop_hopeless
        self.pos = 0

    def bind(self, sim):
        super().bind(sim)
        if self.plan is not None:
            for k, t in zip(self.sequence, self.plan):
                sim.plan_s[k] = t

    def choose(self):
        seq, status = self.sequence, self.sim.status
        while self.pos < len(seq):
            k = seq[self.pos]
            if status[k] == 0:
                return None                  # not arrived yet: wait for it
            self.pos += 1
            if status[k] == 1:
                return k
        return None


class _ByModel(Policy):
    """Shared bookkeeping: a deadline heap per model (lazy deletion of ended requests)."""

    def bind(self, sim):
        super().bind(sim)
        self.heaps = [[] for _ in sim.model_blocks]

    def on_arrival(self, k):
        heapq.heappush(self.heaps[self.sim.model[k]], (self.sim.deadline_abs[k], k))

    def _head(self, m: int):
        h, status = self.heaps[m], self.sim.status
        while h and status[h[0][1]] != 1:
            heapq.heappop(h)
        return h[0][1] if h else None


class EDFBatch(_ByModel):
    """Earliest deadline first with same-model batching.

    The pending request with the earliest deadline is served; then the pending requests of the
    same model at that moment (earliest deadline first, at most ``max_batch`` in all) follow it,
    so its model is loaded once for them.

    Notes
    -----
    O(log n) amortized per decision.
    """

    name = "edf-batch"

    def __init__(self, max_batch: int = 16):
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch!r}")
        self.max_batch = max_batch
        self.batch: deque = deque()
        self.all: list = []

    def on_arrival(self, k):
        super().on_arrival(k)
        heapq.heappush(self.all, (self.sim.deadline_abs[k], k))

    def choose(self):
        status = self.sim.status
        while self.batch:
            k = self.batch.popleft()
            if status[k] == 1:
                return k
        h = self.all
        while h and status[h[0][1]] != 1:
            heapq.heappop(h)
        if not h:
            return None
        k = h[0][1]
        m = self.sim.model[k]
        mates = []
        for _, j in sorted(self.heaps[m]):
            if status[j] == 1 and j != k:
                mates.append(j)
                if len(mates) == self.max_batch - 1:
                    break
        self.batch.extend(mates)
        return k


class Lyapunov(_ByModel):
    """Drift-plus-penalty with one virtual queue per model.

    ``Q_m`` grows by ``target`` at each arrival for model ``m`` and shrinks by one (not below 0)
    at each request of ``m`` served by its deadline: it counts how far ``m`` is behind a served
    share of ``target``. When the GPU is free, the model maximizing
    ``(V + Q_m) / (L_m + infer_m)`` is chosen (``L_m``: its load time given the cache), i.e. the
    largest drift-plus-penalty gain per second of GPU time, and its pending request with the
    earliest deadline is served.

    Parameters
    ----------
    V : float
        Weight of throughput against the queues (requests), >= 0. ``V -> inf``: serve whatever
        is cheapest to load (throughput); ``V = 0``: serve the models furthest behind (fairness).
    target : float
        Share of each model's requests the queues ask to serve, in (0, 1]. It must be achievable
        for the queues to stay bounded: with ``target = 1`` under overload every queue grows
        without end and the largest absolute backlog (the most popular model's) wins, which is
        not fairness. Default 0.5.

    Notes
    -----
    O(M b) per decision for M models of b blocks.
    """

    name = "lyapunov"

    def __init__(self, V: float = 10.0, target: float = 0.5):
        if not V >= 0:
            raise ValueError(f"V must be >= 0, got {V!r}")
        if not 0 < target <= 1:
            raise ValueError(f"target must be in (0, 1], got {target!r}")
        self.V = float(V)
        self.target = float(target)

    def bind(self, sim):
        super().bind(sim)
        self.Q = [0.0] * len(sim.model_blocks)

    def on_arrival(self, k):
        super().on_arrival(k)
        self.Q[self.sim.model[k]] += self.target

    def on_done(self, k, status):
        if status == 3:
            m = self.sim.model[k]
            self.Q[m] = max(self.Q[m] - 1.0, 0.0)

    def choose(self):
        sim = self.sim
        best, pick = -math.inf, None
        for m, cnt in enumerate(sim.pending_by_model):
            if cnt <= 0:
                continue
            k = self._head(m)
            if k is None:
                continue
            score = (self.V + self.Q[m]) / (sim.missing_load_s(m) + sim.model_infer[m] + 1e-12)
            if score > best:
                best, pick = score, k
        return pick


class RollingPL(Policy):
    """PartialLoading in rolling windows.

    When the GPU falls idle with nothing committed (and, with ``period_s``, every ``period_s``
    seconds), the pending requests become an :class:`~plcore.Instance`: the catalogue's blocks
    and models, each request a user with its *remaining* bits, its deadline counted from when
    the GPU is free, its *current* channel gain, and the cache's blocks as resident.
    :func:`plcore.solve` schedules it; its ALAP starts become the planned starts of the uplink,
    and the first part of the plan is committed (served in order). Requests the plan leaves out
    stay pending for the next window; those that cannot finish even if served next are rejected.

    Parameters
    ----------
    method : {"greedy", "dp"}
        ``"greedy"`` handles the per-request deadlines directly. ``"dp"`` needs one deadline: it is
        run with every deadline set to the latest pending one (which orders the requests, grouped
        by model, depth-first in the layer tree), then the order is trimmed under the true
        deadlines and the budget (:mod:`plcore.schedulers.admission`); so it is a heuristic here.
    period_s : float, optional
        Re-plan this often (s), replacing the uncommitted part; None: only when idle.
    commit : "plan", "batch" or int
        Commit the whole plan, its first run of one model, or its first ``commit`` requests.
    max_pending : int, optional
        Schedule only this many pending requests, earliest deadlines first (bounds the solve).
    options : dict, optional
        Passed to :func:`plcore.solve`. Default for the greedy: ``{"max_work": 20000}``, a
        smaller budget for its second chance than the batch default (2,000,000): the window is
        re-solved anyway, and on the benchmark's workload (about 100 pending requests) this
        serves as many requests at three times the speed (``benchmarks/bench_online.py``).

    Notes
    -----
    One solve per window: O(p log p + p M) for the greedy on p pending requests and M models
    (see :func:`plcore.schedulers.greedy.solve_greedy`), plus O(p) to build the instance.
    """

    def __init__(self, method: str = "greedy", period_s: float | None = None,
                 commit="plan", max_pending: int | None = None, options: dict | None = None):
        if method not in ("greedy", "dp"):
            raise ValueError(f"method must be 'greedy' or 'dp', got {method!r}")
        if period_s is not None and not period_s > 0:
            raise ValueError(f"period_s must be > 0, got {period_s!r}")
        if not (commit in ("plan", "batch") or (isinstance(commit, int) and commit >= 1)):
            raise ValueError(f"commit must be 'plan', 'batch' or a positive int, got {commit!r}")
        self.method = method
        self.period_s = period_s
        self.commit = commit
        self.max_pending = max_pending
        self.options = dict(options if options is not None else
                            ({"max_work": 20_000} if method == "greedy" else {}))
        self.name = f"pl-{method}"
        self.committed: deque = deque()
        self.pending: set = set()
        self.solves = 0
        self.solved_users = 0

    def bind(self, sim):
        super().bind(sim)
        cat = sim.catalogue
        self._base = dict(blocks=cat.blocks, models=cat.models, bandwidth_hz=cat.bandwidth_hz,
                          noise_psd_w_hz=cat.noise_psd_w_hz, rate="shannon", loader=cat.loader)
        self._names = sim.workload.model_names

    def on_arrival(self, k):
        self.pending.add(k)

    def on_done(self, k, status):
        self.pending.discard(k)

    def choose(self):
        status = self.sim.status
        q = self.committed
        while q:
            k = q.popleft()
            if status[k] == 1:
                self.pending.discard(k)
                return k
        if not self.pending:
            return None
        self._plan()
        while q:
            k = q.popleft()
            if status[k] == 1:
                self.pending.discard(k)
                return k
        return None

    def on_timer(self):
        if self.pending:
            self._plan()

    def instance(self, ks: list, t0: float) -> Instance:
        """The pending requests ``ks`` as an instance whose t = 0 is ``t0`` (s)."""
        sim = self.sim
        p = sim.workload.power_w
        names = self._names
        users = tuple(User(model=names[sim.model[k]], data_bits=sim.remaining_bits(k),
                           deadline_s=sim.deadline_abs[k] - t0, power_w=p,
                           channel_gain=sim.workload.gain_at(k, sim.now)) for k in ks)
        resident = tuple(sim.block_names[b] for b in sim.cache.resident)
        if sim.loader == "whole":
            resident = ()
        return Instance(users=users, resident=resident, **self._base)

    def _plan(self) -> None:
        sim = self.sim
        self.committed.clear()
        t0 = sim.gpu_free_s()
        ks = []
        for k in sorted(self.pending):
            # Cannot finish even if served first once the GPU is free, its data in: reject now.
            if (sim.job_finish_s(sim.model[k], t0, t0) > sim.deadline_abs[k] + sim.tol
                    or sim.deadline_abs[k] <= t0):
                sim.reject(k, "unreachable")
            else:
                ks.append(k)
        if not ks:
            return
        if self.max_pending is not None and len(ks) > self.max_pending:
            ks = sorted(sorted(ks, key=lambda k: sim.deadline_abs[k])[:self.max_pending])
        inst = self.instance(ks, t0)
        if self.method == "greedy":
            seq = solve(inst, method="greedy", **self.options)
        else:
            T = float(inst.arrays.deadline_s.max())
            users = tuple(_with_deadline(u, T) for u in inst.users)
            try:
                order = solve(Instance(users=users, resident=inst.resident, **self._base),
                              method="dp", **self.options)
            except NotBottomLayer:   # cached blocks of several branches: plan from scratch
                order = solve(Instance(users=users, **self._base), method="dp", **self.options)
            seq = fit_bandwidth(inst, admit_deadlines(inst, order))
        self.solves += 1
        self.solved_users += len(ks)
        if not seq:
            return
        ev = evaluate(inst, seq)
        if not ev.feasible:     # every path above yields a feasible schedule; guard anyway
            raise RuntimeError(f"rolling window: infeasible plan ({ev.reason})")
        plan_ks = [ks[i] for i in seq]
        for k, s in zip(plan_ks, ev.start_s.tolist()):
            sim.plan_s[k] = t0 + s
        sim.uplink_dirty = True
        if self.commit == "plan":
            n = len(plan_ks)
        elif self.commit == "batch":
            m0 = sim.model[plan_ks[0]]
            n = next((i for i, k in enumerate(plan_ks) if sim.model[k] != m0), len(plan_ks))
        else:
            n = min(self.commit, len(plan_ks))
        self.committed.extend(plan_ks[:n])


def _with_deadline(u: User, T: float) -> User:
    return User(model=u.model, data_bits=u.data_bits, deadline_s=T, power_w=u.power_w,
                channel_gain=u.channel_gain)


POLICIES = {
    "fifo-whole": lambda **kw: ArrivalOrder(loader="whole", **kw),
    "fifo-cache": lambda **kw: ArrivalOrder(loader="partial", **kw),
    "pl-greedy": lambda **kw: RollingPL(method="greedy", **kw),
    "pl-dp": lambda **kw: RollingPL(method="dp", **kw),
    "edf-batch": lambda **kw: EDFBatch(**kw),
    "lyapunov": lambda **kw: Lyapunov(**kw),
}


def make_policy(name: str, **options) -> Policy:
    """A fresh policy by name (one of :data:`POLICIES`), with its options.

    Examples
    --------
    >>> from plcore.online.policies import make_policy
    >>> make_policy("lyapunov", V=5.0).V
    5.0
    """
    try:
        factory = POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; available: {', '.join(POLICIES)}") from None
    return factory(**options)

