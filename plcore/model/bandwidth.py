r"""Closed-form least bandwidth (MODEL.md section 2, "Bandwidth").

A user with input ``D`` bits, ``a = p g / N0`` Hz and an uplink of ``b`` Hz sends at the Shannon rate
:math:`r(b) = b \log_2(1 + a/b)` bit/s. The least bandwidth that delivers ``D`` bits in ``t`` seconds
is the root of :math:`t\, r(b) = D`. With :math:`x = a/b` and :math:`c = D \ln 2 / (a t)` this is
:math:`\ln(1+x)/x = c`, whose positive root exists iff :math:`c < 1` (the rate's supremum is
:math:`a/\ln 2`) and is given by the lower branch of the Lambert W function:

.. math::  y = 1 + x = -W_{-1}(-c e^{-c}) / c, \qquad \beta(t) = a / (y - 1).

Accuracy. The formula alone loses digits in two places: near the supremum (:math:`c \to 1`) the
argument approaches the branch point :math:`-1/e` and :math:`y - 1` cancels; for tiny data
(:math:`c \to 0`) it is fine. We therefore start from series approximations of :math:`W_{-1}`
(about the branch point and asymptotic; a few per cent off at worst) and polish with Newton steps
on a formulation that is well conditioned in each regime (:math:`\ln(1+x)/x = c` for :math:`c \le 1/2`,
:math:`(x - \ln(1+x))/x = 1 - c` with a series for small :math:`x` otherwise) and start from the
branch-point series :math:`x \approx 2p + \tfrac83 p^2 + \tfrac{28}{9} p^3` (:math:`p = 1 - c`) where
that is closer. The result is accurate to a few ulp times the problem's own condition number
:math:`\approx 1/p` (tested against 50-digit mpmath and against ``scipy.optimize.brentq``).
"""

from __future__ import annotations

import numpy as np

LN2 = float(np.log(2.0))

__all__ = ["min_bandwidth", "min_bandwidth_linear", "shannon_rate", "min_time"]


