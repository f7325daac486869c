"""Device profiles (``data/profiles/*.json``): the schema, checked on every read.

A profile records what a device does with the model zoo's blocks: per-block load times per loading
path, inference latency per batch size, and provenance. ``synthetic`` profiles (computed sizes,
assumed times) carry less; measured ones must also carry the validation of the model against a
real run, and may carry the measured overlap of loading and inference (``pipelining``: the
makespans of a schedule served sequentially and pipelined, the share of loading hidden, each
block's forward time, and how well :func:`plcore.model.timeline.pipelined_finish` predicts the
pipelined makespan). :func:`validate_profile` checks the whole profile against
:data:`SCHEMA_SPEC` (every field :mod:`plcore.gpu.loadtime` writes, with its type and range) and
names the first bad entry,
e.g. ``profile paths.disk.bandwidth_Bps: expected a positive number ..., got '5e9' (a string)``;
on a profile that passed it, :func:`report` and :func:`targets` cannot fail. :func:`read_profile`
reads a file as strictly as instance files are read (:mod:`plcore.model.files`).
"""

from __future__ import annotations

import math
import platform
import re

from ..errors import short_repr
from ..model.files import entry_name
from ..model.instance import RANGES

SCHEMA = "plcore.profile/1"

#: Targets of a measured GPU profile: the packed loader's share of the pinned copy peak, and the
#: makespan error of the real executor against the model's prediction.
LOADER_PEAK_TARGET = 0.9
MAKESPAN_ERR_TARGET = 0.05


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), for provenance of measured times."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# --------------------------------------------------------------------------------------------------
# A small schema language: each node checks one value and names its entry when it fails. Keys
# absent from a Fields node are allowed (a profile may carry more provenance than is read), but
# every field that plcore reads, or loadtime writes, is typed here.


class ProfileError(ValueError):
    """A profile breaks the schema; the message names the entry (``paths.disk.bandwidth_Bps``)."""


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _where(keys) -> str:
    """``profile paths.disk.bandwidth_Bps``: how messages name an entry (``profile`` alone for the
    top level)."""
    return "profile " + entry_name(keys, named=()) if keys else "profile"


def _fail(keys, expected: str, value) -> None:
    raise ProfileError(f"{_where(keys)}: expected {expected}, got {short_repr(value)} "
                       f"({_kind(value)})")


class Number:
    """A finite number (not a boolean) in ``[lo, hi]``, ``> 0`` if ``positive``, or 0 if
    ``zero``; an ``int`` if ``integer``."""

    def __init__(self, lo=None, hi=None, *, positive=False, zero=False, integer=False, what=None):
        self.lo, self.hi, self.positive, self.zero, self.integer = lo, hi, positive, zero, integer
        text = "an integer" if integer else "a positive number" if positive else "a number"
        if lo is not None and hi is not None:
            text += f" in [{lo:g}, {hi:g}]" + (" or 0" if zero else "")
        elif lo is not None:
            text += f" >= {lo:g}"
        self.expected = what or text

    def check(self, value, keys) -> None:
        ok_type = isinstance(value, int) if self.integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type or not math.isfinite(value):
            _fail(keys, self.expected, value)
        if self.zero and value == 0:
            return
        if (self.positive and not value > 0 or self.lo is not None and value < self.lo
                or self.hi is not None and value > self.hi):
            _fail(keys, self.expected, value)


class Text:
    """A string (non-empty if asked), or one of ``choices``."""

    def __init__(self, nonempty=False, choices=None):
        self.nonempty, self.choices = nonempty, choices
        self.expected = (f"{choices[0]!r}" if choices and len(choices) == 1 else
                         f"one of {', '.join(map(repr, choices))}" if choices else
                         "a non-empty string" if nonempty else "a string")

    def check(self, value, keys) -> None:
        if (not isinstance(value, str) or self.nonempty and not value
                or self.choices is not None and value not in self.choices):
            _fail(keys, self.expected, value)


