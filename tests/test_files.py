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


# --------------------------------------------------------------------------------------------------
# What the readers refuse, naming the file, the line and the entry

def yaml_users(deadline: str) -> str:
    """A YAML instance whose users[1].deadline_s (line 7) is written ``deadline``."""
    return f"""blocks:
  base: {{bytes: 4e7, load_s: 0.004}}
models:
  m: {{blocks: [base], infer_s: 2e-3}}
users:
  - {{model: m, data_bits: 1.2e6, deadline_s: 0.05, power_w: 0.2, channel_gain: 1e-10}}
  - {{model: m, data_bits: 1.2e6, deadline_s: {deadline}, power_w: 0.2, channel_gain: 1e-10}}
noise_psd_w_hz: 4e-21
bandwidth_hz: 2e7
"""


@pytest.mark.parametrize("token, message", [
    ("1:30", "1:30 is 90 in YAML 1.1 (base 60) but a string in YAML 1.2"),
    ("1:30.5", "1:30.5 is 90.5 in YAML 1.1 (base 60)"),
    ("010", "010 has a leading zero: YAML 1.1 reads it as octal (= 8), YAML 1.2 as decimal (= 10)"),
    ("09", "09 has a leading zero: YAML 1.1 reads it as a string"),
    ("-007", "-007 has a leading zero"),
    ("0b11", "0b11 is 3 in YAML 1.1 (binary) but a string in YAML 1.2"),
    ("0x1F", "0x1F is hexadecimal: write the number in decimal"),
    ("-0x1f", "-0x1f is hexadecimal"),
    ("0o17", "0o17 is octal: write the number in decimal"),
    ("1_000", "1_000 is 1000 in YAML 1.1 (underscores) but a string in YAML 1.2"),
    ("0.1_5", "0.1_5 is 0.15 in YAML 1.1 (underscores)"),
    ("yes", "yes is a boolean in YAML 1.1 but a string in YAML 1.2"),
    ("No", "No is a boolean in YAML 1.1"),
    ("ON", "ON is a boolean in YAML 1.1"),
    ("off", "off is a boolean in YAML 1.1"),
    ("y", "y is a boolean in YAML 1.1"),
    ("N", "N is a boolean in YAML 1.1"),
    ("!!int 010", "010 has a leading zero"),
    ("!!int 0x1F", "0x1F is hexadecimal"),
    ("!!int 1.5", "'1.5' is not a decimal integer"),
    ("!!float 1:30", "1:30 is 90 in YAML 1.1"),
    ("!!float abc", "'abc' is not a number"),
    ("!!bool yes", "yes is a boolean in YAML 1.1"),
    ("!!bool maybe", "'maybe' is not true or false"),
    (".nan", "is NaN"),
    (".NaN", "is NaN"),
    (".inf", "must be finite, got .inf"),
    ("-.Inf", "must be finite, got -.Inf"),
    ("1e400", "1e400 is beyond the largest double"),
    ("-1.5e309", "-1.5e309 is beyond the largest double"),
    ("1e-400", "1e-400 is below the smallest double"),
    ("1" * 101, "a number written with 101 characters"),
    ("1_" * 60 + "1", "is a number in YAML 1.1 (underscores)"),
])
def test_yaml_refuses_what_yaml_11_reads_otherwise_naming_line_and_entry(tmp_path, token, message):
    path = tmp_path / "i.yaml"
    path.write_text(yaml_users(token))
    with pytest.raises(InstanceError) as info:
        plcore.load_instance(path)
    text = str(info.value)
    assert text.startswith(f"{path}: line 7, column ") and "users[1].deadline_s: " in text
    assert message in text
    assert len(text) < 400


