"""Run a schedule for real: load the missing blocks, evict the rest, infer, and time every step.

The executor serves the users of a schedule one after the other, as early as possible (every input
is taken as already received), and records when each load and each inference starts and ends. Its
makespan is compared with the one :func:`plcore.evaluate` predicts from a profile's load and
inference times: the model's timeline, checked against the machine.

:func:`execute` drains the device between steps (each load, then each inference, timed on its
own). :func:`execute_streamed` issues a model's copies on a copy stream and its blocks' forwards on
a compute stream, with an event after each block's copy; pipelined, each block's forward waits for
its own block only, so a model's first blocks compute while its later blocks load. On the CPU there
are no streams: the same calls run in program order, every wait already met, and the pipelined run
is the sequential one.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..model.evaluate import evaluate
from ..model.instance import Instance
from ..model.timeline import asap_finish, pipelined_finish
from .loader import PartialLoader


@dataclass
class Execution:
    """Measured timeline of one schedule (seconds from the start; indexed by position)."""

    sequence: list[int]
    models: list[str]
    load_start_s: np.ndarray
    infer_start_s: np.ndarray
    finish_s: np.ndarray
    loaded_bytes: np.ndarray
    outputs: list
    #: Per position (:func:`execute_streamed` only): the model's blocks in order, whether each was
    #: loaded, when its copy ended (``ready_s``; NaN for a resident block) and when its forward
    #: ended (``done_s``), in seconds from the start.
    blocks: list | None = None

    @property
    def makespan_s(self) -> float:
        return float(self.finish_s[-1]) if len(self.finish_s) else 0.0

    @property
    def load_s(self) -> np.ndarray:
        return self.infer_start_s - self.load_start_s

    @property
    def infer_s(self) -> np.ndarray:
        return self.finish_s - self.infer_start_s


class _Clock:
    """Wall time with the device drained first, so a copy or a kernel is counted when it ends."""

    def __init__(self, loader: PartialLoader):
        self.loader = loader
        self.t0 = None

    def __call__(self) -> float:
        self.loader.synchronize()
        now = time.perf_counter()
        if self.t0 is None:
            self.t0 = now
        return now - self.t0


def _staged(loader, instance: Instance, sequence, inputs, seed: int):
    """The schedule's users, their models, and their inputs already on the device (untimed)."""
    seq = [int(k) for k in sequence]
    models = [instance.users[k].model for k in seq]
    if inputs is None:
        inputs = {k: loader.zoo.example_input(m, 1, seed=seed + k) for k, m in zip(seq, models)}
    return seq, models, {k: inputs[k].to(loader.device) for k in seq}


def execute(loader: PartialLoader, instance: Instance, sequence, *, inputs: dict | None = None,
            keep_outputs: bool = False, seed: int = 0) -> Execution:
    """Serve ``sequence`` (user indices of ``instance``, whose models are ``loader.zoo``'s).

    Parameters
    ----------
    loader : PartialLoader
        Holds the device state; whatever it has resident is reused by the first user.
    instance : Instance
        Its model names must be zoo models.
    sequence : sequence of int
    inputs : dict, optional
        User index to input tensor (batch 1); default: a seeded random image per user.
    keep_outputs : bool
        Keep each user's output (on the host) for checking.

    Returns
    -------
    Execution
    """
    seq, models, staged = _staged(loader, instance, sequence, inputs, seed)
    n = len(seq)
    load_start, infer_start, finish = np.zeros(n), np.zeros(n), np.zeros(n)
    moved = np.zeros(n)
    outputs = []
    clock = _Clock(loader)
    clock()
    with torch.inference_mode():
        for i, (k, m) in enumerate(zip(seq, models)):
            load_start[i] = clock()
            moved[i] = loader.load(m)["bytes"]
            infer_start[i] = clock()
            y = loader.module(m)(staged[k])
            finish[i] = clock()
            if keep_outputs:
                outputs.append(y.detach().cpu())
    return Execution(seq, models, load_start, infer_start, finish, moved, outputs)


