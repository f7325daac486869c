"""The MILP oracle against the exact branch and bound, and the validity of its cuts."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import plcore
from plcore.model.timeline import user_bandwidth
from plcore.schedulers.limits import TimeLimitWarning
from plcore.schedulers import milp as milp_module
from plcore.schedulers.bounds import upper_bound
from plcore.schedulers.milp import (_assignment_bound, _CountProgram, _dominators,
                                    _load_lower_bounds, _path_load_bounds, _slot_caps,
                                    _SuffixSearch, _tangent, solve_milp)
from plcore.study.synthetic import random_instance


def draw(seed):
    """A small random instance: 3-7 users, general or backbone sharing, binding or ample budget,
    per-user or common deadlines, resident blocks or not, Shannon or linear rate."""
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(3, 8)), int(rng.integers(1, 5))
    inst = random_instance(seed, n, m, structure=("general", "bottom")[seed % 2],
                           bandwidth_hz=float(rng.choice([1e6, 2e6, 4e6, 8e6, 1e10])),
                           rate=("shannon", "linear")[(seed // 2) % 2],
                           common_deadline=bool((seed // 4) % 2),
                           deadline_s=(0.015, float(rng.choice([0.05, 0.08, 0.12]))))
    if (seed // 8) % 2:
        inst = inst.replace(resident=sorted(inst.blocks)[: len(inst.blocks) // 2])
    return inst


@pytest.mark.parametrize("chunk", range(4))
def test_milp_agrees_with_exact(chunk):
    # 160 instances in all (40 per chunk), each combination of the draw's options 10 times.
    for seed in range(40 * chunk, 40 * chunk + 40):
        inst = draw(seed)
        info = {}
        # half of them with every tangent added lazily, so that the cut loop does the work, and
        # half without the suffix search, so that the programs settle every count
        seq = solve_milp(inst, info=info, initial_cuts=6 * (seed % 2),
                         use_bounds=bool(seed % 3), search_nodes=None if seed % 4 < 2 else 0)
        ev = plcore.evaluate(inst, seq)
        assert ev.feasible, (seed, seq, ev.reason)
        assert info["optimal"] and info["stopped"] is None
        best = plcore.solve(inst, method="exact")
        assert len(seq) == len(best), (seed, seq, best)


def test_registered_and_through_solve():
    inst = draw(3)
    assert plcore.SOLVERS["milp"] is solve_milp
    status = plcore.solve_with_status(inst, "milp")
    assert status.finished and plcore.evaluate(inst, status.schedule).feasible


def test_nobody_can_be_served():
    hopeless = random_instance(0, 4, 2, deadline_s=(1e-4, 2e-4))
    assert solve_milp(hopeless) == []
    # deadlines that allow a user, but no bandwidth worth speaking of
    starved = random_instance(1, 4, 2, bandwidth_hz=1.0)
    assert solve_milp(starved) == [] == plcore.solve(starved, method="exact")


def test_tangent_value_and_slope():
    for rate in ("shannon", "linear"):
        inst = random_instance(5, 4, 2, rate=rate)
        users = np.arange(4)
        s0 = np.array([0.01, 0.02, 0.05, 0.1])
        val, slope = _tangent(inst, users, s0)
        assert np.allclose(val, user_bandwidth(inst, users, s0) * 1e-6)
        h = 1e-7
        fd = (user_bandwidth(inst, users, s0 + h) - user_bandwidth(inst, users, s0 - h)) / (2 * h)
        assert np.allclose(slope, fd * 1e-9, rtol=1e-5)      # MHz per ms
        # convex: every tangent lies below the curve, on both sides of its point
        for t in (0.004, 0.015, 0.03, 0.2):
            b = user_bandwidth(inst, users, np.full(4, t)) * 1e-6
            assert np.all(val + slope * (t - s0) * 1e3 <= b * (1 + 1e-12) + 1e-12)


@pytest.mark.parametrize("seed", [4, 8, 13, 16, 17, 19])
def test_no_cut_excludes_a_feasible_schedule(seed, monkeypatch):
    # After the whole cut loop, the optimum found by "exact" is still a solution of the program
    # of its count built with every cut generated (tangents and forbidden suffixes), and so are
    # the heuristics' schedules and every suffix of them (feasible too, by monotonicity).
    # Instances (9 users, binding budget, tight deadlines) on which the loop adds cuts lazily and
    # forbids suffixes (the combinatorial bounds and the slot-wise tangents are off in the solve,
    # so that the loop does the work; the programs checked below have every cut).
    inst = random_instance(seed, 9, 3, structure=("general", "bottom")[seed % 2],
                           bandwidth_hz=1e7, deadline_s=(0.03, 0.1))
    info = {}
    with monkeypatch.context() as mp:
        mp.setattr(milp_module, "_SLOT_FRACTIONS", ())
        seq = solve_milp(inst, info=info, initial_cuts=0, use_bounds=False, search_nodes=0)
    pool = info["pool"]
    assert info["rounds"] >= 2 and pool.suffixes and any(pool.points)
    cand = np.array([k for k in range(inst.n_users) if plcore.evaluate(inst, [k]).feasible])
    opt = plcore.solve(inst, method="exact")
    assert len(seq) == len(opt)
    schedules = [opt, seq] + [plcore.solve(inst, method=m) for m in ("greedy", "edf")]
    schedules += [s[i:] for s in schedules for i in range(1, len(s))]
    for sched in schedules:
        if not sched:
            continue
        assert plcore.evaluate(inst, sched).feasible
        prog = _CountProgram(inst, cand, len(sched), pool)
        A, lo, hi = prog.matrix()
        v = prog.point(sched)
        Av = A @ v
        bad = np.flatnonzero((Av < lo - 1e-6) | (Av > hi + 1e-6))
        assert bad.size == 0, (seed, sched, bad, Av[bad], lo[bad], hi[bad])
        assert np.all(v >= prog.lb - 1e-9) and np.all(v <= prog.ub + 1e-6)


def test_time_limit_warns_and_stays_feasible():
    inst = random_instance(4, 7, 3, bandwidth_hz=4e6, deadline_s=(0.03, 0.1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seq = solve_milp(inst, time_limit_s=0.0)
    assert any(issubclass(w.category, TimeLimitWarning) for w in caught)
    assert plcore.evaluate(inst, seq).feasible
    with pytest.warns(TimeLimitWarning):
        seq = plcore.solve(inst, method="milp", time_limit_s=0.0)
    assert plcore.evaluate(inst, seq).feasible


def test_bad_options():
    inst = draw(0)
    with pytest.raises(ValueError, match="max_rounds"):
        solve_milp(inst, max_rounds=0)
    with pytest.raises(ValueError, match="time limit"):
        solve_milp(inst, time_limit_s=-1)
    with pytest.raises(ValueError, match="initial_cuts"):
        solve_milp(inst, initial_cuts=-1)
    with pytest.raises(ValueError, match="search_nodes"):
        solve_milp(inst, search_nodes=-1)


def _feasible_schedules(inst, rng, tries=60):
    """The optimum, the heuristics' schedules, random feasible orders, and all their suffixes."""
    out = [plcore.solve(inst, method=m) for m in ("exact", "greedy", "edf", "density-search")]
    n = inst.n_users
    for _ in range(tries):
        seq = [int(u) for u in rng.permutation(n)[: int(rng.integers(1, n + 1))]]
        if plcore.evaluate(inst, seq).feasible:
            out.append(seq)
    return [s[i:] for s in out for i in range(len(s)) if s]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(0, 10_000))
