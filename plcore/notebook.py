"""Helpers shared by the notebooks: quick mode, result folders, figures and tidy tables.

Every notebook writes its outputs through these, so the layout ``results/<name>/<name>.{csv,png}``
is the same everywhere and no notebook hard-codes a path.
"""

from __future__ import annotations

import os
from pathlib import Path

from .paths import result_dir


def quick_mode(quick: bool) -> bool:
    """The notebook's ``quick`` parameter, or forced on by ``PLCORE_QUICK=1`` (as ``make test`` does)."""
    return bool(quick) or os.environ.get("PLCORE_QUICK", "") == "1"


def save_figure(fig, name: str) -> Path:
    """Save ``fig`` as ``results/<name>/<name>.png`` (and .svg) and return the PNG path."""
    out = result_dir(name)
    png = out / f"{name}.png"
    fig.savefig(png, dpi=150, bbox_inches="tight")
    fig.savefig(out / f"{name}.svg", bbox_inches="tight", metadata={"Date": None})
    return png


def save_table(df, name: str, suffix: str = "") -> Path:
    """Save a tidy ``pandas.DataFrame`` as ``results/<name>/<name><suffix>.csv``."""
    path = result_dir(name) / f"{name}{suffix}.csv"
    df.to_csv(path, index=False)
    return path
