"""Point functions for the sweep tests.

They live at module level in an importable module because joblib's workers unpickle a function
by importing it.
"""

import json

import pandas as pd

from plcore import paths

# Points computed in this process (n_jobs=1 runs them here), for the tests that count them.
CALLS = []


def square(x: int) -> pd.DataFrame:
    CALLS.append(x)
    return pd.DataFrame({"x": [x], "y": [x * x]})


def profile_scale(profile: str) -> pd.DataFrame:
    """The ``scale`` of ``<plcore.paths.DATA>/profiles/<profile>.json``, read now."""
    CALLS.append(profile)
    text = (paths.DATA / "profiles" / f"{profile}.json").read_text()
    return pd.DataFrame({"profile": [profile], "scale": [json.loads(text)["scale"]]})