class Boolean:
    expected = "true or false"

    def check(self, value, keys) -> None:
        if not isinstance(value, bool):
            _fail(keys, self.expected, value)


class Nullable:
    """null, or what ``inner`` accepts."""

    def __init__(self, inner):
        self.inner = inner
        self.expected = f"null or {inner.expected}"

    def check(self, value, keys) -> None:
        if value is not None:
            self.inner.check(value, keys)


class List:
    """A list of ``item``, of at least ``min_len`` (exactly ``length``) entries."""

    def __init__(self, item, min_len=0, length=None):
        self.item, self.min_len, self.length = item, min_len, length
        size = (f" of {length}" if length is not None else " of at least one" if min_len == 1
                else f" of at least {min_len}" if min_len else "")
        self.expected = f"a list{size} ({item.expected})"

    def check(self, value, keys) -> None:
        if (not isinstance(value, list) or len(value) < self.min_len
                or self.length is not None and len(value) != self.length):
            _fail(keys, self.expected, value)
        for i, v in enumerate(value):
            self.item.check(v, keys + (i,))


class MapOf:
    """A mapping whose keys match ``key_pattern`` and whose values are all ``value``."""

    def __init__(self, value, min_len=0, key_pattern=None, key_text="a name"):
        self.value, self.min_len = value, min_len
        self.key_pattern = re.compile(key_pattern) if key_pattern else None
        self.key_text = key_text
        self.expected = f"a mapping{' (not empty)' if min_len else ''} of {value.expected}"

    def check(self, value, keys) -> None:
        if not isinstance(value, dict) or len(value) < self.min_len:
            _fail(keys, self.expected, value)
        for k, v in value.items():
            if not isinstance(k, str) or self.key_pattern and not self.key_pattern.fullmatch(k):
                raise ProfileError(f"{_where(keys)}: key {short_repr(k)} is not {self.key_text}")
            self.value.check(v, keys + (k,))


class Fields:
    """A mapping with named fields: ``required`` ones and ``optional`` ones (other keys pass)."""

    def __init__(self, required=None, optional=None, what="a mapping"):
        self.required, self.optional = dict(required or {}), dict(optional or {})
        self.expected = what

    def check(self, value, keys) -> None:
        if not isinstance(value, dict):
            _fail(keys, self.expected, value)
        for name, spec in self.required.items():
            if name not in value:
                raise ProfileError(f"{_where(keys)}: missing {name!r}")
            spec.check(value[name], keys + (name,))
        for name, spec in self.optional.items():
            if name in value:
                spec.check(value[name], keys + (name,))


class Both:
    """What ``first`` and ``second`` both accept (checked in that order)."""

    def __init__(self, first, second):
        self.first, self.second = first, second
        self.expected = first.expected

    def check(self, value, keys) -> None:
        self.first.check(value, keys)
        self.second.check(value, keys)


# --------------------------------------------------------------------------------------------------
# The profile schema (plcore.profile/1), as plcore.gpu.loadtime writes it.

_T_LO, _T_HI, _ = RANGES["time"]
_B_LO, _B_HI, _ = RANGES["bytes"]
_BW_LO, _BW_HI, _ = RANGES["bandwidth_Bps"]

_time = Number(_T_LO, _T_HI, positive=True, what=f"a positive time in [{_T_LO:g}, {_T_HI:g}] s")
_time0 = Number(_T_LO, _T_HI, zero=True, what=f"a time of 0 or in [{_T_LO:g}, {_T_HI:g}] s")
_bandwidth = Number(_BW_LO, _BW_HI, positive=True,
                    what=f"a positive number in [{_BW_LO:g}, {_BW_HI:g}] B/s")
_nonneg = Number(0.0, what="a number >= 0")
_count = Number(1, integer=True, what="an integer >= 1")
_spread = List(_nonneg, length=2)                      # [p10, p90] (s)
_summary = Fields({"median": _time0}, {"p10": _time0, "p90": _time0, "n": _count},
                  what="a mapping with median, p10, p90, n (s)")


