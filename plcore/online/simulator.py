"""A discrete-event simulation of the edge server: uplink, GPU, block cache, and a policy.

The server (MODEL.md's system, now with requests arriving over time)
    * **uplink** (:mod:`plcore.online.uplink`): every request uploads its input from its arrival,
      sharing the band ``B`` with the others uploading (equal shares, or least bandwidth for its
      planned start plus a share of the rest);
    * **GPU**: one request at a time. Dispatching request ``k`` makes its model resident in the
      **block cache** (:mod:`plcore.online.cache`; its missing blocks are loaded one after the
      other at the catalogue's block load times, evicting others as needed); inference starts
      once the model is resident and the data is in, and takes the model's ``infer_s``. With
      ``loader="whole"`` (the traditional server) the whole model is reloaded at every model
      change and nothing else stays resident;
    * **pipelined execution** (``pipelined=True``, as in PipeSwitch): inference starts once the
      first block is resident and the data is in; each block's share of the computation waits for
      that block. The inference time is split over the blocks in proportion to their bytes (our
      assumption: the model gives one ``infer_s`` per model, not per block);
    * **policy** (:mod:`plcore.online.policies`): whenever the GPU is free and requests are
      pending it picks the next request, or none.

Every request ends **served** (finished by its deadline), **late** (finished after it) or
**rejected**, with a reason: ``too-large`` (its model does not fit in GPU memory), ``unreachable``
(it could not finish by its deadline even if started now: found at dispatch or by a policy),
``upload-timeout`` (dispatched, but its data was not in by its deadline) or ``unscheduled`` (still
pending when nothing else was left to happen). The simulator checks this conservation before
returning.

Event loop
----------
A small ``heapq`` loop, not SimPy, decided by ``benchmarks/bench_online.py``: on a bare
single-server queue of 200,000 customers, the ``heapq`` loop ran 683,000 customers per CPU second
and SimPy 4.1.2 (processes, a ``Resource``) 55,000, twelve times fewer; the whole simulator,
arrival order with the LRU cache, ran 10^6 requests in 33 s of CPU (target 60 s) and rolling-window
PartialLoading 15,000 requests per second at 121 pending requests per window (target 10,000 at
100), on the 2-core development machine. SimPy is therefore not a dependency.
Arrivals are read from the workload's sorted arrays instead of being pushed.
All events at one instant are handled before the policy decides, so a batch arriving at t = 0 is
seen whole (this is what makes the simulator reproduce :func:`plcore.evaluate`'s timeline).
"""

from __future__ import annotations

import bisect
import heapq
import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import InstanceError
from ..model.instance import Instance
from .cache import BlockCache
from .uplink import Uplink
from .workload import Workload

__all__ = ["simulate", "Simulator", "Run", "STATUS", "LOADERS"]

STATUS = ("future", "pending", "running", "served", "late", "rejected")
FUTURE, PENDING, RUNNING, SERVED, LATE, REJECTED = range(6)
LOADERS = ("partial", "whole")

# The per-request state each request starts with, besides its workload values.
_PER_REQUEST = {"status": FUTURE, "data_in": False, "reason": "", "upload_s": math.nan,
                "dispatch_s": math.nan, "start_s": math.nan, "finish_s": math.nan,
                "end_s": math.nan, "job_load_s": 0.0, "job_bytes": 0.0, "job_hits": 0,
                "job_access": 0}

# Event kinds on the heap.
_UPLINK, _TICK, _GPU, _TIMEOUT, _TIMER = range(5)


