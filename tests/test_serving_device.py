"""A zoo for any catalogue, and the serving device that loads its blocks into a fixed arena (CPU)."""

import pytest
import torch

import plcore
from plcore.gpu.device import BlockDevice
from plcore.gpu.loader import ALIGN
from plcore.gpu.zoo import build_zoo
from plcore.gpu.zoo.catalogue import FEATURES, SizedBlock, with_zoo_bytes, zoo_for_catalogue
from plcore.online.catalogue import cluster_catalogue

EXAMPLE = "data/instances/example.json"
# torchvision's ResNet-50 parameter counts per stage (its fc: 2048 * 1000 + 1000).
R50_PARAMS = {"stem": 9_536, "layer1": 215_808, "layer2": 1_219_584, "layer3": 7_098_368,
              "layer4": 14_964_736}
R50_UNITS = {"layer1": 3, "layer2": 4, "layer3": 6, "layer4": 3}


def catalogue(blocks: dict, models: dict) -> plcore.Instance:
    """An instance of ``blocks`` (name to bytes) and ``models`` (name to block list), no users."""
    return plcore.Instance.from_dict({
        "blocks": {b: {"bytes": n} for b, n in blocks.items()},
        "loader": {"bandwidth_Bps": 1e10, "overhead_s": 0.0},
        "models": {m: {"blocks": bs, "infer_s": 0.01} for m, bs in models.items()},
        "users": [], "bandwidth_hz": 1e6, "rate": "linear"})


@pytest.fixture(scope="module")
def example():
    return plcore.load_instance(EXAMPLE)


def params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_example_at_scale_1_has_the_catalogues_bytes(example):
    zoo = zoo_for_catalogue(example)
    assert {b: zoo.block_bytes(b) for b in zoo.blocks} == \
        {b: int(blk.bytes) for b, blk in example.blocks.items()}
    assert set(zoo.meta["kinds"].values()) == {"resnet"}
    for b, m in zoo.blocks.items():
        part = b.rpartition(".")[2]
        if part in R50_PARAMS:          # the real ResNet-50 stage, plus a small filler
            assert params(m) == R50_PARAMS[part], b
            assert 0 <= example.blocks[b].bytes - 4 * params(m) <= 0.01 * example.blocks[b].bytes
        if part in R50_UNITS:
            assert len(m) == R50_UNITS[part]
    for model, md in example.models.items():
        classes = example.blocks[md.blocks[-1]].bytes / 4 / 2049
        assert zoo.arch[model] == "resnet50"
        assert zoo.input_spec(model) == ((3, 224, 224), torch.float32)
        assert zoo.output_shape(model) == (classes,)


def test_models_sharing_a_block_share_its_module(example):
    zoo = zoo_for_catalogue(example, scale=0.125)
    cars, birds, flowers = (zoo.module(m) for m in ("r50-cars", "r50-birds", "r50-flowers"))
    assert all(cars[i] is birds[i] for i in range(5)) and cars[5] is not birds[5]
    assert flowers[3] is cars[3] and flowers[4] is not cars[4]
    assert flowers[4] is zoo.blocks["r50-ft.layer4"]


def test_example_at_small_scale_runs_and_reports_real_bytes(example):
    zoo = zoo_for_catalogue(example, scale=0.125)
    real = with_zoo_bytes(example, zoo)
    assert all(real.blocks[b].bytes == zoo.block_bytes(b) < example.blocks[b].bytes
               for b in zoo.blocks)
    assert real.models == example.models and real.loader == example.loader
    with torch.inference_mode():
        for m in zoo.models:
            y = zoo.module(m)(zoo.example_input(m, 2))
            assert y.shape == (2, *zoo.output_shape(m)) and torch.isfinite(y).all()


def test_same_seed_same_weights_other_seed_others(example):
    def state(zoo):
        return {b: m.state_dict() for b, m in zoo.blocks.items()}

    a, b, c = (zoo_for_catalogue(example, scale=0.125, seed=s) for s in (3, 3, 4))
    assert all(torch.equal(a_t, state(b)[blk][k]) for blk, st in state(a).items()
               for k, a_t in st.items())
    assert not torch.equal(a.blocks["r50.layer1"][0].conv1.weight,
                           c.blocks["r50.layer1"][0].conv1.weight)


