"""Point functions for the sweep tests, and a sweep to run in a child process.

They live at module level in an importable module because joblib's workers unpickle a function
by importing it. ``run`` is what the tests start with ``python -c``: a sweep of :func:`trial`
whose result goes to a file, so a test can interrupt it, run several at once, or compare them.
"""

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from plcore import paths

# Points computed in this process (n_jobs=1 runs them here), for the tests that count them.
CALLS = []


def square(x: int) -> pd.DataFrame:
    CALLS.append(x)
    return pd.DataFrame({"x": [x], "y": [x * x]})


def trial(seed: int) -> pd.DataFrame:
    """Rows of ints, text and floats (full precision through CSV); none where seed % 5 == 3.

    Sleeps ``SWEEP_TEST_DELAY`` seconds (an environment variable, so the points, and so their
    keys, do not depend on it): slow points give a test time to interrupt a sweep.
    """
    CALLS.append(seed)
    time.sleep(float(os.environ.get("SWEEP_TEST_DELAY", "0")))
    n = 0 if seed % 5 == 3 else 1 + seed % 3
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"seed": [seed] * n, "method": ["dp", "exact", "greedy"][:n],
                         "value": rng.random(n) * 10.0 ** (seed % 7 - 3),
                         "served": rng.integers(0, 30, n)})


def block(seed: int) -> pd.DataFrame:
    """20,000 rows: long enough to write that sweeps writing the same point at once overlap."""
    CALLS.append(seed)
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"seed": seed, "row": np.arange(20_000), "value": rng.random(20_000)})


def sized(seed: int, rows: int) -> pd.DataFrame:
    """``rows`` rows (about 30 bytes each in CSV): a point as large as a test needs."""
    CALLS.append(seed)
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"seed": seed, "row": np.arange(rows), "value": rng.random(rows)})


def fails(seed: int) -> pd.DataFrame:
    """A point function that raises on seed 1: its own error, not the sweep's."""
    CALLS.append(seed)
    if seed == 1:
        raise ArithmeticError(f"point {seed} fails")
    return pd.DataFrame({"seed": [seed]})


def profile_scale(profile: str) -> pd.DataFrame:
    """The ``scale`` of ``<plcore.paths.DATA>/profiles/<profile>.json``, read now."""
    CALLS.append(profile)
    text = (paths.DATA / "profiles" / f"{profile}.json").read_text()
    return pd.DataFrame({"profile": [profile], "scale": [json.loads(text)["scale"]]})


def trial_points(n: int) -> list[dict]:
    return [{"seed": s} for s in range(n)]


def run(name: str, fn: str, n_points: str, n_jobs: str, out: str) -> None:
    """Sweep ``fn`` (a function of this module) over ``n_points`` seeds; its CSV to ``out``.

    The results go under ``PLCORE_RESULTS``. Where ``SWEEP_TEST_BARRIER`` names a folder, the
    sweep first waits there for ``SWEEP_TEST_PARTIES`` processes (up to a minute), so that sweeps
    started one after the other run at the same time.
    """
    from plcore.study.sweep import run_sweep

    barrier = os.environ.get("SWEEP_TEST_BARRIER")
    if barrier:
        (Path(barrier) / str(os.getpid())).touch()
        deadline = time.monotonic() + 60
        while (len(os.listdir(barrier)) < int(os.environ["SWEEP_TEST_PARTIES"])
               and time.monotonic() < deadline):
            time.sleep(0.005)
    df = run_sweep(name, globals()[fn], trial_points(int(n_points)), n_jobs=int(n_jobs),
                   progress=False)
    Path(out).write_text(df.to_csv())
