"""The online wing: workloads, block cache, uplink, the event simulator, policies and metrics."""

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import plcore
from plcore.errors import InstanceError
from plcore.online import (ArrivalOrder, BlockCache, EDFBatch, FixedOrder, Lyapunov, RollingPL,
                           Workload, cluster_catalogue, from_instance, generate, read_trace,
                           simulate, write_trace)
from plcore.online.metrics import frame, jain_index, quantile_ci, summary
from plcore.online.uplink import least_bandwidth
from plcore.paths import ROOT
from plcore.study.scenarios import make_instance

CAT = cluster_catalogue()


# ------------------------------------------------------------------ the batch model, reproduced

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_at_t0_reproduces_evaluate_timeline(seed):
    """All requests at t = 0, room for one model, no pipelining: the rolling-window policy's first
    plan is plcore.solve's schedule, and the simulated loads and inference starts are evaluate's
    (ALAP) timeline under the partial loader."""
    inst = make_instance(seed=seed, n_users=12, bandwidth_hz=1e9, deadline_s=(0.15, 0.4))
    seq = plcore.solve(inst, method="greedy")
    assert len(seq) == inst.n_users          # everyone served: no leftover uploads in the band
    ev = plcore.evaluate(inst, seq)
    one_model = max(sum(inst.blocks[b].bytes for b in m.blocks) for m in inst.models.values())
    cat = inst.replace(users=[])
    run = simulate(cat, from_instance(inst), RollingPL(method="greedy"), capacity_bytes=one_model,
                   bandwidth="least", share_leftover=False)
    order = np.argsort(run.start_s)
    assert order.tolist() == seq
    np.testing.assert_allclose(run.start_s[seq], ev.start_s, rtol=0, atol=1e-9)
    np.testing.assert_allclose(run.load_s[seq], ev.load_s, rtol=0, atol=1e-12)
    np.testing.assert_allclose(run.finish_s[seq], ev.finish_s, rtol=0, atol=1e-9)
    assert run.count("served") == inst.n_users


def test_whole_model_loader_reproduces_evaluate_without_sharing():
    inst = make_instance(seed=3, n_users=10, bandwidth_hz=1e9, deadline_s=1.0)
    seq = list(range(inst.n_users))               # arrival order
    ev = plcore.evaluate(inst, seq, partial=False)
    assert ev.feasible
    policy = FixedOrder(seq, plan_s=ev.start_s)
    policy.loader = "whole"
    run = simulate(inst.replace(users=[]), from_instance(inst), policy, bandwidth="least",
                   share_leftover=False)
    np.testing.assert_allclose(run.load_s[seq], ev.load_s, rtol=0, atol=1e-12)
    np.testing.assert_allclose(run.start_s[seq], ev.start_s, rtol=0, atol=1e-9)


# ------------------------------------------------------------------ a trace checked by hand

def _hand_catalogue():
    return plcore.Instance.from_dict({
        "blocks": {"A": {"bytes": 4, "load_s": 0.010}, "B": {"bytes": 1, "load_s": 0.002},
                   "C": {"bytes": 1, "load_s": 0.002}, "D": {"bytes": 2, "load_s": 0.004}},
        "models": {"m1": {"blocks": ["A", "B"], "infer_s": 0.005},
                   "m2": {"blocks": ["A", "C"], "infer_s": 0.005},
                   "m3": {"blocks": ["D"], "infer_s": 0.003}},
        "users": [], "noise_psd_w_hz": 1e-20, "bandwidth_hz": 1e6})


def _hand_workload(cat):
    # a = p g / N0 = 1 * 3e-14 / 1e-20 = 3e6 Hz; alone on 1 MHz: 1e6 log2(1 + 3) = 2e6 bit/s.
    return Workload(tuple(cat.models), np.array([0.0, 0.001, 0.002, 0.003, 0.004]),
                    np.array([0, 1, 2, 0, 1]), np.array([0.0, 0.0, 0.0, 2e4, 0.0]),
                    np.array([0.1, 0.1, 0.1, 0.1, 0.02]), np.arange(5), np.full(5, 3e-14),
                    power_w=1.0)