def test_bounds_admit_every_feasible_schedule(seed):
    # The load bound, the slot caps and earliest starts, and the assignment bound, checked on
    # feasible schedules of random small instances: none of them may rule a feasible one out.
    inst = draw(seed)
    arr = inst.arrays
    cand = np.array([k for k in range(inst.n_users) if plcore.evaluate(inst, [k]).feasible])
    if cand.size == 0:
        return
    A = _load_lower_bounds(arr, cand)
    m_loc = np.unique(arr.model_of[cand], return_inverse=True)[1]
    loc = {int(u): i for i, u in enumerate(cand)}
    fres_min = float(arr.from_resident_s[arr.model_of[cand]].min())
    tol = arr.time_tol_s
    for seq in _feasible_schedules(inst, np.random.default_rng(seed)):
        ev = plcore.evaluate(inst, seq)
        assert ev.feasible
        c = len(seq)
        ks = np.array([loc[u] for u in seq])
        loads = np.asarray(ev.load_s)
        for p, k in enumerate(ks):
            assert loads[p + 1:].sum() >= A[m_loc[k], c - 1 - p] - 1e-12, (seed, seq, p)
            assert loads[: p + 1].sum() >= fres_min + A[m_loc[k], p] - 1e-12, (seed, seq, p)
        cap, _, first = _slot_caps(c, arr.deadline_s[cand] + tol, arr.infer_s[cand], A, m_loc,
                                   fres_min)
        starts = np.asarray(ev.start_s)
        assert np.all(starts <= cap[ks, np.arange(c)] + 1e-12), (seed, seq)
        assert np.all(starts >= first[ks, np.arange(c)] - tol - 1e-12), (seed, seq)
        assert _assignment_bound(inst, cand, c, A), (seed, seq)
    info = {}
    seq = solve_milp(inst, info=info)
    assert info["optimal"] and info["upper"] == len(seq) <= upper_bound(inst)


