"""Experiments in the general-sharing scenarios (``data/scenarios/``): gaps to the optimum by
size, and throughput sweeps, for any list of methods.

Every function takes the methods by name (``plcore.SOLVERS``), so that a new scheduler joins a
comparison by adding its name; a method is skipped on an instance it does not apply to
(:func:`applies`). Each trial is seeded and returns a tidy ``pandas.DataFrame``, one row per
instance and method, for :func:`plcore.study.sweep.run_sweep`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..model.sharing import is_bottom_layer
from ..schedulers import WHOLE_MODEL_LOADER, solve

__all__ = ["applies", "solve_each", "pick_oracle", "gap_instance", "gap_trial", "summarize_gaps",
           "preset_trial", "method_style", "plot_gaps", "plot_served", "DEADLINE_REF_USERS",
           "BINDING_BUDGET_HZ", "AMPLE_BUDGET_HZ"]

#: The presets' deadlines are made for about this many users; a gap instance of ``n`` users
#: scales them by ``n / DEADLINE_REF_USERS``, so that small instances are as crowded as the
#: presets are at this size (otherwise every method serves every one of 8 users).
DEADLINE_REF_USERS = 20
#: Uplink budgets of the gap instances: one that binds for a few users at the cell's edge, and
#: one that never does.
BINDING_BUDGET_HZ = 10e6
AMPLE_BUDGET_HZ = 1e9


def applies(method: str, instance) -> bool:
    """Whether ``method`` solves ``instance``: ``dp`` needs bottom-layer sharing and a common
    deadline; every other method takes any instance.

    The one check every trial of the study makes (here and in :mod:`plcore.study.experiments`),
    on the instance drawn, not on the parameters it was drawn with: a general-sharing scenario
    with one model per cluster is bottom-layer sharing, and ``dp`` runs on it.

    Parameters
    ----------
    method : str
        A name of ``plcore.SOLVERS``.
    instance : Instance

    Returns
    -------
    bool
        False where ``solve(instance, method=method)`` would refuse the instance.

    Examples
    --------
    >>> from plcore.study.scenarios import make_instance
    >>> inst = make_instance(seed=0, n_users=6)             # bottom-layer, one deadline
    >>> applies("dp", inst), applies("dp", make_instance(seed=0, n_users=6, sharing="general"))
    (True, False)

    Notes
    -----
    O(total number of model blocks) for ``dp`` (:func:`plcore.model.sharing.is_bottom_layer`).
    """
    if method == "dp":
        d = instance.arrays.deadline_s
        return bool(np.all(d == d[0])) and is_bottom_layer(instance)
    return True


def solve_each(instance, methods):
    """Solve ``instance`` with each method of ``methods`` that applies to it (:func:`applies`).

    Parameters
    ----------
    instance : Instance
    methods : iterable of str
        Names of ``plcore.SOLVERS``.

    Yields
    ------
    method : str
    schedule : list of int
    evaluation : Evaluation
        The schedule under the loader its method assumes: the whole-model loader for
        "no-sharing" and "fcfs-full" (``plcore.schedulers.WHOLE_MODEL_LOADER``), partial loading
        for the others.

    Examples
    --------
    >>> from plcore.study.scenarios import make_instance
    >>> inst = make_instance(seed=0, n_users=6, sharing="general")     # dp does not apply
    >>> [(m, ev.feasible) for m, seq, ev in solve_each(inst, ["dp", "greedy", "no-sharing"])]
    [('greedy', True), ('no-sharing', True)]
    """
    from ..model.evaluate import evaluate

    for method in methods:
        if applies(method, instance):
            seq = solve(instance, method=method)
            yield method, seq, evaluate(instance, seq, partial=method not in WHOLE_MODEL_LOADER)


def pick_oracle(n_users: int, oracles: dict) -> str:
    """The first oracle (in ``oracles`` order, name -> largest number of users it is run on)
    that takes ``n_users``.

    Examples
    --------
    >>> pick_oracle(6, {"exact": 8, "milp": 30}), pick_oracle(20, {"exact": 8, "milp": 30})
    ('exact', 'milp')

    Raises
    ------
    ValueError
        If none takes that many users.
    """
    for name, limit in oracles.items():
        if n_users <= limit:
            return name
    raise ValueError(f"no oracle for {n_users} users (oracles: {oracles})")


def gap_instance(scenario: str, n_users: int, binding: bool, seed: int):
    """A gap instance: the preset ``scenario`` with ``n_users`` users, its deadline range scaled
    by ``n_users / DEADLINE_REF_USERS``, and a binding or ample budget."""
    from .scenarios import load_scenario, make_instance

    sc = load_scenario(scenario)
    scale = n_users / DEADLINE_REF_USERS
    dl = sc.deadline_s
    deadline = (dl[0] * scale, dl[1] * scale) if isinstance(dl, tuple) else dl * scale
    return make_instance(sc, seed=seed, n_users=n_users, deadline_s=deadline,
                         bandwidth_hz=BINDING_BUDGET_HZ if binding else AMPLE_BUDGET_HZ)


def gap_trial(seed: int, scenario: str, n_users: int, binding: bool, methods,
              oracles: dict, time_limit_s: float | None = None) -> pd.DataFrame:
    """Every method of ``methods`` against the optimum on one gap instance (:func:`gap_instance`).

    The optimum comes from the oracle :func:`pick_oracle` chooses for the size, run with
    ``time_limit_s`` (wall-clock seconds, None: none) through
    :func:`plcore.schedulers.solve_with_status`: where the limit stops it, its schedule is not a
    proven optimum, and the instance has no gap to the optimum (``proved`` False, ``optimum``
    and ``gap`` NaN). Every instance also gets the gap to
    :func:`plcore.schedulers.bounds.upper_bound`, which no schedule exceeds: that gap is never
    smaller than the true one. Methods that do not apply (:func:`applies`) get no row.

    Columns: scenario, n_users, binding, seed, oracle, proved, oracle_served (the oracle's
    schedule, proven or not), method, optimum, served, gap (relative,
    :func:`plcore.study.claims.optimality_gaps`), upper_bound, gap_ub (relative to the bound).

    Raises
    ------
    RuntimeError
        If a method serves more users than a proven optimum or than the upper bound (an oracle
        or a bound that is not one).
    """
    from ..schedulers import solve_with_status
    from ..schedulers.bounds import upper_bound
    from .claims import optimality_gaps

    inst = gap_instance(scenario, n_users, binding, seed)
    oracle = pick_oracle(n_users, oracles)
    status = solve_with_status(inst, oracle, time_limit_s=time_limit_s)
    found, proved = len(status.schedule), status.finished
    ub = upper_bound(inst)
    rows = []
    for method in methods:
        if not applies(method, inst):
            continue
        served = len(solve(inst, method=method))
        if (proved and served > found) or served > ub:
            raise RuntimeError(f"{method} serves {served} users, more than the {oracle} "
                               f"oracle's {found} or the bound {ub} ({scenario}, {n_users} "
                               f"users, seed {seed})")
        rows.append({"scenario": scenario, "n_users": n_users, "binding": binding, "seed": seed,
                     "oracle": oracle, "proved": proved, "oracle_served": found,
                     "method": method, "optimum": found if proved else np.nan,
                     "served": served,
                     "gap": float(optimality_gaps([served], [found])[0]) if proved else np.nan,
                     "upper_bound": ub, "gap_ub": float(optimality_gaps([served], [ub])[0])})
    return pd.DataFrame(rows)


def summarize_gaps(df: pd.DataFrame, by=("n_users", "method"), gap: str = "gap") -> pd.DataFrame:
    """Instances, mean and largest relative gap, and the share with no gap, per group.

    ``gap`` names the column to summarize (``"gap_ub"``: the gap to the upper bound); rows where
    it is NaN (an optimum not proven) are left out.
    """
    df = df.dropna(subset=[gap]).assign(gap=lambda d: d[gap])
    return (df.assign(optimal=df.gap == 0).groupby(list(by))
            .agg(instances=("gap", "size"), mean_gap=("gap", "mean"), max_gap=("gap", "max"),
                 optimal_rate=("optimal", "mean"))
            .reset_index())


def preset_trial(seed: int, scenario: str, methods, **changes) -> pd.DataFrame:
    """Every method on the preset ``scenario`` drawn with ``seed``, ``changes`` applied (e.g.
    ``n_users``, ``bandwidth_hz``).

    Methods that do not apply (:func:`applies`) get no row; "no-sharing" and "fcfs-full" are
    evaluated under the whole-model loader they assume. Columns: scenario, the changes, seed,
    method, served, bandwidth_mhz_used.
    """
    from .scenarios import load_scenario, make_instance

    inst = make_instance(load_scenario(scenario), seed=seed, **changes)
    return pd.DataFrame([{"scenario": scenario, **changes, "seed": seed, "method": method,
                          "served": len(seq), "bandwidth_mhz_used": ev.total_bandwidth_hz / 1e6}
                         for method, seq, ev in solve_each(inst, methods)])


_FALLBACK_MARKERS = "P*X<>hdp"
_FALLBACK_COLOURS = ("tab:green", "tab:purple", "tab:pink", "black", "gold", "navy", "teal")


def method_style(methods) -> dict:
    """(label, colour, marker) per method: :data:`plcore.study.plots.METHOD_STYLE` where it has
    one, else the method's name with a colour and marker not used by another, so a new method is
    drawn without further edits.

    Examples
    --------
    >>> style = method_style(["greedy", "some-new-method"])
    >>> style["some-new-method"][0], style["greedy"] == method_style(["greedy"])["greedy"]
    ('some-new-method', True)
    """
    from .plots import METHOD_STYLE

    out = {}
    used = {c for _, c, _ in METHOD_STYLE.values()}
    spare = [c for c in _FALLBACK_COLOURS if c not in used]
    for m in methods:
        if m in METHOD_STYLE:
            out[m] = METHOD_STYLE[m]
        else:
            i = sum(1 for k in out if k not in METHOD_STYLE)
            out[m] = (m, spare[i % len(spare)], _FALLBACK_MARKERS[i % len(_FALLBACK_MARKERS)])
    return out


def plot_gaps(ax, df: pd.DataFrame, methods, *, title: str = ""):
    """Box plots of the relative gap (%) of each method, grouped by number of users (one group
    per size, one box per method, the mean as a white diamond), from :func:`gap_trial` rows."""
    style = method_style(methods)
    sizes = sorted(df.n_users.unique())
    present = [m for m in methods if m in set(df.method)]
    width = 0.8 / max(1, len(present))
    for i, m in enumerate(present):
        data = [100 * df[(df.n_users == n) & (df.method == m)].gap.to_numpy() for n in sizes]
        pos = np.arange(len(sizes)) + (i - (len(present) - 1) / 2) * width
        keep = [j for j, d in enumerate(data) if len(d)]
        if not keep:
            continue
        label, colour, _ = style[m]
        box = ax.boxplot([data[j] for j in keep], positions=pos[keep], widths=0.9 * width,
                         patch_artist=True, showmeans=True, whis=(5, 95), manage_ticks=False,
                         flierprops={"marker": ".", "markersize": 3, "alpha": 0.5},
                         meanprops={"marker": "D", "markerfacecolor": "white",
                                    "markeredgecolor": "black", "markersize": 4},
                         medianprops={"color": "black"})
        for patch in box["boxes"]:
            patch.set_facecolor(colour)
            patch.set_alpha(0.6)
        box["boxes"][0].set_label(label)
    ax.set_xticks(np.arange(len(sizes)), [str(n) for n in sizes])
    ax.set_xlabel("Number of users")
    ax.set_ylabel("Gap to the optimum (% of its users)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return ax


def plot_served(ax, ci: pd.DataFrame, x: str, methods, *, xlabel: str, title: str = ""):
    """One line per method (mean users served) with its confidence band, from a
    :func:`plcore.study.stats.mean_ci` table with columns ``x``, method, mean, lo, hi; styles
    from :func:`method_style`."""
    for m, (label, colour, marker) in method_style(methods).items():
        c = ci[ci.method == m].sort_values(x)
        if c.empty:
            continue
        ax.plot(c[x], c["mean"], marker=marker, color=colour, label=label)
        ax.fill_between(c[x], c.lo, c.hi, color=colour, alpha=0.15)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Users served by their deadlines")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return ax
