"""Where data and results live (one place, so notebooks never hard-code paths).

Data flows one way: ``data/`` -> ``plcore`` -> ``notebooks/`` -> ``book/``. Notebooks run with their
own folder as working directory, so every path here is absolute, from the repository root.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(os.environ.get("PLCORE_ROOT", Path(__file__).resolve().parent.parent))
DATA = ROOT / "data"
PROFILES = DATA / "profiles"
INSTANCES = DATA / "instances"
# `make test` points this elsewhere, so quick test runs never overwrite the book's results.
RESULTS = Path(os.environ.get("PLCORE_RESULTS", ROOT / "results"))


def result_dir(name: str) -> Path:
    """``results/<name>/``, created if absent: one folder per notebook for its CSV and figure."""
    path = RESULTS / name
    path.mkdir(parents=True, exist_ok=True)
    return path
