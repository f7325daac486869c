"""The evaluator against an as-early-as-possible simulation, and the decoupling property."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import plcore
from plcore import ScheduleError
from plcore.study.synthetic import random_instance

from . import strategies
from .reference import asap_meets_deadlines, bandwidth_bisect, radio, ref_loads

instances = strategies.instances()


@st.composite
def instance_and_order(draw):
    inst = draw(instances)
    order = draw(st.permutations(range(inst.n_users)))
    n = draw(st.integers(0, inst.n_users))
    return inst, list(order[:n])


@settings(max_examples=400, deadline=None)
@given(instance_and_order(), st.booleans())
def test_alap_verdict_equals_asap_forward_simulation(case, partial):
    inst, seq = case
    ev = plcore.evaluate(inst, seq, partial=partial)
    loads = ref_loads(inst, seq, partial=partial)
    np.testing.assert_allclose(ev.load_s, loads, rtol=1e-12, atol=1e-15)
    assert ev.meets_deadlines == asap_meets_deadlines(inst, seq, loads)
    if ev.meets_deadlines and seq:
        # Inference intervals are ordered, leave room for each load, and end by the deadlines.
        assert ev.start_s[0] - ev.load_s[0] >= -1e-12
        assert np.all(ev.start_s[1:] - ev.load_s[1:] >= ev.finish_s[:-1] - 1e-12)
        assert np.all(ev.finish_s <= inst.arrays.deadline_s[seq] + 1e-12)
    # Bandwidth from an independent bisection at the evaluator's start times.
    ref = bandwidth_bisect([inst.users[k].data_bits for k in seq], [radio(inst, k) for k in seq],
                           ev.start_s, linear=inst.rate == "linear")
    finite = np.isfinite(ref) & (ref < 1e15)
    np.testing.assert_allclose(ev.bandwidth_hz[finite], ref[finite], rtol=1e-8)
    assert ev.feasible == (ev.meets_deadlines
                           and ev.total_bandwidth_hz <= inst.bandwidth_hz * (1 + 1e-9))
    assert ev.throughput == (len(seq) if ev.feasible else 0)
    assert (ev.reason is None) == ev.feasible


def random_valid_timing(rng, inst, seq, loads, gamma):
    """Start times drawn from the constraints alone (order, loads, own deadline), or None.

    Each start is ``earliest + (latest_own - earliest) * U**gamma``; ``gamma = inf`` is the
    as-early-as-possible timing, valid whenever the order can meet its deadlines at all.
    """
    arr = inst.arrays
    s = np.empty(len(seq))
    earliest = 0.0
    for i, k in enumerate(seq):
        lo = earliest + loads[i]
        hi = arr.deadline_s[k] - arr.infer_s[k]
        if hi < lo - 1e-12:
            return None
        s[i] = lo if np.isinf(gamma) else lo + max(hi - lo, 0.0) * rng.random() ** gamma
        earliest = s[i] + arr.infer_s[k]
    return s


@settings(max_examples=150, deadline=None)
@given(instance_and_order(), st.integers(0, 2**32 - 1))
def test_decoupling_no_valid_timing_needs_less_bandwidth_than_alap(case, seed):
    """For a fixed order, ALAP starts bound every valid timing's starts, so its bandwidth is least."""
    inst, seq = case
    ev = plcore.evaluate(inst, seq)
    rng = np.random.default_rng(seed)
    loads = ref_loads(inst, seq)
    gammas = [np.inf] + [float(g) for g in rng.choice([1.0, 3.0, 10.0, 30.0], size=80)]
    timings = [t for g in gammas if (t := random_valid_timing(rng, inst, seq, loads, g)) is not None]
    assert bool(timings) == ev.meets_deadlines or not seq
    if not timings or not seq:
        return
    s = np.array(timings)                                   # (samples, n)
    for row in s:
        assert np.all(row <= ev.start_s + 1e-12)
    D = np.array([inst.users[k].data_bits for k in seq])
    a = np.array([radio(inst, k) for k in seq])
    bw = bandwidth_bisect(np.broadcast_to(D, s.shape), np.broadcast_to(a, s.shape), s,
                          linear=inst.rate == "linear")
    assert np.all(bw.sum(axis=1) >= ev.total_bandwidth_hz * (1 - 1e-8))


