"""Schedulers: one module per algorithm, one public entry point :func:`solve`."""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass
from typing import Callable

from ..errors import short_repr
from ..model.evaluate import evaluate
from ..model.instance import Instance
from .baselines import (solve_edf, solve_edf_grouped, solve_fcfs_full, solve_no_sharing,
                        solve_random)
from .density_search import solve_density_search
from .dp import solve_dp
from .exact import solve_exact
from .greedy import solve_greedy
from .limits import Clock, TimeLimitWarning, TimeUp
from .milp import solve_milp
from .options import check_method, check_option

SOLVERS: dict[str, Callable[..., list[int]]] = {
    "exact": solve_exact,            # the optimum, small instances
    "dp": solve_dp,                  # bottom-layer sharing, common deadline
    "greedy": solve_greedy,          # general sharing, per-user deadlines
    "no-sharing": solve_no_sharing,  # the paper's baseline (whole-model loader)
    "fcfs-full": solve_fcfs_full,    # a traditional server: arrival order, whole-model loader
    "random": solve_random,          # seeded random order + admission
    "edf": solve_edf,                # earliest deadline first (ties by user) + admission
    "edf-grouped": solve_edf_grouped,  # EDF, deadline ties by model (a model's users together)
    "milp": solve_milp,              # the optimum from a MILP with lazy bandwidth cuts
    "density-search": solve_density_search,  # general sharing: value density + local search
}

# Methods whose schedules are meant for the whole-model loader and are checked under it too.
WHOLE_MODEL_LOADER = {"no-sharing", "fcfs-full"}


@dataclass(frozen=True)
class SolveStatus:
    """A schedule and how its solve ended (:func:`solve_with_status`).

    Attributes
    ----------
    schedule : list of int
        User indices in service order; feasible (see :func:`solve`).
    method : str
    stopped : str or None
        None when the method ran to completion; ``"time limit"`` when it was stopped at
        ``time_limit_s`` and ``schedule`` is the best feasible one found until then (for
        ``"exact"``: not proven optimal).
    elapsed_s : float
        Wall-clock seconds the solve took.
    time_limit_s : float or None
        The limit it ran under (None: none).
    """

    schedule: list[int]
    method: str
    stopped: str | None
    elapsed_s: float
    time_limit_s: float | None

    @property
    def finished(self) -> bool:
        """Whether the method ran to completion (``stopped is None``)."""
        return self.stopped is None


def solve_with_status(instance: Instance, method: str, *, time_limit_s: float | None = None,
                      progress: bool | None = None, **options) -> SolveStatus:
    """:func:`solve`, returning the schedule with how the solve ended (e.g. stopped by its limit).

    Parameters and raised exceptions are those of :func:`solve`; this function never warns.

    Returns
    -------
    SolveStatus
    """
    solver = SOLVERS[check_method(method, SOLVERS)]
    if progress is not None and not isinstance(progress, bool):
        raise ValueError(f"progress: must be True, False or None, got {short_repr(progress)}")
    if options:     # every solver takes the instance alone; only options can be wrong
        try:
            inspect.signature(solver).bind(instance, **options)
        except TypeError as exc:
            raise ValueError(f"method {method!r}: {exc}") from None
        for name, value in options.items():
            check_option(method, name, value)
    with Clock(time_limit_s, progress, label=f"plcore {method}") as clock:
        try:
            seq = solver(instance, **options)
        except TimeUp:
            seq = clock.best
        elapsed = clock.elapsed_s()
    # Every solver's answer must pass the evaluator; a failure here is a bug, never bad input.
    for partial in (True, False) if method in WHOLE_MODEL_LOADER else (True,):
        ev = evaluate(instance, seq, partial=partial)
        if not ev.feasible:
            raise RuntimeError(f"solver {method!r} returned an infeasible schedule "
                               f"(partial={partial}): {ev.reason}")
    return SolveStatus(schedule=list(seq), method=method, stopped=clock.stopped,
                       elapsed_s=elapsed, time_limit_s=clock.limit_s)


