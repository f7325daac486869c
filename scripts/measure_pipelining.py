"""Measure pipelined against sequential execution and add it to a copy of a device profile.

    PYTHONPATH=. python scripts/measure_pipelining.py PROFILE [--out OUT.json] [--section S.json]
        [--device cuda] [--archs resnet50 vit_b16] [--users 12] [--repeats 9] [--warmup 3]

Runs :func:`plcore.gpu.loadtime.measure_pipelining` (a schedule over a bottom-sharing zoo, served
by the sequential and the pipelined executors) and writes PROFILE with its ``pipelining`` section
to ``--out`` (default: PROFILE itself). After each architecture the profile so far is written
(to a temporary name, then renamed), so a failure or a time limit later loses nothing measured;
``--section`` also keeps the section alone. The profile is written only if it was measured on
this device (its ``device`` is this device's name): otherwise only the section is. Prints the
report of what was measured. Exit status: 0 when every architecture was measured with equal
outputs, 1 when one failed or differed, 3 when none was measured; bad input (an unreadable or
invalid profile): 2, one line ``plcore: error: ...`` on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` through a temporary name (never a half-written file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("profile", type=Path)
    ap.add_argument("--out", type=Path, default=None, help="default: PROFILE itself")
    ap.add_argument("--section", type=Path, default=None, help="also write the section alone")
    ap.add_argument("--device", default=None, help="default: cuda if present, else cpu")
    ap.add_argument("--archs", nargs="+", default=["resnet50", "vit_b16"])
    ap.add_argument("--users", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0)
    args = ap.parse_args(argv)

    from plcore.gpu.profile import read_profile, report, validate_profile

    try:
        prof = read_profile(args.profile)
    except ValueError as exc:
        print(f"plcore: error: {exc}", file=sys.stderr)
        return 2
    import torch

    from plcore.gpu.loadtime import device_info, measure_pipelining

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    here = device_info(torch.device(device))["device"]
    same = here == prof["device"]
    out = args.out or args.profile
    if not same:
        print(f"{args.profile} was measured on {prof['device']!r}, this is {here!r}: the profile "
              f"is left alone" + (f", the section goes to {args.section}" if args.section else ""))
    result = {}
    partial = out.with_name(out.name + ".partial")

    def checkpoint(section: dict) -> None:
        if args.section is not None:
            write_json(args.section, section)
        if not section["architectures"]:
            return
        new = {**prof, "pipelining": section}
        try:
            validate_profile(new)
        except ValueError as exc:          # kept for a look, never as a profile (*.json)
            result["invalid"] = str(exc)
            if same:
                write_json(partial, new)
            return
        result.pop("invalid", None)
        if same:
            write_json(out, new)
            result["profile"] = new

    section = measure_pipelining(device, tuple(args.archs), n_users=args.users,
                                 repeats=args.repeats, warmup=args.warmup, scale=args.scale,
                                 checkpoint=checkpoint)
    if "invalid" in result:
        print(f"pipelining: the measurement breaks the profile schema ({result['invalid']})"
              + (f"; kept in {partial}" if same else ""))
        return 1
    shown = {**prof, "pipelining": section}
    if section["architectures"]:
        print("\n".join(line for line in report(shown).splitlines()
                        if line.startswith("pipelining")))
        for arch, a in section["architectures"].items():
            print(f"pipelining {arch}: predicted pipelined makespan "
                  + ", ".join(f"{k} {1e3 * v:.2f} ms (error {100 * a['prediction_rel_err'][k]:.1f}"
                              f" %)" for k, v in a["predicted_pipelined_s"].items())
                  + f"; outputs equal: {a['outputs_equal']} (largest relative difference "
                  f"{a['outputs_max_rel_diff']:.2g})")
    else:
        for arch, why in section.get("failed", {}).items():
            print(f"pipelining {arch}: failed ({why})")
    if same and "profile" in result:
        print(f"-> {out}")
    if not section["architectures"]:
        return 3
    close = all(a["outputs_max_rel_diff"] <= 1e-3 for a in section["architectures"].values())
    return 0 if close and not section.get("failed") else 1


if __name__ == "__main__":
    sys.exit(main())