def _per_path(value):
    return MapOf(value, key_text="a loading path's name")


_BLOCK = Fields(
    {"name": Text(nonempty=True),
     "bytes": Number(_B_LO, _B_HI, positive=True,
                     what=f"a positive number of bytes in [{_B_LO:g}, {_B_HI:g}]")},
    {"load_s": _per_path(_time), "load_spread_s": _per_path(_spread)},
    what="a mapping with name, bytes and (measured) load_s")

_ARCHITECTURE = Fields(
    {"blocks": List(_BLOCK, min_len=1),
     # Batch size -> seconds; batch 1 is what instances and reports use.
     "infer_s": Both(Fields({"1": _time}, what="a mapping of batch size to seconds, with '1'"),
                     MapOf(_time, key_pattern=r"[1-9][0-9]*",
                           key_text="a batch size such as '1'"))},
    {"infer_spread_s": MapOf(_spread),
     "load_total_s": _per_path(_time0),
     "model_load_s": Nullable(_per_path(_time)),
     "model_load_spread_s": _per_path(_spread),
     "loader_issue_s": Nullable(_summary),
     "loading_share": _per_path(Number(0.0, 1.0, what="a share in [0, 1]"))},
    what="a mapping with blocks and infer_s")

_VALIDATION = Fields(
    {"makespan_rel_err": _nonneg,
     "start_err_s": Fields({"median_abs": _nonneg, "max_abs": _nonneg},
                           what="a mapping with median_abs and max_abs (s)"),
     "users": _count},
    {"makespan_measured_s": _time, "makespan_predicted_s": _time, "loaded_bytes": _nonneg,
     "predicted_start_s": List(Number()), "measured_start_s": List(Number()),
     "predicted_load_s": List(_nonneg), "measured_load_s": List(_nonneg),
     "measured_infer_s": List(_nonneg), "arch": Text(nonempty=True), "path": Text(nonempty=True),
     "schedule": List(Number(0, integer=True, what="an integer >= 0")),
     "models": List(Text(nonempty=True)), "infer_s_at_run": _time,
     "runs_infer_s": List(_time), "runs_makespan_rel_err": List(_nonneg)},
    what="a mapping with makespan_rel_err, start_err_s and users")

_PIPELINED_ARCH = Fields(
    {"users": _count,
     "makespan_s": Fields({"sequential": _summary, "pipelined": _summary}, {"executor": _summary},
                          what="a mapping with sequential and pipelined summaries (s)"),
     "load_s": _time0,
     # sequential - pipelined makespan: negative where pipelining lost time (noise, a CPU)
     "overlap_s": Number(),
     "hidden_load_share": Number()},
    {"infer_s": _time0, "speedup": Number(positive=True),
     "schedule": List(Number(0, integer=True, what="an integer >= 0")),
     "models": List(Text(nonempty=True)), "loaded_bytes": _nonneg,
     "predicted_pipelined_s": MapOf(_time0, key_text="a prediction's name"),
     "prediction_rel_err": MapOf(_nonneg, key_text="a prediction's name"),
     "blocks": List(Fields({"name": Text(nonempty=True), "compute_s": _time0},
                           {"compute_share": Number(0.0, 1.0, what="a share in [0, 1]")},
                           what="a mapping with name and compute_s")),
     "outputs_equal": Boolean(), "outputs_max_rel_diff": _nonneg},
    what="a mapping with users, makespan_s, load_s, overlap_s and hidden_load_share")

