"""Problem instances: blocks, models, users, uplink and loader (MODEL.md sections 1 and 4).

An :class:`Instance` is a validated record, to be treated as read-only: its integer-indexed view
(``Instance.arrays``) is computed once and cached, so changing a block or a model in place would
leave evaluations on the old values (build a new instance with :meth:`Instance.replace`). It is built from a plain dict (the JSON
layout of MODEL.md section 4) by :meth:`Instance.from_dict`, and written back by
:meth:`Instance.to_dict`; ``Instance.from_dict(inst.to_dict()) == inst``.

Validation is strict: a missing, negative, NaN, infinite or non-numeric number, a number outside its
valid range, an unknown model or block, an empty model, a deadline that is not positive, an unknown
key... each raises :class:`~plcore.errors.InstanceError` naming the entry. Nothing is guessed or
silently fixed; the only defaults are those MODEL.md states (``rate="shannon"``, ``resident=[]``).
The valid ranges, physically generous, are listed at :meth:`Instance.from_dict` (and in
:data:`RANGES`): within them no computation on a valid instance overflows, underflows or ends in
NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain, repeat
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InstanceError, short_repr

RATES = ("shannon", "linear")

# Timing tolerance of every feasibility test (s), at least: see InstanceArrays.time_tol_s.
TIME_TOL_FLOOR_S = 1e-12

#: Valid range ``(low, high, unit)`` of each kind of number (the table at Instance.from_dict). Where
#: 0 is allowed too, the field says so.
RANGES = {
    "time": (TIME_TOL_FLOOR_S, 1e6, "s"),
    "bytes": (1.0, 1e15, "bytes"),
    "bits": (1.0, 1e15, "bits"),
    "bandwidth_Bps": (1.0, 1e15, "B/s"),
    "bandwidth_hz": (1.0, 1e15, "Hz"),
    "a_hz": (1.0, 1e30, "Hz"),
    "spectral_eff": (1e-6, 1e3, "bit/s/Hz"),
}


# --------------------------------------------------------------------------------------------------
# Small validators: each names the entry it checks.


def _number(obj: Mapping, key: str, where: str, *, kind: str | None = None,
            zero: bool = False, required: bool = True) -> float | None:
    """Read ``obj[key]`` as a finite real number in the range ``RANGES[kind]`` (or 0 if ``zero``);
    without ``kind``, any finite number > 0."""
    name = f"{where}.{key}" if where else key
    if key not in obj or obj[key] is None:
        if required:
            raise InstanceError(f"{name}: missing (a number is required)")
        return None
    value = obj[key]
    # bool is an int subclass in Python; a true/false in a numeric field is a mistake, not a 1/0.
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InstanceError(f"{name}: must be a number, got {short_repr(value)}")
    try:
        value = float(value)
    except OverflowError:   # an integer too large for a float (JSON allows any number of digits)
        raise InstanceError(f"{name}: too large, got {short_repr(value)}") from None
    if math.isnan(value):
        raise InstanceError(f"{name}: is NaN")
    if math.isinf(value):
        raise InstanceError(f"{name}: must be finite, got {value}")
    if kind is None:
        if not value > 0:
            raise InstanceError(f"{name}: must be > 0, got {value!r}")
        return value
    lo, hi, unit = RANGES[kind]
    valid = f"valid: {'0, or ' if zero else ''}{lo:g} to {hi:g} {unit}"
    if zero and value < 0:
        raise InstanceError(f"{name}: must be >= 0, got {value!r} ({valid})")
    if not zero and value <= 0:
        raise InstanceError(f"{name}: must be > 0, got {value!r} ({valid})")
    if not (lo <= value <= hi or zero and value == 0):
        raise InstanceError(f"{name}: {value!r} {unit} is out of range ({valid})")
    return value


def _mapping(value: Any, name: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise InstanceError(f"{name}: must be an object (mapping), got {type(value).__name__} "
                            f"{short_repr(value)}")
    return value


def _section(d: Mapping, key: str, item: str) -> Mapping:
    """A required, non-empty mapping at the top level (``blocks``, ``models``)."""
    if d.get(key) is None:
        raise InstanceError(f"{key}: missing")
    section = _mapping(d[key], key)
    if not section:
        raise InstanceError(f"{key}: empty (an instance needs at least one {item})")
    return section


def _no_unknown_keys(obj: Mapping, allowed: set[str], where: str) -> None:
    # Keys from YAML may be of any type: sort by their repr, and quote at most five of them.
    unknown = sorted((k for k in obj if k not in allowed), key=repr)
    if unknown:
        shown = ", ".join(short_repr(k, 40) for k in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise InstanceError(f"{where}: unknown key(s) {shown}{more}; "
                            f"allowed: {', '.join(sorted(allowed))}")


def _name(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise InstanceError(f"{name}: must be a non-empty string, got {short_repr(value)}")
    return value


# --------------------------------------------------------------------------------------------------
# Users: read one by one, or screened column by column.

_USER_KEYS = frozenset({"model", "data_bits", "deadline_s", "power_w", "channel_gain",
                        "spectral_eff"})
#: A user's numbers as :func:`_number` reads them, ``key: (kind, zero)``, in the order checked.
_USER_NUMBERS = {"data_bits": ("bits", True), "deadline_s": ("time", False),
                 "power_w": (None, False), "channel_gain": (None, False),
                 "spectral_eff": ("spectral_eff", False)}
# A field the rate model does not use is refused: it would be silently ignored otherwise (most
# likely the rate was meant to be the other one). Every other number of a user is required.
_UNUSED = {"shannon": ("spectral_eff",), "linear": ("power_w", "channel_gain")}


def _user(k: int, u: Any, models: Mapping, rate: str) -> "User":
    """Validate ``users[k]`` on its own and build it; the reference every message comes from."""
    where = f"users[{k}]"
    u = _mapping(u, where)
    _no_unknown_keys(u, _USER_KEYS, where)
    model = u.get("model")
    if not isinstance(model, str) or model not in models:
        raise InstanceError(f"{where}.model: unknown model {short_repr(model)}")
    unused = _UNUSED[rate]
    for key in unused:
        if u.get(key) is not None:
            raise InstanceError(f"{where}.{key}: not used with rate {rate!r} (remove it, or set "
                                f"rate: {'shannon' if rate == 'linear' else 'linear'})")
    return User(model, *(_number(u, key, where, kind=kind, zero=zero, required=key not in unused)
                         for key, (kind, zero) in _USER_NUMBERS.items()))


def _first(test, items) -> int:
    """Index of the first item that passes ``test``; ``len(items)`` if none does."""
    return next((k for k, x in enumerate(items) if test(x)), len(items))


def _in_range(values: np.ndarray, kind: str | None, zero: bool) -> np.ndarray:
    """Which of ``values`` :func:`_number` accepts (those already known to be real numbers)."""
    with np.errstate(invalid="ignore"):
        if kind is None:
            return np.isfinite(values) & (values > 0)
        lo, hi, _ = RANGES[kind]
        ok = (values >= lo) & (values <= hi)
        return ok | (values == 0) if zero else ok


def _not_a_float(value) -> bool:
    try:
        float(value)
    except OverflowError:
        return True
    return False


def _screen_users(raw: Sequence, models: Mapping, rate: str) -> tuple[int, dict]:
    """How many leading users a few checks over whole columns vouch for, and those columns.

    Returns
    -------
    n_ok : int
        ``raw[:n_ok]`` are users :func:`_user` accepts. The user at ``n_ok`` may or may not be
        valid: the screen is stricter than :func:`_user` (only plain dicts, ``int`` and ``float``
        numbers, a model that is a plain ``str``).
    columns : dict
        ``"model"``: a list, and each number the rate uses: a float array, with at least
        ``n_ok`` entries.
    """
    n_ok = len(raw) if set(map(type, raw)) <= {dict} else _first(lambda u: type(u) is not dict,
                                                                  raw)
    keys = set(chain.from_iterable(raw[:n_ok]))
    if not keys <= _USER_KEYS:
        n_ok = _first(lambda u: not u.keys() <= _USER_KEYS, raw[:n_ok])

    def column(key):
        return list(map(dict.get, raw[:n_ok], repeat(key)))

    columns = {"model": column("model")}
    try:
        names = set(columns["model"])
    except TypeError:                                   # an unhashable value
        names = None
    if names is None or not all(type(m) is str and m in models for m in names):
        n_ok = _first(lambda m: not (type(m) is str and m in models), columns["model"])
    for key in _UNUSED[rate]:
        if key in keys:
            n_ok = _first(lambda v: v is not None, column(key))
    for key, (kind, zero) in _USER_NUMBERS.items():
        if key in _UNUSED[rate]:
            continue
        values = column(key)
        if not set(map(type, values)) <= {float, int}:   # bool, None, str, numpy scalars...
            n_ok = _first(lambda v: type(v) is not float and type(v) is not int, values)
            del values[n_ok:]
        try:
            array = np.array(values, dtype=float)
        except OverflowError:                          # an integer beyond the largest double
            n_ok = _first(_not_a_float, values)
            array = np.array(values[:n_ok], dtype=float)
        ok = _in_range(array, kind, zero)
        if not ok.all():
            n_ok = int(np.argmin(ok))
        columns[key] = array
    return n_ok, columns


def _read_users(raw_users: Sequence, models: Mapping, rate: str,
                noise: float | None) -> tuple[list, np.ndarray | None]:
    """Validate and build the users, with their ``a_hz`` where it comes for free.

    Returns
    -------
    users : list of User
    a_hz : numpy.ndarray or None
        ``power_w * channel_gain / noise``, shape ``(n_users,)`` (Shannon rate), when every user
        was read from the columns; else None.

    Raises
    ------
    InstanceError
        The message of :func:`_user` for the first user that it refuses.

    Notes
    -----
    :func:`_screen_users` checks whole columns (a few C loops per field) and vouches for a prefix
    of the users; :func:`_user` reads the rest one by one, so that the first bad user is found by
    the same code, with the same message, as if all were read one by one. O(n_users) either way;
    on 200,000 valid users the screen takes about a tenth of the time.
    """
    raw = raw_users if isinstance(raw_users, (list, tuple)) else list(raw_users)
    n_ok, columns = _screen_users(raw, models, rate)
    numbers = [columns[key][:n_ok].tolist() if key in columns else repeat(None)
               for key in _USER_NUMBERS]
    users = list(map(User, columns["model"][:n_ok], *numbers))
    users += [_user(k, raw[k], models, rate) for k in range(n_ok, len(raw))]
    a_hz = None
    if rate == "shannon" and n_ok == len(raw):
        with np.errstate(over="ignore", under="ignore"):   # range-checked by the caller
            a_hz = columns["power_w"][:n_ok] * columns["channel_gain"][:n_ok] / noise
    return users, a_hz


# --------------------------------------------------------------------------------------------------
# The records.


@dataclass(frozen=True)
class Block:
    """A parameter block: ``bytes`` (B) and, optionally, a measured ``load_s`` (s)."""

    bytes: float
    load_s: float | None = None


@dataclass(frozen=True)
class Model:
    """A model: its blocks, bottom layer first, and its inference time per request ``infer_s`` (s)."""

    blocks: tuple[str, ...]
    infer_s: float


@dataclass(frozen=True)
class User:
    """A user: requested model, input size (bit), end-to-end deadline from t = 0 (s) and radio."""

    model: str
    data_bits: float
    deadline_s: float
    power_w: float | None = None
    channel_gain: float | None = None
    spectral_eff: float | None = None


@dataclass(frozen=True)
class Loader:
    """Loader profile: ``load_s = overhead_s + bytes / bandwidth_Bps`` for blocks without ``load_s``."""

    bandwidth_Bps: float
    overhead_s: float


@dataclass(frozen=True, eq=False)
class Instance:
    """A validated PartialLoading instance (MODEL.md section 4).

    Attributes
    ----------
    blocks : dict[str, Block]
    models : dict[str, Model]
    users : tuple[User, ...]
        Users are referred to by their index in this tuple.
    bandwidth_hz : float
        Total uplink bandwidth ``B`` (Hz).
    noise_psd_w_hz : float or None
        Noise power spectral density ``N0`` (W/Hz); required for the Shannon rate.
    rate : {"shannon", "linear"}
    resident : tuple[str, ...]
        Blocks on the GPU at t = 0.
    loader : Loader or None
        Used for blocks that carry no ``load_s``.
    meta : dict
        Free-form provenance (source, seed...), carried through unchanged.

    Examples
    --------
    >>> import plcore
    >>> inst = plcore.Instance.from_dict({
    ...     "blocks": {"base": {"bytes": 4e7, "load_s": 0.004}, "head": {"bytes": 1e6, "load_s": 1e-4}},
    ...     "models": {"m": {"blocks": ["base", "head"], "infer_s": 0.002}},
    ...     "users": [{"model": "m", "data_bits": 1e6, "deadline_s": 0.05,
    ...                "power_w": 0.2, "channel_gain": 1e-10}],
    ...     "noise_psd_w_hz": 4e-21, "bandwidth_hz": 2e7})
    >>> inst.n_users, inst.model_load_s("m")
    (1, 0.0041)
    """

    blocks: dict[str, Block]
    models: dict[str, Model]
    users: tuple[User, ...]
    bandwidth_hz: float
    noise_psd_w_hz: float | None = None
    rate: str = "shannon"
    resident: tuple[str, ...] = ()
    loader: Loader | None = None
    meta: dict = field(default_factory=dict)

    # ---------------------------------------------------------------- construction and I/O
    @classmethod
    def from_dict(cls, d: Mapping) -> "Instance":
        """Validate a dict in the layout of MODEL.md section 4 and build an :class:`Instance`.

        Parameters
        ----------
        d : Mapping
            ``blocks``, ``models``, ``users``, ``bandwidth_hz`` and, as the rate needs,
            ``noise_psd_w_hz``; optional ``rate``, ``resident``, ``loader`` and ``meta``.

        Returns
        -------
        Instance

        Raises
        ------
        InstanceError
            On any malformed entry; the message names it (e.g. ``users[2].model: unknown model
            'x'``) and, for a number out of range, states the valid range.

        Notes
        -----
        Valid ranges (SI units), physically generous, chosen so that no computation on a valid
        instance overflows, underflows to a denormal number or ends in NaN (:data:`RANGES`):

        ==================================================== ====================================
        ``blocks[b].load_s``, ``loader.overhead_s``,          0, or 1e-12 to 1e6 s (1 ps to 11.6
        ``models[m].infer_s``                                 days)
        ``users[k].deadline_s``                               1e-12 to 1e6 s
        a block's load time from the loader profile           at most 1e6 s
        ``blocks[b].bytes``                                   0, or 1 to 1e15 bytes (1 PB)
        ``users[k].data_bits``                                0, or 1 to 1e15 bits
        ``loader.bandwidth_Bps``                              1 to 1e15 B/s
        ``bandwidth_hz``                                      1 to 1e15 Hz
        ``power_w``, ``channel_gain``, ``noise_psd_w_hz``     finite and > 0, and their ratio
        ``a_k = power_w * channel_gain / noise_psd_w_hz``     1 to 1e30 Hz (all the Shannon rate
                                                              uses)
        ``users[k].spectral_eff``                             1e-6 to 1e3 bit/s/Hz
        ==================================================== ====================================

        A positive time below 1 ps is below the timing tolerance of every feasibility test
        (:data:`TIME_TOL_FLOOR_S`): nothing could tell it from 0. With these ranges a start time
        that is not 0 is at least about 1e-31 s, so ``a_k * t`` and ``spectral_eff * t`` never
        underflow and the least bandwidth stays below about 1e52 Hz.

        Users are checked a field at a time over all of them (O(n_users), a few microseconds a user),
        then one by one from the first that the column checks cannot vouch for: the message
        names the first bad user exactly as a reading one by one would (see ``_read_users``).
        """
        d = _mapping(d, "instance")
        _no_unknown_keys(d, {"blocks", "loader", "models", "users", "noise_psd_w_hz",
                             "bandwidth_hz", "rate", "resident", "meta"}, "instance")

        rate = d.get("rate", "shannon")
        if not isinstance(rate, str) or rate not in RATES:
            raise InstanceError(f"rate: must be one of {RATES}, got {short_repr(rate)}")

        loader = None
        if d.get("loader") is not None:
            ld = _mapping(d["loader"], "loader")
            _no_unknown_keys(ld, {"bandwidth_Bps", "overhead_s"}, "loader")
            loader = Loader(bandwidth_Bps=_number(ld, "bandwidth_Bps", "loader",
                                                  kind="bandwidth_Bps"),
                            overhead_s=_number(ld, "overhead_s", "loader", kind="time", zero=True))

        raw_blocks = _section(d, "blocks", "block")
        blocks = {}
        for bname, b in raw_blocks.items():
            where = f"blocks[{short_repr(bname, 40)}]"
            _name(bname, "blocks key")
            b = _mapping(b, where)
            _no_unknown_keys(b, {"bytes", "load_s"}, where)
            load_s = _number(b, "load_s", where, kind="time", zero=True, required=False)
            if load_s is None and loader is None:
                raise InstanceError(f"{where}.load_s: missing, and there is no 'loader' profile "
                                    "to compute it from")
            block = Block(bytes=_number(b, "bytes", where, kind="bytes", zero=True), load_s=load_s)
            if load_s is None:          # from the loader profile: within the range of times too
                load = loader.overhead_s + block.bytes / loader.bandwidth_Bps
                if load > RANGES["time"][1]:
                    raise InstanceError(
                        f"{where}: its load time loader.overhead_s + bytes / "
                        f"loader.bandwidth_Bps = {load:g} s is more than {RANGES['time'][1]:g} s")
            blocks[bname] = block

        raw_models = _section(d, "models", "model")
        models = {}
        for mname, m in raw_models.items():
            where = f"models[{short_repr(mname, 40)}]"
            _name(mname, "models key")
            m = _mapping(m, where)
            _no_unknown_keys(m, {"blocks", "infer_s"}, where)
            mb = m.get("blocks")
            if not isinstance(mb, Sequence) or isinstance(mb, str):
                raise InstanceError(f"{where}.blocks: must be a list of block names, "
                                    f"got {short_repr(mb)}")
            if len(mb) == 0:
                raise InstanceError(f"{where}.blocks: empty (a model needs at least one block)")
            first: dict[str, int] = {}
            for i, bname in enumerate(mb):
                if not isinstance(bname, str) or bname not in blocks:
                    raise InstanceError(f"{where}.blocks[{i}]: unknown block {short_repr(bname)}")
                if bname in first:
                    raise InstanceError(f"{where}.blocks: block {short_repr(bname)} listed twice "
                                        f"(at {first[bname]} and {i})")
                first[bname] = i
            models[mname] = Model(blocks=tuple(mb),
                                  infer_s=_number(m, "infer_s", where, kind="time", zero=True))

        shannon = rate == "shannon"
        if not shannon and d.get("noise_psd_w_hz") is not None:
            raise InstanceError("noise_psd_w_hz: not used with rate 'linear' (remove it, or set "
                                "rate: shannon)")
        # The Shannon rate's inputs only need to be positive: their ratio a_k is range-checked.
        noise = _number(d, "noise_psd_w_hz", "", required=shannon)
        bandwidth = _number(d, "bandwidth_hz", "", kind="bandwidth_hz")

        raw_users = d.get("users")
        if not isinstance(raw_users, Sequence) or isinstance(raw_users, str):
            raise InstanceError(f"users: must be a list, got {short_repr(raw_users)}")
        users, a_hz = _read_users(raw_users, models, rate, noise)

        raw_res = d.get("resident", [])
        if not isinstance(raw_res, Sequence) or isinstance(raw_res, str):
            raise InstanceError(f"resident: must be a list of block names, "
                                f"got {short_repr(raw_res)}")
        first = {}
        for i, bname in enumerate(raw_res):
            if not isinstance(bname, str) or bname not in blocks:
                raise InstanceError(f"resident[{i}]: unknown block {short_repr(bname)}")
            if bname in first:
                raise InstanceError(f"resident[{i}]: block {short_repr(bname)} is listed twice "
                                    f"(first at resident[{first[bname]}])")
            first[bname] = i

        meta = d.get("meta", {})
        _mapping(meta, "meta")
        inst = cls(blocks=blocks, models=models, users=tuple(users), bandwidth_hz=bandwidth,
                   noise_psd_w_hz=noise, rate=rate, resident=tuple(raw_res), loader=loader,
                   meta=dict(meta))
        if a_hz is not None:    # computed from the columns read: the cached property's value
            inst.__dict__["a_hz"] = a_hz
        if shannon:   # each factor is finite and positive, but their ratio may be out of range
            lo, hi, _ = RANGES["a_hz"]
            bad = np.flatnonzero(~((inst.a_hz >= lo) & (inst.a_hz <= hi)))
            if bad.size:
                k = int(bad[0])
                u = inst.users[k]
                raise InstanceError(
                    f"users[{k}]: power_w * channel_gain / noise_psd_w_hz = {inst.a_hz[k]:g} Hz "
                    f"is not a finite positive number in [{lo:g}, {hi:g}] Hz ({u.power_w:g} * "
                    f"{u.channel_gain:g} / {noise:g}; this ratio is all the Shannon rate uses)")
        return inst

    def to_dict(self) -> dict:
        """The JSON-ready dict of MODEL.md section 4 (inverse of :meth:`from_dict`).

        Returns
        -------
        dict
            Plain numbers, strings, lists and dicts; ``Instance.from_dict(d) == self``.
        """
        d: dict[str, Any] = {
            "blocks": {n: ({"bytes": b.bytes} if b.load_s is None
                           else {"bytes": b.bytes, "load_s": b.load_s})
                       for n, b in self.blocks.items()},
            "models": {n: {"blocks": list(m.blocks), "infer_s": m.infer_s}
                       for n, m in self.models.items()},
            "users": [{k: v for k, v in vars(u).items() if v is not None} for u in self.users],
            "bandwidth_hz": self.bandwidth_hz,
            "rate": self.rate,
            "resident": list(self.resident),
        }
        if self.noise_psd_w_hz is not None:
            d["noise_psd_w_hz"] = self.noise_psd_w_hz
        if self.loader is not None:
            d["loader"] = {"bandwidth_Bps": self.loader.bandwidth_Bps,
                           "overhead_s": self.loader.overhead_s}
        if self.meta:
            d["meta"] = dict(self.meta)
        return d

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Instance) and self.to_dict() == other.to_dict()

    __hash__ = None  # mutable-looking dict fields: instances are compared, not hashed

    def replace(self, **changes) -> "Instance":
        """A validated copy with some top-level fields changed (e.g. ``bandwidth_hz=1e8``).

        Parameters
        ----------
        **changes
            Top-level keys of :meth:`to_dict` and their new values.

        Returns
        -------
        Instance

        Raises
        ------
        InstanceError
            If the changed instance is not valid (naming the entry).
        """
        d = self.to_dict()
        d.update(changes)
        return Instance.from_dict(d)

    # ---------------------------------------------------------------- derived quantities
    @property
    def n_users(self) -> int:
        return len(self.users)

    def block_load_s(self, name: str) -> float:
        """Load time of one block (s): its own ``load_s``, else the loader profile's."""
        b = self.blocks[name]
        if b.load_s is not None:
            return b.load_s
        return self.loader.overhead_s + b.bytes / self.loader.bandwidth_Bps

    def model_load_s(self, name: str) -> float:
        """Time to load a whole model from scratch (s)."""
        return sum(self.block_load_s(b) for b in self.models[name].blocks)

    @cached_property
    def a_hz(self) -> np.ndarray:
        """``a_k = power_w_k * channel_gain_k / N0`` (Hz), shape ``(n_users,)``; Shannon rate only."""
        if self.rate != "shannon":
            raise AttributeError("a_hz is defined for the Shannon rate only")
        return np.array([u.power_w * u.channel_gain / self.noise_psd_w_hz for u in self.users],
                        dtype=float)

    @cached_property
    def arrays(self) -> "InstanceArrays":
        """Index-based arrays used by the evaluator and the solvers (built once, read-only)."""
        return InstanceArrays.build(self)