def test_hand_checked_trace_fifo_lru():
    """Capacity 6 B. r0 (m1) loads A+B (12 ms): starts 12, ends 17 ms. r1 (m2) finds A, loads C
    (2 ms, fits: 5 + 1 = 6 B): 19 -> 24. r2 (m3) needs D (2 B): LRU order B, A, C, so B then A
    are evicted; loads D (4 ms): 28 -> 31. r3 (m1) needs A+B (5 B) with C, D (3 B) resident:
    both evicted, loads 12 ms: 43 -> 48; its 2e4 bits came in at 3 + 10 = 13 ms. r4 (m2, due at
    24 ms) is rejected as unreachable when its turn comes at 48 ms."""
    cat = _hand_catalogue()
    run = simulate(cat, _hand_workload(cat), ArrivalOrder(), capacity_bytes=6)
    s = run.start_s
    assert s[:4] == pytest.approx([0.012, 0.019, 0.028, 0.043], abs=1e-12)
    assert run.finish_s[:4] == pytest.approx([0.017, 0.024, 0.031, 0.048], abs=1e-12)
    assert run.dispatch_s[:4] == pytest.approx([0.0, 0.017, 0.024, 0.031], abs=1e-12)
    assert run.load_s[:4] == pytest.approx([0.012, 0.002, 0.004, 0.012], abs=1e-12)
    assert run.bytes_loaded.tolist() == [5, 1, 2, 5, 0]
    assert run.hits.tolist() == [0, 1, 0, 0, 0]
    assert run.upload_s[3] == pytest.approx(0.013, abs=1e-12)
    assert run.status.tolist() == [3, 3, 3, 3, 5]
    assert run.reason[4] == "unreachable" and run.end_s[4] == pytest.approx(0.048, abs=1e-12)
    assert run.horizon_s == pytest.approx(0.048, abs=1e-12)
    assert run.gpu_load_s == pytest.approx(0.030, abs=1e-12)
    assert run.gpu_infer_s == pytest.approx(0.018, abs=1e-12)


def test_hand_checked_trace_pipelined():
    """Inference split by bytes: m1 = A (4/5 of 5 ms = 4 ms) + B (1 ms). r0: A ready at 10 ms,
    computes 10 -> 14; B ready at 12, computes 14 -> 15. r1 (m2): A resident, C ready at 17;
    A computes 15 -> 19, C 19 -> 20."""
    cat = _hand_catalogue()
    run = simulate(cat, _hand_workload(cat), ArrivalOrder(), capacity_bytes=6, pipelined=True)
    assert run.start_s[:2] == pytest.approx([0.010, 0.015], abs=1e-12)
    assert run.finish_s[:2] == pytest.approx([0.015, 0.020], abs=1e-12)


def test_whole_model_loader_hand_trace():
    """The traditional server reloads A+B (12 ms) for r0, A+C (12 ms) for r1, D (4 ms) for r2."""
    cat = _hand_catalogue()
    run = simulate(cat, _hand_workload(cat), ArrivalOrder(loader="whole"))
    assert run.load_s[:3] == pytest.approx([0.012, 0.012, 0.004], abs=1e-12)
    assert run.finish_s[:3] == pytest.approx([0.017, 0.034, 0.041], abs=1e-12)


def _requests(cat, rows):
    """A workload of hand-made requests ``(arrival_s, model index, data_bits, deadline_s)``;
    ``a = p g / N0 = 3e6 Hz`` for everyone, as in :func:`_hand_workload`."""
    arr, model, bits, dl = (np.array(c, dtype=float) for c in zip(*rows))
    n = len(rows)
    return Workload(tuple(cat.models), arr, model.astype(int), bits, dl, np.arange(n),
                    np.full(n, 3e-14), power_w=1.0)


def _rate(share_hz, a_hz=3e6):
    return share_hz * math.log2(1 + a_hz / share_hz)


