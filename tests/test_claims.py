"""The verdict rule for claimed changes (plcore.study.claims)."""

import pytest

from plcore.study.claims import change_verdict, relative_change_pct, sweep_verdict


@pytest.mark.parametrize("measured, claimed, verdict", [
    (-35.0, -35.0, "reproduced"), (-25.0, -35.0, "reproduced"), (-24.9, -35.0,
     "direction reproduced, size not"), (-46.0, -35.0, "direction reproduced, size not"),
    (3.0, -35.0, "not reproduced"), (0.0, 23.6, "not reproduced"), (30.0, 23.6, "reproduced"),
    (-1.9, -35.0, "not reproduced"), (-2.0, -35.0, "direction reproduced, size not"),
    (100.0, 100 * (2.1 - 1), "reproduced")])      # x2.0 against x2.1: on the bound, not past it
def test_change_verdict(measured, claimed, verdict):
    assert change_verdict(measured, claimed) == verdict


def test_relative_change_refuses_undefined():
    assert relative_change_pct(220, 142) == pytest.approx(-35.4545, abs=1e-3)
    with pytest.raises(ValueError, match="undefined"):
        relative_change_pct(0.0, 1.0)


def test_sweep_verdict_judges_the_fixed_point_not_the_closest():
    # The change runs from -1 % to -60 %; -35 % is met only at 10 users.
    x, before, after = [5, 10, 20], [100.0, 100.0, 100.0], [99.0, 70.0, 40.0]
    v = sweep_verdict(x, before, after, -35.0, at=20)
    assert (v["verdict"], v["x"]) == ("direction reproduced, size not", 20)
    assert v["measured_pct"] == pytest.approx(-60.0)
    assert v["min_pct"] == pytest.approx(-60.0) and v["max_pct"] == pytest.approx(-1.0)
    assert (v["n_points"], v["n_reproduced"], v["n_direction"]) == (3, 1, 2)
    assert sweep_verdict(x, before, after, -35.0, at=10)["verdict"] == "reproduced"
    assert sweep_verdict(x, before, after, -35.0, at=5)["verdict"] == "not reproduced"


def test_sweep_verdict_refuses_a_point_outside_the_sweep():
    with pytest.raises(ValueError, match="empty sweep"):
        sweep_verdict([], [], [], -35.0, at=5)
    with pytest.raises(ValueError, match="not among the swept"):
        sweep_verdict([5, 10], [1.0, 1.0], [1.0, 1.0], -35.0, at=30)


def test_optimality_gaps_by_hand():
    from plcore.study.claims import optimality_gaps

    g = optimality_gaps([3, 8, 0, 5], [4, 8, 0, 10])
    assert g.tolist() == [0.25, 0.0, 0.0, 0.5]
    with pytest.raises(ValueError, match="instance 1 serves 9"):
        optimality_gaps([3, 9], [4, 8])
    with pytest.raises(ValueError, match="same length"):
        optimality_gaps([3], [4, 8])
    with pytest.raises(ValueError, match="no instances"):
        optimality_gaps([], [])


def test_gap_verdict_uses_the_mean_relative_gap_and_states_its_threshold():
    from plcore.study.claims import GREEDY_GAP_THRESHOLD, gap_verdict

    assert GREEDY_GAP_THRESHOLD == 0.05
    # Optimal on 19 of 20 instances but half the users lost on the 20th: 2.5 % on average.
    v = gap_verdict([10] * 19 + [5], [10] * 20)
    assert v["verdict"] == "near-optimal" and v["mean_gap"] == pytest.approx(0.025)
    assert (v["n_instances"], v["n_optimal"], v["max_gap"]) == (20, 19, 0.5)
    assert "2.50 %" in v["text"] and "threshold 5 %" in v["text"] and "19 of them" in v["text"]
    # Optimal on 80 % of them, but a third of the users lost on the others: 6.7 %, not near.
    v = gap_verdict([6] * 8 + [4] * 2, [6] * 10)
    assert v["verdict"] == "not near-optimal" and v["mean_gap"] == pytest.approx(2 / 30)
    # The bound is inclusive, and the threshold can be set.
    assert gap_verdict([19], [20])["verdict"] == "near-optimal"
    assert gap_verdict([19], [20], threshold=0.01)["verdict"] == "not near-optimal"
    # Just past the threshold: the text does not round it onto the threshold.
    past = gap_verdict([20] * 99 + [14], [20] * 100, threshold=0.0029)
    assert past["verdict"] == "not near-optimal" and "0.30 %" in past["text"]
    assert "density search" in gap_verdict([1], [1], name="the density search")["text"]
    with pytest.raises(ValueError, match="threshold"):
        gap_verdict([1], [1], threshold=1.0)


@pytest.mark.parametrize("measured, verdict", [
    (0.8894, "reproduced"), (0.7894, "reproduced"), (0.9894, "reproduced"),   # 10 pp: inclusive
    (0.7893, "majority reproduced, size not"), (0.99, "majority reproduced, size not"),
    (0.5001, "majority reproduced, size not"), (0.5, "not reproduced"), (0.1, "not reproduced")])
def test_share_verdict(measured, verdict):
    from plcore.study.claims import share_verdict

    assert share_verdict(measured, 0.8894) == verdict


@pytest.mark.parametrize("bad", [1.2, -0.1, float("nan"), float("inf")])
def test_share_verdict_refuses_what_is_not_a_share(bad):
    from plcore.study.claims import share_verdict

    with pytest.raises(ValueError, match="share must be in"):
        share_verdict(bad, 0.8894)
    with pytest.raises(ValueError, match="share must be in"):
        share_verdict(0.5, bad)


def test_loading_share_verdict_is_judged_on_the_gpu_profile_path_by_path():
    """Each path's share recomputed from the profile by hand (block load times summed, over
    load plus batch-1 inference) and judged; CPU and synthetic profiles are not judged."""
    import copy

    from plcore.gpu.profile import read_profiles
    from plcore.study.claims import loading_share_verdict, share_verdict

    profiles = read_profiles()
    gpu = profiles["nvidia-h200"]
    v = loading_share_verdict(profiles, 0.8894)
    assert {r["profile"] for r in v["rows"]} == {"nvidia-h200"}
    assert [r["path"] for r in v["rows"]] == ["disk", "torch_to", "packed_pageable",
                                              "torch_to_pinned", "packed_pinned"]
    a = gpu["architectures"]["resnet50"]
    for r in v["rows"]:
        load = sum(b["load_s"][r["path"]] for b in a["blocks"])
        assert r["arch"] == "resnet50"
        assert r["share"] == pytest.approx(load / (load + a["infer_s"]["1"]), rel=1e-12)
        assert r["verdict"] == share_verdict(r["share"], 0.8894)
        assert r["min_share"] <= r["share"] <= r["max_share"]
    assert v["verdict"] == "depends on the loading path"    # the rows do not all agree
    assert len({r["verdict"] for r in v["rows"]}) > 1
    assert v["text"].startswith("depends on the loading path: on NVIDIA H200 (driver ")
    assert f"torch {gpu['torch']}" in v["text"] and gpu["driver"] in v["text"]

    # Where every path agrees, that is the verdict; without a GPU profile there is none.
    one = copy.deepcopy(gpu)
    one["paths"] = {"disk": one["paths"]["disk"]}
    assert loading_share_verdict({"g": one}, 0.8894)["verdict"] == "reproduced"
    cpu_only = {k: p for k, p in profiles.items() if k != "nvidia-h200"}
    none = loading_share_verdict(cpu_only, 0.8894)
    assert none["verdict"] == "no experiment yet" and none["rows"] == []
