"""DP, greedy and baselines: feasibility always, optimality where claimed, never above the optimum."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import plcore
from plcore.model.sharing import NotBottomLayer, is_bottom_layer, layer_tree, unshared
from plcore.schedulers.bounds import bounds, upper_bound
from plcore.study.synthetic import random_instance

from . import strategies
from .reference import exhaustive_optimum

HEURISTICS = ["greedy", "no-sharing", "fcfs-full", "random", "edf", "edf-grouped"]


def bottom_common(seed, bw, n=None, m=None, rate="shannon"):
    rng = np.random.default_rng(seed)
    n = n or int(rng.integers(3, 8))
    m = m or int(rng.integers(2, 6))
    return random_instance(seed, n, m, structure="bottom", common_deadline=True, bandwidth_hz=bw,
                           deadline_s=(0.02, 0.08), rate=rate)


def test_dp_equals_exact_with_ample_bandwidth():
    """Hundreds of random bottom-layer instances: the DP is optimal when bandwidth does not bind."""
    for seed in range(300):
        inst = bottom_common(seed, 1e11, rate=("shannon", "linear")[seed % 2])
        dp = plcore.solve(inst, method="dp")
        assert len(dp) == len(plcore.solve(inst, method="exact")), seed


def test_dp_equals_brute_force_on_small_instances():
    """Against the test suite's own enumeration, not only against the exact solver."""
    for seed in range(40):
        inst = bottom_common(seed, 1e11, n=5)
        assert len(plcore.solve(inst, method="dp")) == exhaustive_optimum(inst), seed


def test_dp_with_resident_backbone_uses_it():
    inst = bottom_common(3, 1e11, n=6, m=3)
    tree = layer_tree(inst)
    # Make the deepest model's blocks resident: a root path.
    m = max(inst.models, key=lambda k: len(inst.models[k].blocks))
    res = inst.replace(resident=list(inst.models[m].blocks))
    assert layer_tree(res).resident_path and tree.resident_path == ()
    assert len(plcore.solve(res, method="dp")) == len(plcore.solve(res, method="exact"))


def test_dp_optimality_rate_when_bandwidth_binds():
    """The issue's target: optimal on at least 98 % of random small binding instances."""
    optimal = total = 0
    for seed in range(200):
        inst = bottom_common(1000 + seed, (1e6, 2e6, 4e6, 8e6)[seed % 4])
        dp = plcore.solve(inst, method="dp")
        ex = plcore.solve(inst, method="exact")
        assert len(dp) <= len(ex)
        optimal += len(dp) == len(ex)
        total += 1
    assert optimal / total >= 0.98, (optimal, total)


def test_dp_rejects_what_it_does_not_solve():
    with pytest.raises(ValueError, match=r"dp needs a common deadline: user \d+ has"):
        plcore.solve(random_instance(1, 5, 3, structure="bottom"), method="dp")
    general = plcore.Instance.from_dict({
        "blocks": {"a": {"bytes": 1, "load_s": 1e-3}, "b": {"bytes": 1, "load_s": 1e-3}},
        "models": {"ab": {"blocks": ["a", "b"], "infer_s": 1e-3},
                   "b-only": {"blocks": ["b"], "infer_s": 1e-3}},
        "users": [{"model": "ab", "data_bits": 1e3, "deadline_s": 0.1, "spectral_eff": 1.0}],
        "rate": "linear", "bandwidth_hz": 1e6})
    assert not is_bottom_layer(general)
    with pytest.raises(NotBottomLayer, match="block 'b' of model 'b-only' is also in model 'ab'"):
        plcore.solve(general, method="dp")


instances = strategies.instances(min_users=0)


@settings(max_examples=120, deadline=None)
@given(instances)
def test_every_solver_is_feasible_and_never_beats_the_optimum(inst):
    best = len(plcore.solve(inst, method="exact"))
    assert best <= upper_bound(inst)
    methods = list(HEURISTICS)
    if is_bottom_layer(inst) and len(set(u.deadline_s for u in inst.users)) <= 1:
        methods.append("dp")
    for method in methods:
        seq = plcore.solve(inst, method=method)     # solve() itself re-checks feasibility
        assert plcore.evaluate(inst, seq).feasible
        assert len(seq) <= best, method
    for method in ("no-sharing", "fcfs-full"):
        assert plcore.evaluate(inst, plcore.solve(inst, method=method), partial=False).feasible