@dataclass
class Run:
    """The outcome of one simulation. Per-request arrays have shape ``(n,)``.

    Attributes
    ----------
    status : ndarray of int
        Index into :data:`STATUS` (3 served, 4 late, 5 rejected).
    reason : list of str
        Why a request was rejected ("" otherwise).
    arrival_s, deadline_s : ndarray
        Arrival and absolute deadline (s).
    model, user : ndarray of int
    upload_s : ndarray
        When the data was in (s); NaN if never.
    dispatch_s, start_s, finish_s : ndarray
        GPU dispatch, inference start and completion (s); NaN if never.
    end_s : ndarray
        When the request left the system: completion or rejection (s).
    load_s : ndarray
        Loading time of its job (s).
    bytes_loaded : ndarray
        Bytes loaded for its job (B).
    hits, accesses : ndarray of int
        Blocks of its model found resident / needed.
    horizon_s : float
        Time of the last real event (s): the latest arrival, upload completion, dispatch or end
        (completion or rejection) of a request; 0 without requests. Events that change no
        request do not count: a predicted upload completion superseded by a new share, the
        timeout of a job whose data came in, a channel tick, a policy timer that neither rejected
        nor led to a dispatch. Requests still pending then end "unscheduled" at this time. The
        denominator of the GPU time shares of :func:`plcore.online.metrics.summary`.
    gpu_load_s, gpu_infer_s, gpu_busy_s : float
        Total loading, inference and dispatched-job time on the GPU (s); with pipelining the first
        two overlap.
    cpu_s : float
        CPU time of the simulation (s).
    config : dict
        Policy, capacity, eviction, loader, pipelining, bandwidth rule.
    """

    status: np.ndarray
    reason: list
    arrival_s: np.ndarray
    deadline_s: np.ndarray
    model: np.ndarray
    user: np.ndarray
    upload_s: np.ndarray
    dispatch_s: np.ndarray
    start_s: np.ndarray
    finish_s: np.ndarray
    end_s: np.ndarray
    load_s: np.ndarray
    bytes_loaded: np.ndarray
    hits: np.ndarray
    accesses: np.ndarray
    model_names: tuple
    horizon_s: float
    gpu_load_s: float
    gpu_infer_s: float
    gpu_busy_s: float
    cpu_s: float
    config: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.status.size)

    def count(self, status: str) -> int:
        """Requests that ended with ``status`` ("served", "late", "rejected")."""
        return int(np.count_nonzero(self.status == STATUS.index(status)))


