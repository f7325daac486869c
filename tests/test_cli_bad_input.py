"""Every bad input to the command line gives one line naming the entry, and exit code 2.

A table of malformed, extreme and oversized inputs (instance files in JSON and YAML, schedules,
device profiles, things that are not files) runs through ``plcore.cli.main``; each must end with

* exit code 2 (``profile --check`` returns 1 only for a missed target on a *valid* profile);
* exactly one line on stderr, starting ``plcore: error:``, naming the entry
  (``users[3].deadline_s``, ``architectures.resnet50.blocks[2].bytes``) or the file and line, and
  short;
* nothing on stdout, and no warning (warnings are errors here, numpy's RuntimeWarnings included).

A few run as real processes: output to a full disk, a named pipe, nesting deeper than Python's
recursion limit.
"""

import copy
import json
import os
import subprocess
import sys
import warnings

import pytest

from plcore.cli import main
from plcore.paths import PROFILES

from .edits import DELETE, set_at, to_linear_rate

MAX_MESSAGE = 600        # characters: a message quotes values, it never echoes a whole input


def instance() -> dict:
    """A valid instance: 4 users, blocks with and without load_s (the loader fills them in)."""
    return {
        "blocks": {"bb": {"bytes": 9.0e7, "load_s": 0.004}, "h1": {"bytes": 2.0e6},
                   "h2": {"bytes": 2.0e6, "load_s": 1e-4}},
        "loader": {"bandwidth_Bps": 2.0e10, "overhead_s": 5e-5},
        "models": {"m1": {"blocks": ["bb", "h1"], "infer_s": 0.006},
                   "m2": {"blocks": ["bb", "h2"], "infer_s": 0.006}},
        "users": [{"model": m, "data_bits": 1.2e6, "deadline_s": d, "power_w": 0.2,
                   "channel_gain": 1e-10}
                  for m, d in (("m1", 0.2), ("m2", 0.1), ("m1", 0.3), ("m2", 0.25))],
        "noise_psd_w_hz": 3.98e-21,
        "bandwidth_hz": 2e7,
        "rate": "shannon",
        "resident": ["bb"],
    }


def linear() -> dict:
    return to_linear_rate(instance())


def edited(path, value, base=instance):
    """``base()`` with the entry at ``path`` (a tuple of keys) set to ``value``, or deleted."""
    d = copy.deepcopy(base())
    set_at(d, path, value)
    return d


def raw(path, token, base=instance):
    """The JSON text of ``base()`` with the entry at ``path`` written as the raw ``token``."""
    text = json.dumps(edited(path, "@@", base), indent=1)
    return text.replace('"@@"', token)


def json_text(d):
    return json.dumps(d, indent=1)


def many_users(*edits, n=5000):
    """The JSON text of ``instance()`` with ``n`` users (its four, repeated) and ``edits``: (path
    under ``users``, value) pairs."""
    d = instance()
    d["users"] = [dict(d["users"][k % 4]) for k in range(n)]
    for path, value in edits:
        set_at(d["users"], path, value)
    return json_text(d)


YAML = """\
blocks:
  bb: {bytes: 9.0e7, load_s: 0.004}
  h1: {bytes: 2.0e6}
loader: {bandwidth_Bps: 2.0e10, overhead_s: 5e-5}
models:
  m1: {blocks: [bb, h1], infer_s: 0.006}
users:
  - {model: m1, data_bits: 1.2e6, deadline_s: 0.2, power_w: 0.2, channel_gain: 1e-10}
  - {model: m1, data_bits: 1.2e6, deadline_s: 0.1, power_w: 0.2, channel_gain: 1e-10}
  - {model: m1, data_bits: 1.2e6, deadline_s: DEADLINE, power_w: 0.2, channel_gain: 1e-10}
noise_psd_w_hz: 3.98e-21
bandwidth_hz: 2e7
"""


def yaml_deadline(token: str) -> str:
    """The YAML instance with users[2].deadline_s (line 10) written as ``token``."""
    return YAML.replace("DEADLINE", token)


DEEP = "[" * 2000 + "]" * 2000          # beyond Python's recursion limit
BIG_INT = "1" + "0" * 10_000            # beyond Python's 4,300-digit limit for int()

