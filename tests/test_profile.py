"""Device profiles: the whole schema is checked, naming the entry; what passes, report() and
targets() read without fail. (Profiles are measured by plcore.gpu.loadtime: tests/test_zoo.py.)"""

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plcore.gpu.profile import (ProfileError, provenance, read_profile, report, targets,
                                validate_profile)
from plcore.paths import PROFILES

from .edits import DELETE, set_at

NAMES = ["synthetic.json", "cpu-epyc-2core.json", "nvidia-h200.json"]
PROFILES_BY_NAME = {name: json.loads((PROFILES / name).read_text()) for name in NAMES}


def profile(name="synthetic.json") -> dict:
    return copy.deepcopy(PROFILES_BY_NAME[name])


def edited(name, path, value):
    p = profile(name)
    set_at(p, path, value)
    return p


R50 = ("architectures", "resnet50")
MEASURED = "cpu-epyc-2core.json"

# A measured profile with a pipelining section (as plcore.gpu.loadtime.measure_pipelining writes
# it; the numbers are made up, of the right kind).
PIPELINED = "pipelined"
PROFILES_BY_NAME[PIPELINED] = dict(PROFILES_BY_NAME[MEASURED], pipelining={
    "device": "NVIDIA H200", "driver": "580.159.04", "torch": "2.11.0+cu130", "cuda": "13.0",
    "date": "2026-12-04", "path": "packed_pinned", "repeats": 9, "warmup": 3, "scale": 1.0,
    "timer": "CUDA events", "method": "one schedule, each executor in turn",
    "architectures": {"resnet18": {
        "users": 12, "schedule": [5, 4, 2], "models": ["resnet18-c0-m0", "resnet18-c0-m1",
                                                       "resnet18-c1-m0"],
        "loaded_bytes": 1.2e8,
        "makespan_s": {s: {"median": t, "p10": t, "p90": t, "n": 9}
                       for s, t in (("executor", 0.05), ("sequential", 0.048),
                                    ("pipelined", 0.041))},
        "load_s": 0.012, "infer_s": 0.036, "overlap_s": 0.007, "hidden_load_share": 0.58,
        "speedup": 1.17, "predicted_pipelined_s": {"per_block": 0.04, "by_bytes": 0.043},
        "prediction_rel_err": {"per_block": 0.02, "by_bytes": 0.05},
        "blocks": [{"name": "stem", "compute_s": 2e-4, "compute_share": 0.07},
                   {"name": "fc", "compute_s": 5e-5, "compute_share": 0.02}],
        "outputs_equal": True, "outputs_max_rel_diff": 0.0}},
    "failed": {"vit_b16": "RuntimeError: out of memory"}})
PIPE = ("pipelining",)
PIPE18 = ("pipelining", "architectures", "resnet18")

