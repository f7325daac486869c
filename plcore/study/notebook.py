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


def glue_number(name: str, value, decimals: int):
    """Glue ``value`` rounded to ``decimals`` (an ``int`` when 0), the precision the book shows.

    A float's last digits can differ between CPUs (vectorized log and power round differently),
    and nbval compares glued values as text: rounded to what is displayed, the checked output is
    the same on every machine (``tests/test_notebook_outputs.py`` enforces it).

    Returns the glued value.
    """
    from myst_nb import glue

    v = round(float(value), decimals)
    v = int(v) if decimals <= 0 else v + 0.0        # + 0.0 turns -0.0 into 0.0
    glue(name, v, display=False)
    return v


def glue_sweep_verdict(prefix: str, v: dict, decimals: int, pct_decimals: int = 1) -> None:
    """Glue a :func:`plcore.study.claims.sweep_verdict` as ``<prefix>_<field>``: the verdict, the
    judged point (``_users``), its values (``_before``, ``_after``, to ``decimals``), the change
    there and its range (``_pct``, ``_min_pct``, ``_max_pct``, to ``pct_decimals``), and
    ``_share``, e.g. "2 of 6"."""
    from myst_nb import glue

    glue(f"{prefix}_verdict", v["verdict"], display=False)
    glue(f"{prefix}_users", int(v["x"]), display=False)
    for key in ("before", "after"):
        glue_number(f"{prefix}_{key}", v[key], decimals)
    for key in ("measured_pct", "min_pct", "max_pct"):
        glue_number(f"{prefix}_{key.replace('measured_', '')}", v[key], pct_decimals)
    glue(f"{prefix}_share", f"{v['n_reproduced']} of {v['n_points']}", display=False)


# Glue-key suffix for the DP's gain over each full-loading baseline (see book/results.md).
GAIN_KEYS = {"no-sharing": "gain", "fcfs-full": "fcfs_gain"}


def glue_gains(prefix: str, table) -> None:
    """Glue ``<prefix>_<key>_min`` and ``_max``: the DP's least and largest gain (%) over each
    baseline across a sweep, from a :func:`plcore.study.experiments.throughput_ratios` table."""
    for baseline, key in GAIN_KEYS.items():
        ratio = table[f"dp / {baseline}"]
        glue_number(f"{prefix}_{key}_min", 100 * (ratio.min() - 1), 0)
        glue_number(f"{prefix}_{key}_max", 100 * (ratio.max() - 1), 0)


def glue_raises(prefix: str, trials, x: str, what: str) -> str:
    """Glue ``<prefix>_raises``: does PartialLoading (the DP, and the paper's greedy) serve more
    users than no-sharing at each point of a sweep over ``x``? Compared per seed (the same
    scenario for every method) with 95 % intervals; ``what`` names the points, e.g. "shared
    depths". Returns the glued text (:func:`plcore.study.claims.raises_throughput_verdict`)."""
    from myst_nb import glue

    from .claims import raises_throughput_verdict, throughput_verdict
    from .stats import paired_difference

    verdicts = {}
    for method in ("dp", "greedy"):
        d = paired_difference(trials, [x], "served", method, "no-sharing")
        verdicts[method] = throughput_verdict(d[x], d["lo"], d["hi"])
    text = raises_throughput_verdict(verdicts["dp"], verdicts["greedy"], what)
    glue(f"{prefix}_raises", text, display=False)
    return text
