"""Instances: round trips, derived quantities, and one test per kind of bad input."""

import copy
import json
import math

import numpy as np
import pytest

import plcore
from plcore import InstanceError
from plcore.study.synthetic import random_instance


def base() -> dict:
    return {
        "blocks": {"bb": {"bytes": 9.0e7, "load_s": 0.004},
                   "h1": {"bytes": 2.0e6},
                   "h2": {"bytes": 2.0e6, "load_s": 1e-4}},
        "loader": {"bandwidth_Bps": 2.0e10, "overhead_s": 5e-5},
        "models": {"m1": {"blocks": ["bb", "h1"], "infer_s": 0.006},
                   "m2": {"blocks": ["bb", "h2"], "infer_s": 0.006}},
        "users": [{"model": "m1", "data_bits": 1.2e6, "deadline_s": 0.2, "power_w": 0.2,
                   "channel_gain": 3.1e-11},
                  {"model": "m2", "data_bits": 1.2e6, "deadline_s": 0.1, "power_w": 0.2,
                   "channel_gain": 1e-10}],
        "noise_psd_w_hz": 3.98e-21,
        "bandwidth_hz": 2e7,
        "rate": "shannon",
        "resident": ["bb"],
    }


def test_round_trip_and_derived_quantities(tmp_path):
    inst = plcore.Instance.from_dict(base())
    assert plcore.Instance.from_dict(inst.to_dict()) == inst
    path = tmp_path / "inst.json"
    plcore.save_instance(inst, path)
    assert plcore.load_instance(path) == inst
    # h1 has no load_s: the loader profile gives overhead + bytes / bandwidth.
    assert inst.block_load_s("h1") == pytest.approx(5e-5 + 2e6 / 2e10)
    assert inst.block_load_s("bb") == 0.004
    assert inst.model_load_s("m2") == pytest.approx(0.0041)
    np.testing.assert_allclose(inst.a_hz, [0.2 * 3.1e-11 / 3.98e-21, 0.2 * 1e-10 / 3.98e-21])
    arr = inst.arrays
    # From the resident backbone, only the heads remain to load.
    assert arr.from_resident_s.tolist() == pytest.approx([inst.block_load_s("h1"), 1e-4])
    assert arr.link_s[0, 1] == pytest.approx(1e-4) and arr.link_s[1, 1] == 0.0


def test_defaults_are_only_those_model_md_states():
    d = base()
    del d["rate"], d["resident"]
    inst = plcore.Instance.from_dict(d)
    assert inst.rate == "shannon" and inst.resident == ()


def test_linear_rate_needs_spectral_eff_not_radio():
    d = base()
    d["rate"] = "linear"
    del d["noise_psd_w_hz"]
    for u in d["users"]:
        del u["power_w"], u["channel_gain"]
        u["spectral_eff"] = 4.0
    with pytest.raises(InstanceError, match="noise_psd_w_hz: not used with rate 'linear'"):
        plcore.Instance.from_dict({**d, "noise_psd_w_hz": 3.98e-21})
    inst = plcore.Instance.from_dict(d)
    assert inst.rate == "linear"
    d["users"][1]["power_w"] = 0.2
    with pytest.raises(InstanceError, match=r"users\[1\]\.power_w: not used with rate 'linear'"):
        plcore.Instance.from_dict(d)
    d["users"][1].pop("power_w")
    with pytest.raises(InstanceError, match=r"users\[0\].spectral_eff: missing"):
        d["users"][0].pop("spectral_eff")
        plcore.Instance.from_dict(d)


def edit(path, value):
    """base() with the entry at ``path`` (tuple of keys) set to ``value`` (or deleted: DELETE)."""
    d = copy.deepcopy(base())
    obj = d
    for key in path[:-1]:
        obj = obj[key]
    if value is DELETE:
        del obj[path[-1]]
    else:
        obj[path[-1]] = value
    return d


DELETE = object()

