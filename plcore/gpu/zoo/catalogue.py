"""A torch zoo for any catalogue: one real module per catalogue block, its models as block chains.

A catalogue (an :class:`~plcore.model.instance.Instance`, users ignored) names blocks and gives
their bytes; :func:`zoo_for_catalogue` builds a network of that structure for each, so a server can
load the blocks and run real inference. Blocks are recognised by name:

* **build_zoo blocks**: ``c{c}.{part}`` or ``c{c}m{i}.{part}`` used by models named
  ``{arch}-c{c}-m{i}`` (as :func:`~plcore.gpu.zoo.build_zoo` names them): the same networks, with
  the same seeded weights, as ``build_zoo(arch, ..., seed=seed, scale=scale)`` builds.
* **ResNet stages**: a name whose last dotted part is ``stem``, ``layer1`` to ``layer4`` (a whole
  stage: ``nn.Sequential`` of its residual units) or ``fc`` (pooling and classifier). The network
  (ResNet-18, -34, -50 or -101) is the one whose stage has the catalogue's bytes; the classes of a
  head follow from its bytes, ``(features * c + c) * 4`` with the features of the stage before it.
  Batch normalisation is counted and run as at inference, its statistics folded into a per-channel
  scale and shift (:class:`ChannelAffine`): two fp32 parameters per channel, as a catalogue of
  parameter counts has it.
* **sized blocks**: any other block, a residual low-rank MLP on a feature vector
  (:class:`SizedBlock`) whose fp32 parameters take exactly the catalogue's bytes (rounded to a
  whole byte: a catalogue may give fractions).

Sizes are checked at ``scale = 1``: a recognised block whose structure takes more bytes than the
catalogue's, or fewer by more than :data:`FILLER_TOLERANCE` of them, raises :class:`ValueError`
naming it. A smaller difference (a catalogue's rounded counts) is carried as an unused ``filler``
buffer, so the bytes loaded and held are exactly the catalogue's.

**Consistent chains.** A model is served as one network only if its blocks fit together: a ResNet
chain is ``stem``, ``layer1`` ... ``layerk`` in order with matching channels, then optionally one
``fc``; a build_zoo chain is its architecture's block list; a sized chain is any list of sized
blocks, each mapping a feature vector of width :data:`FEATURES` (times ``scale``) to one of the
same width. A model whose chain does not fit (mixed kinds, stages out of order, a head seen after
different features by two models) has all its blocks made sized blocks, which may break the chain
of another model sharing one of them: repeated until no chain changes. Every catalogue is then
served; a block shared by models is one module, shared by their networks.

``scale < 1`` shrinks widths (ResNet base width ``64 * scale``, feature width, a sized block's or a
filler's bytes by ``scale ** 2``) for fast CPU tests; the bytes then differ from the catalogue's and
the zoo's own bytes (:func:`with_zoo_bytes`) are what a server loads and accounts.
"""

from __future__ import annotations

import functools
import re
import zlib

import torch
from torch import nn

from ...model.instance import Instance
from .networks import (ARCHITECTURES, RESNET_LAYERS, PoolFC, Stem, build_blocks, input_shape,
                       resnet_stage, stage_channels)
from .zoo import Zoo, tensor_bytes

FEATURES = 1024            # feature width of sized chains at scale 1
FILLER_TOLERANCE = 0.01    # largest share of a recognised block's bytes carried as filler
STAGES = ("stem", "layer1", "layer2", "layer3", "layer4", "fc")
IMAGE = (3, 224, 224)      # input of a ResNet chain

_ZOO_MODEL = re.compile(r"^(%s)-c(\d+)-m(\d+)$" % "|".join(map(re.escape, ARCHITECTURES)))
_ZOO_BLOCK = re.compile(r"^c(\d+)(?:m(\d+))?\.(.+)$")


