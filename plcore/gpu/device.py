"""A serving device: blocks loaded and evicted one by one in an arena of a fixed capacity.

:class:`BlockDevice` is the device side of a server whose block cache decides what to load and
evict: it holds one arena of exactly the given capacity (the server's memory bound, never
exceeded), loads blocks from their safetensors files (or packed host buffers) into it with the
packed loader of :mod:`plcore.gpu.loader`, and runs a model whose blocks are resident, timing each
step with the device drained.

A block takes :meth:`BlockDevice.padded_bytes` in the arena (its packed buffer, alignment
included). Any set of blocks whose padded sizes sum to at most the capacity can be resident
together: when the first-fit arena has the room but not in one piece, resident blocks are moved
down (device-to-device copies, their modules rebound) until a slot is large enough, and the time
this takes is part of the load's time (and reported in :attr:`BlockDevice.last_load`).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

import torch
from torch import nn

from .loader import ALIGN, ArenaLoader, aligned, layout_json, save_safetensors

# A move down by less than 1/MAX_CHUNKS of the block's size overlaps itself in more than
# MAX_CHUNKS pieces: the block is then copied again from its host buffer instead.
MAX_CHUNKS = 16
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")


def block_digest(pb) -> str:
    """SHA-256 of a packed block's layout and tensor bytes: the identity of a block file's content.

    The alignment padding between tensors is left out: it carries nothing.
    """
    h = hashlib.sha256(layout_json(pb).encode())
    data = pb.host.cpu().numpy()
    for slot in pb.layout:
        h.update(data[slot.offset:slot.offset + slot.nbytes].tobytes())
    return h.hexdigest()


def block_file(store_dir: Path, name: str) -> Path:
    """The file of block ``name`` in ``store_dir``: its name, or a hash of it if not a safe one."""
    if _SAFE_NAME.fullmatch(name):
        return store_dir / f"{name}.safetensors"
    return store_dir / f"block-{hashlib.sha256(name.encode()).hexdigest()[:24]}.safetensors"


def _matches(path: Path, name: str, digest: str, nbytes: int) -> bool:
    """Whether ``path`` is a complete block file of ``name`` with content ``digest``."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            shape = f.get_slice("packed").get_shape()
        return (meta.get("block") == name and meta.get("sha256") == digest
                and list(shape) == [nbytes] and path.stat().st_size >= nbytes)
    except Exception:         # absent, truncated or not a safetensors file: written anew
        return False


