"""The online pages' experiment helpers: catalogue from a scenario, one run as a row, the knee."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plcore.online import cluster_catalogue, generate, make_policy, simulate
from plcore.online.metrics import summary
from plcore.study import online_experiments as ox
from plcore.study.scenarios import Scenario, make_instance


def test_the_catalogue_is_the_scenarios_blocks_and_models_without_users():
    changes = {"n_clusters": 3, "models_per_cluster": 2, "shared_depth": 10}
    cat = ox.scenario_catalogue(changes)
    inst = make_instance(Scenario().replace(**changes), seed=5)
    assert cat.n_users == 0
    assert cat.models == inst.models and cat.blocks == inst.blocks
    assert cat.bandwidth_hz == inst.bandwidth_hz and cat.noise_psd_w_hz == inst.noise_psd_w_hz
    assert ox.scenario_catalogue(Scenario().replace(**changes)).models == cat.models


def test_model_bytes_and_the_whole_server_rate_by_hand():
    cat = cluster_catalogue(n_clusters=1, models_per_cluster=2, backbone_blocks=2,
                            backbone_bytes=2e6, head_bytes=1e6, load_Bps=1e9, overhead_s=0.0,
                            infer_s=0.002)
    assert ox.model_bytes(cat) == pytest.approx(3e6)
    # whole load 3 ms + inference 2 ms: 200 requests per second
    assert ox.whole_server_rate(cat) == pytest.approx(200.0)


def test_a_trial_is_the_simulators_summary_at_the_asked_rate():
    row = ox.online_trial(3, "fifo-cache", load=0.7, n_requests=150, capacity_models=2.0)
    assert len(row) == 1
    r = row.iloc[0]
    cat = ox.scenario_catalogue()
    rate = 0.7 * ox.whole_server_rate(cat)
    w = generate(cat, 150, rate, seed=3)
    s = summary(simulate(cat, w, make_policy("fifo-cache"),
                         capacity_bytes=2.0 * ox.model_bytes(cat)), n_boot=1000, seed=3)
    assert r.rate_hz == pytest.approx(rate)
    for key in ("served", "late", "rejected", "goodput_hz", "latency_p99_s", "jain_users",
                "bytes_per_served", "cache_hit_rate"):
        assert r[key] == pytest.approx(s[key]), key
    assert r.served + r.late + r.rejected == 150
    assert r.served_share == pytest.approx(s["goodput_hz"] / s["arrival_rate_hz"])
    assert 0 <= r.served_share <= 1
    # Seeded: the same point gives the same row.
    pd.testing.assert_frame_equal(row, ox.online_trial(3, "fifo-cache", load=0.7,
                                                       n_requests=150, capacity_models=2.0))


def test_a_trial_passes_V_to_the_lyapunov_policy_only():
    a = ox.online_trial(0, "lyapunov", load=3.0, n_requests=200, V=0.0).iloc[0]
    b = ox.online_trial(0, "lyapunov", load=3.0, n_requests=200, V=1000.0).iloc[0]
    assert a.V == 0.0 and b.V == 1000.0
    assert (a.served, a.jain_models) != (b.served, b.jain_models)
    assert math.isnan(ox.online_trial(0, "fifo-whole", n_requests=50, V=5.0).iloc[0].V)


@pytest.mark.parametrize("bad, match", [({"load": 0.0}, "load"),
                                        ({"capacity_models": -1.0}, "capacity_models"),
                                        ({"policy": "nope"}, "unknown policy")])
def test_a_bad_trial_names_its_parameter(bad, match):
    args = {"seed": 0, "policy": "fifo-cache", "n_requests": 10, **bad}
    with pytest.raises(ValueError, match=match):
        ox.online_trial(**args)


def test_the_knee_by_hand():
    assert ox.knee([1, 2, 3], [1.0, 0.9, 0.5]) == pytest.approx(1.5)
    assert ox.knee([1, 2, 3], [0.9, 0.8, 0.5]) == 1.0            # below from the start
    assert math.isnan(ox.knee([1, 2, 3], [1.0, 0.99, 0.96]))     # beyond the sweep
    assert ox.knee([1, 2, 3], [1.0, 0.95, 0.5]) == 2.0   # 0.95 still keeps up: the knee is at 2
    with pytest.raises(ValueError, match="increase"):
        ox.knee([2, 1], [1.0, 0.5])
    with pytest.raises(ValueError, match="non-empty"):
        ox.knee([], [])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12), st.floats(0.05, 0.99))
def test_the_knee_is_where_the_interpolated_curve_first_crosses(ys, threshold):
    """Against an independent formulation: the first crossing of the piecewise-linear curve,
    found on a fine grid."""
    xs = np.arange(len(ys), dtype=float)
    k = ox.knee(xs, ys, threshold)
    below = [y < threshold for y in ys]
    if not any(below):
        assert math.isnan(k)
        return
    if below[0]:
        assert k == 0.0
        return
    grid = np.linspace(0, len(ys) - 1, 200001)
    curve = np.interp(grid, xs, ys)
    first = grid[np.argmax(curve < threshold)]
    assert k == pytest.approx(first, abs=1e-4)
    assert np.interp(k, xs, ys) == pytest.approx(threshold, abs=1e-9)