class ChannelAffine(nn.Module):
    """Batch normalisation at inference, statistics folded in: ``y = x * weight + bias`` per channel.

    Parameters
    ----------
    channels : int

    Notes
    -----
    Shapes: ``(batch, channels, height, width)`` in and out; ``2 * channels`` fp32 parameters.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(1 + 0.1 * torch.randn(channels))
        self.bias = nn.Parameter(0.1 * torch.randn(channels))

    def forward(self, x):
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with every ``BatchNorm2d`` replaced by a :class:`ChannelAffine` (in place)."""
    for name, child in list(module.named_children()):
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, ChannelAffine(child.num_features))
        else:
            fold_batchnorm(child)
    return module


class SizedBlock(nn.Module):
    """A block of exactly ``nbytes`` bytes on a feature vector: ``y = x + relu(x A + c) B + t``.

    ``A`` is ``(width, rank)``, ``c`` ``(rank,)``, ``B`` ``(rank, width)``, with the largest rank
    that fits in ``nbytes // 4`` fp32 values; the ``rest < 2 * width + 1`` values left are the
    bias ``t`` (its first ``width`` values added to the features, the others to the first
    features again). ``nbytes % 4`` bytes are an unused ``filler`` buffer (uint8).

    Parameters
    ----------
    nbytes : int
        Bytes of its tensors (0 or more).
    width : int
        Feature width.
    generator : torch.Generator
        Seeded source of the weights.

    Notes
    -----
    Shapes: ``(batch, width)`` in and out. Time ``O(batch * nbytes / 4)``.
    """

    def __init__(self, nbytes: int, width: int, generator: torch.Generator):
        super().__init__()
        values, pad = divmod(int(nbytes), 4)
        self.width = width
        self.rank, rest = divmod(values, 2 * width + 1)
        if self.rank:
            self.down = nn.Parameter(torch.randn(width, self.rank, generator=generator)
                                     / width ** 0.5)
            self.hidden_bias = nn.Parameter(0.1 * torch.randn(self.rank, generator=generator))
            self.up = nn.Parameter(0.5 * torch.randn(self.rank, width, generator=generator)
                                   / self.rank ** 0.5)
        self.rest = rest
        if rest:
            self.bias = nn.Parameter(0.1 * torch.randn(rest, generator=generator))
        if pad:
            self.register_buffer("filler", torch.zeros(pad, dtype=torch.uint8))

    def forward(self, x):
        y = x
        if self.rank:
            y = y + torch.relu(x @ self.down + self.hidden_bias) @ self.up
        if self.rest:
            w = self.width
            y = y + nn.functional.pad(self.bias[:w], (0, max(0, w - self.rest)))
            if self.rest > w:
                y = y + nn.functional.pad(self.bias[w:], (0, 2 * w - self.rest))
        return y


def _with_filler(module: nn.Module, nbytes: int) -> nn.Module:
    if nbytes > 0:
        module.register_buffer("filler", torch.zeros(nbytes, dtype=torch.uint8))
    return module


def _resnet_part(part: str, width: int, *, arch: str | None = None, classes: int = 1,
                 features: int = 1) -> nn.Module:
    """A ResNet block with batch normalisation folded: ``part`` one of :data:`STAGES`.

    ``arch`` for a stage, ``classes`` and ``features`` (input channels) for ``fc``.
    """
    if part == "stem":
        module = Stem(width)
    elif part == "fc":
        module = PoolFC(features, classes)
    else:
        module = nn.Sequential(*(u for _, u in resnet_stage(arch, int(part[5:]), width)))
    return fold_batchnorm(module).eval()


@functools.lru_cache(maxsize=None)
def _part_bytes(arch: str, part: str) -> int:
    """Bytes of a ResNet stage block at scale 1 (built on the meta device: no data)."""
    with torch.device("meta"):
        return tensor_bytes(_resnet_part(part, 64, arch=arch))


@functools.lru_cache(maxsize=None)
def _zoo_names_bytes(arch: str, depth: int | None) -> dict[str, int]:
    """build_zoo's block names of ``arch`` at scale 1 and their bytes (meta device)."""
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        return {n: tensor_bytes(m) for n, m in build_blocks(arch, depth=depth)}


