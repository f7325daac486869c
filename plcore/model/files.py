"""Reading and writing instance files, strictly: JSON, or YAML with the same keys (MODEL.md s. 4).

The format follows the file name: ``.yaml``/``.yml`` is YAML, anything else JSON. Both readers
refuse what a lenient parser would quietly accept and so lose or invent data:

* anything but a regular file (a directory, a named pipe, a device: reading one would block or
  never end), and files over :data:`MAX_FILE_BYTES`;
* a key repeated in one object (the parser would keep only the last one);
* arrays and objects nested deeper than :data:`MAX_DEPTH` levels (plcore's files need six);
* a number written with more than :data:`MAX_NUMBER_CHARS` characters (a double holds 17
  significant digits), or one beyond the range of a double (it would be read as infinity or 0);
* ``NaN``/``Infinity`` in JSON (not JSON numbers, though Python's parser accepts them), and
  ``.nan``/``.inf`` in YAML;
* in YAML, numbers are read as YAML 1.2's core schema reads them (``2e7`` and ``1.2e6`` are
  numbers, not strings as in PyYAML's YAML 1.1 rules), and a plain scalar that YAML 1.1 reads
  differently is refused rather than guessed: base-60 ``1:30`` (90 in 1.1), leading-zero octal
  ``010`` (8 in 1.1, 10 in 1.2), binary ``0b11``, underscores ``1_000``, the booleans
  ``yes/no/on/off/y/n``, merge keys ``<<``. Hexadecimal ``0x1F`` and octal ``0o17`` are refused
  too: numbers in these files are decimal. A date stays a string, as in YAML 1.2.

Errors are :class:`~plcore.errors.InstanceError` naming the file, the line and column where the
parser knows them, and the entry (``users[3].deadline_s``) where the value sits.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path

from ..errors import InstanceError, short_repr

__all__ = ["read_mapping", "write_mapping", "entry_name", "show_path", "YAML_SUFFIXES",
           "MAX_DEPTH",
           "MAX_NUMBER_CHARS", "MAX_FILE_BYTES"]

YAML_SUFFIXES = (".yaml", ".yml")

#: Deepest nesting of arrays and objects accepted (an instance needs 4 levels, a profile 6).
MAX_DEPTH = 64
#: Longest number accepted, in characters as written (a double holds 17 significant digits).
MAX_NUMBER_CHARS = 100
#: Largest file accepted (an instance of a million users takes about 200 MB).
MAX_FILE_BYTES = 256 << 20


def _is_yaml(path: Path) -> bool:
    return path.suffix.lower() in YAML_SUFFIXES


def read_mapping(path: str | Path, *, what: str = "instance",
                 named: tuple[str, ...] = ("blocks", "models")) -> dict:
    """Parse an instance file into a plain dict (not yet validated as an instance).

    Parameters
    ----------
    path : str or Path
        A regular file: JSON, or YAML for a ``.yaml``/``.yml`` name.
    what : str
        What the file holds, for messages (``"instance"``, ``"profile"``).
    named : tuple of str
        Top-level sections whose keys are names, written ``blocks['r50.stem']`` in messages as
        :meth:`~plcore.Instance.from_dict` writes them (see :func:`entry_name`).

    Returns
    -------
    dict

    Raises
    ------
    InstanceError
        If the file is missing, unreadable, not a regular file or too large, does not parse (with
        line and column), or holds what the module docstring lists; or if its top level is not a
        mapping. The message names the file, and the line and entry where they are known.
    """
    path = Path(path)
    label = show_path(path)
    text = _read_text(path, label)
    if _is_yaml(path):
        d = _parse_yaml(text, label, named)
    else:
        d = _parse_json(text, label, named)
    if not isinstance(d, dict):
        raise InstanceError(f"{label}: the top level must be a mapping of the {what}'s sections, "
                            f"got {type(d).__name__}")
    return d


def write_mapping(d: dict, path: str | Path) -> None:
    """Write a dict as indented JSON, or as YAML for a ``.yaml``/``.yml`` name.

    YAML is written so that :func:`read_mapping` (YAML 1.2) and YAML 1.1 readers read it alike: a
    string that either would read as something else (``'yes'``, ``'1e5'``, ``'1:30'``) is quoted.
    """
    path = Path(path)
    if _is_yaml(path):
        import yaml

        path.write_text(yaml.dump(d, Dumper=_dumper(), sort_keys=False, allow_unicode=True),
                        encoding="utf-8")
    else:
        path.write_text(json.dumps(d, indent=2) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# The file itself


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _read_text(path: Path, label: str) -> str:
    """The UTF-8 text of a regular file, refusing anything else without blocking on it."""
    try:
        # O_NONBLOCK: opening a named pipe must not wait for a writer; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise InstanceError(f"{label}: no such file") from None
    except (OSError, ValueError) as exc:         # ValueError: a NUL byte in the name
        reason = getattr(exc, "strerror", None) or exc
        raise InstanceError(f"{label}: cannot read ({reason})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
            raise InstanceError(f"{label}: is {kind}, not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise InstanceError(f"{label}: {st.st_size / 2**20:.0f} MiB; files over "
                                f"{MAX_FILE_BYTES >> 20} MiB are refused")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InstanceError(f"{label}: cannot read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:                    # it grew while being read
        raise InstanceError(f"{label}: files over {MAX_FILE_BYTES >> 20} MiB are refused")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InstanceError(f"{label}: line {line}: not UTF-8 text (byte {exc.start} cannot be "
                            "decoded)") from None


# --------------------------------------------------------------------------------------------------
# Naming entries, and the values a reader refuses


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


def entry_name(keys, named: tuple[str, ...] = ("blocks", "models")) -> str:
    """How messages name the entry at ``keys`` (dict keys and list indices, from the top).

    ``("users", 3, "deadline_s")`` is ``users[3].deadline_s``; keys of the ``named`` top-level
    sections are quoted, ``blocks['r50.stem'].bytes``, as :meth:`~plcore.Instance.from_dict` names
    them; other keys are quoted only where they are not plain words. List indices are ``int``;
    a mapping's key that is not a string (YAML allows any) is wrapped in a 1-tuple, so that an
    integer key is not taken for an index.

    Examples
    --------
    >>> entry_name(("users", 3, "deadline_s"))
    'users[3].deadline_s'
    >>> entry_name(("blocks", "r50.stem", "bytes"))
    "blocks['r50.stem'].bytes"
    >>> entry_name(("meta", (5,), 0), named=())
    'meta[5][0]'
    >>> entry_name(("architectures", "resnet50", "infer_s", "1"), named=())
    'architectures.resnet50.infer_s.1'
    """
    out = ""
    for depth, key in enumerate(keys):
        if isinstance(key, int):
            out += f"[{key}]"
            continue
        key = key[0] if isinstance(key, tuple) else key
        plain = isinstance(key, str) and len(key) <= 40 and _PLAIN_KEY.fullmatch(key)
        if depth == 1 and isinstance(keys[0], str) and keys[0] in named or not plain:
            out += f"[{short_repr(key, 40)}]"
        else:
            out += f".{key}" if depth else key
    return out or "the top level"


class _Refused:
    """Stands in the parsed data for a value the reader refuses; :func:`_find_refused` finds
    where it sits, so the message can name the entry."""

    __slots__ = ("reason", "line", "column", "ordinal")

    def __init__(self, reason: str, line: int | None = None, column: int | None = None,
                 ordinal: int | None = None):
        self.reason, self.line, self.column, self.ordinal = reason, line, column, ordinal

    def __repr__(self) -> str:                      # in case one is ever quoted
        return "<refused value>"


def _find_refused(data):
    """``(keys, refused, is_key, depth_exceeded)`` for the first refused value in document order,
    or the first container nested deeper than :data:`MAX_DEPTH`; None if there is neither.

    Iterative, and visits a container shared by several entries (YAML aliases) once.
    """
    seen = set()
    stack = [((), data, 1)]
    while stack:
        keys, obj, depth = stack.pop()
        if isinstance(obj, _Refused):
            return keys, obj, False, False
        if not isinstance(obj, (dict, list)) or id(obj) in seen:
            continue
        if depth > MAX_DEPTH:
            return keys, None, False, True
        seen.add(id(obj))
        if isinstance(obj, dict):
            for key in obj:
                if isinstance(key, _Refused):
                    return keys, key, True, False
            items = [(keys + (k if isinstance(k, str) else (k,),), v) for k, v in obj.items()]
        else:
            items = [(keys + (i,), v) for i, v in enumerate(obj)]
        stack.extend((k, v, depth + 1) for k, v in reversed(items))
    return None


def _one_line(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut to about ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def show_path(path) -> str:
    """A file name as messages show it: on one line, quoted if it holds odd characters."""
    text = str(path)
    return text if text.isprintable() and len(text) <= 300 else short_repr(text, 300)


def _at(line, column) -> str:
    return "" if line is None else f"line {line}, column {column}: "


def _refusal(label: str, found, named, locate=None) -> InstanceError:
    """The error for what :func:`_find_refused` found; ``locate(refused)`` gives its line and
    column where the refused value does not know them."""
    keys, refused, is_key, deep = found
    name = entry_name(keys[:6], named) + ("..." if len(keys) > 6 else "")
    if deep:
        line, column = locate(None) if locate else (None, None)
        return InstanceError(f"{label}: {_at(line, column)}{name}: arrays and objects nested "
                             f"deeper than {MAX_DEPTH} levels")
    line, column = refused.line, refused.column
    if line is None and locate is not None:
        line, column = locate(refused)
    what = f"{name}: a key" if is_key else name
    return InstanceError(f"{label}: {_at(line, column)}{what}: {refused.reason}")


def _number_too_long(text: str) -> str:
    return (f"a number written with {len(text)} characters ({text[:12]}...); at most "
            f"{MAX_NUMBER_CHARS} are accepted")


def _float_or_refused(text: str):
    """``float(text)``, or a :class:`_Refused` if it is too long or beyond a double's range."""
    if len(text) > MAX_NUMBER_CHARS:
        return _Refused(_number_too_long(text))
    value = float(text)
    if math.isinf(value):
        return _Refused(f"{text} is beyond the largest double (about 1.8e308): it would be "
                        "read as infinity")
    mantissa = re.split(r"[eE]", text)[0]
    if value == 0 and any(c in "123456789" for c in mantissa):
        return _Refused(f"{text} is below the smallest double (about 4.9e-324): it would be "
                        "read as 0")
    return value


