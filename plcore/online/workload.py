"""Workloads: requests arriving over time, drawn with a seed or read from a trace file.

A :class:`Workload` is a table of requests in arrival order: arrival time, requested model, input
size, relative deadline, the user who sent it and its channel gain. It refers to models by index
into a *catalogue*, an :class:`~plcore.Instance` whose blocks, models, loader and radio constants
(noise PSD, total bandwidth) describe the server; the catalogue's users are not used.

Generator (:func:`generate`, seeded: same arguments, same requests)
    * **arrivals**: gamma inter-arrival times of mean ``1 / rate_hz`` and coefficient of variation
      ``cv`` (shape ``1 / cv**2``): ``cv = 1`` is a Poisson process, ``cv > 1`` bursty traffic;
    * **popularity**: ``"uniform"``, ``"zipf"`` (probability of the i-th model proportional to
      ``1 / i**zipf_alpha``) or ``"hot"`` (``hot_share`` of the requests go uniformly to the first
      ``hot_models`` models, the rest uniformly to the others);
    * **users**: ``n_users`` dropped uniformly (by area) in an annulus ``[min_distance_m,
      radius_m]``, each with a log-normal shadowing draw; the mean gain follows the path loss of
      :mod:`plcore.model.radio`; every request comes from a user drawn uniformly;
    * **block fading**: with a finite ``coherence_s``, the gain of a request is its user's mean gain
      times a Rayleigh power factor (exponential, mean 1) redrawn every ``coherence_s`` seconds
      (intervals ``[j Tc, (j+1) Tc)`` on the global clock). The factor is a hash of (seed, request,
      interval), so the gain at any time is reproducible without storing it.

Trace (:func:`read_trace`)
    CSV with columns ``arrival_s, model, data_bits, deadline_s, channel_gain`` (deadline relative
    to the arrival; gain linear) and optionally ``user``, in UTF-8 (a leading byte-order mark is
    allowed). Arrival times must not decrease. A bad row raises
    :class:`~plcore.errors.InstanceError` naming the file, the line and the column.

Valid ranges (:data:`LIMITS`)
    Every quantity of a workload, drawn or read, lies in a range: the instance files' ranges
    (:data:`plcore.model.instance.RANGES`) for times, sizes and the Shannon rate's ``a_k``, and
    stated bounds for the rest (at most :data:`MAX_REQUESTS` requests, at most
    :data:`MAX_INTERVALS` fading intervals). Within them nothing overflows, and the memory
    and time of a run are bounded before it starts.
"""

from __future__ import annotations

import csv
import math
import os
import re
import stat
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import InstanceError, short_repr
from ..model import radio
from ..model.files import show_path
from ..model.instance import RANGES, Instance

__all__ = ["Workload", "generate", "read_trace", "write_trace", "from_instance",
           "POPULARITIES", "IMAGE_BITS", "TRACE_COLUMNS", "Limit", "LIMITS", "MAX_REQUESTS",
           "MAX_INTERVALS", "parse_number", "too_many_intervals"]

IMAGE_BITS = 224 * 224 * 3 * 8          # a raw 224 x 224 x 3 image, 8 bits a value (bit)
POPULARITIES = ("uniform", "zipf", "hot")
TRACE_COLUMNS = ("arrival_s", "model", "data_bits", "deadline_s", "channel_gain")

#: Most requests in one workload, drawn or read. A simulation keeps about 1 kB per request
#: (workload, per-request state, outcome table, the ``--out`` table): 10 GB at this bound.
MAX_REQUESTS = 10 ** 7
#: Most block-fading intervals, or re-plan periods, over a workload's span (its last arrival plus
#: its longest deadline, :attr:`Workload.span_s`): the simulator redraws the uploading requests'
#: gains at each interval, and re-plans at each period (each costs about 10 us of CPU with a few
#: requests in the system, more with many).
MAX_INTERVALS = 10 ** 7
#: Longest line of a trace (bytes); a row is a few numbers and a model name.
MAX_LINE_BYTES = 1 << 20