class BlockDevice(ArenaLoader):
    """Blocks of a zoo, loaded into and evicted from one device arena of ``capacity_bytes``.

    Parameters
    ----------
    zoo : plcore.gpu.zoo.Zoo
        E.g. from :func:`plcore.gpu.zoo.catalogue.zoo_for_catalogue`.
    device : str or torch.device
        ``"cuda"`` on a GPU; ``"cpu"`` runs the same code with host memory as the device.
    capacity_bytes : int
        Size of the arena, allocated once, exactly (blocks fill its first ``capacity_bytes``
        rounded down to 256 bytes).
    store_dir : path, optional
        Folder of the blocks' safetensors files (needed by the ``"disk"`` path). A file already
        there whose header names the same block and content hash is kept: a restart writes
        nothing.
    path : {"disk", "packed_pageable", "packed_pinned"}
        Where loads copy from: the block's file, or its packed host buffer (pinned: GPU only).
    cold : bool
        Drop each file from the page cache before reading it (``"disk"`` path).

    Attributes
    ----------
    resident : dict[str, int]
        Resident blocks and their arena offsets.
    last_load : dict
        Of the last :meth:`load`: ``seconds``, ``loaded`` (names), ``bytes`` (tensor bytes),
        ``compaction_s`` and ``moved_bytes`` (blocks moved to make room; 0 without).
    stats : dict
        Totals since construction: ``loads`` (blocks), ``compactions``, ``compaction_s``,
        ``moved_bytes``.
    files_written, files_kept : int
        Block files written at construction, and found up to date.

    Raises
    ------
    ValueError
        For a bad ``path`` or ``capacity_bytes``, or the disk path without ``store_dir``.
    RuntimeError
        For ``"packed_pinned"`` without CUDA.

    Notes
    -----
    Not thread-safe: one caller loads, evicts and infers. Host memory holds each block's packed
    buffer once (besides the zoo's own modules).

    Examples
    --------
    >>> import torch
    >>> from plcore.gpu.zoo import build_zoo
    >>> zoo = build_zoo("resnet18", models_per_cluster=1, scale=0.125)
    >>> model = next(iter(zoo.models))
    >>> dev = BlockDevice(zoo, capacity_bytes=1 << 20, path="packed_pageable")
    >>> dev.arena.buffer.numel(), dev.fits(zoo.models[model])
    (1048576, True)
    >>> dev.load(zoo.models[model]) > 0
    True
    >>> y, seconds = dev.infer(model, zoo.example_input(model))
    >>> with torch.inference_mode():
    ...     torch.equal(y, zoo.module(model)(zoo.example_input(model)))
    True
    """

    def __init__(self, zoo, device="cpu", *, capacity_bytes: int, store_dir=None,
                 path: str = "disk", cold: bool = False, bound_per_block: int = 4):
        if isinstance(capacity_bytes, bool) or not isinstance(capacity_bytes, int) \
                or capacity_bytes < 1:
            raise ValueError(f"capacity_bytes must be a positive integer, got {capacity_bytes!r}")
        if path == "disk" and store_dir is None:
            raise ValueError("the disk path needs store_dir")
        super().__init__(zoo, device, path, arena_bytes=capacity_bytes, exact_arena=True,
                         cold_disk=cold, bound_per_block=bound_per_block)
        self.files_written = self.files_kept = 0
        if store_dir is not None:
            self._write_store(Path(store_dir))
        self.last_load: dict = {}
        self.stats = {"loads": 0, "compactions": 0, "compaction_s": 0.0, "moved_bytes": 0}

    def _write_store(self, store: Path) -> None:
        """One file per block; a file with the same block and content hash is kept."""
        store.mkdir(parents=True, exist_ok=True)
        for b, pb in self.packed.items():
            path = block_file(store, b)
            digest = block_digest(pb)
            if _matches(path, b, digest, pb.nbytes):
                self.files_kept += 1
            else:
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                save_safetensors(pb, tmp, {"sha256": digest})
                os.replace(tmp, path)
                self.files_written += 1
            self.files[b] = path

    @property
    def capacity(self) -> int:
        """Bytes blocks may take in the arena (``capacity_bytes`` rounded down to 256)."""
        return self.arena.capacity

    def padded_bytes(self, block: str) -> int:
        """Bytes ``block`` takes in the arena: its packed buffer, alignment included."""
        return aligned(self.packed[block].nbytes)

    @property
    def used_bytes(self) -> int:
        """Arena bytes the resident blocks take."""
        return sum(self.padded_bytes(b) for b in self.resident)

    def fits(self, blocks) -> bool:
        """Whether ``blocks`` (distinct names) can be resident together in the arena."""
        return sum(self.padded_bytes(b) for b in dict.fromkeys(blocks)) <= self.capacity

    def load(self, blocks) -> float:
        """Load the blocks of ``blocks`` that are not resident, in order.

        Parameters
        ----------
        blocks : iterable of str

        Returns
        -------
        float
            Seconds from the call to the last copy's end (device drained before and after),
            compaction included; 0.0 if every block was resident.

        Raises
        ------
        KeyError
            For a block the zoo lacks.
        ValueError
            For a block larger than the arena's capacity (it can never be loaded).
        MemoryError
            When the blocks do not fit beside the resident ones: evict first.

        Notes
        -----
        Time: one copy per block (a read of its file on the disk path), plus at most one
        compaction, which moves each resident block at most once: O(capacity) bytes copied.
        """
        todo = [b for b in dict.fromkeys(blocks) if b not in self.resident]
        for b in todo:
            if b not in self.packed:
                raise KeyError(f"no block {b!r} in the zoo")
            if self.padded_bytes(b) > self.capacity:
                raise ValueError(f"block {b!r} takes {self.padded_bytes(b)} bytes, more than the "
                                 f"arena's capacity of {self.capacity} bytes")
        need = sum(self.padded_bytes(b) for b in todo)
        if need > self.capacity - self.used_bytes:
            raise MemoryError(f"device arena full: loading {todo} needs {need} bytes, "
                              f"{self.capacity - self.used_bytes} of {self.capacity} are free; "
                              "evict first")
        compaction = (self.stats["compaction_s"], self.stats["moved_bytes"])
        self.synchronize()
        t0 = time.perf_counter()
        for b in todo:
            self.load_block(b)
        self.synchronize()
        seconds = time.perf_counter() - t0 if todo else 0.0
        self.stats["loads"] += len(todo)
        self.last_load = {"seconds": seconds, "loaded": todo,
                          "bytes": sum(self.packed[b].payload for b in todo),
                          "compaction_s": self.stats["compaction_s"] - compaction[0],
                          "moved_bytes": self.stats["moved_bytes"] - compaction[1]}
        return seconds

    def evict(self, blocks) -> None:
        """Free the arena slots of ``blocks`` (a name or names; those not resident are skipped)."""
        for b in [blocks] if isinstance(blocks, str) else blocks:
            self._release(b)

    def _alloc(self, nbytes: int) -> int:
        try:
            return self.arena.alloc(nbytes)
        except MemoryError:         # room in total (load checked it), not in one piece
            self.compact(nbytes)
            return self.arena.alloc(nbytes)

    def compact(self, need: int | None = None) -> float:
        """Move resident blocks down until a free slot of ``need`` bytes exists (default: all).

        Returns the seconds it took (device drained). Each block moved is copied device to device
        (in pieces where its old and new slots overlap) and its module rebound.
        """
        need = self.capacity if need is None else aligned(need)
        self.synchronize()
        t0 = time.perf_counter()
        moved = 0
        for b, off in sorted(self.resident.items(), key=lambda kv: kv[1]):
            if self.arena.largest_free >= need:
                break
            n = self.padded_bytes(b)
            self.arena.release(off, n)
            new = next(s for s, size in self.arena.free if s <= off < s + size)
            self.arena.take(new, n)
            if new < off:
                self._move(b, off, new, n)
                moved += n
        self.synchronize()
        seconds = time.perf_counter() - t0
        self.stats["compactions"] += 1
        self.stats["compaction_s"] += seconds
        self.stats["moved_bytes"] += moved
        return seconds

    def _move(self, b: str, old: int, new: int, n: int) -> None:
        """Block ``b``'s bytes from ``old`` down to ``new`` in the arena; its module rebound."""
        gap = old - new
        if gap >= n:
            self.arena.slot(new, n).copy_(self.arena.slot(old, n))
        elif -(-n // gap) <= MAX_CHUNKS:
            # Overlapping slots: pieces of ``gap`` bytes, lowest first; each piece's source lies
            # above its destination and is read before a later piece overwrites it.
            for k in range(0, n, gap):
                c = min(gap, n - k)
                self.arena.slot(new + k, c).copy_(self.arena.slot(old + k, c))
        else:
            self.arena.slot(new, n).copy_(self.packed[b].host,
                                          non_blocking=self.path == "packed_pinned")
        self._place(b, new)

    def model_module(self, model: str) -> nn.Sequential:
        """The model's network on the device (its blocks must be resident)."""
        missing = [b for b in self.zoo.models[model] if b not in self.resident]
        if missing:
            raise RuntimeError(f"model {model!r}: blocks not resident: {missing}")
        return nn.Sequential(*(self.block_module(b) for b in self.zoo.models[model])).eval()

    def infer(self, model: str, x: torch.Tensor) -> tuple[torch.Tensor, float]:
        """Run ``model`` on the batch ``x``; its blocks must be resident.

        Parameters
        ----------
        model : str
        x : torch.Tensor
            Shape ``(batch, *zoo.input_spec(model)[0])``; moved to the device first (untimed).

        Returns
        -------
        output : torch.Tensor
            On the device, shape ``(batch, *zoo.output_shape(model))``.
        seconds : float
            The forward pass, device drained before and after.

        Raises
        ------
        RuntimeError
            If a block of ``model`` is not resident.
        """
        net = self.model_module(model)
        x = x.to(self.device)
        with torch.inference_mode():
            self.synchronize()
            t0 = time.perf_counter()
            y = net(x)
            self.synchronize()
            return y, time.perf_counter() - t0


__all__ = ["ALIGN", "BlockDevice", "block_digest", "block_file"]
