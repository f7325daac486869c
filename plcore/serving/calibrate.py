"""What the server's policies plan with: this device's load and inference times, measured.

A catalogue file states block sizes and assumed times; the server serves networks built for it
(at a width ``scale`` that may change their sizes) on a device whose speed nobody stated. Before it
listens, the server measures here, on its own device and arena, how long each block takes to load
and each model to run, and plans with those times: the simulator, given the same calibrated
catalogue, then models the same machine (``plcore validate-serving`` compares the two).
"""

from __future__ import annotations

import numpy as np

from ..model.instance import Instance
from .protocol import DATATYPES, ModelSpec, TensorSpec

__all__ = ["calibrated_catalogue", "model_specs", "measure_device"]

# torch's dtype names ("float32") to the protocol's ("FP32")
_DTYPES = {dt.name: name for name, dt in DATATYPES.items()}


def measure_device(zoo, device, repeats: int = 5) -> tuple[dict, dict]:
    """Median load time of every block and inference time of every model (s), as served.

    Rounds over the models in turn, one untimed round first: each model is loaded into an empty
    arena block after block (as the server loads a model whose blocks are all missing), then run
    once on its example input. Serving alternates models and loads between runs, which leaves
    the processor's caches colder than back-to-back runs of one model would: measured that way,
    a CPU's inference times came out about a third too short for the server's.

    Returns
    -------
    load_s : dict
        Block name to seconds.
    infer_s : dict
        Model name to seconds.

    Notes
    -----
    O(repeats x (blocks + models)) device operations.
    """
    loads: dict[str, list] = {b: [] for b in zoo.blocks}
    infers: dict[str, list] = {m: [] for m in zoo.models}
    inputs = {m: zoo.example_input(m, 1) for m in zoo.models}
    for r in range(repeats + 1):
        for m, blocks in zoo.models.items():
            device.evict(list(device.resident))
            times = [device.load([b]) for b in blocks]
            seconds = device.infer(m, inputs[m])[1]
            if r:                                 # round 0 warms up: first-call allocations
                for b, t in zip(blocks, times):
                    loads[b].append(t)
                infers[m].append(seconds)
    device.evict(list(device.resident))
    return ({b: float(np.median(t)) for b, t in loads.items() if t},
            {m: float(np.median(t)) for m, t in infers.items()})


def calibrated_catalogue(catalogue: Instance, zoo, device, repeats: int = 5) -> Instance:
    """``catalogue`` with the device's block sizes and this device's measured times.

    A block's size is what it takes in the device's arena (``device.padded_bytes``: its packed
    buffer, alignment included, which is also what a load copies), so that a block cache given
    the arena's capacity decides exactly what fits, in the server and in the simulator alike.
    Everything else (uplink bandwidth, noise) is kept.
    """
    load_s, infer_s = measure_device(zoo, device, repeats)
    d = catalogue.to_dict()
    d["blocks"] = {b: {"bytes": float(device.padded_bytes(b)), "load_s": max(load_s[b], 1e-12)}
                   for b in catalogue.blocks}
    for m in d["models"]:
        d["models"][m]["infer_s"] = max(infer_s[m], 1e-12)
    d["users"] = []
    d.setdefault("meta", {})["calibrated"] = {"repeats": repeats, "scale": zoo.scale}
    return Instance.from_dict(d)


def model_specs(zoo, device) -> dict[str, ModelSpec]:
    """Each model's input and output (names, datatype, shape at batch 1), from one real run."""
    specs = {}
    for m in zoo.models:
        x = zoo.example_input(m, 1)
        device.evict([b for b in device.resident if b not in zoo.models[m]])
        device.load(zoo.models[m])
        y, _ = device.infer(m, x)
        specs[m] = ModelSpec(m, TensorSpec("input", _DTYPES[str(x.dtype).removeprefix("torch.")],
                                           tuple(x.shape)),
                             TensorSpec("output", _DTYPES[str(y.dtype).removeprefix("torch.")],
                                        tuple(y.shape)))
    device.evict(list(device.resident))
    return specs