def test_solvers_on_paper_scenarios_are_feasible():
    from plcore.study.scenarios import make_instance

    for seed in range(3):
        for sharing in ("bottom", "general"):
            inst = make_instance(seed=seed, n_users=40, sharing=sharing, deadline_s=(0.05, 0.3))
            for method in HEURISTICS:
                assert plcore.evaluate(inst, plcore.solve(inst, method=method)).feasible
        inst = make_instance(seed=seed, n_users=40)
        assert len(plcore.solve(inst, method="dp")) <= upper_bound(inst)


def test_random_is_seeded():
    inst = random_instance(9, 7, 3, bandwidth_hz=1e10, deadline_s=(0.05, 0.2))
    a = plcore.solve(inst, method="random", seed=1)
    assert a == plcore.solve(inst, method="random", seed=1)
    assert any(plcore.solve(inst, method="random", seed=s) != a for s in range(2, 8))


def test_fcfs_full_serves_in_arrival_order_with_whole_model_loads():
    """An independent rerun of the traditional server: walk the seeded arrival order, loading the
    whole model at every change, keep a request iff it still meets its deadline."""
    import numpy as np

    from .reference import ref_loads

    inst = random_instance(5, 8, 3, bandwidth_hz=1e11, deadline_s=(0.02, 0.08))
    arrival = np.random.default_rng(3).permutation(inst.n_users).tolist()
    kept, t = [], 0.0
    for k in arrival:
        load = ref_loads(inst, kept + [k], partial=False)[-1]
        done = t + load + inst.models[inst.users[k].model].infer_s
        if done <= inst.users[k].deadline_s:
            kept.append(k)
            t = done
    assert plcore.solve(inst, method="fcfs-full", seed=3) == kept
    assert len(kept) < inst.n_users        # the deadlines bite, so the check means something


def _edf_rerun(inst, key):
    """An independent rerun of EDF with ample bandwidth: users sorted by ``key``, each kept iff it
    still meets its deadline after the loads the evaluator charges."""
    from .reference import ref_loads

    kept, t = [], 0.0
    for k in sorted(range(inst.n_users), key=key):
        load = ref_loads(inst, kept + [k], partial=True)[-1]
        done = t + load + inst.models[inst.users[k].model].infer_s
        if done <= inst.users[k].deadline_s:
            kept.append(k)
            t = done
    return kept


def test_edf_breaks_ties_by_user_and_edf_grouped_by_model():
    """``edf`` is blind to sharing: deadline, then user index. ``edf-grouped`` (the book's first
    EDF) breaks deadline ties by model index, keeping a model's users together."""
    for seed in range(30):
        inst = random_instance(seed, 8, 3, structure="bottom", common_deadline=seed % 2 == 0,
                               bandwidth_hz=1e12, deadline_s=(0.02, 0.08), rate="linear")
        names = list(inst.models)
        d = [u.deadline_s for u in inst.users]
        m = [names.index(u.model) for u in inst.users]
        assert plcore.solve(inst, method="edf") == _edf_rerun(inst, lambda k: (d[k], k)), seed
        assert (plcore.solve(inst, method="edf-grouped")
                == _edf_rerun(inst, lambda k: (d[k], m[k], k))), seed