def _block_seed(seed: int, name: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2 ** 63)


def _match_stage(block: str, part: str, nbytes: int) -> tuple[str, int]:
    """The ResNet whose stage ``part`` has ``nbytes`` (filler within the tolerance): (arch, filler)."""
    found = []
    for arch in RESNET_LAYERS:
        filler = nbytes - _part_bytes(arch, part)
        if 0 <= filler <= FILLER_TOLERANCE * nbytes:
            found.append((filler, arch))
    if not found:
        sizes = ", ".join(f"{a} {_part_bytes(a, part)}" for a in RESNET_LAYERS)
        raise ValueError(f"block {block!r}: named as a ResNet {part!r} block, but its {nbytes} "
                         f"bytes are no ResNet's {part} at scale 1 ({sizes} bytes, with batch "
                         f"normalisation folded; up to {FILLER_TOLERANCE:.0%} more allowed)")
    filler, arch = min(found, key=lambda f: f[0])     # ties: identical stages, the first arch
    return arch, filler


def _classify(cat: Instance) -> dict[str, dict]:
    """Each block's kind from its name (and, for build_zoo names, the models using it)."""
    used_by: dict[str, set] = {b: set() for b in cat.blocks}
    for m, model in cat.models.items():
        mm = _ZOO_MODEL.match(m)
        for b in model.blocks:
            used_by[b].add(mm.group(1) if mm else None)
    kinds = {}
    for b, block in cat.blocks.items():
        nbytes = int(round(block.bytes))
        archs, mb = used_by[b], _ZOO_BLOCK.match(b)
        part = b.rpartition(".")[2]
        arch = next(iter(archs)) if len(archs) == 1 else None
        if mb and arch is not None and \
                (mb.group(3) in _zoo_names_bytes(arch, None)
                 or arch == "vit_b16" and re.fullmatch(r"encoder\.\d+", mb.group(3))):
            kinds[b] = {"kind": "zoo", "arch": arch, "cluster": int(mb.group(1)),
                        "model": None if mb.group(2) is None else int(mb.group(2)),
                        "part": mb.group(3), "bytes": nbytes}
        elif part in STAGES:
            kinds[b] = {"kind": "resnet", "part": part, "bytes": nbytes}
            if part != "fc":
                kinds[b]["arch"], kinds[b]["filler"] = _match_stage(b, part, nbytes)
        else:
            kinds[b] = {"kind": "sized", "bytes": nbytes}
    return kinds


def _resnet_chain(kinds: list[dict]) -> tuple[str, int] | None:
    """(arch, features before the head) of a valid ResNet chain at scale 1, else None."""
    parts = [k["part"] for k in kinds]
    stages = parts[1:-1] if parts[-1] == "fc" and len(parts) > 1 else parts[1:]
    if parts[0] != "stem" or stages != [f"layer{s}" for s in range(1, len(stages) + 1)]:
        return None
    channels, arch = 64, "resnet"
    for s, k in enumerate(kinds[1:1 + len(stages)], start=1):
        cin, cout = stage_channels(k["arch"], s)
        if cin != channels:
            return None
        channels, arch = cout, k["arch"]
    return arch, channels


def _zoo_chain(kinds: list[dict]) -> bool:
    """Whether the blocks are one architecture's build_zoo block list, in order."""
    arch = kinds[0]["arch"]
    if any(k["arch"] != arch for k in kinds):
        return False
    parts = [k["part"] for k in kinds]
    if arch == "vit_b16":
        return len(parts) >= 3 and parts == ["embed", *(f"encoder.{i}"
                                                        for i in range(len(parts) - 2)), "head"]
    return parts == list(_zoo_names_bytes(arch, None))