BAD = [
    # (profile, path, value, message)
    ("synthetic.json", ("paths",), [1], "profile paths: expected a mapping (not empty) of a "
                                        "mapping with bandwidth_Bps and overhead_s, got [1] "
                                        "(a list)"),
    ("synthetic.json", ("paths",), None, "profile paths: expected a mapping"),
    ("synthetic.json", ("paths",), "disk", "profile paths: expected a mapping"),
    ("synthetic.json", ("paths",), {}, "profile paths: expected a mapping (not empty)"),
    ("synthetic.json", ("paths", "disk", "bandwidth_Bps"), "5e9",
     "profile paths.disk.bandwidth_Bps: expected a positive number in [1, 1e+15] B/s, got '5e9' "
     "(a string)"),
    ("synthetic.json", ("paths", "disk", "bandwidth_Bps"), 5e-324,
     "profile paths.disk.bandwidth_Bps: expected a positive number in [1, 1e+15] B/s, got 5e-324"),
    ("synthetic.json", ("paths", "disk", "overhead_s"), DELETE,
     "profile paths.disk: missing 'overhead_s'"),
    ("synthetic.json", ("paths", "disk", "note"), 3, "profile paths.disk.note: expected a string"),
    ("synthetic.json", ("architectures",), [], "profile architectures: expected a mapping"),
    ("synthetic.json", R50 + ("blocks",), None, "profile architectures.resnet50.blocks: expected "
                                                "a list of at least one"),
    ("synthetic.json", R50 + ("blocks", 2), "layer1.1", "profile architectures.resnet50.blocks[2]:"
                                                        " expected a mapping with name, bytes"),
    ("synthetic.json", R50 + ("blocks", 2, "bytes"), "284696",
     "profile architectures.resnet50.blocks[2].bytes: expected a positive number of bytes"),
    ("synthetic.json", R50 + ("blocks", 2, "bytes"), 0,
     "profile architectures.resnet50.blocks[2].bytes"),
    ("synthetic.json", R50 + ("blocks", 2, "name"), "",
     "profile architectures.resnet50.blocks[2].name: expected a non-empty string"),
    ("synthetic.json", R50 + ("blocks", 2, "load_s"), {"disk": "x"},
     "profile architectures.resnet50.blocks[2].load_s.disk: expected a positive time"),
    ("synthetic.json", R50 + ("infer_s",), {"2": 0.1},
     "profile architectures.resnet50.infer_s: missing '1'"),
    ("synthetic.json", R50 + ("infer_s", "1"), None,
     "profile architectures.resnet50.infer_s.1: expected a positive time in [1e-12, 1e+06] s, "
     "got None (null)"),
    ("synthetic.json", R50 + ("infer_s", "x"), 0.1,
     "profile architectures.resnet50.infer_s: key 'x' is not a batch size"),
    ("synthetic.json", R50 + ("loader_issue_s",), {"median": "1 ms"},
     "profile architectures.resnet50.loader_issue_s.median"),
    ("synthetic.json", R50 + ("loading_share",), {"disk": 1.5},
     "profile architectures.resnet50.loading_share.disk: expected a share in [0, 1]"),
    ("synthetic.json", ("synthetic",), "true", "profile synthetic: expected true or false, got "
                                               "'true' (a string)"),
    ("synthetic.json", ("schema",), "plcore.profile/2", "profile schema: expected "
                                                        "'plcore.profile/1'"),
    ("synthetic.json", ("device",), DELETE, "profile: missing 'device'"),
    ("synthetic.json", ("h2d_pinned_per_size_Bps",), {"1 MB": 1e10},
     "profile h2d_pinned_per_size_Bps: key '1 MB' is not a size in MB"),
    ("synthetic.json", ("validation",), {"makespan_rel_err": 0.1},
     "profile validation: missing 'start_err_s'"),
    (MEASURED, ("validation",), DELETE, "profile: missing 'validation'"),
    (MEASURED, ("validation", "users"), 12.5, "profile validation.users: expected an integer >= 1"),
    (MEASURED, ("validation", "runs_makespan_rel_err"), [0.1, "x"],
     "profile validation.runs_makespan_rel_err[1]: expected a number >= 0"),
    (MEASURED, ("loader_Bps",), None, "profile loader_Bps: expected a positive number"),
    (MEASURED, ("h2d_pinned_peak_Bps",), DELETE, "profile: missing 'h2d_pinned_peak_Bps'"),
    (MEASURED, ("architectures", "resnet18", "blocks", 3, "load_s"), DELETE,
     "profile architectures.resnet18.blocks[3]: missing 'load_s'"),
    (MEASURED, ("architectures", "resnet18", "blocks", 3, "load_s", "disk"), DELETE,
     "profile architectures.resnet18.blocks[3].load_s: missing 'disk'"),
    (MEASURED, ("loader_path",), "disk2", "profile loader_path: 'disk2' is not one of its paths"),
    (MEASURED, ("method",), "default", "profile method: expected a mapping"),
    (PIPELINED, PIPE, [], "profile pipelining: expected a mapping with path and architectures"),
    (PIPELINED, PIPE + ("path",), DELETE, "profile pipelining: missing 'path'"),
    (PIPELINED, PIPE + ("architectures",), {},
     "profile pipelining.architectures: expected a mapping (not empty)"),
    (PIPELINED, PIPE + ("failed",), {"vit_b16": 3},
     "profile pipelining.failed.vit_b16: expected a string"),
    (PIPELINED, PIPE18 + ("makespan_s", "pipelined"), DELETE,
     "profile pipelining.architectures.resnet18.makespan_s: missing 'pipelined'"),
    (PIPELINED, PIPE18 + ("makespan_s", "sequential", "median"), -0.01,
     "profile pipelining.architectures.resnet18.makespan_s.sequential.median: expected a time"),
    (PIPELINED, PIPE18 + ("hidden_load_share",), "58 %",
     "profile pipelining.architectures.resnet18.hidden_load_share: expected a number"),
    (PIPELINED, PIPE18 + ("overlap_s",), float("nan"),
     "profile pipelining.architectures.resnet18.overlap_s: expected a number"),
    (PIPELINED, PIPE18 + ("blocks", 1, "compute_share"), 1.5,
     "profile pipelining.architectures.resnet18.blocks[1].compute_share: expected a share"),
    (PIPELINED, PIPE18 + ("outputs_equal",), "yes",
     "profile pipelining.architectures.resnet18.outputs_equal: expected true or false"),
]


