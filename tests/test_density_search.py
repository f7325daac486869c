"""density-search: feasible always, near-optimal on small instances, never below no-sharing or EDF.

The sweep-grid test runs the first seed of every point of the book's sweeps; ``PLCORE_GRID_SEEDS``
sets how many seeds per point (``all``: every seed the book uses, 30 per point, which takes the
better part of an hour on two cores).
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

import plcore
from plcore.schedulers import density_search
from plcore.schedulers.baselines import solve_edf, solve_no_sharing
from plcore.schedulers.density_search import solve_density_search
from plcore.schedulers.greedy import solve_greedy
from plcore.study.experiments import CASES, small_instance
from plcore.study.scenarios import make_instance
from plcore.study.synthetic import random_instance

from . import strategies

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def test_optimal_on_small_instances():
    """300 random small instances (general and backbone sharing, binding and ample budgets):
    optimal on at least 95 %, within 1 % of the optimum on average, every schedule feasible."""
    gaps = []
    for case in CASES:
        for binding in (True, False):
            for seed in range(75):
                inst = small_instance(seed, case, binding)
                seq = plcore.solve(inst, method="density-search")
                assert plcore.evaluate(inst, seq).feasible, (case, binding, seed)
                best = len(plcore.solve(inst, method="exact"))
                assert len(seq) <= best
                gaps.append((best - len(seq)) / best if best else 0.0)
    gaps = np.array(gaps)
    assert gaps.size == 300
    assert np.mean(gaps == 0) >= 0.95, np.mean(gaps == 0)
    assert gaps.mean() <= 0.01, gaps.mean()


def test_near_optimal_at_20_users_against_the_milp():
    """The 20-user part of issue #12's family (per-user deadlines of 0.1-0.3 s, seeds 0-5,
    general and bottom sharing) against the MILP oracle's proven optima: within 1 % on average
    (the issue asks 2 % at 20-30 users; ``bench_density_search.py --gap`` measures all of it)."""
    from plcore.schedulers.milp import solve_milp

    gaps = []
    for sharing in ("general", "bottom"):
        for seed in range(6):
            inst = make_instance(seed=seed, n_users=20, sharing=sharing, deadline_s=(0.1, 0.3))
            seq = solve_density_search(inst)
            assert plcore.evaluate(inst, seq).feasible
            info = {}
            best = len(solve_milp(inst, time_limit_s=30, info=info))
            assert len(seq) <= best or not info["optimal"]
            if info["optimal"]:
                gaps.append(1 - len(seq) / best)
    assert len(gaps) >= 10, len(gaps)
    assert np.mean(gaps) <= 0.01, gaps


def test_kicks_are_seeded_and_never_worse_than_the_plain_search(monkeypatch):
    inst = make_instance(seed=0, n_users=25, sharing="general", deadline_s=(0.1, 0.3))
    a = solve_density_search(inst, seed=5)
    assert a == solve_density_search(inst, seed=5)
    assert plcore.evaluate(inst, a).feasible
    monkeypatch.setattr(density_search, "_KICK_USERS", 0)     # no restarts, no kicks
    plain = solve_density_search(inst, seed=5)
    assert len(a) >= len(plain)


def _sweep_points():
    """The points of the book's throughput and latency sweeps, read from the notebooks'
    parameters cells (so the test follows them): (notebook, scenario changes, seeds)."""
    param = {"throughput_vs_clusters": "n_clusters", "throughput_vs_deadline": "deadline_s",
             "throughput_vs_models_per_cluster": "models_per_cluster",
             "throughput_vs_shared_depth": "shared_depth", "throughput_vs_users": "n_users"}
    out = []
    for name in [*param, "throughput_vs_bandwidth", "latency_fairness"]:
        nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())
        cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
        p = {}
        exec("".join(cell["source"]), {}, p)
        want = os.environ.get("PLCORE_GRID_SEEDS", "1")
        seeds = range(p["n_seeds"] if want == "all" else min(int(want), p["n_seeds"]))
        if name in param:
            base = {"n_users": p["n_users"], "bandwidth_hz": float(p["bandwidth_mhz"]) * 1e6}
            out += [(name, {**base, param[name]: v}, seeds) for v in p["values"]]
        elif name == "throughput_vs_bandwidth":
            out += [(name, {"n_users": p["n_users"], "bandwidth_hz": float(b) * 1e6}, seeds)
                    for b in p["bandwidths_mhz"]]
        else:
            out += [(name, {"n_users": n, "bandwidth_hz": float(p["bandwidth_mhz"]) * 1e6},
                     seeds) for n in p["n_users_list"]]
    return out


def test_sweep_points_are_read():
    points = _sweep_points()
    assert len({nb for nb, _, _ in points}) == 7 and len(points) >= 40


@pytest.mark.parametrize("name,changes,seeds", _sweep_points(),
                         ids=lambda v: v if isinstance(v, str) else None)
def test_never_below_no_sharing_or_edf_on_the_book_sweeps(name, changes, seeds, monkeypatch):
    # The no-sharing schedule (a DP on a rewritten instance, the slow part) is taken from the
    # call density-search makes to the real solve_no_sharing, instead of being computed twice.
    seen = []

    def spy(inst):
        seen.append(solve_no_sharing(inst))
        return seen[-1]

    monkeypatch.setattr(density_search, "solve_no_sharing", spy)
    for seed in seeds:
        inst = make_instance(seed=seed, **changes)
        seq = solve_density_search(inst)
        assert plcore.evaluate(inst, seq).feasible
        assert len(seen) == 1
        floor = max(len(seen.pop()), len(solve_edf(inst)))
        assert len(seq) >= floor, (name, changes, seed, len(seq), floor)


@pytest.mark.parametrize("sharing", ["general", "bottom"])
def test_never_below_on_general_sharing_scenarios(sharing):
    """Per-user deadlines, the greedy's own setting, more users than the sweeps."""
    for seed in range(1):
        inst = make_instance(seed=seed, n_users=40, sharing=sharing, deadline_s=(0.1, 0.6),
                             n_clusters=3, models_per_cluster=4)
        seq = solve_density_search(inst)
        assert plcore.evaluate(inst, seq).feasible
        floor = max(len(solve_no_sharing(inst)), len(solve_edf(inst)), len(solve_greedy(inst)))
        assert len(seq) >= floor, (seed, len(seq), floor)


