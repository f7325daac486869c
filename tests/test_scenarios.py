"""Paper-like scenarios and the synthetic profile."""

import json

import numpy as np
import pytest

import plcore
from plcore.model import radio
from plcore.model.sharing import is_bottom_layer
from plcore.study.experiments import CASES, small_instance
from plcore.study.scenarios import (IMAGE_BITS, SHARINGS, Scenario, load_profile, load_scenario,
                                    make_instance, scenario_names)


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


# --- General sharing at paper scale: LoRA adapters, fine-tuned middle blocks, ViT presets -------


def _cluster_models(inst, c=0):
    return [m for name, m in inst.models.items() if f"-c{c}-" in name]


def test_new_options_leave_earlier_scenarios_as_they_were():
    """The new parameters are not written while at their defaults, so the meta (hence the bytes)
    of every instance drawn before they existed is unchanged."""
    d = Scenario().to_dict()
    assert not {"adapter_blocks", "adapter_fraction", "private_start"} & set(d)
    assert Scenario.from_dict(d) == Scenario()
    lora = Scenario(sharing="lora", adapter_blocks=3, adapter_fraction=0.02)
    assert Scenario.from_dict(json.loads(json.dumps(lora.to_dict()))) == lora


@pytest.mark.parametrize("sharing", ["lora", "middle"])
def test_lora_and_middle_draw_the_same_users_as_bottom(sharing):
    """The two structures draw no random numbers: same seed, same users as bottom sharing."""
    a = make_instance(seed=5, n_users=30, deadline_s=(0.1, 0.3))
    b = make_instance(seed=5, n_users=30, deadline_s=(0.1, 0.3), sharing=sharing)
    assert a.to_dict()["users"] == b.to_dict()["users"]
    assert a.models.keys() == b.models.keys()


def test_lora_models_share_every_backbone_block():
    sc = Scenario(sharing="lora", adapter_fraction=0.01)
    inst = make_instance(sc, seed=1, n_users=12)
    arch = load_profile("synthetic")["architectures"]["resnet50"]["blocks"]
    n = len(arch)
    models = _cluster_models(inst)
    backbone = {f"c0.{b['name']}" for b in arch[:-1]}
    for m in models:
        blocks = list(m.blocks)
        assert backbone <= set(blocks)
        private = [b for b in blocks if b not in backbone]
        # the head, and one adapter right after each of the n - 1 blocks below it
        assert len(private) == n and private[-1].endswith(".fc")
        for j, b in enumerate(arch[:-1]):
            i = blocks.index(f"c0.{b['name']}")
            adapter = blocks[i + 1]
            assert adapter.endswith(f".{b['name']}.adapter")
            assert inst.blocks[adapter].bytes == pytest.approx(0.01 * b["bytes"], rel=1e-12)
    for m1 in models:
        for m2 in models:
            if m1 is not m2:
                assert set(m1.blocks) & set(m2.blocks) == backbone
    assert not is_bottom_layer(inst)
    # Other clusters share nothing with this one.
    other = {b for m in _cluster_models(inst, 1) for b in m.blocks}
    assert not other & {b for m in models for b in m.blocks}


def test_lora_adapts_the_top_blocks_below_the_head():
    inst = make_instance(seed=0, n_users=4, architecture="vit_b16", sharing="lora",
                         adapter_blocks=12)
    m = _cluster_models(inst)[0]
    adapted = [b.split(".", 1)[1].rsplit(".", 1)[0] for b in m.blocks if b.endswith(".adapter")]
    assert adapted == [f"encoder.{i}" for i in range(12)]       # not the patch embedding
    # rank 8 on q and v of a width-768 block: 0.35 % of 12 d^2 (the default fraction)
    enc = inst.blocks[f"c0.{'encoder.0'}"].bytes
    assert inst.blocks[m.blocks[2]].bytes == pytest.approx(0.0035 * enc)
    assert 4 * 8 * 768 / (12 * 768 ** 2) == pytest.approx(0.0035, rel=0.01)


def test_middle_models_share_bottom_and_top():
    inst = make_instance(seed=2, n_users=10, sharing="middle", private_blocks=6, private_start=8)
    arch = [b["name"] for b in load_profile("synthetic")["architectures"]["resnet50"]["blocks"]]
    models = _cluster_models(inst)
    for m in models:
        owner = m.blocks[8].split(".", 1)[0]
        assert [b.split(".", 1)[1] for b in m.blocks] == arch
        assert all(b.startswith("c0.") for b in m.blocks[:8] + m.blocks[14:])
        assert all(b.startswith(owner + ".") and owner != "c0" for b in m.blocks[8:14])
    common = set.intersection(*(set(m.blocks) for m in models))
    assert common == {f"c0.{n}" for n in arch[:8] + arch[14:]}
    assert not is_bottom_layer(inst)
    centred = make_instance(seed=2, n_users=10, sharing="middle", private_blocks=4)
    m = _cluster_models(centred)[0]
    assert [j for j, b in enumerate(m.blocks) if not b.startswith("c0.")] == [7, 8, 9, 10]


