"""Zoos and instances that the executor tests (CPU and GPU) serve; no test library beyond torch."""

import plcore
from plcore.gpu.zoo import build_zoo


def zoo_and_instance(order=(0, 1, 1, 0, 2, 3, 2)):
    """Two clusters of two ResNet-18s (width 1/8) sharing their first 7 blocks, and users of them
    in ``order`` (model indices): switches that share blocks, that share none, and repeats."""
    zoo = build_zoo("resnet18", n_clusters=2, models_per_cluster=2, shared_depth=7, scale=0.125)
    names = list(zoo.models)
    return zoo, instance_of(zoo, [names[i] for i in order])


def instance_of(zoo, models):
    """An instance of ``zoo`` with one user of each of ``models`` (in that order); its times are
    placeholders (the executors measure their own)."""
    d = zoo.instance_dict({m: 1e-3 for m in zoo.models},
                          loader={"bandwidth_Bps": 1e9, "overhead_s": 0.0})
    d.update(users=[{"model": m, "data_bits": 1.0, "deadline_s": 10.0, "spectral_eff": 1.0}
                    for m in models], rate="linear", bandwidth_hz=1e6)
    return plcore.Instance.from_dict(d)
