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
