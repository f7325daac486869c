"""Load and inference times of a catalogue served by a BlockDevice, as a server would see them.

    PYTHONPATH=. python scripts/time_block_device.py [CATALOGUE] [--device cpu] [--scales 1 0.25]

Prints JSON: each block's load time at scale 1 from its file (page cache warm: read once before)
and from its packed host buffer (pageable; pinned too on a GPU), and each model's inference time
(batch 1) at every scale; wall time with the device drained, medians of ``--repeats`` runs after
one untimed run (the minimum too: on a shared machine the median carries other processes' time).
The arena holds the whole catalogue, so no load needs a compaction.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import torch

import plcore
from plcore.gpu.device import BlockDevice
from plcore.gpu.loader import ALIGN, aligned, named_tensors
from plcore.gpu.zoo.catalogue import zoo_for_catalogue


def arena_for(zoo) -> int:
    """Bytes that hold every block of ``zoo`` at once (each tensor padded to ALIGN)."""
    return sum(aligned(t.numel() * t.element_size()) + ALIGN
               for m in zoo.blocks.values() for _, t in named_tensors(m)) + ALIGN * len(zoo.blocks)


def summary(runs: list[float]) -> dict:
    return {"median": statistics.median(runs), "min": min(runs)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("catalogue", nargs="?", default="data/instances/example.json")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--scales", nargs="+", type=float, default=[1.0, 0.25])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch's CPU threads")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cat = plcore.load_instance(args.catalogue)
    paths = ["disk", "packed_pageable"] + (["packed_pinned"] if args.device == "cuda" else [])
    out = {"device": args.device, "torch": torch.__version__, "threads": torch.get_num_threads(),
           "repeats": args.repeats, "load_s": {}, "infer_s": {}}
    t0 = time.perf_counter()
    zoo = zoo_for_catalogue(cat)
    out["build_s"] = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as store:
        for path in paths:
            dev = BlockDevice(zoo, args.device, capacity_bytes=arena_for(zoo), store_dir=store,
                              path=path)
            for b in zoo.blocks:
                runs = []
                for _ in range(args.repeats + 1):
                    dev.evict(b)
                    runs.append(dev.load([b]))
                row = out["load_s"].setdefault(b, {"bytes": zoo.block_bytes(b)})
                row[path] = summary(runs[1:])
            del dev
    for scale in args.scales:
        z = zoo if scale == 1 else zoo_for_catalogue(cat, scale=scale)
        dev = BlockDevice(z, args.device, capacity_bytes=arena_for(z), path="packed_pageable")
        dev.load(z.blocks)
        res = {}
        for m in z.models:
            x = z.example_input(m)
            runs = [dev.infer(m, x)[1] for _ in range(args.repeats + 1)]
            res[m] = summary(runs[1:])
        out["infer_s"][str(scale)] = res
        del dev
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
