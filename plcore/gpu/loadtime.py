"""Measure a device profile: block load times per loading path, inference latency, validation.

``plcore measure --out data/profiles/<device>.json`` runs :func:`measure_profile` and writes a
profile with its provenance (device, driver, torch, date), which :mod:`plcore.study.scenarios` and the
book read. Timing follows the usual rules: warm-up runs first, CUDA events on a GPU (wall time on
the CPU), medians with the 10th-90th percentile spread, and each loading path labelled:

* ``packed_pinned``: one pinned buffer per block, one copy (GPU only);
* ``packed_pageable``: the same buffer in pageable memory;
* ``disk``: the block's safetensors file, dropped from the page cache before each read, then copied;
* ``torch_to``: torch's ordinary ``tensor.to(device)`` for every tensor of the block from pageable
  memory, as ``module.to("cuda")`` does (GPU only: on the CPU it copies nothing);
* ``torch_to_pinned``: the same per-tensor copies, each tensor in its own pinned buffer
  (``non_blocking``; GPU only): what packing gains over pinning alone.

Blocks are timed as the executor loads them: within the load of a whole model from an empty
device, with a time mark after each block, so the CPU issuing one copy overlaps the copy before it.
Each timed load starts cold: a 256 MB buffer is overwritten first, so the host copies are not in
the CPU caches, as in a real schedule.
"""

from __future__ import annotations

import platform
import subprocess
import tempfile
import time
from datetime import date

import numpy as np
import torch

from .loader import PartialLoader, named_tensors
from .profile import cpu_model
from .zoo import build_blocks, build_zoo
from .zoo.networks import ARCHITECTURES

SCHEMA = "plcore.profile/1"
PER_TENSOR = ("torch_to", "torch_to_pinned")   # torch's own copies, tensor by tensor (GPU only)


def device_info(device: torch.device) -> dict:
    """Provenance: what was measured, with what."""
    info = {"torch": torch.__version__, "date": date.today().isoformat(),
            "python": platform.python_version(), "os": platform.platform(), "cpu": cpu_model(),
            "cpu_count": torch.get_num_threads()}
    if device.type == "cuda":
        info["device"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["driver"] = _nvidia_driver()
    else:
        info["device"] = f"cpu: {info['cpu']}"
        info["cuda"] = None
        info["driver"] = None
    return info


def _fs_type(path) -> str | None:
    """File system type of the mount holding ``path`` (from /proc/mounts; None if unknown)."""
    import os

    path, best = os.path.realpath(path), (None, -1)
    try:
        for line in open("/proc/mounts"):
            _, mount, fstype, *_ = line.split()
            if (path == mount or path.startswith(mount.rstrip("/") + "/")) and len(mount) > best[1]:
                best = (fstype, len(mount))
    except OSError:
        pass
    return best[0]


def _nvidia_driver() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def time_steps(steps, device: torch.device, repeats: int, warmup: int,
               before=None) -> np.ndarray:
    """Seconds of each of ``steps`` (callables run back to back), per run: shape (repeats, steps).

    The steps are timed as they run in sequence, with a marker after each (CUDA events on a GPU):
    work a step queues asynchronously overlaps the CPU's issuing of the next, as in a real load.
    ``before()`` runs untimed before each run.
    """
    out = []
    for i in range(warmup + repeats):
        if before is not None:
            before()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            marks = [torch.cuda.Event(enable_timing=True) for _ in range(len(steps) + 1)]
            marks[0].record()
            for step, mark in zip(steps, marks[1:]):
                step()
                mark.record()
            marks[-1].synchronize()
            dt = [a.elapsed_time(b) / 1e3 for a, b in zip(marks, marks[1:])]
        else:
            t = [time.perf_counter()]
            for step in steps:
                step()
                t.append(time.perf_counter())
            dt = np.diff(t)
        if i >= warmup:
            out.append(dt)
    return np.array(out, dtype=float).reshape(repeats, len(steps))


def time_runs(fn, device: torch.device, repeats: int, warmup: int, before=None) -> np.ndarray:
    """Seconds per call of ``fn`` (after ``warmup`` calls); ``before()`` runs untimed each time."""
    return time_steps([fn], device, repeats, warmup, before)[:, 0]


def summary(x: np.ndarray) -> dict:
    return {"median": float(np.median(x)), "p10": float(np.percentile(x, 10)),
            "p90": float(np.percentile(x, 90)), "n": int(x.size)}


def h2d_pinned_peak(device: torch.device, sizes_mb=(1, 4, 16, 64, 256, 1024),
                    repeats: int = 10) -> dict:
    """Host-to-device bandwidth of one copy from pinned memory, per size; peak = the max.

    The small sizes show what a block-sized copy can reach (blocks are 0.1 to 30 MB).
    """
    def rate(nbytes: int) -> float:    # its buffers are freed on return, before the next size
        src = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)
        dst = torch.empty_like(src, device=device)
        return float(nbytes / np.median(time_runs(lambda: dst.copy_(src, non_blocking=True),
                                                  device, repeats, 3)))

    per_size = {str(mb): rate(mb << 20) for mb in sizes_mb}
    return {"per_size_MB": per_size, "peak_Bps": max(per_size.values())}