@dataclass(frozen=True)
class InstanceArrays:
    """Integer-indexed view of an instance, for the hot loops of evaluator and solvers.

    ``model_of[k]`` is user k's model index; ``incidence[m, j]`` whether model m holds block j;
    ``block_load_s[j]`` seconds; ``link_s[p, m]`` the partial-loading time of model ``m`` right
    after model ``p``; ``from_resident_s[m]`` the same from the resident blocks; ``shared_bytes``
    the bytes two models have in common.
    """

    model_names: tuple[str, ...]
    block_names: tuple[str, ...]
    model_of: np.ndarray         # (n_users,) int
    block_load_s: np.ndarray     # (n_blocks,) s
    block_bytes: np.ndarray      # (n_blocks,) B
    incidence: np.ndarray        # (n_models, n_blocks) bool
    resident: np.ndarray         # (n_blocks,) bool
    model_full_s: np.ndarray     # (n_models,) s, whole-model load time
    model_infer_s: np.ndarray    # (n_models,) s
    infer_s: np.ndarray          # (n_users,) s, inference time of each user's model
    deadline_s: np.ndarray       # (n_users,) s
    data_bits: np.ndarray        # (n_users,) bit
    link_s: np.ndarray           # (n_models, n_models) s
    from_resident_s: np.ndarray  # (n_models,) s
    shared_bytes: np.ndarray     # (n_models, n_models) B
    radio: np.ndarray            # (n_users,) a_k (Hz) for Shannon, spectral_eff for linear
    rate: str
    time_tol_s: float            # s, timing tolerance of feasibility tests (see build)

    @classmethod
    def build(cls, inst: Instance) -> "InstanceArrays":
        bnames = tuple(inst.blocks)
        bidx = {b: j for j, b in enumerate(bnames)}
        mnames = tuple(inst.models)
        midx = {m: i for i, m in enumerate(mnames)}
        load = np.array([inst.block_load_s(b) for b in bnames], dtype=float)
        size = np.array([inst.blocks[b].bytes for b in bnames], dtype=float)
        X = np.zeros((len(mnames), len(bnames)), dtype=bool)
        for i, m in enumerate(mnames):
            X[i, [bidx[b] for b in inst.models[m].blocks]] = True
        resident = np.zeros(len(bnames), dtype=bool)
        resident[[bidx[b] for b in inst.resident]] = True
        Xf = X.astype(float)
        # link[p, m] sums the load times of m's blocks that p lacks: only true zeros where p holds
        # all of m, so unchanged models cost exactly 0.
        link = (Xf * load) @ (1.0 - Xf).T
        link = link.T.copy()
        model_of = np.array([midx[u.model] for u in inst.users], dtype=int)
        if inst.rate == "shannon":
            radio = inst.a_hz
        else:
            radio = np.array([u.spectral_eff for u in inst.users], dtype=float)
        model_infer = np.array([inst.models[m].infer_s for m in mnames], dtype=float)
        deadline = np.array([u.deadline_s for u in inst.users], dtype=float)
        # Start times are running sums of n terms, taken in different orders by the evaluator and
        # the solvers: their rounding grows with n and with the time scale, so the tolerance does
        # too (1 ps for any instance of milliseconds; more only for huge horizons or n).
        horizon = float(deadline.max()) if deadline.size else 0.0
        time_tol = TIME_TOL_FLOOR_S + 4 * (deadline.size + 1) * np.finfo(float).eps * horizon
        return cls(
            model_names=mnames, block_names=bnames, model_of=model_of, block_load_s=load,
            block_bytes=size, incidence=X, resident=resident,
            model_full_s=(Xf * load).sum(axis=1),
            model_infer_s=model_infer,
            infer_s=model_infer[model_of] if model_of.size else np.zeros(0),
            deadline_s=deadline,
            data_bits=np.array([u.data_bits for u in inst.users], dtype=float),
            link_s=link,
            from_resident_s=(Xf * load) @ (~resident).astype(float),
            shared_bytes=(Xf * size) @ Xf.T,
            radio=radio, rate=inst.rate, time_tol_s=time_tol,
        )


def load_instance(path: str | Path) -> Instance:
    """Read and validate an instance file: JSON, or YAML for a ``.yaml``/``.yml`` name.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Instance

    Raises
    ------
    InstanceError
        If the file is missing, does not parse (with line and column), repeats a key, or is not a
        valid instance (naming the entry); see :mod:`plcore.model.files`.
    """
    from .files import read_mapping, show_path

    d = read_mapping(path)
    try:
        return Instance.from_dict(d)
    except InstanceError as exc:
        raise InstanceError(f"{show_path(path)}: {exc}") from None


def save_instance(inst: Instance, path: str | Path) -> None:
    """Write an instance as indented JSON, or YAML for a ``.yaml``/``.yml`` name (round-trips
    through :func:`load_instance`).

    Parameters
    ----------
    inst : Instance
    path : str or Path
        The file to write (replaced if it exists).
    """
    from .files import write_mapping

    write_mapping(inst.to_dict(), path)