@pytest.mark.parametrize("name", scenario_names())
def test_presets_load_validate_and_are_seeded(name):
    sc = load_scenario(name)
    assert sc.meta["name"] == name and sc.meta["source"] and sc.meta["description"]
    assert sc.sharing in SHARINGS
    a = make_instance(sc, seed=7, n_users=40)
    assert a == make_instance(sc, seed=7, n_users=40)
    assert a != make_instance(sc, seed=8, n_users=40)
    text = json.dumps(a.to_dict())                                 # a valid instance file
    assert json.dumps(plcore.Instance.from_dict(json.loads(text)).to_dict()) == text
    assert a.meta["scenario"]["meta"]["name"] == name
    if sc.sharing == "bottom":                                     # the backbone reference
        assert is_bottom_layer(a) and len({u.deadline_s for u in a.users}) == 1
    else:                                                          # general sharing
        assert not is_bottom_layer(a) and isinstance(sc.deadline_s, tuple)
        assert len({u.deadline_s for u in a.users}) == 40          # per-user deadlines
    for method in ("greedy", "edf", "edf-grouped", "no-sharing"):
        assert plcore.evaluate(a, plcore.solve(a, method=method)).feasible


def test_the_presets_cover_lora_middle_and_vit():
    scs = [load_scenario(n) for n in scenario_names()]
    assert {"lora", "middle"} <= {s.sharing for s in scs}
    assert any(s.architecture == "vit_b16" for s in scs)


def _preset(tmp_path, d):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(d))
    return str(path)


@pytest.mark.parametrize("d,message", [
    ({"source": "s", "description": "d", "scenario": {}, "note": 1}, "unknown key.*'note'"),
    ({"source": "s", "description": "d", "scenario": {"n_user": 3}}, "unknown key.*'n_user'"),
    ({"description": "d", "scenario": {}}, "missing key.*'source'"),
    ({"source": " ", "description": "d", "scenario": {}}, "'source' must be"),
    ({"source": "s", "description": "d", "scenario": []}, "'scenario' must be"),
    ({"source": "s", "description": "d", "scenario": {"meta": {}}}, "may not set 'meta'"),
    ({"source": "s", "description": "d", "scenario": {"sharing": "lora", "adapter_blocks": 0}},
     "adapter_blocks"),
    ([1, 2], "JSON object"),
])
def test_bad_presets_are_rejected_naming_the_entry(tmp_path, d, message):
    with pytest.raises(ValueError, match=message):
        load_scenario(_preset(tmp_path, d))


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="lora-resnet50"):
        load_scenario("no-such-scenario")


@pytest.mark.parametrize("change,message", [
    ({"sharing": "lora", "adapter_blocks": 18}, "adapter_blocks"),
    ({"sharing": "lora", "adapter_fraction": 0.0}, "adapter_fraction"),
    ({"sharing": "middle", "private_blocks": 17}, "private_blocks"),
    ({"sharing": "middle", "private_blocks": 4, "private_start": 0}, "private_start"),
    ({"sharing": "middle", "private_blocks": 4, "private_start": 14}, "private_start"),
])
def test_bad_new_parameters_are_rejected(change, message):
    with pytest.raises(ValueError, match=message):
        make_instance(seed=0, **change)


def test_shared_depth_is_checked_only_where_it_is_used():
    make_instance(seed=0, n_users=3, architecture="vit_b16", sharing="lora")
    with pytest.raises(ValueError, match="shared_depth"):
        make_instance(seed=0, n_users=3, architecture="vit_b16")


@pytest.mark.parametrize("changes,words", [
    ({"sharing": "lora"}, "private adapters of 0.35 % of the bytes of every block below the head"),
    ({"sharing": "lora", "adapter_blocks": 3}, "of 3 blocks"),
    ({"sharing": "middle", "private_blocks": 6, "private_start": 8},
     "re-training 6 consecutive blocks from block 8"),
    ({"sharing": "middle"}, "2 consecutive blocks in the middle"),
])
def test_describe_states_the_new_structures(changes, words):
    assert words in Scenario().replace(**changes).describe()


@pytest.mark.parametrize("changes,dp", [
    ({}, True),                                                      # bottom, one deadline
    ({"sharing": "general", "models_per_cluster": 1}, True),        # one model a cluster:
    ({"sharing": "lora", "models_per_cluster": 1}, True),           # nothing else to share
    ({"sharing": "general", "models_per_cluster": 2}, False),
    ({"deadline_s": (0.1, 0.3)}, False),                             # per-user deadlines
])
def test_scenario_trial_runs_dp_where_the_instance_allows_it(changes, dp):
    """One check (``general_sharing.applies``) on the drawn instance decides for every trial."""
    from plcore.study.experiments import scenario_trial
    from plcore.study.general_sharing import applies

    df = scenario_trial(0, methods=("dp", "no-sharing"), n_users=6, n_clusters=2, **changes)
    inst = make_instance(seed=0, n_users=6, n_clusters=2, **changes)
    assert applies("dp", inst) == dp
    assert ("dp" in set(df.method)) == dp and "no-sharing" in set(df.method)
    if dp:
        seq = plcore.solve(inst, method="dp")
        assert df.set_index("method").served["dp"] == len(seq)
        assert plcore.evaluate(inst, seq).feasible