# (id, file name, content (str, or bytes), fragments the message must hold)
FILE_CASES = [
    # ---- values of the wrong type, missing or out of range (JSON)
    ("deadline-string", "i.json", json_text(edited(("users", 3, "deadline_s"), "0.1")),
     ["users[3].deadline_s", "must be a number"]),
    ("deadline-zero", "i.json", json_text(edited(("users", 3, "deadline_s"), 0)),
     ["users[3].deadline_s", "must be > 0"]),
    ("deadline-negative", "i.json", json_text(edited(("users", 3, "deadline_s"), -1)),
     ["users[3].deadline_s"]),
    ("deadline-1e308", "i.json", json_text(edited(("users", 3, "deadline_s"), 1e308)),
     ["users[3].deadline_s", "1e+06"]),
    ("deadline-denormal", "i.json", json_text(edited(("users", 3, "deadline_s"), 5e-324)),
     ["users[3].deadline_s", "1e-12"]),
    ("deadline-1e-300", "i.json", json_text(edited(("users", 3, "deadline_s"), 1e-300)),
     ["users[3].deadline_s"]),
    ("deadline-true", "i.json", json_text(edited(("users", 3, "deadline_s"), True)),
     ["users[3].deadline_s"]),
    ("deadline-null", "i.json", json_text(edited(("users", 3, "deadline_s"), None)),
     ["users[3].deadline_s", "missing"]),
    ("deadline-missing", "i.json", json_text(edited(("users", 3, "deadline_s"), DELETE)),
     ["users[3].deadline_s", "missing"]),
    ("deadline-list", "i.json", json_text(edited(("users", 3, "deadline_s"), [0.1])),
     ["users[3].deadline_s"]),
    ("deadline-object", "i.json", json_text(edited(("users", 3, "deadline_s"), {"s": 1})),
     ["users[3].deadline_s"]),
    ("data-bits-1e300", "i.json", json_text(edited(("users", 1, "data_bits"), 1e300)),
     ["users[1].data_bits", "1e+15"]),
    ("data-bits-denormal", "i.json", json_text(edited(("users", 1, "data_bits"), 5e-324)),
     ["users[1].data_bits"]),
    ("power-huge", "i.json", json_text(edited(("users", 2, "power_w"), 1e300)),
     ["users[2]", "power_w * channel_gain / noise_psd_w_hz"]),
    ("power-tiny", "i.json", json_text(edited(("users", 2, "power_w"), 1e-300)),
     ["users[2]", "power_w"]),
    ("gain-tiny", "i.json", json_text(edited(("users", 0, "channel_gain"), 1e-300)),
     ["users[0]", "channel_gain"]),
    ("gain-zero", "i.json", json_text(edited(("users", 0, "channel_gain"), 0)),
     ["users[0].channel_gain"]),
    ("noise-huge", "i.json", json_text(edited(("noise_psd_w_hz",), 1e300)),
     ["users[0]", "noise_psd_w_hz"]),
    ("noise-zero", "i.json", json_text(edited(("noise_psd_w_hz",), 0)), ["noise_psd_w_hz"]),
    ("bandwidth-huge", "i.json", json_text(edited(("bandwidth_hz",), 1e300)),
     ["bandwidth_hz", "1e+15"]),
    ("bandwidth-tiny", "i.json", json_text(edited(("bandwidth_hz",), 1e-300)), ["bandwidth_hz"]),
    ("bandwidth-string", "i.json", json_text(edited(("bandwidth_hz",), "2e7")), ["bandwidth_hz"]),
    ("loader-bandwidth-denormal", "i.json",
     json_text(edited(("loader", "bandwidth_Bps"), 5e-324)), ["loader.bandwidth_Bps"]),
    ("loader-overhead-huge", "i.json", json_text(edited(("loader", "overhead_s"), 1e308)),
     ["loader.overhead_s"]),
    ("loader-a-list", "i.json", json_text(edited(("loader",), [1, 2])), ["loader"]),
    ("block-bytes-huge", "i.json", json_text(edited(("blocks", "bb", "bytes"), 1e300)),
     ["blocks['bb'].bytes"]),
    ("block-load-huge", "i.json", json_text(edited(("blocks", "bb", "load_s"), 1e308)),
     ["blocks['bb'].load_s"]),
    ("block-load-from-loader-huge", "i.json",
     json_text(edited(("loader",), {"bandwidth_Bps": 1.0, "overhead_s": 0.0})), ["blocks['h1']"]),
    ("infer-huge", "i.json", json_text(edited(("models", "m2", "infer_s"), 1e308)),
     ["models['m2'].infer_s"]),
    ("infer-negative", "i.json", json_text(edited(("models", "m2", "infer_s"), -0.1)),
     ["models['m2'].infer_s"]),
    ("spectral-eff-tiny", "i.json",
     json_text(edited(("users", 1, "spectral_eff"), 1e-300, base=linear)),
     ["users[1].spectral_eff"]),
    ("spectral-eff-huge", "i.json",
     json_text(edited(("users", 1, "spectral_eff"), 1e300, base=linear)),
     ["users[1].spectral_eff"]),
    ("unknown-model", "i.json", json_text(edited(("users", 2, "model"), "m9")),
     ["users[2].model", "unknown model"]),
    ("unknown-block", "i.json", json_text(edited(("models", "m1", "blocks"), ["bb", "zz"])),
     ["models['m1'].blocks[1]"]),
    ("unknown-resident", "i.json", json_text(edited(("resident",), ["zz"])), ["resident[0]"]),
    ("resident-1e5-unknown", "i.json",
     json_text(edited(("resident",), [f"b{j}" for j in range(10 ** 5)])), ["resident[0]"]),
    ("resident-a-string", "i.json", json_text(edited(("resident",), "bb")), ["resident"]),
    ("users-a-string", "i.json", json_text(edited(("users",), "everyone")), ["users"]),
    ("users-null", "i.json", json_text(edited(("users",), None)), ["users"]),
    ("user-a-number", "i.json", json_text(edited(("users", 1), 7)), ["users[1]"]),
    ("blocks-a-list", "i.json", json_text(edited(("blocks",), ["bb"])), ["blocks"]),
    ("models-a-string", "i.json", json_text(edited(("models",), "m1")), ["models"]),
    ("model-blocks-a-string", "i.json", json_text(edited(("models", "m1", "blocks"), "bb")),
     ["models['m1'].blocks"]),
    ("top-level-list", "i.json", "[1, 2, 3]", ["top level must be a mapping"]),
    ("top-level-string", "i.json", '"an instance"', ["top level must be a mapping"]),
    ("top-level-number", "i.json", "5", ["top level must be a mapping"]),
    ("top-level-null", "i.json", "null", ["top level must be a mapping"]),
    ("top-level-typo", "i.json", json_text(edited(("bandwith_hz",), 2e7)), ["bandwith_hz"]),
    ("user-key-typo", "i.json", json_text(edited(("users", 3, "deadline"), 0.1)),
     ["users[3]", "'deadline'"]),
    ("rate-unknown", "i.json", json_text(edited(("rate",), "cubic")), ["rate"]),
    ("rate-a-number", "i.json", json_text(edited(("rate",), 5)), ["rate"]),
    ("rate-a-list", "i.json", json_text(edited(("rate",), ["shannon"])), ["rate"]),
    ("meta-a-list", "i.json", json_text(edited(("meta",), [1])), ["meta"]),
    ("megabyte-model-name", "i.json", json_text(edited(("users", 0, "model"), "x" * 10 ** 6)),
     ["users[0].model", "characters"]),
    ("megabyte-block-name", "i.json",
     json_text(edited(("blocks", "y" * 10 ** 6), {"bytes": -1, "load_s": 0.1})),
     ["blocks['yyyy", ".bytes"]),
    ("1e5-unknown-keys", "i.json",
     json_text(edited(("users", 0), {**{f"k{i}": 1 for i in range(10 ** 5)}, "model": "m1"})),
     ["users[0]", "more"]),
    ("newline-in-value", "i.json", json_text(edited(("users", 0, "model"), "a\nb\nc")),
     ["users[0].model"]),
    # ---- among many users, the first bad one, whatever is wrong with the later ones
    ("last-of-5000-deadline-zero", "i.json", many_users(((4999, "deadline_s"), 0)),
     ["users[4999].deadline_s: must be > 0"]),
    ("first-of-two-bad-users-a-number", "i.json",
     many_users(((2000, "model"), "m9"), ((1000, "data_bits"), -1)),
     ["users[1000].data_bits: must be >= 0"]),
    ("first-of-two-bad-users-a-model", "i.json",
     many_users(((2000, "data_bits"), -1), ((1000, "model"), "m9")),
     ["users[1000].model: unknown model 'm9'"]),
    ("first-of-two-bad-users-a-key", "i.json",
     many_users(((3000, "deadline_s"), "0.1"), ((2999, "deadline"), 0.1)),
     ["users[2999]: unknown key(s) 'deadline'"]),
    ("a-string-after-a-valid-int", "i.json",
     many_users(((10, "deadline_s"), 1), ((4000, "power_w"), "0.2")),
     ["users[4000].power_w: must be a number, got '0.2'"]),
    # ---- what the JSON reader refuses, with line and entry
    ("deep-2000", "i.json", raw(("users", 3, "deadline_s"), DEEP), ["line ", "nested deeper"]),
    ("deep-100", "i.json", raw(("users", 3, "deadline_s"), "[" * 100 + "]" * 100),
     ["users[3].deadline_s", "line ", "nested deeper"]),
    ("deep-in-meta", "i.json", raw(("meta",), '{"x": ' + DEEP + "}"), ["line ", "nested deeper"]),
    ("int-10000-digits", "i.json", raw(("users", 3, "deadline_s"), BIG_INT),
     ["users[3].deadline_s", "line ", "10001 characters"]),
    ("int-5000-digits-bytes", "i.json", raw(("blocks", "bb", "bytes"), "9" * 5000),
     ["blocks['bb'].bytes", "line "]),
    ("float-10000-digits", "i.json", raw(("users", 3, "deadline_s"), "0." + "1" * 10_000),
     ["users[3].deadline_s", "line "]),
    ("int-400-digits", "i.json", raw(("users", 3, "deadline_s"), "1" + "0" * 399),
     ["users[3].deadline_s", "line "]),
    ("int-99-digits", "i.json", raw(("users", 3, "deadline_s"), "1" + "0" * 98),
     ["users[3].deadline_s"]),
    ("float-1e400", "i.json", raw(("users", 3, "deadline_s"), "1e400"),
     ["users[3].deadline_s", "line ", "infinity"]),
    ("float-minus-1e400", "i.json", raw(("bandwidth_hz",), "-1e400"), ["bandwidth_hz", "line "]),
    ("float-1e-400", "i.json", raw(("users", 3, "data_bits"), "1e-400"),
     ["users[3].data_bits", "line ", "0"]),
    ("nan", "i.json", raw(("users", 3, "deadline_s"), "NaN"),
     ["users[3].deadline_s", "line ", "NaN"]),
    ("infinity", "i.json", raw(("blocks", "h2", "load_s"), "Infinity"),
     ["blocks['h2'].load_s", "line "]),
    ("minus-infinity", "i.json", raw(("noise_psd_w_hz",), "-Infinity"),
     ["noise_psd_w_hz", "line "]),
    ("nan-in-meta", "i.json", raw(("meta",), '{"note": NaN}'), ["meta.note", "line "]),
    ("repeated-key", "i.json",
     json_text(instance()).replace('"rate": "shannon"', '"rate": "shannon", "rate": "linear"'),
     ["rate", "appears twice"]),
    ("invalid-json", "i.json", '{"blocks": {,}}', ["line 1, column"]),
    ("empty-json", "i.json", "", ["line 1"]),
    ("byte-order-mark", "i.json", "\ufeff" + json_text(instance()), ["line 1"]),
    ("not-utf8", "i.json", b'{"blocks": "\xff\xfe"}', ["line 1", "UTF-8"]),
    # ---- YAML: what YAML 1.1 and 1.2 read differently, and the rest
    ("yaml-sexagesimal", "i.yaml", yaml_deadline("1:30"),
     ["users[2].deadline_s", "line 10", "90"]),
    ("yaml-leading-zero-octal", "i.yaml", yaml_deadline("010"),
     ["users[2].deadline_s", "line 10", "octal"]),
    ("yaml-binary", "i.yaml", yaml_deadline("0b11"), ["users[2].deadline_s", "line 10"]),
    ("yaml-hexadecimal", "i.yaml", yaml_deadline("0x1F"), ["users[2].deadline_s", "line 10"]),
    ("yaml-octal-12", "i.yaml", yaml_deadline("0o17"), ["users[2].deadline_s", "line 10"]),
    ("yaml-underscores", "i.yaml", yaml_deadline("1_000"), ["users[2].deadline_s", "line 10"]),
    ("yaml-underscores-float", "i.yaml", yaml_deadline("0.1_5"),
     ["users[2].deadline_s", "line 10"]),
    ("yaml-yes", "i.yaml", yaml_deadline("yes"), ["users[2].deadline_s", "line 10", "boolean"]),
    ("yaml-off", "i.yaml", yaml_deadline("off"), ["users[2].deadline_s", "line 10"]),
    ("yaml-on-as-key", "i.yaml", YAML.replace("noise_psd_w_hz:", "on: 1\nnoise_psd_w_hz:"),
     ["line 11", "on is a boolean"]),
    ("yaml-y", "i.yaml", YAML.replace("rate", "x") + "rate: y\n", ["rate", "line 13"]),
    ("yaml-merge-key", "i.yaml", YAML.replace("loader: {", "loader: {<<: {a: 1}, "),
     ["loader", "line 4", "merge"]),
    ("yaml-nan", "i.yaml", yaml_deadline(".nan"), ["users[2].deadline_s", "line 10", "NaN"]),
    ("yaml-inf", "i.yaml", yaml_deadline("-.inf"), ["users[2].deadline_s", "line 10"]),
    ("yaml-1e400", "i.yaml", yaml_deadline("1e400"), ["users[2].deadline_s", "line 10"]),
    ("yaml-int-10000-digits", "i.yaml", yaml_deadline(BIG_INT),
     ["users[2].deadline_s", "line 10"]),
    ("yaml-underscored-10000-digits", "i.yaml", yaml_deadline("1_" + "0" * 10_000),
     ["users[2].deadline_s", "line 10"]),
    ("yaml-deep-2000", "i.yaml", yaml_deadline(DEEP), ["line 10", "nested deeper"]),
    ("yaml-deep-block-style", "i.yaml",
     "meta:\n" + "".join("  " * (i + 1) + "- \n" for i in range(200)), ["line ", "nested deeper"]),
    ("yaml-recursive-alias", "i.yaml", YAML + "meta: &m {a: *m}\n", ["line 13", "itself"]),
    ("yaml-alias-too-deep", "i.yaml",
     YAML + "meta:\n  a: &a " + "[" * 40 + "]" * 40 + "\n  b: " + "[" * 40 + "*a" + "]" * 40
     + "\n", ["line 14", "nested deeper", "aliases"]),
    ("yaml-repeated-key", "i.yaml", YAML + "bandwidth_hz: 1e6\n", ["bandwidth_hz", "line 13"]),
    ("yaml-invalid", "i.yaml", "blocks: {a: 1\nmodels: [", ["line "]),
    ("yaml-tab", "i.yaml", "blocks:\n\tbb: 1\n", ["line 2"]),
    ("yaml-python-object", "i.yaml", "!!python/object:os.system {}\n", ["line 1"]),
    ("yaml-explicit-int-octal", "i.yaml", yaml_deadline("!!int 010"),
     ["users[2].deadline_s", "line 10"]),
    ("yaml-explicit-bool-yes", "i.yaml", yaml_deadline("!!bool yes"),
     ["users[2].deadline_s", "line 10"]),
    ("yaml-date", "i.yaml", yaml_deadline("2026-01-01"), ["users[2].deadline_s"]),
    ("yaml-binary-tag", "i.yaml", yaml_deadline("!!binary aGVsbG8="), ["users[2].deadline_s"]),
    ("yaml-unhashable-key", "i.yaml", YAML + "? [a, b]\n: 1\n", ["line 1"]),
    ("yaml-top-level-list", "i.yaml", "- 1\n- 2\n", ["top level must be a mapping"]),
    ("yaml-empty", "i.yaml", "", ["top level must be a mapping"]),
    ("yaml-top-level-yes", "i.yaml", "yes\n", ["line 1"]),
    ("yaml-int-key", "i.yaml", YAML + "5: x\n", ["instance", "5"]),
]

