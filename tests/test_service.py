"""Serving a schedule as early as possible, against a plain forward simulation."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import plcore
from plcore import ScheduleError
from plcore.study.service import serve
from plcore.study.stats import jain_index

from . import strategies
from .reference import radio, rate, ref_loads

instances = strategies.instances()


def upload_by_bisection(inst, k, b):
    """Smallest t with t r(b) >= D, by bisection on t itself."""
    D = inst.users[k].data_bits
    if D == 0:
        return 0.0
    r = b * radio(inst, k) if inst.rate == "linear" else rate(b, radio(inst, k))
    lo, hi = 0.0, 1.0
    while hi * r < D:
        hi *= 2
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if mid * r >= D else (mid, hi)
    return hi


def simulate(inst, seq, b, partial):
    """GPU runs in order; a user's inference waits for its model and for its data."""
    loads = ref_loads(inst, seq, partial)
    t, finish = 0.0, []
    for k, L, bk in zip(seq, loads, b):
        ready = t + L
        t = max(ready, upload_by_bisection(inst, k, bk)) + inst.models[inst.users[k].model].infer_s
        finish.append(t)
    return finish


@st.composite
def feasible_schedule(draw):
    inst = draw(instances)
    method = draw(st.sampled_from(["exact", "greedy", "edf", "random"]))
    return inst, plcore.solve(inst, method=method)


@settings(max_examples=150, deadline=None)
@given(feasible_schedule(), st.sampled_from(["equal", "proportional", "none"]))
def test_serve_matches_forward_simulation_and_meets_deadlines(case, share):
    inst, seq = case
    sv = serve(inst, seq, share=share)
    ev = plcore.evaluate(inst, seq)
    assert sv.sequence == tuple(seq)
    # never less than the least bandwidth; the whole band is used unless nothing is shared out
    assert np.all(sv.bandwidth_hz >= ev.bandwidth_hz * (1 - 1e-12))
    if seq and share != "none" and ev.total_bandwidth_hz > 0:
        assert sv.bandwidth_hz.sum() == pytest.approx(inst.bandwidth_hz, rel=1e-9)
    ref = simulate(inst, seq, sv.bandwidth_hz, partial=True)
    np.testing.assert_allclose(sv.finish_s, ref, rtol=1e-9, atol=1e-12)
    deadlines = np.array([inst.users[k].deadline_s for k in seq])
    assert np.all(sv.finish_s <= deadlines + 1e-12)
    # served as early as possible: never later than the ALAP timeline
    assert np.all(sv.start_s <= ev.start_s + 1e-12)


def test_share_none_uploads_end_at_the_alap_starts():
    inst = plcore.load_instance("data/instances/example.json")
    seq = plcore.solve(inst, method="exact")
    sv = serve(inst, seq, share="none")
    np.testing.assert_allclose(sv.upload_s, plcore.evaluate(inst, seq).start_s, rtol=1e-9)


def test_whole_model_loader_is_served_under_its_own_loads():
    inst = plcore.load_instance("data/instances/example.json")
    seq = plcore.solve(inst, method="no-sharing")
    sv = serve(inst, seq, partial=False)
    np.testing.assert_allclose(sv.load_s, ref_loads(inst, seq, partial=False))
    np.testing.assert_allclose(sv.finish_s, simulate(inst, seq, sv.bandwidth_hz, partial=False),
                               rtol=1e-9)


def test_infeasible_schedule_is_refused_with_its_reason():
    inst = plcore.load_instance("data/instances/example.json")
    everyone = list(range(inst.n_users))
    assert not plcore.evaluate(inst, everyone).feasible
    with pytest.raises(ScheduleError, match="infeasible schedule: "):
        serve(inst, everyone)
    with pytest.raises(ValueError, match="share must be one of"):
        serve(inst, [], share="fair")


def test_empty_schedule():
    inst = plcore.load_instance("data/instances/example.json")
    sv = serve(inst, [])
    assert sv.finish_s.shape == (0,)


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=30))
def test_jain_index_bounds_and_definition(x):
    j = jain_index(x)
    if not any(x):
        assert math.isnan(j)
        return
    n = len(x)
    assert 1 / n - 1e-12 <= j <= 1 + 1e-12
    # the definition, written out in plain Python (scaled by the largest value: the index is
    # scale-free, and squares of tiny values would underflow)
    y = [v / max(x) for v in x]
    assert j == pytest.approx(sum(y) ** 2 / (n * sum(v * v for v in y)), rel=1e-9)


@pytest.mark.parametrize("bad, where", [([], "no values"), ([1, -1], "entry 1"),
                                        ([float("nan")], "entry 0"), ([1, float("inf")], "entry 1")])
def test_jain_index_rejects_bad_input(bad, where):
    with pytest.raises(ValueError, match=where):
        jain_index(bad)


def test_service_summary_by_hand():
    import pandas as pd

    from plcore.study.experiments import service_summary

    nan = float("nan")
    df = pd.DataFrame({
        "seed": [0, 0, 0, 1, 1, 1], "method": ["dp"] * 6, "model": ["a", "a", "b", "a", "b", "b"],
        "served": [True, True, False, True, True, False],
        "upload_s": [0.01, 0.03, nan, 0.02, 0.04, nan],
        "latency_s": [0.1, 0.2, nan, 0.3, 0.4, nan]})
    s = service_summary(df, n_boot=50).set_index("metric")["mean"]
    assert s["served"] == 2.0
    assert s["upload_ms"] == pytest.approx((20.0 + 30.0) / 2)
    # seed 0: fractions (1, 0) -> 1/2; seed 1: (1, 1/2) -> 1.5^2 / (2 * 1.25) = 0.9
    assert s["jain"] == pytest.approx((0.5 + 0.9) / 2)
    assert s["latency_p50_ms"] == pytest.approx(250.0)
    assert s["latency_p99_ms"] == pytest.approx(float(np.quantile([100, 200, 300, 400], 0.99)))
