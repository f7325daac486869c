"""Independent reference formulations, written from MODEL.md without reusing plcore's code paths.

* bandwidth by geometric bisection on the Shannon rate itself (no Lambert W);
* load times from block-name sets (no index arrays);
* deadlines by an as-early-as-possible forward simulation (not the ALAP recursion);
* the optimum by exhaustive enumeration of every sequence of distinct users.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

LN2 = math.log(2.0)


def rate(b, a):
    """Shannon rate b log2(1 + a/b), written out."""
    return b * np.log1p(a / b) / LN2


def bandwidth_bisect(D, a, t, linear=False, lo=1e-6, hi=1e16, iters=130):
    """Least b with t r(b) >= D by bisection in log space; inf where even ``hi`` is not enough."""
    D, a, t = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (D, a, t)))
    if linear:
        with np.errstate(divide="ignore"):
            return np.where(D == 0, 0.0, np.where(t > 0, D / (a * np.maximum(t, 1e-300)), np.inf))
    out = np.full(D.shape, np.inf)
    tt = np.where(t > 0, t, 1.0)
    possible = (t > 0) & (tt * rate(hi, a) >= D)
    lo_a = np.full(D.shape, lo)
    hi_a = np.full(D.shape, hi)
    for _ in range(iters):
        mid = np.sqrt(lo_a * hi_a)
        enough = tt * rate(mid, a) >= D
        hi_a = np.where(enough, mid, hi_a)
        lo_a = np.where(enough, lo_a, mid)
    out[possible] = hi_a[possible]
    out[(D == 0) & (t >= 0)] = 0.0
    return out


def block_load(inst, name):
    b = inst.blocks[name]
    return b.load_s if b.load_s is not None else inst.loader.overhead_s + b.bytes / inst.loader.bandwidth_Bps


def ref_loads(inst, seq, partial=True):
    """L_i from sets of block names."""
    held = set(inst.resident)
    prev_model = None
    out = []
    for i, k in enumerate(seq):
        m = inst.users[k].model
        blocks = set(inst.models[m].blocks)
        if partial:
            out.append(sum(block_load(inst, b) for b in sorted(blocks - held)))
        else:
            same = i > 0 and m == prev_model     # it knows models, not resident blocks
            out.append(0.0 if same else sum(block_load(inst, b) for b in sorted(blocks)))
        held = blocks
        prev_model = m
    return out


def asap_meets_deadlines(inst, seq, loads, tol=1e-12):
    """Run everything as early as possible; True iff every completion is by its deadline."""
    t = 0.0
    for k, L in zip(seq, loads):
        t += L + inst.models[inst.users[k].model].infer_s
        if t > inst.users[k].deadline_s + tol:
            return False
    return True


def latest_starts(inst, seq, loads):
    """Latest start times, by walking back from the end (plain Python)."""
    starts = [0.0] * len(seq)
    bound = math.inf
    for i in reversed(range(len(seq))):
        u = inst.users[seq[i]]
        starts[i] = min(u.deadline_s, bound) - inst.models[u.model].infer_s
        bound = starts[i] - loads[i]
    return starts


def radio(inst, k):
    u = inst.users[k]
    if inst.rate == "shannon":
        return u.power_w * u.channel_gain / inst.noise_psd_w_hz
    return u.spectral_eff


def exhaustive_optimum(inst, rtol=1e-9):
    """Maximum throughput over every sequence of distinct users, by brute force."""
    n = inst.n_users
    seqs, triples = [], []
    for r in range(1, n + 1):
        for seq in itertools.permutations(range(n), r):
            loads = ref_loads(inst, seq)
            if not asap_meets_deadlines(inst, seq, loads):
                continue
            starts = latest_starts(inst, seq, loads)
            seqs.append(seq)
            triples.append([(inst.users[k].data_bits, radio(inst, k), s) for k, s in zip(seq, starts)])
    best = 0
    if seqs:
        flat = np.array([t for tr in triples for t in tr])
        bw = bandwidth_bisect(flat[:, 0], flat[:, 1], flat[:, 2], linear=inst.rate == "linear")
        pos = 0
        for seq in seqs:
            total = bw[pos:pos + len(seq)].sum()
            pos += len(seq)
            if total <= inst.bandwidth_hz * (1 + rtol):
                best = max(best, len(seq))
    return best
