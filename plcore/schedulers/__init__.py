"""Schedulers: one module per algorithm, one public entry point :func:`solve`."""

from __future__ import annotations

import inspect
from typing import Callable

from ..model.evaluate import evaluate
from ..model.instance import Instance
from .baselines import solve_edf, solve_fcfs_full, solve_no_sharing, solve_random
from .dp import solve_dp
from .exact import solve_exact
from .greedy import solve_greedy

SOLVERS: dict[str, Callable[..., list[int]]] = {
    "exact": solve_exact,            # the optimum, small instances
    "dp": solve_dp,                  # bottom-layer sharing, common deadline
    "greedy": solve_greedy,          # general sharing, per-user deadlines
    "no-sharing": solve_no_sharing,  # the paper's baseline (whole-model loader)
    "fcfs-full": solve_fcfs_full,    # a traditional server: arrival order, whole-model loader
    "random": solve_random,          # seeded random order + admission
    "edf": solve_edf,                # earliest deadline first + admission
}

# Methods whose schedules are meant for the whole-model loader and are checked under it too.
WHOLE_MODEL_LOADER = {"no-sharing", "fcfs-full"}


def solve(instance: Instance, method: str, **options) -> list[int]:
    """A feasible schedule (user indices in service order) computed by ``method``.

    Parameters
    ----------
    instance : Instance
    method : str
        One of ``plcore.SOLVERS``: ``"exact"`` (the optimum, small instances), ``"dp"``
        (bottom-layer sharing, common deadline), ``"greedy"`` (general sharing), ``"no-sharing"``
        (the paper's baseline), ``"fcfs-full"`` (a traditional server: arrival order, whole-model
        loader), ``"random"``, ``"edf"``.
    **options
        Passed to the solver (e.g. ``max_users`` for ``"exact"``).

    Returns
    -------
    list of int
        A schedule that :func:`plcore.evaluate` finds feasible (possibly empty).

    Raises
    ------
    ValueError
        For an unknown method or a bad option.
    """
    try:
        solver = SOLVERS[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; available: {', '.join(SOLVERS)}") from None
    try:
        inspect.signature(solver).bind(instance, **options)
    except TypeError as exc:
        raise ValueError(f"method {method!r}: {exc}") from None
    seq = solver(instance, **options)
    # Every solver's answer must pass the evaluator; a failure here is a bug, never bad input.
    for partial in (True, False) if method in WHOLE_MODEL_LOADER else (True,):
        ev = evaluate(instance, seq, partial=partial)
        if not ev.feasible:
            raise RuntimeError(f"solver {method!r} returned an infeasible schedule "
                               f"(partial={partial}): {ev.reason}")
    return list(seq)
