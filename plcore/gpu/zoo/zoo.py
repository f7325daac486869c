"""A zoo of "fine-tuned" models generated from pretrained networks, sharing parameter blocks.

* ``sharing="bottom"``: each cluster is one pretrained network; its models freeze (share) the first
  ``shared_depth`` blocks and carry private weights above: bottom-layer sharing.
* ``sharing="general"``: each model re-trains ``private_blocks`` blocks at random positions and
  shares all the others with its cluster's base: blocks shared at arbitrary positions (as when a
  transformer's frozen base is shared and some middle blocks are fine-tuned).

A block's size is the exact byte count of its tensors (parameters and buffers).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .networks import build_blocks, input_shape


def tensor_bytes(module: nn.Module) -> int:
    """Bytes of every parameter and buffer of ``module``."""
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


def meta_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` whose parameters and buffers are on the meta device (no data).

    The structure is deep-copied with every tensor replaced by its meta twin up front, so no byte
    is copied (``copy.deepcopy(module).to("meta")`` would copy them all first: seconds for a
    ViT-B/16). Tied tensors stay tied.

    Examples
    --------
    >>> from torch import nn
    >>> m = meta_copy(nn.Linear(4, 2))
    >>> m.weight.device.type, tuple(m.weight.shape)
    ('meta', (2, 4))
    """
    memo: dict = {}
    for t in module.parameters():
        memo[id(t)] = nn.Parameter(torch.empty_like(t, device="meta"),
                                   requires_grad=t.requires_grad)
    for t in module.buffers():
        memo[id(t)] = torch.empty_like(t, device="meta")
    return copy.deepcopy(module, memo)


@dataclass
class Zoo:
    """Blocks (CPU modules) and models (ordered block names).

    Attributes
    ----------
    blocks : dict[str, nn.Module]
    models : dict[str, list[str]]
    arch : dict[str, str]
        Architecture of each model.
    scale : float
        Width scale the networks were built with (1.0: the standard sizes).
    meta : dict
        How the zoo was made.
    inputs : dict[str, tuple]
        Input shape of one item (no batch dimension) of the models not in :func:`input_shape`'s
        architectures (e.g. a feature vector); the others need no entry.
    """

    blocks: dict[str, nn.Module]
    models: dict[str, list[str]]
    arch: dict[str, str]
    scale: float = 1.0
    meta: dict = field(default_factory=dict)
    inputs: dict[str, tuple] = field(default_factory=dict)

    def block_bytes(self, name: str) -> int:
        return tensor_bytes(self.blocks[name])

    def model_bytes(self, model: str) -> int:
        return sum(self.block_bytes(b) for b in self.models[model])

    def module(self, model: str) -> nn.Sequential:
        """The model as one CPU module (its blocks are shared with the zoo, not copied)."""
        return nn.Sequential(*(self.blocks[b] for b in self.models[model])).eval()

    def input_spec(self, model: str) -> tuple[tuple[int, ...], torch.dtype]:
        """Shape of one input item (no batch dimension) and its dtype (always float32)."""
        if model in self.inputs:
            return tuple(self.inputs[model]), torch.float32
        return input_shape(self.arch[model], self.scale), torch.float32

    def output_shape(self, model: str) -> tuple[int, ...]:
        """Shape of one output item (no batch dimension), from a forward pass on the meta device.

        Notes
        -----
        No data is read or computed: the model's structure runs on shapes alone, in
        O(number of tensors) time.
        """
        shape, dtype = self.input_spec(model)
        net = meta_copy(self.module(model))
        with torch.inference_mode():
            return tuple(net(torch.empty(1, *shape, dtype=dtype, device="meta")).shape[1:])

    def example_input(self, model: str, batch: int = 1, seed: int = 0) -> torch.Tensor:
        """A seeded standard-normal input batch, shape ``(batch, *input_spec(model)[0])``."""
        g = torch.Generator().manual_seed(seed)
        shape, dtype = self.input_spec(model)
        return torch.randn(batch, *shape, generator=g, dtype=dtype)

    def instance_dict(self, infer_s: dict[str, float], load_s: dict[str, float] | None = None,
                      loader: dict | None = None) -> dict:
        """The blocks and models of a :class:`plcore.Instance` description (no users yet).

        ``infer_s`` maps model to inference time (s); block load times come from ``load_s``
        (block to seconds) or from a ``loader`` profile ``{"bandwidth_Bps", "overhead_s"}``.
        """
        blocks = {}
        for b in self.blocks:
            blocks[b] = {"bytes": self.block_bytes(b)}
            if load_s is not None:
                blocks[b]["load_s"] = float(load_s[b])
        d = {"blocks": blocks,
             "models": {m: {"blocks": list(bs), "infer_s": float(infer_s[m])}
                        for m, bs in self.models.items()}}
        if loader is not None:
            d["loader"] = dict(loader)
        return d


