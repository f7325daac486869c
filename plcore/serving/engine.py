"""The live server's decision core: the simulator's state machine on the wall clock.

:class:`LiveServer` *is* a :class:`plcore.online.Simulator`: the same request states, uplink
shares, block cache, drop rule and policy callbacks, so no policy and no rule is written twice.
What differs is who moves time and who runs the GPU jobs:

* **time** is the wall clock since the server started (``time.perf_counter``); emulated events
  (an upload ending under its allocated share, an upload timeout, a policy's timer) wait on a
  heap until their time comes, as in the simulator, and are handled at their own time stamps in
  time order; requests arrive when their HTTP request does;
* **the GPU** is a :class:`DeviceWorker` thread that executes each dispatch for real: it evicts the
  blocks the cache evicted, loads the missing ones, waits until the input is in, runs the model
  and reports the measured times back; the request then ends at its measured finish.

Everything that touches the state runs in the asyncio event loop's thread; the worker only
executes and posts results back with ``call_soon_threadsafe``. Policies still see the predicted
load and inference times of the catalogue they were given (a profile of this device), exactly as
in the simulator; the measured times are recorded beside them (``measured_*``).
"""

from __future__ import annotations

import asyncio
import heapq
import queue
import threading
import time
from dataclasses import dataclass

import numpy as np

from ..model import radio
from ..model.instance import Instance
from ..online.simulator import LATE, REJECTED, RUNNING, SERVED, Simulator
from ..online.workload import Workload

__all__ = ["LiveServer", "LiveWorkload", "DeviceWorker", "JobTimes", "NoopDevice"]


class LiveWorkload(Workload):
    """A workload that grows as requests arrive (no fading: each request brings its gain)."""

    def __init__(self, model_names, power_w: float):
        super().__init__(model_names=tuple(model_names), arrival_s=np.zeros(0),
                         model=np.zeros(0, int), data_bits=np.zeros(0), deadline_s=np.zeros(0),
                         user=np.zeros(0, int), mean_gain=np.zeros(0), power_w=power_w)
        self.gains: list[float] = []
        self.users: list[int] = []

    def gain_at(self, k: int, t_s: float) -> float:
        return self.gains[k]

    def arrays(self, arrival, model, data_bits, deadline_abs) -> Workload:
        """The requests so far as an ordinary :class:`Workload` (for a run's summary)."""
        arrival = np.asarray(arrival, float)
        return Workload(model_names=self.model_names, arrival_s=arrival,
                        model=np.asarray(model, int), data_bits=np.asarray(data_bits, float),
                        deadline_s=np.asarray(deadline_abs, float) - arrival,
                        user=np.asarray(self.users, int), mean_gain=np.asarray(self.gains, float),
                        power_w=self.power_w)


@dataclass
class JobTimes:
    """What the device measured for one request (s on the server's clock; bytes)."""

    load_start_s: float
    load_end_s: float
    infer_start_s: float
    finish_s: float
    bytes_loaded: float


class NoopDevice:
    """A device that loads nothing and returns its input: the server's own overhead, measured.

    Implements the interface :class:`DeviceWorker` drives (``load``, ``evict``, ``infer``).
    """

    def load(self, blocks) -> float:
        return 0.0

    def evict(self, blocks) -> None:
        pass

    def infer(self, model: str, x):
        return x, 0.0