SCHEDULE_CASES = [
    ("repeated-user", "0,0", ["schedule[1]"]),
    ("unknown-user", "99", ["schedule[0]"]),
    ("negative-user", "-1", ["schedule[0]"]),
    ("not-an-integer", "0,x", ["sequence item 1"]),
    ("empty-item", "0,,1", ["sequence item 1"]),
    ("10000-digit-user", "1" * 10_000, ["sequence item 0"]),
    ("float-user", "1.5", ["sequence item 0"]),
    ("underscored-user", "0,1_0", ["sequence item 1"]),
    ("non-ascii-digit", "\u0663", ["sequence item 0"]),
    ("megabyte-sequence", "0," + "x" * 10 ** 6, ["sequence item 1"]),
]


def profile(name="synthetic.json") -> dict:
    return json.loads((PROFILES / name).read_text())


def measured() -> dict:
    return profile("cpu-epyc-2core.json")


def changed(change, base=profile):
    p = base()
    change(p)
    return json.dumps(p)


R50 = ("architectures", "resnet50")


def put(path, value):
    """A change that sets (or deletes, for DELETE) the entry at ``path`` of a profile."""
    def change(p):
        set_at(p, path, value)
    return change


PROFILE_CASES = [
    ("paths-a-list", changed(put(("paths",), [1])), ["profile paths", "a list"]),
    ("paths-a-string", changed(put(("paths",), "disk")), ["profile paths", "a string"]),
    ("paths-null", changed(put(("paths",), None)), ["profile paths", "null"]),
    ("paths-empty", changed(put(("paths",), {})), ["profile paths"]),
    ("paths-missing", changed(put(("paths",), DELETE)), ["missing 'paths'"]),
    ("path-a-list", changed(put(("paths", "disk"), [])), ["profile paths.disk"]),
    ("bandwidth-a-string", changed(put(("paths", "disk", "bandwidth_Bps"), "5e9")),
     ["profile paths.disk.bandwidth_Bps", "'5e9' (a string)"]),
    ("bandwidth-missing", changed(put(("paths", "disk", "bandwidth_Bps"), DELETE)),
     ["profile paths.disk", "missing 'bandwidth_Bps'"]),
    ("bandwidth-denormal", changed(put(("paths", "disk", "bandwidth_Bps"), 5e-324)),
     ["profile paths.disk.bandwidth_Bps"]),
    ("bandwidth-bool", changed(put(("paths", "disk", "bandwidth_Bps"), True)),
     ["profile paths.disk.bandwidth_Bps", "boolean"]),
    ("overhead-negative", changed(put(("paths", "disk", "overhead_s"), -1)),
     ["profile paths.disk.overhead_s"]),
    ("architectures-a-list", changed(put(("architectures",), [])), ["profile architectures"]),
    ("architectures-null", changed(put(("architectures",), None)), ["profile architectures"]),
    ("architecture-a-string", changed(put(R50, "resnet")), ["profile architectures.resnet50"]),
    ("blocks-a-mapping", changed(put(R50 + ("blocks",), {})),
     ["profile architectures.resnet50.blocks"]),
    ("blocks-empty", changed(put(R50 + ("blocks",), [])),
     ["profile architectures.resnet50.blocks"]),
    ("block-a-string", changed(put(R50 + ("blocks", 2), "stem")),
     ["profile architectures.resnet50.blocks[2]"]),
    ("block-bytes-a-string", changed(put(R50 + ("blocks", 2, "bytes"), "38664")),
     ["profile architectures.resnet50.blocks[2].bytes"]),
    ("block-bytes-missing", changed(put(R50 + ("blocks", 2, "bytes"), DELETE)),
     ["profile architectures.resnet50.blocks[2]", "missing 'bytes'"]),
    ("block-bytes-1e300", changed(put(R50 + ("blocks", 2, "bytes"), 1e300)),
     ["profile architectures.resnet50.blocks[2].bytes"]),
    ("block-name-a-number", changed(put(R50 + ("blocks", 2, "name"), 5)),
     ["profile architectures.resnet50.blocks[2].name"]),
    ("infer-a-list", changed(put(R50 + ("infer_s",), [0.1])),
     ["profile architectures.resnet50.infer_s"]),
    ("infer-without-batch-1", changed(put(R50 + ("infer_s",), {"2": 0.1})),
     ["profile architectures.resnet50.infer_s", "'1'"]),
    ("infer-a-string", changed(put(R50 + ("infer_s", "1"), "fast")),
     ["profile architectures.resnet50.infer_s.1"]),
    ("infer-bad-batch", changed(put(R50 + ("infer_s", "one"), 0.1)),
     ["profile architectures.resnet50.infer_s", "'one'"]),
    ("model-load-a-string", changed(put(R50 + ("model_load_s",), {"disk": "x"})),
     ["profile architectures.resnet50.model_load_s.disk"]),
    ("issue-without-median", changed(put(R50 + ("loader_issue_s",), {"p10": 1e-4})),
     ["profile architectures.resnet50.loader_issue_s", "missing 'median'"]),
    ("issue-median-a-string", changed(put(R50 + ("loader_issue_s",), {"median": "x"})),
     ["profile architectures.resnet50.loader_issue_s.median"]),
    ("synthetic-a-string", changed(put(("synthetic",), "false")), ["profile synthetic"]),
    ("schema-missing", changed(put(("schema",), DELETE)), ["missing 'schema'"]),
    ("schema-other", changed(put(("schema",), "plcore.profile/9")), ["profile schema"]),
    ("device-a-number", changed(put(("device",), 5)), ["profile device"]),
    ("date-missing", changed(put(("date",), DELETE)), ["missing 'date'"]),
    ("per-size-a-list", changed(put(("h2d_pinned_per_size_Bps",), [1])),
     ["profile h2d_pinned_per_size_Bps"]),
    ("per-size-a-string", changed(put(("h2d_pinned_per_size_Bps",), {"16": "fast"})),
     ["profile h2d_pinned_per_size_Bps.16"]),
    ("loader-bps-a-string", changed(put(("loader_Bps",), "1e10")), ["profile loader_Bps"]),
    ("top-level-list", "[]", ["top level must be a mapping"]),
    # measured profiles carry more
    ("measured-validation-missing", changed(put(("validation",), DELETE), measured),
     ["missing 'validation'"]),
    ("measured-validation-null", changed(put(("validation",), None), measured),
     ["profile validation"]),
    ("measured-validation-a-list", changed(put(("validation",), []), measured),
     ["profile validation"]),
    ("measured-err-a-string", changed(put(("validation", "makespan_rel_err"), "0.03"), measured),
     ["profile validation.makespan_rel_err"]),
    ("measured-err-negative", changed(put(("validation", "makespan_rel_err"), -1), measured),
     ["profile validation.makespan_rel_err"]),
    ("measured-users-missing", changed(put(("validation", "users"), DELETE), measured),
     ["profile validation", "missing 'users'"]),
    ("measured-start-err-a-string", changed(put(("validation", "start_err_s"), "x"), measured),
     ["profile validation.start_err_s"]),
    ("measured-runs-a-string", changed(put(("validation", "runs_makespan_rel_err"), "abc"),
                                       measured),
     ["profile validation.runs_makespan_rel_err"]),
    ("measured-runs-null-entry", changed(put(("validation", "runs_makespan_rel_err"), [None]),
                                         measured),
     ["profile validation.runs_makespan_rel_err[0]"]),
    ("measured-arch-a-number", changed(put(("validation", "arch"), 5), measured),
     ["profile validation.arch"]),
    ("measured-loader-bps-missing", changed(put(("loader_Bps",), DELETE), measured),
     ["missing 'loader_Bps'"]),
    ("measured-peak-a-string", changed(put(("h2d_pinned_peak_Bps",), "x"), measured),
     ["profile h2d_pinned_peak_Bps"]),
    ("measured-method-a-list", changed(put(("method",), []), measured), ["profile method"]),
    ("measured-driver-a-number", changed(put(("driver",), 5), measured), ["profile driver"]),
    ("measured-cpu-count-a-string", changed(put(("cpu_count",), "2"), measured),
     ["profile cpu_count"]),
    ("measured-block-load-missing",
     changed(put(("architectures", "resnet18", "blocks", 0, "load_s"), DELETE), measured),
     ["profile architectures.resnet18.blocks[0]", "load_s"]),
    ("measured-block-load-path-missing",
     changed(put(("architectures", "resnet18", "blocks", 0, "load_s", "disk"), DELETE), measured),
     ["profile architectures.resnet18.blocks[0].load_s", "'disk'"]),
    ("measured-block-load-negative",
     changed(put(("architectures", "resnet18", "blocks", 0, "load_s", "disk"), -1), measured),
     ["profile architectures.resnet18.blocks[0].load_s.disk"]),
    ("measured-loader-path-unknown", changed(put(("loader_path",), "nope"), measured),
     ["profile loader_path", "'nope'"]),
    # the file itself
    ("file-nan", json.dumps(profile()).replace('"bandwidth_Bps": 49500000000.0',
                                               '"bandwidth_Bps": NaN'),
     ["paths.packed_pinned.bandwidth_Bps", "line 1"]),
    ("file-deep", json.dumps(profile()).replace('"note": "one', '"note": ' + DEEP + ', "x": "'),
     ["line 1", "nested deeper"]),
    ("file-huge-int", json.dumps(profile()).replace("38664", BIG_INT, 1),
     ["architectures.resnet50.blocks[0].bytes", "line 1"]),
    ("file-invalid-json", "{", ["line 1"]),
    ("file-empty", "", ["line 1"]),
]


