"""``unshared``: the copy built from the index arrays is the copy rebuilt and revalidated from a
dict (checked against an independent reference), and partial loading on it is the whole-model
loader on the original to the last bit."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import plcore
from plcore.model.instance import InstanceArrays
from plcore.model.sharing import unshared
from plcore.schedulers.baselines import solve_no_sharing
from plcore.schedulers.dp import solve_dp
from plcore.schedulers.greedy import solve_greedy
from plcore.study.scenarios import make_instance
from plcore.study.synthetic import random_instance

from . import strategies

SUMS = ("model_full_s", "link_s", "from_resident_s", "shared_bytes")   # sums: order may differ


def rebuilt(inst):
    """The unshared copy the slow way: a dict with copied blocks, validated by ``from_dict``."""
    d = inst.to_dict()
    pairs = [(m, b) for m, model in inst.models.items() for b in model.blocks]
    fmt = "{}/{}" if len({f"{m}/{b}" for m, b in pairs}) == len(pairs) else "{!r}/{!r}"
    d["blocks"] = {fmt.format(m, b): d["blocks"][b] for m, b in pairs}
    d["models"] = {m: {"blocks": [fmt.format(m, b) for b in model.blocks],
                       "infer_s": model.infer_s} for m, model in inst.models.items()}
    d["resident"] = []
    return plcore.Instance.from_dict(d)


def with_resident(inst, model_index):
    """The same instance with one model's blocks resident at t = 0."""
    d = inst.to_dict()
    d["resident"] = list(d["models"][list(d["models"])[model_index]]["blocks"])
    return plcore.Instance.from_dict(d)


def assert_same_copy(inst):
    flat, ref = unshared(inst), rebuilt(inst)
    assert flat == ref                      # names, blocks, models, users, resident, meta
    got, want = flat.arrays, InstanceArrays.build(ref)
    for field in InstanceArrays.__dataclass_fields__:
        a, b = getattr(got, field), getattr(want, field)
        if field in SUMS:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, err_msg=field)
            assert np.array_equal(a == 0, b == 0), field      # the same exact zeros
        elif isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), field
        else:
            assert a == b, field


@settings(max_examples=60, deadline=None)
@given(strategies.instances(), st.booleans())
def test_copy_is_the_rebuilt_copy(inst, resident):
    if resident:
        inst = with_resident(inst, 0)
    assert_same_copy(inst)


def test_copy_of_a_scenario_instance():
    inst = make_instance(seed=0, n_users=300, sharing="general", deadline_s=(0.5, 20.0),
                         n_clusters=4, models_per_cluster=5)
    assert_same_copy(inst)


def test_copies_with_colliding_names_are_quoted():
    """Model 'x' with block 'y/z' and model 'x/y' with block 'z' would both copy to 'x/y/z'."""
    blocks = {"y/z": {"bytes": 2e6, "load_s": 0.04}, "z": {"bytes": 1e6, "load_s": 0.002}}
    models = {"x": ["y/z", "z"], "x/y": ["z"]}
    inst = plcore.Instance.from_dict({
        "blocks": blocks,
        "models": {m: {"blocks": b, "infer_s": 0.001} for m, b in models.items()},
        "users": [{"model": m, "data_bits": 1e3, "deadline_s": 0.045, "spectral_eff": 2.0}
                  for m in ("x", "x/y", "x/y")],
        "rate": "linear", "bandwidth_hz": 1e6, "resident": ["z"]})
    flat = unshared(inst)
    assert list(flat.blocks) == ["'x'/'y/z'", "'x'/'z'", "'x/y'/'z'"]
    assert flat.arrays.block_names == tuple(flat.blocks)
    assert flat.model_load_s("x") == 0.042 and flat.model_load_s("x/y") == 0.002
    np.testing.assert_array_equal(flat.arrays.link_s, [[0.0, 0.002], [0.042, 0.0]])
    assert not flat.resident and not flat.arrays.resident.any()
    assert_same_copy(inst)
    # Shared 'z' resident, partial loading serves all three; the whole-model loader only 'x/y'.
    assert len(plcore.solve(inst, method="greedy")) == 3
    assert [inst.users[k].model for k in solve_no_sharing(inst)] == ["x/y", "x/y"]


@settings(max_examples=60, deadline=None)
@given(strategies.instances(), st.data())
def test_partial_loading_on_the_copy_is_the_whole_model_loader(inst, data):
    if data.draw(st.booleans()):
        inst = with_resident(inst, data.draw(st.integers(0, len(inst.models) - 1)))
    order = data.draw(st.permutations(range(inst.n_users)))
    whole = plcore.evaluate(inst, order, partial=False)
    part = plcore.evaluate(unshared(inst), order, partial=True)
    assert np.array_equal(whole.load_s, part.load_s)
    assert np.array_equal(whole.start_s, part.start_s)
    assert whole.feasible == part.feasible


@pytest.mark.parametrize("seed", range(20))
def test_schedulers_schedule_the_copy_as_the_rebuilt_copy(seed):
    inst = random_instance(seed, 40, 6, structure=("general", "bottom")[seed % 2],
                           bandwidth_hz=(3e6, 2e7, 1e9)[seed % 3],
                           rate=("shannon", "linear")[seed % 2], common_deadline=seed % 4 == 0)
    assert solve_greedy(unshared(inst)) == solve_greedy(rebuilt(inst))
    if seed % 4 == 0:
        assert solve_dp(unshared(inst)) == solve_dp(rebuilt(inst))


def test_large_copy_schedules_as_the_rebuilt_copy():
    inst = make_instance(seed=0, n_users=2000, sharing="general", deadline_s=(0.5, 20.0),
                         n_clusters=4, models_per_cluster=5)
    assert solve_greedy(unshared(inst)) == solve_greedy(rebuilt(inst))
