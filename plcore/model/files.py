"""Reading and writing instance files, strictly: JSON, or YAML with the same keys (MODEL.md s. 4).

The format follows the file name: ``.yaml``/``.yml`` is YAML, anything else JSON. Both readers
refuse what a lenient parser would quietly accept and so lose or invent data:

* a key repeated in one object (the parser would keep only the last one);
* ``NaN``/``Infinity`` in JSON (not JSON numbers, though Python's parser accepts them);
* in YAML, numbers are read as YAML 1.2 does: ``2e7`` and ``1.2e6`` are numbers, not strings as
  in PyYAML's YAML 1.1 rules.

Errors are :class:`~plcore.errors.InstanceError` naming the file and, where the parser knows it, the
line and column.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import InstanceError

__all__ = ["read_mapping", "write_mapping", "YAML_SUFFIXES"]

YAML_SUFFIXES = (".yaml", ".yml")


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in YAML_SUFFIXES


def read_mapping(path: str | Path) -> dict:
    """Parse an instance file into a plain dict (not yet validated as an instance).

    Raises
    ------
    InstanceError
        If the file is missing or unreadable, does not parse (with line and column), repeats a
        key, holds NaN/Infinity (JSON), or its top level is not a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InstanceError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InstanceError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    d = _parse_yaml(text, path) if _is_yaml(path) else _parse_json(text, path)
    if not isinstance(d, dict):
        raise InstanceError(f"{path}: the top level must be a mapping of the instance's sections, "
                            f"got {type(d).__name__}")
    return d


def write_mapping(d: dict, path: str | Path) -> None:
    """Write a dict as indented JSON, or as YAML for a ``.yaml``/``.yml`` name."""
    path = Path(path)
    if _is_yaml(path):
        import yaml

        path.write_text(yaml.safe_dump(d, sort_keys=False, allow_unicode=True), encoding="utf-8")
    else:
        path.write_text(json.dumps(d, indent=2) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# JSON

def _reject_constant(name: str):
    raise InstanceError(f"{name} is not a valid JSON number")


def _unique_pairs(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise InstanceError(f"key {k!r} appears twice in one object; only one can be kept, so "
                                "the file is refused")
        out[k] = v
    return out


def _parse_json(text: str, path: Path):
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_pairs)
    except json.JSONDecodeError as exc:
        raise InstanceError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                            f"{exc.msg}") from None
    except InstanceError as exc:
        raise InstanceError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------------------------------
# YAML

# YAML 1.2 floats (PyYAML implements YAML 1.1, whose floats need a dot and a signed exponent).
_FLOAT_12 = re.compile(r"""^(?:
    [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
   |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
   |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
   |[-+]?\.(?:inf|Inf|INF)
   |\.(?:nan|NaN|NAN))$""", re.X)


def _loader():
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                except TypeError:         # an unhashable key: let PyYAML report it
                    continue
                if first is not None:
                    raise InstanceError(f"key {key!r} at line {line} already appears at line "
                                        f"{first}; only one can be kept, so the file is refused")
                seen[key] = line
            return super().construct_mapping(node, deep=deep)

    StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12,
                                       list("-+0123456789."))
    return StrictLoader


def _parse_yaml(text: str, path: Path):
    import yaml

    try:
        return yaml.load(text, Loader=_loader())     # a SafeLoader: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InstanceError(f"{path}: invalid YAML{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise InstanceError(f"{path}: invalid YAML: {exc}") from None
    except InstanceError as exc:
        raise InstanceError(f"{path}: {exc}") from None