def solve(instance: Instance, method: str, *, time_limit_s: float | None = None,
          progress: bool | None = None, **options) -> list[int]:
    """A feasible schedule (user indices in service order) computed by ``method``.

    Parameters
    ----------
    instance : Instance
    method : str
        One of ``plcore.SOLVERS``: ``"exact"`` (the optimum, small instances), ``"dp"``
        (bottom-layer sharing, common deadline), ``"greedy"`` (general sharing), ``"no-sharing"``
        (the paper's baseline), ``"fcfs-full"`` (a traditional server: arrival order, whole-model
        loader), ``"random"``, ``"edf"`` (earliest deadline first, blind to sharing),
        ``"edf-grouped"`` (EDF whose deadline ties are broken by model), ``"milp"`` (the optimum
        from a MILP, an oracle independent of ``"exact"``), ``"density-search"`` (general
        sharing: value density and local search).
    time_limit_s : float, optional
        Wall-clock seconds; None (default) or ``inf``: no limit. At the limit the method stops and
        the best feasible schedule found so far is returned, with a :class:`TimeLimitWarning`.
    progress : bool, optional
        Show progress (elapsed time, phase, best schedule so far) on stderr during solves longer
        than a second, when stderr is a terminal (default None, or True). False: never. Nothing is
        drawn when stderr is not a terminal (files, pipes, tests, notebooks).
    **options
        Passed to the solver (e.g. ``max_users`` for ``"exact"``), each checked first.

    Returns
    -------
    list of int
        A schedule that :func:`plcore.evaluate` finds feasible (possibly empty); for
        ``"no-sharing"`` and ``"fcfs-full"`` also under the whole-model loader (``partial=False``).

    Raises
    ------
    ValueError
        Before anything runs: for an unknown method (or one that is not a string), an option the
        method does not take or one of the wrong type or range (the message names the method and
        the option: :func:`~plcore.schedulers.options.check_option`), a bad ``time_limit_s``
        (negative, NaN, not a number) or a ``progress`` that is not a bool or None.

    Warns
    -----
    TimeLimitWarning
        When the time limit stopped the method (the schedule is then the best found so far).

    Notes
    -----
    **What a time limit stops.** With a limit, ``exact`` first takes the greedy's schedule as the
    one to beat (its own search reaches long schedules last) and returns the longer of it and the
    best complete schedule of its search so far: feasible, not proven optimal. ``dp`` first builds
    the greedy's schedule without its second chance (near-linear), then keeps the longest of it
    and of what its search finds. ``greedy`` stops its second chance (the reinsertion of left-out
    users); ``no-sharing`` stops the DP or greedy it runs. ``edf``, ``edf-grouped``, ``random``
    and ``fcfs-full`` are near-linear and always finish. The first feasible schedule of each
    method is never interrupted, so a limit shorter than it (seconds at 200,000 users) is exceeded
    by it;
    the limit is otherwise checked between steps of milliseconds, and before each step that could
    take seconds (an assignment on thousands of users) against its predicted duration.

    **How a caller learns the limit was hit.** ``solve`` keeps returning a plain list
    (MODEL.md section 5), and whether the solve was cut short is a fact about the run, not about
    the schedule; so it is reported beside it: by a :class:`TimeLimitWarning`, which a script
    sees on stderr without any change and a test can turn into an error, and in full by
    :func:`solve_with_status` (a :class:`SolveStatus` with ``stopped``), which the command line
    uses. Without a limit nothing changes: same schedules, same cost (the solvers' checks then
    return at once).
    """
    status = solve_with_status(instance, method, time_limit_s=time_limit_s, progress=progress,
                               **options)
    if status.stopped is not None:
        warnings.warn(TimeLimitWarning(
            f"{method}: time limit of {status.time_limit_s:g} s reached; the schedule "
            f"({len(status.schedule)} users) is the best found so far, not the method's full "
            "answer"), stacklevel=2)
    return status.schedule