#: ``pipelining``: a schedule served by the sequential and the pipelined executors (written by
#: :func:`plcore.gpu.loadtime.measure_pipelining`, with its own provenance: it may be measured
#: later than the rest of the profile).
_PIPELINING = Fields(
    {"path": Text(nonempty=True),
     "architectures": MapOf(_PIPELINED_ARCH, min_len=1, key_text="an architecture's name")},
    {"device": Text(nonempty=True), "driver": Nullable(Text()), "torch": Text(),
     "cuda": Nullable(Text()), "date": Text(), "repeats": _count,
     "warmup": Number(0, integer=True), "scale": Number(positive=True), "timer": Text(),
     "method": Text(), "failed": MapOf(Text(), key_text="an architecture's name")},
    what="a mapping with path and architectures")

#: The schema of every profile; :data:`MEASURED_SPEC` adds what a measured one must carry.
SCHEMA_SPEC = Fields(
    {"schema": Text(choices=[SCHEMA]),
     "device": Text(nonempty=True),
     "date": Text(nonempty=True),
     "synthetic": Boolean(),
     "paths": MapOf(Fields({"bandwidth_Bps": _bandwidth, "overhead_s": _time0},
                           {"note": Text()},
                           what="a mapping with bandwidth_Bps and overhead_s"),
                    min_len=1, key_text="a loading path's name"),
     "architectures": MapOf(_ARCHITECTURE, min_len=1, key_text="an architecture's name")},
    {"source": Text(), "python": Text(), "os": Text(), "cpu": Text(), "cpu_count": _count,
     "torch": Text(), "cuda": Nullable(Text()), "driver": Nullable(Text()),
     "method": Fields({}, {"repeats": _count, "warmup": Number(0, integer=True),
                           "scale": Number(positive=True), "timer": Text(), "disk": Text(),
                           "disk_fs": Nullable(Text()), "blocks": Text()}),
     "h2d_pinned_peak_Bps": Nullable(_bandwidth),
     "h2d_pinned_per_size_Bps": MapOf(_bandwidth, min_len=1, key_pattern=r"[1-9][0-9]*",
                                      key_text="a size in MB such as '16'"),
     "loader_path": Text(nonempty=True), "loader_Bps": _bandwidth,
     "validation": _VALIDATION, "pipelining": _PIPELINING},
    what="a mapping (a profile)")

MEASURED_SPEC = Fields({"torch": Text(), "driver": Nullable(Text()),
                        "h2d_pinned_peak_Bps": Nullable(_bandwidth), "method": Fields(),
                        "loader_Bps": _bandwidth, "validation": _VALIDATION})


def validate_profile(p: dict) -> None:
    """Check a profile against the whole schema; raise naming the first bad entry.

    Parameters
    ----------
    p : dict
        A parsed profile.

    Raises
    ------
    ProfileError
        A ``ValueError`` whose message names the entry (``profile architectures.resnet50.blocks[2]
        .bytes: expected ..., got ...``): a missing field, a wrong type (a section that is a
        list, a string or null, a number written as a string), a number out of range, a
        measured profile without a block's load time on one of its paths, or a ``loader_path``
        that is not one of its paths.
    """
    SCHEMA_SPEC.check(p, ())
    if not p["synthetic"]:
        MEASURED_SPEC.check(p, ())
        for arch, a in p["architectures"].items():
            for i, b in enumerate(a["blocks"]):
                keys = ("architectures", arch, "blocks", i)
                if "load_s" not in b:
                    raise ProfileError(f"{_where(keys)}: missing 'load_s' (a measured profile "
                                       "has every block's load time)")
                for path in p["paths"]:
                    if path not in b["load_s"]:
                        raise ProfileError(f"{_where(keys + ('load_s',))}: missing {path!r} (a "
                                           "load time for each of its paths)")
    if "loader_path" in p and p["loader_path"] not in p["paths"]:
        raise ProfileError(f"profile loader_path: {short_repr(p['loader_path'])} is not one of "
                           f"its paths ({', '.join(p['paths'])})")