class _CacheFlush:
    """Overwrite a buffer larger than the CPU's last-level cache.

    In a real schedule a block's host buffer is cold (other blocks and inferences ran since it was
    last read); timing the same copy back to back would find it in cache and overstate the speed.
    """

    def __init__(self, nbytes: int = 256 << 20):
        self.scratch = torch.empty(nbytes, dtype=torch.uint8)
        self.value = 0

    def __call__(self) -> None:
        self.value = (self.value + 1) % 251
        self.scratch.fill_(self.value)


def measure_blocks(zoo, device: torch.device, paths, repeats: int, warmup: int,
                   store_dir=None) -> tuple[dict, dict, dict]:
    """Load time of every block of ``zoo`` along each path, timed within whole-model loads.

    Each model of the zoo is loaded from an empty device block after block, as the executor loads
    it, with a time mark after each block (:func:`time_steps`); before each load the CPU caches are
    flushed (a cold source, as in a real schedule). A block is timed within the first model that
    has it.

    Returns
    -------
    blocks : dict
        ``{block: {path: summary}}`` (seconds).
    models : dict
        ``{model: {path: summary}}``: the whole load of each model (seconds).
    issue : dict
        ``{model: summary}``: CPU time to issue each model's ``packed_pinned`` load
        (:func:`issue_time`; GPU only: the one path whose copies are asynchronous).
    """
    owner = {}
    for m, bs in zoo.models.items():
        for b in bs:
            owner.setdefault(b, m)
    blocks: dict[str, dict] = {b: {} for b in zoo.blocks}
    models: dict[str, dict] = {m: {} for m in zoo.models}
    issue: dict[str, dict] = {}
    flush = _CacheFlush()
    with tempfile.TemporaryDirectory(dir=store_dir) as store:
        for path in paths:
            loader = None
            if path not in PER_TENSOR:
                loader = PartialLoader(zoo, device, path=path, store_dir=store)
            for m, bs in zoo.models.items():
                if path in PER_TENSOR:
                    pin = path == "torch_to_pinned"
                    tensors = {b: [t.detach().pin_memory() if pin else t
                                   for _, t in named_tensors(zoo.blocks[b])] for b in bs}
                    steps = [lambda b=b: [t.to(device, non_blocking=pin) for t in tensors[b]]
                             for b in bs]
                    before = flush
                else:
                    steps = [lambda b=b: loader.load_block(b) for b in bs]

                    def before():
                        loader.evict_all()
                        flush()
                t = time_steps(steps, device, repeats, warmup, before=before)
                models[m][path] = summary(t.sum(axis=1))
                for j, b in enumerate(bs):
                    if owner[b] == m:
                        blocks[b][path] = summary(t[:, j])
                if path == "packed_pinned" and device.type == "cuda":
                    issue[m] = issue_time(loader, m, repeats, warmup)
            loader = None                # frees its host buffers before the next path
    return blocks, models, issue