@pytest.mark.parametrize("name,path,value,message", BAD,
                         ids=[f"{'.'.join(map(str, b[1]))}" for b in BAD])
def test_bad_profiles_are_refused_naming_the_entry(name, path, value, message):
    with pytest.raises(ProfileError) as info:
        validate_profile(edited(name, path, value))
    assert message in str(info.value)


@pytest.mark.parametrize("name", NAMES + [PIPELINED])
def test_the_committed_profiles_pass(name):
    validate_profile(profile(name))
    assert report(profile(name)) and isinstance(targets(profile(name)), dict)


def test_the_report_tells_the_overlap_and_what_failed():
    text = report(profile(PIPELINED))
    assert ("pipelining resnet18 (packed_pinned, 12 users): sequential 48.00 ms, pipelined "
            "41.00 ms: overlap 7.00 ms, 58 % of 12.00 ms of loading hidden") in text
    assert "pipelining vit_b16: failed (RuntimeError: out of memory)" in text


def test_optional_fields_may_be_null_or_absent():
    p = profile(MEASURED)
    p.update(h2d_pinned_peak_Bps=None, driver=None, cuda=None)
    for a in p["architectures"].values():
        a["loader_issue_s"] = None
        a["model_load_s"] = None
        del a["loading_share"]
    del p["validation"]["runs_makespan_rel_err"], p["validation"]["arch"]
    validate_profile(p)
    assert "sum of block loads" in report(p) and "makespan_rel_err" in targets(p)


ODD_VALUES = [None, "x", "", [], {}, [None], {"1": None}, -1, 0, 1e300, 5e-324, True, [1, 2],
              {"1": 0.1}, {"median": 0.1}, 12]


def all_paths(obj, prefix=()):
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += all_paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:3]):
            out += all_paths(v, prefix + (i,))
    return out


PATHS = {name: all_paths(PROFILES_BY_NAME[name]) for name in NAMES + [PIPELINED]}


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(NAMES + [PIPELINED]), st.data())
def test_what_passes_validation_is_reported_without_fail(name, data):
    """Any entry replaced by an odd value (or removed): either the schema refuses it, naming an
    entry, or report() and targets() work on the profile."""
    p = profile(name)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(PATHS[name]))
        obj = p
        try:
            for key in path[:-1]:
                obj = obj[key]
            if data.draw(st.booleans()) and isinstance(obj, dict):
                obj.pop(path[-1], None)
            else:
                obj[path[-1]] = copy.deepcopy(data.draw(st.sampled_from(ODD_VALUES)))
        except (KeyError, IndexError, TypeError):   # an earlier change removed the way there
            continue
    try:
        validate_profile(p)
    except ProfileError as exc:
        assert str(exc).startswith("profile") and len(str(exc)) < 400
        return
    assert isinstance(report(p), str)
    for value, target, met in targets(p).values():
        assert isinstance(met, bool)


def test_read_profile_is_as_strict_as_instance_files(tmp_path):
    from plcore import InstanceError

    text = (PROFILES / "synthetic.json").read_text()
    (tmp_path / "p.json").write_text(text.replace('"bandwidth_Bps": 49500000000.0',
                                                  '"bandwidth_Bps": NaN'))
    with pytest.raises(InstanceError, match=r"p\.json: line \d+, column \d+: "
                                            r"paths\.packed_pinned\.bandwidth_Bps: NaN"):
        read_profile(tmp_path / "p.json")
    (tmp_path / "p.json").write_text(text.replace('"overhead_s": 0.0', '"overhead_s": "0"', 1))
    with pytest.raises(ProfileError, match=r"p\.json: profile paths\.torch_to\.overhead_s: "
                                           r"expected a time of 0 or in"):
        read_profile(tmp_path / "p.json")
    with pytest.raises(InstanceError, match="is a directory"):
        read_profile(tmp_path)
    assert read_profile(PROFILES / "synthetic.json")["device"] == "synthetic"


def test_read_profiles_reads_every_committed_profile_in_name_order():
    from plcore.gpu.profile import read_profiles

    profiles = read_profiles()
    assert list(profiles) == sorted(p.stem for p in PROFILES.glob("*.json"))
    assert profiles["synthetic"] == json.loads((PROFILES / "synthetic.json").read_text())


@pytest.mark.parametrize("name", NAMES)
def test_provenance_names_device_driver_and_torch(name):
    p = profile(name)
    text = provenance(p)
    assert text.startswith(p["device"]) and p["date"] in text and report(p).startswith(text)
    if p["synthetic"]:
        assert "assumed times" in text
    else:
        assert f"torch {p['torch']}" in text
        assert (f"driver {p['driver']}" if p["driver"] else "no GPU driver") in text