class _Streams:
    """A copy stream and a compute stream with events between them, and time marks.

    On a GPU: two CUDA streams and timing events (seconds between two marks from
    ``Event.elapsed_time``, valid across streams). On the CPU there is no stream: :meth:`on` is a
    no-op context, a wait is already met (everything runs in program order) and a mark is
    ``time.perf_counter()``. Both run the same executor code.
    """

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.copy = torch.cuda.Stream(device) if self.cuda else None
        self.compute = torch.cuda.Stream(device) if self.cuda else None

    def on(self, stream):
        """Context in which work is queued on ``stream``."""
        return torch.cuda.stream(stream) if self.cuda else contextlib.nullcontext()

    def mark(self, stream):
        """A time mark after the work queued on ``stream`` so far."""
        if not self.cuda:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record(stream)
        return event

    def wait(self, stream, mark) -> None:
        """Work queued on ``stream`` from now on starts after ``mark``."""
        if self.cuda:
            stream.wait_event(mark)

    def host_wait(self, mark) -> None:
        """The CPU waits until ``mark`` is reached."""
        if self.cuda:
            mark.synchronize()

    def seconds(self, t0, mark) -> float:
        """Seconds from mark ``t0`` to ``mark`` (both reached: synchronize first)."""
        return t0.elapsed_time(mark) / 1e3 if self.cuda else mark - t0


def execute_streamed(loader: PartialLoader, instance: Instance, sequence, *,
                     pipelined: bool = True, inputs: dict | None = None,
                     keep_outputs: bool = False, seed: int = 0) -> Execution:
    """Serve ``sequence`` with copies and forwards on their own streams, pipelined or not.

    For each user the copy stream waits for the previous inference to end (the blocks it evicts
    may sit where the next ones go), then copies the blocks the model lacks, bottom first, with an
    event after each (``loader.load``'s ``on_block``). The model runs block by block on the compute
    stream. ``pipelined``: each block's forward waits for its own block's event
    (``compute_stream.wait_event``), so the first blocks compute while the later ones load; the CPU
    issues every copy of a model before its forwards, so a forward's launch never delays a copy.
    Not pipelined: the CPU waits for the model's last copy before issuing its first forward, as
    :func:`execute` does, but nothing else is drained (a batch-1 forward is mostly the CPU issuing
    kernels: issued during the copies, it would overlap them even without per-block waits).

    Parameters
    ----------
    loader : PartialLoader
        Holds the device state; whatever it has resident is reused by the first user. Its copies
        are asynchronous on the ``packed_pinned`` path only: elsewhere the CPU finishes each copy
        before issuing the next step, and there is nothing to overlap.
    instance : Instance
        Its model names must be zoo models.
    sequence : sequence of int
    pipelined : bool
    inputs : dict, optional
        User index to input tensor (batch 1); default: a seeded random image per user.
    keep_outputs : bool
        Keep each user's output (copied to the host after the last inference).

    Returns
    -------
    Execution
        Times from the start, read from the marks once the device is drained: ``load_start_s``
        when the user's copies may start, ``infer_start_s`` when its first forward may start
        (pipelined: once the first block is in, while later blocks still load), ``finish_s`` when
        its last forward ends; ``blocks`` per block.

    Notes
    -----
    The same kernels run on the same bytes as in :func:`execute`: outputs are equal (bit for bit
    on the CPU). O(total blocks of the served models) marks.
    """
    zoo = loader.zoo
    seq, models, staged = _staged(loader, instance, sequence, inputs, seed)
    st = _Streams(loader.device)
    moved = np.zeros(len(seq))
    marks, outputs = [], []
    loader.synchronize()                 # the inputs are staged, earlier work is done
    t0 = st.mark(st.compute)
    done = t0
    with torch.inference_mode():
        for i, (k, m) in enumerate(zip(seq, models)):
            ready = {}
            with st.on(st.copy):
                st.wait(st.copy, done)   # evicted slots are free once the last inference ends
                start = st.mark(st.copy)
                moved[i] = loader.load(m, on_block=lambda b: ready.__setitem__(
                    b, st.mark(st.copy)))["bytes"]
                loaded = st.mark(st.copy)
            if not pipelined:
                st.host_wait(loaded)     # nothing of the model is issued before it is loaded
            with st.on(st.compute):
                x, ends = staged[k], []
                for j, b in enumerate(zoo.models[m]):
                    if pipelined and b in ready:
                        st.wait(st.compute, ready[b])
                    elif not pipelined and j == 0:
                        st.wait(st.compute, loaded)
                    if j == 0:
                        begin = st.mark(st.compute)
                    x = loader.block_module(b)(x)
                    ends.append(st.mark(st.compute))
                done = ends[-1]
            outputs.append(x)
            marks.append((start, begin, ready, ends))
    loader.synchronize()
    n = len(seq)
    load_start, infer_start, finish = np.zeros(n), np.zeros(n), np.zeros(n)
    blocks = []
    for i, (m, (start, begin, ready, ends)) in enumerate(zip(models, marks)):
        load_start[i] = st.seconds(t0, start)
        infer_start[i] = st.seconds(t0, begin)
        finish[i] = st.seconds(t0, ends[-1])
        names = list(zoo.models[m])
        blocks.append({"blocks": names, "loaded": [b in ready for b in names],
                       "ready_s": np.array([st.seconds(t0, ready[b]) if b in ready else np.nan
                                            for b in names]),
                       "done_s": np.array([st.seconds(t0, e) for e in ends])})
    kept = [y.detach().cpu() for y in outputs] if keep_outputs else []
    return Execution(seq, models, load_start, infer_start, finish, moved, kept, blocks)