BAD = [
    # (what is wrong, path, value, the message must contain)
    ("unknown model", ("users", 1, "model"), "m9", r"users\[1\]\.model: unknown model 'm9'"),
    ("unknown block in model", ("models", "m2", "blocks"), ["bb", "hx"],
     r"models\['m2'\]\.blocks\[1\]: unknown block 'hx'"),
    ("unknown resident block", ("resident",), ["zz"], r"resident\[0\]: unknown block 'zz'"),
    ("negative size", ("blocks", "h2", "bytes"), -1.0, r"blocks\['h2'\]\.bytes: must be >= 0"),
    ("missing size", ("blocks", "h2", "bytes"), DELETE, r"blocks\['h2'\]\.bytes: missing"),
    ("negative load time", ("blocks", "bb", "load_s"), -0.1, r"blocks\['bb'\]\.load_s"),
    ("zero deadline", ("users", 0, "deadline_s"), 0.0, r"users\[0\]\.deadline_s: must be > 0"),
    ("negative deadline", ("users", 0, "deadline_s"), -1, r"users\[0\]\.deadline_s: must be > 0"),
    ("NaN", ("users", 1, "data_bits"), math.nan, r"users\[1\]\.data_bits: is NaN"),
    ("infinite", ("bandwidth_hz",), math.inf, r"bandwidth_hz: must be finite"),
    ("non-numeric", ("users", 0, "power_w"), "0.2", r"users\[0\]\.power_w: must be a number"),
    ("boolean as number", ("models", "m1", "infer_s"), True, r"models\['m1'\]\.infer_s: must be a number"),
    ("empty model", ("models", "m1", "blocks"), [], r"models\['m1'\]\.blocks: empty"),
    ("block listed twice", ("models", "m1", "blocks"), ["bb", "bb"], r"listed twice"),
    ("missing deadline", ("users", 1, "deadline_s"), DELETE, r"users\[1\]\.deadline_s: missing"),
    ("missing channel gain", ("users", 0, "channel_gain"), DELETE, r"users\[0\]\.channel_gain: missing"),
    ("zero bandwidth", ("bandwidth_hz",), 0, r"bandwidth_hz: must be > 0"),
    ("missing noise", ("noise_psd_w_hz",), DELETE, r"noise_psd_w_hz: missing"),
    ("unknown rate", ("rate",), "cubic", r"rate: must be one of"),
    ("typo in a key", ("users", 0, "deadline"), 0.1, r"users\[0\]: unknown key\(s\) 'deadline'"),
    ("top-level typo", ("resdent",), [], r"instance: unknown key\(s\) 'resdent'"),
    ("users not a list", ("users",), {"model": "m1"}, r"users: must be a list"),
    ("user not an object", ("users", 0), 3, r"users\[0\]: must be an object"),
    ("no load time and no loader", ("loader",), DELETE, r"blocks\['h1'\]\.load_s: missing, and there is no 'loader'"),
    ("loader bandwidth zero", ("loader", "bandwidth_Bps"), 0.0, r"loader\.bandwidth_Bps: must be > 0"),
    ("no models", ("models",), {}, r"models: empty"),
    ("no blocks", ("blocks",), {}, r"blocks: empty"),
    ("integer too large for a float", ("blocks", "h2", "bytes"), 10 ** 400,
     r"blocks\['h2'\]\.bytes: too large, got an integer of 401 digits"),
    ("a_k overflows", ("users", 0, "power_w"), 1e300,
     r"users\[0\]: power_w \* channel_gain / noise_psd_w_hz = inf Hz"),
    ("resident block listed twice", ("resident",), ["bb", "h1", "bb"],
     r"resident\[2\]: block 'bb' is listed twice \(first at resident\[0\]\)"),
    ("spectral_eff with the Shannon rate", ("users", 1, "spectral_eff"), 4.0,
     r"users\[1\]\.spectral_eff: not used with rate 'shannon'"),
]


@pytest.mark.parametrize("what,path,value,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_rejected_naming_the_entry(what, path, value, message):
    with pytest.raises(InstanceError, match=message):
        plcore.Instance.from_dict(edit(path, value))


def test_validation_leaves_the_input_untouched():
    d = base()
    before = copy.deepcopy(d)
    plcore.Instance.from_dict(d)
    assert d == before


def test_a_k_that_underflows_is_rejected():
    d = base()
    d["users"][1].update(power_w=1e-200, channel_gain=1e-200)
    with pytest.raises(InstanceError, match=r"users\[1\]: power_w \* channel_gain / noise_psd_w_hz "
                                            r"= 0 Hz is not a finite positive number"):
        plcore.Instance.from_dict(d)


def test_bad_files(tmp_path):
    with pytest.raises(InstanceError, match="no such file"):
        plcore.load_instance(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"blocks": {,}')
    with pytest.raises(InstanceError, match=r"invalid JSON at line 1, column 13"):
        plcore.load_instance(bad)
    nan = tmp_path / "nan.json"
    nan.write_text(json.dumps(base()).replace('"bandwidth_hz": 20000000.0', '"bandwidth_hz": NaN'))
    with pytest.raises(InstanceError, match="NaN is not a valid JSON number"):
        plcore.load_instance(nan)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(edit(("users", 0, "model"), "nope")))
    with pytest.raises(InstanceError, match=r"wrong\.json: users\[0\]\.model: unknown model"):
        plcore.load_instance(wrong)


def test_random_instances_are_seeded_and_valid():
    a = random_instance(5, 6, 3, structure="bottom")
    b = random_instance(5, 6, 3, structure="bottom")
    assert a == b and a != random_instance(6, 6, 3, structure="bottom")
    # Bottom-layer sharing: any two models share exactly their longest common prefix.
    for m1 in a.models.values():
        for m2 in a.models.values():
            common = set(m1.blocks) & set(m2.blocks)
            prefix = 0
            while prefix < min(len(m1.blocks), len(m2.blocks)) and m1.blocks[prefix] == m2.blocks[prefix]:
                prefix += 1
            assert common == set(m1.blocks[:prefix])
