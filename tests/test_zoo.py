"""Zoo, packed loader, executor and profiles, on the CPU (small widths keep them fast)."""

import json

import numpy as np
import pytest
import torch

import plcore
from plcore.gpu.loader import (DeviceArena, PartialLoader, pack_block, read_safetensors,
                               save_safetensors, tensor_view)
from plcore.gpu.profile import validate_profile
from plcore.gpu.runtime import execute, validate
from plcore.gpu.zoo import build_blocks, build_zoo, tensor_bytes
from plcore.model.sharing import is_bottom_layer
from plcore.paths import PROFILES

# torchvision's parameter counts for the standard networks (1000 classes).
PARAMS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
          "resnet101": 44_549_160, "vit_b16": 86_567_656}


@pytest.mark.parametrize("arch", list(PARAMS))
def test_networks_have_the_standard_sizes(arch):
    blocks = build_blocks(arch)
    assert sum(p.numel() for _, m in blocks for p in m.parameters()) == PARAMS[arch]
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        for _, m in blocks:
            x = m(x)
    assert x.shape == (1, 1000)


def test_block_sizes_are_tensor_bytes():
    zoo = build_zoo("resnet50", models_per_cluster=2, scale=0.25)
    for name, m in zoo.blocks.items():
        by_hand = sum(t.numel() * t.element_size() for t in m.state_dict().values())
        assert zoo.block_bytes(name) == tensor_bytes(m) == by_hand
    inst_blocks = zoo.instance_dict({m: 0.01 for m in zoo.models},
                                    loader={"bandwidth_Bps": 1e10, "overhead_s": 0.0})["blocks"]
    assert all(inst_blocks[b]["bytes"] == zoo.block_bytes(b) for b in zoo.blocks)


def test_sharing_structures():
    def instance(zoo):
        d = zoo.instance_dict({m: 0.01 for m in zoo.models},
                              loader={"bandwidth_Bps": 1e10, "overhead_s": 0.0})
        d.update(users=[], rate="linear", bandwidth_hz=1e6)
        return plcore.Instance.from_dict(d)

    bottom = build_zoo("resnet18", n_clusters=2, models_per_cluster=3, shared_depth=6, scale=0.125)
    assert is_bottom_layer(instance(bottom))
    assert len(bottom.blocks) == 2 * 6 + 2 * 3 * 4      # shared bottoms + private tops
    general = build_zoo("vit_b16", models_per_cluster=4, sharing="general", private_blocks=2,
                        scale=0.05, seed=3)
    assert not is_bottom_layer(instance(general))


def test_packing_round_trips_bit_exactly(tmp_path):
    module = build_blocks("resnet50", scale=0.125)[1][1]      # a bottleneck with downsample
    module.bn1.running_mean.normal_()
    module.bn1.num_batches_tracked.fill_(12345)
    pb = pack_block("b", module)
    assert pb.host.dtype == torch.uint8 and pb.host.is_contiguous()
    state = module.state_dict()
    for slot in pb.layout:
        assert torch.equal(tensor_view(pb.host, slot), state[slot.name])
    save_safetensors(pb, tmp_path / "b.safetensors")
    assert torch.equal(read_safetensors(tmp_path / "b.safetensors", cold=True), pb.host)


def test_arena_allocates_frees_and_merges():
    arena = DeviceArena(4096, "cpu")
    a = arena.alloc(1000)
    b = arena.alloc(1000)
    arena.release(a, 1000)
    arena.release(b, 1000)
    assert arena.free == [(0, 4096)]
    with pytest.raises(MemoryError, match="arena full"):
        arena.alloc(5000)


