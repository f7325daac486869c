"""Run a schedule for real: load the missing blocks, evict the rest, infer, and time every step.

The executor serves the users of a schedule one after the other, as early as possible (every input
is taken as already received), and records when each load and each inference starts and ends. Its
makespan is compared with the one :func:`plcore.evaluate` predicts from a profile's load and
inference times: the model's timeline, checked against the machine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..model.evaluate import evaluate
from ..model.instance import Instance
from ..model.timeline import asap_finish
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
    zoo = loader.zoo
    seq = [int(k) for k in sequence]
    models = [instance.users[k].model for k in seq]
    if inputs is None:
        inputs = {k: zoo.example_input(instance.users[k].model, 1, seed=seed + k) for k in seq}
    staged = {k: inputs[k].to(loader.device) for k in seq}
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
