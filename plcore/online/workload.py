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
    to the arrival; gain linear) and optionally ``user``. Arrival times must not decrease. A bad
    row raises :class:`~plcore.errors.InstanceError` naming the line and the column.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InstanceError
from ..model import radio
from ..model.instance import Instance

__all__ = ["Workload", "generate", "read_trace", "write_trace", "from_instance",
           "POPULARITIES", "IMAGE_BITS", "TRACE_COLUMNS"]

IMAGE_BITS = 224 * 224 * 3 * 8          # a raw 224 x 224 x 3 image, 8 bits a value (bit)
POPULARITIES = ("uniform", "zipf", "hot")
TRACE_COLUMNS = ("arrival_s", "model", "data_bits", "deadline_s", "channel_gain")

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
    rate_hz : float
        Mean arrival rate (requests/s), > 0.
    seed : int
        Seeds ``numpy.random.default_rng`` and the fading hash.
    cv : float
        Coefficient of variation of the inter-arrival times (1: Poisson; > 1: bursty), > 0.
    popularity : {"uniform", "zipf", "hot"}
    zipf_alpha : float
        Zipf exponent (``popularity="zipf"``), >= 0.
    hot_models, hot_share
        ``popularity="hot"``: that many models get that share of the requests.
    data_bits : float or (low, high)
        Input size (bit), fixed or uniform in the range.
    deadline_s : float or (low, high)
        Relative deadline (s), fixed or uniform in the range.
    n_users : int
        Users in the cell; each request comes from one drawn uniformly.
    radius_m, min_distance_m, shadowing_std_db, power_w
        Cell and link budget, as in :mod:`plcore.model.radio`.
    coherence_s : float
        Block-fading interval (s); ``inf`` (default) for no fading.

    Returns
    -------
    Workload

    Raises
    ------
    InstanceError
        For a bad parameter (named) or a catalogue without the Shannon rate.

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
    checks = {"n_requests": n_requests >= 0, "rate_hz": rate_hz > 0, "cv": cv > 0,
              "zipf_alpha": zipf_alpha >= 0, "n_users": n_users >= 1,
              "hot_share": 0 <= hot_share <= 1, "power_w": power_w > 0,
              "min_distance_m": 0 < min_distance_m < radius_m,
              "coherence_s": coherence_s > 0, "shadowing_std_db": shadowing_std_db >= 0}
    for name, ok in checks.items():
        if not ok:
            raise InstanceError(f"workload.{name}: out of range, got {locals()[name]!r}")
    if popularity not in POPULARITIES:
        raise InstanceError(f"workload.popularity: one of {POPULARITIES}, got {popularity!r}")
    names = tuple(catalogue.models)
    M = len(names)
    if popularity == "hot" and not 1 <= hot_models <= M:
        raise InstanceError(f"workload.hot_models: must be in 1..{M}, got {hot_models!r}")

    rng = np.random.default_rng(seed)
    shape = 1.0 / cv ** 2
    gaps = rng.gamma(shape, 1.0 / (rate_hz * shape), n_requests)
    arrival = np.cumsum(gaps)

    if popularity == "uniform":
        p = np.full(M, 1.0 / M)
    elif popularity == "zipf":
        p = 1.0 / np.arange(1, M + 1) ** zipf_alpha
        p /= p.sum()
    else:
        cold = M - hot_models
        p = np.full(M, (1.0 - hot_share) / cold if cold else 0.0)
        p[:hot_models] = hot_share / hot_models if cold else 1.0 / M
        p /= p.sum()
    model = rng.choice(M, size=n_requests, p=p)

    def draw(value, name):
        if isinstance(value, (tuple, list)):
            lo, hi = map(float, value)
            if not 0 <= lo <= hi:
                raise InstanceError(f"workload.{name}: need 0 <= low <= high, got {value!r}")
            return rng.uniform(lo, hi, n_requests)
        return np.full(n_requests, float(value))

    data = draw(data_bits, "data_bits")
    deadline = draw(deadline_s, "deadline_s")
    if n_requests and not (deadline > 0).all():
        raise InstanceError(f"workload.deadline_s: must be > 0, got {deadline_s!r}")

    user_gain = radio.cell_gains(rng, n_users, radius_m, min_distance_m, shadowing_std_db)
    user = rng.integers(n_users, size=n_requests)
    return Workload(names, arrival, model.astype(np.int64), data, deadline, user.astype(np.int64),
                    user_gain[user], float(power_w), float(coherence_s), int(seed))


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
        ``trace.csv line 7, column 'deadline_s': must be > 0, got '-1'``: one line naming the
        row and the column, for a missing column, a non-number, a NaN or infinite value, an
        out-of-range value, an unknown model or a decreasing arrival time.

    Notes
    -----
    O(n) time; rows are parsed by the standard ``csv`` module.
    """
    _check_catalogue(catalogue)
    names = tuple(catalogue.models)
    index = {m: i for i, m in enumerate(names)}
    path = Path(path)
    if not path.exists():
        raise InstanceError(f"{path}: no such trace file")
    cols = {c: [] for c in TRACE_COLUMNS + ("user",)}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in TRACE_COLUMNS if c not in header]
        if missing:
            raise InstanceError(f"{path} line 1: missing column(s) {', '.join(missing)} "
                                f"(need {', '.join(TRACE_COLUMNS)})")
        has_user = "user" in header
        last = -math.inf
        for row in reader:
            line = reader.line_num
            where = f"{path} line {line}"

            def num(col, lo, strict=False):
                text = row.get(col)
                try:
                    v = float(text)
                except (TypeError, ValueError):
                    raise InstanceError(f"{where}, column {col!r}: not a number: {text!r}") from None
                if not math.isfinite(v):
                    raise InstanceError(f"{where}, column {col!r}: must be finite, got {text!r}")
                if v < lo or (strict and v == lo):
                    raise InstanceError(f"{where}, column {col!r}: must be {'>' if strict else '>='}"
                                        f" {lo:g}, got {text!r}")
                return v

            t = num("arrival_s", 0.0)
            if t < last:
                raise InstanceError(f"{where}, column 'arrival_s': {t:g} is earlier than the "
                                    f"previous row's {last:g} (rows must be in arrival order)")
            last = t
            m = row.get("model")
            if m not in index:
                raise InstanceError(f"{where}, column 'model': unknown model {m!r}")
            cols["arrival_s"].append(t)
            cols["model"].append(index[m])
            cols["data_bits"].append(num("data_bits", 0.0))
            cols["deadline_s"].append(num("deadline_s", 0.0, strict=True))
            cols["channel_gain"].append(num("channel_gain", 0.0, strict=True))
            if has_user:
                u = num("user", 0.0)
                if u != int(u):
                    raise InstanceError(f"{where}, column 'user': not an integer: {row['user']!r}")
                cols["user"].append(int(u))
    n = len(cols["arrival_s"])
    user = np.array(cols["user"], dtype=np.int64) if has_user else np.arange(n, dtype=np.int64)
    return Workload(names, np.array(cols["arrival_s"], dtype=float),
                    np.array(cols["model"], dtype=np.int64), np.array(cols["data_bits"], dtype=float),
                    np.array(cols["deadline_s"], dtype=float), user,
                    np.array(cols["channel_gain"], dtype=float), float(power_w))


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