def check_one_line(rc, out, err, fragments, code=2):
    """The contract: exit code, nothing on stdout, one short error line naming the entry."""
    assert rc == code, (rc, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err[:2000]
    line = lines[0]
    assert line.startswith("plcore: error: "), line
    assert len(line) <= MAX_MESSAGE, line[:2000]
    for fragment in fragments:
        assert fragment in line, (fragment, line)


def run_main(argv, capsys):
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # numpy's RuntimeWarnings included
        rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


COMMANDS = {
    "validate": lambda f: ["validate", f],
    "evaluate": lambda f: ["evaluate", f, "0,1"],
    "solve": lambda f: ["solve", f, "--method", "greedy"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_bad_instance_files(tmp_path, capsys, case, command):
    _, name, content, fragments = case
    path = write(tmp_path, name, content)
    check_one_line(*run_main(COMMANDS[command](str(path)), capsys), fragments)


@pytest.mark.parametrize("case", SCHEDULE_CASES, ids=[c[0] for c in SCHEDULE_CASES])
def test_bad_schedules(tmp_path, capsys, case):
    _, sequence, fragments = case
    path = write(tmp_path, "i.json", json_text(instance()))
    check_one_line(*run_main(["evaluate", str(path), sequence], capsys), fragments)


@pytest.mark.parametrize("check", [True, False], ids=["check", "report"])
@pytest.mark.parametrize("case", PROFILE_CASES, ids=[c[0] for c in PROFILE_CASES])
def test_bad_profiles(tmp_path, capsys, case, check):
    _, content, fragments = case
    path = write(tmp_path, "p.json", content)
    argv = ["profile", str(path)] + (["--check"] if check else [])
    check_one_line(*run_main(argv, capsys), fragments)


NOT_FILES = [
    ("directory", lambda tmp: str(tmp), "is a directory"),
    ("missing", lambda tmp: str(tmp / "absent.json"), "no such file"),
    ("character-device", lambda tmp: os.devnull, "character device"),
    ("name-with-newline", lambda tmp: str(tmp / "a\nb.json"), "no such file"),
]
if hasattr(os, "mkfifo"):
    def _fifo(tmp):
        os.mkfifo(tmp / "pipe.json")
        return str(tmp / "pipe.json")
    NOT_FILES.append(("named-pipe", _fifo, "named pipe"))


@pytest.mark.timeout(60)       # a named pipe read as a file would block forever
@pytest.mark.parametrize("kind", ["validate", "evaluate", "solve", "profile"])
@pytest.mark.parametrize("case", NOT_FILES, ids=[c[0] for c in NOT_FILES])
def test_not_a_regular_file(tmp_path, capsys, case, kind):
    _, make, fragment = case
    target = make(tmp_path)
    argv = ["profile", target, "--check"] if kind == "profile" else COMMANDS[kind](target)
    check_one_line(*run_main(argv, capsys), [fragment])


def run(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "plcore", *args], capture_output=True,
                          text=True, timeout=120, **kwargs)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("argv", [["solve", "data/instances/example.json", "--method", "greedy"],
                                  ["validate", "data/instances/example.json"],
                                  ["profile", str(PROFILES / "synthetic.json"), "--check"]],
                         ids=["solve", "validate", "profile"])
def test_a_full_disk_is_one_line(argv):
    with open("/dev/full", "w") as full:
        res = subprocess.run([sys.executable, "-W", "error", "-m", "plcore", *argv], stdout=full,
                             stderr=subprocess.PIPE, text=True, timeout=120)
    check_one_line(res.returncode, "", res.stderr, ["cannot write the output"])


@pytest.mark.timeout(120)
def test_real_processes(tmp_path):
    """Not in-process: the default recursion limit, a real named pipe, warnings as errors."""
    deep = write(tmp_path, "deep.json", raw(("users", 3, "deadline_s"), "[" * 100_000))
    res = run("validate", str(deep))
    check_one_line(res.returncode, res.stdout, res.stderr, ["line ", "nested deeper"])
    deep = write(tmp_path, "deep.yaml", yaml_deadline("[" * 100_000))
    res = run("solve", str(deep), "--method", "greedy")
    check_one_line(res.returncode, res.stdout, res.stderr, ["line 10", "nested deeper"])
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.yaml")
        res = run("validate", str(tmp_path / "pipe.yaml"))
        check_one_line(res.returncode, res.stdout, res.stderr, ["named pipe"])
    extreme = write(tmp_path, "x.json", json_text(edited(("users", 0, "deadline_s"), 1e308)))
    res = subprocess.run([sys.executable, "-W", "error", "-m", "plcore", "evaluate",
                          str(extreme), "0,1"], capture_output=True, text=True, timeout=120)
    check_one_line(res.returncode, res.stdout, res.stderr, ["users[0].deadline_s"])


def test_the_valid_inputs_of_the_table_pass(tmp_path, capsys):
    """The bases the table edits are valid: each case fails for its own edit, not the base's."""
    for name, content in (("i.json", json_text(instance())), ("l.json", json_text(linear())),
                          ("i.yaml", yaml_deadline("0.3"))):
        rc, out, err = run_main(["validate", str(write(tmp_path, name, content))], capsys)
        assert rc == 0 and err == "" and json.loads(out)["valid"]
    for name in ("synthetic.json", "cpu-epyc-2core.json"):
        path = write(tmp_path, name, json.dumps(profile(name)))
        rc, out, err = run_main(["profile", str(path), "--check"], capsys)
        assert rc == 0 and err == "" and out


def test_the_table_is_large():
    invocations = (len(FILE_CASES) * len(COMMANDS) + len(SCHEDULE_CASES) + 2 * len(PROFILE_CASES)
                   + 4 * len(NOT_FILES))
    assert len(FILE_CASES) >= 100 and invocations >= 400


def test_out_of_memory_is_one_line(tmp_path, capsys, monkeypatch):
    """An instance too large for the machine's memory (models x blocks arrays)."""
    import plcore.cli

    def too_large(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(plcore.cli, "solve_with_status", too_large)
    path = write(tmp_path, "i.json", json_text(instance()))
    check_one_line(*run_main(["solve", str(path), "--method", "greedy"], capsys),
                   ["i.json: out of memory"])