def _settle(cat: Instance, kinds: dict[str, dict]) -> tuple[dict[str, str], dict[str, int]]:
    """Make every chain consistent (see the module docstring): each model's arch, heads' features.

    Notes
    -----
    Each round demotes at least one block or ends: at most ``n_blocks + 1`` rounds of
    ``O(total chain length)``.
    """
    while True:
        arch_of, features, demote = {}, {}, set()
        for m, model in cat.models.items():
            ks = [kinds[b] for b in model.blocks]
            kind = ks[0]["kind"]
            if any(k["kind"] != kind for k in ks):
                demote.add(m)
            elif kind == "sized":
                arch_of[m] = "sized"
            elif kind == "zoo":
                if _zoo_chain(ks):
                    arch_of[m] = ks[0]["arch"]
                else:
                    demote.add(m)
            else:
                chain = _resnet_chain(ks)
                if chain is None:
                    demote.add(m)
                else:
                    arch_of[m] = chain[0]
                    if ks[-1]["part"] == "fc":
                        features.setdefault(model.blocks[-1], {})[m] = chain[1]
        for fc, seen in features.items():       # one head, one input width
            if len(set(seen.values())) > 1:
                demote.update(seen)
        changed = False
        for m in demote:
            for b in cat.models[m].blocks:
                if kinds[b]["kind"] != "sized":
                    kinds[b] = {"kind": "sized", "bytes": kinds[b]["bytes"]}
                    changed = True
        if not changed:
            return arch_of, {fc: next(iter(seen.values())) for fc, seen in features.items()}


def _head_classes(block: str, nbytes: int, features: int) -> tuple[int, int]:
    """(classes, filler) of a ResNet head of ``nbytes`` after ``features`` channels."""
    classes = nbytes // 4 // (features + 1)
    filler = nbytes - 4 * (features + 1) * classes
    if classes < 1 or filler > FILLER_TOLERANCE * nbytes:
        raise ValueError(f"block {block!r}: named as a ResNet head after {features} features, "
                         f"but its {nbytes} bytes are not (features * c + c) * 4 for a class "
                         f"count c (nearest: c = {max(classes, 1)}, "
                         f"{4 * (features + 1) * max(classes, 1)} bytes)")
    return classes, filler


