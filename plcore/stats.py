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
