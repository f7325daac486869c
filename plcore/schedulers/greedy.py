"""Greedy scheduling for general sharing: load next the model that shares most with the resident one."""

from __future__ import annotations

import numpy as np

from ..model.instance import Instance
from .admission import fit_bandwidth, reinsert

__all__ = ["solve_greedy"]


def solve_greedy(instance: Instance, *, max_work: int = 2_000_000) -> list[int]:
    """PartialLoading's greedy heuristic, with deadline and bandwidth admission.

    Parameters
    ----------
    instance : Instance
        Any sharing structure (blocks shared at arbitrary positions), per-user deadlines.
    max_work : int
        Budget of the second chance (step 5): summed length of the schedules it evaluates; 0 skips
        it.

    Returns
    -------
    list of int
        A feasible schedule.

    Examples
    --------
    >>> import plcore
    >>> from plcore.study.synthetic import random_instance
    >>> inst = random_instance(0, 8, 4, structure="general", bandwidth_hz=5e7)
    >>> seq = plcore.solve(inst, method="greedy")
    >>> plcore.evaluate(inst, seq).feasible
    True

    Notes
    -----
    **Rule** (our reading of the paper's heuristic): repeatedly load next the pending
    model that shares the most parameter bytes with the one on the GPU, so that consecutively loaded
    models reuse resident blocks.

    **Admission** (ours). Time runs forward from t = 0 with every job as early as possible.

    1. A model is a candidate only while at least one of its pending users could still finish by
       its deadline if the model were loaded now; a user whose deadline has become unreachable is
       dropped for good (time only moves forward).
    2. Once a model is loaded, all its pending users that can still make their deadlines are served
       at once, earliest deadline first: each extra user of a loaded model costs no loading, and
       EDF is the order that meets the most deadlines within the group.
    3. Ties in shared bytes go to the model with the earliest pending deadline.
    4. Finally the ALAP timeline is computed and, while the users' least bandwidths exceed the
       budget, those needing the most are dropped (:func:`~plcore.schedulers.admission.fit_bandwidth`;
       dropping never hurts the others).
    5. Users left out get a second chance, earliest deadline first, each at the feasible position
       needing the least total bandwidth (:func:`~plcore.schedulers.admission.reinsert`): the
       forward walk of step 1 drops a user as soon as it is late *at that point*, although a place
       earlier in the schedule may still fit it.

    **Cost.** O(M) per model switch and at most M switches, plus sorting the users and the
    bandwidth repair, plus the second chance: O(M^2 + n log n + r n + max_work) for M models, n users,
    r repair rounds, and the second chance's budget ``max_work``. 10,000 users, 200 models and 2,000 blocks
    take well under 0.5 s.

    **Time limit** (:func:`plcore.solve`'s ``time_limit_s``). Steps 1-4 always run (near-linear);
    the second chance is stopped between two evaluations, keeping the users inserted so far.
    """
    arr = instance.arrays
    n_models = len(arr.model_names)
    # Users of each model, earliest deadline first.
    by_model = [[] for _ in range(n_models)]
    for k in np.lexsort((np.arange(instance.n_users), arr.deadline_s)):
        by_model[arr.model_of[k]].append(int(k))
    head = np.zeros(n_models, dtype=int)          # first still-pending user of each model
    last_deadline = np.array([arr.deadline_s[u[-1]] if u else -np.inf for u in by_model])
    first_deadline = np.array([arr.deadline_s[u[0]] if u else np.inf for u in by_model])
    infer = arr.model_infer_s
    pending = np.array([bool(u) for u in by_model])

    order: list[int] = []
    t = 0.0
    cur = -1
    while True:
        load = arr.from_resident_s if cur < 0 else arr.link_s[cur]
        reachable = pending & (t + load + infer <= last_deadline + arr.time_tol_s)
        if not reachable.any():
            break
        share = arr.incidence.astype(float) @ (arr.resident * arr.block_bytes) if cur < 0 \
            else arr.shared_bytes[cur]
        cand = np.flatnonzero(reachable)
        # Most shared bytes first, then the earliest pending deadline, then the lowest index.
        m = int(cand[np.lexsort((cand, first_deadline[cand], -share[cand]))[0]])
        t += load[m]
        users = by_model[m]
        for k in users[head[m]:]:
            if t + infer[m] <= arr.deadline_s[k] + arr.time_tol_s:
                order.append(k)
                t += infer[m]
        head[m] = len(users)
        pending[m] = False
        cur = m
    return reinsert(instance, fit_bandwidth(instance, order), max_work=max_work)
