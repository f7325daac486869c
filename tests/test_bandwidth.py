"""Closed-form least bandwidth against independent root-finding."""

import math
import re

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

import plcore
from plcore.model.bandwidth import min_time, shannon_rate

from . import reference_bandwidth
from .reference import bandwidth_bisect

EPS = np.finfo(float).eps


def brentq_bandwidth(D, a, t):
    """Root of t r(b) = D by scipy.optimize.brentq, bracketed in b."""
    f = lambda b: t * b * math.log1p(a / b) / math.log(2) - D
    hi = 1.0
    while f(hi) < 0:
        hi *= 2.0
    lo = hi
    while f(lo) >= 0:
        lo /= 2.0
    return brentq(f, lo, hi, xtol=1e-300, rtol=4 * EPS, maxiter=2000)


def test_against_brentq_over_wide_random_ranges():
    rng = np.random.default_rng(20260311)
    n = 3000
    D = 10 ** rng.uniform(0, 9, n)            # 1 bit .. 1 Gbit
    a = 10 ** rng.uniform(3, 15, n)           # 1 kHz .. 1 PHz
    c = 10 ** rng.uniform(-12, math.log10(1 - 1e-6), n)   # demanded share of the supremum
    t = D * math.log(2) / (a * c)
    got = plcore.min_bandwidth(D, a, t)
    ref = np.array([brentq_bandwidth(*x) for x in zip(D, a, t)])
    rel = np.abs(got - ref) / ref
    assert np.all(np.isfinite(got))
    # brentq's residual test limits it to about eps / (1 - c) near the supremum.
    assert np.all(rel <= 1e-9), rel.max()


@pytest.mark.parametrize("p", [0.5, 1e-1, 1e-3, 1e-5, 1e-7, 1e-9, 1e-11, 1e-13])
def test_near_the_supremum_against_50_digit_reference(p):
    """With c = 1 - p the problem's condition number is about 1/p; we must stay within it."""
    mpmath.mp.dps = 60
    rng = np.random.default_rng(int(-math.log10(p) * 1000))
    for _ in range(20):
        a = float(10 ** rng.uniform(4, 12))
        t = float(10 ** rng.uniform(-4, 0))
        D = (1 - p) * a * t / math.log(2)
        c = mpmath.mpf(D) * mpmath.log(2) / (mpmath.mpf(a) * mpmath.mpf(t))  # exact inputs
        x = mpmath.findroot(lambda x: mpmath.log1p(x) / x - c, 2 * (1 - c), solver="newton")
        ref = float(mpmath.mpf(a) / x)
        got = float(plcore.min_bandwidth(D, a, t))
        assert abs(got - ref) / ref <= 16 * EPS * (1 + 1 / p), (p, got, ref)


def test_tiny_data():
    a, t = 1e9, 1.0
    for D in [1e-6, 1.0, 1e3]:
        got = float(plcore.min_bandwidth(D, a, t))
        ref = brentq_bandwidth(D, a, t)
        assert got > 0 and abs(got - ref) / ref < 1e-12
    assert plcore.min_bandwidth(0.0, a, t) == 0.0
    assert plcore.min_bandwidth(0.0, a, 0.0) == 0.0


def test_impossible_cases_are_inf():
    a, D = 1e8, 1e6
    t_min = float(min_time(D, a))
    got = plcore.min_bandwidth(D, a, [-1.0, 0.0, t_min * (1 - 1e-12), t_min, t_min * (1 + 1e-9)])
    assert np.all(np.isinf(got[:4]))
    assert np.isfinite(got[4])


def test_broadcasting_and_shapes():
    D = np.array([1e5, 1e6])[:, None]
    t = np.array([0.01, 0.02, 0.05])[None, :]
    out = plcore.min_bandwidth(D, 1e9, t)
    assert out.shape == (2, 3)
    assert np.ndim(plcore.min_bandwidth(1e6, 1e9, 0.05)) == 0


def test_linear_rate():
    got = plcore.min_bandwidth([1e6, 1e6, 0.0], 4.0, [0.05, 0.0, 0.0], rate="linear")
    assert got[0] == pytest.approx(1e6 / (4.0 * 0.05), rel=1e-15)
    assert np.isinf(got[1]) and got[2] == 0.0
    assert plcore.min_bandwidth_linear(2e6, 2.0, 0.1) == pytest.approx(1e7)


@pytest.mark.parametrize("args,match", [
    ((np.nan, 1e8, 0.1), "NaN"),
    ((-1.0, 1e8, 0.1), "data_bits"),
    ((1e6, 0.0, 0.1), "a_hz"),
])
def test_bad_input_raises(args, match):
    with pytest.raises(ValueError, match=match):
        plcore.min_bandwidth(*args)
    with pytest.raises(ValueError, match="unknown rate"):
        plcore.min_bandwidth(1e6, 1e8, 0.1, rate="cubic")


