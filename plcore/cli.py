"""Command line: ``plcore solve INSTANCE.json --method exact`` (or a .yaml file) and ``plcore evaluate``.

Also ``plcore measure`` (a device profile, :mod:`plcore.gpu.loadtime`), ``plcore profile PATH``
(its report; ``--check`` exits 1 when a target is missed) and ``plcore simulate`` (online serving,
:mod:`plcore.online`: an instance file as the catalogue and a drawn workload, or a CSV trace with
``--catalogue``; the per-request table to ``--out``, a one-screen summary on stdout). The real
server, :mod:`plcore.serving`: ``plcore serve CATALOGUE`` (the Open Inference Protocol over HTTP on
127.0.0.1), ``plcore loadgen URL INPUT`` (a workload replayed against it, open loop) and ``plcore
validate-serving`` (the simulator against the real server, request by request).

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
    from .serving.loadgen import add_parser as add_loadgen

    add_loadgen(sub)
    return p


def _simulate_parser(sub) -> None:
    from .online.cache import EVICTIONS
    from .online.policies import POLICIES
    from .model.instance import RANGES
    from .online.workload import (IMAGE_BITS, LIMITS, MAX_INTERVALS, MAX_REQUESTS, POPULARITIES,
                                  Limit)

    def valid(param):
        return LIMITS[param].text

    own = _option_limits()

    m = sub.add_parser("simulate", help="simulate online serving (plcore.online)",
                       description="Simulate an edge server serving requests over time. INPUT is "
                       "an instance file (JSON/YAML, MODEL.md section 4) used as the catalogue of "
                       "blocks, models and radio constants (its users are ignored), with a "
                       "workload drawn from the options below; or a CSV trace (columns arrival_s, "
                       "model, data_bits, deadline_s, channel_gain[, user]; UTF-8) with "
                       "--catalogue. Every number must lie in the range its option states; trace "
                       "columns in the ranges of instance files (arrival_s "
                       f"{valid('arrival_s')}, data_bits {valid('data_bits')}, deadline_s "
                       f"{valid('deadline_s')}, power_w * channel_gain / noise_psd_w_hz "
                       f"{Limit(*RANGES['a_hz']).text}, user {valid('user')}), at most "
                       f"{MAX_REQUESTS:.0e} rows. Bad input: one line on stderr, exit code 2.")
    m.error = _one_line_error       # argparse's own errors (a word for a number): one line too
    m.add_argument("input", help="instance file (catalogue) or .csv trace")
    m.add_argument("--catalogue", help="with a .csv trace: the instance file whose models it "
                   "requests")
    m.add_argument("--policy", default="pl-greedy", choices=sorted(POLICIES))
    m.add_argument("--capacity-gb", type=_real, default=None,
                   help=f"GPU memory for parameters (GB = 1e9 B), {own['--capacity-gb'].text}, "
                        "and at least the smallest model; default: the largest model")
    m.add_argument("--eviction", default="lru", choices=EVICTIONS)
    m.add_argument("--pipelined", action="store_true")
    m.add_argument("--bandwidth", default="equal", choices=("equal", "least"))
    m.add_argument("--requests", type=_whole, default=1000,
                   help=f"number of requests drawn, {valid('n_requests')} (memory grows with it)")
    m.add_argument("--rate", type=_real, default=50.0,
                   help=f"mean arrival rate, {valid('rate_hz')}; the arrivals must end by "
                        f"{LIMITS['arrival_s'].high:g} s")
    m.add_argument("--cv", type=_real, default=1.0,
                   help=f"inter-arrival coefficient of variation (1: Poisson), {valid('cv')}")
    m.add_argument("--popularity", default="uniform", choices=POPULARITIES)
    m.add_argument("--zipf", type=_real, default=1.0,
                   help=f"Zipf exponent, {valid('zipf_alpha')}")
    m.add_argument("--deadline-s", type=_real, default=0.2,
                   help=f"relative deadline, {valid('deadline_s')}")
    m.add_argument("--data-bits", type=_real, default=IMAGE_BITS,
                   help=f"input size, {valid('data_bits')}; default: a raw 224 x 224 x 3 image")
    m.add_argument("--coherence-s", type=_real, default=float("inf"),
                   help=f"block-fading interval, {valid('coherence_s')}, at most "
                        f"{MAX_INTERVALS:.0e} intervals over the arrivals and deadlines; "
                        "default: inf (no fading)")
    m.add_argument("--seed", type=_whole, default=0, help=f"random seed, {valid('seed')}")
    m.add_argument("--period-s", type=_real, default=None,
                   help=f"pl-*: re-plan period, {own['--period-s'].text}, at most "
                        f"{MAX_INTERVALS:.0e} periods over the arrivals and deadlines; default: "
                        "when the GPU falls idle")
    m.add_argument("--V", type=_real, default=10.0,
                   help=f"lyapunov: throughput weight, {own['--V'].text}")
    m.add_argument("--out", help="write the per-request table here (CSV): whole, or not at all")


def _simulate(args) -> int:
    temp = None
    try:
        try:
            if args.out:
                temp = _temp_beside(args.out)     # before the work: a bad --out fails at once
            text = _simulate_run(args, temp)
        except (InstanceError, ScheduleError, ValueError) as exc:
            return _error(exc)
        except MemoryError:
            return _error("out of memory: the workload is too large for this machine (draw "
                          "fewer --requests)")
        status = _emit(text)                    # the summary first: if it fails, no table
        if status or temp is None:
            return status
        try:
            os.replace(temp, args.out)
        except OSError as exc:
            return _error(f"--out: {_shown(args.out)}: cannot write ({exc.strerror or exc})")
        temp = None
        return 0
    finally:
        if temp is not None:            # failed or interrupted: no partial table is left
            try:
                os.unlink(temp)
            except OSError:
                pass


def _simulate_run(args, temp: str | None) -> str:
    """Check the options and the input, simulate, write the per-request table to ``temp`` (if
    any); the summary's text. Bad input raises ValueError (or a subclass) naming it."""
    from .online import make_policy, read_trace, simulate
    from .online.metrics import format_summary, frame, summary
    from .online.workload import too_many_intervals

    trace = args.input.lower().endswith(".csv")
    if trace and not args.catalogue:
        raise ValueError("a trace needs --catalogue INSTANCE (its blocks and models)")
    if args.catalogue and not trace:
        raise ValueError("--catalogue: only a .csv trace takes one (an instance file is its own "
                         "catalogue)")
    cat = load_instance(args.catalogue if trace else args.input)
    capacity = _capacity_bytes(args.capacity_gb, cat)
    options = {}
    if args.policy.startswith("pl-") and args.period_s is not None:
        options["period_s"] = _in_range(args.period_s, "--period-s")
    if args.policy == "lyapunov":
        options["V"] = _in_range(args.V, "--V")
    policy = make_policy(args.policy, **options)
    workload = read_trace(args.input, cat) if trace else _draw(cat, args)
    if "period_s" in options:
        why = too_many_intervals(workload.span_s, options["period_s"])
        if why:
            raise ValueError(f"--period-s: {why}: raise it")
    run = simulate(cat, workload, policy, capacity_bytes=capacity, eviction=args.eviction,
                   pipelined=args.pipelined, bandwidth=args.bandwidth,
                   progress=sys.stderr.isatty())
    if temp is not None:
        _write_table(frame(run), temp, args.out)
    return format_summary(summary(run)) + "\n"


