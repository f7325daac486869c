"""Command line: ``plcore solve INSTANCE.json --method exact`` (or a .yaml file) and ``plcore evaluate``.

Also ``plcore measure`` (a device profile, :mod:`plcore.gpu.loadtime`), ``plcore profile PATH``
(its report; ``--check`` exits 1 when a target is missed) and ``plcore simulate`` (online serving,
:mod:`plcore.online`: an instance file as the catalogue and a drawn workload, or a CSV trace with
``--catalogue``; the per-request table to ``--out``, a one-screen summary on stdout).

Output is JSON on stdout. Bad input (or output that cannot be written, as to a full disk) gives one
line ``plcore: error: ...`` on stderr and exit code 2; no traceback. Ctrl-C gives exit code 130:
during ``solve``, with the best feasible schedule found so far on stdout (``"stopped":
"interrupted"``) and a line on stderr that says so; before anything is found, with one line
``plcore: interrupted`` on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

from . import SOLVERS, __version__, evaluate, load_instance, solve_with_status
from .errors import InstanceError, ScheduleError, short_repr
from .schedulers import WHOLE_MODEL_LOADER
from .schedulers.limits import recording


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
                   help="stop once the command has run for SECONDS of wall-clock time (reading "
                        "the instance included: the solver gets what remains) with the best "
                        "feasible schedule found so far; the output then says \"stopped\": "
                        "\"time limit\" and a line on stderr says so (default: no limit). Ctrl-C "
                        "stops the same way, with \"stopped\": \"interrupted\" and exit code "
                        "130. Progress is shown on stderr when it is a terminal")

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
    _simulate_parser(sub)
    from .serving import cli as serving_cli

    serving_cli.add_parser(sub)
    serving_cli.add_validate_parser(sub)
    return p


def _simulate_parser(sub) -> None:
    from .online.cache import EVICTIONS
    from .online.policies import POLICIES
    from .online.workload import IMAGE_BITS, POPULARITIES

    m = sub.add_parser("simulate", help="simulate online serving (plcore.online)",
                       description="Simulate an edge server serving requests over time. INPUT is "
                       "an instance file (JSON/YAML, MODEL.md section 4) used as the catalogue of "
                       "blocks, models and radio constants (its users are ignored), with a "
                       "workload drawn from the options below; or a CSV trace (columns arrival_s, "
                       "model, data_bits, deadline_s, channel_gain[, user]) with --catalogue.")
    m.add_argument("input", help="instance file (catalogue) or .csv trace")
    m.add_argument("--catalogue", help="instance file whose models the trace requests")
    m.add_argument("--policy", default="pl-greedy", choices=sorted(POLICIES))
    m.add_argument("--capacity-gb", type=float, default=None,
                   help="GPU memory for parameters (GB = 1e9 B); default: the largest model")
    m.add_argument("--eviction", default="lru", choices=EVICTIONS)
    m.add_argument("--pipelined", action="store_true")
    m.add_argument("--bandwidth", default="equal", choices=("equal", "least"))
    m.add_argument("--requests", type=int, default=1000, help="number of requests drawn")
    m.add_argument("--rate", type=float, default=50.0, help="mean arrival rate (req/s)")
    m.add_argument("--cv", type=float, default=1.0, help="inter-arrival CV (1: Poisson)")
    m.add_argument("--popularity", default="uniform", choices=POPULARITIES)
    m.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent")
    m.add_argument("--deadline-s", type=float, default=0.2, help="relative deadline (s)")
    m.add_argument("--data-bits", type=float, default=IMAGE_BITS)
    m.add_argument("--coherence-s", type=float, default=float("inf"),
                   help="block-fading interval (s); default: no fading")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--period-s", type=float, default=None, help="pl-*: re-plan period (s)")
    m.add_argument("--V", type=float, default=10.0, help="lyapunov: throughput weight")
    m.add_argument("--out", help="write the per-request table here (CSV)")


def _simulate(args) -> int:
    from .online import generate, make_policy, read_trace, simulate
    from .online.metrics import format_summary, frame, summary

    try:
        if args.input.endswith(".csv"):
            if not args.catalogue:
                raise ValueError("a trace needs --catalogue INSTANCE (its blocks and models)")
            cat = load_instance(args.catalogue)
            workload = read_trace(args.input, cat)
        else:
            cat = load_instance(args.input)
            workload = generate(cat, args.requests, args.rate, seed=args.seed, cv=args.cv,
                                popularity=args.popularity, zipf_alpha=args.zipf,
                                deadline_s=args.deadline_s, data_bits=args.data_bits,
                                coherence_s=args.coherence_s)
        options = {}
        if args.policy.startswith("pl-") and args.period_s is not None:
            options["period_s"] = args.period_s
        if args.policy == "lyapunov":
            options["V"] = args.V
        run = simulate(cat, workload, make_policy(args.policy, **options),
                       capacity_bytes=None if args.capacity_gb is None else args.capacity_gb * 1e9,
                       eviction=args.eviction, pipelined=args.pipelined,
                       bandwidth=args.bandwidth, progress=sys.stderr.isatty())
    except (InstanceError, ScheduleError, ValueError) as exc:
        return _error(exc)
    if args.out:
        try:
            frame(run).to_csv(args.out, index=False)
        except OSError as exc:
            return _error(f"{args.out}: cannot write ({exc.strerror or exc})")
    return _emit(format_summary(summary(run)) + "\n")


def _seconds(text: str) -> float:
    from .schedulers.limits import check_time_limit

    try:
        limit = check_time_limit(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {short_repr(text)}") from None
    return float("inf") if limit is None else limit


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
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); the exit code.

    0, or 2 for bad input, or 130 after Ctrl-C (``KeyboardInterrupt``): then ``solve`` prints the
    best feasible schedule found so far when a solve had started, any command otherwise one line
    on stderr.
    """
    started = time.perf_counter()      # a time limit counts the whole command from here
    try:
        return _run(sys.argv[1:] if argv is None else argv, started)
    except KeyboardInterrupt:          # nothing to show for it: no traceback either
        print("plcore: interrupted", file=sys.stderr)
        return 130