def test_small_example_by_hand():
    inst = plcore.Instance.from_dict({
        "blocks": {"base": {"bytes": 1, "load_s": 0.010}, "h1": {"bytes": 1, "load_s": 0.001},
                   "h2": {"bytes": 1, "load_s": 0.002}},
        "models": {"m1": {"blocks": ["base", "h1"], "infer_s": 0.005},
                   "m2": {"blocks": ["base", "h2"], "infer_s": 0.004}},
        "users": [{"model": "m1", "data_bits": 1e5, "deadline_s": 0.030, "spectral_eff": 2.0},
                  {"model": "m2", "data_bits": 2e5, "deadline_s": 0.050, "spectral_eff": 4.0}],
        "rate": "linear", "bandwidth_hz": 1e7})
    ev = plcore.evaluate(inst, [0, 1])
    # Loads: 0.011 then only h2 (0.002). ALAP: s_2 = 0.050 - 0.004 = 0.046;
    # F_1 = min(0.030, 0.046 - 0.002) = 0.030, s_1 = 0.025.
    np.testing.assert_allclose(ev.load_s, [0.011, 0.002])
    np.testing.assert_allclose(ev.start_s, [0.025, 0.046])
    np.testing.assert_allclose(ev.bandwidth_hz, [1e5 / (2 * 0.025), 2e5 / (4 * 0.046)])
    assert ev.slack_s == pytest.approx(0.014) and ev.feasible
    full = plcore.evaluate(inst, [0, 1], partial=False)
    np.testing.assert_allclose(full.load_s, [0.011, 0.012])
    late = plcore.evaluate(inst.replace(users=[
        {"model": "m1", "data_bits": 1e5, "deadline_s": 0.010, "spectral_eff": 2.0}]), [0])
    assert not late.feasible and "deadline missed: user 0" in late.reason
    poor = plcore.evaluate(inst.replace(bandwidth_hz=1e5), [0, 1])
    assert poor.meets_deadlines and not poor.feasible and poor.reason.startswith("bandwidth")


def test_impossible_upload_is_explained():
    inst = random_instance(3, 2, 1, data_bits=(1e9, 2e9))   # far beyond any rate's supremum
    ev = plcore.evaluate(inst, [0])
    assert not ev.feasible and "at any bandwidth" in (ev.reason or "")


def test_empty_schedule():
    ev = plcore.evaluate(random_instance(1, 3, 2), [])
    assert ev.feasible and ev.throughput == 0 and ev.total_bandwidth_hz == 0.0


@pytest.mark.parametrize("seq,message", [
    ([0, 0], r"schedule\[1\]: user 0 already served at position 0"),
    ([0, 7], r"schedule\[1\]: unknown user 7"),
    ([-1], r"schedule\[0\]: unknown user -1"),
    ([0.0], r"schedule\[0\]: user index must be an integer"),
    ([True], r"must be an integer"),
    (5, r"schedule must be a sequence"),
    ({0, 1}, r"schedule must be ordered .* got a set"),
])
def test_bad_sequences_raise(seq, message):
    with pytest.raises(ScheduleError, match=message):
        plcore.evaluate(random_instance(1, 3, 2), seq)


_items = st.one_of(st.integers(-2, 9), st.booleans(), st.floats(-1, 9), st.none(),
                   st.integers(-2, 9).map(np.int64), st.integers(0, 9).map(np.uint8),
                   st.just(np.bool_(True)), st.just(2**70), st.text(max_size=1))


@settings(max_examples=300, deadline=None)
@given(items=st.lists(_items, max_size=8), as_array=st.booleans())
def test_whole_array_schedule_check_agrees_with_the_item_walk(items, as_array):
    """The check by whole-array operations gives the same verdict, and the same message naming
    the first bad position, as checking item by item (the original way)."""
    from plcore.model.timeline import _check_items, schedule_indices

    inst = random_instance(0, 8, 2)
    seq = items
    if as_array:
        try:
            seq = np.array(items)
        except (ValueError, OverflowError):
            pass

    def outcome(f, *args):
        try:
            return list(f(inst, *args))
        except ScheduleError as exc:
            return str(exc)

    assert outcome(schedule_indices, seq) == outcome(_check_items, list(seq))


