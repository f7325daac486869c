"""Packed block loader: one contiguous buffer per block, one copy per block, parameters as views.

Each block's tensors (parameters and buffers) are packed into one byte buffer at aligned offsets,
kept in host memory (pinned when a GPU is present, so the copy engine can stream it) and, for the
disk path, in a safetensors file per block (one ``uint8`` tensor plus the layout in the metadata;
never pickle). Loading a block is one copy of its buffer into a slot of a preallocated device arena;
the block's module then gets its tensors as *views* into that slot, so nothing else is allocated or
copied. Blocks not needed by the next model are evicted (their slots freed) before it is loaded, as
in MODEL.md section 2.

Binding views costs CPU time (a few microseconds per tensor, hundreds of tensors per network: about
as long as copying a ResNet-50 at the copy engine's speed). A block's bound module is therefore
kept per arena offset: the first load at an offset binds, every later load there is the copy
alone, as in a server that has run its schedule before. Evicting frees the slot and nothing else.

Loading paths (``path``):

* ``"packed_pinned"``: pinned host buffer to device (a GPU is required for pinning);
* ``"packed_pageable"``: the same buffer in ordinary (pageable) host memory;
* ``"disk"``: the block's safetensors file read into host memory, then copied to the device.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

ALIGN = 256   # bytes; a multiple of every dtype's size, and of the GPU's preferred alignment
PATHS = ("packed_pinned", "packed_pageable", "disk")


@dataclass(frozen=True)
class TensorSlot:
    """Where one tensor of a block lives inside the block's packed buffer."""

    name: str            # e.g. "conv1.weight", "bn1.running_mean"
    dtype: torch.dtype
    shape: tuple
    offset: int          # bytes from the start of the buffer
    nbytes: int


@dataclass
class PackedBlock:
    name: str
    host: torch.Tensor   # uint8, contiguous (pinned for "packed_pinned")
    layout: tuple        # of TensorSlot

    @property
    def nbytes(self) -> int:
        """Bytes copied: the buffer, alignment padding included."""
        return int(self.host.numel())

    @property
    def payload(self) -> int:
        """Bytes of the tensors themselves (the block's size in an instance)."""
        return sum(s.nbytes for s in self.layout)