def test_drop_rule_judges_with_the_share_a_rejection_gave_back():
    """r0 (m3, no data) holds the GPU 0 -> 7 ms (D 4 ms + 3 ms). r1 and r2 (m3) upload from 0 on
    half the band each. At 7 ms r1 (due at 5 ms) is rejected; its half goes to r2, whose
    remaining bits then take R / (2e6 bit/s): r2 finishes at 7 + R / 2e6 + 3 ms < 16 ms, its
    deadline. Judged with the half share of before r1 left, it would finish after 16 ms and be
    rejected as unreachable."""
    cat = _hand_catalogue()
    w = _requests(cat, [(0, 2, 0, 0.1), (0, 2, 1e5, 0.005), (0, 2, 2e4, 0.016)])
    run = simulate(cat, w, ArrivalOrder())
    rem = 2e4 - 0.007 * _rate(0.5e6)                              # r2's bits left at 7 ms
    assert 0.007 + rem / _rate(0.5e6) + 0.003 > 0.016             # stale share: "unreachable"
    assert run.reason[1] == "unreachable" and run.end_s[1] == pytest.approx(0.007, abs=1e-12)
    assert run.status[2] == 3 and run.dispatch_s[2] == pytest.approx(0.007, abs=1e-12)
    assert run.upload_s[2] == pytest.approx(0.007 + rem / _rate(1e6), abs=1e-12)
    assert run.finish_s[2] == pytest.approx(0.010 + rem / _rate(1e6), abs=1e-12)


@pytest.mark.parametrize("bits, finish", [(0.0, 0.015), (2.2e4, 0.016)])
def test_drop_rule_uses_the_pipelined_finish(bits, finish):
    """m1 (A 10 ms, B 2 ms; 5 ms of inference, 4 ms on A and 1 ms on B) from an empty cache.
    Data in at once: A computes 10 -> 14, B 14 -> 15 ms. Data in at 11 ms (2.2e4 bits at 2e6
    bit/s): A 11 -> 15, B 15 -> 16 ms. Sequentially 12 + 5 = 17 ms either way, so with a 16.5 ms
    deadline the request is reachable only on the pipelined timeline; at 14.5 ms on neither."""
    cat = _hand_catalogue()
    run = simulate(cat, _requests(cat, [(0, 0, bits, 0.0165)]), ArrivalOrder(), pipelined=True)
    assert run.status[0] == 3 and run.finish_s[0] == pytest.approx(finish, abs=1e-12)
    seq = simulate(cat, _requests(cat, [(0, 0, bits, 0.0165)]), ArrivalOrder())
    assert seq.reason[0] == "unreachable"
    tight = simulate(cat, _requests(cat, [(0, 0, bits, 0.0145)]), ArrivalOrder(), pipelined=True)
    assert tight.reason[0] == "unreachable"


def test_horizon_is_the_last_real_event():
    """r0 (m3, 2e4 bits, deadline 1000 s) is dispatched at 0 and waits for its data (in at 10 ms):
    it finishes at 13 ms. Its upload timeout, at 1000 s, no longer matters: the run ends at 13 ms
    and the GPU was busy all of it."""
    cat = _hand_catalogue()
    run = simulate(cat, _requests(cat, [(0, 2, 2e4, 1e3)]), ArrivalOrder())
    assert run.finish_s[0] == pytest.approx(0.013, abs=1e-12)
    assert run.horizon_s == pytest.approx(0.013, abs=1e-12)
    assert summary(run, n_boot=10)["gpu_idle_share"] == pytest.approx(0.0, abs=1e-9)


# ------------------------------------------------------------------ properties

POLICY_FACTORIES = [lambda: ArrivalOrder(), lambda: ArrivalOrder(loader="whole"),
                    lambda: ArrivalOrder(drop_hopeless=False), lambda: EDFBatch(max_batch=4),
                    lambda: Lyapunov(V=1.0), lambda: RollingPL(commit="batch"),
                    lambda: RollingPL(method="dp", period_s=0.05)]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(0, 40), rate=st.sampled_from([5.0, 50.0, 400.0]),
       policy=st.sampled_from(range(len(POLICY_FACTORIES))),
       capacity=st.sampled_from([1.03e8, 2.5e8, 1e9]),
       eviction=st.sampled_from(["lru", "sharing", "belady"]), pipelined=st.booleans(),
       bandwidth=st.sampled_from(["equal", "least"]), cv=st.sampled_from([1.0, 3.0]),
       coherence=st.sampled_from([math.inf, 0.005]))
# A request served late is dispatched after its deadline with its data not in: its upload timeout
# once went back in time, and the GPU ran the next requests before they arrived.
@example(seed=4230, n=28, rate=50.0, policy=2, capacity=1.03e8, eviction="lru", pipelined=False,
         bandwidth="equal", cv=3.0, coherence=0.005)
