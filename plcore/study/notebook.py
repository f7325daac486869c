"""Helpers shared by the notebooks: quick mode, result folders, figures and tidy tables.

Every notebook writes its outputs through these, so the layout ``results/<name>/<name>.{csv,png}``
is the same everywhere and no notebook hard-codes a path.
"""

from __future__ import annotations

import os

from ..paths import result_dir


def quick_mode(quick: bool) -> bool:
    """The notebook's ``quick`` parameter, or forced on by ``PLCORE_QUICK=1`` (as ``make test``
    does)."""
    return bool(quick) or os.environ.get("PLCORE_QUICK", "") == "1"


def save_figure(fig, name: str, show: bool = True, glue_name: str | None = None) -> None:
    """Save ``fig`` as ``results/<name>/<name>.png`` (and .svg), show that PNG, close ``fig``.

    Notebooks run with the non-interactive ``agg`` backend, so the saved PNG is what is displayed:
    the book shows exactly the file the notebook wrote. With ``glue_name``, the PNG is glued under
    that name instead of shown, for a numbered figure with a caption and alt text in the page
    (a ``{glue:figure}`` directive in a markdown cell).
    """
    import matplotlib.pyplot as plt

    out = result_dir(name)
    png = out / f"{name}.png"
    fig.savefig(png, dpi=150, bbox_inches="tight")
    fig.savefig(out / f"{name}.svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    if glue_name is not None:
        from IPython.display import Image
        from myst_nb import glue

        glue(glue_name, Image(filename=str(png)), display=False)
    elif show:
        from IPython.display import Image, display

        display(Image(filename=str(png)))


def show_table(df, columns=None, formats=None, names=None, index: bool = False):
    """``df`` as a plain HTML table for the page: only ``columns`` (default all), each formatted
    with ``formats[column]`` (a format spec such as ``".2f"``, or a callable; default ``str``),
    headers renamed by ``names``, no index unless ``index`` (then reset into columns), nothing
    truncated. The table scrolls sideways on a narrow screen instead of widening the page.

    Returns an :class:`IPython.display.HTML` (its text form is stable, for nbval).

    Examples
    --------
    >>> import pandas as pd
    >>> t = show_table(pd.DataFrame({"n": [1, 2], "x": [0.123, 4.5], "skip": [0, 0]}),
    ...                ["n", "x"], {"x": ".1f"}, {"x": "mean (s)"})
    >>> "<th>mean (s)</th>" in t.data and "<td>0.1</td>" in t.data and "skip" not in t.data
    True
    """
    from IPython.display import HTML

    if index:
        df = df.reset_index()
    columns = list(df.columns if columns is None else columns)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"show_table: no column {missing[0]!r} in {list(df.columns)}")
    formats = dict(formats or {})
    formatters = {}
    for c in columns:
        f = formats.get(c)
        if f is None:
            formatters[c] = str
        elif callable(f):
            formatters[c] = f
        else:
            formatters[c] = (lambda spec: lambda v: "" if v != v else format(v, spec))(f)
    t = df[columns].rename(columns=dict(names or {}))
    formatters = {dict(names or {}).get(c, c): f for c, f in formatters.items()}
    html = t.to_html(index=False, formatters=formatters, border=0, escape=True,
                     classes="plcore-table", na_rep="")
    return HTML(f'<div style="overflow-x: auto">{html}</div>')