def test_valid_schedules_skip_the_item_by_item_walk(monkeypatch):
    """A valid schedule is checked by whole-array operations only: the Python walk over its items
    (once 40 % of an evaluate call) runs only to name a bad entry."""
    from plcore.model import timeline

    def walk(*args):
        raise AssertionError("item-by-item walk on a valid schedule")

    inst = random_instance(0, 8, 3)
    expected = plcore.evaluate(inst, [3, 0, 5]).to_dict()
    monkeypatch.setattr(timeline, "_check_items", walk)
    for seq in ([3, 0, 5], (3, 0, 5), np.array([3, 0, 5]), np.array([3, 0, 5], dtype=np.uint8),
                [np.int64(3), 0, np.int32(5)], [], range(0)):
        got = plcore.evaluate(inst, seq)
        if len(seq):
            assert got.to_dict() == expected
    with pytest.raises(AssertionError, match="item-by-item"):
        plcore.evaluate(inst, [3, 3])        # a bad schedule does take the walk, to name it


def test_to_dict_is_json_ready():
    import json

    inst = random_instance(3, 2, 1, data_bits=(1e9, 2e9))
    json.dumps(plcore.evaluate(inst, [1, 0]).to_dict(), allow_nan=False)


def test_deadlines_met_exactly_on_a_long_horizon():
    """Start times are running sums: at a horizon of days their rounding exceeds 1 ps. Deadlines
    met exactly (as early as possible) stay feasible, and every solver's answer passes evaluate."""
    load, infer = 0.1, 30000.7
    inst = plcore.Instance.from_dict({
        "blocks": {"a": {"bytes": 1, "load_s": load}},
        "models": {"m": {"blocks": ["a"], "infer_s": infer}},
        "users": [{"model": "m", "data_bits": 0, "deadline_s": load + (k + 1) * infer,
                   "spectral_eff": 1.0} for k in range(3)],
        "rate": "linear", "bandwidth_hz": 1.0})
    assert plcore.evaluate(inst, [0, 1, 2]).feasible
    for method in ("exact", "greedy", "edf", "no-sharing"):
        assert plcore.solve(inst, method=method) == [0, 1, 2]
    for method in ("random", "fcfs-full"):
        assert plcore.evaluate(inst, plcore.solve(inst, method=method)).feasible


def test_a_start_rounded_just_below_zero_needs_no_bandwidth_without_data():
    """ALAP starts are running sums: one exactly at t = 0 can come out at -1e-28. Within the
    timing tolerance it is t = 0, so a user with no data needs no bandwidth (as every solver,
    computing the same start in another order, finds)."""
    inst = plcore.Instance.from_dict({
        "blocks": {"b": {"bytes": 1, "load_s": 3.3e-12}},
        "models": {"m": {"blocks": ["b"], "infer_s": 1e-12},
                   "far": {"blocks": ["b"], "infer_s": 1.0}},
        "users": [{"model": "m", "data_bits": 0, "deadline_s": 1e-12, "spectral_eff": 1.0},
                  {"model": "far", "data_bits": 1e6, "deadline_s": 999999.9, "spectral_eff": 1.0}],
        "rate": "linear", "bandwidth_hz": 1e3})
    ev = plcore.evaluate(inst, [0])
    assert -inst.arrays.time_tol_s <= ev.start_s[0] <= 0 and ev.bandwidth_hz[0] == 0
    assert ev.feasible
    for method in ("exact", "greedy", "edf", "no-sharing"):
        assert plcore.evaluate(inst, plcore.solve(inst, method=method)).feasible