class Limit(NamedTuple):
    """The valid range of a quantity: ``low <= value <= high`` (``unit``), or 0 where ``zero``.

    Examples
    --------
    >>> from plcore.online.workload import LIMITS
    >>> LIMITS["data_bits"].text
    '0, or 1 to 1e+15 bits'
    >>> LIMITS["cv"].problem(0.0)
    'must be > 0, got 0.0 (valid: 0.01 to 100)'
    """

    low: float
    high: float
    unit: str = ""
    zero: bool = False
    integer: bool = False

    @property
    def text(self) -> str:
        """The range in words, for messages and ``--help``."""
        unit = f" {self.unit}" if self.unit else ""
        return f"{'0, or ' if self.zero else ''}{self.low:g} to {self.high:g}{unit}"

    def problem(self, value, shown: str | None = None) -> str | None:
        """Why ``value`` (a number) is not in the range, or None; ``shown``: how to quote it."""
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            value = int(value)          # compared exactly, not as a double
        elif not math.isfinite(value):
            return self._why("must be finite, got {}", value, shown)
        if self.integer and value != int(value):
            return self._why("must be an integer, got {}", value, shown)
        if self.low <= value <= self.high or self.zero and value == 0:
            return None
        if value < 0 or value == 0:
            return self._why(f"must be {'>=' if self.zero or self.low == 0 else '>'} 0, got {{}}",
                             value, shown)
        return self._why("{}" + (f" {self.unit}" if self.unit else "") + " is out of range",
                         value, shown)

    def _why(self, template: str, value, shown: str | None) -> str:
        return f"{template.format(repr(value) if shown is None else shown)} (valid: {self.text})"


_TIME = RANGES["time"]
#: Valid range of each quantity of a workload (the parameters of :func:`generate`, the columns
#: of a trace): the instance files' ranges where the quantity is one of theirs.
LIMITS = {
    "n_requests": Limit(0, MAX_REQUESTS, "requests", integer=True),
    # The mean gap between arrivals within the range of times.
    "rate_hz": Limit(1.0 / _TIME[1], 1.0 / _TIME[0], "req/s"),
    # Gamma shape 1 / cv**2 from 1e-4 to 1e4: near-periodic to very bursty arrivals.
    "cv": Limit(0.01, 100.0),
    # Beyond an exponent of about 50 every request goes to the first model already.
    "zipf_alpha": Limit(0.0, 1000.0),
    "data_bits": Limit(*RANGES["bits"], zero=True),
    "deadline_s": Limit(*_TIME),
    "coherence_s": Limit(*_TIME),
    "seed": Limit(0, 10 ** 18, integer=True),
    "arrival_s": Limit(*_TIME, zero=True),
    # A label; integers up to 2**53 are exact as doubles.
    "user": Limit(0, 10 ** 15, integer=True),
}

_MASK = (1 << 64) - 1


def _fade(seed: int, k: int, j: int) -> float:
    """Rayleigh power factor (exponential, mean 1) of request ``k`` in coherence interval ``j``.

    A SplitMix64 hash of (seed, k, j) turned into a uniform in (0, 1): reproducible and O(1)
    without a stored table (a million requests times their intervals would not fit).
    """
    z = (seed * 0x9E3779B97F4A7C15 + k * 0xBF58476D1CE4E5B9 + j * 0x94D049BB133111EB
         + 0x2545F4914F6CDD1D) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    z ^= z >> 31
    u = ((z >> 11) + 0.5) / 9007199254740992.0      # (0, 1), 53 bits
    return -math.log(u)