@settings(max_examples=60, deadline=None)
@given(strategies.instances(1, 9))
def test_feasible_on_arbitrary_instances(inst):
    seq = plcore.solve(inst, method="density-search")
    assert plcore.evaluate(inst, seq).feasible
    assert len(seq) >= len(solve_edf(inst))
    assert len(seq) >= len(solve_no_sharing(inst))


def test_large_instance_feasible_and_seeded():
    inst = make_instance(seed=1, n_users=2000, sharing="general", deadline_s=(0.5, 20.0),
                         n_clusters=4, models_per_cluster=5)
    a = solve_density_search(inst, seed=3)
    assert plcore.evaluate(inst, a).feasible
    assert a == solve_density_search(inst, seed=3)
    assert len(a) >= max(len(solve_no_sharing(inst)), len(solve_edf(inst)),
                         len(solve_greedy(inst)))


def test_options_and_edge_cases():
    inst = random_instance(0, 6, 3)
    assert plcore.evaluate(inst, solve_density_search(inst, work_per_user=0)).feasible
    with pytest.raises(ValueError, match="work_per_user"):
        solve_density_search(inst, work_per_user=-1)
    tight = random_instance(0, 4, 2, deadline_s=(1e-4, 2e-4))
    assert solve_density_search(tight) == []
    assert "density-search" in plcore.SOLVERS