def resident_instance():
    """Model m1 wholly resident at t = 0 (its blocks base and h1), m2 sharing base."""
    return plcore.Instance.from_dict({
        "blocks": {"base": {"bytes": 1, "load_s": 0.010}, "h1": {"bytes": 1, "load_s": 0.001},
                   "h2": {"bytes": 1, "load_s": 0.002}},
        "models": {"m1": {"blocks": ["base", "h1"], "infer_s": 0.005},
                   "m2": {"blocks": ["base", "h2"], "infer_s": 0.004}},
        "users": [{"model": "m1", "data_bits": 1e5, "deadline_s": 0.030, "spectral_eff": 2.0},
                  {"model": "m2", "data_bits": 2e5, "deadline_s": 0.050, "spectral_eff": 4.0},
                  {"model": "m1", "data_bits": 1e4, "deadline_s": 0.008, "spectral_eff": 2.0}],
        "rate": "linear", "bandwidth_hz": 1e7, "resident": ["base", "h1"]})


def test_whole_model_loader_loads_the_first_model_whatever_is_resident():
    """MODEL.md section 5: the whole-model loader knows models, not blocks; residency is a block
    notion only a partial loader can use."""
    inst = resident_instance()
    np.testing.assert_allclose(plcore.evaluate(inst, [0, 1]).load_s, [0.0, 0.002])
    np.testing.assert_allclose(plcore.evaluate(inst, [0, 1], partial=False).load_s, [0.011, 0.012])
    np.testing.assert_allclose(plcore.evaluate(inst, [0, 2], partial=False).load_s, [0.011, 0.0])
    # User 2 (deadline 8 ms) is served at once by partial loading only.
    assert plcore.evaluate(inst, [2]).feasible
    whole = plcore.evaluate(inst, [2], partial=False)
    assert not whole.feasible and "deadline missed" in whole.reason
    assert ref_loads(inst, [2, 0, 1], partial=False) == pytest.approx([0.011, 0.0, 0.012])


@pytest.mark.parametrize("method", ["no-sharing", "fcfs-full"])
def test_whole_model_baselines_stay_feasible_with_resident_blocks(method):
    """Their schedules are checked under the whole-model loader (solve() re-evaluates them with
    partial=False): a wholly resident first model must not be counted as loaded."""
    inst = resident_instance()
    seq = plcore.solve(inst, method=method)
    assert plcore.evaluate(inst, seq, partial=False).feasible
    assert 2 not in seq                 # only reachable without loading m1
    for seed in range(20):
        inst = random_instance(seed, 6, 3, structure=("bottom", "general")[seed % 2])
        inst = inst.replace(resident=list(next(iter(inst.models.values())).blocks))
        assert plcore.evaluate(inst, plcore.solve(inst, method=method), partial=False).feasible


@pytest.mark.parametrize("partial", ["False", "True", None, 0, 1, [], np.array([True])])
def test_partial_must_be_a_bool(partial):
    inst = resident_instance()
    with pytest.raises(TypeError, match="partial: must be True .* or False"):
        plcore.evaluate(inst, [0], partial=partial)
    from plcore.model.timeline import load_times

    with pytest.raises(TypeError, match="partial"):
        load_times(inst.arrays, [0], partial=partial)


def test_partial_accepts_numpy_bools():
    inst = resident_instance()
    ev = plcore.evaluate(inst, [0, 1], partial=np.bool_(False))
    assert ev.partial is False and ev.load_s[0] == pytest.approx(0.011)


@settings(max_examples=80, deadline=None)
@given(instances, st.data())
def test_unshared_partial_equals_whole_model_loader_with_resident_blocks(inst, data):
    """Partial loading on the unshared instance is the whole-model loader on the original, also
    when blocks (or whole models) are resident at t = 0."""
    from plcore.model.sharing import unshared

    resident = data.draw(st.lists(st.sampled_from(sorted(inst.blocks)), unique=True))
    inst = inst.replace(resident=resident)
    order = data.draw(st.permutations(range(inst.n_users)))
    a = plcore.evaluate(inst, order, partial=False)
    b = plcore.evaluate(unshared(inst), order, partial=True)
    np.testing.assert_allclose(a.load_s, b.load_s, rtol=1e-12, atol=1e-15)
    assert a.feasible == b.feasible