def build_zoo(arch: str = "resnet50", *, n_clusters: int = 1, models_per_cluster: int = 3,
              sharing: str = "bottom", shared_depth: int | None = None, private_blocks: int = 2,
              scale: float = 1.0, seed: int = 0) -> Zoo:
    """Generate a zoo of fine-tuned models with random (seeded) weights.

    Parameters
    ----------
    arch : str
        ``resnet18``, ``resnet34``, ``resnet50``, ``resnet101`` or ``vit_b16``.
    n_clusters, models_per_cluster : int
        Pretrained networks, and models fine-tuned from each.
    sharing : {"bottom", "general"}
    shared_depth : int, optional
        Frozen bottom blocks for ``"bottom"`` (default: all but the head).
    private_blocks : int
        Re-trained blocks per model for ``"general"``.
    scale : float
        Width scale (``< 1`` for fast CPU tests).
    seed : int

    Returns
    -------
    Zoo

    Examples
    --------
    >>> from plcore.gpu.zoo import build_zoo
    >>> zoo = build_zoo("resnet18", models_per_cluster=2, shared_depth=5, scale=0.125)
    >>> zoo.models["resnet18-c0-m0"][:2], zoo.models["resnet18-c0-m1"][5]
    (['c0.stem', 'c0.layer1.0'], 'c0m1.layer3.0')
    """
    if sharing not in ("bottom", "general"):
        raise ValueError(f"sharing must be 'bottom' or 'general', got {sharing!r}")
    rng = np.random.default_rng(seed)
    zoo_blocks: dict[str, nn.Module] = {}
    models: dict[str, list[str]] = {}
    arch_of: dict[str, str] = {}
    for c in range(n_clusters):
        base = build_blocks(arch, scale=scale, seed=seed * 1000 + c)
        n = len(base)
        depth = n - 1 if shared_depth is None else shared_depth
        if not 0 <= depth < n:
            raise ValueError(f"shared_depth must be in 0..{n - 1} for {arch}, got {depth}")
        for i in range(models_per_cluster):
            if sharing == "bottom":
                private = set(range(depth, n))
            else:
                private = set(rng.choice(n, size=min(private_blocks, n), replace=False).tolist())
            # Private weights: a fresh draw of the same architecture (a fine-tuned copy).
            tuned = build_blocks(arch, scale=scale, seed=seed * 1000 + c + 7919 * (i + 1)) \
                if private else None
            names = []
            for j, (bname, module) in enumerate(base):
                key = f"c{c}m{i}.{bname}" if j in private else f"c{c}.{bname}"
                if key not in zoo_blocks:
                    zoo_blocks[key] = tuned[j][1] if j in private else module
                names.append(key)
            name = f"{arch}-c{c}-m{i}"
            models[name] = names
            arch_of[name] = arch
    return Zoo(blocks=zoo_blocks, models=models, arch=arch_of, scale=scale,
               meta={"arch": arch, "sharing": sharing, "seed": seed, "scale": scale,
                     "n_clusters": n_clusters, "models_per_cluster": models_per_cluster,
                     "shared_depth": shared_depth, "private_blocks": private_blocks})