def zoo_for_catalogue(catalogue: Instance, *, scale: float = 1.0, seed: int = 0) -> Zoo:
    """One torch module per catalogue block, the catalogue's models as chains of them.

    Parameters
    ----------
    catalogue : Instance
        Blocks (bytes) and models (block lists); users, times and radio are ignored.
    scale : float
        Width scale, ``0 < scale <= 1``: 1 builds blocks of the catalogue's bytes (see the module
        docstring), less shrinks them for fast tests.
    seed : int
        Seed of every weight (a block's weights depend on the seed and its name only; a
        build_zoo block's are build_zoo's for the same seed).

    Returns
    -------
    Zoo
        ``blocks`` in the catalogue's order, ``models`` its block lists, ``arch`` each model's
        network (``"resnet50"``..., ``"vit_b16"``, ``"sized"``), ``inputs`` each model's input
        shape (one item), ``meta["kinds"]`` each block's kind (``"resnet"``, ``"zoo"``,
        ``"sized"``) and ``meta["features"]`` the sized chains' feature width.

    Raises
    ------
    ValueError
        For a bad ``scale``, or a recognised block whose bytes do not fit its structure (the
        message names the block).

    Examples
    --------
    >>> import plcore
    >>> cat = plcore.load_instance("data/instances/example.json")
    >>> zoo = zoo_for_catalogue(cat, scale=0.125)
    >>> zoo.arch["r50-cars"], zoo.output_shape("r50-cars"), zoo.output_shape("r50-pets")
    ('resnet50', (196,), (37,))
    >>> zoo.blocks["r50.layer4"] is zoo.module("r50-birds")[4]
    True

    Notes
    -----
    Building takes the time of initialising every weight once: O(total bytes * scale ** 2).
    """
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale!r}")
    kinds = _classify(catalogue)
    arch_of, features = _settle(catalogue, kinds)
    width = max(1, round(64 * scale))                        # as build_blocks scales a ResNet
    sized_width = max(8, round(FEATURES * scale))
    vit_depth = max([int(k["part"].split(".")[1]) + 1 for k in kinds.values()
                     if k["kind"] == "zoo" and k["part"].startswith("encoder.")]
                    + [12 if scale >= 1 else 2])
    nets: dict[tuple, dict] = {}
    blocks: dict[str, nn.Module] = {}
    with torch.random.fork_rng(devices=[]):
        for b, k in kinds.items():
            if k["kind"] == "zoo":
                blocks[b] = _zoo_block(b, k, nets, scale, seed, vit_depth)
                continue
            torch.manual_seed(_block_seed(seed, b))
            if k["kind"] == "sized":
                g = torch.Generator().manual_seed(_block_seed(seed, b))
                blocks[b] = SizedBlock(int(k["bytes"] * scale ** 2), sized_width, g).eval()
            elif k["part"] == "fc":
                f = features[b]                          # channels at scale 1: 64 * 2 ** j
                classes, filler = _head_classes(b, k["bytes"], f)
                blocks[b] = _with_filler(_resnet_part("fc", width, classes=classes,
                                                      features=f // 64 * width),
                                         int(filler * scale ** 2))
            else:
                blocks[b] = _with_filler(_resnet_part(k["part"], width, arch=k["arch"]),
                                         int(k["filler"] * scale ** 2))
    inputs = {}
    for m, a in arch_of.items():
        if a == "sized":
            inputs[m] = (sized_width,)
        elif a in ARCHITECTURES and kinds[catalogue.models[m].blocks[0]]["kind"] == "zoo":
            inputs[m] = input_shape(a, scale)
        else:
            inputs[m] = IMAGE
    return Zoo(blocks=blocks, models={m: list(md.blocks) for m, md in catalogue.models.items()},
               arch=arch_of, scale=scale, inputs=inputs,
               meta={"catalogue": True, "seed": seed, "scale": scale, "features": sized_width,
                     "kinds": {b: k["kind"] for b, k in kinds.items()}})


def _zoo_block(b: str, k: dict, nets: dict, scale: float, seed: int,
               vit_depth: int) -> nn.Module:
    """A build_zoo block, built as build_zoo builds it; its bytes checked against the catalogue."""
    net_seed = seed * 1000 + k["cluster"] + (0 if k["model"] is None else 7919 * (k["model"] + 1))
    depth = vit_depth if k["arch"] == "vit_b16" else None
    key = (k["arch"], net_seed)
    if key not in nets:
        nets[key] = dict(build_blocks(k["arch"], scale=scale, seed=net_seed, depth=depth))
    module = nets[key][k["part"]]
    full = _zoo_names_bytes(k["arch"], None if depth is None else max(depth, 12))[k["part"]]
    if k["bytes"] not in (full, tensor_bytes(module)):
        raise ValueError(f"block {b!r}: named as build_zoo's {k['arch']} block {k['part']!r}, "
                         f"but its {k['bytes']} bytes are neither that block's {full} bytes at "
                         f"scale 1 nor its {tensor_bytes(module)} bytes at scale {scale:g}")
    return module


def with_zoo_bytes(catalogue: Instance, zoo: Zoo) -> Instance:
    """The catalogue with each block's bytes replaced by the zoo's real bytes (what is loaded).

    Per-block load times, the loader profile and everything else are kept as they are.

    Examples
    --------
    >>> import plcore
    >>> cat = plcore.load_instance("data/instances/example.json")
    >>> real = with_zoo_bytes(cat, zoo_for_catalogue(cat, scale=0.125))
    >>> cat.blocks["r50-cars.fc"].bytes, real.blocks["r50-cars.fc"].bytes
    (1606416.0, 201488.0)
    """
    d = catalogue.to_dict()
    for b, block in d["blocks"].items():
        block["bytes"] = zoo.block_bytes(b)
    return Instance.from_dict(d)