def test_conservation_and_goodput(seed, n, rate, policy, capacity, eviction, pipelined,
                                  bandwidth, cv, coherence):
    w = generate(CAT, n, rate, seed=seed, cv=cv, deadline_s=(0.02, 0.3), coherence_s=coherence,
                 popularity="zipf")
    run = simulate(CAT, w, POLICY_FACTORIES[policy](), capacity_bytes=capacity,
                   eviction=eviction, pipelined=pipelined, bandwidth=bandwidth)
    assert run.count("served") + run.count("late") + run.count("rejected") == n
    assert set(run.status.tolist()) <= {3, 4, 5}
    ran = run.status != 5
    assert np.all(run.finish_s[ran] >= run.arrival_s[ran])
    assert np.all(np.isnan(run.finish_s[~ran]) | (run.status[~ran] == 5))
    # The horizon is the last arrival, upload completion, dispatch or end (the requests left
    # unscheduled end at the horizon, so they do not define it); stale events do not count.
    ended = np.array([r != "unscheduled" for r in run.reason], dtype=bool)
    times = np.concatenate([run.arrival_s, run.upload_s, run.dispatch_s, run.end_s[ended]])
    assert run.horizon_s == (np.nanmax(times) if n else 0.0)
    if n:
        s = summary(run, n_boot=50)
        assert s["goodput_hz"] <= s["arrival_rate_hz"] * (1 + 1e-12)
        assert 0 <= s["cache_hit_rate"] <= 1 or math.isnan(s["cache_hit_rate"])


@settings(max_examples=150, deadline=None)
@given(n_blocks=st.integers(2, 9), data=st.data())
def test_belady_never_loads_more_than_lru(n_blocks, data):
    """Equal-sized blocks (Belady's MIN is optimal there), models as random block sets."""
    n_models = data.draw(st.integers(1, 5))
    models = [data.draw(st.sets(st.integers(0, n_blocks - 1), min_size=1, max_size=n_blocks))
              for _ in range(n_models)]
    biggest = max(len(m) for m in models)
    capacity = data.draw(st.integers(biggest, n_blocks))
    seq = data.draw(st.lists(st.integers(0, n_models - 1), max_size=40))
    pos = [0]

    def next_use(b):
        for i in range(pos[0] + 1, len(seq)):
            if b in models[seq[i]]:
                return i
        return math.inf

    lru = BlockCache([1.0] * n_blocks, capacity)
    bel = BlockCache([1.0] * n_blocks, capacity, "belady", next_use=next_use)
    for i, m in enumerate(seq):
        pos[0] = i
        lru.load(sorted(models[m]))
        bel.load(sorted(models[m]))
        assert bel.used <= capacity + 1e-9 and lru.used <= capacity + 1e-9
    assert bel.bytes_loaded <= lru.bytes_loaded


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), capacity=st.sampled_from([3, 4, 5, 8]))
def test_belady_never_loads_more_than_lru_in_the_simulator(seed, capacity):
    """Arrival order with ample deadlines: the dispatch sequence is the arrival sequence under
    both policies, and Belady sees it. Blocks of equal size (heads as large as backbone blocks)."""
    cat = cluster_catalogue(3, 3, backbone_blocks=2, backbone_bytes=2.0, head_bytes=1.0,
                            load_Bps=1e3)
    w = generate(cat, 60, 20.0, seed=seed, deadline_s=1e4, popularity="zipf")
    runs = {ev: simulate(cat, w, ArrivalOrder(), capacity_bytes=capacity, eviction=ev)
            for ev in ("lru", "belady", "sharing")}
    assert runs["lru"].count("served") == 60 == runs["belady"].count("served")
    assert runs["belady"].bytes_loaded.sum() <= runs["lru"].bytes_loaded.sum()
    assert runs["belady"].bytes_loaded.sum() <= runs["sharing"].bytes_loaded.sum()


# ------------------------------------------------------------------ cache, uplink

def test_cache_refuses_a_model_larger_than_memory_and_the_simulator_rejects_it():
    cat = _hand_catalogue()
    run = simulate(cat, _hand_workload(cat), ArrivalOrder(), capacity_bytes=4.5)
    assert run.reason[0] == "too-large" and run.reason[2] == ""      # m3 (2 B) still fits


def test_cache_policies_choose_their_victims():
    need = {0: 5, 1: 0, 2: 2}
    c = BlockCache([1, 1, 1, 1], 3, "sharing", need=lambda b: need.get(b, 0))
    c.load([0]), c.load([1]), c.load([2])
    assert c.load([3]) == [3] and 1 not in c and 0 in c and 2 in c