def read_profile(path) -> dict:
    """Read and validate a profile file (JSON), as strictly as instance files are read.

    Raises
    ------
    ValueError
        :class:`~plcore.errors.InstanceError` for the file (not a regular file, invalid JSON,
        NaN, a number too long or nested too deep...), :class:`ProfileError` for the schema; both
        name the file.
    """
    from ..model.files import read_mapping, show_path

    prof = read_mapping(path, what="profile", named=())
    try:
        validate_profile(prof)
    except ProfileError as exc:
        raise ProfileError(f"{show_path(path)}: {exc}") from None
    return prof


def read_profiles(folder=None) -> dict[str, dict]:
    """Every profile of ``folder`` (default ``data/profiles/``), read with :func:`read_profile`,
    by file stem and in name order: what the book's loading notebooks start from."""
    from ..paths import PROFILES

    return {path.stem: read_profile(path)
            for path in sorted((PROFILES if folder is None else folder).glob("*.json"))}


def block_load_s(profile: dict, arch: str, path: str) -> list[float]:
    """Load time of each block of ``arch`` along ``path``: measured if present, else the path's
    ``overhead_s + bytes / bandwidth_Bps``."""
    p = profile["paths"][path]
    out = []
    for b in profile["architectures"][arch]["blocks"]:
        measured = b.get("load_s")
        if isinstance(measured, dict) and path in measured:
            out.append(float(measured[path]))
        else:
            out.append(p["overhead_s"] + b["bytes"] / p["bandwidth_Bps"])
    return out


def loading_share(profile: dict):
    """Share of loading in load + batch-1 inference, per architecture and loading path.

    Returns a ``pandas.DataFrame`` with columns device, synthetic, arch, path, load_s, infer_s,
    share. This is the quantity of the paper's Fig. 1 ("88.94 % of latency is loading").
    """
    import pandas as pd

    rows = []
    for arch, a in profile["architectures"].items():
        infer = float(a["infer_s"]["1"])
        for path in profile["paths"]:
            load = sum(block_load_s(profile, arch, path))
            rows.append({"device": profile["device"], "synthetic": bool(profile["synthetic"]),
                         "arch": arch, "path": path, "load_s": load, "infer_s": infer,
                         "share": load / (load + infer)})
    return pd.DataFrame(rows)


def targets(profile: dict) -> dict:
    """The targets a measured profile is held to: ``{name: (value, target, met)}``.

    ``loader_peak_ratio`` (``loader_Bps / h2d_pinned_peak_Bps``, at least
    :data:`LOADER_PEAK_TARGET`) exists only where a pinned peak was measured (a GPU);
    ``makespan_rel_err`` (at most :data:`MAKESPAN_ERR_TARGET`) wherever a validation ran.
    """
    out = {}
    peak, got = profile.get("h2d_pinned_peak_Bps"), profile.get("loader_Bps")
    if peak and got:
        ratio = got / peak
        out["loader_peak_ratio"] = (ratio, LOADER_PEAK_TARGET, ratio >= LOADER_PEAK_TARGET)
    v = profile.get("validation")
    if v:
        err = v["makespan_rel_err"]
        out["makespan_rel_err"] = (err, MAKESPAN_ERR_TARGET, err <= MAKESPAN_ERR_TARGET)
    return out