@settings(max_examples=300, deadline=None)
@given(logD=st.floats(0, 9), loga=st.floats(3, 14), logt=st.floats(-5, 1))
def test_delivers_exactly_the_data_and_no_less_bandwidth_would(logD, loga, logt):
    D, a, t = 10 ** logD, 10 ** loga, 10 ** logt
    b = float(plcore.min_bandwidth(D, a, t))
    c = D * math.log(2) / (a * t)
    if c >= 1:
        assert math.isinf(b)
        return
    assert math.isfinite(b)
    delivered = t * float(shannon_rate(b, a))
    assert delivered == pytest.approx(D, rel=1e-9 / (1 - c))
    assert t * float(shannon_rate(b * (1 - 1e-6), a)) < D * (1 + 1e-12)   # less would not do


@settings(max_examples=200, deadline=None)
@given(logD=st.floats(2, 8), loga=st.floats(5, 12), t1=st.floats(1e-4, 1.0), dt=st.floats(0, 1.0))
def test_decreasing_in_time(logD, loga, t1, dt):
    b = plcore.min_bandwidth(10 ** logD, 10 ** loga, [t1, t1 + dt])
    assert b[1] <= b[0] * (1 + 1e-12) or np.isinf(b[0])


def test_agrees_with_the_test_suites_bisection_reference():
    rng = np.random.default_rng(7)
    D = 10 ** rng.uniform(4, 7, 500)
    a = 10 ** rng.uniform(6, 11, 500)
    t = 10 ** rng.uniform(-3, -0.5, 500)
    got = plcore.min_bandwidth(D, a, t)
    ref = bandwidth_bisect(D, a, t)
    finite = np.isfinite(ref) & (ref < 1e15)
    assert np.array_equal(np.isinf(got[~finite]), np.isinf(ref[~finite]))
    np.testing.assert_allclose(got[finite], ref[finite], rtol=1e-9)


def test_shannon_rate_limits():
    np.testing.assert_allclose(shannon_rate([0.0, np.inf], 1e8), [0.0, 1e8 / np.log(2)])
    assert shannon_rate(1e15, 1e8) == pytest.approx(1e8 / np.log(2), rel=1e-6)


# ------------------------------------------------------------------------------------------------
# The same values as main's implementation before its per-call overhead was cut, bit for bit.

def _same_bits(got, ref):
    got, ref = np.asarray(got), np.asarray(ref)
    return (got.shape == ref.shape and got.dtype == ref.dtype
            and np.array_equal(np.ascontiguousarray(got).view(np.int64),
                               np.ascontiguousarray(ref).view(np.int64)))


