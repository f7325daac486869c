"""Sweeps resume from their cache and recompute when the library changes."""

from pathlib import Path

import pandas as pd
import pytest

import plcore
from plcore.study import sweep


def square(x: int) -> pd.DataFrame:
    return pd.DataFrame({"x": [x], "y": [x * x]})


def test_sweep_caches_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "result_dir", lambda name: tmp_path / name)
    points = [{"x": i} for i in range(5)]
    first = sweep.run_sweep("sq", square, points, n_jobs=1, progress=False)
    assert first.y.tolist() == [0, 1, 4, 9, 16]
    cache = next((tmp_path / "sq" / "cache").iterdir())
    files = sorted(cache.glob("*.csv"))
    assert len(files) == 5
    # An "interrupted" run: one point lost; the rest is reused, not recomputed.
    files[0].unlink()
    calls = []
    monkeypatch.setattr(sweep, "_run_point",
                        lambda fn, p, path: calls.append(p) or sweep.__dict__["_write"](fn, p, path))
    monkeypatch.setitem(sweep.__dict__, "_write", lambda fn, p, path: (fn(**p).to_csv(path, index=False)))
    again = sweep.run_sweep("sq", square, points, n_jobs=1, progress=False)
    assert again.equals(first) and len(calls) == 1


def test_fingerprint_tracks_the_source():
    fp = sweep.library_fingerprint()
    assert len(fp) == 12 and fp == sweep.library_fingerprint()
    assert sweep.point_key(square, {"x": 1}) != sweep.point_key(square, {"x": 2})


@pytest.mark.parametrize("module", ["paths.py", "model/instance.py", "schedulers/dp.py",
                                    "gpu/profile.py", "study/experiments.py"])
def test_the_library_fingerprint_covers_every_module(monkeypatch, module):
    """An edit anywhere in plcore changes the fingerprint (here: the file reads one byte longer)."""
    before = sweep.library_fingerprint()
    edited = Path(plcore.__file__).resolve().parent / module
    read_bytes = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes",
                        lambda self: read_bytes(self) + (b"#" if self == edited else b""))
    assert sweep.library_fingerprint() != before