def _candidates(inst):
    return np.array([k for k in range(inst.n_users) if plcore.evaluate(inst, [k]).feasible],
                    dtype=int)


@pytest.mark.parametrize("chunk", range(2))
def test_suffix_search_answers_every_count_as_exact(chunk):
    # The search alone (no program, no node limit): a schedule of c users exactly for every c up
    # to the optimum of "exact", feasible, and none above it; 80 instances of every kind.
    for seed in range(1000 + 40 * chunk, 1040 + 40 * chunk):
        inst = draw(seed)
        cand = _candidates(inst)
        if cand.size == 0:
            continue
        opt = len(plcore.solve(inst, method="exact"))
        search = _SuffixSearch(inst, cand, _load_lower_bounds(inst.arrays, cand))
        for c in range(1, cand.size + 1):
            # tabled least bandwidths (the default) on even seeds, exact ones on odd seeds
            status, seq = search.run(c, None, None, tabled=seed % 2 == 0)
            assert status == ("found" if c <= opt else "none"), (seed, c, opt)
            if seq is not None:
                assert len(seq) == c and plcore.evaluate(inst, seq).feasible, (seed, seq)


def test_search_proves_and_the_program_still_decides():
    # With the search on, an instance where the heuristics fall short is proven by it; with a
    # node budget of 1 the search gives up at once and the programs prove the same count.
    for seed in (4, 8, 13):
        inst = random_instance(seed, 9, 3, structure=("general", "bottom")[seed % 2],
                               bandwidth_hz=1e7, deadline_s=(0.03, 0.1))
        a, b = {}, {}
        s1 = solve_milp(inst, info=a)
        s2 = solve_milp(inst, info=b, search_nodes=1)
        assert a["optimal"] and b["optimal"] and len(s1) == len(s2)
        assert plcore.evaluate(inst, s1).feasible and plcore.evaluate(inst, s2).feasible
        assert a["search_nodes"] > 0 and a["proof"] in ("search", "bounds", "heuristics")
        if b["searched"]:
            assert all(st == "gave up" for _, st in b["searched"])
            assert b["proof"] in ("program", "bounds") and b["rounds"] >= 1


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(0, 10_000))
def test_suffix_bound_admits_every_feasible_schedule(seed):
    # Every feasible schedule passes every test of the suffix search on its way down: at each
    # split into a prefix of r users and a suffix, the suffix's bandwidth plus the bound on the
    # prefix stays within the budget, and the user prepended passes the search's child filter.
    inst = draw(seed)
    arr = inst.arrays
    cand = _candidates(inst)
    if cand.size == 0:
        return
    search = _SuffixSearch(inst, cand, _load_lower_bounds(arr, cand))
    loc = {int(u): i for i, u in enumerate(cand)}
    for seq in _feasible_schedules(inst, np.random.default_rng(seed)):
        ev = plcore.evaluate(inst, seq)
        starts, bw = np.asarray(ev.start_s), np.asarray(ev.bandwidth_hz)
        c = len(seq)
        for r in range(c + 1):           # prefix seq[:r], suffix seq[r:]
            used = {loc[u] for u in seq[r:]}
            U = np.array([j for j in range(cand.size) if j not in used], dtype=int)
            W = float(bw[r:].sum())
            if r == c:
                T, m = np.inf, None
            else:
                T, m = float(starts[r]), int(search.m_loc[loc[seq[r]]])
            if r > 0:
                assert W + search.bound(U, T, m, r) <= search.budget, (seed, seq, r)
                if r < c:      # as the parent computes it, for its child seq[r]
                    U1 = np.sort(np.r_[U, loc[seq[r]]])
                    cb = search.child_bounds(U1, np.array([loc[seq[r]]]), np.array([T]), r)
                    assert W + cb[0] <= search.budget, (seed, seq, r)
                j = loc[seq[r - 1]]
                pm = float(search.infer[U].min())
                assert starts[r - 1] - search.fres[search.m_loc[j]] - (r - 1) * pm \
                    >= -search.slack_s, (seed, seq, r)
            assert W <= search.budget


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(0, 10_000))
def test_dominated_user_can_be_replaced(seed):
    # The dominance the suffix search uses: in a feasible schedule, a user v whose dominator u
    # is not served can be replaced by u, and the schedule stays feasible; the relation is a
    # strict order (no user dominates itself, no two dominate each other).
    inst = draw(seed)
    cand = _candidates(inst)
    if cand.size == 0:
        return
    dom = _dominators(inst, cand)
    n = cand.size
    for v in range(n):
        assert not (dom[v] >> v) & 1
        for u in range(n):
            assert not ((dom[v] >> u) & 1 and (dom[u] >> v) & 1)
    for seq in _feasible_schedules(inst, np.random.default_rng(seed)):
        served = set(seq)
        for p, uv in enumerate(seq):
            v = int(np.flatnonzero(cand == uv)[0])
            for u in range(n):
                if (dom[v] >> u) & 1 and int(cand[u]) not in served:
                    swapped = list(seq)
                    swapped[p] = int(cand[u])
                    assert plcore.evaluate(inst, swapped).feasible, (seed, seq, p, cand[u])


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(0, 10_000))
def test_path_load_bound_and_triangle_inequality(seed):
    # P[a, b, r] against the loads between any two positions of feasible schedules (the walk
    # from the first's model to the second's, passing r users other than the first), and the
    # triangle inequality of partial loads that the search's dominance across models uses.
    inst = draw(seed)
    arr = inst.arrays
    cand = _candidates(inst)
    if cand.size == 0:
        return
    P = _path_load_bounds(arr, cand)
    models, m_loc = np.unique(arr.model_of[cand], return_inverse=True)
    link = arr.link_s[np.ix_(models, models)]
    fres = arr.from_resident_s[models]
    nm = models.size
    for a in range(nm):
        for b in range(nm):
            assert np.all(link[a, :] <= link[a, b] + link[b, :] + 1e-15)
            assert fres[b] <= fres[a] + link[a, b] + 1e-15
    assert np.all(np.diff(P, axis=2) >= -1e-15)          # more users: no cheaper walk
    loc = {int(u): i for i, u in enumerate(cand)}
    for seq in _feasible_schedules(inst, np.random.default_rng(seed)):
        loads = np.asarray(plcore.evaluate(inst, seq).load_s)
        ms = [int(m_loc[loc[u]]) for u in seq]
        for p in range(len(seq)):
            for q in range(p + 1, len(seq)):
                assert loads[p + 1:q + 1].sum() >= P[ms[p], ms[q], q - p] - 1e-12, (seed, seq)


def test_tabled_search_falls_back_to_exact_bandwidths():
    # Tables of zeros are a valid (if useless) lower bound: the tabled search then completes
    # schedules that evaluate rejects, and the count is searched again with exact bandwidths;
    # the answers still agree with "exact" for every count.
    fell_back = 0
    for seed in range(8):
        inst = random_instance(seed, 7, 3, bandwidth_hz=4e6, deadline_s=(0.03, 0.1))
        cand = _candidates(inst)
        opt = len(plcore.solve(inst, method="exact"))
        search = _SuffixSearch(inst, cand, _load_lower_bounds(inst.arrays, cand))
        search.table = np.zeros_like(search.table)
        for c in range(1, cand.size + 1):
            status, seq = search.run(c, None, None)
            fell_back += not search.tabled
            assert status == ("found" if c <= opt else "none"), (seed, c, opt)
            if seq is not None:
                assert plcore.evaluate(inst, seq).feasible
    assert fell_back > 0
