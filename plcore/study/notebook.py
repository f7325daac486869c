"""Helpers shared by the notebooks: quick mode, result folders, figures and tidy tables.

Every notebook writes its outputs through these, so the layout ``results/<name>/<name>.{csv,png}``
is the same everywhere and no notebook hard-codes a path.
"""

from __future__ import annotations

import os

from ..paths import result_dir


def quick_mode(quick: bool) -> bool:
    """The notebook's ``quick`` parameter, or forced on by ``PLCORE_QUICK=1`` (as ``make test`` does)."""
    return bool(quick) or os.environ.get("PLCORE_QUICK", "") == "1"


def save_figure(fig, name: str, show: bool = True) -> None:
    """Save ``fig`` as ``results/<name>/<name>.png`` (and .svg), show that PNG, close ``fig``.

    Notebooks run with the non-interactive ``agg`` backend, so the saved PNG is what is displayed:
    the book shows exactly the file the notebook wrote.
    """
    import matplotlib.pyplot as plt

    out = result_dir(name)
    png = out / f"{name}.png"
    fig.savefig(png, dpi=150, bbox_inches="tight")
    fig.savefig(out / f"{name}.svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    if show:
        from IPython.display import Image, display

        display(Image(filename=str(png)))


def save_table(df, name: str, suffix: str = "") -> None:
    """Save a tidy ``pandas.DataFrame`` as ``results/<name>/<name><suffix>.csv``."""
    df.to_csv(result_dir(name) / f"{name}{suffix}.csv", index=False)


# Glue-key suffix for the DP's gain over each full-loading baseline (see book/results.md).
GAIN_KEYS = {"no-sharing": "gain", "fcfs-full": "fcfs_gain"}


def glue_gains(prefix: str, table) -> None:
    """Glue ``<prefix>_<key>_min`` and ``_max``: the DP's least and largest gain (%) over each
    baseline across a sweep, from a :func:`plcore.study.experiments.throughput_ratios` table."""
    from myst_nb import glue

    for baseline, key in GAIN_KEYS.items():
        ratio = table[f"dp / {baseline}"]
        glue(f"{prefix}_{key}_min", float(100 * (ratio.min() - 1)), display=False)
        glue(f"{prefix}_{key}_max", float(100 * (ratio.max() - 1)), display=False)
