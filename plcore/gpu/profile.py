"""Device profiles (``data/profiles/*.json``): the schema, checked on every read.

A profile records what a device does with the model zoo's blocks: per-block load times per loading
path, inference latency per batch size, and provenance. ``synthetic`` profiles (computed sizes,
assumed times) carry less; measured ones must also carry the validation of the model against a
real run. :func:`validate_profile` names the first missing or bad entry.
"""

from __future__ import annotations

import math
import platform

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


def _need(d: dict, key: str, where: str):
    if key not in d:
        raise ValueError(f"profile {where}: missing {key!r}")
    return d[key]


def _positive(x, where: str) -> None:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x <= 0:
        raise ValueError(f"profile {where}: must be a positive number, got {x!r}")


def validate_profile(p: dict) -> None:
    """Raise ``ValueError`` naming the first entry that breaks the profile schema."""
    if _need(p, "schema", "") != SCHEMA:
        raise ValueError(f"profile schema: expected {SCHEMA!r}, got {p['schema']!r}")
    for key in ("device", "date"):
        _need(p, key, "")
    synthetic = _need(p, "synthetic", "")
    paths = _need(p, "paths", "")
    if not paths:
        raise ValueError("profile paths: empty")
    for name, path in paths.items():
        _positive(_need(path, "bandwidth_Bps", f"paths.{name}"), f"paths.{name}.bandwidth_Bps")
        if _need(path, "overhead_s", f"paths.{name}") < 0:
            raise ValueError(f"profile paths.{name}.overhead_s: must be >= 0")
    archs = _need(p, "architectures", "")
    for arch, a in archs.items():
        blocks = _need(a, "blocks", f"architectures.{arch}")
        if not blocks:
            raise ValueError(f"profile architectures.{arch}.blocks: empty")
        for i, b in enumerate(blocks):
            where = f"architectures.{arch}.blocks[{i}]"
            _need(b, "name", where)
            _positive(_need(b, "bytes", where), f"{where}.bytes")
            if not synthetic:
                load = _need(b, "load_s", where)
                for path in paths:
                    _positive(_need(load, path, f"{where}.load_s"), f"{where}.load_s.{path}")
        _positive(_need(_need(a, "infer_s", f"architectures.{arch}"), "1",
                        f"architectures.{arch}.infer_s"), f"architectures.{arch}.infer_s.1")
    if not synthetic:
        for key in ("torch", "driver", "h2d_pinned_peak_Bps", "method"):
            _need(p, key, "")
        _positive(_need(p, "loader_Bps", ""), "loader_Bps")
        v = _need(p, "validation", "")
        err = _need(v, "makespan_rel_err", "validation")
        if not (isinstance(err, (int, float)) and err >= 0):
            raise ValueError("profile validation.makespan_rel_err: must be a number >= 0")
        _need(v, "start_err_s", "validation")


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


def report(profile: dict) -> str:
    """A short plain-text account of a profile: provenance, loader, validation, per network."""
    validate_profile(profile)
    p = profile
    about = [f"{k} {p[k]}" for k in ("driver", "torch") if p.get(k)] + [p["date"]]
    about += ["synthetic: computed sizes, assumed times"] if p["synthetic"] else []
    lines = [f"{p['device']}  ({', '.join(about)})"]
    if p.get("h2d_pinned_peak_Bps"):
        lines.append(f"pinned host-to-device peak {p['h2d_pinned_peak_Bps'] / 1e9:.1f} GB/s")
    if p.get("loader_Bps"):
        lines.append(f"packed loader ({p.get('loader_path')}) {p['loader_Bps'] / 1e9:.1f} GB/s")
    v = p.get("validation")
    if v:
        runs = ", ".join(f"{100 * e:.1f}" for e in v.get("runs_makespan_rel_err", []))
        lines.append(f"validation ({v.get('arch')}, {v['users']} users): makespan error "
                     f"{100 * v['makespan_rel_err']:.2f} %" + (f" (runs: {runs} %)" if runs else ""))
    for arch, a in p["architectures"].items():
        loads = a.get("model_load_s") or {path: sum(block_load_s(p, arch, path))
                                          for path in p["paths"]}
        kind = "whole-model load" if "model_load_s" in a else "sum of block loads"
        parts = ", ".join(f"{path} {1e3 * t:.2f} ms" for path, t in loads.items())
        lines.append(f"{arch}: {kind}: {parts}; batch-1 inference {1e3 * a['infer_s']['1']:.2f} ms")
        if a.get("loader_issue_s"):
            lines.append(f"{arch}: CPU time to issue the packed_pinned load "
                         f"{1e3 * a['loader_issue_s']['median']:.2f} ms")
    if p.get("h2d_pinned_per_size_Bps"):
        lines.append("pinned copy rate by size: " + ", ".join(
            f"{mb} MB {r / 1e9:.1f} GB/s" for mb, r in p["h2d_pinned_per_size_Bps"].items()))
    for name, (value, target, met) in targets(p).items():
        cmp = ">=" if name == "loader_peak_ratio" else "<="
        lines.append(f"target {name}: {value:.3f} ({cmp} {target}) {'met' if met else 'NOT MET'}")
    return "\n".join(lines)