def test_edf_is_blind_to_sharing_where_edf_grouped_is_not():
    """A common deadline and users requesting two models alternately: EDF follows the user
    index and reloads a model at every user, EDF-grouped loads each model once."""
    inst = plcore.Instance.from_dict({
        "blocks": {"a": {"bytes": 1e8, "load_s": 0.010}, "b": {"bytes": 1e8, "load_s": 0.010}},
        "models": {"A": {"blocks": ["a"], "infer_s": 0.002},
                   "B": {"blocks": ["b"], "infer_s": 0.002}},
        "users": [{"model": "AB"[k % 2], "data_bits": 1e4, "deadline_s": 0.06, "spectral_eff": 5.0}
                  for k in range(8)],
        "rate": "linear", "bandwidth_hz": 1e9})
    edf = plcore.solve(inst, method="edf")
    grouped = plcore.solve(inst, method="edf-grouped")
    assert edf == [0, 1, 2, 3, 4]               # 5 loads of 10 ms, 5 inferences of 2 ms: 60 ms
    assert [inst.users[k].model for k in grouped] == ["A"] * 4 + ["B"] * 4
    assert len(grouped) == 8 == len(plcore.solve(inst, method="exact"))


def test_greedy_groups_models_and_follows_sharing():
    """Two clusters with a heavy shared backbone each: the greedy never leaves a cluster and comes
    back, because staying shares the backbone."""
    blocks = {"A": {"bytes": 9e7, "load_s": 0.02}, "B": {"bytes": 9e7, "load_s": 0.02}}
    models = {}
    for c in "AB":
        for i in range(3):
            blocks[f"{c}{i}"] = {"bytes": 1e6, "load_s": 1e-3}
            models[f"{c}{i}"] = {"blocks": [c, f"{c}{i}"], "infer_s": 2e-3}
    users = [{"model": m, "data_bits": 1e4, "deadline_s": 1.0, "spectral_eff": 5.0}
             for m in sorted(models)[::-1] for _ in range(2)]
    inst = plcore.Instance.from_dict({"blocks": blocks, "models": models, "users": users,
                                      "rate": "linear", "bandwidth_hz": 1e9})
    seq = plcore.solve(inst, method="greedy")
    clusters = [inst.users[k].model[0] for k in seq]
    assert len(seq) == 12 and clusters.count("A") == 6
    switches = sum(a != b for a, b in zip(clusters, clusters[1:]))
    assert switches == 1
    assert plcore.evaluate(inst, seq).load_s.sum() == pytest.approx(0.02 * 2 + 6e-3)


def test_greedy_trap_of_the_scheduling_exercise():
    """The instance of the solution to exercise ex-greedy-trap (book/schedulers.md): following the
    shared backbone makes the greedy serve fewer users than EDF, and the optimum skips A1."""
    inst = plcore.Instance.from_dict({
        "blocks": {"bb": {"bytes": 1e8, "load_s": 0.040}, "h1": {"bytes": 1e6, "load_s": 0.002},
                   "h2": {"bytes": 1e6, "load_s": 0.002}, "c": {"bytes": 2e7, "load_s": 0.010}},
        "models": {"A1": {"blocks": ["bb", "h1"], "infer_s": 0.005},
                   "A2": {"blocks": ["bb", "h2"], "infer_s": 0.005},
                   "B1": {"blocks": ["c"], "infer_s": 0.002}},
        "users": [{"model": m, "data_bits": 1e4, "deadline_s": d, "spectral_eff": 5.0}
                  for m, d in [("A1", 0.047), ("A2", 0.100)] + [("B1", 0.070)] * 8],
        "rate": "linear", "bandwidth_hz": 1e9})
    served = {m: [inst.users[k].model for k in plcore.solve(inst, method=m)]
              for m in ("greedy", "edf", "exact")}
    assert served["greedy"] == ["A1", "A2"] + ["B1"] * 3
    assert served["edf"] == ["A1"] + ["B1"] * 6
    assert sorted(served["exact"]) == ["A2"] + ["B1"] * 8


@settings(max_examples=80, deadline=None)
@given(instances, st.data())
def test_unshared_partial_equals_whole_model_loader(inst, data):
    """Partial loading on the unshared instance is exactly the whole-model loader on the original."""
    order = data.draw(st.permutations(range(inst.n_users)))
    flat = unshared(inst)
    a = plcore.evaluate(inst, order, partial=False)
    b = plcore.evaluate(flat, order, partial=True)
    np.testing.assert_allclose(a.load_s, b.load_s, rtol=1e-12, atol=1e-15)
    assert a.feasible == b.feasible


