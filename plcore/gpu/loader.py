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

:class:`ArenaLoader` holds what every loader on an arena shares (the packed blocks, their
meta-device templates, the arena, the bound modules, one block's load); :class:`PartialLoader`
loads whole models for the executor and the profiler; :class:`plcore.gpu.device.BlockDevice`
loads and evicts single blocks for a server, in an arena of a given capacity.

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

from .zoo.zoo import meta_copy

ALIGN = 256   # bytes; a multiple of every dtype's size, and of the GPU's preferred alignment
PATHS = ("packed_pinned", "packed_pageable", "disk")


def aligned(nbytes: int) -> int:
    """``nbytes`` rounded up to a multiple of :data:`ALIGN`."""
    return -(-nbytes // ALIGN) * ALIGN


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


def packed_size(module: nn.Module) -> int:
    """Bytes of ``module``'s packed buffer (:func:`pack_block`): its tensors, each aligned."""
    return max(sum(aligned(t.numel() * t.element_size()) for _, t in named_tensors(module)),
               ALIGN)


def pack_block(name: str, module: nn.Module, pin: bool = False) -> PackedBlock:
    """Pack ``module``'s tensors into one aligned byte buffer (bit-exact copies)."""
    layout, offset = [], 0
    for tname, t in named_tensors(module):
        nbytes = t.numel() * t.element_size()
        layout.append(TensorSlot(tname, t.dtype, tuple(t.shape), offset, nbytes))
        offset += aligned(nbytes)
    # Zeros: the alignment padding too is defined, so a block's file is a function of its tensors.
    host = torch.zeros(packed_size(module), dtype=torch.uint8, pin_memory=pin)
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


def layout_json(block: PackedBlock) -> str:
    """The layout of a packed block as the JSON string its safetensors file keeps."""
    return json.dumps([{"name": s.name, "dtype": str(s.dtype).removeprefix("torch."),
                        "shape": list(s.shape), "offset": s.offset, "nbytes": s.nbytes}
                       for s in block.layout])


def save_safetensors(block: PackedBlock, path: Path, metadata: dict | None = None) -> None:
    """Write a packed block as a safetensors file: one uint8 tensor, the layout in the metadata.

    ``metadata`` (strings to strings) is kept in the file's header next to the block's name and
    layout.
    """
    from safetensors.torch import save_file

    save_file({"packed": block.host.cpu()}, str(path),
              metadata={**(metadata or {}), "block": block.name, "layout": layout_json(block)})
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
    """One preallocated device buffer, handed out in aligned slots (first fit, merged on free).

    Parameters
    ----------
    capacity : int
        Bytes.
    device : str or torch.device
    exact : bool
        False: the buffer is ``capacity`` rounded up to :data:`ALIGN`, all of it handed out.
        True: the buffer is exactly ``capacity`` bytes (a memory bound never exceeded) and slots
        are handed out in its first ``capacity`` rounded *down* to :data:`ALIGN` bytes.

    Attributes
    ----------
    capacity : int
        Bytes that slots may take (a multiple of :data:`ALIGN`).
    buffer : torch.Tensor
        The arena (uint8 on ``device``).
    free : list of (offset, size)
        Free slots, sorted by offset, never adjacent (merged).
    """

    def __init__(self, capacity: int, device, exact: bool = False):
        self.capacity = capacity // ALIGN * ALIGN if exact else aligned(capacity)
        self.buffer = torch.empty(capacity if exact else self.capacity, dtype=torch.uint8,
                                  device=device)
        # Touch every page now: host memory is committed lazily, and a first write would
        # otherwise pay page faults inside the first loads.
        self.buffer.zero_()
        self.free = [(0, self.capacity)] if self.capacity else []   # (offset, size), by offset

    @property
    def largest_free(self) -> int:
        """The largest free slot (bytes): the largest block :meth:`alloc` can place now."""
        return max((a for _, a in self.free), default=0)

    def alloc(self, nbytes: int) -> int:
        size = aligned(nbytes)
        for i, (off, avail) in enumerate(self.free):
            if avail >= size:
                if avail == size:
                    del self.free[i]
                else:
                    self.free[i] = (off + size, avail - size)
                return off
        raise MemoryError(f"device arena full: need {size} bytes, largest free slot "
                          f"{self.largest_free} of {self.capacity}; pass a larger arena_bytes")

    def take(self, offset: int, nbytes: int) -> None:
        """Allocate the slot at ``offset`` exactly (it must lie in one free slot)."""
        size = aligned(nbytes)
        for i, (off, avail) in enumerate(self.free):
            if off <= offset and offset + size <= off + avail:
                rest = [(off, offset - off), (offset + size, off + avail - offset - size)]
                self.free[i:i + 1] = [r for r in rest if r[1] > 0]
                return
        raise ValueError(f"arena slot [{offset}, {offset + size}) is not free")

    def release(self, offset: int, nbytes: int) -> None:
        size = aligned(nbytes)
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


class ArenaLoader:
    """Packed blocks of a zoo loaded into slots of one device arena, their modules bound to them.

    What every loader here shares: each block packed once (:func:`pack_block`), a meta-device
    template of its module, the arena, and one block's load (:meth:`load_block`: one copy, then
    the module bound at that offset, kept for later loads there). Subclasses decide which blocks
    to load and evict.

    Parameters
    ----------
    zoo : plcore.gpu.zoo.Zoo
    device : str or torch.device
        ``"cuda"`` on a GPU; ``"cpu"`` runs the same code with host memory as the "device".
    path : {"packed_pinned", "packed_pageable", "disk"}
    arena_bytes : int, optional
        Device arena size (default: twice the largest model, enough for any eviction order).
    exact_arena : bool
        The arena buffer is exactly ``arena_bytes`` (see :class:`DeviceArena`).
    cold_disk : bool
        Drop each file from the page cache before reading it (``"disk"`` path).
    bound_per_block : int, optional
        Bound modules kept per block (the most recently used offsets); default: one per offset
        ever used.

    Attributes
    ----------
    packed : dict[str, PackedBlock]
    files : dict[str, Path]
        The safetensors file of each block (``"disk"`` path; filled by the subclass).
    resident : dict[str, int]
        Block to arena offset, for the blocks on the device.
    """

    def __init__(self, zoo, device="cpu", path: str = "packed_pageable", *,
                 arena_bytes: int | None = None, exact_arena: bool = False, cold_disk: bool = True,
                 bound_per_block: int | None = None):
        if path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {path!r}")
        self.device = torch.device(device)
        pin = path == "packed_pinned"
        if pin and not torch.cuda.is_available():
            raise RuntimeError("the packed_pinned path needs a CUDA device (pinned memory)")
        self.zoo, self.path, self.cold_disk = zoo, path, cold_disk
        self.packed = {b: pack_block(b, m, pin=pin) for b, m in zoo.blocks.items()}
        self.files: dict[str, Path] = {}
        # Device-side modules: a meta-device template per block, and the template bound to the
        # arena at each offset the block has been loaded to (views only: no device memory).
        self.templates = {b: meta_copy(m) for b, m in zoo.blocks.items()}
        self.bound_per_block = bound_per_block
        self._bound: dict[tuple[str, int], nn.Module] = {}      # oldest use first
        if arena_bytes is None:
            largest = max(sum(self.packed[b].nbytes for b in bs) for bs in zoo.models.values())
            arena_bytes = 2 * largest + ALIGN * len(self.packed)
        self.arena = DeviceArena(arena_bytes, self.device, exact=exact_arena)
        self.resident: dict[str, int] = {}      # block -> arena offset

    def _alloc(self, nbytes: int) -> int:
        """An arena offset for ``nbytes``; :class:`MemoryError` when no free slot is that large."""
        return self.arena.alloc(nbytes)

    def _source(self, b: str) -> torch.Tensor:
        """Block ``b``'s packed bytes in host memory (read from its file on the disk path)."""
        if self.path == "disk":
            return read_safetensors(self.files[b], self.cold_disk)
        return self.packed[b].host

    def _place(self, b: str, off: int) -> None:
        """Make ``b`` resident at ``off`` (its bytes already there), its module bound to them."""
        key = (b, off)
        module = self._bound.pop(key, None)
        if module is None:
            pb = self.packed[b]
            module = copy.deepcopy(self.templates[b])
            bind(module, self.arena.slot(off, pb.nbytes), pb.layout)
        self._bound[key] = module
        if self.bound_per_block is not None:
            mine = [k for k in self._bound if k[0] == b]
            for k in mine[:-self.bound_per_block]:
                del self._bound[k]
        self.resident[b] = off

    def _release(self, b: str) -> None:
        """Free block ``b``'s arena slot (if resident); its module is no longer handed out."""
        if b in self.resident:
            self.arena.release(self.resident.pop(b), self.packed[b].nbytes)

    def evict_all(self) -> None:
        """Empty the device (as at t = 0 with nothing resident); the arena stays allocated."""
        for b in list(self.resident):
            self._release(b)

    def load_block(self, b: str) -> None:
        """One copy of block ``b``'s packed buffer into a free arena slot.

        Its module's tensors are views into that slot: bound now if ``b`` was never loaded at this
        offset, else the module bound then (the views see the bytes just copied).
        """
        pb = self.packed[b]
        off = self._alloc(pb.nbytes)
        self.arena.slot(off, pb.nbytes).copy_(self._source(b),
                                              non_blocking=self.path == "packed_pinned")
        self._place(b, off)

    def block_module(self, b: str) -> nn.Module:
        """Block ``b``'s module on the device (``b`` must be resident)."""
        if b not in self.resident:
            raise RuntimeError(f"block not resident: {b!r}")
        return self._bound[b, self.resident[b]]

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


class PartialLoader(ArenaLoader):
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
        if path == "disk" and store_dir is None:
            raise ValueError("the disk path needs store_dir")
        super().__init__(zoo, device, path, arena_bytes=arena_bytes, cold_disk=cold_disk)
        if path == "disk":
            store = Path(store_dir)
            store.mkdir(parents=True, exist_ok=True)
            for b, pb in self.packed.items():
                self.files[b] = store / f"{b}.safetensors"
                save_safetensors(pb, self.files[b])
        self._models: dict[tuple, nn.Sequential] = {}

    def load(self, model: str, on_block=None) -> dict:
        """Evict blocks ``model`` lacks, load the missing ones (bottom first).

        ``on_block(b)``, if given, is called right after each block's copy is issued: where a
        pipelined executor marks that block ready (:func:`plcore.gpu.runtime.execute_streamed`).

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
            if on_block is not None:
                on_block(b)
        return {"loaded": loaded, "evicted": evicted,
                "bytes": sum(self.packed[b].payload for b in loaded),
                "copied_bytes": sum(self.packed[b].nbytes for b in loaded)}

    def evict(self, b: str) -> None:
        """Free block ``b``'s arena slot (if resident); its module is no longer handed out."""
        self._release(b)

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
