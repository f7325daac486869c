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

__all__ = ["add_parser", "main", "build", "SWITCH_INTERVAL_S"]

SWITCH_INTERVAL_S = 2e-4     # the interpreter's thread switch interval in a server process


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
          threads=None, calibrate_repeats=5):
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
    # The device thread runs the model's forward pass in Python, one layer call at a time, and
    # waits for the interpreter lock at each while the event loop holds it (HTTP, the pump):
    # with the default 5 ms switch interval, inference measured a fifth to a half slower while
    # serving than alone. A shorter interval hands the lock over sooner.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
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


def add_validate_parser(sub) -> None:
    """Register ``validate-serving``."""
    from ..online.policies import POLICIES

    v = sub.add_parser(
        "validate-serving", help="the simulator against the real server, request by request",
        description="Build the real server for CATALOGUE in a process of its own, calibrate it "
        "(this machine's load and inference times), then for each policy, offered load and "
        "seed replay one drawn trace through it over HTTP (open loop) and through the simulator "
        "with the calibrated times, and compare: share of requests with the same outcome, "
        "goodput, P50 and P99 latency. Loads are in units of the whole-model server's rate.")
    v.add_argument("catalogue", nargs="?", default=None,
                   help="instance file (default: data/instances/example.json)")
    v.add_argument("--policies", nargs="+", default=["fifo-whole", "pl-greedy"],
                   choices=sorted(POLICIES), metavar="POLICY")
    v.add_argument("--loads", nargs="+", type=float, default=[0.5, 0.9, 1.5])
    v.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    v.add_argument("--requests", type=int, default=400, help="requests per trace")
    v.add_argument("--deadline-s", type=float, default=0.2)
    v.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    v.add_argument("--scale", type=float, default=None,
                   help="width scale (default: 0.25 on the CPU, 1 on a GPU)")
    v.add_argument("--path", default="disk", choices=("disk", "packed_pageable", "packed_pinned"))
    v.add_argument("--cold", action="store_true", help="disk path: page cache dropped per read")
    v.add_argument("--threads", type=int, default=1,
                   help="torch's CPU threads in the server (default 1: a core left to the "
                        "server's event loop and the load generator)")
    v.add_argument("--quick", action="store_true",
                   help="a small version (one seed, 150 requests a trace): about 2 minutes")
    v.add_argument("--json", action="store_true", help="print the rows as one JSON object")


def validate_main(args) -> int:
    """Run ``plcore validate-serving``; the exit code (1 if a target is missed)."""
    import json

    from ..model.instance import load_instance
    from ..paths import DATA
    from .validate import QUICK, TARGETS, validate_serving

    catalogue = load_instance(args.catalogue or DATA / "instances" / "example.json")
    seeds, n = args.seeds, args.requests
    if args.quick:
        seeds, n = QUICK["seeds"], QUICK["n_requests"]
    if not 1 <= n <= 1_000_000:
        raise ValueError(f"--requests: must be between 1 and 1000000, got {n}")
    for load in args.loads:
        if not (math.isfinite(load) and 0 < load <= 100):
            raise ValueError(f"--loads: {load!r} is not in (0, 100]")
    scale = args.scale if args.scale is not None else (1.0 if args.device == "cuda" else 0.25)
    rows = validate_serving(catalogue, policies=args.policies, loads=args.loads, seeds=seeds,
                            n_requests=n, deadline_s=args.deadline_s, device=args.device,
                            scale=scale, path=args.path, cold=args.cold, threads=args.threads,
                            progress=sys.stderr.isatty())
    missed = [r for r in rows
              if (r["load"] <= 0.9 and r["same_outcome"] < TARGETS["same_outcome"])
              or any(r[f"{k}_rel_err"] > TARGETS[f"{k}_rel_err"] for k in ("goodput", "p50", "p99"))]
    if args.json:
        print(json.dumps({"device": args.device, "scale": scale, "targets": TARGETS,
                          "runs": rows, "missed": len(missed)}, indent=1))
    else:
        print(format_rows(rows))
        print("times: 'calibrated', the simulator with the times measured before serving; "
              "'in service', with those the server measured during the run")
        print(f"{len(rows) - len(missed)} of {len(rows)} runs meet every target with the calibrated times "
              f"(same outcome >= {TARGETS['same_outcome']:.0%} at loads <= 0.9; goodput within "
              f"{TARGETS['goodput_rel_err']:.0%}; P50 and P99 within {TARGETS['p50_rel_err']:.0%})")
    return 1 if missed else 0


def format_rows(rows) -> str:
    """The comparison as a plain-text table, one run a line."""
    head = (f"{'policy':<11} {'load':>4} {'seed':>4} {'times':<11} {'same':>6} "
            f"{'goodput sim/real':>17} {'P50 ms sim/real':>16} {'P99 ms sim/real':>16} "
            f"{'send P99':>9}")
    lines = [head]
    for r in rows:
        for label, p in (("calibrated", ""), ("in service", "service_")):
            lines.append(
                f"{r['policy']:<11} {r['load']:>4g} {r['seed']:>4d} {label:<11} "
                f"{r[p + 'same_outcome']:>6.1%} "
                f"{r[p + 'goodput_sim']:>8.2f}/{r[p + 'goodput_real']:<8.2f} "
                f"{1e3 * r[p + 'p50_sim']:>7.1f}/{1e3 * r[p + 'p50_real']:<8.1f} "
                f"{1e3 * r[p + 'p99_sim']:>7.1f}/{1e3 * r[p + 'p99_real']:<8.1f} "
                f"{1e3 * r['send_err_p99_s']:>6.2f} ms")
    return "\n".join(lines)
