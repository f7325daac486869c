"""Frozen copy of ``plcore.model.bandwidth`` as on main at 77a56f6, before its per-call
overhead was cut. ``tests/test_bandwidth.py`` checks that the library returns exactly these values,
bit for bit, over every regime. Do not edit: it is the reference, not the implementation."""

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
    start and at most eight Newton steps per element, O(1). One refinement of MODEL.md, which gives
    ``+inf`` for every ``t <= 0``: with no data (``D = 0``) the answer is 0 at ``t = 0`` too, since
    nothing has to arrive.
    """
    D, a, t = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (data_bits, a_hz, t_s)))
    if np.isnan(D).any() or np.isnan(a).any() or np.isnan(t).any():
        raise ValueError("min_bandwidth: NaN input")
    if (D < 0).any():
        raise ValueError("min_bandwidth: data_bits must be >= 0")
    if not (a > 0).all():
        raise ValueError("min_bandwidth: a_hz (or spectral_eff) must be > 0")

    out = np.full(D.shape, np.inf)
    zero = (D == 0) & (t >= 0)
    out[zero] = 0.0
    live = ~zero & (t > 0)

    if rate == "linear":
        with np.errstate(divide="ignore"):
            out[live] = D[live] / (a[live] * t[live])
        return out
    if rate != "shannon":
        raise ValueError(f"min_bandwidth: unknown rate {rate!r}; use 'shannon' or 'linear'")

    c = np.zeros(D.shape)
    c[live] = D[live] * LN2 / (a[live] * t[live])
    out[live & (c == 0)] = 0.0          # t = inf, or c below the smallest double
    ok = live & (c > 0) & (c < 1.0)
    out[ok] = a[ok] / _solve_x(c[ok])
    return out


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


def _phi(x):
    """phi(x) = (x - ln(1+x)) / x = x/2 - x^2/3 + x^3/4 - ..., and phi'(x); accurate for x > 0."""
    small = x < _SMALL_X
    phi = np.empty_like(x)
    dphi = np.empty_like(x)
    if small.any():     # the 64 steps below cost more than the rest of a call on small arrays
        xs = x[small]
        # Horner on sum_{n>=1} (-1)^(n+1) x^n / (n+1) and on its derivative.
        s = np.zeros_like(xs)
        d = np.zeros_like(xs)
        for n in range(_N_TERMS, 0, -1):
            coef = (-1.0) ** (n + 1) / (n + 1)
            s = s * xs + coef
            d = d * xs + n * coef
        phi[small] = s * xs
        dphi[small] = d
    xl = x[~small]
    l1p = np.log1p(xl)
    phi[~small] = (xl - l1p) / xl
    dphi[~small] = (l1p - xl / (1.0 + xl)) / xl**2
    return phi, dphi


def _w_minus1_start(c: np.ndarray) -> np.ndarray:
    """Approximate lower-branch Lambert W of ``-c e^{-c}`` for 0 < c < 1, as a Newton start.

    The series about the branch point (``c`` near 1) and the asymptotic expansion (``c`` near 0)
    of Corless et al. (1996); each errs by a few per cent at most where they meet (``c = 1/4``).
    Only a start: the root is polished by Newton steps.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        L1 = np.log(c) - c                  # ln(c e^{-c}), exact in this form
        L2 = np.log(-L1)
        w_asym = L1 - L2 + L2 / L1
        q = np.sqrt(2.0 * np.maximum(1.0 - c * np.exp(1.0 - c), 0.0))
        w_branch = -1.0 - q - q**2 / 3.0 - 11.0 / 72.0 * q**3 - 43.0 / 540.0 * q**4
    return np.where(c < 0.25, w_asym, w_branch)


def _solve_x(c: np.ndarray) -> np.ndarray:
    """Positive root x of ln(1+x)/x = c for each 0 < c < 1 (vectorized)."""
    x = np.empty_like(c)
    # Lambert W_{-1}: y = 1 + x = -W(-c e^{-c}) / c. An approximate W is enough to start Newton
    # (scipy's complex lambertw cost more than everything else in the schedulers).
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        x0 = -_w_minus1_start(c) / c - 1.0

    lo = c <= 0.5
    if lo.any():
        # psi(x) = ln(1+x)/x - c: no cancellation for x >= 2.5 (c <= 1/2).
        # psi is convex and decreasing: Newton converges monotonically once left of the root, and
        # quadratically; 8 steps take a 5 % start to full precision.
        xl = x0[lo]
        cl = c[lo]
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            for _ in range(8):
                l1p = np.log1p(xl)
                # psi / psi' with psi = ln(1+x)/x - c, multiplied out so that x^2 never overflows
                step = (l1p - cl * xl) * (xl / (xl / (1.0 + xl) - l1p))
                xl = np.where(np.isfinite(step), xl - step, xl)
        x[lo] = xl

    hi = ~lo
    if hi.any():
        p = 1.0 - c[hi]   # exact for c in [1/2, 1) (Sterbenz)
        series = 2.0 * p + (8.0 / 3.0) * p**2 + (28.0 / 9.0) * p**3
        xh = np.where((p < 1e-3) | ~np.isfinite(x0[hi]) | (x0[hi] <= 0), series, x0[hi])
        for _ in range(5):
            phi, dphi = _phi(xh)
            xn = xh - (phi - p) / dphi
            # phi is concave increasing: Newton never needs to leave (x/2, inf).
            xh = np.maximum(xn, 0.5 * xh)
        x[hi] = xh
    return x