def test_time_limit_returns_a_feasible_schedule():
    inst = make_instance(seed=2, n_users=1500, sharing="general", deadline_s=(0.5, 20.0),
                         n_clusters=4, models_per_cluster=5)
    status = plcore.solve_with_status(inst, "density-search", time_limit_s=1e-4)
    assert status.stopped == "time limit"
    assert plcore.evaluate(inst, status.schedule).feasible
    assert len(status.schedule) >= len(solve_edf(inst))


def test_large_common_deadline_instances_stay_cheap():
    """A tenth of the 200,000-user case (``benchmarks/bench_density_search.py --huge`` measures
    it whole): with one deadline for all and a binding budget, the no-sharing start ran the DP's
    count exchange (145 s of CPU at 20,000 users) and the batched moves built the insertions of
    every dropped user (260 MB at 20,000 users, 1.8 GB at 200,000). Budgets with wide margins:
    measured 1.7 s and 43 MB."""
    import time
    import tracemalloc

    inst = make_instance(seed=0, n_users=20000, sharing="general", deadline_s=100.0)
    inst.arrays
    t0 = time.process_time()
    seq = solve_density_search(inst)
    assert time.process_time() - t0 < 20.0
    assert plcore.evaluate(inst, seq).feasible
    assert len(seq) >= max(len(solve_edf(inst)), len(solve_greedy(inst, max_work=0)))
    status = plcore.solve_with_status(inst, "density-search", time_limit_s=0.5)
    assert status.stopped == "time limit" and status.elapsed_s <= 0.5 * 1.1 + 0.1
    short = make_instance(seed=0, n_users=20000, sharing="general", deadline_s=0.2)
    short.arrays
    tracemalloc.start()
    try:
        seq = solve_density_search(short)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 130e6, peak
    assert plcore.evaluate(short, seq).feasible


def test_batched_moves_build_only_the_rows_they_score(monkeypatch):
    """Each part of a batch is built from no more inputs than fill it: the same schedules as
    with every input (a batch of 7 rows here, so that the cut matters on small instances)."""
    cases = [make_instance(seed=s, n_users=n, sharing="general", deadline_s=(0.1, 0.3))
             for s, n in ((0, 8), (1, 10), (2, 14), (3, 20))]
    monkeypatch.setattr(density_search, "_BATCH", 7)
    cut = [solve_density_search(inst) for inst in cases]
    monkeypatch.setattr(density_search, "_need", lambda rows_each: None)   # every input
    assert [solve_density_search(inst) for inst in cases] == cut


def test_restarts_and_kicks_share_a_budget_by_the_instance_size(monkeypatch):
    """The slowest 12-64-user instances of a scan of 786 (binding budgets leave about ten users
    served, where every batch is full): 5.2-6.4 s of CPU each when every restart and kick had a
    whole budget of its own; 2 s each at most here (the target). The work of the restarts and
    kicks stays within their shared budget, past it by the last search's last step at most."""
    import time

    from plcore.study.general_sharing import gap_instance

    cases = [random_instance(0, 20, 6, structure="general", deadline_s=(0.05, 0.3),
                             bandwidth_hz=2e6),
             make_instance(seed=0, n_users=20, sharing="general", deadline_s=(0.1, 0.6),
                           bandwidth_hz=2e6),
             gap_instance("backbone-resnet50", 16, True, 0)]
    for inst in cases:
        inst.arrays
        t0 = time.process_time()
        seq = solve_density_search(inst)
        assert time.process_time() - t0 <= 2.0
        assert plcore.evaluate(inst, seq).feasible
    used = []
    original = density_search._search

    def counted(*args, **kwargs):
        used.append(original(*args, **kwargs))
        return used[-1]

    monkeypatch.setattr(density_search, "_search", counted)
    inst = cases[0]
    solve_density_search(inst)
    step = density_search._BATCH * (inst.n_users + 1) + density_search._EVAL_OVERHEAD
    assert len(used) > 2
    assert sum(used[1:]) <= density_search._ILS_WORK * inst.n_users + 2 * step