def glue_sweep_summary(prefix: str, table, x_decimals: int = 0) -> None:
    """Glue what a throughput sweep's conclusion needs, from a
    :func:`plcore.study.experiments.throughput_ratios` table (index: the swept values):

    ``<prefix>_x_first`` / ``_x_last`` (the swept range, to ``x_decimals``), the mean users served
    by the DP and by no-sharing at both ends (``_dp_first``, ``_dp_last``, ``_ns_first``,
    ``_ns_last``, 1 decimal), the DP's gain over no-sharing at both ends (``_gain_first``,
    ``_gain_last``, %, 0 decimals) and where it is largest (``_gain_best_at``), and two sentences
    comparing the heuristics at every point: ``_greedy_vs_dp`` and ``_greedy_vs_edf``.
    """
    from myst_nb import glue

    x = list(table.index)
    glue_number(f"{prefix}_x_first", x[0], x_decimals)
    glue_number(f"{prefix}_x_last", x[-1], x_decimals)
    for key, col in (("dp", "dp"), ("ns", "no-sharing")):
        glue_number(f"{prefix}_{key}_first", table[col].iloc[0], 1)
        glue_number(f"{prefix}_{key}_last", table[col].iloc[-1], 1)
    gain = 100 * (table["dp / no-sharing"] - 1)
    glue_number(f"{prefix}_gain_first", gain.iloc[0], 0)
    glue_number(f"{prefix}_gain_last", gain.iloc[-1], 0)
    glue_number(f"{prefix}_gain_best_at", gain.idxmax(), x_decimals)
    glue(f"{prefix}_greedy_vs_dp", compare_methods(table, "greedy", "dp"), display=False)
    glue(f"{prefix}_greedy_vs_edf", compare_methods(table, "greedy", "edf"), display=False)


def compare_methods(table, a: str, b: str, labels=None) -> str:
    """A sentence comparing the mean users served by methods ``a`` and ``b`` at every point of
    a sweep (columns of a :func:`plcore.study.experiments.throughput_ratios` table), e.g. "the
    greedy serves more users than EDF at 2 of 6 points, as many at 3 and fewer at 1 (by -0.5 to
    +1.2 users on average)", or "the greedy serves fewer users than the DP at all 6 points (by
    -1.0 to -0.3 users on average)". Differences under 0.05 users count as "as many".

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"greedy": [3.0, 2.0], "edf": [2.0, 2.0]})
    >>> print(compare_methods(t, "greedy", "edf"))  # doctest: +NORMALIZE_WHITESPACE
    the greedy serves more users than EDF at 1 of 2 points, as many at 1
    (by +0.0 to +1.0 users on average)
    """
    labels = {"dp": "the DP", "greedy": "the greedy", "edf": "EDF", "no-sharing": "no-sharing",
              "fcfs-full": "the arrival-order server", **(labels or {})}
    if a not in table or b not in table:
        return f"{labels.get(a, a)} and {labels.get(b, b)} were not both run"
    d = (table[a] - table[b]).round(1) + 0.0      # + 0.0: no "-0.0"
    n = len(d)
    if n == 0:
        return f"no points to compare {labels.get(a, a)} and {labels.get(b, b)} at"
    short = {"more users than": "more", "as many users as": "as many",
             "fewer users than": "fewer"}
    counts = [(w, k) for w, k in zip(short, ((d > 0).sum(), (d == 0).sum(), (d < 0).sum()))
              if k]
    (w0, k0), *others = counts
    head = f"{labels.get(a, a)} serves {w0} {labels.get(b, b)} at "
    if not others:
        head += "both points" if n == 2 else f"all {n} points"
    else:
        head += f"{k0} of {n} points, " + " and ".join(f"{short[w]} at {k}" for w, k in others)
    return head + f" (by {d.min():+.1f} to {d.max():+.1f} users on average)"


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


# Throughput-table columns the result pages discuss, with their headers (random is left out).
THROUGHPUT_COLUMNS = {
    "dp": "DP", "greedy": "greedy", "edf": "EDF", "edf-grouped": "EDF, grouped",
    "no-sharing": "no-sharing", "fcfs-full": "arrival order",
    "dp / no-sharing": "DP / no-sharing", "dp / fcfs-full": "DP / arrival order",
}


def show_throughput_table(table, x_label: str, x_format: str = "g"):
    """A :func:`plcore.study.experiments.throughput_ratios` table as an HTML table: the swept
    value (header ``x_label``), mean users served per method (1 decimal) and the DP's ratios over
    the full-loading baselines (2 decimals)."""
    cols = [c for c in THROUGHPUT_COLUMNS if c in table.columns]
    t = table.reset_index()
    x = t.columns[0]
    formats = {x: x_format, **{c: (".2f" if "/" in c else ".1f") for c in cols}}
    return show_table(t, [x, *cols], formats, {x: x_label, **THROUGHPUT_COLUMNS})
