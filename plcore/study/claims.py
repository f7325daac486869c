"""Verdicts on quantitative claims: one rule, so every notebook judges a claimed change alike."""

from __future__ import annotations

import math

__all__ = ["relative_change_pct", "change_verdict", "sweep_verdict", "TOLERANCE_PP", "NEGLIGIBLE_PP"]

# A measured relative change within 10 percentage points of the claimed one reproduces it; one
# smaller than 2 % either way is no change at all (Monte Carlo noise, not a direction).
TOLERANCE_PP = 10.0
NEGLIGIBLE_PP = 2.0


def relative_change_pct(before: float, after: float) -> float:
    """``100 (after / before - 1)``: the change from ``before`` to ``after``, in percent.

    Raises
    ------
    ValueError
        If ``before`` is 0 or either value is not finite.
    """
    if not (math.isfinite(before) and math.isfinite(after)) or before == 0:
        raise ValueError(f"relative change undefined from {before!r} to {after!r}")
    return 100.0 * (after / before - 1.0)


def change_verdict(measured_pct: float, claimed_pct: float, tol_pp: float = TOLERANCE_PP) -> str:
    """Compare a measured relative change with a claimed one (both in percent).

    Returns
    -------
    str
        ``"reproduced"`` when they differ by at most ``tol_pp`` percentage points;
        ``"direction reproduced, size not"`` when they have the same sign and the measured change
        is at least :data:`NEGLIGIBLE_PP`; ``"not reproduced"`` otherwise (opposite sign, or a
        negligible change).

    Examples
    --------
    >>> change_verdict(-31.0, -35.0), change_verdict(-5.0, -35.0), change_verdict(-0.4, -35.0)
    ('reproduced', 'direction reproduced, size not', 'not reproduced')
    """
    if not (math.isfinite(measured_pct) and math.isfinite(claimed_pct)):
        raise ValueError(f"cannot compare {measured_pct!r} with {claimed_pct!r}")
    # The bound is inclusive; 1e-9 pp absorbs rounding, e.g. 100 * (2.1 - 1) = 110.00000000000001.
    if abs(measured_pct - claimed_pct) <= tol_pp + 1e-9:
        return "reproduced"
    if measured_pct * claimed_pct > 0 and abs(measured_pct) >= NEGLIGIBLE_PP:
        return "direction reproduced, size not"
    return "not reproduced"


def sweep_verdict(x, before, after, claimed_pct: float, tol_pp: float = TOLERANCE_PP) -> dict:
    """Judge a claimed change against a sweep: the point whose measured change comes closest.

    A claim usually comes from one operating point that we cannot identify, so every point of the
    sweep is a candidate; the verdict is :func:`change_verdict` at the closest one, and the range
    over the whole sweep is reported with it.

    Parameters
    ----------
    x : sequence
        The swept values (e.g. numbers of users), one per point.
    before, after : sequence of float
        The metric without and with the claimed improvement, one per point.
    claimed_pct : float
        The claimed relative change (percent).

    Returns
    -------
    dict
        ``verdict``, ``x`` (closest point), ``measured_pct`` (its change), ``before``, ``after``
        (its values), ``min_pct`` and ``max_pct`` (range of the change over the sweep) and
        ``bracketed`` (whether the claimed change lies in that range: some operating point between
        two swept ones would then match it).

    Examples
    --------
    >>> v = sweep_verdict([5, 10], [100.0, 100.0], [70.0, 99.0], -35.0)
    >>> v["verdict"], v["x"], round(v["measured_pct"], 1), round(v["max_pct"], 1)
    ('reproduced', 5, -30.0, -1.0)
    """
    pts = list(zip(x, before, after))
    if not pts:
        raise ValueError("sweep_verdict: empty sweep")
    changes = [relative_change_pct(b, a) for _, b, a in pts]
    i = min(range(len(pts)), key=lambda j: abs(changes[j] - claimed_pct))
    return {"verdict": change_verdict(changes[i], claimed_pct, tol_pp), "x": pts[i][0],
            "measured_pct": changes[i], "before": pts[i][1], "after": pts[i][2],
            "min_pct": min(changes), "max_pct": max(changes),
            "bracketed": min(changes) <= claimed_pct <= max(changes)}