@pytest.mark.parametrize("token, value", [
    ("0.05", 0.05), ("5e-2", 0.05), ("5E-2", 0.05), ("+0.05", 0.05), (".05", 0.05),
    ("+.05", 0.05), ("5.e-2", 0.05), ("0.5e-1", 0.05), ("1", 1.0), ("+1", 1.0), ("00.5", 0.5),
    ("1.", 1.0), ("1" + "0" * 5, 1e5), ("0." + "0" * 90 + "1e90", 0.1),
])
def test_yaml_reads_numbers_as_yaml_12_does(tmp_path, token, value):
    path = tmp_path / "i.yaml"
    path.write_text(yaml_users(token))
    assert plcore.load_instance(path).users[1].deadline_s == pytest.approx(value, rel=1e-15)


def test_yaml_keys_are_checked_too(tmp_path):
    path = tmp_path / "i.yaml"
    path.write_text(yaml_users("0.05").replace("bandwidth_hz: 2e7", "bandwidth_hz: 2e7\non: 1"))
    with pytest.raises(InstanceError, match=r"line 10, column 1: the top level: a key: on is a "
                                            "boolean in YAML 1.1"):
        plcore.load_instance(path)
    path.write_text(yaml_users("0.05") + "<<: {rate: linear}\n")
    with pytest.raises(InstanceError, match="line 10, column 1: .*<< is a merge key in YAML 1.1"):
        plcore.load_instance(path)


def test_yaml_dates_stay_strings_as_in_yaml_12(tmp_path):
    path = tmp_path / "i.yaml"
    path.write_text(yaml_users("0.05") + "meta: {date: 2026-01-01, at: 2026-01-01 12:30:00}\n")
    assert plcore.load_instance(path).meta == {"date": "2026-01-01", "at": "2026-01-01 12:30:00"}


@pytest.mark.parametrize("name", ["yes", "No", "on", "y", "n", "1e5", "0o17", "0x1F", "1:30",
                                  "010", "1_000", "<<", ".inf", "2026-01-01", "true", "null", "~",
                                  "", "0.5", "-", "a: b", "#x", "'q'"])
def test_yaml_written_reads_back_as_written(tmp_path, name):
    """Names that YAML 1.1 or 1.2 would read as something else are quoted when written."""
    d = random_instance(2, 3, 2).to_dict()
    if name:
        d["models"] = {name: m for m in d["models"].values()} | {"other": next(iter(
            d["models"].values()))}
        for u in d["users"]:
            u["model"] = name
    d["meta"] = {"note": name, name: 1}
    inst = plcore.Instance.from_dict(d)
    plcore.save_instance(inst, tmp_path / "i.yaml")
    assert plcore.load_instance(tmp_path / "i.yaml") == inst
    import yaml

    assert yaml.safe_load((tmp_path / "i.yaml").read_text())["meta"]["note"] == name  # YAML 1.1


def write_json_with(tmp_path, token, key="bandwidth_hz"):
    """example.json with ``key`` written as the raw JSON ``token``; its line number."""
    d = json.loads(open(EXAMPLE).read())
    d[key] = "@@"
    text = json.dumps(d, indent=2)
    line = text[:text.index('"@@"')].count("\n") + 1
    path = tmp_path / "i.json"
    path.write_text(text.replace('"@@"', token))
    return path, line


@pytest.mark.parametrize("token, message", [
    ("NaN", "bandwidth_hz: NaN is not a valid JSON number"),
    ("Infinity", "bandwidth_hz: Infinity is not a valid JSON number"),
    ("-Infinity", "bandwidth_hz: -Infinity is not a valid JSON number"),
    ("1e400", "bandwidth_hz: 1e400 is beyond the largest double"),
    ("-1E+400", "bandwidth_hz: -1E+400 is beyond the largest double"),
    ("1e-400", "bandwidth_hz: 1e-400 is below the smallest double"),
    ("1" + "0" * 10_000, "bandwidth_hz: a number written with 10001 characters"),
    ("1." + "0" * 10_000, "bandwidth_hz: a number written with 10002 characters"),
    ("-" + "9" * 4301, "bandwidth_hz: a number written with 4302 characters"),
    ("[" * 65 + "]" * 65,
     "bandwidth_hz[0][0][0][0][0]...: arrays and objects nested deeper than 64"),
    ("[" * 5000 + "]" * 5000, "arrays and objects nested deeper than 64 levels"),
    ('{"a": ' * 3000 + "1" + "}" * 3000, "arrays and objects nested deeper than 64 levels"),
])
def test_json_refusals_name_line_and_entry(tmp_path, token, message):
    path, line = write_json_with(tmp_path, token)
    with pytest.raises(InstanceError) as info:
        plcore.load_instance(path)
    text = str(info.value)
    assert text.startswith(f"{path}: line {line}, column ") and message in text
    assert len(text) < 400


