"""Baselines: the paper's no-sharing scheduler, a traditional arrival-order server, a seeded random
order, earliest deadline first, and earliest deadline first with a model's users kept together."""

from __future__ import annotations

import numpy as np

from ..model.instance import Instance
from ..model.sharing import NotBottomLayer, unshared
from .admission import admit_deadlines, fit_bandwidth

__all__ = ["solve_no_sharing", "solve_fcfs_full", "solve_random", "solve_edf",
           "solve_edf_grouped"]


# ``quick``: the DP runs when its time table and the six more of a binding budget would merge at
# most this many entries (:func:`~plcore.schedulers.dp.table_work`): about two seconds.
_QUICK_DP_WORK = 2_000_000_000


def solve_no_sharing(instance: Instance, *, quick: bool = False) -> list[int]:
    """The paper's baseline: schedule as if no block were shared, for the whole-model loader.

    The instance is rewritten with private copies of every block (:func:`plcore.model.sharing.unshared`),
    on which partial loading *is* the traditional loader, and scheduled there by the same algorithms
    PartialLoading uses: the DP when all users share one deadline (the tree of layers is then a
    star, so the DP is exact in time), the greedy otherwise. So the comparison isolates the value of
    sharing, not of a cleverer scheduler.

    Parameters
    ----------
    instance : Instance
    quick : bool, default False
        Bound the effort on large instances: the DP without its count exchange and its layout
        local search (``max_exchange_models=0, local_search=False``), and only while its seven
        tables would merge up to 2e9 entries (:func:`~plcore.schedulers.dp.table_work`, about
        two seconds), else the greedy; the greedy without its second chance (``max_work=0``).
        It is how ``density-search`` takes this baseline above 2,000 users.

    Returns
    -------
    list of int
        A schedule feasible under ``evaluate(..., partial=False)`` (hence also with partial loading,
        which never loads more).

    Notes
    -----
    Same cost as the scheduler it delegates to, on a tree with one leaf path per model. Under a
    time limit (:func:`plcore.solve`) that scheduler stops as it does for its own method; the
    copies are made first, from the instance's index arrays, in O(M^2 + total number of model
    blocks) for M models. With a common deadline and a binding budget the DP's count exchange
    dominates: 3.5 s at 1,000 users and 140 s at 20,000 on the default scenario's models
    (:func:`plcore.study.scenarios.make_instance`, general sharing, deadlines of 5 ms per user,
    20 MHz), where ``quick`` takes 0.07 s and 1.6 s for 0.8 % and 0.5 % fewer users.
    """
    from .dp import LAMBDAS, solve_dp, table_work
    from .greedy import solve_greedy

    flat = unshared(instance)
    d = instance.arrays.deadline_s
    if d.size and np.all(d == d[0]):
        try:
            if not quick:
                return solve_dp(flat)
            if len(LAMBDAS) * table_work(flat) <= _QUICK_DP_WORK:
                return solve_dp(flat, local_search=False, max_exchange_models=0)
        except NotBottomLayer:     # several whole models resident at t = 0: no single path
            pass
    return solve_greedy(flat, **({"max_work": 0} if quick else {}))


def solve_fcfs_full(instance: Instance, *, seed: int = 0) -> list[int]:
    """A traditional server: requests in arrival order, the whole model loaded at every change.

    Every request arrives at t = 0 in the model, so the arrival order is a seeded random
    permutation. A request that would miss its deadline is dropped when its turn comes; then, while
    the least bandwidths exceed the budget, the hungriest served users are dropped. Neither the
    order nor the loading knows about shared blocks: this is the system PartialLoading replaces,
    not a scheduler that is clever about which users to serve (that is ``no-sharing``).

    Parameters
    ----------
    seed : int
        Seed of the arrival order: same seed, same schedule.

    Returns
    -------
    list of int
        A schedule feasible under ``evaluate(..., partial=False)`` (hence also with partial loading).

    Examples
    --------
    >>> import plcore
    >>> inst = plcore.load_instance("data/instances/example.json")
    >>> seq = plcore.solve(inst, method="fcfs-full")
    >>> plcore.evaluate(inst, seq, partial=False).feasible
    True

    Notes
    -----
    O(n log n + r n) with r bandwidth-repair rounds.
    """
    return solve_random(instance, seed=seed, partial=False)