@pytest.mark.parametrize("path", ["packed_pageable", "disk"])
def test_executor_matches_the_unpacked_modules(tmp_path, path):
    zoo = build_zoo("resnet18", n_clusters=2, models_per_cluster=2, shared_depth=7, scale=0.125)
    d = zoo.instance_dict({m: 1e-3 for m in zoo.models},
                          loader={"bandwidth_Bps": 1e9, "overhead_s": 0.0})
    names = list(zoo.models)
    order = [0, 1, 1, 0, 2, 3, 2]
    d.update(users=[{"model": names[i], "data_bits": 1.0, "deadline_s": 10.0, "spectral_eff": 1.0}
                    for i in order], rate="linear", bandwidth_hz=1e6)
    inst = plcore.Instance.from_dict(d)
    loader = PartialLoader(zoo, "cpu", path=path, store_dir=tmp_path)
    run = execute(loader, inst, range(len(order)), keep_outputs=True)
    with torch.inference_mode():
        for pos, k in enumerate(range(len(order))):
            ref = zoo.module(inst.users[k].model)(zoo.example_input(inst.users[k].model, 1, seed=k))
            assert torch.equal(run.outputs[pos], ref)
    # Bytes moved are exactly the partial-loading prediction: the blocks the previous model lacks.
    ev = plcore.evaluate(inst, range(len(order)))
    predicted = ev.load_s * 1e9              # load_s = bytes / 1 GB/s in this instance
    np.testing.assert_allclose(run.loaded_bytes, predicted, rtol=1e-9)
    assert run.loaded_bytes[2] == 0          # same model again: nothing to load
    assert np.all(np.diff(run.finish_s) > 0)


def test_reloads_reuse_bound_views_and_stay_exact():
    """A block reloaded at an offset it had before gets the module bound then, over fresh bytes;
    at a new offset it is bound anew; an evicted block is never handed out."""
    zoo = build_zoo("resnet18", n_clusters=2, models_per_cluster=1, shared_depth=4, scale=0.125)
    a, b = zoo.models
    loader = PartialLoader(zoo, "cpu")
    x = zoo.example_input(a, 2)
    with torch.inference_mode():
        ref = zoo.module(a)(x)
        loader.load(a)
        first = {blk: loader.block_module(blk) for blk in zoo.models[a]}
        where = dict(loader.resident)
        loader.arena.buffer.fill_(7)             # what a previous tenant left in the arena
        for _ in range(2):
            loader.load(b)
            with pytest.raises(RuntimeError, match="not resident"):
                loader.block_module(zoo.models[a][0])
            loader.load(a)
            assert torch.equal(loader.module(a)(x), ref)
        for blk in zoo.models[a]:
            same_place = loader.resident[blk] == where[blk]
            assert (loader.block_module(blk) is first[blk]) == same_place
        loader.evict_all()
        loader.arena.alloc(4096)                 # shift every later slot: all bound anew
        loader.load(a)
        assert all(loader.block_module(blk) is not first[blk] for blk in zoo.models[a])
        assert torch.equal(loader.module(a)(x), ref)


def test_time_steps_times_each_step_in_sequence():
    import time

    from plcore.gpu.loadtime import time_steps

    calls = []
    t = time_steps([lambda: time.sleep(0.001), lambda: time.sleep(0.02)], torch.device("cpu"),
                   repeats=3, warmup=1, before=lambda: calls.append(1))
    assert t.shape == (3, 2) and len(calls) == 4
    assert np.all(t[:, 0] >= 0.001) and np.all(t[:, 1] >= 0.02) and np.all(t[:, 1] > t[:, 0])


def test_measure_blocks_times_every_block_within_model_loads():
    from plcore.gpu.loadtime import measure_blocks

    zoo = build_zoo("resnet18", n_clusters=1, models_per_cluster=2, shared_depth=8, scale=0.125)
    # torch_to runs here too (a CPU `.to` copies nothing): its branch is exercised, not measured.
    blocks, models, issue = measure_blocks(zoo, torch.device("cpu"),
                                           ["packed_pageable", "torch_to"], repeats=3, warmup=1)
    assert issue == {}                   # issue times are of asynchronous (GPU) copies only
    assert set(blocks) == set(zoo.blocks) and set(models) == set(zoo.models)
    for b, by_path in blocks.items():
        assert set(by_path) == {"packed_pageable", "torch_to"}, b
        assert by_path["packed_pageable"]["n"] == 3 and by_path["packed_pageable"]["median"] > 0
    for m, by_path in models.items():
        assert by_path["packed_pageable"]["n"] == 3 and by_path["packed_pageable"]["median"] > 0