def test_bounds_are_tight_where_they_should_be():
    """Free loading and ample bandwidth: Moore-Hodgson is the exact optimum."""
    for seed in range(30):
        inst = random_instance(seed, 6, 3, bandwidth_hz=1e12, deadline_s=(0.005, 0.03), rate="linear")
        d = inst.to_dict()
        for b in d["blocks"].values():
            b["load_s"] = 0.0
        free = plcore.Instance.from_dict(d)
        assert bounds(free)["deadlines"] == len(plcore.solve(free, method="exact")), seed


def test_bounds_are_valid_on_random_instances():
    for seed in range(60):
        inst = random_instance(seed, 6, 3, structure=("bottom", "general")[seed % 2],
                               common_deadline=seed % 3 == 0, bandwidth_hz=(2e6, 2e7)[seed % 2])
        best = exhaustive_optimum(inst)
        for name, value in bounds(inst).items():
            assert value >= best, (seed, name)


def test_dominance_reduction_keeps_the_optimal_assignment():
    """Leaving out users dominated by as many others as there are slots never changes the least
    total bandwidth of a layout (checked against the assignment over all users)."""
    from plcore.schedulers.dp import _Layout

    for seed in range(40):
        inst = bottom_common(500 + seed, 4e6, n=7, m=2)
        tree = layer_tree(inst)
        arr = inst.arrays
        by_model = [np.flatnonzero(arr.model_of == m) for m in range(len(arr.model_names))]
        reduced = _Layout(inst, tree, inst.users[0].deadline_s, by_model)
        full = _Layout(inst, tree, inst.users[0].deadline_s, by_model)
        full.dominated_by = [np.zeros(u.size, dtype=int) for u in by_model]
        rng = np.random.default_rng(seed)
        counts = np.array([int(rng.integers(0, u.size + 1)) for u in by_model])
        if counts.sum() == 0:
            continue
        a, b = reduced.schedule(counts, local_search=False), full.schedule(counts, local_search=False)
        assert (a is None) == (b is None)
        if a is not None:
            assert a[1] == pytest.approx(b[1], rel=1e-12), seed


def test_no_sharing_copies_never_collide():
    """Model 'a' with block 'b/c' and model 'a/b' with block 'c' would both copy to 'a/b/c'."""
    inst = plcore.Instance.from_dict({
        "blocks": {"b/c": {"bytes": 1, "load_s": 0.05}, "c": {"bytes": 1, "load_s": 0.001}},
        "models": {"a": {"blocks": ["b/c"], "infer_s": 0.001},
                   "a/b": {"blocks": ["c"], "infer_s": 0.001}},
        "users": [{"model": m, "data_bits": 0, "deadline_s": d, "spectral_eff": 1.0}
                  for m, d in (("a", 0.03), ("a/b", 0.03))],
        "rate": "linear", "bandwidth_hz": 1.0})
    copies = unshared(inst)
    assert len(copies.blocks) == 2
    assert copies.model_load_s("a") == 0.05 and copies.model_load_s("a/b") == 0.001
    assert [inst.users[k].model for k in plcore.solve(inst, method="no-sharing")] == ["a/b"]


def test_bad_solver_option_is_a_value_error():
    inst = random_instance(0, 4, 2)
    with pytest.raises(ValueError, match="method 'greedy': .*unexpected keyword argument 'foo'"):
        plcore.solve(inst, method="greedy", foo=1)