def measure_inference(zoo, device: torch.device, batches, repeats: int, warmup: int) -> dict:
    """Inference latency per architecture and batch size: {arch: {batch: summary}}.

    The network runs exactly as the executor runs it: its blocks loaded by the packed loader, its
    parameters views into the device arena.
    """
    out = {}
    loader = PartialLoader(zoo, device, path="packed_pageable")
    for arch in sorted(set(zoo.arch.values())):
        model = next(m for m, a in zoo.arch.items() if a == arch)
        loader.load(model)
        net = loader.module(model)
        res = {}
        with torch.inference_mode():
            for bs in batches:
                x = zoo.example_input(model, bs).to(device)
                res[str(bs)] = summary(time_runs(lambda: net(x), device, repeats, warmup))
        out[arch] = res
    return out


def issue_time(loader: PartialLoader, model: str, repeats: int, warmup: int) -> dict:
    """CPU time to issue a whole-model load (``loader.load`` returning, before the copies end).

    Next to the load time it tells what limits the loader: the copies, or the CPU issuing them.
    """
    def once() -> float:
        loader.evict_all()
        loader.synchronize()
        t0 = time.perf_counter()
        loader.load(model)
        dt = time.perf_counter() - t0
        loader.synchronize()
        return dt

    return summary(np.array([once() for _ in range(warmup + repeats)][warmup:]))


def fit_path(nbytes: np.ndarray, seconds: np.ndarray) -> dict:
    """Non-negative least squares ``seconds = overhead_s + bytes / bandwidth_Bps`` over the blocks.

    Where the data show no growth with size (tiny blocks, noise), the bandwidth is the plain ratio
    of total bytes to total time and the overhead zero.
    """
    from scipy.optimize import nnls

    (overhead, per_byte), _ = nnls(np.column_stack([np.ones_like(nbytes), nbytes]), seconds)
    if per_byte <= 0:
        return {"bandwidth_Bps": float(nbytes.sum() / seconds.sum()), "overhead_s": 0.0}
    return {"bandwidth_Bps": float(1.0 / per_byte), "overhead_s": float(overhead)}