def test_validate_reports_errors():
    zoo = build_zoo("resnet18", models_per_cluster=2, shared_depth=8, scale=0.125)
    d = zoo.instance_dict({m: 1e-3 for m in zoo.models},
                          loader={"bandwidth_Bps": 1e9, "overhead_s": 0.0})
    d.update(users=[{"model": m, "data_bits": 1.0, "deadline_s": 10.0, "spectral_eff": 1.0}
                    for m in zoo.models], rate="linear", bandwidth_hz=1e6)
    out = validate(PartialLoader(zoo, "cpu"), plcore.Instance.from_dict(d), [0, 1])
    assert out["makespan_rel_err"] >= 0 and out["users"] == 2
    assert out["start_err_s"]["max_abs"] >= out["start_err_s"]["median_abs"] >= 0


def test_pinned_path_needs_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="needs a CUDA device"):
        PartialLoader(build_zoo("resnet18", models_per_cluster=1, scale=0.125), "cpu",
                      path="packed_pinned")


def test_measured_profile_is_schema_valid_on_this_machine():
    from plcore.gpu.loadtime import measure_profile

    prof = measure_profile("cpu", archs=("resnet18",), batches=(1, 2), repeats=2, warmup=1,
                           scale=0.125, validation_users=4, progress=lambda *_: None)
    validate_profile(json.loads(json.dumps(prof)))
    assert prof["synthetic"] is False and prof["h2d_pinned_peak_Bps"] is None
    assert set(prof["paths"]) == {"packed_pageable", "disk"}
    a = prof["architectures"]["resnet18"]
    assert prof["loader_Bps"] == pytest.approx(
        sum(b["bytes"] for b in a["blocks"]) / a["model_load_s"]["packed_pageable"])
    assert prof["method"]["disk_fs"]               # where the disk path's files were


def test_measure_keeps_what_it_measured_when_a_late_stage_fails(tmp_path, monkeypatch):
    import plcore.gpu.loadtime as lt

    def broken(*args, **kwargs):
        raise RuntimeError("validation failed")

    args = ["--out", str(tmp_path / "p.json"), "--device", "cpu", "--archs", "resnet18",
            "--scale", "0.125", "--repeats", "2", "--warmup", "1", "--batches", "1"]
    monkeypatch.setattr(lt, "validation_run", broken)
    with pytest.raises(RuntimeError, match="validation failed"):
        lt.main(args)
    assert not (tmp_path / "p.json").exists()
    partial = json.loads((tmp_path / "p.json.partial").read_text())
    assert partial["loader_Bps"] > 0 and "resnet18" in partial["architectures"]
    monkeypatch.undo()
    assert lt.main(args) == 0                       # a full run leaves the profile alone
    validate_profile(json.loads((tmp_path / "p.json").read_text()))
    assert not (tmp_path / "p.json.partial").exists()


@pytest.mark.parametrize("path", sorted(PROFILES.glob("*.json")), ids=lambda p: p.name)
def test_committed_profiles_are_schema_valid(path):
    validate_profile(json.loads(path.read_text()))


@pytest.mark.parametrize("change,message", [
    (lambda p: p.pop("device"), "missing 'device'"),
    (lambda p: p["paths"]["disk"].update(bandwidth_Bps=-1), "paths.disk.bandwidth_Bps"),
    (lambda p: p["architectures"]["resnet50"]["blocks"][0].update(bytes=0), r"blocks\[0\].bytes"),
    (lambda p: p.update(schema="other/9"), "schema"),
])
def test_bad_profiles_are_rejected(change, message):
    prof = json.loads((PROFILES / "synthetic.json").read_text())
    change(prof)
    with pytest.raises(ValueError, match=message):
        validate_profile(prof)
