"""Experiments in the general-sharing scenarios (plcore.study.general_sharing)."""

import pytest

import plcore
from plcore.model.sharing import is_bottom_layer
from plcore.study.general_sharing import (DEADLINE_REF_USERS, applies, gap_instance, gap_trial,
                                          method_style, pick_oracle, preset_trial,
                                          summarize_gaps)
from plcore.study.scenarios import load_scenario

METHODS = ["greedy", "edf", "edf-grouped", "no-sharing", "dp"]


def test_oracle_is_the_first_that_takes_the_size():
    assert pick_oracle(8, {"exact": 8, "milp": 30}) == "exact"
    assert pick_oracle(9, {"exact": 8, "milp": 30}) == "milp"
    with pytest.raises(ValueError, match="no oracle for 31"):
        pick_oracle(31, {"exact": 8, "milp": 30})


def test_gap_instances_scale_the_deadlines_and_set_the_budget():
    sc = load_scenario("lora-resnet50")
    inst = gap_instance("lora-resnet50", 6, True, seed=3)
    lo, hi = (d * 6 / DEADLINE_REF_USERS for d in sc.deadline_s)
    assert all(lo <= u.deadline_s <= hi for u in inst.users)
    assert inst.bandwidth_hz < gap_instance("lora-resnet50", 6, False, seed=3).bandwidth_hz
    back = gap_instance("backbone-resnet50", 6, False, seed=3)
    assert len({u.deadline_s for u in back.users}) == 1 and is_bottom_layer(back)


@pytest.mark.parametrize("scenario", ["middle-resnet50", "backbone-resnet50"])
def test_gap_trial_rows_against_an_independent_optimum(scenario):
    for seed in range(3):
        df = gap_trial(seed, scenario, 5, seed % 2 == 0, METHODS, {"exact": 8})
        inst = gap_instance(scenario, 5, seed % 2 == 0, seed)
        # dp only where it applies: bottom-layer sharing with a common deadline
        assert ("dp" in set(df.method)) == (scenario == "backbone-resnet50") == applies("dp", inst)
        assert set(df.method) >= {"greedy", "edf", "edf-grouped", "no-sharing"}
        best = len(plcore.solve(inst, method="exact"))
        assert (df.optimum == best).all() and (df.served <= best).all()
        for r in df.itertuples():
            assert r.gap == pytest.approx((best - r.served) / best if best else 0.0)
    s = summarize_gaps(df)
    assert set(s.columns) >= {"instances", "mean_gap", "max_gap", "optimal_rate"}


def test_preset_trial_skips_what_does_not_apply():
    df = preset_trial(0, "lora-vit-b16", METHODS, n_users=15, bandwidth_hz=20e6)
    assert "dp" not in set(df.method) and len(df) == 4
    assert (df.n_users == 15).all() and (df.scenario == "lora-vit-b16").all()
    assert (df.served <= 15).all()


def test_a_new_method_gets_a_style_of_its_own():
    style = method_style(["greedy", "new-a", "new-b"])
    assert style["new-a"][0] == "new-a" and style["new-a"][1] != style["new-b"][1]
    from plcore.study.plots import METHOD_STYLE

    assert style["new-a"][1] not in {c for _, c, _ in METHOD_STYLE.values()}


def test_gap_trial_counts_a_milp_optimum_only_when_proven():
    from plcore.schedulers.bounds import upper_bound

    inst = gap_instance("lora-resnet50", 30, True, 0)
    ub = upper_bound(inst)
    # a limit far too short to prove anything (the heuristics alone serve 5 users fewer than
    # the bound here): no optimum, only the gap to the bound
    cut = gap_trial(0, "lora-resnet50", 30, True, ["greedy"], {"milp": 30}, time_limit_s=1e-3)
    assert not cut.proved.any() and cut.optimum.isna().all() and cut.gap.isna().all()
    assert (cut.upper_bound == ub).all()
    assert cut.gap_ub.iloc[0] == pytest.approx((ub - cut.served.iloc[0]) / ub)
    assert summarize_gaps(cut).empty and len(summarize_gaps(cut, gap="gap_ub")) == 1
    # the exact oracle always proves its optimum; its gap is never above the bound's
    small = gap_trial(1, "lora-resnet50", 6, True, ["greedy"], {"exact": 8})
    assert small.proved.all() and (small.gap <= small.gap_ub).all()