@pytest.mark.parametrize("D, a, t", [(1e6, 1e8, 0.05), (1.2e6, 3e9, 0.004), (1e3, 1e7, 1.0),
                                     (1e6, 1e8, 0.0069315), (5e5, 2e6, 0.3), (1e6, 1e8, -1.0),
                                     (0.0, 1e8, 0.1), (1e6, 1e8, 0.00693)])
def test_scalar_least_bandwidth_matches_the_closed_form(D, a, t):
    ref = float(plcore.min_bandwidth(D, a, t))
    got = least_bandwidth(D, a, t)
    if math.isinf(ref):
        assert math.isinf(got)
    else:
        assert got == pytest.approx(ref, rel=1e-9, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(D=st.floats(1.0, 1e8), a=st.floats(1e4, 1e13), t=st.floats(1e-5, 10.0))
def test_scalar_least_bandwidth_matches_on_random_inputs(D, a, t):
    ref = float(plcore.min_bandwidth(D, a, t))
    got = least_bandwidth(D, a, t)
    c = D * math.log(2) / (a * t)
    if math.isinf(ref) or c > 1 - 1e-6:
        assert math.isinf(got) == math.isinf(ref) or c > 1 - 1e-6
    else:
        assert got == pytest.approx(ref, rel=1e-8)


# ------------------------------------------------------------------ workloads and traces

def test_workload_is_seeded_and_has_the_asked_statistics():
    a = generate(CAT, 20000, 100.0, seed=5, cv=2.0, popularity="zipf", zipf_alpha=1.2,
                 coherence_s=0.01)
    b = generate(CAT, 20000, 100.0, seed=5, cv=2.0, popularity="zipf", zipf_alpha=1.2,
                 coherence_s=0.01)
    c = generate(CAT, 20000, 100.0, seed=6, cv=2.0, popularity="zipf", zipf_alpha=1.2)
    for f in ("arrival_s", "model", "data_bits", "deadline_s", "user", "mean_gain"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert a.gain_at(17, 3.21) == b.gain_at(17, 3.21)
    assert not np.array_equal(a.arrival_s, c.arrival_s)
    gaps = np.diff(a.arrival_s)
    assert gaps.mean() == pytest.approx(0.01, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(2.0, rel=0.1)
    counts = np.bincount(a.model, minlength=10)
    assert counts[0] > counts[1] > counts[3] > counts[9]
    # Rayleigh block fading: mean factor 1, constant within an interval, redrawn across them.
    f = np.array([a.gain_at(3, 0.01 * j + 0.005) for j in range(4000)]) / a.mean_gain[3]
    assert f.mean() == pytest.approx(1.0, rel=0.06)
    assert a.gain_at(3, 0.0101) == a.gain_at(3, 0.0199) != a.gain_at(3, 0.0201)


def test_hot_models_get_their_share():
    w = generate(CAT, 10000, 50.0, seed=1, popularity="hot", hot_models=2, hot_share=0.9)
    assert np.isin(w.model, [0, 1]).mean() == pytest.approx(0.9, abs=0.015)


def test_trace_round_trip(tmp_path):
    w = generate(CAT, 50, 30.0, seed=2, deadline_s=(0.1, 0.3))
    write_trace(w, tmp_path / "t.csv")
    r = read_trace(tmp_path / "t.csv", CAT)
    for f in ("arrival_s", "model", "data_bits", "deadline_s", "user"):
        np.testing.assert_array_equal(getattr(r, f), getattr(w, f))
    np.testing.assert_array_equal(r.mean_gain, w.channel_gain)


@pytest.mark.parametrize("row, message", [
    ("0.1,c0m0,1e6,0.2,abc", "line 3, column 'channel_gain': not a number: 'abc'"),
    ("0.1,nope,1e6,0.2,1e-10", "line 3, column 'model': unknown model 'nope'"),
    ("0.1,c0m0,1e6,0,1e-10", "line 3, column 'deadline_s': must be > 0, got '0'"),
    ("0.1,c0m0,nan,0.2,1e-10", "line 3, column 'data_bits': must be finite"),
    ("0.01,c0m0,1e6,0.2,1e-10", "line 3, column 'arrival_s': 0.01 is earlier than the previous"),
    ("0.1,c0m0,-5,0.2,1e-10", "line 3, column 'data_bits': must be >= 0, got '-5'"),
])
def test_bad_trace_rows_are_named(tmp_path, row, message):
    p = tmp_path / "t.csv"
    p.write_text("arrival_s,model,data_bits,deadline_s,channel_gain\n"
                 f"0.05,c0m1,1e6,0.2,1e-10\n{row}\n")
    with pytest.raises(InstanceError) as exc:
        read_trace(p, CAT)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_trace_without_a_column_is_refused(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("arrival_s,model,data_bits,deadline_s\n0,c0m0,1,1\n")
    with pytest.raises(InstanceError, match="missing column.*channel_gain"):
        read_trace(p, CAT)


# ------------------------------------------------------------------ policies

def test_partial_loading_policies_beat_the_traditional_server():
    w = generate(CAT, 1500, 60.0, seed=4, deadline_s=0.3, data_bits=2e5)
    good = {}
    for name, pol, cap in [("whole", ArrivalOrder(loader="whole"), None),
                           ("cache", ArrivalOrder(), 2.5e8), ("pl", RollingPL(), 2.5e8),
                           ("edf", EDFBatch(), 2.5e8)]:
        run = simulate(CAT, w, pol, capacity_bytes=cap)
        good[name] = run.count("served")
        assert (run.bytes_loaded.sum() > 0)
    assert good["cache"] > good["whole"] and good["pl"] > good["whole"]
    assert good["edf"] > good["whole"]


def test_lyapunov_V_trades_throughput_for_fairness():
    """Hot models, room for one model, overload: V = 0 serves the models furthest behind their
    target share (fair, many reloads); a huge V serves what is cheapest to load (more served)."""
    w = generate(CAT, 2000, 200.0, seed=3, popularity="hot", hot_models=2, hot_share=0.7,
                 deadline_s=0.15, data_bits=1e5)
    fair = summary(simulate(CAT, w, Lyapunov(V=0.0), capacity_bytes=1.1e8), n_boot=50)
    greedy = summary(simulate(CAT, w, Lyapunov(V=1e6), capacity_bytes=1.1e8), n_boot=50)
    assert greedy["served"] > 1.2 * fair["served"]
    assert fair["jain_models"] > 0.95 > 0.7 > greedy["jain_models"]
    assert fair["gpu_load_share"] > 2 * greedy["gpu_load_share"]


# ------------------------------------------------------------------ metrics and command line

def test_quantile_ci_matches_plain_resampling():
    x = np.random.default_rng(0).exponential(size=500)
    est, lo, hi = quantile_ci(x, 0.95, n_boot=4000, seed=1)
    assert est == np.quantile(x, 0.95, method="inverted_cdf")
    rng = np.random.default_rng(2)
    reps = np.quantile(x[rng.integers(0, x.size, (4000, x.size))], 0.95, axis=1,
                       method="inverted_cdf")
    assert lo == pytest.approx(np.quantile(reps, 0.025), rel=0.05)
    assert hi == pytest.approx(np.quantile(reps, 0.975), rel=0.05)
    assert quantile_ci(x, 0.95, seed=1) == quantile_ci(x, 0.95, seed=1)


def test_jain_and_frame_and_summary():
    assert jain_index([2, 2]) == 1.0 and jain_index([1, 0]) == 0.5
    w = generate(CAT, 200, 40.0, seed=0)
    run = simulate(CAT, w, RollingPL(), capacity_bytes=3e8)
    df = frame(run)
    assert len(df) == 200 and set(df["status"]) <= {"served", "late", "rejected"}
    s = summary(run, n_boot=100)
    assert s["served"] == (df["status"] == "served").sum()
    assert s["latency_p50_lo_s"] <= s["latency_p50_s"] <= s["latency_p50_hi_s"]
    assert 0 <= s["gpu_idle_share"] <= 1


def test_cli_simulate(tmp_path):
    out = tmp_path / "run.csv"
    cmd = [sys.executable, "-m", "plcore", "simulate", "data/instances/example.json",
           "--policy", "edf-batch", "--requests", "200", "--capacity-gb", "0.4", "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert "goodput" in res.stdout and "Jain" in res.stdout and len(res.stdout.splitlines()) < 25
    assert out.read_text().count("\n") == 201
    bad = subprocess.run([sys.executable, "-m", "plcore", "simulate", str(out)],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and bad.stderr.startswith("plcore: error:")