def named_tensors(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """Parameters then buffers, by qualified name, each tensor once."""
    seen, out = set(), []
    for name, t in (*module.named_parameters(), *module.named_buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            out.append((name, t))
    return out


def pack_block(name: str, module: nn.Module, pin: bool = False) -> PackedBlock:
    """Pack ``module``'s tensors into one aligned byte buffer (bit-exact copies)."""
    layout, offset = [], 0
    for tname, t in named_tensors(module):
        nbytes = t.numel() * t.element_size()
        layout.append(TensorSlot(tname, t.dtype, tuple(t.shape), offset, nbytes))
        offset += -(-nbytes // ALIGN) * ALIGN
    host = torch.empty(max(offset, ALIGN), dtype=torch.uint8, pin_memory=pin)
    for slot, (_, t) in zip(layout, named_tensors(module)):
        host[slot.offset:slot.offset + slot.nbytes].copy_(
            t.detach().contiguous().reshape(-1).view(torch.uint8))
    return PackedBlock(name, host, tuple(layout))


def tensor_view(flat: torch.Tensor, slot: TensorSlot) -> torch.Tensor:
    """The tensor of ``slot`` as a view into the byte buffer ``flat`` (no copy)."""
    return flat[slot.offset:slot.offset + slot.nbytes].view(slot.dtype).view(slot.shape)


def bind(module: nn.Module, flat: torch.Tensor, layout) -> None:
    """Make every parameter and buffer of ``module`` a view into ``flat``."""
    for slot in layout:
        owner_name, _, attr = slot.name.rpartition(".")
        owner = module.get_submodule(owner_name) if owner_name else module
        view = tensor_view(flat, slot)
        if attr in owner._parameters:
            owner._parameters[attr] = nn.Parameter(view, requires_grad=False)
        else:
            owner._buffers[attr] = view


def save_safetensors(block: PackedBlock, path: Path) -> None:
    """Write a packed block as a safetensors file: one uint8 tensor, the layout in the metadata."""
    from safetensors.torch import save_file

    meta = [{"name": s.name, "dtype": str(s.dtype).removeprefix("torch."), "shape": list(s.shape),
             "offset": s.offset, "nbytes": s.nbytes} for s in block.layout]
    save_file({"packed": block.host.cpu()}, str(path),
              metadata={"block": block.name, "layout": json.dumps(meta)})
    # Written back now: the page cache can only drop clean pages, so a cold read right after
    # writing would otherwise still be served from memory.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_safetensors(path: Path, cold: bool = False) -> torch.Tensor:
    """The packed buffer of a block file; ``cold`` first drops the file from the page cache."""
    from safetensors.torch import load_file

    if cold and hasattr(os, "posix_fadvise"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass          # a sandboxed kernel may refuse it: the read is then warm (see disk_fs)
        finally:
            os.close(fd)
    return load_file(str(path))["packed"]


class DeviceArena:
    """One preallocated device buffer, handed out in aligned slots (first fit, merged on free)."""

    def __init__(self, capacity: int, device):
        self.capacity = -(-capacity // ALIGN) * ALIGN
        self.buffer = torch.empty(self.capacity, dtype=torch.uint8, device=device)
        # Touch every page now: host memory is committed lazily, and a first write would
        # otherwise pay page faults inside the first loads.
        self.buffer.zero_()
        self.free = [(0, self.capacity)]          # (offset, size), sorted by offset

    def alloc(self, nbytes: int) -> int:
        size = -(-nbytes // ALIGN) * ALIGN
        for i, (off, avail) in enumerate(self.free):
            if avail >= size:
                if avail == size:
                    del self.free[i]
                else:
                    self.free[i] = (off + size, avail - size)
                return off
        raise MemoryError(f"device arena full: need {size} bytes, largest free slot "
                          f"{max((a for _, a in self.free), default=0)} of {self.capacity}; "
                          "pass a larger arena_bytes")

    def release(self, offset: int, nbytes: int) -> None:
        size = -(-nbytes // ALIGN) * ALIGN
        self.free.append((offset, size))
        self.free.sort()
        merged = [self.free[0]]
        for off, size in self.free[1:]:
            last_off, last_size = merged[-1]
            if last_off + last_size == off:
                merged[-1] = (last_off, last_size + size)
            else:
                merged.append((off, size))
        self.free = merged

    def slot(self, offset: int, nbytes: int) -> torch.Tensor:
        return self.buffer[offset:offset + nbytes]


class PartialLoader:
    """Keep the blocks of the last model on the device; load only what the next model lacks.

    Parameters
    ----------
    zoo : plcore.gpu.zoo.Zoo
    device : str or torch.device
        ``"cuda"`` on a GPU; ``"cpu"`` runs the same code with host memory as the "device".
    path : {"packed_pinned", "packed_pageable", "disk"}
    store_dir : path, optional
        Folder for the safetensors files (``"disk"`` path); written on construction.
    arena_bytes : int, optional
        Device arena size (default: twice the largest model, enough for any eviction order).
    cold_disk : bool
        Drop each file from the page cache before reading it (``"disk"`` path).
    """

    def __init__(self, zoo, device="cpu", path: str = "packed_pageable", store_dir=None,
                 arena_bytes: int | None = None, cold_disk: bool = True):
        if path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {path!r}")
        self.device = torch.device(device)
        pin = path == "packed_pinned"
        if pin and not torch.cuda.is_available():
            raise RuntimeError("the packed_pinned path needs a CUDA device (pinned memory)")
        self.zoo, self.path, self.cold_disk = zoo, path, cold_disk
        self.packed = {b: pack_block(b, m, pin=pin) for b, m in zoo.blocks.items()}
        self.files: dict[str, Path] = {}
        if path == "disk":
            if store_dir is None:
                raise ValueError("the disk path needs store_dir")
            store = Path(store_dir)
            store.mkdir(parents=True, exist_ok=True)
            for b, pb in self.packed.items():
                self.files[b] = store / f"{b}.safetensors"
                save_safetensors(pb, self.files[b])
        # Device-side modules: a meta-device template per block, and the template bound to the
        # arena at each offset the block has been loaded to (views only: no device memory).
        self.templates = {b: copy.deepcopy(m).to("meta") for b, m in zoo.blocks.items()}
        self._bound: dict[tuple[str, int], nn.Module] = {}
        self._models: dict[tuple, nn.Sequential] = {}
        largest = max(sum(self.packed[b].nbytes for b in bs) for bs in zoo.models.values())
        self.arena = DeviceArena(arena_bytes or 2 * largest + ALIGN * len(self.packed), self.device)
        self.resident: dict[str, int] = {}      # block -> arena offset

    def load(self, model: str) -> dict:
        """Evict blocks ``model`` lacks, load the missing ones.

        Returns the names loaded and evicted, ``bytes`` (tensor bytes loaded) and
        ``copied_bytes`` (with alignment padding).
        """
        needed = self.zoo.models[model]
        evicted = [b for b in self.resident if b not in needed]
        for b in evicted:
            self.evict(b)
        loaded = [b for b in needed if b not in self.resident]
        for b in loaded:
            self.load_block(b)
        return {"loaded": loaded, "evicted": evicted,
                "bytes": sum(self.packed[b].payload for b in loaded),
                "copied_bytes": sum(self.packed[b].nbytes for b in loaded)}

    def evict(self, b: str) -> None:
        """Free block ``b``'s arena slot (if resident); its module is no longer handed out."""
        if b in self.resident:
            self.arena.release(self.resident.pop(b), self.packed[b].nbytes)

    def evict_all(self) -> None:
        """Empty the device (as at t = 0 with nothing resident); the arena stays allocated."""
        for b in list(self.resident):
            self.evict(b)

    def load_block(self, b: str) -> None:
        """One copy of block ``b``'s packed buffer into a free arena slot.

        Its module's tensors are views into that slot: bound now if ``b`` was never loaded at this
        offset, else the module bound then (the views see the bytes just copied).
        """
        pb = self.packed[b]
        off = self.arena.alloc(pb.nbytes)
        dst = self.arena.slot(off, pb.nbytes)
        src = read_safetensors(self.files[b], self.cold_disk) if self.path == "disk" else pb.host
        dst.copy_(src, non_blocking=self.path == "packed_pinned")
        if (b, off) not in self._bound:
            module = copy.deepcopy(self.templates[b])
            bind(module, dst, pb.layout)
            self._bound[b, off] = module
        self.resident[b] = off

    def block_module(self, b: str) -> nn.Module:
        """Block ``b``'s module on the device (``b`` must be resident)."""
        if b not in self.resident:
            raise RuntimeError(f"block not resident: {b!r}")
        return self._bound[b, self.resident[b]]

    def module(self, model: str) -> nn.Sequential:
        """The model on the device (its blocks must be resident: call :meth:`load` first)."""
        blocks = self.zoo.models[model]
        missing = [b for b in blocks if b not in self.resident]
        if missing:
            raise RuntimeError(f"blocks not resident: {missing}")
        key = tuple((b, self.resident[b]) for b in blocks)
        if key not in self._models:
            self._models[key] = nn.Sequential(*(self._bound[k] for k in key)).eval()
        return self._models[key]

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
