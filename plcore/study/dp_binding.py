"""The DP where its bandwidth search is weakest: instances whose budget binds hard.

:func:`binding_trial` draws one :func:`plcore.study.synthetic.binding_instance` and returns, per
method, the users it serves against the exact optimum, with the optimum under an unlimited budget
(the budget *binds* where the latter is larger), as a tidy table for
:func:`plcore.study.sweep.run_sweep`.
"""

from __future__ import annotations

import pandas as pd

from ..schedulers import solve

__all__ = ["binding_trial", "UNLIMITED_HZ"]

#: A budget no instance of :func:`~plcore.study.synthetic.binding_instance` can use up.
UNLIMITED_HZ = 1e15


def binding_trial(seed: int, methods=("dp",)) -> pd.DataFrame:
    """Every method of ``methods`` against the exact optimum on ``binding_instance(seed)``.

    Parameters
    ----------
    seed : int
        Seed of :func:`plcore.study.synthetic.binding_instance`.
    methods : sequence of str
        Names in :data:`plcore.schedulers.SOLVERS`.

    Returns
    -------
    pandas.DataFrame
        One row per method: seed, n_users, bandwidth_mhz, resident (whether blocks are resident
        at t = 0), method, served, optimum (the exact solver's), unlimited (the exact optimum
        with the budget at :data:`UNLIMITED_HZ`), binds (``optimum < unlimited``).

    Raises
    ------
    RuntimeError
        If a method serves more users than the exact optimum.

    Examples
    --------
    >>> df = binding_trial(0)
    >>> list(df.method), bool((df.served <= df.optimum).all())
    (['dp'], True)

    Notes
    -----
    The cost is that of two exact solves on 8 to 10 users (exponential in the number of users),
    plus each method's. The optimum without a budget comes from the exact solver, not the DP:
    with the Shannon rate a user's least bandwidth is infinite before some start time whatever
    the budget, which the DP's optimality proof does not cover.
    """
    from .synthetic import binding_instance

    inst = binding_instance(seed)
    best = len(solve(inst, method="exact"))
    unlimited = len(solve(inst.replace(bandwidth_hz=UNLIMITED_HZ), method="exact"))
    rows = []
    for method in methods:
        served = len(solve(inst, method=method))
        if served > best:
            raise RuntimeError(f"{method} serves {served} users, more than the exact optimum "
                               f"{best} (binding_instance({seed}))")
        rows.append({"seed": seed, "n_users": inst.n_users,
                     "bandwidth_mhz": inst.bandwidth_hz / 1e6, "resident": bool(inst.resident),
                     "method": method, "served": served, "optimum": best,
                     "unlimited": unlimited, "binds": best < unlimited})
    return pd.DataFrame(rows)