# Options of the wrong type or range: (method, options, the option the message must name).
BAD_OPTIONS = [
    ("exact", {"max_users": "16"}, "max_users"),
    ("exact", {"max_users": -1}, "max_users"),
    ("exact", {"max_users": 16.0}, "max_users"),
    ("random", {"seed": 1.5}, "seed"),
    ("random", {"seed": -1}, "seed"),
    ("random", {"seed": True}, "seed"),
    ("fcfs-full", {"seed": "0"}, "seed"),
    ("random", {"partial": "no"}, "partial"),
    ("edf", {"partial": 0}, "partial"),
    ("edf-grouped", {"partial": None}, "partial"),
    ("greedy", {"max_work": "many"}, "max_work"),
    ("greedy", {"max_work": -1}, "max_work"),
    ("dp", {"lambdas": "0.1"}, "lambdas"),
    ("dp", {"lambdas": [0.0, -1.0]}, "lambdas"),
    ("dp", {"lambdas": [float("nan")]}, "lambdas"),
    ("dp", {"lambdas": (x for x in [0.0])}, "lambdas"),
    ("dp", {"local_search": "yes"}, "local_search"),
    ("dp", {"max_exchange_models": 2.5}, "max_exchange_models"),
    ("milp", {"max_rounds": 0}, "max_rounds"),
    ("milp", {"initial_cuts": [6]}, "initial_cuts"),
    ("milp", {"search_nodes": -5}, "search_nodes"),
    ("milp", {"use_bounds": "False"}, "use_bounds"),
    ("milp", {"info": []}, "info"),
    ("density-search", {"seed": 1.5}, "seed"),
    ("density-search", {"work_per_user": -1}, "work_per_user"),
    ("density-search", {"work_per_user": 1e3}, "work_per_user"),
    ("density-search", {"use_greedy": 1}, "use_greedy"),
]


@pytest.mark.parametrize("method,options,name", BAD_OPTIONS,
                         ids=[f"{m}-{n}-{i}" for i, (m, _, n) in enumerate(BAD_OPTIONS)])
def test_bad_option_values_are_value_errors_naming_method_and_option(method, options, name):
    inst = random_instance(0, 4, 2, structure="bottom", common_deadline=True)
    with pytest.raises(ValueError, match=f"method '{method}': option '{name}' must be"):
        plcore.solve(inst, method=method, **options)


@pytest.mark.parametrize("method", [["exact"], {"exact": 1}, ("exact",), 3, None, b"exact"],
                         ids=repr)
def test_a_method_that_is_not_a_string_is_a_value_error(method):
    with pytest.raises(ValueError, match="method: must be a string naming a method, got .*"
                                         "available: exact"):
        plcore.solve(random_instance(0, 3, 2), method=method)


def test_bad_progress_is_a_value_error():
    with pytest.raises(ValueError, match="progress"):
        plcore.solve(random_instance(0, 3, 2), method="edf", progress="no")


def test_good_option_values_of_numpy_types_are_accepted():
    inst = random_instance(0, 5, 2, structure="bottom", common_deadline=True)
    assert plcore.solve(inst, method="random", seed=np.int64(3)) == \
        plcore.solve(inst, method="random", seed=3)
    plcore.solve(inst, method="edf", partial=np.bool_(False))
    plcore.solve(inst, method="dp", lambdas=np.array([0.0, 1.0]), max_exchange_models=0)
    plcore.solve(inst, method="milp", search_nodes=None, info={})


def test_every_solver_option_has_a_rule():
    import inspect

    from plcore.schedulers.options import OPTION_RULES

    for method, fn in plcore.SOLVERS.items():
        for name, par in inspect.signature(fn).parameters.items():
            if par.kind is inspect.Parameter.KEYWORD_ONLY:
                assert name in OPTION_RULES, (method, name)
                OPTION_RULES[name][0](par.default) or pytest.fail(f"{method}: default {name}")


def _without_inference(inst, which=None):
    d = inst.to_dict()
    for k, m in enumerate(d["models"].values()):
        if which is None or k % 2 == which:
            m["infer_s"] = 0.0
    return plcore.Instance.from_dict(d)