def test_cluster_catalogue_gives_sized_blocks_of_its_bytes():
    cat = cluster_catalogue(n_clusters=2, models_per_cluster=2, backbone_blocks=3,
                            backbone_bytes=3 * 40_003.5, head_bytes=6_002)
    zoo = zoo_for_catalogue(cat)
    assert set(zoo.meta["kinds"].values()) == {"sized"}
    assert {b: zoo.block_bytes(b) for b in zoo.blocks} == \
        {b: round(blk.bytes) for b, blk in cat.blocks.items()}
    assert zoo.input_spec("c0m0") == ((FEATURES,), torch.float32)
    assert zoo.output_shape("c1m1") == (FEATURES,)
    assert zoo.blocks["c0.b0"] is zoo.module("c0m1")[0]


@pytest.mark.parametrize("nbytes", [0, 3, 4 * 700, 4 * 1500 + 2, 4 * (3 * 65 + 70) + 1])
def test_sized_block_against_its_formula(nbytes):
    """y = x + relu(x A + c) B + t, the bias t folded onto the features one value at a time."""
    width = 64
    block = SizedBlock(nbytes, width, torch.Generator().manual_seed(nbytes))
    assert sum(t.numel() * t.element_size() for t in (*block.parameters(), *block.buffers())) \
        == nbytes
    x = torch.randn(3, width, generator=torch.Generator().manual_seed(1))
    want = x.clone()
    if block.rank:
        h = (x.unsqueeze(2) * block.down.unsqueeze(0)).sum(1) + block.hidden_bias
        want += (h.clamp(min=0).unsqueeze(2) * block.up.unsqueeze(0)).sum(1)
    for j in range(block.rest):
        want[:, j % width] += block.bias[j]
    with torch.inference_mode():
        torch.testing.assert_close(block(x), want)


def test_build_zoo_catalogues_give_build_zoos_networks():
    for zoo in (build_zoo("resnet18", n_clusters=2, models_per_cluster=2, shared_depth=7,
                          scale=0.125, seed=5),
                build_zoo("vit_b16", models_per_cluster=3, sharing="general", private_blocks=2,
                          scale=0.05, seed=5)):
        d = zoo.instance_dict({m: 0.01 for m in zoo.models},
                              loader={"bandwidth_Bps": 1e10, "overhead_s": 0.0})
        d.update(users=[], rate="linear", bandwidth_hz=1e6)
        again = zoo_for_catalogue(plcore.Instance.from_dict(d), scale=zoo.scale, seed=5)
        assert set(again.meta["kinds"].values()) == {"zoo"}
        assert again.models == zoo.models and again.arch == zoo.arch
        for b, m in zoo.blocks.items():
            got = again.blocks[b].state_dict()
            assert all(torch.equal(t, got[k]) for k, t in m.state_dict().items()), b
        m = next(iter(zoo.models))
        assert again.input_spec(m) == zoo.input_spec(m)


def test_inconsistent_chains_become_sized_chains():
    stem, r18_layer1 = 38_144, 591_872          # ResNet-18: its stem, its first stage
    head = (64 * 10 + 10) * 4                   # 10 classes after 64 channels
    cat = catalogue({"a.stem": stem, "a.layer1": r18_layer1, "a.fc": head, "x.b0": 4_000,
                     "b.stem": stem, "b.layer1": r18_layer1, "b.fc": head,
                     "c.stem": stem, "c.layer1": r18_layer1},
                    {"good": ["b.stem", "b.layer1", "b.fc"],
                     "spoilt": ["a.stem", "a.layer1", "a.fc"],   # shares a.stem with "mixed"
                     "mixed": ["a.stem", "x.b0"],
                     "upside-down": ["c.layer1", "c.stem"]})
    zoo = zoo_for_catalogue(cat)
    kinds = zoo.meta["kinds"]
    assert {kinds[b] for b in ("b.stem", "b.layer1", "b.fc")} == {"resnet"}
    assert {kinds[b] for b in cat.blocks if not b.startswith("b.")} == {"sized"}
    assert zoo.arch == {"good": "resnet18", "spoilt": "sized", "mixed": "sized",
                        "upside-down": "sized"}
    assert {b: zoo.block_bytes(b) for b in zoo.blocks} == \
        {b: int(blk.bytes) for b, blk in cat.blocks.items()}
    assert zoo.output_shape("good") == (10,)
    with torch.inference_mode():
        for m in zoo.models:
            assert zoo.module(m)(zoo.example_input(m)).shape == (1, *zoo.output_shape(m))