def _run(argv: list[str], started: float) -> int:
    if argv[:1] == ["measure"]:   # torch is imported only for measuring
        from .gpu.loadtime import main as measure

        return measure(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "profile":
        return _profile(args)
    if args.command == "simulate":
        return _simulate(args)
    if args.command in ("serve", "validate-serving"):
        return _serve(args)
    stopped = None
    try:
        inst = load_instance(args.instance)
        if args.command == "validate":
            out = {"instance": args.instance, "valid": True, "users": inst.n_users,
                   "models": len(inst.models), "blocks": len(inst.blocks)}
        elif args.command == "solve":
            out = _solve(args, inst, started)
            stopped = out["stopped"]
        else:
            seq = _sequence(args.sequence)
            out = {"schedule": seq,
                   "evaluation": evaluate(inst, seq, partial=not args.full_loader).to_dict()}
    except (InstanceError, ScheduleError, ValueError) as exc:
        return _error(exc)
    except MemoryError:   # an instance too large for this machine (models x blocks arrays)
        from .model.files import show_path

        return _error(f"{show_path(args.instance)}: out of memory: the instance is too large")
    status = _emit(json.dumps(out, indent=2) + "\n")
    return 130 if status == 0 and stopped == "interrupted" else status


def _solve(args, inst, started: float) -> dict:
    """The output of ``plcore solve``, its ``"stopped"`` None, ``"time limit"`` or
    ``"interrupted"`` (then a line on stderr says so).

    The time limit counts from ``started`` (``time.perf_counter()`` when the command started), so
    the solver gets what reading the instance left of it. Ctrl-C during the solve ends it with the
    best feasible schedule offered so far (possibly empty), as the time limit does; before the
    solve started, it propagates.
    """
    limit = args.time_limit
    if limit is not None:
        limit = max(0.0, limit - (time.perf_counter() - started))
    with recording() as rec:
        try:
            status = solve_with_status(inst, method=args.method, time_limit_s=limit)
            seq, stopped = status.schedule, status.stopped
        except KeyboardInterrupt:
            if rec.clock is None:
                raise
            seq, stopped = rec.clock.best, "interrupted"
    # A baseline built for the whole-model loader is evaluated under it, as the book does.
    partial = not (args.full_loader or args.method in WHOLE_MODEL_LOADER)
    out = {"method": args.method, "schedule": seq,
           "loader": "partial" if partial else "whole-model",
           "stopped": stopped,
           "evaluation": evaluate(inst, seq, partial=partial).to_dict()}
    if stopped is not None:
        what = (f"time limit of {args.time_limit:g} s reached" if stopped == "time limit"
                else "interrupted")
        why = ("not proven optimal" if args.method == "exact"
               else f"{args.method} stopped before finishing")
        print(f"plcore: {what}; the schedule is the best found so far ({why})", file=sys.stderr)
    return out


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


def _serve(args) -> int:
    from .serving import cli as serving_cli

    try:
        return (serving_cli.main if args.command == "serve" else serving_cli.validate_main)(args)
    except (InstanceError, ValueError, OSError, RuntimeError) as exc:
        return _error(exc)
    except MemoryError as exc:   # the arena or the zoo does not fit in this machine's memory
        return _error(f"out of memory building the server: {exc}")


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
