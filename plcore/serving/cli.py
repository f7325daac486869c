"""``plcore serve CATALOGUE``: the real edge server from the command line.

Set-up, in order: the catalogue (an instance file, as ``plcore simulate`` takes it) is read; a torch
network of the right structure is built for each of its models
(:func:`plcore.gpu.zoo.catalogue.zoo_for_catalogue`); every block is written once as a safetensors
file under ``--store``; the device arena of ``--capacity-gb`` is allocated; the device is
calibrated (each block's load time and each model's inference time measured here, medians), and
the policies plan with those times; then the server listens on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import math
import sys
import tempfile

__all__ = ["add_parser", "main"]


def add_parser(sub) -> None:
    """Register ``serve`` on the ``plcore`` command line's subparsers."""
    from ..online.policies import POLICIES

    s = sub.add_parser(
        "serve", help="run the edge server (Open Inference Protocol over HTTP, on 127.0.0.1)",
        description="Serve the models of CATALOGUE (an instance file; its users are ignored) "
        "over HTTP with the Open Inference Protocol (KServe v2 / Triton REST) on 127.0.0.1. "
        "Blocks are loaded from safetensors files into a preallocated device arena; the uplink "
        "is emulated with the catalogue's bandwidth and noise. Stop with Ctrl-C or SIGTERM: the "
        "server finishes the requests in flight, then exits 0.")
    s.add_argument("catalogue", help="instance file (JSON or YAML), e.g. data/instances/example.json")
    s.add_argument("--port", type=int, default=8000, help="TCP port on 127.0.0.1 (0: a free "
                   "one; the URL is printed on stderr)")
    s.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    s.add_argument("--policy", default="pl-greedy", choices=sorted(POLICIES))
    s.add_argument("--capacity-gb", type=float, default=None,
                   help="device memory for blocks (GB = 1e9 B): the arena, allocated once; "
                        "default: the largest model")
    s.add_argument("--eviction", default="lru", choices=("lru", "sharing"))
    s.add_argument("--bandwidth", default="equal", choices=("equal", "least"))
    s.add_argument("--scale", type=float, default=1.0,
                   help="width scale of the networks (< 1: smaller, faster models on a CPU)")
    s.add_argument("--store", default=None, help="folder for the block files (default: a "
                   "temporary folder, removed at exit)")
    s.add_argument("--deadline-s", type=float, default=0.2,
                   help="deadline of a request whose parameters name none (s)")
    s.add_argument("--path", default="disk", choices=("disk", "packed_pageable", "packed_pinned"),
                   help="where blocks are loaded from: their safetensors files (default), or "
                        "packed host buffers, pageable or pinned (GPU only)")
    s.add_argument("--cold", action="store_true",
                   help="disk path: drop each block file from the page cache before reading it")
    s.add_argument("--threads", type=int, default=None,
                   help="torch's CPU threads (default: torch's; 1 leaves a core to the server)")
    s.add_argument("--seed", type=int, default=0, help="seed of the networks' weights")


def main(args) -> int:
    """Run ``plcore serve``; returns the exit code.

    Raises
    ------
    InstanceError, ValueError, OSError
        Bad input or a fault before serving: the command line prints it as one line.
    """
    from ..model.instance import load_instance

    catalogue = load_instance(args.catalogue)
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port: {args.port} is not a TCP port (0-65535)")
    for name in ("scale", "deadline_s", "capacity_gb"):
        value = getattr(args, name)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"--{name.replace('_', '-')}: must be a finite number > 0, "
                             f"got {value!r}")
    if args.threads is not None and not 1 <= args.threads <= 1024:
        raise ValueError(f"--threads: must be between 1 and 1024, got {args.threads}")
    if args.device == "cuda" or args.path == "packed_pinned":
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"--device {args.device} --path {args.path}: no CUDA device here")
    with tempfile.TemporaryDirectory(prefix="plcore-blocks-") as tmp:
        built = build(catalogue, device=args.device, scale=args.scale,
                      capacity_gb=args.capacity_gb, store=args.store or tmp, path=args.path,
                      cold=args.cold, policy=args.policy, eviction=args.eviction,
                      bandwidth=args.bandwidth, seed=args.seed, threads=args.threads)
        return asyncio.run(_serve(built, args))


def build(catalogue, *, device="cpu", scale=1.0, capacity_gb=None, store, path="disk",
          cold=False, policy="pl-greedy", eviction="lru", bandwidth="equal", seed=0,
          threads=None, calibrate_repeats=3):
    """The server for ``catalogue``, ready to start: ``(LiveServer, specs, to_device)``.

    The zoo is built for the catalogue, its blocks written under ``store``, the arena allocated
    (default: room for the largest model), the device calibrated; the engine plans with the
    calibrated catalogue and accounts blocks in the arena's own (aligned) bytes.

    Raises
    ------
    ValueError
        If a model does not fit in the capacity, or for a bad option.
    """
    import numpy as np
    import torch

    from ..gpu.device import BlockDevice
    from ..gpu.loader import packed_size
    from ..gpu.zoo.catalogue import zoo_for_catalogue
    from ..online.policies import make_policy
    from .calibrate import calibrated_catalogue, model_specs
    from .engine import LiveServer

    if threads is not None:
        torch.set_num_threads(threads)
    zoo = zoo_for_catalogue(catalogue, scale=scale, seed=seed)
    padded = {b: packed_size(m) for b, m in zoo.blocks.items()}   # = BlockDevice.padded_bytes
    largest = max(sum(padded[b] for b in bs) for bs in zoo.models.values())
    capacity = largest if capacity_gb is None else int(capacity_gb * 1e9)
    if capacity < largest:
        worst = max(zoo.models, key=lambda m: sum(padded[b] for b in zoo.models[m]))
        raise ValueError(f"--capacity-gb: {capacity / 1e9:.6g} GB cannot hold model {worst!r} "
                         f"({largest / 1e9:.6g} GB on the device at scale {scale:g})")
    dev = BlockDevice(zoo, device=device, capacity_bytes=capacity, store_dir=store, path=path,
                      cold=cold)
    cal = calibrated_catalogue(catalogue, zoo, dev, repeats=calibrate_repeats)
    specs = model_specs(zoo, dev)
    engine = LiveServer(cal, dev, make_policy(policy), capacity_bytes=dev.capacity,
                        block_bytes=[padded[b] for b in cal.arrays.block_names],
                        eviction=eviction, bandwidth=bandwidth)
    return engine, specs, lambda a: torch.from_numpy(np.array(a))


async def _serve(built, args) -> int:
    from .server import run_server

    engine, specs, to_device = built

    def announce(url):
        print(f"plcore serve: {len(specs)} models on {args.device}, policy {args.policy}, "
              f"arena {engine.cache.capacity / 1e9:.3g} GB; listening on {url}",
              file=sys.stderr, flush=True)

    return await run_server(engine, specs, port=args.port, announce=announce,
                            default_deadline_s=args.deadline_s, to_device=to_device)
