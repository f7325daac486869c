"""Online serving: requests arriving over time at an edge server with a block cache.

The batch model (MODEL.md) serves one set of users present at t = 0, with the GPU holding one
model. This wing serves a stream of requests:

============== ===================================================================================
``workload``    requests over time, seeded (Poisson or bursty gamma arrivals; uniform, Zipf or
                hot-model popularity; data, deadlines, path loss, shadowing and block fading) or
                read from a CSV trace
``catalogue``   a paper-like catalogue of models (clusters sharing a backbone) without profiles
``cache``       the block cache in GPU memory: LRU, sharing-aware and Belady eviction
``uplink``      the shared band as a fluid model: equal shares, or least bandwidth plus leftover
``simulator``   the discrete-event server (``heapq``), pipelined execution, conservation check
``policies``    arrival order (whole-model or block cache), rolling-window PartialLoading,
                EDF with same-model batching, Lyapunov drift-plus-penalty
``metrics``     goodput, late/rejected shares, latency percentiles with bootstrap CIs, Jain's
                index, GPU time split, bytes per request, cache hit rate
============== ===================================================================================

The catalogue is any :class:`plcore.Instance` (its blocks, models, loader, noise and total
bandwidth; its users are ignored): this wing imports ``model`` and ``schedulers`` only, so
scenarios of the study wing are turned into catalogues and workloads there.

Examples
--------
>>> from plcore.online import cluster_catalogue, generate, simulate, RollingPL
>>> from plcore.online.metrics import summary
>>> cat = cluster_catalogue()
>>> w = generate(cat, 300, rate_hz=60.0, seed=0, deadline_s=0.3)
>>> s = summary(simulate(cat, w, RollingPL(), capacity_bytes=3e8))
>>> s["served"] + s["late"] + s["rejected"]
300
"""

from .cache import EVICTIONS, BlockCache
from .catalogue import cluster_catalogue
from .policies import (POLICIES, ArrivalOrder, EDFBatch, FixedOrder, Lyapunov, Policy, RollingPL,
                       make_policy)
from .simulator import Run, Simulator, simulate
from .workload import Workload, from_instance, generate, read_trace, write_trace

__all__ = ["Workload", "generate", "read_trace", "write_trace", "from_instance",
           "cluster_catalogue", "BlockCache", "EVICTIONS", "simulate", "Simulator", "Run",
           "Policy", "ArrivalOrder", "RollingPL", "EDFBatch", "Lyapunov", "FixedOrder",
           "POLICIES", "make_policy"]
