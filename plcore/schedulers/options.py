"""The options the solvers take, checked in one place: :func:`plcore.solve` checks every option
before it runs a method, and the solvers that check their own options use the same rules.

An option's name means the same thing in every solver that has it (``seed``, ``partial``), so the
rules are keyed by name; ``tests/test_schedulers.py`` checks that every option of every solver in
:data:`plcore.SOLVERS` has one.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import short_repr
from .limits import check_time_limit

__all__ = ["check_option", "check_method", "OPTION_RULES"]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_bool(value) -> bool:
    # numpy's bool is no subclass of bool; 0, 1 and strings are not flags
    return isinstance(value, (bool, np.bool_))


def _int_at_least(low: int):
    return (lambda v: _is_int(v) and v >= low), f"an integer >= {low}"


def _multipliers(value) -> bool:
    # A sequence, not any iterable: checking a generator would use it up before the solver.
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__") \
            or not hasattr(value, "__iter__"):
        return False
    try:
        items = list(value)
    except TypeError:       # a 0-d array
        return False
    return all(isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)
               and x >= 0 for x in items)


def _time_limit(value) -> bool:
    try:
        check_time_limit(value)
    except ValueError:
        return False
    return True


#: For each option name: (test of a value, what the value must be).
OPTION_RULES: dict[str, tuple] = {
    "seed": _int_at_least(0),
    "max_users": _int_at_least(0),
    "max_work": _int_at_least(0),
    "work_per_user": _int_at_least(0),
    "max_exchange_models": _int_at_least(0),
    "max_rounds": _int_at_least(1),
    "initial_cuts": _int_at_least(0),
    "search_nodes": ((lambda v: v is None or (_is_int(v) and v >= 0)),
                     "an integer >= 0 or None"),
    "partial": (_is_bool, "True or False"),
    "local_search": (_is_bool, "True or False"),
    "use_greedy": (_is_bool, "True or False"),
    "use_bounds": (_is_bool, "True or False"),
    "quick": (_is_bool, "True or False"),
    "lambdas": (_multipliers, "a sequence of finite numbers >= 0"),
    "info": ((lambda v: v is None or isinstance(v, dict)), "a dict or None"),
    "time_limit_s": (_time_limit, "a number of seconds >= 0 or None"),
}


def check_option(method: str, name: str, value) -> None:
    """Raise ValueError, naming the method and the option, unless ``value`` is one that option
    accepts (:data:`OPTION_RULES`).

    Parameters
    ----------
    method : str
        The method the option is for (quoted in the message).
    name : str
        The option's name, a key of :data:`OPTION_RULES`.
    value
        The value given.

    Raises
    ------
    ValueError
        If the value is of the wrong type or out of range: ``method 'exact': option
        'max_users' must be an integer >= 0, got '16'``.
    KeyError
        If ``name`` has no rule (a solver's new option needs one).

    Examples
    --------
    >>> check_option("random", "seed", 3)
    >>> check_option("random", "seed", 1.5)
    Traceback (most recent call last):
    ...
    ValueError: method 'random': option 'seed' must be an integer >= 0, got 1.5

    Notes
    -----
    O(1), except ``lambdas`` (O(its length)).
    """
    ok, what = OPTION_RULES[name]
    if not ok(value):
        raise ValueError(f"method {method!r}: option {name!r} must be {what}, "
                         f"got {short_repr(value)}")


def check_method(method, available) -> str:
    """Return ``method`` if it names one of ``available``; else raise ValueError listing them.

    Raises
    ------
    ValueError
        For a name not in ``available`` or a value that is not a string (a list, a dict).
    """
    names = ", ".join(available)
    if not isinstance(method, str):
        raise ValueError(f"method: must be a string naming a method, got {short_repr(method)}; "
                         f"available: {names}")
    if method not in available:
        raise ValueError(f"unknown method {short_repr(method)}; available: {names}")
    return method
