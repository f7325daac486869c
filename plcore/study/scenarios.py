"""Paper-like scenarios: users in a cell, a zoo of fine-tuned models, block sizes from a profile.

A :class:`Scenario` is a small typed record of parameters with documented defaults;
:func:`make_instance` draws one :class:`~plcore.Instance` from it with a seed. Same scenario and
seed, same instance.

Defaults and their sources
--------------------------
* **Cell**: users dropped uniformly (in area) in a disc of ``radius_m = 300`` m, at least
  ``min_distance_m = 35`` m from the base station (3GPP TR 36.814's minimum distance).
* **Channel**: path loss 128.1 + 37.6 log10(d / km) dB with 8 dB log-normal shadowing (3GPP
  TR 36.814 macro-cell model, the usual choice in edge-inference papers); 0.2 W transmit power;
  thermal noise -174 dBm/Hz and a 5 dB receiver noise figure (TR 36.814's base station), see
  :mod:`plcore.model.radio` for the spectral efficiencies they give.
* **Uplink**: 20 MHz in total (swept over 10-100 MHz in the book).
* **Inputs**: a raw 224 x 224 x 3 image, 8 bits per value: 1,204,224 bits (150 kB);
  ``compression_ratio`` divides it (a JPEG of that image is about ten times smaller).
* **Deadline**: 200 ms for every user by default; a pair ``(low, high)`` draws per-user deadlines.
* **Models**: ``n_clusters`` pretrained networks (distinct weights, same ``architecture``), each
  fine-tuned into ``models_per_cluster`` models. With ``sharing="bottom"`` the first
  ``shared_depth`` blocks of a cluster are frozen and shared; the blocks above are private to each
  model (bottom-layer sharing, as in the paper's backbone case). With ``sharing="general"``
  each model re-trains ``private_blocks`` blocks at random positions (not the bottom ones only)
  and shares the others with its cluster: blocks are shared at arbitrary positions.
* **LoRA-style adapters** (``sharing="lora"``): each model keeps its cluster's whole pretrained
  network frozen and shared, except the head (a new task's classifier, private to the model),
  and adds a small private adapter after each of the top ``adapter_blocks`` blocks below the
  head (None: every block below the head; e.g. 12, a ViT-B's encoder blocks, leaving the
  patch embedding unadapted, as LoRA adapts the attention layers). An adapter holds
  ``adapter_fraction`` of the bytes of the block it adapts (default 0.35 %): rank-r LoRA on the
  query and value projections of a ViT-B encoder block (width d = 768) adds ``2 x 2 r d``
  parameters to its ``12 d^2``, 0.35 % for r = 8 (Hu et al., 2021, "LoRA: Low-Rank Adaptation
  of Large Language Models", which adapts the query and value projections with r = 8 in its
  RoBERTa experiments). Adapter load times follow the loader path's
  ``overhead_s + bytes / bandwidth_Bps``; inference time is unchanged (adapters merged or
  negligible). Every two models of a cluster share every backbone block, at every position.
* **Partially fine-tuned middle blocks** (``sharing="middle"``): each model re-trains a
  contiguous run of ``private_blocks`` blocks starting at ``private_start`` (None: centred) and
  shares the blocks below and above it, head included, with its cluster (domain adaptation of
  the middle layers, the task unchanged).
* **Times**: block sizes come from the profile (``data/profiles/<profile>.json``); a block's load
  time is the profile's per-block time for ``loader_path`` if measured, else
  ``overhead_s + bytes / bandwidth_Bps`` of that path; inference time from the profile. The
  default path, ``torch_to``, is torch's ordinary copy from pageable memory: the unoptimised path,
  on which loading dominates as in the paper's measurement.
* **Requests**: each user asks for a model drawn uniformly, or Zipf-distributed with exponent
  ``zipf`` > 0 (popular models first).

Named presets (``data/scenarios/<name>.json``, each with its provenance) are read by
:func:`load_scenario`; :func:`scenario_names` lists them. The ``"lora"`` and ``"middle"``
structures draw no random numbers: a seed gives the same users, requests and deadlines as with
``"bottom"``, only the models differ.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from ..gpu.profile import block_load_s, validate_profile
from ..model import radio
from ..model.instance import Instance
from .. import paths
from ..paths import PROFILES

__all__ = ["Scenario", "make_instance", "load_profile", "load_scenario", "scenario_names",
           "IMAGE_BITS", "SHARINGS"]

IMAGE_BITS = 224 * 224 * 3 * 8
SHARINGS = ("bottom", "general", "lora", "middle")

# Parameters added after instances were first published: written by ``to_dict`` only when they
# differ from their defaults, so that the meta of every instance drawn before stays byte-identical.
_LATER = {"adapter_blocks": None, "adapter_fraction": 0.0035, "private_start": None}


@dataclass(frozen=True)
class Scenario:
    """Parameters of a paper-like scenario (see the module docstring for sources)."""

    n_users: int = 20
    radius_m: float = 300.0
    min_distance_m: float = radio.MIN_DISTANCE_M
    shadowing_std_db: float = 8.0
    power_w: float = radio.POWER_W
    noise_dbm_hz: float = radio.NOISE_DBM_HZ
    noise_figure_db: float = radio.NOISE_FIGURE_DB
    bandwidth_hz: float = 20e6
    compression_ratio: float = 1.0
    deadline_s: float | tuple[float, float] = 0.2
    architecture: str = "resnet50"
    n_clusters: int = 2
    models_per_cluster: int = 5
    sharing: str = "bottom"
    shared_depth: int = 17
    private_blocks: int = 2
    loader_path: str = "torch_to"
    profile: str = "synthetic"
    zipf: float = 0.0
    adapter_blocks: int | None = None
    adapter_fraction: float = 0.0035
    private_start: int | None = None
    meta: dict = field(default_factory=dict, compare=False)

    def replace(self, **changes) -> "Scenario":
        """A copy with some parameters changed, validated."""
        d = asdict(self)
        d.update(changes)
        return Scenario.from_dict(d)

    @classmethod
    def from_dict(cls, d: dict) -> "Scenario":
        """Build from a dict (e.g. a JSON scenario file), rejecting unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"scenario: unknown key(s) {', '.join(map(repr, unknown))}")
        d = dict(d)
        if isinstance(d.get("deadline_s"), list):
            d["deadline_s"] = tuple(d["deadline_s"])
        sc = cls(**d)
        sc.validate()
        return sc

    def to_dict(self) -> dict:
        """The parameters as a dict (JSON-ready but for a deadline range, a tuple); parameters
        added later (adapters, ``private_start``) only where they differ from their defaults."""
        d = asdict(self)
        for key, default in _LATER.items():
            if d[key] == default:
                del d[key]
        return d

    def describe(self) -> str:
        """The scenario in words, for prose that must not retype its numbers.

        Examples
        --------
        >>> Scenario().describe()[:60]
        'users in a 300 m cell, 20 MHz of uplink in total, 2 clusters'
        """
        dl = self.deadline_s
        deadline = (f"per-user deadlines drawn from {1e3 * dl[0]:g} to {1e3 * dl[1]:g} ms"
                    if isinstance(dl, tuple) else f"a common {1e3 * dl:g} ms deadline")
        if self.sharing == "bottom":
            sharing = f"each cluster's models sharing their {self.shared_depth} bottom blocks"
        elif self.sharing == "general":
            sharing = (f"each model re-training {self.private_blocks} blocks at random positions "
                       "and sharing the rest with its cluster")
        elif self.sharing == "lora":
            adapted = ("every block below the head" if self.adapter_blocks is None
                       else f"{self.adapter_blocks} blocks")
            sharing = ("each model sharing its cluster's whole network but the head, with "
                       f"private adapters of {100 * self.adapter_fraction:g} % of the bytes "
                       f"of {adapted}")
        else:
            start = ("in the middle" if self.private_start is None
                     else f"from block {self.private_start}")
            sharing = (f"each model re-training {self.private_blocks} consecutive blocks "
                       f"{start} and sharing the blocks below and above with its cluster")
        requests = (f"models requested Zipf-distributed (exponent {self.zipf:g})" if self.zipf
                    else "models requested uniformly")
        return (f"users in a {self.radius_m:g} m cell, {self.bandwidth_hz / 1e6:g} MHz of uplink "
                f"in total, {self.n_clusters} clusters of {self.models_per_cluster} models "
                f"fine-tuned from {self.architecture}, {sharing}, {deadline}, {requests}, "
                f"and block load times of the {self.profile} profile's {self.loader_path} path")

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad parameter."""
        self._validated_profile()

    def _validated_profile(self) -> dict:
        """:meth:`validate`, returning the scenario's profile (read once, for the checks and the
        caller)."""
        positive = ("n_users", "radius_m", "power_w", "bandwidth_hz", "compression_ratio",
                    "n_clusters", "models_per_cluster")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"scenario.{name}: must be > 0, got {getattr(self, name)!r}")
        if not self.noise_figure_db >= 0:
            raise ValueError(f"scenario.noise_figure_db: must be >= 0 dB, got {self.noise_figure_db!r}")
        if not 0 < self.min_distance_m < self.radius_m:
            raise ValueError("scenario.min_distance_m: must be in (0, radius_m)")
        dl = self.deadline_s
        if isinstance(dl, tuple):
            if len(dl) != 2 or not 0 < dl[0] <= dl[1]:
                raise ValueError(f"scenario.deadline_s: need 0 < low <= high, got {dl!r}")
        elif not dl > 0:
            raise ValueError(f"scenario.deadline_s: must be > 0, got {dl!r}")
        if self.sharing not in SHARINGS:
            raise ValueError(f"scenario.sharing: one of {', '.join(map(repr, SHARINGS))}, "
                             f"got {self.sharing!r}")
        if self.zipf < 0:
            raise ValueError("scenario.zipf: must be >= 0")
        profile = load_profile(self.profile)
        arch = profile["architectures"]
        if self.architecture not in arch:
            raise ValueError(f"scenario.architecture: {self.architecture!r} is not in profile "
                             f"{self.profile!r} (has {', '.join(arch)})")
        n_blocks = len(arch[self.architecture]["blocks"])
        # shared_depth is read by bottom sharing only: another architecture with other sharing
        # need not bring a depth it would not use.
        if self.sharing == "bottom" and not 0 <= self.shared_depth < n_blocks:
            raise ValueError(f"scenario.shared_depth: must be in 0..{n_blocks - 1} for "
                             f"{self.architecture} ({n_blocks} blocks; the head stays private)")
        if not 1 <= self.private_blocks <= n_blocks:
            raise ValueError(f"scenario.private_blocks: must be in 1..{n_blocks}")
        if self.adapter_blocks is not None and not (
                isinstance(self.adapter_blocks, int) and 1 <= self.adapter_blocks < n_blocks):
            raise ValueError(f"scenario.adapter_blocks: must be None or in 1..{n_blocks - 1} for "
                             f"{self.architecture} (the blocks below the head), "
                             f"got {self.adapter_blocks!r}")
        if not 0 < self.adapter_fraction <= 1:
            raise ValueError("scenario.adapter_fraction: must be in (0, 1], got "
                             f"{self.adapter_fraction!r}")
        if self.sharing == "middle":
            if not self.private_blocks <= n_blocks - 2:
                raise ValueError(f"scenario.private_blocks: must be in 1..{n_blocks - 2} with "
                                 f"middle sharing of {self.architecture} (a shared block below "
                                 "and above)")
            if self.private_start is not None and not (
                    isinstance(self.private_start, int)
                    and 1 <= self.private_start <= n_blocks - 1 - self.private_blocks):
                raise ValueError(f"scenario.private_start: must be None or in "
                                 f"1..{n_blocks - 1 - self.private_blocks} for "
                                 f"{self.private_blocks} private blocks of {self.architecture}, "
                                 f"got {self.private_start!r}")
        if self.loader_path not in profile["paths"]:
            raise ValueError(f"scenario.loader_path: {self.loader_path!r} is not a path of "
                             f"profile {self.profile!r}")
        return profile


def load_profile(name: str) -> dict:
    """Read ``data/profiles/<name>.json`` (or a path to a profile file)."""
    path = Path(name) if name.endswith(".json") else PROFILES / f"{name}.json"
    if not path.exists():
        raise ValueError(f"profile {name!r}: no file {path}")
    # Read anew every time (a few microseconds): a process that lives on, such as a notebook's
    # kernel or a sweep's worker, must see an edited profile, as the sweep's cache key does.
    profile = json.loads(path.read_text())
    validate_profile(profile)
    return profile


def _adapted_blocks(sc: Scenario, n_arch: int) -> set[int]:
    """Indices of the blocks that carry an adapter (LoRA sharing; none otherwise): the top
    ``adapter_blocks`` of the ``n_arch - 1`` blocks below the head (all of them for None)."""
    if sc.sharing != "lora":
        return set()
    below = n_arch - 1
    k = below if sc.adapter_blocks is None else sc.adapter_blocks
    return set(range(below - k, below))


def scenario_names() -> list[str]:
    """The named presets: the stems of ``data/scenarios/*.json``, sorted."""
    return sorted(p.stem for p in (Path(paths.DATA) / "scenarios").glob("*.json"))


_PRESET_KEYS = {"description", "source", "scenario"}


def load_scenario(name: str) -> Scenario:
    """A named preset scenario (``data/scenarios/<name>.json``), or one read from a path.

    A preset file holds ``"description"`` (what it models, in words), ``"source"`` (where its
    numbers come from) and ``"scenario"`` (:class:`Scenario` parameters; unset ones keep their
    defaults). Nothing else is accepted: an unknown key, at the top or among the parameters, is
    an error naming it.

    Parameters
    ----------
    name : str
        A preset name (see :func:`scenario_names`), or a path ending in ``.json``.

    Returns
    -------
    Scenario
        Validated, with ``meta`` holding the preset's ``name``, ``description`` and ``source``.

    Raises
    ------
    ValueError
        For an unknown preset (the message lists the known ones), a file that is not a JSON
        object, a missing or unknown key, or a bad parameter.

    Examples
    --------
    >>> from plcore.study.scenarios import load_scenario, make_instance
    >>> sc = load_scenario("lora-resnet50")
    >>> sc.sharing, make_instance(sc, seed=0, n_users=10).n_users
    ('lora', 10)

    Notes
    -----
    Reads one small file; O(size of the file).
    """
    path = Path(name) if name.endswith(".json") else Path(paths.DATA) / "scenarios" / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"scenario preset {name!r}: no file {path} (presets: "
                         f"{', '.join(scenario_names())})")
    try:
        d = json.loads(path.read_text())
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        raise ValueError(f"scenario preset {name!r}: not valid JSON ({exc})") from None
    if not isinstance(d, dict):
        raise ValueError(f"scenario preset {name!r}: expected a JSON object")
    unknown = sorted(set(d) - _PRESET_KEYS)
    if unknown:
        raise ValueError(f"scenario preset {name!r}: unknown key(s) {', '.join(map(repr, unknown))}"
                         f" (allowed: {', '.join(sorted(_PRESET_KEYS))})")
    missing = sorted(_PRESET_KEYS - set(d))
    if missing:
        raise ValueError(f"scenario preset {name!r}: missing key(s) "
                         f"{', '.join(map(repr, missing))}")
    for key in ("description", "source"):
        if not isinstance(d[key], str) or not d[key].strip():
            raise ValueError(f"scenario preset {name!r}: {key!r} must be a non-empty string")
    params = d["scenario"]
    if not isinstance(params, dict):
        raise ValueError(f"scenario preset {name!r}: 'scenario' must be an object of parameters")
    if "meta" in params:
        raise ValueError(f"scenario preset {name!r}: 'scenario' may not set 'meta' (the preset's "
                         "description and source go there)")
    try:
        sc = Scenario.from_dict(params)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"scenario preset {name!r}: {exc}") from None
    return sc.replace(meta={"name": path.stem, "description": d["description"],
                            "source": d["source"]})


def make_instance(scenario: Scenario | None = None, seed: int = 0, **changes) -> Instance:
    """Draw an instance of ``scenario`` (default :class:`Scenario`) with ``seed``.

    Parameters
    ----------
    scenario : Scenario, optional
    seed : int
        Seeds ``numpy.random.default_rng``: positions, shadowing, requests, per-user deadlines and
        the private positions of general sharing.
    **changes
        Scenario parameters to override, e.g. ``n_users=50``.

    Returns
    -------
    Instance
        With ``meta`` recording the scenario and the seed.

    Examples
    --------
    >>> from plcore.study.scenarios import make_instance
    >>> inst = make_instance(seed=1, n_users=12, n_clusters=3)
    >>> inst.n_users, len(inst.models)
    (12, 15)
    """
    sc = scenario or Scenario()
    if changes:
        sc = sc.replace(**changes)
    prof = sc._validated_profile()      # a Scenario built directly was never validated
    rng = np.random.default_rng(seed)
    arch = prof["architectures"][sc.architecture]
    load_s = block_load_s(prof, sc.architecture, sc.loader_path)
    base = arch["blocks"]
    infer = float(arch["infer_s"]["1"])
    n_arch = len(base)

    blocks: dict[str, dict] = {}
    models: dict[str, dict] = {}

    def add(name: str, j: int) -> str:
        blocks[name] = {"bytes": float(base[j]["bytes"]), "load_s": load_s[j]}
        return name

    path = prof["paths"][sc.loader_path]
    adapted = _adapted_blocks(sc, n_arch)
    for c in range(sc.n_clusters):
        for i in range(sc.models_per_cluster):
            if sc.sharing == "bottom":
                private = set(range(sc.shared_depth, n_arch))
            elif sc.sharing == "general":
                private = set(rng.choice(n_arch, size=sc.private_blocks, replace=False).tolist())
            elif sc.sharing == "lora":
                private = {n_arch - 1}                     # the new task's head
            else:
                start = (n_arch - sc.private_blocks) // 2 if sc.private_start is None \
                    else sc.private_start
                private = set(range(start, start + sc.private_blocks))
            names = []
            for j, b in enumerate(base):
                names.append(add(f"c{c}m{i}.{b['name']}" if j in private
                                 else f"c{c}.{b['name']}", j))
                if j in adapted:
                    name = f"c{c}m{i}.{b['name']}.adapter"
                    size = sc.adapter_fraction * float(b["bytes"])
                    blocks[name] = {"bytes": size,
                                    "load_s": path["overhead_s"] + size / path["bandwidth_Bps"]}
                    names.append(name)
            models[f"{sc.architecture}-c{c}-m{i}"] = {"blocks": names, "infer_s": infer}

    # Users: uniform in the annulus (by area), shadowing, requests, deadlines.
    gain = radio.cell_gains(rng, sc.n_users, sc.radius_m, sc.min_distance_m, sc.shadowing_std_db)
    names = list(models)
    if sc.zipf > 0:
        p = 1.0 / np.arange(1, len(names) + 1) ** sc.zipf
        req = rng.choice(len(names), size=sc.n_users, p=p / p.sum())
    else:
        req = rng.integers(len(names), size=sc.n_users)
    if isinstance(sc.deadline_s, tuple):
        deadlines = rng.uniform(*sc.deadline_s, sc.n_users)
    else:
        deadlines = np.full(sc.n_users, float(sc.deadline_s))
    users = [{"model": names[req[k]], "data_bits": IMAGE_BITS / sc.compression_ratio,
              "deadline_s": float(deadlines[k]), "power_w": sc.power_w,
              "channel_gain": float(gain[k])} for k in range(sc.n_users)]
    return Instance.from_dict({
        "blocks": blocks, "models": models, "users": users,
        "noise_psd_w_hz": radio.noise_psd_w_hz(sc.noise_dbm_hz, sc.noise_figure_db),
        "bandwidth_hz": sc.bandwidth_hz, "rate": "shannon", "resident": [],
        "meta": {"scenario": sc.to_dict(), "seed": seed, "profile": prof.get("device"),
                 "profile_synthetic": bool(prof.get("synthetic", False))},
    })