# --------------------------------------------------------------------------------------------------
# JSON

# One JSON token that matters for locating things: a string (skipped), a bracket, a number or one
# of the constants Python's parser accepts.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]|-?Infinity|NaN'
                         r'|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?')


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _json_locate(text: str, ordinal: int | None):
    """Line and column of the ``ordinal``-th number or constant (from 1), or, for None, of the
    first bracket deeper than :data:`MAX_DEPTH`."""
    depth = count = 0
    for m in _JSON_TOKEN.finditer(text):
        c = m.group()
        if c[0] == '"':
            continue
        if c in "[{":
            depth += 1
            if ordinal is None and depth > MAX_DEPTH:
                return _line_col(text, m.start())
        elif c in "]}":
            depth -= 1
        else:
            count += 1
            if count == ordinal:
                return _line_col(text, m.start())
    return None, None


# The screen of the fast path: every digit read as 0, "E" as "e" and "+" as "-". A number the
# slow path could refuse has a three-digit exponent, or is written with more than
# MAX_NUMBER_CHARS characters (with at most 100 characters and two exponent digits a number lies
# between about 1e-197 and 1e199: a double holds it). The first leaves "e000" or "e-000" in the
# screened text; the second, with a sign, a point and "e-12" at most 6 characters that are not
# digits of the mantissa, leaves at least 95 digits on the two sides of the point: a run of 48.
_SCREEN = str.maketrans("123456789E+", "000000000e-")
_SCREEN_MARKS = ("e000", "e-000", "0" * ((MAX_NUMBER_CHARS + 1 - 6 + 1) // 2))


class _SlowPath(Exception):
    """Raised inside the fast JSON parse: something there needs the slow path's refusals."""


def _unique_or_slow(pairs):
    out = dict(pairs)
    if len(out) != len(pairs):       # a repeated key
        raise _SlowPath
    return out


def _constant_or_slow(text):        # NaN, Infinity, -Infinity
    raise _SlowPath


def _deeper_than(data, limit: int) -> bool:
    """Whether a list or dict of ``data`` sits deeper than ``limit`` levels (the top is level 1).

    Level by level, touching each value once; for parsed JSON (no shared containers).
    """
    level, depth = ([data] if type(data) is dict or type(data) is list else []), 1
    while level:
        if depth > limit:
            return True
        below = []
        for obj in level:
            for v in (obj.values() if type(obj) is dict else obj):
                if type(v) is dict or type(v) is list:
                    below.append(v)
        level, depth = below, depth + 1
    return False


def _parse_json_fast(text: str):
    """The parsed JSON if nothing in it can be refused, else None (then the slow path decides).

    Python's own number parsing, with a hook only on objects (a C loop each); what the slow path
    refuses is excluded beforehand by the screen (long numbers, big exponents), by the hooks
    (repeated keys, NaN and Infinity) and afterwards by the depth.
    """
    screened = text.translate(_SCREEN)
    if any(mark in screened for mark in _SCREEN_MARKS):
        return None
    try:
        d = json.loads(text, parse_constant=_constant_or_slow, object_pairs_hook=_unique_or_slow)
    except (_SlowPath, ValueError, RecursionError):   # ValueError: JSONDecodeError included
        return None
    return None if _deeper_than(d, MAX_DEPTH) else d


def _parse_json(text: str, label: str, named):
    """Parse JSON text, refusing what the module docstring lists, naming line and entry.

    Notes
    -----
    Two paths, one result. The fast one (:func:`_parse_json_fast`) is Python's parser with a
    C-speed screen, and takes a file it can vouch for (200,000 users: 0.4 s of CPU, not 1.7). Any
    other file, valid or not, goes through the slow path: hooks on every number, counting them to
    locate a refused one, then a walk of the whole tree for the first refused value; its messages
    are the reader's. Both take O(size of the text).
    """
    fast = _parse_json_fast(text)
    if fast is not None:
        return fast
    count = 0

    def number(kind):
        def hook(s: str):
            nonlocal count
            count += 1
            if kind == "constant":
                value = _Refused(f"{s} is not a valid JSON number")
            elif kind == "int":
                value = int(s) if len(s) <= MAX_NUMBER_CHARS else _Refused(_number_too_long(s))
            else:
                value = _float_or_refused(s)
            if isinstance(value, _Refused):
                value.ordinal = count
            return value
        return hook

    def unique_pairs(pairs):
        out = {}
        for k, v in pairs:
            if k in out:
                v = _Refused(f"key {short_repr(k)} appears twice in one object; only one can be "
                             "kept, so the file is refused")
            out[k] = v
        return out

    try:
        d = json.loads(text, parse_constant=number("constant"), parse_int=number("int"),
                       parse_float=number("float"), object_pairs_hook=unique_pairs)
    except json.JSONDecodeError as exc:
        raise InstanceError(f"{label}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                            f"{exc.msg}") from None
    except RecursionError:
        line, column = _json_locate(text, None)
        raise InstanceError(f"{label}: {_at(line, column)}arrays and objects nested deeper than "
                            f"{MAX_DEPTH} levels") from None
    found = _find_refused(d)
    if found is not None:
        def locate(refused):
            if refused is not None and refused.ordinal is None:
                return None, None                   # a repeated key: no line to tell
            return _json_locate(text, None if refused is None else refused.ordinal)

        raise _refusal(label, found, named, locate)
    return d


# --------------------------------------------------------------------------------------------------
# YAML

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_REFUSED = "tag:plcore,2026:refused"     # a plain scalar YAML 1.1 and 1.2 read differently

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_NULL_12 = {"", "~", "null", "Null", "NULL"}
_BOOL_12 = {"true": True, "True": True, "TRUE": True, "false": False, "False": False,
            "FALSE": False}
_DECIMAL_12 = re.compile(r"[-+]?[0-9]+")
_OTHER_INT_12 = re.compile(r"0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT_12 = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                       r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
# Decimal integers without a leading zero: the same number in YAML 1.1 and 1.2.
_SAME_IN_11 = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
# Booleans of YAML 1.1 (its spec also has y and n, which PyYAML leaves out); strings in 1.2.
_BOOL_11_ONLY = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON",
                 "off", "Off", "OFF"}


def _tag_12(value: str) -> str:
    """The tag YAML 1.2's core schema gives a plain scalar."""
    if value in _NULL_12:
        return _NULL
    if value in _BOOL_12:
        return _BOOL
    if _DECIMAL_12.fullmatch(value) or _OTHER_INT_12.fullmatch(value):
        return _INT
    if _FLOAT_12.fullmatch(value):
        return _FLOAT
    return _STR


def _reading_11(value: str):
    """``(tag, value)`` as PyYAML's YAML 1.1 rules read a plain scalar (value None if unknown)."""
    import yaml

    tag = yaml.resolver.Resolver().resolve(yaml.ScalarNode, value, (True, False))
    if tag not in (_INT, _FLOAT) or len(value) > MAX_NUMBER_CHARS:
        return tag, None
    try:
        return tag, yaml.safe_load(value)
    except Exception:
        return tag, None


def _why_refused(value: str) -> str | None:
    """Why a plain scalar is refused (YAML 1.1 reads it otherwise than 1.2, or it is not a plain
    decimal number), or None."""
    if value in _BOOL_11_ONLY:
        return (f"{value} is a boolean in YAML 1.1 but a string in YAML 1.2: write true or false, "
                f"or quote it ('{value}') for a string")
    if value == "<<":
        return "<< is a merge key in YAML 1.1 but a plain key in YAML 1.2: write the entries out"
    if not value or value[0] not in "-+.0123456789":
        return None                                  # nothing else YAML 1.1 reads differently
    if (_SAME_IN_11.fullmatch(value)
            or _FLOAT_12.fullmatch(value) and any(c in value for c in ".eE")):
        return None              # a plain decimal number: YAML 1.1 reads it alike, or as a string
    shown = value if len(value) <= MAX_NUMBER_CHARS else _one_line(value, MAX_NUMBER_CHARS)
    other_base = re.fullmatch(r"[-+]?0([xo])[0-9a-fA-F_]+", value)
    if other_base:
        base = "hexadecimal" if other_base.group(1) == "x" else "octal"
        return f"{shown} is {base}: write the number in decimal"
    tag12 = _tag_12(value)
    if tag12 != _STR and len(value) > MAX_NUMBER_CHARS:
        return _number_too_long(value)
    tag11, v11 = _reading_11(value)
    if re.fullmatch(r"[-+]?0[0-9]+", value):
        in_11 = "octal" if v11 is not None else "a string"
        if v11 is not None:
            in_11 += f" (= {short_repr(v11)})"
        return (f"{shown} has a leading zero: YAML 1.1 reads it as {in_11}, YAML 1.2 as decimal "
                f"(= {int(value)}): write it without the leading zero")
    if tag11 not in (_INT, _FLOAT):
        return None          # 1.1 reads a string (or a date): the 1.2 reading cannot be mistaken
    in_11 = "a number" if v11 is None else short_repr(v11)
    if tag12 == _STR:
        form = ("base 60" if ":" in value else "binary" if "b" in value.lower() else
                "underscores" if "_" in value else "this form")
        return (f"{shown} is {in_11} in YAML 1.1 ({form}) but a string in YAML 1.2: write the "
                "number in plain decimal, or quote it for a string")
    return None


def _loader():
    import yaml

    class StrictLoader(yaml.SafeLoader):
        """SafeLoader with YAML 1.2 scalars, refusals, a depth limit and no repeated keys."""

        depth = 0

        def resolve(self, kind, value, implicit):
            if kind is yaml.ScalarNode and implicit[0]:      # a plain scalar: 1.2 core schema
                return _REFUSED if _why_refused(value) else _tag_12(value)
            return super().resolve(kind, value, implicit)

        def _deeper(self, compose, anchor):
            self.depth += 1
            try:
                if self.depth > MAX_DEPTH:
                    mark = self.peek_event().start_mark
                    raise InstanceError(f"{_at(mark.line + 1, mark.column + 1)}arrays and "
                                        f"mappings nested deeper than {MAX_DEPTH} levels")
                return compose(anchor)
            finally:
                self.depth -= 1

        def compose_sequence_node(self, anchor):
            return self._deeper(super().compose_sequence_node, anchor)

        def compose_mapping_node(self, anchor):
            return self._deeper(super().compose_mapping_node, anchor)

        def compose_document(self):
            node = super().compose_document()
            _check_alias_depth(node)
            return node

        def refused(self, node, reason):
            mark = node.start_mark
            return _Refused(reason, mark.line + 1, mark.column + 1)

        def construct_refused(self, node):
            return self.refused(node, _why_refused(node.value) or "refused")

        def construct_yaml_int(self, node):
            value = self.construct_scalar(node)
            if len(value) > MAX_NUMBER_CHARS:
                return self.refused(node, _number_too_long(value))
            why = _why_refused(value)
            if why or not _DECIMAL_12.fullmatch(value):     # an explicit !!int on anything else
                return self.refused(node, why or f"{short_repr(value)} is not a decimal integer")
            return int(value)

        def construct_yaml_float(self, node):
            value = self.construct_scalar(node)
            why = _why_refused(value)
            if why or not _FLOAT_12.fullmatch(value):
                return self.refused(node, why or f"{short_repr(value)} is not a number")
            low = value.lower()
            if low.endswith("nan"):
                return self.refused(node, f"is NaN ({value}): plcore files hold finite numbers")
            if low.endswith("inf"):
                return self.refused(node, f"must be finite, got {value}")
            out = _float_or_refused(value)
            if isinstance(out, _Refused):
                out.line, out.column = node.start_mark.line + 1, node.start_mark.column + 1
            return out

        def construct_yaml_bool(self, node):
            value = self.construct_scalar(node)
            if value not in _BOOL_12:
                return self.refused(node, _why_refused(value) or
                                    f"{short_repr(value)} is not true or false")
            return _BOOL_12[value]

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
                    raise InstanceError(f"key {short_repr(key)} at line {line} already appears at "
                                        f"line {first}; only one can be kept, so the file is "
                                        "refused")
                seen[key] = line
            return super().construct_mapping(node, deep=deep)

    StrictLoader.add_constructor(_REFUSED, StrictLoader.construct_refused)
    StrictLoader.add_constructor(_INT, StrictLoader.construct_yaml_int)
    StrictLoader.add_constructor(_FLOAT, StrictLoader.construct_yaml_float)
    StrictLoader.add_constructor(_BOOL, StrictLoader.construct_yaml_bool)
    return StrictLoader


def _check_alias_depth(root) -> None:
    """Refuse a node graph that aliases make deeper than :data:`MAX_DEPTH`, or circular.

    The composer's own limit counts nesting as written; an alias can hang a deep subtree under
    a deep entry, or an anchor inside itself (``&a [*a]``). Iterative, each node visited once.
    """
    import yaml

    def kids(node):
        if isinstance(node, yaml.MappingNode):
            return [n for pair in node.value for n in pair]
        return node.value if isinstance(node, yaml.SequenceNode) else []

    height: dict[int, int] = {}
    active = {id(root)}
    stack = [(root, iter(kids(root)))]
    while stack:
        node, todo = stack[-1]
        for kid in todo:
            if id(kid) in height:
                continue
            if id(kid) in active:
                mark = kid.start_mark
                raise InstanceError(f"{_at(mark.line + 1, mark.column + 1)}an alias makes this "
                                    "entry contain itself")
            active.add(id(kid))
            stack.append((kid, iter(kids(kid))))
            break
        else:
            stack.pop()
            active.discard(id(node))
            below = [height[id(k)] for k in kids(node)]
            height[id(node)] = (1 + max(below, default=0)) if not isinstance(
                node, yaml.ScalarNode) else 0
    if height[id(root)] > MAX_DEPTH:
        node, depth = root, 1
        while depth <= MAX_DEPTH:          # follow the deepest branch to the level too deep
            node = max(kids(node), key=lambda k: height[id(k)])
            depth += 1
        mark = node.start_mark
        raise InstanceError(f"{_at(mark.line + 1, mark.column + 1)}arrays and mappings nested "
                            f"deeper than {MAX_DEPTH} levels (through aliases)")


def _parse_yaml(text: str, label: str, named):
    import yaml

    try:
        d = yaml.load(text, Loader=_loader())     # a SafeLoader: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = _one_line(exc.problem or exc.context or "")
        raise InstanceError(f"{label}: invalid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise InstanceError(f"{label}: invalid YAML: {_one_line(str(exc))}") from None
    except InstanceError as exc:
        raise InstanceError(f"{label}: {exc}") from None
    found = _find_refused(d)
    if found is not None:
        raise _refusal(label, found, named)
    return d


def _dumper():
    import yaml

    class StrictDumper(yaml.SafeDumper):
        """Quotes every string that YAML 1.1 or 1.2 would not read back as that string."""

        def resolve(self, kind, value, implicit):
            tag = super().resolve(kind, value, implicit)
            if (kind is yaml.ScalarNode and implicit[0] and tag == _STR
                    and (_tag_12(value) != _STR or _why_refused(value))):
                return _REFUSED          # not the string tag: the emitter quotes the string
            return tag

    return StrictDumper
