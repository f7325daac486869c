"""A block cache in GPU memory: any blocks of any models, up to a capacity in bytes.

A model runs once all its blocks are resident. :meth:`BlockCache.load` makes a model resident:
its resident blocks are hits, the others are loaded, and blocks of other models are evicted
until the missing ones fit. Blocks of the model being loaded are never evicted for it.

Eviction policies
-----------------
``"lru"``
    Least recently used first (a block is used whenever a model holding it is loaded).
``"sharing"``
    Sharing-aware: the block needed by the fewest pending requests first (``need(b)``, supplied by
    the simulator), ties least recently used.
``"belady"``
    Farthest next use first (``next_use(b)``, the position of the next request that needs the
    block in the future request sequence, supplied by the simulator), ties least recently used.
    With equal-sized blocks this is Belady's MIN, the offline optimum of the number (hence
    bytes) of blocks loaded on a given sequence, so a bound for every other policy. With unequal
    sizes the optimum is NP-hard and this rule is only a heuristic (the tests compare it with LRU
    on equal sizes only).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Sequence

__all__ = ["BlockCache", "EVICTIONS", "CacheTooSmall"]

EVICTIONS = ("lru", "sharing", "belady")


class CacheTooSmall(ValueError):
    """A model's blocks do not fit in the cache even when everything else is evicted."""


class BlockCache:
    """Resident blocks of a GPU memory of ``capacity_bytes``.

    Parameters
    ----------
    block_bytes : sequence of float, shape (n_blocks,)
        Size of each block (B); blocks are referred to by index.
    capacity_bytes : float
        GPU memory available for parameters (B).
    eviction : {"lru", "sharing", "belady"}
    need : callable, optional
        ``need(b) -> int``: pending requests needing block ``b`` (``"sharing"``).
    next_use : callable, optional
        ``next_use(b) -> float``: position of the block's next use, ``inf`` for never
        (``"belady"``).

    Attributes
    ----------
    hits, misses : int
        Block accesses found resident / loaded.
    bytes_loaded : float
        Total bytes loaded (B).

    Examples
    --------
    >>> from plcore.online.cache import BlockCache
    >>> c = BlockCache([4, 1, 1], capacity_bytes=5)
    >>> c.load([0, 1]), c.load([0, 2]), c.load([0, 1])      # block 0 is shared
    ([0, 1], [2], [1])
    >>> c.hits, c.misses, c.bytes_loaded
    (2, 4, 7.0)

    Notes
    -----
    :meth:`load` costs O(k + e) for LRU (k blocks of the model, e evicted) and O(R log R) for the
    other policies (R resident blocks), plus the callbacks.
    """

    def __init__(self, block_bytes: Sequence[float], capacity_bytes: float, eviction: str = "lru",
                 *, need: Callable[[int], int] | None = None,
                 next_use: Callable[[int], float] | None = None):
        if eviction not in EVICTIONS:
            raise ValueError(f"eviction must be one of {EVICTIONS}, got {eviction!r}")
        if eviction == "sharing" and need is None:
            raise ValueError("eviction 'sharing' needs need(block)")
        if eviction == "belady" and next_use is None:
            raise ValueError("eviction 'belady' needs next_use(block)")
        if not capacity_bytes > 0:
            raise ValueError(f"capacity_bytes must be > 0, got {capacity_bytes!r}")
        self.size = [float(b) for b in block_bytes]
        self.capacity = float(capacity_bytes)
        self.eviction = eviction
        self.need = need
        self.next_use = next_use
        self.resident: OrderedDict[int, None] = OrderedDict()   # LRU first
        self.used = 0.0
        self.hits = 0
        self.misses = 0
        self.bytes_loaded = 0.0
        self.evictions = 0

    def __contains__(self, block: int) -> bool:
        return block in self.resident

    def fits(self, blocks: Sequence[int]) -> bool:
        """Whether these blocks fit in the capacity at all."""
        return sum(self.size[b] for b in blocks) <= self.capacity * (1 + 1e-12)

    def missing(self, blocks: Sequence[int]) -> list[int]:
        """The blocks not resident (nothing changes)."""
        res = self.resident
        return [b for b in blocks if b not in res]

    def clear(self) -> None:
        """Evict everything (the whole-model loader keeps one model only)."""
        self.evictions += len(self.resident)
        self.resident.clear()
        self.used = 0.0

    def load(self, blocks: Sequence[int]) -> list[int]:
        """Make ``blocks`` resident; return the ones loaded, in the given order.

        Raises
        ------
        CacheTooSmall
            If the blocks do not fit even in an empty cache.
        """
        res = self.resident
        missing = []
        for b in blocks:                      # touch first: a hit is never evicted for its own model
            if b in res:
                res.move_to_end(b)
            else:
                missing.append(b)
        self.hits += len(blocks) - len(missing)
        if not missing:
            return missing
        need_bytes = sum(self.size[b] for b in missing)
        free = self.capacity - self.used
        if need_bytes > free * (1 + 1e-12) + 1e-9:
            self._evict(need_bytes - free, set(blocks))
        for b in missing:
            res[b] = None
        self.used += need_bytes
        self.misses += len(missing)
        self.bytes_loaded += need_bytes
        return missing

    def _evict(self, amount: float, keep: set) -> None:
        res = self.resident
        if self.eviction == "lru":
            victims = (b for b in list(res) if b not in keep)
        else:
            cand = [(b, rank) for rank, b in enumerate(res) if b not in keep]
            if self.eviction == "sharing":
                cand.sort(key=lambda br: (self.need(br[0]), br[1]))
            else:
                cand.sort(key=lambda br: (-self.next_use(br[0]), br[1]))
            victims = (b for b, _ in cand)
        freed = 0.0
        for b in victims:
            if freed >= amount * (1 - 1e-12):
                break
            del res[b]
            freed += self.size[b]
            self.used -= self.size[b]
            self.evictions += 1
        if freed < amount * (1 - 1e-12) - 1e-9:
            raise CacheTooSmall(f"blocks of {sum(self.size[b] for b in keep):.6g} B do not fit "
                                f"in a cache of {self.capacity:.6g} B")
