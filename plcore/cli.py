"""Command line: ``plcore solve INSTANCE.json --method exact`` (or a .yaml file) and ``plcore evaluate``.

Also ``plcore measure`` (a device profile, :mod:`plcore.gpu.loadtime`) and ``plcore profile PATH``
(its report; ``--check`` exits 1 when a target is missed).

Output is JSON on stdout. Bad input gives one line ``plcore: error: ...`` on stderr and exit code 2;
no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys

from . import SOLVERS, __version__, evaluate, load_instance, solve_with_status
from .errors import InstanceError, ScheduleError
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
    s.add_argument("--time-limit", type=_seconds, default=None, metavar="SECONDS",
                   help="stop after SECONDS of wall-clock time with the best feasible schedule "
                        "found so far; the output then says \"stopped\": \"time limit\" and a "
                        "line on stderr says so (default: no limit). Progress is shown on stderr "
                        "when it is a terminal")

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


def _seconds(text: str) -> float:
    from .schedulers.limits import check_time_limit

    try:
        limit = check_time_limit(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}") from None
    return float("inf") if limit is None else limit


def _sequence(text: str) -> list[int]:
    if not text.strip():
        return []                     # the empty schedule
    out = []
    for pos, t in enumerate(text.split(",")):
        try:
            out.append(int(t.strip()))
        except ValueError:
            raise ScheduleError(f"sequence item {pos}: {t.strip()!r} is not an integer (the "
                                f"sequence must be comma-separated user indices, got {text!r})") from None
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
            status = solve_with_status(inst, method=args.method, time_limit_s=args.time_limit)
            seq = status.schedule
            if status.stopped is not None:
                why = ("not proven optimal" if args.method == "exact"
                       else f"{args.method} stopped before finishing")
                print(f"plcore: time limit of {args.time_limit:g} s reached; the schedule is the "
                      f"best found so far ({why})", file=sys.stderr)
            # A baseline built for the whole-model loader is evaluated under it, as the book does.
            partial = not (args.full_loader or args.method in WHOLE_MODEL_LOADER)
            out = {"method": args.method, "schedule": seq,
                   "loader": "partial" if partial else "whole-model",
                   "stopped": status.stopped,
                   "evaluation": evaluate(inst, seq, partial=partial).to_dict()}
        else:
            seq = _sequence(args.sequence)
            out = {"schedule": seq,
                   "evaluation": evaluate(inst, seq, partial=not args.full_loader).to_dict()}
    except (InstanceError, ScheduleError, ValueError) as exc:
        print(f"plcore: error: {exc}", file=sys.stderr)
        return 2
    try:
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:   # e.g. piped into `head`: not an error of ours
        sys.stderr.close()
    return 0


def _profile(args) -> int:
    from .gpu.profile import report, targets

    try:
        with open(args.profile) as f:
            prof = json.load(f)
        print(report(prof))
    except (OSError, ValueError, KeyError) as exc:
        print(f"plcore: error: {args.profile}: {exc}", file=sys.stderr)
        return 2
    return 1 if args.check and not all(met for *_, met in targets(prof).values()) else 0


if __name__ == "__main__":
    sys.exit(main())
