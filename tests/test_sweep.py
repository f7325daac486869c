"""Sweeps resume from their cache and recompute when the library, data or versions change."""

import platform
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy

import plcore
from plcore import paths
from plcore.study import sweep
from tests import sweep_points
from tests.sweep_points import profile_scale, square


@pytest.fixture
def results(tmp_path, monkeypatch):
    """The results folder of the sweeps this process runs (a fresh one per test)."""
    root = tmp_path / "results"
    monkeypatch.setattr(sweep, "result_dir", lambda name: root / name)
    sweep_points.CALLS.clear()
    return root


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


def test_a_data_change_computes_the_points_again(results, tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "profiles").mkdir(parents=True)
    monkeypatch.setattr(paths, "DATA", data)
    profile = data / "profiles" / "p.json"

    def scale():
        return sweep.run_sweep("prof", profile_scale, [{"profile": "p"}], n_jobs=1,
                               progress=False).scale.tolist()

    profile.write_text('{"scale": 1.0}')
    assert scale() == [1.0]
    profile.write_text('{"scale": 2.0}')
    assert scale() == [2.0]
    # Any file counts, also one the point does not read: the key cannot know what a point reads.
    sweep_points.CALLS.clear()
    (data / "other.json").write_text("{}")
    assert scale() == [2.0] and sweep_points.CALLS == ["p"]
    # Back to the first data: its points are found again.
    (data / "other.json").unlink()
    profile.write_text('{"scale": 1.0}')
    sweep_points.CALLS.clear()
    assert scale() == [1.0] and sweep_points.CALLS == []


VERSIONS = {"python": (platform, "python_version"), "numpy": (np, "__version__"),
            "scipy": (scipy, "__version__"), "pandas": (pd, "__version__")}


@pytest.mark.parametrize("where", VERSIONS.values(), ids=VERSIONS.keys())
def test_a_version_change_computes_the_points_again(results, monkeypatch, where):
    points = [{"x": 2}]
    sweep.run_sweep("ver", square, points, n_jobs=1, progress=False)
    module, attribute = where
    value = getattr(module, attribute)
    monkeypatch.setattr(module, attribute,
                        (lambda: "0.0.0") if callable(value) else value + "+other")
    sweep.run_sweep("ver", square, points, n_jobs=1, progress=False)
    assert sweep_points.CALLS == [2, 2]
