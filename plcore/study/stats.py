"""Summary statistics for Monte Carlo results: means with Student-t confidence intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def mean_ci(df: pd.DataFrame, by: list[str], value: str, level: float = 0.95) -> pd.DataFrame:
    """Mean of ``value`` per group with a two-sided Student-t confidence interval over the rows.

    Returns a frame with the ``by`` columns and ``mean``, ``lo``, ``hi``, ``n``. With one row in a
    group the interval is undefined (NaN).
    """
    def one(g: pd.Series) -> pd.Series:
        x = g.to_numpy(float)
        n = x.size
        m = x.mean()
        if n < 2:
            return pd.Series({"mean": m, "lo": np.nan, "hi": np.nan, "n": n})
        half = stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / np.sqrt(n)
        return pd.Series({"mean": m, "lo": m - half, "hi": m + half, "n": n})

    return df.groupby(by)[value].apply(one).unstack().reset_index()



def paired_difference(trials: pd.DataFrame, by: list[str], value: str, method: str,
                      baseline: str, level: float = 0.95) -> pd.DataFrame:
    """Mean per-seed difference ``value(method) - value(baseline)`` per group, with a Student-t
    interval: the two methods see the same scenario for a seed, so the pair removes its luck.

    ``trials`` has one row per ``by`` group, ``seed`` and ``method``. Returns the ``by`` columns
    and ``mean``, ``lo``, ``hi``, ``n`` (see :func:`mean_ci`).

    Examples
    --------
    >>> t = pd.DataFrame({"x": [1] * 4, "seed": [0, 0, 1, 1], "method": ["a", "b"] * 2,
    ...                   "served": [5, 3, 6, 4]})
    >>> paired_difference(t, ["x"], "served", "a", "b")[["x", "mean", "lo", "hi"]].values.tolist()
    [[1.0, 2.0, 2.0, 2.0]]
    """
    wide = trials.pivot_table(index=by + ["seed"], columns="method", values=value)
    diff = (wide[method] - wide[baseline]).rename("diff").reset_index()
    return mean_ci(diff, by, "diff", level)

def jain_index(x) -> float:
    r"""Jain's fairness index :math:`(\sum x)^2 / (n \sum x^2)` of non-negative values.

    1 when all values are equal, ``1/n`` when one value holds everything; NaN when all are 0 (an
    allocation of nothing is neither fair nor unfair).

    Parameters
    ----------
    x : array_like, shape (n,)
        Non-negative, finite values (e.g. the fraction of each model's users served), ``n >= 1``.

    Raises
    ------
    ValueError
        For an empty input, or a negative, NaN or infinite entry (naming its index).

    Examples
    --------
    >>> jain_index([1, 1, 1, 1]), jain_index([1, 0, 0, 0]), round(jain_index([1, 0.5]), 3)
    (1.0, 0.25, 0.9)
    """
    x = np.asarray(x, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("jain_index: no values")
    bad = np.flatnonzero(~np.isfinite(x) | (x < 0))
    if bad.size:
        raise ValueError(f"jain_index: entry {bad[0]} is {x[bad[0]]!r}; values must be finite "
                         "and non-negative")
    top = float(x.max())
    if top == 0.0:
        return float("nan")
    x = x / top                      # scale-free; keeps tiny values from underflowing when squared
    return float(x.sum() ** 2 / (x.size * (x * x).sum()))


def cluster_bootstrap_ci(clusters, stat, level: float = 0.95, n_boot: int = 400,
                         seed: int = 0) -> tuple[float, float, float]:
    """A statistic of pooled samples with a percentile bootstrap interval that resamples clusters.

    Samples from one cluster (e.g. the users of one seeded scenario) are not independent; resampling
    whole clusters with replacement keeps that dependence in the interval.

    Parameters
    ----------
    clusters : sequence of array_like
        One 1-D array of samples per cluster (at least one cluster with samples).
    stat : callable
        Maps a 1-D array of pooled samples to a float (e.g. ``lambda x: np.quantile(x, 0.99)``).
    level : float
        Coverage of the two-sided interval.
    n_boot : int
        Bootstrap replicates.
    seed : int
        Seed of the resampling generator: same inputs, same interval.

    Returns
    -------
    (estimate, lo, hi) : tuple of float
        ``stat`` of all samples pooled, and the interval's bounds.

    Raises
    ------
    ValueError
        If there is no sample at all.

    Examples
    --------
    >>> est, lo, hi = cluster_bootstrap_ci([[1.0, 2.0], [3.0], [4.0, 5.0]], np.mean)
    >>> est, bool(lo <= est <= hi)
    (3.0, True)

    Notes
    -----
    O(n_boot * n_samples) time.
    """
    arrays = [np.asarray(c, dtype=float).ravel() for c in clusters]
    if not arrays or sum(a.size for a in arrays) == 0:
        raise ValueError("cluster_bootstrap_ci: no samples")
    est = float(stat(np.concatenate(arrays)))
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(arrays), len(arrays))
        pooled = np.concatenate([arrays[i] for i in pick])
        if pooled.size:
            reps.append(float(stat(pooled)))
    lo, hi = np.quantile(reps, [0.5 - level / 2, 0.5 + level / 2])
    return est, float(lo), float(hi)