@dataclass(frozen=True, eq=False)
class Workload:
    """Requests in arrival order; arrays of shape ``(n,)``, indexed by request.

    Attributes
    ----------
    model_names : tuple of str
        The catalogue's model names; ``model[k]`` indexes into it.
    arrival_s : ndarray of float
        Arrival times (s), non-decreasing.
    model : ndarray of int
    data_bits : ndarray of float
        Input size (bit).
    deadline_s : ndarray of float
        Deadline relative to the arrival (s), > 0.
    user : ndarray of int
        Who sent the request (for fairness across users).
    mean_gain : ndarray of float
        Linear channel gain without fading (path loss and shadowing).
    power_w : float
        Transmit power of every user (W).
    coherence_s : float
        Block-fading coherence interval (s); ``inf`` means no fading.
    seed : int
        Seed of the fading factors.
    """

    model_names: tuple
    arrival_s: np.ndarray
    model: np.ndarray
    data_bits: np.ndarray
    deadline_s: np.ndarray
    user: np.ndarray
    mean_gain: np.ndarray
    power_w: float = radio.POWER_W
    coherence_s: float = math.inf
    seed: int = 0

    def __post_init__(self):
        n = self.arrival_s.size
        for name in ("model", "data_bits", "deadline_s", "user", "mean_gain"):
            if getattr(self, name).shape != (n,):
                raise InstanceError(f"workload.{name}: shape {getattr(self, name).shape}, "
                                    f"expected ({n},)")
        if n and np.any(np.diff(self.arrival_s) < 0):
            k = int(np.flatnonzero(np.diff(self.arrival_s) < 0)[0]) + 1
            raise InstanceError(f"workload.arrival_s[{k}]: earlier than request {k - 1}'s "
                                "(requests must be in arrival order)")

    @property
    def n(self) -> int:
        """Number of requests."""
        return int(self.arrival_s.size)

    @property
    def fading(self) -> bool:
        return math.isfinite(self.coherence_s)

    def gain_at(self, k: int, t_s: float) -> float:
        """Linear channel gain of request ``k`` at time ``t_s`` (s); O(1)."""
        g = float(self.mean_gain[k])
        if not self.fading:
            return g
        return g * _fade(self.seed, k, int(t_s // self.coherence_s))

    @property
    def channel_gain(self) -> np.ndarray:
        """Gain of each request at its arrival, shape ``(n,)``."""
        if not self.fading:
            return self.mean_gain.copy()
        return np.array([self.gain_at(k, t) for k, t in enumerate(self.arrival_s)])

    @property
    def duration_s(self) -> float:
        """Time of the last arrival (s)."""
        return float(self.arrival_s[-1]) if self.n else 0.0

    @property
    def span_s(self) -> float:
        """The last arrival plus the longest relative deadline (s): every deadline falls by then."""
        return self.duration_s + (float(self.deadline_s.max()) if self.n else 0.0)

    def head(self, n: int) -> "Workload":
        """The first ``n`` requests."""
        return Workload(self.model_names, self.arrival_s[:n], self.model[:n], self.data_bits[:n],
                        self.deadline_s[:n], self.user[:n], self.mean_gain[:n], self.power_w,
                        self.coherence_s, self.seed)


def _check_catalogue(catalogue: Instance) -> None:
    if catalogue.rate != "shannon":
        raise InstanceError("catalogue.rate: the online simulator needs the Shannon rate "
                            f"(channel gains), got {catalogue.rate!r}")


def generate(catalogue: Instance, n_requests: int, rate_hz: float, *, seed: int = 0,
             cv: float = 1.0, popularity: str = "uniform", zipf_alpha: float = 1.0,
             hot_models: int = 2, hot_share: float = 0.8, data_bits=IMAGE_BITS,
             deadline_s=0.2, n_users: int = 100, radius_m: float = 300.0,
             min_distance_m: float = radio.MIN_DISTANCE_M, shadowing_std_db: float = 8.0,
             power_w: float = radio.POWER_W, coherence_s: float = math.inf) -> Workload:
    """Draw a workload of ``n_requests`` requests for the models of ``catalogue``.

    Parameters
    ----------
    catalogue : Instance
        Its models are the ones requested (in its order: with Zipf the first is the most popular).
    n_requests : int
        0 to :data:`MAX_REQUESTS`.
    rate_hz : float
        Mean arrival rate (requests/s), 1e-6 to 1e12 (a mean gap within the range of times); the
        arrivals must end by 1e6 s.
    seed : int
        Seeds ``numpy.random.default_rng`` and the fading hash; 0 to 1e18.
    cv : float
        Coefficient of variation of the inter-arrival times (1: Poisson; > 1: bursty), 0.01 to
        100.
    popularity : {"uniform", "zipf", "hot"}
    zipf_alpha : float
        Zipf exponent (``popularity="zipf"``), 0 to 1000.
    hot_models, hot_share
        ``popularity="hot"``: that many models get that share of the requests.
    data_bits : float or (low, high)
        Input size (bit), fixed or uniform in the range; 0, or 1 to 1e15.
    deadline_s : float or (low, high)
        Relative deadline (s), fixed or uniform in the range; 1e-12 to 1e6.
    n_users : int
        Users in the cell; each request comes from one drawn uniformly.
    radius_m, min_distance_m, shadowing_std_db, power_w
        Cell and link budget, as in :mod:`plcore.model.radio`.
    coherence_s : float
        Block-fading interval (s), 1e-12 to 1e6, and at most :data:`MAX_INTERVALS`
        intervals from 0 to the last arrival plus the longest deadline; ``inf`` (default) for
        no fading.

    Returns
    -------
    Workload

    Raises
    ------
    InstanceError
        For a bad parameter, outside its range (:data:`LIMITS`), or a catalogue without the
        Shannon rate: ``workload.cv: 1e+200 is out of range (valid: 0.01 to 100)``; the error's
        ``param`` and ``why`` attributes hold the parameter's name and the reason. Counts and
        spans are checked before anything is drawn.

    Examples
    --------
    >>> from plcore.online.workload import generate
    >>> from plcore.online.catalogue import cluster_catalogue
    >>> w = generate(cluster_catalogue(), 1000, rate_hz=50.0, seed=1, popularity="zipf")
    >>> w.n, round(w.n / w.duration_s)        # about 50 requests per second
    (1000, 50)

    Notes
    -----
    O(n_requests) time and memory.
    """
    _check_catalogue(catalogue)
    for param, value in (("n_requests", n_requests), ("rate_hz", rate_hz), ("cv", cv),
                         ("zipf_alpha", zipf_alpha), ("seed", seed)):
        _check(param, value)
    if not (isinstance(coherence_s, (int, float)) and coherence_s == math.inf):
        _check("coherence_s", coherence_s)          # inf: no fading
    data_ends = _ends(data_bits, "data_bits")
    deadline_ends = _ends(deadline_s, "deadline_s")
    checks = {"n_users": n_users >= 1, "hot_share": 0 <= hot_share <= 1,
              "power_w": 0 < power_w < math.inf,
              "min_distance_m": 0 < min_distance_m < radius_m < math.inf,
              "shadowing_std_db": 0 <= shadowing_std_db < math.inf}
    for name, ok in checks.items():
        if not ok:
            raise _bad(name, f"out of range, got {locals()[name]!r}")
    if popularity not in POPULARITIES:
        raise _bad("popularity", f"one of {POPULARITIES}, got {popularity!r}")
    names = tuple(catalogue.models)
    M = len(names)
    if popularity == "hot" and not 1 <= hot_models <= M:
        raise _bad("hot_models", f"must be in 1..{M}, got {hot_models!r}")
    n_requests = int(n_requests)
    # Refused before drawing, on the expected span, and again on the drawn one.
    _check_span(n_requests, n_requests / rate_hz, deadline_ends[-1], coherence_s)

    rng = np.random.default_rng(int(seed))
    shape = 1.0 / cv ** 2
    gaps = rng.gamma(shape, 1.0 / (rate_hz * shape), n_requests)
    arrival = np.cumsum(gaps)

    if popularity == "uniform":
        p = np.full(M, 1.0 / M)
    elif popularity == "zipf":
        with np.errstate(over="ignore"):    # i**alpha beyond a double is inf: a share of 0
            p = 1.0 / np.arange(1, M + 1) ** zipf_alpha
        p /= p.sum()
    else:
        cold = M - hot_models
        p = np.full(M, (1.0 - hot_share) / cold if cold else 0.0)
        p[:hot_models] = hot_share / hot_models if cold else 1.0 / M
        p /= p.sum()
    model = rng.choice(M, size=n_requests, p=p)

    def draw(ends):
        if len(ends) == 2:
            return rng.uniform(ends[0], ends[1], n_requests)
        return np.full(n_requests, float(ends[0]))

    data = draw(data_ends)
    deadline = draw(deadline_ends)
    if n_requests:
        _check_span(n_requests, float(arrival[-1]), float(deadline.max()), coherence_s)

    user_gain = radio.cell_gains(rng, n_users, radius_m, min_distance_m, shadowing_std_db)
    user = rng.integers(n_users, size=n_requests)
    return Workload(names, arrival, model.astype(np.int64), data, deadline, user.astype(np.int64),
                    user_gain[user], float(power_w), float(coherence_s), int(seed))


def _bad(param: str, why: str) -> InstanceError:
    """The error for a bad parameter of :func:`generate`, ``workload.<param>: <why>``.

    Its attributes ``param`` and ``why`` let a caller name the parameter its own way (the
    command line names its option).
    """
    exc = InstanceError(f"workload.{param}: {why}")
    exc.param, exc.why = param, why
    return exc


def _check(param: str, value) -> None:
    """Refuse ``value`` outside ``LIMITS[param]``, or not a real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise _bad(param, f"must be a number, got {short_repr(value)}")
    why = LIMITS[param].problem(value)
    if why:
        raise _bad(param, why)


def _ends(value, param: str) -> tuple:
    """A fixed value ``(v,)`` or a range ``(low, high)`` of :func:`generate`, checked."""
    ends = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(ends) not in (1, 2):
        raise _bad(param, f"a number or (low, high), got {short_repr(value)}")
    for v in ends:
        _check(param, v)
    if len(ends) == 2 and not ends[0] <= ends[1]:
        raise _bad(param, f"need low <= high, got {value!r}")
    return tuple(float(v) for v in ends)


def _check_span(n: int, last_arrival_s: float, longest_deadline_s: float,
                coherence_s: float) -> None:
    """Refuse arrivals beyond the range of times, or more than :data:`MAX_INTERVALS` fading
    intervals over the workload."""
    top = _TIME[1]
    if last_arrival_s > top:
        raise _bad("rate_hz", f"{n} requests at this rate arrive over {last_arrival_s:.3g} s, "
                              f"more than {top:g} s: raise the rate or draw fewer requests")
    if math.isfinite(coherence_s):
        why = too_many_intervals(last_arrival_s + longest_deadline_s, coherence_s)
        if why:
            raise _bad("coherence_s", f"{why}: raise it (inf: no fading)")


def too_many_intervals(span_s: float, interval_s: float) -> str | None:
    """Why ``span_s / interval_s`` intervals (fading intervals, re-plan periods) are too many for
    one simulation (more than :data:`MAX_INTERVALS`), or None.

    Examples
    --------
    >>> from plcore.online.workload import too_many_intervals
    >>> too_many_intervals(20.0, 0.01) is None
    True
    >>> too_many_intervals(20.0, 1e-9)
    '1e-09 s splits the 20 s of arrivals and deadlines into 2e+10 intervals, more than 1e+07'
    """
    count = span_s / interval_s
    if count <= MAX_INTERVALS:
        return None
    return (f"{interval_s!r} s splits the {span_s:.3g} s of arrivals and deadlines into "
            f"{count:.3g} intervals, more than {MAX_INTERVALS:.0e}")


def from_instance(instance: Instance, arrival_s=0.0) -> Workload:
    """The users of a batch instance as requests arriving at ``arrival_s`` (default all at t = 0).

    Each user is request ``k`` (and user ``k``) with its model, data, deadline (relative to its
    arrival) and constant channel gain. All users must share one transmit power.

    Examples
    --------
    >>> import plcore
    >>> from plcore.online.workload import from_instance
    >>> w = from_instance(plcore.load_instance("data/instances/example.json"))
    >>> w.n == len(plcore.load_instance("data/instances/example.json").users), float(w.arrival_s.max())
    (True, 0.0)
    """
    _check_catalogue(instance)
    n = instance.n_users
    powers = {u.power_w for u in instance.users}
    if len(powers) > 1:
        raise InstanceError("users[*].power_w: the online workload has one transmit power; "
                            f"the instance has {sorted(powers)}")
    arr = instance.arrays
    arrival = np.broadcast_to(np.asarray(arrival_s, dtype=float), (n,)).copy()
    return Workload(tuple(arr.model_names), arrival, arr.model_of.astype(np.int64),
                    arr.data_bits.copy(), arr.deadline_s.copy(), np.arange(n),
                    np.array([u.channel_gain for u in instance.users], dtype=float),
                    powers.pop() if powers else radio.POWER_W)


def read_trace(path: str | Path, catalogue: Instance, *, power_w: float = radio.POWER_W) -> Workload:
    """Read a CSV trace (columns :data:`TRACE_COLUMNS`, optional ``user``) as a workload.

    Parameters
    ----------
    path : str or Path
        A regular file of UTF-8 text (a leading byte-order mark is allowed); the first row names
        the columns, in any order.
    catalogue : Instance
        Model names in the ``model`` column must be its models.
    power_w : float
        Transmit power of every user (W).

    Returns
    -------
    Workload
        Gains are constant per request (a trace gives one gain; no fading is added).

    Raises
    ------
    InstanceError
        ``trace.csv line 7, column 'deadline_s': must be > 0, got '-1' (valid: ...)``: one line
        naming the file, the row and the column, for a missing, repeated or unknown column, a
        row with too few or too many fields, a value that is not a plain decimal number, a NaN or
        infinite value, a value out of its range (:data:`LIMITS`; for ``channel_gain``, ``a =
        power_w * channel_gain / noise_psd_w_hz`` out of the instance files' range), an unknown
        model, a decreasing arrival time, more than :data:`MAX_REQUESTS` rows, a line that is
        not UTF-8 or longer than :data:`MAX_LINE_BYTES`; and for anything but a regular file
        (refused before it is opened, so a named pipe cannot block).

    Notes
    -----
    O(n) time, 8 bytes a value while reading; rows are parsed by the standard ``csv`` module
    from the file read a line at a time.
    """
    _check_catalogue(catalogue)
    if not 0 < power_w < math.inf:
        raise InstanceError(f"power_w: must be finite and > 0, got {power_w!r}")
    index = {m: i for i, m in enumerate(catalogue.models)}
    label = show_path(path)
    a_lo, a_hi, a_unit = RANGES["a_hz"]
    to_a = power_w / catalogue.noise_psd_w_hz          # a = to_a * gain
    cols = {c: array("d") for c in ("arrival_s", "data_bits", "deadline_s", "channel_gain")}
    model, user = array("q"), array("q")
    header: list[str] = []
    with _open_regular(Path(path), label) as f:
        reader = csv.reader(_decoded_lines(f, label, header))
        try:
            header[:] = next(reader, [])
            pos = _trace_header(header, label)
            last = 0.0
            for row in reader:
                if not row:
                    continue                        # a blank line
                where = f"{label} line {reader.line_num}"
                if len(row) != len(header):
                    raise InstanceError(f"{where}: {len(row)} fields, but the header names "
                                        f"{len(header)} columns")
                if len(model) == MAX_REQUESTS:
                    raise InstanceError(f"{where}: more than {MAX_REQUESTS:.0e} requests (the "
                                        "most a workload holds)")

                def num(col, kind=None):
                    text = row[pos[col]]
                    try:
                        value = parse_number(text)
                    except ValueError as exc:
                        raise InstanceError(f"{where}, column {col!r}: {exc}") from None
                    if kind is None:
                        return value
                    lim = LIMITS[kind]
                    if (lim.integer or not lim.low <= value <= lim.high) and lim.problem(value):
                        raise InstanceError(f"{where}, column {col!r}: "
                                            f"{lim.problem(value, short_repr(text))}")
                    return value

                t = num("arrival_s", "arrival_s")
                if t < last:
                    raise InstanceError(f"{where}, column 'arrival_s': {t:g} is earlier than the "
                                        f"previous row's {last:g} (rows must be in arrival order)")
                last = t
                m = row[pos["model"]]
                if m not in index:
                    raise InstanceError(f"{where}, column 'model': unknown model {short_repr(m)}")
                gain = num("channel_gain")
                if not a_lo <= to_a * gain <= a_hi:       # also a gain <= 0, NaN or infinite
                    raise InstanceError(
                        f"{where}, column 'channel_gain': {short_repr(row[pos['channel_gain']])} "
                        f"is out of range (valid: {a_lo / to_a:.3g} to {a_hi / to_a:.3g}, so "
                        f"that power_w * channel_gain / noise_psd_w_hz is {a_lo:g} to {a_hi:g} "
                        f"{a_unit}, with power_w {power_w:g} W)")
                cols["arrival_s"].append(t)
                model.append(index[m])
                cols["data_bits"].append(num("data_bits", "data_bits"))
                cols["deadline_s"].append(num("deadline_s", "deadline_s"))
                cols["channel_gain"].append(gain)
                if "user" in pos:
                    user.append(int(num("user", "user")))
        except csv.Error as exc:
            raise InstanceError(f"{label} line {reader.line_num}: {exc}") from None
    n = len(model)
    return Workload(tuple(catalogue.models), np.array(cols["arrival_s"], dtype=float),
                    np.array(model, dtype=np.int64), np.array(cols["data_bits"], dtype=float),
                    np.array(cols["deadline_s"], dtype=float),
                    np.array(user, dtype=np.int64) if "user" in pos
                    else np.arange(n, dtype=np.int64),
                    np.array(cols["channel_gain"], dtype=float), float(power_w))


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _open_regular(path: Path, label: str):
    """``path`` opened for reading in binary, once ``stat`` has shown it a regular file: a named
    pipe or a device is refused without being opened (opening a pipe waits for a writer)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InstanceError(f"{label}: no such trace file") from None
    except (OSError, ValueError) as exc:         # ValueError: a NUL byte in the name
        raise InstanceError(f"{label}: cannot read ({getattr(exc, 'strerror', None) or exc})"
                            ) from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise InstanceError(f"{label}: is {kind}, not a regular file")
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InstanceError(f"{label}: cannot read ({exc.strerror or exc})") from None


def _decoded_lines(f, label: str, header: list):
    """The lines of the binary file ``f`` as text, for :mod:`csv`: UTF-8, without a leading
    byte-order mark, each at most :data:`MAX_LINE_BYTES`; an error names the line (and the column
    of ``header``, once read, where the bad byte sits)."""
    number = 0
    while True:
        try:
            raw = f.readline(MAX_LINE_BYTES + 1)
        except OSError as exc:
            raise InstanceError(f"{label}: cannot read ({exc.strerror or exc})") from None
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            raise InstanceError(f"{label} line {number}: longer than {MAX_LINE_BYTES} bytes (a "
                                "trace row is a few numbers and a model name)")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            field = raw[:exc.start].count(b",")
            column = (f", column {header[field]!r}" if number > 1 and field < len(header)
                      else "")
            raise InstanceError(f"{label} line {number}{column}: not UTF-8 text (byte "
                                f"{exc.start + 1} of the line cannot be decoded)") from None
        yield text[1:] if number == 1 and text.startswith("\ufeff") else text


def _trace_header(header: list, label: str) -> dict:
    """Column name -> position in a row; refuses a missing, repeated or unknown column."""
    known = TRACE_COLUMNS + ("user",)
    missing = [c for c in TRACE_COLUMNS if c not in header]
    if missing:
        raise InstanceError(f"{label} line 1: missing column(s) {', '.join(missing)} "
                            f"(need {', '.join(TRACE_COLUMNS)}, and optionally user)")
    pos = {}
    for i, name in enumerate(header):
        if name not in known:
            raise InstanceError(f"{label} line 1: unknown column {short_repr(name)} (the "
                                f"columns are {', '.join(known)})")
        if name in pos:
            raise InstanceError(f"{label} line 1: column {name!r} appears twice")
        pos[name] = i
    return pos


# A plain decimal number, as the instance files write them (no '1_000', no non-ASCII digits).
_DECIMAL = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_NON_FINITE = re.compile(r"[-+]?(?:nan|inf|infinity)", re.IGNORECASE)


def parse_number(text: str) -> float:
    """A number as traces and the command line write it: plain decimal, or a NaN or infinity.

    Parameters
    ----------
    text : str
        Surrounding blanks are ignored.

    Returns
    -------
    float
        NaN and infinities are returned as such, for the quantity's range to refuse or accept.

    Raises
    ------
    ValueError
        For anything else (``1_000``, non-ASCII digits, hexadecimal), and for a number beyond the
        range of a double (``1e400`` is not infinity, ``1e-400`` not 0); the message quotes it.

    Examples
    --------
    >>> from plcore.online.workload import parse_number
    >>> parse_number(" 1.5e3"), parse_number("inf")
    (1500.0, inf)
    >>> parse_number("1_000")
    Traceback (most recent call last):
    ...
    ValueError: not a number: '1_000'
    """
    text = text.strip()
    if _DECIMAL.fullmatch(text):
        value = float(text)
        if value == 0 and any(c in "123456789" for c in re.split("[eE]", text)[0]) or \
                math.isinf(value):
            raise ValueError(f"{short_repr(text)} is beyond the range of a double (it would be "
                             f"read as {value:g})")
        return value
    if _NON_FINITE.fullmatch(text):
        return float(text)
    raise ValueError(f"not a number: {short_repr(text)}")


def write_trace(workload: Workload, path: str | Path) -> None:
    """Write a workload as a CSV trace that :func:`read_trace` reads back (gains at arrival)."""
    gain = workload.channel_gain
    with Path(path).open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(TRACE_COLUMNS + ("user",))
        for k in range(workload.n):
            w.writerow([repr(float(workload.arrival_s[k])), workload.model_names[workload.model[k]],
                        repr(float(workload.data_bits[k])), repr(float(workload.deadline_s[k])),
                        repr(float(gain[k])), int(workload.user[k])])