def solve_random(instance: Instance, *, seed: int = 0, partial: bool = True) -> list[int]:
    """A uniformly random order (seeded), then deadline and bandwidth admission.

    Parameters
    ----------
    instance : Instance
    seed : int
        Seed of ``numpy.random.default_rng``: same seed, same schedule.
    partial : bool
        Admission under partial loading (default) or the whole-model loader.

    Returns
    -------
    list of int
        A schedule that :func:`plcore.evaluate` finds feasible with the same ``partial``.

    Notes
    -----
    O(n log n + r n) with r bandwidth-repair rounds.
    """
    order = np.random.default_rng(seed).permutation(instance.n_users)
    return fit_bandwidth(instance, admit_deadlines(instance, order, partial), partial)


def solve_edf(instance: Instance, *, partial: bool = True) -> list[int]:
    """Earliest deadline first (ties: by user index), then admission.

    A sanity reference blind to sharing and to bandwidth: the order that meets the most deadlines
    when loading is free (Jackson's rule). Users with equal deadlines keep their index order, so
    a common deadline leaves the users in the order they were given, whatever they request (see
    :func:`solve_edf_grouped` for the variant that keeps a model's users together).

    Parameters
    ----------
    instance : Instance
    partial : bool
        Admission under partial loading (default) or the whole-model loader.

    Returns
    -------
    list of int
        The admitted users in deadline order, a schedule that :func:`plcore.evaluate` finds
        feasible with the same ``partial``.

    Examples
    --------
    >>> import plcore
    >>> inst = plcore.load_instance("data/instances/example.json")
    >>> seq = plcore.solve(inst, method="edf")
    >>> deadlines = [inst.users[k].deadline_s for k in seq]
    >>> deadlines == sorted(deadlines), plcore.evaluate(inst, seq).feasible
    (True, True)

    Notes
    -----
    O(n log n + r n) with r bandwidth-repair rounds.
    """
    arr = instance.arrays
    order = np.lexsort((np.arange(instance.n_users), arr.deadline_s))
    return fit_bandwidth(instance, admit_deadlines(instance, order, partial), partial)


def solve_edf_grouped(instance: Instance, *, partial: bool = True) -> list[int]:
    """EDF whose deadline ties are broken by model, so a model's users stay together; then
    admission.

    Users are ordered by deadline, then by model index, then by user index. With a common
    deadline this serves the models one after the other, loading each once; and since the
    scenarios number a cluster's models consecutively (:mod:`plcore.study.scenarios`), models
    that share blocks also run back to back. So it is *not* blind to sharing: on instances with
    few distinct deadlines it behaves like a sharing-aware order. It is kept under its own name
    because the first edition of the book's figures used it as "EDF"; :func:`solve_edf` is the
    sharing-blind rule.

    Parameters
    ----------
    instance : Instance
        Its model order (``instance.models``) breaks deadline ties.
    partial : bool
        Admission under partial loading (default) or the whole-model loader.

    Returns
    -------
    list of int
        The admitted users by deadline, then model: a schedule that :func:`plcore.evaluate`
        finds feasible with the same ``partial``.

    Examples
    --------
    With one deadline for all, each model is loaded once:

    >>> import plcore
    >>> inst = plcore.load_instance("data/instances/example.json")
    >>> one = inst.replace(users=[{**u, "deadline_s": 0.2} for u in inst.to_dict()["users"]])
    >>> models = [one.users[k].model for k in plcore.solve(one, method="edf-grouped")]
    >>> sum(a != b for a, b in zip(models, models[1:])) == len(set(models)) - 1
    True

    Notes
    -----
    O(n log n + r n) with r bandwidth-repair rounds.
    """
    arr = instance.arrays
    order = np.lexsort((np.arange(instance.n_users), arr.model_of, arr.deadline_s))
    return fit_bandwidth(instance, admit_deadlines(instance, order, partial), partial)