class DeviceWorker:
    """One thread that executes the GPU jobs in dispatch order.

    ``device`` offers ``load(block_names) -> s``, ``evict(block_names)`` and
    ``infer(model, tensor) -> (output, s)`` (:class:`plcore.gpu.device.BlockDevice`, or
    :class:`NoopDevice`). Jobs: ``("load", k, evicted, missing)`` then ``("infer", k, model, x)``
    once the input is in; each infer is answered with ``done(k, output, JobTimes)`` through
    ``post`` (the event loop's ``call_soon_threadsafe``).
    """

    def __init__(self, device, clock, post, done, fail):
        self.device, self.clock, self.post, self.done, self.fail = device, clock, post, done, fail
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._load = None       # (k, start, end, bytes) of the last load: one job at a time
        self.thread = threading.Thread(target=self._run, name="plcore-device", daemon=True)
        self.thread.start()

    def submit(self, job: tuple) -> None:
        self.jobs.put(job)

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join()

    def _run(self) -> None:
        dev = self.device
        while True:
            job = self.jobs.get()
            if job is None:
                return
            try:
                if job[0] == "load":
                    _, k, evicted, missing, nbytes = job
                    dev.evict(evicted)
                    t0 = self.clock()
                    dev.load(missing)
                    # A dispatch whose upload timed out gets no infer job: the next load
                    # replaces its record.
                    self._load = (k, t0, self.clock(), nbytes)
                else:
                    _, k, model, x = job
                    if self._load is None or self._load[0] != k:
                        raise RuntimeError(f"request {k}: inference before its loads")
                    _, t0, t1, nbytes = self._load
                    start = self.clock()
                    out, _ = dev.infer(model, x)
                    finish = self.clock()
                    if hasattr(out, "cpu"):          # off the device here, not in the loop
                        out = out.cpu()
                    self.post(self.done, k, out, JobTimes(t0, t1, start, finish, nbytes))
            except Exception as exc:   # noqa: BLE001 - reported to the loop, never lost
                self.post(self.fail, job[1], exc)


