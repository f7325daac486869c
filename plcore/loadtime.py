"""Measure a device profile: block load times per loading path, inference latency, validation.

``plcore measure --out data/profiles/<device>.json`` runs :func:`measure_profile` and writes a
profile with its provenance (device, driver, torch, date), which :mod:`plcore.scenarios` and the
book read. Timing follows the usual rules: warm-up runs first, CUDA events on a GPU (wall time on
the CPU), medians with the 10th-90th percentile spread, and each loading path labelled:

* ``packed_pinned``: one pinned buffer per block, one copy (GPU only);
* ``packed_pageable``: the same buffer in pageable memory;
* ``disk``: the block's safetensors file, dropped from the page cache before each read, then copied;
* ``torch_to``: torch's ordinary ``tensor.to(device)`` for every tensor of the block from pageable
  memory, as ``module.to("cuda")`` does (GPU only: on the CPU it copies nothing).

Each timed load starts cold: the block is evicted and a 256 MB buffer is overwritten first, so its
host copy is not in the CPU caches, as in a real schedule.
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
from .zoo import build_zoo
from .zoo.networks import ARCHITECTURES

SCHEMA = "plcore.profile/1"


def device_info(device: torch.device) -> dict:
    """Provenance: what was measured, with what."""
    info = {"torch": torch.__version__, "date": date.today().isoformat(),
            "python": platform.python_version(), "cpu": _cpu_model(),
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


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _nvidia_driver() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def time_runs(fn, device: torch.device, repeats: int, warmup: int, before=None) -> np.ndarray:
    """Seconds per call of ``fn`` (after ``warmup`` calls); ``before()`` runs untimed each time."""
    out = []
    for i in range(warmup + repeats):
        if before is not None:
            before()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            dt = start.elapsed_time(end) / 1e3
        else:
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
        if i >= warmup:
            out.append(dt)
    return np.array(out)


def summary(x: np.ndarray) -> dict:
    return {"median": float(np.median(x)), "p10": float(np.percentile(x, 10)),
            "p90": float(np.percentile(x, 90)), "n": int(x.size)}


def h2d_pinned_peak(device: torch.device, sizes_mb=(16, 64, 256, 1024), repeats: int = 10) -> dict:
    """Host-to-device bandwidth of one large copy from pinned memory, per size; peak = the max."""
    per_size = {}
    for mb in sizes_mb:
        src = torch.empty(mb << 20, dtype=torch.uint8, pin_memory=True)
        dst = torch.empty_like(src, device=device)
        t = time_runs(lambda: dst.copy_(src, non_blocking=True), device, repeats, 3)
        per_size[str(mb)] = float((mb << 20) / np.median(t))
        del src, dst
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


def measure_blocks(zoo, device: torch.device, paths, repeats: int, warmup: int) -> dict:
    """Load time of every block of ``zoo`` along each path: {block: {path: summary}}.

    Before each timed load the block is evicted and the CPU caches are flushed (cold source, as
    in a real schedule).
    """
    out: dict[str, dict] = {b: {} for b in zoo.blocks}
    flush = _CacheFlush()
    with tempfile.TemporaryDirectory() as store:
        for path in paths:
            if path == "torch_to":
                for b, m in zoo.blocks.items():
                    tensors = [t for _, t in named_tensors(m)]
                    out[b][path] = summary(time_runs(
                        lambda: [t.to(device) for t in tensors], device, repeats, warmup,
                        before=flush))
                continue
            loader = PartialLoader(zoo, device, path=path, store_dir=store)
            for b in zoo.blocks:
                def evict(b=b):
                    loader.evict(b)
                    flush()
                out[b][path] = summary(time_runs(lambda b=b: loader.load_block(b), device,
                                                 repeats, warmup, before=evict))
            del loader
    return out


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
                    scale: float = 1.0, validation_users: int = 12, progress=print) -> dict:
    """Measure everything a profile holds (see the module docstring) on ``device``."""
    dev = torch.device(device)
    paths = ["packed_pinned", "packed_pageable", "disk", "torch_to"] if dev.type == "cuda" \
        else ["packed_pageable", "disk"]
    prof = {"schema": SCHEMA, "synthetic": False, **device_info(dev),
            "method": {"repeats": repeats, "warmup": warmup, "scale": scale,
                       "timer": "CUDA events" if dev.type == "cuda" else "perf_counter",
                       "disk": "safetensors, page cache dropped (posix_fadvise) before each read"}}
    prof["h2d_pinned_peak_Bps"] = None
    if dev.type == "cuda":
        progress("pinned host-to-device peak ...")
        peak = h2d_pinned_peak(dev)
        prof["h2d_pinned_peak_Bps"] = peak["peak_Bps"]
        prof["h2d_pinned_per_size_Bps"] = peak["per_size_MB"]

    arch_out, bytes_all, secs_all = {}, {p: [] for p in paths}, {p: [] for p in paths}
    for arch in archs:
        progress(f"{arch}: blocks ...")
        zoo = build_zoo(arch, models_per_cluster=1, scale=scale)
        model = next(iter(zoo.models))
        blocks = measure_blocks(zoo, dev, paths, repeats, warmup)
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
            # Fig. 1 of the paper: share of loading in load + inference (batch 1), per path.
            "loading_share": {p: load_total[p] / (load_total[p] + infer["1"]["median"])
                              for p in paths},
        }
    prof["architectures"] = arch_out
    prof["paths"] = {p: fit_path(np.array(bytes_all[p], float), np.array(secs_all[p], float))
                     for p in paths}
    packed = "packed_pinned" if dev.type == "cuda" else "packed_pageable"
    prof["loader_path"] = packed
    prof["loader_Bps"] = float(sum(bytes_all[packed]) / sum(secs_all[packed]))
    progress("validation: a real multi-model schedule ...")
    prof["validation"] = validation_run(prof, dev, scale=scale, n_users=validation_users)
    return prof


def validation_run(prof: dict, dev: torch.device, *, arch: str = "resnet50", scale: float = 1.0,
                   n_users: int = 12, seed: int = 0, runs: int = 5) -> dict:
    """Execute a real schedule over a bottom-sharing zoo and compare it with the prediction.

    The prediction uses the profile's per-block load times and the batch-1 inference latency
    measured again just before *each* run (``runs_infer_s``): a shared machine's speed drifts over
    the minutes a profile takes, and even between runs; the check is of the timeline, not of that
    drift. The schedule runs ``runs`` times from an empty device; the median run is reported, with
    every run's error.
    """
    from .instance import Instance
    from .runtime import validate

    if arch not in prof["architectures"]:
        arch = next(iter(prof["architectures"]))
    zoo = build_zoo(arch, n_clusters=2, models_per_cluster=3,
                    shared_depth=len(prof["architectures"][arch]["blocks"]) - 3, scale=scale,
                    seed=seed)
    path = prof["loader_path"]
    per_block = {r["name"]: r["load_s"][path] for r in prof["architectures"][arch]["blocks"]}
    load_s = {b: per_block[b.split(".", 1)[1]] for b in zoo.blocks}
    loader = PartialLoader(zoo, dev, path=path)
    first = next(iter(zoo.models))
    rng = np.random.default_rng(seed)
    names = list(zoo.models)
    users = [{"model": names[int(rng.integers(len(names)))], "data_bits": 1e5,
              "deadline_s": 100.0, "spectral_eff": 5.0} for _ in range(n_users)]

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
    order = list(np.argsort([names.index(u.model) for u in inst.users], kind="stable"))
    order = order[::2] + order[1::2]     # mixes models: some switches share blocks, some do not
    validate(loader, inst, order[:3])    # warm-up: first kernels, allocator, caches
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
    args = ap.parse_args(argv)
    prof = measure_profile(args.device, tuple(args.archs), tuple(args.batches), args.repeats,
                           args.warmup, args.scale)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(prof, indent=1) + "\n")
    print(f"-> {args.out}")
    return 0
