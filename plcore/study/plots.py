"""Figures shared by the notebooks: one style per method and per loading path, means with bands."""

from __future__ import annotations

METHOD_STYLE = {
    "dp": ("PartialLoading DP", "tab:blue", "o"),
    "greedy": ("PartialLoading greedy", "tab:cyan", "s"),
    "no-sharing": ("no sharing (paper's baseline)", "tab:red", "v"),
    "fcfs-full": ("arrival order, full loading", "tab:brown", "D"),
    "edf": ("EDF", "tab:gray", "^"),
    "random": ("random", "tab:olive", "x"),
}

# Loading paths in a fixed order and colour, in every figure that shows them.
LOADING_PATHS = ("packed_pinned", "packed_pageable", "torch_to_pinned", "torch_to", "disk")


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
    """One line per method (mean) with its confidence band, from a :func:`plcore.study.stats.mean_ci`
    table with columns ``x``, method, mean, lo, hi."""
    for method, (label, color, marker) in METHOD_STYLE.items():
        c = ci[ci.method == method].sort_values(x)
        if c.empty:
            continue
        ax.plot(c[x], c["mean"], marker=marker, color=color, label=label)
        ax.fill_between(c[x], c.lo, c.hi, color=color, alpha=0.15)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return ax

# EDF whose deadline ties are broken by model (the book's first EDF; plcore.schedulers).
METHOD_STYLE.setdefault("edf-grouped", ("EDF, ties by model", "tab:pink", "<"))