class LiveServer(Simulator):
    """The simulator's server, driven by the wall clock and a real device.

    Parameters
    ----------
    catalogue : Instance
        Blocks (bytes, predicted load times), models (predicted inference times), the uplink
        (bandwidth, noise); its users are ignored. Block names must be the device's.
    device
        Executes the jobs (see :class:`DeviceWorker`).
    policy : plcore.online.policies.Policy
        A fresh policy object, as for :func:`plcore.online.simulate`.
    capacity_bytes : float, optional
        GPU memory for blocks (B), as in the simulator.
    power_w : float
        Transmit power of every user (W).
    eviction, bandwidth : str
        As in the simulator (``belady`` needs the future and is refused).

    Notes
    -----
    Each handler costs what the simulator's does; the event loop adds O(log e) per event.
    """

    def __init__(self, catalogue: Instance, device, policy, *, capacity_bytes=None,
                 power_w: float = radio.POWER_W, eviction: str = "lru",
                 bandwidth: str = "equal"):
        if eviction == "belady":
            raise ValueError("eviction 'belady' needs the future requests: not for a live server")
        workload = LiveWorkload(catalogue.models, power_w)
        super().__init__(catalogue, workload, policy, capacity_bytes=capacity_bytes,
                         eviction=eviction, bandwidth=bandwidth)
        self.device = device
        self._t0 = time.perf_counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._pump_task = None
        self._futures: dict[int, asyncio.Future] = {}
        self._tensors: dict[int, object] = {}
        self.outputs: dict[int, object] = {}
        self.measured: dict[int, JobTimes] = {}
        self.errors: list = []
        self.worker: DeviceWorker | None = None
        self.listeners: list = []          # called with (k, status) when a request ends
        self.tags: list = []               # per request: what its client tagged it with
        self._deferred = False             # an infer job held back while dispatching
        self.policy.bind(self)

    # ------------------------------------------------------------------ clock and life cycle
    def clock(self) -> float:
        """Seconds since the server started."""
        return time.perf_counter() - self._t0

    def start(self) -> None:
        """Start the event pump and the device worker (in the running event loop)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.worker = DeviceWorker(self.device, self.clock, self._loop.call_soon_threadsafe,
                                   self._job_done, self._job_failed)
        self._pump_task = self._loop.create_task(self._pump())

    async def stop(self) -> None:
        """Stop the pump and the worker (requests in flight should have ended first)."""
        if self._pump_task is not None:
            self._pump_task.cancel()
            try:
                await self._pump_task
            except asyncio.CancelledError:
                pass
        if self.worker is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.worker.close)

    @property
    def in_flight(self) -> int:
        """Requests that have arrived and not ended."""
        return len(self._futures)

    # ------------------------------------------------------------------ requests
    def submit(self, model: int, data_bits: float, deadline_s: float, gain: float, user: int,
               tensor, tag=None) -> tuple[int, asyncio.Future]:
        """A request arrives now. Returns its index and a future for ``(status, reason)``.

        ``tag`` is kept in :attr:`tags` (a load generator's index of the request in its trace).
        """
        now = self.clock()
        self._advance(now)
        k = self.add_request(now, model, data_bits, deadline_s, gain)
        self.workload.gains.append(float(gain))
        self.workload.users.append(int(user))
        self.tags.append(tag)
        fut = self._loop.create_future()
        self._futures[k] = fut
        self._tensors[k] = tensor
        if k == 0:
            self._arm_timer(now)
        self._arrive(k)
        self._settle()
        self._poke()
        return k, fut

    # ------------------------------------------------------------------ the simulator's hooks
    def _dispatch(self, k: int) -> None:
        m = self.model[k]
        before = list(self.cache.resident)
        # The whole-model loader reloads every block at a model change (the cache is cleared).
        reload_all = self.loader == "whole" and m != self.last_model
        self._deferred = None
        super()._dispatch(k)          # the cache's bookkeeping; calls _start if the data is in
        names = self.block_names
        if reload_all:
            evicted, missing = [names[b] for b in before], [names[b] for b in self.model_blocks[m]]
        else:
            after, was = self.cache.resident, set(before)
            evicted = [names[b] for b in before if b not in after]
            missing = [names[b] for b in self.model_blocks[m] if b not in was]
        self.worker.submit(("load", k, evicted, missing, self.job_bytes[k]))
        if self._deferred is not None:          # the infer job goes after its loads
            self.worker.submit(self._deferred)
        self._deferred = False

    def _start(self, k: int, data_s: float) -> None:
        # The input is in: the worker infers once its loads are done, and reports the times.
        self.gpu_waiting = False
        job = ("infer", k, self.workload.model_names[self.model[k]], self._tensors[k])
        if self._deferred is False:
            self.worker.submit(job)
        else:                                   # inside _dispatch: after the load job
            self._deferred = job

    def _job_done(self, k: int, output, times: JobTimes) -> None:
        self.start_s[k] = times.infer_start_s
        self.finish_s[k] = times.finish_s
        self.measured[k] = times
        self.outputs[k] = output
        self._advance(max(self.clock(), times.finish_s))
        self._gpu_done(k)
        self._settle()
        self._poke()

    def _job_failed(self, k: int, exc: BaseException) -> None:
        self.errors.append((k, exc))
        if self.gpu_job == k:
            self.gpu_job = -1
            self.gpu_waiting = False
        if self.status[k] not in (SERVED, LATE, REJECTED):
            self.status[k] = RUNNING    # reject() accepts a running request
            self.reject(k, "device-error")
        self._settle()
        self._poke()

    def _gpu_done(self, k: int) -> None:
        super()._gpu_done(k)
        self._ended(k, self.status[k])

    def reject(self, k: int, reason: str) -> None:
        super().reject(k, reason)
        self._ended(k, REJECTED)

    def _ended(self, k: int, status: int) -> None:
        fut = self._futures.pop(k, None)
        self._tensors.pop(k, None)
        if fut is not None and not fut.done():
            fut.set_result((status, self.reason[k]))
        for f in self.listeners:
            f(k, status)

    # ------------------------------------------------------------------ event pump
    def _advance(self, now: float) -> None:
        """Handle every emulated event due by ``now``, in time order, then move to ``now``."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            t = heap[0][0]
            self._at(t)
            while heap and heap[0][0] == t:
                _, _, kind, k = heapq.heappop(heap)
                self._handle(kind, k, True)    # more requests may always come
            self._settle()
        self._at(now)

    def _at(self, t: float) -> None:
        if t > self.now:
            self.uplink.advance(t)
            self.now = t

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _pump(self) -> None:
        while True:
            self._advance(self.clock())
            self._wake.clear()
            delay = self._heap[0][0] - self.clock() if self._heap else None
            if delay is not None and delay <= 0:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except asyncio.TimeoutError:
                pass

    # ------------------------------------------------------------------ results
    def result(self):
        """The requests so far as a :class:`plcore.online.Run` (ended ones are final)."""
        live = self.workload
        self.workload = live.arrays(self.arrival, self.model, self.data_bits, self.deadline_abs)
        try:
            return self._result(0.0)
        finally:
            self.workload = live