@pytest.mark.parametrize("which", [None, 0], ids=["all", "half"])
def test_models_without_inference_time_raise_no_warnings(which):
    """``infer_s: 0`` is a valid instance: no solver divides by it (warnings are errors here)."""
    import warnings

    from plcore.study.scenarios import make_instance

    cases = [(random_instance(0, 8, 4, structure="general", bandwidth_hz=4e6), None),
             (make_instance(seed=1, n_users=20, sharing="general", deadline_s=(0.1, 0.3)),
              [m for m in plcore.SOLVERS if m != "exact"]),
             (make_instance(seed=2, n_users=120, sharing="general", deadline_s=(0.1, 2.0)),
              ("density-search", "greedy", "edf", "no-sharing")),
             (random_instance(1, 7, 3, structure="bottom", common_deadline=True,
                              bandwidth_hz=2e6), None)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for base, methods in cases:
            inst = _without_inference(base, which)
            common = np.all(inst.arrays.deadline_s == inst.arrays.deadline_s[0])
            for method in methods or plcore.SOLVERS:
                if method == "dp" and not common:
                    continue
                seq = plcore.solve(inst, method=method)
                assert plcore.evaluate(inst, seq).feasible, method


def test_minplus_cut_at_a_size_is_the_prefix_of_the_full_convolution():
    """Every entry and argument kept, bit for bit, ties (to the least x) and inf included, on
    both of its loops (a shorter or longer than b)."""
    from plcore.schedulers.dp import _minplus

    rng = np.random.default_rng(5)
    for trial in range(300):
        a = rng.integers(0, 6, int(rng.integers(1, 12))).astype(float)
        b = rng.integers(0, 6, int(rng.integers(1, 12))).astype(float)
        a[rng.random(a.size) < 0.2] = np.inf
        b[rng.random(b.size) < 0.2] = np.inf
        full, arg = _minplus(a, b)
        size = int(rng.integers(1, a.size + b.size + 2))
        cut, cut_arg = _minplus(a, b, size)
        assert cut.size == min(size, full.size)
        assert np.array_equal(cut, full[:size]) and np.array_equal(cut_arg, arg[:size]), trial


def test_dp_tables_stop_at_the_count_bound_with_the_same_entries():
    from plcore.schedulers.dp import _Knapsack, _node_weights, count_bound

    for seed in range(30):
        inst = bottom_common(seed, 1e11, n=int(6 + seed % 5))
        tree = layer_tree(inst)
        arr = inst.arrays
        items = [np.arange(np.sum(arr.model_of == m) + 1) * arr.model_infer_s[m]
                 for m in range(len(arr.model_names))]
        w = _node_weights(inst, tree)
        cap = count_bound(inst)
        full, cut = _Knapsack(tree, w, items), _Knapsack(tree, w, items, cap)
        assert np.array_equal(cut.table[0], full.table[0][:cap + 1]), seed
        fits = np.flatnonzero(full.table[0] <= arr.deadline_s[0] + arr.time_tol_s)
        assert fits.max() <= cap, seed        # the bound holds
        for j in range(cut.table[0].size):
            assert np.array_equal(cut.counts(j, len(items)), full.counts(j, len(items)))


def test_table_work_counts_the_entries_the_merges_compute(monkeypatch):
    """The cost model that ``no-sharing`` with ``quick`` consults, against the merges themselves
    (every user servable alone here, so the bound is exact)."""
    from plcore.schedulers import dp

    computed = []
    original = dp._minplus

    def counting(a, b, size=None):
        out, arg = original(a, b, size)
        computed.append(min(a.size, b.size, out.size) * out.size)
        return out, arg

    monkeypatch.setattr(dp, "_minplus", counting)
    for seed in range(10):
        inst = bottom_common(seed, 1e11, n=int(6 + seed % 5))
        computed.clear()
        dp.solve_dp(inst)
        assert dp.table_work(inst) == sum(computed), seed


def test_quick_no_sharing_is_feasible_and_the_same_when_the_budget_does_not_bind():
    for seed in range(20):
        inst = bottom_common(seed, (1e11, 2e6)[seed % 2], n=8)
        quick = plcore.solve(inst, method="no-sharing", quick=True)
        for partial in (True, False):
            assert plcore.evaluate(inst, quick, partial=partial).feasible
        if seed % 2 == 0:
            assert quick == plcore.solve(inst, method="no-sharing"), seed
    per_user = random_instance(3, 8, 3, structure="general")
    assert plcore.evaluate(per_user, plcore.solve(per_user, "no-sharing", quick=True),
                           partial=False).feasible