def measure_profile(device: str = "cuda", archs=("resnet18", "resnet50", "vit_b16"),
                    batches=(1, 2, 4, 8, 16, 32), repeats: int = 20, warmup: int = 3,
                    scale: float = 1.0, validation_users: int = 12, progress=print,
                    store_dir=None, checkpoint=None) -> dict:
    """Measure everything a profile holds (see the module docstring) on ``device``.

    ``store_dir`` is where the disk path's files go (default: the system's temporary folder);
    the profile records its file system. ``checkpoint(prof)``, if given, is called with the
    profile so far after each stage, so a failure late in a long run loses nothing measured.
    """
    def stage(message: str) -> None:
        if checkpoint is not None:
            checkpoint(prof)
        progress(message)

    dev = torch.device(device)
    paths = ["packed_pinned", "packed_pageable", "disk", "torch_to", "torch_to_pinned"] \
        if dev.type == "cuda" else ["packed_pageable", "disk"]
    prof = {"schema": SCHEMA, "synthetic": False, **device_info(dev),
            "method": {"repeats": repeats, "warmup": warmup, "scale": scale,
                       "timer": "CUDA events" if dev.type == "cuda" else "perf_counter",
                       "disk": "safetensors, page cache dropped (posix_fadvise) before each read",
                       "disk_fs": _fs_type(store_dir or tempfile.gettempdir()),
                       "blocks": "timed within whole-model loads from an empty device"}}
    prof["h2d_pinned_peak_Bps"] = None
    if dev.type == "cuda":
        progress("pinned host-to-device peak ...")
        peak = h2d_pinned_peak(dev)
        prof["h2d_pinned_peak_Bps"] = peak["peak_Bps"]
        prof["h2d_pinned_per_size_Bps"] = peak["per_size_MB"]

    arch_out, bytes_all, secs_all = {}, {p: [] for p in paths}, {p: [] for p in paths}
    prof["architectures"] = arch_out
    for arch in archs:
        stage(f"{arch}: blocks ...")
        zoo = build_zoo(arch, models_per_cluster=1, scale=scale)
        model = next(iter(zoo.models))
        blocks, whole, issue = measure_blocks(zoo, dev, paths, repeats, warmup, store_dir)
        progress(f"{arch}: inference ...")
        infer = measure_inference(zoo, dev, batches, max(3, repeats // 4), warmup)[arch]
        rows = []
        for b in zoo.models[model]:
            name = b.split(".", 1)[1]
            nb = zoo.block_bytes(b)
            rows.append({"name": name, "bytes": nb,
                         "load_s": {p: blocks[b][p]["median"] for p in paths},
                         "load_spread_s": {p: [blocks[b][p]["p10"], blocks[b][p]["p90"]]
                                           for p in paths}})
            for p in paths:
                bytes_all[p].append(nb)
                secs_all[p].append(blocks[b][p]["median"])
        load_total = {p: sum(r["load_s"][p] for r in rows) for p in paths}
        arch_out[arch] = {
            "blocks": rows,
            "infer_s": {bs: v["median"] for bs, v in infer.items()},
            "infer_spread_s": {bs: [v["p10"], v["p90"]] for bs, v in infer.items()},
            "load_total_s": load_total,
            # The whole model loaded from an empty device, timed as one (what loader_Bps uses).
            "model_load_s": {p: whole[model][p]["median"] for p in paths},
            "model_load_spread_s": {p: [whole[model][p]["p10"], whole[model][p]["p90"]]
                                    for p in paths},
            # CPU time to issue the packed_pinned load (GPU only: elsewhere a copy is synchronous).
            "loader_issue_s": issue.get(model),
            # Fig. 1 of the paper: share of loading in load + inference (batch 1), per path.
            "loading_share": {p: load_total[p] / (load_total[p] + infer["1"]["median"])
                              for p in paths},
        }
    prof["paths"] = {p: fit_path(np.array(bytes_all[p], float), np.array(secs_all[p], float))
                     for p in paths}
    packed = "packed_pinned" if dev.type == "cuda" else "packed_pageable"
    prof["loader_path"] = packed
    # What the packed loader achieves on whole models: tensor bytes over measured load time.
    prof["loader_Bps"] = float(sum(bytes_all[packed])
                               / sum(a["model_load_s"][packed] for a in arch_out.values()))
    stage("validation: a real multi-model schedule ...")
    prof["validation"] = validation_run(prof, dev, scale=scale, n_users=validation_users)
    return prof


def schedule_zoo(arch: str, n_blocks: int, *, scale: float = 1.0, seed: int = 0):
    """The zoo a real schedule runs on: two clusters of three models of ``arch`` (``n_blocks``
    blocks each), the models of a cluster sharing all but their top three blocks."""
    return build_zoo(arch, n_clusters=2, models_per_cluster=3, shared_depth=n_blocks - 3,
                     scale=scale, seed=seed)


def schedule_users(zoo, n_users: int, seed: int = 0) -> tuple[list[dict], list[int]]:
    """Seeded users of ``zoo``'s models and the order they are served in.

    Returns the users (instance entries: a model drawn at random, data and deadline that never
    bind) and the schedule: users sorted by model, then every other one taken first, so that some
    switches share blocks and some do not.
    """
    rng = np.random.default_rng(seed)
    names = list(zoo.models)
    users = [{"model": names[int(rng.integers(len(names)))], "data_bits": 1e5,
              "deadline_s": 100.0, "spectral_eff": 5.0} for _ in range(n_users)]
    order = [int(k) for k in np.argsort([names.index(u["model"]) for u in users], kind="stable")]
    return users, order[::2] + order[1::2]


def validation_run(prof: dict, dev: torch.device, *, arch: str = "resnet50", scale: float = 1.0,
                   n_users: int = 12, seed: int = 0, runs: int = 5) -> dict:
    """Execute a real schedule over a bottom-sharing zoo and compare it with the prediction.

    The prediction uses the profile's per-block load times and the batch-1 inference latency
    measured again just before *each* run (``runs_infer_s``): a shared machine's speed drifts over
    the minutes a profile takes, and even between runs; the check is of the timeline, not of that
    drift. The schedule runs ``runs`` times from an empty device; the median run is reported, with
    every run's error.
    """
    from ..model.instance import Instance
    from .runtime import validate

    if arch not in prof["architectures"]:
        arch = next(iter(prof["architectures"]))
    zoo = schedule_zoo(arch, len(prof["architectures"][arch]["blocks"]), scale=scale, seed=seed)
    path = prof["loader_path"]
    per_block = {r["name"]: r["load_s"][path] for r in prof["architectures"][arch]["blocks"]}
    load_s = {b: per_block[b.split(".", 1)[1]] for b in zoo.blocks}
    loader = PartialLoader(zoo, dev, path=path)
    first = next(iter(zoo.models))
    users, order = schedule_users(zoo, n_users, seed)

    def calibrated(repeats: int) -> tuple[Instance, float]:
        """The instance with batch-1 inference timed now (the first model, loaded alone)."""
        loader.evict_all()
        loader.load(first)
        x = zoo.example_input(first, 1).to(dev)
        with torch.inference_mode():
            infer = float(np.median(time_runs(lambda: loader.module(first)(x), dev, repeats, 2)))
        loader.evict_all()               # each run starts with nothing resident
        d = zoo.instance_dict({m: infer for m in zoo.models}, load_s=load_s)
        d.update(users=users, rate="linear", bandwidth_hz=1e9)
        return Instance.from_dict(d), infer

    inst, _ = calibrated(3)
    validate(loader, inst, order)        # warm-up: first kernels, allocator, bound views
    results, infers = [], []
    for _ in range(runs):
        inst, infer = calibrated(7)
        results.append(validate(loader, inst, order))
        infers.append(infer)
    errors = [r["makespan_rel_err"] for r in results]
    median = int(np.argsort(errors)[len(errors) // 2])
    out = dict(results[median])
    out.update(arch=arch, path=path, schedule=[int(k) for k in order],
               models=[inst.users[k].model for k in order], infer_s_at_run=infers[median],
               runs_infer_s=infers, runs_makespan_rel_err=errors)
    return out


def _block_count(arch: str, scale: float) -> int:
    """Blocks of ``arch`` at ``scale`` (built on the meta device: no weights drawn)."""
    with torch.device("meta"):
        return len(build_blocks(arch, scale=scale))


def pipelining_run(arch: str, dev: torch.device, *, path: str | None = None, n_users: int = 12,
                   repeats: int = 7, warmup: int = 2, scale: float = 1.0, seed: int = 0) -> dict:
    """A real schedule served sequentially and pipelined, on the zoo of :func:`validation_run`.

    Three executors serve the same users (:func:`schedule_users`) from an empty device, in turn
    (their order reversed every other round, so drift spreads evenly), ``warmup`` untimed rounds
    then ``repeats`` timed ones, the CPU caches flushed before each run:

    * ``executor``: :func:`plcore.gpu.runtime.execute`, the device drained after each step;
    * ``sequential``: :func:`plcore.gpu.runtime.execute_streamed`, each model's forwards issued
      once its last copy has ended, nothing drained;
    * ``pipelined``: the same with each forward waiting for its own block's copy only.

    ``sequential`` and ``pipelined`` differ in that wait alone, so the overlap is their makespans'
    difference (medians), and the share of loading hidden is the overlap over the sequential
    runs' loading (median of its sum over the schedule). The copies and forwards of the sequential
    runs, block by block (medians), predict the pipelined makespan by the rule of
    :func:`plcore.model.timeline.pipelined_finish`, once with the measured forward of each block
    and once with each model's inference split over its blocks by bytes (the online simulator's
    assumption). A last untimed run of each executor checks that they compute the same outputs.

    Returns
    -------
    dict
        The entry of one architecture in a profile's ``pipelining`` section (seconds).

    Notes
    -----
    ``3 (warmup + repeats)`` runs of ``n_users`` inferences, plus building the zoo (six models).
    """
    from ..model.instance import Instance
    from .runtime import (block_durations, execute, execute_streamed, predict_pipelined)

    path = path or ("packed_pinned" if dev.type == "cuda" else "packed_pageable")
    zoo = schedule_zoo(arch, _block_count(arch, scale), scale=scale, seed=seed)
    loader = PartialLoader(zoo, dev, path=path)
    users, order = schedule_users(zoo, n_users, seed)
    d = zoo.instance_dict({m: 1e-3 for m in zoo.models},     # times unused: the run measures them
                          loader={"bandwidth_Bps": 1e9, "overhead_s": 0.0})
    d.update(users=users, rate="linear", bandwidth_hz=1e9)
    inst = Instance.from_dict(d)
    inputs = {k: zoo.example_input(users[k]["model"], 1, seed=seed + k) for k in order}
    executors = {
        "executor": lambda keep: execute(loader, inst, order, inputs=inputs, keep_outputs=keep),
        "sequential": lambda keep: execute_streamed(loader, inst, order, pipelined=False,
                                                    inputs=inputs, keep_outputs=keep),
        "pipelined": lambda keep: execute_streamed(loader, inst, order, pipelined=True,
                                                   inputs=inputs, keep_outputs=keep)}
    flush = _CacheFlush()
    runs: dict[str, list] = {name: [] for name in executors}
    for r in range(warmup + repeats):
        for name in (list(executors) if r % 2 == 0 else list(executors)[::-1]):
            loader.evict_all()
            flush()
            run = executors[name](False)
            if r >= warmup:
                runs[name].append(run)
    outputs = {}
    for name, fn in executors.items():
        loader.evict_all()
        outputs[name] = fn(True).outputs
    ref = outputs["executor"]
    equal = all(torch.equal(a, b) for out in outputs.values() for a, b in zip(out, ref))
    # Largest difference relative to the output's largest entry (0 when bit for bit equal).
    diff = max(float((a.double() - b.double()).abs().max()
                     / b.double().abs().max().clamp_min(1e-30))
               for out in outputs.values() for a, b in zip(out, ref))

    makespan = {name: summary(np.array([x.makespan_s for x in rs])) for name, rs in runs.items()}
    seq = runs["sequential"]
    load = float(np.median([x.load_s.sum() for x in seq]))
    infer = float(np.median([x.infer_s.sum() for x in seq]))
    per_run = [block_durations(x) for x in seq]
    durations = [{"blocks": d0["blocks"],
                  "load_s": np.median([run[i]["load_s"] for run in per_run], axis=0),
                  "compute_s": np.median([run[i]["compute_s"] for run in per_run], axis=0)}
                 for i, d0 in enumerate(per_run[0])]
    by_bytes = []
    for dur in durations:
        w = np.array([zoo.block_bytes(b) for b in dur["blocks"]], dtype=float)
        by_bytes.append({"load_s": dur["load_s"],
                         "compute_s": dur["compute_s"].sum() * w / w.sum()})
    measured = makespan["pipelined"]["median"]
    predicted = {"per_block": predict_pipelined(durations), "by_bytes": predict_pipelined(by_bytes)}
    # Each block's forward (by name, as the profile's blocks are named), over the positions.
    forward: dict[str, list] = {}
    for dur in durations:
        total = dur["compute_s"].sum()
        for b, c in zip(dur["blocks"], dur["compute_s"]):
            forward.setdefault(b.split(".", 1)[1], []).append((c, c / total if total > 0 else 0.0))
    overlap = makespan["sequential"]["median"] - measured
    return {
        "users": len(order), "schedule": order, "models": [users[k]["model"] for k in order],
        "loaded_bytes": float(seq[0].loaded_bytes.sum()),
        "makespan_s": makespan,
        "load_s": load, "infer_s": infer,
        "overlap_s": float(overlap),
        "hidden_load_share": float(overlap / load) if load > 0 else 0.0,
        "speedup": float(makespan["sequential"]["median"] / measured),
        "predicted_pipelined_s": predicted,
        "prediction_rel_err": {k: abs(v - measured) / measured for k, v in predicted.items()},
        "blocks": [{"name": name, "compute_s": float(np.median([c for c, _ in v])),
                    "compute_share": float(np.median([f for _, f in v]))}
                   for name, v in forward.items()],
        "outputs_equal": bool(equal), "outputs_max_rel_diff": diff,
    }


def measure_pipelining(device: str = "cuda", archs=("resnet50", "vit_b16"), *, n_users: int = 12,
                       repeats: int = 7, warmup: int = 2, scale: float = 1.0, seed: int = 0,
                       path: str | None = None, progress=print, checkpoint=None) -> dict:
    """A profile's ``pipelining`` section: :func:`pipelining_run` for each of ``archs``.

    An architecture whose run fails is named in ``failed`` (with the error) and the others are
    still measured; ``checkpoint(section)``, if given, is called after each architecture with the
    section so far, so a later failure loses nothing measured.

    Parameters
    ----------
    device : str
        ``"cuda"`` (``packed_pinned`` copies, CUDA streams and events) or ``"cpu"`` (the same
        code, sequential: no streams; for tests).
    archs : sequence of str
    n_users, repeats, warmup, scale, seed
        As :func:`pipelining_run`.
    path : str, optional
        Loading path (default ``packed_pinned`` on a GPU, else ``packed_pageable``).

    Returns
    -------
    dict
        Provenance (device, driver, torch, cuda, date), method, ``architectures`` and, if any,
        ``failed``.
    """
    dev = torch.device(device)
    path = path or ("packed_pinned" if dev.type == "cuda" else "packed_pageable")
    info = device_info(dev)
    out = {**{k: info[k] for k in ("device", "driver", "torch", "cuda", "date")},
           "path": path, "repeats": repeats, "warmup": warmup, "scale": scale,
           "timer": "CUDA events" if dev.type == "cuda" else "perf_counter",
           "method": "one schedule over two clusters of three models sharing all but their top "
                     "three blocks, served from an empty device by each executor in turn; "
                     "medians over the repeats",
           "architectures": {}}
    for arch in archs:
        progress(f"{arch}: sequential and pipelined executors ...")
        try:
            out["architectures"][arch] = pipelining_run(
                arch, dev, path=path, n_users=n_users, repeats=repeats, warmup=warmup,
                scale=scale, seed=seed)
        except Exception as exc:      # recorded: the next architecture still runs
            out.setdefault("failed", {})[arch] = f"{type(exc).__name__}: {exc}"[:300]
            progress(f"{arch}: failed: {out['failed'][arch]}")
        if checkpoint is not None:
            checkpoint(out)
    return out


def main(argv=None) -> int:
    import argparse
    import json
    from pathlib import Path

    ap = argparse.ArgumentParser(prog="plcore measure", description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--archs", nargs="+", default=["resnet18", "resnet50", "vit_b16"],
                    choices=ARCHITECTURES)
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 2, 4, 8, 16, 32])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0, help="width scale (1: real networks)")
    ap.add_argument("--store-dir", type=Path, default=None,
                    help="folder for the disk path's files (default: the temporary folder)")
    args = ap.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # The profile so far, kept while measuring (not *.json: never read as a finished profile).
    partial = args.out.with_name(args.out.name + ".partial")

    def checkpoint(prof: dict) -> None:
        partial.write_text(json.dumps(prof, indent=1) + "\n")

    prof = measure_profile(args.device, tuple(args.archs), tuple(args.batches), args.repeats,
                           args.warmup, args.scale, store_dir=args.store_dir,
                           checkpoint=checkpoint)
    args.out.write_text(json.dumps(prof, indent=1) + "\n")
    partial.unlink(missing_ok=True)
    print(f"-> {args.out}")
    return 0
