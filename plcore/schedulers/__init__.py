"""Schedulers: one module per algorithm, one public entry point :func:`solve`."""

from __future__ import annotations

from typing import Callable

from ..evaluate import evaluate
from ..instance import Instance
from .exact import solve_exact

SOLVERS: dict[str, Callable[..., list[int]]] = {
    "exact": solve_exact,
}


def solve(instance: Instance, method: str, **options) -> list[int]:
    """A feasible schedule (user indices in service order) computed by ``method``.

    Parameters
    ----------
    instance : Instance
    method : str
        One of ``plcore.SOLVERS`` (``"exact"``: the optimum, for small instances).
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
    seq = solver(instance, **options)
    # Every solver's answer must pass the evaluator; a failure here is a bug, never bad input.
    ev = evaluate(instance, seq)
    if not ev.feasible:
        raise RuntimeError(f"solver {method!r} returned an infeasible schedule: {ev.reason}")
    return seq