def provenance(profile: dict) -> str:
    """What produced a profile's times, in words: its device, driver, CUDA, torch and date.

    What every figure drawn from a profile names (the book glues it, never types it). Fields the
    profile lacks are left out; a CPU profile says it has no GPU driver, a synthetic one that its
    times are assumed.

    Parameters
    ----------
    profile : dict
        A profile that passed :func:`validate_profile`.

    Returns
    -------
    str

    Examples
    --------
    >>> provenance({"device": "NVIDIA H200", "driver": "580.159.04", "cuda": "13.0",
    ...             "torch": "2.11.0+cu130", "date": "2026-12-04", "synthetic": False})
    'NVIDIA H200 (driver 580.159.04, CUDA 13.0, torch 2.11.0+cu130, measured 2026-12-04)'
    >>> provenance({"device": "cpu: AMD EPYC", "driver": None, "cuda": None,
    ...             "torch": "2.13.0+cpu", "date": "2026-11-27", "synthetic": False})
    'cpu: AMD EPYC (no GPU driver, torch 2.13.0+cpu, measured 2026-11-27)'
    >>> provenance({"device": "synthetic", "date": "2026-11-20", "synthetic": True})
    'synthetic (computed sizes, assumed times, 2026-11-20)'
    """
    p = profile
    if p["synthetic"]:
        about = ["computed sizes, assumed times", p["date"]]
    else:
        gpu = p.get("driver") or p.get("cuda") or p.get("h2d_pinned_peak_Bps")
        about = ([f"driver {p['driver']}"] if p.get("driver") else
                 [] if gpu else ["no GPU driver"])
        about += [f"CUDA {p['cuda']}"] if p.get("cuda") else []
        about += [f"torch {p['torch']}"] if p.get("torch") else []
        about.append(f"measured {p['date']}")
    return f"{p['device']} ({', '.join(about)})"


def report(profile: dict) -> str:
    """A short plain-text account of a profile: provenance, loader, validation, per network."""
    validate_profile(profile)
    p = profile
    lines = [provenance(p)]
    if p.get("h2d_pinned_peak_Bps"):
        lines.append(f"pinned host-to-device peak {p['h2d_pinned_peak_Bps'] / 1e9:.1f} GB/s")
    if p.get("loader_Bps"):
        lines.append(f"packed loader ({p.get('loader_path')}) {p['loader_Bps'] / 1e9:.1f} GB/s")
    v = p.get("validation")
    if v:
        runs = ", ".join(f"{100 * e:.1f}" for e in v.get("runs_makespan_rel_err", []))
        arch = f"{v['arch']}, " if v.get("arch") else ""
        lines.append(f"validation ({arch}{v['users']} users): makespan error "
                     f"{100 * v['makespan_rel_err']:.2f} %" + (f" (runs: {runs} %)" if runs else ""))
    for arch, a in p["architectures"].items():
        loads = a.get("model_load_s") or {path: sum(block_load_s(p, arch, path))
                                          for path in p["paths"]}
        kind = "whole-model load" if a.get("model_load_s") else "sum of block loads"
        parts = ", ".join(f"{path} {1e3 * t:.2f} ms" for path, t in loads.items())
        lines.append(f"{arch}: {kind}: {parts}; batch-1 inference {1e3 * a['infer_s']['1']:.2f} ms")
        if a.get("loader_issue_s"):
            lines.append(f"{arch}: CPU time to issue the packed_pinned load "
                         f"{1e3 * a['loader_issue_s']['median']:.2f} ms")
    pipe = p.get("pipelining")
    for arch, a in (pipe or {}).get("architectures", {}).items():
        mk = a["makespan_s"]
        lines.append(f"pipelining {arch} ({pipe['path']}, {a['users']} users): sequential "
                     f"{1e3 * mk['sequential']['median']:.2f} ms, pipelined "
                     f"{1e3 * mk['pipelined']['median']:.2f} ms: overlap "
                     f"{1e3 * a['overlap_s']:.2f} ms, {100 * a['hidden_load_share']:.0f} % of "
                     f"{1e3 * a['load_s']:.2f} ms of loading hidden")
    for arch, why in (pipe or {}).get("failed", {}).items():
        lines.append(f"pipelining {arch}: failed ({why})")
    if p.get("h2d_pinned_per_size_Bps"):
        lines.append("pinned copy rate by size: " + ", ".join(
            f"{mb} MB {r / 1e9:.1f} GB/s" for mb, r in p["h2d_pinned_per_size_Bps"].items()))
    for name, (value, target, met) in targets(p).items():
        cmp = ">=" if name == "loader_peak_ratio" else "<="
        lines.append(f"target {name}: {value:.3f} ({cmp} {target}) {'met' if met else 'NOT MET'}")
    return "\n".join(lines)