def _option_limits() -> dict:
    """Ranges of the simulate options that are not workload parameters (``LIMITS`` of
    :mod:`plcore.online.workload` has those): the instance files' ranges of sizes and times;
    ``V`` weighs queues of requests, so beyond the most requests it acts as infinity."""
    from .model.instance import RANGES
    from .online.workload import MAX_REQUESTS, Limit

    low, high, _ = RANGES["bytes"]
    return {"--capacity-gb": Limit(low / 1e9, high / 1e9, "GB"),
            "--period-s": Limit(*RANGES["time"]),
            "--V": Limit(0.0, 100.0 * MAX_REQUESTS)}


def _in_range(value: float, option: str) -> float:
    """``value``, or ValueError naming ``option`` if it is out of its range."""
    why = _option_limits()[option].problem(value)
    if why:
        raise ValueError(f"{option}: {why}")
    return value


def _capacity_bytes(capacity_gb, cat) -> float | None:
    """``--capacity-gb`` in bytes (None: the simulator's default), refused if out of range or if
    no model fits (every request would be rejected)."""
    if capacity_gb is None:
        return None
    capacity = _in_range(capacity_gb, "--capacity-gb") * 1e9
    size = {m: sum(cat.blocks[b].bytes for b in model.blocks) for m, model in cat.models.items()}
    smallest = min(size, key=size.get)
    if size[smallest] > capacity * (1 + 1e-12):      # the simulator's test of a model that fits
        raise ValueError(f"--capacity-gb: {capacity_gb!r} GB holds no model (the smallest, "
                         f"{short_repr(smallest, 40)}, takes {size[smallest] / 1e9:.4g} GB): "
                         "every request would be rejected")
    return capacity