class Simulator:
    """One simulation of ``workload`` on the server of ``catalogue`` under ``policy``.

    Use :func:`simulate`; the attributes below are what policies read.

    Attributes
    ----------
    now : float
        Current time (s).
    status : list of int
        Per request, an index into :data:`STATUS`.
    model, deadline_abs, arrival : list
        Per request: model index, absolute deadline (s), arrival (s).
    plan_s : list of float
        Per request: the planned inference start (s) the ``"least"`` bandwidth rule aims at;
        initially the latest start ``arrival + deadline - infer_s``; policies may set it.
    data_in : list of bool
        Whether the request's data has arrived.
    uplink : Uplink
    cache : BlockCache
    model_blocks : list of tuple of int
        Block indices of each model, bottom first.
    pending_by_model : list of int
        Pending requests per model.
    """

    def __init__(self, catalogue: Instance, workload: Workload, policy, *,
                 capacity_bytes: float | None = None, eviction: str = "lru",
                 pipelined: bool = False, bandwidth: str = "equal", share_leftover: bool = True,
                 progress: bool = False):
        if catalogue.rate != "shannon":
            raise InstanceError("catalogue.rate: the simulator needs the Shannon rate")
        if tuple(catalogue.models) != tuple(workload.model_names):
            raise InstanceError("workload.model_names: not the catalogue's models (in order)")
        loader = getattr(policy, "loader", "partial")
        if loader not in LOADERS:
            raise ValueError(f"policy.loader must be one of {LOADERS}, got {loader!r}")
        arr = catalogue.arrays
        self.catalogue = catalogue
        self.workload = workload
        self.policy = policy
        self.loader = loader
        self.pipelined = bool(pipelined)
        self.block_names = arr.block_names
        self.block_load_s = arr.block_load_s.tolist()
        self.block_bytes = arr.block_bytes.tolist()
        bidx = {b: j for j, b in enumerate(arr.block_names)}
        self.model_blocks = [tuple(bidx[b] for b in catalogue.models[m].blocks)
                             for m in arr.model_names]
        self.model_bytes = [sum(self.block_bytes[b] for b in bl) for bl in self.model_blocks]
        self.model_infer = arr.model_infer_s.tolist()
        # Pipelining: each block's share of the inference, in proportion to its bytes.
        self.model_chunks = [[self.model_infer[m] * self.block_bytes[b] / self.model_bytes[m]
                              if self.model_bytes[m] > 0 else self.model_infer[m] / len(bl)
                              for b in bl] for m, bl in enumerate(self.model_blocks)]
        if capacity_bytes is None:
            capacity_bytes = max(self.model_bytes)
        self.capacity_bytes = float(capacity_bytes)
        self.block_models = [[] for _ in arr.block_names]
        for m, bl in enumerate(self.model_blocks):
            for b in bl:
                self.block_models[b].append(m)
        self.pending_by_model = [0] * len(arr.model_names)
        self.n_pending = 0
        self._future_by_model = None
        self.cache = BlockCache(self.block_bytes, self.capacity_bytes, eviction,
                                need=self._need, next_use=self._next_use)
        self.eviction = eviction
        self.uplink = Uplink(catalogue.bandwidth_hz, bandwidth, share_leftover)
        self.bandwidth = bandwidth
        self.noise = catalogue.noise_psd_w_hz
        self._a_const = (workload.power_w * workload.mean_gain / self.noise).tolist()
        self.progress = progress

        n = workload.n
        self.n = n
        self.arrival = workload.arrival_s.tolist()
        self.model = workload.model.tolist()
        self.data_bits = workload.data_bits.tolist()
        self.deadline_abs = (workload.arrival_s + workload.deadline_s).tolist()
        self.plan_s = [self.deadline_abs[k] - self.model_infer[self.model[k]] for k in range(n)]
        for name, value in _PER_REQUEST.items():
            setattr(self, name, [value] * n)
        self.now = 0.0
        self.tol = 1e-9
        self.gpu_job = -1            # request on the GPU, -1 when free
        self.gpu_waiting = False     # dispatched, waiting for its data
        self.last_model = -1
        self.gpu_load_s = self.gpu_infer_s = self.gpu_busy_s = 0.0
        self.last_event_s = 0.0      # the horizon: see Run.horizon_s
        self.uplink_dirty = False
        self._heap: list = []
        self._seq = 0
        self._upl_version = 0
        self._next_tick = math.inf
        self._job = None             # (dispatch time, loads-done time, block ready times)

    def add_request(self, arrival_s: float, model: int, data_bits: float, deadline_s: float,
                    gain: float) -> int:
        """Append a request that was not in the workload (a live server's); returns its index.

        It is not yet arrived: :meth:`_arrive` makes it pending. ``deadline_s`` is relative to
        ``arrival_s``; ``gain`` is its linear channel gain (no fading).
        """
        k = self.n
        self.n += 1
        self.arrival.append(arrival_s)
        self.model.append(model)
        self.data_bits.append(data_bits)
        self.deadline_abs.append(arrival_s + deadline_s)
        self.plan_s.append(arrival_s + deadline_s - self.model_infer[model])
        self._a_const.append(self.workload.power_w * gain / self.noise)
        for name, value in _PER_REQUEST.items():
            getattr(self, name).append(value)
        return k

    # ------------------------------------------------------------------ helpers for policies
    def a_hz(self, k: int) -> float:
        """``a = p g(now) / N0`` of request ``k`` (Hz)."""
        return self.workload.power_w * self.workload.gain_at(k, self.now) / self.noise

    def remaining_bits(self, k: int) -> float:
        """Bits of request ``k`` still to upload."""
        if self.data_in[k]:
            return 0.0
        return max(self.uplink.remaining.get(k, self.data_bits[k]), 0.0)

    def missing_blocks(self, m: int):
        """Blocks of model ``m`` that dispatching it now would load, bottom first."""
        if self.loader == "whole":
            return () if m == self.last_model else self.model_blocks[m]
        res = self.cache.resident
        return [b for b in self.model_blocks[m] if b not in res]

    def missing_load_s(self, m: int) -> float:
        """Seconds to make model ``m`` resident now (under the policy's loader)."""
        load = self.block_load_s
        return sum(load[b] for b in self.missing_blocks(m))

    def data_eta(self, k: int) -> float:
        """When request ``k``'s data is expected in at the current rate (s); inf if stalled."""
        if self.data_in[k]:
            return self.now
        r = self.uplink.rate.get(k, 0.0)
        rem = self.remaining_bits(k)
        return self.now + rem / r if r > 0 else (self.now if rem <= 0 else math.inf)

    def job_finish_s(self, m: int, t0: float, data_s: float) -> float:
        """Completion (s) of a job of model ``m`` dispatched at ``t0`` with its data in at
        ``data_s``, loading the blocks missing from the cache now (pipelined if the server is).

        Notes
        -----
        O(b) for a model of b blocks: the timeline of :meth:`_dispatch` and :meth:`_start`.
        """
        L, ready = self._loading(m, t0, self.missing_blocks(m))
        return self._timeline(m, t0, t0 + L, ready, data_s)[1]

    def earliest_finish(self, k: int) -> float:
        """Completion of ``k`` if dispatched now, at the current upload rate (s)."""
        return self.job_finish_s(self.model[k], self.now, self.data_eta(k))

    def hopeless(self, k: int) -> bool:
        """Whether ``k`` cannot finish by its deadline even if dispatched now."""
        return self.earliest_finish(k) > self.deadline_abs[k] + self.tol

    def gpu_free_s(self) -> float:
        """When the GPU is expected to be free (s): now if idle."""
        if self.gpu_job < 0:
            return self.now
        k = self.gpu_job
        if not math.isnan(self.finish_s[k]):
            return self.finish_s[k]
        return self._timeline(self.model[k], *self._job, self.data_eta(k))[1]

    def reject(self, k: int, reason: str) -> None:
        """End request ``k`` as rejected now with ``reason``."""
        st = self.status[k]
        if st in (SERVED, LATE, REJECTED) or st == FUTURE:
            raise RuntimeError(f"request {k}: cannot reject a request that is {STATUS[st]}")
        if st == PENDING:
            self.pending_by_model[self.model[k]] -= 1
            self.n_pending -= 1
        if k in self.uplink.remaining:
            self.uplink.remove(k)
            self.uplink_dirty = True
        self.status[k] = REJECTED
        self.reason[k] = reason
        self.end_s[k] = self.now
        self.last_event_s = self.now
        self.policy.on_done(k, REJECTED)

    # ------------------------------------------------------------------ cache callbacks
    def _need(self, b: int) -> int:
        pbm = self.pending_by_model
        return sum(pbm[m] for m in self.block_models[b])

    def _next_use(self, b: int) -> float:
        # Position, in arrival order, of the next request after the one being dispatched whose
        # model holds b: exactly the future sequence under arrival-order service.
        if self._future_by_model is None:
            order = np.argsort(self.workload.model, kind="stable")
            counts = np.bincount(self.workload.model, minlength=len(self.model_blocks))
            parts = np.split(order, np.cumsum(counts)[:-1])
            self._future_by_model = [p.tolist() for p in parts]
        k = self._dispatching
        best = math.inf
        for m in self.block_models[b]:
            lst = self._future_by_model[m]
            i = bisect.bisect_right(lst, k)
            if i < len(lst) and lst[i] < best:
                best = lst[i]
        return best

    # ------------------------------------------------------------------ events
    def _push(self, t: float, kind: int, k: int) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, k))

    def _dispatch(self, k: int) -> None:
        now = self.now
        m = self.model[k]
        blocks = self.model_blocks[m]
        self.status[k] = RUNNING
        self.pending_by_model[m] -= 1
        self.n_pending -= 1
        self._dispatching = k
        cache = self.cache
        h0 = cache.hits
        if self.loader == "whole" and m != self.last_model:
            cache.clear()
        missing = cache.load(blocks)
        self.last_model = m
        L, ready = self._loading(m, now, missing)
        self.job_load_s[k] = L
        self.job_bytes[k] = sum(self.block_bytes[b] for b in missing)
        self.job_hits[k] = cache.hits - h0
        self.job_access[k] = len(blocks)
        self.dispatch_s[k] = now
        self.gpu_job = k
        self.gpu_load_s += L
        self.last_event_s = now
        self._job = (now, now + L, ready)
        if self.data_in[k]:
            self._start(k, now)
        else:
            self.gpu_waiting = True
            # A request served late (drop_hopeless=False) may be dispatched after its deadline:
            # its upload has then timed out already, now, not back at the deadline.
            self._push(max(self.deadline_abs[k], now), _TIMEOUT, k)

    def _loading(self, m: int, t0: float, missing) -> tuple:
        """Loading of ``missing`` (blocks of model ``m``) from ``t0``: ``(L, ready)``, the loading
        time (s) and, pipelined, when each block of ``m`` is resident (s; else None). One block
        after the other, in the model's order, bottom first."""
        load = self.block_load_s
        L = 0.0
        if not self.pipelined:
            for b in missing:
                L += load[b]
            return L, None
        miss = set(missing)
        ready = []
        for b in self.model_blocks[m]:
            if b in miss:
                L += load[b]
            ready.append(t0 + L)
        return L, ready

    def _timeline(self, m: int, t0: float, loaded: float, ready, data_s: float) -> tuple:
        """``(start, finish)`` (s) of the inference of a job of model ``m`` dispatched at ``t0``
        whose loads (:meth:`_loading`) end at ``loaded`` and whose data is in at ``data_s``.

        Sequential: inference starts once loaded and the data is in. Pipelined: once the first
        block is resident and the data is in, each block's share of ``infer_s`` waiting for its
        block. The one formula of dispatch, the drop rule and :meth:`gpu_free_s`.
        """
        if ready is None:
            start = max(loaded, data_s)
            return start, start + self.model_infer[m]
        t = max(t0, data_s)
        start = max(t, ready[0])
        t = start
        for r, c in zip(ready, self.model_chunks[m]):
            t = (t if t >= r else r) + c
        return start, t

    def _start(self, k: int, data_s: float) -> None:
        """Schedule the inference of the job on the GPU, whose data is in at ``data_s``."""
        start, finish = self._timeline(self.model[k], *self._job, data_s)
        self.gpu_waiting = False
        self.start_s[k] = start
        self.finish_s[k] = finish
        self._push(finish, _GPU, k)

    def _gpu_done(self, k: int) -> None:
        st = SERVED if self.finish_s[k] <= self.deadline_abs[k] + self.tol else LATE
        self.status[k] = st
        self.end_s[k] = self.now
        self.last_event_s = self.now
        m = self.model[k]
        self.gpu_infer_s += self.model_infer[m]
        self.gpu_busy_s += self.now - self.dispatch_s[k]
        self.gpu_job = -1
        self.policy.on_done(k, st)

    def _timeout(self, k: int) -> None:
        if self.gpu_job != k or not self.gpu_waiting:
            return                                   # its data came in time: stale
        self.gpu_busy_s += self.now - self.dispatch_s[k]
        self.gpu_job = -1
        self.gpu_waiting = False
        self.status[k] = RUNNING                     # reject() accepts a running request
        self.reject(k, "upload-timeout")

    def _allocate(self) -> None:
        up = self.uplink
        wl = self.workload
        now = self.now
        if wl.fading:
            c = wl.power_w / self.noise
            gain_at = wl.gain_at

            def a_of(k):
                return c * gain_at(k, now)
        else:
            a_of = self._a_const.__getitem__      # constant gains: a looked up, not recomputed
        plan = self.plan_s

        def plan_of(k):
            return plan[k] - now

        dt, who = up.allocate(a_of, plan_of)
        self._upl_version += 1
        if who >= 0:
            self._push(now + dt, _UPLINK, self._upl_version)
        self.uplink_dirty = False
        if wl.fading and len(up) and self._next_tick == math.inf:
            Tc = wl.coherence_s
            j = math.floor(now / Tc) + 1
            while j * Tc <= now:      # now / Tc may round down onto the current boundary
                j += 1
            self._next_tick = j * Tc
            self._push(self._next_tick, _TICK, 0)

    def _uplink_event(self) -> None:
        up = self.uplink
        done = [k for k, r in up.remaining.items()
                if r <= 1e-9 * max(self.data_bits[k], 1.0) or r <= up.rate[k] * 1e-12]
        if not done:    # rounding left a sliver: finish the one that was due
            done = [min(up.remaining, key=lambda k: up.remaining[k] / up.rate[k]
                        if up.rate[k] > 0 else math.inf)]
        for k in done:
            up.remove(k)
            self.data_in[k] = True
            self.upload_s[k] = self.now
            if self.gpu_job == k and self.gpu_waiting:
                self._start(k, self.now)
        self.uplink_dirty = True
        self.last_event_s = self.now

    def _arrive(self, k: int) -> None:
        m = self.model[k]
        self.status[k] = PENDING
        self.last_event_s = self.now
        self.pending_by_model[m] += 1
        self.n_pending += 1
        if self.model_bytes[m] > self.capacity_bytes * (1 + 1e-12):
            self.reject(k, "too-large")
            return
        if self.data_bits[k] <= 0:
            self.data_in[k] = True
            self.upload_s[k] = self.now
        else:
            self.uplink.add(k, self.data_bits[k])
            self.uplink_dirty = True
        self.policy.on_arrival(k)

    def _decide(self) -> None:
        policy = self.policy
        drop = getattr(policy, "drop_hopeless", True)
        while self.gpu_job < 0:
            k = policy.choose()
            if k is None:
                return
            if self.status[k] != PENDING:
                raise RuntimeError(f"policy {policy.name!r} chose request {k}, which is "
                                   f"{STATUS[self.status[k]]}")
            if drop:
                # A rejection just now (or a new plan) changed the shares: judge with the new
                # rates, not those of before (only when something changed and the verdict
                # depends on a rate: O(u) each).
                if self.uplink_dirty and not self.data_in[k]:
                    self._allocate()
                if self.hopeless(k):
                    self.reject(k, "unreachable")
                    continue
            self._dispatch(k)

    def _handle(self, kind: int, k: int, more_arrivals: bool) -> None:
        """Handle one event of the heap, at ``self.now`` (its time)."""
        if kind == _UPLINK:
            if k == self._upl_version:
                self._uplink_event()
        elif kind == _GPU:
            self._gpu_done(k)
        elif kind == _TIMEOUT:
            self._timeout(k)
        elif kind == _TICK:
            self._next_tick = math.inf
            self.uplink_dirty = True
        else:   # _TIMER
            self.policy.on_timer()
            if more_arrivals or self.n_pending or self.gpu_job >= 0:
                self._push(self.now + self.policy.period_s, _TIMER, 0)

    def _arm_timer(self, t0: float) -> None:
        """Start the policy's timer (if it has one): first at ``t0 + period_s``."""
        period = getattr(self.policy, "period_s", None)
        if period is not None:
            self._push(t0 + period, _TIMER, 0)

    def _settle(self) -> None:
        """After the events of one instant: shares re-planned, the policy decides, shares again."""
        if self.uplink_dirty:
            self._allocate()
        self._decide()
        if self.uplink_dirty:
            self._allocate()

    # ------------------------------------------------------------------ main loop
    def run(self) -> Run:
        t_cpu = time.process_time()
        self.policy.bind(self)
        arrival = self.arrival
        n = self.n
        heap = self._heap
        i = 0
        pop = heapq.heappop
        bar = None
        if self.progress:
            from tqdm import tqdm
            bar = tqdm(total=n, unit="req", mininterval=0.5, leave=False)
        if n:
            self._arm_timer(arrival[0])
        while True:
            ta = arrival[i] if i < n else math.inf
            th = heap[0][0] if heap else math.inf
            now = ta if ta < th else th
            if now == math.inf:
                break
            if now < self.now:       # an event scheduled in the past: a bug, never to be hidden
                raise RuntimeError(f"simulator: event at {now!r} s before the current time "
                                   f"{self.now!r} s")
            self.uplink.advance(now)
            self.now = now
            while i < n and arrival[i] == now:
                self._arrive(i)
                i += 1
                if bar is not None and not i % 4096:
                    bar.update(4096)
            while heap and heap[0][0] == now:
                _, _, kind, k = pop(heap)
                self._handle(kind, k, i < n)
            self._settle()
        if bar is not None:
            bar.update(n - bar.n)
            bar.close()
        # The events left after the last real one were stale (superseded upload completions,
        # timeouts of data that came in, ticks, idle timers): the run ended at the last real one.
        self.now = self.last_event_s
        for k in range(n):      # nothing left to happen: what is still pending never will be
            if self.status[k] == PENDING:
                self.reject(k, "unscheduled")
        self._check_conservation()
        return self._result(time.process_time() - t_cpu)

    def _check_conservation(self) -> None:
        st = np.asarray(self.status, dtype=np.int64)
        counts = np.bincount(st, minlength=len(STATUS))
        ended = counts[SERVED] + counts[LATE] + counts[REJECTED]
        if ended != self.n:
            bad = int(np.flatnonzero(st < SERVED)[0])
            raise RuntimeError(f"conservation violated: {self.n} requests arrived, "
                               f"{counts[SERVED]} served + {counts[LATE]} late + "
                               f"{counts[REJECTED]} rejected = {ended}; request {bad} is "
                               f"{STATUS[st[bad]]}")
        rej = st == REJECTED
        if any(bool(r) != bool(self.reason[k]) for k, r in enumerate(rej)):
            raise RuntimeError("a rejected request has no reason, or a served one has one")

    def _result(self, cpu_s: float) -> Run:
        f = lambda x: np.asarray(x, dtype=float)                 # noqa: E731
        wl = self.workload
        return Run(
            status=np.asarray(self.status, dtype=np.int8), reason=list(self.reason),
            arrival_s=wl.arrival_s.copy(), deadline_s=f(self.deadline_abs),
            model=wl.model.copy(), user=wl.user.copy(), upload_s=f(self.upload_s),
            dispatch_s=f(self.dispatch_s), start_s=f(self.start_s), finish_s=f(self.finish_s),
            end_s=f(self.end_s), load_s=f(self.job_load_s), bytes_loaded=f(self.job_bytes),
            hits=np.asarray(self.job_hits, dtype=np.int64),
            accesses=np.asarray(self.job_access, dtype=np.int64),
            model_names=tuple(wl.model_names), horizon_s=float(self.now),
            gpu_load_s=self.gpu_load_s, gpu_infer_s=self.gpu_infer_s,
            gpu_busy_s=self.gpu_busy_s, cpu_s=cpu_s,
            config={"policy": getattr(self.policy, "name", type(self.policy).__name__),
                    "loader": self.loader, "capacity_bytes": self.capacity_bytes,
                    "eviction": self.eviction, "pipelined": self.pipelined,
                    "bandwidth": self.bandwidth, "bandwidth_hz": self.catalogue.bandwidth_hz})


