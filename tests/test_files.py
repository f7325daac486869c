"""Instance files: JSON and YAML read strictly (repeated keys, NaN, YAML 1.1 number pitfalls)."""

import json
import subprocess
import sys

import pytest

import plcore
from plcore import InstanceError
from plcore.study.synthetic import random_instance

EXAMPLE = "data/instances/example.json"


@pytest.mark.parametrize("name", ["inst.yaml", "inst.yml", "inst.YAML", "inst.json"])
def test_round_trip_in_both_formats(tmp_path, name):
    inst = random_instance(3, 5, 3, structure="general")
    plcore.save_instance(inst, tmp_path / name)
    assert plcore.load_instance(tmp_path / name) == inst


def test_yaml_and_json_give_the_same_instance(tmp_path):
    inst = plcore.load_instance(EXAMPLE)
    plcore.save_instance(inst, tmp_path / "example.yaml")
    text = (tmp_path / "example.yaml").read_text()
    assert "{" not in text.splitlines()[0]          # block style, readable
    assert plcore.load_instance(tmp_path / "example.yaml") == inst


def yaml_instance(numbers: str) -> str:
    return f"""
blocks:
  base: {{bytes: {numbers}, load_s: 0.004}}
models:
  m: {{blocks: [base], infer_s: 2e-3}}
users:
  - {{model: m, data_bits: 1.2e6, deadline_s: 0.05, power_w: 0.2, channel_gain: 1e-10}}
noise_psd_w_hz: 4e-21
bandwidth_hz: 2e7
"""


def test_yaml_reads_exponents_as_numbers(tmp_path):
    # PyYAML's YAML 1.1 rules would read 2e7 and 1.2e6 as strings.
    path = tmp_path / "i.yaml"
    path.write_text(yaml_instance("4e7"))
    inst = plcore.load_instance(path)
    assert inst.bandwidth_hz == 2e7 and inst.users[0].data_bits == 1.2e6
    assert inst.blocks["base"].bytes == 4e7 and inst.noise_psd_w_hz == 4e-21


@pytest.mark.parametrize("numbers, message", [
    (".nan", r"blocks\['base'\].bytes: is NaN"),
    ("-.inf", r"blocks\['base'\].bytes: must be finite"),
    ("'4e7'", r"blocks\['base'\].bytes: must be a number, got '4e7'"),   # quoted: a string
])
def test_yaml_bad_numbers_are_named(tmp_path, numbers, message):
    path = tmp_path / "i.yaml"
    path.write_text(yaml_instance(numbers))
    with pytest.raises(InstanceError, match=message):
        plcore.load_instance(path)


def test_repeated_key_is_refused_not_dropped(tmp_path):
    d = json.loads(open(EXAMPLE).read())
    text = json.dumps(d, indent=1)
    first = next(iter(d["blocks"]))
    dup = text.replace('"blocks": {', f'"blocks": {{\n  "{first}": {{"bytes": 1, "load_s": 9.0}},', 1)
    (tmp_path / "dup.json").write_text(dup)
    with pytest.raises(InstanceError, match=f"key '{first}' appears twice"):
        plcore.load_instance(tmp_path / "dup.json")
    (tmp_path / "dup.yaml").write_text("bandwidth_hz: 1e6\nrate: shannon\nbandwidth_hz: 2e6\n")
    with pytest.raises(InstanceError, match="key 'bandwidth_hz' at line 3 already appears at line 1"):
        plcore.load_instance(tmp_path / "dup.yaml")
    (tmp_path / "flow.yaml").write_text("blocks: {a: {bytes: 1}, a: {bytes: 2}}\n")   # one line
    with pytest.raises(InstanceError, match="key 'a' at line 1 already appears at line 1"):
        plcore.load_instance(tmp_path / "flow.yaml")


@pytest.mark.parametrize("content, message", [
    ("blocks: {a: 1\nmodels: [", "invalid YAML at line"),
    ("- 1\n- 2\n", "top level must be a mapping"),
    ("", "top level must be a mapping"),
    ("!!python/object:os.system {}", "invalid YAML"),   # a safe loader: no objects built
])
def test_bad_yaml_files(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(InstanceError, match=message):
        plcore.load_instance(path)


def test_json_top_level_must_be_an_object(tmp_path):
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(InstanceError, match="top level must be a mapping"):
        plcore.load_instance(tmp_path / "list.json")


def test_command_line_takes_yaml(tmp_path):
    path = tmp_path / "inst.yaml"
    plcore.save_instance(plcore.load_instance(EXAMPLE), path)
    res = subprocess.run([sys.executable, "-m", "plcore", "solve", str(path), "--method", "greedy"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["schedule"] == plcore.solve(plcore.load_instance(EXAMPLE), method="greedy")