def shannon_rate(b_hz, a_hz):
    r"""Shannon rate :math:`r(b) = b \log_2(1 + a/b)` in bit/s (0 at ``b = 0``).

    Parameters
    ----------
    b_hz : array_like
        Bandwidth (Hz), ``>= 0``.
    a_hz : array_like
        ``a = p g / N0`` (Hz). Broadcasts with ``b_hz``.

    Returns
    -------
    ndarray
        Rate (bit/s), the broadcast shape; ``a / ln 2`` (the supremum) at ``b = inf``.
    """
    b = np.asarray(b_hz, dtype=float)
    a = np.asarray(a_hz, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = b * np.log1p(a / b) / LN2
    return np.where(np.isinf(b), a / LN2, np.where(b > 0, r, 0.0))


def min_time(data_bits, a_hz):
    r"""Shortest possible upload time (s), at infinite bandwidth: :math:`D \ln 2 / a`.

    :func:`min_bandwidth` is finite exactly for ``t`` strictly above this.

    Parameters
    ----------
    data_bits : array_like
        Input size ``D`` (bit).
    a_hz : array_like
        ``a = p g / N0`` (Hz), ``> 0``. Broadcasts with ``data_bits``.

    Returns
    -------
    ndarray
        Time (s), the broadcast shape.
    """
    return np.asarray(data_bits, dtype=float) * LN2 / np.asarray(a_hz, dtype=float)


def _all(mask):
    """``mask.all()``, at a third of its cost on small arrays."""
    return np.count_nonzero(mask) == mask.size


def _any(mask):
    """``mask.any()``, at a third of its cost on small arrays."""
    return np.count_nonzero(mask) > 0


def _by_mask(mask, x, where_true, where_false):
    """``where_true(x)`` where ``mask``, ``where_false(x)`` elsewhere (1-d ``x``; either may return
    a tuple of arrays): each element is computed by the function it uses only, and neither is
    called on an empty selection."""
    if _all(mask):
        return where_true(x)
    if not _any(mask):
        return where_false(x)
    other = ~mask
    a, b = where_true(x[mask]), where_false(x[other])
    single = not isinstance(a, tuple)
    outs = []
    for ai, bi in zip((a,) if single else a, (b,) if single else b):
        out = np.empty_like(x)
        out[mask], out[other] = ai, bi
        outs.append(out)
    return outs[0] if single else tuple(outs)


def min_bandwidth(data_bits, a_hz, t_s, *, rate: str = "shannon"):
    r"""Least uplink bandwidth (Hz) that delivers ``data_bits`` within ``t_s`` seconds.

    The smallest ``b`` with ``t_s * r(b) >= data_bits`` (MODEL.md section 2), in closed form through
    the lower Lambert-W branch. NumPy-vectorized; the arguments broadcast.

    Parameters
    ----------
    data_bits : array_like
        Input size ``D`` (bit), ``>= 0``.
    a_hz : array_like
        Shannon rate: ``a = power_w * channel_gain / N0`` (Hz), ``> 0``.
        With ``rate="linear"``: the spectral efficiency (bit/s/Hz), ``> 0``.
    t_s : array_like
        Time available for the upload (s).
    rate : {"shannon", "linear"}
        The rate model; ``"linear"`` means ``r(b) = b * spectral_eff``.

    Returns
    -------
    ndarray
        Bandwidth (Hz), the broadcast shape of the inputs (a 0-d array for scalars). ``+inf`` where
        no finite bandwidth suffices: ``t_s <= 0`` with ``data_bits > 0``, or
        ``data_bits * ln 2 / (a * t_s) >= 1`` (the demanded rate reaches the supremum ``a / ln 2``).
        ``0`` where ``data_bits == 0`` and ``t_s >= 0``.

    Raises
    ------
    ValueError
        For NaN inputs, negative ``data_bits``, non-positive ``a_hz``, or an unknown ``rate``.

    Examples
    --------
    >>> import numpy as np, plcore
    >>> b = plcore.min_bandwidth(1e6, 1e8, 0.05)
    >>> float(np.round(b / 1e6, 4))               # MHz
    4.3683
    >>> from plcore.model.bandwidth import shannon_rate
    >>> float(np.round(0.05 * shannon_rate(b, 1e8) / 1e6, 9))   # delivers exactly 1e6 bits
    1.0
    >>> plcore.min_bandwidth([1e6, 1e6], 1e8, [0.0, 0.001])   # too late, or beyond the supremum
    array([inf, inf])

    Notes
    -----
    Equation: MODEL.md section 2 (our reconstruction of the paper's closed form). Cost: a series
    start and at most eight Newton steps per element, O(1); the steps stop as soon as every element
    sits on a fixed point or a 2-cycle of its Newton map, which gives exactly the values all the
    steps would (a call on a few elements costs a few dozen NumPy operations). One refinement of MODEL.md, which gives
    ``+inf`` for every ``t <= 0``: with no data (``D = 0``) the answer is 0 at ``t = 0`` too, since
    nothing has to arrive.
    """
    D, a, t = (np.asarray(v, dtype=float) for v in (data_bits, a_hz, t_s))
    if not D.shape == a.shape == t.shape:
        D, a, t = np.broadcast_arrays(D, a, t)
    if not (_all(D >= 0) and _all(a > 0)) or _any(np.isnan(t)):   # one test when all is well
        if np.isnan(D).any() or np.isnan(a).any() or np.isnan(t).any():
            raise ValueError("min_bandwidth: NaN input")
        if (D < 0).any():
            raise ValueError("min_bandwidth: data_bits must be >= 0")
        raise ValueError("min_bandwidth: a_hz (or spectral_eff) must be > 0")

    if rate == "linear":
        out = np.full(D.shape, np.inf)
        zero = (D == 0) & (t >= 0)
        out[zero] = 0.0
        live = ~zero & (t > 0)
        with np.errstate(divide="ignore"):
            out[live] = D[live] / (a[live] * t[live])
        return out
    if rate != "shannon":
        raise ValueError(f"min_bandwidth: unknown rate {rate!r}; use 'shannon' or 'linear'")

    # Flat views (copies where strided), so every step below works on 1-d arrays of any input.
    shape = D.shape
    D, a, t = D.ravel(), a.ravel(), t.ravel()
    live = (D > 0) & (t > 0)          # D >= 0 here, so this is "not (D = 0, t >= 0) and t > 0"
    if _all(live):                    # the usual call: skip the masks
        c = D * LN2 / (a * t)
        ok = (c > 0) & (c < 1.0)
        if _all(ok):
            return (a / _solve_x(c)).reshape(shape)
        out = np.full(D.shape, np.inf)
        out[c == 0] = 0.0             # t = inf, or c below the smallest double
    else:
        out = np.full(D.shape, np.inf)
        out[(D == 0) & (t >= 0)] = 0.0
        if not _any(live):
            return out.reshape(shape)
        c = np.zeros(D.shape)
        c[live] = D[live] * LN2 / (a[live] * t[live])
        out[live & (c == 0)] = 0.0    # t = inf, or c below the smallest double
        ok = live & (c > 0) & (c < 1.0)
    if _any(ok):
        out[ok] = a[ok] / _solve_x(c[ok])
    return out.reshape(shape)


def min_bandwidth_linear(data_bits, spectral_eff, t_s):
    """Least bandwidth (Hz) under the linear rate ``r(b) = b * spectral_eff``: ``D / (se * t)``.

    Same conventions as :func:`min_bandwidth` (``inf`` for ``t <= 0``, 0 for no data).

    Parameters
    ----------
    data_bits : array_like
        Input size ``D`` (bit), ``>= 0``.
    spectral_eff : array_like
        Spectral efficiency (bit/s/Hz), ``> 0``.
    t_s : array_like
        Time available for the upload (s).

    Returns
    -------
    ndarray
        Bandwidth (Hz), the broadcast shape of the inputs.
    """
    return min_bandwidth(data_bits, spectral_eff, t_s, rate="linear")


# --------------------------------------------------------------------------------------------------
# The root x > 0 of ln(1 + x) / x = c, for 0 < c < 1 (x = a / b).

_SMALL_X = 0.2   # below this, x - ln(1+x) is summed as a series (the direct form cancels)
_N_TERMS = 32    # 0.2**32 ~ 4e-23: the series is exact to double precision below _SMALL_X
# Horner coefficients of sum_{n>=1} (-1)^(n+1) x^n / (n+1) (row 0) and of its derivative (row 1),
# highest power first: both sums advance together, one multiply and one add per term.
_HORNER = np.array([[(-1.0) ** (n + 1) / (n + 1), n * ((-1.0) ** (n + 1) / (n + 1))]
                    for n in range(_N_TERMS, 0, -1)])          # (_N_TERMS, 2)
_HORNER_FLOATS = [tuple(row) for row in _HORNER.tolist()]
# Size switches between ways of computing the same values, set by CPU-time measurements.
_SCALAR_SERIES = 12     # up to this many elements the series runs on Python floats
_FLAT_SERIES = 3000     # below this many elements the series runs on one flat array
_WHOLE_ARRAY = 20000    # below this many elements the lo Newton loop stops on whole arrays


def _phi_series(xs):
    """(phi, phi') by the series, for 0 <= x < _SMALL_X; xs is 1-d of length m."""
    m = xs.shape[0]
    if m <= _SCALAR_SERIES:
        # Python floats: the same IEEE double multiplies and adds as NumPy's, without its overhead.
        phi, dphi = [], []
        for x in xs.tolist():
            s = d = 0.0
            for cs, cd in _HORNER_FLOATS:
                s = s * x + cs
                d = d * x + cd
            phi.append(s * x)
            dphi.append(d)
        return np.array(phi), np.array(dphi)
    if m < _FLAT_SERIES:
        # Both sums in one flat array [s, d] of length 2m: contiguous operations are the cheapest.
        x2 = np.concatenate((xs, xs))
        coefs = np.repeat(_HORNER, m, axis=1)                   # (_N_TERMS, 2m)
        sd = np.zeros(2 * m)
        for coef in coefs:
            sd = sd * x2 + coef
        return sd[:m] * xs, sd[m:]
    sd = np.zeros((2, m))
    cols = _HORNER[:, :, None]                                  # (_N_TERMS, 2, 1)
    for coef in cols:
        np.multiply(sd, xs, out=sd)
        np.add(sd, coef, out=sd)
    return sd[0] * xs, sd[1]


def _phi_direct(xl):
    """(phi, phi') from log1p, for x >= _SMALL_X (no cancellation there)."""
    l1p = np.log1p(xl)
    return (xl - l1p) / xl, (l1p - xl / (1.0 + xl)) / xl**2


def _phi(x):
    """phi(x) = (x - ln(1+x)) / x = x/2 - x^2/3 + x^3/4 - ..., and phi'(x); accurate for x > 0.

    ``x`` is 1-d. Each element gets the same operations whatever the others are; only the branch
    it needs is computed (the series costs 64 array operations, more than the rest of a call).
    """
    return _by_mask(x < _SMALL_X, x, _phi_series, _phi_direct)


def _w_asymptotic(c):
    """Asymptotic expansion of W_{-1}(-c e^{-c}) (Corless et al. 1996), for c near 0."""
    L1 = np.log(c) - c                  # ln(c e^{-c}), exact in this form
    L2 = np.log(-L1)
    return L1 - L2 + L2 / L1


def _w_branch_point(c):
    """Series of W_{-1}(-c e^{-c}) about the branch point (Corless et al. 1996), for c near 1."""
    q = np.sqrt(2.0 * np.maximum(1.0 - c * np.exp(1.0 - c), 0.0))
    return -1.0 - q - q**2 / 3.0 - 11.0 / 72.0 * q**3 - 43.0 / 540.0 * q**4


def _w_minus1_start(c: np.ndarray) -> np.ndarray:
    """Approximate lower-branch Lambert W of ``-c e^{-c}`` for 0 < c < 1, as a Newton start.

    The series about the branch point (``c`` near 1) and the asymptotic expansion (``c`` near 0)
    of Corless et al. (1996); each errs by a few per cent at most where they meet (``c = 1/4``).
    Only a start: the root is polished by Newton steps. ``c`` is 1-d; each element is computed
    only by the expansion it uses. Call it under ``np.errstate(divide="ignore", invalid="ignore")``
    (:func:`_solve_x` does).
    """
    return _by_mask(c < 0.25, c, _w_asymptotic, _w_branch_point)


def _iterate(step, x, params, n_steps, first_check, small_array, min_share):
    """``x`` after ``n_steps`` applications of ``x <- step(x, *params)``, stopping early.

    ``step`` must act on each element alone and deterministically (element ``i`` of the result a
    function of ``x[i]`` and ``params[j][i]`` only). An element whose iterate equals the one before
    (a fixed point) or the one two before (a 2-cycle, as Newton's method ends at full precision)
    has known remaining iterates: x_n = x_k if n - k is even, else x_{k-1}. From step
    ``first_check`` on, such elements are finished early (on large arrays in batches, on small
    ones once all of them are), so the result is exactly that of all ``n_steps`` steps, bit for
    bit. An element that is not finished when found simply stays in the loop.

    Below ``small_array`` elements the whole array is compared at once (cheapest when a step is
    cheap); otherwise finished elements are set aside as soon as they make up ``min_share`` of
    those left (a step costing much more than the bookkeeping wants ``min_share`` near 0).
    """
    if x.shape[0] < small_array:
        prev2 = b""
        for k in range(1, n_steps + 1):
            xk = step(x, *params)
            if k >= first_check:
                bk, bx = xk.tobytes(), x.tobytes()
                if bk == bx or bk == prev2:                     # whole-array bit equality
                    return xk if (n_steps - k) % 2 == 0 else x
                prev2 = bx
            x = xk
        return x
    out = np.empty_like(x)
    where = np.arange(x.shape[0])                               # positions of the live elements
    prev2 = None
    for k in range(1, n_steps + 1):
        xk = step(x, *params)
        if k >= first_check:
            bits = xk.view(np.int64)
            done = bits == x.view(np.int64)
            if prev2 is not None:
                done |= bits == prev2.view(np.int64)
            n_done = np.count_nonzero(done)
            if n_done == done.size:
                out[where] = xk if (n_steps - k) % 2 == 0 else x
                return out
            if n_done and n_done >= min_share * done.size:      # worth the compaction
                out[where[done]] = (xk if (n_steps - k) % 2 == 0 else x)[done]
                live = ~done
                where, xk, x = where[live], xk[live], x[live]
                params = [v[live] for v in params]
        prev2, x = x, xk
    out[where] = x
    return out


def _solve_lo(c):
    """Root for 0 < c <= 1/2 (x >= 2.5): Newton on psi(x) = ln(1+x)/x - c."""
    # Lambert W_{-1}: y = 1 + x = -W(-c e^{-c}) / c. An approximate W is enough to start Newton
    # (scipy's complex lambertw cost more than everything else in the schedulers).
    x0 = -_w_minus1_start(c) / c - 1.0

    # psi(x) = ln(1+x)/x - c: no cancellation for x >= 2.5 (c <= 1/2).
    # psi is convex and decreasing: Newton converges monotonically once left of the root, and
    # quadratically; 8 steps take a 5 % start to full precision.
    def newton(xl, cl):
        l1p = np.log1p(xl)
        # psi / psi' with psi = ln(1+x)/x - c, multiplied out so that x^2 never overflows
        step = (l1p - cl * xl) * (xl / (xl / (1.0 + xl) - l1p))
        finite = np.isfinite(step)
        if np.count_nonzero(finite) == finite.size:
            return xl - step
        return np.where(finite, xl - step, xl)

    # A step is about ten cheap array operations: comparing whole arrays was measured faster up to
    # 10,000 elements (all settle within 3-8 steps); above, set finished elements aside in bulk.
    return _iterate(newton, x0, [c], 8, first_check=3, small_array=_WHOLE_ARRAY, min_share=0.25)


def _solve_hi(c):
    """Root for 1/2 < c < 1: Newton on phi(x) = (x - ln(1+x))/x = 1 - c."""
    p = 1.0 - c   # exact for c in [1/2, 1) (Sterbenz)
    # Start from W_{-1} where the branch-point series of x is not closer (p >= 1e-3) and is usable.
    xh = np.empty_like(c)
    far = p >= 1e-3
    if _any(far):
        cf = c[far]
        xh[far] = -_w_minus1_start(cf) / cf - 1.0
        far &= np.isfinite(xh) & (xh > 0)
    near = ~far
    if _any(near):
        pn = p[near]
        xh[near] = 2.0 * pn + (8.0 / 3.0) * pn**2 + (28.0 / 9.0) * pn**3

    def newton(xh, ph):
        phi, dphi = _phi(xh)
        xn = xh - (phi - ph) / dphi
        # phi is concave increasing: Newton never needs to leave (x/2, inf).
        return np.maximum(xn, 0.5 * xh)

    # Where the series runs a step costs 64 array operations: set finished elements aside at once.
    return _iterate(newton, xh, [p], 5, first_check=1, small_array=0, min_share=0.0)


def _solve_x(c: np.ndarray) -> np.ndarray:
    """Positive root x of ln(1+x)/x = c for each 0 < c < 1 (1-d, vectorized)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):   # once: it costs a call
        return _solve_x_quiet(c)


def _solve_x_quiet(c):
    """:func:`_solve_x` without its floating-point error state."""
    return _by_mask(c <= 0.5, c, _solve_lo, _solve_hi)
