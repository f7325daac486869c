"""Figures shared by the notebooks: one style for the whole book, one look per method and per
loading path, means with bands, legends that never cover data.

Every notebook makes its figures with :func:`subplots`, which applies :data:`STYLE` first, so all
figures of the book share fonts, grid and legend frames.
"""

from __future__ import annotations

METHOD_STYLE = {
    "dp": ("PartialLoading DP", "tab:blue", "o"),
    "greedy": ("PartialLoading greedy", "tab:cyan", "s"),
    "density-search": ("density search (ours)", "tab:green", "P"),
    "milp": ("MILP optimum", "black", "*"),
    "no-sharing": ("no sharing (paper's baseline)", "tab:red", "v"),
    "fcfs-full": ("arrival order, full loading", "tab:brown", "D"),
    "edf": ("EDF", "tab:gray", "^"),
    "edf-grouped": ("EDF, ties grouped by model", "tab:purple", "<"),
    "random": ("random", "tab:olive", "x"),
}

# Loading paths in a fixed order and colour, in every figure that shows them.
LOADING_PATHS = ("packed_pinned", "packed_pageable", "torch_to_pinned", "torch_to", "disk")

# The book's figure style (matplotlib rcParams), applied by :func:`apply_style`.
STYLE = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.markersize": 5,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
}


def apply_style() -> None:
    """Apply :data:`STYLE` to matplotlib (idempotent)."""
    import matplotlib

    matplotlib.rcParams.update(STYLE)


def subplots(*args, **kwargs):
    """:func:`matplotlib.pyplot.subplots` in the book's style (:data:`STYLE`)."""
    import matplotlib.pyplot as plt

    apply_style()
    return plt.subplots(*args, **kwargs)


def integer_ticks(ax, axis: str = "x") -> None:
    """Ticks at whole numbers only on ``axis`` ("x", "y" or "both") of ``ax``: a count axis never
    shows 2.5."""
    from matplotlib.ticker import MaxNLocator

    for name in ("x", "y") if axis == "both" else (axis,):
        getattr(ax, f"{name}axis").set_major_locator(MaxNLocator(integer=True))


def legend_outside(ax_or_fig, handles=None, labels=None, *, where: str = "right", ncol=None,
                   **kwargs):
    """A legend outside the data: to the right of an axes (``where="right"``) or under it
    (``"below"``); for a figure, under all its axes. Saved figures use a tight bounding box, so
    the legend is kept whole.

    Returns the legend.
    """
    from matplotlib.figure import Figure

    if handles is None:
        axes = ax_or_fig.axes if isinstance(ax_or_fig, Figure) else [ax_or_fig]
        seen = {}
        for a in axes:
            for h, lab in zip(*a.get_legend_handles_labels()):
                seen.setdefault(lab, h)
        handles, labels = list(seen.values()), list(seen)
    if isinstance(ax_or_fig, Figure):
        return ax_or_fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                                ncol=ncol or min(len(handles), 3), **kwargs)
    if where == "below":
        return ax_or_fig.legend(handles, labels, loc="upper center",
                                bbox_to_anchor=(0.5, -0.2), ncol=ncol or 2, **kwargs)
    return ax_or_fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.02, 0.5),
                            ncol=ncol or 1, **kwargs)


def path_colours(paths) -> dict:
    """A colour per loading path, the same in every figure (``C0``... in :data:`LOADING_PATHS`
    order; paths not listed there come after, sorted)."""
    extra = sorted(set(paths) - set(LOADING_PATHS))
    return {q: f"C{i}" for i, q in enumerate((*LOADING_PATHS, *extra))}


def ordered_paths(paths) -> list:
    """``paths`` (each once) in :data:`LOADING_PATHS` order, unknown ones last, sorted."""
    colours = path_colours(paths)
    return sorted(set(paths), key=lambda q: list(colours).index(q))


def plot_methods(ax, ci, x: str, *, xlabel: str, ylabel: str, logx: bool = False):
    """One line per method (mean) with its confidence band, from a
    :func:`plcore.study.stats.mean_ci` table with columns ``x``, method, mean, lo, hi. An ``x``
    of whole numbers gets whole-number ticks. Methods not in :data:`METHOD_STYLE` are drawn
    too, in the next free colour; an empty grey band in the legend stands for the bands."""
    import numpy as np

    apply_style()
    known = [m for m in METHOD_STYLE if m in set(ci.method)]
    others = sorted(set(ci.method) - set(METHOD_STYLE))
    for i, method in enumerate(known + others):
        label, color, marker = METHOD_STYLE.get(method, (method, f"C{i}", "."))
        c = ci[ci.method == method].sort_values(x)
        ax.plot(c[x], c["mean"], marker=marker, color=color, label=label)
        ax.fill_between(c[x], c.lo, c.hi, color=color, alpha=0.15)
    # the bands' meaning in the legend: an empty grey band stands for all of them
    ax.fill_between([], [], color="grey", alpha=0.15, label="95 % confidence band")
    if logx:
        ax.set_xscale("log")
    values = np.asarray(ci[x], dtype=float)
    if len(values) and np.allclose(values, np.round(values)):
        integer_ticks(ax, "x")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return ax

# Online serving policies (plcore.online), one style each, in every online figure.
POLICY_STYLE = {
    "fifo-whole": ("arrival order, whole-model reloads", "tab:brown", "D"),
    "fifo-cache": ("arrival order, block cache (LRU)", "tab:orange", "v"),
    "pl-greedy": ("PartialLoading, rolling windows", "tab:blue", "o"),
    "edf-batch": ("EDF, same-model batching", "tab:gray", "^"),
    "lyapunov": ("Lyapunov drift-plus-penalty", "tab:green", "s"),
}


def plot_styled(ax, ci, x: str, key: str, style: dict, *, xlabel: str, ylabel: str,
                logx: bool = False):
    """:func:`plot_methods` for any grouping: one line (mean) and band per value of ``ci[key]``
    found in ``style`` (value -> (label, colour, marker)), in ``style``'s order."""
    for value, (label, color, marker) in style.items():
        c = ci[ci[key] == value].sort_values(x)
        if not c.empty:
            ax.plot(c[x], c["mean"], marker=marker, color=color, label=label)
            ax.fill_between(c[x], c.lo, c.hi, color=color, alpha=0.15)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return ax