def test_json_numbers_within_limits_are_read(tmp_path):
    path, _ = write_json_with(tmp_path, "2" + "0" * 7)
    assert plcore.load_instance(path).bandwidth_hz == 2e7
    path, _ = write_json_with(tmp_path, "2." + "0" * 97)        # 100 characters
    assert plcore.load_instance(path).bandwidth_hz == 2.0
    path, _ = write_json_with(tmp_path, "[" * 63 + "]" * 63)    # 64 levels with the top one
    with pytest.raises(InstanceError, match=r"bandwidth_hz: must be a number, got \[\[\["):
        plcore.load_instance(path)


def test_the_nan_is_found_where_it_is(tmp_path):
    """The line is the refused value's own, not that of an equal token in a string or key."""
    d = {"meta": {"NaN": "NaN 1e400 [[[", "n": [1, 2, {"x": "1e400"}]}, "blocks": {}}
    text = json.dumps(d, indent=1).replace('"x": "1e400"', '"x": 1e400')
    (tmp_path / "i.json").write_text(text)
    line = text[:text.index('"x": 1e400')].count("\n") + 1
    with pytest.raises(InstanceError, match=rf"line {line}, column 10: meta\.n\[2\]\.x: 1e400"):
        plcore.load_instance(tmp_path / "i.json")


def test_yaml_nesting_and_aliases(tmp_path):
    path = tmp_path / "i.yaml"
    path.write_text("meta:\n  x: " + "[" * 64 + "]" * 64 + "\n")   # 66 levels with the mappings
    with pytest.raises(InstanceError, match=r"line 2, column 68: arrays and mappings nested deeper "
                                            "than 64 levels"):
        plcore.load_instance(path)
    path.write_text("meta: &m\n  a: [*m]\n")
    with pytest.raises(InstanceError, match="line 1, column 7: an alias makes this entry contain "
                                            "itself"):
        plcore.load_instance(path)
    # Aliases shared many times are read once each: a "billion laughs" file is not expanded.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    path.write_text("meta:\n" + "".join(f"  {line}\n" for line in lines) + "blocks: 1\n")
    with pytest.raises(InstanceError, match="blocks: must be an object"):
        plcore.load_instance(path)


@pytest.mark.timeout(60)
def test_only_regular_files_are_read(tmp_path):
    import os

    with pytest.raises(InstanceError, match=f"{tmp_path}: is a directory, not a regular file"):
        plcore.load_instance(tmp_path)
    with pytest.raises(InstanceError, match="/dev/null: is a character device"):
        plcore.load_instance("/dev/null")
    if hasattr(os, "mkfifo"):                 # a named pipe with no writer: must not block
        os.mkfifo(tmp_path / "p.yaml")
        with pytest.raises(InstanceError, match="p.yaml: is a named pipe"):
            plcore.load_instance(tmp_path / "p.yaml")
    with pytest.raises(InstanceError, match="cannot read"):
        plcore.load_instance("a\0b.json")
    with pytest.raises(InstanceError, match=r"'.*a\\nb\.json': no such file"):
        plcore.load_instance(tmp_path / "a\nb.json")       # the name printed on one line


def test_oversized_and_undecodable_files(tmp_path, monkeypatch):
    from plcore.model import files

    path = tmp_path / "i.json"
    plcore.save_instance(random_instance(0, 3, 2), path)
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 100)
    with pytest.raises(InstanceError, match="files over 0 MiB are refused"):
        plcore.load_instance(path)
    monkeypatch.undo()
    path.write_bytes(b'{\n"blocks":\n "\xff"}')
    with pytest.raises(InstanceError, match=r"i\.json: line 3: not UTF-8 text \(byte 14"):
        plcore.load_instance(path)


