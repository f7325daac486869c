"""Small random instances for tests, examples and exercises (not the paper's scenarios).

Two sharing structures (MODEL.md section 3):

* ``"bottom"``: clusters of models; each cluster's models share a backbone of ``depth`` bottom
  blocks, a random number of which are shared by each pair, then carry private heads (a tree of
  layers);
* ``"general"``: each model draws its blocks from a common pool, shared at arbitrary positions.

Every number comes from the ``numpy.random.Generator`` passed in: same seed, same instance.
"""

from __future__ import annotations

import numpy as np

from ..model.instance import Instance

__all__ = ["random_instance", "binding_instance"]


def random_instance(rng: np.random.Generator | int, n_users: int = 6, n_models: int = 3, *,
                    structure: str = "general", n_blocks: int = 6, depth: int = 3,
                    deadline_s: tuple[float, float] = (0.02, 0.12), common_deadline: bool = False,
                    bandwidth_hz: float = 2e7, rate: str = "shannon",
                    data_bits: tuple[float, float] = (2e5, 2e6)) -> Instance:
    """A random instance with per-block load times of a few milliseconds.

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Source of randomness (an int is used as a seed).
    n_users, n_models : int
        Number of users and of models.
    structure : {"general", "bottom"}
        Sharing structure (see the module docstring).
    n_blocks : int
        Pool size for ``"general"``.
    depth : int
        Backbone depth for ``"bottom"`` (a tree: blocks ``t0..t{depth-1}`` shared as prefixes).
    deadline_s : (low, high)
        Deadlines are uniform in this range (s).
    common_deadline : bool
        One deadline for all users (the DP's setting).
    bandwidth_hz : float
        Total uplink bandwidth (Hz): small values make it bind.
    rate : {"shannon", "linear"}
    data_bits : (low, high)
        Input sizes, log-uniform in this range (bit).

    Returns
    -------
    Instance
    """
    rng = np.random.default_rng(rng)
    blocks: dict[str, dict] = {}

    def block(name: str, lo: float = 1e-3, hi: float = 8e-3) -> str:
        if name not in blocks:
            load = float(rng.uniform(lo, hi))
            blocks[name] = {"bytes": round(load * 2.5e10), "load_s": load}
        return name

    models: dict[str, dict] = {}
    if structure == "general":
        pool = [block(f"b{j}") for j in range(n_blocks)]
        for i in range(n_models):
            size = int(rng.integers(1, n_blocks + 1))
            chosen = sorted(rng.choice(n_blocks, size=size, replace=False).tolist())
            models[f"m{i}"] = {"blocks": [pool[j] for j in chosen]}
    elif structure == "bottom":
        # Model i shares its first l_i <= depth backbone blocks of a random cluster, so any two
        # models share exactly a common prefix (a tree of layers), then has a private head.
        n_clusters = max(1, int(rng.integers(1, n_models + 1)))
        for i in range(n_models):
            c = int(rng.integers(n_clusters))
            shared = int(rng.integers(0, depth + 1))
            path = [block(f"c{c}.t{j}") for j in range(shared)]
            # Private blocks above the shared prefix; named by model so no one else has them.
            private = [block(f"m{i}.p{j}", 1e-4, 2e-3) for j in range(1 + depth - shared)]
            models[f"m{i}"] = {"blocks": path + private}
    else:
        raise ValueError(f"structure must be 'general' or 'bottom', got {structure!r}")
    for m in models.values():
        m["infer_s"] = float(rng.uniform(1e-3, 6e-3))

    names = list(models)
    common = float(rng.uniform(*deadline_s))
    users = []
    for _ in range(n_users):
        u = {"model": names[int(rng.integers(n_models))],
             "data_bits": float(np.exp(rng.uniform(*np.log(data_bits)))),
             "deadline_s": common if common_deadline else float(rng.uniform(*deadline_s))}
        if rate == "shannon":
            u["power_w"] = 0.2
            u["channel_gain"] = float(10 ** rng.uniform(-12, -10))
        else:
            u["spectral_eff"] = float(rng.uniform(1.0, 8.0))
        users.append(u)
    d = {"blocks": blocks, "models": models, "users": users, "bandwidth_hz": bandwidth_hz,
         "rate": rate, "meta": {"generator": "plcore.study.synthetic.random_instance",
                                "structure": structure}}
    if rate == "shannon":
        d["noise_psd_w_hz"] = 10 ** (-174 / 10) * 1e-3   # -174 dBm/Hz
    return Instance.from_dict(d)


def binding_instance(rng: np.random.Generator | int, n_users: int | None = None) -> Instance:
    """A small bottom-sharing instance with a common deadline whose bandwidth budget binds hard.

    The DP's hardest setting, drawn more adversarially than :func:`random_instance`'s defaults:
    8 to 10 users (unless ``n_users``), 2 to 8 models on a backbone of 2 to 5 blocks, one
    deadline for all drawn from 20 to 300 ms, Shannon or linear rate, inputs up to 2 or 5 Mbit,
    a budget log-uniform in 2 to 20 MHz, and in 3 draws of 10 some of the first model's bottom
    blocks resident on the GPU at t = 0 (a resident path the schedule need not start from).

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Source of randomness (an int is used as a seed).
    n_users : int, optional

    Returns
    -------
    Instance

    Examples
    --------
    >>> from plcore.study.synthetic import binding_instance
    >>> inst = binding_instance(0)
    >>> 8 <= inst.n_users <= 10, 2e6 <= inst.bandwidth_hz <= 2e7
    (True, True)
    """
    rng = np.random.default_rng(rng)
    n = int(rng.integers(8, 11)) if n_users is None else n_users
    m = int(rng.integers(2, 9))
    depth = int(rng.integers(2, 6))
    bw = float(np.exp(rng.uniform(np.log(2e6), np.log(2e7))))
    lo = float(rng.uniform(0.02, 0.15))
    inst = random_instance(rng, n, m, structure="bottom", common_deadline=True, bandwidth_hz=bw,
                           depth=depth, deadline_s=(lo, 2 * lo),
                           rate=str(rng.choice(["shannon", "linear"])),
                           data_bits=(2e5, float(rng.choice([2e6, 5e6]))))
    if rng.random() < 0.3:
        first = next(iter(inst.to_dict()["models"].values()))["blocks"]
        inst = inst.replace(resident=first[: max(1, len(first) // 2)])
    return inst
