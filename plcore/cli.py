"""Command line: ``plcore solve INSTANCE.json --method exact`` (or a .yaml file) and ``plcore evaluate``.

Also ``plcore measure`` (a device profile, :mod:`plcore.gpu.loadtime`) and ``plcore profile PATH``
(its report; ``--check`` exits 1 when a target is missed).

Output is JSON on stdout. Bad input (or output that cannot be written, as to a full disk) gives one
line ``plcore: error: ...`` on stderr and exit code 2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

from . import SOLVERS, __version__, evaluate, load_instance, solve
from .errors import InstanceError, ScheduleError, short_repr
from .schedulers import WHOLE_MODEL_LOADER


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="plcore", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"plcore {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("solve", help="compute a schedule and print it with its evaluation")
    s.add_argument("instance", help="instance file, JSON or .yaml/.yml (MODEL.md section 4)")
    s.add_argument("--method", required=True, choices=sorted(SOLVERS))
    s.add_argument("--full-loader", action="store_true",
                   help="evaluate under the traditional whole-model loader (the default for "
                        "no-sharing and fcfs-full, which assume it)")

    e = sub.add_parser("evaluate", help="evaluate a given schedule")
    e.add_argument("instance")
    e.add_argument("sequence", help="comma-separated user indices, e.g. 0,3,1 ('' for none)")
    e.add_argument("--full-loader", action="store_true")

    sub.add_parser("validate", help="check an instance file").add_argument("instance")
    sub.add_parser("measure", help="measure a device profile (see plcore.gpu.loadtime); "
                   "plcore measure --help", add_help=False)
    r = sub.add_parser("profile", help="report on a device profile (data/profiles/*.json)")
    r.add_argument("profile")
    r.add_argument("--check", action="store_true",
                   help="exit 1 if the profile misses a target (loader / pinned peak >= 0.9, "
                        "makespan error <= 5 %%)")
    return p


def _sequence(text: str) -> list[int]:
    if not text.strip():
        return []                     # the empty schedule
    out = []
    for pos, t in enumerate(text.split(",")):
        # Plain decimal digits only: int() would also take '1_0' and non-ASCII digits.
        if not re.fullmatch(r"[-+]?[0-9]{1,18}", t.strip()):
            raise ScheduleError(f"sequence item {pos}: {short_repr(t.strip())} is not a user "
                                "index (the sequence must be comma-separated user indices, got "
                                f"{short_repr(text)})")
        out.append(int(t.strip()))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["measure"]:   # torch is imported only for measuring
        from .gpu.loadtime import main as measure

        return measure(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "profile":
        return _profile(args)
    try:
        inst = load_instance(args.instance)
        if args.command == "validate":
            out = {"instance": args.instance, "valid": True, "users": inst.n_users,
                   "models": len(inst.models), "blocks": len(inst.blocks)}
        elif args.command == "solve":
            seq = solve(inst, method=args.method)
            # A baseline built for the whole-model loader is evaluated under it, as the book does.
            partial = not (args.full_loader or args.method in WHOLE_MODEL_LOADER)
            out = {"method": args.method, "schedule": seq,
                   "loader": "partial" if partial else "whole-model",
                   "evaluation": evaluate(inst, seq, partial=partial).to_dict()}
        else:
            seq = _sequence(args.sequence)
            out = {"schedule": seq,
                   "evaluation": evaluate(inst, seq, partial=not args.full_loader).to_dict()}
    except (InstanceError, ScheduleError, ValueError) as exc:
        return _error(exc)
    except MemoryError:   # an instance too large for this machine (models x blocks arrays)
        from .model.files import show_path

        return _error(f"{show_path(args.instance)}: out of memory: the instance is too large")
    return _emit(json.dumps(out, indent=2) + "\n")


def _error(message) -> int:
    print(f"plcore: error: {message}", file=sys.stderr)
    return 2


def _emit(text: str) -> int:
    """Write ``text`` on stdout; 0, or 2 with one line on stderr where it cannot be written."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:   # e.g. piped into `head`: not an error of ours
        _drop_stdout()
        return 0
    except OSError as exc:    # e.g. a full disk
        _drop_stdout()
        return _error(f"cannot write the output: {exc.strerror or exc}")
    return 0


def _drop_stdout() -> None:
    """Point stdout at the null device: Python flushes it again at exit, and would print the same
    failure as an "Exception ignored" message."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError):   # no file descriptor (a captured stdout): nothing to flush
        pass


def _profile(args) -> int:
    from .gpu.profile import read_profile, report, targets

    try:
        prof = read_profile(args.profile)   # the whole schema, so report() cannot fail
        text = report(prof) + "\n"
    except ValueError as exc:
        return _error(exc)
    status = _emit(text)
    if status:
        return status
    return 1 if args.check and not all(met for *_, met in targets(prof).values()) else 0


if __name__ == "__main__":
    sys.exit(main())
