"""A small catalogue of models in clusters sharing a backbone, without the study wing.

The online wing takes any :class:`~plcore.Instance` as its catalogue (blocks, models, loader,
noise and total bandwidth; its users are ignored). :func:`cluster_catalogue` builds a paper-like
one from a few numbers, so that tests, benchmarks and the command line need no profile file; the
study wing's scenarios (``plcore.study.scenarios.make_instance``) give catalogues with measured
block sizes.
"""

from __future__ import annotations

import numpy as np

from ..model import radio
from ..model.instance import Instance

__all__ = ["cluster_catalogue", "whole_server_rate"]


def cluster_catalogue(n_clusters: int = 2, models_per_cluster: int = 5, *,
                      backbone_blocks: int = 17, backbone_bytes: float = 94.2e6,
                      head_bytes: float = 8.2e6, load_Bps: float = 5.12e9,
                      overhead_s: float = 1e-5, infer_s: float = 0.0064,
                      bandwidth_hz: float = 20e6) -> Instance:
    """Clusters of models fine-tuned from one backbone each: bottom-layer sharing.

    Each cluster has ``backbone_blocks`` blocks of ``backbone_bytes / backbone_blocks`` bytes
    shared by its models; each model adds one private head block of ``head_bytes``. Block load
    time ``overhead_s + bytes / load_Bps``. Defaults: about ResNet-50 (102 MB a model, 20 ms to
    load it whole, 6.4 ms inference), 20 MHz of uplink, TR 36.814 noise.

    Parameters
    ----------
    n_clusters, models_per_cluster : int
    backbone_blocks : int
    backbone_bytes, head_bytes : float
        Bytes (B).
    load_Bps : float
        Host-to-GPU copy bandwidth (B/s).
    overhead_s, infer_s : float
        Per-block load overhead and per-request inference time (s).
    bandwidth_hz : float
        Total uplink bandwidth ``B`` (Hz).

    Returns
    -------
    Instance
        With no users; models named ``c{cluster}m{model}``.

    Examples
    --------
    >>> from plcore.online.catalogue import cluster_catalogue
    >>> cat = cluster_catalogue()
    >>> len(cat.models), len(cat.blocks), round(cat.model_load_s("c0m0"), 4)
    (10, 44, 0.0202)
    """
    blocks, models = {}, {}
    per = backbone_bytes / backbone_blocks
    for c in range(n_clusters):
        shared = [f"c{c}.b{j}" for j in range(backbone_blocks)]
        for b in shared:
            blocks[b] = {"bytes": per, "load_s": overhead_s + per / load_Bps}
        for i in range(models_per_cluster):
            head = f"c{c}m{i}.head"
            blocks[head] = {"bytes": head_bytes, "load_s": overhead_s + head_bytes / load_Bps}
            models[f"c{c}m{i}"] = {"blocks": shared + [head], "infer_s": infer_s}
    return Instance.from_dict({"blocks": blocks, "models": models, "users": [],
                               "noise_psd_w_hz": radio.noise_psd_w_hz(),
                               "bandwidth_hz": bandwidth_hz})


def whole_server_rate(catalogue: Instance) -> float:
    """The traditional server's capacity (requests/s): ``1 / (L + infer_s)`` with ``L`` the mean
    whole-model load time and ``infer_s`` the mean inference time over the catalogue's models.

    Examples
    --------
    >>> from plcore.online import cluster_catalogue
    >>> round(whole_server_rate(cluster_catalogue()), 1)       # 1 / (20.2 ms + 6.4 ms)
    37.6
    """
    names = list(catalogue.models)
    per = [catalogue.model_load_s(m) + catalogue.models[m].infer_s for m in names]
    return 1.0 / float(np.mean(per))