def _regime_sample(rng, n):
    """(D, a, t) covering every regime of the closed form, n of each kind, shuffled together."""
    ln2 = math.log(2)
    D = 10 ** rng.uniform(-3, 12, 12 * n)
    a = 10 ** rng.uniform(0, 15, 12 * n)
    p_near = 10 ** rng.uniform(-16, -3, n)            # the branch-point series start
    ulps = rng.integers(-40, 41, n)
    c = np.concatenate([
        10 ** rng.uniform(-300, -1, n),                     # c -> 0 (x huge, or inf)
        rng.uniform(0.01, 0.5, n),                          # the asymptotic start, far
        0.25 + ulps * EPS / 4, 0.5 + ulps * EPS / 2,        # where the starts and the solvers meet
        rng.uniform(0.5, 1.0, n),                           # the hi solver, both starts
        1.0 - 10 ** rng.uniform(-3.2, -2.8, n),             # around the p = 1e-3 switch
        np.log1p(0.2) / 0.2 * (1 + ulps * EPS),             # x around _SMALL_X (series / log1p)
        1.0 - p_near, 1.0 - EPS * rng.integers(1, 50, n),   # c -> 1
        rng.uniform(1.0, 3.0, n), np.ones(n),               # c >= 1: inf
        10 ** rng.uniform(-320, 0, n),                      # subnormal c and below
    ])
    with np.errstate(over="ignore"):
        t = D * ln2 / (a * c)
    # t <= 0, t = inf, no data, huge and tiny data (overflow and underflow inside c)
    k = rng.integers(0, 12 * n, 6 * n // 2)
    t[k[: n // 2]] = -rng.uniform(0, 1, n // 2)
    t[k[n // 2: n]] = 0.0
    t[k[n: 3 * n // 2]] = np.inf
    D[k[3 * n // 2: 2 * n]] = 0.0
    D[k[2 * n: 5 * n // 2]] = 10 ** rng.uniform(250, 308, n // 2)
    D[k[5 * n // 2:]] = 10 ** rng.uniform(-320, -250, len(k) - 5 * n // 2)
    perm = rng.permutation(12 * n)
    return D[perm], a[perm], t[perm]


@pytest.mark.parametrize("seed", range(4))
def test_bit_for_bit_as_the_frozen_reference_on_every_regime(seed):
    rng = np.random.default_rng(31337 + seed)
    D, a, t = _regime_sample(rng, 4000)
    with np.errstate(all="ignore"):
        got, ref = plcore.min_bandwidth(D, a, t), reference_bandwidth.min_bandwidth(D, a, t)
    assert _same_bits(got, ref)
    assert np.isinf(ref).any() and (ref == 0).any() and np.isfinite(ref).sum() > 30000
    # Small calls, as the solvers make them: every size 0-50 and pure or mixed regimes.
    with np.errstate(all="ignore"):
        for start in range(0, 3000, 47):
            for size in (0, 1, 2, 6, 50):
                sl = slice(start, start + size)
                assert _same_bits(plcore.min_bandwidth(D[sl], a[sl], t[sl]),
                                  reference_bandwidth.min_bandwidth(D[sl], a[sl], t[sl]))
        order = np.argsort(D * math.log(2) / (a * t))      # runs of one regime each
        for j in range(0, len(order), 97):
            sl = order[j: j + 6]
            assert _same_bits(plcore.min_bandwidth(D[sl], a[sl], t[sl]),
                              reference_bandwidth.min_bandwidth(D[sl], a[sl], t[sl]))


@pytest.mark.parametrize("rate", ["shannon", "linear"])
def test_bit_for_bit_scalars_0d_and_broadcasting(rate):
    rng = np.random.default_rng(99)
    D, a, t = _regime_sample(rng, 40)
    calls = [(float(D[i]), float(a[i]), float(t[i])) for i in range(0, len(D), 7)]
    calls += [(np.asarray(D[i]), a[i], np.asarray(t[i])) for i in range(3, len(D), 11)]
    calls += [(int(1e6), 10**8, 1), (0, 1e8, 0), (0, 1e8, -1.0), (1e6, 1e8, -0.0)]
    calls += [(D[:24].reshape(4, 6), a[:6], t[24:28, None]),        # (4, 6) from three shapes
              (D[:3, None, None], a[3:5, None], t[:7]),             # (3, 2, 7)
              (list(D[:5]), 1e9, t[5:10].tolist()), (D[:0], a[:1], 1.0),
              (np.asfortranarray(D[:12].reshape(3, 4)), a[0], t[:12].reshape(3, 4)[:, ::-1])]
    for args in calls:
        with np.errstate(all="ignore"):
            got = plcore.min_bandwidth(*args, rate=rate)
            ref = reference_bandwidth.min_bandwidth(*args, rate=rate)
        assert _same_bits(got, ref), args


def test_bad_input_raises_as_the_frozen_reference():
    for args in [(np.nan, 1e8, 0.1), (-1.0, np.nan, 0.1), (1e6, 1e8, np.nan), (-1.0, 0.0, 0.1),
                 (1e6, -2.0, 0.1), ([1.0, -1.0], 1e8, 0.1), (1e6, [1e8, 0.0], 0.1)]:
        with pytest.raises(ValueError) as ref:
            reference_bandwidth.min_bandwidth(*args, rate="cubic")
        with pytest.raises(ValueError, match=re.escape(str(ref.value))):
            plcore.min_bandwidth(*args, rate="cubic")


@pytest.mark.parametrize("regime", ["far", "near"])
def test_bit_for_bit_on_arrays_past_the_solvers_size_switches(regime):
    """Both ways of stopping Newton early (whole arrays, element by element) on either solver."""
    from plcore.model import bandwidth
    rng = np.random.default_rng(5)
    n = bandwidth._WHOLE_ARRAY + 5000
    c = (10 ** rng.uniform(-9, math.log10(0.5), n) if regime == "far"
         else 1 - 10 ** rng.uniform(-14, math.log10(0.5), n))
    a = 10 ** rng.uniform(5, 10, n)
    D = 10 ** rng.uniform(3, 8, n)
    t = D * math.log(2) / (a * c)
    for sl in (slice(None), slice(0, bandwidth._FLAT_SERIES + 1), slice(0, 300)):
        assert _same_bits(plcore.min_bandwidth(D[sl], a[sl], t[sl]),
                          reference_bandwidth.min_bandwidth(D[sl], a[sl], t[sl]))


def test_phi_series_on_python_floats_flat_and_in_place_as_the_frozen_reference():
    """The three ways the series of phi is summed give the reference's bits, near 0 and 0.2 too."""
    from plcore.model import bandwidth
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.uniform(0, 0.2, 4000), 10 ** rng.uniform(-320, -0.7, 4000),
                        [0.0, 5e-324, 0.2 - EPS / 8, 0.2, 0.2 + EPS / 4, 1.0, 1e300]])
    rng.shuffle(x)
    sizes = [1, 2, bandwidth._SCALAR_SERIES, bandwidth._SCALAR_SERIES + 1, 50,
             bandwidth._FLAT_SERIES - 1, bandwidth._FLAT_SERIES, len(x)]
    for size in sizes:
        for start in range(0, len(x) - size + 1, max(size, len(x) // 7)):
            xs = x[start: start + size]
            with np.errstate(over="ignore"):       # 1e300 ** 2 in phi'
                pairs = zip(bandwidth._phi(xs), reference_bandwidth._phi(xs))
            for got, ref in pairs:
                assert _same_bits(got, ref), (size, start)
