"""Paper-like scenarios and the synthetic profile."""

import json

import numpy as np
import pytest

import plcore
from plcore.model import radio
from plcore.model.sharing import is_bottom_layer
from plcore.study.experiments import CASES, small_instance
from plcore.study.scenarios import IMAGE_BITS, Scenario, load_profile, make_instance


def test_defaults_are_documented_values():
    sc = Scenario()
    assert (sc.radius_m, sc.shadowing_std_db, sc.power_w, sc.noise_dbm_hz) == (300.0, 8.0, 0.2, -174.0)
    # 3GPP TR 36.814, macro cell: 35 m minimum distance, 5 dB base-station noise figure.
    assert (sc.min_distance_m, sc.noise_figure_db) == (35.0, 5.0)
    assert IMAGE_BITS == 1_204_224
    assert radio.path_loss_db(1000.0) == pytest.approx(128.1)
    assert radio.path_loss_db(100.0) == pytest.approx(128.1 - 37.6)


def test_seeded_and_structured():
    a = make_instance(seed=3, n_users=25)
    assert a == make_instance(seed=3, n_users=25)
    assert a != make_instance(seed=4, n_users=25)
    assert is_bottom_layer(a)
    g = make_instance(seed=3, n_users=25, sharing="general", private_blocks=3)
    assert not is_bottom_layer(g)
    # Within a cluster, general-sharing models differ in exactly their private blocks.
    blocks = [set(m.blocks) for name, m in g.models.items() if "-c0-" in name]
    arch_blocks = len(load_profile("synthetic")["architectures"]["resnet50"]["blocks"])
    for b in blocks:
        assert len(b) == arch_blocks
    for b1 in blocks:
        for b2 in blocks:
            assert len(b1 - b2) <= 2 * 3   # its own private blocks, and its shared ones where b2 is private


def test_users_lie_in_the_cell():
    inst = make_instance(seed=0, n_users=500, shadowing_std_db=0.0)
    gains = np.array([u.channel_gain for u in inst.users])
    d_far = radio.channel_gain(300.0)
    d_near = radio.channel_gain(35.0)
    assert np.all(gains >= d_far * (1 - 1e-9)) and np.all(gains <= d_near * (1 + 1e-9))


def test_noise_includes_the_noise_figure():
    inst = make_instance(seed=0, n_users=3)
    # -174 dBm/Hz + 5 dB = -169 dBm/Hz = 10^(-16.9) mW/Hz
    assert inst.noise_psd_w_hz == pytest.approx(10 ** -16.9 * 1e-3, rel=1e-12)
    # An independent SNR at 300 m without shadowing: 23 dBm - 108.44 dB - (-169 + 60) dBm over 1 MHz.
    snr_db = 10 * np.log10(200) - (128.1 + 37.6 * np.log10(0.3)) - (-169 + 60)
    assert 10 * np.log10(radio.a_hz(300.0) / 1e6) == pytest.approx(snr_db, abs=1e-9)


def test_profile_sizes_match_known_parameter_counts():
    prof = load_profile("synthetic")
    assert prof["synthetic"] is True and prof["device"] == "synthetic"
    r50 = prof["architectures"]["resnet50"]["blocks"]
    # 25,557,032 fp32 parameters; 53 batch norms over 26,560 channels keep a running mean and
    # variance (fp32) and an int64 counter each.
    assert sum(b["bytes"] for b in r50) == 25_557_032 * 4 + 26_560 * 2 * 4 + 53 * 8
    assert [b["name"] for b in r50][:2] == ["stem", "layer1.0"] and r50[-1]["name"] == "fc"


def test_an_edited_profile_is_read_again(tmp_path):
    """A process that lives on (a notebook's kernel, a sweep's worker) sees the profile as is."""
    path = tmp_path / "p.json"
    profile = load_profile("synthetic")
    path.write_text(json.dumps(profile))
    assert load_profile(str(path))["device"] == "synthetic"
    path.write_text(json.dumps(dict(profile, device="edited")))
    assert load_profile(str(path))["device"] == "edited"


@pytest.mark.parametrize("change,message", [
    ({"n_users": 0}, "n_users"),
    ({"shared_depth": 18}, "shared_depth"),
    ({"deadline_s": (0.3, 0.1)}, "deadline_s"),
    ({"sharing": "top"}, "sharing"),
    ({"architecture": "alexnet"}, "architecture"),
    ({"loader_path": "carrier-pigeon"}, "loader_path"),
    ({"min_distance_m": 400.0}, "min_distance_m"),
])
def test_bad_scenarios_are_rejected(change, message):
    with pytest.raises(ValueError, match=message):
        make_instance(seed=0, **change)


def test_scenario_round_trip():
    sc = Scenario(n_users=7, deadline_s=(0.05, 0.2))
    assert Scenario.from_dict(json.loads(json.dumps(sc.to_dict()))) == sc
    with pytest.raises(ValueError, match="unknown key"):
        Scenario.from_dict({"n_user": 3})


def test_dp_beats_no_sharing_on_average_on_scenarios():
    served = {"dp": 0, "no-sharing": 0}
    for seed in range(8):
        inst = make_instance(seed=seed, n_users=30)
        for method in served:
            served[method] += len(plcore.solve(inst, method=method))
    assert served["dp"] > served["no-sharing"]


@pytest.mark.parametrize("case", CASES)
def test_small_instance_budget_changes_nothing_else(case):
    # dp_vs_exact compares the two optima of one seed to say how often a budget binds.
    for seed in range(20):
        ample, binding = (small_instance(seed, case, b).to_dict() for b in (False, True))
        assert binding.pop("bandwidth_hz") < ample.pop("bandwidth_hz")
        assert ample == binding


@pytest.mark.parametrize("changes", [{}, {"sharing": "general", "deadline_s": (0.1, 0.3),
                                          "zipf": 0.8, "radius_m": 250.0}])
def test_describe_states_the_parameters(changes):
    sc = Scenario().replace(**changes)
    text = sc.describe()
    for part in (f"{sc.radius_m:g} m cell", f"{sc.bandwidth_hz / 1e6:g} MHz",
                 f"{sc.n_clusters} clusters of {sc.models_per_cluster} models", sc.architecture,
                 sc.profile, sc.loader_path):
        assert part in text
    if sc.sharing == "bottom":
        assert f"{sc.shared_depth} bottom blocks" in text and "common 200 ms deadline" in text
    else:
        assert f"{sc.private_blocks} blocks at random" in text and "from 100 to 300 ms" in text
        assert "Zipf" in text


def test_growth_exponent_separates_the_fixed_cost():
    """t = c + b n^k with a large fixed cost: the plain log-log slope is far below k, the fit is not."""
    import pandas as pd

    from plcore.study.experiments import growth_exponents

    n = np.array([1000.0, 2000.0, 5000.0, 10000.0])
    df = pd.DataFrame({"method": "greedy", "axis": "users", "size": n,
                       "seconds": 0.3 + 2e-6 * n ** 1.2})
    row = growth_exponents(df).iloc[0]
    assert row.exponent == pytest.approx(1.2, abs=1e-3) and row.fixed_s == pytest.approx(0.3, rel=1e-3)
    assert row.loglog_slope < 0.2 and row.fit == "c + b n^k"
    two = growth_exponents(df.iloc[2:]).iloc[0]        # too few sizes for three parameters
    assert two.fit == "two largest sizes" and two.fixed_s == 0.0
