"""GPU checks: skipped cleanly without CUDA. The full measurement is `plcore measure`."""

import pytest
import torch

from plcore.gpu.loader import PartialLoader, named_tensors
from plcore.gpu.loadtime import h2d_pinned_peak, time_runs
from plcore.gpu.zoo import build_zoo

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_pinned_loader_is_bit_exact_on_the_gpu():
    zoo = build_zoo("resnet18", models_per_cluster=2, shared_depth=7, scale=0.25)
    loader = PartialLoader(zoo, "cuda", path="packed_pinned")
    for m in zoo.models:
        loader.load(m)
        for b in zoo.models[m]:                 # weights and buffers arrive bit for bit
            for (name, want), (_, got) in zip(named_tensors(zoo.blocks[b]),
                                              named_tensors(loader.block_module(b))):
                assert got.is_cuda and torch.equal(got.cpu(), want), (b, name)
        x = zoo.example_input(m, 2)
        with torch.inference_mode():
            y = loader.module(m)(x.cuda()).cpu()
            ref = zoo.module(m)(x)
        torch.testing.assert_close(y, ref, rtol=1e-3, atol=1e-3)   # GPU kernels differ slightly


def test_packed_loader_near_the_copy_engine_peak():
    dev = torch.device("cuda")
    peak = h2d_pinned_peak(dev, sizes_mb=(256,), repeats=5)["peak_Bps"]
    zoo = build_zoo("resnet50", models_per_cluster=1)
    loader = PartialLoader(zoo, dev, path="packed_pinned")
    model = next(iter(zoo.models))

    t = time_runs(lambda: loader.load(model), dev, repeats=10, warmup=3, before=loader.evict_all)
    achieved = zoo.model_bytes(model) / float(sorted(t)[len(t) // 2])
    assert achieved >= 0.8 * peak, (achieved, peak)


def test_block_device_on_the_gpu_stays_in_its_arena_and_matches_the_cpu(tmp_path):
    import plcore
    from plcore.gpu.device import BlockDevice
    from plcore.gpu.zoo.catalogue import zoo_for_catalogue

    zoo = zoo_for_catalogue(plcore.load_instance("data/instances/example.json"), scale=0.25)
    cars = zoo.models["r50-cars"]
    stem, l1, l2, l3, l4, cars_fc = cars
    pad = {b: BlockDevice(zoo, capacity_bytes=256, path="packed_pageable").padded_bytes(b)
           for b in zoo.blocks}
    capacity = sum(pad[b] for b in cars) + pad[l4] - pad[l3] - pad[l1] + 100
    for path in ("packed_pinned", "disk"):
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        dev = BlockDevice(zoo, "cuda", capacity_bytes=capacity, store_dir=tmp_path, path=path)
        assert dev.arena.buffer.is_cuda and dev.arena.buffer.numel() == capacity
        arena = torch.cuda.memory_allocated() - before
        assert capacity <= arena < capacity + 1024            # the allocator's rounding only
        dev.load(cars)
        dev.evict([l1, l3])
        dev.load(["r50-ft.layer4"])                          # fragmented: a compaction
        assert dev.last_load["compaction_s"] > 0 and dev.last_load["moved_bytes"] > 0
        dev.evict([l4, cars_fc])
        dev.load(["r50-flowers.fc", l3, l1])
        assert torch.cuda.memory_allocated() - before == arena   # loads allocate nothing
        for b in zoo.models["r50-flowers"]:                  # weights arrive bit for bit
            got = dict(named_tensors(dev.block_module(b)))
            for name, want in named_tensors(zoo.blocks[b]):
                assert got[name].is_cuda and torch.equal(got[name].cpu(), want), (b, name)
        x = zoo.example_input("r50-flowers", 2)
        y, seconds = dev.infer("r50-flowers", x)
        with torch.inference_mode():
            ref = zoo.module("r50-flowers")(x)
        assert seconds > 0 and y.is_cuda
        torch.testing.assert_close(y.cpu(), ref, rtol=1e-3, atol=1e-3)
        del dev


def test_streamed_executor_on_the_gpu_computes_what_the_sequential_one_does():
    import numpy as np

    from plcore.gpu.runtime import execute, execute_streamed

    from .executions import zoo_and_instance

    zoo, inst = zoo_and_instance()
    seq = list(range(inst.n_users))
    loader = PartialLoader(zoo, "cuda", path="packed_pinned")
    want = execute(loader, inst, seq, keep_outputs=True)
    for pipelined in (True, False, True):
        loader.evict_all()
        run = execute_streamed(loader, inst, seq, pipelined=pipelined, keep_outputs=True)
        for got, ref in zip(run.outputs, want.outputs):
            torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)   # the same kernels
        np.testing.assert_array_equal(run.loaded_bytes, want.loaded_bytes)
        assert np.all(run.load_start_s[1:] >= run.finish_s[:-1] - 1e-6)
        for b in run.blocks:
            loaded = np.array(b["loaded"])
            assert np.all(b["ready_s"][loaded] <= b["done_s"][loaded] + 1e-6)


def test_pipelined_forwards_start_while_the_model_loads():
    """A ResNet-50 (100 MB, about 2 ms to copy) from an empty device: pipelined, the stem has
    computed before the last block is in and the makespan is shorter; sequential, the first
    forward starts once the model is in."""
    import numpy as np

    from plcore.gpu.runtime import execute_streamed

    from .executions import instance_of

    zoo = build_zoo("resnet50", models_per_cluster=1)
    inst = instance_of(zoo, list(zoo.models))
    loader = PartialLoader(zoo, "cuda", path="packed_pinned")
    runs = {True: [], False: []}
    for r in range(7):
        for pipelined in (True, False):
            loader.evict_all()
            run = execute_streamed(loader, inst, [0], pipelined=pipelined)
            if r >= 2:
                runs[pipelined].append(run)
    for run in runs[True]:
        assert run.blocks[0]["done_s"][0] < np.nanmax(run.blocks[0]["ready_s"])
    for run in runs[False]:
        assert run.infer_start_s[0] >= np.nanmax(run.blocks[0]["ready_s"]) - 1e-6
    med = {p: float(np.median([x.makespan_s for x in rs])) for p, rs in runs.items()}
    assert med[True] < med[False], med


def test_measure_pipelining_on_the_gpu():
    from plcore.gpu.loadtime import measure_pipelining

    section = measure_pipelining("cuda", ("resnet18",), n_users=4, repeats=3, warmup=1,
                                 scale=0.25, progress=lambda *_: None)
    a = section["architectures"]["resnet18"]
    assert section["path"] == "packed_pinned" and section["timer"] == "CUDA events"
    assert section["driver"] is not None and a["outputs_max_rel_diff"] <= 1e-4
    assert a["load_s"] > 0 and a["makespan_s"]["pipelined"]["median"] > 0