def block_durations(run: Execution) -> list[dict]:
    """Each block's copy and forward durations (s) in a run of :func:`execute_streamed`.

    A block's copy lasts from the end of the copy before it (the user's load start for the first
    one) to its own end; a resident block's is 0. A forward lasts from the end of the one before
    it (the inference start for the first) to its own end. In a sequential run these are the
    copies and forwards alone, what :func:`predict_pipelined` composes.

    Returns
    -------
    list of dict
        Per position: ``blocks`` (names), ``load_s`` and ``compute_s`` (arrays, shape (b,)).
    """
    out = []
    for i, b in enumerate(run.blocks):
        ready = np.asarray(b["ready_s"], dtype=float)
        load = np.zeros(ready.size)
        prev = run.load_start_s[i]
        for j in np.flatnonzero(np.asarray(b["loaded"], dtype=bool)):
            load[j] = ready[j] - prev
            prev = ready[j]
        compute = np.diff(np.concatenate([[run.infer_start_s[i]], b["done_s"]]))
        out.append({"blocks": list(b["blocks"]), "load_s": load, "compute_s": compute})
    return out


def predict_pipelined(durations: list[dict]) -> float:
    """Makespan (s) of the pipelined schedule, from per-block copy and forward durations.

    Each user's copies start when the previous inference ends; each block computes once its copy
    and the block before it are done (:func:`plcore.model.timeline.pipelined_finish`).
    ``durations`` as :func:`block_durations` returns them, e.g. medians over sequential runs.
    """
    t = 0.0
    for d in durations:
        t = pipelined_finish(t, d["load_s"], d["compute_s"])
    return t


def validate(loader: PartialLoader, instance: Instance, sequence, **kw) -> dict:
    """Measured against predicted: makespan relative error and per-user start-time errors.

    The prediction is the as-early-as-possible timeline of ``evaluate(instance, sequence)``:
    start of position i = sum of loads up to i + inferences before i. ``instance`` should carry
    the measured load and inference times of the same device (a profile).
    """
    ev = evaluate(instance, sequence)
    seq = list(sequence)
    arr = instance.arrays
    predicted_finish = asap_finish(arr, seq, ev.load_s)
    predicted_start = predicted_finish - arr.infer_s[seq]
    predicted_makespan = float(predicted_finish[-1])
    run = execute(loader, instance, sequence, **kw)
    err = run.infer_start_s - predicted_start
    return {
        "makespan_measured_s": run.makespan_s,
        "makespan_predicted_s": predicted_makespan,
        "makespan_rel_err": abs(run.makespan_s - predicted_makespan) / predicted_makespan,
        "start_err_s": {"median_abs": float(np.median(np.abs(err))),
                        "max_abs": float(np.max(np.abs(err)))},
        "users": len(run.sequence),
        "loaded_bytes": float(run.loaded_bytes.sum()),
        "predicted_start_s": predicted_start.tolist(),
        "measured_start_s": run.infer_start_s.tolist(),
        "predicted_load_s": ev.load_s.tolist(),
        "measured_load_s": run.load_s.tolist(),
        "measured_infer_s": run.infer_s.tolist(),
    }