# generate()'s parameters and the options that set them, for its messages.
_DRAW_OPTIONS = {"n_requests": "--requests", "rate_hz": "--rate", "cv": "--cv",
                 "zipf_alpha": "--zipf", "deadline_s": "--deadline-s", "data_bits": "--data-bits",
                 "coherence_s": "--coherence-s", "seed": "--seed"}


def _draw(cat, args):
    """The workload the options describe; a bad value is named by its option."""
    from .online import generate

    try:
        return generate(cat, args.requests, args.rate, seed=args.seed, cv=args.cv,
                        popularity=args.popularity, zipf_alpha=args.zipf,
                        deadline_s=args.deadline_s, data_bits=args.data_bits,
                        coherence_s=args.coherence_s)
    except InstanceError as exc:
        option = _DRAW_OPTIONS.get(getattr(exc, "param", None))
        if option is None:
            raise
        raise InstanceError(f"{option}: {exc.why}") from None


def _real(text: str) -> float:
    """An option's number: plain decimal, or inf/nan (its range then says whether it is valid)."""
    from .online.workload import parse_number

    try:
        return parse_number(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _whole(text: str):
    """A count or a seed: an integer, also written ``1e6``; a value that is not a whole number is
    returned as a float, for its range to refuse with the option's name."""
    import math

    if re.fullmatch(r"\s*[-+]?[0-9]{1,40}\s*", text):
        return int(text)
    value = _real(text)
    return int(value) if math.isfinite(value) and value == int(value) else value


def _one_line_error(message: str):
    """``ArgumentParser.error`` for ``simulate``: one line, ``plcore: error: ...``, exit code 2."""
    text = " ".join(str(message).split())
    if len(text) > 500:
        text = text[:497] + "..."
    print(f"plcore: error: simulate: {text}", file=sys.stderr)
    sys.exit(2)


def _shown(path: str) -> str:
    from .model.files import show_path

    return show_path(path)


def _temp_beside(out: str) -> str:
    """A new empty file in ``out``'s folder, to be renamed to ``out`` once written whole."""
    import tempfile

    if os.path.exists(out) and not os.path.isfile(out):
        raise ValueError(f"--out: {_shown(out)} is not a regular file (a directory, a device or "
                         "a pipe is never replaced)")
    folder = os.path.dirname(os.path.abspath(out))
    try:
        fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(out)[:100]}.",
                                    suffix=".tmp")
    except (OSError, ValueError) as exc:
        raise ValueError(f"--out: {_shown(out)}: cannot write "
                         f"({getattr(exc, 'strerror', None) or exc})") from None
    mask = os.umask(0)          # mkstemp makes the file private; the table is not
    os.umask(mask)
    os.fchmod(fd, 0o666 & ~mask)
    os.close(fd)
    return temp


def _write_table(table, temp: str, out: str) -> None:
    try:
        with open(temp, "w", newline="", encoding="utf-8") as f:
            table.to_csv(f, index=False)
    except OSError as exc:      # a full disk, a file size limit
        raise ValueError(f"--out: {_shown(out)}: cannot write ({exc.strerror or exc})") from None


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
    if args.command == "loadgen":
        from .serving.loadgen import main as loadgen

        return loadgen(args)
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