def simulate(catalogue: Instance, workload: Workload, policy, *, capacity_bytes: float | None = None,
             eviction: str = "lru", pipelined: bool = False, bandwidth: str = "equal",
             share_leftover: bool = True, progress: bool = False) -> Run:
    """Simulate the server of ``catalogue`` serving ``workload`` under ``policy``.

    Parameters
    ----------
    catalogue : Instance
        Blocks, models, loader, total bandwidth ``B`` (Hz) and noise PSD (W/Hz); its users are
        ignored. Shannon rate.
    workload : Workload
        The requests (:mod:`plcore.online.workload`), with the catalogue's model names.
    policy : Policy
        A fresh policy object (:mod:`plcore.online.policies`); it keeps state for one run.
    capacity_bytes : float, optional
        GPU memory for parameters (B); default: the largest model (room for one model).
    eviction : {"lru", "sharing", "belady"}
        Block-cache eviction (:mod:`plcore.online.cache`).
    pipelined : bool
        Start inference once the first block is resident (see the module docstring).
    bandwidth : {"equal", "least"}
        Uplink sharing rule (:mod:`plcore.online.uplink`).
    share_leftover : bool
        With ``"least"``: share the rest of the band out (True) or leave it idle.
    progress : bool
        Show a tqdm bar on stderr.

    Returns
    -------
    Run
        Per-request outcomes and GPU totals; see :mod:`plcore.online.metrics` for summaries.

    Raises
    ------
    InstanceError
        If the workload's models are not the catalogue's, or the rate is not Shannon.
    RuntimeError
        If a request was lost (conservation), which would be a bug.

    Examples
    --------
    >>> from plcore.online import cluster_catalogue, generate, simulate, ArrivalOrder
    >>> cat = cluster_catalogue()
    >>> w = generate(cat, 2000, rate_hz=40.0, seed=0)
    >>> run = simulate(cat, w, ArrivalOrder(), capacity_bytes=4e8)
    >>> run.count("served") + run.count("late") + run.count("rejected") == 2000
    True

    Notes
    -----
    O((n + e) log e) for n requests and e pending events, plus the policy's own cost per decision
    and O(u) per uplink change for u concurrent uploads.
    """
    return Simulator(catalogue, workload, policy, capacity_bytes=capacity_bytes,
                     eviction=eviction, pipelined=pipelined, bandwidth=bandwidth,
                     share_leftover=share_leftover, progress=progress).run()
