"""Closed-form least bandwidth against independent root-finding."""

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

import plcore
from plcore.model.bandwidth import min_time, shannon_rate

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
