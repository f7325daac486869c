"""The shared uplink: FDMA bandwidth shared among the requests uploading, as a fluid model.

Every request uploads from its arrival until its data is in. Its rate is the Shannon rate
``b log2(1 + a / b)`` of its share ``b`` (Hz), with ``a = p g(t) / N0`` for its current channel
gain ``g(t)`` (constant within a coherence interval). Shares are recomputed whenever the set of
uploaders, a planned start or a gain changes; between two changes every upload progresses
linearly, so the next completion is known exactly.

Sharing rules (``bandwidth``)
    ``"equal"``: ``B / n`` each (plain equal shares).
    ``"least"``: each gets the closed-form least bandwidth ``beta`` that delivers its remaining bits
    by its planned inference start (:func:`plcore.model.bandwidth.min_bandwidth`, here in a
    scalar form :func:`least_bandwidth` checked against it), and the rest of the band is shared
    out equally (``share_leftover=True``) or left idle. When the least bandwidths exceed ``B``
    they are scaled down in proportion; a request that can no longer make its planned start at
    any bandwidth only gets a part of what is left over.
"""

from __future__ import annotations

import math

__all__ = ["least_bandwidth", "shannon_rate", "Uplink", "BANDWIDTH_RULES"]

LN2 = math.log(2.0)
BANDWIDTH_RULES = ("equal", "least")


def shannon_rate(b_hz: float, a_hz: float) -> float:
    """``b log2(1 + a / b)`` (bit/s); 0 at ``b = 0``."""
    if b_hz <= 0.0:
        return 0.0
    return b_hz * math.log1p(a_hz / b_hz) / LN2


def least_bandwidth(data_bits: float, a_hz: float, t_s: float) -> float:
    """Least bandwidth (Hz) delivering ``data_bits`` in ``t_s`` seconds at ``a_hz``; scalar.

    The scalar twin of :func:`plcore.min_bandwidth` (Shannon rate), ten times cheaper per call in
    the event loop: ``inf`` when ``t_s <= 0`` or ``c = D ln 2 / (a t) >= 1``, 0 without data.
    Solves ``ln(1 + x) = c x`` for ``x = a / b`` by Newton's method from the right of the root,
    where the concave left side makes the iterates decrease monotonically onto it.

    Examples
    --------
    >>> from plcore.online.uplink import least_bandwidth
    >>> round(least_bandwidth(1e6, 1e8, 0.05) / 1e6, 4)       # as plcore.min_bandwidth
    4.3683
    """
    if data_bits <= 0.0:
        return 0.0 if t_s >= 0.0 else math.inf
    if t_s <= 0.0:
        return math.inf
    c = data_bits * LN2 / (a_hz * t_s)
    if c >= 1.0:
        return math.inf
    if c < 1e-300:
        return 0.0
    u = 2.0 / c
    x = u * math.log(u)                      # ln(1 + x) < c x here: right of the root
    for _ in range(200):
        g = math.log1p(x) - c * x
        dg = 1.0 / (1.0 + x) - c
        step = g / dg
        x_new = x - step
        if not x_new < x or x - x_new <= 4e-16 * x:
            x = min(x, x_new) if x_new > 0 else x
            break
        x = x_new
    return a_hz / x


class Uplink:
    """The uploads in progress: remaining bits and current rates (fluid model).

    Parameters
    ----------
    bandwidth_hz : float
        Total band ``B`` (Hz).
    rule : {"equal", "least"}
    share_leftover : bool
        ``"least"`` only: share ``B - sum(beta)`` equally (True) or leave it idle.

    Attributes
    ----------
    remaining : dict[int, float]
        Bits still to send, by request.
    rate : dict[int, float]
        Current rate (bit/s), by request.
    share : dict[int, float]
        Current bandwidth (Hz), by request.

    Notes
    -----
    :meth:`advance` and :meth:`allocate` are O(u) for u uploaders (``"least"`` adds a Newton
    solve of a few dozen flops each).
    """

    def __init__(self, bandwidth_hz: float, rule: str = "equal", share_leftover: bool = True):
        if rule not in BANDWIDTH_RULES:
            raise ValueError(f"bandwidth rule must be one of {BANDWIDTH_RULES}, got {rule!r}")
        self.B = float(bandwidth_hz)
        self.rule = rule
        self.share_leftover = share_leftover
        self.remaining: dict[int, float] = {}
        self.rate: dict[int, float] = {}
        self.share: dict[int, float] = {}
        self.last_s = 0.0

    def __len__(self) -> int:
        return len(self.remaining)

    def advance(self, now: float) -> None:
        """Progress every upload to ``now`` at its current rate."""
        dt = now - self.last_s
        if dt > 0.0 and self.remaining:
            rem, rate = self.remaining, self.rate
            for k in rem:
                rem[k] -= rate[k] * dt
        self.last_s = now

    def add(self, k: int, bits: float) -> None:
        self.remaining[k] = bits
        self.rate[k] = 0.0
        self.share[k] = 0.0

    def remove(self, k: int) -> None:
        del self.remaining[k]
        del self.rate[k]
        del self.share[k]

    def allocate(self, a_of, plan_of) -> tuple[float, int]:
        """Recompute shares and rates; return ``(time to the next completion, request)``.

        Parameters
        ----------
        a_of : callable
            ``a_of(k)``: the request's current ``a = p g / N0`` (Hz).
        plan_of : callable
            ``plan_of(k)``: seconds from now to its planned inference start (``"least"``).

        Returns
        -------
        (float, int)
            ``inf, -1`` when no upload progresses.
        """
        rem, rate, share = self.remaining, self.rate, self.share
        n = len(rem)
        if n == 0:
            return math.inf, -1
        a = {k: a_of(k) for k in rem}
        if self.rule == "equal":
            b = self.B / n
            for k in rem:
                share[k] = b
        else:
            beta = {k: least_bandwidth(max(rem[k], 0.0), a[k], plan_of(k)) for k in rem}
            finite = [k for k in rem if beta[k] < math.inf]
            total = math.fsum(beta[k] for k in finite)
            hopeless = n - len(finite)
            if total > self.B:
                scale = self.B / total
                for k in rem:
                    share[k] = beta[k] * scale if beta[k] < math.inf else 0.0
            else:
                left = self.B - total
                extra = left / n if self.share_leftover else (left / hopeless if hopeless else 0.0)
                for k in rem:
                    share[k] = (beta[k] if beta[k] < math.inf else 0.0) + (
                        extra if self.share_leftover or beta[k] == math.inf else 0.0)
        best, who = math.inf, -1
        for k in rem:
            r = shannon_rate(share[k], a[k])
            rate[k] = r
            if r > 0.0:
                t = max(rem[k], 0.0) / r
                if t < best:
                    best, who = t, k
            elif rem[k] <= 0.0:
                best, who = 0.0, k
        return best, who