@pytest.mark.parametrize("block,nbytes,message", [
    ("r50.layer3", 28_442_624 * 105 // 100, "'r50.layer3'.*no ResNet's layer3"),
    ("r50.stem", 38_000, "'r50.stem'"),                   # fewer bytes than the structure
    ("r50-pets.fc", 1_000, "'r50-pets.fc'.*ResNet head after 2048 features"),
])
def test_recognised_blocks_of_the_wrong_size_are_refused(example, block, nbytes, message):
    d = example.to_dict()
    d["blocks"][block]["bytes"] = nbytes
    with pytest.raises(ValueError, match=message):
        zoo_for_catalogue(plcore.Instance.from_dict(d))


def test_build_zoo_block_of_the_wrong_size_and_bad_scales_are_refused():
    zoo = build_zoo("resnet18", models_per_cluster=1, scale=0.125)
    d = zoo.instance_dict({m: 0.01 for m in zoo.models},
                          loader={"bandwidth_Bps": 1e10, "overhead_s": 0.0})
    d.update(users=[], rate="linear", bandwidth_hz=1e6)
    d["blocks"]["c0.layer2.1"]["bytes"] += 4
    with pytest.raises(ValueError, match="'c0.layer2.1'.*build_zoo's resnet18"):
        zoo_for_catalogue(plcore.Instance.from_dict(d), scale=0.125)
    for scale in (0, -1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="scale"):
            zoo_for_catalogue(plcore.Instance.from_dict(d), scale=scale)


def served(dev, zoo, model, seed=0):
    """The model's output through the device, and the same zoo module's on the CPU."""
    x = zoo.example_input(model, 2, seed=seed)
    y, seconds = dev.infer(model, x)
    assert seconds > 0
    with torch.inference_mode():
        return y.cpu(), zoo.module(model)(x)


def test_served_outputs_are_bit_identical_through_evictions_and_compaction(example, tmp_path):
    zoo = zoo_for_catalogue(example, scale=0.125)
    cars = zoo.models["r50-cars"]
    stem, l1, l2, l3, l4, cars_fc = cars
    probe = BlockDevice(zoo, capacity_bytes=ALIGN, path="packed_pageable")
    pad = {b: probe.padded_bytes(b) for b in zoo.blocks}
    # Room for the cars model and the free space ft.layer4 needs once l1 and l3 are evicted,
    # but (below) never in one piece: loading it needs a compaction.
    capacity = sum(pad[b] for b in cars) + pad[l4] - pad[l3] - pad[l1] + 100
    dev = BlockDevice(zoo, capacity_bytes=capacity, store_dir=tmp_path, path="disk")
    buffer = dev.arena.buffer
    assert buffer.numel() == capacity and dev.capacity == capacity - 100
    assert dev.fits(cars) and not dev.fits([*cars, "r50-ft.layer4"])

    assert dev.load(cars) > 0 and dev.last_load["compaction_s"] == 0
    assert dev.last_load["bytes"] == sum(zoo.block_bytes(b) for b in cars)
    y, ref = served(dev, zoo, "r50-cars")
    assert torch.equal(y, ref)

    dev.evict([l1, l3])
    holes = [size for _, size in dev.arena.free]
    assert max(holes) < pad["r50-ft.layer4"] <= sum(holes)      # fragmented
    assert dev.load(["r50-ft.layer4"]) > 0
    assert dev.last_load["compaction_s"] > 0 and dev.last_load["moved_bytes"] > 0
    assert dev.stats["compactions"] == 1

    dev.evict([l4, cars_fc])
    dev.load(["r50-flowers.fc", l3, l1])                          # another order
    y, ref = served(dev, zoo, "r50-flowers", seed=1)
    assert torch.equal(y, ref)
    dev.evict(["r50-ft.layer4", "r50-flowers.fc"])
    dev.load([cars_fc, l4])
    y, ref = served(dev, zoo, "r50-cars", seed=2)
    assert torch.equal(y, ref)
    assert dev.arena.buffer is buffer and buffer.numel() == capacity     # never reallocated
    assert dev.used_bytes == sum(pad[b] for b in cars) <= dev.capacity


@pytest.mark.parametrize("a_bytes,d_bytes", [(20_000, 55_000), (400, 40_400)])
def test_compaction_moves_overlapping_blocks_exactly(a_bytes, d_bytes):
    """b moves down by a's slot: in pieces (a large gap), or from its host buffer (a tiny one)."""
    cat = catalogue({"a": a_bytes, "b": 60_000, "c": 40_000, "d": d_bytes},
                    {"abc": ["a", "b", "c"], "bd": ["b", "d"]})
    zoo = zoo_for_catalogue(cat)
    probe = BlockDevice(zoo, capacity_bytes=ALIGN, path="packed_pageable")
    pad = {b: probe.padded_bytes(b) for b in zoo.blocks}
    dev = BlockDevice(zoo, capacity_bytes=pad["a"] + pad["b"] + pad["c"],
                      path="packed_pageable")
    dev.load(["a", "b", "c"])
    y, ref = served(dev, zoo, "abc")
    assert torch.equal(y, ref)
    dev.evict(["a", "c"])
    assert max(pad["a"], pad["c"]) < pad["d"] <= pad["a"] + pad["c"]
    dev.load(["d"])
    assert dev.resident["b"] == 0 and dev.last_load["moved_bytes"] == pad["b"]
    y, ref = served(dev, zoo, "bd")
    assert torch.equal(y, ref)
    dev.evict("d")
    dev.load(["c", "a"])
    y, ref = served(dev, zoo, "abc", seed=1)
    assert torch.equal(y, ref)


def test_errors_too_large_full_and_not_resident(example):
    zoo = zoo_for_catalogue(example, scale=0.125)
    probe = BlockDevice(zoo, capacity_bytes=ALIGN, path="packed_pageable")
    l4 = probe.padded_bytes("r50.layer4")
    dev = BlockDevice(zoo, capacity_bytes=l4 - 1, path="packed_pageable")
    with pytest.raises(ValueError, match="'r50.layer4' takes .* more than the arena's capacity"):
        dev.load(["r50.stem", "r50.layer4"])
    assert dev.resident == {}                    # nothing loaded by a refused load
    assert not dev.fits(["r50.layer4"])
    dev.load(["r50.layer3"])
    rest = [b for b in zoo.blocks if not b.endswith(("layer3", "layer4"))]
    assert sum(dev.padded_bytes(b) for b in rest) > dev.capacity - dev.used_bytes
    with pytest.raises(MemoryError, match="evict first"):
        dev.load(rest)
    assert list(dev.resident) == ["r50.layer3"]
    with pytest.raises(RuntimeError, match="not resident"):
        dev.infer("r50-cars", zoo.example_input("r50-cars"))
    with pytest.raises(KeyError, match="no block"):
        dev.load(["nope"])
    with pytest.raises(ValueError, match="capacity_bytes"):
        BlockDevice(zoo, capacity_bytes=0, path="packed_pageable")
    with pytest.raises(ValueError, match="store_dir"):
        BlockDevice(zoo, capacity_bytes=l4)


def test_block_files_are_kept_when_unchanged_and_rewritten_otherwise(example, tmp_path):
    zoo = zoo_for_catalogue(example, scale=0.125)
    cap = 8 << 20
    first = BlockDevice(zoo, capacity_bytes=cap, store_dir=tmp_path)
    assert (first.files_written, first.files_kept) == (len(zoo.blocks), 0)
    stamps = {b: p.stat().st_mtime_ns for b, p in first.files.items()}
    again = BlockDevice(zoo, capacity_bytes=cap, store_dir=tmp_path)
    assert (again.files_written, again.files_kept) == (0, len(zoo.blocks))
    assert {b: p.stat().st_mtime_ns for b, p in again.files.items()} == stamps

    first.files["r50.stem"].write_bytes(first.files["r50.stem"].read_bytes()[:-10])  # truncated
    other = zoo_for_catalogue(example, scale=0.125, seed=1)       # other weights, same names
    for z, written in ((zoo, 1), (other, len(zoo.blocks))):
        dev = BlockDevice(z, capacity_bytes=cap, store_dir=tmp_path, cold=True)
        assert dev.files_written == written
        dev.load(z.models["r50-pets"])
        y, ref = served(dev, z, "r50-pets")
        assert torch.equal(y, ref)
    assert not list(tmp_path.glob(".*"))          # no temporary file left behind


def test_block_names_that_are_no_safe_file_names_are_hashed(tmp_path):
    cat = catalogue({"../up": 1_000, "a/b": 2_000, "ok.b0": 3_000},
                    {"m": ["../up", "a/b", "ok.b0"]})
    zoo = zoo_for_catalogue(cat)
    dev = BlockDevice(zoo, capacity_bytes=1 << 16, store_dir=tmp_path / "store")
    assert all(p.parent == tmp_path / "store" for p in dev.files.values())
    assert dev.files["ok.b0"].name == "ok.b0.safetensors"
    assert len(set(dev.files.values())) == 3
    dev.load(zoo.models["m"])
    y, ref = served(dev, zoo, "m")
    assert torch.equal(y, ref)
