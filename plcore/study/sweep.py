"""Monte Carlo sweeps: run points in parallel, show progress, cache every finished point.

A sweep is a list of parameter dicts and a module-level function returning a ``DataFrame`` for one
point. Finished points are written to ``results/<name>/cache/<fingerprint>/<key>.csv`` as soon as
they finish, so an interrupted run resumes where it stopped and loses nothing. The fingerprint
hashes plcore's own source: change the library and stale points are recomputed, not reused.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from ..paths import result_dir

_LIB = Path(__file__).resolve().parents[1]   # plcore/, not plcore/study/


def library_fingerprint() -> str:
    """Short hash of every ``plcore/**/*.py`` file: results depend on exactly this code."""
    h = hashlib.sha256()
    for path in sorted(_LIB.rglob("*.py")):
        h.update(path.relative_to(_LIB).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def point_key(fn: Callable, point: dict) -> str:
    text = json.dumps({"fn": f"{fn.__module__}.{fn.__qualname__}", "point": point},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _run_point(fn: Callable, point: dict, path: Path) -> pd.DataFrame:
    df = fn(**point)
    tmp = path.with_suffix(".tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)       # atomic: a killed run never leaves half a file
    return df


def run_sweep(name: str, fn: Callable[..., pd.DataFrame], points: Iterable[dict], *,
              n_jobs: int = -1, progress: bool = True, desc: str | None = None) -> pd.DataFrame:
    """Evaluate ``fn(**point)`` for every point, in parallel, reusing cached points.

    Parameters
    ----------
    name : str
        The result's name: the cache lives under ``results/<name>/cache/``.
    fn : callable
        A module-level (picklable) function returning a ``pandas.DataFrame``.
    points : iterable of dict
        Keyword arguments of ``fn``, one dict per point (JSON-serialisable values).
    n_jobs : int
        joblib workers (-1: one per core).
    progress : bool
        Show a tqdm progress bar (on stderr).

    Returns
    -------
    pandas.DataFrame
        The rows of every point, in the order of ``points``.
    """
    from joblib import Parallel, delayed
    from tqdm import tqdm

    points = list(points)
    cache = result_dir(name) / "cache" / library_fingerprint()
    cache.mkdir(parents=True, exist_ok=True)
    paths = [cache / f"{point_key(fn, p)}.csv" for p in points]
    todo = [i for i, path in enumerate(paths) if not path.exists()]
    if todo:
        jobs = (delayed(_run_point)(fn, points[i], paths[i]) for i in todo)
        runner = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        for _ in tqdm(runner(jobs), total=len(todo), desc=desc or name, disable=not progress,
                      initial=len(points) - len(todo), mininterval=1.0):
            pass
    frames = [pd.read_csv(path) for path in paths]
    # Points without rows (e.g. an order that cannot meet its deadlines) must not turn the
    # columns into objects.
    return pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
