"""ResNet-18/34/50/101 and a ViT-B/16-sized transformer, written in torch itself, as lists of blocks.

Each network is an ordered list of ``(block name, nn.Module)``: the unit of sharing and of loading.
Running the blocks one after the other is the network's forward pass. Weights are random (seeded),
nothing is downloaded: load times depend on bytes and layout, not on the values.

Blocks: ResNet ``stem``, one block per residual unit (``layer{s}.{i}``), ``fc`` (pooling and the
classifier); ViT ``embed`` (patches, class token, position embedding), ``encoder.{i}``, ``head``
(final norm and classifier). ``width`` scales the channels, for small CPU tests.
"""

from __future__ import annotations

import torch
from torch import nn

RESNET_LAYERS = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3),
                 "resnet50": (3, 4, 6, 3), "resnet101": (3, 4, 23, 3)}
BOTTLENECK = {"resnet18": False, "resnet34": False, "resnet50": True, "resnet101": True}
ARCHITECTURES = (*RESNET_LAYERS, "vit_b16")


def _shortcut(cin: int, out: int, stride: int) -> nn.Module | None:
    """The projection on a residual unit's skip path, where its shape changes (else identity)."""
    if stride == 1 and cin == out:
        return None
    return nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, mid: int, stride: int):
        super().__init__()
        out = mid * self.expansion
        self.conv1 = nn.Conv2d(cin, mid, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, out, stride)

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, mid: int, stride: int):
        super().__init__()
        out = mid * self.expansion
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, out, stride)

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class Stem(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)

    def forward(self, x):
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))


class PoolFC(nn.Module):
    def __init__(self, features: int, classes: int):
        super().__init__()
        self.fc = nn.Linear(features, classes)

    def forward(self, x):
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def stage_channels(name: str, stage: int, width: int = 64) -> tuple[int, int]:
    """(input, output) channels of stage ``stage`` (1 to 4) of the ResNet ``name``."""
    expansion = Bottleneck.expansion if BOTTLENECK[name] else BasicBlock.expansion
    mid = width * 2 ** (stage - 1)
    cin = width if stage == 1 else mid // 2 * expansion
    return cin, mid * expansion


def resnet_stage(name: str, stage: int, width: int = 64) -> list[tuple[str, nn.Module]]:
    """The residual units ``layer{stage}.{i}`` of the ResNet ``name`` (stage 1 to 4)."""
    unit = Bottleneck if BOTTLENECK[name] else BasicBlock
    cin, cout = stage_channels(name, stage, width)
    mid = width * 2 ** (stage - 1)
    return [(f"layer{stage}.{i}", unit(cin if i == 0 else cout, mid,
                                       2 if (i == 0 and stage > 1) else 1))
            for i in range(RESNET_LAYERS[name][stage - 1])]


def resnet_blocks(name: str, classes: int = 1000, width: int = 64) -> list[tuple[str, nn.Module]]:
    """The blocks of a ResNet (``resnet18/34/50/101``); ``width`` 64 is the standard network."""
    blocks: list[tuple[str, nn.Module]] = [("stem", Stem(width))]
    for s in range(1, len(RESNET_LAYERS[name]) + 1):
        blocks += resnet_stage(name, s, width)
    blocks.append(("fc", PoolFC(stage_channels(name, 4, width)[1], classes)))
    return blocks


class Embed(nn.Module):
    def __init__(self, dim: int, patch: int, image: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, dim) * 0.02)

    def forward(self, x):
        x = self.proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return x + self.pos_embed


class Encoder(nn.Module):
    """Pre-norm transformer encoder layer (as in ViT)."""

    def __init__(self, dim: int, heads: int, mlp: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x):
        y = self.ln1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class Head(nn.Module):
    def __init__(self, dim: int, classes: int):
        super().__init__()
        self.ln = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, classes)

    def forward(self, x):
        return self.fc(self.ln(x[:, 0]))


def vit_blocks(classes: int = 1000, dim: int = 768, depth: int = 12, heads: int = 12,
               mlp: int = 3072, patch: int = 16, image: int = 224) -> list[tuple[str, nn.Module]]:
    """The blocks of a ViT; the defaults are ViT-B/16 at 224 x 224 (86.6 M parameters)."""
    blocks: list[tuple[str, nn.Module]] = [("embed", Embed(dim, patch, image))]
    blocks += [(f"encoder.{i}", Encoder(dim, heads, mlp)) for i in range(depth)]
    blocks.append(("head", Head(dim, classes)))
    return blocks


def build_blocks(arch: str, *, classes: int = 1000, scale: float = 1.0, seed: int = 0,
                 depth: int | None = None) -> list[tuple[str, nn.Module]]:
    """Seeded random blocks of ``arch`` in eval mode; ``scale < 1`` shrinks widths (for tests).

    ``scale`` multiplies the ResNet base width (64) or the ViT dimension (768, with heads and MLP
    in proportion; at least one head). ``depth``: the ViT's encoder layers (default 12, or 2 when
    ``scale < 1``); the blocks before the last encoder are the same for every depth.
    """
    torch.manual_seed(seed)
    if arch in RESNET_LAYERS:
        blocks = resnet_blocks(arch, classes, width=max(1, round(64 * scale)))
    elif arch == "vit_b16":
        dim = max(8, round(768 * scale / 8) * 8)
        heads = max(1, min(12, dim // 64)) if scale < 1 else 12
        if depth is None:
            depth = 12 if scale >= 1 else 2
        blocks = vit_blocks(classes, dim=dim, heads=heads, mlp=4 * dim,
                            depth=depth, image=224 if scale >= 1 else 32)
    else:
        raise ValueError(f"unknown architecture {arch!r}; one of {ARCHITECTURES}")
    for _, m in blocks:
        m.eval()
    return blocks


def input_shape(arch: str, scale: float = 1.0) -> tuple[int, int, int]:
    """(channels, height, width) of one input image."""
    if arch == "vit_b16" and scale < 1:
        return (3, 32, 32)
    return (3, 224, 224)