def test_repeated_json_key_names_its_object(tmp_path):
    (tmp_path / "d.json").write_text('{"blocks": {"a": {"bytes": 1}, "b": {"bytes": 1, '
                                     '"bytes": 2}}}')
    with pytest.raises(InstanceError, match=r"blocks\['b'\]\.bytes: key 'bytes' appears twice"):
        plcore.load_instance(tmp_path / "d.json")


def test_entry_names():
    from plcore.model.files import entry_name

    assert entry_name(("users", 3, "deadline_s")) == "users[3].deadline_s"
    assert entry_name(("blocks", "r50.stem", "bytes")) == "blocks['r50.stem'].bytes"
    assert entry_name(("meta", "a b", 0, (5,))) == "meta['a b'][0][5]"
    assert entry_name(("x" * 100,)).endswith("(a string of 100 characters)]")
    assert entry_name(()) == "the top level"


def test_long_yaml_numbers_of_every_form_are_refused(tmp_path):
    path = tmp_path / "i.yaml"
    for token in ("0" + "1" * 5000, "-0" + "7" * 5000, "0x" + "f" * 5000, "1" * 5000 + ".5",
                  "1:" + "30:" * 3000 + "1", "0b" + "1" * 20_000):
        path.write_text(yaml_users(token))
        entry = r"line 7, column \d+: users\[1\]\.deadline_s: "
        with pytest.raises(InstanceError, match=entry) as info:
            plcore.load_instance(path)
        assert len(str(info.value)) < 400


# Numbers at the edges of the JSON reader's fast path: each is read alike by both paths.
EDGE_NUMBERS = ["0", "-0", "-0.0", "0e000", "1e99", "-1E+99", "1e-99", "9.99e99", "1e100",
                "1e-100", "1e308", "1e-323", "2e-324", "1" * 47, "1" * 48, "1" * 100, "1" * 101,
                "0." + "0" * 46 + "1", "0." + "0" * 97 + "1", "1." + "5" * 98, "123456789e-05",
                "1E2", "2.5e+07", "NaN", "-Infinity", "1e400", "[[1e-400]]",
                "[" * 64 + "]" * 64, "[" * 63 + "]" * 63, "{}", '"1e400"', '"' + "7" * 60 + '"']


@pytest.mark.parametrize("token", EDGE_NUMBERS)
def test_the_fast_json_path_reads_what_the_slow_one_reads(tmp_path, monkeypatch, token):
    """The JSON reader takes a fast path for a file it can vouch for; any file, valid or refused,
    is read to the same dict, or refused with the same message, as by the slow path alone."""
    from plcore.model import files

    path, _ = write_json_with(tmp_path, token)

    def read():
        try:
            d = files.read_mapping(path)
        except InstanceError as exc:
            return str(exc)
        return json.dumps(d), repr(d)         # types and signs of zero included

    fast = read()
    monkeypatch.setattr(files, "_parse_json_fast", lambda text: None)
    assert fast == read()


def test_ordinary_files_take_the_fast_json_path(tmp_path):
    from plcore.model import files

    for token in ("2e7", "1" * 47, "1e-99", "[" * 63 + "]" * 63, '"' + "7" * 47 + '"'):
        path, _ = write_json_with(tmp_path, token)
        assert files._parse_json_fast(path.read_text()) == files.read_mapping(path)
    for token in ("1e100", "1" * 48, "NaN", "[" * 64 + "]" * 64, '"1e400"'):
        path, _ = write_json_with(tmp_path, token)
        assert files._parse_json_fast(path.read_text()) is None
    text = (tmp_path / "i.json").read_text().replace('"rate"', '"rate": 1, "rate"')
    assert files._parse_json_fast(text) is None                 # a repeated key
